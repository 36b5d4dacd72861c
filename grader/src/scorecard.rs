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
    /// The schedule under which the check's explored scenario failed (`--schedule` replays it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
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
                    schedule: c.schedule.clone(),
                    duration_ms: c.duration.as_millis() as u64,
                    message: cap(&c.message, 600),
                    hint: c.hint.clone(),
                })
                .collect(),
        }
    }
}

/// At most `max` bytes of `text` (on a character boundary), marked when cut.
pub fn cap(text: &str, max: usize) -> String {
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

    /// Gradescope's `results.json`: one test per check, its output in markdown (status, what
    /// happened, and for a failure the hint and the command that replays it).
    fn gradescope(&self) -> serde_json::Value {
        let tests: Vec<serde_json::Value> = self
            .exercises
            .iter()
            .flat_map(|e| {
                e.checks.iter().map(move |c| {
                    let passed = c.status == CheckStatus::Pass && c.score >= c.max_score;
                    serde_json::json!({
                        "name": format!("{} / {}", e.id, c.name),
                        "score": c.score,
                        "max_score": c.max_score,
                        "status": if passed { "passed" } else { "failed" },
                        "output": gradescope_test_output(e, c, passed),
                        "output_format": "markdown",
                        "visibility": "visible",
                        "tags": [e.id.clone(), c.category.as_str(), c.status.as_str()],
                    })
                })
            })
            .collect();
        let seconds: f64 = self
            .exercises
            .iter()
            .map(|e| e.build_seconds + e.run_seconds)
            .sum();
        serde_json::json!({
            "score": self.score,
            "execution_time": seconds.round() as u64,
            "output": self.gradescope_output(),
            "output_format": "markdown",
            "test_output_format": "markdown",
            "tests": tests,
        })
    }

    /// The summary above the tests: one row per exercise, and why an exercise that was not
    /// graded normally (not found, not compiling, breaking the rules) scored what it did.
    fn gradescope_output(&self) -> String {
        let mut out = format!(
            "**locksmith grader {}**: {} / {}\n\n| exercise | status | score |\n|---|---|---|\n",
            self.grader_version, self.score, self.max_score
        );
        for e in &self.exercises {
            out.push_str(&format!(
                "| `{}` | {} | {} / {} |\n",
                e.id,
                exercise_status_words(e.status),
                e.score,
                e.max_score
            ));
        }
        for e in &self.exercises {
            if e.status != ExerciseStatus::Graded && !e.message.is_empty() {
                out.push_str(&format!(
                    "\n**{}: {}**\n\n{}",
                    e.id,
                    exercise_status_words(e.status),
                    fenced(&e.message, "text")
                ));
            }
        }
        let lost = self.exercises.iter().any(|e| e.score < e.max_score);
        if lost {
            out.push_str(
                "\nA check that failed shows a hint, and the command that replays it in your \
                 copy of the course.\n",
            );
        }
        out
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

/// How a reader would say an exercise's status.
fn exercise_status_words(status: ExerciseStatus) -> &'static str {
    match status {
        ExerciseStatus::Graded => "graded",
        ExerciseStatus::CompileError => "does not compile",
        ExerciseStatus::NotFound => "not found",
        ExerciseStatus::RulesViolation => "breaks the rules",
        ExerciseStatus::InvalidSubmission => "invalid submission",
    }
}

/// One Gradescope test's markdown: status, the check's message, and when it lost points the
/// exercise's message (the compiler's errors, say), the hint and the command that replays it.
fn gradescope_test_output(e: &ExerciseCard, c: &CheckCard, passed: bool) -> String {
    let word = match c.status {
        CheckStatus::Pass if passed => "passed",
        CheckStatus::Pass => "passed, but scored nothing",
        CheckStatus::Fail => "failed",
        CheckStatus::Panic => "panicked",
        CheckStatus::Timeout => "timed out",
        CheckStatus::Crash => "crashed",
        CheckStatus::NotImplemented => "not implemented (reached a todo!())",
        CheckStatus::Skipped => "not run",
        CheckStatus::Error => "could not be run by the grader (not your code's fault)",
    };
    let mut out = format!("**{word}** · {}", c.category.as_str());
    if c.trials > 1 {
        out.push_str(&format!(" · {} trials", c.trials));
    }
    out.push_str("\n\n");
    if !c.message.is_empty() {
        out.push_str(&fenced(&c.message, "text"));
    }
    if passed {
        return out.trim_end().to_string();
    }
    if e.status != ExerciseStatus::Graded && !e.message.is_empty() {
        let caption = match e.status {
            ExerciseStatus::CompileError => "The compiler said:",
            _ => "Why:",
        };
        out.push_str(&format!("\n{caption}\n\n{}", fenced(&e.message, "text")));
    }
    let ran = !matches!(
        c.status,
        CheckStatus::Pass | CheckStatus::Skipped | CheckStatus::Error
    );
    if ran && !c.hint.is_empty() {
        out.push_str(&format!("\n**Hint:** {}\n", c.hint.trim()));
    }
    // Replaying helps only when the check ran and went wrong.
    if matches!(
        c.status,
        CheckStatus::Fail | CheckStatus::Panic | CheckStatus::Timeout | CheckStatus::Crash
    ) {
        let seed = c.category.is_runtime().then_some(c.seed);
        out.push_str(&format!(
            "\nReplay it in your copy of the course:\n\n{}",
            fenced(
                &crate::report::replay(&e.id, &c.name, seed, c.schedule.as_deref()),
                "sh"
            )
        ));
    }
    out.trim_end().to_string()
}

/// `text` as a fenced code block, so that nothing in it (a learner's panic message, a
/// compiler error) is read as markdown: the fence is longer than any run of backticks inside.
fn fenced(text: &str, language: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for ch in text.chars() {
        run = if ch == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}{language}\n{}\n{fence}\n", text.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Category;

    fn check(name: &str, category: Category, status: CheckStatus, score: f64) -> CheckCard {
        CheckCard {
            name: name.into(),
            category,
            status,
            score,
            max_score: 10.0,
            trials: 4,
            failed_trials: u64::from(status == CheckStatus::Fail),
            seed: 4242,
            schedule: None,
            duration_ms: 3,
            message: match status {
                CheckStatus::Fail => "trial 2 of 4: lost a wake-up".into(),
                CheckStatus::Skipped => SkipReason::DoesNotCompile.message().into(),
                _ => String::new(),
            },
            hint: "wake every waiter".into(),
        }
    }

    fn exercise(
        id: &str,
        status: ExerciseStatus,
        message: &str,
        checks: Vec<CheckCard>,
    ) -> ExerciseCard {
        ExerciseCard {
            id: id.into(),
            status,
            score: checks.iter().map(|c| c.score).sum(),
            max_score: checks.iter().map(|c| c.max_score).sum(),
            source_sha256: String::new(),
            build_seconds: 1.0,
            run_seconds: 2.0,
            message: message.into(),
            checks,
        }
    }

    fn results(exercises: Vec<ExerciseCard>) -> serde_json::Value {
        let card = Scorecard {
            format_version: FORMAT_VERSION,
            grader_version: "0.1.0".into(),
            graded_at: String::new(),
            submission: "/autograder/submission".into(),
            score: exercises.iter().map(|e| e.score).sum(),
            max_score: exercises.iter().map(|e| e.max_score).sum(),
            host: Host { cores: 2 },
            checks_sha256: None,
            exercises,
        };
        serde_json::from_str(&card.render(Format::Gradescope).unwrap()).unwrap()
    }

    #[test]
    fn a_failed_check_shows_its_hint_and_a_replay_without_the_submissions_path() {
        let json = results(vec![exercise(
            "05_event",
            ExerciseStatus::Graded,
            "",
            vec![
                check("basics", Category::Functionality, CheckStatus::Pass, 10.0),
                check("wakes_all", Category::Stress, CheckStatus::Fail, 0.0),
            ],
        )]);
        assert_eq!(json["output_format"], "markdown");
        assert_eq!(json["test_output_format"], "markdown");
        assert_eq!(json["score"], 10.0);
        let tests = json["tests"].as_array().unwrap();
        assert_eq!(tests[0]["status"], "passed");
        assert!(!tests[0]["output"].as_str().unwrap().contains("Hint"));
        let failed = &tests[1];
        assert_eq!(failed["status"], "failed");
        assert_eq!(
            failed["tags"],
            serde_json::json!(["05_event", "stress", "fail"])
        );
        let output = failed["output"].as_str().unwrap();
        assert!(output.contains("lost a wake-up"), "{output}");
        assert!(output.contains("**Hint:** wake every waiter"), "{output}");
        assert!(
            output.contains("cargo xtask grade 05_event --check wakes_all --seed 4242\n"),
            "{output}"
        );
        assert!(!output.contains("--submission"), "{output}");
    }

    #[test]
    fn checks_skipped_for_a_compile_error_show_the_compiler_in_a_code_block() {
        let json = results(vec![exercise(
            "02_lock",
            ExerciseStatus::CompileError,
            "error[E0425]: cannot find value `x`\n --> 02_lock/src/lib.rs:3:5",
            vec![check(
                "basics",
                Category::Functionality,
                CheckStatus::Skipped,
                0.0,
            )],
        )]);
        let output = json["tests"][0]["output"].as_str().unwrap();
        assert!(output.contains("does not compile"), "{output}");
        assert!(
            output.contains("```text\nerror[E0425]: cannot find value `x`\n"),
            "{output}"
        );
        // Nothing ran: no replay, no hint about the check's subject.
        assert!(
            !output.contains("cargo xtask") && !output.contains("Hint"),
            "{output}"
        );
        let summary = json["output"].as_str().unwrap();
        assert!(
            summary.contains("| `02_lock` | does not compile | 0 / 10 |"),
            "{summary}"
        );
        assert!(summary.contains("error[E0425]"), "{summary}");
    }

    #[test]
    fn fences_are_longer_than_any_run_of_backticks_inside() {
        assert_eq!(fenced("plain", "text"), "```text\nplain\n```\n");
        let tricky = "a ``` b ```` c";
        let block = fenced(tricky, "text");
        assert!(block.starts_with("`````text\n"), "{block}");
        assert!(block.ends_with("\n`````\n"), "{block}");
    }
}
