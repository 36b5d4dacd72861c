//! # Barrier: phased computation
//!
//! A barrier is a meeting point for a fixed number of threads (its *parties*): each thread that
//! calls `wait` sleeps until all of them have arrived, then all go on together. Python's
//! `threading.Barrier`:
//!
//! ```python
//! import threading
//! barrier = threading.Barrier(3, action=lambda: print("everyone is here"))
//!
//! def worker():
//!     for phase in range(10):
//!         compute(phase)
//!         index = barrier.wait()       # 0, 1 or 2; the last to arrive gets 2
//! ```
//!
//! Barriers split a computation into *phases* (or *generations*): nobody starts phase `n + 1`
//! before everybody finished phase `n`. A barrier is reusable: the same object serves every
//! generation, and that is where the bugs hide. The count of arrivals is reset for the next
//! generation at once, and a fast thread may arrive for the next generation before a slow one
//! has even woken up from the previous one: a waiter must wait for *its generation to end*, not
//! for the count to look a certain way.
//!
//! Python's barrier can also be *broken*: a `wait` that times out, `abort()`, `reset()` while
//! threads wait, or an action that raises. Every thread waiting at a broken barrier gets a
//! `BrokenBarrierError` (here: `Err(BrokenBarrierError)`), and so does every later `wait` until
//! `reset()` makes the barrier usable again. Breaking is all or nothing: no thread may be left
//! sleeping at a barrier that is broken.
//!
//! What is different in Rust: the action is a closure (`Fn() + Send + Sync`, since whichever
//! thread arrives last runs it), `wait` returns a `Result`, and a panicking action breaks the
//! barrier for the others and then goes on panicking in the thread that ran it.
//!
//! Bugs to avoid: a barrier that works once (count never reset) or whose waiters watch the count
//! (lost wake-ups when fast threads re-enter); the action run by every thread, or after some were
//! released; a timeout that returns an error to one thread but leaves the others waiting; a reset
//! that never wakes its waiters; duplicate arrival indices; busy-waiting.
//!
//! [`smooth`] puts the barrier to work: a stencil computation split across threads, each round
//! reading the previous round's values, which needs two buffers and a barrier between rounds.
//!
//! The grader runs many generations with random party counts and checks that no thread ever
//! sees another generation's phase, the indices, the action (once, before the release), breaking
//! by timeout, `abort`, `reset` and panicking actions (nobody may hang), `n_waiting`, that blocked
//! threads sleep, and `smooth` bit for bit.
//!
//! The exercise's compile-fail cases (an action that captures a `Cell` or borrows a local, a
//! barrier used after `with_timeout`; in
//! `exercises/08_barrier/tests/compile-fail/`) pass against this answer:
//! `cargo test -p barrier-solution --test compile_fail`.

use std::error::Error;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};

use blocks::sync::atomic::{AtomicU64, Ordering::Relaxed};
use blocks::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use blocks::thread;
use blocks::time::{Duration, Instant};

/// Returned by [`Barrier::wait`] when the barrier is broken (or breaks while waiting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokenBarrierError;

impl fmt::Display for BrokenBarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the barrier is broken")
    }
}

impl Error for BrokenBarrierError {}

/// Where a barrier is in its cycle: CPython's `_state` (0, 1, -1, -2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Threads are arriving; the generation is not complete.
    Filling,
    /// Everyone arrived: the threads of this generation are leaving with `Ok`.
    Draining,
    /// `reset` was called while threads waited: they are leaving with `Err`.
    Resetting,
    /// Broken until `reset`: every waiter and every arrival gets `Err`.
    Broken,
}

/// What the barrier's mutex protects.
struct State {
    phase: Phase,
    /// Threads inside `wait` (arrived and not yet left) of the current generation.
    count: usize,
    /// How many generations have been released: a waiter whose generation was released leaves
    /// with `Ok`, even if the barrier is aborted before it gets to run.
    released: u64,
}

