//! The scorecard: what a grade leaves behind, as TOML (default), JSON, or Gradescope's
//! `results.json`. Grading some exercises (or one check) updates only those; the file is
//! replaced atomically, and a malformed old file is moved aside, never lost.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::outcome::{CheckStatus, ExerciseOutcome, ExerciseStatus};
use crate::runner::GradeRun;

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
                        let not_chosen = check.status == CheckStatus::Skipped
                            && check.message.contains("--check");
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
            exercises,
        }
    }

    /// Reads the scorecard at `path`, moving an unreadable one aside.
    pub fn load(path: &Path, format: Format) -> Previous {
        let Ok(text) = std::fs::read_to_string(path) else {
            return Previous::None;
        };
        let parsed = match format {
            Format::Toml => toml::from_str::<Scorecard>(&text).map_err(|e| e.to_string()),
            Format::Json => serde_json::from_str::<Scorecard>(&text).map_err(|e| e.to_string()),
            Format::Gradescope => return Previous::None,
        };
        match parsed {
            Ok(card) if card.format_version == FORMAT_VERSION => Previous::Card(card),
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

fn move_aside(path: &Path, why: String) -> Previous {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let aside = path.with_extension(format!("unreadable-{stamp}"));
    match std::fs::rename(path, &aside) {
        Ok(()) => Previous::MovedAside(aside, why),
        Err(_) => Previous::None,
    }
}

pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut file = std::fs::File::create(&temporary)
        .with_context(|| format!("writing {}", temporary.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
