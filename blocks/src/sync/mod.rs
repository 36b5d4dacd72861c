//! Synchronization: atomics, `Arc`, std's `Mutex`/`Condvar`, and a Python-style raw [`Lock`].

pub mod atomic;
mod lock;

pub use lock::{Lock, ReleaseError};
pub use std::sync::{
    Arc, Condvar, LockResult, Mutex, MutexGuard, PoisonError, TryLockError, TryLockResult,
    WaitTimeoutResult, Weak,
};
