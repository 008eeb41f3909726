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
    #[xml(attr = "bar")]
    pub bar: Option<OnOff>,
    #[xml(attr = "file")]
    pub file: Option<String>,
    #[xml(attr = "enabled")]
    pub enabled: Option<YesNo>,
}
