//! Runs one check process, contained.
//!
//! Every process that links code under test starts here, and nowhere else. Before its first
//! instruction (constructors that run before `main` included) it has: a session of its own (so
//! its own process group, and no terminal), resource limits (address space, no core files, few
//! descriptors and processes, CPU time), when the grader is root a user id that belongs to its
//! concurrent slot alone, no right to create, write or remove any file (Landlock, set between
//! fork and exec), and a working folder and a copy of its binary in a private folder that it
//! can read but not write. It gets a fresh nonce on standard input and the write end of a
//! private report pipe as descriptor 3 ([`protocol`]). Its standard output and error are
//! captured up to a cap. A trial that does not report within its limit gets the whole group
//! killed. Whatever it leaves behind is killed when it ends: its process group, any descendant
//! that escaped into a session of its own (the grader is a child subreaper), and, as root,
//! every process of its slot's user id.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

pub use protocol::Report;

/// What the check process is allowed to use.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Wall-clock limit of one trial, from its `start` report.
    pub trial_timeout: Duration,
    pub address_space_bytes: u64,
    pub cpu_seconds: u64,
    pub output_bytes: usize,
}

/// The uids (and gids) check processes run as when the grader is root: one per concurrent slot,
/// claimed for as long as the sandbox lives, so that a check's processes and threads count
/// against a limit of their own, never against a neighbour's (`RLIMIT_NPROC` counts per user).
/// Uids that name an account are passed over.
const SLOT_UIDS: std::ops::Range<u32> = 60_000..60_512;

/// Where slots are claimed: one lock file per uid, held with `flock` (released by the kernel
/// when the grader dies, however it dies), so that graders on one machine never share a uid.
const SLOT_CLAIMS: &str = "/run/locksmith-slots";

/// How the process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Exited(i32),
    Signalled(i32),
    /// Killed by us: a trial ran past its limit.
    TimedOut,
}

#[derive(Debug)]
pub struct Run {
    pub reports: Vec<Report>,
    pub ending: Ending,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// Report lines with a wrong nonce: something other than the harness wrote them.
    pub forged_lines: usize,
}

/// Pids of the children the grader started and still waits for (check processes, cargo); any
/// other child of ours is an escaped descendant of a check.
static TRACKED: Mutex<Option<HashSet<u32>>> = Mutex::new(None);

/// Starts `command` as a tracked child. The lock is held across the spawn, so a concurrent
/// sweep for escapees never mistakes the new child for one.
pub fn spawn_tracked(command: &mut Command) -> std::io::Result<std::process::Child> {
    let mut tracked = TRACKED.lock().unwrap_or_else(|e| e.into_inner());
    let child = command.spawn()?;
    tracked.get_or_insert_with(HashSet::new).insert(child.id());
    Ok(child)
}

/// Call once the child was waited for.
pub fn untrack(pid: u32) {
    if let Some(tracked) = TRACKED.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        tracked.remove(&pid);
    }
}

/// Makes this process adopt orphaned descendants, so that escapees can be found and killed.
fn become_subreaper() {
    // SAFETY: prctl with integer arguments only.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// The report pipe: (read end, write end). The write end is moved to descriptor 10 or above,
/// so that in the child, after std has set up descriptors 0 to 2, `dup2` onto
/// [`protocol::REPORT_FD`] always copies it (were it 3 already, `dup2` would keep its
/// close-on-exec flag; were it 0 to 2, std would have replaced it).
fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array we pass.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: fcntl duplicates a descriptor we own; the new one is ours alone.
    let high = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10) };
    if high < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `high` was just created and is owned by nobody else.
    Ok((read, unsafe { OwnedFd::from_raw_fd(high) }))
}

fn nonce() -> String {
    let mut bytes = [0u8; 16];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_err()
    {
        // Good enough when /dev/urandom is missing: unpredictable to code that has not run yet.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        bytes = (t ^ u128::from(std::process::id()) << 64).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn capture(stream: impl Read + Send + 'static, cap: usize) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut reader = stream;
        let mut buffer = [0u8; 8192];
        let mut dropped = false;
        // Keep draining past the cap, so a chatty process never blocks on a full pipe.
        while let Ok(n) = reader.read(&mut buffer) {
            if n == 0 {
                break;
            }
            let room = cap.saturating_sub(kept.len());
            kept.extend_from_slice(&buffer[..n.min(room)]);
            dropped |= n > room;
        }
        let mut text = String::from_utf8_lossy(&kept).into_owned();
        if dropped {
            text.push_str("\n[output truncated]");
        }
        text
    })
}

