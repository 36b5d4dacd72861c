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
//! The exercise's compile-fail cases (a `TrackedGuard` sent to another thread, a
//! `TrackedMutex<Rc<_>>` shared; in
//! `exercises/07_deadlock/tests/compile-fail/`) pass against this answer:
//! `cargo test -p deadlock-solution --test compile_fail`.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::error::Error;
use std::fmt;
use std::ops::{Deref, DerefMut};

use blocks::sync::{Arc, Lock, Mutex, MutexGuard, PoisonError};
use blocks::thread;
use blocks::time::Duration;

/// Locks `mutex`, ignoring poisoning.
///
/// A thread that panicked while holding a guard cannot leave an account or a graph half-updated
/// here (every update is a single assignment made after all checks), so the data is still good.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

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

// # Implementation details
//
// Every account is its own `Mutex<u64>`, so transfers between unrelated accounts never wait for
// each other. The global lock order is the account index: `transfer` locks the lower index
// first, whatever the direction of the money, and `total` locks every account from 0 upwards.
// With a single order shared by all code paths, no thread can hold a higher account while
// waiting for a lower one, so no cycle of waiting threads (no deadlock) can form.
//
// All checks that can refuse a transfer happen before anything is written, so a refused
// transfer changes nothing.

/// A bank whose accounts each have their own lock, so that any mix of concurrent transfers
/// finishes and money is never created or destroyed.
///
/// # Examples
/// ```
/// use deadlock::{Bank, TransferError};
///
/// let bank = Bank::new(&[100, 50]);
/// bank.transfer(0, 1, 30).unwrap();
/// assert_eq!((bank.balance(0), bank.balance(1)), (70, 80));
/// assert_eq!(bank.transfer(1, 0, 81), Err(TransferError::InsufficientFunds));
/// assert_eq!(bank.total(), 150);
/// ```
pub struct Bank {
    /// One lock per account; the index is the lock's rank.
    accounts: Vec<Mutex<u64>>,
}

impl Bank {
    /// Opens one account per balance, numbered from 0.
    pub fn new(balances: &[u64]) -> Bank {
        Bank {
            accounts: balances.iter().map(|&b| Mutex::new(b)).collect(),
        }
    }

    /// Moves `amount` from account `from` to account `to`, atomically: no thread ever sees the
    /// money in neither or in both accounts.
    ///
    /// # Errors
    /// Checked in this order, and a refused transfer changes nothing:
    /// - [`TransferError::NoSuchAccount`] if either index is out of range;
    /// - [`TransferError::SameAccount`] if `from == to`, whatever the amount;
    /// - [`TransferError::InsufficientFunds`] if `from` holds less than `amount`.
    ///
    /// # Panics
    /// If the destination's balance would overflow a `u64`.
    pub fn transfer(&self, from: usize, to: usize, amount: u64) -> Result<(), TransferError> {
        let accounts = self.accounts.len();
        if from >= accounts || to >= accounts {
            return Err(TransferError::NoSuchAccount);
        }
        if from == to {
            return Err(TransferError::SameAccount);
        }
        // The global order: the lower index first, whichever way the money goes. Locking
        // `from` then `to` would let a transfer 0 -> 1 and a transfer 1 -> 0 each hold one
        // account while waiting for the other: the two trains at the crossing.
        let (low, high) = (from.min(to), from.max(to));
        let mut low_guard = lock(&self.accounts[low]);
        let mut high_guard = lock(&self.accounts[high]);
        let (source, destination) = if from == low {
            (&mut *low_guard, &mut *high_guard)
        } else {
            (&mut *high_guard, &mut *low_guard)
        };
        if *source < amount {
            return Err(TransferError::InsufficientFunds);
        }
        let credited = destination
            .checked_add(amount)
            .expect("an account balance overflowed u64");
        *source -= amount;
        *destination = credited;
        Ok(())
    }

    /// The balance of one account.
    ///
    /// # Panics
    /// If `account` is out of range.
    pub fn balance(&self, account: usize) -> u64 {
        *lock(&self.accounts[account])
    }

    /// The sum of every balance, as a consistent snapshot: it equals the initial total however
    /// many transfers run at the same time.
    pub fn total(&self) -> u64 {
        // Hold every account at once, taken in the global order (so this cannot deadlock with
        // a transfer), so that no transfer is half-seen. Summing `balance(i)` one lock at a
        // time could read `from` before a transfer and `to` after it, counting the money twice.
        let guards: Vec<MutexGuard<'_, u64>> = self.accounts.iter().map(lock).collect();
        guards.iter().map(|balance| **balance).sum()
    }
}

