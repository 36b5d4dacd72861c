//! Grading, one straight path: **plan** (options checked, every file read once) → **static**
//! (the rules, before anything is built) → **build** (one cargo build for every submission)
//! → **pool** (each runtime check in the sandbox) → **verdict** → **score**. It produces
//! outcomes and emits [`Event`]s; it knows none of their consumers.

pub mod plan;
mod pool;
mod score;
pub(crate) mod statics;
pub(crate) mod verdict;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rayon::prelude::*;

pub use plan::GradeOptions;
pub use pool::Schedule;

use crate::catalog::{Catalog, CheckSpec};
use crate::events::Event;
use crate::outcome::{CheckOutcome, CheckStatus, ExerciseOutcome, ExerciseStatus, SkipReason};
use crate::sandbox::Sandbox;
use crate::source::{Found, Source};
use crate::stage::{self, Member, StageLock};

/// The result of grading one submission.
#[derive(Debug, Clone)]
pub struct GradeRun {
    pub source: Source,
    pub exercises: Vec<ExerciseOutcome>,
    pub base_seed: u64,
}

impl GradeRun {
    pub fn full_marks(&self) -> bool {
        self.exercises.iter().all(ExerciseOutcome::full_marks)
    }

    /// Whether the grader itself failed somewhere (exit status 2).
    pub fn grader_error(&self) -> bool {
        self.exercises.iter().any(ExerciseOutcome::grader_error)
    }
}

/// Grades the selected exercises of `options.source`.
pub fn grade(
    catalog: &Catalog,
    options: &GradeOptions,
    events: &(dyn Fn(Event) + Sync),
) -> Result<GradeRun> {
    let schedule = Schedule {
        jobs: options.jobs,
        wave: None,
    };
    let mut runs = grade_many(catalog, std::slice::from_ref(options), schedule, events)?;
    Ok(runs.remove(0))
}

