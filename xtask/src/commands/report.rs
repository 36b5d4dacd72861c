//! `cargo xtask report OUT`: the instructor's page of a batch's output, written again.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use grader::Catalog;

pub fn run(out: &Path) -> Result<ExitCode> {
    let catalog = Catalog::load(&grader::workspace_root())?;
    let path = grader::batch::report::write(out, &catalog)?;
    println!("report in {}", path.display());
    Ok(ExitCode::SUCCESS)
}
