//! A made-up class for measuring the report (its size and the time to render it) without
//! grading anyone: scorecards with every status, long messages, compile errors, stubs, copies
//! and fingerprints, from a seeded generator.

use std::collections::BTreeMap;

use crate::batch::fingerprint::Fingerprint;
use crate::batch::summary::{Row, Summary, SUMMARY_FORMAT};
use crate::catalog::Catalog;
use crate::outcome::{CheckStatus, ExerciseStatus};
use crate::scorecard::{CheckCard, ExerciseCard, Host, Scorecard, FORMAT_VERSION};

pub struct SyntheticClass {
    pub summary: Summary,
    pub cards: Vec<Scorecard>,
    pub fingerprints: Vec<BTreeMap<String, Fingerprint>>,
}

/// xorshift64*: reproducible without a dependency.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const MESSAGES: &[&str] = &[
    "trial 7 of 40: two threads held the lock at once: thread 3 entered the critical section \
     while thread 1 was still in it (seen 2 holders after 1812 acquisitions)",
    "acquire(timeout=50ms) returned after 4ms without the lock: a timed wait must wait until its \
     deadline unless the lock is released",
    "the code under test panicked: called `Option::unwrap()` on a `None` value (at \
     src/lib.rs:214)",
    "a waiter was still blocked 2s after release(): the wake-up was lost (the futex word was \
     changed without a wake)",
    "blocked waiters used 96% of a core for 500ms: they spin instead of sleeping",
    "release() of an unlocked lock returned Ok(()); Python raises RuntimeError",
];

const COMPILER: &str = "error[E0599]: no method named `acquire_contended` found for reference \
    `&Lock` in the current scope\n   --> src/lib.rs:131:18\n    |\n131 |             \
    self.acquire_contended(None);\n    |                  ^^^^^^^^^^^^^^^^^ method not found in \
    `&Lock`\n\nerror[E0308]: mismatched types\n   --> src/lib.rs:160:9\n    |\n160 |         \
    self.state.swap(0, Release)\n    |         ^^^^^^^^^^^^^^^^^^^^^^^^^^^ expected `()`, found \
    `u32`\n\nerror: aborting due to 2 previous errors\n";

