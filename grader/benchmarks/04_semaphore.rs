//! The bench of 04_semaphore: `Semaphore` with 2 permits against the textbook semaphore, a
//! permit count and a waiter count behind a `Mutex`, with a `Condvar` notified only when someone
//! waits (CPython's design), on std and on parking_lot: neither has a semaphore of its own.

use bench_harness::{parking_lot, Bench, Group, Per, Subject};

const THREADS: &[usize] = &[1, 2, 8];
const PERMITS: usize = 2;

/// The baseline on std's `Mutex` and `Condvar`.
struct StdSemaphore {
    /// (permits, waiters)
    state: std::sync::Mutex<(usize, usize)>,
    freed: std::sync::Condvar,
}

impl StdSemaphore {
    fn acquire(&self) {
        let mut state = self.state.lock().unwrap();
        while state.0 == 0 {
            state.1 += 1;
            state = self.freed.wait(state).unwrap();
            state.1 -= 1;
        }
        state.0 -= 1;
    }

    fn release(&self) {
        let mut state = self.state.lock().unwrap();
        state.0 += 1;
        if state.1 > 0 {
            self.freed.notify_one();
        }
    }
}

/// The same on parking_lot's.
struct ParkingLotSemaphore {
    state: parking_lot::Mutex<(usize, usize)>,
    freed: parking_lot::Condvar,
}

impl ParkingLotSemaphore {
    fn acquire(&self) {
        let mut state = self.state.lock();
        while state.0 == 0 {
            state.1 += 1;
            self.freed.wait(&mut state);
            state.1 -= 1;
        }
        state.0 -= 1;
    }

    fn release(&self) {
        let mut state = self.state.lock();
        state.0 += 1;
        if state.1 > 0 {
            self.freed.notify_one();
        }
    }
}

fn main() {
    bench_harness::main(&[Group {
        name: "acquire + release (2 permits)",
        threads: THREADS,
        per: Per::Thread,
        benches: vec![
            Bench {
                subject: Subject::Ours("Semaphore"),
                setup: |_| {
                    let semaphore = semaphore::Semaphore::new(PERMITS);
                    Box::new(move |_, iterations| {
                        for _ in 0..iterations {
                            semaphore.acquire();
                            semaphore.release();
                        }
                    })
                },
            },
            Bench {
                subject: Subject::Std("Mutex+Condvar semaphore"),
                setup: |_| {
                    let semaphore = StdSemaphore {
                        state: std::sync::Mutex::new((PERMITS, 0)),
                        freed: std::sync::Condvar::new(),
                    };
                    Box::new(move |_, iterations| {
                        for _ in 0..iterations {
                            semaphore.acquire();
                            semaphore.release();
                        }
                    })
                },
            },
            Bench {
                subject: Subject::ParkingLot("Mutex+Condvar semaphore"),
                setup: |_| {
                    let semaphore = ParkingLotSemaphore {
                        state: parking_lot::Mutex::new((PERMITS, 0)),
                        freed: parking_lot::Condvar::new(),
                    };
                    Box::new(move |_, iterations| {
                        for _ in 0..iterations {
                            semaphore.acquire();
                            semaphore.release();
                        }
                    })
                },
            },
        ],
    }])
}
