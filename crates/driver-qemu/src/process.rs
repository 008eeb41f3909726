//! Starting, watching and stopping QEMU processes.
//!
//! A QEMU outlives the process that started it (a daemon restart must not kill guests).
//! Once its starter is gone it is re-parented to PID 1 — which on some machines reaps
//! late — or to a child subreaper ([`set_child_subreaper`]); so liveness checks treat
//! zombies as dead and processes are identified by pid plus start time.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;
use oxvirt_qmp::{Qmp, QmpError};

/// How many log lines a start failure carries.
pub const LOG_TAIL_LINES: usize = 10;

const POLL: Duration = Duration::from_millis(10);
const EXIT_POLL: Duration = Duration::from_millis(1);

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("preparing run directory {path}: {source}")]
    RunDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("opening QEMU log {path}: {source}")]
    Log {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("executing {binary}: {source}")]
    Exec {
        binary: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("QEMU failed to start ({status}); last log lines:\n{log}")]
    StartFailed { status: String, log: String },
    #[error("QEMU did not finish starting within {timeout:?}; last log lines:\n{log}")]
    StartTimeout { timeout: Duration, log: String },
    #[error("reading QEMU pidfile {path}: {detail}")]
    Pidfile { path: PathBuf, detail: String },
    #[error("connecting to QEMU's QMP socket: {source}; last log lines:\n{log}")]
    Qmp {
        #[source]
        source: QmpError,
        log: String,
    },
    #[error("signalling QEMU pid {pid}: {source}")]
    Signal {
        pid: i32,
        #[source]
        source: Errno,
    },
    #[error("QEMU pid {pid} still alive {waited:?} after SIGKILL")]
    Unkillable { pid: i32, waited: Duration },
    #[error("the QEMU command line does not name the pidfile {pidfile} (command::RuntimeArgs)")]
    RuntimeArgs { pidfile: PathBuf },
    #[error("marking this process as child subreaper: {0}")]
    Subreaper(#[source] Errno),
}

/// Makes orphaned descendants (QEMUs started by a process that exited) re-parent to this process instead of
/// PID 1, so their exit is seen immediately and they can be reaped here.
pub fn set_child_subreaper() -> Result<(), ProcessError> {
    nix::sys::prctl::set_child_subreaper(true).map_err(ProcessError::Subreaper)
}

/// Fields of `/proc/PID/stat` we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub state: char,
    /// Clock ticks after boot; with the pid it identifies a process across pid reuse.
    pub start_time: u64,
}

impl From<oxvirt_sysutil::procstat::ProcStat> for ProcStat {
    fn from(s: oxvirt_sysutil::procstat::ProcStat) -> ProcStat {
        ProcStat { state: s.state, start_time: s.start_time }
    }
}

/// Parses `/proc/PID/stat` content (with [`oxvirt_sysutil::procstat`], the one parser).
pub fn parse_stat(content: &str) -> Option<ProcStat> {
    oxvirt_sysutil::procstat::ProcStat::parse(content).map(Into::into)
}

pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    oxvirt_sysutil::procstat::ProcStat::of_pid(pid).map(Into::into)
}

/// True while `pid` runs. Zombies (and dead-but-listed tasks) count as exited; if the
/// zombie is our own child it is reaped here.
pub fn is_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // Reaps it if it is our child and has exited; ECHILD otherwise, which is fine.
    let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
    matches!(proc_stat(pid), Some(s) if s.state != 'Z' && s.state != 'X')
}

/// The last `lines` lines of a log file (at most the last 64 KiB are read).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(mut f) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(64 * 1024);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    if f.read_to_end(&mut buf).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Outcome of waiting for a QMP socket while the process that should serve it may die.
pub(crate) enum QmpWait {
    Ready(Qmp),
    /// The liveness check said the process is gone.
    Exited,
    TimedOut,
    Failed(QmpError),
}

/// Connects to `sock` as soon as it accepts, giving up at `deadline` or when `alive`
/// turns false (so a QEMU that dies during start is noticed at once, not at timeout).
pub(crate) fn wait_for_qmp(sock: &Path, deadline: Instant, mut alive: impl FnMut() -> bool) -> QmpWait {
    loop {
        if !alive() {
            return QmpWait::Exited;
        }
        let now = Instant::now();
        if now >= deadline {
            return QmpWait::TimedOut;
        }
        if sock.exists() {
            match Qmp::connect(sock, deadline - now) {
                Ok(q) => return QmpWait::Ready(q),
                Err(QmpError::Connect { source, .. })
                    if matches!(source.kind(), io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused) => {}
                Err(e) => return QmpWait::Failed(e),
            }
        }
        thread::sleep(POLL);
    }
}

