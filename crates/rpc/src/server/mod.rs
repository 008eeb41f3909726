//! The server side of one client connection: decodes calls, runs them on an
//! [`oxvirt_api::Connect`], encodes replies, and pushes events and console data through a sink.
//! Transport (sockets, threads, keepalive timers) is the daemon's business; a [`Session`] only
//! turns messages into messages, so it can be driven from tests without a socket.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use oxvirt_api::flags::from_wire;
use oxvirt_api::{
    flags, Connect, ConnectListAllDomainsFlags, Domain, DomainCreateFlags, DomainRef, DomainUndefineFlags, Error,
    ErrorCode, ErrorDomain, Network, NetworkRef, StoragePool, StorageVol,
};

use crate::console::ConsoleStream;
use crate::message::{Header, Message, MessageType, Status};
use crate::protocol::*;
use crate::xdr::{self, Array, Xdr};

mod connect;
mod domain;
mod network;
mod nodedev;
mod storage;

type Result<T, E = Error> = std::result::Result<T, E>;

/// Where a session sends messages it originates (events, stream data, keepalive answers).
/// Returns false when the client is gone or too far behind; the message is then dropped.
pub type Sink = Arc<dyn Fn(Message) -> bool + Send + Sync>;

/// How a session was accepted.
#[derive(Debug, Clone, Default)]
pub struct SessionConfig {
    /// Accepted on the read-only socket: every connection it opens is read-only.
    pub readonly: bool,
    /// URI to open when the client asks for the default (empty or absent name).
    pub default_uri: Option<String>,
    /// URIs the daemon's administrator configured (hosted drivers); served even where a
    /// client could not name them, e.g. an embedded root (see [`check_served_uri`]).
    pub configured_uris: Vec<String>,
    /// Log this client's routine events (connection opened) at debug level: it is one of many
    /// unprivileged clients over the daemon's log budget.
    pub quiet: bool,
}

/// Whether a client may open `uri` through the daemon. The daemon runs as root and its
/// read-only socket is open to every local user, so a client names no directory the daemon
/// would trust (embedded roots), no file it would read (`test:///PATH`, read-write clients
/// only: they are root-equivalent, as in libvirt), and no host it would connect to.
pub fn check_served_uri(uri: &str, readonly: bool, configured: &[String]) -> Result<()> {
    if configured.iter().any(|c| c == uri) {
        return Ok(());
    }
    let u = oxvirt_api::ConnectUri::parse(uri)?;
    let denied = |why: String| Err(Error::new(ErrorCode::OperationDenied, ErrorDomain::Rpc, why));
    if u.transport.is_some() || u.host.is_some() || u.user.is_some() {
        return denied(format!("oxvirtd serves only local URIs and relays to no other daemon or host: '{uri}'"));
    }
    let root = nix::unistd::geteuid().is_root();
    // A hosted hypervisor URI on the same layout (qemu:///system for network:///system or
    // storage:///system) runs that layout's network and storage drivers already, so opening
    // them starts nothing (no autostart).
    let peer_hosted = configured
        .iter()
        .filter_map(|c| oxvirt_api::ConnectUri::parse(c).ok())
        .any(|c| c.transport.is_none() && c.host.is_none() && c.path == u.path && c.driver != "test");
    match (u.driver.as_str(), u.path.as_str()) {
        ("test", "/default") => Ok(()),
        ("test", _) if readonly => {
            denied(format!("read-only clients may not open '{uri}': the daemon would read that file for them"))
        }
        ("test", _) => Ok(()),
        // Opening a driver the daemon does not host yet starts it (autostart, watchers): a side
        // effect a read-only client must not cause.
        ("network" | "storage", "/system" | "/session") if readonly && peer_hosted => Ok(()),
        ("qemu" | "network" | "storage", "/system" | "/session") if readonly => Err(Error::new(
            ErrorCode::NoConnect,
            ErrorDomain::Rpc,
            format!("'{uri}' is not hosted by this daemon (host_uris), so read-only clients cannot open it"),
        )),
        ("qemu" | "network" | "storage", "/system") if root => Ok(()),
        ("qemu" | "network" | "storage", "/session") if !root => Ok(()),
        ("qemu" | "network" | "storage", "/system" | "/session") => Err(Error::new(
            ErrorCode::NoConnect,
            ErrorDomain::Rpc,
            format!("this daemon runs as {}, so it serves {} and not '{uri}'", if root { "root" } else { "a user" }, if root { "qemu:///system" } else { "qemu:///session" }),
        )),
        ("qemu" | "network" | "storage", "/embed") => denied(format!(
            "clients may not open embedded roots through the daemon ('{uri}'); its administrator can host one (host_uris or --default-uri)"
        )),
        _ => Err(Error::new(ErrorCode::NoConnect, ErrorDomain::Rpc, format!("no connection driver available for '{uri}' in this daemon"))),
    }
}

