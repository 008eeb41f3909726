//! `<smartcard>`: a CCID smartcard reader backed by the host's reader, by certificate files, or
//! by a character device (usually spicevmc) that tunnels a remote reader.

use crate::{Xml, XmlValue};

use super::chardev::{ChrSourceContent, ChrType};
use super::common::DeviceInfo;

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Smartcard {
    #[xml(attr = "mode")]
    pub mode: SmartcardMode,
    /// passthrough: the character backend type.
    #[xml(attr = "type")]
    pub kind: Option<ChrType>,
    /// host-certificates: exactly three certificate names.
    #[xml(child_text = "certificate")]
    pub certificates: Vec<String>,
    /// host-certificates: NSS database directory.
    #[xml(child_text = "database")]
    pub database: Option<String>,
    /// passthrough: the character backend.
    #[xml(flatten)]
    pub source: ChrSourceContent,
    #[xml(flatten)]
    pub info: DeviceInfo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum SmartcardMode {
    #[default]
    Host,
    HostCertificates,
    Passthrough,
}

impl Smartcard {
    /// Checks the per-mode rules libvirt enforces.
    pub fn validate(&self, path: &str) -> Result<(), crate::XmlError> {
        match self.mode {
            SmartcardMode::HostCertificates if self.certificates.len() != 3 => Err(crate::XmlError::invalid(
                path,
                format!(
                    "host-certificates smartcard needs 3 <certificate> elements, found {}",
                    self.certificates.len()
                ),
            )),
            SmartcardMode::Passthrough if self.kind.is_none() => {
                Err(crate::XmlError::invalid(path, "passthrough smartcard needs attribute 'type'"))
            }
            _ => Ok(()),
        }
    }
}
