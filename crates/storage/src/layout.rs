//! Where the storage driver keeps things: definitions and autostart links under `etc/storage`,
//! live pool state under `run/storage` — libvirt's split, below `/` for the system instance, below
//! the XDG directories for a session, or below one root directory (embed URIs, tests).

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageLayout {
    /// Persistent definitions, `NAME.xml`.
    pub config: PathBuf,
    /// Symlinks to definitions started with the host (daemon start).
    pub autostart: PathBuf,
    /// Live definitions `NAME.xml`, volume lists `NAME.vols.json`, the driver lock.
    pub run: PathBuf,
}

impl StorageLayout {
    pub fn system() -> StorageLayout {
        StorageLayout {
            config: "/etc/oxvirt/storage".into(),
            autostart: "/etc/oxvirt/storage/autostart".into(),
            run: "/run/oxvirt/storage".into(),
        }
    }

    /// A user's own pools: `$XDG_CONFIG_HOME/oxvirt/storage`, `$XDG_RUNTIME_DIR/oxvirt/storage`.
    pub fn session() -> StorageLayout {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| "/tmp".into());
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".config"))
            .join("oxvirt/storage");
        // SAFETY: getuid has no preconditions and cannot fail.
        let uid = unsafe { libc::getuid() };
        let run = std::env::var_os("XDG_RUNTIME_DIR")
            .map(|d| PathBuf::from(d).join("oxvirt"))
            .unwrap_or_else(|| PathBuf::from(format!("/tmp/oxvirt-{uid}")))
            .join("storage");
        StorageLayout { autostart: config.join("autostart"), config, run }
    }

    /// Everything below `root` (`root/etc/storage`, `root/run/storage`), as the QEMU driver's
    /// embed root and the network driver's `NetLayout::under` do.
    pub fn under(root: &Path) -> StorageLayout {
        StorageLayout {
            config: root.join("etc/storage"),
            autostart: root.join("etc/storage/autostart"),
            run: root.join("run/storage"),
        }
    }

    pub fn config_file(&self, name: &str) -> PathBuf {
        self.config.join(format!("{name}.xml"))
    }
    pub fn autostart_link(&self, name: &str) -> PathBuf {
        self.autostart.join(format!("{name}.xml"))
    }
    /// The live definition of an active pool (with its last capacity figures).
    pub fn live_file(&self, name: &str) -> PathBuf {
        self.run.join(format!("{name}.xml"))
    }
    /// The volumes an active pool held at its last refresh or change.
    pub fn volumes_file(&self, name: &str) -> PathBuf {
        self.run.join(format!("{name}.vols.json"))
    }
    pub fn lock_file(&self) -> PathBuf {
        self.run.join("driver.lock")
    }

    pub fn create_dirs(&self) -> std::io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        for d in [&self.config, &self.autostart, &self.run] {
            std::fs::DirBuilder::new().recursive(true).mode(0o755).create(d)?;
        }
        Ok(())
    }
}
