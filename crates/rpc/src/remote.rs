//! The remote driver: [`oxvirt_api::Driver`] over libvirt's wire protocol, so the CLI and Rust
//! users reach a daemon (oxvirtd, or libvirtd) exactly as they reach an in-process driver.
//!
//! One connection per driver. Calls block the calling thread until their reply or a timeout;
//! several threads may call at once (replies are matched by serial). A reader thread answers
//! keepalive pings and hands lifecycle events to a dispatcher thread, so callbacks may call
//! back into the driver without stalling the reader.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oxvirt_api::{
    flags, ConnectUri, DomainEvent, DomainEventCallback, DomainEventKind, DomainInfo, DomainRef, DomainState, Driver,
    DriverFactory, Error, ErrorCode, ErrorDomain, NetworkRef, NodeDevRef, NodeInfo, PoolInfo, PoolRef, PoolState,
    Result, SecurityLabel, SecurityModel, Transport, VolInfo, VolRef,
};
use uuid::Uuid;

use crate::message::{read_message, Header, Message, MessageType, Status};
use crate::protocol::*;
use crate::server::keepalive_message;
use crate::tls::{connect_tls, TlsClientConfig, TlsError, TlsStream, TCP_PORT, TLS_PORT};
use crate::xdr::{self, Xdr, MESSAGE_MAX};

/// Where oxvirtd listens unless told otherwise (`--socket-dir`).
pub const DEFAULT_SOCKET_DIR: &str = "/run/oxvirt";
/// Overrides [`DEFAULT_SOCKET_DIR`] for clients, to reach a daemon started with `--socket-dir`.
pub const SOCKET_DIR_ENV: &str = "OXVIRT_SOCKET_DIR";
/// libvirtd's sockets, tried for `+unix` URIs when oxvirtd's are absent.
pub const LIBVIRT_SOCKET: &str = "/run/libvirt/libvirt-sock";
/// How long one call may take unless [`RemoteDriver::set_timeout`] says otherwise. Generous:
/// starting a guest can take a while; a daemon that died is noticed at once (end of stream).
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(300);
/// Bound on each call of the opening handshake: a daemon that accepts but does not answer must
/// not hold up `oxvirt -c qemu:///system` for the whole call timeout.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on connecting and on each write to the socket.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// URI query parameters meant for the remote driver itself, not for the daemon's driver.
const TRANSPORT_PARAMS: &[&str] = &[
    "name",
    "socket",
    "mode",
    "proxy",
    "command",
    "netcat",
    "keyfile",
    "no_verify",
    "no_tty",
    "pkipath",
    "known_hosts",
    "known_hosts_verify",
    "sshauth",
    "tls_priority",
    "auth",
];

fn rpc_err(code: ErrorCode, msg: impl Into<String>) -> Error {
    Error::new(code, ErrorDomain::Rpc, msg)
}

fn closed_err() -> Error {
    rpc_err(ErrorCode::SystemError, "End of file while reading data: the daemon closed the connection")
}

type Reply = std::result::Result<Message, Error>;

/// What the reader thread shares with callers.
struct Shared {
    writer: Mutex<Box<dyn Write + Send>>,
    /// Ends the connection: unblocks the reader thread and any writer.
    shutdown: Box<dyn Fn() + Send + Sync>,
    /// Callers waiting for a reply, by serial; `None` once the connection is gone.
    pending: Mutex<Option<HashMap<u32, SyncSender<Reply>>>>,
    /// Registered lifecycle callbacks, by the daemon's callback id.
    callbacks: Mutex<HashMap<i32, DomainEventCallback>>,
    /// Feeds the event dispatcher thread, started with the first registration.
    events: Mutex<Option<mpsc::Sender<(i32, DomainEvent)>>>,
}

impl Shared {
    fn send(&self, m: &Message) -> io::Result<()> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner()).write_all(&m.to_frame())
    }

    /// Fails every waiting call and any later one.
    fn close(&self) {
        if let Some(p) = self.pending.lock().unwrap_or_else(|e| e.into_inner()).take() {
            for (_, tx) in p {
                let _ = tx.try_send(Err(closed_err()));
            }
        }
        self.events.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

/// A connected byte stream to a daemon, split for the reader thread and the callers.
pub struct Wire {
    reader: Box<dyn Read + Send>,
    writer: Box<dyn Write + Send>,
    shutdown: Box<dyn Fn() + Send + Sync>,
}

fn io_err(what: &str, e: io::Error) -> Error {
    Error::new(ErrorCode::SystemError, ErrorDomain::Rpc, format!("{what}: {e}"))
}

impl Wire {
    pub fn unix(sock: UnixStream) -> Result<Wire> {
        sock.set_write_timeout(Some(IO_TIMEOUT)).map_err(|e| io_err("setting a socket timeout", e))?;
        let reader = sock.try_clone().map_err(|e| io_err("cloning the socket", e))?;
        let closer = sock.try_clone().map_err(|e| io_err("cloning the socket", e))?;
        Ok(Wire {
            reader: Box::new(reader),
            writer: Box::new(sock),
            shutdown: Box::new(move || {
                let _ = closer.shutdown(Shutdown::Both);
            }),
        })
    }

    pub fn tcp(sock: TcpStream) -> Result<Wire> {
        sock.set_write_timeout(Some(IO_TIMEOUT)).map_err(|e| io_err("setting a socket timeout", e))?;
        let _ = sock.set_nodelay(true);
        let reader = sock.try_clone().map_err(|e| io_err("cloning the socket", e))?;
        let closer = sock.try_clone().map_err(|e| io_err("cloning the socket", e))?;
        Ok(Wire {
            reader: Box::new(reader),
            writer: Box::new(sock),
            shutdown: Box::new(move || {
                let _ = closer.shutdown(Shutdown::Both);
            }),
        })
    }

    pub fn tls(stream: TlsStream) -> Result<Wire> {
        stream.socket().set_write_timeout(Some(IO_TIMEOUT)).map_err(|e| io_err("setting a socket timeout", e))?;
        let reader = stream.try_clone().map_err(|e| io_err("cloning the TLS session", e))?;
        let closer = stream.try_clone().map_err(|e| io_err("cloning the TLS session", e))?;
        Ok(Wire { reader: Box::new(reader), writer: Box::new(stream), shutdown: Box::new(move || closer.shutdown()) })
    }
}

/// A connection to a daemon, serving one hypervisor URI on its side.
pub struct RemoteDriver {
    shared: Arc<Shared>,
    serial: AtomicU32,
    timeout: Mutex<Duration>,
    uri: String,
    kind: &'static str,
}

impl std::fmt::Debug for RemoteDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteDriver").field("uri", &self.uri).field("kind", &self.kind).finish()
    }
}

/// The daemon's driver type name as `&'static str` (what [`Driver::kind`] returns): each
/// distinct name is leaked once per process, and there are only a handful.
fn static_kind(s: &str) -> &'static str {
    static NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(k) = names.iter().find(|k| **k == s) {
        return k;
    }
    if names.len() >= 64 {
        return "remote";
    }
    let k: &'static str = Box::leak(s.to_string().into_boxed_str());
    names.push(k);
    k
}

impl RemoteDriver {
    /// Connects to the daemon at `socket` and opens `name` there (`None`: the daemon's default).
    /// `uri` is what [`Driver::uri`] reports (the URI the user gave, as libvirt does).
    pub fn connect(socket: &Path, name: Option<&str>, uri: &str, open_flags: u32) -> Result<RemoteDriver> {
        let sock = UnixStream::connect(socket).map_err(|e| {
            Error::new(
                ErrorCode::SystemError,
                ErrorDomain::Rpc,
                format!("Failed to connect socket to '{}': {e}", socket.display()),
            )
        })?;
        Self::over(Wire::unix(sock)?, name, uri, open_flags)
    }

