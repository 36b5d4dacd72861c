//! Driving `cargo xtask` from tests: one grade at a time (they share two cores), each with its
//! own scorecard in a scratch folder.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use assert_cmd::Command;
use grader::outcome::CheckStatus;
use grader::scorecard::{ExerciseCard, Scorecard};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

pub struct Graded {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub card: Option<Scorecard>,
}

impl Graded {
    pub fn exercise(&self, id: &str) -> &ExerciseCard {
        self.card
            .as_ref()
            .and_then(|c| c.exercises.iter().find(|e| e.id == id))
            .unwrap_or_else(|| panic!("{id} is not in the scorecard\n{}", self.stdout))
    }
}

pub fn root() -> PathBuf {
    grader::workspace_root()
}

pub fn xtask() -> Command {
    let mut command = Command::cargo_bin("xtask").expect("the xtask binary");
    command.current_dir(root()).env("NO_COLOR", "1");
    command.timeout(Duration::from_secs(1200));
    command
}

/// `cargo xtask grade ARGS --scorecard DIR/scorecard.toml`, read back.
pub fn grade(args: &[&str], scratch: &Path) -> Graded {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scorecard = scratch.join("scorecard.toml");
    let output = xtask()
        .arg("grade")
        .args(args)
        .arg("--scorecard")
        .arg(&scorecard)
        .output()
        .expect("running cargo xtask grade");
    let card = std::fs::read_to_string(&scorecard)
        .ok()
        .map(|text| toml::from_str(&text).expect("the scorecard parses"));
    Graded {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        card,
    }
}

/// A fixture file: its header lines (`//! key: value`) and where it is.
pub struct Fixture {
    pub path: PathBuf,
    pub exercise: String,
    pub name: String,
    pub text: String,
}

impl Fixture {
    pub fn header(&self, key: &str) -> Option<String> {
        let prefix = format!("//! {key}:");
        self.text
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_string()))
    }

    pub fn list(&self, key: &str) -> Vec<String> {
        self.header(key)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Every fixture under `grader/tests/fixtures/KIND/ID/`, in a stable order: `NAME.rs`, a whole
/// file, or `NAME.patch`, its `//!` header lines and then a unified diff against
/// `solutions/ID/src/lib.rs`, applied here.
pub fn fixtures(kind: &str) -> Vec<Fixture> {
    let base = root().join("grader/tests/fixtures").join(kind);
    let mut found = Vec::new();
    let Ok(exercises) = std::fs::read_dir(&base) else {
        return found;
    };
    for exercise in exercises.flatten().filter(|e| e.path().is_dir()) {
        let id = exercise.file_name().to_string_lossy().into_owned();
        for file in std::fs::read_dir(exercise.path()).unwrap().flatten() {
            let path = file.path();
            let text = match path.extension().and_then(|e| e.to_str()) {
                Some("rs") => std::fs::read_to_string(&path).unwrap(),
                Some("patch") => patched(&id, &path),
                _ => continue,
            };
            found.push(Fixture {
                exercise: id.clone(),
                name: path.file_stem().unwrap().to_string_lossy().into_owned(),
                text,
                path,
            });
        }
    }
    found.sort_by(|a, b| (&a.exercise, &a.name).cmp(&(&b.exercise, &b.name)));
    found
}

/// The solution of `id` with the patch applied, the patch's header lines first.
fn patched(id: &str, patch: &Path) -> String {
    let text = std::fs::read_to_string(patch).unwrap();
    let header: String = text
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| format!("{l}\n"))
        .collect();
    let diff = &text[header.len()..];
    let solution =
        std::fs::read_to_string(root().join("solutions").join(id).join("src/lib.rs")).unwrap();
    let parsed = diffy::Patch::from_str(diff)
        .unwrap_or_else(|e| panic!("{}: not a unified diff: {e}", patch.display()));
    let applied = diffy::apply(&solution, &parsed).unwrap_or_else(|e| {
        panic!(
            "{}: does not apply to solutions/{id}/src/lib.rs ({e}): make it again against \
             the current solution",
            patch.display()
        )
    });
    format!("{header}{applied}")
}

/// Groups fixtures so that each round holds at most one per exercise: one submission, one build.
pub fn rounds(fixtures: Vec<Fixture>) -> Vec<Vec<Fixture>> {
    let mut rounds: Vec<Vec<Fixture>> = Vec::new();
    for fixture in fixtures {
        match rounds
            .iter_mut()
            .find(|r| r.iter().all(|f| f.exercise != fixture.exercise))
        {
            Some(round) => round.push(fixture),
            None => rounds.push(vec![fixture]),
        }
    }
    rounds
}

/// A submission folder holding each fixture as its exercise's `src/lib.rs`.
pub fn submission(fixtures: &[&Fixture], dir: &Path) {
    for fixture in fixtures {
        let lib = dir.join(&fixture.exercise).join("src");
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::write(lib.join("lib.rs"), &fixture.text).unwrap();
    }
}

pub fn passed(card: &ExerciseCard, check: &str) -> bool {
    card.checks
        .iter()
        .any(|c| c.name == check && c.status == CheckStatus::Pass)
}

pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("locksmith-test-")
        .tempdir()
        .expect("a scratch folder")
}
