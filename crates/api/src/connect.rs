//! Connections and object handles: the Rust face of the API, in libvirt's shape.

use std::sync::{Arc, Mutex, OnceLock, RwLock};

use uuid::Uuid;

use crate::driver::*;
use crate::error::{Error, ErrorCode, ErrorDomain, Result};
use crate::port::SecondaryDrivers;
use crate::types::*;
use crate::uri::ConnectUri;

fn registry() -> &'static RwLock<Vec<Arc<dyn DriverFactory>>> {
    static R: OnceLock<RwLock<Vec<Arc<dyn DriverFactory>>>> = OnceLock::new();
    R.get_or_init(|| RwLock::new(Vec::new()))
}

/// Makes a driver available to [`Connect::open`]; earlier registrations win.
pub fn register_driver(factory: Arc<dyn DriverFactory>) {
    registry().write().unwrap_or_else(|e| e.into_inner()).push(factory);
}

/// The object-family drivers the registered factories host for a hypervisor connection to
/// `uri` ([`DriverFactory::secondary_for`]); earlier registrations win per family. A hypervisor
/// driver calls this when it opens and carries the result ([`Driver::secondary_drivers`]).
pub fn secondary_drivers_for(uri: &ConnectUri) -> Result<SecondaryDrivers> {
    let factories = registry().read().unwrap_or_else(|e| e.into_inner()).clone();
    let mut out = SecondaryDrivers::default();
    for f in &factories {
        out = out.or(f.secondary_for(uri)?);
    }
    Ok(out)
}

struct Inner {
    /// The hypervisor driver: domains, host facts, and every family it carries no driver for.
    driver: Arc<dyn Driver>,
    /// Network calls go here: the connection's network driver, or `driver` itself.
    network: Arc<dyn Driver>,
    /// Storage pool and volume calls go here: the connection's storage driver, or `driver`.
    storage: Arc<dyn Driver>,
    readonly: bool,
}

/// An open connection (`virConnectPtr`). Cheap to clone; handles keep it alive.
#[derive(Clone)]
pub struct Connect {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Connect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connect")
            .field("uri", &self.inner.driver.uri())
            .field("readonly", &self.inner.readonly)
            .finish()
    }
}

impl Connect {
    /// Opens `uri` (read-write), or the default from `LIBVIRT_DEFAULT_URI` when `None`.
    pub fn open(uri: Option<&str>) -> Result<Connect> {
        Self::open_flags(uri, 0)
    }

    pub fn open_read_only(uri: Option<&str>) -> Result<Connect> {
        Self::open_flags(uri, flags::CONNECT_RO)
    }

    pub fn open_flags(uri: Option<&str>, flags: u32) -> Result<Connect> {
        let uri = match uri {
            Some(u) if !u.is_empty() => u.to_string(),
            _ => default_uri(),
        };
        let parsed = ConnectUri::parse(&uri)?;
        let factories = registry().read().unwrap_or_else(|e| e.into_inner()).clone();
        for factory in factories.iter().filter(|f| f.accepts(&parsed)) {
            if let Some(driver) = factory.try_open(&parsed, flags)? {
                return Ok(Self::from_driver(driver, flags & flags::CONNECT_RO != 0));
            }
        }
        Err(Error::new(
            ErrorCode::NoConnect,
            ErrorDomain::None,
            format!("no connection driver available for {uri} (known: test:///default, qemu:///system, qemu:///session, qemu:///embed?root=DIR, network:///system, DRIVER+unix:///PATH?socket=SOCK)"),
        ))
    }

    /// Wraps an already opened driver (the daemon hosts drivers this way), with the secondary
    /// drivers it carries.
    pub fn from_driver(driver: Arc<dyn Driver>, readonly: bool) -> Connect {
        let side = driver.secondary_drivers();
        let network = side.network.unwrap_or_else(|| driver.clone());
        let storage = side.storage.unwrap_or_else(|| driver.clone());
        Connect { inner: Arc::new(Inner { driver, network, storage, readonly }) }
    }

