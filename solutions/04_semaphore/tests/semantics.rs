//! The semantics of `threading.Semaphore` and `threading.BoundedSemaphore`, after CPython's
//! `Lib/test/lock_tests.py` (`BaseSemaphoreTests`, `SemaphoreTests`, `BoundedSemaphoreTests`),
//! plus the connection pool.
//!
//! Every blocking test runs under a deadline; racing threads start together at a barrier; timing
//! assertions are only "not early" (exact) and "not ignored" (generous).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use semaphore::{BoundedSemaphore, ConnectionPool, Error, Semaphore};

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

/// The two semaphore types behind one interface, so that the shared tests run on both.
trait Sem: Send + Sync + 'static {
    fn make(value: usize) -> Self;
    fn acquire(&self);
    fn try_acquire(&self) -> bool;
    fn acquire_timeout(&self, timeout: Duration) -> bool;
    fn release(&self);
    fn release_n(&self, n: usize);
    fn value(&self) -> usize;
    fn with_permit<R>(&self, f: impl FnOnce() -> R) -> R;
}

impl Sem for Semaphore {
    fn make(value: usize) -> Self {
        Semaphore::new(value)
    }
    fn acquire(&self) {
        Semaphore::acquire(self)
    }
    fn try_acquire(&self) -> bool {
        Semaphore::try_acquire(self)
    }
    fn acquire_timeout(&self, timeout: Duration) -> bool {
        Semaphore::acquire_timeout(self, timeout)
    }
    fn release(&self) {
        Semaphore::release(self)
    }
    fn release_n(&self, n: usize) {
        Semaphore::release_n(self, n)
    }
    fn value(&self) -> usize {
        Semaphore::value(self)
    }
    fn with_permit<R>(&self, f: impl FnOnce() -> R) -> R {
        let _permit = self.permit();
        f()
    }
}

impl Sem for BoundedSemaphore {
    fn make(value: usize) -> Self {
        BoundedSemaphore::new(value)
    }
    fn acquire(&self) {
        BoundedSemaphore::acquire(self)
    }
    fn try_acquire(&self) -> bool {
        BoundedSemaphore::try_acquire(self)
    }
    fn acquire_timeout(&self, timeout: Duration) -> bool {
        BoundedSemaphore::acquire_timeout(self, timeout)
    }
    fn release(&self) {
        BoundedSemaphore::release(self).expect("a release within the bound")
    }
    fn release_n(&self, n: usize) {
        BoundedSemaphore::release_n(self, n).expect("a release within the bound")
    }
    fn value(&self) -> usize {
        BoundedSemaphore::value(self)
    }
    fn with_permit<R>(&self, f: impl FnOnce() -> R) -> R {
        let _permit = self.permit();
        f()
    }
}

/// Instantiates a generic test for both semaphore types.
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[test]
            fn semaphore() {
                super::$name::<semaphore::Semaphore>();
            }
            #[test]
            fn bounded_semaphore() {
                super::$name::<semaphore::BoundedSemaphore>();
            }
        }
    };
}

fn acquire_release<S: Sem>() {
    // lock_tests: test_acquire.
    with_deadline(|| {
        let sem = S::make(1);
        sem.acquire();
        sem.release();
        let sem = S::make(2);
        sem.acquire();
        sem.acquire();
        assert_eq!(sem.value(), 0);
        sem.release();
        sem.release();
        assert_eq!(sem.value(), 2);
    });
}
both!(acquire_release);

fn acquire_contended<S: Sem>() {
    // lock_tests: test_acquire_contended: phases of releases let exactly that many waiters in.
    with_deadline(|| {
        let sem = Arc::new(S::make(7));
        sem.acquire();
        let phase = Arc::new(AtomicUsize::new(0));
        let results1 = Arc::new(Mutex::new(Vec::new()));
        let results2 = Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = (0..10)
            .map(|_| {
                let (sem, phase, r1, r2) = (
                    Arc::clone(&sem),
                    Arc::clone(&phase),
                    Arc::clone(&results1),
                    Arc::clone(&results2),
                );
                thread::spawn(move || {
                    sem.acquire();
                    r1.lock().unwrap().push(phase.load(SeqCst));
                    sem.acquire();
                    r2.lock().unwrap().push(phase.load(SeqCst));
                })
            })
            .collect();
        let count = || results1.lock().unwrap().len() + results2.lock().unwrap().len();
        // (CPython waits for 6 first acquires; here one thread may take both of its permits
        // before another starts, so count every acquire.)
        wait_for(|| count() >= 6);
        thread::sleep(Duration::from_millis(10));
        assert_eq!(count(), 6, "more acquires than the 6 permits");
        phase.store(1, SeqCst);
        for _ in 0..7 {
            sem.release();
        }
        wait_for(|| count() >= 13);
        phase.store(2, SeqCst);
        for _ in 0..6 {
            sem.release();
        }
        wait_for(|| count() >= 19);
        let mut all: Vec<usize> = results1.lock().unwrap().clone();
        all.extend(results2.lock().unwrap().iter());
        all.sort();
        assert_eq!(all, [vec![0; 6], vec![1; 7], vec![2; 6]].concat());
        // The semaphore is still at zero: one thread still waits for its second permit.
        assert!(!sem.try_acquire());
        sem.release();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(sem.value(), 0);
    });
}
both!(acquire_contended);

