//! The page: overview, distributions, checks, trouble, similar sources, heat map, students, and
//! each student's detail. Every string from a scorecard (names, messages, compiler output) is
//! student-controlled and goes through [`escape`]; ids are the submission's position, never
//! its name.

use std::fmt::Write as _;

use anyhow::Result;

use super::analysis::{
    self, failed, Analysis, CheckStats, TroubleKind, MAX_PAIRS, MIN_OWN, SIMILAR,
};
use super::charts;
use super::Class;
use crate::batch::fingerprint::SEQUENCE;
use crate::catalog::Category;
use crate::outcome::{CheckStatus, ExerciseStatus};
use crate::scorecard::cap;

/// Text for HTML, in an element or a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters have no business on the page (and some are not valid HTML).
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn number(x: f64) -> String {
    format!("{x}")
}

fn percent(part: usize, whole: usize) -> String {
    if whole == 0 {
        "–".to_string()
    } else {
        format!("{:.0} %", 100.0 * part as f64 / whole as f64)
    }
}

/// A word a shell reads as itself: names made by the batch need no quotes; anything else is
/// single-quoted.
fn shell_word(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Heat map and detail: a letter or mark, a class for its colour, and a word.
fn status_mark(status: CheckStatus) -> (char, &'static str, &'static str) {
    match status {
        CheckStatus::Pass => ('.', "p", "pass"),
        CheckStatus::Fail => ('F', "f", "fail"),
        CheckStatus::Panic => ('P', "f", "panic"),
        CheckStatus::Timeout => ('T', "t", "timeout"),
        CheckStatus::Crash => ('C', "c", "crash"),
        CheckStatus::NotImplemented => ('N', "n", "todo"),
        CheckStatus::Skipped => ('-', "s", "not run"),
        CheckStatus::Error => ('!', "e", "error"),
    }
}

fn symbol(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Pass => "✔",
        CheckStatus::Fail | CheckStatus::Panic | CheckStatus::Crash => "✘",
        CheckStatus::Timeout => "⧗",
        CheckStatus::NotImplemented => "…",
        CheckStatus::Skipped => "·",
        CheckStatus::Error => "!",
    }
}

/// For a cell of the students table.
fn short_words(status: ExerciseStatus) -> &'static str {
    match status {
        ExerciseStatus::Graded => "",
        ExerciseStatus::CompileError => "no build",
        ExerciseStatus::NotFound => "absent",
        ExerciseStatus::RulesViolation => "rules",
        ExerciseStatus::InvalidSubmission => "invalid",
    }
}

fn exercise_words(status: ExerciseStatus) -> &'static str {
    match status {
        ExerciseStatus::Graded => "graded",
        ExerciseStatus::CompileError => "does not compile",
        ExerciseStatus::NotFound => "not found",
        ExerciseStatus::RulesViolation => "rules violation",
        ExerciseStatus::InvalidSubmission => "invalid submission",
    }
}

