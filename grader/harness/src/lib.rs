//! The inside of a check process.
//!
//! A check binary is one hidden-check file (`grader/checks/NN_name.rs`) linked against the code
//! under test. Its `main` is [`main`], which speaks the grader's [`protocol`]:
//!
//! 1. Before any code under test runs in `main`, read a fresh nonce from standard input (then
//!    closed). The grader has already contained the process (limits, no file writes, `nobody`)
//!    before its first instruction, so code that runs before `main` is contained too.
//! 2. Run the named check's trials, one per seed `seed, seed+1, …`, each on a fresh [`Trial`].
//! 3. Report every trial's start and verdict, each line prefixed with the nonce, on
//!    [`protocol::REPORT_FD`], a pipe only the grader reads. Standard output and error are the learner's.
//! 4. Stop at the first trial that does not pass, report `done`, and leave with `_exit`.
//!
//! A verdict therefore exists only if the check's own code ran to its end: an early
//! `process::exit(0)`, an abort or a crash in the code under test leaves no `done`, and printed
//! text never reaches descriptor 3.

use std::any::Any;
use std::fmt::Write as _;
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use protocol::{Report, Request, Verdict};

mod rng;
mod usage;
mod workers;
/// The building blocks the code under test is made of (the same crate, with the grader's
/// backend): checks make `blocks::sync::Lock`s to hand to it.
pub use blocks;
/// The lock-step scheduler of `blocks`, for deterministic livelock and deadlock checks.
pub use blocks::__grader::lockstep;
pub use rng::XorShift;
pub use usage::{sleeping_threads, wait_asleep, KernelTid, Usage};
use workers::{downcast, Erased};
pub use workers::{
    join_all_within, join_failing_fast, settle, settle_until, spawn, spawn_together,
    timed_beside_untimed, Beside, Joinable, Worker,
};

/// One hidden check: a name (as in the exercise's checks file), the code of one trial, and
/// optionally an explored scenario: a small, clock-free run of the same behaviour that the
/// process first explores under many schedules (see [`explore`]).
#[derive(Clone, Copy)]
pub struct Check {
    pub name: &'static str,
    pub run: fn(&mut Trial),
    pub explore: Option<Scenario>,
}

/// An explored scenario and what it judges.
#[derive(Clone, Copy)]
pub struct Scenario {
    pub run: fn(),
    /// Whether the check is about progress: then a schedule under which every thread waits
    /// with none left to wake another (a lost wake-up) fails it. Otherwise only the scenario's
    /// own assertions do (a safety check: mutual exclusion, counts), and such a schedule only
    /// ends the exploration: that bug is its own check's to charge.
    pub liveness: bool,
}

