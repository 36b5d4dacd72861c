//! Where the code under test comes from (the learner's `exercises/`, the reference
//! `solutions/`, or a submission folder), and reading it safely.
//!
//! A source file is read once, and those bytes are judged by the rules, hashed, and compiled.
//! Only regular files inside the source are read: a symbolic link anywhere on the way (the
//! exercise folder, `src/`, `lib.rs`) is refused, never followed, since archives and git
//! repositories carry links that could point at the reference solutions.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Result};

/// The largest source file read (a course file is a few hundred lines).
pub const MAX_SOURCE_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Exercises,
    Solutions,
    /// A copy of the workspace, of its `exercises/` folder, or just exercise folders.
    Submission(PathBuf),
    /// A submission that could not be read at all (a batch's refused archive, say), and why:
    /// every exercise of it is an invalid submission.
    Refused(String),
}

/// What looking for one exercise's file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The file, read once: the exact text that is checked, hashed and compiled.
    File {
        path: PathBuf,
        code: String,
    },
    Missing,
    /// Something is there but may not be read, and why.
    Invalid(String),
}

impl Source {
    /// A submission folder, checked to exist.
    pub fn submission(dir: &Path) -> Result<Source> {
        if !dir.is_dir() {
            bail!(
                "submission folder {} does not exist or is not a folder",
                dir.display()
            );
        }
        Ok(Source::Submission(dir.canonicalize()?))
    }

    /// How the scorecard names it.
    pub fn label(&self) -> String {
        match self {
            Source::Exercises => "exercises".into(),
            Source::Solutions => "solutions".into(),
            Source::Submission(dir) => dir.display().to_string(),
            Source::Refused(_) => "refused".into(),
        }
    }

