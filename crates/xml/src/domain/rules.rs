//! Rules across a domain's elements that libvirt's generic domain parser enforces for every
//! driver when a definition is parsed or validated: device addresses, duplicate devices,
//! character device sources, resource control groups, firmware. What QEMU's machine types allow
//! is in [`super::qemu_rules`].
//!
//! Each error names the element (by path) and the attribute involved; its [`RuleClass`] is
//! libvirt's error code for the same refusal.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::{RuleClass, XmlError, YesNo};

pub(super) type Res = Result<(), XmlError>;

pub(super) fn unsupported(path: impl Into<String>, msg: impl Into<String>) -> XmlError {
    XmlError::unsupported(path, msg)
}

/// `/domain/devices/kind[n]` (1-based, the index left out when there is one device).
pub(super) fn nth(kind: &str, i: usize, n: usize) -> String {
    if n > 1 {
        format!("/domain/devices/{kind}[{}]", i + 1)
    } else {
        format!("/domain/devices/{kind}")
    }
}

/// One device's placement, for the checks that span device kinds.
pub(super) struct Placed<'a> {
    pub(super) path: String,
    pub(super) address: Option<&'a Address>,
    boot: Option<&'a BootOrder>,
    /// A USB device (its address, when given, is on a USB bus).
    usb: bool,
}

impl Devices {
    /// Every device with its element path, address and boot order, through the device visitor.
    pub(super) fn placed<'a>(&'a self) -> Vec<Placed<'a>> {
        let mut out: Vec<Placed<'a>> = Vec::new();
        self.visit_info(|p, info| {
            let chr_target = |list: &[Chardev]| list[p.index].target.as_ref().and_then(|t| t.kind);
            let usb = match p.kind {
                DeviceKind::Disk => self.disks[p.index].target.bus == Some(DiskBus::Usb),
                DeviceKind::Interface => {
                    self.interfaces[p.index].model.as_ref().is_some_and(|m| m.kind.as_str() == "usb-net")
                }
                DeviceKind::Smartcard | DeviceKind::Redirdev | DeviceKind::Hub => true,
                DeviceKind::Serial => chr_target(&self.serials) == Some(ChrTargetType::UsbSerial),
                DeviceKind::Parallel => chr_target(&self.parallels) == Some(ChrTargetType::UsbSerial),
                DeviceKind::Channel => chr_target(&self.channels) == Some(ChrTargetType::UsbSerial),
                DeviceKind::Console => match chr_target(&self.consoles) {
                    // A serial-type console is the first <serial> again, not a device of its own.
                    None | Some(ChrTargetType::Serial) => return,
                    t => t == Some(ChrTargetType::UsbSerial),
                },
                DeviceKind::Input => self.inputs[p.index].bus == Some(InputBus::Usb),
                DeviceKind::Sound => self.sounds[p.index].model == SoundModel::Usb,
                DeviceKind::Hostdev => self.hostdevs[p.index].kind == HostdevType::Usb,
                _ => false,
            };
            // Only these kinds take part in boot ordering here (libvirt's bootable devices).
            let boot = match p.kind {
                DeviceKind::Disk
                | DeviceKind::Filesystem
                | DeviceKind::Interface
                | DeviceKind::Hostdev
                | DeviceKind::Redirdev => info.boot,
                _ => None,
            };
            out.push(Placed { path: p.path(), address: info.address, boot, usb });
        });
        out
    }
}

