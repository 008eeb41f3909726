//! Who owns a running guest: the daemon's watcher threads, or else one small `oxvirt-monitor`
//! process per guest.
//!
//! QEMU runs with `-no-shutdown`, so a guest that powers off leaves QEMU idle until someone
//! reconciles the domain. Hosted by oxvirtd, the driver watches every guest from threads
//! ([`crate::QemuDriver::start_watching`]). Hosted by a short-lived process (the CLI in embedded
//! mode, any Rust program that is not the daemon), a successful start launches `oxvirt-monitor`
//! for the new QEMU, as conmon watches one container: it detaches (fork, `setsid`, stdio on
//! /dev/null, its messages in the domain's log file, no inherited descriptors), opens the same
//! root and runs the same [`watch_domain`] loop as the daemon. A guest power-off, reboot (fake
//! reboot), pause or crash is then handled within about a second and QEMU, taps, macvtaps,
//! cgroups and leases are released; the monitor exits with its QEMU. If it dies, the next call on
//! the root reconciles as it always did.
//!
//! Ownership between the two (one events socket per QEMU accepts one client, and only one
//! watcher may act): **the daemon wins**. A monitor holds `RUN/NAME/monitor.lock` while it runs.
//! A daemon watcher writes `RUN/NAME/daemon.owner`, waits for that lock (the monitor sees the
//! marker within [`TICK`] and exits without acting), holds it for as long as it watches, and
//! reconciles once before following events, so nothing the monitor saw last is lost. A daemon
//! watching a root holds `RUN/watchers.lock`; a start on that root from another process then
//! launches no monitor at all.
//!
//! The monitor is never steered by state files: the driver hands it the URI, the domain name
//! and QEMU's pid and start time; it checks that pid is that process before it starts, and acts
//! (through the driver's own reconcile, under the driver's lock) only while the status file still
//! names that same process.

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use oxvirt_api::{ConnectUri, DomainState, Driver};
use oxvirt_qmp::Qmp;

use crate::fsutil::{write_atomic, FileLock};
use crate::layout::Layout;
use crate::status::Status;
use crate::QemuDriver;

/// Path of the monitor binary to use; empty or `none` disables monitors (the pre-monitor
/// behaviour: a guest power-off is noticed by the next call).
pub const MONITOR_ENV: &str = "OXVIRT_MONITOR";
/// The monitor binary's file name, looked up next to the running executable, then in `PATH`.
pub const MONITOR_BIN: &str = "oxvirt-monitor";
/// Bumped when the monitor's arguments change, so a stale binary refuses instead of misreading.
const PROTOCOL: &str = "1";
/// How often a watcher looks at ownership and the status file between events.
pub const TICK: Duration = Duration::from_millis(500);
/// How long a daemon watcher waits for a monitor to hand a guest over.
const HANDOVER: Duration = Duration::from_secs(5);
/// How long a start waits for the monitor's first process (it forks and exits at once).
const LAUNCH_WAIT: Duration = Duration::from_secs(2);
const EVENTS_CONNECT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("usage: {MONITOR_BIN} --protocol {PROTOCOL} URI DOMAIN QEMU_PID QEMU_START_TIME ({0})")]
    Usage(String),
    #[error("opening the QEMU driver for {uri}: {source}")]
    Driver {
        uri: String,
        #[source]
        source: oxvirt_api::Error,
    },
    #[error("pid {pid} is not the QEMU of domain '{name}' any more")]
    NotOurQemu { name: String, pid: i32 },
    #[error("domain '{name}' is already watched (by the daemon or another monitor)")]
    AlreadyOwned { name: String },
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: nix::errno::Errno,
    },
}

/// Who runs a [`watch_domain`] loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A thread of the daemon: takes the guest over from a monitor first.
    Daemon,
    /// The per-guest monitor process, watching the QEMU started at `start_time`.
    Monitor { start_time: u64 },
}

/// A file in the domain's run dir (`None` for a name that cannot be a path: nothing to watch).
fn in_run_dir(layout: &Layout, name: &str, file: &str) -> Option<PathBuf> {
    layout.domain_run_dir(name).ok().map(|d| d.join(file))
}

fn monitor_lock(layout: &Layout, name: &str) -> Option<PathBuf> {
    in_run_dir(layout, name, "monitor.lock")
}

