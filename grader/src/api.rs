//! Judges api cases by the error codes rustc reported inside each case.

use crate::build::{BuildReport, Diagnostic};
use crate::catalog::CheckSpec;
use crate::stage::ApiCrate;

/// Whether the check's cases all behaved, and if not, why the first one did not.
pub fn judge(check: &CheckSpec, crates: &[ApiCrate], report: &BuildReport) -> Result<(), String> {
    for case in &check.cases {
        let Some((krate, first, last)) = crates.iter().find_map(|krate| {
            krate
                .cases
                .iter()
                .find(|(c, name, _, _)| c == &check.name && name == &case.name)
                .map(|(_, _, first, last)| (krate, *first, *last))
        }) else {
            return Err(format!("case {} was not staged (grader bug)", case.name));
        };
        let errors: Vec<&Diagnostic> = report
            .errors
            .get(&krate.folder)
            .into_iter()
            .flatten()
            .filter(|d| d.file.ends_with(&krate.file) && (first..=last).contains(&d.line))
            .collect();
        let describe =
            |d: &Diagnostic| format!("{}: {}", d.code.as_deref().unwrap_or("error"), d.message);
        if case.expect.is_empty() {
            if let Some(error) = errors.first() {
                return Err(format!(
                    "`{}` must compile, but: {}",
                    case.name,
                    describe(error)
                ));
            }
            continue;
        }
        if errors.is_empty() {
            return Err(format!(
                "`{}` compiles, but must be rejected by the compiler ({})",
                case.name,
                case.expect.join(" or ")
            ));
        }
        if let Some(wrong) = errors
            .iter()
            .find(|d| !d.code.as_ref().is_some_and(|c| case.expect.contains(c)))
        {
            return Err(format!(
                "`{}` is rejected for the wrong reason ({}; expected {})",
                case.name,
                describe(wrong),
                case.expect.join(" or ")
            ));
        }
    }
    Ok(())
}
