//! # 04 · Semaphore: limiting concurrency
//!
//! A lock lets one thread in; a semaphore lets `n` in. It is a counter of *permits*: `acquire`
//! takes one, sleeping while there are none; `release` gives one back and wakes a sleeper. Python's
//! `threading.Semaphore`, and the classic use, a pool of connections:
//!
//! ```python
//! import threading
//!
//! pool = threading.BoundedSemaphore(3)   # at most 3 threads talk to the database
//!
//! def query(sql):
//!     with pool:                          # acquire(); ...; release()
//!         return database.run(sql)
//!
//! sem = threading.Semaphore(0)
//! sem.release(2)                          # two permits at once: wakes up to two waiters
//! sem.acquire(timeout=0.5)                # False if no permit came within half a second
//! ```
//!
//! A plain `Semaphore` accepts any number of releases (the count may grow past its start
//! value). A `BoundedSemaphore` treats a release above its start value as the bug it usually is
//! (a permit returned twice) and refuses it: `Err(Error::TooManyReleases)`, and for `release_n`
//! all or nothing.
//!
//! ## The Rust way
//!
//! - The count is a `usize` and never goes below zero.
//! - You may use atomics, `blocks::futex`, `blocks::thread` (park), `blocks::time`, and
//!   `blocks::sync::{Mutex, Condvar}`; not `blocks::sync::Lock`.
//! - Guards ([`Permit`], [`BoundedPermit`], [`Connection`]) are the `with` statement: the permit
//!   goes back on drop, also when a panic unwinds.
//!
//! ## Bugs to avoid (the grader looks for each one)
//!
//! - **Check-then-act**: loading the count and then storing count − 1 lets two threads take one
//!   permit; checking the bound and then adding lets two releases overshoot it. Each must be ONE
//!   atomic step (a compare-exchange loop, or one critical section).
//! - **Lost wake-ups**: a waiter that checks the count and then goes to sleep can miss a release
//!   in between; `release_n(n)` must wake up to `n` waiters, not one.
//! - **Spurious wake-ups**: a futex/park/Condvar wake-up is a hint; re-check in a loop.
//! - **Busy-waiting**: a waiter sleeps until a release; no spinning, no polling with naps.
//! - **Timeouts**: not early, not ignored, zero means "try once", `Duration::MAX` never panics;
//!   a waiter that timed out takes nothing.
//! - **A wrong pool**: ids out at the same moment are distinct, at most `size` are out, and with
//!   enough demand `size` are out at once (the pool must not serialize).
//!
//! The grader runs hidden checks on all of this, many times, with a backend that perturbs the
//! schedule and wakes sleepers spuriously, and measures the CPU your blocked threads burn.
//! Run the visible tests with `cargo test -p semaphore`.
//!
//! What must not compile (a permit outliving its semaphore, a pool moved while a connection is out)
//! is in `tests/compile-fail/`, each case beside the compiler's error: `cargo test -p semaphore`
//! checks your types against them.

use std::error;
use std::fmt;

use blocks::futex;
use blocks::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use blocks::sync::{Condvar, Mutex};
use blocks::thread;
use blocks::time::{Duration, Instant};

/// Why a [`BoundedSemaphore`] refused a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The release would raise the value above the initial one.
    TooManyReleases,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooManyReleases => f.write_str("semaphore released too many times"),
        }
    }
}

impl error::Error for Error {}

/// Python's `threading.Semaphore`: a counter of permits that never goes below zero.
pub struct Semaphore {
    // TODO: your fields (the count, and whatever waiters sleep on).
}

impl Semaphore {
    /// A semaphore holding `value` permits.
    pub fn new(value: usize) -> Semaphore {
        // TODO
        todo!()
    }

    /// Takes a permit, sleeping until one is available.
    pub fn acquire(&self) {
        // TODO
        todo!()
    }

    /// Takes a permit if one is available now, without blocking.
    pub fn try_acquire(&self) -> bool {
        // TODO
        todo!()
    }

    /// Takes a permit, waiting at most `timeout`; `false` (nothing changed) if none came.
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        // TODO
        todo!()
    }

    /// Gives a permit back (the value may exceed the initial one) and wakes a waiter.
    pub fn release(&self) {
        // TODO
        todo!()
    }

    /// Adds `n` permits at once and wakes up to `n` waiters.
    ///
    /// # Panics
    /// If `n` is 0.
    pub fn release_n(&self, n: usize) {
        // TODO
        todo!()
    }

    /// The number of permits available right now.
    pub fn value(&self) -> usize {
        // TODO
        todo!()
    }

    /// Takes a permit now and gives it back when the guard is dropped (also during a panic).
    pub fn permit(&self) -> Permit<'_> {
        // TODO
        todo!()
    }
}

/// One permit of a [`Semaphore`], returned on drop.
pub struct Permit<'a> {
    semaphore: &'a Semaphore,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        // TODO: give the permit back.
    }
}

/// Python's `threading.BoundedSemaphore`: its value may never exceed the initial value.
pub struct BoundedSemaphore {
    // TODO: your fields.
}

