//! Semantics of `Barrier`, after CPython's `Lib/test/lock_tests.py` (`BarrierTests`), plus the
//! Rust-specific parts (a panicking action, `Duration::MAX`) and `smooth`.
//!
//! Every test runs its threads under a deadline, so a barrier that loses a waiter fails the test
//! instead of hanging the suite.

use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use barrier::{smooth, Barrier, BrokenBarrierError};

const N: usize = 5;
const LIMIT: Duration = Duration::from_secs(20);

/// Runs `f(i)` on `threads` threads and returns their results in thread order, failing the test
/// if they are not all done within [`LIMIT`].
fn run_threads<T: Send + 'static>(
    threads: usize,
    f: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let f = Arc::new(f);
    let (tx, rx) = mpsc::channel();
    for i in 0..threads {
        let (f, tx) = (Arc::clone(&f), tx.clone());
        thread::spawn(move || {
            let result = panic::catch_unwind(AssertUnwindSafe(|| f(i)));
            let _ = tx.send((i, result));
        });
    }
    let deadline = Instant::now() + LIMIT;
    let mut results: Vec<Option<T>> = (0..threads).map(|_| None).collect();
    for _ in 0..threads {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((i, Ok(value))) => results[i] = Some(value),
            Ok((_, Err(payload))) => panic::resume_unwind(payload),
            Err(_) => panic!("threads still blocked after {LIMIT:?}"),
        }
    }
    results.into_iter().map(Option::unwrap).collect()
}

/// Waits (polling) until `condition` holds, failing the test after [`LIMIT`].
fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !condition() {
        assert!(Instant::now() < deadline, "{what}: not after {LIMIT:?}");
        thread::sleep(Duration::from_millis(1));
    }
}

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn types_are_send_sync_and_errors_proper() {
    fn is_error<E: std::error::Error + Copy + Eq + std::fmt::Debug + Send + Sync>() {}
    assert_send_sync::<Barrier>();
    is_error::<BrokenBarrierError>();
    assert!(!BrokenBarrierError.to_string().is_empty());
}

#[test]
#[should_panic]
fn zero_parties_panics() {
    let _ = Barrier::new(0);
}

#[test]
fn accessors() {
    let barrier = Barrier::new(3);
    assert_eq!(barrier.parties(), 3);
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.broken());
}

/// lock_tests: test_barrier / test_barrier_10. Each pass appends to `results[pass]`; after
/// passing the barrier, everyone must see the full list of that pass.
fn run_passes(passes: usize) {
    let barrier = Arc::new(Barrier::new(N));
    let results = Arc::new(Mutex::new(vec![0usize; passes]));
    run_threads(N, {
        let (barrier, results) = (Arc::clone(&barrier), Arc::clone(&results));
        move |_| {
            for pass in 0..passes {
                results.lock().unwrap()[pass] += 1;
                barrier.wait().unwrap();
                let seen = results.lock().unwrap().clone();
                assert_eq!(
                    seen[pass], N,
                    "released before everyone arrived in pass {pass}"
                );
                if pass + 1 < passes {
                    assert!(
                        seen[pass + 1] < N,
                        "pass {} done before pass {pass}",
                        pass + 1
                    );
                }
            }
        }
    });
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.broken());
}

#[test]
fn one_pass() {
    run_passes(1);
}

#[test]
fn two_passes() {
    run_passes(2);
}

#[test]
fn ten_passes() {
    run_passes(10);
}

#[test]
fn many_generations_never_mix() {
    // A counter bumped by the action: after wait() of generation g every thread must see g + 1.
    let phase = Arc::new(AtomicUsize::new(0));
    let barrier = {
        let phase = Arc::clone(&phase);
        Arc::new(Barrier::with_action(4, move || {
            phase.fetch_add(1, SeqCst);
        }))
    };
    run_threads(4, move |_| {
        for generation in 0..2_000 {
            assert_eq!(
                phase.load(SeqCst),
                generation,
                "arrived in a finished generation"
            );
            barrier.wait().unwrap();
            assert_eq!(
                phase.load(SeqCst),
                generation + 1,
                "released into the wrong phase"
            );
        }
    });
}

