//! Grading a class: a class folder mixing every kind of submission grades end to end, as each
//! would alone; an interrupted and resumed batch, and shards merged, give the summary of one
//! uninterrupted run; a merge that would mix incomparable results is refused.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use grader::scorecard::Scorecard;
use predicates::prelude::*;

/// Batches share two cores: one at a time.
static ONE_BATCH: Mutex<()> = Mutex::new(());

/// Whose submission is what.
const CORRECT: &[&str] = &["alice", "carol"];
const BROKEN: &str = "bob";
const HOSTILE: &str = "erin";
const RULES: &str = "gina";
const NAMES: &[&str] = &[
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "gina",
    "harry",
    "notes.txt",
];

struct Class {
    dir: tempfile::TempDir,
    /// Where escaping archive entries would land.
    outside: PathBuf,
    /// The output of one uninterrupted batch.
    whole: tempfile::TempDir,
    code: i32,
    stdout: String,
}

fn fixture(kind: &str, name: &str) -> String {
    fixtures(kind)
        .into_iter()
        .find(|f| f.exercise == "02_lock" && f.name == name)
        .unwrap_or_else(|| panic!("no {kind} fixture 02_lock/{name}"))
        .text
}

fn solution() -> String {
    std::fs::read_to_string(root().join("solutions/02_lock/src/lib.rs")).unwrap()
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn zip(path: &Path, files: &[(&str, &str)]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, text) in files {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

fn tar_gz(path: &Path, files: &[(&str, &str)]) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    );
    let mut tar = tar::Builder::new(gz);
    for (name, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, text.as_bytes()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

fn batch(dir: &Path, out: &Path, more: &[&str]) -> Process {
    let mut command = Process::new(env!("CARGO_BIN_EXE_xtask"));
    command
        .arg("batch")
        .arg(dir)
        .arg("--out")
        .arg(out)
        .args(["--exercises", "02_lock", "--jobs", "2"])
        .args(more)
        .current_dir(root())
        .env("NO_COLOR", "1");
    command
}

/// The class, graded once, uninterrupted.
fn class() -> &'static Class {
    static CLASS: OnceLock<Class> = OnceLock::new();
    CLASS.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("locksmith-class-")
            .tempdir()
            .unwrap();
        let class = dir.path().join("class");
        let outside = dir.path().join("escaped");
        let lib = "02_lock/src/lib.rs";
        // A workspace copy; the same code zipped in a wrapping folder; a broken one as a
        // tar.gz of exercise folders.
        write(&class.join("alice/exercises").join(lib), &solution());
        zip(
            &class.join("carol.zip"),
            &[(&format!("carol-main/exercises/{lib}"), &solution())],
        );
        tar_gz(
            &class.join("bob.tar.gz"),
            &[(lib, &fixture("broken", "release_unlocked_ok"))],
        );
        // Nothing handed in; a thread bomb; an archive that climbs out; a rules violation;
        // a file that is not an archive.
        std::fs::create_dir_all(class.join("dave")).unwrap();
        write(
            &class.join("erin").join(lib),
            &fixture("hostile", "thread_bomb"),
        );
        zip(
            &class.join("frank.zip"),
            &[(&format!("../escaped/{lib}"), &solution())],
        );
        write(
            &class.join("gina").join(lib),
            &fixture("broken", "std_mutex"),
        );
        // A Gradescope export's folder of one submission, a symbolic link to elsewhere.
        write(&class.join("submission_metadata.yml"), "---\n");
        std::os::unix::fs::symlink(root().join("solutions"), class.join("harry")).unwrap();
        write(&class.join("notes.txt"), "not a submission\n");

        let whole = tempfile::tempdir().unwrap();
        let _turn = ONE_BATCH.lock().unwrap_or_else(|e| e.into_inner());
        let output = batch(&class, whole.path(), &[]).output().unwrap();
        Class {
            dir,
            outside,
            whole,
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr),
        }
    })
}

fn class_dir() -> PathBuf {
    class().dir.path().join("class")
}

