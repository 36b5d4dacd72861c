use std::path::{Path, PathBuf};

use super::{check, Violation};

const LOCK_02: &[&str] = &["atomic", "futex", "thread", "time"];
const CONDITION_06: &[&str] = &["atomic", "futex", "thread", "time", "lock"];
const EVERYTHING: &[&str] = &[
    "atomic", "futex", "thread", "time", "lock", "mutex", "condvar",
];

fn run(source: &str, allowed: &[&str]) -> Vec<Violation> {
    let allowed: Vec<String> = allowed.iter().map(|g| g.to_string()).collect();
    check(source, &allowed).expect("the source parses")
}

/// The items reported, for compact assertions.
fn items(source: &str, allowed: &[&str]) -> Vec<String> {
    run(source, allowed).into_iter().map(|v| v.item).collect()
}

#[track_caller]
fn assert_clean(source: &str, allowed: &[&str]) {
    let found = run(source, allowed);
    assert!(found.is_empty(), "expected no violations, got {found:#?}");
}

#[track_caller]
fn assert_caught(source: &str, allowed: &[&str]) {
    assert!(!run(source, allowed).is_empty(), "not caught:\n{source}");
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the grader is in the workspace")
        .to_path_buf()
}

#[test]
fn every_evasion_fixture_is_caught() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/evasions");
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the evasions fixtures exist")
        .map(|entry| entry.expect("readable").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 40, "only {} fixtures", fixtures.len());
    let mut missed = Vec::new();
    for path in &fixtures {
        let source = std::fs::read_to_string(path).expect("readable");
        let first = source.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("//! evasion: "),
            "{} must start with `//! evasion: <what>`",
            path.display()
        );
        if run(&source, LOCK_02).is_empty() {
            missed.push(format!("{}: {first}", path.display()));
        }
    }
    assert!(
        missed.is_empty(),
        "evasions not caught:\n{}",
        missed.join("\n")
    );
}

#[test]
fn reports_the_alias_and_what_it_resolves_to() {
    let source = "use std as s;\n\nfn f() {\n    let m = s::sync::Mutex::new(0);\n}\n";
    let found = run(source, LOCK_02);
    assert_eq!(found.len(), 1, "{found:#?}");
    let v = &found[0];
    assert_eq!((v.line, v.column), (4, 13));
    assert_eq!(v.item, "s::sync::Mutex::new (= std::sync::Mutex::new)");
    assert!(
        v.reason.contains("std::sync is not allowed here"),
        "{}",
        v.reason
    );
    assert!(v.reason.contains("blocks::futex"), "{}", v.reason);
}

#[test]
fn reports_each_leaf_of_a_use_tree_on_its_line() {
    let source =
        "use std::{\n    collections::HashMap,\n    sync::{Mutex, Condvar},\n    thread,\n};\n";
    let found: Vec<(usize, String)> = run(source, LOCK_02)
        .into_iter()
        .map(|v| (v.line, v.item))
        .collect();
    assert_eq!(
        found,
        [
            (3, "std::sync::Mutex".to_string()),
            (3, "std::sync::Condvar".to_string()),
            (4, "std::thread".to_string()),
        ]
    );
}

#[test]
fn deduplicates_an_item_repeated_on_one_line() {
    let source = "fn f() { let _ = (std::process::exit, std::process::exit); }";
    assert_eq!(items(source, LOCK_02), ["std::process::exit"]);
}

#[test]
fn names_the_import_and_every_use_through_it() {
    let source = "use std::sync::Mutex as Lock2;\nstruct S(Lock2<u32>);\n";
    assert_eq!(
        items(source, LOCK_02),
        ["std::sync::Mutex", "Lock2 (= std::sync::Mutex)"]
    );
}

#[test]
fn follows_reexports_through_local_modules() {
    let source =
        "mod m { pub use std as inner; }\nuse m::inner::sync;\nstruct S(sync::Mutex<u8>);\n";
    let found = items(source, LOCK_02);
    assert_eq!(
        found,
        [
            "m::inner::sync (= std::sync)",
            "sync::Mutex (= std::sync::Mutex)"
        ]
    );
}

