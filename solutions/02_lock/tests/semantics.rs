//! The semantics of Python's `threading.Lock`, after CPython's `Lib/test/lock_tests.py`
//! (`BaseLockTests` and `LockTests`), plus the Rust-side `Mutex<T>`.
//!
//! Every test that may block runs its body under a deadline, so a deadlock fails the test
//! instead of hanging the suite. Racing threads start together at a barrier.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use lock::{count_locked, Error, Lock, Mutex};

/// Runs `body` on its own thread and fails if it has not finished within `limit`.
fn with_deadline<T: Send + 'static>(
    limit: Duration,
    body: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let result = panic::catch_unwind(AssertUnwindSafe(body));
        let _ = tx.send(result);
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(value)) => value,
        Ok(Err(payload)) => panic::resume_unwind(payload),
        Err(_) => panic!("still blocked after {limit:?}: deadlock or lost wake-up"),
    }
}

const LIMIT: Duration = Duration::from_secs(10);

/// Waits (polling; tests only) until `condition` holds, failing after `LIMIT`.
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < LIMIT, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

// ---------------------------------------------------------------------------------------------
// BaseLockTests

#[test]
fn constructor_and_debug() {
    let lock = Lock::new();
    assert!(!lock.locked());
    assert!(!Lock::default().locked());
    assert!(format!("{lock:?}").contains("false"));
    lock.acquire();
    assert!(format!("{lock:?}").contains("true"));
    lock.release().unwrap();
}

#[test]
fn acquire_then_destroy() {
    // test_acquire_destroy: a lock may be destroyed while it is locked.
    let lock = Box::new(Lock::new());
    lock.acquire();
    assert!(lock.locked());
    drop(lock);
}

#[test]
fn acquire_release() {
    let lock = Lock::new();
    lock.acquire();
    assert!(lock.locked());
    assert_eq!(lock.release(), Ok(()));
    assert!(!lock.locked());
}

#[test]
fn try_acquire() {
    let lock = Lock::new();
    assert!(lock.try_acquire());
    assert!(lock.locked());
    assert!(!lock.try_acquire());
    lock.release().unwrap();
    assert!(lock.try_acquire());
    lock.release().unwrap();
}

#[test]
fn try_acquire_contended() {
    let lock = Arc::new(Lock::new());
    lock.acquire();
    let other = Arc::clone(&lock);
    let got = with_deadline(LIMIT, move || other.try_acquire());
    assert!(!got, "try_acquire took a lock held by another thread");
    lock.release().unwrap();
}

#[test]
fn acquire_contended() {
    with_deadline(LIMIT, || {
        const N: usize = 5;
        let lock = Arc::new(Lock::new());
        lock.acquire();
        let finished = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(Barrier::new(N + 1));
        let workers: Vec<_> = (0..N)
            .map(|_| {
                let (lock, finished, started) = (
                    Arc::clone(&lock),
                    Arc::clone(&finished),
                    Arc::clone(&started),
                );
                thread::spawn(move || {
                    started.wait();
                    lock.acquire();
                    lock.release().unwrap();
                    finished.fetch_add(1, SeqCst);
                })
            })
            .collect();
        started.wait();
        thread::sleep(Duration::from_millis(20));
        assert_eq!(finished.load(SeqCst), 0, "a thread got past a held lock");
        lock.release().unwrap();
        for worker in workers {
            worker.join().unwrap();
        }
        assert_eq!(finished.load(SeqCst), N);
        assert!(!lock.locked());
    });
}

#[test]
fn guard_releases_at_end_of_scope_and_on_panic() {
    let lock = Lock::new();
    {
        let _guard = lock.guard();
        assert!(lock.locked());
        assert!(!lock.try_acquire());
    }
    assert!(!lock.locked());
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        let _guard = lock.guard();
        panic!("TypeError");
    }));
    assert!(result.is_err());
    assert!(
        !lock.locked(),
        "the guard did not release the lock during the panic"
    );
    assert!(lock.try_acquire());
    lock.release().unwrap();
}

