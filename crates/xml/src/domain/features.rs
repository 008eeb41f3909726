//! `<features>`: hypervisor features toggled for the guest.

use crate::units::KiB;
use crate::{El, FromXml, OnOff, ToXml, Writer, Xml, XmlError, XmlValue};

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Features {
    #[xml(flag = "acpi")]
    pub acpi: bool,
    #[xml(child = "apic")]
    pub apic: Option<Apic>,
    #[xml(flag = "pae")]
    pub pae: bool,
    #[xml(child = "hap")]
    pub hap: Option<FeatureState>,
    #[xml(flag = "viridian")]
    pub viridian: bool,
    #[xml(flag = "privnet")]
    pub privnet: bool,
    #[xml(child = "hyperv")]
    pub hyperv: Option<Hyperv>,
    #[xml(child = "kvm")]
    pub kvm: Option<KvmFeatures>,
    #[xml(child = "pvspinlock")]
    pub pvspinlock: Option<FeatureState>,
    #[xml(child = "capabilities")]
    pub capabilities: Option<ProcessCapabilities>,
    #[xml(child = "pmu")]
    pub pmu: Option<FeatureState>,
    #[xml(child = "vmport")]
    pub vmport: Option<FeatureState>,
    #[xml(child = "gic")]
    pub gic: Option<Gic>,
    #[xml(child = "smm")]
    pub smm: Option<Smm>,
    #[xml(child = "ioapic")]
    pub ioapic: Option<Ioapic>,
    #[xml(child = "hpt")]
    pub hpt: Option<Hpt>,
    #[xml(child = "vmcoreinfo")]
    pub vmcoreinfo: Option<FeatureState>,
    #[xml(child = "htm")]
    pub htm: Option<FeatureState>,
    #[xml(child = "nested-hv")]
    pub nested_hv: Option<FeatureState>,
    #[xml(child = "msrs")]
    pub msrs: Option<Msrs>,
    #[xml(child = "ccf-assist")]
    pub ccf_assist: Option<FeatureState>,
    #[xml(child = "xen")]
    pub xen: Option<XenFeatures>,
    #[xml(child = "cfpc")]
    pub cfpc: Option<SpectreMitigation>,
    #[xml(child = "sbbc")]
    pub sbbc: Option<SpectreMitigation>,
    #[xml(child = "ibs")]
    pub ibs: Option<Ibs>,
    #[xml(child = "tcg")]
    pub tcg: Option<Tcg>,
}

/// A feature that is on unless `state='off'` (absent `state` means on).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct FeatureState {
    #[xml(attr = "state")]
    pub state: Option<OnOff>,
}

impl FeatureState {
    pub fn is_on(&self) -> bool {
        self.state != Some(OnOff::Off)
    }
}