fn daemon_marker(layout: &Layout, name: &str) -> Option<PathBuf> {
    in_run_dir(layout, name, "daemon.owner")
}

/// The monitor's pid, for people and tests; nothing acts on it.
pub fn monitor_pid_file(layout: &Layout, name: &str) -> Option<PathBuf> {
    in_run_dir(layout, name, "monitor.pid")
}

fn load_status(layout: &Layout, name: &str) -> Option<Status> {
    Status::load(&layout.status_file(name).ok()?)
}

/// Held by a daemon's watcher for as long as it watches the root.
fn root_watchers_lock(layout: &Layout) -> PathBuf {
    layout.run.join("watchers.lock")
}

/// Marks the root as watched by this (daemon) process; `None` if another process already does.
pub(crate) fn claim_root(layout: &Layout) -> Option<FileLock> {
    FileLock::acquire(&root_watchers_lock(layout), Duration::ZERO).ok()
}

/// Whether a daemon watches this root (it holds the root's watcher lock).
fn root_watched(layout: &Layout) -> bool {
    let path = root_watchers_lock(layout);
    path.exists() && FileLock::acquire(&path, Duration::ZERO).is_err()
}

/// The daemon's side of the handover: marks the guest as the daemon's and waits until no monitor
/// holds it. The returned lock keeps a monitor from starting on it meanwhile.
fn take_over(layout: &Layout, name: &str) -> Option<FileLock> {
    let (marker, lock) = (daemon_marker(layout, name)?, monitor_lock(layout, name)?);
    if !lock.parent().is_some_and(Path::is_dir) {
        return None;
    }
    if let Err(e) = write_atomic(&marker, std::process::id().to_string().as_bytes(), 0o644) {
        tracing::warn!(domain = %name, "writing {}: {e}", marker.display());
    }
    match FileLock::acquire(&lock, HANDOVER) {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!(domain = %name, "taking the guest over from its monitor: {e}");
            None
        }
    }
}

/// Whether a watcher (the guest's monitor, or a daemon that took it over) follows the guest now.
pub(crate) fn watched(layout: &Layout, name: &str) -> bool {
    monitor_lock(layout, name).is_some_and(|p| p.exists() && FileLock::acquire(&p, Duration::ZERO).is_err())
}

fn taken_over(layout: &Layout, name: &str) -> bool {
    daemon_marker(layout, name).is_some_and(|m| m.exists())
}

/// Whether the status file still names the QEMU this watcher follows.
fn still_ours(layout: &Layout, name: &str, pid: i32, role: Role) -> bool {
    load_status(layout, name).is_some_and(|s| {
        s.pid == pid
            && match role {
                Role::Daemon => true,
                Role::Monitor { start_time } => s.start_time == start_time,
            }
    })
}

/// Whether what QEMU reports differs from what the status file says (an event was missed before
/// the watcher connected).
fn missed_something(qmp: &mut Qmp, layout: &Layout, name: &str) -> bool {
    let Ok(v) = qmp.execute("query-status", None) else { return true };
    let running = v.get("running").and_then(|r| r.as_bool()).unwrap_or(false);
    let run_state = v.get("status").and_then(|s| s.as_str()).unwrap_or("");
    let recorded = load_status(layout, name).is_some_and(|s| s.state == DomainState::Running as i32);
    !matches!(run_state, "running" | "paused") || running != recorded
}