// # Implementation details
//
// CPython's design, on a `Mutex<State>` and one `Condvar`. A generation fills (arrival `i` gets
// index `i`, the count grows), then drains (the last arrival runs the action and switches to
// `Draining`; every waiter sees `phase != Filling` and leaves, decrementing the count). Threads
// that arrive while the previous generation drains wait at the door until the count is back to
// 0 and the phase back to `Filling`, so two generations never mix: a waiter can only ever see
// the phases of its own generation, and a slow waiter cannot miss its release when fast threads
// re-enter at once.
//
// Breaking (a timeout, `abort`, a panicking action) sets `Broken` and wakes everyone; `reset`
// turns `Broken` or `Filling` with waiters into `Resetting`, which behaves like `Draining` but
// hands out `Err`, and the last one out makes the barrier `Filling` again. A waiter tells its
// release by the count of released generations, not by the phase: if the barrier is aborted
// right after a release, before a released waiter got to run, that waiter still passed (CPython
// would hand it an error for a generation that completed).
//
// The action runs with the mutex held, as in CPython (whose Condition holds its lock), so that
// nothing can enter, leave, reset or abort the barrier while it runs; it must therefore not call
// methods of its own barrier. Its panic is caught (so the mutex is never poisoned), turned into
// a broken barrier, and re-raised once the barrier's state is consistent again.
//
// Timed waits take their deadline once (`None`: no timeout, or one too large to represent) and
// recompute what is left after every wake-up, which the condition variable may do spuriously.

/// Python's `threading.Barrier`: `parties` threads wait for each other, then all go on; reusable
/// for any number of generations.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use barrier::Barrier;
///
/// let barrier = Arc::new(Barrier::new(3));
/// let workers: Vec<_> = (0..3)
///     .map(|_| {
///         let barrier = Arc::clone(&barrier);
///         std::thread::spawn(move || barrier.wait().unwrap())
///     })
///     .collect();
/// let mut indices: Vec<usize> = workers.into_iter().map(|w| w.join().unwrap()).collect();
/// indices.sort();
/// assert_eq!(indices, [0, 1, 2]);
/// ```
pub struct Barrier {
    parties: usize,
    action: Option<Box<dyn Fn() + Send + Sync>>,
    /// The timeout of [`Barrier::wait`]; `None` waits forever.
    default_timeout: Option<Duration>,
    state: Mutex<State>,
    /// Notified whenever `state.phase` changes.
    changed: Condvar,
}

impl Barrier {
    /// A barrier for `parties` threads, with no action and no default timeout.
    ///
    /// # Panics
    /// If `parties` is 0 (Python raises `ValueError`).
    pub fn new(parties: usize) -> Barrier {
        assert!(parties > 0, "a barrier needs at least one party");
        Barrier {
            parties,
            action: None,
            default_timeout: None,
            state: Mutex::new(State {
                phase: Phase::Filling,
                count: 0,
                released: 0,
            }),
            changed: Condvar::new(),
        }
    }

