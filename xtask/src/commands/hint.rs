//! `cargo xtask hint`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use grader::Catalog;

pub fn run(exercise: &str, _scorecard: Option<PathBuf>) -> Result<ExitCode> {
    let catalog = Catalog::load(&grader::workspace_root())?;
    let exercise = catalog.find(exercise)?;
    println!("{}", exercise.hint.trim());
    Ok(ExitCode::SUCCESS)
}
