//! The inside of a bench process: times the code under test against `std::sync` and
//! `parking_lot` and reports every sample to the grader, which does the statistics.
//!
//! A bench binary is one file of `grader/benchmarks/` linked against the code under test (built
//! optimised, on the plain backend of `blocks`) and this crate. It is run by the grader's
//! sandbox like a check binary, and speaks the same [`protocol`]: a nonce on standard input, one
//! report line per case on descriptor 3 (`measuring`, then `measured` with its samples or
//! `unmeasured` with why), and `done`. Nothing is written anywhere else.
//!
//! Each case runs on worker threads that live as long as the case: a sample hands every worker a
//! number of iterations, releases them together, and times from the release until the last one
//! is done. The number of iterations is calibrated during each case's warm-up so that a sample
//! lasts about `budget / cases / samples`; then the cases of one operation and thread count (the
//! code under test and its baselines) take their samples in turns, so that a change in the
//! machine's load weighs on all of them alike and their ratios stay fair. A sample that does not
//! end in time (a deadlock, a lost wake-up) and a panic (a `todo!()` included) make the case
//! `unmeasured`, and the bench goes on.

use std::any::Any;
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

pub use parking_lot;
use protocol::{BenchArgs, Case, Report, Verdict};
pub use std::hint::black_box;

/// What workers run: `work(worker, iterations)` performs `iterations` operations as worker
/// `worker` (0-based) of the case's threads.
pub type Work = Box<dyn Fn(usize, u64) + Send + Sync>;

/// How the operations of a sample are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    /// Each worker's iteration is an operation of its own (a lock taken and released).
    Thread,
    /// The workers' iterations make one operation together (a barrier crossed by all, a
    /// ping-pong's round trip).
    Round,
    /// Worker 0 consumes, every other worker produces: each producer's iteration is one item
    /// handed over (with one thread, the thread puts and gets).
    Producer,
}

