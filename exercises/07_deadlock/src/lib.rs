//! # Deadlock and livelock: lock ordering, dining philosophers, lock-order detection, back-off
//!
//! > *When two trains approach each other at a crossing, both shall come to a full stop and
//! > neither shall start up again until the other has gone.*
//!
//! That old (and perhaps apocryphal) Kansas law is a deadlock written into statute: each train
//! holds the piece of track the other needs, and each waits for the other to give it up. Threads
//! do exactly the same with locks:
//!
//! ```python
//! import threading
//! a, b = threading.Lock(), threading.Lock()
//!
//! def one():
//!     with a:
//!         with b: ...      # holds a, waits for b
//!
//! def two():
//!     with b:
//!         with a: ...      # holds b, waits for a: if `one` is between its two `with`s, forever
//! ```
//!
//! Nothing in Python (or Rust) stops this: the program simply hangs, and only sometimes. A
//! deadlock needs four things at once (Coffman's conditions): mutual exclusion, hold-and-wait,
//! no preemption and a *cycle* of waiting threads. The practical cure is to break the cycle:
//! give every lock a rank and always take locks in increasing rank. Then no thread can hold a
//! high lock while waiting for a low one, so no cycle can form.
//!
//! This exercise has four parts:
//!
//! - [`Bank`]: one lock *per account* (so unrelated transfers run in parallel). A transfer
//!   locks two accounts; taking "from" then "to" deadlocks as soon as two threads transfer in
//!   opposite directions. Take them in index order instead. [`Bank::total`] must be a consistent
//!   snapshot: summing balances one lock at a time can count money that is in flight twice (or
//!   not at all), so lock *every* account, in the same global order.
//! - [`dine`]: Dijkstra's dining philosophers. Philosopher `i` needs forks `i` and `i + 1`
//!   (modulo the table size); if everyone picks up their left fork first, everyone may hold one
//!   fork and wait forever for the other. Number the forks and take the lower one first.
//! - [`Lockdep`]: what Linux's lockdep does: instead of waiting for a deadlock to happen, record
//!   the *order* in which locks are taken (an edge `held -> acquired` for every acquisition made
//!   while holding other tracked locks) and refuse any acquisition that would close a cycle in
//!   that graph, even if the threads involved never actually met. One run of a thread taking `a`
//!   then `b`, and another (perhaps much later) taking `b` then `a`, proves the program *can*
//!   deadlock, however lucky the timing was.
//! - [`lock_all`]: livelock, the deadlock's restless twin (below).
//!
//! ## Livelock: two people in a corridor
//!
//! Two people meet in a narrow corridor. Each steps aside to let the other pass, both to the
//! same side; each sees the other still in the way and steps back, both again to the same
//! side; and so on, politely, forever. Nobody is stuck: both move all the time. Nobody gets
//! through either.
//!
//! Threads do this when they are careful not to deadlock. [`lock_all`] takes several locks
//! without ever *waiting* for one while holding another: it tries each with
//! [`Lock::try_acquire`](blocks::sync::Lock::try_acquire), and on a refusal it gives back what
//! it took and tries again. No thread holds a lock while it waits, so no cycle of waiting
//! threads can form: no deadlock. But let two threads take `[a, b]` and `[b, a]` at the same
//! pace: each takes its first lock, is refused its second, gives its first back, and tries
//! again, in step with the other, undoing each other's progress round after round.
//!
//! How it differs from a deadlock: deadlocked threads are *blocked*, asleep, each waiting for a
//! lock that another holds, a cycle you can find in the "waits for" graph (what [`Lockdep`]
//! looks for), and the CPU is idle. Livelocked threads wait for nobody: they are *busy*, the
//! locks change hands all the time, there is no cycle to find, only no progress.
//!
//! The cure is to break the symmetry. After a refusal, back off for a **random** time before
//! trying again (`blocks::rand::below`): two threads that draw different pauses fall out of
//! step, and one gets through while the other still waits. A fixed pause, however long, keeps
//! them in step (both sleep as long, both collide again), and so does no pause at all. Let the
//! random window **grow** after each refusal, up to a cap (Ethernet's exponential back-off):
//! the more a lock is contended, the further apart the retries. And pause by *sleeping*
//! (`blocks::thread::sleep`): retrying at once, or only yielding, burns a core that the lock's
//! holder may need to finish.
//!
//! What is different in Rust: locks own their data ([`blocks::sync::Mutex`]), guards unlock on
//! drop (also when a thread panics), and guards of an owned lock stay on their thread (`!Send`).
//! The type system prevents data races, but not deadlocks: those remain your job.
//!
//! Bugs to avoid: taking two locks in an order that depends on the arguments; a snapshot that
//! does not hold every lock at once; an error checked after something was already changed; a
//! detector that only notices a cycle when the threads really block (timing-dependent), that
//! forgets edges when a thread ends, that records an edge for an acquisition it refused, or that
//! lets a thread re-lock a lock it already holds (a self-deadlock). In `lock_all`: waiting on a
//! lock (`acquire`) while holding another; retrying at once or after a fixed pause; keeping
//! what you took while you pause; a pause that never grows; yielding in a loop instead of
//! sleeping.
//!
//! The grader runs many threads transferring in opposite directions (a deadlock fails the check),
//! reads totals under load, checks error order, seats 2 to 8 philosophers, and drives a `Lockdep`
//! through inverted orders (concurrent and sequential), longer cycles, self re-locks, consistent
//! orders that must never be reported, and several independent `Lockdep`s. It runs `lock_all`
//! under a lock-step schedule, where every lock operation, sleep, yield and random draw is one
//! step and sleeping passes virtual time: there, a retry with no pause or a fixed one repeats
//! the same round forever, and waiting on a lock while holding another is seen at once. It also
//! checks that a refused attempt gives back what it took before pausing, that the pause grows,
//! that the count of attempts is right, and that a thread facing a held lock sleeps.
//!
//! What must not compile (a `TrackedGuard` sent to another thread, a `TrackedMutex<Rc<_>>` shared)
//! is in `tests/compile-fail/`, each case beside the compiler's error: `cargo test -p deadlock`
//! checks your types against them.

