//! The learner's loop (`cargo xtask watch`): every save of an exercise file (or Enter, with
//! `--manual`) grades that exercise on the same path as `grade`, updates the scorecard the same
//! way, and redraws one screen: the exercise's table, the first check to fix with its hint, or,
//! at full marks, the next exercise.
//!
//! It watches the folders that hold the files, not the files: editors that save by writing a
//! new file and renaming it over the old one (vim, many IDEs) replace the file, and a watch on
//! the old one would hear nothing more. Only a file named `lib.rs` counts, so vim's swap and
//! backup files (`.lib.rs.swp`, `.swx`, `4913`, `lib.rs~`) and editors' temporary files never
//! start a grade, and only events that change a file do: the grader reading the file is an
//! event too (an access), and counting it would grade forever. Saves that arrive during a grade
//! are coalesced into one grade after it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, Write as _};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use console::style;
use notify_debouncer_full::notify::event::{AccessKind, AccessMode};
use notify_debouncer_full::notify::{EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult, Debouncer, RecommendedCache};

use crate::catalog::Catalog;
use crate::grade::{GradeOptions, GradeRun};
use crate::outcome::{CheckOutcome, CheckStatus, ExerciseOutcome, ExerciseStatus};
use crate::scorecard::{Format, Previous, Scorecard};
use crate::source::{Found, Source};

/// A burst of file events shorter than this is one save (a rename-over save is a few events
/// within a millisecond or so; a human saves again seconds later).
const DEBOUNCE: Duration = Duration::from_millis(200);

pub struct WatchOptions {
    /// The learner's `exercises/`, or a copy of the course (`--submission`).
    pub source: Source,
    /// The exercise to grade; `None` follows whichever exercise file is saved.
    pub exercise: Option<String>,
    /// Re-grade on Enter instead of file events.
    pub manual: bool,
    pub trials: Option<u64>,
    pub jobs: usize,
    /// The scorecard (TOML) to update, as `grade` does.
    pub scorecard: PathBuf,
}

/// What wakes the loop.
enum Wake {
    /// Exercise files were written, in the order of their events.
    Saved(Vec<String>),
    Enter,
    Quit,
    WatchFailed(String),
}

/// Runs the loop until `q` (manual mode), the end of standard input (manual mode), or Ctrl-C.
pub fn watch(catalog: &Catalog, options: &WatchOptions) -> Result<()> {
    let root = catalog.root.as_path();
    let followed: Vec<String> = match &options.exercise {
        Some(id) => vec![id.clone()],
        None => catalog.exercises.iter().map(|e| e.id.clone()).collect(),
    };
    let (tx, rx) = mpsc::channel::<Wake>();
    let _watcher = if options.manual {
        read_lines(tx);
        None
    } else {
        Some(start_watcher(root, &options.source, &followed, tx)?)
    };

    let mut current = match &options.exercise {
        Some(id) => id.clone(),
        None => first_unfinished(catalog, options),
    };
    loop {
        // The content graded or seen of each followed file: a save during a grade re-grades only
        // if it changed something, and Enter (manual, no id) goes to the file that changed.
        let mut seen = hashes(root, &options.source, &followed);
        let graded = grade_and_show(catalog, options, &current);
        if let Some(sha) = graded {
            seen.insert(current.clone(), Some(sha));
        }

        let during: Vec<Wake> = rx.try_iter().collect();
        for wake in &during {
            match wake {
                Wake::Quit => return Ok(()),
                Wake::WatchFailed(why) => warn_watch_failed(why),
                Wake::Saved(_) | Wake::Enter => {}
            }
        }
        if !during.is_empty() {
            if let Some(id) = changed(root, &options.source, &followed, &seen).pop() {
                current = id;
                continue;
            }
        }
        loop {
            match rx.recv() {
                Err(_) | Ok(Wake::Quit) => return Ok(()),
                Ok(Wake::Enter) => {
                    if options.exercise.is_none() {
                        if let Some(id) = changed(root, &options.source, &followed, &seen).pop() {
                            current = id;
                        }
                    }
                    break;
                }
                Ok(Wake::Saved(ids)) => {
                    if let Some(id) = ids.last() {
                        current = id.clone();
                    }
                    break;
                }
                Ok(Wake::WatchFailed(why)) => warn_watch_failed(&why),
            }
        }
    }
}

