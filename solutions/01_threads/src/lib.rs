//! # Threads: start, join, names, daemons and `run()`
//!
//! Python's `threading.Thread` wraps an operating-system thread in an object with a name, a
//! lifecycle and a way to wait for the end:
//!
//! ```python
//! import threading
//!
//! def func():
//!     for i in range(5):
//!         print("hello from thread %s" % threading.current_thread().name)
//!
//! threads = []
//! for i in range(3):
//!     thread = threading.Thread(target=func)   # named "Thread-1", "Thread-2", ...
//!     thread.start()                           # a second start() raises RuntimeError
//!     threads.append(thread)
//! for thread in threads:
//!     thread.join()                            # any number of threads may join; join(timeout)
//!
//! class MyThread(threading.Thread):            # or subclass and override run()
//!     def run(self):
//!         print("hello from %s" % threading.current_thread().name)
//! ```
//!
//! A Python program exits when its last non-daemon thread has finished: the interpreter joins
//! them all at exit ([`shutdown`] here), while daemon threads are simply cut off.
//!
//! ## The Rust version
//!
//! - A [`Thread`] is created with a closure ([`Thread::new`], [`Thread::named`]) or with a value
//!   implementing [`Runnable`] (Rust has no subclassing: the trait's `run` is the override).
//! - Python raises `RuntimeError`; here the methods return [`Error`]. An exception escaping the
//!   target is a panic here: it ends that thread only, and every `join` reports it as
//!   [`Error::Panicked`].
//! - `join_timeout` returns whether the thread finished, where Python makes you call
//!   `is_alive()` after `join(timeout)`.
//! - A `Thread` is `Send + Sync`: share it between threads with an `Arc`, and any of them may
//!   join it.
//!
//! ## What can go wrong
//!
//! - **Check-then-act in `start`**: "is it started? no, so start it" in two steps lets two racing
//!   `start` calls both win. The claim must be one step (under a lock, or an atomic swap).
//! - **Joining too early**: a joiner must wait until the target has *finished*, in a loop (a
//!   condition variable, futex or park may wake it spuriously), and the end must wake *every*
//!   joiner (`notify_all`), not just one.
//! - **Bookkeeping order**: when `join` returns, the thread no longer counts in
//!   [`active_count`], and `ident` is known as soon as `start` returns.
//! - **Timeouts**: one deadline, taken once; the time left recomputed after every wake-up; zero
//!   checks once; `Duration::MAX` means "no deadline" and must not panic.
//! - **Shutdown**: it must also wait for non-daemon threads started while it waits, and must not
//!   wait for daemon threads.
//!
//! The exercise's compile-fail cases (a target that takes an `Rc` along or borrows a local, a
//! `Runnable` holding an `Rc`; in
//! `exercises/01_threads/tests/compile-fail/`) pass against this answer:
//! `cargo test -p threads-solution --test compile_fail`.

use std::cell::RefCell;
use std::fmt;
use std::mem;
use std::panic::{self, AssertUnwindSafe};

use blocks::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use blocks::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use blocks::thread;
use blocks::time::{Duration, Instant};

/// What can go wrong when using a [`Thread`] (Python raises `RuntimeError` for all of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// `start` was called on a thread that was already started.
    AlreadyStarted,
    /// `join` was called on a thread that was never started.
    NotStarted,
    /// A thread tried to join itself, which would wait forever.
    JoinCurrent,
    /// `set_daemon` was called after `start`.
    DaemonAfterStart,
    /// The thread's target panicked (the thread is over).
    Panicked,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::AlreadyStarted => "threads can only be started once",
            Error::NotStarted => "cannot join thread before it is started",
            Error::JoinCurrent => "cannot join current thread",
            Error::DaemonAfterStart => "cannot set daemon status of active thread",
            Error::Panicked => "the thread's target panicked",
        })
    }
}

impl std::error::Error for Error {}

