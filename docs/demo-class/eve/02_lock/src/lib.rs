
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
    /// The next number to hand out.
    next: AtomicU32,
    /// The number allowed in. The lock is free exactly when `turn == next`.
    turn: AtomicU32,
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
            turn: AtomicU32::new(0),
        }
    }

    pub fn acquire(&self) {
        let number = self.next.fetch_add(1, SeqCst);
        loop {
            let turn = self.turn.load(SeqCst);
            if turn == number {
                return;
            }
            futex::wait(&self.turn, turn);
        }
    }

    pub fn try_acquire(&self) -> bool {
        let turn = self.turn.load(SeqCst);
        self.next
            .compare_exchange(turn, turn.wrapping_add(1), SeqCst, SeqCst)
            .is_ok()
    }

    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        let until = Instant::now().checked_add(timeout);
        loop {
            let turn = self.turn.load(SeqCst);
            if self
                .next
                .compare_exchange(turn, turn.wrapping_add(1), SeqCst, SeqCst)
                .is_ok()
            {
                return true;
            }
            match until {
                None => futex::wait(&self.turn, turn),
                Some(until) => {
                    let now = Instant::now();
                    if now >= until {
                        return false;
                    }
                    futex::wait_timeout(&self.turn, turn, until - now);
                }
            }
        }
    }

    pub fn release(&self) -> Result<(), Error> {
        let mut turn = self.turn.load(SeqCst);
        loop {
            if turn == self.next.load(SeqCst) {
                return Err(Error::ReleaseUnlocked);
            }
            match self
                .turn
                .compare_exchange(turn, turn.wrapping_add(1), SeqCst, SeqCst)
            {
                Ok(_) => break,
                Err(actual) => turn = actual,
            }
        }
        futex::wake_all(&self.turn);
        Ok(())
    }

    /// Whether nobody waits for the lock.
    pub fn is_quiet(&self) -> bool {
        let (turn, next) = (self.turn.load(SeqCst), self.next.load(SeqCst));
        turn == next || next.wrapping_sub(turn) == 1
    }

    pub fn locked(&self) -> bool {
        self.turn.load(SeqCst) != self.next.load(SeqCst)
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
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
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
