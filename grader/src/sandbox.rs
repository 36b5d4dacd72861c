//! Runs one check process, contained.
//!
//! The process gets its own process group, resource limits (address space, no core files, no
//! file writes, few descriptors, CPU time), a fresh nonce on standard input, and the write end
//! of a private report pipe as descriptor 3. Its standard output and error are captured up to a
//! cap. A trial that does not report within its limit gets the whole group killed. Whatever it
//! leaves behind is killed when it ends: its process group, and, because the grader is a child
//! subreaper, any descendant that escaped into a session of its own.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

/// What the check process is allowed to use.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Wall-clock limit of one trial, from its `start` report.
    pub trial_timeout: Duration,
    pub address_space_bytes: u64,
    pub cpu_seconds: u64,
    pub output_bytes: usize,
}

/// The uid and gid of `nobody`, which check processes run as when the grader is root.
const NOBODY: u32 = 65534;

/// A report line, once its nonce was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    Start {
        index: u64,
        seed: u64,
    },
    Trial {
        index: u64,
        seed: u64,
        verdict: String,
        micros: u64,
        message: String,
    },
    Done,
    Error(String),
}

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
pub fn become_subreaper() {
    // SAFETY: prctl with integer arguments only.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array we pass.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
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

fn parse(line: &str, nonce: &str) -> Option<Report> {
    let mut fields = line.split('\t');
    if fields.next()? != nonce {
        return None;
    }
    let kind = fields.next()?;
    let mut number = || fields.next().and_then(|f| f.parse::<u64>().ok());
    Some(match kind {
        "start" => Report::Start {
            index: number()?,
            seed: number()?,
        },
        "trial" => {
            let (index, seed) = (number()?, number()?);
            let verdict = fields.next()?.to_string();
            let micros = fields.next()?.parse().ok()?;
            let message = fields.next().unwrap_or("").to_string();
            Report::Trial {
                index,
                seed,
                verdict,
                micros,
                message,
            }
        }
        "done" => Report::Done,
        "error" => Report::Error(fields.next().unwrap_or("").to_string()),
        _ => return None,
    })
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

/// Runs `program args…` as a check process and waits for it.
pub fn run(
    program: &Path,
    args: &[String],
    workdir: &Path,
    limits: Limits,
) -> std::io::Result<Run> {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    match run_as(program, args, workdir, limits, root) {
        // `nobody` cannot reach the binary (a private home folder): run with our own rights.
        Err(error) if root && error.kind() == std::io::ErrorKind::PermissionDenied => {
            run_as(program, args, workdir, limits, false)
        }
        result => result,
    }
}

fn run_as(
    program: &Path,
    args: &[String],
    workdir: &Path,
    limits: Limits,
    drop_to_nobody: bool,
) -> std::io::Result<Run> {
    let nonce = nonce();
    let (report_read, report_write) = pipe()?;
    let report_fd = report_write.as_raw_fd();
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(workdir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let rlimits = [
        (libc::RLIMIT_AS, limits.address_space_bytes),
        (libc::RLIMIT_CORE, 0),
        (libc::RLIMIT_FSIZE, 0),
        (libc::RLIMIT_NOFILE, 64),
        (libc::RLIMIT_NPROC, 2048),
        (libc::RLIMIT_CPU, limits.cpu_seconds),
    ];
    // As root (CI, Gradescope), the check runs as `nobody`: it cannot write the workspace, the
    // scorecard or the hidden checks, and the process-count limit binds again.
    // SAFETY: the closure runs in the forked child before exec and calls only async-signal-safe
    // functions (setpgid, dup2, setrlimit, setgroups, setgid, setuid, prctl) on values prepared
    // before the fork.
    unsafe {
        command.pre_exec(move || {
            if libc::setpgid(0, 0) != 0 || libc::dup2(report_fd, 3) != 3 {
                return Err(std::io::Error::last_os_error());
            }
            for (resource, value) in rlimits {
                let limit = libc::rlimit {
                    rlim_cur: value,
                    rlim_max: value,
                };
                libc::setrlimit(resource, &limit);
            }
            if drop_to_nobody
                && (libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(NOBODY) != 0
                    || libc::setuid(NOBODY) != 0)
            {
                return Err(std::io::Error::last_os_error());
            }
            // After the credentials change, which clears it.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
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
    // Until the first `start`, the process is only starting up.
    let mut deadline = Instant::now() + limits.trial_timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => match parse(&line, &nonce) {
                Some(report) => {
                    match &report {
                        Report::Start { .. } => deadline = Instant::now() + limits.trial_timeout,
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

fn kill_group(pid: u32) {
    // SAFETY: kill with a negative pid signals the process group we created for the child.
    unsafe {
        libc::kill(-(pid as i32), libc::SIGKILL);
    }
}

/// Kills and reaps children of ours that we did not start: descendants of a check that left
/// its process group, adopted by us as subreaper.
fn reap_escapees() {
    let me = std::process::id();
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
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let parent = after
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if parent != Some(me) || tracked.as_ref().is_some_and(|t| t.contains(&pid)) {
            continue;
        }
        // SAFETY: signalling and reaping a child of ours that no other code waits for.
        unsafe {
            libc::kill(pid as i32, libc::SIGKILL);
            libc::waitpid(pid as i32, std::ptr::null_mut(), 0);
        }
    }
}
