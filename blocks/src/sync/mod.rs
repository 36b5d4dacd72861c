//! Synchronization: atomics, `Arc`, std's `Mutex` and `Condvar` (behind thin wrappers: `Condvar`
//! wakes spuriously under the grader's backend, and both can be scheduled by its explored
//! scenarios), and a Python-style raw [`Lock`].

pub mod atomic;
mod condvar;
mod lock;
mod mutex;

pub use condvar::{Condvar, WaitTimeoutResult};
pub use lock::{Lock, ReleaseError};
pub use mutex::{Mutex, MutexGuard};
pub use std::sync::{Arc, LockResult, PoisonError, TryLockError, TryLockResult, Weak};
