//! Memory sizes and the resource tuning blocks: `<maxMemory>`, `<memory>`, `<currentMemory>`,
//! `<blkiotune>`, `<memtune>`, `<memoryBacking>`, `<numatune>`, `<resource>`.

use crate::core::{El, FromXml, ToXml, Writer, XmlError};
use crate::units::KiB;
use crate::{OnOff, Xml, XmlValue};

/// `<maxMemory slots='N'>`: the ceiling for memory hotplug.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct MaxMemory {
    #[xml(attr = "slots")]
    pub slots: Option<u32>,
    #[xml(flatten)]
    pub size: KiB,
}

/// `<memory>`: the boot-time memory size.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Memory {
    /// Whether guest memory goes into core dumps of the emulator.
    #[xml(attr = "dumpCore")]
    pub dump_core: Option<OnOff>,
    #[xml(flatten)]
    pub size: KiB,
}

/// `<blkiotune>`: block I/O cgroup weights and throttles.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Blkiotune {
    #[xml(child_text = "weight")]
    pub weight: Option<u32>,
    #[xml(child = "device")]
    pub devices: Vec<BlkiotuneDevice>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct BlkiotuneDevice {
    #[xml(child_text = "path")]
    pub path: String,
    #[xml(child_text = "weight")]
    pub weight: Option<u32>,
    #[xml(child_text = "read_iops_sec")]
    pub read_iops_sec: Option<u32>,
    #[xml(child_text = "write_iops_sec")]
    pub write_iops_sec: Option<u32>,
    #[xml(child_text = "read_bytes_sec")]
    pub read_bytes_sec: Option<u64>,
    #[xml(child_text = "write_bytes_sec")]
    pub write_bytes_sec: Option<u64>,
}

/// `<memtune>`: memory cgroup limits.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Memtune {
    #[xml(child = "hard_limit")]
    pub hard_limit: Option<KiB>,
    #[xml(child = "soft_limit")]
    pub soft_limit: Option<KiB>,
    #[xml(child = "min_guarantee")]
    pub min_guarantee: Option<KiB>,
    #[xml(child = "swap_hard_limit")]
    pub swap_hard_limit: Option<KiB>,
}

/// `<memoryBacking>`: how guest RAM is allocated on the host.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct MemoryBacking {
    #[xml(child = "hugepages")]
    pub hugepages: Option<Hugepages>,
    #[xml(flag = "nosharepages")]
    pub nosharepages: bool,
    #[xml(flag = "locked")]
    pub locked: bool,
    #[xml(child = "source")]
    pub source: Option<MemorySource>,
    #[xml(child = "access")]
    pub access: Option<MemoryAccess>,
    #[xml(child = "allocation")]
    pub allocation: Option<MemoryAllocation>,
    #[xml(flag = "discard")]
    pub discard: bool,
}

/// `<hugepages>`: with no `<page>`, the host's default huge page size backs all memory.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Hugepages {
    #[xml(child = "page")]
    pub pages: Vec<HugePage>,
}

/// `<page size='2048' unit='KiB' nodeset='0-1'/>`
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HugePage {
    pub size: KiB,
    /// Guest NUMA nodes this page size backs (all when absent).
    pub nodeset: Option<String>,
}

impl FromXml for HugePage {
    fn from_xml(el: &mut El<'_, '_>) -> Result<Self, XmlError> {
        let size = scaled_attr(el, "size", "unit", "KiB")?;
        Ok(HugePage { size, nodeset: el.attr_opt("nodeset")? })
    }
}

impl ToXml for HugePage {
    fn write_attrs(&self, w: &mut Writer) {
        w.attr("size", &self.size.0.to_string());
        w.attr("unit", "KiB");
        if let Some(n) = &self.nodeset {
            w.attr("nodeset", n);
        }
    }
    fn write_content(&self, _: &mut Writer) {}
}

/// Reads a size held in one attribute with its unit in another, into KiB.
pub(crate) fn scaled_attr(el: &mut El<'_, '_>, value: &str, unit: &str, default_unit: &str) -> Result<KiB, XmlError> {
    let at = el.location();
    let v: u64 = el.attr_req(value)?;
    let u: Option<String> = el.attr_opt(unit)?;
    KiB::from_parts(v, Some(u.as_deref().unwrap_or(default_unit))).map_err(|reason| XmlError::InvalidAttribute {
        at,
        attr: unit.to_string(),
        value: u.unwrap_or_default(),
        reason,
    })
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct MemorySource {
    #[xml(attr = "type")]
    pub kind: MemorySourceType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum MemorySourceType {
    File,
    #[default]
    Anonymous,
    Memfd,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct MemoryAccess {
    #[xml(attr = "mode")]
    pub mode: MemoryAccessMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum MemoryAccessMode {
    Shared,
    #[default]
    Private,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct MemoryAllocation {
    #[xml(attr = "mode")]
    pub mode: Option<MemoryAllocationMode>,
    /// Threads used to preallocate memory.
    #[xml(attr = "threads")]
    pub threads: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum MemoryAllocationMode {
    Immediate,
    Ondemand,
}

/// `<numatune>`: host NUMA policy for guest memory.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Numatune {
    #[xml(child = "memory")]
    pub memory: Option<NumatuneMemory>,
    #[xml(child = "memnode")]
    pub memnodes: Vec<NumatuneMemnode>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct NumatuneMemory {
    #[xml(attr = "mode")]
    pub mode: Option<NumaMode>,
    #[xml(attr = "nodeset")]
    pub nodeset: Option<String>,
    #[xml(attr = "placement")]
    pub placement: Option<Placement>,
}

/// `<memnode>`: policy for one guest NUMA cell.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct NumatuneMemnode {
    #[xml(attr = "cellid")]
    pub cellid: u32,
    #[xml(attr = "mode")]
    pub mode: NumaMode,
    #[xml(attr = "nodeset")]
    pub nodeset: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum NumaMode {
    #[default]
    Strict,
    Preferred,
    Interleave,
    Restrictive,
}

/// `static` (from an explicit set) or `auto` (numad decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum Placement {
    #[default]
    Static,
    Auto,
}

/// `<resource>`: cgroup partition and fibre channel application id.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Resource {
    #[xml(child_text = "partition")]
    pub partition: Option<String>,
    #[xml(child = "fibrechannel")]
    pub fibrechannel: Option<FibreChannel>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct FibreChannel {
    #[xml(attr = "appid")]
    pub appid: String,
}
