//! The REMOTE and KEEPALIVE programs: procedure numbers and the argument, reply and event
//! structures of the procedures oxvirt serves, laid out as libvirt 9.0's remote protocol
//! defines them (field order and types are the wire contract; names are ours).

use uuid::Uuid;

use crate::xdr::Array;

/// The REMOTE program (`REMOTE_PROGRAM`) and its only version.
pub const REMOTE_PROGRAM: u32 = 0x2000_8086;
pub const REMOTE_VERSION: u32 = 1;
/// The KEEPALIVE program ("keep" in ASCII).
pub const KEEPALIVE_PROGRAM: u32 = 0x6b65_6570;
pub const KEEPALIVE_VERSION: u32 = 1;
pub const KEEPALIVE_PING: i32 = 1;
pub const KEEPALIVE_PONG: i32 = 2;

/// Array maxima of the remote protocol.
pub const DOMAIN_LIST_MAX: usize = 16384;
pub const NETWORK_LIST_MAX: usize = 16384;
pub const STORAGE_POOL_LIST_MAX: usize = 16384;
pub const STORAGE_VOL_LIST_MAX: usize = 16384;
pub const AUTH_TYPE_LIST_MAX: usize = 20;
pub const SECURITY_LABEL_MAX: usize = 4097;
pub const SECURITY_MODEL_MAX: usize = 257;
pub const SECURITY_DOI_MAX: usize = 257;
pub const DOMAIN_MESSAGES_MAX: usize = 2048;
pub const NODE_DEVICE_LIST_MAX: usize = 65536;
pub const NODE_DEVICE_CAPS_LIST_MAX: usize = 65536;
pub const NETWORK_DHCP_LEASES_MAX: usize = 65536;
pub const DOMAIN_INTERFACE_MAX: usize = 2048;
pub const DOMAIN_IP_ADDR_MAX: usize = 2048;
pub const DOMAIN_INTERFACE_PARAMETERS_MAX: usize = 16;

/// libvirt's version numbers as major * 1,000,000 + minor * 1,000 + micro; clients compare the
/// library version against feature thresholds, so report the release whose protocol we speak.
pub const LIB_VERSION: u64 = 9_000_000;

/// `virDrvFeature` numbers clients ask about with `CONNECT_SUPPORTS_FEATURE`.
pub mod feature {
    pub const FD_PASSING: i32 = 8;
    pub const TYPED_PARAM_STRING: i32 = 9;
    pub const PROGRAM_KEEPALIVE: i32 = 10;
    pub const XML_MIGRATABLE: i32 = 11;
    pub const REMOTE_EVENT_CALLBACK: i32 = 14;
    pub const REMOTE_CLOSE_CALLBACK: i32 = 15;
    pub const NETWORK_UPDATE_HAS_CORRECT_ORDER: i32 = 16;
}

macro_rules! procedures {
    ($($name:ident = $num:literal),* $(,)?) => {
        /// REMOTE program procedure numbers.
        pub mod procs {
            $(pub const $name: i32 = $num;)*
        }
        /// The procedure's name, for logs.
        pub fn proc_name(n: i32) -> &'static str {
            match n {
                $($num => stringify!($name),)*
                _ => "UNKNOWN",
            }
        }
    };
}

