//! The network driver as a driver of its own, as libvirt's modular daemons have it: opened by
//! `network:///system`, `network:///session` and `network:///embed?root=DIR`, and carried by
//! hypervisor connections on the same layout (`qemu:///system` carries `network:///system`'s
//! instance: one per layout and process, so both see the same networks and port counts).
//! Hypervisor drivers plug guests in through its [`NetworkPorts`] face.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use oxvirt_api::{
    ConnectUri, DhcpLease, Driver, DriverFactory, Error, ErrorCode, ErrorDomain, NetworkPort, NetworkPorts, NetworkRef,
    PortRequest, Result, SecondaryDrivers,
};
use uuid::Uuid;

use crate::driver::NetworkDriver;
use crate::layout::NetLayout;

/// One network root of this process, opened lazily: re-attaching to running networks costs
/// `nft` runs that a hypervisor connection used only for domains should not pay.
pub struct NetworkConnection {
    uri: String,
    /// `None`: session mode, where networks need privileges we lack; every call is refused.
    layout: Option<NetLayout>,
    net: Mutex<Option<Arc<NetworkDriver>>>,
}

static INSTANCES: Mutex<BTreeMap<String, Weak<NetworkConnection>>> = Mutex::new(BTreeMap::new());
static DAEMON_MODE: AtomicBool = AtomicBool::new(false);

/// Declares this process the daemon: a network root opened from now on starts its autostart
/// networks at once (before any hypervisor driver autostarts guests that may use them).
pub fn enable_daemon_mode() {
    DAEMON_MODE.store(true, Ordering::SeqCst);
}

/// Registers `network:///…` with the API, and the network side of local hypervisor URIs.
pub fn register() {
    oxvirt_api::register_driver(Arc::new(NetworkDriverFactory));
}

/// A URI for this process, not for a daemon (`DRIVER+unix:///…` goes to the remote driver).
fn in_process(uri: &ConnectUri) -> bool {
    uri.transport.is_none() && uri.host.is_none()
}

/// The layout a URI's path names: `/system`, `/session` (none) or `/embed?root=DIR`.
/// `Err`: not a path this driver serves.
fn layout_for(uri: &ConnectUri) -> std::result::Result<Option<NetLayout>, ()> {
    match uri.path.as_str() {
        "/system" => Ok(Some(NetLayout::system())),
        "/session" => Ok(None),
        "/embed" => match uri.param("root") {
            Some(r) if r.starts_with('/') => Ok(Some(NetLayout::under(Path::new(r)))),
            _ => Err(()),
        },
        _ => Err(()),
    }
}

/// The one instance for `layout` in this process.
fn instance(layout: Option<NetLayout>, root: Option<&str>) -> Arc<NetworkConnection> {
    let key = layout.as_ref().map_or_else(|| "session".to_string(), |l| l.config.display().to_string());
    let mut instances = INSTANCES.lock().unwrap_or_else(|e| e.into_inner());
    instances.retain(|_, w| w.strong_count() > 0);
    if let Some(c) = instances.get(&key).and_then(Weak::upgrade) {
        return c;
    }
    let uri = match (&layout, root) {
        (None, _) => "network:///session".to_string(),
        (Some(_), Some(r)) => format!("network:///embed?root={r}"),
        (Some(_), None) => "network:///system".to_string(),
    };
    let c = Arc::new(NetworkConnection { uri, layout, net: Mutex::new(None) });
    instances.insert(key, Arc::downgrade(&c));
    drop(instances);
    if DAEMON_MODE.load(Ordering::SeqCst) {
        c.autostart();
    }
    c
}

/// Opens `network:///system`, `network:///session`, `network:///embed?root=DIR`.
pub struct NetworkDriverFactory;