fn warn_watch_failed(why: &str) {
    println!(
        "{} watching the files: {why} (`--manual` grades on Enter instead)",
        style("warning:").yellow()
    );
}

/// Manual mode: Enter re-grades, `q` quits, and so does the end of input.
fn read_lines(tx: mpsc::Sender<Wake>) {
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let quit = match line {
                Ok(line) => matches!(line.trim(), "q" | "Q" | "quit"),
                Err(_) => true,
            };
            let wake = if quit { Wake::Quit } else { Wake::Enter };
            if tx.send(wake).is_err() || quit {
                return;
            }
        }
        let _ = tx.send(Wake::Quit);
    });
}

/// Watches the folder of each followed exercise's file (each that exists).
fn start_watcher(
    root: &Path,
    source: &Source,
    followed: &[String],
    tx: mpsc::Sender<Wake>,
) -> Result<Debouncer<RecommendedWatcher, RecommendedCache>> {
    let folders: HashMap<PathBuf, String> = followed
        .iter()
        .filter_map(|id| Some((source.src_dir(root, id)?, id.clone())))
        .filter(|(dir, _)| dir.is_dir())
        .collect();
    if folders.is_empty() {
        anyhow::bail!(
            "nothing to watch: no {} exists",
            match followed {
                [id] => source.expected_path(id),
                _ => source.expected_path("NN_name"),
            }
        );
    }
    let by_folder = folders.clone();
    let mut debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
        let wake = match result {
            Ok(events) => {
                let written = events
                    .iter()
                    .filter(|e| writes(&e.kind))
                    .flat_map(|e| e.paths.iter().map(PathBuf::as_path));
                let saved = saved_exercises(written, &by_folder);
                if saved.is_empty() {
                    return;
                }
                Wake::Saved(saved)
            }
            Err(errors) => Wake::WatchFailed(
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        };
        let _ = tx.send(wake);
    })
    .context("starting the file watcher (try --manual)")?;
    for dir in folders.keys() {
        debouncer
            .watch(dir, RecursiveMode::NonRecursive)
            .with_context(|| format!("watching {} (try --manual)", dir.display()))?;
    }
    Ok(debouncer)
}

/// Whether an event of this kind can change what a file holds: a write, a rename onto it, its
/// creation. Opening, reading and closing it cannot.
fn writes(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_)
            | EventKind::Modify(_)
            | EventKind::Access(AccessKind::Close(AccessMode::Write))
            | EventKind::Any
    )
}

/// The exercises whose file the event paths name, each once, in order of last appearance.
/// Anything not named `lib.rs` in a watched folder is an editor's scratch file.
fn saved_exercises<'p>(
    paths: impl Iterator<Item = &'p Path>,
    folders: &HashMap<PathBuf, String>,
) -> Vec<String> {
    let mut saved: Vec<String> = Vec::new();
    for path in paths {
        if path.file_name().and_then(|n| n.to_str()) != Some("lib.rs") {
            continue;
        }
        let Some(id) = path.parent().and_then(|dir| folders.get(dir)) else {
            continue;
        };
        saved.retain(|s| s != id);
        saved.push(id.clone());
    }
    saved
}

/// With no id: the first exercise the scorecard does not show at full marks, else the first.
fn first_unfinished(catalog: &Catalog, options: &WatchOptions) -> String {
    let card = match Scorecard::load_readonly(&options.scorecard) {
        Previous::Card(card) if card.submission == options.source.label() => Some(card),
        _ => None,
    };
    let done = |id: &str| {
        card.as_ref().is_some_and(|c| {
            c.exercises
                .iter()
                .any(|e| e.id == id && e.score >= e.max_score)
        })
    };
    catalog
        .exercises
        .iter()
        .find(|e| !done(&e.id))
        .or(catalog.exercises.first())
        .map(|e| e.id.clone())
        .unwrap_or_default()
}

/// The SHA-256 of each followed file as it is now (`None`: missing or unreadable).
fn hashes(root: &Path, source: &Source, followed: &[String]) -> HashMap<String, Option<String>> {
    followed
        .iter()
        .map(|id| (id.clone(), read(root, source, id).map(|(sha, _)| sha)))
        .collect()
}

fn read(root: &Path, source: &Source, id: &str) -> Option<(String, SystemTime)> {
    match source.read(root, id) {
        Found::File { path, code } => {
            let modified = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            Some((crate::sha256_hex(code.as_bytes()), modified))
        }
        _ => None,
    }
}