procedures! {
    CONNECT_OPEN = 1,
    CONNECT_CLOSE = 2,
    CONNECT_GET_TYPE = 3,
    CONNECT_GET_VERSION = 4,
    CONNECT_GET_MAX_VCPUS = 5,
    NODE_GET_INFO = 6,
    CONNECT_GET_CAPABILITIES = 7,
    DOMAIN_CREATE = 9,
    DOMAIN_CREATE_XML = 10,
    DOMAIN_DEFINE_XML = 11,
    DOMAIN_DESTROY = 12,
    DOMAIN_GET_XML_DESC = 14,
    DOMAIN_GET_AUTOSTART = 15,
    DOMAIN_GET_INFO = 16,
    DOMAIN_GET_MAX_MEMORY = 17,
    DOMAIN_GET_MAX_VCPUS = 18,
    DOMAIN_GET_OS_TYPE = 19,
    CONNECT_LIST_DEFINED_DOMAINS = 21,
    DOMAIN_LOOKUP_BY_ID = 22,
    DOMAIN_LOOKUP_BY_NAME = 23,
    DOMAIN_LOOKUP_BY_UUID = 24,
    CONNECT_NUM_OF_DEFINED_DOMAINS = 25,
    DOMAIN_REBOOT = 27,
    DOMAIN_RESUME = 28,
    DOMAIN_SET_AUTOSTART = 29,
    DOMAIN_SET_MEMORY = 31,
    DOMAIN_SET_VCPUS = 32,
    DOMAIN_SHUTDOWN = 33,
    DOMAIN_SUSPEND = 34,
    DOMAIN_UNDEFINE = 35,
    CONNECT_LIST_DEFINED_NETWORKS = 36,
    CONNECT_LIST_DOMAINS = 37,
    CONNECT_LIST_NETWORKS = 38,
    NETWORK_CREATE = 39,
    NETWORK_CREATE_XML = 40,
    NETWORK_DEFINE_XML = 41,
    NETWORK_DESTROY = 42,
    NETWORK_GET_XML_DESC = 43,
    NETWORK_GET_AUTOSTART = 44,
    NETWORK_GET_BRIDGE_NAME = 45,
    NETWORK_LOOKUP_BY_NAME = 46,
    NETWORK_LOOKUP_BY_UUID = 47,
    NETWORK_SET_AUTOSTART = 48,
    NETWORK_UNDEFINE = 49,
    CONNECT_NUM_OF_DEFINED_NETWORKS = 50,
    CONNECT_NUM_OF_DOMAINS = 51,
    CONNECT_NUM_OF_NETWORKS = 52,
    DOMAIN_RESTORE = 54,
    DOMAIN_SAVE = 55,
    CONNECT_GET_HOSTNAME = 59,
    CONNECT_SUPPORTS_FEATURE = 60,
    AUTH_LIST = 66,
    CONNECT_NUM_OF_STORAGE_POOLS = 71,
    CONNECT_LIST_STORAGE_POOLS = 72,
    CONNECT_NUM_OF_DEFINED_STORAGE_POOLS = 73,
    CONNECT_LIST_DEFINED_STORAGE_POOLS = 74,
    STORAGE_POOL_CREATE_XML = 76,
    STORAGE_POOL_DEFINE_XML = 77,
    STORAGE_POOL_CREATE = 78,
    STORAGE_POOL_BUILD = 79,
    STORAGE_POOL_DESTROY = 80,
    STORAGE_POOL_DELETE = 81,
    STORAGE_POOL_UNDEFINE = 82,
    STORAGE_POOL_REFRESH = 83,
    STORAGE_POOL_LOOKUP_BY_NAME = 84,
    STORAGE_POOL_LOOKUP_BY_UUID = 85,
    STORAGE_POOL_LOOKUP_BY_VOLUME = 86,
    STORAGE_POOL_GET_INFO = 87,
    STORAGE_POOL_GET_XML_DESC = 88,
    STORAGE_POOL_GET_AUTOSTART = 89,
    STORAGE_POOL_SET_AUTOSTART = 90,
    STORAGE_POOL_NUM_OF_VOLUMES = 91,
    STORAGE_POOL_LIST_VOLUMES = 92,
    STORAGE_VOL_CREATE_XML = 93,
    STORAGE_VOL_DELETE = 94,
    STORAGE_VOL_LOOKUP_BY_NAME = 95,
    STORAGE_VOL_LOOKUP_BY_KEY = 96,
    STORAGE_VOL_LOOKUP_BY_PATH = 97,
    STORAGE_VOL_GET_INFO = 98,
    STORAGE_VOL_GET_XML_DESC = 99,
    STORAGE_VOL_GET_PATH = 100,
    CONNECT_GET_URI = 110,
    DOMAIN_GET_SECURITY_LABEL = 121,
    NODE_GET_SECURITY_MODEL = 122,
    CONNECT_IS_SECURE = 149,
    DOMAIN_IS_ACTIVE = 150,
    DOMAIN_IS_PERSISTENT = 151,
    NETWORK_IS_ACTIVE = 152,
    NETWORK_IS_PERSISTENT = 153,
    STORAGE_POOL_IS_ACTIVE = 154,
    STORAGE_POOL_IS_PERSISTENT = 155,
    CONNECT_GET_LIB_VERSION = 157,
    DOMAIN_GET_JOB_INFO = 163,
    DOMAIN_MANAGED_SAVE = 182,
    DOMAIN_HAS_MANAGED_SAVE_IMAGE = 183,
    DOMAIN_MANAGED_SAVE_REMOVE = 184,
    DOMAIN_SNAPSHOT_NUM = 187,
    DOMAIN_CREATE_WITH_FLAGS = 196,
    DOMAIN_SET_VCPUS_FLAGS = 199,
    DOMAIN_GET_VCPUS_FLAGS = 200,
    DOMAIN_OPEN_CONSOLE = 201,
    DOMAIN_IS_UPDATED = 202,
    DOMAIN_SET_MEMORY_FLAGS = 204,
    DOMAIN_GET_STATE = 212,
    DOMAIN_GET_CONTROL_INFO = 229,
    DOMAIN_UNDEFINE_FLAGS = 231,
    DOMAIN_SAVE_FLAGS = 232,
    DOMAIN_RESTORE_FLAGS = 233,
    DOMAIN_DESTROY_FLAGS = 234,
    DOMAIN_SAVE_IMAGE_GET_XML_DESC = 235,
    DOMAIN_RESET = 245,
    DOMAIN_SHUTDOWN_FLAGS = 258,
    CONNECT_LIST_ALL_DOMAINS = 273,
    CONNECT_LIST_ALL_STORAGE_POOLS = 281,
    STORAGE_POOL_LIST_ALL_VOLUMES = 282,
    CONNECT_LIST_ALL_NETWORKS = 283,
    CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY = 316,
    CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY = 317,
    DOMAIN_EVENT_CALLBACK_LIFECYCLE = 318,
    CONNECT_GET_DOMAIN_CAPABILITIES = 342,
    DOMAIN_DEFINE_XML_FLAGS = 350,
    STORAGE_VOL_GET_INFO_FLAGS = 378,
    STORAGE_VOL_CREATE_XML_FROM = 125,
    STORAGE_VOL_WIPE = 165,
    STORAGE_VOL_WIPE_PATTERN = 259,
    STORAGE_VOL_RESIZE = 260,
    CONNECT_REGISTER_CLOSE_CALLBACK = 360,
    CONNECT_UNREGISTER_CLOSE_CALLBACK = 361,
    DOMAIN_GET_MESSAGES = 426,
    NETWORK_DEFINE_XML_FLAGS = 432,
    NODE_NUM_OF_DEVICES = 111,
    NODE_LIST_DEVICES = 112,
    NODE_DEVICE_LOOKUP_BY_NAME = 113,
    NODE_DEVICE_GET_XML_DESC = 114,
    NODE_DEVICE_GET_PARENT = 115,
    NODE_DEVICE_NUM_OF_CAPS = 116,
    NODE_DEVICE_LIST_CAPS = 117,
    CONNECT_LIST_ALL_NODE_DEVICES = 285,
    CONNECT_GET_ALL_DOMAIN_STATS = 344,
    NETWORK_CREATE_XML_FLAGS = 437,
    DOMAIN_ATTACH_DEVICE = 8,
    DOMAIN_DETACH_DEVICE = 13,
    DOMAIN_ATTACH_DEVICE_FLAGS = 160,
    DOMAIN_DETACH_DEVICE_FLAGS = 161,
    DOMAIN_UPDATE_DEVICE_FLAGS = 174,
    NETWORK_UPDATE = 291,
    NETWORK_GET_DHCP_LEASES = 341,
    DOMAIN_INTERFACE_ADDRESSES = 353,
    DOMAIN_SET_INTERFACE_PARAMETERS = 256,
    DOMAIN_GET_INTERFACE_PARAMETERS = 257,
}

