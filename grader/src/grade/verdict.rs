//! Turns what a check process reported, and how it ended, into a check's status and message.
//! Only reports carrying the nonce count; a pass needs every trial's `pass` and the final `done`.

use protocol::{Report, Verdict};

use crate::catalog::CheckSpec;
use crate::outcome::CheckStatus;
use crate::sandbox::{Ending, Run};

/// A check's result, before scoring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    pub status: CheckStatus,
    pub message: String,
    /// Trials run, up to and including the first that did not pass.
    pub trials: u64,
    pub failed_trials: u64,
    /// The failing trial's seed, else the first trial's.
    pub seed: u64,
    /// The schedule reported with the failing trial: its explored scenario failed under it.
    pub schedule: Option<String>,
}

pub fn judge(spec: &CheckSpec, first_seed: u64, requested: u64, run: &Run) -> Judged {
    let mut judged = Judged {
        status: CheckStatus::Crash,
        message: String::new(),
        trials: 0,
        failed_trials: 0,
        seed: first_seed,
        schedule: None,
    };
    let trial_of = |index: u64| {
        if requested > 1 {
            format!("trial {} of {requested}", index + 1)
        } else {
            String::new()
        }
    };
    let mut running: Option<(u64, u64)> = None;
    let mut passed = 0;
    let mut done = false;
    for report in &run.reports {
        match report {
            Report::Start { index, seed } => running = Some((*index, *seed)),
            Report::Trial {
                index,
                seed,
                verdict,
                message,
                ..
            } => {
                running = None;
                judged.trials = index + 1;
                if *verdict == Verdict::Pass {
                    passed += 1;
                    continue;
                }
                judged.failed_trials = 1;
                judged.seed = *seed;
                // An explored scenario's failure is no trial's: its schedule names it.
                let trial = match trial_of(*index) {
                    _ if judged.schedule.is_some() => String::new(),
                    t if t.is_empty() => t,
                    t => format!("{t}: "),
                };
                (judged.status, judged.message) = match verdict {
                    Verdict::Fail => (CheckStatus::Fail, format!("{trial}{message}")),
                    Verdict::NotImplemented => (
                        CheckStatus::NotImplemented,
                        "not implemented yet (a todo!() was reached)".to_string(),
                    ),
                    Verdict::Panic | Verdict::Pass => (
                        CheckStatus::Panic,
                        format!("{trial}the code under test panicked: {message}"),
                    ),
                };
                return judged;
            }
            Report::Schedule(schedule) => judged.schedule = Some(schedule.clone()),
            Report::Done => done = true,
            Report::Error(message) => {
                judged.status = CheckStatus::Error;
                judged.message = if message.starts_with("--schedule") {
                    message.clone()
                } else {
                    format!("the check binary refused to run (grader bug): {message}")
                };
                return judged;
            }
            // A bench's reports: no check binary sends them, and they carry no verdict.
            Report::Measuring(_) | Report::Measured { .. } | Report::Unmeasured { .. } => {}
        }
    }
    if done && passed == requested {
        judged.status = CheckStatus::Pass;
        judged.trials = requested;
        return judged;
    }
    let (index, seed) = running.unwrap_or((passed, judged.seed));
    judged.trials = index + 1;
    judged.failed_trials = 1;
    judged.seed = seed;
    let trial = match trial_of(index) {
        t if t.is_empty() => t,
        t => format!("{t} "),
    };
    let tail = last_lines(&run.stderr, 3);
    (judged.status, judged.message) = match run.ending {
        Ending::TimedOut => (
            CheckStatus::Timeout,
            format!(
                "{trial}did not finish within {} ms: deadlock or lost wake-up suspected",
                spec.timeout_ms
            ),
        ),
        Ending::Signalled(signal) => (
            CheckStatus::Crash,
            format!("{trial}was killed by {}{tail}", signal_name(signal)),
        ),
        Ending::Exited(code) => (
            CheckStatus::Crash,
            format!(
                "{trial}ended with exit code {code} before the check finished \
                 (process::exit or abort in the code under test?){tail}"
            ),
        ),
    };
    if run.forged_lines > 0 {
        judged.message.push_str(&format!(
            " [{} forged report line(s) ignored]",
            run.forged_lines
        ));
    }
    judged
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    format!(": {}", lines[lines.len().saturating_sub(n)..].join(" | "))
}

