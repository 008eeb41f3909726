//! What spares the QEMU driver parsing definitions: parsed files kept by file identity (so
//! `list --all` parses only what changed since), and the on-disk UUID index (so a lookup by UUID
//! or a define's uniqueness check parses no other domain's file). A file is the same while its
//! device, inode, modification time and size are: atomic writes make a new inode, edits in place
//! change the time.

use std::collections::HashMap;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileKey {
    dev: u64,
    ino: u64,
    mtime: i64,
    mtime_nsec: i64,
    size: u64,
}

impl FileKey {
    /// The identity of the file at `path` now (following symlinks), if it exists.
    pub fn of(path: &Path) -> Option<FileKey> {
        let m = std::fs::metadata(path).ok()?;
        Some(FileKey { dev: m.dev(), ino: m.ino(), mtime: m.mtime(), mtime_nsec: m.mtime_nsec(), size: m.size() })
    }
}

/// At most `cap` parsed files (all forgotten at once when full: a plain bound, no LRU).
pub struct ParseCache<T> {
    map: Mutex<HashMap<PathBuf, (FileKey, T)>>,
    cap: usize,
}

impl<T: Clone> ParseCache<T> {
    pub fn new(cap: usize) -> ParseCache<T> {
        ParseCache { map: Mutex::new(HashMap::new()), cap }
    }

    /// What `path` parsed to when it had identity `key`.
    pub fn get(&self, path: &Path, key: FileKey) -> Option<T> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(path).filter(|(k, _)| *k == key).map(|(_, v)| v.clone())
    }

    /// Keeps `value` as what `path` parses to while its identity is `key` — give the identity
    /// taken before reading, and only if it is still the same after (else the file changed under
    /// the read).
    pub fn put(&self, path: &Path, key: FileKey, value: T) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= self.cap && !map.contains_key(path) {
            map.clear();
        }
        map.insert(path.to_path_buf(), (key, value));
    }
}

/// The UUID index: one symlink per UUID, `DIR/UUID -> NAME`, written atomically (a temp link
/// renamed over) by whoever writes that domain's files, under its domain lock; every oxvirt
/// writer keeps it so. Never trusted to steer a path: the name read back passes
/// [`crate::layout::component`] like any other, and callers check the domain's own files say that
/// UUID. A process checks it against the file names once, at its first miss (a layout from
/// before the index, files copied in while no oxvirt ran: names without an entry are read), and
/// after that takes a miss as a miss, as libvirt's daemons know their domains from start-up.
pub struct UuidIndex {
    dir: PathBuf,
    /// Set once a scan in this process made the index cover every domain on disk.
    verified: std::sync::atomic::AtomicBool,
}

impl UuidIndex {
    pub fn new(dir: PathBuf) -> UuidIndex {
        UuidIndex { dir, verified: std::sync::atomic::AtomicBool::new(false) }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry(&self, uuid: &Uuid) -> PathBuf {
        self.dir.join(uuid.hyphenated().to_string())
    }

    /// The name `uuid` was last recorded under, if it is a usable name.
    pub fn get(&self, uuid: &Uuid) -> Option<String> {
        let target = std::fs::read_link(self.entry(uuid)).ok()?;
        let name = target.to_str()?;
        crate::layout::component(name).ok()?;
        Some(name.to_string())
    }

    /// Records `uuid` as `name`'s (nothing written if it already is).
    pub fn put(&self, uuid: &Uuid, name: &str) -> std::io::Result<()> {
        crate::layout::component(name).map_err(std::io::Error::other)?;
        if self.get(uuid).as_deref() == Some(name) {
            return Ok(());
        }
        let tmp = self.dir.join(format!(".{}.tmp{}", uuid.hyphenated(), std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        if let Err(e) = std::os::unix::fs::symlink(name, &tmp) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(e);
            }
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir)?;
            std::os::unix::fs::symlink(name, &tmp)?;
        }
        std::fs::rename(&tmp, self.entry(uuid)).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }

