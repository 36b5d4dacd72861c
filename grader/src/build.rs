//! Compiles the staged crates of a grade with one `cargo build --keep-going` and sorts what the compiler said by
//! crate: a learner's compile error, an API that does not match the curriculum, and the error
//! codes of the api cases.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cargo_metadata::diagnostic::DiagnosticLevel;
use cargo_metadata::Message;

use crate::stage::Stage;

/// One error rustc reported.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub code: Option<String>,
    pub message: String,
    /// The primary span's file (as rustc names it) and line.
    pub file: String,
    pub line: usize,
    pub rendered: String,
}

/// What one cargo run produced, per package (every package of a stage has a name of its own;
/// target names repeat, since every staged copy of an exercise's library has the crate's name).
#[derive(Debug, Default)]
pub struct BuildReport {
    pub errors: HashMap<String, Vec<Diagnostic>>,
    pub executables: HashMap<String, PathBuf>,
    /// Targets that compiled (an artifact was produced).
    pub built: std::collections::HashSet<String>,
    pub elapsed: Duration,
    /// What cargo itself said when it failed before compiling anything (a broken manifest...).
    pub cargo_failure: Option<String>,
    /// Packages whose compiler ran past [`compile_limit`] and was stopped.
    pub stopped: std::collections::HashSet<String>,
}

/// How long rustc may spend on one crate. A learner's file compiles in seconds; code written to
/// keep the compiler busy forever (an endless const evaluation with its lint allowed, say) must
/// not hang a grade, let alone a class's batch. `LOCKSMITH_COMPILE_LIMIT_SECS` changes it.
pub fn compile_limit() -> Duration {
    std::env::var("LOCKSMITH_COMPILE_LIMIT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(300), Duration::from_secs)
}

/// Builds the crates of `stage`; `progress` hears each crate cargo finishes.
pub fn build(stage: &Stage, progress: &dyn Fn(&str)) -> Result<BuildReport> {
    build_with_profile(stage, "grader", progress)
}

/// [`build`] with another profile of the stage's manifest.
pub fn build_with_profile(
    stage: &Stage,
    profile: &str,
    progress: &dyn Fn(&str),
) -> Result<BuildReport> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let started = Instant::now();
    let mut command = Command::new(cargo);
    command
        .args([
            "build",
            "--profile",
            profile,
            "--keep-going",
            "--message-format=json",
        ])
        .args(
            stage
                .exercises
                .iter()
                .flat_map(|e| e.packages())
                .flat_map(|package| ["--package", package]),
        )
        .arg("--manifest-path")
        .arg(stage.dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&stage.target_dir)
        .current_dir(&stage.dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env_remove("RUSTC_WRAPPER")
        .env("CARGO_TERM_COLOR", "never")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = crate::sandbox::spawn_tracked(&mut command).context("starting cargo")?;

    let stderr = child.stderr.take().expect("piped");
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if text.len() < 16_000 {
                text.push_str(&line);
                text.push('\n');
            }
        }
        text
    });

    let finished = std::sync::atomic::AtomicBool::new(false);
    let watchdog_pid = child.id();
    let mut report = BuildReport::default();
    let stdout = BufReader::new(child.stdout.take().expect("piped"));
    let status = std::thread::scope(|scope| {
        let watchdog = scope.spawn(|| watch_compilers(watchdog_pid, compile_limit(), &finished));
        read_messages(stdout, &mut report, progress);
        let status = child.wait();
        finished.store(true, std::sync::atomic::Ordering::Relaxed);
        report.stopped = watchdog.join().unwrap_or_default();
        status
    })
    .context("waiting for cargo")?;
    crate::sandbox::untrack(child.id());
    let stderr = stderr_reader.join().unwrap_or_default();
    report.elapsed = started.elapsed();
    // Failing without a single compiler error (or a compiler we stopped) is cargo's failure (a
    // manifest, the network, a missing toolchain), never a learner's.
    if !status.success() && report.errors.is_empty() && report.stopped.is_empty() {
        report.cargo_failure = Some(stderr);
    }
    Ok(report)
}

