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
//! zero. Only the owner may release it: anyone else gets an error and nothing changes.
//!
//! ## The Rust way
//!
//! - A thread is named by [`blocks::thread::current_id`], a nonzero `u64` that fits in an atomic
//!   owner field (0 means "nobody").
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
//! - **No owner check**: a release from a thread that does not hold the lock must fail and change
//!   nothing (not the count, not the owner).
//! - **Not reentrant**: the owner's second `acquire` (also `try_acquire`, `acquire_timeout`) must
//!   succeed at once instead of deadlocking on itself.
//! - **Unlocking too early / too late**: the lock is free only after as many releases as
//!   acquires; `recursion_count` is the owner's count, 0 for every other thread.
//! - **Owner races**: the owner field must never name a thread that does not hold the lock. Clear
//!   it *before* unlocking: a thread that clears it after unlocking may erase the next owner.
//! - **Lost wake-ups and busy-waiting**: a blocked thread sleeps and is woken by the last release.
//! - **Money in flight**: a `Ledger::transfer` that releases the lock between the withdrawal and
//!   the deposit lets `total()` see the money nowhere.
//!
//! The exercise's compile-fail cases (an `RLockGuard` sent to another thread, a
//! `ReentrantMutex<Rc<_>>` shared, `&mut` through a reentrant guard; in
//! `exercises/03_rlock/tests/compile-fail/`) pass against this answer:
//! `cargo test -p rlock-solution --test compile_fail`.

use std::cell::{RefCell, UnsafeCell};
use std::error;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use blocks::sync::atomic::{AtomicU64, Ordering::Relaxed};
use blocks::sync::Lock;
use blocks::thread;
use blocks::time::Duration;

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

// # Implementation details
//
// An RLock is a raw `Lock` (mutual exclusion between threads, sleeping waiters) plus an owner and
// a count, as in CPython's pure-Python `_RLock`. The raw lock is held from the owner's first
// acquire to its last release; re-entries only touch the count.
//
// The owner check needs no lock of its own. A thread reads `owner` and compares with its own id:
// its id can only be there if that thread stored it, and it erases it (in program order) before
// it unlocks, so reading its own id means "I hold the lock" and reading anything else means "I do
// not", whatever stale value another thread's store may leave it seeing. That is also why
// `owner` must be cleared *before* the raw lock is released: once unlocked, the next owner may
// store its id at any moment, and a late store of 0 would take the lock away from it.
//
// The count is only ever read or written by the owner, so it is a plain `UnsafeCell<usize>`;
// ownership passes from thread to thread through the raw lock's release/acquire, which also
// makes every owner see the count its predecessor left (0 is never read: a new owner writes 1).

/// A reentrant lock: Python's `threading.RLock`.
///
/// The thread holding it may acquire it again (the count goes up); it is unlocked when that
/// thread has released it as many times as it acquired it. Only the holder may release it.
/// A thread that ends while holding it leaves it locked, as in Python.
///
/// # Examples
/// ```
/// use rlock::{Error, RLock};
///
/// let lock = RLock::new();
/// lock.acquire();
/// lock.acquire(); // the owner re-enters at once
/// assert_eq!(lock.recursion_count(), 2);
/// lock.release().unwrap();
/// assert!(lock.locked());
/// lock.release().unwrap();
/// assert!(!lock.locked());
/// assert_eq!(lock.release(), Err(Error::NotOwner));
/// ```
pub struct RLock {
    /// Held by the owner from its first acquire to its last release.
    lock: Lock,
    /// `current_id()` of the thread holding `lock`; 0: nobody.
    owner: AtomicU64,
    /// The owner's recursion count (acquires minus releases); only the owner touches it.
    count: UnsafeCell<usize>,
}

// SAFETY: the only non-atomic field, `count`, is read and written only by the thread whose id is
// in `owner`, and at most one thread at a time finds its id there (see the implementation
// details); the raw lock's release/acquire orders one owner's accesses before the next one's.
unsafe impl Sync for RLock {}

impl RLock {
    /// A new, unlocked RLock.
    pub const fn new() -> RLock {
        RLock {
            lock: Lock::new(),
            owner: AtomicU64::new(0),
            count: UnsafeCell::new(0),
        }
    }