/// Seats `philosophers` philosophers around a table with one fork (one lock) between each two
/// neighbours, and lets each eat `meals` times; returns how many meals each one ate.
///
/// Philosopher `i` needs forks `i` and `(i + 1) % philosophers`, and always picks up the
/// lower-numbered one first, so the forks are taken in one global order and the table can never
/// deadlock (if everyone took their left fork first, all could hold one fork and wait forever).
/// A single philosopher eats with the one fork there is.
///
/// # Examples
/// ```
/// assert_eq!(deadlock::dine(5, 10), vec![10; 5]);
/// ```
pub fn dine(philosophers: usize, meals: usize) -> Vec<usize> {
    // Each fork counts its uses (every meal uses two), a check that both were really held.
    let forks: Vec<Mutex<usize>> = (0..philosophers).map(|_| Mutex::new(0)).collect();
    let eaten = thread::scope(|scope| {
        let seats: Vec<_> = (0..philosophers)
            .map(|seat| {
                let forks = &forks;
                scope.spawn(move || {
                    let (left, right) = (seat, (seat + 1) % philosophers);
                    let (first, second) = (left.min(right), left.max(right));
                    let mut eaten = 0;
                    for _ in 0..meals {
                        let mut first_fork = lock(&forks[first]);
                        let mut second_fork = (second != first).then(|| lock(&forks[second]));
                        // Eating, with both forks in hand.
                        *first_fork += 1;
                        if let Some(fork) = second_fork.as_mut() {
                            **fork += 1;
                        }
                        eaten += 1;
                        // Both forks go back on the table when the guards drop here.
                    }
                    eaten
                })
            })
            .collect();
        seats
            .into_iter()
            .map(|seat| seat.join().expect("a philosopher panicked"))
            .collect()
    });
    debug_assert!(forks
        .iter()
        .all(|fork| *lock(fork) == if philosophers == 1 { meals } else { 2 * meals }));
    eaten
}

/// An acquisition [`Lockdep`] refused because it would close a cycle in the lock-order graph.
///
/// `cycle` names the locks along the cycle, each once, and ends with the one it starts with
/// (a thread re-locking a lock it holds is `[name, name]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockOrderViolation {
    pub cycle: Vec<String>,
}

impl fmt::Display for LockOrderViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "lock order violation (possible deadlock): {}",
            self.cycle.join(" -> ")
        )
    }
}

impl Error for LockOrderViolation {}

// # Implementation details
//
// One `Mutex<Graph>` holds everything a `Lockdep` knows: the name of every lock it made (a lock
// is identified by its index, so two locks may share a name), the order edges `held -> acquired`
// ever observed, and, for every thread, the locks it holds right now (keyed by
// `blocks::thread::current_id`, so each `Lockdep` keeps its own held sets).
//
// `TrackedMutex::lock` consults and updates the graph in one critical section *before* blocking
// on the data's lock:
// 1. a lock the thread already holds: refused as the cycle `[x, x]`;
// 2. a path in the graph from the wanted lock back to any lock the thread holds: adding the
//    edges `held -> wanted` would close a cycle, so refused with that path;
// 3. otherwise the edges are recorded and the lock counted as held, then the thread blocks.
// Deciding before blocking makes the verdict independent of timing: the edges of a thread that
// finished long ago still refuse the inverted order, and two threads that race to take `a, b`
// and `b, a` are serialized by the graph's mutex, so the second sees the first one's edge and
// is refused instead of deadlocking. A refused acquisition touches nothing. The graph's mutex is
// never held while blocking on a data lock, so the detector cannot deadlock itself.

/// A registry of lock-order edges, like Linux's lockdep: it hands out [`TrackedMutex`]es and
/// refuses any acquisition that could ever take part in a deadlock.
///
/// # Examples
/// ```
/// use deadlock::Lockdep;
///
/// let lockdep = Lockdep::new();
/// let (a, b) = (lockdep.mutex("a", 1), lockdep.mutex("b", 2));
/// {
///     let _a = a.lock().unwrap();
///     let _b = b.lock().unwrap(); // records a -> b
/// }
/// let _b = b.lock().unwrap();
/// let violation = a.lock().unwrap_err(); // b -> a would close the cycle a -> b -> a
/// assert_eq!(violation.cycle, ["a", "b", "a"]);
/// ```
pub struct Lockdep {
    graph: Mutex<Graph>,
}

