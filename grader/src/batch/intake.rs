//! A class folder's entries, each made a [`Source`]: folders as they are (a workspace copy,
//! its `exercises/`, exercise folders, or any of those inside one wrapping folder, as Gradescope
//! exports and GitHub Classroom clones hold them), archives unpacked into scratch space, and
//! whatever cannot be read refused with the reason. Nothing here ends the batch.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rayon::prelude::*;

use crate::source::Source;
use crate::unpack;

/// Files a class folder holds that are not submissions (Gradescope's export index).
const NOT_SUBMISSIONS: &[&str] = &["submission_metadata.yml", "submission_metadata.json"];

/// How many wrapping folders are looked through for the submission itself.
const WRAPPERS: usize = 3;

/// One submission of the class.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Unique in the class, safe as a file name and in a CSV cell.
    pub name: String,
    /// Where it came from, as found in the class folder.
    pub origin: PathBuf,
    pub source: Source,
}

/// The class folder's entries in name order: names only, nothing read yet.
pub fn list(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    if !dir.is_dir() {
        bail!("{} is not a folder of submissions", dir.display());
    }
    let mut raw: Vec<(String, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.starts_with('.') || NOT_SUBMISSIONS.contains(&file_name.as_str()) {
            continue;
        }
        raw.push((file_name, entry.path()));
    }
    raw.sort();
    let mut taken = HashSet::new();
    Ok(raw
        .into_iter()
        .map(|(file_name, path)| {
            let base = sanitize(strip_archive_extension(&file_name));
            let mut name = base.clone();
            for n in 2.. {
                if taken.insert(name.clone()) {
                    break;
                }
                name = format!("{base}-{n}");
            }
            (name, path)
        })
        .collect())
}

/// Makes each listed entry a source, unpacking archives under `scratch` (in parallel).
pub fn open(listed: &[(String, PathBuf)], scratch: &Path) -> Vec<Entry> {
    listed
        .par_iter()
        .map(|(name, origin)| Entry {
            name: name.clone(),
            origin: origin.clone(),
            source: source_of(origin, &scratch.join(name)),
        })
        .collect()
}

fn source_of(origin: &Path, scratch: &Path) -> Source {
    let meta = match std::fs::symlink_metadata(origin) {
        Ok(meta) => meta,
        Err(error) => return Source::Refused(format!("it cannot be read: {error}")),
    };
    if meta.file_type().is_symlink() {
        return Source::Refused(
            "it is a symbolic link: only folders and archives inside the class folder are read"
                .into(),
        );
    }
    if meta.is_dir() {
        let root = inner_root(origin);
        // A folder holding nothing but the archive the student uploaded.
        return match lone_archive(&root) {
            Some(archive) if !holds_exercises(&root) => source_of(&archive, scratch),
            _ => Source::Submission(root),
        };
    }
    if meta.is_file() {
        if unpack::kind_of(origin).is_none() {
            return Source::Refused(
                "it is neither a folder nor a .zip, .tar.gz or .tgz archive".into(),
            );
        }
        if let Err(error) = std::fs::create_dir_all(scratch) {
            return Source::Refused(format!("no scratch space to unpack it: {error}"));
        }
        return match unpack::unpack(origin, scratch, &unpack::Limits::default()) {
            Ok(_) => Source::Submission(inner_root(scratch)),
            Err(why) => Source::Refused(why),
        };
    }
    Source::Refused("it is neither a folder nor an archive".into())
}

/// The folder that holds the exercises: `dir` itself, or the one folder it wraps (a zip of
/// `locksmith-main/`, a Gradescope upload of a workspace folder), a few levels down at most.
fn inner_root(dir: &Path) -> PathBuf {
    let mut dir = dir.to_path_buf();
    for _ in 0..WRAPPERS {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            break;
        };
        let mut folders = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if !is_dir || name.starts_with('.') || name == "__MACOSX" {
                continue;
            }
            if name == "exercises" || is_exercise_folder(&name) {
                return dir;
            }
            folders.push(entry.path());
        }
        match folders.as_slice() {
            [only] => dir = only.clone(),
            _ => break,
        }
    }
    dir
}

