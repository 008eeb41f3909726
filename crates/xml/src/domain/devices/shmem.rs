//! `<shmem>`: an ivshmem shared-memory region, optionally with a doorbell server.

use super::common::{Acpi, Address, Alias};
use crate::{KiB, OnOff, Xml, XmlValue};

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
    pub size: Option<KiB>,
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
