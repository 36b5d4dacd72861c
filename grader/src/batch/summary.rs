//! A batch's outputs beside the scorecards: `summary.toml` (what `merge` and the report read),
//! `summary.csv` (a row per submission) and `checks.csv` (a row per submission and check).
//! All are made from the scorecards alone, in name order, with nothing that changes from one
//! run to the next: an interrupted and resumed batch, or shards merged, write the same bytes.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::outcome::{CheckStatus, ExerciseStatus};
use crate::scorecard::{write_atomic, Scorecard};

pub const SUMMARY_FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub format_version: u32,
    pub grader_version: String,
    /// Of the hidden checks, their harness and the checks files: results graded against
    /// other checks are not comparable.
    pub checks_sha256: String,
    /// The exercises graded, in catalog order (the columns of `summary.csv`).
    pub exercises: Vec<String>,
    /// `K/N` for a shard's output; none for a whole class's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    #[serde(rename = "submission", default)]
    pub submissions: Vec<Row>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Row {
    pub name: String,
    pub score: f64,
    pub max_score: f64,
    /// Per exercise, in the order of [`Summary::exercises`].
    pub scores: Vec<f64>,
    pub statuses: Vec<ExerciseStatus>,
    /// Checks the grader could not run (not the student's failure).
    pub errors: usize,
    /// Of every graded source together: equal digests, identical submissions.
    pub sources_sha256: String,
}

impl Row {
    pub fn from_card(name: &str, card: &Scorecard, exercises: &[String]) -> Row {
        let find = |id: &String| card.exercises.iter().find(|e| &e.id == id);
        let digests: String = exercises
            .iter()
            .map(|id| find(id).map_or("", |e| e.source_sha256.as_str()))
            .collect::<Vec<_>>()
            .join("\n");
        Row {
            name: name.to_string(),
            score: card.score,
            max_score: card.max_score,
            scores: exercises
                .iter()
                .map(|id| find(id).map_or(0.0, |e| e.score))
                .collect(),
            statuses: exercises
                .iter()
                .map(|id| find(id).map_or(ExerciseStatus::NotFound, |e| e.status))
                .collect(),
            errors: card
                .exercises
                .iter()
                .flat_map(|e| &e.checks)
                .filter(|c| c.status == CheckStatus::Error)
                .count(),
            sources_sha256: crate::sha256_hex(digests.as_bytes()),
        }
    }
}

/// Writes `summary.toml`, `summary.csv` and `checks.csv` into `out`, from `cards` (name order).
pub fn write(out: &Path, summary: &Summary, cards: &[(String, Scorecard)]) -> Result<()> {
    write_atomic(&out.join("summary.toml"), &toml::to_string(summary)?)?;

    let mut rows = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["name".to_string(), "total".to_string()];
    header.extend(summary.exercises.iter().cloned());
    rows.write_record(&header)?;
    for row in &summary.submissions {
        let mut record = vec![cell(&row.name), number(row.score)];
        record.extend(row.scores.iter().map(|s| number(*s)));
        rows.write_record(&record)?;
    }
    write_atomic(&out.join("summary.csv"), &finish(rows)?)?;

    let mut checks = csv::Writer::from_writer(Vec::new());
    checks.write_record([
        "submission",
        "exercise",
        "check",
        "category",
        "status",
        "score",
        "max_score",
        "seed",
        "message",
    ])?;
    for (name, card) in cards {
        for exercise in &card.exercises {
            for check in &exercise.checks {
                checks.write_record([
                    cell(name),
                    exercise.id.clone(),
                    check.name.clone(),
                    check.category.as_str().to_string(),
                    check.status.as_str().to_string(),
                    number(check.score),
                    number(check.max_score),
                    check.seed.to_string(),
                    cell(&one_line(&check.message)),
                ])?;
            }
        }
    }
    write_atomic(&out.join("checks.csv"), &finish(checks)?)
}

pub fn read(out: &Path) -> Result<Summary> {
    let path = out.join("summary.toml");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{} cannot be read: is {} a batch's output, and did its batch finish?",
            path.display(),
            out.display()
        )
    })?;
    let summary: Summary =
        toml::from_str(&text).with_context(|| format!("{} is not a summary", path.display()))?;
    if summary.format_version != SUMMARY_FORMAT {
        anyhow::bail!(
            "{} has format_version {}, not {SUMMARY_FORMAT}",
            path.display(),
            summary.format_version
        );
    }
    Ok(summary)
}

fn finish(writer: csv::Writer<Vec<u8>>) -> Result<String> {
    let bytes = writer.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(String::from_utf8(bytes)?)
}

fn number(x: f64) -> String {
    format!("{x}")
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A spreadsheet reads a cell that starts with `=`, `+`, `-` or `@` as a formula: such text
/// (a student's message, say) is quoted with a leading apostrophe.
fn cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_a_spreadsheet_would_run_are_quoted() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("-1+2"), "'-1+2");
        assert_eq!(cell("plain"), "plain");
        assert_eq!(one_line("a\n  b\tc"), "a b c");
    }
}