/// Where check processes run: a private folder holding their working folder and a copy of
/// each check binary, both reachable (not writable) by the check's user, whatever the permissions of
/// the workspace (a root-owned home folder, say). Removed when dropped.
pub struct Sandbox {
    dir: tempfile::TempDir,
    /// Whether checks run under slot uids (the grader is root).
    as_root: bool,
    /// Slot → its uid, and the claim that keeps it ours.
    slots: Mutex<HashMap<usize, (u32, std::fs::File)>>,
    copies: Mutex<HashMap<PathBuf, PathBuf>>,
}

/// Why a check process could not be started: the grader's failure, never the learner's.
#[derive(Debug)]
pub struct StartError(pub String);

impl Sandbox {
    pub fn new() -> std::io::Result<Sandbox> {
        become_subreaper();
        let dir = tempfile::Builder::new()
            .prefix("locksmith-sandbox-")
            .tempdir()?;
        std::fs::create_dir(dir.path().join("bin"))?;
        std::fs::create_dir(dir.path().join("work"))?;
        for folder in [
            dir.path(),
            &dir.path().join("bin"),
            &dir.path().join("work"),
        ] {
            std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o711))?;
        }
        Ok(Sandbox {
            dir,
            // SAFETY: geteuid has no preconditions.
            as_root: unsafe { libc::geteuid() } == 0,
            slots: Mutex::new(HashMap::new()),
            copies: Mutex::new(HashMap::new()),
        })
    }

    /// The binary's copy inside the sandbox, made on first use (or by [`Sandbox::install`]
    /// beforehand, while nothing can change the original).
    pub fn install(&self, program: &Path) -> std::io::Result<PathBuf> {
        let mut copies = self.copies.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(copy) = copies.get(program) {
            return Ok(copy.clone());
        }
        let copy = self.dir.path().join("bin").join(format!(
            "{}-{}",
            copies.len(),
            program.file_name().unwrap_or_default().to_string_lossy()
        ));
        std::fs::copy(program, &copy)?;
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755))?;
        copies.insert(program.to_path_buf(), copy.clone());
        Ok(copy)
    }

    /// The uid that checks of `slot` run as, when the grader is root: claimed on first use,
    /// with anything still running under it killed.
    pub fn slot_uid(&self, slot: usize) -> Result<Option<u32>, StartError> {
        if !self.as_root {
            return Ok(None);
        }
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((uid, _)) = slots.get(&slot) {
            return Ok(Some(*uid));
        }
        let (uid, claim) = claim_uid().map_err(|error| {
            StartError(format!(
                "could not claim a user id for check slot {slot}: {error}"
            ))
        })?;
        kill_every_process_of(uid);
        slots.insert(slot, (uid, claim));
        Ok(Some(uid))
    }

    /// Runs `program run …` as a check process of concurrent slot `slot` and waits for it. A
    /// process that cannot be started for want of resources (`EAGAIN`, `ENOMEM`) is retried a
    /// few times.
    pub fn run(
        &self,
        program: &Path,
        run: &protocol::RunArgs,
        limits: Limits,
        slot: usize,
    ) -> Result<Run, StartError> {
        self.run_with_args(program, &run.to_args(), limits, slot)
    }

    /// Runs a bench binary (`program bench …`) the same way: a `measuring` report starts each
    /// case's wall-clock limit, as `start` does a trial's.
    pub fn run_bench(
        &self,
        program: &Path,
        bench: &protocol::BenchArgs,
        limits: Limits,
        slot: usize,
    ) -> Result<Run, StartError> {
        self.run_with_args(program, &bench.to_args(), limits, slot)
    }

    fn run_with_args(
        &self,
        program: &Path,
        args: &[String],
        limits: Limits,
        slot: usize,
    ) -> Result<Run, StartError> {
        let uid = self.slot_uid(slot)?;
        let program = self.install(program).map_err(|error| {
            StartError(format!(
                "could not copy {} into the sandbox: {error}",
                program.display()
            ))
        })?;
        let mut pause = Duration::from_millis(50);
        for attempt in 1.. {
            match self.run_once(&program, args, limits, uid) {
                Ok(run) => return Ok(run),
                Err(error) if attempt < 6 && transient(&error) => {
                    std::thread::sleep(pause);
                    pause *= 2;
                }
                Err(error) => {
                    return Err(StartError(format!(
                        "could not start the check process (after {attempt} attempts): {error}"
                    )))
                }
            }
        }
        unreachable!("the loop returns")
    }

    fn run_once(
        &self,
        program: &Path,
        args: &[String],
        limits: Limits,
        uid: Option<u32>,
    ) -> std::io::Result<Run> {
        let nonce = nonce();
        let (report_read, report_write) = pipe()?;
        let report_fd = report_write.as_raw_fd();
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(self.dir.path().join("work"))
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // As root (CI, Gradescope), the check runs as its slot's uid (std drops the
        // supplementary groups too): it cannot write the workspace, the scorecard or the hidden
        // checks, and the process-count limit binds again, to it alone.
        if let Some(uid) = uid {
            command.uid(uid).gid(uid);
        }
        let rlimits = [
            (libc::RLIMIT_AS, limits.address_space_bytes),
            (libc::RLIMIT_CORE, 0),
            (libc::RLIMIT_FSIZE, 0),
            (libc::RLIMIT_NOFILE, 64),
            (libc::RLIMIT_NPROC, 2048),
            (libc::RLIMIT_CPU, limits.cpu_seconds),
        ];
        let mut no_writes = file_write_ban();
        // SAFETY: the closure runs in the forked child before exec and makes only system calls
        // (setsid, dup2, setrlimit, prctl, and Landlock's prctl and landlock_restrict_self) on values prepared
        // before the fork; it allocates nothing.
        unsafe {
            command.pre_exec(move || {
                // A session of its own (and so a process group): no controlling terminal, and
                // no descendant can ever rejoin the grader's session, which is how escapees
                // are told from the grader's other children.
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::dup2(report_fd, protocol::REPORT_FD) != protocol::REPORT_FD {
                    return Err(std::io::Error::last_os_error());
                }
                for (resource, value) in rlimits {
                    let limit = libc::rlimit {
                        rlim_cur: value,
                        rlim_max: value,
                    };
                    libc::setrlimit(resource, &limit);
                }
                // After the credentials change, which clears it.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
                forbid_file_writes(&mut no_writes);
                Ok(())
            });
        }

        let started = Instant::now();
        let mut child = spawn_tracked(&mut command)?;
        let pid = child.id();
        drop(report_write);

        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(format!("{nonce}\n").as_bytes());
        }
        let stdout = capture(child.stdout.take().expect("piped"), limits.output_bytes);
        let stderr = capture(child.stderr.take().expect("piped"), limits.output_bytes);

        let (lines_tx, lines) = mpsc::channel();
        let report_file = std::fs::File::from(report_read);
        std::thread::spawn(move || {
            for line in BufReader::new(report_file).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });

        let mut reports = Vec::new();
        let mut forged_lines = 0;
        let mut timed_out = false;
        // Until the first `start`, the process is only starting up (constructors included).
        let mut deadline = Instant::now() + limits.trial_timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => match Report::decode(&line, &nonce) {
                    Some(report) => {
                        match &report {
                            Report::Start { .. } | Report::Measuring(_) => {
                                deadline = Instant::now() + limits.trial_timeout
                            }
                            // Leaving takes no time: a `done` process that lingers is stuck in
                            // code under test.
                            Report::Done => deadline = Instant::now() + Duration::from_secs(2),
                            _ => {}
                        }
                        reports.push(report);
                    }
                    None => forged_lines += 1,
                },
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    timed_out = !reports.contains(&Report::Done);
                    break;
                }
            }
        }

        kill_group(pid);
        let status = child.wait()?;
        let elapsed = started.elapsed();
        untrack(pid);
        reap_escapees();
        if let Some(uid) = uid {
            kill_every_process_of(uid);
        }

        let ending = if timed_out {
            Ending::TimedOut
        } else if let Some(signal) = status.signal() {
            Ending::Signalled(signal)
        } else {
            Ending::Exited(status.code().unwrap_or(-1))
        };
        Ok(Run {
            reports,
            ending,
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
            elapsed,
            forged_lines,
        })
    }
}

