//! The bench of 02_lock: `Lock` and `Mutex` against std's and parking_lot's `Mutex`, each
//! operation a lock, a one-word critical section, an unlock.

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
                subject: Subject::Ours("Lock"),
                setup: |_| {
                    let lock = lock::Lock::new();
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
                subject: Subject::Ours("Mutex"),
                setup: |_| {
                    let mutex = lock::Mutex::new(0u64);
                    Box::new(move |_, iterations| {
                        for _ in 0..iterations {
                            *mutex.lock() += 1;
                        }
                    })
                },
            },
            Bench {
                subject: Subject::Std("Mutex"),
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
                subject: Subject::ParkingLot("Mutex"),
                setup: |_| {
                    let mutex = parking_lot::Mutex::new(0u64);
                    Box::new(move |_, iterations| {
                        for _ in 0..iterations {
                            *mutex.lock() += 1;
                        }
                    })
                },
            },
        ],
    }])
}
