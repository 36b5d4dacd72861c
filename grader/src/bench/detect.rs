//! `cargo xtask bench detect`: how likely the hidden checks are to catch the bugs that show only
//! under contention. Every broken fixture tagged `//! contention: true` (races, check-then-act,
//! lost wake-ups) is built as a submission, and each check that must catch it runs trial after
//! trial under two schedules: `plain` (perturbation off, also where a check turns it on itself:
//! the schedule of a plain build) and `perturb` (as a grade runs it). From the per-trial catch
//! rate p and the trials n a default grade runs, (1-p)^n is the chance a grade misses the bug.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::catalog::{Catalog, CheckSpec};
use crate::grade::{self, plan, GradeOptions};
use crate::outcome::CheckStatus;
use crate::sandbox::{Limits, Sandbox};
use crate::source::Source;

/// The header tag that marks a fixture as contention-only.
pub const TAG: &str = "contention";

/// A broken fixture that only contention shows.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub exercise: String,
    pub name: String,
    /// The checks that must catch it (`expect-fail` or `only-fail`).
    pub checks: Vec<String>,
    /// The solution with the patch applied.
    pub code: String,
}

/// Every fixture of `grader/tests/fixtures/broken/` tagged `//! contention: true`, in order.
pub fn fixtures(root: &Path) -> Result<Vec<Fixture>> {
    let base = root.join("grader/tests/fixtures/broken");
    let mut found = Vec::new();
    for exercise in std::fs::read_dir(&base)?.flatten() {
        let id = exercise.file_name().to_string_lossy().into_owned();
        for file in std::fs::read_dir(exercise.path())?.flatten() {
            let path = file.path();
            if path.extension().and_then(|e| e.to_str()) != Some("patch") {
                continue;
            }
            let text = std::fs::read_to_string(&path)?;
            let header = |key: &str| {
                let prefix = format!("//! {key}:");
                text.lines()
                    .take_while(|l| l.starts_with("//!"))
                    .find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_string()))
            };
            if header(TAG).as_deref() != Some("true") {
                continue;
            }
            let checks: Vec<String> = header("expect-fail")
                .or_else(|| header("only-fail"))
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            found.push(Fixture {
                exercise: id.clone(),
                name: path
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into(),
                checks,
                code: patched(root, &id, &path, &text)?,
            });
        }
    }
    found.sort_by(|a, b| (&a.exercise, &a.name).cmp(&(&b.exercise, &b.name)));
    Ok(found)
}

fn patched(root: &Path, id: &str, path: &Path, text: &str) -> Result<String> {
    let header_len: usize = text
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| l.len() + 1)
        .sum();
    let solution = std::fs::read_to_string(root.join("solutions").join(id).join("src/lib.rs"))?;
    let patch = diffy::Patch::from_str(&text[header_len..])
        .with_context(|| format!("{}: not a unified diff", path.display()))?;
    diffy::apply(&solution, &patch)
        .with_context(|| format!("{}: does not apply to its solution", path.display()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Plain,
    Perturb,
    /// The check's explored scenario alone (one exploration a trial), if it has one.
    Explore,
}

/// What `trials` trials of one check against one fixture under one backend showed.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub trials: u64,
    pub caught: u64,
    /// Wall-clock time (check processes included) until the first catch.
    pub first_catch: Option<Duration>,
    pub elapsed: Duration,
}

impl Sample {
    /// Wilson's lower bound of p, one-sided 95%.
    pub fn p_low(&self) -> f64 {
        if self.trials == 0 {
            return 0.0;
        }
        let (n, p, z) = (self.trials as f64, self.p(), 1.645_f64);
        let z2 = z * z;
        let centre = p + z2 / (2.0 * n);
        let spread = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
        ((centre - spread) / (1.0 + z2 / n)).max(0.0)
    }

    pub fn p(&self) -> f64 {
        if self.trials == 0 {
            0.0
        } else {
            self.caught as f64 / self.trials as f64
        }
    }
}

pub struct Row {
    pub fixture: String,
    pub check: String,
    /// Trials of a default grade.
    pub n: u64,
    pub plain: Sample,
    pub perturb: Sample,
    /// `None`: the check has no explored scenario.
    pub explore: Option<Sample>,
}

impl Row {
    /// The chance a default grade misses the bug: its exploration (once) and its n trials under
    /// `perturb` all miss it.
    pub fn miss(&self) -> f64 {
        let explore = self.explore.as_ref().map_or(1.0, |s| 1.0 - s.p());
        explore * (1.0 - self.perturb.p()).powf(self.n as f64)
    }