#[test]
fn judges_blocks_items_by_the_exercise_groups() {
    let mutex = "use blocks::sync::{Arc, Mutex};\nstruct S(Arc<Mutex<u8>>);\n";
    assert_eq!(
        items(mutex, LOCK_02),
        ["blocks::sync::Mutex", "Mutex (= blocks::sync::Mutex)"]
    );
    assert_clean(mutex, EVERYTHING);

    let lock = "struct S(blocks::sync::Lock, blocks::sync::ReleaseError);";
    assert_eq!(items(lock, LOCK_02).len(), 2);
    assert_clean(lock, CONDITION_06);

    let condvar =
        "struct C { cv: blocks::sync::Condvar, t: Option<blocks::sync::WaitTimeoutResult> }";
    assert_eq!(items(condvar, CONDITION_06).len(), 2);
    assert_clean(condvar, EVERYTHING);
    let found = run(condvar, CONDITION_06);
    assert!(found[0].reason.contains("blocks::sync::Lock"), "{found:#?}");
}

#[test]
fn blocks_rand_is_allowed_everywhere_and_only_below() {
    for source in [
        "fn f() -> u64 { blocks::rand::below(3) }",
        "use blocks::rand;\nfn f() -> u64 { rand::below(3) }",
        "use blocks::rand::below;\nfn f() -> u64 { below(3) }",
        "use blocks::rand::*;\nfn f() -> u64 { below(3) }",
        "use blocks::*;\nfn f() -> u64 { rand::below(3) }",
    ] {
        assert_clean(source, LOCK_02);
        assert_clean(source, &[]);
    }
    assert_eq!(
        items("fn f() -> u64 { blocks::rand::seed(3) }", EVERYTHING),
        ["blocks::rand::seed"]
    );
}

/// 07_deadlock's lock_all, with `blocks::sync::Lock`, back-off and randomness.
#[test]
fn lock_all_with_blocks_lock_and_rand_is_clean_where_lock_is_allowed() {
    let source = r#"
use blocks::sync::Lock;
use blocks::thread;
use blocks::time::Duration;

pub fn lock_all(locks: &[&Lock]) -> usize {
    let mut window = 4u64;
    for attempt in 1.. {
        let taken = locks.iter().take_while(|l| l.try_acquire()).count();
        if taken == locks.len() {
            return attempt;
        }
        locks[..taken].iter().for_each(|l| l.release().unwrap());
        thread::sleep(Duration::from_nanos(blocks::rand::below(window)));
        thread::yield_now();
        window = (window * 2).min(2_000_000);
    }
    unreachable!()
}
"#;
    assert_clean(source, EVERYTHING);
    let found = run(source, LOCK_02);
    assert!(
        !found.is_empty() && found.iter().all(|v| v.item.contains("Lock")),
        "{found:#?}"
    );
}

#[test]
fn std_condvar_is_refused_even_where_condvar_is_allowed() {
    let source = "use std::sync::Condvar;\nstruct C(Condvar);\n";
    assert_caught(source, CONDITION_06);
    let found = run(source, EVERYTHING);
    assert_eq!(found.len(), 2);
    assert!(
        found[0].reason.contains("use blocks::sync::Condvar"),
        "{found:#?}"
    );
}

#[test]
fn glob_of_a_mixed_module_is_judged_per_name() {
    let source = "use blocks::sync::*;\nstruct S(Arc<u8>, Weak<u8>);\nstruct T(Mutex<u8>);\n";
    let found = run(source, LOCK_02);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].line, 3);
    assert_eq!(found[0].item, "Mutex (= blocks::sync::Mutex)");
}

#[test]
fn glob_of_a_forbidden_module_is_reported_with_its_names() {
    let source =
        "use std::sync::*;\nfn f() { let m = Mutex::new(0); let v: Vec<u8> = Vec::new(); }\n";
    assert_eq!(
        items(source, LOCK_02),
        ["std::sync::*", "Mutex::new (= std::sync::Mutex::new)"]
    );
}

#[test]
fn std_atomics_and_ordering_are_refused() {
    for source in [
        "use std::sync::atomic::Ordering;",
        "fn f(o: core::sync::atomic::Ordering) {}",
        "static A: alloc::sync::Arc<u8> = todo!();",
        "use core::sync::atomic::AtomicU32;",
    ] {
        let found = run(source, EVERYTHING);
        assert_eq!(found.len(), 1, "{source}: {found:#?}");
    }
    let found = run("use std::sync::atomic::Ordering;", LOCK_02);
    assert!(
        found[0].reason.contains("use blocks::sync::atomic"),
        "{found:#?}"
    );
}