#[test]
fn timeouts() {
    with_deadline(LIMIT, || {
        let lock = Arc::new(Lock::new());
        // TIMEOUT_MAX is fine; here a timeout too large for any deadline means "no deadline".
        assert!(lock.acquire_timeout(Duration::MAX));
        lock.release().unwrap();
        // A free lock is taken at once, whatever the timeout.
        let start = Instant::now();
        assert!(lock.acquire_timeout(Duration::from_secs(5)));
        assert!(start.elapsed() < Duration::from_secs(5));
        // Held by this thread: another thread's timed acquire fails, and not early.
        let other = Arc::clone(&lock);
        let (got, waited) = thread::spawn(move || {
            let start = Instant::now();
            let got = other.acquire_timeout(Duration::from_millis(100));
            (got, start.elapsed())
        })
        .join()
        .unwrap();
        assert!(!got);
        assert!(
            waited >= Duration::from_millis(100),
            "returned early: {waited:?}"
        );
        lock.release().unwrap();
    });
}

#[test]
fn zero_timeout_tries_once() {
    let lock = Lock::new();
    assert!(lock.acquire_timeout(Duration::ZERO));
    let start = Instant::now();
    assert!(!lock.acquire_timeout(Duration::ZERO));
    assert!(start.elapsed() < Duration::from_secs(1));
    lock.release().unwrap();
}

#[test]
fn timed_acquire_is_woken_by_release() {
    with_deadline(LIMIT, || {
        let lock = Arc::new(Lock::new());
        lock.acquire();
        let other = Arc::clone(&lock);
        let waiter = thread::spawn(move || {
            let start = Instant::now();
            let got = other.acquire_timeout(Duration::from_secs(60));
            (got, start.elapsed())
        });
        thread::sleep(Duration::from_millis(30));
        lock.release().unwrap();
        let (got, waited) = waiter.join().unwrap();
        assert!(got);
        assert!(
            waited < Duration::from_secs(30),
            "the release did not wake the timed waiter"
        );
        assert!(lock.locked());
        lock.release().unwrap();
    });
}

#[test]
fn unbounded_timed_acquire_waits_for_release() {
    with_deadline(LIMIT, || {
        let lock = Arc::new(Lock::new());
        lock.acquire();
        let other = Arc::clone(&lock);
        let waiter = thread::spawn(move || other.acquire_timeout(Duration::MAX));
        thread::sleep(Duration::from_millis(20));
        assert!(!waiter.is_finished());
        lock.release().unwrap();
        assert!(waiter.join().unwrap());
    });
}

// ---------------------------------------------------------------------------------------------
// LockTests: non-recursive, unowned locks

#[test]
fn reacquire_blocks_until_another_thread_releases() {
    with_deadline(LIMIT, || {
        let lock = Arc::new(Lock::new());
        let phase = Arc::new(AtomicUsize::new(0));
        let worker = {
            let (lock, phase) = (Arc::clone(&lock), Arc::clone(&phase));
            thread::spawn(move || {
                lock.acquire();
                phase.store(1, SeqCst);
                lock.acquire(); // held by ourselves: blocks until someone else releases
                phase.store(2, SeqCst);
            })
        };
        eventually("the worker holds the lock", || phase.load(SeqCst) == 1);
        thread::sleep(Duration::from_millis(20));
        assert_eq!(phase.load(SeqCst), 1, "the holder re-acquired its own lock");
        lock.release().unwrap();
        worker.join().unwrap();
        assert_eq!(phase.load(SeqCst), 2);
        assert!(lock.locked());
    });
}

#[test]
fn released_from_a_different_thread() {
    with_deadline(LIMIT, || {
        let lock = Arc::new(Lock::new());
        lock.acquire();
        let other = Arc::clone(&lock);
        thread::spawn(move || other.release())
            .join()
            .unwrap()
            .unwrap();
        assert!(!lock.locked());
        lock.acquire();
        lock.release().unwrap();
    });
}

