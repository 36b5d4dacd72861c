//! Hidden checks of 04_semaphore: `Semaphore`, `BoundedSemaphore`, `ConnectionPool`.
//!
//! Bug classes aimed at: check-then-act on the count (two threads take one permit) and on the
//! bound (two releases overshoot it), lost wake-ups (release_n waking one waiter), `if` instead
//! of `while` around a wait, early or ignored timeouts, `Duration::MAX`, a timed-out waiter that
//! takes a permit, spinning or polling waiters, a pool that hands one id out twice or serializes.

use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use harness::{
    ensure, ensure_eq, explore, fail, join_failing_fast, within, Trial, Worker, XorShift,
};
use semaphore::{BoundedSemaphore, ConnectionPool, Error, Semaphore};

/// Context switches the whole process may make while its waiters should all be asleep (300 ms):
/// sleeping threads make none and the measuring thread's own sleep makes one, while a waiter
/// that polls, even with naps of 50 ms, makes several each.
const POLLING: u64 = 20;

/// How long a call that should return at once (or soon) may take before it counts as blocked.
const LIMIT: Duration = Duration::from_secs(2);

/// Re-raises the failure of any worker that already ended with one (the others are left alone).
fn propagate_failures<T: 'static>(handles: &mut Vec<Worker<T>>) {
    let mut index = 0;
    while index < handles.len() {
        if handles[index].is_finished() {
            if let Err(payload) = handles.remove(index).join() {
                panic::resume_unwind(payload);
            }
        } else {
            index += 1;
        }
    }
}

/// Whether `f` panics (the panic is expected and swallowed).
fn panics(f: impl FnOnce()) -> bool {
    panic::catch_unwind(AssertUnwindSafe(f)).is_err()
}

/// Either semaphore, so that the shared checks run on both.
enum AnySem {
    Plain(Semaphore),
    Bounded(BoundedSemaphore),
}

