//! Hidden checks of 01_threads: Python's `threading.Thread` (start, join, names, daemons,
//! `run()`), `active_count`, `shutdown` and the tutorial's greetings.
//!
//! Targets block on the checks' own gates (std's `Mutex` + `Condvar`, outside the code under
//! test), so a check decides exactly when a thread finishes and can tell a join that returned
//! too early from one that returned in time.
//!
//! `harness::within` runs its closure on a thread that was not started by `threads`; whether a
//! `Thread` created there is a daemon is not specified, so checks that care set it explicitly.
//! Checks about the main thread ("MainThread", the daemon default) run on the check's own main
//! thread.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread as std_thread;
use std::time::{Duration, Instant};

use harness::{ensure, ensure_eq, fail, join_all, settle, within, Trial, Usage};
use threads::{active_count, current_name, greetings, shutdown, Error, Runnable, Thread};

/// Context switches the whole process may make while its waiters should all be asleep (300 ms):
/// sleeping threads make none and the measuring thread's own sleep makes one, while a waiter
/// that polls, even with naps of 50 ms, makes several each.
const POLLING: u64 = 20;

/// How long a call that should return may take before we call it blocked (generous: the
/// machine may be loaded, and the perturbing backend slows everything down).
const PATIENCE: Duration = Duration::from_secs(3);

/// How long a whole stress workload may take (hundreds of threads, a perturbed schedule, a
/// loaded machine) before we call it stuck.
const WORKLOAD: Duration = Duration::from_secs(10);

/// A one-shot gate that targets wait on, so that a check decides when they finish.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn new() -> Arc<Gate> {
        Arc::new(Gate::default())
    }

    fn wait(&self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        while !*open {
            open = self.opened.wait(open).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn open(&self) {
        *self.open.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.opened.notify_all();
    }
}

/// A Thread whose target waits for `gate`, then sets `finished`.
fn gated_thread(gate: &Arc<Gate>, finished: &Arc<AtomicBool>) -> Thread {
    let (gate, finished) = (Arc::clone(gate), Arc::clone(finished));
    Thread::new(move || {
        gate.wait();
        finished.store(true, SeqCst);
    })
}

/// The number N of a "Thread-N" name, or a failure naming the thread's creator.
fn thread_number(name: &str, made_by: &str) -> usize {
    match name.strip_prefix("Thread-").map(str::parse::<usize>) {
        Some(Ok(n)) if n >= 1 => n,
        _ => fail!("{made_by} named its thread {name:?}; expected \"Thread-N\" with N >= 1"),
    }
}

// ---------------------------------------------------------------------------------------------
// functionality

/// New, started, alive, finished: start once, join any number of times, ident from start on.
fn lifecycle(_t: &mut Trial) {
    within(PATIENCE, "the thread lifecycle", || {
        let gate = Gate::new();
        let finished = Arc::new(AtomicBool::new(false));
        let runs = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (gate, finished, runs) =
                (Arc::clone(&gate), Arc::clone(&finished), Arc::clone(&runs));
            Thread::new(move || {
                runs.fetch_add(1, SeqCst);
                gate.wait();
                finished.store(true, SeqCst);
            })
        };
        ensure_eq!(thread.ident(), None, "ident() of a thread not started yet");
        ensure!(!thread.is_alive(), "is_alive() is true before start()");
        ensure_eq!(
            thread.join(),
            Err(Error::NotStarted),
            "join() before start()"
        );
        ensure_eq!(
            thread.join_timeout(Duration::from_millis(10)),
            Err(Error::NotStarted),
            "join_timeout() before start()"
        );

        ensure_eq!(thread.start(), Ok(()), "the first start()");
        let ident = thread.ident();
        ensure!(
            ident.is_some_and(|id| id != 0),
            "ident() right after start() returned is {ident:?}; it must be a nonzero number as \
             soon as start() returns"
        );
        ensure!(
            thread.is_alive(),
            "is_alive() is false while the target runs"
        );
        ensure_eq!(
            thread.start(),
            Err(Error::AlreadyStarted),
            "a second start() while the thread runs"
        );

        gate.open();
        ensure_eq!(thread.join(), Ok(()), "join()");
        ensure!(
            finished.load(SeqCst),
            "join() returned before the target finished"
        );
        ensure!(!thread.is_alive(), "is_alive() is true after join()");
        ensure_eq!(
            thread.ident(),
            ident,
            "ident() after the end (it must be kept)"
        );
        ensure_eq!(
            thread.join(),
            Ok(()),
            "a second join() of a finished thread"
        );
        ensure_eq!(
            thread.join_timeout(Duration::ZERO),
            Ok(true),
            "join_timeout(0) of a finished thread"
        );
        ensure_eq!(
            thread.start(),
            Err(Error::AlreadyStarted),
            "start() of a finished thread"
        );
        ensure_eq!(runs.load(SeqCst), 1, "times the target ran");

        // "Subclassing": the Runnable's run() runs once, on the new thread, with its own state.
        struct Job {
            calls: u32,
            report: mpsc::Sender<u32>,
        }
        impl Runnable for Job {
            fn run(&mut self) {
                self.calls += 1;
                let _ = self.report.send(self.calls);
            }
        }
        let (tx, rx) = mpsc::channel();
        let job = Thread::from_runnable(Job {
            calls: 40,
            report: tx,
        });
        ensure_eq!(
            job.start(),
            Ok(()),
            "start() of a Thread made from a Runnable"
        );
        ensure_eq!(
            job.join(),
            Ok(()),
            "join() of a Thread made from a Runnable"
        );
        ensure_eq!(
            rx.try_recv().ok(),
            Some(41),
            "what Runnable::run() reported"
        );
        ensure!(rx.try_recv().is_err(), "Runnable::run() ran more than once");

        // Dropping the handle of a running thread does not stop or lose it.
        let (tx, rx) = mpsc::channel();
        let gate = Gate::new();
        let detached = {
            let gate = Arc::clone(&gate);
            Thread::new(move || {
                gate.wait();
                let _ = tx.send("done");
            })
        };
        detached.start().unwrap();
        drop(detached);
        gate.open();
        ensure_eq!(
            rx.recv_timeout(PATIENCE).ok(),
            Some("done"),
            "the target of a started thread whose Thread value was dropped"
        );
    });
}