    /// How messages name `path`: relative to the workspace for its own folders, and to the
    /// submission's folder for a submission (its location is the grader's business).
    pub fn shown(&self, root: &Path, path: &Path) -> String {
        let base = match self {
            Source::Submission(dir) => dir.as_path(),
            _ => root,
        };
        path.strip_prefix(base)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// The folders the file of exercise `id` may be under, and its path below them.
    fn candidates(&self, root: &Path, id: &str) -> Vec<(PathBuf, PathBuf)> {
        let lib = Path::new(id).join("src/lib.rs");
        match self {
            Source::Exercises => vec![(root.join("exercises"), lib)],
            Source::Solutions => vec![(root.join("solutions"), lib)],
            Source::Submission(dir) => vec![
                (dir.clone(), Path::new("exercises").join(&lib)),
                (dir.clone(), lib),
            ],
            Source::Refused(_) => Vec::new(),
        }
    }

    /// The folder that holds (or would hold) the file of exercise `id`: the first layout whose
    /// folder exists, else the first layout's. `watch` watches it, since editors that save by
    /// renaming a new file over the old one replace the file itself.
    pub fn src_dir(&self, root: &Path, id: &str) -> Option<PathBuf> {
        let dirs: Vec<PathBuf> = self
            .candidates(root, id)
            .into_iter()
            .filter_map(|(base, lib)| Some(base.join(lib.parent()?)))
            .collect();
        dirs.iter().find(|d| d.is_dir()).or(dirs.first()).cloned()
    }

    /// Finds and reads the student file of exercise `id`.
    pub fn read(&self, root: &Path, id: &str) -> Found {
        if let Source::Refused(why) = self {
            return Found::Invalid(why.clone());
        }
        for (base, relative) in self.candidates(root, id) {
            match read_inside(&base, &relative, |path| self.shown(root, path)) {
                Found::Missing => continue,
                found => return found,
            }
        }
        Found::Missing
    }

    /// Where the learner would look for the file, for messages about a missing one.
    pub fn expected_path(&self, id: &str) -> String {
        match self {
            Source::Exercises => format!("exercises/{id}/src/lib.rs"),
            Source::Solutions => format!("solutions/{id}/src/lib.rs"),
            Source::Submission(_) => {
                format!("exercises/{id}/src/lib.rs or {id}/src/lib.rs in the submission")
            }
            Source::Refused(why) => why.clone(),
        }
    }
}

/// Reads `base/relative`, refusing symbolic links on the way and anything but a regular file
/// of reasonable size holding UTF-8 text.
fn read_inside(base: &Path, relative: &Path, shown: impl Fn(&Path) -> String) -> Found {
    let mut path = base.to_path_buf();
    for component in relative.components() {
        let Component::Normal(name) = component else {
            return Found::Invalid(format!("{} is not a plain path", relative.display()));
        };
        path.push(name);
        match std::fs::symlink_metadata(&path) {
            Err(_) => return Found::Missing,
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&path)
                    .map(|t| format!(" (to {})", t.display()))
                    .unwrap_or_default();
                return Found::Invalid(format!(
                    "{} is a symbolic link{target}: only regular files inside the submission \
                     are read",
                    shown(&path)
                ));
            }
            Ok(_) => {}
        }
    }
    // O_NOFOLLOW: the file cannot have become a link since; O_NONBLOCK: nor a FIFO that hangs.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path);
    let mut file = match file {
        Ok(file) => file,
        Err(error) => return Found::Invalid(format!("{} cannot be read: {error}", shown(&path))),
    };
    match file.metadata() {
        Ok(meta) if !meta.is_file() => {
            return Found::Invalid(format!("{} is not a regular file", shown(&path)))
        }
        Ok(meta) if meta.len() > MAX_SOURCE_BYTES => {
            return Found::Invalid(format!(
                "{} is {} bytes, more than the {MAX_SOURCE_BYTES} a source file may have",
                shown(&path),
                meta.len()
            ))
        }
        Ok(_) => {}
        Err(error) => return Found::Invalid(format!("{} cannot be read: {error}", shown(&path))),
    }
    let mut bytes = Vec::new();
    if let Err(error) = file
        .by_ref()
        .take(MAX_SOURCE_BYTES + 1)
        .read_to_end(&mut bytes)
    {
        return Found::Invalid(format!("{} cannot be read: {error}", shown(&path)));
    }
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        return Found::Invalid(format!(
            "{} grew past {MAX_SOURCE_BYTES} bytes while it was read",
            shown(&path)
        ));
    }
    match String::from_utf8(bytes) {
        Ok(code) => Found::File { path, code },
        Err(error) => Found::Invalid(format!(
            "{} is not UTF-8 text (byte {}): Rust source must be",
            shown(&path),
            error.utf8_error().valid_up_to()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submission() -> (tempfile::TempDir, Source) {
        let dir = tempfile::tempdir().unwrap();
        let source = Source::submission(dir.path()).unwrap();
        (dir, source)
    }

    #[test]
    fn reads_either_layout() {
        let (dir, source) = submission();
        std::fs::create_dir_all(dir.path().join("02_lock/src")).unwrap();
        std::fs::write(dir.path().join("02_lock/src/lib.rs"), "pub fn f() {}\n").unwrap();
        assert!(matches!(
            source.read(Path::new("/nowhere"), "02_lock"),
            Found::File { code, .. } if code == "pub fn f() {}\n"
        ));
        assert_eq!(
            source.read(Path::new("/nowhere"), "03_rlock"),
            Found::Missing
        );
    }

    #[test]
    fn src_dir_is_where_the_file_is_or_would_be() {
        let (dir, source) = submission();
        let base = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(base.join("02_lock/src")).unwrap();
        std::fs::create_dir_all(base.join("exercises/03_rlock/src")).unwrap();
        let root = Path::new("/nowhere");
        assert_eq!(
            source.src_dir(root, "02_lock"),
            Some(base.join("02_lock/src"))
        );
        assert_eq!(
            source.src_dir(root, "03_rlock"),
            Some(base.join("exercises/03_rlock/src"))
        );
        assert_eq!(
            source.src_dir(root, "04_semaphore"),
            Some(base.join("exercises/04_semaphore/src"))
        );
        assert_eq!(
            Source::Exercises.src_dir(root, "02_lock"),
            Some(root.join("exercises/02_lock/src"))
        );
    }

    #[test]
    fn refuses_links_anywhere_on_the_way() {
        let (dir, source) = submission();
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(elsewhere.path().join("src")).unwrap();
        std::fs::write(elsewhere.path().join("src/lib.rs"), "pub fn f() {}\n").unwrap();
        // The exercise folder is a link.
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("02_lock")).unwrap();
        // The file is a link.
        std::fs::create_dir_all(dir.path().join("03_rlock/src")).unwrap();
        std::os::unix::fs::symlink(
            elsewhere.path().join("src/lib.rs"),
            dir.path().join("03_rlock/src/lib.rs"),
        )
        .unwrap();
        for id in ["02_lock", "03_rlock"] {
            match source.read(Path::new("/nowhere"), id) {
                Found::Invalid(why) => assert!(why.contains("symbolic link"), "{why}"),
                other => panic!("{id}: {other:?}"),
            }
        }
    }

    #[test]
    fn refuses_what_is_not_a_small_utf8_file() {
        let (dir, source) = submission();
        let src = dir.path().join("02_lock/src");
        std::fs::create_dir_all(src.join("lib.rs")).unwrap(); // a folder named lib.rs
        std::fs::create_dir_all(dir.path().join("03_rlock/src")).unwrap();
        std::fs::write(dir.path().join("03_rlock/src/lib.rs"), b"fn f() {}\xff\n").unwrap();
        std::fs::create_dir_all(dir.path().join("04_semaphore/src")).unwrap();
        std::fs::write(
            dir.path().join("04_semaphore/src/lib.rs"),
            vec![b' '; MAX_SOURCE_BYTES as usize + 1],
        )
        .unwrap();
        for (id, why) in [
            ("02_lock", "not a regular file"),
            ("03_rlock", "not UTF-8"),
            ("04_semaphore", "more than"),
        ] {
            match source.read(Path::new("/nowhere"), id) {
                Found::Invalid(message) => assert!(message.contains(why), "{id}: {message}"),
                other => panic!("{id}: {other:?}"),
            }
        }
    }
}
