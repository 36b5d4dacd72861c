//! Hidden checks of 03_rlock: `RLock`, `ReentrantMutex`, `Ledger`.
//!
//! Bug classes aimed at: a missing owner check, a lock that is not reentrant (self-deadlock), a
//! count that unlocks too early or never, a recursion count visible to other threads, owner races
//! (the owner field written after unlocking, check-then-act on the owner), money in flight in the
//! ledger, lost wake-ups, early or ignored timeouts, `Duration::MAX`, spinning waiters.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use harness::{
    ensure, ensure_eq, explore, fail, join_failing_fast, within, Trial, Worker, XorShift,
};
use rlock::{Error, Ledger, RLock, ReentrantMutex, TransferError};

/// Context switches the whole process may make while its waiters should all be asleep (300 ms):
/// sleeping threads make none and the measuring thread's own sleep makes one, while a waiter
/// that polls, even with naps of 50 ms, makes several each.
const POLLING: u64 = 20;

/// How long a call that should return at once (or soon) may take before it counts as blocked.
const LIMIT: Duration = Duration::from_secs(2);

/// If a waiter already returned, reports why: its own failure, or that it got through a lock
/// that was held.
fn propagate_failures<T: 'static>(handles: &mut Vec<Worker<T>>) {
    if let Some(index) = handles.iter().position(|h| h.is_finished()) {
        if let Err(payload) = handles.remove(index).join() {
            std::panic::resume_unwind(payload);
        }
        fail!("a thread blocked on a held RLock returned from its acquire while the lock was still held");
    }
}

/// Receives from a helper thread, failing with `what` if nothing comes within [`LIMIT`]. If the
/// helper died (one of its own checks failed), its failure is the trial's verdict.
fn recv<T>(rx: &mpsc::Receiver<T>, what: &str) -> T {
    match rx.recv_timeout(LIMIT) {
        Ok(value) => value,
        // resume_unwind skips the panic hook: the helper's own failure, recorded first, is the
        // one reported.
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(Box::new(format!("{what}: a helper thread died")))
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            fail!("{what} did not happen within {LIMIT:?} (blocked: deadlock or lost wake-up?)")
        }
    }
}

/// Runs `f` on a thread of its own (a fresh thread: it holds nothing) and waits for it.
fn on_other_thread<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    within(LIMIT, what, f)
}

// ---------------------------------------------------------------------------------------------
// functionality

/// The owner re-enters with every kind of acquire; the count follows; unlocked only at 0.
fn reentrancy(t: &mut Trial) {
    let depth = t.rng().usize(2..=40);
    let methods: Vec<u8> = (0..depth).map(|_| t.rng().u8(0..5)).collect();
    within(
        LIMIT,
        "the owner re-entering its own RLock (acquire/try_acquire/acquire_timeout/guard while holding it)",
        move || {
            let lock = RLock::default();
            ensure!(
                !lock.locked() && !lock.is_owned() && lock.recursion_count() == 0,
                "a new RLock is not unlocked: locked={}, is_owned={}, recursion_count={}",
                lock.locked(),
                lock.is_owned(),
                lock.recursion_count()
            );
            let mut guards = Vec::new();
            for (level, method) in methods.iter().enumerate() {
                let how = match method {
                    0 => {
                        lock.acquire();
                        guards.push(None);
                        "acquire()"
                    }
                    1 => {
                        ensure!(lock.try_acquire(), "try_acquire() by the owner (holding it {level} time(s)) returned false: the owner must re-enter");
                        guards.push(None);
                        "try_acquire()"
                    }
                    2 => {
                        ensure!(lock.acquire_timeout(Duration::ZERO), "acquire_timeout(0) by the owner (holding it {level} time(s)) returned false: the owner must re-enter at once");
                        guards.push(None);
                        "acquire_timeout(0)"
                    }
                    3 => {
                        ensure!(lock.acquire_timeout(Duration::from_secs(60)), "acquire_timeout(60 s) by the owner returned false");
                        guards.push(None);
                        "acquire_timeout(60 s)"
                    }
                    _ => {
                        guards.push(Some(lock.guard()));
                        "guard()"
                    }
                };
                ensure_eq!(
                    lock.recursion_count(),
                    level + 1,
                    "recursion_count() after {} acquires (the last by {how})",
                    level + 1
                );
                ensure!(lock.is_owned() && lock.locked(), "after {how}, is_owned()={} and locked()={}, expected both true", lock.is_owned(), lock.locked());
            }
            for left in (0..depth).rev() {
                match guards.pop().unwrap() {
                    Some(guard) => drop(guard),
                    None => ensure_eq!(lock.release(), Ok(()), "release() by the owner holding it {} time(s)", left + 1),
                }
                ensure_eq!(lock.recursion_count(), left, "recursion_count() after releasing down to {left}");
                ensure_eq!(lock.locked(), left > 0, "locked() with {left} acquire(s) left (of {depth})");
                ensure_eq!(lock.is_owned(), left > 0, "is_owned() with {left} acquire(s) left (of {depth})");
            }
            ensure_eq!(lock.release(), Err(Error::NotOwner), "release() of an unlocked RLock");
            ensure!(!lock.locked(), "a failed release() of an unlocked RLock locked it");
            // Usable again afterwards.
            ensure!(lock.try_acquire(), "try_acquire() of a free RLock after a full release returned false");
            ensure_eq!(lock.release(), Ok(()), "release() after re-acquiring");
        },
    );
    // Guards release while a panic unwinds (Python's `with` releases on an exception).
    let lock = Arc::new(RLock::new());
    let mutex = Arc::new(ReentrantMutex::new(Cell::new(0u8)));
    let (inner_lock, inner_mutex) = (Arc::clone(&lock), Arc::clone(&mutex));
    let unwound = within(
        LIMIT,
        "a thread panicking while holding guards",
        move || {
            harness::spawn(move || {
                let _outer = inner_lock.guard();
                let _inner = inner_lock.guard();
                let _data = inner_mutex.lock();
                let _again = inner_mutex.lock();
                panic!("a panic while holding RLock and ReentrantMutex guards");
            })
            .join()
            .is_err()
        },
    );
    ensure!(
        unwound,
        "the panic inside the guards' scope did not propagate"
    );
    ensure!(!lock.locked(), "an RLock is still locked after a panic unwound through its owner's guards (guards must release on drop, also while panicking)");
    let other = Arc::clone(&mutex);
    let free = within(
        LIMIT,
        "try_lock() after a panic unwound through guards",
        move || other.try_lock().is_some(),
    );
    ensure!(
        free,
        "a ReentrantMutex is still locked after a panic unwound through its owner's guards"
    );
}

