//! # Condition and a bounded queue: producers and consumers
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
//! The exercise's compile-fail cases (a guard sent to another thread, a `Condition<Rc<_>>` shared,
//! a reference into the data held across `wait`; in
//! `exercises/06_condition/tests/compile-fail/`) pass against this answer:
//! `cargo test -p condition-solution --test compile_fail`.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use blocks::sync::{Arc, Lock};
use blocks::time::{Duration, Instant};

// # Implementation details
//
// CPython's design, with the data added. The condition's `lock` (a raw, Python-style Lock)
// protects both the data and `waiters`, the FIFO queue of waiting threads, each represented by
// a raw Lock of its own that is *held* while it sits in the queue:
//
// - `wait`, holding the condition's lock: allocate a Lock, acquire it, push it at the back of the
//   queue, and only then release the condition's lock. From that moment a notifier (who needs the
//   condition's lock) can see us, so no notify can fall between our release and our sleep.
//   Then acquire our own Lock again: it is held, so we sleep until a notifier releases it.
//   Finally re-acquire the condition's lock.
// - `notify(n)`, holding the condition's lock: pop the `n` oldest Locks and release each one.
//   Exactly `min(n, waiting)` waiters wake, oldest first. With no waiter nothing happens, and
//   nothing is remembered: there is no counter of pending notifies.
// - No spurious wake-ups: a waiter gets past its own Lock only when a notifier released it
//   (the raw Lock re-checks its state after every futex return).
// - `wait_timeout`: a waiter that times out re-acquires the condition's lock and then looks for
//   its Lock in the queue. Still there: nobody notified it; it removes itself (so that no later
//   notify is wasted on it) and reports `false`. Gone: a notifier popped and released it after
//   the timeout but before we got the lock back; that notify was meant for us and counted as a
//   wake-up, so we report `true` rather than lose it.
//
// Each waiter's Lock is shared with the queue through an `Arc`: a notifier's `release` may still
// be touching the Lock when its waiter wakes up.

/// Python's `threading.Condition`, owning the data it protects.
///
/// # Examples
/// ```
/// use blocks::sync::Arc;
/// use condition::Condition;
///
/// let items = Arc::new(Condition::new(Vec::new()));
/// let consumer = {
///     let items = Arc::clone(&items);
///     blocks::thread::spawn(move || {
///         let mut items = items.lock();
///         items.wait_for(|items| !items.is_empty());
///         items.pop().unwrap()
///     })
/// };
/// let mut guard = items.lock();
/// guard.push(7);
/// guard.notify(1);
/// drop(guard);
/// assert_eq!(consumer.join().unwrap(), 7);
/// ```
pub struct Condition<T> {
    /// The condition's lock: held exactly while a [`ConditionGuard`] exists. It protects
    /// `waiters` and `value`.
    lock: Lock,
    /// The waiting threads' own Locks, oldest first; each is held while it is queued.
    waiters: UnsafeCell<VecDeque<Arc<Lock>>>,
    value: UnsafeCell<T>,
}

// SAFETY: `waiters` and `value` are only reached through a ConditionGuard, that is with `lock`
// held, so by one thread at a time; the value may be handed from thread to thread that way,
// hence `T: Send` (as for std's Mutex, `T: Sync` is not needed).
unsafe impl<T: Send> Sync for Condition<T> {}

/// Holds the lock of a [`Condition`]; gives access to the data and to `wait`/`notify`.
///
/// Dropping the guard releases the lock. A guard is neither `Send` nor `Sync`: it stands for the
/// lock being held by this thread, and `notify` (which takes `&self`) changes the queue of
/// waiters, so two threads must never share one guard.
pub struct ConditionGuard<'a, T> {
    condition: &'a Condition<T>,
    /// Neither Send nor Sync (see above).
    _not_send: PhantomData<*const ()>,
}

impl<T> Condition<T> {
    /// Creates a condition protecting `value`.
    pub const fn new(value: T) -> Self {
        Condition {
            lock: Lock::new(),
            waiters: UnsafeCell::new(VecDeque::new()),
            value: UnsafeCell::new(value),
        }
    }

