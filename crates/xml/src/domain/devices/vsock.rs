//! `<vsock>`: a virtio socket device; the guest's context id is chosen or assigned.

use super::common::{Acpi, Address, Alias, VirtioOptions};
use crate::{Xml, XmlValue, YesNo};

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Vsock {
    #[xml(attr = "model")]
    pub model: Option<VsockModel>,
    #[xml(child = "cid")]
    pub cid: Option<VsockCid>,
    #[xml(child = "alias")]
    pub alias: Option<Alias>,
    #[xml(child = "acpi")]
    pub acpi: Option<Acpi>,
    #[xml(child = "address")]
    pub address: Option<Address>,
    #[xml(child = "driver")]
    pub driver: Option<VirtioOptions>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum VsockModel {
    Virtio,
    VirtioTransitional,
    VirtioNonTransitional,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct VsockCid {
    /// `yes`: libvirt picks a free cid at start.
    #[xml(attr = "auto")]
    pub auto: Option<YesNo>,
    #[xml(attr = "address")]
    pub address: Option<u32>,
}
