//! A small blocking QMP client.
//!
//! One command is in flight at a time; every command carries an `id` so that a reply
//! arriving after its command already timed out is recognised and dropped instead of
//! being mistaken for the answer to the next command. Events that arrive while waiting
//! are queued for [`Qmp::take_events`] / [`Qmp::wait_event`].

mod framing;

pub use framing::{parse_message, LineBuffer, Message, QmpEvent, ReplyError, MAX_LINE};

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{
    connect, send, sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr,
};
use serde_json::{json, Value};

/// Used by [`Qmp::execute`] unless changed with [`Qmp::set_command_timeout`].
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Events kept before the oldest are dropped; a guest can emit events faster than a
/// caller that never looks at them consumes them.
pub const MAX_QUEUED_EVENTS: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    #[error("connecting to QMP socket {path}: {source}")]
    Connect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("QMP greeting: {0}")]
    Greeting(String),
    #[error("sending QMP command {cmd}: {source}")]
    Send {
        cmd: String,
        #[source]
        source: io::Error,
    },
    #[error("receiving from QMP socket: {0}")]
    Receive(#[source] io::Error),
    /// QEMU answered with `{"error": ...}`.
    #[error("QMP command {cmd} failed: {class}: {desc}")]
    Command { cmd: String, class: String, desc: String },
    #[error("QMP command {cmd} got no reply within {timeout:?}")]
    Timeout { cmd: String, timeout: Duration },
    #[error("QMP event {name} did not arrive within {timeout:?}")]
    EventTimeout { name: String, timeout: Duration },
    /// The peer closed the socket (QEMU exited or crashed). The connection is unusable
    /// afterwards; every later call fails the same way without touching the socket.
    #[error("QMP connection lost while {during}")]
    Disconnected { during: String },
}

impl QmpError {
    /// The QMP error class (e.g. `GenericError`, `CommandNotFound`) of a failed command.
    pub fn class(&self) -> Option<&str> {
        match self {
            QmpError::Command { class, .. } => Some(class),
            _ => None,
        }
    }
}

/// A blocking `connect` to a unix socket whose listen backlog is full (QEMU serves one
/// monitor client at a time; others queue) waits indefinitely, so connect non-blocking
/// and retry until `deadline`.
fn connect_unix(path: &Path, deadline: Instant) -> io::Result<UnixStream> {
    let fd = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK, None)?;
    let addr = UnixAddr::new(path)?;
    loop {
        match connect(fd.as_raw_fd(), &addr) {
            Ok(()) => break,
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(Errno::EAGAIN) => {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "listen backlog full until the deadline"))
            }
            Err(e) => return Err(e.into()),
        }
    }
    let stream = UnixStream::from(fd);
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// A negotiated QMP connection.
#[derive(Debug)]
pub struct Qmp {
    stream: UnixStream,
    lines: LineBuffer,
    chunk: Vec<u8>,
    events: VecDeque<QmpEvent>,
    next_id: u64,
    command_timeout: Duration,
    greeting: Value,
    disconnected: bool,
}

impl Qmp {
    /// Connects, reads the greeting and leaves capabilities-negotiation mode.
    /// `timeout` bounds the whole handshake. Does not wait for the socket to appear.
    pub fn connect(path: impl AsRef<Path>, timeout: Duration) -> Result<Qmp, QmpError> {
        let path = path.as_ref();
        let deadline = Instant::now() + timeout;
        let stream =
            connect_unix(path, deadline).map_err(|source| QmpError::Connect { path: path.to_owned(), source })?;
        Self::handshake(stream, deadline.saturating_duration_since(Instant::now()))
    }

    /// Like [`Qmp::connect`] on an already connected stream, e.g. one end of a
    /// socketpair whose other end was handed to QEMU as a chardev fd.
    pub fn from_stream(stream: UnixStream, timeout: Duration) -> Result<Qmp, QmpError> {
        Self::handshake(stream, timeout)
    }

