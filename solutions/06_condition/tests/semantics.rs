//! The semantics of `threading.Condition` and `queue.Queue`, after CPython's
//! `Lib/test/lock_tests.py` (`ConditionTests`) and `Lib/test/test_queue.py`.
//!
//! Every blocking step runs under a deadline; racing threads start together at a barrier; timing
//! assertions are only "not early" (exact) and "not ignored" (generous). A waiter is known to be
//! queued once the test has seen, under the condition's lock, the mark it left just before
//! calling `wait` (wait joins the queue before it releases the lock).

use std::cell::Cell;
use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use condition::{BoundedQueue, Condition, Full};

/// Built with `--features blocks/perturb`, makes the backend perturb the schedule (random yields,
/// short sleeps, spurious futex returns) for every test of this file; a no-op otherwise.
fn perturb() {
    blocks::__grader::configure(0x5eed, 100);
}

/// How long any blocking step may take before the test fails as "blocked".
const LIMIT: Duration = Duration::from_secs(10);

/// Runs `f` on its own thread; fails the test if it has not returned within [`LIMIT`].
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(LIMIT) {
        Ok(value) => value,
        Err(_) => panic!("{what} blocked for {LIMIT:?} (or panicked)"),
    }
}

fn join_all<T: Send + 'static>(handles: Vec<JoinHandle<T>>) -> Vec<T> {
    within("joining threads", move || {
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Polls `condition` every millisecond for at most [`LIMIT`]; whether it became true.
fn eventually(mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + LIMIT;
    while !condition() {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
    true
}

/// The data of the notify tests: who entered `wait`, who came back, in which order.
#[derive(Default)]
struct Log {
    entered: Vec<usize>,
    woken: Vec<usize>,
}

/// Starts waiter `id`: it marks itself entered and waits once, then records that it woke.
fn waiter(condition: &Arc<Condition<Log>>, id: usize) -> JoinHandle<()> {
    let handle = thread::spawn({
        let condition = Arc::clone(condition);
        move || {
            let mut log = condition.lock();
            log.entered.push(id);
            log.wait();
            log.woken.push(id);
        }
    });
    assert!(
        eventually(|| condition_entered(condition, id)),
        "waiter {id} never waited"
    );
    handle
}

fn condition_entered(condition: &Condition<Log>, id: usize) -> bool {
    condition.lock().entered.contains(&id)
}

/// Waits until `count` waiters woke, then a little more to see that no other one wakes.
fn woken_after(condition: &Condition<Log>, count: usize) -> Vec<usize> {
    assert!(
        eventually(|| condition.lock().woken.len() >= count),
        "only {} waiters woke, expected {count}",
        condition.lock().woken.len()
    );
    thread::sleep(Duration::from_millis(50));
    condition.lock().woken.clone()
}

#[test]
fn lock_try_lock_get_mut_and_into_inner() {
    perturb();
    let condition = Arc::new(Condition::new(5));
    {
        let mut guard = condition.lock();
        *guard += 1;
        let other = Arc::clone(&condition);
        assert!(
            within("try_lock", move || other.try_lock().is_none()),
            "try_lock succeeded while another thread held the lock"
        );
    }
    assert_eq!(*condition.try_lock().expect("the lock is free"), 6);
    let mut condition = Arc::try_unwrap(condition).ok().unwrap();
    *condition.get_mut() += 1;
    assert_eq!(condition.into_inner(), 7);
    assert_eq!(Condition::<u32>::default().into_inner(), 0);
}

#[test]
fn notify_wakes_exactly_n_waiters_oldest_first() {
    perturb();
    // lock_tests.ConditionTests._check_notify, twice on one condition (test_notify).
    let condition = Arc::new(Condition::new(Log::default()));
    for round in 0..2 {
        let base = round * 10;
        let handles: Vec<_> = (base..base + 5).map(|id| waiter(&condition, id)).collect();
        condition.lock().notify(3);
        let woken: HashSet<_> = woken_after(&condition, 3).into_iter().collect();
        assert_eq!(
            woken,
            (base..base + 3).collect(),
            "notify(3) woke {woken:?}"
        );
        condition.lock().notify(5); // only two are left
        let woken: HashSet<_> = woken_after(&condition, 5).into_iter().collect();
        assert_eq!(woken, (base..base + 5).collect());
        join_all(handles);
        // notify_all wakes everyone.
        let mut log = condition.lock();
        log.entered.clear();
        log.woken.clear();
        drop(log);
        let handles: Vec<_> = (base..base + 4).map(|id| waiter(&condition, id)).collect();
        condition.lock().notify_all();
        assert_eq!(woken_after(&condition, 4).len(), 4);
        join_all(handles);
        let mut log = condition.lock();
        log.entered.clear();
        log.woken.clear();
    }
}

#[test]
fn notify_with_nobody_waiting_is_not_remembered() {
    perturb();
    let condition = Arc::new(Condition::new(Log::default()));
    {
        let guard = condition.lock();
        guard.notify(1);
        guard.notify(10);
        guard.notify_all();
    }
    let mut guard = condition.lock();
    let start = Instant::now();
    assert!(
        !guard.wait_timeout(Duration::from_millis(30)),
        "a notify made before the wait woke it"
    );
    assert!(start.elapsed() >= Duration::from_millis(30));
    drop(guard);
    // A waiter that arrives afterwards is woken by the next notify only.
    let handle = waiter(&condition, 1);
    condition.lock().notify(1);
    assert_eq!(woken_after(&condition, 1), vec![1]);
    join_all(vec![handle]);
}

#[test]
fn timeouts_are_not_early_and_wait_reacquires_the_lock() {
    perturb();
    // lock_tests.ConditionTests.test_timeout
    let condition = Arc::new(Condition::new(0u32));
    let timeout = Duration::from_millis(50);
    let barrier = Arc::new(Barrier::new(5));
    let handles: Vec<_> = (0..5)
        .map(|_| {
            let (condition, barrier) = (Arc::clone(&condition), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                let mut guard = condition.lock();
                let start = Instant::now();
                let notified = guard.wait_timeout(timeout);
                let waited = start.elapsed();
                // The lock is ours again: the data can be changed safely.
                *guard += 1;
                (notified, waited)
            })
        })
        .collect();
    for (notified, waited) in join_all(handles) {
        assert!(
            !notified,
            "wait_timeout returned true although nobody notified"
        );
        assert!(waited >= timeout, "wait_timeout returned after {waited:?}");
    }
    assert_eq!(*condition.lock(), 5);

    let mut guard = condition.lock();
    assert!(!guard.wait_timeout(Duration::ZERO));
    assert!(!guard.wait_timeout(Duration::from_millis(5)));
    let other = Arc::clone(&condition);
    assert!(
        within("try_lock", move || other.try_lock().is_none()),
        "after a timed-out wait, another thread could take the lock"
    );
}

#[test]
fn a_timed_out_waiter_does_not_absorb_a_later_notify() {
    perturb();
    let condition = Arc::new(Condition::new(Log::default()));
    let timed = {
        let condition = Arc::clone(&condition);
        thread::spawn(move || {
            let mut log = condition.lock();
            log.entered.push(0);
            log.wait_timeout(Duration::from_millis(20))
        })
    };
    assert!(eventually(|| condition_entered(&condition, 0)));
    let patient = waiter(&condition, 1);
    assert!(
        !join_all(vec![timed])[0],
        "nobody notified the timed waiter"
    );
    condition.lock().notify(1);
    assert_eq!(woken_after(&condition, 1), vec![1]);
    join_all(vec![patient]);
}

#[test]
fn huge_timeouts_mean_no_deadline() {
    perturb();
    // (entered, ready)
    let condition = Arc::new(Condition::new((false, false)));
    let handle = {
        let condition = Arc::clone(&condition);
        thread::spawn(move || {
            let mut guard = condition.lock();
            guard.0 = true;
            let notified = guard.wait_timeout(Duration::MAX);
            let ready = guard.wait_for_timeout(|(_, ready)| *ready, Duration::from_secs(u64::MAX));
            (notified, ready)
        })
    };
    assert!(eventually(|| condition.lock().0), "the waiter never waited");
    condition.lock().notify(1);
    let mut guard = condition.lock();
    guard.1 = true;
    guard.notify_all();
    drop(guard);
    assert_eq!(join_all(vec![handle]), vec![(true, true)]);
}

#[test]
fn wait_for_waits_until_the_predicate_holds() {
    perturb();
    // lock_tests.ConditionTests.test_waitfor
    let condition = Arc::new(Condition::new(0u32));
    let handle = {
        let condition = Arc::clone(&condition);
        thread::spawn(move || {
            let mut guard = condition.lock();
            let mut checks = 0;
            guard.wait_for(|state| {
                checks += 1;
                *state == 4
            });
            (*guard, checks)
        })
    };
    for _ in 0..4 {
        thread::sleep(Duration::from_millis(10));
        let mut guard = condition.lock();
        *guard += 1;
        guard.notify(1);
    }
    let (state, checks) = join_all(vec![handle])[0];
    assert_eq!(state, 4);
    assert!(
        (1..=5).contains(&checks),
        "the predicate ran {checks} times"
    );
}

#[test]
fn wait_for_checks_first() {
    perturb();
    let condition = Condition::new(true);
    let mut guard = condition.lock();
    guard.wait_for(|ready| *ready);
    assert!(guard.wait_for_timeout(|ready| *ready, Duration::ZERO));
    *guard = false;
    assert!(!guard.wait_for_timeout(|ready| *ready, Duration::ZERO));
}

#[test]
fn wait_for_timeout_keeps_one_deadline() {
    perturb();
    // lock_tests.ConditionTests.test_waitfor_timeout, with notifies that keep coming.
    let condition = Arc::new(Condition::new(0u32));
    let timeout = Duration::from_millis(100);
    let done = Arc::new(AtomicUsize::new(0));
    let notifier = {
        let (condition, done) = (Arc::clone(&condition), Arc::clone(&done));
        thread::spawn(move || {
            while done.load(SeqCst) == 0 {
                let mut guard = condition.lock();
                *guard += 1;
                guard.notify_all();
                drop(guard);
                thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let result = within("wait_for_timeout with notifies every 5 ms", {
        let condition = Arc::clone(&condition);
        move || {
            let mut guard = condition.lock();
            let start = Instant::now();
            let mut last = None;
            let held = guard.wait_for_timeout(
                |_| {
                    last = Some(false);
                    false
                },
                timeout,
            );
            (held, last, start.elapsed())
        }
    });
    done.store(1, SeqCst);
    join_all(vec![notifier]);
    let (held, last, waited) = result;
    assert!(!held);
    assert_eq!(
        last,
        Some(false),
        "the result is the predicate's last value"
    );
    assert!(
        waited >= timeout,
        "gave up after {waited:?}, before {timeout:?}"
    );
}

#[test]
fn waiters_do_not_return_without_a_notify() {
    perturb();
    let condition = Arc::new(Condition::new(Log::default()));
    let handles: Vec<_> = (0..3).map(|id| waiter(&condition, id)).collect();
    thread::sleep(Duration::from_millis(50));
    assert!(
        condition.lock().woken.is_empty(),
        "a waiter woke without a notify"
    );
    condition.lock().notify_all();
    assert_eq!(woken_after(&condition, 3).len(), 3);
    join_all(handles);
}

#[test]
fn condition_producers_and_consumers() {
    perturb();
    // A bounded buffer on one Condition: waiters of both kinds, so notify_all.
    const PER_PRODUCER: usize = 500;
    let condition = Arc::new(Condition::new(std::collections::VecDeque::new()));
    let barrier = Arc::new(Barrier::new(6));
    let producers: Vec<_> = (0..3)
        .map(|p| {
            let (condition, barrier) = (Arc::clone(&condition), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                for i in 0..PER_PRODUCER {
                    let mut buffer = condition.lock();
                    buffer.wait_for(|buffer| buffer.len() < 4);
                    buffer.push_back((p, i));
                    buffer.notify_all();
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let (condition, barrier) = (Arc::clone(&condition), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                let mut got = Vec::new();
                for _ in 0..PER_PRODUCER {
                    let mut buffer = condition.lock();
                    buffer.wait_for(|buffer| !buffer.is_empty());
                    assert!(buffer.len() <= 4);
                    got.push(buffer.pop_front().unwrap());
                    buffer.notify_all();
                }
                got
            })
        })
        .collect();
    join_all(producers);
    let mut seen = HashSet::new();
    for got in join_all(consumers) {
        let mut last = [None; 3];
        for (p, i) in got {
            assert!(
                last[p].is_none_or(|l| l < i),
                "producer {p}'s items out of order"
            );
            last[p] = Some(i);
            assert!(seen.insert((p, i)), "item {i} of producer {p} taken twice");
        }
    }
    assert_eq!(seen.len(), 3 * PER_PRODUCER);
}

#[test]
fn queue_is_fifo_with_a_capacity() {
    perturb();
    // test_queue.BaseQueueTestMixin.simple_queue_test
    let queue = BoundedQueue::new(3);
    assert!(queue.is_empty());
    for item in [111, 333, 222] {
        queue.put(item);
    }
    assert_eq!(queue.len(), 3);
    assert_eq!(queue.try_put(444), Err(Full(444)));
    assert_eq!(
        queue.put_timeout(444, Duration::from_millis(10)),
        Err(Full(444))
    );
    assert_eq!(queue.get(), 111);
    assert_eq!(queue.try_put(444), Ok(()));
    assert_eq!(
        [queue.get(), queue.get(), queue.get()],
        [333, 222, 444],
        "not first in, first out"
    );
    assert_eq!(queue.try_get(), None);
    assert_eq!(queue.get_timeout(Duration::from_millis(10)), None);
    assert!(queue.is_empty());
}

#[test]
fn unbounded_queue_never_blocks_a_put() {
    perturb();
    let queue = BoundedQueue::new(0);
    for item in 0..10_000 {
        assert_eq!(queue.try_put(item), Ok(()));
    }
    assert_eq!(queue.len(), 10_000);
    assert_eq!(queue.get(), 0);
}

#[test]
fn put_blocks_while_full_and_get_while_empty() {
    perturb();
    // test_queue.BlockingTestMixin
    let queue = Arc::new(BoundedQueue::new(1));
    queue.put(1);
    let putter = {
        let queue = Arc::clone(&queue);
        thread::spawn(move || queue.put(2))
    };
    thread::sleep(Duration::from_millis(30));
    assert!(
        !putter.is_finished(),
        "put returned while the queue was full"
    );
    assert_eq!(queue.len(), 1);
    assert_eq!(queue.get(), 1);
    join_all(vec![putter]);
    assert_eq!(queue.get(), 2);

    let getter = {
        let queue = Arc::clone(&queue);
        thread::spawn(move || queue.get())
    };
    thread::sleep(Duration::from_millis(30));
    assert!(!getter.is_finished(), "get returned from an empty queue");
    queue.put(3);
    assert_eq!(join_all(vec![getter]), vec![3]);
}

#[test]
fn queue_timeouts_are_not_early() {
    perturb();
    let queue = BoundedQueue::new(1);
    let timeout = Duration::from_millis(40);
    let start = Instant::now();
    assert_eq!(queue.get_timeout(timeout), None);
    assert!(start.elapsed() >= timeout);
    queue.put('a');
    let start = Instant::now();
    assert_eq!(queue.put_timeout('b', timeout), Err(Full('b')));
    assert!(start.elapsed() >= timeout);
    assert_eq!(queue.len(), 1);
}

#[test]
fn timed_get_receives_an_item_put_in_time() {
    perturb();
    let queue = Arc::new(BoundedQueue::new(0));
    let getter = {
        let queue = Arc::clone(&queue);
        thread::spawn(move || queue.get_timeout(Duration::from_secs(30)))
    };
    thread::sleep(Duration::from_millis(10));
    queue.put("item");
    assert_eq!(join_all(vec![getter]), vec![Some("item")]);
    let putter = {
        let queue = Arc::new(BoundedQueue::new(1));
        queue.put(1);
        let other = Arc::clone(&queue);
        let handle = thread::spawn(move || other.put_timeout(2, Duration::MAX));
        thread::sleep(Duration::from_millis(10));
        assert_eq!(queue.get(), 1);
        (queue, handle)
    };
    assert_eq!(join_all(vec![putter.1]), vec![Ok(())]);
    assert_eq!(putter.0.get(), 2);
}

#[test]
fn join_waits_for_every_task_done() {
    perturb();
    // test_queue.BaseQueueTestMixin.queue_join_test
    let queue = Arc::new(BoundedQueue::new(0));
    let total = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (queue, total) = (Arc::clone(&queue), Arc::clone(&total));
            thread::spawn(move || loop {
                let item: usize = queue.get();
                if item == usize::MAX {
                    queue.task_done();
                    return;
                }
                thread::sleep(Duration::from_micros(200));
                total.fetch_add(item, SeqCst);
                queue.task_done();
            })
        })
        .collect();
    for round in 0..2 {
        for item in 0..100 {
            queue.put(item);
        }
        within("join", {
            let queue = Arc::clone(&queue);
            move || queue.join()
        });
        assert_eq!(
            total.load(SeqCst),
            4950 * (round + 1),
            "join returned early"
        );
    }
    queue.put(usize::MAX);
    queue.put(usize::MAX);
    join_all(workers);
    queue.join();
}

#[test]
fn task_done_too_many_times_panics_and_leaves_the_queue_usable() {
    perturb();
    // test_queue.BaseQueueTestMixin.test_queue_task_done
    let queue = BoundedQueue::new(2);
    let result = panic::catch_unwind(AssertUnwindSafe(|| queue.task_done()));
    assert!(
        result.is_err(),
        "task_done on a queue with no task did not panic"
    );
    queue.put(1);
    assert_eq!(queue.get(), 1);
    queue.task_done();
    assert!(panic::catch_unwind(AssertUnwindSafe(|| queue.task_done())).is_err());
    queue.join();
    queue.put(2);
    assert_eq!(queue.len(), 1);
}

#[test]
fn queue_producers_and_consumers_get_every_item_once() {
    perturb();
    const PER_PRODUCER: usize = 1000;
    for capacity in [1, 2, 5] {
        let queue = Arc::new(BoundedQueue::new(capacity));
        let barrier = Arc::new(Barrier::new(7));
        let producers: Vec<_> = (0..3)
            .map(|p| {
                let (queue, barrier) = (Arc::clone(&queue), Arc::clone(&barrier));
                thread::spawn(move || {
                    barrier.wait();
                    for i in 0..PER_PRODUCER {
                        queue.put(Some((p, i)));
                        assert!(queue.len() <= capacity);
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..4)
            .map(|_| {
                let (queue, barrier) = (Arc::clone(&queue), Arc::clone(&barrier));
                thread::spawn(move || {
                    barrier.wait();
                    let mut got = Vec::new();
                    while let Some(item) = queue.get() {
                        got.push(item);
                    }
                    got
                })
            })
            .collect();
        join_all(producers);
        for _ in 0..4 {
            queue.put(None);
        }
        let mut seen = HashSet::new();
        for got in join_all(consumers) {
            let mut last = [None; 3];
            for (p, i) in got {
                assert!(
                    last[p].is_none_or(|l| l < i),
                    "producer {p}'s items out of order"
                );
                last[p] = Some(i);
                assert!(seen.insert((p, i)));
            }
        }
        assert_eq!(seen.len(), 3 * PER_PRODUCER, "capacity {capacity}");
    }
}

#[test]
fn sharing_follows_the_data() {
    perturb();
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Condition<Cell<u32>>>();
    send_sync::<BoundedQueue<Cell<u32>>>();
    send_sync::<Full<u32>>();
    fn error<E: std::error::Error>() {}
    error::<Full<u32>>();
}
