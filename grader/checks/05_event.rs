//! Hidden checks of 05_event: `Event` (every waiter wakes on `set`, even if `clear` follows at
//! once; timed waits neither early nor spurious) and `Timer` (fires once, never early; cancel
//! wins before firing; join waits for the action).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use event::{Error, Event, Timer};
use harness::{
    ensure, ensure_eq, explore, fail, join_all, wait_asleep, wait_until, within, KernelTid, Trial,
    Usage, Worker,
};

/// Context switches the whole process may make while its waiters should all be asleep (300 ms):
/// sleeping threads make none and the measuring thread's own sleep makes one, while a waiter
/// that polls, even with naps of 50 ms, makes several each.
const POLLING: u64 = 20;

/// How long a call that should return may block before the check calls it a deadlock.
const LIMIT: Duration = Duration::from_secs(3);
/// Long enough to never expire during a trial ("no timeout" for practical purposes).
const LONG: Duration = Duration::from_secs(60);
/// How hard the backend perturbs the schedule while woken waiters run.
const PERTURB: u32 = 150;

// ---------------------------------------------------------------------------------------------
// Knowing that waiters are asleep.

/// `n` threads blocked in `Event::wait` or `Event::wait_timeout(LONG)`.
struct Waiters {
    handles: Vec<Worker<bool>>,
    /// How many have returned.
    returned: Arc<AtomicUsize>,
    n: usize,
}

impl Waiters {
    /// Starts `n` waiters (each `wait` or `wait_timeout(LONG)`, at random) with the backend's
    /// perturbation off, and returns once all of them sleep in the kernel.
    fn asleep(t: &mut Trial, event: &Arc<Event>, n: usize) -> Waiters {
        t.perturb(0);
        let returned = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = std::sync::mpsc::channel();
        let handles = (0..n)
            .map(|_| {
                let timed = t.rng().bool();
                let (event, returned, tx) = (Arc::clone(event), Arc::clone(&returned), tx.clone());
                harness::spawn(move || {
                    tx.send(KernelTid::current()).unwrap();
                    let woke = if timed {
                        event.wait_timeout(LONG)
                    } else {
                        event.wait();
                        true
                    };
                    returned.fetch_add(1, SeqCst);
                    woke
                })
            })
            .collect();
        let tids: Vec<_> = (0..n).map(|_| rx.recv().unwrap()).collect();
        let early = returned.load(SeqCst);
        ensure!(
            early == 0,
            "{early} of {n} threads returned from wait on an event that was never set"
        );
        ensure!(
            wait_asleep(&tids, LIMIT),
            "{n} threads waiting on a clear event did not all go to sleep within {LIMIT:?} \
             (busy-waiting instead of sleeping on a futex?)"
        );
        Waiters {
            handles,
            returned,
            n,
        }
    }

    /// Waits until every waiter returned; fails with `what` if some did not.
    fn expect_all_return(self, what: &str) -> Vec<bool> {
        let Waiters {
            handles,
            returned,
            n,
        } = self;
        if !wait_until(LIMIT, || returned.load(SeqCst) == n) {
            fail!(
                "{what}: only {} of {n} sleeping waiters returned within {LIMIT:?}",
                returned.load(SeqCst)
            );
        }
        join_all(handles)
    }
}

// ---------------------------------------------------------------------------------------------
// Event: functionality.

