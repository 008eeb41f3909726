//! A blocking client for one connection: enough to drive the daemon from Rust tests and tools.
//! Calls are sequential; events and keepalive pings that arrive meanwhile are set aside or
//! answered.

use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::message::{read_message, FrameError, Header, Message, MessageType, Status};
use crate::protocol::*;
use crate::server::keepalive_message;
use crate::xdr::{self, Xdr, MESSAGE_MAX};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connecting to {path}: {err}")]
    Connect { path: String, err: io::Error },
    #[error("sending a call: {0}")]
    Send(io::Error),
    #[error("receiving a reply: {0}")]
    Receive(#[from] FrameError),
    #[error("the server closed the connection")]
    Closed,
    #[error("decoding a reply: {0}")]
    Decode(#[from] xdr::XdrError),
    #[error("{0}")]
    Remote(oxvirt_api::Error),
}

pub struct Client {
    sock: UnixStream,
    serial: u32,
    /// Asynchronous messages (events) received while waiting for replies.
    pub events: Vec<Message>,
}

impl Client {
    /// Connects with a timeout on every read and write, so a stuck server fails the caller.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Client, ClientError> {
        let sock =
            UnixStream::connect(path).map_err(|err| ClientError::Connect { path: path.display().to_string(), err })?;
        let set = |s: &UnixStream| -> io::Result<()> {
            s.set_read_timeout(Some(timeout))?;
            s.set_write_timeout(Some(timeout))
        };
        set(&sock).map_err(|err| ClientError::Connect { path: path.display().to_string(), err })?;
        Ok(Client { sock, serial: 0, events: Vec::new() })
    }

    /// Calls a REMOTE procedure; an ERROR reply becomes [`ClientError::Remote`].
    pub fn call<A: Xdr, R: Xdr>(&mut self, proc_: i32, args: &A) -> Result<R, ClientError> {
        self.serial = self.serial.wrapping_add(1);
        let header = Header::remote_call(proc_, self.serial);
        self.sock.write_all(&Message::new(header, args).to_frame()).map_err(ClientError::Send)?;
        loop {
            let m = read_message(&mut self.sock, MESSAGE_MAX)?.ok_or(ClientError::Closed)?;
            let h = &m.header;
            if h.prog == KEEPALIVE_PROGRAM {
                if h.proc_ == KEEPALIVE_PING {
                    self.sock.write_all(&keepalive_message(KEEPALIVE_PONG).to_frame()).map_err(ClientError::Send)?;
                }
                continue;
            }
            if h.mtype == MessageType::Reply && h.serial == self.serial {
                if h.status == Status::Error {
                    let e: RemoteError = m.payload()?;
                    return Err(ClientError::Remote((&e).into()));
                }
                return Ok(m.payload()?);
            }
            self.events.push(m);
        }
    }

    /// Opens a hypervisor connection on the server (`virConnectOpen`).
    pub fn open(&mut self, uri: &str, flags: u32) -> Result<(), ClientError> {
        self.call(procs::CONNECT_OPEN, &ConnectOpenArgs { name: Some(uri.to_string()), flags })
    }

    /// Waits for the next asynchronous message (event) from the server.
    pub fn next_event(&mut self) -> Result<Message, ClientError> {
        if !self.events.is_empty() {
            return Ok(self.events.remove(0));
        }
        loop {
            let m = read_message(&mut self.sock, MESSAGE_MAX)?.ok_or(ClientError::Closed)?;
            if m.header.prog == KEEPALIVE_PROGRAM {
                continue;
            }
            return Ok(m);
        }
    }

    /// Sends raw bytes (for tests of malformed input).
    pub fn send_raw(&mut self, b: &[u8]) -> io::Result<()> {
        self.sock.write_all(b)
    }

    pub fn read_raw_message(&mut self) -> Result<Option<Message>, ClientError> {
        Ok(read_message(&mut self.sock, MESSAGE_MAX)?)
    }
}
