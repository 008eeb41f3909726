//! The domain (`<domain>`): a virtual machine's whole configuration.
//!
//! Fields are in libvirt's output order, so formatting the model gives libvirt's canonical form.
//! The top level is split by topic: `resources` (memory and tuning), `cpu` (vCPUs, cputune, guest
//! CPU), `os` (boot, sysinfo), `features`, `clock`, `misc` (lifecycle, security, namespaces).

pub mod clock;
pub mod cpu;
pub mod devices;
pub mod features;
pub mod misc;
pub mod os;
pub mod resources;

use crate::units::KiB;
use crate::{RawXml, Xml, XmlDocument, XmlError, XmlValue};
pub use clock::*;
pub use cpu::*;
pub use devices::*;
pub use features::*;
pub use misc::*;
pub use os::*;
pub use resources::*;

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Domain {
    #[xml(attr = "type")]
    pub kind: DomainType,
    /// Only in live XML: the running domain's id.
    #[xml(attr = "id")]
    pub id: Option<i32>,
    #[xml(child_text = "name")]
    pub name: String,
    #[xml(child_text = "uuid")]
    pub uuid: Option<uuid::Uuid>,
    /// VM generation id; an empty `<genid/>` asks for one to be generated.
    #[xml(child = "genid")]
    pub genid: Option<Genid>,
    #[xml(child_text = "title")]
    pub title: Option<String>,
    #[xml(child_text = "description")]
    pub description: Option<String>,
    /// Applications' own XML, kept verbatim.
    #[xml(child = "metadata")]
    pub metadata: Option<RawXml>,
    #[xml(child = "maxMemory")]
    pub max_memory: Option<MaxMemory>,
    #[xml(child = "memory")]
    pub memory: Option<Memory>,
    #[xml(child = "currentMemory")]
    pub current_memory: Option<KiB>,
    #[xml(child = "blkiotune")]
    pub blkiotune: Option<Blkiotune>,
    #[xml(child = "memtune")]
    pub memtune: Option<Memtune>,
    #[xml(child = "memoryBacking")]
    pub memory_backing: Option<MemoryBacking>,
    #[xml(child = "vcpu")]
    pub vcpu: Option<Vcpu>,
    #[xml(child = "vcpus")]
    pub vcpus: Option<Vcpus>,
    #[xml(child_text = "iothreads")]
    pub iothreads: Option<u32>,
    #[xml(child = "iothreadids")]
    pub iothreadids: Option<IothreadIds>,
    #[xml(child = "defaultiothread")]
    pub defaultiothread: Option<DefaultIothread>,
    #[xml(child = "cputune")]
    pub cputune: Option<Cputune>,
    #[xml(child = "numatune")]
    pub numatune: Option<Numatune>,
    #[xml(child = "resource")]
    pub resource: Option<Resource>,
    #[xml(child = "sysinfo")]
    pub sysinfo: Vec<Sysinfo>,
    #[xml(child_text = "bootloader")]
    pub bootloader: Option<String>,
    #[xml(child_text = "bootloader_args")]
    pub bootloader_args: Option<String>,
    #[xml(child = "os")]
    pub os: Os,
    #[xml(child = "idmap")]
    pub idmap: Option<Idmap>,
    #[xml(child = "features")]
    pub features: Option<Features>,
    #[xml(child = "cpu")]
    pub cpu: Option<Cpu>,
    #[xml(child = "clock")]
    pub clock: Option<Clock>,
    #[xml(child_text = "on_poweroff")]
    pub on_poweroff: Option<LifecycleAction>,
    #[xml(child_text = "on_reboot")]
    pub on_reboot: Option<LifecycleAction>,
    #[xml(child_text = "on_crash")]
    pub on_crash: Option<LifecycleAction>,
    #[xml(child_text = "on_lockfailure")]
    pub on_lockfailure: Option<LockFailureAction>,
    #[xml(child = "pm")]
    pub pm: Option<Pm>,
    #[xml(child = "perf")]
    pub perf: Option<Perf>,
    #[xml(child = "devices")]
    pub devices: Option<Devices>,
    #[xml(child = "seclabel")]
    pub seclabels: Vec<Seclabel>,
    #[xml(child = "keywrap")]
    pub keywrap: Option<Keywrap>,
    #[xml(child = "launchSecurity")]
    pub launch_security: Option<LaunchSecurity>,
    #[xml(child = "qemu:commandline")]
    pub qemu_commandline: Option<QemuCommandline>,
    #[xml(child = "qemu:capabilities")]
    pub qemu_capabilities: Option<QemuCapabilities>,
    #[xml(child = "qemu:override")]
    pub qemu_override: Option<QemuOverride>,
    #[xml(child = "qemu:deprecation")]
    pub qemu_deprecation: Option<QemuDeprecation>,
    #[xml(child = "lxc:namespace")]
    pub lxc_namespace: Option<LxcNamespace>,
    #[xml(child = "bhyve:commandline")]
    pub bhyve_commandline: Option<BhyveCommandline>,
    #[xml(child_text = "vmware:datacenterpath")]
    pub vmware_datacenterpath: Option<String>,
}

/// The hypervisor a domain is defined for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum DomainType {
    Qemu,
    Kqemu,
    #[default]
    Kvm,
    Xen,
    Lxc,
    Uml,
    Openvz,
    Test,
    Vmware,
    Hyperv,
    Vbox,
    Phyp,
    Vz,
    Bhyve,
    Hvf,
}

/// `<genid>`: empty means "generate one".
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Genid {
    #[xml(text)]
    pub uuid: Option<uuid::Uuid>,
}

