//! The smaller top-level blocks: lifecycle actions, `<pm>`, `<perf>`, `<seclabel>`, `<keywrap>`,
//! `<launchSecurity>`, and the hypervisor namespaces (`qemu:`, `lxc:`, `bhyve:`, `xen:`, `vmware:`).

use crate::{Hex, OnOff, Xml, XmlValue, YesNo};

/// What to do when the guest powers off, reboots or crashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum LifecycleAction {
    Destroy,
    Restart,
    Preserve,
    RenameRestart,
    CoredumpDestroy,
    CoredumpRestart,
}

/// What to do when a lock manager loses the guest's disk locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum LockFailureAction {
    Poweroff,
    Restart,
    Pause,
    Ignore,
}

/// `<pm>`: whether the guest may use ACPI S3/S4.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Pm {
    #[xml(child = "suspend-to-mem")]
    pub suspend_to_mem: Option<PmState>,
    #[xml(child = "suspend-to-disk")]
    pub suspend_to_disk: Option<PmState>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct PmState {
    #[xml(attr = "enabled")]
    pub enabled: Option<YesNo>,
}

/// `<perf>`: host perf events counted for the guest.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Perf {
    #[xml(child = "event")]
    pub events: Vec<PerfEvent>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct PerfEvent {
    #[xml(attr = "name")]
    pub name: PerfEventName,
    #[xml(attr = "enabled")]
    pub enabled: YesNo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
#[xml(rename_all = "snake_case")]
pub enum PerfEventName {
    #[default]
    Cmt,
    Mbmt,
    Mbml,
    CpuCycles,
    Instructions,
    CacheReferences,
    CacheMisses,
    BranchInstructions,
    BranchMisses,
    BusCycles,
    StalledCyclesFrontend,
    StalledCyclesBackend,
    RefCpuCycles,
    CpuClock,
    TaskClock,
    PageFaults,
    ContextSwitches,
    CpuMigrations,
    PageFaultsMin,
    PageFaultsMaj,
    AlignmentFaults,
    EmulationFaults,
}

/// `<seclabel>`: the security driver label (SELinux, AppArmor, DAC) of the guest.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Seclabel {
    #[xml(attr = "type")]
    pub kind: Option<SeclabelType>,
    #[xml(attr = "model")]
    pub model: Option<String>,
    #[xml(attr = "relabel")]
    pub relabel: Option<YesNo>,
    #[xml(child_text = "label")]
    pub label: Option<String>,
    #[xml(child_text = "imagelabel")]
    pub imagelabel: Option<String>,
    #[xml(child_text = "baselabel")]
    pub baselabel: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum SeclabelType {
    None,
    Dynamic,
    Static,
}

/// `<keywrap>`: s390 crypto key wrapping.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Keywrap {
    #[xml(child = "cipher")]
    pub ciphers: Vec<KeywrapCipher>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct KeywrapCipher {
    #[xml(attr = "name")]
    pub name: KeywrapCipherName,
    #[xml(attr = "state")]
    pub state: OnOff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum KeywrapCipherName {
    #[default]
    Aes,
    Dea,
}

/// `<launchSecurity>`: confidential guests (AMD SEV, s390 protected virtualization).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct LaunchSecurity {
    #[xml(attr = "type")]
    pub kind: LaunchSecurityType,
    #[xml(attr = "kernelHashes")]
    pub kernel_hashes: Option<YesNo>,
    #[xml(child_text = "cbitpos")]
    pub cbitpos: Option<u32>,
    #[xml(child_text = "reducedPhysBits")]
    pub reduced_phys_bits: Option<u32>,
    #[xml(child_text = "policy")]
    pub policy: Option<Hex<4>>,
    #[xml(child_text = "handle")]
    pub handle: Option<u32>,
    #[xml(child_text = "dhCert")]
    pub dh_cert: Option<String>,
    #[xml(child_text = "session")]
    pub session: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum LaunchSecurityType {
    #[default]
    Sev,
    S390Pv,
}

/// `<qemu:commandline>`: extra QEMU arguments and environment (unsupported by libvirt: taints).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct QemuCommandline {
    #[xml(child = "qemu:arg")]
    pub args: Vec<QemuArg>,
    #[xml(child = "qemu:env")]
    pub envs: Vec<QemuEnv>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct QemuArg {
    #[xml(attr = "value")]
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct QemuEnv {
    #[xml(attr = "name")]
    pub name: String,
    #[xml(attr = "value")]
    pub value: Option<String>,
}

/// `<qemu:capabilities>`: force QEMU capability flags on or off.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct QemuCapabilities {
    #[xml(child = "qemu:add")]
    pub add: Vec<QemuCapability>,
    #[xml(child = "qemu:del")]
    pub del: Vec<QemuCapability>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct QemuCapability {
    #[xml(attr = "capability")]
    pub capability: String,
}

/// `<qemu:override>`: override properties of devices libvirt generates.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct QemuOverride {
    #[xml(child = "qemu:device")]
    pub devices: Vec<QemuOverrideDevice>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct QemuOverrideDevice {
    #[xml(attr = "alias")]
    pub alias: String,
    #[xml(child = "qemu:frontend")]
    pub frontend: Option<QemuOverrideFrontend>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct QemuOverrideFrontend {
    #[xml(child = "qemu:property")]
    pub properties: Vec<QemuOverrideProperty>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct QemuOverrideProperty {
    #[xml(attr = "name")]
    pub name: String,
    #[xml(attr = "type")]
    pub kind: QemuOverrideType,
    #[xml(attr = "value")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum QemuOverrideType {
    #[default]
    String,
    Signed,
    Unsigned,
    Bool,
    Remove,
}

/// `<qemu:deprecation behavior=...>`: what QEMU does with deprecated commands.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct QemuDeprecation {
    #[xml(attr = "behavior")]
    pub behavior: QemuDeprecationBehavior,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum QemuDeprecationBehavior {
    #[default]
    None,
    Omit,
    Reject,
    Crash,
}

/// `<lxc:namespace>`: share namespaces of another process or container.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct LxcNamespace {
    #[xml(child = "lxc:sharenet")]
    pub sharenet: Option<LxcShareNs>,
    #[xml(child = "lxc:shareipc")]
    pub shareipc: Option<LxcShareNs>,
    #[xml(child = "lxc:shareuts")]
    pub shareuts: Option<LxcShareNs>,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct LxcShareNs {
    #[xml(attr = "type")]
    pub kind: LxcShareNsType,
    #[xml(attr = "value")]
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum LxcShareNsType {
    #[default]
    Netns,
    Name,
    Pid,
}

/// `<bhyve:commandline>`: extra bhyve arguments.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct BhyveCommandline {
    #[xml(child = "bhyve:arg")]
    pub args: Vec<QemuArg>,
}
