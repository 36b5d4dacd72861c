//! The Gradescope autograder package (`cargo xtask gradescope`): one zip holding `setup.sh`
//! (a toolchain, one build of the grader, a warm build proven by grading the reference
//! solutions), `run_autograder` (grades `/autograder/submission` into
//! `/autograder/results/results.json`, and writes one itself if the grader cannot run) and
//! `source/`, the course as this workspace holds it.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::catalog::Catalog;

const SETUP: &str = include_str!("gradescope/setup.sh");
const RUN_AUTOGRADER: &str = include_str!("gradescope/run_autograder");

/// What [`package`] wrote.
#[derive(Debug)]
pub struct Package {
    pub path: PathBuf,
    /// The exercises graded, by id, in catalog order.
    pub exercises: Vec<String>,
    /// Files of the workspace under `source/`.
    pub files: usize,
    /// The size of the zip.
    pub bytes: u64,
    /// Workspace entries left out because they are symbolic links (never followed) or neither
    /// files nor folders, relative to the root.
    pub skipped: Vec<PathBuf>,
}

/// One file of the workspace, to go under `source/`.
struct Entry {
    relative: PathBuf,
    mode: u32,
}

/// Writes the autograder package of the course at `root` to `out`, atomically. `exercises`
/// are ids as a learner types them (`05_event`, `05`, `event`); none means every exercise.
pub fn package(root: &Path, out: &Path, exercises: &[String]) -> Result<Package> {
    let catalog = Catalog::load(root)?;
    let mut ids: Vec<String> = Vec::new();
    for wanted in exercises {
        let id = catalog.find(wanted)?.id.clone();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids.sort_by_key(|id| catalog.exercises.iter().position(|e| &e.id == id));
    // `--all` rather than a list, so that the scripts say what the instructor asked for.
    let selection = if ids.is_empty() {
        "--all".to_string()
    } else {
        ids.iter()
            .map(|id| shell_quote(id))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let script = |template: &str| {
        template
            .replace("@EXERCISES@", &selection)
            .replace("@VERSION@", crate::VERSION)
    };

    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let Some(name) = out.file_name() else {
        bail!("{} does not name a file", out.display());
    };
    // The walk is done before the temporary file exists, and leaves out the zip itself when it
    // is written inside the workspace.
    let root = root
        .canonicalize()
        .with_context(|| format!("reading {}", root.display()))?;
    let out_resolved = dir.canonicalize()?.join(name);
    let mut skipped = Vec::new();
    let mut files = Vec::new();
    walk(
        &root,
        Path::new(""),
        &out_resolved,
        &mut files,
        &mut skipped,
    )?;
    if !files.iter().any(|f| f.relative == Path::new("Cargo.toml")) {
        bail!("{} holds no Cargo.toml to package", root.display());
    }

    let temp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("writing a temporary file in {}", dir.display()))?;
    let mut zip = ZipWriter::new(temp);
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for (name, text) in [
        ("setup.sh", script(SETUP)),
        ("run_autograder", script(RUN_AUTOGRADER)),
    ] {
        zip.start_file(name, options.unix_permissions(0o755))?;
        zip.write_all(text.as_bytes())?;
    }
    for file in &files {
        let path = root.join(&file.relative);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        // Entry names use `/` whatever the platform; `walk` kept only UTF-8 names.
        let name = file
            .relative
            .iter()
            .map(|part| part.to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        zip.start_file(
            format!("source/{name}"),
            options.unix_permissions(file.mode & 0o777),
        )?;
        zip.write_all(&bytes)?;
    }
    let temp = zip.finish()?;
    temp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    temp.as_file().sync_all()?;
    temp.persist(out)
        .with_context(|| format!("writing {}", out.display()))?;
    let bytes = std::fs::metadata(out)?.len();

    Ok(Package {
        path: out.to_path_buf(),
        exercises: if ids.is_empty() {
            catalog.exercises.iter().map(|e| e.id.clone()).collect()
        } else {
            ids
        },
        files: files.len(),
        bytes,
        skipped,
    })
}

/// Collects the files under `root/relative` that a build and a grade need, in name order.
fn walk(
    root: &Path,
    relative: &Path,
    out: &Path,
    files: &mut Vec<Entry>,
    skipped: &mut Vec<PathBuf>,
) -> Result<()> {
    let dir = root.join(relative);
    let mut entries = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<std::io::Result<Vec<_>>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let child = relative.join(entry.file_name());
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            skipped.push(child);
            continue;
        };
        // Not followed: DirEntry's type is the link's own, never its target's.
        let kind = entry.file_type()?;
        let at_root = relative.as_os_str().is_empty();
        if name == ".git" || path == out {
            continue;
        }
        if kind.is_dir() {
            // Build output (cargo tags its target folders) and tool folders are not the
            // course; `.cargo` holds the `xtask` alias.
            let hidden = name.starts_with('.') && name != ".cargo";
            if hidden || (at_root && name == "target") || path.join("CACHEDIR.TAG").exists() {
                continue;
            }
            walk(root, &child, out, files, skipped)?;
        } else if kind.is_file() {
            if at_root && is_result_file(&name) {
                continue;
            }
            let mode = entry.metadata()?.permissions().mode();
            files.push(Entry {
                relative: child,
                mode,
            });
        } else {
            skipped.push(child);
        }
    }
    Ok(())
}

