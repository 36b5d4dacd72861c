//! Grading a class: every submission of a folder, with one build and one pool of check
//! processes, a scorecard each as soon as it is graded, and the class's summaries.
//!
//! intake (folders, archives, refusals) → shard → resume (skip what is already graded) →
//! [`crate::grade_many`] (seeds from each source, so identical code is graded once) →
//! a scorecard per submission, written atomically as it finishes, with the token fingerprints
//! of its sources → summaries → the instructor's page ([`report`]).

pub mod fingerprint;
pub mod intake;
pub mod merge;
pub mod progress;
pub mod report;
pub mod summary;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;

use anyhow::{bail, Context, Result};

use crate::catalog::Catalog;
use crate::events::Event;
use crate::grade::{GradeOptions, Schedule};
use crate::outcome::{CheckStatus, ExerciseStatus};
use crate::scorecard::{Format, Previous, Scorecard};
use crate::source::Found;
use summary::{Row, Summary};

/// Names a submission may not take: they are the batch's own files.
const RESERVED: &[&str] = &["summary", "checks", "report"];

#[derive(Debug, Clone)]
pub struct BatchOptions {
    pub dir: PathBuf,
    pub out: PathBuf,
    /// Exercise ids, in catalog order.
    pub exercises: Vec<String>,
    pub jobs: usize,
    pub shard: Option<Shard>,
    pub resume: bool,
    /// Also a Gradescope `results.json` per submission, as `OUT/<name>.json`.
    pub gradescope: bool,
}

/// `K/N`: every N-th submission in name order, starting at the K-th (K from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let bad = || format!("`{text}` is not K/N with 0 <= K < N (say 0/4)");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let index: usize = k.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What a batch tells its progress display.
pub enum BatchEvent<'a> {
    /// The submissions of this run, of which `resumed` were already graded.
    Found {
        submissions: usize,
        resumed: usize,
    },
    Grading(Event<'a>),
    /// A submission's scorecard is written.
    Saved {
        name: &'a str,
        label: &'a str,
        card: &'a Scorecard,
    },
}

pub struct BatchRun {
    pub summary: Summary,
    pub graded: usize,
    pub resumed: usize,
}

impl BatchRun {
    /// 0 when every submission has full marks, 1 when points were lost, 2 when the grader
    /// could not run some check.
    pub fn exit_status(&self) -> u8 {
        let rows = &self.summary.submissions;
        if rows.iter().any(|r| r.errors > 0) {
            2
        } else if rows.iter().all(|r| r.score >= r.max_score) {
            0
        } else {
            1
        }
    }
}

