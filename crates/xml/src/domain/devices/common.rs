//! Pieces many devices share.

use crate::{El, FromXml, Hex, OnOff, ToXml, Writer, Xml, XmlError, XmlValue, YesNo};

/// `<address>`: where a device sits on its bus. One flat shape for all address types (pci, drive,
/// virtio-serial, ccid, usb, isa, ccw, dimm, spapr-vio, virtio-mmio, unassigned), because libvirt
/// itself decides the meaning of each attribute by `type`. Parsing reads only the attributes that
/// `type` allows (others are reported as unknown) and writing prints them in libvirt's order and
/// radix for that type. Without `type` (host PCI addresses inside `<source>`) it is PCI-shaped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    pub kind: Option<AddressType>,
    pub domain: Option<Hex<4>>,
    /// PCI bus (printed hex); drive, usb and virtio-serial bus (printed decimal).
    pub bus: Option<Hex<2>>,
    /// PCI slot (printed hex); ccid and dimm slot (printed decimal).
    pub slot: Option<Hex<2>>,
    pub function: Option<Hex<1>>,
    pub multifunction: Option<OnOff>,
    pub controller: Option<u32>,
    pub target: Option<u32>,
    pub unit: Option<u32>,
    /// USB port path (`1.2`) or virtio-serial port number.
    pub port: Option<String>,
    pub reg: Option<Hex<8>>,
    pub cssid: Option<Hex<1>>,
    pub ssid: Option<Hex<1>>,
    pub devno: Option<Hex<4>>,
    pub iobase: Option<Hex<1>>,
    pub irq: Option<Hex<1>>,
    /// DIMM base address (guest physical, may exceed 4 GiB).
    pub dimm_base: Option<u64>,
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

impl FromXml for Address {
    fn from_xml(el: &mut El<'_, '_>) -> Result<Self, XmlError> {
        use AddressType as T;
        let kind = el.attr_opt::<AddressType>("type")?;
        let mut a = Address { kind, ..Default::default() };
        match kind {
            None | Some(T::Pci) => {
                a.domain = el.attr_opt("domain")?;
                a.bus = el.attr_opt("bus")?;
                a.slot = el.attr_opt("slot")?;
                a.function = el.attr_opt("function")?;
                a.multifunction = el.attr_opt("multifunction")?;
                a.zpci = el.child_opt("zpci")?;
            }
            Some(T::Drive) => {
                a.controller = el.attr_opt("controller")?;
                a.bus = el.attr_opt("bus")?;
                a.target = el.attr_opt("target")?;
                a.unit = el.attr_opt("unit")?;
            }
            Some(T::VirtioSerial) => {
                a.controller = el.attr_opt("controller")?;
                a.bus = el.attr_opt("bus")?;
                a.port = el.attr_opt("port")?;
            }
            Some(T::Ccid) => {
                a.controller = el.attr_opt("controller")?;
                a.slot = el.attr_opt("slot")?;
            }
            Some(T::Usb) => {
                a.bus = el.attr_opt("bus")?;
                a.port = el.attr_opt("port")?;
            }
            Some(T::SpaprVio) => a.reg = el.attr_opt("reg")?,
            Some(T::Ccw) => {
                a.cssid = el.attr_opt("cssid")?;
                a.ssid = el.attr_opt("ssid")?;
                a.devno = el.attr_opt("devno")?;
            }
            Some(T::Isa) => {
                a.iobase = el.attr_opt("iobase")?;
                a.irq = el.attr_opt("irq")?;
            }
            Some(T::Dimm) => {
                a.slot = el.attr_opt("slot")?;
                a.dimm_base = el.attr_opt("base")?;
            }
            Some(T::VirtioMmio) | Some(T::Unassigned) => {}
        }
        Ok(a)
    }
}

fn dec(w: &mut Writer, name: &str, v: Option<u32>) {
    if let Some(v) = v {
        w.attr(name, &v.to_string());
    }
}

fn hex<const N: usize>(w: &mut Writer, name: &str, v: &Option<Hex<N>>) {
    if let Some(v) = v {
        w.attr(name, &v.to_xml_value());
    }
}