/// is_alive() turns false when the target ends (returns or panics), whether or not anyone joins.
fn alive_until_the_target_ends(t: &mut Trial) {
    let k = t.rng().usize(1..=4);
    within(PATIENCE * 2, "is_alive", move || {
        let gate = Gate::new();
        let finished = Arc::new(AtomicBool::new(false));
        let mut threads: Vec<(&str, Thread)> = (0..k)
            .map(|_| ("returned", gated_thread(&gate, &finished)))
            .collect();
        let panicking = {
            let gate = Arc::clone(&gate);
            Thread::new(move || {
                gate.wait();
                panic!("a panic in run()");
            })
        };
        threads.push(("panicked", panicking));
        for (_, thread) in &threads {
            thread.start().unwrap();
            ensure!(
                thread.is_alive(),
                "is_alive() is false while the target runs"
            );
        }
        gate.open();
        // Nobody joins: the end of the target alone must make the thread not alive.
        for (i, (how, thread)) in threads.iter().enumerate() {
            ensure!(
                harness::wait_until(PATIENCE, || !thread.is_alive()),
                "is_alive() of thread {i} is still true {PATIENCE:?} after its target {how}, \
                 with nobody joining it: a thread stops being alive when its target ends, not \
                 when someone joins it"
            );
        }
        ensure!(
            finished.load(SeqCst),
            "is_alive() turned false before the target returned"
        );
    });
}

/// "Thread-N" names from a process-wide counter, explicit names, and current_name().
fn names_and_current_name(_t: &mut Trial) {
    // On the check's own main thread.
    ensure_eq!(
        current_name(),
        "MainThread",
        "current_name() on the main thread"
    );
    let numbered: Vec<Thread> = (0..4).map(|_| Thread::new(|| {})).collect();
    struct Nothing;
    impl Runnable for Nothing {
        fn run(&mut self) {}
    }
    let runnable = Thread::from_runnable(Nothing);
    let mut numbers: Vec<usize> = numbered
        .iter()
        .map(|t| thread_number(&t.name(), "Thread::new"))
        .collect();
    numbers.push(thread_number(&runnable.name(), "Thread::from_runnable"));
    for pair in numbers.windows(2) {
        ensure!(
            pair[1] == pair[0] + 1,
            "Threads created one after another by one thread got the numbers {numbers:?}; N \
             must count every Thread created (Thread::new and from_runnable), one by one"
        );
    }
    let custom = Thread::named("worker one", || {});
    ensure_eq!(
        custom.name(),
        "worker one",
        "name() of Thread::named(\"worker one\")"
    );
    let twin = Thread::named(String::from("worker one"), || {});
    ensure_eq!(
        twin.name(),
        "worker one",
        "name() of a second thread with the same name"
    );

    within(PATIENCE, "current_name() inside threads", move || {
        let (tx, rx) = mpsc::channel::<(String, String)>();
        let spawn = |thread: Thread| {
            thread.start().unwrap();
            thread
        };
        let mut started = Vec::new();
        for i in 0..3 {
            let tx = tx.clone();
            let thread = if i == 0 {
                Thread::named(format!("named-{i}"), move || {
                    let _ = tx.send(("named-0".into(), current_name()));
                })
            } else {
                let (slot_tx, slot_rx) = mpsc::channel::<String>();
                let thread = Thread::new(move || {
                    let expected = slot_rx.recv().unwrap_or_default();
                    let _ = tx.send((expected, current_name()));
                });
                let _ = slot_tx.send(thread.name());
                thread
            };
            started.push(spawn(thread));
        }
        // Nested: a thread started by a thread, and the parent's name after the child ended.
        let nested_tx = tx.clone();
        let parent = Thread::named("parent", move || {
            let child_tx = nested_tx.clone();
            let child = Thread::named("child", move || {
                let _ = child_tx.send(("child".into(), current_name()));
            });
            child.start().unwrap();
            child.join().unwrap();
            let _ = nested_tx.send(("parent".into(), current_name()));
        });
        started.push(spawn(parent));
        drop(tx);
        for thread in &started {
            ensure_eq!(
                thread.join(),
                Ok(()),
                "join() of a thread reporting its name"
            );
        }
        let reports: Vec<(String, String)> = rx.iter().collect();
        ensure_eq!(
            reports.len(),
            5,
            "reports of current_name() from the threads"
        );
        for (expected, seen) in reports {
            ensure_eq!(
                seen,
                expected,
                "current_name() inside a thread named {expected:?}"
            );
        }
    });
    ensure_eq!(
        current_name(),
        "MainThread",
        "current_name() on the main thread after other threads ran"
    );
}

