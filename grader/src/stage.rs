//! The grader-owned build: one Cargo workspace under `target/locksmith/workspace/`, whose
//! members are staged crates under `crates/`.
//!
//! For each exercise of each submission it holds the student crate (the student's `lib.rs`,
//! written from the bytes read once, under a manifest of ours: their `Cargo.toml`, `build.rs`
//! and dependencies never take part), the check binary (the hidden checks file linked against
//! that crate and the harness), and the api crates (one per group of expected error codes).
//! Every package carries a key in its name: a hash of the exercise and its bytes for
//! submissions, so byte-identical code is staged and built once, whoever sent it; `exercises` and
//! `solutions` for the workspace's own folders, which are rebuilt in place (incrementally) as the
//! learner edits. One workspace and one target folder for every grade means `blocks`, the harness
//! and their dependencies are compiled once, a batch of submissions is one `cargo build`, and a
//! crate built by one grade is fresh for the next. Crates unused for a while are pruned, with
//! their artifacts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

use crate::catalog::{Catalog, Category, Exercise};

/// The staged crates of one exercise.
#[derive(Debug, Clone)]
pub struct StagedExercise {
    pub id: String,
    /// The key its packages carry.
    pub key: String,
    /// The copy of the student's file inside the stage, and the same relative to the workspace
    /// (as rustc names it).
    pub lib_path: PathBuf,
    pub lib_relative: String,
    /// The library's package name (cargo reports a lib target by its crate name, which every
    /// staged copy of an exercise shares, so diagnostics are told apart by package).
    pub lib_package: String,
    pub check_package: String,
    pub api_crates: Vec<ApiCrate>,
}

impl StagedExercise {
    pub fn packages(&self) -> impl Iterator<Item = &str> {
        [self.lib_package.as_str(), self.check_package.as_str()]
            .into_iter()
            .chain(self.api_crates.iter().map(|c| c.folder.as_str()))
    }
}

/// One crate of api cases: each case a module, with the lines it spans.
#[derive(Debug, Clone)]
pub struct ApiCrate {
    /// The crate's folder under `crates/`, and its package name.
    pub folder: String,
    /// Relative to the workspace root, as rustc reports it.
    pub file: String,
    pub expect: Vec<String>,
    /// (check name, case name, first line, last line), 1-based and inclusive.
    pub cases: Vec<(String, String, usize, usize)>,
}

pub struct Stage {
    pub dir: PathBuf,
    pub target_dir: PathBuf,
    pub exercises: Vec<StagedExercise>,
}

/// The profile of every grader build: optimised (stress checks need speed), but with the checks
/// a learner's debug build has (overflow, debug assertions).
const PROFILE: &str = r#"
[profile.grader]
inherits = "release"
opt-level = 1
debug = false
debug-assertions = true
overflow-checks = true
incremental = true
codegen-units = 16

[profile.grader-bench]
inherits = "release"
debug = false
"#;

/// The profile of bench builds (`cargo xtask bench ID`): a release build, as the baselines
/// from std and parking_lot are, so the ratios compare like with like.
pub const BENCH_PROFILE: &str = "grader-bench";

/// Where the grader's workspace and its build live.
fn base(catalog: &Catalog) -> PathBuf {
    catalog.root.join("target/locksmith")
}

pub fn workspace_dir(catalog: &Catalog) -> PathBuf {
    base(catalog).join("workspace")
}

/// One exercise's code to stage, under a key that names its packages: the same key must mean
/// the same code (a content hash, or the learner's own folder, rebuilt incrementally).
pub struct Member<'a> {
    pub exercise: &'a Exercise,
    pub key: String,
    pub code: &'a str,
    /// Whether to stage and build its api crates (not when `--check` chose no api check).
    pub api: bool,
}

/// A `[package]` manifest, serialised by `toml` (names and paths may hold any character).
fn manifest(package: &str, target: (&str, toml::Table), dependencies: toml::Table) -> String {
    let mut package_table = toml::Table::new();
    package_table.insert("name".into(), package.into());
    package_table.insert("version".into(), "0.0.0".into());
    package_table.insert("edition".into(), "2021".into());
    let mut root = toml::Table::new();
    root.insert("package".into(), package_table.into());
    match target {
        ("bin", table) => {
            root.insert("bin".into(), toml::Value::Array(vec![table.into()]));
        }
        (kind, table) => {
            root.insert(kind.into(), table.into());
        }
    }
    root.insert("dependencies".into(), dependencies.into());
    toml::to_string(&root).expect("a table serialises")
}

