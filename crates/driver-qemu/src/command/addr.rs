//! Completing a definition the way libvirt does at define time: machine type, implicit
//! controllers and default devices, drive / virtio-serial / USB / PCI addresses.

use oxvirt_xml::domain::*;
use oxvirt_xml::{Hex, MacAddr, OnOff};

use super::{firmware, invalid, unsupported, BuildEnv, CommandError};

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

pub(crate) fn assign(def: &mut Domain, env: &BuildEnv) -> Result<(), CommandError> {
    check_basics(def)?;
    resolve_machine(def, env)?;
    check_caps(def, env)?;
    let kind = kind_of(def)?;
    firmware::assign(def, env, kind)?;
    let devs = def.devices.get_or_insert_with(Devices::default);
    add_implicit(devs, kind);
    console_compat(devs);
    drive_addresses(devs)?;
    add_needed_controllers(devs, kind);
    controller_defaults(devs, kind);
    virtio_serial_addresses(devs)?;
    usb_addresses(devs)?;
    for net in &mut devs.interfaces {
        if net.mac.is_none() {
            net.mac = Some(Mac { address: MacAddr::random_qemu(), kind: None, check: None });
        }
    }
    if kind != MachineKind::Microvm {
        pci::assign(devs, kind)?;
    }
    Ok(())
}

fn check_basics(def: &mut Domain) -> Result<(), CommandError> {
    if !matches!(def.kind, DomainType::Qemu | DomainType::Kvm) {
        return Err(unsupported(
            "/domain/@type",
            format!("domain type '{}' (the QEMU driver runs 'qemu' and 'kvm')", def.kind),
        ));
    }
    if def.os_type() != OsType::Hvm {
        return Err(unsupported("/domain/os/type", format!("OS type '{}' (only 'hvm')", def.os_type())));
    }
    match def.os.kind.arch.as_deref() {
        None => def.os.kind.arch = Some("x86_64".into()),
        Some("x86_64") => {}
        Some(a) => return Err(unsupported("/domain/os/type/@arch", format!("architecture '{a}' (only x86_64)"))),
    }
    Ok(())
}

/// What this QEMU binary lacks, refused at define time as libvirt does (not only at start):
/// a custom CPU model, a USB controller model, IOThreads.
fn check_caps(def: &Domain, env: &BuildEnv) -> Result<(), CommandError> {
    let caps = env.caps;
    if let Some(cpu) = &def.cpu {
        let custom = matches!(cpu.mode, None | Some(CpuMode::Custom));
        if let Some(name) = cpu.model.as_ref().and_then(|m| m.name.as_deref()).filter(|_| custom) {
            if !caps.cpu_models.is_empty() && caps.cpu_model(name).is_none() {
                return Err(unsupported(
                    "/domain/cpu/model",
                    format!("CPU model '{name}' is not known to this emulator"),
                ));
            }
        }
    }
    let devs = def.devices.iter().flat_map(|d| &d.controllers);
    for c in devs.filter(|c| c.kind == ControllerType::Usb) {
        use ControllerModel as M;
        let dev = match c.model {
            Some(M::NecXhci) => "nec-usb-xhci",
            Some(M::QemuXhci) => "qemu-xhci",
            Some(M::Ehci) => "usb-ehci",
            Some(M::Ich9Ehci1) => "ich9-usb-ehci1",
            Some(M::PciOhci) => "pci-ohci",
            _ => continue,
        };
        if !caps.has_device(dev) {
            return Err(unsupported(
                "/domain/devices/controller",
                format!(
                    "USB controller model '{}' needs QEMU device '{dev}', which this emulator lacks",
                    c.model.map(|m| m.to_string()).unwrap_or_default()
                ),
            ));
        }
    }
    let iothreads = def.iothreads.unwrap_or(0) > 0 || def.iothreadids.as_ref().is_some_and(|t| !t.iothreads.is_empty());
    if iothreads && !caps.qom_types.is_empty() && !caps.has_type("iothread") {
        return Err(unsupported("/domain/iothreads", "this emulator has no IOThreads ('iothread' objects)"));
    }
    Ok(())
}