impl NetworkDriverFactory {
    fn open_instance(uri: &ConnectUri) -> Result<Option<Arc<NetworkConnection>>> {
        if !in_process(uri) {
            return Ok(None);
        }
        if uri.path == "/embed" {
            let root = uri.param("root").ok_or_else(|| {
                Error::invalid_arg(format!("{}:///embed needs a root directory: ?root=/path/to/dir", uri.driver))
            })?;
            if !root.starts_with('/') {
                return Err(Error::invalid_arg(format!("embed root '{root}' must be an absolute path")));
            }
        }
        Ok(layout_for(uri).ok().map(|l| instance(l, uri.param("root").filter(|_| uri.path == "/embed"))))
    }
}

impl DriverFactory for NetworkDriverFactory {
    fn accepts(&self, uri: &ConnectUri) -> bool {
        uri.driver == "network" && in_process(uri) && matches!(uri.path.as_str(), "/system" | "/session" | "/embed")
    }

    fn open(&self, uri: &ConnectUri, _flags: u32) -> Result<Arc<dyn Driver>> {
        match Self::open_instance(uri)? {
            Some(c) => Ok(c),
            None => Err(Error::new(
                ErrorCode::NoConnect,
                ErrorDomain::Network,
                format!("the network driver does not serve '{}'", uri.as_str()),
            )),
        }
    }

    /// Local hypervisor URIs on a layout of ours (`qemu:///system`, `lxc:///system`,
    /// `qemu:///embed?root=DIR`, …) carry the instance of the same layout.
    fn secondary_for(&self, uri: &ConnectUri) -> Result<SecondaryDrivers> {
        if uri.driver == "network" || uri.driver == "test" {
            return Ok(SecondaryDrivers::default());
        }
        Ok(match Self::open_instance(uri).ok().flatten() {
            Some(c) => SecondaryDrivers { network: Some(c.clone()), network_ports: Some(c), ..Default::default() },
            None => SecondaryDrivers::default(),
        })
    }
}

impl NetworkConnection {
    /// The network driver of this root, opened (and re-attached) on first use.
    pub fn driver(&self) -> Result<Arc<NetworkDriver>> {
        let Some(layout) = &self.layout else {
            return Err(Error::coded(
                ErrorCode::OperationUnsupported,
                ErrorDomain::Network,
                "virtual networks are not supported by qemu:///session or network:///session (they need root); use qemu:///system",
            ));
        };
        let mut g = self.net.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = &*g {
            return Ok(n.clone());
        }
        let n = Arc::new(NetworkDriver::new(layout.clone())?);
        *g = Some(n.clone());
        Ok(n)
    }

    /// Daemon start: networks marked autostart come up (failures logged, as libvirt does).
    fn autostart(&self) {
        if self.layout.is_none() {
            return;
        }
        match self.driver().and_then(|n| n.autostart_all()) {
            Ok(failures) => {
                for (name, e) in failures {
                    tracing::warn!("autostarting network '{name}': {e}");
                }
            }
            Err(e) => tracing::warn!("opening the network driver for autostart: {e}"),
        }
    }
}

impl NetworkPorts for NetworkConnection {
    fn allocate_port(&self, req: &PortRequest<'_>) -> Result<NetworkPort> {
        self.driver()?.allocate_port(req)
    }
    fn release_port(&self, network: &str, direct_dev: Option<&str>) -> Result<()> {
        self.driver()?.release_port(network, direct_dev)
    }
    fn reconcile_ports(&self, in_use: &[(String, Option<String>)]) -> Result<()> {
        self.driver()?.reconcile_ports(in_use)
    }
}

