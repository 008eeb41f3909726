//! The network driver: libvirt's virtual network lifecycle on real bridges, dnsmasq and nftables.
//!
//! Like the QEMU driver, all state is on disk (definitions, live XML, runtime facts) and every
//! operation works from it under one inter-process lock, so a CLI call can start a network, exit, and
//! a later call (or the daemon) re-attaches to it.

use std::collections::BTreeMap;
use std::fs;
use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::time::Duration;

use oxvirt_api::types::object_matches;
use oxvirt_api::{Error, ErrorCode, ErrorDomain, NetworkPort, NetworkRef, PortPlug, PortRequest, Result};
use oxvirt_xml::network::{next_bridge_name, random_mac, AddrFamily, Bandwidth, ForwardMode, Ip, Network};
use oxvirt_xml::{parse_document, MacAddr, OnOff, ParseOptions, XmlDocument, YesNo};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::bandwidth;
use crate::dnsmasq::{self, DnsmasqPaths};
use crate::firewall::{self, FwMode, NetRules};
use crate::host::Host;
use crate::layout::NetLayout;
use crate::netlink::{BridgeSpec, RouteSpec};
use crate::rollback::Rollback;
use crate::tap::{TapError, TapSpec};
use crate::util::{remove_if_exists, write_atomic, FileLock};

const LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// `virNetworkXMLFlags`
pub const XML_INACTIVE: u32 = 1;
/// `virNetworkDefineFlags` / `virNetworkCreateFlags`
pub const VALIDATE: u32 = 1;
/// `virNetworkUpdateFlags`
pub const UPDATE_AFFECT_LIVE: u32 = 1;
pub const UPDATE_AFFECT_CONFIG: u32 = 2;

/// `virNetworkUpdateCommand`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateCommand {
    Modify = 1,
    Delete = 2,
    AddLast = 3,
    AddFirst = 4,
}

fn err(code: ErrorCode, msg: impl std::fmt::Display) -> Error {
    Error::coded(code, ErrorDomain::Network, msg)
}
fn op_invalid(msg: impl std::fmt::Display) -> Error {
    err(ErrorCode::OperationInvalid, msg)
}
fn sys(what: impl std::fmt::Display, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::SystemError, ErrorDomain::Network, format!("{what}: {e}"))
}
fn failed(msg: impl std::fmt::Display) -> Error {
    err(ErrorCode::OperationFailed, msg)
}

/// What oxvirt knows of an active network beyond its live XML.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Runtime {
    pub uuid: Uuid,
    /// Whether we created the bridge (and so delete it at destroy).
    pub own_bridge: bool,
    pub dnsmasq_pid: Option<u32>,
    pub rules: Option<NetRules>,
    /// Guest interfaces using the network.
    pub connections: u32,
    /// Per forward interface (macvtap modes).
    pub direct_connections: BTreeMap<String, u32>,
    /// Problems found at start that did not stop it (e.g. another table's forward drop policy).
    pub warnings: Vec<String>,
}

/// What starting a network reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartReport {
    pub bridge: Option<String>,
    pub warnings: Vec<String>,
}

/// A guest's TAP device on a network: hand `fd` to QEMU (`-netdev tap,fd=N`), and tell the driver
/// with [`NetworkDriver::detach_guest_interface`] when the guest is gone.
#[derive(Debug)]
pub struct TapHandle {
    /// One per queue.
    pub fds: Vec<OwnedFd>,
    pub ifname: String,
    pub network: String,
    pub bridge: String,
    pub mac: MacAddr,
    /// The tap was opened with IFF_VNET_HDR (virtio NICs): pass `vnet_hdr=on`.
    pub vnet_hdr: bool,
}

/// The host interface a direct (macvtap) guest interface should use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectInterface {
    pub network: String,
    pub dev: String,
    pub mode: ForwardMode,
}

struct Obj {
    name: String,
    config: Option<Network>,
    live: Option<(Network, Runtime)>,
    autostart: bool,
}

impl Obj {
    fn uuid(&self) -> Uuid {
        self.live
            .as_ref()
            .map(|(_, r)| r.uuid)
            .or_else(|| self.config.as_ref().and_then(|c| c.uuid))
            .unwrap_or_default()
    }
    fn reference(&self) -> NetworkRef {
        NetworkRef { name: self.name.clone(), uuid: self.uuid() }
    }
    fn def(&self) -> Option<&Network> {
        self.live.as_ref().map(|(n, _)| n).or(self.config.as_ref())
    }
}

use oxvirt_api::conf::network::own_bridge;

/// A host bridge network: forward mode bridge naming a bridge and no interface pool.
fn host_bridge(def: &Network) -> bool {
    def.forward.as_ref().is_some_and(|f| f.mode() == ForwardMode::Bridge && f.dev.is_none() && f.interfaces.is_empty())
}

/// Guests get macvtap devices on the network's forward interfaces.
fn is_direct(def: &Network) -> bool {
    matches!(
        def.forward_mode(),
        Some(ForwardMode::Private | ForwardMode::Vepa | ForwardMode::Bridge | ForwardMode::Passthrough)
    ) && !host_bridge(def)
}

fn parse(xml: &str, validate: bool) -> Result<Network> {
    let (mut n, _warnings) = parse_document::<Network>(xml, ParseOptions { validate })
        .map_err(|e| Error::xml("network definition", &e).in_domain(ErrorDomain::Network))?;
    // The defaults and rules every driver applies; host-specific checks follow in `prepare`.
    oxvirt_api::conf::network::prepare(&mut n)?;
    Ok(n)
}

/// The `<bandwidth>` a guest interface on `def` gets (libvirt's rule): its own if it has one, else
/// that of its port group — the one it names, or the network's default one when it names none.
/// Naming a port group the network does not have is an error.
pub fn port_bandwidth(def: &Network, portgroup: Option<&str>, own: Option<&Bandwidth>) -> Result<Option<Bandwidth>> {
    let group = match portgroup {
        Some(name) => Some(def.portgroups.iter().find(|p| p.name == name).ok_or_else(|| {
            err(ErrorCode::ConfigUnsupported, format!("network '{}' has no portgroup named '{name}'", def.name))
        })?),
        None => def.portgroups.iter().find(|p| p.default == Some(YesNo::Yes)),
    };
    Ok(own.cloned().or_else(|| group.and_then(|g| g.bandwidth.clone())))
}

fn ipv4_nets(def: &Network) -> Vec<(std::net::Ipv4Addr, u8)> {
    def.ips.iter().filter(|i| i.family() == AddrFamily::Ipv4).filter_map(Ip::ipv4_subnet).collect()
}

fn ipv6_nets(def: &Network) -> Vec<(std::net::Ipv6Addr, u8)> {
    def.ips
        .iter()
        .filter_map(|i| match (i.address, i.prefix_len()) {
            (Some(IpAddr::V6(a)), Some(p)) => {
                let m = u128::MAX.checked_shl(128 - u32::from(p.min(128))).unwrap_or(0);
                Some((std::net::Ipv6Addr::from(u128::from(a) & m), p))
            }
            _ => None,
        })
        .collect()
}

