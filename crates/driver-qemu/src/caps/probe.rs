//! Asking a live QEMU binary what it supports.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use oxvirt_qmp::{Qmp, QmpError};
use serde_json::{json, Value};

use super::{CapsError, ProbeReplies, QemuCaps};
use crate::process::{log_tail, wait_for_qmp, QmpWait, LOG_TAIL_LINES};

/// Startup plus all queries; a healthy QEMU needs well under a second.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// Kills and reaps the probe QEMU on every exit path.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Starts `binary` paused with no machine, queries it over QMP and interprets the
/// replies. Always TCG, so the result does not depend on KVM working.
pub fn probe(binary: &Path) -> Result<QemuCaps, CapsError> {
    let replies = probe_replies(binary)?;
    QemuCaps::from_replies(&replies)
}

/// The "talk to QEMU" half of [`probe`].
pub fn probe_replies(binary: &Path) -> Result<ProbeReplies, CapsError> {
    let scratch = tempfile::Builder::new().prefix("oxvirt-qemu-probe-").tempdir().map_err(CapsError::ScratchDir)?;
    let sock = scratch.path().join("qmp.sock");
    let log_path = scratch.path().join("qemu.log");
    let log = File::create(&log_path).map_err(CapsError::ScratchDir)?;
    let log2 = log.try_clone().map_err(CapsError::ScratchDir)?;
    let mut qmp_arg = std::ffi::OsString::from("unix:");
    qmp_arg.push(&sock);
    qmp_arg.push(",server=on,wait=off");

    let deadline = Instant::now() + PROBE_TIMEOUT;
    let mut cmd = Command::new(binary);
    if let Some(user) = unprivileged_prober() {
        // The scratch directory must be the probe's own: it creates its QMP socket there.
        crate::security::give_to(scratch.path(), &user).map_err(|e| CapsError::ScratchDir(std::io::Error::other(e)))?;
        crate::security::give_to(&log_path, &user).map_err(|e| CapsError::ScratchDir(std::io::Error::other(e)))?;
        use std::os::unix::process::CommandExt;
        cmd.uid(user.uid).gid(user.gid);
    }
    let child = cmd
        .args(["-S", "-no-user-config", "-nodefaults", "-nographic", "-machine", "none,accel=tcg", "-qmp"])
        .arg(&qmp_arg)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|source| CapsError::Spawn { binary: binary.to_owned(), source })?;
    let mut guard = ChildGuard(child);

    let mut exit_status = None;
    let wait = wait_for_qmp(&sock, deadline, || match guard.0.try_wait() {
        Ok(None) => true,
        Ok(Some(st)) => {
            exit_status = Some(st.to_string());
            false
        }
        Err(_) => false,
    });
    let mut qmp = match wait {
        QmpWait::Ready(q) => q,
        QmpWait::Exited => {
            return Err(CapsError::EarlyExit {
                binary: binary.to_owned(),
                status: exit_status.unwrap_or_else(|| "unknown status".into()),
                log: log_tail(&log_path, LOG_TAIL_LINES),
            })
        }
        QmpWait::TimedOut => {
            return Err(CapsError::ReadyTimeout {
                binary: binary.to_owned(),
                timeout: PROBE_TIMEOUT,
                log: log_tail(&log_path, LOG_TAIL_LINES),
            })
        }
        QmpWait::Failed(source) => return Err(CapsError::Query { binary: binary.to_owned(), source }),
    };
    let remaining = deadline.saturating_duration_since(Instant::now());
    qmp.set_command_timeout(remaining.max(Duration::from_secs(1)));
    let replies = query_all(&mut qmp).map_err(|source| CapsError::Query { binary: binary.to_owned(), source })?;

    // A clean exit keeps QEMU from leaving anything behind; the guard kills otherwise.
    let _ = qmp.execute_timeout("quit", None, Duration::from_secs(2));
    let quit_deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < quit_deadline {
        if !matches!(guard.0.try_wait(), Ok(None)) {
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
    Ok(replies)
}

/// Who probes QEMU binaries when we are root: the unprivileged QEMU user, as libvirt probes as its
/// `qemu` user, so no binary — a definition's own `<emulator>` least of all — runs as root to
/// answer what it supports. `None`: probe as ourselves (not root, or QEMU is to run as root).
fn unprivileged_prober() -> Option<crate::security::QemuUser> {
    if !nix::unistd::Uid::effective().is_root() {
        return None;
    }
    match crate::security::resolve_run_as() {
        Ok(crate::security::RunAs::User(u)) => Some(u),
        _ => None,
    }
}

/// Runs the queries capabilities are built from. Commands a target may lack are
/// optional (`CommandNotFound` yields `None`).
pub fn query_all(qmp: &mut Qmp) -> Result<ProbeReplies, QmpError> {
    let optional = |r: Result<Value, QmpError>| match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.class() == Some("CommandNotFound") => Ok(None),
        Err(e) => Err(e),
    };
    Ok(ProbeReplies {
        version: qmp.execute("query-version", None)?,
        target: qmp.execute("query-target", None)?,
        kvm: qmp.execute("query-kvm", None)?,
        machines: qmp.execute("query-machines", None)?,
        cpu_definitions: optional(qmp.execute("query-cpu-definitions", None))?,
        qom_types: qmp.execute("qom-list-types", None)?,
        device_types: Some(qmp.execute("qom-list-types", Some(json!({"implements": "device", "abstract": false})))?),
        commands: optional(qmp.execute("query-commands", None))?,
    })
}