/// The tutorial's first example: every thread greets `times` times, with its own name.
fn greetings_from_every_thread(t: &mut Trial) {
    let threads = t.rng().usize(1..=6);
    let times = t.rng().usize(1..=5);
    within(PATIENCE, "greetings", move || {
        let lines = greetings(threads, times);
        ensure_eq!(
            lines.len(),
            threads * times,
            "lines returned by greetings({threads}, {times})"
        );
        let mut per_name: HashMap<&str, usize> = HashMap::new();
        for line in &lines {
            match line.strip_prefix("hello from thread ") {
                Some(name) if !name.is_empty() => *per_name.entry(name).or_default() += 1,
                _ => fail!(
                    "greetings returned the line {line:?}; expected \"hello from thread <name>\""
                ),
            }
        }
        ensure_eq!(
            per_name.len(),
            threads,
            "distinct names in greetings({threads}, {times}) (every thread has its own name; \
             seen {per_name:?})"
        );
        for (name, count) in &per_name {
            ensure_eq!(*count, times, "greetings from thread {name:?}");
        }
        ensure!(
            !per_name.contains_key("MainThread"),
            "a greeting came from the main thread: the greetings must come from the new threads"
        );
        ensure!(greetings(0, 3).is_empty(), "greetings(0, 3) is not empty");
        ensure!(greetings(3, 0).is_empty(), "greetings(3, 0) is not empty");
    });
}

/// set_daemon before start only; the default comes from the creating Thread.
fn daemon_flag(_t: &mut Trial) {
    // Created on the main thread: not a daemon.
    let plain = Thread::new(|| {});
    ensure!(
        !plain.is_daemon(),
        "a Thread created on the main thread is a daemon"
    );
    let named = Thread::named("n", || {});
    ensure!(
        !named.is_daemon(),
        "a Thread::named created on the main thread is a daemon"
    );
    within(PATIENCE, "daemon flags", move || {
        ensure_eq!(
            plain.set_daemon(true),
            Ok(()),
            "set_daemon(true) before start()"
        );
        ensure!(plain.is_daemon(), "is_daemon() after set_daemon(true)");
        ensure_eq!(
            plain.set_daemon(false),
            Ok(()),
            "set_daemon(false) before start()"
        );
        ensure!(!plain.is_daemon(), "is_daemon() after set_daemon(false)");
        plain.set_daemon(true).unwrap();

        let gate = Gate::new();
        let finished = Arc::new(AtomicBool::new(false));
        let running = gated_thread(&gate, &finished);
        running.set_daemon(false).unwrap();
        running.start().unwrap();
        ensure_eq!(
            running.set_daemon(true),
            Err(Error::DaemonAfterStart),
            "set_daemon(true) on a running thread"
        );
        ensure!(
            !running.is_daemon(),
            "a refused set_daemon() changed the flag"
        );
        gate.open();
        running.join().unwrap();
        ensure_eq!(
            running.set_daemon(true),
            Err(Error::DaemonAfterStart),
            "set_daemon(true) on a finished thread"
        );

        // Inheritance, two generations deep, from explicitly set parents.
        let (tx, rx) = mpsc::channel::<(bool, bool, bool)>();
        for parent_daemon in [true, false] {
            let tx = tx.clone();
            let parent = Thread::named("parent", move || {
                let grand = Arc::new(AtomicBool::new(!parent_daemon));
                let grand_flag = Arc::clone(&grand);
                let child = Thread::named("child", move || {
                    grand_flag.store(Thread::new(|| {}).is_daemon(), SeqCst);
                });
                let child_daemon = child.is_daemon();
                child.start().unwrap();
                child.join().unwrap();
                let _ = tx.send((parent_daemon, child_daemon, grand.load(SeqCst)));
            });
            parent.set_daemon(parent_daemon).unwrap();
            parent.start().unwrap();
            parent.join().unwrap();
        }
        drop(tx);
        for (parent, child, grandchild) in rx.iter() {
            ensure_eq!(
                child,
                parent,
                "daemon flag of a Thread created by a thread whose daemon flag is {parent}"
            );
            ensure_eq!(
                grandchild,
                parent,
                "daemon flag of a Thread created two generations below a thread whose daemon \
                 flag is {parent}"
            );
        }
        ensure!(plain.is_daemon(), "the flag set before start() was lost");
    });
}

