//! The one place that selects the backend.
//!
//! Every synchronization point in this crate calls [`sync_point`] first, and every sleeping wait
//! asks [`spurious_wake`] whether to return at once. With the default backend both are empty
//! inline functions, so learners pay nothing. With feature `perturb` (the grader's build) they
//! inject yields, short sleeps and spurious wake-ups from a seeded random stream: races and
//! lost wake-ups that a plain run would hide become likely, and a trial's seed replays them.
//! `random_u64` feeds `rand::below`: seeded from the clock by default, from the trial's seed
//! under `perturb`.
//!
//! `explore` (the grader's, on shuttle) runs a check's small scenario under schedules that it
//! chooses, one task at a time; every hook of this crate asks `explore::inside()` first. With the
//! default backend it is an empty stub that never explores.
//!
//! `lockstep` is the same under both: a deterministic turn-based scheduler that only threads a
//! grader's check has entered into a schedule ever see.

#[cfg(not(feature = "perturb"))]
mod plain;
#[cfg(not(feature = "perturb"))]
pub use plain::{configure, explore, random_u64, spurious_wake, sync_point};

#[cfg(feature = "perturb")]
pub mod explore;
#[cfg(feature = "perturb")]
mod perturb;
#[cfg(feature = "perturb")]
pub use perturb::{configure, random_u64, spurious_wake, sync_point};

use std::any::Any;
use std::time::Duration;

/// How to explore a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// PCT schedules of bug depth `depth`, then uniformly random ones, each from `seed`,
    /// within `time` (whichever ends first).
    Search {
        seed: u64,
        depth: usize,
        pct: usize,
        random: usize,
        time: Duration,
    },
    /// Exactly this schedule, as [`Failure::schedule`] printed it.
    Replay(String),
}

/// A scenario that failed under some schedule.
pub struct Failure {
    /// What the failing task panicked with (shuttle's own message for a deadlock or a spin past
    /// the step bound).
    pub payload: Box<dyn Any + Send>,
    /// The schedule, for [`Plan::Replay`].
    pub schedule: String,
}

/// Scheduling steps one execution may take: a scenario's own work is a few hundred; more is a
/// spin or livelock that the schedule cannot end.
pub const STEP_BOUND: usize = 50_000;

pub mod lockstep;