fn multirelease<S: Sem>() {
    // lock_tests: test_multirelease: release(n) wakes n waiters at once.
    with_deadline(|| {
        let sem = Arc::new(S::make(7));
        sem.acquire();
        let got = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..10)
            .map(|_| {
                let (sem, got) = (Arc::clone(&sem), Arc::clone(&got));
                thread::spawn(move || {
                    sem.acquire();
                    got.fetch_add(1, SeqCst);
                    sem.acquire();
                    got.fetch_add(1, SeqCst);
                })
            })
            .collect();
        wait_for(|| got.load(SeqCst) >= 6);
        sem.release_n(7);
        wait_for(|| got.load(SeqCst) >= 13);
        sem.release_n(6);
        wait_for(|| got.load(SeqCst) >= 19);
        thread::sleep(Duration::from_millis(10));
        assert_eq!(
            got.load(SeqCst),
            19,
            "more waiters got through than permits released"
        );
        assert!(!sem.try_acquire());
        sem.release();
        for t in threads {
            t.join().unwrap();
        }
    });
}
both!(multirelease);

fn try_acquire<S: Sem>() {
    // lock_tests: test_try_acquire.
    let sem = S::make(2);
    assert!(sem.try_acquire());
    assert!(sem.try_acquire());
    assert!(!sem.try_acquire());
    sem.release();
    assert!(sem.try_acquire());
}
both!(try_acquire);

fn try_acquire_contended<S: Sem>() {
    // lock_tests: test_try_acquire_contended: of 5 threads trying 2 each on a value of 3, 3 win.
    with_deadline(|| {
        let sem = Arc::new(S::make(4));
        sem.acquire();
        let start = Arc::new(Barrier::new(5));
        let threads: Vec<_> = (0..5)
            .map(|_| {
                let (sem, start) = (Arc::clone(&sem), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    [sem.try_acquire(), sem.try_acquire()]
                })
            })
            .collect();
        let wins = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .filter(|&won| won)
            .count();
        assert_eq!(wins, 3);
        assert_eq!(sem.value(), 0);
    });
}
both!(try_acquire_contended);

fn acquire_timeout<S: Sem>() {
    // lock_tests: test_acquire_timeout.
    with_deadline(|| {
        let sem = S::make(2);
        assert!(sem.acquire_timeout(Duration::from_millis(5)));
        assert!(sem.acquire_timeout(Duration::from_millis(5)));
        assert!(!sem.acquire_timeout(Duration::from_millis(5)));
        sem.release();
        assert!(sem.acquire_timeout(Duration::from_millis(5)));
        assert!(!sem.acquire_timeout(Duration::ZERO));
        let start = Instant::now();
        assert!(!sem.acquire_timeout(Duration::from_millis(50)));
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(50), "early: {waited:?}");
        assert!(waited < Duration::from_secs(10), "ignored: {waited:?}");
        assert_eq!(sem.value(), 0, "a timed-out acquire changed the value");
        sem.release();
        assert!(sem.acquire_timeout(Duration::ZERO));
    });
}
both!(acquire_timeout);

fn timed_waiter_is_woken<S: Sem>() {
    with_deadline(|| {
        let sem = Arc::new(S::make(1));
        sem.acquire();
        let other = Arc::clone(&sem);
        let waiter = thread::spawn(move || {
            let start = Instant::now();
            (
                other.acquire_timeout(Duration::from_secs(60)),
                start.elapsed(),
            )
        });
        thread::sleep(Duration::from_millis(20));
        sem.release();
        let (got, waited) = waiter.join().unwrap();
        assert!(got);
        assert!(waited < Duration::from_secs(30), "slept out the timeout");
        assert_eq!(sem.value(), 0);
    });
}
both!(timed_waiter_is_woken);