/// Lists check functions by name, each with its explored scenario if it has one, `explored`
/// for a safety check and `explored_liveness` for a progress check:
/// `harness::checks![mutual_exclusion explored exclusion, no_lost_wakeups explored_liveness handoff]`.
#[macro_export]
macro_rules! checks {
    ($($name:ident $($kind:ident $scenario:ident)?),* $(,)?) => {
        &[$($crate::Check {
            name: stringify!($name),
            run: $name,
            explore: $crate::__scenario!($($kind $scenario)?),
        }),*]
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __scenario {
    () => {
        None
    };
    (explored $scenario:ident) => {
        Some($crate::Scenario {
            run: $scenario,
            liveness: false,
        })
    };
    (explored_liveness $scenario:ident) => {
        Some($crate::Scenario {
            run: $scenario,
            liveness: true,
        })
    };
}

/// Schedule exploration of explored scenarios: what a scenario spawns and joins, and the search.
pub mod explore {
    /// Starts a thread of the scenario (a task of the schedule).
    pub fn spawn<T: Send + 'static>(
        f: impl FnOnce() -> T + Send + 'static,
    ) -> shuttle::thread::JoinHandle<T> {
        shuttle::thread::spawn(f)
    }

    use blocks::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::time::Duration;

    /// Counts the tasks inside a critical section, and fails the scenario when too many are.
    /// Its counter is an atomic of `blocks`, so entering and leaving are scheduling points: the
    /// schedule can run the others while one is inside.
    #[derive(Default)]
    pub struct Occupancy(AtomicUsize);

    impl Occupancy {
        pub fn new() -> Occupancy {
            Occupancy::default()
        }

        /// Enters; fails if `most` were inside already (`what` names the section).
        pub fn enter(&self, most: usize, what: &str) {
            let before = self.0.fetch_add(1, SeqCst);
            crate::ensure!(
                before < most,
                "{} threads inside {what} at once, where at most {most} may be",
                before + 1
            );
        }

        pub fn leave(&self) {
            self.0.fetch_sub(1, SeqCst);
        }
    }

    /// Takes a lock-like primitive the way `way % 3` says: blocking, `try_` in a loop that
    /// yields, or with a timeout that never runs out (`what` names the primitive).
    pub fn take(
        way: usize,
        what: &str,
        acquire: impl FnOnce(),
        mut try_acquire: impl FnMut() -> bool,
        acquire_timeout: impl FnOnce(Duration) -> bool,
    ) {
        match way % 3 {
            0 => acquire(),
            1 => {
                while !try_acquire() {
                    blocks::thread::yield_now();
                }
            }
            _ => crate::ensure!(
                acquire_timeout(Duration::from_secs(600)),
                "{what}::acquire_timeout(600 s) gave up while it was being released"
            ),
        }
    }

    /// Runs `f(0)`, …, `f(n - 1)` on `n` tasks and joins them: the usual shape of a scenario.
    pub fn each<T: Send + 'static>(
        n: usize,
        f: impl Fn(usize) -> T + Send + Sync + 'static,
    ) -> Vec<T> {
        let f = std::sync::Arc::new(f);
        join_all(
            (0..n)
                .map(|i| {
                    let f = std::sync::Arc::clone(&f);
                    spawn(move || f(i))
                })
                .collect(),
        )
    }

    /// Joins every task, re-raising the first panic (a check's failure in a task included).
    pub fn join_all<T>(handles: Vec<shuttle::thread::JoinHandle<T>>) -> Vec<T> {
        let mut results = Vec::new();
        let mut first_panic = None;
        for handle in handles {
            match handle.join() {
                Ok(value) => results.push(value),
                Err(payload) => {
                    first_panic.get_or_insert(payload);
                }
            }
        }
        if let Some(payload) = first_panic {
            std::panic::resume_unwind(payload);
        }
        results
    }

    /// The search a grade runs for one explored scenario: PCT schedules of depth 3 (a bug that
    /// needs three badly placed preemptions is found with probability about 1/(n·k²) per
    /// schedule, n threads, k steps), then uniformly random ones, within two seconds.
    pub(crate) fn plan(seed: u64) -> blocks::__grader::explore::Plan {
        blocks::__grader::explore::Plan::Search {
            seed,
            depth: 3,
            pct: 1500,
            random: 1500,
            time: std::time::Duration::from_secs(2),
        }
    }
}

/// One run of a check with one seed.
pub struct Trial {
    seed: u64,
    rng: fastrand::Rng,
}

