//! What the process is costing: CPU time and context switches, and threads asleep.

use std::time::Duration;

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
        .filter(|task| {
            std::fs::read_to_string(task.path().join("stat"))
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
        })
        .count()
}