fn huge_timeout_means_no_deadline<S: Sem>() {
    with_deadline(|| {
        let sem = Arc::new(S::make(1));
        assert!(sem.acquire_timeout(Duration::MAX));
        let other = Arc::clone(&sem);
        let waiter = thread::spawn(move || other.acquire_timeout(Duration::MAX));
        thread::sleep(Duration::from_millis(10));
        sem.release();
        assert!(waiter.join().unwrap());
    });
}
both!(huge_timeout_means_no_deadline);

fn with_statement<S: Sem>() {
    // lock_tests: test_with, including the release when the body raises.
    with_deadline(|| {
        let sem = Arc::new(S::make(2));
        sem.with_permit(|| {
            assert_eq!(sem.value(), 1);
            sem.with_permit(|| assert!(!sem.try_acquire()));
            assert_eq!(sem.value(), 1);
        });
        assert_eq!(sem.value(), 2);
        let inside = Arc::clone(&sem);
        let result = thread::spawn(move || inside.with_permit(|| panic!("boom"))).join();
        assert!(result.is_err());
        assert_eq!(
            sem.value(),
            2,
            "the permit was not returned during the panic"
        );
    });
}
both!(with_statement);

fn release_n_zero_panics<S: Sem>() {
    let sem = S::make(1);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sem.release_n(0)));
    assert!(result.is_err());
    assert_eq!(sem.value(), 1);
}
both!(release_n_zero_panics);

