//! The grader against implementations it must judge right: broken ones lose the points of the
//! checks aimed at their bug, other correct styles get full marks, hostile ones never pass and
//! leave the grader, the workspace and the machine unharmed.

mod common;

use common::*;
use grader::outcome::{CheckStatus, ExerciseStatus};

#[test]
fn broken_fixtures_lose_the_points_of_the_checks_aimed_at_their_bug() {
    let all = fixtures("broken");
    assert!(!all.is_empty(), "no broken fixtures found");
    let mut misses = Vec::new();
    let count = all.len();
    for round in rounds(all) {
        let dir = scratch();
        submission(&round.iter().collect::<Vec<_>>(), &dir.path().join("sub"));
        // Only the checks each bug must trip: the others are the correct fixtures' business.
        let sub = dir.path().join("sub");
        let mut args = vec![
            "--all".to_string(),
            "--submission".into(),
            sub.display().to_string(),
        ];
        for fixture in &round {
            for check in fixture.list("expect-fail") {
                args.extend(["--check".to_string(), check]);
            }
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let graded = grade(&args, dir.path());
        assert_eq!(
            graded.code, 1,
            "a broken submission loses points\n{}",
            graded.stderr
        );
        for fixture in &round {
            let card = graded.exercise(&fixture.exercise);
            let expected = fixture.list("expect-fail");
            assert!(
                !expected.is_empty(),
                "{}: a broken fixture names the checks that must catch it",
                fixture.path.display()
            );
            for check in &expected {
                assert!(
                    card.checks.iter().any(|c| &c.name == check),
                    "{}: no check named {check}",
                    fixture.path.display()
                );
                if passed(card, check) {
                    misses.push(format!(
                        "{}/{}: `{check}` passed, but must catch: {}",
                        fixture.exercise,
                        fixture.name,
                        fixture.header("bug").unwrap_or_default()
                    ));
                }
            }
            if card.score >= card.max_score {
                misses.push(format!("{}/{}: full marks", fixture.exercise, fixture.name));
            }
        }
    }
    assert!(
        misses.is_empty(),
        "{} of {count} fixtures slipped through:\n{}",
        misses.len(),
        misses.join("\n")
    );
}

#[test]
fn correct_implementations_in_other_styles_get_full_marks() {
    let all = fixtures("correct");
    assert!(!all.is_empty(), "no correct fixtures found");
    let mut wrongs = Vec::new();
    for round in rounds(all) {
        let dir = scratch();
        submission(&round.iter().collect::<Vec<_>>(), &dir.path().join("sub"));
        let graded = grade(
            &[
                "--all",
                "--submission",
                dir.path().join("sub").to_str().unwrap(),
            ],
            dir.path(),
        );
        for fixture in &round {
            let card = graded.exercise(&fixture.exercise);
            for check in card.checks.iter().filter(|c| c.status != CheckStatus::Pass) {
                wrongs.push(format!(
                    "{}/{}: {} is {} (seed {}): {}",
                    fixture.exercise,
                    fixture.name,
                    check.name,
                    check.status.as_str(),
                    check.seed,
                    check.message
                ));
            }
        }
    }
    assert!(
        wrongs.is_empty(),
        "correct code lost points:\n{}",
        wrongs.join("\n")
    );
}

fn fingerprint(path: &std::path::Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

fn leftover_processes() -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains("98765") && cmdline.starts_with("sleep") {
                found.push(cmdline);
            }
        }
    }
    found
}

#[test]
fn hostile_code_is_contained_and_never_passes() {
    let all = fixtures("hostile");
    assert!(!all.is_empty(), "no hostile fixtures found");
    let protected = [
        root().join("scorecard.toml"),
        root().join("grader/checks/02_lock.rs"),
        root().join("grader/checks/02_lock.toml"),
    ];
    let before: Vec<_> = protected.iter().map(|p| fingerprint(p)).collect();
    let mut problems = Vec::new();
    // SAFETY: geteuid has no preconditions.
    let root_user = unsafe { libc::geteuid() } == 0;
    for fixture in &all {
        // Checks run as `nobody` only when the grader is root; elsewhere a kernel without
        // Landlock would leave this developer's own files to the fixture.
        if fixture.name == "writes_files" && !root_user {
            eprintln!(
                "skipping hostile/writes_files: not root, so its containment is not guaranteed"
            );
            continue;
        }
        let dir = scratch();
        submission(&[fixture], &dir.path().join("sub"));
        let sub = dir.path().join("sub");
        let mut args = vec![
            fixture.exercise.as_str(),
            "--submission",
            sub.to_str().unwrap(),
        ];
        let extra = fixture.header("grade-args").unwrap_or_default();
        args.extend(extra.split_whitespace());
        let graded = grade(&args, dir.path());
        let name = format!("{}/{}", fixture.exercise, fixture.name);
        if graded.code != 1 {
            problems.push(format!(
                "{name}: exit code {} (want 1)\n{}",
                graded.code, graded.stderr
            ));
            continue;
        }
        let card = graded.exercise(&fixture.exercise);
        if card.score != 0.0 {
            problems.push(format!("{name}: scored {}", card.score));
        }
        for check in card.checks.iter().filter(|c| c.category.is_runtime()) {
            if check.status == CheckStatus::Pass {
                problems.push(format!("{name}: {} passed", check.name));
            }
        }
        let ran = card
            .checks
            .iter()
            .filter(|c| c.category.is_runtime() && c.status != CheckStatus::Skipped)
            .count();
        if ran == 0 {
            problems.push(format!(
                "{name}: no runtime check ran ({})",
                card.status.as_str()
            ));
        }
        let left = leftover_processes();
        if !left.is_empty() {
            problems.push(format!("{name}: processes left behind: {left:?}"));
        }
    }
    let after: Vec<_> = protected.iter().map(|p| fingerprint(p)).collect();
    for ((path, before), after) in protected.iter().zip(&before).zip(&after) {
        if before != after {
            problems.push(format!("{} was changed by code under test", path.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_rules_violation_zeroes_the_exercise_but_shows_what_works() {
    let Some(fixture) = fixtures("broken")
        .into_iter()
        .find(|f| f.exercise == "02_lock" && f.list("expect-fail") == ["allowed_building_blocks"])
    else {
        panic!("a 02_lock fixture that only breaks the rules");
    };
    let dir = scratch();
    submission(&[&fixture], &dir.path().join("sub"));
    let graded = grade(
        &[
            "02_lock",
            "--submission",
            dir.path().join("sub").to_str().unwrap(),
        ],
        dir.path(),
    );
    let card = graded.exercise("02_lock");
    assert_eq!(
        card.status,
        ExerciseStatus::RulesViolation,
        "{}",
        graded.stdout
    );
    assert_eq!(card.score, 0.0);
    assert!(
        card.message.contains("line "),
        "the violation names its line: {}",
        card.message
    );
    let working = card
        .checks
        .iter()
        .filter(|c| c.category.is_runtime() && c.status == CheckStatus::Pass)
        .count();
    assert!(
        working > 0,
        "the other checks still ran and show what works:\n{}",
        graded.stdout
    );
}