pub fn run(
    catalog: &Catalog,
    options: &BatchOptions,
    events: &(dyn Fn(BatchEvent) + Sync),
) -> Result<BatchRun> {
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("creating {}", options.out.display()))?;
    let dir = options
        .dir
        .canonicalize()
        .with_context(|| format!("{} is not a folder of submissions", options.dir.display()))?;
    let out = options.out.canonicalize()?;
    if out.starts_with(&dir) {
        bail!(
            "the output folder {} is inside the class folder {}: put it elsewhere, or the next \
             batch would grade it as a submission",
            options.out.display(),
            options.dir.display()
        );
    }
    let _lock = lock(&out)?;
    let checks_sha256 = catalog.checks_sha256()?;

    let mut listed = intake::list(&dir)?;
    for (name, _) in &mut listed {
        if RESERVED.contains(&name.as_str()) {
            name.insert(0, '_');
        }
    }
    if let Some(shard) = options.shard {
        listed = listed
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % shard.count == shard.index)
            .map(|(_, entry)| entry)
            .collect();
    }
    let scratch = tempfile::Builder::new()
        .prefix("locksmith-batch-")
        .tempdir()
        .context("creating scratch space for archives")?;
    let entries = intake::open(&listed, scratch.path());

    // Resume: what is graded already, with these sources, grader and checks, stays.
    let mut cards: Vec<Option<Scorecard>> = vec![None; entries.len()];
    if options.resume {
        for (entry, card) in entries.iter().zip(&mut cards) {
            *card = still_valid(catalog, options, &out, entry, &checks_sha256);
            // A scorecard kept from a batch that stopped before its fingerprints were written.
            if let Some(kept) = card {
                if !fingerprint::current(&out, &entry.name, kept) {
                    fingerprint::save(catalog, &out, &entry.name, &entry.source, kept)?;
                }
            }
        }
    }
    let resumed = cards.iter().filter(|c| c.is_some()).count();
    events(BatchEvent::Found {
        submissions: entries.len(),
        resumed,
    });

    let todo: Vec<usize> = (0..entries.len()).filter(|&i| cards[i].is_none()).collect();
    let requests: Vec<GradeOptions> = todo
        .iter()
        .map(|&i| GradeOptions {
            source: entries[i].source.clone(),
            exercises: options.exercises.clone(),
            checks: Vec::new(),
            seed: None,
            trials: None,
            jobs: options.jobs,
            seeds_from_source: true,
            schedule: None,
        })
        .collect();
    let saved: Mutex<Vec<(usize, Result<Scorecard>)>> = Mutex::new(Vec::new());
    if !requests.is_empty() {
        let schedule = Schedule {
            jobs: options.jobs,
            wave: Some(options.jobs.max(2)),
        };
        crate::grade_many(catalog, &requests, schedule, &|event| match event {
            Event::Graded { index, run } => {
                let entry = &entries[todo[index]];
                let mut card = Scorecard::update(None, run, catalog);
                card.submission = entry.name.clone();
                card.checks_sha256 = Some(checks_sha256.clone());
                let written = save(&out, &entry.name, &card, options.gradescope).and_then(|()| {
                    fingerprint::save(catalog, &out, &entry.name, &entry.source, &card)
                });
                if written.is_ok() {
                    events(BatchEvent::Saved {
                        name: &entry.name,
                        label: &run.source.label(),
                        card: &card,
                    });
                }
                let result = written.map(|()| card);
                saved
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((todo[index], result));
            }
            other => events(BatchEvent::Grading(other)),
        })?;
    }
    for (i, card) in saved.into_inner().unwrap_or_else(|e| e.into_inner()) {
        cards[i] =
            Some(card.with_context(|| format!("saving the scorecard of {}", entries[i].name))?);
    }

    let mut named: Vec<(String, Scorecard)> = entries
        .iter()
        .zip(cards)
        .map(|(entry, card)| (entry.name.clone(), card.expect("every submission graded")))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let summary = Summary {
        format_version: summary::SUMMARY_FORMAT,
        grader_version: crate::VERSION.to_string(),
        checks_sha256,
        exercises: options.exercises.clone(),
        shard: options.shard.map(|s| s.to_string()),
        submissions: named
            .iter()
            .map(|(name, card)| Row::from_card(name, card, &options.exercises))
            .collect(),
    };
    summary::write(&out, &summary, &named)?;
    report::write(&out, catalog)?;
    Ok(BatchRun {
        summary,
        graded: todo.len(),
        resumed,
    })
}

/// Writes a submission's scorecard (and its Gradescope results), each atomically.
fn save(out: &Path, name: &str, card: &Scorecard, gradescope: bool) -> Result<()> {
    if gradescope {
        card.write(&out.join(format!("{name}.json")), Format::Gradescope)?;
    }
    card.write(&out.join(format!("{name}.toml")), Format::Toml)
}

/// The scorecard already in `out` for `entry`, if it is complete and still says what a new
/// grade would: same grader, same checks, same exercises, same sources, no grader failure.
fn still_valid(
    catalog: &Catalog,
    options: &BatchOptions,
    out: &Path,
    entry: &intake::Entry,
    checks_sha256: &str,
) -> Option<Scorecard> {
    let path = out.join(format!("{}.toml", entry.name));
    let Ok(Previous::Card(card)) = Scorecard::load(&path, Format::Toml) else {
        return None;
    };
    let ids: Vec<&String> = card.exercises.iter().map(|e| &e.id).collect();
    let same = card.grader_version == crate::VERSION
        && card.checks_sha256.as_deref() == Some(checks_sha256)
        && card.submission == entry.name
        && ids.iter().copied().eq(options.exercises.iter())
        && card.exercises.iter().all(|exercise| {
            let unchanged = match entry.source.read(&catalog.root, &exercise.id) {
                Found::File { code, .. } => {
                    exercise.source_sha256 == crate::sha256_hex(code.as_bytes())
                }
                Found::Missing => exercise.status == ExerciseStatus::NotFound,
                Found::Invalid(_) => exercise.status == ExerciseStatus::InvalidSubmission,
            };
            unchanged
                && exercise
                    .checks
                    .iter()
                    .all(|c| c.status != CheckStatus::Error)
        });
    if !same {
        return None;
    }
    let json = out.join(format!("{}.json", entry.name));
    if options.gradescope && !json.exists() && card.write(&json, Format::Gradescope).is_err() {
        return None;
    }
    Some(card)
}

/// One batch at a time writes an output folder.
fn lock(out: &Path) -> Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let path = out.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        bail!(
            "another batch is writing {} (it holds {})",
            out.display(),
            path.display()
        );
    }
    Ok(file)
}