/// Joining yourself is an error; a panicking target is an error for every joiner.
fn join_errors(_t: &mut Trial) {
    within(PATIENCE, "join errors", || {
        let (me_tx, me_rx) = mpsc::channel::<Arc<Thread>>();
        let (result_tx, result_rx) = mpsc::channel();
        let thread = Arc::new(Thread::new(move || {
            if let Ok(me) = me_rx.recv() {
                let _ = result_tx.send((me.join(), me.join_timeout(Duration::from_millis(200))));
            }
        }));
        thread.start().unwrap();
        me_tx.send(Arc::clone(&thread)).unwrap();
        match result_rx.recv_timeout(PATIENCE) {
            Ok((join, join_timeout)) => {
                ensure_eq!(
                    join,
                    Err(Error::JoinCurrent),
                    "join() of a thread by itself"
                );
                ensure_eq!(
                    join_timeout,
                    Err(Error::JoinCurrent),
                    "join_timeout() of a thread by itself"
                );
            }
            Err(_) => fail!("a thread that joined itself was still blocked after {PATIENCE:?}"),
        }
        ensure_eq!(
            thread.join(),
            Ok(()),
            "join() of the thread that tried to join itself"
        );

        // A target that panics at once.
        let quick = Thread::new(|| panic!("raised in run()"));
        quick.start().unwrap();
        ensure_eq!(
            quick.join(),
            Err(Error::Panicked),
            "join() of a thread whose target panicked"
        );

        // Several joiners already waiting when the target panics, and more afterwards.
        let gate = Gate::new();
        let late = {
            let gate = Arc::clone(&gate);
            Arc::new(Thread::new(move || {
                gate.wait();
                panic!("raised in run() while others were joining");
            }))
        };
        let baseline = harness::sleeping_threads();
        late.start().unwrap();
        let joiners: Vec<_> = (0..3)
            .map(|i| {
                let late = Arc::clone(&late);
                harness::spawn(move || match i {
                    0 => late.join().map(|()| true),
                    1 => late.join_timeout(Duration::from_secs(60)),
                    _ => late.join_timeout(Duration::from_secs(600)),
                })
            })
            .collect();
        settle(baseline, 4);
        gate.open();
        for (i, result) in join_all(joiners).into_iter().enumerate() {
            ensure_eq!(
                result,
                Err(Error::Panicked),
                "joiner {i} (of 3 waiting when the target panicked)"
            );
        }
        ensure_eq!(
            late.join(),
            Err(Error::Panicked),
            "a later join() of a panicked thread"
        );
        ensure_eq!(
            late.join_timeout(Duration::ZERO),
            Err(Error::Panicked),
            "join_timeout(0) of a panicked thread"
        );
        ensure!(
            !late.is_alive(),
            "a thread whose target panicked is still alive"
        );
        ensure!(
            late.ident().is_some(),
            "the ident of a panicked thread was lost"
        );
        ensure_eq!(
            late.start(),
            Err(Error::AlreadyStarted),
            "start() of a panicked thread"
        );
    });
}

/// Exactly the started, unfinished Threads plus one; joined threads no longer count.
fn active_count_is_exact(t: &mut Trial) {
    let k = t.rng().usize(2..=5);
    within(PATIENCE * 2, "active_count", move || {
        ensure_eq!(
            active_count(),
            1,
            "active_count() with no Thread running (the main thread counts as 1)"
        );
        // One gate per thread, so that they end one at a time.
        let gates: Vec<Arc<Gate>> = (0..k).map(|_| Gate::new()).collect();
        let finished = Arc::new(AtomicBool::new(false));
        let threads: Vec<Thread> = gates
            .iter()
            .map(|gate| gated_thread(gate, &finished))
            .collect();
        threads[0].set_daemon(true).unwrap();
        ensure_eq!(
            active_count(),
            1,
            "active_count() after creating threads, before start()"
        );
        for (i, thread) in threads.iter().enumerate() {
            thread.start().unwrap();
            ensure_eq!(
                active_count(),
                i + 2,
                "active_count() right after starting {} thread(s) (daemons count too)",
                i + 1
            );
        }
        for (i, (thread, gate)) in threads.iter().zip(&gates).enumerate() {
            gate.open();
            thread.join().unwrap();
            ensure_eq!(
                active_count(),
                k - i,
                "active_count() right after join() returned for {} of {k} threads (the others \
                 still running)",
                i + 1
            );
        }
        let panicking = Thread::new(|| panic!("a panic in run()"));
        panicking.start().unwrap();
        let _ = panicking.join();
        ensure_eq!(
            active_count(),
            1,
            "active_count() after joining a thread whose target panicked"
        );
        // Threads that end without being joined stop counting too.
        let unjoined: Vec<Thread> = (0..k).map(|_| Thread::new(|| {})).collect();
        for thread in &unjoined {
            thread.start().unwrap();
        }
        ensure!(
            harness::wait_until(PATIENCE, || active_count() == 1),
            "active_count() is {} after {k} threads ended without being joined (expected 1)",
            active_count()
        );
    });
}

// ---------------------------------------------------------------------------------------------
// robustness

