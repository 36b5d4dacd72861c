//! Runs the runtime checks: non-exclusive ones `parallel` at a time, then exclusive ones
//! (CPU and timing measurements) alone, each in the sandbox.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use crate::catalog::CheckSpec;
use crate::events::Event;
use crate::outcome::CheckStatus;
use crate::sandbox::{Limits, Sandbox};

use super::verdict::{self, Judged};

/// One runtime check to run.
pub struct Job<'a> {
    /// Which submission and which of its exercises.
    pub submission: usize,
    pub exercise: usize,
    pub label: &'a str,
    pub exercise_id: &'a str,
    pub spec: &'a CheckSpec,
    pub exe: PathBuf,
    pub seed: u64,
    pub trials: u64,
}

pub fn run(
    jobs: &[Job],
    parallel: usize,
    sandbox: &Sandbox,
    events: &(dyn Fn(Event) + Sync),
) -> Vec<(Judged, Duration)> {
    let results: Mutex<Vec<Option<(Judged, Duration)>>> = Mutex::new(vec![None; jobs.len()]);
    let (shared, exclusive): (Vec<usize>, Vec<usize>) =
        (0..jobs.len()).partition(|&i| !jobs[i].spec.exclusive);
    for (indices, width) in [(shared, parallel.max(1)), (exclusive, 1)] {
        let next = AtomicUsize::new(0);
        let worker = || {
            while let Some(&i) = indices.get(next.fetch_add(1, Relaxed)) {
                let job = &jobs[i];
                events(Event::CheckStarted {
                    submission: job.label,
                    exercise: job.exercise_id,
                    check: &job.spec.name,
                });
                let result = run_job(job, sandbox);
                events(Event::CheckFinished {
                    submission: job.label,
                    exercise: job.exercise_id,
                    check: &job.spec.name,
                    status: result.0.status,
                });
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
            }
        };
        std::thread::scope(|scope| {
            for _ in 0..width.min(indices.len()) {
                scope.spawn(worker);
            }
        });
    }
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}

fn run_job(job: &Job, sandbox: &Sandbox) -> (Judged, Duration) {
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
    };
    match sandbox.run(&job.exe, &args, limits) {
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
                seed: job.seed,
            },
            Duration::ZERO,
        ),
    }
}