    /// The same from the lower ends of the p's one-sided 95% intervals (Wilson's score): what
    /// the samples can promise, small when the trials were few (a catch by a timeout costs
    /// seconds).
    pub fn miss_bound(&self) -> f64 {
        let explore = self.explore.as_ref().map_or(1.0, |s| 1.0 - s.p_low());
        explore * (1.0 - self.perturb.p_low()).powf(self.n as f64)
    }
}

pub struct Table {
    pub rows: Vec<Row>,
    pub trials: u64,
    pub budget: Duration,
}

pub struct Options {
    /// Trials per fixture, check and backend…
    pub trials: u64,
    /// …unless this much time is spent first (a catch by a timeout costs seconds).
    pub budget: Duration,
    pub jobs: usize,
    /// Only the fixtures whose `exercise/name` contains one of these (all when empty).
    pub filter: Vec<String>,
}

pub fn run(catalog: &Catalog, options: &Options, say: &(dyn Fn(&str) + Sync)) -> Result<Table> {
    let fixtures: Vec<Fixture> = fixtures(&catalog.root)?
        .into_iter()
        .filter(|f| {
            options.filter.is_empty()
                || options
                    .filter
                    .iter()
                    .any(|w| format!("{}/{}", f.exercise, f.name).contains(w.as_str()))
        })
        .collect();
    if fixtures.is_empty() {
        bail!("no broken fixture tagged `//! {TAG}: true` matches");
    }
    let scratch = tempfile::Builder::new()
        .prefix("locksmith-detect-")
        .tempdir()?;
    let mut requests = Vec::new();
    for (i, fixture) in fixtures.iter().enumerate() {
        let dir = scratch.path().join(format!("f{i}"));
        let lib = dir.join(&fixture.exercise).join("src");
        std::fs::create_dir_all(&lib)?;
        std::fs::write(lib.join("lib.rs"), &fixture.code)?;
        requests.push(GradeOptions {
            source: Source::submission(&dir)?,
            exercises: vec![fixture.exercise.clone()],
            checks: fixture.checks.clone(),
            seed: None,
            trials: None,
            jobs: 1,
            seeds_from_source: true,
            schedule: None,
        });
    }
    let plans = requests
        .iter()
        .map(|o| plan::plan(catalog, o))
        .collect::<Result<Vec<_>>>()?;
    let members = grade::members(&plans);
    say(&format!(
        "building {} contention-only fixtures…",
        fixtures.len()
    ));
    let sandbox = Sandbox::new().context("creating the check sandbox")?;
    let (stage, build) = grade::build_members(catalog, &members, &|_| {}, Some(&sandbox))?;

    // One job per fixture, check and backend.
    struct Job<'a> {
        row: usize,
        backend: Backend,
        exe: PathBuf,
        spec: &'a CheckSpec,
    }
    let mut rows = Vec::new();
    let mut jobs = Vec::new();
    for (fixture, planned) in fixtures.iter().zip(&plans) {
        let p = &planned[0];
        let staged = stage
            .exercises
            .iter()
            .find(|st| st.id == p.exercise.id && st.key == p.key)
            .context("a fixture was not staged (grader bug)")?;
        let Some(exe) = build.executables.get(&staged.check_package) else {
            bail!(
                "{}/{} does not compile: make its patch again",
                fixture.exercise,
                fixture.name
            );
        };
        for check in &fixture.checks {
            let spec = p
                .exercise
                .check(check)
                .with_context(|| format!("{}: no check named {check}", fixture.name))?;
            for backend in [Backend::Plain, Backend::Perturb, Backend::Explore] {
                jobs.push(Job {
                    row: rows.len(),
                    backend,
                    exe: exe.clone(),
                    spec,
                });
            }
            rows.push(Row {
                fixture: format!("{}/{}", fixture.exercise, fixture.name),
                check: check.clone(),
                n: spec.trials,
                plain: Sample::default(),
                perturb: Sample::default(),
                explore: None,
            });
        }
    }

    let rows = Mutex::new(rows);
    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let base = plan::random_seed();
    std::thread::scope(|scope| {
        for slot in 0..options.jobs.clamp(1, jobs.len()) {
            let (rows, next, finished, jobs, sandbox) = (&rows, &next, &finished, &jobs, &sandbox);
            scope.spawn(move || {
                while let Some(job) = jobs.get(next.fetch_add(1, Relaxed)) {
                    let sample = measure(
                        sandbox,
                        &job.exe,
                        job.spec,
                        job.backend,
                        options,
                        base,
                        slot,
                    );
                    let mut rows = rows.lock().unwrap_or_else(|e| e.into_inner());
                    let row = &mut rows[job.row];
                    let line = format!(
                        "[{}/{}] {} {} {:?}: {} of {} trials caught it",
                        finished.fetch_add(1, Relaxed) + 1,
                        jobs.len(),
                        row.fixture,
                        row.check,
                        job.backend,
                        sample.caught,
                        sample.trials
                    );
                    match job.backend {
                        Backend::Plain => row.plain = sample,
                        Backend::Perturb => row.perturb = sample,
                        // No trial ran: the check has no scenario.
                        Backend::Explore if sample.trials == 0 => row.explore = None,
                        Backend::Explore => row.explore = Some(sample),
                    }
                    drop(rows);
                    say(&line);
                }
            });
        }
    });
    Ok(Table {
        rows: rows.into_inner().unwrap_or_else(|e| e.into_inner()),
        trials: options.trials,
        budget: options.budget,
    })
}