/// The only entry of `dir` that is not hidden, if it is an archive (a regular file).
fn lone_archive(dir: &Path) -> Option<PathBuf> {
    let mut entries = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'));
    let only = entries.next()?;
    let is_file = only.file_type().is_ok_and(|t| t.is_file());
    (entries.next().is_none() && is_file && unpack::kind_of(&only.path()).is_some())
        .then(|| only.path())
}

fn holds_exercises(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name == "exercises" || is_exercise_folder(&name)
        })
    })
}

/// `NN_name`.
fn is_exercise_folder(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() > 3 && bytes[0].is_ascii_digit() && bytes[1].is_ascii_digit() && bytes[2] == b'_'
}

fn strip_archive_extension(name: &str) -> &str {
    let lower = name.to_ascii_lowercase();
    for extension in [".tar.gz", ".tgz", ".zip"] {
        if lower.ends_with(extension) {
            return &name[..name.len() - extension.len()];
        }
    }
    name
}

/// A name that is safe as a file name, on a command line and in a spreadsheet: letters,
/// digits, `.`, `_` and `-`, starting with a letter, digit or `_`, at most 80 characters.
pub fn sanitize(raw: &str) -> String {
    let mapped: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = mapped.trim_start_matches(['.', '-']);
    let name: String = trimmed.chars().take(80).collect();
    if name.is_empty() {
        "submission".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_unique_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "bob",
            "alice.zip",
            "al ice",
            "al_ice",
            "=cmd()",
            "-rf",
            "Ünïcode",
        ] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        std::fs::write(dir.path().join("submission_metadata.yml"), "").unwrap();
        std::fs::create_dir(dir.path().join(".git")).unwrap();
        let names: Vec<String> = list(dir.path())
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            names,
            ["rf", "_cmd__", "al_ice", "al_ice-2", "alice", "bob", "_n_code"]
        );
    }

    #[test]
    fn wrapping_folders_are_looked_through() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir
            .path()
            .join("alice/locksmith-main/exercises/02_lock/src");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::create_dir_all(dir.path().join("alice/__MACOSX")).unwrap();
        assert_eq!(
            inner_root(&dir.path().join("alice")),
            dir.path().join("alice/locksmith-main")
        );
        let flat = dir.path().join("bob/02_lock/src");
        std::fs::create_dir_all(flat).unwrap();
        assert_eq!(inner_root(&dir.path().join("bob")), dir.path().join("bob"));
    }

    #[test]
    fn a_folder_holding_only_an_uploaded_archive_is_that_archive() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let folder = dir.path().join("submission_123");
        std::fs::create_dir(&folder).unwrap();
        let mut zip = zip::ZipWriter::new(std::fs::File::create(folder.join("hw.zip")).unwrap());
        zip.start_file(
            "exercises/02_lock/src/lib.rs",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        std::io::Write::write_all(&mut zip, b"pub fn f() {}\n").unwrap();
        zip.finish().unwrap();
        let entries = open(&list(dir.path()).unwrap(), scratch.path());
        let found = entries[0].source.read(Path::new("/nowhere"), "02_lock");
        assert!(
            matches!(&found, crate::source::Found::File { code, .. } if code == "pub fn f() {}\n"),
            "{found:?}"
        );
    }

    #[test]
    fn what_cannot_be_read_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.pdf"), "%PDF").unwrap();
        std::fs::write(dir.path().join("broken.zip"), "not a zip").unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("linked")).unwrap();
        let entries = open(&list(dir.path()).unwrap(), scratch.path());
        let why: Vec<(String, String)> = entries
            .iter()
            .map(|e| match &e.source {
                Source::Refused(why) => (e.name.clone(), why.clone()),
                other => panic!("{}: {other:?}", e.name),
            })
            .collect();
        assert_eq!(why.len(), 3);
        assert!(why[0].0 == "broken" && why[0].1.contains("zip"), "{why:?}");
        assert!(why[1].0 == "linked" && why[1].1.contains("symbolic link"));
        assert!(why[2].0 == "notes.pdf" && why[2].1.contains("neither"));
    }
}