/// Grades several submissions with one build. Each submission's [`Event::Graded`] comes as
/// soon as its last check ends. A runtime check that two submissions share (the same built
/// code, check, seed and trials: byte-identical sources with seeds from the source) runs once.
pub fn grade_many(
    catalog: &Catalog,
    requests: &[GradeOptions],
    schedule: Schedule,
    events: &(dyn Fn(Event) + Sync),
) -> Result<Vec<GradeRun>> {
    // Reading and parsing a class's files is the grader's own CPU work: rayon spreads it.
    let plans = requests
        .par_iter()
        .map(|options| plan::plan(catalog, options))
        .collect::<Result<Vec<_>>>()?;
    let labels: Vec<String> = requests.iter().map(|o| o.source.label()).collect();
    let base_seeds: Vec<u64> = requests
        .iter()
        .map(|o| o.seed.unwrap_or_else(plan::random_seed))
        .collect();

    // Static: outcomes start here, with the rules judged on the bytes read.
    let mut outcomes: Vec<Vec<ExerciseOutcome>> = requests
        .par_iter()
        .zip(&plans)
        .map(|(options, planned)| {
            planned
                .iter()
                .map(|p| start_outcome(catalog, options, p))
                .collect()
        })
        .collect();
    let finish = |s: usize, mut exercises: Vec<ExerciseOutcome>| {
        exercises.iter_mut().for_each(score::score);
        let run = GradeRun {
            source: requests[s].source.clone(),
            exercises,
            base_seed: base_seeds[s],
        };
        events(Event::Graded {
            index: s,
            run: &run,
        });
        run
    };

    let members = members(&plans);
    if members.is_empty() {
        return Ok(outcomes
            .into_iter()
            .enumerate()
            .map(|(s, exercises)| finish(s, exercises))
            .collect());
    }
    // The sandbox takes its copies of the check binaries while the build's lock is held:
    // another grader's build may relink them as soon as it is released.
    let sandbox = Sandbox::new().context("creating the check sandbox")?;
    let (stage, build) = build_members(catalog, &members, events, Some(&sandbox))?;

    // Build results, then the runtime checks of every exercise that compiled. `targets[j]`
    // are the (submission, exercise) pairs that job `j`'s result goes to.
    let mut work: Vec<pool::Job> = Vec::new();
    let mut targets: Vec<Vec<(usize, usize)>> = Vec::new();
    let mut shared: HashMap<(PathBuf, &str, u64, u64), usize> = HashMap::new();
    let mut remaining = vec![0usize; requests.len()];
    for (s, planned) in plans.iter().enumerate() {
        for (e, p) in planned.iter().enumerate() {
            let Found::File { path, code } = &p.found else {
                continue;
            };
            let staged = stage
                .exercises
                .iter()
                .find(|st| st.id == p.exercise.id && st.key == p.key)
                .context("an exercise was not staged (grader bug)")?;
            let outcome = &mut outcomes[s][e];
            outcome.build_seconds = build.elapsed.as_secs_f64();
            let shown = requests[s].source.shown(&catalog.root, path);
            if let Some((status, message)) = statics::compile_error(staged, &build, &shown) {
                if outcome.status == ExerciseStatus::Graded {
                    (outcome.status, outcome.message) = (status, message);
                }
                skip_unjudged(outcome, p.exercise, SkipReason::DoesNotCompile);
                continue;
            }
            // Exploration runs a scenario's threads as tasks of one OS thread: code that
            // reaches past `blocks` (which the rules refuse) could block them all at once, and
            // shows what works through its stress trials alone.
            let explore =
                outcome.status != ExerciseStatus::RulesViolation && plan::explorable(code);
            for (spec, check) in p.exercise.checks.iter().zip(&mut outcome.checks) {
                if check.skipped == Some(SkipReason::NotSelected) {
                    continue;
                }
                if spec.category == crate::catalog::Category::Api {
                    set(check, spec, statics::api(spec, staged, &build));
                } else if spec.category.is_runtime() {
                    let base = if requests[s].seeds_from_source {
                        plan::seed_of_key(&p.key)
                    } else {
                        base_seeds[s]
                    };
                    let (seed, trials) = requests[s].seed_and_trials(base, &p.exercise.id, spec);
                    let exe = build.executables[&staged.check_package].clone();
                    let key = (exe.clone(), spec.name.as_str(), seed, trials);
                    let j = *shared.entry(key).or_insert_with(|| {
                        work.push(pool::Job {
                            submission: s,
                            label: &labels[s],
                            exercise_id: &p.exercise.id,
                            spec,
                            exe,
                            seed,
                            trials,
                            explore,
                            schedule: requests[s].schedule.clone(),
                        });
                        targets.push(Vec::new());
                        work.len() - 1
                    });
                    targets[j].push((s, e));
                    remaining[s] += 1;
                }
            }
        }
    }

    // Submissions with nothing to run are done now; the others as their last check ends.
    let mut runs: Vec<Option<GradeRun>> = (0..requests.len()).map(|_| None).collect();
    let mut pending = Vec::new();
    for (s, exercises) in outcomes.into_iter().enumerate() {
        if remaining[s] == 0 {
            runs[s] = Some(finish(s, exercises));
            pending.push(None);
        } else {
            pending.push(Some(exercises));
        }
    }
    let state = Mutex::new((pending, remaining, runs));
    events(Event::Running { checks: work.len() });
    pool::run(&work, schedule, &sandbox, events, &|j, judged, elapsed| {
        let spec = work[j].spec;
        let mut finished = Vec::new();
        {
            let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
            let (pending, remaining, _) = &mut *guard;
            for &(s, e) in &targets[j] {
                let Some(exercises) = pending[s].as_mut() else {
                    continue;
                };
                let outcome = &mut exercises[e];
                outcome.run_seconds += elapsed.as_secs_f64();
                let check = outcome
                    .checks
                    .iter_mut()
                    .find(|c| c.name == spec.name)
                    .expect("every runtime check has an outcome");
                check.status = judged.status;
                check.message = judged.message.clone();
                check.trials = judged.trials;
                check.failed_trials = judged.failed_trials;
                check.seed = judged.seed;
                check.schedule = judged.schedule.clone();
                check.duration = elapsed;
                check.skipped = None;
                check.hint = hint(spec, judged.status);
                remaining[s] -= 1;
                if remaining[s] == 0 {
                    finished.push((s, pending[s].take().expect("pending until done")));
                }
            }
        }
        for (s, exercises) in finished {
            let run = finish(s, exercises);
            state.lock().unwrap_or_else(|e| e.into_inner()).2[s] = Some(run);
        }
    });
    let (_, _, runs) = state.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(runs
        .into_iter()
        .map(|run| run.expect("every submission finished"))
        .collect())
}

/// Stages and builds what `requests` would grade, and runs nothing: a later grade of the same
/// code finds it built. (A class, or a test suite, builds everything in one cargo run.)
pub fn prebuild(
    catalog: &Catalog,
    requests: &[GradeOptions],
    events: &(dyn Fn(Event) + Sync),
) -> Result<()> {
    let plans = requests
        .iter()
        .map(|options| plan::plan(catalog, options))
        .collect::<Result<Vec<_>>>()?;
    let members = members(&plans);
    if !members.is_empty() {
        build_members(catalog, &members, events, None)?;
    }
    Ok(())
}

/// Every file found, to be staged.
pub(crate) fn members<'p>(plans: &'p [Vec<plan::Planned>]) -> Vec<Member<'p>> {
    plans
        .iter()
        .flatten()
        .filter_map(|p| match &p.found {
            Found::File { code, .. } => Some(Member {
                exercise: p.exercise,
                key: p.key.clone(),
                code,
                api: p.api,
            }),
            _ => None,
        })
        .collect()
}