    /// Drops `uuid`'s entry if it still names `name`.
    pub fn remove(&self, uuid: &Uuid, name: &str) {
        if self.get(uuid).as_deref() == Some(name) {
            let _ = std::fs::remove_file(self.entry(uuid));
        }
    }

    /// Every entry with a usable name; temp links left by a killed writer are removed.
    pub fn entries(&self) -> Vec<(Uuid, String)> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let file = e.file_name();
            let Some(file) = file.to_str() else { continue };
            if let Some(pid) = crate::layout::is_temp_name(file) {
                if pid as u32 != std::process::id() && !crate::process::is_alive(pid) {
                    let _ = std::fs::remove_file(e.path());
                }
                continue;
            }
            let Ok(uuid) = Uuid::parse_str(file) else { continue };
            if let Some(name) = self.get(&uuid) {
                out.push((uuid, name));
            }
        }
        out
    }

    /// Whether a miss must first be checked by a scan of the file names (see above).
    pub fn needs_scan(&self) -> bool {
        !self.verified.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Records that a scan made the index cover what is on disk.
    pub fn scanned(&self) {
        self.verified.store(true, std::sync::atomic::Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_file_misses() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.xml");
        std::fs::write(&p, "one").unwrap();
        let c = ParseCache::new(2);
        let k1 = FileKey::of(&p).unwrap();
        c.put(&p, k1, 1);
        assert_eq!(c.get(&p, k1), Some(1));
        // an atomic replace: a new inode
        crate::fsutil::write_atomic(&p, b"two", 0o600).unwrap();
        let k2 = FileKey::of(&p).unwrap();
        assert_ne!(k1, k2);
        assert_eq!(c.get(&p, k2), None);
        // the bound
        c.put(&p, k2, 2);
        c.put(&d.path().join("b"), k2, 3);
        c.put(&d.path().join("c"), k2, 4);
        assert_eq!(c.get(&p, k2), None, "cleared when full");
        assert_eq!(c.get(&d.path().join("c"), k2), Some(4));
        assert!(FileKey::of(&d.path().join("missing")).is_none());
    }

    fn u(i: u128) -> Uuid {
        Uuid::from_u128(i)
    }

    #[test]
    fn index_entries_are_hints_with_checked_names() {
        let d = tempfile::tempdir().unwrap();
        let ix = UuidIndex::new(d.path().join("uuids"));
        assert_eq!(ix.get(&u(1)), None, "missing directory: no entry");
        ix.put(&u(1), "a").unwrap();
        ix.put(&u(2), "b").unwrap();
        assert_eq!(ix.get(&u(1)).as_deref(), Some("a"));
        ix.put(&u(1), "c").unwrap();
        assert_eq!(ix.get(&u(1)).as_deref(), Some("c"), "replaced");
        ix.remove(&u(1), "a");
        assert_eq!(ix.get(&u(1)).as_deref(), Some("c"), "removing another name's entry is a no-op");
        ix.remove(&u(1), "c");
        assert_eq!(ix.get(&u(1)), None);
        assert!(ix.put(&u(3), "../x").is_err(), "a name is checked before it is written");
        // An entry steering outside (written by someone else) is no entry.
        std::os::unix::fs::symlink("../../etc/passwd", ix.entry(&u(4))).unwrap();
        std::os::unix::fs::symlink("..", ix.entry(&u(5))).unwrap();
        assert_eq!(ix.get(&u(4)), None);
        assert_eq!(ix.get(&u(5)), None);
        // A temp link of a dead writer is cleaned; junk is skipped.
        std::os::unix::fs::symlink("z", d.path().join("uuids/.x.tmp999999999")).unwrap();
        std::fs::write(d.path().join("uuids/not-a-uuid"), "").unwrap();
        assert_eq!(ix.entries(), vec![(u(2), "b".to_string())]);
        assert!(!d.path().join("uuids/.x.tmp999999999").exists());
    }
}