/// Errors that say "not now" rather than "never".
fn transient(error: &std::io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EAGAIN)
            | Some(libc::ENOMEM)
            | Some(libc::EMFILE)
            | Some(libc::ENFILE)
            // The copy of the binary is still open for writing in a child another thread forked
            // before its exec.
            | Some(libc::ETXTBSY)
    )
}

/// A Landlock ruleset that allows reading and executing everything and nothing else (Linux
/// 5.13 and later; `None` elsewhere, where the other limits remain: no file size, and a slot's
/// user id when the grader is root). Made before the fork, applied in the child.
#[cfg(target_os = "linux")]
fn file_write_ban() -> Option<landlock::RulesetCreated> {
    use landlock::{
        path_beneath_rules, Access, AccessFs, Ruleset, RulesetAttr, RulesetCreatedAttr, ABI,
    };
    let abi = ABI::V3;
    Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .and_then(|r| r.create())
        .and_then(|r| r.add_rules(path_beneath_rules(["/"], AccessFs::from_read(abi))))
        .ok()
}

#[cfg(target_os = "linux")]
fn forbid_file_writes(ruleset: &mut Option<landlock::RulesetCreated>) {
    if let Some(ruleset) = ruleset.take() {
        let _ = ruleset.restrict_self();
    }
}

