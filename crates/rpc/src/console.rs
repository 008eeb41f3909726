//! A console stream: bytes both ways between a client and a domain's pty, framed as STREAM
//! messages on the serial of the `DOMAIN_OPEN_CONSOLE` call.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oxvirt_api::Error;

use crate::message::{Message, Status};
use crate::server::{stream_header, Sink};

/// How long a write to the pty may wait for room before the stream fails.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the reading thread looks at the closed flag.
const POLL_MS: i32 = 200;

pub struct ConsoleStream {
    file: File,
    proc_: i32,
    serial: u32,
    sink: Sink,
    closed: AtomicBool,
    started: Mutex<bool>,
}

fn wait_fd(fd: i32, events: i16, timeout_ms: i32) -> io::Result<bool> {
    let mut p = libc::pollfd { fd, events, revents: 0 };
    // SAFETY: `p` is a valid pollfd for the duration of the call and we pass a count of 1.
    let rc = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    match rc {
        -1 => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            }
        }
        0 => Ok(false),
        _ => Ok(true),
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
        let fd = file.as_raw_fd();
        // SAFETY: termios is plain data; tcgetattr fills it for a valid open fd.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd is open for the life of `file`; `t` is a valid termios to read into / from.
        if unsafe { libc::tcgetattr(fd, &mut t) } == 0 {
            // SAFETY: as above; cfmakeraw only edits the struct.
            unsafe {
                libc::cfmakeraw(&mut t);
                libc::tcsetattr(fd, libc::TCSADRAIN, &t);
            }
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
        let fd = self.file.as_raw_fd();
        while !self.closed.load(Ordering::Relaxed) {
            match wait_fd(fd, libc::POLLIN, POLL_MS) {
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
                    let _ = wait_fd(self.file.as_raw_fd(), libc::POLLOUT, left.as_millis().min(1000) as i32);
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