pub struct Session {
    cfg: SessionConfig,
    conn: RwLock<Option<Connect>>,
    sink: Sink,
    /// Our callback ids → the driver's registration (None for event kinds we never emit).
    events: Mutex<HashMap<i32, Option<i32>>>,
    next_callback: AtomicI32,
    keepalive: AtomicBool,
    streams: Mutex<HashMap<u32, Arc<ConsoleStream>>>,
}

/// Event callbacks one connection may hold: each costs memory and a fan-out on every event,
/// and any local user can register them through the read-only socket.
pub const MAX_EVENT_CALLBACKS: usize = 256;

fn rpc_error(msg: impl Into<String>) -> Error {
    Error::new(ErrorCode::Rpc, ErrorDomain::Rpc, msg)
}

fn decode_error(e: xdr::XdrError) -> Error {
    rpc_error(format!("Unable to decode message payload: {e}"))
}

/// Decodes the arguments, runs the procedure, encodes its reply.
fn run<A: Xdr, R: Xdr>(body: &[u8], f: impl FnOnce(A) -> Result<R>) -> Result<Vec<u8>> {
    let a: A = xdr::from_bytes(body).map_err(decode_error)?;
    Ok(xdr::to_bytes(&f(a)?))
}

fn int(b: bool) -> IntRet {
    IntRet { value: b as i32 }
}

fn list_limit(n: usize, max: usize, what: &str) -> Result<()> {
    if n > max {
        return Err(rpc_error(format!("too many {what} '{n}' for limit '{max}'")));
    }
    Ok(())
}

impl Session {
    pub fn new(cfg: SessionConfig, sink: Sink) -> Session {
        Session {
            cfg,
            conn: RwLock::new(None),
            sink,
            events: Mutex::new(HashMap::new()),
            next_callback: AtomicI32::new(0),
            keepalive: AtomicBool::new(false),
            streams: Mutex::new(HashMap::new()),
        }
    }

    /// The client asked for keepalive (it will answer our pings).
    pub fn keepalive_requested(&self) -> bool {
        self.keepalive.load(Ordering::Relaxed)
    }

    /// Releases the connection, its event registrations and streams (client gone or closed).
    pub fn close(&self) {
        for (_, s) in self.streams.lock().unwrap_or_else(|e| e.into_inner()).drain() {
            s.close();
        }
        let conn = self.conn.write().unwrap_or_else(|e| e.into_inner()).take();
        let ids: Vec<Option<i32>> =
            self.events.lock().unwrap_or_else(|e| e.into_inner()).drain().map(|(_, v)| v).collect();
        if let Some(c) = conn {
            for id in ids.into_iter().flatten() {
                let _ = c.domain_event_deregister(id);
            }
        }
    }

    /// Installs an already open connection, as if the client had opened it (tests, embedding).
    pub fn set_connection(&self, c: Connect) {
        *self.conn.write().unwrap_or_else(|e| e.into_inner()) = Some(c);
    }

    fn conn(&self) -> Result<Connect> {
        self.conn.read().unwrap_or_else(|e| e.into_inner()).clone().ok_or_else(|| {
            Error::new(ErrorCode::InternalError, ErrorDomain::Rpc, "internal error: hypervisor connection not open")
        })
    }

    /// The call's domain: the handle the wire names (name, UUID, id), with no driver lookup per
    /// call, as libvirt's `get_nonnull_domain`. Every driver checks a handle's UUID where it acts
    /// on it (the QEMU driver against its store, the test driver by UUID), so a stale or forged
    /// handle still answers "no domain".
    fn dom(&self, d: &NonnullDomain) -> Result<Domain> {
        Ok(self.conn()?.domain_handle(DomainRef { name: d.name.clone(), uuid: d.uuid, id: d.id }))
    }
    /// The call's network, from the wire as [`Session::dom`]: the network drivers check its UUID.
    fn net(&self, n: &NonnullNetwork) -> Result<Network> {
        Ok(self.conn()?.network_handle(NetworkRef { name: n.name.clone(), uuid: n.uuid }))
    }
    /// Looked up: the test driver finds pools by name alone, so a lookup by UUID is what makes a
    /// stale handle answer "no pool".
    fn pool(&self, p: &NonnullStoragePool) -> Result<StoragePool> {
        self.conn()?.lookup_storage_pool_by_uuid(&p.uuid)
    }
    fn vol(&self, v: &NonnullStorageVol) -> Result<StorageVol> {
        self.conn()?.lookup_storage_pool_by_name(&v.pool)?.lookup_volume_by_name(&v.name)
    }