impl ToXml for Address {
    fn write_attrs(&self, w: &mut Writer) {
        use AddressType as T;
        if let Some(k) = &self.kind {
            w.attr("type", &k.to_xml_value());
        }
        let num = |h: &Option<Hex<2>>| h.map(|h| h.0);
        match self.kind {
            None | Some(T::Pci) => {
                hex(w, "domain", &self.domain);
                hex(w, "bus", &self.bus);
                hex(w, "slot", &self.slot);
                hex(w, "function", &self.function);
                if let Some(m) = &self.multifunction {
                    w.attr("multifunction", &m.to_xml_value());
                }
            }
            Some(T::Drive) => {
                dec(w, "controller", self.controller);
                dec(w, "bus", num(&self.bus));
                dec(w, "target", self.target);
                dec(w, "unit", self.unit);
            }
            Some(T::VirtioSerial) => {
                dec(w, "controller", self.controller);
                dec(w, "bus", num(&self.bus));
                if let Some(p) = &self.port {
                    w.attr("port", p);
                }
            }
            Some(T::Ccid) => {
                dec(w, "controller", self.controller);
                dec(w, "slot", num(&self.slot));
            }
            Some(T::Usb) => {
                dec(w, "bus", num(&self.bus));
                if let Some(p) = &self.port {
                    w.attr("port", p);
                }
            }
            Some(T::SpaprVio) => hex(w, "reg", &self.reg),
            Some(T::Ccw) => {
                hex(w, "cssid", &self.cssid);
                hex(w, "ssid", &self.ssid);
                hex(w, "devno", &self.devno);
            }
            Some(T::Isa) => {
                hex(w, "iobase", &self.iobase);
                hex(w, "irq", &self.irq);
            }
            Some(T::Dimm) => {
                dec(w, "slot", num(&self.slot));
                if let Some(b) = self.dimm_base {
                    w.attr("base", &format!("0x{b:x}"));
                }
            }
            Some(T::VirtioMmio) | Some(T::Unassigned) => {}
        }
    }
    fn write_content(&self, w: &mut Writer) {
        if let Some(z) = &self.zpci {
            w.element("zpci", z);
        }
    }
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

/// `<master startport='N'/>`: a USB companion controller's first port on its master.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct UsbMaster {
    #[xml(attr = "startport")]
    pub startport: u32,
}

/// Virtio device flavours (`model=` on disks, filesystems, controllers, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum VirtioModel {
    Virtio,
    VirtioTransitional,
    VirtioNonTransitional,
}

/// `<secret type='...' uuid='...'|usage='...'/>`: a reference to a libvirt secret.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct SecretRef {
    #[xml(attr = "type")]
    pub kind: Option<String>,
    #[xml(attr = "uuid")]
    pub uuid: Option<uuid::Uuid>,
    #[xml(attr = "usage")]
    pub usage: Option<String>,
}

/// `<auth username='...'>` with its `<secret>` (network disks, iSCSI hostdevs).
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct StorageAuth {
    /// Legacy storage-pool form (`type='chap'`); domain XML normally omits it.
    #[xml(attr = "type")]
    pub kind: Option<String>,
    #[xml(attr = "username")]
    pub username: String,
    #[xml(child = "secret")]
    pub secret: Option<SecretRef>,
}

/// `<initiator><iqn name='...'/></initiator>` (iSCSI).
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Initiator {
    #[xml(child = "iqn")]
    pub iqn: Iqn,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Iqn {
    #[xml(attr = "name")]
    pub name: String,
}

/// Device-info children in libvirt's order (`boot`, `alias`, `master`, `rom`, `acpi`, `address`):
/// flatten it at the end of a device element. Fields a device cannot have stay `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct DeviceInfo {
    #[xml(child = "boot")]
    pub boot: Option<BootOrder>,
    #[xml(child = "alias")]
    pub alias: Option<Alias>,
    #[xml(child = "master")]
    pub master: Option<UsbMaster>,
    #[xml(child = "rom")]
    pub rom: Option<Rom>,
    #[xml(child = "acpi")]
    pub acpi: Option<Acpi>,
    #[xml(child = "address")]
    pub address: Option<Address>,
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

/// `<reconnect enabled='yes' timeout='N'/>`: reconnecting a client socket after it drops.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Reconnect {
    #[xml(attr = "enabled")]
    pub enabled: YesNo,
    #[xml(attr = "timeout")]
    pub timeout: Option<u32>,
}