//!
//! Your work: every `// TODO:` below. Run the visible tests with `cargo test -p deadlock` (they
//! fail until you are done), then `cargo xtask grade 07_deadlock`.

use std::collections::{HashMap, HashSet};
use std::error::Error;
use std::fmt;
use std::ops::{Deref, DerefMut};

use blocks::sync::{Arc, Lock, Mutex};
use blocks::thread;
use blocks::time::Duration;

/// Why [`Bank::transfer`] refused a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferError {
    /// The source account holds less than the amount.
    InsufficientFunds,
    /// The source and the destination are the same account.
    SameAccount,
    /// An account index is out of range.
    NoSuchAccount,
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransferError::InsufficientFunds => "insufficient funds in the source account",
            TransferError::SameAccount => "source and destination are the same account",
            TransferError::NoSuchAccount => "no such account",
        })
    }
}

impl Error for TransferError {}

/// A bank whose accounts each have their own lock.
pub struct Bank {
    // TODO: one lock per account. A `blocks::sync::Mutex<u64>` per account is a good start.
    accounts: Vec<Mutex<u64>>,
}

impl Bank {
    /// Opens one account per balance, numbered from 0.
    pub fn new(balances: &[u64]) -> Bank {
        // TODO
        todo!()
    }

    /// Moves `amount` from `from` to `to`, holding both accounts' locks.
    ///
    /// # Errors
    /// In this order: `NoSuchAccount` (either index out of range), `SameAccount` (`from == to`,
    /// whatever the amount), `InsufficientFunds`. A refused transfer changes nothing.
    pub fn transfer(&self, from: usize, to: usize, amount: u64) -> Result<(), TransferError> {
        // TODO: check the errors in order, then lock BOTH accounts in one global order (the
        // lower index first, whatever the direction), never "from" then "to".
        todo!()
    }

    /// The balance of one account.
    pub fn balance(&self, account: usize) -> u64 {
        // TODO
        todo!()
    }

    /// The sum of every balance, as a consistent snapshot.
    pub fn total(&self) -> u64 {
        // TODO: hold every account's lock at once (taken in the global order) while summing.
        todo!()
    }
}

/// Dining philosophers: `philosophers` threads around a table, one lock per fork; each eats
/// `meals` times; returns the meals eaten per philosopher. Must never deadlock.
pub fn dine(philosophers: usize, meals: usize) -> Vec<usize> {
    // TODO: philosopher i needs forks i and (i + 1) % philosophers. Break the circle: pick up
    // the lower-numbered fork first. (`blocks::thread::scope` lets threads borrow the forks.)
    todo!()
}

