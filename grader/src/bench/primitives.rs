//! `cargo xtask bench ID`: the learner's primitives (or the reference solutions') timed against
//! `std::sync` and `parking_lot`, uncontended and by several threads.
//!
//! The path of a grade, shortened: the file is read once, the rules judge it (forbidden code is
//! refused, never run), the exercise's bench file (`grader/benchmarks/ID.rs`) is built against it
//! in the grader's workspace, optimised like the baselines and on the plain backend of `blocks`,
//! and the bench binary runs in the sandbox like a check binary. It reports samples; the
//! statistics (bootstrap intervals) and the table are made here, out of its reach.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use protocol::{BenchArgs, Case, Report, Verdict};

use super::stats::{self, Estimate};
use crate::catalog::Catalog;
use crate::grade::plan;
use crate::sandbox::{Ending, Limits, Sandbox};
use crate::source::{Found, Source};
use crate::stage::{self, Member, StageLock};

pub struct Options {
    pub source: Source,
    /// An exercise id (`02_lock`, `02` or `lock`).
    pub exercise: String,
    /// The measuring time of the whole exercise (the build comes on top).
    pub budget: Duration,
}

/// What a bench came to.
pub enum Outcome {
    /// The code was not timed: missing, forbidden by the rules, or not compiling.
    Refused(String),
    Timed(Table),
}

/// How one case fared.
#[derive(Debug, Clone)]
enum Timing {
    Measured(Vec<f64>),
    /// Why the case has no time.
    Failed(String),
}

/// Every case the bench binary reported, in order, and how its process ended.
pub struct Table {
    pub title: String,
    cases: Vec<(Case, Timing)>,
    /// Why the bench stopped before its end, if it did.
    stopped: Option<String>,
}