#[test]
fn macro_input_and_bodies_are_read() {
    for source in [
        "macro_rules! m { () => { ::std::sync::Mutex::new(0) } }",
        "macro_rules! m { ($e:expr) => { $e } } fn f() { m!(std::process::exit(0)); }",
        "fn f() { let v = vec![std::process::exit(0)]; }",
        "fn f() { assert!(matches!(Some(1), Some(_)) || { std::thread::yield_now(); true }); }",
        "fn f() { println!(\"{}\", format!(\"{}\", include_str!(\"x\"))); }",
        "fn f() { let _ = (0..std::process::id()); }",
        "fn f() { let x = vec![1].iter().map(|v| v + 1).collect::<std::sync::Mutex<u8>>(); }",
    ] {
        assert_caught(source, LOCK_02);
    }
}

#[test]
fn generic_parameters_and_qualified_paths_are_local() {
    assert_clean(
        "pub fn make<T: Default, const N: usize>() -> [T; N] {\n\
             let _ = <T as Default>::default();\n\
             let _ = <Vec<T>>::new();\n\
             std::array::from_fn(|_| T::default())\n\
         }",
        LOCK_02,
    );
    // Outside its generic item, the same name is an unknown crate.
    let found = items(
        "fn f<rand>() { rand::x(); }\nfn g() { rand::x(); }",
        LOCK_02,
    );
    assert_eq!(found, ["rand::x"]);
}

#[test]
fn attributes_hidden_in_cfg_attr_and_unsafe_are_refused() {
    for attribute in [
        "#[cfg_attr(test, no_mangle)]",
        "#[unsafe(export_name = \"x\")]",
        "#[cfg_attr(all(), cfg_attr(all(), link_section = \".x\"))]",
    ] {
        assert_caught(&format!("{attribute}\npub fn f() {{}}"), LOCK_02);
    }
    assert_clean(
        "#[cfg_attr(test, derive(Debug))]\n#[allow(clippy::new_without_default)]\n\
         #[rustfmt::skip]\n#[must_use = \"x\"]\npub struct S;",
        LOCK_02,
    );
}

#[test]
fn extern_rust_abi_and_extern_crate_std_are_fine() {
    let source = r#"
extern crate std;
extern crate alloc;
extern crate core as kernel;

pub extern "Rust" fn f() {
    let _ = alloc::vec::Vec::<u8>::new();
    kernel::mem::drop(1);
}
"#;
    assert_clean(source, LOCK_02);
}

#[test]
fn cyclic_and_numerous_imports_resolve_quickly() {
    let mut source = String::from(
        "use a as b;\nuse b as a;\nmod m { pub use super::*; pub use super::m::*; }\nuse m::*;\n",
    );
    for i in 0..40 {
        source.push_str(&format!("mod g{i} {{ pub use super::*; }}\nuse g{i}::*;\n"));
        source.push_str(&format!(
            "use std::collections::*; use blocks::sync::atomic::*; // {i}\n"
        ));
    }
    source.push_str("fn f() { a::x(); Unknown::y(); std::process::exit(0); }\n");
    let started = std::time::Instant::now();
    let found = items(&source, LOCK_02);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(
        found.contains(&"std::process::exit".to_string()),
        "{found:?}"
    );
}

#[test]
fn test_only_code_is_not_judged_but_other_cfgs_are() {
    let tests = r#"
#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    #[test]
    fn t() {
        std::thread::spawn(|| {});
    }
}

struct S;

impl S {
    #[cfg(all(test, unix))]
    fn f() {
        std::process::exit(0);
    }
}
"#;
    assert_clean(tests, LOCK_02);
    for cfg in ["any(test, unix)", "not(test)", "unix", "any()"] {
        let source = format!("#[cfg({cfg})]\nfn f() {{ std::process::exit(0); }}");
        assert_caught(&source, LOCK_02);
    }
}

#[test]
fn a_file_that_does_not_parse_is_an_error() {
    let error = check("fn f( {", &[]).unwrap_err();
    assert!(error.starts_with("line 1"), "{error}");
}

/// A complete 02_lock in the plainest style: named imports, a test module.
const CLEAN_PLAIN: &str = r#"
//! A Python-style Lock on a futex.
use std::cell::UnsafeCell;
use std::fmt;
use std::ops::{Deref, DerefMut};

use blocks::futex;
use blocks::sync::atomic::{AtomicU32, Ordering};
use blocks::sync::Arc;
use blocks::time::{Duration, Instant};

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
const CONTENDED: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    ReleaseUnlocked,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "release of an unlocked lock")
    }
}

impl std::error::Error for Error {}

