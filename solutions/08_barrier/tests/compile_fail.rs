//! The exercise's compile-fail cases, run against this reference answer. `tests/compile-fail` is
//! a link to `exercises/08_barrier/tests/compile-fail`: one copy of the cases, and the same relative
//! paths (trybuild prints paths relative to the crate under test), so the expected errors are
//! byte for byte what a learner's correct answer produces. Regenerate them here with
//! `TRYBUILD=overwrite`, then review each one.

use std::panic;
use std::path::PathBuf;

#[test]
fn compile_fail() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir("tests/compile-fail")
        .expect("tests/compile-fail")
        .map(|entry| entry.expect("tests/compile-fail").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no case in tests/compile-fail");

    // One trybuild run per case, so that a failed case can be named and its expected error shown
    // (trybuild only says that a case compiled). Its panics are its verdicts: kept quiet here.
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let failed: Vec<&PathBuf> = cases
        .iter()
        .filter(|case| {
            let cases = trybuild::TestCases::new();
            cases.compile_fail(case);
            panic::catch_unwind(move || drop(cases)).is_err()
        })
        .collect();
    panic::set_hook(hook);

    for case in &failed {
        let expected = std::fs::read_to_string(case.with_extension("stderr")).unwrap_or_default();
        println!(
            "\n{} failed: it compiled, or its error differs from the recorded one (trybuild's \
             output above says which). It must not compile (its first comment says why); with \
             the reference answer the compiler says:\n\n{expected}",
            case.display()
        );
    }
    assert!(
        failed.is_empty(),
        "{} of {} cases failed",
        failed.len(),
        cases.len()
    );
}