/// An acquisition refused by [`Lockdep`]: the cycle it would close, first lock repeated last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockOrderViolation {
    pub cycle: Vec<String>,
}

impl fmt::Display for LockOrderViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lock order violation: {}", self.cycle.join(" -> "))
    }
}

impl Error for LockOrderViolation {}

/// A registry of lock-order edges, like Linux's lockdep.
pub struct Lockdep {
    // TODO: the graph (lock names, edges held -> acquired) and each thread's held locks
    // (`blocks::thread::current_id()` names the calling thread), behind one Mutex.
    graph: Mutex<Graph>,
}

/// What a [`Lockdep`] knows.
struct Graph {
    // TODO: your fields (e.g. names: Vec<String>, edges, held: HashMap<u64, Vec<usize>>).
}

impl Lockdep {
    /// An empty registry.
    pub fn new() -> Arc<Lockdep> {
        // TODO
        todo!()
    }

    /// A new lock named `name` protecting `value`, tracked by this registry.
    pub fn mutex<T>(self: &Arc<Self>, name: &str, value: T) -> TrackedMutex<T> {
        // TODO: register the lock in the graph.
        todo!()
    }
}

/// A mutex whose acquisitions are checked against its [`Lockdep`]'s graph.
/// Send + Sync exactly when `T: Send`.
pub struct TrackedMutex<T> {
    // TODO: which Lockdep, which lock of its graph, and the data behind a lock.
    lockdep: Arc<Lockdep>,
    data: Mutex<T>,
}

impl<T> TrackedMutex<T> {
    /// Locks the mutex unless that could deadlock.
    ///
    /// # Errors
    /// A [`LockOrderViolation`], at once and without blocking, if this thread already holds the
    /// lock (`[a, a]`) or if the graph has a path from this lock to one the thread holds.
    pub fn lock(&self) -> Result<TrackedGuard<'_, T>, LockOrderViolation> {
        // TODO: BEFORE blocking, in one critical section of the graph: refuse a lock this thread
        // already holds; search a path from this lock to any lock the thread holds (refuse with
        // it); else record the edges held -> this lock and count it as held. Then block.
        todo!()
    }
}

/// Access to a locked [`TrackedMutex`]'s data; unlocks on drop. `!Send`.
pub struct TrackedGuard<'a, T> {
    mutex: &'a TrackedMutex<T>,
    // TODO: whatever keeps the data locked, e.g. a `blocks::sync::MutexGuard<'a, T>` (std's
    // guard, `!Send`, which keeps this one on its thread too). As it stands this guard is `Send`:
    // `cargo test -p deadlock` shows it (tests/compile-fail/guard_sent_to_another_thread.rs).
}

impl<T> Deref for TrackedGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // TODO
        todo!()
    }
}

impl<T> DerefMut for TrackedGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // TODO
        todo!()
    }
}

impl<T> Drop for TrackedGuard<'_, T> {
    fn drop(&mut self) {
        // TODO: this thread no longer holds the lock (whatever the release order), then unlock.
    }
}

