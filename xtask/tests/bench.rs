//! `cargo xtask bench ID`: the table's shape for the reference solutions (never its numbers:
//! machines are shared and noisy), and code under test that cannot be timed reported as such.

mod common;

use common::*;
use predicates::prelude::*;

/// One bench at a time: they share two cores.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn bench(args: &[&str]) -> (i32, String, String) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let output = xtask()
        .arg("bench")
        .args(args)
        .output()
        .expect("cargo xtask bench");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `12.3 [11.9, 12.8]` followed by `suffix`: a number and its interval, in order.
fn interval(cell: &str, suffix: &str) -> bool {
    let Some(numbers) = cell.strip_suffix(suffix) else {
        return false;
    };
    let parsed: Vec<f64> = numbers
        .split(|c: char| "[], ".contains(c))
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap_or(f64::NAN))
        .collect();
    matches!(parsed[..], [point, low, high] if low <= point && point <= high && low > 0.0)
}

/// The table's rows, (what, threads), each checked: three times with their intervals and two
/// ratios, or "n/a" for parking_lot's time and ratio where `parking_lot` has no baseline.
fn rows(stdout: &str, parking_lot: bool) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    for line in stdout
        .lines()
        .filter(|l| l.starts_with("  ") && !l.contains("threads"))
    {
        let cells: Vec<&str> = line
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(cells.len(), 7, "{line}");
        let (times, ratios) = if parking_lot {
            (&cells[2..5], &cells[5..7])
        } else {
            assert_eq!([cells[4], cells[6]], ["n/a", "n/a"], "{line}");
            (&cells[2..4], &cells[5..6])
        };
        for time in times {
            assert!(
                interval(time, " ns") || interval(time, " µs"),
                "a time with its interval: {time:?} in {line}"
            );
        }
        for ratio in ratios {
            assert!(
                interval(ratio, "×"),
                "a ratio with its interval: {ratio:?} in {line}"
            );
        }
        rows.push((cells[0].to_string(), cells[1].to_string()));
    }
    rows
}

#[test]
fn the_solutions_bench_prints_every_row_with_its_ratios() {
    let (code, stdout, stderr) = bench(&["02_lock", "--solutions", "--time", "2"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("lock, add 1, unlock (std: Mutex; parking_lot: Mutex)"),
        "{stdout}"
    );
    let header = stdout
        .lines()
        .find(|l| l.contains("threads"))
        .expect("a header");
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        [
            "threads",
            "ours",
            "std",
            "parking_lot",
            "ours/std",
            "ours/parking_lot"
        ]
    );
    // Rows: Lock and Mutex, each by 1, 2 and 8 threads; three times with their intervals (ns
    // a lock at this size) and two ratios.
    let rows = rows(&stdout, true);
    let expected: Vec<(String, String)> = ["1", "2", "8"]
        .iter()
        .flat_map(|t| {
            [
                ("Lock".to_string(), t.to_string()),
                ("Mutex".into(), t.to_string()),
            ]
        })
        .collect();
    assert_eq!(rows, expected, "{stdout}");
    assert!(!stdout.contains("not timed"), "{stdout}");
}

