//! `<interface>`: a guest network interface.
//!
//! One flat model for every `type=`: the `<source>` attributes differ by type but never clash, and
//! libvirt itself keeps them in one element, so a flat struct round-trips every variant losslessly.
//! The pieces shared with network XML (`<bandwidth>`, `<vlan>`, `<virtualport>`, `<port>`,
//! `<route>`) are public so the network model can reuse them.

use std::borrow::Cow;

use super::common::{Acpi, Address, Alias, BootOrder, IpAddress, Reconnect, Rom, VirtioOptions};
use crate::{OnOff, Xml, XmlValue, YesNo};

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Interface {
    #[xml(attr = "type")]
    pub kind: InterfaceType,
    /// hostdev interfaces: let libvirt detach the VF from its host driver.
    #[xml(attr = "managed")]
    pub managed: Option<YesNo>,
    #[xml(attr = "trustGuestRxFilters")]
    pub trust_guest_rx_filters: Option<YesNo>,
    #[xml(child = "mac")]
    pub mac: Option<Mac>,
    #[xml(child = "source")]
    pub source: Option<InterfaceSource>,
    #[xml(child = "vlan")]
    pub vlan: Option<Vlan>,
    #[xml(child = "virtualport")]
    pub virtualport: Option<VirtualPort>,
    #[xml(child = "bandwidth")]
    pub bandwidth: Option<Bandwidth>,
    #[xml(child = "port")]
    pub port: Option<PortOptions>,
    /// Guest-side addresses (host-side ones live in `<source>`).
    #[xml(child = "ip")]
    pub ips: Vec<InterfaceIp>,
    #[xml(child = "route")]
    pub routes: Vec<Route>,
    #[xml(child = "portForward")]
    pub port_forwards: Vec<PortForward>,
    #[xml(child = "script")]
    pub script: Option<PathAttr>,
    #[xml(child = "downscript")]
    pub downscript: Option<PathAttr>,
    #[xml(child = "backenddomain")]
    pub backenddomain: Option<NameAttr>,
    #[xml(child = "target")]
    pub target: Option<InterfaceTarget>,
    #[xml(child = "guest")]
    pub guest: Option<InterfaceGuest>,
    #[xml(child = "model")]
    pub model: Option<InterfaceModel>,
    #[xml(child = "driver")]
    pub driver: Option<InterfaceDriver>,
    #[xml(child = "backend")]
    pub backend: Option<InterfaceBackend>,
    #[xml(child = "filterref")]
    pub filterref: Option<FilterRef>,
    #[xml(child = "tune")]
    pub tune: Option<InterfaceTune>,
    #[xml(child = "teaming")]
    pub teaming: Option<Teaming>,
    #[xml(child = "link")]
    pub link: Option<Link>,
    #[xml(child = "mtu")]
    pub mtu: Option<Mtu>,
    #[xml(child = "coalesce")]
    pub coalesce: Option<Coalesce>,
    #[xml(child = "boot")]
    pub boot: Option<BootOrder>,
    #[xml(child = "alias")]
    pub alias: Option<Alias>,
    #[xml(child = "rom")]
    pub rom: Option<Rom>,
    #[xml(child = "acpi")]
    pub acpi: Option<Acpi>,
    #[xml(child = "address")]
    pub address: Option<Address>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
#[xml(rename_all = "lowercase")]
pub enum InterfaceType {
    #[default]
    Network,
    Bridge,
    Direct,
    User,
    Ethernet,
    Hostdev,
    Vhostuser,
    Vdpa,
    Server,
    Client,
    Mcast,
    Udp,
    Internal,
    Null,
    Vds,
}

/// A MAC address `aa:bb:cc:dd:ee:ff`; written lower-case as libvirt does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl XmlValue for MacAddr {
    fn from_xml_value(s: &str) -> Result<Self, String> {
        let err = || "expected a MAC address like 52:54:00:12:34:56".to_string();
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for b in out.iter_mut() {
            let p = parts.next().ok_or_else(err)?;
            if p.is_empty() || p.len() > 2 {
                return Err(err());
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(MacAddr(out))
    }
    fn to_xml_value(&self) -> Cow<'_, str> {
        let m = self.0;
        Cow::Owned(format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Mac {
    #[xml(attr = "address")]
    pub address: MacAddr,
    #[xml(attr = "type")]
    pub kind: Option<MacType>,
    #[xml(attr = "check")]
    pub check: Option<YesNo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum MacType {
    Generated,
    Static,
}

/// `<source>` of every interface type; which attributes apply depends on the interface `type`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct InterfaceSource {
    /// vhostuser: always `unix`.
    #[xml(attr = "type")]
    pub kind: Option<String>,
    #[xml(attr = "network")]
    pub network: Option<String>,
    #[xml(attr = "portgroup")]
    pub portgroup: Option<String>,
    /// vds: the distributed switch's UUID.
    #[xml(attr = "switchid")]
    pub switchid: Option<uuid::Uuid>,
    /// network: the port's UUID; vds: the port number.
    #[xml(attr = "portid")]
    pub portid: Option<String>,
    #[xml(attr = "portgroupid")]
    pub portgroupid: Option<String>,
    #[xml(attr = "connectionid")]
    pub connectionid: Option<i64>,
    #[xml(attr = "bridge")]
    pub bridge: Option<String>,
    #[xml(attr = "macTableManager")]
    pub mac_table_manager: Option<MacTableManager>,
    #[xml(attr = "dev")]
    pub dev: Option<String>,
    #[xml(attr = "path")]
    pub path: Option<String>,
    #[xml(attr = "mode")]
    pub mode: Option<InterfaceSourceMode>,
    #[xml(attr = "address")]
    pub address: Option<IpAddress>,
    #[xml(attr = "port")]
    pub port: Option<u16>,
    /// internal: the host interface name.
    #[xml(attr = "name")]
    pub name: Option<String>,
    #[xml(attr = "missing")]
    pub missing: Option<YesNo>,
    /// hostdev: the host PCI device.
    #[xml(child = "address")]
    pub host_address: Option<Address>,
    /// udp: the local end.
    #[xml(child = "local")]
    pub local: Option<SocketEnd>,
    #[xml(child = "reconnect")]
    pub reconnect: Option<Reconnect>,
    /// ethernet: host-side addresses and routes.
    #[xml(child = "ip")]
    pub ips: Vec<InterfaceIp>,
    #[xml(child = "route")]
    pub routes: Vec<Route>,
}

/// macvtap modes (direct) and socket roles (vhostuser) share the `mode` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum InterfaceSourceMode {
    Vepa,
    Bridge,
    Private,
    Passthrough,
    Server,
    Client,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum MacTableManager {
    Kernel,
    Libvirt,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct SocketEnd {
    #[xml(attr = "address")]
    pub address: Option<IpAddress>,
    #[xml(attr = "port")]
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct InterfaceIp {
    #[xml(attr = "address")]
    pub address: IpAddress,
    #[xml(attr = "family")]
    pub family: Option<IpFamily>,
    #[xml(attr = "prefix")]
    pub prefix: Option<u8>,
    #[xml(attr = "peer")]
    pub peer: Option<IpAddress>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum IpFamily {
    Ipv4,
    Ipv6,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct Route {
    #[xml(attr = "family")]
    pub family: Option<IpFamily>,
    #[xml(attr = "address")]
    pub address: IpAddress,
    #[xml(attr = "netmask")]
    pub netmask: Option<IpAddress>,
    #[xml(attr = "prefix")]
    pub prefix: Option<u8>,
    #[xml(attr = "gateway")]
    pub gateway: IpAddress,
    #[xml(attr = "metric")]
    pub metric: Option<u32>,
}

/// passt port forwarding.
#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct PortForward {
    #[xml(attr = "proto")]
    pub proto: PortForwardProto,
    #[xml(attr = "address")]
    pub address: Option<IpAddress>,
    #[xml(attr = "dev")]
    pub dev: Option<String>,
    #[xml(child = "range")]
    pub ranges: Vec<PortForwardRange>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum PortForwardProto {
    Tcp,
    Udp,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct PortForwardRange {
    #[xml(attr = "start")]
    pub start: u16,
    #[xml(attr = "end")]
    pub end: Option<u16>,
    #[xml(attr = "to")]
    pub to: Option<u16>,
    #[xml(attr = "exclude")]
    pub exclude: Option<YesNo>,
}

/// An element whose only content is `path='...'` (`<script>`, `<downscript>`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct PathAttr {
    #[xml(attr = "path")]
    pub path: String,
}

/// An element whose only content is `name='...'` (`<backenddomain>`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct NameAttr {
    #[xml(attr = "name")]
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct InterfaceTarget {
    /// Host-side device name (tap/macvtap).
    #[xml(attr = "dev")]
    pub dev: Option<String>,
    /// `no`: the tap device already exists and libvirt must not create or delete it.
    #[xml(attr = "managed")]
    pub managed: Option<YesNo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct InterfaceGuest {
    #[xml(attr = "dev")]
    pub dev: Option<String>,
    #[xml(attr = "actual")]
    pub actual: Option<String>,
}

/// `<model type='virtio'/>`: an open set (every emulated NIC QEMU knows).
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct InterfaceModel {
    #[xml(attr = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct InterfaceDriver {
    #[xml(attr = "name")]
    pub name: Option<InterfaceDriverName>,
    #[xml(attr = "txmode")]
    pub txmode: Option<TxMode>,
    #[xml(attr = "ioeventfd")]
    pub ioeventfd: Option<OnOff>,
    #[xml(attr = "event_idx")]
    pub event_idx: Option<OnOff>,
    #[xml(attr = "queues")]
    pub queues: Option<u32>,
    #[xml(attr = "rx_queue_size")]
    pub rx_queue_size: Option<u32>,
    #[xml(attr = "tx_queue_size")]
    pub tx_queue_size: Option<u32>,
    #[xml(attr = "rss")]
    pub rss: Option<OnOff>,
    #[xml(attr = "rss_hash_report")]
    pub rss_hash_report: Option<OnOff>,
    #[xml(flatten)]
    pub virtio: VirtioOptions,
    #[xml(child = "host")]
    pub host: Option<DriverHostOffloads>,
    #[xml(child = "guest")]
    pub guest: Option<DriverGuestOffloads>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum InterfaceDriverName {
    Qemu,
    Vhost,
    Kvm,
    Vfio,
    Xen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum TxMode {
    Iothread,
    Timer,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct DriverHostOffloads {
    #[xml(attr = "csum")]
    pub csum: Option<OnOff>,
    #[xml(attr = "gso")]
    pub gso: Option<OnOff>,
    #[xml(attr = "tso4")]
    pub tso4: Option<OnOff>,
    #[xml(attr = "tso6")]
    pub tso6: Option<OnOff>,
    #[xml(attr = "ecn")]
    pub ecn: Option<OnOff>,
    #[xml(attr = "ufo")]
    pub ufo: Option<OnOff>,
    #[xml(attr = "mrg_rxbuf")]
    pub mrg_rxbuf: Option<OnOff>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct DriverGuestOffloads {
    #[xml(attr = "csum")]
    pub csum: Option<OnOff>,
    #[xml(attr = "tso4")]
    pub tso4: Option<OnOff>,
    #[xml(attr = "tso6")]
    pub tso6: Option<OnOff>,
    #[xml(attr = "ecn")]
    pub ecn: Option<OnOff>,
    #[xml(attr = "ufo")]
    pub ufo: Option<OnOff>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct InterfaceBackend {
    #[xml(attr = "type")]
    pub kind: Option<BackendType>,
    /// Path of the tun device to open instead of /dev/net/tun.
    #[xml(attr = "tap")]
    pub tap: Option<String>,
    #[xml(attr = "vhost")]
    pub vhost: Option<String>,
    #[xml(attr = "logFile")]
    pub log_file: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum BackendType {
    Passt,
}

/// `<filterref>`: the nwfilter applied to this interface, with its variables.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct FilterRef {
    #[xml(attr = "filter")]
    pub filter: String,
    #[xml(child = "parameter")]
    pub parameters: Vec<FilterParameter>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct FilterParameter {
    #[xml(attr = "name")]
    pub name: String,
    #[xml(attr = "value")]
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct InterfaceTune {
    /// Tap send buffer size in bytes.
    #[xml(child_text = "sndbuf")]
    pub sndbuf: Option<u64>,
}

/// Failover pairing of a virtio NIC with a hostdev VF.
#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct Teaming {
    #[xml(attr = "type")]
    pub kind: TeamingType,
    /// transient: alias of the persistent partner.
    #[xml(attr = "persistent")]
    pub persistent: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum TeamingType {
    Persistent,
    Transient,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct Link {
    #[xml(attr = "state")]
    pub state: LinkState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum LinkState {
    Up,
    Down,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Mtu {
    #[xml(attr = "size")]
    pub size: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Coalesce {
    #[xml(child = "rx")]
    pub rx: Option<CoalesceRx>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct CoalesceRx {
    #[xml(child = "frames")]
    pub frames: Option<CoalesceFrames>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct CoalesceFrames {
    #[xml(attr = "max")]
    pub max: Option<u32>,
}

/// `<bandwidth>`: traffic shaping, rates in KiB/s, bursts in KiB.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Bandwidth {
    #[xml(attr = "classID")]
    pub class_id: Option<u32>,
    #[xml(child = "inbound")]
    pub inbound: Option<BandwidthRate>,
    #[xml(child = "outbound")]
    pub outbound: Option<BandwidthRate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct BandwidthRate {
    #[xml(attr = "average")]
    pub average: Option<u64>,
    #[xml(attr = "peak")]
    pub peak: Option<u64>,
    /// Guaranteed minimum (only inbound, only on networks with a bridge).
    #[xml(attr = "floor")]
    pub floor: Option<u64>,
    #[xml(attr = "burst")]
    pub burst: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Vlan {
    #[xml(attr = "trunk")]
    pub trunk: Option<YesNo>,
    #[xml(child = "tag")]
    pub tags: Vec<VlanTag>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct VlanTag {
    #[xml(attr = "id")]
    pub id: u16,
    #[xml(attr = "nativeMode")]
    pub native_mode: Option<VlanNativeMode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum VlanNativeMode {
    Tagged,
    Untagged,
}

/// `<virtualport>`: the switch port profile (802.1Qbg/Qbh, Open vSwitch, MidoNet).
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct VirtualPort {
    #[xml(attr = "type")]
    pub kind: Option<VirtualPortType>,
    #[xml(child = "parameters")]
    pub parameters: Option<VirtualPortParameters>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum VirtualPortType {
    #[xml(rename = "802.1Qbg")]
    Qbg,
    #[xml(rename = "802.1Qbh")]
    Qbh,
    #[xml(rename = "openvswitch")]
    OpenVswitch,
    Midonet,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct VirtualPortParameters {
    #[xml(attr = "managerid")]
    pub managerid: Option<u8>,
    #[xml(attr = "typeid")]
    pub typeid: Option<u32>,
    #[xml(attr = "typeidversion")]
    pub typeidversion: Option<u8>,
    #[xml(attr = "instanceid")]
    pub instanceid: Option<uuid::Uuid>,
    #[xml(attr = "interfaceid")]
    pub interfaceid: Option<uuid::Uuid>,
    #[xml(attr = "profileid")]
    pub profileid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct PortOptions {
    #[xml(attr = "isolated")]
    pub isolated: Option<YesNo>,
}
