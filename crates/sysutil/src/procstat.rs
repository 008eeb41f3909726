//! One reader of `/proc/PID/stat` (and `/proc/PID/task/TID/stat`) for every crate: the command
//! name (field 2) may hold spaces and parentheses, so fields are counted from the last `)`.

use std::fs;

/// The fields of a `stat` file oxvirt uses (proc(5) numbering in the comments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// (3) `R`, `S`, `D`, `Z` (zombie), `X` (dead), ...
    pub state: char,
    /// (4) the parent's pid.
    pub ppid: i32,
    /// (14) user-mode CPU time, in clock ticks.
    pub utime: u64,
    /// (15) kernel-mode CPU time, in clock ticks.
    pub stime: u64,
    /// (22) clock ticks after boot; with the pid it identifies a process across pid reuse.
    pub start_time: u64,
}

impl ProcStat {
    /// Parses a `stat` file's content; `None` if a field is missing or malformed.
    pub fn parse(content: &str) -> Option<ProcStat> {
        let rest = &content[content.rfind(')')? + 1..];
        let f: Vec<&str> = rest.split_ascii_whitespace().collect();
        // f[0] is field 3.
        let num = |field: usize| f.get(field - 3)?.parse::<u64>().ok();
        Some(ProcStat {
            state: f.first()?.chars().next()?,
            ppid: f.get(1)?.parse().ok()?,
            utime: num(14)?,
            stime: num(15)?,
            start_time: num(22)?,
        })
    }

    /// `/proc/PID/stat` now; `None` once the process is gone (or unreadable).
    pub fn of_pid(pid: i32) -> Option<ProcStat> {
        ProcStat::parse(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    }

    /// `/proc/PID/task/TID/stat`: one thread's times.
    pub fn of_task(pid: i32, tid: i32) -> Option<ProcStat> {
        ProcStat::parse(&fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?)
    }

    /// Exited but not reaped (zombie), or dead.
    pub fn exited(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }

    /// User and system CPU time in nanoseconds.
    pub fn cpu_ns(&self) -> (u64, u64) {
        let per_tick = 1_000_000_000 / clock_ticks_per_sec();
        (self.utime * per_tick, self.stime * per_tick)
    }
}

/// `sysconf(_SC_CLK_TCK)`, the unit of the time fields (at least 1).
pub fn clock_ticks_per_sec() -> u64 {
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().unwrap_or(1);
    hz.max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_comm() {
        let line = "1234 (qemu (x) y) Z 1 1234 1234 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 3 0 987654 123 45";
        let s = ProcStat::parse(line).unwrap();
        assert_eq!(s, ProcStat { state: 'Z', ppid: 1, utime: 5, stime: 3, start_time: 987654 });
        assert!(s.exited());
        assert_eq!(ProcStat::parse("garbage"), None);
        assert_eq!(ProcStat::parse("1 (x) R 1 2"), None);
    }

    #[test]
    fn reads_this_process_and_its_thread() {
        let me = std::process::id() as i32;
        let s = ProcStat::of_pid(me).unwrap();
        assert!(!s.exited());
        assert!(s.start_time > 0);
        assert_eq!(ProcStat::of_task(me, me).map(|t| t.start_time), Some(s.start_time));
        assert!(ProcStat::of_pid(-1).is_none());
    }
}
