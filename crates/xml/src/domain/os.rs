//! How the guest boots: `<os>`, `<bootloader>`, `<idmap>` (containers) and `<sysinfo>` (SMBIOS and
//! firmware config tables).

use crate::{Xml, XmlValue, YesNo};

/// `<os>`
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Os {
    /// Firmware chosen automatically from the installed descriptors.
    #[xml(attr = "firmware")]
    pub firmware: Option<FirmwareType>,
    #[xml(child = "type")]
    pub kind: OsTypeEl,
    #[xml(child = "firmware")]
    pub firmware_features: Option<FirmwareFeatures>,
    #[xml(child_text = "init")]
    pub init: Option<String>,
    #[xml(child_text = "initarg")]
    pub initargs: Vec<String>,
    #[xml(child = "initenv")]
    pub initenvs: Vec<InitEnv>,
    #[xml(child_text = "initdir")]
    pub initdir: Option<String>,
    #[xml(child_text = "inituser")]
    pub inituser: Option<String>,
    #[xml(child_text = "initgroup")]
    pub initgroup: Option<String>,
    #[xml(child = "loader")]
    pub loader: Option<Loader>,
    #[xml(child = "nvram")]
    pub nvram: Option<Nvram>,
    #[xml(child_text = "kernel")]
    pub kernel: Option<String>,
    #[xml(child_text = "initrd")]
    pub initrd: Option<String>,
    #[xml(child_text = "cmdline")]
    pub cmdline: Option<String>,
    #[xml(child_text = "dtb")]
    pub dtb: Option<String>,
    #[xml(child_text = "root")]
    pub root: Option<String>,
    #[xml(child = "acpi")]
    pub acpi: Option<AcpiTables>,
    #[xml(child = "boot")]
    pub boot: Vec<BootDev>,
    #[xml(child = "bootmenu")]
    pub bootmenu: Option<BootMenu>,
    #[xml(child = "bios")]
    pub bios: Option<Bios>,
    #[xml(child = "smbios")]
    pub smbios: Option<Smbios>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum FirmwareType {
    Bios,
    Efi,
}

/// `<type arch='x86_64' machine='q35'>hvm</type>`
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct OsTypeEl {
    #[xml(attr = "arch")]
    pub arch: Option<String>,
    #[xml(attr = "machine")]
    pub machine: Option<String>,
    #[xml(text)]
    pub kind: OsType,
}

/// What the guest runs: a full machine, a Xen PV kernel, or a container's init.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum OsType {
    #[default]
    Hvm,
    Xen,
    Linux,
    Exe,
    Uml,
    Xenpvh,
}

