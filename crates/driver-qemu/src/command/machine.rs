//! One machine-kind classifier for the QEMU driver: which x86 chipset family a machine type is.

use oxvirt_xml::domain::Domain;

use super::{unsupported, CommandError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MachineKind {
    /// i440FX + PIIX3: conventional PCI only.
    Pc,
    /// Q35 + ICH9: PCI Express.
    Q35,
    /// No PCI; virtio devices on virtio-mmio.
    Microvm,
}

pub(crate) fn machine_kind(name: &str) -> Option<MachineKind> {
    if name == "q35" || name.starts_with("pc-q35-") {
        Some(MachineKind::Q35)
    } else if name == "pc" || name.starts_with("pc-i440fx-") {
        Some(MachineKind::Pc)
    } else if name == "microvm" {
        Some(MachineKind::Microvm)
    } else {
        None
    }
}

/// The machine kind of a completed definition.
pub(crate) fn kind_of(def: &Domain) -> Result<MachineKind, CommandError> {
    let m = def.machine().unwrap_or("pc");
    machine_kind(m).ok_or_else(|| {
        unsupported(
            "/domain/os/type/@machine",
            format!("machine type '{m}' (supported: pc/pc-i440fx-*, q35/pc-q35-*, microvm)"),
        )
    })
}