impl Trial {
    fn new(seed: u64, perturb: u32) -> Trial {
        blocks::__grader::configure(seed, unless_plain(perturb));
        Trial {
            seed,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// This trial's seed: `--seed` replays it.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Randomness derived from the seed, for the trial's parameters.
    pub fn rng(&mut self) -> &mut fastrand::Rng {
        &mut self.rng
    }

    /// Changes how hard the backend perturbs the schedule for the rest of this trial
    /// (thousandths of synchronization points that yield; 0 turns it off).
    pub fn perturb(&self, per_mille: u32) {
        blocks::__grader::configure(self.seed, unless_plain(per_mille));
    }
}

/// `--plain`: perturbation stays off whatever a check asks (`cargo xtask bench detect`).
static PLAIN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn unless_plain(per_mille: u32) -> u32 {
    if PLAIN.load(std::sync::atomic::Ordering::Relaxed) {
        0
    } else {
        per_mille
    }
}

/// The panic payload of a failed assertion of a check (as opposed to a panic of the code under
/// test, which carries whatever that code panicked with).
pub struct CheckFailure(pub String);

/// Fails the trial: the check saw the code under test misbehave.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => {
        ::std::panic::panic_any($crate::CheckFailure(format!($($arg)*)))
    };
}

/// Fails the trial with the message unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            $crate::fail!($($arg)*);
        }
    };
}

/// Fails the trial unless `left == right`, showing both.
#[macro_export]
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $($arg:tt)*) => {
        match (&$left, &$right) {
            (left, right) => {
                if left != right {
                    $crate::fail!("{}: got {:?}, expected {:?}", format!($($arg)*), left, right);
                }
            }
        }
    };
}

/// Runs `f` on a thread of its own and returns its result, or fails the trial if it has not
/// returned within `limit` (a call that should return but blocks: a deadlock, a lost wake-up,
/// an ignored timeout). A panic inside `f` propagates as if `f` ran here.
///
/// Only boxing is generic: the thread and the channel are those of one non-generic function,
/// compiled once per check binary instead of once per call (most of a check binary's build).
pub fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    downcast(within_erased(
        limit,
        what,
        Box::new(move || Box::new(f()) as Erased),
    ))
}

fn within_erased(limit: Duration, what: &str, f: Box<dyn FnOnce() -> Erased + Send>) -> Erased {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        let _ = tx.send(result);
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(value)) => value,
        Ok(Err(payload)) => panic::resume_unwind(payload),
        Err(_) => fail!("{what} did not return within {limit:?} (blocked: deadlock, lost wake-up or ignored timeout?)"),
    }
}

/// Joins every handle (a `JoinHandle` or a [`Worker`]), re-raising the first panic with its own
/// payload (so that a failed assertion in a worker thread is reported as such). It waits for
/// every thread, however long: see [`join_all_within`] and [`join_failing_fast`] for limits.
pub fn join_all<H>(handles: impl IntoIterator<Item = H>) -> Vec<H::Output>
where
    H: Joinable,
    H::Output: Send + 'static,
{
    join_all_erased(
        &mut handles
            .into_iter()
            .map(|h| h.join().map(|value| Box::new(value) as Erased)),
    )
    .into_iter()
    .map(downcast)
    .collect()
}

/// The body of [`join_all`], on results already joined one by one (in order, as `joins` is
/// iterated).
pub(crate) fn join_all_erased(
    joins: &mut dyn Iterator<Item = std::thread::Result<Erased>>,
) -> Vec<Erased> {
    let mut results = Vec::new();
    let mut first_panic = None;
    for joined in joins {
        match joined {
            Ok(value) => results.push(value),
            Err(payload) => {
                first_panic.get_or_insert(payload);
            }
        }
    }
    if let Some(payload) = first_panic {
        panic::resume_unwind(payload);
    }
    results
}

/// Waits (polling, at most `limit`) until `condition` holds; returns whether it did.
pub fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits until at least `n` more threads of this process than `baseline` are asleep in the
/// kernel (how a check knows that waiters have really blocked), at most `limit`. Returns whether
/// they did: a spinning waiter never sleeps.
pub fn wait_sleeping(baseline: usize, n: usize, limit: Duration) -> bool {
    wait_until(limit, || sleeping_threads() >= baseline + n)
}

// ---------------------------------------------------------------------------------------------
// The process side: protocol, panic classification, verdict reporting.

/// The first panic of the current trial, in any thread: (verdict it implies, message).
static FIRST_PANIC: Mutex<Option<(Verdict, String)>> = Mutex::new(None);

