//! The grader against implementations it must judge right, one test case per fixture: broken
//! ones lose the points of the checks aimed at their bug, other correct styles get full marks,
//! hostile ones never score and leave the grader, the workspace and the machine unharmed.
//!
//! The broken and correct fixtures are built in a few rounds and graded together (several checks
//! at once, each round while the next compiles), while the hostile ones are built first and
//! graded one at a time through the command line. `cargo test -p xtask --test fixtures -- 02_lock` runs one
//! exercise's fixtures; `-- broken::06_condition::notify_zero_wakes_one --exact` one fixture.
//!
//! A broken fixture says which checks must catch its bug: `//! expect-fail: a, b` (those checks
//! must lose their points; only they are run), or `//! only-fail: a, b` (those, and no other:
//! every check is run and the others must pass, so one bug costs its own points).
//! `//! explored: a` says that check's explored scenario must be what catches it: its failure
//! carries a schedule, and `--schedule` replays it to the same failure.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::*;
use grader::outcome::{CheckOutcome, CheckStatus, ExerciseOutcome, ExerciseStatus};
use grader::{Catalog, GradeOptions, GradeRun, Source};
use libtest_mimic::{Arguments, Failed, Trial};

/// Check processes at once while grading the fixtures: three times the two cores CI has,
/// since many of the broken fixtures' checks sleep until a deadlock's time limit (exclusive
/// checks, the CPU and timing measurements, still run alone).
const SCHEDULE: grader::grade::Schedule = grader::grade::Schedule {
    jobs: 6,
    wave: None,
};

/// The fixture whose test checks that a rules violation zeroes the exercise but still shows
/// what works: a 02_lock fixture that breaks only the rules, graded with every check.
const RULES_ONLY: &str = "rules_violation_zeroes_the_exercise_but_shows_what_works";