    pub fn is_read_only(&self) -> bool {
        self.inner.readonly
    }

    fn writable(&self, op: &str) -> Result<()> {
        if self.inner.readonly {
            Err(Error::read_only(op))
        } else {
            Ok(())
        }
    }

    pub fn uri(&self) -> String {
        self.inner.driver.uri()
    }
    pub fn kind(&self) -> &'static str {
        self.inner.driver.kind()
    }
    pub fn hypervisor_version(&self) -> Result<u64> {
        self.inner.driver.hypervisor_version()
    }
    pub fn hostname(&self) -> Result<String> {
        self.inner.driver.hostname()
    }
    pub fn capabilities(&self) -> Result<String> {
        self.inner.driver.capabilities()
    }
    /// `virConnectGetDomainCapabilities`: what domains this emulator/arch/machine/type can have.
    pub fn domain_capabilities(
        &self,
        emulator: Option<&str>,
        arch: Option<&str>,
        machine: Option<&str>,
        virttype: Option<&str>,
    ) -> Result<String> {
        self.inner.driver.domain_capabilities(emulator, arch, machine, virttype)
    }
    pub fn node_info(&self) -> Result<NodeInfo> {
        self.inner.driver.node_info()
    }
    /// `virConnectGetMaxVcpus`: the most vCPUs a guest of virt type `kind` may have.
    pub fn max_vcpus(&self, kind: Option<&str>) -> Result<u32> {
        self.inner.driver.max_vcpus(kind)
    }
    /// `virNodeGetSecurityModel`.
    pub fn security_model(&self) -> Result<SecurityModel> {
        self.inner.driver.node_security_model()
    }

    fn domain(&self, r: DomainRef) -> Domain {
        Domain { conn: self.clone(), r }
    }
    /// A handle from a name and UUID the caller already has (the daemon's wire handles, as
    /// libvirt's `get_nonnull_domain`), without asking the driver: every driver checks a handle's
    /// UUID where it acts on it, so a stale or forged one gets "no domain" there.
    pub fn domain_handle(&self, r: DomainRef) -> Domain {
        self.domain(r)
    }

    pub fn list_all_domains(&self, flags: ConnectListAllDomainsFlags) -> Result<Vec<Domain>> {
        Ok(self.inner.driver.list_domains(flags)?.into_iter().map(|r| self.domain(r)).collect())
    }
    pub fn lookup_domain_by_name(&self, name: &str) -> Result<Domain> {
        self.inner.driver.lookup_domain_by_name(name).map(|r| self.domain(r))
    }
    pub fn lookup_domain_by_uuid(&self, uuid: &Uuid) -> Result<Domain> {
        self.inner.driver.lookup_domain_by_uuid(uuid).map(|r| self.domain(r))
    }
    pub fn lookup_domain_by_id(&self, id: i32) -> Result<Domain> {
        self.inner.driver.lookup_domain_by_id(id).map(|r| self.domain(r))
    }
    /// virsh's lookup order for a domain argument: id, then UUID, then name.
    pub fn lookup_domain(&self, key: &str) -> Result<Domain> {
        if let Ok(id) = key.parse::<i32>() {
            if id >= 0 {
                if let Ok(d) = self.lookup_domain_by_id(id) {
                    return Ok(d);
                }
            }
        }
        if let Ok(u) = Uuid::parse_str(key) {
            if let Ok(d) = self.lookup_domain_by_uuid(&u) {
                return Ok(d);
            }
        }
        self.lookup_domain_by_name(key).map_err(|e| {
            if e.code == ErrorCode::NoDomain {
                Error::no_domain(format!("no domain with matching name, id or uuid '{key}'"))
            } else {
                e
            }
        })
    }
    /// Defines (or redefines) a persistent domain; returns it and the parser's warnings.
    pub fn define_domain(&self, xml: &str, flags: u32) -> Result<(Domain, Vec<String>)> {
        self.writable("defining a domain")?;
        let (r, w) = self.inner.driver.domain_define(xml, flags)?;
        Ok((self.domain(r), w))
    }
    pub fn create_domain_xml(&self, xml: &str, flags: DomainCreateFlags) -> Result<Domain> {
        self.writable("creating a domain")?;
        self.inner.driver.domain_create_xml(xml, flags).map(|r| self.domain(r))
    }
    pub fn restore_domain(&self, path: &str, dxml: Option<&str>, flags: u32) -> Result<Domain> {
        self.writable("restoring a domain")?;
        self.inner.driver.domain_restore(path, dxml, flags).map(|r| self.domain(r))
    }
    /// Reads a file the client names, so read-only connections (every local user, through the
    /// daemon) may not: they get no file access by path.
    pub fn save_image_xml(&self, path: &str, flags: u32) -> Result<String> {
        self.writable("reading a save image by path")?;
        let secure = flags & crate::types::flags::SAVE_IMAGE_XML_SECURE != 0;
        crate::secrets::domain_xml_for(self.inner.driver.domain_save_image_xml(path, flags)?, secure)
    }
    pub fn domain_event_register(&self, d: Option<&Domain>, cb: DomainEventCallback) -> Result<i32> {
        self.inner.driver.domain_event_register(d.map(|d| &d.r), cb)
    }
    pub fn domain_event_deregister(&self, id: i32) -> Result<()> {
        self.inner.driver.domain_event_deregister(id)
    }

    fn network(&self, r: NetworkRef) -> Network {
        Network { conn: self.clone(), r }
    }
    /// [`Connect::domain_handle`] for networks: each network driver checks the handle's UUID.
    pub fn network_handle(&self, r: NetworkRef) -> Network {
        self.network(r)
    }
    pub fn list_all_networks(&self, flags: u32) -> Result<Vec<Network>> {
        Ok(self.inner.network.list_networks(flags)?.into_iter().map(|r| self.network(r)).collect())
    }
    pub fn lookup_network_by_name(&self, name: &str) -> Result<Network> {
        self.inner.network.lookup_network_by_name(name).map(|r| self.network(r))
    }
    pub fn lookup_network_by_uuid(&self, uuid: &Uuid) -> Result<Network> {
        self.inner.network.lookup_network_by_uuid(uuid).map(|r| self.network(r))
    }
    /// Name or UUID, as virsh accepts.
    pub fn lookup_network(&self, key: &str) -> Result<Network> {
        if let Ok(u) = Uuid::parse_str(key) {
            if let Ok(n) = self.lookup_network_by_uuid(&u) {
                return Ok(n);
            }
        }
        self.lookup_network_by_name(key)
    }
    pub fn define_network(&self, xml: &str, flags: u32) -> Result<Network> {
        self.writable("defining a network")?;
        self.inner.network.network_define(xml, flags).map(|r| self.network(r))
    }
    pub fn create_network_xml(&self, xml: &str, flags: u32) -> Result<Network> {
        self.writable("creating a network")?;
        self.inner.network.network_create_xml(xml, flags).map(|r| self.network(r))
    }

    fn pool(&self, r: PoolRef) -> StoragePool {
        StoragePool { conn: self.clone(), r }
    }
    pub fn list_all_storage_pools(&self, flags: u32) -> Result<Vec<StoragePool>> {
        Ok(self.inner.storage.list_pools(flags)?.into_iter().map(|r| self.pool(r)).collect())
    }
    pub fn lookup_storage_pool_by_name(&self, name: &str) -> Result<StoragePool> {
        self.inner.storage.lookup_pool_by_name(name).map(|r| self.pool(r))
    }
    pub fn lookup_storage_pool_by_uuid(&self, uuid: &Uuid) -> Result<StoragePool> {
        self.inner.storage.lookup_pool_by_uuid(uuid).map(|r| self.pool(r))
    }
    pub fn lookup_storage_pool(&self, key: &str) -> Result<StoragePool> {
        if let Ok(u) = Uuid::parse_str(key) {
            if let Ok(p) = self.lookup_storage_pool_by_uuid(&u) {
                return Ok(p);
            }
        }
        self.lookup_storage_pool_by_name(key)
    }
    pub fn define_storage_pool(&self, xml: &str, flags: u32) -> Result<StoragePool> {
        self.writable("defining a storage pool")?;
        self.inner.storage.pool_define(xml, flags).map(|r| self.pool(r))
    }
    pub fn create_storage_pool_xml(&self, xml: &str, flags: u32) -> Result<StoragePool> {
        self.writable("creating a storage pool")?;
        self.inner.storage.pool_create_xml(xml, flags).map(|r| self.pool(r))
    }
    fn nodedev(&self, r: NodeDevRef) -> NodeDevice {
        NodeDevice { conn: self.clone(), r }
    }
    pub fn list_all_node_devices(&self, cap: Option<&str>) -> Result<Vec<NodeDevice>> {
        Ok(self.inner.driver.list_node_devices(cap)?.into_iter().map(|r| self.nodedev(r)).collect())
    }
    pub fn lookup_node_device_by_name(&self, name: &str) -> Result<NodeDevice> {
        self.inner.driver.lookup_node_device(name).map(|r| self.nodedev(r))
    }
    fn vol(&self, r: VolRef) -> StorageVol {
        StorageVol { conn: self.clone(), r }
    }
    pub fn lookup_storage_vol_by_key(&self, key: &str) -> Result<StorageVol> {
        self.inner.storage.lookup_volume_by_key(key).map(|r| self.vol(r))
    }
    pub fn lookup_storage_vol_by_path(&self, path: &str) -> Result<StorageVol> {
        self.inner.storage.lookup_volume_by_path(path).map(|r| self.vol(r))
    }
}

