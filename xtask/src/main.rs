//! `cargo xtask …`: a thin command line over the `grader` library. It parses flags, finds the
//! workspace, and calls one function per command; no grading logic lives here.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod commands;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "The locksmith course and grader",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build and run the hidden checks of exercises, print a report, update the scorecard.
    Grade(GradeArgs),
    /// Every exercise with its title, points and status from the last scorecard.
    List {
        /// The scorecard to read.
        #[arg(long)]
        scorecard: Option<PathBuf>,
    },
    /// The hint of an exercise (and, after a failed grade, those of its failed checks).
    Hint {
        /// An exercise id: `03_rlock`, `03` or `rlock`.
        exercise: String,
        #[arg(long)]
        scorecard: Option<PathBuf>,
    },
    /// Grade every submission in a class folder (folders, .zip or .tar.gz archives).
    Batch(BatchArgs),
    /// Join the outputs of batch shards into one.
    Merge {
        /// The shards' output folders.
        #[arg(required = true, value_name = "OUT")]
        inputs: Vec<PathBuf>,
        /// Where the merged output goes.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Merge even when a shard of the split is missing.
        #[arg(long)]
        partial: bool,
    },
    /// Rebuild the instructor's page, OUT/report.html, of a batch's (or merge's) output.
    Report {
        /// The output folder of `batch` or `merge`.
        #[arg(value_name = "OUT")]
        out: PathBuf,
    },
    /// Benchmarks that print numbers: an exercise id (`02_lock`, `02` or `lock`: your
    /// primitives against std's and parking_lot's, uncontended and by 2 and 8 threads), `batch`
    /// (a class's grading time, memory, and one more submission's build against cargo's),
    /// `report` (the instructor's page of a made-up class: its size and the time to make it).
    Bench(BenchArgs),
    /// The Gradescope autograder package: setup.sh, run_autograder and the course, in a zip.
    Gradescope {
        /// Where to write the zip.
        #[arg(long, value_name = "FILE.zip")]
        out: PathBuf,
        /// The exercises it grades (default: all of them).
        #[arg(long, value_name = "ID", num_args = 1..)]
        exercises: Vec<String>,
    },
    /// Re-grade an exercise on every save of its file: its table, the first check to fix and
    /// its hint, or at full marks the next exercise. Updates the scorecard like `grade`.
    Watch(WatchArgs),
    /// Authoring self-check: solutions get full marks, stubs get zero, nothing hangs.
    Check {
        /// Check processes at once (default: the number of cores).
        #[arg(long)]
        jobs: Option<usize>,
    },
}

#[derive(clap::Args)]
pub struct GradeArgs {
    /// Exercise ids (`03_rlock`, `03` or `rlock`).
    #[arg(required_unless_present = "all")]
    exercises: Vec<String>,
    /// Grade every exercise.
    #[arg(long, conflicts_with = "exercises")]
    all: bool,
    /// Grade a student's copy (a workspace, its exercises/ folder, or exercise folders).
    #[arg(long, value_name = "DIR", conflicts_with = "solutions")]
    submission: Option<PathBuf>,
    /// Grade the reference solutions (they must score full marks).
    #[arg(long)]
    solutions: bool,
    /// Run only this check (repeat the flag for several).
    #[arg(long = "check", value_name = "NAME")]
    checks: Vec<String>,
    /// Replay: run each selected check's trial with this seed.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Replay exactly the schedule under which a check's explored scenario failed (as its
    /// report printed it; with one --check).
    #[arg(long, value_name = "S", requires = "checks", conflicts_with_all = ["seed", "trials"])]
    schedule: Option<String>,
    /// How many trials each stress check runs.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    trials: Option<u64>,
    /// Where to write the result (default: scorecard.toml, scorecard.json or results.json at
    /// the workspace root).
    #[arg(long, value_name = "PATH")]
    scorecard: Option<PathBuf>,
    /// The format of the written result.
    #[arg(long, value_enum, default_value_t = FormatArg::Toml)]
    format: FormatArg,
    /// Check processes at once (default: the number of cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
}

