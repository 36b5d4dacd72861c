//! `cargo xtask bench`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Result};
use grader::bench::primitives::{self, Outcome};
use grader::{Catalog, Source};

use super::default_jobs;
use crate::BenchArgs;

pub fn run(args: BenchArgs) -> Result<ExitCode> {
    let catalog = Catalog::load(&grader::workspace_root())?;
    match args.what.as_str() {
        "batch" => {
            let bench = grader::bench::batch(
                &catalog,
                args.students.max(1),
                default_jobs(args.jobs),
                &|line| eprintln!("{line}"),
            )?;
            print!("{bench}");
            Ok(ExitCode::SUCCESS)
        }
        "detect" => {
            let table = grader::bench::detect::run(
                &catalog,
                &grader::bench::detect::Options {
                    trials: args.trials.max(1),
                    budget: Duration::from_secs_f64(args.budget.clamp(0.1, 3600.0)),
                    jobs: default_jobs(args.jobs),
                    filter: args.fixture.clone(),
                },
                &|line| eprintln!("{line}"),
            )?;
            print!("{table}");
            Ok(ExitCode::SUCCESS)
        }
        "report" => {
            print!("{}", grader::bench::report(&catalog, args.students.max(1))?);
            Ok(ExitCode::SUCCESS)
        }
        id => {
            if catalog.find(id).is_err() {
                bail!(
                    "no benchmark named `{id}`: try an exercise id ({}), `batch`, `report` or `detect`",
                    catalog
                        .exercises
                        .iter()
                        .map(|e| e.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            if !(args.time.is_finite() && args.time > 0.0 && args.time <= 3600.0) {
                bail!("--time takes seconds, more than 0 and at most 3600");
            }
            let source = match (&args.submission, args.solutions) {
                (Some(dir), _) => Source::submission(dir)?,
                (None, true) => Source::Solutions,
                (None, false) => Source::Exercises,
            };
            let options = primitives::Options {
                source,
                exercise: id.to_string(),
                budget: Duration::from_secs_f64(args.time),
            };
            match primitives::run(&catalog, &options, &|line| eprintln!("{line}"))? {
                Outcome::Refused(message) => {
                    println!("not timed: {message}");
                    Ok(ExitCode::from(1))
                }
                Outcome::Timed(table) => {
                    print!("{table}");
                    Ok(if table.complete() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    })
                }
            }
        }
    }
}
