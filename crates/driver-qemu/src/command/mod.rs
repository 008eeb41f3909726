//! Domain XML → QEMU command line.
//!
//! [`assign_addresses`] completes a definition the way libvirt does when it is defined
//! (resolved machine type, implicit controllers and devices, PCI/drive/virtio-serial/USB
//! addresses, firmware paths) so the persistent XML records the guest ABI;
//! [`complete_for_start`] does the same plus aliases when it starts ([`complete`]). [`build`]
//! takes such a completed definition and only formats it.
//!
//! Every argument comes from here, including the run's own ones ([`RuntimeArgs`]: `-pidfile`,
//! the monitor sockets, `-incoming`, `-sandbox`, the privilege drop), so a golden file shows
//! the command line QEMU really gets.

mod argv;
pub mod complete;
mod ctx;
mod devices;
mod firmware;
mod machine;
mod props;
mod validate;

use std::path::{Path, PathBuf};

use oxvirt_xml::domain::Domain;

use crate::caps::QemuCaps;

pub(crate) use argv::civil;
pub use firmware::{FirmwarePaths, DEFAULT_OVMF_DIR};

/// Which accelerator the guest runs on; the driver decides (domain type, KVM usability).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

/// How automatic graphics ports are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortCheck {
    /// Take the first port that can be bound on the listen address (real starts).
    Bind,
    /// Take the first port not used by this command line (deterministic output for tests).
    AssumeFree,
}

/// What the builder needs to know about the host and the domain's run.
#[derive(Debug, Clone)]
pub struct BuildEnv<'a> {
    pub caps: &'a QemuCaps,
    pub emulator: PathBuf,
    pub accel: Accel,
    /// Per-domain directory for files that outlive a run (UEFI variable store copies).
    pub lib_dir: PathBuf,
    /// Per-run directory for secrets and sockets the builder generates.
    pub run_dir: PathBuf,
    /// QEMU's log file (the driver redirects QEMU's output there).
    pub log: PathBuf,
    pub domain_id: i32,
    pub firmware: FirmwarePaths,
    pub port_check: PortCheck,
    /// Per `<interface>` (same index): the tap the driver opened for it, for types `network`,
    /// `bridge` and `ethernet`, which need one.
    pub taps: Vec<Option<TapArg>>,
    /// The run's own arguments (pidfile, monitors, incoming migration, sandbox, user).
    pub runtime: RuntimeArgs,
}

/// The parts of the command line that come from the run, not from the domain XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeArgs {
    /// `-pidfile`: how a QEMU of ours is told from any other process ([`crate::process::names_pidfile`]).
    pub pidfile: PathBuf,
    /// The QMP monitor the driver talks to.
    pub monitor: PathBuf,
    /// A second QMP monitor, reserved for a long-lived watcher (the daemon), so ad-hoc commands
    /// on the main one never queue behind it.
    pub events: Option<PathBuf>,
    /// `-incoming` (`defer`: a restore feeds the migration stream over QMP).
    pub incoming: Option<String>,
    /// The user QEMU drops to once initialised (`-run-with user=` from QEMU 9.1, `-runas` before).
    pub run_as: Option<String>,
    /// QEMU's seccomp sandbox.
    pub sandbox: bool,
}

impl RuntimeArgs {
    /// The usual files in a run directory (the names [`crate::process::RunDir`] knows), sandbox
    /// on, no incoming migration, no privilege drop.
    pub fn in_dir(run_dir: &Path) -> RuntimeArgs {
        let d = crate::process::RunDir::new(run_dir);
        RuntimeArgs {
            pidfile: d.pidfile(),
            monitor: d.qmp_socket(),
            events: Some(d.events_socket()),
            incoming: None,
            run_as: None,
            sandbox: true,
        }
    }

    /// All of these arguments on their own, for a command line not made by [`build`] (tests of
    /// the process layer).
    pub fn to_args(&self, qemu_version: u64) -> Vec<String> {
        let mut a = self.monitor_args();
        a.extend(self.tail_args(qemu_version));
        a
    }

    /// `-pidfile` and the monitors (after `-nodefaults`, where libvirt puts its monitor).
    pub(crate) fn monitor_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        let mut mon = |id: &str, path: &Path, mon_id: Option<&str>| {
            a.push("-chardev".to_string());
            a.push(format!("socket,id={id},path={},server=on,wait=off", props::kv_escape(&path.to_string_lossy())));
            a.push("-mon".to_string());
            a.push(match mon_id {
                Some(m) => format!("chardev={id},id={m},mode=control"),
                None => format!("chardev={id},mode=control"),
            });
        };
        mon("charmonitor", &self.monitor, Some("monitor"));
        if let Some(ev) = &self.events {
            mon("charmonitor-ev", ev, None);
        }
        a.push("-pidfile".to_string());
        a.push(self.pidfile.to_string_lossy().into_owned());
        a
    }

    /// `-incoming`, `-sandbox` and the privilege drop (at the end, as libvirt orders them). The
    /// sandbox's set*id ban would kill QEMU at the drop, so a drop relaxes it.
    pub(crate) fn tail_args(&self, qemu_version: u64) -> Vec<String> {
        let mut a = Vec::new();
        if let Some(i) = &self.incoming {
            a.extend(["-incoming".to_string(), i.clone()]);
        }
        if self.sandbox {
            let elevate = if self.run_as.is_some() { "allow" } else { "deny" };
            a.push("-sandbox".to_string());
            a.push(format!("on,obsolete=deny,elevateprivileges={elevate},spawn=deny,resourcecontrol=deny"));
        }
        if let Some(user) = &self.run_as {
            if qemu_version >= 9_001_000 {
                a.extend(["-run-with".to_string(), format!("user={user}")]);
            } else {
                a.extend(["-runas".to_string(), user.clone()]);
            }
        }
        a
    }
}

