//! # Condition and a bounded queue: producers and consumers
//!
//! Your task: replace every `todo!()` below (`// TODO:` marks where). You may use atomics,
//! futex, threads, time and the raw `blocks::sync::Lock` from `blocks` (not its `Mutex` or
//! `Condvar`: building those is the point); nothing concurrency-related from `std` directly.
//!
//! Python's `threading.Condition` joins a lock to a way of sleeping until some *condition* on
//! the data it protects becomes true. Threads that change the data call `notify`; threads that
//! need the condition call `wait`, which releases the lock while sleeping and takes it back
//! before returning:
//!
//! ```python
//! items = []
//! available = threading.Condition()
//!
//! def consume():
//!     with available:
//!         while not items:            # or: available.wait_for(lambda: items)
//!             available.wait()        # releases the lock, sleeps, re-acquires it
//!         return items.pop(0)
//!
//! def produce(item):
//!     with available:
//!         items.append(item)
//!         available.notify()          # wakes one waiter (the one waiting longest)
//! ```
//!
//! CPython builds it from plain locks: every waiter allocates a lock, acquires it once, appends
//! it to a queue of waiters, releases the condition's lock, and acquires its own lock a second
//! time, which blocks until `notify` pops it from the queue and releases it. `queue.Queue`, the
//! producer/consumer queue, is built on Conditions.
//!
//! In Rust, a [`Condition<T>`] owns the data `T` it protects, like a mutex: [`Condition::lock`]
//! returns a [`ConditionGuard`], and `wait`/`notify` are methods of the guard, so nobody can
//! wait or notify without holding the lock (Python checks that at run time). [`BoundedQueue`]
//! is Python's `queue.Queue`, built on a Condition.
//!
//! The mistakes this exercise is about:
//! - **lost wake-ups**: a waiter must be in the queue *before* it releases the lock; otherwise a
//!   notify between the release and the enqueue finds nobody, and the waiter sleeps forever.
//! - **`if` instead of `while`**: between the notify and the moment the woken thread has the lock
//!   again, another thread can take the item. A woken thread re-checks its condition in a loop.
//! - **exact notify**: `notify(n)` wakes exactly `min(n, waiting)` waiters, the longest-waiting
//!   first; a notify with no waiter is not remembered; a waiter returns only when notified or
//!   timed out, never spuriously (even if `futex::wait` returns spuriously).
//! - **timeouts**: `wait_timeout` re-acquires the lock before returning, also on timeout; a waiter
//!   that timed out leaves the queue, so a later notify is not wasted on it; `wait_for_timeout`
//!   takes one deadline for all its waits.
//! - **one queue of waiters, two kinds of waiters**: producers wait for room, consumers for items.
//!   If both wait on one Condition, `notify(1)` may wake the wrong kind, which goes back to
//!   sleep, and everybody waits forever.
//! - **task accounting**: `task_done` more often than items were put is an error.
//!
//! The grader checks these under a schedule-perturbing backend (random yields, spurious futex
//! returns), with many producers and consumers, and measures that blocked waiters burn no CPU.
//!
//! What must not compile (a guard sent to another thread, a `Condition<Rc<_>>` shared, a reference
//! into the data held across `wait`) is in `tests/compile-fail/`, each case beside the compiler's
//! error: `cargo test -p condition` checks your types against them.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use blocks::sync::{Arc, Lock};
use blocks::time::{Duration, Instant};

/// Python's `threading.Condition`, owning the data it protects.
pub struct Condition<T> {
    // TODO: these fields follow CPython's design (see `cargo xtask hint 06_condition`): the
    // condition's lock, which protects both the data and the queue of waiters, and the queue,
    // oldest first, of the waiting threads' own raw Locks. Change them if you prefer another way.
    lock: Lock,
    waiters: UnsafeCell<VecDeque<Arc<Lock>>>,
    value: UnsafeCell<T>,
}

// SAFETY: TODO: true once your code reaches `waiters` and `value` only while holding `lock`
// (through a ConditionGuard), so one thread at a time. Like std's Mutex, it needs `T: Send`.
unsafe impl<T: Send> Sync for Condition<T> {}