/// Only the owner may release; a foreign release fails and changes nothing.
fn owner_only_release(t: &mut Trial) {
    let depth = t.rng().usize(1..=5);
    let lock = Arc::new(RLock::new());
    let (to_main, from_owner) = mpsc::channel::<usize>();
    let (to_owner, from_main) = mpsc::channel::<()>();
    let owner = {
        let lock = Arc::clone(&lock);
        harness::spawn(move || {
            for _ in 0..depth {
                lock.acquire();
            }
            to_main.send(lock.recursion_count()).unwrap();
            // Phase 1: the main thread tries to release; then we check nothing changed.
            from_main.recv().unwrap();
            ensure_eq!(lock.recursion_count(), depth, "the owner's recursion_count() after another thread's release() was refused (a refused release must change nothing)");
            ensure!(
                lock.is_owned(),
                "the owner lost the RLock after another thread's refused release()"
            );
            for _ in 1..depth {
                ensure_eq!(lock.release(), Ok(()), "release() by the owner");
            }
            to_main.send(lock.recursion_count()).unwrap();
            // Phase 2: held once; the main thread tries again.
            from_main.recv().unwrap();
            ensure_eq!(
                lock.recursion_count(),
                1,
                "the owner's recursion_count() after another thread's refused release()"
            );
            ensure_eq!(lock.release(), Ok(()), "the owner's last release()");
            ensure!(!lock.is_owned() && lock.recursion_count() == 0, "after its last release the former owner still sees is_owned()={} recursion_count()={}", lock.is_owned(), lock.recursion_count());
            to_main.send(0).unwrap();
        })
    };
    let seen = recv(&from_owner, "the owner thread's acquires");
    ensure_eq!(
        seen,
        depth,
        "recursion_count() of a thread that acquired {depth} time(s)"
    );
    for phase in ["", " (the owner now holds it once)"] {
        ensure_eq!(
            lock.release(),
            Err(Error::NotOwner),
            "release() by a thread that does not hold the RLock{phase}"
        );
        ensure!(
            lock.locked(),
            "locked() is false while another thread holds the RLock{phase}"
        );
        ensure!(
            !lock.is_owned(),
            "is_owned() is true in a thread that does not hold the RLock{phase}"
        );
        ensure_eq!(lock.recursion_count(), 0, "recursion_count() in a thread that does not hold the RLock{phase} (the owner's count is private)");
        let other = Arc::clone(&lock);
        let got = on_other_thread(
            "try_acquire() of an RLock held by another thread",
            move || other.try_acquire() || other.acquire_timeout(Duration::ZERO),
        );
        ensure!(
            !got,
            "a third thread acquired an RLock held by another thread{phase}"
        );
        to_owner.send(()).unwrap();
        if phase.is_empty() {
            ensure_eq!(
                recv(&from_owner, "the owner's releases"),
                1,
                "the owner's recursion_count() after {} releases of {depth}",
                depth - 1
            );
        }
    }
    recv(&from_owner, "the owner's last release");
    harness::join_all([owner]);
    ensure!(
        !lock.locked(),
        "locked() after the owner released every acquire"
    );
    ensure_eq!(
        lock.release(),
        Err(Error::NotOwner),
        "release() of an unlocked RLock"
    );
    // Now ours: another thread still may not release it.
    lock.acquire();
    let other = Arc::clone(&lock);
    let foreign = on_other_thread("release() by a non-owner", move || other.release());
    ensure_eq!(
        foreign,
        Err(Error::NotOwner),
        "release() by a thread that does not hold the RLock"
    );
    ensure!(lock.is_owned() && lock.recursion_count() == 1, "the owner's state changed after a refused foreign release(): is_owned()={}, recursion_count()={}", lock.is_owned(), lock.recursion_count());
    ensure_eq!(lock.release(), Ok(()), "release() by the owner");
}

