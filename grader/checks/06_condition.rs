//! Hidden checks of 06_condition: `Condition` (exact FIFO notify, no remembered notifies, no
//! spurious wake-ups, re-acquire on timeout, timed-out waiters leave the queue, one deadline in
//! wait_for_timeout) and `BoundedQueue` (Python's queue.Queue: producers and consumers, timeouts,
//! task_done/join).
//!
//! A waiter is known to be queued once the check has seen, under the condition's lock, the mark
//! the waiter left just before calling `wait`: `wait` joins the queue before it releases the lock.

use std::collections::{HashSet, VecDeque};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use condition::{BoundedQueue, Condition, Full};
use harness::{
    ensure, ensure_eq, explore, fail, join_all, wait_until, within, KernelTid, Trial, Usage, Worker,
};

/// Context switches the whole process may make while its waiters should all be asleep (300 ms):
/// sleeping threads make none and the measuring thread's own sleep makes one, while a waiter
/// that polls, even with naps of 50 ms, makes several each.
const POLLING: u64 = 20;

/// How long a call that should return may block before the check calls it a deadlock.
const LIMIT: Duration = Duration::from_secs(3);
/// Long enough to never expire during a trial.
const LONG: Duration = Duration::from_secs(60);
/// How long to keep watching after the expected waiters woke, to see whether more wake.
const GRACE: Duration = Duration::from_millis(30);