#[test]
fn state_after_timeout() {
    // CPython issue #11618: a timed-out acquire leaves the lock in a proper state.
    let lock = Lock::new();
    lock.acquire();
    assert!(!lock.acquire_timeout(Duration::from_millis(10)));
    assert!(lock.locked(), "a failed timed acquire unlocked the lock");
    lock.release().unwrap();
    assert!(!lock.locked());
    assert!(lock.try_acquire());
    lock.release().unwrap();
    assert_eq!(lock.release(), Err(Error::ReleaseUnlocked));
}

#[test]
fn release_of_an_unlocked_lock_is_an_error_and_changes_nothing() {
    let lock = Lock::new();
    assert_eq!(lock.release(), Err(Error::ReleaseUnlocked));
    assert!(!lock.locked());
    lock.acquire();
    lock.release().unwrap();
    assert_eq!(lock.release(), Err(Error::ReleaseUnlocked));
    assert_eq!(lock.release(), Err(Error::ReleaseUnlocked));
    // One acquire, one release: over-releasing did not bank extra releases.
    assert!(lock.try_acquire());
    assert!(!lock.try_acquire());
    lock.release().unwrap();
}

#[test]
fn error_traits() {
    fn is_error<E: std::error::Error + Copy + Eq + Send + Sync + 'static>(_: E) {}
    is_error(Error::ReleaseUnlocked);
    assert!(!Error::ReleaseUnlocked.to_string().is_empty());
}

#[test]
fn racing_releases_of_a_lock_held_once_succeed_once() {
    with_deadline(LIMIT, || {
        for _ in 0..200 {
            let lock = Arc::new(Lock::new());
            lock.acquire();
            let start = Arc::new(Barrier::new(2));
            let releasers: Vec<_> = (0..2)
                .map(|_| {
                    let (lock, start) = (Arc::clone(&lock), Arc::clone(&start));
                    thread::spawn(move || {
                        start.wait();
                        lock.release()
                    })
                })
                .collect();
            let results: Vec<_> = releasers.into_iter().map(|r| r.join().unwrap()).collect();
            assert_eq!(
                results.iter().filter(|r| r.is_ok()).count(),
                1,
                "{results:?}"
            );
            assert!(!lock.locked());
        }
    });
}

