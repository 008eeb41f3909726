//! Small OS helpers the drivers share: atomic replace, an inter-process lock, a rollback guard,
//! the `/proc/PID/stat` reader.

pub mod child;
pub mod procstat;
pub mod rollback;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

/// Writes `data` to `path` so readers see the old or the new content, never a torn one, and a crash
/// loses neither: temp file in the same directory, fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    replace_atomic(path, mode, |f| f.write_all(data)).map_err(|e| match e {
        AtomicError::Fill(e) | AtomicError::Io { source: e, .. } => e,
    })
}

/// The step of [`replace_atomic`] that failed, for callers whose messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtomicStep {
    Open,
    Sync,
    Rename,
}

/// Why [`replace_atomic`] failed: the caller's `fill`, or one of its own steps.
#[derive(Debug)]
pub enum AtomicError<E> {
    Fill(E),
    Io { step: AtomicStep, source: io::Error },
}

/// [`write_atomic`] for content that is not a byte slice at hand (a stream, a file another process
/// writes into): `fill` writes the temp file (`.NAME.tmpPID` beside `path`, created with `mode`),
/// which then is synced and renamed over `path`, and the directory synced. On failure the temp file
/// is removed and `path` is untouched. The one atomic replace of the project: no other hand-rolled
/// temp-and-rename, so the naming that start-up cleanup recognises stays the same.
pub fn replace_atomic<E>(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut File) -> Result<(), E>,
) -> Result<(), AtomicError<E>> {
    let io = |step| move |source| AtomicError::Io { step, source };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    // One of ours only by name: a dead process with our (recycled) pid left it.
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut f =
            OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp).map_err(io(AtomicStep::Open))?;
        fill(&mut f).map_err(AtomicError::Fill)?;
        f.sync_all().map_err(io(AtomicStep::Sync))?;
        fs::rename(&tmp, path).map_err(io(AtomicStep::Rename))?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(io(AtomicStep::Sync))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// FNV-1a, 64 bits: the one hash for names made from other names (cgroup scopes, cache files).
/// Stable across Rust versions and platforms, unlike `DefaultHasher`; not for untrusted keys in
/// hash tables.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Removes a file; a missing file is fine.
pub fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Makes `link` a symlink to `target` (`on`) or removes it; an existing link is kept, a missing
/// one is fine (the autostart links of the network and storage drivers).
pub fn set_link(link: &Path, target: &Path, on: bool) -> io::Result<()> {
    if !on {
        return remove_if_exists(link);
    }
    if fs::symlink_metadata(link).is_err() {
        std::os::unix::fs::symlink(target, link)?;
    }
    Ok(())
}

/// An exclusive `flock` held until dropped, so concurrent oxvirt processes on one root take turns.
///
/// Waiting sleeps in the kernel (no polling, no helper thread): the lock is tried without blocking,
/// and while another open file description holds it the caller sleeps on an inotify watch of the
/// locked inode until someone closes it (a holder's drop, or its process dying, is such a close),
/// then tries again, until `timeout`. A caller that gives up therefore leaves nothing behind that
/// could take the lock later (a blocked `flock` in a helper thread would).
pub struct FileLock {
    file: Flock<File>,
}

impl FileLock {
    fn open(path: &Path) -> io::Result<File> {
        OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(path)
    }

    /// `Ok(None)` if another open file description holds the lock now.
    pub fn try_acquire(path: &Path) -> io::Result<Option<FileLock>> {
        Self::try_lock(path, FlockArg::LockExclusiveNonblock)
    }

    /// A shared lock (many holders, excluding an exclusive one); `Ok(None)` if held exclusively.
    pub fn try_acquire_shared(path: &Path) -> io::Result<Option<FileLock>> {
        Self::try_lock(path, FlockArg::LockSharedNonblock)
    }

    pub fn acquire(path: &Path, timeout: Duration) -> io::Result<FileLock> {
        Self::lock(path, FlockArg::LockExclusiveNonblock, timeout)
    }

    /// A shared lock, waiting at most `timeout` while an exclusive holder has it.
    pub fn acquire_shared(path: &Path, timeout: Duration) -> io::Result<FileLock> {
        Self::lock(path, FlockArg::LockSharedNonblock, timeout)
    }

    fn try_lock(path: &Path, op: FlockArg) -> io::Result<Option<FileLock>> {
        Ok(try_flock(Self::open(path)?, op)?.ok().map(|file| FileLock { file }))
    }

    fn lock(path: &Path, op: FlockArg, timeout: Duration) -> io::Result<FileLock> {
        let file = match try_flock(Self::open(path)?, op)? {
            Ok(file) => return Ok(FileLock { file }),
            Err(file) => file,
        };
        let timed_out = || {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{} stayed locked for more than {timeout:?}", path.display()),
            )
        };
        if timeout.is_zero() {
            return Err(timed_out());
        }
        let deadline = Instant::now() + timeout;
        let closes = CloseWatch::new(&file, path)?;
        // The watch exists before each retry, so a release between a failed try and the sleep wakes it.
        let mut file = file;
        loop {
            file = match try_flock(file, op)? {
                Ok(file) => return Ok(FileLock { file }),
                Err(file) => file,
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out());
            }
            closes.wait(left)?;
        }
    }

    /// The locked file, e.g. to record who holds it.
    pub fn file(&self) -> &File {
        &self.file
    }
}

