//! `<filesystem>`: a host directory, image or RAM disk exported into the guest (9p, virtiofs,
//! or container mounts).

use std::borrow::Cow;

use crate::units::Bytes;
use crate::{OnOff, Xml, XmlValue};

use super::common::{DeviceInfo, VirtioModel, VirtioOptions};
use super::disk::StorageFormat;

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Filesystem {
    /// Absent means `mount`.
    #[xml(attr = "type")]
    pub kind: Option<FsType>,
    #[xml(attr = "accessmode")]
    pub accessmode: Option<FsAccessMode>,
    #[xml(attr = "model")]
    pub model: Option<VirtioModel>,
    #[xml(attr = "multidevs")]
    pub multidevs: Option<FsMultidevs>,
    /// Mode of files the guest creates (squash/mapped 9p).
    #[xml(attr = "fmode")]
    pub fmode: Option<FileMode>,
    /// Mode of directories the guest creates.
    #[xml(attr = "dmode")]
    pub dmode: Option<FileMode>,
    #[xml(child = "driver")]
    pub driver: Option<FsDriver>,
    /// virtiofs: the virtiofsd daemon and its options.
    #[xml(child = "binary")]
    pub binary: Option<FsBinary>,
    #[xml(child = "source")]
    pub source: Option<FsSource>,
    #[xml(child = "target")]
    pub target: FsTarget,
    #[xml(flag = "readonly")]
    pub readonly: bool,
    #[xml(flatten)]
    pub info: DeviceInfo,
    #[xml(child = "space_hard_limit")]
    pub space_hard_limit: Option<Bytes>,
    #[xml(child = "space_soft_limit")]
    pub space_soft_limit: Option<Bytes>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum FsType {
    #[default]
    Mount,
    Block,
    File,
    Template,
    Ram,
    Bind,
    Volume,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum FsAccessMode {
    Passthrough,
    Mapped,
    Squash,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum FsMultidevs {
    Default,
    Remap,
    Forbid,
    Warn,
}

/// A permission mode written in octal (`0644`), as libvirt prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileMode(pub u32);

impl XmlValue for FileMode {
    fn from_xml_value(s: &str) -> Result<Self, String> {
        let m = u32::from_str_radix(s, 8).map_err(|_| "expected an octal mode like 0644".to_string())?;
        if m > 0o777 {
            return Err("mode must be at most 0777".into());
        }
        Ok(FileMode(m))
    }
    fn to_xml_value(&self) -> Cow<'_, str> {
        Cow::Owned(format!("{:04o}", self.0))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum FsDriverType {
    Path,
    Handle,
    Loop,
    Nbd,
    Ploop,
    Virtiofs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum FsWrpolicy {
    Immediate,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct FsDriver {
    #[xml(attr = "type")]
    pub kind: Option<FsDriverType>,
    #[xml(attr = "format")]
    pub format: Option<StorageFormat>,
    #[xml(attr = "wrpolicy")]
    pub wrpolicy: Option<FsWrpolicy>,
    /// virtiofs queue size.
    #[xml(attr = "queue")]
    pub queue: Option<u64>,
    #[xml(flatten)]
    pub virtio: VirtioOptions,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct FsBinary {
    #[xml(attr = "path")]
    pub path: Option<String>,
    #[xml(attr = "xattr")]
    pub xattr: Option<OnOff>,
    #[xml(child = "cache")]
    pub cache: Option<FsCache>,
    #[xml(child = "sandbox")]
    pub sandbox: Option<FsSandbox>,
    #[xml(child = "lock")]
    pub lock: Option<FsLock>,
    #[xml(child = "thread_pool")]
    pub thread_pool: Option<FsThreadPool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum FsCacheMode {
    None,
    Always,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct FsCache {
    #[xml(attr = "mode")]
    pub mode: Option<FsCacheMode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum FsSandboxMode {
    Namespace,
    Chroot,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct FsSandbox {
    #[xml(attr = "mode")]
    pub mode: Option<FsSandboxMode>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct FsLock {
    #[xml(attr = "posix")]
    pub posix: Option<OnOff>,
    #[xml(attr = "flock")]
    pub flock: Option<OnOff>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct FsThreadPool {
    #[xml(attr = "size")]
    pub size: Option<i32>,
}

/// `<source>`: which attribute applies depends on the filesystem type (mount/bind: `dir` or
/// `socket`; block: `dev`; file: `file`; template: `name`; ram: `usage` + `units`; volume:
/// `pool` + `volume`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct FsSource {
    #[xml(attr = "dir")]
    pub dir: Option<String>,
    /// virtiofs: connect to an externally started virtiofsd.
    #[xml(attr = "socket")]
    pub socket: Option<String>,
    #[xml(attr = "dev")]
    pub dev: Option<String>,
    #[xml(attr = "file")]
    pub file: Option<String>,
    #[xml(attr = "name")]
    pub name: Option<String>,
    #[xml(attr = "usage")]
    pub usage: Option<u64>,
    #[xml(attr = "units")]
    pub units: Option<String>,
    #[xml(attr = "pool")]
    pub pool: Option<String>,
    #[xml(attr = "volume")]
    pub volume: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct FsTarget {
    #[xml(attr = "dir")]
    pub dir: String,
}