/// join_timeout: zero only looks, short timeouts are not early, long ones end with the thread,
/// Duration::MAX means no deadline.
fn join_timeout(t: &mut Trial) {
    let timeout = Duration::from_millis(t.rng().u64(20..=60));
    within(PATIENCE * 2, "join_timeout", move || {
        let gate = Gate::new();
        let finished = Arc::new(AtomicBool::new(false));
        let thread = Arc::new(gated_thread(&gate, &finished));
        thread.start().unwrap();

        let start = Instant::now();
        ensure_eq!(
            thread.join_timeout(Duration::ZERO),
            Ok(false),
            "join_timeout(0) of a running thread"
        );
        ensure!(
            start.elapsed() < PATIENCE,
            "join_timeout(0) took {:?} (a zero timeout only looks)",
            start.elapsed()
        );
        let start = Instant::now();
        ensure_eq!(
            thread.join_timeout(timeout),
            Ok(false),
            "join_timeout({timeout:?}) of a running thread"
        );
        let waited = start.elapsed();
        ensure!(
            waited >= timeout,
            "join_timeout({timeout:?}) returned after only {waited:?}"
        );
        ensure!(
            waited < timeout + PATIENCE,
            "join_timeout({timeout:?}) returned only after {waited:?}"
        );
        ensure!(
            thread.is_alive(),
            "the thread is not alive after a timed-out join"
        );

        // Short timeouts from several threads at once: none early, none true.
        let short: Vec<_> = (0..3)
            .map(|i| {
                let thread = Arc::clone(&thread);
                harness::spawn(move || {
                    for round in 0..4 {
                        let timeout = Duration::from_millis(1 + ((i + round) % 4) as u64);
                        let start = Instant::now();
                        let result = thread.join_timeout(timeout);
                        let waited = start.elapsed();
                        ensure_eq!(
                            result,
                            Ok(false),
                            "join_timeout({timeout:?}) while the thread kept running"
                        );
                        ensure!(
                            waited >= timeout,
                            "join_timeout({timeout:?}) returned after only {waited:?}"
                        );
                    }
                })
            })
            .collect();
        join_all(short);

        // A long timeout and Duration::MAX both end when the thread ends.
        let baseline = harness::sleeping_threads();
        let long: Vec<_> = [Duration::from_secs(60), Duration::MAX]
            .into_iter()
            .map(|timeout| {
                let (thread, finished) = (Arc::clone(&thread), Arc::clone(&finished));
                harness::spawn(move || {
                    let result = thread.join_timeout(timeout);
                    (timeout, result, finished.load(SeqCst), Instant::now())
                })
            })
            .collect();
        settle(baseline, 2);
        if long.iter().any(|j| j.is_finished()) {
            gate.open();
            let results: Vec<_> = join_all(long)
                .into_iter()
                .map(|(t, r, _, _)| (t, r))
                .collect();
            fail!(
                "join_timeout(60 s) or join_timeout(Duration::MAX) returned while the thread was \
                 still running ({results:?})"
            );
        }
        let opened = Instant::now();
        gate.open();
        for (timeout, result, saw_finished, returned) in join_all(long) {
            ensure_eq!(
                result,
                Ok(true),
                "join_timeout({timeout:?}) when the thread ended"
            );
            ensure!(
                saw_finished,
                "join_timeout({timeout:?}) returned Ok(true) before the target finished"
            );
            ensure!(
                returned.duration_since(opened) < PATIENCE,
                "join_timeout({timeout:?}) returned {:?} after the thread was let go",
                returned.duration_since(opened)
            );
        }
        ensure_eq!(
            thread.join_timeout(Duration::ZERO),
            Ok(true),
            "join_timeout(0) of a finished thread"
        );
        ensure_eq!(
            thread.join_timeout(Duration::MAX),
            Ok(true),
            "join_timeout(Duration::MAX) of a finished thread"
        );
    });
}

/// A timed joiner that gives up must not erase the sign that others wait for the thread: with
/// a join() asleep beside join_timeout() calls that time out, the end of the thread must still
/// wake it. Run without perturbation, which wakes sleepers spuriously and would hide a lost
/// wake-up.
fn timed_out_joiner_keeps_others_wakeable(t: &mut Trial) {
    let timeout = Duration::from_millis(t.rng().u64(30..=60));
    // One timed joiner beside the untimed one, asleep before or after it; then a few.
    let scenarios = [
        (true, 1),
        (false, 1),
        (t.rng().bool(), t.rng().usize(2..=3)),
    ];
    within(PATIENCE * 6, "timed and untimed joiners", move || {
        for (untimed_first, timed) in scenarios {
            let gate = Gate::new();
            let finished = Arc::new(AtomicBool::new(false));
            let thread = Arc::new(gated_thread(&gate, &finished));
            thread.start().unwrap();
            let beside = harness::timed_beside_untimed(
                untimed_first,
                timed,
                timeout,
                PATIENCE,
                {
                    let thread = Arc::clone(&thread);
                    move || ensure_eq!(thread.join(), Ok(()), "join() of a thread that returned")
                },
                {
                    let thread = Arc::clone(&thread);
                    move |timeout| thread.join_timeout(timeout) != Ok(false)
                },
            );
            ensure!(
                beside.timed_results.iter().all(|got| !got),
                "join_timeout() of a thread still running did not return Ok(false) after its \
                 timeout"
            );
            gate.open();
            let order = beside.order;
            if !beside.woken(PATIENCE) {
                fail!(
                    "a thread blocked in join() was never woken: the target returned {PATIENCE:?} \
                     ago (is_alive() is {}), after {timed} join_timeout() call(s) timed out \
                     beside it ({order}). A joiner that gives up must not erase the sign that \
                     others wait (e.g. count itself out twice, or reset the count of joiners), \
                     or the end of the thread wakes nobody",
                    thread.is_alive()
                );
            }
        }
    });
}

