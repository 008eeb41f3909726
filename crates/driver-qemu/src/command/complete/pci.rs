//! PCI slot allocation: libvirt's placement rules, simplified to the buses we create.

use oxvirt_xml::domain::*;
use oxvirt_xml::{Hex, OnOff};

use super::super::machine::MachineKind;
use super::devices::transitional;
use super::{invalid, unsupported, CommandError};

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
                c == Conn::Pci || kind == MachineKind::I440fx
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

fn is_pci(a: Option<&Address>) -> Option<&Address> {
    a.filter(|a| a.kind == Some(AddressType::Pci) && a.slot.is_some())
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
        let (bus, slot, func) = (a.bus.map_or(0, |h| h.0), a.slot.map_or(0, |h| h.0), a.function.map_or(0, |h| h.0));
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
        if w.model == WatchdogModel::I6300esb && needs(&w.info.address) {
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

pub(super) fn sound_is_pci(s: &Sound) -> bool {
    matches!(s.model, SoundModel::Ich6 | SoundModel::Ich7 | SoundModel::Ich9 | SoundModel::Ac97 | SoundModel::Es1370)
}

pub(super) fn balloon_is_pci(b: &Memballoon) -> bool {
    matches!(
        b.model,
        MemballoonModel::Virtio | MemballoonModel::VirtioTransitional | MemballoonModel::VirtioNonTransitional
    )
}

pub(super) fn video_is_pci(v: &Video) -> bool {
    !matches!(v.model.as_ref().map(|m| m.kind), Some(VideoType::None | VideoType::Ramfb))
}

fn is_companion(c: &Controller) -> bool {
    matches!(c.model, Some(ControllerModel::Ich9Uhci1 | ControllerModel::Ich9Uhci2 | ControllerModel::Ich9Uhci3))
}

/// Controllers with a fixed place: PIIX3 IDE/USB on pc, ICH9 SATA/USB on q35.
fn special_ctrl(c: &Controller, kind: MachineKind) -> bool {
    match (kind, c.kind, c.index) {
        (MachineKind::I440fx, ControllerType::Ide, Some(0)) => true,
        (MachineKind::I440fx, ControllerType::Usb, Some(0)) => c.model == Some(ControllerModel::Piix3Uhci),
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

pub(super) fn assign(devs: &mut Devices, kind: MachineKind) -> Result<(), CommandError> {
    // Buses from the PCI controllers.
    let mut alloc = Alloc { kind, buses: Vec::new() };
    let mut pci_ctrls: Vec<&Controller> = devs.controllers.iter().filter(|c| c.kind == ControllerType::Pci).collect();
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
        if kind == MachineKind::I440fx && model == ControllerModel::PcieRoot
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
        MachineKind::I440fx => {
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
            (MachineKind::I440fx, ControllerType::Ide, Some(0), _) => Some((1, 1)),
            (MachineKind::I440fx, ControllerType::Usb, Some(0), Some(ControllerModel::Piix3Uhci)) => Some((1, 2)),
            (MachineKind::Q35, ControllerType::Sata, Some(0), _) => Some((0x1f, 2)),
            _ => None,
        };
        if let Some((slot, func)) = fixed {
            if kind == MachineKind::I440fx && c.kind == ControllerType::Ide || kind == MachineKind::Q35 {
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
    if kind == MachineKind::I440fx {
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
                s.address = Some(
                    alloc
                        .take_fixed(0, 0x1b, 0)
                        .ok_or_else(|| CommandError::AddressAssignment("slot 0x1b for ich9 sound is taken".into()))?,
                );
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
        if w.model == WatchdogModel::I6300esb && needs(&w.info.address) {
            w.info.address = Some(next("watchdog")?);
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
        MachineKind::I440fx => {
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
                        let b = alloc.bus_mut(0).ok_or_else(|| CommandError::AddressAssignment("no pcie.0".into()))?;
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
            ControllerModel::PciBridge if kind == MachineKind::I440fx => alloc.take(Conn::Pci, "pci-bridge")?,
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

/// Calls `f` with every device address (for marking explicit ones as used), through the device
/// visitor. Only the kinds QEMU places here are seen; every character device is named `serial`.
fn for_each_addr(
    devs: &Devices,
    mut f: impl FnMut(Option<&Address>, &str) -> Result<(), CommandError>,
) -> Result<(), CommandError> {
    let mut res = Ok(());
    devs.visit_info(|p, info| {
        let what = match p.kind {
            DeviceKind::Disk => "/domain/devices/disk/address",
            DeviceKind::Controller => "/domain/devices/controller/address",
            DeviceKind::Interface => "/domain/devices/interface/address",
            DeviceKind::Serial | DeviceKind::Parallel | DeviceKind::Channel | DeviceKind::Console => {
                "/domain/devices/serial/address"
            }
            DeviceKind::Input => "/domain/devices/input/address",
            DeviceKind::Sound => "/domain/devices/sound/address",
            DeviceKind::Video => "/domain/devices/video/address",
            DeviceKind::Watchdog => "/domain/devices/watchdog/address",
            DeviceKind::Memballoon => "/domain/devices/memballoon/address",
            DeviceKind::Rng => "/domain/devices/rng/address",
            DeviceKind::Panic => "/domain/devices/panic/address",
            _ => return,
        };
        if res.is_ok() {
            res = f(info.address, what);
        }
    });
    res
}
