//! Schedule exploration, on shuttle: the grader's model checking of a small scenario.
//!
//! Inside an explored scenario the scenario's threads are shuttle's tasks, continuations that run
//! one at a time on one OS thread, and every synchronization point of `blocks` is a scheduling
//! point of shuttle's, so a schedule (PCT or random, from a seed) decides the whole interleaving,
//! and its string replays it exactly. One task at a time also makes std's atomics under our
//! wrappers sequentially consistent here, and a check-then-register atomic as long as it makes no
//! scheduling point in between. What the code under test may use is modelled as:
//!
//! - atomics and fences: a scheduling point before each operation;
//! - `futex`: a table of waiters per address. An untimed `wait` parks the task, so a wait that
//!   nobody ends leaves every task blocked, which shuttle reports at once as a deadlock: a lost
//!   wake-up is a deterministic failure here, not a hang. `wake_*` unpark in arrival order. A
//!   wait returns spuriously one time in eight, drawn from the schedule's random stream; a timed
//!   wait returns after one yield (spuriously, which the contract allows: callers re-check their
//!   clock);
//! - `park`, `park_timeout`, `sleep`, `yield_now`: a yield (`park` may return spuriously);
//! - `Mutex`: a contended `lock` yields until the mutex is free; `Condvar`: waiters on a sequence
//!   number in the futex table;
//! - `thread::current_id`: one per task; `rand::below`: the schedule's random stream.
//!
//! Not modelled: threads that the code under test starts itself, and per-thread state kept in
//! `thread_local!` (every task shares the OS thread's). The grader does not explore such
//! submissions.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, PoisonError};

use shuttle::rand::RngCore;
use shuttle::scheduler::{PctScheduler, RandomScheduler, ReplayScheduler, Scheduler};
use shuttle::{Config, FailurePersistence, MaxSteps, Runner};

use super::{Failure, Plan, STEP_BOUND};

/// Set while the harness runs a scenario. Relaxed: it is set and read by the exploring thread
/// itself; other threads only need to see `false` (which they do, being outside any execution).
static EXPLORING: AtomicBool = AtomicBool::new(false);
/// Executions started, for `current_id`s that differ between executions.
static EXECUTION: AtomicU64 = AtomicU64::new(0);
static TICKETS: AtomicU64 = AtomicU64::new(0);

struct Waiter {
    address: usize,
    ticket: u64,
    task: shuttle::thread::Thread,
}

/// Tasks waiting on a futex address. Only the exploring thread touches it, one task at a time.
static WAITERS: Mutex<Vec<Waiter>> = Mutex::new(Vec::new());

fn waiters() -> MutexGuard<'static, Vec<Waiter>> {
    WAITERS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether the calling thread is a task of an explored scenario.
#[inline]
pub fn inside() -> bool {
    EXPLORING.load(Relaxed) && shuttle::current::try_get_current_task().is_some()
}

/// A scheduling point: the schedule may run another task here.
#[inline]
pub fn switch() {
    shuttle_engine::runtime::thread::switch();
}

/// Lets the other tasks run first (the scheduler deprioritizes a task that yields, so a spin
/// loop does not starve the task it waits for).
pub fn yield_now() {
    shuttle::thread::yield_now();
}

/// A word from the schedule's random stream (recorded in the schedule, so a replay draws it too).
pub fn random_u64() -> u64 {
    shuttle::rand::thread_rng().next_u64()
}

/// The calling task's `current_id`: distinct per task and per execution, never a real thread's.
pub fn current_id() -> u64 {
    let task = usize::from(shuttle::current::me()) as u64;
    (1 << 62) | (EXECUTION.load(Relaxed) << 20) | task
}

/// `futex::wait` inside a scenario.
pub fn futex_wait(word: &AtomicU32, expected: u32, timed: bool) {
    switch();
    // SeqCst, and Relaxed anywhere else here, alike: one task runs at a time.
    if word.load(Relaxed) != expected || random_u64() % 8 == 0 {
        return;
    }
    if timed {
        return yield_now();
    }
    let ticket = TICKETS.fetch_add(1, Relaxed);
    waiters().push(Waiter {
        address: word as *const AtomicU32 as usize,
        ticket,
        task: shuttle::thread::current(),
    });
    // Woken when a waker has taken our entry out; a park may end early (an unpark meant for an
    // earlier wait), so look again.
    while waiters().iter().any(|w| w.ticket == ticket) {
        shuttle::thread::park();
    }
}

/// `futex::wake_one`/`wake_all` inside a scenario.
pub fn futex_wake(address: usize, all: bool) {
    switch();
    let woken: Vec<Waiter> = {
        let mut table = waiters();
        let mut woken = Vec::new();
        while let Some(i) = table.iter().position(|w| w.address == address) {
            woken.push(table.remove(i));
            if !all {
                break;
            }
        }
        woken
    };
    // Unparking is a scheduling point: never with the table held.
    for waiter in woken {
        waiter.task.unpark();
    }
}

/// Runs `scenario` under the plan's schedules, and returns how many executions ran, or the first
/// failure. A schedule string that does not parse is an `Err` too, with an empty schedule.
pub fn run(scenario: fn(), plan: &Plan) -> Result<usize, Failure> {
    let mut config = Config::new();
    config.failure_persistence = FailurePersistence::None;
    config.max_steps = MaxSteps::FailAfter(STEP_BOUND);
    config.silence_warnings = true;
    let schedulers: Vec<Box<dyn Scheduler + Send>> = match plan {
        Plan::Search {
            seed,
            depth,
            pct,
            random,
            time,
        } => {
            config.max_time = Some(*time / 2);
            vec![
                Box::new(PctScheduler::new_from_seed(*seed, *depth, *pct)),
                Box::new(RandomScheduler::new_from_seed(seed ^ 0x5EED, *random)),
            ]
        }
        Plan::Replay(schedule) => {
            if shuttle_engine::scheduler::serialization::deserialize_schedule(schedule).is_none() {
                return Err(Failure {
                    payload: Box::new(format!("not a schedule: {schedule:?}")),
                    schedule: String::new(),
                });
            }
            vec![Box::new(ReplayScheduler::new_from_encoded(schedule))]
        }
    };
    let mut executions = 0;
    for scheduler in schedulers {
        let config = config.clone();
        EXPLORING.store(true, Relaxed);
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            Runner::new(scheduler, config).run(move || {
                EXECUTION.fetch_add(1, Relaxed);
                waiters().clear();
                scenario();
            })
        }));
        EXPLORING.store(false, Relaxed);
        match result {
            Ok(ran) => executions += ran,
            Err(payload) => {
                let schedule = shuttle_engine::scheduler::serialization::serialize_schedule(
                    &shuttle_engine::runtime::execution::CurrentSchedule::get_schedule(),
                );
                waiters().clear();
                return Err(Failure { payload, schedule });
            }
        }
    }
    Ok(executions)
}