fn resolve_machine(def: &mut Domain, env: &BuildEnv) -> Result<(), CommandError> {
    let caps = env.caps;
    let name = match def.os.kind.machine.as_deref() {
        Some(m) => m.to_owned(),
        None => caps
            .default_machine()
            .map(|m| m.name.clone())
            .or_else(|| caps.machine("pc").map(|m| m.name.clone()))
            .ok_or_else(|| {
            invalid("/domain/os/type/@machine", "no machine type given and the emulator has no default")
        })?,
    };
    let m = caps.machine(&name).ok_or_else(|| {
        unsupported("/domain/os/type/@machine", format!("machine type '{name}' is not supported by this emulator"))
    })?;
    def.os.kind.machine = Some(m.name.clone());
    Ok(())
}

fn ctrl(kind: ControllerType, index: u32, model: Option<ControllerModel>) -> Controller {
    Controller { kind, index: Some(index), model, ..Default::default() }
}

fn has_ctrl(devs: &Devices, kind: ControllerType, index: u32) -> bool {
    devs.controllers.iter().any(|c| c.kind == kind && c.index == Some(index))
}

/// Controllers, balloon, PS/2 inputs and audio backend that libvirt adds to every x86 guest.
fn add_implicit(devs: &mut Devices, kind: MachineKind) {
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
        MachineKind::Pc if !has_ctrl(devs, ControllerType::Ide, 0) => {
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
fn console_compat(devs: &mut Devices) {
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

/// `hda` → 0, `sdb` → 1, `vdaa` → 26 (libvirt's disk name numbering).
pub(crate) fn disk_index(dev: &str) -> Option<u32> {
    let rest = ["xvd", "ubd", "hd", "sd", "vd", "fd"].iter().find_map(|p| dev.strip_prefix(p))?;
    if rest.is_empty() {
        return None;
    }
    let mut idx: u32 = 0;
    for (i, c) in rest.chars().enumerate() {
        if !c.is_ascii_lowercase() {
            return None;
        }
        if i > 0 {
            idx = idx.checked_add(1)?;
        }
        idx = idx.checked_mul(26)?.checked_add(c as u32 - 'a' as u32)?;
    }
    Some(idx)
}

pub(crate) fn disk_bus(d: &Disk) -> DiskBus {
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

fn drive_addresses(devs: &mut Devices) -> Result<(), CommandError> {
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

fn add_needed_controllers(devs: &mut Devices, kind: MachineKind) {
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

fn controller_defaults(devs: &mut Devices, kind: MachineKind) {
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

fn virtio_serial_addresses(devs: &mut Devices) -> Result<(), CommandError> {
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

fn usb_addresses(devs: &mut Devices) -> Result<(), CommandError> {
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
pub(crate) fn transitional(m: Option<VirtioModel>) -> bool {
    m == Some(VirtioModel::VirtioTransitional)
}

pub(crate) mod pci {
    //! PCI slot allocation: libvirt's placement rules, simplified to the buses we create.

    use super::*;

    /// What a device plugs into.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Conn {
        /// Conventional PCI endpoint.
        Pci,
        /// PCI Express endpoint (a root port on q35, a plain slot on pc).
        Pcie,
    }

    #[derive(Debug, Clone)]
    struct Bus {
        index: u32,
        model: ControllerModel,
        /// Function bitmask per slot.
        used: [u8; 32],
    }

    impl Bus {
        fn slots(&self) -> std::ops::RangeInclusive<u32> {
            match self.model {
                ControllerModel::PcieRootPort | ControllerModel::PcieSwitchDownstreamPort => 0..=0,
                ControllerModel::DmiToPciBridge => 0..=31,
                _ => 1..=31,
            }
        }
        fn accepts(&self, c: Conn, kind: MachineKind) -> bool {
            match self.model {
                ControllerModel::PciRoot | ControllerModel::PciExpanderBus => true,
                ControllerModel::PciBridge | ControllerModel::PcieToPciBridge => {
                    c == Conn::Pci || kind == MachineKind::Pc
                }
                ControllerModel::PcieRootPort | ControllerModel::PcieSwitchDownstreamPort => c == Conn::Pcie,
                _ => false,
            }
        }
        fn free_slot(&self) -> Option<u32> {
            self.slots().find(|s| self.used[*s as usize] == 0)
        }
    }

    fn pci_addr(bus: u32, slot: u32, function: u32) -> Address {
        Address {
            kind: Some(AddressType::Pci),
            domain: Some(Hex(0)),
            bus: Some(Hex(bus)),
            slot: Some(Hex(slot)),
            function: Some(Hex(function)),
            ..Default::default()
        }
    }

    fn needs(a: &Option<Address>) -> bool {
        match a {
            None => true,
            Some(a) => a.kind.is_none() || (a.kind == Some(AddressType::Pci) && a.slot.is_none()),
        }
    }

    fn is_pci(a: &Option<Address>) -> Option<&Address> {
        a.as_ref().filter(|a| a.kind == Some(AddressType::Pci) && a.slot.is_some())
    }

    struct Alloc {
        kind: MachineKind,
        buses: Vec<Bus>,
    }

    impl Alloc {
        fn bus_mut(&mut self, index: u32) -> Option<&mut Bus> {
            self.buses.iter_mut().find(|b| b.index == index)
        }
        fn mark(&mut self, a: &Address, what: &str) -> Result<(), CommandError> {
            let (bus, slot, func) =
                (a.bus.map_or(0, |h| h.0), a.slot.map_or(0, |h| h.0), a.function.map_or(0, |h| h.0));
            if a.domain.is_some_and(|d| d.0 != 0) {
                return Err(unsupported(what, "PCI domains other than 0"));
            }
            let b = self.bus_mut(bus).ok_or_else(|| {
                invalid(what, format!("PCI bus 0x{bus:02x} does not exist (no PCI controller with index {bus})"))
            })?;
            if slot > 31 || func > 7 {
                return Err(invalid(what, format!("PCI address {bus:02x}:{slot:02x}.{func} is out of range")));
            }
            if b.used[slot as usize] & (1 << func) != 0 {
                return Err(invalid(what, format!("PCI address {bus:02x}:{slot:02x}.{func} is used twice")));
            }
            b.used[slot as usize] |= 1 << func;
            Ok(())
        }
        fn take(&mut self, c: Conn, what: &str) -> Result<Address, CommandError> {
            let kind = self.kind;
            for b in &mut self.buses {
                if b.accepts(c, kind) {
                    if let Some(s) = b.free_slot() {
                        b.used[s as usize] |= 1;
                        return Ok(pci_addr(b.index, s, 0));
                    }
                }
            }
            Err(CommandError::AddressAssignment(format!("no free PCI slot for {what}")))
        }
        fn take_fixed(&mut self, bus: u32, slot: u32, func: u32) -> Option<Address> {
            let b = self.bus_mut(bus)?;
            if b.used[slot as usize] & (1 << func) != 0 {
                return None;
            }
            b.used[slot as usize] |= 1 << func;
            Some(pci_addr(bus, slot, func))
        }
    }

    fn net_conn(n: &Interface) -> Conn {
        match n.model.as_ref().map(|m| m.kind.as_str()) {
            Some("virtio") | Some("virtio-non-transitional") | Some("e1000e") | Some("igb") => Conn::Pcie,
            _ => Conn::Pci,
        }
    }

    fn virtio_conn(transitional: bool) -> Conn {
        if transitional {
            Conn::Pci
        } else {
            Conn::Pcie
        }
    }

    fn ctrl_conn(c: &Controller) -> Option<Conn> {
        use ControllerModel as M;
        match c.kind {
            ControllerType::Usb => match c.model {
                Some(M::QemuXhci | M::NecXhci) => Some(Conn::Pcie),
                Some(M::None) => None,
                _ => Some(Conn::Pci),
            },
            ControllerType::Scsi => match c.model {
                Some(M::VirtioScsi | M::VirtioNonTransitional) => Some(Conn::Pcie),
                _ => Some(Conn::Pci),
            },
            ControllerType::VirtioSerial => Some(virtio_conn(c.model == Some(M::VirtioTransitional))),
            ControllerType::Sata => Some(Conn::Pcie),
            _ => None,
        }
    }

    /// Every device that wants a PCI slot, in libvirt's assignment order.
    fn wanted(devs: &Devices, kind: MachineKind) -> Vec<(Conn, &'static str)> {
        let mut v = Vec::new();
        for n in &devs.interfaces {
            if needs(&n.address) {
                v.push((net_conn(n), "interface"));
            }
        }
        for s in &devs.sounds {
            if needs(&s.address) && sound_is_pci(s) && !(kind == MachineKind::Q35 && s.model == SoundModel::Ich9) {
                v.push((Conn::Pci, "sound"));
            }
        }
        for c in &devs.controllers {
            if let Some(conn) = ctrl_conn(c) {
                if needs(&c.info.address) && !special_ctrl(c, kind) && !is_companion(c) {
                    v.push((conn, "controller"));
                }
            }
        }
        for d in &devs.disks {
            if d.target.bus == Some(DiskBus::Virtio) && needs(&d.info.address) {
                v.push((virtio_conn(transitional(d.model)), "disk"));
            }
        }
        if let Some(b) = &devs.memballoon {
            if balloon_is_pci(b) && needs(&b.address) {
                v.push((virtio_conn(b.model == MemballoonModel::VirtioTransitional), "memballoon"));
            }
        }
        for r in &devs.rngs {
            if needs(&r.address) {
                v.push((virtio_conn(r.model == RngModel::VirtioTransitional), "rng"));
            }
        }
        for w in &devs.watchdogs {
            if w.model == WatchdogModel::I6300esb && needs(&w.address) {
                v.push((Conn::Pci, "watchdog"));
            }
        }
        for (i, vd) in devs.videos.iter().enumerate() {
            if i > 0 && video_is_pci(vd) && needs(&vd.address) {
                let virtio = vd.model.as_ref().map(|m| m.kind) == Some(VideoType::Virtio);
                v.push((if virtio { Conn::Pcie } else { Conn::Pci }, "video"));
            }
        }
        for i in &devs.inputs {
            if i.bus == Some(InputBus::Virtio) && needs(&i.address) {
                v.push((virtio_conn(i.model == Some(InputModel::VirtioTransitional)), "input"));
            }
        }
        for s in &devs.serials {
            if s.target.as_ref().and_then(|t| t.kind) == Some(ChrTargetType::PciSerial) && needs(&s.address) {
                v.push((Conn::Pci, "serial"));
            }
        }
        v
    }

    pub(crate) fn sound_is_pci(s: &Sound) -> bool {
        matches!(
            s.model,
            SoundModel::Ich6 | SoundModel::Ich7 | SoundModel::Ich9 | SoundModel::Ac97 | SoundModel::Es1370
        )
    }

    pub(crate) fn balloon_is_pci(b: &Memballoon) -> bool {
        matches!(
            b.model,
            MemballoonModel::Virtio | MemballoonModel::VirtioTransitional | MemballoonModel::VirtioNonTransitional
        )
    }

    pub(crate) fn video_is_pci(v: &Video) -> bool {
        !matches!(v.model.as_ref().map(|m| m.kind), Some(VideoType::None | VideoType::Ramfb))
    }

    fn is_companion(c: &Controller) -> bool {
        matches!(c.model, Some(ControllerModel::Ich9Uhci1 | ControllerModel::Ich9Uhci2 | ControllerModel::Ich9Uhci3))
    }

    /// Controllers with a fixed place: PIIX3 IDE/USB on pc, ICH9 SATA/USB on q35.
    fn special_ctrl(c: &Controller, kind: MachineKind) -> bool {
        match (kind, c.kind, c.index) {
            (MachineKind::Pc, ControllerType::Ide, Some(0)) => true,
            (MachineKind::Pc, ControllerType::Usb, Some(0)) => c.model == Some(ControllerModel::Piix3Uhci),
            (MachineKind::Q35, ControllerType::Sata, Some(0)) => true,
            (_, ControllerType::Usb, _) => c.model == Some(ControllerModel::Ich9Ehci1),
            _ => false,
        }
    }

    fn new_ctrl(index: u32, model: ControllerModel) -> Controller {
        let name = match model {
            ControllerModel::PcieRootPort => PciModelName::PcieRootPort,
            ControllerModel::PcieToPciBridge => PciModelName::PciePciBridge,
            _ => PciModelName::PciBridge,
        };
        Controller {
            kind: ControllerType::Pci,
            index: Some(index),
            model: Some(model),
            model_name: Some(ControllerModelName { name: Some(name) }),
            ..Default::default()
        }
    }

    pub(crate) fn assign(devs: &mut Devices, kind: MachineKind) -> Result<(), CommandError> {
        // Buses from the PCI controllers.
        let mut alloc = Alloc { kind, buses: Vec::new() };
        let mut pci_ctrls: Vec<&Controller> =
            devs.controllers.iter().filter(|c| c.kind == ControllerType::Pci).collect();
        pci_ctrls.sort_by_key(|c| c.index);
        for c in &pci_ctrls {
            let model = c.model.ok_or_else(|| {
                invalid(
                    "/domain/devices/controller[@type='pci']",
                    format!("PCI controller {} has no model", c.index.unwrap_or(0)),
                )
            })?;
            let root = matches!(model, ControllerModel::PciRoot | ControllerModel::PcieRoot);
            if root != (c.index == Some(0)) {
                return Err(invalid(
                    "/domain/devices/controller[@type='pci']",
                    "the PCI root controller must have index 0 and be the only root",
                ));
            }
            if kind == MachineKind::Pc && model == ControllerModel::PcieRoot
                || kind == MachineKind::Q35 && model == ControllerModel::PciRoot
            {
                return Err(invalid(
                    "/domain/devices/controller[@type='pci']",
                    format!("'{model}' does not fit this machine type"),
                ));
            }
            alloc.buses.push(Bus { index: c.index.unwrap_or(0), model, used: [0; 32] });
        }
        // Slot 0 of the roots is the host bridge.
        if let Some(b) = alloc.bus_mut(0) {
            b.used[0] = 0xff;
        }
        // Explicit addresses.
        for_each_addr(devs, |a, what| match is_pci(a) {
            Some(a) => alloc.mark(a, what),
            None => Ok(()),
        })?;
        // Fixed chipset slots.
        match kind {
            MachineKind::Pc => {
                if let Some(b) = alloc.bus_mut(0) {
                    b.used[1] |= 0b1011; // ISA bridge, IDE, ACPI/PM (USB at .2 below)
                }
            }
            MachineKind::Q35 => {
                if let Some(b) = alloc.bus_mut(0) {
                    b.used[0x1f] |= 0b1011; // LPC, SATA (below), SMBus
                }
            }
            MachineKind::Microvm => {}
        }
        for c in devs.controllers.iter_mut() {
            if !needs(&c.info.address) {
                continue;
            }
            let fixed = match (kind, c.kind, c.index, c.model) {
                (MachineKind::Pc, ControllerType::Ide, Some(0), _) => Some((1, 1)),
                (MachineKind::Pc, ControllerType::Usb, Some(0), Some(ControllerModel::Piix3Uhci)) => Some((1, 2)),
                (MachineKind::Q35, ControllerType::Sata, Some(0), _) => Some((0x1f, 2)),
                _ => None,
            };
            if let Some((slot, func)) = fixed {
                if kind == MachineKind::Pc && c.kind == ControllerType::Ide || kind == MachineKind::Q35 {
                    // Built into the chipset: the address is informative only.
                    c.info.address = Some(pci_addr(0, slot, func));
                    if let Some(b) = alloc.bus_mut(0) {
                        b.used[slot as usize] |= 1 << func;
                    }
                } else if let Some(a) = alloc.take_fixed(0, slot, func) {
                    c.info.address = Some(a);
                }
            }
        }
        if kind == MachineKind::Pc {
            // PIIX IDE is not shown in libvirt's XML with an address; keep it unaddressed.
            for c in devs.controllers.iter_mut() {
                if c.kind == ControllerType::Ide && c.index == Some(0) {
                    c.info.address = None;
                }
            }
        }
        // Primary video: slot 2 on pc, slot 1 on q35 (pcie.0 directly).
        if let Some(v) = devs.videos.first_mut() {
            if video_is_pci(v) && needs(&v.address) {
                let slot = if kind == MachineKind::Q35 { 1 } else { 2 };
                if let Some(a) = alloc.take_fixed(0, slot, 0) {
                    v.address = Some(a);
                }
            }
        }
        // ich9 HDA sits at 0x1b on q35.
        if kind == MachineKind::Q35 {
            for s in devs.sounds.iter_mut().filter(|s| s.model == SoundModel::Ich9) {
                if needs(&s.address) {
                    s.address =
                        Some(alloc.take_fixed(0, 0x1b, 0).ok_or_else(|| {
                            CommandError::AddressAssignment("slot 0x1b for ich9 sound is taken".into())
                        })?);
                }
            }
        }
        // USB EHCI + UHCI companion groups share one slot.
        let groups: Vec<u32> = devs
            .controllers
            .iter()
            .filter(|c| {
                c.kind == ControllerType::Usb && c.model == Some(ControllerModel::Ich9Ehci1) && needs(&c.info.address)
            })
            .filter_map(|c| c.index)
            .collect();
        for idx in groups {
            let slot = if kind == MachineKind::Q35 && idx == 0 && alloc.bus_mut(0).is_some_and(|b| b.used[0x1d] == 0) {
                Some((0, 0x1d))
            } else {
                let c = if kind == MachineKind::Q35 { Conn::Pci } else { Conn::Pcie };
                ensure_capacity(devs, &mut alloc, kind, &[(c, "usb")])?;
                let a = alloc.take(c, "USB controller")?;
                Some((a.bus.map_or(0, |h| h.0), a.slot.map_or(0, |h| h.0)))
            };
            let Some((bus, slot)) = slot else { continue };
            for c in devs.controllers.iter_mut().filter(|c| c.kind == ControllerType::Usb && c.index == Some(idx)) {
                let func = match c.model {
                    Some(ControllerModel::Ich9Ehci1) => 7,
                    Some(ControllerModel::Ich9Uhci1) => 0,
                    Some(ControllerModel::Ich9Uhci2) => 1,
                    Some(ControllerModel::Ich9Uhci3) => 2,
                    _ => continue,
                };
                if needs(&c.info.address) {
                    let mut a = pci_addr(bus, slot, func);
                    if func == 0 {
                        a.multifunction = Some(OnOff::On);
                    }
                    if let Some(b) = alloc.bus_mut(bus) {
                        b.used[slot as usize] |= 1 << func;
                    }
                    c.info.address = Some(a);
                }
            }
        }
        // Grow the topology so every remaining device has a slot, then hand them out.
        let want = wanted(devs, kind);
        ensure_capacity(devs, &mut alloc, kind, &want)?;
        place_new_controllers(devs, &mut alloc, kind)?;
        let mut queue = want.into_iter();
        let mut next = |what: &str| -> Result<Address, CommandError> {
            let (conn, _) = queue
                .next()
                .ok_or_else(|| CommandError::AddressAssignment(format!("internal: no slot planned for {what}")))?;
            alloc.take(conn, what)
        };
        for n in devs.interfaces.iter_mut() {
            if needs(&n.address) {
                n.address = Some(next("interface")?);
            }
        }
        for s in devs.sounds.iter_mut() {
            if needs(&s.address) && sound_is_pci(s) && !(kind == MachineKind::Q35 && s.model == SoundModel::Ich9) {
                s.address = Some(next("sound")?);
            }
        }
        for c in devs.controllers.iter_mut() {
            if ctrl_conn(c).is_some() && needs(&c.info.address) && !special_ctrl(c, kind) && !is_companion(c) {
                c.info.address = Some(next("controller")?);
            }
        }
        for d in devs.disks.iter_mut() {
            if d.target.bus == Some(DiskBus::Virtio) && needs(&d.info.address) {
                d.info.address = Some(next("disk")?);
            }
        }
        if let Some(b) = devs.memballoon.as_mut() {
            if balloon_is_pci(b) && needs(&b.address) {
                b.address = Some(next("memballoon")?);
            }
        }
        for r in devs.rngs.iter_mut() {
            if needs(&r.address) {
                r.address = Some(next("rng")?);
            }
        }
        for w in devs.watchdogs.iter_mut() {
            if w.model == WatchdogModel::I6300esb && needs(&w.address) {
                w.address = Some(next("watchdog")?);
            }
        }
        for (i, vd) in devs.videos.iter_mut().enumerate() {
            if i > 0 && video_is_pci(vd) && needs(&vd.address) {
                vd.address = Some(next("video")?);
            }
        }
        for i in devs.inputs.iter_mut() {
            if i.bus == Some(InputBus::Virtio) && needs(&i.address) {
                i.address = Some(next("input")?);
            }
        }
        for s in devs.serials.iter_mut() {
            if s.target.as_ref().and_then(|t| t.kind) == Some(ChrTargetType::PciSerial) && needs(&s.address) {
                s.address = Some(next("serial")?);
            }
        }
        Ok(())
    }

    /// Adds root ports / bridges (unaddressed, placed by [`place_new_controllers`]) until
    /// every wanted connection has a slot.
    fn ensure_capacity(
        devs: &mut Devices,
        alloc: &mut Alloc,
        kind: MachineKind,
        want: &[(Conn, &str)],
    ) -> Result<(), CommandError> {
        let free = |alloc: &Alloc, pred: &dyn Fn(&Bus) -> bool| -> usize {
            alloc.buses.iter().filter(|b| pred(b)).map(|b| b.slots().filter(|s| b.used[*s as usize] == 0).count()).sum()
        };
        let next_index = |devs: &Devices| {
            devs.controllers
                .iter()
                .filter(|c| c.kind == ControllerType::Pci)
                .filter_map(|c| c.index)
                .max()
                .map_or(0, |m| m + 1)
        };
        let n_pci = want.iter().filter(|(c, _)| *c == Conn::Pci).count();
        let n_pcie = want.len() - n_pci;
        match kind {
            MachineKind::Pc => {
                let mut have = free(alloc, &|b| b.accepts(Conn::Pci, kind));
                while have < want.len() {
                    // A pci-bridge takes one slot and offers 31.
                    let idx = next_index(devs);
                    devs.controllers.push(new_ctrl(idx, ControllerModel::PciBridge));
                    alloc.buses.push(Bus { index: idx, model: ControllerModel::PciBridge, used: [0; 32] });
                    have += 30;
                }
            }
            MachineKind::Q35 => {
                let mut ports_needed = n_pcie;
                let conv_free = free(alloc, &|b| b.accepts(Conn::Pci, kind));
                let mut bridges = 0;
                if n_pci > conv_free {
                    bridges = (n_pci - conv_free).div_ceil(31);
                    ports_needed += bridges;
                }
                let ports_free = free(alloc, &|b| b.accepts(Conn::Pcie, kind));
                if ports_needed > ports_free {
                    // One spare root port for hotplug, as libvirt adds.
                    let add = ports_needed - ports_free + 1;
                    for _ in 0..add {
                        let idx = next_index(devs);
                        devs.controllers.push(new_ctrl(idx, ControllerModel::PcieRootPort));
                        alloc.buses.push(Bus { index: idx, model: ControllerModel::PcieRootPort, used: [0; 32] });
                    }
                }
                for _ in 0..bridges {
                    let idx = next_index(devs);
                    devs.controllers.push(new_ctrl(idx, ControllerModel::PcieToPciBridge));
                    alloc.buses.push(Bus { index: idx, model: ControllerModel::PcieToPciBridge, used: [0; 32] });
                }
            }
            MachineKind::Microvm => {}
        }
        place_new_controllers(devs, alloc, kind)
    }

    /// Addresses PCI controllers that have none: root ports packed as functions of pcie.0
    /// slots, bridges into a root port (q35) or a slot of pci.0 (pc).
    fn place_new_controllers(devs: &mut Devices, alloc: &mut Alloc, kind: MachineKind) -> Result<(), CommandError> {
        let mut last_port: Option<(u32, u32)> = None;
        let mut multi_slots: Vec<u32> = Vec::new();
        for c in devs.controllers.iter_mut().filter(|c| c.kind == ControllerType::Pci) {
            if !needs(&c.info.address) {
                continue;
            }
            let Some(model) = c.model else { continue };
            let a = match model {
                ControllerModel::PciRoot | ControllerModel::PcieRoot => continue,
                ControllerModel::PcieRootPort => {
                    let packed = last_port.and_then(|(s, f)| if f < 7 { alloc.take_fixed(0, s, f + 1) } else { None });
                    let a = match packed {
                        Some(a) => {
                            if let Some((s, _)) = last_port {
                                multi_slots.push(s);
                            }
                            a
                        }
                        None => {
                            let b =
                                alloc.bus_mut(0).ok_or_else(|| CommandError::AddressAssignment("no pcie.0".into()))?;
                            let s = b.free_slot().ok_or_else(|| {
                                CommandError::AddressAssignment("pcie.0 has no free slot for a root port".into())
                            })?;
                            b.used[s as usize] |= 1;
                            pci_addr(0, s, 0)
                        }
                    };
                    last_port = Some((a.slot.map_or(0, |h| h.0), a.function.map_or(0, |h| h.0)));
                    a
                }
                ControllerModel::PcieToPciBridge => alloc.take(Conn::Pcie, "pcie-to-pci-bridge")?,
                ControllerModel::DmiToPciBridge => {
                    alloc.take_fixed(0, 0x1e, 0).map_or_else(|| alloc.take(Conn::Pci, "dmi-to-pci-bridge"), Ok)?
                }
                ControllerModel::PciBridge if kind == MachineKind::Pc => alloc.take(Conn::Pci, "pci-bridge")?,
                ControllerModel::PciBridge => {
                    let idx = alloc
                        .buses
                        .iter()
                        .find(|b| b.model == ControllerModel::DmiToPciBridge && b.free_slot().is_some())
                        .map(|b| b.index);
                    match idx.and_then(|i| {
                        let s = alloc.bus_mut(i)?.free_slot()?;
                        alloc.take_fixed(i, s, 0)
                    }) {
                        Some(a) => a,
                        None => alloc.take(Conn::Pci, "pci-bridge")?,
                    }
                }
                other => {
                    return Err(unsupported(
                        "/domain/devices/controller[@type='pci']",
                        format!("automatic placement of a '{other}' controller (give it an <address>)"),
                    ))
                }
            };
            c.info.address = Some(a);
        }
        for c in devs.controllers.iter_mut().filter(|c| c.kind == ControllerType::Pci) {
            if c.model == Some(ControllerModel::PcieRootPort) {
                if let Some(a) = c.info.address.as_mut() {
                    let (slot, func) = (a.slot.map_or(0, |h| h.0), a.function.map_or(0, |h| h.0));
                    if func == 0 && a.bus.map_or(0, |h| h.0) == 0 && multi_slots.contains(&slot) {
                        a.multifunction = Some(OnOff::On);
                    }
                    let t = c.target.get_or_insert_with(ControllerTarget::default);
                    if t.chassis.is_none() {
                        t.chassis = c.index.and_then(|i| u8::try_from(i).ok());
                    }
                    if t.port.is_none() {
                        t.port = Some(Hex((slot << 3) | func));
                    }
                }
            }
            if c.model == Some(ControllerModel::PciBridge) {
                let t = c.target.get_or_insert_with(ControllerTarget::default);
                if t.chassis_nr.is_none() {
                    t.chassis_nr = c.index.and_then(|i| u8::try_from(i).ok());
                }
            }
        }
        Ok(())
    }

    /// Calls `f` with every device address (for marking explicit ones as used).
    fn for_each_addr(
        devs: &Devices,
        mut f: impl FnMut(&Option<Address>, &str) -> Result<(), CommandError>,
    ) -> Result<(), CommandError> {
        for d in &devs.disks {
            f(&d.info.address, "/domain/devices/disk/address")?;
        }
        for c in &devs.controllers {
            f(&c.info.address, "/domain/devices/controller/address")?;
        }
        for n in &devs.interfaces {
            f(&n.address, "/domain/devices/interface/address")?;
        }
        for c in devs.serials.iter().chain(&devs.parallels).chain(&devs.channels).chain(&devs.consoles) {
            f(&c.address, "/domain/devices/serial/address")?;
        }
        for i in &devs.inputs {
            f(&i.address, "/domain/devices/input/address")?;
        }
        for s in &devs.sounds {
            f(&s.address, "/domain/devices/sound/address")?;
        }
        for v in &devs.videos {
            f(&v.address, "/domain/devices/video/address")?;
        }
        for w in &devs.watchdogs {
            f(&w.address, "/domain/devices/watchdog/address")?;
        }
        if let Some(b) = &devs.memballoon {
            f(&b.address, "/domain/devices/memballoon/address")?;
        }
        for r in &devs.rngs {
            f(&r.address, "/domain/devices/rng/address")?;
        }
        for p in &devs.panics {
            f(&p.address, "/domain/devices/panic/address")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_names() {
        assert_eq!(disk_index("hda"), Some(0));
        assert_eq!(disk_index("sdb"), Some(1));
        assert_eq!(disk_index("vdz"), Some(25));
        assert_eq!(disk_index("vdaa"), Some(26));
        assert_eq!(disk_index("vdab"), Some(27));
        assert_eq!(disk_index("xvda"), Some(0));
        assert_eq!(disk_index("vd"), None);
        assert_eq!(disk_index("nvme0"), None);
    }
}