    /// Speaks the protocol over an already connected stream.
    pub fn over(wire: Wire, name: Option<&str>, uri: &str, open_flags: u32) -> Result<RemoteDriver> {
        let Wire { reader, writer, shutdown } = wire;
        let shared = Arc::new(Shared {
            writer: Mutex::new(writer),
            shutdown,
            pending: Mutex::new(Some(HashMap::new())),
            callbacks: Mutex::new(HashMap::new()),
            events: Mutex::new(None),
        });
        let s2 = shared.clone();
        if let Err(e) = std::thread::Builder::new().name("remote-reader".into()).spawn(move || read_loop(reader, s2)) {
            (shared.shutdown)();
            return Err(io_err("starting the reader thread", e));
        }
        let mut d = RemoteDriver {
            shared,
            serial: AtomicU32::new(0),
            timeout: Mutex::new(DEFAULT_CALL_TIMEOUT),
            uri: uri.to_string(),
            kind: "remote",
        };
        d.handshake(name, open_flags)?;
        Ok(d)
    }

    fn handshake(&mut self, name: Option<&str>, open_flags: u32) -> Result<()> {
        // The first call tells whether anyone answers at all: bounded tighter than later ones.
        self.set_timeout(HANDSHAKE_TIMEOUT);
        let auth: AuthListRet = self.call(procs::AUTH_LIST, &())?;
        self.set_timeout(DEFAULT_CALL_TIMEOUT);
        if !auth.types.0.is_empty() && !auth.types.0.contains(&AuthType::None) {
            return Err(Error::new(
                ErrorCode::AuthFailed,
                ErrorDomain::Rpc,
                format!(
                    "authentication failed: the daemon requires {:?}, which this client does not support",
                    auth.types.0
                ),
            ));
        }
        self.call::<_, ()>(
            procs::CONNECT_OPEN,
            &ConnectOpenArgs { name: name.map(str::to_string), flags: open_flags },
        )?;
        // Ask the daemon to ping us when idle; the reader thread answers, so a quiet connection
        // stays up and a dead client is noticed by the daemon.
        let _: Result<SupportsFeatureRet> =
            self.call(procs::CONNECT_SUPPORTS_FEATURE, &IntArgs { value: feature::PROGRAM_KEEPALIVE });
        let kind: StringRet = self.call(procs::CONNECT_GET_TYPE, &())?;
        self.kind = static_kind(&kind.s);
        Ok(())
    }

    /// Changes how long a call may wait for its reply.
    pub fn set_timeout(&self, t: Duration) {
        *self.timeout.lock().unwrap_or_else(|e| e.into_inner()) = t;
    }

    /// Calls a REMOTE procedure and waits for its reply; an ERROR reply becomes the daemon's
    /// error with its code, domain and message.
    pub fn call<A: Xdr, R: Xdr>(&self, proc_: i32, args: &A) -> Result<R> {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        let (tx, rx) = mpsc::sync_channel(1);
        match self.shared.pending.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            Some(p) => p.insert(serial, tx),
            None => return Err(closed_err()),
        };
        let header = Header::remote_call(proc_, serial);
        let forget = || {
            if let Some(p) = self.shared.pending.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                p.remove(&serial);
            }
        };
        if let Err(e) = self.shared.send(&Message::new(header, args)) {
            forget();
            return Err(rpc_err(ErrorCode::SystemError, format!("Cannot write data: {e}")));
        }
        let timeout = *self.timeout.lock().unwrap_or_else(|e| e.into_inner());
        let m = match rx.recv_timeout(timeout) {
            Ok(r) => r?,
            Err(RecvTimeoutError::Timeout) => {
                forget();
                return Err(rpc_err(
                    ErrorCode::OperationTimeout,
                    format!(
                        "Timed out during operation: no reply to {} within {}s",
                        proc_name(proc_),
                        timeout.as_secs()
                    ),
                ));
            }
            Err(RecvTimeoutError::Disconnected) => return Err(closed_err()),
        };
        let decode = |e: xdr::XdrError| rpc_err(ErrorCode::Rpc, format!("Unable to decode message payload: {e}"));
        if m.header.status == Status::Error {
            let e: RemoteError = m.payload().map_err(decode)?;
            return Err((&e).into());
        }
        m.payload().map_err(decode)
    }

    fn dom_call<R: Xdr>(&self, proc_: i32, d: &DomainRef) -> Result<R> {
        self.call(proc_, &DomArgs { dom: d.into() })
    }
    fn dom_flags<R: Xdr>(&self, proc_: i32, d: &DomainRef, flags: u32) -> Result<R> {
        self.call(proc_, &DomFlagsArgs { dom: d.into(), flags })
    }
    fn net_call<R: Xdr>(&self, proc_: i32, n: &NetworkRef) -> Result<R> {
        self.call(proc_, &NetArgs { net: n.into() })
    }
    fn pool_call<R: Xdr>(&self, proc_: i32, p: &PoolRef) -> Result<R> {
        self.call(proc_, &PoolArgs { pool: p.into() })
    }
    fn pool_flags(&self, proc_: i32, p: &PoolRef, flags: u32) -> Result<()> {
        self.call(proc_, &PoolFlagsArgs { pool: p.into(), flags })
    }
    fn flag(&self, proc_: i32, args: &impl Xdr) -> Result<bool> {
        Ok(self.call::<_, IntRet>(proc_, args)?.value != 0)
    }
}

impl Drop for RemoteDriver {
    fn drop(&mut self) {
        // Tell the daemon we are done (bounded), then end the reader thread.
        self.set_timeout(Duration::from_secs(5));
        let _ = self.call::<_, ()>(procs::CONNECT_CLOSE, &());
        self.shared.close();
        (self.shared.shutdown)();
    }
}

fn read_loop(mut sock: Box<dyn Read + Send>, shared: Arc<Shared>) {
    loop {
        let m = match read_message(&mut sock, MESSAGE_MAX) {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(error = %e, "remote connection broken");
                break;
            }
        };
        let h = &m.header;
        if h.prog == KEEPALIVE_PROGRAM {
            if h.proc_ == KEEPALIVE_PING && shared.send(&keepalive_message(KEEPALIVE_PONG)).is_err() {
                break;
            }
            continue;
        }
        match h.mtype {
            MessageType::Reply => {
                let tx =
                    shared.pending.lock().unwrap_or_else(|e| e.into_inner()).as_mut().and_then(|p| p.remove(&h.serial));
                if let Some(tx) = tx {
                    let _ = tx.try_send(Ok(m));
                }
            }
            MessageType::Message if h.prog == REMOTE_PROGRAM && h.proc_ == procs::DOMAIN_EVENT_CALLBACK_LIFECYCLE => {
                match m.payload::<EventCallbackLifecycleMsg>() {
                    Ok(ev) => {
                        if let Some(ev) = lifecycle_event(&ev) {
                            if let Some(tx) = shared.events.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                                let _ = tx.send(ev);
                            }
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "undecodable lifecycle event"),
                }
            }
            _ => tracing::debug!(proc = proc_name(h.proc_), "ignoring unexpected message"),
        }
    }
    shared.close();
}