fn main() {
    let args = Arguments::from_args();
    let mut all: Vec<(&'static str, Fixture)> = Vec::new();
    for kind in ["broken", "correct", "hostile"] {
        let found = fixtures(kind);
        assert!(!found.is_empty(), "no {kind} fixtures found");
        all.extend(found.into_iter().map(|f| (kind, f)));
    }
    let rules_only = all
        .iter()
        .position(|(kind, f)| {
            *kind == "broken"
                && f.exercise == "02_lock"
                && f.list("expect-fail") == ["allowed_building_blocks"]
        })
        .expect("a 02_lock fixture that only breaks the rules");

    let name = |kind: &str, f: &Fixture| format!("{kind}::{}::{}", f.exercise, f.name);
    let mut selected: Vec<Case> = all
        .iter()
        .filter(|(kind, f)| runs(&args, &name(kind, f)))
        .map(|(kind, f)| Case::new(kind, f, false))
        .collect();
    if runs(&args, RULES_ONLY) {
        selected.push(Case::new("broken", &all[rules_only].1, true));
    }
    let class = Class::new(selected);

    // The rules case first: the test thread that takes it grades the class, while the other
    // takes the hostile cases, which need only the build.
    let class_for_rules = class.clone();
    let mut trials = vec![Trial::test(RULES_ONLY, move || {
        class_for_rules.judge(RULES_ONLY, "rules")
    })];
    all.sort_by_key(|(kind, _)| *kind != "hostile");
    trials.extend(all.into_iter().map(|(kind, fixture)| {
        let name = name(kind, &fixture);
        let class = class.clone();
        Trial::test(name.clone(), move || class.judge(&name, kind))
    }));
    libtest_mimic::run(&args, trials).exit();
}

/// Whether libtest-mimic will run the test `name` (its filter and `--skip` rules), so that only
/// those fixtures are built and graded.
fn runs(args: &Arguments, name: &str) -> bool {
    if args.list {
        return false;
    }
    let matches = |filter: &str| {
        if args.exact {
            name == filter
        } else {
            name.contains(filter)
        }
    };
    args.filter.as_deref().is_none_or(matches) && !args.skip.iter().any(|s| matches(s))
}

/// One fixture to grade: its submission folder and the grade's options.
struct Case {
    name: String,
    kind: &'static str,
    exercise: String,
    fixture_path: PathBuf,
    bug: String,
    expect_fail: Vec<String>,
    /// `only-fail`: every other check must pass.
    only: bool,
    /// `explored`: caught by these checks' explored scenarios, replayably.
    explored: Vec<String>,
    grade_args: Vec<String>,
    options: GradeOptions,
    _dir: tempfile::TempDir,
}

impl Case {
    fn new(kind: &'static str, fixture: &Fixture, rules_only: bool) -> Case {
        let dir = scratch();
        let sub = dir.path().join("sub");
        submission(&[fixture], &sub);
        let only_fail = fixture.list("only-fail");
        let only = !only_fail.is_empty() && !rules_only;
        let mut expect_fail = fixture.list("expect-fail");
        expect_fail.extend(only_fail);
        let checks = match kind {
            // Only the checks each bug must trip: the others are the correct fixtures' business
            // (unless the fixture says that the others must pass).
            "broken" if !rules_only && !only => expect_fail.clone(),
            _ => Vec::new(),
        };
        let grade_args: Vec<String> = fixture
            .header("grade-args")
            .unwrap_or_default()
            .split_whitespace()
            .map(String::from)
            .collect();
        Case {
            name: if rules_only {
                RULES_ONLY.to_string()
            } else {
                format!("{kind}::{}::{}", fixture.exercise, fixture.name)
            },
            kind,
            exercise: fixture.exercise.clone(),
            fixture_path: fixture.path.clone(),
            bug: fixture.header("bug").unwrap_or_default(),
            expect_fail,
            only,
            explored: fixture.list("explored"),
            grade_args,
            options: GradeOptions {
                source: Source::submission(&sub).expect("the submission folder"),
                exercises: vec![fixture.exercise.clone()],
                checks,
                seed: None,
                trials: None,
                jobs: 2,
                seeds_from_source: false,
                schedule: None,
            },
            _dir: dir,
        }
    }
}

/// The selected fixtures, built once and, but for the hostile ones, graded once (together), each
/// on first use.
///
/// The graded ones are built in rounds (see [`rounds`]), and each round's checks run while the
/// next round compiles: most checks sleep (until a wake-up, or a deadlock's time limit), which
/// leaves the cores to the compiler.
#[derive(Clone)]
struct Class {
    cases: std::sync::Arc<Vec<Case>>,
    catalog: std::sync::Arc<OnceLock<Result<Catalog, String>>>,
    built: std::sync::Arc<OnceLock<Result<(), String>>>,
    graded: std::sync::Arc<OnceLock<Result<HashMap<String, GradeRun>, String>>>,
}

impl Class {
    fn new(cases: Vec<Case>) -> Class {
        Class {
            cases: std::sync::Arc::new(cases),
            catalog: std::sync::Arc::new(OnceLock::new()),
            built: std::sync::Arc::new(OnceLock::new()),
            graded: std::sync::Arc::new(OnceLock::new()),
        }
    }

    fn catalog(&self) -> Result<&Catalog, Failed> {
        let catalog = self
            .catalog
            .get_or_init(|| Catalog::load(&root()).map_err(|e| format!("{e:#}")));
        catalog.as_ref().map_err(|e| Failed::from(e.as_str()))
    }

    /// Builds the hostile fixtures, which are graded one at a time through the command line.
    fn built(&self) -> Result<&Catalog, Failed> {
        let catalog = self.catalog()?;
        let built = self.built.get_or_init(|| {
            let hostile: Vec<GradeOptions> = self
                .cases
                .iter()
                .filter(|c| c.kind == "hostile")
                .map(|c| c.options.clone())
                .collect();
            eprintln!("building {} hostile fixtures…", hostile.len());
            grader::grade::prebuild(catalog, &hostile, &|_| {}).map_err(|e| format!("{e:#}"))
        });
        built.as_ref().map_err(|e| Failed::from(e.as_str()))?;
        Ok(catalog)
    }

    fn graded(&self) -> Result<&HashMap<String, GradeRun>, Failed> {
        let catalog = self.catalog()?;
        let graded = self.graded.get_or_init(|| {
            let rounds = rounds(catalog, &self.cases);
            eprintln!(
                "building and grading the fixtures in {} rounds…",
                rounds.len()
            );
            let requests: Vec<Vec<GradeOptions>> = rounds
                .iter()
                .map(|round| {
                    round
                        .iter()
                        .map(|part| GradeOptions {
                            checks: part.checks.clone(),
                            ..part.case.options.clone()
                        })
                        .collect()
                })
                .collect();
            let started = std::time::Instant::now();
            let (built_tx, built_rx) = std::sync::mpsc::channel();
            let (running_tx, running_rx) = std::sync::mpsc::channel();
            let graded = std::thread::scope(|scope| {
                let requests = &requests;
                scope.spawn(move || build_rounds(catalog, requests, built_tx, running_rx));
                grade_rounds(catalog, requests, built_rx, running_tx)
            })?;
            let parts = rounds.iter().flatten().zip(graded);
            // A case graded in parts: each part's checks overwrite the first part's skips.
            let mut graded: HashMap<String, GradeRun> = HashMap::new();
            for (part, run) in parts {
                let Some(whole) = graded.get_mut(&part.case.name) else {
                    graded.insert(part.case.name.clone(), run);
                    continue;
                };
                let (into, from) = (&mut whole.exercises[0], &run.exercises[0]);
                into.run_seconds += from.run_seconds;
                for check in &from.checks {
                    if part.checks.contains(&check.name) {
                        let slot = into.checks.iter_mut().find(|c| c.name == check.name);
                        *slot.expect("the same exercise's checks") = check.clone();
                    }
                }
            }
            slowest(&graded, started.elapsed());
            Ok(graded)
        });
        graded.as_ref().map_err(|e| Failed::from(e.as_str()))
    }

    fn judge(&self, name: &str, kind: &str) -> Result<(), Failed> {
        let case = self
            .cases
            .iter()
            .find(|c| c.name == name)
            .expect("a selected case");
        if kind == "hostile" {
            // Only the build is shared: each is graded alone, through the command line.
            self.built()?;
            return hostile(case);
        }
        let run = &self.graded()?[name];
        match kind {
            "broken" => {
                broken(case, exercise(run, &case.exercise))?;
                replays(self.catalog()?, case, exercise(run, &case.exercise))
            }
            "correct" => correct(exercise(run, &case.exercise)),
            _ => rules_only(exercise(run, &case.exercise)),
        }
    }
}

/// A case's grade, or a part of it (some of the checks it must fail; none: the case's own).
struct Part<'c> {
    case: &'c Case,
    checks: Vec<String>,
}