/// Python's "subclass `Thread` and override `run()`": a value whose `run` is the thread's body.
///
/// # Examples
/// ```
/// use threads::{Runnable, Thread};
///
/// struct Countdown(u32);
///
/// impl Runnable for Countdown {
///     fn run(&mut self) {
///         while self.0 > 0 {
///             self.0 -= 1;
///         }
///     }
/// }
///
/// let thread = Thread::from_runnable(Countdown(3));
/// thread.start().unwrap();
/// thread.join().unwrap();
/// ```
pub trait Runnable: Send + 'static {
    /// The thread's body, run once on the new thread.
    fn run(&mut self);
}

/// What a thread runs.
type Target = Box<dyn FnOnce() + Send + 'static>;

/// Where a [`Thread`] is in its life.
enum Phase {
    /// Created, not started: the target waits here for `start`.
    New(Target),
    /// `start` won the race and is launching the OS thread (alive from here on).
    Starting,
    /// The OS thread runs the target; `ident` is known.
    Running,
    /// The target returned (`panicked: false`) or panicked.
    Finished { panicked: bool },
}

/// The mutable part of a thread, under one lock.
struct State {
    phase: Phase,
    /// Frozen by `start`: `set_daemon` fails after it.
    daemon: bool,
    /// Set by the new thread before `start` returns; kept after the end.
    ident: Option<u64>,
}

/// What a [`Thread`] handle and its OS thread share.
struct Shared {
    name: String,
    state: Mutex<State>,
    /// Notified (all waiters) when `ident` becomes known and when the thread finishes.
    changed: Condvar,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding this lock (the target runs outside it), so poisoning can
        // only come from a bug in this file; the state stays consistent either way.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

// # Implementation details
//
// A `Thread` is an `Arc<Shared>`: a name, a `State` behind a `Mutex` (the phase, the daemon
// flag, the ident) and a `Condvar` for everybody waiting on a change. Every transition happens
// under the mutex, so each check-and-change is one step:
//
// - `start` moves `New` to `Starting` and takes the target out in the same critical section: of
//   two racing starts, the second finds `Starting` and gets `AlreadyStarted`. It then registers
//   the thread in the process-wide registry (for `active_count` and `shutdown`), spawns the OS
//   thread, and waits on the condvar until the new thread has published its ident, as Python's
//   `start` waits for its `_started` event.
// - The OS thread publishes its ident (`blocks::thread::current_id`, unique for the life of the
//   process), runs the target under `catch_unwind`, leaves the registry, and only then moves to
//   `Finished` and wakes every waiter with `notify_all`. That order makes "joined" imply
//   "no longer counted".
// - Joiners wait on the condvar in a loop until the phase is `Finished` (condvars may wake
//   spuriously), with one deadline for `join_timeout`.
//
// A thread-local points at the `Shared` of the `Thread` running the current OS thread: that is
// how `current_name`, `join`'s self-join test and the daemon default find "the current thread".

/// Python's `threading.Thread`: a thread of execution with a name, a daemon flag and a
/// lifecycle (new, alive, finished) that any number of threads may wait for.
///
/// # Examples
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use threads::Thread;
///
/// let ran = Arc::new(AtomicBool::new(false));
/// let flag = Arc::clone(&ran);
/// let thread = Thread::named("worker", move || flag.store(true, Ordering::SeqCst));
/// assert_eq!(thread.name(), "worker");
/// thread.start().unwrap();
/// assert!(thread.ident().is_some());
/// thread.join().unwrap();
/// assert!(!thread.is_alive());
/// assert!(ran.load(Ordering::SeqCst));
/// ```
pub struct Thread {
    shared: Arc<Shared>,
}

/// The process-wide counter behind "Thread-N": the next N.
static THREAD_NUMBER: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    /// The `Thread` running on this OS thread, if it was started by this crate.
    static CURRENT: RefCell<Option<Arc<Shared>>> = const { RefCell::new(None) };
    /// The name given to this OS thread if it was not started by this crate ("Dummy-N").
    static DUMMY_NAME: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The `Shared` of the `Thread` running the caller, if any.
fn current_shared() -> Option<Arc<Shared>> {
    CURRENT.with(|current| current.borrow().clone())
}

impl Thread {
    /// Creates a thread that will run `target`, named "Thread-N" where N counts the threads
    /// created so far in the process (from 1).
    ///
    /// Its daemon flag is that of the thread creating it (false on the main thread).
    pub fn new<F: FnOnce() + Send + 'static>(target: F) -> Thread {
        // Relaxed: only uniqueness matters, which the read-modify-write gives on its own.
        let number = THREAD_NUMBER.fetch_add(1, Relaxed);
        Thread::build(format!("Thread-{number}"), Box::new(target))
    }

