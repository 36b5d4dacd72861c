//! Process-wide semantics, checked on the process's main thread and one test at a time (this
//! file has no test harness): the main thread's name, exact `active_count()` values, the daemon
//! default, and `shutdown()` as Python runs it at exit (`ThreadJoinOnShutdown`).

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread as std_thread;
use std::time::{Duration, Instant};

use threads::{active_count, current_name, shutdown, Thread};

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

fn blocked_thread(gate: &Arc<Gate>) -> Thread {
    let gate = Arc::clone(gate);
    Thread::new(move || gate.wait())
}

fn main_thread_name() {
    assert_eq!(current_name(), "MainThread");
    let thread = Thread::named("inner", || assert_eq!(current_name(), "inner"));
    thread.start().unwrap();
    thread.join().unwrap();
    assert_eq!(current_name(), "MainThread");
}

fn numbers_are_consecutive_from_one_creator() {
    let numbers: Vec<usize> = (0..5)
        .map(|_| {
            let name = Thread::new(|| {}).name();
            name.strip_prefix("Thread-").unwrap().parse().unwrap()
        })
        .collect();
    for pair in numbers.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "{numbers:?}");
    }
}

fn daemon_defaults() {
    assert!(!Thread::new(|| {}).is_daemon(), "false on the main thread");
    let foreign = std_thread::spawn(|| Thread::new(|| {}).is_daemon())
        .join()
        .unwrap();
    assert!(!foreign, "false on a thread not started by this crate");
}

fn active_count_is_exact() {
    assert_eq!(active_count(), 1, "only the main thread at first");
    // One gate per thread, so that they end one at a time.
    let gates: Vec<Arc<Gate>> = (0..4).map(|_| Gate::new()).collect();
    let threads: Vec<Thread> = gates.iter().map(blocked_thread).collect();
    assert_eq!(
        active_count(),
        1,
        "created threads do not count before start"
    );
    threads[3].set_daemon(true).unwrap();
    for (i, thread) in threads.iter().enumerate() {
        thread.start().unwrap();
        assert_eq!(active_count(), 2 + i, "counted as soon as start returns");
    }
    for (i, (thread, gate)) in threads.iter().zip(&gates).enumerate() {
        gate.open();
        thread.join().unwrap();
        assert_eq!(active_count(), 4 - i, "no longer counted when join returns");
    }
    let panicking = Thread::new(|| panic!("counted out even when it panics"));
    panicking.start().unwrap();
    assert!(panicking.join().is_err());
    assert_eq!(active_count(), 1);
}

fn shutdown_with_nothing_running_returns() {
    shutdown();
    shutdown();
}

fn shutdown_joins_non_daemons_started_while_waiting() {
    let first_gate = Gate::new();
    let second_gate = Gate::new();
    let second_finished = Arc::new(AtomicBool::new(false));
    let first = {
        let (first_gate, second_gate, second_finished) = (
            Arc::clone(&first_gate),
            Arc::clone(&second_gate),
            Arc::clone(&second_finished),
        );
        Thread::new(move || {
            first_gate.wait();
            let second = Thread::new(move || {
                second_gate.wait();
                second_finished.store(true, SeqCst);
            });
            second.start().unwrap();
        })
    };
    first.start().unwrap();

    let (done_tx, done_rx) = mpsc::channel();
    std_thread::spawn(move || {
        shutdown();
        done_tx.send(()).unwrap();
    });
    assert!(
        done_rx.recv_timeout(Duration::from_millis(50)).is_err(),
        "shutdown returned while a non-daemon thread was running"
    );
    first_gate.open();
    first.join().unwrap();
    assert!(
        done_rx.recv_timeout(Duration::from_millis(100)).is_err(),
        "shutdown returned while a thread started during the wait was running"
    );
    second_gate.open();
    done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("shutdown did not return after every thread finished");
    assert!(second_finished.load(SeqCst));
    assert_eq!(active_count(), 1);
}

fn shutdown_does_not_wait_for_daemons() {
    let gate = Gate::new();
    let daemon = blocked_thread(&gate);
    daemon.set_daemon(true).unwrap();
    daemon.start().unwrap();
    let start = Instant::now();
    shutdown();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(daemon.is_alive(), "the daemon is cut off, not waited for");
    gate.open();
    daemon.join().unwrap();
}

fn shutdown_from_a_thread_waits_for_the_others() {
    let gate = Gate::new();
    let other = blocked_thread(&gate);
    other.start().unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    let caller = Thread::new(move || {
        shutdown();
        done_tx.send(()).unwrap();
    });
    caller.start().unwrap();
    assert!(done_rx.recv_timeout(Duration::from_millis(50)).is_err());
    gate.open();
    done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("shutdown called from a Thread waited for itself");
    caller.join().unwrap();
    other.join().unwrap();
}

fn main() {
    let tests: [(&str, fn()); 8] = [
        ("main_thread_name", main_thread_name),
        (
            "numbers_are_consecutive_from_one_creator",
            numbers_are_consecutive_from_one_creator,
        ),
        ("daemon_defaults", daemon_defaults),
        ("active_count_is_exact", active_count_is_exact),
        (
            "shutdown_with_nothing_running_returns",
            shutdown_with_nothing_running_returns,
        ),
        (
            "shutdown_joins_non_daemons_started_while_waiting",
            shutdown_joins_non_daemons_started_while_waiting,
        ),
        (
            "shutdown_does_not_wait_for_daemons",
            shutdown_does_not_wait_for_daemons,
        ),
        (
            "shutdown_from_a_thread_waits_for_the_others",
            shutdown_from_a_thread_waits_for_the_others,
        ),
    ];
    // A watchdog: a deadlock fails the run instead of hanging it.
    std_thread::spawn(|| {
        std_thread::sleep(Duration::from_secs(60));
        eprintln!("main_thread tests still running after 60 s: deadlock");
        std::process::exit(101);
    });
    for (name, test) in tests {
        print!("test {name} ... ");
        test();
        println!("ok");
    }
    println!("\ntest result: ok. {} passed", tests.len());
}
