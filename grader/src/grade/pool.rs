//! Runs the runtime checks, in waves of submissions: a wave's ordinary checks `jobs` at a
//! time, then its exclusive ones (CPU and timing measurements) alone, each in the sandbox.
//! Waves bound what an interruption loses: a submission is done when its wave is.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use crate::catalog::CheckSpec;
use crate::events::Event;
use crate::outcome::CheckStatus;
use crate::sandbox::{Limits, Sandbox};

use super::verdict::{self, Judged};

/// How many check processes run at once, and how many submissions make a wave.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub jobs: usize,
    /// Submissions per wave; `None`: all of them in one wave (fewest waits for exclusive
    /// checks, but nothing is done before everything is).
    pub wave: Option<usize>,
}

/// One runtime check to run.
pub struct Job<'a> {
    /// Which submission (waves follow it: jobs come in submission order).
    pub submission: usize,
    pub label: &'a str,
    pub exercise_id: &'a str,
    pub spec: &'a CheckSpec,
    pub exe: PathBuf,
    pub seed: u64,
    pub trials: u64,
    /// Run the check's explored scenario first (see [`crate::grade::plan::explorable`]).
    pub explore: bool,
    pub schedule: Option<String>,
}

/// Runs every job once, calling `done(index, …)` as each ends (from the worker's thread).
pub fn run(
    jobs: &[Job],
    schedule: Schedule,
    sandbox: &Sandbox,
    events: &(dyn Fn(Event) + Sync),
    done: &(dyn Fn(usize, Judged, Duration) + Sync),
) {
    let wave = schedule.wave.unwrap_or(usize::MAX).max(1);
    let mut start = 0;
    while start < jobs.len() {
        let first = jobs[start].submission;
        let end = start
            + jobs[start..]
                .iter()
                .take_while(|j| j.submission - first < wave)
                .count();
        let (shared, exclusive): (Vec<usize>, Vec<usize>) =
            (start..end).partition(|&i| !jobs[i].spec.exclusive);
        for (indices, width) in [(shared, schedule.jobs.max(1)), (exclusive, 1)] {
            let next = AtomicUsize::new(0);
            std::thread::scope(|scope| {
                for slot in 0..width.min(indices.len()) {
                    let (next, indices) = (&next, &indices);
                    scope.spawn(move || {
                        while let Some(&i) = indices.get(next.fetch_add(1, Relaxed)) {
                            let job = &jobs[i];
                            events(Event::CheckStarted {
                                submission: job.label,
                                exercise: job.exercise_id,
                                check: &job.spec.name,
                            });
                            let (judged, elapsed) = run_job(job, sandbox, slot);
                            events(Event::CheckFinished {
                                submission: job.label,
                                exercise: job.exercise_id,
                                check: &job.spec.name,
                                status: judged.status,
                            });
                            done(i, judged, elapsed);
                        }
                    });
                }
            });
        }
        start = end;
    }
}

fn run_job(job: &Job, sandbox: &Sandbox, slot: usize) -> (Judged, Duration) {
    let spec = job.spec;
    let limits = Limits {
        trial_timeout: Duration::from_millis(spec.timeout_ms),
        address_space_bytes: 4 << 30,
        cpu_seconds: 10 + 2 * job.trials * spec.timeout_ms.div_ceil(1000),
        output_bytes: 32 * 1024,
    };
    let args = protocol::RunArgs {
        check: spec.name.clone(),
        seed: job.seed,
        trials: job.trials,
        perturb: spec.perturb,
        plain: false,
        explore: job.explore,
        schedule: job.schedule.clone(),
    };
    match sandbox.run(&job.exe, &args, limits, slot) {
        Ok(run) => (
            verdict::judge(spec, job.seed, job.trials, &run),
            run.elapsed,
        ),
        Err(error) => (
            Judged {
                status: CheckStatus::Error,
                message: format!("{} (the grader's failure, not your code's)", error.0),
                trials: 0,
                failed_trials: 0,
                schedule: None,
                seed: job.seed,
            },
            Duration::ZERO,
        ),
    }
}