/// `students` submissions of every exercise of `catalog`.
pub fn class(catalog: &Catalog, students: usize, seed: u64) -> SyntheticClass {
    let mut random = Random(seed | 1);
    let ids: Vec<String> = catalog.exercises.iter().map(|e| e.id.clone()).collect();
    // Each check's difficulty; each exercise's pool of token sequences.
    let difficulty: Vec<Vec<f64>> = catalog
        .exercises
        .iter()
        .map(|e| e.checks.iter().map(|_| random.unit() * 0.6).collect())
        .collect();
    let mut cards = Vec::new();
    let mut fingerprints = Vec::new();
    for s in 0..students {
        let ability = 0.3 + 0.7 * random.unit();
        let mut exercises = Vec::new();
        let mut prints = BTreeMap::new();
        for (e, spec) in catalog.exercises.iter().enumerate() {
            let roll = random.unit();
            let status = match roll {
                r if r < 0.06 => ExerciseStatus::NotFound,
                r if r < 0.10 => ExerciseStatus::CompileError,
                r if r < 0.11 => ExerciseStatus::RulesViolation,
                r if r < 0.115 => ExerciseStatus::InvalidSubmission,
                _ => ExerciseStatus::Graded,
            };
            let stub = status == ExerciseStatus::Graded && random.unit() < 0.04;
            // Every tenth student copies the one before.
            let copied = s % 10 == 9;
            let source_sha256 = match status {
                ExerciseStatus::NotFound | ExerciseStatus::InvalidSubmission => String::new(),
                _ if stub => "stub".repeat(16),
                _ if copied => format!("{:064x}", (s - 1) * 100 + e),
                _ => format!("{:064x}", s * 100 + e),
            };
            if !source_sha256.is_empty() && !stub {
                let mut own = Random(if copied { s - 1 } else { s } as u64 * 7919 + e as u64 + 1);
                // Answers differ in length, as students' do.
                let size = 300 + own.next() % 1200;
                let hashes = (0..size)
                    .map(|i| {
                        // Half of any answer is common idiom, half the student's own.
                        if own.unit() < 0.5 {
                            i as u32
                        } else {
                            own.next() as u32
                        }
                    })
                    .collect::<std::collections::BTreeSet<u32>>();
                prints.insert(
                    spec.id.clone(),
                    Fingerprint {
                        hashes: hashes.into_iter().collect(),
                    },
                );
            }
            let checks: Vec<CheckCard> = spec
                .checks
                .iter()
                .enumerate()
                .map(|(c, check)| {
                    let status = match status {
                        ExerciseStatus::NotFound
                        | ExerciseStatus::InvalidSubmission
                        | ExerciseStatus::CompileError => CheckStatus::Skipped,
                        _ if stub && check.category.is_runtime() => CheckStatus::NotImplemented,
                        _ if random.unit() < ability + 0.35 - difficulty[e][c] => CheckStatus::Pass,
                        _ => match random.unit() {
                            r if r < 0.55 => CheckStatus::Fail,
                            r if r < 0.70 => CheckStatus::Timeout,
                            r if r < 0.80 => CheckStatus::Panic,
                            r if r < 0.85 => CheckStatus::Crash,
                            r if r < 0.995 => CheckStatus::NotImplemented,
                            _ => CheckStatus::Error,
                        },
                    };
                    let max = f64::from(check.points);
                    let failed = !matches!(status, CheckStatus::Pass | CheckStatus::Skipped);
                    CheckCard {
                        name: check.name.clone(),
                        category: check.category,
                        status,
                        score: if status == CheckStatus::Pass {
                            max
                        } else {
                            0.0
                        },
                        max_score: max,
                        trials: check.trials,
                        failed_trials: u64::from(failed),
                        seed: random.next() >> 16,
                        schedule: None,
                        duration_ms: random.next() % 3000,
                        message: if failed {
                            MESSAGES[(random.next() % MESSAGES.len() as u64) as usize].to_string()
                        } else {
                            String::new()
                        },
                        hint: if failed {
                            check.hint.clone()
                        } else {
                            String::new()
                        },
                    }
                })
                .collect();
            let score = if status == ExerciseStatus::RulesViolation {
                0.0
            } else {
                checks.iter().map(|c| c.score).sum()
            };
            exercises.push(ExerciseCard {
                id: spec.id.clone(),
                status,
                score,
                max_score: f64::from(spec.max_points()),
                source_sha256,
                build_seconds: 1.0,
                run_seconds: 2.0,
                message: match status {
                    ExerciseStatus::CompileError => COMPILER.to_string(),
                    ExerciseStatus::RulesViolation => {
                        "src/lib.rs:12:5: `std::sync::Mutex` is not an allowed building block"
                            .to_string()
                    }
                    ExerciseStatus::InvalidSubmission => {
                        "the archive holds an entry outside it: ../../etc/passwd".to_string()
                    }
                    _ => String::new(),
                },
                checks,
            });
        }
        fingerprints.push(prints);
        cards.push(Scorecard {
            format_version: FORMAT_VERSION,
            grader_version: crate::VERSION.to_string(),
            graded_at: "2026-01-01T00:00:00Z".to_string(),
            submission: format!("student-{s:03}"),
            score: exercises.iter().map(|e| e.score).sum(),
            max_score: exercises.iter().map(|e| e.max_score).sum(),
            host: Host { cores: 2 },
            checks_sha256: Some("0".repeat(64)),
            exercises,
        });
    }
    let summary = Summary {
        format_version: SUMMARY_FORMAT,
        grader_version: crate::VERSION.to_string(),
        checks_sha256: "0".repeat(64),
        exercises: ids.clone(),
        shard: None,
        submissions: cards
            .iter()
            .map(|card| Row::from_card(&card.submission, card, &ids))
            .collect(),
    };
    SyntheticClass {
        summary,
        cards,
        fingerprints,
    }
}
