//! # Lock: race conditions, mutual exclusion, non-blocking locking
//!
//! Python's `threading.Lock` is the simplest way to make a group of statements run as one step:
//!
//! ```python
//! counter = 0
//! counter_lock = threading.Lock()
//!
//! def work():
//!     global counter
//!     for _ in range(1000):
//!         with counter_lock:          # acquire(), then release() on the way out
//!             counter = counter + 1   # read, increment, write back: no longer interleaved
//! ```
//!
//! A Python lock has two states, locked and unlocked, and no owner: any thread may release it,
//! not only the one that acquired it, and the thread holding it deadlocks if it acquires it
//! again. `acquire(blocking=False)` tries once and `acquire(timeout=t)` gives up after `t`
//! seconds; both report whether they got the lock.
//!
//! This crate builds that lock from an atomic integer and the futex ("fast user-space mutex")
//! calls of `blocks::futex`, then builds the Rust way of locking on top of it: a [`Mutex<T>`]
//! that owns the data it protects, so the data cannot be reached without holding the lock.
//!
//! The mistakes this exercise is about:
//! - **check-then-act**: looking at the lock word (`load`) and then claiming it (`store`) is two
//!   steps; two threads can both see "unlocked" and both enter. Claiming must be one atomic
//!   step (`compare_exchange` or `swap`). The same holds for `release`: two racing releases of
//!   a lock held once must not both succeed.
//! - **lost wake-ups**: a waiter must go to sleep only if the lock word still says "locked", in
//!   one step with the check (that is what `futex::wait(&word, expected)` does), and a release
//!   must wake a sleeper whenever one may be asleep.
//! - **spurious wake-ups**: `futex::wait` may return although nobody released the lock; a woken
//!   waiter must try to take the lock again, in a loop, never assume it owns it.
//! - **busy-waiting**: a blocked thread sleeps; it does not spin in a loop of `try_acquire`.
//! - **timeouts**: one deadline, taken once; the time left is recomputed after every wake-up; a
//!   zero timeout tries once; `Duration::MAX` means "no deadline" and must not panic. A timed
//!   acquire that fails leaves the lock exactly as it was.
//! - **guards**: a guard releases the lock when it is dropped, including while a panic unwinds.
//!
//! The exercise's compile-fail cases (a guard sent to another thread, a `Mutex<Rc<_>>` shared, a
//! guard outliving its mutex; in
//! `exercises/02_lock/tests/compile-fail/`) pass against this answer:
//! `cargo test -p lock-solution --test compile_fail`.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use blocks::futex;
use blocks::sync::atomic::{
    AtomicU32,
    Ordering::{Acquire, Relaxed, Release},
};
use blocks::time::{Duration, Instant};

/// What can go wrong when using a [`Lock`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// `release` was called on a lock that is not locked (Python raises `RuntimeError`).
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

/// The lock word is free.
const UNLOCKED: u32 = 0;
/// The lock word is held and no thread sleeps on it.
const LOCKED: u32 = 1;
/// The lock word is held and some thread may be asleep on it.
const CONTENDED: u32 = 2;

// # Implementation details
//
// This is the three-state futex lock of Ulrich Drepper's "Futexes Are Tricky" (also the lock of
// Mara Bos's "Rust Atomics and Locks", chapter 9). The whole lock is one `AtomicU32`:
//
// - Taking a free lock is a single `compare_exchange(UNLOCKED, LOCKED)`: one atomic step, so two
//   threads can never both see "free" and both take it.
// - A thread that finds the lock taken marks it CONTENDED with `swap(CONTENDED)` before sleeping.
//   The swap is also an attempt to take it: if it returns UNLOCKED, the lock is ours (marked
//   CONTENDED, because we cannot know whether other threads still sleep; at worst one release
//   makes a needless wake call). Otherwise we sleep with `futex::wait(&state, CONTENDED)`, which
//   the kernel only does if the word still holds CONTENDED: a release that happens between our
//   swap and our sleep changes the word, so the wait returns at once and no wake-up is lost.
// - `release` swaps in UNLOCKED and looks at what it replaced: UNLOCKED means the lock was not
//   held (an error, and the swap changed nothing); CONTENDED means someone may sleep, so it wakes
//   one thread. A release that saw LOCKED skips the system call: nobody can be asleep, since a
//   sleeper would have set CONTENDED first.
// - Every wake-up, real or spurious, goes back to the top of the loop and tries again.
//
// There is no owner: any thread may release (Python's semantics). The lock is not fair: a thread
// that arrives as the lock is released may take it before the woken sleeper (Python's is not
// fair either); the sleeper then sleeps again.

