//! The bench of 06_condition: `Condition` against std's and parking_lot's `Mutex` + `Condvar`
//! (threads pass a token round a ring: wait for your turn, pass it on, notify all), and
//! `BoundedQueue` against std's `sync_channel` and a `VecDeque` behind parking_lot's `Mutex`
//! with two `Condvar`s (one producer per thread but one, which consumes; one thread puts and
//! gets).

use std::collections::VecDeque;

use bench_harness::{black_box, parking_lot, Bench, Group, Per, Subject};

const THREADS: &[usize] = &[1, 2, 8];
const CAPACITY: usize = 16;

/// The parking_lot baseline of the queue: Python's `queue.Queue`, on parking_lot.
struct ParkingLotQueue {
    items: parking_lot::Mutex<VecDeque<u64>>,
    not_empty: parking_lot::Condvar,
    not_full: parking_lot::Condvar,
}

impl ParkingLotQueue {
    fn put(&self, item: u64) {
        let mut items = self.items.lock();
        while items.len() == CAPACITY {
            self.not_full.wait(&mut items);
        }
        items.push_back(item);
        self.not_empty.notify_one();
    }

    fn get(&self) -> u64 {
        let mut items = self.items.lock();
        loop {
            if let Some(item) = items.pop_front() {
                self.not_full.notify_one();
                return item;
            }
            self.not_empty.wait(&mut items);
        }
    }
}

/// Worker 0 consumes what every other worker produces; alone, it puts and gets.
macro_rules! producers {
    ($queue:ident, $make:expr, $put:expr, $get:expr) => {
        |threads| {
            let $queue = $make;
            Box::new(move |worker, iterations| {
                if threads == 1 {
                    for i in 0..iterations {
                        $put(i);
                        black_box($get());
                    }
                } else if worker == 0 {
                    for _ in 0..iterations * (threads as u64 - 1) {
                        black_box($get());
                    }
                } else {
                    for i in 0..iterations {
                        $put(i);
                    }
                }
            })
        }
    };
}

fn main() {
    bench_harness::main(&[
        Group {
            name: "token ring: wait for my turn, pass it, notify all",
            threads: THREADS,
            per: Per::Thread,
            benches: vec![
                Bench {
                    subject: Subject::Ours("Condition"),
                    setup: |threads| {
                        let turn = condition::Condition::new(0usize);
                        Box::new(move |me, iterations| {
                            for _ in 0..iterations {
                                let mut guard = turn.lock();
                                guard.wait_for(|turn| *turn == me);
                                *guard = (me + 1) % threads;
                                guard.notify_all();
                            }
                        })
                    },
                },
                Bench {
                    subject: Subject::Std("Mutex+Condvar"),
                    setup: |threads| {
                        let turn = std::sync::Mutex::new(0usize);
                        let changed = std::sync::Condvar::new();
                        Box::new(move |me, iterations| {
                            for _ in 0..iterations {
                                let mut guard = turn.lock().unwrap();
                                while *guard != me {
                                    guard = changed.wait(guard).unwrap();
                                }
                                *guard = (me + 1) % threads;
                                changed.notify_all();
                            }
                        })
                    },
                },
                Bench {
                    subject: Subject::ParkingLot("Mutex+Condvar"),
                    setup: |threads| {
                        let turn = parking_lot::Mutex::new(0usize);
                        let changed = parking_lot::Condvar::new();
                        Box::new(move |me, iterations| {
                            for _ in 0..iterations {
                                let mut guard = turn.lock();
                                while *guard != me {
                                    changed.wait(&mut guard);
                                }
                                *guard = (me + 1) % threads;
                                changed.notify_all();
                            }
                        })
                    },
                },
            ],
        },
        Group {
            name: "put + get, capacity 16 (threads - 1 producers, 1 consumer)",
            threads: THREADS,
            per: Per::Producer,
            benches: vec![
                Bench {
                    subject: Subject::Ours("BoundedQueue"),
                    setup: producers!(
                        queue,
                        condition::BoundedQueue::new(CAPACITY),
                        |i| queue.put(i),
                        || queue.get()
                    ),
                },
                Bench {
                    subject: Subject::Std("sync_channel"),
                    setup: producers!(
                        channel,
                        {
                            let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(CAPACITY);
                            // Only worker 0 receives: the lock is never contended.
                            (tx, std::sync::Mutex::new(rx))
                        },
                        |i| channel.0.send(i).unwrap(),
                        || channel.1.lock().unwrap().recv().unwrap()
                    ),
                },
                Bench {
                    subject: Subject::ParkingLot("Mutex+Condvar VecDeque"),
                    setup: producers!(
                        queue,
                        ParkingLotQueue {
                            items: parking_lot::Mutex::new(VecDeque::with_capacity(CAPACITY)),
                            not_empty: parking_lot::Condvar::new(),
                            not_full: parking_lot::Condvar::new(),
                        },
                        |i| queue.put(i),
                        || queue.get()
                    ),
                },
            ],
        },
    ])
}