/// `LIBVIRT_DEFAULT_URI`, else `qemu:///system` for root and `qemu:///session` otherwise.
pub fn default_uri() -> String {
    if let Ok(u) = std::env::var("LIBVIRT_DEFAULT_URI") {
        if !u.is_empty() {
            return u;
        }
    }
    if nix::unistd::geteuid().is_root() {
        "qemu:///system".into()
    } else {
        "qemu:///session".into()
    }
}

macro_rules! handle_ops {
    // `via`: the connection's driver for this object family.
    ($ty:ident, $field:ident : $rty:ty, {
        $($body:tt)*
    }) => {
        handle_ops!($ty, $field: $rty, via driver, { $($body)* });
    };
    ($ty:ident, $field:ident : $rty:ty, via $via:ident, {
        $( read $rname:ident($($ra:ident : $rt:ty),*) -> $rret:ty => $rcall:ident; )*
        $( write $wname:ident($($wa:ident : $wt:ty),*) -> $wret:ty => $wcall:ident, $what:literal; )*
    }) => {
        impl $ty {
            $(pub fn $rname(&self $(, $ra: $rt)*) -> Result<$rret> {
                self.conn.inner.$via.$rcall(&self.$field $(, $ra)*)
            })*
            $(pub fn $wname(&self $(, $wa: $wt)*) -> Result<$wret> {
                self.conn.writable($what)?;
                self.conn.inner.$via.$wcall(&self.$field $(, $wa)*)
            })*
        }
    };
}