/// The firewall facts of a network; `None` when it needs no rules (open, bridge, macvtap).
fn rules_for(def: &Network, dhcp_dns: bool) -> Option<NetRules> {
    let mode = match def.forward_mode() {
        None => FwMode::Isolated,
        Some(ForwardMode::Nat) => FwMode::Nat,
        Some(ForwardMode::Route) => FwMode::Route,
        _ => return None,
    };
    let bridge = def.bridge_name()?.to_string();
    let nat = def.forward.as_ref().and_then(|f| f.nat.as_ref());
    Some(NetRules {
        bridge,
        mode,
        forward_dev: def.forward.as_ref().and_then(|f| f.dev.clone()),
        ipv4: ipv4_nets(def),
        ipv6: ipv6_nets(def),
        nat_addresses: nat.and_then(|n| n.address.as_ref()).map(|a| (a.start, a.end.unwrap_or(a.start))),
        nat_ports: nat
            .and_then(|n| n.port.as_ref())
            .map(|p| (p.start, p.end.unwrap_or(p.start)))
            .unwrap_or((1024, 65535)),
        nat_ipv6: nat.and_then(|n| n.ipv6) == Some(YesNo::Yes),
        dhcp_dns,
    })
}

/// The result of a scoped helper thread; a panic there becomes an error instead of spreading.
fn joined<T>(
    h: std::thread::ScopedJoinHandle<'_, std::result::Result<T, firewall::FirewallError>>,
) -> std::result::Result<T, String> {
    match h.join() {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("the helper thread panicked".into()),
    }
}

/// What a guest's tap on a bridge network gets: the bridge, the network's MTU, and the limits
/// (the interface's own, else its port group's). Refuses what such a port cannot have.
fn bridge_port(
    def: &Network,
    network: &str,
    portgroup: Option<&str>,
    own: Option<&Bandwidth>,
) -> Result<(String, Option<u32>, Option<Bandwidth>)> {
    if def.forward_mode() == Some(ForwardMode::Hostdev) {
        return Err(err(ErrorCode::ConfigUnsupported, "hostdev networks are not supported yet"));
    }
    let bridge = def.bridge_name().ok_or_else(|| failed(format!("network '{network}' has no bridge")))?.to_string();
    let bandwidth = port_bandwidth(def, portgroup, own)?;
    if let Some(floor) = bandwidth.as_ref().and_then(|b| b.inbound.as_ref()).and_then(|r| r.floor) {
        return Err(err(
            ErrorCode::OperationUnsupported,
            format!(
                "unsupported: <bandwidth><inbound floor='{floor}'> on an interface of network '{network}' \
                 (guaranteed minimum rates, QoS by floor, are not implemented)"
            ),
        ));
    }
    Ok((bridge, def.mtu.as_ref().map(|m| u32::from(m.size)), bandwidth))
}

pub struct NetworkDriver {
    layout: NetLayout,
    host: Host,
}

impl NetworkDriver {
    /// Opens the driver on `layout` with the real host, re-attaching to networks left running.
    pub fn new(layout: NetLayout) -> Result<NetworkDriver> {
        Self::with_host(layout, Host::real())
    }

    pub fn with_host(layout: NetLayout, host: Host) -> Result<NetworkDriver> {
        layout
            .create_dirs()
            .map_err(|e| sys(format!("creating network driver directories under {}", layout.run.display()), e))?;
        let d = NetworkDriver { layout, host };
        d.reattach()?;
        Ok(d)
    }

    pub fn layout(&self) -> &NetLayout {
        &self.layout
    }

    fn lock(&self) -> Result<FileLock> {
        let p = self.layout.lock_file();
        FileLock::acquire(&p, LOCK_TIMEOUT).map_err(|e| sys(format!("locking {}", p.display()), e))
    }

    fn paths(&self, name: &str) -> DnsmasqPaths {
        let mut p = DnsmasqPaths::in_dir(&self.layout.dnsmasq, name);
        p.pidfile = Some(self.layout.run.join(format!("{name}.pid")));
        p
    }

    // ---- on-disk state ----

