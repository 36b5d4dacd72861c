//! Hidden checks of 08_barrier: Python's `threading.Barrier` (generations that never mix, arrival
//! indices, the action once per generation and before the release, breaking by timeout, abort,
//! reset and a panicking action without leaving anybody asleep, `n_waiting`, sleeping waiters)
//! and `smooth` (bit for bit equal to the sequential computation).

use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use barrier::{smooth, Barrier, BrokenBarrierError};
use harness::{
    ensure, ensure_eq, explore, fail, join_all, join_all_within, settle_until, wait_until, within,
    Trial, Usage, Worker,
};

/// Context switches the whole process may make while its waiters should all be asleep (300 ms):
/// sleeping threads make none and the measuring thread's own sleep makes one, while a waiter
/// that polls, even with naps of 50 ms, makes several each.
const POLLING: u64 = 20;

/// How long a call that should return may block before the check calls it a deadlock.
const PATIENCE: Duration = Duration::from_secs(4);
/// Long enough never to expire during a trial.
const LONG: Duration = Duration::from_secs(60);
/// How long `settle_until` lets waiters that are in place go to sleep.
const SETTLE_PAUSE: Duration = Duration::from_millis(5);

/// Spawns a thread that calls `barrier.wait()` (or `wait_timeout`, if given) once.
fn waiter(
    barrier: &Arc<Barrier>,
    timeout: Option<Duration>,
) -> Worker<Result<usize, BrokenBarrierError>> {
    let barrier = Arc::clone(barrier);
    harness::spawn(move || match timeout {
        Some(timeout) => barrier.wait_timeout(timeout),
        None => barrier.wait(),
    })
}

/// Runs one full generation of `parties` fresh threads; returns their indices, sorted.
fn full_generation(barrier: &Arc<Barrier>, parties: usize, what: &str) -> Vec<usize> {
    let handles: Vec<_> = (0..parties).map(|_| waiter(barrier, Some(LONG))).collect();
    let mut indices: Vec<usize> = join_all_within(PATIENCE, what, handles)
        .into_iter()
        .map(|r| match r {
            Ok(index) => index,
            Err(BrokenBarrierError) => fail!("{what}: a wait() of a full generation returned Err"),
        })
        .collect();
    indices.sort_unstable();
    indices
}

// ---------------------------------------------------------------------------------------------
// stress

/// Many generations, random party counts: each thread counts its arrivals in a shared counter
/// before waiting; after `wait` of generation g, every thread of generation g must have arrived
/// (nobody is released early) and the indices of each generation are 0..parties.
fn reusable_generations(t: &mut Trial) {
    let parties = t.rng().usize(2..=6);
    let generations = t.rng().usize(150..=300);
    let barrier = Arc::new(Barrier::new(parties));
    let arrived = Arc::new(AtomicUsize::new(0));
    let indices = Arc::new(Mutex::new(vec![vec![0usize; parties]; generations]));
    let progress = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..parties)
        .map(|_| {
            let (barrier, arrived, indices, progress) = (
                Arc::clone(&barrier),
                Arc::clone(&arrived),
                Arc::clone(&indices),
                Arc::clone(&progress),
            );
            harness::spawn(move || {
                for generation in 0..generations {
                    arrived.fetch_add(1, SeqCst);
                    let index = match barrier.wait() {
                        Ok(index) => index,
                        Err(BrokenBarrierError) => fail!(
                            "generation {generation} of a {parties}-party barrier: wait() \
                             returned Err, but nothing broke the barrier"
                        ),
                    };
                    let seen = arrived.load(SeqCst);
                    let (low, high) = (parties * (generation + 1), parties * (generation + 2) - 1);
                    ensure!(
                        seen >= low,
                        "a thread left generation {generation} of a {parties}-party barrier when \
                         only {} arrivals of that generation had happened: released before \
                         everyone arrived (does a waiter wait for its generation to end, or for \
                         a count that fast threads already changed?)",
                        seen as isize - (parties * generation) as isize
                    );
                    ensure!(
                        seen <= high,
                        "a thread left generation {generation} after {seen} arrivals in all \
                         (at most {high} possible): generations mixed"
                    );
                    ensure!(
                        index < parties,
                        "wait() returned index {index} on a {parties}-party barrier"
                    );
                    indices.lock().unwrap()[generation][index] += 1;
                    progress.fetch_add(1, SeqCst);
                }
            })
        })
        .collect();
    let total = parties * generations;
    // No progress for PATIENCE: a lost wake-up (or a barrier that works only once).
    let mut last = usize::MAX;
    while !handles.iter().all(|h| h.is_finished()) {
        let now = progress.load(SeqCst);
        if now == last {
            fail!(
                "{parties} threads passing a {parties}-party barrier {generations} times got \
                 stuck after {now} of {total} passes (generation {}): a waiter slept through its \
                 release, or the barrier does not start a new generation after each release",
                now / parties
            );
        }
        last = now;
        let _ = wait_until(PATIENCE, || {
            progress.load(SeqCst) != now || handles.iter().all(|h| h.is_finished())
        });
    }
    join_all(handles);
    let indices = indices.lock().unwrap();
    for (generation, counts) in indices.iter().enumerate() {
        if counts.iter().any(|&c| c != 1) {
            let handed: Vec<String> = counts
                .iter()
                .enumerate()
                .map(|(index, count)| format!("{index}: {count}x"))
                .collect();
            fail!(
                "generation {generation} of a {parties}-party barrier handed out the indices \
                 [{}]: every index 0..{parties} must go to exactly one thread",
                handed.join(", ")
            );
        }
    }
}