    /// Creates a thread that will run `target`, with the given name (names need not be unique).
    pub fn named<F: FnOnce() + Send + 'static>(name: impl Into<String>, target: F) -> Thread {
        Thread::build(name.into(), Box::new(target))
    }

    /// Creates a thread that will call `runnable.run()`, named "Thread-N" as [`Thread::new`].
    pub fn from_runnable<R: Runnable>(runnable: R) -> Thread {
        let mut runnable = runnable;
        Thread::new(move || runnable.run())
    }

    fn build(name: String, target: Target) -> Thread {
        // Python: `daemon` defaults to `current_thread().daemon`.
        let daemon = current_shared().is_some_and(|creator| creator.state().daemon);
        Thread {
            shared: Arc::new(Shared {
                name,
                state: Mutex::new(State {
                    phase: Phase::New(target),
                    daemon,
                    ident: None,
                }),
                changed: Condvar::new(),
            }),
        }
    }

    /// The thread's name.
    pub fn name(&self) -> String {
        self.shared.name.clone()
    }

    /// Makes the thread a daemon (`true`) or not, before it starts.
    ///
    /// # Errors
    /// [`Error::DaemonAfterStart`] once [`Thread::start`] was called.
    pub fn set_daemon(&self, daemon: bool) -> Result<(), Error> {
        let mut state = self.shared.state();
        match state.phase {
            Phase::New(_) => {
                state.daemon = daemon;
                Ok(())
            }
            _ => Err(Error::DaemonAfterStart),
        }
    }

    /// Whether this is a daemon thread ([`shutdown`] does not wait for daemon threads).
    pub fn is_daemon(&self) -> bool {
        self.shared.state().daemon
    }

    /// Starts the thread: its target runs on a new OS thread. When `start` returns, the thread
    /// is alive (or already finished) and its [`ident`](Thread::ident) is known.
    ///
    /// # Errors
    /// [`Error::AlreadyStarted`] if `start` was called before, also by another thread at the
    /// same moment: exactly one call succeeds.
    ///
    /// # Panics
    /// If the operating system cannot create a thread (the thread is then marked as finished
    /// by a panic, so that its joiners do not wait forever).
    pub fn start(&self) -> Result<(), Error> {
        let (target, daemon) = {
            let mut state = self.shared.state();
            // Checking for `New` and leaving it happen in one critical section: of two racing
            // starts, exactly one takes the target.
            let target = match mem::replace(&mut state.phase, Phase::Starting) {
                Phase::New(target) => target,
                other => {
                    state.phase = other;
                    return Err(Error::AlreadyStarted);
                }
            };
            (target, state.daemon)
        };
        // Registered before the OS thread exists, so that `active_count` counts it as soon as
        // `start` returns and a concurrent `shutdown` waits for it.
        registry::enter(daemon);

        let shared = Arc::clone(&self.shared);
        let mut builder = thread::Builder::new();
        if !self.shared.name.contains('\0') {
            // The OS-level name shows up in debuggers and panic messages.
            builder = builder.name(self.shared.name.clone());
        }
        if let Err(error) = builder.spawn(move || run(shared, target, daemon)) {
            registry::leave(daemon);
            self.shared.state().phase = Phase::Finished { panicked: true };
            self.shared.changed.notify_all();
            panic!("cannot start thread {:?}: {error}", self.shared.name);
        }

        // Python's start() waits for the new thread's `_started` event; we wait for its ident.
        let mut state = self.shared.state();
        while state.ident.is_none() {
            state = self
                .shared
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        Ok(())
    }

    /// Blocks until the thread has finished. Any number of threads may join, at any time.
    ///
    /// # Errors
    /// [`Error::NotStarted`] before [`Thread::start`], [`Error::JoinCurrent`] when a thread
    /// joins itself, [`Error::Panicked`] (for every joiner) if the target panicked.
    pub fn join(&self) -> Result<(), Error> {
        self.wait_finished(None).map(|_| ())
    }

    /// Like [`Thread::join`], waiting at most `timeout`. Returns `Ok(true)` if the thread has
    /// finished, `Ok(false)` if it is still running after the timeout. A zero timeout only
    /// looks; `Duration::MAX` waits without a deadline.
    ///
    /// # Errors
    /// As [`Thread::join`].
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool, Error> {
        // One deadline, taken once; `None` when it does not fit in an `Instant`: no deadline.
        self.wait_finished(Instant::now().checked_add(timeout))
    }

    /// Waits until the thread has finished or `deadline` passes; `Ok(false)` on the latter.
    fn wait_finished(&self, deadline: Option<Instant>) -> Result<bool, Error> {
        let mut state = self.shared.state();
        if let Phase::New(_) = state.phase {
            return Err(Error::NotStarted);
        }
        if self.is_current() {
            return Err(Error::JoinCurrent);
        }
        loop {
            if let Phase::Finished { panicked } = state.phase {
                return if panicked {
                    Err(Error::Panicked)
                } else {
                    Ok(true)
                };
            }
            // Condvars wake spuriously: the loop re-checks the phase after every wake-up.
            state = match deadline {
                None => self
                    .shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Ok(false);
                    }
                    self.shared
                        .changed
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    /// Whether this is the `Thread` running the caller.
    fn is_current(&self) -> bool {
        CURRENT.with(|current| {
            current
                .borrow()
                .as_ref()
                .is_some_and(|shared| Arc::ptr_eq(shared, &self.shared))
        })
    }

    /// Whether the thread was started and has not finished yet.
    pub fn is_alive(&self) -> bool {
        matches!(self.shared.state().phase, Phase::Starting | Phase::Running)
    }

    /// The thread's identifier: `None` before [`Thread::start`], then a nonzero number never
    /// used by another thread of the process (it is [`blocks::thread::current_id`] of the new
    /// thread), kept after the thread has finished.
    pub fn ident(&self) -> Option<u64> {
        self.shared.state().ident
    }
}

impl fmt::Debug for Thread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state();
        let phase = match state.phase {
            Phase::New(_) => "initial",
            Phase::Starting | Phase::Running => "started",
            Phase::Finished { panicked: false } => "stopped",
            Phase::Finished { panicked: true } => "panicked",
        };
        f.debug_struct("Thread")
            .field("name", &self.shared.name)
            .field("phase", &phase)
            .field("daemon", &state.daemon)
            .field("ident", &state.ident)
            .finish()
    }
}

