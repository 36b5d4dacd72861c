//! The semantics of `threading.Event` and `threading.Timer`, after CPython's
//! `Lib/test/lock_tests.py` (`EventTests`) and `Lib/test/test_threading.py` (`TimerTests`).
//!
//! Every blocking step runs under a deadline; racing threads start together at a barrier; timing
//! assertions are only "not early" (exact) and "not ignored" (generous).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use event::{Error, Event, Timer};

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

/// The kernel's id of the calling thread (Linux: `/proc/thread-self` is `PID/task/TID`).
fn kernel_tid() -> Option<String> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    Some(link.file_name()?.to_string_lossy().into_owned())
}

/// Whether the thread with kernel id `tid` of this process is asleep in the kernel. Where
/// `/proc` is missing, assume it is (after the grace period of [`wait_until_asleep`]).
fn is_asleep(tid: &Option<String>) -> bool {
    let Some(tid) = tid else { return true };
    std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"))
        .ok()
        .and_then(|stat| {
            let after = &stat[stat.rfind(')')? + 1..];
            after
                .split_whitespace()
                .next()
                .map(|s| s == "S" || s == "D")
        })
        .unwrap_or(false)
}

/// Waits until every thread of `tids` is asleep, twice in a row 20 ms apart (what CPython's
/// tests do with `time.sleep`, without guessing a duration).
fn wait_until_asleep(tids: &[Option<String>]) {
    let deadline = Instant::now() + LIMIT;
    let asleep = || tids.iter().all(is_asleep);
    loop {
        if asleep() {
            thread::sleep(Duration::from_millis(20));
            if asleep() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "waiters never went to sleep");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Starts `n` threads that each wait on `event` (`wait` or `wait_timeout`, alternately) and
/// report whether the wait saw a set; returns once every one of them is asleep.
fn sleeping_waiters(
    event: &Arc<Event>,
    n: usize,
    timeout: Duration,
) -> Vec<thread::JoinHandle<bool>> {
    let (tx, rx) = mpsc::channel();
    let handles = (0..n)
        .map(|i| {
            let (event, tx) = (Arc::clone(event), tx.clone());
            thread::spawn(move || {
                tx.send(kernel_tid()).unwrap();
                if i % 2 == 0 {
                    event.wait_timeout(timeout)
                } else {
                    event.wait();
                    true
                }
            })
        })
        .collect();
    let tids: Vec<_> = (0..n).map(|_| rx.recv_timeout(LIMIT).unwrap()).collect();
    wait_until_asleep(&tids);
    handles
}

fn join_all<T: Send + 'static>(handles: Vec<thread::JoinHandle<T>>) -> Vec<T> {
    within("joining the waiters", move || {
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn is_set_follows_set_and_clear() {
    perturb();
    let event = Event::default();
    assert!(!event.is_set());
    event.set();
    assert!(event.is_set());
    event.set();
    assert!(event.is_set());
    event.clear();
    assert!(!event.is_set());
    event.clear();
    assert!(!event.is_set());
}

#[test]
fn set_wakes_every_waiter_and_wait_returns_at_once_when_set() {
    perturb();
    // lock_tests.EventTests._check_notify, run twice like test_notify (with a clear between).
    let event = Arc::new(Event::new());
    for _ in 0..2 {
        let waiters = sleeping_waiters(&event, 6, LIMIT * 2);
        event.set();
        assert!(join_all(waiters).into_iter().all(|woke| woke));
        // A waiter arriving after the set returns at once.
        assert!(event.wait_timeout(Duration::ZERO));
        within("wait on a set event", {
            let event = Arc::clone(&event);
            move || event.wait()
        });
        event.clear();
    }
}

#[test]
fn set_followed_by_clear_still_wakes_every_waiter() {
    perturb();
    // lock_tests.EventTests.test_set_and_clear (bpo-13502).
    let event = Arc::new(Event::new());
    for _ in 0..5 {
        let waiters = sleeping_waiters(&event, 5, LIMIT * 2);
        event.set();
        event.clear();
        assert!(
            join_all(waiters).into_iter().all(|woke| woke),
            "a waiter missed a set that was cleared at once"
        );
        assert!(!event.is_set());
    }
}

#[test]
fn timeouts_are_not_early_and_report_false() {
    perturb();
    // lock_tests.EventTests.test_timeout
    let event = Arc::new(Event::new());
    assert!(!event.wait_timeout(Duration::ZERO));
    let timeout = Duration::from_millis(50);
    let barrier = Arc::new(Barrier::new(5));
    let waiters: Vec<_> = (0..5)
        .map(|_| {
            let (event, barrier) = (Arc::clone(&event), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                let woke = event.wait_timeout(timeout);
                (woke, start.elapsed())
            })
        })
        .collect();
    for (woke, waited) in join_all(waiters) {
        assert!(
            !woke,
            "wait_timeout returned true although nobody set the event"
        );
        assert!(
            waited >= timeout,
            "wait_timeout returned after {waited:?}, before its {timeout:?}"
        );
    }
    // Once set, a timed wait is true at once.
    event.set();
    let start = Instant::now();
    assert!(event.wait_timeout(Duration::from_secs(100)));
    assert!(start.elapsed() < LIMIT);
}

#[test]
fn timeout_is_not_ignored() {
    perturb();
    let event = Event::new();
    let start = Instant::now();
    assert!(!event.wait_timeout(Duration::from_millis(20)));
    assert!(
        start.elapsed() < LIMIT,
        "a 20 ms timeout took {:?}",
        start.elapsed()
    );
}

#[test]
fn huge_timeout_means_no_deadline() {
    perturb();
    let event = Arc::new(Event::new());
    let waiters = sleeping_waiters(&event, 2, Duration::MAX);
    event.set();
    assert!(join_all(waiters).into_iter().all(|woke| woke));
    assert!(event.wait_timeout(Duration::MAX));
    assert!(event.wait_timeout(Duration::from_secs(u64::MAX)));
}

#[test]
fn set_publishes_what_the_setter_wrote() {
    perturb();
    let event = Arc::new(Event::new());
    let data = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (event, data) = (Arc::clone(&event), Arc::clone(&data));
        thread::spawn(move || {
            event.wait();
            data.load(std::sync::atomic::Ordering::Relaxed)
        })
    };
    data.store(42, std::sync::atomic::Ordering::Relaxed);
    event.set();
    assert_eq!(join_all(vec![reader]), vec![42]);
}

#[test]
fn many_generations_with_one_waiter_each() {
    perturb();
    // A waiter of generation g is released by set g, whatever the interleaving with clear.
    let event = Arc::new(Event::new());
    for _ in 0..200 {
        let waiter = {
            let event = Arc::clone(&event);
            thread::spawn(move || event.wait_timeout(LIMIT * 2))
        };
        event.set();
        assert!(join_all(vec![waiter])[0]);
        event.clear();
    }
}

#[test]
fn error_is_a_proper_error() {
    perturb();
    fn assert_error<E: std::error::Error + Copy + Eq + Send + Sync + 'static>(_: E) {}
    assert_error(Error::AlreadyStarted);
    assert!(!Error::AlreadyStarted.to_string().is_empty());
}

#[test]
fn event_and_timer_are_send_and_sync() {
    perturb();
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Event>();
    assert_send_sync::<Timer>();
}

/// A timer whose action records when it ran and how many times.
fn counting_timer(interval: Duration) -> (Timer, Arc<AtomicUsize>) {
    let runs = Arc::new(AtomicUsize::new(0));
    let timer = {
        let runs = Arc::clone(&runs);
        Timer::new(interval, move || {
            runs.fetch_add(1, SeqCst);
        })
    };
    (timer, runs)
}

#[test]
fn timer_fires_once_after_its_interval() {
    perturb();
    let interval = Duration::from_millis(40);
    let fired_at = Arc::new(std::sync::Mutex::new(None));
    let timer = {
        let fired_at = Arc::clone(&fired_at);
        Arc::new(Timer::new(interval, move || {
            *fired_at.lock().unwrap() = Some(Instant::now());
        }))
    };
    assert!(!timer.fired());
    let start = Instant::now();
    timer.start().unwrap();
    within("Timer::join", {
        let timer = Arc::clone(&timer);
        move || timer.join()
    });
    let at = fired_at
        .lock()
        .unwrap()
        .expect("join returned before the action ran");
    assert!(
        at - start >= interval,
        "fired after {:?}, before its {interval:?}",
        at - start
    );
    assert!(timer.fired());
    // Joining again returns at once; cancelling a fired timer changes nothing.
    timer.join();
    timer.cancel();
    assert!(timer.fired());
}

#[test]
fn timer_join_waits_for_the_end_of_the_action() {
    perturb();
    let done = Arc::new(AtomicBool::new(false));
    let timer = {
        let done = Arc::clone(&done);
        Timer::new(Duration::ZERO, move || {
            thread::sleep(Duration::from_millis(30));
            done.store(true, SeqCst);
        })
    };
    timer.start().unwrap();
    let timer = within("Timer::join", move || {
        timer.join();
        timer
    });
    assert!(
        done.load(SeqCst),
        "join returned while the action was still running"
    );
    assert!(timer.fired());
}

#[test]
fn timer_starts_only_once_even_when_raced() {
    perturb();
    for _ in 0..50 {
        let (timer, runs) = counting_timer(Duration::ZERO);
        let timer = Arc::new(timer);
        let barrier = Arc::new(Barrier::new(2));
        let starters: Vec<_> = (0..2)
            .map(|_| {
                let (timer, barrier) = (Arc::clone(&timer), Arc::clone(&barrier));
                thread::spawn(move || {
                    barrier.wait();
                    timer.start()
                })
            })
            .collect();
        let results = join_all(starters);
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{results:?}"
        );
        assert!(results.contains(&Err(Error::AlreadyStarted)));
        within("Timer::join", {
            let timer = Arc::clone(&timer);
            move || timer.join()
        });
        assert_eq!(runs.load(SeqCst), 1);
    }
}

#[test]
fn timer_cancelled_before_it_fires_never_runs() {
    perturb();
    let (timer, runs) = counting_timer(Duration::from_millis(100));
    let timer = Arc::new(timer);
    timer.start().unwrap();
    timer.cancel();
    within("Timer::join after cancel", {
        let timer = Arc::clone(&timer);
        move || timer.join()
    });
    thread::sleep(Duration::from_millis(200));
    assert_eq!(runs.load(SeqCst), 0, "a cancelled timer ran its action");
    assert!(!timer.fired());
}

#[test]
fn timer_cancelled_before_start_never_runs() {
    perturb();
    let (timer, runs) = counting_timer(Duration::ZERO);
    timer.cancel();
    assert_eq!(timer.start(), Ok(()));
    assert_eq!(timer.start(), Err(Error::AlreadyStarted));
    timer.join();
    thread::sleep(Duration::from_millis(50));
    assert_eq!(runs.load(SeqCst), 0);
    assert!(!timer.fired());
}

#[test]
fn timer_with_a_huge_interval_can_be_cancelled() {
    perturb();
    let (timer, runs) = counting_timer(Duration::MAX);
    let timer = Arc::new(timer);
    timer.start().unwrap();
    thread::sleep(Duration::from_millis(10));
    timer.cancel();
    within("Timer::join after cancel", {
        let timer = Arc::clone(&timer);
        move || timer.join()
    });
    assert_eq!(runs.load(SeqCst), 0);
}

#[test]
fn cancel_racing_the_timer_is_all_or_nothing() {
    perturb();
    // Whoever wins, the action runs at most once, `fired` says whether it did, and join returns.
    for round in 0..200u64 {
        let (timer, runs) = counting_timer(Duration::from_micros(round % 7 * 100));
        let timer = Arc::new(timer);
        timer.start().unwrap();
        thread::sleep(Duration::from_micros(round % 5 * 150));
        timer.cancel();
        let timer = within("Timer::join", move || {
            timer.join();
            timer
        });
        let ran = runs.load(SeqCst);
        assert!(ran <= 1);
        assert_eq!(timer.fired(), ran == 1);
    }
}