/// acquire_timeout against another thread's lock: not early, not ignored, zero tries once,
/// `Duration::MAX` means no deadline, a release during the wait ends it with `true`.
fn timeouts(t: &mut Trial) {
    let wait = Duration::from_millis(t.rng().u64(20..=60));
    let lock = Arc::new(RLock::new());
    let (to_main, from_holder) = mpsc::channel::<()>();
    let (to_holder, from_main) = mpsc::channel::<()>();
    let holder = {
        let lock = Arc::clone(&lock);
        harness::spawn(move || {
            lock.acquire();
            lock.acquire();
            to_main.send(()).unwrap();
            from_main.recv().unwrap();
            ensure_eq!(lock.release(), Ok(()), "release() by the owner");
            thread::sleep(Duration::from_millis(20));
            ensure_eq!(lock.release(), Ok(()), "the owner's last release()");
        })
    };
    recv(&from_holder, "the holder's acquire");

    let other = Arc::clone(&lock);
    let zero = within(
        LIMIT,
        "acquire_timeout(0) on an RLock held by another thread",
        move || other.acquire_timeout(Duration::ZERO),
    );
    ensure!(
        !zero,
        "acquire_timeout(0) succeeded on an RLock held by another thread"
    );

    let other = Arc::clone(&lock);
    let (got, waited, owned, count) = within(
        wait + LIMIT,
        "acquire_timeout on an RLock held by another thread",
        move || {
            let start = Instant::now();
            let got = other.acquire_timeout(wait);
            (
                got,
                start.elapsed(),
                other.is_owned(),
                other.recursion_count(),
            )
        },
    );
    ensure!(
        !got,
        "acquire_timeout({wait:?}) succeeded on an RLock another thread holds"
    );
    ensure!(
        waited >= wait,
        "acquire_timeout({wait:?}) gave up early, after {waited:?}"
    );
    ensure!(!owned && count == 0, "after a timed-out acquire_timeout the caller has is_owned()={owned}, recursion_count()={count}");
    ensure!(
        lock.locked(),
        "a timed-out acquire_timeout unlocked the RLock of another thread"
    );

    // A long timed wait and an endless one, both ended by the holder's last release.
    let mut waiters = Vec::new();
    for timeout in [Duration::from_secs(30), Duration::MAX] {
        let lock = Arc::clone(&lock);
        waiters.push(harness::spawn(move || {
            let start = Instant::now();
            let got = lock.acquire_timeout(timeout);
            let waited = start.elapsed();
            ensure!(got, "acquire_timeout({timeout:?}) returned false although the holder released the RLock after ~20 ms");
            ensure!(lock.is_owned() && lock.recursion_count() == 1, "after a successful acquire_timeout: is_owned()={}, recursion_count()={}", lock.is_owned(), lock.recursion_count());
            ensure_eq!(lock.release(), Ok(()), "release() after a successful acquire_timeout");
            waited
        }));
    }
    thread::sleep(Duration::from_millis(10));
    to_holder.send(()).unwrap();
    let waited = join_failing_fast(
        LIMIT * 2,
        "acquire_timeout(30 s) and acquire_timeout(Duration::MAX) waiting for a release",
        waiters,
    );
    ensure!(waited[0] < Duration::from_secs(10), "acquire_timeout(30 s) returned only after {:?} though the lock was released after ~30 ms: does it sleep out the whole timeout?", waited[0]);
    harness::join_all([holder]);
    ensure!(
        !lock.locked(),
        "the RLock is still locked after every thread released it"
    );

    // Duration::MAX on a free lock, and by the owner.
    let free = Arc::new(RLock::new());
    within(
        LIMIT,
        "acquire_timeout(Duration::MAX) on a free RLock",
        move || {
            ensure!(
                free.acquire_timeout(Duration::MAX),
                "acquire_timeout(Duration::MAX) on a free RLock returned false"
            );
            ensure!(
                free.acquire_timeout(Duration::MAX),
                "acquire_timeout(Duration::MAX) by the owner returned false"
            );
            ensure_eq!(
                free.recursion_count(),
                2,
                "recursion_count() after two acquire_timeout(Duration::MAX)"
            );
        },
    );
}