    /// Blocks until the calling thread holds the lock; the owner re-enters at once.
    ///
    /// # Panics
    /// If the recursion count would overflow `usize`.
    pub fn acquire(&self) {
        let me = thread::current_id();
        if !self.reenter(me) {
            self.lock.acquire();
            self.become_owner(me);
        }
    }

    /// Takes the lock if it is free or already ours, without blocking.
    ///
    /// # Panics
    /// If the recursion count would overflow `usize`.
    pub fn try_acquire(&self) -> bool {
        let me = thread::current_id();
        if self.reenter(me) {
            return true;
        }
        let taken = self.lock.try_acquire();
        if taken {
            self.become_owner(me);
        }
        taken
    }

    /// Like [`acquire`](Self::acquire), giving up after `timeout`; the owner re-enters at once.
    ///
    /// Returns whether the lock is now held (one more time) by the caller; on `false` nothing
    /// changed. A zero timeout tries once; a timeout too large for a deadline waits forever.
    ///
    /// # Panics
    /// If the recursion count would overflow `usize`.
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        let me = thread::current_id();
        if self.reenter(me) {
            return true;
        }
        // The raw lock takes its deadline once and re-computes what is left after each wake-up.
        let taken = self.lock.acquire_timeout(timeout);
        if taken {
            self.become_owner(me);
        }
        taken
    }

    /// Undoes one acquire of the calling thread; the lock is free again when the count reaches 0.
    ///
    /// # Errors
    /// [`Error::NotOwner`] if the calling thread does not hold the lock (another thread holds it,
    /// or nobody does); nothing changes then.
    pub fn release(&self) -> Result<(), Error> {
        if !self.is_owned() {
            return Err(Error::NotOwner);
        }
        // SAFETY: the caller owns the lock, so no other thread touches the count.
        let count = unsafe { &mut *self.count.get() };
        *count -= 1;
        if *count == 0 {
            // Relaxed: the raw lock's release just below publishes this store to the next owner;
            // it must come first, or it could erase the id the next owner stores.
            self.owner.store(0, Relaxed);
            self.lock
                .release()
                .expect("the owner of an RLock holds its raw lock");
        }
        Ok(())
    }

    /// Acquires the lock (re-entering if the caller holds it) and releases it when the guard is
    /// dropped, also during a panic: Python's `with lock:`.
    ///
    /// # Panics
    /// If the recursion count would overflow `usize`.
    ///
    /// # Examples
    /// ```
    /// let lock = rlock::RLock::new();
    /// {
    ///     let _outer = lock.guard();
    ///     let _inner = lock.guard();
    ///     assert_eq!(lock.recursion_count(), 2);
    /// }
    /// assert!(!lock.locked());
    /// ```
    pub fn guard(&self) -> RLockGuard<'_> {
        self.acquire();
        RLockGuard {
            rlock: self,
            _not_send: PhantomData,
        }
    }

    /// Whether any thread holds the lock right now.
    pub fn locked(&self) -> bool {
        self.lock.locked()
    }

    /// Whether the calling thread holds the lock.
    pub fn is_owned(&self) -> bool {
        // Relaxed: a thread only finds its own id here if it stored it itself (program order);
        // any other value, however stale, correctly means "not the caller".
        self.owner.load(Relaxed) == thread::current_id()
    }

    /// The caller's recursion count: how many releases would unlock it; 0 if the caller does not
    /// hold the lock (even if another thread does).
    pub fn recursion_count(&self) -> usize {
        if self.is_owned() {
            // SAFETY: the caller owns the lock, so no other thread touches the count.
            unsafe { *self.count.get() }
        } else {
            0
        }
    }

    /// If the caller already owns the lock, counts one more acquire and returns true.
    fn reenter(&self, me: u64) -> bool {
        // Relaxed: see `is_owned`.
        if self.owner.load(Relaxed) != me {
            return false;
        }
        // SAFETY: the caller owns the lock, so no other thread touches the count.
        let count = unsafe { &mut *self.count.get() };
        *count = count
            .checked_add(1)
            .expect("RLock recursion count overflowed");
        true
    }

    /// Records the caller, who just took the raw lock, as the owner with a count of 1.
    fn become_owner(&self, me: u64) {
        // SAFETY: the caller holds the raw lock, so no other thread is an owner; the previous
        // owner's last access to the count happened before it released the raw lock.
        unsafe { *self.count.get() = 1 };
        // Relaxed: only the storing thread ever acts on finding its own id (see `is_owned`); the
        // raw lock's acquire already ordered us after the previous owner's clearing store.
        self.owner.store(me, Relaxed);
    }
}