fn table<const N: usize>(entries: [(&str, toml::Value); N]) -> toml::Table {
    entries
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// A binary target named after its package, built from `source`.
fn bin_target(package: &str, source: &Path) -> (&'static str, toml::Table) {
    let source = source.display().to_string();
    (
        "bin",
        table([("name", package.into()), ("path", source.into())]),
    )
}

fn path_dependency(path: impl AsRef<Path>, package: Option<&str>) -> toml::Value {
    let mut dependency = table([("path", path.as_ref().display().to_string().into())]);
    if let Some(package) = package {
        dependency.insert("package".into(), package.into());
    }
    dependency.into()
}

/// Writes (or refreshes) the crates of `members` in the grader's workspace. Members with the
/// same exercise and key are staged once. Call with the workspace's [`StageLock`] held.
pub fn write(catalog: &Catalog, members: &[Member]) -> Result<Stage> {
    let dir = workspace_dir(catalog);
    let crates = dir.join("crates");
    std::fs::create_dir_all(&crates).with_context(|| format!("creating {}", crates.display()))?;
    // The layout of earlier versions: one workspace per source.
    let _ = std::fs::remove_dir_all(base(catalog).join("stage"));

    let mut staged: Vec<StagedExercise> = Vec::new();
    for member in members {
        let (exercise, key) = (member.exercise, &member.key);
        if staged.iter().any(|s| s.id == exercise.id && s.key == *key) {
            continue;
        }
        let api = members
            .iter()
            .any(|m| m.api && m.exercise.id == exercise.id && m.key == *key);
        let krate = &exercise.crate_name;
        let lib_package = format!("{krate}-{key}");
        let lib_dir = crates.join(&lib_package);
        write_if_changed(
            &lib_dir.join("Cargo.toml"),
            &manifest(
                &lib_package,
                (
                    "lib",
                    table([("name", krate.as_str().into()), ("path", "lib.rs".into())]),
                ),
                table([(
                    "blocks",
                    table([
                        (
                            "path",
                            catalog.root.join("blocks").display().to_string().into(),
                        ),
                        ("features", toml::Value::Array(vec!["perturb".into()])),
                    ])
                    .into(),
                )]),
            ),
        )?;
        let lib_path = lib_dir.join("lib.rs");
        write_if_changed(&lib_path, member.code)?;

        // Named per key: cargo copies binaries to one folder, so a shared name would let one
        // submission's build replace another's check binary.
        let check_package = format!("check-{krate}-{key}");
        write_if_changed(
            &crates.join(&check_package).join("Cargo.toml"),
            &manifest(
                &check_package,
                bin_target(&check_package, &catalog.checks_source(&exercise.id)),
                table([
                    (
                        krate.as_str(),
                        path_dependency(format!("../{lib_package}"), Some(&lib_package)),
                    ),
                    (
                        "harness",
                        path_dependency(catalog.root.join("grader/harness"), None),
                    ),
                ]),
            ),
        )?;

        let api_crates = if api {
            write_api_crates(&crates, exercise, key, &lib_package)?
        } else {
            Vec::new()
        };
        let exercise_staged = StagedExercise {
            id: exercise.id.clone(),
            key: key.clone(),
            lib_relative: format!("crates/{lib_package}/lib.rs"),
            lib_path,
            lib_package,
            check_package,
            api_crates,
        };
        for package in exercise_staged.packages() {
            touch(&crates.join(package));
        }
        staged.push(exercise_staged);
    }

    write_workspace(catalog, &dir, &crates)?;
    Ok(Stage {
        dir,
        target_dir: base(catalog).join("build"),
        exercises: staged,
    })
}

/// The workspace's manifest (every staged crate a member, the profiles, the check crates'
/// overrides) and its lock file.
fn write_workspace(catalog: &Catalog, dir: &Path, crates: &Path) -> Result<()> {
    let mut workspace = toml::Table::new();
    workspace.insert("resolver".into(), "2".into());
    workspace.insert(
        "members".into(),
        toml::Value::Array(vec!["crates/*".into()]),
    );
    let mut root = toml::Table::new();
    root.insert("workspace".into(), workspace.into());
    let mut profile: toml::Table = toml::from_str(PROFILE).expect("the grader profile parses");
    // The hidden checks' own code is built without optimisation: a check binary is most of a
    // build's work (it is compiled once per graded submission), and its code only drives and
    // observes; the code under test, its building blocks and the harness stay optimised.
    let mut overrides = toml::Table::new();
    for entry in std::fs::read_dir(crates)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("check-") {
            overrides.insert(name, table([("opt-level", 0.into())]).into());
        }
    }
    if let Some(toml::Value::Table(grader)) =
        profile.get_mut("profile").and_then(|p| p.get_mut("grader"))
    {
        grader.insert("package".into(), overrides.into());
    }
    root.extend(profile);
    write_if_changed(
        &dir.join("Cargo.toml"),
        &toml::to_string(&root).expect("a table serialises"),
    )?;
    // Same dependency versions as the workspace, so shared artifacts are reused; taken again
    // when the workspace's is newer (a dependency added since, which then needs no network).
    let lock = catalog.root.join("Cargo.lock");
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let staged_lock = dir.join("Cargo.lock");
    if lock.is_file() && modified(&staged_lock) < modified(&lock) {
        std::fs::copy(&lock, &staged_lock)?;
    }
    Ok(())
}