/// Runs `trials` trials of one check, as few processes as it takes: a check process stops at
/// its first failing trial, and the next one starts with the following seed.
fn measure(
    sandbox: &Sandbox,
    exe: &Path,
    spec: &CheckSpec,
    backend: Backend,
    options: &Options,
    base: u64,
    slot: usize,
) -> Sample {
    let (trials, budget) = (options.trials, options.budget);
    let mut sample = Sample::default();
    let mut seed = base;
    while sample.trials < trials && sample.elapsed < budget {
        // A few trials a process, so that the budget is looked at often; an exploration is a
        // process of its own (trials 0: the scenario alone).
        let explore = backend == Backend::Explore;
        let remaining = if explore {
            1
        } else {
            (trials - sample.trials).min(5)
        };
        let args = protocol::RunArgs {
            check: spec.name.clone(),
            seed,
            trials: if explore { 0 } else { remaining },
            perturb: spec.perturb,
            plain: backend == Backend::Plain,
            explore,
            schedule: None,
        };
        let limits = Limits {
            trial_timeout: Duration::from_millis(spec.timeout_ms),
            address_space_bytes: 4 << 30,
            cpu_seconds: 10 + 2 * remaining * spec.timeout_ms.div_ceil(1000),
            output_bytes: 32 * 1024,
        };
        let Ok(run) = sandbox.run(exe, &args, limits, slot) else {
            // The grader could not start it: not a trial.
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        let judged = grade::verdict::judge(spec, seed, args.trials, &run);
        sample.elapsed += run.elapsed;
        match judged.status {
            CheckStatus::Pass => {
                sample.trials += remaining;
                seed = seed.wrapping_add(remaining);
            }
            CheckStatus::Error => break,
            _ => {
                let ran = judged.trials.clamp(1, remaining);
                sample.trials += ran;
                sample.caught += 1;
                sample.first_catch.get_or_insert(sample.elapsed);
                seed = judged.seed.wrapping_add(1);
                continue;
            }
        }
    }
    sample
}

fn percent(x: f64) -> String {
    let x = 100.0 * x;
    if x > 0.0 && x < 0.01 {
        "<0.01%".to_string()
    } else if x == 0.0 || x >= 1.0 {
        format!("{x:.0}%")
    } else {
        format!("{x:.2}%")
    }
}

fn seconds(t: Duration) -> String {
    if t < Duration::from_secs(1) {
        format!("{} ms", t.as_millis())
    } else {
        format!("{:.1} s", t.as_secs_f64())
    }
}

fn cell(s: &Sample) -> String {
    let first = match s.first_catch {
        Some(t) => format!("first in {}", seconds(t)),
        None => format!("none in {}", seconds(s.elapsed)),
    };
    format!("{} ({}/{}), {first}", percent(s.p()), s.caught, s.trials)
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Per trial: the chance one trial catches the bug (caught/trials), then the time to \
             the first catch.\nn: the trials of a default grade; miss: (1-p)^n with p under \
             perturb, the chance a default grade misses it; bound: the same from p's lower 95% bound. {} trials per cell, or fewer \
             once {} s were spent.\n",
            self.trials,
            self.budget.as_secs_f64()
        )?;
        writeln!(
            f,
            "| fixture | check | plain | perturb | explore | n | miss per grade (bound) |"
        )?;
        writeln!(f, "|---|---|---|---|---|---|---|")?;
        for row in &self.rows {
            writeln!(
                f,
                "| {} | {} | {} | {} | {} | {} | {} ({}) |",
                row.fixture,
                row.check,
                cell(&row.plain),
                cell(&row.perturb),
                row.explore
                    .as_ref()
                    .map_or("n/a (no scenario)".to_string(), cell),
                row.n,
                percent(row.miss()),
                percent(row.miss_bound())
            )?;
        }
        Ok(())
    }
}
