//! # 03 · RLock: reentrant locks and recursive code
//!
//! Python's `threading.Lock` does not know who holds it: if the holder calls `acquire()` again, it
//! waits for itself forever. Code organised as methods that call each other under one lock (or
//! recursive code that walks a tree under a lock) needs a lock that lets its *holder* back in.
//! That is `threading.RLock`, the reentrant lock:
//!
//! ```python
//! import threading
//!
//! lock = threading.RLock()
//!
//! def walk(node):
//!     with lock:                  # the thread that holds the lock may enter again
//!         visit(node)
//!         for child in node.children:
//!             walk(child)         # re-enters: the count goes up, nobody blocks
//!
//! lock.acquire(); lock.acquire()  # count 2
//! lock.release()                  # count 1: still held
//! lock.release()                  # count 0: unlocked, another thread may take it
//! lock.release()                  # RuntimeError: cannot release un-acquired lock
//! ```
//!
//! An RLock has an **owner** (the thread that holds it) and a **recursion count**. The owner
//! re-enters at once and bumps the count; every other thread blocks until the count falls back to
//! zero. Only the owner may release it: anyone else gets an error and nothing changes. A thread
//! that ends while holding it leaves it locked, as in Python.
//!
//! ## The Rust way
//!
//! - A thread is named by [`blocks::thread::current_id`], a nonzero `u64` that fits in an atomic
//!   owner field (0 can mean "nobody").
//! - You may build on [`blocks::sync::Lock`], a correct Python-style raw lock (or write your own
//!   with atomics and `blocks::futex`, as in 02_lock). `blocks::sync::Mutex` and `Condvar` are
//!   not allowed here.
//! - [`RLockGuard`] is the `with` statement: it releases on drop, also when a panic unwinds. It is
//!   `!Send`: a guard must be dropped by the thread that owns the lock.
//! - [`ReentrantMutex<T>`] puts the data inside the lock. Because the owner may hold several
//!   guards at once, a guard can only hand out `&T`, never `&mut T` (two `&mut` to the same value
//!   would be undefined behaviour). Mutation goes through a `Cell` or `RefCell` inside it, which
//!   is why `ReentrantMutex<T>` is `Sync` whenever `T: Send`, even if `T` itself is not `Sync`.
//! - [`Ledger`] is the classic use: methods that call each other while holding one lock, so that
//!   `transfer` can reuse `withdraw` and `deposit` and still be one atomic step.
//!
//! ## Bugs to avoid (the grader looks for each one)
//!
//! - **No owner check**: a release from a thread that does not hold the lock must fail with
//!   `Err(Error::NotOwner)` and change nothing (not the count, not the owner).
//! - **Not reentrant**: the owner's second `acquire` (also `try_acquire`, `acquire_timeout`) must
//!   succeed at once instead of deadlocking on itself.
//! - **Unlocking too early or never**: the lock is free only after as many releases as acquires;
//!   `recursion_count` is the owner's count, and 0 for every other thread.
//! - **Owner races**: the owner field must never name a thread that does not hold the lock. Think
//!   about the order of "forget the owner" and "unlock": the next owner may arrive in between.
//! - **Lost wake-ups and busy-waiting**: a blocked thread sleeps (no spinning, no sleep-polling)
//!   and is woken by the last release.
//! - **Timeouts**: `acquire_timeout` neither returns early nor waits forever; zero means "try
//!   once"; `Duration::MAX` means "no deadline" and must not panic.
//! - **Money in flight**: a `Ledger::transfer` that lets the lock go between the withdrawal and
//!   the deposit lets `total()` see the money in neither account.
//!
//! The grader runs hidden checks on all of this, many times, with a backend that perturbs the
//! schedule and wakes sleepers spuriously, and measures the CPU your blocked threads burn.
//! Run the visible tests with `cargo test -p rlock`.
//!
//! What must not compile (an `RLockGuard` sent to another thread, a `ReentrantMutex<Rc<_>>` shared,
//! `&mut` through a reentrant guard) is in `tests/compile-fail/`, each case beside the compiler's
//! error: `cargo test -p rlock` checks your types against them.

use std::cell::{Cell, RefCell, UnsafeCell};
use std::error;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use blocks::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use blocks::sync::Lock;
use blocks::thread;
use blocks::time::{Duration, Instant};