/// Python's `threading.Lock`: not reentrant and not owned, so any thread may release it.
///
/// # Examples
/// ```
/// use lock::{Error, Lock};
///
/// let lock = Lock::new();
/// lock.acquire();
/// assert!(lock.locked());
/// assert!(!lock.try_acquire()); // acquire(blocking=False) on a held lock
/// lock.release().unwrap();
/// assert_eq!(lock.release(), Err(Error::ReleaseUnlocked));
/// ```
pub struct Lock {
    /// 0: unlocked, 1: locked, 2: locked and some thread may be asleep waiting for it.
    state: AtomicU32,
}

impl Lock {
    /// Creates an unlocked lock.
    pub const fn new() -> Lock {
        Lock {
            state: AtomicU32::new(UNLOCKED),
        }
    }

    /// Blocks until the lock is free, then takes it.
    ///
    /// Like Python's, this lock is not reentrant: a thread that acquires a lock it already holds
    /// waits forever (unless another thread releases it).
    pub fn acquire(&self) {
        if !self.try_acquire() {
            self.acquire_contended(None);
        }
    }

    /// Takes the lock if it is free, without blocking (Python's `acquire(blocking=False)`).
    ///
    /// Returns whether the lock was taken.
    pub fn try_acquire(&self) -> bool {
        // Acquire on success: pairs with the Release in `release`, so the previous holder's
        // writes are visible to us. Relaxed on failure: we learned nothing and touch nothing.
        self.state
            .compare_exchange(UNLOCKED, LOCKED, Acquire, Relaxed)
            .is_ok()
    }

    /// Takes the lock, waiting at most `timeout` for it (Python's `acquire(timeout=t)`).
    ///
    /// Returns `true` if the lock was taken, `false` if it stayed held for the whole timeout; the
    /// lock is then left as it was. A zero timeout tries once; a timeout too large to express a
    /// deadline (such as `Duration::MAX`) waits without one.
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        if self.try_acquire() {
            return true;
        }
        if timeout.is_zero() {
            return false;
        }
        // One deadline, taken once; `None` if it does not fit in an `Instant`: no deadline.
        let deadline = Instant::now().checked_add(timeout);
        self.acquire_contended(deadline)
    }

    /// The slow path of the acquire methods: sleep until the lock is ours or the deadline passes.
    fn acquire_contended(&self, deadline: Option<Instant>) -> bool {
        loop {
            // Acquire: pairs with the Release in `release` when the swap finds the lock free.
            if self.state.swap(CONTENDED, Acquire) == UNLOCKED {
                return true;
            }
            match deadline {
                None => futex::wait(&self.state, CONTENDED),
                Some(deadline) => {
                    // The time left is recomputed after every wake-up, spurious or not.
                    let now = Instant::now();
                    if now >= deadline {
                        // Giving up changes nothing observable: the word still says "locked".
                        // It may stay CONTENDED with nobody asleep; that costs the holder one
                        // needless wake call, never a lost wake-up.
                        return false;
                    }
                    futex::wait_timeout(&self.state, CONTENDED, deadline - now);
                }
            }
        }
    }

    /// Unlocks the lock; any thread may do it, not only the one that acquired it.
    ///
    /// # Errors
    /// [`Error::ReleaseUnlocked`] if the lock was not locked; nothing changes then.
    pub fn release(&self) -> Result<(), Error> {
        // One atomic step that both unlocks and tells us what the lock was: two racing releases
        // of a lock held once cannot both see "locked". Release: publishes the critical section
        // to the next acquirer (pairs with the Acquire of `try_acquire`/`acquire_contended`).
        match self.state.swap(UNLOCKED, Release) {
            UNLOCKED => Err(Error::ReleaseUnlocked),
            LOCKED => Ok(()),
            _ => {
                futex::wake_one(&self.state);
                Ok(())
            }
        }
    }

    /// Whether the lock is held right now (by any thread).
    ///
    /// The answer may be stale as soon as it is returned; it is meant for assertions and
    /// diagnostics, never for deciding to acquire (use [`Lock::try_acquire`]).
    pub fn locked(&self) -> bool {
        // Relaxed: a snapshot that orders nothing else.
        self.state.load(Relaxed) != UNLOCKED
    }

    /// Acquires the lock now and releases it when the returned guard is dropped (Python's
    /// `with lock:`), also when a panic unwinds through the guard's scope.
    ///
    /// # Examples
    /// ```
    /// let lock = lock::Lock::new();
    /// {
    ///     let _guard = lock.guard();
    ///     assert!(lock.locked());
    /// }
    /// assert!(!lock.locked());
    /// ```
    pub fn guard(&self) -> LockGuard<'_> {
        self.acquire();
        LockGuard { lock: self }
    }
}