fn event_basics(_t: &mut Trial) {
    let event = Event::default();
    ensure!(!event.is_set(), "Event::default() starts with the flag set");
    let event = Arc::new(Event::new());
    ensure!(!event.is_set(), "Event::new() starts with the flag set");
    ensure!(
        !event.wait_timeout(Duration::ZERO),
        "wait_timeout(0) returned true on a clear event"
    );
    event.set();
    ensure!(event.is_set(), "is_set() is false right after set()");
    event.set();
    ensure!(
        event.is_set(),
        "is_set() is false after setting a set event again"
    );
    ensure!(
        event.wait_timeout(Duration::ZERO),
        "wait_timeout(0) returned false on a set event"
    );
    ensure!(
        event.wait_timeout(Duration::from_millis(50)),
        "wait_timeout returned false on a set event"
    );
    within(LIMIT, "Event::wait on a set event", {
        let event = Arc::clone(&event);
        move || event.wait()
    });
    let other = {
        let event = Arc::clone(&event);
        within(LIMIT, "Event::is_set on another thread", move || {
            event.is_set()
        })
    };
    ensure!(other, "another thread sees is_set() false after set()");
    event.clear();
    ensure!(!event.is_set(), "is_set() is true right after clear()");
    event.clear();
    ensure!(
        !event.is_set(),
        "is_set() is true after clearing a clear event again"
    );
    ensure!(
        !event.wait_timeout(Duration::ZERO),
        "wait_timeout(0) returned true after clear()"
    );
    event.set();
    ensure!(
        event.is_set(),
        "is_set() is false after set(), clear(), set()"
    );
}

fn set_wakes_every_waiter(t: &mut Trial) {
    let event = Arc::new(Event::new());
    let n = t.rng().usize(2..=8);
    let waiters = Waiters::asleep(t, &event, n);
    t.perturb(PERTURB);
    event.set();
    let woke = waiters.expect_all_return("set() must wake every waiter");
    let missed = woke.iter().filter(|&&w| !w).count();
    ensure!(
        missed == 0,
        "{missed} of {n} waiters woken by set() returned false from wait_timeout"
    );
    ensure!(
        event.is_set(),
        "is_set() is false after set() woke the waiters"
    );
}

/// A timed waiter that gives up must not erase the sign that others sleep on the event: with a
/// wait() asleep beside wait_timeout() calls that time out, set() must still wake it. The
/// backend's perturbation stays off: its spurious wake-ups would hide a lost wake-up.
fn timed_out_waiter_keeps_others_wakeable(t: &mut Trial) {
    let timeout = Duration::from_millis(t.rng().u64(30..=60));
    // One timed waiter beside the untimed one, asleep before or after it; then a few.
    let scenarios = [
        (true, 1),
        (false, 1),
        (t.rng().bool(), t.rng().usize(2..=3)),
    ];
    within(LIMIT * 6, "timed and untimed waiters", move || {
        for (untimed_first, timed) in scenarios {
            let event = Arc::new(Event::new());
            let beside = harness::timed_beside_untimed(
                untimed_first,
                timed,
                timeout,
                LIMIT,
                {
                    let event = Arc::clone(&event);
                    move || event.wait()
                },
                {
                    let event = Arc::clone(&event);
                    move |timeout| event.wait_timeout(timeout)
                },
            );
            ensure!(
                beside.timed_results.iter().all(|got| !got),
                "wait_timeout() returned true on an event nobody set"
            );
            event.set();
            let order = beside.order;
            if !beside.woken(LIMIT) {
                fail!(
                    "a thread blocked in wait() was never woken: set() was {LIMIT:?} ago, after \
                     {timed} wait_timeout() call(s) timed out beside it ({order}). A waiter \
                     that gives up must not erase the sign that others sleep on the event (e.g. \
                     count itself out of the waiters twice, or reset their count), or set() \
                     wakes nobody"
                );
            }
        }
    });
}