impl Driver for NetworkConnection {
    fn kind(&self) -> &'static str {
        "network"
    }
    fn uri(&self) -> String {
        self.uri.clone()
    }
    fn hostname(&self) -> Result<String> {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .map_err(|e| Error::system("reading the hostname", &e))
    }

    fn list_networks(&self, f: u32) -> Result<Vec<NetworkRef>> {
        self.driver()?.list(f)
    }
    fn lookup_network_by_name(&self, name: &str) -> Result<NetworkRef> {
        self.driver()?.lookup_by_name(name)
    }
    fn lookup_network_by_uuid(&self, uuid: &Uuid) -> Result<NetworkRef> {
        self.driver()?.lookup_by_uuid(uuid)
    }
    fn network_define(&self, xml: &str, f: u32) -> Result<NetworkRef> {
        self.driver()?.define(xml, f)
    }
    fn network_create_xml(&self, xml: &str, f: u32) -> Result<NetworkRef> {
        let (r, report) = self.driver()?.create_xml(xml, f)?;
        for w in report.warnings {
            tracing::warn!("network '{}': {w}", r.name);
        }
        Ok(r)
    }
    fn network_create(&self, n: &NetworkRef) -> Result<()> {
        let report = self.driver()?.start(n)?;
        for w in report.warnings {
            tracing::warn!("network '{}': {w}", n.name);
        }
        Ok(())
    }
    fn network_destroy(&self, n: &NetworkRef) -> Result<()> {
        self.driver()?.destroy(n)
    }
    fn network_undefine(&self, n: &NetworkRef) -> Result<()> {
        self.driver()?.undefine(n)
    }
    fn network_xml(&self, n: &NetworkRef, f: u32) -> Result<String> {
        self.driver()?.xml(n, f)
    }
    fn network_bridge_name(&self, n: &NetworkRef) -> Result<String> {
        self.driver()?.bridge_name(n)
    }
    fn network_autostart(&self, n: &NetworkRef) -> Result<bool> {
        self.driver()?.autostart(n)
    }
    fn network_set_autostart(&self, n: &NetworkRef, on: bool) -> Result<()> {
        self.driver()?.set_autostart(n, on)
    }
    fn network_is_active(&self, n: &NetworkRef) -> Result<bool> {
        self.driver()?.is_active(n)
    }
    fn network_is_persistent(&self, n: &NetworkRef) -> Result<bool> {
        self.driver()?.is_persistent(n)
    }
    fn network_dhcp_leases(&self, n: &NetworkRef, mac: Option<&str>) -> Result<Vec<DhcpLease>> {
        let mac = mac
            .map(|m| {
                m.parse::<oxvirt_xml::MacAddr>().map_err(|_| Error::invalid_arg(format!("invalid MAC address '{m}'")))
            })
            .transpose()?;
        self.driver()?.dhcp_leases(n, mac)
    }
    fn network_update(
        &self,
        n: &NetworkRef,
        command: u32,
        section: u32,
        parent_index: i32,
        xml: &str,
        f: u32,
    ) -> Result<()> {
        self.driver()?.update(n, command, section, parent_index, xml, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> ConnectUri {
        ConnectUri::parse(s).unwrap()
    }

    #[test]
    fn one_instance_per_layout_shared_with_hypervisor_connections() {
        let dir = tempfile::tempdir().unwrap();
        let f = NetworkDriverFactory;
        let embed = format!("network:///embed?root={}", dir.path().display());
        assert!(f.accepts(&uri(&embed)) && f.accepts(&uri("network:///system")));
        assert!(!f.accepts(&uri("network:///default")) && !f.accepts(&uri("network+unix:///system")));
        let a = f.open(&uri(&embed), 0).unwrap();
        assert_eq!((a.kind(), a.uri()), ("network", embed.clone()));
        let side = f.secondary_for(&uri(&format!("qemu:///embed?root={}", dir.path().display()))).unwrap();
        let b = side.network.expect("a network driver for the hypervisor URI");
        assert!(side.network_ports.is_some());
        // Same instance: a network defined through one is seen through the other.
        let r = a.network_define("<network><name>n1</name><bridge name='virbr77'/></network>", 0).unwrap();
        assert_eq!(b.lookup_network_by_name("n1").unwrap(), r);
        // The test driver and network URIs carry none; session networks are refused, not absent.
        assert!(f.secondary_for(&uri("test:///default")).unwrap().network.is_none());
        assert!(f.secondary_for(&uri("network:///system")).unwrap().network.is_none());
        let s = f.secondary_for(&uri("qemu:///session")).unwrap().network.unwrap();
        assert_eq!(s.list_networks(0).unwrap_err().code, ErrorCode::OperationUnsupported);
        assert!(f.open(&uri("network:///embed"), 0).is_err());
    }
}
