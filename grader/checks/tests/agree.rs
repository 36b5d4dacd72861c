//! Each check binary and its checks file agree: the binary's `list` is exactly the runtime
//! checks of `NN_name.toml` (every check whose category is neither `api` nor `rules`). The
//! binaries here are built against the reference solutions, so the grader itself need not run a
//! learner-linked binary to learn the names.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde::Deserialize;

#[derive(Deserialize)]
struct ChecksFile {
    check: Vec<CheckEntry>,
}

#[derive(Deserialize)]
struct CheckEntry {
    name: String,
    category: String,
}

/// Every exercise and its check binary.
const BINARIES: &[(&str, &str)] = &[
    ("01_threads", env!("CARGO_BIN_EXE_check-01_threads")),
    ("02_lock", env!("CARGO_BIN_EXE_check-02_lock")),
    ("03_rlock", env!("CARGO_BIN_EXE_check-03_rlock")),
    ("04_semaphore", env!("CARGO_BIN_EXE_check-04_semaphore")),
    ("05_event", env!("CARGO_BIN_EXE_check-05_event")),
    ("06_condition", env!("CARGO_BIN_EXE_check-06_condition")),
    ("07_deadlock", env!("CARGO_BIN_EXE_check-07_deadlock")),
    ("08_barrier", env!("CARGO_BIN_EXE_check-08_barrier")),
];

/// The runtime checks named in `NN_name.toml`.
fn runtime_checks_in_toml(exercise: &str) -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("{exercise}.toml"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let file: ChecksFile =
        toml::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    file.check
        .into_iter()
        .filter(|c| c.category != "api" && c.category != "rules")
        .map(|c| c.name)
        .collect()
}

/// The checks the binary lists (one name per line).
fn checks_in_binary(exercise: &str, binary: &str) -> BTreeSet<String> {
    let output = Command::new(binary)
        .arg("list")
        .output()
        .unwrap_or_else(|e| panic!("{exercise}: running {binary} list: {e}"));
    assert!(
        output.status.success(),
        "{exercise}: `{binary} list` failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap_or_else(|_| panic!("{exercise}: `{binary} list` printed non-UTF-8 text"))
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn every_exercise_has_a_binary() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut tomls: Vec<String> = std::fs::read_dir(dir)
        .expect("reading grader/checks")
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let id = name.strip_suffix(".toml")?;
            (id != "Cargo").then(|| id.to_string())
        })
        .collect();
    tomls.sort();
    let binaries: Vec<&str> = BINARIES.iter().map(|(exercise, _)| *exercise).collect();
    assert_eq!(
        tomls, binaries,
        "the checks files of grader/checks and the [[bin]]s of grader/checks/Cargo.toml differ"
    );
}

#[test]
fn list_matches_checks_file() {
    let mut problems = Vec::new();
    for (exercise, binary) in BINARIES {
        let expected = runtime_checks_in_toml(exercise);
        let listed = checks_in_binary(exercise, binary);
        let missing: Vec<&String> = expected.difference(&listed).collect();
        let extra: Vec<&String> = listed.difference(&expected).collect();
        if !missing.is_empty() {
            problems.push(format!(
                "{exercise}: runtime checks of {exercise}.toml missing from {exercise}.rs's \
                 checks![]: {missing:?}"
            ));
        }
        if !extra.is_empty() {
            problems.push(format!(
                "{exercise}: checks listed by {exercise}.rs that {exercise}.toml does not have \
                 as runtime checks: {extra:?}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
