//! Compiles a stage with one `cargo build --keep-going` and sorts what the compiler said by
//! crate: a learner's compile error, an API that does not match the curriculum, and the error
//! codes of the api cases.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Deserialize;

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

/// What one cargo run produced, per target name.
#[derive(Debug, Default)]
pub struct BuildReport {
    pub errors: HashMap<String, Vec<Diagnostic>>,
    pub executables: HashMap<String, PathBuf>,
    /// Targets that compiled (an artifact was produced).
    pub built: std::collections::HashSet<String>,
    pub elapsed: Duration,
    /// What cargo itself said when it failed before compiling anything (a broken manifest...).
    pub cargo_failure: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    reason: String,
    target: Option<Target>,
    message: Option<CompilerMessage>,
    executable: Option<PathBuf>,
}

#[derive(Deserialize)]
struct Target {
    name: String,
}

#[derive(Deserialize)]
struct CompilerMessage {
    level: String,
    message: String,
    code: Option<Code>,
    spans: Vec<Span>,
    rendered: Option<String>,
}

#[derive(Deserialize)]
struct Code {
    code: String,
}

#[derive(Deserialize)]
struct Span {
    file_name: String,
    line_start: usize,
    is_primary: bool,
}

/// Builds every crate of the stage; `progress` hears each crate cargo finishes.
pub fn build(stage: &Stage, progress: &dyn Fn(&str)) -> Result<BuildReport> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let started = Instant::now();
    let mut command = Command::new(cargo);
    command
        .args([
            "build",
            "--profile",
            "grader",
            "--keep-going",
            "--message-format=json",
        ])
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

    let mut report = BuildReport::default();
    let stdout = child.stdout.take().expect("piped");
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let Ok(message) = serde_json::from_str::<Message>(&line) else {
            continue;
        };
        let Some(target) = message.target else {
            continue;
        };
        match message.reason.as_str() {
            "compiler-message" => {
                let Some(m) = message.message else { continue };
                if m.level != "error" {
                    continue;
                }
                let primary = m.spans.iter().find(|s| s.is_primary).or(m.spans.first());
                report
                    .errors
                    .entry(target.name)
                    .or_default()
                    .push(Diagnostic {
                        code: m.code.map(|c| c.code),
                        message: m.message,
                        file: primary.map(|s| s.file_name.clone()).unwrap_or_default(),
                        line: primary.map(|s| s.line_start).unwrap_or(0),
                        rendered: m.rendered.unwrap_or_default(),
                    });
            }
            "compiler-artifact" => {
                progress(&target.name);
                if let Some(executable) = message.executable {
                    report.executables.insert(target.name.clone(), executable);
                }
                report.built.insert(target.name);
            }
            _ => {}
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    crate::sandbox::untrack(child.id());
    let stderr = stderr_reader.join().unwrap_or_default();
    report.elapsed = started.elapsed();
    // Failing without a single compiler error is cargo's failure (a manifest, the network, a
    // missing toolchain), never a learner's.
    if !status.success() && report.errors.is_empty() {
        report.cargo_failure = Some(stderr);
    }
    Ok(report)
}