fn event_kind(v: i32) -> Option<DomainEventKind> {
    use DomainEventKind::*;
    Some(match v {
        0 => Defined,
        1 => Undefined,
        2 => Started,
        3 => Suspended,
        4 => Resumed,
        5 => Stopped,
        6 => Shutdown,
        7 => PmSuspended,
        8 => Crashed,
        _ => return None,
    })
}

fn lifecycle_event(m: &EventCallbackLifecycleMsg) -> Option<(i32, DomainEvent)> {
    let kind = event_kind(m.msg.event)?;
    Some((m.callback_id, DomainEvent { domain: dom_ref(&m.msg.dom), kind, detail: m.msg.detail }))
}

fn dom_ref(d: &NonnullDomain) -> DomainRef {
    DomainRef { name: d.name.clone(), uuid: d.uuid, id: d.id }
}
fn net_ref(n: &NonnullNetwork) -> NetworkRef {
    NetworkRef { name: n.name.clone(), uuid: n.uuid }
}
fn pool_ref(p: &NonnullStoragePool) -> PoolRef {
    PoolRef { name: p.name.clone(), uuid: p.uuid }
}
fn vol_ref(v: &NonnullStorageVol) -> VolRef {
    VolRef { pool: v.pool.clone(), name: v.name.clone(), key: v.key.clone() }
}

fn bad_reply(what: &str, v: i64) -> Error {
    rpc_err(ErrorCode::Rpc, format!("the daemon sent an unknown {what} {v}"))
}

/// The `<uuid>` of a domain definition.
fn uuid_in_xml(xml: &str) -> Option<Uuid> {
    // The element alone, through the XML parser: the full model would also insist on the rest
    // of a valid definition, which another daemon's image need not satisfy for us.
    let doc = oxvirt_xml::parse_tree(xml, oxvirt_xml::Limits::DEFINITION).ok()?;
    let uuid = doc.root_element().children().find(|c| c.has_tag_name("uuid"))?;
    Uuid::parse_str(uuid.text()?.trim()).ok()
}

fn list_all(need: bool, flags: u32) -> ListAllArgs {
    ListAllArgs { need_results: need as i32, flags }
}

