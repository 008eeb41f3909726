//! oxvirt's storage driver, libvirt-compatible: pools and volumes on the host (`dir` pools on a
//! directory, `fs` pools on a filesystem oxvirt mounts), volumes made by `qemu-img`. Every other
//! pool type parses and is refused with a clear message. Host access (commands, the mount table)
//! sits behind [`host::System`] so the driver logic is tested without privileges or qemu-img.
//!
//! [`register`] makes `storage:///system`, `storage:///session` and `storage:///embed?root=DIR`
//! openable through [`oxvirt_api::Connect::open`], and local hypervisor connections
//! (`qemu:///system`, ...) carry the instance of their layout as their storage driver
//! ([`oxvirt_api::SecondaryDrivers`]; docs/storage.md).

pub mod connection;
pub mod driver;
pub mod host;
pub mod image;
pub mod layout;
pub mod volume;

use std::path::Path;
use std::sync::{Arc, OnceLock};

use oxvirt_api::{
    ConnectUri, Driver, DriverFactory, Error, PoolInfo, PoolRef, Result, SecondaryDrivers, VolInfo, VolRef,
};
use uuid::Uuid;

pub use connection::{enable_daemon_mode, StorageConnection};
pub use driver::StorageDriver;
pub use layout::StorageLayout;

/// Where the pools of a local URI live: `/system`, `/session`, or `/embed?root=DIR`.
pub fn layout_for(uri: &ConnectUri) -> Result<StorageLayout> {
    match uri.path.as_str() {
        "/system" => Ok(StorageLayout::system()),
        "/session" => Ok(StorageLayout::session()),
        "/embed" => {
            let root = uri.param("root").ok_or_else(|| {
                Error::invalid_arg("storage:///embed needs a root directory: storage:///embed?root=/path/to/dir")
            })?;
            if !root.starts_with('/') {
                return Err(Error::invalid_arg(format!("embed root '{root}' must be an absolute path")));
            }
            Ok(StorageLayout::under(Path::new(root)))
        }
        p => Err(Error::invalid_arg(format!(
            "unexpected storage URI path '{p}', try storage:///system, storage:///session or storage:///embed?root=DIR"
        ))),
    }
}

/// Serves local `storage:///...` URIs.
pub struct StorageDriverFactory;

impl DriverFactory for StorageDriverFactory {
    fn accepts(&self, uri: &ConnectUri) -> bool {
        uri.driver == "storage" && connection::in_process(uri)
    }

    /// The one instance of the URI's layout in this process (see [`connection`]).
    fn open(&self, uri: &ConnectUri, _flags: u32) -> Result<Arc<dyn Driver>> {
        Ok(connection::instance(uri)?)
    }

    /// Local hypervisor URIs (`qemu:///system`, `qemu:///session`, `qemu:///embed?root=DIR`)
    /// carry the instance of the same layout, so `virsh -c qemu:///system pool-list` and
    /// `storage:///system` see the same pools.
    fn secondary_for(&self, uri: &ConnectUri) -> Result<SecondaryDrivers> {
        if !connection::carries(uri) {
            return Ok(SecondaryDrivers::default());
        }
        let storage: Arc<dyn Driver> = connection::instance(uri)?;
        Ok(SecondaryDrivers { storage: Some(storage), ..Default::default() })
    }
}

/// Makes `storage:///` URIs openable through [`oxvirt_api::Connect::open`]. Idempotent.
pub fn register() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| oxvirt_api::register_driver(Arc::new(StorageDriverFactory)));
}

