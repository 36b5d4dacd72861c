//! Threads: std's, plus [`current_id`], and `park` routed through the backend.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub use std::thread::{
    current, panicking, scope, sleep, spawn, yield_now, Builder, JoinHandle, Scope,
    ScopedJoinHandle, Thread, ThreadId,
};

use crate::backend;
use crate::time::Duration;

/// Blocks until this thread's token is made available by [`Thread::unpark`]. May return
/// spuriously, as std's does.
pub fn park() {
    backend::sync_point();
    if !backend::spurious_wake() {
        std::thread::park();
    }
}

/// Like [`park`], returning after at most `timeout`. May return spuriously and early.
pub fn park_timeout(timeout: Duration) {
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
    // Relaxed: only uniqueness matters, which the read-modify-write guarantees on its own.
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static ID: u64 = NEXT.fetch_add(1, Relaxed);
    }
    ID.with(|id| *id)
}