/// Whether an optional feature element is present and on.
pub fn feature_on(f: &Option<FeatureState>) -> bool {
    f.as_ref().is_some_and(FeatureState::is_on)
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Apic {
    #[xml(attr = "eoi")]
    pub eoi: Option<OnOff>,
}

/// `<hyperv>`: Hyper-V enlightenments for Windows guests.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Hyperv {
    #[xml(attr = "mode")]
    pub mode: Option<HypervMode>,
    #[xml(child = "relaxed")]
    pub relaxed: Option<FeatureState>,
    #[xml(child = "vapic")]
    pub vapic: Option<FeatureState>,
    #[xml(child = "spinlocks")]
    pub spinlocks: Option<HypervSpinlocks>,
    #[xml(child = "vpindex")]
    pub vpindex: Option<FeatureState>,
    #[xml(child = "runtime")]
    pub runtime: Option<FeatureState>,
    #[xml(child = "synic")]
    pub synic: Option<FeatureState>,
    #[xml(child = "stimer")]
    pub stimer: Option<HypervStimer>,
    #[xml(child = "reset")]
    pub reset: Option<FeatureState>,
    #[xml(child = "vendor_id")]
    pub vendor_id: Option<HypervVendorId>,
    #[xml(child = "frequencies")]
    pub frequencies: Option<FeatureState>,
    #[xml(child = "reenlightenment")]
    pub reenlightenment: Option<FeatureState>,
    #[xml(child = "tlbflush")]
    pub tlbflush: Option<FeatureState>,
    #[xml(child = "ipi")]
    pub ipi: Option<FeatureState>,
    #[xml(child = "evmcs")]
    pub evmcs: Option<FeatureState>,
    #[xml(child = "avic")]
    pub avic: Option<FeatureState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum HypervMode {
    #[default]
    Custom,
    Passthrough,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct HypervSpinlocks {
    #[xml(attr = "state")]
    pub state: Option<OnOff>,
    #[xml(attr = "retries")]
    pub retries: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct HypervStimer {
    #[xml(attr = "state")]
    pub state: Option<OnOff>,
    #[xml(child = "direct")]
    pub direct: Option<FeatureState>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct HypervVendorId {
    #[xml(attr = "state")]
    pub state: Option<OnOff>,
    #[xml(attr = "value")]
    pub value: Option<String>,
}

/// `<kvm>`: KVM-specific guest features.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct KvmFeatures {
    /// Hide the KVM signature from the guest.
    #[xml(child = "hidden")]
    pub hidden: Option<FeatureState>,
    #[xml(child = "hint-dedicated")]
    pub hint_dedicated: Option<FeatureState>,
    #[xml(child = "poll-control")]
    pub poll_control: Option<FeatureState>,
    #[xml(child = "pv-ipi")]
    pub pv_ipi: Option<FeatureState>,
    #[xml(child = "dirty-ring")]
    pub dirty_ring: Option<DirtyRing>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct DirtyRing {
    #[xml(attr = "state")]
    pub state: Option<OnOff>,
    #[xml(attr = "size")]
    pub size: Option<u32>,
}

/// `<xen>`: Xen-specific guest features.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct XenFeatures {
    #[xml(child = "e820_host")]
    pub e820_host: Option<FeatureState>,
    #[xml(child = "passthrough")]
    pub passthrough: Option<XenPassthrough>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct XenPassthrough {
    #[xml(attr = "state")]
    pub state: Option<OnOff>,
    #[xml(attr = "mode")]
    pub mode: Option<XenPassthroughMode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
#[xml(rename_all = "snake_case")]
pub enum XenPassthroughMode {
    SyncPt,
    SharePt,
}

/// `<capabilities policy=...>`: Linux process capabilities of a container's init.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct ProcessCapabilities {
    #[xml(attr = "policy")]
    pub policy: CapabilitiesPolicy,
    #[xml(child = "audit_control")]
    pub audit_control: Option<FeatureState>,
    #[xml(child = "audit_write")]
    pub audit_write: Option<FeatureState>,
    #[xml(child = "block_suspend")]
    pub block_suspend: Option<FeatureState>,
    #[xml(child = "chown")]
    pub chown: Option<FeatureState>,
    #[xml(child = "dac_override")]
    pub dac_override: Option<FeatureState>,
    #[xml(child = "dac_read_search")]
    pub dac_read_search: Option<FeatureState>,
    #[xml(child = "fowner")]
    pub fowner: Option<FeatureState>,
    #[xml(child = "fsetid")]
    pub fsetid: Option<FeatureState>,
    #[xml(child = "ipc_lock")]
    pub ipc_lock: Option<FeatureState>,
    #[xml(child = "ipc_owner")]
    pub ipc_owner: Option<FeatureState>,
    #[xml(child = "kill")]
    pub kill: Option<FeatureState>,
    #[xml(child = "lease")]
    pub lease: Option<FeatureState>,
    #[xml(child = "linux_immutable")]
    pub linux_immutable: Option<FeatureState>,
    #[xml(child = "mac_admin")]
    pub mac_admin: Option<FeatureState>,
    #[xml(child = "mac_override")]
    pub mac_override: Option<FeatureState>,
    #[xml(child = "mknod")]
    pub mknod: Option<FeatureState>,
    #[xml(child = "net_admin")]
    pub net_admin: Option<FeatureState>,
    #[xml(child = "net_bind_service")]
    pub net_bind_service: Option<FeatureState>,
    #[xml(child = "net_broadcast")]
    pub net_broadcast: Option<FeatureState>,
    #[xml(child = "net_raw")]
    pub net_raw: Option<FeatureState>,
    #[xml(child = "setgid")]
    pub setgid: Option<FeatureState>,
    #[xml(child = "setfcap")]
    pub setfcap: Option<FeatureState>,
    #[xml(child = "setpcap")]
    pub setpcap: Option<FeatureState>,
    #[xml(child = "setuid")]
    pub setuid: Option<FeatureState>,
    #[xml(child = "sys_admin")]
    pub sys_admin: Option<FeatureState>,
    #[xml(child = "sys_boot")]
    pub sys_boot: Option<FeatureState>,
    #[xml(child = "sys_chroot")]
    pub sys_chroot: Option<FeatureState>,
    #[xml(child = "sys_module")]
    pub sys_module: Option<FeatureState>,
    #[xml(child = "sys_nice")]
    pub sys_nice: Option<FeatureState>,
    #[xml(child = "sys_pacct")]
    pub sys_pacct: Option<FeatureState>,
    #[xml(child = "sys_ptrace")]
    pub sys_ptrace: Option<FeatureState>,
    #[xml(child = "sys_rawio")]
    pub sys_rawio: Option<FeatureState>,
    #[xml(child = "sys_resource")]
    pub sys_resource: Option<FeatureState>,
    #[xml(child = "sys_time")]
    pub sys_time: Option<FeatureState>,
    #[xml(child = "sys_tty_config")]
    pub sys_tty_config: Option<FeatureState>,
    #[xml(child = "syslog")]
    pub syslog: Option<FeatureState>,
    #[xml(child = "wake_alarm")]
    pub wake_alarm: Option<FeatureState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum CapabilitiesPolicy {
    #[default]
    Default,
    Allow,
    Deny,
}

/// `<gic version=...>`: ARM interrupt controller version.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Gic {
    #[xml(attr = "version")]
    pub version: Option<GicVersion>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum GicVersion {
    Host,
    #[xml(rename = "2")]
    V2,
    #[xml(rename = "3")]
    V3,
}

/// `<smm>`: System Management Mode, with the size of its TSEG memory.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Smm {
    pub state: Option<OnOff>,
    pub tseg: Option<KiB>,
}

/// `<tseg>` counts MiB when it has no `unit` (unlike most sizes, which count KiB).
struct Tseg(KiB);

impl FromXml for Tseg {
    fn from_xml(el: &mut El<'_, '_>) -> Result<Self, XmlError> {
        let unit: Option<String> = el.attr_opt("unit")?;
        let value: u64 = el.text_req()?;
        let unit = unit.unwrap_or_else(|| "MiB".into());
        KiB::from_parts(value, Some(&unit)).map(Tseg).map_err(|reason| XmlError::InvalidText {
            at: el.location(),
            value: format!("{value} {unit}"),
            reason,
        })
    }
}

impl ToXml for Tseg {
    fn write_attrs(&self, w: &mut Writer) {
        w.attr("unit", if self.0 .0.is_multiple_of(1024) { "MiB" } else { "KiB" });
    }
    fn write_content(&self, w: &mut Writer) {
        let v = if self.0 .0.is_multiple_of(1024) { self.0 .0 / 1024 } else { self.0 .0 };
        w.text(&v.to_string());
    }
}

impl FromXml for Smm {
    fn from_xml(el: &mut El<'_, '_>) -> Result<Self, XmlError> {
        let state = el.attr_opt("state")?;
        let tseg: Option<Tseg> = el.child_opt("tseg")?;
        Ok(Smm { state, tseg: tseg.map(|t| t.0) })
    }
}

impl ToXml for Smm {
    fn write_attrs(&self, w: &mut Writer) {
        if let Some(s) = &self.state {
            w.attr("state", &s.to_xml_value());
        }
    }
    fn write_content(&self, w: &mut Writer) {
        if let Some(t) = self.tseg {
            w.element("tseg", &Tseg(t));
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Ioapic {
    #[xml(attr = "driver")]
    pub driver: Option<IoapicDriver>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum IoapicDriver {
    Qemu,
    Kvm,
}

/// `<hpt>`: PowerPC hashed page table.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Hpt {
    #[xml(attr = "resizing")]
    pub resizing: Option<HptResizing>,
    #[xml(child = "maxpagesize")]
    pub maxpagesize: Option<KiB>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum HptResizing {
    Enabled,
    Disabled,
    Required,
}

/// `<msrs unknown=...>`: what reading an unknown MSR does.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Msrs {
    #[xml(attr = "unknown")]
    pub unknown: MsrsUnknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum MsrsUnknown {
    #[default]
    Ignore,
    Fault,
}

/// `<cfpc>` / `<sbbc>`: PowerPC speculative execution mitigations.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct SpectreMitigation {
    #[xml(attr = "value")]
    pub value: SpectreValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum SpectreValue {
    #[default]
    Broken,
    Workaround,
    Fixed,
}

/// `<ibs>`: PowerPC indirect branch speculation mitigation.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Ibs {
    #[xml(attr = "value")]
    pub value: IbsValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum IbsValue {
    #[default]
    Broken,
    Workaround,
    FixedIbs,
    FixedCcd,
    FixedNa,
}

/// `<tcg>`: options of QEMU's software emulator.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Tcg {
    #[xml(child = "tb-cache")]
    pub tb_cache: Option<KiB>,
}
