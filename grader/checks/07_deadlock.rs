//! Hidden checks of 07_deadlock: a `Bank` with one lock per account (no deadlock whatever the
//! directions, consistent totals, errors in order), the dining philosophers, `Lockdep`
//! (cycles refused before blocking whatever the timing, no false positives, per-thread held sets,
//! independent registries), and `lock_all` (no deadlock, no livelock, a growing random back-off
//! that sleeps empty-handed), mostly under the lock-step schedule of `blocks`, where every lock
//! operation, sleep, yield and random draw is one turn and sleeping passes virtual time, so a
//! livelock is a round that repeats forever, seen after a fixed number of turns, never by luck.
//!
//! Each check exercises one part, so that an implementation that deadlocks in one place (say,
//! a transfer that locks "from" then "to") loses the points of that behaviour only: the other
//! Bank checks use transfer mixes that cannot deadlock even then.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use deadlock::{dine, lock_all, Bank, LockOrderViolation, Lockdep, TrackedMutex, TransferError};
use harness::blocks::sync::Lock;
use harness::lockstep::{lock_id, Event, Lockstep, Op, RandMode, Step};
use harness::{ensure, ensure_eq, fail, join_all, spawn_together, within, Trial, Usage, XorShift};

/// How long a call that should return may take before the check calls it blocked.
const PATIENCE: Duration = Duration::from_secs(4);

/// Context switches the whole process may make while its waiters should all be asleep (300 ms):
/// sleeping threads make none and the measuring thread's own sleep makes one, while a waiter
/// that polls, even with naps of 50 ms, makes several each.
const POLLING: u64 = 20;

/// How long the concurrent bank workloads run before they are asked to stop.
const WORKLOAD: Duration = Duration::from_millis(100);

fn balances(bank: &Bank, accounts: usize) -> Vec<u64> {
    (0..accounts).map(|i| bank.balance(i)).collect()
}

// ---------------------------------------------------------------------------------------------
// Bank

/// What a transfer should do, by the rules of the curriculum, on the model `balances`.
fn expected_transfer(
    balances: &[u64],
    from: usize,
    to: usize,
    amount: u64,
) -> Result<(), TransferError> {
    if from >= balances.len() || to >= balances.len() {
        Err(TransferError::NoSuchAccount)
    } else if from == to {
        Err(TransferError::SameAccount)
    } else if balances[from] < amount {
        Err(TransferError::InsufficientFunds)
    } else {
        Ok(())
    }
}

/// Sequential transfers (all valid) against a model: balances and totals follow exactly.
fn transfers_move_money(t: &mut Trial) {
    let accounts = t.rng().usize(2..=8);
    let mut model: Vec<u64> = (0..accounts).map(|_| t.rng().u64(0..=1_000)).collect();
    let operations: Vec<(usize, usize, u64)> = (0..300)
        .map(|_| {
            let from = t.rng().usize(0..accounts);
            let to = (from + t.rng().usize(1..accounts)) % accounts;
            (from, to, t.rng().u64(0..=400))
        })
        .collect();
    within(PATIENCE, "sequential transfers", move || {
        let bank = Bank::new(&model);
        let initial: u64 = model.iter().sum();
        ensure_eq!(
            bank.total(),
            initial,
            "total() of a new Bank::new({model:?})"
        );
        ensure_eq!(
            balances(&bank, accounts),
            model,
            "the balances of a new bank"
        );
        for (from, to, amount) in operations {
            // Move at most what is there, so that every transfer is valid.
            let amount = amount.min(model[from]);
            let result = bank.transfer(from, to, amount);
            ensure_eq!(
                result,
                Ok(()),
                "transfer({from}, {to}, {amount}) with balances {model:?}"
            );
            model[from] -= amount;
            model[to] += amount;
            ensure_eq!(
                balances(&bank, accounts),
                model,
                "balances after transfer({from}, {to}, {amount})"
            );
            ensure_eq!(bank.total(), initial, "total() after some transfers");
        }
    });
}

/// Errors come in the curriculum's order (NoSuchAccount, SameAccount, InsufficientFunds), and a
/// refused transfer changes nothing.
fn errors_in_order(t: &mut Trial) {
    let accounts = t.rng().usize(2..=6);
    let mut model: Vec<u64> = (0..accounts).map(|_| t.rng().u64(1..=100)).collect();
    let mut operations: Vec<(usize, usize, u64)> = vec![
        (accounts, accounts, 0),                // out of range AND same account
        (accounts + 3, accounts + 3, u64::MAX), // out of range, same, unaffordable
        (accounts, 0, 0),
        (0, accounts, u64::MAX),
        (usize::MAX, 0, 1),
        (0, 0, 0),        // same account, even for nothing
        (1, 1, u64::MAX), // same account beats insufficient funds
        (0, 1, u64::MAX),
        (1, 0, model[1] + 1),
    ];
    for _ in 0..300 {
        let from = t.rng().usize(0..accounts + 2);
        let to = if t.rng().u8(0..4) == 0 {
            from
        } else {
            t.rng().usize(0..accounts + 2)
        };
        operations.push((from, to, t.rng().u64(0..=150)));
    }
    within(PATIENCE, "transfers that may be refused", move || {
        let bank = Bank::new(&model);
        for (from, to, amount) in operations {
            let expected = expected_transfer(&model, from, to, amount);
            let result = bank.transfer(from, to, amount);
            ensure_eq!(
                result,
                expected,
                "transfer({from}, {to}, {amount}) with {accounts} accounts and balances {model:?} \
                 (errors are checked in the order NoSuchAccount, SameAccount, InsufficientFunds)"
            );
            if expected.is_ok() {
                model[from] -= amount;
                model[to] += amount;
            }
            ensure_eq!(
                balances(&bank, accounts),
                model,
                "balances after transfer({from}, {to}, {amount}) returned {result:?} (a refused \
                 transfer must change nothing)"
            );
        }
    });
}

/// Many threads transfer between a few accounts in opposite directions for a while: every
/// thread finishes when asked to stop, and no money is created or lost.
///
/// The workload is bounded by time, not by count, so that a slow (perturbed) implementation is
/// exercised as long as a fast one.
fn opposite_transfers_finish(t: &mut Trial) {
    let accounts = t.rng().usize(2..=3);
    let threads = 2 * t.rng().usize(2..=4);
    let initial: Vec<u64> = (0..accounts).map(|_| t.rng().u64(50..=500)).collect();
    let seed = t.seed();
    let bank = Arc::new(Bank::new(&initial));
    let total: u64 = initial.iter().sum();
    let stop = Arc::new(AtomicBool::new(false));
    let made = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let workers = {
        let (bank, stop, made, done) = (
            Arc::clone(&bank),
            Arc::clone(&stop),
            Arc::clone(&made),
            Arc::clone(&done),
        );
        spawn_together(threads, move |i| {
            let mut rng = XorShift::stream(seed, i);
            while !stop.load(SeqCst) {
                for _ in 0..16 {
                    // Even threads move money "up" the pair they pick, odd ones "down": two
                    // threads hold one account each and want the other's, unless the order is
                    // global.
                    let low = rng.below(accounts - 1);
                    let high = low + 1 + rng.below(accounts - 1 - low);
                    let (from, to) = if i % 2 == 0 { (low, high) } else { (high, low) };
                    let _ = bank.transfer(from, to, rng.below(40) as u64);
                }
                made.fetch_add(16, SeqCst);
            }
            done.fetch_add(1, SeqCst);
        })
    };
    thread::sleep(WORKLOAD);
    stop.store(true, SeqCst);
    let finished = harness::wait_until(PATIENCE, || done.load(SeqCst) == threads);
    ensure!(
        finished,
        "{threads} threads transferring between {accounts} accounts in opposite directions were \
         asked to stop, but {} of them were still blocked {PATIENCE:?} later ({} transfers \
         made): a deadlock. Two transfers a -> b and b -> a that each lock their source first \
         wait for each other forever; lock the two accounts in one global order (lower index \
         first)",
        threads - done.load(SeqCst),
        made.load(SeqCst)
    );
    join_all(workers);
    let end = within(PATIENCE, "total() after the transfers", move || {
        (bank.total(), balances(&bank, accounts))
    });
    ensure_eq!(
        end.1.iter().sum::<u64>(),
        total,
        "the sum of the balances after concurrent transfers (started with {initial:?}, ended \
         with {:?}): money was created or lost, so some transfer was not atomic",
        end.1
    );
    ensure_eq!(end.0, total, "total() after concurrent transfers");
}