/// The body of every OS thread started by [`Thread::start`].
fn run(shared: Arc<Shared>, target: Target, daemon: bool) {
    CURRENT.with(|current| *current.borrow_mut() = Some(Arc::clone(&shared)));
    {
        let mut state = shared.state();
        state.ident = Some(thread::current_id());
        state.phase = Phase::Running;
    }
    shared.changed.notify_all();

    // A panic ends this thread only; the default panic hook has printed it (as Python prints
    // the traceback of an exception escaping `run`), and joiners learn of it from the phase.
    let outcome = panic::catch_unwind(AssertUnwindSafe(target));

    // First leave the registry, then announce the end: whoever sees the end (a joiner) also
    // sees the thread gone from `active_count`.
    registry::leave(daemon);
    shared.state().phase = Phase::Finished {
        panicked: outcome.is_err(),
    };
    shared.changed.notify_all();
    // Dropping a panic payload may itself panic; it must not take the bookkeeping with it,
    // which is why it happens last.
    drop(outcome);
}

/// The process-wide count of started, unfinished threads.
mod registry {
    use super::{Condvar, Mutex, MutexGuard, PoisonError};

    pub(super) struct Registry {
        /// Started and not finished, daemons included.
        pub(super) active: usize,
        /// Started, not finished and not daemons: what `shutdown` waits for.
        pub(super) non_daemon: usize,
    }

