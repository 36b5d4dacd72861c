//! The instructor's page, end to end: part of the demo class (`docs/demo-class`) graded with
//! `batch`, the page written again by `cargo xtask report` to the same bytes, and opened in a
//! real browser (headless Chromium): it renders without a console error, its marks are those of
//! `summary.csv`, what a student wrote stays text, and a screenshot is taken.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;

/// Enough of the demo class to show everything, graded on one exercise to keep the test fast:
/// ada's own answer, dan's byte-identical copy of it, eve's renamed near-copy, ben's racy
/// release, gus's panic message full of markup, and fay's nothing.
const STUDENTS: &[&str] = &["ada", "ben", "dan", "eve", "fay", "gus"];

struct Graded {
    _dir: tempfile::TempDir,
    out: PathBuf,
    page: String,
}

fn graded() -> &'static Graded {
    static GRADED: OnceLock<Graded> = OnceLock::new();
    GRADED.get_or_init(|| {
        let dir = scratch();
        let class = dir.path().join("class");
        for name in STUDENTS {
            copy(
                &root().join("docs/demo-class").join(name),
                &class.join(name),
            );
        }
        let out = dir.path().join("out");
        let output = Process::new(env!("CARGO_BIN_EXE_xtask"))
            .arg("batch")
            .arg(&class)
            .arg("--out")
            .arg(&out)
            .args(["--exercises", "02_lock", "--jobs", "2"])
            .current_dir(root())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "points were lost: {log}");
        assert!(log.contains("report in"), "{log}");
        let page = read(&out.join("report.html"));
        Graded {
            _dir: dir,
            out,
            page,
        }
    })
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `summary.csv`'s rows: name, then the total and each exercise's score as written.
fn summary_rows(out: &Path) -> Vec<Vec<String>> {
    read(&out.join("summary.csv"))
        .lines()
        .skip(1)
        .map(|line| line.split(',').map(str::to_string).collect())
        .collect()
}

#[test]
fn batch_writes_the_report_and_report_rebuilds_it_alike() {
    use std::os::unix::fs::MetadataExt;
    let graded = graded();
    let path = graded.out.join("report.html");
    // Replaced atomically (a new file), so the browser tests never read half a page.
    let before = std::fs::metadata(&path).unwrap().ino();
    xtask()
        .arg("report")
        .arg(&graded.out)
        .assert()
        .success()
        .stdout(predicates::str::contains("report.html"));
    assert_ne!(
        std::fs::metadata(&path).unwrap().ino(),
        before,
        "written again"
    );
    let again = read(&path);
    assert!(
        again == graded.page,
        "made from the same outputs, the same page"
    );

    // Not a batch's output: said, and exit 2.
    let empty = scratch();
    xtask()
        .arg("report")
        .arg(empty.path())
        .assert()
        .code(2)
        .stderr(predicates::str::contains("summary.toml"));
}

#[test]
fn the_report_flags_copies_and_keeps_student_text_as_text() {
    let page = &graded().page;
    let section = |id: &str| {
        let start = page.find(&format!("id=\"{id}\"")).unwrap();
        let end = page[start..]
            .find("</table>")
            .map_or(page.len(), |e| start + e);
        &page[start..end]
    };
    // ada and dan handed in the same bytes; eve renamed ada's and added a method.
    let identical = section("identical");
    assert!(
        identical.contains(">ada</a>, <a href=\"#s2\">dan</a>"),
        "{identical}"
    );
    assert!(
        !identical.contains("fay") && !identical.contains("eve"),
        "{identical}"
    );
    let near = section("near");
    assert!(near.contains("Near-identical (1)"), "{near}");
    assert!(
        near.contains(">dan</a></td><td><a href=\"#s3\">eve</a>"),
        "{near}"
    );
    assert!(
        near.contains("at least <b>90 %</b>"),
        "the threshold is stated: {near}"
    );
    // gus's panic message is on the page, as text.
    assert!(page.contains("&lt;script&gt;alert(&#39;gus was here&#39;)&lt;/script&gt;"));
    assert!(!page.contains("<script") && !page.contains("<img"));
    // A replay command per failed check, with the seed and the submission.
    let ben = card_seed(&graded().out, "ben", "release_unlocked_is_an_error");
    assert!(
        page.contains(&format!(
            "cargo xtask grade 02_lock --check release_unlocked_is_an_error --seed {ben} \
             --submission CLASS/ben"
        )),
        "ben's replay"
    );
}

fn card_seed(out: &Path, name: &str, check: &str) -> u64 {
    let card: grader::scorecard::Scorecard =
        toml::from_str(&read(&out.join(format!("{name}.toml")))).unwrap();
    card.exercises[0]
        .checks
        .iter()
        .find(|c| c.name == check)
        .unwrap()
        .seed
}