/// Breaking under load: threads pass generations in a loop until `wait` fails; an `abort()` at
/// a random moment, or a party that comes late to a barrier with a timeout, must stop every one
/// of them (nobody sleeps on at a broken barrier). Then `reset` makes it usable again.
fn breaks_under_stress(t: &mut Trial) {
    let parties = t.rng().usize(2..=5);
    let by_timeout = t.rng().bool();
    let delay = Duration::from_micros(t.rng().u64(0..=3_000));
    let late_thread = t.rng().usize(0..parties);
    let late_generation = t.rng().usize(0..20);
    let timeout = Duration::from_millis(30);
    let barrier = Arc::new(Barrier::new(parties));
    let handles: Vec<_> = (0..parties)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            harness::spawn(move || {
                let mut passed = 0;
                loop {
                    let result = if by_timeout {
                        if i == late_thread && passed == late_generation {
                            thread::sleep(timeout * 4);
                        }
                        barrier.wait_timeout(timeout)
                    } else {
                        barrier.wait()
                    };
                    match result {
                        Ok(_) => passed += 1,
                        Err(BrokenBarrierError) => return passed,
                    }
                }
            })
        })
        .collect();
    let how = if by_timeout {
        format!("thread {late_thread} came {:?} late to generation {late_generation} of a barrier whose waits time out after {timeout:?}", timeout * 4)
    } else {
        thread::sleep(delay);
        barrier.abort();
        format!("abort() was called after {delay:?}")
    };
    let passed = join_all_within(
        PATIENCE,
        &format!("{parties} threads waiting in a loop until Err, and {how}"),
        handles,
    );
    ensure!(
        barrier.broken(),
        "after {how}, broken() is false (passes per thread: {passed:?})"
    );
    ensure_eq!(
        barrier.n_waiting(),
        0,
        "n_waiting() of a broken barrier (after {how})"
    );
    ensure_eq!(
        within(PATIENCE, "wait() on a broken barrier", {
            let barrier = Arc::clone(&barrier);
            move || barrier.wait_timeout(LONG)
        }),
        Err(BrokenBarrierError),
        "wait() on a broken barrier (after {how})"
    );
    barrier.reset();
    ensure!(!barrier.broken(), "broken() is still true after reset()");
    let indices = full_generation(&barrier, parties, "a generation after reset()");
    ensure_eq!(
        indices,
        (0..parties).collect::<Vec<_>>(),
        "the indices of a generation after reset()"
    );
}

// ---------------------------------------------------------------------------------------------
// functionality