    fn handshake(stream: UnixStream, timeout: Duration) -> Result<Qmp, QmpError> {
        let deadline = Instant::now() + timeout;
        let mut qmp = Qmp {
            stream,
            lines: LineBuffer::default(),
            chunk: vec![0; 64 * 1024],
            events: VecDeque::new(),
            next_id: 1,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            greeting: Value::Null,
            disconnected: false,
        };
        loop {
            let msg = match qmp.read_message(deadline, "waiting for the QMP greeting")? {
                Some(Ok(msg)) => msg,
                Some(Err(garbage)) => return Err(QmpError::Greeting(garbage)),
                None => return Err(QmpError::Greeting(format!("no greeting within {timeout:?}"))),
            };
            match msg {
                Message::Greeting(g) => {
                    qmp.greeting = g;
                    break;
                }
                Message::Event(ev) => qmp.queue_event(ev),
                other => return Err(QmpError::Greeting(format!("expected greeting, got {other:?}"))),
            }
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        qmp.run("qmp_capabilities", None, None, remaining.max(Duration::from_millis(1)))?;
        Ok(qmp)
    }

    /// The `QMP` object of the greeting (`version`, `capabilities`).
    pub fn greeting(&self) -> &Value {
        &self.greeting
    }

    /// `(major, minor, micro)` from the greeting.
    pub fn version(&self) -> Option<(u64, u64, u64)> {
        let q = self.greeting.get("version")?.get("qemu")?;
        Some((q.get("major")?.as_u64()?, q.get("minor")?.as_u64()?, q.get("micro")?.as_u64()?))
    }

    pub fn set_command_timeout(&mut self, timeout: Duration) {
        self.command_timeout = timeout;
    }

    pub fn command_timeout(&self) -> Duration {
        self.command_timeout
    }

    /// False once the peer has gone away.
    pub fn is_connected(&self) -> bool {
        !self.disconnected
    }

    /// Runs `cmd` and returns its `return` value. `args` must be a JSON object if given.
    pub fn execute(&mut self, cmd: &str, args: Option<Value>) -> Result<Value, QmpError> {
        self.run(cmd, args, None, self.command_timeout)
    }

    /// [`Qmp::execute`] with an explicit timeout for this one command.
    pub fn execute_timeout(&mut self, cmd: &str, args: Option<Value>, timeout: Duration) -> Result<Value, QmpError> {
        self.run(cmd, args, None, timeout)
    }

    /// Runs `cmd` with `fd` attached as SCM_RIGHTS, for `getfd` / `add-fd`, which take
    /// the descriptor that arrived with the command. The caller keeps ownership of `fd`
    /// (the kernel duplicates it into QEMU).
    pub fn execute_with_fd(&mut self, cmd: &str, args: Option<Value>, fd: BorrowedFd<'_>) -> Result<Value, QmpError> {
        self.run(cmd, args, Some(fd), self.command_timeout)
    }

    /// Events received so far, oldest first.
    pub fn take_events(&mut self) -> Vec<QmpEvent> {
        self.events.drain(..).collect()
    }

    /// Returns the first queued event called `name`, reading from the socket until one
    /// arrives or `timeout` passes. Other events stay queued in order.
    pub fn wait_event(&mut self, name: &str, timeout: Duration) -> Result<QmpEvent, QmpError> {
        if let Some(pos) = self.events.iter().position(|e| e.name == name) {
            if let Some(ev) = self.events.remove(pos) {
                return Ok(ev);
            }
        }
        let deadline = Instant::now() + timeout;
        let during = format!("waiting for event {name}");
        loop {
            match self.read_skipping_garbage(deadline, &during)? {
                None => return Err(QmpError::EventTimeout { name: name.to_owned(), timeout }),
                Some(Message::Event(ev)) if ev.name == name => return Ok(ev),
                Some(Message::Event(ev)) => self.queue_event(ev),
                Some(other) => {
                    tracing::debug!(?other, "ignoring QMP message while waiting for event")
                }
            }
        }
    }

    /// The next event of any kind: a queued one, or one read within `timeout` (`Ok(None)` when
    /// none came). A closed connection is `Err(Disconnected)`, which is how a watcher learns that
    /// QEMU exited.
    pub fn next_event(&mut self, timeout: Duration) -> Result<Option<QmpEvent>, QmpError> {
        if let Some(ev) = self.events.pop_front() {
            return Ok(Some(ev));
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.read_skipping_garbage(deadline, "waiting for an event")? {
                None => return Ok(None),
                Some(Message::Event(ev)) => return Ok(Some(ev)),
                Some(other) => tracing::debug!(?other, "ignoring QMP message while waiting for events"),
            }
        }
    }

    fn run(
        &mut self,
        cmd: &str,
        args: Option<Value>,
        fd: Option<BorrowedFd<'_>>,
        timeout: Duration,
    ) -> Result<Value, QmpError> {
        if self.disconnected {
            return Err(QmpError::Disconnected { during: format!("sending {cmd} (connection already closed)") });
        }
        let deadline = Instant::now() + timeout;
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({ "execute": cmd, "id": id });
        if let Some(args) = args {
            msg["arguments"] = args;
        }
        let mut bytes = msg.to_string().into_bytes();
        bytes.push(b'\n');
        self.send_all(cmd, &bytes, fd, deadline, timeout)?;

        let want = Value::from(id);
        let during = format!("waiting for the reply to {cmd}");
        loop {
            match self.read_skipping_garbage(deadline, &during)? {
                None => return Err(QmpError::Timeout { cmd: cmd.to_owned(), timeout }),
                Some(Message::Event(ev)) => self.queue_event(ev),
                // A reply without id can only be QEMU failing to parse what we sent,
                // which, with one command in flight, is the current one.
                Some(Message::Reply { id, result }) if id.is_none() || id.as_ref() == Some(&want) => {
                    return result.map_err(|e| QmpError::Command { cmd: cmd.to_owned(), class: e.class, desc: e.desc });
                }
                Some(Message::Reply { id, .. }) => {
                    tracing::debug!(?id, cmd, "dropping reply to an earlier, timed-out command");
                }
                Some(other) => tracing::debug!(?other, "ignoring unexpected QMP message"),
            }
        }
    }

    fn send_all(
        &mut self,
        cmd: &str,
        bytes: &[u8],
        fd: Option<BorrowedFd<'_>>,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(), QmpError> {
        let raw = self.stream.as_raw_fd();
        let mut sent = 0;
        let mut fd_pending = fd.map(|f| f.as_raw_fd());
        while sent < bytes.len() {
            let now = Instant::now();
            if now >= deadline {
                return Err(QmpError::Timeout { cmd: cmd.to_owned(), timeout });
            }
            self.stream
                .set_write_timeout(Some(deadline - now))
                .map_err(|source| QmpError::Send { cmd: cmd.to_owned(), source })?;
            let rest = &bytes[sent..];
            let res = match fd_pending {
                Some(pass) => {
                    let fds = [pass];
                    let cmsg = [ControlMessage::ScmRights(&fds)];
                    sendmsg::<UnixAddr>(raw, &[IoSlice::new(rest)], &cmsg, MsgFlags::MSG_NOSIGNAL, None)
                }
                None => send(raw, rest, MsgFlags::MSG_NOSIGNAL),
            };
            match res {
                Ok(n) => {
                    sent += n;
                    // The descriptor travels with the first byte that was accepted.
                    if n > 0 {
                        fd_pending = None;
                    }
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => {} // write timeout hit; the deadline check decides
                Err(Errno::EPIPE | Errno::ECONNRESET | Errno::ENOTCONN) => {
                    self.disconnected = true;
                    return Err(QmpError::Disconnected { during: format!("sending {cmd}") });
                }
                Err(e) => return Err(QmpError::Send { cmd: cmd.to_owned(), source: io::Error::from(e) }),
            }
        }
        Ok(())
    }

    /// Once negotiated, a line that is not JSON is logged and skipped rather than failing
    /// the command in flight: replies are matched by id, so the stream stays usable.
    fn read_skipping_garbage(&mut self, deadline: Instant, during: &str) -> Result<Option<Message>, QmpError> {
        loop {
            match self.read_message(deadline, during)? {
                Some(Err(garbage)) => tracing::warn!("skipping non-QMP input: {garbage}"),
                Some(Ok(msg)) => return Ok(Some(msg)),
                None => return Ok(None),
            }
        }
    }

    /// Next message (`Err` inside for a line that is not QMP), or `Ok(None)` once
    /// `deadline` has passed.
    fn read_message(&mut self, deadline: Instant, during: &str) -> Result<Option<Result<Message, String>>, QmpError> {
        loop {
            match self.lines.next_line() {
                Ok(Some(line)) => match parse_message(&line) {
                    Ok(Some(msg)) => return Ok(Some(Ok(msg))),
                    Ok(None) => continue,
                    Err(e) => return Ok(Some(Err(e))),
                },
                Ok(None) => {}
                Err(e) => return Ok(Some(Err(format!("message longer than {} bytes", e.limit)))),
            }
            if self.disconnected {
                return Err(QmpError::Disconnected { during: during.to_owned() });
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            self.stream.set_read_timeout(Some(deadline - now)).map_err(QmpError::Receive)?;
            match self.stream.read(&mut self.chunk) {
                Ok(0) => {
                    self.disconnected = true;
                    return Err(QmpError::Disconnected { during: during.to_owned() });
                }
                Ok(n) => self.lines.push(&self.chunk[..n]),
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted => {}
                    io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => {
                        self.disconnected = true;
                        return Err(QmpError::Disconnected { during: during.to_owned() });
                    }
                    _ => return Err(QmpError::Receive(e)),
                },
            }
        }
    }

    fn queue_event(&mut self, ev: QmpEvent) {
        if self.events.len() >= MAX_QUEUED_EVENTS {
            if let Some(old) = self.events.pop_front() {
                tracing::warn!(event = %old.name, "QMP event queue full, dropping oldest");
            }
        }
        self.events.push_back(ev);
    }
}
