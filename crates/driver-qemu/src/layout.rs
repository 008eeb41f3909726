//! Where the QEMU driver keeps things, per connection URI — libvirt's split of config, runtime state,
//! variable data, logs and caches, under `/` for `qemu:///system`, the user's XDG directories for
//! `qemu:///session`, and one directory for `qemu:///embed?root=DIR`.
//!
//! Object names never share a namespace with the driver's own files. Every path built from a name
//! goes through [`component`], which refuses anything but one plain file name component (no `/`,
//! no `.`/`..`, no NUL, not empty, not too long). Under the runtime directory, per-domain things
//! live in their own subdirectories — `domains/NAME/` (QEMU's sockets and pidfile, removed at stop)
//! and `status/NAME.{status,stopped,cgroup}` — while the driver's own files (`driver.lock`,
//! `next-id`) sit at the top level, which no name can reach. Each kind of per-name file has its own
//! suffix, so two names never map to one file; temp files of atomic writes are `.FILE.tmpPID`
//! ([`is_temp_name`]), which no such file name ends like.

use std::path::{Path, PathBuf};

/// Longest object name used in a file name: leaves room for a suffix within NAME_MAX (255).
pub const MAX_NAME_BYTES: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("name {0:?} cannot be used in a file name: {1}")]
pub struct BadName(pub String, pub &'static str);

impl From<BadName> for oxvirt_api::Error {
    fn from(e: BadName) -> oxvirt_api::Error {
        oxvirt_api::Error::invalid_arg(e.to_string()).in_domain(oxvirt_api::ErrorDomain::Qemu)
    }
}

/// `name` if it is one plain file name component, else why not. The only gate from object names
/// to paths: `.`, `..`, anything with `/` or NUL, empty and over-long names are refused.
pub fn component(name: &str) -> Result<&str, BadName> {
    let why = if name.is_empty() {
        "empty"
    } else if name == "." || name == ".." {
        "'.' and '..' are directory references"
    } else if name.contains('/') {
        "contains '/'"
    } else if name.contains('\0') {
        "contains NUL"
    } else if name.len() > MAX_NAME_BYTES {
        "longer than 200 bytes"
    } else {
        return Ok(name);
    };
    Err(BadName(name.to_string(), why))
}

/// Whether `file_name` is a temp file of [`crate::fsutil::write_atomic`]: `.NAME.tmpPID`; the pid
/// is returned.
pub fn is_temp_name(file_name: &str) -> Option<i32> {
    let rest = file_name.strip_prefix('.')?;
    let (base, pid) = rest.rsplit_once(".tmp")?;
    if base.is_empty() || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Persistent definitions, `NAME.xml`, and the UUID index `.uuids/UUID -> NAME` (a hint only).
    pub config: PathBuf,
    /// Symlinks to definitions that start with the host (daemon start).
    pub autostart: PathBuf,
    /// Runtime state: `status/` (status, stop reason and cgroup record files), `domains/` (per-domain
    /// run dirs), and at the top only the driver's own files (lock, next id).
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
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| "/tmp".into());
        let xdg = |var: &str, fallback: &str| {
            std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| home.join(fallback)).join("oxvirt")
        };
        let config = xdg("XDG_CONFIG_HOME", ".config").join("qemu");
        let uid = nix::unistd::getuid();
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

    pub fn config_file(&self, name: &str) -> Result<PathBuf, BadName> {
        Ok(self.config.join(format!("{}.xml", component(name)?)))
    }
    /// The UUID index, `UUID -> NAME` symlinks ([`crate::parsed::UuidIndex`]); no `NAME.xml`
    /// can be this directory.
    pub fn uuid_index_dir(&self) -> PathBuf {
        self.config.join(".uuids")
    }
    pub fn autostart_link(&self, name: &str) -> Result<PathBuf, BadName> {
        Ok(self.autostart.join(format!("{}.xml", component(name)?)))
    }
    /// Where status, stop reason and cgroup record files live (nothing else does).
    pub fn status_dir(&self) -> PathBuf {
        self.run.join("status")
    }
    /// Where per-domain run dirs live (nothing else does).
    pub fn domains_dir(&self) -> PathBuf {
        self.run.join("domains")
    }
    pub fn status_file(&self, name: &str) -> Result<PathBuf, BadName> {
        Ok(self.status_dir().join(format!("{}.status", component(name)?)))
    }
    /// The shut-off reason of an inactive persistent domain.
    pub fn stop_reason_file(&self, name: &str) -> Result<PathBuf, BadName> {
        Ok(self.status_dir().join(format!("{}.stopped", component(name)?)))
    }
    /// The record of a running domain's cgroup (outlives the run dir, removed at stop first).
    pub fn cgroup_record(&self, name: &str) -> Result<PathBuf, BadName> {
        Ok(self.status_dir().join(format!("{}.cgroup", component(name)?)))
    }
    pub fn domain_run_dir(&self, name: &str) -> Result<PathBuf, BadName> {
        Ok(self.domains_dir().join(component(name)?))
    }
    pub fn managed_save(&self, name: &str) -> Result<PathBuf, BadName> {
        Ok(self.lib.join("save").join(format!("{}.save", component(name)?)))
    }
    pub fn nvram_dir(&self) -> PathBuf {
        self.lib.join("nvram")
    }
    pub fn log_file(&self, name: &str) -> Result<PathBuf, BadName> {
        Ok(self.log.join(format!("{}.log", component(name)?)))
    }
    pub fn lock_file(&self) -> PathBuf {
        self.run.join("driver.lock")
    }
    /// Short driver-wide critical sections: allocating ids, name/UUID uniqueness at define.
    pub fn names_lock_file(&self) -> PathBuf {
        self.run.join("names.lock")
    }
    /// Where per-domain state change locks live (nothing else does; made on first use).
    pub fn locks_dir(&self) -> PathBuf {
        self.run.join("locks")
    }
    /// A domain's state change lock (crate::locks).
    pub fn domain_lock_file(&self, name: &str) -> Result<PathBuf, BadName> {
        Ok(self.locks_dir().join(format!("{}.lock", component(name)?)))
    }
    pub fn next_id_file(&self) -> PathBuf {
        self.run.join("next-id")
    }

    /// Directories holding files written with [`crate::fsutil::write_atomic`] (where interrupted
    /// writes leave temp files).
    pub fn atomic_dirs(&self) -> Vec<PathBuf> {
        vec![self.config.clone(), self.run.clone(), self.status_dir(), self.lib.join("save"), self.cache.clone()]
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
            &self.status_dir(),
            &self.domains_dir(),
        ] {
            std::fs::DirBuilder::new().recursive(true).mode(0o755).create(d)?;
        }
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(self.lib.join("save"))?;
        std::fs::DirBuilder::new().recursive(true).mode(0o755).create(self.nvram_dir())?;
        Ok(())
    }
}