/// A domain handle (`virDomainPtr`).
#[derive(Clone, Debug)]
pub struct Domain {
    conn: Connect,
    r: DomainRef,
}

impl Domain {
    pub fn name(&self) -> &str {
        &self.r.name
    }
    pub fn uuid(&self) -> Uuid {
        self.r.uuid
    }
    /// -1 when not running, like libvirt's `virDomainGetID` returning (unsigned)-1.
    pub fn id(&self) -> i32 {
        self.r.id
    }
    pub fn reference(&self) -> &DomainRef {
        &self.r
    }
    pub fn connect(&self) -> &Connect {
        &self.conn
    }
    /// Starts the defined domain (`virDomainCreateWithFlags`); refreshes the id.
    pub fn create(&mut self, flags: DomainCreateFlags) -> Result<()> {
        self.conn.writable("starting a domain")?;
        self.r = self.conn.inner.driver.domain_create(&self.r, flags)?;
        Ok(())
    }
    /// `virDomainGetXMLDesc`: secrets (graphics passwords) only with `XML_SECURE`, which
    /// read-only connections may not ask for.
    pub fn xml_desc(&self, flags: DomainXmlFlags) -> Result<String> {
        let secure = flags.contains(DomainXmlFlags::SECURE);
        crate::secrets::check_secure_allowed(self.conn.inner.readonly, secure, "virDomainGetXMLDesc")?;
        crate::secrets::domain_xml_for(self.conn.inner.driver.domain_xml(&self.r, flags)?, secure)
    }
    /// `virDomainInterfaceAddresses`; asking the guest agent talks to the guest, which libvirt
    /// allows read-write connections only.
    pub fn interface_addresses(&self, source: u32) -> Result<Vec<DomainInterface>> {
        const SRC_AGENT: u32 = 1;
        if source == SRC_AGENT {
            self.conn.writable("querying the guest agent")?;
        }
        self.conn.inner.driver.domain_interface_addresses(&self.r, source)
    }
    /// Looks the domain up again, to see its current id.
    pub fn refresh(&mut self) -> Result<()> {
        self.r = self.conn.inner.driver.lookup_domain_by_uuid(&self.r.uuid)?;
        Ok(())
    }
}