/// A timed waiter that gives up must not erase the sign that others sleep on the lock: with an
/// untimed waiter asleep beside timed ones that time out, the owner's last release must still
/// wake it. Run without perturbation, which wakes sleepers spuriously and would hide a lost
/// wake-up.
fn timed_out_waiter_keeps_others_wakeable(t: &mut Trial) {
    let timeout = Duration::from_millis(t.rng().u64(30..=60));
    // One timed waiter beside the untimed one, asleep before or after it; then a few.
    let scenarios = [
        (true, 1),
        (false, 1),
        (t.rng().bool(), t.rng().usize(2..=3)),
    ];
    within(LIMIT * 6, "timed and untimed waiters", move || {
        for (untimed_first, timed) in scenarios {
            let lock = Arc::new(RLock::new());
            lock.acquire();
            lock.acquire();
            let beside = harness::timed_beside_untimed(
                untimed_first,
                timed,
                timeout,
                LIMIT,
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
                "acquire_timeout() returned true while another thread held the RLock the whole \
                 time"
            );
            ensure_eq!(lock.release(), Ok(()), "the owner's first release()");
            ensure_eq!(lock.release(), Ok(()), "the owner's last release()");
            let order = beside.order;
            if !beside.woken(LIMIT) {
                fail!(
                    "a thread blocked in acquire() was never woken: the owner's last release() \
                     was {LIMIT:?} ago and the RLock is {}, after {timed} acquire_timeout() \
                     call(s) timed out beside it ({}). A timed waiter that gives up must not \
                     erase the sign that other threads sleep on the lock (e.g. clear a \
                     \"someone waits\" flag or store \"locked, no waiters\"), or the release \
                     wakes nobody",
                    if lock.locked() { "locked" } else { "free" },
                    order
                );
            }
            ensure!(!lock.locked(), "the RLock is still locked at the end");
        }
    });
}

/// ReentrantMutex: nesting, exclusion, into_inner, and counting through nested guards.
fn reentrant_mutex(t: &mut Trial) {
    let mutex = Arc::new(ReentrantMutex::new(Cell::new(7u64)));
    let inner = Arc::clone(&mutex);
    within(
        LIMIT,
        "locking a ReentrantMutex the thread already holds",
        move || {
            let outer = inner.lock();
            let middle = inner.lock();
            let innermost = inner.try_lock();
            ensure!(
                innermost.is_some(),
                "try_lock() by the thread holding the ReentrantMutex returned None"
            );
            ensure_eq!(outer.get(), 7, "the value seen through the first guard");
            middle.set(8);
            ensure_eq!(
                innermost.as_ref().unwrap().get(),
                8,
                "a write through one guard seen through another"
            );
            drop(innermost);
            drop(outer);
            let other = Arc::clone(&inner);
            let got = harness::spawn(move || other.try_lock().is_some())
                .join()
                .unwrap();
            ensure!(!got, "another thread locked the ReentrantMutex while one guard was still alive (after dropping two of three)");
            drop(middle);
            let other = Arc::clone(&inner);
            let seen = harness::spawn(move || other.try_lock().map(|g| g.get()))
                .join()
                .unwrap();
            ensure_eq!(
                seen,
                Some(8),
                "try_lock() from another thread after every guard dropped"
            );
        },
    );

    let threads = t.rng().usize(2..=5);
    let rounds = t.rng().usize(200..=500);
    let start = Arc::new(Barrier::new(threads));
    let handles = (0..threads)
        .map(|i| {
            let (mutex, start) = (Arc::clone(&mutex), Arc::clone(&start));
            let mut rng = XorShift::new(t.seed() ^ i as u64);
            harness::spawn(move || {
                start.wait();
                for _ in 0..rounds {
                    let outer = mutex.lock();
                    let inner = match rng.next_u64() % 3 {
                        0 => Some(mutex.lock()),
                        1 => Some(mutex.try_lock().unwrap_or_else(|| {
                            harness::fail!(
                                "try_lock() by the holder of the ReentrantMutex returned None"
                            )
                        })),
                        _ => None,
                    };
                    let value = outer.get();
                    if rng.next_u64() % 4 == 0 {
                        thread::yield_now();
                    }
                    inner.as_deref().unwrap_or(&*outer).set(value + 1);
                    if rng.next_u64() % 2 == 0 {
                        drop(outer);
                        drop(inner);
                    } else {
                        drop(inner);
                        drop(outer);
                    }
                }
            })
        })
        .collect();
    join_failing_fast(
        Duration::from_secs(10),
        "threads counting under a ReentrantMutex",
        handles,
    );
    let mutex = Arc::try_unwrap(mutex).unwrap_or_else(|_| fail!("a thread still holds the mutex"));
    let total = 8 + (threads * rounds) as u64;
    ensure_eq!(mutex.into_inner().get(), total, "the count after {threads} threads each did {rounds} increments under the ReentrantMutex (lost updates: two threads were inside at once)");
}

