//! The bench of 03_rlock: `RLock` and `ReentrantMutex` against parking_lot's `ReentrantMutex`.
//! std's `ReentrantLock` is unstable on Rust 1.95, so std's column is its `Mutex`, which does
//! not re-enter: the floor that shows what re-entrancy costs.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bench_harness::{parking_lot, Bench, Group, Per, Subject};

const THREADS: &[usize] = &[1, 2, 8];

fn main() {
    bench_harness::main(&[Group {
        name: "lock, add 1, unlock",
        threads: THREADS,
        per: Per::Thread,
        benches: vec![
            Bench {
                subject: Subject::Ours("RLock"),
                setup: |_| {
                    let lock = rlock::RLock::new();
                    // Relaxed: the lock orders the critical section.
                    let counter = AtomicU64::new(0);
                    Box::new(move |_, iterations| {
                        for _ in 0..iterations {
                            lock.acquire();
                            counter.store(counter.load(Relaxed) + 1, Relaxed);
                            let _ = lock.release();
                        }
                    })
                },
            },
            Bench {
                subject: Subject::Ours("ReentrantMutex"),
                setup: |_| {
                    let mutex = rlock::ReentrantMutex::new(AtomicU64::new(0));
                    Box::new(move |_, iterations| {
                        for _ in 0..iterations {
                            let counter = mutex.lock();
                            counter.store(counter.load(Relaxed) + 1, Relaxed);
                        }
                    })
                },
            },
            Bench {
                subject: Subject::Std("Mutex (not reentrant)"),
                setup: |_| {
                    let mutex = std::sync::Mutex::new(0u64);
                    Box::new(move |_, iterations| {
                        for _ in 0..iterations {
                            *mutex.lock().unwrap() += 1;
                        }
                    })
                },
            },
            Bench {
                subject: Subject::ParkingLot("ReentrantMutex"),
                setup: |_| {
                    let mutex = parking_lot::ReentrantMutex::new(AtomicU64::new(0));
                    Box::new(move |_, iterations| {
                        for _ in 0..iterations {
                            let counter = mutex.lock();
                            counter.store(counter.load(Relaxed) + 1, Relaxed);
                        }
                    })
                },
            },
        ],
    }])
}
