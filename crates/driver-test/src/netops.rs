//! `virNetworkUpdate` of DHCP hosts and guest interface addresses, the way libvirt's test driver
//! answers them: only the in-memory XML changes, addresses are made up from the network's range.

use std::net::IpAddr;

use oxvirt_api::types::netupdate::*;
use oxvirt_api::{DomainInterface, DomainRef, Error, ErrorCode, ErrorDomain, NetworkRef, Result};
use oxvirt_xml::domain::devices::interface::InterfaceType;
use oxvirt_xml::network::{AddrFamily, DhcpHost, DhcpRange, Network};
use oxvirt_xml::{parse_element, ParseOptions};

use crate::domains::unsupported_flags;

/// `VIR_NETWORK_SECTION_IP_DHCP_RANGE` (the API crate names only the host section).
const SECTION_IP_DHCP_RANGE: u32 = 5;
use crate::state::State;

fn xml_err(msg: String) -> Error {
    Error::coded(ErrorCode::XmlError, ErrorDomain::Network, msg)
}

fn invalid(msg: String) -> Error {
    Error::operation_invalid(msg).in_domain(ErrorDomain::Network)
}

/// libvirt's choice of `<ip>` for a DHCP host update: the one at `parent` (counting all `<ip>`s),
/// else the first that already has DHCP ranges or hosts, else the first IPv4, else the first IPv6.
fn pick_ip(def: &Network, parent: i32) -> Result<usize> {
    if parent >= 0 {
        let i = parent as usize;
        return if i < def.ips.len() {
            Ok(i)
        } else {
            Err(invalid(format!("couldn't update dhcp host entry - no <ip> element found at index {parent} in network '{}'", def.name)))
        };
    }
    let has_dhcp = |ip: &oxvirt_xml::network::Ip| ip.dhcp.as_ref().is_some_and(|d| !d.ranges.is_empty() || !d.hosts.is_empty());
    def.ips
        .iter()
        .position(has_dhcp)
        .or_else(|| def.ips.iter().position(|i| i.family() == AddrFamily::Ipv4))
        .or_else(|| def.ips.iter().position(|i| i.family() == AddrFamily::Ipv6))
        .ok_or_else(|| invalid(format!("couldn't update dhcp host entry - no <ip> element found in network '{}'", def.name)))
}

/// The host's own checks, as libvirt's host parser makes them (a delete may name a partial host).
fn check_host(net: &str, fam: AddrFamily, host: &DhcpHost, partial: bool) -> Result<()> {
    if let Some(m) = host.mac {
        if fam == AddrFamily::Ipv6 {
            return Err(xml_err(format!("Invalid to specify MAC address '{m}' in network '{net}' IPv6 static host definition")));
        }
        if m.is_multicast() {
            return Err(xml_err(format!("expected unicast mac address, found multicast '{m}' in network '{net}'")));
        }
    }
    if partial {
        if host.mac.is_none() && host.name.is_none() && host.ip.is_none() {
            return Err(xml_err(format!("At least one of name, mac, or ip attribute must be specified for static host definition in network '{net}' ")));
        }
        return Ok(());
    }
    match fam {
        AddrFamily::Ipv6 if host.id.is_none() && host.name.is_none() => {
            Err(xml_err(format!("Static host definition in IPv6 network '{net}' must have id or name attribute")))
        }
        AddrFamily::Ipv4 if host.mac.is_none() && host.name.is_none() => {
            Err(xml_err(format!("Static host definition in IPv4 network '{net}' must have mac or name attribute")))
        }
        _ if host.ip.is_none() => Err(xml_err(format!("Missing IP address in static host definition for network '{net}'"))),
        _ => Ok(()),
    }
}

/// What a net-update names: one element of a supported section.
enum Item {
    Host(DhcpHost),
    Range(DhcpRange),
}

fn check_root(xml: &str, want: &str, net: &str) -> Result<()> {
    let root = oxvirt_xml::root_name(xml).map_err(|e| xml_err(format!("can't parse dhcp {want} element: {e}")))?;
    if root != want {
        return Err(xml_err(format!("unexpected element <{root}>, expecting <{want}>, while updating network '{net}'")));
    }
    Ok(())
}