/// Who a subject is: the code under test, or a baseline.
#[derive(Debug, Clone, Copy)]
pub enum Subject {
    /// The code under test, by the name of what is timed (`Lock`, `Mutex`).
    Ours(&'static str),
    /// A baseline built on `std` (what it is: `Mutex`, `Mutex+Condvar semaphore`).
    Std(&'static str),
    /// A baseline built on `parking_lot`.
    ParkingLot(&'static str),
}

impl Subject {
    /// The subject as the protocol carries it: its column, a space, what it is.
    fn label(self) -> String {
        match self {
            Subject::Ours(what) => format!("ours {what}"),
            Subject::Std(what) => format!("std {what}"),
            Subject::ParkingLot(what) => format!("parking_lot {what}"),
        }
    }
}

/// One implementation of one operation, timed at each number of threads of its group.
pub struct Bench {
    pub subject: Subject,
    /// Makes the shared state for `threads` workers and returns what they run.
    pub setup: fn(threads: usize) -> Work,
}

/// An operation and its implementations, timed at each number of threads.
pub struct Group {
    /// What one operation is (`acquire + release`).
    pub name: &'static str,
    pub threads: &'static [usize],
    pub per: Per,
    pub benches: Vec<Bench>,
}

/// Samples per case, at most: the report line carries them all.
const MAX_SAMPLES: usize = 60;
/// Fewer samples than this make no interval worth printing.
const MIN_SAMPLES: usize = 5;

/// The entry point of every bench binary.
pub fn main(groups: &[Group]) -> ! {
    let args = match BenchArgs::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            exit(2);
        }
    };
    // The nonce and the report pipe, before any code under test runs in `main`.
    let (nonce, pipe) = protocol::take_report_channel("bench");
    let reporter = Reporter {
        nonce,
        pipe: Mutex::new(pipe),
    };
    // Panics are reported as data; their default message would only clutter captured output.
    panic::set_hook(Box::new(|_| {}));

    let cases: usize = groups
        .iter()
        .map(|g| g.threads.len() * g.benches.len())
        .sum();
    let per_case = Duration::from_millis(args.budget_ms) / cases.max(1) as u32;
    for group in groups {
        // A subject that failed is not run again with more threads: its failure stands, and a
        // thread it left stuck must not slow the cases after it more than it has to.
        let mut failed: Vec<(String, Failure)> = Vec::new();
        for &threads in group.threads {
            // Each subject warms up and is calibrated on its own…
            let mut timers: Vec<Timer> = Vec::new();
            for bench in &group.benches {
                let case = Case {
                    group: group.name.to_string(),
                    subject: bench.subject.label(),
                    threads: threads as u32,
                };
                reporter.send(&Report::Measuring(case.clone()));
                let earlier = failed.iter().find(|(s, _)| *s == case.subject);
                let timer = match earlier {
                    Some((_, failure)) => Timer::failed(case, failure.clone()),
                    None => match Timer::warm_up(bench, threads, group.per, per_case) {
                        Ok(timer) => timer.for_case(case),
                        Err(failure) => {
                            failed.push((case.subject.clone(), failure.clone()));
                            Timer::failed(case, failure)
                        }
                    },
                };
                timers.push(timer);
            }
            // …then their samples are taken in turns, so that whatever else the machine does
            // meanwhile weighs on every subject alike, and the ratios stay fair.
            let measuring = Instant::now();
            let budget = per_case * 4 / 5 * timers.len() as u32;
            loop {
                let wanted: Vec<usize> = (0..timers.len())
                    .filter(|&t| timers[t].wants_more(measuring.elapsed() < budget))
                    .collect();
                if wanted.is_empty() {
                    break;
                }
                for t in wanted {
                    reporter.send(&Report::Measuring(timers[t].case.clone()));
                    if let Err(failure) = timers[t].sample() {
                        failed.push((timers[t].case.subject.clone(), failure));
                    }
                }
            }
            for timer in timers {
                reporter.send(&timer.report());
            }
        }
    }
    reporter.send(&Report::Done);
    exit(0);
}

struct Reporter {
    nonce: String,
    pipe: Mutex<std::fs::File>,
}

impl Reporter {
    fn send(&self, report: &Report) {
        let mut pipe = self.pipe.lock().unwrap_or_else(|e| e.into_inner());
        // One write per line, under PIPE_BUF: lines never interleave.
        if pipe
            .write_all(report.encode(&self.nonce).as_bytes())
            .is_err()
        {
            exit(3);
        }
    }
}

/// Leaves at once, without running exit handlers or waiting for workers stuck in code under
/// test.
fn exit(code: i32) -> ! {
    // SAFETY: `_exit` takes no pointers and never returns.
    unsafe { libc::_exit(code) }
}

type Failure = (Verdict, String);

fn classify(payload: &(dyn Any + Send)) -> Failure {
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

/// The case's workers: each waits for a number of iterations, starts with the others, and says
/// when it is done (or how it panicked).
struct Workers {
    orders: Vec<mpsc::Sender<u64>>,
    start: Arc<Barrier>,
    done: mpsc::Receiver<Result<(), Failure>>,
}

impl Workers {
    fn spawn(work: Work, threads: usize) -> Workers {
        let work = Arc::new(work);
        let start = Arc::new(Barrier::new(threads + 1));
        let (done_tx, done) = mpsc::channel();
        let orders = (0..threads)
            .map(|index| {
                let (tx, rx) = mpsc::channel::<u64>();
                let (work, start, done) = (Arc::clone(&work), Arc::clone(&start), done_tx.clone());
                std::thread::spawn(move || {
                    while let Ok(iterations) = rx.recv() {
                        start.wait();
                        let result =
                            panic::catch_unwind(AssertUnwindSafe(|| work(index, iterations)))
                                .map_err(|payload| classify(&*payload));
                        if done.send(result).is_err() {
                            break;
                        }
                    }
                });
                tx
            })
            .collect();
        Workers {
            orders,
            start,
            done,
        }
    }

    /// Runs one sample of `iterations` per worker; its duration, or why it has none.
    fn sample(&self, iterations: u64, limit: Duration) -> Result<Duration, Failure> {
        for order in &self.orders {
            order
                .send(iterations)
                .map_err(|_| (Verdict::Panic, "a worker thread is gone".to_string()))?;
        }
        self.start.wait();
        let started = Instant::now();
        let deadline = started + limit;
        let mut first_failure = None;
        for _ in 0..self.orders.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.done.recv_timeout(left) {
                Ok(Ok(())) => {}
                Ok(Err(failure)) => {
                    first_failure.get_or_insert(failure);
                }
                Err(_) => {
                    return Err(first_failure.unwrap_or_else(|| {
                        (
                            Verdict::Fail,
                            format!(
                                "a sample ({iterations} operation(s) a thread) did not finish \
                                 within {limit:?} (deadlock or lost wake-up?)"
                            ),
                        )
                    }))
                }
            }
        }
        let elapsed = started.elapsed();
        match first_failure {
            Some(failure) => Err(failure),
            None => Ok(elapsed),
        }
    }
}

/// One case being timed: its workers and the iterations of a sample, calibrated, and the
/// samples so far (the nanoseconds of one operation in each), or why it has none.
struct Timer {
    case: Case,
    workers: Option<Workers>,
    iterations: u64,
    operations: u64,
    limit: Duration,
    nanos: Vec<f64>,
    failure: Option<Failure>,
}

impl Timer {
    /// Sets the case up and warms it up for a fifth of `budget`: doubles the iterations until a
    /// sample lasts about its share, then adjusts them by at most a factor of two a sample
    /// (threads that happen to run one after the other in a time slice make a sample look
    /// cheap).
    fn warm_up(
        bench: &Bench,
        threads: usize,
        per: Per,
        budget: Duration,
    ) -> Result<Timer, Failure> {
        let work = panic::catch_unwind(|| (bench.setup)(threads)).map_err(|p| classify(&*p))?;
        let workers = Workers::spawn(work, threads);
        // A sample that takes far longer than planned is a code under test that no longer runs.
        let limit = budget.max(Duration::from_secs(1)) * 4;
        let sample_time = (budget * 4 / 5) / MAX_SAMPLES as u32;
        let warm_up = Instant::now();
        let mut iterations = 1u64;
        while workers.sample(iterations, limit)? < sample_time / 2 && warm_up.elapsed() < budget / 5
        {
            iterations = iterations.saturating_mul(2);
        }
        while warm_up.elapsed() < budget / 5 {
            let took = workers.sample(iterations, limit)?.as_secs_f64().max(1e-9);
            let wanted = iterations as f64 * sample_time.as_secs_f64() / took;
            iterations = (wanted as u64)
                .clamp(iterations / 2, iterations.saturating_mul(2))
                .max(1);
        }
        let operations = iterations
            * match per {
                Per::Thread => threads as u64,
                Per::Round => 1,
                Per::Producer => threads.saturating_sub(1).max(1) as u64,
            };
        Ok(Timer {
            case: Case {
                group: String::new(),
                subject: String::new(),
                threads: threads as u32,
            },
            workers: Some(workers),
            iterations,
            operations,
            limit,
            nanos: Vec::with_capacity(MAX_SAMPLES),
            failure: None,
        })
    }