    /// Blocks until the lock is free, then takes it (Python's `with condition:`).
    pub fn lock(&self) -> ConditionGuard<'_, T> {
        self.lock.acquire();
        ConditionGuard {
            condition: self,
            _not_send: PhantomData,
        }
    }

    /// Takes the lock if it is free, without blocking.
    pub fn try_lock(&self) -> Option<ConditionGuard<'_, T>> {
        self.lock.try_acquire().then(|| ConditionGuard {
            condition: self,
            _not_send: PhantomData,
        })
    }

    /// The data, without locking: `&mut self` proves nobody else can use it.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// Consumes the condition and returns the data.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: Default> Default for Condition<T> {
    fn default() -> Self {
        Condition::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for Condition<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("Condition");
        match self.try_lock() {
            Some(guard) => out.field("value", &&*guard),
            None => out.field("value", &format_args!("<locked>")),
        };
        out.finish_non_exhaustive()
    }
}

impl<T> ConditionGuard<'_, T> {
    /// Releases the lock, sleeps until notified, and takes the lock again before returning.
    ///
    /// Returns only after a `notify` chose this thread (no spurious wake-ups). The data may have
    /// changed meanwhile, and another thread may have acted on the notify first: check the
    /// condition again, in a loop (or use [`wait_for`](Self::wait_for)).
    pub fn wait(&mut self) {
        let waiter = self.enqueue();
        self.unlock();
        // Sleeps until a notifier releases our Lock.
        waiter.acquire();
        self.condition.lock.acquire();
    }

    /// Like [`wait`](Self::wait), giving up after `timeout`; `true` if notified, `false` if the
    /// timeout passed first (never earlier). The lock is held again when it returns, either way.
    ///
    /// A zero timeout releases the lock and takes it back; `Duration::MAX` waits without a
    /// deadline.
    pub fn wait_timeout(&mut self, timeout: Duration) -> bool {
        let waiter = self.enqueue();
        self.unlock();
        // The raw Lock keeps one deadline and re-sleeps for the time left after spurious returns.
        let notified = waiter.acquire_timeout(timeout);
        self.condition.lock.acquire();
        // Timed out: still queued means nobody chose us; otherwise a notify came between our
        // timeout and re-acquiring the lock, and it is ours.
        notified || !self.dequeue(&waiter)
    }

    /// Waits until `predicate` holds for the data (it is checked first, then after each wake-up).
    pub fn wait_for<F: FnMut(&mut T) -> bool>(&mut self, mut predicate: F) {
        while !predicate(self) {
            self.wait();
        }
    }

    /// Waits until `predicate` holds or `timeout` has passed; returns the predicate's last value.
    ///
    /// The predicate is checked first, then after every wake-up; the timeout is one deadline for
    /// the whole call, however many times the thread is woken.
    pub fn wait_for_timeout<F: FnMut(&mut T) -> bool>(
        &mut self,
        mut predicate: F,
        timeout: Duration,
    ) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            if predicate(self) {
                return true;
            }
            match deadline {
                None => self.wait(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    self.wait_timeout(deadline - now);
                }
            }
        }
    }

    /// Wakes the `n` threads that have waited longest (all of them if fewer are waiting).
    ///
    /// A notify with nobody waiting does nothing and is not remembered.
    pub fn notify(&self, n: usize) {
        // SAFETY: this guard holds the condition's lock, which protects the queue; no reference
        // to the queue outlives this statement's use of it.
        let waiters = unsafe { &mut *self.condition.waiters.get() };
        let n = n.min(waiters.len());
        for waiter in waiters.drain(..n) {
            // Queued Locks are held: releasing one wakes its waiter.
            let released = waiter.release();
            debug_assert!(released.is_ok(), "a queued waiter's Lock was not held");
        }
    }

    /// Wakes every waiting thread.
    pub fn notify_all(&self) {
        self.notify(usize::MAX);
    }

    /// Joins the queue of waiters with a freshly acquired Lock of our own.
    fn enqueue(&mut self) -> Arc<Lock> {
        let waiter = Arc::new(Lock::new());
        waiter.acquire();
        // SAFETY: this guard holds the condition's lock, which protects the queue.
        let waiters = unsafe { &mut *self.condition.waiters.get() };
        waiters.push_back(Arc::clone(&waiter));
        waiter
    }

    /// Removes `waiter` from the queue; whether it was still there.
    fn dequeue(&mut self, waiter: &Arc<Lock>) -> bool {
        // SAFETY: this guard holds the condition's lock (re-acquired by the caller).
        let waiters = unsafe { &mut *self.condition.waiters.get() };
        match waiters
            .iter()
            .position(|queued| Arc::ptr_eq(queued, waiter))
        {
            Some(index) => {
                waiters.remove(index);
                true
            }
            None => false,
        }
    }

    /// Releases the condition's lock, which this guard holds.
    fn unlock(&self) {
        let released = self.condition.lock.release();
        debug_assert!(released.is_ok(), "a ConditionGuard without its lock");
    }
}