/// Only one `<ip>` per family may carry DHCP: adding to another one is refused.
fn check_multi_dhcp(def: &Network, idx: usize) -> Result<()> {
    let fam = def.ips[idx].family();
    let other = def.ips.iter().enumerate().any(|(i, ip)| {
        i != idx && ip.family() == fam && ip.dhcp.as_ref().is_some_and(|d| !d.ranges.is_empty() || !d.hosts.is_empty())
    });
    if other {
        let f = if fam == AddrFamily::Ipv4 { "IPv4" } else { "IPv6" };
        return Err(invalid(format!("dhcp is supported only for a single {f} address on each network")));
    }
    Ok(())
}

fn addr_family(a: std::net::IpAddr) -> AddrFamily {
    if a.is_ipv6() {
        AddrFamily::Ipv6
    } else {
        AddrFamily::Ipv4
    }
}

fn update_one(def: &mut Network, command: u32, parent: i32, item: &Item) -> Result<()> {
    match item {
        Item::Host(h) => update_host(def, command, parent, h),
        Item::Range(r) => update_range(def, command, parent, r),
    }
}

fn update_range(def: &mut Network, command: u32, parent: i32, range: &DhcpRange) -> Result<()> {
    let net = def.name.clone();
    let idx = pick_ip(def, parent)?;
    if command == CMD_MODIFY {
        return Err(Error::coded(ErrorCode::OperationUnsupported, ErrorDomain::Network, "dhcp ranges cannot be modified, only added or deleted"));
    }
    if addr_family(range.start) != def.ips[idx].family() || addr_family(range.end) != def.ips[idx].family() {
        return Err(Error::internal(format!(
            "mismatch of address family in range {} - {} for network {}",
            range.start,
            range.end,
            def.ips[idx].address.map(|a| a.to_string()).unwrap_or_default()
        ))
        .in_domain(ErrorDomain::Network));
    }
    let pos = def.ips[idx].dhcp.as_ref().and_then(|d| d.ranges.iter().position(|r| r.start == range.start && r.end == range.end));
    match command {
        CMD_ADD_FIRST | CMD_ADD_LAST => {
            check_multi_dhcp(def, idx)?;
            if pos.is_some() {
                return Err(invalid(format!(
                    "there is an existing dhcp range entry in network '{net}' that matches \"<range start='{}' end='{}'/>\"",
                    range.start, range.end
                )));
            }
            let ranges = &mut def.ips[idx].dhcp.get_or_insert_with(Default::default).ranges;
            let at = if command == CMD_ADD_FIRST { 0 } else { ranges.len() };
            ranges.insert(at, range.clone());
            Ok(())
        }
        CMD_DELETE => {
            let p = pos.ok_or_else(|| invalid(format!("couldn't locate a matching dhcp range entry in network '{net}'")))?;
            if let Some(d) = &mut def.ips[idx].dhcp {
                d.ranges.remove(p);
            }
            Ok(())
        }
        _ => Err(Error::coded(ErrorCode::NoSupport, ErrorDomain::Network, format!("unrecognized network update command code {command}"))),
    }
}