impl Driver for RemoteDriver {
    fn kind(&self) -> &'static str {
        self.kind
    }
    fn uri(&self) -> String {
        self.uri.clone()
    }

    fn hypervisor_version(&self) -> Result<u64> {
        Ok(self.call::<_, HyperRet>(procs::CONNECT_GET_VERSION, &())?.value)
    }
    fn hostname(&self) -> Result<String> {
        Ok(self.call::<_, StringRet>(procs::CONNECT_GET_HOSTNAME, &())?.s)
    }
    fn capabilities(&self) -> Result<String> {
        Ok(self.call::<_, StringRet>(procs::CONNECT_GET_CAPABILITIES, &())?.s)
    }
    fn node_info(&self) -> Result<NodeInfo> {
        let n: NodeGetInfoRet = self.call(procs::NODE_GET_INFO, &())?;
        let u = |v: i32| u32::try_from(v).unwrap_or(0);
        Ok(NodeInfo {
            model: xdr::from_c_chars(&n.model),
            memory: n.memory,
            cpus: u(n.cpus),
            mhz: u(n.mhz),
            nodes: u(n.nodes),
            sockets: u(n.sockets),
            cores: u(n.cores),
            threads: u(n.threads),
        })
    }
    fn domain_capabilities(
        &self,
        emulator: Option<&str>,
        arch: Option<&str>,
        machine: Option<&str>,
        virttype: Option<&str>,
    ) -> Result<String> {
        let s = |v: Option<&str>| v.map(str::to_string);
        let a = DomainCapabilitiesArgs {
            emulatorbin: s(emulator),
            arch: s(arch),
            machine: s(machine),
            virttype: s(virttype),
            flags: 0,
        };
        Ok(self.call::<_, StringRet>(procs::CONNECT_GET_DOMAIN_CAPABILITIES, &a)?.s)
    }
    fn max_vcpus(&self, kind: Option<&str>) -> Result<u32> {
        let r: IntRet = self.call(procs::CONNECT_GET_MAX_VCPUS, &OptStringArgs { s: kind.map(str::to_string) })?;
        u32::try_from(r.value).map_err(|_| bad_reply("vCPU count", r.value.into()))
    }

    fn node_security_model(&self) -> Result<SecurityModel> {
        let r: SecurityModelRet = self.call(procs::NODE_GET_SECURITY_MODEL, &())?;
        Ok(SecurityModel { model: xdr::from_c_chars(&r.model.0), doi: xdr::from_c_chars(&r.doi.0) })
    }

    fn list_domains(&self, flags: oxvirt_api::ConnectListAllDomainsFlags) -> Result<Vec<DomainRef>> {
        let r: ListAllDomainsRet = self.call(procs::CONNECT_LIST_ALL_DOMAINS, &list_all(true, flags.bits()))?;
        Ok(r.domains.0.iter().map(dom_ref).collect())
    }
    fn lookup_domain_by_name(&self, name: &str) -> Result<DomainRef> {
        Ok(dom_ref(&self.call::<_, DomRet>(procs::DOMAIN_LOOKUP_BY_NAME, &StringArgs { s: name.into() })?.dom))
    }
    fn lookup_domain_by_uuid(&self, uuid: &Uuid) -> Result<DomainRef> {
        Ok(dom_ref(&self.call::<_, DomRet>(procs::DOMAIN_LOOKUP_BY_UUID, &UuidArgs { uuid: *uuid })?.dom))
    }
    fn lookup_domain_by_id(&self, id: i32) -> Result<DomainRef> {
        Ok(dom_ref(&self.call::<_, DomRet>(procs::DOMAIN_LOOKUP_BY_ID, &IntArgs { value: id })?.dom))
    }
    /// The protocol carries no parser warnings; the daemon logs them.
    fn domain_define(&self, xml: &str, flags: u32) -> Result<(DomainRef, Vec<String>)> {
        let r: DomRet = self.call(procs::DOMAIN_DEFINE_XML_FLAGS, &StringFlagsArgs { s: xml.into(), flags })?;
        Ok((dom_ref(&r.dom), Vec::new()))
    }
    fn domain_undefine(&self, d: &DomainRef, flags: oxvirt_api::DomainUndefineFlags) -> Result<()> {
        self.dom_flags(procs::DOMAIN_UNDEFINE_FLAGS, d, flags.bits())
    }
    fn domain_create(&self, d: &DomainRef, flags: oxvirt_api::DomainCreateFlags) -> Result<DomainRef> {
        Ok(dom_ref(&self.dom_flags::<DomRet>(procs::DOMAIN_CREATE_WITH_FLAGS, d, flags.bits())?.dom))
    }
    fn domain_create_xml(&self, xml: &str, flags: oxvirt_api::DomainCreateFlags) -> Result<DomainRef> {
        let args = StringFlagsArgs { s: xml.into(), flags: flags.bits() };
        Ok(dom_ref(&self.call::<_, DomRet>(procs::DOMAIN_CREATE_XML, &args)?.dom))
    }
    fn domain_shutdown(&self, d: &DomainRef, flags: u32) -> Result<()> {
        self.dom_flags(procs::DOMAIN_SHUTDOWN_FLAGS, d, flags)
    }
    fn domain_reboot(&self, d: &DomainRef, flags: oxvirt_api::DomainRebootFlagValues) -> Result<()> {
        self.dom_flags(procs::DOMAIN_REBOOT, d, flags.bits())
    }
    fn domain_reset(&self, d: &DomainRef, flags: u32) -> Result<()> {
        self.dom_flags(procs::DOMAIN_RESET, d, flags)
    }
    fn domain_destroy(&self, d: &DomainRef, flags: u32) -> Result<()> {
        self.dom_flags(procs::DOMAIN_DESTROY_FLAGS, d, flags)
    }
    fn domain_suspend(&self, d: &DomainRef) -> Result<()> {
        self.dom_call(procs::DOMAIN_SUSPEND, d)
    }
    fn domain_resume(&self, d: &DomainRef) -> Result<()> {
        self.dom_call(procs::DOMAIN_RESUME, d)
    }
    fn domain_save(&self, d: &DomainRef, path: &str, dxml: Option<&str>, flags: u32) -> Result<()> {
        let a = DomainSaveFlagsArgs { dom: d.into(), to: path.into(), dxml: dxml.map(str::to_string), flags };
        self.call(procs::DOMAIN_SAVE_FLAGS, &a)
    }
    /// The protocol's restore returns nothing; the domain is found by the image's UUID.
    fn domain_restore(&self, path: &str, dxml: Option<&str>, flags: u32) -> Result<DomainRef> {
        let uuid = match dxml {
            Some(x) => uuid_in_xml(x),
            None => self.domain_save_image_xml(path, 0).ok().as_deref().and_then(uuid_in_xml),
        };
        let a = DomainRestoreFlagsArgs { from: path.into(), dxml: dxml.map(str::to_string), flags };
        self.call::<_, ()>(procs::DOMAIN_RESTORE_FLAGS, &a)?;
        let uuid =
            uuid.ok_or_else(|| Error::internal(format!("restored '{path}', but its image names no domain UUID")))?;
        self.lookup_domain_by_uuid(&uuid)
    }
    fn domain_save_image_xml(&self, path: &str, flags: u32) -> Result<String> {
        Ok(self
            .call::<_, StringRet>(procs::DOMAIN_SAVE_IMAGE_GET_XML_DESC, &StringFlagsArgs { s: path.into(), flags })?
            .s)
    }
    fn domain_managed_save(&self, d: &DomainRef, flags: u32) -> Result<()> {
        self.dom_flags(procs::DOMAIN_MANAGED_SAVE, d, flags)
    }
    fn domain_has_managed_save(&self, d: &DomainRef) -> Result<bool> {
        self.flag(procs::DOMAIN_HAS_MANAGED_SAVE_IMAGE, &DomFlagsArgs { dom: d.into(), flags: 0 })
    }
    fn domain_managed_save_remove(&self, d: &DomainRef) -> Result<()> {
        self.dom_flags(procs::DOMAIN_MANAGED_SAVE_REMOVE, d, 0)
    }
    fn domain_xml(&self, d: &DomainRef, flags: oxvirt_api::DomainXmlFlags) -> Result<String> {
        Ok(self.dom_flags::<StringRet>(procs::DOMAIN_GET_XML_DESC, d, flags.bits())?.s)
    }
    fn domain_vcpus_flags(&self, d: &DomainRef, flags: oxvirt_api::DomainVcpuFlags) -> Result<u32> {
        let r: IntRet = self.dom_flags(procs::DOMAIN_GET_VCPUS_FLAGS, d, flags.bits())?;
        u32::try_from(r.value).map_err(|_| bad_reply("vCPU count", r.value.into()))
    }
    fn domain_max_vcpus(&self, d: &DomainRef) -> Result<u32> {
        let r: IntRet = self.dom_call(procs::DOMAIN_GET_MAX_VCPUS, d)?;
        u32::try_from(r.value).map_err(|_| bad_reply("vCPU count", r.value.into()))
    }
    fn domain_security_label(&self, d: &DomainRef) -> Result<SecurityLabel> {
        let r: SecurityLabelRet = self.dom_call(procs::DOMAIN_GET_SECURITY_LABEL, d)?;
        Ok(SecurityLabel { label: xdr::from_c_chars(&r.label.0), enforcing: r.enforcing != 0 })
    }
    fn domain_info(&self, d: &DomainRef) -> Result<DomainInfo> {
        let i: DomainGetInfoRet = self.dom_call(procs::DOMAIN_GET_INFO, d)?;
        Ok(DomainInfo {
            state: DomainState::from_i32(i.state.into()).ok_or_else(|| bad_reply("domain state", i.state.into()))?,
            max_mem: i.max_mem,
            memory: i.memory,
            nr_virt_cpu: i.nr_virt_cpu.into(),
            cpu_time: i.cpu_time,
        })
    }
    fn domain_state(&self, d: &DomainRef) -> Result<(DomainState, i32)> {
        let r: DomainGetStateRet = self.dom_flags(procs::DOMAIN_GET_STATE, d, 0)?;
        Ok((DomainState::from_i32(r.state).ok_or_else(|| bad_reply("domain state", r.state.into()))?, r.reason))
    }
    fn domain_os_type(&self, d: &DomainRef) -> Result<String> {
        Ok(self.dom_call::<StringRet>(procs::DOMAIN_GET_OS_TYPE, d)?.s)
    }
    fn domain_autostart(&self, d: &DomainRef) -> Result<bool> {
        self.flag(procs::DOMAIN_GET_AUTOSTART, &DomArgs { dom: d.into() })
    }
    fn domain_set_autostart(&self, d: &DomainRef, on: bool) -> Result<()> {
        self.call(procs::DOMAIN_SET_AUTOSTART, &DomIntArgs { dom: d.into(), value: on as i32 })
    }
    fn domain_is_persistent(&self, d: &DomainRef) -> Result<bool> {
        self.flag(procs::DOMAIN_IS_PERSISTENT, &DomArgs { dom: d.into() })
    }
    fn domain_is_updated(&self, d: &DomainRef) -> Result<bool> {
        self.flag(procs::DOMAIN_IS_UPDATED, &DomArgs { dom: d.into() })
    }
    fn domain_is_active(&self, d: &DomainRef) -> Result<bool> {
        self.flag(procs::DOMAIN_IS_ACTIVE, &DomArgs { dom: d.into() })
    }
    fn domain_set_memory(&self, d: &DomainRef, kib: u64, flags: oxvirt_api::DomainMemoryModFlags) -> Result<()> {
        let args = DomainSetMemoryFlagsArgs { dom: d.into(), memory: kib, flags: flags.bits() };
        self.call(procs::DOMAIN_SET_MEMORY_FLAGS, &args)
    }
    fn domain_attach_device(&self, d: &DomainRef, xml: &str, flags: oxvirt_api::DomainDeviceModifyFlags) -> Result<()> {
        let args = DomXmlFlagsArgs { dom: d.into(), xml: xml.to_string(), flags: flags.bits() };
        self.call(procs::DOMAIN_ATTACH_DEVICE_FLAGS, &args)
    }
    fn domain_detach_device(&self, d: &DomainRef, xml: &str, flags: oxvirt_api::DomainDeviceModifyFlags) -> Result<()> {
        let args = DomXmlFlagsArgs { dom: d.into(), xml: xml.to_string(), flags: flags.bits() };
        self.call(procs::DOMAIN_DETACH_DEVICE_FLAGS, &args)
    }
    fn domain_update_device(&self, d: &DomainRef, xml: &str, flags: oxvirt_api::DomainDeviceModifyFlags) -> Result<()> {
        let args = DomXmlFlagsArgs { dom: d.into(), xml: xml.to_string(), flags: flags.bits() };
        self.call(procs::DOMAIN_UPDATE_DEVICE_FLAGS, &args)
    }
    fn domain_interface_addresses(&self, d: &DomainRef, source: u32) -> Result<Vec<oxvirt_api::DomainInterface>> {
        let args = DomainInterfaceAddressesArgs { dom: d.into(), source, flags: 0 };
        let r: DomainInterfaceAddressesRet = self.call(procs::DOMAIN_INTERFACE_ADDRESSES, &args)?;
        Ok(r.ifaces.0.into_iter().map(Into::into).collect())
    }
    fn domain_set_vcpus(&self, d: &DomainRef, count: u32, flags: oxvirt_api::DomainVcpuFlags) -> Result<()> {
        let args = DomainSetVcpusFlagsArgs { dom: d.into(), nvcpus: count, flags: flags.bits() };
        self.call(procs::DOMAIN_SET_VCPUS_FLAGS, &args)
    }
    fn domain_set_interface_parameters(
        &self,
        d: &DomainRef,
        device: &str,
        params: &[(String, oxvirt_api::TypedParam)],
        flags: u32,
    ) -> Result<()> {
        let params = params.iter().map(|(k, v)| RemoteTypedParam { field: k.clone(), value: v.into() }).collect();
        let args = DomainSetInterfaceParametersArgs {
            dom: d.into(),
            device: device.to_string(),
            params: crate::xdr::Array(params),
            flags,
        };
        self.call(procs::DOMAIN_SET_INTERFACE_PARAMETERS, &args)
    }
    fn domain_get_interface_parameters(
        &self,
        d: &DomainRef,
        device: &str,
        flags: u32,
    ) -> Result<Vec<(String, oxvirt_api::TypedParam)>> {
        // How many there are, then all of them (libvirt's two steps).
        let ask = |nparams: i32| DomainGetInterfaceParametersArgs {
            dom: d.into(),
            device: device.to_string(),
            nparams,
            flags,
        };
        let count: DomainGetInterfaceParametersRet = self.call(procs::DOMAIN_GET_INTERFACE_PARAMETERS, &ask(0))?;
        if count.nparams <= 0 {
            return Ok(Vec::new());
        }
        let r: DomainGetInterfaceParametersRet =
            self.call(procs::DOMAIN_GET_INTERFACE_PARAMETERS, &ask(count.nparams))?;
        Ok(r.params.0.iter().map(|p| (p.field.clone(), (&p.value).into())).collect())
    }
    fn domain_stats(&self, d: &DomainRef, stats: u32) -> Result<Vec<(String, oxvirt_api::TypedParam)>> {
        let args = GetAllDomainStatsArgs { doms: crate::xdr::Array(vec![d.into()]), stats, flags: 0 };
        let r: GetAllDomainStatsRet = self.call(procs::CONNECT_GET_ALL_DOMAIN_STATS, &args)?;
        Ok(r.stats
            .0
            .into_iter()
            .next()
            .map(|rec| rec.params.0.iter().map(|p| (p.field.clone(), (&p.value).into())).collect())
            .unwrap_or_default())
    }
    fn domain_snapshot_count(&self, d: &DomainRef) -> Result<u32> {
        let r: IntRet = self.dom_flags(procs::DOMAIN_SNAPSHOT_NUM, d, 0)?;
        u32::try_from(r.value).map_err(|_| bad_reply("snapshot count", r.value.into()))
    }

    fn list_networks(&self, flags: u32) -> Result<Vec<NetworkRef>> {
        let r: ListAllNetworksRet = self.call(procs::CONNECT_LIST_ALL_NETWORKS, &list_all(true, flags))?;
        Ok(r.nets.0.iter().map(net_ref).collect())
    }
    fn lookup_network_by_name(&self, name: &str) -> Result<NetworkRef> {
        Ok(net_ref(&self.call::<_, NetRet>(procs::NETWORK_LOOKUP_BY_NAME, &StringArgs { s: name.into() })?.net))
    }
    fn lookup_network_by_uuid(&self, uuid: &Uuid) -> Result<NetworkRef> {
        Ok(net_ref(&self.call::<_, NetRet>(procs::NETWORK_LOOKUP_BY_UUID, &UuidArgs { uuid: *uuid })?.net))
    }
    fn network_define(&self, xml: &str, flags: u32) -> Result<NetworkRef> {
        let r: NetRet = self.call(procs::NETWORK_DEFINE_XML_FLAGS, &StringFlagsArgs { s: xml.into(), flags })?;
        Ok(net_ref(&r.net))
    }
    fn network_create_xml(&self, xml: &str, flags: u32) -> Result<NetworkRef> {
        let r: NetRet = self.call(procs::NETWORK_CREATE_XML_FLAGS, &StringFlagsArgs { s: xml.into(), flags })?;
        Ok(net_ref(&r.net))
    }
    fn network_create(&self, n: &NetworkRef) -> Result<()> {
        self.net_call(procs::NETWORK_CREATE, n)
    }
    fn network_destroy(&self, n: &NetworkRef) -> Result<()> {
        self.net_call(procs::NETWORK_DESTROY, n)
    }
    fn network_undefine(&self, n: &NetworkRef) -> Result<()> {
        self.net_call(procs::NETWORK_UNDEFINE, n)
    }
    fn network_xml(&self, n: &NetworkRef, flags: u32) -> Result<String> {
        Ok(self.call::<_, StringRet>(procs::NETWORK_GET_XML_DESC, &NetFlagsArgs { net: n.into(), flags })?.s)
    }
    fn network_bridge_name(&self, n: &NetworkRef) -> Result<String> {
        Ok(self.net_call::<StringRet>(procs::NETWORK_GET_BRIDGE_NAME, n)?.s)
    }
    fn network_autostart(&self, n: &NetworkRef) -> Result<bool> {
        self.flag(procs::NETWORK_GET_AUTOSTART, &NetArgs { net: n.into() })
    }
    fn network_set_autostart(&self, n: &NetworkRef, on: bool) -> Result<()> {
        self.call(procs::NETWORK_SET_AUTOSTART, &NetIntArgs { net: n.into(), value: on as i32 })
    }
    fn network_update(
        &self,
        n: &NetworkRef,
        command: u32,
        section: u32,
        parent_index: i32,
        xml: &str,
        flags: u32,
    ) -> Result<()> {
        // Our server, like libvirt >= 1.0.5, advertises NETWORK_UPDATE_HAS_CORRECT_ORDER: no swap.
        let args = NetworkUpdateArgs { net: n.into(), command, section, parent_index, xml: xml.to_string(), flags };
        self.call(procs::NETWORK_UPDATE, &args)
    }
    fn network_dhcp_leases(&self, n: &NetworkRef, mac: Option<&str>) -> Result<Vec<oxvirt_api::DhcpLease>> {
        let args = NetworkGetDhcpLeasesArgs { net: n.into(), mac: mac.map(str::to_string), need_results: 1, flags: 0 };
        let r: NetworkGetDhcpLeasesRet = self.call(procs::NETWORK_GET_DHCP_LEASES, &args)?;
        Ok(r.leases.0.into_iter().map(Into::into).collect())
    }
    fn network_is_active(&self, n: &NetworkRef) -> Result<bool> {
        self.flag(procs::NETWORK_IS_ACTIVE, &NetArgs { net: n.into() })
    }
    fn network_is_persistent(&self, n: &NetworkRef) -> Result<bool> {
        self.flag(procs::NETWORK_IS_PERSISTENT, &NetArgs { net: n.into() })
    }

    fn list_pools(&self, flags: u32) -> Result<Vec<PoolRef>> {
        let r: ListAllPoolsRet = self.call(procs::CONNECT_LIST_ALL_STORAGE_POOLS, &list_all(true, flags))?;
        Ok(r.pools.0.iter().map(pool_ref).collect())
    }
    fn lookup_pool_by_name(&self, name: &str) -> Result<PoolRef> {
        Ok(pool_ref(&self.call::<_, PoolRet>(procs::STORAGE_POOL_LOOKUP_BY_NAME, &StringArgs { s: name.into() })?.pool))
    }
    fn lookup_pool_by_uuid(&self, uuid: &Uuid) -> Result<PoolRef> {
        Ok(pool_ref(&self.call::<_, PoolRet>(procs::STORAGE_POOL_LOOKUP_BY_UUID, &UuidArgs { uuid: *uuid })?.pool))
    }
    fn lookup_pool_by_volume(&self, v: &VolRef) -> Result<PoolRef> {
        Ok(pool_ref(&self.call::<_, PoolRet>(procs::STORAGE_POOL_LOOKUP_BY_VOLUME, &VolArgs { vol: v.into() })?.pool))
    }
    fn pool_define(&self, xml: &str, flags: u32) -> Result<PoolRef> {
        let r: PoolRet = self.call(procs::STORAGE_POOL_DEFINE_XML, &StringFlagsArgs { s: xml.into(), flags })?;
        Ok(pool_ref(&r.pool))
    }
    fn pool_create_xml(&self, xml: &str, flags: u32) -> Result<PoolRef> {
        let r: PoolRet = self.call(procs::STORAGE_POOL_CREATE_XML, &StringFlagsArgs { s: xml.into(), flags })?;
        Ok(pool_ref(&r.pool))
    }
    fn pool_build(&self, p: &PoolRef, flags: u32) -> Result<()> {
        self.pool_flags(procs::STORAGE_POOL_BUILD, p, flags)
    }
    fn pool_create(&self, p: &PoolRef, flags: u32) -> Result<()> {
        self.pool_flags(procs::STORAGE_POOL_CREATE, p, flags)
    }
    fn pool_destroy(&self, p: &PoolRef) -> Result<()> {
        self.pool_call(procs::STORAGE_POOL_DESTROY, p)
    }
    fn pool_delete(&self, p: &PoolRef, flags: u32) -> Result<()> {
        self.pool_flags(procs::STORAGE_POOL_DELETE, p, flags)
    }
    fn pool_undefine(&self, p: &PoolRef) -> Result<()> {
        self.pool_call(procs::STORAGE_POOL_UNDEFINE, p)
    }
    fn pool_refresh(&self, p: &PoolRef, flags: u32) -> Result<()> {
        self.pool_flags(procs::STORAGE_POOL_REFRESH, p, flags)
    }
    fn pool_xml(&self, p: &PoolRef, flags: u32) -> Result<String> {
        Ok(self.call::<_, StringRet>(procs::STORAGE_POOL_GET_XML_DESC, &PoolFlagsArgs { pool: p.into(), flags })?.s)
    }
    fn pool_info(&self, p: &PoolRef) -> Result<PoolInfo> {
        let i: PoolGetInfoRet = self.pool_call(procs::STORAGE_POOL_GET_INFO, p)?;
        let state = match i.state {
            0 => PoolState::Inactive,
            1 => PoolState::Building,
            2 => PoolState::Running,
            3 => PoolState::Degraded,
            4 => PoolState::Inaccessible,
            s => return Err(bad_reply("pool state", s.into())),
        };
        Ok(PoolInfo { state, capacity: i.capacity, allocation: i.allocation, available: i.available })
    }
    fn pool_autostart(&self, p: &PoolRef) -> Result<bool> {
        self.flag(procs::STORAGE_POOL_GET_AUTOSTART, &PoolArgs { pool: p.into() })
    }
    fn pool_set_autostart(&self, p: &PoolRef, on: bool) -> Result<()> {
        self.call(procs::STORAGE_POOL_SET_AUTOSTART, &PoolIntArgs { pool: p.into(), value: on as i32 })
    }
    fn pool_is_active(&self, p: &PoolRef) -> Result<bool> {
        self.flag(procs::STORAGE_POOL_IS_ACTIVE, &PoolArgs { pool: p.into() })
    }
    fn pool_is_persistent(&self, p: &PoolRef) -> Result<bool> {
        self.flag(procs::STORAGE_POOL_IS_PERSISTENT, &PoolArgs { pool: p.into() })
    }
    fn list_volumes(&self, p: &PoolRef) -> Result<Vec<VolRef>> {
        let a = PoolListAllVolumesArgs { pool: p.into(), need_results: 1, flags: 0 };
        let r: ListAllVolumesRet = self.call(procs::STORAGE_POOL_LIST_ALL_VOLUMES, &a)?;
        Ok(r.vols.0.iter().map(vol_ref).collect())
    }
    fn lookup_volume_by_name(&self, p: &PoolRef, name: &str) -> Result<VolRef> {
        let r: VolRet =
            self.call(procs::STORAGE_VOL_LOOKUP_BY_NAME, &VolLookupByNameArgs { pool: p.into(), name: name.into() })?;
        Ok(vol_ref(&r.vol))
    }
    fn lookup_volume_by_key(&self, key: &str) -> Result<VolRef> {
        Ok(vol_ref(&self.call::<_, VolRet>(procs::STORAGE_VOL_LOOKUP_BY_KEY, &StringArgs { s: key.into() })?.vol))
    }
    fn lookup_volume_by_path(&self, path: &str) -> Result<VolRef> {
        Ok(vol_ref(&self.call::<_, VolRet>(procs::STORAGE_VOL_LOOKUP_BY_PATH, &StringArgs { s: path.into() })?.vol))
    }
    fn volume_create_xml(&self, p: &PoolRef, xml: &str, flags: u32) -> Result<VolRef> {
        let r: VolRet =
            self.call(procs::STORAGE_VOL_CREATE_XML, &VolCreateXmlArgs { pool: p.into(), xml: xml.into(), flags })?;
        Ok(vol_ref(&r.vol))
    }
    fn volume_delete(&self, v: &VolRef, flags: u32) -> Result<()> {
        self.call(procs::STORAGE_VOL_DELETE, &VolFlagsArgs { vol: v.into(), flags })
    }
    fn volume_resize(&self, v: &VolRef, capacity: u64, flags: u32) -> Result<()> {
        self.call(procs::STORAGE_VOL_RESIZE, &VolResizeArgs { vol: v.into(), capacity, flags })
    }
    fn volume_wipe_pattern(&self, v: &VolRef, algorithm: u32, flags: u32) -> Result<()> {
        if algorithm == 0 {
            // virStorageVolWipe: every libvirt daemon has it
            return self.call(procs::STORAGE_VOL_WIPE, &VolFlagsArgs { vol: v.into(), flags });
        }
        self.call(procs::STORAGE_VOL_WIPE_PATTERN, &VolWipePatternArgs { vol: v.into(), algorithm, flags })
    }
    fn volume_create_xml_from(&self, p: &PoolRef, xml: &str, clone: &VolRef, flags: u32) -> Result<VolRef> {
        let a = VolCreateXmlFromArgs { pool: p.into(), xml: xml.into(), clonevol: clone.into(), flags };
        Ok(vol_ref(&self.call::<_, VolRet>(procs::STORAGE_VOL_CREATE_XML_FROM, &a)?.vol))
    }
    fn volume_xml(&self, v: &VolRef, flags: u32) -> Result<String> {
        Ok(self.call::<_, StringRet>(procs::STORAGE_VOL_GET_XML_DESC, &VolFlagsArgs { vol: v.into(), flags })?.s)
    }
    fn volume_info(&self, v: &VolRef) -> Result<VolInfo> {
        let i: VolGetInfoRet = self.call(procs::STORAGE_VOL_GET_INFO, &VolArgs { vol: v.into() })?;
        Ok(VolInfo { kind: i.kind.into(), capacity: i.capacity, allocation: i.allocation })
    }
    fn volume_path(&self, v: &VolRef) -> Result<String> {
        Ok(self.call::<_, StringRet>(procs::STORAGE_VOL_GET_PATH, &VolArgs { vol: v.into() })?.s)
    }

    fn list_node_devices(&self, cap: Option<&str>) -> Result<Vec<NodeDevRef>> {
        let a = NodeListDevicesArgs { cap: cap.map(str::to_string), maxnames: NODE_DEVICE_LIST_MAX as i32, flags: 0 };
        let r: NodeListDevicesRet = self.call(procs::NODE_LIST_DEVICES, &a)?;
        Ok(r.names.0.into_iter().map(|name| NodeDevRef { name }).collect())
    }
    fn lookup_node_device(&self, name: &str) -> Result<NodeDevRef> {
        let r: NodeDeviceRet = self.call(procs::NODE_DEVICE_LOOKUP_BY_NAME, &StringArgs { s: name.into() })?;
        Ok(NodeDevRef { name: r.dev.name })
    }
    fn node_device_xml(&self, dev: &NodeDevRef) -> Result<String> {
        Ok(self
            .call::<_, StringRet>(procs::NODE_DEVICE_GET_XML_DESC, &StringFlagsArgs { s: dev.name.clone(), flags: 0 })?
            .s)
    }
    fn node_device_caps(&self, dev: &NodeDevRef) -> Result<Vec<String>> {
        let n: IntRet = self.call(procs::NODE_DEVICE_NUM_OF_CAPS, &StringArgs { s: dev.name.clone() })?;
        let a = NodeDeviceListCapsArgs {
            name: dev.name.clone(),
            maxnames: n.value.clamp(0, NODE_DEVICE_CAPS_LIST_MAX as i32),
        };
        Ok(self.call::<_, NodeDeviceListCapsRet>(procs::NODE_DEVICE_LIST_CAPS, &a)?.names.0)
    }
    fn node_device_parent(&self, dev: &NodeDevRef) -> Result<Option<String>> {
        Ok(self
            .call::<_, NodeDeviceGetParentRet>(procs::NODE_DEVICE_GET_PARENT, &StringArgs { s: dev.name.clone() })?
            .parent)
    }

    fn domain_event_register(&self, d: Option<&DomainRef>, cb: DomainEventCallback) -> Result<i32> {
        self.start_event_dispatcher()?;
        const LIFECYCLE: i32 = 0;
        let r: IntRet = self.call(
            procs::CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY,
            &EventRegisterArgs { event_id: LIFECYCLE, dom: d.map(Into::into) },
        )?;
        self.shared.callbacks.lock().unwrap_or_else(|e| e.into_inner()).insert(r.value, cb);
        Ok(r.value)
    }
    fn domain_event_deregister(&self, id: i32) -> Result<()> {
        self.call::<_, ()>(procs::CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY, &IntArgs { value: id })?;
        self.shared.callbacks.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        Ok(())
    }
}

