//! The terminal: a progress display while grading, then a table per exercise with each check's
//! status, points and one-line reason, and for a failed check its hint and the command that
//! replays it. Colour only on a terminal (and never with NO_COLOR).

use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use console::{style, Style};
use indicatif::{ProgressBar, ProgressStyle};

use crate::events::Event;
use crate::grade::GradeRun;
use crate::outcome::{CheckOutcome, CheckStatus, ExerciseOutcome, ExerciseStatus};
use crate::source::Source;

/// Shows progress on standard error while the runner works (hidden when not a terminal).
pub struct Progress {
    bar: Mutex<Option<ProgressBar>>,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            bar: Mutex::new(None),
        }
    }

    pub fn handle(&self, event: Event) {
        let mut bar = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Building { exercises } => {
                let spinner = ProgressBar::new_spinner().with_message(format!(
                    "building {exercises} exercise{} against the hidden checks",
                    if exercises == 1 { "" } else { "s" }
                ));
                spinner.enable_steady_tick(Duration::from_millis(100));
                *bar = Some(spinner);
            }
            Event::Compiled { target } => {
                if let Some(bar) = bar.as_ref() {
                    bar.set_message(format!("building: compiled {target}"));
                }
            }
            Event::Built { elapsed } => {
                if let Some(bar) = bar.take() {
                    bar.finish_and_clear();
                }
                eprintln!("{} in {:.1}s", style("built").dim(), elapsed.as_secs_f64());
            }
            Event::Running { checks } => {
                let running = ProgressBar::new(checks as u64).with_style(
                    ProgressStyle::with_template(
                        "{spinner} running checks [{bar:30}] {pos}/{len} {elapsed} {wide_msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                running.enable_steady_tick(Duration::from_millis(100));
                *bar = Some(running);
            }
            Event::CheckStarted {
                exercise, check, ..
            } => {
                if let Some(bar) = bar.as_ref() {
                    bar.set_message(format!("{exercise}::{check}"));
                }
            }
            Event::CheckFinished { .. } => {
                if let Some(bar) = bar.as_ref() {
                    bar.inc(1);
                }
            }
            Event::Graded { .. } => {}
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
}

/// Colour, mark and a short word for the terminal (the scorecard keeps the full names).
fn status_style(status: CheckStatus) -> (Style, &'static str, &'static str) {
    match status {
        CheckStatus::Pass => (Style::new().green(), "✔", "pass"),
        CheckStatus::Skipped => (Style::new().dim(), "·", "skipped"),
        CheckStatus::NotImplemented => (Style::new().yellow(), "…", "todo"),
        CheckStatus::Timeout => (Style::new().magenta(), "⧗", "timeout"),
        CheckStatus::Fail => (Style::new().red(), "✘", "fail"),
        CheckStatus::Panic => (Style::new().red(), "✘", "panic"),
        CheckStatus::Crash => (Style::new().red(), "✘", "crash"),
        CheckStatus::Error => (Style::new().magenta().bold(), "!", "error"),
    }
}

/// The command that re-runs one check with one seed.
pub fn replay_command(source: &Source, exercise: &str, check: &CheckOutcome) -> String {
    let seed = check.category.is_runtime().then_some(check.seed);
    let mut command = replay(exercise, &check.name, seed, check.schedule.as_deref());
    match source {
        Source::Exercises | Source::Refused(_) => {}
        Source::Solutions => command.push_str(" --solutions"),
        Source::Submission(dir) => {
            let _ = write!(command, " --submission {}", dir.display());
        }
    }
    command
}

/// The command that re-runs one check of the learner's own `exercises/` (with the seed of a
/// runtime check, or the schedule under which its explored scenario failed, which replays it
/// exactly): what a report read elsewhere (Gradescope) can offer.
pub fn replay(exercise: &str, check: &str, seed: Option<u64>, schedule: Option<&str>) -> String {
    let mut command = format!("cargo xtask grade {exercise} --check {check}");
    if let Some(schedule) = schedule {
        let _ = write!(command, " --schedule {schedule}");
    } else if let Some(seed) = seed {
        let _ = write!(command, " --seed {seed}");
    }
    command
}

fn indent(text: &str, by: &str) -> String {
    text.lines().map(|l| format!("{by}{l}\n")).collect()
}

/// The terminal's width for wrapped text: its columns, or 100 off a terminal, kept readable.
pub fn text_width() -> usize {
    console::Term::stdout()
        .size_checked()
        .map_or(100, |(_, columns)| usize::from(columns))
        .clamp(40, 120)
}

/// `label` then `text`, wrapped to `width` with every continuation line under the text's first
/// column, so a long hint reads as a block instead of running back to column 0. Paragraphs are
/// separated by blank lines; the line breaks inside one are reflowed.
pub fn wrap_labelled(label: &str, text: &str, width: usize) -> String {
    let column = console::measure_text_width(label);
    let rest = " ".repeat(column);
    let mut out = String::new();
    for (i, paragraph) in text.trim().split("\n\n").enumerate() {
        let first = if i == 0 { label } else { rest.as_str() };
        let options = textwrap::Options::new(width.max(column + 20))
            .initial_indent(first)
            .subsequent_indent(&rest);
        let words: Vec<&str> = paragraph.split_whitespace().collect();
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&textwrap::fill(&words.join(" "), options));
        out.push('\n');
    }
    out
}

/// Renders the whole report of a grade.
pub fn render(run: &GradeRun) -> String {
    let mut out = String::new();
    for exercise in &run.exercises {
        render_exercise(&mut out, run, exercise);
    }
    let score: f64 = run.exercises.iter().map(|e| e.score).sum();
    let max: f64 = run.exercises.iter().map(|e| e.max_score).sum();
    let total = format!("Total {score} / {max}");
    let _ = writeln!(
        out,
        "{}",
        if score >= max {
            style(total).green().bold()
        } else {
            style(total).bold()
        }
    );
    out
}

fn render_exercise(out: &mut String, run: &GradeRun, exercise: &ExerciseOutcome) {
    let score = format!("{} / {}", exercise.score, exercise.max_score);
    let score = if exercise.full_marks() {
        style(score).green().bold()
    } else {
        style(score).bold()
    };
    let _ = writeln!(
        out,
        "{} {}  {}",
        style(&exercise.id).bold().cyan(),
        style(&exercise.title).dim(),
        score
    );
    // Not found and unreadable: nothing ran, the reason is the whole story.
    let (label, nothing_ran) = match exercise.status {
        ExerciseStatus::Graded => ("", false),
        ExerciseStatus::NotFound => ("not found:", true),
        ExerciseStatus::InvalidSubmission => ("invalid submission:", true),
        ExerciseStatus::CompileError => ("does not compile:", false),
        ExerciseStatus::RulesViolation => ("rules violation:", false),
    };
    if nothing_ran {
        let _ = writeln!(
            out,
            "  {} {}\n",
            style(label).red().bold(),
            exercise.message
        );
        return;
    }
    if !label.is_empty() {
        let _ = writeln!(out, "  {}", style(label).red().bold());
        out.push_str(&indent(exercise.message.trim_end(), "    "));
    }

    let width = exercise
        .checks
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(0);
    let all_todo = exercise
        .checks
        .iter()
        .filter(|c| c.category.is_runtime())
        .all(|c| c.status == CheckStatus::NotImplemented);
    for check in &exercise.checks {
        let (colour, mark, word) = status_style(check.status);
        let trials = if check.trials > 1 {
            format!(" ({} trials)", check.trials)
        } else {
            String::new()
        };
        let reason = if check.status == CheckStatus::Pass {
            format!("{}{trials}", check.message)
        } else {
            check.message.lines().next().unwrap_or("").to_string()
        };
        let _ = writeln!(
            out,
            "  {} {:<7} {:<width$}  {:<13} {:>5}  {}",
            colour.apply_to(mark),
            colour.apply_to(word),
            check.name,
            style(check.category.as_str()).dim(),
            format!("{}/{}", check.score, check.max_score),
            reason,
        );
        let failed = !matches!(
            check.status,
            CheckStatus::Pass
                | CheckStatus::Skipped
                | CheckStatus::NotImplemented
                | CheckStatus::Error
        );
        if failed && !all_todo {
            let pad = " ".repeat(12);
            if !check.hint.is_empty() {
                let label = format!("{pad}{} ", style("hint:").yellow());
                out.push_str(&wrap_labelled(&label, &check.hint, text_width()));
            }
            let _ = writeln!(
                out,
                "{pad}{} {}",
                style("replay:").dim(),
                replay_command(&run.source, &exercise.id, check)
            );
        }
    }
    if all_todo && exercise.status == ExerciseStatus::Graded {
        let _ = writeln!(
            out,
            "  {} every check reached a todo!(): start with the TODOs in the exercise file, \
             `cargo test -p <crate>` runs its visible tests, and `cargo xtask hint {}` helps.",
            style("note:").yellow(),
            exercise.id
        );
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::wrap_labelled;

    #[test]
    fn a_wrapped_hint_continues_under_its_first_word() {
        let hint = "Take the lock in one atomic step,\nnever a load followed by a store, \
                    and re-check after every wake-up.\n\nA second paragraph.";
        let text = wrap_labelled("    hint: ", hint, 40);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "    hint: Take the lock in one atomic");
        assert!(lines.len() > 3, "{text}");
        for line in &lines[1..] {
            assert!(
                line.is_empty() || line.starts_with("          "),
                "{line:?}"
            );
            assert!(line.len() <= 40, "{line:?}");
        }
        assert_eq!(lines[lines.len() - 2], "");
        assert_eq!(lines[lines.len() - 1].trim(), "A second paragraph.");
        let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(words(&text)[1..], words(hint)[..]);
    }

    #[test]
    fn colour_codes_in_the_label_do_not_count_as_columns() {
        let label = format!("{} ", console::style("hint:").yellow().force_styling(true));
        let text = wrap_labelled(&label, "one two three four five six seven", 30);
        let second = text.lines().nth(1).unwrap();
        assert!(second.starts_with("      ") && !second.starts_with("       "));
    }
}
