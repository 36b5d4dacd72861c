//! `cargo xtask watch` in a real terminal: tmux runs it on a copy of the learner's files, the
//! test saves a file the way editors do (a new file renamed over the old one) or presses Enter,
//! and reads the screen back.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{root, scratch};
use grader::scorecard::Scorecard;

/// One watch at a time: they grade, and share two cores with everything else.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A hang guard, not a timing assertion: the first screen waits for the grader's build.
const DEADLINE: Duration = Duration::from_secs(900);

/// tmux, which `.ci/run` installs; without it, and outside CI, these tests say they were skipped.
fn tmux() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("tmux"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var_os("LOCKSMITH_REQUIRE_TMUX").is_some() {
            panic!("tmux is not installed: `apt-get install tmux`");
        }
        eprintln!("skipped: tmux is not installed (`apt-get install tmux`)");
    }
    found
}

/// A copy of the learner's files: every exercise's `src/lib.rs`, as a fresh clone has them.
fn course() -> tempfile::TempDir {
    let dir = scratch();
    let exercises = root().join("exercises");
    for entry in std::fs::read_dir(&exercises).unwrap().flatten() {
        let lib = entry.path().join("src/lib.rs");
        if lib.is_file() {
            let src = dir
                .path()
                .join("exercises")
                .join(entry.file_name())
                .join("src");
            std::fs::create_dir_all(&src).unwrap();
            std::fs::copy(&lib, src.join("lib.rs")).unwrap();
        }
    }
    dir
}

/// Saves `text` as an editor does: write a new file beside it, then rename it over the file
/// (after vim's swap file and write test, which must not count as saves).
fn save(file: &Path, text: &str) {
    let dir = file.parent().unwrap();
    std::fs::write(dir.join(".lib.rs.swp"), "vim's swap file").unwrap();
    std::fs::write(dir.join("4913"), "").unwrap();
    std::fs::remove_file(dir.join("4913")).unwrap();
    let new = dir.join(".lib.rs.new");
    std::fs::write(&new, text).unwrap();
    std::fs::rename(&new, file).unwrap();
    std::fs::remove_file(dir.join(".lib.rs.swp")).unwrap();
}

fn solution(id: &str) -> String {
    std::fs::read_to_string(root().join("solutions").join(id).join("src/lib.rs")).unwrap()
}

/// A tmux server of our own (its own socket) running `xtask watch ARGS` in one window.
struct Terminal {
    tmux: PathBuf,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Terminal {
    fn start(tmux: &Path, args: &[&str]) -> Terminal {
        let dir = scratch();
        let socket = dir.path().join("tmux.sock");
        // The window stays after `watch` ends, so its last screen and exit status can be read.
        let config = dir.path().join("tmux.conf");
        std::fs::write(&config, "set -g remain-on-exit on\n").unwrap();
        let terminal = Terminal {
            tmux: tmux.to_path_buf(),
            socket,
            _dir: dir,
        };
        let status = Command::new(tmux)
            .arg("-S")
            .arg(&terminal.socket)
            .arg("-f")
            .arg(&config)
            .args(["new-session", "-d", "-s", "watch", "-x", "160", "-y", "70"])
            .arg("-c")
            .arg(root())
            .args(["-e", "NO_COLOR=1"])
            // A shell prints how `watch` ended: tmux 3.3 keeps no status for a signal's death.
            .args(["sh", "-c", "\"$@\"; echo \"[watch exited: $?]\"", "sh"])
            .arg(env!("CARGO_BIN_EXE_xtask"))
            .arg("watch")
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "tmux new-session: {status}");
        terminal
    }

