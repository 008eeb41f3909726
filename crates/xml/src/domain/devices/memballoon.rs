//! `<memballoon>`: the balloon device that lets the host reclaim guest memory.

use super::common::{Acpi, Address, Alias, VirtioOptions};
use crate::{OnOff, Xml, XmlValue};

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Memballoon {
    #[xml(attr = "model")]
    pub model: MemballoonModel,
    /// Deflate the balloon when the guest runs out of memory.
    #[xml(attr = "autodeflate")]
    pub autodeflate: Option<OnOff>,
    #[xml(attr = "freePageReporting")]
    pub free_page_reporting: Option<OnOff>,
    #[xml(child = "stats")]
    pub stats: Option<MemballoonStats>,
    #[xml(child = "alias")]
    pub alias: Option<Alias>,
    #[xml(child = "acpi")]
    pub acpi: Option<Acpi>,
    #[xml(child = "address")]
    pub address: Option<Address>,
    #[xml(child = "driver")]
    pub driver: Option<VirtioOptions>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum MemballoonModel {
    #[default]
    Virtio,
    Xen,
    None,
    VirtioTransitional,
    VirtioNonTransitional,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct MemballoonStats {
    /// Seconds between guest statistics updates; 0 disables them.
    #[xml(attr = "period")]
    pub period: u32,
}
