//! `<crypto>`: a virtio-crypto device. libvirt 9.0's schema does not have it yet (later
//! releases do); modelled as those releases write it so such XML is not lost.

use super::common::{Acpi, Address, Alias};
use crate::{Xml, XmlValue};

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Crypto {
    #[xml(attr = "model")]
    pub model: CryptoModel,
    #[xml(attr = "type")]
    pub kind: CryptoType,
    #[xml(child = "backend")]
    pub backend: CryptoBackend,
    #[xml(child = "alias")]
    pub alias: Option<Alias>,
    #[xml(child = "acpi")]
    pub acpi: Option<Acpi>,
    #[xml(child = "address")]
    pub address: Option<Address>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum CryptoModel {
    #[default]
    Virtio,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum CryptoType {
    #[default]
    Qemu,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct CryptoBackend {
    #[xml(attr = "model")]
    pub model: CryptoBackendModel,
    #[xml(attr = "queues")]
    pub queues: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum CryptoBackendModel {
    #[default]
    Builtin,
    Lkcf,
}