impl Default for RLock {
    fn default() -> RLock {
        RLock::new()
    }
}

impl fmt::Debug for RLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLock")
            .field("locked", &self.locked())
            .field("recursion_count", &self.recursion_count())
            .finish()
    }
}

/// Holds one acquire of an [`RLock`]; dropping it releases that acquire. Made by
/// [`RLock::guard`].
///
/// `!Send`: only the owning thread may release, so the guard stays on it.
#[must_use = "dropping the guard at once releases the lock"]
pub struct RLockGuard<'a> {
    rlock: &'a RLock,
    /// `*const ()` is neither `Send` nor `Sync`, and so the guard is not either.
    _not_send: PhantomData<*const ()>,
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        // The guard's thread owns the lock (the guard cannot leave it), so this only fails if the
        // code released the guard's acquire by hand before; there is nothing left to undo then.
        let released = self.rlock.release();
        debug_assert!(
            released.is_ok(),
            "an RLockGuard outlived its acquire: the lock was released by hand under it"
        );
    }
}

impl fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLockGuard")
            .field("recursion_count", &self.rlock.recursion_count())
            .finish()
    }
}

// # Implementation details
//
// An `RLock` next to the data. Guards hand out `&T` only: the owner may hold many guards at once,
// so a `&mut T` from each would alias. Interior mutability (`Cell`, `RefCell`) supplies mutation,
// which is safe because only the owning thread can reach the data while it holds the lock.

/// A reentrant mutex that owns its data: the owner may lock it again while it holds it.
///
/// Guards give shared access (`&T`); put a `Cell` or `RefCell` inside to mutate.
///
/// # Examples
/// ```
/// use std::cell::RefCell;
/// use rlock::ReentrantMutex;
///
/// let log = ReentrantMutex::new(RefCell::new(Vec::new()));
/// let outer = log.lock();
/// outer.borrow_mut().push("outer");
/// {
///     let inner = log.lock(); // same thread: no deadlock
///     inner.borrow_mut().push("inner");
/// }
/// drop(outer);
/// assert_eq!(log.into_inner().into_inner(), ["outer", "inner"]);
/// ```
pub struct ReentrantMutex<T> {
    rlock: RLock,
    data: T,
}

// SAFETY: the data is reached only through guards, and all guards alive at a moment belong to the
// one thread holding the RLock; they are `!Send` and lend `&T` for no longer than themselves, so
// other threads reach the data only after that thread released the lock (which orders its accesses
// before theirs). The data is thus used by one thread at a time, as if sent there: `T: Send` is
// what that takes. `T: Sync` is not needed, which is what lets a `RefCell` inside be shared.
unsafe impl<T: Send> Sync for ReentrantMutex<T> {}

impl<T> ReentrantMutex<T> {
    /// A new, unlocked mutex holding `value`.
    pub const fn new(value: T) -> Self {
        ReentrantMutex {
            rlock: RLock::new(),
            data: value,
        }
    }

    /// Blocks until the calling thread holds the mutex (at once if it already does).
    ///
    /// # Panics
    /// If the recursion count would overflow `usize`.
    pub fn lock(&self) -> ReentrantMutexGuard<'_, T> {
        ReentrantMutexGuard {
            data: &self.data,
            _held: self.rlock.guard(),
        }
    }

    /// Locks the mutex if it is free or already held by the caller, without blocking.
    ///
    /// # Panics
    /// If the recursion count would overflow `usize`.
    pub fn try_lock(&self) -> Option<ReentrantMutexGuard<'_, T>> {
        self.rlock.try_acquire().then(|| ReentrantMutexGuard {
            data: &self.data,
            _held: RLockGuard {
                rlock: &self.rlock,
                _not_send: PhantomData,
            },
        })
    }

    /// Consumes the mutex and returns the data (no guard can be alive: they borrow it).
    pub fn into_inner(self) -> T {
        self.data
    }
}

