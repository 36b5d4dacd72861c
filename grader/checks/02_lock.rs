//! Hidden checks of 02_lock: Python's `threading.Lock`, the `Mutex<T>` built on it, and the
//! tutorial's counter.
//!
//! The checks watch the lock from the outside with std's own atomics: an "inside" counter that
//! must never exceed one, a counter updated with a separate read and write (which loses updates
//! as soon as two threads overlap), and the process's CPU time while waiters are blocked.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use harness::{
    ensure, ensure_eq, explore, fail, join_all, settle, spawn_together, within, Trial, Usage,
    XorShift,
};
use lock::{count_locked, Error, Lock, Mutex};

/// Context switches the whole process may make while its waiters should all be asleep (300 ms):
/// sleeping threads make none and the measuring thread's own sleep makes one, while a waiter
/// that polls, even with naps of 50 ms, makes several each.
const POLLING: u64 = 20;

/// How long a call that should return may take before we call it blocked (generous: the
/// machine may be loaded, and the perturbing backend slows everything down).
const PATIENCE: Duration = Duration::from_secs(3);

/// How long a whole stress workload may take (many threads, thousands of lock operations, a
/// perturbed schedule, a loaded machine) before we call it stuck.
const WORKLOAD: Duration = Duration::from_secs(10);

/// The first misbehaviour a worker saw. A worker that finds one records it, leaves the critical
/// section normally and stops, so that the others are not left blocked behind a dead worker.
#[derive(Default)]
struct FirstFailure {
    raised: AtomicBool,
    message: std::sync::Mutex<Option<String>>,
}

impl FirstFailure {
    fn raise(&self, message: String) {
        self.message
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(message);
        self.raised.store(true, SeqCst);
    }

    fn raised(&self) -> bool {
        self.raised.load(SeqCst)
    }