#[cfg(not(target_os = "linux"))]
fn file_write_ban() -> Option<()> {
    None
}

#[cfg(not(target_os = "linux"))]
fn forbid_file_writes(_: &mut Option<()>) {}

/// Claims the first free slot uid that names no account.
fn claim_uid() -> std::io::Result<(u32, std::fs::File)> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
    let dir = Path::new(SLOT_CLAIMS);
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    // Only a folder of root's that nobody else may write can hold claims.
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() || meta.uid() != 0 || meta.mode() & 0o022 != 0 {
        return Err(std::io::Error::other(format!(
            "{SLOT_CLAIMS} is not a folder that only root may write"
        )));
    }
    for uid in SLOT_UIDS {
        // SAFETY: getpwuid returns a pointer to static storage or null; only null is tested.
        if !unsafe { libc::getpwuid(uid) }.is_null() {
            continue;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(dir.join(uid.to_string()))?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok((uid, file));
        }
    }
    Err(std::io::Error::other(format!(
        "every user id in {}..{} is taken by other graders",
        SLOT_UIDS.start, SLOT_UIDS.end
    )))
}

/// Kills every process running as `uid`, a slot's, which only this sandbox uses: whatever a
/// check left behind, wherever it went.
fn kill_every_process_of(uid: u32) {
    // SAFETY: the child only makes system calls (setgid, setuid, kill, _exit) before it exits;
    // it allocates nothing. `kill(-1)` as `uid` reaches exactly the processes of `uid`, and
    // not the caller.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            if libc::setgid(uid) == 0 && libc::setuid(uid) == 0 {
                libc::kill(-1, libc::SIGKILL);
            }
            libc::_exit(0);
        }
        if pid > 0 {
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
    }
}

fn kill_group(pid: u32) {
    // SAFETY: kill with a negative pid signals the process group we created for the child.
    unsafe {
        libc::kill(-(pid as i32), libc::SIGKILL);
    }
}

