//! # Lock: race conditions, mutual exclusion, non-blocking locking
//!
//! `counter = counter + 1` looks like one step, but it is three: read the counter, add one,
//! write it back. Two threads that interleave those steps both read the same old value and one
//! increment is lost (the tutorial's "race condition" table). Python's answer is a lock:
//!
//! ```python
//! counter = 0
//! counter_lock = threading.Lock()
//!
//! def work():
//!     global counter
//!     for _ in range(1000):
//!         with counter_lock:          # acquire() ... release(), even if an exception is raised
//!             counter = counter + 1
//!
//! lock = threading.Lock()
//! lock.acquire()
//! if not lock.acquire(False):         # non-blocking: "couldn't get lock"
//!     lock.acquire(timeout=0.5)       # waits at most half a second, returns False
//! lock.release()
//! ```
//!
//! A Python `Lock` is either locked or unlocked. It has **no owner**: any thread may release it,
//! and a thread that acquires a lock it already holds waits (forever, unless someone else
//! releases it). Releasing an unlocked lock is an error (`RuntimeError`).
//!
//! ## What you build
//!
//! - [`Lock`]: Python's lock, from one `AtomicU32` (the "lock word") and `blocks::futex`:
//!   `futex::wait(&word, expected)` puts the thread to sleep *if the word still holds
//!   `expected`* (checked and slept in one step by the kernel); `futex::wake_one(&word)` wakes a
//!   sleeper. You may use `blocks::sync::atomic`, `blocks::futex`, `blocks::thread` and
//!   `blocks::time`, and nothing else that synchronizes (no `std::sync`, no
//!   `blocks::sync::{Lock, Mutex, Condvar}`).
//! - [`LockGuard`]: `with lock:` for Rust: acquired by [`Lock::guard`], released when dropped.
//! - [`Mutex<T>`]: the Rust way. The lock *owns* the data, and the only way to reach the data is
//!   through a [`MutexGuard`], so forgetting to lock is a compile error rather than a race.
//! - [`count_locked`]: the tutorial's counter, fixed with your `Mutex`.
//!
//! ## Mistakes the grader looks for
//!
//! - **Check-then-act**: `if word.load(..) == UNLOCKED { word.store(LOCKED, ..) }` is two steps;
//!   two threads can both pass the check. Taking the lock must be one atomic operation
//!   (`compare_exchange`, `swap`). The same goes for `release`: two threads racing to release a
//!   lock that was acquired once must not both succeed.
//! - **Lost wake-ups**: a waiter must not fall asleep after the lock was released (the futex's
//!   `expected` value is your protection), and `release` must wake a sleeper whenever one may be
//!   asleep. A classic design is a third state, "locked and somebody may be waiting".
//! - **Spurious wake-ups**: `futex::wait` may return for no reason (the grader makes it happen).
//!   Waking up is not the same as owning the lock: try again, in a loop.
//! - **Busy-waiting**: a blocked thread sleeps. Looping on `try_acquire`, `yield_now` or short
//!   sleeps burns CPU, and the grader measures it.
//! - **Timeouts**: take the deadline once (`Instant::now().checked_add(timeout)`, where `None`
//!   means "no deadline", so `Duration::MAX` never panics), recompute the time left after every
//!   wake-up, and never return early. A zero timeout tries once. When a timed acquire gives up,
//!   the lock must be exactly as it was: other threads may still sleep on it, and a release
//!   must still wake them.
//! - **Guards**: a guard releases in `Drop`, which also runs while a panic unwinds.
//! - **Thread safety in the types**: `Mutex<T>` may be shared between threads only when
//!   `T: Send`, and a `MutexGuard` must stay on the thread that locked (`!Send`).
//!
//! Run the visible tests with `cargo test -p lock`; the hidden checks also hammer the lock with
//! many threads under a scheduler that injects yields and spurious wake-ups.
//!
//! What must not compile (a guard sent to another thread, a `Mutex<Rc<_>>` shared, a guard
//! outliving its mutex) is in `tests/compile-fail/`, each case beside the compiler's error:
//! `cargo test -p lock` checks your types against them.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use blocks::futex;
use blocks::sync::atomic::{AtomicU32, Ordering};
use blocks::time::{Duration, Instant};

/// What can go wrong when using a [`Lock`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// `release` was called on a lock that is not locked.
    ReleaseUnlocked,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ReleaseUnlocked => f.write_str("release of an unlocked lock"),
        }
    }
}

impl std::error::Error for Error {}

/// Python's `threading.Lock`: not reentrant and not owned, so any thread may release it.
pub struct Lock {
    // TODO: decide what each value of the lock word means and document it here, e.g.
    // `0: unlocked, 1: locked, 2: locked and somebody may be waiting`.
    state: AtomicU32,
}

impl Lock {
    /// Creates an unlocked lock.
    pub fn new() -> Lock {
        // TODO: an unlocked lock word.
        todo!()
    }

    /// Blocks until the lock is free, then takes it.
    pub fn acquire(&self) {
        // TODO: try to take the lock in one atomic step; if it is held, sleep with futex::wait
        // until a release wakes you, and try again (in a loop: wake-ups may be spurious).
        todo!()
    }

    /// Takes the lock if it is free, without blocking (`acquire(blocking=False)`).
    pub fn try_acquire(&self) -> bool {
        // TODO: one atomic step: compare_exchange from "unlocked" to "locked".
        todo!()
    }

