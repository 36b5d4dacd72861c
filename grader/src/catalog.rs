//! What there is to grade: `exercises.toml` and each exercise's `grader/checks/ID.toml`.

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use serde::Deserialize;

/// The course: every exercise with its hidden checks, in order.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub root: PathBuf,
    pub exercises: Vec<Exercise>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exercise {
    pub id: String,
    #[serde(rename = "crate")]
    pub crate_name: String,
    pub title: String,
    pub allowed: Vec<String>,
    pub hint: String,
    #[serde(skip)]
    pub checks: Vec<CheckSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Functionality,
    Robustness,
    Stress,
    Performance,
    Api,
    Rules,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Functionality => "functionality",
            Category::Robustness => "robustness",
            Category::Stress => "stress",
            Category::Performance => "performance",
            Category::Api => "api",
            Category::Rules => "rules",
        }
    }

    /// Checks of these categories run as processes of the check binary.
    pub fn is_runtime(self) -> bool {
        !matches!(self, Category::Api | Category::Rules)
    }
}

/// One hidden check, as its exercise's checks file declares it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    pub name: String,
    pub category: Category,
    pub points: u32,
    #[serde(default = "one")]
    pub trials: u64,
    #[serde(default)]
    pub perturb: u32,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub exclusive: bool,
    #[serde(default)]
    pub hint: String,
    #[serde(default, rename = "case")]
    pub cases: Vec<ApiCase>,
}

/// A snippet compiled against the code under test: it must fail with one of `expect`'s error
/// codes, or compile when `expect` is empty.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiCase {
    pub name: String,
    pub expect: Vec<String>,
    pub code: String,
}

fn one() -> u64 {
    1
}

fn default_timeout_ms() -> u64 {
    5000
}

#[derive(Deserialize)]
struct ExercisesFile {
    exercise: Vec<Exercise>,
}

#[derive(Deserialize)]
struct ChecksFile {
    check: Vec<CheckSpec>,
}

/// The name every exercise's source-rules check has.
pub const RULES_CHECK: &str = "allowed_building_blocks";

impl Catalog {
    /// Reads the catalog of the workspace at `root`, checking it is coherent.
    pub fn load(root: &Path) -> Result<Catalog> {
        let path = root.join("exercises.toml");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let file: ExercisesFile =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let mut exercises = file.exercise;
        for exercise in &mut exercises {
            let checks_path = Catalog::checks_toml(root, &exercise.id);
            let text = std::fs::read_to_string(&checks_path)
                .with_context(|| format!("reading {}", checks_path.display()))?;
            let checks: ChecksFile = toml::from_str(&text)
                .with_context(|| format!("parsing {}", checks_path.display()))?;
            exercise.checks = checks.check;
            validate(exercise).with_context(|| format!("in {}", checks_path.display()))?;
        }
        Ok(Catalog {
            root: root.to_path_buf(),
            exercises,
        })
    }

    pub fn checks_toml(root: &Path, id: &str) -> PathBuf {
        root.join("grader/checks").join(format!("{id}.toml"))
    }

    pub fn checks_source(&self, id: &str) -> PathBuf {
        self.root.join("grader/checks").join(format!("{id}.rs"))
    }

    /// The bench of an exercise (`cargo xtask bench ID`): every exercise has one.
    pub fn bench_source(&self, id: &str) -> PathBuf {
        self.root.join("grader/benchmarks").join(format!("{id}.rs"))
    }

    /// A digest of everything that decides a check's verdict but the code under test: the
    /// checks and their files, the harness, the wire protocol and `blocks` (the building
    /// blocks learners link), by relative path and content.
    pub fn checks_sha256(&self) -> Result<String> {
        let mut files = Vec::new();
        for folder in [
            "grader/checks",
            "grader/harness",
            "grader/protocol",
            "blocks",
        ] {
            collect_files(&self.root, &self.root.join(folder), &mut files)?;
        }
        files.sort();
        let mut all = Vec::new();
        for relative in files {
            let bytes = std::fs::read(self.root.join(&relative))
                .with_context(|| format!("reading {}", relative.display()))?;
            all.extend_from_slice(relative.to_string_lossy().as_bytes());
            all.push(0);
            all.extend_from_slice(crate::sha256_hex(&bytes).as_bytes());
            all.push(b'\n');
        }
        Ok(crate::sha256_hex(&all))
    }

    pub fn exercise(&self, id: &str) -> Option<&Exercise> {
        self.exercises.iter().find(|e| e.id == id)
    }

    /// Resolves ids as a learner types them: `03_rlock`, `03`, `rlock`.
    pub fn find(&self, wanted: &str) -> Result<&Exercise> {
        let found = self.exercises.iter().find(|e| {
            e.id == wanted || e.crate_name == wanted || e.id.split('_').next() == Some(wanted)
        });
        match found {
            Some(exercise) => Ok(exercise),
            None => bail!(
                "no exercise named `{wanted}`; the exercises are: {}",
                self.exercises
                    .iter()
                    .map(|e| e.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

impl Exercise {
    pub fn max_points(&self) -> u32 {
        self.checks.iter().map(|c| c.points).sum()
    }

    pub fn check(&self, name: &str) -> Option<&CheckSpec> {
        self.checks.iter().find(|c| c.name == name)
    }
}

/// Regular files under `dir` (no `target/`, no hidden entries), relative to `root`.
fn collect_files(root: &Path, dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') || name == "target" {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect_files(root, &entry.path(), files)?;
        } else if kind.is_file() {
            files.push(entry.path().strip_prefix(root)?.to_path_buf());
        }
    }
    Ok(())
}

fn validate(exercise: &Exercise) -> Result<()> {
    let total = exercise.max_points();
    ensure!(total == 100, "the points add up to {total}, not 100");
    let rules = exercise
        .checks
        .iter()
        .filter(|c| c.category == Category::Rules)
        .collect::<Vec<_>>();
    ensure!(
        rules.len() == 1 && rules[0].name == RULES_CHECK,
        "an exercise has exactly one rules check, named {RULES_CHECK}"
    );
    for (i, check) in exercise.checks.iter().enumerate() {
        ensure!(
            !exercise.checks[..i].iter().any(|c| c.name == check.name),
            "check {} is declared twice",
            check.name
        );
        ensure!(
            (check.category == Category::Api) != check.cases.is_empty(),
            "check {}: api checks, and only they, have cases",
            check.name
        );
        ensure!(
            check.trials >= 1,
            "check {}: trials must be at least 1",
            check.name
        );
    }
    Ok(())
}
