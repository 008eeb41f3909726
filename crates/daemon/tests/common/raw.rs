//! Raw-wire test client for oxvirtd, and a way to run test code as an unprivileged user.
//!
//! [`RawClient`] speaks libvirt's RPC framing with `oxvirt_rpc`'s own types but hides nothing:
//! every reply comes back as a [`Reply`] (OK or ERROR, undecoded until asked), and arbitrary
//! bytes, partial frames and garbage can be sent. Keepalive pings are answered while waiting
//! for a reply; other asynchronous messages (events, stream data) are kept in `events`.
//!
//! ```ignore
//! use common::raw::{self, RawClient};
//! use oxvirt_rpc::protocol::{procs, StringRet};
//!
//! let mut c = RawClient::connect(&d.sock_ro())?;
//! c.open("test:///default")?.ok::<()>()?;                  // CONNECT_OPEN
//! let t: StringRet = c.call(procs::CONNECT_GET_TYPE, &())?.ok()?;
//! let r = c.call(procs::DOMAIN_DESTROY, &args)?;            // an ERROR reply is not an Err
//! assert_eq!(r.error().unwrap().code, oxvirt_api::ErrorCode::OperationDenied);
//! c.send_bytes(&raw::call_frame(procs::CONNECT_GET_TYPE, 9, &())[..10])?; // a partial frame
//! assert!(c.wait_closed(Duration::from_secs(30)));          // the server dropped us
//! ```
//!
//! Running as nobody: the test re-executes its own binary, filtered to itself, as uid/gid
//! 65534 with `OXVIRT_TEST_ROLE` set; in that child [`role`] returns the role, so the test
//! branches to its unprivileged part first thing. The daemon's socket directory must be
//! traversable by nobody: [`super::Daemon::allow_others`].
//!
//! ```ignore
//! #[test]
//! fn ro_socket_refuses_writes() {
//!     if let Some(role) = raw::role() {
//!         let sock = std::env::var("SOCK").unwrap();       // runs as nobody
//!         let mut c = RawClient::connect(sock.as_ref()).unwrap();
//!         ...
//!         return;
//!     }
//!     let d = Daemon::start();
//!     d.allow_others();
//!     raw::assert_as_nobody("ro_socket_refuses_writes", "client", &[("SOCK", d.sock_ro().to_str().unwrap())]);
//! }
//! ```

#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use oxvirt_rpc::message::{read_message, FrameError, Header, Message, MessageType, Status};
use oxvirt_rpc::protocol::{procs, ConnectOpenArgs, RemoteError, KEEPALIVE_PING, KEEPALIVE_PONG, KEEPALIVE_PROGRAM};
use oxvirt_rpc::server::keepalive_message;
use oxvirt_rpc::xdr::{Xdr, MESSAGE_MAX};

/// uid and gid of `nobody`.
pub const NOBODY: u32 = 65534;
/// Tells a re-executed test binary which part of the test to run.
pub const ROLE_ENV: &str = "OXVIRT_TEST_ROLE";

/// A reply to one call: the header and the undecoded body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub header: Header,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn is_ok(&self) -> bool {
        self.header.status == Status::Ok
    }

    /// Decodes an OK reply's body as `R`; an ERROR reply becomes `Err` with its message.
    pub fn ok<R: Xdr>(&self) -> Result<R, String> {
        if let Some(e) = self.error() {
            return Err(format!("error reply: {e} (code {:?})", e.code));
        }
        oxvirt_rpc::xdr::from_bytes(&self.body).map_err(|e| format!("decoding the reply: {e}"))
    }

    /// The decoded error of an ERROR reply (code, domain and message as the daemon sent them).
    pub fn error(&self) -> Option<oxvirt_api::Error> {
        self.remote_error().map(|e| (&e).into())
    }

    /// The raw `remote_error` of an ERROR reply.
    pub fn remote_error(&self) -> Option<RemoteError> {
        if self.header.status != Status::Error {
            return None;
        }
        oxvirt_rpc::xdr::from_bytes(&self.body).ok()
    }
}

/// The wire form (length word included) of a REMOTE call.
pub fn call_frame<A: Xdr>(proc_: i32, serial: u32, args: &A) -> Vec<u8> {
    Message::new(Header::remote_call(proc_, serial), args).to_frame()
}

/// One client connection to a daemon socket, with a read/write timeout (30 s by default).
pub struct RawClient {
    pub sock: UnixStream,
    serial: u32,
    /// Asynchronous messages (events, stream data) that arrived while waiting for replies.
    pub events: Vec<Message>,
}