/// The graded cases in rounds, each graded while the next compiles. First the cases graded
/// with every check, the longest to grade: correct code sleeps when it waits, whatever else
/// runs. Then the broken fixtures, graded with the checks aimed at their bugs, in two rounds
/// (those with the most checks first, as each failing check may sleep to a deadlock's limit).
/// Last, once nothing compiles, the checks that measure the CPU a waiter uses: a spinning
/// waiter gets less of it on a busy machine, and could pass.
fn rounds<'c>(catalog: &Catalog, cases: &'c [Case]) -> Vec<Vec<Part<'c>>> {
    let part = |case: &'c Case, checks: Vec<String>| Part { case, checks };
    let (mut every, mut broken, mut measured) = (Vec::new(), Vec::new(), Vec::new());
    for case in cases.iter().filter(|c| c.kind != "hostile") {
        let exercise = catalog.exercise(&case.exercise).expect("a known exercise");
        let measures = |name: &String| {
            exercise
                .checks
                .iter()
                .any(|spec| spec.exclusive && &spec.name == name)
        };
        if case.options.checks.is_empty() {
            // Every check: an `only-fail` bug that a CPU measurement must catch waits for quiet.
            if case.kind == "broken" && case.expect_fail.iter().any(measures) {
                measured.push(part(case, Vec::new()));
            } else {
                every.push(part(case, Vec::new()));
            }
            continue;
        }
        let (quiet, loud): (Vec<String>, Vec<String>) =
            case.options.checks.iter().cloned().partition(measures);
        if !loud.is_empty() {
            broken.push(part(case, loud));
        }
        if !quiet.is_empty() {
            measured.push(part(case, quiet));
        }
    }
    broken.sort_by_key(|part| std::cmp::Reverse(part.checks.len()));
    let later = broken.split_off(broken.len() / 2);
    let mut rounds = vec![every, broken, later, measured];
    rounds.retain(|round| !round.is_empty());
    rounds
}

/// Builds each round in turn; the next build waits until this round's grade has found its code
/// built (under the stage's lock) and runs its checks.
fn build_rounds(
    catalog: &Catalog,
    rounds: &[Vec<GradeOptions>],
    built: std::sync::mpsc::Sender<Result<(), String>>,
    running: std::sync::mpsc::Receiver<()>,
) {
    for requests in rounds {
        let started = std::time::Instant::now();
        let result =
            grader::grade::prebuild(catalog, requests, &|_| {}).map_err(|e| format!("{e:#}"));
        eprintln!(
            "  built {} in {:.0} s",
            requests.len(),
            started.elapsed().as_secs_f64()
        );
        let failed = result.is_err();
        if built.send(result).is_err() || failed || running.recv().is_err() {
            return;
        }
    }
}