crate::xdr_union! {
    /// `remote_typed_param_value`; a double travels as its IEEE-754 bits (the same 8 bytes).
    pub enum TypedParamValue : i32 {
        1 => Int(i32),
        2 => UInt(u32),
        3 => LLong(i64),
        4 => ULLong(u64),
        5 => Double(u64),
        6 => Boolean(i32),
        7 => Str(String),
    }
}

/// `REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX`: parameters per domain.
pub const DOMAIN_STATS_PARAMS_MAX: usize = 262144;

impl From<&oxvirt_api::TypedParam> for TypedParamValue {
    fn from(p: &oxvirt_api::TypedParam) -> Self {
        use oxvirt_api::TypedParam as T;
        match p {
            T::Int(v) => TypedParamValue::Int(*v),
            T::UInt(v) => TypedParamValue::UInt(*v),
            T::LLong(v) => TypedParamValue::LLong(*v),
            T::ULLong(v) => TypedParamValue::ULLong(*v),
            T::Double(v) => TypedParamValue::Double(v.to_bits()),
            T::Boolean(v) => TypedParamValue::Boolean(i32::from(*v)),
            T::String(v) => TypedParamValue::Str(v.clone()),
        }
    }
}

impl From<&TypedParamValue> for oxvirt_api::TypedParam {
    fn from(p: &TypedParamValue) -> Self {
        use oxvirt_api::TypedParam as T;
        match p {
            TypedParamValue::Int(v) => T::Int(*v),
            TypedParamValue::UInt(v) => T::UInt(*v),
            TypedParamValue::LLong(v) => T::LLong(*v),
            TypedParamValue::ULLong(v) => T::ULLong(*v),
            TypedParamValue::Double(v) => T::Double(f64::from_bits(*v)),
            TypedParamValue::Boolean(v) => T::Boolean(*v != 0),
            TypedParamValue::Str(v) => T::String(v.clone()),
        }
    }
}

