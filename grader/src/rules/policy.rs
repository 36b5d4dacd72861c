//! What an exercise may use: verdicts on absolute paths (`std::sync::Mutex`,
//! `blocks::futex::wait`), macro names and attributes.
//!
//! `core` and `alloc` mirror `std`, so the three are judged by the same table.

/// What a path into a crate is, for one exercise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allowed,
    /// A module holding both allowed and forbidden items (`std`, `blocks::sync`): naming it is
    /// fine, what is reached through it is judged on its own.
    Container,
    Forbidden(String),
}

/// The `std` modules every exercise may use: data structures and language support, nothing that
/// synchronizes, blocks, talks to the OS or leaves the process.
#[rustfmt::skip]
const STD_ALLOWED: &[&str] = &[
    "any", "array", "ascii", "borrow", "boxed", "cell", "char", "clone", "cmp", "collections",
    "convert", "default", "error", "f32", "f64", "fmt", "hash", "hint", "i8", "i16", "i32",
    "i64", "i128", "isize", "iter", "marker", "mem", "num", "ops", "option", "panic", "pin",
    "prelude", "primitive", "ptr", "rc", "result", "slice", "str", "string", "u8", "u16", "u32",
    "u64", "u128", "usize", "vec",
];

/// The other `std` modules, so that `use std::*;` is known to bring them into scope.
#[rustfmt::skip]
const STD_OTHER: &[&str] = &[
    "alloc", "arch", "assert_matches", "async_iter", "autodiff", "backtrace", "bstr", "env",
    "f16", "f128", "ffi", "fs", "future", "intrinsics", "io", "net", "os", "pat", "path",
    "process", "random", "range", "simd", "sync", "task", "thread", "time", "unsafe_binder",
];

/// Everyday macros (std's, usable by their bare name). `thread_local!` is here because per-thread
/// data synchronizes nothing and is the natural tool for a per-thread held set or current name.
#[rustfmt::skip]
const MACROS_ALLOWED: &[&str] = &[
    "addr_of", "addr_of_mut", "assert", "assert_eq", "assert_ne", "cfg", "column",
    "compile_error", "concat", "dbg", "debug_assert", "debug_assert_eq", "debug_assert_ne",
    "eprint", "eprintln", "file", "format", "format_args", "line", "matches", "module_path",
    "offset_of", "panic", "pin", "print", "println", "stringify", "thread_local", "todo",
    "unimplemented", "unreachable", "vec", "write", "writeln",
];

/// Built-in macros that escape the one-file, no-OS sandbox of an exercise.
pub(crate) fn forbidden_macro(name: &str) -> Option<&'static str> {
    Some(match name {
        "asm" | "global_asm" | "naked_asm" => "inline assembly is not allowed",
        "include" | "include_str" | "include_bytes" => {
            "include!-family macros read other files: an exercise is this one file"
        }
        "env" | "option_env" => "env!/option_env! read the build environment: not allowed",
        "is_x86_feature_detected"
        | "is_aarch64_feature_detected"
        | "is_arm_feature_detected"
        | "is_riscv_feature_detected" => "CPU feature detection (std::arch) is not allowed",
        "concat_idents" | "log_syntax" | "trace_macros" | "format_args_nl" => {
            "unstable compiler macros are not allowed"
        }
        _ => return None,
    })
}

/// Whether `name!` is one of std's everyday macros.
pub(crate) fn allowed_macro(name: &str) -> bool {
    MACROS_ALLOWED.contains(&name)
}

/// Attributes that change how the crate is linked, built or where its code comes from.
pub(crate) fn forbidden_attribute(name: &str) -> Option<&'static str> {
    Some(match name {
        "no_mangle" | "export_name" | "link_section" | "used" | "link" | "link_name"
        | "link_ordinal" | "linkage" => "linker attributes are not allowed",
        "path" => "#[path] reads another file: an exercise is this one file",
        "global_allocator" | "alloc_error_handler" => "replacing the allocator is not allowed",
        "panic_handler" => "replacing the panic handler is not allowed",
        "naked" => "naked functions are inline assembly: not allowed",
        "proc_macro" | "proc_macro_derive" | "proc_macro_attribute" => {
            "procedural macros are not allowed"
        }
        "no_std" | "no_core" | "no_main" | "no_builtins" | "crate_type" | "crate_name" | "lang"
        | "start" | "feature" => "crate attributes that change how it is built are not allowed",
        name if name.starts_with("rustc_") => "compiler-internal attributes are not allowed",
        _ => return None,
    })
}

