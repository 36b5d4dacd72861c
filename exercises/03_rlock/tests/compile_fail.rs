//! Code that must NOT compile: each case in `tests/compile-fail/` (`NAME.rs`, its first comment
//! saying why) sits beside the error the reference answer gets (`NAME.stderr`). A case that
//! compiles means your types still allow what it forbids; the test then shows the error you should
//! get. Only the error code counts: your types may be built differently from the reference's.

#[test]
fn compile_fail() {
    compile_fail::run(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/compile-fail")),
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")),
    );
}
