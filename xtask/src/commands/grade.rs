//! `cargo xtask grade`.

use std::process::ExitCode;

use anyhow::Result;
use grader::scorecard::{Format, Previous, Scorecard};
use grader::{Catalog, GradeOptions, Source};

use super::{default_jobs, display, scorecard_path};
use crate::{FormatArg, GradeArgs};

pub fn run(args: GradeArgs) -> Result<ExitCode> {
    let catalog = Catalog::load(&grader::workspace_root())?;
    let source = match (&args.submission, args.solutions) {
        (Some(dir), _) => Source::submission(dir)?,
        (None, true) => Source::Solutions,
        (None, false) => Source::Exercises,
    };
    let exercises = if args.all {
        catalog.exercises.iter().map(|e| e.id.clone()).collect()
    } else {
        let mut ids = Vec::new();
        for wanted in &args.exercises {
            let id = catalog.find(wanted)?.id.clone();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    };
    let format = match args.format {
        FormatArg::Toml => Format::Toml,
        FormatArg::Json => Format::Json,
        FormatArg::Gradescope => Format::Gradescope,
    };
    let options = GradeOptions {
        source,
        exercises,
        checks: args.checks,
        seed: args.seed,
        trials: args.trials,
        jobs: default_jobs(args.jobs),
        seeds_from_source: false,
        schedule: args.schedule,
    };

    // Read before any code under test runs, so nothing it does to the file can lose results.
    let path = scorecard_path(args.scorecard, format.default_file());
    let previous = match Scorecard::load(&path, format)? {
        Previous::Card(card) => Some(card),
        Previous::None => None,
        Previous::MovedAside(aside, why) => {
            eprintln!(
                "warning: the old scorecard could not be read ({why}); it was kept as {}",
                display(&aside)
            );
            None
        }
    };

    let progress = grader::report::Progress::new();
    let run = grader::grade(&catalog, &options, &|event| progress.handle(event));
    progress.finish();
    let run = run?;
    print!("{}", grader::report::render(&run));

    let card = Scorecard::update(previous, &run, &catalog);
    card.write(&path, format)?;
    println!(
        "seed {}; scorecard written to {}",
        run.base_seed,
        display(&path)
    );
    Ok(if run.grader_error() {
        eprintln!("error: the grader could not run some checks (see `error` above): not your code");
        ExitCode::from(2)
    } else if run.full_marks() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
