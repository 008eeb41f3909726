//! Pieces many devices share.

use crate::{Hex, Xml, XmlValue, YesNo, OnOff};

/// `<address>`: where a device sits on its bus. One flat shape for all address types (pci, drive,
/// virtio-serial, ccid, usb, isa, ccw, dimm, spapr-vio, virtio-mmio, unassigned), because libvirt
/// itself decides the meaning of each attribute by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Address {
    #[xml(attr = "type")]
    pub kind: Option<AddressType>,
    #[xml(attr = "domain")]
    pub domain: Option<Hex<4>>,
    #[xml(attr = "bus")]
    pub bus: Option<Hex<2>>,
    #[xml(attr = "slot")]
    pub slot: Option<Hex<2>>,
    #[xml(attr = "function")]
    pub function: Option<Hex<1>>,
    #[xml(attr = "multifunction")]
    pub multifunction: Option<OnOff>,
    #[xml(attr = "controller")]
    pub controller: Option<u32>,
    #[xml(attr = "target")]
    pub target: Option<u32>,
    #[xml(attr = "unit")]
    pub unit: Option<u32>,
    #[xml(attr = "port")]
    pub port: Option<String>,
    #[xml(attr = "reg")]
    pub reg: Option<Hex<8>>,
    #[xml(attr = "cssid")]
    pub cssid: Option<Hex<1>>,
    #[xml(attr = "ssid")]
    pub ssid: Option<Hex<1>>,
    #[xml(attr = "devno")]
    pub devno: Option<Hex<4>>,
    #[xml(attr = "iobase")]
    pub iobase: Option<Hex<1>>,
    #[xml(attr = "irq")]
    pub irq: Option<Hex<1>>,
    #[xml(attr = "slot_base")]
    pub base: Option<String>,
    #[xml(attr = "base")]
    pub dimm_base: Option<Hex<1>>,
    #[xml(child = "zpci")]
    pub zpci: Option<Zpci>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum AddressType {
    Pci,
    Drive,
    VirtioSerial,
    Ccid,
    Usb,
    SpaprVio,
    Ccw,
    VirtioMmio,
    Isa,
    Dimm,
    Unassigned,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Zpci {
    #[xml(attr = "uid")]
    pub uid: Option<Hex<4>>,
    #[xml(attr = "fid")]
    pub fid: Option<Hex<8>>,
}

/// `<alias name='...'/>`: the device's id on the QEMU command line.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Alias {
    #[xml(attr = "name")]
    pub name: String,
}

/// `<boot order='N'/>`: per-device boot order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct BootOrder {
    #[xml(attr = "order")]
    pub order: u32,
    #[xml(attr = "loadparm")]
    pub loadparm: Option<String>,
}

/// `<acpi index='N'/>`
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Acpi {
    #[xml(attr = "index")]
    pub index: Option<u32>,
}

/// `<rom bar='on' file='...' enabled='yes'/>`
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Rom {
    #[xml(attr = "enabled")]
    pub enabled: Option<YesNo>,
    #[xml(attr = "bar")]
    pub bar: Option<OnOff>,
    #[xml(attr = "file")]
    pub file: Option<String>,
}

/// Virtio transport options shared by every virtio device's `<driver>` (flattened into it).
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct VirtioOptions {
    #[xml(attr = "iommu")]
    pub iommu: Option<OnOff>,
    #[xml(attr = "ats")]
    pub ats: Option<OnOff>,
    #[xml(attr = "packed")]
    pub packed: Option<OnOff>,
    #[xml(attr = "page_per_vq")]
    pub page_per_vq: Option<OnOff>,
}

/// `<seclabel>` inside a device's `<source>`: a per-device override of the domain's labelling.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct DeviceSeclabel {
    #[xml(attr = "model")]
    pub model: Option<String>,
    #[xml(attr = "labelskip")]
    pub labelskip: Option<YesNo>,
    #[xml(attr = "relabel")]
    pub relabel: Option<YesNo>,
    #[xml(child_text = "label")]
    pub label: Option<String>,
}

/// An IP address attribute (v4 or v6), checked on input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpAddress(pub std::net::IpAddr);

impl crate::XmlValue for IpAddress {
    fn from_xml_value(s: &str) -> Result<Self, String> {
        s.parse().map(IpAddress).map_err(|_| "expected an IPv4 or IPv6 address".to_string())
    }
    fn to_xml_value(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Owned(self.0.to_string())
    }
}

/// `<reconnect enabled='yes' timeout='N'/>`: reconnecting a client socket after it drops.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Reconnect {
    #[xml(attr = "enabled")]
    pub enabled: YesNo,
    #[xml(attr = "timeout")]
    pub timeout: Option<u32>,
}