/// What one [`Lockdep`] has learnt. Locks are numbered in creation order.
#[derive(Default)]
struct Graph {
    /// The name of each lock.
    names: Vec<String>,
    /// `edges[a]` holds every lock acquired at some time while `a` was held.
    edges: Vec<BTreeSet<usize>>,
    /// The locks each thread (by `current_id`) holds now, in acquisition order.
    held: HashMap<u64, Vec<usize>>,
}

impl Graph {
    /// The shortest path `from -> ... -> t` to a lock `t` in `targets`, if any.
    fn path_to_any(&self, from: usize, targets: &[usize]) -> Option<Vec<usize>> {
        // Breadth-first, so the path is simple (each lock once) and short to read.
        let mut came_from = vec![None; self.names.len()];
        let mut seen = vec![false; self.names.len()];
        let mut queue = VecDeque::from([from]);
        seen[from] = true;
        while let Some(node) = queue.pop_front() {
            if targets.contains(&node) {
                let mut path = vec![node];
                let mut at = node;
                while let Some(previous) = came_from[at] {
                    path.push(previous);
                    at = previous;
                }
                path.reverse();
                return Some(path);
            }
            for &next in &self.edges[node] {
                if !seen[next] {
                    seen[next] = true;
                    came_from[next] = Some(node);
                    queue.push_back(next);
                }
            }
        }
        None
    }

    fn violation(&self, cycle: &[usize]) -> LockOrderViolation {
        LockOrderViolation {
            cycle: cycle.iter().map(|&id| self.names[id].clone()).collect(),
        }
    }
}

impl Lockdep {
    /// An empty registry, shared by the locks it makes.
    pub fn new() -> Arc<Lockdep> {
        Arc::new(Lockdep {
            graph: Mutex::new(Graph::default()),
        })
    }

    /// A new lock named `name` protecting `value`, tracked by this registry.
    pub fn mutex<T>(self: &Arc<Self>, name: &str, value: T) -> TrackedMutex<T> {
        let mut graph = lock(&self.graph);
        let id = graph.names.len();
        graph.names.push(name.to_owned());
        graph.edges.push(BTreeSet::new());
        TrackedMutex {
            lockdep: Arc::clone(self),
            id,
            data: Mutex::new(value),
        }
    }

    /// Decides whether the calling thread may take lock `id`; if so, records the edges from
    /// every lock it holds and counts `id` as held. Never blocks on a data lock.
    fn before_acquire(&self, id: usize) -> Result<(), LockOrderViolation> {
        let me = thread::current_id();
        let mut graph = lock(&self.graph);
        let held = graph.held.get(&me).cloned().unwrap_or_default();
        if held.contains(&id) {
            return Err(graph.violation(&[id, id]));
        }
        if let Some(mut path) = graph.path_to_any(id, &held) {
            // id -> ... -> h is already known and the thread holds h: taking id now adds
            // h -> id and closes the cycle.
            path.push(id);
            return Err(graph.violation(&path));
        }
        for &h in &held {
            graph.edges[h].insert(id);
        }
        graph.held.entry(me).or_default().push(id);
        Ok(())
    }

    /// The calling thread no longer holds lock `id` (in whatever order it releases).
    fn released(&self, id: usize) {
        let me = thread::current_id();
        let mut graph = lock(&self.graph);
        if let Some(held) = graph.held.get_mut(&me) {
            held.retain(|&h| h != id);
            if held.is_empty() {
                graph.held.remove(&me);
            }
        }
    }
}

// # Implementation details
//
// The data lives in a std-like `Mutex` (blocks::sync::Mutex), so a blocked `lock` sleeps in the
// kernel and the guard is `!Send` for free; everything lockdep-specific happens in
// `Lockdep::before_acquire` before that mutex is touched, and in the guard's `Drop`.

/// A mutex whose acquisitions are checked against its [`Lockdep`]'s lock-order graph.
///
/// `Send + Sync` exactly when `T: Send`, like std's `Mutex` (automatically: every field is).
pub struct TrackedMutex<T> {
    lockdep: Arc<Lockdep>,
    /// This lock's number in the lockdep's graph.
    id: usize,
    data: Mutex<T>,
}

