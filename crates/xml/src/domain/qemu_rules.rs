//! Rules libvirt's QEMU driver adds for `kvm`/`qemu` domains that depend on the XML alone:
//! machine-type constraints and what QEMU can express (the parser runs them for those domain
//! types only; the QEMU driver's own refusals, which need the emulator, are in its
//! `command::validate`).
//!
//! Each error names the element (by path) and the attribute involved; its [`RuleClass`] is
//! libvirt's error code for the same refusal.

use std::collections::BTreeMap;

use super::rules::{nth, unsupported, Res};
use super::*;
use crate::{RuleClass, XmlError, YesNo};

/// The family of a QEMU x86 machine type, when its name tells: the one classifier for these rules
/// and the QEMU driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QemuMachineFamily {
    /// i440FX + PIIX3 (`pc`, `pc-i440fx-*`, the old `pc-0.*`/`pc-1.*`): conventional PCI only.
    I440fx,
    /// Q35 + ICH9 (`q35`, `pc-q35-*`): PCI Express.
    Q35,
    /// `microvm`: no PCI; virtio devices on virtio-mmio.
    Microvm,
}

impl QemuMachineFamily {
    pub fn of(machine: &str) -> Option<QemuMachineFamily> {
        let m = machine;
        if m == "q35" || m.starts_with("pc-q35-") {
            Some(QemuMachineFamily::Q35)
        } else if m == "pc" || m.starts_with("pc-i440fx-") || m.starts_with("pc-0.") || m.starts_with("pc-1.") {
            Some(QemuMachineFamily::I440fx)
        } else if m == "microvm" {
            Some(QemuMachineFamily::Microvm)
        } else {
            None
        }
    }
}

fn chipset(machine: Option<&str>) -> Option<QemuMachineFamily> {
    machine.and_then(QemuMachineFamily::of)
}

/// Expander buses and the DMI-to-PCI bridge plug into a root bus (or, for the bridge, a PCIe
/// expander bus), never behind a bridge or a port.
fn check_root_attached(d: &Devices) -> Res {
    use ControllerModel as M;
    let pci = |idx: u32| d.controllers.iter().find(|c| c.kind == ControllerType::Pci && c.index == Some(idx));
    for (i, c) in d.controllers.iter().enumerate() {
        let Some(m @ (M::PciExpanderBus | M::PcieExpanderBus | M::DmiToPciBridge)) = c.model else { continue };
        if c.kind != ControllerType::Pci {
            continue;
        }
        let Some(bus) = c.info.address.as_ref().filter(|a| a.kind == Some(AddressType::Pci)).and_then(|a| a.bus) else {
            continue;
        };
        let Some(parent) = pci(bus.0).and_then(|p| p.model) else { continue };
        let fits = match m {
            M::PciExpanderBus => parent == M::PciRoot,
            M::PcieExpanderBus => parent == M::PcieRoot,
            _ => matches!(parent, M::PcieRoot | M::PcieExpanderBus),
        };
        if !fits {
            return Err(XmlError::invalid(
                format!("{}/address", nth("controller", i, d.controllers.len())),
                format!("a '{m}' controller cannot be plugged into bus {} (a '{parent}'): it needs a root bus", bus.0),
            ));
        }
    }
    Ok(())
}

