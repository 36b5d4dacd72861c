//! The protocol between a check process (the `harness` side) and the grader.
//!
//! The grader starts a check binary as `BINARY run NAME --seed N --trials N --perturb N`
//! ([`RunArgs`]), writes a fresh nonce on its standard input, and reads report lines from
//! descriptor [`REPORT_FD`]. Every line is `NONCE \t kind \t fields…`; a line with another nonce
//! was not written by the harness and is ignored. Both sides use this one definition, so the
//! wire format cannot drift between them.

/// The descriptor the harness reports on: the write end of a pipe only the grader reads.
pub const REPORT_FD: i32 = 3;

/// The process side of the handshake, for check and bench binaries alike: reads the nonce from
/// standard input and takes the report descriptor, closed on exec so that no child of the code
/// under test inherits it. Run it before any code under test. Exits with status 2 when the
/// process was not started by the grader (`binary` names it in the message).
pub fn take_report_channel(binary: &str) -> (String, std::fs::File) {
    use std::io::Read as _;
    use std::os::fd::FromRawFd as _;
    let mut nonce = String::new();
    if std::io::stdin().read_to_string(&mut nonce).is_err() || nonce.trim().len() < 16 {
        eprintln!("no nonce on standard input: {binary} binaries are run by the grader");
        std::process::exit(2);
    }
    // SAFETY: the grader opens the report descriptor as the write end of its pipe; we take sole
    // ownership of it here, once.
    let pipe = unsafe { std::fs::File::from_raw_fd(REPORT_FD) };
    // SAFETY: plain fcntl on a descriptor we own.
    unsafe { libc::fcntl(REPORT_FD, libc::F_SETFD, libc::FD_CLOEXEC) };
    (nonce.trim().to_string(), pipe)
}

/// Longest field, in characters: a report line stays one short `write`.
const FIELD_CHARS: usize = 2000;
/// Longest schedule: cut, it would not replay (a scenario's schedules are a few hundred).
const SCHEDULE_CHARS: usize = 64 * 1024;

/// How one trial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// A check's own assertion failed.
    Fail,
    /// The code under test panicked.
    Panic,
    /// The code under test reached a `todo!()`.
    NotImplemented,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Panic => "panic",
            Verdict::NotImplemented => "not_implemented",
        }
    }

    pub fn parse(word: &str) -> Option<Verdict> {
        [
            Verdict::Pass,
            Verdict::Fail,
            Verdict::Panic,
            Verdict::NotImplemented,
        ]
        .into_iter()
        .find(|v| v.word() == word)
    }
}

/// One line of the report pipe.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// A trial starts: its wall-clock limit counts from here.
    Start { index: u64, seed: u64 },
    /// A trial ended.
    Trial {
        index: u64,
        seed: u64,
        verdict: Verdict,
        micros: u64,
        message: String,
    },
    /// The schedule under which the next `Trial` failed, when an explored scenario failed:
    /// `--schedule` replays it.
    Schedule(String),
    /// The check ran to its end: without it, nothing the process reported counts as a pass.
    Done,
    /// The check binary refused to run (a grader bug: an unknown check name, say).
    Error(String),
    /// A bench binary starts measuring a case: like `Start`, its wall-clock limit counts from here.
    Measuring(Case),
    /// A case measured: the time of one operation in each sample, in nanoseconds.
    Measured { case: Case, nanos: Vec<f64> },
    /// A case that could not be measured: the code under test panicked, reached a `todo!()`,
    /// or did not finish a sample in time.
    Unmeasured {
        case: Case,
        verdict: Verdict,
        message: String,
    },
}

/// One row of a bench: an operation (`group`), whose implementation (`subject`: `ours`, `std`,
/// `parking_lot`), by how many threads at once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Case {
    pub group: String,
    pub subject: String,
    pub threads: u32,
}

impl Report {
    /// The line (with its newline) that carries this report.
    pub fn encode(&self, nonce: &str) -> String {
        let fields: Vec<String> = match self {
            Report::Start { index, seed } => {
                vec!["start".into(), index.to_string(), seed.to_string()]
            }
            Report::Trial {
                index,
                seed,
                verdict,
                micros,
                message,
            } => vec![
                "trial".into(),
                index.to_string(),
                seed.to_string(),
                verdict.word().into(),
                micros.to_string(),
                message.clone(),
            ],
            Report::Schedule(schedule) => vec!["schedule".into(), schedule.clone()],
            Report::Done => vec!["done".into()],
            Report::Error(message) => vec!["error".into(), message.clone()],
            Report::Measuring(case) => case.fields("measuring"),
            Report::Measured { case, nanos } => {
                let mut fields = case.fields("measured");
                // Thousandths of a nanosecond (an operation may take two); 60 samples fit a field.
                fields.push(
                    nanos
                        .iter()
                        .map(|n| format!("{n:.3}"))
                        .collect::<Vec<_>>()
                        .join(","),
                );
                fields
            }
            Report::Unmeasured {
                case,
                verdict,
                message,
            } => {
                let mut fields = case.fields("unmeasured");
                fields.push(verdict.word().into());
                fields.push(message.clone());
                fields
            }
        };
        let cap = match self {
            Report::Schedule(_) => SCHEDULE_CHARS,
            _ => FIELD_CHARS,
        };
        let mut line = nonce.to_string();
        for field in fields {
            line.push('\t');
            line.extend(
                field
                    .chars()
                    .map(|c| {
                        if matches!(c, '\t' | '\n' | '\r') {
                            ' '
                        } else {
                            c
                        }
                    })
                    .take(cap),
            );
        }
        line.push('\n');
        line
    }