#[derive(Debug, Default)]
pub struct Lock {
    state: AtomicU32,
}

impl Lock {
    pub fn new() -> Lock {
        Lock { state: AtomicU32::new(UNLOCKED) }
    }

    pub fn acquire(&self) {
        if self.try_acquire() {
            return;
        }
        while self.state.swap(CONTENDED, Ordering::Acquire) != UNLOCKED {
            futex::wait(&self.state, CONTENDED);
        }
    }

    pub fn try_acquire(&self) -> bool {
        self.state
            .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            if self.try_acquire() {
                return true;
            }
            let left = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            if left.is_zero() {
                return false;
            }
            futex::wait_timeout(&self.state, LOCKED, left);
            std::hint::spin_loop();
        }
    }

    pub fn release(&self) -> Result<(), Error> {
        match self.state.swap(UNLOCKED, Ordering::Release) {
            UNLOCKED => Err(Error::ReleaseUnlocked),
            CONTENDED => {
                futex::wake_one(&self.state);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    pub fn locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) != UNLOCKED
    }

    pub fn guard(&self) -> LockGuard<'_> {
        self.acquire();
        LockGuard { lock: self }
    }
}

pub struct LockGuard<'a> {
    lock: &'a Lock,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.lock.release();
    }
}

pub struct Mutex<T> {
    lock: Lock,
    value: UnsafeCell<T>,
}

// SAFETY: the lock gives one thread at a time access to the value.
unsafe impl<T: Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    pub fn new(value: T) -> Mutex<T> {
        Mutex { lock: Lock::new(), value: UnsafeCell::new(value) }
    }
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.lock.acquire();
        MutexGuard { mutex: self }
    }
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.lock.try_acquire().then(|| MutexGuard { mutex: self })
    }
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

pub struct MutexGuard<'a, T> {
    mutex: &'a Mutex<T>,
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        let _ = self.mutex.lock.release();
    }
}

pub fn count_locked(threads: usize, increments: usize) -> u64 {
    let counter = Arc::new(Mutex::new(0u64));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let counter = Arc::clone(&counter);
            blocks::thread::spawn(move || {
                for _ in 0..increments {
                    *counter.lock() += 1;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("no panic");
    }
    let total = *counter.lock();
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use blocks::thread;

    #[test]
    fn counts() {
        assert_eq!(count_locked(4, 1000), 4000);
        let lock = Lock::new();
        assert!(lock.try_acquire());
        assert_eq!(lock.release(), Ok(()));
        assert_eq!(lock.release(), Err(Error::ReleaseUnlocked));
        thread::scope(|s| {
            s.spawn(|| drop(lock.guard()));
        });
        assert!(!lock.locked(), "{:?}", lock);
    }
}
"#;

/// Glob imports of allowed modules, std collections and panics.
const CLEAN_GLOBS: &str = r#"
use blocks::sync::atomic::*;
use blocks::time::*;
use std::collections::*;
use std::panic::{self, AssertUnwindSafe};

pub struct Registry {
    next: AtomicU64,
    names: VecDeque<String>,
    seen: HashMap<u64, Instant>,
}

impl Registry {
    pub fn add(&mut self, name: &str) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.names.push_back(name.to_string());
        self.seen.insert(id, Instant::now());
        fence(Ordering::SeqCst);
        let result = panic::catch_unwind(AssertUnwindSafe(|| id + 1));
        let _ = Duration::from_millis(u64::MAX.min(10));
        result.unwrap_or(usize::MAX as u64)
    }
}
"#;

/// Renamed blocks items and modules, `self`/`super`/`crate` paths, local glob imports.
const CLEAN_RENAMES: &str = r#"
use blocks as b;
use blocks::futex as fx;
use blocks::sync::atomic::AtomicU32 as Word;
use blocks::sync::{self as bsync, atomic::Ordering::{self, *}};
use core::cell::Cell;
use std::rc::Rc;

pub enum State {
    Unlocked,
    Locked,
}
use State::*;

pub struct Lock {
    word: Word,
    owner: Cell<Option<b::thread::ThreadId>>,
    shared: bsync::Arc<bsync::atomic::AtomicBool>,
    local: Rc<u8>,
}

impl Lock {
    pub fn acquire(&self) {
        while self.word.swap(1, Acquire) != 0 {
            fx::wait(&self.word, 1);
            b::thread::yield_now();
        }
        self.owner.set(Some(b::thread::current().id()));
        let _ = matches!(self.state(), Locked);
        let _ = Ordering::Relaxed;
    }

    fn state(&self) -> State {
        if self.word.load(SeqCst) == 0 { Unlocked } else { self::State::Locked }
    }
}
"#;

/// Local modules used through paths, items declared inside functions, `thread_local!`.
const CLEAN_MODULES: &str = r#"
mod raw {
    use blocks::futex;
    use blocks::sync::atomic::{AtomicU32, Ordering};

    pub struct RawLock(pub(crate) AtomicU32);

    impl RawLock {
        pub const fn new() -> Self {
            RawLock(AtomicU32::new(0))
        }
        pub fn unlock(&self) {
            self.0.store(0, Ordering::Release);
            futex::wake_one(&self.0);
        }
    }

    pub mod nested {
        pub fn helper() -> super::RawLock {
            super::RawLock::new()
        }
    }
}

pub use raw::RawLock;
use self::raw::nested;

thread_local! {
    static HELD: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
}

pub fn held() -> usize {
    HELD.with(|held| held.borrow().len())
}

pub fn make() -> RawLock {
    fn inner() -> crate::raw::RawLock {
        struct Local;
        impl Local {
            fn build() -> RawLock {
                nested::helper()
            }
        }
        Local::build()
    }
    let lock = inner();
    raw::nested::helper().unlock();
    lock
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn works() {
        let lock = make();
        lock.unlock();
        assert_eq!(held(), 0);
        let _ = crate::raw::RawLock::new();
        let _ = super::raw::nested::helper();
    }
}
"#;

/// macro_rules that expand to blocks paths, define items, and everyday std macros.
const CLEAN_MACROS: &str = r#"
use std::fmt::Write as _;

macro_rules! word {
    ($value:expr) => {
        ::blocks::sync::atomic::AtomicU32::new($value)
    };
}

macro_rules! wait_on {
    ($atomic:expr, $expected:expr) => {{
        $crate::helper();
        blocks::futex::wait($atomic, $expected)
    }};
}

macro_rules! error_type {
    ($name:ident, $text:literal) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name;
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($text)
            }
        }
    };
}

