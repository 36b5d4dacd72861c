//! `cargo xtask gradescope --out FILE.zip`: the Gradescope autograder package.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use console::style;

use super::display;

pub fn run(out: &Path, exercises: &[String]) -> Result<ExitCode> {
    let package = grader::gradescope::package(&grader::workspace_root(), out, exercises)?;
    for skipped in &package.skipped {
        eprintln!(
            "{} left out {}: a symbolic link or a special file, never followed",
            style("warning:").yellow().bold(),
            skipped.display()
        );
    }
    println!(
        "{} {} ({} course files, {} KiB), grading {}",
        style("wrote").green().bold(),
        display(&package.path),
        package.files,
        package.bytes.div_ceil(1024),
        package.exercises.join(", ")
    );
    println!(
        "Upload it as the autograder of a Gradescope programming assignment (Ubuntu base \
         image). Students submit their copy of the course or a zip of its exercises/ folder. \
         Keep the zip itself from students: it holds the solutions and the hidden checks."
    );
    Ok(ExitCode::SUCCESS)
}
