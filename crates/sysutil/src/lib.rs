//! Small OS helpers the drivers share: atomic replace, an inter-process lock, a rollback guard,
//! the `/proc/PID/stat` reader.

pub mod procstat;
pub mod rollback;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

/// Writes `data` to `path` so readers see the old or the new content, never a torn one, and a crash
/// loses neither: temp file in the same directory, fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes a file; a missing file is fine.
pub fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// An exclusive `flock` held until dropped, so concurrent oxvirt processes on one root take turns.
///
/// Waiting blocks in the kernel (no polling): the lock is tried without blocking first, and only
/// when another open file description holds it does a helper thread block in `flock` while the
/// caller waits at most `timeout` for it. A helper whose caller gave up keeps waiting and lets go
/// of the lock the moment it gets it (the file is dropped with the channel nobody reads).
pub struct FileLock {
    file: File,
}

impl FileLock {
    fn open(path: &Path) -> io::Result<File> {
        OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(path)
    }

    /// `Ok(None)` if another open file description holds the lock now.
    pub fn try_acquire(path: &Path) -> io::Result<Option<FileLock>> {
        Self::try_lock(path, libc::LOCK_EX)
    }

    /// A shared lock (many holders, excluding an exclusive one); `Ok(None)` if held exclusively.
    pub fn try_acquire_shared(path: &Path) -> io::Result<Option<FileLock>> {
        Self::try_lock(path, libc::LOCK_SH)
    }

    pub fn acquire(path: &Path, timeout: Duration) -> io::Result<FileLock> {
        Self::lock(path, libc::LOCK_EX, timeout)
    }

    /// A shared lock, waiting at most `timeout` while an exclusive holder has it.
    pub fn acquire_shared(path: &Path, timeout: Duration) -> io::Result<FileLock> {
        Self::lock(path, libc::LOCK_SH, timeout)
    }

    fn try_lock(path: &Path, op: libc::c_int) -> io::Result<Option<FileLock>> {
        let file = Self::open(path)?;
        Ok(try_flock(&file, op)?.then_some(FileLock { file }))
    }

    fn lock(path: &Path, op: libc::c_int, timeout: Duration) -> io::Result<FileLock> {
        let file = Self::open(path)?;
        if try_flock(&file, op)? {
            return Ok(FileLock { file });
        }
        let timed_out = || {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{} stayed locked for more than {timeout:?}", path.display()),
            )
        };
        if timeout.is_zero() {
            return Err(timed_out());
        }
        let (tx, rx) = mpsc::sync_channel::<io::Result<File>>(1);
        std::thread::Builder::new().name("flock-wait".into()).spawn(move || {
            let r = loop {
                // SAFETY: flock on a valid open descriptor owned by this closure; no memory is passed.
                if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
                    break Ok(file);
                }
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    break Err(err);
                }
            };
            // Nobody listening any more: the file (and so the lock) is dropped with the channel.
            let _ = tx.send(r);
        })?;
        match rx.recv_timeout(timeout) {
            Ok(r) => r.map(|file| FileLock { file }),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(timed_out()),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(io::Error::other("flock helper thread ended")),
        }
    }

    /// The locked file, e.g. to record who holds it.
    pub fn file(&self) -> &File {
        &self.file
    }
}

/// `op | LOCK_NB`: true if taken, false if held elsewhere.
fn try_flock(file: &File, op: libc::c_int) -> io::Result<bool> {
    loop {
        // SAFETY: flock on a valid open descriptor; no memory is passed.
        if unsafe { libc::flock(file.as_raw_fd(), op | libc::LOCK_NB) } == 0 {
            return Ok(true);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // the abandoned helper got the lock at some point and let it go again
        FileLock::acquire(&l, Duration::from_secs(5)).unwrap();
    }
}
