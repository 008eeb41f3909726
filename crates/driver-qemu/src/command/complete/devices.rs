//! Implicit controllers and default devices, controller models and indexes, and drive /
//! virtio-serial / USB addresses.

use oxvirt_xml::domain::*;
use oxvirt_xml::Hex;

use super::super::machine::MachineKind;
use super::{invalid, CommandError};

fn ctrl(kind: ControllerType, index: u32, model: Option<ControllerModel>) -> Controller {
    Controller { kind, index: Some(index), model, ..Default::default() }
}

fn has_ctrl(devs: &Devices, kind: ControllerType, index: u32) -> bool {
    devs.controllers.iter().any(|c| c.kind == kind && c.index == Some(index))
}

/// Controllers, balloon, PS/2 inputs and audio backend that libvirt adds to every x86 guest.
pub(super) fn add_implicit(devs: &mut Devices, kind: MachineKind) {
    // Controllers without index get the next free one of their type, in document order.
    let mut next: Vec<(ControllerType, u32)> = Vec::new();
    for c in &devs.controllers {
        if let Some(i) = c.index {
            match next.iter_mut().find(|(t, _)| *t == c.kind) {
                Some((_, n)) => *n = (*n).max(i + 1),
                None => next.push((c.kind, i + 1)),
            }
        }
    }
    for c in &mut devs.controllers {
        if c.index.is_none() {
            let slot = match next.iter_mut().find(|(t, _)| *t == c.kind) {
                Some(s) => s,
                None => {
                    next.push((c.kind, 0));
                    next.last_mut().expect("just pushed")
                }
            };
            c.index = Some(slot.1);
            slot.1 += 1;
        }
    }
    if kind == MachineKind::Microvm {
        return;
    }
    let root = if kind == MachineKind::Q35 { ControllerModel::PcieRoot } else { ControllerModel::PciRoot };
    if !has_ctrl(devs, ControllerType::Pci, 0) {
        devs.controllers.push(ctrl(ControllerType::Pci, 0, Some(root)));
    }
    if !devs.controllers.iter().any(|c| c.kind == ControllerType::Usb) {
        devs.controllers.push(ctrl(ControllerType::Usb, 0, None));
    }
    match kind {
        MachineKind::I440fx if !has_ctrl(devs, ControllerType::Ide, 0) => {
            devs.controllers.push(ctrl(ControllerType::Ide, 0, None));
        }
        MachineKind::Q35 if !has_ctrl(devs, ControllerType::Sata, 0) => {
            devs.controllers.push(ctrl(ControllerType::Sata, 0, None));
        }
        _ => {}
    }
    for t in [InputType::Mouse, InputType::Keyboard] {
        if !devs.inputs.iter().any(|i| i.kind == t && i.bus == Some(InputBus::Ps2)) {
            devs.inputs.push(Input { kind: t, bus: Some(InputBus::Ps2), ..Default::default() });
        }
    }
    if devs.memballoon.is_none() {
        devs.memballoon = Some(Memballoon { model: MemballoonModel::Virtio, ..Default::default() });
    }
    if devs.audios.is_empty() {
        let spice = devs.graphics.iter().any(|g| g.kind == GraphicsType::Spice);
        let kind = if spice { AudioType::Spice } else { AudioType::None };
        devs.audios.push(Audio { id: 1, kind, ..Default::default() });
    }
    // A graphics device without a video adapter gets libvirt's default one.
    if devs.videos.is_empty() && devs.graphics.iter().any(|g| g.kind != GraphicsType::EglHeadless) {
        devs.videos.push(Video {
            model: Some(VideoModel { kind: VideoType::Cirrus, ..Default::default() }),
            ..Default::default()
        });
    }
    for v in &mut devs.videos {
        let m = v.model.get_or_insert_with(VideoModel::default);
        match m.kind {
            VideoType::Cirrus | VideoType::Vga | VideoType::Vmvga => {
                m.vram.get_or_insert(16384);
                m.heads.get_or_insert(1);
            }
            VideoType::Qxl => {
                m.ram.get_or_insert(65536);
                m.vram.get_or_insert(65536);
                m.vgamem.get_or_insert(16384);
                m.heads.get_or_insert(1);
            }
            VideoType::Virtio | VideoType::Bochs => {
                m.heads.get_or_insert(1);
            }
            _ => {}
        }
    }
    if let Some(v) = devs.videos.first_mut() {
        if let Some(m) = &mut v.model {
            if m.kind != VideoType::None {
                m.primary.get_or_insert(oxvirt_xml::YesNo::Yes);
            }
        }
    }
}