/// Follows one QEMU's events on its event monitor until it exits (or, for a monitor, until the
/// daemon takes it over), reconciling the domain whenever the guest changes state.
pub(crate) fn watch_domain(weak: Weak<QemuDriver>, name: String, pid: i32, role: Role) {
    let layout = {
        let Some(d) = weak.upgrade() else { return };
        d.layout().clone()
    };
    let _handover = match role {
        Role::Daemon => take_over(&layout, &name),
        Role::Monitor { .. } => None,
    };
    let refresh = |weak: &Weak<QemuDriver>| {
        if still_ours(&layout, &name, pid, role) {
            if let Some(d) = weak.upgrade() {
                d.refresh(&name);
            }
        }
    };
    let Some(sock) = in_run_dir(&layout, &name, "events.sock") else { return };
    let Ok(mut qmp) = Qmp::connect(&sock, EVENTS_CONNECT) else {
        refresh(&weak);
        return;
    };
    // Catch up with what happened before we listened (a guest that powered off at once, or
    // events a monitor consumed before the daemon took over).
    match role {
        Role::Daemon => refresh(&weak),
        Role::Monitor { .. } => {
            if missed_something(&mut qmp, &layout, &name) {
                refresh(&weak);
            }
        }
    }
    loop {
        let ev = qmp.next_event(TICK);
        if weak.strong_count() == 0 {
            return;
        }
        if matches!(role, Role::Monitor { .. }) && taken_over(&layout, &name) {
            note(&format!("domain '{name}' taken over by the daemon; exiting"));
            return;
        }
        match ev {
            Ok(Some(ev)) => {
                if matches!(ev.name.as_str(), "SHUTDOWN" | "STOP" | "RESUME" | "GUEST_PANICKED" | "BLOCK_IO_ERROR") {
                    if !still_ours(&layout, &name, pid, role) {
                        // stopped (the events of our own `quit` follow a power-off) or replaced
                        return;
                    }
                    let t = Instant::now();
                    // let QEMU settle into the new run state before asking for it
                    std::thread::sleep(Duration::from_millis(20));
                    refresh(&weak);
                    if matches!(role, Role::Monitor { .. }) {
                        note(&format!("{} handled in {:.1} ms", ev.name, t.elapsed().as_secs_f64() * 1000.0));
                    }
                }
            }
            Ok(None) => {
                if !still_ours(&layout, &name, pid, role) {
                    return;
                }
            }
            Err(_) => {
                refresh(&weak);
                return;
            }
        }
    }
}

// ---- launching a monitor (the driver, after a start) ----------------------------------------

/// The monitor binary: [`MONITOR_ENV`], else next to the running executable (or one directory
/// up, where test and bench executables live in `target/*/deps`), else `PATH`.
/// `Ok(None)`: monitors are disabled by the environment.
fn find_monitor() -> Result<Option<PathBuf>, String> {
    if let Some(v) = std::env::var_os(MONITOR_ENV) {
        if v.is_empty() || v == "none" {
            return Ok(None);
        }
        let p = PathBuf::from(v);
        return if p.is_file() { Ok(Some(p)) } else { Err(format!("{MONITOR_ENV}={} is not a file", p.display())) };
    }
    let exe = std::env::current_exe().ok();
    let near = exe.iter().flat_map(|e| e.ancestors().skip(1).take(2)).map(Path::to_path_buf);
    let path = std::env::var_os("PATH").unwrap_or_default();
    let in_path = std::env::split_paths(&path).collect::<Vec<_>>();
    near.chain(in_path)
        .map(|d| d.join(MONITOR_BIN))
        .find(|p| p.is_file())
        .map(Some)
        .ok_or_else(|| format!("no {MONITOR_BIN} next to the executable or in PATH (set {MONITOR_ENV})"))
}

/// Appends one line to the domain's log (where QEMU and the monitor write too).
fn log_line(layout: &Layout, name: &str, msg: &str) {
    let Ok(path) = layout.log_file(name) else { return };
    if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(f, "{} oxvirt[{}]: {msg}", timestamp(), std::process::id());
    }
}

/// After a successful start: launches the guest's monitor unless a daemon hosts this driver or
/// watches the root. Failing to launch one only costs the live reaction, so it is logged (in the
/// domain's log and as a warning), never an error of the start.
pub(crate) fn after_start(d: &QemuDriver, st: &Status) {
    if crate::driver::daemon_mode() || root_watched(d.layout()) {
        return;
    }
    if let Err(msg) = launch(d, st) {
        tracing::warn!(domain = %st.name, "{msg}; a guest power-off is noticed by the next call instead");
        log_line(d.layout(), &st.name, &format!("{msg}; a guest power-off is noticed by the next call instead"));
    }
}

