//! The numbers of the report, computed once from the scorecards: distributions, each check's
//! failures, the grader's trouble, and sources that are the same or nearly so.

use std::collections::BTreeMap;

use rayon::prelude::*;

use super::Class;
use crate::batch::fingerprint::Fingerprint;
use crate::catalog::Category;
use crate::outcome::{CheckStatus, ExerciseStatus};
use crate::scorecard::{CheckCard, ExerciseCard};

/// Two sources at least this similar (Jaccard, over their 5-token sequences, the stub's left
/// out) are flagged for a look.
pub const SIMILAR: f64 = 0.9;
/// Sources with fewer sequences of their own than this (beyond the stub) are not compared:
/// two students who filled in the same one-liner are not evidence of anything.
pub const MIN_OWN: usize = 40;
/// Pairs listed at most; the rest are counted.
pub const MAX_PAIRS: usize = 100;

pub const STATUSES: [CheckStatus; 8] = [
    CheckStatus::Pass,
    CheckStatus::Fail,
    CheckStatus::Panic,
    CheckStatus::Timeout,
    CheckStatus::Crash,
    CheckStatus::NotImplemented,
    CheckStatus::Skipped,
    CheckStatus::Error,
];

pub fn status_index(status: CheckStatus) -> usize {
    STATUSES.iter().position(|s| *s == status).unwrap_or(0)
}

/// The code under test got it wrong (not: it stopped at a `todo!()`, or did not run).
pub fn failed(status: CheckStatus) -> bool {
    matches!(
        status,
        CheckStatus::Fail | CheckStatus::Panic | CheckStatus::Timeout | CheckStatus::Crash
    )
}

#[derive(Debug, Default, Clone)]
pub struct Distribution {
    /// Of the score as a share of the maximum: [0, 10 %), …, [90 %, 100 %].
    pub bins: [usize; 10],
    pub count: usize,
    pub mean: f64,
    pub median: f64,
    pub full: usize,
    pub zero: usize,
    pub max_score: f64,
}

impl Distribution {
    fn of(scores: &[(f64, f64)]) -> Distribution {
        let mut d = Distribution {
            count: scores.len(),
            ..Distribution::default()
        };
        if scores.is_empty() {
            return d;
        }
        for &(score, max) in scores {
            let share = if max > 0.0 { score / max } else { 0.0 };
            d.bins[((share * 10.0).floor().max(0.0) as usize).min(9)] += 1;
            if max > 0.0 && score >= max {
                d.full += 1;
            }
            if score <= 0.0 {
                d.zero += 1;
            }
            d.max_score = d.max_score.max(max);
        }
        let mut sorted: Vec<f64> = scores.iter().map(|s| s.0).collect();
        sorted.sort_by(f64::total_cmp);
        d.mean = round(sorted.iter().sum::<f64>() / sorted.len() as f64);
        let mid = sorted.len() / 2;
        // (Not `is_multiple_of`: the README promises Rust 1.85.)
        d.median = if sorted.len() & 1 == 1 {
            sorted[mid]
        } else {
            round((sorted[mid - 1] + sorted[mid]) / 2.0)
        };
        d
    }
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

pub struct ExerciseStats {
    pub id: String,
    pub title: String,
    pub distribution: Distribution,
    /// How many submissions ended in each exercise status.
    pub statuses: Vec<(ExerciseStatus, usize)>,
}

pub struct CheckStats {
    pub exercise: String,
    pub name: String,
    pub category: Category,
    pub points: u32,
    pub hint: String,
    /// Submissions per status, in the order of [`STATUSES`].
    pub counts: [usize; 8],
}

impl CheckStats {
    pub fn failed(&self) -> usize {
        STATUSES
            .iter()
            .zip(self.counts)
            .filter(|(s, _)| failed(**s))
            .map(|(_, n)| n)
            .sum()
    }

    pub fn count(&self, status: CheckStatus) -> usize {
        self.counts[status_index(status)]
    }

    /// Submissions whose code got this far: passed or failed it (not a `todo!()`, not unrun).
    pub fn tried(&self) -> usize {
        self.count(CheckStatus::Pass) + self.failed()
    }

