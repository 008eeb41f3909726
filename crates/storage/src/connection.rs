//! The storage driver as a driver of its own, as libvirt's modular daemons have it: opened by
//! `storage:///system`, `storage:///session` and `storage:///embed?root=DIR`, one instance per
//! layout and process, opened (directories made, running pools re-attached) on first use so a
//! connection that never touches storage pays nothing. Hypervisor connections on the same
//! layout carry the same instance (`DriverFactory::secondary_for`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use oxvirt_api::{ConnectUri, Driver, PoolInfo, PoolRef, Result, VolInfo, VolRef};
use uuid::Uuid;

use crate::driver::StorageDriver;
use crate::layout::StorageLayout;

/// One storage root of this process.
pub struct StorageConnection {
    uri: String,
    layout: StorageLayout,
    drv: Mutex<Option<Arc<StorageDriver>>>,
}

static INSTANCES: Mutex<BTreeMap<String, Weak<StorageConnection>>> = Mutex::new(BTreeMap::new());
static DAEMON_MODE: AtomicBool = AtomicBool::new(false);

/// Declares this process the daemon: a storage root opened from now on starts its autostart
/// pools at once (before any hypervisor driver autostarts guests whose disks are in them).
pub fn enable_daemon_mode() {
    DAEMON_MODE.store(true, Ordering::SeqCst);
}

/// A URI for this process, not for a daemon (`DRIVER+unix:///…` goes to the remote driver).
pub(crate) fn in_process(uri: &ConnectUri) -> bool {
    uri.transport.is_none() && uri.host.is_none()
}

/// The one instance for the layout `uri` names (`/system`, `/session`, `/embed?root=DIR`).
pub fn instance(uri: &ConnectUri) -> Result<Arc<StorageConnection>> {
    let layout = crate::layout_for(uri)?;
    let key = layout.config.display().to_string();
    let mut instances = INSTANCES.lock().unwrap_or_else(|e| e.into_inner());
    instances.retain(|_, w| w.strong_count() > 0);
    if let Some(c) = instances.get(&key).and_then(Weak::upgrade) {
        return Ok(c);
    }
    let name = match (uri.path.as_str(), uri.param("root")) {
        ("/embed", Some(r)) => format!("storage:///embed?root={r}"),
        (p, _) => format!("storage://{p}"),
    };
    let c = Arc::new(StorageConnection { uri: name, layout, drv: Mutex::new(None) });
    instances.insert(key, Arc::downgrade(&c));
    drop(instances);
    if DAEMON_MODE.load(Ordering::SeqCst) {
        c.autostart();
    }
    Ok(c)
}

impl StorageConnection {
    /// The storage driver of this root, opened (and re-attached) on first use.
    pub fn driver(&self) -> Result<Arc<StorageDriver>> {
        let mut g = self.drv.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(d) = &*g {
            return Ok(d.clone());
        }
        let d = Arc::new(StorageDriver::new(self.layout.clone(), self.uri.clone())?);
        *g = Some(d.clone());
        Ok(d)
    }

    /// Daemon start: pools marked autostart come up (failures logged, as libvirt does).
    fn autostart(&self) {
        match self.driver().and_then(|d| d.autostart_all()) {
            Ok(failures) => {
                for (name, e) in failures {
                    tracing::warn!("autostarting storage pool '{name}': {e}");
                }
            }
            Err(e) => tracing::warn!("opening the storage driver for autostart: {e}"),
        }
    }
}

impl std::fmt::Debug for StorageConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageConnection").field("uri", &self.uri).finish()
    }
}

/// Each storage call goes to the root's driver, opened on first use.
macro_rules! delegate {
    ($(fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty;)*) => {$(
        fn $name(&self $(, $arg: $ty)*) -> Result<$ret> {
            Driver::$name(&*self.driver()?, $($arg),*)
        }
    )*};
}