/// Drive addresses: `(controller type, controller, bus, target, unit)`.
type DriveKey = (&'static str, u32, u32, u32, u32);

/// The drive address libvirt derives from a disk's target name (`hdc` -> IDE 0:1:0:0).
fn disk_drive_address(disk: &Disk, scsi_units: u32) -> Option<DriveKey> {
    let bus = disk.target.bus?;
    if let Some(a) = disk.info.address.as_ref() {
        if a.kind != Some(AddressType::Drive) {
            return None;
        }
        let ctype = match bus {
            DiskBus::Ide => "ide",
            DiskBus::Sata => "sata",
            DiskBus::Fdc => "fdc",
            DiskBus::Scsi => "scsi",
            _ => return None,
        };
        return Some((
            ctype,
            a.controller.unwrap_or(0),
            a.bus.map_or(0, |b| b.0),
            a.target.unwrap_or(0),
            a.unit.unwrap_or(0),
        ));
    }
    let idx = disk_index(&disk.target.dev)?;
    match bus {
        DiskBus::Ide => Some(("ide", idx / 4, (idx % 4) / 2, 0, idx % 2)),
        DiskBus::Fdc => Some(("fdc", 0, 0, 0, idx)),
        DiskBus::Sata => Some(("sata", idx / 6, 0, 0, idx % 6)),
        DiskBus::Scsi => Some(("scsi", idx / scsi_units, 0, 0, idx % scsi_units)),
        _ => None,
    }
}

impl Domain {
    /// Rules libvirt's QEMU driver adds: machine-type constraints and what QEMU can express.
    pub(crate) fn check_qemu_rules(&self) -> Res {
        let machine = chipset(self.machine());
        let x86 = matches!(self.arch(), None | Some("x86_64") | Some("i686"));
        let features = self.features();
        if let Some(smm) = &features.smm {
            if let Some(t) = smm.tseg {
                if machine == Some(QemuMachineFamily::I440fx) {
                    return Err(unsupported(
                        "/domain/features/smm/tseg",
                        "<tseg> (SMM TSEG size) needs a q35 machine type",
                    ));
                }
                if t.0 % 1024 != 0 {
                    return Err(unsupported(
                        "/domain/features/smm/tseg",
                        format!("<tseg> size {} KiB is not a multiple of 1 MiB", t.0),
                    ));
                }
            }
        }
        if x86 && features.hpt.is_some() {
            return Err(unsupported(
                "/domain/features/hpt",
                "<hpt> is a pSeries (ppc64) feature, not available on x86",
            ));
        }
        let uefi = self.os.firmware == Some(FirmwareType::Efi)
            || self.os.loader.as_ref().and_then(|l| l.kind) == Some(LoaderType::Pflash);
        if uefi && x86 && !features.acpi {
            return Err(unsupported("/domain/features", "UEFI firmware needs <acpi/> on x86"));
        }
        // QEMU sizes NUMA cells in whole MiB; the rounded size must stay a valid byte count.
        const MAX_KIB: u64 = (i64::MAX as u64) / 1024;
        for (i, c) in self.numa_cells().iter().enumerate() {
            if c.memory.0.div_ceil(1024).saturating_mul(1024) > MAX_KIB {
                return Err(unsupported(
                    "/domain/cpu/numa/cell",
                    format!("NUMA cell {i} memory {} KiB overflows when rounded up to whole MiB", c.memory.0),
                ));
            }
        }
        let Some(d) = &self.devices else { return Ok(()) };
        self.check_qemu_devices(d, machine, x86)
    }

    fn check_qemu_devices(&self, d: &Devices, machine: Option<QemuMachineFamily>, x86: bool) -> Res {
        // The root bus must match the chipset; expander buses belong to one chipset.
        for (i, c) in d.controllers.iter().enumerate() {
            let path = nth("controller", i, d.controllers.len());
            if c.kind != ControllerType::Pci {
                continue;
            }
            let want_root = match machine {
                Some(QemuMachineFamily::I440fx) => Some(ControllerModel::PciRoot),
                Some(QemuMachineFamily::Q35) => Some(ControllerModel::PcieRoot),
                Some(QemuMachineFamily::Microvm) | None => None,
            };
            // pSeries has several root buses (PHBs); x86 has one.
            if let (true, Some(m @ (ControllerModel::PciRoot | ControllerModel::PcieRoot)), Some(idx)) =
                (x86, c.model, c.index)
            {
                if idx != 0 {
                    return Err(XmlError::invalid(
                        path,
                        format!("a '{m}' controller must have index='0', not '{idx}'"),
                    ));
                }
            }
            if c.index == Some(0) {
                if let (Some(want), Some(m)) = (want_root, c.model) {
                    if m != want {
                        return Err(XmlError::invalid(
                            path,
                            format!(
                                "PCI controller index 0 must be model='{want}' for machine type '{}', not '{m}'",
                                self.machine().unwrap_or("")
                            ),
                        ));
                    }
                }
            }
            let bad = match (c.model, machine) {
                (Some(m @ ControllerModel::PcieExpanderBus), Some(QemuMachineFamily::I440fx)) => Some(m),
                (Some(m @ ControllerModel::PciExpanderBus), Some(QemuMachineFamily::Q35)) => Some(m),
                _ => None,
            };
            if let Some(m) = bad {
                return Err(unsupported(
                    path,
                    format!("'{m}' controllers are not supported with machine type '{}'", self.machine().unwrap_or("")),
                ));
            }
        }
        check_root_attached(d)?;
        self.check_qemu_disks(d)?;
        // i440FX: 00:01.0 is the ISA bridge, 00:01.1 the IDE controller, 00:01.3 power management.
        if machine == Some(QemuMachineFamily::I440fx) {
            for p in d.placed() {
                let Some(a) = p.address.filter(|a| a.kind == Some(AddressType::Pci)) else { continue };
                if a.bus.map_or(0, |b| b.0) != 0 || a.slot.map(|s| s.0) != Some(1) || a.domain.is_some_and(|d| d.0 != 0)
                {
                    continue;
                }
                let f = a.function.map_or(0, |f| f.0);
                let is_ide = p.path.starts_with("/domain/devices/controller")
                    && d.controllers
                        .iter()
                        .any(|c| c.kind == ControllerType::Ide && c.info.address.as_ref() == Some(a));
                if matches!(f, 0 | 3) || (f == 1 && !is_ide) {
                    return Err(XmlError::invalid(
                        format!("{}/address", p.path),
                        format!("PCI address 0000:00:01.{f} is taken by the i440FX chipset's built-in devices"),
                    ));
                }
            }
        }
        if let Some(io) = &d.iommu {
            let path = "/domain/devices/iommu";
            match io.model {
                IommuModel::Intel if machine == Some(QemuMachineFamily::I440fx) => {
                    return Err(unsupported(path, "<iommu model='intel'> needs a q35 machine type"));
                }
                IommuModel::Virtio => {
                    if machine == Some(QemuMachineFamily::I440fx) {
                        return Err(unsupported(path, "<iommu model='virtio'> needs a q35 machine type on x86"));
                    }
                    if x86 && !self.features().acpi {
                        return Err(unsupported(path, "<iommu model='virtio'> needs <features><acpi/>"));
                    }
                    if let Some(a) = &io.info.address {
                        if a.kind != Some(AddressType::Pci) {
                            return Err(unsupported(
                                format!("{path}/address"),
                                "<iommu model='virtio'> needs a PCI <address>",
                            ));
                        }
                        if a.bus.is_some_and(|b| b.0 != 0) {
                            return Err(XmlError::invalid(
                                format!("{path}/address"),
                                "<iommu model='virtio'> must be an integrated device on PCI bus 0",
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        for (i, n) in d.interfaces.iter().enumerate() {
            let path = nth("interface", i, d.interfaces.len());
            if matches!(n.kind, InterfaceType::Hostdev | InterfaceType::Vhostuser)
                && n.backend.as_ref().is_some_and(|b| b.tap.is_some())
            {
                return Err(unsupported(
                    format!("{path}/backend"),
                    format!(
                        "<backend tap=...> (a custom tap device) is not supported for type '{}' interfaces",
                        n.kind
                    ),
                ));
            }
            if let Some(q) = n.driver.as_ref().and_then(|d| d.rx_queue_size) {
                if !q.is_power_of_two() {
                    return Err(unsupported(
                        format!("{path}/driver"),
                        format!("rx_queue_size {q} is not a power of two"),
                    ));
                }
            }
        }
        for (i, s) in d.shmems.iter().enumerate() {
            let path = nth("shmem", i, d.shmems.len());
            if let Some(t) = s.address.as_ref().and_then(|a| a.kind).filter(|t| *t != AddressType::Pci) {
                return Err(unsupported(
                    format!("{path}/address"),
                    format!("<shmem> needs a PCI <address>, not type '{t}'"),
                ));
            }
            if let Some(sz) = s.size {
                let b = sz.bytes();
                if !b.is_power_of_two() {
                    return Err(XmlError::invalid(
                        format!("{path}/size"),
                        format!("<shmem> size {b} bytes is not a power of two"),
                    ));
                }
                if b < 1 << 20 {
                    return Err(XmlError::invalid(
                        format!("{path}/size"),
                        format!("<shmem> size {b} bytes is below the 1 MiB minimum"),
                    ));
                }
            }
        }
        for (i, f) in d.filesystems.iter().enumerate() {
            let virtiofs = f.driver.as_ref().and_then(|d| d.kind) == Some(FsDriverType::Virtiofs) || f.binary.is_some();
            if virtiofs && f.readonly {
                return Err(unsupported(
                    format!("{}/readonly", nth("filesystem", i, d.filesystems.len())),
                    "virtiofs filesystems cannot be read-only (<readonly/>)",
                ));
            }
        }
        for (i, v) in d.videos.iter().enumerate() {
            if v.model.as_ref().map(|m| m.kind) == Some(VideoType::Ramfb) && v.address.is_some() {
                return Err(unsupported(
                    format!("{}/address", nth("video", i, d.videos.len())),
                    "a 'ramfb' video device takes no <address>",
                ));
            }
        }
        for (i, n) in d.inputs.iter().enumerate() {
            if let Some(m @ (InputModel::VirtioTransitional | InputModel::VirtioNonTransitional)) = n.model {
                if n.kind != InputType::Passthrough {
                    return Err(unsupported(
                        nth("input", i, d.inputs.len()),
                        format!("model '{m}' is only available for type='passthrough' inputs, not '{}'", n.kind),
                    ));
                }
            }
        }
        let egl = d.graphics.iter().any(|g| g.kind == GraphicsType::EglHeadless);
        if egl {
            if let Some(g) = d
                .graphics
                .iter()
                .find(|g| !matches!(g.kind, GraphicsType::EglHeadless | GraphicsType::Vnc | GraphicsType::Spice))
            {
                return Err(unsupported(
                    "/domain/devices/graphics",
                    format!("'egl-headless' graphics only work together with 'vnc' or 'spice', not '{}'", g.kind),
                ));
            }
            let gl = d.graphics.iter().any(|g| {
                g.kind != GraphicsType::EglHeadless && g.gl.as_ref().and_then(|gl| gl.enable) == Some(YesNo::Yes)
            });
            if gl {
                return Err(unsupported(
                    "/domain/devices/graphics",
                    "one OpenGL display at most: 'egl-headless' cannot be combined with <gl enable='yes'>",
                ));
            }
        }
        for (i, h) in d.hostdevs.iter().enumerate() {
            let path = nth("hostdev", i, d.hostdevs.len());
            if h.kind == HostdevType::ScsiHost && h.info.boot.is_some() {
                return Err(unsupported(
                    format!("{path}/boot"),
                    "vhost-scsi host devices cannot be booted from (<boot order>)",
                ));
            }
            if x86 && h.info.address.as_ref().is_some_and(|a| a.zpci.is_some()) {
                return Err(unsupported(format!("{path}/address/zpci"), "<zpci> addresses exist only on s390x guests"));
            }
        }
        if x86 {
            for (i, s) in d.serials.iter().enumerate() {
                let Some(t) = &s.target else { continue };
                let bad_type = matches!(
                    t.kind,
                    Some(ChrTargetType::SpaprVioSerial | ChrTargetType::SystemSerial | ChrTargetType::SclpSerial)
                );
                let bad_model = t.model.as_ref().is_some_and(|m| {
                    matches!(
                        m.name,
                        ChrTargetModelName::SpaprVty
                            | ChrTargetModelName::Pl011
                            | ChrTargetModelName::Sclpconsole
                            | ChrTargetModelName::Sclplmconsole
                    )
                });
                if bad_type || bad_model {
                    return Err(unsupported(
                        format!("{}/target", nth("serial", i, d.serials.len())),
                        "this serial target type/model is not available on x86 machine types",
                    ));
                }
            }
        }
        for (kind, list) in
            [("serial", &d.serials), ("channel", &d.channels), ("console", &d.consoles), ("parallel", &d.parallels)]
        {
            for (i, c) in list.iter().enumerate() {
                for s in &c.source.sources {
                    if s.reconnect.as_ref().is_some_and(|r| r.enabled == YesNo::Yes && r.timeout == Some(0)) {
                        return Err(XmlError::rule(
                            RuleClass::InvalidArg,
                            format!("{}/source/reconnect", nth(kind, i, list.len())),
                            "<reconnect> 'timeout' must be at least 1 second",
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn check_qemu_disks(&self, d: &Devices) -> Res {
        let n = d.disks.len();
        let scsi_virtio = d.controllers.iter().any(|c| {
            c.kind == ControllerType::Scsi && c.index.unwrap_or(0) == 0 && c.model == Some(ControllerModel::VirtioScsi)
        });
        let scsi_units = if scsi_virtio { 16384 } else { 7 };
        let mut drives: BTreeMap<DriveKey, String> = BTreeMap::new();
        for (i, disk) in d.disks.iter().enumerate() {
            let path = nth("disk", i, n);
            let dev = &disk.target.dev;
            if dev.ends_with(|c: char| c.is_ascii_digit()) {
                return Err(unsupported(
                    format!("{path}/target"),
                    format!("disk target '{dev}' names a partition; give the whole disk"),
                ));
            }
            let bus = disk.target.bus;
            if let (Some(b), Some(t)) = (bus, disk.info.address.as_ref().and_then(|a| a.kind)) {
                let ok = match b {
                    DiskBus::Ide | DiskBus::Fdc | DiskBus::Scsi | DiskBus::Sata => t == AddressType::Drive,
                    DiskBus::Usb => t == AddressType::Usb,
                    _ => true,
                };
                if !ok {
                    return Err(unsupported(
                        format!("{path}/address"),
                        format!("address type '{t}' does not fit disk '{dev}' on bus '{b}'"),
                    ));
                }
            }
            if (disk.vendor.is_some() || disk.product.is_some()) && bus != Some(DiskBus::Scsi) {
                return Err(unsupported(&path, "<vendor> and <product> are only for disks on bus 'scsi'"));
            }
            let format = disk.driver.as_ref().and_then(|d| d.format);
            match format {
                Some(StorageFormat::Cow) => {
                    return Err(unsupported(format!("{path}/driver"), "disk format 'cow' is not supported"))
                }
                Some(StorageFormat::Dir) => {
                    return Err(unsupported(
                        format!("{path}/driver"),
                        "disk format 'dir' is not an image format: use <disk type='dir'>",
                    ))
                }
                Some(StorageFormat::Iso) => {
                    return Err(unsupported(
                        format!("{path}/driver"),
                        "disk format 'iso' is not an image format for QEMU: use 'raw'",
                    ))
                }
                _ => {}
            }
            let src = disk.source.as_ref();
            let src_enc = src.and_then(|s| s.encryption.as_ref());
            if disk.encryption.is_some() && src_enc.is_some() {
                return Err(unsupported(
                    format!("{path}/encryption"),
                    "<encryption> is given both in <disk> and in its <source>",
                ));
            }
            if let Some(e) = disk.encryption.as_ref().or(src_enc) {
                if e.cipher.is_some() || e.ivgen.is_some() {
                    return Err(unsupported(
                        format!("{path}/encryption"),
                        "<cipher> and <ivgen> are properties of the volume, not of a disk's <encryption>",
                    ));
                }
                if matches!(e.format, Some(EncryptionFormat::Luks | EncryptionFormat::Luks2))
                    && e.engine != Some(EncryptionEngine::Librbd)
                    && !matches!(format, None | Some(StorageFormat::Raw | StorageFormat::Qcow2))
                {
                    return Err(unsupported(
                        format!("{path}/encryption"),
                        "LUKS <encryption> needs disk format 'raw' or 'qcow2'",
                    ));
                }
            }
            let src_auth = src.and_then(|s| s.auth.as_ref());
            if disk.auth.is_some() && src_auth.is_some() {
                return Err(unsupported(format!("{path}/auth"), "<auth> is given both in <disk> and in its <source>"));
            }
            if let (Some(auth), Some(proto)) = (disk.auth.as_ref().or(src_auth), src.and_then(|s| s.protocol)) {
                let want = match proto {
                    NetProtocol::Iscsi => Some("iscsi"),
                    NetProtocol::Rbd => Some("ceph"),
                    _ => None,
                };
                if let (Some(want), Some(secret)) = (want, &auth.secret) {
                    match secret.kind.as_deref() {
                        Some(k) if k == want => {}
                        k => {
                            return Err(unsupported(
                                format!("{path}/auth/secret"),
                                format!(
                                    "a disk with protocol '{proto}' needs <secret type='{want}'>, not {}",
                                    k.map_or("none".into(), |k| format!("'{k}'"))
                                ),
                            ))
                        }
                    }
                }
            }
            if disk.shareable && !disk.readonly && !matches!(format, None | Some(StorageFormat::Raw)) {
                return Err(unsupported(&path, format!("a shareable disk ('{dev}') needs format 'raw'")));
            }
            if let Some(key) = disk_drive_address(disk, scsi_units) {
                if let Some(other) = drives.insert(key, path.clone()) {
                    return Err(unsupported(
                        &path,
                        format!(
                            "disk '{dev}' gets drive address controller='{}' bus='{}' target='{}' unit='{}', already used by {other}",
                            key.1, key.2, key.3, key.4
                        ),
                    ));
                }
            }
        }
        for (i, h) in d.hostdevs.iter().enumerate() {
            let Some(a) = h.info.address.as_ref().filter(|a| a.kind == Some(AddressType::Drive)) else { continue };
            if h.kind != HostdevType::Scsi {
                continue;
            }
            let path = nth("hostdev", i, d.hostdevs.len());
            let key = (
                "scsi",
                a.controller.unwrap_or(0),
                a.bus.map_or(0, |b| b.0),
                a.target.unwrap_or(0),
                a.unit.unwrap_or(0),
            );
            if let Some(other) = drives.insert(key, path.clone()) {
                return Err(unsupported(
                    format!("{path}/address"),
                    format!(
                        "SCSI address controller='{}' bus='{}' target='{}' unit='{}' is already used by {other}",
                        key.1, key.2, key.3, key.4
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_families() {
        use QemuMachineFamily as F;
        assert_eq!(F::of("pc"), Some(F::I440fx));
        assert_eq!(F::of("pc-i440fx-10.0"), Some(F::I440fx));
        assert_eq!(F::of("pc-1.3"), Some(F::I440fx));
        assert_eq!(F::of("q35"), Some(F::Q35));
        assert_eq!(F::of("pc-q35-9.1"), Some(F::Q35));
        assert_eq!(F::of("microvm"), Some(F::Microvm));
        assert_eq!(F::of("isapc"), None);
        assert_eq!(F::of("virt"), None);
    }
}