/// Kills and reaps children of ours that we did not start: descendants of a check that left
/// its process group, adopted by us as subreaper. Every check process starts a session of its
/// own, and its descendants can never join ours, so a child in another session that we do not
/// wait for is an escapee; children in our session belong to whoever embeds the grader.
fn reap_escapees() {
    let me = std::process::id();
    // SAFETY: getsid(0) asks for our own session and has no preconditions.
    let our_session = unsafe { libc::getsid(0) };
    let tracked = TRACKED.lock().unwrap_or_else(|e| e.into_inner());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // After the command name: state, ppid, pgrp, session, …
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = after.split_whitespace().collect();
        let parent = fields.get(1).and_then(|p| p.parse::<u32>().ok());
        let session = fields.get(3).and_then(|s| s.parse::<i32>().ok());
        if parent != Some(me)
            || session == Some(our_session)
            || tracked.as_ref().is_some_and(|t| t.contains(&pid))
        {
            continue;
        }
        // SAFETY: signalling and reaping a child of ours that no other code waits for.
        unsafe {
            libc::kill(pid as i32, libc::SIGKILL);
            libc::waitpid(pid as i32, std::ptr::null_mut(), 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_that_cannot_start_is_the_graders_error() {
        let sandbox = Sandbox::new().expect("a sandbox");
        let run = protocol::RunArgs {
            check: "any".into(),
            seed: 1,
            trials: 1,
            perturb: 0,
            plain: false,
            explore: true,
            schedule: None,
        };
        let limits = Limits {
            trial_timeout: Duration::from_secs(1),
            address_space_bytes: 1 << 30,
            cpu_seconds: 1,
            output_bytes: 1024,
        };
        let error = sandbox
            .run(Path::new("/nonexistent/check-binary"), &run, limits, 0)
            .expect_err("nothing to start");
        assert!(error.0.contains("sandbox"), "{}", error.0);
    }

    fn processes_of(uid: u32) -> usize {
        use std::os::unix::fs::MetadataExt;
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.parse::<u32>().is_ok())
            })
            .filter(|e| e.metadata().is_ok_and(|m| m.uid() == uid))
            .count()
    }

    /// A script run as a check: it ignores the check's arguments.
    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn a_slot_that_holds_every_process_it_may_does_not_stop_its_neighbour() {
        let sandbox = Sandbox::new().expect("a sandbox");
        let Some(hoarder) = sandbox.slot_uid(0).expect("a slot") else {
            // Not root: checks run as the grader's own user, with no uid to give each slot.
            // SAFETY: geteuid has no preconditions.
            assert!(unsafe { libc::geteuid() } != 0);
            return;
        };
        let neighbour = sandbox.slot_uid(1).expect("a slot").expect("root");
        let other_grader = Sandbox::new().expect("a sandbox");
        let third = other_grader.slot_uid(0).expect("a slot").expect("root");
        assert!(hoarder != neighbour && third != hoarder && third != neighbour);
        assert!(
            ![hoarder, neighbour, third].contains(&65534),
            "not nobody's"
        );

        let scripts = tempfile::tempdir().unwrap();
        std::fs::set_permissions(scripts.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        // Holds all but a few of its user's processes (the limit is 2048) until killed. (A
        // shell that fails to fork exits, and what it leaves is killed as an escapee.)
        let hoard = script(
            scripts.path(),
            "hoard",
            "i=0; while [ $i -lt 2040 ]; do sleep 60 & i=$((i+1)); done; wait",
        );
        let starts = script(
            scripts.path(),
            "starts",
            "for i in 1 2 3 4 5 6 7 8; do sleep 0 & done; wait; echo started",
        );
        let run = protocol::RunArgs {
            check: "any".into(),
            seed: 1,
            trials: 1,
            perturb: 0,
            plain: false,
            explore: true,
            schedule: None,
        };
        let limits = |seconds| Limits {
            trial_timeout: Duration::from_secs(seconds),
            address_space_bytes: 1 << 30,
            cpu_seconds: 60,
            output_bytes: 1024,
        };
        std::thread::scope(|scope| {
            let held = scope.spawn(|| sandbox.run(&hoard, &run, limits(30), 0));
            let full = Instant::now() + Duration::from_secs(25);
            while processes_of(hoarder) < 2041 && Instant::now() < full {
                std::thread::sleep(Duration::from_millis(100));
            }
            let n = processes_of(hoarder);

            assert!(n >= 2041, "the hoard is held: {n} processes");

            // Started, and started processes of its own.
            let unhindered = |run: &Result<Run, StartError>| matches!(run, Ok(run) if run.stdout.contains("started") && run.stderr.is_empty());
            // Its neighbour's check starts and runs as if it were alone…
            let beside = sandbox.run(&starts, &run, limits(5), 1);
            assert!(unhindered(&beside), "{beside:?}");
            assert!(
                processes_of(hoarder) >= 2041,
                "the hoard was held meanwhile"
            );
            // …while one in the hoarder's own slot cannot (and its end kills the hoard).
            let own = sandbox.run(&starts, &run, limits(5), 0);
            assert!(
                !unhindered(&own),
                "the limit binds the hoarder's slot: {own:?}"
            );

            // Killing the hoard leaves nothing of its user behind.
            kill_every_process_of(hoarder);
            let _ = held.join();
        });
        assert_eq!(processes_of(hoarder), 0);
    }

    #[test]
    fn only_the_sandbox_and_the_build_start_processes() {
        // Every process that links code under test must start in `Sandbox::run_once`; cargo is
        // the only other program the grader runs.
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut starts = Vec::new();
        let mut stack = vec![src.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    // The code, without its tests (this one names what it looks for).
                    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                    for needle in ["Command::new(", ".spawn()", "fork("] {
                        let text = code;
                        if text.contains(needle) {
                            let name = path.strip_prefix(&src).unwrap().display().to_string();
                            starts.push(format!("{name}: {needle}"));
                        }
                    }
                }
            }
        }
        starts.sort();
        starts.dedup();
        assert_eq!(
            starts,
            [
                "build.rs: Command::new(",
                "sandbox.rs: .spawn()",
                "sandbox.rs: Command::new(",
                "sandbox.rs: fork("
            ],
            "a new place starts processes: code under test must only run through the sandbox"
        );
    }
}