fn card(out: &Path, name: &str) -> Scorecard {
    let path = out.join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    toml::from_str(&text).unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `checks.csv` without the hostile submission's messages and statuses: a thread bomb fails
/// every check, but where it first runs out of threads depends on the machine's moment.
fn checks_csv(out: &Path) -> String {
    read(&out.join("checks.csv"))
        .lines()
        .map(|line| {
            if line.starts_with(&format!("{HOSTILE},")) {
                let cells: Vec<&str> = line.split(',').collect();
                format!("{} (score {})", cells[..4].join(","), cells[5])
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_same_as_whole(out: &Path) {
    let whole = class().whole.path();
    for file in ["summary.toml", "summary.csv"] {
        assert_eq!(
            read(&out.join(file)),
            read(&whole.join(file)),
            "{file} differs from the uninterrupted run's"
        );
    }
    assert_eq!(checks_csv(out), checks_csv(whole));
    // The instructor's page covers everyone too (its messages vary with the thread bomb's).
    let page = read(&out.join("report.html"));
    for name in NAMES {
        assert!(page.contains(&format!("data-name=\"{name}\"")), "{name}");
    }
}

#[test]
fn a_mixed_class_grades_end_to_end() {
    let class = class();
    let out = class.whole.path();
    assert_eq!(class.code, 1, "points were lost: {}", class.stdout);

    let summary = read(&out.join("summary.csv"));
    let rows: Vec<&str> = summary.lines().collect();
    assert_eq!(rows[0], "name,total,02_lock");
    let names: Vec<&str> = rows[1..]
        .iter()
        .map(|r| r.split(',').next().unwrap())
        .collect();
    assert_eq!(names, NAMES, "everyone is listed, in name order");

    for name in CORRECT {
        let card = card(out, name);
        assert_eq!(card.score, 100.0, "{name}: {card:#?}");
        assert_eq!(card.submission, *name);
    }
    let bob = card(out, BROKEN);
    assert!(bob.score > 0.0 && bob.score < 100.0, "{bob:#?}");
    let failed: Vec<&str> = bob.exercises[0]
        .checks
        .iter()
        .filter(|c| c.score < c.max_score)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(failed, ["timeouts", "release_unlocked_is_an_error"]);

    for (name, status, why) in [
        ("dave", "not_found", "no source file"),
        ("erin", "rules_violation", "std::thread"),
        ("frank", "invalid_submission", ".."),
        ("gina", "rules_violation", "std::sync"),
        ("harry", "invalid_submission", "symbolic link"),
        ("notes.txt", "invalid_submission", "neither a folder"),
    ] {
        let card = card(out, name);
        let exercise = &card.exercises[0];
        assert_eq!(card.score, 0.0, "{name}");
        assert_eq!(exercise.status.as_str(), status, "{name}: {exercise:#?}");
        assert!(
            exercise.message.contains(why),
            "{name}: {}",
            exercise.message
        );
    }
    // The thread bomb ran (and failed) beside the others without costing them anything.
    let erin = card(out, HOSTILE);
    assert!(erin.exercises[0]
        .checks
        .iter()
        .all(|c| c.score == 0.0 && c.status.as_str() != "error"));
    assert!(!class.outside.exists(), "an archive entry landed outside");

    // Identical code is one result, shared.
    let sums = read(&out.join("summary.toml"));
    let summary: toml::Value = toml::from_str(&sums).unwrap();
    let digest = |name: &str| {
        summary["submission"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"].as_str() == Some(name))
            .map(|s| s["sources_sha256"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(digest("alice"), digest("carol"));
    assert_ne!(digest("alice"), digest("bob"));

    let checks = read(&out.join("checks.csv"));
    assert!(checks
        .starts_with("submission,exercise,check,category,status,score,max_score,seed,message\n"));
    let per_student = checks.lines().filter(|l| l.starts_with("bob,")).count();
    let of_02_lock = read(&root().join("grader/checks/02_lock.toml"))
        .lines()
        .filter(|l| l.trim() == "[[check]]")
        .count();
    assert_eq!(per_student, of_02_lock, "a row per check: {checks}");
}

#[test]
fn every_mark_equals_grading_that_submission_alone() {
    let class = class();
    let alone = scratch();
    for (name, text) in [
        (BROKEN, fixture("broken", "release_unlocked_ok")),
        (RULES, fixture("broken", "std_mutex")),
        (CORRECT[0], solution()),
    ] {
        let submission = alone.path().join(name);
        write(&submission.join("02_lock/src/lib.rs"), &text);
        let graded = grade(
            &["02_lock", "--submission", submission.to_str().unwrap()],
            alone.path(),
        );
        let batch = card(class.whole.path(), name);
        let verdicts = |e: &grader::scorecard::ExerciseCard| {
            e.checks
                .iter()
                .map(|c| (c.name.clone(), c.status, c.score))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            verdicts(graded.exercise("02_lock")),
            verdicts(&batch.exercises[0]),
            "{name}"
        );
        assert_eq!(graded.exercise("02_lock").score, batch.score, "{name}");
    }
}

#[test]
fn killed_then_resumed_gives_the_uninterrupted_summary() {
    class(); // The uninterrupted run to compare with comes first.
    let out = scratch();
    let _turn = ONE_BATCH.lock().unwrap_or_else(|e| e.into_inner());
    let mut child = batch(&class_dir(), out.path(), &[])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed (SIGKILL: no chance to tidy up) as soon as one submission is saved.
    let deadline = Instant::now() + Duration::from_secs(300);
    let saved = || {
        NAMES
            .iter()
            .filter(|n| out.path().join(format!("{n}.toml")).exists())
            .count()
    };
    while saved() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = saved();
    assert!(
        before > 0 && before < NAMES.len(),
        "interrupted midway: {before}"
    );
    assert!(!out.path().join("summary.toml").exists());

    let output = batch(&class_dir(), out.path(), &["--resume"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("{before} kept from before")),
        "{stdout}"
    );
    assert_same_as_whole(out.path());

    // A second resume grades nothing (and writes the Gradescope results of what it keeps),
    // and a changed source is graded again.
    let again = batch(
        &class_dir(),
        out.path(),
        &["--resume", "--format", "gradescope"],
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.contains("0 graded now"), "{stdout}");
    for name in NAMES {
        let results: serde_json::Value =
            serde_json::from_str(&read(&out.path().join(format!("{name}.json")))).unwrap();
        assert_eq!(results["score"], card(out.path(), name).score, "{name}");
        assert!(!results["tests"].as_array().unwrap().is_empty(), "{name}");
    }
    write(&class_dir().join("dave/02_lock/src/lib.rs"), &solution());
    let changed = batch(&class_dir(), out.path(), &["--resume"])
        .output()
        .unwrap();
    std::fs::remove_dir_all(class_dir().join("dave/02_lock")).unwrap();
    let stdout = String::from_utf8_lossy(&changed.stdout);
    assert!(stdout.contains("1 graded now"), "{stdout}");
    assert_eq!(card(out.path(), "dave").score, 100.0);
}

/// GNU parallel, which `.ci/run` installs; without it (and outside CI) the shard test says so.
fn parallel() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("parallel"))
            .find(|p| p.is_file())
    });
    if found.is_none() && std::env::var_os("LOCKSMITH_REQUIRE_PARALLEL").is_some() {
        panic!("GNU parallel is not installed: `apt-get install parallel`");
    }
    found
}

/// The outputs of three shards, each graded by its own process under GNU parallel.
fn shards() -> Option<&'static (tempfile::TempDir, Vec<PathBuf>)> {
    static SHARDS: OnceLock<Option<(tempfile::TempDir, Vec<PathBuf>)>> = OnceLock::new();
    SHARDS
        .get_or_init(|| {
            let parallel = parallel()?;
            let class = class_dir();
            let dir = tempfile::tempdir().unwrap();
            let _turn = ONE_BATCH.lock().unwrap_or_else(|e| e.into_inner());
            let output = Process::new(parallel)
                .args(["--will-cite", "--halt", "never", "--jobs", "3"])
                .arg(env!("CARGO_BIN_EXE_xtask"))
                .arg("batch")
                .arg(&class)
                .arg("--out")
                .arg(dir.path().join("shard-{}"))
                .args(["--shard", "{}/3", "--exercises", "02_lock", "--jobs", "1"])
                .args([":::", "0", "1", "2"])
                .current_dir(root())
                .output()
                .unwrap();
            // Each shard lost points somewhere (exit 1); parallel sums the failures.
            assert!(
                output.status.code().is_some_and(|c| c <= 3),
                "{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            let outs = (0..3)
                .map(|k| dir.path().join(format!("shard-{k}")))
                .collect();
            Some((dir, outs))
        })
        .as_ref()
}

#[test]
fn shards_graded_apart_and_merged_give_the_single_runs_summary() {
    let Some((_, outs)) = shards() else {
        eprintln!("skipped: GNU parallel is not installed (`bash .ci/run` installs it)");
        return;
    };
    // Every N-th in name order, from the K-th.
    let shard_names = |k: usize| {
        let summary: toml::Value = toml::from_str(&read(&outs[k].join("summary.toml"))).unwrap();
        summary["submission"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(shard_names(0), ["alice", "dave", "gina"]);
    assert_eq!(shard_names(1), ["bob", "erin", "harry"]);
    assert_eq!(shard_names(2), ["carol", "frank", "notes.txt"]);

    let merged = scratch();
    xtask()
        .arg("merge")
        .args(outs)
        .arg("--out")
        .arg(merged.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("9 submissions"));
    assert_same_as_whole(merged.path());
}

/// A copy of a shard's output, to tamper with.
fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn a_merge_that_would_mix_results_is_refused() {
    let Some((_, outs)) = shards() else {
        eprintln!("skipped: GNU parallel is not installed (`bash .ci/run` installs it)");
        return;
    };
    let scratch = scratch();
    let merge = |inputs: &[&Path], partial: bool| {
        let mut command = xtask();
        command
            .arg("merge")
            .args(inputs)
            .arg("--out")
            .arg(scratch.path().join("merged"));
        if partial {
            command.arg("--partial");
        }
        command.assert()
    };

    // A shard missing.
    merge(&[&outs[0], &outs[1]], false)
        .code(2)
        .stderr(predicate::str::contains("shard 2/3 missing"));
    merge(&[&outs[0], &outs[1]], true).code(1);

    // Other checks.
    let other = scratch.path().join("other-checks");
    copy(&outs[2], &other);
    let summary = read(&other.join("summary.toml"));
    let sha = summary
        .lines()
        .find(|l| l.starts_with("checks_sha256"))
        .unwrap()
        .to_string();
    write(
        &other.join("summary.toml"),
        &summary.replace(&sha, "checks_sha256 = \"0123456789abcdef\""),
    );
    merge(&[&outs[0], &outs[1], &other], false)
        .code(2)
        .stderr(predicate::str::contains("checks"));

    // A submission graded twice, differently.
    let regraded = scratch.path().join("regraded");
    copy(&outs[2], &regraded);
    let carol =
        read(&regraded.join("carol.toml")).replacen("status = \"pass\"", "status = \"fail\"", 1);
    write(&regraded.join("carol.toml"), &carol);
    merge(&[&outs[0], &outs[1], &outs[2], &regraded], false)
        .code(2)
        .stderr(predicate::str::contains("carol was graded in both"));
    // The same results twice are one.
    merge(&[&outs[0], &outs[1], &outs[2], &outs[2]], false).code(1);
}

#[test]
fn bad_class_folders_are_clear_errors() {
    let scratch = scratch();
    xtask()
        .arg("batch")
        .arg(scratch.path().join("nowhere"))
        .arg("--out")
        .arg(scratch.path().join("out"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a folder of submissions"));
    std::fs::create_dir_all(scratch.path().join("class")).unwrap();
    xtask()
        .arg("batch")
        .arg(scratch.path().join("class"))
        .arg("--out")
        .arg(scratch.path().join("class/out"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("inside the class folder"));
    xtask()
        .args(["batch", "x", "--out", "y", "--shard", "3/3"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("K/N"));
    xtask()
        .args(["merge", "--out"])
        .arg(scratch.path().join("m"))
        .arg(scratch.path().join("not-an-output"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("summary.toml"));
}