crate::xdr_enum! {
    /// `remote_auth_type`.
    pub enum AuthType {
        None = 0,
        Sasl = 1,
        Polkit = 2,
    }
}

crate::xdr_struct! {
    pub struct NonnullDomain { pub name: String, pub uuid: Uuid, pub id: i32 }
    pub struct NonnullNetwork { pub name: String, pub uuid: Uuid }
    pub struct NonnullStoragePool { pub name: String, pub uuid: Uuid }
    pub struct NonnullStorageVol { pub pool: String, pub name: String, pub key: String }

    /// `remote_error` / `virNetMessageError`: the body of every ERROR reply.
    pub struct RemoteError {
        pub code: i32,
        pub domain: i32,
        pub message: Option<String>,
        pub level: i32,
        pub dom: Option<NonnullDomain>,
        pub str1: Option<String>,
        pub str2: Option<String>,
        pub str3: Option<String>,
        pub int1: i32,
        pub int2: i32,
        pub net: Option<NonnullNetwork>,
    }

    // Shapes shared by many procedures.
    pub struct DomArgs { pub dom: NonnullDomain }
    pub struct DomFlagsArgs { pub dom: NonnullDomain, pub flags: u32 }
    pub struct DomIntArgs { pub dom: NonnullDomain, pub value: i32 }
    pub struct NetArgs { pub net: NonnullNetwork }
    pub struct NetFlagsArgs { pub net: NonnullNetwork, pub flags: u32 }
    pub struct NetIntArgs { pub net: NonnullNetwork, pub value: i32 }
    pub struct PoolArgs { pub pool: NonnullStoragePool }
    pub struct PoolFlagsArgs { pub pool: NonnullStoragePool, pub flags: u32 }
    pub struct PoolIntArgs { pub pool: NonnullStoragePool, pub value: i32 }
    pub struct VolArgs { pub vol: NonnullStorageVol }
    pub struct VolFlagsArgs { pub vol: NonnullStorageVol, pub flags: u32 }
    pub struct StringArgs { pub s: String }
    pub struct StringFlagsArgs { pub s: String, pub flags: u32 }
    pub struct UuidArgs { pub uuid: Uuid }
    pub struct IntArgs { pub value: i32 }
    pub struct IntRet { pub value: i32 }
    pub struct HyperRet { pub value: u64 }
    pub struct StringRet { pub s: String }
    pub struct DomRet { pub dom: NonnullDomain }
    pub struct NetRet { pub net: NonnullNetwork }
    pub struct PoolRet { pub pool: NonnullStoragePool }
    pub struct VolRet { pub vol: NonnullStorageVol }
    pub struct ListAllArgs { pub need_results: i32, pub flags: u32 }

    pub struct ConnectOpenArgs { pub name: Option<String>, pub flags: u32 }
    pub struct OptStringArgs { pub s: Option<String> }
    pub struct DomainCapabilitiesArgs {
        pub emulatorbin: Option<String>,
        pub arch: Option<String>,
        pub machine: Option<String>,
        pub virttype: Option<String>,
        pub flags: u32,
    }
    pub struct NodeGetInfoRet {
        pub model: [i8; 32],
        pub memory: u64,
        pub cpus: i32,
        pub mhz: i32,
        pub nodes: i32,
        pub sockets: i32,
        pub cores: i32,
        pub threads: i32,
    }
    pub struct ListAllDomainsRet { pub domains: Array<NonnullDomain, DOMAIN_LIST_MAX>, pub ret: u32 }
    pub struct ListAllNetworksRet { pub nets: Array<NonnullNetwork, NETWORK_LIST_MAX>, pub ret: u32 }
    pub struct NonnullNodeDevice { pub name: String }
    pub struct RemoteTypedParam { pub field: String, pub value: TypedParamValue }
    pub struct DomainStatsRecord { pub dom: NonnullDomain, pub params: Array<RemoteTypedParam, DOMAIN_STATS_PARAMS_MAX> }
    pub struct GetAllDomainStatsArgs { pub doms: Array<NonnullDomain, DOMAIN_LIST_MAX>, pub stats: u32, pub flags: u32 }
    pub struct GetAllDomainStatsRet { pub stats: Array<DomainStatsRecord, DOMAIN_LIST_MAX> }
    pub struct NodeNumOfDevicesArgs { pub cap: Option<String>, pub flags: u32 }
    pub struct NodeListDevicesArgs { pub cap: Option<String>, pub maxnames: i32, pub flags: u32 }
    pub struct NodeListDevicesRet { pub names: Array<String, NODE_DEVICE_LIST_MAX> }
    pub struct NodeDeviceRet { pub dev: NonnullNodeDevice }
    pub struct NodeDeviceGetParentRet { pub parent: Option<String> }
    pub struct NodeDeviceListCapsArgs { pub name: String, pub maxnames: i32 }
    pub struct NodeDeviceListCapsRet { pub names: Array<String, NODE_DEVICE_CAPS_LIST_MAX> }
    pub struct ListAllNodeDevicesRet { pub devices: Array<NonnullNodeDevice, NODE_DEVICE_LIST_MAX>, pub ret: u32 }
    pub struct ListAllPoolsRet { pub pools: Array<NonnullStoragePool, STORAGE_POOL_LIST_MAX>, pub ret: u32 }
    pub struct PoolListAllVolumesArgs { pub pool: NonnullStoragePool, pub need_results: i32, pub flags: u32 }
    pub struct ListAllVolumesRet { pub vols: Array<NonnullStorageVol, STORAGE_VOL_LIST_MAX>, pub ret: u32 }
    pub struct ListDomainsRet { pub ids: Array<i32, DOMAIN_LIST_MAX> }
    pub struct ListNamesRet { pub names: Array<String, DOMAIN_LIST_MAX> }
    pub struct DomainSaveArgs { pub dom: NonnullDomain, pub to: String }
    pub struct DomainSaveFlagsArgs { pub dom: NonnullDomain, pub to: String, pub dxml: Option<String>, pub flags: u32 }
    pub struct DomainRestoreFlagsArgs { pub from: String, pub dxml: Option<String>, pub flags: u32 }
    pub struct DomainGetInfoRet {
        pub state: u8,
        pub max_mem: u64,
        pub memory: u64,
        pub nr_virt_cpu: u16,
        pub cpu_time: u64,
    }
    pub struct DomainGetStateRet { pub state: i32, pub reason: i32 }
    pub struct SecurityLabelRet { pub label: Array<i8, SECURITY_LABEL_MAX>, pub enforcing: i32 }
    pub struct SecurityModelRet { pub model: Array<i8, SECURITY_MODEL_MAX>, pub doi: Array<i8, SECURITY_DOI_MAX> }
    pub struct ControlInfoRet { pub state: u32, pub details: u32, pub state_time: u64 }
    pub struct MessagesRet { pub msgs: Array<String, DOMAIN_MESSAGES_MAX> }
    pub struct DomainSetMemoryArgs { pub dom: NonnullDomain, pub memory: u64 }
    pub struct DomainSetMemoryFlagsArgs { pub dom: NonnullDomain, pub memory: u64, pub flags: u32 }
    pub struct DomainSetVcpusArgs { pub dom: NonnullDomain, pub nvcpus: u32 }
    pub struct DomainSetVcpusFlagsArgs { pub dom: NonnullDomain, pub nvcpus: u32, pub flags: u32 }
    pub struct JobInfoRet {
        pub kind: i32,
        pub time_elapsed: u64,
        pub time_remaining: u64,
        pub data_total: u64,
        pub data_processed: u64,
        pub data_remaining: u64,
        pub mem_total: u64,
        pub mem_processed: u64,
        pub mem_remaining: u64,
        pub file_total: u64,
        pub file_processed: u64,
        pub file_remaining: u64,
    }
    pub struct OpenConsoleArgs { pub dom: NonnullDomain, pub dev_name: Option<String>, pub flags: u32 }
    pub struct PoolGetInfoRet { pub state: u8, pub capacity: u64, pub allocation: u64, pub available: u64 }
    pub struct VolLookupByNameArgs { pub pool: NonnullStoragePool, pub name: String }
    pub struct VolCreateXmlArgs { pub pool: NonnullStoragePool, pub xml: String, pub flags: u32 }
    pub struct VolCreateXmlFromArgs { pub pool: NonnullStoragePool, pub xml: String, pub clonevol: NonnullStorageVol, pub flags: u32 }
    pub struct VolWipePatternArgs { pub vol: NonnullStorageVol, pub algorithm: u32, pub flags: u32 }
    pub struct VolResizeArgs { pub vol: NonnullStorageVol, pub capacity: u64, pub flags: u32 }
    pub struct VolGetInfoRet { pub kind: i8, pub capacity: u64, pub allocation: u64 }
    pub struct EventRegisterArgs { pub event_id: i32, pub dom: Option<NonnullDomain> }
    pub struct EventLifecycleMsg { pub dom: NonnullDomain, pub event: i32, pub detail: i32 }
    pub struct EventCallbackLifecycleMsg { pub callback_id: i32, pub msg: EventLifecycleMsg }
    pub struct AuthListRet { pub types: Array<AuthType, AUTH_TYPE_LIST_MAX> }
    pub struct SupportsFeatureRet { pub supported: i32 }
    pub struct DomXmlArgs { pub dom: NonnullDomain, pub xml: String }
    pub struct DomXmlFlagsArgs { pub dom: NonnullDomain, pub xml: String, pub flags: u32 }
    pub struct NetworkUpdateArgs {
        pub net: NonnullNetwork,
        pub command: u32,
        pub section: u32,
        pub parent_index: i32,
        pub xml: String,
        pub flags: u32,
    }
    pub struct NetworkDhcpLease {
        pub iface: String,
        pub expirytime: i64,
        pub kind: i32,
        pub mac: Option<String>,
        pub iaid: Option<String>,
        pub ipaddr: String,
        pub prefix: u32,
        pub hostname: Option<String>,
        pub clientid: Option<String>,
    }
    pub struct NetworkGetDhcpLeasesArgs { pub net: NonnullNetwork, pub mac: Option<String>, pub need_results: i32, pub flags: u32 }
    pub struct NetworkGetDhcpLeasesRet { pub leases: Array<NetworkDhcpLease, NETWORK_DHCP_LEASES_MAX>, pub ret: u32 }
    pub struct DomainIpAddr { pub kind: i32, pub addr: String, pub prefix: u32 }
    pub struct DomainInterfaceWire { pub name: String, pub hwaddr: Option<String>, pub addrs: Array<DomainIpAddr, DOMAIN_IP_ADDR_MAX> }
    pub struct DomainInterfaceAddressesArgs { pub dom: NonnullDomain, pub source: u32, pub flags: u32 }
    pub struct DomainInterfaceAddressesRet { pub ifaces: Array<DomainInterfaceWire, DOMAIN_INTERFACE_MAX> }
    pub struct DomainSetInterfaceParametersArgs {
        pub dom: NonnullDomain,
        pub device: String,
        pub params: Array<RemoteTypedParam, DOMAIN_INTERFACE_PARAMETERS_MAX>,
        pub flags: u32,
    }
    pub struct DomainGetInterfaceParametersArgs { pub dom: NonnullDomain, pub device: String, pub nparams: i32, pub flags: u32 }
    pub struct DomainGetInterfaceParametersRet { pub params: Array<RemoteTypedParam, DOMAIN_INTERFACE_PARAMETERS_MAX>, pub nparams: i32 }
}

