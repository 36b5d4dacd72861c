use std::fmt;

use crate::futex;
use crate::sync::atomic::{
    AtomicU32,
    Ordering::{Acquire, Relaxed, Release},
};
use crate::time::{Duration, Instant};

/// Returned by [`Lock::release`] on a lock that is not locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseError;

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("release of an unlocked lock")
    }
}

impl std::error::Error for ReleaseError {}

// # Implementation details
//
// The three-state futex lock from Drepper's "Futexes Are Tricky": 0 unlocked, 1 locked, 2 locked
// and perhaps waited on. A releaser that sees 2 wakes one sleeper; an acquirer that had to wait
// sets 2, since it cannot know whether others still sleep.

/// A correct Python-style `threading.Lock`: not reentrant, not owned (any thread may release it).
///
/// # Examples
/// ```
/// use blocks::sync::Lock;
/// let lock = Lock::new();
/// lock.acquire();
/// assert!(!lock.try_acquire());
/// lock.release().unwrap();
/// assert!(lock.release().is_err());
/// ```
#[derive(Default)]
pub struct Lock {
    /// 0: unlocked, 1: locked, 2: locked and perhaps waited on.
    state: AtomicU32,
}

impl Lock {
    pub const fn new() -> Lock {
        Lock {
            state: AtomicU32::new(0),
        }
    }

    /// Blocks until the lock is ours. Re-acquiring it from the holder deadlocks.
    pub fn acquire(&self) {
        // Acquire: pairs with the Release in `release`, so the previous holder's writes are seen.
        if self.state.compare_exchange(0, 1, Acquire, Relaxed).is_err() {
            while self.state.swap(2, Acquire) != 0 {
                futex::wait(&self.state, 2);
            }
        }
    }

    /// Takes the lock if it is free, without blocking.
    pub fn try_acquire(&self) -> bool {
        // Acquire: pairs with the Release in `release`.
        self.state.compare_exchange(0, 1, Acquire, Relaxed).is_ok()
    }

    /// Takes the lock, waiting at most `timeout`; `false` (lock untouched) if it stayed held.
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        if self.try_acquire() {
            return true;
        }
        let deadline = Instant::now().checked_add(timeout);
        loop {
            // Acquire: pairs with the Release in `release`.
            if self.state.swap(2, Acquire) == 0 {
                return true;
            }
            match deadline {
                None => futex::wait(&self.state, 2),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    futex::wait_timeout(&self.state, 2, deadline - now);
                }
            }
        }
    }

    /// Unlocks; any thread may do it.
    ///
    /// # Errors
    /// [`ReleaseError`] if the lock was not locked (nothing changes).
    pub fn release(&self) -> Result<(), ReleaseError> {
        // Release: publishes the critical section to the next acquirer.
        match self.state.swap(0, Release) {
            0 => Err(ReleaseError),
            1 => Ok(()),
            _ => {
                futex::wake_one(&self.state);
                Ok(())
            }
        }
    }

    /// Whether some thread holds the lock right now.
    pub fn locked(&self) -> bool {
        self.state.load(Relaxed) != 0
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.locked())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::Arc;
    use std::thread;

    #[test]
    fn excludes_under_contention() {
        let lock = Arc::new(Lock::new());
        let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (lock, counter) = (Arc::clone(&lock), Arc::clone(&counter));
                thread::spawn(move || {
                    for _ in 0..10_000 {
                        lock.acquire();
                        // A non-atomic read-modify-write, made safe only by the lock.
                        let v = counter.load(std::sync::atomic::Ordering::Relaxed);
                        counter.store(v + 1, std::sync::atomic::Ordering::Relaxed);
                        lock.release().unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.load(std::sync::atomic::Ordering::Relaxed), 40_000);
        assert!(!lock.locked());
    }

    #[test]
    fn released_by_another_thread() {
        let lock = Arc::new(Lock::new());
        lock.acquire();
        let other = Arc::clone(&lock);
        thread::spawn(move || other.release().unwrap())
            .join()
            .unwrap();
        assert!(lock.try_acquire());
    }

    #[test]
    fn timeout_is_neither_early_nor_ignored() {
        let lock = Lock::new();
        lock.acquire();
        let start = Instant::now();
        assert!(!lock.acquire_timeout(Duration::from_millis(50)));
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(50),
            "returned early: {waited:?}"
        );
        assert!(lock.locked());
        assert!(!lock.acquire_timeout(Duration::ZERO));
    }

    #[test]
    fn huge_timeout_means_no_deadline() {
        let lock = Lock::new();
        assert!(lock.acquire_timeout(Duration::MAX));
        assert!(lock.locked());
    }

    #[test]
    fn futex_wait_returns_when_value_differs() {
        let word = AtomicU32::new(1);
        futex::wait(&word, 0);
        futex::wait_timeout(&word, 1, Duration::from_millis(1));
        // A huge timeout is accepted (no overflow) and a differing value returns at once.
        futex::wait_timeout(&word, 0, Duration::MAX);
    }
}