error_type!(ReleaseError, "not locked");

pub fn helper() {}

pub fn demo() -> String {
    let w = word!(0);
    if w.load(blocks::sync::atomic::Ordering::Relaxed) == 1 {
        wait_on!(&w, 1);
    }
    let values: Vec<u32> = vec![1, 2, 3].iter().map(|v| v * 2).collect::<Vec<_>>();
    let mut out = String::new();
    let _ = write!(out, "{:?} {}", values, ReleaseError);
    let _ = writeln!(out, "{}", format_args!("{}", line!()));
    assert!(matches!(values.first(), Some(&2)), "{}", stringify!(values));
    assert_eq!(values.len(), 3);
    debug_assert_ne!(values[0], 0);
    'outer: for i in 0..=values.len() {
        if i > 1 { break 'outer; }
    }
    let _ = ReleaseError::clone(&ReleaseError);
    let _ = concat!("a", "b");
    let _ = (file!(), column!(), module_path!(), cfg!(test));
    dbg!(&out);
    out
}

pub fn later() -> u32 {
    if false {
        todo!();
    }
    if false {
        unimplemented!("never");
    }
    eprintln!("ok");
    print!("");
    eprint!("");
    println!("{}", 1);
    let Some(x) = Some(1) else { unreachable!() };
    x
}
"#;

#[test]
fn realistic_clean_files_have_no_violations() {
    for source in [
        CLEAN_PLAIN,
        CLEAN_GLOBS,
        CLEAN_RENAMES,
        CLEAN_MODULES,
        CLEAN_MACROS,
    ] {
        assert_clean(source, LOCK_02);
    }
}