/// Writes (or refreshes) the bench crates of one exercise's code: the code as a library on the
/// plain backend of `blocks` (no perturbation: the bench times the code, not the grader's
/// yields) and the exercise's bench file (`grader/benchmarks/ID.rs`) as a binary linked against it.
/// Their packages are built alone, with [`BENCH_PROFILE`]: built with a check crate, `blocks`
/// would get its `perturb` feature. Call with the workspace's [`StageLock`] held.
pub fn write_bench(catalog: &Catalog, member: &Member) -> Result<Stage> {
    let dir = workspace_dir(catalog);
    let crates = dir.join("crates");
    std::fs::create_dir_all(&crates).with_context(|| format!("creating {}", crates.display()))?;
    let (exercise, key) = (member.exercise, &member.key);
    let krate = &exercise.crate_name;
    let lib_package = format!("{krate}-plain-{key}");
    let lib_dir = crates.join(&lib_package);
    write_if_changed(
        &lib_dir.join("Cargo.toml"),
        &manifest(
            &lib_package,
            (
                "lib",
                table([("name", krate.as_str().into()), ("path", "lib.rs".into())]),
            ),
            table([("blocks", path_dependency(catalog.root.join("blocks"), None))]),
        ),
    )?;
    let lib_path = lib_dir.join("lib.rs");
    write_if_changed(&lib_path, member.code)?;
    let bench_package = format!("bench-{krate}-{key}");
    write_if_changed(
        &crates.join(&bench_package).join("Cargo.toml"),
        &manifest(
            &bench_package,
            bin_target(&bench_package, &catalog.bench_source(&exercise.id)),
            table([
                (
                    krate.as_str(),
                    path_dependency(format!("../{lib_package}"), Some(&lib_package)),
                ),
                (
                    "bench-harness",
                    path_dependency(catalog.root.join("grader/bench-harness"), None),
                ),
                // The building blocks the code under test takes (07's `lock_all` takes `Lock`s).
                ("blocks", path_dependency(catalog.root.join("blocks"), None)),
            ]),
        ),
    )?;
    let staged = StagedExercise {
        id: exercise.id.clone(),
        key: key.clone(),
        lib_relative: format!("crates/{lib_package}/lib.rs"),
        lib_path,
        lib_package,
        check_package: bench_package,
        api_crates: Vec::new(),
    };
    for package in staged.packages() {
        touch(&crates.join(package));
    }
    write_workspace(catalog, &dir, &crates)?;
    Ok(Stage {
        dir,
        target_dir: base(catalog).join("build"),
        exercises: vec![staged],
    })
}

/// Marks a staged crate as used now, for [`prune`].
fn touch(dir: &Path) {
    let _ = std::fs::File::open(dir).and_then(|f| f.set_modified(SystemTime::now()));
}

/// Removes the staged crates not used for `max_age`, and their build artifacts: every grade of
/// new code stages new crates, and old ones would pile up in `target/`. Call with the
/// workspace's [`StageLock`] held.
pub fn prune(catalog: &Catalog, max_age: Duration) {
    let crates = workspace_dir(catalog).join("crates");
    let Ok(entries) = std::fs::read_dir(&crates) else {
        return;
    };
    let now = SystemTime::now();
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > max_age);
        if old && std::fs::remove_dir_all(entry.path()).is_ok() {
            removed.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    if !removed.is_empty() {
        for profile in ["grader", BENCH_PROFILE] {
            remove_artifacts(&base(catalog).join("build").join(profile), &removed);
        }
    }
}