/// Where a domain's QEMU keeps its runtime files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    pub dir: PathBuf,
    /// QEMU's log, when it must outlive the run dir (the driver keeps logs per domain).
    pub log_path: Option<PathBuf>,
}

impl RunDir {
    pub fn new(dir: impl Into<PathBuf>) -> RunDir {
        RunDir { dir: dir.into(), log_path: None }
    }
    pub fn pidfile(&self) -> PathBuf {
        self.dir.join("qemu.pid")
    }
    pub fn qmp_socket(&self) -> PathBuf {
        self.dir.join("qmp.sock")
    }
    /// The second monitor, which the daemon's watcher holds.
    pub fn events_socket(&self) -> PathBuf {
        self.dir.join("events.sock")
    }
    pub fn with_log(mut self, log: impl Into<PathBuf>) -> RunDir {
        self.log_path = Some(log.into());
        self
    }
    pub fn log(&self) -> PathBuf {
        self.log_path.clone().unwrap_or_else(|| self.dir.join("qemu.log"))
    }
}

/// The command line of `pid`, split at NULs.
pub fn cmdline(pid: i32) -> Option<Vec<Vec<u8>>> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(<[u8]>::to_vec).collect())
}

/// The pidfile a QEMU command line names (`-pidfile PATH`), if any.
pub fn pidfile_arg(args: &[Vec<u8>]) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let i = args.iter().position(|a| a == b"-pidfile")?;
    args.get(i + 1).map(|p| PathBuf::from(std::ffi::OsStr::from_bytes(p)))
}

/// `p` with its directory resolved (the directory must exist; the file need not).
fn resolve_dir_of(p: &Path) -> PathBuf {
    match (p.parent().and_then(|d| fs::canonicalize(d).ok()), p.file_name()) {
        (Some(d), Some(f)) => d.join(f),
        _ => p.to_path_buf(),
    }
}

/// Whether `pid` runs with `-pidfile PIDFILE` on its command line: how a QEMU of ours is told from
/// any other process, whatever a state file claims.
pub fn names_pidfile(pid: i32, pidfile: &Path) -> bool {
    let Some(arg) = cmdline(pid).as_deref().and_then(pidfile_arg) else { return false };
    arg == pidfile || arg == resolve_dir_of(pidfile)
}

/// Whether `/proc/PID/cgroup` puts `pid` in a cgroup whose last component is `scope` (or a child
/// of it: per-thread cgroups).
pub fn in_cgroup_scope(pid: i32, scope: &str) -> bool {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/cgroup")) else { return false };
    text.lines().any(|l| l.rsplit_once(':').is_some_and(|(_, path)| path.split('/').any(|c| c == scope)))
}

/// A process found running with a pidfile under some directory (see [`find_by_pidfile_dir`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub pid: i32,
    pub start_time: u64,
    /// The directory component right under the searched directory (the domain's name).
    pub name: String,
    pub pidfile: PathBuf,
}

/// Every live process whose command line names a `-pidfile` in a direct subdirectory of `dir`
/// (`dir/NAME/qemu.pid`) — QEMUs of ours, including one we lost track of (its starter was killed
/// before it was recorded). Also finds a child between fork and exec only once it has exec'd.
pub fn find_by_pidfile_dir(dir: &Path) -> Vec<Found> {
    let dirs: Vec<PathBuf> = [Some(dir.to_path_buf()), fs::canonicalize(dir).ok()].into_iter().flatten().collect();
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else { return out };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Some(args) = cmdline(pid) else { continue };
        let Some(pf) = pidfile_arg(&args) else { continue };
        let Some(parent) = pf.parent() else { continue };
        if !dirs.iter().any(|d| parent.parent() == Some(d.as_path())) || pf.file_name() != Some("qemu.pid".as_ref()) {
            continue;
        }
        let Some(name) = parent.file_name().and_then(|n| n.to_str()).map(str::to_string) else { continue };
        let Some(st) = proc_stat(pid).filter(|s| s.state != 'Z' && s.state != 'X') else { continue };
        out.push(Found { pid, start_time: st.start_time, name, pidfile: pf });
    }
    out
}

/// A pid file descriptor: signals sent through it reach the process it was opened for, never a
/// later one that reuses the pid.
struct PidFd(Option<std::os::fd::OwnedFd>);

