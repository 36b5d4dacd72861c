//! `cargo xtask gradescope`: what the package holds, and its `run_autograder` run as Gradescope
//! runs it, in a folder laid out like `/autograder` whose `source` is this workspace (so the
//! build is warm), for a correct, a broken, a hostile and an empty submission, and for a
//! grader that cannot run.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

const EXERCISE: &str = "05_event";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("locksmith-gradescope-")
        .tempdir()
        .expect("a scratch folder")
}

/// `cargo xtask gradescope --out DIR/autograder.zip --exercises 05_event`, opened.
fn package(dir: &Path) -> zip::ZipArchive<std::fs::File> {
    let out = dir.join("autograder.zip");
    Command::cargo_bin("xtask")
        .unwrap()
        .current_dir(workspace())
        .env("NO_COLOR", "1")
        .args(["gradescope", "--out"])
        .arg(&out)
        .args(["--exercises", EXERCISE])
        .timeout(Duration::from_secs(120))
        .assert()
        .success();
    zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).expect("a zip")
}

/// Writes the zip's `name` to `dir/name`, executable as it is in the zip.
fn extract(zip: &mut zip::ZipArchive<std::fs::File>, name: &str, dir: &Path) -> PathBuf {
    let mut entry = zip.by_name(name).unwrap();
    let mut text = Vec::new();
    entry.read_to_end(&mut text).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let mode = entry.unix_mode().unwrap() & 0o777;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[test]
fn the_package_holds_both_scripts_and_the_course_without_its_build() {
    let dir = scratch();
    let mut zip = package(dir.path());
    let names: Vec<String> = zip.file_names().map(String::from).collect();
    for name in [
        "setup.sh",
        "run_autograder",
        "source/Cargo.toml",
        "source/Cargo.lock",
        "source/.cargo/config.toml",
        "source/grader/checks/05_event.toml",
        "source/solutions/05_event/src/lib.rs",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} is missing");
    }
    for name in &names {
        assert!(
            !name.starts_with("source/target/")
                && name != "source/.git"
                && !name.starts_with("source/.git/"),
            "{name} is not the course"
        );
    }
    for script in ["setup.sh", "run_autograder"] {
        let path = extract(&mut zip, script, dir.path());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o755, "{script}");
        Command::new("bash").arg("-n").arg(&path).assert().success();
    }
    // Modes are the workspace's own.
    let on_disk = std::fs::metadata(workspace().join("Cargo.toml"))
        .unwrap()
        .permissions()
        .mode();
    let in_zip = zip
        .by_name("source/Cargo.toml")
        .unwrap()
        .unix_mode()
        .unwrap();
    assert_eq!(in_zip & 0o777, on_disk & 0o777);
}

/// A folder laid out like `/autograder`: `source` is this workspace, `submission` empty.
struct Autograder {
    dir: tempfile::TempDir,
    run_autograder: PathBuf,
}

impl Autograder {
    fn new(run_autograder: &Path) -> Autograder {
        let dir = scratch();
        std::os::unix::fs::symlink(workspace(), dir.path().join("source")).unwrap();
        std::fs::create_dir(dir.path().join("submission")).unwrap();
        Autograder {
            dir,
            run_autograder: run_autograder.to_path_buf(),
        }
    }

    fn submit(&self, code: &str) {
        let src = self
            .dir
            .path()
            .join("submission")
            .join(EXERCISE)
            .join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("lib.rs"), code).unwrap();
    }

    /// Runs `run_autograder` with this grader, which must exit 0, and returns results.json.
    fn run(&self, xtask: &str) -> Value {
        let output = Command::new("bash")
            .arg(&self.run_autograder)
            .env("LOCKSMITH_AUTOGRADER_ROOT", self.dir.path())
            .env("LOCKSMITH_XTASK", xtask)
            .env_remove("LOCKSMITH_ROOT")
            .timeout(Duration::from_secs(600))
            .output()
            .unwrap();
        let log = format!(
            "{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.status.code(), Some(0), "run_autograder:\n{log}");
        let path = self.dir.path().join("results/results.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}\n{log}", path.display()));
        let json: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("results.json is not JSON ({e}):\n{text}"));
        assert!(json["score"].is_number(), "{json}");
        assert_eq!(json["output_format"], "markdown", "{json}");
        assert!(json["output"].is_string(), "{json}");
        assert!(json["tests"].is_array(), "{json}");
        json
    }

    fn grade(&self) -> Value {
        self.run(env!("CARGO_BIN_EXE_xtask"))
    }
}

/// Every test of a graded results.json, with the keys Gradescope reads.
fn tests(json: &Value) -> &[Value] {
    let tests = json["tests"].as_array().unwrap();
    assert!(!tests.is_empty(), "no tests: {json}");
    for test in tests {
        assert!(test["name"].is_string(), "{test}");
        assert!(test["score"].is_number(), "{test}");
        assert!(test["max_score"].is_number(), "{test}");
        assert!(
            test["status"] == "passed" || test["status"] == "failed",
            "{test}"
        );
        assert!(test["output"].is_string(), "{test}");
        assert_eq!(test["visibility"], "visible", "{test}");
        let tags = test["tags"].as_array().expect("tags");
        assert_eq!(tags[0], EXERCISE, "{test}");
    }
    tests
}

