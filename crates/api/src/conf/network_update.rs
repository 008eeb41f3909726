//! `virNetworkUpdate` on a network definition: what libvirt's network configuration code does per
//! section (which element, what counts as a match or a duplicate, which errors), shared by the test
//! driver (in-memory XML) and the network driver (which then rewrites dnsmasq's files). Which
//! definitions an update changes is [`crate::conf::impact`]'s; what the result must meet,
//! [`crate::conf::network::validate`].
//!
//! Updated here: `ip-dhcp-host`, `ip-dhcp-range`, `forward-interface`, `portgroup`, `dns-host`,
//! `dns-txt`, `dns-srv`; libvirt refuses `bridge`, `domain`, `ip`, `forward` and `forward-pf` too.

use std::net::IpAddr;

use oxvirt_xml::network::{
    AddrFamily, DhcpHost, DhcpRange, DnsHost, DnsSrv, DnsTxt, ForwardInterface, Network, PortGroup, SrvProtocol,
};
use oxvirt_xml::{parse_element, ParseOptions, YesNo};

use crate::types::netupdate::*;
use crate::{Error, ErrorCode, ErrorDomain, Result};

pub const SECTION_BRIDGE: u32 = 1;
pub const SECTION_DOMAIN: u32 = 2;
pub const SECTION_IP: u32 = 3;
pub const SECTION_IP_DHCP_RANGE: u32 = 5;
pub const SECTION_FORWARD: u32 = 6;
pub const SECTION_FORWARD_INTERFACE: u32 = 7;
pub const SECTION_FORWARD_PF: u32 = 8;
pub const SECTION_PORTGROUP: u32 = 9;
pub const SECTION_DNS_HOST: u32 = 10;
pub const SECTION_DNS_TXT: u32 = 11;
pub const SECTION_DNS_SRV: u32 = 12;

/// virsh's names of the sections, by number.
pub const SECTION_NAMES: &[&str] = &[
    "none",
    "bridge",
    "domain",
    "ip",
    "ip-dhcp-host",
    "ip-dhcp-range",
    "forward",
    "forward-interface",
    "forward-pf",
    "portgroup",
    "dns-host",
    "dns-txt",
    "dns-srv",
];

pub fn section_name(s: u32) -> &'static str {
    SECTION_NAMES.get(s as usize).copied().unwrap_or("unknown")
}

fn err(code: ErrorCode, msg: impl std::fmt::Display) -> Error {
    Error::coded(code, ErrorDomain::Network, msg)
}
fn xml_err(msg: impl std::fmt::Display) -> Error {
    err(ErrorCode::XmlError, msg)
}
fn detail(msg: impl std::fmt::Display) -> Error {
    err(ErrorCode::XmlDetail, msg)
}
fn invalid(msg: impl std::fmt::Display) -> Error {
    err(ErrorCode::OperationInvalid, msg)
}
fn unsupported(msg: impl std::fmt::Display) -> Error {
    err(ErrorCode::OperationUnsupported, msg)
}
fn unknown_command(command: u32) -> Error {
    unsupported(format!("unrecognized network update command code {command}"))
}

fn is_add(command: u32) -> bool {
    command == CMD_ADD_FIRST || command == CMD_ADD_LAST
}

/// Inserts at the front (add-first) or the back.
fn insert<T>(v: &mut Vec<T>, command: u32, item: T) {
    let at = if command == CMD_ADD_FIRST { 0 } else { v.len() };
    v.insert(at, item);
}

/// Applies one update to `def`. On error `def` may be half-changed: work on a copy.
pub fn apply(def: &mut Network, command: u32, section: u32, parent: i32, xml: &str) -> Result<()> {
    if section == SECTION_FORWARD_INTERFACE {
        // libvirt keeps `<forward dev>` as the first of the interface list.
        if let Some(f) = def.forward.as_mut().filter(|f| f.interfaces.is_empty() && f.pf.is_none()) {
            if let Some(dev) = f.dev.clone() {
                f.interfaces.push(ForwardInterface { dev, connections: None });
            }
        }
    }
    apply_inner(def, command, section, parent, xml)?;
    // An emptied <dns> is not written, as libvirt does.
    if def.dns.as_ref().is_some_and(|d| *d == Default::default()) {
        def.dns = None;
    }
    if let Some(f) = def.forward.as_mut().filter(|_| section == SECTION_FORWARD_INTERFACE) {
        if f.pf.is_none() {
            f.dev = f.interfaces.first().map(|i| i.dev.clone());
        }
        crate::conf::network::check_forward(def)?;
    }
    Ok(())
}