    /// The share of those who tried that failed, in percent.
    pub fn rate(&self) -> Option<f64> {
        (self.tried() > 0).then(|| 100.0 * self.failed() as f64 / self.tried() as f64)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TroubleKind {
    /// The grader could not run a check: not the student's doing.
    GraderError,
    InvalidSubmission,
    Timeout,
    Crash,
    CompileError,
    RulesViolation,
}

impl TroubleKind {
    pub const ALL: [TroubleKind; 6] = [
        TroubleKind::GraderError,
        TroubleKind::InvalidSubmission,
        TroubleKind::Timeout,
        TroubleKind::Crash,
        TroubleKind::CompileError,
        TroubleKind::RulesViolation,
    ];

    pub fn title(self) -> &'static str {
        match self {
            TroubleKind::GraderError => "Checks the grader could not run (error)",
            TroubleKind::InvalidSubmission => "Invalid submissions",
            TroubleKind::Timeout => "Timeouts",
            TroubleKind::Crash => "Crashes",
            TroubleKind::CompileError => "Compile errors",
            TroubleKind::RulesViolation => "Rules violations",
        }
    }

    pub fn anchor(self) -> &'static str {
        match self {
            TroubleKind::GraderError => "t-error",
            TroubleKind::InvalidSubmission => "t-invalid",
            TroubleKind::Timeout => "t-timeout",
            TroubleKind::Crash => "t-crash",
            TroubleKind::CompileError => "t-compile",
            TroubleKind::RulesViolation => "t-rules",
        }
    }

    pub fn note(self) -> &'static str {
        match self {
            TroubleKind::GraderError => {
                "Not the student's failure: grade these submissions again (`--resume` does)."
            }
            TroubleKind::InvalidSubmission => {
                "The file or archive could not be read as a submission; the reason is given."
            }
            TroubleKind::Timeout => {
                "Killed at the check's time limit: usually a deadlock or a lost wake-up, but a \
                 machine too busy can cause them too. Many at once, across a class, point at the \
                 machine."
            }
            TroubleKind::Crash => {
                "The check process died (a signal, an abort, a stack overflow) before reporting."
            }
            TroubleKind::CompileError => "The code does not compile against the curriculum's API.",
            TroubleKind::RulesViolation => {
                "The code uses a building block the exercise forbids: it scores zero."
            }
        }
    }
}

pub struct Trouble {
    pub kind: TroubleKind,
    pub student: usize,
    pub exercise: String,
    pub check: Option<String>,
    pub message: String,
}

pub struct IdenticalGroup {
    pub exercise: String,
    pub students: Vec<usize>,
    /// The reference solution, byte for byte.
    pub solution: bool,
}

pub struct SimilarPair {
    pub exercise: String,
    /// Students sharing each of the two sources.
    pub a: Vec<usize>,
    pub b: Vec<usize>,
    pub similarity: f64,
    /// Both are as close to the reference solution: they may have copied it, not each other.
    pub near_solution: bool,
}

pub struct Analysis {
    pub total: Distribution,
    pub exercises: Vec<ExerciseStats>,
    /// Exercise by exercise, in each checks file's order.
    pub checks: Vec<CheckStats>,
    pub trouble: Vec<Trouble>,
    pub identical: Vec<IdenticalGroup>,
    /// Most similar first, at most [`MAX_PAIRS`].
    pub similar: Vec<SimilarPair>,
    pub similar_total: usize,
    /// Distinct sources of their own that have no fingerprint (they do not lex, or the batch
    /// kept none).
    pub unfingerprinted: usize,
    /// Submission → short notes for the students table (what to look at).
    pub notes: Vec<Vec<&'static str>>,
}

pub fn exercise_card<'a>(
    cards: &'a crate::scorecard::Scorecard,
    id: &str,
) -> Option<&'a ExerciseCard> {
    cards.exercises.iter().find(|e| e.id == id)
}

pub fn check_card<'a>(exercise: Option<&'a ExerciseCard>, name: &str) -> Option<&'a CheckCard> {
    exercise.and_then(|e| e.checks.iter().find(|c| c.name == name))
}