fn score(json: &Value) -> f64 {
    json["score"].as_f64().unwrap()
}

fn output(test: &Value) -> &str {
    test["output"].as_str().unwrap()
}

fn solution() -> String {
    std::fs::read_to_string(workspace().join("solutions/05_event/src/lib.rs")).unwrap()
}

/// The solution with one edit, which must apply.
fn edited(from: &str, to: &str) -> String {
    let code = solution();
    assert_eq!(
        code.matches(from).count(),
        1,
        "the edit must apply once: {from}"
    );
    code.replace(from, to)
}

#[test]
fn run_autograder_grades_correct_broken_hostile_and_empty_submissions() {
    let dir = scratch();
    let mut zip = package(dir.path());
    let run_autograder = extract(&mut zip, "run_autograder", dir.path());

    // Correct: the reference answer gets full marks.
    let correct = Autograder::new(&run_autograder);
    correct.submit(&solution());
    let json = correct.grade();
    assert_eq!(score(&json), 100.0, "{json}");
    assert!(
        tests(&json).iter().all(|t| t["status"] == "passed"),
        "{json}"
    );

    // Broken: a wait that times out reports true, as if the flag had been set.
    let broken = Autograder::new(&run_autograder);
    broken.submit(&edited(
        "                    if now >= deadline {\n                        return false;\n",
        "                    if now >= deadline {\n                        return true;\n",
    ));
    let json = broken.grade();
    assert!(score(&json) > 0.0 && score(&json) < 100.0, "{json}");
    let failed: Vec<&Value> = tests(&json)
        .iter()
        .filter(|t| t["status"] == "failed")
        .collect();
    let wakes = failed
        .iter()
        .find(|t| t["name"] == "05_event / wait_timeout_semantics")
        .unwrap_or_else(|| panic!("wait_timeout_semantics did not fail: {json}"));
    assert_eq!(wakes["score"], 0.0);
    assert!(output(wakes).contains("**Hint:**"), "{wakes}");
    assert!(
        output(wakes).contains("cargo xtask grade 05_event --check wait_timeout_semantics --seed "),
        "{wakes}"
    );
    // The replay is for the student's own copy: no path of the autograder's.
    assert!(!output(wakes).contains("--submission"), "{wakes}");

    // Hostile: breaks the rules (files, programs) and tries to leave a file where anyone may
    // write. It scores 0, and the sandbox lets nothing out.
    let outside = scratch();
    std::fs::set_permissions(outside.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let written = outside.path().join("written-by-fs");
    let touched = outside.path().join("touched-by-a-program");
    let hostile = Autograder::new(&run_autograder);
    hostile.submit(&edited(
        "    pub const fn new() -> Event {\n",
        &format!(
            "    pub fn new() -> Event {{\n        \
             let _ = std::fs::write({written:?}, \"escaped\");\n        \
             let _ = std::process::Command::new(\"touch\").arg({touched:?}).status();\n"
        ),
    ));
    let json = hostile.grade();
    assert_eq!(score(&json), 0.0, "{json}");
    let graded = tests(&json);
    let rules = graded
        .iter()
        .find(|t| t["name"] == "05_event / allowed_building_blocks")
        .unwrap();
    assert_eq!(rules["status"], "failed", "{rules}");
    assert!(output(rules).contains("not allowed"), "{rules}");
    assert!(
        graded
            .iter()
            .any(|t| t["tags"][1] == "functionality" && t["tags"][2] != "skipped"),
        "the hostile code ran (contained): {json}"
    );
    let left: Vec<_> = std::fs::read_dir(outside.path()).unwrap().collect();
    assert!(left.is_empty(), "code under test wrote {left:?}");

    // Empty: nothing submitted is not found, with zero points.
    let empty = Autograder::new(&run_autograder);
    let json = empty.grade();
    assert_eq!(score(&json), 0.0, "{json}");
    for test in tests(&json) {
        assert_eq!(test["status"], "failed", "{test}");
        assert!(output(test).contains("not found"), "{test}");
    }
}

#[test]
fn a_grader_that_cannot_run_still_leaves_a_valid_results_json() {
    let dir = scratch();
    let mut zip = package(dir.path());
    let run_autograder = extract(&mut zip, "run_autograder", dir.path());

    // A grader that fails without a word (exit 1, nothing written).
    let silent = Autograder::new(&run_autograder);
    silent.submit(&solution());
    let json = silent.run("/bin/false");
    assert_eq!(score(&json), 0.0, "{json}");
    let said = json["output"].as_str().unwrap();
    assert!(
        said.contains("could not run") && said.contains("not your code"),
        "{said}"
    );

    // The real grader, refusing to start (exit 2): no submission folder at all.
    let nothing = Autograder::new(&run_autograder);
    std::fs::remove_dir(nothing.dir.path().join("submission")).unwrap();
    let json = nothing.grade();
    assert_eq!(score(&json), 0.0, "{json}");
    assert!(
        json["output"].as_str().unwrap().contains("exit status 2"),
        "{json}"
    );
}
