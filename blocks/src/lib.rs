//! The building blocks every exercise is written with.
//!
//! Exercises take their atomics, futex, threads and clocks from here rather than from `std`, so
//! that the grader can swap the backend (see `backend/`) without touching a learner's code. The
//! paths mirror `std`: `blocks::sync::atomic::AtomicU32` is used like
//! `std::sync::atomic::AtomicU32`.
//!
//! | module | what it offers |
//! |---|---|
//! | [`sync::atomic`] | `AtomicBool`, `AtomicU32`, `AtomicU64`, `AtomicUsize`, `Ordering`, `fence` |
//! | [`sync`] | `Arc`, std's `Mutex`/`Condvar` behind thin wrappers (`Condvar::wait` wakes spuriously under the grader's backend), and a correct Python-style raw [`sync::Lock`] |
//! | [`futex`] | `wait`, `wait_timeout`, `wake_one`, `wake_all` on an `AtomicU32` |
//! | [`thread`] | std's threads, `park`, plus [`thread::current_id`] |
//! | [`time`] | `Duration`, `Instant` |
//! | [`rand`] | [`rand::below`], for randomized back-off |

pub mod futex;
pub mod rand;
pub mod sync;
pub mod thread;
pub mod time;

mod backend;

/// Hooks for the grader's backends. Not part of the course: exercises may not use it.
#[doc(hidden)]
pub mod __grader {
    pub use crate::backend::configure;

    /// Schedule exploration of a check's scenario (shuttle, under the grader's backend).
    pub mod explore {
        pub use crate::backend::explore::run;
        pub use crate::backend::{Failure, Plan, STEP_BOUND};
    }

    /// The lock-step scheduler of the livelock and deadlock checks.
    pub mod lockstep {
        pub use crate::backend::lockstep::{
            lock_id, Blocked, Event, Lockstep, Op, Participation, RandMode, Step, Ticket,
        };
    }
}