/// The tap descriptors QEMU inherits for one NIC.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TapArg {
    /// The descriptors' numbers in QEMU, one per queue.
    pub fds: Vec<i32>,
    /// /dev/vhost-net descriptors, one per queue; empty: virtio-net in QEMU's userspace.
    pub vhostfds: Vec<i32>,
    /// Opened with IFF_VNET_HDR (virtio NICs).
    pub vnet_hdr: bool,
}

/// Whether a NIC gets vhost-net, as libvirt decides: `<driver name='qemu'>` never; `name='vhost'`
/// always (refused when /dev/vhost-net is missing or the model is not virtio); no name: when the
/// model is virtio, the guest runs on KVM (with TCG the kernel's data path brings nothing) and
/// the device exists. `vhost_net` says whether /dev/vhost-net is there.
pub fn vhost_wanted(
    n: &oxvirt_xml::domain::devices::interface::Interface,
    index: usize,
    accel: Accel,
    vhost_net: bool,
) -> Result<bool, CommandError> {
    use oxvirt_xml::domain::devices::interface::InterfaceDriverName as N;
    let path = format!("/domain/devices/interface[{}]/driver/@name", index + 1);
    let virtio = n.model.as_ref().is_some_and(|m| m.kind.starts_with("virtio"));
    match n.driver.as_ref().and_then(|d| d.name) {
        Some(N::Qemu) => Ok(false),
        Some(N::Vhost) if !virtio => Err(unsupported(path, "vhost-net is only supported for virtio network interfaces")),
        Some(N::Vhost) if !vhost_net => Err(unsupported(
            path,
            "vhost-net was requested for an interface, but is unavailable (no /dev/vhost-net: load the vhost_net module)",
        )),
        Some(N::Vhost) => Ok(true),
        Some(other) => Err(unsupported(path, format!("driver '{other}' (use 'qemu' or 'vhost')"))),
        None => Ok(virtio && accel == Accel::Kvm && vhost_net),
    }
}

impl<'a> BuildEnv<'a> {
    /// An environment with the usual firmware location and real port checks.
    pub fn new(
        caps: &'a QemuCaps,
        emulator: impl Into<PathBuf>,
        accel: Accel,
        lib_dir: impl Into<PathBuf>,
        run_dir: impl Into<PathBuf>,
    ) -> Self {
        let run_dir = run_dir.into();
        BuildEnv {
            runtime: RuntimeArgs::in_dir(&run_dir),
            caps,
            emulator: emulator.into(),
            accel,
            lib_dir: lib_dir.into(),
            log: run_dir.join("qemu.log"),
            run_dir,
            domain_id: -1,
            firmware: FirmwarePaths::default(),
            port_check: PortCheck::Bind,
            taps: Vec::new(),
        }
    }
}

/// A file the command line refers to that must exist before QEMU starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrepareFile {
    /// Copy `from` to `to` unless `to` already exists (UEFI variable store from its template).
    CopyIfMissing { from: PathBuf, to: PathBuf },
    /// Write a secret QEMU reads through `-object secret,file=` (mode 0600).
    Secret { path: PathBuf, data: Vec<u8> },
}

/// A graphics port chosen at build time, for the live XML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphicsPort {
    /// Index into `<devices><graphics>`.
    pub graphics: usize,
    pub port: Option<u16>,
    pub tls_port: Option<u16>,
    pub websocket: Option<u16>,
}

#[derive(Debug)]
pub struct QemuCommand {
    pub emulator: PathBuf,
    pub argv: Vec<String>,
    /// Descriptors QEMU must inherit (taps, later); the argv refers to them by number.
    pub pass_fds: Vec<std::os::fd::OwnedFd>,
    /// Files to open for QEMU ([`QemuCommand::open_passed_files`]), after the NICs' descriptors.
    pub passed_files: Vec<PassedFile>,
    pub prepare: Vec<PrepareFile>,
    pub graphics_ports: Vec<GraphicsPort>,
}

/// A file QEMU writes through a descriptor it inherits (`-add-fd`, `/dev/fdset/N`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassedFile {
    pub path: PathBuf,
    /// Append (`append='on'`) rather than truncate.
    pub append: bool,
}

