//! correct: a FIFO ticket lock. `acquire` takes a ticket with fetch_add and sleeps on the
//! "now serving" word until its number comes up; `release` advances "now serving" with a
//! compare_exchange loop (so an unlocked lock is detected and two racing releases cannot both
//! win) and wakes every sleeper. Timed and non-blocking acquires never take a ticket (a ticket
//! cannot be given back): they claim the lock only when it is free, with one compare_exchange on
//! the ticket counter.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use blocks::futex;
use blocks::sync::atomic::{AtomicU32, Ordering::SeqCst};
use blocks::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    ReleaseUnlocked,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("release unlocked lock")
    }
}

impl std::error::Error for Error {}

pub struct Lock {
    /// The next ticket to hand out.
    next: AtomicU32,
    /// The ticket allowed in. The lock is free exactly when `serving == next`.
    serving: AtomicU32,
}

impl Default for Lock {
    fn default() -> Self {
        Lock::new()
    }
}

impl Lock {
    pub fn new() -> Lock {
        Lock {
            next: AtomicU32::new(0),
            serving: AtomicU32::new(0),
        }
    }

    pub fn acquire(&self) {
        let ticket = self.next.fetch_add(1, SeqCst);
        loop {
            let serving = self.serving.load(SeqCst);
            if serving == ticket {
                return;
            }
            futex::wait(&self.serving, serving);
        }
    }

    pub fn try_acquire(&self) -> bool {
        // Free means nobody holds or waits for a ticket: take the ticket being served.
        let serving = self.serving.load(SeqCst);
        self.next
            .compare_exchange(serving, serving.wrapping_add(1), SeqCst, SeqCst)
            .is_ok()
    }

    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let serving = self.serving.load(SeqCst);
            if self
                .next
                .compare_exchange(serving, serving.wrapping_add(1), SeqCst, SeqCst)
                .is_ok()
            {
                return true;
            }
            match deadline {
                None => futex::wait(&self.serving, serving),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    futex::wait_timeout(&self.serving, serving, deadline - now);
                }
            }
        }
    }

    pub fn release(&self) -> Result<(), Error> {
        let mut serving = self.serving.load(SeqCst);
        loop {
            if serving == self.next.load(SeqCst) {
                return Err(Error::ReleaseUnlocked);
            }
            match self
                .serving
                .compare_exchange(serving, serving.wrapping_add(1), SeqCst, SeqCst)
            {
                Ok(_) => break,
                Err(actual) => serving = actual,
            }
        }
        // Ticket holders and timed waiters all sleep on `serving`: wake them all, the right
        // ticket goes in and the others sleep again.
        futex::wake_all(&self.serving);
        Ok(())
    }

    pub fn locked(&self) -> bool {
        self.serving.load(SeqCst) != self.next.load(SeqCst)
    }

    pub fn guard(&self) -> LockGuard<'_> {
        self.acquire();
        LockGuard { lock: self }
    }
}

pub struct LockGuard<'a> {
    lock: &'a Lock,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.lock.release();
    }
}

pub struct Mutex<T> {
    lock: Lock,
    value: UnsafeCell<T>,
}

// SAFETY: one guard at a time reaches the value.
unsafe impl<T: Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    pub fn new(value: T) -> Mutex<T> {
        Mutex {
            lock: Lock::new(),
            value: UnsafeCell::new(value),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.lock.acquire();
        MutexGuard {
            mutex: self,
            _not_send: PhantomData,
        }
    }

    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.lock.try_acquire().then(|| MutexGuard {
            mutex: self,
            _not_send: PhantomData,
        })
    }

    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

pub struct MutexGuard<'a, T> {
    mutex: &'a Mutex<T>,
    _not_send: PhantomData<*const ()>,
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, and &mut self is unique.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        let _ = self.mutex.lock.release();
    }
}

pub fn count_locked(threads: usize, increments: usize) -> u64 {
    let counter = Mutex::new(0u64);
    blocks::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..increments {
                    let mut count = counter.lock();
                    let value = *count;
                    *count = value + 1;
                }
            });
        }
    });
    counter.into_inner()
}
