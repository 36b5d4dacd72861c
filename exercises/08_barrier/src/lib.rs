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
//! Your work: every `// TODO:` below. Run the visible tests with `cargo test -p barrier` (they
//! fail until you are done), then `cargo xtask grade 08_barrier`.
//!
//! What must not compile (an action that captures a `Cell` or borrows a local, a barrier used after
//! `with_timeout`) is in `tests/compile-fail/`, each case beside the compiler's error:
//! `cargo test -p barrier` checks your types against them.

use std::error::Error;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};

use blocks::sync::atomic::{AtomicU64, Ordering};
use blocks::sync::{Condvar, Mutex};
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

/// What the barrier's mutex protects.
struct State {
    // TODO: your fields: how many arrived in this generation, which generation (or phase) this
    // is, whether the barrier is broken...
}

/// Python's `threading.Barrier`.
pub struct Barrier {
    parties: usize,
    action: Option<Box<dyn Fn() + Send + Sync>>,
    /// The default timeout of `wait()`; `None` waits forever.
    default_timeout: Option<Duration>,
    // TODO: the shared state and a way to sleep until it changes (a Mutex<State> and a Condvar
    // are a good choice; a futex works too).
    state: Mutex<State>,
    changed: Condvar,
}

impl Barrier {
    /// A barrier for `parties` threads.
    ///
    /// # Panics
    /// If `parties` is 0.
    pub fn new(parties: usize) -> Barrier {
        // TODO
        todo!()
    }

    /// A barrier whose `action` runs once per generation, in the last thread to arrive, before
    /// any thread of the generation is released.
    pub fn with_action<F: Fn() + Send + Sync + 'static>(parties: usize, action: F) -> Barrier {
        // TODO
        todo!()
    }

    /// The same barrier, with `timeout` as the timeout of [`Barrier::wait`].
    pub fn with_timeout(self, timeout: Duration) -> Barrier {
        // TODO
        todo!()
    }

    /// Waits for all parties; returns the arrival index (0 for the first, parties - 1 for the
    /// last). Uses the default timeout, if any.
    ///
    /// # Errors
    /// `BrokenBarrierError` if the barrier is or becomes broken (timeout, abort, reset, a
    /// panicking action).
    pub fn wait(&self) -> Result<usize, BrokenBarrierError> {
        // TODO
        todo!()
    }

    /// Like [`Barrier::wait`] with this timeout; a timeout breaks the barrier for everyone.
    ///
    /// # Errors
    /// As [`Barrier::wait`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize, BrokenBarrierError> {
        // TODO: the last to arrive runs the action (catch_unwind: a panic breaks the barrier,
        // then resume_unwind), starts a new generation and wakes everyone. The others sleep
        // until THEIR generation ends (not until the count looks right), or it breaks, or the
        // deadline (taken once: Instant::now().checked_add(timeout)) passes, which breaks it.
        todo!()
    }

    /// Wakes the waiters with `Err`, then makes the barrier usable again.
    pub fn reset(&self) {
        // TODO
        todo!()
    }

    /// Breaks the barrier until [`Barrier::reset`]: every waiter and later `wait` gets `Err`.
    pub fn abort(&self) {
        // TODO
        todo!()
    }

    /// The number of threads needed to pass the barrier.
    pub fn parties(&self) -> usize {
        // TODO
        todo!()
    }

    /// The number of threads blocked in the current generation (0 when broken or released).
    pub fn n_waiting(&self) -> usize {
        // TODO
        todo!()
    }

    /// Whether the barrier is broken.
    pub fn broken(&self) -> bool {
        // TODO
        todo!()
    }
}

/// `steps` rounds of 1-D smoothing (each inner value becomes `(old[i-1] + old[i] + old[i+1]) /
/// 3.0`, the ends stay fixed), split across `threads` threads that meet at a [`Barrier`]
/// between rounds; equal to the sequential computation bit for bit.
pub fn smooth(values: &[f64], steps: usize, threads: usize) -> Vec<f64> {
    // TODO: two buffers (round r reads one and writes the other), each thread owns a chunk of
    // the inner indices, and everyone waits at a Barrier after each round. Threads may share
    // f64s as `AtomicU64` bits (f64::to_bits / f64::from_bits).
    todo!()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{mpsc, Arc};

    /// Runs `f` on a thread, failing the test if it is not done within 10 s (a lost wake-up).
    fn deadline<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(f()));
        rx.recv_timeout(Duration::from_secs(10))
            .expect("still blocked after 10 s: a lost wake-up?")
    }

    #[test]
    fn indices_are_distinct_over_many_generations() {
        let barrier = Arc::new(Barrier::new(3));
        let all = deadline(move || {
            let workers: Vec<_> = (0..3)
                .map(|_| {
                    let barrier = Arc::clone(&barrier);
                    std::thread::spawn(move || {
                        (0..100)
                            .map(|_| barrier.wait().unwrap())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap())
                .collect::<Vec<_>>()
        });
        for generation in 0..100 {
            let mut indices: Vec<usize> = all.iter().map(|w| w[generation]).collect();
            indices.sort();
            assert_eq!(indices, [0, 1, 2], "generation {generation}");
        }
    }

    #[test]
    fn a_timeout_breaks_the_barrier() {
        let barrier = Barrier::new(2);
        let started = Instant::now();
        assert_eq!(
            barrier.wait_timeout(Duration::from_millis(50)),
            Err(BrokenBarrierError)
        );
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(barrier.broken());
        barrier.reset();
        assert!(!barrier.broken());
    }

    #[test]
    fn abort_wakes_the_waiters() {
        let barrier = Arc::new(Barrier::new(3));
        let waiter = {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || barrier.wait())
        };
        while barrier.n_waiting() < 1 {
            std::thread::sleep(Duration::from_millis(1));
        }
        barrier.abort();
        assert_eq!(
            deadline(move || waiter.join().unwrap()),
            Err(BrokenBarrierError)
        );
    }

    #[test]
    fn smooth_matches_the_sequential_version() {
        let values = [0.0, 9.0, 3.0, 1.0, 8.0, 2.0, 7.0];
        let mut expected = values.to_vec();
        for _ in 0..5 {
            let old = expected.clone();
            for i in 1..old.len() - 1 {
                expected[i] = (old[i - 1] + old[i] + old[i + 1]) / 3.0;
            }
        }
        for threads in 1..=8 {
            assert_eq!(smooth(&values, 5, threads), expected, "{threads} threads");
        }
    }
}
