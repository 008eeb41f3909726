//! The one internal API: every hypervisor driver implements [`Driver`]; every front end (the
//! embedded CLI, the daemon's wire protocol, the Rust API) calls it. Operations a driver does not
//! have answer `NoSupport`, as libvirt does, so drivers grow one operation at a time.

use std::sync::Arc;

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::types::*;
use crate::uri::ConnectUri;

/// A domain as the API names it: libvirt's (name, uuid, id) triple; id is -1 when inactive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DomainRef {
    pub name: String,
    pub uuid: Uuid,
    pub id: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NetworkRef {
    pub name: String,
    pub uuid: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolRef {
    pub name: String,
    pub uuid: Uuid,
}

/// A host device (`virNodeDevicePtr`), named like libvirt (`pci_0000_00_1f_2`, `net_eth0_52_54_00_..`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeDevRef {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VolRef {
    pub pool: String,
    pub name: String,
    /// Unique key, for file-backed volumes the path.
    pub key: String,
}

/// Receives lifecycle events; must not block.
pub type DomainEventCallback = Arc<dyn Fn(&DomainEvent) + Send + Sync>;

macro_rules! unsupported {
    ($($(#[$m:meta])* fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty;)*) => {$(
        $(#[$m])*
        fn $name(&self $(, $arg: $ty)*) -> $ret {
            $(let _ = $arg;)*
            Err(Error::no_support(stringify!($name)))
        }
    )*};
}

/// A connection to one hypervisor driver instance.
pub trait Driver: Send + Sync {
    /// `virConnectGetType`: "QEMU", "Test", "LXC".
    fn kind(&self) -> &'static str;
    fn uri(&self) -> String;

    unsupported! {
        /// Hypervisor version as major * 1_000_000 + minor * 1_000 + micro.
        fn hypervisor_version(&self) -> Result<u64>;
        fn hostname(&self) -> Result<String>;
        /// Capabilities XML.
        fn capabilities(&self) -> Result<String>;
        fn node_info(&self) -> Result<NodeInfo>;
        fn domain_capabilities(&self, emulator: Option<&str>, arch: Option<&str>, machine: Option<&str>, virttype: Option<&str>) -> Result<String>;
        fn max_vcpus(&self, kind: Option<&str>) -> Result<u32>;

        fn list_domains(&self, flags: u32) -> Result<Vec<DomainRef>>;
        fn lookup_domain_by_name(&self, name: &str) -> Result<DomainRef>;
        fn lookup_domain_by_uuid(&self, uuid: &Uuid) -> Result<DomainRef>;
        fn lookup_domain_by_id(&self, id: i32) -> Result<DomainRef>;
        /// Returns the new definition and the parser's warnings about what it passed over.
        fn domain_define(&self, xml: &str, flags: u32) -> Result<(DomainRef, Vec<String>)>;
        fn domain_undefine(&self, d: &DomainRef, flags: u32) -> Result<()>;
        fn domain_create(&self, d: &DomainRef, flags: u32) -> Result<DomainRef>;
        fn domain_create_xml(&self, xml: &str, flags: u32) -> Result<DomainRef>;
        fn domain_shutdown(&self, d: &DomainRef, flags: u32) -> Result<()>;
        fn domain_reboot(&self, d: &DomainRef, flags: u32) -> Result<()>;
        fn domain_reset(&self, d: &DomainRef, flags: u32) -> Result<()>;
        fn domain_destroy(&self, d: &DomainRef, flags: u32) -> Result<()>;
        fn domain_suspend(&self, d: &DomainRef) -> Result<()>;
        fn domain_resume(&self, d: &DomainRef) -> Result<()>;
        fn domain_save(&self, d: &DomainRef, path: &str, dxml: Option<&str>, flags: u32) -> Result<()>;
        fn domain_restore(&self, path: &str, dxml: Option<&str>, flags: u32) -> Result<DomainRef>;
        fn domain_save_image_xml(&self, path: &str, flags: u32) -> Result<String>;
        fn domain_managed_save(&self, d: &DomainRef, flags: u32) -> Result<()>;
        fn domain_has_managed_save(&self, d: &DomainRef) -> Result<bool>;
        fn domain_managed_save_remove(&self, d: &DomainRef) -> Result<()>;
        fn domain_xml(&self, d: &DomainRef, flags: u32) -> Result<String>;
        fn domain_info(&self, d: &DomainRef) -> Result<DomainInfo>;
        /// State and reason.
        fn domain_state(&self, d: &DomainRef) -> Result<(DomainState, i32)>;
        fn domain_os_type(&self, d: &DomainRef) -> Result<String>;
        fn domain_autostart(&self, d: &DomainRef) -> Result<bool>;
        fn domain_set_autostart(&self, d: &DomainRef, on: bool) -> Result<()>;
        fn domain_is_persistent(&self, d: &DomainRef) -> Result<bool>;
        fn domain_is_updated(&self, d: &DomainRef) -> Result<bool>;
        fn domain_set_memory(&self, d: &DomainRef, kib: u64, flags: u32) -> Result<()>;
        fn domain_set_vcpus(&self, d: &DomainRef, count: u32, flags: u32) -> Result<()>;
        fn domain_attach_device(&self, d: &DomainRef, xml: &str, flags: u32) -> Result<()>;
        /// Changes a device in place (virsh domif-setlink, change-media).
        fn domain_update_device(&self, d: &DomainRef, xml: &str, flags: u32) -> Result<()>;
        /// Guest interfaces and their addresses from `source` (`netupdate::ADDRESSES_SRC_*`).
        fn domain_interface_addresses(&self, d: &DomainRef, source: u32) -> Result<Vec<DomainInterface>>;
        fn domain_detach_device(&self, d: &DomainRef, xml: &str, flags: u32) -> Result<()>;
        fn domain_snapshot_count(&self, d: &DomainRef) -> Result<u32>;
        /// Statistics of the groups in `stats` (`stats::*`), as libvirt's named typed parameters.
        fn domain_stats(&self, d: &DomainRef, stats: u32) -> Result<Vec<(String, TypedParam)>>;
        /// `virDomainSetInterfaceParameters`: `device` names the interface by target dev or MAC;
        /// `params` are [`iftune::NAMES`](crate::types::iftune::NAMES) as unsigned ints.
        fn domain_set_interface_parameters(&self, d: &DomainRef, device: &str, params: &[(String, TypedParam)], flags: u32) -> Result<()>;
        /// `virDomainGetInterfaceParameters`: all seven, in libvirt's order.
        fn domain_get_interface_parameters(&self, d: &DomainRef, device: &str, flags: u32) -> Result<Vec<(String, TypedParam)>>;
        /// Path of a character device the console can be opened on (a pty).
        fn domain_console_path(&self, d: &DomainRef, dev: Option<&str>) -> Result<String>;

        fn list_networks(&self, flags: u32) -> Result<Vec<NetworkRef>>;
        fn lookup_network_by_name(&self, name: &str) -> Result<NetworkRef>;
        fn lookup_network_by_uuid(&self, uuid: &Uuid) -> Result<NetworkRef>;
        fn network_define(&self, xml: &str, flags: u32) -> Result<NetworkRef>;
        fn network_create_xml(&self, xml: &str, flags: u32) -> Result<NetworkRef>;
        fn network_create(&self, n: &NetworkRef) -> Result<()>;
        fn network_destroy(&self, n: &NetworkRef) -> Result<()>;
        fn network_undefine(&self, n: &NetworkRef) -> Result<()>;
        fn network_xml(&self, n: &NetworkRef, flags: u32) -> Result<String>;
        fn network_bridge_name(&self, n: &NetworkRef) -> Result<String>;
        fn network_autostart(&self, n: &NetworkRef) -> Result<bool>;
        fn network_set_autostart(&self, n: &NetworkRef, on: bool) -> Result<()>;
        fn network_is_active(&self, n: &NetworkRef) -> Result<bool>;
        fn network_is_persistent(&self, n: &NetworkRef) -> Result<bool>;
        fn network_dhcp_leases(&self, n: &NetworkRef, mac: Option<&str>) -> Result<Vec<DhcpLease>>;
        /// `virNetworkUpdate`: `command`/`section` are `netupdate::*`.
        fn network_update(&self, n: &NetworkRef, command: u32, section: u32, parent_index: i32, xml: &str, flags: u32) -> Result<()>;

        fn list_pools(&self, flags: u32) -> Result<Vec<PoolRef>>;
        fn lookup_pool_by_name(&self, name: &str) -> Result<PoolRef>;
        fn lookup_pool_by_uuid(&self, uuid: &Uuid) -> Result<PoolRef>;
        fn lookup_pool_by_volume(&self, v: &VolRef) -> Result<PoolRef>;
        fn pool_define(&self, xml: &str, flags: u32) -> Result<PoolRef>;
        fn pool_create_xml(&self, xml: &str, flags: u32) -> Result<PoolRef>;
        fn pool_build(&self, p: &PoolRef, flags: u32) -> Result<()>;
        fn pool_create(&self, p: &PoolRef, flags: u32) -> Result<()>;
        fn pool_destroy(&self, p: &PoolRef) -> Result<()>;
        fn pool_delete(&self, p: &PoolRef, flags: u32) -> Result<()>;
        fn pool_undefine(&self, p: &PoolRef) -> Result<()>;
        fn pool_refresh(&self, p: &PoolRef, flags: u32) -> Result<()>;
        fn pool_xml(&self, p: &PoolRef, flags: u32) -> Result<String>;
        fn pool_info(&self, p: &PoolRef) -> Result<PoolInfo>;
        fn pool_autostart(&self, p: &PoolRef) -> Result<bool>;
        fn pool_set_autostart(&self, p: &PoolRef, on: bool) -> Result<()>;
        fn pool_is_active(&self, p: &PoolRef) -> Result<bool>;
        fn pool_is_persistent(&self, p: &PoolRef) -> Result<bool>;
        fn list_volumes(&self, p: &PoolRef) -> Result<Vec<VolRef>>;
        fn lookup_volume_by_name(&self, p: &PoolRef, name: &str) -> Result<VolRef>;
        fn lookup_volume_by_key(&self, key: &str) -> Result<VolRef>;
        fn lookup_volume_by_path(&self, path: &str) -> Result<VolRef>;
        fn volume_create_xml(&self, p: &PoolRef, xml: &str, flags: u32) -> Result<VolRef>;
        fn volume_delete(&self, v: &VolRef, flags: u32) -> Result<()>;
        fn volume_xml(&self, v: &VolRef, flags: u32) -> Result<String>;
        fn volume_info(&self, v: &VolRef) -> Result<VolInfo>;
        fn volume_path(&self, v: &VolRef) -> Result<String>;

        /// Host devices, optionally only those with capability `cap` (`pci`, `net`, `usb_device`, ...).
        fn list_node_devices(&self, cap: Option<&str>) -> Result<Vec<NodeDevRef>>;
        fn lookup_node_device(&self, name: &str) -> Result<NodeDevRef>;
        fn node_device_xml(&self, dev: &NodeDevRef) -> Result<String>;
        fn node_device_parent(&self, dev: &NodeDevRef) -> Result<Option<String>>;

        /// Registers a lifecycle event callback for one domain or all; returns its id.
        fn domain_event_register(&self, d: Option<&DomainRef>, cb: DomainEventCallback) -> Result<i32>;
        fn domain_event_deregister(&self, id: i32) -> Result<()>;
    }

    fn domain_is_active(&self, d: &DomainRef) -> Result<bool> {
        Ok(self.domain_state(d)?.0.is_active())
    }
}

/// Opens drivers for the URIs it understands; registered once per process.
pub trait DriverFactory: Send + Sync {
    /// Whether this factory serves the URI (e.g. scheme `test` without a remote host).
    fn accepts(&self, uri: &ConnectUri) -> bool;
    fn open(&self, uri: &ConnectUri, flags: u32) -> Result<Arc<dyn Driver>>;

    /// Like [`open`](Self::open), but `Ok(None)` declines the URI after all, so
    /// [`Connect::open`](crate::Connect::open) tries the next factory that accepts it. For
    /// factories that can only tell by trying (the remote driver takes `qemu:///system` only
    /// when a daemon answers), since [`accepts`](Self::accepts) must stay cheap and
    /// side-effect free.
    fn try_open(&self, uri: &ConnectUri, flags: u32) -> Result<Option<Arc<dyn Driver>>> {
        self.open(uri, flags).map(Some)
    }
}