/// Writers transfer while readers take `total()`: every snapshot equals the initial total.
/// Transfers only go from a lower to a higher account index, so that even a bank that locks
/// "from" then "to" cannot deadlock here.
fn total_is_consistent(t: &mut Trial) {
    // Many accounts: a total() that reads them one by one spends long enough between the two
    // accounts of a transfer to be caught, even on a busy machine.
    let accounts = t.rng().usize(16..=64);
    let writers = t.rng().usize(2..=3);
    let readers = t.rng().usize(1..=2);
    let initial: Vec<u64> = (0..accounts)
        .map(|_| t.rng().u64(10_000_000..=20_000_000))
        .collect();
    let total: u64 = initial.iter().sum();
    let seed = t.seed();
    let bank = Arc::new(Bank::new(&initial));
    let stop = Arc::new(AtomicBool::new(false));
    let transfers = Arc::new(AtomicUsize::new(0));
    let snapshots = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let workers = {
        let (bank, stop, transfers, snapshots, done) = (
            Arc::clone(&bank),
            Arc::clone(&stop),
            Arc::clone(&transfers),
            Arc::clone(&snapshots),
            Arc::clone(&done),
        );
        spawn_together(writers + readers, move |i| {
            let mut result = Ok(());
            if i < writers {
                let mut rng = XorShift::stream(seed, i);
                while !stop.load(SeqCst) {
                    for _ in 0..16 {
                        let from = rng.below(accounts - 1);
                        let to = from + 1 + rng.below(accounts - 1 - from);
                        let _ = bank.transfer(from, to, 1 + rng.below(1_000) as u64);
                    }
                    transfers.fetch_add(16, SeqCst);
                }
            } else {
                // At least one snapshot, however slow.
                while !stop.load(SeqCst) || snapshots.load(SeqCst) == 0 {
                    let seen = bank.total();
                    let snapshot = snapshots.fetch_add(1, SeqCst);
                    if seen != total {
                        result = Err((snapshot, seen));
                        break;
                    }
                }
            }
            done.fetch_add(1, SeqCst);
            result
        })
    };
    thread::sleep(WORKLOAD);
    stop.store(true, SeqCst);
    let finished = harness::wait_until(PATIENCE, || done.load(SeqCst) == writers + readers);
    ensure!(
        finished,
        "{readers} readers taking totals while {writers} threads transfer (always from a lower \
         to a higher account) were asked to stop, but {} were still blocked {PATIENCE:?} later \
         ({} transfers and {} totals made): total() or transfer() blocked for good (do both \
         take the accounts in the same order?)",
        writers + readers - done.load(SeqCst),
        transfers.load(SeqCst),
        snapshots.load(SeqCst)
    );
    for outcome in join_all(workers) {
        if let Err((snapshot, seen)) = outcome {
            fail!(
                "total() returned {seen} during concurrent transfers (snapshot {snapshot}), but \
                 the bank always holds {total}: it saw money in flight. Lock every account (in \
                 the global order) before summing"
            );
        }
    }
    ensure_eq!(
        balances(&bank, accounts).iter().sum::<u64>(),
        total,
        "the sum of the balances after the transfers"
    );
}

// ---------------------------------------------------------------------------------------------
// Dining philosophers