fn update_host(def: &mut Network, command: u32, parent: i32, host: &DhcpHost) -> Result<()> {
    let net = def.name.clone();
    let idx = pick_ip(def, parent)?;
    let fam = def.ips[idx].family();
    check_host(&net, fam, host, command == CMD_DELETE)?;
    if command != CMD_DELETE {
        let host_fam = match host.ip {
            Some(std::net::IpAddr::V6(_)) => AddrFamily::Ipv6,
            _ => AddrFamily::Ipv4,
        };
        if host_fam != fam {
            return Err(invalid(
                "the address family of a host entry IP must match the address family of the dhcp element's parent".into(),
            ));
        }
    }
    if command == CMD_ADD_FIRST || command == CMD_ADD_LAST {
        check_multi_dhcp(def, idx)?;
    }
    let ip_str = host.ip.map(|a| a.to_string()).unwrap_or_else(|| "unknown".into());
    let hosts = &mut def.ips[idx].dhcp.get_or_insert_with(Default::default).hosts;
    let same = |h: &DhcpHost| {
        (host.mac.is_some() && h.mac == host.mac) || (host.ip.is_some() && h.ip == host.ip) || (host.name.is_some() && h.name == host.name)
    };
    match command {
        CMD_MODIFY => {
            let i = hosts.iter().position(same).ok_or_else(|| {
                invalid(format!(
                    "couldn't locate an existing dhcp host entry with \"mac='{}'\" \"name='{}'\" \"ip='{ip_str}'\" in network '{net}'",
                    host.mac.map(|m| m.to_string()).unwrap_or_else(|| "unknown".into()),
                    host.name.as_deref().unwrap_or("(null)"),
                ))
            })?;
            hosts[i] = host.clone();
        }
        CMD_ADD_FIRST | CMD_ADD_LAST => {
            if hosts.iter().any(same) {
                return Err(invalid(format!(
                    "there is an existing dhcp host entry in network '{net}' that matches \"<host mac='{}' name='{}' ip='{ip_str}'/>\"",
                    host.mac.map(|m| m.to_string()).unwrap_or_else(|| "unknown".into()),
                    host.name.as_deref().unwrap_or("(null)"),
                )));
            }
            let at = if command == CMD_ADD_FIRST { 0 } else { hosts.len() };
            hosts.insert(at, host.clone());
        }
        CMD_DELETE => {
            // Every attribute the caller gave must match.
            let i = hosts
                .iter()
                .position(|h| {
                    (host.mac.is_none() || h.mac.is_none() || h.mac == host.mac)
                        && (host.name.is_none() || h.name == host.name)
                        && (host.ip.is_none() || h.ip == host.ip)
                })
                .ok_or_else(|| invalid(format!("couldn't locate a matching dhcp host entry in network '{net}'")))?;
            hosts.remove(i);
        }
        _ => {
            return Err(Error::coded(ErrorCode::NoSupport, ErrorDomain::Network, format!("unrecognized network update command code {command}")))
        }
    }
    Ok(())
}

impl State {
    pub fn network_update(&mut self, r: &NetworkRef, command: u32, section: u32, parent: i32, xml: &str, f: u32) -> Result<()> {
        unsupported_flags("network_update", f, AFFECT_LIVE | AFFECT_CONFIG)?;
        let i = self
            .networks
            .iter()
            .position(|n| n.def.uuid.unwrap_or_default() == r.uuid)
            .ok_or_else(|| Error::no_network(format!("no network with matching uuid '{}' ({})", r.uuid, r.name)))?;
        let item = match section {
            SECTION_IP_DHCP_HOST => {
                check_root(xml, "host", &r.name)?;
                let (h, _) = parse_element::<DhcpHost>(xml, "host", ParseOptions::default())
                    .map_err(|e| xml_err(format!("can't parse dhcp host element: {e}")))?;
                Item::Host(h)
            }
            SECTION_IP_DHCP_RANGE => {
                check_root(xml, "range", &r.name)?;
                let (rg, _) = parse_element::<DhcpRange>(xml, "range", ParseOptions::default())
                    .map_err(|e| xml_err(format!("can't parse dhcp range element: {e}")))?;
                Item::Range(rg)
            }
            _ => {
                return Err(Error::coded(
                    ErrorCode::OperationUnsupported,
                    ErrorDomain::Network,
                    format!("can't update '{}' section of network '{}': oxvirt's test driver updates only ip-dhcp-host and ip-dhcp-range", section_name(section), r.name),
                ))
            }
        };
        let n = &mut self.networks[i];
        let mut f = f;
        if f & (AFFECT_LIVE | AFFECT_CONFIG) == 0 {
            f |= if n.active { AFFECT_LIVE } else { AFFECT_CONFIG };
        }
        if f & AFFECT_LIVE != 0 && !n.active {
            return Err(Error::operation_invalid("network is not running").in_domain(ErrorDomain::Network));
        }
        if f & AFFECT_CONFIG != 0 && !n.persistent {
            return Err(Error::operation_invalid("cannot change persistent config of a transient network")
                .in_domain(ErrorDomain::Network));
        }
        // Work on copies so a failure in one of live/config leaves both untouched.
        let mut live = n.def.clone();
        let mut config = n.new_def.clone();
        if f & AFFECT_LIVE != 0 {
            update_one(&mut live, command, parent, &item)?;
        }
        if f & AFFECT_CONFIG != 0 {
            match (&mut config, n.active) {
                (Some(c), _) => update_one(c, command, parent, &item)?,
                (None, true) => {
                    // Active persistent network without a separate saved definition yet.
                    let mut c = n.def.clone();
                    update_one(&mut c, command, parent, &item)?;
                    config = Some(c);
                }
                (None, false) => update_one(&mut live, command, parent, &item)?,
            }
        }
        n.def = live;
        n.new_def = config;
        Ok(())
    }

