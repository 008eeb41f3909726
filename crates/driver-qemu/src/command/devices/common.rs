//! What every device family needs: its id, its place on a PCI or USB bus, virtio options.

use oxvirt_xml::domain::*;
use oxvirt_xml::OnOff;

use super::super::complete::controller_alias;
use super::super::ctx::Ctx;
use super::super::machine::MachineKind;
use super::super::props::Props;
use super::super::{invalid, CommandError};

pub(super) fn alias(a: &Option<Alias>) -> String {
    a.as_ref().map(|a| a.name.clone()).unwrap_or_default()
}

/// `bus`/`addr` (and `multifunction`) of a device with a PCI address.
pub(crate) fn pci_props(cx: &Ctx, a: &Option<Address>, what: &str) -> Result<Props, CommandError> {
    let a = a
        .as_ref()
        .filter(|a| a.kind == Some(AddressType::Pci))
        .ok_or_else(|| invalid(what, "a PCI address is needed here"))?;
    let bus = a.bus.map_or(0, |h| h.0);
    let ctrl = cx
        .devs
        .controllers
        .iter()
        .find(|c| c.kind == ControllerType::Pci && c.index == Some(bus))
        .ok_or_else(|| invalid(what, format!("PCI bus {bus} does not exist")))?;
    let mut p = Props::new().s("bus", controller_alias(ctrl, cx.kind));
    if a.multifunction == Some(OnOff::On) {
        p = p.b("multifunction", true);
    }
    let slot = a.slot.map_or(0, |h| h.0);
    let func = a.function.map_or(0, |h| h.0);
    let addr = if func == 0 { format!("0x{slot:x}") } else { format!("0x{slot:x}.0x{func:x}") };
    Ok(p.s("addr", addr))
}

pub(crate) fn usb_props(a: &Option<Address>) -> Props {
    let a = a.clone().unwrap_or_default();
    let bus = a.bus.map_or(0, |h| h.0);
    let bus = if bus == 0 { "usb.0".to_string() } else { format!("usb{bus}.0") };
    Props::new().s("bus", bus).opt_s("port", a.port)
}

pub(super) fn is_microvm(cx: &Ctx) -> bool {
    cx.kind == MachineKind::Microvm
}

pub(crate) fn virtio_opts(mut p: Props, v: &VirtioOptions) -> Props {
    if let Some(x) = v.iommu {
        p = p.b("iommu_platform", x == OnOff::On);
    }
    if let Some(x) = v.ats {
        p = p.b("ats", x == OnOff::On);
    }
    if let Some(x) = v.packed {
        p = p.b("packed", x == OnOff::On);
    }
    if let Some(x) = v.page_per_vq {
        p = p.b("page-per-vq", x == OnOff::On);
    }
    p
}