    static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
        active: 0,
        non_daemon: 0,
    });
    /// Notified whenever `non_daemon` goes down.
    pub(super) static LEFT: Condvar = Condvar::new();

    pub(super) fn lock() -> MutexGuard<'static, Registry> {
        REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn enter(daemon: bool) {
        let mut registry = lock();
        registry.active += 1;
        if !daemon {
            registry.non_daemon += 1;
        }
    }

    pub(super) fn leave(daemon: bool) {
        let mut registry = lock();
        registry.active -= 1;
        if !daemon {
            registry.non_daemon -= 1;
            drop(registry);
            LEFT.notify_all();
        }
    }
}

/// The name of the thread running the caller: its [`Thread::name`] if it was started by this
/// crate; "MainThread" on the process's main thread; for any other thread (one spawned with
/// `std::thread` directly, say) "Dummy-N", like Python's dummy thread objects, where N counts
/// such threads from 1 and the name stays the same for the thread's whole life.
///
/// # Examples
/// ```
/// let thread = threads::Thread::named("worker", || {
///     assert_eq!(threads::current_name(), "worker");
/// });
/// thread.start().unwrap();
/// thread.join().unwrap();
/// ```
pub fn current_name() -> String {
    if let Some(shared) = current_shared() {
        return shared.name.clone();
    }
    if thread::current().name() == Some("main") {
        // std names the process's main thread "main".
        return "MainThread".to_string();
    }
    DUMMY_NAME.with(|name| {
        name.borrow_mut()
            .get_or_insert_with(|| {
                // Relaxed: only uniqueness matters.
                static DUMMY_NUMBER: AtomicUsize = AtomicUsize::new(1);
                format!("Dummy-{}", DUMMY_NUMBER.fetch_add(1, Relaxed))
            })
            .clone()
    })
}

/// The number of [`Thread`]s started and not finished yet, plus one for the main thread
/// (Python's `threading.active_count()`). A thread that was joined no longer counts.
pub fn active_count() -> usize {
    registry::lock().active + 1
}

/// What Python does at exit: waits until every started non-daemon [`Thread`] has finished,
/// including those started while it waits. Daemon threads are not waited for.
///
/// Called from a non-daemon `Thread`, it waits for all the others (waiting for itself would
/// never end).
pub fn shutdown() {
    let myself = match current_shared() {
        Some(shared) if !shared.state().daemon => 1,
        _ => 0,
    };
    let mut registry = registry::lock();
    while registry.non_daemon > myself {
        registry = registry::LEFT
            .wait(registry)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

/// The tutorial's first example: `threads` threads each record "hello from thread <name>"
/// `times` times; all are joined; returns every line (in whatever order they were written).
///
/// # Examples
/// ```
/// let lines = threads::greetings(3, 2);
/// assert_eq!(lines.len(), 6);
/// assert!(lines.iter().all(|line| line.starts_with("hello from thread ")));
/// ```
pub fn greetings(threads: usize, times: usize) -> Vec<String> {
    let lines = Arc::new(Mutex::new(Vec::with_capacity(threads * times)));
    let workers: Vec<Thread> = (0..threads)
        .map(|_| {
            let lines = Arc::clone(&lines);
            Thread::new(move || {
                for _ in 0..times {
                    let line = format!("hello from thread {}", current_name());
                    lines
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(line);
                }
            })
        })
        .collect();
    for worker in &workers {
        worker.start().expect("a new thread starts once");
    }
    for worker in &workers {
        worker.join().expect("a greeting does not panic");
    }
    // Every worker was joined, so every line is in; take them out of the shared vector.
    let mut lines = lines.lock().unwrap_or_else(PoisonError::into_inner);
    mem::take(&mut *lines)
}
