//! The machine kind of a definition, through the one classifier of QEMU machine type names
//! ([`oxvirt_xml::domain::QemuMachineFamily`], which the XML rules use too).

use oxvirt_xml::domain::Domain;

pub(crate) use oxvirt_xml::domain::QemuMachineFamily as MachineKind;

use super::{unsupported, CommandError};

/// The machine kind of a completed definition (its machine type resolved to a versioned name).
pub(crate) fn kind_of(def: &Domain) -> Result<MachineKind, CommandError> {
    let m = def.machine().unwrap_or("pc");
    MachineKind::of(m).ok_or_else(|| {
        unsupported(
            "/domain/os/type/@machine",
            format!("machine type '{m}' (supported: pc/pc-i440fx-*, q35/pc-q35-*, microvm)"),
        )
    })
}
