//! Values the API hands out: states and their reasons, info records, flags, events.
//! Numbers are libvirt's, since they cross the wire and scripts compare them.

use serde::Serialize;

/// `virDomainState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[repr(i32)]
pub enum DomainState {
    NoState = 0,
    Running = 1,
    Blocked = 2,
    Paused = 3,
    Shutdown = 4,
    Shutoff = 5,
    Crashed = 6,
    PmSuspended = 7,
}

impl DomainState {
    pub fn from_i32(v: i32) -> Option<Self> {
        use DomainState::*;
        Some(match v {
            0 => NoState,
            1 => Running,
            2 => Blocked,
            3 => Paused,
            4 => Shutdown,
            5 => Shutoff,
            6 => Crashed,
            7 => PmSuspended,
            _ => return None,
        })
    }

    /// virsh's words for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            DomainState::NoState => "no state",
            DomainState::Running => "running",
            DomainState::Blocked => "idle",
            DomainState::Paused => "paused",
            DomainState::Shutdown => "in shutdown",
            DomainState::Shutoff => "shut off",
            DomainState::Crashed => "crashed",
            DomainState::PmSuspended => "pmsuspended",
        }
    }

    /// A domain in this state has a running hypervisor process (libvirt's "active").
    pub fn is_active(self) -> bool {
        !matches!(self, DomainState::Shutoff | DomainState::NoState)
    }

    /// virsh's words for a state reason.
    pub fn reason_str(self, reason: i32) -> &'static str {
        const RUNNING: &[&str] = &[
            "unknown",
            "booted",
            "migrated",
            "restored",
            "from snapshot",
            "unpaused",
            "migration canceled",
            "save canceled",
            "event wakeup",
            "crashed",
            "post-copy",
            "post-copy failed",
        ];
        const PAUSED: &[&str] = &[
            "unknown",
            "user",
            "migrating",
            "saving",
            "dumping",
            "I/O error",
            "watchdog",
            "from snapshot",
            "shutting down",
            "creating snapshot",
            "crashed",
            "starting up",
            "post-copy",
            "post-copy failed",
            "api error",
        ];
        const SHUTDOWN: &[&str] = &["unknown", "user"];
        const SHUTOFF: &[&str] =
            &["unknown", "shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from snapshot", "daemon"];
        const CRASHED: &[&str] = &["unknown", "panicked"];
        let table: &[&str] = match self {
            DomainState::Running => RUNNING,
            DomainState::Paused => PAUSED,
            DomainState::Shutdown => SHUTDOWN,
            DomainState::Shutoff => SHUTOFF,
            DomainState::Crashed => CRASHED,
            _ => &["unknown"],
        };
        usize::try_from(reason).ok().and_then(|r| table.get(r)).copied().unwrap_or("unknown")
    }
}

/// State reasons (`virDomain*Reason`), as plain numbers within each state.
pub mod reason {
    pub const UNKNOWN: i32 = 0;
    pub const RUNNING_BOOTED: i32 = 1;
    pub const RUNNING_MIGRATED: i32 = 2;
    pub const RUNNING_RESTORED: i32 = 3;
    pub const RUNNING_FROM_SNAPSHOT: i32 = 4;
    pub const RUNNING_UNPAUSED: i32 = 5;
    pub const RUNNING_WAKEUP: i32 = 8;
    pub const PAUSED_USER: i32 = 1;
    pub const PAUSED_SAVE: i32 = 3;
    pub const PAUSED_IOERROR: i32 = 5;
    pub const PAUSED_WATCHDOG: i32 = 6;
    pub const PAUSED_SHUTTING_DOWN: i32 = 8;
    pub const PAUSED_CRASHED: i32 = 10;
    pub const PAUSED_STARTING_UP: i32 = 11;
    pub const SHUTDOWN_USER: i32 = 1;
    pub const SHUTOFF_SHUTDOWN: i32 = 1;
    pub const SHUTOFF_DESTROYED: i32 = 2;
    pub const SHUTOFF_CRASHED: i32 = 3;
    pub const SHUTOFF_MIGRATED: i32 = 4;
    pub const SHUTOFF_SAVED: i32 = 5;
    pub const SHUTOFF_FAILED: i32 = 6;
    pub const SHUTOFF_FROM_SNAPSHOT: i32 = 7;
    pub const SHUTOFF_DAEMON: i32 = 8;
    pub const CRASHED_PANICKED: i32 = 1;
}