/// Takes every lock of `locks` (distinct locks, in the order given) without ever waiting for
/// one while holding another, and returns how many attempts it took (1 if the first try took
/// them all). The caller releases them all afterwards.
pub fn lock_all(locks: &[&Lock]) -> usize {
    // TODO: loop over attempts, counting them. In each, `try_acquire` the locks in order; if
    // one is refused, release every lock this attempt took, then back off: sleep
    // (`thread::sleep`) a random time, `blocks::rand::below(window)` nanoseconds, where the
    // window starts small and doubles after every refusal, up to a cap of a few milliseconds.
    // Then try again. Never `acquire()` here: that waits while holding.
    todo!()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Runs `f` on a thread, failing the test if it is not done within 10 s (a deadlock).
    fn deadline<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(f()));
        rx.recv_timeout(Duration::from_secs(10))
            .expect("still blocked after 10 s: a deadlock?")
    }

    #[test]
    fn transfers_and_errors() {
        let bank = Bank::new(&[100, 50]);
        assert_eq!(bank.transfer(0, 1, 30), Ok(()));
        assert_eq!((bank.balance(0), bank.balance(1)), (70, 80));
        assert_eq!(bank.transfer(0, 2, 1), Err(TransferError::NoSuchAccount));
        assert_eq!(bank.transfer(1, 1, 1_000), Err(TransferError::SameAccount));
        assert_eq!(
            bank.transfer(1, 0, 81),
            Err(TransferError::InsufficientFunds)
        );
        assert_eq!(bank.total(), 150);
    }

    #[test]
    fn opposite_transfers_do_not_deadlock() {
        let bank = Arc::new(Bank::new(&[1_000, 1_000]));
        let total = deadline(move || {
            let workers: Vec<_> = (0..4)
                .map(|t| {
                    let bank = Arc::clone(&bank);
                    std::thread::spawn(move || {
                        for _ in 0..50_000 {
                            let _ = if t % 2 == 0 {
                                bank.transfer(0, 1, 3)
                            } else {
                                bank.transfer(1, 0, 3)
                            };
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker.join().unwrap();
            }
            bank.total()
        });
        assert_eq!(total, 2_000);
    }

    #[test]
    fn philosophers_eat() {
        assert_eq!(deadline(|| dine(5, 1_000)), vec![1_000; 5]);
    }

    #[test]
    fn lockdep_refuses_the_inverted_order() {
        let lockdep = Lockdep::new();
        let a = Arc::new(lockdep.mutex("a", 0));
        let b = Arc::new(lockdep.mutex("b", 0));
        let (a2, b2) = (Arc::clone(&a), Arc::clone(&b));
        std::thread::spawn(move || {
            let _a = a2.lock().unwrap();
            let _b = b2.lock().unwrap();
        })
        .join()
        .unwrap();
        let _b = b.lock().unwrap();
        let violation = a
            .lock()
            .err()
            .expect("b then a after a then b must be refused");
        assert_eq!(violation.cycle, ["a", "b", "a"]);
    }

    #[test]
    fn lockdep_refuses_a_self_relock() {
        let lockdep = Lockdep::new();
        let a = Arc::new(lockdep.mutex("a", 0));
        let cycle = deadline(move || {
            let _first = a.lock().unwrap();
            a.lock().err().map(|v| v.cycle)
        });
        assert_eq!(cycle, Some(vec!["a".to_string(), "a".to_string()]));
    }

    #[test]
    fn lock_all_takes_free_locks_at_once() {
        let locks: Vec<Lock> = (0..3).map(|_| Lock::new()).collect();
        let refs: Vec<&Lock> = locks.iter().collect();
        assert_eq!(lock_all(&refs), 1);
        assert!(locks.iter().all(Lock::locked));
        for lock in &locks {
            lock.release().unwrap();
        }
    }

    #[test]
    fn lock_all_waits_for_a_held_lock_empty_handed() {
        let (free, held) = (Arc::new(Lock::new()), Arc::new(Lock::new()));
        held.acquire();
        let worker = {
            let (free, held) = (Arc::clone(&free), Arc::clone(&held));
            std::thread::spawn(move || lock_all(&[&free, &held]))
        };
        // While `held` is held, the worker must give `free` back between attempts: we can
        // take it now and then.
        let mut took_free = false;
        for _ in 0..1_000 {
            if free.try_acquire() {
                free.release().unwrap();
                took_free = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        held.release().unwrap();
        // (How many attempts it took depends on when the worker started: at least one.)
        let attempts = deadline(move || worker.join().unwrap());
        assert!(took_free, "lock_all kept `free` while waiting for `held`");
        assert!(attempts >= 1, "lock_all counts its attempts from 1");
        assert!(
            free.locked() && held.locked(),
            "lock_all returned holding both"
        );
    }

    #[test]
    fn lock_all_in_opposite_orders_finishes() {
        let locks = Arc::new([Lock::new(), Lock::new(), Lock::new()]);
        let rounds = deadline(move || {
            let workers: Vec<_> = (0..4)
                .map(|t| {
                    let locks = Arc::clone(&locks);
                    std::thread::spawn(move || {
                        for _ in 0..2_000 {
                            let mut order: Vec<&Lock> = locks.iter().collect();
                            if t % 2 == 1 {
                                order.reverse();
                            }
                            lock_all(&order);
                            for lock in order {
                                lock.release().unwrap();
                            }
                        }
                    })
                })
                .collect();
            workers.into_iter().filter_map(|w| w.join().ok()).count()
        });
        assert_eq!(rounds, 4);
    }
}