impl RemoteDriver {
    /// Starts the thread that runs event callbacks, once.
    fn start_event_dispatcher(&self) -> Result<()> {
        let mut slot = self.shared.events.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_some() {
            return Ok(());
        }
        if self.shared.pending.lock().unwrap_or_else(|e| e.into_inner()).is_none() {
            return Err(closed_err());
        }
        let (tx, rx) = mpsc::channel::<(i32, DomainEvent)>();
        // The dispatcher holds the callbacks weakly: it ends with the connection.
        let weak = Arc::downgrade(&self.shared);
        std::thread::Builder::new()
            .name("remote-events".into())
            .spawn(move || {
                for (id, ev) in rx {
                    let Some(shared) = weak.upgrade() else { break };
                    let cb = shared.callbacks.lock().unwrap_or_else(|e| e.into_inner()).get(&id).cloned();
                    drop(shared);
                    if let Some(cb) = cb {
                        cb(&ev);
                    }
                }
            })
            .map_err(|e| {
                Error::new(ErrorCode::SystemError, ErrorDomain::Rpc, format!("starting the event thread: {e}"))
            })?;
        *slot = Some(tx);
        Ok(())
    }
}

/// The name the daemon opens: the URI without transport, host and our own parameters, or
/// `?name=` if given; `None` (the daemon's default) for the `remote` scheme.
pub fn server_name(uri: &ConnectUri) -> Option<String> {
    if let Some(n) = uri.param("name") {
        return Some(n.to_string());
    }
    if uri.driver == "remote" {
        return None;
    }
    let rest: Vec<String> = uri
        .query
        .iter()
        .filter(|(k, _)| !TRANSPORT_PARAMS.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut s = format!("{}://{}", uri.driver, uri.path);
    if !rest.is_empty() {
        s.push('?');
        s.push_str(&rest.join("&"));
    }
    Some(s)
}

/// Where oxvirtd's sockets are: `$OXVIRT_SOCKET_DIR`, else `/run/oxvirt`.
pub fn socket_dir() -> PathBuf {
    std::env::var_os(SOCKET_DIR_ENV)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| DEFAULT_SOCKET_DIR.into())
}

