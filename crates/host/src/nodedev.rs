//! The host's devices as libvirt's node device driver reports them (`virsh nodedev-list`), read
//! from sysfs below a root directory so tests can use fixture trees.
//!
//! Names follow libvirt's udev backend: `<subsystem>_<sysname>[_<extra>]` with every
//! non-alphanumeric character turned into `_` (`pci_0000_00_1f_2`, `net_eth0_52_54_00_12_34_56`,
//! `usb_1_1`, `block_vda_<serial>`, `scsi_host0`), plus the `computer` root. A device's parent is
//! the nearest sysfs ancestor that is itself a node device, else `computer`. What udev alone knows
//! (disk serials, bus names, USB database names) is read from udev's database in `/run/udev/data`
//! when it is there.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use oxvirt_xml::nodedev::*;
use oxvirt_xml::Hex;

/// All node devices of this host, `computer` first, the rest sorted by name.
pub fn node_devices() -> Vec<NodeDevice> {
    node_devices_at(Path::new("/"))
}

/// Like [`node_devices`], with sysfs, `/run/udev` and `/usr/share` read below `root`.
pub fn node_devices_at(root: &Path) -> Vec<NodeDevice> {
    // offload features come from the kernel (ethtool), not sysfs: only for the real root
    let live = fs::canonicalize(root).is_ok_and(|r| r == Path::new("/"));
    let mut scan = Scan { root: root.to_path_buf(), found: Vec::new(), pci_ids: None, live };
    scan.pci();
    scan.net();
    scan.usb();
    scan.scsi();
    scan.block();
    scan.drm();
    // parents: nearest ancestor in sysfs that is a node device
    let by_path: HashMap<PathBuf, String> = scan.found.iter().map(|(p, d)| (p.clone(), d.name.clone())).collect();
    let mut out: Vec<NodeDevice> = Vec::with_capacity(scan.found.len() + 1);
    for (path, mut dev) in scan.found {
        let parent = path.ancestors().skip(1).find_map(|a| by_path.get(a)).cloned();
        dev.parent = Some(Parent { name: Some(parent.unwrap_or_else(|| "computer".into())), ..Default::default() });
        out.push(dev);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.name == b.name);
    out.insert(0, computer(root));
    out
}

/// One device by libvirt name.
pub fn node_device_at(root: &Path, name: &str) -> Option<NodeDevice> {
    node_devices_at(root).into_iter().find(|d| d.name == name)
}

/// Names of this host's devices having capability `cap` (all without); an unknown capability
/// name is returned as the error.
pub fn device_names(cap: Option<&str>) -> Result<Vec<String>, String> {
    if let Some(c) = cap.filter(|c| !CAP_TYPES.contains(c)) {
        return Err(c.to_string());
    }
    Ok(node_devices().into_iter().filter(|d| cap.is_none_or(|c| d.has_cap(c))).map(|d| d.name).collect())
}

/// One of this host's devices by libvirt name.
pub fn find_device(name: &str) -> Option<NodeDevice> {
    node_device_at(Path::new("/"), name)
}

/// libvirt's name mangling: `subsystem_sysname[_extra]`, non-alphanumerics as `_`.
pub fn device_name(subsystem: &str, sysname: &str, extra: Option<&str>) -> String {
    let mut s = format!("{subsystem}_{sysname}");
    if let Some(e) = extra {
        s.push('_');
        s.push_str(e);
    }
    s.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}

