//! The domain (`<domain>`): a virtual machine's whole configuration.
//!
//! Fields are in libvirt's output order, so formatting the model gives libvirt's canonical form.

pub mod devices;

use crate::{Xml, XmlDocument, XmlError};
pub use devices::*;

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Domain {
    /// Hypervisor type: `qemu`, `kvm`, `test`, `lxc`, ...
    #[xml(attr = "type")]
    pub kind: String,
    /// Only in live XML: the running domain's id.
    #[xml(attr = "id")]
    pub id: Option<i32>,
    #[xml(child_text = "name")]
    pub name: String,
    #[xml(child_text = "uuid")]
    pub uuid: Option<uuid::Uuid>,
    // TODO(domain-core): the remaining top-level elements, in libvirt order.
    #[xml(child = "devices")]
    pub devices: Option<Devices>,
}

impl XmlDocument for Domain {
    const ROOT: &'static str = "domain";

    fn post_parse(&mut self) -> Result<(), XmlError> {
        if self.name.is_empty() {
            return Err(XmlError::invalid("/domain/name", "domain name must not be empty"));
        }
        if self.name.contains('/') {
            return Err(XmlError::invalid("/domain/name", format!("domain name '{}' must not contain '/'", self.name)));
        }
        if self.uuid.is_none() {
            self.uuid = Some(uuid::Uuid::new_v4());
        }
        Ok(())
    }
}