impl<T> Deref for ConditionGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so nobody else can reach the value.
        unsafe { &*self.condition.value.get() }
    }
}

impl<T> DerefMut for ConditionGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, and `&mut self` makes this the only reference.
        unsafe { &mut *self.condition.value.get() }
    }
}

impl<T> Drop for ConditionGuard<'_, T> {
    fn drop(&mut self) {
        self.unlock();
    }
}

impl<T: fmt::Debug> fmt::Debug for ConditionGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The item a full [`BoundedQueue`] hands back from `try_put` or `put_timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full<T>(pub T);

impl<T> fmt::Display for Full<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is full")
    }
}

impl<T: fmt::Debug> std::error::Error for Full<T> {}

/// What a [`BoundedQueue`] keeps under its Condition.
struct QueueState<T> {
    items: VecDeque<T>,
    /// Items put and not yet marked done by `task_done`.
    unfinished: usize,
    /// Threads waiting in `get` for an item.
    getters: usize,
    /// Threads waiting in `put` for room.
    putters: usize,
    /// Threads waiting in `join` for `unfinished` to reach zero.
    joiners: usize,
}

// # Implementation details
//
// Python's `queue.Queue` has one mutex and three Conditions on it (`not_empty`, `not_full`,
// `all_tasks_done`), so that `put` wakes only getters and `get` only putters. A `Condition<T>`
// owns its lock and has one queue of waiters, so all the queue's waiters share one queue, and a
// blind `notify(1)` could wake a waiter of the wrong kind: it would find its condition still
// false and sleep again, and the thread that could have run would never hear of it.
//
// So the state counts who is waiting for what, and a notifier picks its notify:
// - `put` wakes a getter if one waits: `notify(1)` when only getters wait (then the oldest
//   waiter is a getter, as wanted), `notify_all` when other kinds wait too (everyone re-checks;
//   the right ones proceed, the others sleep again).
// - `get` does the same for putters; `task_done` wakes all joiners when the count reaches zero.
// One `notify(1)` per item suffices: a woken getter whose item was taken first by a thread that
// did not have to wait re-checks and sleeps again, and the item count still matches.
//
// Every wait is in a `while` loop around the condition: a woken thread is not promised that its
// condition still holds when it has the lock again.

/// Python's `queue.Queue`: a FIFO queue with an optional capacity, for producers and consumers.
///
/// # Examples
/// ```
/// use blocks::sync::Arc;
/// use condition::{BoundedQueue, Full};
///
/// let queue = Arc::new(BoundedQueue::new(2));
/// let consumer = {
///     let queue = Arc::clone(&queue);
///     blocks::thread::spawn(move || {
///         let sum: u32 = (0..3).map(|_| queue.get()).sum();
///         queue.task_done();
///         queue.task_done();
///         queue.task_done();
///         sum
///     })
/// };
/// for item in [1, 2, 3] {
///     queue.put(item); // blocks while two items wait
/// }
/// queue.join(); // until every item put was marked done
/// assert_eq!(consumer.join().unwrap(), 6);
/// assert_eq!(queue.try_get(), None);
/// ```
pub struct BoundedQueue<T> {
    /// The most items it holds; 0: unbounded.
    capacity: usize,
    state: Condition<QueueState<T>>,
}

