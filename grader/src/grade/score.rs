//! Scoring, in one pass over an exercise's typed outcomes.

use crate::catalog::Category;
use crate::outcome::{CheckStatus, ExerciseOutcome, ExerciseStatus};

/// A check scores its points when it passes, except that a rules violation zeroes the
/// exercise, and static checks (rules, api) score only once some runtime check passes, so that
/// a stub, or code that does not compile, gets nothing for them.
pub fn score(outcome: &mut ExerciseOutcome) {
    let works = outcome
        .checks
        .iter()
        .any(|c| c.category.is_runtime() && c.status == CheckStatus::Pass);
    let violation = outcome.status == ExerciseStatus::RulesViolation;
    for check in &mut outcome.checks {
        check.score = 0.0;
        if check.status != CheckStatus::Pass {
            continue;
        }
        if violation && check.category != Category::Rules {
            check.message = format!(
                "passed, but scores 0: {} uses building blocks it may not use",
                outcome.id
            );
        } else if !check.category.is_runtime() && !works {
            check.message = "passed, but scores only once a runtime check passes".into();
        } else {
            check.score = check.max_score;
        }
    }
    outcome.score = outcome.checks.iter().map(|c| c.score).sum();
}