fn max_concurrency<S: Sem>() {
    with_deadline(|| {
        const THREADS: usize = 8;
        const PERMITS: usize = 3;
        let sem = Arc::new(S::make(PERMITS));
        let inside = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(THREADS));
        let threads: Vec<_> = (0..THREADS)
            .map(|i| {
                let (sem, inside, peak, start) = (
                    Arc::clone(&sem),
                    Arc::clone(&inside),
                    Arc::clone(&peak),
                    Arc::clone(&start),
                );
                thread::spawn(move || {
                    start.wait();
                    for round in 0..300 {
                        match (i + round) % 3 {
                            0 => sem.acquire(),
                            1 => while !sem.acquire_timeout(Duration::from_millis(1)) {},
                            _ => assert!(sem.acquire_timeout(Duration::MAX)),
                        }
                        let now = inside.fetch_add(1, SeqCst) + 1;
                        assert!(now <= PERMITS, "{now} threads inside");
                        peak.fetch_max(now, SeqCst);
                        thread::yield_now();
                        inside.fetch_sub(1, SeqCst);
                        sem.release();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(sem.value(), PERMITS);
        assert!(peak.load(SeqCst) >= 1);
    });
}
both!(max_concurrency);

#[test]
fn semaphore_release_unacquired_is_fine() {
    // lock_tests: SemaphoreTests.test_release_unacquired.
    let sem = Semaphore::new(1);
    sem.release();
    sem.acquire();
    sem.acquire();
    sem.release();
    assert_eq!(sem.value(), 1);
    sem.release_n(5);
    assert_eq!(sem.value(), 6);
}

#[test]
fn semaphore_zero_blocks_until_released() {
    with_deadline(|| {
        let sem = Arc::new(Semaphore::new(0));
        assert!(!sem.try_acquire());
        let other = Arc::clone(&sem);
        let waiter = thread::spawn(move || other.acquire());
        thread::sleep(Duration::from_millis(20));
        assert!(!waiter.is_finished());
        sem.release();
        waiter.join().unwrap();
    });
}

#[test]
fn bounded_release_unacquired_is_an_error() {
    // lock_tests: BoundedSemaphoreTests.test_release_unacquired.
    let sem = BoundedSemaphore::new(1);
    assert_eq!(sem.release(), Err(Error::TooManyReleases));
    sem.acquire();
    sem.release().unwrap();
    assert_eq!(sem.release(), Err(Error::TooManyReleases));
    assert_eq!(sem.value(), 1);
}

#[test]
fn bounded_release_n_is_all_or_nothing() {
    // lock_tests: BoundedSemaphoreTests.test_multirelease (value + n > initial raises).
    let sem = BoundedSemaphore::new(5);
    for _ in 0..3 {
        sem.acquire();
    }
    assert_eq!(sem.release_n(4), Err(Error::TooManyReleases));
    assert_eq!(sem.value(), 2);
    assert_eq!(sem.release_n(3), Ok(()));
    assert_eq!(sem.value(), 5);
    assert_eq!(sem.release_n(1), Err(Error::TooManyReleases));
    assert!(!Error::TooManyReleases.to_string().is_empty());
}

#[test]
fn bounded_concurrent_releases_never_overshoot() {
    with_deadline(|| {
        for _ in 0..50 {
            let sem = Arc::new(BoundedSemaphore::new(4));
            for _ in 0..4 {
                sem.acquire();
            }
            let start = Arc::new(Barrier::new(6));
            let threads: Vec<_> = (0..6)
                .map(|i| {
                    let (sem, start) = (Arc::clone(&sem), Arc::clone(&start));
                    thread::spawn(move || {
                        start.wait();
                        let n = 1 + i % 2;
                        (0..3).filter(|_| sem.release_n(n).is_ok()).count() * n
                    })
                })
                .collect();
            let released: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
            // Once the value reaches 4 it stays there; until then every single release fits.
            assert_eq!(released, 4, "permits accepted back into a bound of 4");
            assert_eq!(sem.value(), released);
        }
    });
}

#[test]
fn bounded_permit_is_returned() {
    let sem = BoundedSemaphore::new(1);
    {
        let _permit = sem.permit();
        assert_eq!(sem.value(), 0);
    }
    assert_eq!(sem.value(), 1);
}

#[test]
fn pool_ids_are_distinct_and_returned() {
    with_deadline(|| {
        let pool = ConnectionPool::new(4);
        assert_eq!(pool.available(), 4);
        let held: Vec<_> = (0..4).map(|_| pool.get()).collect();
        let ids: HashSet<usize> = held.iter().map(|c| c.id()).collect();
        assert_eq!(ids, (0..4).collect());
        assert_eq!(pool.available(), 0);
        let start = Instant::now();
        assert!(pool.get_timeout(Duration::from_millis(30)).is_none());
        assert!(start.elapsed() >= Duration::from_millis(30));
        let mut held = held;
        let returned = held.remove(1).id();
        assert_eq!(pool.available(), 1);
        assert_eq!(
            pool.get_timeout(Duration::MAX).map(|c| c.id()),
            Some(returned)
        );
        drop(held);
        assert_eq!(pool.available(), 4);
    });
}

#[test]
fn pool_lets_size_connections_out_at_once() {
    with_deadline(|| {
        const SIZE: usize = 3;
        let pool = Arc::new(ConnectionPool::new(SIZE));
        let all_in = Arc::new(Barrier::new(SIZE));
        let threads: Vec<_> = (0..SIZE)
            .map(|_| {
                let (pool, all_in) = (Arc::clone(&pool), Arc::clone(&all_in));
                thread::spawn(move || {
                    let connection = pool.get();
                    // Only passes if SIZE connections are out at the same moment.
                    all_in.wait();
                    connection.id()
                })
            })
            .collect();
        let ids: HashSet<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(ids.len(), SIZE);
        assert_eq!(pool.available(), SIZE);
    });
}

#[test]
fn pool_under_contention() {
    with_deadline(|| {
        const SIZE: usize = 3;
        const THREADS: usize = 8;
        let pool = Arc::new(ConnectionPool::new(SIZE));
        let in_use: Arc<Vec<AtomicUsize>> =
            Arc::new((0..SIZE).map(|_| AtomicUsize::new(0)).collect());
        let start = Arc::new(Barrier::new(THREADS));
        let threads: Vec<_> = (0..THREADS)
            .map(|i| {
                let (pool, in_use, start) =
                    (Arc::clone(&pool), Arc::clone(&in_use), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    for round in 0..300 {
                        let connection = if (i + round) % 2 == 0 {
                            pool.get()
                        } else {
                            pool.get_timeout(Duration::from_secs(60))
                                .expect("a connection within 60 s")
                        };
                        assert!(connection.id() < SIZE);
                        assert_eq!(
                            in_use[connection.id()].fetch_add(1, SeqCst),
                            0,
                            "id handed out twice"
                        );
                        thread::yield_now();
                        in_use[connection.id()].fetch_sub(1, SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(pool.available(), SIZE);
    });
}

#[test]
fn empty_pool_times_out() {
    let pool = ConnectionPool::new(0);
    assert!(pool.get_timeout(Duration::ZERO).is_none());
    assert!(pool.get_timeout(Duration::from_millis(5)).is_none());
    assert_eq!(pool.available(), 0);
}

#[test]
fn send_and_sync_as_the_curriculum_says() {
    fn send_sync<T: Send + Sync>() {}
    fn error<E: std::error::Error + Copy + Eq + Send + Sync + 'static>() {}
    send_sync::<Semaphore>();
    send_sync::<BoundedSemaphore>();
    send_sync::<ConnectionPool>();
    error::<Error>();
}