/// Holds the lock of a [`Condition`]; gives access to the data and to `wait`/`notify`.
///
/// Dropping the guard releases the lock. The guard stands for "this thread holds the lock", so
/// it must stay on its thread (`!Send`).
pub struct ConditionGuard<'a, T> {
    condition: &'a Condition<T>,
    // TODO: as it stands this guard is `Send`: `cargo test -p condition` shows what must not
    // compile (tests/compile-fail/guard_sent_to_another_thread.rs). A zero-sized
    // `PhantomData<*const ()>` field makes it neither `Send` nor `Sync` (a raw pointer is neither).
}

impl<T> Condition<T> {
    /// Creates a condition protecting `value`.
    pub fn new(value: T) -> Self {
        // TODO
        todo!()
    }

    /// Blocks until the lock is free, then takes it (Python's `with condition:`).
    pub fn lock(&self) -> ConditionGuard<'_, T> {
        // TODO
        todo!()
    }

    /// Takes the lock if it is free, without blocking.
    pub fn try_lock(&self) -> Option<ConditionGuard<'_, T>> {
        // TODO
        todo!()
    }

    /// Consumes the condition and returns the data.
    pub fn into_inner(self) -> T {
        // TODO
        todo!()
    }
}

impl<T> ConditionGuard<'_, T> {
    /// Releases the lock, sleeps until notified, and takes the lock again before returning.
    ///
    /// Returns only after a `notify` chose this thread (no spurious wake-ups).
    pub fn wait(&mut self) {
        // TODO: join the queue BEFORE releasing the condition's lock (otherwise a notify can
        // slip in between and be lost), then sleep, then take the lock again.
        todo!()
    }

    /// Like [`wait`](Self::wait), giving up after `timeout`; `true` if notified, `false` if the
    /// timeout passed first (never earlier). The lock is held again when it returns, either way.
    pub fn wait_timeout(&mut self, timeout: Duration) -> bool {
        // TODO: a waiter that times out must leave the queue, or a later notify is wasted on it.
        // `Duration::MAX` means no deadline.
        todo!()
    }

    /// Waits until `predicate` holds for the data (it is checked first, then after each wake-up).
    pub fn wait_for<F: FnMut(&mut T) -> bool>(&mut self, predicate: F) {
        // TODO
        todo!()
    }

    /// Waits until `predicate` holds or `timeout` has passed; returns the predicate's last value.
    ///
    /// The predicate is checked first; the timeout is one deadline for the whole call.
    pub fn wait_for_timeout<F: FnMut(&mut T) -> bool>(
        &mut self,
        predicate: F,
        timeout: Duration,
    ) -> bool {
        // TODO: take the deadline once; after each wake-up, wait only for the time left.
        todo!()
    }

    /// Wakes the `n` threads that have waited longest (all of them if fewer are waiting).
    ///
    /// A notify with nobody waiting does nothing and is not remembered.
    pub fn notify(&self, n: usize) {
        // TODO
        todo!()
    }

    /// Wakes every waiting thread.
    pub fn notify_all(&self) {
        // TODO
        todo!()
    }
}

impl<T> Deref for ConditionGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // TODO
        todo!()
    }
}

impl<T> DerefMut for ConditionGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // TODO
        todo!()
    }
}

impl<T> Drop for ConditionGuard<'_, T> {
    fn drop(&mut self) {
        // TODO: release the condition's lock.
    }
}

/// The item a full [`BoundedQueue`] hands back from `try_put` or `put_timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full<T>(pub T);

/// What a [`BoundedQueue`] keeps under its Condition.
struct QueueState<T> {
    items: VecDeque<T>,
    // TODO: what else must the queue remember? (Unfinished tasks for `join`; perhaps who waits.)
}

/// Python's `queue.Queue`: a FIFO queue with an optional capacity, for producers and consumers.
pub struct BoundedQueue<T> {
    /// The most items it holds; 0: unbounded.
    capacity: usize,
    state: Condition<QueueState<T>>,
}

