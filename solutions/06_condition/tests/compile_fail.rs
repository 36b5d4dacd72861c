//! The exercise's compile-fail cases (`exercises/06_condition/tests/compile-fail/`, one copy), run against
//! this reference answer. Its errors are the recorded `NAME.stderr`: after changing a case, record
//! them with `TRYBUILD=overwrite` in the exercise's folder and review each.

#[test]
fn compile_fail() {
    compile_fail::run(
        std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../exercises/06_condition/tests/compile-fail"
        )),
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")),
    );
}