/// `virDomainInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DomainInfo {
    pub state: DomainState,
    /// KiB
    pub max_mem: u64,
    /// KiB
    pub memory: u64,
    pub nr_virt_cpu: u32,
    /// nanoseconds
    pub cpu_time: u64,
}

/// `virNodeInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeInfo {
    /// CPU architecture (`x86_64`).
    pub model: String,
    /// KiB
    pub memory: u64,
    pub cpus: u32,
    pub mhz: u32,
    pub nodes: u32,
    pub sockets: u32,
    pub cores: u32,
    pub threads: u32,
}

/// `virSecurityModel`: the host's security driver; "none" and DOI "0" when none runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecurityModel {
    pub model: String,
    pub doi: String,
}

/// `virSecurityLabel`: a guest's label; empty and not enforcing when the driver labelled nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecurityLabel {
    pub label: String,
    pub enforcing: bool,
}

/// `virStoragePoolInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PoolInfo {
    pub state: PoolState,
    /// bytes
    pub capacity: u64,
    pub allocation: u64,
    pub available: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[repr(i32)]
pub enum PoolState {
    Inactive = 0,
    Building = 1,
    Running = 2,
    Degraded = 3,
    Inaccessible = 4,
}

impl PoolState {
    pub fn as_str(self) -> &'static str {
        match self {
            PoolState::Inactive => "inactive",
            PoolState::Building => "building",
            PoolState::Running => "running",
            PoolState::Degraded => "degraded",
            PoolState::Inaccessible => "inaccessible",
        }
    }
}

/// `virStorageVolInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VolInfo {
    /// `virStorageVolType`: 0 file, 1 block, 2 dir, 3 network, 4 netdir, 5 ploop.
    pub kind: i32,
    pub capacity: u64,
    pub allocation: u64,
}

/// `virDomainEventType` and its detail number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[repr(i32)]
pub enum DomainEventKind {
    Defined = 0,
    Undefined = 1,
    Started = 2,
    Suspended = 3,
    Resumed = 4,
    Stopped = 5,
    Shutdown = 6,
    PmSuspended = 7,
    Crashed = 8,
}

/// Event detail numbers (`virDomainEvent*DetailType`).
pub mod detail {
    pub const DEFINED_ADDED: i32 = 0;
    pub const DEFINED_UPDATED: i32 = 1;
    pub const UNDEFINED_REMOVED: i32 = 0;
    pub const STARTED_BOOTED: i32 = 0;
    pub const STARTED_RESTORED: i32 = 2;
    pub const STARTED_WAKEUP: i32 = 4;
    pub const SUSPENDED_PAUSED: i32 = 0;
    pub const SUSPENDED_IOERROR: i32 = 2;
    pub const SUSPENDED_RESTORED: i32 = 4;
    pub const RESUMED_UNPAUSED: i32 = 0;
    pub const STOPPED_SHUTDOWN: i32 = 0;
    pub const STOPPED_DESTROYED: i32 = 1;
    pub const STOPPED_CRASHED: i32 = 2;
    pub const STOPPED_SAVED: i32 = 4;
    pub const STOPPED_FAILED: i32 = 5;
    pub const SHUTDOWN_FINISHED: i32 = 0;
    pub const SHUTDOWN_GUEST: i32 = 1;
    pub const SHUTDOWN_HOST: i32 = 2;
    pub const CRASHED_PANICKED: i32 = 0;
}

/// A domain lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainEvent {
    pub domain: crate::DomainRef,
    pub kind: DomainEventKind,
    pub detail: i32,
}

/// Flag bits, libvirt's values.
pub mod flags;
pub use flags::typed::*;

/// What `list_domains` needs to know about one domain to apply libvirt's filter flags.
#[derive(Debug, Clone, Copy)]
pub struct DomainListFacts {
    pub state: DomainState,
    pub persistent: bool,
    pub managed_save: bool,
    pub autostart: bool,
    pub snapshots: bool,
}

