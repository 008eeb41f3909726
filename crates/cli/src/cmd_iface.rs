//! Guest interface and disk listing commands. Like virsh, most read the domain XML and change
//! devices through attach/update/detach-device, so they work with any driver that has those.

use oxvirt_api::{Domain, DomainDeviceModifyFlags, DomainVcpuFlags};
use oxvirt_xml::domain::devices::interface::{Interface, Link, LinkState};
use oxvirt_xml::{parse_element, ParseOptions, Writer};
use serde_json::json;

use crate::cmd_domain::{impact_flags, lookup};
use crate::commands::Ctl;
use crate::error::CmdError;
use crate::parse::Cmd;
use crate::table::Table;

fn domain_xml(d: &Domain, inactive: bool) -> Result<String, CmdError> {
    d.xml_desc(if inactive { oxvirt_api::DomainXmlFlags::INACTIVE } else { oxvirt_api::DomainXmlFlags::empty() })
        .map_err(|e| CmdError::api("", e))
}

/// The domain XML a server sent, parsed within the same limits as every other document.
fn parse(xml: &str) -> Result<roxmltree::Document<'_>, CmdError> {
    oxvirt_xml::parse_tree(xml, oxvirt_xml::Limits::DEFINITION)
        .map_err(|e| CmdError::Failed(format!("cannot parse domain XML: {e}")))
}