/// Grades each round as its build ends (see [`Class`]), telling the builder when the round's
/// checks start.
fn grade_rounds(
    catalog: &Catalog,
    rounds: &[Vec<GradeOptions>],
    built: std::sync::mpsc::Receiver<Result<(), String>>,
    running: std::sync::mpsc::Sender<()>,
) -> Result<Vec<GradeRun>, String> {
    let mut graded = Vec::new();
    for requests in rounds {
        built
            .recv()
            .map_err(|_| "the fixtures' build stopped".to_string())??;
        let started = std::time::Instant::now();
        let runs = grader::grade_many(catalog, requests, SCHEDULE, &|event| {
            if let grader::events::Event::Running { .. } = event {
                let _ = running.send(());
            }
        })
        .map_err(|e| format!("{e:#}"))?;
        eprintln!(
            "  graded {} in {:.0} s",
            requests.len(),
            started.elapsed().as_secs_f64()
        );
        graded.extend(runs);
    }
    Ok(graded)
}

/// Where the grading time went: the slowest fixtures, by time spent in check processes.
fn slowest(graded: &HashMap<String, GradeRun>, elapsed: std::time::Duration) {
    let mut times: Vec<(f64, &str)> = graded
        .iter()
        .map(|(name, run)| {
            let seconds = run.exercises.iter().map(|e| e.run_seconds).sum::<f64>();
            (seconds, name.as_str())
        })
        .collect();
    let total: f64 = times.iter().map(|(s, _)| s).sum();
    times.sort_by(|a, b| b.0.total_cmp(&a.0));
    eprintln!(
        "{} fixtures built and graded in {:.0} s ({total:.0} s in check processes); slowest:",
        graded.len(),
        elapsed.as_secs_f64()
    );
    for (seconds, name) in times.iter().take(8) {
        eprintln!("  {seconds:6.1} s  {name}");
    }
}

fn exercise<'a>(run: &'a GradeRun, id: &str) -> &'a ExerciseOutcome {
    run.exercises
        .iter()
        .find(|e| e.id == id)
        .expect("the exercise was graded")
}

fn broken(case: &Case, card: &ExerciseOutcome) -> Result<(), Failed> {
    if case.expect_fail.is_empty() {
        return Err(format!(
            "{}: a broken fixture names the checks that must catch it",
            case.fixture_path.display()
        )
        .into());
    }
    let mut misses = Vec::new();
    for check in &case.expect_fail {
        match card.checks.iter().find(|c| &c.name == check) {
            None => misses.push(format!("no check named {check}")),
            Some(c) if c.status == CheckStatus::Pass => misses.push(format!(
                "`{check}` passed (seed {}), but must catch: {}",
                c.seed, case.bug
            )),
            Some(c) if c.status == CheckStatus::Error => {
                misses.push(format!("`{check}`: grader error: {}", c.message))
            }
            Some(_) => {}
        }
    }
    if case.only {
        for c in &card.checks {
            if !case.expect_fail.contains(&c.name) && c.status != CheckStatus::Pass {
                misses.push(format!(
                    "`{}` is {} (seed {}), but only {} may lose points for this bug: {}",
                    c.name,
                    c.status.as_str(),
                    c.seed,
                    case.expect_fail.join(", "),
                    c.message
                ));
            }
        }
    }
    if card.full_marks() {
        misses.push("full marks".into());
    }
    if misses.is_empty() {
        Ok(())
    } else {
        Err(misses.join("\n").into())
    }
}

/// Each `explored` check failed under a schedule of its scenario, and replaying that schedule
/// (`--schedule`) fails it again, alike (blocks' own tests replay one schedule over and over).
/// One replay at a time: a grade in this process reaps the check processes it does not know.
fn replays(catalog: &Catalog, case: &Case, card: &ExerciseOutcome) -> Result<(), Failed> {
    static ONE_REPLAY_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    for name in &case.explored {
        if !case.expect_fail.contains(name) {
            return Err(format!("explored `{name}` is not among the checks that must fail").into());
        }
        let check = card
            .checks
            .iter()
            .find(|c| &c.name == name)
            .ok_or(format!("no check named {name}"))?;
        let Some(schedule) = &check.schedule else {
            return Err(format!(
                "`{name}` is {} without a schedule: its explored scenario missed the bug ({})",
                check.status.as_str(),
                check.message
            )
            .into());
        };
        let options = GradeOptions {
            checks: vec![name.clone()],
            schedule: Some(schedule.clone()),
            ..case.options.clone()
        };
        let run = {
            let _turn = ONE_REPLAY_AT_A_TIME
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            grader::grade(catalog, &options, &|_| {}).map_err(|e| format!("{e:#}"))?
        };
        let again = exercise(&run, &case.exercise)
            .checks
            .iter()
            .find(|c| &c.name == name)
            .expect("the replayed check");
        if (again.status, &again.message) != (check.status, &check.message) {
            return Err(format!(
                "the replay of `{name}` under schedule {schedule}: {} ({}), but the grade found \
                 {} ({})",
                again.status.as_str(),
                again.message,
                check.status.as_str(),
                check.message
            )
            .into());
        }
    }
    Ok(())
}