/// Every joiner returns when the thread ends, and not before.
fn every_joiner_is_woken(t: &mut Trial) {
    let joiners = t.rng().usize(3..=8);
    within(WORKLOAD, "the joiners", move || {
        for round in 0..3 {
            let gate = Gate::new();
            let finished = Arc::new(AtomicBool::new(false));
            let thread = Arc::new(gated_thread(&gate, &finished));
            thread.start().unwrap();
            let baseline = harness::sleeping_threads();
            let handles: Vec<_> = (0..joiners)
                .map(|i| {
                    let (thread, finished) = (Arc::clone(&thread), Arc::clone(&finished));
                    harness::spawn(move || {
                        let result = match i % 3 {
                            0 => thread.join().map(|()| true),
                            1 => thread.join_timeout(Duration::from_secs(60)),
                            _ => thread.join_timeout(Duration::from_secs(600)),
                        };
                        (i, result, finished.load(SeqCst))
                    })
                })
                .collect();
            settle(baseline, joiners);
            let early: Vec<usize> = handles
                .iter()
                .enumerate()
                .filter(|(_, h)| h.is_finished())
                .map(|(i, _)| i)
                .collect();
            if !early.is_empty() {
                gate.open();
                let results = within(PATIENCE, "the joiners", move || join_all(handles));
                fail!(
                    "joiners {early:?} of {joiners} returned while the thread was still running \
                     (round {round}; results {results:?})"
                );
            }
            gate.open();
            ensure!(
                harness::wait_until(PATIENCE, || handles.iter().all(|h| h.is_finished())),
                "only {} of {joiners} joiners returned within {PATIENCE:?} after the thread \
                 ended: the end must wake every joiner (notify_all / wake_all), not just one",
                handles.iter().filter(|h| h.is_finished()).count()
            );
            for (i, result, saw_finished) in join_all(handles) {
                ensure_eq!(result, Ok(true), "joiner {i} of {joiners} (round {round})");
                ensure!(
                    saw_finished,
                    "joiner {i} of {joiners} returned before the target finished (round {round}): \
                     a wake-up is not the end of the thread, check again"
                );
            }
        }
    });
}