/// Why an [`RLock`] refused a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The calling thread does not hold the lock (another thread does, or nobody does).
    NotOwner,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotOwner => {
                f.write_str("cannot release an RLock the current thread does not hold")
            }
        }
    }
}

impl error::Error for Error {}

/// A reentrant lock: Python's `threading.RLock`.
pub struct RLock {
    // TODO: your fields. For instance a raw `Lock`, the owner's `current_id()` in an `AtomicU64`
    // (0: nobody) and the owner's recursion count. If you keep the count in an `UnsafeCell`, you
    // will need an `unsafe impl Sync for RLock {}` with a `// SAFETY:` comment saying why only one
    // thread ever touches it.
}

impl RLock {
    /// A new, unlocked RLock.
    pub fn new() -> RLock {
        // TODO
        todo!()
    }

    /// Blocks until the calling thread holds the lock; the owner re-enters at once (count + 1).
    pub fn acquire(&self) {
        // TODO
        todo!()
    }

    /// Takes the lock if it is free or already ours, without blocking.
    pub fn try_acquire(&self) -> bool {
        // TODO
        todo!()
    }

    /// Like `acquire`, giving up after `timeout` (`false`: nothing changed). The owner re-enters
    /// at once; zero tries once; `Duration::MAX` waits forever.
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        // TODO
        todo!()
    }

    /// Undoes one acquire of the calling thread; unlocks when the count reaches 0.
    ///
    /// # Errors
    /// [`Error::NotOwner`] if the caller does not hold the lock; nothing changes then.
    pub fn release(&self) -> Result<(), Error> {
        // TODO
        todo!()
    }

    /// Acquires now and releases when the guard is dropped (also during a panic).
    pub fn guard(&self) -> RLockGuard<'_> {
        // TODO: acquire, then build the guard.
        todo!()
    }

    /// Whether any thread holds the lock.
    pub fn locked(&self) -> bool {
        // TODO
        todo!()
    }

    /// Whether the calling thread holds the lock.
    pub fn is_owned(&self) -> bool {
        // TODO
        todo!()
    }

    /// The caller's recursion count; 0 if the caller does not hold the lock.
    pub fn recursion_count(&self) -> usize {
        // TODO
        todo!()
    }
}

impl Default for RLock {
    fn default() -> RLock {
        RLock::new()
    }
}

/// Holds one acquire of an [`RLock`]; dropping it releases that acquire. `!Send`.
pub struct RLockGuard<'a> {
    rlock: &'a RLock,
    // TODO: as it stands this guard is `Send`, so another thread could release the owner's
    // acquire: `cargo test -p rlock` shows it (tests/compile-fail/guard_sent_to_another_thread.rs).
    // Keep it on the owning thread as ReentrantMutexGuard below does.
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        // TODO: release the acquire this guard stands for.
    }
}

/// A reentrant mutex that owns its data; guards hand out `&T` (use a `Cell`/`RefCell` inside to
/// mutate).
pub struct ReentrantMutex<T> {
    rlock: RLock,
    data: T,
}

// SAFETY: the data is reached only through guards, and all the guards alive at a moment belong to
// the one thread holding the RLock (guards are `!Send` and lend `&T` no longer than themselves).
// So the data is used by one thread at a time, as if sent there: `T: Send` is what that takes,
// and `T: Sync` is not needed (which is what lets a `RefCell` inside be shared).
// This reasoning holds only once your RLock really excludes other threads.
unsafe impl<T: Send> Sync for ReentrantMutex<T> {}

impl<T> ReentrantMutex<T> {
    /// A new, unlocked mutex holding `value`.
    pub fn new(value: T) -> Self {
        // TODO
        todo!()
    }

    /// Blocks until the caller holds the mutex (at once if it already does).
    pub fn lock(&self) -> ReentrantMutexGuard<'_, T> {
        // TODO
        todo!()
    }

    /// Locks if the mutex is free or already held by the caller, without blocking.
    pub fn try_lock(&self) -> Option<ReentrantMutexGuard<'_, T>> {
        // TODO
        todo!()
    }

    /// Consumes the mutex and returns the data.
    pub fn into_inner(self) -> T {
        // TODO
        todo!()
    }
}

