//! `cargo xtask hint ID`: the exercise's hint, and those of its checks that failed last time.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use console::style;
use grader::outcome::CheckStatus;
use grader::report::wrap_labelled;
use grader::scorecard::{Format, Previous, Scorecard};
use grader::Catalog;

use super::scorecard_path;

pub fn run(exercise: &str, scorecard: Option<PathBuf>) -> Result<ExitCode> {
    let catalog = Catalog::load(&grader::workspace_root())?;
    let exercise = catalog.find(exercise)?;
    println!("{} {}\n", style(&exercise.id).cyan().bold(), exercise.title);
    let width = grader::report::text_width();
    print!("{}", wrap_labelled("", &exercise.hint, width));

    let path = scorecard_path(scorecard, Format::Toml.default_file());
    let Previous::Card(card) = Scorecard::load_readonly(&path) else {
        return Ok(ExitCode::SUCCESS);
    };
    let Some(graded) = card.exercises.iter().find(|e| e.id == exercise.id) else {
        return Ok(ExitCode::SUCCESS);
    };
    let failed: Vec<_> = graded
        .checks
        .iter()
        .filter(|c| !matches!(c.status, CheckStatus::Pass | CheckStatus::Skipped))
        .collect();
    if !failed.is_empty() {
        println!("\n{}", style("From your last grade:").bold());
        for check in failed {
            println!(
                "\n{} ({})",
                style(&check.name).red().bold(),
                check.status.as_str()
            );
            if !check.message.is_empty() {
                let label = "  what happened: ";
                print!("{}", wrap_labelled(label, &check.message, width));
            }
            if let Some(spec) = exercise.check(&check.name) {
                if !spec.hint.is_empty() {
                    print!("{}", wrap_labelled("  hint: ", &spec.hint, width));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