#[test]
fn more_threads_than_parties_pass_in_groups() {
    let barrier = Arc::new(Barrier::new(3));
    let indices = run_threads(12, move |_| barrier.wait().unwrap());
    let mut counts = [0; 3];
    for index in indices {
        counts[index] += 1;
    }
    assert_eq!(
        counts,
        [4, 4, 4],
        "each of the 4 generations hands out 0, 1 and 2"
    );
}

/// lock_tests: test_wait_return.
#[test]
fn wait_returns_distinct_indices() {
    let barrier = Arc::new(Barrier::new(N));
    for _ in 0..20 {
        let barrier = Arc::clone(&barrier);
        let indices: HashSet<usize> = run_threads(N, move |_| barrier.wait().unwrap())
            .into_iter()
            .collect();
        assert_eq!(indices, (0..N).collect());
    }
}

#[test]
fn the_last_to_arrive_gets_the_last_index() {
    let barrier = Arc::new(Barrier::new(3));
    let early = {
        let barrier = Arc::clone(&barrier);
        thread::spawn(move || {
            let barrier2 = Arc::clone(&barrier);
            let other = thread::spawn(move || barrier2.wait().unwrap());
            let mine = barrier.wait().unwrap();
            let mut both = [mine, other.join().unwrap()];
            both.sort();
            both
        })
    };
    wait_until("two waiters", || barrier.n_waiting() == 2);
    assert_eq!(barrier.wait(), Ok(2));
    assert_eq!(early.join().unwrap(), [0, 1]);
}

/// lock_tests: test_action.
#[test]
fn action_runs_once_per_generation_before_release() {
    let runs = Arc::new(AtomicUsize::new(0));
    let runner = Arc::new(Mutex::new(Vec::new()));
    let barrier = {
        let (runs, runner) = (Arc::clone(&runs), Arc::clone(&runner));
        Arc::new(Barrier::with_action(N, move || {
            runs.fetch_add(1, SeqCst);
            runner.lock().unwrap().push(thread::current().id());
        }))
    };
    let last_ids = run_threads(N, {
        let (barrier, runs) = (Arc::clone(&barrier), Arc::clone(&runs));
        move |_| {
            let mut lasts = Vec::new();
            for generation in 0..5 {
                let index = barrier.wait().unwrap();
                assert_eq!(
                    runs.load(SeqCst),
                    generation + 1,
                    "action not run before release"
                );
                if index == N - 1 {
                    lasts.push(thread::current().id());
                }
            }
            lasts
        }
    });
    assert_eq!(runs.load(SeqCst), 5);
    let lasts: Vec<_> = last_ids.into_iter().flatten().collect();
    assert_eq!(lasts.len(), 5);
    let ran: Vec<_> = runner.lock().unwrap().clone();
    let ran_set: HashSet<_> = ran.iter().collect();
    let last_set: HashSet<_> = lasts.iter().collect();
    assert_eq!(
        ran_set, last_set,
        "the action runs in the thread that arrives last"
    );
}

#[test]
fn single_party_barrier_never_blocks() {
    let runs = Arc::new(AtomicUsize::new(0));
    let barrier = {
        let runs = Arc::clone(&runs);
        Barrier::with_action(1, move || {
            runs.fetch_add(1, SeqCst);
        })
    };
    for _ in 0..3 {
        assert_eq!(barrier.wait(), Ok(0));
    }
    assert_eq!(barrier.wait_timeout(Duration::ZERO), Ok(0));
    assert_eq!(runs.load(SeqCst), 4);
}

/// lock_tests: test_abort.
#[test]
fn abort_breaks_the_barrier_for_everyone() {
    let barrier = Arc::new(Barrier::new(N));
    let outcomes = run_threads(N, {
        let barrier = Arc::clone(&barrier);
        move |_| {
            let index = barrier.wait().unwrap();
            if index == N / 2 {
                barrier.abort();
                "aborted"
            } else {
                match barrier.wait() {
                    Ok(_) => "passed",
                    Err(BrokenBarrierError) => "broken",
                }
            }
        }
    });
    assert_eq!(outcomes.iter().filter(|&&o| o == "broken").count(), N - 1);
    assert!(barrier.broken());
    assert_eq!(barrier.n_waiting(), 0);
    assert_eq!(
        barrier.wait(),
        Err(BrokenBarrierError),
        "broken until reset"
    );
    assert_eq!(
        barrier.wait_timeout(Duration::from_secs(5)),
        Err(BrokenBarrierError)
    );
}