impl BoundedSemaphore {
    /// A bounded semaphore holding (and never holding more than) `value` permits.
    pub fn new(value: usize) -> BoundedSemaphore {
        // TODO
        todo!()
    }

    /// Takes a permit, sleeping until one is available.
    pub fn acquire(&self) {
        // TODO
        todo!()
    }

    /// Takes a permit if one is available now, without blocking.
    pub fn try_acquire(&self) -> bool {
        // TODO
        todo!()
    }

    /// Takes a permit, waiting at most `timeout`; `false` (nothing changed) if none came.
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        // TODO
        todo!()
    }

    /// Gives a permit back and wakes a waiter.
    ///
    /// # Errors
    /// [`Error::TooManyReleases`] if the value is already at its initial value (nothing changes).
    pub fn release(&self) -> Result<(), Error> {
        // TODO
        todo!()
    }

    /// Gives `n` permits back at once, all or nothing, and wakes up to `n` waiters.
    ///
    /// # Errors
    /// [`Error::TooManyReleases`] if the value would exceed its initial value (nothing changes).
    ///
    /// # Panics
    /// If `n` is 0.
    pub fn release_n(&self, n: usize) -> Result<(), Error> {
        // TODO: check the bound and add in ONE atomic step.
        todo!()
    }

    /// The number of permits available right now.
    pub fn value(&self) -> usize {
        // TODO
        todo!()
    }

    /// Takes a permit now and gives it back when the guard is dropped (also during a panic).
    pub fn permit(&self) -> BoundedPermit<'_> {
        // TODO
        todo!()
    }
}

/// One permit of a [`BoundedSemaphore`], returned on drop.
pub struct BoundedPermit<'a> {
    semaphore: &'a BoundedSemaphore,
}

impl Drop for BoundedPermit<'_> {
    fn drop(&mut self) {
        // TODO: give the permit back.
    }
}

/// A pool of `size` connections with ids `0..size`: at most `size` out at once, and `size` out
/// at once when enough threads want one.
pub struct ConnectionPool {
    // TODO: your fields. A semaphore counting the free connections is a good start; you also
    // need to know WHICH ids are free.
}

impl ConnectionPool {
    /// A pool of `size` connections, all free.
    pub fn new(size: usize) -> ConnectionPool {
        // TODO
        todo!()
    }

    /// Takes a free connection, sleeping until one is returned if none is free.
    pub fn get(&self) -> Connection<'_> {
        // TODO
        todo!()
    }

    /// Takes a free connection, waiting at most `timeout`; `None` if none came.
    pub fn get_timeout(&self, timeout: Duration) -> Option<Connection<'_>> {
        // TODO
        todo!()
    }

    /// How many connections are free right now.
    pub fn available(&self) -> usize {
        // TODO
        todo!()
    }
}

/// A connection borrowed from a [`ConnectionPool`]; returned to it on drop.
pub struct Connection<'a> {
    pool: &'a ConnectionPool,
    id: usize,
}

impl Connection<'_> {
    /// This connection's id, in `0..size`.
    pub fn id(&self) -> usize {
        self.id
    }
}

impl Drop for Connection<'_> {
    fn drop(&mut self) {
        // TODO: return the connection to the pool.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use blocks::sync::Arc;
    use blocks::thread;
    use blocks::time::{Duration, Instant};

    /// Runs `f` on a thread and fails the test if it has not finished within 10 seconds.
    fn with_deadline<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let worker = thread::spawn(f);
        let start = Instant::now();
        while !worker.is_finished() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "blocked for 10 s: deadlock or lost wake-up?"
            );
            thread::sleep(Duration::from_millis(1));
        }
        match worker.join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    #[test]
    fn counts_permits() {
        with_deadline(|| {
            let sem = Semaphore::new(2);
            assert!(sem.try_acquire());
            assert!(sem.try_acquire());
            assert!(!sem.try_acquire());
            sem.release_n(3);
            assert_eq!(sem.value(), 3);
        });
    }

    #[test]
    fn release_wakes_a_waiter() {
        with_deadline(|| {
            let sem = Arc::new(Semaphore::new(0));
            let other = Arc::clone(&sem);
            let waiter = thread::spawn(move || other.acquire());
            sem.release();
            waiter.join().unwrap();
            assert_eq!(sem.value(), 0);
        });
    }

    #[test]
    fn bounded_refuses_too_many_releases() {
        with_deadline(|| {
            let sem = BoundedSemaphore::new(2);
            sem.acquire();
            assert_eq!(sem.release_n(2), Err(Error::TooManyReleases));
            assert_eq!(sem.value(), 1);
            assert_eq!(sem.release(), Ok(()));
            assert_eq!(sem.release(), Err(Error::TooManyReleases));
        });
    }

    #[test]
    fn pool_hands_out_distinct_ids() {
        with_deadline(|| {
            let pool = ConnectionPool::new(2);
            let a = pool.get();
            let b = pool.get();
            assert_ne!(a.id(), b.id());
            assert!(pool.get_timeout(Duration::from_millis(10)).is_none());
            drop(a);
            assert_eq!(pool.available(), 1);
        });
    }
}
