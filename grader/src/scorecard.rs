//! The scorecard: what a grade leaves behind, as TOML (default), JSON, or Gradescope's
//! `results.json`. Grading some exercises (or one check) updates only those; the file is
//! replaced atomically, and a malformed old file is moved aside, never lost.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::grade::GradeRun;
use crate::outcome::{CheckStatus, ExerciseOutcome, ExerciseStatus, SkipReason};

pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Json,
    Gradescope,
}

impl Format {
    pub fn default_file(self) -> &'static str {
        match self {
            Format::Toml => "scorecard.toml",
            Format::Json => "scorecard.json",
            Format::Gradescope => "results.json",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Scorecard {
    pub format_version: u32,
    pub grader_version: String,
    pub graded_at: String,
    pub submission: String,
    pub score: f64,
    pub max_score: f64,
    pub host: Host,
    /// Of the hidden checks that graded it, in a batch's scorecards (see `batch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks_sha256: Option<String>,
    #[serde(rename = "exercise", default)]
    pub exercises: Vec<ExerciseCard>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Host {
    pub cores: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExerciseCard {
    pub id: String,
    pub status: ExerciseStatus,
    pub score: f64,
    pub max_score: f64,
    pub source_sha256: String,
    pub build_seconds: f64,
    pub run_seconds: f64,
    pub message: String,
    #[serde(rename = "check", default)]
    pub checks: Vec<CheckCard>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckCard {
    pub name: String,
    pub category: crate::catalog::Category,
    pub status: CheckStatus,
    pub score: f64,
    pub max_score: f64,
    pub trials: u64,
    pub failed_trials: u64,
    pub seed: u64,
    pub duration_ms: u64,
    pub message: String,
    pub hint: String,
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl ExerciseCard {
    fn from_outcome(outcome: &ExerciseOutcome) -> ExerciseCard {
        ExerciseCard {
            id: outcome.id.clone(),
            status: outcome.status,
            score: outcome.score,
            max_score: outcome.max_score,
            source_sha256: outcome.source_sha256.clone(),
            build_seconds: round(outcome.build_seconds),
            run_seconds: round(outcome.run_seconds),
            message: cap(&outcome.message, 4000),
            checks: outcome
                .checks
                .iter()
                .map(|c| CheckCard {
                    name: c.name.clone(),
                    category: c.category,
                    status: c.status,
                    score: c.score,
                    max_score: c.max_score,
                    trials: c.trials,
                    failed_trials: c.failed_trials,
                    seed: c.seed,
                    duration_ms: c.duration.as_millis() as u64,
                    message: cap(&c.message, 600),
                    hint: c.hint.clone(),
                })
                .collect(),
        }
    }
}

fn cap(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// What loading an existing scorecard found.
pub enum Previous {
    None,
    Card(Scorecard),
    /// It could not be read; it was moved to this path.
    MovedAside(PathBuf, String),
}

impl Scorecard {
    /// The new scorecard: `previous`'s other exercises (same submission only) plus this run.
    /// Checks this run skipped because `--check` chose another keep their previous result.
    pub fn update(previous: Option<Scorecard>, run: &GradeRun, catalog: &Catalog) -> Scorecard {
        let submission = run.source.label();
        let mut exercises = previous
            .filter(|p| p.submission == submission)
            .map(|p| p.exercises)
            .unwrap_or_default();
        for outcome in &run.exercises {
            let mut card = ExerciseCard::from_outcome(outcome);
            if let Some(old) = exercises.iter().find(|e| e.id == card.id) {
                if old.source_sha256 == card.source_sha256 {
                    for check in &mut card.checks {
                        let not_chosen = outcome.checks.iter().any(|c| {
                            c.name == check.name && c.skipped == Some(SkipReason::NotSelected)
                        });
                        if let Some(previous) = old.checks.iter().find(|c| c.name == check.name) {
                            if not_chosen {
                                *check = previous.clone();
                            }
                        }
                    }
                    if card.status != ExerciseStatus::RulesViolation {
                        card.score = card.checks.iter().map(|c| c.score).sum();
                    }
                }
            }
            exercises.retain(|e| e.id != card.id);
            exercises.push(card);
        }
        exercises.sort_by_key(|e| catalog.exercises.iter().position(|c| c.id == e.id));
        Scorecard {
            format_version: FORMAT_VERSION,
            grader_version: crate::VERSION.to_string(),
            graded_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            submission,
            score: exercises.iter().map(|e| e.score).sum(),
            max_score: exercises.iter().map(|e| e.max_score).sum(),
            host: Host {
                cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            },
            checks_sha256: None,
            exercises,
        }
    }

    /// Reads the scorecard at `path`, moving an unreadable one aside (a file that is not
    /// UTF-8, not ours, or of another format version). Fails only when such a file cannot be
    /// moved: it is never overwritten.
    pub fn load(path: &Path, format: Format) -> Result<Previous> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Previous::None)
            }
            Err(error) => return move_aside(path, format!("it cannot be read: {error}")),
        };
        let Ok(text) = String::from_utf8(bytes) else {
            return move_aside(path, "it is not UTF-8 text".into());
        };
        let parsed = match format {
            Format::Toml => toml::from_str::<Scorecard>(&text).map_err(|e| e.to_string()),
            Format::Json => serde_json::from_str::<Scorecard>(&text).map_err(|e| e.to_string()),
            // Gradescope's results are rewritten whole each time; only a file that is not
            // JSON at all (not an earlier results.json) is kept aside.
            Format::Gradescope => {
                return match serde_json::from_str::<serde_json::Value>(&text) {
                    Ok(_) => Ok(Previous::None),
                    Err(error) => move_aside(path, error.to_string()),
                }
            }
        };
        match parsed {
            Ok(card) if card.format_version == FORMAT_VERSION => Ok(Previous::Card(card)),
            Ok(card) => move_aside(
                path,
                format!(
                    "format_version {} is not {FORMAT_VERSION}",
                    card.format_version
                ),
            ),
            Err(error) => move_aside(path, error),
        }
    }

    /// Reads the TOML scorecard at `path` for display, leaving an unreadable one where it is.
    pub fn load_readonly(path: &Path) -> Previous {
        match std::fs::read_to_string(path).map(|text| toml::from_str::<Scorecard>(&text)) {
            Ok(Ok(card)) => Previous::Card(card),
            _ => Previous::None,
        }
    }

    pub fn render(&self, format: Format) -> Result<String> {
        Ok(match format {
            Format::Toml => toml::to_string(self)?,
            Format::Json => serde_json::to_string_pretty(self)? + "\n",
            Format::Gradescope => serde_json::to_string_pretty(&self.gradescope())? + "\n",
        })
    }

    /// Gradescope's `results.json`: one test per check.
    fn gradescope(&self) -> serde_json::Value {
        let tests: Vec<serde_json::Value> = self
            .exercises
            .iter()
            .flat_map(|e| {
                e.checks.iter().map(move |c| {
                    let mut output = c.message.clone();
                    if c.status != CheckStatus::Pass {
                        if !e.message.is_empty() && e.status != ExerciseStatus::Graded {
                            output = format!("{}\n{}", e.message, output);
                        }
                        if !c.hint.is_empty() {
                            output.push_str(&format!("\nHint: {}", c.hint));
                        }
                    }
                    serde_json::json!({
                        "name": format!("{} / {}", e.id, c.name),
                        "score": c.score,
                        "max_score": c.max_score,
                        "status": if c.status == CheckStatus::Pass { "passed" } else { "failed" },
                        "output": output.trim(),
                        "visibility": "visible",
                        "tags": [e.id.clone(), c.category.as_str(), c.status.as_str()],
                    })
                })
            })
            .collect();
        serde_json::json!({
            "score": self.score,
            "output": format!("locksmith grader {}: {} / {}", self.grader_version, self.score, self.max_score),
            "tests": tests,
        })
    }

    /// Writes the file atomically: a temporary file beside it, then a rename.
    pub fn write(&self, path: &Path, format: Format) -> Result<()> {
        write_atomic(path, &self.render(format)?)
    }
}

fn move_aside(path: &Path, why: String) -> Result<Previous> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let aside = path.with_extension(format!("unreadable-{stamp}"));
    std::fs::rename(path, &aside).with_context(|| {
        format!(
            "{} cannot be used ({why}) and cannot be moved aside, so it is left as it is: \
             move it, or name another file with --scorecard",
            path.display()
        )
    })?;
    Ok(Previous::MovedAside(aside, why))
}

/// Writes a file atomically: a temporary file beside it, synced, then renamed over it.
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("writing a temporary file in {}", dir.display()))?;
    file.write_all(text.as_bytes())?;
    file.as_file().sync_all()?;
    file.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