/// lock_tests: test_reset.
#[test]
fn reset_wakes_waiters_with_an_error_then_works() {
    let barrier = Arc::new(Barrier::new(N));
    let outcomes = run_threads(N, {
        let barrier = Arc::clone(&barrier);
        move |_| {
            let index = barrier.wait().unwrap();
            let outcome = if index == N / 2 {
                while barrier.n_waiting() < N - 1 {
                    thread::sleep(Duration::from_millis(1));
                }
                barrier.reset();
                "reset"
            } else {
                match barrier.wait() {
                    Ok(_) => "passed",
                    Err(BrokenBarrierError) => "broken",
                }
            };
            // Pass the barrier again: reset made it usable.
            barrier.wait().unwrap();
            outcome
        }
    });
    assert_eq!(outcomes.iter().filter(|&&o| o == "broken").count(), N - 1);
    assert!(!barrier.broken());
}

/// lock_tests: test_abort_and_reset.
#[test]
fn abort_then_reset_makes_it_usable() {
    let barrier = Arc::new(Barrier::new(N));
    let barrier2 = Arc::new(Barrier::new(N));
    let outcomes = run_threads(N, {
        let (barrier, barrier2) = (Arc::clone(&barrier), Arc::clone(&barrier2));
        move |_| {
            let index = barrier.wait().unwrap();
            let outcome = if index == N / 2 {
                barrier.abort();
                "aborted"
            } else {
                match barrier.wait() {
                    Ok(_) => "passed",
                    Err(BrokenBarrierError) => "broken",
                }
            };
            // Everyone has left `barrier` before the reset, and nobody enters before it.
            if barrier2.wait().unwrap() == N / 2 {
                barrier.reset();
            }
            barrier2.wait().unwrap();
            barrier.wait().unwrap();
            outcome
        }
    });
    assert_eq!(outcomes.iter().filter(|&&o| o == "broken").count(), N - 1);
    assert!(!barrier.broken());
}

#[test]
fn reset_of_an_idle_barrier_changes_nothing() {
    let barrier = Arc::new(Barrier::new(2));
    barrier.reset();
    assert!(!barrier.broken());
    let other = {
        let barrier = Arc::clone(&barrier);
        thread::spawn(move || barrier.wait())
    };
    assert!(barrier.wait().is_ok());
    assert!(other.join().unwrap().is_ok());
}

/// lock_tests: test_timeout.
#[test]
fn a_timeout_breaks_the_barrier_for_everyone() {
    let barrier = Arc::new(Barrier::new(N).with_timeout(Duration::from_secs(20)));
    let outcomes = run_threads(N, {
        let barrier = Arc::clone(&barrier);
        move |_| {
            let index = barrier.wait().unwrap();
            if index == N / 2 {
                // One thread is late: wait until the others broke the barrier.
                while !barrier.broken() {
                    thread::sleep(Duration::from_millis(1));
                }
            }
            let started = Instant::now();
            let outcome = barrier.wait_timeout(Duration::from_millis(100));
            (outcome, started.elapsed(), index == N / 2)
        }
    });
    for (outcome, _, _) in &outcomes {
        assert_eq!(*outcome, Err(BrokenBarrierError));
    }
    // Not early: at least one waiter really waited its whole timeout before breaking it.
    assert!(outcomes
        .iter()
        .any(|(_, waited, _)| *waited >= Duration::from_millis(100)));
    assert!(barrier.broken());
}

