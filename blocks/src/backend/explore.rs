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

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};

use shuttle::rand::RngCore;
use shuttle::scheduler::{PctScheduler, RandomScheduler, ReplayScheduler, Scheduler};
use shuttle::{Config, FailurePersistence, MaxSteps, Runner};

use super::{Failure, Plan, STEP_BOUND};

/// Explorations running in the process (one in a check process; tests may run several at once,
/// each on its own thread). Relaxed: it only short-cuts the look-up of shuttle's current task,
/// which is the calling thread's own.
static EXPLORING: AtomicUsize = AtomicUsize::new(0);
/// Executions started, for `current_id`s that differ between executions.
static EXECUTION: AtomicU64 = AtomicU64::new(0);
static TICKETS: AtomicU64 = AtomicU64::new(0);

struct Waiter {
    address: usize,
    ticket: u64,
    task: shuttle::thread::Thread,
}

thread_local! {
    /// Tasks waiting on a futex address. Every task of an exploration runs on the exploring
    /// thread, one at a time, so the table is that thread's.
    static WAITERS: RefCell<Vec<Waiter>> = const { RefCell::new(Vec::new()) };
}

fn waiters<R>(f: impl FnOnce(&mut Vec<Waiter>) -> R) -> R {
    WAITERS.with(|table| f(&mut table.borrow_mut()))
}

/// Whether the calling thread is a task of an explored scenario.
#[inline]
pub fn inside() -> bool {
    EXPLORING.load(Relaxed) != 0 && shuttle::current::try_get_current_task().is_some()
}

/// A scheduling point: the schedule may run another task here. None while shuttle tears a
/// failed execution down (destructors of the code under test run then, and may release).
#[inline]
pub fn switch() {
    shuttle_engine::runtime::thread::switch_if_not_stopping();
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
    let task = shuttle::thread::current();
    waiters(|table| {
        table.push(Waiter {
            address: word as *const AtomicU32 as usize,
            ticket,
            task,
        })
    });
    // Woken when a waker has taken our entry out; a park may end early (an unpark meant for an
    // earlier wait), so look again.
    while waiters(|table| table.iter().any(|w| w.ticket == ticket)) {
        shuttle::thread::park();
    }
}

/// `futex::wake_one`/`wake_all` inside a scenario.
pub fn futex_wake(address: usize, all: bool) {
    switch();
    let woken: Vec<Waiter> = waiters(|table| {
        let mut woken = Vec::new();
        while let Some(i) = table.iter().position(|w| w.address == address) {
            woken.push(table.remove(i));
            if !all {
                break;
            }
        }
        woken
    });
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
        EXPLORING.fetch_add(1, Relaxed);
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            Runner::new(scheduler, config).run(move || {
                EXECUTION.fetch_add(1, Relaxed);
                waiters(Vec::clear);
                scenario();
            })
        }));
        EXPLORING.fetch_sub(1, Relaxed);
        match result {
            Ok(ran) => executions += ran,
            Err(payload) => {
                let mut schedule = shuttle_engine::scheduler::serialization::serialize_schedule(
                    &shuttle_engine::runtime::execution::CurrentSchedule::get_schedule(),
                );
                // Shuttle wraps long ones over lines: one word is easier to paste.
                schedule.retain(|c| !c.is_whitespace());
                waiters(Vec::clear);
                return Err(Failure { payload, schedule });
            }
        }
    }
    Ok(executions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::futex;
    use crate::sync::atomic::{AtomicU32, Ordering::SeqCst};
    use crate::sync::{Condvar, Mutex};
    use std::sync::Arc;

    fn search(seed: u64) -> Plan {
        Plan::Search {
            seed,
            depth: 3,
            pct: 300,
            random: 300,
            time: std::time::Duration::from_secs(20),
        }
    }

    fn message(failure: &Failure) -> String {
        let payload = &failure.payload;
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    }

    /// A flag handed over with a futex, checked and slept on in one step: never stuck.
    fn handoff() {
        let flag = Arc::new(AtomicU32::new(0));
        let setter = {
            let flag = Arc::clone(&flag);
            shuttle::thread::spawn(move || {
                flag.store(1, SeqCst);
                futex::wake_all(&*flag);
            })
        };
        while flag.load(SeqCst) == 0 {
            futex::wait(&flag, 0);
        }
        setter.join().unwrap();
    }

    /// The same, with the wake-up sent before the flag is set: a waiter can sleep through it.
    fn wake_before_store() {
        let flag = Arc::new(AtomicU32::new(0));
        let setter = {
            let flag = Arc::clone(&flag);
            shuttle::thread::spawn(move || {
                futex::wake_all(&*flag);
                flag.store(1, SeqCst);
            })
        };
        while flag.load(SeqCst) == 0 {
            futex::wait(&flag, 0);
        }
        setter.join().unwrap();
    }

    /// A counter under a Mutex, and a Condvar to wait for it.
    fn mutex_and_condvar() {
        let pair = Arc::new((Mutex::new(0), Condvar::new()));
        let adders: Vec<_> = (0..2)
            .map(|_| {
                let pair = Arc::clone(&pair);
                shuttle::thread::spawn(move || {
                    let mut count = pair.0.lock().unwrap();
                    let seen = *count;
                    crate::thread::yield_now();
                    *count = seen + 1;
                    pair.1.notify_all();
                })
            })
            .collect();
        let mut count = pair.0.lock().unwrap();
        while *count < 2 {
            count = pair.1.wait(count).unwrap();
        }
        drop(count);
        for adder in adders {
            adder.join().unwrap();
        }
    }

    #[test]
    fn a_correct_handoff_passes_every_schedule() {
        assert!(run(handoff, &search(1)).is_ok());
        assert!(run(mutex_and_condvar, &search(2)).is_ok());
    }

    #[test]
    fn a_lost_wake_up_is_a_deadlock_and_its_schedule_replays_it() {
        let Err(failure) = run(wake_before_store, &search(3)) else {
            panic!("the lost wake-up was not found");
        };
        assert!(
            message(&failure).starts_with("deadlock!"),
            "{}",
            message(&failure)
        );
        assert!(
            !failure.schedule.is_empty() && failure.schedule.chars().all(|c| c.is_ascii_hexdigit()),
            "one word of hexadecimal digits: {:?}",
            failure.schedule
        );
        for _ in 0..2 {
            let Err(again) = run(wake_before_store, &Plan::Replay(failure.schedule.clone())) else {
                panic!("the replay did not fail");
            };
            assert_eq!(message(&again), message(&failure));
        }
        // Another scenario does not fit the schedule: a refusal, not a verdict.
        let Err(other) = run(handoff, &Plan::Replay(failure.schedule.clone())) else {
            return;
        };
        assert!(message(&other).contains("schedule"), "{}", message(&other));
    }

    #[test]
    fn outside_a_scenario_nothing_changes() {
        assert!(!inside());
        let lock = Mutex::new(1);
        *lock.lock().unwrap() += 1;
        assert_eq!(lock.into_inner().unwrap(), 2);
    }
}