/// The followed exercises whose file differs from `seen`, the most recently modified last.
fn changed(
    root: &Path,
    source: &Source,
    followed: &[String],
    seen: &HashMap<String, Option<String>>,
) -> Vec<String> {
    let mut changed: Vec<(SystemTime, String)> = followed
        .iter()
        .filter_map(|id| {
            let now = read(root, source, id);
            let before = seen.get(id).cloned().flatten();
            (now.as_ref().map(|(sha, _)| sha) != before.as_ref()).then(|| {
                let modified = now.map_or(SystemTime::UNIX_EPOCH, |(_, m)| m);
                (modified, id.clone())
            })
        })
        .collect();
    changed.sort();
    changed.into_iter().map(|(_, id)| id).collect()
}

/// Clears the screen (on a terminal: output piped to a file keeps every grade).
fn clear() {
    if console::Term::stdout().is_term() {
        print!("\x1b[H\x1b[2J\x1b[3J");
    }
}

/// Grades `id`, updates the scorecard and redraws the screen. Returns the graded file's
/// SHA-256 (none when the grade could not run).
fn grade_and_show(catalog: &Catalog, options: &WatchOptions, id: &str) -> Option<String> {
    clear();
    println!("{} {id}…", style("grading").bold());
    let _ = std::io::stdout().flush();
    let result = grade_once(catalog, options, id);
    clear();
    let graded = match result {
        Ok((run, warning)) => {
            print!(
                "{}",
                screen(catalog, &options.source, &run, options.exercise.is_none())
            );
            if let Some(warning) = warning {
                println!("{} {warning}", style("warning:").yellow());
            }
            println!(
                "{}",
                style(format!(
                    "seed {}; scorecard written to {}",
                    run.base_seed,
                    shown(&catalog.root, &options.scorecard)
                ))
                .dim()
            );
            run.exercises
                .iter()
                .find(|e| e.id == id)
                .map(|e| e.source_sha256.clone())
                .filter(|sha| !sha.is_empty())
        }
        Err(error) => {
            println!(
                "{} {error:#}\n(the grader could not run: not your code)\n",
                style("error:").red().bold()
            );
            None
        }
    };
    println!("{}", footer(catalog, options, id));
    let _ = std::io::stdout().flush();
    graded
}

/// `grade ID` without the exit: the same grading path and the same scorecard update.
fn grade_once(
    catalog: &Catalog,
    options: &WatchOptions,
    id: &str,
) -> Result<(GradeRun, Option<String>)> {
    // Read before any code under test runs, so nothing it does to the file can lose results.
    let (previous, warning) = match Scorecard::load(&options.scorecard, Format::Toml)? {
        Previous::Card(card) => (Some(card), None),
        Previous::None => (None, None),
        Previous::MovedAside(aside, why) => (
            None,
            Some(format!(
                "the old scorecard could not be read ({why}); it was kept as {}",
                shown(&catalog.root, &aside)
            )),
        ),
    };
    let grade_options = GradeOptions {
        source: options.source.clone(),
        exercises: vec![id.to_string()],
        checks: Vec::new(),
        seed: None,
        trials: options.trials,
        jobs: options.jobs,
        seeds_from_source: false,
        schedule: None,
    };
    let progress = crate::report::Progress::new();
    let run = crate::grade(catalog, &grade_options, &|event| progress.handle(event));
    progress.finish();
    let run = run?;
    Scorecard::update(previous, &run, catalog).write(&options.scorecard, Format::Toml)?;
    Ok((run, warning))
}

/// What the learner reads after a grade: the report of `grade`, then what to do next.
pub fn screen(catalog: &Catalog, source: &Source, run: &GradeRun, following: bool) -> String {
    let mut out = crate::report::render(run);
    for exercise in &run.exercises {
        out.push('\n');
        next_step(&mut out, catalog, source, exercise, following);
    }
    out.push('\n');
    out
}

