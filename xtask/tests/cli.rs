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
fn code_that_keeps_the_compiler_busy_is_stopped_not_waited_for() {
    let dir = scratch();
    let lib = dir.path().join("sub/05_event/src");
    std::fs::create_dir_all(&lib).unwrap();
    let solution = std::fs::read_to_string(root().join("solutions/05_event/src/lib.rs")).unwrap();
    // A constant evaluated forever, with the lint that would end it allowed.
    let busy =
        format!("#![allow(long_running_const_eval)]\n{solution}\nconst _: () = loop {{}};\n");
    std::fs::write(lib.join("lib.rs"), busy).unwrap();
    let output = xtask()
        .env("LOCKSMITH_COMPILE_LIMIT_SECS", "5")
        .args(["grade", "05_event", "--submission"])
        .arg(dir.path().join("sub"))
        .arg("--scorecard")
        .arg(dir.path().join("scorecard.toml"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let card: grader::scorecard::Scorecard =
        toml::from_str(&std::fs::read_to_string(dir.path().join("scorecard.toml")).unwrap())
            .unwrap();
    let exercise = &card.exercises[0];
    assert_eq!(exercise.status, ExerciseStatus::CompileError);
    assert!(
        exercise.message.contains("more than 5s") && exercise.message.contains("stopped"),
        "{}",
        exercise.message
    );
    assert_eq!(card.score, 0.0);
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
    let not_toml = b"this is [not toml".to_vec();
    let not_utf8 = b"score = 100.0 \xff\xfe".to_vec();
    for old in [not_toml, not_utf8] {
        let dir = scratch();
        let path = dir.path().join("scorecard.toml");
        std::fs::write(&path, &old).unwrap();
        let graded = grade(
            &["02_lock", "--check", "allowed_building_blocks"],
            dir.path(),
        );
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
        assert_eq!(std::fs::read(kept[0].path()).unwrap(), old);
    }
}

#[test]
fn links_out_of_a_submission_are_refused_not_followed() {
    let solution = root().join("solutions/02_lock");
    let dir = scratch();
    // The exercise folder is a link to the reference solution...
    let folder = dir.path().join("folder");
    std::fs::create_dir_all(&folder).unwrap();
    std::os::unix::fs::symlink(&solution, folder.join("02_lock")).unwrap();
    // ...or just its file is.
    let file = dir.path().join("file");
    std::fs::create_dir_all(file.join("02_lock/src")).unwrap();
    std::os::unix::fs::symlink(solution.join("src/lib.rs"), file.join("02_lock/src/lib.rs"))
        .unwrap();
    for sub in [folder, file] {
        let graded = grade(
            &["02_lock", "--submission", sub.to_str().unwrap()],
            dir.path(),
        );
        assert_eq!(graded.code, 1, "{}", graded.stderr);
        let card = graded.exercise("02_lock");
        assert_eq!(card.status, ExerciseStatus::InvalidSubmission);
        assert_eq!(card.score, 0.0);
        assert!(card.message.contains("symbolic link"), "{}", card.message);
        assert!(
            graded.stdout.contains("invalid submission"),
            "{}",
            graded.stdout
        );
        assert!(card.checks.iter().all(|c| c.status == CheckStatus::Skipped));
    }
}

/// The file is read once: what is hashed is what is compiled, whatever the submission does to
/// it meanwhile.
#[test]
fn a_submission_that_changes_while_graded_is_graded_as_it_was_read() {
    let stub = std::fs::read(root().join("exercises/02_lock/src/lib.rs")).unwrap();
    let solution = std::fs::read(root().join("solutions/02_lock/src/lib.rs")).unwrap();
    let dir = scratch();
    let lib = dir.path().join("sub/02_lock/src/lib.rs");
    std::fs::create_dir_all(lib.parent().unwrap()).unwrap();
    std::fs::write(&lib, &stub).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let graded = std::thread::scope(|scope| {
        scope.spawn(|| {
            // Swap the file's content back and forth (by rename, as editors do) until the grade
            // ends.
            let mut flip = false;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let next = lib.with_extension("next");
                std::fs::write(&next, if flip { &stub } else { &solution }).unwrap();
                std::fs::rename(&next, &lib).unwrap();
                flip = !flip;
                std::thread::sleep(std::time::Duration::from_millis(3));
            }
        });
        let graded = grade(
            &[
                "02_lock",
                "--check",
                "acquire_and_release",
                "--submission",
                dir.path().join("sub").to_str().unwrap(),
            ],
            dir.path(),
        );
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        graded
    });
    let card = graded.exercise("02_lock");
    let check = card
        .checks
        .iter()
        .find(|c| c.name == "acquire_and_release")
        .unwrap();
    let sha = |bytes: &[u8]| grader::sha256_hex(bytes);
    if card.source_sha256 == sha(&stub) {
        assert_eq!(
            check.status,
            CheckStatus::NotImplemented,
            "{}",
            graded.stdout
        );
    } else {
        assert_eq!(
            card.source_sha256,
            sha(&solution),
            "one of the two was read"
        );
        assert_eq!(check.status, CheckStatus::Pass, "{}", graded.stdout);
    }
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
fn a_schedule_replays_one_named_check_and_must_fit_the_code() {
    for args in [
        &["grade", "02_lock", "--schedule", "91021c8e"][..],
        &[
            "grade",
            "02_lock",
            "--check",
            "mutual_exclusion",
            "--check",
            "mutex_exclusion",
            "--schedule",
            "91021c8e",
        ],
    ] {
        xtask().args(args).assert().code(2).stderr(
            predicate::str::contains("--check").or(predicate::str::contains("one --check")),
        );
    }
    xtask()
        .args([
            "grade",
            "02_lock",
            "--check",
            "mutual_exclusion",
            "--schedule",
            "not hex",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("hexadecimal"));
    // A well-formed schedule recorded on other code: a clear refusal, not a verdict.
    let dir = scratch();
    let card = dir.path().join("card.toml");
    xtask()
        .args([
            "grade",
            "02_lock",
            "--solutions",
            "--check",
            "no_lost_wakeups",
        ])
        .args([
            "--schedule",
            "910220c5f5e69fcbb4acdadb018004d8b693942409b66d9b0c",
        ])
        .arg("--scorecard")
        .arg(&card)
        .assert()
        .stdout(predicate::str::contains("does not fit this code"));
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

#[test]
fn list_aligns_its_columns() {
    let output = xtask().arg("list").output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let columns: Vec<usize> = stdout
        .lines()
        .filter(|line| line.contains(" pts "))
        .map(|line| line.find(" pts ").unwrap())
        .collect();
    assert_eq!(columns.len(), 8, "{stdout}");
    assert!(columns.windows(2).all(|w| w[0] == w[1]), "{stdout}");
}

#[test]
fn usage_lines_name_the_command_the_learner_types() {
    xtask()
        .arg("grade")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("Usage: cargo xtask grade"));
}
