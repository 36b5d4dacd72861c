//! # Event and Timer: signalling between threads
//!
//! Your task: replace every `todo!()` below (`// TODO:` marks where). You may use anything
//! from `blocks` (atomics, futex, threads, time, `Lock`, `Mutex`, `Condvar`); nothing
//! concurrency-related from `std` directly.
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
//! The grader checks all of the above under a schedule-perturbing backend (random yields and
//! spurious futex returns), and measures that blocked waiters burn no CPU.
//!
//! What must not compile (a timer action that takes an `Rc` along or borrows a local) is in
//! `tests/compile-fail/`, each case beside the compiler's error: `cargo test -p event` checks your
//! types against them.

use std::fmt;

use blocks::futex;
use blocks::sync::atomic::{AtomicU32, Ordering};
use blocks::sync::{Arc, Mutex};
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

/// Python's `threading.Event`: a flag that threads can wait for.
pub struct Event {
    // TODO: the state of the event. One `AtomicU32` is enough if it tells waiters both whether
    // the flag is up and whether a `set` happened since they started waiting.
}

impl Event {
    /// Creates an event whose flag is clear.
    pub fn new() -> Event {
        // TODO
        todo!()
    }

    /// Whether the flag is set right now.
    pub fn is_set(&self) -> bool {
        // TODO
        todo!()
    }

    /// Raises the flag and wakes every thread waiting for it.
    pub fn set(&self) {
        // TODO: wake ALL the waiters, and only after the change they will look for is visible.
        todo!()
    }

    /// Lowers the flag. Threads that were woken by an earlier `set` still return `true`.
    pub fn clear(&self) {
        // TODO
        todo!()
    }

    /// Blocks until the flag is set; returns at once if it is set already.
    pub fn wait(&self) {
        // TODO: sleep (futex), never spin; a wake-up may be spurious.
        todo!()
    }

    /// Blocks until the flag is set or `timeout` has passed; returns `true` if it was set.
    ///
    /// `true` means the flag was set when the call began or a `set` happened during the wait
    /// (even if a `clear` followed before this thread ran); `false` means the timeout passed,
    /// never earlier. A zero timeout only looks at the flag; `Duration::MAX` means no deadline.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        // TODO: one deadline (`Instant::now().checked_add(timeout)`, `None` = no deadline), and
        // the time left recomputed after every wake-up.
        todo!()
    }
}

impl Default for Event {
    fn default() -> Event {
        Event::new()
    }
}

/// Python's `threading.Timer`: runs an action once on its own thread after an interval, unless
/// cancelled first.
pub struct Timer {
    // TODO: what the timer's thread and this handle share (an `Arc` of an `Event` and a state),
    // and where the action waits until `start` (e.g. `Mutex<Option<Box<dyn FnOnce() + Send>>>`).
}

impl Timer {
    /// Creates a timer that, once started, runs `action` after `interval`.
    pub fn new<F: FnOnce() + Send + 'static>(interval: Duration, action: F) -> Timer {
        // TODO
        todo!()
    }

    /// Starts the timer's thread: the action runs `interval` from now unless cancelled.
    ///
    /// # Errors
    /// [`Error::AlreadyStarted`] if the timer was started before.
    pub fn start(&self) -> Result<(), Error> {
        // TODO: two racing calls of `start`: exactly one succeeds.
        todo!()
    }

    /// Stops the timer if its action has not started yet (also before `start`): it never runs.
    pub fn cancel(&self) {
        // TODO: `cancel` and the timer's thread must agree, in ONE atomic step, on who wins.
        todo!()
    }

    /// Blocks until the action has run, or until the timer is cancelled.
    pub fn join(&self) {
        // TODO
        todo!()
    }

    /// Whether the action has run.
    pub fn fired(&self) -> bool {
        // TODO
        todo!()
    }
}

// Run these with `cargo test -p event`. They fail until the exercise is solved; the grader's
// hidden checks go much further (many waiters, perturbed schedules, CPU use while blocked).
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
        // Give the waiters time to fall asleep (the test passes either way: a waiter arriving
        // after `set` finds the flag up).
        std::thread::sleep(std::time::Duration::from_millis(50));
        event.set();
        within(move || {
            for waiter in waiters {
                assert!(waiter.join().unwrap(), "a waiter was not woken by set()");
            }
        });
    }

    #[test]
    fn timeout_is_not_early() {
        let event = Event::new();
        let start = Instant::now();
        assert!(!event.wait_timeout(Duration::from_millis(30)));
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(!event.wait_timeout(Duration::ZERO));
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
        within(move || cancelled.join());
    }
}