/// Threads arrive one at a time: each gets its arrival index, the last gets parties-1 (and runs
/// the action, if any).
fn arrival_indices(t: &mut Trial) {
    let parties = t.rng().usize(2..=7);
    let with_action = t.rng().bool();
    let action_thread: Arc<Mutex<Option<ThreadId>>> = Arc::new(Mutex::new(None));
    let barrier = Arc::new(if with_action {
        let action_thread = Arc::clone(&action_thread);
        Barrier::with_action(parties, move || {
            *action_thread.lock().unwrap() = Some(thread::current().id());
        })
    } else {
        Barrier::new(parties)
    });
    ensure_eq!(barrier.parties(), parties, "parties()");
    let baseline = harness::sleeping_threads();
    let mut handles = Vec::new();
    for k in 0..parties - 1 {
        handles.push(waiter(&barrier, None));
        settle_until(
            || barrier.n_waiting() == k + 1,
            baseline,
            k + 1,
            SETTLE_PAUSE,
        );
    }
    let last = {
        let barrier = Arc::clone(&barrier);
        harness::spawn(move || (barrier.wait(), thread::current().id()))
    };
    let (last_result, last_id) =
        join_all_within(PATIENCE, "the last arrival", vec![last]).remove(0);
    ensure_eq!(
        last_result,
        Ok(parties - 1),
        "the index returned to the last of {parties} threads to arrive"
    );
    let results = join_all_within(PATIENCE, "the released waiters", handles);
    for (k, result) in results.into_iter().enumerate() {
        ensure_eq!(
            result,
            Ok(k),
            "the index returned to the thread that arrived {} of {parties} (indices are \
             arrival order: 0 for the first)",
            ordinal(k + 1)
        );
    }
    if with_action {
        ensure!(
            *action_thread.lock().unwrap() == Some(last_id),
            "the action ran in another thread than the last one to arrive"
        );
    }
}

fn ordinal(n: usize) -> String {
    match n {
        1 => "1st".into(),
        2 => "2nd".into(),
        3 => "3rd".into(),
        n => format!("{n}th"),
    }
}

/// The action runs exactly once per generation, in the thread that gets the last index, and
/// before any thread of its generation is released (the action is slow on purpose, so that a
/// release before it ends is seen).
fn action_once_before_release(t: &mut Trial) {
    let parties = t.rng().usize(2..=5);
    let generations = t.rng().usize(20..=40);
    let runs = Arc::new(AtomicUsize::new(0));
    let runners: Arc<Mutex<Vec<ThreadId>>> = Arc::new(Mutex::new(Vec::new()));
    let barrier = {
        let (runs, runners) = (Arc::clone(&runs), Arc::clone(&runners));
        Arc::new(Barrier::with_action(parties, move || {
            thread::sleep(Duration::from_micros(300));
            runners.lock().unwrap().push(thread::current().id());
            runs.fetch_add(1, SeqCst);
        }))
    };
    let lasts: Arc<Mutex<HashMap<usize, ThreadId>>> = Arc::new(Mutex::new(HashMap::new()));
    let handles: Vec<_> = (0..parties)
        .map(|_| {
            let (barrier, runs, lasts) = (Arc::clone(&barrier), Arc::clone(&runs), Arc::clone(&lasts));
            harness::spawn(move || {
                for generation in 0..generations {
                    let before = runs.load(SeqCst);
                    ensure!(
                        before == generation,
                        "arriving in generation {generation}, the action had already run \
                         {before} times (it must run once per generation, by the last arrival)"
                    );
                    let index = barrier.wait().unwrap_or_else(|_| {
                        fail!("wait() returned Err in generation {generation}, but nothing broke the barrier")
                    });
                    let after = runs.load(SeqCst);
                    ensure!(
                        after == generation + 1,
                        "released from generation {generation}, a thread saw the action run \
                         {after} times (expected {}): the action must finish before anyone is \
                         released, and run once per generation",
                        generation + 1
                    );
                    if index == parties - 1 {
                        lasts.lock().unwrap().insert(generation, thread::current().id());
                    }
                }
            })
        })
        .collect();
    join_all_within(
        PATIENCE * 2,
        &format!("{parties} threads passing a barrier with an action {generations} times"),
        handles,
    );
    ensure_eq!(
        runs.load(SeqCst),
        generations,
        "the number of times the action ran"
    );
    let runners = runners.lock().unwrap().clone();
    let lasts = lasts.lock().unwrap();
    for (generation, runner) in runners.iter().enumerate() {
        ensure!(
            lasts.get(&generation) == Some(runner),
            "in generation {generation}, the action ran in another thread than the one that got \
             index {} (the last to arrive)",
            parties - 1
        );
    }
}