fn next_step(
    out: &mut String,
    catalog: &Catalog,
    source: &Source,
    exercise: &ExerciseOutcome,
    following: bool,
) {
    if exercise.full_marks() {
        let _ = write!(
            out,
            "{} {} has full marks. ",
            style("✔").green().bold(),
            exercise.id
        );
        let position = catalog.exercises.iter().position(|e| e.id == exercise.id);
        match position.and_then(|p| catalog.exercises.get(p + 1)) {
            Some(next) => {
                let file = source
                    .src_dir(&catalog.root, &next.id)
                    .map(|dir| shown(&catalog.root, &dir.join("lib.rs")))
                    .unwrap_or_else(|| source.expected_path(&next.id));
                let _ = writeln!(
                    out,
                    "Next: {} ({})",
                    style(&next.id).cyan().bold(),
                    next.title
                );
                let how = if following {
                    "save it and this screen follows".to_string()
                } else {
                    format!("`cargo xtask watch {}`", next.id)
                };
                let _ = writeln!(out, "  open {file}: {how}");
            }
            None => {
                let _ = writeln!(
                    out,
                    "That was the last exercise. `cargo xtask list` shows them all."
                );
            }
        }
        return;
    }
    let problem = match exercise.status {
        ExerciseStatus::Graded => None,
        ExerciseStatus::CompileError => Some("it does not compile (the errors are above)"),
        ExerciseStatus::RulesViolation => {
            Some("it uses something the exercise does not allow (above)")
        }
        ExerciseStatus::NotFound => Some("the file is missing"),
        ExerciseStatus::InvalidSubmission => Some("the file cannot be read (above)"),
    };
    if let Some(problem) = problem {
        let _ = writeln!(out, "{} {problem}", style("First to fix:").bold());
        return;
    }
    let Some(check) = first_failed(exercise) else {
        return;
    };
    let _ = writeln!(
        out,
        "{} {} ({})",
        style("First to fix:").bold(),
        style(&check.name).red().bold(),
        check.status.as_str()
    );
    let pad = "  ";
    if !check.message.trim().is_empty() {
        let _ = writeln!(out, "{pad}{}", style("what happened:").dim());
        out.push_str(&indent(check.message.trim_end(), "    "));
    }
    if !check.hint.trim().is_empty() {
        let _ = writeln!(out, "{pad}{}", style("hint:").yellow());
        out.push_str(&indent(check.hint.trim(), "    "));
    }
    let _ = writeln!(
        out,
        "{pad}{} {}",
        style("replay:").dim(),
        crate::report::replay_command(source, &exercise.id, check)
    );
}

/// The first check in the table's order that did not pass.
fn first_failed(exercise: &ExerciseOutcome) -> Option<&CheckOutcome> {
    exercise
        .checks
        .iter()
        .find(|c| !matches!(c.status, CheckStatus::Pass | CheckStatus::Skipped))
}

fn indent(text: &str, by: &str) -> String {
    text.lines()
        .map(|l| format!("{by}{}\n", l.trim()))
        .collect()
}

fn footer(catalog: &Catalog, options: &WatchOptions, id: &str) -> String {
    let dir = options.source.src_dir(&catalog.root, id);
    let what = match (&options.exercise, dir) {
        (Some(_), Some(dir)) => shown(&catalog.root, &dir.join("lib.rs")),
        // exercises/*/src/lib.rs
        (None, Some(dir)) => match dir.parent().and_then(Path::parent) {
            Some(exercises) => shown(&catalog.root, &exercises.join("*/src/lib.rs")),
            None => "every exercise's src/lib.rs".to_string(),
        },
        (_, None) => options.source.expected_path(id),
    };
    let text = if options.manual {
        format!("{what}: press Enter to re-grade, q and Enter to quit")
    } else {
        format!("watching {what}: save to re-grade, Ctrl-C to quit")
    };
    style(text).cyan().to_string()
}