/// Runs `f` on the data of `condition`, holding its lock, on a helper thread (so that a lock that
/// is never released fails the trial with a message instead of hanging it).
fn locked<T: Send + 'static, R: Send + 'static>(
    condition: &Arc<Condition<T>>,
    what: &str,
    f: impl FnOnce(&mut condition::ConditionGuard<'_, T>) -> R + Send + 'static,
) -> R {
    let condition = Arc::clone(condition);
    within(LIMIT, what, move || f(&mut condition.lock()))
}

/// Polls `f` on the data under `try_lock` until it holds (at most `limit`); whether it did.
fn eventually<T>(condition: &Condition<T>, limit: Duration, mut f: impl FnMut(&T) -> bool) -> bool {
    wait_until(limit, || {
        condition.try_lock().is_some_and(|guard| f(&guard))
    })
}

// ---------------------------------------------------------------------------------------------
// Waiters that leave a trace.

/// What the notify checks record: who entered `wait`, who returned (in order), and whether a
/// timed wait reported a notify.
#[derive(Default)]
struct Log {
    entered: Vec<usize>,
    woken: Vec<usize>,
    results: Vec<(usize, bool)>,
}

/// Starts waiter `id` (`wait`, or `wait_timeout(timeout)`) and returns once it is queued.
fn start_waiter(
    condition: &Arc<Condition<Log>>,
    id: usize,
    timeout: Option<Duration>,
) -> Worker<()> {
    let handle = harness::spawn({
        let condition = Arc::clone(condition);
        move || {
            let mut log = condition.lock();
            log.entered.push(id);
            let notified = match timeout {
                None => {
                    log.wait();
                    true
                }
                Some(timeout) => log.wait_timeout(timeout),
            };
            log.woken.push(id);
            log.results.push((id, notified));
        }
    });
    ensure!(
        eventually(condition, LIMIT, |log| log.entered.contains(&id)),
        "waiter {id} never entered wait(), or wait() never released the condition's lock"
    );
    handle
}

/// Waits until at least `count` waiters have returned, then [`GRACE`] more; returns who did.
fn woken(condition: &Arc<Condition<Log>>, count: usize, after: &str) -> Vec<usize> {
    if !eventually(condition, LIMIT, |log| log.woken.len() >= count) {
        let log = condition.try_lock();
        let woke = log.map_or(0, |log| log.woken.len());
        fail!("{after}: only {woke} waiters returned within {LIMIT:?}, expected {count} (lost wake-up?)");
    }
    thread::sleep(GRACE);
    locked(condition, "reading the log", |log| log.woken.clone())
}

// ---------------------------------------------------------------------------------------------
// Condition: functionality.

fn guard_basics(_t: &mut Trial) {
    let condition = Arc::new(Condition::new(vec![1u32]));
    {
        let mut guard = condition.lock();
        guard.push(2);
        ensure_eq!(*guard, vec![1, 2], "the data seen through the guard");
        let other = Arc::clone(&condition);
        let taken = within(LIMIT, "try_lock", move || other.try_lock().is_some());
        ensure!(
            !taken,
            "try_lock succeeded on another thread while a guard was held"
        );
        guard.notify(1);
        guard.notify(5);
        guard.notify_all();
        let start = Instant::now();
        ensure!(
            !guard.wait_timeout(Duration::ZERO),
            "wait_timeout(0) returned true although nobody notified"
        );
        ensure!(start.elapsed() < LIMIT, "wait_timeout(0) blocked");
        guard.push(3);
    }
    let other = Arc::clone(&condition);
    let data = within(LIMIT, "try_lock after the guard was dropped", move || {
        other.try_lock().map(|guard| guard.clone())
    });
    ensure_eq!(
        data,
        Some(vec![1, 2, 3]),
        "try_lock after the guard was dropped"
    );
    // A panic while holding the guard releases the lock.
    let other = Arc::clone(&condition);
    let _ = within(LIMIT, "a thread panicking with the guard", move || {
        panic::catch_unwind(AssertUnwindSafe(|| {
            let _guard = other.lock();
            panic!("deliberate panic of the check while holding a ConditionGuard");
        }))
        .is_err()
    });
    let other = Arc::clone(&condition);
    ensure!(
        within(LIMIT, "try_lock after a panic", move || other
            .try_lock()
            .is_some()),
        "the lock stayed held after a thread panicked while holding the guard"
    );
    let Ok(condition) = Arc::try_unwrap(condition) else {
        fail!("a helper thread still holds the condition after returning");
    };
    ensure_eq!(condition.into_inner(), vec![1, 2, 3], "into_inner");
}

fn notify_exact_count_fifo(t: &mut Trial) {
    // The whole procedure, several times on one condition: waiters queued in a known order,
    // then notify(n) for random n must wake exactly the n oldest.
    let condition = Arc::new(Condition::new(Log::default()));
    let mut next_id = 0;
    for round in 0..3 {
        let k = t.rng().usize(3..=7);
        let mut ids = Vec::new();
        let mut handles = Vec::new();
        for _ in 0..k {
            let timeout = t.rng().bool().then_some(LONG);
            handles.push(start_waiter(&condition, next_id, timeout));
            ids.push(next_id);
            next_id += 1;
        }
        // notify(0) asks for nobody: every waiter stays queued.
        locked(&condition, "notify(0)", |log| log.notify(0));
        let woke = woken(&condition, 0, &format!("round {round}: notify(0)"));
        ensure!(
            woke.is_empty(),
            "round {round}: notify(0) with {k} waiting woke {woke:?}; it must wake nobody"
        );
        let mut expected: Vec<usize> = Vec::new();
        let mut remaining = ids.as_slice();
        while !remaining.is_empty() {
            let all = t.rng().usize(0..4) == 0;
            let n = if all {
                usize::MAX
            } else {
                t.rng().usize(1..=remaining.len() + 1)
            };
            let waking = n.min(remaining.len());
            locked(&condition, "notify", move |log| {
                if all {
                    log.notify_all()
                } else {
                    log.notify(n)
                }
            });
            expected.extend_from_slice(&remaining[..waking]);
            remaining = &remaining[waking..];
            let what = if all {
                "notify_all()".to_string()
            } else {
                format!("notify({n})")
            };
            let woke = woken(
                &condition,
                expected.len(),
                &format!(
                    "round {round}: {what} with {} waiting",
                    waking + remaining.len()
                ),
            );
            let woke_set: HashSet<_> = woke.iter().copied().collect();
            let expected_set: HashSet<_> = expected.iter().copied().collect();
            if woke_set != expected_set {
                let extra: Vec<_> = woke_set.difference(&expected_set).collect();
                fail!(
                    "round {round}: after {what} with {} waiting, the waiters that returned \
                     so far are {woke:?}; expected exactly the oldest ones {expected:?} \
                     (unexpected: {extra:?}; notify(n) wakes min(n, waiting) waiters, oldest \
                     first, and nobody else)",
                    waking + remaining.len()
                );
            }
        }
        within(LIMIT, "the woken waiters", move || join_all(handles));
        let results = locked(&condition, "reading the log", |log| {
            let results = log.results.clone();
            log.entered.clear();
            log.woken.clear();
            log.results.clear();
            results
        });
        if let Some((id, _)) = results.iter().find(|(_, notified)| !notified) {
            fail!("round {round}: waiter {id} was notified but wait_timeout(60 s) returned false");
        }
    }
}

fn notify_not_remembered(t: &mut Trial) {
    let condition = Arc::new(Condition::new(Log::default()));
    // Notifies with nobody waiting.
    let kind = t.rng().usize(0..3);
    locked(
        &condition,
        "notify with nobody waiting",
        move |log| match kind {
            0 => log.notify(1),
            1 => log.notify(7),
            _ => {
                log.notify(1);
                log.notify_all();
            }
        },
    );
    let timeout = Duration::from_millis(t.rng().u64(20..40));
    let (notified, waited) = locked(&condition, "wait_timeout after notifies", move |log| {
        let start = Instant::now();
        (log.wait_timeout(timeout), start.elapsed())
    });
    ensure!(
        !notified && waited >= timeout,
        "wait_timeout({timeout:?}) returned {notified} after {waited:?}: a notify made while \
         nobody was waiting was remembered"
    );
    // A waiter arriving afterwards stays asleep until the next notify.
    let waiter = start_waiter(&condition, 1, None);
    thread::sleep(Duration::from_millis(40));
    let early = locked(&condition, "reading the log", |log| log.woken.len());
    ensure!(
        early == 0,
        "a waiter returned from wait() with no notify since it started waiting (an earlier \
         notify was remembered)"
    );
    locked(&condition, "notify", |log| log.notify(1));
    ensure_eq!(woken(&condition, 1, "notify(1)"), vec![1], "waiters woken");
    within(LIMIT, "the waiter", move || join_all([waiter]));
}

fn wait_timeout_reacquires(t: &mut Trial) {
    // The timing of a timed-out wait, and that the lock is held when it returns.
    let condition = Arc::new(Condition::new(0u64));
    let timeout = Duration::from_millis(t.rng().u64(10..40));
    let (notified, waited) = locked(&condition, "wait_timeout", move |guard| {
        let start = Instant::now();
        let notified = guard.wait_timeout(timeout);
        **guard += 1;
        (notified, start.elapsed())
    });
    ensure!(
        !notified,
        "wait_timeout({timeout:?}) returned true although nobody notified"
    );
    ensure!(
        waited >= timeout,
        "wait_timeout({timeout:?}) returned after {waited:?}, before its timeout"
    );
    // A waiter that times out while another thread holds the lock returns only once it has the
    // lock again. The scenario is conclusive only if this thread got the lock before the waiter
    // returned (a loaded machine may delay it past the waiter's timeout): retry with longer
    // timeouts until it is.
    for attempt in 0..5 {
        let timeout = Duration::from_millis(5 << attempt);
        let entered = Arc::new(AtomicBool::new(false));
        let returned = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (condition, entered, returned) = (
                Arc::clone(&condition),
                Arc::clone(&entered),
                Arc::clone(&returned),
            );
            harness::spawn(move || {
                let mut guard = condition.lock();
                entered.store(true, SeqCst);
                let notified = guard.wait_timeout(timeout);
                let back = Instant::now();
                returned.store(true, SeqCst);
                *guard += 1;
                (notified, back)
            })
        };
        ensure!(
            wait_until(LIMIT, || entered.load(SeqCst)),
            "the waiter never entered wait_timeout"
        );
        let released = locked(&condition, "lock while a waiter times out", move |guard| {
            if returned.load(SeqCst) {
                return None;
            }
            let before = **guard;
            thread::sleep(timeout + Duration::from_millis(50));
            ensure_eq!(
                **guard,
                before,
                "the data changed while this thread held the lock (a timed-out waiter went on \
                 without re-acquiring the lock)"
            );
            Some(Instant::now())
        });
        let (notified, back) = within(LIMIT, "the timed-out waiter", move || join_all([waiter]))[0];
        ensure!(
            !notified,
            "wait_timeout returned true although nobody notified"
        );
        if let Some(released) = released {
            ensure!(
                back >= released,
                "a waiter whose timeout expired while another thread held the lock returned \
                 before that thread released it: wait_timeout must re-acquire the lock, also \
                 on timeout"
            );
            break;
        }
    }
    // After a timed-out wait, the lock is held: another thread cannot take it.
    let other = Arc::clone(&condition);
    let still_held = locked(&condition, "wait_timeout(0)", move |guard| {
        ensure!(
            !guard.wait_timeout(Duration::ZERO),
            "wait_timeout(0) returned true although nobody notified"
        );
        within(LIMIT, "try_lock", move || other.try_lock().is_none())
    });
    ensure!(
        still_held,
        "after wait_timeout returned false, another thread could take the lock (not re-acquired)"
    );
}

