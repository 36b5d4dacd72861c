//! Grading: rules, one build, api judgement, then every runtime check in its own contained
//! process, several at once. Produces outcomes and reports progress as events.

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::build::BuildReport;
use crate::catalog::{Catalog, Category, CheckSpec, Exercise};
use crate::outcome::{CheckOutcome, CheckStatus, ExerciseOutcome, ExerciseStatus};
use crate::sandbox::{self, Ending, Limits, Report};
use crate::source::Source;
use crate::stage::{self, StagedExercise};

#[derive(Debug, Clone)]
pub struct GradeOptions {
    pub source: Source,
    /// Exercise ids, in catalog order.
    pub exercises: Vec<String>,
    /// Run only these checks (all when empty).
    pub checks: Vec<String>,
    /// Replay: the first trial's seed (with one trial unless `trials` says otherwise).
    pub seed: Option<u64>,
    /// Trials of every stress check, instead of the checks file's number.
    pub trials: Option<u64>,
    /// Check processes at once.
    pub jobs: usize,
}

/// The result of one `grade`.
#[derive(Debug, Clone)]
pub struct GradeRun {
    pub source: Source,
    pub exercises: Vec<ExerciseOutcome>,
    pub base_seed: u64,
}

impl GradeRun {
    pub fn full_marks(&self) -> bool {
        self.exercises.iter().all(ExerciseOutcome::full_marks)
    }
}

/// What the runner tells its consumers while it works.
pub enum Event<'a> {
    Building {
        exercises: usize,
    },
    Compiled {
        target: &'a str,
    },
    Built {
        elapsed: Duration,
    },
    Running {
        checks: usize,
    },
    CheckStarted {
        exercise: &'a str,
        check: &'a str,
    },
    CheckFinished {
        exercise: &'a str,
        outcome: &'a CheckOutcome,
    },
}