fn launch(d: &QemuDriver, st: &Status) -> Result<(), String> {
    let Some(bin) = find_monitor()? else { return Ok(()) };
    let layout = d.layout();
    let log_path = layout.log_file(&st.name).map_err(|e| e.to_string())?;
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("opening {} for {MONITOR_BIN}: {e}", log_path.display()))?;
    let mut child = Command::new(&bin)
        .args(["--protocol", PROTOCOL])
        .arg(Driver::uri(d))
        .arg(&st.name)
        .arg(st.pid.to_string())
        .arg(st.start_time.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .current_dir("/")
        .spawn()
        .map_err(|e| format!("starting {}: {e}", bin.display()))?;
    // Its first process forks the monitor and exits at once; reap it so no zombie stays with us.
    let deadline = Instant::now() + LAUNCH_WAIT;
    loop {
        match child.try_wait() {
            Ok(Some(s)) if s.success() => return Ok(()),
            Ok(Some(s)) => return Err(format!("{} failed ({s})", bin.display())),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(1)),
            Ok(None) => return Err(format!("{} did not detach within {LAUNCH_WAIT:?}", bin.display())),
            Err(e) => return Err(format!("waiting for {}: {e}", bin.display())),
        }
    }
}

// ---- the monitor process ----------------------------------------------------------------------

struct Args {
    uri: String,
    name: String,
    pid: i32,
    start_time: u64,
}

fn parse_args(args: &[OsString]) -> Result<Args, MonitorError> {
    let s: Vec<&str> = args
        .iter()
        .map(|a| a.to_str().ok_or_else(|| MonitorError::Usage("arguments must be UTF-8".into())))
        .collect::<Result<_, _>>()?;
    match s.as_slice() {
        ["--protocol", p, uri, name, pid, start] => {
            if *p != PROTOCOL {
                return Err(MonitorError::Usage(format!("protocol {p} is not {PROTOCOL}: a stale binary?")));
            }
            let bad = |what: &str, v: &str| MonitorError::Usage(format!("bad {what} '{v}'"));
            Ok(Args {
                uri: uri.to_string(),
                name: name.to_string(),
                pid: pid.parse().ok().filter(|p| *p > 0).ok_or_else(|| bad("pid", pid))?,
                start_time: start.parse().map_err(|_| bad("start time", start))?,
            })
        }
        _ => Err(MonitorError::Usage(format!("{} arguments", s.len()))),
    }
}

/// A UTC timestamp like QEMU's log lines (`2024-05-01 12:00:00.123`).
fn timestamp() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs();
    let (year, month, day) = crate::command::civil((secs / 86_400) as i64);
    let t = secs % 86_400;
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03}", t / 3600, t / 60 % 60, t % 60, now.subsec_millis())
}

/// One line on stderr, which is the domain's log file.
fn note(msg: &str) {
    eprintln!("{} {MONITOR_BIN}[{}]: {msg}", timestamp(), std::process::id());
}

