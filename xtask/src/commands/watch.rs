//! `cargo xtask watch [ID]`: the learner's loop, run by `grader::watch`.

use std::process::ExitCode;

use anyhow::Result;
use grader::scorecard::Format;
use grader::watch::WatchOptions;
use grader::{Catalog, Source};

use super::{default_jobs, scorecard_path};
use crate::WatchArgs;

pub fn run(args: WatchArgs) -> Result<ExitCode> {
    let catalog = Catalog::load(&grader::workspace_root())?;
    let source = match &args.submission {
        Some(dir) => Source::submission(dir)?,
        None => Source::Exercises,
    };
    let exercise = match &args.exercise {
        Some(wanted) => Some(catalog.find(wanted)?.id.clone()),
        None => None,
    };
    let options = WatchOptions {
        source,
        exercise,
        manual: args.manual,
        trials: args.trials,
        jobs: default_jobs(args.jobs),
        scorecard: scorecard_path(args.scorecard, Format::Toml.default_file()),
    };
    grader::watch::watch(&catalog, &options)?;
    Ok(ExitCode::SUCCESS)
}