/// The ledger's single-threaded semantics (a non-reentrant lock deadlocks in transfer).
fn ledger_semantics(t: &mut Trial) {
    let accounts = t.rng().usize(2..=6);
    let initial = t.rng().u64(10..=100);
    within(
        LIMIT,
        "Ledger methods (transfer calls withdraw and deposit while holding the lock)",
        move || {
            let ledger = Ledger::new(accounts, initial);
            ensure_eq!(
                ledger.total(),
                initial * accounts as u64,
                "total() of a new Ledger::new({accounts}, {initial})"
            );
            for a in 0..accounts {
                ensure_eq!(ledger.balance(a), initial, "balance({a}) of a new ledger");
            }
            ledger.deposit(0, 5);
            ensure_eq!(
                ledger.balance(0),
                initial + 5,
                "balance(0) after deposit(0, 5)"
            );
            ensure_eq!(
                ledger.withdraw(1, initial + 1),
                Err(TransferError::InsufficientFunds),
                "withdraw more than the balance"
            );
            ensure_eq!(
                ledger.balance(1),
                initial,
                "balance after a refused withdraw"
            );
            ensure_eq!(
                ledger.withdraw(1, initial),
                Ok(()),
                "withdraw exactly the balance"
            );
            ensure_eq!(ledger.balance(1), 0, "balance after withdrawing everything");
            ensure_eq!(
                ledger.transfer(1, 0, 1),
                Err(TransferError::InsufficientFunds),
                "transfer from an empty account"
            );
            ensure_eq!(
                (ledger.balance(0), ledger.balance(1)),
                (initial + 5, 0),
                "balances after a refused transfer (it must change nothing)"
            );
            ensure_eq!(
                ledger.transfer(0, 1, initial),
                Ok(()),
                "transfer within the balance"
            );
            ensure_eq!(
                (ledger.balance(0), ledger.balance(1)),
                (5, initial),
                "balances after transfer(0, 1, {initial})"
            );
            ensure_eq!(
                ledger.transfer(1, 1, initial),
                Ok(()),
                "transfer of the whole balance to the same account"
            );
            ensure_eq!(
                ledger.balance(1),
                initial,
                "balance after a transfer to itself"
            );
            ensure_eq!(
                ledger.total(),
                initial * accounts as u64 + 5 - initial,
                "total() after the deposits and withdrawals"
            );
            ensure!(
                !TransferError::InsufficientFunds.to_string().is_empty(),
                "TransferError's Display is empty"
            );
        },
    );
}

// ---------------------------------------------------------------------------------------------
// robustness