/// Deletes what cargo built for `packages`: each package's fingerprint folder is named
/// `PACKAGE-HASH`, and its artifacts carry the same `-HASH`.
fn remove_artifacts(profile_dir: &Path, packages: &[String]) {
    let Ok(fingerprints) = std::fs::read_dir(profile_dir.join(".fingerprint")) else {
        return;
    };
    let mut hashes = Vec::new();
    for entry in fingerprints.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((package, hash)) = name.rsplit_once('-') else {
            continue;
        };
        if packages.iter().any(|p| p == package) {
            hashes.push(hash.to_string());
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    for folder in ["deps", "incremental"] {
        let Ok(entries) = std::fs::read_dir(profile_dir.join(folder)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stem = name.split('.').next().unwrap_or(&name);
            if hashes.iter().any(|h| stem.ends_with(&format!("-{h}"))) {
                let _ = std::fs::remove_dir_all(entry.path())
                    .or_else(|_| std::fs::remove_file(entry.path()));
            }
        }
    }
    for package in packages
        .iter()
        .filter(|p| p.starts_with("check-") || p.starts_with("bench-"))
    {
        let _ = std::fs::remove_file(profile_dir.join(package));
        let _ = std::fs::remove_file(profile_dir.join(format!("{package}.d")));
    }
}

/// An advisory lock on the grader's workspace, so two graders never stage or build at once.
pub struct StageLock {
    _file: std::fs::File,
}

impl StageLock {
    pub fn take(catalog: &Catalog) -> Result<StageLock> {
        let path = base(catalog).join("workspace.lock");
        std::fs::create_dir_all(base(catalog))?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // SAFETY: flock on a descriptor we own; released when the file closes.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            anyhow::bail!("could not lock {}", path.display());
        }
        Ok(StageLock { _file: file })
    }
}

/// One crate per distinct `expect` of the exercise's api cases: rustc may stop before borrow
/// checking when a crate has type errors, so cases expecting different kinds of error must not
/// share a crate.
fn write_api_crates(
    crates_dir: &Path,
    exercise: &Exercise,
    key: &str,
    lib_package: &str,
) -> Result<Vec<ApiCrate>> {
    let krate = &exercise.crate_name;
    let mut groups: BTreeMap<Vec<String>, Vec<(&str, &crate::catalog::ApiCase)>> = BTreeMap::new();
    for check in exercise
        .checks
        .iter()
        .filter(|c| c.category == Category::Api)
    {
        for case in &check.cases {
            let mut expect = case.expect.clone();
            expect.sort();
            groups.entry(expect).or_default().push((&check.name, case));
        }
    }
    let mut crates = Vec::new();
    for (expect, cases) in groups {
        let suffix = if expect.is_empty() {
            "compiles".to_string()
        } else {
            expect.join("-").to_lowercase()
        };
        let folder = format!("api-{krate}-{suffix}-{key}");
        let package = folder.clone();
        let file = format!("crates/{folder}/lib.rs");
        let mut text = String::from(
            "// Generated by the grader: api cases compiled against the code under test.\n\
             #![allow(warnings)]\n",
        );
        let mut spans = Vec::new();
        for (check, case) in cases {
            let first = text.lines().count() + 1;
            let _ = writeln!(
                text,
                "mod {} {{\n    #[allow(unused_imports)]\n    use {krate}::*;",
                case.name
            );
            for line in case.code.lines() {
                let _ = writeln!(text, "    {line}");
            }
            text.push_str("}\n");
            let last = text.lines().count();
            spans.push((check.to_string(), case.name.clone(), first, last));
        }
        write_if_changed(&crates_dir.join(&folder).join("lib.rs"), &text)?;
        write_if_changed(
            &crates_dir.join(&folder).join("Cargo.toml"),
            &manifest(
                &package,
                ("lib", table([("path", "lib.rs".into())])),
                table([(
                    krate.as_str(),
                    path_dependency(format!("../{lib_package}"), Some(lib_package)),
                )]),
            ),
        )?;
        crates.push(ApiCrate {
            folder,
            file,
            expect,
            cases: spans,
        });
    }
    Ok(crates)
}

/// Leaves a file untouched when its content is already right, so cargo sees no change.
fn write_if_changed(path: &Path, content: &str) -> Result<()> {
    if std::fs::read(path).ok().as_deref() == Some(content.as_bytes()) {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, content).with_context(|| format!("writing {}", path.display()))
}
