//! Runs an exercise's compile-fail cases: `NAME.rs`, code that must not compile, beside
//! `NAME.stderr`, the error the reference answer gets.
//!
//! trybuild compiles each case. A case passes when it fails to compile with the recorded error
//! code (`error[E0277]`…); the rest of the message is not compared, because it quotes the
//! answer's own types (a `PhantomData<*const ()>` or a `PhantomData<Rc<()>>`, a field here or
//! there), the compiler's version and whether `rust-src` is installed. A correct answer in
//! another style must pass, and a new compiler must not turn a correct answer red.

use std::fs;
use std::panic;
use std::path::{Path, PathBuf};

/// Runs every case in `cases` (a folder of `NAME.rs` + `NAME.stderr`), copying each into
/// `scratch` first: trybuild records the error it gets next to the case it compiles. Panics,
/// naming each failed case with the error expected and the one the compiler gave.
pub fn run(cases: &Path, scratch: &Path) {
    let mut names: Vec<PathBuf> = fs::read_dir(cases)
        .unwrap_or_else(|e| panic!("{}: {e}", cases.display()))
        .map(|entry| entry.expect("a readable folder").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no case in {}", cases.display());
    // One folder per crate: a stub and its solution share case names and may run at once.
    let here = std::env::current_dir().unwrap_or_default();
    let package = std::env::var("CARGO_PKG_NAME").unwrap_or_else(|_| {
        let name = here.file_name().unwrap_or_default();
        name.to_string_lossy().into_owned()
    });
    let scratch = scratch.join("compile-fail").join(package);
    fs::create_dir_all(&scratch).expect("the scratch folder");

    // In overwrite mode trybuild's only verdict is "it compiled"; the error it gets is written
    // beside the copy, for the comparison below.
    std::env::set_var("TRYBUILD", "overwrite");
    let mut failures = Vec::new();
    for case in &names {
        if let Some(failure) = judge(case, &scratch) {
            failures.push(failure);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} compile-fail cases failed:\n\n{}",
        failures.len(),
        names.len(),
        failures.join("\n\n")
    );
}

/// `None` when `case` fails to compile with its recorded error code, else what went wrong.
fn judge(case: &Path, scratch: &Path) -> Option<String> {
    let name = case.file_name().expect("a file name");
    let copy = scratch.join(name);
    let got = copy.with_extension("stderr");
    fs::copy(case, &copy).expect("copy the case");
    let _ = fs::remove_file(&got);
    let expected = fs::read_to_string(case.with_extension("stderr")).unwrap_or_default();
    let why = first_comment(case);

    let tests = trybuild::TestCases::new();
    tests.compile_fail(&copy);
    // trybuild reports through a panic when its `TestCases` is dropped; its own output above
    // already says what happened, so the panic message itself is kept quiet.
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let compiled = panic::catch_unwind(move || drop(tests)).is_err();
    panic::set_hook(hook);

    let here = std::env::current_dir().unwrap_or_default();
    let shown = case.strip_prefix(&here).unwrap_or(case).display();
    if compiled {
        return Some(format!(
            "{shown} compiled, and it must not: {why}\nWith the reference answer the compiler \
             says:\n\n{expected}"
        ));
    }
    let got = fs::read_to_string(&got).unwrap_or_default();
    let (want, have) = (error_codes(&expected), error_codes(&got));
    if want.iter().all(|code| have.contains(code)) {
        return None;
    }
    Some(format!(
        "{shown} does not compile, but not for the reason it is about ({why}): expected {}, \
         the compiler says:\n\n{got}",
        want.join(", ")
    ))
}

/// The error codes of a compiler message, in order, once each: `["E0277"]`.
fn error_codes(message: &str) -> Vec<String> {
    let mut codes = Vec::new();
    for line in message.lines() {
        let code = line
            .strip_prefix("error[")
            .and_then(|rest| rest.split_once(']'))
            .map(|(code, _)| code.to_string());
        if let Some(code) = code {
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
    }
    codes
}

/// The case's opening comment: what it forbids and why.
fn first_comment(case: &Path) -> String {
    let text = fs::read_to_string(case).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .map_while(|line| line.strip_prefix("//"))
        .map(str::trim)
        .collect();
    lines.join(" ")
}

#[cfg(test)]
mod tests {
    use super::error_codes;

    #[test]
    fn error_codes_are_read_from_each_error_line_once() {
        let message = "error[E0277]: `*const ()` cannot be sent\n  --> a.rs:1:1\n\
                       error[E0597]: does not live long enough\nerror[E0277]: again\n\
                       error: aborting due to 2 previous errors\n";
        assert_eq!(error_codes(message), ["E0277", "E0597"]);
        assert!(error_codes("error: could not compile").is_empty());
    }
}