/// lock_tests: test_default_timeout.
#[test]
fn the_default_timeout_applies_to_wait() {
    let barrier = Arc::new(Barrier::new(N).with_timeout(Duration::from_millis(100)));
    let outcomes = run_threads(N, {
        let barrier = Arc::clone(&barrier);
        move |_| {
            let index = barrier.wait_timeout(Duration::from_secs(20)).unwrap();
            if index == N / 2 {
                while !barrier.broken() {
                    thread::sleep(Duration::from_millis(1));
                }
            }
            barrier.wait()
        }
    });
    assert!(outcomes.iter().all(|o| *o == Err(BrokenBarrierError)));
}

#[test]
fn a_timed_out_waiter_waited_its_whole_timeout() {
    let barrier = Barrier::new(2);
    let timeout = Duration::from_millis(50);
    let started = Instant::now();
    assert_eq!(barrier.wait_timeout(timeout), Err(BrokenBarrierError));
    assert!(started.elapsed() >= timeout, "timed out early");
    assert!(barrier.broken());
}

#[test]
fn an_explicit_timeout_overrides_the_default() {
    let barrier = Arc::new(Barrier::new(2).with_timeout(Duration::from_millis(1)));
    let waiter = {
        let barrier = Arc::clone(&barrier);
        thread::spawn(move || barrier.wait_timeout(Duration::from_secs(20)))
    };
    wait_until("one waiter", || barrier.n_waiting() == 1);
    thread::sleep(Duration::from_millis(50)); // far past the default timeout
    assert_eq!(barrier.wait_timeout(Duration::from_secs(20)), Ok(1));
    assert_eq!(waiter.join().unwrap(), Ok(0));
}

#[test]
fn a_zero_timeout_from_a_waiting_party_breaks_at_once() {
    let barrier = Barrier::new(2);
    assert_eq!(
        barrier.wait_timeout(Duration::ZERO),
        Err(BrokenBarrierError)
    );
    assert!(barrier.broken());
    barrier.reset();
    assert!(!barrier.broken());
}

#[test]
fn a_zero_timeout_from_the_last_party_passes() {
    let barrier = Arc::new(Barrier::new(2));
    let waiter = {
        let barrier = Arc::clone(&barrier);
        thread::spawn(move || barrier.wait())
    };
    wait_until("one waiter", || barrier.n_waiting() == 1);
    assert_eq!(barrier.wait_timeout(Duration::ZERO), Ok(1));
    assert_eq!(waiter.join().unwrap(), Ok(0));
}

#[test]
fn huge_timeouts_mean_no_timeout() {
    let barrier = Arc::new(Barrier::new(2).with_timeout(Duration::MAX));
    let waiter = {
        let barrier = Arc::clone(&barrier);
        thread::spawn(move || barrier.wait())
    };
    wait_until("one waiter", || barrier.n_waiting() == 1);
    assert_eq!(barrier.wait_timeout(Duration::MAX), Ok(1));
    assert_eq!(waiter.join().unwrap(), Ok(0));
}

#[test]
fn n_waiting_counts_the_current_generation_only() {
    let barrier = Arc::new(Barrier::new(4));
    let mut waiters = Vec::new();
    for k in 1..=3 {
        let b = Arc::clone(&barrier);
        waiters.push(thread::spawn(move || b.wait()));
        wait_until("one more waiter", || barrier.n_waiting() == k);
    }
    barrier.wait().unwrap();
    for waiter in waiters {
        assert!(waiter.join().unwrap().is_ok());
    }
    assert_eq!(
        barrier.n_waiting(),
        0,
        "a completed generation has no waiters"
    );
}

#[test]
fn n_waiting_is_zero_when_broken() {
    let barrier = Arc::new(Barrier::new(3));
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || barrier.wait())
        })
        .collect();
    wait_until("two waiters", || barrier.n_waiting() == 2);
    barrier.abort();
    assert_eq!(barrier.n_waiting(), 0);
    for waiter in waiters {
        assert_eq!(waiter.join().unwrap(), Err(BrokenBarrierError));
    }
}