/// shutdown: waits for non-daemon threads, also those started while it waits, but not for
/// daemon threads.
fn shutdown_joins_non_daemons(_t: &mut Trial) {
    within(PATIENCE * 3, "shutdown", || {
        let caller = harness::spawn(shutdown);
        ensure!(
            harness::wait_until(PATIENCE, || caller.is_finished()),
            "shutdown() with no thread running did not return within {PATIENCE:?}"
        );
        join_all([caller]);

        let daemon_gate = Gate::new();
        let daemon_finished = Arc::new(AtomicBool::new(false));
        let daemon = gated_thread(&daemon_gate, &daemon_finished);
        daemon.set_daemon(true).unwrap();
        daemon.start().unwrap();

        let first_gate = Gate::new();
        let second_gate = Gate::new();
        let second_finished = Arc::new(AtomicBool::new(false));
        let second_slot: Arc<Mutex<Option<Thread>>> = Arc::default();
        let first = {
            let (first_gate, second_gate, second_finished, second_slot) = (
                Arc::clone(&first_gate),
                Arc::clone(&second_gate),
                Arc::clone(&second_finished),
                Arc::clone(&second_slot),
            );
            Thread::new(move || {
                first_gate.wait();
                let second = gated_thread(&second_gate, &second_finished);
                second.set_daemon(false).unwrap();
                second.start().unwrap();
                *second_slot.lock().unwrap() = Some(second);
            })
        };
        first.set_daemon(false).unwrap();
        first.start().unwrap();

        let second_done = Arc::clone(&second_finished);
        let caller = harness::spawn(move || {
            shutdown();
            second_done.load(SeqCst)
        });
        std_thread::sleep(Duration::from_millis(50));
        if caller.is_finished() {
            first_gate.open();
            second_gate.open();
            daemon_gate.open();
            join_all([caller]);
            fail!("shutdown() returned while a non-daemon thread was still running");
        }
        first_gate.open();
        ensure_eq!(
            first.join(),
            Ok(()),
            "join() of the first non-daemon thread"
        );
        // The second thread, started while shutdown() waited, is still blocked.
        let returned_early =
            harness::wait_until(Duration::from_millis(200), || caller.is_finished());
        second_gate.open();
        ensure!(
            !returned_early,
            "shutdown() returned while a non-daemon thread started during the wait was still \
             running: keep waiting until no non-daemon thread is left, not just for those that \
             were running when shutdown() began"
        );
        if !harness::wait_until(PATIENCE, || caller.is_finished()) {
            daemon_gate.open();
            fail!(
                "shutdown() did not return within {PATIENCE:?} after every non-daemon thread had \
                 ended, while a daemon thread was still running (daemon threads are not waited \
                 for)"
            );
        }
        let saw_second = join_all([caller]).remove(0);
        ensure!(
            saw_second,
            "shutdown() returned before the thread started during the wait had finished"
        );
        ensure!(
            daemon.is_alive(),
            "the daemon thread ended although its gate is closed"
        );
        daemon_gate.open();
        ensure_eq!(daemon.join(), Ok(()), "join() of the daemon thread");
        let second = second_slot.lock().unwrap().take();
        if let Some(second) = second {
            ensure_eq!(second.join(), Ok(()), "join() of the second thread");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// stress

/// Several threads race to start one Thread: exactly one wins, the target runs once.
fn racing_starts(t: &mut Trial) {
    let racers = t.rng().usize(2..=4);
    within(WORKLOAD, "racing start() calls", move || {
        for round in 0..20 {
            let runs = Arc::new(AtomicUsize::new(0));
            let thread = {
                let runs = Arc::clone(&runs);
                Arc::new(Thread::new(move || {
                    runs.fetch_add(1, SeqCst);
                }))
            };
            let go = Arc::new(AtomicBool::new(false));
            let ready = Arc::new(AtomicUsize::new(0));
            let handles: Vec<_> = (0..racers)
                .map(|_| {
                    let (thread, go, ready) =
                        (Arc::clone(&thread), Arc::clone(&go), Arc::clone(&ready));
                    harness::spawn(move || {
                        ready.fetch_add(1, SeqCst);
                        // Yield while waiting, so that the main thread gets to say "go" even
                        // with more racers than cores; they all start when it does.
                        while !go.load(SeqCst) {
                            std_thread::yield_now();
                        }
                        let result = thread.start();
                        (result, thread.ident())
                    })
                })
                .collect();
            while ready.load(SeqCst) < racers {
                std_thread::yield_now();
            }
            go.store(true, SeqCst);
            let results = join_all(handles);
            let wins = results.iter().filter(|(r, _)| r.is_ok()).count();
            ensure_eq!(
                wins,
                1,
                "start() calls that succeeded when {racers} threads raced to start one Thread \
                 (round {round}; results {results:?}): checking 'not started yet' and marking it \
                 started must be one atomic step"
            );
            for (result, ident) in &results {
                match result {
                    Ok(()) => ensure!(
                        ident.is_some(),
                        "ident() was None right after a successful start()"
                    ),
                    Err(error) => ensure_eq!(
                        *error,
                        Error::AlreadyStarted,
                        "a losing start() in the race"
                    ),
                }
            }
            ensure_eq!(thread.join(), Ok(()), "join() after the race");
            ensure_eq!(
                runs.load(SeqCst),
                1,
                "times the target ran after the race (round {round})"
            );
        }
    });
}

/// Many threads created, started and joined concurrently by several creators: unique names and
/// idents, idents known at once, joins after the end, and an exact active_count at the end.
fn concurrent_lifecycle(t: &mut Trial) {
    let creators = t.rng().usize(2..=4);
    let per_creator = t.rng().usize(20..=40);
    let seed = t.seed();
    within(WORKLOAD, "concurrent threads", move || {
        let samples_ok = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let total = creators * per_creator;
        let sampler = {
            let (samples_ok, stop) = (Arc::clone(&samples_ok), Arc::clone(&stop));
            harness::spawn(move || {
                let mut worst = None;
                while !stop.load(SeqCst) {
                    let count = active_count();
                    if count == 0 || count > total + 1 {
                        worst.get_or_insert(count);
                        samples_ok.store(false, SeqCst);
                    }
                    std_thread::yield_now();
                }
                worst
            })
        };
        let start = Arc::new(std::sync::Barrier::new(creators));
        let handles: Vec<_> = (0..creators)
            .map(|c| {
                let start = Arc::clone(&start);
                harness::spawn(move || {
                    start.wait();
                    let (tx, rx) = mpsc::channel::<(String, String)>();
                    let mut made = Vec::new();
                    for i in 0..per_creator {
                        let tx = tx.clone();
                        let (name_tx, name_rx) = mpsc::channel::<String>();
                        let pause = (seed as usize + c * 7 + i) % 3 == 0;
                        let thread = Thread::new(move || {
                            let expected = name_rx.recv().unwrap_or_default();
                            if pause {
                                std_thread::sleep(Duration::from_micros(200));
                            }
                            let _ = tx.send((expected, current_name()));
                        });
                        let _ = name_tx.send(thread.name());
                        thread.set_daemon(i % 5 == 0).unwrap();
                        made.push(thread);
                    }
                    let mut idents = Vec::new();
                    for thread in &made {
                        ensure_eq!(thread.start(), Ok(()), "start() of a new thread");
                        match thread.ident() {
                            Some(id) if id != 0 => idents.push(id),
                            other => fail!(
                                "ident() right after start() returned is {other:?}; it must be a \
                                 nonzero number as soon as start() returns"
                            ),
                        }
                    }
                    for thread in &made {
                        ensure_eq!(thread.join(), Ok(()), "join() of a short thread");
                        ensure!(
                            !thread.is_alive(),
                            "is_alive() is true after join() returned"
                        );
                    }
                    drop(tx);
                    let reports: Vec<(String, String)> = rx.iter().collect();
                    ensure_eq!(
                        reports.len(),
                        per_creator,
                        "threads that ran their target before join() returned"
                    );
                    for (expected, seen) in &reports {
                        ensure_eq!(
                            seen,
                            expected,
                            "current_name() inside a thread named {expected:?}"
                        );
                    }
                    let names: Vec<String> = made.iter().map(Thread::name).collect();
                    (names, idents)
                })
            })
            .collect();
        let results = join_all(handles);
        stop.store(true, SeqCst);
        let worst = join_all([sampler]).remove(0);
        ensure!(
            samples_ok.load(SeqCst),
            "active_count() returned {worst:?} while at most {total} threads were running (it \
             must stay between 1 and {})",
            total + 1
        );
        let mut names = HashSet::new();
        let mut idents = HashSet::new();
        for (made_names, made_idents) in results {
            for name in made_names {
                thread_number(&name, "Thread::new");
                ensure!(
                    names.insert(name.clone()),
                    "two threads created at the same time got the same name {name:?}: taking the \
                     next N must be one atomic step"
                );
            }
            for ident in made_idents {
                ensure!(
                    idents.insert(ident),
                    "two threads got the same ident {ident}"
                );
            }
        }
        ensure_eq!(
            active_count(),
            1,
            "active_count() after {total} threads started by {creators} threads at once were \
             all joined (the count lost or gained updates)"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// performance

/// join() racing the end of the thread, over and over: targets that end after a few random
/// steps, joined as soon as they start by one thread each while the schedule is perturbed. An
/// end announced while a joiner is between looking and sleeping must not be missed.
fn join_races_the_end(t: &mut Trial) {
    let joiners = t.rng().usize(2..=4);
    let rounds = 150;
    let seed = t.seed();
    within(WORKLOAD, "join() racing the end of the thread", move || {
        let handles = harness::spawn_together(joiners, move |i| {
            let mut rng = harness::XorShift::stream(seed, i);
            for round in 0..rounds {
                let steps = rng.below(300);
                let thread = Thread::new(move || {
                    for _ in 0..steps {
                        std::hint::spin_loop();
                    }
                });
                thread.set_daemon(false).unwrap();
                thread.start().unwrap();
                // A missed end leaves this join asleep: the trial's `within` reports it.
                ensure_eq!(thread.join(), Ok(()), "join() in round {round}");
            }
        });
        join_all(handles);
    });
}

/// Joiners (and shutdown) of a running thread sleep: they burn (almost) no CPU and do not poll.
fn blocked_joiners_sleep(_t: &mut Trial) {
    let gate = Gate::new();
    let finished = Arc::new(AtomicBool::new(false));
    let thread = gated_thread(&gate, &finished);
    thread.set_daemon(false).unwrap();
    let baseline = harness::sleeping_threads();
    thread.start().unwrap();
    let thread = Arc::new(thread);
    let mut waiters: Vec<_> = (0..4)
        .map(|i| {
            let thread = Arc::clone(&thread);
            harness::spawn(move || {
                let result = if i % 2 == 0 {
                    thread.join().map(|()| true)
                } else {
                    thread.join_timeout(Duration::from_secs(60))
                };
                ensure_eq!(result, Ok(true), "a joiner when the thread ended");
            })
        })
        .collect();
    waiters.push(harness::spawn(shutdown));
    // The target (blocked on our gate) sleeps too.
    let asleep = harness::wait_sleeping(baseline, 6, PATIENCE);
    if !asleep {
        gate.open();
        within(PATIENCE, "the waiters", move || join_all(waiters));
        fail!(
            "4 threads blocked in join()/join_timeout() and one in shutdown() did not all go to \
             sleep within {PATIENCE:?}: a waiting thread must sleep (Condvar, futex, park), not \
             spin"
        );
    }
    let window = Duration::from_millis(300);
    let before = Usage::now();
    std_thread::sleep(window);
    let used = Usage::now().since(before);
    gate.open();
    within(PATIENCE, "the joiners after the thread ended", move || {
        join_all(waiters)
    });
    ensure!(
        used.cpu <= window / 10,
        "5 threads waiting for a running thread burned {:?} of CPU in {window:?}: they must \
         sleep, not spin",
        used.cpu
    );
    ensure!(
        used.context_switches <= POLLING,
        "5 threads waiting for a running thread made {} context switches in {window:?}: they \
         poll (sleep and re-check) instead of sleeping until the thread's end wakes them",
        used.context_switches
    );
}

fn main() {
    harness::main(harness::checks![
        lifecycle,
        alive_until_the_target_ends,
        names_and_current_name,
        greetings_from_every_thread,
        daemon_flag,
        join_errors,
        active_count_is_exact,
        join_timeout,
        every_joiner_is_woken,
        timed_out_joiner_keeps_others_wakeable,
        shutdown_joins_non_daemons,
        racing_starts,
        concurrent_lifecycle,
        join_races_the_end,
        blocked_joiners_sleep,
    ])
}
