use std::fmt;

use crate::backend::lockstep;
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
//
// Every method is also a scheduling point of the grader's lock-step schedule (see
// `backend/lockstep.rs`): a thread the grader entered into one waits for its turn first, and
// blocks in the scheduler rather than on the futex, so that the schedule sees who waits for
// what. Other threads skip that at the cost of one relaxed load.

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
    /// A new, unlocked lock.
    pub const fn new() -> Lock {
        Lock {
            state: AtomicU32::new(0),
        }
    }

    /// Blocks until the lock is ours. Re-acquiring it from the holder deadlocks.
    pub fn acquire(&self) {
        if let Some(participant) = lockstep::participant() {
            if self.acquire_scheduled(&participant, None).is_some() {
                return;
            }
        }
        if !self.take() {
            // Acquire: pairs with the Release in `release`.
            while self.state.swap(2, Acquire) != 0 {
                futex::wait(&self.state, 2);
            }
        }
    }

    /// Takes the lock if it is free, without blocking (Python's `acquire(blocking=False)`).
    pub fn try_acquire(&self) -> bool {
        if let Some(participant) = lockstep::participant() {
            if participant.turn() {
                let taken = self.take();
                participant.acquired(lockstep::lock_id(self), taken, false);
                return taken;
            }
        }
        self.take()
    }

    /// Takes the lock, waiting at most `timeout`; `false` (lock untouched) if it stayed held.
    /// A zero timeout tries once, as [`Lock::try_acquire`].
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        if timeout.is_zero() {
            return self.try_acquire();
        }
        if let Some(participant) = lockstep::participant() {
            if let Some(taken) = self.acquire_scheduled(&participant, Some(timeout)) {
                return taken;
            }
        }
        if self.take() {
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
        if let Some(participant) = lockstep::participant() {
            if participant.turn() {
                let released = self.unlock();
                participant.released(lockstep::lock_id(self), released.is_ok());
                return released;
            }
        }
        self.unlock()
    }

    /// Whether some thread holds the lock right now.
    pub fn locked(&self) -> bool {
        if let Some(participant) = lockstep::participant() {
            if participant.turn() {
                let locked = self.state.load(Relaxed) != 0;
                let lock = lockstep::lock_id(self);
                participant.record(lockstep::Op::Locked { lock, locked });
                return locked;
            }
        }
        self.state.load(Relaxed) != 0
    }

    /// One attempt: 0 -> 1.
    fn take(&self) -> bool {
        // Acquire: pairs with the Release in `unlock`, so the previous holder's writes are seen.
        self.state.compare_exchange(0, 1, Acquire, Relaxed).is_ok()
    }

    fn unlock(&self) -> Result<(), ReleaseError> {
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

    /// A blocking acquisition inside a lock-step schedule: the participant waits in the
    /// scheduler (virtual time for the timeout). `None` if the schedule was abandoned on the
    /// way: the caller then goes on as an ordinary thread.
    fn acquire_scheduled(
        &self,
        participant: &lockstep::Participant,
        timeout: Option<Duration>,
    ) -> Option<bool> {
        if !participant.turn() {
            return None;
        }
        let lock = lockstep::lock_id(self);
        let deadline = timeout.map(|t| participant.deadline(t));
        loop {
            if self.take() {
                participant.acquired(lock, true, true);
                return Some(true);
            }
            match participant.block(lock, deadline) {
                lockstep::Wake::Retry => {}
                lockstep::Wake::TimedOut => {
                    let taken = self.take();
                    participant.acquired(lock, taken, true);
                    return Some(taken);
                }
                lockstep::Wake::Abandoned => return None,
            }
        }
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