/// Chromium (Debian's `chromium`), which `.ci/run` installs; without it, and outside CI, the
/// browser tests say they were skipped.
fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .flat_map(|p| ["chromium", "chromium-browser"].map(|name| p.join(name)))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var_os("LOCKSMITH_REQUIRE_CHROMIUM").is_some() {
            panic!("Chromium is not installed: `apt-get install chromium`");
        }
        eprintln!("skipped: Chromium is not installed (`apt-get install chromium`)");
    }
    found
}

/// Runs headless Chromium on `page` with `args`, at most two minutes; its stdout and stderr.
fn headless(chromium: &Path, page: &Path, args: &[&str]) -> (String, String) {
    let profile = scratch();
    let stdout = profile.path().join("stdout");
    let stderr = profile.path().join("stderr");
    let mut child = Process::new(chromium)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.path().join("profile").display()
        ))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium: {status}\n{}", read(&stderr));
            break;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("chromium did not finish in two minutes\n{}", read(&stderr));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (read(&stdout), read(&stderr))
}

/// What the page's console said: Chromium logs each console message as a `CONSOLE` line (a
/// failed load included), and an uncaught error as `Uncaught`.
fn console_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .collect()
}

/// The text of each cell of a table row, as the browser's DOM has it.
fn cells(row: &str) -> Vec<String> {
    row.split("<td")
        .skip(1)
        .map(|cell| {
            let body = &cell[cell.find('>').map_or(0, |i| i + 1)..];
            let mut text = String::new();
            let mut in_tag = false;
            for c in body.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            text.trim().to_string()
        })
        .collect()
}

#[test]
fn the_report_renders_in_chromium_with_the_summarys_marks() {
    let Some(chromium) = chromium() else {
        return;
    };
    let graded = graded();
    let page = graded.out.join("report.html");
    let (dom, stderr) = headless(&chromium, &page, &["--dump-dom"]);
    assert!(
        dom.contains("<h1 id=\"overview\">Class report</h1>"),
        "{dom}"
    );
    assert!(
        console_errors(&stderr).is_empty(),
        "the console: {:?}",
        console_errors(&stderr)
    );
    // Student text never became markup: the DOM holds no script and no image.
    assert!(!dom.contains("<script") && !dom.contains("<img"));
    assert!(dom.contains("&lt;script&gt;alert('gus was here')&lt;/script&gt;"));
    assert!(dom.matches("<svg").count() >= 3, "the charts are drawn");

    // Every student's row says what summary.csv says.
    let rows: Vec<&str> = dom
        .split("<tr class=\"student\"")
        .skip(1)
        .map(|r| &r[..r.find("</tr>").unwrap()])
        .collect();
    let summary = summary_rows(&graded.out);
    assert_eq!(rows.len(), summary.len());
    assert_eq!(summary.len(), STUDENTS.len());
    for (row, expected) in rows.iter().zip(&summary) {
        let shown = cells(row);
        assert!(
            row.contains(&format!(
                "data-name=\"{}\" data-total=\"{}\"",
                expected[0], expected[1]
            )),
            "{row}"
        );
        assert_eq!(shown[0], expected[0], "the name: {row}");
        assert_eq!(shown[1], expected[1], "the total: {row}");
        for (e, score) in expected[2..].iter().enumerate() {
            let cell = &shown[3 + e];
            assert!(
                cell == score || cell.starts_with(&format!("{score} ")),
                "{}: exercise {e} shows {cell}, summary.csv {score}",
                expected[0]
            );
        }
    }
    // Each name leads to that student's detail.
    for (i, name) in STUDENTS.iter().enumerate() {
        assert!(
            dom.contains(&format!("<a href=\"#s{i}\">{name}</a>")),
            "{name}"
        );
        assert!(dom.contains(&format!(
            "<section class=\"student\" id=\"s{i}\"><h3>{name} "
        )));
    }
}

#[test]
fn the_report_makes_a_screenshot() {
    let Some(chromium) = chromium() else {
        return;
    };
    let graded = graded();
    let shot = scratch();
    let png = shot.path().join("report.png");
    let (_, stderr) = headless(
        &chromium,
        &graded.out.join("report.html"),
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1280,2400",
        ],
    );
    assert!(
        console_errors(&stderr).is_empty(),
        "{:?}",
        console_errors(&stderr)
    );
    let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("no screenshot: {e}\n{stderr}"));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // A page of charts and tables, not a blank one (a white 1280×2400 PNG is a few KB).
    assert!(bytes.len() > 40_000, "{} bytes", bytes.len());
}