pub fn analyse(class: &Class) -> Analysis {
    let rows = &class.summary.submissions;
    let total = Distribution::of(
        &rows
            .iter()
            .map(|r| (r.score, r.max_score))
            .collect::<Vec<_>>(),
    );

    let mut exercises = Vec::new();
    let mut checks = Vec::new();
    let mut trouble = Vec::new();
    for (e, id) in class.summary.exercises.iter().enumerate() {
        let spec = class.catalog.exercise(id);
        let max = spec.map_or(0.0, |s| f64::from(s.max_points()));
        let scores: Vec<(f64, f64)> = rows
            .iter()
            .map(|r| (r.scores.get(e).copied().unwrap_or(0.0), max))
            .collect();
        let mut statuses: Vec<(ExerciseStatus, usize)> = Vec::new();
        for row in rows {
            let status = row
                .statuses
                .get(e)
                .copied()
                .unwrap_or(ExerciseStatus::NotFound);
            match statuses.iter_mut().find(|(s, _)| *s == status) {
                Some((_, n)) => *n += 1,
                None => statuses.push((status, 1)),
            }
        }
        statuses.sort_by_key(|(s, _)| *s as u8);
        exercises.push(ExerciseStats {
            id: id.clone(),
            title: spec.map_or(String::new(), |s| s.title.clone()),
            distribution: Distribution::of(&scores),
            statuses,
        });

        // The checks file names the checks (and their hints, also of passed checks); a check
        // only in scorecards (graded by other checks) is still counted.
        let mut names: Vec<(String, Category, u32, String)> = spec
            .map(|s| {
                s.checks
                    .iter()
                    .map(|c| (c.name.clone(), c.category, c.points, c.hint.clone()))
                    .collect()
            })
            .unwrap_or_default();
        for card in class.cards {
            for check in exercise_card(card, id).into_iter().flat_map(|e| &e.checks) {
                if !names.iter().any(|n| n.0 == check.name) {
                    names.push((
                        check.name.clone(),
                        check.category,
                        check.max_score as u32,
                        check.hint.clone(),
                    ));
                }
            }
        }
        for (name, category, points, hint) in names {
            let mut counts = [0; 8];
            for card in class.cards {
                let status = check_card(exercise_card(card, id), &name)
                    .map_or(CheckStatus::Skipped, |c| c.status);
                counts[status_index(status)] += 1;
            }
            checks.push(CheckStats {
                exercise: id.clone(),
                name,
                category,
                points,
                hint,
                counts,
            });
        }

        for (student, card) in class.cards.iter().enumerate() {
            let Some(exercise) = exercise_card(card, id) else {
                continue;
            };
            let kind = match exercise.status {
                ExerciseStatus::InvalidSubmission => Some(TroubleKind::InvalidSubmission),
                ExerciseStatus::CompileError => Some(TroubleKind::CompileError),
                ExerciseStatus::RulesViolation => Some(TroubleKind::RulesViolation),
                ExerciseStatus::Graded | ExerciseStatus::NotFound => None,
            };
            if let Some(kind) = kind {
                trouble.push(Trouble {
                    kind,
                    student,
                    exercise: id.clone(),
                    check: None,
                    message: exercise.message.clone(),
                });
            }
            for check in &exercise.checks {
                let kind = match check.status {
                    CheckStatus::Timeout => TroubleKind::Timeout,
                    CheckStatus::Crash => TroubleKind::Crash,
                    CheckStatus::Error => TroubleKind::GraderError,
                    _ => continue,
                };
                trouble.push(Trouble {
                    kind,
                    student,
                    exercise: id.clone(),
                    check: Some(check.name.clone()),
                    message: check.message.clone(),
                });
            }
        }
    }
    trouble.sort_by_key(|t| t.kind);

    let (identical, similar, similar_total, unfingerprinted) = similarity(class);

    let mut notes: Vec<Vec<&'static str>> = vec![Vec::new(); rows.len()];
    for t in &trouble {
        let note = match t.kind {
            TroubleKind::GraderError => "grader error",
            TroubleKind::InvalidSubmission => "invalid",
            TroubleKind::Timeout => "timeout",
            TroubleKind::Crash => "crash",
            TroubleKind::CompileError => "compile error",
            TroubleKind::RulesViolation => "rules",
        };
        if !notes[t.student].contains(&note) {
            notes[t.student].push(note);
        }
    }
    for group in &identical {
        let note = if group.solution {
            "= solution"
        } else {
            "identical"
        };
        for &s in &group.students {
            if !notes[s].contains(&note) {
                notes[s].push(note);
            }
        }
    }
    for pair in &similar {
        for &s in pair.a.iter().chain(&pair.b) {
            if !notes[s].contains(&"similar") {
                notes[s].push("similar");
            }
        }
    }

    Analysis {
        total,
        exercises,
        checks,
        trouble,
        identical,
        similar,
        similar_total,
        unfingerprinted,
        notes,
    }
}