/// Removes temp files (`.FILE.tmpPID`, regular files only) that interrupted atomic writes left in
/// `dir`, unless the process named by the pid still runs (it may be writing). Returns how many.
pub fn clean_temp_files(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(is_temp_name) else { continue };
        if !e.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        if pid > 0 && pid as u32 != std::process::id() && crate::process::is_alive(pid) {
            continue;
        }
        if pid as u32 == std::process::id() {
            continue;
        }
        match std::fs::remove_file(e.path()) {
            Ok(()) => {
                tracing::info!("removed {} (left by an interrupted write)", e.path().display());
                removed += 1;
            }
            Err(err) => tracing::warn!("removing {}: {err}", e.path().display()),
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_components() {
        for bad in ["", ".", "..", "a/b", "../x", "/abs", "x\0y", &"n".repeat(201)] {
            assert!(component(bad).is_err(), "{bad:?}");
        }
        for good in ["vm1", ".hidden", "..x", "driver.lock", "next-id", "a.status", "ünï cödé"] {
            assert_eq!(component(good), Ok(good));
        }
        let l = Layout::embed(Path::new("/r"));
        assert!(
            l.domain_run_dir("..").is_err() && l.status_file(".").is_err() && l.config_file("../../etc/x").is_err()
        );
    }

    #[test]
    fn no_name_reaches_internal_files_or_another_kind() {
        let l = Layout::embed(Path::new("/r"));
        let internal = [l.lock_file(), l.next_id_file(), l.status_dir(), l.domains_dir()];
        for name in ["driver.lock", "next-id", "status", "domains", "a.status", "a", ".a.status.tmp1"] {
            let paths = [
                l.status_file(name).unwrap(),
                l.stop_reason_file(name).unwrap(),
                l.cgroup_record(name).unwrap(),
                l.domain_run_dir(name).unwrap(),
            ];
            for p in &paths {
                assert!(!internal.contains(p), "{name}: {}", p.display());
            }
            // Files the temp clean-up could take for its own (run dirs are directories: never).
            for p in &paths[..3] {
                assert!(is_temp_name(&p.file_name().unwrap().to_string_lossy()).is_none());
            }
        }
        // Domain "a.status"'s run dir is not domain "a"'s status file.
        assert_ne!(l.domain_run_dir("a.status").unwrap(), l.status_file("a").unwrap());
    }

    #[test]
    fn temp_files_of_dead_writers_are_removed() {
        let d = tempfile::tempdir().unwrap();
        let me = std::process::id();
        let dead = i32::MAX; // no such pid
        for f in [
            format!(".vm.xml.tmp{dead}"),
            format!(".vm.xml.tmp{me}"),
            "vm.xml".into(),
            ".vm.xml".into(),
            format!("x.tmp{dead}"),
        ] {
            std::fs::write(d.path().join(f), "x").unwrap();
        }
        std::fs::create_dir(d.path().join(format!(".dir.tmp{dead}"))).unwrap();
        assert_eq!(clean_temp_files(d.path()), 1);
        let mut left: Vec<String> =
            std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        let mut want = vec![
            format!(".dir.tmp{dead}"),
            format!(".vm.xml.tmp{me}"),
            ".vm.xml".into(),
            "vm.xml".into(),
            format!("x.tmp{dead}"),
        ];
        want.sort();
        assert_eq!(left, want);
    }

    #[test]
    fn temp_names() {
        assert_eq!(is_temp_name(".vm.xml.tmp123"), Some(123));
        assert_eq!(is_temp_name(".next-id.tmp7"), Some(7));
        for n in ["vm.xml", ".vm.xml", ".vm.xml.tmp", ".tmp5", "x.tmp5", ".vm.tmpx"] {
            assert_eq!(is_temp_name(n), None, "{n}");
        }
    }
}
