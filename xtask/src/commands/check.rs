//! `cargo xtask check`: the authoring self-check.

use std::process::ExitCode;

use anyhow::Result;
use console::style;
use grader::Catalog;

use super::default_jobs;

pub fn run(jobs: Option<usize>) -> Result<ExitCode> {
    let catalog = Catalog::load(&grader::workspace_root())?;
    let progress = grader::report::Progress::new();
    let result = grader::selfcheck::run(&catalog, default_jobs(jobs), &|e| progress.handle(e));
    progress.finish();
    let check = result?;
    let width = check.solutions.exercises.iter().map(|e| e.id.len()).max();
    let width = width.unwrap_or(0);
    for (solution, stub) in check.solutions.exercises.iter().zip(&check.stubs.exercises) {
        println!(
            "{}  solution {:>5} / {}   stub {:>3} / {}   checks {:.1}s",
            // Padded before styling: colour codes would count towards the width.
            style(format!("{:<width$}", solution.id)).cyan().bold(),
            solution.score,
            solution.max_score,
            stub.score,
            stub.max_score,
            solution.run_seconds,
        );
    }
    println!(
        "graded the solutions in {:.1}s and the stubs in {:.1}s",
        check.solutions_time.as_secs_f64(),
        check.stubs_time.as_secs_f64()
    );
    if check.problems.is_empty() {
        println!("{}", style("self-check passed").green().bold());
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{}", style("self-check found problems:").red().bold());
        for problem in &check.problems {
            println!("  - {problem}");
        }
        Ok(ExitCode::from(1))
    }
}
