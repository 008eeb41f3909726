//! oxvirt's test driver: libvirt's `test:///default` and `test:///PATH` semantics, in memory.
//!
//! `test:///default` starts from libvirt's default world (running domain `test`, network
//! `default`, pool `default-pool`), shared by every connection open at the same time, as in
//! libvirt, so that events caused through one connection reach the others. `test:///PATH` loads a
//! libvirt-style node file into a state of its own.

mod caps;
mod domains;
mod domdef;
mod load;
mod netops;
mod network;
mod nodedev;
mod state;
mod storage;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use oxvirt_api::{
    ConnectUri, DomainEventCallback, DomainInfo, DomainRef, DomainState, Driver, DriverFactory, Error, EventBus,
    NetworkRef, NodeDevRef, NodeInfo, PoolInfo, PoolRef, Result, VolInfo, VolRef,
};
use uuid::Uuid;

pub use domdef::TEST_NS;
pub use load::load_node;
use state::{PendingEvent, State};

/// The version libvirt's test driver reports for its "hypervisor" (0.0.2).
pub const HYPERVISOR_VERSION: u64 = 2;

/// libvirt's default test world, in our own words.
const DEFAULT_NODE: &str = include_str!("default-node.xml");

/// State and event fan-out of one driver instance, shared by its connections.
struct Shared {
    state: Mutex<State>,
    events: EventBus,
}

impl Shared {
    fn new(state: State) -> Arc<Self> {
        Arc::new(Shared { state: Mutex::new(state), events: EventBus::default() })
    }
}

/// One connection.
pub struct TestDriver {
    shared: Arc<Shared>,
    uri: String,
    /// Callbacks this connection registered, dropped with it.
    callbacks: Mutex<Vec<i32>>,
}

impl Drop for TestDriver {
    fn drop(&mut self) {
        let ids = std::mem::take(&mut *self.callbacks.lock().unwrap_or_else(|e| e.into_inner()));
        for id in ids {
            let _ = self.shared.events.deregister(id);
        }
    }
}

fn default_shared() -> Result<Arc<Shared>> {
    static DEFAULT: OnceLock<Mutex<Weak<Shared>>> = OnceLock::new();
    let slot = DEFAULT.get_or_init(|| Mutex::new(Weak::new()));
    let mut g = slot.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = g.upgrade() {
        return Ok(s);
    }
    let s = Shared::new(default_state()?);
    *g = Arc::downgrade(&s);
    Ok(s)
}

/// A fresh copy of libvirt's default test world.
pub fn default_state_xml() -> &'static str {
    DEFAULT_NODE
}

fn default_state() -> Result<State> {
    let mut st = State::new();
    st.cells = vec![state::Cell { cpus: 8, mem: 2048 * 1024 }, state::Cell { cpus: 8, mem: 2 * 2048 * 1024 }];
    load::load_node(&mut st, "(test driver)", None, DEFAULT_NODE)?;
    Ok(st)
}

impl TestDriver {
    /// Opens `test:///default` (shared state) or `test:///PATH` (a node file, private state).
    pub fn open(uri: &ConnectUri) -> Result<Self> {
        let path = uri.path.as_str();
        let shared = match path {
            "" | "/" => return Err(Error::invalid_arg("testOpen: supply a path or use test:///default")),
            "/default" => default_shared()?,
            p => Shared::new(load::load_file(Path::new(p))?),
        };
        Ok(TestDriver { shared, uri: uri.as_str().to_string(), callbacks: Mutex::new(Vec::new()) })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs a state change and delivers its events once the lock is released, so callbacks may
    /// call back into the driver.
    fn change<T>(&self, f: impl FnOnce(&mut State, &mut Vec<PendingEvent>) -> Result<T>) -> Result<T> {
        let mut events = Vec::new();
        let r = {
            let mut st = self.lock();
            f(&mut st, &mut events)
        };
        for (d, kind, detail) in events {
            self.shared.events.emit(&d, kind, detail);
        }
        r
    }

    fn read<T>(&self, f: impl FnOnce(&State) -> Result<T>) -> Result<T> {
        f(&self.lock())
    }
}

/// Serves `test:///...` URIs on this machine.
pub struct TestDriverFactory;

impl DriverFactory for TestDriverFactory {
    fn accepts(&self, uri: &ConnectUri) -> bool {
        uri.driver == "test" && uri.host.is_none() && uri.transport.is_none()
    }