#[test]
fn a_panicking_action_breaks_the_barrier_and_keeps_panicking() {
    let calls = Arc::new(AtomicUsize::new(0));
    let barrier = {
        let calls = Arc::clone(&calls);
        Arc::new(Barrier::with_action(3, move || {
            if calls.fetch_add(1, SeqCst) == 0 {
                panic!("action failed");
            }
        }))
    };
    let outcomes = run_threads(3, {
        let barrier = Arc::clone(&barrier);
        move |_| match panic::catch_unwind(AssertUnwindSafe(|| barrier.wait())) {
            Ok(result) => Ok(result),
            Err(payload) => Err(payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .unwrap_or_default()),
        }
    });
    let panicked: Vec<_> = outcomes.iter().filter(|o| o.is_err()).collect();
    assert_eq!(
        panicked.len(),
        1,
        "the panic continues in exactly one thread"
    );
    assert_eq!(panicked[0].as_ref().unwrap_err(), "action failed");
    let broken = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Err(BrokenBarrierError))))
        .count();
    assert_eq!(broken, 2, "the other waiters get Err");
    assert!(barrier.broken());
    barrier.reset();
    let indices = run_threads(3, move |_| barrier.wait().unwrap());
    assert_eq!(
        indices.into_iter().collect::<HashSet<_>>(),
        HashSet::from([0, 1, 2])
    );
    assert_eq!(
        calls.load(SeqCst),
        2,
        "the action runs again after the reset"
    );
}

#[test]
fn waiters_arriving_while_broken_fail_at_once() {
    let barrier = Barrier::new(3);
    barrier.abort();
    for _ in 0..3 {
        assert_eq!(barrier.wait(), Err(BrokenBarrierError));
    }
    assert_eq!(barrier.n_waiting(), 0);
}

/// The sequential definition `smooth` must match bit for bit.
fn smooth_sequential(values: &[f64], steps: usize) -> Vec<f64> {
    let mut current = values.to_vec();
    for _ in 0..steps {
        let old = current.clone();
        for i in 1..old.len().saturating_sub(1) {
            current[i] = (old[i - 1] + old[i] + old[i + 1]) / 3.0;
        }
    }
    current
}

fn bits(values: &[f64]) -> Vec<u64> {
    values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn smooth_matches_the_sequential_computation_bit_for_bit() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for len in [0, 1, 2, 3, 4, 7, 16, 33, 100] {
        let values: Vec<f64> = (0..len)
            .map(|_| (next() % 2_000_001) as f64 / 7.0 - 1e5)
            .collect();
        for steps in [0, 1, 2, 5, 17] {
            let expected = bits(&smooth_sequential(&values, steps));
            for threads in [1, 2, 3, 4, 8, 150] {
                let values = values.clone();
                let got = run_threads(1, move |_| smooth(&values, steps, threads)).remove(0);
                assert_eq!(
                    bits(&got),
                    expected,
                    "len {len}, {steps} steps, {threads} threads"
                );
            }
        }
    }
}

#[test]
#[should_panic]
fn smooth_with_zero_threads_panics() {
    smooth(&[1.0, 2.0, 3.0], 1, 0);
}

/// With the grader's backend (`--features blocks/perturb`), the barrier and `smooth` under a
/// perturbed schedule: yields and sleeps at every atomic operation of `smooth`. (Without the
/// feature, `configure` does nothing and this is one more plain run.)
#[test]
fn generations_and_smooth_under_a_perturbed_schedule() {
    blocks::__grader::configure(42, 200);
    let values: Vec<f64> = (0..64).map(|i| ((i * 37) % 11) as f64 * 0.3).collect();
    let expected = bits(&smooth_sequential(&values, 9));
    for threads in [2, 3, 7] {
        let values = values.clone();
        let got = run_threads(1, move |_| smooth(&values, 9, threads)).remove(0);
        assert_eq!(bits(&got), expected, "{threads} threads, perturbed");
    }
    let barrier = Arc::new(Barrier::new(3));
    let indices = run_threads(3, move |_| {
        (0..200)
            .map(|_| barrier.wait().unwrap())
            .collect::<Vec<_>>()
    });
    for generation in 0..200 {
        let set: HashSet<usize> = indices.iter().map(|w| w[generation]).collect();
        assert_eq!(
            set,
            HashSet::from([0, 1, 2]),
            "generation {generation}, perturbed"
        );
    }
    blocks::__grader::configure(0, 0);
}