impl PidFd {
    fn open(pid: i32) -> Result<PidFd, Errno> {
        use std::os::fd::FromRawFd;
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return match Errno::last() {
                // Kernels before 5.3: plain kill after the same checks.
                Errno::ENOSYS => Ok(PidFd(None)),
                e => Err(e),
            };
        }
        // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
        Ok(PidFd(Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })))
    }

    fn signal(&self, pid: i32, sig: Signal) -> Result<(), Errno> {
        use std::os::fd::AsRawFd;
        match &self.0 {
            Some(fd) => {
                // SAFETY: a valid pidfd, a valid signal number, no siginfo, no flags.
                let r = unsafe {
                    libc::syscall(
                        libc::SYS_pidfd_send_signal,
                        fd.as_raw_fd(),
                        sig as i32,
                        std::ptr::null::<libc::siginfo_t>(),
                        0,
                    )
                };
                if r < 0 {
                    Err(Errno::last())
                } else {
                    Ok(())
                }
            }
            None => kill(Pid::from_raw(pid), sig),
        }
    }
}

/// A running (or once running) QEMU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuProcess {
    pub pid: i32,
    /// From `/proc/PID/stat` at start, to tell our QEMU from a later process that
    /// happens to get the same pid.
    pub start_time: u64,
    pub run_dir: RunDir,
    /// The cgroup QEMU was put in, when known: one more thing a process must match to be ours.
    pub cgroup_scope: Option<String>,
}

impl QemuProcess {
    /// Alive and still the same process we started (pid and start time).
    pub fn is_alive(&self) -> bool {
        is_alive(self.pid) && proc_stat(self.pid).is_some_and(|s| s.start_time == self.start_time)
    }

    /// Alive and verifiably our QEMU: pid, start time, `-pidfile` of its run dir on the command
    /// line, and its cgroup when one was recorded. Nothing is signalled unless this holds, so a
    /// forged or stale status file cannot aim a signal at another process.
    pub fn is_ours(&self) -> bool {
        self.pid > 1
            && self.is_alive()
            && names_pidfile(self.pid, &self.run_dir.pidfile())
            && self.cgroup_scope.as_deref().is_none_or(|s| in_cgroup_scope(self.pid, s))
    }