    fn load_one(&self, name: &str) -> Result<Option<Obj>> {
        let cfg_path = self.layout.config_file(name);
        // Stored definitions are read within the same size limit they were accepted under.
        let read = |p: &std::path::Path| oxvirt_xml::limits::read_file(p, &oxvirt_xml::Limits::DEFINITION);
        let config = match read(&cfg_path) {
            Ok(s) => Some(
                parse(&s, false)
                    .map_err(|e| failed(format!("definition {} is unreadable: {e}", cfg_path.display())))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(sys(format!("reading {}", cfg_path.display()), e)),
        };
        let live = match (read(&self.layout.live_file(name)), fs::read_to_string(self.layout.runtime_file(name))) {
            (Ok(x), Ok(j)) => {
                let def = parse(&x, false)
                    .map_err(|e| failed(format!("live state of network '{name}' is unreadable: {e}")))?;
                let rt: Runtime = serde_json::from_str(&j)
                    .map_err(|e| failed(format!("runtime state of network '{name}' is unreadable: {e}")))?;
                Some((def, rt))
            }
            _ => None,
        };
        if config.is_none() && live.is_none() {
            return Ok(None);
        }
        let autostart = fs::symlink_metadata(self.layout.autostart_link(name)).is_ok();
        Ok(Some(Obj { name: name.into(), config, live, autostart }))
    }

    fn load_all(&self) -> Result<Vec<Obj>> {
        let mut names = std::collections::BTreeSet::new();
        for dir in [&self.layout.config, &self.layout.run] {
            let rd = fs::read_dir(dir).map_err(|e| sys(format!("listing {}", dir.display()), e))?;
            for e in rd.flatten() {
                let f = e.file_name().to_string_lossy().into_owned();
                if let Some(n) = f.strip_suffix(".xml") {
                    if !n.starts_with('.') && oxvirt_xml::names::check(oxvirt_xml::names::Kind::Network, n).is_ok() {
                        names.insert(n.to_string());
                    }
                }
            }
        }
        // One unreadable network hides only itself (logged, naming its file), as libvirt skips
        // a definition it cannot load; looking it up by name still reports why.
        let mut out = Vec::new();
        for n in names {
            match self.load_one(&n) {
                Ok(Some(o)) => out.push(o),
                Ok(None) => {}
                Err(e) => tracing::error!(network = %n, "skipping network: {e}"),
            }
        }
        Ok(out)
    }

    fn find<'a>(objs: &'a [Obj], r: &NetworkRef) -> Result<&'a Obj> {
        objs.iter()
            .find(|o| o.uuid() == r.uuid && o.name == r.name)
            .or_else(|| objs.iter().find(|o| o.uuid() == r.uuid))
            .ok_or_else(|| Error::no_network(format!("no network with matching uuid '{}' ({})", r.uuid, r.name)))
    }

    fn write_config(&self, def: &Network) -> Result<()> {
        let p = self.layout.config_file(&def.name);
        write_atomic(&p, def.to_xml_string().as_bytes(), 0o600).map_err(|e| sys(format!("writing {}", p.display()), e))
    }

    fn live_xml(def: &Network, rt: &Runtime) -> String {
        let mut d = def.clone();
        d.connections = (rt.connections > 0).then_some(rt.connections);
        if let Some(f) = d.forward.as_mut() {
            for i in &mut f.interfaces {
                i.connections = rt.direct_connections.get(&i.dev).copied().filter(|c| *c > 0);
            }
        }
        d.to_xml_string()
    }

    fn write_live(&self, def: &Network, rt: &Runtime) -> Result<()> {
        let j = self.layout.runtime_file(&def.name);
        let json = serde_json::to_vec_pretty(rt).map_err(|e| failed(format!("encoding runtime state: {e}")))?;
        write_atomic(&j, &json, 0o600).map_err(|e| sys(format!("writing {}", j.display()), e))?;
        let x = self.layout.live_file(&def.name);
        write_atomic(&x, Self::live_xml(def, rt).as_bytes(), 0o600)
            .map_err(|e| sys(format!("writing {}", x.display()), e))
    }

    fn remove_live(&self, name: &str) -> Result<()> {
        for p in [self.layout.live_file(name), self.layout.runtime_file(name)] {
            remove_if_exists(&p).map_err(|e| sys(format!("removing {}", p.display()), e))?;
        }
        Ok(())
    }

    // ---- definitions ----

    /// libvirt's `virNetworkObjAssignDef` checks: a uuid names one network, a name one uuid.
    fn check_identity(objs: &[Obj], def: &Network) -> Result<Option<usize>> {
        use oxvirt_api::conf::objlist::{find_for_add, ObjFacts, ObjKind};
        let facts = objs.iter().map(|o| ObjFacts {
            name: &o.name,
            uuid: o.uuid(),
            active: o.live.is_some(),
            persistent: o.config.is_some(),
        });
        find_for_add(ObjKind::Network, facts, &def.name, def.uuid.unwrap_or_default(), false)
    }

    /// Fills in the bridge name and MAC libvirt generates, and refuses a bridge another network uses.
    fn assign_bridge(&self, objs: &[Obj], def: &mut Network) -> Result<()> {
        if !own_bridge(def.forward_mode()) {
            return Ok(());
        }
        let others: Vec<String> = objs
            .iter()
            .filter(|o| o.name != def.name)
            .flat_map(|o| [o.config.as_ref(), o.live.as_ref().map(|(n, _)| n)])
            .flatten()
            .filter(|n| own_bridge(n.forward_mode()))
            .filter_map(|n| n.bridge_name().map(str::to_string))
            .collect();
        let b = def.bridge.get_or_insert_with(Default::default);
        match b.name.as_deref() {
            Some(n) if !n.contains("%d") => {
                if others.iter().any(|o| o == n) {
                    return Err(failed(format!("bridge name '{n}' already in use.")));
                }
            }
            template => {
                let template = template.unwrap_or("virbr%d").to_string();
                let host = self.host.links.link_names().map_err(|e| sys("listing network interfaces", e))?;
                let (pre, post) = template.split_once("%d").unwrap_or((&template, ""));
                let used: Vec<String> = others.iter().chain(host.iter()).cloned().collect();
                let name = if pre == "virbr" && post.is_empty() {
                    next_bridge_name(used.iter().map(String::as_str))
                } else {
                    (0..)
                        .map(|n| format!("{pre}{n}{post}"))
                        .find(|c| !used.contains(c))
                        .unwrap_or_else(|| format!("{pre}0{post}"))
                };
                oxvirt_api::conf::network::check_ifname(&name, "bridge name")?;
                b.name = Some(name);
            }
        }
        if def.mac.is_none() {
            def.mac = Some(oxvirt_xml::network::Mac { address: random_mac() });
        }
        Ok(())
    }

    fn prepare(&self, objs: &[Obj], xml: &str, validate: bool) -> Result<(Network, Option<usize>)> {
        let mut def = parse(xml, validate)?;
        let idx = Self::check_identity(objs, &def)?;
        // Keep the bridge and MAC already generated for this network.
        if let Some(old) = idx.and_then(|i| objs[i].def()) {
            if def.bridge_name().is_none() && own_bridge(def.forward_mode()) {
                if let Some(b) = old.bridge_name() {
                    def.bridge.get_or_insert_with(Default::default).name = Some(b.to_string());
                }
            }
            if def.mac.is_none() {
                def.mac = old.mac.clone();
            }
        }
        self.assign_bridge(objs, &mut def)?;
        Self::check_dnsmasq(&def, &self.paths(&def.name))?;
        Ok((def, idx))
    }

    /// Refuses definitions whose dnsmasq configuration could not be written safely.
    fn check_dnsmasq(def: &Network, paths: &DnsmasqPaths) -> Result<dnsmasq::DnsmasqFiles> {
        if def.bridge_name().is_none() {
            return Ok(Default::default());
        }
        dnsmasq::config(def, paths).map_err(|e| err(ErrorCode::XmlError, e))
    }

    pub fn list(&self, f: u32) -> Result<Vec<NetworkRef>> {
        Ok(self
            .load_all()?
            .iter()
            .filter(|o| object_matches(f, o.live.is_some(), o.config.is_some(), o.autostart))
            .map(Obj::reference)
            .collect())
    }

    pub fn lookup_by_name(&self, name: &str) -> Result<NetworkRef> {
        // A name outside the one rule cannot be defined, and must not reach a path.
        if oxvirt_xml::names::check(oxvirt_xml::names::Kind::Network, name).is_ok() {
            if let Some(o) = self.load_one(name)? {
                return Ok(o.reference());
            }
        }
        Err(Error::no_network(format!("no network with matching name '{name}'")))
    }

    pub fn lookup_by_uuid(&self, uuid: &Uuid) -> Result<NetworkRef> {
        self.load_all()?
            .iter()
            .find(|o| o.uuid() == *uuid)
            .map(Obj::reference)
            .ok_or_else(|| Error::no_network(format!("no network with matching uuid '{uuid}'")))
    }

    pub fn define(&self, xml: &str, f: u32) -> Result<NetworkRef> {
        let _l = self.lock()?;
        let objs = self.load_all()?;
        let (def, _) = self.prepare(&objs, xml, f & VALIDATE != 0)?;
        self.write_config(&def)?;
        Ok(NetworkRef { name: def.name.clone(), uuid: def.uuid.unwrap_or_default() })
    }

    pub fn undefine(&self, r: &NetworkRef) -> Result<()> {
        let _l = self.lock()?;
        let objs = self.load_all()?;
        let o = Self::find(&objs, r)?;
        if o.config.is_none() {
            return Err(op_invalid(format!("network '{}' is not persistent", o.name)));
        }
        remove_if_exists(&self.layout.autostart_link(&o.name)).map_err(|e| sys("removing autostart link", e))?;
        let p = self.layout.config_file(&o.name);
        remove_if_exists(&p).map_err(|e| sys(format!("removing {}", p.display()), e))?;
        if o.live.is_none() {
            // An inactive network leaves nothing behind, not even its lease file.
            let paths = self.paths(&o.name);
            for p in [paths.conf, paths.hostsfile, paths.addnhosts].into_iter().chain(paths.leasefile) {
                let _ = remove_if_exists(&p);
            }
        }
        Ok(())
    }

    /// Starts a transient network (or a defined inactive one with this XML as its live definition).
    pub fn create_xml(&self, xml: &str, f: u32) -> Result<(NetworkRef, StartReport)> {
        let _l = self.lock()?;
        let objs = self.load_all()?;
        self.undo_interrupted_starts(&objs);
        let (mut def, idx) = self.prepare(&objs, xml, f & VALIDATE != 0)?;
        if let Some(o) = idx.map(|i| &objs[i]) {
            let facts = oxvirt_api::conf::objlist::ObjFacts {
                name: &o.name,
                uuid: o.uuid(),
                active: o.live.is_some(),
                persistent: o.config.is_some(),
            };
            oxvirt_api::conf::objlist::check_not_live(oxvirt_api::conf::objlist::ObjKind::Network, &facts)?;
        }
        let report = self.start_locked(&objs, &mut def)?;
        Ok((NetworkRef { name: def.name.clone(), uuid: def.uuid.unwrap_or_default() }, report))
    }

    pub fn start(&self, r: &NetworkRef) -> Result<StartReport> {
        let _l = self.lock()?;
        let objs = self.load_all()?;
        self.undo_interrupted_starts(&objs);
        let o = Self::find(&objs, r)?;
        if o.live.is_some() {
            return Err(op_invalid(format!("network '{}' is already active", o.name)));
        }
        let mut def =
            o.config.clone().ok_or_else(|| Error::no_network(format!("network '{}' has no definition", o.name)))?;
        self.start_locked(&objs, &mut def)
    }

    pub fn destroy(&self, r: &NetworkRef) -> Result<()> {
        let _l = self.lock()?;
        let objs = self.load_all()?;
        let o = Self::find(&objs, r)?;
        let Some((def, rt)) = &o.live else {
            return Err(op_invalid(format!("network '{}' is not active", o.name)));
        };
        self.stop_locked(&objs, def, rt)
    }

    pub fn xml(&self, r: &NetworkRef, f: u32) -> Result<String> {
        let objs = self.load_all()?;
        let o = Self::find(&objs, r)?;
        match (&o.live, &o.config) {
            (Some(_), Some(c)) if f & XML_INACTIVE != 0 => Ok(c.to_xml_string()),
            (Some((d, rt)), _) => Ok(Self::live_xml(d, rt)),
            (None, Some(c)) => Ok(c.to_xml_string()),
            (None, None) => Err(Error::no_network(format!("no network named '{}'", o.name))),
        }
    }

    pub fn bridge_name(&self, r: &NetworkRef) -> Result<String> {
        let objs = self.load_all()?;
        let o = Self::find(&objs, r)?;
        o.def()
            .and_then(|d| d.bridge_name())
            .map(str::to_string)
            .ok_or_else(|| err(ErrorCode::InternalError, format!("network '{}' does not have a bridge name.", o.name)))
    }

    pub fn autostart(&self, r: &NetworkRef) -> Result<bool> {
        Ok(Self::find(&self.load_all()?, r)?.autostart)
    }

    pub fn set_autostart(&self, r: &NetworkRef, on: bool) -> Result<()> {
        let _l = self.lock()?;
        let objs = self.load_all()?;
        let o = Self::find(&objs, r)?;
        if o.config.is_none() {
            return Err(op_invalid("cannot set autostart for transient network"));
        }
        let link = self.layout.autostart_link(&o.name);
        oxvirt_sysutil::set_link(&link, &self.layout.config_file(&o.name), on).map_err(|e| {
            sys(format!("{} autostart link {}", if on { "creating" } else { "removing" }, link.display()), e)
        })
    }

    pub fn is_active(&self, r: &NetworkRef) -> Result<bool> {
        Ok(Self::find(&self.load_all()?, r)?.live.is_some())
    }

    pub fn is_persistent(&self, r: &NetworkRef) -> Result<bool> {
        Ok(Self::find(&self.load_all()?, r)?.config.is_some())
    }

    /// Warnings recorded when the network was started.
    pub fn warnings(&self, r: &NetworkRef) -> Result<Vec<String>> {
        Ok(Self::find(&self.load_all()?, r)?.live.as_ref().map(|(_, rt)| rt.warnings.clone()).unwrap_or_default())
    }

    /// Starts every inactive network marked autostart; returns the failures by name.
    pub fn autostart_all(&self) -> Result<Vec<(String, Error)>> {
        let mut failures = Vec::new();
        for o in self.load_all()? {
            if o.autostart && o.live.is_none() {
                if let Err(e) = self.start(&o.reference()) {
                    failures.push((o.name.clone(), e));
                }
            }
        }
        Ok(failures)
    }

    // ---- start / stop ----

    fn active_rules(objs: &[Obj], except: &str) -> Vec<NetRules> {
        objs.iter()
            .filter(|o| o.name != except)
            .filter_map(|o| o.live.as_ref().and_then(|(_, rt)| rt.rules.clone()))
            .collect()
    }

    /// Starts `def`, recording the start before it touches the host (see
    /// [`NetLayout::starting_file`]) and forgetting it once it is recorded as live or undone.
    fn start_locked(&self, objs: &[Obj], def: &mut Network) -> Result<StartReport> {
        let intent = self.layout.starting_file(&def.name);
        write_atomic(&intent, def.to_xml_string().as_bytes(), 0o600)
            .map_err(|e| sys(format!("writing {}", intent.display()), e))?;
        let r = self.start_recorded(objs, def);
        let marker = self.layout.starting_bridge_marker(&def.name);
        for p in [&marker, &intent] {
            if let Err(e) = remove_if_exists(p) {
                tracing::warn!("removing {}: {e}", p.display());
            }
        }
        r
    }

    /// Undoes starts that a killed process left half done (their record in `starting/` without a
    /// live state): stops their dnsmasq (verified by its command line), removes their firewall
    /// rules and the bridge they made. Runs under the driver lock, so no start is under way; it
    /// changes nothing `load_all` reads (only networks that are not live), so `objs` stays valid.
    fn undo_interrupted_starts(&self, objs: &[Obj]) {
        let Ok(rd) = fs::read_dir(self.layout.starting_dir()) else { return };
        for e in rd.flatten() {
            let f = e.file_name().to_string_lossy().into_owned();
            let Some(name) = f.strip_suffix(".xml") else { continue };
            if oxvirt_xml::names::check(oxvirt_xml::names::Kind::Network, name).is_err() {
                continue;
            }
            let (intent, marker) = (self.layout.starting_file(name), self.layout.starting_bridge_marker(name));
            let live = objs.iter().any(|o| o.name == name && o.live.is_some());
            if !live {
                let def = oxvirt_xml::limits::read_file(&intent, &oxvirt_xml::Limits::DEFINITION)
                    .map_err(|e| e.to_string())
                    .and_then(|t| parse(&t, false).map_err(|e| e.to_string()));
                match def {
                    Ok(def) if def.name == name => {
                        tracing::warn!(network = %name, "undoing a start that was cut short");
                        self.undo_start_of(objs, &def, marker.exists());
                    }
                    Ok(_) => tracing::error!("{}: names another network; ignored", intent.display()),
                    Err(e) => tracing::error!("{}: {e}; ignored", intent.display()),
                }
            }
            for p in [&marker, &intent] {
                let _ = remove_if_exists(p);
            }
        }
    }

    fn undo_start_of(&self, objs: &[Obj], def: &Network, made_bridge: bool) {
        let name = &def.name;
        let paths = self.paths(name);
        if let Some(pid) =
            paths.pidfile.as_ref().and_then(|p| fs::read_to_string(p).ok()).and_then(|s| s.trim().parse::<u32>().ok())
        {
            // stop() signals only a dnsmasq running with this network's configuration file.
            if let Err(e) = self.host.dhcp.stop(pid, &paths.conf) {
                tracing::warn!(network = %name, "stopping dnsmasq {pid}: {e}");
            }
        }
        // killed before dnsmasq wrote its pid file: found by its configuration file instead
        if let Err(e) = self.host.dhcp.stop_all(&paths.conf) {
            tracing::warn!(network = %name, "stopping dnsmasq: {e}");
        }
        for p in [&paths.conf, &paths.hostsfile, &paths.addnhosts].into_iter().chain(paths.pidfile.as_ref()) {
            let _ = remove_if_exists(p);
        }
        if rules_for(def, dnsmasq::needed(def)).is_some() {
            if let Err(e) = self.host.nft.apply(&firewall::script(&Self::active_rules(objs, name))) {
                tracing::warn!(network = %name, "removing firewall rules: {e}");
            }
        }
        let br = def.bridge_name();
        let in_use = objs.iter().any(|o| o.live.as_ref().is_some_and(|(d, _)| d.bridge_name() == br));
        if let (true, false, Some(br)) = (made_bridge, in_use, br) {
            match self.host.links.delete_link(br) {
                Ok(()) | Err(crate::netlink::NetlinkError::NoSuchLink(_)) => {}
                Err(e) => tracing::warn!(network = %name, "deleting bridge {br}: {e}"),
            }
        } else if let (true, Some(br)) =
            (host_bridge(def) && def.bandwidth.as_ref().is_some_and(bandwidth::has_limits), br)
        {
            let _ = bandwidth::clear(self.host.tc.as_ref(), br);
        }
    }

    fn start_recorded(&self, objs: &[Obj], def: &mut Network) -> Result<StartReport> {
        let mode = def.forward_mode();
        let name = def.name.clone();
        let mut rt = Runtime { uuid: def.uuid.unwrap_or_default(), ..Default::default() };
        let mut undo = Rollback::new();
        match mode {
            Some(ForwardMode::Hostdev) => {
                return Err(err(
                    ErrorCode::ConfigUnsupported,
                    "forward mode 'hostdev' (SR-IOV pools) is not supported yet",
                ));
            }
            _ if host_bridge(def) => {
                let b = def.bridge_name().ok_or_else(|| {
                    err(
                        ErrorCode::XmlError,
                        format!(
                            "network '{name}' with forward mode 'bridge' needs a bridge name or forward interfaces"
                        ),
                    )
                })?;
                if self.host.links.link(b).map_err(|e| sys(format!("looking up bridge {b}"), e))?.is_none() {
                    return Err(failed(format!("host bridge '{b}' of network '{name}' does not exist")));
                }
                self.set_network_bandwidth(def, b, &mut rt, &mut undo)?;
            }
            m if is_direct(def) => {
                let f = def.forward.as_ref();
                if f.is_none_or(|f| f.dev.is_none() && f.interfaces.is_empty() && f.pf.is_none()) {
                    return Err(err(
                        ErrorCode::XmlError,
                        format!(
                            "network '{name}' in forward mode '{}' needs forward interfaces",
                            m.map(|m| m.to_string()).unwrap_or_default()
                        ),
                    ));
                }
            }
            _ => {
                self.start_bridge(objs, def, &mut rt, &mut undo)?;
            }
        }
        for w in &rt.warnings {
            tracing::warn!(network = %name, "{w}");
        }
        self.write_live(def, &rt)?;
        if def.mac.is_some() && self.layout.config_file(&name).exists() {
            // Generated bridge name and MAC go back into the persistent definition, as libvirt does.
            if let Some(mut cfg) = self.load_one(&name)?.and_then(|o| o.config) {
                if cfg.uuid == def.uuid && (cfg.bridge_name().is_none() || cfg.mac.is_none()) {
                    cfg.bridge = def.bridge.clone();
                    cfg.mac = def.mac.clone();
                    self.write_config(&cfg)?;
                }
            }
        }
        undo.commit();
        Ok(StartReport { bridge: def.bridge_name().map(str::to_string), warnings: rt.warnings })
    }

    fn start_bridge(&self, objs: &[Obj], def: &Network, rt: &mut Runtime, undo: &mut Rollback) -> Result<()> {
        let name = def.name.clone();
        let br = def.bridge_name().ok_or_else(|| failed(format!("network '{name}' has no bridge name")))?.to_string();
        let links = self.host.links.clone();
        if links.link(&br).map_err(|e| sys(format!("looking up {br}"), e))?.is_some() {
            return Err(failed(format!("network '{name}' cannot start: interface {br} already exists")));
        }
        let b = def.bridge.clone().unwrap_or_default();
        let spec = BridgeSpec {
            name: br.clone(),
            mac: def.mac.as_ref().map(|m| m.address),
            mtu: def.mtu.as_ref().map(|m| u32::from(m.size)),
            stp: b.stp != Some(OnOff::Off),
            delay: b.delay.unwrap_or(0),
        };
        let marker = self.layout.starting_bridge_marker(&name);
        write_atomic(&marker, b"", 0o600).map_err(|e| sys(format!("writing {}", marker.display()), e))?;
        links.create_bridge(&spec).map_err(|e| sys(format!("creating bridge {br}"), e))?;
        rt.own_bridge = true;
        {
            let (links, br) = (links.clone(), br.clone());
            undo.push(format!("delete bridge {br}"), move || links.delete_link(&br).map_err(|e| e.to_string()));
        }
        let has_v6 = def.ips.iter().any(|i| i.family() == AddrFamily::Ipv6);
        if !has_v6 {
            // No IPv6 of ours on the bridge: don't let it autoconfigure one either.
            if let Err(e) = self.host.sysctl.set(&format!("net.ipv6.conf.{br}.disable_ipv6"), "1") {
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(sys(format!("disabling IPv6 on {br}"), e));
                }
            }
        }
        for ip in &def.ips {
            if let (Some(a), Some(p)) = (ip.address, ip.prefix_len()) {
                links.add_address(&br, a, p).map_err(|e| sys(format!("adding {a}/{p} to {br}"), e))?;
            }
        }
        links.set_up(&br, true).map_err(|e| sys(format!("bringing up {br}"), e))?;
        for r in &def.routes {
            let prefix = r
                .prefix
                .or_else(|| r.netmask.and_then(oxvirt_xml::network::netmask_prefix))
                .unwrap_or(if r.address.is_ipv4() { 32 } else { 128 });
            let spec = RouteSpec { dest: r.address, prefix, gateway: r.gateway, metric: r.metric };
            links.add_route(&br, &spec).map_err(|e| sys(format!("adding route to {}/{prefix}", r.address), e))?;
        }
        let mode = def.forward_mode();
        if matches!(mode, Some(ForwardMode::Nat | ForwardMode::Route)) {
            if !ipv4_nets(def).is_empty() {
                self.host.sysctl.set("net.ipv4.ip_forward", "1").map_err(|e| sys("enabling IPv4 forwarding", e))?;
            }
            if has_v6 {
                self.host
                    .sysctl
                    .set("net.ipv6.conf.all.forwarding", "1")
                    .map_err(|e| sys("enabling IPv6 forwarding", e))?;
            }
        }
        let with_dnsmasq = dnsmasq::needed(def);
        rt.rules = rules_for(def, with_dnsmasq);
        let others = Self::active_rules(objs, &name);
        let check_forward = rt.rules.as_ref().is_some_and(|r| r.mode != FwMode::Isolated);
        // The firewall transaction, the look at other tables' policies and dnsmasq don't depend on
        // each other and mostly wait (process start-up, the kernel's commit): run them side by side.
        let (fw, check, dns) = std::thread::scope(|s| {
            let fw = rt.rules.as_ref().map(|rules| {
                let mut all = others.clone();
                all.push(rules.clone());
                let nft = &self.host.nft;
                s.spawn(move || nft.apply(&firewall::script(&all)))
            });
            let check = check_forward.then(|| {
                let (nft, br) = (&self.host.nft, &br);
                s.spawn(move || nft.list_chains_json().and_then(|j| firewall::forward_drop_warnings(&j, br)))
            });
            let dns = with_dnsmasq.then(|| self.start_dnsmasq(def));
            (fw.map(joined), check.map(joined), dns)
        });
        let mut first_err = None;
        match fw {
            Some(Ok(())) => {
                let nft = self.host.nft.clone();
                undo.push(format!("remove firewall rules of {name}"), move || {
                    nft.apply(&firewall::script(&others)).map_err(|e| e.to_string())
                });
            }
            Some(Err(e)) => first_err = Some(failed(format!("firewall rules of network '{name}': {e}"))),
            None => {}
        }
        match dns {
            Some(Ok((pid, stop))) => {
                rt.dnsmasq_pid = Some(pid);
                undo.push(format!("stop dnsmasq of {name}"), stop);
            }
            Some(Err(e)) => {
                first_err.get_or_insert(e);
            }
            None => {}
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        match check {
            Some(Ok(w)) => rt.warnings.extend(w),
            Some(Err(e)) => rt.warnings.push(format!("could not check other tables' forward policies: {e}")),
            None => {}
        }
        self.set_network_bandwidth(def, &br, rt, undo)
    }

    /// Writes the network's dnsmasq files and starts it; returns its pid and the undo step.
    #[allow(clippy::type_complexity)]
    fn start_dnsmasq(
        &self,
        def: &Network,
    ) -> Result<(u32, Box<dyn FnOnce() -> std::result::Result<(), String> + Send>)> {
        let name = &def.name;
        let paths = self.paths(name);
        let files = dnsmasq::config(def, &paths).map_err(|e| failed(e.to_string()))?;
        for (p, data) in
            [(&paths.conf, &files.conf), (&paths.hostsfile, &files.hostsfile), (&paths.addnhosts, &files.addnhosts)]
        {
            write_atomic(p, data.as_bytes(), 0o644).map_err(|e| sys(format!("writing {}", p.display()), e))?;
        }
        let pidfile = paths.pidfile.clone().unwrap_or_else(|| self.layout.run.join(format!("{name}.pid")));
        let errlog = self.layout.run.join(format!("{name}.dnsmasq-err"));
        let remove_files = {
            let (paths, pidfile) = (paths.clone(), pidfile.clone());
            move || {
                for p in [&paths.conf, &paths.hostsfile, &paths.addnhosts, &pidfile] {
                    let _ = remove_if_exists(p);
                }
            }
        };
        let pid = match self.host.dhcp.start(name, &paths.conf, &pidfile, &errlog) {
            Ok(pid) => pid,
            Err(e) => {
                remove_files();
                return Err(failed(e.to_string()));
            }
        };
        let dhcp = self.host.dhcp.clone();
        Ok((
            pid,
            Box::new(move || {
                let r = dhcp.stop(pid, &paths.conf).map_err(|e| e.to_string());
                remove_files();
                r
            }),
        ))
    }

    /// A network's own `<bandwidth>` on its bridge, in libvirt's hierarchical layout; undone if the
    /// start fails later.
    fn set_network_bandwidth(&self, def: &Network, br: &str, rt: &mut Runtime, undo: &mut Rollback) -> Result<()> {
        let Some(bw) = def.bandwidth.as_ref().filter(|b| bandwidth::has_limits(b)) else { return Ok(()) };
        let w = bandwidth::apply(self.host.tc.as_ref(), br, bw, true)
            .map_err(|e| failed(format!("setting bandwidth limits of network '{}' on {br}: {e}", def.name)))?;
        rt.warnings.extend(w);
        let (tc, br) = (self.host.tc.clone(), br.to_string());
        undo.push(format!("clear bandwidth limits of {br}"), move || {
            bandwidth::clear(tc.as_ref(), &br).map_err(|e| e.to_string())
        });
        Ok(())
    }

    fn stop_locked(&self, objs: &[Obj], def: &Network, rt: &Runtime) -> Result<()> {
        let name = &def.name;
        let paths = self.paths(name);
        // Removing the firewall rules and tearing down dnsmasq and the bridge are independent, and
        // both mostly wait on the kernel: side by side.
        let (fw, dns, mut problems) = std::thread::scope(|s| {
            let fw = rt.rules.is_some().then(|| {
                let nft = &self.host.nft;
                let rest = Self::active_rules(objs, name);
                s.spawn(move || nft.apply(&firewall::script(&rest)))
            });
            // dnsmasq takes ~10 ms to exit after SIGTERM; the bridge need not wait for it.
            let dns = rt.dnsmasq_pid.map(|pid| {
                let (dhcp, paths) = (&self.host.dhcp, &paths);
                s.spawn(move || {
                    let r = dhcp.stop(pid, &paths.conf).map_err(|e| e.to_string());
                    for p in [&paths.conf, &paths.hostsfile, &paths.addnhosts].into_iter().chain(paths.pidfile.as_ref())
                    {
                        let _ = remove_if_exists(p);
                    }
                    r
                })
            });
            let mut problems = Vec::new();
            if let (Some(bw), Some(br)) =
                (def.bandwidth.as_ref().filter(|b| bandwidth::has_limits(b)), def.bridge_name())
            {
                // A bridge of ours takes its tc state with it, but not an nftables outbound limit.
                let r = if !rt.own_bridge {
                    bandwidth::clear(self.host.tc.as_ref(), br)
                } else if bw.outbound.is_some() {
                    bandwidth::forget(self.host.tc.as_ref(), br)
                } else {
                    Ok(())
                };
                if let Err(e) = r {
                    problems.push(format!("clearing bandwidth limits of {br}: {e}"));
                }
            }
            if rt.own_bridge {
                if let Some(br) = def.bridge_name() {
                    match self.host.links.delete_link(br) {
                        Ok(()) | Err(crate::netlink::NetlinkError::NoSuchLink(_)) => {}
                        Err(e) => problems.push(format!("deleting bridge {br}: {e}")),
                    }
                }
            }
            let dns = dns.map(|h| h.join().unwrap_or_else(|_| Err("the helper thread panicked".into())));
            (fw.map(joined), dns, problems)
        });
        if let Some(Err(e)) = dns {
            problems.insert(0, e);
        }
        if let Some(Err(e)) = fw {
            problems.insert(0, format!("removing firewall rules: {e}"));
        }
        self.remove_live(name)?;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(failed(format!("network '{name}' stopped with problems: {}", problems.join("; "))))
        }
    }

    /// After a restart: keep what is still running, restart a dead dnsmasq, restore missing firewall
    /// chains (one atomic replace, so nothing is duplicated), forget networks whose bridge is gone.
    fn reattach(&self) -> Result<()> {
        let has_live = fs::read_dir(&self.layout.run)
            .map(|rd| rd.flatten().any(|e| e.file_name().to_string_lossy().ends_with(".json")))
            .unwrap_or(false);
        let interrupted = fs::read_dir(self.layout.starting_dir()).map(|mut rd| rd.next().is_some()).unwrap_or(false);
        if !has_live && !interrupted {
            return Ok(());
        }
        let _l = self.lock()?;
        let objs = self.load_all()?;
        if interrupted {
            self.undo_interrupted_starts(&objs);
        }
        let mut changed_rules = false;
        for o in &objs {
            let Some((def, rt)) = &o.live else { continue };
            let br = def.bridge_name().unwrap_or_default();
            if rt.own_bridge && self.host.links.link(br).ok().flatten().is_none() {
                tracing::warn!(network = %o.name, "bridge {br} is gone; marking the network inactive");
                if let Some(pid) = rt.dnsmasq_pid {
                    let _ = self.host.dhcp.stop(pid, &self.paths(&o.name).conf);
                }
                self.remove_live(&o.name)?;
                changed_rules |= rt.rules.is_some();
                continue;
            }
            if let Some(pid) = rt.dnsmasq_pid {
                let paths = self.paths(&o.name);
                if !self.host.dhcp.is_running(pid, &paths.conf) {
                    let pidfile = paths.pidfile.clone().unwrap_or_default();
                    let errlog = self.layout.run.join(format!("{}.dnsmasq-err", o.name));
                    match self.host.dhcp.start(&o.name, &paths.conf, &pidfile, &errlog) {
                        Ok(pid) => {
                            let mut rt = rt.clone();
                            rt.dnsmasq_pid = Some(pid);
                            self.write_live(def, &rt)?;
                        }
                        Err(e) => tracing::warn!(network = %o.name, "restarting dnsmasq: {e}"),
                    }
                }
            }
        }
        let objs = if changed_rules { self.load_all()? } else { objs };
        let rules = Self::active_rules(&objs, "");
        let want: Vec<String> = rules.iter().map(|r| format!("fwd_{}", firewall::chain_id(&r.bridge))).collect();
        // Networks without rules (open, host bridge, macvtap) need no nft at all.
        let missing = !want.is_empty() && {
            let have =
                self.host.nft.our_chains().map_err(|e| failed(format!("reading the oxvirt firewall tables: {e}")))?;
            want.iter().any(|w| !have.iter().any(|(_, n)| n == w))
        };
        if changed_rules || missing {
            self.host
                .nft
                .apply(&firewall::script(&rules))
                .map_err(|e| failed(format!("restoring firewall rules: {e}")))?;
        }
        Ok(())
    }

    // ---- DHCP ----

    /// `net-dhcp-leases`: leases from dnsmasq's lease file, optionally only those of `mac`.
    pub fn dhcp_leases(&self, r: &NetworkRef, mac: Option<MacAddr>) -> Result<Vec<oxvirt_api::DhcpLease>> {
        let objs = self.load_all()?;
        let o = Self::find(&objs, r)?;
        let Some((def, _)) = &o.live else {
            return Err(op_invalid(format!("network '{}' is not active", o.name)));
        };
        let Some(lf) = self.paths(&o.name).leasefile else { return Ok(vec![]) };
        let text = match fs::read_to_string(&lf) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(sys(format!("reading {}", lf.display()), e)),
        };
        let iface = def.bridge_name().unwrap_or_default();
        let mac = mac.map(|m| m.to_string());
        Ok(dnsmasq::parse_leases(&text, def, iface).into_iter().filter(|l| mac.is_none() || l.mac == mac).collect())
    }

    /// `net-update ... ip-dhcp-host`: add, delete or modify a static DHCP host (see [`Self::update`]).
    pub fn update_dhcp_host(&self, r: &NetworkRef, cmd: UpdateCommand, xml: &str, f: u32) -> Result<()> {
        self.update(r, cmd as u32, oxvirt_api::netupdate::SECTION_IP_DHCP_HOST, -1, xml, f)
    }

    /// `virNetworkUpdate`: one section of the live network and/or the persistent definition
    /// changed as libvirt does (`oxvirt_api::network_update`). Live: dnsmasq gets its files
    /// rewritten and a SIGHUP when only they changed (DHCP hosts, DNS hosts), or is restarted when
    /// its configuration did (ranges, TXT and SRV records: it cannot re-read that after dropping
    /// privileges); a changed forward interface reloads the firewall rules.
    pub fn update(&self, r: &NetworkRef, command: u32, section: u32, parent: i32, xml: &str, f: u32) -> Result<()> {
        if f & !(UPDATE_AFFECT_LIVE | UPDATE_AFFECT_CONFIG) != 0 {
            return Err(Error::invalid_arg(format!(
                "unsupported flags ({:#x}) in function networkUpdate",
                f & !(UPDATE_AFFECT_LIVE | UPDATE_AFFECT_CONFIG)
            )));
        }
        let _l = self.lock()?;
        let objs = self.load_all()?;
        let o = Self::find(&objs, r)?;
        let oxvirt_api::conf::impact::Impact { live, config } = oxvirt_api::conf::impact::resolve(
            oxvirt_api::conf::impact::Target::Network,
            oxvirt_api::DomainModificationImpact::from_bits_truncate(f),
            o.live.is_some(),
            o.config.is_some(),
        )?;
        let paths = self.paths(&o.name);
        let mut new_live = None;
        if let Some((def, rt)) = o.live.as_ref().filter(|_| live) {
            let mut d = def.clone();
            // A forward interface in use must not be deleted: the counts live in the runtime.
            if let Some(fw) = d.forward.as_mut() {
                for i in &mut fw.interfaces {
                    i.connections = rt.direct_connections.get(&i.dev).copied().filter(|c| *c > 0);
                }
            }
            oxvirt_api::network_update::apply(&mut d, command, section, parent, xml)?;
            if let Some(fw) = d.forward.as_mut() {
                for i in &mut fw.interfaces {
                    i.connections = None;
                }
            }
            oxvirt_api::conf::network::validate(&d)?;
            let files = Self::check_dnsmasq(&d, &paths)?;
            new_live = Some((d, rt.clone(), files));
        }
        let mut new_cfg = None;
        if let Some(c) = o.config.as_ref().filter(|_| config) {
            let mut c = c.clone();
            oxvirt_api::network_update::apply(&mut c, command, section, parent, xml)?;
            // The rules define applies hold for what an update makes, too.
            oxvirt_api::conf::network::validate(&c)?;
            Self::check_dnsmasq(&c, &paths)?;
            new_cfg = Some(c);
        }
        if let Some(c) = new_cfg {
            self.write_config(&c)?;
        }
        let Some((d, mut rt, files)) = new_live else { return Ok(()) };
        let old = o.live.as_ref().map(|(def, _)| def);
        let old_conf = old.and_then(|def| dnsmasq::config(def, &paths).ok()).map(|f| f.conf);
        let needed = dnsmasq::needed(&d);
        let result = match rt.dnsmasq_pid {
            Some(pid) if needed && old_conf.as_deref() == Some(files.conf.as_str()) => {
                for (p, data) in [(&paths.hostsfile, &files.hostsfile), (&paths.addnhosts, &files.addnhosts)] {
                    write_atomic(p, data.as_bytes(), 0o644).map_err(|e| sys(format!("writing {}", p.display()), e))?;
                }
                self.host
                    .dhcp
                    .reload(pid, &paths.conf)
                    .map_err(|e| failed(format!("reloading dnsmasq of network '{}': {e}", o.name)))
            }
            pid => {
                if let Some(pid) = pid {
                    rt.dnsmasq_pid = None;
                    if let Err(e) = self.host.dhcp.stop(pid, &paths.conf) {
                        tracing::warn!(network = %o.name, "stopping dnsmasq for a restart: {e}");
                    }
                }
                if needed {
                    // The undo step is for a start that fails later; here the start is the last step.
                    self.start_dnsmasq(&d).map(|(pid, _undo)| rt.dnsmasq_pid = Some(pid))
                } else {
                    Ok(())
                }
            }
        };
        let rules = rules_for(&d, needed);
        let fw = if rules != rt.rules {
            let mut all = Self::active_rules(&objs, &o.name);
            all.extend(rules.clone());
            rt.rules = rules;
            self.host
                .nft
                .apply(&firewall::script(&all))
                .map_err(|e| failed(format!("firewall rules of network '{}': {e}", o.name)))
        } else {
            Ok(())
        };
        // The live state is recorded whatever dnsmasq or nft said, so it matches what runs.
        self.write_live(&d, &rt)?;
        result.and(fw)
    }

    // ---- guest interfaces ----

    fn with_live<T>(&self, network: &str, f: impl FnOnce(&Network, &mut Runtime) -> Result<T>) -> Result<T> {
        let _l = self.lock()?;
        let o = self
            .load_one(network)?
            .ok_or_else(|| Error::no_network(format!("no network with matching name '{network}'")))?;
        let Some((def, mut rt)) = o.live else {
            return Err(op_invalid(format!("network '{network}' is not active")));
        };
        let out = f(&def, &mut rt)?;
        self.write_live(&def, &rt)?;
        Ok(out)
    }

    /// [`Self::attach_guest_port`] naming no port group (the network's default one applies).
    pub fn attach_guest_interface(
        &self,
        network: &str,
        mac: MacAddr,
        tap: &TapSpec,
        bandwidth: Option<&Bandwidth>,
    ) -> Result<TapHandle> {
        self.attach_guest_port(network, mac, tap, None, bandwidth)
    }

    /// Creates the TAP device of a guest NIC (`<interface type='network'>`) on the network's bridge,
    /// as `tap` says (name, queues, vnet header); the interface's own `<bandwidth>`, or else its
    /// port group's ([`port_bandwidth`]), is set on the tap. Hypervisor drivers use
    /// [`Self::allocate_port`] and make their taps themselves; this is the same for tests and tools.
    pub fn attach_guest_port(
        &self,
        network: &str,
        mac: MacAddr,
        tap: &TapSpec,
        portgroup: Option<&str>,
        bandwidth: Option<&Bandwidth>,
    ) -> Result<TapHandle> {
        let taps = self.host.taps.clone();
        let tc = self.host.tc.clone();
        self.with_live(network, |def, rt| {
            if is_direct(def) {
                return Err(err(
                    ErrorCode::OperationUnsupported,
                    format!(
                        "network '{network}' gives guests direct (macvtap) interfaces: use choose_direct_interface"
                    ),
                ));
            }
            let (bridge, mtu, bandwidth) = bridge_port(def, network, portgroup, bandwidth)?;
            let (fds, ifname) = taps.open_tap(tap, &bridge, mtu, mac).map_err(|e| match e {
                TapError::Exists(_) => op_invalid(e),
                e => sys(format!("creating a tap device on {bridge}"), e),
            })?;
            if let Some(bw) = bandwidth.as_ref().filter(|b| bandwidth::has_limits(b)) {
                // On failure the fd drops here and the tap goes with it.
                bandwidth::apply(tc.as_ref(), &ifname, bw, false)
                    .map_err(|e| failed(format!("setting bandwidth limits on {ifname}: {e}")))?;
            }
            rt.connections += 1;
            Ok(TapHandle { fds, ifname, network: network.into(), bridge, mac, vnet_hdr: tap.vnet_hdr })
        })
    }

    /// A port for a guest interface on active network `req.network` ([`oxvirt_api::NetworkPorts`]): on a
    /// bridge network the bridge, MTU and the limits the guest's tap gets; on a macvtap network
    /// the forward interface with the fewest guests (passthrough: a free one). Counted as a
    /// connection until [`Self::release_port`].
    pub fn allocate_port(&self, req: &PortRequest<'_>) -> Result<NetworkPort> {
        let network = req.network;
        self.with_live(network, |def, rt| {
            let plug = if is_direct(def) {
                let d = Self::choose_direct_locked(network, def, rt)?;
                PortPlug::Direct { dev: d.dev, mode: d.mode }
            } else {
                let (bridge, mtu, bandwidth) = bridge_port(def, network, req.portgroup, req.bandwidth)?;
                rt.connections += 1;
                return Ok(NetworkPort { network: network.into(), plug: PortPlug::Bridge { bridge, mtu }, bandwidth });
            };
            // A macvtap gets the interface's own limits only, as before ports existed.
            Ok(NetworkPort { network: network.into(), plug, bandwidth: req.bandwidth.cloned() })
        })
    }

    /// Gives back a port of [`Self::allocate_port`]: one connection less (and for a direct
    /// port, on forward interface `direct_dev`, one there too).
    pub fn release_port(&self, network: &str, direct_dev: Option<&str>) -> Result<()> {
        match direct_dev {
            Some(dev) => self.release_direct_interface(network, dev),
            None => self.with_live(network, |_, rt| {
                rt.connections = rt.connections.saturating_sub(1);
                Ok(())
            }),
        }
    }

    /// The guest using a tap is gone (the tap went with QEMU): one connection less, and its
    /// outbound limit's nftables table (which outlives the device) removed.
    pub fn detach_guest_interface(&self, network: &str, ifname: &str) -> Result<()> {
        if let Err(e) = bandwidth::forget(self.host.tc.as_ref(), ifname) {
            tracing::warn!("removing the outbound limit of {ifname}: {e}");
        }
        self.with_live(network, |_, rt| {
            rt.connections = rt.connections.saturating_sub(1);
            Ok(())
        })
    }

    /// Whether guests of the active network `network` get macvtap devices (then use
    /// [`NetworkDriver::choose_direct_interface`]) rather than taps.
    pub fn gives_direct_interfaces(&self, network: &str) -> Result<bool> {
        let _l = self.lock()?;
        let o = self
            .load_one(network)?
            .ok_or_else(|| Error::no_network(format!("no network with matching name '{network}'")))?;
        let (def, _) = o.live.ok_or_else(|| op_invalid(format!("network '{network}' is not active")))?;
        Ok(is_direct(&def))
    }

    /// For macvtap networks: the forward interface with the fewest guests (passthrough: a free one).
    pub fn choose_direct_interface(&self, network: &str) -> Result<DirectInterface> {
        self.with_live(network, |def, rt| Self::choose_direct_locked(network, def, rt))
    }

    fn choose_direct_locked(network: &str, def: &Network, rt: &mut Runtime) -> Result<DirectInterface> {
        let mode = def
            .forward_mode()
            .filter(|_| is_direct(def))
            .ok_or_else(|| op_invalid(format!("network '{network}' does not give guests direct interfaces")))?;
        let f = def.forward.as_ref().ok_or_else(|| op_invalid("no forward element"))?;
        let mut devs: Vec<String> = f.interfaces.iter().map(|i| i.dev.clone()).collect();
        if devs.is_empty() {
            devs.extend(f.dev.clone().or_else(|| f.pf.as_ref().map(|p| p.dev.clone())));
        }
        let count = |d: &String| rt.direct_connections.get(d).copied().unwrap_or(0);
        let dev = if mode == ForwardMode::Passthrough {
            devs.iter().find(|d| count(d) == 0).cloned()
        } else {
            devs.iter().min_by_key(|d| count(d)).cloned()
        }
        .ok_or_else(|| failed(format!("network '{network}' has no free forward interface")))?;
        *rt.direct_connections.entry(dev.clone()).or_default() += 1;
        rt.connections += 1;
        Ok(DirectInterface { network: network.into(), dev, mode })
    }

    /// Recounts the connections of every active network from the ports guests hold
    /// ([`oxvirt_api::NetworkPorts::reconcile_ports`]), so a count a killed process left wrong
    /// (and a macvtap network's choice of forward device with it) heals.
    pub fn reconcile_ports(&self, in_use: &[(String, Option<String>)]) -> Result<()> {
        let _l = self.lock()?;
        for o in self.load_all()? {
            let Some((def, mut rt)) = o.live else { continue };
            let mine = in_use.iter().filter(|(n, _)| *n == o.name);
            // Devices counted before stay listed (at 0 when free), as release leaves them.
            let mut direct: BTreeMap<String, u32> = rt.direct_connections.keys().map(|k| (k.clone(), 0)).collect();
            let mut connections = 0;
            for (_, dev) in mine {
                connections += 1;
                if let Some(dev) = dev.as_ref().filter(|_| is_direct(&def)) {
                    *direct.entry(dev.clone()).or_default() += 1;
                }
            }
            if rt.connections != connections || rt.direct_connections != direct {
                tracing::warn!(
                    network = %o.name,
                    "{} connections recorded, {connections} in use by running guests: corrected",
                    rt.connections
                );
                rt.connections = connections;
                rt.direct_connections = direct;
                self.write_live(&def, &rt)?;
            }
        }
        Ok(())
    }

    pub fn release_direct_interface(&self, network: &str, dev: &str) -> Result<()> {
        self.with_live(network, |_, rt| {
            if let Some(c) = rt.direct_connections.get_mut(dev) {
                *c = c.saturating_sub(1);
            }
            rt.connections = rt.connections.saturating_sub(1);
            Ok(())
        })
    }

    /// Paths of a network's dnsmasq files (for diagnostics and tests).
    pub fn dnsmasq_paths(&self, name: &str) -> DnsmasqPaths {
        self.paths(name)
    }

    pub fn runtime(&self, name: &str) -> Result<Option<Runtime>> {
        Ok(self.load_one(name)?.and_then(|o| o.live.map(|(_, rt)| rt)))
    }
}

#[cfg(test)]
#[path = "driver_tests.rs"]
mod tests;
