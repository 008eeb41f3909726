//! `<memory model=...>`: hotpluggable guest memory (DIMM, NVDIMM, virtio-pmem, virtio-mem,
//! SGX EPC).

use crate::{KiB, Xml, XmlValue, YesNo};

use super::common::DeviceInfo;

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct MemoryDevice {
    #[xml(attr = "model")]
    pub model: MemoryDeviceModel,
    #[xml(attr = "access")]
    pub access: Option<MemoryDeviceAccess>,
    #[xml(attr = "discard")]
    pub discard: Option<YesNo>,
    /// nvdimm on ppc64.
    #[xml(child_text = "uuid")]
    pub uuid: Option<uuid::Uuid>,
    #[xml(child = "source")]
    pub source: Option<MemoryDeviceSource>,
    #[xml(child = "target")]
    pub target: MemoryDeviceTarget,
    #[xml(flatten)]
    pub info: DeviceInfo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum MemoryDeviceModel {
    #[default]
    Dimm,
    Nvdimm,
    VirtioPmem,
    VirtioMem,
    SgxEpc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum MemoryDeviceAccess {
    Shared,
    Private,
}

/// `<source>`: host backing. dimm / virtio-mem / sgx-epc use `nodemask` and `pagesize`;
/// nvdimm / virtio-pmem use `path` (+ `alignsize`, `pmem`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct MemoryDeviceSource {
    /// Host NUMA nodes, as a cpuset-style list (`0-1,3`).
    #[xml(child_text = "nodemask")]
    pub nodemask: Option<String>,
    #[xml(child = "pagesize")]
    pub pagesize: Option<KiB>,
    #[xml(child_text = "path")]
    pub path: Option<String>,
    #[xml(child = "alignsize")]
    pub alignsize: Option<KiB>,
    #[xml(flag = "pmem")]
    pub pmem: bool,
}

/// `<target>`: what the guest sees.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct MemoryDeviceTarget {
    #[xml(child = "size")]
    pub size: KiB,
    /// Guest NUMA node.
    #[xml(child_text = "node")]
    pub node: Option<u32>,
    /// nvdimm label area.
    #[xml(child = "label")]
    pub label: Option<MemoryDeviceLabel>,
    #[xml(flag = "readonly")]
    pub readonly: bool,
    /// virtio-mem block size.
    #[xml(child = "block")]
    pub block: Option<KiB>,
    /// virtio-mem: how much of `size` the guest should use now.
    #[xml(child = "requested")]
    pub requested: Option<KiB>,
    /// virtio-mem, live XML: how much the guest actually uses.
    #[xml(child = "current")]
    pub current: Option<KiB>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct MemoryDeviceLabel {
    #[xml(child = "size")]
    pub size: KiB,
}