    /// Fails the trial with the first message recorded, if any.
    fn check(&self) {
        if let Some(message) = self
            .message
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            fail!("{message}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// functionality

/// Python's `BaseLockTests`: acquire/release, non-blocking acquire, contended acquire, `with`.
fn acquire_and_release(t: &mut Trial) {
    let waiters = t.rng().usize(2..=6);
    within(PATIENCE, "the basic lock operations", move || {
        let lock = Lock::new();
        ensure!(!lock.locked(), "a new Lock reports locked() == true");
        ensure!(!Lock::default().locked(), "Lock::default() is locked");
        lock.acquire();
        ensure!(lock.locked(), "after acquire(), locked() is still false");
        ensure!(
            !lock.try_acquire(),
            "try_acquire() returned true on a lock that was already held"
        );
        ensure!(lock.locked(), "a failed try_acquire() unlocked the lock");
        ensure_eq!(lock.release(), Ok(()), "release() of a held lock");
        ensure!(!lock.locked(), "after release(), locked() is still true");
        ensure!(
            lock.try_acquire(),
            "try_acquire() on a free lock returned false"
        );
        ensure!(
            !lock.try_acquire(),
            "try_acquire() returned true twice in a row on one lock"
        );
        ensure_eq!(lock.release(), Ok(()), "release() after try_acquire()");
        {
            let _guard = lock.guard();
            ensure!(lock.locked(), "guard() did not lock the lock");
            ensure!(
                !lock.try_acquire(),
                "try_acquire() succeeded while a guard held the lock"
            );
        }
        ensure!(
            !lock.locked(),
            "dropping the guard did not release the lock"
        );
        ensure!(
            !Error::ReleaseUnlocked.to_string().is_empty(),
            "Error::ReleaseUnlocked displays as an empty string"
        );

        // Another thread cannot take a held lock without blocking.
        let lock = Arc::new(lock);
        lock.acquire();
        let other = Arc::clone(&lock);
        let got = harness::spawn(move || other.try_acquire()).join().unwrap();
        ensure!(
            !got,
            "try_acquire() in another thread took a lock held by this one"
        );

        // Contended acquire: nobody gets in while it is held; everybody gets in after a release.
        let finished = Arc::new(AtomicUsize::new(0));
        let baseline = harness::sleeping_threads();
        let handles = {
            let (lock, finished) = (Arc::clone(&lock), Arc::clone(&finished));
            spawn_together(waiters, move |_| {
                lock.acquire();
                finished.fetch_add(1, SeqCst);
                lock.release().unwrap();
            })
        };
        settle(baseline, waiters);
        ensure_eq!(
            finished.load(SeqCst),
            0,
            "threads that got past acquire() of a lock held by another thread"
        );
        ensure_eq!(lock.release(), Ok(()), "release() with waiters");
        join_all(handles);
        ensure_eq!(
            finished.load(SeqCst),
            waiters,
            "waiters that got the lock after it was released"
        );
        ensure!(
            !lock.locked(),
            "the lock is still locked after every waiter released it"
        );
    });
}

/// Python's `LockTests`: the lock has no owner, so another thread may release it, and the
/// holder that acquires again blocks until someone else releases.
fn unowned_release(_t: &mut Trial) {
    within(PATIENCE, "releasing from another thread", || {
        let lock = Arc::new(Lock::new());
        lock.acquire();
        let other = Arc::clone(&lock);
        let released = harness::spawn(move || other.release()).join().unwrap();
        ensure_eq!(
            released,
            Ok(()),
            "release() from a thread that did not acquire the lock (a Python Lock has no owner)"
        );
        ensure!(
            !lock.locked(),
            "the lock is still locked after another thread released it"
        );
        ensure!(
            lock.try_acquire(),
            "the lock released by another thread cannot be taken again"
        );
        lock.release().unwrap();

        // test_reacquire: the holder's second acquire blocks until another thread releases.
        let phase = Arc::new(AtomicUsize::new(0));
        let baseline = harness::sleeping_threads();
        let holder = {
            let (lock, phase) = (Arc::clone(&lock), Arc::clone(&phase));
            harness::spawn(move || {
                lock.acquire();
                phase.store(1, SeqCst);
                lock.acquire();
                phase.store(2, SeqCst);
            })
        };
        settle(baseline, 1);
        ensure_eq!(
            phase.load(SeqCst),
            1,
            "phase of a thread that acquires a Lock twice (the second acquire must block: a Lock \
             is not reentrant)"
        );
        ensure_eq!(
            lock.release(),
            Ok(()),
            "release() by a thread that is not the holder"
        );
        join_all([holder]);
        ensure_eq!(
            phase.load(SeqCst),
            2,
            "phase after another thread released the lock"
        );
        ensure!(
            lock.locked(),
            "the second acquire() returned without taking the lock"
        );
        ensure_eq!(
            lock.release(),
            Ok(()),
            "release() of a lock taken by another thread"
        );
    });
}

/// `Mutex<T>`: lock, try_lock, get_mut, into_inner, and drops.
fn mutex_api(_t: &mut Trial) {
    within(PATIENCE, "the Mutex<T> API", || {
        let mutex = Mutex::new(vec![1, 2]);
        mutex.lock().push(3);
        {
            let guard = mutex.lock();
            ensure_eq!(*guard, vec![1, 2, 3], "the value seen through the guard");
            ensure!(
                mutex.try_lock().is_none(),
                "try_lock() succeeded on a locked Mutex"
            );
        }
        match mutex.try_lock() {
            Some(mut guard) => guard.push(4),
            None => fail!("try_lock() failed on a Mutex whose guard was dropped"),
        }
        let mut mutex = mutex;
        mutex.get_mut().push(5);
        ensure_eq!(
            *mutex.lock(),
            vec![1, 2, 3, 4, 5],
            "the value after get_mut()"
        );
        ensure_eq!(mutex.into_inner(), vec![1, 2, 3, 4, 5], "into_inner()");

        // The guard of one mutex does not lock another.
        let (a, b) = (Mutex::new(1), Mutex::new(2));
        let guard_a = a.lock();
        ensure!(
            b.try_lock().is_some(),
            "locking one Mutex locked another one too"
        );
        drop(guard_a);

        // Another thread blocks on a locked Mutex until the guard is dropped, and sees the write.
        let shared = Arc::new(Mutex::new(0u64));
        let mut guard = shared.lock();
        let other = Arc::clone(&shared);
        let baseline = harness::sleeping_threads();
        let reader = harness::spawn(move || *other.lock());
        settle(baseline, 1);
        if reader.is_finished() {
            drop(guard);
            join_all([reader]);
            fail!("Mutex::lock() returned while another thread held the guard");
        }
        *guard = 42;
        drop(guard);
        let seen = join_all([reader]);
        ensure_eq!(
            seen[0],
            42,
            "value read by a thread that waited for the guard"
        );

        // The value is dropped exactly once, by the Mutex or by whoever took it out.
        struct Counted(Arc<AtomicUsize>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, SeqCst);
            }
        }
        let drops = Arc::new(AtomicUsize::new(0));
        drop(Mutex::new(Counted(Arc::clone(&drops))));
        ensure_eq!(
            drops.load(SeqCst),
            1,
            "drops of the value of a dropped Mutex"
        );
        let inner = Mutex::new(Counted(Arc::clone(&drops))).into_inner();
        ensure_eq!(drops.load(SeqCst), 1, "drops caused by into_inner()");
        drop(inner);
        ensure_eq!(
            drops.load(SeqCst),
            2,
            "drops after the value from into_inner() was dropped"
        );
        {
            let mutex = Mutex::new(Counted(Arc::clone(&drops)));
            let guard = mutex.lock();
            drop(guard);
            ensure_eq!(drops.load(SeqCst), 2, "drops caused by dropping a guard");
        }
        ensure_eq!(
            drops.load(SeqCst),
            3,
            "drops after a locked-then-unlocked Mutex was dropped"
        );
    });
}

/// The tutorial's counter: `count_locked` must never lose an increment.
fn count_locked_is_exact(t: &mut Trial) {
    let threads = t.rng().usize(2..=8);
    let increments = t.rng().usize(500..=2000);
    within(WORKLOAD, "count_locked", move || {
        ensure_eq!(count_locked(0, 100), 0, "count_locked(0, 100)");
        ensure_eq!(count_locked(5, 0), 0, "count_locked(5, 0)");
        ensure_eq!(count_locked(1, 1), 1, "count_locked(1, 1)");
        ensure_eq!(
            count_locked(threads, increments),
            (threads * increments) as u64,
            "count_locked({threads}, {increments})"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// robustness

/// Timed acquire: neither early nor ignored, zero tries once, huge timeouts mean "no deadline",
/// a release wakes a timed waiter, and a timeout leaves the lock as it was.
fn timeouts(t: &mut Trial) {
    let timeout = Duration::from_millis(t.rng().u64(20..=60));
    let short_waiters = t.rng().usize(2..=4);
    within(PATIENCE * 2, "acquire_timeout", move || {
        let lock = Arc::new(Lock::new());
        ensure!(
            lock.acquire_timeout(Duration::MAX),
            "acquire_timeout(Duration::MAX) on a free lock returned false"
        );
        ensure!(
            lock.locked(),
            "acquire_timeout() returned true but the lock is not locked"
        );

        let start = Instant::now();
        ensure!(
            !lock.acquire_timeout(Duration::ZERO),
            "acquire_timeout(0) returned true on a held lock"
        );
        ensure!(
            start.elapsed() < PATIENCE,
            "acquire_timeout(0) on a held lock took {:?} (a zero timeout tries once)",
            start.elapsed()
        );

        // Held by this thread: a timed acquire elsewhere fails after the timeout, not before.
        let other = Arc::clone(&lock);
        let (got, waited) = harness::spawn(move || {
            let start = Instant::now();
            (other.acquire_timeout(timeout), start.elapsed())
        })
        .join()
        .unwrap();
        ensure!(
            !got,
            "acquire_timeout({timeout:?}) took a lock held by another thread"
        );
        ensure!(
            waited >= timeout,
            "acquire_timeout({timeout:?}) gave up after only {waited:?}"
        );
        ensure!(
            waited < timeout + PATIENCE,
            "acquire_timeout({timeout:?}) gave up only after {waited:?}"
        );
        // test_state_after_timeout: still held once, by us.
        ensure!(
            lock.locked(),
            "a failed acquire_timeout() unlocked the lock"
        );
        ensure_eq!(
            lock.release(),
            Ok(()),
            "release() after another thread's timed-out acquire"
        );
        ensure!(
            !lock.locked(),
            "the lock is locked after its only holder released it"
        );
        ensure_eq!(
            lock.release(),
            Err(Error::ReleaseUnlocked),
            "second release() after a timed-out acquire (the failed acquire_timeout() changed \
             the lock's state)"
        );
        ensure!(
            lock.try_acquire(),
            "try_acquire() failed after a timed-out acquire was over"
        );

        // No spurious success: several timed waiters while the lock stays held.
        let handles = {
            let lock = Arc::clone(&lock);
            spawn_together(short_waiters, move |i| {
                for round in 0..4 {
                    let timeout = Duration::from_millis(1 + ((i + round) % 5) as u64);
                    let start = Instant::now();
                    let got = lock.acquire_timeout(timeout);
                    let waited = start.elapsed();
                    ensure!(
                        !got,
                        "acquire_timeout({timeout:?}) returned true while another thread held \
                         the lock the whole time (a wake-up is not a success: check again)"
                    );
                    ensure!(
                        waited >= timeout,
                        "acquire_timeout({timeout:?}) gave up after only {waited:?}"
                    );
                }
            })
        };
        join_all(handles);
        ensure!(lock.locked(), "timed-out waiters unlocked the lock");

        // A release wakes a timed waiter long before its timeout.
        let baseline = harness::sleeping_threads();
        let waiter = {
            let lock = Arc::clone(&lock);
            harness::spawn(move || {
                let start = Instant::now();
                (
                    lock.acquire_timeout(Duration::from_secs(60)),
                    start.elapsed(),
                )
            })
        };
        settle(baseline, 1);
        lock.release().unwrap();
        let (got, waited) = join_all([waiter]).remove(0);
        ensure!(
            got,
            "acquire_timeout(60 s) returned false although the lock was released"
        );
        ensure!(
            lock.locked(),
            "acquire_timeout() returned true without locking the lock"
        );
        ensure!(
            waited < PATIENCE,
            "acquire_timeout(60 s) returned only {waited:?} after it started, although the lock \
             was released after about 20 ms"
        );

        // Duration::MAX on a held lock: waits without a deadline until the release.
        let baseline = harness::sleeping_threads();
        let waiter = {
            let lock = Arc::clone(&lock);
            harness::spawn(move || lock.acquire_timeout(Duration::MAX))
        };
        settle(baseline, 1);
        if waiter.is_finished() {
            let got = join_all([waiter]).remove(0);
            fail!("acquire_timeout(Duration::MAX) returned {got} while the lock was held");
        }
        lock.release().unwrap();
        let got = join_all([waiter]).remove(0);
        ensure!(
            got,
            "acquire_timeout(Duration::MAX) returned false after a release"
        );
        lock.release().unwrap();
    });
}

/// A timed waiter that gives up must not erase the sign that others sleep on the lock: with an
/// untimed waiter asleep beside timed ones that time out, one release must still wake it. Run
/// without perturbation, which wakes sleepers spuriously and would hide a lost wake-up.
fn timed_out_waiter_keeps_others_wakeable(t: &mut Trial) {
    let timeout = Duration::from_millis(t.rng().u64(30..=60));
    // One timed waiter beside the untimed one, asleep before or after it; then a few.
    let scenarios = [
        (true, 1),
        (false, 1),
        (t.rng().bool(), t.rng().usize(2..=3)),
    ];
    within(PATIENCE * 6, "timed and untimed waiters", move || {
        for (untimed_first, timed) in scenarios {
            let lock = Arc::new(Lock::new());
            lock.acquire();
            let beside = harness::timed_beside_untimed(
                untimed_first,
                timed,
                timeout,
                PATIENCE,
                {
                    let lock = Arc::clone(&lock);
                    move || {
                        lock.acquire();
                        lock.release().unwrap();
                    }
                },
                {
                    let lock = Arc::clone(&lock);
                    move |timeout| lock.acquire_timeout(timeout)
                },
            );
            ensure!(
                beside.timed_results.iter().all(|got| !got),
                "acquire_timeout() returned true while another thread held the lock the whole \
                 time"
            );
            ensure_eq!(lock.release(), Ok(()), "release() of the held lock");
            let order = beside.order;
            if !beside.woken(PATIENCE) {
                fail!(
                    "a thread blocked in acquire() was never woken: the lock was released \
                     {PATIENCE:?} ago and is {}, after {timed} acquire_timeout() call(s) timed \
                     out beside it ({}). A timed waiter that gives up must not erase the sign \
                     that other threads sleep on the lock (e.g. store \"locked, no waiters\" \
                     over \"locked, with waiters\"), or the release wakes nobody",
                    if lock.locked() { "locked" } else { "free" },
                    order
                );
            }
            ensure!(!lock.locked(), "the lock is still locked at the end");
        }
    });
}

/// A timed-out acquire_timeout takes nothing: timed waiters give up over and over while the
/// lock is taken and released, and every waiter that gets it releases it at once, so the lock
/// must always be free again soon. Releases that land just as a waiter gives up are what this
/// looks for; the perturbed schedule widens that moment.
fn timed_out_acquire_takes_nothing(t: &mut Trial) {
    let waiters = t.rng().usize(2..=4);
    let holds: Vec<u64> = (0..t.rng().usize(300..=500))
        .map(|_| t.rng().u64(0..=600))
        .collect();
    let seed = t.seed();
    within(PATIENCE * 4, "timed waiters racing releases", move || {
        let lock = Arc::new(Lock::new());
        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..waiters)
            .map(|i| {
                let (lock, stop) = (Arc::clone(&lock), Arc::clone(&stop));
                let mut rng = XorShift::stream(seed, i);
                harness::spawn(move || {
                    while !stop.load(SeqCst) {
                        let timeout = Duration::from_micros(rng.next_u64() % 700);
                        if lock.acquire_timeout(timeout) {
                            ensure_eq!(lock.release(), Ok(()), "release() after acquire_timeout");
                        }
                    }
                })
            })
            .collect();
        for (round, hold) in holds.into_iter().enumerate() {
            if !lock.acquire_timeout(PATIENCE) {
                stop.store(true, SeqCst);
                fail!(
                    "round {round}: the lock could not be taken for {PATIENCE:?}, although every \
                     thread that got it released it at once: an acquire_timeout() that returned \
                     false kept the lock (a timed-out call must take nothing)"
                );
            }
            thread::sleep(Duration::from_micros(hold));
            ensure_eq!(lock.release(), Ok(()), "release() of the held lock");
        }
        stop.store(true, SeqCst);
        join_all(handles);
    });
}

/// Releasing an unlocked lock is `Err(ReleaseUnlocked)` and changes nothing, also when two
/// threads race to release a lock that was acquired once.
fn release_unlocked_is_an_error(t: &mut Trial) {
    let races = 25;
    let seed = t.seed();
    within(WORKLOAD, "release() of an unlocked lock", move || {
        let lock = Lock::new();
        ensure_eq!(
            lock.release(),
            Err(Error::ReleaseUnlocked),
            "release() of a new lock"
        );
        ensure!(!lock.locked(), "release() of an unlocked lock locked it");
        lock.acquire();
        lock.release().unwrap();
        for _ in 0..3 {
            ensure_eq!(
                lock.release(),
                Err(Error::ReleaseUnlocked),
                "release() of a lock that was already released"
            );
        }
        ensure!(!lock.locked(), "over-releasing changed the lock's state");
        ensure!(
            lock.try_acquire(),
            "after over-releasing, try_acquire() fails"
        );
        ensure!(
            !lock.try_acquire(),
            "after over-releasing, two try_acquire() in a row both succeed (the extra releases \
             were banked)"
        );
        lock.release().unwrap();

        // Two threads release a lock that was acquired once: exactly one succeeds.
        let lock = Arc::new(lock);
        let go = Arc::new(AtomicBool::new(false));
        for race in 0..races {
            lock.acquire();
            go.store(false, SeqCst);
            let ready = Arc::new(AtomicUsize::new(0));
            let releasers: Vec<_> = (0..2)
                .map(|_| {
                    let (lock, go, ready) =
                        (Arc::clone(&lock), Arc::clone(&go), Arc::clone(&ready));
                    harness::spawn(move || {
                        ready.fetch_add(1, SeqCst);
                        while !go.load(SeqCst) {
                            thread::yield_now();
                        }
                        lock.release()
                    })
                })
                .collect();
            while ready.load(SeqCst) < 2 {
                thread::yield_now();
            }
            go.store(true, SeqCst);
            let results = join_all(releasers);
            let ok = results.iter().filter(|r| r.is_ok()).count();
            ensure_eq!(
                ok,
                1,
                "successful release() calls when two threads raced to release a lock acquired \
                 once (race {race}, seed {seed}; results {results:?}): checking 'is it locked?' \
                 and unlocking must be one atomic step"
            );
            ensure!(
                !lock.locked(),
                "the lock is locked after the racing releases"
            );
        }
        ensure!(
            lock.try_acquire(),
            "try_acquire() fails after the racing releases"
        );
        ensure!(
            !lock.try_acquire(),
            "the racing releases left the lock taken twice"
        );
        lock.release().unwrap();
    });
}

/// Guards release the lock when they go out of scope, also while a panic unwinds.
fn guards_released_on_panic(_t: &mut Trial) {
    within(PATIENCE, "guards and panics", || {
        let lock = Lock::new();
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            let _guard = lock.guard();
            panic!("a panic inside `with lock:`");
        }));
        ensure!(
            result.is_err(),
            "the panic inside the guard's scope disappeared"
        );
        ensure!(
            !lock.locked(),
            "a LockGuard did not release the lock while a panic unwound"
        );
        ensure!(
            lock.try_acquire(),
            "the lock cannot be taken after a panicking guard"
        );
        lock.release().unwrap();

        let mutex = Mutex::new(0u32);
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut guard = mutex.lock();
            *guard += 1;
            panic!("a panic inside the critical section");
        }));
        ensure!(
            result.is_err(),
            "the panic inside the guard's scope disappeared"
        );
        match mutex.try_lock() {
            Some(guard) => ensure_eq!(*guard, 1, "the value written before the panic"),
            None => fail!("a MutexGuard did not unlock the Mutex while a panic unwound"),
        }