    /// The report a line carries, if it carries `nonce` and is well formed.
    pub fn decode(line: &str, nonce: &str) -> Option<Report> {
        let mut fields = line.trim_end_matches('\n').split('\t');
        if fields.next()? != nonce {
            return None;
        }
        let kind = fields.next()?;
        let mut number = || fields.next().and_then(|f| f.parse::<u64>().ok());
        Some(match kind {
            "start" => Report::Start {
                index: number()?,
                seed: number()?,
            },
            "schedule" => Report::Schedule(fields.next()?.to_string()),
            "trial" => {
                let (index, seed) = (number()?, number()?);
                let verdict = Verdict::parse(fields.next()?)?;
                let micros = fields.next()?.parse().ok()?;
                let message = fields.next().unwrap_or("").to_string();
                Report::Trial {
                    index,
                    seed,
                    verdict,
                    micros,
                    message,
                }
            }
            "done" => Report::Done,
            "error" => Report::Error(fields.next().unwrap_or("").to_string()),
            "measuring" | "measured" | "unmeasured" => {
                let case = Case {
                    group: fields.next()?.to_string(),
                    subject: fields.next()?.to_string(),
                    threads: fields.next()?.parse().ok()?,
                };
                match kind {
                    "measuring" => Report::Measuring(case),
                    "measured" => Report::Measured {
                        case,
                        nanos: fields
                            .next()?
                            .split(',')
                            .map(|n| n.parse::<f64>().ok().filter(|n| n.is_finite()))
                            .collect::<Option<_>>()?,
                    },
                    _ => Report::Unmeasured {
                        case,
                        verdict: Verdict::parse(fields.next()?)?,
                        message: fields.next().unwrap_or("").to_string(),
                    },
                }
            }
            _ => return None,
        })
    }
}

impl Case {
    fn fields(&self, kind: &str) -> Vec<String> {
        vec![
            kind.into(),
            self.group.clone(),
            self.subject.clone(),
            self.threads.to_string(),
        ]
    }
}

/// What the grader asks a bench binary to do: measure every case, within about `budget_ms`
/// milliseconds in all (`BINARY bench --budget-ms N`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchArgs {
    pub budget_ms: u64,
}

impl BenchArgs {
    pub fn to_args(&self) -> Vec<String> {
        vec![
            "bench".into(),
            "--budget-ms".into(),
            self.budget_ms.to_string(),
        ]
    }

    /// Reads the arguments after the program name.
    pub fn parse(args: impl Iterator<Item = String>) -> Result<BenchArgs, String> {
        let args: Vec<String> = args.collect();
        match args.as_slice() {
            [bench, flag, n] if bench == "bench" && flag == "--budget-ms" => n
                .parse()
                .map(|budget_ms| BenchArgs { budget_ms })
                .map_err(|_| format!("bad --budget-ms: {n}")),
            _ => Err("usage: BENCH-BINARY bench --budget-ms N".into()),
        }
    }
}

/// What the grader asks a check binary to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Print the names of the compiled checks, one a line (authoring tests only).
    List,
    Run(RunArgs),
}

/// Run one check's trials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunArgs {
    pub check: String,
    /// The first trial's seed; trial `i` runs with `seed + i`.
    pub seed: u64,
    pub trials: u64,
    /// Thousandths of synchronization points at which the backend perturbs the schedule.
    pub perturb: u32,
    /// No perturbation at all, also where a check turns it on itself: the schedule of a plain
    /// build (`cargo xtask bench detect` compares both).
    pub plain: bool,
    /// Run the check's explored scenario (if it has one) before its trials. Off for code the
    /// exploration cannot model, and for `bench detect`'s plain and perturb columns.
    pub explore: bool,
    /// Replay this schedule of the check's explored scenario, and nothing else.
    pub schedule: Option<String>,
}

impl RunArgs {
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            "run".into(),
            self.check.clone(),
            "--seed".into(),
            self.seed.to_string(),
            "--trials".into(),
            self.trials.to_string(),
            "--perturb".into(),
            self.perturb.to_string(),
        ];
        if self.plain {
            args.extend(["--plain".into(), "1".into()]);
        }
        if !self.explore {
            args.extend(["--explore".into(), "0".into()]);
        }
        if let Some(schedule) = &self.schedule {
            args.extend(["--schedule".into(), schedule.clone()]);
        }
        args
    }
}