fn apply_inner(def: &mut Network, command: u32, section: u32, parent: i32, xml: &str) -> Result<()> {
    // Through the one limited entry point: the section XML comes from any client.
    let doc = oxvirt_xml::parse_tree(xml, oxvirt_xml::Limits::DEFINITION).map_err(|e| match e {
        oxvirt_xml::XmlError::Syntax { line, .. } => xml_err(format!("(network_update_xml):{line}: {e}")),
        e => xml_err(format!("(network_update_xml): {e}")),
    })?;
    let root = doc.root_element();
    let net = def.name.clone();
    let check_root = |want: &str| -> Result<()> {
        let got = root.tag_name().name();
        if got != want {
            return Err(xml_err(format!(
                "unexpected element <{got}>, expecting <{want}>, while updating network '{net}'"
            )));
        }
        Ok(())
    };
    let no_support = |what: &str| Err(unsupported(format!("can't update '{what}' section of network '{net}'")));
    match section {
        SECTION_BRIDGE => no_support("bridge"),
        SECTION_DOMAIN => no_support("domain"),
        SECTION_IP => no_support("ip"),
        SECTION_FORWARD => no_support("forward"),
        SECTION_FORWARD_PF => no_support("forward pf"),
        SECTION_IP_DHCP_HOST => {
            check_root("host")?;
            let (h, _) = parse_element::<DhcpHost>(xml, "host", ParseOptions::default())
                .map_err(|e| xml_err(format!("can't parse dhcp host element: {e}")))?;
            update_host(def, command, parent, &h)
        }
        SECTION_IP_DHCP_RANGE => {
            check_root("range")?;
            let (r, _) = parse_element::<DhcpRange>(xml, "range", ParseOptions::default())
                .map_err(|e| xml_err(format!("can't parse dhcp range element: {e}")))?;
            update_range(def, command, parent, &r)
        }
        SECTION_FORWARD_INTERFACE => {
            check_root("interface")?;
            update_forward_interface(def, command, root.attribute("dev"))
        }
        SECTION_PORTGROUP => {
            check_root("portgroup")?;
            let (pg, _) = parse_element::<PortGroup>(xml, "portgroup", ParseOptions::default())
                .map_err(|e| xml_err(format!("can't parse portgroup element: {e}")))?;
            update_portgroup(def, command, pg)
        }
        SECTION_DNS_HOST => {
            if command == CMD_MODIFY {
                return Err(unsupported("DNS HOST records cannot be modified, only added or deleted"));
            }
            check_root("host")?;
            let h = parse_dns_host(&net, root, !is_add(command))?;
            update_dns_host(def, command, h)
        }
        SECTION_DNS_SRV => {
            if command == CMD_MODIFY {
                return Err(unsupported("DNS SRV records cannot be modified, only added or deleted"));
            }
            check_root("srv")?;
            let s = parse_dns_srv(&net, root, !is_add(command))?;
            update_dns_srv(def, command, s)
        }
        SECTION_DNS_TXT => {
            if command == CMD_MODIFY {
                return Err(unsupported("DNS TXT records cannot be modified, only added or deleted"));
            }
            check_root("txt")?;
            let t = parse_dns_txt(&net, root, !is_add(command))?;
            update_dns_txt(def, command, t)
        }
        _ => Err(unsupported("can't update unrecognized section of network")),
    }
}

// ---- ip-dhcp-host / ip-dhcp-range ----------------------------------------------------------

/// libvirt's choice of `<ip>` for a DHCP update: the one at `parent` (counting all `<ip>`s),
/// else the first that already has DHCP ranges or hosts, else the first IPv4, else the first IPv6.
fn pick_ip(def: &Network, parent: i32, what: &str) -> Result<usize> {
    if parent >= 0 {
        let i = parent as usize;
        return if i < def.ips.len() {
            Ok(i)
        } else {
            Err(invalid(format!(
                "couldn't update dhcp {what} entry - no <ip> element found at index {parent} in network '{}'",
                def.name
            )))
        };
    }
    let has_dhcp =
        |ip: &oxvirt_xml::network::Ip| ip.dhcp.as_ref().is_some_and(|d| !d.ranges.is_empty() || !d.hosts.is_empty());
    def.ips
        .iter()
        .position(has_dhcp)
        .or_else(|| def.ips.iter().position(|i| i.family() == AddrFamily::Ipv4))
        .or_else(|| def.ips.iter().position(|i| i.family() == AddrFamily::Ipv6))
        .ok_or_else(|| {
            invalid(format!("couldn't update dhcp {what} entry - no <ip> element found in network '{}'", def.name))
        })
}