fn set_then_clear_wakes_every_waiter(t: &mut Trial) {
    let event = Arc::new(Event::new());
    for round in 0..2 {
        let n = t.rng().usize(2..=6);
        let waiters = Waiters::asleep(t, &event, n);
        event.set();
        event.clear();
        t.perturb(PERTURB);
        let woke = waiters.expect_all_return(&format!(
            "round {round}: set() immediately followed by clear() (a waiter asleep during a set() \
             must return true even if the flag is down again when it runs: remember that a set \
             happened, e.g. with a generation counter)"
        ));
        let missed = woke.iter().filter(|&&w| !w).count();
        ensure!(
            missed == 0,
            "round {round}: {missed} of {n} waiters asleep during set() returned false from \
             wait_timeout because clear() followed before they ran"
        );
        ensure!(!event.is_set(), "is_set() is true after set() then clear()");
    }
    // Then clear() races set(): a clear() that is not one atomic step (a load, then a store
    // computed from it) can undo a set() that lands in between, and its waiters sleep on.
    for round in 0..RACING_ROUNDS {
        event.clear();
        let n = t.rng().usize(2..=4);
        let waiters = Waiters::asleep(t, &event, n);
        t.perturb(PERTURB);
        let start = Arc::new(Barrier::new(CLEARERS + 1));
        let setting = Arc::new(AtomicBool::new(true));
        let clearers: Vec<_> = (0..CLEARERS)
            .map(|_| {
                let (event, start, setting) =
                    (Arc::clone(&event), Arc::clone(&start), Arc::clone(&setting));
                harness::spawn(move || {
                    start.wait();
                    while setting.load(SeqCst) {
                        event.clear();
                    }
                    event.clear();
                })
            })
            .collect();
        let delay = t.rng().u32(0..400);
        start.wait();
        for _ in 0..delay {
            std::hint::spin_loop();
        }
        event.set();
        setting.store(false, SeqCst);
        harness::join_all_within(LIMIT, "the threads calling clear()", clearers);
        let woke = waiters.expect_all_return(&format!(
            "racing round {round}: set() while another thread called clear() again and again \
             (clear() must lower the flag in one atomic step: a load followed by a store can \
             undo a set() that lands in between, and the waiters it woke sleep on)"
        ));
        let missed = woke.iter().filter(|&&w| !w).count();
        ensure!(
            missed == 0,
            "racing round {round}: {missed} of {n} waiters asleep during set() returned false \
             from wait_timeout"
        );
    }
}

/// Rounds of `set_then_clear_wakes_every_waiter` in which clear() races set().
const RACING_ROUNDS: usize = 4;
/// Threads calling clear() in a loop while set() happens: each is a chance to land in the gap.
const CLEARERS: usize = 2;

fn wait_timeout_semantics(t: &mut Trial) {
    // On a clear event: false, not before the timeout, not much after.
    let event = Arc::new(Event::new());
    for _ in 0..3 {
        let timeout = Duration::from_millis(t.rng().u64(5..40));
        let (woke, waited) = within(LIMIT, "wait_timeout on a clear event", {
            let event = Arc::clone(&event);
            move || {
                let start = Instant::now();
                (event.wait_timeout(timeout), start.elapsed())
            }
        });
        ensure!(
            !woke,
            "wait_timeout({timeout:?}) returned true on an event nobody set"
        );
        ensure!(
            waited >= timeout,
            "wait_timeout({timeout:?}) returned false after {waited:?}, before its timeout"
        );
    }
    ensure!(
        !event.wait_timeout(Duration::ZERO),
        "wait_timeout(0) returned true on a clear event"
    );
    // A set during a long timed wait: true, long before the timeout.
    let setter = {
        let event = Arc::clone(&event);
        let delay = Duration::from_millis(t.rng().u64(1..20));
        harness::spawn(move || {
            thread::sleep(delay);
            event.set();
        })
    };
    let woke = within(LIMIT, "wait_timeout(60 s) while another thread sets", {
        let event = Arc::clone(&event);
        move || event.wait_timeout(LONG)
    });
    join_all([setter]);
    ensure!(
        woke,
        "wait_timeout returned false although set() happened during the wait"
    );
}

// ---------------------------------------------------------------------------------------------
// Event: robustness and stress.

fn huge_timeouts(_t: &mut Trial) {
    for huge in [Duration::MAX, Duration::from_secs(u64::MAX)] {
        let event = Arc::new(Event::new());
        let waiter = {
            let event = Arc::clone(&event);
            harness::spawn(move || event.wait_timeout(huge))
        };
        thread::sleep(Duration::from_millis(10));
        event.set();
        let woke = within(
            LIMIT,
            "wait_timeout(Duration::MAX) after set()",
            move || join_all([waiter]),
        );
        ensure!(
            woke[0],
            "wait_timeout({huge:?}) returned false although set() happened"
        );
        ensure!(
            event.wait_timeout(huge),
            "wait_timeout({huge:?}) returned false on a set event"
        );
    }
    // A timer that would never fire can still be cancelled and joined.
    let ran = Arc::new(AtomicBool::new(false));
    let timer = {
        let ran = Arc::clone(&ran);
        Arc::new(Timer::new(Duration::MAX, move || ran.store(true, SeqCst)))
    };
    ensure!(timer.start().is_ok(), "Timer::start failed on a new timer");
    thread::sleep(Duration::from_millis(10));
    timer.cancel();
    within(
        LIMIT,
        "Timer::join after cancel (interval Duration::MAX)",
        {
            let timer = Arc::clone(&timer);
            move || timer.join()
        },
    );
    ensure!(
        !ran.load(SeqCst) && !timer.fired(),
        "a cancelled timer with interval Duration::MAX ran its action"
    );
}