/// A non-blocking `flock`: the locked file, or the file back if another open file description
/// holds the lock.
fn try_flock(mut file: File, op: FlockArg) -> io::Result<Result<Flock<File>, File>> {
    loop {
        match Flock::lock(file, op) {
            Ok(locked) => return Ok(Ok(locked)),
            Err((f, Errno::EWOULDBLOCK)) => return Ok(Err(f)),
            Err((f, Errno::EINTR)) => file = f,
            Err((_, e)) => return Err(e.into()),
        }
    }
}

/// Wakes when any open file description of one inode is closed (or the file is unlinked or moved),
/// the moments a `flock` on it can have been released.
struct CloseWatch {
    inotify: Inotify,
}

impl CloseWatch {
    fn new(file: &File, path: &Path) -> io::Result<CloseWatch> {
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)?;
        let what = AddWatchFlags::IN_CLOSE_WRITE
            | AddWatchFlags::IN_CLOSE_NOWRITE
            | AddWatchFlags::IN_ATTRIB
            | AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_MOVE_SELF;
        // Through our own descriptor, so the watch is on the inode we lock even if `path` was
        // replaced since we opened it; the path itself if /proc is not there.
        let own = format!("/proc/self/fd/{}", file.as_raw_fd());
        if inotify.add_watch(own.as_str(), what).is_err() {
            inotify.add_watch(path, what)?;
        }
        Ok(CloseWatch { inotify })
    }

    /// Sleeps until an event or `left` passes, then drains the events (their content does not
    /// matter: the caller just tries the lock again).
    fn wait(&self, left: Duration) -> io::Result<()> {
        let ms = u16::try_from(left.as_millis().saturating_add(1)).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(self.inotify.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        loop {
            match self.inotify.read_events() {
                Ok(events) if !events.is_empty() => continue,
                Ok(_) | Err(Errno::EAGAIN) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_replace_leaves_the_old_file_and_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("image");
        write_atomic(&p, b"old", 0o600).unwrap();
        let r = replace_atomic(&p, 0o600, |f| {
            f.write_all(b"half")?;
            Err::<(), io::Error>(io::Error::other("interrupted"))
        });
        assert!(matches!(r, Err(AtomicError::Fill(_))));
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1, "no temp files left");
        let r = replace_atomic(&d.path().join("no/such/dir"), 0o600, |_| Ok::<(), io::Error>(()));
        assert!(matches!(r, Err(AtomicError::Io { step: AtomicStep::Open, .. })));
    }

    #[test]
    fn fnv1a_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn atomic_write_replaces_and_lock_excludes() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.status");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1, "no temp files left");
        let l = d.path().join("lock");
        let held = FileLock::acquire(&l, Duration::from_secs(1)).unwrap();
        let e = FileLock::acquire(&l, Duration::from_millis(50)).err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(FileLock::try_acquire(&l).unwrap().is_none());
        assert!(FileLock::try_acquire_shared(&l).unwrap().is_none());
        drop(held);
        let r1 = FileLock::acquire_shared(&l, Duration::from_millis(50)).unwrap();
        let r2 = FileLock::try_acquire_shared(&l).unwrap().expect("shared locks share");
        assert!(FileLock::acquire(&l, Duration::from_millis(30)).is_err());
        drop((r1, r2));
        FileLock::acquire(&l, Duration::from_millis(50)).unwrap();
    }

    #[test]
    fn a_waiter_blocks_until_release_and_a_given_up_wait_leaves_no_lock() {
        let d = tempfile::tempdir().unwrap();
        let l = d.path().join("lock");
        let held = FileLock::acquire(&l, Duration::from_secs(1)).unwrap();
        // gives up while held: its helper must not keep the lock once it gets it
        assert!(FileLock::acquire(&l, Duration::from_millis(20)).is_err());
        let l2 = l.clone();
        let t0 = std::time::Instant::now();
        let waiter = std::thread::spawn(move || FileLock::acquire(&l2, Duration::from_secs(10)).map(|_| t0.elapsed()));
        std::thread::sleep(Duration::from_millis(100));
        drop(held);
        let waited = waiter.join().unwrap().unwrap();
        assert!(waited >= Duration::from_millis(100) && waited < Duration::from_secs(5), "{waited:?}");
        // nothing of the given-up wait is left to take the lock: it is free right after each release
        for _ in 0..50 {
            let held = FileLock::try_acquire(&l).unwrap().expect("free after release");
            assert!(FileLock::acquire(&l, Duration::from_millis(1)).is_err());
            drop(held);
        }
    }
}
