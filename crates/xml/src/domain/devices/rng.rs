//! `<rng>`: a virtio random number generator and its host entropy source.

use super::chardev::{ChrSourceContent, ChrType};
use super::common::{Acpi, Address, Alias, VirtioOptions};
use crate::{Xml, XmlValue};

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Rng {
    #[xml(attr = "model")]
    pub model: RngModel,
    #[xml(child = "rate")]
    pub rate: Option<RngRate>,
    #[xml(child = "backend")]
    pub backend: RngBackend,
    #[xml(child = "driver")]
    pub driver: Option<VirtioOptions>,
    #[xml(child = "alias")]
    pub alias: Option<Alias>,
    #[xml(child = "acpi")]
    pub acpi: Option<Acpi>,
    #[xml(child = "address")]
    pub address: Option<Address>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum RngModel {
    #[default]
    Virtio,
    VirtioTransitional,
    VirtioNonTransitional,
}

/// Rate limit: at most `bytes` per `period` milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct RngRate {
    #[xml(attr = "bytes")]
    pub bytes: u32,
    #[xml(attr = "period")]
    pub period: Option<u32>,
}

/// random: the text is the host device (`/dev/urandom`); egd: a character device backend.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct RngBackend {
    #[xml(attr = "model")]
    pub model: RngBackendModel,
    #[xml(attr = "type")]
    pub kind: Option<ChrType>,
    #[xml(text)]
    pub path: Option<String>,
    #[xml(flatten)]
    pub source: ChrSourceContent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum RngBackendModel {
    #[default]
    Random,
    Egd,
    Builtin,
}
