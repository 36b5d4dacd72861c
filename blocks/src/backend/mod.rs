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
//! `lockstep` is the same under both: a deterministic turn-based scheduler that only threads a
//! grader's check has entered into a schedule ever see.

#[cfg(not(feature = "perturb"))]
mod plain;
#[cfg(not(feature = "perturb"))]
pub use plain::{configure, random_u64, spurious_wake, sync_point};

#[cfg(feature = "perturb")]
mod perturb;
#[cfg(feature = "perturb")]
pub use perturb::{configure, random_u64, spurious_wake, sync_point};

pub mod lockstep;