#[derive(clap::Args)]
pub struct WatchArgs {
    /// The exercise (`03_rlock`, `03` or `rlock`). Without it: whichever exercise file is
    /// saved, starting with the first that lacks full marks in the scorecard.
    exercise: Option<String>,
    /// Re-grade on Enter instead of on file events (`q` and Enter quits), for file systems
    /// whose changes are not reported (some network and container mounts).
    #[arg(long)]
    manual: bool,
    /// How many trials each stress check runs.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    trials: Option<u64>,
    /// Watch and grade a copy of the course instead (a workspace, or its exercises/ folder).
    #[arg(long, value_name = "DIR")]
    submission: Option<PathBuf>,
    /// The scorecard to update (default: scorecard.toml at the workspace root).
    #[arg(long, value_name = "PATH")]
    scorecard: Option<PathBuf>,
    /// Check processes at once (default: the number of cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
}

#[derive(clap::Args)]
pub struct BatchArgs {
    /// The class folder: one submission per entry.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Where scorecards and summaries go (not inside DIR).
    #[arg(long, value_name = "OUT")]
    out: PathBuf,
    /// Grade only these exercises (default: all).
    #[arg(long, num_args = 1.., value_name = "ID")]
    exercises: Vec<String>,
    /// Check processes at once (default: the number of cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Grade shard K of N: every N-th submission in name order, from the K-th (K from 0).
    #[arg(long, value_name = "K/N")]
    shard: Option<grader::batch::Shard>,
    /// Keep scorecards already in OUT whose sources, grader and checks are unchanged.
    #[arg(long)]
    resume: bool,
    /// Also write Gradescope's results.json per submission (OUT/<name>.json).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
}

#[derive(clap::Args)]
pub struct BenchArgs {
    /// What to measure: an exercise id, `batch`, `report` or `detect`.
    what: String,
    /// Time the reference solutions instead of your code.
    #[arg(long, conflicts_with = "submission")]
    solutions: bool,
    /// Time a student's copy (a workspace, its exercises/ folder, or exercise folders).
    #[arg(long, value_name = "DIR")]
    submission: Option<PathBuf>,
    /// Seconds of measuring for the exercise, shared by its cases (the build comes on top).
    #[arg(long, value_name = "SECONDS", default_value_t = 20.0)]
    time: f64,
    /// Students in the class of `bench batch` and `bench report`.
    #[arg(long, default_value_t = 30)]
    students: usize,
    /// Check processes at once, for `bench batch` (default: the number of cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Trials per fixture, check and backend, for `bench detect`.
    #[arg(long, value_name = "N", default_value_t = 50)]
    trials: u64,
    /// Seconds each cell of `bench detect` may take before it stops short of its trials.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    budget: f64,
    /// Only the fixtures of `bench detect` whose `ID/name` contains this (repeatable).
    #[arg(long, value_name = "TEXT")]
    fixture: Vec<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Toml,
    Json,
    Gradescope,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Grade(args) => commands::grade::run(args),
        Command::List { scorecard } => commands::list::run(scorecard),
        Command::Hint {
            exercise,
            scorecard,
        } => commands::hint::run(&exercise, scorecard),
        Command::Batch(args) => commands::batch::run(args),
        Command::Merge {
            inputs,
            out,
            partial,
        } => commands::batch::merge(inputs, out, partial),
        Command::Report { out } => commands::report::run(&out),
        Command::Bench(args) => commands::bench::run(args),
        Command::Gradescope { out, exercises } => commands::gradescope::run(&out, &exercises),
        Command::Watch(args) => commands::watch::run(args),
        Command::Check { jobs } => commands::check::run(jobs),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("{} {error:#}", console::style("error:").red().bold());
            ExitCode::from(2)
        }
    }
}
