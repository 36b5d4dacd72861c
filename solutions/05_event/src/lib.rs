//! # Event and Timer: signalling between threads
//!
//! Python's `threading.Event` is a flag that threads can wait for. One thread announces that
//! something happened; every thread waiting for it wakes up:
//!
//! ```python
//! ready = threading.Event()
//!
//! def worker():
//!     ready.wait()                # sleeps until some thread calls ready.set()
//!     print("go!")
//!
//! for _ in range(3):
//!     threading.Thread(target=worker).start()
//! load_configuration()
//! ready.set()                     # all three workers wake up
//! ```
//!
//! `set()` raises the flag and wakes *every* waiter, `clear()` lowers it, `is_set()` reads it,
//! and `wait(timeout)` returns at once if the flag is up, otherwise sleeps until a `set()` or the
//! timeout, and reports which of the two ended the wait.
//!
//! `threading.Timer(interval, function)` is built on an Event: it is a thread that waits on its
//! own event for `interval` seconds and then calls `function`, unless `cancel()` set the event
//! first. In Rust, [`Timer::join`] waits until the action has run (or the timer was cancelled).
//!
//! The mistakes this exercise is about:
//! - **set followed at once by clear**: a waiter that was asleep when `set()` happened must
//!   return `true`, even if `clear()` ran before the waiter was scheduled. A waiter that only
//!   looks at the flag when it wakes finds it down and goes back to sleep: it lost the event.
//!   Waiters must know that a `set()` happened *since they started waiting* (a generation
//!   counter), not what the flag says now.
//! - **waking only one waiter**: `set()` releases everybody (`wake_all`, not `wake_one`).
//! - **spurious wake-ups and timeouts**: `futex::wait` may return although nothing happened;
//!   `wait_timeout` returns `false` only once its deadline has passed (never early), and `true`
//!   only if a `set()` really happened. One deadline, taken once; `Duration::MAX` means "no
//!   deadline" and must not panic.
//! - **busy-waiting**: a waiter sleeps; it does not spin on `is_set()`.
//! - **timer races**: `cancel()` and the timer's thread must agree, in one atomic step, on
//!   whether the action runs; a timer fires once, never before its interval; `start()` twice is
//!   an error; `join()` returns only after the action has finished.
//!
//! The exercise's compile-fail cases (a timer action that takes an `Rc` along or borrows a local;
//! in `exercises/05_event/tests/compile-fail/`) pass against this
//! answer: `cargo test -p event-solution --test compile_fail`.
//!
//! The grader checks all of the above under a schedule-perturbing backend (random yields and
//! spurious futex returns), and measures that blocked waiters burn no CPU.

use std::fmt;

use blocks::futex;
use blocks::sync::atomic::{
    AtomicU32,
    Ordering::{Acquire, Relaxed, Release},
};
use blocks::sync::{Arc, Mutex, PoisonError};
use blocks::thread;
use blocks::time::{Duration, Instant};

/// What can go wrong when using a [`Timer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// `start` was called on a timer that was already started (Python raises `RuntimeError`).
    AlreadyStarted,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::AlreadyStarted => f.write_str("a timer can only be started once"),
        }
    }
}

impl std::error::Error for Error {}

// # Implementation details
//
// The whole event is one futex word that counts the flag's transitions, wrapping: an even value
// means "clear", an odd value "set". `set` turns an even value into the next odd one, `clear`
// an odd value into the next even one; nothing else ever changes the word.
//
// A waiter that finds the flag clear remembers the even value it saw and sleeps while the word
// still holds it (`futex::wait(&state, seen)`: the kernel checks and sleeps in one step, so a
// `set` between our look and our sleep is never missed). The first change of the word after
// `seen` can only be a `set`, so *any* change means "a set happened since I started waiting",
// even if a `clear` came right after it: that is the generation counter the lesson is about,
// and why `clear` moves forward to a new even value instead of going back to `seen`.
//
// Every wake-up, real or spurious, re-reads the word: unchanged means "nothing happened", so the
// waiter sleeps again for whatever is left of its one deadline.
//
// The count wraps at 2^32 without changing parity; a waiter could only be fooled by exactly 2^32
// transitions while it sleeps, which no program does.

/// Python's `threading.Event`: a flag that threads can wait for.
///
/// # Examples
/// ```
/// use blocks::sync::Arc;
/// use event::Event;
///
/// let ready = Arc::new(Event::new());
/// let waiter = {
///     let ready = Arc::clone(&ready);
///     blocks::thread::spawn(move || ready.wait())
/// };
/// ready.set();
/// waiter.join().unwrap();
/// assert!(ready.is_set());
/// ```
pub struct Event {
    /// The number of transitions of the flag, wrapping: even = clear, odd = set.
    state: AtomicU32,
}

impl Event {
    /// Creates an event whose flag is clear.
    pub const fn new() -> Event {
        Event {
            state: AtomicU32::new(0),
        }
    }

    /// Whether the flag is set right now.
    pub fn is_set(&self) -> bool {
        // Acquire: pairs with the Release of `set`, so a thread that sees the flag up also sees
        // what the setter wrote before setting it.
        is_set_count(self.state.load(Acquire))
    }

