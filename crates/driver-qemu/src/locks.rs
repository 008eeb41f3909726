//! The QEMU driver's state change locks: one per domain, plus a short driver-wide one.
//!
//! Like libvirt's per-domain job, a state change (start, destroy, save, define, device changes)
//! holds only its own domain, so a slow start of one guest never holds up another guest or any
//! query. Each lock has two levels:
//!
//! - in this process, a fair queue per lock: waiters are served in arrival order and wait on a
//!   condition variable, never polling, so 25 clients of one daemon take turns instead of racing;
//! - between processes (the daemon and CLIs in embedded mode sharing a root), an `flock` on the
//!   lock's file, taken by the one in-process holder, waiting blocked in the kernel.
//!
//! A root-wide pass that must see no operation in flight (the driver's start-up clean-up of what
//! crashed processes left) takes the root lock file exclusively; every domain lock holds it shared.
//!
//! A lock file whose domain name is gone (undefined, or a transient domain stopped) is deleted by
//! its last holder while it holds it (see [`Guard::remove_on_release`]); so an acquirer that got
//! the `flock` checks the path still names the inode it locked, else it locked a deleted file and
//! tries again (the classic race of unlinking lock files).
//!
//! The holder writes who it is into the lock file (pid, operation, start time), and remembers it
//! in memory, so a waiter that times out says which operation holds the domain and since when —
//! in this process or in which other one.

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use oxvirt_api::{Error, ErrorCode, ErrorDomain};

use crate::fsutil::FileLock;

/// Who holds a lock: the operation and since when, and which process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub op: String,
    /// Milliseconds since the Unix epoch.
    pub since_ms: u64,
}

impl Holder {
    fn now(op: &str) -> Holder {
        Holder { pid: std::process::id(), op: op.to_string(), since_ms: now_ms() }
    }

    fn parse(text: &str) -> Option<Holder> {
        let mut it = text.trim().splitn(3, ' ');
        let pid = it.next()?.parse().ok()?;
        let since_ms = it.next()?.parse().ok()?;
        let op = it.next()?.to_string();
        Some(Holder { pid, op, since_ms })
    }

    fn describe(&self) -> String {
        let age = now_ms().saturating_sub(self.since_ms) as f64 / 1000.0;
        let whose = if self.pid == std::process::id() {
            "in this process".to_string()
        } else {
            format!("in oxvirt process {}", self.pid)
        };
        let day_ms = self.since_ms % 86_400_000;
        let (h, m, s, ms) = (day_ms / 3_600_000, day_ms / 60_000 % 60, day_ms / 1000 % 60, day_ms % 1000);
        format!("held by '{}' {whose} since {h:02}:{m:02}:{s:02}.{ms:03} UTC, {age:.1} s ago", self.op)
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot acquire state change lock of {what} within {waited:?} ({})", holder.as_ref().map_or_else(|| "holder unknown".to_string(), Holder::describe))]
    Timeout { what: String, waited: Duration, holder: Option<Holder> },
    #[error("locking {what} ({}): {source}", path.display())]
    Io {
        what: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<LockError> for Error {
    fn from(e: LockError) -> Error {
        let code = match e {
            LockError::Timeout { .. } => ErrorCode::OperationTimeout,
            LockError::Io { .. } => ErrorCode::SystemError,
        };
        Error::coded(code, ErrorDomain::Qemu, e.to_string())
    }
}

#[derive(Default)]
struct Slot {
    holder: Option<Holder>,
    /// Tickets of the waiters, first served first.
    queue: VecDeque<u64>,
    next_ticket: u64,
    cond: Arc<Condvar>,
}

/// The locks of one driver instance (one root in one process), keyed by lock file.
pub struct Locks {
    /// Held shared by every lock holder, exclusively by [`Locks::exclusive_root`].
    root: PathBuf,
    slots: Mutex<HashMap<PathBuf, Slot>>,
}

/// A held lock; released (file, then queue) when dropped.
pub struct Guard<'a> {
    locks: &'a Locks,
    path: PathBuf,
    file: Option<FileLock>,
    root: Option<FileLock>,
    remove: bool,
}

impl Guard<'_> {
    /// Deletes the lock file on release (while still holding it): what it locks is gone, and lock
    /// files of undefined names would pile up. Safe against other holders: they hold the lock only
    /// after we release it, and then see their file is no longer at the path and lock it again.
    pub fn remove_on_release(&mut self) {
        self.remove = true;
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if let Some(f) = self.file.take() {
            if self.remove {
                let _ = fs::remove_file(&self.path);
            } else {
                // Not held any more: a stale record would name an operation that finished.
                let _ = f.file().set_len(0);
            }
            drop(f);
        }
        self.root.take();
        let mut slots = self.locks.map();
        if let Some(slot) = slots.get_mut(&self.path) {
            slot.holder = None;
            if slot.queue.is_empty() {
                slots.remove(&self.path);
            } else {
                slot.cond.notify_all();
            }
        }
    }
}

impl Locks {
    /// `root`: the driver-wide lock file (see [`Locks::exclusive_root`]).
    pub fn new(root: PathBuf) -> Locks {
        Locks { root, slots: Mutex::new(HashMap::new()) }
    }