impl RawClient {
    pub fn connect(path: &Path) -> io::Result<RawClient> {
        Self::connect_timeout(path, Duration::from_secs(30))
    }

    pub fn connect_timeout(path: &Path, timeout: Duration) -> io::Result<RawClient> {
        let sock = UnixStream::connect(path)?;
        let c = RawClient { sock, serial: 0, events: Vec::new() };
        c.set_timeout(timeout)?;
        Ok(c)
    }

    pub fn set_timeout(&self, t: Duration) -> io::Result<()> {
        self.sock.set_read_timeout(Some(t))?;
        self.sock.set_write_timeout(Some(t))
    }

    /// The serial the next [`call`](Self::call) will use.
    pub fn next_serial(&self) -> u32 {
        self.serial.wrapping_add(1)
    }

    /// Sends a REMOTE call and waits for its reply. Transport failures (the server closed the
    /// connection, a timeout, a malformed frame) are `Err`; an ERROR reply is an `Ok(Reply)`.
    pub fn call<A: Xdr>(&mut self, proc_: i32, args: &A) -> io::Result<Reply> {
        self.serial = self.serial.wrapping_add(1);
        let serial = self.serial;
        self.send_bytes(&call_frame(proc_, serial, args))?;
        self.wait_reply(serial)
    }

    /// Waits for the reply with `serial` (after a call sent by hand with [`send_bytes`](Self::send_bytes)).
    pub fn wait_reply(&mut self, serial: u32) -> io::Result<Reply> {
        loop {
            let m = self
                .read_message()?
                .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "server closed the connection"))?;
            if m.header.prog == KEEPALIVE_PROGRAM {
                if m.header.proc_ == KEEPALIVE_PING {
                    self.send_bytes(&keepalive_message(KEEPALIVE_PONG).to_frame())?;
                }
                continue;
            }
            if m.header.mtype == MessageType::Reply && m.header.serial == serial {
                return Ok(Reply { header: m.header, body: m.body });
            }
            self.events.push(m);
        }
    }

    /// `CONNECT_OPEN` of `uri` with no flags.
    pub fn open(&mut self, uri: &str) -> io::Result<Reply> {
        self.open_flags(uri, 0)
    }

    pub fn open_flags(&mut self, uri: &str, flags: u32) -> io::Result<Reply> {
        self.call(procs::CONNECT_OPEN, &ConnectOpenArgs { name: Some(uri.to_string()), flags })
    }

    /// Writes arbitrary bytes (whole, partial or malformed frames).
    pub fn send_bytes(&mut self, b: &[u8]) -> io::Result<()> {
        self.sock.write_all(b)
    }

    /// Sends the first `n` bytes of a call frame, leaving it incomplete.
    pub fn send_partial<A: Xdr>(&mut self, proc_: i32, args: &A, n: usize) -> io::Result<()> {
        self.serial = self.serial.wrapping_add(1);
        let f = call_frame(proc_, self.serial, args);
        self.send_bytes(&f[..n.min(f.len())])
    }

    /// Sends only a length word declaring a frame of `len` bytes (and `body` after it), as a
    /// client starting a big message would.
    pub fn send_declared(&mut self, len: u32, body: &[u8]) -> io::Result<()> {
        let mut b = len.to_be_bytes().to_vec();
        b.extend_from_slice(body);
        self.send_bytes(&b)
    }

    /// Reads one whole message; `Ok(None)` at a clean end of stream.
    pub fn read_message(&mut self) -> io::Result<Option<Message>> {
        read_message(&mut self.sock, MESSAGE_MAX).map_err(|e| match e {
            FrameError::Read(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
        })
    }

    /// Waits up to `limit` for the server to close the connection (EOF or reset), discarding
    /// whatever it sends meanwhile. False if it is still open at the deadline.
    pub fn wait_closed(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let _ = self.sock.set_read_timeout(Some(left.min(Duration::from_millis(500))));
            match self.sock.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => return true,
            }
        }
    }
}

/// In a test binary re-executed by [`run_as_nobody`]: the role it was given; `None` in the
/// parent (normal) run.
pub fn role() -> Option<String> {
    std::env::var(ROLE_ENV).ok()
}

