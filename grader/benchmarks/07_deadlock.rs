//! The bench of 07_deadlock: the two ways out of a deadlock the exercise teaches, each against
//! the same job done with std's and parking_lot's `Mutex`.
//!
//! - `Bank::transfer` of 1 between two random accounts of 16 (every worker draws the same
//!   seeded pairs for every subject), against the same bank on a `Mutex` per account taken in
//!   index order: a lock order costs a comparison, so the ratio is the price of the learner's
//!   locks and checks, and the threads rows show how rarely unrelated transfers meet.
//! - `lock_all` on two `blocks::sync::Lock`s, half the threads naming them in the other order,
//!   against two `Mutex`es always taken in the same order. Neither deadlocks: one never waits
//!   while holding, the other waits in one global order. Uncontended, the ratio is the price of
//!   trying instead of waiting; contended, a collision sends the loser to a random sleep while
//!   the winner goes on, so what is measured (throughput) shows what the back-off costs the
//!   pair of locks, not what it costs the thread that lost (its latency).

use bench_harness::{parking_lot, Bench, Group, Per, Subject};

const THREADS: &[usize] = &[1, 2, 8];
const ACCOUNTS: usize = 16;
/// Far more than a sample moves out of one account: no transfer is refused.
const BALANCE: u64 = 1 << 40;

/// The accounts of a transfer: worker `worker`'s `i`th draw (xorshift, seeded by the worker),
/// two distinct accounts.
struct Pairs(u64);

impl Pairs {
    fn new(worker: usize) -> Pairs {
        Pairs(0x9e37_79b9_7f4a_7c15 ^ (worker as u64 + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9))
    }

    fn next(&mut self) -> (usize, usize) {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        let from = (x % ACCOUNTS as u64) as usize;
        let to = (from + 1 + ((x >> 32) % (ACCOUNTS as u64 - 1)) as usize) % ACCOUNTS;
        (from, to)
    }
}

/// The reference bank's transfer on std's `Mutex`: lower index first.
fn std_transfer(accounts: &[std::sync::Mutex<u64>], from: usize, to: usize) {
    let (low, high) = (from.min(to), from.max(to));
    let mut low = accounts[low].lock().unwrap();
    let mut high = accounts[high].lock().unwrap();
    let (source, destination) = if from < to {
        (&mut *low, &mut *high)
    } else {
        (&mut *high, &mut *low)
    };
    if *source >= 1 {
        *source -= 1;
        *destination += 1;
    }
}

/// The same on parking_lot's `Mutex`.
fn parking_lot_transfer(accounts: &[parking_lot::Mutex<u64>], from: usize, to: usize) {
    let (low, high) = (from.min(to), from.max(to));
    let mut low = accounts[low].lock();
    let mut high = accounts[high].lock();
    let (source, destination) = if from < to {
        (&mut *low, &mut *high)
    } else {
        (&mut *high, &mut *low)
    };
    if *source >= 1 {
        *source -= 1;
        *destination += 1;
    }
}

fn main() {
    bench_harness::main(&[
        Group {
            name: "transfer 1 between two random accounts of 16",
            threads: THREADS,
            per: Per::Thread,
            benches: vec![
                Bench {
                    subject: Subject::Ours("Bank"),
                    setup: |_| {
                        let bank = deadlock::Bank::new(&[BALANCE; ACCOUNTS]);
                        Box::new(move |worker, iterations| {
                            let mut pairs = Pairs::new(worker);
                            for _ in 0..iterations {
                                let (from, to) = pairs.next();
                                let _ = bank.transfer(from, to, 1);
                            }
                        })
                    },
                },
                Bench {
                    subject: Subject::Std("Mutex per account, index order"),
                    setup: |_| {
                        let accounts: Vec<_> = (0..ACCOUNTS)
                            .map(|_| std::sync::Mutex::new(BALANCE))
                            .collect();
                        Box::new(move |worker, iterations| {
                            let mut pairs = Pairs::new(worker);
                            for _ in 0..iterations {
                                let (from, to) = pairs.next();
                                std_transfer(&accounts, from, to);
                            }
                        })
                    },
                },
                Bench {
                    subject: Subject::ParkingLot("Mutex per account, index order"),
                    setup: |_| {
                        let accounts: Vec<_> = (0..ACCOUNTS)
                            .map(|_| parking_lot::Mutex::new(BALANCE))
                            .collect();
                        Box::new(move |worker, iterations| {
                            let mut pairs = Pairs::new(worker);
                            for _ in 0..iterations {
                                let (from, to) = pairs.next();
                                parking_lot_transfer(&accounts, from, to);
                            }
                        })
                    },
                },
            ],
        },
        Group {
            name: "take two locks (half the threads in the other order), release both",
            threads: THREADS,
            per: Per::Thread,
            benches: vec![
                Bench {
                    subject: Subject::Ours("lock_all"),
                    setup: |_| {
                        let locks = [blocks::sync::Lock::new(), blocks::sync::Lock::new()];
                        Box::new(move |worker, iterations| {
                            let [a, b] = &locks;
                            let order = if worker % 2 == 0 { [a, b] } else { [b, a] };
                            for _ in 0..iterations {
                                deadlock::lock_all(&order);
                                let _ = a.release();
                                let _ = b.release();
                            }
                        })
                    },
                },
                Bench {
                    subject: Subject::Std("two Mutexes, one order"),
                    setup: |_| {
                        let locks = [std::sync::Mutex::new(()), std::sync::Mutex::new(())];
                        Box::new(move |_, iterations| {
                            for _ in 0..iterations {
                                let first = locks[0].lock().unwrap();
                                let second = locks[1].lock().unwrap();
                                drop((second, first));
                            }
                        })
                    },
                },
                Bench {
                    subject: Subject::ParkingLot("two Mutexes, one order"),
                    setup: |_| {
                        let locks = [parking_lot::Mutex::new(()), parking_lot::Mutex::new(())];
                        Box::new(move |_, iterations| {
                            for _ in 0..iterations {
                                let first = locks[0].lock();
                                let second = locks[1].lock();
                                drop((second, first));
                            }
                        })
                    },
                },
            ],
        },
    ])
}