    /// The whole root, exclusively between processes: waits until no other process holds any
    /// lock. Only for the driver's start-up pass, before this instance serves any caller.
    pub fn exclusive_root(&self, timeout: Duration) -> Result<FileLock, LockError> {
        open_lock(&self.root, "the driver")?;
        FileLock::acquire(&self.root, timeout).map_err(|source| {
            if source.kind() == std::io::ErrorKind::TimedOut {
                LockError::Timeout {
                    what: "the driver root (operations of other oxvirt processes run)".into(),
                    waited: timeout,
                    holder: None,
                }
            } else {
                LockError::Io { what: "the driver root".into(), path: self.root.clone(), source }
            }
        })
    }

    fn map(&self) -> MutexGuard<'_, HashMap<PathBuf, Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits (fairly, at most `timeout` in all) for the lock at `path`; `what` names it in errors
    /// (`domain 'vm1'`), `op` says what the holder does (`start`).
    pub fn acquire(&self, path: &Path, what: &str, op: &str, timeout: Duration) -> Result<Guard<'_>, LockError> {
        let deadline = Instant::now() + timeout;
        {
            let mut slots = self.map();
            let slot = slots.entry(path.to_path_buf()).or_default();
            let ticket = slot.next_ticket;
            slot.next_ticket += 1;
            slot.queue.push_back(ticket);
            let cond = slot.cond.clone();
            loop {
                // (the slot stays while our ticket is queued; were it gone, we would be first)
                let slot = slots.entry(path.to_path_buf()).or_default();
                if slot.holder.is_none() && slot.queue.front().is_none_or(|t| *t == ticket) {
                    slot.queue.retain(|t| *t != ticket);
                    slot.holder = Some(Holder::now(op));
                    break;
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    slot.queue.retain(|t| *t != ticket);
                    let holder = slot.holder.clone();
                    if holder.is_none() && slot.queue.is_empty() {
                        slots.remove(path);
                    } else {
                        // the next in line may be free to go now
                        slot.cond.notify_all();
                    }
                    return Err(LockError::Timeout { what: what.to_string(), waited: timeout, holder });
                }
                slots = cond.wait_timeout(slots, left).unwrap_or_else(|e| e.into_inner()).0;
            }
        }
        // Ours in this process; now between processes, within what is left of the time.
        let mut guard = Guard { locks: self, path: path.to_path_buf(), file: None, root: None, remove: false };
        let io = |p: &Path, source| LockError::Io { what: what.to_string(), path: p.to_path_buf(), source };
        let left = deadline.saturating_duration_since(Instant::now());
        open_lock(&self.root, what)?;
        guard.root = Some(FileLock::acquire_shared(&self.root, left).map_err(|source| {
            if source.kind() == std::io::ErrorKind::TimedOut {
                let what = format!("{what} (another oxvirt process holds the whole root for its start-up clean-up)");
                LockError::Timeout { what, waited: timeout, holder: None }
            } else {
                io(&self.root, source)
            }
        })?);
        let file = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match open_lock(path, what).and_then(|_| FileLock::acquire(path, left).map_err(|e| io(path, e))) {
                Ok(f) if is_linked(&f, path) => break f,
                // its last holder deleted it: lock the file now at the path
                Ok(_) => continue,
                Err(LockError::Io { source, .. }) if source.kind() == std::io::ErrorKind::TimedOut => {
                    let holder = fs::read_to_string(path).ok().and_then(|t| Holder::parse(&t));
                    return Err(LockError::Timeout { what: what.to_string(), waited: timeout, holder });
                }
                Err(e) => return Err(e),
            }
        };
        record(&file, op);
        guard.file = Some(file);
        Ok(guard)
    }

    /// The lock if nobody holds or waits for it now, in this process or another; `None` if busy.
    pub fn try_acquire(&self, path: &Path, what: &str, op: &str) -> Result<Option<Guard<'_>>, LockError> {
        {
            let mut slots = self.map();
            let slot = slots.entry(path.to_path_buf()).or_default();
            if slot.holder.is_some() || !slot.queue.is_empty() {
                return Ok(None);
            }
            slot.holder = Some(Holder::now(op));
        }
        let mut guard = Guard { locks: self, path: path.to_path_buf(), file: None, root: None, remove: false };
        let io = |p: &Path, source| LockError::Io { what: what.to_string(), path: p.to_path_buf(), source };
        open_lock(&self.root, what)?;
        match FileLock::try_acquire_shared(&self.root) {
            Ok(Some(r)) => guard.root = Some(r),
            Ok(None) => return Ok(None),
            Err(e) => return Err(io(&self.root, e)),
        }
        loop {
            open_lock(path, what)?;
            match FileLock::try_acquire(path) {
                Ok(Some(f)) if is_linked(&f, path) => {
                    record(&f, op);
                    guard.file = Some(f);
                    return Ok(Some(guard));
                }
                // deleted by its last holder: try the file now at the path
                Ok(Some(_)) => continue,
                Ok(None) => return Ok(None),
                Err(e) => return Err(io(path, e)),
            }
        }
    }

    /// Who holds the lock at `path` in this process, if anyone.
    pub fn holder(&self, path: &Path) -> Option<Holder> {
        self.map().get(path).and_then(|s| s.holder.clone())
    }
}