handle_ops!(Domain, r: DomainRef, {
    read info() -> DomainInfo => domain_info;
    read state() -> (DomainState, i32) => domain_state;
    read os_type() -> String => domain_os_type;
    read autostart() -> bool => domain_autostart;
    read is_active() -> bool => domain_is_active;
    read is_persistent() -> bool => domain_is_persistent;
    read is_updated() -> bool => domain_is_updated;
    read has_managed_save() -> bool => domain_has_managed_save;
    read snapshot_count() -> u32 => domain_snapshot_count;
    read stats(groups: u32) -> Vec<(String, TypedParam)> => domain_stats;
    read console_path(dev: Option<&str>) -> String => domain_console_path;
    read vcpus_flags(flags: DomainVcpuFlags) -> u32 => domain_vcpus_flags;
    read max_vcpus() -> u32 => domain_max_vcpus;
    read security_label() -> SecurityLabel => domain_security_label;
    read interface_parameters(device: &str, flags: u32) -> Vec<(String, TypedParam)> => domain_get_interface_parameters;
    write set_interface_parameters(device: &str, params: &[(String, TypedParam)], flags: u32) -> () => domain_set_interface_parameters, "changing interface parameters";
    write undefine(flags: DomainUndefineFlags) -> () => domain_undefine, "undefining a domain";
    write shutdown(flags: u32) -> () => domain_shutdown, "shutting down a domain";
    write reboot(flags: DomainRebootFlagValues) -> () => domain_reboot, "rebooting a domain";
    write reset(flags: u32) -> () => domain_reset, "resetting a domain";
    write destroy(flags: u32) -> () => domain_destroy, "destroying a domain";
    write suspend() -> () => domain_suspend, "suspending a domain";
    write resume() -> () => domain_resume, "resuming a domain";
    write save(path: &str, dxml: Option<&str>, flags: u32) -> () => domain_save, "saving a domain";
    write managed_save(flags: u32) -> () => domain_managed_save, "saving a domain";
    write managed_save_remove() -> () => domain_managed_save_remove, "removing a managed save image";
    write set_autostart(on: bool) -> () => domain_set_autostart, "changing autostart";
    write set_memory(kib: u64, flags: DomainMemoryModFlags) -> () => domain_set_memory, "changing memory";
    write set_vcpus(count: u32, flags: DomainVcpuFlags) -> () => domain_set_vcpus, "changing vCPUs";
    write attach_device(xml: &str, flags: DomainDeviceModifyFlags) -> () => domain_attach_device, "attaching a device";
    write update_device(xml: &str, flags: DomainDeviceModifyFlags) -> () => domain_update_device, "updating a device";
    write detach_device(xml: &str, flags: DomainDeviceModifyFlags) -> () => domain_detach_device, "detaching a device";
});

