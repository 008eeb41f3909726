//! Where the QEMU driver keeps things, per connection URI — libvirt's split of config, runtime state,
//! variable data, logs and caches, under `/` for `qemu:///system`, the user's XDG directories for
//! `qemu:///session`, and one directory for `qemu:///embed?root=DIR`.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Persistent definitions, `NAME.xml`.
    pub config: PathBuf,
    /// Symlinks to definitions that start with the host (daemon start).
    pub autostart: PathBuf,
    /// Runtime state: status files, per-domain run dirs, the driver lock.
    pub run: PathBuf,
    /// Variable data: save images, nvram.
    pub lib: PathBuf,
    pub log: PathBuf,
    /// Capability cache.
    pub cache: PathBuf,
}

impl Layout {
    pub fn system() -> Layout {
        Layout {
            config: "/etc/oxvirt/qemu".into(),
            autostart: "/etc/oxvirt/qemu/autostart".into(),
            run: "/run/oxvirt/qemu".into(),
            lib: "/var/lib/oxvirt/qemu".into(),
            log: "/var/log/oxvirt/qemu".into(),
            cache: "/var/cache/oxvirt/qemu".into(),
        }
    }

    pub fn session() -> Layout {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| "/tmp".into());
        let xdg = |var: &str, fallback: &str| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .unwrap_or_else(|| home.join(fallback))
                .join("oxvirt")
        };
        let config = xdg("XDG_CONFIG_HOME", ".config").join("qemu");
        // SAFETY: getuid has no preconditions and cannot fail.
        let uid = unsafe { libc::getuid() };
        let run = std::env::var_os("XDG_RUNTIME_DIR")
            .map(|d| PathBuf::from(d).join("oxvirt"))
            .unwrap_or_else(|| PathBuf::from(format!("/tmp/oxvirt-{uid}")))
            .join("qemu");
        let data = xdg("XDG_DATA_HOME", ".local/share").join("qemu");
        Layout {
            autostart: config.join("autostart"),
            config,
            run,
            log: data.join("log"),
            lib: data,
            cache: xdg("XDG_CACHE_HOME", ".cache").join("qemu"),
        }
    }

    pub fn embed(root: &Path) -> Layout {
        Layout {
            config: root.join("etc/qemu"),
            autostart: root.join("etc/qemu/autostart"),
            run: root.join("run/qemu"),
            lib: root.join("lib/qemu"),
            log: root.join("log/qemu"),
            cache: root.join("cache/qemu"),
        }
    }

    pub fn config_file(&self, name: &str) -> PathBuf {
        self.config.join(format!("{name}.xml"))
    }
    pub fn autostart_link(&self, name: &str) -> PathBuf {
        self.autostart.join(format!("{name}.xml"))
    }
    pub fn status_file(&self, name: &str) -> PathBuf {
        self.run.join(format!("{name}.status"))
    }
    /// The shut-off reason of an inactive persistent domain.
    pub fn stop_reason_file(&self, name: &str) -> PathBuf {
        self.run.join(format!("{name}.stopped"))
    }
    pub fn domain_run_dir(&self, name: &str) -> PathBuf {
        self.run.join(name)
    }
    pub fn managed_save(&self, name: &str) -> PathBuf {
        self.lib.join("save").join(format!("{name}.save"))
    }
    pub fn nvram_dir(&self) -> PathBuf {
        self.lib.join("nvram")
    }
    pub fn log_file(&self, name: &str) -> PathBuf {
        self.log.join(format!("{name}.log"))
    }
    pub fn lock_file(&self) -> PathBuf {
        self.run.join("driver.lock")
    }

    pub fn create_dirs(&self) -> std::io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        for d in [
            &self.config,
            &self.autostart,
            &self.run,
            &self.lib,
            &self.log,
            &self.cache,
        ] {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(d)?;
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(self.lib.join("save"))?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(self.nvram_dir())?;
        Ok(())
    }
}