    /// Handles one incoming message; answers go through the sink, in order with everything else
    /// the session sends. CALLs may take as long as the driver does, so callers run them off
    /// the reading thread; everything else is quick.
    pub fn handle(&self, msg: Message) {
        let h = &msg.header;
        let reply = if h.prog == KEEPALIVE_PROGRAM {
            (h.proc_ == KEEPALIVE_PING && h.mtype == MessageType::Message).then(|| keepalive_message(KEEPALIVE_PONG))
        } else {
            match h.mtype {
                MessageType::Call => Some(self.call(&msg)),
                MessageType::Stream if h.prog == REMOTE_PROGRAM => self.stream_message(&msg),
                MessageType::CallWithFds => {
                    Some(error_reply(h, &rpc_error("file descriptor passing is not supported")))
                }
                _ => None,
            }
        };
        let Some(reply) = reply else { return };
        let opened_stream = reply.header.mtype == MessageType::Reply && reply.header.status == Status::Ok;
        let serial = reply.header.serial;
        (self.sink)(reply);
        if opened_stream {
            // Data may flow only once the client has seen the call succeed.
            let s = self.streams.lock().unwrap_or_else(|e| e.into_inner()).get(&serial).cloned();
            if let Some(s) = s {
                s.start();
            }
        }
    }

    /// Whether a message must be run off the reading thread (it may block in the driver).
    pub fn is_slow(msg: &Message) -> bool {
        msg.header.mtype == MessageType::Call
    }

    fn call(&self, msg: &Message) -> Message {
        let h = &msg.header;
        if h.prog != REMOTE_PROGRAM || h.vers != REMOTE_VERSION {
            return error_reply(h, &rpc_error(format!("Cannot find program {} version {}", h.prog, h.vers)));
        }
        if h.status != Status::Ok {
            return error_reply(h, &rpc_error(format!("Unexpected message status {}", h.status as i32)));
        }
        const PAYLOAD_MAX: usize = xdr::MESSAGE_MAX - crate::message::LEN_SIZE - crate::message::HEADER_SIZE;
        match self.dispatch(h, &msg.body) {
            Ok(body) if body.len() > PAYLOAD_MAX => error_reply(
                h,
                &rpc_error(format!("reply of {} bytes exceeds the protocol's limit of {PAYLOAD_MAX}", body.len())),
            ),
            Ok(body) => Message { header: h.reply(Status::Ok), body },
            Err(e) => {
                tracing::debug!(proc = proc_name(h.proc_), serial = h.serial, error = %e, "call failed");
                error_reply(h, &e)
            }
        }
    }

    /// Runs one call; the procedures are grouped by the object they act on.
    fn dispatch(&self, h: &Header, body: &[u8]) -> Result<Vec<u8>> {
        self.dispatch_connect(h, body)
            .or_else(|| self.dispatch_domain(h, body))
            .or_else(|| self.dispatch_network(h, body))
            .or_else(|| self.dispatch_storage(h, body))
            .or_else(|| self.dispatch_nodedev(h, body))
            .unwrap_or_else(|| Err(rpc_error(format!("unknown procedure: {}", h.proc_))))
    }

    fn open(&self, a: ConnectOpenArgs) -> Result<()> {
        let mut slot = self.conn.write().unwrap_or_else(|e| e.into_inner());
        if slot.is_some() {
            return Err(Error::internal("connection already open"));
        }
        let mut f = a.flags;
        if self.cfg.readonly {
            f |= flags::CONNECT_RO;
        }
        let uri = match a.name.as_deref() {
            Some(u) if !u.is_empty() => u.to_string(),
            _ => self.cfg.default_uri.clone().unwrap_or_else(oxvirt_api::default_uri),
        };
        check_served_uri(&uri, f & flags::CONNECT_RO != 0, &self.cfg.configured_uris)?;
        let c = Connect::open_flags(Some(&uri), f)?;
        if self.cfg.quiet {
            tracing::debug!(uri = %uri, readonly = c.is_read_only(), "connection opened");
        } else {
            tracing::info!(uri = %uri, readonly = c.is_read_only(), "connection opened");
        }
        *slot = Some(c);
        Ok(())
    }

