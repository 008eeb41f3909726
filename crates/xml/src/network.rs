//! The virtual network (`<network>`): a bridge, how it reaches the outside, and its DHCP/DNS service.
//!
//! Fields are in libvirt's output order. Addresses are typed (`IpAddr`, `MacAddr`) so that bad input
//! fails at parse time and output is normalised the way libvirt prints it.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use crate::domain::Address;
use crate::{MacAddr, OnOff, RawXml, Xml, XmlDocument, XmlError, XmlValue, YesNo};

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Network {
    /// Live XML only: how many guest interfaces use the network.
    #[xml(attr = "connections")]
    pub connections: Option<u32>,
    /// Allow guest-to-guest IPv6 even without an IPv6 address on the bridge.
    #[xml(attr = "ipv6")]
    pub ipv6: Option<YesNo>,
    #[xml(attr = "trustGuestRxFilters")]
    pub trust_guest_rx_filters: Option<YesNo>,
    #[xml(child_text = "name")]
    pub name: String,
    #[xml(child_text = "uuid")]
    pub uuid: Option<uuid::Uuid>,
    #[xml(child_text = "title")]
    pub title: Option<String>,
    #[xml(child_text = "description")]
    pub description: Option<String>,
    #[xml(child = "metadata")]
    pub metadata: Option<RawXml>,
    #[xml(child = "forward")]
    pub forward: Option<Forward>,
    #[xml(child = "bridge")]
    pub bridge: Option<Bridge>,
    #[xml(child = "mtu")]
    pub mtu: Option<Mtu>,
    #[xml(child = "mac")]
    pub mac: Option<Mac>,
    #[xml(child = "domain")]
    pub domain: Option<DnsDomain>,
    #[xml(child = "dns")]
    pub dns: Option<Dns>,
    #[xml(child = "vlan")]
    pub vlan: Option<Vlan>,
    #[xml(child = "bandwidth")]
    pub bandwidth: Option<Bandwidth>,
    #[xml(child = "port")]
    pub port: Option<PortOptions>,
    #[xml(child = "ip")]
    pub ips: Vec<Ip>,
    #[xml(child = "route")]
    pub routes: Vec<Route>,
    #[xml(child = "virtualport")]
    pub virtualport: Option<VirtualPort>,
    #[xml(child = "portgroup")]
    pub portgroups: Vec<PortGroup>,
    #[xml(child = "dnsmasq:options")]
    pub dnsmasq_options: Option<DnsmasqOptions>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum ForwardMode {
    Nat,
    Route,
    Open,
    Bridge,
    Private,
    Vepa,
    Passthrough,
    Hostdev,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Forward {
    #[xml(attr = "dev")]
    pub dev: Option<String>,
    /// Absent means `nat`.
    #[xml(attr = "mode")]
    pub mode: Option<ForwardMode>,
    #[xml(attr = "managed")]
    pub managed: Option<YesNo>,
    #[xml(child = "driver")]
    pub driver: Option<ForwardDriver>,
    #[xml(child = "nat")]
    pub nat: Option<Nat>,
    #[xml(child = "pf")]
    pub pf: Option<ForwardDev>,
    #[xml(child = "interface")]
    pub interfaces: Vec<ForwardInterface>,
    /// PCI devices of a `hostdev` pool.
    #[xml(child = "address")]
    pub addresses: Vec<ForwardAddress>,
}

impl Forward {
    pub fn mode(&self) -> ForwardMode {
        self.mode.unwrap_or(ForwardMode::Nat)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum ForwardDriverName {
    Kvm,
    Vfio,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct ForwardDriver {
    #[xml(attr = "name")]
    pub name: ForwardDriverName,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Nat {
    #[xml(attr = "ipv6")]
    pub ipv6: Option<YesNo>,
    #[xml(child = "address")]
    pub address: Option<NatAddressRange>,
    #[xml(child = "port")]
    pub port: Option<NatPortRange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct NatAddressRange {
    #[xml(attr = "start")]
    pub start: Ipv4Addr,
    #[xml(attr = "end")]
    pub end: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct NatPortRange {
    #[xml(attr = "start")]
    pub start: u16,
    #[xml(attr = "end")]
    pub end: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct ForwardDev {
    #[xml(attr = "dev")]
    pub dev: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct ForwardInterface {
    #[xml(attr = "dev")]
    pub dev: String,
    #[xml(attr = "connections")]
    pub connections: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct ForwardAddress {
    #[xml(flatten)]
    pub address: Address,
    #[xml(attr = "connections")]
    pub connections: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum MacTableManager {
    Kernel,
    Libvirt,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Bridge {
    #[xml(attr = "name")]
    pub name: Option<String>,
    /// firewalld zone.
    #[xml(attr = "zone")]
    pub zone: Option<String>,
    #[xml(attr = "stp")]
    pub stp: Option<OnOff>,
    #[xml(attr = "delay")]
    pub delay: Option<u64>,
    #[xml(attr = "macTableManager")]
    pub mac_table_manager: Option<MacTableManager>,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct Mtu {
    #[xml(attr = "size")]
    pub size: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct Mac {
    #[xml(attr = "address")]
    pub address: MacAddr,
}

/// `<domain>`: the DNS domain dnsmasq serves.
#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct DnsDomain {
    #[xml(attr = "name")]
    pub name: String,
    #[xml(attr = "localOnly")]
    pub local_only: Option<YesNo>,
    #[xml(attr = "register")]
    pub register: Option<YesNo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Dns {
    #[xml(attr = "enable")]
    pub enable: Option<YesNo>,
    #[xml(attr = "forwardPlainNames")]
    pub forward_plain_names: Option<YesNo>,
    #[xml(child = "forwarder")]
    pub forwarders: Vec<DnsForwarder>,
    #[xml(child = "txt")]
    pub txts: Vec<DnsTxt>,
    #[xml(child = "srv")]
    pub srvs: Vec<DnsSrv>,
    #[xml(child = "host")]
    pub hosts: Vec<DnsHost>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct DnsForwarder {
    #[xml(attr = "domain")]
    pub domain: Option<String>,
    #[xml(attr = "addr")]
    pub addr: Option<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct DnsTxt {
    #[xml(attr = "name")]
    pub name: String,
    #[xml(attr = "value")]
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum SrvProtocol {
    Tcp,
    Udp,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct DnsSrv {
    #[xml(attr = "service")]
    pub service: String,
    #[xml(attr = "protocol")]
    pub protocol: SrvProtocol,
    #[xml(attr = "domain")]
    pub domain: Option<String>,
    #[xml(attr = "target")]
    pub target: Option<String>,
    #[xml(attr = "port")]
    pub port: Option<u16>,
    #[xml(attr = "priority")]
    pub priority: Option<u16>,
    #[xml(attr = "weight")]
    pub weight: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct DnsHost {
    #[xml(attr = "ip")]
    pub ip: IpAddr,
    #[xml(child_text = "hostname")]
    pub hostnames: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum AddrFamily {
    Ipv4,
    Ipv6,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Ip {
    #[xml(attr = "family")]
    pub family: Option<AddrFamily>,
    #[xml(attr = "address")]
    pub address: Option<IpAddr>,
    #[xml(attr = "netmask")]
    pub netmask: Option<Ipv4Addr>,
    #[xml(attr = "prefix")]
    pub prefix: Option<u8>,
    #[xml(attr = "localPtr")]
    pub local_ptr: Option<YesNo>,
    #[xml(child = "tftp")]
    pub tftp: Option<Tftp>,
    #[xml(child = "dhcp")]
    pub dhcp: Option<Dhcp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct Tftp {
    #[xml(attr = "root")]
    pub root: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Dhcp {
    #[xml(child = "range")]
    pub ranges: Vec<DhcpRange>,
    #[xml(child = "host")]
    pub hosts: Vec<DhcpHost>,
    #[xml(child = "bootp")]
    pub bootp: Option<Bootp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct DhcpRange {
    #[xml(attr = "start")]
    pub start: IpAddr,
    #[xml(attr = "end")]
    pub end: IpAddr,
    #[xml(child = "lease")]
    pub lease: Option<Lease>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum LeaseUnit {
    Seconds,
    Minutes,
    Hours,
}

/// DHCP lease time; `expiry='0'` means infinite.
#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct Lease {
    #[xml(attr = "expiry")]
    pub expiry: u64,
    #[xml(attr = "unit")]
    pub unit: Option<LeaseUnit>,
}

/// A static DHCP assignment: by MAC (IPv4) or DUID (`id`, IPv6), or by name alone.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct DhcpHost {
    #[xml(attr = "mac")]
    pub mac: Option<MacAddr>,
    #[xml(attr = "id")]
    pub id: Option<String>,
    #[xml(attr = "name")]
    pub name: Option<String>,
    #[xml(attr = "ip")]
    pub ip: Option<IpAddr>,
    #[xml(child = "lease")]
    pub lease: Option<Lease>,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct Bootp {
    #[xml(attr = "file")]
    pub file: String,
    #[xml(attr = "server")]
    pub server: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct Route {
    #[xml(attr = "family")]
    pub family: Option<AddrFamily>,
    #[xml(attr = "address")]
    pub address: IpAddr,
    #[xml(attr = "netmask")]
    pub netmask: Option<Ipv4Addr>,
    #[xml(attr = "prefix")]
    pub prefix: Option<u8>,
    #[xml(attr = "gateway")]
    pub gateway: IpAddr,
    #[xml(attr = "metric")]
    pub metric: Option<u32>,
}

/// `<vlan>`: also used by domain `<interface>`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Vlan {
    #[xml(attr = "trunk")]
    pub trunk: Option<YesNo>,
    #[xml(child = "tag")]
    pub tags: Vec<VlanTag>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum VlanNativeMode {
    Tagged,
    Untagged,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct VlanTag {
    #[xml(attr = "id")]
    pub id: u16,
    #[xml(attr = "nativeMode")]
    pub native_mode: Option<VlanNativeMode>,
}

/// `<bandwidth>`: QoS limits; also used by domain `<interface>`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Bandwidth {
    #[xml(attr = "classID")]
    pub class_id: Option<u32>,
    #[xml(child = "inbound")]
    pub inbound: Option<BandwidthRate>,
    #[xml(child = "outbound")]
    pub outbound: Option<BandwidthRate>,
}

impl Bandwidth {
    /// An interface's values for `virDomainGetInterfaceParameters`, in libvirt's order
    /// (inbound average, peak, burst, floor; outbound average, peak, burst); 0 where unset.
    pub fn tune_values(bw: Option<&Bandwidth>) -> [u32; 7] {
        let v = |x: Option<u64>| u32::try_from(x.unwrap_or(0)).unwrap_or(u32::MAX);
        let i = bw.and_then(|b| b.inbound.as_ref());
        let o = bw.and_then(|b| b.outbound.as_ref());
        [
            v(i.and_then(|r| r.average)),
            v(i.and_then(|r| r.peak)),
            v(i.and_then(|r| r.burst)),
            v(i.and_then(|r| r.floor)),
            v(o.and_then(|r| r.average)),
            v(o.and_then(|r| r.peak)),
            v(o.and_then(|r| r.burst)),
        ]
    }

    /// `old` changed the way `virDomainSetInterfaceParameters` changes it: a direction whose
    /// average (inbound: or floor) is among `set` is replaced by the given values, or removed
    /// when they are 0; the other direction stays. `None` when no direction is left.
    pub fn tuned(old: Option<&Bandwidth>, set: &[(&str, u32)]) -> Option<Bandwidth> {
        let get = |name: &str| set.iter().rev().find(|(n, _)| *n == name).map(|(_, v)| u64::from(*v));
        let nz = |x: Option<u64>| x.filter(|v| *v > 0);
        let direction = |prefix: &str, keys: &[&str], old: Option<&BandwidthRate>| -> Option<BandwidthRate> {
            let specified = keys.iter().any(|k| get(&format!("{prefix}.{k}")).is_some());
            if !specified {
                return old.cloned();
            }
            let rate = BandwidthRate {
                average: nz(get(&format!("{prefix}.average"))),
                peak: nz(get(&format!("{prefix}.peak"))),
                burst: nz(get(&format!("{prefix}.burst"))),
                floor: nz(get(&format!("{prefix}.floor"))),
            };
            (rate.average.is_some() || rate.floor.is_some()).then_some(rate)
        };
        let inbound = direction("inbound", &["average", "floor"], old.and_then(|b| b.inbound.as_ref()));
        let outbound = direction("outbound", &["average"], old.and_then(|b| b.outbound.as_ref()));
        (inbound.is_some() || outbound.is_some()).then(|| Bandwidth {
            class_id: old.and_then(|b| b.class_id),
            inbound,
            outbound,
        })
    }
}

/// Rates in KiB/s, burst in KiB.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct BandwidthRate {
    #[xml(attr = "average")]
    pub average: Option<u64>,
    #[xml(attr = "peak")]
    pub peak: Option<u64>,
    #[xml(attr = "floor")]
    pub floor: Option<u64>,
    #[xml(attr = "burst")]
    pub burst: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum VirtualPortType {
    #[xml(rename = "802.1Qbg")]
    Qbg,
    #[xml(rename = "802.1Qbh")]
    Qbh,
    Openvswitch,
    Midonet,
}

/// `<virtualport>`: switch port profile; also used by domain `<interface>`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct VirtualPort {
    #[xml(attr = "type")]
    pub kind: Option<VirtualPortType>,
    #[xml(child = "parameters")]
    pub parameters: Option<VirtualPortParameters>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct VirtualPortParameters {
    #[xml(attr = "managerid")]
    pub manager_id: Option<u8>,
    #[xml(attr = "typeid")]
    pub type_id: Option<u32>,
    #[xml(attr = "typeidversion")]
    pub type_id_version: Option<u8>,
    #[xml(attr = "instanceid")]
    pub instance_id: Option<uuid::Uuid>,
    #[xml(attr = "interfaceid")]
    pub interface_id: Option<uuid::Uuid>,
    #[xml(attr = "profileid")]
    pub profile_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct PortOptions {
    #[xml(attr = "isolated")]
    pub isolated: Option<YesNo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct PortGroup {
    #[xml(attr = "name")]
    pub name: String,
    #[xml(attr = "default")]
    pub default: Option<YesNo>,
    #[xml(attr = "trustGuestRxFilters")]
    pub trust_guest_rx_filters: Option<YesNo>,
    #[xml(child = "vlan")]
    pub vlan: Option<Vlan>,
    #[xml(child = "virtualport")]
    pub virtualport: Option<VirtualPort>,
    #[xml(child = "bandwidth")]
    pub bandwidth: Option<Bandwidth>,
}

/// `<dnsmasq:options>`: raw dnsmasq.conf lines, the documented escape hatch.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct DnsmasqOptions {
    #[xml(child = "dnsmasq:option")]
    pub options: Vec<DnsmasqOption>,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct DnsmasqOption {
    #[xml(attr = "value")]
    pub value: String,
}

fn invalid(path: &str, msg: impl Into<String>) -> XmlError {
    XmlError::invalid(path, msg)
}

/// Prefix length of a contiguous IPv4 netmask, `None` if the mask has holes.
pub fn netmask_prefix(mask: Ipv4Addr) -> Option<u8> {
    let m = u32::from(mask);
    let ones = m.leading_ones();
    (m.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

/// Netmask for an IPv4 prefix length (0..=32).
pub fn prefix_netmask(prefix: u8) -> Ipv4Addr {
    let p = u32::from(prefix.min(32));
    Ipv4Addr::from(u32::MAX.checked_shl(32 - p).unwrap_or(0))
}

/// The libvirt default prefix for an IPv4 address without netmask or prefix (classful).
fn classful_prefix(a: Ipv4Addr) -> u8 {
    match a.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        192..=223 => 24,
        _ => 32,
    }
}

fn same_subnet(a: IpAddr, b: IpAddr, prefix: u8) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let m = u32::from(prefix_netmask(prefix));
            u32::from(a) & m == u32::from(b) & m
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let p = u32::from(prefix.min(128));
            let m = u128::MAX.checked_shl(128 - p).unwrap_or(0);
            u128::from(a) & m == u128::from(b) & m
        }
        _ => false,
    }
}

fn ip_as_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

impl Ip {
    /// The family, explicit or implied by the address.
    pub fn family(&self) -> AddrFamily {
        match (self.family, self.address) {
            (Some(f), _) => f,
            (None, Some(IpAddr::V6(_))) => AddrFamily::Ipv6,
            _ => AddrFamily::Ipv4,
        }
    }

    /// Prefix length from `prefix`, `netmask`, or the IPv4 class (IPv6 defaults to 64).
    pub fn prefix_len(&self) -> Option<u8> {
        if let Some(p) = self.prefix {
            return Some(p);
        }
        if let Some(m) = self.netmask {
            return netmask_prefix(m);
        }
        match self.address? {
            IpAddr::V4(a) => Some(classful_prefix(a)),
            IpAddr::V6(_) => Some(64),
        }
    }

    /// Network address and prefix of an IPv4 `<ip>`, e.g. `192.168.122.0/24`.
    pub fn ipv4_subnet(&self) -> Option<(Ipv4Addr, u8)> {
        let IpAddr::V4(a) = self.address? else { return None };
        let p = self.prefix_len()?;
        Some((Ipv4Addr::from(u32::from(a) & u32::from(prefix_netmask(p))), p))
    }

    /// Whether `addr` is inside this `<ip>`'s subnet.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.address, self.prefix_len()) {
            (Some(a), Some(p)) => same_subnet(a, addr, p),
            _ => false,
        }
    }

    fn validate(&self, path: &str) -> Result<(), XmlError> {
        if self.netmask.is_some() && self.prefix.is_some() {
            return Err(invalid(path, "specify either netmask or prefix, not both"));
        }
        let fam = self.family();
        match (fam, self.address) {
            (AddrFamily::Ipv4, Some(IpAddr::V6(a))) => {
                return Err(invalid(path, format!("address '{a}' is IPv6 but family is ipv4")));
            }
            (AddrFamily::Ipv6, Some(IpAddr::V4(a))) => {
                return Err(invalid(path, format!("address '{a}' is IPv4 but family is ipv6")));
            }
            _ => {}
        }
        if let Some(m) = self.netmask {
            if fam == AddrFamily::Ipv6 {
                return Err(invalid(path, "netmask is only valid for IPv4, use prefix for IPv6"));
            }
            if netmask_prefix(m).is_none() {
                return Err(invalid(path, format!("netmask '{m}' is not a contiguous mask")));
            }
        }
        if let Some(p) = self.prefix {
            let max = if fam == AddrFamily::Ipv6 { 128 } else { 32 };
            if p > max {
                return Err(invalid(path, format!("prefix {p} is larger than {max}")));
            }
        }
        let Some(dhcp) = &self.dhcp else { return Ok(()) };
        let dpath = format!("{path}/dhcp");
        if self.address.is_none() {
            return Err(invalid(&dpath, "DHCP needs the <ip> element to have an address"));
        }
        for r in &dhcp.ranges {
            if !self.contains(r.start) || !self.contains(r.end) {
                return Err(invalid(
                    &dpath,
                    format!(
                        "DHCP range {}-{} is not entirely within the network {}/{}",
                        r.start,
                        r.end,
                        self.address.map(|a| a.to_string()).unwrap_or_default(),
                        self.prefix_len().unwrap_or(0)
                    ),
                ));
            }
            if ip_as_u128(r.start) > ip_as_u128(r.end) {
                return Err(invalid(&dpath, format!("DHCP range start {} is after its end {}", r.start, r.end)));
            }
        }
        for h in &dhcp.hosts {
            if let Some(ip) = h.ip {
                if !self.contains(ip) {
                    return Err(invalid(&dpath, format!("DHCP host IP {ip} is not within the network's subnet")));
                }
            }
            match fam {
                AddrFamily::Ipv4 if h.mac.is_none() && h.name.is_none() => {
                    return Err(invalid(&dpath, "an IPv4 DHCP host needs a mac or a name"));
                }
                AddrFamily::Ipv6 if h.id.is_none() && h.name.is_none() => {
                    return Err(invalid(&dpath, "an IPv6 DHCP host needs an id or a name"));
                }
                _ => {}
            }
            if let Some(mac) = h.mac {
                if mac.is_multicast() {
                    return Err(invalid(&dpath, format!("DHCP host MAC {mac} is a multicast address")));
                }
            }
        }
        Ok(())
    }
}

impl Network {
    pub fn bridge_name(&self) -> Option<&str> {
        self.bridge.as_ref()?.name.as_deref()
    }

    pub fn forward_mode(&self) -> Option<ForwardMode> {
        self.forward.as_ref().map(Forward::mode)
    }

    /// The first IPv4 `<ip>`, the one libvirt uses for NAT and DHCPv4.
    pub fn ipv4(&self) -> Option<&Ip> {
        self.ips.iter().find(|i| i.family() == AddrFamily::Ipv4 && i.address.is_some())
    }

    /// The `<ip>` whose subnet holds `addr`.
    pub fn ip_for(&self, addr: IpAddr) -> Option<&Ip> {
        self.ips.iter().find(|i| i.contains(addr))
    }

    /// Adds a static DHCP host to the `<ip>` whose subnet holds its address (net-update add).
    pub fn add_dhcp_host(&mut self, host: DhcpHost) -> Result<(), XmlError> {
        let ip = host.ip.ok_or_else(|| invalid("/network/ip/dhcp/host", "DHCP host needs an ip"))?;
        let ips = &mut self.ips;
        let idx = ips
            .iter()
            .position(|i| i.contains(ip))
            .ok_or_else(|| invalid("/network/ip", format!("no <ip> in this network contains {ip}")))?;
        let target = &mut ips[idx];
        let dhcp = target.dhcp.get_or_insert_with(Dhcp::default);
        let clash = dhcp.hosts.iter().find(|h| {
            h.ip == Some(ip)
                || (h.mac.is_some() && h.mac == host.mac)
                || (h.id.is_some() && h.id == host.id)
                || (host.mac.is_none() && host.id.is_none() && h.name.is_some() && h.name == host.name)
        });
        if let Some(c) = clash {
            return Err(invalid(
                "/network/ip/dhcp/host",
                format!(
                    "there is already a DHCP host entry with ip {} mac {} name {}",
                    c.ip.map(|a| a.to_string()).unwrap_or_default(),
                    c.mac.map(|m| m.to_string()).unwrap_or_default(),
                    c.name.as_deref().unwrap_or("")
                ),
            ));
        }
        dhcp.hosts.push(host);
        let path = format!("/network/ip[{}]", idx + 1);
        target.validate(&path).inspect_err(|_| {
            if let Some(d) = &mut target.dhcp {
                d.hosts.pop();
            }
        })
    }

    /// Removes the DHCP host matching `host`'s mac/id/name and ip (net-update delete).
    pub fn remove_dhcp_host(&mut self, host: &DhcpHost) -> Result<DhcpHost, XmlError> {
        for ip in &mut self.ips {
            let Some(dhcp) = &mut ip.dhcp else { continue };
            let pos = dhcp.hosts.iter().position(|h| {
                let key_match = match (host.mac, &host.id) {
                    (Some(m), _) => h.mac == Some(m),
                    (None, Some(id)) => h.id.as_ref() == Some(id),
                    (None, None) => host.name.is_some() && h.name == host.name,
                };
                key_match && (host.ip.is_none() || h.ip == host.ip)
            });
            if let Some(p) = pos {
                return Ok(dhcp.hosts.remove(p));
            }
        }
        Err(invalid("/network/ip/dhcp/host", "no matching DHCP host entry in this network"))
    }

    fn validate(&self) -> Result<(), XmlError> {
        crate::names::check_at(crate::names::Kind::Network, &self.name, "/network/name")?;
        let single = self.ips.len() == 1;
        let mut dhcp4 = false;
        let mut dhcp6 = false;
        for (i, ip) in self.ips.iter().enumerate() {
            let path = if single { "/network/ip".to_string() } else { format!("/network/ip[{}]", i + 1) };
            ip.validate(&path)?;
            if ip.dhcp.is_some() {
                let seen = if ip.family() == AddrFamily::Ipv4 { &mut dhcp4 } else { &mut dhcp6 };
                if *seen {
                    return Err(invalid(&path, "only one <ip> per address family may have a <dhcp> element"));
                }
                *seen = true;
            }
        }
        if let Some(f) = &self.forward {
            let mut seen = BTreeSet::new();
            for i in &f.interfaces {
                if !seen.insert(i.dev.as_str()) {
                    return Err(invalid("/network/forward", format!("forward interface '{}' is listed twice", i.dev)));
                }
            }
            let mut seen = BTreeSet::new();
            for a in &f.addresses {
                let a = &a.address;
                let key = (a.domain, a.bus, a.slot, a.function);
                if !seen.insert(key) {
                    return Err(invalid("/network/forward", "a forward PCI address is listed twice"));
                }
            }
            if f.mode() == ForwardMode::Open && (f.dev.is_some() || !f.interfaces.is_empty()) {
                return Err(invalid("/network/forward", "forward mode 'open' does not take a dev or interfaces"));
            }
            if let (Some(d), Some(first)) = (&f.dev, f.interfaces.first()) {
                if *d != first.dev {
                    return Err(invalid(
                        "/network/forward",
                        format!("forward dev '{d}' must match the first interface '{}'", first.dev),
                    ));
                }
            }
            if !f.interfaces.is_empty() && !f.addresses.is_empty() {
                return Err(invalid("/network/forward", "use either <interface> or <address> elements, not both"));
            }
            let bridge_ok = matches!(f.mode(), ForwardMode::Nat | ForwardMode::Route | ForwardMode::Open);
            if !bridge_ok && self.bridge.as_ref().is_some_and(|b| b.stp.is_some() || b.delay.is_some()) {
                return Err(invalid(
                    "/network/bridge",
                    format!("bridge stp/delay are not used with forward mode '{}'", f.mode()),
                ));
            }
        }
        if let Some(dns) = &self.dns {
            let has_content =
                !dns.forwarders.is_empty() || !dns.txts.is_empty() || !dns.srvs.is_empty() || !dns.hosts.is_empty();
            if dns.enable == Some(YesNo::No) && (has_content || dns.forward_plain_names.is_some()) {
                return Err(invalid(
                    "/network/dns",
                    "DNS is disabled (enable='no') but DNS records or options are given",
                ));
            }
            for h in &dns.hosts {
                if h.hostnames.is_empty() {
                    return Err(invalid("/network/dns/host", format!("DNS host {} has no hostname", h.ip)));
                }
            }
            for f in &dns.forwarders {
                if f.addr.is_none() && f.domain.is_none() {
                    return Err(invalid("/network/dns/forwarder", "a forwarder needs addr or domain"));
                }
            }
        }
        let defaults = self.portgroups.iter().filter(|p| p.default == Some(YesNo::Yes)).count();
        if defaults > 1 {
            return Err(invalid("/network/portgroup", "only one portgroup may be the default"));
        }
        let mut names = BTreeSet::new();
        for p in &self.portgroups {
            if !names.insert(p.name.as_str()) {
                return Err(invalid("/network/portgroup", format!("portgroup '{}' is defined twice", p.name)));
            }
        }
        Ok(())
    }
}

impl XmlDocument for Network {
    const ROOT: &'static str = "network";

    fn post_parse(&mut self) -> Result<(), XmlError> {
        self.validate()?;
        if self.uuid.is_none() {
            self.uuid = Some(uuid::Uuid::new_v4());
        }
        Ok(())
    }
}

/// The first `virbrN` name not in `used` (libvirt's default bridge naming).
pub fn next_bridge_name<'a>(used: impl IntoIterator<Item = &'a str>) -> String {
    let taken: BTreeSet<u32> = used.into_iter().filter_map(|n| n.strip_prefix("virbr")?.parse().ok()).collect();
    let n = (0..).find(|n| !taken.contains(n)).unwrap_or(0);
    format!("virbr{n}")
}

/// A fresh `52:54:00:xx:xx:xx` address for a network's bridge.
pub fn random_mac() -> MacAddr {
    MacAddr::random_qemu()
}

#[cfg(test)]
mod tests {

    #[test]
    fn interface_tuning_like_libvirt() {
        let r = |a, p, b| Some(BandwidthRate { average: a, peak: p, burst: b, floor: None });
        let old = Bandwidth {
            inbound: r(Some(100), Some(200), None),
            outbound: r(Some(50), None, Some(8)),
            ..Default::default()
        };
        assert_eq!(Bandwidth::tune_values(Some(&old)), [100, 200, 0, 0, 50, 0, 8]);
        assert_eq!(Bandwidth::tune_values(None), [0; 7]);
        // Outbound replaced, inbound kept.
        let new = Bandwidth::tuned(Some(&old), &[("outbound.average", 500), ("outbound.burst", 64)]).unwrap();
        assert_eq!(new.inbound, old.inbound);
        assert_eq!(new.outbound, r(Some(500), None, Some(64)));
        // A zero average removes the direction; nothing left is None.
        let new = Bandwidth::tuned(Some(&old), &[("inbound.average", 0)]).unwrap();
        assert_eq!((new.inbound, new.outbound), (None, old.outbound.clone()));
        assert_eq!(Bandwidth::tuned(Some(&old), &[("inbound.average", 0), ("outbound.average", 0)]), None);
        // Peak alone does not name a direction (virsh always sends the average).
        assert_eq!(Bandwidth::tuned(Some(&old), &[("inbound.peak", 9)]), Some(old.clone()));
        // From nothing; floor alone is an inbound.
        let new = Bandwidth::tuned(None, &[("inbound.floor", 10)]).unwrap();
        assert_eq!(new.inbound.unwrap().floor, Some(10));
    }

    use super::*;

    const NAT: &str = "<network>
  <name>default</name>
  <uuid>81ff0d90-c91e-6742-64da-4a736edb9a9b</uuid>
  <forward mode='nat'/>
  <bridge name='virbr0' stp='on' delay='0'/>
  <mac address='52:54:00:AB:CD:EF'/>
  <ip address='192.168.122.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.122.2' end='192.168.122.254'/>
      <host mac='00:16:3e:77:e2:ed' name='a' ip='192.168.122.10'/>
    </dhcp>
  </ip>
</network>";

    #[test]
    fn parse_format_round_trip() {
        let n = Network::from_xml_str(NAT).unwrap();
        assert_eq!(n.bridge_name(), Some("virbr0"));
        assert_eq!(n.forward_mode(), Some(ForwardMode::Nat));
        assert_eq!(n.ipv4().and_then(Ip::ipv4_subnet), Some((Ipv4Addr::new(192, 168, 122, 0), 24)));
        let out = n.to_xml_string();
        assert!(out.contains("<mac address='52:54:00:ab:cd:ef'/>"), "{out}");
        assert_eq!(Network::from_xml_str(&out).unwrap(), n);
    }

    #[test]
    fn uuid_generated() {
        let n = Network::from_xml_str("<network><name>x</name></network>").unwrap();
        assert!(n.uuid.is_some());
    }

    fn err(xml: &str) -> String {
        Network::from_xml_str(xml).unwrap_err().to_string()
    }

    #[test]
    fn validation_messages() {
        assert!(err("<network><name>a/b</name></network>").contains("must not contain '/'"));
        assert!(err("<network><name>n</name><ip address='10.0.0.1' netmask='255.0.255.0'/></network>")
            .contains("not a contiguous mask"));
        assert!(err("<network><name>n</name><ip address='10.0.0.1' netmask='255.0.0.0' prefix='8'/></network>")
            .contains("either netmask or prefix"));
        let e = err("<network><name>n</name><ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.0.2' end='10.0.1.9'/></dhcp></ip></network>");
        assert!(e.contains("DHCP range 10.0.0.2-10.0.1.9 is not entirely within the network 10.0.0.1/24"), "{e}");
        assert!(err("<network><name>n</name><ip address='10.0.0.1' prefix='40'/></network>").contains("larger than 32"));
        assert!(err("<network><name>n</name><mac address='52:54:zz:00:00:00'/></network>").contains("MAC address"));
        assert!(err("<network><name>n</name><forward mode='open' dev='eth0'/></network>").contains("'open'"));
        assert!(err("<network><name>n</name><dns enable='no'><txt name='a' value='b'/></dns></network>")
            .contains("DNS is disabled"));
    }

    #[test]
    fn dhcp_host_add_remove() {
        let mut n = Network::from_xml_str(NAT).unwrap();
        let mac: MacAddr = "52:54:00:00:00:01".parse().unwrap();
        let h = DhcpHost { mac: Some(mac), ip: Some("192.168.122.50".parse().unwrap()), ..Default::default() };
        n.add_dhcp_host(h.clone()).unwrap();
        assert!(n.add_dhcp_host(h.clone()).unwrap_err().to_string().contains("already"));
        let outside = DhcpHost { mac: Some(mac), ip: Some("10.1.1.1".parse().unwrap()), ..Default::default() };
        assert!(n.add_dhcp_host(outside).is_err());
        assert_eq!(n.ipv4().and_then(|i| i.dhcp.as_ref()).map(|d| d.hosts.len()), Some(2));
        let removed = n.remove_dhcp_host(&DhcpHost { mac: Some(mac), ..Default::default() }).unwrap();
        assert_eq!(removed, h);
        assert!(n.remove_dhcp_host(&h).is_err());
    }

    #[test]
    fn generated_defaults() {
        assert_eq!(next_bridge_name(["virbr0", "virbr1", "eth0", "virbr3"]), "virbr2");
        assert_eq!(next_bridge_name([]), "virbr0");
        let m = random_mac().to_string();
        assert!(m.starts_with("52:54:00:") && m.len() == 17, "{m}");
        assert_eq!(netmask_prefix(Ipv4Addr::new(255, 255, 255, 0)), Some(24));
        assert_eq!(netmask_prefix(Ipv4Addr::new(0, 0, 0, 0)), Some(0));
        assert_eq!(netmask_prefix(Ipv4Addr::new(255, 0, 255, 0)), None);
        assert_eq!(prefix_netmask(20), Ipv4Addr::new(255, 255, 240, 0));
        assert_eq!(prefix_netmask(0), Ipv4Addr::new(0, 0, 0, 0));
    }
}