    /// Takes the lock, waiting at most `timeout` (`acquire(timeout=t)`). Returns whether it was
    /// taken; on `false` the lock is left as it was.
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        // TODO: like acquire, with one deadline taken at the start and futex::wait_timeout for
        // the time left. Zero tries once; Duration::MAX must not panic.
        todo!()
    }

    /// Unlocks the lock; any thread may do it.
    ///
    /// # Errors
    /// [`Error::ReleaseUnlocked`] if the lock was not locked (nothing changes then).
    pub fn release(&self) -> Result<(), Error> {
        // TODO: unlock and find out whether it was locked in ONE atomic step; wake a sleeper if
        // one may be waiting.
        todo!()
    }

    /// Whether the lock is held right now (by any thread).
    pub fn locked(&self) -> bool {
        // TODO
        todo!()
    }

    /// Acquires the lock and returns a guard that releases it when dropped (`with lock:`).
    pub fn guard(&self) -> LockGuard<'_> {
        // TODO: acquire, then hand out the guard.
        todo!()
    }
}

impl Default for Lock {
    fn default() -> Lock {
        Lock::new()
    }
}

/// Holds a [`Lock`] until dropped; see [`Lock::guard`].
pub struct LockGuard<'a> {
    lock: &'a Lock,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        // TODO: release the lock. This also runs while a panic unwinds, and must not panic
        // itself (think about what to do if someone released the lock behind the guard's back).
    }
}

/// A value protected by a [`Lock`]: the lock owns the data.
pub struct Mutex<T> {
    lock: Lock,
    value: UnsafeCell<T>,
}

// SAFETY: this promise is yours to keep: a Mutex<T> lets only one thread at a time reach the T
// (through a guard, while the lock is held), so sharing the Mutex only moves access to the T
// between threads, which is fine when T: Send. Without this line Mutex<T> would never be Sync,
// because UnsafeCell is not.
unsafe impl<T: Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    /// Creates an unlocked mutex holding `value`.
    pub fn new(value: T) -> Mutex<T> {
        // TODO
        todo!()
    }

    /// Blocks until the mutex is free and returns a guard giving access to the value.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        // TODO
        todo!()
    }

    /// Like [`Mutex::lock`], but `None` at once if the mutex is held.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        // TODO
        todo!()
    }

    /// The value, without locking: `&mut self` proves that nobody holds a guard.
    pub fn get_mut(&mut self) -> &mut T {
        // TODO
        todo!()
    }

    /// Consumes the mutex and returns the value.
    pub fn into_inner(self) -> T {
        // TODO
        todo!()
    }
}

/// Access to the value of a locked [`Mutex`]; unlocks when dropped.
pub struct MutexGuard<'a, T> {
    mutex: &'a Mutex<T>,
    // TODO: as it stands this guard is `Send` (a `&Mutex<T>` is, when the Mutex is Sync), so a
    // thread could unlock a mutex another thread locked: `cargo test -p lock` shows it
    // (tests/compile-fail/guard_sent_to_another_thread.rs). A zero-sized marker field fixes it:
    // `PhantomData<*const ()>`, since a raw pointer is neither `Send` nor `Sync`.
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // TODO: a shared reference to the value. You will need `unsafe`: say in a
        // `// SAFETY:` comment why nobody else can be using the value right now.
        todo!()
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // TODO: an exclusive reference to the value (same reasoning).
        todo!()
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // TODO: unlock the mutex (this also runs while a panic unwinds).
    }
}

/// The tutorial's race, fixed: `threads` threads each add 1 to one shared counter `increments`
/// times (read, increment, write) under a [`Mutex`]; returns the final count.
pub fn count_locked(threads: usize, increments: usize) -> u64 {
    // TODO: a Mutex<u64>, `threads` threads (blocks::thread::scope lets them borrow it), each
    // doing `increments` locked increments; return the final value.
    todo!()
}

#[cfg(test)]
mod tests {
    use super::*;
    use blocks::sync::Arc;
    use std::time::Duration;

    #[test]
    fn acquire_try_acquire_release() {
        let lock = Lock::new();
        assert!(!lock.locked());
        lock.acquire();
        assert!(lock.locked());
        assert!(!lock.try_acquire());
        assert_eq!(lock.release(), Ok(()));
        assert_eq!(lock.release(), Err(Error::ReleaseUnlocked));
        assert!(lock.try_acquire());
        assert_eq!(lock.release(), Ok(()));
    }

    #[test]
    fn another_thread_may_release() {
        let lock = Arc::new(Lock::new());
        lock.acquire();
        let other = Arc::clone(&lock);
        blocks::thread::spawn(move || other.release().unwrap())
            .join()
            .unwrap();
        assert!(!lock.locked());
    }

    #[test]
    fn timed_acquire_gives_up_after_the_timeout() {
        let lock = Lock::new();
        lock.acquire();
        let start = std::time::Instant::now();
        assert!(!lock.acquire_timeout(Duration::from_millis(50)));
        assert!(start.elapsed() >= Duration::from_millis(50));
        assert!(lock.locked());
    }

    #[test]
    fn guard_releases_on_drop() {
        let lock = Lock::new();
        {
            let _guard = lock.guard();
            assert!(lock.locked());
        }
        assert!(!lock.locked());
    }

    #[test]
    fn mutex_protects_its_value() {
        let mutex = Mutex::new(1);
        *mutex.lock() += 1;
        assert!(mutex.try_lock().is_some());
        assert_eq!(mutex.into_inner(), 2);
    }

    #[test]
    fn no_increment_is_lost() {
        assert_eq!(count_locked(4, 1000), 4000);
    }
}
