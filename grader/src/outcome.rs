//! What grading produced: the runner's output, consumed by the report and the scorecard.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::catalog::Category;

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Pass,
    Fail,
    Panic,
    Timeout,
    Crash,
    NotImplemented,
    Skipped,
    /// The grader could not run the check (it could not start the process, say): not the
    /// learner's doing, and grading exits with 2.
    Error,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Fail => "fail",
            CheckStatus::Panic => "panic",
            CheckStatus::Timeout => "timeout",
            CheckStatus::Crash => "crash",
            CheckStatus::NotImplemented => "not_implemented",
            CheckStatus::Skipped => "skipped",
            CheckStatus::Error => "error",
        }
    }
}

/// How one exercise ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExerciseStatus {
    Graded,
    CompileError,
    NotFound,
    RulesViolation,
    /// The submission's file could not be read as one: a symbolic link, not a regular file,
    /// too large, not UTF-8.
    InvalidSubmission,
}

impl ExerciseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExerciseStatus::Graded => "graded",
            ExerciseStatus::CompileError => "compile_error",
            ExerciseStatus::NotFound => "not_found",
            ExerciseStatus::RulesViolation => "rules_violation",
            ExerciseStatus::InvalidSubmission => "invalid_submission",
        }
    }
}

/// Why a check did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// `--check` chose other checks: a scorecard keeps this check's previous result.
    NotSelected,
    NotFound,
    InvalidSubmission,
    DoesNotCompile,
    /// The rules could not be judged: the file does not parse.
    DoesNotParse,
}

impl SkipReason {
    pub fn message(self) -> &'static str {
        match self {
            SkipReason::NotSelected => "not run (--check selected another)",
            SkipReason::NotFound => "not run: the exercise was not found",
            SkipReason::InvalidSubmission => "not run: the submission's file could not be read",
            SkipReason::DoesNotCompile => {
                "not run: the code does not compile against the curriculum's API"
            }
            SkipReason::DoesNotParse => "not judged: the file does not parse",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CheckOutcome {
    pub name: String,
    pub category: Category,
    pub status: CheckStatus,
    pub score: f64,
    pub max_score: f64,
    /// Trials run (up to and including the first failing one).
    pub trials: u64,
    pub failed_trials: u64,
    /// The first failing trial's seed, else the first trial's.
    pub seed: u64,
    /// The schedule under which the explored scenario failed, if that is how it failed.
    pub schedule: Option<String>,
    pub duration: Duration,
    pub message: String,
    pub hint: String,
    /// Set exactly when `status` is `Skipped`.
    pub skipped: Option<SkipReason>,
}

#[derive(Debug, Clone)]
pub struct ExerciseOutcome {
    pub id: String,
    pub title: String,
    pub status: ExerciseStatus,
    pub score: f64,
    pub max_score: f64,
    pub source_sha256: String,
    pub build_seconds: f64,
    pub run_seconds: f64,
    pub message: String,
    pub checks: Vec<CheckOutcome>,
}

impl ExerciseOutcome {
    pub fn full_marks(&self) -> bool {
        self.score >= self.max_score
    }

    /// Whether the grader itself failed somewhere in this exercise.
    pub fn grader_error(&self) -> bool {
        self.checks.iter().any(|c| c.status == CheckStatus::Error)
    }
}
