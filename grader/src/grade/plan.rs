//! What a grade will do: the options checked, each exercise's file read once, the stage keys,
//! and the seed of every check.

use anyhow::{bail, Result};

use crate::catalog::{Catalog, CheckSpec, Exercise};
use crate::source::{Found, Source};

#[derive(Debug, Clone)]
pub struct GradeOptions {
    pub source: Source,
    /// Exercise ids, in catalog order.
    pub exercises: Vec<String>,
    /// Run only these checks (all when empty).
    pub checks: Vec<String>,
    /// Replay: the first trial's seed (with one trial unless `trials` says otherwise).
    pub seed: Option<u64>,
    /// Trials of every stress check, instead of the checks file's number.
    pub trials: Option<u64>,
    /// Check processes at once.
    pub jobs: usize,
    /// Seeds come from each exercise's source instead of a random base: the same code gets
    /// the same trials (a batch's results are reproducible, and identical sources share them).
    pub seeds_from_source: bool,
    /// Replay the explored scenario of the one selected check under this schedule (as a failure
    /// printed it), and nothing else.
    pub schedule: Option<String>,
}

impl GradeOptions {
    pub fn selects(&self, spec: &CheckSpec) -> bool {
        self.checks.is_empty() || self.checks.contains(&spec.name)
    }

    /// The first seed and the number of trials of one runtime check.
    pub fn seed_and_trials(&self, base_seed: u64, exercise: &str, spec: &CheckSpec) -> (u64, u64) {
        let (seed, trials) = match self.seed {
            _ if self.schedule.is_some() => (self.seed.unwrap_or(0), 1),
            // A replay runs the named seed itself.
            Some(seed) => (seed, self.trials.unwrap_or(1)),
            None => {
                let salt = crate::sha256_hex(format!("{exercise}/{}", spec.name).as_bytes());
                let salt = u64::from_str_radix(&salt[..8], 16).unwrap_or(0);
                let trials = match self.trials {
                    Some(n) if spec.category == crate::catalog::Category::Stress => n,
                    _ => spec.trials,
                };
                ((base_seed ^ salt) % 1_000_000_000, trials)
            }
        };
        (seed, trials.max(1))
    }
}

/// One exercise of one submission, its file read.
pub struct Planned<'c> {
    pub exercise: &'c Exercise,
    pub found: Found,
    /// The key of its staged packages (see [`crate::stage::Member`]).
    pub key: String,
    /// Whether an api check is selected, so its cases must be built.
    pub api: bool,
}

/// Checks the options and reads every selected file, before any code under test runs: a file
/// that changes during grading is graded as it was read here.
pub fn plan<'c>(catalog: &'c Catalog, options: &GradeOptions) -> Result<Vec<Planned<'c>>> {
    let selected: Vec<&Exercise> = options
        .exercises
        .iter()
        .map(|id| catalog.find(id))
        .collect::<Result<_>>()?;
    if let Some(schedule) = &options.schedule {
        if options.checks.len() != 1 || selected.len() != 1 {
            bail!("--schedule replays one check's explored scenario: name one exercise and one --check");
        }
        if schedule.is_empty() || !schedule.chars().all(|c| c.is_ascii_hexdigit()) {
            bail!("--schedule takes the schedule a failure printed: hexadecimal digits, got `{schedule}`");
        }
    }
    for check in &options.checks {
        if !selected.iter().any(|e| e.check(check).is_some()) {
            bail!(
                "no check named `{check}` in {}",
                selected
                    .iter()
                    .map(|e| e.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    Ok(selected
        .into_iter()
        .map(|exercise| {
            let found = options.source.read(&catalog.root, &exercise.id);
            let key = match (&options.source, &found) {
                // The learner's own folders keep one stage each, rebuilt incrementally.
                (Source::Exercises, _) => "exercises".to_string(),
                (Source::Solutions, _) => "solutions".to_string(),
                (Source::Submission(_), Found::File { code, .. }) => content_key(exercise, code),
                (Source::Submission(_) | Source::Refused(_), _) => String::new(),
            };
            let api = exercise
                .checks
                .iter()
                .any(|c| c.category == crate::catalog::Category::Api && options.selects(c));
            Planned {
                exercise,
                found,
                key,
                api,
            }
        })
        .collect())
}

/// Same exercise and same bytes, same key: byte-identical submissions share their build.
pub fn content_key(exercise: &Exercise, code: &str) -> String {
    let digest = crate::sha256_hex(format!("{}\0{code}", exercise.id).as_bytes());
    format!("h{}", &digest[..16])
}

/// Whether the checks' explored scenarios can model this code: exploration runs every thread
/// of a scenario on one OS thread, so per-thread state kept in `thread_local!` would be shared
/// by all of them (and read wrong). Such code is judged by its stress trials alone. The test is
/// on the text, comments included: a word too many costs exploration, never a false failure.
pub fn explorable(code: &str) -> bool {
    !code.contains("thread_local")
}

/// A base seed for an exercise's checks, from its stage key (its content's digest).
pub fn seed_of_key(key: &str) -> u64 {
    let digest = crate::sha256_hex(key.as_bytes());
    u64::from_str_radix(&digest[..12], 16).unwrap_or(0) % 1_000_000_000
}

pub fn random_seed() -> u64 {
    let mut bytes = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut bytes);
    }
    // Short seeds are easier to type in a replay command.
    u64::from_le_bytes(bytes) % 1_000_000_000
}