/// Roots of tool attributes and lint names (`#[rustfmt::skip]`, `#[allow(clippy::x)]`).
pub(crate) fn is_tool(name: &str) -> bool {
    matches!(name, "rustfmt" | "clippy" | "rustdoc" | "diagnostic")
}

/// Names every module sees without importing them: primitive types and std's prelude.
pub(crate) fn is_prelude(name: &str) -> bool {
    matches!(
        name,
        "bool"
            | "char"
            | "str"
            | "u8"
            | "u16"
            | "u32"
            | "u64"
            | "u128"
            | "usize"
            | "i8"
            | "i16"
            | "i32"
            | "i64"
            | "i128"
            | "isize"
            | "f16"
            | "f32"
            | "f64"
            | "f128"
            | "Box"
            | "Vec"
            | "String"
            | "Option"
            | "Some"
            | "None"
            | "Result"
            | "Ok"
            | "Err"
            | "ToString"
            | "ToOwned"
            | "Clone"
            | "Copy"
            | "Send"
            | "Sync"
            | "Sized"
            | "Unpin"
            | "Drop"
            | "Fn"
            | "FnMut"
            | "FnOnce"
            | "drop"
            | "Default"
            | "Iterator"
            | "IntoIterator"
            | "Extend"
            | "DoubleEndedIterator"
            | "ExactSizeIterator"
            | "AsRef"
            | "AsMut"
            | "Into"
            | "From"
            | "PartialEq"
            | "Eq"
            | "PartialOrd"
            | "Ord"
            | "TryFrom"
            | "TryInto"
            | "FromIterator"
            | "Debug"
            | "Hash"
    )
}

/// Crates every file can name without `extern crate`.
pub(crate) fn is_known_crate(name: &str) -> bool {
    matches!(name, "std" | "core" | "alloc" | "blocks")
}

/// What a glob import of `path` brings into scope, for the modules holding both allowed and
/// forbidden items (for the others the glob's own verdict says it all).
pub(crate) fn children(path: &[String]) -> Option<Vec<&'static str>> {
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    match path.as_slice() {
        ["std" | "core" | "alloc"] => Some(STD_ALLOWED.iter().chain(STD_OTHER).copied().collect()),
        ["blocks"] => Some(vec!["futex", "rand", "sync", "thread", "time", "__grader"]),
        ["blocks", "sync"] => Some(
            [&["Arc", "Weak", "atomic"][..], LOCK, MUTEX, CONDVAR]
                .concat()
                .into_iter()
                .collect(),
        ),
        _ => None,
    }
}

/// Modules inside the allowed std modules, which a glob of their parent brings into scope
/// (`use std::collections::*;` then `hash_map::Entry`).
pub(crate) fn submodules(path: &[String]) -> &'static [&'static str] {
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    match path.as_slice() {
        ["std" | "core" | "alloc", "collections"] => &[
            "binary_heap",
            "btree_map",
            "btree_set",
            "hash_map",
            "hash_set",
            "linked_list",
            "vec_deque",
        ],
        ["std" | "core", "f32" | "f64"] => &["consts"],
        ["std" | "core" | "alloc", "prelude"] => {
            &["v1", "rust_2015", "rust_2018", "rust_2021", "rust_2024"]
        }
        _ => &[],
    }
}

const LOCK: &[&str] = &["Lock", "ReleaseError"];
#[rustfmt::skip]
const MUTEX: &[&str] = &[
    "Mutex", "MutexGuard", "PoisonError", "LockResult", "TryLockError", "TryLockResult",
];
const CONDVAR: &[&str] = &["Condvar", "WaitTimeoutResult"];

/// The allowed building-block groups of one exercise (see exercises.toml).
pub(crate) struct Policy {
    groups: Vec<String>,
}

impl Policy {
    pub(crate) fn new(allowed: &[String]) -> Policy {
        Policy {
            groups: allowed.to_vec(),
        }
    }