fn children<'a, 'i>(n: roxmltree::Node<'a, 'i>, tag: &'a str) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> + 'a {
    n.children().filter(move |c| c.has_tag_name(tag))
}

/// `/domain/devices/<tag>` elements in document order.
fn devices<'a, 'i>(doc: &'a roxmltree::Document<'i>, tag: &'a str) -> Vec<roxmltree::Node<'a, 'i>> {
    children(doc.root_element(), "devices").flat_map(|d| children(d, tag)).collect()
}

/// XPath `string(./child/@attr)`, with virsh's empty-is-missing rule.
fn child_attr(n: roxmltree::Node<'_, '_>, child: &str, attr: &str) -> Option<String> {
    children(n, child).next().and_then(|c| c.attribute(attr)).filter(|s| !s.is_empty()).map(str::to_string)
}

/// The first of `attrs` on `<source>` in document order, like virsh's XPath union.
fn source_of(n: roxmltree::Node<'_, '_>, attrs: &[&str]) -> Option<String> {
    let src = children(n, "source").next()?;
    src.attributes().find(|a| attrs.contains(&a.name())).map(|a| a.value().to_string()).filter(|s| !s.is_empty())
}

const IFACE_SOURCES: &[&str] = &["bridge", "dev", "network", "name", "path"];

pub fn domiflist(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let d = lookup(ctl, cmd)?;
    let xml = domain_xml(&d, cmd.flag("inactive"))?;
    let doc = parse(&xml)?;
    let dash = |o: Option<String>| o.unwrap_or_else(|| "-".into());
    let rows: Vec<[String; 5]> = devices(&doc, "interface")
        .into_iter()
        .map(|n| {
            [
                dash(child_attr(n, "target", "dev")),
                n.attribute("type").unwrap_or("").to_string(),
                dash(source_of(n, IFACE_SOURCES)),
                dash(child_attr(n, "model", "type")),
                dash(child_attr(n, "mac", "address")),
            ]
        })
        .collect();
    if cmd.flag("json") {
        let arr: Vec<_> = rows
            .iter()
            .map(|[i, t, s, m, mac]| {
                let opt = |v: &String| if v == "-" { json!(null) } else { json!(v) };
                json!({"interface": opt(i), "type": t, "source": opt(s), "model": opt(m), "mac": opt(mac)})
            })
            .collect();
        return ctl.print_json(&serde_json::Value::Array(arr));
    }
    let mut t = Table::new(&["Interface", "Type", "Source", "Model", "MAC"]);
    for r in rows {
        t.push(r.to_vec());
    }
    let s = t.render(!ctl.quiet);
    ctl.print(&s);
    Ok(())
}

/// virMacAddrParse + format: six hex octets separated by ':', printed lower case.
fn normalize_mac(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut out = Vec::with_capacity(6);
    for p in parts {
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        out.push(format!("{:02x}", u8::from_str_radix(p, 16).ok()?));
    }
    Some(out.join(":"))
}

pub fn domif_getlink(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let iface = cmd.req("interface")?.to_string();
    let d = lookup(ctl, cmd)?;
    let xml = domain_xml(&d, cmd.flag("config") || cmd.flag("persistent"))?;
    let doc = parse(&xml)?;
    let mac = normalize_mac(&iface);
    let found: Vec<_> = devices(&doc, "interface")
        .into_iter()
        .filter(|n| {
            children(*n, "mac").any(|m| mac.is_some() && m.attribute("address") == mac.as_deref())
                || children(*n, "target").any(|t| t.attribute("dev") == Some(iface.as_str()))
        })
        .collect();
    match found.as_slice() {
        [] => Err(CmdError::Failed(match mac {
            Some(m) => format!("Interface (mac: {m}) not found."),
            None => format!("Interface (dev: {iface}) not found."),
        })),
        [n] => {
            let state = child_attr(*n, "link", "state").unwrap_or_else(|| "up".into());
            // No newline: virsh's blank line after each command ends it.
            ctl.print(&format!("{iface} {state}"));
            Ok(())
        }
        _ => Err(CmdError::Failed("multiple matching interfaces found".into())),
    }
}

pub fn domif_setlink(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let d = lookup(ctl, cmd)?;
    let iface = cmd.req("interface")?.to_string();
    let state = match cmd.req("state")? {
        "up" => LinkState::Up,
        "down" => LinkState::Down,
        s => return Err(CmdError::Failed(format!("invalid link state '{s}'"))),
    };
    let config = cmd.flag("config") || cmd.flag("persistent");
    let mut f = if config { DomainDeviceModifyFlags::CONFIG } else { DomainDeviceModifyFlags::LIVE };
    if !d.is_active().unwrap_or(true) {
        f = DomainDeviceModifyFlags::CONFIG;
    }
    let xml = domain_xml(&d, config)?;
    let doc = parse(&xml)?;
    let node = devices(&doc, "interface").into_iter().find(|n| {
        child_attr(*n, "mac", "address").is_some_and(|m| m.eq_ignore_ascii_case(&iface))
            || child_attr(*n, "target", "dev").is_some_and(|t| t.eq_ignore_ascii_case(&iface))
    });
    let Some(node) = node else {
        return Err(CmdError::Failed(format!("interface '{iface}' not found")));
    };
    let (mut model, _) = parse_element::<Interface>(&xml[node.range()], "interface", ParseOptions::default())
        .map_err(|e| CmdError::Failed(format!("Failed to create XML: {e}")))?;
    model.link = Some(Link { state });
    let mut w = Writer::new();
    w.element("interface", &model);
    let dev = w.finish();
    if cmd.flag("print-xml") {
        ctl.print(&dev);
        return Ok(());
    }
    d.update_device(&dev, f).map_err(|e| CmdError::api("Failed to update interface link state", e))?;
    ctl.extra("Device updated successfully\n");
    Ok(())
}

pub fn domifaddr(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    use oxvirt_api::netupdate::*;
    let ifname = cmd.get("interface").map(str::to_string);
    let full = cmd.flag("full");
    let source = match cmd.get("source") {
        None | Some("lease") => ADDRESSES_SRC_LEASE,
        Some("agent") => ADDRESSES_SRC_AGENT,
        Some("arp") => ADDRESSES_SRC_ARP,
        Some(s) => return Err(CmdError::Failed(format!("Unknown data source '{s}'"))),
    };
    let d = lookup(ctl, cmd)?;
    let ifaces =
        d.interface_addresses(source).map_err(|e| CmdError::api("Failed to query for interfaces addresses", e))?;
    let ifaces: Vec<_> = ifaces.into_iter().filter(|i| ifname.as_deref().is_none_or(|n| n == i.name)).collect();
    if cmd.flag("json") {
        let arr: Vec<_> = ifaces
            .iter()
            .map(|i| {
                let addrs: Vec<_> = i
                    .addrs
                    .iter()
                    .map(|(k, a, p)| json!({"type": if *k == 1 { "ipv6" } else { "ipv4" }, "address": a, "prefix": p}))
                    .collect();
                json!({"name": i.name, "hwaddr": i.hwaddr, "addrs": addrs})
            })
            .collect();
        return ctl.print_json(&serde_json::Value::Array(arr));
    }
    let mut s = String::new();
    if !ctl.quiet {
        s.push_str(&format!(
            " {:<10} {:<20} {:<8}     {}\n{}{}\n",
            "Name",
            "MAC address",
            "Protocol",
            "Address",
            "-".repeat(49),
            "-".repeat(30)
        ));
    }
    for i in &ifaces {
        if i.addrs.is_empty() {
            s.push_str(&format!(
                " {:<10} {:<17}    {:<12} {}\n",
                i.name,
                i.hwaddr.as_deref().unwrap_or("N/A"),
                "N/A",
                "N/A"
            ));
            continue;
        }
        for (j, (kind, addr, prefix)) in i.addrs.iter().enumerate() {
            let proto = match kind {
                0 => "ipv4",
                1 => "ipv6",
                _ => "(null)",
            };
            let a = format!("{proto:<12} {addr}/{prefix}");
            if full || j == 0 {
                s.push_str(&format!(" {:<10} {:<17}    {a}\n", i.name, i.hwaddr.as_deref().unwrap_or("")));
            } else {
                s.push_str(&format!(" {:<10} {:<17}    {a}\n", "-", "-"));
            }
        }
    }
    ctl.print(&s);
    Ok(())
}

/// virsh's `average[,peak[,burst[,floor]]]`; empty fields are 0.
fn parse_rate(s: &str) -> Result<[u64; 4], CmdError> {
    let toks: Vec<&str> = s.split(',').collect();
    if toks.len() > 4 {
        return Err(CmdError::Failed(format!("Rate string '{s}' has too many fields")));
    }
    let mut r = [0u64; 4];
    for (i, (t, name)) in toks.iter().zip(["average", "peak", "burst", "floor"]).enumerate() {
        if !t.is_empty() {
            r[i] = t.parse().map_err(|_| CmdError::Failed(format!("field '{name}' is malformed")))?;
        }
    }
    Ok(r)
}

fn xml_attr_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('\'', "&apos;").replace('"', "&quot;")
}

