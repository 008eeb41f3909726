//! `<shmem>`: an ivshmem shared-memory region, optionally with a doorbell server.

use super::common::{Acpi, Address, Alias};
use crate::units::scale;
use crate::{El, FromXml, OnOff, ToXml, Writer, Xml, XmlError, XmlValue};

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Shmem {
    #[xml(attr = "name")]
    pub name: String,
    /// Who owns the memory on migration.
    #[xml(attr = "role")]
    pub role: Option<ShmemRole>,
    #[xml(child = "model")]
    pub model: Option<ShmemModel>,
    #[xml(child = "size")]
    pub size: Option<ShmemSize>,
    #[xml(child = "server")]
    pub server: Option<ShmemServer>,
    #[xml(child = "msi")]
    pub msi: Option<ShmemMsi>,
    #[xml(child = "alias")]
    pub alias: Option<Alias>,
    #[xml(child = "acpi")]
    pub acpi: Option<Acpi>,
    #[xml(child = "address")]
    pub address: Option<Address>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum ShmemRole {
    Master,
    Peer,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct ShmemModel {
    #[xml(attr = "type")]
    pub kind: ShmemModelType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum ShmemModelType {
    Ivshmem,
    #[default]
    IvshmemPlain,
    IvshmemDoorbell,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct ShmemServer {
    /// The ivshmem-server socket; libvirt picks one when absent.
    #[xml(attr = "path")]
    pub path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct ShmemMsi {
    #[xml(attr = "vectors")]
    pub vectors: Option<u32>,
    #[xml(attr = "ioeventfd")]
    pub ioeventfd: Option<OnOff>,
}

/// The region size in bytes; libvirt writes it in MiB (`unit='M'`), which we do whenever exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShmemSize(pub u64);

impl FromXml for ShmemSize {
    fn from_xml(el: &mut El<'_, '_>) -> Result<Self, XmlError> {
        // without a unit the number is bytes
        let unit: Option<String> = el.attr_opt("unit")?;
        let value: u64 = el.text_req()?;
        let unit = unit.as_deref().unwrap_or("b");
        scale(value, unit).map(ShmemSize).map_err(|reason| XmlError::InvalidText {
            at: el.location(),
            value: format!("{value} {unit}"),
            reason,
        })
    }
}

impl ToXml for ShmemSize {
    fn write_attrs(&self, w: &mut Writer) {
        w.attr("unit", if self.0.is_multiple_of(1 << 20) { "M" } else { "b" });
    }
    fn write_content(&self, w: &mut Writer) {
        let v = if self.0.is_multiple_of(1 << 20) { self.0 >> 20 } else { self.0 };
        w.text(&XmlValue::to_xml_value(&v));
    }
}

impl ShmemSize {
    pub fn bytes(self) -> u64 {
        self.0
    }
}
