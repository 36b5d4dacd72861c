//! The semantics of `threading.RLock`, after CPython's `Lib/test/lock_tests.py` (`BaseLockTests`
//! and `RLockTests`), plus `ReentrantMutex` and `Ledger`.
//!
//! Every blocking test runs under a deadline; racing threads start together at a barrier; timing
//! assertions are only "not early" (exact) and "not ignored" (generous).

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use rlock::{Error, Ledger, RLock, ReentrantMutex, TransferError};

const DEADLINE: Duration = Duration::from_secs(20);

/// Turns on the schedule perturbation of `blocks` (random yields, sleeps and spurious wake-ups)
/// when the tests are built with `--features blocks/perturb`; without the feature it does nothing.
fn perturb() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| blocks::__grader::configure(0x5eed, 150));
}

/// Runs `f` on a thread of its own; panics if it has not returned within [`DEADLINE`].
fn with_deadline<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    perturb();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("the test blocked for {DEADLINE:?}: deadlock or lost wake-up"),
    }
}

/// Polls until `condition` holds (at most [`DEADLINE`]).
fn wait_for(mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < DEADLINE, "condition never became true");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn constructor_and_default_start_unlocked() {
    for lock in [RLock::new(), RLock::default()] {
        assert!(!lock.locked());
        assert!(!lock.is_owned());
        assert_eq!(lock.recursion_count(), 0);
    }
}

#[test]
fn acquire_release() {
    with_deadline(|| {
        let lock = RLock::new();
        lock.acquire();
        assert!(lock.locked());
        lock.release().unwrap();
        assert!(!lock.locked());
    });
}

#[test]
fn try_acquire_and_reacquire() {
    // lock_tests: test_try_acquire, test_reacquire.
    with_deadline(|| {
        let lock = RLock::new();
        assert!(lock.try_acquire());
        assert!(lock.try_acquire());
        assert!(lock.acquire_timeout(Duration::ZERO));
        lock.acquire();
        assert_eq!(lock.recursion_count(), 4);
        for left in (0..4).rev() {
            lock.release().unwrap();
            assert_eq!(lock.recursion_count(), left);
            assert_eq!(lock.locked(), left > 0);
        }
    });
}

#[test]
fn try_acquire_contended() {
    with_deadline(|| {
        let lock = Arc::new(RLock::new());
        lock.acquire();
        let other = Arc::clone(&lock);
        let got = thread::spawn(move || other.try_acquire()).join().unwrap();
        assert!(!got);
        lock.release().unwrap();
    });
}