/// Makes sure the lock file's directory exists (lock directories are made on first use).
fn open_lock(path: &Path, what: &str) -> Result<(), LockError> {
    match path.parent() {
        Some(dir) if !dir.is_dir() => fs::create_dir_all(dir).map_err(|source| LockError::Io {
            what: what.to_string(),
            path: path.to_path_buf(),
            source,
        }),
        _ => Ok(()),
    }
}

/// Whether the locked file is still the one at `path` (not deleted by a previous holder).
fn is_linked(f: &FileLock, path: &Path) -> bool {
    match (f.file().metadata(), fs::metadata(path)) {
        (Ok(held), Ok(now)) => held.dev() == now.dev() && held.ino() == now.ino(),
        _ => false,
    }
}

/// Writes `PID MILLIS OP` into the held lock file (best effort: only error messages read it).
fn record(f: &FileLock, op: &str) {
    let h = Holder::now(op);
    let mut line = Vec::with_capacity(64);
    let _ = writeln!(line, "{} {} {}", h.pid, h.since_ms, h.op);
    let _ = f.file().set_len(0);
    let _ = f.file().write_all_at(&line, 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn one_holder_fifo_order_and_timeout_names_the_holder() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("locks/a.lock");
        let locks = Arc::new(Locks::new(d.path().join("driver.lock")));
        let g = locks.acquire(&p, "domain 'a'", "start", Duration::from_secs(1)).unwrap();
        assert_eq!(locks.holder(&p).map(|h| h.op), Some("start".into()));
        assert!(locks.try_acquire(&p, "domain 'a'", "query").unwrap().is_none());
        let e = locks.acquire(&p, "domain 'a'", "destroy", Duration::from_millis(30)).err().unwrap();
        let msg = e.to_string();
        assert!(msg.contains("domain 'a'") && msg.contains("'start' in this process"), "{msg}");
        assert_eq!(Error::from(e).code, ErrorCode::OperationTimeout);
        // another lock is independent
        let q = d.path().join("locks/b.lock");
        drop(locks.acquire(&q, "domain 'b'", "start", Duration::from_millis(30)).unwrap());
        // waiters are served in arrival order
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut ts = Vec::new();
        for i in 0..5 {
            let (l, p, o) = (locks.clone(), p.clone(), order.clone());
            ts.push(std::thread::spawn(move || {
                let _g = l.acquire(&p, "domain 'a'", "op", Duration::from_secs(10)).unwrap();
                o.lock().unwrap().push(i);
            }));
            std::thread::sleep(Duration::from_millis(30));
        }
        drop(g);
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
        assert!(locks.map().is_empty(), "idle locks are forgotten");
    }

    #[test]
    fn another_process_holder_is_named_and_excludes() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.lock");
        // another open file description stands for another process
        let other = FileLock::acquire(&p, Duration::from_secs(1)).unwrap();
        other.file().write_all_at(b"4242 1000 save\n", 0).unwrap();
        let locks = Locks::new(d.path().join("driver.lock"));
        assert!(locks.try_acquire(&p, "domain 'x'", "query").unwrap().is_none());
        let msg = locks.acquire(&p, "domain 'x'", "start", Duration::from_millis(50)).err().unwrap().to_string();
        assert!(msg.contains("'save' in oxvirt process 4242"), "{msg}");
        assert!(locks.map().get(&p).is_none_or(|s| s.holder.is_none()), "the in-process slot is given back");
        drop(other);
        drop(locks.acquire(&p, "domain 'x'", "start", Duration::from_secs(1)).unwrap());
    }

    #[test]
    fn the_root_pass_excludes_domain_locks_of_other_processes() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("driver.lock");
        let mine = Locks::new(root.clone());
        let other = Locks::new(root.clone());
        let g = mine.acquire(&d.path().join("a.lock"), "domain 'a'", "start", Duration::from_secs(1)).unwrap();
        assert!(other.exclusive_root(Duration::from_millis(30)).is_err(), "a domain lock holds the root shared");
        drop(g);
        let pass = other.exclusive_root(Duration::from_secs(1)).unwrap();
        assert!(mine.try_acquire(&d.path().join("a.lock"), "domain 'a'", "query").unwrap().is_none());
        let msg = mine
            .acquire(&d.path().join("b.lock"), "domain 'b'", "start", Duration::from_millis(30))
            .err()
            .unwrap()
            .to_string();
        assert!(msg.contains("start-up clean-up"), "{msg}");
        drop(pass);
        assert!(mine.try_acquire(&d.path().join("a.lock"), "domain 'a'", "query").unwrap().is_some());
    }

    #[test]
    fn a_removed_lock_file_is_not_held_twice() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("locks/z.lock");
        let root = d.path().join("driver.lock");
        // three instances stand for three processes (own open file descriptions)
        let (a, b, c) = (Arc::new(Locks::new(root.clone())), Arc::new(Locks::new(root.clone())), Locks::new(root));
        for _ in 0..20 {
            let mut g = a.acquire(&p, "domain 'z'", "undefine", Duration::from_secs(1)).unwrap();
            g.remove_on_release();
            let (b2, p2) = (b.clone(), p.clone());
            let (tx, rx) = std::sync::mpsc::channel();
            let waiter = std::thread::spawn(move || {
                let g = b2.acquire(&p2, "domain 'z'", "define", Duration::from_secs(10)).unwrap();
                tx.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(50));
                drop(g);
            });
            std::thread::sleep(Duration::from_millis(20));
            drop(g);
            rx.recv().unwrap();
            // b holds the file at the path, not the deleted one: nobody else may take it
            assert!(p.exists(), "the waiter locks a fresh file at the path");
            assert!(c.try_acquire(&p, "domain 'z'", "query").unwrap().is_none(), "two holders");
            waiter.join().unwrap();
        }
        let mut g = c.acquire(&p, "domain 'z'", "undefine", Duration::from_secs(1)).unwrap();
        g.remove_on_release();
        drop(g);
        assert!(!p.exists(), "the lock file of a gone name is deleted");
    }

    #[test]
    fn a_timed_out_waiter_does_not_block_those_behind_it() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("y.lock");
        let locks = Arc::new(Locks::new(d.path().join("driver.lock")));
        let g = locks.acquire(&p, "y", "start", Duration::from_secs(1)).unwrap();
        let done = Arc::new(AtomicUsize::new(0));
        let (l1, p1) = (locks.clone(), p.clone());
        let quitter = std::thread::spawn(move || l1.acquire(&p1, "y", "a", Duration::from_millis(50)).is_err());
        std::thread::sleep(Duration::from_millis(10));
        let (l2, p2, d2) = (locks.clone(), p.clone(), done.clone());
        let stayer = std::thread::spawn(move || {
            let _g = l2.acquire(&p2, "y", "b", Duration::from_secs(10)).unwrap();
            d2.fetch_add(1, Ordering::SeqCst);
        });
        assert!(quitter.join().unwrap());
        drop(g);
        stayer.join().unwrap();
        assert_eq!(done.load(Ordering::SeqCst), 1);
    }
}