impl AnySem {
    fn new(bounded: bool, value: usize) -> AnySem {
        if bounded {
            AnySem::Bounded(BoundedSemaphore::new(value))
        } else {
            AnySem::Plain(Semaphore::new(value))
        }
    }
    fn name(&self) -> &'static str {
        match self {
            AnySem::Plain(_) => "Semaphore",
            AnySem::Bounded(_) => "BoundedSemaphore",
        }
    }
    fn acquire(&self) {
        match self {
            AnySem::Plain(s) => s.acquire(),
            AnySem::Bounded(s) => s.acquire(),
        }
    }
    fn try_acquire(&self) -> bool {
        match self {
            AnySem::Plain(s) => s.try_acquire(),
            AnySem::Bounded(s) => s.try_acquire(),
        }
    }
    fn acquire_timeout(&self, timeout: Duration) -> bool {
        match self {
            AnySem::Plain(s) => s.acquire_timeout(timeout),
            AnySem::Bounded(s) => s.acquire_timeout(timeout),
        }
    }
    /// Releases `n` (one by `release()` when `n == 1` and `single`), failing the trial if a
    /// bounded semaphore refuses a release that fits under its bound.
    fn release_n(&self, n: usize, single: bool) {
        match self {
            AnySem::Plain(s) if single && n == 1 => s.release(),
            AnySem::Plain(s) => s.release_n(n),
            AnySem::Bounded(s) => {
                let result = if single && n == 1 {
                    s.release()
                } else {
                    s.release_n(n)
                };
                ensure_eq!(result, Ok(()), "BoundedSemaphore release of {n} permit(s) that fit under the bound (value {} before)", s.value());
            }
        }
    }
    fn value(&self) -> usize {
        match self {
            AnySem::Plain(s) => s.value(),
            AnySem::Bounded(s) => s.value(),
        }
    }
    /// Holds a permit guard while `f` runs.
    fn with_permit<R>(&self, f: impl FnOnce() -> R) -> R {
        match self {
            AnySem::Plain(s) => {
                let _permit = s.permit();
                f()
            }
            AnySem::Bounded(s) => {
                let _permit = s.permit();
                f()
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// functionality

/// Semaphore: counting, releases above the initial value, release_n, permits (also on panic).
fn semaphore_basics(t: &mut Trial) {
    let initial = t.rng().usize(0..=5);
    let extra = t.rng().usize(2..=5);
    within(
        LIMIT,
        "Semaphore operations that must not block",
        move || {
            let sem = Semaphore::new(initial);
            ensure_eq!(sem.value(), initial, "value() of Semaphore::new({initial})");
            for taken in 1..=initial {
                match taken % 3 {
                    0 => sem.acquire(),
                    1 => ensure!(
                        sem.try_acquire(),
                        "try_acquire() failed with {} permit(s) left",
                        initial - taken + 1
                    ),
                    _ => ensure!(
                        sem.acquire_timeout(Duration::ZERO),
                        "acquire_timeout(0) failed with {} permit(s) left",
                        initial - taken + 1
                    ),
                }
                ensure_eq!(
                    sem.value(),
                    initial - taken,
                    "value() after {taken} acquire(s) of Semaphore::new({initial})"
                );
            }
            ensure!(
                !sem.try_acquire(),
                "try_acquire() succeeded on a semaphore whose value is 0"
            );
            ensure!(
                !sem.acquire_timeout(Duration::ZERO),
                "acquire_timeout(0) succeeded on a semaphore whose value is 0"
            );
            ensure_eq!(
                sem.value(),
                0,
                "value() after failed attempts on an empty semaphore"
            );
            sem.release();
            ensure_eq!(sem.value(), 1, "value() after release()");
            sem.release_n(extra);
            ensure_eq!(
                sem.value(),
                1 + extra,
                "value() after release() and release_n({extra})"
            );
            for _ in 0..initial + 1 {
                sem.release();
            }
            ensure_eq!(sem.value(), initial + extra + 2, "value() after releasing past the initial value {initial} (a plain Semaphore allows it)");
            ensure!(
                panics(|| sem.release_n(0)),
                "release_n(0) did not panic (Python raises ValueError: n must be one or more)"
            );
            ensure_eq!(
                sem.value(),
                initial + extra + 2,
                "value() after a panicking release_n(0)"
            );
            {
                let _permit = sem.permit();
                ensure_eq!(
                    sem.value(),
                    initial + extra + 1,
                    "value() while a permit() guard is alive"
                );
            }
            ensure_eq!(
                sem.value(),
                initial + extra + 2,
                "value() after the permit() guard was dropped"
            );
            let before = sem.value();
            ensure!(
                panics(|| {
                    let _permit = sem.permit();
                    panic!("a panic while holding a permit");
                }),
                "the panic inside the permit's scope did not propagate"
            );
            ensure_eq!(sem.value(), before, "value() after a panic unwound through a permit() guard (the permit must be returned)");
        },
    );
}

/// BoundedSemaphore: refuses releases above its initial value, release_n all or nothing.
fn bounded_semantics(t: &mut Trial) {
    let initial = t.rng().usize(1..=6);
    let taken = t.rng().usize(1..=initial);
    within(
        LIMIT,
        "BoundedSemaphore operations that must not block",
        move || {
            let sem = BoundedSemaphore::new(initial);
            ensure_eq!(
                sem.value(),
                initial,
                "value() of BoundedSemaphore::new({initial})"
            );
            ensure_eq!(
                sem.release(),
                Err(Error::TooManyReleases),
                "release() of a BoundedSemaphore at its initial value"
            );
            ensure_eq!(
                sem.release_n(1),
                Err(Error::TooManyReleases),
                "release_n(1) of a BoundedSemaphore at its initial value"
            );
            ensure_eq!(
                sem.value(),
                initial,
                "value() after refused releases (a refused release changes nothing)"
            );
            for _ in 0..taken {
                sem.acquire();
            }
            ensure_eq!(
                sem.value(),
                initial - taken,
                "value() after {taken} acquire(s)"
            );
            ensure_eq!(
                sem.release_n(taken + 1),
                Err(Error::TooManyReleases),
                "release_n({}) with value {} and bound {initial}",
                taken + 1,
                initial - taken
            );
            ensure_eq!(
                sem.value(),
                initial - taken,
                "value() after a refused release_n (all or nothing: it must add none)"
            );
            ensure!(
                panics(|| {
                    let _ = sem.release_n(0);
                }),
                "BoundedSemaphore::release_n(0) did not panic"
            );
            ensure_eq!(
                sem.value(),
                initial - taken,
                "value() after a panicking release_n(0)"
            );
            ensure_eq!(
                sem.release_n(taken),
                Ok(()),
                "release_n({taken}) back up to the bound"
            );
            ensure_eq!(
                sem.value(),
                initial,
                "value() after releasing every permit taken"
            );
            ensure_eq!(
                sem.release(),
                Err(Error::TooManyReleases),
                "release() past the bound"
            );
            {
                let _permit = sem.permit();
                ensure_eq!(
                    sem.value(),
                    initial - 1,
                    "value() while a permit() guard is alive"
                );
                ensure!(
                    sem.acquire_timeout(Duration::ZERO) || initial == 1,
                    "acquire_timeout(0) failed with permits left"
                );
                if initial > 1 {
                    ensure_eq!(
                        sem.release(),
                        Ok(()),
                        "release() of the permit taken by acquire_timeout"
                    );
                }
            }
            ensure_eq!(
                sem.value(),
                initial,
                "value() after the permit() guard was dropped"
            );
            ensure!(
                panics(|| {
                    let _permit = sem.permit();
                    panic!("a panic while holding a permit");
                }),
                "the panic inside the permit's scope did not propagate"
            );
            ensure_eq!(
                sem.value(),
                initial,
                "value() after a panic unwound through a permit() guard"
            );
            ensure!(
                !Error::TooManyReleases.to_string().is_empty(),
                "Error's Display is empty"
            );
        },
    );
}

/// acquire_timeout / get_timeout: not early, not ignored, zero tries once, Duration::MAX, a
/// timed-out waiter takes nothing, a release during the wait ends it with true.
fn timeouts(t: &mut Trial) {
    for bounded in [false, true] {
        let wait = Duration::from_millis(t.rng().u64(20..=60));
        let sem = Arc::new(AnySem::new(bounded, 2));
        let name = sem.name();
        ensure!(
            within(LIMIT, "acquire_timeout(Duration::MAX) with permits free", {
                let sem = Arc::clone(&sem);
                move || sem.acquire_timeout(Duration::MAX) && sem.acquire_timeout(Duration::MAX)
            }),
            "{name}::acquire_timeout(Duration::MAX) returned false with a permit free"
        );
        ensure_eq!(sem.value(), 0, "{name}::value() after taking both permits");
        let zero = within(LIMIT, "acquire_timeout(0) on an empty semaphore", {
            let sem = Arc::clone(&sem);
            move || sem.acquire_timeout(Duration::ZERO)
        });
        ensure!(!zero, "{name}::acquire_timeout(0) succeeded with value 0");
        let (got, waited) = within(wait + LIMIT, "acquire_timeout on an empty semaphore", {
            let sem = Arc::clone(&sem);
            move || {
                let start = Instant::now();
                (sem.acquire_timeout(wait), start.elapsed())
            }
        });
        ensure!(
            !got,
            "{name}::acquire_timeout({wait:?}) succeeded with value 0 and no release"
        );
        ensure!(
            waited >= wait,
            "{name}::acquire_timeout({wait:?}) gave up early, after {waited:?}"
        );
        ensure_eq!(
            sem.value(),
            0,
            "{name}::value() after a timed-out acquire_timeout"
        );
        // The timed-out waiter must not take (or hold on to) the next permit.
        sem.release_n(1, true);
        thread::sleep(Duration::from_millis(5));
        ensure_eq!(sem.value(), 1, "{name}::value() after a release that followed a timed-out acquire_timeout (did the timed-out waiter take the permit?)");
        ensure!(
            sem.try_acquire(),
            "{name}::try_acquire() failed after a release"
        );

        // Waiters with a long and with no deadline, both ended by releases.
        let waiters: Vec<_> = [Duration::from_secs(30), Duration::MAX]
            .into_iter()
            .map(|timeout| {
                let sem = Arc::clone(&sem);
                harness::spawn(move || {
                    let start = Instant::now();
                    let got = sem.acquire_timeout(timeout);
                    ensure!(got, "{name}::acquire_timeout({timeout:?}) returned false although permits were released during the wait");
                    start.elapsed()
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(20));
        sem.release_n(2, false);
        let waited = join_failing_fast(
            LIMIT * 2,
            "acquire_timeout(30 s) and acquire_timeout(Duration::MAX) after release_n(2)",
            waiters,
        );
        ensure!(waited[0] < Duration::from_secs(10), "{name}::acquire_timeout(30 s) returned only after {:?} though permits came after ~20 ms: does it sleep out the whole timeout?", waited[0]);
        ensure_eq!(
            sem.value(),
            0,
            "{name}::value() after two waiters took the two released permits"
        );
    }

    // The pool's get_timeout.
    let pool = Arc::new(ConnectionPool::new(1));
    let held = within(LIMIT, "ConnectionPool::get() with a connection free", {
        let pool = Arc::clone(&pool);
        move || pool.get().id()
    });
    // The connection was dropped inside `within`; take it for real on this thread.
    ensure_eq!(
        held,
        0,
        "the id of the only connection of ConnectionPool::new(1)"
    );
    let connection = pool.get_timeout(Duration::MAX);
    ensure!(
        connection.is_some(),
        "get_timeout(Duration::MAX) returned None with a connection free"
    );
    let wait = Duration::from_millis(t.rng().u64(20..=60));
    let (none, waited) = within(wait + LIMIT, "get_timeout on an exhausted pool", {
        let pool = Arc::clone(&pool);
        move || {
            let start = Instant::now();
            (pool.get_timeout(wait).is_none(), start.elapsed())
        }
    });
    ensure!(
        none,
        "get_timeout({wait:?}) returned a connection while the only one was out"
    );
    ensure!(
        waited >= wait,
        "get_timeout({wait:?}) gave up early, after {waited:?}"
    );
    let waiter = {
        let pool = Arc::clone(&pool);
        harness::spawn(move || pool.get_timeout(Duration::from_secs(30)).map(|c| c.id()))
    };
    thread::sleep(Duration::from_millis(20));
    drop(connection);
    let got = join_failing_fast(
        LIMIT,
        "get_timeout(30 s) after a connection was returned",
        vec![waiter],
    );
    ensure_eq!(
        got[0],
        Some(0),
        "get_timeout(30 s) after the only connection was returned"
    );
    ensure_eq!(
        pool.available(),
        1,
        "available() after every connection was returned"
    );
}

/// ConnectionPool: ids, available(), exhaustion, reuse.
fn pool_semantics(t: &mut Trial) {
    let size = t.rng().usize(1..=6);
    let give_back = t.rng().usize(0..size);
    within(
        LIMIT * 2,
        "ConnectionPool operations that must not block",
        move || {
            let pool = ConnectionPool::new(size);
            ensure_eq!(
                pool.available(),
                size,
                "available() of ConnectionPool::new({size})"
            );
            let mut out = Vec::new();
            for n in 1..=size {
                out.push(if n % 2 == 0 {
                    pool.get()
                } else {
                    pool.get_timeout(Duration::ZERO).unwrap_or_else(|| {
                        fail!(
                            "get_timeout(0) returned None with {} connection(s) free",
                            size - n + 1
                        )
                    })
                });
                ensure_eq!(
                    pool.available(),
                    size - n,
                    "available() with {n} connection(s) out"
                );
            }
            let ids: HashSet<usize> = out.iter().map(|c| c.id()).collect();
            ensure_eq!(
                ids,
                (0..size).collect::<HashSet<_>>(),
                "the ids of all {size} connections taken at once"
            );
            ensure!(
                pool.get_timeout(Duration::ZERO).is_none(),
                "get_timeout(0) returned a connection from an exhausted pool"
            );
            let returned = out.remove(give_back).id();
            ensure_eq!(
                pool.available(),
                1,
                "available() after one connection was returned"
            );
            let again = pool.get_timeout(Duration::from_secs(60)).map(|c| c.id());
            ensure_eq!(
                again,
                Some(returned),
                "the id handed out when only connection {returned} is free"
            );
            ensure_eq!(
                pool.available(),
                1,
                "available() after a connection was taken and dropped again"
            );
            drop(out);
            ensure_eq!(
                pool.available(),
                size,
                "available() after every connection was returned"
            );
            let empty = ConnectionPool::new(0);
            ensure!(
                empty.get_timeout(Duration::ZERO).is_none(),
                "ConnectionPool::new(0) handed out a connection"
            );
            ensure_eq!(
                empty.available(),
                0,
                "available() of ConnectionPool::new(0)"
            );
        },
    );
}

// ---------------------------------------------------------------------------------------------
// robustness

/// Sleeping waiters: release_n(m) lets exactly m of them through, and a burst of release()
/// wakes the others. A release_n that wakes only one, or a notify that is lost, leaves permits
/// unused while threads sleep.
fn release_n_wakes_waiters(t: &mut Trial) {
    for round in 0..3 {
        let bounded = t.rng().bool();
        let waiters = t.rng().usize(2..=6);
        let first = t.rng().usize(2..=waiters);
        let methods: Vec<u8> = (0..waiters).map(|_| t.rng().u8(0..3)).collect();
        // A bounded semaphore starts full and is emptied, so that the releases fit under the bound.
        let sem = Arc::new(AnySem::new(bounded, if bounded { waiters } else { 0 }));
        let name = sem.name();
        if bounded {
            for _ in 0..waiters {
                ensure!(
                    sem.try_acquire(),
                    "try_acquire() failed on a full BoundedSemaphore"
                );
            }
        }
        let through = Arc::new(AtomicUsize::new(0));
        let baseline = harness::sleeping_threads();
        let mut handles: Vec<_> = methods
            .iter()
            .map(|&method| {
                let (sem, through) = (Arc::clone(&sem), Arc::clone(&through));
                harness::spawn(move || {
                    match method {
                        0 => sem.acquire(),
                        1 => ensure!(
                            sem.acquire_timeout(Duration::from_secs(60)),
                            "acquire_timeout(60 s) returned false though permits were released"
                        ),
                        _ => ensure!(
                            sem.acquire_timeout(Duration::from_secs(600)),
                            "acquire_timeout(600 s) returned false though permits were released"
                        ),
                    }
                    through.fetch_add(1, SeqCst);
                })
            })
            .collect();
        // Best effort: let them really fall asleep (the performance check judges spinning).
        harness::wait_sleeping(baseline, waiters, Duration::from_secs(1));
        propagate_failures(&mut handles);
        ensure_eq!(
            through.load(SeqCst),
            0,
            "{name}: waiters that got through with value 0"
        );
        sem.release_n(first, false);
        if !harness::wait_until(LIMIT, || through.load(SeqCst) >= first) {
            propagate_failures(&mut handles);
            fail!("round {round}: {name}::release_n({first}) with {waiters} threads asleep in acquire let only {} of them through within {LIMIT:?} (release_n must wake up to n waiters: lost wake-up)", through.load(SeqCst));
        }
        thread::sleep(Duration::from_millis(10));
        propagate_failures(&mut handles);
        ensure_eq!(through.load(SeqCst), first, "round {round}: {name}: waiters through after release_n({first}) (more than the permits released)");
        ensure_eq!(
            sem.value(),
            0,
            "round {round}: {name}::value() once the waiters took the released permits"
        );
        for _ in first..waiters {
            sem.release_n(1, true);
        }
        join_failing_fast(LIMIT, &format!("round {round}: {name}: the last {} waiter(s) after as many release() calls in a row", waiters - first), handles);
        ensure_eq!(
            sem.value(),
            0,
            "round {round}: {name}::value() after every waiter got its permit"
        );
    }
}

/// A timed-out acquire_timeout takes nothing: timed waiters give up over and over while permits
/// arrive one at a time, and every permit released is either taken by a waiter that returned
/// `true` or still in the semaphore at the end. Releases that land just as a waiter gives up
/// are what this looks for; the perturbed schedule widens that moment.
fn timed_out_waiter_takes_nothing(t: &mut Trial) {
    let bounded = t.rng().bool();
    let waiters = t.rng().usize(2..=4);
    let releases = t.rng().usize(300..=500);
    let pauses: Vec<u64> = (0..releases).map(|_| t.rng().u64(0..=600)).collect();
    let seed = t.seed();
    within(LIMIT * 5, "timed waiters racing releases", move || {
        // A bounded semaphore starts full and is emptied, so that the releases fit under the bound.
        let sem = Arc::new(AnySem::new(bounded, if bounded { releases } else { 0 }));
        let name = sem.name();
        if bounded {
            for _ in 0..releases {
                ensure!(
                    sem.try_acquire(),
                    "{name}::try_acquire() failed on a full semaphore"
                );
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let taken = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..waiters)
            .map(|i| {
                let (sem, stop, taken) = (Arc::clone(&sem), Arc::clone(&stop), Arc::clone(&taken));
                let mut rng = XorShift::stream(seed, i);
                harness::spawn(move || {
                    while !stop.load(SeqCst) {
                        let timeout = Duration::from_micros(rng.next_u64() % 700);
                        if sem.acquire_timeout(timeout) {
                            taken.fetch_add(1, SeqCst);
                        }
                    }
                })
            })
            .collect();
        for pause in pauses {
            thread::sleep(Duration::from_micros(pause));
            sem.release_n(1, true);
        }
        thread::sleep(Duration::from_millis(5));
        stop.store(true, SeqCst);
        join_failing_fast(LIMIT, "timed waiters after the last release", handles);
        let taken = taken.load(SeqCst);
        let left = sem.value();
        ensure!(
            taken + left == releases,
            "{releases} permits were released while {waiters} threads called {name}::\
             acquire_timeout() with short timeouts: {taken} calls returned true and {left} \
             permits are left, so {} permit(s) vanished: a call that returns false must not \
             have taken a permit (or must give it back)",
            releases as isize - (taken + left) as isize
        );
    });
}

/// A timed waiter that gives up must not erase the sign that others sleep on the semaphore:
/// with an untimed waiter asleep beside timed ones that time out, one release must still wake
/// it. Run without perturbation, which wakes sleepers spuriously and would hide a lost wake-up.
fn timed_out_waiter_keeps_others_wakeable(t: &mut Trial) {
    let timeout = Duration::from_millis(t.rng().u64(30..=60));
    let mut scenarios = Vec::new();
    for bounded in [false, true] {
        // One timed waiter beside the untimed one, asleep before or after it; then a few.
        scenarios.extend([(bounded, true, 1), (bounded, false, 1)]);
        scenarios.push((bounded, t.rng().bool(), t.rng().usize(2..=3)));
    }
    within(LIMIT * 12, "timed and untimed waiters", move || {
        for (bounded, untimed_first, timed) in scenarios {
            let sem = Arc::new(AnySem::new(bounded, 1));
            let name = sem.name();
            ensure!(sem.try_acquire(), "{name}::try_acquire() failed on new(1)");
            let beside = harness::timed_beside_untimed(
                untimed_first,
                timed,
                timeout,
                LIMIT,
                {
                    let sem = Arc::clone(&sem);
                    move || sem.acquire()
                },
                {
                    let sem = Arc::clone(&sem);
                    move |timeout| sem.acquire_timeout(timeout)
                },
            );
            ensure!(
                beside.timed_results.iter().all(|got| !got),
                "{name}::acquire_timeout() returned true while the value was 0 the whole time"
            );
            sem.release_n(1, true);
            let order = beside.order;
            if !beside.woken(LIMIT) {
                fail!(
                    "{name}: a thread blocked in acquire() was never woken: release() was \
                     {LIMIT:?} ago and the value is {}, after {timed} acquire_timeout() call(s) \
                     timed out beside it ({}). A timed waiter that gives up must not erase the \
                     sign that other threads sleep on the semaphore (e.g. count itself out of \
                     the sleepers twice, or reset their count), or the release wakes nobody",
                    sem.value(),
                    order
                );
            }
            ensure_eq!(
                sem.value(),
                0,
                "{name}::value() once the waiter took the released permit"
            );
        }
    });
}

// ---------------------------------------------------------------------------------------------
// stress

/// Many threads, many rounds, random acquire kinds: never more than the permits held at once,
/// the value back where it started, and under demand every permit held at once.
fn max_concurrency(t: &mut Trial) {
    let bounded = t.rng().bool();
    let permits = t.rng().usize(1..=4);
    let threads = t.rng().usize(permits + 1..=permits + 5);
    let rounds = t.rng().usize(60..=120);
    let sem = Arc::new(AnySem::new(bounded, permits));
    let name = sem.name();
    let inside = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(threads));
    let handles = (0..threads)
        .map(|i| {
            let (sem, inside, peak, start) = (Arc::clone(&sem), Arc::clone(&inside), Arc::clone(&peak), Arc::clone(&start));
            let mut rng = XorShift::new(t.seed().wrapping_add(17 * i as u64 + 5));
            harness::spawn(move || {
                start.wait();
                for _ in 0..rounds {
                    let method = rng.next_u64() % 5;
                    match method {
                        0 => sem.acquire(),
                        1 => {
                            let took = sem.try_acquire();
                            if !took {
                                sem.acquire();
                            }
                        }
                        2 => while !sem.acquire_timeout(Duration::from_micros(rng.next_u64() % 3000)) {},
                        3 => ensure!(sem.acquire_timeout(Duration::from_secs(60)), "{name}::acquire_timeout(60 s) returned false"),
                        // 4: a permit() guard, taken below.
                        _ => {}
                    }
                    let mut body = || {
                        let now = inside.fetch_add(1, SeqCst) + 1;
                        ensure!(now <= permits, "{now} threads held a permit of {name}::new({permits}) at the same time (taking a permit must be one atomic step)");
                        peak.fetch_max(now, SeqCst);
                        if rng.next_u64() % 4 == 0 {
                            thread::yield_now();
                        }
                        inside.fetch_sub(1, SeqCst);
                    };
                    if method == 4 {
                        sem.with_permit(body);
                    } else {
                        body();
                        sem.release_n(1, rng.next_u64() % 2 == 0);
                    }
                }
            })
        })
        .collect();
    join_failing_fast(
        Duration::from_secs(10),
        &format!("{threads} threads sharing {name}::new({permits})"),
        handles,
    );
    ensure_eq!(
        sem.value(),
        permits,
        "{name}::value() after every thread released what it took"
    );

    // Demand: `permits` threads must all hold a permit at the same moment.
    let holding = Arc::new(AtomicUsize::new(0));
    let go = Arc::new(AtomicBool::new(false));
    let handles = (0..permits)
        .map(|_| {
            let (sem, holding, go) = (Arc::clone(&sem), Arc::clone(&holding), Arc::clone(&go));
            harness::spawn(move || {
                sem.acquire();
                holding.fetch_add(1, SeqCst);
                while !go.load(SeqCst) {
                    thread::sleep(Duration::from_millis(1));
                }
                sem.release_n(1, true);
            })
        })
        .collect();
    let all_in = harness::wait_until(LIMIT, || holding.load(SeqCst) == permits);
    let held = holding.load(SeqCst);
    let extra = sem.try_acquire();
    go.store(true, SeqCst);
    ensure!(all_in, "only {held} of the {permits} permits of {name}::new({permits}) could be held at once by {permits} threads");
    ensure!(
        !extra,
        "try_acquire() succeeded while all {permits} permits were held"
    );
    join_failing_fast(LIMIT, "threads returning their permits", handles);
    ensure_eq!(sem.value(), permits, "{name}::value() at the end");
}

/// Concurrent releases racing the bound of a BoundedSemaphore: exactly the free slots are
/// accepted, never more.
fn bounded_release_race(t: &mut Trial) {
    for round in 0..8 {
        let bound = t.rng().usize(2..=8);
        let taken = t.rng().usize(1..=bound);
        let threads = t.rng().usize(2..=6);
        let sem = Arc::new(BoundedSemaphore::new(bound));
        for _ in 0..taken {
            ensure!(
                sem.try_acquire(),
                "try_acquire() failed on a BoundedSemaphore with permits left"
            );
        }
        let start = Arc::new(Barrier::new(threads));
        let handles = (0..threads)
            .map(|i| {
                let (sem, start) = (Arc::clone(&sem), Arc::clone(&start));
                let mut rng = XorShift::new(t.seed().wrapping_add(101 * round + i as u64));
                harness::spawn(move || {
                    start.wait();
                    let mut accepted = 0;
                    for _ in 0..3 {
                        let n = 1 + (rng.next_u64() % 3) as usize;
                        let result = if n == 1 && rng.next_u64() % 2 == 0 {
                            sem.release()
                        } else {
                            sem.release_n(n)
                        };
                        match result {
                            Ok(()) => accepted += n,
                            Err(Error::TooManyReleases) => {}
                        }
                    }
                    accepted
                })
            })
            .collect();
        let accepted: usize =
            join_failing_fast(LIMIT, "threads releasing a BoundedSemaphore", handles)
                .into_iter()
                .sum();
        ensure!(accepted <= taken, "round {round}: concurrent releases of BoundedSemaphore::new({bound}) with {taken} permit(s) out were accepted for {accepted} permits: the bound was overshot (check it and add in one atomic step)");
        let value = sem.value();
        ensure_eq!(value, bound - taken + accepted, "round {round}: value() after {accepted} accepted release(s) with {taken} permit(s) out of {bound}");
        let mut filled = 0;
        while sem.release().is_ok() {
            filled += 1;
            ensure!(filled <= taken, "round {round}: BoundedSemaphore::new({bound}) accepted more releases than permits taken");
        }
        ensure_eq!(
            accepted + filled,
            taken,
            "round {round}: releases accepted in total before the bound refused them"
        );
        ensure_eq!(sem.value(), bound, "round {round}: value() once full");
    }
}

/// Many threads using a pool: an id is never out twice at once, at most `size` are out, and
/// under demand all `size` are out at once.
fn pool_concurrency(t: &mut Trial) {
    let size = t.rng().usize(2..=4);
    let threads = t.rng().usize(size + 1..=size + 5);
    let rounds = t.rng().usize(50..=100);
    let pool = Arc::new(ConnectionPool::new(size));
    let in_use: Arc<Vec<AtomicBool>> =
        Arc::new((0..size).map(|_| AtomicBool::new(false)).collect());
    let out = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(threads));
    let handles = (0..threads)
        .map(|i| {
            let (pool, in_use, out, start) = (
                Arc::clone(&pool),
                Arc::clone(&in_use),
                Arc::clone(&out),
                Arc::clone(&start),
            );
            let mut rng = XorShift::new(t.seed().wrapping_add(13 * i as u64 + 7));
            harness::spawn(move || {
                start.wait();
                for _ in 0..rounds {
                    let connection = match rng.next_u64() % 3 {
                        0 => pool.get(),
                        1 => pool
                            .get_timeout(Duration::from_secs(60))
                            .unwrap_or_else(|| fail!("get_timeout(60 s) returned None")),
                        _ => loop {
                            if let Some(c) =
                                pool.get_timeout(Duration::from_micros(rng.next_u64() % 3000))
                            {
                                break c;
                            }
                        },
                    };
                    let id = connection.id();
                    ensure!(id < size, "ConnectionPool::new({size}) handed out id {id}");
                    ensure!(
                        !in_use[id].swap(true, SeqCst),
                        "connection {id} was handed out while another thread still had it"
                    );
                    let now = out.fetch_add(1, SeqCst) + 1;
                    ensure!(
                        now <= size,
                        "{now} connections out at once from a pool of {size}"
                    );
                    if rng.next_u64() % 4 == 0 {
                        thread::yield_now();
                    }
                    out.fetch_sub(1, SeqCst);
                    in_use[id].store(false, SeqCst);
                    drop(connection);
                }
            })
        })
        .collect();
    join_failing_fast(
        Duration::from_secs(10),
        &format!("{threads} threads sharing ConnectionPool::new({size})"),
        handles,
    );
    ensure_eq!(
        pool.available(),
        size,
        "available() after every connection was returned"
    );

    // Demand: `size` threads must all hold a connection at the same moment.
    let holding = Arc::new(AtomicUsize::new(0));
    let go = Arc::new(AtomicBool::new(false));
    let handles = (0..size)
        .map(|_| {
            let (pool, holding, go) = (Arc::clone(&pool), Arc::clone(&holding), Arc::clone(&go));
            harness::spawn(move || {
                let connection = pool.get();
                holding.fetch_add(1, SeqCst);
                while !go.load(SeqCst) {
                    thread::sleep(Duration::from_millis(1));
                }
                connection.id()
            })
        })
        .collect::<Vec<_>>();
    let all_out = harness::wait_until(LIMIT, || holding.load(SeqCst) == size);
    let held = holding.load(SeqCst);
    let available = pool.available();
    go.store(true, SeqCst);
    ensure!(all_out, "only {held} of the {size} connections of the pool could be out at once although {size} threads asked for one: the pool serializes");
    ensure_eq!(
        available,
        0,
        "available() while all {size} connections were out"
    );
    let ids: HashSet<usize> =
        join_failing_fast(LIMIT, "threads returning their connections", handles)
            .into_iter()
            .collect();
    ensure_eq!(
        ids.len(),
        size,
        "distinct ids among {size} connections out at once"
    );
    ensure_eq!(pool.available(), size, "available() at the end");
}

// ---------------------------------------------------------------------------------------------
// performance

/// Threads blocked on empty semaphores and an exhausted pool sleep: no CPU, no polling.
fn waiters_sleep(_t: &mut Trial) {
    const WINDOW: Duration = Duration::from_millis(300);
    let sem = Arc::new(Semaphore::new(0));
    let bounded = Arc::new(BoundedSemaphore::new(1));
    ensure!(
        bounded.try_acquire(),
        "try_acquire() failed on BoundedSemaphore::new(1)"
    );
    let pool = Arc::new(ConnectionPool::new(1));
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let holder = {
        let pool = Arc::clone(&pool);
        harness::spawn(move || {
            let connection = pool.get();
            held_tx.send(()).unwrap();
            let _ = done_rx.recv();
            drop(connection);
        })
    };
    ensure!(
        held_rx.recv_timeout(LIMIT).is_ok(),
        "ConnectionPool::new(1).get() blocked with its connection free"
    );
    let through = Arc::new(AtomicUsize::new(0));
    // Let the holder settle into its own sleep before counting the sleepers.
    thread::sleep(Duration::from_millis(20));
    let baseline = harness::sleeping_threads();
    let mut handles = Vec::new();
    for kind in 0..5 {
        let (sem, bounded, pool, through) = (
            Arc::clone(&sem),
            Arc::clone(&bounded),
            Arc::clone(&pool),
            Arc::clone(&through),
        );
        handles.push(harness::spawn(move || {
            match kind {
                0 | 1 => sem.acquire(),
                2 => ensure!(
                    sem.acquire_timeout(Duration::from_secs(60)),
                    "Semaphore::acquire_timeout(60 s) returned false"
                ),
                3 => bounded.acquire(),
                _ => drop(pool.get()),
            }
            through.fetch_add(1, SeqCst);
        }));
    }
    let waiters = handles.len();
    if !harness::wait_sleeping(baseline, waiters, Duration::from_secs(3)) {
        if let Some(index) = handles.iter().position(|h| h.is_finished()) {
            if let Err(payload) = handles.remove(index).join() {
                panic::resume_unwind(payload);
            }
            fail!("a thread blocked on an empty semaphore or an exhausted pool returned without a release");
        }
        let asleep = harness::sleeping_threads().saturating_sub(baseline);
        fail!("only {asleep} of {waiters} threads blocked on empty semaphores / an exhausted pool went to sleep within 3 s: the others are spinning (a blocked thread must sleep until a release)");
    }
    let before = harness::Usage::now();
    thread::sleep(WINDOW);
    let used = harness::Usage::now().since(before);
    ensure_eq!(
        through.load(SeqCst),
        0,
        "threads that got through an empty semaphore or an exhausted pool"
    );
    ensure!(used.cpu <= Duration::from_millis(90), "{waiters} threads blocked on empty semaphores / an exhausted pool burned {:?} of CPU in {WINDOW:?}: they must sleep, not spin", used.cpu);
    ensure!(used.context_switches <= POLLING, "{waiters} threads blocked on empty semaphores / an exhausted pool made {} context switches in {WINDOW:?}: they are polling (short naps) instead of sleeping until a release", used.context_switches);
    sem.release_n(3);
    ensure_eq!(
        bounded.release(),
        Ok(()),
        "BoundedSemaphore::release() of its only permit"
    );
    let _ = done_tx.send(());
    join_failing_fast(LIMIT, "waiters after the releases", handles);
    join_failing_fast(LIMIT, "the pool's holder", vec![holder]);
    ensure_eq!(
        through.load(SeqCst),
        waiters,
        "waiters that got through after the releases"
    );
}

// Explored scenarios (see `harness::explore`): a few threads and operations, run under the
// schedules an exploration chooses, where every operation on a semaphore is a scheduling point.

/// Three threads pass a Semaphore of 2 twice each (one way each): never three inside.
fn concurrency_scenario() {
    let sem = Arc::new(Semaphore::new(2));
    let inside = explore::Occupancy::new();
    let shared = Arc::clone(&sem);
    explore::each(3, move |i| {
        for _ in 0..2 {
            explore::take(
                i,
                "Semaphore",
                || shared.acquire(),
                || shared.try_acquire(),
                |timeout| shared.acquire_timeout(timeout),
            );
            inside.enter(2, "a Semaphore::new(2)");
            inside.leave();
            shared.release();
        }
    });
    ensure_eq!(
        sem.value(),
        2,
        "value() of a Semaphore::new(2) once every permit came back"
    );
}

/// A BoundedSemaphore of 2 with both permits out; three threads race to give back 1, 1 and 2:
/// exactly the free slots are accepted.
fn bounded_release_scenario() {
    let sem = Arc::new(BoundedSemaphore::new(2));
    ensure!(
        sem.try_acquire() && sem.try_acquire(),
        "try_acquire() failed on a BoundedSemaphore with permits left"
    );
    let workers = [1, 1, 2]
        .into_iter()
        .map(|n| {
            let sem = Arc::clone(&sem);
            explore::spawn(move || {
                let result = if n == 1 {
                    sem.release()
                } else {
                    sem.release_n(n)
                };
                if result.is_ok() {
                    n
                } else {
                    0
                }
            })
        })
        .collect();
    let accepted: usize = explore::join_all(workers).into_iter().sum();
    ensure!(accepted <= 2, "releases racing the bound of BoundedSemaphore::new(2) with 2 permits out were accepted for {accepted} permits (check the bound and add in one atomic step)");
    ensure_eq!(
        sem.value(),
        accepted,
        "value() after {accepted} accepted permits"
    );
}

/// Two threads wait on a Semaphore of 0; a third releases once, then once more: both waiters
/// must get through.
fn release_wakes_scenario() {
    let sem = Arc::new(Semaphore::new(0));
    let mut workers: Vec<_> = (0..2)
        .map(|_| {
            let sem = Arc::clone(&sem);
            explore::spawn(move || sem.acquire())
        })
        .collect();
    let releaser = Arc::clone(&sem);
    workers.push(explore::spawn(move || releaser.release_n(2)));
    explore::join_all(workers);
}

/// Three threads take a connection of a pool of 2, twice each: never one connection twice.
fn pool_scenario() {
    let pool = Arc::new(ConnectionPool::new(2));
    let used = [explore::Occupancy::new(), explore::Occupancy::new()];
    let shared = Arc::clone(&pool);
    explore::each(3, move |_| {
        for _ in 0..2 {
            let connection = shared.get();
            let id = connection.id();
            ensure!(id < 2, "a pool of 2 handed out connection {id}");
            used[id].enter(1, &format!("connection {id}"));
            used[id].leave();
            drop(connection);
        }
    });
    ensure_eq!(
        pool.available(),
        2,
        "available() once every connection came back"
    );
}

fn main() {
    harness::main(harness::checks![
        semaphore_basics,
        bounded_semantics,
        timeouts,
        pool_semantics,
        release_n_wakes_waiters explored_liveness release_wakes_scenario,
        timed_out_waiter_keeps_others_wakeable,
        timed_out_waiter_takes_nothing,
        max_concurrency explored concurrency_scenario,
        bounded_release_race explored bounded_release_scenario,
        pool_concurrency explored pool_scenario,
        waiters_sleep,
    ])
}
