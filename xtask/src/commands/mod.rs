//! One module per command.

pub mod check;
pub mod grade;
pub mod gradescope;
pub mod hint;
pub mod list;

use std::path::{Path, PathBuf};

/// Paths given on the command line are relative to where the user stands; defaults are
/// relative to the workspace root.
pub fn scorecard_path(given: Option<PathBuf>, default: &str) -> PathBuf {
    given.unwrap_or_else(|| grader::workspace_root().join(default))
}

pub fn display(path: &Path) -> String {
    let root = grader::workspace_root();
    path.strip_prefix(&root)
        .unwrap_or(path)
        .display()
        .to_string()
}

pub fn default_jobs(jobs: Option<usize>) -> usize {
    jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
