//! Benchmarks, which print numbers (never assertions: machines here are shared and noisy).
//! [`primitives`] is `cargo xtask bench ID`, the learner's primitives against std's and
//! parking_lot's. This module is `cargo xtask bench batch`, what grading a class costs:
//!
//! - a class of `students` × every exercise graded end to end (build and checks), with the
//!   grader's and its largest child's peak memory;
//! - the marginal build time of one more submission in that class, against a plain cargo build
//!   of the same crates (a fresh submission of the same size, built with cargo alone).

pub mod detect;
pub mod primitives;
mod stats;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::batch::{self, BatchOptions};
use crate::catalog::Catalog;
use crate::grade::{plan, GradeOptions};
use crate::source::Source;
use crate::stage::{self, Member, StageLock};

pub struct BatchBench {
    pub students: usize,
    pub exercises: usize,
    pub jobs: usize,
    pub class: Duration,
    pub marginal_grader: Duration,
    pub marginal_cargo: Duration,
    /// A class build with nothing left to compile.
    pub noop_build: Duration,
    pub grader_peak_kib: i64,
    pub child_peak_kib: i64,
}

/// A class of `students`: student `i`'s exercise `e` is the reference solution (one line of its
/// own, so no two students share code) or, every fourth, the untouched stub (which a class does
/// share).
fn write_class(catalog: &Catalog, dir: &Path, students: usize, salt: &str) -> Result<()> {
    for i in 0..students {
        write_student(catalog, &dir.join(format!("student-{i:03}")), i, salt)?;
    }
    Ok(())
}

fn write_student(catalog: &Catalog, dir: &Path, i: usize, salt: &str) -> Result<()> {
    for (e, exercise) in catalog.exercises.iter().enumerate() {
        let (from, mark) = if (i + e) % 4 == 3 {
            ("exercises", String::new())
        } else {
            ("solutions", format!("\n// {salt} student {i}\n"))
        };
        let code = std::fs::read_to_string(
            catalog
                .root
                .join(from)
                .join(&exercise.id)
                .join("src/lib.rs"),
        )?;
        let lib = dir.join(&exercise.id).join("src");
        std::fs::create_dir_all(&lib)?;
        std::fs::write(lib.join("lib.rs"), code + &mark)?;
    }
    Ok(())
}

fn requests(catalog: &Catalog, dirs: &[&Path]) -> Result<Vec<GradeOptions>> {
    dirs.iter()
        .map(|dir| {
            Ok(GradeOptions {
                source: Source::submission(dir)?,
                exercises: catalog.exercises.iter().map(|e| e.id.clone()).collect(),
                checks: Vec::new(),
                seed: None,
                trials: None,
                jobs: 1,
                seeds_from_source: true,
                schedule: None,
            })
        })
        .collect()
}

