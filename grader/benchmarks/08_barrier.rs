//! The bench of 08_barrier: `Barrier` against std's `Barrier` and the same generation-counting
//! barrier on parking_lot's `Mutex` + `Condvar` (parking_lot has none): one operation is every
//! thread crossing once.

use bench_harness::{black_box, parking_lot, Bench, Group, Per, Subject};

const THREADS: &[usize] = &[1, 2, 8];

/// std's algorithm on parking_lot: (arrived, generation).
struct ParkingLotBarrier {
    state: parking_lot::Mutex<(usize, u64)>,
    crossed: parking_lot::Condvar,
    parties: usize,
}

impl ParkingLotBarrier {
    fn wait(&self) -> bool {
        let mut state = self.state.lock();
        let generation = state.1;
        state.0 += 1;
        if state.0 < self.parties {
            while generation == state.1 {
                self.crossed.wait(&mut state);
            }
            false
        } else {
            *state = (0, generation.wrapping_add(1));
            self.crossed.notify_all();
            true
        }
    }
}

fn main() {
    bench_harness::main(&[Group {
        name: "wait (every thread crosses once)",
        threads: THREADS,
        per: Per::Round,
        benches: vec![
            Bench {
                subject: Subject::Ours("Barrier"),
                setup: |threads| {
                    let barrier = barrier::Barrier::new(threads);
                    Box::new(move |_, iterations| {
                        for _ in 0..iterations {
                            let _ = black_box(barrier.wait());
                        }
                    })
                },
            },
            Bench {
                subject: Subject::Std("Barrier"),
                setup: |threads| {
                    let barrier = std::sync::Barrier::new(threads);
                    Box::new(move |_, iterations| {
                        for _ in 0..iterations {
                            black_box(barrier.wait());
                        }
                    })
                },
            },
            Bench {
                subject: Subject::ParkingLot("Mutex+Condvar barrier"),
                setup: |threads| {
                    let barrier = ParkingLotBarrier {
                        state: parking_lot::Mutex::new((0, 0)),
                        crossed: parking_lot::Condvar::new(),
                        parties: threads,
                    };
                    Box::new(move |_, iterations| {
                        for _ in 0..iterations {
                            black_box(barrier.wait());
                        }
                    })
                },
            },
        ],
    }])
}
