//! What the process is costing: CPU time and context switches, and threads asleep.

use std::path::Path;
use std::time::{Duration, Instant};

/// CPU time and context switches used by the whole process (every thread) so far.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    pub cpu: Duration,
    pub context_switches: u64,
}

impl Usage {
    pub fn now() -> Usage {
        // SAFETY: getrusage fills the zeroed struct we pass and keeps no pointer to it.
        let usage = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_SELF, &mut usage);
            usage
        };
        let time = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        Usage {
            cpu: time(usage.ru_utime) + time(usage.ru_stime),
            context_switches: (usage.ru_nvcsw + usage.ru_nivcsw) as u64,
        }
    }

    /// What was used between `earlier` and `self`.
    pub fn since(self, earlier: Usage) -> Usage {
        Usage {
            cpu: self.cpu.saturating_sub(earlier.cpu),
            context_switches: self
                .context_switches
                .saturating_sub(earlier.context_switches),
        }
    }
}

/// How many threads of this process are asleep in the kernel right now (state S or D).
pub fn sleeping_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|task| asleep_in(&task.path().join("stat")))
        .count()
}

/// Whether the `/proc/.../stat` file at `path` shows a thread asleep in the kernel (state S or D).
fn asleep_in(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|stat| {
            // The state follows the parenthesised name, which may itself hold spaces.
            let after = &stat[stat.rfind(')')? + 1..];
            after
                .split_whitespace()
                .next()
                .map(|s| s == "S" || s == "D")
        })
        .unwrap_or(false)
}

/// The kernel's id of one thread of this process, to ask whether that very thread sleeps
/// (where [`sleeping_threads`] counts them all). A waiter sends `KernelTid::current()` to the
/// check just before it blocks.
///
/// Without `/proc` the id is unknown: such a thread counts as asleep (checks then rely on their
/// grace periods) and never as gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelTid(Option<String>);

impl KernelTid {
    /// The calling thread's id (`/proc/thread-self` is `PID/task/TID`).
    pub fn current() -> KernelTid {
        KernelTid(
            std::fs::read_link("/proc/thread-self")
                .ok()
                .and_then(|link| Some(link.file_name()?.to_string_lossy().into_owned())),
        )
    }

    /// Whether the thread sleeps in the kernel (state S or D); true if the id is unknown.
    pub fn is_asleep(&self) -> bool {
        match &self.0 {
            Some(tid) => asleep_in(Path::new(&format!("/proc/self/task/{tid}/stat"))),
            None => true,
        }
    }

    /// Whether the thread has ended; false if the id is unknown.
    pub fn is_gone(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|tid| !Path::new(&format!("/proc/self/task/{tid}")).exists())
    }
}

/// Waits until every thread of `tids` sleeps, seen twice 20 ms apart (at most `limit`); returns
/// whether it did. A spinning waiter never sleeps.
pub fn wait_asleep(tids: &[KernelTid], limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if tids.iter().all(KernelTid::is_asleep) {
            std::thread::sleep(Duration::from_millis(20));
            if tids.iter().all(KernelTid::is_asleep) {
                return true;
            }
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
