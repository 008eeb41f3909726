//! Host devices (`<device>`, `virsh nodedev-dumpxml`): a device's identity, its parent, its driver
//! and what it is (`<capability type=...>`).
//!
//! A capability's content depends entirely on its `type`, so capabilities are enums whose variants
//! are plain derived structs; the enum reads `type` and hands the rest of the element to the
//! variant. Nested capabilities (a PCI function's SR-IOV links, a NIC's 802.x kind, an HBA's FC
//! port) work the same way. Fields are in libvirt's output order; repeated nested capabilities are
//! put in libvirt's order after parsing so output is canonical whatever the input order.

use std::borrow::Cow;

use crate::core::{El, FromXml, ToXml, Writer};
use crate::{Empty, Hex, Xml, XmlDocument, XmlError, XmlValue};

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct NodeDevice {
    #[xml(child_text = "name")]
    pub name: String,
    /// sysfs path of the device.
    #[xml(child_text = "path")]
    pub path: Option<String>,
    /// The `/dev` node (`type='dev'`) and its udev symlinks (`type='link'`).
    #[xml(child = "devnode")]
    pub devnodes: Vec<Devnode>,
    #[xml(child = "parent")]
    pub parent: Option<Parent>,
    #[xml(child = "driver")]
    pub driver: Option<DeviceDriver>,
    #[xml(child = "capability")]
    pub capabilities: Vec<Capability>,
}

impl XmlDocument for NodeDevice {
    const ROOT: &'static str = "device";

    fn post_parse(&mut self) -> Result<(), XmlError> {
        if self.name.trim().is_empty() {
            return Err(XmlError::invalid("/device/name", "a device needs a name"));
        }
        crate::names::check_at(crate::names::Kind::NodeDevice, &self.name, "/device/name")?;
        self.devnodes.sort_by_key(|d| d.kind != DevnodeType::Dev);
        if self.devnodes.iter().filter(|d| d.kind == DevnodeType::Dev).count() > 1 {
            return Err(XmlError::invalid("/device/devnode", "only one devnode of type 'dev' is allowed"));
        }
        for cap in &mut self.capabilities {
            cap.post_parse()?;
        }
        Ok(())
    }
}

impl NodeDevice {
    /// Parent device name, when the parent is given by name (not by FC WWNs).
    pub fn parent_name(&self) -> Option<&str> {
        self.parent.as_ref().and_then(|p| p.name.as_deref())
    }

    /// The capability type names this device answers to in a `--cap` filter, nested ones included
    /// (an HBA is also `fc_host`/`vports`, a mediated-device parent is also `mdev_types`).
    pub fn cap_names(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for c in &self.capabilities {
            out.push(c.type_name());
            match c {
                Capability::ScsiHost(h) => {
                    for s in &h.capabilities {
                        out.push(match s {
                            ScsiHostSubCap::FcHost(_) => "fc_host",
                            ScsiHostSubCap::VportOps(_) => "vports",
                        });
                    }
                }
                Capability::Pci(p) => {
                    for s in &p.capabilities {
                        match s {
                            PciSubCap::MdevTypes(_) => out.push("mdev_types"),
                            PciSubCap::Vpd(_) => out.push("vpd"),
                            _ => {}
                        }
                    }
                }
                Capability::Css(c) if c.mdev_types.is_some() => out.push("mdev_types"),
                Capability::ApMatrix(a) if a.mdev_types.is_some() => out.push("mdev_types"),
                _ => {}
            }
        }
        out
    }

    pub fn has_cap(&self, name: &str) -> bool {
        self.cap_names().contains(&name)
    }
}