/// The host's own checks, as libvirt's host parser makes them (a delete may name a partial host).
fn check_host(net: &str, fam: AddrFamily, host: &DhcpHost, partial: bool) -> Result<()> {
    if let Some(m) = host.mac {
        if fam == AddrFamily::Ipv6 {
            return Err(xml_err(format!(
                "Invalid to specify MAC address '{m}' in network '{net}' IPv6 static host definition"
            )));
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
        _ if host.ip.is_none() => {
            Err(xml_err(format!("Missing IP address in static host definition for network '{net}'")))
        }
        _ => Ok(()),
    }
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

fn addr_family(a: IpAddr) -> AddrFamily {
    if a.is_ipv6() {
        AddrFamily::Ipv6
    } else {
        AddrFamily::Ipv4
    }
}

fn update_range(def: &mut Network, command: u32, parent: i32, range: &DhcpRange) -> Result<()> {
    let net = def.name.clone();
    let idx = pick_ip(def, parent, "range")?;
    if command == CMD_MODIFY {
        return Err(unsupported("dhcp ranges cannot be modified, only added or deleted"));
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
    let pos = def.ips[idx]
        .dhcp
        .as_ref()
        .and_then(|d| d.ranges.iter().position(|r| r.start == range.start && r.end == range.end));
    match command {
        CMD_ADD_FIRST | CMD_ADD_LAST => {
            check_multi_dhcp(def, idx)?;
            if pos.is_some() {
                return Err(invalid(format!(
                    "there is an existing dhcp range entry in network '{net}' that matches \"<range start='{}' end='{}'/>\"",
                    range.start, range.end
                )));
            }
            insert(&mut def.ips[idx].dhcp.get_or_insert_with(Default::default).ranges, command, range.clone());
            Ok(())
        }
        CMD_DELETE => {
            let p =
                pos.ok_or_else(|| invalid(format!("couldn't locate a matching dhcp range entry in network '{net}'")))?;
            if let Some(d) = &mut def.ips[idx].dhcp {
                d.ranges.remove(p);
            }
            Ok(())
        }
        _ => Err(unknown_command(command)),
    }
}

fn update_host(def: &mut Network, command: u32, parent: i32, host: &DhcpHost) -> Result<()> {
    let net = def.name.clone();
    let idx = pick_ip(def, parent, "host")?;
    let fam = def.ips[idx].family();
    check_host(&net, fam, host, command == CMD_DELETE)?;
    if command != CMD_DELETE {
        let host_fam = match host.ip {
            Some(IpAddr::V6(_)) => AddrFamily::Ipv6,
            _ => AddrFamily::Ipv4,
        };
        if host_fam != fam {
            return Err(invalid(
                "the address family of a host entry IP must match the address family of the dhcp element's parent",
            ));
        }
    }
    if is_add(command) {
        check_multi_dhcp(def, idx)?;
    }
    let ip_str = host.ip.map(|a| a.to_string()).unwrap_or_else(|| "unknown".into());
    let hosts = &mut def.ips[idx].dhcp.get_or_insert_with(Default::default).hosts;
    let same = |h: &DhcpHost| {
        (host.mac.is_some() && h.mac == host.mac)
            || (host.ip.is_some() && h.ip == host.ip)
            || (host.name.is_some() && h.name == host.name)
    };
    let mac_str = host.mac.map(|m| m.to_string()).unwrap_or_else(|| "unknown".into());
    let name_str = host.name.as_deref().unwrap_or("(null)");
    match command {
        CMD_MODIFY => {
            let i = hosts.iter().position(same).ok_or_else(|| {
                invalid(format!(
                    "couldn't locate an existing dhcp host entry with \"mac='{mac_str}'\" \"name='{name_str}'\" \"ip='{ip_str}'\" in network '{net}'"
                ))
            })?;
            hosts[i] = host.clone();
        }
        CMD_ADD_FIRST | CMD_ADD_LAST => {
            if hosts.iter().any(same) {
                return Err(invalid(format!(
                    "there is an existing dhcp host entry in network '{net}' that matches \"<host mac='{mac_str}' name='{name_str}' ip='{ip_str}'/>\""
                )));
            }
            insert(hosts, command, host.clone());
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
        _ => return Err(unknown_command(command)),
    }
    Ok(())
}

// ---- forward-interface / portgroup -----------------------------------------------------------

fn update_forward_interface(def: &mut Network, command: u32, dev: Option<&str>) -> Result<()> {
    let net = def.name.clone();
    if command == CMD_MODIFY {
        return Err(unsupported("forward interface entries cannot be modified, only added or deleted"));
    }
    let dev = dev.ok_or_else(|| xml_err("missing dev attribute in <interface> element"))?.to_string();
    // Without <forward> the network is isolated (a new <forward> would make it NAT).
    let Some(fwd) = def.forward.as_mut() else {
        return match command {
            CMD_DELETE => Err(invalid(format!(
                "couldn't find an interface entry in network '{net}' matching <interface dev='{dev}'>"
            ))),
            _ => Err(unsupported(format!("network '{net}' has no <forward> element to add interface '{dev}' to"))),
        };
    };
    let ifs = &mut fwd.interfaces;
    let pos = ifs.iter().position(|i| i.dev == dev);
    match command {
        CMD_ADD_FIRST | CMD_ADD_LAST => {
            if pos.is_some() {
                return Err(invalid(format!(
                    "there is an existing interface entry in network '{net}' that matches \"<interface dev='{dev}'>\""
                )));
            }
            insert(ifs, command, ForwardInterface { dev, connections: None });
        }
        CMD_DELETE => {
            let i = pos.ok_or_else(|| {
                invalid(format!("couldn't find an interface entry in network '{net}' matching <interface dev='{dev}'>"))
            })?;
            let used = ifs[i].connections.unwrap_or(0);
            if used > 0 {
                return Err(invalid(format!(
                    "unable to delete interface '{dev}' in network '{net}'. It is currently being used  by {used} domains."
                )));
            }
            ifs.remove(i);
        }
        _ => return Err(unknown_command(command)),
    }
    Ok(())
}

fn update_portgroup(def: &mut Network, command: u32, pg: PortGroup) -> Result<()> {
    let net = def.name.clone();
    let found = def.portgroups.iter().position(|p| p.name == pg.name);
    let default = def.portgroups.iter().position(|p| p.default == Some(YesNo::Yes));
    match (found, command) {
        (None, CMD_MODIFY | CMD_DELETE) => {
            return Err(invalid(format!(
                "couldn't find a portgroup entry in network '{net}' matching <portgroup name='{}'>",
                pg.name
            )))
        }
        (Some(_), CMD_ADD_FIRST | CMD_ADD_LAST) => {
            return Err(invalid(format!(
                "there is an existing portgroup entry in network '{net}' that matches \"<portgroup name='{}'>\"",
                pg.name
            )))
        }
        _ => {}
    }
    if command != CMD_DELETE && pg.default == Some(YesNo::Yes) && default.is_some_and(|d| Some(d) != found) {
        return Err(invalid(format!(
            "a different portgroup entry in network '{net}' is already set as the default. Only one default is allowed."
        )));
    }
    match (command, found) {
        (CMD_MODIFY, Some(i)) => def.portgroups[i] = pg,
        (CMD_ADD_FIRST | CMD_ADD_LAST, _) => insert(&mut def.portgroups, command, pg),
        (CMD_DELETE, Some(i)) => drop(def.portgroups.remove(i)),
        _ => return Err(unknown_command(command)),
    }
    Ok(())
}

// ---- dns-host / dns-srv / dns-txt --------------------------------------------------------------

/// A DNS record as given to an update; a delete may leave fields out.
struct PartialHost {
    ip: Option<IpAddr>,
    names: Vec<String>,
}

fn parse_dns_host(net: &str, el: roxmltree::Node, partial: bool) -> Result<PartialHost> {
    let ip = match el.attribute("ip") {
        None if !partial => return Err(detail(format!("Missing IP address in network '{net}' DNS HOST record"))),
        None => None,
        Some(s) => {
            Some(s.parse().map_err(|_| detail(format!("Invalid IP address in network '{net}' DNS HOST record")))?)
        }
    };
    let mut names = Vec::new();
    for h in el.children().filter(|c| c.is_element() && c.tag_name().name() == "hostname") {
        if h.has_children() {
            let name = h.text().unwrap_or_default();
            if name.is_empty() {
                return Err(detail(format!("Missing hostname in network '{net}' DNS HOST record")));
            }
            names.push(name.to_string());
        }
    }
    if names.is_empty() && !partial {
        return Err(detail(format!("Missing hostname in network '{net}' DNS HOST record")));
    }
    if ip.is_none() && names.is_empty() {
        return Err(detail(format!("Missing ip and hostname in network '{net}' DNS HOST record")));
    }
    Ok(PartialHost { ip, names })
}

fn update_dns_host(def: &mut Network, command: u32, h: PartialHost) -> Result<()> {
    let net = def.name.clone();
    let add = is_add(command);
    let dns = def.dns.get_or_insert_with(Default::default);
    // Adding checks only the address (one name on several addresses is fine); deleting matches
    // the address or any name.
    let matching: Vec<usize> = dns
        .hosts
        .iter()
        .enumerate()
        .filter(|(_, x)| Some(x.ip) == h.ip || (!add && x.hostnames.iter().any(|n| h.names.contains(n))))
        .map(|(i, _)| i)
        .collect();
    match command {
        CMD_ADD_FIRST | CMD_ADD_LAST => {
            if !matching.is_empty() {
                return Err(invalid(format!(
                    "there is already at least one DNS HOST record with a matching field in network {net}"
                )));
            }
            let ip = h.ip.ok_or_else(|| detail(format!("Missing IP address in network '{net}' DNS HOST record")))?;
            insert(&mut dns.hosts, command, DnsHost { ip, hostnames: h.names });
        }
        CMD_DELETE => match matching.as_slice() {
            [] => return Err(invalid(format!("couldn't locate a matching DNS HOST record in network {net}"))),
            [i] => drop(dns.hosts.remove(*i)),
            _ => return Err(invalid(format!("multiple matching DNS HOST records were found in network {net}"))),
        },
        _ => return Err(unknown_command(command)),
    }
    Ok(())
}

/// Characters of an SRV service (`extra` = `_*` too) or protocol name (no `.`: it separates the
/// record's fields).
fn srv_chars_ok(s: &str, extra: &str) -> bool {
    s.chars().all(|c| c.is_ascii_alphanumeric() || "-+/".contains(c) || extra.contains(c))
}

/// RFC 2782's 512 bytes less the record's overhead, as libvirt counts.
const SRV_SERVICE_MAX: usize = 512 - 30;

struct PartialSrv {
    service: Option<String>,
    protocol: Option<String>,
    domain: Option<String>,
    target: Option<String>,
    port: Option<u16>,
    priority: Option<u16>,
    weight: Option<u16>,
}

fn parse_dns_srv(net: &str, el: roxmltree::Node, partial: bool) -> Result<PartialSrv> {
    let service = el.attribute("service").map(str::to_string);
    let svc = service.clone().unwrap_or_else(|| "(null)".into());
    match &service {
        None if !partial => {
            return Err(detail(format!("missing required service attribute in DNS SRV record of network '{net}'")))
        }
        Some(s) if s.len() > SRV_SERVICE_MAX => {
            return Err(detail(format!(
                "service attribute '{s}' in network '{net}' is too long, limit is {SRV_SERVICE_MAX} bytes"
            )))
        }
        Some(s) if !srv_chars_ok(s, "_*") => {
            return Err(detail(format!(
                "invalid character in service attribute '{s}' in DNS SRV record of network '{net}'"
            )))
        }
        _ => {}
    }
    let protocol = el.attribute("protocol").map(str::to_string);
    match &protocol {
        None if !partial => {
            return Err(detail(format!(
                "missing required protocol attribute in DNS SRV record '{svc}' of network '{net}'"
            )))
        }
        Some(p) if !srv_chars_ok(p, "") => {
            return Err(detail(format!(
                "invalid character in protocol attribute '{p}' in DNS SRV record of network '{net}'"
            )))
        }
        _ => {}
    }
    let target = el.attribute("target").map(str::to_string);
    let num = |attr: &str, what: &str, min: u32| -> Result<Option<u16>> {
        let Some(v) = el.attribute(attr) else { return Ok(None) };
        if target.is_none() {
            return Err(detail(format!(
                "DNS SRV {attr} attribute not permitted without target for service '{svc}' in network '{net}'"
            )));
        }
        match v.parse::<u32>() {
            Ok(n) if n >= min && n <= 65535 => Ok(Some(n as u16)),
            _ => Err(detail(format!("{what} DNS SRV {attr} attribute for service '{svc}' in network '{net}'"))),
        }
    };
    let port = num("port", "invalid", 1)?;
    let priority = num("priority", "Invalid", 0)?;
    let weight = num("weight", "invalid", 0)?;
    Ok(PartialSrv {
        service,
        protocol,
        domain: el.attribute("domain").map(str::to_string),
        target,
        port,
        priority,
        weight,
    })
}

fn update_dns_srv(def: &mut Network, command: u32, s: PartialSrv) -> Result<()> {
    let net = def.name.clone();
    let dns = def.dns.get_or_insert_with(Default::default);
    let proto = |p: SrvProtocol| if p == SrvProtocol::Tcp { "tcp" } else { "udp" };
    let field = |want: &Option<String>, have: Option<&str>| want.as_deref().is_none_or(|w| have == Some(w));
    let matching: Vec<usize> = dns
        .srvs
        .iter()
        .enumerate()
        .filter(|(_, x)| {
            field(&s.domain, x.domain.as_deref())
                && field(&s.service, Some(&x.service))
                && field(&s.protocol, Some(proto(x.protocol)))
                && field(&s.target, x.target.as_deref())
        })
        .map(|(i, _)| i)
        .collect();
    match command {
        CMD_ADD_FIRST | CMD_ADD_LAST => {
            if !matching.is_empty() {
                return Err(invalid(format!(
                    "there is already at least one DNS SRV record matching all specified fields in network {net}"
                )));
            }
            let protocol = match s.protocol.as_deref() {
                Some("tcp") => SrvProtocol::Tcp,
                Some("udp") => SrvProtocol::Udp,
                // libvirt keeps any protocol name; dnsmasq's records here are tcp or udp.
                other => {
                    return Err(unsupported(format!(
                        "DNS SRV protocol '{}' in network '{net}' (only tcp and udp)",
                        other.unwrap_or_default()
                    )))
                }
            };
            let srv = DnsSrv {
                service: s.service.unwrap_or_default(),
                protocol,
                domain: s.domain,
                target: s.target,
                port: s.port,
                priority: s.priority,
                weight: s.weight,
            };
            insert(&mut dns.srvs, command, srv);
        }
        CMD_DELETE => match matching.as_slice() {
            [] => return Err(invalid(format!("couldn't locate a matching DNS SRV record in network {net}"))),
            [i] => drop(dns.srvs.remove(*i)),
            _ => {
                return Err(invalid(format!(
                    "multiple DNS SRV records matching all specified fields were found in network {net}"
                )))
            }
        },
        _ => return Err(unknown_command(command)),
    }
    Ok(())
}

fn parse_dns_txt(net: &str, el: roxmltree::Node, partial: bool) -> Result<(String, Option<String>)> {
    let name = el
        .attribute("name")
        .ok_or_else(|| detail(format!("missing required name attribute in DNS TXT record of network {net}")))?;
    if name.contains([' ', ',']) {
        return Err(detail(format!("prohibited character in DNS TXT record name '{name}' of network {net}")));
    }
    let value = el.attribute("value").map(str::to_string);
    if value.is_none() && !partial {
        return Err(detail(format!(
            "missing required value attribute in DNS TXT record named '{name}' of network {net}"
        )));
    }
    Ok((name.to_string(), value))
}

fn update_dns_txt(def: &mut Network, command: u32, (name, value): (String, Option<String>)) -> Result<()> {
    let net = def.name.clone();
    let dns = def.dns.get_or_insert_with(Default::default);
    let pos = dns.txts.iter().position(|t| t.name == name);
    match command {
        CMD_ADD_FIRST | CMD_ADD_LAST => {
            if pos.is_some() {
                return Err(invalid(format!("there is already a DNS TXT record with name '{name}' in network {net}")));
            }
            insert(&mut dns.txts, command, DnsTxt { name, value: value.unwrap_or_default() });
        }
        CMD_DELETE => {
            let i =
                pos.ok_or_else(|| invalid(format!("couldn't locate a matching DNS TXT record in network {net}")))?;
            dns.txts.remove(i);
        }
        _ => return Err(unknown_command(command)),
    }
    Ok(())
}