fn no_spurious_results(t: &mut Trial) {
    // Spurious futex returns are frequent under this check's perturbation: a wait must never
    // report them as a set, nor return early.
    let event = Arc::new(Event::new());
    let returned = Arc::new(AtomicUsize::new(0));
    let sleepers: Vec<_> = (0..2)
        .map(|_| {
            let (event, returned) = (Arc::clone(&event), Arc::clone(&returned));
            harness::spawn(move || {
                event.wait();
                returned.fetch_add(1, SeqCst);
            })
        })
        .collect();
    let timed: Vec<_> = (0..t.rng().usize(3..=6))
        .map(|_| {
            let event = Arc::clone(&event);
            let timeouts: Vec<_> = (0..8)
                .map(|_| Duration::from_micros(t.rng().u64(500..4000)))
                .collect();
            harness::spawn(move || {
                for timeout in timeouts {
                    let start = Instant::now();
                    let woke = event.wait_timeout(timeout);
                    let waited = start.elapsed();
                    ensure!(
                        !woke,
                        "wait_timeout({timeout:?}) returned true on an event nobody set \
                         (a futex wake-up may be spurious: re-check the state)"
                    );
                    ensure!(
                        waited >= timeout,
                        "wait_timeout({timeout:?}) returned after {waited:?}, before its \
                         timeout (after a spurious wake-up, wait for the time left)"
                    );
                }
            })
        })
        .collect();
    within(LIMIT * 2, "timed waits on a clear event", move || {
        join_all(timed)
    });
    let early = returned.load(SeqCst);
    ensure!(
        early == 0,
        "{early} of 2 threads returned from wait() on an event nobody set (spurious wake-up \
         taken for a set)"
    );
    event.set();
    within(LIMIT, "wait() after set()", move || join_all(sleepers));
}

fn wake_all_stress(t: &mut Trial) {
    // Rounds on one event: the waiters block, the event is set at a random moment, every waiter
    // must get through, the event is cleared, and the next round begins.
    let event = Arc::new(Event::new());
    let n = t.rng().usize(2..=6);
    let rounds = 25;
    let start = Arc::new(Barrier::new(n + 1));
    let end = Arc::new(Barrier::new(n + 1));
    let arrived = Arc::new(AtomicUsize::new(0));
    let waiters: Vec<_> = (0..n)
        .map(|i| {
            let (event, start, end, arrived) = (
                Arc::clone(&event),
                Arc::clone(&start),
                Arc::clone(&end),
                Arc::clone(&arrived),
            );
            harness::spawn(move || {
                for round in 0..rounds {
                    start.wait();
                    if (i + round) % 2 == 0 {
                        event.wait();
                    } else {
                        ensure!(
                            event.wait_timeout(LONG),
                            "round {round}: wait_timeout returned false although set() happened"
                        );
                    }
                    arrived.fetch_add(1, SeqCst);
                    end.wait();
                }
            })
        })
        .collect();
    for round in 0..rounds {
        start.wait();
        for _ in 0..t.rng().usize(0..200) {
            std::hint::spin_loop();
        }
        event.set();
        if !wait_until(LIMIT, || arrived.load(SeqCst) == n * (round + 1)) {
            fail!(
                "round {round}: set() released only {} of {n} waiters within {LIMIT:?}",
                arrived.load(SeqCst) - n * round
            );
        }
        event.clear();
        end.wait();
    }
    within(LIMIT, "the waiters' end", move || join_all(waiters));
}