        // A thread that panics while holding guards leaves the locks free for the others.
        let shared = Arc::new((Lock::new(), Mutex::new(0u32)));
        let other = Arc::clone(&shared);
        let died = harness::spawn(move || {
            let _a = other.0.guard();
            let _b = other.1.lock();
            panic!("a worker died holding both guards");
        })
        .join();
        ensure!(died.is_err(), "the worker's panic disappeared");
        ensure!(
            !shared.0.locked(),
            "a thread that panicked holding a LockGuard left the lock locked"
        );
        ensure!(
            shared.1.try_lock().is_some(),
            "a thread that panicked holding a MutexGuard left the Mutex locked"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// stress

/// Threads take the lock in every way and update a counter with a separate read and write.
fn mutual_exclusion(t: &mut Trial) {
    let threads = t.rng().usize(4..=8);
    let increments = 1000;
    // Weights of acquire, try_acquire-then-acquire, acquire_timeout, guard.
    let weights: [usize; 4] = std::array::from_fn(|_| t.rng().usize(1..=4));
    let seed = t.seed();
    within(WORKLOAD, "the contended counter", move || {
        let lock = Arc::new(Lock::new());
        let counter = Arc::new(AtomicUsize::new(0));
        let inside = Arc::new(AtomicUsize::new(0));
        let failure = Arc::new(FirstFailure::default());
        let handles = {
            let (lock, counter, inside, failure) = (
                Arc::clone(&lock),
                Arc::clone(&counter),
                Arc::clone(&inside),
                Arc::clone(&failure),
            );
            spawn_together(threads, move |i| {
                let mut rng = XorShift::stream(seed, i);
                let total: usize = weights.iter().sum();
                for step in 0..increments {
                    if failure.raised() {
                        return;
                    }
                    let mut pick = rng.below(total);
                    let way = weights.iter().position(|&w| {
                        let hit = pick < w;
                        pick = pick.wrapping_sub(w);
                        hit
                    });
                    let guard = match way {
                        Some(0) => {
                            lock.acquire();
                            None
                        }
                        Some(1) => {
                            if !lock.try_acquire() {
                                lock.acquire();
                            }
                            None
                        }
                        Some(2) => {
                            let timeout = Duration::from_micros(rng.next_u64() % 300);
                            while !lock.acquire_timeout(timeout) {}
                            None
                        }
                        _ => Some(lock.guard()),
                    };
                    let others = inside.fetch_add(1, SeqCst);
                    if others != 0 {
                        failure.raise(format!(
                            "{} threads were inside the critical section at once (step {step} of \
                             thread {i}): taking the lock must be one atomic step, and a woken \
                             waiter must try again",
                            others + 1
                        ));
                    }
                    let value = counter.load(SeqCst);
                    if rng.below(32) == 0 {
                        thread::yield_now();
                    }
                    counter.store(value + 1, SeqCst);
                    inside.fetch_sub(1, SeqCst);
                    match guard {
                        Some(guard) => drop(guard),
                        None => {
                            if let Err(error) = lock.release() {
                                failure.raise(format!(
                                    "release() by the thread that had just acquired the lock \
                                     returned Err({error:?})"
                                ));
                            }
                        }
                    }
                }
            })
        };
        join_all(handles);
        failure.check();
        let expected = threads * increments;
        let counted = counter.load(SeqCst);
        ensure!(
            counted == expected,
            "{threads} threads x {increments} increments under the lock counted {counted}: {} \
             increments were lost to overlapping critical sections",
            expected - counted
        );
        ensure!(
            !lock.locked(),
            "the lock is still locked after every thread released it"
        );
    });
}

/// `Mutex<T>` under contention: lock and try_lock, a non-atomic update, one guard at a time.
fn mutex_exclusion(t: &mut Trial) {
    let threads = t.rng().usize(3..=6);
    let rounds = 1000;
    let try_share = t.rng().usize(0..=3);
    within(WORKLOAD, "the contended Mutex", move || {
        let mutex = Arc::new(Mutex::new((0usize, false)));
        let failure = Arc::new(FirstFailure::default());
        let handles = {
            let (mutex, failure) = (Arc::clone(&mutex), Arc::clone(&failure));
            spawn_together(threads, move |i| {
                for step in 0..rounds {
                    if failure.raised() {
                        return;
                    }
                    let mut guard = if (i + step) % 4 < try_share {
                        loop {
                            if let Some(guard) = mutex.try_lock() {
                                break guard;
                            }
                            thread::yield_now();
                        }
                    } else {
                        mutex.lock()
                    };
                    if guard.1 {
                        failure.raise(format!(
                            "two MutexGuards of one Mutex existed at once (step {step} of thread \
                             {i})"
                        ));
                    }
                    guard.1 = true;
                    let value = guard.0;
                    if step % 32 == i {
                        thread::yield_now();
                    }
                    guard.0 = value + 1;
                    guard.1 = false;
                }
            })
        };
        join_all(handles);
        failure.check();
        let mutex = Arc::try_unwrap(mutex).unwrap_or_else(|_| fail!("a worker kept the Mutex"));
        let (count, _) = mutex.into_inner();
        ensure_eq!(
            count,
            threads * rounds,
            "the count after {threads} threads x {rounds} increments"
        );
    });
}

/// Every release must wake a sleeper: a ping-pong between two threads through two locks (each
/// round needs a wake-up of the other thread), then threads that hold the lock long enough for
/// the others to fall asleep.
fn no_lost_wakeups(t: &mut Trial) {
    let rounds = t.rng().usize(300..=600);
    let threads = t.rng().usize(3..=6);
    let holds: Vec<u64> = (0..threads * 60).map(|_| t.rng().u64(0..=300)).collect();
    within(WORKLOAD, "the ping-pong between two threads", move || {
        let ping = Arc::new(Lock::new());
        let pong = Arc::new(Lock::new());
        ping.acquire();
        pong.acquire();
        let responder = {
            let (ping, pong) = (Arc::clone(&ping), Arc::clone(&pong));
            harness::spawn(move || {
                for _ in 0..rounds {
                    ping.acquire();
                    pong.release().unwrap();
                }
            })
        };
        for _ in 0..rounds {
            ensure_eq!(ping.release(), Ok(()), "release() of the ping lock");
            pong.acquire();
        }
        join_all([responder]);
    });
    within(
        WORKLOAD,
        "threads taking turns with sleeping waiters",
        move || {
            let lock = Arc::new(Lock::new());
            let holds = Arc::new(holds);
            let handles = {
                let (lock, holds) = (Arc::clone(&lock), Arc::clone(&holds));
                spawn_together(threads, move |i| {
                    for step in 0..60 {
                        let _guard = lock.guard();
                        thread::sleep(Duration::from_micros(holds[i * 60 + step]));
                    }
                })
            };
            join_all(handles);
            ensure!(!lock.locked(), "the lock is still locked at the end");
        },
    );
}

// ---------------------------------------------------------------------------------------------
// performance

/// Blocked waiters sleep: they burn (almost) no CPU and do not poll.
fn blocked_waiters_sleep(_t: &mut Trial) {
    let lock = Arc::new(Lock::new());
    lock.acquire();
    let baseline = harness::sleeping_threads();
    let waiters: Vec<_> = (0..4)
        .map(|i| {
            let lock = Arc::clone(&lock);
            harness::spawn(move || {
                if i % 2 == 0 {
                    lock.acquire();
                } else {
                    ensure!(
                        lock.acquire_timeout(Duration::from_secs(60)),
                        "acquire_timeout(60 s) gave up although the lock was released"
                    );
                }
                lock.release().unwrap();
            })
        })
        .collect();
    let asleep = harness::wait_sleeping(baseline, 4, PATIENCE);
    if !asleep {
        // Let the waiters finish before failing, so that they stop burning the CPU.
        lock.release().unwrap();
        within(PATIENCE, "the waiters", move || join_all(waiters));
        fail!(
            "4 threads blocked in acquire()/acquire_timeout() never went to sleep within \
             {PATIENCE:?}: a blocked waiter must sleep (futex::wait), not spin"
        );
    }
    let window = Duration::from_millis(300);
    let before = Usage::now();
    thread::sleep(window);
    let used = Usage::now().since(before);
    lock.release().unwrap();
    within(PATIENCE, "the waiters after the release", move || {
        join_all(waiters)
    });
    ensure!(
        used.cpu <= window / 10,
        "4 blocked waiters burned {:?} of CPU in {window:?}: they must sleep, not spin",
        used.cpu
    );
    ensure!(
        used.context_switches <= POLLING,
        "4 blocked waiters made {} context switches in {window:?}: they poll (sleep and \
         re-check) instead of sleeping until a release wakes them",
        used.context_switches
    );
}

// Explored scenarios (see `harness::explore`): a few threads and operations, run under the
// schedules an exploration chooses, where every operation on the lock is a scheduling point.

/// Three threads take the lock twice each, each way of taking it at least once; a second
/// thread inside fails.
fn exclusion_scenario() {
    let lock = Lock::new();
    let inside = explore::Occupancy::new();
    explore::each(3, move |i| {
        for round in 0..2 {
            explore::take(
                i + round,
                "Lock",
                || lock.acquire(),
                || lock.try_acquire(),
                |timeout| lock.acquire_timeout(timeout),
            );
            inside.enter(1, "the Lock");
            inside.leave();
            ensure!(lock.release().is_ok(), "release by the holder failed");
        }
    });
}

/// Three threads take the blocking way twice each: every release must reach a sleeper.
fn handoff_scenario() {
    let lock = Lock::new();
    explore::each(3, move |_| {
        for _ in 0..2 {
            lock.acquire();
            let _ = lock.release();
        }
    });
}

fn main() {
    harness::main(harness::checks![
        acquire_and_release,
        unowned_release,
        mutex_api,
        count_locked_is_exact,
        timeouts,
        timed_out_waiter_keeps_others_wakeable,
        timed_out_acquire_takes_nothing,
        release_unlocked_is_an_error,
        guards_released_on_panic,
        mutual_exclusion explored exclusion_scenario,
        mutex_exclusion,
        no_lost_wakeups explored_liveness handoff_scenario,
        blocked_waiters_sleep,
    ])
}