    fn open(&self, uri: &ConnectUri, _flags: u32) -> Result<Arc<dyn Driver>> {
        Ok(Arc::new(TestDriver::open(uri)?))
    }
}

/// Makes `test:///` URIs openable through [`oxvirt_api::Connect::open`]. Idempotent.
pub fn register() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| oxvirt_api::register_driver(Arc::new(TestDriverFactory)));
}

fn hostname() -> Result<String> {
    let name = nix::unistd::gethostname().map_err(|e| Error::system("cannot get hostname", &e.into()))?;
    Ok(name.to_string_lossy().into_owned())
}

impl Driver for TestDriver {
    fn kind(&self) -> &'static str {
        "TEST"
    }

    fn uri(&self) -> String {
        self.uri.clone()
    }

    fn hypervisor_version(&self) -> Result<u64> {
        Ok(HYPERVISOR_VERSION)
    }

    fn hostname(&self) -> Result<String> {
        hostname()
    }

    fn capabilities(&self) -> Result<String> {
        self.read(|st| Ok(caps::capabilities_xml(&st.cells)))
    }

    fn node_info(&self) -> Result<NodeInfo> {
        self.read(|st| Ok(st.node.clone()))
    }

    fn max_vcpus(&self, _kind: Option<&str>) -> Result<u32> {
        Ok(domains::MAX_VCPUS)
    }

    fn list_domains(&self, flags: oxvirt_api::ConnectListAllDomainsFlags) -> Result<Vec<DomainRef>> {
        self.read(|st| Ok(st.list_domains(flags)))
    }

    fn lookup_domain_by_name(&self, name: &str) -> Result<DomainRef> {
        self.read(|st| st.lookup_domain_by_name(name))
    }

    fn lookup_domain_by_uuid(&self, uuid: &Uuid) -> Result<DomainRef> {
        self.read(|st| st.lookup_domain_by_uuid(uuid))
    }

    fn lookup_domain_by_id(&self, id: i32) -> Result<DomainRef> {
        self.read(|st| st.lookup_domain_by_id(id))
    }

    fn domain_define(&self, xml: &str, flags: u32) -> Result<(DomainRef, Vec<String>)> {
        self.change(|st, ev| st.domain_define(xml, flags, ev))
    }

    fn domain_undefine(&self, d: &DomainRef, flags: oxvirt_api::DomainUndefineFlags) -> Result<()> {
        self.change(|st, ev| st.domain_undefine(d, flags, ev))
    }

    fn domain_create(&self, d: &DomainRef, flags: oxvirt_api::DomainCreateFlags) -> Result<DomainRef> {
        self.change(|st, ev| st.domain_create(d, flags, ev))
    }

    fn domain_create_xml(&self, xml: &str, flags: oxvirt_api::DomainCreateFlags) -> Result<DomainRef> {
        self.change(|st, ev| st.domain_create_xml(xml, flags, ev))
    }

    fn domain_shutdown(&self, d: &DomainRef, flags: u32) -> Result<()> {
        self.change(|st, ev| st.domain_shutdown(d, flags, ev))
    }

    fn domain_reboot(&self, d: &DomainRef, flags: oxvirt_api::DomainRebootFlagValues) -> Result<()> {
        self.change(|st, ev| st.domain_reboot(d, flags, ev))
    }

    fn domain_reset(&self, d: &DomainRef, flags: u32) -> Result<()> {
        self.change(|st, _| st.domain_reset(d, flags))
    }

    fn domain_destroy(&self, d: &DomainRef, flags: u32) -> Result<()> {
        self.change(|st, ev| st.domain_destroy(d, flags, ev))
    }

    fn domain_suspend(&self, d: &DomainRef) -> Result<()> {
        self.change(|st, ev| st.domain_suspend(d, ev))
    }

    fn domain_resume(&self, d: &DomainRef) -> Result<()> {
        self.change(|st, ev| st.domain_resume(d, ev))
    }

    fn domain_save(&self, d: &DomainRef, path: &str, dxml: Option<&str>, flags: u32) -> Result<()> {
        self.change(|st, ev| st.domain_save(d, path, dxml, flags, ev))
    }

    fn domain_restore(&self, path: &str, dxml: Option<&str>, flags: u32) -> Result<DomainRef> {
        self.change(|st, ev| st.domain_restore(path, dxml, flags, ev))
    }

    fn domain_save_image_xml(&self, path: &str, flags: u32) -> Result<String> {
        self.read(|st| st.domain_save_image_xml(path, flags))
    }

    fn domain_managed_save(&self, d: &DomainRef, flags: u32) -> Result<()> {
        self.change(|st, ev| st.domain_managed_save(d, flags, ev))
    }

    fn domain_has_managed_save(&self, d: &DomainRef) -> Result<bool> {
        self.read(|st| Ok(st.dom(d)?.managed_save))
    }

    fn domain_managed_save_remove(&self, d: &DomainRef) -> Result<()> {
        self.change(|st, _| st.domain_managed_save_remove(d))
    }

    fn domain_xml(&self, d: &DomainRef, flags: oxvirt_api::DomainXmlFlags) -> Result<String> {
        self.read(|st| st.domain_xml(d, flags))
    }

    fn domain_info(&self, d: &DomainRef) -> Result<DomainInfo> {
        self.read(|st| st.domain_info(d))
    }

    fn domain_state(&self, d: &DomainRef) -> Result<(DomainState, i32)> {
        self.read(|st| st.dom(d).map(|o| (o.state, o.reason)))
    }

    /// libvirt's test driver answers "linux" whatever the definition says.
    fn domain_os_type(&self, d: &DomainRef) -> Result<String> {
        self.read(|st| st.dom(d).map(|_| "linux".to_string()))
    }

    fn domain_autostart(&self, d: &DomainRef) -> Result<bool> {
        self.read(|st| Ok(st.dom(d)?.autostart))
    }

    fn domain_set_autostart(&self, d: &DomainRef, on: bool) -> Result<()> {
        self.change(|st, _| st.domain_set_autostart(d, on))
    }

    fn domain_is_persistent(&self, d: &DomainRef) -> Result<bool> {
        self.read(|st| Ok(st.dom(d)?.persistent))
    }

    fn domain_is_updated(&self, d: &DomainRef) -> Result<bool> {
        self.read(|st| st.dom(d).map(|_| false))
    }

    fn domain_set_memory(&self, d: &DomainRef, kib: u64, flags: oxvirt_api::DomainMemoryModFlags) -> Result<()> {
        self.change(|st, _| st.domain_set_memory(d, kib, flags))
    }

    fn domain_set_vcpus(&self, d: &DomainRef, count: u32, flags: oxvirt_api::DomainVcpuFlags) -> Result<()> {
        self.change(|st, _| st.domain_set_vcpus(d, count, flags))
    }

    fn domain_set_interface_parameters(
        &self,
        d: &DomainRef,
        device: &str,
        params: &[(String, oxvirt_api::TypedParam)],
        flags: u32,
    ) -> Result<()> {
        self.change(|st, _| st.domain_set_interface_parameters(d, device, params, flags))
    }

    fn domain_get_interface_parameters(
        &self,
        d: &DomainRef,
        device: &str,
        flags: u32,
    ) -> Result<Vec<(String, oxvirt_api::TypedParam)>> {
        self.read(|st| st.domain_get_interface_parameters(d, device, flags))
    }

    fn domain_interface_addresses(&self, d: &DomainRef, source: u32) -> Result<Vec<oxvirt_api::DomainInterface>> {
        self.read(|st| st.domain_interface_addresses(d, source))
    }

    fn network_update(
        &self,
        n: &NetworkRef,
        command: u32,
        section: u32,
        parent_index: i32,
        xml: &str,
        flags: u32,
    ) -> Result<()> {
        self.change(|st, _| st.network_update(n, command, section, parent_index, xml, flags))
    }

    // libvirt's test driver has none of these; name the public API like libvirt's error does.
    fn network_dhcp_leases(&self, _n: &NetworkRef, _mac: Option<&str>) -> Result<Vec<oxvirt_api::DhcpLease>> {
        Err(oxvirt_api::Error::no_support("virNetworkGetDHCPLeases"))
    }

    fn domain_attach_device(
        &self,
        _d: &DomainRef,
        _xml: &str,
        flags: oxvirt_api::DomainDeviceModifyFlags,
    ) -> Result<()> {
        Err(oxvirt_api::Error::no_support(if flags.is_empty() {
            "virDomainAttachDevice"
        } else {
            "virDomainAttachDeviceFlags"
        }))
    }

    fn domain_detach_device(
        &self,
        _d: &DomainRef,
        _xml: &str,
        flags: oxvirt_api::DomainDeviceModifyFlags,
    ) -> Result<()> {
        Err(oxvirt_api::Error::no_support(if flags.is_empty() {
            "virDomainDetachDevice"
        } else {
            "virDomainDetachDeviceFlags"
        }))
    }

    fn domain_update_device(
        &self,
        _d: &DomainRef,
        _xml: &str,
        _flags: oxvirt_api::DomainDeviceModifyFlags,
    ) -> Result<()> {
        Err(oxvirt_api::Error::no_support("virDomainUpdateDeviceFlags"))
    }

    fn domain_snapshot_count(&self, d: &DomainRef) -> Result<u32> {
        self.read(|st| st.dom(d).map(|_| 0))
    }

    fn list_networks(&self, flags: u32) -> Result<Vec<NetworkRef>> {
        self.read(|st| Ok(st.list_networks(flags)))
    }

    fn lookup_network_by_name(&self, name: &str) -> Result<NetworkRef> {
        self.read(|st| st.lookup_network_by_name(name))
    }

    fn lookup_network_by_uuid(&self, uuid: &Uuid) -> Result<NetworkRef> {
        self.read(|st| st.lookup_network_by_uuid(uuid))
    }

    fn network_define(&self, xml: &str, flags: u32) -> Result<NetworkRef> {
        self.change(|st, _| st.network_define(xml, flags))
    }

    fn network_create_xml(&self, xml: &str, flags: u32) -> Result<NetworkRef> {
        self.change(|st, _| st.network_create_xml(xml, flags))
    }

    fn network_create(&self, n: &NetworkRef) -> Result<()> {
        self.change(|st, _| st.network_create(n))
    }

    fn network_destroy(&self, n: &NetworkRef) -> Result<()> {
        self.change(|st, _| st.network_destroy(n))
    }

    fn network_undefine(&self, n: &NetworkRef) -> Result<()> {
        self.change(|st, _| st.network_undefine(n))
    }

    fn network_xml(&self, n: &NetworkRef, flags: u32) -> Result<String> {
        self.read(|st| st.network_xml(n, flags))
    }

    fn network_bridge_name(&self, n: &NetworkRef) -> Result<String> {
        self.read(|st| st.network_bridge_name(n))
    }

    fn network_autostart(&self, n: &NetworkRef) -> Result<bool> {
        self.read(|st| Ok(st.network_get(n)?.autostart))
    }

    fn network_set_autostart(&self, n: &NetworkRef, on: bool) -> Result<()> {
        self.change(|st, _| st.network_set_autostart(n, on))
    }

    fn network_is_active(&self, n: &NetworkRef) -> Result<bool> {
        self.read(|st| Ok(st.network_get(n)?.active))
    }

    fn network_is_persistent(&self, n: &NetworkRef) -> Result<bool> {
        self.read(|st| Ok(st.network_get(n)?.persistent))
    }

    fn list_pools(&self, flags: u32) -> Result<Vec<PoolRef>> {
        self.read(|st| Ok(st.list_pools(flags)))
    }

    fn lookup_pool_by_name(&self, name: &str) -> Result<PoolRef> {
        self.read(|st| st.lookup_pool_by_name(name))
    }

    fn lookup_pool_by_uuid(&self, uuid: &Uuid) -> Result<PoolRef> {
        self.read(|st| st.lookup_pool_by_uuid(uuid))
    }

    fn lookup_pool_by_volume(&self, v: &VolRef) -> Result<PoolRef> {
        self.read(|st| st.lookup_pool_by_volume(v))
    }

    fn pool_define(&self, xml: &str, flags: u32) -> Result<PoolRef> {
        self.change(|st, _| st.pool_define(xml, flags))
    }

    fn pool_create_xml(&self, xml: &str, flags: u32) -> Result<PoolRef> {
        self.change(|st, _| st.pool_create_xml(xml, flags))
    }

    fn pool_build(&self, p: &PoolRef, flags: u32) -> Result<()> {
        self.change(|st, _| st.pool_build(p, flags))
    }

    fn pool_create(&self, p: &PoolRef, flags: u32) -> Result<()> {
        self.change(|st, _| st.pool_create(p, flags))
    }

    fn pool_destroy(&self, p: &PoolRef) -> Result<()> {
        self.change(|st, _| st.pool_destroy(p))
    }

    fn pool_delete(&self, p: &PoolRef, flags: u32) -> Result<()> {
        self.change(|st, _| st.pool_delete(p, flags))
    }

    fn pool_undefine(&self, p: &PoolRef) -> Result<()> {
        self.change(|st, _| st.pool_undefine(p))
    }

    fn pool_refresh(&self, p: &PoolRef, flags: u32) -> Result<()> {
        self.change(|st, _| st.pool_refresh(p, flags))
    }

    fn list_node_devices(&self, cap: Option<&str>) -> Result<Vec<NodeDevRef>> {
        self.read(|st| st.list_node_devices(cap))
    }

    fn lookup_node_device(&self, name: &str) -> Result<NodeDevRef> {
        self.read(|st| st.node_device(name).map(|d| NodeDevRef { name: d.name.clone() }))
    }

    fn node_device_xml(&self, dev: &NodeDevRef) -> Result<String> {
        self.read(|st| st.node_device_xml(&dev.name))
    }

    fn node_device_parent(&self, dev: &NodeDevRef) -> Result<Option<String>> {
        self.read(|st| st.node_device(&dev.name).map(|d| d.parent_name().map(String::from)))
    }

    fn pool_xml(&self, p: &PoolRef, flags: u32) -> Result<String> {
        self.read(|st| st.pool_xml(p, flags))
    }

    fn pool_info(&self, p: &PoolRef) -> Result<PoolInfo> {
        self.read(|st| st.pool_info(p))
    }

    /// Transient pools never autostart (libvirt: they have no config file).
    fn pool_autostart(&self, p: &PoolRef) -> Result<bool> {
        self.read(|st| st.pool_get(p).map(|o| o.persistent && o.autostart))
    }

    fn pool_set_autostart(&self, p: &PoolRef, on: bool) -> Result<()> {
        self.change(|st, _| st.pool_set_autostart(p, on))
    }

    fn pool_is_active(&self, p: &PoolRef) -> Result<bool> {
        self.read(|st| Ok(st.pool_get(p)?.active))
    }

    fn pool_is_persistent(&self, p: &PoolRef) -> Result<bool> {
        self.read(|st| Ok(st.pool_get(p)?.persistent))
    }

    fn list_volumes(&self, p: &PoolRef) -> Result<Vec<VolRef>> {
        self.read(|st| st.list_volumes(p))
    }

    fn lookup_volume_by_name(&self, p: &PoolRef, name: &str) -> Result<VolRef> {
        self.read(|st| st.lookup_volume_by_name(p, name))
    }

    fn lookup_volume_by_key(&self, key: &str) -> Result<VolRef> {
        self.read(|st| st.lookup_volume_by_key(key))
    }

    fn lookup_volume_by_path(&self, path: &str) -> Result<VolRef> {
        self.read(|st| st.lookup_volume_by_path(path))
    }

    fn volume_create_xml(&self, p: &PoolRef, xml: &str, flags: u32) -> Result<VolRef> {
        self.change(|st, _| st.volume_create_xml(p, xml, flags))
    }

    fn volume_delete(&self, v: &VolRef, flags: u32) -> Result<()> {
        self.change(|st, _| st.volume_delete(v, flags))
    }

    fn volume_xml(&self, v: &VolRef, flags: u32) -> Result<String> {
        self.read(|st| st.volume_xml(v, flags))
    }

    fn volume_info(&self, v: &VolRef) -> Result<VolInfo> {
        self.read(|st| st.volume_info(v))
    }

    fn volume_path(&self, v: &VolRef) -> Result<String> {
        self.read(|st| st.volume_path(v))
    }

    fn domain_event_register(&self, d: Option<&DomainRef>, cb: DomainEventCallback) -> Result<i32> {
        if let Some(d) = d {
            self.read(|st| st.dom(d).map(|_| ()))?;
        }
        let id = self.shared.events.register(d, cb);
        self.callbacks.lock().unwrap_or_else(|e| e.into_inner()).push(id);
        Ok(id)
    }

    fn domain_event_deregister(&self, id: i32) -> Result<()> {
        let mut mine = self.callbacks.lock().unwrap_or_else(|e| e.into_inner());
        let pos = mine
            .iter()
            .position(|&i| i == id)
            .ok_or_else(|| Error::invalid_arg(format!("no domain event callback with id {id}")))?;
        self.shared.events.deregister(id)?;
        mine.remove(pos);
        Ok(())
    }
}