/// libvirt's filter semantics: within each group of flags, no bit set means "any".
pub fn domain_matches(f: ConnectListAllDomainsFlags, d: &DomainListFacts) -> bool {
    type F = ConnectListAllDomainsFlags;
    let group = |a: F, b: F, has_a: bool| -> bool {
        let (fa, fb) = (f.contains(a), f.contains(b));
        (!fa && !fb) || (fa && has_a) || (fb && !has_a)
    };
    let active = d.state.is_active();
    let state_ok = {
        let mask = F::RUNNING | F::PAUSED | F::SHUTOFF | F::OTHER;
        if !f.intersects(mask) {
            true
        } else {
            let bit = match d.state {
                DomainState::Running => F::RUNNING,
                DomainState::Paused => F::PAUSED,
                DomainState::Shutoff => F::SHUTOFF,
                _ => F::OTHER,
            };
            f.contains(bit)
        }
    };
    group(F::ACTIVE, F::INACTIVE, active)
        && group(F::PERSISTENT, F::TRANSIENT, d.persistent)
        && state_ok
        && group(F::MANAGEDSAVE, F::NO_MANAGEDSAVE, d.managed_save)
        && group(F::AUTOSTART, F::NO_AUTOSTART, d.autostart)
        && group(F::HAS_SNAPSHOT, F::NO_SNAPSHOT, d.snapshots)
}

/// The same for networks and pools (active, persistent, autostart).
pub fn object_matches(f: u32, active: bool, persistent: bool, autostart: bool) -> bool {
    use flags::*;
    let group = |a: u32, b: u32, has_a: bool| {
        let (fa, fb) = (f & a != 0, f & b != 0);
        (!fa && !fb) || (fa && has_a) || (fb && !has_a)
    };
    group(LIST_ACTIVE, LIST_INACTIVE, active)
        && group(LIST_PERSISTENT, LIST_TRANSIENT, persistent)
        && group(LIST_AUTOSTART, LIST_NO_AUTOSTART, autostart)
}

/// A typed parameter (`virTypedParameter`): statistics and tunables travel as named values.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum TypedParam {
    Int(i32),
    UInt(u32),
    LLong(i64),
    ULLong(u64),
    Double(f64),
    Boolean(bool),
    String(String),
}

impl std::fmt::Display for TypedParam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TypedParam::Int(v) => write!(f, "{v}"),
            TypedParam::UInt(v) => write!(f, "{v}"),
            TypedParam::LLong(v) => write!(f, "{v}"),
            TypedParam::ULLong(v) => write!(f, "{v}"),
            TypedParam::Double(v) => write!(f, "{v:.6}"),
            TypedParam::Boolean(v) => write!(f, "{}", if *v { "yes" } else { "no" }),
            TypedParam::String(v) => f.write_str(v),
        }
    }
}

/// `virDomain{Get,Set}InterfaceParameters`: the bandwidth parameters of a guest interface
/// (the rules live with the other shared ones in [`crate::conf::iftune`]).
pub use crate::conf::iftune;

/// Statistics groups (`virDomainStatsTypes`).
pub mod stats {
    pub const STATE: u32 = 1;
    pub const CPU_TOTAL: u32 = 2;
    pub const BALLOON: u32 = 4;
    pub const VCPU: u32 = 8;
    pub const INTERFACE: u32 = 16;
    pub const BLOCK: u32 = 32;
    /// What `virsh domstats` asks for without options.
    pub const ALL: u32 = STATE | CPU_TOTAL | BALLOON | VCPU | INTERFACE | BLOCK;
}

/// A DHCP lease of a virtual network (`virNetworkDHCPLease`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DhcpLease {
    /// The network's bridge.
    pub iface: String,
    /// Seconds since the epoch.
    pub expiry_time: i64,
    /// 0 IPv4, 1 IPv6 (`virIPAddrType`).
    pub kind: i32,
    pub mac: Option<String>,
    pub iaid: Option<String>,
    pub ipaddr: String,
    pub prefix: u32,
    pub hostname: Option<String>,
    pub clientid: Option<String>,
}

/// One guest interface and its addresses (`virDomainInterface`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainInterface {
    pub name: String,
    pub hwaddr: Option<String>,
    /// (0 IPv4 / 1 IPv6, address, prefix)
    pub addrs: Vec<(i32, String, u32)>,
}

/// `virNetworkUpdateCommand`, `virNetworkUpdateSection` and the address sources of
/// `virDomainInterfaceAddresses`.
pub mod netupdate {
    pub const CMD_MODIFY: u32 = 1;
    pub const CMD_DELETE: u32 = 2;
    pub const CMD_ADD_LAST: u32 = 3;
    pub const CMD_ADD_FIRST: u32 = 4;
    pub const SECTION_IP_DHCP_HOST: u32 = 4;
    pub const AFFECT_LIVE: u32 = 1;
    pub const AFFECT_CONFIG: u32 = 2;
    pub const ADDRESSES_SRC_LEASE: u32 = 0;
    pub const ADDRESSES_SRC_AGENT: u32 = 1;
    pub const ADDRESSES_SRC_ARP: u32 = 2;
}