/// libvirt mirrors the first serial as console 0 (or creates the serial from the console).
pub(super) fn console_compat(devs: &mut Devices) {
    for (i, c) in devs.consoles.iter_mut().enumerate() {
        let t = c.target.get_or_insert_with(ChrTarget::default);
        if t.kind.is_none() {
            t.kind = Some(ChrTargetType::Serial);
        }
        if i == 0 && t.kind == Some(ChrTargetType::Serial) {
            t.port.get_or_insert(0);
        }
    }
    if let Some(c) = devs.consoles.first() {
        if c.target.as_ref().and_then(|t| t.kind) == Some(ChrTargetType::Serial) && devs.serials.is_empty() {
            let mut s = c.clone();
            s.target = Some(ChrTarget { kind: None, port: Some(0), ..Default::default() });
            devs.serials.push(s);
        }
    }
    for (i, s) in devs.serials.iter_mut().enumerate() {
        let t = s.target.get_or_insert_with(ChrTarget::default);
        if t.kind.is_none() {
            t.kind = Some(ChrTargetType::IsaSerial);
        }
        t.port.get_or_insert(i as u32);
        if t.model.is_none() {
            let name = match t.kind {
                Some(ChrTargetType::IsaSerial) => Some(ChrTargetModelName::IsaSerial),
                Some(ChrTargetType::PciSerial) => Some(ChrTargetModelName::PciSerial),
                Some(ChrTargetType::UsbSerial) => Some(ChrTargetModelName::UsbSerial),
                _ => None,
            };
            t.model = name.map(|name| ChrTargetModel { name });
        }
    }
    for (i, p) in devs.parallels.iter_mut().enumerate() {
        p.target.get_or_insert_with(ChrTarget::default).port.get_or_insert(i as u32);
    }
}

pub(super) fn disk_bus(d: &Disk) -> DiskBus {
    if let Some(b) = d.target.bus {
        return b;
    }
    let dev = d.target.dev.as_str();
    if dev.starts_with("vd") {
        DiskBus::Virtio
    } else if dev.starts_with("sd") {
        DiskBus::Scsi
    } else if dev.starts_with("fd") {
        DiskBus::Fdc
    } else {
        DiskBus::Ide
    }
}

pub(super) fn drive_addresses(devs: &mut Devices) -> Result<(), CommandError> {
    for d in &mut devs.disks {
        let bus = disk_bus(d);
        d.target.bus = Some(bus);
        if d.device.is_none() {
            d.device = Some(DiskDevice::Disk);
        }
        if !matches!(bus, DiskBus::Ide | DiskBus::Sata | DiskBus::Scsi | DiskBus::Fdc) {
            continue;
        }
        if d.info.address.as_ref().is_some_and(|a| a.kind.is_some()) {
            continue;
        }
        let idx = disk_index(&d.target.dev).ok_or_else(|| {
            invalid(
                "/domain/devices/disk/target/@dev",
                format!("cannot derive a drive address from target '{}'", d.target.dev),
            )
        })?;
        let (controller, bus_no, unit) = match bus {
            DiskBus::Ide => (idx / 4, (idx % 4) / 2, idx % 2),
            DiskBus::Sata => (idx / 6, 0, idx % 6),
            DiskBus::Scsi => (idx / 7, 0, idx % 7),
            _ => (0, 0, idx),
        };
        d.info.address = Some(Address {
            kind: Some(AddressType::Drive),
            controller: Some(controller),
            bus: Some(Hex(bus_no)),
            target: Some(0),
            unit: Some(unit),
            ..Default::default()
        });
    }
    Ok(())
}

pub(super) fn add_needed_controllers(devs: &mut Devices, kind: MachineKind) {
    let mut want: Vec<(ControllerType, u32)> = Vec::new();
    for d in &devs.disks {
        let t = match d.target.bus {
            Some(DiskBus::Ide) => ControllerType::Ide,
            Some(DiskBus::Sata) => ControllerType::Sata,
            Some(DiskBus::Scsi) => ControllerType::Scsi,
            Some(DiskBus::Fdc) => ControllerType::Fdc,
            _ => continue,
        };
        if let Some(c) = d.info.address.as_ref().and_then(|a| a.controller) {
            want.push((t, c));
        }
    }
    let virtio_chr = |c: &Chardev| c.target.as_ref().and_then(|t| t.kind) == Some(ChrTargetType::Virtio);
    if devs.channels.iter().any(virtio_chr) || devs.consoles.iter().any(virtio_chr) {
        want.push((ControllerType::VirtioSerial, 0));
    }
    for (t, i) in want {
        if kind == MachineKind::Microvm && t != ControllerType::VirtioSerial && t != ControllerType::Scsi {
            continue;
        }
        if !has_ctrl(devs, t, i) {
            devs.controllers.push(ctrl(t, i, None));
        }
    }
}