/// `path` relative to the workspace when inside it.
fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Category;

    fn folders() -> HashMap<PathBuf, String> {
        HashMap::from([
            (
                PathBuf::from("/w/exercises/01_threads/src"),
                "01_threads".into(),
            ),
            (PathBuf::from("/w/exercises/02_lock/src"), "02_lock".into()),
        ])
    }

    #[test]
    fn only_the_exercise_file_counts() {
        let events = [
            // vim's write test, swap files and backup, and an editor's temporary file.
            "/w/exercises/01_threads/src/4913",
            "/w/exercises/01_threads/src/.lib.rs.swp",
            "/w/exercises/01_threads/src/.lib.rs.swx",
            "/w/exercises/01_threads/src/lib.rs~",
            "/w/exercises/01_threads/src/.lib.rs.tmp.1234",
            // A file of that name elsewhere.
            "/w/exercises/01_threads/lib.rs",
            "/w/target/lib.rs",
        ];
        assert!(saved_exercises(events.iter().map(Path::new), &folders()).is_empty());
    }

    #[test]
    fn reading_the_file_is_not_a_save() {
        use notify_debouncer_full::notify::event::{
            CreateKind, DataChange, ModifyKind, RenameMode,
        };
        assert!(!writes(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!writes(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(writes(&EventKind::Modify(ModifyKind::Data(
            DataChange::Any
        ))));
        assert!(writes(&EventKind::Modify(ModifyKind::Name(RenameMode::To))));
        assert!(writes(&EventKind::Create(CreateKind::File)));
        assert!(writes(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
    }

    #[test]
    fn a_rename_over_save_is_one_save_of_its_exercise() {
        let events = [
            "/w/exercises/02_lock/src/.lib.rs.tmp",
            "/w/exercises/01_threads/src/lib.rs",
            "/w/exercises/02_lock/src/lib.rs",
            "/w/exercises/02_lock/src/lib.rs",
        ];
        assert_eq!(
            saved_exercises(events.iter().map(Path::new), &folders()),
            ["01_threads", "02_lock"]
        );
    }

    fn check(name: &str, status: CheckStatus, hint: &str) -> CheckOutcome {
        CheckOutcome {
            name: name.into(),
            category: Category::Functionality,
            status,
            score: if status == CheckStatus::Pass {
                50.0
            } else {
                0.0
            },
            max_score: 50.0,
            trials: 1,
            failed_trials: 0,
            seed: 7,
            schedule: None,
            duration: Duration::ZERO,
            message: format!("{name} said so\nsecond line"),
            hint: hint.into(),
            skipped: None,
        }
    }

    fn run(id: &str, checks: Vec<CheckOutcome>) -> GradeRun {
        GradeRun {
            source: Source::Exercises,
            exercises: vec![ExerciseOutcome {
                id: id.into(),
                title: "t".into(),
                status: ExerciseStatus::Graded,
                score: checks.iter().map(|c| c.score).sum(),
                max_score: 100.0,
                source_sha256: "abc".into(),
                build_seconds: 0.0,
                run_seconds: 0.0,
                message: String::new(),
                checks,
            }],
            base_seed: 1,
        }
    }

    fn catalog() -> Catalog {
        Catalog::load(&crate::workspace_root()).unwrap()
    }

    #[test]
    fn names_the_first_failed_check_with_its_hint() {
        let catalog = catalog();
        let run = run(
            "02_lock",
            vec![
                check("first", CheckStatus::Pass, ""),
                check("second", CheckStatus::Fail, "think twice\nthen again"),
                check("third", CheckStatus::Timeout, "not this one"),
            ],
        );
        let text = console::strip_ansi_codes(&screen(&catalog, &Source::Exercises, &run, true))
            .into_owned();
        let next = text.split("First to fix:").nth(1).expect(&text);
        assert!(next.starts_with(" second (fail)"), "{text}");
        assert!(
            next.contains("    second said so\n    second line\n"),
            "{text}"
        );
        assert!(next.contains("    think twice\n    then again\n"), "{text}");
        assert!(!next.contains("not this one"), "{text}");
        assert!(!text.contains("Next:"), "{text}");
    }

    #[test]
    fn at_full_marks_names_the_next_exercise_or_the_end() {
        let catalog = catalog();
        let ids: Vec<&str> = catalog.exercises.iter().map(|e| e.id.as_str()).collect();
        let full = |id: &str| {
            run(
                id,
                vec![
                    check("a", CheckStatus::Pass, ""),
                    check("b", CheckStatus::Pass, ""),
                ],
            )
        };
        let text =
            console::strip_ansi_codes(&screen(&catalog, &Source::Exercises, &full(ids[0]), false))
                .into_owned();
        assert!(text.contains(&format!("Next: {} (", ids[1])), "{text}");
        assert!(
            text.contains(&format!("`cargo xtask watch {}`", ids[1])),
            "{text}"
        );
        assert!(!text.contains("First to fix"), "{text}");
        let last = ids[ids.len() - 1];
        let text =
            console::strip_ansi_codes(&screen(&catalog, &Source::Exercises, &full(last), true))
                .into_owned();
        assert!(text.contains("That was the last exercise"), "{text}");
    }
}