impl<T: fmt::Debug> fmt::Debug for ReentrantMutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ReentrantMutex");
        match self.try_lock() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Shared access to the data of a [`ReentrantMutex`]; unlocks (one level) on drop. `!Send`.
#[must_use = "dropping the guard at once unlocks the mutex"]
pub struct ReentrantMutexGuard<'a, T> {
    data: &'a T,
    /// Releases our acquire of the RLock when the guard drops; makes the guard `!Send`.
    _held: RLockGuard<'a>,
}

impl<T> Deref for ReentrantMutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.data
    }
}

impl<T: fmt::Debug> fmt::Debug for ReentrantMutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.data, f)
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

// # Implementation details
//
// Every balance sits behind ONE reentrant mutex. Each method locks it; `transfer` locks it and
// then calls `withdraw` and `deposit`, which lock it again (re-entering, so no deadlock). Because
// the outer lock is held from before the withdrawal until after the deposit, no other thread can
// look in between: the money is never "in flight". The `RefCell` is borrowed only inside each
// method and never across a call, so the nested methods never meet an outstanding borrow.

/// Accounts whose methods call each other under one reentrant lock.
///
/// # Examples
/// ```
/// use rlock::{Ledger, TransferError};
///
/// let ledger = Ledger::new(2, 100);
/// ledger.transfer(0, 1, 30).unwrap();
/// assert_eq!((ledger.balance(0), ledger.balance(1)), (70, 130));
/// assert_eq!(ledger.transfer(0, 1, 500), Err(TransferError::InsufficientFunds));
/// assert_eq!(ledger.total(), 200);
/// ```
pub struct Ledger {
    accounts: ReentrantMutex<RefCell<Vec<u64>>>,
}

impl Ledger {
    /// `accounts` accounts holding `initial` each.
    pub fn new(accounts: usize, initial: u64) -> Ledger {
        Ledger {
            accounts: ReentrantMutex::new(RefCell::new(vec![initial; accounts])),
        }
    }

    /// Adds `amount` to `account`.
    ///
    /// # Panics
    /// If the account does not exist or its balance would overflow `u64`.
    pub fn deposit(&self, account: usize, amount: u64) {
        let accounts = self.accounts.lock();
        let mut balances = accounts.borrow_mut();
        let balance = &mut balances[account];
        *balance = balance
            .checked_add(amount)
            .expect("a balance overflowed u64");
    }

    /// Takes `amount` from `account`.
    ///
    /// # Errors
    /// [`TransferError::InsufficientFunds`] if the account holds less (nothing changes).
    ///
    /// # Panics
    /// If the account does not exist.
    pub fn withdraw(&self, account: usize, amount: u64) -> Result<(), TransferError> {
        let accounts = self.accounts.lock();
        let mut balances = accounts.borrow_mut();
        let balance = &mut balances[account];
        *balance = balance
            .checked_sub(amount)
            .ok_or(TransferError::InsufficientFunds)?;
        Ok(())
    }

    /// Moves `amount` from `from` to `to` as one step: no thread ever sees the money in neither
    /// account.
    ///
    /// # Errors
    /// [`TransferError::InsufficientFunds`] if `from` holds less (nothing changes).
    ///
    /// # Panics
    /// If either account does not exist (checked before anything moves), or `to` would overflow.
    pub fn transfer(&self, from: usize, to: usize, amount: u64) -> Result<(), TransferError> {
        // Held across both calls below: this is what makes the transfer atomic.
        let accounts = self.accounts.lock();
        let count = accounts.borrow().len();
        assert!(
            from < count && to < count,
            "transfer between accounts {from} and {to} of a ledger of {count}"
        );
        self.withdraw(from, amount)?;
        self.deposit(to, amount);
        Ok(())
    }

    /// The balance of `account`.
    ///
    /// # Panics
    /// If the account does not exist.
    pub fn balance(&self, account: usize) -> u64 {
        self.accounts.lock().borrow()[account]
    }

    /// The sum of every balance, taken at one moment.
    ///
    /// # Panics
    /// If the sum overflows `u64`.
    pub fn total(&self) -> u64 {
        self.accounts.lock().borrow().iter().sum()
    }
}

impl fmt::Debug for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let accounts = self.accounts.lock();
        let balances = accounts.borrow();
        f.debug_struct("Ledger")
            .field("balances", &*balances)
            .finish()
    }
}
