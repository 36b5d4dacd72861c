//! The grader's lock-step schedule: deterministic turns, virtual time, deadlocks and
//! hold-and-wait seen at once, livelock as a pattern that never ends.

use std::sync::Arc;
use std::time::Duration;

use blocks::__grader::lockstep::{lock_id, Event, Lockstep, Op, RandMode, Step, Ticket};
use blocks::sync::Lock;

const LIMIT: Duration = Duration::from_secs(10);

/// Retries `try_acquire` on every lock; on a refusal releases and backs off with `backoff`.
fn lock_all(locks: &[&Lock], mut backoff: impl FnMut(u32)) -> usize {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let taken = locks.iter().take_while(|l| l.try_acquire()).count();
        if taken == locks.len() {
            return attempt as usize;
        }
        for lock in &locks[..taken] {
            lock.release().unwrap();
        }
        backoff(attempt);
    }
}

/// Two participants take `[a, b]` and `[b, a]` with `backoff`, then release both.
fn opposite(
    rand: RandMode,
    backoff: fn(u32),
) -> (Lockstep, Vec<std::thread::JoinHandle<()>>, [Arc<Lock>; 2]) {
    let locks = [Arc::new(Lock::new()), Arc::new(Lock::new())];
    let (lockstep, tickets) = Lockstep::new(2, rand);
    let threads = tickets
        .into_iter()
        .enumerate()
        .map(|(i, ticket): (usize, Ticket)| {
            let (a, b) = (Arc::clone(&locks[i]), Arc::clone(&locks[1 - i]));
            std::thread::spawn(move || {
                let _seat = ticket.enter();
                lock_all(&[&a, &b], backoff);
                a.release().unwrap();
                b.release().unwrap();
            })
        })
        .collect();
    (lockstep, threads, locks)
}

/// Steps until the schedule ends or `steps` turns have passed.
fn run(lockstep: &Lockstep, steps: usize) -> (Step, usize) {
    for n in 0..steps {
        match lockstep.step(LIMIT) {
            Step::Ran(_) => {}
            other => return (other, n),
        }
    }
    (Step::Ran(usize::MAX), steps)
}

fn fixed(_: u32) {
    blocks::thread::sleep(Duration::from_millis(1));
}

fn randomized(attempt: u32) {
    let window = 1u64 << attempt.min(16);
    blocks::thread::sleep(Duration::from_micros(blocks::rand::below(window)));
}

#[test]
fn a_fixed_backoff_never_progresses_in_lock_step() {
    let (lockstep, threads, _locks) = opposite(RandMode::Seeded(1), fixed);
    let (step, _) = run(&lockstep, 4_000);
    assert_eq!(step, Step::Ran(usize::MAX), "the schedule ended");
    let events = lockstep.events();
    // The same pattern, round after round: each takes its first lock, is refused the second.
    let refusals = events
        .iter()
        .filter(|e| matches!(e.op, Op::TryAcquire { taken: false, .. }))
        .count();
    assert!(refusals > 100, "{refusals} refusals");
    assert_eq!(lockstep.clock(0), lockstep.clock(1));
    drop(lockstep);
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn a_randomized_backoff_separates_the_threads() {
    let (lockstep, threads, locks) = opposite(RandMode::Seeded(7), randomized);
    let (step, steps) = run(&lockstep, 4_000);
    assert_eq!(step, Step::Finished, "after {steps} steps");
    for thread in threads {
        thread.join().unwrap();
    }
    assert!(locks.iter().all(|l| !l.locked()));
}

/// Events with lock ids replaced by their position in `locks`.
fn normalized(events: Vec<Event>, locks: &[Arc<Lock>; 2]) -> Vec<String> {
    let ids: Vec<usize> = locks.iter().map(|l| lock_id(l)).collect();
    events
        .into_iter()
        .map(|e| {
            let mut text = format!("{e:?}");
            for (i, id) in ids.iter().enumerate() {
                text = text.replace(&format!("lock: {id}"), &format!("lock: #{i}"));
            }
            text
        })
        .collect()
}

#[test]
fn one_seed_replays_one_schedule() {
    let trace = |seed| {
        let (lockstep, threads, locks) = opposite(RandMode::Seeded(seed), randomized);
        assert_eq!(run(&lockstep, 4_000).0, Step::Finished);
        for thread in threads {
            thread.join().unwrap();
        }
        normalized(lockstep.events(), &locks)
    };
    assert_eq!(trace(3), trace(3));
}

#[test]
fn blocking_while_holding_is_seen_at_once() {
    let locks = [Arc::new(Lock::new()), Arc::new(Lock::new())];
    let (lockstep, tickets) = Lockstep::new(2, RandMode::Median);
    let threads: Vec<_> = tickets
        .into_iter()
        .enumerate()
        .map(|(i, ticket)| {
            let (a, b) = (Arc::clone(&locks[i]), Arc::clone(&locks[1 - i]));
            std::thread::spawn(move || {
                let _seat = ticket.enter();
                a.acquire();
                b.acquire();
            })
        })
        .collect();
    let (step, steps) = run(&lockstep, 100);
    let Step::HoldAndWait(blocked) = step else {
        panic!("{step:?} after {steps} steps")
    };
    assert_eq!(blocked.holding, vec![lock_id(&locks[blocked.participant])]);
    // The other one blocks too (its own hold-and-wait), and then nobody can run.
    let mut both = loop {
        match lockstep.step(LIMIT) {
            Step::Deadlock(blocked) => break blocked,
            Step::Ran(_) | Step::HoldAndWait(_) => {}
            other => panic!("{other:?}"),
        }
    };
    both.sort_by_key(|b| b.participant);
    assert_eq!(both.len(), 2);
    assert_eq!(both[0].lock, lock_id(&locks[1]));
    // Abandoned, the participants block for real: leave them.
    drop(lockstep);
    drop(threads);
}

#[test]
fn virtual_sleep_and_external_release() {
    let held = Arc::new(Lock::new());
    held.acquire();
    let (lockstep, mut tickets) = Lockstep::new(1, RandMode::Median);
    let ticket = tickets.pop().unwrap();
    let lock = Arc::clone(&held);
    let thread = std::thread::spawn(move || {
        let _seat = ticket.enter();
        blocks::thread::sleep(Duration::from_secs(3_600));
        let half = blocks::rand::below(10);
        lock.acquire();
        lock.release().unwrap();
        half
    });
    let (step, _) = run(&lockstep, 100);
    let Step::Deadlock(blocked) = step else {
        panic!("{step:?}")
    };
    assert_eq!(blocked[0].lock, lock_id(&held));
    assert!(blocked[0].holding.is_empty());
    assert_eq!(lockstep.clock(0), Duration::from_secs(3_600));
    held.release().unwrap();
    lockstep.released(&held);
    assert_eq!(run(&lockstep, 100).0, Step::Finished);
    assert_eq!(thread.join().unwrap(), 4, "the median of 0..10");
}

#[test]
fn a_timed_acquire_times_out_in_virtual_time() {
    let held = Arc::new(Lock::new());
    held.acquire();
    let (lockstep, mut tickets) = Lockstep::new(1, RandMode::Median);
    let ticket = tickets.pop().unwrap();
    let lock = Arc::clone(&held);
    let thread = std::thread::spawn(move || {
        let _seat = ticket.enter();
        lock.acquire_timeout(Duration::from_secs(60))
    });
    assert_eq!(run(&lockstep, 100).0, Step::Finished);
    assert!(!thread.join().unwrap());
    assert_eq!(lockstep.clock(0), Duration::from_secs(60));
}