impl From<&oxvirt_api::DhcpLease> for NetworkDhcpLease {
    fn from(l: &oxvirt_api::DhcpLease) -> Self {
        NetworkDhcpLease {
            iface: l.iface.clone(),
            expirytime: l.expiry_time,
            kind: l.kind,
            mac: l.mac.clone(),
            iaid: l.iaid.clone(),
            ipaddr: l.ipaddr.clone(),
            prefix: l.prefix,
            hostname: l.hostname.clone(),
            clientid: l.clientid.clone(),
        }
    }
}

impl From<NetworkDhcpLease> for oxvirt_api::DhcpLease {
    fn from(l: NetworkDhcpLease) -> Self {
        oxvirt_api::DhcpLease {
            iface: l.iface,
            expiry_time: l.expirytime,
            kind: l.kind,
            mac: l.mac,
            iaid: l.iaid,
            ipaddr: l.ipaddr,
            prefix: l.prefix,
            hostname: l.hostname,
            clientid: l.clientid,
        }
    }
}

impl From<&oxvirt_api::DomainInterface> for DomainInterfaceWire {
    fn from(i: &oxvirt_api::DomainInterface) -> Self {
        DomainInterfaceWire {
            name: i.name.clone(),
            hwaddr: i.hwaddr.clone(),
            addrs: Array(
                i.addrs
                    .iter()
                    .map(|(kind, addr, prefix)| DomainIpAddr { kind: *kind, addr: addr.clone(), prefix: *prefix })
                    .collect(),
            ),
        }
    }
}