fn read(p: &Path) -> Option<String> {
    fs::read_to_string(p).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn read_hex(p: &Path) -> Option<u32> {
    let s = read(p)?;
    u32::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}

fn read_dec<T: std::str::FromStr>(p: &Path) -> Option<T> {
    read(p)?.parse().ok()
}

fn link_name(p: &Path) -> Option<String> {
    fs::read_link(p).ok()?.file_name().map(|n| n.to_string_lossy().into_owned())
}

fn dir_names(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(p)
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// `KEY=VALUE` lines of a sysfs `uevent` file.
fn uevent(dir: &Path) -> HashMap<String, String> {
    fs::read_to_string(dir.join("uevent"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

fn computer(root: &Path) -> NodeDevice {
    let dmi = root.join("sys/class/dmi/id");
    let d = |f: &str| read(&dmi.join(f));
    let uuid = crate::host_details_at(root).uuid.and_then(|u| uuid::Uuid::parse_str(&u).ok()).unwrap_or_default();
    NodeDevice {
        name: "computer".into(),
        capabilities: vec![Capability::System(SystemCap {
            product: d("product_name"),
            hardware: SystemHardware {
                vendor: d("sys_vendor"),
                version: d("product_version"),
                serial: d("product_serial"),
                uuid,
            },
            firmware: SystemFirmware {
                vendor: d("bios_vendor"),
                version: d("bios_version"),
                release_date: d("bios_date"),
            },
        })],
        ..Default::default()
    }
}

/// Vendor and device names from `pci.ids` (pciutils' database), when installed.
#[derive(Default)]
struct PciIds {
    vendors: HashMap<u32, (String, HashMap<u32, String>)>,
}

impl PciIds {
    fn load(root: &Path) -> Self {
        let mut ids = PciIds::default();
        let text = ["usr/share/misc/pci.ids", "usr/share/hwdata/pci.ids"]
            .iter()
            .find_map(|p| fs::read(root.join(p)).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let mut vendor = None;
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if line.starts_with("C ") {
                break; // class section follows the vendors
            }
            let depth = line.chars().take_while(|c| *c == '\t').count();
            let rest = line.trim_start_matches('\t');
            let Some((id, name)) = rest.split_once("  ") else { continue };
            let Ok(id) = u32::from_str_radix(id.trim(), 16) else { continue };
            match depth {
                0 => {
                    ids.vendors.insert(id, (name.trim().to_string(), HashMap::new()));
                    vendor = Some(id);
                }
                1 => {
                    if let Some(v) = vendor.and_then(|v| ids.vendors.get_mut(&v)) {
                        v.1.insert(id, name.trim().to_string());
                    }
                }
                _ => {}
            }
        }
        ids
    }

    fn names(&self, vendor: u32, device: u32) -> (Option<String>, Option<String>) {
        match self.vendors.get(&vendor) {
            Some((v, devs)) => (Some(v.clone()), devs.get(&device).cloned()),
            None => (None, None),
        }
    }
}

struct Scan {
    root: PathBuf,
    /// (canonical sysfs path, device)
    found: Vec<(PathBuf, NodeDevice)>,
    pci_ids: Option<PciIds>,
    live: bool,
}

impl Scan {
    /// Resolves a sysfs entry to its canonical directory, staying inside the root.
    fn canonical(&self, p: &Path) -> Option<PathBuf> {
        let c = fs::canonicalize(p).ok()?;
        let root = fs::canonicalize(&self.root).ok()?;
        c.starts_with(&root).then_some(c)
    }

    /// The path libvirt shows (`/sys/devices/...`), whatever the root.
    fn shown_path(&self, canonical: &Path) -> String {
        let root = fs::canonicalize(&self.root).unwrap_or_else(|_| self.root.clone());
        let rel = canonical.strip_prefix(&root).unwrap_or(canonical);
        format!("/{}", rel.display())
    }

    /// Properties udev recorded for a device (`E:KEY=VALUE` lines), if udev's database is there.
    fn udev_props(&self, id: &str) -> HashMap<String, String> {
        fs::read_to_string(self.root.join("run/udev/data").join(id))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("E:")?.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect()
    }

    fn add(&mut self, path: PathBuf, mut dev: NodeDevice) {
        dev.path = Some(self.shown_path(&path));
        if dev.driver.is_none() {
            dev.driver = link_name(&path.join("driver")).map(|name| DeviceDriver { name });
        }
        self.found.push((path, dev));
    }

    fn pci(&mut self) {
        let dir = self.root.join("sys/bus/pci/devices");
        for bdf in dir_names(&dir) {
            let Some(path) = self.canonical(&dir.join(&bdf)) else { continue };
            let Some(addr) = PciAddress::parse_bdf(&bdf) else { continue };
            let vendor = read_hex(&path.join("vendor")).unwrap_or(0);
            let device = read_hex(&path.join("device")).unwrap_or(0);
            let ids = self.pci_ids.get_or_insert_with(|| PciIds::load(&self.root));
            let (vendor_name, product_name) = ids.names(vendor, device);
            let mut caps = Vec::new();
            if let Some(pf) = fs::read_link(path.join("physfn"))
                .ok()
                .and_then(|l| PciAddress::parse_bdf(&l.file_name()?.to_string_lossy()))
            {
                caps.push(PciSubCap::PhysFunction(PhysFunction { address: Some(pf) }));
            }
            let vfs: Vec<PciAddress> = {
                let mut v: Vec<(u32, PciAddress)> = dir_names(&path)
                    .into_iter()
                    .filter_map(|n| {
                        let idx: u32 = n.strip_prefix("virtfn")?.parse().ok()?;
                        let target = fs::read_link(path.join(&n)).ok()?;
                        Some((idx, PciAddress::parse_bdf(&target.file_name()?.to_string_lossy())?))
                    })
                    .collect();
                v.sort();
                v.into_iter().map(|(_, a)| a).collect()
            };
            let total_vfs = read_dec::<u32>(&path.join("sriov_totalvfs")).unwrap_or(0);
            if total_vfs > 0 || !vfs.is_empty() {
                caps.push(PciSubCap::VirtFunctions(VirtFunctions {
                    max_count: (total_vfs > 0).then_some(total_vfs),
                    addresses: vfs,
                }));
            }
            let config = fs::read(path.join("config")).unwrap_or_default();
            match config.get(0x0e).map(|h| h & 0x7f) {
                Some(1) => caps.push(PciSubCap::PciBridge(Default::default())),
                Some(2) => caps.push(PciSubCap::CardbusBridge(Default::default())),
                _ => {}
            }
            let mdev_types = mdev_types(&path.join("mdev_supported_types"));
            if !mdev_types.types.is_empty() {
                caps.push(PciSubCap::MdevTypes(mdev_types));
            }
            let iommu_group = link_name(&path.join("iommu_group")).and_then(|g| g.parse::<u32>().ok()).map(|number| {
                let mut addresses: Vec<PciAddress> =
                    dir_names(&self.root.join(format!("sys/kernel/iommu_groups/{number}/devices")))
                        .iter()
                        .filter_map(|n| PciAddress::parse_bdf(n))
                        .collect();
                addresses.sort();
                IommuGroup { number, addresses }
            });
            let numa = read_dec::<i32>(&path.join("numa_node")).filter(|n| *n >= 0).map(|n| NumaNode { node: Some(n) });
            let pci = PciCap {
                class: read_hex(&path.join("class")).map(Hex),
                domain: addr.domain.0,
                bus: addr.bus.0,
                slot: addr.slot.0,
                function: addr.function.0,
                product: IdName { id: Hex(device), name: product_name },
                vendor: IdName { id: Hex(vendor), name: vendor_name },
                capabilities: caps,
                iommu_group,
                numa,
                pci_express: pcie_info(&config),
            };
            let dev =
                NodeDevice { name: addr.device_name(), capabilities: vec![Capability::Pci(pci)], ..Default::default() };
            self.add(path, dev);
        }
    }

    fn net(&mut self) {
        let dir = self.root.join("sys/class/net");
        for ifname in dir_names(&dir) {
            let Some(path) = self.canonical(&dir.join(&ifname)) else { continue };
            let ev = uevent(&path);
            let address = read(&path.join("address"));
            let state = read(&path.join("operstate")).and_then(|s| oxvirt_xml::XmlValue::from_xml_value(&s).ok());
            // the kernel reports a speed only while the link is up
            let speed = if state == Some(LinkState::Up) {
                read_dec::<i64>(&path.join("speed")).filter(|s| *s > 0).and_then(|s| u32::try_from(s).ok())
            } else {
                None
            };
            let kind = if ev.get("DEVTYPE").map(String::as_str) == Some("wlan") || path.join("phy80211").exists() {
                NetSubCapType::Ieee80211
            } else {
                NetSubCapType::Ieee80203
            };
            let net = NetCap {
                interface: ifname.clone(),
                address: address.clone(),
                link: (speed.is_some() || state.is_some()).then_some(NetLink { speed, state }),
                features: if self.live { ethtool::features(&ifname) } else { Vec::new() },
                capabilities: vec![NetSubCap { kind }],
            };
            let dev = NodeDevice {
                name: device_name("net", &ifname, address.as_deref()),
                capabilities: vec![Capability::Net(net)],
                ..Default::default()
            };
            self.add(path, dev);
        }
    }

    fn usb(&mut self) {
        let dir = self.root.join("sys/bus/usb/devices");
        for sysname in dir_names(&dir) {
            let Some(path) = self.canonical(&dir.join(&sysname)) else { continue };
            let ev = uevent(&path);
            let cap = match ev.get("DEVTYPE").map(String::as_str) {
                Some("usb_device") => {
                    let db = self.udev_props(&format!(
                        "c{}",
                        ev.get("MAJOR").zip(ev.get("MINOR")).map(|(a, b)| format!("{a}:{b}")).unwrap_or_default()
                    ));
                    let vendor_name =
                        db.get("ID_VENDOR_FROM_DATABASE").cloned().or_else(|| read(&path.join("manufacturer")));
                    let product_name =
                        db.get("ID_MODEL_FROM_DATABASE").cloned().or_else(|| read(&path.join("product")));
                    Capability::UsbDevice(UsbDeviceCap {
                        bus: read_dec(&path.join("busnum")).unwrap_or(0),
                        device: read_dec(&path.join("devnum")).unwrap_or(0),
                        product: IdName { id: Hex(read_hex(&path.join("idProduct")).unwrap_or(0)), name: product_name },
                        vendor: IdName { id: Hex(read_hex(&path.join("idVendor")).unwrap_or(0)), name: vendor_name },
                    })
                }
                Some("usb_interface") => Capability::Usb(UsbInterfaceCap {
                    number: read_hex(&path.join("bInterfaceNumber")).unwrap_or(0),
                    class: read_hex(&path.join("bInterfaceClass")).unwrap_or(0),
                    subclass: read_hex(&path.join("bInterfaceSubClass")).unwrap_or(0),
                    protocol: read_hex(&path.join("bInterfaceProtocol")).unwrap_or(0),
                    description: None,
                }),
                _ => continue,
            };
            let dev =
                NodeDevice { name: device_name("usb", &sysname, None), capabilities: vec![cap], ..Default::default() };
            self.add(path, dev);
        }
    }

    /// SCSI hosts, targets and LUNs: all live on the `scsi` bus, told apart by DEVTYPE.
    fn scsi(&mut self) {
        let dir = self.root.join("sys/bus/scsi/devices");
        for sysname in dir_names(&dir) {
            let Some(path) = self.canonical(&dir.join(&sysname)) else { continue };
            let ev = uevent(&path);
            let cap = match ev.get("DEVTYPE").map(String::as_str) {
                Some("scsi_host") => {
                    let Some(host) = sysname.strip_prefix("host").and_then(|h| h.parse().ok()) else { continue };
                    let sh = self.root.join("sys/class/scsi_host").join(&sysname);
                    let unique_id = read_dec(&sh.join("unique_id"));
                    Capability::ScsiHost(ScsiHostCap { host, unique_id, capabilities: self.fc_host(&sysname) })
                }
                Some("scsi_target") => {
                    Capability::ScsiTarget(ScsiTargetCap { target: sysname.clone(), capability: None })
                }
                Some("scsi_device") => {
                    let n: Vec<u32> = sysname.split(':').filter_map(|p| p.parse().ok()).collect();
                    let [host, bus, target, lun] = n[..] else { continue };
                    let kind = read_dec::<u32>(&path.join("type")).and_then(scsi_type).map(String::from);
                    Capability::Scsi(ScsiCap { host, bus, target, lun, kind })
                }
                _ => continue,
            };
            let dev =
                NodeDevice { name: device_name("scsi", &sysname, None), capabilities: vec![cap], ..Default::default() };
            self.add(path, dev);
        }
    }

    /// A Fibre Channel HBA's port names and vHBA counts.
    fn fc_host(&self, host: &str) -> Vec<ScsiHostSubCap> {
        let fc = self.root.join("sys/class/fc_host").join(host);
        let mut caps = Vec::new();
        let strip = |s: String| s.trim_start_matches("0x").to_string();
        if let (Some(wwnn), Some(wwpn)) = (read(&fc.join("node_name")), read(&fc.join("port_name"))) {
            caps.push(ScsiHostSubCap::FcHost(FcHost {
                wwnn: strip(wwnn),
                wwpn: strip(wwpn),
                fabric_wwn: read(&fc.join("fabric_name")).map(strip),
            }));
            if let Some(max_vports) = read_dec(&fc.join("max_npiv_vports")) {
                caps.push(ScsiHostSubCap::VportOps(VportOps {
                    max_vports,
                    vports: read_dec(&fc.join("npiv_vports_inuse")).unwrap_or(0),
                }));
            }
        }
        caps
    }

    fn block(&mut self) {
        let dir = self.root.join("sys/class/block");
        for sysname in dir_names(&dir) {
            let Some(path) = self.canonical(&dir.join(&sysname)) else { continue };
            if path.join("partition").exists() {
                continue;
            }
            let ev = uevent(&path);
            let devnode = format!("/dev/{}", ev.get("DEVNAME").cloned().unwrap_or_else(|| sysname.clone()));
            let db = match (ev.get("MAJOR"), ev.get("MINOR")) {
                (Some(a), Some(b)) => self.udev_props(&format!("b{a}:{b}")),
                _ => HashMap::new(),
            };
            let mut drive_type = db.get("ID_TYPE").cloned().filter(|t| t != "generic");
            if drive_type.is_none() {
                drive_type = if db.contains_key("ID_DRIVE_FLOPPY") {
                    Some("floppy".into())
                } else if db.contains_key("ID_CDROM") || sysname.starts_with("sr") {
                    Some("cd".into())
                } else if ["/dev/vd", "/dev/nvme", "/dev/sd"].iter().any(|p| devnode.starts_with(p)) {
                    Some("disk".into())
                } else if devnode.starts_with("/dev/dasd") {
                    Some("dasd".into())
                } else {
                    None // loop, zram, ...: libvirt skips what it cannot classify
                };
            }
            let Some(drive_type) = drive_type else { continue };
            let serial = db.get("ID_SERIAL").cloned().or_else(|| read(&path.join("serial")));
            let num_blocks: Option<u64> = read_dec(&path.join("size"));
            let lbs: Option<u64> = read_dec(&path.join("queue/logical_block_size"));
            let block_data = BlockData { logical_block_size: lbs, num_blocks };
            let removable =
                read(&path.join("removable")).as_deref() == Some("1") || drive_type == "cd" || drive_type == "floppy";
            let mut storage = StorageCap {
                block: devnode.clone(),
                bus: db.get("ID_BUS").cloned(),
                drive_type: Some(drive_type),
                model: read(&path.join("device/model")),
                vendor: read(&path.join("device/vendor")),
                serial: serial.clone(),
                ..Default::default()
            };
            if removable {
                let size = num_blocks.zip(lbs).map(|(n, l)| n * l).unwrap_or(0);
                storage.removable = Some(RemovableMedia {
                    media_available: Some(MediaAvailable(size > 0)),
                    media_size: Some(size),
                    media_label: db.get("ID_FS_LABEL").cloned(),
                    block_data: if size > 0 { block_data } else { BlockData::default() },
                });
            } else {
                storage.size = Some(num_blocks.zip(lbs).map(|(n, l)| n * l).unwrap_or(0));
                storage.block_data = block_data;
            }
            let dev = NodeDevice {
                name: device_name("block", &sysname, serial.as_deref()),
                devnodes: vec![Devnode { kind: DevnodeType::Dev, path: devnode }],
                capabilities: vec![Capability::Storage(storage)],
                ..Default::default()
            };
            self.add(path, dev);
        }
    }

    fn drm(&mut self) {
        let dir = self.root.join("sys/class/drm");
        for sysname in dir_names(&dir) {
            let Some(path) = self.canonical(&dir.join(&sysname)) else { continue };
            let ev = uevent(&path);
            if ev.get("DEVTYPE").map(String::as_str) != Some("drm_minor") {
                continue;
            }
            let Some(minor) = ev.get("MINOR").and_then(|m| m.parse::<u32>().ok()) else { continue };
            let kind = match minor >> 6 {
                0 => DrmType::Primary,
                1 => DrmType::Control,
                2 => DrmType::Render,
                _ => continue,
            };
            let devnodes = ev
                .get("DEVNAME")
                .map(|n| vec![Devnode { kind: DevnodeType::Dev, path: format!("/dev/{n}") }])
                .unwrap_or_default();
            let dev = NodeDevice {
                name: device_name("drm", &sysname, None),
                devnodes,
                capabilities: vec![Capability::Drm(DrmCap { kind })],
                ..Default::default()
            };
            self.add(path, dev);
        }
    }
}

fn scsi_type(t: u32) -> Option<&'static str> {
    Some(match t {
        0x00 => "disk",
        0x01 => "tape",
        0x03 => "processor",
        0x04 => "worm",
        0x05 => "cdrom",
        0x06 => "scanner",
        0x07 => "mod",
        0x08 => "changer",
        0x0d => "enclosure",
        0x0c => "raid",
        _ => return None,
    })
}

fn mdev_types(dir: &Path) -> MdevTypeList {
    let mut types = Vec::new();
    for id in dir_names(dir) {
        let t = dir.join(&id);
        let device_api = match read(&t.join("device_api")).as_deref() {
            Some("vfio-pci") => MdevDeviceApi::VfioPci,
            Some("vfio-ccw") => MdevDeviceApi::VfioCcw,
            Some("vfio-ap") => MdevDeviceApi::VfioAp,
            _ => continue,
        };
        types.push(MdevTypeInfo {
            id,
            name: read(&t.join("name")),
            device_api,
            available_instances: read_dec(&t.join("available_instances")).unwrap_or(0),
        });
    }
    MdevTypeList { types }
}

/// PCI Express link facts from config space (readable in full by root only; a 64-byte
/// unprivileged read has no capability list, so then there is nothing to report).
fn pcie_info(config: &[u8]) -> Option<PciExpress> {
    let status = u16::from_le_bytes([*config.get(6)?, *config.get(7)?]);
    if status & 0x10 == 0 {
        return None; // no capability list
    }
    let mut pos = usize::from(*config.get(0x34)? & 0xfc);
    let mut hops = 0;
    while pos >= 0x40 && hops < 48 {
        let id = *config.get(pos)?;
        if id == 0x10 {
            return Some(pcie_links(config, pos));
        }
        pos = usize::from(*config.get(pos + 1)? & 0xfc);
        hops += 1;
    }
    None
}

fn pcie_links(config: &[u8], cap: usize) -> PciExpress {
    let u16_at = |o: usize| config.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| config.get(o..o + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let port_type = u16_at(cap + 2).map(|f| (f >> 4) & 0xf).unwrap_or(0);
    // integrated endpoints and event collectors have no link
    if port_type == 0x9 || port_type == 0xa {
        return PciExpress::default();
    }
    let speed = |v: u32| match v & 0xf {
        1 => Some(PcieSpeed::Gen1),
        2 => Some(PcieSpeed::Gen2),
        3 => Some(PcieSpeed::Gen3),
        4 => Some(PcieSpeed::Gen4),
        5 => Some(PcieSpeed::Gen5),
        6 => Some(PcieSpeed::Gen6),
        _ => None,
    };
    let mut links = Vec::new();
    if let Some(lc) = u32_at(cap + 0x0c) {
        links.push(PciLink {
            validity: LinkValidity::Cap,
            port: Some(lc >> 24),
            speed: speed(lc),
            width: (lc >> 4) & 0x3f,
        });
    }
    if let Some(ls) = u16_at(cap + 0x12) {
        let ls = u32::from(ls);
        links.push(PciLink { validity: LinkValidity::Sta, port: None, speed: speed(ls), width: (ls >> 4) & 0x3f });
    }
    PciExpress { links }
}

/// A NIC's offload features through the `SIOCETHTOOL` ioctl, as libvirt reports them (those
/// with a simple get command; tunnel segmentation, RDMA and switchdev need other interfaces).
mod ethtool {
    use std::os::fd::{AsRawFd, OwnedFd};

    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    use oxvirt_xml::nodedev::{NetFeature, NetFeatureName as F};

    const SIOCETHTOOL: libc::c_ulong = 0x8946;
    const ETHTOOL_GFLAGS: u32 = 0x25;

    #[repr(C)]
    struct EthtoolValue {
        cmd: u32,
        data: u32,
    }

    /// `struct ifreq` with the `ifr_data` member of its union (40 bytes on 64-bit Linux).
    #[repr(C)]
    struct IfReq {
        name: [u8; libc::IFNAMSIZ],
        data: *mut libc::c_void,
        _pad: [u8; 16],
    }

    /// One `ETHTOOL_G*` value; `None` when the driver does not answer.
    fn get(sock: &OwnedFd, ifname: &str, cmd: u32) -> Option<u32> {
        let mut val = EthtoolValue { cmd, data: 0 };
        let mut req = IfReq { name: [0; libc::IFNAMSIZ], data: std::ptr::null_mut(), _pad: [0; 16] };
        let bytes = ifname.as_bytes();
        if bytes.len() >= libc::IFNAMSIZ {
            return None;
        }
        req.name[..bytes.len()].copy_from_slice(bytes);
        req.data = (&mut val as *mut EthtoolValue).cast();
        // SAFETY: `req` is a valid ifreq whose data points at `val`, both alive for the call; the
        // kernel writes only `val`. A datagram socket's ioctl does not block.
        let rc = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCETHTOOL as _, &mut req as *mut IfReq) };
        (rc == 0).then_some(val.data)
    }

    pub fn features(ifname: &str) -> Vec<NetFeature> {
        let Ok(sock) = socket(AddressFamily::Inet, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (cmd, name) in [(0x14, F::Rx), (0x16, F::Tx), (0x18, F::Sg), (0x1e, F::Tso), (0x23, F::Gso), (0x2b, F::Gro)]
        {
            if get(&sock, ifname, cmd).is_some_and(|v| v != 0) {
                out.push(name);
            }
        }
        if let Some(flags) = get(&sock, ifname, ETHTOOL_GFLAGS) {
            for (bit, name) in [
                (1 << 15, F::Lro),
                (1 << 8, F::Rxvlan),
                (1 << 7, F::Txvlan),
                (1 << 27, F::Ntuple),
                (1 << 28, F::Rxhash),
            ] {
                if flags & bit != 0 {
                    out.push(name);
                }
            }
        }
        out.sort();
        out.into_iter().map(|name| NetFeature { name }).collect()
    }
}

/// Devices grouped by parent, for `nodedev-list --tree`.
pub fn children_by_parent(devs: &[NodeDevice]) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in devs {
        if let Some(p) = d.parent_name() {
            m.entry(p.to_string()).or_default().push(d.name.clone());
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxvirt_xml::XmlDocument;
    use std::os::unix::fs::symlink;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(p, text).expect("write");
    }

    fn link(root: &Path, rel: &str, target: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        symlink(target, p).expect("symlink");
    }

    /// A small host: a SATA controller in IOMMU group 3, an SR-IOV NIC with one VF, its netdev,
    /// a virtio disk, a loop device (skipped), a USB root hub with a device and interface.
    fn fixture(root: &Path) {
        let pci = "sys/devices/pci0000:00";
        write(root, "etc/machine-id", "3d1219c7c4c5404aaa1f6d2a48adfda4\n");
        write(root, "sys/class/dmi/id/sys_vendor", "LENOVO\n");
        write(root, "sys/class/dmi/id/product_name", "ThinkPad\n");
        write(root, "sys/class/dmi/id/bios_vendor", "LENOVO\n");
        write(root, "sys/class/dmi/id/bios_date", "02/05/2008\n");
        // SATA controller with a PCIe capability
        let sata = format!("{pci}/0000:00:1f.2");
        write(root, &format!("{sata}/vendor"), "0x8086\n");
        write(root, &format!("{sata}/device"), "0x2922\n");
        write(root, &format!("{sata}/class"), "0x010601\n");
        write(root, &format!("{sata}/numa_node"), "-1\n");
        let mut config = vec![0u8; 256];
        config[6] = 0x10; // capability list
        config[0x34] = 0x40;
        config[0x40] = 0x10; // PCIe capability
        config[0x42] = 0x00; // endpoint
        config[0x40 + 0x0c..0x40 + 0x10].copy_from_slice(&((2u32 << 24) | (4 << 4) | 3).to_le_bytes());
        config[0x40 + 0x12..0x40 + 0x14].copy_from_slice(&((1u16 << 4) | 2).to_le_bytes());
        fs::create_dir_all(root.join(&sata)).expect("mkdir");
        fs::write(root.join(&sata).join("config"), &config).expect("config");
        link(root, &format!("{sata}/driver"), "../../../bus/pci/drivers/ahci");
        link(root, &format!("{sata}/iommu_group"), "../../../kernel/iommu_groups/3");
        fs::create_dir_all(root.join("sys/kernel/iommu_groups/3/devices/0000:00:1f.2")).expect("mkdir");
        fs::create_dir_all(root.join("sys/kernel/iommu_groups/3/devices/0000:00:1f.0")).expect("mkdir");
        // SR-IOV PF and VF
        let pf = format!("{pci}/0000:00:02.0");
        let vf = format!("{pci}/0000:00:02.1");
        for (d, id) in [(&pf, "0x10c9"), (&vf, "0x10ca")] {
            write(root, &format!("{d}/vendor"), "0x8086\n");
            write(root, &format!("{d}/device"), &format!("{id}\n"));
            write(root, &format!("{d}/class"), "0x020000\n");
            write(root, &format!("{d}/numa_node"), "0\n");
        }
        write(root, &format!("{pf}/sriov_totalvfs"), "7\n");
        link(root, &format!("{pf}/virtfn0"), "../0000:00:02.1");
        link(root, &format!("{vf}/physfn"), "../0000:00:02.0");
        // netdev under the PF
        let eth = format!("{pf}/net/eth0");
        write(root, &format!("{eth}/address"), "52:54:00:12:34:56\n");
        write(root, &format!("{eth}/operstate"), "up\n");
        write(root, &format!("{eth}/speed"), "1000\n");
        write(root, &format!("{eth}/uevent"), "INTERFACE=eth0\nIFINDEX=2\n");
        link(root, "sys/class/net/eth0", "../../devices/pci0000:00/0000:00:02.0/net/eth0");
        let lo = "sys/devices/virtual/net/lo";
        write(root, &format!("{lo}/address"), "00:00:00:00:00:00\n");
        write(root, &format!("{lo}/operstate"), "unknown\n");
        link(root, "sys/class/net/lo", "../../devices/virtual/net/lo");
        for bdf in ["0000:00:1f.2", "0000:00:02.0", "0000:00:02.1"] {
            link(root, &format!("sys/bus/pci/devices/{bdf}"), &format!("../../../devices/pci0000:00/{bdf}"));
        }
        // virtio disk on the SATA controller's path (any ancestor works), and a loop device
        let vda = format!("{sata}/virtio1/block/vda");
        write(root, &format!("{vda}/size"), "2097152\n");
        write(root, &format!("{vda}/queue/logical_block_size"), "512\n");
        write(root, &format!("{vda}/removable"), "0\n");
        write(root, &format!("{vda}/serial"), "disk-1\n");
        write(root, &format!("{vda}/uevent"), "MAJOR=253\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\n");
        link(root, "sys/class/block/vda", "../../devices/pci0000:00/0000:00:1f.2/virtio1/block/vda");
        write(root, "sys/devices/virtual/block/loop0/size", "0\n");
        link(root, "sys/class/block/loop0", "../../devices/virtual/block/loop0");
        // USB
        let hub = format!("{pci}/0000:00:1f.2/usb1");
        write(root, &format!("{hub}/uevent"), "DEVTYPE=usb_device\n");
        write(root, &format!("{hub}/busnum"), "1\n");
        write(root, &format!("{hub}/devnum"), "1\n");
        write(root, &format!("{hub}/idVendor"), "1d6b\n");
        write(root, &format!("{hub}/idProduct"), "0002\n");
        write(root, &format!("{hub}/manufacturer"), "Linux Foundation\n");
        write(root, &format!("{hub}/product"), "2.0 root hub\n");
        let intf = format!("{hub}/1-0:1.0");
        write(root, &format!("{intf}/uevent"), "DEVTYPE=usb_interface\n");
        write(root, &format!("{intf}/bInterfaceNumber"), "00\n");
        write(root, &format!("{intf}/bInterfaceClass"), "09\n");
        write(root, &format!("{intf}/bInterfaceSubClass"), "00\n");
        write(root, &format!("{intf}/bInterfaceProtocol"), "00\n");
        link(root, "sys/bus/usb/devices/usb1", "../../../devices/pci0000:00/0000:00:1f.2/usb1");
        link(root, "sys/bus/usb/devices/1-0:1.0", "../../../devices/pci0000:00/0000:00:1f.2/usb1/1-0:1.0");
        write(root, "usr/share/misc/pci.ids", "# test\n8086  Intel Corporation\n\t2922  82801IR/IO/IH (ICH9R/DO/DH) 6 port SATA Controller [AHCI mode]\n\t\t1af4 1100  QEMU\n10c9x  bad\nC 00  Unclassified\n");
    }

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("oxvirt-nodedev-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("tmp");
        d
    }

    #[test]
    fn enumerates_fixture_tree_with_libvirt_names_and_parents() {
        let root = tmp("enum");
        fixture(&root);
        let devs = node_devices_at(&root);
        let names: Vec<&str> = devs.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "computer",
                "block_vda_disk_1",
                "net_eth0_52_54_00_12_34_56",
                "net_lo_00_00_00_00_00_00",
                "pci_0000_00_02_0",
                "pci_0000_00_02_1",
                "pci_0000_00_1f_2",
                "usb_1_0_1_0",
                "usb_usb1",
            ]
        );
        let get = |n: &str| devs.iter().find(|d| d.name == n).expect(n);
        assert_eq!(get("net_eth0_52_54_00_12_34_56").parent_name(), Some("pci_0000_00_02_0"));
        assert_eq!(get("net_lo_00_00_00_00_00_00").parent_name(), Some("computer"));
        assert_eq!(get("block_vda_disk_1").parent_name(), Some("pci_0000_00_1f_2"));
        assert_eq!(get("usb_1_0_1_0").parent_name(), Some("usb_usb1"));
        assert_eq!(get("computer").parent_name(), None);

        let sata = get("pci_0000_00_1f_2").to_xml_string();
        for want in [
            "<path>/sys/devices/pci0000:00/0000:00:1f.2</path>",
            "<parent>computer</parent>",
            "<driver>\n    <name>ahci</name>\n  </driver>",
            "<class>0x010601</class>",
            "<slot>31</slot>",
            "<function>2</function>",
            "<product id='0x2922'>82801IR/IO/IH (ICH9R/DO/DH) 6 port SATA Controller [AHCI mode]</product>",
            "<vendor id='0x8086'>Intel Corporation</vendor>",
            "<iommuGroup number='3'>\n      <address domain='0x0000' bus='0x00' slot='0x1f' function='0x0'/>\n      <address domain='0x0000' bus='0x00' slot='0x1f' function='0x2'/>",
            "<link validity='cap' port='2' speed='8' width='4'/>",
            "<link validity='sta' speed='5' width='1'/>",
        ] {
            assert!(sata.contains(want), "missing {want} in\n{sata}");
        }
        assert!(!sata.contains("<numa"), "{sata}");
        let pf = get("pci_0000_00_02_0").to_xml_string();
        assert!(pf.contains("<capability type='virt_functions' maxCount='7'>\n      <address domain='0x0000' bus='0x00' slot='0x02' function='0x1'/>"), "{pf}");
        assert!(
            pf.contains("<numa node='0'/>") && pf.contains("<vendor id='0x8086'>Intel Corporation</vendor>"),
            "{pf}"
        );
        assert!(pf.contains("<product id='0x10c9'/>"), "{pf}");
        let vf = get("pci_0000_00_02_1").to_xml_string();
        assert!(vf.contains("<capability type='phys_function'>\n      <address domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>"), "{vf}");
        let eth = get("net_eth0_52_54_00_12_34_56").to_xml_string();
        assert!(eth.contains("<interface>eth0</interface>\n    <address>52:54:00:12:34:56</address>\n    <link speed='1000' state='up'/>\n    <capability type='80203'/>"), "{eth}");
        let vda = get("block_vda_disk_1").to_xml_string();
        assert!(vda.contains("<devnode type='dev'>/dev/vda</devnode>"), "{vda}");
        assert!(vda.contains("<block>/dev/vda</block>\n    <drive_type>disk</drive_type>\n    <serial>disk-1</serial>\n    <size>1073741824</size>\n    <logical_block_size>512</logical_block_size>\n    <num_blocks>2097152</num_blocks>"), "{vda}");
        let hub = get("usb_usb1").to_xml_string();
        assert!(hub.contains("<bus>1</bus>\n    <device>1</device>\n    <product id='0x0002'>2.0 root hub</product>\n    <vendor id='0x1d6b'>Linux Foundation</vendor>"), "{hub}");
        let intf = get("usb_1_0_1_0").to_xml_string();
        assert!(intf.contains("<class>9</class>"), "{intf}");
        let comp = get("computer").to_xml_string();
        assert!(
            comp.contains("<product>ThinkPad</product>")
                && comp.contains("<uuid>3d1219c7-c4c5-404a-aa1f-6d2a48adfda4</uuid>")
                && comp.contains("<release_date>02/05/2008</release_date>"),
            "{comp}"
        );
        // everything we produce parses back without warnings
        for d in &devs {
            let xml = d.to_xml_string();
            let (back, warnings) =
                oxvirt_xml::parse_document::<NodeDevice>(&xml, Default::default()).expect("re-parses");
            assert!(warnings.is_empty(), "{xml}");
            assert_eq!(&back, d);
        }
        let tree = children_by_parent(&devs);
        assert_eq!(tree["computer"].len(), 4, "{tree:?}");
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn missing_pci_ids_leaves_names_out() {
        let root = tmp("noids");
        fixture(&root);
        fs::remove_file(root.join("usr/share/misc/pci.ids")).expect("rm");
        let d = node_device_at(&root, "pci_0000_00_1f_2").expect("sata");
        assert!(d.to_xml_string().contains("<vendor id='0x8086'/>"));
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn names_are_mangled_like_libvirt() {
        assert_eq!(device_name("pci", "0000:00:1f.2", None), "pci_0000_00_1f_2");
        assert_eq!(device_name("net", "eth0", Some("52:54:00:12:34:56")), "net_eth0_52_54_00_12_34_56");
        assert_eq!(device_name("usb", "1-1:1.0", None), "usb_1_1_1_0");
    }

    #[test]
    fn scsi_hosts_targets_and_luns() {
        let root = tmp("scsi");
        let host = "sys/devices/pci0000:00/0000:00:1f.2/host0";
        write(&root, &format!("{host}/uevent"), "DEVTYPE=scsi_host\n");
        write(&root, "sys/class/scsi_host/host0/unique_id", "7\n");
        write(&root, "sys/class/fc_host/host0/node_name", "0x2000000012341234\n");
        write(&root, "sys/class/fc_host/host0/port_name", "0x1000000012341234\n");
        write(&root, "sys/class/fc_host/host0/max_npiv_vports", "127\n");
        write(&root, "sys/class/fc_host/host0/npiv_vports_inuse", "1\n");
        let target = format!("{host}/target0:0:1");
        write(&root, &format!("{target}/uevent"), "DEVTYPE=scsi_target\n");
        let lun = format!("{target}/0:0:1:0");
        write(&root, &format!("{lun}/uevent"), "DEVTYPE=scsi_device\n");
        write(&root, &format!("{lun}/type"), "5\n");
        for (n, t) in [("host0", host.to_string()), ("target0:0:1", target.clone()), ("0:0:1:0", lun.clone())] {
            link(&root, &format!("sys/bus/scsi/devices/{n}"), &format!("../../../{}", t.trim_start_matches("sys/")));
        }
        let devs = node_devices_at(&root);
        let get = |n: &str| devs.iter().find(|d| d.name == n).unwrap_or_else(|| panic!("{n} in {devs:?}"));
        let h = get("scsi_host0").to_xml_string();
        assert!(h.contains("<host>0</host>\n    <unique_id>7</unique_id>\n    <capability type='fc_host'>\n      <wwnn>2000000012341234</wwnn>"), "{h}");
        assert!(h.contains("<max_vports>127</max_vports>\n      <vports>1</vports>"), "{h}");
        assert_eq!(get("scsi_target0_0_1").parent_name(), Some("scsi_host0"));
        let l = get("scsi_0_0_1_0");
        assert_eq!(l.parent_name(), Some("scsi_target0_0_1"));
        assert!(l.to_xml_string().contains("<lun>0</lun>\n    <type>cdrom</type>"), "{}", l.to_xml_string());
        assert!(get("scsi_host0").has_cap("fc_host") && get("scsi_host0").has_cap("vports"));
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn real_host_enumerates_and_validates() {
        let devs = node_devices();
        assert_eq!(devs[0].name, "computer");
        // the loopback interface always offloads transmit checksums and scatter-gather
        if let Some(lo) = devs.iter().find(|d| d.name == "net_lo_00_00_00_00_00_00") {
            let x = lo.to_xml_string();
            assert!(x.contains("<feature name='tx'/>") && x.contains("<feature name='sg'/>"), "{x}");
        }
        for d in &devs {
            let xml = d.to_xml_string();
            oxvirt_xml::parse_document::<NodeDevice>(&xml, oxvirt_xml::ParseOptions { validate: true }).expect("valid");
        }
    }
}
