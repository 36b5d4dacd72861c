//! The grader-owned build: a small Cargo workspace per source under `target/locksmith/stage/`.
//!
//! For each exercise it holds the student crate (the student's `lib.rs`, copied, under a
//! manifest of ours: their `Cargo.toml`, `build.rs` and dependencies never take part), the check
//! binary (the hidden checks file linked against that crate and the harness), and the api crates
//! (one per group of expected error codes). All stages share one target folder, so `blocks`, the
//! harness and their dependencies are compiled once. Every package of a stage carries the stage's
//! key in its name: cargo tells path packages apart by their path relative to the workspace, which
//! is the same in every stage, so equal names would share artifacts and fingerprints, and one
//! submission's checks could link another's code.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::catalog::{Catalog, Category, Exercise};

/// The staged crates of one exercise.
#[derive(Debug, Clone)]
pub struct StagedExercise {
    pub id: String,
    /// The key its packages carry.
    pub key: String,
    /// The copy of the student's file inside the stage.
    pub lib_path: PathBuf,
    /// The library's package name (cargo reports a lib target by its crate name, which every
    /// member of an exercise shares, so diagnostics are told apart by package).
    pub lib_package: String,
    pub check_package: String,
    pub api_crates: Vec<ApiCrate>,
}

/// One crate of api cases: each case a module, with the lines it spans.
#[derive(Debug, Clone)]
pub struct ApiCrate {
    /// The crate's folder in the stage (a workspace member), and its package name.
    pub folder: String,
    /// Relative to the stage root, as rustc reports it.
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
"#;

/// One exercise's code to stage, under a key that names its packages: the same key must mean
/// the same code (a content hash, or the learner's own folder, rebuilt incrementally).
pub struct Member<'a> {
    pub exercise: &'a Exercise,
    pub key: String,
    pub code: &'a str,
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

fn path_dependency(path: impl AsRef<Path>, package: Option<&str>) -> toml::Value {
    let mut dependency = table([("path", path.as_ref().display().to_string().into())]);
    if let Some(package) = package {
        dependency.insert("package".into(), package.into());
    }
    dependency.into()
}

/// Writes (or refreshes) the stage `name` holding `members`. Members with the same key are
/// staged once.
pub fn write(catalog: &Catalog, name: &str, members: &[Member]) -> Result<Stage> {
    let base = catalog.root.join("target/locksmith");
    let dir = base.join("stage").join(name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    let mut folders = Vec::new();
    let mut staged: Vec<StagedExercise> = Vec::new();
    for member in members {
        let (exercise, key) = (member.exercise, &member.key);
        if staged.iter().any(|s| s.id == exercise.id && s.key == *key) {
            continue;
        }
        let krate = &exercise.crate_name;
        let lib_folder = format!("{krate}-{key}");
        let lib_package = format!("{krate}-{key}");
        let lib_dir = dir.join(&lib_folder);
        write_if_changed(
            &lib_dir.join("Cargo.toml"),
            &manifest(
                &lib_package,
                ("lib", table([("name", krate.as_str().into()), ("path", "lib.rs".into())])),
                table([(
                    "blocks",
                    table([
                        ("path", catalog.root.join("blocks").display().to_string().into()),
                        ("features", toml::Value::Array(vec!["perturb".into()])),
                    ])
                    .into(),
                )]),
            ),
        )?;
        let lib_path = lib_dir.join("lib.rs");
        write_if_changed(&lib_path, member.code)?;
        folders.push(lib_folder.clone());

        // Named per key: cargo copies binaries to one folder shared by every stage, so a
        // shared name would let one submission's build replace another's check binary.
        let check_crate = format!("check-{krate}-{key}");
        write_if_changed(
            &dir.join(&check_crate).join("Cargo.toml"),
            &manifest(
                &check_crate,
                (
                    "bin",
                    table([
                        ("name", check_crate.as_str().into()),
                        (
                            "path",
                            catalog.checks_source(&exercise.id).display().to_string().into(),
                        ),
                    ]),
                ),
                table([
                    (krate.as_str(), path_dependency(format!("../{lib_folder}"), Some(&lib_package))),
                    ("harness", path_dependency(catalog.root.join("grader/harness"), None)),
                ]),
            ),
        )?;
        folders.push(check_crate.clone());

        let api_crates = write_api_crates(&dir, exercise, key, &lib_folder, &lib_package)?;
        folders.extend(api_crates.iter().map(|c| c.folder.clone()));
        staged.push(StagedExercise {
            id: exercise.id.clone(),
            key: key.clone(),
            lib_path,
            lib_package,
            check_package: check_crate,
            api_crates,
        });
    }

    let mut workspace = toml::Table::new();
    workspace.insert("resolver".into(), "2".into());
    workspace.insert(
        "members".into(),
        toml::Value::Array(folders.into_iter().map(Into::into).collect()),
    );
    let mut root = toml::Table::new();
    root.insert("workspace".into(), workspace.into());
    let profile: toml::Table = toml::from_str(PROFILE).expect("the grader profile parses");
    root.extend(profile);
    write_if_changed(
        &dir.join("Cargo.toml"),
        &toml::to_string(&root).expect("a table serialises"),
    )?;
    // Same dependency versions as the workspace, so shared artifacts are reused.
    let lock = catalog.root.join("Cargo.lock");
    if lock.is_file() && !dir.join("Cargo.lock").exists() {
        std::fs::copy(&lock, dir.join("Cargo.lock"))?;
    }
    touch(&dir);
    Ok(Stage {
        dir,
        target_dir: base.join("build"),
        exercises: staged,
    })
}

/// Marks a stage as used now, for [`prune`].
fn touch(dir: &Path) {
    let _ = std::fs::File::open(dir).and_then(|f| f.set_modified(std::time::SystemTime::now()));
}

/// Removes stages (and their lock files) not used for `max_age`, except `keep`: every grade of
/// new code writes a new stage, and old ones would pile up in `target/`.
pub fn prune(catalog: &Catalog, keep: &Path, max_age: std::time::Duration) {
    let stages = catalog.root.join("target/locksmith/stage");
    let Ok(entries) = std::fs::read_dir(&stages) else {
        return;
    };
    let now = std::time::SystemTime::now();
    for entry in entries.flatten() {
        let path = entry.path();
        if path == keep || !path.is_dir() {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > max_age);
        if old {
            // Only when no grader holds it: a stage in use is locked.
            if let Ok(Some(_lock)) = StageLock::try_take(&path.with_extension("lock")) {
                let _ = std::fs::remove_dir_all(&path);
            }
        }
    }
}

/// An advisory lock on one stage, so two graders never build it at once.
pub struct StageLock {
    _file: std::fs::File,
}

impl StageLock {
    pub fn take(path: &Path) -> Result<StageLock> {
        let file = Self::open(path)?;
        // SAFETY: flock on a descriptor we own; released when the file closes.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            anyhow::bail!("could not lock {}", path.display());
        }
        Ok(StageLock { _file: file })
    }

    fn try_take(path: &Path) -> Result<Option<StageLock>> {
        let file = Self::open(path)?;
        // SAFETY: flock on a descriptor we own; released when the file closes.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Ok(None);
        }
        Ok(Some(StageLock { _file: file }))
    }

    fn open(path: &Path) -> Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))
    }
}

/// One crate per distinct `expect` of the exercise's api cases: rustc may stop before borrow
/// checking when a crate has type errors, so cases expecting different kinds of error must not
/// share a crate.
fn write_api_crates(
    dir: &Path,
    exercise: &Exercise,
    key: &str,
    lib_folder: &str,
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
        let file = format!("{folder}/lib.rs");
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
        write_if_changed(&dir.join(&file), &text)?;
        write_if_changed(
            &dir.join(&folder).join("Cargo.toml"),
            &manifest(
                &package,
                ("lib", table([("path", "lib.rs".into())])),
                table([(
                    krate.as_str(),
                    path_dependency(format!("../{lib_folder}"), Some(lib_package)),
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
