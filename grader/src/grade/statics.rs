//! The checks that read code rather than run it: the rules (before the build, on the bytes
//! read once) and, after the build, whether the code compiles against the curriculum's API and
//! how the api cases fared.

use crate::build::{BuildReport, Diagnostic};
use crate::catalog::{CheckSpec, Exercise};
use crate::outcome::{CheckStatus, ExerciseStatus, SkipReason};
use crate::stage::StagedExercise;

/// A static check's result: status, message, and why it was skipped.
pub type Static = (CheckStatus, String, Option<SkipReason>);

/// What the rules found: the rules check's result, and the exercise's violation message.
pub struct Rules {
    pub check: Static,
    pub violation: Option<String>,
}

pub fn rules(exercise: &Exercise, code: &str, shown: &str) -> Rules {
    match crate::rules::check(code, &exercise.allowed) {
        Ok(violations) if violations.is_empty() => Rules {
            check: (CheckStatus::Pass, String::new(), None),
            violation: None,
        },
        Ok(violations) => {
            let list: Vec<String> = violations
                .iter()
                .map(|v| format!("line {}: {} ({})", v.line, v.item, v.reason))
                .collect();
            Rules {
                check: (CheckStatus::Fail, list.join("; "), None),
                violation: Some(format!(
                    "{shown} uses building blocks {} may not use, so it scores 0 \
                     (the other checks still ran, to show what works):\n{}",
                    exercise.id,
                    list.join("\n")
                )),
            }
        }
        Err(parse) => Rules {
            check: (
                CheckStatus::Skipped,
                format!("{} ({parse})", SkipReason::DoesNotParse.message()),
                Some(SkipReason::DoesNotParse),
            ),
            violation: None,
        },
    }
}

/// `Some((CompileError, why))` when the library or its check binary did not build.
pub fn compile_error(
    staged: &StagedExercise,
    build: &BuildReport,
    shown: &str,
) -> Option<(ExerciseStatus, String)> {
    if let Some(package) = [&staged.lib_package, &staged.check_package]
        .into_iter()
        .find(|p| build.stopped.contains(*p))
    {
        let what = if *package == staged.lib_package {
            ""
        } else {
            " (the hidden checks built against it)"
        };
        return Some((
            ExerciseStatus::CompileError,
            format!(
                "the compiler ran for more than {}s on {shown}{what} and was stopped: code that keeps \
                 the compiler busy (an endless const evaluation, say) cannot be graded",
                crate::build::compile_limit().as_secs()
            ),
        ));
    }
    let lib_errors = build.errors.get(&staged.lib_package);
    let check_errors = build.errors.get(&staged.check_package);
    let compiles =
        lib_errors.is_none_or(Vec::is_empty) && build.built.contains(&staged.lib_package);
    if !compiles {
        return Some((
            ExerciseStatus::CompileError,
            compiler_errors(lib_errors, staged, shown),
        ));
    }
    if !build.executables.contains_key(&staged.check_package) {
        return Some((
            ExerciseStatus::CompileError,
            format!(
                "{shown} compiles, but its public API does not match the curriculum \
                 (the hidden checks cannot be built against it):\n{}",
                compiler_errors(check_errors, staged, shown)
            ),
        ));
    }
    None
}

pub fn api(spec: &CheckSpec, staged: &StagedExercise, build: &BuildReport) -> Static {
    match crate::api::judge(spec, &staged.api_crates, build) {
        Ok(()) => (CheckStatus::Pass, String::new(), None),
        Err(why) => (CheckStatus::Fail, why, None),
    }
}

/// The first compiler errors, with the stage's paths replaced by the learner's.
fn compiler_errors(
    errors: Option<&Vec<Diagnostic>>,
    staged: &StagedExercise,
    shown: &str,
) -> String {
    let Some(errors) = errors.filter(|e| !e.is_empty()) else {
        return "the build failed without a compiler error (see `cargo build` output)".into();
    };
    let mut text = String::new();
    for error in errors.iter().take(3) {
        let rendered = if error.rendered.is_empty() {
            &error.message
        } else {
            &error.rendered
        };
        text.push_str(rendered);
        if !rendered.ends_with('\n') {
            text.push('\n');
        }
    }
    if errors.len() > 3 {
        text.push_str(&format!("... and {} more errors\n", errors.len() - 3));
    }
    text.replace(&staged.lib_path.display().to_string(), shown)
        .replace(&staged.lib_relative, shown)
}