impl QemuCommand {
    /// Opens [`QemuCommand::passed_files`] and appends them to `pass_fds`, which must hold the
    /// NICs' descriptors already (the numbers in the command line count them first).
    pub fn open_passed_files(&mut self) -> Result<(), CommandError> {
        use std::os::unix::fs::OpenOptionsExt;
        for f in &self.passed_files {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .append(f.append)
                .truncate(!f.append)
                .mode(0o600)
                .custom_flags(libc::O_NOCTTY)
                .open(&f.path)
                .map_err(|source| CommandError::OpenPassedFile { path: f.path.clone(), source })?;
            self.pass_fds.push(file.into());
        }
        Ok(())
    }

    /// Creates the files listed in [`QemuCommand::prepare`] (atomically, parents created).
    pub fn prepare_files(&self) -> Result<(), CommandError> {
        for p in &self.prepare {
            match p {
                PrepareFile::CopyIfMissing { from, to } => {
                    if to.exists() {
                        continue;
                    }
                    let data = std::fs::read(from)
                        .map_err(|source| CommandError::PrepareFile { path: from.clone(), source })?;
                    write_atomic(to, &data, 0o600)?;
                }
                PrepareFile::Secret { path, data } => write_atomic(path, data, 0o600)?,
            }
        }
        Ok(())
    }
}

fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), CommandError> {
    let err = |source| CommandError::PrepareFile { path: path.to_owned(), source };
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).map_err(err)?;
    crate::fsutil::write_atomic(path, data, mode).map_err(err)
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The definition uses something this driver cannot run (yet).
    #[error("unsupported configuration: {element}: {detail}")]
    Unsupported { element: String, detail: String },
    /// The definition contradicts itself or the emulator.
    #[error("invalid configuration: {element}: {detail}")]
    Invalid { element: String, detail: String },
    #[error("assigning addresses: {0}")]
    AddressAssignment(String),
    #[error("finding firmware: {0}")]
    FirmwareLookup(String),
    #[error("allocating a port for {what}: no free port in {from}..={to}")]
    PortAllocation { what: String, from: u16, to: u16 },
    #[error("opening {path} for QEMU: {source}")]
    OpenPassedFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("preparing {path}: {source}")]
    PrepareFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub(crate) fn unsupported(element: impl Into<String>, detail: impl Into<String>) -> CommandError {
    CommandError::Unsupported { element: element.into(), detail: detail.into() }
}

pub(crate) fn invalid(element: impl Into<String>, detail: impl Into<String>) -> CommandError {
    CommandError::Invalid { element: element.into(), detail: detail.into() }
}

/// Completes `def` in place at define time: machine alias → versioned name, implicit
/// controllers and default devices, controller models and indexes, PCI / drive /
/// virtio-serial / USB addresses, MAC addresses and firmware paths ([`complete::for_define`]).
pub fn assign_addresses(def: &mut Domain, env: &BuildEnv) -> Result<(), CommandError> {
    complete::for_define(def, env)
}

/// Completes `def` in place for a start: [`assign_addresses`] plus device aliases (QEMU ids).
/// [`build`] needs a definition completed so.
pub fn complete_for_start(def: &mut Domain, env: &BuildEnv) -> Result<(), CommandError> {
    complete::for_start(def, env)
}

/// Device aliases (QEMU ids) alone, for a definition completed already.
pub fn assign_aliases(def: &mut Domain) {
    complete::aliases(def)
}

/// The QEMU command line (without the emulator itself) for `def`, which
/// [`complete_for_start`] has completed: the builder only formats.
pub fn build(def: &Domain, env: &BuildEnv) -> Result<QemuCommand, CommandError> {
    validate::for_start(def, env)?;
    argv::build(def, env)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The run's own arguments: monitors and pidfile from the run dir; a privilege drop by QEMU
    /// version, with the sandbox's set*id ban relaxed for it; `-incoming` for a restore.
    #[test]
    fn runtime_args() {
        let mut r = RuntimeArgs::in_dir(Path::new("/run/x"));
        assert_eq!(
            r.monitor_args(),
            [
                "-chardev",
                "socket,id=charmonitor,path=/run/x/qmp.sock,server=on,wait=off",
                "-mon",
                "chardev=charmonitor,id=monitor,mode=control",
                "-chardev",
                "socket,id=charmonitor-ev,path=/run/x/events.sock,server=on,wait=off",
                "-mon",
                "chardev=charmonitor-ev,mode=control",
                "-pidfile",
                "/run/x/qemu.pid",
            ]
        );
        assert_eq!(
            r.tail_args(10_000_002),
            ["-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"]
        );
        r.run_as = Some("oxvirt-qemu".into());
        r.incoming = Some("defer".into());
        assert_eq!(
            r.tail_args(10_000_002),
            [
                "-incoming",
                "defer",
                "-sandbox",
                "on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=deny",
                "-run-with",
                "user=oxvirt-qemu",
            ]
        );
        assert_eq!(r.tail_args(9_000_000)[4..], ["-runas", "oxvirt-qemu"]);
        r.sandbox = false;
        r.events = None;
        assert!(!r.tail_args(10_000_002).contains(&"-sandbox".to_string()));
        assert_eq!(r.monitor_args().len(), 6);
    }
}