    fn allows(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// The building blocks this exercise offers, for messages.
    fn offer(&self) -> String {
        let all = [
            ("atomic", "blocks::sync::atomic"),
            ("futex", "blocks::futex"),
            ("thread", "blocks::thread"),
            ("time", "blocks::time"),
            ("lock", "blocks::sync::Lock"),
            ("mutex", "blocks::sync::Mutex"),
            ("condvar", "blocks::sync::Condvar"),
        ];
        let offered: Vec<&str> = all
            .iter()
            .filter(|(group, _)| self.allows(group))
            .map(|(_, path)| *path)
            .collect();
        offered.join(", ")
    }

    fn group(&self, group: &str, what: &str) -> Verdict {
        if self.allows(group) {
            Verdict::Allowed
        } else {
            Verdict::Forbidden(format!(
                "{what} is not allowed here: build it from {}",
                self.offer()
            ))
        }
    }

    /// Judges an absolute path (first segment: a crate).
    pub(crate) fn classify(&self, path: &[String]) -> Verdict {
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        match path.as_slice() {
            [] => Verdict::Allowed,
            ["std" | "core" | "alloc", rest @ ..] => self.std(path[0], rest),
            ["blocks", rest @ ..] => self.blocks(rest),
            [krate, ..] => Verdict::Forbidden(format!(
                "`{krate}` is another crate: exercises use only std's basics and blocks"
            )),
        }
    }

    fn std(&self, krate: &str, rest: &[&str]) -> Verdict {
        let Some((&module, inner)) = rest.split_first() else {
            return Verdict::Container;
        };
        if STD_ALLOWED.contains(&module) {
            return Verdict::Allowed;
        }
        let forbidden = |reason: String| Verdict::Forbidden(reason);
        match module {
            "sync" => forbidden(self.std_sync(krate, inner.first().copied())),
            // Per-thread storage synchronizes nothing (see MACROS_ALLOWED).
            "thread" if matches!(inner.first(), Some(&("LocalKey" | "AccessError"))) => {
                Verdict::Allowed
            }
            "thread" => forbidden(format!(
                "{krate}::thread is not allowed: use blocks::thread"
            )),
            "time" => forbidden(format!("{krate}::time is not allowed: use blocks::time")),
            "io" => forbidden(format!(
                "{krate}::io is not allowed: print with println! or eprintln!"
            )),
            "process" => forbidden(format!(
                "{krate}::process is not allowed: a library never ends the process or runs programs"
            )),
            "fs" | "net" | "env" | "os" | "path" | "ffi" => forbidden(format!(
                "{krate}::{module} is not allowed: an exercise works in memory, without the OS"
            )),
            "arch" | "intrinsics" | "simd" => forbidden(format!(
                "{krate}::{module} is not allowed: exercises use no CPU-specific code or intrinsics"
            )),
            "alloc" => forbidden(format!(
                "{krate}::alloc is not allowed: allocate with Box, Vec or Arc"
            )),
            _ => {
                if let Some(reason) = forbidden_macro(module) {
                    forbidden(reason.to_string())
                } else if allowed_macro(module) {
                    Verdict::Allowed
                } else {
                    forbidden(format!(
                        "{krate}::{module} is not among what exercises may use from std \
                         (collections, cell, fmt, mem, ptr, marker, ops, error, panic...)"
                    ))
                }
            }
        }
    }

    fn std_sync(&self, krate: &str, item: Option<&str>) -> String {
        match item {
            Some("atomic") => {
                format!("{krate}::sync::atomic is not allowed: use blocks::sync::atomic")
            }
            Some("Arc" | "Weak") => format!("{krate}::sync is not allowed: use blocks::sync::Arc"),
            Some(item @ ("Mutex" | "MutexGuard")) if self.allows("mutex") => {
                format!("{krate}::sync is not allowed: use blocks::sync::{item}")
            }
            Some(item @ "Condvar") if self.allows("condvar") => {
                format!("{krate}::sync is not allowed: use blocks::sync::{item}")
            }
            _ => format!(
                "{krate}::sync is not allowed here: build it from {}",
                self.offer()
            ),
        }
    }

    fn blocks(&self, rest: &[&str]) -> Verdict {
        match rest {
            [] | ["sync"] => Verdict::Container,
            ["sync", "Arc" | "Weak", ..] => Verdict::Allowed,
            ["sync", "atomic", ..] => self.group("atomic", "blocks::sync::atomic"),
            ["sync", item, ..] if LOCK.contains(item) => {
                self.group("lock", &format!("blocks::sync::{item}"))
            }
            ["sync", item, ..] if MUTEX.contains(item) => {
                self.group("mutex", &format!("blocks::sync::{item}"))
            }
            ["sync", item, ..] if CONDVAR.contains(item) => {
                self.group("condvar", &format!("blocks::sync::{item}"))
            }
            ["futex", ..] => self.group("futex", "blocks::futex"),
            ["thread", ..] => self.group("thread", "blocks::thread"),
            ["time", ..] => self.group("time", "blocks::time"),
            // Randomness synchronizes nothing: always allowed, for randomized back-off.
            ["rand"] | ["rand", "below"] => Verdict::Allowed,
            ["__grader", ..] => Verdict::Forbidden(
                "blocks::__grader is the grader's own hook: exercises may not use it".to_string(),
            ),
            _ => Verdict::Forbidden(format!(
                "blocks::{} is not one of the course's building blocks",
                rest.join("::")
            )),
        }
    }
}