/// Sleeping waiters get the lock only after the owner's LAST release, and every one of them gets
/// it (no lost wake-up).
fn wakes_after_last_release(t: &mut Trial) {
    for round in 0..3 {
        let depth = t.rng().usize(2..=4);
        let waiters = t.rng().usize(1..=4);
        let methods: Vec<u8> = (0..waiters).map(|_| t.rng().u8(0..4)).collect();
        let lock = Arc::new(RLock::new());
        let inside = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let (to_main, from_owner) = mpsc::channel::<()>();
        let (to_owner, from_main) = mpsc::channel::<()>();
        let owner = {
            let lock = Arc::clone(&lock);
            harness::spawn(move || {
                for _ in 0..depth {
                    lock.acquire();
                }
                to_main.send(()).unwrap();
                for _ in 0..=depth {
                    from_main.recv().unwrap();
                    if lock.recursion_count() == 0 {
                        break;
                    }
                    let before = lock.recursion_count();
                    ensure_eq!(lock.release(), Ok(()), "the owner's release()");
                    if before > 1 {
                        ensure!(lock.is_owned() && lock.locked(), "after 1 release of {before}, is_owned()={} locked()={}: the lock must stay held until the last release", lock.is_owned(), lock.locked());
                        ensure_eq!(
                            lock.recursion_count(),
                            before - 1,
                            "recursion_count() after one release"
                        );
                    }
                    to_main.send(()).unwrap();
                }
            })
        };
        recv(&from_owner, "the owner's acquires");
        let baseline = harness::sleeping_threads();
        let handles: Vec<_> = methods
            .iter()
            .map(|&method| {
                let (lock, inside, done) =
                    (Arc::clone(&lock), Arc::clone(&inside), Arc::clone(&done));
                harness::spawn(move || {
                    let _guard;
                    match method {
                        0 => lock.acquire(),
                        1 => ensure!(
                            lock.acquire_timeout(Duration::from_secs(60)),
                            "acquire_timeout(60 s) returned false although the RLock was released"
                        ),
                        2 => ensure!(
                            lock.acquire_timeout(Duration::from_secs(600)),
                            "acquire_timeout(600 s) returned false although the RLock was released"
                        ),
                        _ => _guard = Some(lock.guard()),
                    }
                    ensure!(
                        !inside.swap(true, SeqCst),
                        "two waiters held the RLock at once"
                    );
                    ensure_eq!(
                        lock.recursion_count(),
                        1,
                        "recursion_count() of a waiter that just got the lock"
                    );
                    thread::yield_now();
                    inside.store(false, SeqCst);
                    done.fetch_add(1, SeqCst);
                    if method != 3 {
                        ensure_eq!(
                            lock.release(),
                            Ok(()),
                            "release() by a waiter that got the lock"
                        );
                    }
                })
            })
            .collect();
        // Best effort: let them really fall asleep (the performance check judges spinning).
        harness::wait_sleeping(baseline, waiters, Duration::from_millis(500));
        for released in 1..depth {
            to_owner.send(()).unwrap();
            recv(&from_owner, "the owner's release");
            thread::sleep(Duration::from_millis(2));
            ensure_eq!(done.load(SeqCst), 0, "round {round}: a waiter got the RLock after {released} of the owner's {depth} releases (it must stay locked until the last)");
        }
        to_owner.send(()).unwrap();
        recv(&from_owner, "the owner's last release");
        join_failing_fast(
            LIMIT * 2,
            &format!("round {round}: {waiters} waiter(s) after the owner's last release"),
            handles,
        );
        ensure_eq!(done.load(SeqCst), waiters, "waiters that got the lock");
        to_owner.send(()).unwrap();
        harness::join_all([owner]);
        ensure!(!lock.locked(), "locked() after every thread released");
    }
}

/// A thread that ends holding the lock leaves it locked, for everyone else.
fn ends_holding(t: &mut Trial) {
    let depth = t.rng().usize(1..=3);
    let lock = Arc::new(RLock::new());
    let other = Arc::clone(&lock);
    within(LIMIT, "a thread acquiring a free RLock", move || {
        for _ in 0..depth {
            other.acquire();
        }
    });
    ensure!(
        lock.locked(),
        "locked() is false after its owner thread ended holding it"
    );
    ensure!(!lock.is_owned() && lock.recursion_count() == 0, "another thread sees is_owned()={} recursion_count()={} for an RLock held by a finished thread", lock.is_owned(), lock.recursion_count());
    ensure_eq!(
        lock.release(),
        Err(Error::NotOwner),
        "release() of an RLock held by a finished thread"
    );
    ensure!(
        !lock.try_acquire(),
        "try_acquire() took an RLock still held by a finished thread"
    );
    let other = Arc::clone(&lock);
    let (got, waited) = within(
        LIMIT,
        "acquire_timeout(20 ms) on an RLock held by a finished thread",
        move || {
            let start = Instant::now();
            (
                other.acquire_timeout(Duration::from_millis(20)),
                start.elapsed(),
            )
        },
    );
    ensure!(
        !got,
        "acquire_timeout took an RLock still held by a finished thread"
    );
    ensure!(
        waited >= Duration::from_millis(20),
        "acquire_timeout(20 ms) gave up early, after {waited:?}"
    );
    ensure!(lock.locked(), "the RLock of a finished thread got unlocked");
}

// ---------------------------------------------------------------------------------------------
// stress

