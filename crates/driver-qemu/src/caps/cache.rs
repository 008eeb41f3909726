//! On-disk cache of probed capabilities.
//!
//! Probing starts a QEMU process; doing that on every daemon start (as libvirt does when
//! its cache is invalidated) costs seconds. An entry is reused while the binary's
//! canonical path, size, mtime and ctime are unchanged: a package upgrade replaces the
//! file and changes at least ctime. QEMU modules loaded at run time are not tracked.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{probe, CapsError, QemuCaps};

/// Bumped whenever [`QemuCaps`] or its interpretation changes meaning.
const FORMAT: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Served from the cache file.
    Hit,
    /// Probed now (no entry, stale entry, or unreadable entry) and stored.
    Probed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct CacheKey {
    format: u32,
    writer: String,
    binary: PathBuf,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

#[derive(Debug, Serialize, Deserialize)]
struct CacheEntry {
    key: CacheKey,
    caps: QemuCaps,
}

/// Capabilities cache rooted at a directory (e.g. `/var/cache/oxvirt/qemu`).
#[derive(Debug, Clone)]
pub struct CapsCache {
    dir: PathBuf,
}

impl CapsCache {
    pub fn new(dir: impl Into<PathBuf>) -> CapsCache {
        CapsCache { dir: dir.into() }
    }

    /// Capabilities of `binary`, probing only when the cached entry does not match it.
    pub fn get(&self, binary: &Path) -> Result<(QemuCaps, CacheOutcome), CapsError> {
        let key = key_for(binary)?;
        let file = self.entry_path(&key.binary);
        if let Some(caps) = load(&file, &key) {
            return Ok((caps, CacheOutcome::Hit));
        }
        let caps = probe(&key.binary)?;
        // The key was taken before probing: if the binary is replaced meanwhile, the next
        // call sees a different key and probes again.
        store(&self.dir, &file, &CacheEntry { key, caps: caps.clone() })?;
        Ok((caps, CacheOutcome::Probed))
    }

    /// The cache file for a binary, named after a hash of its canonical path.
    pub fn entry_path(&self, canonical_binary: &Path) -> PathBuf {
        let hash = oxvirt_sysutil::fnv1a(canonical_binary.as_os_str().as_encoded_bytes());
        self.dir.join(format!("qemu-caps-{hash:016x}.json"))
    }
}

fn key_for(binary: &Path) -> Result<CacheKey, CapsError> {
    let stat_err = |source| CapsError::Stat { path: binary.to_owned(), source };
    let canonical = fs::canonicalize(binary).map_err(stat_err)?;
    let md = fs::metadata(&canonical).map_err(stat_err)?;
    Ok(CacheKey {
        format: FORMAT,
        writer: env!("CARGO_PKG_VERSION").to_owned(),
        binary: canonical,
        size: md.size(),
        mtime: (md.mtime(), md.mtime_nsec()),
        ctime: (md.ctime(), md.ctime_nsec()),
    })
}

/// `None` for a missing, stale or undecodable entry; all of them mean "probe".
fn load(file: &Path, key: &CacheKey) -> Option<QemuCaps> {
    let text = fs::read(file).ok()?;
    match serde_json::from_slice::<CacheEntry>(&text) {
        Ok(entry) if entry.key == *key => Some(entry.caps),
        Ok(_) => {
            tracing::debug!(file = %file.display(), "QEMU caps cache entry is stale");
            None
        }
        Err(e) => {
            tracing::warn!(file = %file.display(), "ignoring unreadable QEMU caps cache entry: {e}");
            None
        }
    }
}

/// Through the one atomic replace (`oxvirt_sysutil::write_atomic`): readers see the old entry or
/// the new one, never a torn write, even across a crash.
fn store(dir: &Path, file: &Path, entry: &CacheEntry) -> Result<(), CapsError> {
    let werr = |source| CapsError::CacheWrite { path: file.to_owned(), source };
    fs::create_dir_all(dir).map_err(werr)?;
    let json = serde_json::to_vec_pretty(entry).map_err(|e| werr(e.into()))?;
    oxvirt_sysutil::write_atomic(file, &json, 0o600).map_err(werr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binary_is_a_stat_error() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CapsCache::new(dir.path());
        let err = cache.get(&dir.path().join("no-such-qemu")).unwrap_err();
        assert!(matches!(err, CapsError::Stat { .. }), "{err}");
    }

    #[test]
    fn corrupt_or_stale_entries_are_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        fs::write(&bin, b"x").unwrap();
        let key = key_for(&bin).unwrap();
        let file = dir.path().join("entry.json");
        fs::write(&file, b"{torn").unwrap();
        assert!(load(&file, &key).is_none());
        let caps = QemuCaps::from_replies(&crate::caps::ProbeReplies {
            version: serde_json::json!({"qemu": {"major": 1, "minor": 0, "micro": 0}}),
            target: serde_json::json!({"arch": "x86_64"}),
            kvm: serde_json::json!({"present": false, "enabled": false}),
            machines: serde_json::json!([]),
            qom_types: serde_json::json!([]),
            ..Default::default()
        })
        .unwrap();
        store(dir.path(), &file, &CacheEntry { key: key.clone(), caps: caps.clone() }).unwrap();
        assert_eq!(load(&file, &key), Some(caps));
        let mut other = key.clone();
        other.size += 1;
        assert!(load(&file, &other).is_none());
        // No temp files left behind.
        let names: Vec<_> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    }
}
