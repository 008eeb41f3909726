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
mod qemu_rules;
pub mod resources;
mod rules;

use crate::units::KiB;
use crate::{RawXml, Xml, XmlDocument, XmlError, XmlValue};
pub use clock::*;
pub use cpu::*;
pub use devices::*;
pub use features::*;
pub use misc::*;
pub use os::*;
pub use qemu_rules::QemuMachineFamily;
pub use resources::*;
pub use rules::disk_index;

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
        Ok(())
    }
}

impl Domain {
    /// The SMBIOS system UUID must be the domain's; without `<uuid>` it becomes the domain's.
    fn check_sysinfo_uuid(&mut self) -> Result<(), XmlError> {
        for (i, si) in self.sysinfo.iter().enumerate() {
            let Some(system) = &si.system else { continue };
            for e in system.entries.iter().filter(|e| e.name == SystemEntryName::Uuid) {
                let path = format!("/domain/sysinfo[{}]/system/entry", i + 1);
                let text = e.value.as_deref().unwrap_or("");
                let u = uuid::Uuid::from_xml_value(text)
                    .map_err(|r| XmlError::invalid(&path, format!("<sysinfo> system uuid '{text}': {r}")))?;
                match self.uuid {
                    None => self.uuid = Some(u),
                    Some(d) if d != u => {
                        return Err(XmlError::invalid(
                            path,
                            format!("<sysinfo> system uuid {u} differs from the domain <uuid> {d}"),
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }

    fn validate_numa(&mut self) -> Result<(), XmlError> {
        let ncells = self.numa_cells().len();
        let mut ids = Vec::new();
        for c in self.numa_cells() {
            if let Some(id) = c.id {
                if id as usize >= ncells || ids.contains(&id) {
                    return Err(XmlError::invalid(
                        "/domain/cpu/numa/cell",
                        format!("NUMA <cell> ids must be 0 to {} with each used once; id {id} is not", ncells - 1),
                    ));
                }
                ids.push(id);
            }
            if let Some(d) = &c.distances {
                if let Some(s) = d.siblings.iter().find(|s| s.id as usize >= ncells) {
                    return Err(XmlError::invalid(
                        "/domain/cpu/numa/cell/distances/sibling",
                        format!("<sibling id='{}'> does not refer to a NUMA cell", s.id),
                    ));
                }
            }
        }
        if let Some(nt) = &mut self.numatune {
            let auto = nt.memory.as_ref().is_some_and(|m| m.placement == Some(Placement::Auto));
            if auto {
                // As libvirt: numad picks the nodes, an explicit nodeset is ignored.
                if let Some(m) = &mut nt.memory {
                    m.nodeset = None;
                }
                if !nt.memnodes.is_empty() {
                    return Err(XmlError::invalid(
                        "/domain/numatune/memnode",
                        "<memnode> cannot be combined with <memory placement='auto'>",
                    ));
                }
            }
            let restrictive = nt.memory.as_ref().and_then(|m| m.mode) == Some(NumaMode::Restrictive);
            let mut seen = Vec::new();
            for m in &nt.memnodes {
                if m.cellid as usize >= ncells {
                    return Err(XmlError::invalid(
                        "/domain/numatune/memnode",
                        format!(
                            "<memnode cellid='{}'> does not refer to a guest NUMA cell ({ncells} defined)",
                            m.cellid
                        ),
                    ));
                }
                if seen.contains(&m.cellid) {
                    return Err(XmlError::invalid(
                        "/domain/numatune/memnode",
                        format!("more than one <memnode> for cellid {}", m.cellid),
                    ));
                }
                seen.push(m.cellid);
                if restrictive && m.mode != NumaMode::Restrictive {
                    return Err(XmlError::invalid(
                        "/domain/numatune/memnode",
                        "<memnode> mode must be 'restrictive' when <memory mode='restrictive'>",
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_iothreads(&self) -> Result<(), XmlError> {
        let mut seen = Vec::new();
        for t in self.iothreadids.iter().flat_map(|i| &i.iothreads) {
            if t.id == 0 {
                return Err(XmlError::invalid("/domain/iothreadids/iothread", "<iothread> id must be at least 1"));
            }
            if seen.contains(&t.id) {
                return Err(XmlError::invalid(
                    "/domain/iothreadids/iothread",
                    format!("<iothread id='{}'> is defined more than once", t.id),
                ));
            }
            seen.push(t.id);
        }
        if let Some(ct) = &self.cputune {
            let max = self.vcpus();
            let mut pinned = Vec::new();
            for p in &ct.vcpupins {
                if p.vcpu >= max {
                    return Err(XmlError::invalid(
                        "/domain/cputune/vcpupin",
                        format!("<vcpupin vcpu='{}'> refers to a vCPU beyond the maximum count {max}", p.vcpu),
                    ));
                }
                if pinned.contains(&p.vcpu) {
                    return Err(XmlError::invalid(
                        "/domain/cputune/vcpupin",
                        format!("vCPU {} is pinned more than once", p.vcpu),
                    ));
                }
                pinned.push(p.vcpu);
            }
        }
        Ok(())
    }

    fn validate_misc(&self) -> Result<(), XmlError> {
        for (name, action) in [("on_poweroff", self.on_poweroff), ("on_reboot", self.on_reboot)] {
            if let Some(a @ (LifecycleAction::CoredumpDestroy | LifecycleAction::CoredumpRestart)) = action {
                return Err(XmlError::invalid(
                    format!("/domain/{name}"),
                    format!("<{name}> does not support '{a}' (only <on_crash> does)"),
                ));
            }
        }
        if let Some(fw) = &self.os.firmware_features {
            let state = |n| fw.features.iter().find(|f| f.name == n).map(|f| f.enabled);
            if state(FirmwareFeatureName::EnrolledKeys) == Some(crate::YesNo::Yes)
                && state(FirmwareFeatureName::SecureBoot) == Some(crate::YesNo::No)
            {
                return Err(XmlError::invalid(
                    "/domain/os/firmware/feature",
                    "firmware feature 'enrolled-keys' requires 'secure-boot' (it is disabled)",
                ));
            }
        }
        for si in &self.sysinfo {
            for e in si.bios.iter().flat_map(|b| &b.entries).filter(|e| e.name == BiosEntryName::Date) {
                let date = e.value.as_deref().unwrap_or("");
                if !valid_bios_date(date) {
                    return Err(XmlError::invalid(
                        "/domain/sysinfo/bios/entry",
                        format!("<sysinfo> BIOS date '{date}' must be mm/dd/yy or mm/dd/yyyy (year 1900 or later)"),
                    ));
                }
            }
        }
        if self.seclabels.len() > 1 {
            let mut models = Vec::new();
            for l in &self.seclabels {
                let Some(m) = &l.model else {
                    return Err(XmlError::invalid(
                        "/domain/seclabel",
                        "each <seclabel> needs a 'model' when there are several",
                    ));
                };
                if models.contains(&m) {
                    return Err(XmlError::invalid(
                        "/domain/seclabel",
                        format!("more than one <seclabel> for model '{m}'"),
                    ));
                }
                models.push(m);
            }
        }
        if let Some(ct) = &self.cputune {
            let mut used: Vec<u32> = Vec::new();
            for v in &ct.vcpuscheds {
                let set = v.vcpus.as_deref().map(parse_cpuset).transpose().map_err(|r| {
                    XmlError::invalid("/domain/cputune/vcpusched", format!("<vcpusched vcpus=...>: {r}"))
                })?;
                for id in set.unwrap_or_default() {
                    if used.contains(&id) {
                        return Err(XmlError::invalid(
                            "/domain/cputune/vcpusched",
                            format!("<vcpusched> elements overlap: vCPU {id} is in more than one"),
                        ));
                    }
                    used.push(id);
                }
            }
        }
        if let Some(m) = self.numatune.as_ref().and_then(|n| n.memory.as_ref()) {
            if m.placement == Some(Placement::Static) && m.nodeset.is_none() {
                return Err(XmlError::invalid(
                    "/domain/numatune/memory",
                    "<numatune><memory placement='static'> needs a 'nodeset'",
                ));
            }
        }
        if let Some(cache) = self.cpu.as_ref().and_then(|c| c.cache.as_ref()) {
            if let Some(l) = cache.level.filter(|l| !(1..=3).contains(l)) {
                return Err(XmlError::invalid("/domain/cpu/cache", format!("<cache level='{l}'> must be 1, 2 or 3")));
            }
        }
        Ok(())
    }
}

impl Domain {
    /// Rules libvirt's QEMU driver enforces when a domain is defined (run by `post_parse` for
    /// `kvm` and `qemu` domains): those that depend on the XML alone, not on QEMU's capabilities.
    pub fn validate_qemu(&self) -> Result<(), XmlError> {
        let max = self.vcpus();
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
        if let Some(cpu) = &self.cpu {
            if let Some(a) = &cpu.maxphysaddr {
                match (a.mode, a.bits) {
                    (MaxPhysAddrMode::Passthrough, Some(_)) => {
                        return Err(XmlError::invalid(
                            "/domain/cpu/maxphysaddr",
                            "<maxphysaddr mode='passthrough'> takes no 'bits'",
                        ))
                    }
                    (MaxPhysAddrMode::Emulate, None) => {
                        return Err(XmlError::invalid(
                            "/domain/cpu/maxphysaddr",
                            "<maxphysaddr mode='emulate'> needs 'bits'",
                        ))
                    }
                    _ => {}
                }
            }
            if let Some(c) = &cpu.cache {
                let msg = match (c.mode, c.level) {
                    (CpuCacheMode::Emulate, l) if l != Some(3) => Some("<cache mode='emulate'> needs level='3'"),
                    (CpuCacheMode::Passthrough, _)
                        if !matches!(cpu.mode, Some(CpuMode::HostPassthrough | CpuMode::Maximum)) =>
                    {
                        Some("<cache mode='passthrough'> needs <cpu mode='host-passthrough'> or 'maximum'")
                    }
                    (CpuCacheMode::Passthrough | CpuCacheMode::Disable, Some(_)) => {
                        Some("<cache> takes no 'level' with mode 'passthrough' or 'disable'")
                    }
                    _ => None,
                };
                if let Some(m) = msg {
                    return Err(XmlError::invalid("/domain/cpu/cache", m));
                }
            }
        }
        self.check_qemu_rules()
    }
}

impl XmlDocument for Domain {
    const ROOT: &'static str = "domain";

    fn post_parse(&mut self) -> Result<(), XmlError> {
        crate::names::check_at(crate::names::Kind::Domain, &self.name, "/domain/name")?;
        self.check_sysinfo_uuid()?;
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
        self.validate_numa()?;
        self.validate_iothreads()?;
        self.validate_misc()?;
        self.validate_devices()?;
        self.check_rules()?;
        if matches!(self.kind, DomainType::Kvm | DomainType::Qemu) {
            self.validate_qemu()?;
        }
        Ok(())
    }
}

impl Domain {
    /// Per-device rules the device models define, and rules across devices (unique disk targets).
    fn validate_devices(&self) -> Result<(), XmlError> {
        let Some(d) = &self.devices else { return Ok(()) };
        let nth = |kind: &str, i: usize, n: usize| {
            if n > 1 {
                format!("/domain/devices/{kind}[{}]", i + 1)
            } else {
                format!("/domain/devices/{kind}")
            }
        };
        for (i, x) in d.disks.iter().enumerate() {
            x.validate(&nth("disk", i, d.disks.len()))?;
        }
        for (i, x) in d.controllers.iter().enumerate() {
            x.validate(&nth("controller", i, d.controllers.len()))?;
        }
        for (i, x) in d.hostdevs.iter().enumerate() {
            x.validate(&nth("hostdev", i, d.hostdevs.len()))?;
        }
        for (i, x) in d.smartcards.iter().enumerate() {
            x.validate(&nth("smartcard", i, d.smartcards.len()))?;
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, x) in d.disks.iter().enumerate() {
            if !seen.insert(x.target.dev.as_str()) {
                return Err(XmlError::invalid(
                    format!("{}/target", nth("disk", i, d.disks.len())),
                    format!("target '{}' duplicated for disk sources", x.target.dev),
                ));
            }
        }
        Ok(())
    }
}

/// libvirt's check of the SMBIOS BIOS date: `mm/dd/yy` or `mm/dd/yyyy` with a year from 1900.
fn valid_bios_date(s: &str) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    let [m, d, y] = parts[..] else { return false };
    let num =
        |p: &str| (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())).then(|| p.parse::<u32>().ok()).flatten();
    match (num(m), num(d), num(y)) {
        (Some(m), Some(d), Some(y)) => (1..=12).contains(&m) && (1..=31).contains(&d) && !(100..1900).contains(&y),
        _ => false,
    }
}

/// Expands a libvirt CPU/node set (`0-3,^2,8`) into its members.
pub fn parse_cpuset(s: &str) -> Result<Vec<u32>, String> {
    let mut set: Vec<u32> = Vec::new();
    let mut excluded: Vec<u32> = Vec::new();
    let bad = || format!("invalid set '{s}': expected numbers and ranges like 0-3,^2,8");
    for part in s.split(',').map(str::trim) {
        if let Some(n) = part.strip_prefix('^') {
            excluded.push(n.parse().map_err(|_| bad())?);
        } else if let Some((a, b)) = part.split_once('-') {
            let (a, b): (u32, u32) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
            if a > b || b - a > 65_536 {
                return Err(bad());
            }
            set.extend(a..=b);
        } else {
            set.push(part.parse().map_err(|_| bad())?);
        }
    }
    set.retain(|n| !excluded.contains(n));
    set.sort_unstable();
    set.dedup();
    Ok(set)
}
