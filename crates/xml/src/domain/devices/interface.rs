//! `<interface>`: a guest network interface.
//!
//! One flat model for every `type=`: the `<source>` attributes differ by type but never clash, and
//! libvirt itself keeps them in one element, so a flat struct round-trips every variant losslessly.
//! The pieces shared with network XML (`<bandwidth>`, `<vlan>`, `<virtualport>`, `<port>`,
//! `<route>`) come from the network model.

use std::net::IpAddr;

use super::common::{Acpi, Address, Alias, BootOrder, Reconnect, Rom, VirtioOptions};
use crate::network::{AddrFamily, Bandwidth, PortOptions, Route, VirtualPort, Vlan};
use crate::{El, FromXml, MacAddr, OnOff, ToXml, Writer, Xml, XmlError, XmlValue, YesNo};

/// Written by hand only because of `<driver>`'s position: hostdev interfaces write it (the
/// VFIO driver choice) before `<source>`, all others (virtio options) after `<model>`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Interface {
    pub kind: InterfaceType,
    /// hostdev interfaces: let libvirt detach the VF from its host driver.
    pub managed: Option<YesNo>,
    pub trust_guest_rx_filters: Option<YesNo>,
    pub mac: Option<Mac>,
    pub source: Option<InterfaceSource>,
    pub vlan: Option<Vlan>,
    pub virtualport: Option<VirtualPort>,
    pub bandwidth: Option<Bandwidth>,
    pub port: Option<PortOptions>,
    /// Guest-side addresses (host-side ones live in `<source>`).
    pub ips: Vec<InterfaceIp>,
    pub routes: Vec<Route>,
    pub port_forwards: Vec<PortForward>,
    pub script: Option<PathAttr>,
    pub downscript: Option<PathAttr>,
    pub backenddomain: Option<NameAttr>,
    pub target: Option<InterfaceTarget>,
    pub guest: Option<InterfaceGuest>,
    pub model: Option<InterfaceModel>,
    pub driver: Option<InterfaceDriver>,
    pub backend: Option<InterfaceBackend>,
    pub filterref: Option<FilterRef>,
    pub tune: Option<InterfaceTune>,
    pub teaming: Option<Teaming>,
    pub link: Option<Link>,
    pub mtu: Option<Mtu>,
    pub coalesce: Option<Coalesce>,
    pub boot: Option<BootOrder>,
    pub alias: Option<Alias>,
    pub rom: Option<Rom>,
    pub acpi: Option<Acpi>,
    pub address: Option<Address>,
}

impl FromXml for Interface {
    fn from_xml(el: &mut El<'_, '_>) -> Result<Self, XmlError> {
        let kind = el.attr_req("type")?;
        let managed = el.attr_opt("managed")?;
        let trust_guest_rx_filters = el.attr_opt("trustGuestRxFilters")?;
        let mac = el.child_opt("mac")?;
        let source = el.child_opt("source")?;
        let vlan = el.child_opt("vlan")?;
        let virtualport = el.child_opt("virtualport")?;
        let bandwidth = el.child_opt("bandwidth")?;
        let port = el.child_opt("port")?;
        let ips = el.child_vec("ip")?;
        let routes = el.child_vec("route")?;
        let port_forwards = el.child_vec("portForward")?;
        let script = el.child_opt("script")?;
        let downscript = el.child_opt("downscript")?;
        let backenddomain = el.child_opt("backenddomain")?;
        let target = el.child_opt("target")?;
        let guest = el.child_opt("guest")?;
        let model = el.child_opt("model")?;
        let driver = el.child_opt("driver")?;
        let backend = el.child_opt("backend")?;
        let filterref = el.child_opt("filterref")?;
        let tune = el.child_opt("tune")?;
        let teaming = el.child_opt("teaming")?;
        let link = el.child_opt("link")?;
        let mtu = el.child_opt("mtu")?;
        let coalesce = el.child_opt("coalesce")?;
        let boot = el.child_opt("boot")?;
        let alias = el.child_opt("alias")?;
        let rom = el.child_opt("rom")?;
        let acpi = el.child_opt("acpi")?;
        let address = el.child_opt("address")?;
        let nic = Interface {
            kind,
            managed,
            trust_guest_rx_filters,
            mac,
            source,
            vlan,
            virtualport,
            bandwidth,
            port,
            ips,
            routes,
            port_forwards,
            script,
            downscript,
            backenddomain,
            target,
            guest,
            model,
            driver,
            backend,
            filterref,
            tune,
            teaming,
            link,
            mtu,
            coalesce,
            boot,
            alias,
            rom,
            acpi,
            address,
        };
        nic.check_source(el)?;
        Ok(nic)
    }
}

