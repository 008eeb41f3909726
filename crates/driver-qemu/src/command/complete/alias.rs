//! Device aliases (`<alias name=...>`), which become QEMU `id=`s: libvirt's naming scheme,
//! keeping user aliases (`ua-` prefix).

use oxvirt_xml::domain::*;

use super::super::machine::{kind_of, MachineKind};

fn set(slot: &mut Option<Alias>, name: impl FnOnce() -> String) {
    if slot.as_ref().is_some_and(|a| a.name.starts_with("ua-")) {
        return;
    }
    *slot = Some(Alias { name: name() });
}

pub(crate) fn controller_alias(c: &Controller, kind: MachineKind) -> String {
    let i = c.index.unwrap_or(0);
    match c.kind {
        ControllerType::Pci => match c.model {
            Some(ControllerModel::PcieRoot) => "pcie.0".into(),
            _ => format!("pci.{i}"),
        },
        ControllerType::Ide if i == 0 => "ide".into(),
        ControllerType::Usb if i == 0 => "usb".into(),
        ControllerType::Sata if i == 0 && kind == MachineKind::Q35 => "ide".into(),
        t => format!("{t}{i}"),
    }
}

pub(crate) fn assign(def: &mut Domain) {
    let kind = kind_of(def).unwrap_or(MachineKind::I440fx);
    let Some(devs) = def.devices.as_mut() else {
        return;
    };
    // Names first (they read the device itself), then filled in through the mutable visitor.
    let mut names: Vec<Option<String>> = Vec::new();
    devs.visit_info(|p, info| names.push(name_of(devs, p, info, kind)));
    let mut names = names.into_iter();
    devs.visit_info_mut(|_, info| {
        if let Some(name) = names.next().flatten() {
            set(info.alias, || name);
        }
    });
    // A serial-type console 0 is the first serial port itself.
    let serial0 = devs.serials.first().and_then(|s| s.alias.clone());
    if let Some(c) = devs.consoles.first_mut() {
        if c.target.as_ref().and_then(|t| t.kind) == Some(ChrTargetType::Serial) {
            if let Some(a) = serial0 {
                c.alias = Some(a);
            }
        }
    }
}

/// libvirt's alias for one device, `None` for kinds that get none here.
fn name_of(devs: &Devices, p: Position, info: InfoRef<'_>, kind: MachineKind) -> Option<String> {
    let i = p.index;
    Some(match p.kind {
        DeviceKind::Disk => {
            let d = &devs.disks[i];
            let a = info.address.cloned().unwrap_or_default();
            let (c, b, u) = (a.controller.unwrap_or(0), a.bus.map_or(0, |h| h.0), a.unit.unwrap_or(0));
            let idx = disk_index(&d.target.dev).unwrap_or(0);
            match d.target.bus.unwrap_or_default() {
                DiskBus::Virtio => format!("virtio-disk{idx}"),
                DiskBus::Ide => format!("ide{c}-{b}-{u}"),
                DiskBus::Sata => format!("sata{c}-0-{u}"),
                DiskBus::Scsi => format!("scsi{c}-{b}-{u}"),
                DiskBus::Fdc => format!("fdc0-0-{u}"),
                DiskBus::Usb => format!("usb-disk{idx}"),
                other => format!("{other}-disk{idx}"),
            }
        }
        DeviceKind::Controller => {
            let c = &devs.controllers[i];
            match (c.kind, c.index) {
                (ControllerType::Sata, Some(n)) => format!("sata{n}"),
                _ => controller_alias(c, kind),
            }
        }
        DeviceKind::Interface => format!("net{i}"),
        DeviceKind::Memballoon => "balloon0".into(),
        DeviceKind::Serial
        | DeviceKind::Parallel
        | DeviceKind::Channel
        | DeviceKind::Console
        | DeviceKind::Input
        | DeviceKind::Video
        | DeviceKind::Sound
        | DeviceKind::Watchdog
        | DeviceKind::Rng
        | DeviceKind::Panic => format!("{}{i}", p.kind.element()),
        _ => return None,
    })
}
