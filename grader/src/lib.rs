//! The locksmith grader: builds code under test against hidden checks, runs every check in a
//! contained process, and scores the outcome.
//!
//! The grading path ([`grade::grade`]) produces outcomes and [`events`]; the terminal report
//! ([`report`]), the files ([`scorecard`]) and the self-check ([`selfcheck`]) consume them;
//! [`gradescope`] packages the whole course as a Gradescope autograder; [`watch`] is the
//! learner's loop, grading on every save.

pub mod api;
pub mod batch;
pub mod bench;
pub mod build;
pub mod catalog;
pub mod events;
pub mod grade;
pub mod gradescope;
pub mod outcome;
pub mod report;
pub mod rules;
pub mod sandbox;
pub mod scorecard;
pub mod selfcheck;
pub mod source;
pub mod stage;
pub mod unpack;
pub mod watch;

pub use catalog::Catalog;
pub use grade::{grade, grade_many, GradeOptions, GradeRun};
pub use source::Source;

/// The grader's version, as scorecards record it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The workspace this grader belongs to, or the course at `LOCKSMITH_ROOT` when set (the
/// grader's own tests grade small courses of their own that way).
pub fn workspace_root() -> std::path::PathBuf {
    if let Some(root) = std::env::var_os("LOCKSMITH_ROOT") {
        return root.into();
    }
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the grader lives in a folder of the workspace")
        .to_path_buf()
}
