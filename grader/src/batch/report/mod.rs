//! The instructor's report, `OUT/report.html`: one self-contained page (inline SVG and CSS, no
//! script, no network) made from a batch's `summary.toml`, scorecards and fingerprints alone,
//! so `batch`, `merge` and `cargo xtask report` write the same page for the same results.
//!
//! [`analysis`] computes the numbers, [`charts`] draws them with plotters, [`html`] lays the page
//! out, escaping every string a student could have written.

pub mod analysis;
mod charts;
mod html;
pub mod synthetic;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::fingerprint::{self, Fingerprint};
use super::summary::{self, Summary};
use crate::catalog::Catalog;
use crate::scorecard::{write_atomic, Previous, Scorecard};

pub use html::escape;

/// What a report is made from.
pub struct Class<'a> {
    pub catalog: &'a Catalog,
    pub summary: &'a Summary,
    /// The scorecards of `summary.submissions`, in that order.
    pub cards: &'a [Scorecard],
    /// Per submission: exercise id → fingerprint of the source its scorecard graded.
    pub fingerprints: &'a [BTreeMap<String, Fingerprint>],
    pub baselines: &'a BTreeMap<String, Baseline>,
}

/// What every student of an exercise starts from, and the reference answer.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    pub stub_sha256: String,
    pub stub: Fingerprint,
    pub solution_sha256: String,
    pub solution: Fingerprint,
}

impl Baseline {
    /// The stubs and solutions of `ids` in the catalog's workspace (empty when unreadable).
    pub fn load(catalog: &Catalog, ids: &[String]) -> BTreeMap<String, Baseline> {
        let read = |folder: &str, id: &str| {
            let code =
                std::fs::read_to_string(catalog.root.join(folder).join(id).join("src/lib.rs"))
                    .unwrap_or_default();
            if code.is_empty() {
                return (String::new(), Fingerprint::default());
            }
            (
                crate::sha256_hex(code.as_bytes()),
                Fingerprint::of(&code).unwrap_or_default(),
            )
        };
        ids.iter()
            .map(|id| {
                let (stub_sha256, stub) = read("exercises", id);
                let (solution_sha256, solution) = read("solutions", id);
                let baseline = Baseline {
                    stub_sha256,
                    stub,
                    solution_sha256,
                    solution,
                };
                (id.clone(), baseline)
            })
            .collect()
    }
}

pub fn path(out: &Path) -> PathBuf {
    out.join("report.html")
}

/// Writes `OUT/report.html` from the batch output in `out`.
pub fn write(out: &Path, catalog: &Catalog) -> Result<PathBuf> {
    let summary = summary::read(out)?;
    let mut cards = Vec::new();
    let mut prints = Vec::new();
    for row in &summary.submissions {
        let file = out.join(format!("{}.toml", row.name));
        let Previous::Card(card) = Scorecard::load_readonly(&file) else {
            bail!(
                "{} is listed in the summary but its scorecard {} cannot be read",
                row.name,
                file.display()
            );
        };
        prints.push(fingerprint::load(out, &row.name, &card));
        cards.push(card);
    }
    let baselines = Baseline::load(catalog, &summary.exercises);
    let page = render(&Class {
        catalog,
        summary: &summary,
        cards: &cards,
        fingerprints: &prints,
        baselines: &baselines,
    })?;
    let path = path(out);
    write_atomic(&path, &page)?;
    Ok(path)
}

/// The page.
pub fn render(class: &Class) -> Result<String> {
    let analysis = analysis::analyse(class);
    html::page(class, &analysis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::CheckStatus;

    fn catalog() -> Catalog {
        Catalog::load(&crate::workspace_root()).unwrap()
    }

    fn render_synthetic(catalog: &Catalog, students: usize) -> (synthetic::SyntheticClass, String) {
        let class = synthetic::class(catalog, students, 42);
        let baselines = Baseline::load(catalog, &class.summary.exercises);
        let page = render(&Class {
            catalog,
            summary: &class.summary,
            cards: &class.cards,
            fingerprints: &class.fingerprints,
            baselines: &baselines,
        })
        .unwrap();
        (class, page)
    }

    #[test]
    fn report_of_300_students_is_under_a_megabyte() {
        let catalog = catalog();
        let started = std::time::Instant::now();
        let (class, page) = render_synthetic(&catalog, 300);
        let checks: usize = class.cards[0]
            .exercises
            .iter()
            .map(|e| e.checks.len())
            .sum();
        eprintln!(
            "report of 300 students × {checks} checks: {} bytes, rendered in {:.2?}",
            page.len(),
            started.elapsed()
        );
        assert!(checks > 100, "every exercise's checks: {checks}");
        if let Ok(path) = std::env::var("LOCKSMITH_REPORT_SAMPLE") {
            std::fs::write(path, &page).unwrap();
        }
        assert!(page.len() < 1_000_000, "{} bytes", page.len());
        // Everyone has a row and a detail.
        assert_eq!(page.matches("<tr class=\"student\"").count(), 300);
        assert_eq!(page.matches("<section class=\"student\"").count(), 300);
    }

    #[test]
    fn report_is_self_contained() {
        let (_, page) = render_synthetic(&catalog(), 12);
        for banned in [
            "<script", "<link", "<img", "<iframe", "src=", "@import", "url(",
        ] {
            assert!(!page.contains(banned), "the page holds {banned}");
        }
        // The SVG namespace is a name, not a fetch; nothing else names a host.
        assert_eq!(
            page.matches("http").count(),
            page.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
        );
        assert!(page.contains("@media print"));
    }

    #[test]
    fn report_numbers_are_the_summarys() {
        let (class, page) = render_synthetic(&catalog(), 20);
        for row in &class.summary.submissions {
            let scores: Vec<String> = row.scores.iter().map(|s| format!("{s}")).collect();
            let attributes = format!(
                "data-name=\"{}\" data-total=\"{}\" data-scores=\"{}\"",
                row.name,
                row.score,
                scores.join(" ")
            );
            assert!(page.contains(&attributes), "{attributes}");
        }
    }

    #[test]
    fn report_escapes_what_students_wrote() {
        let catalog = catalog();
        let mut class = synthetic::class(&catalog, 3, 7);
        let hostile = "<script>alert('x')</script></svg></pre><img src=x onerror=alert(1)>";
        class.summary.submissions[0].name = format!("\"><marquee>{hostile}");
        let check = &mut class.cards[1].exercises[0].checks[0];
        check.status = CheckStatus::Fail;
        check.message = hostile.to_string();
        class.cards[2].exercises[0].message = hostile.to_string();
        class.cards[2].exercises[0].status = crate::outcome::ExerciseStatus::CompileError;
        let baselines = Baseline::load(&catalog, &class.summary.exercises);
        let page = render(&Class {
            catalog: &catalog,
            summary: &class.summary,
            cards: &class.cards,
            fingerprints: &class.fingerprints,
            baselines: &baselines,
        })
        .unwrap();
        for raw in ["<script", "<img", "</svg></pre>", "<marquee"] {
            assert!(!page.contains(raw), "{raw} reached the page unescaped");
        }
        assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(page.contains("data-name=\"&quot;&gt;&lt;marquee&gt;"));
        assert_eq!(escape("a&b\u{7}"), "a&amp;b\u{fffd}");
    }
}