    /// Raises the flag and wakes every thread waiting for it.
    ///
    /// Setting an event that is already set changes nothing.
    pub fn set(&self) {
        // `| 1` moves an even (clear) count to the next odd one and leaves an odd one as it is;
        // still a read-modify-write, so this setter's writes are published either way.
        // Release: pairs with the Acquire loads of `is_set` and the waiters.
        let before = self.state.fetch_or(1, Release);
        if !is_set_count(before) {
            futex::wake_all(&self.state);
        }
    }

    /// Lowers the flag. Threads that were woken by an earlier `set` still return `true`.
    pub fn clear(&self) {
        // Relaxed: `clear` publishes nothing. Being a read-modify-write, it continues the release
        // sequence of the `set` before it, so a waiter that Acquire-loads the cleared count
        // still synchronizes with that `set`.
        let _ = self.state.fetch_update(Relaxed, Relaxed, |count| {
            is_set_count(count).then(|| count.wrapping_add(1))
        });
    }

    /// Blocks until the flag is set; returns at once if it is set already.
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Blocks until the flag is set or `timeout` has passed; returns `true` if it was set.
    ///
    /// `true` means the flag was set when the call began or a `set` happened during the wait
    /// (even if a `clear` followed before this thread ran); `false` means the timeout passed,
    /// never earlier. A zero timeout only looks at the flag; a timeout too large for a deadline
    /// (up to `Duration::MAX`) waits without one.
    ///
    /// # Examples
    /// ```
    /// use blocks::time::Duration;
    /// use event::Event;
    ///
    /// let event = Event::new();
    /// assert!(!event.wait_timeout(Duration::from_millis(10)));
    /// event.set();
    /// assert!(event.wait_timeout(Duration::ZERO));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Instant::now().checked_add(timeout))
    }

    /// Waits for a `set` until `deadline` (`None`: forever); returns whether one happened.
    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        // Acquire (here and below): pairs with the Release of `set`.
        let seen = self.state.load(Acquire);
        if is_set_count(seen) {
            return true;
        }
        loop {
            match deadline {
                None => futex::wait(&self.state, seen),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    futex::wait_timeout(&self.state, seen, deadline - now);
                }
            }
            // Any change since `seen` began with a `set`; no change is a spurious wake-up.
            if self.state.load(Acquire) != seen {
                return true;
            }
        }
    }
}

/// Whether a transition count says "set" (odd).
const fn is_set_count(count: u32) -> bool {
    count & 1 == 1
}

impl Default for Event {
    fn default() -> Event {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish()
    }
}

/// The timer has neither fired nor been cancelled (it may not be started yet).
const WAITING: u32 = 0;
/// `cancel` won: the action will never run.
const CANCELLED: u32 = 1;
/// The timer's thread won: the action is running.
const RUNNING: u32 = 2;
/// The action has run.
const FIRED: u32 = 3;

/// The action of a [`Timer`], boxed so that `Timer` needs no type parameter.
type Action = Box<dyn FnOnce() + Send + 'static>;

// # Implementation details
//
// Python's Timer is a thread whose `run` is
//
//     self.finished.wait(self.interval)
//     if not self.finished.is_set():
//         self.function()
//     self.finished.set()
//
// and whose `cancel` is `self.finished.set()`. Its decision has a window: a `cancel` that comes
// after the `is_set()` check but before the call returns having changed nothing, and the action
// runs anyway. Here a single atomic `state` decides: the timer's thread and `cancel` both try to
// move it away from WAITING with `compare_exchange`, and exactly one of them wins. The Event
// `finished` is Python's: the timer's thread sleeps on it for the interval (only `cancel` can
// set it meanwhile, so `true` means "cancelled"), and `join` waits on it, set once the timer is
// over (cancelled, or the action has returned).
//
// The action and the interval wait in `pending` until `start` hands them to the timer's thread;
// taking them out is also how a second `start` is recognized, in one step under the mutex.

/// Python's `threading.Timer`: runs an action once on its own thread after an interval, unless
/// cancelled first.
///
/// # Examples
/// ```
/// use blocks::sync::atomic::{AtomicBool, Ordering::SeqCst};
/// use blocks::sync::Arc;
/// use blocks::time::Duration;
/// use event::Timer;
///
/// let rang = Arc::new(AtomicBool::new(false));
/// let timer = {
///     let rang = Arc::clone(&rang);
///     Timer::new(Duration::from_millis(10), move || rang.store(true, SeqCst))
/// };
/// timer.start().unwrap();
/// timer.join();
/// assert!(timer.fired() && rang.load(SeqCst));
/// ```
pub struct Timer {
    shared: Arc<TimerShared>,
    /// The interval and the action until `start` takes them; `None` once started.
    pending: Mutex<Option<(Duration, Action)>>,
}

/// What the timer's thread and the `Timer` handle share.
struct TimerShared {
    /// 0: waiting (not started, or not yet due), 1: cancelled, 2: running the action, 3: fired.
    state: AtomicU32,
    /// Set when the timer is over: by `cancel`, or by the timer's thread after the action.
    finished: Event,
}