    fn tmux(&self, args: &[&str]) -> String {
        let output = Command::new(&self.tmux)
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "watch"])
    }

    /// Polls the screen until `done` holds, at most `DEADLINE`.
    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            if let Some(status) = self.ended() {
                panic!("watch ended ({status:?}) before {what}:\n{screen}");
            }
            assert!(
                start.elapsed() < DEADLINE,
                "no {what} after {DEADLINE:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "watch"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Waits for `watch` to end after `what`: `Some` of its exit status as the shell around it
    /// printed it (128 + N for signal N), `None` when the signal also ended the shell (Ctrl-C).
    fn wait_until_it_ends(&self, what: &str) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(ended) = self.ended() {
                return ended;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{what} did not end watch:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Once the pane is dead, `Some` of `watch`'s exit status if the shell printed it.
    fn ended(&self) -> Option<Option<i32>> {
        let dead = self.tmux(&["display-message", "-p", "-t", "watch", "#{pane_dead}"]);
        if dead.trim() != "1" {
            return None;
        }
        let screen = self.screen();
        let status = screen
            .lines()
            .find_map(|line| line.trim().strip_prefix("[watch exited: "))
            .and_then(|rest| rest.strip_suffix(']'))
            .and_then(|code| code.parse().ok());
        Some(status)
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        // Ends `watch` too (SIGHUP); its check processes die with it.
        let _ = Command::new(&self.tmux)
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .status();
    }
}

/// A grade's screen is whole once the footer, its last line, is drawn.
fn whole(screen: &str, footer: &str) -> bool {
    screen.contains(footer) && !screen.contains("grading ")
}

fn scorecard(course: &Path) -> Scorecard {
    let text = std::fs::read_to_string(course.join("scorecard.toml")).unwrap();
    toml::from_str(&text).unwrap()
}

fn score(card: &Scorecard, id: &str) -> Option<f64> {
    card.exercises.iter().find(|e| e.id == id).map(|e| e.score)
}

#[test]
fn follows_each_saved_exercise_file() {
    let Some(tmux) = tmux() else { return };
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let course = course();
    let dir = course.path().to_str().unwrap();
    let scorecard_path = format!("{dir}/scorecard.toml");
    let terminal = Terminal::start(
        &tmux,
        &[
            "--submission",
            dir,
            "--scorecard",
            &scorecard_path,
            "--trials",
            "1",
        ],
    );
    let footer = "save to re-grade";

    // No scorecard yet: it starts with the first exercise, a stub.
    let screen = terminal.wait_for("first grade", |s| whole(s, footer));
    assert!(screen.contains("01_threads"), "{screen}");
    assert!(screen.contains("Total 0 / 100"), "{screen}");
    assert!(screen.contains("First to fix:"), "{screen}");
    assert!(screen.contains("hint:"), "{screen}");
    assert_eq!(score(&scorecard(course.path()), "01_threads"), Some(0.0));

    // The solution saved over the stub: full marks, and the next exercise named.
    let threads = course.path().join("exercises/01_threads/src/lib.rs");
    save(&threads, &solution("01_threads"));
    let screen = terminal.wait_for("full marks", |s| {
        whole(s, footer) && s.contains("Next: 02_lock")
    });
    assert!(screen.contains("Total 100 / 100"), "{screen}");
    assert!(screen.contains("01_threads has full marks"), "{screen}");
    assert!(!screen.contains("First to fix:"), "{screen}");
    assert_eq!(score(&scorecard(course.path()), "01_threads"), Some(100.0));

    // Another exercise's file saved: the screen follows it, and the scorecard keeps both.
    let lock = course.path().join("exercises/02_lock/src/lib.rs");
    let stub = std::fs::read_to_string(&lock).unwrap();
    save(&lock, &stub);
    let screen = terminal.wait_for("the saved exercise's grade", |s| {
        whole(s, footer) && s.contains("02_lock Lock")
    });
    assert!(!screen.contains("01_threads"), "{screen}");
    assert!(screen.contains("First to fix:"), "{screen}");
    let card = scorecard(course.path());
    assert_eq!(score(&card, "01_threads"), Some(100.0));
    assert_eq!(score(&card, "02_lock"), Some(0.0));

    // Ctrl-C quits.
    terminal.keys(&["C-c"]);
    terminal.wait_until_it_ends("Ctrl-C");
}

#[test]
fn manual_mode_grades_on_enter_and_quits_on_q() {
    let Some(tmux) = tmux() else { return };
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let course = course();
    let dir = course.path().to_str().unwrap();
    let scorecard_path = format!("{dir}/scorecard.toml");
    let terminal = Terminal::start(
        &tmux,
        &[
            "01_threads",
            "--manual",
            "--submission",
            dir,
            "--scorecard",
            &scorecard_path,
            "--trials",
            "1",
        ],
    );
    let footer = "press Enter to re-grade";
    let screen = terminal.wait_for("first grade", |s| whole(s, footer));
    assert!(screen.contains("Total 0 / 100"), "{screen}");

    // Written in place, as on a file system that reports nothing: Enter grades it.
    let threads = course.path().join("exercises/01_threads/src/lib.rs");
    std::fs::write(&threads, solution("01_threads")).unwrap();
    terminal.keys(&["Enter"]);
    let screen = terminal.wait_for("full marks", |s| {
        whole(s, footer) && s.contains("Total 100 / 100")
    });
    assert!(screen.contains("Next: 02_lock"), "{screen}");
    assert!(screen.contains("`cargo xtask watch 02_lock`"), "{screen}");
    assert_eq!(score(&scorecard(course.path()), "01_threads"), Some(100.0));

    terminal.keys(&["q", "Enter"]);
    let status = terminal.wait_until_it_ends("q");
    assert_eq!(status, Some(0), "{}", terminal.screen());
}
