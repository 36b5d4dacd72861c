//! Clocks: std's monotonic [`Instant`] and [`Duration`].

pub use std::time::{Duration, Instant};
