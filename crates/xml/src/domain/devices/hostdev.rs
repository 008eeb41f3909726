//! `<hostdev>`: a host device given to the guest — PCI, USB, SCSI (local or iSCSI), vhost-scsi,
//! mediated devices (subsystem mode), or, for containers, block/char/net devices (capabilities
//! mode).
//!
//! The element is flat as in libvirt; which attributes and `<source>` children apply depends on
//! `type` (checked by [`Hostdev::validate`]).

use crate::{El, FromXml, Hex, OnOff, ToXml, Writer, Xml, XmlError, XmlValue, YesNo};

use super::common::{DeviceInfo, Initiator, StorageAuth, VirtioModel};
use super::disk::{Sgio, StartupPolicy};
use super::interface::{InterfaceIp, Teaming};
use crate::network::Route;

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Hostdev {
    /// Absent means `subsystem`.
    #[xml(attr = "mode")]
    pub mode: Option<HostdevMode>,
    #[xml(attr = "type")]
    pub kind: HostdevType,
    /// Detach the device from its host driver automatically.
    #[xml(attr = "managed")]
    pub managed: Option<YesNo>,
    /// scsi
    #[xml(attr = "sgio")]
    pub sgio: Option<Sgio>,
    /// scsi
    #[xml(attr = "rawio")]
    pub rawio: Option<YesNo>,
    /// scsi_host (virtio flavours) or mdev (vfio-pci, vfio-ccw, vfio-ap).
    #[xml(attr = "model")]
    pub model: Option<HostdevModel>,
    /// mdev: use the device as the guest's display.
    #[xml(attr = "display")]
    pub display: Option<OnOff>,
    /// mdev: also expose a ramfb boot display.
    #[xml(attr = "ramfb")]
    pub ramfb: Option<OnOff>,
    /// pci: which host driver backend assigns it.
    #[xml(child = "driver")]
    pub driver: Option<HostdevDriver>,
    #[xml(child = "source")]
    pub source: HostdevSource,
    /// capabilities/net: addresses and routes inside the container.
    #[xml(child = "ip")]
    pub ips: Vec<InterfaceIp>,
    #[xml(child = "route")]
    pub routes: Vec<Route>,
    #[xml(child = "teaming")]
    pub teaming: Option<Teaming>,
    #[xml(flag = "readonly")]
    pub readonly: bool,
    #[xml(flag = "shareable")]
    pub shareable: bool,
    #[xml(flatten)]
    pub info: DeviceInfo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum HostdevMode {
    Subsystem,
    Capabilities,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum HostdevType {
    // subsystem
    #[default]
    Pci,
    Usb,
    Scsi,
    #[xml(rename = "scsi_host")]
    ScsiHost,
    Mdev,
    // capabilities
    Storage,
    Misc,
    Net,
}

impl HostdevType {
    pub fn is_capabilities(self) -> bool {
        matches!(self, HostdevType::Storage | HostdevType::Misc | HostdevType::Net)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum HostdevModel {
    Virtio,
    VirtioTransitional,
    VirtioNonTransitional,
    VfioPci,
    VfioCcw,
    VfioAp,
}

impl From<VirtioModel> for HostdevModel {
    fn from(m: VirtioModel) -> Self {
        match m {
            VirtioModel::Virtio => HostdevModel::Virtio,
            VirtioModel::VirtioTransitional => HostdevModel::VirtioTransitional,
            VirtioModel::VirtioNonTransitional => HostdevModel::VirtioNonTransitional,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum HostdevBackend {
    Kvm,
    Vfio,
    Xen,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct HostdevDriver {
    #[xml(attr = "name")]
    pub name: Option<HostdevBackend>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum UsbGuestReset {
    Off,
    Uninitialized,
    On,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
#[xml(rename_all = "snake_case")]
pub enum HostdevProtocol {
    /// scsi: a local SCSI host adapter (the default).
    Adapter,
    /// scsi: an iSCSI LUN.
    Iscsi,
    /// scsi_host: a vhost-scsi target.
    Vhost,
}

/// `<source>` of a hostdev: flat, like libvirt's; the hostdev `type` decides what applies.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct HostdevSource {
    #[xml(attr = "startupPolicy")]
    pub startup_policy: Option<StartupPolicy>,
    /// usb, live XML: the device is currently unplugged from the host.
    #[xml(attr = "missing")]
    pub missing: Option<YesNo>,
    #[xml(attr = "guestReset")]
    pub guest_reset: Option<UsbGuestReset>,
    /// pci (Xen): filter guest writes to config space.
    #[xml(attr = "writeFiltering")]
    pub write_filtering: Option<YesNo>,
    #[xml(attr = "protocol")]
    pub protocol: Option<HostdevProtocol>,
    /// iscsi: target IQN/LUN.
    #[xml(attr = "name")]
    pub name: Option<String>,
    /// scsi_host: vhost-scsi WWPN (`naa.` + 16 hex digits).
    #[xml(attr = "wwpn")]
    pub wwpn: Option<String>,
    #[xml(child = "vendor")]
    pub vendor: Option<UsbId>,
    #[xml(child = "product")]
    pub product: Option<UsbId>,
    /// scsi: host adapter.
    #[xml(child = "adapter")]
    pub adapter: Option<ScsiAdapter>,
    #[xml(child = "address")]
    pub address: Option<HostdevAddress>,
    /// pci, status XML: how to restore the device on the host.
    #[xml(child = "origstates")]
    pub origstates: Option<OrigStates>,
    /// iscsi servers.
    #[xml(child = "host")]
    pub hosts: Vec<IscsiHost>,
    #[xml(child = "auth")]
    pub auth: Option<StorageAuth>,
    #[xml(child = "initiator")]
    pub initiator: Option<Initiator>,
    /// capabilities/storage
    #[xml(child_text = "block")]
    pub block: Option<String>,
    /// capabilities/misc
    #[xml(child_text = "char")]
    pub char_dev: Option<String>,
    /// capabilities/net
    #[xml(child_text = "interface")]
    pub interface: Option<String>,
}

/// `<vendor id='0x1234'/>` / `<product id=...>` of a USB device.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct UsbId {
    #[xml(attr = "id")]
    pub id: Hex<4>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct ScsiAdapter {
    #[xml(attr = "name")]
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct IscsiHost {
    #[xml(attr = "name")]
    pub name: String,
    #[xml(attr = "port")]
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct OrigStates {
    #[xml(flag = "unbind")]
    pub unbind: bool,
    #[xml(flag = "removeslot")]
    pub removeslot: bool,
    #[xml(flag = "reprobe")]
    pub reprobe: bool,
}

/// The host-side `<address>` inside a hostdev `<source>`. Its shape follows the device: PCI
/// (`domain`/`bus`/`slot`/`function`, hex), USB (`bus`/`device`), SCSI (`bus`/`target`/`unit`)
/// or mdev (`uuid`). Formatting picks the shape from the attributes present.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostdevAddress {
    /// Optional `type='pci'|'usb'|'scsi'` some callers write.
    pub kind: Option<String>,
    pub domain: Option<u32>,
    pub bus: Option<u32>,
    pub slot: Option<u32>,
    pub function: Option<u32>,
    pub device: Option<u32>,
    pub target: Option<u32>,
    pub unit: Option<u64>,
    pub uuid: Option<uuid::Uuid>,
}

impl FromXml for HostdevAddress {
    fn from_xml(el: &mut El<'_, '_>) -> Result<Self, XmlError> {
        Ok(HostdevAddress {
            kind: el.attr_opt("type")?,
            domain: el.attr_opt("domain")?,
            bus: el.attr_opt("bus")?,
            slot: el.attr_opt("slot")?,
            function: el.attr_opt("function")?,
            device: el.attr_opt("device")?,
            target: el.attr_opt("target")?,
            unit: el.attr_opt("unit")?,
            uuid: el.attr_opt("uuid")?,
        })
    }
}

impl ToXml for HostdevAddress {
    fn write_attrs(&self, w: &mut Writer) {
        if let Some(k) = &self.kind {
            w.attr("type", k);
        }
        let dec = |w: &mut Writer, n: &str, v: Option<u64>| {
            if let Some(v) = v {
                w.attr(n, &v.to_string());
            }
        };
        if let Some(u) = &self.uuid {
            w.attr("uuid", &u.to_xml_value());
        } else if self.device.is_some() {
            dec(w, "bus", self.bus.map(u64::from));
            dec(w, "device", self.device.map(u64::from));
        } else if self.target.is_some() || self.unit.is_some() {
            dec(w, "bus", self.bus.map(u64::from));
            dec(w, "target", self.target.map(u64::from));
            dec(w, "unit", self.unit);
        } else {
            if let Some(v) = self.domain {
                w.attr("domain", &format!("0x{v:04x}"));
            }
            if let Some(v) = self.bus {
                w.attr("bus", &format!("0x{v:02x}"));
            }
            if let Some(v) = self.slot {
                w.attr("slot", &format!("0x{v:02x}"));
            }
            if let Some(v) = self.function {
                w.attr("function", &format!("0x{v:x}"));
            }
        }
    }
    fn write_content(&self, _: &mut Writer) {}
}

impl Hostdev {
    /// Checks the rules that tie attributes and source contents to `mode` and `type`.
    pub fn validate(&self, path: &str) -> Result<(), XmlError> {
        let caps = self.mode == Some(HostdevMode::Capabilities);
        if caps != self.kind.is_capabilities() {
            return Err(XmlError::invalid(
                path,
                format!(
                    "invalid value '{}' for attribute 'type' in mode '{}'",
                    self.kind,
                    if caps { "capabilities" } else { "subsystem" }
                ),
            ));
        }
        let model_ok = match (self.kind, self.model) {
            (_, None) => self.kind != HostdevType::Mdev,
            (HostdevType::ScsiHost, Some(m)) => {
                matches!(
                    m,
                    HostdevModel::Virtio | HostdevModel::VirtioTransitional | HostdevModel::VirtioNonTransitional
                )
            }
            (HostdevType::Mdev, Some(m)) => {
                matches!(m, HostdevModel::VfioPci | HostdevModel::VfioCcw | HostdevModel::VfioAp)
            }
            _ => false,
        };
        if !model_ok {
            return Err(match self.model {
                None => XmlError::invalid(path, "mdev hostdev needs attribute 'model'"),
                Some(m) => XmlError::invalid(
                    path,
                    format!("invalid value '{m}' for attribute 'model' of a '{}' hostdev", self.kind),
                ),
            });
        }
        let src = &self.source;
        let missing = match self.kind {
            HostdevType::Pci => src.address.is_none().then_some("<address>"),
            HostdevType::Usb => (src.address.is_none() && src.vendor.is_none()).then_some("<vendor> or <address>"),
            HostdevType::Scsi => match src.protocol {
                Some(HostdevProtocol::Iscsi) => src.hosts.is_empty().then_some("<host>"),
                _ => (src.adapter.is_none() || src.address.is_none()).then_some("<adapter> and <address>"),
            },
            HostdevType::ScsiHost => src.wwpn.is_none().then_some("attribute 'wwpn'"),
            HostdevType::Mdev => src.address.as_ref().is_none_or(|a| a.uuid.is_none()).then_some("<address uuid=...>"),
            HostdevType::Storage => src.block.is_none().then_some("<block>"),
            HostdevType::Misc => src.char_dev.is_none().then_some("<char>"),
            HostdevType::Net => src.interface.is_none().then_some("<interface>"),
        };
        match missing {
            Some(what) => {
                Err(XmlError::invalid(format!("{path}/source"), format!("{} hostdev source needs {what}", self.kind)))
            }
            None => Ok(()),
        }
    }
}
