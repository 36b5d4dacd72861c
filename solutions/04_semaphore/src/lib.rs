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
//! (a permit returned twice) and refuses it.
//!
//! ## The Rust way
//!
//! - The count is a `usize` and never goes below zero: "is there a permit?" and "take it" must be
//!   one atomic step (a compare-exchange loop), or two threads take the last permit together.
//! - Guards ([`Permit`], [`BoundedPermit`], [`Connection`]) are the `with` statement: the permit
//!   goes back on drop, also when a panic unwinds.
//! - Errors are values: [`BoundedSemaphore::release`] returns `Err(Error::TooManyReleases)`.
//!
//! ## Bugs to avoid (the grader looks for each one)
//!
//! - **Check-then-act**: loading the count, then storing count − 1 lets two threads take one
//!   permit; checking the bound, then adding lets two releases overshoot it. Use one
//!   read-modify-write.
//! - **Lost wake-ups**: a waiter that checks the count and then goes to sleep can miss a release
//!   in between, and `release_n(n)` must wake up to `n` waiters, not one.
//! - **Spurious wake-ups**: a futex or park wake-up is a hint; re-check the count in a loop.
//! - **Busy-waiting**: a waiter sleeps until a release, no spinning, no polling.
//! - **Timeouts**: not early, not ignored, zero means "try once", `Duration::MAX` never panics.
//! - **A serialized pool**: the pool must let `size` connections out at once under demand.
//!
//! The exercise's compile-fail cases (a permit outliving its semaphore, a pool moved while a
//! connection is out; in `exercises/04_semaphore/tests/compile-fail/`)
//! pass against this answer: `cargo test -p semaphore-solution --test compile_fail`.

use std::error;
use std::fmt;

use blocks::futex;
use blocks::sync::atomic::{
    AtomicU32, AtomicUsize,
    Ordering::{Relaxed, SeqCst},
};
use blocks::sync::{Mutex, PoisonError};
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

// # Implementation details
//
// The engine of both semaphores. `available` is the value; every change to it is a single
// read-modify-write, so it never goes below zero (a permit is taken only by a compare-exchange
// from a positive value) and a bounded release cannot overshoot its limit.
//
// Sleepers wait on a separate futex word, `releases`, bumped by every release. A waiter reads it
// BEFORE its last attempt and sleeps only while it still holds that value: a release that lands
// between the failed attempt and the sleep has changed the word, so the sleep returns at once.
// Waking is skipped when `sleepers` is 0, which is a Dekker-style handshake: the waiter writes
// `sleepers` then reads `available`, the releaser writes `available` then reads `sleepers`. With
// every one of those four operations SeqCst, at least one side sees the other's write: either the
// waiter finds the permit, or the releaser finds the waiter and wakes it. That is why the permit
// and sleeper operations below are SeqCst and not Acquire/Release.
//
// `release_n(n)` wakes `n` sleepers one by one, or all of them when `n` covers every sleeper; a
// woken waiter that finds no permit left (another thread took it) just goes back to sleep.

/// The shared engine: a count of permits and a place for threads to sleep until one comes.
struct Permits {
    /// The semaphore's value: permits available right now.
    available: AtomicUsize,
    /// Bumped (wrapping) by every release: the futex word waiters sleep on.
    releases: AtomicU32,
    /// Threads inside a blocking acquire, from before their last attempt until they leave it.
    sleepers: AtomicUsize,
}

impl Permits {
    const fn new(value: usize) -> Permits {
        Permits {
            available: AtomicUsize::new(value),
            releases: AtomicU32::new(0),
            sleepers: AtomicUsize::new(0),
        }
    }

    /// Takes a permit if there is one: a compare-exchange from a positive value, never a load
    /// followed by a store.
    fn try_take(&self) -> bool {
        // SeqCst: the waiter's side of the handshake with `give` (see the implementation details).
        self.available
            .fetch_update(SeqCst, SeqCst, |value| value.checked_sub(1))
            .is_ok()
    }