/// Every capability type name `virsh nodedev-list --cap` accepts.
pub const CAP_TYPES: &[&str] = &[
    "system",
    "pci",
    "usb_device",
    "usb",
    "net",
    "scsi_host",
    "scsi_target",
    "scsi",
    "storage",
    "fc_host",
    "vports",
    "scsi_generic",
    "drm",
    "mdev_types",
    "mdev",
    "ccw",
    "css",
    "vdpa",
    "ap_card",
    "ap_queue",
    "ap_matrix",
    "vpd",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum DevnodeType {
    Dev,
    Link,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct Devnode {
    #[xml(attr = "type")]
    pub kind: DevnodeType,
    #[xml(text)]
    pub path: String,
}

/// `<parent>`: a device name, or (when creating a vHBA) the parent HBA's FC names.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Parent {
    #[xml(attr = "wwnn")]
    pub wwnn: Option<String>,
    #[xml(attr = "wwpn")]
    pub wwpn: Option<String>,
    #[xml(attr = "fabric_wwn")]
    pub fabric_wwn: Option<String>,
    #[xml(text)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct DeviceDriver {
    #[xml(child_text = "name")]
    pub name: String,
}

/// Declares an enum over `<capability type='...'>` whose variants hold derived structs.
macro_rules! typed_caps {
    ($(#[$m:meta])* $name:ident { $($variant:ident($inner:ty) = $tag:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq)]
        pub enum $name {
            $($variant($inner),)*
        }

        impl $name {
            pub fn type_name(&self) -> &'static str {
                match self {
                    $($name::$variant(_) => $tag,)*
                }
            }

            /// Position in libvirt's output order.
            #[allow(dead_code)]
            fn rank(&self) -> usize {
                [$($tag,)*].iter().position(|t| *t == self.type_name()).unwrap_or(usize::MAX)
            }
        }

        impl FromXml for $name {
            fn from_xml(el: &mut El<'_, '_>) -> Result<Self, XmlError> {
                let (kind, at) = el
                    .take_attr("type")
                    .ok_or_else(|| XmlError::MissingAttribute { at: el.location(), attr: "type".into() })?;
                match kind.trim() {
                    $($tag => Ok($name::$variant(<$inner>::from_xml(el)?)),)*
                    _ => Err(XmlError::InvalidAttribute {
                        at,
                        attr: "type".into(),
                        value: kind.clone(),
                        reason: format!("expected one of: {}", [$($tag,)*].join(", ")),
                    }),
                }
            }
        }

        impl ToXml for $name {
            fn write_attrs(&self, w: &mut Writer) {
                w.attr("type", self.type_name());
                match self {
                    $($name::$variant(v) => v.write_attrs(w),)*
                }
            }
            fn write_content(&self, w: &mut Writer) {
                match self {
                    $($name::$variant(v) => v.write_content(w),)*
                }
            }
        }
    };
}

typed_caps! {
    /// What a device is; a device may have several (a PCI NIC's `net` device is separate, though).
    Capability {
        System(SystemCap) = "system",
        Pci(PciCap) = "pci",
        UsbDevice(UsbDeviceCap) = "usb_device",
        Usb(UsbInterfaceCap) = "usb",
        Net(NetCap) = "net",
        ScsiHost(ScsiHostCap) = "scsi_host",
        ScsiTarget(ScsiTargetCap) = "scsi_target",
        Scsi(ScsiCap) = "scsi",
        Storage(StorageCap) = "storage",
        ScsiGeneric(ScsiGenericCap) = "scsi_generic",
        Drm(DrmCap) = "drm",
        Mdev(MdevCap) = "mdev",
        Ccw(CcwAddress) = "ccw",
        Css(CssCap) = "css",
        Vdpa(VdpaCap) = "vdpa",
        ApCard(ApCardCap) = "ap_card",
        ApQueue(ApQueueCap) = "ap_queue",
        ApMatrix(ApMatrixCap) = "ap_matrix",
    }
}

impl Capability {
    fn post_parse(&mut self) -> Result<(), XmlError> {
        let at = format!("/device/capability[@type='{}']", self.type_name());
        match self {
            Capability::Pci(p) => {
                p.capabilities.sort_by_key(PciSubCap::rank);
                for pair in p.capabilities.windows(2) {
                    if pair[0].rank() == pair[1].rank() {
                        return Err(XmlError::invalid(at, format!("repeated capability '{}'", pair[0].type_name())));
                    }
                }
            }
            Capability::ScsiHost(h) => h.capabilities.sort_by_key(ScsiHostSubCap::rank),
            Capability::Ccw(a) => a.check(&at)?,
            Capability::Css(c) => {
                c.address.check(&at)?;
                if let Some(a) = &c.channel_dev_addr {
                    a.check(&format!("{at}/channel_dev_addr"))?;
                }
            }
            Capability::ApQueue(q) if q.domain.0 > 255 => {
                return Err(XmlError::invalid(
                    at,
                    format!("ap-domain 0x{:x} is out of range (at most 0xff)", q.domain.0),
                ));
            }
            _ => {}
        }
        Ok(())
    }
}

// ---- system ----

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct SystemCap {
    #[xml(child_text = "product")]
    pub product: Option<String>,
    #[xml(child = "hardware")]
    pub hardware: SystemHardware,
    #[xml(child = "firmware", default)]
    pub firmware: SystemFirmware,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct SystemHardware {
    #[xml(child_text = "vendor")]
    pub vendor: Option<String>,
    #[xml(child_text = "version")]
    pub version: Option<String>,
    #[xml(child_text = "serial")]
    pub serial: Option<String>,
    #[xml(child_text = "uuid")]
    pub uuid: uuid::Uuid,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct SystemFirmware {
    #[xml(child_text = "vendor")]
    pub vendor: Option<String>,
    #[xml(child_text = "version")]
    pub version: Option<String>,
    #[xml(child_text = "release_date")]
    pub release_date: Option<String>,
}

// ---- pci ----

/// A numeric id with its human-readable name (`<product id='0x10ca'>82576 Virtual Function</product>`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct IdName {
    #[xml(attr = "id")]
    pub id: Hex<4>,
    #[xml(text)]
    pub name: Option<String>,
}

/// A PCI address as libvirt prints it in node devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Xml)]
pub struct PciAddress {
    #[xml(attr = "domain")]
    pub domain: Hex<4>,
    #[xml(attr = "bus")]
    pub bus: Hex<2>,
    #[xml(attr = "slot")]
    pub slot: Hex<2>,
    #[xml(attr = "function")]
    pub function: Hex<1>,
}

impl PciAddress {
    pub fn new(domain: u32, bus: u32, slot: u32, function: u32) -> Self {
        PciAddress { domain: Hex(domain), bus: Hex(bus), slot: Hex(slot), function: Hex(function) }
    }

    /// Parses sysfs' `0000:00:1f.2`.
    pub fn parse_bdf(s: &str) -> Option<Self> {
        let (dom, rest) = s.split_once(':')?;
        let (bus, rest) = rest.split_once(':')?;
        let (slot, func) = rest.split_once('.')?;
        Some(PciAddress::new(
            u32::from_str_radix(dom, 16).ok()?,
            u32::from_str_radix(bus, 16).ok()?,
            u32::from_str_radix(slot, 16).ok()?,
            u32::from_str_radix(func, 16).ok()?,
        ))
    }

    /// libvirt's device name for this function: `pci_0000_00_1f_2`.
    pub fn device_name(&self) -> String {
        format!("pci_{:04x}_{:02x}_{:02x}_{:x}", self.domain.0, self.bus.0, self.slot.0, self.function.0)
    }
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct PciCap {
    /// Class code (base class, subclass, programming interface).
    #[xml(child_text = "class")]
    pub class: Option<Hex<6>>,
    #[xml(child_text = "domain")]
    pub domain: u32,
    #[xml(child_text = "bus")]
    pub bus: u32,
    #[xml(child_text = "slot")]
    pub slot: u32,
    #[xml(child_text = "function")]
    pub function: u32,
    #[xml(child = "product")]
    pub product: IdName,
    #[xml(child = "vendor")]
    pub vendor: IdName,
    #[xml(child = "capability")]
    pub capabilities: Vec<PciSubCap>,
    #[xml(child = "iommuGroup")]
    pub iommu_group: Option<IommuGroup>,
    #[xml(child = "numa")]
    pub numa: Option<NumaNode>,
    #[xml(child = "pci-express")]
    pub pci_express: Option<PciExpress>,
}

typed_caps! {
    /// What else a PCI function is: an SR-IOV PF/VF, a bridge, a mediated-device parent, VPD.
    PciSubCap {
        PhysFunction(PhysFunction) = "phys_function",
        VirtFunctions(VirtFunctions) = "virt_functions",
        PciBridge(Empty) = "pci-bridge",
        CardbusBridge(Empty) = "cardbus-bridge",
        MdevTypes(MdevTypeList) = "mdev_types",
        Vpd(Vpd) = "vpd",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct PhysFunction {
    #[xml(child = "address")]
    pub address: Option<PciAddress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct VirtFunctions {
    /// How many VFs the PF can have (`sriov_totalvfs`).
    #[xml(attr = "maxCount")]
    pub max_count: Option<u32>,
    #[xml(child = "address")]
    pub addresses: Vec<PciAddress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct IommuGroup {
    #[xml(attr = "number")]
    pub number: u32,
    #[xml(child = "address")]
    pub addresses: Vec<PciAddress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct NumaNode {
    #[xml(attr = "node")]
    pub node: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct PciExpress {
    #[xml(child = "link")]
    pub links: Vec<PciLink>,
}

/// `cap`: what the link can do; `sta`: what it negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum LinkValidity {
    Cap,
    Sta,
}

/// Per-lane transfer rate in GT/s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum PcieSpeed {
    #[xml(rename = "2.5")]
    Gen1,
    #[xml(rename = "5")]
    Gen2,
    #[xml(rename = "8")]
    Gen3,
    #[xml(rename = "16")]
    Gen4,
    #[xml(rename = "32")]
    Gen5,
    #[xml(rename = "64")]
    Gen6,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct PciLink {
    #[xml(attr = "validity")]
    pub validity: LinkValidity,
    #[xml(attr = "port")]
    pub port: Option<u32>,
    #[xml(attr = "speed")]
    pub speed: Option<PcieSpeed>,
    #[xml(attr = "width")]
    pub width: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum MdevDeviceApi {
    VfioPci,
    VfioCcw,
    VfioAp,
}

/// A mediated device type a parent can create (`mdev_supported_types/<id>`).
#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct MdevTypeInfo {
    #[xml(attr = "id")]
    pub id: String,
    #[xml(child_text = "name")]
    pub name: Option<String>,
    #[xml(child_text = "deviceAPI")]
    pub device_api: MdevDeviceApi,
    #[xml(child_text = "availableInstances")]
    pub available_instances: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct MdevTypeList {
    #[xml(child = "type")]
    pub types: Vec<MdevTypeInfo>,
}

typed_caps! {
    /// `<capability type='mdev_types'>` where it is the only nested capability (css, ap_matrix).
    MdevTypesCap {
        MdevTypes(MdevTypeList) = "mdev_types",
    }
}

/// PCI Vital Product Data.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Vpd {
    #[xml(child_text = "name")]
    pub name: String,
    #[xml(child = "fields")]
    pub fields: Vec<VpdFields>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum VpdAccess {
    Readonly,
    Readwrite,
}

/// One VPD section; the read-only one has the manufacturer's keywords, the read-write one the
/// asset tag and system fields.
#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct VpdFields {
    #[xml(attr = "access")]
    pub access: VpdAccess,
    #[xml(child_text = "change_level")]
    pub change_level: Option<String>,
    #[xml(child_text = "manufacture_id")]
    pub manufacture_id: Option<String>,
    #[xml(child_text = "part_number")]
    pub part_number: Option<String>,
    #[xml(child_text = "serial_number")]
    pub serial_number: Option<String>,
    #[xml(child_text = "asset_tag")]
    pub asset_tag: Option<String>,
    #[xml(child = "vendor_field")]
    pub vendor_fields: Vec<VpdField>,
    #[xml(child = "system_field")]
    pub system_fields: Vec<VpdField>,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct VpdField {
    #[xml(attr = "index")]
    pub index: String,
    #[xml(text)]
    pub value: Option<String>,
}

// ---- usb ----

/// A USB device. Hand-written output: libvirt writes a nameless id as `<vendor id='0x1d6b' />`
/// (a space before `/>`), and virsh users diff that text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsbDeviceCap {
    pub bus: u32,
    pub device: u32,
    pub product: IdName,
    pub vendor: IdName,
}

impl FromXml for UsbDeviceCap {
    fn from_xml(el: &mut El<'_, '_>) -> Result<Self, XmlError> {
        Ok(UsbDeviceCap {
            bus: el.child_text_req("bus")?,
            device: el.child_text_req("device")?,
            product: el.child_req("product")?,
            vendor: el.child_req("vendor")?,
        })
    }
}

impl ToXml for UsbDeviceCap {
    fn write_attrs(&self, _: &mut Writer) {}
    fn write_content(&self, w: &mut Writer) {
        w.text_element("bus", &self.bus.to_string());
        w.text_element("device", &self.device.to_string());
        for (tag, v) in [("product", &self.product), ("vendor", &self.vendor)] {
            match &v.name {
                Some(_) => w.element(tag, v),
                None => w.raw(&format!("<{tag} id='{}' />", v.id.to_xml_value())),
            }
        }
    }
}

/// One interface of a USB device.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct UsbInterfaceCap {
    #[xml(child_text = "number")]
    pub number: u32,
    #[xml(child_text = "class")]
    pub class: u32,
    #[xml(child_text = "subclass")]
    pub subclass: u32,
    #[xml(child_text = "protocol")]
    pub protocol: u32,
    #[xml(child_text = "description")]
    pub description: Option<String>,
}

// ---- net ----

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct NetCap {
    #[xml(child_text = "interface")]
    pub interface: String,
    #[xml(child_text = "address")]
    pub address: Option<String>,
    #[xml(child = "link")]
    pub link: Option<NetLink>,
    #[xml(child = "feature")]
    pub features: Vec<NetFeature>,
    #[xml(child = "capability")]
    pub capabilities: Vec<NetSubCap>,
}

/// Operational state as in `/sys/class/net/*/operstate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum LinkState {
    Unknown,
    Notpresent,
    Down,
    Lowerlayerdown,
    Testing,
    Dormant,
    Up,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct NetLink {
    /// Mbit/s.
    #[xml(attr = "speed")]
    pub speed: Option<u32>,
    #[xml(attr = "state")]
    pub state: Option<LinkState>,
}

/// Offload features libvirt reports (ethtool names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, XmlValue)]
pub enum NetFeatureName {
    Rx,
    Tx,
    Sg,
    Tso,
    Gso,
    Gro,
    Lro,
    Rxvlan,
    Txvlan,
    Ntuple,
    Rxhash,
    Rdma,
    Txudptnl,
    Switchdev,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct NetFeature {
    #[xml(attr = "name")]
    pub name: NetFeatureName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum NetSubCapType {
    #[xml(rename = "80203")]
    Ieee80203,
    #[xml(rename = "80211")]
    Ieee80211,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct NetSubCap {
    #[xml(attr = "type")]
    pub kind: NetSubCapType,
}

// ---- scsi ----

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct ScsiHostCap {
    #[xml(child_text = "host")]
    pub host: u32,
    #[xml(child_text = "unique_id")]
    pub unique_id: Option<u32>,
    #[xml(child = "capability")]
    pub capabilities: Vec<ScsiHostSubCap>,
}

typed_caps! {
    /// A Fibre Channel HBA's port names, and whether it can create vHBAs.
    ScsiHostSubCap {
        FcHost(FcHost) = "fc_host",
        VportOps(VportOps) = "vport_ops",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct FcHost {
    #[xml(child_text = "wwnn")]
    pub wwnn: String,
    #[xml(child_text = "wwpn")]
    pub wwpn: String,
    #[xml(child_text = "fabric_wwn")]
    pub fabric_wwn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct VportOps {
    #[xml(child_text = "max_vports")]
    pub max_vports: u32,
    #[xml(child_text = "vports")]
    pub vports: u32,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct ScsiTargetCap {
    #[xml(child_text = "target")]
    pub target: String,
    #[xml(child = "capability")]
    pub capability: Option<ScsiTargetSubCap>,
}

typed_caps! {
    ScsiTargetSubCap {
        FcRemotePort(FcRemotePort) = "fc_remote_port",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct FcRemotePort {
    #[xml(child_text = "rport")]
    pub rport: String,
    #[xml(child_text = "wwpn")]
    pub wwpn: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct ScsiCap {
    #[xml(child_text = "host")]
    pub host: u32,
    #[xml(child_text = "bus")]
    pub bus: u32,
    #[xml(child_text = "target")]
    pub target: u32,
    #[xml(child_text = "lun")]
    pub lun: u32,
    /// SCSI peripheral type (`disk`, `cdrom`, ...).
    #[xml(child_text = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct ScsiGenericCap {
    #[xml(child_text = "char")]
    pub char_dev: String,
}

// ---- storage ----

/// A block device. Removable drives report their medium inside `<capability type='removable'>`,
/// fixed ones their size directly; hand-written because the two nested capabilities sit at
/// different places in the element.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StorageCap {
    pub block: String,
    pub bus: Option<String>,
    pub drive_type: Option<String>,
    pub model: Option<String>,
    pub vendor: Option<String>,
    pub serial: Option<String>,
    pub removable: Option<RemovableMedia>,
    /// Bytes (fixed drives).
    pub size: Option<u64>,
    pub block_data: BlockData,
    pub hotpluggable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct BlockData {
    #[xml(child_text = "logical_block_size")]
    pub logical_block_size: Option<u64>,
    #[xml(child_text = "num_blocks")]
    pub num_blocks: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct RemovableMedia {
    #[xml(child_text = "media_available")]
    pub media_available: Option<MediaAvailable>,
    #[xml(child_text = "media_size")]
    pub media_size: Option<u64>,
    #[xml(child_text = "media_label")]
    pub media_label: Option<String>,
    #[xml(flatten)]
    pub block_data: BlockData,
}

/// `1` / `0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaAvailable(pub bool);

impl XmlValue for MediaAvailable {
    fn from_xml_value(s: &str) -> Result<Self, String> {
        match s.trim() {
            "1" => Ok(MediaAvailable(true)),
            "0" => Ok(MediaAvailable(false)),
            _ => Err("expected 1 or 0".into()),
        }
    }
    fn to_xml_value(&self) -> Cow<'_, str> {
        Cow::Borrowed(if self.0 { "1" } else { "0" })
    }
}

typed_caps! {
    StorageSubCap {
        Removable(RemovableMedia) = "removable",
        Hotpluggable(Empty) = "hotpluggable",
    }
}

impl FromXml for StorageCap {
    fn from_xml(el: &mut El<'_, '_>) -> Result<Self, XmlError> {
        let mut cap = StorageCap {
            block: el.child_text_req("block")?,
            bus: el.child_text_opt("bus")?,
            drive_type: el.child_text_opt("drive_type")?,
            model: el.child_text_opt("model")?,
            vendor: el.child_text_opt("vendor")?,
            serial: el.child_text_opt("serial")?,
            size: el.child_text_opt("size")?,
            block_data: BlockData::from_xml(el)?,
            ..Default::default()
        };
        for sub in el.child_vec::<StorageSubCap>("capability")? {
            match sub {
                StorageSubCap::Removable(r) if cap.removable.is_none() => cap.removable = Some(r),
                StorageSubCap::Hotpluggable(_) if !cap.hotpluggable => cap.hotpluggable = true,
                other => {
                    return Err(XmlError::invalid(el.path(), format!("repeated capability '{}'", other.type_name())));
                }
            }
        }
        Ok(cap)
    }
}

impl ToXml for StorageCap {
    fn write_attrs(&self, _: &mut Writer) {}
    fn write_content(&self, w: &mut Writer) {
        w.text_element("block", &self.block);
        for (name, v) in [
            ("bus", &self.bus),
            ("drive_type", &self.drive_type),
            ("model", &self.model),
            ("vendor", &self.vendor),
            ("serial", &self.serial),
        ] {
            if let Some(v) = v {
                w.text_element(name, v);
            }
        }
        if let Some(r) = &self.removable {
            w.start("capability");
            w.attr("type", "removable");
            r.write_content(w);
            w.end("capability");
        }
        if let Some(size) = self.size {
            w.text_element("size", &size.to_string());
        }
        self.block_data.write_content(w);
        if self.hotpluggable {
            w.start("capability");
            w.attr("type", "hotpluggable");
            w.end("capability");
        }
    }
}

// ---- drm, mdev, vdpa ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum DrmType {
    Primary,
    Control,
    Render,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct DrmCap {
    #[xml(child_text = "type")]
    pub kind: DrmType,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct MdevTypeRef {
    #[xml(attr = "id")]
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct MdevIommuGroup {
    #[xml(attr = "number")]
    pub number: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct MdevAttr {
    #[xml(attr = "name")]
    pub name: String,
    #[xml(attr = "value")]
    pub value: String,
}

/// A mediated device (a vGPU slice, a vfio-ccw/-ap passthrough).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct MdevCap {
    #[xml(child = "type")]
    pub kind: MdevTypeRef,
    #[xml(child_text = "uuid")]
    pub uuid: Option<uuid::Uuid>,
    /// The parent's address when there may be several parents with the same name (`0000:00:02.0`).
    #[xml(child_text = "parent_addr")]
    pub parent_addr: Option<String>,
    /// libvirt always prints it, 0 when unknown.
    #[xml(child = "iommuGroup", default)]
    pub iommu_group: MdevIommuGroup,
    #[xml(child = "attr")]
    pub attrs: Vec<MdevAttr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct VdpaCap {
    #[xml(child_text = "chardev")]
    pub chardev: String,
}

// ---- s390: ccw, css, ap ----

/// A channel subsystem address (`0.0.ffff`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Xml)]
pub struct CcwAddress {
    #[xml(child_text = "cssid")]
    pub cssid: Hex<0>,
    #[xml(child_text = "ssid")]
    pub ssid: Hex<0>,
    #[xml(child_text = "devno")]
    pub devno: Hex<4>,
}

impl CcwAddress {
    fn check(&self, at: &str) -> Result<(), XmlError> {
        let bad = |what: &str, v: u32, max: u32| {
            XmlError::invalid(at, format!("{what} 0x{v:x} is out of range (at most 0x{max:x})"))
        };
        if self.cssid.0 > 0xfe {
            return Err(bad("cssid", self.cssid.0, 0xfe));
        }
        if self.ssid.0 > 3 {
            return Err(bad("ssid", self.ssid.0, 3));
        }
        if self.devno.0 > 0xffff {
            return Err(bad("devno", self.devno.0, 0xffff));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct CssCap {
    #[xml(flatten)]
    pub address: CcwAddress,
    /// The subchannel's device.
    #[xml(child = "channel_dev_addr")]
    pub channel_dev_addr: Option<CcwAddress>,
    #[xml(child = "capability")]
    pub mdev_types: Option<MdevTypesCap>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct ApCardCap {
    #[xml(child_text = "ap-adapter")]
    pub adapter: Hex<2>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct ApQueueCap {
    #[xml(child_text = "ap-adapter")]
    pub adapter: Hex<2>,
    #[xml(child_text = "ap-domain")]
    pub domain: Hex<4>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct ApMatrixCap {
    #[xml(child = "capability")]
    pub mdev_types: Option<MdevTypesCap>,
}