/// One line for each of `checks` that did not pass: its status, seed and message.
fn not_passed<'a>(checks: impl IntoIterator<Item = &'a CheckOutcome>) -> Vec<String> {
    checks
        .into_iter()
        .filter(|c| c.status != CheckStatus::Pass)
        .map(|c| {
            format!(
                "{} is {} (seed {}): {}",
                c.name,
                c.status.as_str(),
                c.seed,
                c.message
            )
        })
        .collect()
}

fn correct(card: &ExerciseOutcome) -> Result<(), Failed> {
    let wrongs = not_passed(&card.checks);
    if wrongs.is_empty() {
        Ok(())
    } else {
        Err(format!("correct code lost points:\n{}", wrongs.join("\n")).into())
    }
}

fn rules_only(card: &ExerciseOutcome) -> Result<(), Failed> {
    if card.status != ExerciseStatus::RulesViolation {
        return Err(format!("status {}: {}", card.status.as_str(), card.message).into());
    }
    if card.score != 0.0 {
        return Err(format!("scored {}", card.score).into());
    }
    if !card.message.contains("line ") {
        return Err(format!("the violation names its line: {}", card.message).into());
    }
    // Its code breaks only the rules, so every runtime check still runs and passes (scoring
    // nothing): the learner sees what works. Exploration, which such code could block, is off.
    let wrong = not_passed(card.checks.iter().filter(|c| c.category.is_runtime()));
    if !wrong.is_empty() {
        return Err(format!("the checks show what works:\n{}", wrong.join("\n")).into());
    }
    Ok(())
}

/// Files the hostile fixtures aim at, and a marker some of them try to leave outside.
fn protected() -> Vec<PathBuf> {
    vec![
        root().join("scorecard.toml"),
        root().join("grader/checks/02_lock.rs"),
        root().join("grader/checks/02_lock.toml"),
    ]
}

/// Where hostile fixtures try to leave a trace outside their sandbox.
const MARKERS: &[&str] = &[
    "/tmp/locksmith-hostile-was-here",
    "/var/tmp/locksmith-hostile-was-here",
];

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

fn hostile(case: &Case) -> Result<(), Failed> {
    let fingerprint = |p: &Path| std::fs::read(p).ok();
    let before: Vec<_> = protected().iter().map(|p| fingerprint(p)).collect();
    for marker in MARKERS {
        let _ = std::fs::remove_file(marker);
    }
    let Source::Submission(sub) = &case.options.source else {
        unreachable!("fixtures are submissions")
    };
    let dir = scratch();
    let mut args = vec![
        case.exercise.as_str(),
        "--submission",
        sub.to_str().unwrap(),
    ];
    args.extend(case.grade_args.iter().map(String::as_str));
    let graded = grade(&args, dir.path());

    let mut problems = Vec::new();
    if graded.code != 1 {
        problems.push(format!(
            "exit code {} (want 1)\n{}",
            graded.code, graded.stderr
        ));
    } else {
        let card = graded.exercise(&case.exercise);
        if card.score != 0.0 {
            problems.push(format!("scored {}", card.score));
        }
        // Code that breaks the rules still runs (contained), to show what works: its passes
        // score nothing. Any other hostile code must pass nothing.
        if card.status != ExerciseStatus::RulesViolation {
            for check in card.checks.iter().filter(|c| c.category.is_runtime()) {
                if check.status == CheckStatus::Pass {
                    problems.push(format!("{} passed", check.name));
                }
            }
        }
        let ran = card
            .checks
            .iter()
            .filter(|c| c.category.is_runtime() && c.status != CheckStatus::Skipped)
            .count();
        if ran == 0 {
            problems.push(format!("no runtime check ran ({})", card.status.as_str()));
        }
    }
    let left = leftover_processes();
    if !left.is_empty() {
        problems.push(format!("processes left behind: {left:?}"));
    }
    for marker in MARKERS {
        if Path::new(marker).exists() {
            problems.push(format!("{marker} was written by code under test"));
            let _ = std::fs::remove_file(marker);
        }
    }
    let after: Vec<_> = protected().iter().map(|p| fingerprint(p)).collect();
    for ((path, before), after) in protected().iter().zip(&before).zip(&after) {
        if before != after {
            problems.push(format!("{} was changed by code under test", path.display()));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n").into())
    }
}