pub fn attach_interface(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let d = lookup(ctl, cmd)?;
    let kind = cmd.req("type")?.to_string();
    let source = cmd.req("source")?.to_string();
    let mut f = DomainDeviceModifyFlags::from_bits_retain(impact_flags(cmd)?.bits());
    if cmd.flag("persistent") {
        f |= DomainDeviceModifyFlags::CONFIG;
        if d.is_active().unwrap_or(false) {
            f |= DomainDeviceModifyFlags::LIVE;
        }
    }
    const KNOWN: &[&str] = &[
        "user",
        "ethernet",
        "vhostuser",
        "server",
        "client",
        "mcast",
        "network",
        "bridge",
        "internal",
        "direct",
        "hostdev",
        "udp",
        "vdpa",
        "null",
        "vds",
    ];
    if !KNOWN.contains(&kind.as_str()) {
        return Err(CmdError::Failed(format!("No support for {kind} in command 'attach-interface'")));
    }
    let mode = cmd.get("source-mode");
    if let Some(m) = mode {
        if m != "server" && m != "client" {
            return Err(CmdError::Failed(format!("Invalid source mode: {m}")));
        }
    }
    let inbound = cmd.get("inbound").map(parse_rate).transpose()?;
    if inbound.is_some_and(|r| r[0] == 0 && r[3] == 0) {
        return Err(CmdError::Failed("either inbound average or floor is mandatory".into()));
    }
    let outbound = cmd.get("outbound").map(parse_rate).transpose()?;
    if let Some(r) = outbound {
        if r[0] == 0 {
            return Err(CmdError::Failed("outbound average is mandatory".into()));
        }
        if r[3] != 0 {
            return Err(CmdError::Failed("outbound floor is unsupported yet".into()));
        }
    }
    let e = xml_attr_escape;
    let mut xml =
        format!("<interface type='{}'{}>\n", e(&kind), if cmd.flag("managed") { " managed='yes'" } else { "" });
    match kind.as_str() {
        "network" | "bridge" => xml.push_str(&format!("  <source {kind}='{}'/>\n", e(&source))),
        "direct" => xml.push_str(&format!("  <source dev='{}'/>\n", e(&source))),
        "vhostuser" => {
            let Some(m) = mode else { return Err(CmdError::Failed("source-mode is mandatory".into())) };
            xml.push_str(&format!("  <source type='unix' path='{}' mode='{m}'/>\n", e(&source)));
        }
        _ => return Err(CmdError::Failed(format!("No support for {kind} in command 'attach-interface'"))),
    }
    for (opt, el, attr) in [
        ("target", "target", "dev"),
        ("mac", "mac", "address"),
        ("script", "script", "path"),
        ("model", "model", "type"),
        ("alias", "alias", "name"),
    ] {
        if let Some(v) = cmd.get(opt) {
            xml.push_str(&format!("  <{el} {attr}='{}'/>\n", e(v)));
        }
    }
    if inbound.is_some() || outbound.is_some() {
        xml.push_str("  <bandwidth>\n");
        for (tag, rate) in [("inbound", inbound), ("outbound", outbound)] {
            let Some(r) = rate else { continue };
            xml.push_str(&format!("    <{tag}"));
            for (name, v) in ["average", "peak", "burst", "floor"].iter().zip(r) {
                if v > 0 {
                    xml.push_str(&format!(" {name}='{v}'"));
                }
            }
            xml.push_str("/>\n");
        }
        xml.push_str("  </bandwidth>\n");
    }
    xml.push_str("</interface>\n");
    if cmd.flag("print-xml") {
        ctl.print(&xml);
        return Ok(());
    }
    d.attach_device(&xml, f).map_err(|e| CmdError::api("Failed to attach interface", e))?;
    ctl.extra("Interface attached successfully\n");
    Ok(())
}