impl Driver for StorageConnection {
    fn kind(&self) -> &'static str {
        "storage"
    }
    fn uri(&self) -> String {
        self.uri.clone()
    }
    delegate! {
        fn list_pools(&self, flags: u32) -> Vec<PoolRef>;
        fn lookup_pool_by_name(&self, name: &str) -> PoolRef;
        fn lookup_pool_by_uuid(&self, uuid: &Uuid) -> PoolRef;
        fn lookup_pool_by_volume(&self, v: &VolRef) -> PoolRef;
        fn pool_define(&self, xml: &str, flags: u32) -> PoolRef;
        fn pool_create_xml(&self, xml: &str, flags: u32) -> PoolRef;
        fn pool_build(&self, p: &PoolRef, flags: u32) -> ();
        fn pool_create(&self, p: &PoolRef, flags: u32) -> ();
        fn pool_destroy(&self, p: &PoolRef) -> ();
        fn pool_delete(&self, p: &PoolRef, flags: u32) -> ();
        fn pool_undefine(&self, p: &PoolRef) -> ();
        fn pool_refresh(&self, p: &PoolRef, flags: u32) -> ();
        fn pool_xml(&self, p: &PoolRef, flags: u32) -> String;
        fn pool_info(&self, p: &PoolRef) -> PoolInfo;
        fn pool_autostart(&self, p: &PoolRef) -> bool;
        fn pool_set_autostart(&self, p: &PoolRef, on: bool) -> ();
        fn pool_is_active(&self, p: &PoolRef) -> bool;
        fn pool_is_persistent(&self, p: &PoolRef) -> bool;
        fn list_volumes(&self, p: &PoolRef) -> Vec<VolRef>;
        fn lookup_volume_by_name(&self, p: &PoolRef, name: &str) -> VolRef;
        fn lookup_volume_by_key(&self, key: &str) -> VolRef;
        fn lookup_volume_by_path(&self, path: &str) -> VolRef;
        fn volume_create_xml(&self, p: &PoolRef, xml: &str, flags: u32) -> VolRef;
        fn volume_delete(&self, v: &VolRef, flags: u32) -> ();
        fn volume_xml(&self, v: &VolRef, flags: u32) -> String;
        fn volume_info(&self, v: &VolRef) -> VolInfo;
        fn volume_path(&self, v: &VolRef) -> String;
        fn volume_resize(&self, v: &VolRef, capacity: u64, flags: u32) -> ();
        fn volume_wipe_pattern(&self, v: &VolRef, algorithm: u32, flags: u32) -> ();
        fn volume_create_xml_from(&self, p: &PoolRef, xml: &str, clone: &VolRef, flags: u32) -> VolRef;
    }
}

/// Hypervisor URIs whose connections carry this driver: local ones on a layout of ours.
pub(crate) fn carries(uri: &ConnectUri) -> bool {
    let ours = match uri.path.as_str() {
        "/system" | "/session" => true,
        "/embed" => uri.param("root").is_some_and(|r| r.starts_with('/')),
        _ => false,
    };
    ours && in_process(uri) && !matches!(uri.driver.as_str(), "storage" | "network" | "test")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> ConnectUri {
        ConnectUri::parse(s).unwrap()
    }

    #[test]
    fn one_instance_per_layout() {
        let dir = tempfile::tempdir().unwrap();
        let u = uri(&format!("storage:///embed?root={}", dir.path().display()));
        let a = instance(&u).unwrap();
        let b = instance(&u).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.uri(), u.as_str());
        // Nothing is made on disk until the first call.
        assert!(!dir.path().join("etc").exists());
        assert!(a.list_pools(0).unwrap().is_empty());
        assert!(dir.path().join("etc/storage").is_dir());
        assert!(instance(&uri("storage:///embed")).is_err());
        let e: oxvirt_api::Error = instance(&uri("storage:///nowhere")).unwrap_err();
        assert_eq!(e.code, oxvirt_api::ErrorCode::InvalidArg);
    }

    #[test]
    fn which_hypervisor_uris_carry_storage() {
        assert!(carries(&uri("qemu:///system")));
        assert!(carries(&uri("qemu:///session")));
        assert!(carries(&uri("qemu:///embed?root=/x")));
        assert!(!carries(&uri("qemu:///embed")));
        assert!(!carries(&uri("test:///default")));
        assert!(!carries(&uri("storage:///system")));
        assert!(!carries(&uri("qemu+unix:///system")));
        assert!(!carries(&uri("qemu://host/system")));
    }
}