impl Interface {
    /// The `<source>` attributes libvirt requires for each `type`, and a unicast MAC.
    fn check_source(&self, el: &El<'_, '_>) -> Result<(), XmlError> {
        use InterfaceType as T;
        let at = |child: &str| {
            let mut l = el.location();
            l.path = format!("{}/{child}", l.path);
            l
        };
        if let Some(mac) = &self.mac {
            if mac.address.is_multicast() {
                return Err(XmlError::InvalidAttribute {
                    at: at("mac"),
                    attr: "address".into(),
                    value: mac.address.to_string(),
                    reason: "expected a unicast MAC address".into(),
                });
            }
        }
        let required: &[&str] = match self.kind {
            T::Network => &["network"],
            T::Bridge => &["bridge"],
            T::Direct | T::Vdpa => &["dev"],
            T::Internal => &["name"],
            T::Vhostuser => &["type", "path", "mode"],
            T::Client | T::Mcast | T::Udp => &["address", "port"],
            T::Server => &["port"],
            T::Vds => &["switchid", "portid", "portgroupid", "connectionid"],
            T::Hostdev => &[],
            T::User | T::Ethernet | T::Null => return Ok(()),
        };
        let Some(src) = &self.source else {
            return Err(XmlError::MissingElement { at: el.location(), element: "source".into() });
        };
        let has = |a: &str| match a {
            "network" => src.network.is_some(),
            "bridge" => src.bridge.is_some(),
            "dev" => src.dev.is_some(),
            "name" => src.name.is_some(),
            "type" => src.kind.is_some(),
            "path" => src.path.is_some(),
            "mode" => src.mode.is_some(),
            "address" => src.address.is_some(),
            "port" => src.port.is_some(),
            "switchid" => src.switchid.is_some(),
            "portid" => src.portid.is_some(),
            "portgroupid" => src.portgroupid.is_some(),
            "connectionid" => src.connectionid.is_some(),
            _ => true,
        };
        if let Some(missing) = required.iter().find(|a| !has(a)) {
            return Err(XmlError::MissingAttribute { at: at("source"), attr: (*missing).into() });
        }
        if self.kind == T::Udp && src.local.is_none() {
            return Err(XmlError::MissingElement { at: at("source"), element: "local".into() });
        }
        if self.kind == T::Hostdev && src.host_address.is_none() {
            return Err(XmlError::MissingElement { at: at("source"), element: "address".into() });
        }
        Ok(())
    }

    fn write_driver(&self, w: &mut Writer) {
        if let Some(v) = &self.driver {
            w.element("driver", v);
        }
    }
}

impl ToXml for Interface {
    fn write_attrs(&self, w: &mut Writer) {
        w.attr("type", &self.kind.to_xml_value());
        if let Some(v) = &self.managed {
            w.attr("managed", &v.to_xml_value());
        }
        if let Some(v) = &self.trust_guest_rx_filters {
            w.attr("trustGuestRxFilters", &v.to_xml_value());
        }
    }

    fn write_content(&self, w: &mut Writer) {
        if let Some(v) = &self.mac {
            w.element("mac", v);
        }
        if self.kind == InterfaceType::Hostdev {
            self.write_driver(w);
        }
        if let Some(v) = &self.source {
            w.element("source", v);
        }
        if let Some(v) = &self.vlan {
            w.element("vlan", v);
        }
        if let Some(v) = &self.virtualport {
            w.element("virtualport", v);
        }
        if let Some(v) = &self.bandwidth {
            w.element("bandwidth", v);
        }
        if let Some(v) = &self.port {
            w.element("port", v);
        }
        for v in &self.ips {
            w.element("ip", v);
        }
        for v in &self.routes {
            w.element("route", v);
        }
        for v in &self.port_forwards {
            w.element("portForward", v);
        }
        if let Some(v) = &self.script {
            w.element("script", v);
        }
        if let Some(v) = &self.downscript {
            w.element("downscript", v);
        }
        if let Some(v) = &self.backenddomain {
            w.element("backenddomain", v);
        }
        if let Some(v) = &self.target {
            w.element("target", v);
        }
        if let Some(v) = &self.guest {
            w.element("guest", v);
        }
        if let Some(v) = &self.model {
            w.element("model", v);
        }
        if self.kind != InterfaceType::Hostdev {
            self.write_driver(w);
        }
        if let Some(v) = &self.backend {
            w.element("backend", v);
        }
        if let Some(v) = &self.filterref {
            w.element("filterref", v);
        }
        if let Some(v) = &self.tune {
            w.element("tune", v);
        }
        if let Some(v) = &self.teaming {
            w.element("teaming", v);
        }
        if let Some(v) = &self.link {
            w.element("link", v);
        }
        if let Some(v) = &self.mtu {
            w.element("mtu", v);
        }
        if let Some(v) = &self.coalesce {
            w.element("coalesce", v);
        }
        if let Some(v) = &self.boot {
            w.element("boot", v);
        }
        if let Some(v) = &self.alias {
            w.element("alias", v);
        }
        if let Some(v) = &self.rom {
            w.element("rom", v);
        }
        if let Some(v) = &self.acpi {
            w.element("acpi", v);
        }
        if let Some(v) = &self.address {
            w.element("address", v);
        }
    }
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
    pub address: Option<IpAddr>,
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
    pub address: Option<IpAddr>,
    #[xml(attr = "port")]
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct InterfaceIp {
    #[xml(attr = "address")]
    pub address: IpAddr,
    #[xml(attr = "family")]
    pub family: Option<AddrFamily>,
    #[xml(attr = "prefix")]
    pub prefix: Option<u8>,
    #[xml(attr = "peer")]
    pub peer: Option<IpAddr>,
}

/// passt port forwarding.
#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct PortForward {
    #[xml(attr = "proto")]
    pub proto: PortForwardProto,
    #[xml(attr = "address")]
    pub address: Option<IpAddr>,
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