impl Timer {
    /// Creates a timer that, once started, runs `action` after `interval`.
    pub fn new<F: FnOnce() + Send + 'static>(interval: Duration, action: F) -> Timer {
        Timer {
            shared: Arc::new(TimerShared {
                state: AtomicU32::new(WAITING),
                finished: Event::new(),
            }),
            pending: Mutex::new(Some((interval, Box::new(action)))),
        }
    }

    /// Starts the timer's thread: the action runs `interval` from now unless cancelled.
    ///
    /// A timer cancelled before it was started starts nothing (and never runs its action).
    ///
    /// # Errors
    /// [`Error::AlreadyStarted`] if the timer was started before.
    pub fn start(&self) -> Result<(), Error> {
        // The mutex is only ever held for this `take`, which cannot panic: poison is harmless.
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some((interval, action)) = pending else {
            return Err(Error::AlreadyStarted);
        };
        // Relaxed: a stale WAITING only costs a thread that will find the timer cancelled.
        if self.shared.state.load(Relaxed) != CANCELLED {
            let shared = Arc::clone(&self.shared);
            thread::spawn(move || shared.run(interval, action));
        }
        Ok(())
    }

    /// Stops the timer if its action has not started yet (also before `start`): it never runs.
    ///
    /// Cancelling a timer whose action is running or has run changes nothing.
    pub fn cancel(&self) {
        // Relaxed: the exchange only decides who wins; `finished.set()` publishes the outcome.
        if self
            .shared
            .state
            .compare_exchange(WAITING, CANCELLED, Relaxed, Relaxed)
            .is_ok()
        {
            self.shared.finished.set();
        }
    }

    /// Blocks until the action has run, or until the timer is cancelled.
    pub fn join(&self) {
        self.shared.finished.wait();
    }

    /// Whether the action has run.
    pub fn fired(&self) -> bool {
        // Acquire: pairs with the Release store of FIRED, so what the action wrote is visible.
        self.shared.state.load(Acquire) == FIRED
    }
}

impl TimerShared {
    /// The body of the timer's thread.
    fn run(&self, interval: Duration, action: Action) {
        // Only `cancel` sets `finished` before the action has run, so `true` means cancelled.
        if self.finished.wait_timeout(interval) {
            return;
        }
        // The one step that decides between firing and a racing `cancel`.
        // Relaxed: the action was handed to this thread by `spawn`, which synchronizes.
        if self
            .state
            .compare_exchange(WAITING, RUNNING, Relaxed, Relaxed)
            .is_err()
        {
            return;
        }
        /// Marks the timer fired and releases the joiners, even if the action panics.
        struct Over<'a>(&'a TimerShared);
        impl Drop for Over<'_> {
            fn drop(&mut self) {
                // Release: pairs with the Acquire of `fired`.
                self.0.state.store(FIRED, Release);
                self.0.finished.set();
            }
        }
        let _over = Over(self);
        action();
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.shared.state.load(Relaxed) {
            WAITING => "waiting",
            CANCELLED => "cancelled",
            RUNNING => "running",
            _ => "fired",
        };
        f.debug_struct("Timer").field("state", &state).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::mpsc;

    /// Runs `f` on its own thread and fails the test if it has not returned within 10 s.
    fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(f()).unwrap());
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("blocked for 10 s")
    }

    #[test]
    fn set_clear_and_is_set() {
        let event = Event::new();
        assert!(!event.is_set());
        event.set();
        assert!(event.is_set());
        event.set();
        assert!(event.is_set());
        event.clear();
        assert!(!event.is_set());
        event.clear();
        assert!(!event.is_set());
    }

    #[test]
    fn set_wakes_every_waiter() {
        let event = Arc::new(Event::new());
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let event = Arc::clone(&event);
                std::thread::spawn(move || event.wait_timeout(Duration::from_secs(10)))
            })
            .collect();
        event.set();
        within(move || {
            for waiter in waiters {
                assert!(waiter.join().unwrap());
            }
        });
    }

    #[test]
    fn timeout_is_not_early() {
        let event = Event::new();
        let start = Instant::now();
        assert!(!event.wait_timeout(Duration::from_millis(30)));
        assert!(start.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn timer_fires_once_and_cancel_prevents_it() {
        let runs = Arc::new(AtomicUsize::new(0));
        let timer = {
            let runs = Arc::clone(&runs);
            Timer::new(Duration::from_millis(5), move || {
                runs.fetch_add(1, SeqCst);
            })
        };
        timer.start().unwrap();
        assert_eq!(timer.start(), Err(Error::AlreadyStarted));
        let timer = within(move || {
            timer.join();
            timer
        });
        assert!(timer.fired());
        assert_eq!(runs.load(SeqCst), 1);

        let cancelled = Timer::new(Duration::from_millis(5), || panic!("cancelled timer ran"));
        cancelled.cancel();
        cancelled.start().unwrap();
        cancelled.join();
        assert!(!cancelled.fired());
    }
}