#[test]
fn a_stub_and_hostile_code_are_reported_not_timed() {
    let dir = scratch();
    let stub = dir.path().join("stub");
    std::fs::create_dir_all(stub.join("02_lock/src")).unwrap();
    std::fs::copy(
        root().join("exercises/02_lock/src/lib.rs"),
        stub.join("02_lock/src/lib.rs"),
    )
    .unwrap();
    let (code, stdout, stderr) =
        bench(&["02", "--submission", stub.to_str().unwrap(), "--time", "1"]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("not timed: Lock by 1, 2, 8 thread(s): not implemented yet")
            && stdout.contains("not timed: Mutex by 1, 2, 8 thread(s): not implemented yet"),
        "{stdout}"
    );

    let hostile = fixtures("hostile");
    let find = |name: &str| {
        hostile
            .iter()
            .find(|f| f.exercise == "02_lock" && f.name == name)
            .unwrap_or_else(|| panic!("the hostile fixture 02_lock/{name}"))
    };
    // Blocks forever: each subject's sample is given up, the baselines are still timed.
    let hangs = dir.path().join("hangs");
    submission(&[find("deadlock")], &hangs);
    let (code, stdout, stderr) = bench(&[
        "lock",
        "--submission",
        hangs.to_str().unwrap(),
        "--time",
        "1",
    ]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("not timed: Lock by 1, 2, 8 thread(s): a sample")
            && stdout.contains("did not finish"),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.trim_start().starts_with("Lock")
            && l.contains("not timed")
            && l.contains("] ns")),
        "{stdout}"
    );

    // Crashes: the case it crashed in says how, and the bench says where it stopped.
    let crashes = dir.path().join("crashes");
    std::fs::create_dir_all(crashes.join("02_lock/src")).unwrap();
    let solution = std::fs::read_to_string(root().join("solutions/02_lock/src/lib.rs")).unwrap();
    let crashing = solution.replacen(
        "    pub fn acquire(&self) {\n",
        "    pub fn acquire(&self) {\n        // SAFETY: none: it crashes.\n        \
         unsafe { std::ptr::null::<u8>().read_volatile() };\n",
        1,
    );
    assert_ne!(crashing, solution, "the crash is in");
    std::fs::write(crashes.join("02_lock/src/lib.rs"), crashing).unwrap();
    let (code, stdout, stderr) = bench(&[
        "02_lock",
        "--submission",
        crashes.to_str().unwrap(),
        "--time",
        "1",
    ]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("not timed: Lock by 1 thread(s): the bench process was killed by SIGSEGV")
            && stdout.contains("the cases after it were not run"),
        "{stdout}"
    );

    // Forbidden code is refused by the rules before anything is built or run.
    let aborts = dir.path().join("aborts");
    submission(&[find("abort")], &aborts);
    let (code, stdout, _) = bench(&["02_lock", "--submission", aborts.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("not benchmarked") && stdout.contains("std::process"),
        "{stdout}"
    );
}

/// Every exercise has a bench: 01's threads against std's alone (parking_lot has no threads),
/// 07's bank and `lock_all` against std's and parking_lot's `Mutex`es in one lock order.
#[test]
fn threads_and_deadlock_print_their_rows_too() {
    let by_threads = |what: &[&str]| -> Vec<(String, String)> {
        what.iter()
            .flat_map(|w| ["1", "2", "8"].map(|t| (w.to_string(), t.to_string())))
            .collect()
    };

    let (code, stdout, stderr) = bench(&["01_threads", "--solutions", "--time", "2"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("start + join a thread running nothing (std: thread::spawn + join)"),
        "{stdout}"
    );
    assert_eq!(rows(&stdout, false), by_threads(&["Thread"]), "{stdout}");
    assert!(!stdout.contains("not timed"), "{stdout}");

    let (code, stdout, stderr) = bench(&["07", "--solutions", "--time", "2"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for group in [
        "transfer 1 between two random accounts of 16 (std: Mutex per account, index order; \
         parking_lot: Mutex per account, index order)",
        "take two locks (half the threads in the other order), release both (std: two Mutexes, \
         one order; parking_lot: two Mutexes, one order)",
    ] {
        assert!(stdout.contains(group), "{group} in {stdout}");
    }
    assert_eq!(
        rows(&stdout, true),
        by_threads(&["Bank", "lock_all"]),
        "{stdout}"
    );
    assert!(!stdout.contains("not timed"), "{stdout}");
}

#[test]
fn unknown_names_are_errors() {
    xtask().args(["bench", "42_nope"]).assert().code(2).stderr(
        predicate::str::contains("no benchmark named `42_nope`")
            .and(predicate::str::contains("batch")),
    );
}