/// Re-runs test `test_name` of this test binary as nobody (uid/gid 65534, no supplementary
/// groups) with `OXVIRT_TEST_ROLE=role` and `env`, and returns its output once it exits (killed
/// after `limit`). The parent must be root.
pub fn run_as_nobody(test_name: &str, role: &str, env: &[(&str, &str)], limit: Duration) -> Output {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new(exe);
    cmd.args([test_name, "--exact", "--nocapture", "--include-ignored", "--test-threads", "1"])
        .env(ROLE_ENV, role)
        .env("HOME", "/nonexistent")
        .uid(NOBODY)
        .gid(NOBODY)
        .current_dir("/");
    for (k, v) in env {
        cmd.env(k, v);
    }
    super::run_timeout(&mut cmd, limit)
}

/// [`run_as_nobody`] with a 120 s limit; panics with the child's output unless it passed.
pub fn assert_as_nobody(test_name: &str, role: &str, env: &[(&str, &str)]) -> Output {
    let o = run_as_nobody(test_name, role, env, Duration::from_secs(120));
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "test {test_name} as nobody ({role}) failed: {}\nstdout:\n{out}\nstderr:\n{err}",
        o.status
    );
    // A filter that matched nothing also exits 0: make sure the test really ran.
    assert!(out.contains("1 passed"), "test {test_name} as nobody ({role}) did not run:\n{out}\n{err}");
    o
}

/// A test binary re-executed as another user that runs alongside the parent: it reports with
/// [`child_say`] and waits with [`child_wait`]; the parent reads with
/// [`wait_for`](Peer::wait_for) and answers with [`tell`](Peer::tell).
///
/// ```ignore
/// // parent                                         // child (raw::role() is Some)
/// let mut p = raw::spawn_as(raw::NOBODY, "t", "hold", &env);
/// p.wait_for("held", Duration::from_secs(60));        raw::child_say("held", "64");
/// /* check the daemon while the child holds */       raw::child_wait();
/// p.tell("go");  p.finish(Duration::from_secs(60));
/// ```
pub struct Peer {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
    /// Everything the child printed so far (for failure messages).
    pub seen: Vec<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

const SAY: &str = "OXVIRT-SAY ";

/// Spawns test `test_name` of this binary as `uid` (gid the same) with `OXVIRT_TEST_ROLE=role`.
pub fn spawn_as(uid: u32, test_name: &str, role: &str, env: &[(&str, &str)]) -> Peer {
    use std::io::BufRead;
    use std::process::Stdio;
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new(exe);
    cmd.args([test_name, "--exact", "--nocapture", "--include-ignored", "--test-threads", "1"])
        .env(ROLE_ENV, role)
        .env("HOME", "/nonexistent")
        .uid(uid)
        .gid(uid)
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn test binary as another user");
    let stdin = child.stdin.take();
    let out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    Peer { child, stdin, lines, seen: Vec::new(), stderr: Some(stderr) }
}

impl Peer {
    /// Waits for the child's [`child_say`] of `key` and returns its value; panics (with the
    /// child's output) at the deadline or if the child ends first.
    pub fn wait_for(&mut self, key: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if let Some((k, v)) = l.find(SAY).and_then(|i| l[i + SAY.len()..].split_once('=')) {
                        if k == key {
                            return v.to_string();
                        }
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    let err = self.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default();
                    panic!("child never said {key:?}; stdout:\n{}\nstderr:\n{err}", self.seen.join("\n"));
                }
            }
        }
    }

    /// Sends one line to the child's [`child_wait`].
    pub fn tell(&mut self, line: &str) {
        if let Some(s) = self.stdin.as_mut() {
            let _ = writeln!(s, "{line}");
            let _ = s.flush();
        }
    }

    /// Closes the child's stdin, waits (bounded) and asserts it passed; returns its stdout lines.
    pub fn finish(mut self, limit: Duration) -> Vec<String> {
        self.stdin = None;
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                break Some(st);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(l);
        }
        let err = self.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default();
        let out = self.seen.join("\n");
        match status {
            Some(st) if st.success() && out.contains("1 passed") => std::mem::take(&mut self.seen),
            st => panic!("child failed ({st:?}); stdout:\n{out}\nstderr:\n{err}"),
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// In the child: tells the parent's [`Peer::wait_for`] `key` = `value`.
pub fn child_say(key: &str, value: impl std::fmt::Display) {
    // On a line of its own: libtest's "test NAME ... " has no newline yet.
    println!("\n{SAY}{key}={value}");
    let _ = io::stdout().flush();
}

/// In the child: waits for the parent's next [`Peer::tell`] (or its end); returns the line.
pub fn child_wait() -> String {
    let mut l = String::new();
    let _ = io::stdin().read_line(&mut l);
    l.trim().to_string()
}