/// Many threads, random acquire kinds and depths: one owner at a time, its count exact and
/// private, foreign releases refused, the owner never lost.
fn contended_ownership(t: &mut Trial) {
    let threads = t.rng().usize(2..=5);
    let rounds = t.rng().usize(100..=200);
    let lock = Arc::new(RLock::new());
    let inside = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(threads));
    let handles = (0..threads)
        .map(|i| {
            let (lock, inside, counter, start) = (Arc::clone(&lock), Arc::clone(&inside), Arc::clone(&counter), Arc::clone(&start));
            let mut rng = XorShift::new(t.seed().wrapping_add(31 * i as u64 + 1));
            harness::spawn(move || {
                start.wait();
                for _ in 0..rounds {
                    if rng.next_u64() % 4 == 0 {
                        ensure!(!lock.is_owned(), "is_owned() is true in a thread that does not hold the RLock");
                        ensure_eq!(lock.recursion_count(), 0, "recursion_count() in a thread that does not hold the RLock");
                        ensure_eq!(lock.release(), Err(Error::NotOwner), "release() by a thread that does not hold the RLock");
                    }
                    match rng.next_u64() % 4 {
                        0 => lock.acquire(),
                        1 => ensure!(lock.acquire_timeout(Duration::from_secs(60)), "acquire_timeout(60 s) returned false"),
                        2 => {
                            if !lock.try_acquire() {
                                lock.acquire();
                            }
                        }
                        _ => {
                            while !lock.acquire_timeout(Duration::from_micros(rng.next_u64() % 2000)) {}
                        }
                    }
                    ensure!(!inside.swap(true, SeqCst), "two threads held the RLock at once");
                    ensure!(lock.is_owned(), "is_owned() is false right after acquiring (the owner was lost or overwritten)");
                    ensure_eq!(lock.recursion_count(), 1, "recursion_count() right after a first acquire");
                    let depth = (rng.next_u64() % 4) as usize;
                    for level in 2..=depth + 1 {
                        let reentered = match rng.next_u64() % 3 {
                            0 => {
                                lock.acquire();
                                true
                            }
                            1 => lock.try_acquire(),
                            _ => lock.acquire_timeout(Duration::ZERO),
                        };
                        ensure!(reentered, "the owner could not re-enter its RLock with try_acquire/acquire_timeout(0)");
                        ensure_eq!(lock.recursion_count(), level, "recursion_count() of the owner after {level} acquires");
                    }
                    let value = counter.load(SeqCst);
                    if rng.next_u64() % 8 == 0 {
                        thread::yield_now();
                    }
                    counter.store(value + 1, SeqCst);
                    for level in (1..=depth).rev() {
                        ensure_eq!(lock.release(), Ok(()), "release() by the owner");
                        ensure!(lock.is_owned(), "the owner lost the RLock after a release that left {level} acquire(s)");
                        ensure_eq!(lock.recursion_count(), level, "recursion_count() after a release");
                    }
                    inside.store(false, SeqCst);
                    ensure_eq!(lock.release(), Ok(()), "the owner's last release()");
                    ensure!(!lock.is_owned(), "is_owned() is still true after the last release");
                    ensure_eq!(lock.recursion_count(), 0, "recursion_count() after the last release");
                }
            })
        })
        .collect();
    join_failing_fast(
        Duration::from_secs(10),
        "threads taking turns on one RLock",
        handles,
    );
    ensure_eq!(
        counter.load(SeqCst),
        threads * rounds,
        "increments made under the RLock"
    );
    ensure!(
        !lock.locked(),
        "the RLock is locked after every thread released it"
    );
}

/// Concurrent transfers while observers read total(): the money is never in flight, nothing is
/// lost, and the final balances are what the successful transfers add up to.
fn ledger_atomic_transfers(t: &mut Trial) {
    let accounts = t.rng().usize(2..=6);
    let initial = t.rng().u64(20..=200);
    let movers = t.rng().usize(2..=3);
    let observers = t.rng().usize(1..=2);
    let rounds = t.rng().usize(150..=300);
    let ledger = Arc::new(Ledger::new(accounts, initial));
    let expected_total = initial * accounts as u64;
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(movers + observers));
    let mover_handles: Vec<_> = (0..movers)
        .map(|i| {
            let (ledger, start) = (Arc::clone(&ledger), Arc::clone(&start));
            let mut rng = XorShift::new(t.seed().wrapping_add(7 * i as u64 + 3));
            harness::spawn(move || {
                start.wait();
                let mut moved = vec![0i64; accounts];
                for _ in 0..rounds {
                    let from = (rng.next_u64() % accounts as u64) as usize;
                    let to = (rng.next_u64() % accounts as u64) as usize;
                    let amount = rng.next_u64() % (2 * initial);
                    if ledger.transfer(from, to, amount).is_ok() {
                        moved[from] -= amount as i64;
                        moved[to] += amount as i64;
                    }
                }
                moved
            })
        })
        .collect();
    let observer_handles: Vec<_> = (0..observers)
        .map(|_| {
            let (ledger, start, stop) = (Arc::clone(&ledger), Arc::clone(&start), Arc::clone(&stop));
            harness::spawn(move || {
                start.wait();
                let mut looks = 0u64;
                while !stop.load(SeqCst) || looks == 0 {
                    let total = ledger.total();
                    ensure_eq!(total, expected_total, "total() during concurrent transfers (money in flight: a transfer let the lock go between withdraw and deposit)");
                    looks += 1;
                }
                looks
            })
        })
        .collect();
    let moved = join_failing_fast(
        Duration::from_secs(10),
        "concurrent Ledger transfers",
        mover_handles,
    );
    stop.store(true, SeqCst);
    join_failing_fast(LIMIT, "observers reading total()", observer_handles);
    for account in 0..accounts {
        let expected = initial as i64 + moved.iter().map(|m| m[account]).sum::<i64>();
        ensure_eq!(ledger.balance(account) as i64, expected, "balance({account}) after the concurrent transfers (what the successful transfers add up to)");
    }
    ensure_eq!(
        ledger.total(),
        expected_total,
        "total() after the concurrent transfers"
    );
}

