//! The bench of 05_event: `Event` against a flag behind a `Mutex` with a `Condvar` (set:
//! notify_all), on std and on parking_lot: waiting on a set event (its fast path, by many
//! threads at once), and two threads signalling each other back and forth.

use bench_harness::{black_box, parking_lot, Bench, Group, Per, Subject};

const THREADS: &[usize] = &[1, 2, 8];

/// The baseline's flag on std.
#[derive(Default)]
struct StdFlag {
    set: std::sync::Mutex<bool>,
    changed: std::sync::Condvar,
}

impl StdFlag {
    fn set(&self) {
        *self.set.lock().unwrap() = true;
        self.changed.notify_all();
    }
    fn clear(&self) {
        *self.set.lock().unwrap() = false;
    }
    fn wait(&self) {
        let mut set = self.set.lock().unwrap();
        while !*set {
            set = self.changed.wait(set).unwrap();
        }
    }
}

/// The same on parking_lot.
#[derive(Default)]
struct ParkingLotFlag {
    set: parking_lot::Mutex<bool>,
    changed: parking_lot::Condvar,
}

impl ParkingLotFlag {
    fn set(&self) {
        *self.set.lock() = true;
        self.changed.notify_all();
    }
    fn clear(&self) {
        *self.set.lock() = false;
    }
    fn wait(&self) {
        let mut set = self.set.lock();
        while !*set {
            self.changed.wait(&mut set);
        }
    }
}

/// Worker 0 answers each ping with a pong, worker 1 pings and waits for the pong: one
/// iteration is a round trip, two wake-ups.
macro_rules! ping_pong {
    ($flag:expr) => {
        |_| {
            let (ping, pong) = ($flag, $flag);
            Box::new(move |worker, iterations| {
                for _ in 0..iterations {
                    if worker == 0 {
                        ping.wait();
                        ping.clear();
                        pong.set();
                    } else {
                        ping.set();
                        pong.wait();
                        pong.clear();
                    }
                }
            })
        }
    };
}

macro_rules! wait_set {
    ($flag:expr) => {
        |_| {
            let flag = $flag;
            flag.set();
            Box::new(move |_, iterations| {
                for _ in 0..iterations {
                    black_box(flag.wait());
                }
            })
        }
    };
}

fn main() {
    bench_harness::main(&[
        Group {
            name: "wait on a set event",
            threads: THREADS,
            per: Per::Thread,
            benches: vec![
                Bench {
                    subject: Subject::Ours("Event"),
                    setup: wait_set!(event::Event::new()),
                },
                Bench {
                    subject: Subject::Std("Mutex+Condvar flag"),
                    setup: wait_set!(StdFlag::default()),
                },
                Bench {
                    subject: Subject::ParkingLot("Mutex+Condvar flag"),
                    setup: wait_set!(ParkingLotFlag::default()),
                },
            ],
        },
        Group {
            name: "ping-pong: set, wait, clear (a round trip)",
            threads: &[2],
            per: Per::Round,
            benches: vec![
                Bench {
                    subject: Subject::Ours("Event"),
                    setup: ping_pong!(event::Event::new()),
                },
                Bench {
                    subject: Subject::Std("Mutex+Condvar flag"),
                    setup: ping_pong!(StdFlag::default()),
                },
                Bench {
                    subject: Subject::ParkingLot("Mutex+Condvar flag"),
                    setup: ping_pong!(ParkingLotFlag::default()),
                },
            ],
        },
    ])
}