/// A virtual network handle (`virNetworkPtr`).
#[derive(Clone, Debug)]
pub struct Network {
    conn: Connect,
    r: NetworkRef,
}

impl Network {
    pub fn name(&self) -> &str {
        &self.r.name
    }
    pub fn uuid(&self) -> Uuid {
        self.r.uuid
    }
    pub fn reference(&self) -> &NetworkRef {
        &self.r
    }
}

handle_ops!(Network, r: NetworkRef, via network, {
    read xml_desc(flags: u32) -> String => network_xml;
    read bridge_name() -> String => network_bridge_name;
    read autostart() -> bool => network_autostart;
    read is_active() -> bool => network_is_active;
    read is_persistent() -> bool => network_is_persistent;
    read dhcp_leases(mac: Option<&str>) -> Vec<DhcpLease> => network_dhcp_leases;
    write update(command: u32, section: u32, parent_index: i32, xml: &str, flags: u32) -> () => network_update, "updating a network";
    write create() -> () => network_create, "starting a network";
    write destroy() -> () => network_destroy, "destroying a network";
    write undefine() -> () => network_undefine, "undefining a network";
    write set_autostart(on: bool) -> () => network_set_autostart, "changing autostart";
});

/// A storage pool handle (`virStoragePoolPtr`).
#[derive(Clone, Debug)]
pub struct StoragePool {
    conn: Connect,
    r: PoolRef,
}

impl StoragePool {
    pub fn name(&self) -> &str {
        &self.r.name
    }
    pub fn uuid(&self) -> Uuid {
        self.r.uuid
    }
    pub fn reference(&self) -> &PoolRef {
        &self.r
    }
    pub fn list_all_volumes(&self) -> Result<Vec<StorageVol>> {
        Ok(self.conn.inner.storage.list_volumes(&self.r)?.into_iter().map(|r| self.conn.vol(r)).collect())
    }
    pub fn lookup_volume_by_name(&self, name: &str) -> Result<StorageVol> {
        self.conn.inner.storage.lookup_volume_by_name(&self.r, name).map(|r| self.conn.vol(r))
    }
    pub fn create_volume_xml(&self, xml: &str, flags: u32) -> Result<StorageVol> {
        self.conn.writable("creating a volume")?;
        self.conn.inner.storage.volume_create_xml(&self.r, xml, flags).map(|r| self.conn.vol(r))
    }
    /// `virStorageVolCreateXMLFrom`: a new volume in this pool with `clone`'s data.
    pub fn create_volume_xml_from(&self, xml: &str, clone: &StorageVol, flags: u32) -> Result<StorageVol> {
        self.conn.writable("creating a volume")?;
        self.conn.inner.storage.volume_create_xml_from(&self.r, xml, &clone.r, flags).map(|r| self.conn.vol(r))
    }
}

handle_ops!(StoragePool, r: PoolRef, via storage, {
    read xml_desc(flags: u32) -> String => pool_xml;
    read info() -> PoolInfo => pool_info;
    read autostart() -> bool => pool_autostart;
    read is_active() -> bool => pool_is_active;
    read is_persistent() -> bool => pool_is_persistent;
    write build(flags: u32) -> () => pool_build, "building a storage pool";
    write create(flags: u32) -> () => pool_create, "starting a storage pool";
    write destroy() -> () => pool_destroy, "destroying a storage pool";
    write delete(flags: u32) -> () => pool_delete, "deleting a storage pool";
    write undefine() -> () => pool_undefine, "undefining a storage pool";
    write refresh(flags: u32) -> () => pool_refresh, "refreshing a storage pool";
    write set_autostart(on: bool) -> () => pool_set_autostart, "changing autostart";
});