impl<T> BoundedQueue<T> {
    /// Creates an empty queue holding at most `capacity` items (0: no limit).
    pub fn new(capacity: usize) -> Self {
        // TODO
        todo!()
    }

    /// Adds `item` at the back, blocking while the queue is full.
    pub fn put(&self, item: T) {
        // TODO: producers wait for room, consumers for items. If both kinds share one Condition,
        // think hard about which waiter a notify(1) wakes.
        todo!()
    }

    /// Adds `item` if there is room now; otherwise hands it back in `Err(Full(item))`.
    pub fn try_put(&self, item: T) -> Result<(), Full<T>> {
        // TODO
        todo!()
    }

    /// Adds `item`, waiting at most `timeout` for room; otherwise hands it back.
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), Full<T>> {
        // TODO
        todo!()
    }

    /// Removes the item at the front, blocking while the queue is empty.
    pub fn get(&self) -> T {
        // TODO: `while`, not `if`: another consumer may take the item before you wake up.
        todo!()
    }

    /// Removes the item at the front if there is one now.
    pub fn try_get(&self) -> Option<T> {
        // TODO
        todo!()
    }

    /// Removes the item at the front, waiting at most `timeout` for one.
    pub fn get_timeout(&self, timeout: Duration) -> Option<T> {
        // TODO
        todo!()
    }

    /// How many items wait in the queue right now.
    pub fn len(&self) -> usize {
        // TODO
        todo!()
    }

    /// Whether the queue holds no item right now.
    pub fn is_empty(&self) -> bool {
        // TODO
        todo!()
    }

    /// Marks one item taken from the queue as fully processed (for [`join`](Self::join)).
    ///
    /// # Panics
    /// If called more times than items were put (Python raises `ValueError`).
    pub fn task_done(&self) {
        // TODO
        todo!()
    }

    /// Blocks until every item ever put has been marked done with `task_done`.
    pub fn join(&self) {
        // TODO
        todo!()
    }
}

// Run these with `cargo test -p condition`. They fail until the exercise is solved; the grader's
// hidden checks go much further (notify order and counts, timeouts, many producers and consumers
// under perturbed schedules, CPU use while blocked).
#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// Runs `f` on its own thread and fails the test if it has not returned within 10 s.
    fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(f()).unwrap());
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("blocked for 10 s")
    }

    #[test]
    fn wait_for_sees_what_the_notifier_wrote() {
        let condition = Arc::new(Condition::new(0));
        let waiter = {
            let condition = Arc::clone(&condition);
            std::thread::spawn(move || {
                let mut guard = condition.lock();
                guard.wait_for(|value| *value == 3);
                *guard
            })
        };
        for _ in 0..3 {
            let mut guard = condition.lock();
            *guard += 1;
            guard.notify_all();
        }
        assert_eq!(within(move || waiter.join().unwrap()), 3);
    }

    #[test]
    fn timed_out_wait_holds_the_lock_again() {
        let condition = Condition::new(());
        let mut guard = condition.lock();
        let start = Instant::now();
        assert!(!guard.wait_timeout(Duration::from_millis(20)));
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert!(condition.try_lock().is_none());
        drop(guard);
        assert!(condition.try_lock().is_some());
    }

    #[test]
    fn notify_without_waiters_is_forgotten() {
        let condition = Condition::new(());
        let mut guard = condition.lock();
        guard.notify(3);
        guard.notify_all();
        assert!(!guard.wait_timeout(Duration::from_millis(10)));
    }

    #[test]
    fn queue_is_fifo_and_bounded() {
        let queue = BoundedQueue::new(2);
        queue.put(1);
        assert_eq!(queue.try_put(2), Ok(()));
        assert_eq!(queue.try_put(3), Err(Full(3)));
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.get(), 1);
        assert_eq!(queue.try_get(), Some(2));
        assert_eq!(queue.try_get(), None);
        assert!(queue.is_empty());
    }
}