pub(crate) fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGSEGV => "SIGSEGV (a stack overflow or invalid memory access)",
        libc::SIGABRT => "SIGABRT (an abort: e.g. a panic while panicking, or a stack overflow)",
        libc::SIGKILL => "SIGKILL (out of memory, or a resource limit)",
        libc::SIGBUS => "SIGBUS (invalid memory access)",
        libc::SIGILL => "SIGILL (an illegal instruction)",
        libc::SIGFPE => "SIGFPE (an arithmetic fault)",
        libc::SIGXCPU => "SIGXCPU (the CPU time limit)",
        libc::SIGXFSZ => "SIGXFSZ (an attempt to write a file)",
        _ => return format!("signal {signal}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn spec() -> CheckSpec {
        toml::from_str(
            "name = 'c'\ncategory = 'stress'\npoints = 5\ntrials = 3\ntimeout_ms = 100\nhint = ''",
        )
        .expect("a check spec")
    }

    fn run(reports: Vec<Report>, ending: Ending) -> Run {
        Run {
            reports,
            ending,
            stdout: String::new(),
            stderr: String::new(),
            elapsed: Duration::ZERO,
            forged_lines: 0,
        }
    }

    fn trial(index: u64, verdict: Verdict) -> Vec<Report> {
        vec![
            Report::Start {
                index,
                seed: 10 + index,
            },
            Report::Trial {
                index,
                seed: 10 + index,
                verdict,
                micros: 1,
                message: "why".into(),
            },
        ]
    }

    #[test]
    fn a_pass_needs_every_trial_and_done() {
        let mut all: Vec<Report> = (0..3).flat_map(|i| trial(i, Verdict::Pass)).collect();
        let without_done = judge(&spec(), 10, 3, &run(all.clone(), Ending::Exited(0)));
        assert_eq!(without_done.status, CheckStatus::Crash);
        all.push(Report::Done);
        assert_eq!(
            judge(&spec(), 10, 3, &run(all.clone(), Ending::Exited(0))).status,
            CheckStatus::Pass
        );
        let short = judge(&spec(), 10, 4, &run(all, Ending::Exited(0)));
        assert_ne!(short.status, CheckStatus::Pass, "fewer trials than asked");
    }

    #[test]
    fn the_first_bad_trial_names_its_seed() {
        let mut reports = trial(0, Verdict::Pass);
        reports.extend(trial(1, Verdict::Fail));
        let judged = judge(&spec(), 10, 3, &run(reports, Ending::Exited(0)));
        assert_eq!(judged.status, CheckStatus::Fail);
        assert_eq!((judged.seed, judged.trials), (11, 2));
        assert!(judged.message.starts_with("trial 2 of 3: why"));
    }

    #[test]
    fn an_explored_failure_carries_its_schedule_and_no_trial_number() {
        let mut reports = vec![
            Report::Start { index: 0, seed: 10 },
            Report::Schedule("91021c8e".into()),
        ];
        reports.extend(trial(0, Verdict::Fail).into_iter().skip(1));
        reports.push(Report::Done);
        let judged = judge(&spec(), 10, 3, &run(reports, Ending::Exited(0)));
        assert_eq!(judged.status, CheckStatus::Fail);
        assert_eq!(judged.schedule.as_deref(), Some("91021c8e"));
        assert!(judged.message.starts_with("why"), "{}", judged.message);

        let passed: Vec<Report> = (0..3).flat_map(|i| trial(i, Verdict::Pass)).collect();
        let mut passed = passed;
        passed.push(Report::Done);
        assert_eq!(
            judge(&spec(), 10, 3, &run(passed, Ending::Exited(0))).schedule,
            None
        );
    }

    #[test]
    fn a_silent_trial_is_a_timeout_or_a_crash() {
        let mut reports = trial(0, Verdict::Pass);
        reports.push(Report::Start { index: 1, seed: 11 });
        let hung = judge(&spec(), 10, 3, &run(reports.clone(), Ending::TimedOut));
        assert_eq!((hung.status, hung.seed), (CheckStatus::Timeout, 11));
        let killed = judge(
            &spec(),
            10,
            3,
            &run(reports, Ending::Signalled(libc::SIGSEGV)),
        );
        assert_eq!(killed.status, CheckStatus::Crash);
        assert!(killed.message.contains("SIGSEGV"));
    }

    #[test]
    fn a_refusal_is_the_graders_error() {
        let judged = judge(
            &spec(),
            10,
            1,
            &run(vec![Report::Error("no check".into())], Ending::Exited(2)),
        );
        assert_eq!(judged.status, CheckStatus::Error);
    }
}