/// `<firmware>`: features the automatically selected firmware must (not) have.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct FirmwareFeatures {
    #[xml(child = "feature")]
    pub features: Vec<FirmwareFeature>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct FirmwareFeature {
    #[xml(attr = "enabled")]
    pub enabled: YesNo,
    #[xml(attr = "name")]
    pub name: FirmwareFeatureName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum FirmwareFeatureName {
    EnrolledKeys,
    #[default]
    SecureBoot,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct InitEnv {
    #[xml(attr = "name")]
    pub name: String,
    #[xml(text)]
    pub value: Option<String>,
}

/// `<loader>`: the firmware image.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Loader {
    #[xml(attr = "readonly")]
    pub readonly: Option<YesNo>,
    #[xml(attr = "secure")]
    pub secure: Option<YesNo>,
    #[xml(attr = "type")]
    pub kind: Option<LoaderType>,
    #[xml(attr = "stateless")]
    pub stateless: Option<YesNo>,
    #[xml(text)]
    pub path: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum LoaderType {
    Rom,
    Pflash,
}

/// `<nvram>`: the UEFI variable store, a local path or (with `type`) a `<source>`.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Nvram {
    #[xml(attr = "template")]
    pub template: Option<String>,
    #[xml(attr = "type")]
    pub kind: Option<NvramType>,
    #[xml(text)]
    pub path: Option<String>,
    #[xml(child = "source")]
    pub source: Option<NvramSource>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum NvramType {
    File,
    Block,
    Network,
}

/// Where an `<nvram type=...>` store lives: a file, block device or network volume.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct NvramSource {
    #[xml(attr = "file")]
    pub file: Option<String>,
    #[xml(attr = "dev")]
    pub dev: Option<String>,
    #[xml(attr = "protocol")]
    pub protocol: Option<String>,
    #[xml(attr = "name")]
    pub name: Option<String>,
    #[xml(child = "host")]
    pub hosts: Vec<NvramSourceHost>,
    #[xml(child = "auth")]
    pub auth: Option<NvramSourceAuth>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct NvramSourceHost {
    #[xml(attr = "name")]
    pub name: Option<String>,
    #[xml(attr = "port")]
    pub port: Option<String>,
    #[xml(attr = "transport")]
    pub transport: Option<String>,
    #[xml(attr = "socket")]
    pub socket: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct NvramSourceAuth {
    #[xml(attr = "username")]
    pub username: String,
    #[xml(child = "secret")]
    pub secret: NvramSourceSecret,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct NvramSourceSecret {
    #[xml(attr = "type")]
    pub kind: String,
    #[xml(attr = "usage")]
    pub usage: Option<String>,
    #[xml(attr = "uuid")]
    pub uuid: Option<String>,
}

/// `<acpi>`: extra ACPI tables passed to the guest.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct AcpiTables {
    #[xml(child = "table")]
    pub tables: Vec<AcpiTable>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct AcpiTable {
    #[xml(attr = "type")]
    pub kind: AcpiTableType,
    #[xml(text)]
    pub path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum AcpiTableType {
    #[default]
    Slic,
}

/// `<boot dev='hd'/>`: one entry of the BIOS boot order.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct BootDev {
    #[xml(attr = "dev")]
    pub dev: BootDevice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum BootDevice {
    Fd,
    #[default]
    Hd,
    Cdrom,
    Network,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct BootMenu {
    #[xml(attr = "enable")]
    pub enable: YesNo,
    /// Milliseconds the menu waits.
    #[xml(attr = "timeout")]
    pub timeout: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Bios {
    #[xml(attr = "useserial")]
    pub useserial: Option<YesNo>,
    /// Milliseconds before rebooting after a failed boot; -1 disables.
    #[xml(attr = "rebootTimeout")]
    pub reboot_timeout: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Smbios {
    #[xml(attr = "mode")]
    pub mode: SmbiosMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum SmbiosMode {
    #[default]
    Emulate,
    Host,
    Sysinfo,
}

/// `<idmap>`: user namespace id mappings of a container.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Idmap {
    #[xml(child = "uid")]
    pub uids: Vec<IdRange>,
    #[xml(child = "gid")]
    pub gids: Vec<IdRange>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct IdRange {
    #[xml(attr = "start")]
    pub start: u32,
    #[xml(attr = "target")]
    pub target: u32,
    #[xml(attr = "count")]
    pub count: u32,
}

/// `<sysinfo>`: SMBIOS strings (`type='smbios'`) or firmware config blobs (`type='fwcfg'`).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Sysinfo {
    #[xml(attr = "type")]
    pub kind: SysinfoType,
    #[xml(child = "bios")]
    pub bios: Option<SmbiosBlock<BiosEntryName>>,
    #[xml(child = "system")]
    pub system: Option<SmbiosBlock<SystemEntryName>>,
    #[xml(child = "baseBoard")]
    pub base_boards: Vec<SmbiosBlock<BaseBoardEntryName>>,
    #[xml(child = "chassis")]
    pub chassis: Option<SmbiosBlock<ChassisEntryName>>,
    #[xml(child = "oemStrings")]
    pub oem_strings: Option<OemStrings>,
    /// `fwcfg` entries.
    #[xml(child = "entry")]
    pub entries: Vec<FwCfgEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum SysinfoType {
    #[default]
    Smbios,
    Fwcfg,
}

/// An SMBIOS structure: a list of named strings; `N` is the set of names it allows.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct SmbiosBlock<N: XmlValue + Clone + PartialEq + std::fmt::Debug> {
    #[xml(child = "entry")]
    pub entries: Vec<SmbiosEntry<N>>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct SmbiosEntry<N: XmlValue + Clone + PartialEq + std::fmt::Debug> {
    #[xml(attr = "name")]
    pub name: N,
    #[xml(text)]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum BiosEntryName {
    #[default]
    Vendor,
    Version,
    Date,
    Release,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum SystemEntryName {
    #[default]
    Manufacturer,
    Product,
    Version,
    Serial,
    Uuid,
    Sku,
    Family,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum BaseBoardEntryName {
    #[default]
    Manufacturer,
    Product,
    Version,
    Serial,
    Asset,
    Location,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum ChassisEntryName {
    #[default]
    Manufacturer,
    Version,
    Serial,
    Asset,
    Sku,
}

/// `<oemStrings>`: SMBIOS type 11 free-form strings.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct OemStrings {
    #[xml(child_text = "entry")]
    pub entries: Vec<String>,
}

/// A firmware config blob: inline text or a host file.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct FwCfgEntry {
    #[xml(attr = "name")]
    pub name: String,
    #[xml(attr = "file")]
    pub file: Option<String>,
    #[xml(text)]
    pub value: Option<String>,
}