/// Grades the selected exercises of `options.source`.
pub fn grade(
    catalog: &Catalog,
    options: &GradeOptions,
    events: &(dyn Fn(Event) + Sync),
) -> Result<GradeRun> {
    sandbox::become_subreaper();
    let selected: Vec<&Exercise> = options
        .exercises
        .iter()
        .map(|id| catalog.find(id))
        .collect::<Result<_>>()?;
    for check in &options.checks {
        if !selected.iter().any(|e| e.check(check).is_some()) {
            bail!(
                "no check named `{check}` in {}",
                selected
                    .iter()
                    .map(|e| e.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let base_seed = options.seed.unwrap_or_else(random_seed);

    // Locate and read every student file first: a file that changes during grading is graded
    // as it was read here.
    let mut found = Vec::new();
    let mut outcomes: Vec<ExerciseOutcome> = Vec::new();
    for exercise in &selected {
        match options.source.locate(&catalog.root, &exercise.id) {
            Some(path) => {
                let code =
                    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                found.push((*exercise, path, code));
            }
            None => outcomes.push(not_found(exercise, &options.source)),
        }
    }

    if !found.is_empty() {
        let stage_base = catalog.root.join("target/locksmith/stage");
        std::fs::create_dir_all(&stage_base)?;
        let _lock =
            StageLock::take(&stage_base.join(format!("{}.lock", options.source.stage_key())))?;
        let sources: Vec<(&Exercise, PathBuf)> =
            found.iter().map(|(e, p, _)| (*e, p.clone())).collect();
        let stage = stage::write(catalog, &options.source.stage_key(), &sources)?;
        events(Event::Building {
            exercises: found.len(),
        });
        let build = crate::build::build(&stage, &|target| events(Event::Compiled { target }))?;
        events(Event::Built {
            elapsed: build.elapsed,
        });
        if let Some(failure) = &build.cargo_failure {
            bail!("the grader's own build failed (not your code):\n{failure}");
        }

        let mut jobs = Vec::new();
        let mut pending = Vec::new();
        for ((exercise, path, code), staged) in found.iter().zip(&stage.exercises) {
            let mut outcome =
                compiled_outcome(catalog, exercise, path, code, staged, &build, options);
            if outcome.status == ExerciseStatus::Graded
                || outcome.status == ExerciseStatus::RulesViolation
            {
                if let Some(exe) = build.executables.get(&staged.check_target) {
                    for spec in exercise.checks.iter().filter(|c| c.category.is_runtime()) {
                        if selected_check(options, spec) {
                            jobs.push(Job::new(
                                outcomes.len() + pending.len(),
                                exercise,
                                spec,
                                exe,
                                base_seed,
                                options,
                            ));
                        }
                    }
                }
            }
            if let Some(exe) = build.executables.get(&staged.check_target) {
                verify_check_names(exercise, exe, catalog)?;
            }
            outcome.build_seconds = build.elapsed.as_secs_f64();
            pending.push(outcome);
        }
        let offset = outcomes.len();
        outcomes.extend(pending);

        events(Event::Running { checks: jobs.len() });
        let workdir = catalog.root.join("target/locksmith/run");
        std::fs::create_dir_all(&workdir)?;
        let results = run_jobs(&jobs, options.jobs.max(1), &workdir, events);
        for (job, (outcome, elapsed)) in jobs.iter().zip(results) {
            let exercise = &mut outcomes[job.outcome_index];
            exercise.run_seconds += elapsed.as_secs_f64();
            if let Some(slot) = exercise.checks.iter_mut().find(|c| c.name == outcome.name) {
                *slot = outcome;
            }
        }
        for outcome in &mut outcomes[offset..] {
            finish_scores(outcome);
        }
    }

    // Catalog order, whatever order the work happened in.
    outcomes.sort_by_key(|o| catalog.exercises.iter().position(|e| e.id == o.id));
    Ok(GradeRun {
        source: options.source.clone(),
        exercises: outcomes,
        base_seed,
    })
}

/// The check binary's functions and the checks file's runtime checks must be the same set: a
/// check declared but never run would silently score zero, and one run but not declared would
/// never count.
fn verify_check_names(exercise: &Exercise, exe: &Path, catalog: &Catalog) -> Result<()> {
    let output = std::process::Command::new(exe)
        .arg("list")
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("listing the checks of {}", exe.display()))?;
    let mut compiled: Vec<&str> = std::str::from_utf8(&output.stdout)
        .unwrap_or("")
        .lines()
        .collect();
    let mut declared: Vec<&str> = exercise
        .checks
        .iter()
        .filter(|c| c.category.is_runtime())
        .map(|c| c.name.as_str())
        .collect();
    compiled.sort_unstable();
    declared.sort_unstable();
    if compiled != declared {
        bail!(
            "the hidden checks of {} are out of sync: {} declares [{}] but {} runs [{}]",
            exercise.id,
            display_path(
                &catalog.root,
                &Catalog::checks_toml(&catalog.root, &exercise.id)
            ),
            declared.join(", "),
            display_path(&catalog.root, &catalog.checks_source(&exercise.id)),
            compiled.join(", ")
        );
    }
    Ok(())
}

fn selected_check(options: &GradeOptions, spec: &CheckSpec) -> bool {
    options.checks.is_empty() || options.checks.contains(&spec.name)
}

fn random_seed() -> u64 {
    let mut bytes = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut bytes);
    }
    // Short seeds are easier to type in a replay command.
    u64::from_le_bytes(bytes) % 1_000_000_000
}

fn check_outcome(
    spec: &CheckSpec,
    status: CheckStatus,
    message: impl Into<String>,
) -> CheckOutcome {
    let message = message.into();
    CheckOutcome {
        name: spec.name.clone(),
        category: spec.category,
        status,
        score: if status == CheckStatus::Pass {
            f64::from(spec.points)
        } else {
            0.0
        },
        max_score: f64::from(spec.points),
        trials: 0,
        failed_trials: 0,
        seed: 0,
        duration: Duration::ZERO,
        hint: if status == CheckStatus::Pass {
            String::new()
        } else {
            spec.hint.clone()
        },
        message,
    }
}

fn not_found(exercise: &Exercise, source: &Source) -> ExerciseOutcome {
    ExerciseOutcome {
        id: exercise.id.clone(),
        title: exercise.title.clone(),
        status: ExerciseStatus::NotFound,
        score: 0.0,
        max_score: f64::from(exercise.max_points()),
        source_sha256: String::new(),
        build_seconds: 0.0,
        run_seconds: 0.0,
        message: format!(
            "no source file: looked for {}",
            source.expected_path(&exercise.id)
        ),
        checks: exercise
            .checks
            .iter()
            .map(|c| {
                check_outcome(
                    c,
                    CheckStatus::Skipped,
                    "not run: the exercise was not found",
                )
            })
            .collect(),
    }
}

/// The outcome of an exercise once built: rules, api and compile errors decided, runtime checks
/// still `skipped` until they run.
fn compiled_outcome(
    catalog: &Catalog,
    exercise: &Exercise,
    path: &Path,
    code: &[u8],
    staged: &StagedExercise,
    build: &BuildReport,
    options: &GradeOptions,
) -> ExerciseOutcome {
    let shown = display_path(&catalog.root, path);
    let mut outcome = ExerciseOutcome {
        id: exercise.id.clone(),
        title: exercise.title.clone(),
        status: ExerciseStatus::Graded,
        score: 0.0,
        max_score: f64::from(exercise.max_points()),
        source_sha256: crate::sha256_hex(code),
        build_seconds: 0.0,
        run_seconds: 0.0,
        message: String::new(),
        checks: Vec::new(),
    };

    let lib_errors = build.errors.get(&staged.lib_target);
    let check_errors = build.errors.get(&staged.check_target);
    let compiles = lib_errors.is_none_or(Vec::is_empty) && build.built.contains(&staged.lib_target);
    if !compiles {
        outcome.status = ExerciseStatus::CompileError;
        outcome.message = compiler_errors(lib_errors, &staged.lib_path, &shown);
    } else if !build.executables.contains_key(&staged.check_target) {
        outcome.status = ExerciseStatus::CompileError;
        outcome.message = format!(
            "{shown} compiles, but its public API does not match the curriculum \
             (the hidden checks cannot be built against it):\n{}",
            compiler_errors(check_errors, &staged.lib_path, &shown)
        );
    }

    let source = String::from_utf8_lossy(code);
    for spec in &exercise.checks {
        let checked = match spec.category {
            Category::Rules => {
                let result = crate::rules::check(&source, &exercise.allowed);
                match result {
                    Ok(violations) if violations.is_empty() => {
                        check_outcome(spec, CheckStatus::Pass, "")
                    }
                    Ok(violations) => {
                        let list = violations
                            .iter()
                            .map(|v| format!("line {}: {} ({})", v.line, v.item, v.reason))
                            .collect::<Vec<_>>();
                        if outcome.status == ExerciseStatus::Graded {
                            outcome.status = ExerciseStatus::RulesViolation;
                            outcome.message = format!(
                                "{shown} uses building blocks {} may not use, so it scores 0 \
                                 (the other checks still ran, to show what works):\n{}",
                                exercise.id,
                                list.join("\n")
                            );
                        }
                        check_outcome(spec, CheckStatus::Fail, list.join("; "))
                    }
                    Err(parse) => check_outcome(
                        spec,
                        CheckStatus::Skipped,
                        format!("not judged: the file does not parse ({parse})"),
                    ),
                }
            }
            _ if !selected_check(options, spec) => check_outcome(
                spec,
                CheckStatus::Skipped,
                "not run (--check selected another)",
            ),
            _ if outcome.status == ExerciseStatus::CompileError => check_outcome(
                spec,
                CheckStatus::Skipped,
                "not run: the code does not compile against the curriculum's API",
            ),
            Category::Api => match crate::api::judge(spec, &staged.api_crates, build) {
                Ok(()) => check_outcome(spec, CheckStatus::Pass, ""),
                Err(why) => check_outcome(spec, CheckStatus::Fail, why),
            },
            _ => check_outcome(spec, CheckStatus::Skipped, "not run"),
        };
        outcome.checks.push(checked);
    }
    outcome
}

/// The first compiler errors, with the stage's paths replaced by the learner's.
fn compiler_errors(
    errors: Option<&Vec<crate::build::Diagnostic>>,
    staged_lib: &Path,
    shown: &str,
) -> String {
    let Some(errors) = errors.filter(|e| !e.is_empty()) else {
        return "the build failed without a compiler error (see `cargo build` output)".into();
    };
    let stage_dir = staged_lib
        .parent()
        .and_then(Path::parent)
        .unwrap_or(staged_lib);
    let mut text = String::new();
    for error in errors.iter().take(3) {
        let rendered = if error.rendered.is_empty() {
            &error.message
        } else {
            &error.rendered
        };
        text.push_str(rendered);
        if !rendered.ends_with('\n') {
            text.push('\n');
        }
    }
    if errors.len() > 3 {
        text.push_str(&format!("... and {} more errors\n", errors.len() - 3));
    }
    let lib_rel = staged_lib
        .strip_prefix(stage_dir)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    text.replace(&staged_lib.display().to_string(), shown)
        .replace(&lib_rel, shown)
        .replace(&format!("{}/", stage_dir.display()), "")
}

fn display_path(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Totals once every check is known. A rules violation zeroes the exercise; static checks
/// (rules, api) score only once some runtime check passes, so that a stub, or code that does not
/// compile, gets nothing for them.
fn finish_scores(outcome: &mut ExerciseOutcome) {
    let works = outcome
        .checks
        .iter()
        .any(|c| c.category.is_runtime() && c.status == CheckStatus::Pass);
    for check in &mut outcome.checks {
        if check.status != CheckStatus::Pass {
            continue;
        }
        if outcome.status == ExerciseStatus::RulesViolation && check.category != Category::Rules {
            check.score = 0.0;
            check.message = format!(
                "passed, but scores 0: {} uses building blocks it may not use",
                outcome.id
            );
        } else if !check.category.is_runtime() && !works {
            check.score = 0.0;
            check.message = "passed, but scores only once a runtime check passes".into();
        }
    }
    outcome.score = outcome.checks.iter().map(|c| c.score).sum();
}

/// One runtime check to run.
struct Job {
    outcome_index: usize,
    exercise: String,
    spec: CheckSpec,
    exe: PathBuf,
    seed: u64,
    trials: u64,
}

impl Job {
    fn new(
        outcome_index: usize,
        exercise: &Exercise,
        spec: &CheckSpec,
        exe: &Path,
        base_seed: u64,
        options: &GradeOptions,
    ) -> Job {
        let (seed, trials) = match options.seed {
            // A replay runs the named seed itself.
            Some(seed) => (seed, options.trials.unwrap_or(1)),
            None => {
                let salt = crate::sha256_hex(format!("{}/{}", exercise.id, spec.name).as_bytes());
                let salt = u64::from_str_radix(&salt[..8], 16).unwrap_or(0);
                let trials = match options.trials {
                    Some(n) if spec.category == Category::Stress => n,
                    _ => spec.trials,
                };
                ((base_seed ^ salt) % 1_000_000_000, trials)
            }
        };
        Job {
            outcome_index,
            exercise: exercise.id.clone(),
            spec: spec.clone(),
            exe: exe.to_path_buf(),
            seed,
            trials: trials.max(1),
        }
    }
}

/// Runs non-exclusive jobs `parallel` at a time, then exclusive ones alone.
fn run_jobs(
    jobs: &[Job],
    parallel: usize,
    workdir: &Path,
    events: &(dyn Fn(Event) + Sync),
) -> Vec<(CheckOutcome, Duration)> {
    let results: Mutex<HashMap<usize, (CheckOutcome, Duration)>> = Mutex::new(HashMap::new());
    let (shared, exclusive): (Vec<usize>, Vec<usize>) =
        (0..jobs.len()).partition(|&i| !jobs[i].spec.exclusive);
    for (indices, width) in [(shared, parallel), (exclusive, 1)] {
        let next = AtomicUsize::new(0);
        let worker = || {
            while let Some(&i) = indices.get(next.fetch_add(1, Relaxed)) {
                let job = &jobs[i];
                let (exercise, check) = (job.exercise.as_str(), job.spec.name.as_str());
                events(Event::CheckStarted { exercise, check });
                let started = Instant::now();
                let outcome = run_job(job, workdir);
                events(Event::CheckFinished {
                    exercise,
                    outcome: &outcome,
                });
                let mut results = results.lock().unwrap_or_else(|e| e.into_inner());
                results.insert(i, (outcome, started.elapsed()));
            }
        };
        std::thread::scope(|scope| {
            for _ in 0..width.min(indices.len()) {
                scope.spawn(worker);
            }
        });
    }
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    (0..jobs.len())
        .map(|i| results.remove(&i).expect("every job ran"))
        .collect()
}

fn run_job(job: &Job, workdir: &Path) -> CheckOutcome {
    let spec = &job.spec;
    let limits = Limits {
        trial_timeout: Duration::from_millis(spec.timeout_ms),
        address_space_bytes: 4 << 30,
        cpu_seconds: 10 + 2 * job.trials * spec.timeout_ms.div_ceil(1000),
        output_bytes: 32 * 1024,
    };
    let args = vec![
        "run".to_string(),
        spec.name.clone(),
        "--seed".into(),
        job.seed.to_string(),
        "--trials".into(),
        job.trials.to_string(),
        "--perturb".into(),
        spec.perturb.to_string(),
    ];
    let mut outcome = check_outcome(spec, CheckStatus::Crash, "");
    outcome.seed = job.seed;
    let run = match sandbox::run(&job.exe, &args, workdir, limits) {
        Ok(run) => run,
        Err(error) => {
            outcome.message = format!("could not start the check process: {error}");
            return outcome;
        }
    };
    outcome.duration = run.elapsed;
    judge_run(spec, job.trials, &run, &mut outcome);
    outcome.score = if outcome.status == CheckStatus::Pass {
        f64::from(spec.points)
    } else {
        0.0
    };
    outcome.hint = if outcome.status == CheckStatus::Pass {
        String::new()
    } else {
        spec.hint.clone()
    };
    outcome
}

/// Turns what the process reported (and how it ended) into a verdict. Only reports carrying the
/// nonce count; a pass needs every trial's `pass` and the final `done`.
fn judge_run(spec: &CheckSpec, requested: u64, run: &sandbox::Run, outcome: &mut CheckOutcome) {
    let mut running: Option<(u64, u64)> = None;
    let mut passed = 0;
    let mut done = false;
    for report in &run.reports {
        match report {
            Report::Start { index, seed } => running = Some((*index, *seed)),
            Report::Trial {
                index,
                seed,
                verdict,
                message,
                ..
            } => {
                running = None;
                outcome.trials = index + 1;
                if verdict == "pass" {
                    passed += 1;
                    continue;
                }
                outcome.failed_trials = 1;
                outcome.seed = *seed;
                let trial = if requested > 1 {
                    format!("trial {} of {requested}: ", index + 1)
                } else {
                    String::new()
                };
                (outcome.status, outcome.message) = match verdict.as_str() {
                    "fail" => (CheckStatus::Fail, format!("{trial}{message}")),
                    "not_implemented" => (
                        CheckStatus::NotImplemented,
                        "not implemented yet (a todo!() was reached)".to_string(),
                    ),
                    _ => (
                        CheckStatus::Panic,
                        format!("{trial}the code under test panicked: {message}"),
                    ),
                };
                return;
            }
            Report::Done => done = true,
            Report::Error(message) => {
                outcome.status = CheckStatus::Crash;
                outcome.message =
                    format!("the check binary refused to run (grader bug): {message}");
                return;
            }
        }
    }
    if done && passed == requested {
        outcome.status = CheckStatus::Pass;
        outcome.trials = requested;
        return;
    }
    let (index, seed) = running.unwrap_or((passed, outcome.seed));
    outcome.trials = index + 1;
    outcome.failed_trials = 1;
    outcome.seed = seed;
    let trial = if requested > 1 {
        format!("trial {} of {requested} ", index + 1)
    } else {
        String::new()
    };
    let tail = last_lines(&run.stderr, 3);
    (outcome.status, outcome.message) = match run.ending {
        Ending::TimedOut => (
            CheckStatus::Timeout,
            format!(
                "{trial}did not finish within {} ms: deadlock or lost wake-up suspected",
                spec.timeout_ms
            ),
        ),
        Ending::Signalled(signal) => (
            CheckStatus::Crash,
            format!("{trial}was killed by {}{tail}", signal_name(signal)),
        ),
        Ending::Exited(code) => (
            CheckStatus::Crash,
            format!(
                "{trial}ended with exit code {code} before the check finished \
                 (process::exit or abort in the code under test?){tail}"
            ),
        ),
    };
    if run.forged_lines > 0 {
        outcome.message.push_str(&format!(
            " [{} forged report line(s) ignored]",
            run.forged_lines
        ));
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    format!(": {}", lines[lines.len().saturating_sub(n)..].join(" | "))
}

fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGSEGV => "SIGSEGV (a stack overflow or invalid memory access)",
        libc::SIGABRT => "SIGABRT (an abort: e.g. a panic while panicking, or a stack overflow)",
        libc::SIGKILL => "SIGKILL (out of memory, or a resource limit)",
        libc::SIGBUS => "SIGBUS (invalid memory access)",
        libc::SIGILL => "SIGILL (an illegal instruction)",
        libc::SIGFPE => "SIGFPE (an arithmetic fault)",
        libc::SIGXCPU => "SIGXCPU (the CPU time limit)",
        libc::SIGXFSZ => "SIGXFSZ (an attempt to write a file)",
        _ => return format!("signal {signal}"),
    };
    name.to_string()
}

/// An advisory lock on one source's stage, so two graders never build it at once.
struct StageLock {
    _file: std::fs::File,
}

impl StageLock {
    fn take(path: &Path) -> Result<StageLock> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        // SAFETY: flock on a descriptor we own; released when the file closes.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            bail!("could not lock {}", path.display());
        }
        Ok(StageLock { _file: file })
    }
}
