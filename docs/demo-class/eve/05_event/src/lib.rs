//! correct: an Event with a separate flag and a generation counter (the futex word), and a Timer
//! whose thread and cancel() race on a compare_exchange; different in shape from the reference.

use std::fmt;

use blocks::futex;
use blocks::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use blocks::sync::{Arc, Mutex};
use blocks::thread;
use blocks::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    AlreadyStarted,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timer already started")
    }
}

impl std::error::Error for Error {}

pub struct Event {
    flag: AtomicBool,
    /// Bumped by every set; waiters sleep on it.
    generation: AtomicU32,
}

impl Event {
    pub fn new() -> Event {
        Event {
            flag: AtomicBool::new(false),
            generation: AtomicU32::new(0),
        }
    }

    pub fn is_set(&self) -> bool {
        self.flag.load(SeqCst)
    }

    pub fn set(&self) {
        if !self.flag.swap(true, SeqCst) {
            self.generation.fetch_add(1, SeqCst);
            futex::wake_all(&self.generation);
        }
    }

    pub fn clear(&self) {
        self.flag.store(false, SeqCst);
    }

    pub fn wait(&self) {
        self.wait_timeout(Duration::MAX);
    }

    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let generation = self.generation.load(SeqCst);
        if self.flag.load(SeqCst) {
            return true;
        }
        let deadline = Instant::now().checked_add(timeout);
        loop {
            if self.generation.load(SeqCst) != generation {
                return true;
            }
            match deadline {
                None => futex::wait(&self.generation, generation),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    futex::wait_timeout(&self.generation, generation, deadline - now);
                }
            }
        }
    }
}

impl Default for Event {
    fn default() -> Event {
        Event::new()
    }
}

const IDLE: u32 = 0;
const CANCELLED: u32 = 1;
const FIRING: u32 = 2;
const FIRED: u32 = 3;

struct Shared {
    state: AtomicU32,
    cancelled: Event,
    done: Event,
}

pub struct Timer {
    shared: Arc<Shared>,
    interval: Duration,
    started: AtomicBool,
    action: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl Timer {
    pub fn new<F: FnOnce() + Send + 'static>(interval: Duration, action: F) -> Timer {
        Timer {
            shared: Arc::new(Shared {
                state: AtomicU32::new(IDLE),
                cancelled: Event::new(),
                done: Event::new(),
            }),
            interval,
            started: AtomicBool::new(false),
            action: Mutex::new(Some(Box::new(action))),
        }
    }

    pub fn start(&self) -> Result<(), Error> {
        if self.started.swap(true, SeqCst) {
            return Err(Error::AlreadyStarted);
        }
        let action = self.action.lock().unwrap().take().unwrap();
        let shared = Arc::clone(&self.shared);
        let interval = self.interval;
        thread::spawn(move || {
            if shared.cancelled.wait_timeout(interval) {
                return;
            }
            if shared.state.compare_exchange(IDLE, FIRING, SeqCst, SeqCst).is_ok() {
                action();
                shared.state.store(FIRED, SeqCst);
                shared.done.set();
            }
        });
        Ok(())
    }

    pub fn cancel(&self) {
        if self.shared.state.compare_exchange(IDLE, CANCELLED, SeqCst, SeqCst).is_ok() {
            self.shared.cancelled.set();
            self.shared.done.set();
        }
    }

    pub fn join(&self) {
        self.shared.done.wait();
    }

    pub fn fired(&self) -> bool {
        self.shared.state.load(SeqCst) == FIRED
    }
}
