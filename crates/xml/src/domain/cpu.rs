//! vCPUs and I/O threads (`<vcpu>`, `<vcpus>`, `<iothreadids>`, `<defaultiothread>`), their host
//! scheduling (`<cputune>`), and the guest CPU model with its NUMA layout (`<cpu>`).

use crate::core::{El, FromXml, ToXml, Writer, XmlError};
use crate::domain::resources::{scaled_attr, Placement};
use crate::units::KiB;
use crate::{OnOff, Xml, XmlValue, YesNo};

/// `<vcpu>N</vcpu>`: the maximum vCPU count, with how many are online at boot.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Vcpu {
    #[xml(attr = "placement")]
    pub placement: Option<Placement>,
    #[xml(attr = "cpuset")]
    pub cpuset: Option<String>,
    #[xml(attr = "current")]
    pub current: Option<u32>,
    #[xml(text)]
    pub count: u32,
}

/// `<vcpus>`: per-vCPU state, for hotplug.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Vcpus {
    #[xml(child = "vcpu")]
    pub vcpus: Vec<VcpuState>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct VcpuState {
    #[xml(attr = "id")]
    pub id: u32,
    #[xml(attr = "enabled")]
    pub enabled: YesNo,
    #[xml(attr = "hotpluggable")]
    pub hotpluggable: Option<YesNo>,
    #[xml(attr = "order")]
    pub order: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct IothreadIds {
    #[xml(child = "iothread")]
    pub iothreads: Vec<Iothread>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Iothread {
    #[xml(attr = "id")]
    pub id: u32,
    #[xml(attr = "thread_pool_min")]
    pub thread_pool_min: Option<u32>,
    #[xml(attr = "thread_pool_max")]
    pub thread_pool_max: Option<u32>,
}

/// `<defaultiothread>`: the pool QEMU's main loop uses for work not tied to an I/O thread.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct DefaultIothread {
    #[xml(attr = "thread_pool_min")]
    pub thread_pool_min: Option<u32>,
    #[xml(attr = "thread_pool_max")]
    pub thread_pool_max: Option<u32>,
}

/// `<cputune>`: CPU cgroup shares/bandwidth, pinning, real-time scheduling, resctrl.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Cputune {
    #[xml(child_text = "shares")]
    pub shares: Option<u64>,
    #[xml(child_text = "period")]
    pub period: Option<u64>,
    #[xml(child_text = "quota")]
    pub quota: Option<i64>,
    #[xml(child_text = "global_period")]
    pub global_period: Option<u64>,
    #[xml(child_text = "global_quota")]
    pub global_quota: Option<i64>,
    #[xml(child_text = "emulator_period")]
    pub emulator_period: Option<u64>,
    #[xml(child_text = "emulator_quota")]
    pub emulator_quota: Option<i64>,
    #[xml(child_text = "iothread_period")]
    pub iothread_period: Option<u64>,
    #[xml(child_text = "iothread_quota")]
    pub iothread_quota: Option<i64>,
    #[xml(child = "vcpupin")]
    pub vcpupins: Vec<VcpuPin>,
    #[xml(child = "emulatorpin")]
    pub emulatorpin: Option<EmulatorPin>,
    #[xml(child = "iothreadpin")]
    pub iothreadpins: Vec<IothreadPin>,
    #[xml(child = "emulatorsched")]
    pub emulatorsched: Option<Sched>,
    #[xml(child = "vcpusched")]
    pub vcpuscheds: Vec<VcpuSched>,
    #[xml(child = "iothreadsched")]
    pub iothreadscheds: Vec<IothreadSched>,
    #[xml(child = "cachetune")]
    pub cachetunes: Vec<Cachetune>,
    #[xml(child = "memorytune")]
    pub memorytunes: Vec<Memorytune>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct VcpuPin {
    #[xml(attr = "vcpu")]
    pub vcpu: u32,
    #[xml(attr = "cpuset")]
    pub cpuset: String,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct EmulatorPin {
    #[xml(attr = "cpuset")]
    pub cpuset: String,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct IothreadPin {
    #[xml(attr = "iothread")]
    pub iothread: u32,
    #[xml(attr = "cpuset")]
    pub cpuset: String,
}

/// Host scheduler policy; `priority` applies to the real-time ones (`fifo`, `rr`).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Sched {
    #[xml(attr = "scheduler")]
    pub scheduler: Scheduler,
    #[xml(attr = "priority")]
    pub priority: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct VcpuSched {
    #[xml(attr = "vcpus")]
    pub vcpus: Option<String>,
    #[xml(flatten)]
    pub sched: Sched,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct IothreadSched {
    #[xml(attr = "iothreads")]
    pub iothreads: Option<String>,
    #[xml(flatten)]
    pub sched: Sched,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum Scheduler {
    #[default]
    Batch,
    Idle,
    Fifo,
    Rr,
}

/// `<cachetune>`: CAT cache allocation for a set of vCPUs.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Cachetune {
    #[xml(attr = "vcpus")]
    pub vcpus: String,
    #[xml(attr = "id")]
    pub id: Option<String>,
    #[xml(child = "cache")]
    pub caches: Vec<CachetuneCache>,
    #[xml(child = "monitor")]
    pub monitors: Vec<ResctrlMonitor>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct CachetuneCache {
    #[xml(attr = "id")]
    pub id: u32,
    #[xml(attr = "level")]
    pub level: u32,
    #[xml(attr = "type")]
    pub kind: CacheType,
    #[xml(attr = "size")]
    pub size: u64,
    #[xml(attr = "unit")]
    pub unit: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum CacheType {
    #[default]
    Both,
    Code,
    Data,
}

/// `<monitor>` in `<cachetune>` (with `level`) or `<memorytune>`.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct ResctrlMonitor {
    #[xml(attr = "level")]
    pub level: Option<u32>,
    #[xml(attr = "vcpus")]
    pub vcpus: String,
}

/// `<memorytune>`: MBA memory bandwidth allocation for a set of vCPUs.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Memorytune {
    #[xml(attr = "vcpus")]
    pub vcpus: String,
    #[xml(attr = "id")]
    pub id: Option<String>,
    #[xml(child = "node")]
    pub nodes: Vec<MemorytuneNode>,
    #[xml(child = "monitor")]
    pub monitors: Vec<ResctrlMonitor>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct MemorytuneNode {
    #[xml(attr = "id")]
    pub id: u32,
    #[xml(attr = "bandwidth")]
    pub bandwidth: u32,
}

/// `<cpu>`: the guest CPU model, topology, features and NUMA cells.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Cpu {
    #[xml(attr = "mode")]
    pub mode: Option<CpuMode>,
    #[xml(attr = "match")]
    pub match_: Option<CpuMatch>,
    #[xml(attr = "check")]
    pub check: Option<CpuCheck>,
    #[xml(attr = "migratable")]
    pub migratable: Option<OnOff>,
    #[xml(child = "model")]
    pub model: Option<CpuModel>,
    #[xml(child_text = "vendor")]
    pub vendor: Option<String>,
    #[xml(child = "topology")]
    pub topology: Option<CpuTopology>,
    #[xml(child = "cache")]
    pub cache: Option<CpuCache>,
    #[xml(child = "maxphysaddr")]
    pub maxphysaddr: Option<MaxPhysAddr>,
    #[xml(child = "feature")]
    pub features: Vec<CpuFeature>,
    #[xml(child = "numa")]
    pub numa: Option<Numa>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum CpuMode {
    #[default]
    Custom,
    HostModel,
    HostPassthrough,
    Maximum,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum CpuMatch {
    Minimum,
    Exact,
    Strict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum CpuCheck {
    None,
    Partial,
    Full,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct CpuModel {
    #[xml(attr = "fallback")]
    pub fallback: Option<CpuFallback>,
    #[xml(attr = "vendor_id")]
    pub vendor_id: Option<String>,
    #[xml(text)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum CpuFallback {
    Allow,
    Forbid,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct CpuTopology {
    #[xml(attr = "sockets")]
    pub sockets: u32,
    #[xml(attr = "dies")]
    pub dies: Option<u32>,
    #[xml(attr = "cores")]
    pub cores: u32,
    #[xml(attr = "threads")]
    pub threads: u32,
}

impl CpuTopology {
    /// vCPUs this topology describes (`None` on overflow).
    pub fn total(&self) -> Option<u32> {
        self.sockets.checked_mul(self.dies.unwrap_or(1))?.checked_mul(self.cores)?.checked_mul(self.threads)
    }
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct CpuCache {
    #[xml(attr = "level")]
    pub level: Option<u32>,
    #[xml(attr = "mode")]
    pub mode: CpuCacheMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum CpuCacheMode {
    #[default]
    Emulate,
    Passthrough,
    Disable,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct MaxPhysAddr {
    #[xml(attr = "mode")]
    pub mode: MaxPhysAddrMode,
    #[xml(attr = "bits")]
    pub bits: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum MaxPhysAddrMode {
    #[default]
    Emulate,
    Passthrough,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct CpuFeature {
    #[xml(attr = "policy")]
    pub policy: Option<CpuFeaturePolicy>,
    #[xml(attr = "name")]
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum CpuFeaturePolicy {
    Force,
    Require,
    Optional,
    Disable,
    Forbid,
}

/// `<numa>`: guest NUMA topology.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Numa {
    #[xml(child = "cell")]
    pub cells: Vec<NumaCell>,
    #[xml(child = "interconnects")]
    pub interconnects: Option<NumaInterconnects>,
}

impl Numa {
    /// Memory of all cells together.
    pub fn total_memory(&self) -> KiB {
        KiB(self.cells.iter().map(|c| c.memory.0).fold(0u64, u64::saturating_add))
    }
}

/// `<cell>`: one guest NUMA node.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NumaCell {
    pub id: Option<u32>,
    pub cpus: Option<String>,
    pub memory: KiB,
    pub mem_access: Option<MemAccess>,
    pub discard: Option<YesNo>,
    pub distances: Option<NumaDistances>,
    pub caches: Vec<NumaCache>,
}

impl FromXml for NumaCell {
    fn from_xml(el: &mut El<'_, '_>) -> Result<Self, XmlError> {
        Ok(NumaCell {
            id: el.attr_opt("id")?,
            cpus: el.attr_opt("cpus")?,
            memory: scaled_attr(el, "memory", "unit", "KiB")?,
            mem_access: el.attr_opt("memAccess")?,
            discard: el.attr_opt("discard")?,
            distances: el.child_opt("distances")?,
            caches: el.child_vec("cache")?,
        })
    }
}

impl ToXml for NumaCell {
    fn write_attrs(&self, w: &mut Writer) {
        if let Some(id) = self.id {
            w.attr("id", &id.to_string());
        }
        if let Some(c) = &self.cpus {
            w.attr("cpus", c);
        }
        w.attr("memory", &self.memory.0.to_string());
        w.attr("unit", "KiB");
        if let Some(m) = self.mem_access {
            w.attr("memAccess", &m.to_xml_value());
        }
        if let Some(d) = self.discard {
            w.attr("discard", &d.to_xml_value());
        }
    }
    fn write_content(&self, w: &mut Writer) {
        if let Some(d) = &self.distances {
            w.element("distances", d);
        }
        for c in &self.caches {
            w.element("cache", c);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum MemAccess {
    Shared,
    Private,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct NumaDistances {
    #[xml(child = "sibling")]
    pub siblings: Vec<NumaSibling>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct NumaSibling {
    #[xml(attr = "id")]
    pub id: u32,
    #[xml(attr = "value")]
    pub value: u32,
}

/// `<cache>` of a NUMA cell (memory side cache, for HMAT).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct NumaCache {
    #[xml(attr = "level")]
    pub level: u32,
    #[xml(attr = "associativity")]
    pub associativity: NumaCacheAssociativity,
    #[xml(attr = "policy")]
    pub policy: NumaCachePolicy,
    #[xml(child = "size")]
    pub size: ValueUnit,
    #[xml(child = "line")]
    pub line: ValueUnit,
}

/// `value` + `unit` attributes, kept as written.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct ValueUnit {
    #[xml(attr = "value")]
    pub value: u64,
    #[xml(attr = "unit")]
    pub unit: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum NumaCacheAssociativity {
    #[default]
    None,
    Direct,
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum NumaCachePolicy {
    #[default]
    None,
    Writeback,
    Writethrough,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct NumaInterconnects {
    #[xml(child = "latency")]
    pub latencies: Vec<NumaInterconnect>,
    #[xml(child = "bandwidth")]
    pub bandwidths: Vec<NumaInterconnect>,
}

/// `<latency>` or `<bandwidth>` between an initiator and a target cell.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct NumaInterconnect {
    #[xml(attr = "initiator")]
    pub initiator: u32,
    #[xml(attr = "target")]
    pub target: u32,
    #[xml(attr = "cache")]
    pub cache: Option<u32>,
    #[xml(attr = "type")]
    pub kind: NumaInterconnectType,
    #[xml(attr = "value")]
    pub value: u64,
    #[xml(attr = "unit")]
    pub unit: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum NumaInterconnectType {
    #[default]
    Access,
    Read,
    Write,
}
