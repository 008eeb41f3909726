//! Where the network driver keeps things: definitions and autostart links under `etc/network`, live
//! state under `run/network`, dnsmasq's files under `lib/dnsmasq` — libvirt's split, below `/` for the
//! system instance or below one root directory (the QEMU driver's embed root, tests).

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetLayout {
    /// Persistent definitions, `NAME.xml`.
    pub config: PathBuf,
    /// Symlinks to definitions started with the host.
    pub autostart: PathBuf,
    /// Live definitions `NAME.xml`, runtime facts `NAME.json`, dnsmasq pid files, the driver lock.
    pub run: PathBuf,
    /// dnsmasq configuration, hosts and lease files.
    pub dnsmasq: PathBuf,
}

impl NetLayout {
    pub fn system() -> NetLayout {
        NetLayout {
            config: "/etc/oxvirt/network".into(),
            autostart: "/etc/oxvirt/network/autostart".into(),
            run: "/run/oxvirt/network".into(),
            dnsmasq: "/var/lib/oxvirt/dnsmasq".into(),
        }
    }

    /// Everything below `root` (`root/etc/network`, `root/run/network`, `root/lib/dnsmasq`).
    pub fn under(root: &Path) -> NetLayout {
        NetLayout {
            config: root.join("etc/network"),
            autostart: root.join("etc/network/autostart"),
            run: root.join("run/network"),
            dnsmasq: root.join("lib/dnsmasq"),
        }
    }

    pub fn config_file(&self, name: &str) -> PathBuf {
        self.config.join(format!("{name}.xml"))
    }
    pub fn autostart_link(&self, name: &str) -> PathBuf {
        self.autostart.join(format!("{name}.xml"))
    }
    /// The live definition of an active network.
    pub fn live_file(&self, name: &str) -> PathBuf {
        self.run.join(format!("{name}.xml"))
    }
    /// Runtime facts of an active network (dnsmasq pid, firewall rules, connections).
    pub fn runtime_file(&self, name: &str) -> PathBuf {
        self.run.join(format!("{name}.json"))
    }
    pub fn lock_file(&self) -> PathBuf {
        self.run.join("driver.lock")
    }
    /// Starts under way: a network's definition is written here before its start changes the
    /// host, and removed once the start is recorded or undone, so a start cut short (kill -9)
    /// is found and undone later. Its own directory: no network name reaches it.
    pub fn starting_dir(&self) -> PathBuf {
        self.run.join("starting")
    }
    pub fn starting_file(&self, name: &str) -> PathBuf {
        self.starting_dir().join(format!("{name}.xml"))
    }
    /// Written just before the start creates the network's bridge: the bridge is ours to remove.
    pub fn starting_bridge_marker(&self, name: &str) -> PathBuf {
        self.starting_dir().join(format!("{name}.bridge"))
    }

    pub fn create_dirs(&self) -> std::io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        // dnsmasq drops privileges and re-reads its hosts files on SIGHUP: keep them traversable.
        for d in [&self.config, &self.autostart, &self.run, &self.dnsmasq] {
            std::fs::DirBuilder::new().recursive(true).mode(0o755).create(d)?;
        }
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(self.starting_dir())?;
        Ok(())
    }
}
