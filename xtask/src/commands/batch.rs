//! `cargo xtask batch` and `cargo xtask merge`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use grader::batch::{self, BatchOptions, Shard};
use grader::Catalog;

use super::{default_jobs, exercise_ids};
use crate::BatchArgs;

pub fn run(args: BatchArgs) -> Result<ExitCode> {
    let catalog = Catalog::load(&grader::workspace_root())?;
    let exercises = exercise_ids(&catalog, &args.exercises)?;
    if matches!(args.format, Some(crate::FormatArg::Json)) {
        anyhow::bail!(
            "a batch writes TOML scorecards (and summaries); `--format gradescope` adds \
             Gradescope's results.json for each submission"
        );
    }
    let options = BatchOptions {
        dir: args.dir,
        out: args.out.clone(),
        exercises,
        jobs: default_jobs(args.jobs),
        shard: args.shard,
        resume: args.resume,
        gradescope: matches!(args.format, Some(crate::FormatArg::Gradescope)),
    };
    let progress = batch::progress::Progress::new();
    let result = batch::run(&catalog, &options, &|event| progress.handle(event));
    progress.finish();
    let run = result?;
    let rows = &run.summary.submissions;
    let full = rows.iter().filter(|r| r.score >= r.max_score).count();
    let failed = rows.iter().filter(|r| r.errors > 0).count();
    println!(
        "{} submissions{}: {} graded now, {} kept from before; {full} with full marks{}",
        rows.len(),
        options
            .shard
            .map_or(String::new(), |s: Shard| format!(" (shard {s})")),
        run.graded,
        run.resumed,
        if failed > 0 {
            format!(", {failed} with checks the grader could not run")
        } else {
            String::new()
        },
    );
    println!("summary in {}", args.out.join("summary.csv").display());
    println!("report in {}", batch::report::path(&args.out).display());
    Ok(ExitCode::from(run.exit_status()))
}

pub fn merge(inputs: Vec<PathBuf>, out: PathBuf, partial: bool) -> Result<ExitCode> {
    let catalog = Catalog::load(&grader::workspace_root())?;
    let merged = batch::merge::merge(&catalog, &inputs, &out, partial)?;
    if !merged.missing_shards.is_empty() {
        eprintln!(
            "warning: merged without shard {}",
            merged.missing_shards.join(", ")
        );
    }
    let rows = &merged.summary.submissions;
    println!(
        "merged {} outputs: {} submissions, summary in {}, report in {}",
        inputs.len(),
        rows.len(),
        out.join("summary.csv").display(),
        batch::report::path(&out).display()
    );
    let status = if rows.iter().any(|r| r.errors > 0) {
        2
    } else if rows.iter().all(|r| r.score >= r.max_score) {
        0
    } else {
        1
    };
    Ok(ExitCode::from(status))
}