const STYLE: &str = r#"
:root{--ink:#1c1c1e;--mute:#5f6368;--line:#d9d9de;--pass:#d7ecd9;--fail:#b3261e;--time:#7b3fa0;--crash:#6d1b14;--todo:#f2d675;--skip:#ececec;--err:#e8710a}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--ink);margin:0 auto;max-width:1240px;padding:0 18px 40px}
h1{font-size:1.6em;margin:.6em 0 .1em}h2{font-size:1.3em;margin:1.6em 0 .4em;border-bottom:2px solid var(--ink)}
h3{font-size:1.05em;margin:1.1em 0 .3em}h4{font-size:1em;margin:.8em 0 .2em}
p.lead,.mute{color:var(--mute)}
nav{position:sticky;top:0;background:#fff;border-bottom:1px solid var(--line);padding:4px 0;z-index:1}
nav a{margin-right:1em}
a{color:#1a56a6}
table{border-collapse:collapse;margin:.4em 0 1em}
th,td{padding:2px 8px;text-align:left;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:.6em 0}
.card{border:1px solid var(--line);border-radius:6px;padding:6px 12px;min-width:120px}
.card b{display:block;font-size:1.5em}
.figs{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start}
figure{margin:0}svg{max-width:100%;height:auto}
.rate{display:inline-block;width:120px;height:.9em;border:1px solid var(--ink);vertical-align:middle;margin-right:6px;background:#fff}
.rate i{display:block;height:100%;background:repeating-linear-gradient(45deg,var(--fail) 0 3px,#e8a29c 3px 5px)}
tr.cat th{background:#f3f3f5;font-weight:600}
.hint{color:var(--mute);max-width:34em}
pre,code{font:12px/1.35 ui-monospace,"DejaVu Sans Mono",monospace}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f6f8;border:1px solid var(--line);padding:4px 6px;margin:.2em 0;max-width:100%}
td.msg{overflow-wrap:anywhere;max-width:52em}
td.msg code{display:block;margin-bottom:1px}
.hm{font:11px/1.2 ui-monospace,"DejaVu Sans Mono",monospace}
.hmwrap{overflow-x:auto}
.hm th,.hm td{padding:0 6px 0 0;border:0;white-space:pre;font-weight:normal}
.hm td.cells,.hm tr.ids td{letter-spacing:calc(10px - 1ch);padding:0}
.hm td.cells{background:var(--pass);color:#2e6b34}
.hm i{font-style:normal}
.hm .head td{padding:0;font-size:9px;line-height:1}
.hm .head span{display:inline-block;width:10px;writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;line-height:10px}
.hm .head b{display:inline-block;width:10px}
.p{background:var(--pass);color:#2e6b34}.f{background:var(--fail);color:#fff}.t{background:var(--time);color:#fff}
.c{background:var(--crash);color:#fff}.n{background:var(--todo);color:#000}.s{background:var(--skip);color:#777}.e{background:var(--err);color:#000}
.legend span{display:inline-block;margin-right:1em}.legend i{font:11px ui-monospace,monospace;font-style:normal;padding:0 3px}
#marks th,#marks td{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
#marks td:first-child,#marks th:first-child,#marks td:last-child,#marks th.notes{text-align:left}
#marks i{font-style:normal;color:var(--mute);font-size:.85em}
.flag{display:inline-block;border:1px solid var(--ink);border-radius:3px;padding:0 4px;margin:0 2px 2px 0;font-size:.85em}
section.student{border-top:1px solid var(--line);margin-top:1em}
@media print{
nav{display:none}body{max-width:none;font-size:9.5pt;padding:0}a{color:inherit;text-decoration:none}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
h2,h3,h4{break-after:avoid}figure,tr,section.student{break-inside:avoid}
pre{white-space:pre-wrap}
}
"#;

pub fn page(class: &Class, analysis: &Analysis) -> Result<String> {
    let mut out = String::with_capacity(256 * 1024);
    let summary = class.summary;
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Class report: {} submissions</title><style>{STYLE}</style></head><body>\n",
        summary.submissions.len()
    );
    out.push_str(
        "<nav><a href=\"#overview\">Overview</a><a href=\"#scores\">Scores</a>\
         <a href=\"#checks\">Checks</a><a href=\"#trouble\">Trouble</a>\
         <a href=\"#similar\">Similar sources</a><a href=\"#heatmap\">Heat map</a>\
         <a href=\"#students\">Students</a></nav>\n",
    );
    let _ = writeln!(
        out,
        "<h1 id=\"overview\">Class report</h1><p class=\"lead\">{} submissions · exercises {} · \
         grader {} · checks {}{}</p>",
        summary.submissions.len(),
        escape(&summary.exercises.join(", ")),
        escape(&summary.grader_version),
        escape(&summary.checks_sha256.chars().take(12).collect::<String>()),
        summary
            .shard
            .as_deref()
            .map_or(String::new(), |s| format!(" · shard {}", escape(s)))
    );
    overview(&mut out, analysis);
    scores(&mut out, analysis)?;
    checks(&mut out, analysis)?;
    trouble(&mut out, class, analysis);
    similar(&mut out, class, analysis);
    heatmap(&mut out, class, analysis);
    students(&mut out, class, analysis);
    details(&mut out, class);
    out.push_str("</body></html>\n");
    Ok(out)
}

fn overview(out: &mut String, analysis: &Analysis) {
    let d = &analysis.total;
    let count = |kind: TroubleKind| analysis.trouble.iter().filter(|t| t.kind == kind).count();
    let card = |out: &mut String, value: String, label: &str, href: Option<&str>| {
        let label = match href {
            Some(href) => format!("<a href=\"#{href}\">{label}</a>"),
            None => label.to_string(),
        };
        let _ = write!(out, "<div class=\"card\"><b>{value}</b>{label}</div>");
    };
    out.push_str("<div class=\"cards\">");
    card(out, d.count.to_string(), "submissions", Some("students"));
    card(
        out,
        format!("{} / {}", number(d.mean), number(d.max_score)),
        "mean",
        None,
    );
    card(out, number(d.median), "median", None);
    card(
        out,
        format!("{} ({})", d.full, percent(d.full, d.count)),
        "full marks",
        None,
    );
    card(out, d.zero.to_string(), "scored zero", None);
    for kind in TroubleKind::ALL {
        let n = count(kind);
        if n > 0 || matches!(kind, TroubleKind::GraderError | TroubleKind::Timeout) {
            card(
                out,
                n.to_string(),
                &kind.title().to_lowercase(),
                Some(kind.anchor()),
            );
        }
    }
    card(
        out,
        analysis.identical.len().to_string(),
        "groups of identical sources",
        Some("identical"),
    );
    card(
        out,
        analysis.similar_total.to_string(),
        "near-identical pairs",
        Some("near"),
    );
    out.push_str("</div>\n");
}

fn distribution_row(out: &mut String, label: &str, d: &analysis::Distribution) {
    let _ = write!(
        out,
        "<tr><th>{label}</th><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td>",
        d.count,
        number(d.mean),
        number(d.median),
        d.full,
        d.zero
    );
    for n in d.bins {
        let _ = write!(out, "<td class=\"num\">{n}</td>");
    }
    out.push_str("</tr>\n");
}

fn scores(out: &mut String, analysis: &Analysis) -> Result<()> {
    out.push_str("<h2 id=\"scores\">Scores</h2>\n<div class=\"figs\">");
    let _ = write!(
        out,
        "<figure>{}</figure>",
        charts::histogram(
            &format!("Total score of {} submissions", analysis.total.count),
            &analysis.total.bins,
            (560, 300)
        )?
    );
    out.push_str("</div><div class=\"figs\">");
    for exercise in &analysis.exercises {
        let _ = write!(
            out,
            "<figure>{}</figure>",
            charts::histogram(&exercise.id, &exercise.distribution.bins, (290, 190))?
        );
    }
    out.push_str(
        "</div>\n<table><tr><th></th><th class=\"num\">submissions</th><th class=\"num\">mean</th>\
         <th class=\"num\">median</th><th class=\"num\">full marks</th><th class=\"num\">zero</th>",
    );
    for i in 0..10 {
        let _ = write!(
            out,
            "<th class=\"num\">{}–{}{}</th>",
            i * 10,
            i * 10 + 10,
            if i == 9 { "" } else { "⁻" }
        );
    }
    out.push_str("</tr>\n");
    distribution_row(out, "total", &analysis.total);
    for exercise in &analysis.exercises {
        distribution_row(out, &escape(&exercise.id), &exercise.distribution);
    }
    out.push_str(
        "</table><p class=\"mute\">Bins are shares of the maximum: 0–10⁻ holds scores from 0 \
         up to but not including 10 %; 90–100 includes full marks.</p>\n",
    );

    out.push_str("<table><tr><th>exercise</th><th></th>");
    let statuses = [
        ExerciseStatus::Graded,
        ExerciseStatus::CompileError,
        ExerciseStatus::RulesViolation,
        ExerciseStatus::NotFound,
        ExerciseStatus::InvalidSubmission,
    ];
    for status in statuses {
        let _ = write!(out, "<th class=\"num\">{}</th>", exercise_words(status));
    }
    out.push_str("</tr>\n");
    for exercise in &analysis.exercises {
        let _ = write!(
            out,
            "<tr><th>{}</th><td>{}</td>",
            escape(&exercise.id),
            escape(&exercise.title)
        );
        for status in statuses {
            let n = exercise
                .statuses
                .iter()
                .find(|(s, _)| *s == status)
                .map_or(0, |(_, n)| *n);
            let _ = write!(out, "<td class=\"num\">{n}</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    Ok(())
}

fn checks(out: &mut String, analysis: &Analysis) -> Result<()> {
    out.push_str(
        "<h2 id=\"checks\">Checks: what the class struggles with</h2>\n<p class=\"lead\">A \
         check's failure rate is the share of the submissions that got that far (passed it or \
         failed it: not stopped at a <code>todo!()</code>, not unrun) that failed it: fail, \
         panic, timeout or crash. Each check's hint says what it teaches.</p>\n",
    );
    let mut ranked: Vec<&CheckStats> = analysis.checks.iter().filter(|c| c.failed() > 0).collect();
    ranked.sort_by(|a, b| {
        b.rate()
            .unwrap_or(0.0)
            .total_cmp(&a.rate().unwrap_or(0.0))
            .then(b.failed().cmp(&a.failed()))
    });
    ranked.truncate(15);
    if !ranked.is_empty() {
        let items: Vec<(String, f64)> = ranked
            .iter()
            .map(|c| {
                (
                    format!("{} {}", c.exercise, c.name),
                    c.rate().unwrap_or(0.0),
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "<figure>{}</figure>",
            charts::rates(
                "The most failed checks (% of those who got that far)",
                &items,
                900
            )?
        );
    }
    let categories = [
        Category::Functionality,
        Category::Robustness,
        Category::Stress,
        Category::Performance,
        Category::Api,
        Category::Rules,
    ];
    for exercise in &analysis.exercises {
        let _ = write!(
            out,
            "<h3 id=\"c-{0}\">{0} <span class=\"mute\">{1}</span></h3>\n<table><tr><th>check</th>\
             <th class=\"num\">points</th><th>failed</th><th class=\"num\">of</th>\
             <th>how</th><th class=\"num\">todo</th><th class=\"num\">not run</th><th>hint</th></tr>\n",
            escape(&exercise.id),
            escape(&exercise.title)
        );
        for category in categories {
            let rows: Vec<&CheckStats> = analysis
                .checks
                .iter()
                .filter(|c| c.exercise == exercise.id && c.category == category)
                .collect();
            if rows.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "<tr class=\"cat\"><th colspan=\"8\">{}</th></tr>",
                category.as_str()
            );
            for check in rows {
                check_row(out, check);
            }
        }
        out.push_str("</table>\n");
    }
    Ok(())
}

fn check_row(out: &mut String, check: &CheckStats) {
    let rate = check.rate();
    let bar = rate.map_or(String::new(), |r| {
        format!("<span class=\"rate\"><i style=\"width:{r:.0}%\"></i></span>")
    });
    let how: Vec<String> = analysis::STATUSES
        .iter()
        .filter(|s| failed(**s) && check.count(**s) > 0)
        .map(|s| format!("{} {}", status_mark(*s).2, check.count(*s)))
        .collect();
    let errors = check.count(CheckStatus::Error);
    let _ = writeln!(
        out,
        "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{bar}{} ({})</td>\
         <td class=\"num\">{}</td><td>{}{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td class=\"hint\">{}</td></tr>",
        escape(&check.name),
        check.points,
        rate.map_or("–".to_string(), |r| format!("{r:.0} %")),
        check.failed(),
        check.tried(),
        how.join(", "),
        if errors > 0 {
            format!(" · grader error {errors}")
        } else {
            String::new()
        },
        check.count(CheckStatus::NotImplemented),
        check.count(CheckStatus::Skipped),
        escape(check.hint.trim())
    );
}

fn student_link(class: &Class, student: usize) -> String {
    format!(
        "<a href=\"#s{student}\">{}</a>",
        escape(&class.summary.submissions[student].name)
    )
}

fn trouble(out: &mut String, class: &Class, analysis: &Analysis) {
    out.push_str(
        "<h2 id=\"trouble\">Trouble: timeouts, crashes, invalid submissions, grader errors</h2>\n",
    );
    let rows = &class.summary.submissions;
    let not_found: usize = analysis
        .exercises
        .iter()
        .flat_map(|e| &e.statuses)
        .filter(|(s, _)| *s == ExerciseStatus::NotFound)
        .map(|(_, n)| n)
        .sum();
    let _ = writeln!(
        out,
        "<p class=\"lead\">{} of {} submissions had a check the grader could not run. {} \
         exercises were not handed in (not found).</p>",
        rows.iter().filter(|r| r.errors > 0).count(),
        rows.len(),
        not_found
    );
    const SHOWN: usize = 40;
    for kind in TroubleKind::ALL {
        let items: Vec<_> = analysis.trouble.iter().filter(|t| t.kind == kind).collect();
        let _ = writeln!(
            out,
            "<h3 id=\"{}\">{} ({})</h3><p class=\"mute\">{}</p>",
            kind.anchor(),
            kind.title(),
            items.len(),
            escape(kind.note())
        );
        if items.is_empty() {
            continue;
        }
        out.push_str("<table><tr><th>submission</th><th>exercise</th><th>check</th><th>what happened</th></tr>\n");
        for item in items.iter().take(SHOWN) {
            let _ = writeln!(
                out,
                "<tr><td>{}<td>{}<td>{}<td class=msg>{}",
                student_link(class, item.student),
                escape(&item.exercise),
                escape(item.check.as_deref().unwrap_or("")),
                escape(&cap(first_lines(&item.message, 2).trim(), 160))
            );
        }
        out.push_str("</table>\n");
        if items.len() > SHOWN {
            let _ = writeln!(
                out,
                "<p class=\"mute\">… and {} more: every one is in <code>checks.csv</code> and \
                 the students' details below.</p>",
                items.len() - SHOWN
            );
        }
    }
}

fn first_lines(text: &str, n: usize) -> &str {
    match text.match_indices('\n').nth(n - 1) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

fn names(class: &Class, students: &[usize]) -> String {
    students
        .iter()
        .map(|&s| student_link(class, s))
        .collect::<Vec<_>>()
        .join(", ")
}

fn similar(out: &mut String, class: &Class, analysis: &Analysis) {
    let _ = write!(
        out,
        "<h2 id=\"similar\">Similar sources</h2>\n<p class=\"lead\">For a human look, never a \
         mark. Sources are compared exercise by exercise; the untouched stub and missing files \
         are nobody's copy.</p>\n<h3 id=\"identical\">Byte-identical ({})</h3>\n",
        analysis.identical.len()
    );
    if analysis.identical.is_empty() {
        out.push_str("<p>No two submissions share a source.</p>\n");
    } else {
        out.push_str("<table><tr><th>exercise</th><th class=\"num\">submissions</th><th>who</th><th></th></tr>\n");
        for group in &analysis.identical {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
                escape(&group.exercise),
                group.students.len(),
                names(class, &group.students),
                if group.solution {
                    "the reference solution, as shipped in <code>solutions/</code>"
                } else {
                    ""
                }
            );
        }
        out.push_str("</table>\n");
    }
    let _ = write!(
        out,
        "<h3 id=\"near\">Near-identical ({})</h3>\n<p class=\"mute\">Each source is read as Rust \
         tokens (comments, doc comments and layout ignored) and cut into every sequence of \
         {SEQUENCE} consecutive tokens; the sequences of the stub are removed. Two sources are \
         flagged when their <b>Jaccard similarity</b> (sequences shared ÷ sequences of either) \
         is at least <b>{:.0} %</b> and they are not byte-identical. Sources with fewer than \
         {MIN_OWN} sequences of their own are not compared.{}</p>\n",
        analysis.similar_total,
        SIMILAR * 100.0,
        if analysis.unfingerprinted > 0 {
            format!(
                " {} distinct sources could not be compared (they do not lex as Rust, or the \
                 batch kept no fingerprint of them).",
                analysis.unfingerprinted
            )
        } else {
            String::new()
        }
    );
    if analysis.similar.is_empty() {
        out.push_str("<p>No pair of sources reaches the threshold.</p>\n");
        return;
    }
    out.push_str("<table><tr><th>exercise</th><th class=\"num\">similarity</th><th>one</th><th>other</th><th></th></tr>\n");
    for pair in &analysis.similar {
        let (a, b) = if pair.a[0] <= pair.b[0] {
            (&pair.a, &pair.b)
        } else {
            (&pair.b, &pair.a)
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{:.0} %</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&pair.exercise),
            (pair.similarity * 100.0).floor(),
            names(class, a),
            names(class, b),
            if pair.near_solution {
                "both this close to the reference solution"
            } else {
                ""
            }
        );
    }
    out.push_str("</table>\n");
    if analysis.similar_total > MAX_PAIRS {
        let _ = writeln!(
            out,
            "<p class=\"mute\">The {MAX_PAIRS} most similar of {} pairs.</p>",
            analysis.similar_total
        );
    }
}

/// The columns of the heat map: every check of every exercise, in checks-file order.
fn columns(analysis: &Analysis) -> Vec<(&str, Vec<&CheckStats>)> {
    analysis
        .exercises
        .iter()
        .map(|e| {
            (
                e.id.as_str(),
                analysis
                    .checks
                    .iter()
                    .filter(|c| c.exercise == e.id)
                    .collect(),
            )
        })
        .collect()
}

fn heatmap(out: &mut String, class: &Class, analysis: &Analysis) {
    let columns = columns(analysis);
    out.push_str(
        "<h2 id=\"heatmap\">Heat map: students × checks</h2>\n<p class=\"lead\">One row per \
         submission, highest total first; one column per check, exercise by exercise (hover a \
         column's name for its exercise). Each cell is a letter:</p><p class=\"legend\">",
    );
    for status in analysis::STATUSES {
        let (letter, class_name, word) = status_mark(status);
        let _ = write!(
            out,
            "<span><i class=\"{class_name}\">{letter}</i> {word}</span>"
        );
    }
    out.push_str(
        "</p>\n<div class=\"hmwrap\"><table class=\"hm\"><tr class=\"head\"><th></th><th></th><td>",
    );
    for (e, (id, checks)) in columns.iter().enumerate() {
        if e > 0 {
            out.push_str("<b></b>");
        }
        for check in checks {
            let _ = write!(
                out,
                "<span title=\"{}\">{}</span>",
                escape(&format!("{id} {}", check.name)),
                escape(&check.name)
            );
        }
    }
    out.push_str("</td></tr>\n<tr class=\"ids\"><th></th><th></th><td>");
    for (e, (id, checks)) in columns.iter().enumerate() {
        if e > 0 {
            out.push(' ');
        }
        // The exercise's number under its columns.
        let label: String = id.chars().take(checks.len().min(2)).collect();
        let _ = write!(
            out,
            "{}{}",
            escape(&label),
            " ".repeat(checks.len() - label.chars().count())
        );
    }
    out.push_str("</td></tr>\n");

    let rows = &class.summary.submissions;
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| rows[b].score.total_cmp(&rows[a].score).then(a.cmp(&b)));
    for student in order {
        let card = &class.cards[student];
        // End tags of cells and rows are implied (HTML): the map stays small for a large
        // class. Passes are the cell's own colour; other runs of one status share a span.
        let _ = write!(
            out,
            "<tr><th>{}<td class=num>{}<td class=cells>",
            student_link(class, student),
            number(rows[student].score)
        );
        for (e, (id, checks)) in columns.iter().enumerate() {
            if e > 0 {
                out.push('│');
            }
            let exercise = analysis::exercise_card(card, id);
            let mut run: Option<(&str, String)> = None;
            let flush = |out: &mut String, run: Option<(&str, String)>| match run {
                Some(("p", text)) => out.push_str(&text),
                Some((c, text)) => {
                    let _ = write!(out, "<i class={c}>{text}</i>");
                }
                None => {}
            };
            for check in checks {
                let status = analysis::check_card(exercise, &check.name)
                    .map_or(CheckStatus::Skipped, |c| c.status);
                let (letter, class_name, _) = status_mark(status);
                match &mut run {
                    Some((c, text)) if *c == class_name => text.push(letter),
                    _ => {
                        flush(out, run.take());
                        run = Some((class_name, letter.to_string()));
                    }
                }
            }
            flush(out, run);
        }
        out.push('\n');
    }
    out.push_str("</table></div>\n");
}

fn students(out: &mut String, class: &Class, analysis: &Analysis) {
    let summary = class.summary;
    out.push_str(
        "<h2 id=\"students\">Students</h2>\n<p class=\"lead\">The marks of \
         <code>summary.csv</code>; a name leads to that submission's checks.</p>\n\
         <table id=\"marks\"><tr><th>submission</th><th>total</th><th>of</th>",
    );
    for id in &summary.exercises {
        let _ = write!(out, "<th>{}</th>", escape(id));
    }
    out.push_str("<th class=notes>to look at</th></tr>\n");
    for (i, row) in summary.submissions.iter().enumerate() {
        let scores: Vec<String> = row.scores.iter().map(|s| number(*s)).collect();
        let _ = write!(
            out,
            "<tr class=\"student\" data-name=\"{}\" data-total=\"{}\" data-scores=\"{}\">\
             <td>{}<td class=total>{}<td>{}",
            escape(&row.name),
            number(row.score),
            scores.join(" "),
            student_link(class, i),
            number(row.score),
            number(row.max_score)
        );
        for (e, score) in scores.iter().enumerate() {
            let status = row
                .statuses
                .get(e)
                .copied()
                .unwrap_or(ExerciseStatus::NotFound);
            let word = if status == ExerciseStatus::Graded {
                String::new()
            } else {
                format!(" <i>{}</i>", short_words(status))
            };
            let _ = write!(out, "<td>{score}{word}");
        }
        out.push_str("<td>");
        for note in &analysis.notes[i] {
            let _ = write!(out, "<span class=flag>{note}</span>");
        }
        out.push('\n');
    }
    out.push_str("</table></div>\n");
}

/// The page's size, about: a large class gets shorter details, so the page stays small enough
/// to mail; the scorecards keep everything.
const PAGE_BUDGET: usize = 850_000;

fn details(out: &mut String, class: &Class) {
    out.push_str(
        "<h2 id=\"details\">Each submission's checks</h2>\n<p class=\"lead\">Exercises short of \
         full marks, with each check that did not pass: what happened and the command that \
         replays it (<code>CLASS</code> is the class folder; unpack an archive into a folder \
         first, and add <code>--scorecard /tmp/NAME.toml</code> to keep your own scorecard as it \
         is). In a large class, when a submission has many failures, the last are only named or \
         counted: <code>OUT/NAME.toml</code> and <code>checks.csv</code> hold every message and \
         seed.</p>\n",
    );
    let rows = &class.summary.submissions;
    for (i, (row, card)) in rows.iter().zip(class.cards).enumerate() {
        // A fair share of what is left: who needs little leaves room for who needs more.
        let share = (PAGE_BUDGET.saturating_sub(out.len()) / (rows.len() - i)).clamp(700, 60_000);
        let start = out.len();
        let _ = writeln!(
            out,
            "<section class=\"student\" id=\"s{i}\"><h3>{} <span class=mute>{} / {}</span> \
             <a href=\"#students\" class=mute>↑</a></h3>",
            escape(&row.name),
            number(row.score),
            number(row.max_score)
        );
        let folder = shell_word(&format!("CLASS/{}", row.name));
        let mut named = Vec::new();
        let mut unnamed = 0;
        // Room for the lines of the exercises still to come, which every submission gets.
        let mut to_come = card
            .exercises
            .iter()
            .filter(|e| e.score < e.max_score || !e.message.trim().is_empty())
            .count();
        for id in &class.summary.exercises {
            let Some(exercise) = analysis::exercise_card(card, id) else {
                let _ = writeln!(out, "<p><b>{}</b> not graded</p>", escape(id));
                continue;
            };
            let full = exercise.score >= exercise.max_score && exercise.max_score > 0.0;
            if full && exercise.message.trim().is_empty() {
                continue;
            }
            to_come = to_come.saturating_sub(1);
            let passed = exercise
                .checks
                .iter()
                .filter(|c| c.status == CheckStatus::Pass)
                .count();
            let _ = writeln!(
                out,
                "<p><b>{}</b> {} · {}/{} · {passed} of {} checks passed</p>",
                escape(id),
                exercise_words(exercise.status),
                number(exercise.score),
                number(exercise.max_score),
                exercise.checks.len(),
            );
            if !exercise.message.trim().is_empty() {
                let _ = writeln!(
                    out,
                    "<pre>{}</pre>",
                    escape(&cap(exercise.message.trim_end(), (share / 3).min(1200)))
                );
            }
            let runtime = exercise.checks.iter().filter(|c| c.category.is_runtime());
            let todo: Vec<&str> = exercise
                .checks
                .iter()
                .filter(|c| c.status == CheckStatus::NotImplemented)
                .map(|c| c.name.as_str())
                .collect();
            if todo.len() == runtime.clone().count() && !todo.is_empty() {
                out.push_str(
                    "<p>Every check stopped at a <code>todo!()</code>: not started.</p>\n",
                );
                continue;
            }
            let mut table = false;
            for check in exercise.checks.iter().filter(|c| {
                !matches!(
                    c.status,
                    CheckStatus::Pass | CheckStatus::Skipped | CheckStatus::NotImplemented
                )
            }) {
                if out.len() - start + 70 * to_come > share {
                    let used = named.iter().map(String::len).sum::<usize>();
                    if used < share / 6 {
                        named.push(format!(
                            "{} {id} {}",
                            symbol(check.status),
                            escape(&check.name)
                        ));
                    } else {
                        unnamed += 1;
                    }
                    continue;
                }
                if !table {
                    out.push_str("<table>\n");
                    table = true;
                }
                let (_, class_name, word) = status_mark(check.status);
                let seed = check.category.is_runtime().then_some(check.seed);
                let replay = format!(
                    "{} --submission {folder}",
                    crate::report::replay(id, &check.name, seed, check.schedule.as_deref())
                );
                // The replay names the check and its seed.
                let _ = writeln!(
                    out,
                    "<tr><td><span class={class_name}>{} {word}</span><td class=num>{}/{}\
                     <td class=msg><code>{}</code>{}",
                    symbol(check.status),
                    number(check.score),
                    number(check.max_score),
                    escape(&replay),
                    escape(&cap(check.message.trim(), 160)),
                );
            }
            if table {
                out.push_str("</table>\n");
            }
            if !todo.is_empty() {
                let list = if out.len() - start > share {
                    format!("{} checks", todo.len())
                } else {
                    escape(&todo.join(", "))
                };
                let _ = writeln!(
                    out,
                    "<p class=more>Stopped at a <code>todo!()</code>: {list}</p>"
                );
            }
        }
        if unnamed > 0 {
            named.push(format!("{unnamed} more"));
        }
        if !named.is_empty() {
            let _ = writeln!(
                out,
                "<p class=more>Also failed (no room for more detail here): {}</p>",
                named.join(", ")
            );
        }
        out.push_str("</section>\n");
    }
}