/// A storage volume handle (`virStorageVolPtr`).
#[derive(Clone, Debug)]
pub struct StorageVol {
    conn: Connect,
    r: VolRef,
}

impl StorageVol {
    pub fn name(&self) -> &str {
        &self.r.name
    }
    pub fn key(&self) -> &str {
        &self.r.key
    }
    pub fn pool_name(&self) -> &str {
        &self.r.pool
    }
    pub fn reference(&self) -> &VolRef {
        &self.r
    }
    /// `virStoragePoolLookupByVolume`: the pool holding this volume.
    pub fn pool(&self) -> Result<StoragePool> {
        self.conn.inner.storage.lookup_pool_by_volume(&self.r).map(|r| self.conn.pool(r))
    }
}

handle_ops!(StorageVol, r: VolRef, via storage, {
    read xml_desc(flags: u32) -> String => volume_xml;
    read info() -> VolInfo => volume_info;
    read path() -> String => volume_path;
    write delete(flags: u32) -> () => volume_delete, "deleting a volume";
    write resize(capacity: u64, flags: u32) -> () => volume_resize, "resizing a volume";
    write wipe_pattern(algorithm: u32, flags: u32) -> () => volume_wipe_pattern, "wiping a volume";
});

/// A host device handle (`virNodeDevicePtr`).
#[derive(Clone, Debug)]
pub struct NodeDevice {
    conn: Connect,
    r: NodeDevRef,
}

impl NodeDevice {
    pub fn name(&self) -> &str {
        &self.r.name
    }
    pub fn reference(&self) -> &NodeDevRef {
        &self.r
    }
}

handle_ops!(NodeDevice, r: NodeDevRef, {
    read xml_desc() -> String => node_device_xml;
    read parent() -> Option<String> => node_device_parent;
    read caps() -> Vec<String> => node_device_caps;
});

/// Fan-out of lifecycle events to registered callbacks, for drivers to embed.
#[derive(Default)]
pub struct EventBus {
    next: Mutex<(i32, Vec<Subscription>)>,
}

/// Callback id, the domain it watches (all when `None`), the callback.
type Subscription = (i32, Option<Uuid>, DomainEventCallback);

impl EventBus {
    pub fn register(&self, d: Option<&DomainRef>, cb: DomainEventCallback) -> i32 {
        let mut g = self.next.lock().unwrap_or_else(|e| e.into_inner());
        g.0 += 1;
        let id = g.0;
        g.1.push((id, d.map(|d| d.uuid), cb));
        id
    }

    pub fn deregister(&self, id: i32) -> Result<()> {
        let mut g = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let before = g.1.len();
        g.1.retain(|(i, _, _)| *i != id);
        if g.1.len() == before {
            return Err(Error::invalid_arg(format!("no domain event callback with id {id}")));
        }
        Ok(())
    }

    pub fn emit(&self, domain: &DomainRef, kind: DomainEventKind, detail: i32) {
        let ev = DomainEvent { domain: domain.clone(), kind, detail };
        let cbs: Vec<DomainEventCallback> = {
            let g = self.next.lock().unwrap_or_else(|e| e.into_inner());
            g.1.iter().filter(|(_, u, _)| u.is_none_or(|u| u == domain.uuid)).map(|(_, _, c)| c.clone()).collect()
        };
        for cb in cbs {
            cb(&ev);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A network driver that knows one network.
    struct Nets;

    impl Driver for Nets {
        fn kind(&self) -> &'static str {
            "network"
        }
        fn uri(&self) -> String {
            "network:///unit".into()
        }
        fn list_networks(&self, _: u32) -> Result<Vec<NetworkRef>> {
            Ok(vec![NetworkRef { name: "from-network-driver".into(), uuid: Uuid::nil() }])
        }
        fn network_is_active(&self, _: &NetworkRef) -> Result<bool> {
            Ok(true)
        }
    }

    /// A hypervisor driver, carrying `net` for networks when given.
    struct Hyp {
        net: Option<Arc<dyn Driver>>,
    }

    impl Driver for Hyp {
        fn kind(&self) -> &'static str {
            "Hyp"
        }
        fn uri(&self) -> String {
            "hyp:///unit".into()
        }
        fn list_networks(&self, _: u32) -> Result<Vec<NetworkRef>> {
            Ok(vec![NetworkRef { name: "from-hypervisor".into(), uuid: Uuid::nil() }])
        }
        fn secondary_drivers(&self) -> SecondaryDrivers {
            SecondaryDrivers { network: self.net.clone(), ..Default::default() }
        }
    }