fn huge_timeouts(_t: &mut Trial) {
    for huge in [Duration::MAX, Duration::from_secs(u64::MAX)] {
        // (entered, ready)
        let condition = Arc::new(Condition::new((false, false)));
        let waiter = {
            let condition = Arc::clone(&condition);
            harness::spawn(move || {
                let mut guard = condition.lock();
                guard.0 = true;
                let notified = guard.wait_timeout(huge);
                let ready = guard.wait_for_timeout(|(_, ready)| *ready, huge);
                (notified, ready)
            })
        };
        ensure!(
            eventually(&condition, LIMIT, |(entered, _)| *entered),
            "the waiter never entered wait_timeout"
        );
        locked(&condition, "notify", |guard| guard.notify(1));
        locked(&condition, "notify_all", |guard| {
            guard.1 = true;
            guard.notify_all()
        });
        let results = within(
            LIMIT,
            "wait_timeout(Duration::MAX) after a notify",
            move || join_all([waiter]),
        );
        ensure_eq!(
            results[0],
            (true, true),
            "(wait_timeout, wait_for_timeout) with a timeout of {huge:?}"
        );
    }
    // The queue: a timed put and get with huge timeouts complete once the other side acts.
    let queue = Arc::new(BoundedQueue::new(1));
    queue.put(1);
    let putter = {
        let queue = Arc::clone(&queue);
        harness::spawn(move || queue.put_timeout(2, Duration::MAX).is_ok())
    };
    thread::sleep(Duration::from_millis(10));
    let got = {
        let queue = Arc::clone(&queue);
        within(LIMIT, "get", move || queue.get())
    };
    ensure_eq!(got, 1, "the first item");
    let put = within(LIMIT, "put_timeout(Duration::MAX)", move || {
        join_all([putter])
    });
    ensure!(
        put[0],
        "put_timeout(Duration::MAX) failed although room was made"
    );
    let q = Arc::clone(&queue);
    let got = within(LIMIT, "get_timeout(Duration::MAX)", move || {
        q.get_timeout(Duration::MAX)
    });
    ensure_eq!(
        got,
        Some(2),
        "get_timeout(Duration::MAX) on a queue holding 2"
    );
}

fn timed_out_waiter_absorbs_nothing(t: &mut Trial) {
    // Timed waiters queue and time out, before or after a patient waiter queued; then the
    // patient waiter must get the next notify. A timed-out waiter that leaves a stale entry
    // behind absorbs the notify; one that removes another entry (the oldest, say) instead of
    // its own takes the patient waiter's place away.
    for patient_first in [false, true] {
        let condition = Arc::new(Condition::new(Log::default()));
        let k = t.rng().usize(1..=3);
        let timeouts: Vec<_> = (0..k)
            .map(|_| Duration::from_millis(t.rng().u64(5..20)))
            .collect();
        let patient = patient_first.then(|| start_waiter(&condition, 100, None));
        let timed: Vec<_> = timeouts
            .into_iter()
            .enumerate()
            .map(|(id, timeout)| start_waiter(&condition, id, Some(timeout)))
            .collect();
        let patient = patient.unwrap_or_else(|| start_waiter(&condition, 100, None));
        within(LIMIT, "the timed waiters", move || join_all(timed));
        let results = locked(&condition, "reading the log", |log| log.results.clone());
        if let Some((id, _)) = results.iter().find(|(_, notified)| *notified) {
            fail!("waiter {id}'s wait_timeout returned true although nobody notified");
        }
        locked(&condition, "notify(1)", |log| log.notify(1));
        if !eventually(&condition, LIMIT, |log| log.woken.contains(&100)) {
            fail!(
                "after {k} waiter(s) timed out {} the one still waiting, notify(1) did not wake \
                 it: a waiter that times out must remove its own entry from the queue (no \
                 other), or it absorbs a later notify",
                if patient_first { "behind" } else { "ahead of" }
            );
        }
        within(LIMIT, "the patient waiter", move || join_all([patient]));
    }
}

