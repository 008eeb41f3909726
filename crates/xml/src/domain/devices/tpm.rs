//! `<tpm>`: a TPM device backed by the host TPM, swtpm, or an external swtpm socket.

use super::common::{Address, Alias};
use crate::{Xml, XmlValue, YesNo};

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Tpm {
    #[xml(attr = "model")]
    pub model: Option<TpmModel>,
    #[xml(child = "backend")]
    pub backend: TpmBackend,
    #[xml(child = "alias")]
    pub alias: Option<Alias>,
    #[xml(child = "address")]
    pub address: Option<Address>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum TpmModel {
    TpmTis,
    TpmCrb,
    TpmSpapr,
    SpaprTpmProxy,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct TpmBackend {
    #[xml(attr = "type")]
    pub kind: TpmBackendType,
    #[xml(attr = "version")]
    pub version: Option<TpmVersion>,
    /// emulator: keep the TPM state when the domain is undefined.
    #[xml(attr = "persistent_state")]
    pub persistent_state: Option<YesNo>,
    /// passthrough: the host TPM device.
    #[xml(child = "device")]
    pub device: Option<TpmDevice>,
    /// emulator: the secret that encrypts the TPM state.
    #[xml(child = "encryption")]
    pub encryption: Option<TpmEncryption>,
    #[xml(child = "active_pcr_banks")]
    pub active_pcr_banks: Option<PcrBanks>,
    /// external: the swtpm control socket.
    #[xml(child = "source")]
    pub source: Option<TpmSource>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum TpmBackendType {
    Passthrough,
    #[default]
    Emulator,
    External,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum TpmVersion {
    #[xml(rename = "1.2")]
    V1_2,
    #[xml(rename = "2.0")]
    V2_0,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct TpmDevice {
    #[xml(attr = "path")]
    pub path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct TpmEncryption {
    #[xml(attr = "secret")]
    pub secret: uuid::Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct PcrBanks {
    #[xml(flag = "sha1")]
    pub sha1: bool,
    #[xml(flag = "sha256")]
    pub sha256: bool,
    #[xml(flag = "sha384")]
    pub sha384: bool,
    #[xml(flag = "sha512")]
    pub sha512: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct TpmSource {
    /// Always `unix`.
    #[xml(attr = "type")]
    pub kind: Option<TpmSourceType>,
    /// Always `connect`.
    #[xml(attr = "mode")]
    pub mode: Option<TpmSourceMode>,
    #[xml(attr = "path")]
    pub path: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum TpmSourceType {
    Unix,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum TpmSourceMode {
    Connect,
}
