//! Host capabilities (`<capabilities>`, virsh capabilities) and per-emulator domain capabilities
//! (`<domainCapabilities>`, virsh domcapabilities).
//!
//! These documents are produced by the driver, not written by users, so the models favour
//! losslessness (sizes keep the unit they were given, open sets are strings).

use crate::{OnOff, Xml, XmlValue, YesNo};

#[derive(Debug, Clone, PartialEq, Default, Xml)]
#[xml(root = "capabilities")]
pub struct Capabilities {
    #[xml(child = "host")]
    pub host: Host,
    #[xml(child = "guest")]
    pub guests: Vec<Guest>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Host {
    #[xml(child_text = "uuid")]
    pub uuid: Option<uuid::Uuid>,
    #[xml(child = "cpu")]
    pub cpu: HostCpu,
    #[xml(child = "power_management")]
    pub power_management: Option<PowerManagement>,
    #[xml(child = "iommu")]
    pub iommu: Option<Iommu>,
    #[xml(child = "migration_features")]
    pub migration_features: Option<MigrationFeatures>,
    #[xml(child = "topology")]
    pub topology: Option<HostTopology>,
    #[xml(child = "cache")]
    pub cache: Option<HostCache>,
    #[xml(child = "memory_bandwidth")]
    pub memory_bandwidth: Option<MemoryBandwidth>,
    #[xml(child = "secmodel")]
    pub secmodels: Vec<SecModel>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct HostCpu {
    #[xml(child_text = "arch")]
    pub arch: String,
    #[xml(child = "features")]
    pub features: Option<HostCpuFeatures>,
    #[xml(child_text = "model")]
    pub model: Option<String>,
    #[xml(child_text = "vendor")]
    pub vendor: Option<String>,
    #[xml(child = "microcode")]
    pub microcode: Option<Microcode>,
    #[xml(child = "signature")]
    pub signature: Option<CpuSignature>,
    #[xml(child = "counter")]
    pub counter: Option<CpuCounter>,
    #[xml(child = "topology")]
    pub topology: Option<CpuTopology>,
    #[xml(child = "maxphysaddr")]
    pub maxphysaddr: Option<MaxPhysAddr>,
    #[xml(child = "feature")]
    pub feature: Vec<NamedFeature>,
    #[xml(child = "pages")]
    pub pages: Vec<PageSize>,
}

/// Host CPU flags libvirt reports separately from the CPU model's feature list.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct HostCpuFeatures {
    #[xml(flag = "pae")]
    pub pae: bool,
    #[xml(flag = "nonpae")]
    pub nonpae: bool,
    #[xml(flag = "vmx")]
    pub vmx: bool,
    #[xml(flag = "svm")]
    pub svm: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct Microcode {
    #[xml(attr = "version")]
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct CpuSignature {
    #[xml(attr = "family")]
    pub family: u32,
    #[xml(attr = "model")]
    pub model: u32,
    #[xml(attr = "stepping")]
    pub stepping: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct CpuCounter {
    #[xml(attr = "name")]
    pub name: String,
    #[xml(attr = "frequency")]
    pub frequency: u64,
    #[xml(attr = "scaling")]
    pub scaling: Option<YesNo>,
}

/// The host CPU's `<topology>`: the one type domain CPUs use too.
pub use crate::domain::cpu::CpuTopology;

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum MaxPhysAddrMode {
    Emulate,
    Passthrough,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct MaxPhysAddr {
    #[xml(attr = "mode")]
    pub mode: MaxPhysAddrMode,
    #[xml(attr = "bits")]
    pub bits: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct NamedFeature {
    #[xml(attr = "name")]
    pub name: String,
}

/// A page size (`unit` + `size`), with the number of free pages when inside a NUMA cell.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct PageSize {
    #[xml(attr = "unit")]
    pub unit: Option<String>,
    #[xml(attr = "size")]
    pub size: u64,
    #[xml(text)]
    pub count: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct PowerManagement {
    #[xml(flag = "suspend_mem")]
    pub suspend_mem: bool,
    #[xml(flag = "suspend_disk")]
    pub suspend_disk: bool,
    #[xml(flag = "suspend_hybrid")]
    pub suspend_hybrid: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Iommu {
    #[xml(attr = "support")]
    pub support: Option<YesNo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct MigrationFeatures {
    #[xml(flag = "live")]
    pub live: bool,
    #[xml(child = "uri_transports")]
    pub uri_transports: Option<UriTransports>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct UriTransports {
    #[xml(child_text = "uri_transport")]
    pub transports: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct HostTopology {
    #[xml(child = "cells")]
    pub cells: Cells,
    #[xml(child = "interconnects")]
    pub interconnects: Option<Interconnects>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Cells {
    #[xml(attr = "num")]
    pub num: u32,
    #[xml(child = "cell")]
    pub cells: Vec<Cell>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Cell {
    #[xml(attr = "id")]
    pub id: u32,
    #[xml(child = "memory")]
    pub memory: Option<SizedValue>,
    #[xml(child = "pages")]
    pub pages: Vec<PageSize>,
    #[xml(child = "distances")]
    pub distances: Option<Distances>,
    #[xml(child = "cache")]
    pub caches: Vec<NumaCache>,
    #[xml(child = "cpus")]
    pub cpus: Option<CellCpus>,
}

/// A number with the unit it was given in (`<memory unit='KiB'>N</memory>`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct SizedValue {
    #[xml(attr = "unit")]
    pub unit: Option<String>,
    #[xml(text)]
    pub value: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Distances {
    #[xml(child = "sibling")]
    pub siblings: Vec<Sibling>,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct Sibling {
    #[xml(attr = "id")]
    pub id: u32,
    #[xml(attr = "value")]
    pub value: u32,
}

/// A memory-side cache of a NUMA node (HMAT).
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct NumaCache {
    #[xml(attr = "level")]
    pub level: u32,
    #[xml(attr = "associativity")]
    pub associativity: String,
    #[xml(attr = "policy")]
    pub policy: String,
    #[xml(child = "size")]
    pub size: SizeAttr,
    #[xml(child = "line")]
    pub line: SizeAttr,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct SizeAttr {
    #[xml(attr = "value")]
    pub value: u64,
    #[xml(attr = "unit")]
    pub unit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Interconnects {
    #[xml(child = "latency")]
    pub latency: Vec<Interconnect>,
    #[xml(child = "bandwidth")]
    pub bandwidth: Vec<Interconnect>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Interconnect {
    #[xml(attr = "initiator")]
    pub initiator: u32,
    #[xml(attr = "target")]
    pub target: u32,
    #[xml(attr = "cache")]
    pub cache: Option<u32>,
    #[xml(attr = "type")]
    pub kind: String,
    #[xml(attr = "value")]
    pub value: u64,
    #[xml(attr = "unit")]
    pub unit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct CellCpus {
    #[xml(attr = "num")]
    pub num: u32,
    #[xml(child = "cpu")]
    pub cpus: Vec<CellCpu>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct CellCpu {
    #[xml(attr = "id")]
    pub id: u32,
    #[xml(attr = "socket_id")]
    pub socket_id: Option<u32>,
    #[xml(attr = "die_id")]
    pub die_id: Option<u32>,
    #[xml(attr = "core_id")]
    pub core_id: Option<u32>,
    /// A cpuset string such as `0,4` or `0-1`.
    #[xml(attr = "siblings")]
    pub siblings: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum CacheType {
    Both,
    Code,
    Data,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct HostCache {
    #[xml(child = "bank")]
    pub banks: Vec<CacheBank>,
    #[xml(child = "monitor")]
    pub monitor: Option<CpuMonitor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct CacheBank {
    #[xml(attr = "id")]
    pub id: u32,
    #[xml(attr = "level")]
    pub level: u32,
    #[xml(attr = "type")]
    pub kind: CacheType,
    #[xml(attr = "size")]
    pub size: u64,
    #[xml(attr = "unit")]
    pub unit: String,
    #[xml(attr = "cpus")]
    pub cpus: String,
    #[xml(child = "control")]
    pub controls: Vec<CacheControl>,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct CacheControl {
    #[xml(attr = "granularity")]
    pub granularity: u64,
    #[xml(attr = "min")]
    pub min: Option<u64>,
    #[xml(attr = "unit")]
    pub unit: Option<String>,
    #[xml(attr = "type")]
    pub kind: Option<CacheType>,
    #[xml(attr = "maxAllocs")]
    pub max_allocs: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct CpuMonitor {
    #[xml(attr = "level")]
    pub level: Option<u32>,
    #[xml(attr = "reuseThreshold")]
    pub reuse_threshold: Option<u64>,
    #[xml(attr = "maxMonitors")]
    pub max_monitors: u32,
    #[xml(child = "feature")]
    pub features: Vec<NamedFeature>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct MemoryBandwidth {
    #[xml(child = "node")]
    pub nodes: Vec<MemoryBandwidthNode>,
    #[xml(child = "monitor")]
    pub monitor: Option<CpuMonitor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct MemoryBandwidthNode {
    #[xml(attr = "id")]
    pub id: u32,
    #[xml(attr = "cpus")]
    pub cpus: String,
    #[xml(child = "control")]
    pub controls: Vec<CacheControl>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct SecModel {
    #[xml(child_text = "model")]
    pub model: String,
    #[xml(child_text = "doi")]
    pub doi: String,
    #[xml(child = "baselabel")]
    pub baselabels: Vec<BaseLabel>,
}

/// Default label for domains of one virt type (`type='kvm'`).
#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct BaseLabel {
    #[xml(attr = "type")]
    pub kind: String,
    #[xml(text)]
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Guest {
    /// `hvm`, `xen`, `linux`, `exe`, `uml`.
    #[xml(child_text = "os_type")]
    pub os_type: String,
    #[xml(child = "arch")]
    pub arch: GuestArch,
    #[xml(child = "features")]
    pub features: Option<GuestFeatures>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct GuestArch {
    #[xml(attr = "name")]
    pub name: String,
    #[xml(child_text = "wordsize")]
    pub wordsize: Option<u32>,
    #[xml(child_text = "emulator")]
    pub emulator: Option<String>,
    #[xml(child_text = "loader")]
    pub loader: Option<String>,
    #[xml(child = "machine")]
    pub machines: Vec<Machine>,
    #[xml(child = "domain")]
    pub domains: Vec<GuestDomain>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Machine {
    /// The versioned machine type this alias stands for.
    #[xml(attr = "canonical")]
    pub canonical: Option<String>,
    #[xml(attr = "maxCpus")]
    pub max_cpus: Option<u32>,
    #[xml(attr = "deprecated")]
    pub deprecated: Option<YesNo>,
    #[xml(text)]
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct GuestDomain {
    #[xml(attr = "type")]
    pub kind: String,
    #[xml(child_text = "emulator")]
    pub emulator: Option<String>,
    #[xml(child = "machine")]
    pub machines: Vec<Machine>,
}

/// A guest feature, either a bare marker or with `toggle` (changeable) and `default`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct GuestFeature {
    #[xml(attr = "default")]
    pub default: Option<OnOff>,
    #[xml(attr = "toggle")]
    pub toggle: Option<YesNo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct GuestFeatures {
    #[xml(child = "pae")]
    pub pae: Option<GuestFeature>,
    #[xml(child = "nonpae")]
    pub nonpae: Option<GuestFeature>,
    #[xml(child = "ia64_be")]
    pub ia64_be: Option<GuestFeature>,
    #[xml(child = "acpi")]
    pub acpi: Option<GuestFeature>,
    #[xml(child = "apic")]
    pub apic: Option<GuestFeature>,
    #[xml(child = "cpuselection")]
    pub cpuselection: Option<GuestFeature>,
    #[xml(child = "deviceboot")]
    pub deviceboot: Option<GuestFeature>,
    #[xml(child = "disksnapshot")]
    pub disksnapshot: Option<GuestFeature>,
    #[xml(child = "hap")]
    pub hap: Option<GuestFeature>,
    #[xml(child = "externalSnapshot")]
    pub external_snapshot: Option<GuestFeature>,
}

impl Capabilities {
    /// The guest entries for one OS type and architecture (`hvm`, `x86_64`).
    pub fn guest(&self, os_type: &str, arch: &str) -> Option<&Guest> {
        self.guests.iter().find(|g| g.os_type == os_type && g.arch.name == arch)
    }
}

// ---- domain capabilities ----

#[derive(Debug, Clone, PartialEq, Default, Xml)]
#[xml(root = "domainCapabilities")]
pub struct DomainCapabilities {
    #[xml(child_text = "path")]
    pub path: String,
    #[xml(child_text = "domain")]
    pub domain: String,
    #[xml(child_text = "machine")]
    pub machine: Option<String>,
    #[xml(child_text = "arch")]
    pub arch: String,
    #[xml(child = "vcpu")]
    pub vcpu: Option<VcpuCaps>,
    #[xml(child = "iothreads")]
    pub iothreads: Option<Supported>,
    #[xml(child = "os")]
    pub os: Option<OsCaps>,
    #[xml(child = "cpu")]
    pub cpu: Option<CpuCaps>,
    #[xml(child = "memoryBacking")]
    pub memory_backing: Option<EnumCaps>,
    #[xml(child = "devices")]
    pub devices: Option<DeviceCaps>,
    #[xml(child = "features")]
    pub features: Option<FeatureCaps>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct VcpuCaps {
    #[xml(attr = "max")]
    pub max: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Supported {
    #[xml(attr = "supported")]
    pub supported: YesNo,
}

/// `<enum name='bus'><value>virtio</value>...</enum>`: the values an attribute may take.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Enum {
    #[xml(attr = "name")]
    pub name: String,
    #[xml(child_text = "value")]
    pub values: Vec<String>,
}

/// Something that is supported or not, with the enums of its attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct EnumCaps {
    #[xml(attr = "supported")]
    pub supported: YesNo,
    #[xml(child = "enum")]
    pub enums: Vec<Enum>,
}

impl EnumCaps {
    /// The values of one enum, empty when absent.
    pub fn values(&self, name: &str) -> &[String] {
        self.enums.iter().find(|e| e.name == name).map_or(&[], |e| &e.values)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct OsCaps {
    #[xml(attr = "supported")]
    pub supported: YesNo,
    #[xml(child = "enum")]
    pub enums: Vec<Enum>,
    #[xml(child = "loader")]
    pub loader: Option<LoaderCaps>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct LoaderCaps {
    #[xml(attr = "supported")]
    pub supported: YesNo,
    /// Firmware image paths known to the driver.
    #[xml(child_text = "value")]
    pub values: Vec<String>,
    #[xml(child = "enum")]
    pub enums: Vec<Enum>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct CpuCaps {
    #[xml(child = "mode")]
    pub modes: Vec<CpuModeCaps>,
}

/// One CPU mode (`host-passthrough`, `maximum`, `host-model`, `custom`) and what it offers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct CpuModeCaps {
    #[xml(attr = "name")]
    pub name: String,
    #[xml(attr = "supported")]
    pub supported: YesNo,
    #[xml(child = "enum")]
    pub enums: Vec<Enum>,
    #[xml(child = "model")]
    pub models: Vec<CpuModelCaps>,
    #[xml(child_text = "vendor")]
    pub vendor: Option<String>,
    #[xml(child = "maxphysaddr")]
    pub maxphysaddr: Option<MaxPhysAddr>,
    #[xml(child = "feature")]
    pub features: Vec<CpuFeaturePolicy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum Usable {
    Yes,
    No,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum CpuFallback {
    Allow,
    Forbid,
}

/// A CPU model: host-model's expansion (`fallback`) or one of custom's list (`usable`, `vendor`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct CpuModelCaps {
    #[xml(attr = "usable")]
    pub usable: Option<Usable>,
    #[xml(attr = "deprecated")]
    pub deprecated: Option<YesNo>,
    #[xml(attr = "vendor")]
    pub vendor: Option<String>,
    #[xml(attr = "fallback")]
    pub fallback: Option<CpuFallback>,
    #[xml(attr = "vendor_id")]
    pub vendor_id: Option<String>,
    #[xml(text)]
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum FeaturePolicy {
    Force,
    Require,
    Optional,
    Disable,
    Forbid,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct CpuFeaturePolicy {
    #[xml(attr = "policy")]
    pub policy: FeaturePolicy,
    #[xml(attr = "name")]
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct DeviceCaps {
    #[xml(child = "disk")]
    pub disk: Option<EnumCaps>,
    #[xml(child = "graphics")]
    pub graphics: Option<EnumCaps>,
    #[xml(child = "video")]
    pub video: Option<EnumCaps>,
    #[xml(child = "hostdev")]
    pub hostdev: Option<EnumCaps>,
    #[xml(child = "rng")]
    pub rng: Option<EnumCaps>,
    #[xml(child = "filesystem")]
    pub filesystem: Option<EnumCaps>,
    #[xml(child = "tpm")]
    pub tpm: Option<EnumCaps>,
    #[xml(child = "redirdev")]
    pub redirdev: Option<EnumCaps>,
    #[xml(child = "channel")]
    pub channel: Option<EnumCaps>,
    #[xml(child = "crypto")]
    pub crypto: Option<EnumCaps>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct FeatureCaps {
    #[xml(child = "gic")]
    pub gic: Option<EnumCaps>,
    #[xml(child = "vmcoreinfo")]
    pub vmcoreinfo: Option<Supported>,
    #[xml(child = "genid")]
    pub genid: Option<Supported>,
    #[xml(child = "backingStoreInput")]
    pub backing_store_input: Option<Supported>,
    #[xml(child = "backup")]
    pub backup: Option<Supported>,
    #[xml(child = "async-teardown")]
    pub async_teardown: Option<Supported>,
    #[xml(child = "s390-pv")]
    pub s390_pv: Option<Supported>,
    #[xml(child = "sev")]
    pub sev: Option<SevCaps>,
    #[xml(child = "sgx")]
    pub sgx: Option<SgxCaps>,
    #[xml(child = "hyperv")]
    pub hyperv: Option<EnumCaps>,
}

/// AMD SEV parameters the guest's `<launchSecurity>` needs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct SevCaps {
    #[xml(attr = "supported")]
    pub supported: YesNo,
    #[xml(child_text = "cbitpos")]
    pub cbitpos: Option<u32>,
    #[xml(child_text = "reducedPhysBits")]
    pub reduced_phys_bits: Option<u32>,
    #[xml(child_text = "maxGuests")]
    pub max_guests: Option<u32>,
    #[xml(child_text = "maxESGuests")]
    pub max_es_guests: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct SgxCaps {
    #[xml(attr = "supported")]
    pub supported: YesNo,
    #[xml(child_text = "flc")]
    pub flc: Option<YesNo>,
    #[xml(child_text = "sgx1")]
    pub sgx1: Option<YesNo>,
    #[xml(child_text = "sgx2")]
    pub sgx2: Option<YesNo>,
    #[xml(child = "section_size")]
    pub section_size: Option<SizedValue>,
    #[xml(child = "sections")]
    pub sections: Option<SgxSections>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct SgxSections {
    #[xml(child = "section")]
    pub sections: Vec<SgxSection>,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct SgxSection {
    #[xml(attr = "node")]
    pub node: u32,
    #[xml(attr = "size")]
    pub size: u64,
    #[xml(attr = "unit")]
    pub unit: Option<String>,
}

impl DomainCapabilities {
    pub fn cpu_mode(&self, name: &str) -> Option<&CpuModeCaps> {
        self.cpu.as_ref()?.modes.iter().find(|m| m.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::XmlDocument;

    #[test]
    fn capabilities_round_trip() {
        let xml = "<capabilities><host><cpu><arch>x86_64</arch><model>Haswell</model>
            <topology sockets='1' dies='1' cores='2' threads='1'/><feature name='vmx'/><pages unit='KiB' size='4'/></cpu>
            <topology><cells num='1'><cell id='0'><memory unit='KiB'>1024</memory><pages unit='KiB' size='4'>256</pages>
            <cpus num='1'><cpu id='0' socket_id='0' die_id='0' core_id='0' siblings='0'/></cpus></cell></cells></topology>
            <secmodel><model>dac</model><doi>0</doi><baselabel type='kvm'>+0:+0</baselabel></secmodel></host>
            <guest><os_type>hvm</os_type><arch name='x86_64'><wordsize>64</wordsize><emulator>/usr/bin/qemu-system-x86_64</emulator>
            <machine canonical='pc-i440fx-7.2' maxCpus='255'>pc</machine><domain type='qemu'/><domain type='kvm'/></arch>
            <features><acpi default='on' toggle='yes'/><cpuselection/></features></guest></capabilities>";
        let c = Capabilities::from_xml_str(xml).unwrap();
        let g = c.guest("hvm", "x86_64").unwrap();
        assert_eq!(g.arch.machines[0].canonical.as_deref(), Some("pc-i440fx-7.2"));
        assert_eq!(c.host.topology.as_ref().unwrap().cells.cells[0].pages[0].count, Some(256));
        let out = c.to_xml_string();
        assert_eq!(Capabilities::from_xml_str(&out).unwrap(), c);
    }

    #[test]
    fn domcaps_round_trip() {
        let xml = "<domainCapabilities><path>/usr/bin/qemu-system-x86_64</path><domain>kvm</domain><machine>pc</machine>
            <arch>x86_64</arch><vcpu max='255'/><iothreads supported='yes'/>
            <os supported='yes'><enum name='firmware'><value>efi</value></enum><loader supported='yes'><value>/x.fd</value>
            <enum name='type'><value>rom</value><value>pflash</value></enum></loader></os>
            <cpu><mode name='custom' supported='yes'><model usable='yes' vendor='Intel'>Haswell</model></mode></cpu>
            <devices><disk supported='yes'><enum name='bus'><value>virtio</value></enum></disk></devices>
            <features><sev supported='no'/></features></domainCapabilities>";
        let d = DomainCapabilities::from_xml_str(xml).unwrap();
        assert_eq!(
            d.devices.as_ref().and_then(|x| x.disk.as_ref()).map(|x| x.values("bus").to_vec()),
            Some(vec!["virtio".to_string()])
        );
        assert_eq!(d.cpu_mode("custom").map(|m| m.models.len()), Some(1));
        let out = d.to_xml_string();
        assert_eq!(DomainCapabilities::from_xml_str(&out).unwrap(), d);
        let e = DomainCapabilities::from_xml_str("<domainCapabilities><path>p</path><domain>kvm</domain><arch>x</arch><iothreads supported='maybe'/></domainCapabilities>").unwrap_err();
        assert!(e.to_string().contains("expected one of: yes, no"), "{e}");
    }
}
