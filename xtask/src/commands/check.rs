//! `cargo xtask check`.

use std::process::ExitCode;

use anyhow::Result;

pub fn run(_jobs: Option<usize>) -> Result<ExitCode> {
    Ok(ExitCode::SUCCESS)
}
