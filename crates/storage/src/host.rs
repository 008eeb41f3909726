//! Everything the driver asks of the host beyond plain file access: external commands (qemu-img,
//! mkfs, mount, blkid), each with a deadline, and the mount table. Behind [`System`] so the driver
//! logic is unit-tested without root and without those programs.

use std::io;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

/// What a finished command left.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CmdOutput {
    /// The exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// The host as the storage driver sees it.
pub trait System: Send + Sync {
    /// Runs `program` with `args`, killing it after `timeout`.
    fn run(&self, program: &str, args: &[String], timeout: Duration) -> io::Result<CmdOutput>;
    /// The source of the filesystem mounted at `target`, if one is.
    fn mounted_at(&self, target: &Path) -> io::Result<Option<String>>;
}

/// The real host.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealSystem;

impl System for RealSystem {
    fn run(&self, program: &str, args: &[String], timeout: Duration) -> io::Result<CmdOutput> {
        run_command(program, args, timeout)
    }

    fn mounted_at(&self, target: &Path) -> io::Result<Option<String>> {
        let table = std::fs::read_to_string("/proc/self/mounts")?;
        Ok(mount_source(&table, target))
    }
}

/// A shared handle on the host, cheap to clone.
pub type Host = Arc<dyn System>;

pub fn real() -> Host {
    Arc::new(RealSystem)
}

/// The source of the last mount on `target` in a `/proc/self/mounts` table (later mounts hide
/// earlier ones). Fields escape space, tab, newline and backslash as octal.
pub fn mount_source(table: &str, target: &Path) -> Option<String> {
    let want = target.to_string_lossy();
    table.lines().rev().find_map(|l| {
        let mut f = l.split(' ');
        let src = f.next()?;
        let dst = f.next()?;
        (unescape(dst) == want).then(|| unescape(src))
    })
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs a child with null stdin in the C locale (messages we quote stay English), killed at the
/// deadline (`oxvirt_sysutil::child::run`).
pub fn run_command(program: &str, args: &[String], timeout: Duration) -> io::Result<CmdOutput> {
    let mut cmd = Command::new(program);
    cmd.args(args).env("LC_ALL", "C");
    let o = oxvirt_sysutil::child::run(cmd, None, timeout).map_err(|e| match e.kind() {
        io::ErrorKind::TimedOut => {
            io::Error::new(e.kind(), format!("{program} {} did not finish within {timeout:?}", args.join(" ")))
        }
        _ => io::Error::new(e.kind(), format!("cannot run {program}: {e}")),
    })?;
    Ok(CmdOutput { code: o.status.code(), stdout: o.stdout, stderr: o.stderr })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_table() {
        let t = "proc /proc proc rw 0 0\n/dev/loop3 /tmp/a\\040b ext4 rw 0 0\n/dev/loop4 /mnt ext4 rw 0 0\n\
                 /dev/loop5 /mnt xfs rw 0 0\n";
        assert_eq!(mount_source(t, Path::new("/tmp/a b")).as_deref(), Some("/dev/loop3"));
        assert_eq!(mount_source(t, Path::new("/mnt")).as_deref(), Some("/dev/loop5"));
        assert_eq!(mount_source(t, Path::new("/tmp")), None);
    }

    #[test]
    fn commands_time_out() {
        let r = run_command("sleep", &["5".into()], Duration::from_millis(100));
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::TimedOut);
        let r =
            run_command("sh", &["-c".into(), "echo hi; echo no >&2; exit 3".into()], Duration::from_secs(5)).unwrap();
        assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (Some(3), "hi\n", "no\n"));
    }
}
