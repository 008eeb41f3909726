//! Domain XML → QEMU command line.
//!
//! [`assign_addresses`] completes a definition the way libvirt does when it is defined
//! (resolved machine type, implicit controllers and devices, PCI/drive/virtio-serial/USB
//! addresses, firmware paths) so the persistent XML records the guest ABI. [`build`] runs the
//! same completion on a copy and turns it into arguments, so a command line never depends on
//! whether the caller assigned addresses first.
//!
//! `-pidfile` and the QMP monitor are not emitted: [`crate::process::spawn`] adds them.

mod addr;
pub(crate) mod alias;
mod argv;
mod devices;
mod disk;
mod firmware;
mod props;

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

/// Completes `def` in place: machine alias → versioned name, implicit controllers and default
/// devices, controller models and indexes, PCI / drive / virtio-serial / USB addresses, MAC
/// addresses and firmware paths.
pub fn assign_addresses(def: &mut Domain, env: &BuildEnv) -> Result<(), CommandError> {
    addr::assign(def, env)
}

/// The QEMU command line (without the emulator itself, `-pidfile` and `-qmp`) for `def`.
pub fn build(def: &Domain, env: &BuildEnv) -> Result<QemuCommand, CommandError> {
    let mut def = def.clone();
    addr::assign(&mut def, env)?;
    alias::assign(&mut def);
    argv::build(&def, env)
}