    /// Takes a permit, sleeping until one comes or the deadline (None: never) passes.
    fn take(&self, deadline: Option<Instant>) -> bool {
        if self.try_take() {
            return true;
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return false;
        }
        // SeqCst: announced before the attempts below, so a release after them sees us.
        self.sleepers.fetch_add(1, SeqCst);
        let taken = loop {
            // Read before the attempt: any release after this read changes the word, and then the
            // futex wait below returns at once instead of sleeping through it.
            let seen = self.releases.load(SeqCst);
            if self.try_take() {
                break true;
            }
            match deadline {
                None => futex::wait(&self.releases, seen),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break false;
                    }
                    futex::wait_timeout(&self.releases, seen, deadline - now);
                }
            }
        };
        // Relaxed: a releaser that still counts us only makes a needless wake-up call.
        self.sleepers.fetch_sub(1, Relaxed);
        taken
    }

    /// Adds `n` permits unless the value would exceed `limit` (all or nothing), then wakes up to
    /// `n` sleepers. Returns whether the permits were added.
    ///
    /// # Panics
    /// If `n` is 0, or the value would overflow `usize`.
    fn give(&self, n: usize, limit: usize) -> bool {
        assert!(n > 0, "a semaphore must be released at least once (n == 0)");
        // SeqCst: the releaser's side of the handshake with `take`. One read-modify-write checks
        // the limit and adds, so concurrent releases cannot overshoot it together.
        let added = self.available.fetch_update(SeqCst, SeqCst, |value| {
            let raised = value
                .checked_add(n)
                .expect("semaphore value overflowed usize");
            (raised <= limit).then_some(raised)
        });
        if added.is_err() {
            return false;
        }
        // SeqCst: must come after the permits and before the check of `sleepers` below.
        self.releases.fetch_add(1, SeqCst);
        let sleepers = self.sleepers.load(SeqCst);
        if n >= sleepers {
            if sleepers > 0 {
                futex::wake_all(&self.releases);
            }
        } else {
            for _ in 0..n {
                futex::wake_one(&self.releases);
            }
        }
        true
    }

    fn value(&self) -> usize {
        // Relaxed: a snapshot for the caller; it orders no other memory.
        self.available.load(Relaxed)
    }
}

/// Python's `threading.Semaphore`: a counter of permits that never goes below zero.
///
/// # Examples
/// ```
/// use semaphore::Semaphore;
///
/// let sem = Semaphore::new(2);
/// assert!(sem.try_acquire());
/// assert!(sem.try_acquire());
/// assert!(!sem.try_acquire());
/// sem.release_n(3); // may go above the initial value
/// assert_eq!(sem.value(), 3);
/// ```
pub struct Semaphore {
    permits: Permits,
}

impl Semaphore {
    /// A semaphore holding `value` permits.
    pub const fn new(value: usize) -> Semaphore {
        Semaphore {
            permits: Permits::new(value),
        }
    }

    /// Takes a permit, sleeping until one is available.
    pub fn acquire(&self) {
        self.permits.take(None);
    }

    /// Takes a permit if one is available now, without blocking.
    pub fn try_acquire(&self) -> bool {
        self.permits.try_take()
    }

    /// Takes a permit, waiting at most `timeout` for one. Returns whether it got one (`false`:
    /// nothing changed). Zero tries once; a timeout too large for a deadline waits forever.
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.permits.take(Instant::now().checked_add(timeout))
    }

    /// Gives a permit back (or a new one: the value may exceed the initial value) and wakes a
    /// waiter.
    ///
    /// # Panics
    /// If the value would overflow `usize`.
    pub fn release(&self) {
        self.permits.give(1, usize::MAX);
    }

    /// Adds `n` permits at once and wakes up to `n` waiters.
    ///
    /// # Panics
    /// If `n` is 0, or the value would overflow `usize`.
    pub fn release_n(&self, n: usize) {
        self.permits.give(n, usize::MAX);
    }

    /// The number of permits available right now (a snapshot).
    pub fn value(&self) -> usize {
        self.permits.value()
    }

    /// Takes a permit now and gives it back when the guard is dropped (also during a panic).
    ///
    /// # Examples
    /// ```
    /// let sem = semaphore::Semaphore::new(1);
    /// {
    ///     let _permit = sem.permit();
    ///     assert_eq!(sem.value(), 0);
    /// }
    /// assert_eq!(sem.value(), 1);
    /// ```
    pub fn permit(&self) -> Permit<'_> {
        self.acquire();
        Permit { semaphore: self }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("value", &self.value())
            .finish()
    }
}

/// One permit of a [`Semaphore`], returned on drop. Made by [`Semaphore::permit`].
#[must_use = "dropping the permit at once releases it"]
#[derive(Debug)]
pub struct Permit<'a> {
    semaphore: &'a Semaphore,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.semaphore.release();
    }
}

/// Python's `threading.BoundedSemaphore`: a semaphore whose value may not exceed its initial
/// value; a release that would is refused with [`Error::TooManyReleases`].
///
/// # Examples
/// ```
/// use semaphore::{BoundedSemaphore, Error};
///
/// let sem = BoundedSemaphore::new(2);
/// sem.acquire();
/// assert_eq!(sem.release_n(2), Err(Error::TooManyReleases)); // all or nothing
/// assert_eq!(sem.value(), 1);
/// sem.release().unwrap();
/// assert_eq!(sem.release(), Err(Error::TooManyReleases));
/// ```
pub struct BoundedSemaphore {
    permits: Permits,
    /// The initial value: the most the value may ever be.
    bound: usize,
}

