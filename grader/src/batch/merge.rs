//! `merge`: the outputs of a class's shards joined into one, as if one batch had graded the
//! whole class. Shards that cannot be joined honestly are refused, with why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::summary::{self, Row, Summary};
use super::{fingerprint, report};
use crate::catalog::Catalog;
use crate::scorecard::{write_atomic, Format, Previous, Scorecard};

pub struct Merged {
    pub summary: Summary,
    /// Shards of `K/N` that were not given (merged anyway only when allowed).
    pub missing_shards: Vec<String>,
}

/// Joins `inputs` into `out`. Refuses shards graded by another grader or other checks,
/// or of other exercises, a submission graded differently in two of them, and (unless
/// `partial`) a set of shards with one missing. Writes the instructor's page of the whole.
pub fn merge(catalog: &Catalog, inputs: &[PathBuf], out: &Path, partial: bool) -> Result<Merged> {
    if inputs.is_empty() {
        bail!("nothing to merge: name the shards' output folders");
    }
    let summaries = inputs
        .iter()
        .map(|dir| summary::read(dir))
        .collect::<Result<Vec<_>>>()?;
    let first = &summaries[0];
    for (dir, other) in inputs.iter().zip(&summaries).skip(1) {
        let differs = |what: &str, a: &str, b: &str| {
            anyhow::anyhow!(
                "{} was graded with {what} {b}, {} with {a}: shards graded differently cannot \
                 be merged (grade them again with one grader)",
                dir.display(),
                inputs[0].display()
            )
        };
        if other.grader_version != first.grader_version {
            return Err(differs(
                "grader version",
                &first.grader_version,
                &other.grader_version,
            ));
        }
        if other.checks_sha256 != first.checks_sha256 {
            return Err(differs(
                "checks",
                &first.checks_sha256[..12],
                &other.checks_sha256[..12.min(other.checks_sha256.len())],
            ));
        }
        if other.exercises != first.exercises {
            return Err(differs(
                "exercises",
                &first.exercises.join(" "),
                &other.exercises.join(" "),
            ));
        }
    }
    let missing_shards = missing(&summaries)?;
    if !missing_shards.is_empty() && !partial {
        bail!(
            "shard {} missing: merge every shard, or pass --partial to merge these anyway",
            missing_shards.join(", ")
        );
    }

    // Every submission once; one graded in two shards must have the same results in both.
    let mut rows: BTreeMap<String, (Row, Scorecard, &PathBuf)> = BTreeMap::new();
    for (dir, summary) in inputs.iter().zip(&summaries) {
        for row in &summary.submissions {
            let card = read_card(dir, &row.name)?;
            if let Some((seen, seen_card, seen_dir)) = rows.get(&row.name) {
                if seen != row || !same_results(seen_card, &card) {
                    bail!(
                        "{} was graded in both {} ({} points) and {} ({} points), with different \
                         results: grade it again and merge that",
                        row.name,
                        seen_dir.display(),
                        seen.score,
                        dir.display(),
                        row.score
                    );
                }
                continue;
            }
            rows.insert(row.name.clone(), (row.clone(), card, dir));
        }
    }

    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut named = Vec::new();
    for (name, (_, card, dir)) in &rows {
        write_atomic(
            &out.join(format!("{name}.toml")),
            &card.render(Format::Toml)?,
        )?;
        let json = dir.join(format!("{name}.json"));
        if json.exists() {
            write_atomic(
                &out.join(format!("{name}.json")),
                &card.render(Format::Gradescope)?,
            )?;
        }
        let prints = fingerprint::path(dir, name);
        if prints.exists() {
            let text = std::fs::read_to_string(&prints)
                .with_context(|| format!("reading {}", prints.display()))?;
            write_atomic(&fingerprint::path(out, name), &text)?;
        }
        named.push((name.clone(), card.clone()));
    }
    let summary = Summary {
        shard: None,
        submissions: rows.into_values().map(|(row, _, _)| row).collect(),
        ..first.clone()
    };
    summary::write(out, &summary, &named)?;
    report::write(out, catalog)?;
    Ok(Merged {
        summary,
        missing_shards,
    })
}

fn read_card(dir: &Path, name: &str) -> Result<Scorecard> {
    let path = dir.join(format!("{name}.toml"));
    match Scorecard::load_readonly(&path) {
        Previous::Card(card) => Ok(card),
        _ => bail!(
            "{} is listed in {}'s summary but its scorecard {} cannot be read",
            name,
            dir.display(),
            path.display()
        ),
    }
}

/// Same verdicts (times and dates aside).
fn same_results(a: &Scorecard, b: &Scorecard) -> bool {
    let verdicts = |card: &Scorecard| {
        card.exercises
            .iter()
            .map(|e| {
                let checks: Vec<_> = e
                    .checks
                    .iter()
                    .map(|c| (c.name.clone(), c.status, c.score, c.seed))
                    .collect();
                (
                    e.id.clone(),
                    e.status,
                    e.score,
                    e.source_sha256.clone(),
                    checks,
                )
            })
            .collect::<Vec<_>>()
    };
    verdicts(a) == verdicts(b)
}

/// The shards of `K/N` not among `summaries`; refuses a mix of N or a whole output among
/// shards.
fn missing(summaries: &[Summary]) -> Result<Vec<String>> {
    let shards: Vec<Option<super::Shard>> = summaries
        .iter()
        .map(|s| s.shard.as_deref().map(str::parse).transpose())
        .collect::<Result<_, String>>()
        .map_err(|e| anyhow::anyhow!("a summary names its shard badly: {e}"))?;
    let Some(count) = shards.iter().flatten().map(|s| s.count).next() else {
        return Ok(Vec::new());
    };
    if shards.iter().any(|s| s.is_none_or(|s| s.count != count)) {
        bail!("the outputs are not all shards of one split into {count}");
    }
    Ok((0..count)
        .filter(|k| !shards.iter().flatten().any(|s| s.index == *k))
        .map(|k| format!("{k}/{count}"))
        .collect())
}
