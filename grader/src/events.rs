//! What the runner tells its consumers while it works: the terminal's progress display and
//! anything else that wants to follow a grade. The runner emits them and knows no consumer.

use std::time::Duration;

use crate::grade::GradeRun;
use crate::outcome::CheckStatus;

pub enum Event<'a> {
    Building {
        exercises: usize,
    },
    Compiled {
        target: &'a str,
    },
    Built {
        elapsed: Duration,
    },
    Running {
        checks: usize,
    },
    CheckStarted {
        submission: &'a str,
        exercise: &'a str,
        check: &'a str,
    },
    CheckFinished {
        submission: &'a str,
        exercise: &'a str,
        check: &'a str,
        status: CheckStatus,
    },
    /// Submission `index` (of those given) is graded: every one of its checks has ended.
    Graded {
        index: usize,
        run: &'a GradeRun,
    },
}