impl Domain {
    /// Boot-time memory in KiB (0 when not given).
    pub fn memory_kib(&self) -> u64 {
        self.memory.as_ref().map_or(0, |m| m.size.0)
    }

    /// Memory the balloon targets at start, in KiB (the boot memory when not given).
    pub fn current_memory_kib(&self) -> u64 {
        self.current_memory.map_or_else(|| self.memory_kib(), |m| m.0)
    }

    /// Maximum vCPU count (libvirt's default is 1).
    pub fn vcpus(&self) -> u32 {
        self.vcpu.as_ref().map_or(1, |v| v.count)
    }

    /// vCPUs online at boot.
    pub fn vcpus_current(&self) -> u32 {
        if let Some(states) = &self.vcpus {
            if !states.vcpus.is_empty() {
                return states.vcpus.iter().filter(|v| v.enabled.is_yes()).count() as u32;
            }
        }
        self.vcpu.as_ref().and_then(|v| v.current).unwrap_or_else(|| self.vcpus())
    }

    pub fn os_type(&self) -> OsType {
        self.os.kind.kind
    }

    pub fn arch(&self) -> Option<&str> {
        self.os.kind.arch.as_deref()
    }

    pub fn machine(&self) -> Option<&str> {
        self.os.kind.machine.as_deref()
    }

    /// The guest's NUMA cells (empty when it has no NUMA topology).
    pub fn numa_cells(&self) -> &[NumaCell] {
        self.cpu.as_ref().and_then(|c| c.numa.as_ref()).map_or(&[], |n| &n.cells)
    }

    pub fn features(&self) -> &Features {
        static NONE: std::sync::OnceLock<Features> = std::sync::OnceLock::new();
        self.features.as_ref().unwrap_or_else(|| NONE.get_or_init(Features::default))
    }

    fn validate_memory(&mut self) -> Result<(), XmlError> {
        let numa_total = self.cpu.as_ref().and_then(|c| c.numa.as_ref()).map(|n| n.total_memory().0).unwrap_or(0);
        // As libvirt: the NUMA cells define the size when <memory> is absent or zero.
        if self.memory_kib() == 0 && numa_total > 0 {
            self.memory.get_or_insert_with(Memory::default).size = KiB(numa_total);
        }
        if self.memory_kib() == 0 {
            return Err(XmlError::invalid(
                "/domain/memory",
                "memory size must be given, as a non-zero <memory> or as the sum of the <numa> cells",
            ));
        }
        let total = self.memory_kib();
        // libvirt silently caps the balloon target at the memory size, and fills it when absent.
        match self.current_memory {
            Some(c) if c.0 > 0 && c.0 <= total => {}
            _ => self.current_memory = Some(KiB(total)),
        }
        if let Some(max) = &self.max_memory {
            if max.slots.is_none() {
                return Err(XmlError::invalid(
                    "/domain/maxMemory",
                    "<maxMemory> needs a 'slots' attribute (the number of memory hotplug slots)",
                ));
            }
            if max.size.0 == 0 {
                return Err(XmlError::invalid("/domain/maxMemory", "<maxMemory> must not be zero"));
            }
            if max.size.0 < total {
                return Err(XmlError::invalid(
                    "/domain/maxMemory",
                    format!("<maxMemory> ({} KiB) must not be less than <memory> ({total} KiB)", max.size.0),
                ));
            }
        }
        Ok(())
    }

    fn validate_vcpus(&self) -> Result<(), XmlError> {
        let max = self.vcpus();
        if let Some(v) = &self.vcpu {
            if v.count == 0 {
                return Err(XmlError::invalid("/domain/vcpu", "<vcpu> count must be at least 1"));
            }
            if let Some(cur) = v.current {
                if cur > max {
                    return Err(XmlError::invalid(
                        "/domain/vcpu",
                        format!("<vcpu current='{cur}'> exceeds the maximum vCPU count {max}"),
                    ));
                }
            }
        }
        if let Some(states) = &self.vcpus {
            for s in &states.vcpus {
                if s.id >= max {
                    return Err(XmlError::invalid(
                        "/domain/vcpus/vcpu",
                        format!("<vcpus><vcpu id='{}'> is out of range: the maximum vCPU count is {max}", s.id),
                    ));
                }
            }
        }
        if let Some(topo) = self.cpu.as_ref().and_then(|c| c.topology.as_ref()) {
            if topo.sockets == 0 || topo.cores == 0 || topo.threads == 0 || topo.dies == Some(0) {
                return Err(XmlError::invalid(
                    "/domain/cpu/topology",
                    "<topology> sockets, dies, cores and threads must all be at least 1",
                ));
            }
            if self.vcpu.is_some() && topo.total() != Some(max) {
                let dies = topo.dies.unwrap_or(1);
                return Err(XmlError::invalid(
                    "/domain/cpu/topology",
                    format!(
                        "<topology> describes {} vCPUs (sockets {} x dies {dies} x cores {} x threads {}) but <vcpu> is {max}",
                        topo.total().map_or_else(|| "too many".to_string(), |t| t.to_string()),
                        topo.sockets,
                        topo.cores,
                        topo.threads,
                    ),
                ));
            }
        }
        Ok(())
    }
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
        if let Some(g) = &mut self.genid {
            if g.uuid.is_none() {
                g.uuid = Some(uuid::Uuid::new_v4());
            }
        }
        self.validate_memory()?;
        self.validate_vcpus()?;
        Ok(())
    }
}