    /// A barrier whose `action` runs once per generation, in the last thread to arrive, before
    /// any thread of that generation is released.
    ///
    /// The action must not call methods of its own barrier (it runs inside the barrier's lock).
    /// If it panics, the barrier breaks: the other waiters get `Err`, and the panic continues in
    /// the thread that ran it.
    ///
    /// # Panics
    /// If `parties` is 0.
    ///
    /// # Examples
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    /// use std::sync::Arc;
    /// use barrier::Barrier;
    ///
    /// let runs = Arc::new(AtomicUsize::new(0));
    /// let barrier = {
    ///     let runs = Arc::clone(&runs);
    ///     Barrier::with_action(1, move || {
    ///         runs.fetch_add(1, SeqCst);
    ///     })
    /// };
    /// barrier.wait().unwrap();
    /// barrier.wait().unwrap();
    /// assert_eq!(runs.load(SeqCst), 2);
    /// ```
    pub fn with_action<F: Fn() + Send + Sync + 'static>(parties: usize, action: F) -> Barrier {
        Barrier {
            action: Some(Box::new(action)),
            ..Barrier::new(parties)
        }
    }

    /// The same barrier, with `timeout` as the timeout of [`Barrier::wait`].
    pub fn with_timeout(self, timeout: Duration) -> Barrier {
        Barrier {
            default_timeout: Some(timeout),
            ..self
        }
    }

    /// Waits until all parties have called `wait`; returns this thread's arrival index, from 0
    /// to `parties - 1` (the last to arrive gets `parties - 1`). Uses the default timeout set by
    /// [`Barrier::with_timeout`], if any.
    ///
    /// # Errors
    /// [`BrokenBarrierError`] if the barrier is broken, or breaks (timeout, `abort`, `reset`, a
    /// panicking action) while this thread waits.
    ///
    /// # Panics
    /// If the action panics in this thread (the barrier is broken first).
    pub fn wait(&self) -> Result<usize, BrokenBarrierError> {
        self.wait_until(self.deadline(self.default_timeout))
    }

    /// Like [`Barrier::wait`], with this `timeout` instead of the default one. If it expires
    /// before the generation is complete, the barrier breaks for everyone (a zero timeout from a
    /// thread that is not the last breaks it at once).
    ///
    /// # Errors
    /// [`BrokenBarrierError`] on timeout, or as [`Barrier::wait`].
    ///
    /// # Panics
    /// If the action panics in this thread.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize, BrokenBarrierError> {
        self.wait_until(self.deadline(Some(timeout)))
    }

    /// Breaks the barrier if threads wait in it (they get `Err`), then makes it usable again.
    pub fn reset(&self) {
        let mut state = self.lock();
        if state.count > 0 {
            match state.phase {
                // Waiters leave with Err; the last one out switches back to Filling.
                Phase::Filling | Phase::Broken => state.phase = Phase::Resetting,
                // Those leaving a completed generation keep their Ok.
                Phase::Draining | Phase::Resetting => {}
            }
        } else {
            state.phase = Phase::Filling;
        }
        self.changed.notify_all();
    }

    /// Breaks the barrier: every waiter gets `Err`, and so does every `wait` until
    /// [`Barrier::reset`].
    pub fn abort(&self) {
        let mut state = self.lock();
        self.break_barrier(&mut state);
    }

    /// The number of threads needed to pass the barrier.
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// The number of threads waiting for the current generation to complete (0 while a
    /// completed generation drains, or while the barrier is broken or resetting).
    pub fn n_waiting(&self) -> usize {
        let state = self.lock();
        if state.phase == Phase::Filling {
            state.count
        } else {
            0
        }
    }

    /// Whether the barrier is broken.
    pub fn broken(&self) -> bool {
        self.lock().phase == Phase::Broken
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Never poisoned: nothing that can panic runs with the mutex held (the action's panic is
        // caught), but recovering is correct anyway since every update is a single assignment.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `None` means no deadline: no timeout, or one beyond what `Instant` can represent.
    fn deadline(&self, timeout: Option<Duration>) -> Option<Instant> {
        timeout.and_then(|timeout| Instant::now().checked_add(timeout))
    }

    fn break_barrier(&self, state: &mut State) {
        state.phase = Phase::Broken;
        self.changed.notify_all();
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<usize, BrokenBarrierError> {
        let mut state = self.lock();
        // The door: a completed or reset generation must drain before this one may fill.
        while matches!(state.phase, Phase::Draining | Phase::Resetting) {
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if state.phase == Phase::Broken {
            return Err(BrokenBarrierError);
        }
        let index = state.count;
        state.count += 1;
        let mut action_panic = None;
        let outcome = if index + 1 == self.parties {
            // Last to arrive: run the action, then release the generation.
            let ran = match &self.action {
                Some(action) => panic::catch_unwind(AssertUnwindSafe(action)),
                None => Ok(()),
            };
            match ran {
                Ok(()) => {
                    state.phase = Phase::Draining;
                    state.released += 1;
                    self.changed.notify_all();
                    Ok(index)
                }
                Err(payload) => {
                    self.break_barrier(&mut state);
                    action_panic = Some(payload);
                    Err(BrokenBarrierError)
                }
            }
        } else {
            let (returned, outcome) = self.sleep_until_released(state, deadline);
            state = returned;
            outcome.map(|()| index)
        };
        // Leaving (CPython's `finally`): the last one out of a drained or reset generation opens
        // the door for the next one.
        state.count -= 1;
        if state.count == 0 && matches!(state.phase, Phase::Draining | Phase::Resetting) {
            state.phase = Phase::Filling;
            self.changed.notify_all();
        }
        drop(state);
        if let Some(payload) = action_panic {
            panic::resume_unwind(payload);
        }
        outcome
    }

    /// Sleeps until this generation is released (`Ok`) or broken or reset (`Err`); breaks the
    /// barrier itself if `deadline` passes first.
    fn sleep_until_released<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        deadline: Option<Instant>,
    ) -> (MutexGuard<'a, State>, Result<(), BrokenBarrierError>) {
        let generation = state.released;
        loop {
            if state.released != generation {
                // Released (the phase is `Draining`, or `Broken` by an abort that came after).
                return (state, Ok(()));
            }
            match state.phase {
                Phase::Filling => {}
                Phase::Resetting | Phase::Broken => return (state, Err(BrokenBarrierError)),
                Phase::Draining => unreachable!("a generation drains only once released"),
            }
            state = match deadline {
                None => self
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        self.break_barrier(&mut state);
                        return (state, Err(BrokenBarrierError));
                    }
                    self.changed
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("phase", &state.phase)
            .field("count", &state.count)
            .field("has_action", &self.action.is_some())
            .field("default_timeout", &self.default_timeout)
            .finish()
    }
}

/// Smooths `values` `steps` times, in parallel: each round, every inner value becomes
/// `(old[i - 1] + old[i] + old[i + 1]) / 3.0` of the previous round's values (the ends stay
/// fixed). The work is split across up to `threads` threads that meet at a [`Barrier`] between
/// rounds; the result equals the sequential computation bit for bit.
///
/// # Panics
/// If `threads` is 0.
///
/// # Examples
/// ```
/// let smoothed = barrier::smooth(&[0.0, 3.0, 0.0, 3.0], 1, 2);
/// assert_eq!(smoothed, [0.0, 1.0, 2.0, 3.0]);
/// ```
pub fn smooth(values: &[f64], steps: usize, threads: usize) -> Vec<f64> {
    assert!(threads > 0, "smooth needs at least one thread");
    let len = values.len();
    if len < 3 || steps == 0 {
        return values.to_vec();
    }
    let inner = len - 2;
    // More threads than inner values would only add threads with nothing to do.
    let workers = threads.min(inner);
    // Two buffers: round r reads buffers[r % 2] and writes buffers[(r + 1) % 2], so no thread
    // reads a value written in the same round. Both start as a copy of `values`, which keeps
    // the fixed ends in both. The cells are atomics only so that threads may share them safely;
    // the barrier does the ordering.
    let buffers: [Vec<AtomicU64>; 2] =
        [0, 1].map(|_| values.iter().map(|v| AtomicU64::new(v.to_bits())).collect());
    let barrier = Barrier::new(workers);
    thread::scope(|scope| {
        for worker in 0..workers {
            let (buffers, barrier) = (&buffers, &barrier);
            // Inner indices 1..len-1, split into `workers` nearly equal, contiguous chunks.
            let first = 1 + worker * inner / workers;
            let end = 1 + (worker + 1) * inner / workers;
            scope.spawn(move || {
                // Relaxed: every load and store of one round happens before the barrier's
                // mutex is released and every access of the next round after it is acquired.
                let get = |cells: &[AtomicU64], i: usize| f64::from_bits(cells[i].load(Relaxed));
                for step in 0..steps {
                    let (old, new) = (&buffers[step % 2], &buffers[(step + 1) % 2]);
                    for (i, cell) in (first..end).zip(&new[first..end]) {
                        let value = (get(old, i - 1) + get(old, i) + get(old, i + 1)) / 3.0;
                        cell.store(value.to_bits(), Relaxed);
                    }
                    // Nobody starts round step+1 (which overwrites `old`) before everybody has
                    // finished reading it in this round.
                    barrier
                        .wait()
                        .expect("smooth's barrier has no timeout and is never aborted");
                }
            });
        }
    });
    let [even, odd] = buffers;
    // Round r wrote buffers[(r + 1) % 2], so the last round wrote buffers[steps % 2].
    let result = match steps % 2 {
        0 => even,
        _ => odd,
    };
    result
        .into_iter()
        .map(|cell| f64::from_bits(cell.into_inner()))
        .collect()
}