impl From<DomainInterfaceWire> for oxvirt_api::DomainInterface {
    fn from(i: DomainInterfaceWire) -> Self {
        oxvirt_api::DomainInterface {
            name: i.name,
            hwaddr: i.hwaddr,
            addrs: i.addrs.0.into_iter().map(|a| (a.kind, a.addr, a.prefix)).collect(),
        }
    }
}

/// `virErrorLevel`: every error we send is an error, not a warning.
pub const ERR_LEVEL_ERROR: i32 = 2;

impl From<&oxvirt_api::Error> for RemoteError {
    fn from(e: &oxvirt_api::Error) -> Self {
        RemoteError {
            code: e.code as i32,
            domain: e.domain as i32,
            message: Some(e.message.clone()),
            level: ERR_LEVEL_ERROR,
            dom: None,
            str1: None,
            str2: None,
            str3: None,
            int1: -1,
            int2: -1,
            net: None,
        }
    }
}

impl From<&RemoteError> for oxvirt_api::Error {
    fn from(e: &RemoteError) -> Self {
        use oxvirt_api::{ErrorCode, ErrorDomain};
        oxvirt_api::Error::new(
            ErrorCode::from_i32(e.code).unwrap_or(ErrorCode::InternalError),
            ErrorDomain::from_i32(e.domain).unwrap_or(ErrorDomain::Remote),
            e.message.clone().unwrap_or_else(|| "unknown error".into()),
        )
    }
}

