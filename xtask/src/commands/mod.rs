//! One module per command.

pub mod batch;
pub mod bench;
pub mod check;
pub mod grade;
pub mod gradescope;
pub mod hint;
pub mod list;
pub mod report;
pub mod watch;

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

/// Exercise ids as a learner or instructor types them, resolved, in catalog order; all of them
/// when none is given.
pub fn exercise_ids(catalog: &grader::Catalog, wanted: &[String]) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for wanted in wanted {
        ids.push(catalog.find(wanted)?.id.clone());
    }
    Ok(catalog
        .exercises
        .iter()
        .map(|e| e.id.clone())
        .filter(|id| wanted.is_empty() || ids.contains(id))
        .collect())
}