pub fn run(catalog: &Catalog, options: &Options, say: &dyn Fn(&str)) -> Result<Outcome> {
    let exercise = catalog.find(&options.exercise)?;
    let bench = catalog.bench_source(&exercise.id);
    if !bench.is_file() {
        bail!(
            "{}: no bench at {} (a grader bug)",
            exercise.id,
            bench.display()
        );
    }
    let (path, code) = match options.source.read(&catalog.root, &exercise.id) {
        Found::File { path, code } => (path, code),
        Found::Missing => {
            return Ok(Outcome::Refused(format!(
                "no source file: looked for {}",
                options.source.expected_path(&exercise.id)
            )))
        }
        Found::Invalid(why) => return Ok(Outcome::Refused(why)),
    };
    let shown = options.source.shown(&catalog.root, &path);
    // The rules first, as in a grade: forbidden code is refused, not run.
    if let Some(violation) = crate::grade::statics::rules(exercise, &code, &shown).violation {
        return Ok(Outcome::Refused(violation.replacen(
            "so it scores 0 (the other checks still ran, to show what works)",
            "so it is not benchmarked",
            1,
        )));
    }
    let key = match &options.source {
        Source::Exercises => "exercises".to_string(),
        Source::Solutions => "solutions".to_string(),
        _ => plan::content_key(exercise, &code),
    };

    let sandbox = Sandbox::new().context("creating the sandbox")?;
    let program = {
        // The copy for the sandbox is taken while the build's lock is held: another grader's
        // build may relink the binary as soon as it is released.
        let _lock = StageLock::take(catalog)?;
        let stage = stage::write_bench(
            catalog,
            &Member {
                exercise,
                key,
                code: &code,
                api: false,
            },
        )?;
        say(&format!("building {shown} and its bench, optimised…"));
        let build = crate::build::build_with_profile(&stage, stage::BENCH_PROFILE, &|_| {})?;
        if let Some(failure) = &build.cargo_failure {
            bail!("the grader's own build failed (not your code):\n{failure}");
        }
        let staged = &stage.exercises[0];
        if let Some((_, message)) = crate::grade::statics::compile_error(staged, &build, &shown) {
            return Ok(Outcome::Refused(
                message.replace("the hidden checks", "the bench"),
            ));
        }
        let exe = build
            .executables
            .get(&staged.check_package)
            .context("the bench binary was not built (grader bug)")?;
        sandbox
            .install(exe)
            .with_context(|| format!("copying {} into the sandbox", exe.display()))?
    };

    say(&format!(
        "timing {} against std and parking_lot for about {}s…",
        exercise.id,
        options.budget.as_secs()
    ));
    let limits = Limits {
        // Per case: the whole budget is far more than a case's share; a sample stuck in the
        // code under test is caught sooner, inside the bench process.
        trial_timeout: options.budget + Duration::from_secs(30),
        address_space_bytes: 4 << 30,
        // Up to 8 threads on every core for the whole budget, and some slack.
        cpu_seconds: 4 * options.budget.as_secs().max(1) + 60,
        output_bytes: 32 * 1024,
    };
    let args = BenchArgs {
        budget_ms: options.budget.as_millis() as u64,
    };
    let run = sandbox
        .run_bench(&program, &args, limits, 0)
        .map_err(|e| anyhow!("{} (the grader's failure, not your code's)", e.0))?;

    let mut cases: Vec<(Case, Timing)> = Vec::new();
    let mut running: Option<Case> = None;
    let mut done = false;
    for report in run.reports {
        match report {
            Report::Measuring(case) => running = Some(case),
            Report::Measured { case, nanos } if !nanos.is_empty() => {
                running = None;
                cases.push((case, Timing::Measured(nanos)));
            }
            Report::Measured { case, .. } => {
                running = None;
                cases.push((case, Timing::Failed("no samples".into())));
            }
            Report::Unmeasured {
                case,
                verdict,
                message,
            } => {
                running = None;
                let why = match verdict {
                    Verdict::NotImplemented => "not implemented yet (a todo!() was reached)".into(),
                    Verdict::Panic => format!("the code under test panicked: {message}"),
                    Verdict::Fail | Verdict::Pass => message,
                };
                cases.push((case, Timing::Failed(why)));
            }
            Report::Done => done = true,
            Report::Error(message) => bail!("the bench binary refused to run: {message}"),
            Report::Start { .. } | Report::Trial { .. } | Report::Schedule(_) => {}
        }
    }
    let stopped = (!done).then(|| {
        let how = match run.ending {
            Ending::TimedOut => "did not finish in time (deadlock or lost wake-up?)".to_string(),
            Ending::Signalled(signal) => format!(
                "was killed by {}",
                crate::grade::verdict::signal_name(signal)
            ),
            Ending::Exited(code) => format!("ended with exit code {code}"),
        };
        let tail = run
            .stderr
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .map(|l| format!(": {l}"))
            .unwrap_or_default();
        let why = format!("the bench process {how}{tail}");
        match running {
            Some(case) => {
                cases.push((case, Timing::Failed(why)));
                "the bench stopped there: the cases after it were not run".to_string()
            }
            None => format!("{why}; the cases after it were not run"),
        }
    });
    let mut title = format!("{} ({shown})", exercise.id);
    if run.forged_lines > 0 {
        let _ = write!(
            title,
            " [{} forged report line(s) ignored]",
            run.forged_lines
        );
    }
    Ok(Outcome::Timed(Table {
        title,
        cases,
        stopped,
    }))
}

/// The column of a subject: `ours`, `std` or `parking_lot`, and what it is.
fn column(subject: &str) -> (&str, &str) {
    subject.split_once(' ').unwrap_or((subject, ""))
}

impl Table {
    /// Whether every case of the code under test was timed, and the bench ran to its end.
    pub fn complete(&self) -> bool {
        self.stopped.is_none()
            && self
                .cases
                .iter()
                .all(|(_, timing)| matches!(timing, Timing::Measured(_)))
    }

    /// The table's groups of rows: a row per case of the code under test, with the baselines'
    /// cases of the same operation and threads beside it.
    fn groups(&self) -> Vec<Group> {
        let mut groups: Vec<Group> = Vec::new();
        for (case, timing) in &self.cases {
            let group = match groups.iter_mut().position(|g| g.name == case.group) {
                Some(i) => &mut groups[i],
                None => {
                    groups.push(Group {
                        name: case.group.clone(),
                        baselines: Vec::new(),
                        rows: Vec::new(),
                    });
                    groups.last_mut().expect("just pushed")
                }
            };
            let (kind, what) = column(&case.subject);
            if kind != "ours" {
                if !group.baselines.iter().any(|(k, _)| k == kind) {
                    group.baselines.push((kind.to_string(), what.to_string()));
                }
                continue;
            }
            let baseline = |name: &str| {
                self.cases
                    .iter()
                    .find(|(c, _)| {
                        c.group == case.group
                            && c.threads == case.threads
                            && column(&c.subject).0 == name
                    })
                    .map(|(_, t)| t)
            };
            group.rows.push(Row {
                what: what.to_string(),
                threads: case.threads,
                ours: Some(timing.clone()),
                std: baseline("std").cloned(),
                parking_lot: baseline("parking_lot").cloned(),
            });
        }
        groups
    }
}