impl<T> BoundedQueue<T> {
    /// Creates an empty queue holding at most `capacity` items (0: no limit).
    pub fn new(capacity: usize) -> Self {
        BoundedQueue {
            capacity,
            state: Condition::new(QueueState {
                items: VecDeque::new(),
                unfinished: 0,
                getters: 0,
                putters: 0,
                joiners: 0,
            }),
        }
    }

    /// Adds `item` at the back, blocking while the queue is full.
    pub fn put(&self, item: T) {
        if self.put_until(item, None).is_err() {
            unreachable!("a put without deadline gave up");
        }
    }

    /// Adds `item` if there is room now; otherwise hands it back.
    ///
    /// # Errors
    /// [`Full`] with the item if the queue is full.
    pub fn try_put(&self, item: T) -> Result<(), Full<T>> {
        self.put_timeout(item, Duration::ZERO)
    }

    /// Adds `item`, waiting at most `timeout` for room; otherwise hands it back.
    ///
    /// # Errors
    /// [`Full`] with the item if the queue stayed full for the whole timeout.
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), Full<T>> {
        self.put_until(item, Some(Instant::now().checked_add(timeout)))
    }

    /// Removes the item at the front, blocking while the queue is empty.
    pub fn get(&self) -> T {
        match self.get_until(None) {
            Some(item) => item,
            None => unreachable!("a get without deadline gave up"),
        }
    }

    /// Removes the item at the front if there is one now.
    pub fn try_get(&self) -> Option<T> {
        self.get_timeout(Duration::ZERO)
    }

    /// Removes the item at the front, waiting at most `timeout` for one.
    pub fn get_timeout(&self, timeout: Duration) -> Option<T> {
        self.get_until(Some(Instant::now().checked_add(timeout)))
    }

    /// How many items wait in the queue right now.
    pub fn len(&self) -> usize {
        self.state.lock().items.len()
    }

    /// Whether the queue holds no item right now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Marks one item taken from the queue as fully processed (for [`join`](Self::join)).
    ///
    /// # Panics
    /// If called more times than items were put (Python raises `ValueError`).
    pub fn task_done(&self) {
        let mut state = self.state.lock();
        assert!(
            state.unfinished > 0,
            "task_done() called more times than items were put"
        );
        state.unfinished -= 1;
        if state.unfinished == 0 && state.joiners > 0 {
            state.notify_all();
        }
    }

    /// Blocks until every item ever put has been marked done with `task_done`.
    pub fn join(&self) {
        let mut state = self.state.lock();
        while state.unfinished > 0 {
            state.joiners += 1;
            state.wait();
            state.joiners -= 1;
        }
    }

    /// `put` with a deadline: `None` waits forever, `Some(None)` is a deadline too far away to
    /// matter (forever too).
    fn put_until(&self, item: T, deadline: Option<Option<Instant>>) -> Result<(), Full<T>> {
        let deadline = deadline.flatten();
        let mut state = self.state.lock();
        while self.capacity != 0 && state.items.len() >= self.capacity {
            let timeout = match deadline {
                None => None,
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Err(Full(item)),
                },
            };
            state.putters += 1;
            match timeout {
                None => state.wait(),
                Some(left) => {
                    state.wait_timeout(left);
                }
            }
            state.putters -= 1;
        }
        state.items.push_back(item);
        state.unfinished += 1;
        if state.getters > 0 {
            if state.putters + state.joiners == 0 {
                state.notify(1);
            } else {
                state.notify_all();
            }
        }
        Ok(())
    }

    /// `get` with a deadline, as in [`put_until`](Self::put_until).
    fn get_until(&self, deadline: Option<Option<Instant>>) -> Option<T> {
        let deadline = deadline.flatten();
        let mut state = self.state.lock();
        loop {
            if let Some(item) = state.items.pop_front() {
                if state.putters > 0 {
                    if state.getters + state.joiners == 0 {
                        state.notify(1);
                    } else {
                        state.notify_all();
                    }
                }
                return Some(item);
            }
            let timeout = match deadline {
                None => None,
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return None,
                },
            };
            state.getters += 1;
            match timeout {
                None => state.wait(),
                Some(left) => {
                    state.wait_timeout(left);
                }
            }
            state.getters -= 1;
        }
    }
}

impl<T> fmt::Debug for BoundedQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedQueue")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

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