pub(super) fn controller_defaults(devs: &mut Devices, kind: MachineKind) {
    for c in &mut devs.controllers {
        if c.model.is_some() {
            continue;
        }
        c.model = match c.kind {
            ControllerType::Usb => {
                Some(if kind == MachineKind::Q35 { ControllerModel::QemuXhci } else { ControllerModel::Piix3Uhci })
            }
            ControllerType::Scsi => Some(ControllerModel::Lsilogic),
            ControllerType::VirtioSerial => None,
            ControllerType::Pci if c.index == Some(0) => {
                Some(if kind == MachineKind::Q35 { ControllerModel::PcieRoot } else { ControllerModel::PciRoot })
            }
            _ => None,
        };
        if c.kind == ControllerType::Pci {
            let name = match c.model {
                Some(ControllerModel::PcieRootPort) => Some(PciModelName::PcieRootPort),
                Some(ControllerModel::PciBridge) => Some(PciModelName::PciBridge),
                Some(ControllerModel::DmiToPciBridge) => Some(PciModelName::I82801b11Bridge),
                Some(ControllerModel::PcieToPciBridge) => Some(PciModelName::PciePciBridge),
                _ => None,
            };
            if let Some(n) = name {
                c.model_name.get_or_insert(ControllerModelName { name: Some(n) });
            }
        }
    }
}

pub(super) fn virtio_serial_addresses(devs: &mut Devices) -> Result<(), CommandError> {
    let mut used: Vec<(u32, u32)> = Vec::new();
    let is_virtio = |c: &Chardev| c.target.as_ref().and_then(|t| t.kind) == Some(ChrTargetType::Virtio);
    let port_of = |a: &Address| a.port.as_deref().and_then(|p| p.parse::<u32>().ok());
    for c in devs.consoles.iter().chain(devs.channels.iter()).filter(|c| is_virtio(c)) {
        if let Some(a) = c.address.as_ref().filter(|a| a.kind == Some(AddressType::VirtioSerial)) {
            if let Some(p) = port_of(a) {
                used.push((a.controller.unwrap_or(0), p));
            }
        }
    }
    let take = |start: u32, used: &mut Vec<(u32, u32)>| -> Result<Address, CommandError> {
        let port = (start..31).find(|p| !used.contains(&(0, *p))).ok_or_else(|| {
            CommandError::AddressAssignment("virtio-serial controller 0 has no free port left".into())
        })?;
        used.push((0, port));
        Ok(Address {
            kind: Some(AddressType::VirtioSerial),
            controller: Some(0),
            bus: Some(Hex(0)),
            port: Some(port.to_string()),
            ..Default::default()
        })
    };
    for c in devs.consoles.iter_mut().filter(|c| is_virtio(c)) {
        if c.address.is_none() {
            c.address = Some(take(0, &mut used)?);
        }
    }
    for c in devs.channels.iter_mut().filter(|c| is_virtio(c)) {
        if c.address.is_none() {
            c.address = Some(take(1, &mut used)?);
        }
    }
    Ok(())
}

/// Ports of a USB controller model (libvirt's counts).
fn usb_ports(c: &Controller) -> u32 {
    if let Some(p) = c.ports {
        return p;
    }
    match c.model {
        Some(ControllerModel::Ehci | ControllerModel::Ich9Ehci1) => 6,
        Some(ControllerModel::PciOhci) => 3,
        Some(ControllerModel::NecXhci | ControllerModel::QemuXhci) => 4,
        Some(ControllerModel::None) => 0,
        _ => 2,
    }
}

pub(super) fn usb_addresses(devs: &mut Devices) -> Result<(), CommandError> {
    let Some(usb0) = devs.controllers.iter().find(|c| c.kind == ControllerType::Usb && c.index == Some(0)) else {
        return Ok(());
    };
    let nports = usb_ports(usb0);
    let none = usb0.model == Some(ControllerModel::None);
    let mut slots: Vec<&mut Option<Address>> = Vec::new();
    for i in devs.inputs.iter_mut().filter(|i| i.bus == Some(InputBus::Usb)) {
        slots.push(&mut i.address);
    }
    for d in devs.disks.iter_mut().filter(|d| d.target.bus == Some(DiskBus::Usb)) {
        slots.push(&mut d.info.address);
    }
    for s in devs.sounds.iter_mut().filter(|s| s.model == SoundModel::Usb) {
        slots.push(&mut s.address);
    }
    for s in
        devs.serials.iter_mut().filter(|s| s.target.as_ref().and_then(|t| t.kind) == Some(ChrTargetType::UsbSerial))
    {
        slots.push(&mut s.address);
    }
    if none && !slots.is_empty() {
        return Err(invalid(
            "/domain/devices/controller[@type='usb']",
            "USB devices need a USB controller, but its model is 'none'",
        ));
    }
    let mut used: Vec<String> = slots.iter().filter_map(|a| a.as_ref().and_then(|a| a.port.clone())).collect();
    for a in slots {
        if a.is_some() {
            continue;
        }
        let port = (1..=nports).map(|p| p.to_string()).find(|p| !used.contains(p)).ok_or_else(|| {
            CommandError::AddressAssignment(format!(
                "USB controller 0 has only {nports} ports (hubs are not added automatically)"
            ))
        })?;
        used.push(port.clone());
        *a = Some(Address { kind: Some(AddressType::Usb), bus: Some(Hex(0)), port: Some(port), ..Default::default() });
    }
    Ok(())
}

/// Whether a virtio model string denotes the transitional (conventional PCI) flavour.
pub(super) fn transitional(m: Option<VirtioModel>) -> bool {
    m == Some(VirtioModel::VirtioTransitional)
}