/// Sorts cargo's messages into the report.
fn read_messages(stdout: impl BufRead, report: &mut BuildReport, progress: &dyn Fn(&str)) {
    for message in Message::parse_stream(stdout).map_while(Result::ok) {
        match message {
            Message::CompilerMessage(m) => {
                let m_package = package_of(&m.package_id);
                let m = m.message;
                if m.level != DiagnosticLevel::Error {
                    continue;
                }
                let primary = m.spans.iter().find(|s| s.is_primary).or(m.spans.first());
                report
                    .errors
                    .entry(m_package)
                    .or_default()
                    .push(Diagnostic {
                        code: m.code.map(|c| c.code),
                        message: m.message,
                        file: primary.map(|s| s.file_name.clone()).unwrap_or_default(),
                        line: primary.map(|s| s.line_start).unwrap_or(0),
                        rendered: m.rendered.unwrap_or_default(),
                    });
            }
            Message::CompilerArtifact(artifact) => {
                let package = package_of(&artifact.package_id);
                progress(&package);
                if let Some(executable) = artifact.executable {
                    report
                        .executables
                        .insert(package.clone(), executable.into_std_path_buf());
                }
                report.built.insert(package);
            }
            _ => {}
        }
    }
}

/// Stops every compiler under `cargo` that has run longer than `limit`, until `finished`;
/// returns the packages (named by their folder under `crates/`) whose compiler it stopped.
fn watch_compilers(
    cargo: u32,
    limit: Duration,
    finished: &std::sync::atomic::AtomicBool,
) -> std::collections::HashSet<String> {
    let mut first_seen: HashMap<u32, Instant> = HashMap::new();
    let mut stopped = std::collections::HashSet::new();
    while !finished.load(std::sync::atomic::Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(250));
        let Ok(entries) = std::fs::read_dir("/proc") else {
            break;
        };
        for pid in entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        {
            let Some((name, _)) = stat(pid) else {
                continue;
            };
            if name != "rustc" || !descends_from(pid, cargo) {
                continue;
            }
            let seen = *first_seen.entry(pid).or_insert_with(Instant::now);
            if seen.elapsed() < limit {
                continue;
            }
            // Cargo names the package it compiles in the compiler's environment.
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let package = environ
                .split(|&b| b == 0)
                .filter_map(|var| std::str::from_utf8(var).ok())
                .find_map(|var| var.strip_prefix("CARGO_PKG_NAME="))
                .map(str::to_string);
            // SAFETY: signalling a compiler process that our cargo started.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
            if let Some(package) = package {
                stopped.insert(package);
            }
        }
    }
    stopped
}

/// A process's command name and parent.
fn stat(pid: u32) -> Option<(String, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let name = stat.get(stat.find('(')? + 1..stat.rfind(')')?)?.to_string();
    let parent = stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((name, parent))
}

fn descends_from(mut pid: u32, ancestor: u32) -> bool {
    for _ in 0..8 {
        match stat(pid) {
            Some((_, parent)) if parent == ancestor => return true,
            Some((_, parent)) if parent > 1 => pid = parent,
            _ => return false,
        }
    }
    false
}

/// A staged package's name, from cargo's id for it (`path+file:///…/NAME#0.0.0`, or the older
/// `NAME 0.0.0 (path+file:///…)`): the stage names every package's folder after it.
fn package_of(id: &cargo_metadata::PackageId) -> String {
    let repr = &id.repr;
    match repr.strip_prefix("path+file://") {
        Some(url) => {
            let path = url.split('#').next().unwrap_or(url);
            path.rsplit('/').next().unwrap_or(path).to_string()
        }
        None => repr.split_whitespace().next().unwrap_or(repr).to_string(),
    }
}