    /// libvirt's test driver: every interface of a running domain gets one made-up address, from
    /// its network's first DHCP range (offset by domain id and index) or 192.168.0.x otherwise.
    pub fn domain_interface_addresses(&self, r: &DomainRef, source: u32) -> Result<Vec<DomainInterface>> {
        if source > ADDRESSES_SRC_ARP {
            return Err(Error::coded(ErrorCode::ArgumentUnsupported, ErrorDomain::Domain, format!("Unknown IP address data source {source}")));
        }
        let d = self.dom(r)?;
        if !d.is_active() {
            return Err(Error::operation_invalid("domain is not running"));
        }
        let mut out = Vec::new();
        let nets = d.def.dom.devices.as_ref().map(|dv| dv.interfaces.as_slice()).unwrap_or_default();
        for (i, net) in nets.iter().enumerate() {
            let name = net.target.as_ref().and_then(|t| t.dev.clone()).unwrap_or_default();
            let hwaddr = net.mac.as_ref().map(|m| m.address.to_string());
            let addr = if net.kind == InterfaceType::Network {
                let offset = 20 * (i64::from(d.id) - 1) + i as i64 + 1;
                let netname = net.source.as_ref().and_then(|s| s.network.clone()).unwrap_or_default();
                let n = self
                    .networks
                    .iter()
                    .find(|n| n.def.name == netname)
                    .ok_or_else(|| Error::no_network(format!("no network with matching name '{netname}'")))?;
                let ip = n.def.ips.first().ok_or_else(|| Error::internal(format!("network '{netname}' has no <ip>")))?;
                let prefix = u32::from(ip.prefix_len().unwrap_or(0));
                let base = ip
                    .dhcp
                    .as_ref()
                    .and_then(|dh| dh.ranges.first())
                    .map(|rg| rg.start)
                    .or(ip.address)
                    .ok_or_else(|| Error::internal(format!("network '{netname}' has no address")))?;
                match base {
                    IpAddr::V4(a) => (0, std::net::Ipv4Addr::from((u32::from(a) as i64 + offset) as u32).to_string(), prefix),
                    IpAddr::V6(a) => {
                        let mut o = a.octets();
                        o[15] = o[15].wrapping_add(offset as u8);
                        (1, std::net::Ipv6Addr::from(o).to_string(), prefix)
                    }
                }
            } else {
                (0, format!("192.168.0.{}", 1 + i), 24)
            };
            out.push(DomainInterface { name, hwaddr, addrs: vec![addr] });
        }
        Ok(out)
    }
}

fn section_name(s: u32) -> &'static str {
    ["none", "bridge", "domain", "ip", "ip-dhcp-host", "ip-dhcp-range", "forward", "forward-interface", "forward-pf", "portgroup", "dns-host", "dns-txt", "dns-srv"]
        .get(s as usize)
        .copied()
        .unwrap_or("unknown")
}