    /// A storage driver with one pool.
    struct Pools;

    impl Driver for Pools {
        fn kind(&self) -> &'static str {
            "storage"
        }
        fn uri(&self) -> String {
            "storage:///unit".into()
        }
        fn list_pools(&self, _: u32) -> Result<Vec<PoolRef>> {
            Ok(vec![PoolRef { name: "from-storage-driver".into(), uuid: Uuid::nil() }])
        }
        fn pool_is_active(&self, _: &PoolRef) -> Result<bool> {
            Ok(true)
        }
    }

    /// A hypervisor driver carrying a storage driver only.
    struct HypWithStorage;

    impl Driver for HypWithStorage {
        fn kind(&self) -> &'static str {
            "Hyp"
        }
        fn uri(&self) -> String {
            "hyp:///unit".into()
        }
        fn secondary_drivers(&self) -> SecondaryDrivers {
            SecondaryDrivers { storage: Some(Arc::new(Pools)), ..Default::default() }
        }
    }

    #[test]
    fn a_hypervisor_connection_routes_storage_calls_to_its_storage_driver() {
        let c = Connect::from_driver(Arc::new(HypWithStorage), false);
        let pools = c.list_all_storage_pools(0).unwrap();
        assert_eq!(pools.iter().map(StoragePool::name).collect::<Vec<_>>(), ["from-storage-driver"]);
        assert!(pools[0].is_active().unwrap());
        assert_eq!(pools[0].info().unwrap_err().code, ErrorCode::NoSupport);
        // Networks stay with the hypervisor driver, which has none here.
        assert_eq!(c.list_all_networks(0).unwrap_err().code, ErrorCode::NoSupport);
        // Without a storage driver the hypervisor driver answers.
        let own = Connect::from_driver(Arc::new(Hyp { net: None }), false);
        assert_eq!(own.list_all_storage_pools(0).unwrap_err().code, ErrorCode::NoSupport);
    }

    #[test]
    fn a_hypervisor_connection_routes_network_calls_to_its_network_driver() {
        let c = Connect::from_driver(Arc::new(Hyp { net: Some(Arc::new(Nets)) }), false);
        assert_eq!((c.uri().as_str(), c.kind()), ("hyp:///unit", "Hyp"), "the connection is the hypervisor's");
        let nets = c.list_all_networks(0).unwrap();
        assert_eq!(nets.iter().map(Network::name).collect::<Vec<_>>(), ["from-network-driver"]);
        // Handles go to the same driver; what it lacks answers "not supported", not the hypervisor.
        assert!(nets[0].is_active().unwrap());
        assert_eq!(nets[0].autostart().unwrap_err().code, ErrorCode::NoSupport);

        // Without a network driver (the test and remote drivers), the hypervisor driver answers.
        let own = Connect::from_driver(Arc::new(Hyp { net: None }), false);
        assert_eq!(own.list_all_networks(0).unwrap()[0].name(), "from-hypervisor");
        assert_eq!(own.list_all_networks(0).unwrap()[0].is_active().unwrap_err().code, ErrorCode::NoSupport);
    }
}
