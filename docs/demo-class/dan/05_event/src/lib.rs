//! correct: an Event as a Mutex-protected (flag, generation) with a Condvar, the way CPython
//! builds it on a Condition, and a Timer whose state lives under a Mutex with its own Condvar.

use std::fmt;

use blocks::sync::{Arc, Condvar, Mutex, MutexGuard};
use blocks::thread;
use blocks::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    AlreadyStarted,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("threads can only be started once")
    }
}

impl std::error::Error for Error {}

struct EventState {
    flag: bool,
    /// How many times set() raised the flag.
    generation: u64,
}

pub struct Event {
    state: Mutex<EventState>,
    changed: Condvar,
}

impl Event {
    pub fn new() -> Event {
        Event {
            state: Mutex::new(EventState {
                flag: false,
                generation: 0,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, EventState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_set(&self) -> bool {
        self.lock().flag
    }

    pub fn set(&self) {
        let mut state = self.lock();
        if !state.flag {
            state.flag = true;
            state.generation += 1;
            self.changed.notify_all();
        }
    }

    pub fn clear(&self) {
        self.lock().flag = false;
    }

    pub fn wait(&self) {
        let mut state = self.lock();
        if state.flag {
            return;
        }
        let generation = state.generation;
        while state.generation == generation {
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let Some(deadline) = Instant::now().checked_add(timeout) else {
            self.wait();
            return true;
        };
        let mut state = self.lock();
        if state.flag {
            return true;
        }
        let generation = state.generation;
        while state.generation == generation {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

impl Default for Event {
    fn default() -> Event {
        Event::new()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Pending,
    Cancelled,
    Running,
    Fired,
}

struct TimerState {
    phase: Phase,
    action: Option<Box<dyn FnOnce() + Send>>,
    started: bool,
}

struct TimerShared {
    state: Mutex<TimerState>,
    changed: Condvar,
}

impl TimerShared {
    fn lock(&self) -> MutexGuard<'_, TimerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(&self, interval: Duration) {
        let deadline = Instant::now().checked_add(interval);
        let mut state = self.lock();
        while state.phase == Phase::Pending {
            match deadline {
                None => state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    state = self
                        .changed
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
        if state.phase != Phase::Pending {
            return;
        }
        state.phase = Phase::Running;
        let action = state.action.take();
        drop(state);
        if let Some(action) = action {
            action();
        }
        self.lock().phase = Phase::Fired;
        self.changed.notify_all();
    }
}

pub struct Timer {
    shared: Arc<TimerShared>,
    interval: Duration,
}

impl Timer {
    pub fn new<F: FnOnce() + Send + 'static>(interval: Duration, action: F) -> Timer {
        Timer {
            shared: Arc::new(TimerShared {
                state: Mutex::new(TimerState {
                    phase: Phase::Pending,
                    action: Some(Box::new(action)),
                    started: false,
                }),
                changed: Condvar::new(),
            }),
            interval,
        }
    }

    pub fn start(&self) -> Result<(), Error> {
        let mut state = self.shared.lock();
        if state.started {
            return Err(Error::AlreadyStarted);
        }
        state.started = true;
        drop(state);
        let shared = Arc::clone(&self.shared);
        let interval = self.interval;
        thread::spawn(move || shared.run(interval));
        Ok(())
    }

    pub fn cancel(&self) {
        let mut state = self.shared.lock();
        if state.phase == Phase::Pending {
            state.phase = Phase::Cancelled;
            state.action = None;
            self.shared.changed.notify_all();
        }
    }

    pub fn join(&self) {
        let mut state = self.shared.lock();
        while matches!(state.phase, Phase::Pending | Phase::Running) {
            state = self
                .shared
                .changed
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    pub fn fired(&self) -> bool {
        self.shared.lock().phase == Phase::Fired
    }
}