fn classify(payload: &(dyn Any + Send)) -> (Verdict, String) {
    if let Some(CheckFailure(message)) = payload.downcast_ref::<CheckFailure>() {
        return (Verdict::Fail, message.clone());
    }
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-text payload".to_string());
    if message.starts_with("not yet implemented") || message.starts_with("not implemented") {
        (Verdict::NotImplemented, message)
    } else {
        (Verdict::Panic, message)
    }
}

fn install_panic_hook() {
    panic::set_hook(Box::new(|info| {
        let (verdict, mut message) = classify(info.payload());
        if verdict == Verdict::Panic {
            if let Some(location) = info.location() {
                let _ = write!(message, " (at {}:{})", location.file(), location.line());
            }
        }
        let mut first = FIRST_PANIC.lock().unwrap_or_else(|e| e.into_inner());
        // A check's own failure outranks whatever panicked before it, unless that was a todo!().
        let replace = match &*first {
            None => true,
            Some((Verdict::Panic, _)) => verdict == Verdict::Fail,
            _ => false,
        };
        if replace {
            *first = Some((verdict, message));
        }
    }));
}

/// Decides a trial's verdict from how it ended and from the first panic seen in any thread.
fn verdict_of(result: Result<(), Box<dyn Any + Send>>) -> (Verdict, String) {
    let first = FIRST_PANIC.lock().unwrap_or_else(|e| e.into_inner()).take();
    match result {
        Ok(()) => (Verdict::Pass, String::new()),
        Err(payload) => {
            let (verdict, message) = classify(&*payload);
            match (verdict, first) {
                (Verdict::Fail | Verdict::NotImplemented, _) => (verdict, message),
                (_, Some(first)) => first,
                _ => (verdict, message),
            }
        }
    }
}

struct Reporter {
    nonce: String,
    pipe: std::fs::File,
}

impl Reporter {
    fn send(&mut self, report: &Report) {
        // One write per line, under PIPE_BUF: lines never interleave.
        if self
            .pipe
            .write_all(report.encode(&self.nonce).as_bytes())
            .is_err()
        {
            exit(3);
        }
    }
}

/// Explores the check's scenario as its first trial's first part. A failure ends the check (its
/// schedule reported before the verdict); with `--schedule`, the replay is all that runs.
fn explore_first(scenario: Scenario, args: &protocol::RunArgs) {
    let seed = args.seed;
    report(Report::Start { index: 0, seed });
    let plan = match &args.schedule {
        Some(schedule) => blocks::__grader::explore::Plan::Replay(schedule.clone()),
        None => explore::plan(seed),
    };
    let started = Instant::now();
    let result = blocks::__grader::explore::run(scenario.run, &plan);
    *FIRST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = None;
    let micros = started.elapsed().as_micros() as u64;
    let (verdict, message) = match result {
        Ok(_) if args.schedule.is_none() => return,
        Ok(_) => (Verdict::Pass, String::new()),
        Err(failure) if args.schedule.is_some() && replay_mismatch(&*failure.payload) => {
            report(Report::Error(
                "--schedule: that schedule does not fit this code (it was recorded on other code, \
                 or on an earlier version of this one): replay it on the code that failed"
                    .to_string(),
            ));
            exit(2);
        }
        Err(failure) => match explored_verdict(&*failure.payload, scenario.liveness) {
            // Not this check's bug: its trials judge it.
            None if args.schedule.is_none() => return,
            None => (
                Verdict::Pass,
                "the schedule ends in a wait that this check does not judge".to_string(),
            ),
            Some(verdict) => {
                if !failure.schedule.is_empty() {
                    report(Report::Schedule(failure.schedule));
                }
                verdict
            }
        },
    };
    report(Report::Trial {
        index: 0,
        seed,
        verdict,
        micros,
        message,
    });
    report(Report::Done);
    exit(0);
}

