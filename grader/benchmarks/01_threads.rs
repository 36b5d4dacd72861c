//! The bench of 01_threads: a `Thread` started and joined, running a target that does nothing,
//! against `std::thread::spawn` + `join` (what `Thread` is built on, so the ratio is the price
//! of its bookkeeping: the shared state, the name, the registry, the joiners' wake-up).
//! parking_lot has no threads: its column is n/a. `std::thread::scope` is not a baseline: it is
//! spawn + join plus the scope's own count, and `Thread`'s targets are `'static` like spawn's.
//! Several threads starting and joining at once show what the registry's lock costs when shared.

use bench_harness::{black_box, Bench, Group, Per, Subject};

const THREADS: &[usize] = &[1, 2, 8];

fn main() {
    bench_harness::main(&[Group {
        name: "start + join a thread running nothing",
        threads: THREADS,
        per: Per::Thread,
        benches: vec![
            Bench {
                subject: Subject::Ours("Thread"),
                setup: |_| {
                    Box::new(|_, iterations| {
                        for _ in 0..iterations {
                            let thread = threads::Thread::new(|| {
                                black_box(());
                            });
                            thread.start().expect("a new thread starts");
                            thread.join().expect("a started thread joins");
                        }
                    })
                },
            },
            Bench {
                subject: Subject::Std("thread::spawn + join"),
                setup: |_| {
                    Box::new(|_, iterations| {
                        for _ in 0..iterations {
                            std::thread::spawn(|| {
                                black_box(());
                            })
                            .join()
                            .expect("a thread running nothing joins");
                        }
                    })
                },
            },
        ],
    }])
}