    fn stream_message(&self, msg: &Message) -> Option<Message> {
        let h = &msg.header;
        let stream = self.streams.lock().unwrap_or_else(|e| e.into_inner()).get(&h.serial).cloned();
        let Some(stream) = stream else {
            tracing::debug!(serial = h.serial, "stream message for no open stream");
            return None;
        };
        match h.status {
            Status::Continue => match stream.write(&msg.body) {
                Ok(()) => None,
                Err(e) => {
                    self.streams.lock().unwrap_or_else(|e| e.into_inner()).remove(&h.serial);
                    stream.close();
                    Some(Message {
                        header: stream_header(h.proc_, h.serial, Status::Error),
                        body: xdr::to_bytes(&RemoteError::from(&e)),
                    })
                }
            },
            // Finish or abort: stop, and confirm with an empty packet.
            Status::Ok | Status::Error => {
                self.streams.lock().unwrap_or_else(|e| e.into_inner()).remove(&h.serial);
                stream.close();
                Some(Message { header: stream_header(h.proc_, h.serial, Status::Ok), body: vec![] })
            }
        }
    }
}

pub(crate) fn stream_header(proc_: i32, serial: u32, status: Status) -> Header {
    Header { prog: REMOTE_PROGRAM, vers: REMOTE_VERSION, proc_, mtype: MessageType::Stream, serial, status }
}

/// A keepalive PING or PONG.
pub fn keepalive_message(proc_: i32) -> Message {
    Message {
        header: Header {
            prog: KEEPALIVE_PROGRAM,
            vers: KEEPALIVE_VERSION,
            proc_,
            mtype: MessageType::Message,
            serial: 0,
            status: Status::Ok,
        },
        body: vec![],
    }
}

/// An ERROR reply to `call`.
pub fn error_reply(call: &Header, e: &Error) -> Message {
    Message { header: call.reply(Status::Error), body: xdr::to_bytes(&RemoteError::from(e)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_uris() {
        let hosted = vec!["qemu:///system".to_string(), "qemu:///embed?root=/srv/vms".to_string()];
        let code = |uri: &str, ro: bool| check_served_uri(uri, ro, &hosted).err().map(|e| e.code);
        for ro in [false, true] {
            assert_eq!(code("test:///default", ro), None);
            assert_eq!(code("qemu:///system", ro), None);
            // the administrator's embedded root, and no other
            assert_eq!(code("qemu:///embed?root=/srv/vms", ro), None);
            assert_eq!(code("qemu:///embed?root=/tmp/mine", ro), Some(ErrorCode::OperationDenied));
            // no relaying
            assert_eq!(code("qemu+tcp://10.0.0.1/system", ro), Some(ErrorCode::OperationDenied));
            assert_eq!(code("test+unix:///default?socket=/x", ro), Some(ErrorCode::OperationDenied));
            assert_eq!(code("xen:///system", ro), Some(ErrorCode::NoConnect));
            assert_eq!(code("network:///embed?root=/tmp/mine", ro), Some(ErrorCode::OperationDenied));
        }
        // the network driver of a hosted hypervisor root is running already: read-only is fine
        assert_eq!(code("network:///system", true), None);
        // files by path: read-write (root-equivalent) clients only
        assert_eq!(code("test:///etc/shadow", true), Some(ErrorCode::OperationDenied));
        assert_eq!(code("test:///tmp/node.xml", false), None);
        // a read-only client does not make the daemon start a driver it does not host
        assert!(check_served_uri("qemu:///system", true, &[]).is_err());
        assert!(check_served_uri("network:///system", true, &[]).is_err());
    }

    #[test]
    fn served_storage_uris() {
        let hosted = vec!["qemu:///system".to_string()];
        let code = |uri: &str, ro: bool| check_served_uri(uri, ro, &hosted).err().map(|e| e.code);
        for ro in [false, true] {
            assert_eq!(code("storage:///embed?root=/tmp/mine", ro), Some(ErrorCode::OperationDenied));
            assert_eq!(code("storage+tcp://10.0.0.1/system", ro), Some(ErrorCode::OperationDenied));
        }
        // qemu:///system hosts storage:///system already: opening it starts no autostart
        assert_eq!(code("storage:///system", true), None);
        assert_eq!(code("storage:///session", true), Some(ErrorCode::NoConnect));
        // a read-only client does not make the daemon start (and autostart) a storage driver
        assert_eq!(check_served_uri("storage:///system", true, &[]).err().map(|e| e.code), Some(ErrorCode::NoConnect));
        let root = nix::unistd::geteuid().is_root();
        assert_eq!(code("storage:///system", false).is_none(), root);
        assert_eq!(code("storage:///session", false).is_none(), !root);
    }
}