impl From<&oxvirt_api::DomainRef> for NonnullDomain {
    fn from(d: &oxvirt_api::DomainRef) -> Self {
        NonnullDomain { name: d.name.clone(), uuid: d.uuid, id: d.id }
    }
}

impl From<&oxvirt_api::NetworkRef> for NonnullNetwork {
    fn from(n: &oxvirt_api::NetworkRef) -> Self {
        NonnullNetwork { name: n.name.clone(), uuid: n.uuid }
    }
}

impl From<&oxvirt_api::PoolRef> for NonnullStoragePool {
    fn from(p: &oxvirt_api::PoolRef) -> Self {
        NonnullStoragePool { name: p.name.clone(), uuid: p.uuid }
    }
}

impl From<&oxvirt_api::VolRef> for NonnullStorageVol {
    fn from(v: &oxvirt_api::VolRef) -> Self {
        NonnullStorageVol { pool: v.pool.clone(), name: v.name.clone(), key: v.key.clone() }
    }
}

/// A C string as libvirt sends it in `char x<MAX>` arrays: bytes plus the terminating NUL.
pub fn c_string_array<const MAX: usize>(s: &str) -> Array<i8, MAX> {
    let mut v: Vec<i8> = s.bytes().take(MAX.saturating_sub(1)).map(|b| b as i8).collect();
    v.push(0);
    Array(v)
}
