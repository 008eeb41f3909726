//! The state one command line is built in: the definition, the host facts, the arguments so far
//! and what the driver must do besides (files to prepare and pass, ports chosen). The machine-wide
//! emitters and every device family write through it.

use oxvirt_xml::domain::*;

use super::machine::MachineKind;
use super::props::Props;
use super::{Accel, BuildEnv, GraphicsPort, PassedFile, PrepareFile};

pub(crate) struct Ctx<'a> {
    pub def: &'a Domain,
    pub devs: &'a Devices,
    pub env: &'a BuildEnv<'a>,
    pub kind: MachineKind,
    pub args: Vec<String>,
    pub prepare: Vec<PrepareFile>,
    pub graphics_ports: Vec<GraphicsPort>,
    pub used_ports: Vec<u16>,
    /// Boot index per disk and per interface (from `<os><boot>` or per-device `<boot>`).
    pub disk_boot: Vec<Option<u32>>,
    pub net_boot: Vec<Option<u32>>,
    /// The first `-device` driver the emulator does not provide.
    pub missing: Option<String>,
    /// Files the driver opens and QEMU gets as descriptors (`-add-fd`), in fd order.
    pub passed_files: Vec<PassedFile>,
}

impl Ctx<'_> {
    pub fn arg(&mut self, flag: &str, value: impl Into<String>) {
        self.args.push(flag.to_owned());
        self.args.push(value.into());
    }
    pub fn flag(&mut self, flag: &str) {
        self.args.push(flag.to_owned());
    }
    /// A file QEMU writes (a character device's file or log) is opened by the driver and
    /// passed as a descriptor, so QEMU never opens a path with the rights it has before its
    /// privilege drop. Adds the `-add-fd` and returns the `/dev/fdset/N` path for the option.
    pub fn pass_file(&mut self, path: &str, append: bool) -> String {
        // Descriptors after the NICs' (the driver passes those first, in this order).
        let base: usize = self.env.taps.iter().flatten().map(|t| t.fds.len() + t.vhostfds.len()).sum();
        let set = self.passed_files.len();
        let fd = crate::process::passed_fd(base + set);
        self.arg("-add-fd", format!("set={set},fd={fd}"));
        self.passed_files.push(PassedFile { path: path.into(), append });
        format!("/dev/fdset/{set}")
    }
    /// Adds a `-device`; a driver the emulator lacks is reported when the build ends.
    pub fn device(&mut self, p: Props) {
        if let Some(d) = p.get_str("driver") {
            if self.missing.is_none() && !self.env.caps.has_device(d) {
                self.missing = Some(d.to_owned());
            }
        }
        self.arg("-device", p.to_json());
    }
    pub fn object(&mut self, p: Props) {
        self.arg("-object", p.to_json());
    }
    pub fn accel(&self) -> Accel {
        self.env.accel
    }
}

/// IOThread ids: `<iothreadids>` or 1..=`<iothreads>`.
pub(crate) fn iothread_ids(def: &Domain) -> Option<Vec<u32>> {
    if let Some(ids) = &def.iothreadids {
        if !ids.iothreads.is_empty() {
            return Some(ids.iothreads.iter().map(|t| t.id).collect());
        }
    }
    def.iothreads.filter(|n| *n > 0).map(|n| (1..=n).collect())
}
