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
}

impl ExerciseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExerciseStatus::Graded => "graded",
            ExerciseStatus::CompileError => "compile_error",
            ExerciseStatus::NotFound => "not_found",
            ExerciseStatus::RulesViolation => "rules_violation",
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
    pub duration: Duration,
    pub message: String,
    pub hint: String,
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
}