/// `n_waiting` counts the threads blocked in the current generation, and is 0 once they are
/// released or the barrier is broken.
fn n_waiting_counts(t: &mut Trial) {
    let parties = t.rng().usize(3..=6);
    let barrier = Arc::new(Barrier::new(parties));
    ensure_eq!(barrier.n_waiting(), 0, "n_waiting() of a new barrier");
    ensure!(!barrier.broken(), "a new barrier says broken() == true");
    for round in 0..2 {
        let mut handles = Vec::new();
        for k in 1..parties {
            handles.push(waiter(&barrier, None));
            let counted = wait_until(PATIENCE, || barrier.n_waiting() == k);
            ensure!(
                counted,
                "with {k} threads blocked in wait() (round {round}), n_waiting() stays at {}",
                barrier.n_waiting()
            );
        }
        if round == 0 {
            let last = waiter(&barrier, None);
            join_all_within(PATIENCE, "the last arrival", vec![last]);
            join_all_within(PATIENCE, "the released waiters", handles);
            ensure_eq!(
                barrier.n_waiting(),
                0,
                "n_waiting() after a generation passed"
            );
        } else {
            barrier.abort();
            ensure_eq!(barrier.n_waiting(), 0, "n_waiting() right after abort()");
            join_all_within(PATIENCE, "the waiters of an aborted barrier", handles);
            ensure_eq!(barrier.n_waiting(), 0, "n_waiting() of a broken barrier");
        }
    }
}

/// Sequential definition of `smooth`.
fn smooth_sequential(values: &[f64], steps: usize) -> Vec<f64> {
    let mut current = values.to_vec();
    for _ in 0..steps {
        let old = current.clone();
        for i in 1..old.len().saturating_sub(1) {
            current[i] = (old[i - 1] + old[i] + old[i + 1]) / 3.0;
        }
    }
    current
}