impl Driver for StorageDriver {
    fn kind(&self) -> &'static str {
        "storage"
    }
    fn uri(&self) -> String {
        StorageDriver::uri(self).to_string()
    }
    fn list_pools(&self, flags: u32) -> Result<Vec<PoolRef>> {
        StorageDriver::list_pools(self, flags)
    }
    fn lookup_pool_by_name(&self, name: &str) -> Result<PoolRef> {
        StorageDriver::lookup_pool_by_name(self, name)
    }
    fn lookup_pool_by_uuid(&self, uuid: &Uuid) -> Result<PoolRef> {
        StorageDriver::lookup_pool_by_uuid(self, uuid)
    }
    fn lookup_pool_by_volume(&self, v: &VolRef) -> Result<PoolRef> {
        StorageDriver::lookup_pool_by_volume(self, v)
    }
    fn pool_define(&self, xml: &str, flags: u32) -> Result<PoolRef> {
        StorageDriver::pool_define(self, xml, flags)
    }
    fn pool_create_xml(&self, xml: &str, flags: u32) -> Result<PoolRef> {
        StorageDriver::pool_create_xml(self, xml, flags)
    }
    fn pool_build(&self, p: &PoolRef, flags: u32) -> Result<()> {
        StorageDriver::pool_build(self, p, flags)
    }
    fn pool_create(&self, p: &PoolRef, flags: u32) -> Result<()> {
        StorageDriver::pool_create(self, p, flags)
    }
    fn pool_destroy(&self, p: &PoolRef) -> Result<()> {
        StorageDriver::pool_destroy(self, p)
    }
    fn pool_delete(&self, p: &PoolRef, flags: u32) -> Result<()> {
        StorageDriver::pool_delete(self, p, flags)
    }
    fn pool_undefine(&self, p: &PoolRef) -> Result<()> {
        StorageDriver::pool_undefine(self, p)
    }
    fn pool_refresh(&self, p: &PoolRef, flags: u32) -> Result<()> {
        StorageDriver::pool_refresh(self, p, flags)
    }
    fn pool_xml(&self, p: &PoolRef, flags: u32) -> Result<String> {
        StorageDriver::pool_xml(self, p, flags)
    }
    fn pool_info(&self, p: &PoolRef) -> Result<PoolInfo> {
        StorageDriver::pool_info(self, p)
    }
    fn pool_autostart(&self, p: &PoolRef) -> Result<bool> {
        StorageDriver::pool_autostart(self, p)
    }
    fn pool_set_autostart(&self, p: &PoolRef, on: bool) -> Result<()> {
        StorageDriver::pool_set_autostart(self, p, on)
    }
    fn pool_is_active(&self, p: &PoolRef) -> Result<bool> {
        StorageDriver::pool_is_active(self, p)
    }
    fn pool_is_persistent(&self, p: &PoolRef) -> Result<bool> {
        StorageDriver::pool_is_persistent(self, p)
    }
    fn list_volumes(&self, p: &PoolRef) -> Result<Vec<VolRef>> {
        StorageDriver::list_volumes(self, p)
    }
    fn lookup_volume_by_name(&self, p: &PoolRef, name: &str) -> Result<VolRef> {
        StorageDriver::lookup_volume_by_name(self, p, name)
    }
    fn lookup_volume_by_key(&self, key: &str) -> Result<VolRef> {
        StorageDriver::lookup_volume_by_key(self, key)
    }
    fn lookup_volume_by_path(&self, path: &str) -> Result<VolRef> {
        StorageDriver::lookup_volume_by_path(self, path)
    }
    fn volume_create_xml(&self, p: &PoolRef, xml: &str, flags: u32) -> Result<VolRef> {
        StorageDriver::volume_create_xml(self, p, xml, flags)
    }
    fn volume_delete(&self, v: &VolRef, flags: u32) -> Result<()> {
        StorageDriver::volume_delete(self, v, flags)
    }
    fn volume_xml(&self, v: &VolRef, flags: u32) -> Result<String> {
        StorageDriver::volume_xml(self, v, flags)
    }
    fn volume_info(&self, v: &VolRef) -> Result<VolInfo> {
        StorageDriver::volume_info(self, v)
    }
    fn volume_path(&self, v: &VolRef) -> Result<String> {
        StorageDriver::volume_path(self, v)
    }
    fn volume_resize(&self, v: &VolRef, capacity: u64, flags: u32) -> Result<()> {
        StorageDriver::volume_resize(self, v, capacity, flags)
    }
    fn volume_wipe_pattern(&self, v: &VolRef, algorithm: u32, flags: u32) -> Result<()> {
        StorageDriver::volume_wipe_pattern(self, v, algorithm, flags)
    }
    fn volume_create_xml_from(&self, p: &PoolRef, xml: &str, clone: &VolRef, flags: u32) -> Result<VolRef> {
        StorageDriver::volume_create_xml_from(self, p, xml, clone, flags)
    }
}
