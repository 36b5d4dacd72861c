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
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::catalog::{Catalog, Category, Exercise};

/// The staged crates of one exercise.
#[derive(Debug, Clone)]
pub struct StagedExercise {
    pub id: String,
    /// The copy of the student's file inside the stage.
    pub lib_path: PathBuf,
    /// Cargo target names: the student library, the check binary, the api libraries.
    pub lib_target: String,
    pub check_target: String,
    pub api_crates: Vec<ApiCrate>,
}

/// One crate of api cases: each case a module, with the lines it spans.
#[derive(Debug, Clone)]
pub struct ApiCrate {
    pub target: String,
    /// The crate's folder in the stage (a workspace member).
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

/// Writes (or refreshes) the stage for `sources`: (exercise, the student file to copy).
pub fn write(catalog: &Catalog, key: &str, sources: &[(&Exercise, PathBuf)]) -> Result<Stage> {
    let base = catalog.root.join("target/locksmith");
    let dir = base.join("stage").join(key);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let root = catalog.root.display().to_string();

    let mut members = Vec::new();
    let mut staged = Vec::new();
    for (exercise, source) in sources {
        let krate = &exercise.crate_name;
        let lib_dir = dir.join(krate);
        write_if_changed(
            &lib_dir.join("Cargo.toml"),
            &format!(
                "[package]\nname = \"{krate}-{key}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
                 [lib]\nname = \"{krate}\"\npath = \"lib.rs\"\n\n[dependencies]\n\
                 blocks = {{ path = \"{root}/blocks\", features = [\"perturb\"] }}\n"
            ),
        )?;
        let code =
            std::fs::read(source).with_context(|| format!("reading {}", source.display()))?;
        let lib_path = lib_dir.join("lib.rs");
        write_if_changed(&lib_path, &String::from_utf8_lossy(&code))?;
        members.push(krate.clone());

        // Named per stage: cargo copies binaries to one folder shared by every stage, so a
        // shared name would let one submission's build replace another's check binary.
        let check_crate = format!("check-{krate}-{key}");
        write_if_changed(
            &dir.join(&check_crate).join("Cargo.toml"),
            &format!(
                "[package]\nname = \"{check_crate}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
                 [[bin]]\nname = \"{check_crate}\"\npath = \"{}\"\n\n[dependencies]\n\
                 {krate} = {{ path = \"../{krate}\", package = \"{krate}-{key}\" }}\n\
                 harness = {{ path = \"{root}/grader/harness\" }}\n",
                catalog.checks_source(&exercise.id).display()
            ),
        )?;
        members.push(check_crate.clone());

        let api_crates = write_api_crates(&dir, exercise, key)?;
        members.extend(api_crates.iter().map(|c| c.folder.clone()));
        staged.push(StagedExercise {
            id: exercise.id.clone(),
            lib_path,
            lib_target: krate.clone(),
            check_target: check_crate,
            api_crates,
        });
    }

    let mut manifest = String::from("[workspace]\nresolver = \"2\"\nmembers = [\n");
    for member in &members {
        let _ = writeln!(manifest, "    \"{member}\",");
    }
    manifest.push_str("]\n");
    manifest.push_str(PROFILE);
    write_if_changed(&dir.join("Cargo.toml"), &manifest)?;
    // Same dependency versions as the workspace, so shared artifacts are reused.
    let lock = catalog.root.join("Cargo.lock");
    if lock.is_file() && !dir.join("Cargo.lock").exists() {
        std::fs::copy(&lock, dir.join("Cargo.lock"))?;
    }
    Ok(Stage {
        dir,
        target_dir: base.join("build"),
        exercises: staged,
    })
}

/// One crate per distinct `expect` of the exercise's api cases: rustc may stop before borrow
/// checking when a crate has type errors, so cases expecting different kinds of error must not
/// share a crate.
fn write_api_crates(dir: &Path, exercise: &Exercise, key: &str) -> Result<Vec<ApiCrate>> {
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
        let folder = format!("api-{krate}-{suffix}");
        let package = format!("{folder}-{key}");
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
            &format!(
                "[package]\nname = \"{package}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
                 [lib]\npath = \"lib.rs\"\n\n[dependencies]\n{krate} = {{ path = \"../{krate}\", package = \"{krate}-{key}\" }}\n"
            ),
        )?;
        crates.push(ApiCrate {
            target: package.replace('-', "_"),
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
