//! A batch's progress: a bar of submissions done, running and failed, with the time left, on
//! a terminal; a plain line per submission otherwise (CI logs, files).

use std::collections::HashSet;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::BatchEvent;
use crate::events::Event;
use crate::outcome::{CheckStatus, ExerciseStatus};
use crate::scorecard::Scorecard;

pub struct Progress {
    bar: Option<ProgressBar>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    total: usize,
    done: usize,
    /// Graded in this run (not resumed), and since when: the rate behind the time left.
    graded: usize,
    since: Option<Instant>,
    running: HashSet<String>,
    failed: usize,
}

/// Could not be graded as a whole: unreadable, or the grader failed on some check.
pub fn failed(card: &Scorecard) -> bool {
    card.exercises.iter().any(|e| {
        e.status == ExerciseStatus::InvalidSubmission
            || e.checks.iter().any(|c| c.status == CheckStatus::Error)
    })
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

impl Progress {
    pub fn new() -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0).with_style(
                ProgressStyle::with_template(
                    "{spinner} [{bar:30}] {pos}/{len} submissions · {msg} · {eta} left",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress {
            bar,
            state: Mutex::new(State::default()),
        }
    }

    pub fn handle(&self, event: BatchEvent) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            BatchEvent::Found {
                submissions,
                resumed,
            } => {
                state.total = submissions;
                state.done = resumed;
                let line = if resumed > 0 {
                    format!("{submissions} submissions, {resumed} already graded")
                } else {
                    format!("{submissions} submissions")
                };
                self.say(&line);
                if let Some(bar) = &self.bar {
                    bar.set_length(submissions as u64);
                    bar.set_position(resumed as u64);
                    bar.set_message(counts(&state));
                    bar.reset_eta();
                }
            }
            BatchEvent::Grading(Event::Building { exercises }) => {
                self.say(&format!(
                    "building {exercises} exercise crates in one cargo run"
                ));
            }
            BatchEvent::Grading(Event::Built { elapsed }) => {
                self.say(&format!("built in {:.1}s", elapsed.as_secs_f64()));
                state.since = Some(Instant::now());
                if let Some(bar) = &self.bar {
                    bar.reset_eta();
                }
            }
            BatchEvent::Grading(Event::CheckStarted { submission, .. }) => {
                if state.running.insert(submission.to_string()) {
                    if let Some(bar) = &self.bar {
                        bar.set_message(counts(&state));
                    }
                }
            }
            BatchEvent::Grading(_) => {}
            BatchEvent::Saved { name, label, card } => {
                state.running.remove(label);
                state.done += 1;
                state.graded += 1;
                if failed(card) {
                    state.failed += 1;
                }
                let counts = format!("running {} · failed {}", state.running.len(), state.failed);
                match &self.bar {
                    Some(bar) => {
                        bar.set_message(counts);
                        bar.set_position(state.done as u64);
                    }
                    None => {
                        let left = state.since.map(|since| {
                            let each = since.elapsed() / state.graded.max(1) as u32;
                            each * (state.total - state.done) as u32
                        });
                        let left = left.map_or(String::new(), |left| {
                            format!(" · about {} left", humantime::format_duration(round(left)))
                        });
                        let width = state.total.to_string().len();
                        println!(
                            "[{:>width$}/{}] {name}: {}/{} · {counts}{left}",
                            state.done, state.total, card.score, card.max_score
                        );
                    }
                }
            }
        }
    }

    fn say(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => println!("{line}"),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn counts(state: &State) -> String {
    format!("running {} · failed {}", state.running.len(), state.failed)
}

fn round(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}