type Similarity = (Vec<IdenticalGroup>, Vec<SimilarPair>, usize, usize);

/// Byte-identical sources (same `source_sha256`) and near-identical ones (Jaccard of their
/// fingerprints without the stub's sequences), per exercise. The untouched stub and missing
/// files are nobody's copy.
fn similarity(class: &Class) -> Similarity {
    let mut identical = Vec::new();
    let mut similar = Vec::new();
    let mut unfingerprinted = 0;
    for id in &class.summary.exercises {
        let baseline = class.baselines.get(id);
        let stub_sha = baseline.map_or("", |b| b.stub_sha256.as_str());
        let solution_sha = baseline.map_or("", |b| b.solution_sha256.as_str());
        let empty = Fingerprint::default();
        let stub = baseline.map_or(&empty, |b| &b.stub);
        let solution = baseline.map(|b| b.solution.without(stub));

        let mut sources: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (student, card) in class.cards.iter().enumerate() {
            let Some(exercise) = exercise_card(card, id) else {
                continue;
            };
            let sha = exercise.source_sha256.as_str();
            if sha.is_empty() || sha == stub_sha {
                continue;
            }
            sources.entry(sha).or_default().push(student);
        }
        for (sha, students) in &sources {
            let solution = *sha == solution_sha;
            if students.len() > 1 || solution {
                identical.push(IdenticalGroup {
                    exercise: id.clone(),
                    students: students.clone(),
                    solution,
                });
            }
        }

        // One fingerprint per distinct source, smallest first.
        let mut prints: Vec<(Fingerprint, &Vec<usize>)> = Vec::new();
        for students in sources.values() {
            match class.fingerprints[students[0]].get(id) {
                Some(print) => {
                    let own = print.without(stub);
                    if own.len() >= MIN_OWN {
                        prints.push((own, students));
                    }
                }
                None => unfingerprinted += 1,
            }
        }
        prints.sort_by_key(|(p, _)| p.len());
        let near_solution: Vec<bool> = prints
            .iter()
            .map(|(p, _)| solution.as_ref().is_some_and(|s| p.jaccard(s) >= SIMILAR))
            .collect();
        let found: Vec<SimilarPair> = (0..prints.len())
            .into_par_iter()
            .flat_map_iter(|i| {
                let (a, students_a) = &prints[i];
                let prints = &prints;
                let near_solution = &near_solution;
                // Jaccard is at most |a| / |b|: past that size, nothing is similar enough.
                (i + 1..prints.len())
                    .take_while(move |&j| a.len() as f64 >= SIMILAR * prints[j].0.len() as f64)
                    .filter_map(move |j| {
                        let (b, students_b) = &prints[j];
                        let similarity = a.jaccard(b);
                        (similarity >= SIMILAR).then(|| SimilarPair {
                            exercise: id.clone(),
                            a: (*students_a).clone(),
                            b: (*students_b).clone(),
                            similarity,
                            near_solution: near_solution[i] && near_solution[j],
                        })
                    })
            })
            .collect();
        similar.extend(found);
    }
    similar.sort_by(|x, y| {
        y.similarity
            .total_cmp(&x.similarity)
            .then_with(|| (&x.exercise, &x.a, &x.b).cmp(&(&y.exercise, &y.a, &y.b)))
    });
    let total = similar.len();
    similar.truncate(MAX_PAIRS);
    (identical, similar, total, unfingerprinted)
}
