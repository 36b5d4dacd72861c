//! The command line's contract: exit codes, clear messages for bad input, scorecard formats and
//! partial updates, and the reference answers and stubs graded as the course promises.

mod common;

use common::*;
use grader::outcome::{CheckStatus, ExerciseStatus};
use predicates::prelude::*;

#[test]
fn the_solutions_get_full_marks_and_the_stubs_zero() {
    let output = xtask().arg("check").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("self-check passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn an_unknown_exercise_is_a_clear_error() {
    xtask().args(["grade", "42_nope"]).assert().code(2).stderr(
        predicate::str::contains("no exercise named `42_nope`")
            .and(predicate::str::contains("02_lock")),
    );
}

#[test]
fn a_missing_submission_folder_is_a_clear_error() {
    let dir = scratch();
    xtask()
        .args(["grade", "02_lock", "--submission"])
        .arg(dir.path().join("nowhere"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("does not exist"));
}

#[test]
fn an_exercise_missing_from_a_submission_is_not_found() {
    let dir = scratch();
    std::fs::create_dir_all(dir.path().join("sub/exercises")).unwrap();
    let graded = grade(
        &[
            "02_lock",
            "--submission",
            dir.path().join("sub").to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(graded.code, 1);
    let card = graded.exercise("02_lock");
    assert_eq!(card.status, ExerciseStatus::NotFound);
    assert_eq!(card.score, 0.0);
    assert!(
        card.message.contains("02_lock/src/lib.rs"),
        "{}",
        card.message
    );
}

#[test]
fn a_compile_error_is_shown_with_the_learners_path() {
    let dir = scratch();
    let lib = dir.path().join("sub/exercises/02_lock/src");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(lib.join("lib.rs"), "pub struct Lock;\nfn broken( {}\n").unwrap();
    let graded = grade(
        &[
            "02_lock",
            "--submission",
            dir.path().join("sub").to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(graded.code, 1);
    let card = graded.exercise("02_lock");
    assert_eq!(card.status, ExerciseStatus::CompileError);
    assert!(card.message.contains("error"), "{}", card.message);
    assert!(
        !card.message.contains("target/locksmith"),
        "no stage paths: {}",
        card.message
    );
    assert!(
        graded.stdout.contains("does not compile"),
        "{}",
        graded.stdout
    );
    assert!(card.checks.iter().all(|c| c.score == 0.0));
}

#[test]
fn a_file_with_a_different_api_is_a_compile_error_naming_the_mismatch() {
    let dir = scratch();
    let lib = dir.path().join("sub/02_lock/src");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(lib.join("lib.rs"), "pub struct Lock;\n").unwrap();
    let graded = grade(
        &[
            "02_lock",
            "--submission",
            dir.path().join("sub").to_str().unwrap(),
        ],
        dir.path(),
    );
    let card = graded.exercise("02_lock");
    assert_eq!(card.status, ExerciseStatus::CompileError);
    assert!(
        card.message.contains("does not match the curriculum"),
        "{}",
        card.message
    );
}

#[test]
fn stubs_score_zero_as_not_implemented_with_every_format() {
    let dir = scratch();
    let graded = grade(&["02_lock"], dir.path());
    assert_eq!(graded.code, 1, "{}", graded.stderr);
    let card = graded.exercise("02_lock");
    assert_eq!(card.score, 0.0);
    assert!(card
        .checks
        .iter()
        .filter(|c| c.category.is_runtime())
        .all(|c| c.status == CheckStatus::NotImplemented));

    for (format, file) in [("json", "scorecard.json"), ("gradescope", "results.json")] {
        let path = dir.path().join(file);
        xtask()
            .args(["grade", "02_lock", "--format", format, "--scorecard"])
            .arg(&path)
            .assert()
            .code(1);
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if format == "gradescope" {
            let tests = json["tests"].as_array().unwrap();
            assert!(tests.len() > 5);
            for test in tests {
                for key in [
                    "name",
                    "score",
                    "max_score",
                    "status",
                    "output",
                    "visibility",
                    "tags",
                ] {
                    assert!(
                        test.get(key).is_some(),
                        "gradescope test without {key}: {test}"
                    );
                }
            }
            assert_eq!(json["score"], 0.0);
        } else {
            assert_eq!(json["exercise"][0]["id"], "02_lock");
        }
    }
}

#[test]
fn grading_one_exercise_keeps_the_others_and_one_check_keeps_the_rest() {
    let dir = scratch();
    grade(&["02_lock"], dir.path());
    let graded = grade(&["03"], dir.path());
    let card = graded.card.as_ref().unwrap();
    let ids: Vec<_> = card.exercises.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["02_lock", "03_rlock"]);
    assert_eq!(card.max_score, 200.0);

    let first = graded.exercise("02_lock").checks[0].name.clone();
    let before = graded.exercise("02_lock").clone();
    let graded = grade(&["02_lock", "--check", &first], dir.path());
    let after = graded.exercise("02_lock");
    assert_eq!(after.checks.len(), before.checks.len());
    for (old, new) in before.checks.iter().zip(&after.checks) {
        if new.name == first {
            assert_ne!(
                old.seed, new.seed,
                "{} ran again, with a new seed",
                new.name
            );
        } else {
            assert_eq!(old, new, "{} kept its result (seed and all)", new.name);
        }
    }
}

#[test]
fn an_unreadable_scorecard_is_moved_aside_not_lost() {
    let dir = scratch();
    let path = dir.path().join("scorecard.toml");
    std::fs::write(&path, "this is [not toml").unwrap();
    let graded = grade(&["02_lock"], dir.path());
    assert!(
        graded.stderr.contains("could not be read"),
        "{}",
        graded.stderr
    );
    assert!(graded.card.is_some(), "a fresh scorecard was written");
    let kept: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("unreadable"))
        .collect();
    assert_eq!(kept.len(), 1, "the old file was kept");
    assert_eq!(
        std::fs::read_to_string(kept[0].path()).unwrap(),
        "this is [not toml"
    );
}

#[test]
fn an_unknown_check_is_a_clear_error() {
    xtask()
        .args(["grade", "02_lock", "--check", "no_such_check"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no check named `no_such_check`"));
}

#[test]
fn list_and_hint_explain_the_course() {
    xtask()
        .arg("list")
        .assert()
        .success()
        .stdout(predicate::str::contains("01_threads").and(predicate::str::contains("08_barrier")));
    xtask()
        .args(["hint", "rlock"])
        .assert()
        .success()
        .stdout(predicate::str::contains("03_rlock"));
}
