//! Code that must NOT compile: each case (`tests/compile-fail/NAME.rs`) sits beside the error a
//! correct answer gets from the compiler (`NAME.stderr`). A case that compiles means your types
//! still allow what its first comment forbids; the test then prints the error you should get.
//!
//! The expected errors were recorded with rustc 1.95 (stable) without the `rust-src` component.
//! Another compiler version, or `rust-src` (which quotes the standard library's source), can word
//! the same error differently: the case then shows EXPECTED and ACTUAL, and the error code and
//! first line are what count.

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