    fn for_case(self, case: Case) -> Timer {
        Timer { case, ..self }
    }

    fn failed(case: Case, failure: Failure) -> Timer {
        Timer {
            case,
            workers: None,
            iterations: 0,
            operations: 0,
            limit: Duration::ZERO,
            nanos: Vec::new(),
            failure: Some(failure),
        }
    }

    /// Whether to take another sample: up to the most a report carries while `in_time`, and
    /// past the time until there are enough for an interval.
    fn wants_more(&self, in_time: bool) -> bool {
        self.failure.is_none()
            && self.nanos.len() < MAX_SAMPLES
            && (in_time || self.nanos.len() < MIN_SAMPLES)
    }

    fn sample(&mut self) -> Result<(), Failure> {
        let workers = self
            .workers
            .as_ref()
            .expect("a timer without failure has workers");
        match workers.sample(self.iterations, self.limit) {
            Ok(took) => {
                self.nanos
                    .push(took.as_secs_f64() * 1e9 / self.operations as f64);
                Ok(())
            }
            Err(failure) => {
                // Its workers end when their order channels close (or stay stuck).
                self.workers = None;
                self.failure = Some(failure.clone());
                Err(failure)
            }
        }
    }

    fn report(self) -> Report {
        match self.failure {
            None => Report::Measured {
                case: self.case,
                nanos: self.nanos,
            },
            Some((verdict, message)) => Report::Unmeasured {
                case: self.case,
                verdict,
                message,
            },
        }
    }
}