impl Default for Lock {
    fn default() -> Lock {
        Lock::new()
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.locked())
            .finish()
    }
}

/// Holds a [`Lock`] for as long as it lives; see [`Lock::guard`].
///
/// A `Lock` has no owner, so the guard may be sent to and dropped by another thread.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        // Since any thread may release a Lock, someone may have released it behind the guard's
        // back. Python's `with` would raise then; a panic in `drop` could abort the process
        // (it may run during unwinding), so the error is deliberately ignored.
        let _ = self.lock.release();
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard").finish_non_exhaustive()
    }
}

// # Implementation details
//
// A `Lock` next to an `UnsafeCell<T>`. The only ways to reach the value are a guard, which exists
// only while the lock is held, and `&mut self` methods, which the borrow checker already makes
// exclusive. Unlike Python's lock, the guard is tied to its thread (`!Send`): the thread that
// locked is the one that unlocks, as with std's `Mutex`.

/// A value protected by a [`Lock`]: the Rust way, where the lock owns the data.
///
/// # Examples
/// ```
/// let counter = lock::Mutex::new(0);
/// *counter.lock() += 1;
/// assert_eq!(*counter.lock(), 1);
/// assert_eq!(counter.into_inner(), 1);
/// ```
pub struct Mutex<T> {
    lock: Lock,
    value: UnsafeCell<T>,
}

// SAFETY: a `Mutex<T>` only ever lets one thread at a time reach the `T` (through a guard, while
// the lock is held), so sharing the mutex moves access to `T` between threads: that needs
// `T: Send`, not `T: Sync`. `Send` comes automatically from the fields.
unsafe impl<T: Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    /// Creates an unlocked mutex holding `value`.
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            lock: Lock::new(),
            value: UnsafeCell::new(value),
        }
    }

    /// Blocks until the mutex is free, then returns a guard that gives access to the value and
    /// unlocks when dropped.
    ///
    /// Locking again from the thread holding the guard deadlocks.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.lock.acquire();
        MutexGuard {
            mutex: self,
            not_send: PhantomData,
        }
    }

    /// Like [`Mutex::lock`], but returns `None` at once if the mutex is held.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.lock.try_acquire().then(|| MutexGuard {
            mutex: self,
            not_send: PhantomData,
        })
    }

    /// The value, without locking: `&mut self` proves that no guard exists.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// Consumes the mutex and returns the value.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Mutex<T> {
        Mutex::new(value)
    }
}

impl<T: fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(guard) => d.field("value", &&*guard),
            None => d.field("value", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Access to the value of a locked [`Mutex`]; unlocks when dropped, also during a panic.
///
/// It is `!Send`: the thread that locked is the thread that unlocks.
#[must_use = "the mutex is unlocked as soon as the guard is dropped"]
pub struct MutexGuard<'a, T> {
    mutex: &'a Mutex<T>,
    /// Makes the guard `!Send` (a raw pointer is neither `Send` nor `Sync`).
    not_send: PhantomData<*const ()>,
}

// SAFETY: sharing a guard between threads only hands out `&T` (through `Deref` on `&guard`), which
// is sound exactly when `T: Sync`, as for std's `MutexGuard`. The `PhantomData<*const ()>` above
// exists to remove `Send`, not `Sync`.
unsafe impl<T: Sync> Sync for MutexGuard<'_, T> {}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while the lock is held, so no other thread touches the
        // value, and `&self` rules out a `&mut T` from this guard at the same time.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the lock is held (see `deref`) and `&mut self` makes this the only reference.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // Cannot fail: the inner lock is private and held by this guard.
        let released = self.mutex.lock.release();
        debug_assert!(released.is_ok(), "a MutexGuard's lock was not held");
    }
}

impl<T: fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The tutorial's race, fixed: `threads` threads each add 1 to one shared counter `increments`
/// times, as a read, an increment and a write, under a [`Mutex`]. Returns the final count, which
/// is always `threads * increments`.
///
/// # Examples
/// ```
/// assert_eq!(lock::count_locked(4, 1000), 4000);
/// ```
pub fn count_locked(threads: usize, increments: usize) -> u64 {
    let counter = Mutex::new(0u64);
    blocks::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                for _ in 0..increments {
                    let mut count = counter.lock();
                    // The three steps of `counter += 1`, spelled out: the lock is what makes
                    // them one step for every other thread.
                    let read = *count;
                    let incremented = read + 1;
                    *count = incremented;
                }
            });
        }
    });
    counter.into_inner()
}
