//! Synchronization: atomics, `Arc`, std's `Mutex`, std's `Condvar` (which wakes spuriously under
//! the grader's backend), and a Python-style raw [`Lock`].

pub mod atomic;
mod condvar;
mod lock;

pub use condvar::Condvar;
pub use lock::{Lock, ReleaseError};
pub use std::sync::{
    Arc, LockResult, Mutex, MutexGuard, PoisonError, TryLockError, TryLockResult,
    WaitTimeoutResult, Weak,
};
