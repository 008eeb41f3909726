//! A console stream: bytes both ways between a client and a domain's pty, framed as STREAM
//! messages on the serial of the `DOMAIN_OPEN_CONSOLE` call.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags};
use nix::sys::termios;
use oxvirt_api::Error;

use crate::message::{Message, Status};
use crate::server::{stream_header, Sink};

/// How long a write to the pty may wait for room before the stream fails.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the reading thread looks at the closed flag.
const POLL_MS: u16 = 200;

pub struct ConsoleStream {
    file: File,
    proc_: i32,
    serial: u32,
    sink: Sink,
    closed: AtomicBool,
    started: Mutex<bool>,
}

fn wait_fd(fd: BorrowedFd<'_>, events: PollFlags, timeout_ms: u16) -> io::Result<bool> {
    match poll(&mut [PollFd::new(fd, events)], timeout_ms) {
        Err(nix::errno::Errno::EINTR) | Ok(0) => Ok(false),
        Err(e) => Err(e.into()),
        Ok(_) => Ok(true),
    }
}

impl ConsoleStream {
    /// Opens the pty in raw mode, as libvirt does, so control characters pass through.
    pub fn open(path: &str, proc_: i32, serial: u32, sink: Sink) -> Result<Arc<Self>, Error> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| Error::system(format!("cannot open console device '{path}'"), &e))?;
        if let Ok(mut t) = termios::tcgetattr(&file) {
            termios::cfmakeraw(&mut t);
            let _ = termios::tcsetattr(&file, termios::SetArg::TCSADRAIN, &t);
        }
        Ok(Arc::new(ConsoleStream {
            file,
            proc_,
            serial,
            sink,
            closed: AtomicBool::new(false),
            started: Mutex::new(false),
        }))
    }

    /// Starts forwarding pty output to the client; idempotent.
    pub fn start(self: &Arc<Self>) {
        let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        if *started {
            return;
        }
        *started = true;
        let me = self.clone();
        let spawned = std::thread::Builder::new().name(format!("console-{}", self.serial)).spawn(move || me.pump());
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start console thread");
            self.finish();
        }
    }

    fn pump(&self) {
        let mut buf = vec![0u8; 64 * 1024];
        while !self.closed.load(Ordering::Relaxed) {
            match wait_fd(self.file.as_fd(), PollFlags::POLLIN, POLL_MS) {
                Ok(false) => continue,
                Ok(true) => {}
                Err(_) => break,
            }
            match (&self.file).read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let m = Message {
                        header: stream_header(self.proc_, self.serial, Status::Continue),
                        body: buf[..n].to_vec(),
                    };
                    if !(self.sink)(m) {
                        self.closed.store(true, Ordering::Relaxed);
                        return;
                    }
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
                // EIO: the other side of the pty went away (the guest stopped).
                Err(_) => break,
            }
        }
        self.finish();
    }

    /// Tells the client the stream ended (an empty OK packet), once.
    fn finish(&self) {
        if !self.closed.swap(true, Ordering::Relaxed) {
            (self.sink)(Message { header: stream_header(self.proc_, self.serial, Status::Ok), body: vec![] });
        }
    }

    pub fn write(&self, mut data: &[u8]) -> Result<(), Error> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(Error::operation_invalid("console stream is closed"));
        }
        let deadline = Instant::now() + WRITE_TIMEOUT;
        while !data.is_empty() {
            match (&self.file).write(data) {
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Error::new(
                            oxvirt_api::ErrorCode::OperationTimeout,
                            oxvirt_api::ErrorDomain::Streams,
                            "Timed out during operation: console does not accept input",
                        ));
                    }
                    let _ = wait_fd(self.file.as_fd(), PollFlags::POLLOUT, left.as_millis().min(1000) as u16);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::system("cannot write to console", &e)),
            }
        }
        Ok(())
    }

    /// Stops forwarding without telling the client (it asked to stop, or is gone).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }
}