fn wait_for_semantics(t: &mut Trial) {
    // Checks first: a true predicate returns at once, without any notify.
    let condition = Arc::new(Condition::new(0u32));
    let calls = locked(&condition, "wait_for on a true predicate", |guard| {
        let mut calls = 0;
        guard.wait_for(|_| {
            calls += 1;
            true
        });
        calls
    });
    ensure_eq!(calls, 1, "predicate calls of wait_for on a true predicate");
    let (held, calls) = locked(
        &condition,
        "wait_for_timeout(0) on a true predicate",
        |guard| {
            let mut calls = 0;
            let held = guard.wait_for_timeout(
                |_| {
                    calls += 1;
                    true
                },
                Duration::ZERO,
            );
            (held, calls)
        },
    );
    ensure!(
        held && calls == 1,
        "wait_for_timeout(0) on a true predicate returned {held} after {calls} checks"
    );
    ensure!(
        !locked(&condition, "wait_for_timeout(0)", |guard| guard
            .wait_for_timeout(|_| false, Duration::ZERO)),
        "wait_for_timeout(0) on a false predicate returned true"
    );

    // wait_for returns once the predicate holds (CPython's test_waitfor).
    let waiter = {
        let condition = Arc::clone(&condition);
        harness::spawn(move || {
            let mut guard = condition.lock();
            guard.wait_for(|state| *state == 4);
            let state = *guard;
            drop(guard);
            state
        })
    };
    for _ in 0..4 {
        thread::sleep(Duration::from_millis(t.rng().u64(1..5)));
        locked(&condition, "notify", |guard| {
            **guard += 1;
            guard.notify(1);
        });
    }
    let state = within(LIMIT, "wait_for(state == 4)", move || join_all([waiter]));
    ensure_eq!(state[0], 4, "the state when wait_for returned");

    // One deadline: notifies keep coming, the predicate stays false.
    let timeout = Duration::from_millis(t.rng().u64(40..80));
    let stop = Arc::new(AtomicBool::new(false));
    let notifier = {
        let (condition, stop) = (Arc::clone(&condition), Arc::clone(&stop));
        harness::spawn(move || {
            while !stop.load(SeqCst) {
                condition.lock().notify_all();
                thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let outcome = {
        let condition = Arc::clone(&condition);
        let what = format!(
            "wait_for_timeout({timeout:?}) woken every 2 ms (one deadline for the whole call, \
             not a new timeout after every wake-up)"
        );
        within(LIMIT, &what, move || {
            let mut guard = condition.lock();
            let mut last = None;
            let start = Instant::now();
            let held = guard.wait_for_timeout(
                |state| {
                    let value = *state == 1000;
                    last = Some(value);
                    value
                },
                timeout,
            );
            (held, last, start.elapsed())
        })
    };
    stop.store(true, SeqCst);
    within(LIMIT, "the notifier", move || join_all([notifier]));
    let (held, last, waited) = outcome;
    ensure!(
        !held,
        "wait_for_timeout returned true although the predicate never held"
    );
    ensure_eq!(
        Some(held),
        last,
        "the result against the predicate's last value"
    );
    ensure!(
        waited >= timeout,
        "wait_for_timeout({timeout:?}) gave up after {waited:?}, before its timeout"
    );
}

// ---------------------------------------------------------------------------------------------
// Condition: robustness and stress.

fn no_spurious_wakeups(t: &mut Trial) {
    // Under this check's perturbation, futex waits often return spuriously: wait must not.
    let condition = Arc::new(Condition::new(Log::default()));
    let k = t.rng().usize(2..=5);
    let waiters: Vec<_> = (0..k)
        .map(|id| start_waiter(&condition, id, t.rng().bool().then_some(LONG)))
        .collect();
    let timed: Vec<_> = (0..t.rng().usize(1..=3))
        .map(|_| {
            let condition = Arc::clone(&condition);
            let timeouts: Vec<_> = (0..6)
                .map(|_| Duration::from_micros(t.rng().u64(1000..5000)))
                .collect();
            harness::spawn(move || {
                for timeout in timeouts {
                    let mut guard = condition.lock();
                    let start = Instant::now();
                    let notified = guard.wait_timeout(timeout);
                    let waited = start.elapsed();
                    ensure!(
                        !notified,
                        "wait_timeout({timeout:?}) returned true although nobody notified \
                         (a spurious wake-up reported as a notify)"
                    );
                    ensure!(
                        waited >= timeout,
                        "wait_timeout({timeout:?}) returned after {waited:?}, before its timeout"
                    );
                }
            })
        })
        .collect();
    within(LIMIT * 2, "timed waits", move || join_all(timed));
    thread::sleep(Duration::from_millis(10));
    let woke = locked(&condition, "reading the log", |log| log.woken.clone());
    ensure!(
        woke.is_empty(),
        "waiters {woke:?} returned from wait() although nobody notified (spurious wake-up: \
         wait returns only when notified)"
    );
    locked(&condition, "notify_all", |log| log.notify_all());
    ensure_eq!(
        woken(&condition, k, "notify_all()").len(),
        k,
        "waiters woken by notify_all"
    );
    within(LIMIT, "the waiters", move || join_all(waiters));
}

fn ping_pong(t: &mut Trial) {
    // Threads take turns on one Condition: a single lost wake-up stops the game for good.
    let players = t.rng().usize(2..=4);
    let turns = 300;
    let condition = Arc::new(Condition::new(0usize));
    let barrier = Arc::new(Barrier::new(players));
    let handles: Vec<_> = (0..players)
        .map(|me| {
            let (condition, barrier) = (Arc::clone(&condition), Arc::clone(&barrier));
            harness::spawn(move || {
                barrier.wait();
                for turn in 0..turns {
                    let mut guard = condition.lock();
                    let mine = turn * players + me;
                    while *guard != mine {
                        if players == 2 || turn % 2 == 0 {
                            guard.wait();
                        } else {
                            guard.wait_timeout(LONG);
                        }
                    }
                    *guard += 1;
                    // With two players only the other one can be waiting.
                    if players == 2 {
                        guard.notify(1);
                    } else {
                        guard.notify_all();
                    }
                }
            })
        })
        .collect();
    let what = format!("{players} threads taking {turns} turns each (lost wake-up?)");
    within(LIMIT * 2, &what, move || join_all(handles));
    ensure_eq!(*condition.lock(), players * turns, "turns taken");
}

fn condition_producer_consumer(t: &mut Trial) {
    // A buffer on one Condition, as a learner would write it: either bounded (producers and
    // consumers both wait, so notify_all) or unbounded (only consumers wait, so notify(1) per
    // item). Every item exactly once, per-producer order kept, never above the capacity.
    let bounded = t.rng().bool();
    let capacity = if bounded {
        t.rng().usize(1..=4)
    } else {
        usize::MAX
    };
    let producers = t.rng().usize(1..=3);
    let consumers = t.rng().usize(1..=3);
    let per_producer = 150;
    let condition = Arc::new(Condition::new(VecDeque::new()));
    let barrier = Arc::new(Barrier::new(producers + consumers));
    let mut handles = Vec::new();
    for p in 0..producers {
        let (condition, barrier) = (Arc::clone(&condition), Arc::clone(&barrier));
        handles.push(harness::spawn(move || {
            barrier.wait();
            for i in 0..per_producer {
                let mut buffer = condition.lock();
                buffer.wait_for(|items| items.len() < capacity);
                buffer.push_back(Some((p, i)));
                if bounded {
                    buffer.notify_all();
                } else {
                    buffer.notify(1);
                }
            }
            Vec::new()
        }));
    }
    for c in 0..consumers {
        let (condition, barrier) = (Arc::clone(&condition), Arc::clone(&barrier));
        handles.push(harness::spawn(move || {
            barrier.wait();
            let mut got = Vec::new();
            loop {
                let mut buffer = condition.lock();
                while buffer.is_empty() {
                    if c % 2 == 0 {
                        buffer.wait();
                    } else {
                        buffer.wait_timeout(LONG);
                    }
                }
                let len = buffer.len();
                ensure!(
                    len <= capacity,
                    "the buffer holds {len} items, above its capacity {capacity}"
                );
                let item = buffer.pop_front().expect("not empty");
                if bounded {
                    buffer.notify_all();
                }
                match item {
                    Some(item) => got.push(item),
                    None => return got,
                }
            }
        }));
    }
    let what = format!(
        "{producers} producers and {consumers} consumers on a Condition-protected buffer \
         (capacity {}, {} per item)",
        if bounded {
            capacity.to_string()
        } else {
            "unbounded".into()
        },
        if bounded { "notify_all" } else { "notify(1)" }
    );
    let all = within(LIMIT * 2, &what, move || {
        let mut handles = handles.into_iter();
        join_all(handles.by_ref().take(producers));
        // One end marker per consumer.
        let mut buffer = condition.lock();
        for _ in 0..consumers {
            buffer.wait_for(|items| items.len() < capacity);
            buffer.push_back(None);
            buffer.notify_all();
        }
        drop(buffer);
        join_all(handles)
    });
    let mut seen = HashSet::new();
    for got in all {
        let mut last: Vec<Option<usize>> = vec![None; producers];
        for (p, i) in got {
            ensure!(
                last[p].is_none_or(|l| l < i),
                "a consumer got item {i} of producer {p} after item {:?}",
                last[p]
            );
            last[p] = Some(i);
            ensure!(
                seen.insert((p, i)),
                "item {i} of producer {p} was taken twice"
            );
        }
    }
    ensure_eq!(seen.len(), producers * per_producer, "items taken");
}

fn timeouts_and_notifies(t: &mut Trial) {
    // Churners time out over and over while a patient waiter sleeps; notify(1) is sent one at a
    // time, each only after the previous one was seen to wake somebody. A timed-out waiter that
    // absorbs a notify (or a notify that wakes nobody) stalls the game.
    #[derive(Default)]
    struct Game {
        patient_waiting: bool,
        patient_woke: bool,
        /// wait_timeout calls of churners that returned true.
        churner_notified: usize,
        stop: bool,
    }
    let condition = Arc::new(Condition::new(Game::default()));
    let churner_count = t.rng().usize(1..=3);
    let churners: Vec<_> = (0..churner_count)
        .map(|_| {
            let condition = Arc::clone(&condition);
            let timeouts: Vec<_> = (0..64)
                .map(|_| Duration::from_micros(t.rng().u64(200..3000)))
                .collect();
            harness::spawn(move || {
                for &timeout in timeouts.iter().cycle() {
                    let mut game = condition.lock();
                    if game.stop {
                        return;
                    }
                    if game.wait_timeout(timeout) {
                        game.churner_notified += 1;
                    }
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(t.rng().u64(0..5)));
    let patient = {
        let condition = Arc::clone(&condition);
        harness::spawn(move || {
            let mut game = condition.lock();
            game.patient_waiting = true;
            game.wait();
            game.patient_woke = true;
        })
    };
    ensure!(
        eventually(&condition, LIMIT, |game| game.patient_waiting),
        "the patient waiter never waited"
    );
    let mut sent = 0;
    loop {
        let accounted = {
            let condition = Arc::clone(&condition);
            within(LIMIT, "lock", move || {
                let game = condition.lock();
                (game.patient_woke, game.churner_notified)
            })
        };
        if accounted.0 {
            break;
        }
        // Every notify so far woke a churner (reported) or the patient one (not yet seen).
        if sent == accounted.1 {
            // FIFO: at most one entry per churner is queued ahead of the patient waiter.
            ensure!(
                sent <= churner_count,
                "{sent} notify(1) calls woke {sent} timed waiters that started waiting after \
                 the one still waiting ({churner_count} threads were timing out): notify must \
                 wake the waiter that has waited longest first"
            );
            locked(&condition, "notify(1)", |game| game.notify(1));
            sent += 1;
        } else if !eventually(&condition, LIMIT, |game| {
            game.patient_woke || game.churner_notified == sent
        }) {
            fail!(
                "notify(1) #{sent}, sent while a waiter was queued, woke nobody within {LIMIT:?} \
                 (it was absorbed by a waiter that had timed out?)"
            );
        }
    }
    let churned = locked(&condition, "stop", |game| {
        game.stop = true;
        game.churner_notified
    });
    within(LIMIT, "the waiters", move || {
        join_all(churners);
        join_all([patient]);
    });
    ensure!(
        sent == churned + 1,
        "{sent} notify(1) calls, each sent while waiters were queued, woke {churned} timed \
         waiters plus the patient one (each notify wakes exactly one waiter)"
    );
}

// ---------------------------------------------------------------------------------------------
// BoundedQueue.

fn queue_basics(t: &mut Trial) {
    let capacity = t.rng().usize(1..=4);
    let queue = Arc::new(BoundedQueue::new(capacity));
    ensure!(queue.is_empty(), "is_empty() is false on a new queue");
    ensure_eq!(queue.len(), 0, "len() of a new queue");
    for item in 0..capacity {
        queue.put(item);
        ensure_eq!(queue.len(), item + 1, "len() after put");
    }
    ensure!(!queue.is_empty(), "is_empty() is true on a full queue");
    ensure_eq!(
        queue.try_put(99),
        Err(Full(99)),
        "try_put on a full queue (capacity {capacity})"
    );
    ensure_eq!(queue.len(), capacity, "len() after a refused try_put");
    // A put on a full queue blocks until a get makes room.
    let putter = {
        let queue = Arc::clone(&queue);
        harness::spawn(move || queue.put(100))
    };
    thread::sleep(Duration::from_millis(30));
    ensure!(
        !putter.is_finished(),
        "put() on a full queue (capacity {capacity}) returned without waiting for room"
    );
    ensure_eq!(queue.len(), capacity, "len() while a put waits for room");
    ensure_eq!(queue.get(), 0, "the first item out (first in, first out)");
    within(LIMIT, "put() once room was made", move || {
        join_all([putter])
    });
    let mut out = Vec::new();
    while let Some(item) = queue.try_get() {
        out.push(item);
    }
    let expected: Vec<_> = (1..capacity).chain([100]).collect();
    ensure_eq!(out, expected, "items out of the queue in order");
    ensure!(
        queue.is_empty(),
        "is_empty() is false after taking every item"
    );
    // A get on an empty queue blocks until a put.
    let getter = {
        let queue = Arc::clone(&queue);
        harness::spawn(move || queue.get())
    };
    thread::sleep(Duration::from_millis(30));
    ensure!(!getter.is_finished(), "get() on an empty queue returned");
    queue.put(7);
    ensure_eq!(
        within(LIMIT, "get() once an item was put", move || join_all([
            getter
        ]))[0],
        7,
        "the item a blocked get() received"
    );
    // Unbounded.
    let unbounded = BoundedQueue::new(0);
    for item in 0..1000 {
        ensure!(
            unbounded.try_put(item).is_ok(),
            "try_put refused item {item} on an unbounded queue (capacity 0)"
        );
    }
    ensure_eq!(
        unbounded.len(),
        1000,
        "len() of an unbounded queue after 1000 puts"
    );
    ensure_eq!(
        unbounded.try_get(),
        Some(0),
        "try_get on the unbounded queue"
    );
}

fn queue_timeouts(t: &mut Trial) {
    let queue = Arc::new(BoundedQueue::new(1));
    let timeout = Duration::from_millis(t.rng().u64(10..40));
    let q = Arc::clone(&queue);
    let (got, waited) = within(LIMIT, "get_timeout on an empty queue", move || {
        let start = Instant::now();
        (q.get_timeout(timeout), start.elapsed())
    });
    ensure!(
        got.is_none() && waited >= timeout,
        "get_timeout({timeout:?}) on an empty queue returned {got:?} after {waited:?}"
    );
    ensure_eq!(queue.try_get(), None, "try_get on an empty queue");
    queue.put(1);
    let q = Arc::clone(&queue);
    let (put, waited) = within(LIMIT, "put_timeout on a full queue", move || {
        let start = Instant::now();
        (q.put_timeout(2, timeout), start.elapsed())
    });
    ensure!(
        put == Err(Full(2)) && waited >= timeout,
        "put_timeout(2, {timeout:?}) on a full queue returned {put:?} after {waited:?}"
    );
    ensure_eq!(queue.len(), 1, "len() after a put_timeout that timed out");
    ensure_eq!(
        queue.put_timeout(3, Duration::ZERO),
        Err(Full(3)),
        "put_timeout(0) on a full queue"
    );
    // Room made in time: the timed put succeeds; an item put in time: the timed get gets it.
    let putter = {
        let queue = Arc::clone(&queue);
        harness::spawn(move || queue.put_timeout(4, LONG))
    };
    thread::sleep(Duration::from_millis(t.rng().u64(1..10)));
    ensure_eq!(queue.get(), 1, "get");
    let put = within(LIMIT, "put_timeout once room was made", move || {
        join_all([putter])
    });
    ensure_eq!(put[0], Ok(()), "put_timeout(60 s) once room was made");
    ensure_eq!(
        queue.get_timeout(Duration::ZERO),
        Some(4),
        "get_timeout(0) on a queue holding 4"
    );
    let getter = {
        let queue = Arc::clone(&queue);
        harness::spawn(move || queue.get_timeout(LONG))
    };
    thread::sleep(Duration::from_millis(t.rng().u64(1..10)));
    queue.put(5);
    let got = within(LIMIT, "get_timeout once an item was put", move || {
        join_all([getter])
    });
    ensure_eq!(got[0], Some(5), "get_timeout(60 s) once an item was put");
}

fn queue_task_done_join(t: &mut Trial) {
    let queue = Arc::new(BoundedQueue::new(0));
    let q = Arc::clone(&queue);
    within(LIMIT, "join() on a queue nothing was put in", move || {
        q.join()
    });
    let items = t.rng().usize(2..=5);
    for item in 0..items {
        queue.put(item);
    }
    let joiners: Vec<_> = (0..2)
        .map(|_| {
            let queue = Arc::clone(&queue);
            harness::spawn(move || queue.join())
        })
        .collect();
    for done in 0..items {
        let _ = queue.get();
        thread::sleep(Duration::from_millis(5));
        ensure!(
            joiners.iter().all(|j| !j.is_finished()),
            "join() returned after {done} of {items} items were marked done"
        );
        queue.task_done();
    }
    within(LIMIT, "join() once every item was marked done", move || {
        join_all(joiners)
    });
    // One task_done too many: a panic, and the queue stays usable (its lock was released).
    let q = Arc::clone(&queue);
    let panicked = within(LIMIT, "task_done() with no unfinished item", move || {
        panic::catch_unwind(AssertUnwindSafe(|| q.task_done())).is_err()
    });
    ensure!(
        panicked,
        "task_done() called more times than items were put did not panic"
    );
    let q = Arc::clone(&queue);
    within(LIMIT, "the queue after task_done() panicked", move || {
        q.put(1);
        let _ = q.get();
        q.task_done();
        q.join();
    });
}

fn queue_mpmc(t: &mut Trial) {
    // Producers and consumers start together, or one side first (until it blocks: consumers on
    // an empty queue, producers on a full one), so that many waiters of one kind are queued
    // when the other kind arrives.
    let capacity = [0, 1, 1, 2, 3, 4][t.rng().usize(0..6)];
    let producers = t.rng().usize(1..=4);
    let consumers = t.rng().usize(1..=4);
    let order = t.rng().usize(0..3);
    let per_producer = 120;
    let queue = Arc::new(BoundedQueue::new(capacity));
    let producer_gate = Arc::new(Barrier::new(producers + 1));
    let consumer_gate = Arc::new(Barrier::new(consumers + 1));
    let through = Arc::new(AtomicUsize::new(0));
    let (tid_tx, tid_rx) = mpsc::channel();
    let over = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let monitor = {
        let (queue, over, stop) = (Arc::clone(&queue), Arc::clone(&over), Arc::clone(&stop));
        harness::spawn(move || {
            while !stop.load(SeqCst) {
                let len = queue.len();
                if capacity != 0 && len > capacity {
                    over.fetch_max(len, SeqCst);
                }
                thread::yield_now();
            }
        })
    };
    let producer_handles: Vec<_> = (0..producers)
        .map(|p| {
            let (queue, gate, through, tid_tx) = (
                Arc::clone(&queue),
                Arc::clone(&producer_gate),
                Arc::clone(&through),
                tid_tx.clone(),
            );
            let timed = t.rng().bool();
            harness::spawn(move || {
                tid_tx.send((true, KernelTid::current())).unwrap();
                gate.wait();
                through.fetch_add(1, SeqCst);
                for i in 0..per_producer {
                    if timed {
                        ensure!(
                            queue.put_timeout(Some((p, i)), LONG).is_ok(),
                            "put_timeout(60 s) failed"
                        );
                    } else {
                        queue.put(Some((p, i)));
                    }
                }
            })
        })
        .collect();
    let consumer_handles: Vec<_> = (0..consumers)
        .map(|_| {
            let (queue, gate, through, tid_tx) = (
                Arc::clone(&queue),
                Arc::clone(&consumer_gate),
                Arc::clone(&through),
                tid_tx.clone(),
            );
            let timed = t.rng().bool();
            harness::spawn(move || {
                tid_tx.send((false, KernelTid::current())).unwrap();
                gate.wait();
                through.fetch_add(1, SeqCst);
                let mut got = Vec::new();
                loop {
                    let item = if timed {
                        match queue.get_timeout(LONG) {
                            Some(item) => item,
                            None => fail!("get_timeout(60 s) returned None"),
                        }
                    } else {
                        queue.get()
                    };
                    match item {
                        Some(item) => got.push(item),
                        None => {
                            // Every item and the end marker are done (join is checked below).
                            for _ in 0..=got.len() {
                                queue.task_done();
                            }
                            return got;
                        }
                    }
                }
            })
        })
        .collect();
    let tids: Vec<_> = (0..producers + consumers)
        .map(|_| tid_rx.recv().unwrap())
        .collect();
    let group = move |producer: bool| -> Vec<KernelTid> {
        tids.iter()
            .filter(|(p, _)| *p == producer)
            .map(|(_, tid)| tid.clone())
            .collect()
    };
    let (first, second) = match order {
        1 => (Some((consumer_gate, group(false))), producer_gate),
        2 => (Some((producer_gate, group(true))), consumer_gate),
        _ => {
            // Together: open both gates at once (one after the other, no waiting).
            consumer_gate.wait();
            (None, producer_gate)
        }
    };
    let started = Arc::clone(&through);
    let release = move || {
        if let Some((gate, tids)) = first {
            let n = tids.len();
            gate.wait();
            // Until the first side has passed its gate and sleeps (or finished), at most 1 s.
            wait_until(Duration::from_secs(1), || {
                started.load(SeqCst) == n && tids.iter().all(|tid| tid.is_asleep() || tid.is_gone())
            });
        }
        second.wait();
    };
    let what = format!(
        "{producers} producers and {consumers} consumers on a BoundedQueue of capacity \
         {capacity}{} (a notify that woke the wrong kind of waiter, or a lost wake-up?)",
        ["", ", consumers first", ", producers first"][order]
    );
    let results = {
        let queue = Arc::clone(&queue);
        within(LIMIT * 2, &what, move || {
            release();
            join_all(producer_handles);
            for _ in 0..consumers {
                queue.put(None);
            }
            let results = join_all(consumer_handles);
            queue.join();
            results
        })
    };
    stop.store(true, SeqCst);
    within(LIMIT, "the monitor", move || join_all([monitor]));
    let over = over.load(SeqCst);
    ensure!(
        over == 0,
        "the queue held {over} items, above its capacity {capacity}"
    );
    let mut seen = HashSet::new();
    for got in results {
        let mut last: Vec<Option<usize>> = vec![None; producers];
        for (p, i) in got {
            ensure!(
                last[p].is_none_or(|l| l < i),
                "a consumer got item {i} of producer {p} after item {:?} (not FIFO)",
                last[p]
            );
            last[p] = Some(i);
            ensure!(
                seen.insert((p, i)),
                "item {i} of producer {p} was received twice"
            );
        }
    }
    ensure_eq!(
        seen.len(),
        producers * per_producer,
        "distinct items received"
    );
    ensure!(
        queue.is_empty(),
        "the queue is not empty after every item was received"
    );
}

// ---------------------------------------------------------------------------------------------
// Performance.

fn blocked_waiters_sleep(t: &mut Trial) {
    t.perturb(0);
    let condition = Arc::new(Condition::new(Log::default()));
    let empty = Arc::new(BoundedQueue::new(1));
    let full = Arc::new(BoundedQueue::new(1));
    full.put(0);
    let (tx, rx) = mpsc::channel();
    let mut handles = Vec::new();
    for id in 0..3 {
        let (condition, tx) = (Arc::clone(&condition), tx.clone());
        handles.push(harness::spawn(move || {
            tx.send(KernelTid::current()).unwrap();
            let mut log = condition.lock();
            log.entered.push(id);
            if id == 0 {
                log.wait();
            } else {
                log.wait_timeout(LONG);
            }
        }));
    }
    for timed in [false, true] {
        let (empty, full, tx1, tx2) = (
            Arc::clone(&empty),
            Arc::clone(&full),
            tx.clone(),
            tx.clone(),
        );
        handles.push(harness::spawn(move || {
            tx1.send(KernelTid::current()).unwrap();
            let _ = if timed {
                empty.get_timeout(LONG)
            } else {
                Some(empty.get())
            };
        }));
        handles.push(harness::spawn(move || {
            tx2.send(KernelTid::current()).unwrap();
            if timed {
                let _ = full.put_timeout(1, LONG);
            } else {
                full.put(1);
            }
        }));
    }
    let tids: Vec<_> = (0..handles.len()).map(|_| rx.recv().unwrap()).collect();
    // Whether or not they fall asleep, measure: a spinner shows in the CPU time.
    wait_until(Duration::from_secs(1), || {
        condition
            .try_lock()
            .is_some_and(|log| log.entered.len() == 3)
            && tids.iter().all(KernelTid::is_asleep)
    });
    let window = Duration::from_millis(300);
    let before = Usage::now();
    thread::sleep(window);
    let used = Usage::now().since(before);
    within(LIMIT, "waking the blocked threads", move || {
        condition.lock().notify_all();
        empty.put(1);
        empty.put(2);
        let _ = full.get();
        let _ = full.get();
        join_all(handles);
    });
    ensure!(
        used.cpu <= Duration::from_millis(60),
        "3 Condition waiters, 2 getters on an empty queue and 2 putters on a full one used \
         {:?} of CPU in {window:?} (blocked threads must sleep, not spin)",
        used.cpu
    );
    ensure!(
        used.context_switches <= POLLING,
        "7 blocked threads made {} context switches in {window:?} (polling with short sleeps \
         instead of sleeping until woken?)",
        used.context_switches
    );
}

// Explored scenarios (see `harness::explore`): a few threads and operations, run under the
// schedules an exploration chooses, where every operation on a lock is a scheduling point.

/// A producer hands two items to a consumer through a Condition, one `notify(1)` each: the
/// consumer must get both, whenever it checks and sleeps.
fn producer_consumer_scenario() {
    let condition = Arc::new(Condition::new(VecDeque::new()));
    let producer = {
        let condition = Arc::clone(&condition);
        explore::spawn(move || {
            for item in 0..2 {
                let mut guard = condition.lock();
                guard.push_back(item);
                guard.notify(1);
            }
        })
    };
    let consumer = {
        let condition = Arc::clone(&condition);
        explore::spawn(move || {
            let mut got = Vec::new();
            for _ in 0..2 {
                let mut guard = condition.lock();
                while guard.is_empty() {
                    guard.wait();
                }
                got.extend(guard.pop_front());
            }
            got
        })
    };
    explore::join_all(vec![producer]);
    let got = explore::join_all(vec![consumer]).remove(0);
    ensure_eq!(got, vec![0, 1], "the items the consumer took, in order");
}

/// Who is in the condition's queue, and who left it, in order.
#[derive(Default)]
struct Queue {
    waiting: Vec<usize>,
    woken: Vec<usize>,
}

/// Two waiters queue up in some order; `notify(1)` must wake the older one and only it, a
/// `notify(0)` none, then `notify(1)` the other.
fn fifo_scenario() {
    let condition = Arc::new(Condition::new(Queue::default()));
    let waiters = (0..2)
        .map(|id| {
            let condition = Arc::clone(&condition);
            explore::spawn(move || {
                let mut guard = condition.lock();
                guard.waiting.push(id);
                // One wait, no loop: a Condition does not wake without a notify.
                guard.wait();
                guard.woken.push(id);
            })
        })
        .collect();
    // Both are queued once both arrived: each arrives and starts waiting under the lock.
    let mut guard = condition.lock();
    while guard.waiting.len() < 2 {
        drop(guard);
        harness::blocks::thread::yield_now();
        guard = condition.lock();
    }
    let first = guard.waiting[0];
    guard.notify(0);
    guard.notify(1);
    while guard.woken.is_empty() {
        drop(guard);
        harness::blocks::thread::yield_now();
        guard = condition.lock();
    }
    ensure_eq!(
        guard.woken,
        vec![first],
        "the waiters woken by notify(0) then notify(1), the oldest being {first}"
    );
    guard.notify(1);
    drop(guard);
    explore::join_all(waiters);
    ensure_eq!(condition.lock().woken.len(), 2, "waiters woken in all");
}

/// Two threads take turns through a Condition, twice each, with `notify_all`.
fn ping_pong_scenario() {
    let turn = Arc::new(Condition::new(0usize));
    let shared = Arc::clone(&turn);
    explore::each(2, move |me| {
        for _ in 0..2 {
            let mut guard = shared.lock();
            while *guard % 2 != me {
                guard.wait();
            }
            *guard += 1;
            guard.notify_all();
        }
    });
    ensure_eq!(*turn.lock(), 4, "turns taken");
}

/// Two producers put two items each into a BoundedQueue of 1 while two consumers take two
/// each: every item arrives once.
fn mpmc_scenario() {
    let queue = Arc::new(BoundedQueue::new(1));
    let mut workers: Vec<_> = (0..2)
        .map(|p| {
            let queue = Arc::clone(&queue);
            explore::spawn(move || {
                for i in 0..2 {
                    queue.put(10 * p + i);
                }
                Vec::new()
            })
        })
        .collect();
    workers.extend((0..2).map(|_| {
        let queue = Arc::clone(&queue);
        explore::spawn(move || (0..2).map(|_| queue.get()).collect::<Vec<usize>>())
    }));
    let mut got: Vec<usize> = explore::join_all(workers).into_iter().flatten().collect();
    got.sort_unstable();
    ensure_eq!(
        got,
        vec![0, 1, 10, 11],
        "the items the consumers took, sorted"
    );
}

fn main() {
    harness::main(harness::checks![
        guard_basics,
        notify_exact_count_fifo explored fifo_scenario,
        notify_not_remembered,
        wait_timeout_reacquires,
        huge_timeouts,
        timed_out_waiter_absorbs_nothing,
        wait_for_semantics,
        no_spurious_wakeups,
        ping_pong explored_liveness ping_pong_scenario,
        condition_producer_consumer explored_liveness producer_consumer_scenario,
        timeouts_and_notifies,
        queue_basics,
        queue_timeouts,
        queue_task_done_join,
        queue_mpmc explored_liveness mpmc_scenario,
        blocked_waiters_sleep,
    ])
}