/// Every table size from 2 to 8: every philosopher eats every meal, and the table never
/// deadlocks. A table where everyone takes the left fork first deadlocks only when every
/// philosopher is caught between its two forks at once, likeliest with few philosophers and
/// many meals: small tables get long dinners, sized from a first timed dinner so that a slow
/// implementation is given as much time, not as many meals, as a fast one.
fn dine_never_deadlocks(t: &mut Trial) {
    // Time ever longer dinners for two until one takes 20 ms: the cost of a meal.
    let mut meals = 1_000;
    let per_meal = loop {
        let started = Instant::now();
        let eaten = within(PATIENCE, &format!("dine(2, {meals})"), move || {
            dine(2, meals)
        });
        let elapsed = started.elapsed();
        ensure_eq!(
            eaten,
            vec![meals; 2],
            "dine(2, {meals}): the meals eaten per philosopher"
        );
        if elapsed >= Duration::from_millis(20) || meals >= 64_000 {
            break (elapsed / (2 * meals as u32)).max(Duration::from_nanos(1));
        }
        meals *= 4;
    };
    let meals_for = |philosophers: usize, budget: Duration, cap: usize| -> usize {
        let affordable = budget.as_nanos() / (per_meal.as_nanos() * philosophers as u128);
        (affordable as usize).clamp(200, cap)
    };
    let mut tables: Vec<(usize, usize)> = (2..=8)
        .map(|n| (n, meals_for(n, Duration::from_millis(20), 40_000)))
        .collect();
    for _ in 0..4 {
        tables.push((2, meals_for(2, Duration::from_millis(80), 300_000)));
    }
    for _ in 0..3 {
        tables.push((3, meals_for(3, Duration::from_millis(80), 300_000)));
    }
    for (philosophers, meals) in tables {
        let meals = meals - t.rng().usize(0..=meals / 10);
        let eaten = within(
            PATIENCE,
            &format!("dine({philosophers}, {meals})"),
            move || dine(philosophers, meals),
        );
        ensure_eq!(
            eaten,
            vec![meals; philosophers],
            "dine({philosophers}, {meals}): the meals eaten per philosopher"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Lockdep

/// Fresh lock names for one trial, distinct and not in alphabetical order of creation.
fn lock_names(t: &mut Trial, n: usize) -> Vec<String> {
    let mut names = BTreeSet::new();
    while names.len() < n {
        names.insert(format!("lock_{}", t.rng().u32(100..1_000)));
    }
    let mut names: Vec<String> = names.into_iter().collect();
    t.rng().shuffle(&mut names);
    names
}

/// Checks that `violation.cycle` is a cycle of the lock-order graph made of `edges` (the
/// recorded orders plus the refused one): it starts and ends with the same lock, visits every
/// other lock once, and each step follows an edge (all forwards, or all backwards).
fn ensure_cycle(violation: &LockOrderViolation, edges: &[(String, String)], context: &str) {
    let cycle = &violation.cycle;
    ensure!(
        cycle.len() >= 2 && cycle.first() == cycle.last(),
        "{context}: the reported cycle {cycle:?} does not start and end with the same lock"
    );
    let inner = &cycle[..cycle.len() - 1];
    let distinct: HashSet<&String> = inner.iter().collect();
    ensure!(
        distinct.len() == inner.len(),
        "{context}: the reported cycle {cycle:?} visits a lock more than once"
    );
    let edges: HashSet<(&str, &str)> = edges
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let forwards = cycle
        .windows(2)
        .all(|w| edges.contains(&(w[0].as_str(), w[1].as_str())));
    let backwards = cycle
        .windows(2)
        .all(|w| edges.contains(&(w[1].as_str(), w[0].as_str())));
    let mut known: Vec<String> = edges.iter().map(|(a, b)| format!("{a} -> {b}")).collect();
    known.sort();
    ensure!(
        forwards || backwards,
        "{context}: the reported cycle {cycle:?} is not a cycle of the lock orders taken \
         ({known:?}, the last one being refused)"
    );
}

fn edge(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

/// In a thread of its own (joined before returning): takes `first` then `second`, then releases
/// both. Returns an error message if either acquisition was refused.
fn take_in_order(
    first: &Arc<TrackedMutex<u64>>,
    second: &Arc<TrackedMutex<u64>>,
) -> Option<String> {
    let (first, second) = (Arc::clone(first), Arc::clone(second));
    within(PATIENCE, "taking two free locks in a thread", move || {
        let _a = match first.lock() {
            Ok(guard) => guard,
            Err(v) => return Some(format!("a free lock taken alone was refused with {v:?}")),
        };
        let result = second.lock().err();
        result.map(|v| format!("the second lock was refused with {v:?}"))
    })
}

/// Thread A takes x then y and finishes; later thread B takes y then x: refused at B's second
/// lock, although x is free (a timing-dependent detector lets it through). Then two threads
/// race the inverted orders at the same moment: exactly one is refused, nobody deadlocks.
fn lockdep_inverted_order(t: &mut Trial) {
    for _ in 0..3 {
        let names = lock_names(t, 2);
        let (x_name, y_name) = (names[0].clone(), names[1].clone());
        let lockdep = Lockdep::new();
        let x = Arc::new(lockdep.mutex(&x_name, 0u64));
        let y = Arc::new(lockdep.mutex(&y_name, 0u64));
        if let Some(problem) = take_in_order(&x, &y) {
            fail!("a thread took {x_name} then {y_name} (no other lock held anywhere): {problem}");
        }
        let outcome = {
            let (x, y) = (Arc::clone(&x), Arc::clone(&y));
            within(
                PATIENCE,
                "taking the locks in the inverted order",
                move || {
                    let _y = y.lock().map_err(|v| format!("{v:?}"))?;
                    Ok::<_, String>(x.lock().map(drop).err())
                },
            )
        };
        let violation = match outcome {
            Err(v) => fail!("{y_name} alone (nothing held) was refused with {v}"),
            Ok(None) => fail!(
                "thread A took {x_name} then {y_name} and finished; thread B then took {y_name} \
                 and then {x_name}: accepted, but those two orders can deadlock. The edge \
                 {x_name} -> {y_name} must be remembered after A ends, and B refused before it \
                 would block, whatever the timing"
            ),
            Ok(Some(violation)) => violation,
        };
        ensure_cycle(
            &violation,
            &[edge(&x_name, &y_name), edge(&y_name, &x_name)],
            &format!("after {x_name} -> {y_name}, taking {x_name} while holding {y_name}"),
        );
    }

    // The race: both hold their first lock, then both ask for the other one.
    let rounds = 20;
    for round in 0..rounds {
        let lockdep = Lockdep::new();
        let x = Arc::new(lockdep.mutex("x", 0u64));
        let y = Arc::new(lockdep.mutex("y", 0u64));
        let refusals = within(PATIENCE, "two threads taking x, y and y, x", move || {
            let both_hold_one = Arc::new(Barrier::new(2));
            let racers: Vec<_> = [(Arc::clone(&x), Arc::clone(&y)), (y, x)]
                .into_iter()
                .map(|(first, second)| {
                    let both_hold_one = Arc::clone(&both_hold_one);
                    harness::spawn(move || {
                        let guard = first.lock();
                        both_hold_one.wait();
                        let guard = guard.map_err(|v| format!("{v:?}"))?;
                        let refused = second.lock().map(drop).is_err();
                        drop(guard);
                        Ok::<bool, String>(refused)
                    })
                })
                .collect();
            join_all(racers)
        });
        let mut refused = 0;
        for outcome in refusals {
            match outcome {
                Ok(r) => refused += r as usize,
                Err(v) => fail!("a first lock, taken with nothing held, was refused with {v}"),
            }
        }
        ensure!(
            refused == 1,
            "round {round}: thread A holds x and takes y while thread B holds y and takes x: \
             {refused} of them were refused, expected exactly one (the one whose check comes \
             second sees the other's edge; check and record the edge before blocking, in one \
             step)"
        );
    }
}

/// A chain of orders recorded by separate threads (x0 -> x1, x1 -> x2, ...), plus harmless
/// extra orders; then x_last -> x0 is refused with a cycle through the chain.
fn lockdep_longer_cycles(t: &mut Trial) {
    for _ in 0..3 {
        let length = t.rng().usize(3..=6);
        let extras = t.rng().usize(0..=3);
        let names = lock_names(t, length + extras);
        let lockdep = Lockdep::new();
        let locks: Vec<Arc<TrackedMutex<u64>>> = names
            .iter()
            .map(|n| Arc::new(lockdep.mutex(n, 0)))
            .collect();
        let mut edges = Vec::new();
        let record = |a: usize, b: usize, edges: &mut Vec<(String, String)>| {
            if let Some(problem) = take_in_order(&locks[a], &locks[b]) {
                fail!(
                    "after the orders {edges:?}, a thread took {} then {}, which closes no \
                     cycle: {problem}",
                    names[a],
                    names[b]
                );
            }
            edges.push(edge(&names[a], &names[b]));
        };
        for i in 0..length - 1 {
            record(i, i + 1, &mut edges);
        }
        // Harmless orders: forward shortcuts along the chain, and chain -> extra locks.
        for _ in 0..t.rng().usize(0..=2) {
            let a = t.rng().usize(0..length - 2);
            let b = t.rng().usize(a + 2..length);
            record(a, b, &mut edges);
        }
        for extra in length..length + extras {
            let a = t.rng().usize(0..length);
            record(a, extra, &mut edges);
        }
        // An extra lock may be held too: it adds a closing edge of its own.
        let hold_extra = extras > 0 && t.rng().bool();
        let (last, first) = (Arc::clone(&locks[length - 1]), Arc::clone(&locks[0]));
        let extra = hold_extra.then(|| Arc::clone(&locks[length]));
        let outcome = within(PATIENCE, "closing the chain", move || {
            let _last = last.lock().map_err(|v| format!("{v:?}"))?;
            // Extra locks only ever come after chain locks, so this closes no cycle.
            let _extra = match &extra {
                Some(e) => Some(e.lock().map_err(|v| format!("{v:?}"))?),
                None => None,
            };
            Ok::<_, String>(first.lock().map(drop).err())
        });
        let (first_name, last_name) = (&names[0], &names[length - 1]);
        let violation = match outcome {
            Err(v) => fail!(
                "after the orders {edges:?}, taking {last_name} (then maybe {}) was refused with {v}",
                names[length.min(names.len() - 1)]
            ),
            Ok(None) => fail!(
                "after the orders {edges:?} (each by its own thread), a thread holding \
                 {last_name} took {first_name}: accepted, but that closes the cycle \
                 {first_name} -> ... -> {last_name} -> {first_name}. Look for a path from the \
                 lock being taken to any lock the thread holds"
            ),
            Ok(Some(violation)) => violation,
        };
        let mut all = edges.clone();
        all.push(edge(last_name, first_name));
        if hold_extra {
            // Taken while holding the chain's last lock, then holding it while taking the first.
            all.push(edge(last_name, &names[length]));
            all.push(edge(&names[length], first_name));
        }
        ensure_cycle(
            &violation,
            &all,
            &format!("after the orders {edges:?}, taking {first_name} while holding {last_name}"),
        );
    }
}

/// Re-locking a lock the thread holds is refused as `[a, a]` at once (not a self-deadlock), and
/// leaves the lock held once.
fn lockdep_self_relock(t: &mut Trial) {
    let names = lock_names(t, 2);
    let (a_name, b_name) = (names[0].clone(), names[1].clone());
    let lockdep = Lockdep::new();
    let a = Arc::new(lockdep.mutex(&a_name, 7u64));
    let b = Arc::new(lockdep.mutex(&b_name, 0u64));
    let also_hold_b = t.rng().bool();
    let outcome = {
        let (a, b) = (Arc::clone(&a), Arc::clone(&b));
        within(
            PATIENCE,
            "locking a lock the thread already holds",
            move || {
                let _b = also_hold_b.then(|| b.lock().map(drop));
                let mut guard = a.lock().map_err(|v| format!("{v:?}"))?;
                let second = a.lock().map(drop).err();
                *guard += 1;
                Ok::<_, String>(second)
            },
        )
    };
    match outcome {
        Err(v) => fail!("a free lock taken alone was refused with {v}"),
        Ok(None) => fail!("a thread holding {a_name} locked it again and got a second guard"),
        Ok(Some(violation)) => ensure_eq!(
            violation.cycle,
            vec![a_name.clone(), a_name.clone()],
            "the cycle reported for re-locking {a_name} (holding {})",
            if also_hold_b {
                b_name.as_str()
            } else {
                "nothing else"
            }
        ),
    }
    let value = within(PATIENCE, "locking it from another thread", move || {
        a.lock().map(|g| *g).map_err(|v| format!("{v:?}"))
    });
    ensure_eq!(
        value,
        Ok(8),
        "the lock's value seen by another thread after the refused re-lock (it must be free \
         and hold the update made through the first guard)"
    );
}

/// Threads take random subsets of the locks, always in one global order, and release them in
/// random orders: nothing may ever be refused, and the locks still exclude each other.
fn lockdep_consistent_orders(t: &mut Trial) {
    let count = t.rng().usize(4..=8);
    let threads = t.rng().usize(3..=6);
    let rounds = t.rng().usize(300..=600);
    let names = lock_names(t, count);
    let seed = t.seed();
    let lockdep = Lockdep::new();
    // Rank = position in `locks`; names are shuffled, so rank is not alphabetical.
    let locks: Arc<Vec<TrackedMutex<u64>>> =
        Arc::new(names.iter().map(|n| lockdep.mutex(n, 0)).collect());
    let taken = Arc::new(AtomicUsize::new(0));
    let workers = {
        let (locks, taken, names) = (Arc::clone(&locks), Arc::clone(&taken), names.clone());
        spawn_together(threads, move |i| {
            let mut rng = XorShift::stream(seed, i);
            let mut counts = vec![0u64; count];
            for round in 0..rounds {
                let mut guards = Vec::new();
                for rank in 0..count {
                    if rng.below(3) == 0 {
                        match locks[rank].lock() {
                            Ok(mut guard) => {
                                // A read-modify-write split by a yield: lost unless exclusive.
                                let seen = *guard;
                                if rng.below(8) == 0 {
                                    thread::yield_now();
                                }
                                *guard = seen + 1;
                                counts[rank] += 1;
                                guards.push(guard);
                            }
                            Err(v) => {
                                return Err(format!(
                                    "round {round}: taking {} (after {} locks of the same \
                                     global order {:?}) was refused with {v:?}: no two threads \
                                     ever took these locks in different orders",
                                    names[rank],
                                    guards.len(),
                                    names
                                ));
                            }
                        }
                    }
                }
                // Release in a random order.
                while !guards.is_empty() {
                    let k = rng.below(guards.len());
                    drop(guards.swap_remove(k));
                }
            }
            taken.fetch_add(1, SeqCst);
            Ok(counts)
        })
    };
    let finished = harness::wait_until(PATIENCE * 2, || taken.load(SeqCst) == threads);
    ensure!(
        finished,
        "{threads} threads taking up to {count} tracked locks in one global order did not \
         finish within {:?}: something blocked for good",
        PATIENCE * 2
    );
    let mut expected = vec![0u64; count];
    for outcome in join_all(workers) {
        match outcome {
            Ok(counts) => {
                for (total, c) in expected.iter_mut().zip(counts) {
                    *total += c;
                }
            }
            Err(message) => fail!("{message}"),
        }
    }
    let seen = within(PATIENCE, "reading the counters", move || {
        locks
            .iter()
            .map(|l| l.lock().map(|g| *g).unwrap_or(u64::MAX))
            .collect::<Vec<u64>>()
    });
    ensure_eq!(
        seen,
        expected,
        "the counters incremented under each tracked lock (increments were lost: the lock does \
         not exclude other threads)"
    );
}

/// A refused acquisition holds nothing (another thread can take the lock, the refused thread
/// is not counted as holding it) and records no edge (the original order stays allowed).
fn lockdep_refused_lock_not_held(t: &mut Trial) {
    let names = lock_names(t, 2);
    let (x_name, y_name) = (names[0].clone(), names[1].clone());
    let lockdep = Lockdep::new();
    let x = Arc::new(lockdep.mutex(&x_name, 0u64));
    let y = Arc::new(lockdep.mutex(&y_name, 0u64));
    if let Some(problem) = take_in_order(&x, &y) {
        fail!("a thread took {x_name} then {y_name}: {problem}");
    }
    let report = {
        let (x, y) = (Arc::clone(&x), Arc::clone(&y));
        within(PATIENCE, "the refused thread", move || {
            let _y = y
                .lock()
                .map_err(|v| format!("{y_name} alone was refused: {v:?}"))?;
            if x.lock().map(drop).is_ok() {
                return Err(format!(
                    "after {x_name} -> {y_name}, taking {x_name} while holding {y_name} was \
                     accepted (it closes a cycle)"
                ));
            }
            // Another thread can take x: the refused call left it unlocked.
            let x2 = Arc::clone(&x);
            let other = harness::spawn(move || x2.lock().map(|g| *g).is_ok());
            let deadline = std::time::Instant::now() + PATIENCE;
            while !other.is_finished() {
                if std::time::Instant::now() > deadline {
                    return Err(format!(
                        "after a refused lock of {x_name}, another thread could not take \
                         {x_name} within {PATIENCE:?}: the refused acquisition still holds it"
                    ));
                }
                thread::sleep(Duration::from_millis(1));
            }
            if !other.join().unwrap_or(false) {
                return Err(format!(
                    "another thread, holding nothing, was refused {x_name} after this thread's \
                     refusal"
                ));
            }
            Ok(())
        })
    };
    if let Err(message) = report {
        fail!("{message}");
    }
    // No edge y -> x was recorded, so x then y is still fine; and the refused thread is gone.
    if let Some(problem) = take_in_order(&x, &y) {
        fail!(
            "after a refused attempt to take {} while holding {}, a thread took them in the \
             original order {} then {}: {problem}. A refused acquisition must record no edge",
            names[0],
            names[1],
            names[0],
            names[1]
        );
    }
    // The refusing thread is the one that asks again: a refused lock is not in its held set.
    let x2_name = names[0].clone();
    let outcome = within(
        PATIENCE,
        "locking after a refusal in the same thread",
        move || {
            let guard = y.lock().map_err(|v| format!("{v:?}"))?;
            let refused = x.lock().map(drop).is_err();
            drop(guard);
            if !refused {
                return Err("the inverted order was accepted the second time".to_string());
            }
            x.lock().map(drop).map_err(|v| {
                format!(
                "after a refused attempt to take {x2_name}, the same thread released everything \
                 and took {x2_name} alone: refused with {v:?} (the refused lock was counted as \
                 held)"
            )
            })
        },
    );
    if let Err(message) = outcome {
        fail!("{message}");
    }
}

/// Separate `Lockdep`s have separate graphs and held sets, and held sets are per thread.
fn lockdep_independent(t: &mut Trial) {
    let names = lock_names(t, 2);
    let (a_name, b_name) = (names[0].clone(), names[1].clone());
    let first = Lockdep::new();
    let second = Lockdep::new();
    let (a1, b1) = (
        Arc::new(first.mutex(&a_name, 0u64)),
        Arc::new(first.mutex(&b_name, 0u64)),
    );
    let (a2, b2) = (
        Arc::new(second.mutex(&a_name, 0u64)),
        Arc::new(second.mutex(&b_name, 0u64)),
    );
    if let Some(problem) = take_in_order(&a1, &b1) {
        fail!("in a first Lockdep, taking {a_name} then {b_name}: {problem}");
    }
    if let Some(problem) = take_in_order(&b2, &a2) {
        fail!(
            "a first Lockdep saw {a_name} -> {b_name}; in a second Lockdep, whose locks have the \
             same names, taking {b_name} then {a_name}: {problem}. Each Lockdep has its own graph"
        );
    }
    if let Some(problem) = take_in_order(&a1, &a2) {
        fail!(
            "holding {a_name} of one Lockdep and taking {a_name} of another: {problem}. They are \
             different locks, with separate held sets"
        );
    }
    // Thread A holds x while thread B takes y: no order between x and y (nobody held both).
    let lockdep = Lockdep::new();
    let x = Arc::new(lockdep.mutex(&a_name, 0u64));
    let y = Arc::new(lockdep.mutex(&b_name, 0u64));
    within(PATIENCE, "two threads holding one lock each", {
        let (x, y) = (Arc::clone(&x), Arc::clone(&y));
        move || {
            let x_held = Arc::new(Barrier::new(2));
            let y_taken = Arc::new(Barrier::new(2));
            let a = {
                let (x_held, y_taken) = (Arc::clone(&x_held), Arc::clone(&y_taken));
                harness::spawn(move || {
                    let _g = x.lock();
                    x_held.wait();
                    y_taken.wait();
                })
            };
            let b = harness::spawn(move || {
                x_held.wait();
                let g = y.lock();
                y_taken.wait();
                drop(g);
            });
            join_all([a, b]);
        }
    });
    if let Some(problem) = take_in_order(&y, &x) {
        fail!(
            "thread A held {a_name} while thread B took {b_name} (nobody ever held both); then a              thread took {b_name} then {a_name}: {problem}. The held set is per thread: B held \
             nothing when it took {b_name}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// performance

/// Threads blocked in `TrackedMutex::lock` sleep: no CPU, no polling.
fn waiters_sleep(_t: &mut Trial) {
    let lockdep = Lockdep::new();
    let mutex = Arc::new(lockdep.mutex("busy", 0u64));
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = {
        let mutex = Arc::clone(&mutex);
        harness::spawn(move || {
            let guard = mutex.lock();
            let _ = held_tx.send(guard.is_ok());
            let _ = release_rx.recv();
            drop(guard);
        })
    };
    ensure!(
        held_rx.recv_timeout(PATIENCE).unwrap_or(false),
        "a free tracked lock could not be taken"
    );
    // Let the holder fall asleep first, so that it is part of the baseline.
    thread::sleep(Duration::from_millis(20));
    let baseline = harness::sleeping_threads();
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let mutex = Arc::clone(&mutex);
            harness::spawn(move || {
                let mut guard = mutex.lock().expect("a lock taken alone was refused");
                *guard += 1;
            })
        })
        .collect();
    let asleep = harness::wait_sleeping(baseline, 4, PATIENCE);
    if !asleep {
        let _ = release_tx.send(());
        let _ = harness::wait_until(PATIENCE, || waiters.iter().all(|w| w.is_finished()));
        fail!(
            "4 threads blocked in TrackedMutex::lock() never went to sleep within {PATIENCE:?}: \
             a blocked thread must sleep (a blocks::sync::Mutex or a futex), not spin"
        );
    }
    let window = Duration::from_millis(300);
    let before = Usage::now();
    thread::sleep(window);
    let used = Usage::now().since(before);
    let _ = release_tx.send(());
    within(PATIENCE, "the waiters after the release", move || {
        join_all(waiters);
        let _ = holder.join();
    });
    ensure!(
        used.cpu <= window / 8,
        "4 threads blocked in TrackedMutex::lock() burned {:?} of CPU in {window:?}: they must \
         sleep, not spin",
        used.cpu
    );
    ensure!(
        used.context_switches <= POLLING,
        "4 threads blocked in TrackedMutex::lock() made {} context switches in {window:?}: they \
         poll (sleep and re-check) instead of sleeping until the lock is released",
        used.context_switches
    );
}

// ---------------------------------------------------------------------------------------------
// lock_all

/// Real time a participant of a lock-step schedule may run before reaching its next scheduling
/// point (a lock operation, sleep, yield or draw): beyond it, it spins or blocks elsewhere.
const STEP_LIMIT: Duration = Duration::from_secs(3);
/// Turns without any `lock_all` returning, after which threads are livelocked. A random,
/// growing back-off separates two threads within a few dozen turns.
const PROGRESS_STEPS: usize = 10_000;

/// Lock names for messages: `a`, `b`, `c`...
fn lock_name(i: usize) -> String {
    char::from(b'a' + i as u8).to_string()
}

/// The names of `order`'s locks, as a list.
fn order_names(order: &[usize]) -> String {
    let names: Vec<String> = order.iter().map(|&i| lock_name(i)).collect();
    format!("[{}]", names.join(", "))
}

/// The name of the lock with id `id` among `locks`.
fn name_of(locks: &[Lock], id: usize) -> String {
    locks
        .iter()
        .position(|l| lock_id(l) == id)
        .map_or_else(|| "a lock of its own".to_string(), lock_name)
}

/// A failed (or timed-out) acquisition.
fn is_refusal(op: &Op) -> bool {
    matches!(
        op,
        Op::TryAcquire { taken: false, .. } | Op::Acquire { taken: false, .. }
    )
}

fn is_attempt(op: &Op) -> bool {
    matches!(op, Op::TryAcquire { .. } | Op::Acquire { .. })
}

fn is_pause(op: &Op) -> bool {
    matches!(op, Op::Sleep(_) | Op::Yield | Op::Park)
}

/// How a lock-step contest of several threads ended.
enum Contest {
    /// Every thread made every round.
    Finished,
    /// No lock_all returned within PROGRESS_STEPS turns.
    NoProgress(String),
    /// A thread waited for a lock while holding another.
    HoldAndWait(String),
    /// Threads wait for locks that no thread can release.
    Deadlock(String),
    /// Something else went wrong (the message says what).
    Broken(String),
}

/// The lock-step contests of a trial, as each thread's order of locks: every thread takes the
/// same locks in orders that collide (the second thread reverses the first's, a third rotates
/// it); then a ring, where thread i takes locks i and i + 1 of three, so that whatever order
/// an implementation takes them in (even one global order), some thread holds one lock while
/// another holds the next.
fn contests(t: &mut Trial) -> Vec<Vec<Vec<usize>>> {
    let threads = t.rng().usize(2..=3);
    let count = t.rng().usize(2..=3);
    let mut first: Vec<usize> = (0..count).collect();
    t.rng().shuffle(&mut first);
    let same_set = (0..threads)
        .map(|i| {
            let mut order = first.clone();
            match i {
                0 => {}
                1 => order.reverse(),
                _ => order.rotate_left(1),
            }
            order
        })
        .collect();
    let backwards = t.rng().bool();
    let ring = (0..3)
        .map(|i| {
            let pair = vec![i, (i + 1) % 3];
            if backwards {
                pair.into_iter().rev().collect()
            } else {
                pair
            }
        })
        .collect();
    vec![same_set, ring]
}

/// Threads take their locks (`orders[i]` for thread i) with lock_all, `rounds` times each,
/// under a lock-step schedule with rand streams from the trial's seed. `stop_at_hold_and_wait`
/// ends the contest at the first thread that waits while holding.
fn contest(t: &Trial, orders: Vec<Vec<usize>>, stop_at_hold_and_wait: bool) -> (String, Contest) {
    let threads = orders.len();
    let count = orders.iter().flatten().max().map_or(0, |&m| m + 1);
    let rounds = 3;
    let setup = format!(
        "{threads} threads calling lock_all {rounds} times each on {count} locks (taking them in \
         the orders {})",
        orders
            .iter()
            .map(|o| order_names(o))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let locks: Arc<Vec<Lock>> = Arc::new((0..count).map(|_| Lock::new()).collect());
    let returned: Arc<Vec<AtomicUsize>> =
        Arc::new((0..threads).map(|_| AtomicUsize::new(0)).collect());
    let (lockstep, tickets) = Lockstep::new(threads, RandMode::Seeded(t.seed()));
    let workers: Vec<_> = tickets
        .into_iter()
        .zip(orders.clone())
        .enumerate()
        .map(|(i, (ticket, order))| {
            let (locks, returned) = (Arc::clone(&locks), Arc::clone(&returned));
            harness::spawn(move || {
                let _seat = ticket.enter();
                for _ in 0..rounds {
                    let mine: Vec<&Lock> = order.iter().map(|&l| &locks[l]).collect();
                    lock_all(&mine);
                    returned[i].fetch_add(1, SeqCst);
                    for lock in mine {
                        let _ = lock.release();
                    }
                }
            })
        })
        .collect();
    let mut seen = vec![0; threads];
    let mut quiet = 0;
    let mut refusals = 0usize;
    let mut pauses: BTreeSet<Duration> = BTreeSet::new();
    let mut draws = 0usize;
    let outcome = loop {
        let step = lockstep.step(STEP_LIMIT);
        for event in lockstep.events() {
            match event.op {
                Op::TryAcquire { taken: false, .. } | Op::Acquire { taken: false, .. } => {
                    refusals += 1
                }
                Op::Sleep(d) => {
                    pauses.insert(d);
                }
                Op::Rand { .. } => draws += 1,
                _ => {}
            }
        }
        match step {
            Step::Ran(_) => {}
            Step::Finished => break Contest::Finished,
            Step::HoldAndWait(blocked) => {
                if stop_at_hold_and_wait {
                    break Contest::HoldAndWait(format!(
                        "thread {} waited for lock {} (a blocking acquire) while holding {}",
                        blocked.participant,
                        name_of(&locks, blocked.lock),
                        blocked
                            .holding
                            .iter()
                            .map(|&id| name_of(&locks, id))
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ));
                }
            }
            Step::Deadlock(blocked) => {
                let waits: Vec<String> = blocked
                    .iter()
                    .map(|b| {
                        format!(
                            "thread {} waits for {} holding [{}]",
                            b.participant,
                            name_of(&locks, b.lock),
                            b.holding
                                .iter()
                                .map(|&id| name_of(&locks, id))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })
                    .collect();
                break Contest::Deadlock(waits.join("; "));
            }
            Step::Stuck(thread) => {
                break Contest::Broken(format!(
                    "thread {thread} ran for {STEP_LIMIT:?} without calling a lock operation, \
                     sleep, yield or blocks::rand (spinning, or blocking on something else than \
                     the locks)"
                ))
            }
        }
        quiet += 1;
        for (i, count) in returned.iter().enumerate() {
            let now = count.load(SeqCst);
            if now != seen[i] {
                seen[i] = now;
                quiet = 0;
                // The thread stopped right after lock_all returned: it must hold its locks.
                let missing: Vec<String> = orders[i]
                    .iter()
                    .filter(|&&l| lockstep.holder(&locks[l]) != Some(i))
                    .map(|&l| lock_name(l))
                    .collect();
                if !missing.is_empty() {
                    let message = format!(
                        "lock_all({}) returned in thread {i} without holding {}",
                        order_names(&orders[i]),
                        missing.join(" and ")
                    );
                    return (setup, Contest::Broken(message));
                }
            }
        }
        if quiet >= PROGRESS_STEPS {
            let pauses = match pauses.len() {
                0 => "no sleep at all".to_string(),
                1 => format!(
                    "every sleep lasted {:?}",
                    pauses.first().expect("one pause")
                ),
                n => format!("{n} different sleep lengths"),
            };
            break Contest::NoProgress(format!(
                "no lock_all returned in {PROGRESS_STEPS} turns ({refusals} refused attempts \
                 so far, {pauses}, {draws} random draws)"
            ));
        }
    };
    if matches!(outcome, Contest::Finished) {
        join_all(workers);
    }
    // Otherwise the schedule is abandoned when `lockstep` drops: the threads run on freely.
    drop(lockstep);
    (setup, outcome)
}

/// Free locks are all taken in one attempt, whatever their number and order; and threads
/// taking the same locks in opposite orders on the real scheduler all finish, exclusively.
fn lock_all_takes_every_lock(t: &mut Trial) {
    let count = t.rng().usize(1..=6);
    let mut order: Vec<usize> = (0..count).collect();
    t.rng().shuffle(&mut order);
    let outcome = within(PATIENCE, "lock_all on free locks", move || {
        let locks: Vec<Lock> = (0..count).map(|_| Lock::new()).collect();
        let mine: Vec<&Lock> = order.iter().map(|&i| &locks[i]).collect();
        let mut seen = Vec::new();
        for _ in 0..2 {
            let attempts = lock_all(&mine);
            let held: Vec<bool> = locks.iter().map(Lock::locked).collect();
            seen.push((attempts, held));
            for lock in &locks {
                let _ = lock.release();
            }
        }
        seen
    });
    for (attempts, held) in outcome {
        ensure_eq!(
            attempts,
            1,
            "lock_all on {count} free locks: the attempts it reports (the first try takes them \
             all)"
        );
        ensure!(
            held.iter().all(|&h| h),
            "after lock_all on {count} free locks, only these were locked: {held:?}"
        );
    }

    let threads = 2 * t.rng().usize(1..=2);
    let rounds = 300;
    let counter = Arc::new(AtomicUsize::new(0));
    let locks: Arc<Vec<Lock>> = Arc::new((0..3).map(|_| Lock::new()).collect());
    let workers = {
        let (counter, locks) = (Arc::clone(&counter), Arc::clone(&locks));
        spawn_together(threads, move |i| {
            let mut mine: Vec<&Lock> = locks.iter().collect();
            if i % 2 == 1 {
                mine.reverse();
            }
            for _ in 0..rounds {
                lock_all(&mine);
                // A read-modify-write split by a yield: lost unless the locks exclude.
                let seen = counter.load(SeqCst);
                thread::yield_now();
                counter.store(seen + 1, SeqCst);
                for lock in &mine {
                    let _ = lock.release();
                }
            }
        })
    };
    harness::join_all_within(
        PATIENCE * 2,
        &format!("{threads} threads calling lock_all {rounds} times on [a, b, c] and [c, b, a]"),
        workers,
    );
    ensure_eq!(
        counter.load(SeqCst),
        threads * rounds,
        "a counter incremented by {threads} threads while holding every lock lock_all took \
         (updates were lost: lock_all returned without holding them all)"
    );
}

/// Lock-step contest: a thread that waits for a lock (`acquire`) while holding another is a
/// deadlock waiting to happen, seen the moment it waits.
fn lock_all_never_waits_holding(t: &mut Trial) {
    for orders in contests(t) {
        let (setup, outcome) = contest(t, orders, true);
        match outcome {
            Contest::HoldAndWait(what) => fail!(
                "{setup}: {what}. Waiting while holding is how deadlocks form (two threads taking \
             [a, b] and [b, a] that way wait for each other forever): take each lock with \
             try_acquire, and on a refusal give back what you took"
            ),
            Contest::Deadlock(what) => fail!("{setup}: a deadlock: {what}"),
            Contest::Broken(what) => fail!("{setup}: {what}"),
            // A livelock is the business of lock_all_no_livelock.
            Contest::Finished | Contest::NoProgress(_) => {}
        }
    }
}

/// Lock-step contest: with a random back-off the threads fall out of step and each round ends;
/// with none, or a fixed one, the same round repeats forever.
fn lock_all_no_livelock(t: &mut Trial) {
    for orders in contests(t) {
        let (setup, outcome) = contest(t, orders, false);
        match outcome {
            Contest::Finished | Contest::HoldAndWait(_) => {}
            Contest::NoProgress(what) => fail!(
            "{setup}, under a lock-step schedule (each lock operation, sleep, yield and random \
             draw is one turn; sleeping passes virtual time): {what}. A livelock: the threads \
             take and give back their locks in step, forever (or keep what they took while \
             they retry the rest). Retrying at once, or after the same pause every time, \
             keeps them in step; give back everything, then pause for a RANDOM time \
             (blocks::rand::below) from a window that grows after each refusal"
        ),
            Contest::Deadlock(what) => fail!(
                "{setup}: no thread can go on, a deadlock: {what}. lock_all must never wait for a \
             lock while holding another"
            ),
            Contest::Broken(what) => fail!("{setup}: {what}"),
        }
    }
}

/// One thread calls lock_all on `count` locks while the check holds lock `held`, in a lock-step
/// schedule; the check lets go after `refusals` refused acquisitions. The thread's events during
/// the call, and what lock_all returned. On failure, a message.
fn lone_contender(
    count: usize,
    held: usize,
    refusals: usize,
    rand: RandMode,
    order: &[usize],
    check_event: &mut dyn FnMut(&[Lock], &Event) -> Option<String>,
) -> Result<(Vec<Event>, usize), String> {
    let locks: Arc<Vec<Lock>> = Arc::new((0..count).map(|_| Lock::new()).collect());
    locks[held].acquire();
    let (lockstep, mut tickets) = Lockstep::new(1, rand);
    let ticket = tickets.pop().expect("one ticket");
    let worker = {
        let (locks, order) = (Arc::clone(&locks), order.to_vec());
        harness::spawn(move || {
            let _seat = ticket.enter();
            let mine: Vec<&Lock> = order.iter().map(|&l| &locks[l]).collect();
            lock_all(&mine)
        })
    };
    let mut events = Vec::new();
    let mut refused = 0;
    let mut let_go = false;
    for _ in 0..PROGRESS_STEPS {
        let step = lockstep.step(STEP_LIMIT);
        for event in lockstep.events() {
            if let Some(problem) = check_event(&locks, &event) {
                return Err(problem);
            }
            if is_refusal(&event.op) {
                refused += 1;
            }
            events.push(event);
        }
        match step {
            Step::Ran(_) => {}
            Step::Finished => {
                let attempts = worker
                    .join()
                    .unwrap_or_else(|payload| std::panic::resume_unwind(payload));
                if !let_go {
                    return Err(format!(
                        "lock_all returned {attempts} while lock {} was held by another thread",
                        lock_name(held)
                    ));
                }
                let missing: Vec<String> = (0..count)
                    .filter(|&l| lockstep.holder(&locks[l]) != Some(0))
                    .map(lock_name)
                    .collect();
                if !missing.is_empty() {
                    return Err(format!(
                        "lock_all returned without holding {}",
                        missing.join(" and ")
                    ));
                }
                return Ok((events, attempts));
            }
            Step::HoldAndWait(_) | Step::Deadlock(_) => {
                return Err(format!(
                    "it waited for lock {} (a blocking acquire) instead of trying it",
                    lock_name(held)
                ))
            }
            Step::Stuck(_) => {
                return Err(format!(
                    "it ran for {STEP_LIMIT:?} without calling a lock operation, sleep, yield or \
                     blocks::rand"
                ))
            }
        }
        if !let_go && refused >= refusals {
            let_go = true;
            let _ = locks[held].release();
            lockstep.released(&locks[held]);
        }
    }
    Err(if let_go {
        format!(
            "lock_all had not returned {PROGRESS_STEPS} turns after lock {} was released \
             ({refused} refused acquisitions in all)",
            lock_name(held)
        )
    } else {
        format!(
            "only {refused} acquisitions were refused in {PROGRESS_STEPS} turns while lock {} \
             was held",
            lock_name(held)
        )
    })
}

/// A refused attempt gives back every lock it took before it pauses and before the next
/// attempt, and lock_all reports one attempt per refusal, plus the one that succeeds.
fn lock_all_releases_on_refusal(t: &mut Trial) {
    let count = t.rng().usize(2..=3);
    let mut order: Vec<usize> = (0..count).collect();
    t.rng().shuffle(&mut order);
    let refusals = t.rng().usize(3..=6);
    // Each lock in turn is the held one: whatever order lock_all tries them in, some runs have
    // it take locks before the refusal.
    for held in 0..count {
        let mut refused_yet = false;
        let mut after_refusal = false;
        let mut check = |locks: &[Lock], event: &Event| -> Option<String> {
            let holding = event.holding;
            if is_pause(&event.op) && refused_yet && holding > 0 {
                return Some(format!(
                    "after a refused attempt it paused ({:?}) while still holding {holding} \
                     lock(s) it had taken",
                    event.op
                ));
            }
            if is_attempt(&event.op) && after_refusal {
                after_refusal = false;
                let taken = usize::from(matches!(
                    event.op,
                    Op::TryAcquire { taken: true, .. } | Op::Acquire { taken: true, .. }
                ));
                if holding - taken > 0 {
                    let lock = match event.op {
                        Op::TryAcquire { lock, .. } | Op::Acquire { lock, .. } => lock,
                        _ => unreachable!(),
                    };
                    return Some(format!(
                        "after a refused attempt it tried {} again while still holding {} \
                         lock(s) it had taken",
                        name_of(locks, lock),
                        holding - taken
                    ));
                }
            }
            if is_refusal(&event.op) {
                refused_yet = true;
                after_refusal = true;
            }
            None
        };
        let setup = format!(
            "lock_all({}) while another thread holds {} (released after {refusals} refusals)",
            order_names(&order),
            lock_name(held)
        );
        match lone_contender(
            count,
            held,
            refusals,
            RandMode::Seeded(t.seed()),
            &order,
            &mut check,
        ) {
            Err(problem) => fail!(
                "{setup}: {problem}. On a refusal, release every lock this attempt took, then \
                 pause, then try again from scratch"
            ),
            Ok((events, attempts)) => {
                let refused = events.iter().filter(|e| is_refusal(&e.op)).count();
                ensure_eq!(
                    attempts,
                    refused + 1,
                    "{setup}: the attempts lock_all reported ({refused} acquisitions were \
                     refused, one per attempt, and the last attempt took them all)"
                );
            }
        }
    }
}

/// With `blocks::rand::below` pinned to the middle of its range, the pause after each refusal
/// is a function of the attempt alone: it must grow.
fn lock_all_backoff_grows(t: &mut Trial) {
    let count = t.rng().usize(2..=3);
    let order: Vec<usize> = (0..count).collect();
    let held = count - 1;
    const REFUSALS: usize = 10;
    let setup = format!(
        "lock_all({}) while another thread holds {} for {REFUSALS} refusals, with \
         blocks::rand::below(n) returning the middle of its range, (n - 1) / 2",
        order_names(&order),
        lock_name(held)
    );
    let (events, _) = match lone_contender(
        count,
        held,
        REFUSALS,
        RandMode::Median,
        &order,
        &mut |_, _| None,
    ) {
        Ok(done) => done,
        Err(problem) => fail!("{setup}: {problem}"),
    };
    // The pause after each refusal: virtual time and yields until the next acquisition.
    let mut pauses: Vec<(Duration, usize)> = Vec::new();
    let mut current: Option<(Duration, usize)> = None;
    for event in &events {
        if is_refusal(&event.op) {
            if let Some(pause) = current.take() {
                pauses.push(pause);
            }
            current = Some((event.clock, 0));
        } else if let Some((since, yields)) = current.as_mut() {
            if matches!(event.op, Op::Yield) {
                *yields += 1;
            }
            if is_attempt(&event.op) {
                pauses.push((event.clock - *since, *yields));
                current = None;
            }
        }
    }
    let pauses: Vec<(Duration, usize)> = pauses.into_iter().take(REFUSALS).collect();
    ensure!(
        pauses.len() >= REFUSALS - 1,
        "{setup}: only {} pauses between refusals were seen",
        pauses.len()
    );
    ensure!(
        pauses
            .iter()
            .any(|&(time, yields)| !time.is_zero() || yields > 0),
        "{setup}: it retried at once after every refusal (no sleep, no yield): no back-off at \
         all"
    );
    let (first_time, first_yields) = pauses[0];
    let late = &pauses[pauses.len() - 3..];
    let grows = late.iter().any(|&(time, _)| time > first_time)
        || (pauses.iter().all(|(time, _)| time.is_zero())
            && late.iter().any(|&(_, yields)| yields > first_yields));
    ensure!(
        grows,
        "{setup}: the pauses after each refusal were {:?} (sleep, yields): they do not grow. \
         Draw the pause from a window that doubles after every refusal (up to a cap), so \
         that the more a lock is contended, the further apart the retries",
        pauses
    );
}

/// A lone thread whose lock_all faces a lock held for a while sleeps between attempts: it
/// costs almost no CPU.
fn lock_all_backoff_sleeps(_t: &mut Trial) {
    let locks: Arc<Vec<Lock>> = Arc::new((0..2).map(|_| Lock::new()).collect());
    locks[1].acquire();
    let worker = {
        let locks = Arc::clone(&locks);
        harness::spawn(move || lock_all(&[&locks[0], &locks[1]]))
    };
    // Long enough for a growing back-off to reach its cap.
    thread::sleep(Duration::from_millis(100));
    let window = Duration::from_millis(300);
    let before = Usage::now();
    thread::sleep(window);
    let used = Usage::now().since(before);
    let _ = locks[1].release();
    let finished = harness::wait_until(PATIENCE, || worker.is_finished());
    ensure!(
        finished,
        "lock_all([a, b]) had not returned {PATIENCE:?} after b was released"
    );
    let attempts = worker
        .join()
        .unwrap_or_else(|payload| std::panic::resume_unwind(payload));
    ensure!(
        attempts > 1,
        "lock_all([a, b]) returned {attempts} attempts, but b was held for {:?} first",
        window + Duration::from_millis(100)
    );
    ensure!(
        used.cpu <= window / 8,
        "a thread in lock_all([a, b]) while b was held burned {:?} of CPU in {window:?}: it \
         retries without sleeping (busy-waiting). Back off with blocks::thread::sleep, for a \
         random time that grows after each refusal up to a cap of a few milliseconds; yielding \
         alone keeps the CPU busy",
        used.cpu
    );
}

fn main() {
    harness::main(harness::checks![
        transfers_move_money,
        errors_in_order,
        opposite_transfers_finish,
        total_is_consistent,
        dine_never_deadlocks,
        lockdep_inverted_order,
        lockdep_longer_cycles,
        lockdep_self_relock,
        lockdep_consistent_orders,
        lockdep_refused_lock_not_held,
        lockdep_independent,
        waiters_sleep,
        lock_all_takes_every_lock,
        lock_all_never_waits_holding,
        lock_all_no_livelock,
        lock_all_releases_on_refusal,
        lock_all_backoff_grows,
        lock_all_backoff_sleeps,
    ])
}