pub fn batch(
    catalog: &Catalog,
    students: usize,
    jobs: usize,
    say: &dyn Fn(&str),
) -> Result<BatchBench> {
    let scratch = tempfile::Builder::new()
        .prefix("locksmith-bench-")
        .tempdir()?;
    // A salt of this run: every student's code is new to the build.
    let salt = format!("bench {}", plan::random_seed());
    let class_dir = scratch.path().join("class");
    write_class(catalog, &class_dir, students, &salt)?;

    say(&format!(
        "grading a class of {students} × {} exercises with --jobs {jobs}…",
        catalog.exercises.len()
    ));
    let started = Instant::now();
    let run = batch::run(
        catalog,
        &BatchOptions {
            dir: class_dir.clone(),
            out: scratch.path().join("out"),
            exercises: catalog.exercises.iter().map(|e| e.id.clone()).collect(),
            jobs,
            shard: None,
            resume: false,
            gradescope: false,
        },
        &|_| {},
    )?;
    let class = started.elapsed();
    let (grader_peak_kib, child_peak_kib) = peaks();
    say(&format!(
        "  {} submissions graded in {:.1}s",
        run.summary.submissions.len(),
        class.as_secs_f64()
    ));

    // One more student, staged and built by the grader beside the whole class, and another of
    // the same size built by cargo alone (its crates only), in turns: medians of three.
    say("one more submission: the grader's build beside the class, then cargo's alone, three times…");
    let mut grader_times = Vec::new();
    let mut cargo_times = Vec::new();
    for round in 0..3 {
        let extra = scratch.path().join(format!("extra-{round}"));
        write_student(catalog, &extra, students + 2 * round, &salt)?;
        let started = Instant::now();
        crate::grade::prebuild(catalog, &requests(catalog, &[&extra])?, &|_| {})?;
        grader_times.push(started.elapsed());

        let plain = scratch.path().join(format!("plain-{round}"));
        write_student(catalog, &plain, students + 2 * round + 1, &salt)?;
        cargo_times.push(cargo_alone(catalog, &plain)?);
    }
    // The class's build again: nothing compiles but the api crates, which are meant to fail
    // and so run every time.
    let dirs: Vec<std::path::PathBuf> = (0..students)
        .map(|i| class_dir.join(format!("student-{i:03}")))
        .collect();
    let all: Vec<&Path> = dirs.iter().map(|d| d.as_path()).collect();
    let started = Instant::now();
    crate::grade::prebuild(catalog, &requests(catalog, &all)?, &|_| {})?;
    let noop_build = started.elapsed();

    Ok(BatchBench {
        students,
        exercises: catalog.exercises.len(),
        jobs,
        class,
        marginal_grader: median(grader_times),
        marginal_cargo: median(cargo_times),
        noop_build,
        grader_peak_kib,
        child_peak_kib,
    })
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Stages one submission and builds its crates with cargo alone, timing only cargo.
fn cargo_alone(catalog: &Catalog, dir: &Path) -> Result<Duration> {
    let source = Source::submission(dir)?;
    let codes: Vec<(usize, String)> = catalog
        .exercises
        .iter()
        .enumerate()
        .map(
            |(e, exercise)| match source.read(&catalog.root, &exercise.id) {
                crate::source::Found::File { code, .. } => Ok((e, code)),
                other => anyhow::bail!("{}: {other:?}", exercise.id),
            },
        )
        .collect::<Result<_>>()?;
    let members: Vec<Member> = codes
        .iter()
        .map(|(e, code)| {
            let exercise = &catalog.exercises[*e];
            Member {
                exercise,
                key: plan::content_key(exercise, code),
                code,
                api: true,
            }
        })
        .collect();
    let _lock = StageLock::take(catalog)?;
    let stage = stage::write(catalog, &members)?;
    let started = Instant::now();
    let report = crate::build::build(&stage, &|_| {})?;
    if let Some(failure) = report.cargo_failure {
        anyhow::bail!("cargo failed: {failure}");
    }
    Ok(started.elapsed())
}
/// Peak resident memory of this process and of its largest finished child, in KiB.
fn peaks() -> (i64, i64) {
    let peak = |who| {
        // SAFETY: getrusage fills the struct it is given; zeroed is a valid rusage.
        unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::getrusage(who, &mut usage);
            usage.ru_maxrss
        }
    };
    (peak(libc::RUSAGE_SELF), peak(libc::RUSAGE_CHILDREN))
}

impl std::fmt::Display for BatchBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = |d: Duration| d.as_secs_f64();
        writeln!(
            f,
            "class of {} × {} exercises, --jobs {} on {} cores: {:.1}s ({:.1}s a submission)",
            self.students,
            self.exercises,
            self.jobs,
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            secs(self.class),
            secs(self.class) / self.students.max(1) as f64
        )?;
        writeln!(
            f,
            "peak memory: grader {:.0} MiB, largest child (rustc, cargo or a check) {:.0} MiB",
            self.grader_peak_kib as f64 / 1024.0,
            self.child_peak_kib as f64 / 1024.0
        )?;
        writeln!(
            f,
            "one more submission's build: {:.2}s by the grader beside the class, {:.2}s by cargo \
             alone for the same crates: {:.2}× (target ≤ 1.3×)",
            secs(self.marginal_grader),
            secs(self.marginal_cargo),
            secs(self.marginal_grader) / secs(self.marginal_cargo).max(1e-9)
        )?;
        writeln!(
            f,
            "the class's build run again (only the compile-fail api cases compile again): {:.2}s",
            secs(self.noop_build)
        )
    }
}

/// `cargo xtask bench report`: the instructor's page of a made-up class of `students`, every
/// exercise graded (see [`crate::batch::report::synthetic`]): its size and the time to make it.
pub struct ReportBench {
    pub students: usize,
    pub checks: usize,
    pub bytes: usize,
    pub render: Duration,
}

pub fn report(catalog: &Catalog, students: usize) -> Result<ReportBench> {
    use crate::batch::report::{self, synthetic, Baseline, Class};
    let class = synthetic::class(catalog, students, 42);
    let started = Instant::now();
    let baselines = Baseline::load(catalog, &class.summary.exercises);
    let page = report::render(&Class {
        catalog,
        summary: &class.summary,
        cards: &class.cards,
        fingerprints: &class.fingerprints,
        baselines: &baselines,
    })?;
    Ok(ReportBench {
        students,
        checks: catalog.exercises.iter().map(|e| e.checks.len()).sum(),
        bytes: page.len(),
        render: started.elapsed(),
    })
}

impl std::fmt::Display for ReportBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "report of {} students × {} checks: {} bytes ({:.0} KiB), made in {:.2}s",
            self.students,
            self.checks,
            self.bytes,
            self.bytes as f64 / 1024.0,
            self.render.as_secs_f64()
        )
    }
}