/// Stages and builds, holding the workspace's lock; cargo's own failure is the grader's.
/// With a sandbox, installs every check binary built in it before the lock is released.
pub(crate) fn build_members(
    catalog: &Catalog,
    members: &[Member],
    events: &(dyn Fn(Event) + Sync),
    sandbox: Option<&Sandbox>,
) -> Result<(stage::Stage, crate::build::BuildReport)> {
    let _lock = StageLock::take(catalog)?;
    stage::prune(catalog, Duration::from_secs(2 * 24 * 3600));
    let stage = stage::write(catalog, members)?;
    events(Event::Building {
        exercises: stage.exercises.len(),
    });
    let build = crate::build::build(&stage, &|target| events(Event::Compiled { target }))?;
    events(Event::Built {
        elapsed: build.elapsed,
    });
    if let Some(failure) = &build.cargo_failure {
        bail!("the grader's own build failed (not your code):\n{failure}");
    }
    if let Some(sandbox) = sandbox {
        for staged in &stage.exercises {
            if let Some(exe) = build.executables.get(&staged.check_package) {
                sandbox
                    .install(exe)
                    .with_context(|| format!("copying {} into the sandbox", exe.display()))?;
            }
        }
    }
    Ok((stage, build))
}

/// The outcome of one exercise before anything is built: found or not, readable or not, the
/// rules judged, every other check pending (skipped, with no reason yet) or not selected.
fn start_outcome(
    catalog: &Catalog,
    options: &GradeOptions,
    planned: &plan::Planned,
) -> ExerciseOutcome {
    let exercise = planned.exercise;
    let mut outcome = ExerciseOutcome {
        id: exercise.id.clone(),
        title: exercise.title.clone(),
        status: ExerciseStatus::Graded,
        score: 0.0,
        max_score: f64::from(exercise.max_points()),
        source_sha256: String::new(),
        build_seconds: 0.0,
        run_seconds: 0.0,
        message: String::new(),
        checks: exercise
            .checks
            .iter()
            .map(|spec| {
                let reason = (!options.selects(spec)).then_some(SkipReason::NotSelected);
                check_outcome(spec, CheckStatus::Skipped, String::new(), reason)
            })
            .collect(),
    };
    match &planned.found {
        Found::Missing => {
            outcome.status = ExerciseStatus::NotFound;
            outcome.message = format!(
                "no source file: looked for {}",
                options.source.expected_path(&exercise.id)
            );
            skip_unjudged(&mut outcome, exercise, SkipReason::NotFound);
        }
        Found::Invalid(why) => {
            outcome.status = ExerciseStatus::InvalidSubmission;
            outcome.message = why.clone();
            skip_unjudged(&mut outcome, exercise, SkipReason::InvalidSubmission);
        }
        Found::File { path, code } => {
            outcome.source_sha256 = crate::sha256_hex(code.as_bytes());
            let shown = options.source.shown(&catalog.root, path);
            let rules = statics::rules(exercise, code, &shown);
            for (spec, check) in exercise.checks.iter().zip(&mut outcome.checks) {
                if spec.category == crate::catalog::Category::Rules {
                    set(check, spec, rules.check.clone());
                }
            }
            if let Some(message) = rules.violation {
                outcome.status = ExerciseStatus::RulesViolation;
                outcome.message = message;
            }
        }
    }
    outcome
}

/// Gives every check still pending (not judged, not deselected) the reason it will not run.
fn skip_unjudged(
    outcome: &mut ExerciseOutcome,
    exercise: &crate::catalog::Exercise,
    why: SkipReason,
) {
    for (spec, check) in exercise.checks.iter().zip(&mut outcome.checks) {
        if check.status == CheckStatus::Skipped && check.skipped.is_none() {
            *check = check_outcome(spec, CheckStatus::Skipped, String::new(), Some(why));
        }
    }
}

fn set(check: &mut CheckOutcome, spec: &CheckSpec, (status, message, skipped): statics::Static) {
    *check = check_outcome(spec, status, message, skipped);
}

fn check_outcome(
    spec: &CheckSpec,
    status: CheckStatus,
    message: String,
    skipped: Option<SkipReason>,
) -> CheckOutcome {
    let message = match (message.is_empty(), skipped) {
        (true, Some(reason)) => reason.message().to_string(),
        _ => message,
    };
    CheckOutcome {
        name: spec.name.clone(),
        category: spec.category,
        status,
        score: 0.0,
        max_score: f64::from(spec.points),
        trials: 0,
        failed_trials: 0,
        seed: 0,
        schedule: None,
        duration: Duration::ZERO,
        hint: hint(spec, status),
        message,
        skipped,
    }
}

/// The hint, for a check that ran and did not pass.
fn hint(spec: &CheckSpec, status: CheckStatus) -> String {
    match status {
        CheckStatus::Pass | CheckStatus::Skipped | CheckStatus::Error => String::new(),
        _ => spec.hint.clone(),
    }
}
