//! The semantics of Python's `threading.Thread`, after CPython's `Lib/test/test_threading.py`
//! (`ThreadTests`, `ThreadJoinOnShutdown`, `ThreadingExceptionTests`, `SubclassThreadTests`).
//!
//! These tests run in parallel with each other, so none of them asserts an exact
//! `active_count()`; the process-wide behaviour (main thread name, exact counts, shutdown) is in
//! `main_thread.rs`. Every test that may block runs under a deadline.

use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier, Condvar, Mutex};
use std::thread as std_thread;
use std::time::{Duration, Instant};

use threads::{active_count, current_name, greetings, Error, Runnable, Thread};

const LIMIT: Duration = Duration::from_secs(20);

/// Runs `body` on a thread of its own and fails if it has not finished within `limit`.
fn with_deadline<T: Send + 'static>(
    limit: Duration,
    body: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    std_thread::spawn(move || {
        let result = panic::catch_unwind(AssertUnwindSafe(body));
        let _ = tx.send(result);
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(value)) => value,
        Ok(Err(payload)) => panic::resume_unwind(payload),
        Err(_) => panic!("still blocked after {limit:?}"),
    }
}

/// A one-shot gate that target closures wait on, so a test decides when they finish.
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
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

fn parse_thread_number(name: &str) -> usize {
    name.strip_prefix("Thread-")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{name:?} is not of the form Thread-N"))
}

// ---------------------------------------------------------------------------------------------
// ThreadTests

#[test]
fn various_ops() {
    with_deadline(LIMIT, || {
        // test_various_ops: ten threads; ident known after start; not alive after join.
        let done = Arc::new(AtomicUsize::new(0));
        let threads: Vec<Thread> = (0..10)
            .map(|_| {
                let done = Arc::clone(&done);
                Thread::new(move || {
                    std_thread::sleep(Duration::from_millis(1));
                    done.fetch_add(1, SeqCst);
                })
            })
            .collect();
        for thread in &threads {
            assert_eq!(thread.ident(), None);
            assert!(!thread.is_alive());
            assert!(format!("{thread:?}").contains("initial"));
            thread.start().unwrap();
            let ident = thread.ident().expect("ident is known when start returns");
            assert_ne!(ident, 0);
        }
        for thread in &threads {
            let ident = thread.ident();
            thread.join().unwrap();
            assert!(!thread.is_alive());
            assert_eq!(thread.ident(), ident, "the ident is kept after the end");
            assert!(format!("{thread:?}").contains("stopped"));
        }
        assert_eq!(done.load(SeqCst), 10);
        let idents: HashSet<u64> = threads.iter().filter_map(Thread::ident).collect();
        assert_eq!(idents.len(), 10, "idents are unique");
    });
}

#[test]
fn idents_are_never_reused() {
    with_deadline(LIMIT, || {
        let mut seen = HashSet::new();
        for _ in 0..100 {
            // One at a time: each OS thread is gone before the next starts.
            let thread = Thread::new(|| {});
            thread.start().unwrap();
            thread.join().unwrap();
            assert!(seen.insert(thread.ident().unwrap()), "an ident was reused");
        }
    });
}

#[test]
fn names() {
    let a = Thread::new(|| {});
    let b = Thread::new(|| {});
    let (na, nb) = (
        parse_thread_number(&a.name()),
        parse_thread_number(&b.name()),
    );
    assert!(na >= 1 && nb > na, "Thread-N numbers grow: {na} then {nb}");
    assert_eq!(Thread::named("custom", || {}).name(), "custom");
    assert_eq!(Thread::named(String::from("dup"), || {}).name(), "dup");
    assert_eq!(
        Thread::named("dup", || {}).name(),
        "dup",
        "names need not be unique"
    );
    struct Job;
    impl Runnable for Job {
        fn run(&mut self) {}
    }
    parse_thread_number(&Thread::from_runnable(Job).name());
}