    /// Waits up to `timeout` for the process to go away on its own (after `quit`).
    pub fn wait_exit(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.is_alive() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            // QEMU exits a few ms after SIGTERM; a coarse poll would add most of a period to destroy.
            thread::sleep(EXIT_POLL);
        }
    }

    /// SIGTERM, then SIGKILL if it is still alive after `grace`. A process that is not
    /// verifiably ours ([`QemuProcess::is_ours`]) counts as gone and gets no signal.
    pub fn kill(&self, grace: Duration) -> Result<KillOutcome, ProcessError> {
        if !self.is_ours() {
            return Ok(KillOutcome::AlreadyGone);
        }
        if !self.signal(Signal::SIGTERM)? || self.wait_exit(grace) {
            return Ok(KillOutcome::Terminated);
        }
        if !self.signal(Signal::SIGKILL)? {
            return Ok(KillOutcome::Killed);
        }
        // A process in uninterruptible sleep (stuck I/O) can outlive SIGKILL for a while.
        let waited = Duration::from_secs(5);
        if self.wait_exit(waited) {
            Ok(KillOutcome::Killed)
        } else {
            Err(ProcessError::Unkillable { pid: self.pid, waited })
        }
    }

    /// Sends `sig`; `Ok(false)` if the process was already gone (or is not ours). The identity
    /// is checked after a pidfd is opened, and the signal goes through that pidfd, so the pid
    /// cannot be reused by another process in between.
    pub fn signal(&self, sig: Signal) -> Result<bool, ProcessError> {
        let fd = match PidFd::open(self.pid) {
            Ok(fd) => fd,
            Err(Errno::ESRCH) => return Ok(false),
            Err(source) => return Err(ProcessError::Signal { pid: self.pid, source }),
        };
        if !self.is_ours() {
            return Ok(false);
        }
        match fd.signal(self.pid, sig) {
            Ok(()) => Ok(true),
            Err(Errno::ESRCH) => Ok(false),
            Err(source) => Err(ProcessError::Signal { pid: self.pid, source }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillOutcome {
    AlreadyGone,
    Terminated,
    Killed,
}

/// What to start.
#[derive(Debug)]
pub struct SpawnSpec {
    pub binary: PathBuf,
    /// QEMU's arguments, as [`crate::command`] makes them: they name `run_dir`'s pidfile and
    /// QMP socket ([`crate::command::RuntimeArgs`]), which this layer waits for.
    pub args: Vec<OsString>,
    pub run_dir: RunDir,
    /// Bounds QEMU's initialisation and the QMP handshake together.
    pub timeout: Duration,
    /// Descriptors QEMU inherits: `pass_fds[i]` is fd [`passed_fd`]`(i)` in QEMU (taps).
    pub pass_fds: Vec<std::os::fd::OwnedFd>,
}

/// First descriptor number handed to QEMU; high enough to stay clear of stdio and of the
/// descriptors std's spawn uses internally in the child.
pub const PASS_FD_BASE: i32 = 100;

/// The number QEMU sees for `SpawnSpec::pass_fds[index]`.
pub fn passed_fd(index: usize) -> i32 {
    PASS_FD_BASE + index as i32
}

/// Starts QEMU detached from our process group and returns it with a negotiated QMP
/// connection. Ready means: QMP answered while the process was still alive.
///
/// Not `-daemonize`: a daemonized QEMU points its stderr at /dev/null once initialised
/// (or, with `-D`, truncates the log), losing exactly the messages that explain a later
/// crash. Started as our child in its own process group, it keeps the log as stdout and
/// stderr for its whole life, survives us like a daemon would, and is reaped by
/// [`is_alive`] (or by PID 1 / a subreaper if we exit first).
pub fn spawn(spec: &SpawnSpec) -> Result<(QemuProcess, Qmp), ProcessError> {
    spawn_with(spec, |_| ()).map(|(p, q, ())| (p, q))
}

/// [`spawn`], running `early(pid)` on another thread while QEMU initialises (work that needs only
/// the pid, such as moving it into its cgroup, then costs no time of its own). `early` has
/// finished when this returns, whether or not the start succeeded.
pub fn spawn_with<T: Send>(
    spec: &SpawnSpec,
    early: impl FnOnce(i32) -> T + Send,
) -> Result<(QemuProcess, Qmp, T), ProcessError> {
    let dir = &spec.run_dir.dir;
    fs::create_dir_all(dir).map_err(|source| ProcessError::RunDir { path: dir.clone(), source })?;
    let dir = fs::canonicalize(dir).map_err(|source| ProcessError::RunDir { path: dir.clone(), source })?;
    let run_dir = RunDir { dir, log_path: spec.run_dir.log_path.clone() };
    let (pidfile, sock, log_path) = (run_dir.pidfile(), run_dir.qmp_socket(), run_dir.log());
    for stale in [&pidfile, &sock] {
        match fs::remove_file(stale) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(ProcessError::RunDir { path: stale.clone(), source }),
        }
    }

    let args = &spec.args;
    // Without its pidfile on the command line a QEMU is never recognised as ours (nothing could
    // stop it), so such a command line is a bug of the caller's, refused before it runs.
    let raw: Vec<Vec<u8>> =
        args.iter().map(|a| std::os::unix::ffi::OsStrExt::as_bytes(a.as_os_str()).to_vec()).collect();
    let named = pidfile_arg(&raw).map(|p| resolve_dir_of(&p));
    if named.as_deref() != Some(pidfile.as_path()) {
        return Err(ProcessError::RuntimeArgs { pidfile: pidfile.clone() });
    }

    let log_err = |source| ProcessError::Log { path: log_path.clone(), source };
    let mut log = OpenOptions::new().create(true).append(true).mode(0o600).open(&log_path).map_err(log_err)?;
    let mut header = format!("starting: {}", spec.binary.display());
    for a in args {
        header.push(' ');
        header.push_str(&a.to_string_lossy());
    }
    writeln!(log, "{header}").map_err(log_err)?;
    let log2 = log.try_clone().map_err(log_err)?;

    let deadline = Instant::now() + spec.timeout;
    let mut cmd = Command::new(&spec.binary);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        // Not in our process group: a Ctrl-C aimed at us must not kill guests.
        .process_group(0);
    if !spec.pass_fds.is_empty() {
        use std::os::fd::AsRawFd;
        let sources: Vec<i32> = spec.pass_fds.iter().map(AsRawFd::as_raw_fd).collect();
        // Scratch space filled in the child, allocated here: pre_exec must not allocate.
        let mut moved = vec![-1i32; sources.len()];
        let hook = move || -> io::Result<()> {
            // Two passes, so a source that happens to sit on a target number is not clobbered
            // before it is moved: first out of the target range, then onto the targets.
            for (i, &src) in sources.iter().enumerate() {
                // fcntl on a descriptor we own in the child; async-signal-safe.
                moved[i] = nix::fcntl::fcntl(src, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(PASS_FD_BASE + 1024))?;
            }
            for (i, &fd) in moved.iter().enumerate() {
                // dup2 is async-signal-safe; the target is ours to overwrite in the child, and
                // the copy it makes has FD_CLOEXEC clear so QEMU inherits it.
                nix::unistd::dup2(fd, passed_fd(i))?;
            }
            Ok(())
        };
        // SAFETY: the hook only calls async-signal-safe functions (fcntl, dup2; nix's wrappers
        // neither allocate nor lock, an error is a plain errno) and writes into memory
        // allocated before the fork.
        unsafe {
            cmd.pre_exec(hook);
        }
    }
    let mut child = cmd.spawn().map_err(|source| ProcessError::Exec { binary: spec.binary.clone(), source })?;
    let pid = child.id() as i32;

    let mut exit_status: Option<ExitStatus> = None;
    let (wait, early_result) = std::thread::scope(|s| {
        let h = s.spawn(move || early(pid));
        let wait = wait_for_qmp(&sock, deadline, || match child.try_wait() {
            Ok(None) => true,
            Ok(Some(st)) => {
                exit_status = Some(st);
                false
            }
            Err(_) => false,
        });
        (wait, h.join())
    });
    let early_result = match early_result {
        Ok(t) => t,
        // The early work panicked (a bug of ours): QEMU must not stay behind.
        Err(p) => {
            let _ = child.kill();
            let _ = child.wait();
            std::panic::resume_unwind(p)
        }
    };
    let kill_child = |child: &mut std::process::Child| {
        let _ = child.kill();
        let _ = child.wait();
        log_tail(&log_path, LOG_TAIL_LINES)
    };
    let qmp = match wait {
        QmpWait::Ready(qmp) => qmp,
        QmpWait::Exited => {
            let _ = child.wait();
            return Err(ProcessError::StartFailed {
                status: exit_status.map_or_else(|| "exited".into(), |s| s.to_string()),
                log: log_tail(&log_path, LOG_TAIL_LINES),
            });
        }
        QmpWait::TimedOut => {
            let log = kill_child(&mut child);
            return Err(ProcessError::StartTimeout { timeout: spec.timeout, log });
        }
        QmpWait::Failed(source) => {
            let log = kill_child(&mut child);
            return Err(ProcessError::Qmp { source, log });
        }
    };
    let start_time = proc_stat(pid).map(|s| s.start_time).ok_or_else(|| ProcessError::StartFailed {
        status: format!("pid {pid} vanished right after start"),
        log: log_tail(&log_path, LOG_TAIL_LINES),
    })?;
    // Dropping `child` does not wait for it; `is_alive` reaps it once it exits.
    drop(child);
    Ok((QemuProcess { pid, start_time, run_dir, cgroup_scope: None }, qmp, early_result))
}

/// The pid QEMU wrote (for adopting a QEMU started by an earlier run of ours).
pub fn read_pidfile(path: &Path) -> Result<i32, ProcessError> {
    let text =
        fs::read_to_string(path).map_err(|e| ProcessError::Pidfile { path: path.to_owned(), detail: e.to_string() })?;
    text.trim()
        .parse::<i32>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| ProcessError::Pidfile { path: path.to_owned(), detail: format!("not a pid: {:?}", text.trim()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_comm() {
        let line = "1234 (qemu (x) y) Z 1 1234 1234 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 3 0 987654 123 45";
        assert_eq!(parse_stat(line), Some(ProcStat { state: 'Z', start_time: 987654 }));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) R 1 2"), None);
    }

    #[test]
    fn self_is_alive_and_bogus_pids_are_not() {
        assert!(is_alive(std::process::id() as i32));
        assert!(!is_alive(0));
        assert!(!is_alive(-5));
        assert!(!is_alive(i32::MAX));
    }

    #[test]
    fn zombie_child_counts_as_dead() {
        // A child that exits and is not reaped by `Child` becomes a zombie; is_alive
        // must say false (and reaps it, since it is ours).
        let child = Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(5);
        while proc_stat(pid).is_some_and(|s| s.state != 'Z') && Instant::now() < deadline {
            thread::sleep(POLL);
        }
        assert_eq!(proc_stat(pid).map(|s| s.state), Some('Z'));
        assert!(!is_alive(pid));
        assert!(proc_stat(pid).is_none(), "reaped");
        std::mem::forget(child);
    }

    #[test]
    fn log_tail_takes_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let text: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        fs::write(&p, text).unwrap();
        let tail = log_tail(&p, 3);
        assert_eq!(tail, "line 28\nline 29\nline 30");
        assert!(log_tail(&dir.path().join("nope"), 3).contains("no log"));
    }
}