/// Threads increment a counter with a separate load and store inside the lock, and count how
/// many of them are inside at once.
#[test]
fn mutual_exclusion_under_contention() {
    with_deadline(Duration::from_secs(60), || {
        const THREADS: usize = 6;
        const ROUNDS: usize = 2_000;
        let lock = Arc::new(Lock::new());
        let counter = Arc::new(AtomicUsize::new(0));
        let inside = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(THREADS));
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (lock, counter, inside, start) = (
                    Arc::clone(&lock),
                    Arc::clone(&counter),
                    Arc::clone(&inside),
                    Arc::clone(&start),
                );
                thread::spawn(move || {
                    start.wait();
                    for i in 0..ROUNDS {
                        // A mix of every way to take the lock.
                        let guard = match (t + i) % 4 {
                            0 => {
                                lock.acquire();
                                None
                            }
                            1 => {
                                while !lock.acquire_timeout(Duration::from_micros(50)) {}
                                None
                            }
                            2 => {
                                if !lock.try_acquire() {
                                    lock.acquire();
                                }
                                None
                            }
                            _ => Some(lock.guard()),
                        };
                        assert_eq!(inside.fetch_add(1, SeqCst), 0, "two threads inside");
                        let value = counter.load(SeqCst);
                        if i % 64 == 0 {
                            thread::yield_now();
                        }
                        counter.store(value + 1, SeqCst);
                        inside.fetch_sub(1, SeqCst);
                        match guard {
                            Some(guard) => drop(guard),
                            None => lock.release().unwrap(),
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        assert_eq!(counter.load(SeqCst), THREADS * ROUNDS);
        assert!(!lock.locked());
    });
}

/// Two locks used as binary semaphores: every round needs a release to wake a sleeper of
/// another thread, so a lost wake-up deadlocks.
#[test]
fn ping_pong_handoff_between_threads() {
    with_deadline(Duration::from_secs(60), || {
        const ROUNDS: usize = 2_000;
        let ping = Arc::new(Lock::new());
        let pong = Arc::new(Lock::new());
        ping.acquire();
        pong.acquire();
        let responder = {
            let (ping, pong) = (Arc::clone(&ping), Arc::clone(&pong));
            thread::spawn(move || {
                for _ in 0..ROUNDS {
                    ping.acquire();
                    pong.release().unwrap();
                }
            })
        };
        for _ in 0..ROUNDS {
            ping.release().unwrap();
            pong.acquire();
        }
        responder.join().unwrap();
        // Each lock ends taken by its last acquirer.
        assert!(ping.locked());
        assert!(pong.locked());
    });
}

// ---------------------------------------------------------------------------------------------
// Mutex<T>

#[test]
fn mutex_gives_access_and_unlocks_on_drop() {
    let mutex = Mutex::new(vec![1, 2]);
    mutex.lock().push(3);
    {
        let guard = mutex.lock();
        assert_eq!(*guard, [1, 2, 3]);
        assert!(
            mutex.try_lock().is_none(),
            "try_lock succeeded on a locked mutex"
        );
    }
    let mut guard = mutex
        .try_lock()
        .expect("the mutex stayed locked after its guard dropped");
    guard.clear();
    drop(guard);
    assert!(mutex.lock().is_empty());
}

#[test]
fn mutex_get_mut_and_into_inner() {
    let mut mutex = Mutex::new(String::from("a"));
    mutex.get_mut().push('b');
    assert_eq!(*mutex.lock(), "ab");
    assert_eq!(mutex.into_inner(), "ab");
    assert_eq!(Mutex::<u8>::default().into_inner(), 0);
}

#[test]
fn mutex_drops_its_value_exactly_once() {
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    drop(Mutex::new(Counted(Arc::clone(&drops))));
    assert_eq!(drops.load(SeqCst), 1);
    let inner = Mutex::new(Counted(Arc::clone(&drops))).into_inner();
    assert_eq!(drops.load(SeqCst), 1);
    drop(inner);
    assert_eq!(drops.load(SeqCst), 2);
}

#[test]
fn mutex_guard_released_on_panic() {
    let mutex = Mutex::new(0);
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        let mut guard = mutex.lock();
        *guard += 1;
        panic!("in the critical section");
    }));
    assert!(result.is_err());
    assert_eq!(*mutex.try_lock().expect("still locked after the panic"), 1);
}

#[test]
fn mutex_excludes_across_threads() {
    with_deadline(Duration::from_secs(60), || {
        const THREADS: usize = 4;
        const ROUNDS: usize = 2_000;
        let mutex = Arc::new(Mutex::new((0usize, false)));
        let start = Arc::new(Barrier::new(THREADS));
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (mutex, start) = (Arc::clone(&mutex), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    for i in 0..ROUNDS {
                        let mut guard = if (t + i) % 3 == 0 {
                            loop {
                                if let Some(guard) = mutex.try_lock() {
                                    break guard;
                                }
                                thread::yield_now();
                            }
                        } else {
                            mutex.lock()
                        };
                        assert!(!guard.1, "two guards at once");
                        guard.1 = true;
                        let value = guard.0;
                        if i % 64 == 0 {
                            thread::yield_now();
                        }
                        guard.0 = value + 1;
                        guard.1 = false;
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        assert_eq!(mutex.lock().0, THREADS * ROUNDS);
    });
}

#[test]
fn count_locked_counts_every_increment() {
    with_deadline(Duration::from_secs(60), || {
        assert_eq!(count_locked(0, 100), 0);
        assert_eq!(count_locked(3, 0), 0);
        assert_eq!(count_locked(1, 10), 10);
        assert_eq!(count_locked(4, 1000), 4000);
        assert_eq!(count_locked(8, 2500), 20_000);
    });
}

#[test]
fn primitives_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Lock>();
    send_sync::<Error>();
    send_sync::<Mutex<u32>>();
    send_sync::<Mutex<std::cell::Cell<u32>>>();
}