impl BoundedSemaphore {
    /// A bounded semaphore holding (and never holding more than) `value` permits.
    pub const fn new(value: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            permits: Permits::new(value),
            bound: value,
        }
    }

    /// Takes a permit, sleeping until one is available.
    pub fn acquire(&self) {
        self.permits.take(None);
    }

    /// Takes a permit if one is available now, without blocking.
    pub fn try_acquire(&self) -> bool {
        self.permits.try_take()
    }

    /// Takes a permit, waiting at most `timeout` for one. Returns whether it got one (`false`:
    /// nothing changed). Zero tries once; a timeout too large for a deadline waits forever.
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.permits.take(Instant::now().checked_add(timeout))
    }

    /// Gives a permit back and wakes a waiter.
    ///
    /// # Errors
    /// [`Error::TooManyReleases`] if the value is already at its initial value (nothing changes).
    pub fn release(&self) -> Result<(), Error> {
        self.release_n(1)
    }

    /// Gives `n` permits back at once, all or nothing, and wakes up to `n` waiters.
    ///
    /// # Errors
    /// [`Error::TooManyReleases`] if the value would exceed its initial value (nothing changes).
    ///
    /// # Panics
    /// If `n` is 0.
    pub fn release_n(&self, n: usize) -> Result<(), Error> {
        if self.permits.give(n, self.bound) {
            Ok(())
        } else {
            Err(Error::TooManyReleases)
        }
    }

    /// The number of permits available right now (a snapshot).
    pub fn value(&self) -> usize {
        self.permits.value()
    }

    /// Takes a permit now and gives it back when the guard is dropped (also during a panic).
    pub fn permit(&self) -> BoundedPermit<'_> {
        self.acquire();
        BoundedPermit { semaphore: self }
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("value", &self.value())
            .field("bound", &self.bound)
            .finish()
    }
}

/// One permit of a [`BoundedSemaphore`], returned on drop. Made by [`BoundedSemaphore::permit`].
#[must_use = "dropping the permit at once releases it"]
#[derive(Debug)]
pub struct BoundedPermit<'a> {
    semaphore: &'a BoundedSemaphore,
}

impl Drop for BoundedPermit<'_> {
    fn drop(&mut self) {
        // Refused only if the code also released this permit by hand: the value is then already
        // back at its bound, and refusing the second return is exactly the bounded semantics.
        let _ = self.semaphore.release();
    }
}

// # Implementation details
//
// A semaphore counts the free connections, and a Mutex<Vec> says which ones they are. `get`
// first takes a permit (blocking while none is free, with no lock held) and only then pops an id:
// holding a permit guarantees the stack is not empty. A connection goes back in the opposite
// order: push the id, then release the permit, so the stack always holds at least `value()` ids.
// The mutex is held only for a push or a pop, never while waiting, so `size` connections can be
// out at once.

/// A pool of `size` connections with ids `0..size`, at most `size` out at once.
///
/// # Examples
/// ```
/// use semaphore::ConnectionPool;
/// use std::time::Duration;
///
/// let pool = ConnectionPool::new(2);
/// let a = pool.get();
/// let b = pool.get();
/// assert_ne!(a.id(), b.id());
/// assert!(pool.get_timeout(Duration::ZERO).is_none());
/// drop(a);
/// assert_eq!(pool.available(), 1);
/// ```
pub struct ConnectionPool {
    /// One permit per free connection.
    free_count: Semaphore,
    /// The ids of the free connections.
    free_ids: Mutex<Vec<usize>>,
}

impl ConnectionPool {
    /// A pool of `size` connections, all free.
    pub fn new(size: usize) -> ConnectionPool {
        ConnectionPool {
            free_count: Semaphore::new(size),
            free_ids: Mutex::new((0..size).rev().collect()),
        }
    }

    /// Takes a free connection, sleeping until one is returned if none is free.
    pub fn get(&self) -> Connection<'_> {
        self.free_count.acquire();
        self.checkout()
    }

    /// Takes a free connection, waiting at most `timeout` for one; `None` if none came.
    pub fn get_timeout(&self, timeout: Duration) -> Option<Connection<'_>> {
        self.free_count
            .acquire_timeout(timeout)
            .then(|| self.checkout())
    }

    /// How many connections are free right now (a snapshot).
    pub fn available(&self) -> usize {
        self.free_count.value()
    }

    /// Pops a free id; the caller holds a permit, so there is one.
    fn checkout(&self) -> Connection<'_> {
        let id = self
            .free_ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .expect("a permit of the pool guarantees a free connection");
        Connection { pool: self, id }
    }
}

impl fmt::Debug for ConnectionPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionPool")
            .field("available", &self.available())
            .finish()
    }
}

/// A connection borrowed from a [`ConnectionPool`]; returned to it on drop.
#[derive(Debug)]
pub struct Connection<'a> {
    pool: &'a ConnectionPool,
    id: usize,
}

impl Connection<'_> {
    /// This connection's id, in `0..size`; no other connection out at the same time has it.
    pub fn id(&self) -> usize {
        self.id
    }
}

impl Drop for Connection<'_> {
    fn drop(&mut self) {
        // The id first, then the permit: whoever the permit wakes must find the id there.
        self.pool
            .free_ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(self.id);
        self.pool.free_count.release();
    }
}