impl<T> TrackedMutex<T> {
    /// Locks the mutex, blocking until it is free, unless taking it could deadlock.
    ///
    /// # Errors
    /// A [`LockOrderViolation`], returned at once without blocking, if the calling thread
    /// already holds this lock, or if the graph knows a path from this lock to a lock the
    /// thread holds (taking it now would close a cycle). Nothing is recorded or held then.
    pub fn lock(&self) -> Result<TrackedGuard<'_, T>, LockOrderViolation> {
        self.lockdep.before_acquire(self.id)?;
        Ok(TrackedGuard {
            mutex: self,
            data: lock(&self.data),
        })
    }
}

/// Access to the data of a locked [`TrackedMutex`]; unlocks it when dropped.
///
/// `!Send` (it holds a std `MutexGuard`): a lock is released by the thread that took it.
pub struct TrackedGuard<'a, T> {
    mutex: &'a TrackedMutex<T>,
    data: MutexGuard<'a, T>,
}

impl<T> Deref for TrackedGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.data
    }
}

impl<T> DerefMut for TrackedGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.data
    }
}

impl<T: fmt::Debug> fmt::Debug for TrackedGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.data, f)
    }
}

impl<T> Drop for TrackedGuard<'_, T> {
    fn drop(&mut self) {
        // The held set first: by the time the data lock is free (when `data` drops, right
        // after this), this thread no longer counts it as held.
        self.mutex.lockdep.released(self.mutex.id);
    }
}

// # Implementation details
//
// `lock_all` never waits on a lock: it only tries (`try_acquire`), so it never holds one lock
// while waiting for another, and no cycle of waiting threads can form. The price is that a
// refused attempt must be undone (every lock taken so far released) and retried, and two
// threads that retry at the same pace undo each other forever: a livelock.
//
// The back-off breaks the symmetry: after each refusal the thread sleeps a time drawn uniformly
// from a window ("full jitter"), and the window doubles after each refusal, from
// FIRST_WINDOW up to MAX_WINDOW. Two threads that collided draw different pauses, so one
// retries while the other still sleeps and gets every lock; if they collide again, the wider
// window makes a third collision less likely still. The cap keeps a thread that waited long
// for a busy lock from sleeping long after it was freed. Sleeping, not spinning or yielding,
// leaves the CPU to the thread that holds the lock.

/// The first back-off window: short, since most collisions clear at once.
const FIRST_WINDOW: Duration = Duration::from_micros(4);
/// The widest back-off window: long enough that a waiter costs almost no CPU, short enough
/// that it notices a freed lock soon.
const MAX_WINDOW: Duration = Duration::from_millis(2);

/// Takes every lock of `locks` without ever waiting for one while holding another, and
/// returns how many attempts it took (1 if the first try took them all). The caller releases
/// them all afterwards.
///
/// Each attempt tries the locks in the given order; on a refusal it releases what it took,
/// sleeps for a random time from a window that doubles after each refusal, and tries again.
/// The locks must be distinct (a lock given twice is refused by its own holder forever).
///
/// # Examples
/// ```
/// use blocks::sync::Lock;
///
/// let (a, b) = (Lock::new(), Lock::new());
/// assert_eq!(deadlock::lock_all(&[&a, &b]), 1);
/// assert!(a.locked() && b.locked());
/// a.release().unwrap();
/// b.release().unwrap();
/// ```
pub fn lock_all(locks: &[&Lock]) -> usize {
    let mut window = FIRST_WINDOW;
    let mut attempts = 1;
    loop {
        let taken = locks.iter().take_while(|lock| lock.try_acquire()).count();
        if taken == locks.len() {
            return attempts;
        }
        // Give back what this attempt took BEFORE pausing: holding it while sleeping is
        // holding it while waiting, the very thing that deadlocks.
        for lock in &locks[..taken] {
            lock.release().expect("taken by this attempt");
        }
        // A random pause (the same pause for everyone keeps colliding threads in step), from
        // a window that grows with every refusal.
        let nanos = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
        thread::sleep(Duration::from_nanos(blocks::rand::below(nanos)));
        window = (window * 2).min(MAX_WINDOW);
        attempts += 1;
    }
}
