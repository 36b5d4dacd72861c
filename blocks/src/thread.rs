//! Threads: std's, plus [`current_id`], and `park`, `sleep` and `yield_now` routed through the
//! backend.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub use std::thread::{
    current, panicking, scope, spawn, Builder, JoinHandle, Scope, ScopedJoinHandle, Thread,
    ThreadId,
};

use crate::backend::{self, lockstep};
use crate::time::Duration;

/// Puts the calling thread to sleep for at least `duration`, as [`std::thread::sleep`].
pub fn sleep(duration: Duration) {
    if backend::explore::inside() {
        // An explored scenario has no clock: a sleep lets the others run.
        return backend::explore::yield_now();
    }
    if let Some(participant) = lockstep::participant() {
        if participant.turn() {
            // The grader's lock-step schedule: virtual time passes instead.
            return participant.sleep(duration);
        }
    }
    std::thread::sleep(duration);
}

/// Offers the rest of this time slice to other threads, as [`std::thread::yield_now`].
pub fn yield_now() {
    if backend::explore::inside() {
        return backend::explore::yield_now();
    }
    if let Some(participant) = lockstep::participant() {
        if participant.turn() {
            return participant.record(lockstep::Op::Yield);
        }
    }
    std::thread::yield_now();
}

/// Blocks until this thread's token is made available by [`Thread::unpark`]. May return
/// spuriously, as std's does.
pub fn park() {
    if backend::explore::inside() {
        // A spurious return, after the others ran: unparks go to OS threads, not to tasks.
        return backend::explore::yield_now();
    }
    if let Some(participant) = lockstep::participant() {
        if participant.turn() {
            participant.record(lockstep::Op::Park);
        }
    }
    backend::sync_point();
    if !backend::spurious_wake() {
        std::thread::park();
    }
}

/// Like [`park`], returning after at most `timeout`. May return spuriously and early.
pub fn park_timeout(timeout: Duration) {
    if backend::explore::inside() {
        return backend::explore::yield_now();
    }
    if let Some(participant) = lockstep::participant() {
        if participant.turn() {
            // Nobody in a schedule unparks: the timeout passes, in virtual time.
            return participant.sleep(timeout);
        }
    }
    backend::sync_point();
    if !backend::spurious_wake() {
        std::thread::park_timeout(timeout);
    }
}

/// A nonzero number unique to the calling thread for the life of the process.
///
/// Unlike [`ThreadId`], it is a plain integer, so it fits in an atomic (an owner field).
///
/// # Examples
/// ```
/// let here = blocks::thread::current_id();
/// assert_ne!(here, 0);
/// assert_eq!(here, blocks::thread::current_id());
/// let there = blocks::thread::spawn(blocks::thread::current_id).join().unwrap();
/// assert_ne!(here, there);
/// ```
pub fn current_id() -> u64 {
    if backend::explore::inside() {
        return backend::explore::current_id();
    }
    // Relaxed: only uniqueness matters, which the read-modify-write guarantees on its own.
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static ID: u64 = NEXT.fetch_add(1, Relaxed);
    }
    ID.with(|id| *id)
}
