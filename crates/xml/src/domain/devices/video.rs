//! `<video>`: the guest's display adapter.

use super::common::{Acpi, Address, Alias, VirtioOptions};
use crate::{Xml, XmlValue, YesNo};

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Video {
    #[xml(child = "driver")]
    pub driver: Option<VideoDriver>,
    #[xml(child = "model")]
    pub model: Option<VideoModel>,
    #[xml(child = "alias")]
    pub alias: Option<Alias>,
    #[xml(child = "acpi")]
    pub acpi: Option<Acpi>,
    #[xml(child = "address")]
    pub address: Option<Address>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct VideoDriver {
    #[xml(flatten)]
    pub virtio: VirtioOptions,
    /// bhyve VGA configuration.
    #[xml(attr = "vgaconf")]
    pub vgaconf: Option<VgaConf>,
    /// `vhostuser` runs the GPU in an external vhost-user process.
    #[xml(attr = "name")]
    pub name: Option<VideoBackend>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum VgaConf {
    Io,
    On,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum VideoBackend {
    Qemu,
    Vhostuser,
}

/// Sizes are in KiB.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct VideoModel {
    #[xml(attr = "type")]
    pub kind: VideoType,
    #[xml(attr = "ram")]
    pub ram: Option<u32>,
    #[xml(attr = "vram")]
    pub vram: Option<u32>,
    #[xml(attr = "vram64")]
    pub vram64: Option<u32>,
    #[xml(attr = "vgamem")]
    pub vgamem: Option<u32>,
    #[xml(attr = "heads")]
    pub heads: Option<u32>,
    #[xml(attr = "primary")]
    pub primary: Option<YesNo>,
    #[xml(child = "acceleration")]
    pub acceleration: Option<VideoAcceleration>,
    #[xml(child = "resolution")]
    pub resolution: Option<VideoResolution>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum VideoType {
    #[default]
    Vga,
    Cirrus,
    Vmvga,
    Xen,
    Vbox,
    Qxl,
    Parallels,
    Virtio,
    Gop,
    None,
    Bochs,
    Ramfb,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct VideoAcceleration {
    #[xml(attr = "accel3d")]
    pub accel3d: Option<YesNo>,
    #[xml(attr = "accel2d")]
    pub accel2d: Option<YesNo>,
    #[xml(attr = "rendernode")]
    pub rendernode: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct VideoResolution {
    #[xml(attr = "x")]
    pub x: u32,
    #[xml(attr = "y")]
    pub y: u32,
}