fn ro_suffix(flags: u32) -> &'static str {
    if flags & flags::CONNECT_RO != 0 {
        "-ro"
    } else {
        ""
    }
}

/// Opens [`RemoteDriver`]s: `DRIVER+unix://` URIs always, and plain local `qemu:///system`,
/// `qemu:///session` and their `network:///` and `storage:///` peers when oxvirtd answers (otherwise it declines
/// and the in-process driver serves them). `test:///...` stays in-process, as in libvirt. Register it first.
pub struct RemoteDriverFactory;

impl DriverFactory for RemoteDriverFactory {
    fn accepts(&self, uri: &ConnectUri) -> bool {
        match uri.transport {
            Some(_) => true,
            None if uri.host.is_some() => true,
            None => {
                matches!(uri.driver.as_str(), "qemu" | "network" | "storage")
                    && matches!(uri.path.as_str(), "/system" | "/session")
            }
        }
    }

    fn open(&self, uri: &ConnectUri, flags: u32) -> Result<Arc<dyn Driver>> {
        self.try_open(uri, flags)?.ok_or_else(|| {
            Error::new(
                ErrorCode::NoConnect,
                ErrorDomain::Remote,
                format!(
                    "no daemon answers at {}",
                    socket_dir().join(format!("oxvirt-sock{}", ro_suffix(flags))).display()
                ),
            )
        })
    }