#[test]
fn other_honest_styles_are_clean() {
    let lock = [
        r#"
use blocks::{futex, sync::{atomic::{AtomicU32, Ordering}, Arc}, thread, time::{Duration, Instant}};

fn f(a: &AtomicU32) {
    futex::wait(a, 1);
    thread::yield_now();
    let _ = (Arc::new(1), Instant::now() + Duration::ZERO, Ordering::Relaxed);
}
"#,
        r#"
use blocks::*;

fn f() -> sync::atomic::AtomicU32 {
    futex::wake_all(std::ptr::null());
    let _ = time::Instant::now();
    let t = thread::current();
    let _ = t.id();
    sync::atomic::AtomicU32::new(0)
}
"#,
        r#"
use blocks::sync::atomic;
use blocks::sync::atomic::Ordering::{Acquire, Release};

static N: atomic::AtomicUsize = atomic::AtomicUsize::new(0);

fn f() {
    N.fetch_add(1, Acquire);
    N.fetch_sub(1, Release);
}
"#,
        r#"
use std::collections::*;

fn f(m: &mut HashMap<u8, u8>) {
    if let hash_map::Entry::Vacant(e) = m.entry(1) {
        e.insert(2);
    }
    let _ = std::f64::consts::PI;
}
"#,
        // Local variables named like modules.
        r#"
fn f() {
    let thread = blocks::thread::current();
    let time = 3;
    let _ = (thread.name(), time);
}
"#,
        r#"
pub struct Thread {
    target: Option<Box<dyn FnOnce() + Send + 'static>>,
}

static NEXT: blocks::sync::atomic::AtomicU64 = blocks::sync::atomic::AtomicU64::new(1);

thread_local! {
    static CURRENT: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

fn run(f: impl FnOnce()) -> Result<(), Box<dyn std::any::Any + Send>> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
}
"#,
    ];
    for source in lock {
        assert_clean(source, LOCK_02);
    }
    // 06_condition may glob-import blocks::sync as long as only Lock and Arc are used.
    let condition = r#"
use blocks::sync::*;

struct Waiter(Arc<Lock>);

fn f(w: &Waiter) -> Result<(), ReleaseError> {
    w.0.release()
}
"#;
    assert_clean(condition, CONDITION_06);
    // 01_threads may use all of blocks::sync.
    let threads = r#"
use blocks::sync::{Condvar, Lock, Mutex, MutexGuard, PoisonError};

static REGISTRY: Mutex<Vec<u64>> = Mutex::new(Vec::new());

fn f(c: &Condvar, l: &Lock, g: MutexGuard<'_, u8>) -> Option<PoisonError<u8>> {
    let _ = (c, l, g);
    None
}
"#;
    assert_clean(threads, EVERYTHING);
}

#[test]
fn a_clean_file_becomes_a_violation_with_one_forbidden_line() {
    let evasions = [
        (
            "    pub fn locked(&self) -> bool {",
            "    pub fn locked(&self) -> bool {\n        std::process::exit(0);",
        ),
        (
            "use blocks::futex;",
            "use blocks::futex;\nuse blocks::sync::Mutex as _;",
        ),
        ("use blocks::sync::Arc;", "use std::sync::Arc;"),
    ];
    for (from, to) in evasions {
        assert!(CLEAN_PLAIN.contains(from));
        assert_caught(&CLEAN_PLAIN.replacen(from, to, 1), LOCK_02);
    }
}

