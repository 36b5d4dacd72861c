//! `cargo xtask list`: the course at a glance, with the last scorecard's results.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use console::style;
use grader::scorecard::{Format, Previous, Scorecard};
use grader::source::Found;
use grader::{Catalog, Source};

use super::scorecard_path;

pub fn run(scorecard: Option<PathBuf>) -> Result<ExitCode> {
    let root = grader::workspace_root();
    let catalog = Catalog::load(&root)?;
    let path = scorecard_path(scorecard, Format::Toml.default_file());
    let card = match Scorecard::load_readonly(&path) {
        Previous::Card(card) => Some(card),
        _ => None,
    };
    // Padded before styling: colour codes would count towards `{:<width$}`.
    let id_width = catalog.exercises.iter().map(|e| e.id.len()).max();
    let id_width = id_width.unwrap_or(0);
    let width = catalog
        .exercises
        .iter()
        .map(|e| e.title.chars().count())
        .max()
        .unwrap_or(0);
    for exercise in &catalog.exercises {
        let result = card
            .as_ref()
            .and_then(|c| c.exercises.iter().find(|e| e.id == exercise.id));
        let status = match result {
            None => style("not graded yet".to_string()).dim(),
            Some(graded) => {
                let current = match Source::Exercises.read(&root, &exercise.id) {
                    Found::File { code, .. } => Some(grader::sha256_hex(code.as_bytes())),
                    _ => None,
                };
                let mut text = format!("{} / {}", graded.score, graded.max_score);
                if graded.status.as_str() != "graded" {
                    text.push_str(&format!(" ({})", graded.status.as_str()));
                }
                if current.as_deref() != Some(graded.source_sha256.as_str()) {
                    text.push_str(", edited since");
                }
                if graded.score >= graded.max_score {
                    style(text).green()
                } else {
                    style(text).yellow()
                }
            }
        };
        println!(
            "{}  {:<width$}  {:>3} pts  {}",
            style(format!("{:<id_width$}", exercise.id)).cyan().bold(),
            exercise.title,
            exercise.max_points(),
            status
        );
    }
    if let Some(card) = &card {
        println!(
            "\nlast graded {} ({}): {} / {}",
            card.graded_at, card.submission, card.score, card.max_score
        );
    }
    Ok(ExitCode::SUCCESS)
}