// ---------------------------------------------------------------------------------------------
// Timer.

/// Releases `n` threads at the same instant: they spin until the last one arrives, so that
/// their racing calls really overlap (a sleeping barrier wakes its threads one at a time).
struct StartLine {
    arrived: AtomicUsize,
    n: usize,
}

impl StartLine {
    fn new(n: usize) -> Arc<StartLine> {
        Arc::new(StartLine {
            arrived: AtomicUsize::new(0),
            n,
        })
    }

    fn wait(&self) {
        self.arrived.fetch_add(1, SeqCst);
        let mut spins = 0u32;
        while self.arrived.load(SeqCst) < self.n {
            spins += 1;
            if spins % 1024 == 0 {
                thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

/// A timer whose action counts its runs, records when it started, and sleeps `busy` before
/// recording that it finished.
struct Probe {
    runs: Arc<AtomicUsize>,
    started_at: Arc<Mutex<Option<Instant>>>,
    finished: Arc<AtomicBool>,
}

fn probe_timer(interval: Duration, busy: Duration) -> (Arc<Timer>, Probe) {
    let probe = Probe {
        runs: Arc::new(AtomicUsize::new(0)),
        started_at: Arc::new(Mutex::new(None)),
        finished: Arc::new(AtomicBool::new(false)),
    };
    let (runs, started_at, finished) = (
        Arc::clone(&probe.runs),
        Arc::clone(&probe.started_at),
        Arc::clone(&probe.finished),
    );
    let timer = Timer::new(interval, move || {
        started_at.lock().unwrap().get_or_insert(Instant::now());
        runs.fetch_add(1, SeqCst);
        if !busy.is_zero() {
            thread::sleep(busy);
        }
        finished.store(true, SeqCst);
    });
    (Arc::new(timer), probe)
}

fn join_timer(timer: &Arc<Timer>, what: &str) {
    let timer = Arc::clone(timer);
    within(LIMIT, what, move || timer.join());
}

fn timer_fires_after_interval(t: &mut Trial) {
    let interval = Duration::from_millis(t.rng().u64(10..40));
    let (timer, probe) = probe_timer(interval, Duration::from_millis(15));
    ensure!(!timer.fired(), "fired() is true before start()");
    // Some time passes between creating and starting: the interval counts from start().
    thread::sleep(Duration::from_millis(t.rng().u64(20..40)));
    ensure!(
        probe.runs.load(SeqCst) == 0,
        "the action ran before start()"
    );
    let started = Instant::now();
    ensure!(timer.start().is_ok(), "Timer::start failed on a new timer");
    ensure_eq!(
        timer.start(),
        Err(Error::AlreadyStarted),
        "the second start() of a timer"
    );
    join_timer(&timer, "Timer::join");
    ensure!(
        probe.finished.load(SeqCst),
        "join() returned before the action had finished running"
    );
    ensure!(timer.fired(), "fired() is false after the action has run");
    let at = probe.started_at.lock().unwrap().expect("the action ran");
    let after = at.saturating_duration_since(started);
    ensure!(
        after >= interval,
        "the action ran {after:?} after start(), before the {interval:?} interval"
    );
    thread::sleep(Duration::from_millis(20));
    let runs = probe.runs.load(SeqCst);
    ensure_eq!(runs, 1, "runs of the action of one timer");
    timer.cancel();
    ensure!(
        timer.fired(),
        "cancel() after the action ran made fired() false"
    );
    join_timer(&timer, "a second Timer::join");

    // Two threads race to start one timer: exactly one succeeds.
    let (timer, probe) = probe_timer(Duration::ZERO, Duration::ZERO);
    let line = StartLine::new(2);
    let starters: Vec<_> = (0..2)
        .map(|_| {
            let (timer, line) = (Arc::clone(&timer), Arc::clone(&line));
            harness::spawn(move || {
                line.wait();
                timer.start()
            })
        })
        .collect();
    let results = within(LIMIT, "two racing Timer::start", move || join_all(starters));
    ensure!(
        results.iter().filter(|r| r.is_ok()).count() == 1
            && results.contains(&Err(Error::AlreadyStarted)),
        "two threads racing to start one timer got {results:?} (exactly one must succeed)"
    );
    join_timer(&timer, "Timer::join");
    thread::sleep(Duration::from_millis(5));
    ensure_eq!(
        probe.runs.load(SeqCst),
        1,
        "runs of the action of a timer started by two racing threads"
    );
}

fn timer_cancel(t: &mut Trial) {
    // Cancelled before start: never runs, join returns.
    let (timer, probe) = probe_timer(Duration::ZERO, Duration::ZERO);
    timer.cancel();
    let _ = timer.start();
    join_timer(&timer, "Timer::join of a timer cancelled before start");
    // Cancelled while waiting: join returns at once (not after the interval), never runs.
    let interval = Duration::from_millis(t.rng().u64(40..80));
    let (soon, soon_probe) = probe_timer(interval, Duration::ZERO);
    let (late, late_probe) = probe_timer(LONG, Duration::ZERO);
    ensure!(soon.start().is_ok(), "Timer::start failed on a new timer");
    ensure!(late.start().is_ok(), "Timer::start failed on a new timer");
    thread::sleep(Duration::from_millis(t.rng().u64(0..10)));
    soon.cancel();
    late.cancel();
    join_timer(&soon, "Timer::join after cancel");
    join_timer(
        &late,
        "Timer::join after cancel of a 60 s timer (cancel must end the wait)",
    );
    thread::sleep(interval + Duration::from_millis(40));
    for (what, timer, probe) in [
        ("cancelled before start()", &timer, &probe),
        ("cancelled before its interval", &soon, &soon_probe),
        ("with a 60 s interval cancelled", &late, &late_probe),
    ] {
        let runs = probe.runs.load(SeqCst);
        ensure!(runs == 0, "a timer {what} ran its action {runs} time(s)");
        ensure!(!timer.fired(), "fired() is true for a timer {what}");
    }
}

fn timer_races(t: &mut Trial) {
    // Three threads race to start one timer, many times: exactly one start succeeds.
    for _ in 0..30 {
        let (timer, probe) = probe_timer(Duration::ZERO, Duration::ZERO);
        let line = StartLine::new(3);
        let starters: Vec<_> = (0..3)
            .map(|_| {
                let (timer, line) = (Arc::clone(&timer), Arc::clone(&line));
                harness::spawn(move || {
                    line.wait();
                    timer.start().is_ok()
                })
            })
            .collect();
        let started = within(LIMIT, "racing Timer::start", move || join_all(starters));
        let oks = started.iter().filter(|&&ok| ok).count();
        ensure!(
            oks == 1,
            "three threads racing to start one timer: {oks} succeeded (exactly one must: \
             checking and marking 'started' must be one atomic step)"
        );
        join_timer(&timer, "Timer::join");
        let runs = probe.runs.load(SeqCst);
        ensure!(
            runs == 1,
            "a timer started by racing threads ran its action {runs} times"
        );
    }
    // Timers started by racing threads, cancelled at random moments, joined by two threads:
    // the action runs at most once, fired() tells whether it did, join always returns.
    for i in 0..20 {
        let interval = Duration::from_micros(t.rng().u64(0..2000));
        let (timer, probe) = probe_timer(interval, Duration::ZERO);
        let cancel_first = i % 4 == 0;
        if cancel_first {
            timer.cancel();
        }
        let cancel_after = Duration::from_micros(t.rng().u64(0..2500));
        let line = StartLine::new(3);
        let starters: Vec<_> = (0..2)
            .map(|_| {
                let (timer, line) = (Arc::clone(&timer), Arc::clone(&line));
                harness::spawn(move || {
                    line.wait();
                    timer.start().is_ok()
                })
            })
            .collect();
        let canceller = {
            let (timer, line) = (Arc::clone(&timer), Arc::clone(&line));
            harness::spawn(move || {
                line.wait();
                thread::sleep(cancel_after);
                timer.cancel();
            })
        };
        let started = within(LIMIT, "racing Timer::start", move || join_all(starters));
        let oks = started.iter().filter(|&&ok| ok).count();
        ensure!(
            oks == 1 || (cancel_first && oks <= 1),
            "two threads racing to start one timer: {oks} succeeded (exactly one must)"
        );
        within(LIMIT, "Timer::cancel", move || join_all([canceller]));
        let joiners: Vec<_> = (0..2)
            .map(|_| {
                let timer = Arc::clone(&timer);
                harness::spawn(move || timer.join())
            })
            .collect();
        within(LIMIT, "two threads joining a timer", move || {
            join_all(joiners)
        });
        let runs = probe.runs.load(SeqCst);
        ensure!(runs <= 1, "one timer ran its action {runs} times");
        ensure!(
            !(cancel_first && runs > 0),
            "a timer cancelled before start() ran its action"
        );
        ensure_eq!(
            timer.fired(),
            runs == 1,
            "fired() after join (the action ran {runs} time(s))"
        );
        if runs == 1 {
            ensure!(
                probe.finished.load(SeqCst),
                "join() returned before the action had finished"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Performance.

fn waiters_sleep(t: &mut Trial) {
    let event = Arc::new(Event::new());
    let waiters = {
        t.perturb(0);
        let returned = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = std::sync::mpsc::channel();
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let (event, returned, tx) = (Arc::clone(&event), Arc::clone(&returned), tx.clone());
                harness::spawn(move || {
                    tx.send(KernelTid::current()).unwrap();
                    if i % 2 == 0 {
                        event.wait();
                    } else {
                        event.wait_timeout(LONG);
                    }
                    returned.fetch_add(1, SeqCst);
                })
            })
            .collect();
        let tids: Vec<_> = (0..4).map(|_| rx.recv().unwrap()).collect();
        (handles, tids)
    };
    let timers: Vec<_> = (0..2)
        .map(|_| {
            let timer = Arc::new(Timer::new(LONG, || {}));
            ensure!(timer.start().is_ok(), "Timer::start failed on a new timer");
            timer
        })
        .collect();
    // Whether or not they fall asleep, measure: a spinner shows in the CPU time.
    wait_asleep(&waiters.1, Duration::from_secs(1));
    let window = Duration::from_millis(300);
    let before = Usage::now();
    thread::sleep(window);
    let used = Usage::now().since(before);
    event.set();
    for timer in &timers {
        timer.cancel();
    }
    within(LIMIT, "waiters after set()", move || join_all(waiters.0));
    ensure!(
        used.cpu <= Duration::from_millis(60),
        "4 threads blocked on an Event and 2 pending Timers used {:?} of CPU in {window:?} \
         (blocked threads must sleep on a futex, not spin)",
        used.cpu
    );
    ensure!(
        used.context_switches <= POLLING,
        "4 threads blocked on an Event and 2 pending Timers made {} context switches in \
         {window:?} (polling with short sleeps instead of sleeping until woken?)",
        used.context_switches
    );
}

// Explored scenarios (see `harness::explore`): a few threads and operations, run under the
// schedules an exploration chooses, where every operation on the event is a scheduling point.

/// Two threads wait while a third sets the event: both must return, whenever each began.
fn set_wakes_scenario() {
    let event = Arc::new(Event::new());
    let mut workers: Vec<_> = (0..2)
        .map(|_| {
            let event = Arc::clone(&event);
            explore::spawn(move || event.wait())
        })
        .collect();
    let setter = Arc::clone(&event);
    workers.push(explore::spawn(move || setter.set()));
    explore::join_all(workers);
    ensure!(event.is_set(), "is_set() after set() with no clear()");
}

fn main() {
    harness::main(harness::checks![
        event_basics,
        set_wakes_every_waiter explored_liveness set_wakes_scenario,
        set_then_clear_wakes_every_waiter,
        timed_out_waiter_keeps_others_wakeable,
        wait_timeout_semantics,
        huge_timeouts,
        no_spurious_results,
        wake_all_stress,
        timer_fires_after_interval,
        timer_cancel,
        timer_races,
        waiters_sleep,
    ])
}