/// What an explored scenario's failure means: shuttle's own panics name a deadlock (every task
/// blocked: here, a lost wake-up) or a run past the step bound (a wait that never ends).
/// Whether a replay failed because the schedule and the code disagree (shuttle's replay
/// scheduler meeting a step of the other kind, or running out of steps).
fn replay_mismatch(payload: &(dyn Any + Send)) -> bool {
    let (_, message) = classify(payload);
    message.contains("next schedule step is")
        || message.contains("schedule ended early")
        || message.starts_with("not a schedule")
}

/// `None`: a schedule that ends in a wait this check does not judge. Only a progress check
/// judges waits, and only the waits of a lost wake-up: every thread asleep, none left to wake
/// another. A run past the step bound is a thread spinning on a condition (PCT, being unfair,
/// keeps running a spinner), which the busy-waiting checks charge, not this one.
fn explored_verdict(payload: &(dyn Any + Send), liveness: bool) -> Option<(Verdict, String)> {
    let (verdict, message) = classify(payload);
    if verdict != Verdict::Panic {
        return Some((verdict, format!("{message} (under an explored schedule)")));
    }
    if message.contains("max_steps") || message.contains("step bound") {
        return None;
    }
    if message.starts_with("deadlock!") {
        return liveness.then(|| {
            (
                Verdict::Fail,
                "under an explored schedule every thread ended up waiting with none left to \
                 wake it: a lost wake-up (a wake that came before its waiter slept, or went to \
                 nobody)"
                    .to_string(),
            )
        });
    }
    Some((
        Verdict::Panic,
        format!("{message} (under an explored schedule)"),
    ))
}

/// Leaves at once, without running exit handlers or flushing streams a stuck thread may hold.
fn exit(code: i32) -> ! {
    // SAFETY: `_exit` takes no pointers and never returns.
    unsafe { libc::_exit(code) }
}

static REPORTER: OnceLock<Mutex<Reporter>> = OnceLock::new();

fn report(report: Report) {
    if let Some(reporter) = REPORTER.get() {
        reporter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(&report);
    }
}

/// The entry point of every check binary.
pub fn main(checks: &[Check]) -> ! {
    let args = match Request::parse(std::env::args().skip(1)) {
        Ok(Request::Run(args)) => args,
        Ok(Request::List) => {
            for check in checks {
                println!("{}", check.name);
            }
            exit(0);
        }
        Err(message) => {
            eprintln!("{message}");
            exit(2);
        }
    };

    // Step 1: the nonce and the report pipe, before any code under test can run.
    let (nonce, pipe) = protocol::take_report_channel("check");
    let _ = REPORTER.set(Mutex::new(Reporter { nonce, pipe }));

    let Some(check) = checks.iter().find(|c| c.name == args.check) else {
        report(Report::Error(format!("no check named {}", args.check)));
        exit(2);
    };
    install_panic_hook();
    PLAIN.store(args.plain, std::sync::atomic::Ordering::Relaxed);

    if let Some(scenario) = check.explore {
        if args.explore || args.schedule.is_some() {
            explore_first(scenario, &args);
        }
    } else if args.schedule.is_some() || args.trials == 0 {
        report(Report::Error(format!(
            "{} has no explored scenario",
            args.check
        )));
        exit(2);
    }

    for index in 0..args.trials {
        let seed = args.seed.wrapping_add(index);
        report(Report::Start { index, seed });
        *FIRST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let started = Instant::now();
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut trial = Trial::new(seed, args.perturb);
            (check.run)(&mut trial);
        }));
        blocks::__grader::configure(seed, 0);
        let micros = started.elapsed().as_micros() as u64;
        let (verdict, message) = verdict_of(result);
        report(Report::Trial {
            index,
            seed,
            verdict,
            micros,
            message,
        });
        if verdict != Verdict::Pass {
            break;
        }
    }
    report(Report::Done);
    exit(0);
}