/// The learner's results at the root (and ones moved aside as unreadable): never the course.
fn is_result_file(name: &str) -> bool {
    let scorecard = name.starts_with("scorecard")
        && (name.ends_with(".toml") || name.ends_with(".json") || name.contains(".unreadable-"));
    let results = name == "results.json" || name.starts_with("results.unreadable-");
    scorecard || results
}

/// A word for bash: as it is when it is plainly one, else single-quoted.
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_at_the_root_are_left_out_and_the_course_is_not() {
        for name in [
            "scorecard.toml",
            "scorecard.json",
            "scorecard-old.toml",
            "scorecard.unreadable-123",
            "results.json",
        ] {
            assert!(is_result_file(name), "{name}");
        }
        for name in ["Cargo.toml", "exercises.toml", "results.md", "README.md"] {
            assert!(!is_result_file(name), "{name}");
        }
    }

    /// A course of the real catalog's files, with what a workspace also holds around it.
    fn course() -> tempfile::TempDir {
        let real = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("grader/checks")).unwrap();
        std::fs::copy(real.join("exercises.toml"), root.join("exercises.toml")).unwrap();
        for entry in std::fs::read_dir(real.join("grader/checks")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                std::fs::copy(
                    &path,
                    root.join("grader/checks").join(path.file_name().unwrap()),
                )
                .unwrap();
            }
        }
        let write = |relative: &str, mode: u32| {
            let path = root.join(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, relative).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        write("Cargo.toml", 0o644);
        write(".cargo/config.toml", 0o644);
        write("tools/run.sh", 0o755);
        write("scorecard.toml", 0o644);
        write("results.json", 0o644);
        write(".git", 0o644);
        write(".ci/run", 0o755);
        write("target/debug/xtask", 0o755);
        write("grader/checks/target/CACHEDIR.TAG", 0o644);
        std::os::unix::fs::symlink("/etc/passwd", root.join("exercises.link")).unwrap();
        dir
    }

    #[test]
    fn the_course_is_packaged_without_build_output_results_links_or_tool_folders() {
        let dir = course();
        let out = dir.path().join("autograder.zip");
        // A package left from before, inside the workspace, is not packaged into the next.
        std::fs::write(&out, "old").unwrap();
        let package = package(dir.path(), &out, &["05".into()]).unwrap();
        assert_eq!(package.exercises, ["05_event"]);
        assert_eq!(package.skipped, [PathBuf::from("exercises.link")]);

        let mut zip = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
        let mut names: Vec<String> = zip.file_names().map(String::from).collect();
        names.sort();
        let mut checks: Vec<String> = std::fs::read_dir(dir.path().join("grader/checks"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml"))
            .map(|n| format!("source/grader/checks/{n}"))
            .collect();
        let mut expected = vec![
            "run_autograder".to_string(),
            "setup.sh".into(),
            "source/.cargo/config.toml".into(),
            "source/Cargo.toml".into(),
            "source/exercises.toml".into(),
            "source/tools/run.sh".into(),
        ];
        expected.append(&mut checks);
        expected.sort();
        assert_eq!(names, expected);

        let mode = |zip: &mut zip::ZipArchive<std::fs::File>, name: &str| {
            zip.by_name(name).unwrap().unix_mode().unwrap() & 0o777
        };
        assert_eq!(mode(&mut zip, "setup.sh"), 0o755);
        assert_eq!(mode(&mut zip, "run_autograder"), 0o755);
        assert_eq!(mode(&mut zip, "source/tools/run.sh"), 0o755);
        assert_eq!(mode(&mut zip, "source/Cargo.toml"), 0o644);
        let mut script = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("run_autograder").unwrap(), &mut script)
            .unwrap();
        assert!(script.contains(" grade 05_event --submission "), "{script}");
        assert!(
            !script.contains("@EXERCISES@") && !script.contains("@VERSION@"),
            "every placeholder filled: {script}"
        );
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_quote("05_event"), "05_event");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