/// The reference solutions and the stubs, with each exercise's `allowed` from exercises.toml.
#[test]
fn workspace_solutions_and_stubs_have_no_violations() {
    let root = workspace();
    let manifest = std::fs::read_to_string(root.join("exercises.toml")).expect("exercises.toml");
    let manifest: toml::Table = toml::from_str(&manifest).expect("exercises.toml parses");
    let exercises = manifest["exercise"]
        .as_array()
        .expect("[[exercise]] entries");
    let mut checked = Vec::new();
    let mut failures = Vec::new();
    for exercise in exercises {
        let id = exercise["id"].as_str().expect("id");
        let allowed: Vec<String> = exercise["allowed"]
            .as_array()
            .expect("allowed")
            .iter()
            .map(|g| g.as_str().expect("a group name").to_string())
            .collect();
        for folder in ["solutions", "exercises"] {
            let path = root.join(folder).join(id).join("src/lib.rs");
            let Ok(source) = std::fs::read_to_string(&path) else {
                continue;
            };
            let started = std::time::Instant::now();
            match check(&source, &allowed) {
                Ok(found) if found.is_empty() => {}
                Ok(found) => failures.push(format!("{}: {found:#?}", path.display())),
                Err(error) => failures.push(format!("{}: does not parse: {error}", path.display())),
            }
            checked.push(format!(
                "{folder}/{id} ({} lines, {:?})",
                source.lines().count(),
                started.elapsed()
            ));
        }
    }
    eprintln!("rules checked: {}", checked.join(", "));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// macro_rules whose metavariables are expressions, types, item names, fields, forwarded token
/// runs or repetitions with ordinary separators: nothing is built into a path.
const CLEAN_MACRO_RULES: &str = r#"
use blocks::sync::atomic::{AtomicU32, Ordering};

macro_rules! atomic {
    ($t:ty, $value:expr) => {
        <$t>::new($value)
    };
}

macro_rules! default_of {
    ($t:ty) => {
        <$t as Default>::default()
    };
}

macro_rules! empty_vec {
    ($t:ty) => {
        Vec::<$t>::new()
    };
}

macro_rules! documented {
    ($(#[$meta:meta])* $vis:vis struct $name:ident;) => {
        $(#[$meta])*
        #[derive(Debug, Default)]
        $vis struct $name;
    };
}

documented! {
    /// A marker.
    #[allow(dead_code)]
    pub struct Marker;
}

macro_rules! getter {
    ($(#[$meta:meta])* $vis:vis fn $name:ident -> $t:ty { $field:ident }) => {
        $(#[$meta])*
        $vis fn $name(&self) -> $t {
            self.$field.load(Ordering::Acquire) as $t
        }
    };
}

macro_rules! state {
    ($name:ident { $($variant:ident = $value:expr),* $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($variant = $value),*
        }
        impl $name {
            pub fn from_u32(v: u32) -> Option<Self> {
                $(if v == $value {
                    return Some(Self::$variant);
                })*
                None
            }
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => stringify!($variant),)*
                }
            }
        }
    };
}

macro_rules! sum {
    ($($x:expr),*) => { 0 $(+ $x)* };
}

macro_rules! apply {
    ($a:expr, $op:tt, $b:expr) => { $a $op $b };
}

macro_rules! log {
    ($($arg:tt)*) => {
        if cfg!(debug_assertions) {
            eprintln!($($arg)*);
        }
    };
}

macro_rules! call_twice {
    ($f:expr, $arg:expr) => {{
        let _ = $f($arg);
        $f($arg)
    }};
}

macro_rules! make_fn {
    ($name:ident, $args:tt, $body:block) => {
        fn $name $args -> u32 $body
    };
}

macro_rules! new_lock {
    ($name:ident) => {
        pub struct $name {
            state: AtomicU32,
        }
        impl $name {
            pub const fn new() -> Self {
                $name { state: AtomicU32::new(0) }
            }
            getter!(#[inline] pub fn value -> u32 { state });
        }
    };
}

macro_rules! first_of {
    ($t:ty) => {
        fn first<'a>(v: &'a [$t]) -> Option<&'a $t> {
            v.first()
        }
    };
}

macro_rules! define_inner {
    () => {
        macro_rules! inner {
            ($x:expr) => { $x + 1 };
        }
    };
}
define_inner!();

macro_rules! list {
    ($($x:expr),* $(,)?) => { vec![$($x),*] };
}

new_lock!(RawLock);
state!(State { Free = 0, Held = 1, Contended = 2 });
make_fn!(three, (), { 3 });
first_of!(u8);

pub fn demo(a: &AtomicU32) -> u32 {
    let b: AtomicU32 = atomic!(AtomicU32, 1);
    let n: u32 = default_of!(u32);
    let v: Vec<u8> = empty_vec!(u8);
    log!("{} {} {:?}", n, b.load(Ordering::Relaxed), v);
    let total = sum!(1, 2, three());
    let _ = call_twice!(|x: u32| x + 1, total);
    let _ = apply!(total, *, 2) as usize + list![1, 2].len();
    let _ = State::from_u32(a.load(Ordering::Relaxed)).map(State::name);
    inner!(n) + first(&[1u8]).map_or(0, |v| *v as u32) + RawLock::new().value()
}
"#;

#[test]
fn macro_rules_that_build_no_path_are_clean() {
    assert_clean(CLEAN_MACRO_RULES, LOCK_02);
}

#[test]
fn a_path_built_from_macro_arguments_is_reported_where_it_is_built() {
    let source = "macro_rules! glue {\n    ($a:ident, $b:ident, $c:ident) => {\n        \
                  $a::$b::$c::<u32>::new(0)\n    };\n}\n\npub fn f() {\n    \
                  let m = glue!(std, sync, Mutex);\n}\n";
    let found = run(source, LOCK_02);
    assert_eq!(found.len(), 1, "{found:#?}");
    let v = &found[0];
    assert_eq!((v.line, v.column, v.item.as_str()), (3, 9, "$a::$b::$c"));
    assert!(
        v.reason.contains("builds a path from its arguments"),
        "{}",
        v.reason
    );
}

/// Caught as a path or macro name built from a macro's arguments, not for something else.
#[track_caller]
fn assert_built(source: &str) {
    let found = run(source, LOCK_02);
    assert!(
        found.iter().any(|v| v.reason.contains("by its arguments")
            || v.reason.contains("builds a path from its arguments")
            || v.reason.contains("from a macro's arguments")),
        "not caught as built from arguments:\n{source}\n{found:#?}"
    );
}

#[test]
fn every_way_of_building_a_path_in_a_macro_is_refused() {
    for body in [
        // Metavariables as the first, a middle or the last segment.
        "($r:ident) => { $r::sync::Mutex::new(0) }",
        "($m:ident) => { std::$m::Mutex::new(0) }",
        "($i:ident) => { blocks::sync::$i::new(0) }",
        "($i:tt) => { blocks::sync::$i::new(0) }",
        "($k:ident) => { $crate::shim::$k::sync::Mutex::new(0) }",
        "($k:ident) => { ::$k::process::exit(0) }",
        "($i:ident) => { Self::$i::new(0) }",
        // Path and type fragments extended with more segments.
        "($p:path) => { $p::Mutex::new(0) }",
        "($t:ty) => { $t::new(0) }",
        // Repetitions: `::` as separator, or at an edge.
        "($($s:ident),*) => { $($s)::*::new(0) }",
        "($($s:ident),*) => { $($s::)* Mutex::new(0) }",
        "($($s:ident),*) => { std $(::$s)* ::new(0) }",
        "($($s:ident),*) => { $(std::$s)+ }",
        // A tt that is the `::`, and token runs glued onto a name.
        "($sep:tt) => { std $sep sync $sep Mutex::new(0) }",
        "($a:tt $b:tt $c:tt) => { $a $b $c }",
        "($($rest:tt)*) => { std $($rest)* }",
        "($($rest:tt)*) => { $($rest)* ::exit(0) }",
        // A macro named by an argument.
        "($m:ident) => { $m!(\"x\") }",
        "($m:tt) => { $m![\"x\"] }",
        // `$` passed in to define a macro that glues.
        "($d:tt) => { macro_rules! g { ($d($d s:ident),*) => { $d($d s)::* } } }",
        "($d:tt) => { macro_rules! g { ($d s:ident) => { std::$d s } } }",
        "($d:tt) => { macro_rules! g { ($d s:ident) => { $d s::sync::Mutex } } }",
        // An attribute named by an argument.
        "($a:meta) => { #[$a] pub fn f() {} }",
        "($a:tt) => { #[cfg_attr(all(), $a)] pub fn f() {} }",
        "($a:ident) => { #[unsafe($a)] pub fn f() {} }",
        // A macro that defines a macro that glues, with no `$` trick.
        "() => { macro_rules! g { ($a:ident, $b:ident) => { $a::$b } } }",
        // Inside an invocation of another macro.
        "($m:ident) => { vec![std::$m::id()] }",
    ] {
        let source = format!("macro_rules! m {{ {body}; }}");
        assert_built(&source);
    }
    // Defined inside another macro's input.
    assert_built(
        "macro_rules! items { ($($i:item)*) => { $($i)* } }\n\
         items! { macro_rules! g { ($a:ident) => { std::$a::exit(0) } } }",
    );
}

#[test]
fn a_macro_named_by_an_argument_is_reported_as_such() {
    let source = "macro_rules! call {\n    ($m:ident) => { $m!(\"/etc/passwd\") };\n}\n";
    let found = run(source, LOCK_02);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].item, "$m!");
    assert!(found[0].reason.contains("macro named by its arguments"));
}

/// The correct fixtures (other honest styles), with each exercise's `allowed`.
#[test]
fn correct_fixtures_have_no_violations() {
    let root = workspace();
    let catalog = crate::Catalog::load(&root).expect("the course catalog");
    let mut checked = 0;
    let mut failures = Vec::new();
    for exercise in &catalog.exercises {
        let (id, allowed) = (exercise.id.as_str(), &exercise.allowed);
        let dir = root.join("grader/tests/fixtures/correct").join(id);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("readable").path();
            if path.extension().is_none_or(|ext| ext != "rs") {
                continue;
            }
            let source = std::fs::read_to_string(&path).expect("readable");
            checked += 1;
            match check(&source, allowed) {
                Ok(found) if found.is_empty() => {}
                Ok(found) => failures.push(format!("{}: {found:#?}", path.display())),
                Err(error) => failures.push(format!("{}: does not parse: {error}", path.display())),
            }
        }
    }
    assert!(checked > 0, "no correct fixtures found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