/// Closes every descriptor but stdio: whatever the starter leaked without close-on-exec (a lock,
/// a tap, a client's socket) must not live on in a process that outlives it.
fn close_inherited_fds() {
    let fds: Vec<i32> = fs::read_dir("/proc/self/fd")
        .map(|rd| rd.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default();
    for fd in fds.into_iter().filter(|fd| *fd > 2) {
        // Nothing in this process owns these yet (called first thing in main); the read_dir
        // descriptor is closed already, so its EBADF is ignored.
        let _ = nix::unistd::close(fd);
    }
}

/// The `oxvirt-monitor` program: `oxvirt-monitor --protocol 1 URI DOMAIN QEMU_PID START_TIME`.
/// Exits 0 once detached (the monitor goes on in the background), 2 on bad arguments, 1 if
/// the QEMU is not there or the guest is already owned.
pub fn main() -> ExitCode {
    close_inherited_fds();
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ MonitorError::Usage(_)) => {
            note(&e.to_string());
            ExitCode::from(2)
        }
        Err(e) => {
            note(&e.to_string());
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[OsString]) -> Result<(), MonitorError> {
    let a = parse_args(args)?;
    let uri = ConnectUri::parse(&a.uri).map_err(|source| MonitorError::Driver { uri: a.uri.clone(), source })?;
    let layout =
        crate::driver::layout_for(&uri).map_err(|source| MonitorError::Driver { uri: a.uri.clone(), source })?;
    let ours = crate::process::proc_stat(a.pid).is_some_and(|s| s.start_time == a.start_time && s.state != 'Z');
    if !ours {
        return Err(MonitorError::NotOurQemu { name: a.name, pid: a.pid });
    }
    // Taken before forking, so the guest is owned by the time the starter goes on; the child
    // keeps it (flock belongs to the open file, which the fork shares).
    if taken_over(&layout, &a.name) {
        return Err(MonitorError::AlreadyOwned { name: a.name });
    }
    let lock =
        monitor_lock(&layout, &a.name).ok_or_else(|| MonitorError::NotOurQemu { name: a.name.clone(), pid: a.pid })?;
    let owned =
        FileLock::acquire(&lock, Duration::ZERO).map_err(|_| MonitorError::AlreadyOwned { name: a.name.clone() })?;
    // SAFETY: nothing has started a thread yet (main calls this first, and neither argument
    // parsing nor the lock does), so the child may run any code after fork.
    match unsafe { nix::unistd::fork() } {
        Err(source) => return Err(MonitorError::Sys { what: "forking".into(), source }),
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            // Written before we exit, so it is there once the start that launched us returns.
            if let Some(p) = monitor_pid_file(&layout, &a.name) {
                let _ = write_atomic(&p, child.to_string().as_bytes(), 0o644);
            }
            // The child holds the lock now (closing our copy does not release a flock).
            std::mem::forget(owned);
            return Ok(());
        }
        Ok(nix::unistd::ForkResult::Child) => {}
    }
    nix::unistd::setsid().map_err(|source| MonitorError::Sys { what: "setsid".into(), source })?;
    note(&format!("watching domain '{}' (QEMU pid {})", a.name, a.pid));
    // The root's network driver (registered by our binary), to give the guest's ports back.
    let secondary = oxvirt_api::secondary_drivers_for(&uri)
        .map_err(|source| MonitorError::Driver { uri: a.uri.clone(), source })?;
    let driver = QemuDriver::without_cleanup(a.uri.clone(), layout)
        .map_err(|source| MonitorError::Driver { uri: a.uri.clone(), source })?
        .with_secondary(secondary);
    let driver = Arc::new(driver);
    let started = Instant::now();
    watch_domain(Arc::downgrade(&driver), a.name.clone(), a.pid, Role::Monitor { start_time: a.start_time });
    note(&format!("done with domain '{}' after {:.1} s", a.name, started.elapsed().as_secs_f64()));
    drop(owned);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn arguments_are_checked() {
        let a = parse_args(&os(&["--protocol", "1", "qemu:///embed?root=/r", "vm", "42", "7"])).unwrap();
        assert_eq!((a.uri.as_str(), a.name.as_str(), a.pid, a.start_time), ("qemu:///embed?root=/r", "vm", 42, 7));
        for bad in [
            &["--protocol", "2", "u", "vm", "42", "7"][..],
            &["--protocol", "1", "u", "vm", "0", "7"],
            &["--protocol", "1", "u", "vm", "x", "7"],
            &["--protocol", "1", "u", "vm", "42"],
            &[],
        ] {
            assert!(matches!(parse_args(&os(bad)), Err(MonitorError::Usage(_))), "{bad:?}");
        }
    }

    #[test]
    fn timestamp_is_a_utc_date() {
        let t = timestamp();
        assert_eq!(t.len(), "2024-05-01 12:00:00.123".len(), "{t}");
        assert!(t.starts_with("20"), "{t}");
    }

    #[test]
    fn daemon_takeover_marks_and_waits_for_the_monitor() {
        let root = tempfile::tempdir().unwrap();
        let layout = Layout::embed(root.path());
        layout.create_dirs().unwrap();
        fs::create_dir_all(layout.domain_run_dir("vm").unwrap()).unwrap();
        let held = FileLock::acquire(&monitor_lock(&layout, "vm").unwrap(), Duration::ZERO).unwrap();
        let t = std::thread::spawn({
            let layout = layout.clone();
            move || take_over(&layout, "vm").is_some()
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        while !taken_over(&layout, "vm") {
            assert!(Instant::now() < deadline, "no takeover marker");
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(held);
        assert!(t.join().unwrap(), "the daemon got the guest once the monitor let go");
        assert!(!root_watched(&layout));
        let claim = claim_root(&layout).unwrap();
        assert!(root_watched(&layout));
        drop(claim);
        assert!(!root_watched(&layout));
    }
}