// ---------------------------------------------------------------------------------------------
// performance

/// Threads blocked on a held RLock sleep: they burn no CPU and do not poll.
fn waiters_sleep(_t: &mut Trial) {
    const WAITERS: usize = 4;
    const WINDOW: Duration = Duration::from_millis(300);
    let lock = Arc::new(RLock::new());
    lock.acquire();
    let got_in = Arc::new(AtomicUsize::new(0));
    let baseline = harness::sleeping_threads();
    let mut handles: Vec<_> = (0..WAITERS)
        .map(|i| {
            let (lock, got_in) = (Arc::clone(&lock), Arc::clone(&got_in));
            harness::spawn(move || {
                if i % 2 == 0 {
                    lock.acquire();
                } else {
                    ensure!(
                        lock.acquire_timeout(Duration::from_secs(60)),
                        "acquire_timeout(60 s) returned false"
                    );
                }
                got_in.fetch_add(1, SeqCst);
                ensure_eq!(
                    lock.release(),
                    Ok(()),
                    "release() by a waiter that got the lock"
                );
            })
        })
        .collect();
    if !harness::wait_sleeping(baseline, WAITERS, Duration::from_secs(3)) {
        propagate_failures(&mut handles);
        let asleep = harness::sleeping_threads().saturating_sub(baseline);
        fail!("only {asleep} of {WAITERS} threads blocked on a held RLock went to sleep within 3 s: the others are spinning (a blocked thread must sleep, e.g. in futex::wait)");
    }
    let before = harness::Usage::now();
    thread::sleep(WINDOW);
    let used = harness::Usage::now().since(before);
    ensure_eq!(
        got_in.load(SeqCst),
        0,
        "threads that acquired an RLock while it was held"
    );
    ensure!(used.cpu <= Duration::from_millis(90), "{WAITERS} threads blocked on a held RLock burned {:?} of CPU in {WINDOW:?}: they must sleep, not spin", used.cpu);
    ensure!(used.context_switches <= POLLING, "{WAITERS} threads blocked on a held RLock made {} context switches in {WINDOW:?}: they are polling (sleeping in short naps) instead of sleeping until woken", used.context_switches);
    ensure_eq!(lock.release(), Ok(()), "release() by the owner");
    join_failing_fast(LIMIT, "waiters after the RLock was released", handles);
    ensure_eq!(
        got_in.load(SeqCst),
        WAITERS,
        "waiters that got the RLock after its release"
    );
}

// Explored scenarios (see `harness::explore`): a few threads and operations, run under the
// schedules an exploration chooses, where every operation on the lock is a scheduling point.

/// Three threads take the RLock twice over (one way each), look at it from inside and
/// outside, and give it back: one owner at a time, and it knows it.
fn ownership_scenario() {
    let lock = RLock::new();
    let inside = explore::Occupancy::new();
    explore::each(3, move |i| {
        ensure_eq!(
            lock.release(),
            Err(Error::NotOwner),
            "release() by a thread that does not hold the RLock"
        );
        explore::take(
            i,
            "RLock",
            || lock.acquire(),
            || lock.try_acquire(),
            |timeout| lock.acquire_timeout(timeout),
        );
        inside.enter(1, "the RLock");
        ensure!(
            lock.is_owned(),
            "is_owned() is false right after acquiring (the owner was lost or overwritten)"
        );
        lock.acquire();
        ensure_eq!(
            lock.recursion_count(),
            2,
            "recursion_count() after acquiring twice"
        );
        ensure_eq!(lock.release(), Ok(()), "the owner's first release()");
        ensure!(lock.is_owned(), "is_owned() after 1 release of 2");
        inside.leave();
        ensure_eq!(lock.release(), Ok(()), "the owner's last release()");
    });
}

/// Two threads take the RLock twice over, the blocking way, twice: the last release of each
/// must reach the other if it sleeps.
fn last_release_scenario() {
    let lock = RLock::new();
    explore::each(2, move |_| {
        for _ in 0..2 {
            lock.acquire();
            lock.acquire();
            let _ = lock.release();
            let _ = lock.release();
        }
    });
}

fn main() {
    harness::main(harness::checks![
        reentrancy,
        owner_only_release,
        timeouts,
        timed_out_waiter_keeps_others_wakeable,
        reentrant_mutex,
        ledger_semantics,
        wakes_after_last_release explored_liveness last_release_scenario,
        ends_holding,
        contended_ownership explored ownership_scenario,
        ledger_atomic_transfers,
        waiters_sleep,
    ])
}