pub fn detach_interface(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let d = lookup(ctl, cmd)?;
    let f = detach_flags(&d, cmd)?;
    // virsh follows every lookup failure with its generic line.
    let dev = find_detach_iface(&d, cmd, f).map_err(|e| match e {
        CmdError::Failed(m) => CmdError::Failed(format!("{m}\nerror: Failed to detach interface")),
        e => e,
    })?;
    if cmd.flag("print-xml") {
        ctl.print(&libxml_quotes(&dev));
        return Ok(());
    }
    d.detach_device(&dev, f).map_err(|e| CmdError::api("Failed to detach interface", e))?;
    ctl.extra("Interface detached successfully\n");
    Ok(())
}

fn detach_flags(d: &Domain, cmd: &Cmd) -> Result<DomainDeviceModifyFlags, CmdError> {
    let mut f = DomainDeviceModifyFlags::from_bits_retain(impact_flags(cmd)?.bits());
    if cmd.flag("persistent") {
        f |= DomainDeviceModifyFlags::CONFIG;
        if d.is_active().unwrap_or(false) {
            f |= DomainDeviceModifyFlags::LIVE;
        }
    }
    Ok(f)
}

/// An element as libxml2 dumps a node: attribute values in double quotes.
fn libxml_quotes(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut in_tag = false;
    for c in xml.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ => {}
        }
        match c {
            '\'' if in_tag => out.push('"'),
            '"' if in_tag => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// The `<interface>` element to detach, as the domain XML has it.
fn find_detach_iface(d: &Domain, cmd: &Cmd, f: DomainDeviceModifyFlags) -> Result<String, CmdError> {
    let kind = cmd.req("type")?.to_string();
    let mac = cmd.get("mac").map(str::to_string);
    let xml = domain_xml(d, f.contains(DomainDeviceModifyFlags::CONFIG))?;
    let doc = parse(&xml)?;
    let of_type: Vec<_> =
        devices(&doc, "interface").into_iter().filter(|n| n.attribute("type") == Some(kind.as_str())).collect();
    if of_type.is_empty() {
        return Err(CmdError::Failed(format!("No interface found whose type is {kind}")));
    }
    let node = match &mac {
        Some(m) => {
            let want = normalize_mac(m).unwrap_or_else(|| m.to_lowercase());
            let hits: Vec<_> = of_type
                .iter()
                .filter(|n| child_attr(**n, "mac", "address").is_some_and(|a| a.eq_ignore_ascii_case(&want)))
                .collect();
            match hits.as_slice() {
                [] => return Err(CmdError::Failed(format!("No interface with MAC address {m} was found"))),
                [n] => **n,
                _ => {
                    return Err(CmdError::Failed(format!(
                        "Domain has {} interfaces. Please specify which one to detach using --mac",
                        hits.len()
                    )))
                }
            }
        }
        None if of_type.len() > 1 => {
            return Err(CmdError::Failed(format!(
                "Domain has {} interfaces. Please specify which one to detach using --mac",
                of_type.len()
            )))
        }
        None => of_type[0],
    };
    Ok(xml[node.range()].to_string())
}

pub fn domblklist(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let d = lookup(ctl, cmd)?;
    let details = cmd.flag("details");
    let xml = domain_xml(&d, cmd.flag("inactive"))?;
    let doc = parse(&xml)?;
    let mut t =
        if details { Table::new(&["Type", "Device", "Target", "Source"]) } else { Table::new(&["Target", "Source"]) };
    for n in devices(&doc, "disk") {
        let target = child_attr(n, "target", "dev").unwrap_or_default();
        let mut source = source_of(n, &["file", "dev", "dir", "name"]);
        if source.is_none() {
            // A pool volume reads "pool/volume".
            if let Some(src) = children(n, "source").next() {
                if let (Some(p), Some(v)) = (src.attribute("pool"), src.attribute("volume")) {
                    source = Some(format!("{p}/{v}"));
                }
            }
        }
        let source = source.unwrap_or_else(|| "-".into());
        if details {
            t.push(vec![
                n.attribute("type").unwrap_or("").into(),
                n.attribute("device").unwrap_or("").into(),
                target,
                source,
            ]);
        } else {
            t.push(vec![target, source]);
        }
    }
    let s = t.render(!ctl.quiet);
    ctl.print(&s);
    Ok(())
}

/// (maximum, current) vCPUs of the persistent (`AFFECT_CONFIG`) or running (`AFFECT_LIVE`) definition.
fn vcpus_of(d: &Domain, which: DomainVcpuFlags) -> Result<(u32, u32), CmdError> {
    let get = |f: DomainVcpuFlags| d.vcpus_flags(which | f).map_err(|e| CmdError::api("", e));
    Ok((get(DomainVcpuFlags::MAXIMUM)?, get(DomainVcpuFlags::empty())?))
}

pub fn vcpucount(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let d = lookup(ctl, cmd)?;
    let active = d.is_active().unwrap_or(false);
    let (config, live, current) = (cmd.flag("config"), cmd.flag("live"), cmd.flag("current"));
    let (maximum, active_only) = (cmd.flag("maximum"), cmd.flag("active"));
    cmd.exclusive("current", "live")?;
    cmd.exclusive("current", "config")?;
    cmd.exclusive("maximum", "active")?;
    let cfg = vcpus_of(&d, DomainVcpuFlags::CONFIG)?;
    let liv = if active { Some(vcpus_of(&d, DomainVcpuFlags::LIVE)?) } else { None };
    if cmd.flag("guest") {
        return Err(CmdError::api(
            "Failed to retrieve vCPU count from the guest",
            oxvirt_api::Error::no_support("virDomainGetVcpusFlags"),
        ));
    }
    let single = config || live || current || maximum || active_only;
    if single {
        let use_live = live || (!config && active);
        let pair = if use_live {
            liv.ok_or_else(|| CmdError::Failed("Requested operation is not valid: domain is not running".into()))?
        } else {
            cfg
        };
        let n = if maximum { pair.0 } else { pair.1 };
        ctl.print(&format!("{n}\n"));
        return Ok(());
    }
    let mut s = String::new();
    for (which, idx) in [("maximum", 0), ("current", 1)] {
        if (maximum && idx != 0) || (active_only && idx == 0) {
            continue;
        }
        let pick = |p: (u32, u32)| if idx == 0 { p.0 } else { p.1 };
        s.push_str(&format!("{:<12} {:<12} {:>3}\n", which, "config", pick(cfg)));
        if let Some(l) = liv {
            s.push_str(&format!("{:<12} {:<12} {:>3}\n", which, "live", pick(l)));
        }
    }
    ctl.print(&s);
    Ok(())
}

pub fn maxvcpus(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let conn = ctl.conn()?;
    let n = conn.max_vcpus(cmd.get("type")).map_err(|e| CmdError::api("", e))?;
    ctl.print(&format!("{n}\n"));
    Ok(())
}

/// virsh's `domiftune`: without `--inbound`/`--outbound` it prints the seven bandwidth parameters,
/// else it sets the directions given (a 0 average clears one).
pub fn domiftune(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    // virDomainSetInterfaceParameters' flags stay u32 (impact and typed-parameter bits mixed).
    let f = impact_flags(cmd)?.bits();
    let d = lookup(ctl, cmd)?;
    let device = cmd.req("interface")?.to_string();
    let mut params: Vec<(String, oxvirt_api::TypedParam)> = Vec::new();
    let mut add = |name: &str, v: u64, always: bool| {
        if always || v != 0 {
            // Checked against u32::MAX below, before anything is sent.
            params.push((name.to_string(), oxvirt_api::TypedParam::UInt(u32::try_from(v).unwrap_or(u32::MAX))));
        }
    };
    if let Some(s) = cmd.get("inbound") {
        let [average, peak, burst, floor] = parse_rate(s)?;
        if [average, peak, burst].iter().any(|v| *v > u64::from(u32::MAX)) {
            return Err(CmdError::Failed(format!("inbound rate larger than maximum {}", u32::MAX)));
        }
        if average == 0 && (burst != 0 || peak != 0) && floor == 0 {
            return Err(CmdError::Failed("either inbound average or floor is mandatory".into()));
        }
        add("inbound.average", average, true);
        add("inbound.peak", peak, false);
        add("inbound.burst", burst, false);
        add("inbound.floor", floor, false);
    }
    if let Some(s) = cmd.get("outbound") {
        let [average, peak, burst, floor] = parse_rate(s)?;
        if [average, peak, burst].iter().any(|v| *v > u64::from(u32::MAX)) {
            return Err(CmdError::Failed(format!("outbound rate larger than maximum {}", u32::MAX)));
        }
        if average == 0 && (burst != 0 || peak != 0) {
            return Err(CmdError::Failed("outbound average is mandatory".into()));
        }
        if floor != 0 {
            return Err(CmdError::Failed("outbound floor is unsupported yet".into()));
        }
        add("outbound.average", average, true);
        add("outbound.peak", peak, false);
        add("outbound.burst", burst, false);
    }
    if params.is_empty() {
        let got =
            d.interface_parameters(&device, f).map_err(|e| CmdError::api("Unable to get interface parameters", e))?;
        let mut s = String::new();
        for (name, value) in got {
            s.push_str(&format!("{name:<15}: {value}\n"));
        }
        ctl.print(&s);
        return Ok(());
    }
    d.set_interface_parameters(&device, &params, f).map_err(|e| CmdError::api("Unable to set interface parameters", e))
}