#[test]
fn names_are_unique_under_concurrent_creation() {
    with_deadline(LIMIT, || {
        let start = Arc::new(Barrier::new(4));
        let creators: Vec<_> = (0..4)
            .map(|_| {
                let start = Arc::clone(&start);
                std_thread::spawn(move || {
                    start.wait();
                    (0..250)
                        .map(|_| Thread::new(|| {}).name())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut names = HashSet::new();
        for creator in creators {
            for name in creator.join().unwrap() {
                parse_thread_number(&name);
                assert!(names.insert(name), "two threads got the same Thread-N name");
            }
        }
    });
}

#[test]
fn current_name_inside_threads() {
    with_deadline(LIMIT, || {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = {
            let seen = Arc::clone(&seen);
            move || seen.lock().unwrap().push(current_name())
        };
        let named = Thread::named("worker-7", record.clone());
        let numbered = Thread::new(record);
        named.start().unwrap();
        numbered.start().unwrap();
        named.join().unwrap();
        numbered.join().unwrap();
        let seen = seen.lock().unwrap();
        assert!(seen.contains(&"worker-7".to_string()));
        assert!(seen.contains(&numbered.name()));
    });
}

#[test]
fn threads_not_started_here_are_dummies() {
    // test_ident_of_no_threading_threads: a foreign thread gets a stable "Dummy-N" name.
    let names = std_thread::spawn(|| (current_name(), current_name()))
        .join()
        .unwrap();
    assert!(names.0.starts_with("Dummy-"), "{names:?}");
    assert_eq!(names.0, names.1, "the dummy name is stable");
    let other = std_thread::spawn(current_name).join().unwrap();
    assert_ne!(other, names.0, "each foreign thread has its own dummy name");
}

#[test]
fn start_twice_is_an_error() {
    with_deadline(LIMIT, || {
        // ThreadingExceptionTests.test_start_thread_again
        let runs = Arc::new(AtomicUsize::new(0));
        let gate = Gate::new();
        let thread = {
            let (runs, gate) = (Arc::clone(&runs), Arc::clone(&gate));
            Thread::new(move || {
                runs.fetch_add(1, SeqCst);
                gate.wait();
            })
        };
        thread.start().unwrap();
        assert_eq!(thread.start(), Err(Error::AlreadyStarted), "while running");
        gate.open();
        thread.join().unwrap();
        assert_eq!(thread.start(), Err(Error::AlreadyStarted), "after the end");
        assert_eq!(runs.load(SeqCst), 1);
    });
}

#[test]
fn racing_starts_have_one_winner() {
    with_deadline(LIMIT, || {
        for _ in 0..50 {
            let runs = Arc::new(AtomicUsize::new(0));
            let thread = {
                let runs = Arc::clone(&runs);
                Arc::new(Thread::new(move || {
                    runs.fetch_add(1, SeqCst);
                }))
            };
            let start = Arc::new(Barrier::new(3));
            let racers: Vec<_> = (0..3)
                .map(|_| {
                    let (thread, start) = (Arc::clone(&thread), Arc::clone(&start));
                    std_thread::spawn(move || {
                        start.wait();
                        thread.start()
                    })
                })
                .collect();
            let results: Vec<_> = racers.into_iter().map(|r| r.join().unwrap()).collect();
            assert_eq!(
                results.iter().filter(|r| r.is_ok()).count(),
                1,
                "{results:?}"
            );
            assert!(results
                .iter()
                .all(|r| r.is_ok() || *r == Err(Error::AlreadyStarted)));
            thread.join().unwrap();
            assert_eq!(runs.load(SeqCst), 1, "the target ran more than once");
        }
    });
}

#[test]
fn joining_before_start_or_self_is_an_error() {
    with_deadline(LIMIT, || {
        // test_joining_inactive_thread, test_joining_current_thread
        let idle = Thread::new(|| {});
        assert_eq!(idle.join(), Err(Error::NotStarted));
        assert_eq!(
            idle.join_timeout(Duration::from_millis(1)),
            Err(Error::NotStarted)
        );

        let (tx, rx) = mpsc::channel::<Arc<Thread>>();
        let (result_tx, result_rx) = mpsc::channel();
        let thread = Arc::new(Thread::new(move || {
            let me = rx.recv().unwrap();
            result_tx
                .send((
                    me.join(),
                    me.join_timeout(Duration::from_secs(1)),
                    me.is_alive(),
                ))
                .unwrap();
        }));
        thread.start().unwrap();
        tx.send(Arc::clone(&thread)).unwrap();
        let (join, join_timeout, alive) = result_rx.recv().unwrap();
        assert_eq!(join, Err(Error::JoinCurrent));
        assert_eq!(join_timeout, Err(Error::JoinCurrent));
        assert!(alive, "a thread is alive while it runs");
        thread.join().unwrap();
    });
}

#[test]
fn daemon_flag() {
    with_deadline(LIMIT, || {
        // test_daemonize_active_thread, plus inheritance from the creating Thread.
        let thread = Thread::new(|| {});
        assert!(!thread.is_daemon());
        thread.set_daemon(true).unwrap();
        assert!(thread.is_daemon());
        thread.set_daemon(false).unwrap();
        thread.set_daemon(true).unwrap();
        thread.start().unwrap();
        assert_eq!(thread.set_daemon(false), Err(Error::DaemonAfterStart));
        assert!(thread.is_daemon(), "a refused set_daemon changes nothing");
        thread.join().unwrap();
        assert_eq!(thread.set_daemon(false), Err(Error::DaemonAfterStart));

        let inherited = Arc::new(Mutex::new(Vec::new()));
        for parent_daemon in [false, true] {
            let inherited = Arc::clone(&inherited);
            let parent = Thread::new(move || {
                let child = Thread::new(|| {});
                inherited
                    .lock()
                    .unwrap()
                    .push((parent_daemon, child.is_daemon()));
            });
            parent.set_daemon(parent_daemon).unwrap();
            parent.start().unwrap();
            parent.join().unwrap();
        }
        assert_eq!(*inherited.lock().unwrap(), [(false, false), (true, true)]);
    });
}

#[test]
fn join_waits_for_the_end() {
    with_deadline(LIMIT, || {
        let finished = Arc::new(AtomicBool::new(false));
        let thread = {
            let finished = Arc::clone(&finished);
            Thread::new(move || {
                std_thread::sleep(Duration::from_millis(50));
                finished.store(true, SeqCst);
            })
        };
        thread.start().unwrap();
        thread.join().unwrap();
        assert!(
            finished.load(SeqCst),
            "join returned before the target finished"
        );
        assert!(!thread.is_alive());
        thread.join().unwrap();
        assert_eq!(thread.join_timeout(Duration::ZERO), Ok(true));
    });
}

#[test]
fn many_joiners_are_all_woken() {
    with_deadline(LIMIT, || {
        let gate = Gate::new();
        let finished = Arc::new(AtomicBool::new(false));
        let thread = {
            let (gate, finished) = (Arc::clone(&gate), Arc::clone(&finished));
            Arc::new(Thread::new(move || {
                gate.wait();
                finished.store(true, SeqCst);
            }))
        };
        thread.start().unwrap();
        let joiners: Vec<_> = (0..6)
            .map(|i| {
                let (thread, finished) = (Arc::clone(&thread), Arc::clone(&finished));
                std_thread::spawn(move || {
                    let result = if i % 2 == 0 {
                        thread.join().map(|()| true)
                    } else {
                        thread.join_timeout(Duration::from_secs(60))
                    };
                    (result, finished.load(SeqCst))
                })
            })
            .collect();
        std_thread::sleep(Duration::from_millis(30));
        gate.open();
        for joiner in joiners {
            assert_eq!(joiner.join().unwrap(), (Ok(true), true));
        }
    });
}

#[test]
fn join_timeout_is_neither_early_nor_ignored() {
    with_deadline(LIMIT, || {
        let gate = Gate::new();
        let thread = {
            let gate = Arc::clone(&gate);
            Thread::new(move || gate.wait())
        };
        thread.start().unwrap();
        let start = Instant::now();
        assert_eq!(thread.join_timeout(Duration::ZERO), Ok(false));
        assert!(start.elapsed() < Duration::from_secs(5));
        let timeout = Duration::from_millis(80);
        let start = Instant::now();
        assert_eq!(thread.join_timeout(timeout), Ok(false));
        let waited = start.elapsed();
        assert!(waited >= timeout, "join_timeout returned early: {waited:?}");
        assert!(thread.is_alive());

        // A long timeout returns as soon as the thread finishes; Duration::MAX does not panic.
        let opener = {
            let gate = Arc::clone(&gate);
            std_thread::spawn(move || {
                std_thread::sleep(Duration::from_millis(30));
                gate.open();
            })
        };
        let start = Instant::now();
        assert_eq!(thread.join_timeout(Duration::MAX), Ok(true));
        assert!(start.elapsed() < Duration::from_secs(10));
        opener.join().unwrap();
        assert_eq!(thread.join_timeout(Duration::from_secs(3600)), Ok(true));
    });
}

#[test]
fn a_panicking_target_is_reported_to_every_joiner() {
    with_deadline(LIMIT, || {
        let gate = Gate::new();
        let thread = {
            let gate = Arc::clone(&gate);
            Arc::new(Thread::new(move || {
                gate.wait();
                panic!("an exception in run()");
            }))
        };
        thread.start().unwrap();
        let joiners: Vec<_> = (0..3)
            .map(|_| {
                let thread = Arc::clone(&thread);
                std_thread::spawn(move || thread.join())
            })
            .collect();
        gate.open();
        for joiner in joiners {
            assert_eq!(joiner.join().unwrap(), Err(Error::Panicked));
        }
        assert_eq!(
            thread.join(),
            Err(Error::Panicked),
            "also for later joiners"
        );
        assert_eq!(thread.join_timeout(Duration::ZERO), Err(Error::Panicked));
        assert!(!thread.is_alive());
        assert!(thread.ident().is_some());
    });
}

#[test]
fn active_count_includes_running_threads() {
    with_deadline(LIMIT, || {
        // Other tests run at the same time, so only a lower bound holds here.
        let gate = Gate::new();
        let threads: Vec<Thread> = (0..3)
            .map(|_| {
                let gate = Arc::clone(&gate);
                Thread::new(move || gate.wait())
            })
            .collect();
        for thread in &threads {
            thread.start().unwrap();
        }
        assert!(active_count() >= 4);
        gate.open();
        for thread in &threads {
            thread.join().unwrap();
        }
    });
}

// ---------------------------------------------------------------------------------------------
// SubclassThreadTests: Runnable

#[test]
fn runnable_runs_once_with_its_state() {
    with_deadline(LIMIT, || {
        struct Counter {
            count: u32,
            report: mpsc::Sender<(u32, String)>,
        }
        impl Runnable for Counter {
            fn run(&mut self) {
                for _ in 0..3 {
                    self.count += 1;
                }
                self.report.send((self.count, current_name())).unwrap();
            }
        }
        let (tx, rx) = mpsc::channel();
        let thread = Thread::from_runnable(Counter {
            count: 10,
            report: tx,
        });
        thread.start().unwrap();
        thread.join().unwrap();
        assert_eq!(rx.recv().unwrap(), (13, thread.name()));
        assert!(rx.try_recv().is_err(), "run() ran more than once");
    });
}

// ---------------------------------------------------------------------------------------------
// greetings, the tutorial's first example

#[test]
fn greetings_from_every_thread() {
    with_deadline(LIMIT, || {
        let lines = greetings(3, 5);
        assert_eq!(lines.len(), 15);
        let mut per_name = std::collections::HashMap::new();
        for line in &lines {
            let name = line
                .strip_prefix("hello from thread ")
                .unwrap_or_else(|| panic!("unexpected line {line:?}"));
            *per_name.entry(name.to_string()).or_insert(0) += 1;
        }
        assert_eq!(
            per_name.len(),
            3,
            "every thread has its own name: {per_name:?}"
        );
        assert!(per_name.values().all(|&n| n == 5));
        assert!(greetings(0, 5).is_empty());
        assert!(greetings(4, 0).is_empty());
    });
}

#[test]
fn error_traits_and_thread_is_shareable() {
    fn send_sync<T: Send + Sync>() {}
    fn error<E: std::error::Error + Copy + Eq + Send + Sync + 'static>() {}
    send_sync::<Thread>();
    error::<Error>();
    let all = [
        Error::AlreadyStarted,
        Error::NotStarted,
        Error::JoinCurrent,
        Error::DaemonAfterStart,
        Error::Panicked,
    ];
    let messages: HashSet<String> = all.iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), all.len(), "each error has its own message");
}