pub const USAGE: &str =
    "usage: CHECK-BINARY list | run NAME [--seed N] [--trials N] [--perturb N] [--plain 0|1] \
     [--explore 0|1] [--schedule S]";

impl Request {
    /// Reads the arguments after the program name.
    pub fn parse(mut args: impl Iterator<Item = String>) -> Result<Request, String> {
        match args.next().as_deref() {
            Some("list") => Ok(Request::List),
            Some("run") => {
                let check = args.next().ok_or("run needs a check name")?;
                let mut run = RunArgs {
                    check,
                    seed: 0,
                    trials: 1,
                    perturb: 0,
                    plain: false,
                    explore: true,
                    schedule: None,
                };
                while let Some(flag) = args.next() {
                    let value = args.next().ok_or(format!("{flag} needs a value"))?;
                    if flag == "--schedule" {
                        run.schedule = Some(value);
                        continue;
                    }
                    let number: u64 = value.parse().map_err(|_| format!("bad {flag}: {value}"))?;
                    match flag.as_str() {
                        "--seed" => run.seed = number,
                        // 0: the explored scenario alone (`bench detect`).
                        "--trials" => run.trials = number,
                        "--perturb" => run.perturb = number.min(1000) as u32,
                        "--plain" => run.plain = number != 0,
                        "--explore" => run.explore = number != 0,
                        _ => return Err(format!("unknown flag {flag}")),
                    }
                }
                Ok(Request::Run(run))
            }
            _ => Err(USAGE.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip_and_need_the_nonce() {
        let reports = [
            Report::Start { index: 2, seed: 7 },
            Report::Trial {
                index: 2,
                seed: 7,
                verdict: Verdict::Fail,
                micros: 1234,
                message: "two holders\tat once\nsee".into(),
            },
            Report::Schedule("91022d0c1e4b2a".into()),
            // Longer than any other field may be: a cut schedule would not replay.
            Report::Schedule("9102".repeat(2000)),
            Report::Done,
            Report::Error("no check named x".into()),
            Report::Measuring(case()),
            Report::Measured {
                case: case(),
                nanos: vec![12.5, 13.0, 1e6],
            },
            Report::Unmeasured {
                case: case(),
                verdict: Verdict::NotImplemented,
                message: "not yet implemented".into(),
            },
        ];
        for report in reports {
            let line = report.encode("n0nce");
            assert_eq!(line.matches('\n').count(), 1, "one line: {line:?}");
            let back = Report::decode(&line, "n0nce").expect("decodes");
            match (&report, &back) {
                (Report::Trial { message, .. }, Report::Trial { message: got, .. }) => {
                    assert_eq!(got, &message.replace(['\t', '\n'], " "));
                }
                _ => assert_eq!(back, report),
            }
            assert_eq!(
                Report::decode(&line, "other"),
                None,
                "a wrong nonce is ignored"
            );
        }
        assert_eq!(
            Report::decode("n0nce\ttrial\t1\t2\tmaybe\t3\t", "n0nce"),
            None
        );
    }

    fn case() -> Case {
        Case {
            group: "acquire + release".into(),
            subject: "parking_lot".into(),
            threads: 8,
        }
    }

    #[test]
    fn bench_arguments_round_trip() {
        let args = BenchArgs { budget_ms: 20_000 };
        assert_eq!(BenchArgs::parse(args.to_args().into_iter()), Ok(args));
        assert!(BenchArgs::parse(["bench".to_string()].into_iter()).is_err());
        let nan = Report::Measured {
            case: case(),
            nanos: vec![f64::NAN],
        };
        assert_eq!(Report::decode(&nan.encode("n"), "n"), None, "numbers only");
    }

    #[test]
    fn run_arguments_round_trip() {
        let run = RunArgs {
            check: "mutual_exclusion".into(),
            seed: 42,
            trials: 12,
            perturb: 150,
            plain: false,
            explore: true,
            schedule: None,
        };
        assert_eq!(
            Request::parse(run.to_args().into_iter()),
            Ok(Request::Run(run.clone()))
        );
        for other in [
            RunArgs {
                plain: true,
                ..run.clone()
            },
            RunArgs {
                explore: false,
                ..run.clone()
            },
            RunArgs {
                schedule: Some("91022d0c1e4b2a".into()),
                ..run.clone()
            },
        ] {
            assert_eq!(
                Request::parse(other.to_args().into_iter()),
                Ok(Request::Run(other))
            );
        }
        assert_eq!(
            Request::parse(["list".to_string()].into_iter()),
            Ok(Request::List)
        );
        assert!(Request::parse(["run".to_string()].into_iter()).is_err());
    }
}