/// `smooth` equals the sequential computation bit for bit, for any number of threads.
fn smooth_bit_for_bit(t: &mut Trial) {
    for case in 0..6 {
        let len = match case {
            0 => t.rng().usize(0..=3),
            1 => t.rng().usize(4..=12),
            _ => t.rng().usize(13..=400),
        };
        let steps = t.rng().usize(0..=40);
        let threads = match case % 3 {
            0 => 1,
            1 => t.rng().usize(2..=4),
            _ => t.rng().usize(1..=len + 8),
        };
        let values: Vec<f64> = (0..len)
            .map(|_| (t.rng().f64() - 0.5) * 10f64.powi(t.rng().i32(-3..=6)))
            .collect();
        let expected = smooth_sequential(&values, steps);
        let given = values.clone();
        let got = within(
            PATIENCE,
            &format!("smooth of {len} values, {steps} steps, {threads} threads"),
            move || smooth(&given, steps, threads),
        );
        ensure_eq!(
            got.len(),
            len,
            "the length of smooth(values of length {len}, {steps}, {threads})"
        );
        if let Some(i) = (0..len).find(|&i| got[i].to_bits() != expected[i].to_bits()) {
            fail!(
                "smooth({len} values, {steps} steps, {threads} threads): value {i} is {:e}, the \
                 sequential computation gives {:e}. Each round must read only the previous \
                 round's values (two buffers), and no thread may start round r+1 before all \
                 finished round r (a barrier)",
                got[i],
                expected[i]
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// robustness

/// A wait that times out breaks the barrier for everyone, and returns no earlier than its
/// timeout; the default timeout applies to `wait`, an explicit one overrides it; a zero timeout
/// from a waiting party breaks at once; `Duration::MAX` means no timeout.
fn timeout_breaks_for_everyone(t: &mut Trial) {
    // At least two patient waiters besides the one that times out.
    let parties = t.rng().usize(4..=6);
    let timeout = Duration::from_millis(t.rng().u64(30..=80));
    let use_default = t.rng().bool();
    let barrier = Arc::new(if use_default {
        Barrier::new(parties).with_timeout(timeout)
    } else {
        Barrier::new(parties)
    });
    let baseline = harness::sleeping_threads();
    // parties-2 patient waiters, then one with the timeout: one party never comes.
    let patient: Vec<_> = (0..parties - 2)
        .map(|_| waiter(&barrier, Some(LONG)))
        .collect();
    settle_until(
        || barrier.n_waiting() == parties - 2,
        baseline,
        parties - 2,
        SETTLE_PAUSE,
    );
    let timed = {
        let barrier = Arc::clone(&barrier);
        harness::spawn(move || {
            let started = Instant::now();
            let result = if use_default {
                barrier.wait()
            } else {
                barrier.wait_timeout(timeout)
            };
            (result, started.elapsed())
        })
    };
    let call = if use_default {
        format!("wait() with a default timeout of {timeout:?}")
    } else {
        format!("wait_timeout({timeout:?})")
    };
    let (result, waited) = join_all_within(PATIENCE, &call, vec![timed]).remove(0);
    ensure_eq!(
        result,
        Err(BrokenBarrierError),
        "{call} with a party missing"
    );
    ensure!(
        waited >= timeout,
        "{call} with a party missing returned after {waited:?}: earlier than its timeout"
    );
    let others = join_all_within(
        PATIENCE,
        &format!(
            "after {call} timed out, the other waiters (a timeout breaks the barrier for everyone)"
        ),
        patient,
    );
    for result in others {
        ensure_eq!(
            result,
            Err(BrokenBarrierError),
            "a waiter of a barrier broken by {call} timing out"
        );
    }
    ensure!(
        barrier.broken(),
        "after {call} timed out, broken() is false"
    );
    barrier.reset();
    let indices = full_generation(&barrier, parties, "a generation after reset()");
    ensure_eq!(
        indices,
        (0..parties).collect::<Vec<_>>(),
        "indices after reset()"
    );

    // An explicit timeout overrides the default.
    let barrier = Arc::new(Barrier::new(2).with_timeout(Duration::from_millis(10)));
    let patient = waiter(&barrier, Some(LONG));
    settle_until(
        || barrier.n_waiting() == 1,
        harness::sleeping_threads().saturating_sub(1),
        1,
        SETTLE_PAUSE,
    );
    thread::sleep(Duration::from_millis(60));
    ensure_eq!(
        barrier.wait_timeout(LONG),
        Ok(1),
        "wait_timeout(60 s) of the last party, 60 ms after the first party called \
         wait_timeout(60 s) on a barrier whose default timeout is 10 ms (the explicit timeout \
         overrides the default)"
    );
    ensure_eq!(
        join_all_within(PATIENCE, "the first party", vec![patient]).remove(0),
        Ok(0),
        "wait_timeout(60 s) of the first party, with a default timeout of 10 ms"
    );

    // Zero from a waiting party breaks at once; zero from the last party passes.
    let barrier = Arc::new(Barrier::new(2));
    let zero = within(PATIENCE, "wait_timeout(0) of the first party", {
        let barrier = Arc::clone(&barrier);
        move || barrier.wait_timeout(Duration::ZERO)
    });
    ensure_eq!(
        zero,
        Err(BrokenBarrierError),
        "wait_timeout(0) of a party that is not the last"
    );
    ensure!(
        barrier.broken(),
        "wait_timeout(0) of a waiting party did not break the barrier"
    );
    barrier.reset();
    let first = waiter(&barrier, Some(LONG));
    settle_until(
        || barrier.n_waiting() == 1,
        harness::sleeping_threads().saturating_sub(1),
        1,
        SETTLE_PAUSE,
    );
    ensure_eq!(
        barrier.wait_timeout(Duration::ZERO),
        Ok(1),
        "wait_timeout(0) of the last party (it does not need to wait)"
    );
    join_all_within(PATIENCE, "the first party", vec![first]);

    // Duration::MAX means no timeout (and no panic).
    let barrier = Arc::new(Barrier::new(2).with_timeout(Duration::MAX));
    let first = waiter(&barrier, None);
    settle_until(
        || barrier.n_waiting() == 1,
        harness::sleeping_threads().saturating_sub(1),
        1,
        SETTLE_PAUSE,
    );
    let last = within(PATIENCE, "wait_timeout(Duration::MAX)", {
        let barrier = Arc::clone(&barrier);
        move || barrier.wait_timeout(Duration::MAX)
    });
    ensure_eq!(last, Ok(1), "wait_timeout(Duration::MAX) of the last party");
    ensure_eq!(
        join_all_within(
            PATIENCE,
            "wait() with a default timeout of Duration::MAX",
            vec![first]
        )
        .remove(0),
        Ok(0),
        "wait() with a default timeout of Duration::MAX"
    );
}

/// `abort` and `reset` wake every waiter with `Err`; an aborted barrier stays broken until
/// `reset`; after `reset`, the barrier works again.
fn reset_and_abort(t: &mut Trial) {
    // Misuse first: a barrier nobody can ever complete is refused at once, as Python's
    // `Barrier(0)` raises.
    ensure!(
        panic::catch_unwind(|| drop(Barrier::new(0))).is_err(),
        "Barrier::new(0) returned a barrier; a barrier needs at least one party, so it must panic"
    );
    for reset in [false, true] {
        // At least two waiters: waking only one of them is a bug to catch.
        let parties = t.rng().usize(3..=6);
        let waiting = t.rng().usize(2..parties);
        let barrier = Arc::new(Barrier::new(parties));
        let baseline = harness::sleeping_threads();
        let handles: Vec<_> = (0..waiting).map(|_| waiter(&barrier, None)).collect();
        settle_until(
            || barrier.n_waiting() == waiting,
            baseline,
            waiting,
            SETTLE_PAUSE,
        );
        let call = if reset { "reset()" } else { "abort()" };
        if reset {
            barrier.reset();
        } else {
            barrier.abort();
        }
        let results = join_all_within(
            PATIENCE,
            &format!("{waiting} threads waiting in a {parties}-party barrier, after {call}"),
            handles,
        );
        for result in results {
            ensure_eq!(
                result,
                Err(BrokenBarrierError),
                "wait() of a thread waiting when {call} was called"
            );
        }
        if reset {
            ensure!(!barrier.broken(), "after reset(), broken() is true");
        } else {
            ensure!(barrier.broken(), "after abort(), broken() is false");
            for _ in 0..2 {
                let late = within(PATIENCE, "wait() on an aborted barrier", {
                    let barrier = Arc::clone(&barrier);
                    move || barrier.wait_timeout(LONG)
                });
                ensure_eq!(
                    late,
                    Err(BrokenBarrierError),
                    "wait() on an aborted barrier (broken until reset)"
                );
            }
            barrier.reset();
            ensure!(
                !barrier.broken(),
                "after abort() then reset(), broken() is true"
            );
        }
        let indices = full_generation(&barrier, parties, &format!("a generation after {call}"));
        ensure_eq!(
            indices,
            (0..parties).collect::<Vec<_>>(),
            "the indices of a generation after {call}"
        );
    }
    // reset() of an idle barrier changes nothing.
    let barrier = Arc::new(Barrier::new(2));
    barrier.reset();
    ensure_eq!(
        full_generation(&barrier, 2, "a generation after reset() of an idle barrier"),
        vec![0, 1],
        "the indices after reset() of an idle barrier"
    );
}

/// A panicking action breaks the barrier: the other waiters get `Err`, the panic continues in
/// the thread that ran the action, and after `reset` the barrier (and its action) work again.
fn panicking_action(t: &mut Trial) {
    let parties = t.rng().usize(2..=5);
    let calls = Arc::new(AtomicUsize::new(0));
    let barrier = {
        let calls = Arc::clone(&calls);
        Arc::new(Barrier::with_action(parties, move || {
            if calls.fetch_add(1, SeqCst) == 0 {
                panic!("the action failed");
            }
        }))
    };
    let handles: Vec<_> = (0..parties)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            harness::spawn(move || {
                match panic::catch_unwind(AssertUnwindSafe(|| barrier.wait_timeout(LONG))) {
                    Ok(result) => Ok(result),
                    Err(payload) => Err(payload
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_default()),
                }
            })
        })
        .collect();
    let outcomes = join_all_within(
        PATIENCE,
        &format!("{parties} threads at a barrier whose action panics"),
        handles,
    );
    let panicked: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    ensure!(
        panicked.len() == 1,
        "{} threads panicked out of wait() when the action panicked (expected 1: the panic \
         continues in the thread that ran the action)",
        panicked.len()
    );
    ensure!(
        panicked[0].contains("the action failed"),
        "the thread that ran the action panicked with {:?} instead of the action's own panic",
        panicked[0]
    );
    for outcome in outcomes.iter().filter_map(|o| o.as_ref().ok()) {
        ensure_eq!(
            *outcome,
            Err(BrokenBarrierError),
            "wait() of a thread whose generation's action panicked"
        );
    }
    ensure!(
        barrier.broken(),
        "after the action panicked, broken() is false"
    );
    barrier.reset();
    let indices = full_generation(
        &barrier,
        parties,
        "a generation after the action panicked and reset()",
    );
    ensure_eq!(
        indices,
        (0..parties).collect::<Vec<_>>(),
        "indices after reset()"
    );
    ensure_eq!(
        calls.load(SeqCst),
        2,
        "the number of action calls (one that panicked, one after the reset)"
    );
}

// ---------------------------------------------------------------------------------------------
// performance

/// Threads blocked in `wait` sleep: no CPU, no polling.
fn waiters_sleep(_t: &mut Trial) {
    let barrier = Arc::new(Barrier::new(5));
    let baseline = harness::sleeping_threads();
    let handles: Vec<_> = (0..4).map(|_| waiter(&barrier, None)).collect();
    let release = |barrier: &Arc<Barrier>| {
        let barrier = Arc::clone(barrier);
        let (tx, rx) = mpsc::channel();
        harness::spawn(move || {
            let _ = tx.send(barrier.wait());
        });
        rx.recv_timeout(PATIENCE)
    };
    if !harness::wait_sleeping(baseline, 4, PATIENCE) {
        let _ = release(&barrier);
        let _ = wait_until(PATIENCE, || handles.iter().all(|h| h.is_finished()));
        fail!(
            "4 threads blocked in wait() never went to sleep within {PATIENCE:?}: a blocked \
             thread must sleep (a Condvar or a futex), not spin"
        );
    }
    let window = Duration::from_millis(300);
    let before = Usage::now();
    thread::sleep(window);
    let used = Usage::now().since(before);
    let released = release(&barrier);
    ensure!(released.is_ok(), "the 5th party's wait() did not return");
    join_all_within(PATIENCE, "the released waiters", handles);
    ensure!(
        used.cpu <= window / 8,
        "4 threads blocked in wait() burned {:?} of CPU in {window:?}: they must sleep, not spin",
        used.cpu
    );
    ensure!(
        used.context_switches <= POLLING,
        "4 threads blocked in wait() made {} context switches in {window:?}: they poll (sleep \
         and re-check) instead of sleeping until the barrier wakes them",
        used.context_switches
    );
}

// Explored scenarios (see `harness::explore`): a few threads and operations, run under the
// schedules an exploration chooses, where every operation on the barrier is a scheduling point.

/// Two threads pass a Barrier of 2 three times: each generation releases both, with the
/// indices 0 and 1 once each.
fn generations_scenario() {
    let barrier = Barrier::new(2);
    let indices = explore::each(2, move |_| {
        (0..3)
            .map(|generation| match barrier.wait() {
                Ok(index) => index,
                Err(BrokenBarrierError) => fail!("wait() in generation {generation} of a Barrier nobody broke returned BrokenBarrierError"),
            })
            .collect::<Vec<usize>>()
    });
    for (generation, (first, second)) in indices[0].iter().zip(&indices[1]).enumerate() {
        let mut seen = [*first, *second];
        seen.sort_unstable();
        ensure_eq!(
            seen,
            [0, 1],
            "the arrival indices of generation {generation}"
        );
    }
}

fn main() {
    harness::main(harness::checks![
        reusable_generations explored_liveness generations_scenario,
        breaks_under_stress,
        arrival_indices,
        action_once_before_release,
        n_waiting_counts,
        smooth_bit_for_bit,
        timeout_breaks_for_everyone,
        reset_and_abort,
        panicking_action,
        waiters_sleep,
    ])
}