impl Domain {
    /// Rules every driver applies (libvirt's domain parser, post-parse and validation).
    pub(crate) fn check_rules(&self) -> Res {
        self.check_resctrl()?;
        self.check_firmware()?;
        self.check_numa_refs()?;
        let Some(d) = &self.devices else { return Ok(()) };
        let placed = d.placed();
        self.check_boot(&placed)?;
        check_pci_addresses(&placed)?;
        check_controllers(d)?;
        check_usb(d, &placed)?;
        check_chardevs(d)?;
        check_graphics(d)?;
        check_hostdevs(d)?;
        check_videos(d)?;
        for (i, s) in d.shmems.iter().enumerate() {
            if s.msi.is_some() && s.server.is_none() {
                return Err(XmlError::invalid(
                    format!("{}/msi", nth("shmem", i, d.shmems.len())),
                    "<msi> needs a <server> (interrupts come from the doorbell server)",
                ));
            }
        }
        Ok(())
    }

    /// `<os><boot dev>` and per-device `<boot order>` are two ways to say the same thing.
    fn check_boot(&self, placed: &[Placed<'_>]) -> Res {
        if self.os.boot.is_empty() {
            return Ok(());
        }
        match placed.iter().find(|p| p.boot.is_some()) {
            Some(p) => Err(unsupported(
                format!("{}/boot", p.path),
                "per-device <boot order> cannot be combined with <os><boot dev>: use one or the other",
            )),
            None => Ok(()),
        }
    }

    /// `<cachetune>` and `<memorytune>`: allocations must not collide.
    fn check_resctrl(&self) -> Res {
        let Some(ct) = &self.cputune else { return Ok(()) };
        let set = |s: &str, path: &str| parse_cpuset(s).map_err(|r| XmlError::invalid(path, format!("'vcpus': {r}")));
        let mut cache_sets: Vec<Vec<u32>> = Vec::new();
        for (i, c) in ct.cachetunes.iter().enumerate() {
            let path = format!("/domain/cputune/cachetune[{}]", i + 1);
            let vcpus = set(&c.vcpus, &path)?;
            if cache_sets.iter().any(|p| p.iter().any(|v| vcpus.contains(v))) {
                return Err(XmlError::invalid(
                    &path,
                    format!("<cachetune vcpus='{}'> overlaps another <cachetune>", c.vcpus),
                ));
            }
            let mut seen: Vec<(u32, u32, CacheType)> = Vec::new();
            for a in &c.caches {
                let clash = seen.iter().any(|&(id, level, kind)| {
                    id == a.id
                        && level == a.level
                        && (kind == a.kind || kind == CacheType::Both || a.kind == CacheType::Both)
                });
                if clash {
                    return Err(XmlError::invalid(
                        format!("{path}/cache"),
                        format!("<cache id='{}' level='{}' type='{}'> collides with another <cache> of the same id and level", a.id, a.level, a.kind),
                    ));
                }
                seen.push((a.id, a.level, a.kind));
            }
            for m in &c.monitors {
                let mon = set(&m.vcpus, &format!("{path}/monitor"))?;
                if mon.iter().any(|v| !vcpus.contains(v)) {
                    return Err(XmlError::invalid(
                        format!("{path}/monitor"),
                        format!("<monitor vcpus='{}'> must be within its <cachetune vcpus='{}'>", m.vcpus, c.vcpus),
                    ));
                }
            }
            cache_sets.push(vcpus);
        }
        let mut mem_sets: Vec<Vec<u32>> = Vec::new();
        for (i, m) in ct.memorytunes.iter().enumerate() {
            let path = format!("/domain/cputune/memorytune[{}]", i + 1);
            let vcpus = set(&m.vcpus, &path)?;
            let overlaps = |s: &Vec<u32>| s.iter().any(|v| vcpus.contains(v));
            if mem_sets.iter().any(overlaps) {
                return Err(XmlError::invalid(
                    &path,
                    format!("<memorytune vcpus='{}'> overlaps another <memorytune>", m.vcpus),
                ));
            }
            if cache_sets.iter().any(|s| overlaps(s) && *s != vcpus) {
                return Err(XmlError::invalid(
                    &path,
                    format!("<memorytune vcpus='{}'> partly overlaps a <cachetune>: the vCPU sets must be equal or disjoint", m.vcpus),
                ));
            }
            let mut ids = BTreeSet::new();
            for n in &m.nodes {
                if !ids.insert(n.id) {
                    return Err(XmlError::invalid(
                        format!("{path}/node"),
                        format!("<node id='{}'> is given more than once", n.id),
                    ));
                }
            }
            mem_sets.push(vcpus);
        }
        let ids: Vec<u32> = match &self.iothreadids {
            Some(t) if !t.iothreads.is_empty() => t.iothreads.iter().map(|t| t.id).collect(),
            _ => (1..=self.iothreads.unwrap_or(0)).collect(),
        };
        for s in &ct.iothreadscheds {
            let Some(text) = &s.iothreads else { continue };
            let path = "/domain/cputune/iothreadsched";
            let set = parse_cpuset(text).map_err(|r| XmlError::invalid(path, format!("'iothreads': {r}")))?;
            if let Some(bad) = set.iter().find(|t| !ids.contains(t)) {
                return Err(XmlError::invalid(
                    path,
                    format!("<iothreadsched iothreads='{text}'>: IOThread {bad} does not exist"),
                ));
            }
        }
        Ok(())
    }

    /// `<os firmware>`, `<loader>` and `<nvram>` combinations.
    fn check_firmware(&self) -> Res {
        let os = &self.os;
        let loader = os.loader.as_ref();
        let nvram = os.nvram.as_ref();
        let stateless = loader.and_then(|l| l.stateless);
        let err = |p: &str, m: String| Err(XmlError::invalid(format!("/domain/os/{p}"), m));
        if let Some(fw) = os.firmware {
            // The QEMU driver fills <loader> and <nvram> of an autoselected firmware at define
            // time (as libvirt does from 9.2), so a path, type or template are accepted here.
            if loader.is_some_and(|l| l.secure == Some(YesNo::No)) {
                return err("loader", "attribute 'secure' cannot be given with firmware autoselection; use <firmware><feature name='secure-boot'>".into());
            }
            if nvram.is_some() && fw != FirmwareType::Efi {
                return err("nvram", format!("firmware '{fw}' has no NVRAM; <nvram> needs firmware='efi'"));
            }
        } else {
            if os.firmware_features.is_some() {
                return err(
                    "firmware",
                    "<firmware> features select a firmware automatically and need <os firmware=...>".into(),
                );
            }
            if let Some(l) = loader {
                if l.path.as_deref().is_none_or(|p| p.trim().is_empty()) {
                    return err(
                        "loader",
                        "<loader> needs a path when the firmware is not selected automatically (<os firmware=...>)"
                            .into(),
                    );
                }
            }
        }
        match stateless {
            Some(YesNo::Yes) => {
                if nvram.is_some_and(|n| n.template.is_some()) {
                    return err("nvram", "attribute 'template' is not allowed with <loader stateless='yes'>".into());
                }
                if nvram.is_some() {
                    return err("nvram", "<nvram> is not allowed with <loader stateless='yes'>".into());
                }
            }
            Some(YesNo::No) => match os.firmware {
                None if loader.and_then(|l| l.kind) != Some(LoaderType::Pflash) => {
                    return err("loader", "<loader stateless='no'> (NVRAM) needs type='pflash'".into());
                }
                Some(fw) if fw != FirmwareType::Efi => {
                    return err("loader", format!("<loader stateless='no'> (NVRAM) needs EFI firmware, not '{fw}'"));
                }
                _ => {}
            },
            None => {}
        }
        Ok(())
    }

    /// References to guest NUMA nodes: hugepages, memory devices, PCI expander buses, numatune.
    fn check_numa_refs(&self) -> Res {
        let ncells = self.numa_cells().len();
        let nodes = ncells.max(1) as u32;
        if let Some(hp) = self.memory_backing.as_ref().and_then(|m| m.hugepages.as_ref()) {
            let mut default: Option<u64> = None;
            for p in &hp.pages {
                let set = match &p.nodeset {
                    Some(s) => Some(parse_cpuset(s).map_err(|r| {
                        XmlError::invalid("/domain/memoryBacking/hugepages/page", format!("'nodeset': {r}"))
                    })?),
                    None => None,
                };
                if let Some(n) = set.as_ref().and_then(|s| s.iter().find(|&&n| n >= nodes)) {
                    return Err(XmlError::invalid(
                        "/domain/memoryBacking/hugepages/page",
                        format!("<page nodeset=...> names guest NUMA node {n}, which does not exist"),
                    ));
                }
                // Without guest NUMA, node 0 is the whole guest: such a page is a default too.
                let is_default = match &set {
                    None => true,
                    Some(s) => ncells == 0 && s.as_slice() == [0],
                };
                if is_default {
                    if let Some(prev) = default {
                        return Err(XmlError::invalid(
                            "/domain/memoryBacking/hugepages/page",
                            format!(
                                "two default huge page sizes ({prev} KiB and {} KiB): give all but one a 'nodeset'",
                                p.size.0
                            ),
                        ));
                    }
                    default = Some(p.size.0);
                }
            }
        }
        if let Some(m) = self.numatune.as_ref().and_then(|n| n.memory.as_ref()) {
            if let Some(ns) = &m.nodeset {
                let set = parse_cpuset(ns)
                    .map_err(|r| XmlError::invalid("/domain/numatune/memory", format!("'nodeset': {r}")))?;
                if set.is_empty() {
                    return Err(unsupported(
                        "/domain/numatune/memory",
                        format!("'nodeset' '{ns}' selects no host node"),
                    ));
                }
            }
        }
        let Some(d) = &self.devices else { return Ok(()) };
        for (i, m) in d.memories.iter().enumerate() {
            if let Some(n) = m.target.node {
                if n as usize >= ncells && !(ncells == 0 && n == 0) {
                    return Err(XmlError::invalid(
                        format!("{}/target/node", nth("memory", i, d.memories.len())),
                        format!("<node>{n}</node> is not a guest NUMA node (the guest has {ncells})"),
                    ));
                }
            }
        }
        for (i, c) in d.controllers.iter().enumerate() {
            if let Some(n) = c.target.as_ref().and_then(|t| t.node) {
                if n as usize >= ncells {
                    return Err(XmlError::invalid(
                        format!("{}/target/node", nth("controller", i, d.controllers.len())),
                        format!("<node>{n}</node> is not a guest NUMA node (the guest has {ncells})"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// PCI address ranges, and the same address used twice.
fn check_pci_addresses(placed: &[Placed<'_>]) -> Res {
    let mut used: BTreeMap<(u32, u32, u32, u32), &str> = BTreeMap::new();
    for p in placed {
        let Some(a) = p.address.filter(|a| a.kind == Some(AddressType::Pci)) else { continue };
        let path = format!("{}/address", p.path);
        let v = |h: Option<crate::Hex<2>>| h.map_or(0, |h| h.0);
        if let Some(d) = a.domain.filter(|d| d.0 > 0xffff) {
            return Err(XmlError::invalid(path, format!("PCI domain 0x{:x} is out of range (at most 0xffff)", d.0)));
        }
        if v(a.bus) > 0xff {
            return Err(XmlError::invalid(path, format!("PCI bus 0x{:x} is out of range (at most 0xff)", v(a.bus))));
        }
        if v(a.slot) > 0x1f {
            return Err(XmlError::invalid(path, format!("PCI slot 0x{:x} is out of range (at most 0x1f)", v(a.slot))));
        }
        if let Some(f) = a.function.filter(|f| f.0 > 7) {
            return Err(XmlError::invalid(path, format!("PCI function 0x{:x} is out of range (at most 7)", f.0)));
        }
        if a.slot.is_none() {
            continue;
        }
        let key = (a.domain.map_or(0, |d| d.0), v(a.bus), v(a.slot), a.function.map_or(0, |f| f.0));
        if let Some(other) = used.insert(key, &p.path) {
            return Err(XmlError::invalid(
                path,
                format!("PCI address {:04x}:{:02x}:{:02x}.{:x} is already used by {other}", key.0, key.1, key.2, key.3),
            ));
        }
    }
    Ok(())
}

fn check_controllers(d: &Devices) -> Res {
    let mut seen: BTreeSet<(String, u32)> = BTreeSet::new();
    for (i, c) in d.controllers.iter().enumerate() {
        let path = nth("controller", i, d.controllers.len());
        let Some(idx) = c.index else { continue };
        if c.kind != ControllerType::Usb && !seen.insert((c.kind.to_string(), idx)) {
            return Err(XmlError::invalid(path, format!("more than one '{}' controller with index '{idx}'", c.kind)));
        }
        if matches!(c.model, Some(ControllerModel::PciRoot | ControllerModel::PcieRoot)) {
            let m = c.model.map(|m| m.to_string()).unwrap_or_default();
            if c.info.address.is_some() {
                return Err(unsupported(
                    format!("{path}/address"),
                    format!("a '{m}' controller is the root bus and takes no <address>"),
                ));
            }
        }
    }
    Ok(())
}

/// USB: `model='none'` disables the bus; addresses name existing buses, hubs and free ports.
fn check_usb(d: &Devices, placed: &[Placed<'_>]) -> Res {
    let usb: Vec<(usize, &Controller)> =
        d.controllers.iter().enumerate().filter(|(_, c)| c.kind == ControllerType::Usb).collect();
    let none = usb.iter().find(|(_, c)| c.model == Some(ControllerModel::None));
    if let Some((ni, _)) = none {
        if let Some((i, _)) = usb.iter().find(|(i, _)| i != ni) {
            return Err(XmlError::invalid(
                nth("controller", *i, d.controllers.len()),
                "another USB controller cannot be added: a USB controller with model='none' disables USB",
            ));
        }
        if let Some(p) = placed.iter().find(|p| p.usb) {
            return Err(unsupported(
                &p.path,
                "this USB device needs a USB bus, but <controller type='usb' model='none'> disables USB",
            ));
        }
    }
    for (i, c) in &usb {
        let path = nth("controller", *i, d.controllers.len());
        if c.info.master.is_some() && !usb.iter().any(|(_, m)| m.index == c.index && m.info.master.is_none()) {
            return Err(XmlError::invalid(
                format!("{path}/master"),
                format!(
                    "companion USB controller index '{}' has no master USB controller with that index",
                    c.index.unwrap_or(0)
                ),
            ));
        }
        if let (Some(m @ (ControllerModel::NecXhci | ControllerModel::QemuXhci)), Some(p)) = (c.model, c.ports) {
            if p > 15 {
                return Err(unsupported(path, format!("a '{m}' controller has at most 15 ports, not {p}")));
            }
        }
    }
    // Hub ports: each hub has 8; a path a.b.c needs hubs at a and a.b.
    let mut taken: BTreeMap<(u32, String), &str> = BTreeMap::new();
    let hubs: BTreeSet<(u32, String)> = d
        .hubs
        .iter()
        .filter_map(|h| h.info.address.as_ref())
        .filter(|a| a.kind == Some(AddressType::Usb))
        .filter_map(|a| Some((a.bus.map_or(0, |b| b.0), a.port.clone()?)))
        .collect();
    for p in placed {
        let Some(a) = p.address.filter(|a| a.kind == Some(AddressType::Usb)) else { continue };
        let path = format!("{}/address", p.path);
        let bus = a.bus.map_or(0, |b| b.0);
        // Without any USB controller, drivers add USB bus 0 themselves.
        let implicit = usb.is_empty() && bus == 0;
        if !implicit && !usb.iter().any(|(_, c)| c.index.unwrap_or(0) == bus) {
            return Err(XmlError::invalid(path, format!("USB bus {bus} has no USB controller with index='{bus}'")));
        }
        let Some(port) = &a.port else { continue };
        let parts: Vec<&str> = port.split('.').collect();
        let nums: Option<Vec<u32>> = parts.iter().map(|s| s.parse::<u32>().ok().filter(|&n| n > 0)).collect();
        let Some(nums) = nums.filter(|n| n.len() <= 4) else {
            return Err(XmlError::invalid(
                path,
                format!("invalid USB port '{port}': expected up to 4 port numbers from 1 joined by '.'"),
            ));
        };
        for depth in 1..nums.len() {
            let hub = parts[..depth].join(".");
            if !hubs.contains(&(bus, hub.clone())) {
                return Err(XmlError::invalid(
                    path,
                    format!("USB port {port} on bus {bus} needs a <hub> at port {hub}, and there is none"),
                ));
            }
            if nums[depth] > 8 {
                return Err(XmlError::invalid(
                    path,
                    format!("USB port {port} on bus {bus} does not exist: a hub has ports 1 to 8"),
                ));
            }
        }
        if let Some(other) = taken.insert((bus, port.clone()), &p.path) {
            return Err(XmlError::invalid(path, format!("USB bus {bus} port {port} is already used by {other}")));
        }
    }
    Ok(())
}

/// Host-side sources of character devices (serial, channel, ..., smartcard, redirdev, rng).
fn check_chardevs(d: &Devices) -> Res {
    for (kind, list) in
        [("serial", &d.serials), ("parallel", &d.parallels), ("console", &d.consoles), ("channel", &d.channels)]
    {
        for (i, c) in list.iter().enumerate() {
            // A virtio/xen channel's unix socket path may be left for the driver to generate.
            let auto_path = kind == "channel"
                && matches!(c.target.as_ref().and_then(|t| t.kind), Some(ChrTargetType::Virtio | ChrTargetType::Xen));
            check_chr_source(&nth(kind, i, list.len()), c.kind.unwrap_or(ChrType::Pty), &c.source, auto_path)?;
        }
    }
    for (i, s) in d.smartcards.iter().enumerate() {
        if let (SmartcardMode::Passthrough, Some(t)) = (s.mode, s.kind) {
            check_chr_source(&nth("smartcard", i, d.smartcards.len()), t, &s.source, false)?;
        }
    }
    for (i, r) in d.redirdevs.iter().enumerate() {
        check_chr_source(&nth("redirdev", i, d.redirdevs.len()), r.kind, &r.source, false)?;
    }
    for (i, r) in d.rngs.iter().enumerate() {
        if let (RngBackendModel::Egd, Some(t)) = (r.backend.model, r.backend.kind) {
            check_chr_source(&format!("{}/backend", nth("rng", i, d.rngs.len())), t, &r.backend.source, false)?;
        }
    }
    Ok(())
}

fn check_chr_source(path: &str, kind: ChrType, src: &ChrSourceContent, auto_path: bool) -> Res {
    let spath = format!("{path}/source");
    let n = src.sources.len();
    if n > 1 && kind != ChrType::Udp {
        return Err(XmlError::invalid(spath, format!("a '{kind}' character device takes one <source>, not {n}")));
    }
    if n > 2 {
        return Err(XmlError::invalid(
            spath,
            format!("a 'udp' character device takes at most two <source> (bind and connect), not {n}"),
        ));
    }
    let first = src.sources.first();
    let internal = |m: String| Err(XmlError::rule(RuleClass::Internal, &spath, m));
    for s in &src.sources {
        if let Some(r) = &s.reconnect {
            if r.enabled == YesNo::Yes && r.timeout.is_none() {
                return Err(XmlError::invalid(
                    format!("{spath}/reconnect"),
                    "<reconnect enabled='yes'> needs a 'timeout'",
                ));
            }
        }
    }
    let reconnect_on = |s: &ChrSource| s.reconnect.as_ref().is_some_and(|r| r.enabled == YesNo::Yes);
    match kind {
        ChrType::File | ChrType::Dev | ChrType::Pipe if first.and_then(|s| s.path.as_ref()).is_none() => {
            return internal(format!("a '{kind}' character device needs <source path=...>"));
        }
        ChrType::Nmdm => {
            let s = first.cloned().unwrap_or_default();
            if s.master.is_some() != s.slave.is_some() {
                return internal("an 'nmdm' character device needs both 'master' and 'slave' or neither".into());
            }
        }
        ChrType::Tcp => {
            let s = first.cloned().unwrap_or_default();
            if s.host.is_none() {
                return internal("a 'tcp' character device needs <source host=...>".into());
            }
            if s.service.is_none() {
                return internal("a 'tcp' character device needs <source service=...> (the port)".into());
            }
            if s.mode == Some(ChrSourceMode::Bind) && reconnect_on(&s) {
                return internal("<reconnect> applies only to mode='connect' sources, not 'bind'".into());
            }
        }
        ChrType::Udp => {
            let connect =
                src.sources.iter().find(|s| s.mode.unwrap_or(ChrSourceMode::Connect) == ChrSourceMode::Connect);
            if connect.and_then(|s| s.service.as_ref()).is_none() {
                return internal(
                    "a 'udp' character device needs a mode='connect' <source> with 'service' (the port)".into(),
                );
            }
        }
        ChrType::Unix => {
            let s = first.cloned().unwrap_or_default();
            if s.path.is_none() && !auto_path {
                return internal("a 'unix' character device needs <source path=...>".into());
            }
            if s.mode == Some(ChrSourceMode::Bind) && reconnect_on(&s) {
                return internal("<reconnect> applies only to mode='connect' sources, not 'bind'".into());
            }
        }
        _ => {}
    }
    Ok(())
}

fn check_graphics(d: &Devices) -> Res {
    for (i, g) in d.graphics.iter().enumerate() {
        let path = nth("graphics", i, d.graphics.len());
        for (j, l) in g.listens.iter().enumerate() {
            let lpath = format!("{path}/listen");
            if j == 0 {
                if let (ListenType::Address, Some(compat), Some(addr)) = (l.kind, &g.listen, &l.address) {
                    if compat != addr {
                        return Err(unsupported(
                            lpath,
                            format!("<graphics listen='{compat}'> differs from its first <listen address='{addr}'>: they must match"),
                        ));
                    }
                }
                if let (ListenType::Socket, Some(compat), Some(sock)) = (l.kind, &g.socket, &l.socket) {
                    if compat != sock {
                        return Err(unsupported(
                            lpath,
                            format!("<graphics socket='{compat}'> differs from its first <listen socket='{sock}'>: they must match"),
                        ));
                    }
                }
            }
            if l.kind == ListenType::Network && l.network.as_deref().is_none_or(str::is_empty) {
                return Err(XmlError::invalid(lpath, "<listen type='network'> needs a 'network' attribute"));
            }
            if l.kind != ListenType::Network && l.network.as_deref().is_some_and(|n| !n.is_empty()) {
                return Err(XmlError::invalid(lpath, "attribute 'network' is only valid with <listen type='network'>"));
            }
            if l.kind != ListenType::Socket && l.socket.as_deref().is_some_and(|n| !n.is_empty()) {
                return Err(XmlError::invalid(lpath, "attribute 'socket' is only valid with <listen type='socket'>"));
            }
        }
    }
    Ok(())
}

/// A host device can be given to the guest once; mdev display options.
fn check_hostdevs(d: &Devices) -> Res {
    let n = d.hostdevs.len();
    let key = |h: &Hostdev| -> Option<String> {
        let s = &h.source;
        let a = s.address.as_ref();
        match h.kind {
            HostdevType::Pci => {
                let a = a?;
                Some(format!("pci {:?} {:?} {:?} {:?}", a.domain.unwrap_or(0), a.bus, a.slot, a.function))
            }
            HostdevType::Usb => match (a, &s.vendor, &s.product) {
                (Some(a), _, _) if a.device.is_some() => Some(format!("usb {:?} {:?}", a.bus, a.device)),
                (_, Some(v), Some(p)) => Some(format!("usb id {:x}:{:x}", v.id.0, p.id.0)),
                _ => None,
            },
            HostdevType::Scsi if s.protocol != Some(HostdevProtocol::Iscsi) => {
                let (ad, a) = (s.adapter.as_ref()?, a?);
                Some(format!("scsi {} {:?} {:?} {:?}", ad.name, a.bus, a.target, a.unit))
            }
            HostdevType::Scsi => Some(format!("iscsi {:?}", s.name)),
            HostdevType::ScsiHost => Some(format!("scsi_host {:?}", s.wwpn)),
            HostdevType::Mdev => Some(format!("mdev {:?}", a?.uuid)),
            _ => None,
        }
    };
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut ramfb = false;
    for (i, h) in d.hostdevs.iter().enumerate() {
        let path = nth("hostdev", i, n);
        if let Some(k) = key(h) {
            if let Some(j) = seen.insert(k, i) {
                return Err(XmlError::invalid(
                    format!("{path}/source"),
                    format!("this host device is already assigned by {}", nth("hostdev", j, n)),
                ));
            }
        }
        if h.kind == HostdevType::Mdev {
            if h.model == Some(HostdevModel::VfioPci) {
                if let Some(t) = h.info.address.as_ref().and_then(|a| a.kind).filter(|t| *t != AddressType::Pci) {
                    return Err(XmlError::invalid(
                        format!("{path}/address"),
                        format!("a 'vfio-pci' mediated device needs a PCI <address>, not type '{t}'"),
                    ));
                }
            }
            if h.display == Some(crate::OnOff::On) && d.graphics.is_empty() {
                return Err(unsupported(&path, "display='on' needs a <graphics> device to show the display on"));
            }
            if h.ramfb == Some(crate::OnOff::On) {
                if ramfb {
                    return Err(unsupported(&path, "only one mediated device can have ramfb='on'"));
                }
                ramfb = true;
            }
        }
    }
    Ok(())
}

fn check_videos(d: &Devices) -> Res {
    let n = d.videos.len();
    let kind = |v: &Video| v.model.as_ref().map(|m| m.kind);
    if n > 1 {
        if let Some(i) = d.videos.iter().position(|v| kind(v) == Some(VideoType::None)) {
            return Err(unsupported(
                format!("{}/model", nth("video", i, n)),
                "video model 'none' must be the only <video> device",
            ));
        }
        let primaries: Vec<usize> =
            (0..n).filter(|&i| d.videos[i].model.as_ref().and_then(|m| m.primary) == Some(YesNo::Yes)).collect();
        if primaries.len() > 1 {
            return Err(unsupported(
                format!("{}/model", nth("video", primaries[1], n)),
                "only one <video> can have primary='yes'",
            ));
        }
    }
    Ok(())
}

/// `sdb` -> 1, `hdaa` -> 26: the disk's index from its target name (libvirt's numbering; the one
/// copy, which the QEMU driver's drive addresses and aliases use too).
pub fn disk_index(dev: &str) -> Option<u32> {
    let letters = ["xvd", "ubd", "hd", "sd", "vd", "fd"].iter().find_map(|p| dev.strip_prefix(p))?;
    if letters.is_empty() || !letters.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let mut idx: u32 = 0;
    for b in letters.bytes() {
        idx = idx.checked_mul(26)?.checked_add(u32::from(b - b'a') + 1)?;
    }
    Some(idx - 1)
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
        assert_eq!(disk_index("vdA"), None);
    }
}