#[test]
fn acquire_contended_wakes_every_waiter_in_turn() {
    // lock_tests: test_acquire_contended.
    with_deadline(|| {
        const N: usize = 5;
        let lock = Arc::new(RLock::new());
        let done = Arc::new(AtomicUsize::new(0));
        lock.acquire();
        lock.acquire();
        let threads: Vec<_> = (0..N)
            .map(|_| {
                let (lock, done) = (Arc::clone(&lock), Arc::clone(&done));
                thread::spawn(move || {
                    lock.acquire();
                    lock.acquire();
                    done.fetch_add(1, SeqCst);
                    lock.release().unwrap();
                    lock.release().unwrap();
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(20));
        assert_eq!(
            done.load(SeqCst),
            0,
            "a waiter got in while the lock was held"
        );
        lock.release().unwrap();
        thread::sleep(Duration::from_millis(20));
        assert_eq!(
            done.load(SeqCst),
            0,
            "a waiter got in before the last release"
        );
        lock.release().unwrap();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(done.load(SeqCst), N);
        assert!(!lock.locked());
    });
}

#[test]
fn guard_releases_on_drop_and_on_panic() {
    // lock_tests: test_with.
    with_deadline(|| {
        let lock = Arc::new(RLock::new());
        {
            let _outer = lock.guard();
            let _inner = lock.guard();
            assert_eq!(lock.recursion_count(), 2);
        }
        assert!(!lock.locked());
        let inside = Arc::clone(&lock);
        let result = thread::spawn(move || {
            let _outer = inside.guard();
            let _inner = inside.guard();
            panic!("boom");
        })
        .join();
        assert!(result.is_err());
        assert!(
            !lock.locked(),
            "the guards did not release during the panic"
        );
    });
}

#[test]
fn release_unacquired_is_an_error() {
    // lock_tests: RLockTests.test_release_unacquired.
    let lock = RLock::new();
    assert_eq!(lock.release(), Err(Error::NotOwner));
    lock.acquire();
    lock.acquire();
    lock.release().unwrap();
    lock.acquire();
    lock.release().unwrap();
    lock.release().unwrap();
    assert_eq!(lock.release(), Err(Error::NotOwner));
    assert!(!lock.locked());
}

#[test]
fn different_thread_cannot_release() {
    // lock_tests: RLockTests.test_different_thread.
    with_deadline(|| {
        let lock = Arc::new(RLock::new());
        let (held_tx, held_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let owner = {
            let lock = Arc::clone(&lock);
            thread::spawn(move || {
                lock.acquire();
                lock.acquire();
                held_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                assert_eq!(
                    lock.recursion_count(),
                    2,
                    "a foreign release changed the count"
                );
                lock.release().unwrap();
                lock.release().unwrap();
            })
        };
        held_rx.recv().unwrap();
        assert_eq!(lock.release(), Err(Error::NotOwner));
        assert!(lock.locked());
        assert!(!lock.is_owned());
        assert_eq!(lock.recursion_count(), 0);
        go_tx.send(()).unwrap();
        owner.join().unwrap();
        assert!(!lock.locked());
    });
}

#[test]
fn is_owned_and_recursion_count_are_per_thread() {
    // lock_tests: RLockTests.test__is_owned and test_recursion_count.
    with_deadline(|| {
        let lock = Arc::new(RLock::new());
        assert!(!lock.is_owned());
        lock.acquire();
        assert!(lock.is_owned());
        lock.acquire();
        assert_eq!(lock.recursion_count(), 2);
        let other = Arc::clone(&lock);
        let seen =
            thread::spawn(move || (other.is_owned(), other.recursion_count(), other.locked()))
                .join()
                .unwrap();
        assert_eq!(seen, (false, 0, true));
        lock.release().unwrap();
        assert!(lock.is_owned());
        lock.release().unwrap();
        assert!(!lock.is_owned());
        assert_eq!(lock.recursion_count(), 0);
    });
}

#[test]
fn timeout_is_neither_early_nor_ignored() {
    // lock_tests: test_timeout.
    with_deadline(|| {
        let lock = Arc::new(RLock::new());
        lock.acquire();
        let other = Arc::clone(&lock);
        thread::spawn(move || {
            assert!(!other.acquire_timeout(Duration::ZERO));
            let start = Instant::now();
            assert!(!other.acquire_timeout(Duration::from_millis(50)));
            let waited = start.elapsed();
            assert!(waited >= Duration::from_millis(50), "early: {waited:?}");
            assert!(waited < Duration::from_secs(10), "ignored: {waited:?}");
            assert!(!other.is_owned());
            assert_eq!(other.recursion_count(), 0);
        })
        .join()
        .unwrap();
        assert_eq!(lock.recursion_count(), 1);
        lock.release().unwrap();
    });
}

#[test]
fn timed_waiter_gets_the_lock_when_released() {
    with_deadline(|| {
        let lock = Arc::new(RLock::new());
        lock.acquire();
        let other = Arc::clone(&lock);
        let waiter = thread::spawn(move || {
            let got = other.acquire_timeout(Duration::from_secs(60));
            let owned = other.is_owned();
            if got {
                other.release().unwrap();
            }
            (got, owned)
        });
        thread::sleep(Duration::from_millis(20));
        lock.release().unwrap();
        assert_eq!(waiter.join().unwrap(), (true, true));
    });
}

#[test]
fn huge_timeout_means_no_deadline() {
    with_deadline(|| {
        let lock = Arc::new(RLock::new());
        assert!(lock.acquire_timeout(Duration::MAX));
        assert!(lock.acquire_timeout(Duration::MAX));
        let other = Arc::clone(&lock);
        let waiter = thread::spawn(move || {
            let got = other.acquire_timeout(Duration::MAX);
            other.release().unwrap();
            got
        });
        lock.release().unwrap();
        lock.release().unwrap();
        assert!(waiter.join().unwrap());
    });
}

#[test]
fn thread_that_ends_holding_leaves_it_locked() {
    with_deadline(|| {
        let lock = Arc::new(RLock::new());
        let other = Arc::clone(&lock);
        thread::spawn(move || other.acquire()).join().unwrap();
        assert!(lock.locked());
        assert!(!lock.is_owned());
        assert_eq!(lock.release(), Err(Error::NotOwner));
        assert!(!lock.acquire_timeout(Duration::from_millis(10)));
    });
}

#[test]
fn mutual_exclusion_under_contention() {
    with_deadline(|| {
        const THREADS: usize = 4;
        let lock = Arc::new(RLock::new());
        let inside = Arc::new(AtomicBool::new(false));
        let counter = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(THREADS));
        let threads: Vec<_> = (0..THREADS)
            .map(|i| {
                let (lock, inside, counter, start) = (
                    Arc::clone(&lock),
                    Arc::clone(&inside),
                    Arc::clone(&counter),
                    Arc::clone(&start),
                );
                thread::spawn(move || {
                    start.wait();
                    for round in 0..2_000 {
                        let depth = 1 + (i + round) % 3;
                        match round % 3 {
                            0 => lock.acquire(),
                            1 => while !lock.acquire_timeout(Duration::from_millis(1)) {},
                            _ => assert!(lock.acquire_timeout(Duration::from_secs(60))),
                        }
                        assert!(!inside.swap(true, SeqCst), "two threads inside");
                        for level in 1..depth {
                            assert!(lock.try_acquire());
                            assert_eq!(lock.recursion_count(), level + 1);
                        }
                        let v = counter.load(SeqCst);
                        counter.store(v + 1, SeqCst);
                        for _ in 1..depth {
                            lock.release().unwrap();
                        }
                        assert_eq!(lock.recursion_count(), 1);
                        inside.store(false, SeqCst);
                        lock.release().unwrap();
                        assert!(!lock.is_owned());
                        assert_eq!(lock.release(), Err(Error::NotOwner));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.load(SeqCst), THREADS * 2_000);
        assert!(!lock.locked());
    });
}

#[test]
fn reentrant_mutex_nests_and_excludes() {
    with_deadline(|| {
        let mutex = Arc::new(ReentrantMutex::new(Cell::new(0u32)));
        let outer = mutex.lock();
        outer.set(1);
        let inner = mutex.try_lock().expect("the owner re-enters with try_lock");
        assert_eq!(inner.get(), 1);
        inner.set(2);
        let other = Arc::clone(&mutex);
        assert!(thread::spawn(move || other.try_lock().is_none())
            .join()
            .unwrap());
        drop(inner);
        let other = Arc::clone(&mutex);
        assert!(thread::spawn(move || other.try_lock().is_none())
            .join()
            .unwrap());
        drop(outer);
        let other = Arc::clone(&mutex);
        let seen = thread::spawn(move || other.try_lock().map(|g| g.get()))
            .join()
            .unwrap();
        assert_eq!(seen, Some(2));
        let mutex = Arc::try_unwrap(mutex).ok().unwrap();
        assert_eq!(mutex.into_inner().into_inner(), 2);
    });
}

#[test]
fn reentrant_mutex_counts_under_contention() {
    with_deadline(|| {
        let mutex = Arc::new(ReentrantMutex::new(RefCell::new(0u64)));
        let start = Arc::new(Barrier::new(4));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (mutex, start) = (Arc::clone(&mutex), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    for _ in 0..2_000 {
                        let outer = mutex.lock();
                        let inner = mutex.lock();
                        *inner.borrow_mut() += 1;
                        drop(outer);
                        *inner.borrow_mut() += 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*mutex.lock().borrow(), 16_000);
    });
}

#[test]
fn ledger_semantics() {
    let ledger = Ledger::new(3, 50);
    assert_eq!(ledger.total(), 150);
    ledger.deposit(2, 25);
    assert_eq!(ledger.balance(2), 75);
    assert_eq!(
        ledger.withdraw(0, 51),
        Err(TransferError::InsufficientFunds)
    );
    assert_eq!(ledger.balance(0), 50);
    ledger.withdraw(0, 50).unwrap();
    assert_eq!(ledger.balance(0), 0);
    assert_eq!(
        ledger.transfer(0, 1, 1),
        Err(TransferError::InsufficientFunds)
    );
    ledger.transfer(2, 0, 75).unwrap();
    ledger.transfer(1, 1, 50).unwrap();
    assert_eq!(
        [ledger.balance(0), ledger.balance(1), ledger.balance(2)],
        [75, 50, 0]
    );
    assert_eq!(ledger.total(), 125);
    assert_eq!(
        TransferError::InsufficientFunds.to_string(),
        "insufficient funds"
    );
}

#[test]
fn ledger_total_never_sees_money_in_flight() {
    with_deadline(|| {
        const ACCOUNTS: usize = 5;
        let ledger = Arc::new(Ledger::new(ACCOUNTS, 100));
        let stop = Arc::new(AtomicBool::new(false));
        let start = Arc::new(Barrier::new(4));
        let movers: Vec<_> = (0..3)
            .map(|i| {
                let (ledger, start) = (Arc::clone(&ledger), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    let mut moved = [0i64; ACCOUNTS];
                    for n in 0..3_000usize {
                        let (from, to) = ((n + i) % ACCOUNTS, (n * 7 + i + 1) % ACCOUNTS);
                        let amount = (n % 150) as u64;
                        if ledger.transfer(from, to, amount).is_ok() {
                            moved[from] -= amount as i64;
                            moved[to] += amount as i64;
                        }
                    }
                    moved
                })
            })
            .collect();
        let observer = {
            let (ledger, stop) = (Arc::clone(&ledger), Arc::clone(&stop));
            thread::spawn(move || {
                start.wait();
                while !stop.load(SeqCst) {
                    assert_eq!(ledger.total(), 100 * ACCOUNTS as u64, "money in flight");
                }
            })
        };
        let mut expected = [100i64; ACCOUNTS];
        for mover in movers {
            for (e, m) in expected.iter_mut().zip(mover.join().unwrap()) {
                *e += m;
            }
        }
        stop.store(true, SeqCst);
        observer.join().unwrap();
        for (account, e) in expected.iter().enumerate() {
            assert_eq!(ledger.balance(account) as i64, *e, "account {account}");
        }
    });
}

#[test]
fn blocked_waiter_is_woken_by_the_last_release() {
    with_deadline(|| {
        let lock = Arc::new(RLock::new());
        lock.acquire();
        lock.acquire();
        let started = Arc::new(AtomicBool::new(false));
        let (other, flag) = (Arc::clone(&lock), Arc::clone(&started));
        let waiter = thread::spawn(move || {
            flag.store(true, SeqCst);
            other.acquire();
            other.release().unwrap();
        });
        wait_for(|| started.load(SeqCst));
        thread::sleep(Duration::from_millis(20));
        lock.release().unwrap();
        lock.release().unwrap();
        waiter.join().unwrap();
    });
}

#[test]
fn error_traits() {
    fn assert_error<E: std::error::Error + Copy + Eq + Send + Sync + 'static>(_: E) {}
    assert_error(Error::NotOwner);
    assert_error(TransferError::InsufficientFunds);
    assert!(!Error::NotOwner.to_string().is_empty());
}

#[test]
fn send_and_sync_as_the_curriculum_says() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<RLock>();
    send_sync::<Ledger>();
    send_sync::<ReentrantMutex<Cell<u32>>>();
    send_sync::<ReentrantMutex<RefCell<Vec<u64>>>>();
}
