//! `cargo xtask check`: the authoring self-check. Every reference solution scores full marks,
//! every stub scores zero with each runtime check stopped at a `todo!()` (a check that passes
//! or fails otherwise on a stub cannot be trusted), and nothing hangs.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::catalog::Catalog;
use crate::events::Event;
use crate::grade::{grade, GradeOptions, GradeRun};
use crate::outcome::{CheckStatus, ExerciseStatus};
use crate::source::Source;

pub struct SelfCheck {
    pub solutions: GradeRun,
    pub solutions_time: Duration,
    pub stubs: GradeRun,
    pub stubs_time: Duration,
    /// What is wrong, one line each; empty when the course is sound.
    pub problems: Vec<String>,
}

pub fn run(catalog: &Catalog, jobs: usize, events: &(dyn Fn(Event) + Sync)) -> Result<SelfCheck> {
    let options = |source| GradeOptions {
        source,
        exercises: catalog.exercises.iter().map(|e| e.id.clone()).collect(),
        checks: Vec::new(),
        seed: None,
        trials: None,
        jobs,
        seeds_from_source: false,
        schedule: None,
    };
    let started = Instant::now();
    let solutions = grade(catalog, &options(Source::Solutions), events)?;
    let solutions_time = started.elapsed();
    let started = Instant::now();
    let stubs = grade(catalog, &options(Source::Exercises), events)?;
    let stubs_time = started.elapsed();

    let mut problems = Vec::new();
    for exercise in &solutions.exercises {
        if exercise.status != ExerciseStatus::Graded {
            problems.push(format!(
                "solution {}: {} ({})",
                exercise.id,
                exercise.status.as_str(),
                exercise.message.lines().next().unwrap_or("")
            ));
        }
        for check in exercise
            .checks
            .iter()
            .filter(|c| c.status != CheckStatus::Pass)
        {
            problems.push(format!(
                "solution {}: {} is {} (seed {}): {}",
                exercise.id,
                check.name,
                check.status.as_str(),
                check.seed,
                check.message
            ));
        }
    }
    for exercise in &stubs.exercises {
        if exercise.status != ExerciseStatus::Graded {
            problems.push(format!(
                "stub {}: {} ({})",
                exercise.id,
                exercise.status.as_str(),
                exercise.message.lines().next().unwrap_or("")
            ));
        }
        if exercise.score > 0.0 {
            problems.push(format!(
                "stub {} scores {}, not 0",
                exercise.id, exercise.score
            ));
        }
        for check in exercise
            .checks
            .iter()
            .filter(|c| c.category.is_runtime() && c.status != CheckStatus::NotImplemented)
        {
            problems.push(format!(
                "stub {}: {} is {}, not not_implemented: {}",
                exercise.id,
                check.name,
                check.status.as_str(),
                check.message
            ));
        }
    }
    Ok(SelfCheck {
        solutions,
        solutions_time,
        stubs,
        stubs_time,
        problems,
    })
}