/// Shared access to the data of a [`ReentrantMutex`]; unlocks one level on drop. `!Send`.
pub struct ReentrantMutexGuard<'a, T> {
    mutex: &'a ReentrantMutex<T>,
    /// Keeps the guard on the owning thread. (Holding an `RLockGuard` here instead would do it too.)
    _not_send: PhantomData<*const ()>,
}

impl<T> Deref for ReentrantMutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // TODO
        todo!()
    }
}

impl<T> Drop for ReentrantMutexGuard<'_, T> {
    fn drop(&mut self) {
        // TODO: unlock one level.
    }
}

/// Why a [`Ledger`] refused a withdrawal or a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferError {
    /// The account holds less than the amount asked for.
    InsufficientFunds,
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferError::InsufficientFunds => f.write_str("insufficient funds"),
        }
    }
}

impl error::Error for TransferError {}

/// Accounts behind ONE reentrant mutex, whose methods call each other while holding it.
pub struct Ledger {
    accounts: ReentrantMutex<RefCell<Vec<u64>>>,
}

impl Ledger {
    /// `accounts` accounts holding `initial` each.
    pub fn new(accounts: usize, initial: u64) -> Ledger {
        // TODO
        todo!()
    }

    /// Adds `amount` to `account`.
    pub fn deposit(&self, account: usize, amount: u64) {
        // TODO
        todo!()
    }

    /// Takes `amount` from `account`; `Err(InsufficientFunds)` (nothing changes) if it holds less.
    pub fn withdraw(&self, account: usize, amount: u64) -> Result<(), TransferError> {
        // TODO
        todo!()
    }

    /// Moves `amount` from `from` to `to` as one step: hold the lock and call `withdraw` then
    /// `deposit`, so that no thread ever sees the money in neither account.
    pub fn transfer(&self, from: usize, to: usize, amount: u64) -> Result<(), TransferError> {
        // TODO: careful with the RefCell: never keep a borrow across a call to another method.
        todo!()
    }

    /// The balance of `account`.
    pub fn balance(&self, account: usize) -> u64 {
        // TODO
        todo!()
    }

    /// The sum of every balance, at one moment.
    pub fn total(&self) -> u64 {
        // TODO
        todo!()
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
    fn owner_reenters_and_counts() {
        with_deadline(|| {
            let lock = RLock::new();
            lock.acquire();
            lock.acquire();
            assert!(lock.try_acquire());
            assert_eq!(lock.recursion_count(), 3);
            lock.release().unwrap();
            lock.release().unwrap();
            assert!(lock.locked() && lock.is_owned());
            lock.release().unwrap();
            assert!(!lock.locked());
            assert_eq!(lock.release(), Err(Error::NotOwner));
        });
    }

    #[test]
    fn other_threads_cannot_release_or_enter() {
        with_deadline(|| {
            let lock = Arc::new(RLock::new());
            lock.acquire();
            lock.acquire();
            let other = Arc::clone(&lock);
            let seen = thread::spawn(move || {
                (
                    other.release(),
                    other.is_owned(),
                    other.recursion_count(),
                    other.try_acquire(),
                )
            })
            .join()
            .unwrap();
            assert_eq!(seen, (Err(Error::NotOwner), false, 0, false));
            assert_eq!(lock.recursion_count(), 2);
            lock.release().unwrap();
            lock.release().unwrap();
        });
    }

    #[test]
    fn waiter_gets_the_lock_after_the_last_release() {
        with_deadline(|| {
            let lock = Arc::new(RLock::new());
            let _outer = lock.guard();
            let _inner = lock.guard();
            let other = Arc::clone(&lock);
            let waiter = thread::spawn(move || {
                other.acquire();
                other.release().unwrap();
            });
            drop(_inner);
            drop(_outer);
            waiter.join().unwrap();
            assert!(!lock.locked());
        });
    }

    #[test]
    fn ledger_transfers_atomically() {
        with_deadline(|| {
            let ledger = Ledger::new(3, 100);
            ledger.transfer(0, 1, 60).unwrap();
            assert_eq!(
                ledger.transfer(0, 2, 50),
                Err(TransferError::InsufficientFunds)
            );
            assert_eq!(
                [ledger.balance(0), ledger.balance(1), ledger.balance(2)],
                [40, 160, 100]
            );
            assert_eq!(ledger.total(), 300);
        });
    }
}
