//! `cargo xtask bench`.

use std::process::ExitCode;

use anyhow::{bail, Result};
use grader::Catalog;

use super::default_jobs;

pub fn run(what: &str, students: usize, jobs: Option<usize>) -> Result<ExitCode> {
    let catalog = Catalog::load(&grader::workspace_root())?;
    match what {
        "batch" => {
            let bench =
                grader::bench::batch(&catalog, students.max(1), default_jobs(jobs), &|line| {
                    eprintln!("{line}")
                })?;
            print!("{bench}");
            Ok(ExitCode::SUCCESS)
        }
        "report" => {
            print!("{}", grader::bench::report(&catalog, students.max(1))?);
            Ok(ExitCode::SUCCESS)
        }
        other => bail!("no benchmark named `{other}`: try `batch` or `report`"),
    }
}
