//! Where the code under test comes from: the learner's `exercises/`, the reference
//! `solutions/`, or a submission folder.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Exercises,
    Solutions,
    /// A copy of the workspace, of its `exercises/` folder, or just exercise folders.
    Submission(PathBuf),
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
        }
    }

    /// A short name fit for a folder: one stage (and so one warm build) per source.
    pub fn stage_key(&self) -> String {
        match self {
            Source::Exercises => "exercises".into(),
            Source::Solutions => "solutions".into(),
            Source::Submission(dir) => {
                let name: String = dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .take(40)
                    .collect();
                let digest = crate::sha256_hex(dir.to_string_lossy().as_bytes());
                format!("sub-{name}-{}", &digest[..12])
            }
        }
    }

    /// The student file of exercise `id`, if the source has it.
    pub fn locate(&self, root: &Path, id: &str) -> Option<PathBuf> {
        let lib = Path::new(id).join("src/lib.rs");
        let candidates = match self {
            Source::Exercises => vec![root.join("exercises").join(&lib)],
            Source::Solutions => vec![root.join("solutions").join(&lib)],
            Source::Submission(dir) => vec![dir.join("exercises").join(&lib), dir.join(&lib)],
        };
        candidates.into_iter().find(|p| p.is_file())
    }

    /// Where the learner would look for the file, for messages about a missing one.
    pub fn expected_path(&self, id: &str) -> String {
        match self {
            Source::Exercises => format!("exercises/{id}/src/lib.rs"),
            Source::Solutions => format!("solutions/{id}/src/lib.rs"),
            Source::Submission(dir) => format!(
                "{0}/exercises/{id}/src/lib.rs or {0}/{id}/src/lib.rs",
                dir.display()
            ),
        }
    }
}