    fn try_open(&self, uri: &ConnectUri, flags: u32) -> Result<Option<Arc<dyn Driver>>> {
        let unsupported = |what: &str| {
            Err(Error::new(
                ErrorCode::NoSupport,
                ErrorDomain::Remote,
                format!("this function is not supported by the connection driver: the {what} transport is not supported yet ({uri}); use DRIVER+tls://HOST/PATH, or DRIVER+unix:///PATH over an ssh-forwarded socket"),
            ))
        };
        match uri.transport {
            Some(Transport::Unix) => {
                let path = match uri.param("socket") {
                    Some(s) => PathBuf::from(s),
                    None => {
                        let ours = socket_dir().join(format!("oxvirt-sock{}", ro_suffix(flags)));
                        if ours.exists() {
                            ours
                        } else {
                            PathBuf::from(format!("{LIBVIRT_SOCKET}{}", ro_suffix(flags)))
                        }
                    }
                };
                let d = RemoteDriver::connect(&path, server_name(uri).as_deref(), uri.as_str(), flags)?;
                Ok(Some(Arc::new(d)))
            }
            Some(Transport::Tls) => open_tls(uri, flags).map(Some),
            // A host without a transport means TLS, as in libvirt.
            None if uri.host.is_some() => open_tls(uri, flags).map(Some),
            Some(Transport::Tcp) => {
                let host = uri.host.as_deref().unwrap_or("localhost");
                let sock = tcp_connect(host, uri.port.unwrap_or(TCP_PORT))?;
                let d = RemoteDriver::over(Wire::tcp(sock)?, server_name(uri).as_deref(), uri.as_str(), flags)?;
                Ok(Some(Arc::new(d)))
            }
            Some(Transport::Ssh | Transport::Libssh) => unsupported("ssh"),
            Some(Transport::Ext) => unsupported("ext"),
            None => {
                let path = socket_dir().join(format!("oxvirt-sock{}", ro_suffix(flags)));
                let sock = match UnixStream::connect(&path) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::debug!(path = %path.display(), error = %e, "no daemon; the URI is served in-process");
                        return Ok(None);
                    }
                };
                match Wire::unix(sock)
                    .and_then(|w| RemoteDriver::over(w, server_name(uri).as_deref(), uri.as_str(), flags))
                {
                    Ok(d) => Ok(Some(Arc::new(d))),
                    // The daemon dropped us before answering (e.g. it refuses our user): serve
                    // in-process instead. An error the daemon sent stands.
                    Err(e) if e.domain == ErrorDomain::Rpc && e.code == ErrorCode::SystemError => {
                        tracing::debug!(path = %path.display(), error = %e, "daemon did not answer; the URI is served in-process");
                        Ok(None)
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }
}

/// `DRIVER+tls://[HOST][:PORT]/PATH[?pkipath=DIR][&no_verify=1]`, certificates found as libvirt
/// finds them ([`TlsClientConfig::locate`]).
fn open_tls(uri: &ConnectUri, flags: u32) -> Result<Arc<dyn Driver>> {
    let host = uri.host.as_deref().unwrap_or("localhost");
    let no_verify = matches!(uri.param("no_verify"), Some("1" | "true" | "yes"));
    let cfg = TlsClientConfig::locate(uri.param("pkipath").map(Path::new), no_verify);
    let stream = connect_tls(host, uri.port.unwrap_or(TLS_PORT), &cfg).map_err(tls_error)?;
    Ok(Arc::new(RemoteDriver::over(Wire::tls(stream)?, server_name(uri).as_deref(), uri.as_str(), flags)?))
}

/// libvirt's classification of transport failures: reaching the server is a system error,
/// a refused certificate an authentication failure.
fn tls_error(e: TlsError) -> Error {
    let code = match &e {
        TlsError::Connect { .. } => ErrorCode::SystemError,
        TlsError::Confirm | TlsError::Handshake(_) | TlsError::HandshakeTimeout(_) => ErrorCode::AuthFailed,
        _ => ErrorCode::Rpc,
    };
    Error::new(code, ErrorDomain::Rpc, e.to_string())
}

/// Connects to `host:port`, trying each address, each attempt bounded.
fn tcp_connect(host: &str, port: u16) -> Result<TcpStream> {
    let name = host.trim_start_matches('[').trim_end_matches(']');
    let fail = |e: io::Error| {
        Error::new(
            ErrorCode::SystemError,
            ErrorDomain::Rpc,
            format!("unable to connect to server at '{host}:{port}': {e}"),
        )
    };
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for a in (name, port).to_socket_addrs().map_err(fail)? {
        match TcpStream::connect_timeout(&a, IO_TIMEOUT) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(fail(last))
}

/// Makes `DRIVER+unix://` URIs, and local QEMU URIs while oxvirtd runs, openable through
/// [`oxvirt_api::Connect::open`]. Register before the in-process drivers. Idempotent.
pub fn register() {
    static ONCE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| oxvirt_api::register_driver(Arc::new(RemoteDriverFactory)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sent_to_the_daemon() {
        let n = |u: &str| server_name(&ConnectUri::parse(u).unwrap());
        assert_eq!(n("test+unix:///default?socket=/tmp/s").as_deref(), Some("test:///default"));
        assert_eq!(n("qemu:///system").as_deref(), Some("qemu:///system"));
        assert_eq!(n("qemu+unix:///embed?root=/x&socket=/s&mode=direct").as_deref(), Some("qemu:///embed?root=/x"));
        assert_eq!(n("remote+unix:///?socket=/s"), None);
        assert_eq!(n("test+unix:///?name=test:///default").as_deref(), Some("test:///default"));
    }

    fn open_err(f: &RemoteDriverFactory, uri: &str) -> Error {
        match f.open(&ConnectUri::parse(uri).unwrap(), 0) {
            Ok(_) => panic!("{uri} opened"),
            Err(e) => e,
        }
    }

    #[test]
    fn factory_scope() {
        let f = RemoteDriverFactory;
        let a = |u: &str| f.accepts(&ConnectUri::parse(u).unwrap());
        assert!(a("test+unix:///default"));
        assert!(a("qemu:///system"));
        assert!(a("qemu:///session"));
        assert!(a("qemu+tls://host/system"));
        assert!(!a("test:///default"));
        assert!(!a("qemu:///embed?root=/x"));
        let e = open_err(&f, "test+tcp://127.0.0.1:1/default");
        assert_eq!(e.code, ErrorCode::SystemError);
        assert!(e.message.starts_with("unable to connect to server at '127.0.0.1:1'"), "{e}");
        let e = open_err(&f, "qemu+ssh://root@host/system");
        assert!(e.message.contains("ssh transport"), "{e}");
        let e = open_err(&f, "test+unix:///default?socket=/nonexistent/sock");
        assert_eq!(e.code, ErrorCode::SystemError);
        assert!(e.message.contains("Failed to connect socket to '/nonexistent/sock'"), "{e}");
    }

    /// A listener that takes connections and drops them (a daemon refusing our user) makes a
    /// prompt system error, never a hang.
    #[test]
    fn server_hanging_up_fails_the_open() {
        let path = std::env::temp_dir().join(format!("oxvirt-remote-test-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || {
            for c in l.incoming().take(1) {
                drop(c);
            }
        });
        let t = std::time::Instant::now();
        let e = open_err(&RemoteDriverFactory, &format!("test+unix:///default?socket={}", path.display()));
        assert!(t.elapsed() < Duration::from_secs(5));
        assert_eq!((e.code, e.domain), (ErrorCode::SystemError, ErrorDomain::Rpc), "{e}");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn uuid_from_definition() {
        let u = "6695eb01-f6a4-8304-79aa-97f2502e193f";
        assert_eq!(
            uuid_in_xml(&format!("<domain><name>x</name><uuid> {u} </uuid></domain>")),
            Some(Uuid::parse_str(u).unwrap())
        );
        assert_eq!(uuid_in_xml("<domain/>"), None);
    }
}