struct Group {
    name: String,
    /// (column, what it is)
    baselines: Vec<(String, String)>,
    rows: Vec<Row>,
}

struct Row {
    what: String,
    threads: u32,
    ours: Option<Timing>,
    std: Option<Timing>,
    parking_lot: Option<Timing>,
}

/// A number with three significant digits or so.
fn short(value: f64) -> String {
    let digits = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.digits$}")
}

fn with_interval(e: Estimate, show: impl Fn(f64) -> String) -> String {
    format!("{} [{}, {}]", show(e.point), show(e.low), show(e.high))
}

/// A time with its interval, in the unit of its mean: `18.3 [18.1, 18.6] ns`.
fn cell(timing: &Option<Timing>) -> String {
    match timing {
        Some(Timing::Measured(nanos)) => {
            let e = stats::mean(nanos);
            let (scale, unit) = match e.point {
                p if p >= 1e6 => (1e6, "ms"),
                p if p >= 1e3 => (1e3, "µs"),
                _ => (1.0, "ns"),
            };
            format!("{} {unit}", with_interval(e, |ns| short(ns / scale)))
        }
        Some(Timing::Failed(_)) => "not timed".into(),
        None => "—".into(),
    }
}

fn ratio(ours: &Option<Timing>, theirs: &Option<Timing>) -> String {
    match (ours, theirs) {
        (Some(Timing::Measured(a)), Some(Timing::Measured(b))) => {
            format!("{}×", with_interval(stats::ratio(a, b), short))
        }
        _ => "—".into(),
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{}: time per operation, mean and 95% confidence interval; ratios above 1 are slower \
             than the baseline",
            self.title
        )?;
        let header = [
            "",
            "threads",
            "ours",
            "std",
            "parking_lot",
            "ours/std",
            "ours/parking_lot",
        ];
        // (who, why, threads): one line per failure, naming the thread counts it stands for.
        let mut failures: Vec<(String, String, Vec<u32>)> = Vec::new();
        for group in self.groups() {
            writeln!(f)?;
            let baselines: Vec<String> = group
                .baselines
                .iter()
                .map(|(k, what)| format!("{k}: {what}"))
                .collect();
            if baselines.is_empty() {
                writeln!(f, "{}", group.name)?;
            } else {
                writeln!(f, "{} ({})", group.name, baselines.join("; "))?;
            }
            let mut lines: Vec<[String; 7]> = vec![header.map(String::from)];
            for row in &group.rows {
                for (who, timing) in [
                    (row.what.as_str(), &row.ours),
                    ("std", &row.std),
                    ("parking_lot", &row.parking_lot),
                ] {
                    if let Some(Timing::Failed(why)) = timing {
                        match failures.iter_mut().find(|(w, y, _)| w == who && y == why) {
                            Some((_, _, threads)) if !threads.contains(&row.threads) => {
                                threads.push(row.threads)
                            }
                            Some(_) => {}
                            None => failures.push((who.into(), why.clone(), vec![row.threads])),
                        }
                    }
                }
                // A column with no baseline in the whole group (parking_lot has no threads)
                // says so, unlike a baseline missing from one row.
                let or_na = |kind: &str, text: String| {
                    if group.baselines.iter().any(|(k, _)| k == kind) {
                        text
                    } else {
                        "n/a".to_string()
                    }
                };
                lines.push([
                    row.what.clone(),
                    row.threads.to_string(),
                    cell(&row.ours),
                    or_na("std", cell(&row.std)),
                    or_na("parking_lot", cell(&row.parking_lot)),
                    or_na("std", ratio(&row.ours, &row.std)),
                    or_na("parking_lot", ratio(&row.ours, &row.parking_lot)),
                ]);
            }
            let widths: Vec<usize> = (0..7)
                .map(|i| {
                    lines
                        .iter()
                        .map(|l| l[i].chars().count())
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            for line in &lines {
                let mut text = String::from(" ");
                for (i, value) in line.iter().enumerate() {
                    let pad = widths[i] - value.chars().count();
                    // Names to the left, numbers to the right.
                    if i == 0 {
                        let _ = write!(text, " {value}{}", " ".repeat(pad));
                    } else {
                        let _ = write!(text, "  {}{value}", " ".repeat(pad));
                    }
                }
                writeln!(f, "{}", text.trim_end())?;
            }
        }
        if !failures.is_empty() || self.stopped.is_some() {
            writeln!(f)?;
            for (who, why, threads) in &failures {
                let threads: Vec<String> = threads.iter().map(u32::to_string).collect();
                writeln!(
                    f,
                    "not timed: {who} by {} thread(s): {why}",
                    threads.join(", ")
                )?;
            }
            if let Some(stopped) = &self.stopped {
                writeln!(f, "{stopped}")?;
            }
            if failures
                .iter()
                .any(|(_, why, _)| why.contains("did not finish"))
            {
                writeln!(
                    f,
                    "(threads stuck in the code under test stay in the bench process: the cases \
                     timed after them may be slowed down)"
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(subject: &str, threads: u32) -> Case {
        Case {
            group: "lock, unlock".into(),
            subject: subject.into(),
            threads,
        }
    }

    #[test]
    fn a_row_per_case_of_ours_with_its_baselines_and_failures_grouped() {
        let failed = || Timing::Failed("not implemented yet".into());
        let table = Table {
            title: "02_lock (x)".into(),
            cases: vec![
                (
                    case("ours Lock", 1),
                    Timing::Measured(vec![10.0, 11.0, 12.0, 10.5, 11.5]),
                ),
                (case("std Mutex", 1), Timing::Measured(vec![5.0; 5])),
                (
                    case("parking_lot Mutex", 1),
                    Timing::Measured(vec![20.0; 5]),
                ),
                (case("ours Lock", 2), failed()),
                (case("std Mutex", 2), Timing::Measured(vec![1500.0; 5])),
                (case("ours Lock", 8), failed()),
            ],
            stopped: Some("the bench stopped there".into()),
        };
        let text = table.to_string();
        assert!(
            text.contains("lock, unlock (std: Mutex; parking_lot: Mutex)"),
            "{text}"
        );
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("  Lock")).collect();
        assert_eq!(rows.len(), 3, "{text}");
        // 11 ns against 5 and 20: the ratios 2.2 and 0.55, each with an interval.
        assert!(
            rows[0].contains("11.0 [")
                && rows[0].contains(" ns")
                && rows[0].contains("2.20 [")
                && rows[0].contains("0.55 ["),
            "{text}"
        );
        assert!(rows[1].contains("not timed") && rows[1].contains("1.50 [1.50, 1.50] µs"));
        assert!(
            rows[2].contains('—'),
            "no baseline measured by 8 threads: {text}"
        );
        assert!(text.contains("not timed: Lock by 2, 8 thread(s): not implemented yet"));
        assert!(text.contains("the bench stopped there"));
        assert!(!table.complete());
    }

    #[test]
    fn a_baseline_missing_from_the_whole_group_is_not_applicable() {
        let table = Table {
            title: "01_threads (x)".into(),
            cases: vec![
                (case("ours Thread", 1), Timing::Measured(vec![30.0; 5])),
                (case("std spawn", 1), Timing::Measured(vec![20.0; 5])),
                (case("ours Thread", 2), Timing::Measured(vec![30.0; 5])),
            ],
            stopped: None,
        };
        let text = table.to_string();
        assert!(text.contains("lock, unlock (std: spawn)"), "{text}");
        let rows: Vec<Vec<&str>> = text
            .lines()
            .filter(|l| l.starts_with("  Thread"))
            .map(|l| {
                l.split("  ")
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .collect()
            })
            .collect();
        assert_eq!(rows.len(), 2, "{text}");
        // Its parking_lot cells say n/a; std's missing 2-thread case stays a dash.
        assert_eq!(rows[0][4], "n/a", "{text}");
        assert_eq!(rows[0][6], "n/a", "{text}");
        assert!(rows[0][5].starts_with("1.50 ["), "{text}");
        assert_eq!(rows[1][3..], ["—", "n/a", "—", "n/a"], "{text}");
        assert!(table.complete());
    }
}
