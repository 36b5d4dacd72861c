//! Sleep on an atomic and wake its sleepers: the one primitive every blocking lock is built on.
//!
//! On Linux this is the `futex` system call; elsewhere a small table of std condition variables
//! stands in. Waits may return spuriously (a signal, the OS, or the grader's backend), so always
//! re-check your condition in a loop.
//!
//! # Examples
//! ```
//! use blocks::futex;
//! use blocks::sync::atomic::{AtomicU32, Ordering::{Acquire, Release}};
//! use blocks::sync::Arc;
//!
//! let flag = Arc::new(AtomicU32::new(0));
//! let setter = {
//!     let flag = Arc::clone(&flag);
//!     blocks::thread::spawn(move || {
//!         flag.store(1, Release);
//!         futex::wake_all(&*flag);
//!     })
//! };
//! while flag.load(Acquire) == 0 {
//!     futex::wait(&flag, 0);
//! }
//! setter.join().unwrap();
//! ```

use crate::backend::{self, lockstep};
use crate::sync::atomic::{AtomicU32, Ordering::Relaxed};
use crate::time::Duration;

/// Sleeps while `atomic` holds `expected`. Returns at once if it holds something else; may
/// return spuriously.
pub fn wait(atomic: &AtomicU32, expected: u32) {
    if backend::explore::inside() {
        return backend::explore::futex_wait(atomic.std(), expected, false);
    }
    if let Some(participant) = lockstep::participant() {
        if participant.turn() {
            participant.record(lockstep::Op::Park);
        }
    }
    backend::sync_point();
    if !backend::spurious_wake() {
        sys::wait(atomic, expected, None);
    }
}

/// Like [`wait`], returning after at most `timeout` (a huge timeout means none).
pub fn wait_timeout(atomic: &AtomicU32, expected: u32, timeout: Duration) {
    if backend::explore::inside() {
        return backend::explore::futex_wait(atomic.std(), expected, true);
    }
    if let Some(participant) = lockstep::participant() {
        if participant.turn() {
            // Relaxed: only whether to sleep is decided, as the kernel's own check does.
            if atomic.load(Relaxed) == expected {
                participant.sleep(timeout);
            }
            return;
        }
    }
    backend::sync_point();
    if !backend::spurious_wake() {
        sys::wait(atomic, expected, Some(timeout));
    }
}

/// Wakes one thread sleeping on `atomic`, if any. The pointer may dangle: nothing is read.
pub fn wake_one(atomic: *const AtomicU32) {
    if backend::explore::inside() {
        return backend::explore::futex_wake(atomic as usize, false);
    }
    backend::sync_point();
    sys::wake(atomic, false);
}

/// Wakes every thread sleeping on `atomic`. The pointer may dangle: nothing is read.
pub fn wake_all(atomic: *const AtomicU32) {
    if backend::explore::inside() {
        return backend::explore::futex_wake(atomic as usize, true);
    }
    backend::sync_point();
    sys::wake(atomic, true);
}

#[cfg(target_os = "linux")]
mod sys {
    use super::{AtomicU32, Duration};

    pub fn wait(atomic: &AtomicU32, expected: u32, timeout: Option<Duration>) {
        // Beyond ~136 years, waiting forever is indistinguishable; it also keeps tv_sec in range.
        let timespec = timeout
            .filter(|t| t.as_secs() < u64::from(u32::MAX))
            .map(|t| libc::timespec {
                tv_sec: t.as_secs() as libc::time_t,
                tv_nsec: t.subsec_nanos() as libc::c_long,
            });
        let timespec_ptr = timespec
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: the futex word is a live, aligned u32 for the duration of the call (we hold a
        // reference); a null timespec means no timeout. The result (woken, EAGAIN, ETIMEDOUT,
        // EINTR) is deliberately ignored: callers re-check their condition.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                AtomicU32::as_std(atomic),
                libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                expected,
                timespec_ptr,
            );
        }
    }

    pub fn wake(atomic: *const AtomicU32, all: bool) {
        let count = if all { i32::MAX } else { 1 };
        // SAFETY: FUTEX_WAKE only uses the address as a key; it never dereferences it, so a
        // dangling pointer is harmless.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                AtomicU32::as_std(atomic),
                libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                count,
            );
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    //! A portable stand-in: sleepers wait on one of 64 condition variables chosen by address.
    //! Waking notifies every sleeper of the bucket, which the contract allows (spurious wake-ups).

    use super::{AtomicU32, Duration};
    use std::sync::atomic::Ordering::SeqCst;
    use std::sync::{Condvar, Mutex};

    struct Bucket {
        lock: Mutex<()>,
        sleepers: Condvar,
    }

    static BUCKETS: [Bucket; 64] = [const {
        Bucket {
            lock: Mutex::new(()),
            sleepers: Condvar::new(),
        }
    }; 64];

    fn bucket(addr: *const AtomicU32) -> &'static Bucket {
        &BUCKETS[(addr as usize >> 2) % BUCKETS.len()]
    }

    pub fn wait(atomic: &AtomicU32, expected: u32, timeout: Option<Duration>) {
        let bucket = bucket(atomic);
        let guard = bucket.lock.lock().unwrap_or_else(|e| e.into_inner());
        // SeqCst, under the bucket lock that wakers also take: no wake can slip in between
        // this check and the sleep.
        // SAFETY: `atomic` is a live reference.
        if unsafe { &*AtomicU32::as_std(atomic) }.load(SeqCst) != expected {
            return;
        }
        let _ = match timeout {
            Some(t) => bucket.sleepers.wait_timeout(guard, t).map(|(g, _)| g),
            None => bucket.sleepers.wait(guard),
        };
    }

    pub fn wake(atomic: *const AtomicU32, _all: bool) {
        let bucket = bucket(atomic);
        drop(bucket.lock.lock().unwrap_or_else(|e| e.into_inner()));
        bucket.sleepers.notify_all();
    }
}
