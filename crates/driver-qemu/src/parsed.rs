//! Parsed files kept by file identity, so calls that read every definition (`list --all`, lookups
//! by UUID that miss) parse only what changed since. A file is the same while its device, inode,
//! modification time and size are: atomic writes make a new inode, edits in place change the time.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
}
