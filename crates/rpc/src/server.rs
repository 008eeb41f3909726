//! The server side of one client connection: decodes calls, runs them on an
//! [`oxvirt_api::Connect`], encodes replies, and pushes events and console data through a sink.
//! Transport (sockets, threads, keepalive timers) is the daemon's business; a [`Session`] only
//! turns messages into messages, so it can be driven from tests without a socket.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use oxvirt_api::{flags, Connect, Domain, Error, ErrorCode, ErrorDomain, Network, StoragePool, StorageVol};

use crate::console::ConsoleStream;
use crate::message::{Header, Message, MessageType, Status};
use crate::protocol::*;
use crate::xdr::{self, Array, Xdr};

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
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    match (u.driver.as_str(), u.path.as_str()) {
        ("test", "/default") => Ok(()),
        ("test", _) if readonly => {
            denied(format!("read-only clients may not open '{uri}': the daemon would read that file for them"))
        }
        ("test", _) => Ok(()),
        // Opening a driver the daemon does not host yet starts it (autostart, watchers): a side
        // effect a read-only client must not cause.
        ("qemu", "/system" | "/session") if readonly => Err(Error::new(
            ErrorCode::NoConnect,
            ErrorDomain::Rpc,
            format!("'{uri}' is not hosted by this daemon (host_uris), so read-only clients cannot open it"),
        )),
        ("qemu", "/system") if root => Ok(()),
        ("qemu", "/session") if !root => Ok(()),
        ("qemu", "/system" | "/session") => Err(Error::new(
            ErrorCode::NoConnect,
            ErrorDomain::Rpc,
            format!("this daemon runs as {}, so it serves {} and not '{uri}'", if root { "root" } else { "a user" }, if root { "qemu:///system" } else { "qemu:///session" }),
        )),
        ("qemu", "/embed") => denied(format!(
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
        let ids: Vec<Option<i32>> = self.events.lock().unwrap_or_else(|e| e.into_inner()).drain().map(|(_, v)| v).collect();
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
        self.conn
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| Error::new(ErrorCode::InternalError, ErrorDomain::Rpc, "internal error: hypervisor connection not open"))
    }

    fn dom(&self, d: &NonnullDomain) -> Result<Domain> {
        self.conn()?.lookup_domain_by_uuid(&d.uuid)
    }
    fn net(&self, n: &NonnullNetwork) -> Result<Network> {
        self.conn()?.lookup_network_by_uuid(&n.uuid)
    }
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
                MessageType::CallWithFds => Some(error_reply(h, &rpc_error("file descriptor passing is not supported"))),
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
            Ok(body) if body.len() > PAYLOAD_MAX => {
                error_reply(h, &rpc_error(format!("reply of {} bytes exceeds the protocol's limit of {PAYLOAD_MAX}", body.len())))
            }
            Ok(body) => Message { header: h.reply(Status::Ok), body },
            Err(e) => {
                tracing::debug!(proc = proc_name(h.proc_), serial = h.serial, error = %e, "call failed");
                error_reply(h, &e)
            }
        }
    }

    fn dispatch(&self, h: &Header, body: &[u8]) -> Result<Vec<u8>> {
        use procs as P;
        match h.proc_ {
            P::CONNECT_OPEN => run(body, |a: ConnectOpenArgs| self.open(a).map(|_| ())),
            P::CONNECT_CLOSE => run(body, |_: ()| {
                self.close();
                Ok(())
            }),
            P::AUTH_LIST => run(body, |_: ()| Ok(AuthListRet { types: Array(vec![AuthType::None]) })),
            P::CONNECT_SUPPORTS_FEATURE => run(body, |a: IntArgs| {
                let supported = match a.value {
                    feature::PROGRAM_KEEPALIVE => {
                        self.keepalive.store(true, Ordering::Relaxed);
                        true
                    }
                    _ => {
                        self.conn()?;
                        matches!(
                            a.value,
                            feature::REMOTE_EVENT_CALLBACK
                                | feature::REMOTE_CLOSE_CALLBACK
                                | feature::TYPED_PARAM_STRING
                                | feature::XML_MIGRATABLE
                                | feature::NETWORK_UPDATE_HAS_CORRECT_ORDER
                        )
                    }
                };
                Ok(SupportsFeatureRet { supported: supported as i32 })
            }),
            P::CONNECT_REGISTER_CLOSE_CALLBACK | P::CONNECT_UNREGISTER_CLOSE_CALLBACK => run(body, |_: ()| self.conn().map(|_| ())),
            P::CONNECT_GET_TYPE => run(body, |_: ()| Ok(StringRet { s: self.conn()?.kind().to_string() })),
            P::CONNECT_GET_VERSION => run(body, |_: ()| Ok(HyperRet { value: self.conn()?.hypervisor_version()? })),
            P::CONNECT_GET_LIB_VERSION => run(body, |_: ()| Ok(HyperRet { value: LIB_VERSION })),
            P::CONNECT_GET_HOSTNAME => run(body, |_: ()| Ok(StringRet { s: self.conn()?.hostname()? })),
            P::CONNECT_GET_URI => run(body, |_: ()| Ok(StringRet { s: self.conn()?.uri() })),
            P::CONNECT_GET_CAPABILITIES => run(body, |_: ()| Ok(StringRet { s: self.conn()?.capabilities()? })),
            P::CONNECT_GET_MAX_VCPUS => run(body, |a: OptStringArgs| {
                let n = self.conn()?.max_vcpus(a.s.as_deref())?;
                Ok(IntRet { value: i32::try_from(n).unwrap_or(i32::MAX) })
            }),
            P::CONNECT_GET_DOMAIN_CAPABILITIES => run(body, |a: DomainCapabilitiesArgs| {
                let s = self.conn()?.domain_capabilities(
                    a.emulatorbin.as_deref(),
                    a.arch.as_deref(),
                    a.machine.as_deref(),
                    a.virttype.as_deref(),
                )?;
                Ok(StringRet { s })
            }),
            P::NODE_GET_INFO => run(body, |_: ()| {
                let n = self.conn()?.node_info()?;
                let i = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
                Ok(NodeGetInfoRet {
                    model: xdr::c_chars(&n.model),
                    memory: n.memory,
                    cpus: i(n.cpus),
                    mhz: i(n.mhz),
                    nodes: i(n.nodes),
                    sockets: i(n.sockets),
                    cores: i(n.cores),
                    threads: i(n.threads),
                })
            }),
            P::NODE_GET_SECURITY_MODEL => run(body, |_: ()| {
                let m = self.conn()?.security_model()?;
                Ok(SecurityModelRet { model: c_string_array(&m.model), doi: c_string_array(&m.doi) })
            }),

            P::CONNECT_LIST_ALL_DOMAINS => run(body, |a: ListAllArgs| {
                let all = self.conn()?.list_all_domains(a.flags)?;
                list_limit(all.len(), DOMAIN_LIST_MAX, "domains")?;
                let ret = all.len() as u32;
                let domains = if a.need_results != 0 { all.iter().map(|d| d.reference().into()).collect() } else { vec![] };
                Ok(ListAllDomainsRet { domains: Array(domains), ret })
            }),
            P::CONNECT_NUM_OF_DOMAINS => run(body, |_: ()| {
                let n = self.conn()?.list_all_domains(flags::LIST_DOMAINS_ACTIVE)?.len();
                Ok(IntRet { value: n as i32 })
            }),
            P::CONNECT_NUM_OF_DEFINED_DOMAINS => run(body, |_: ()| {
                let n = self.conn()?.list_all_domains(flags::LIST_DOMAINS_INACTIVE)?.len();
                Ok(IntRet { value: n as i32 })
            }),
            P::CONNECT_LIST_DOMAINS => run(body, |a: IntArgs| {
                list_limit(a.value.max(0) as usize, DOMAIN_LIST_MAX, "domains")?;
                let mut ids: Vec<i32> = self.conn()?.list_all_domains(flags::LIST_DOMAINS_ACTIVE)?.iter().map(|d| d.id()).collect();
                ids.sort_unstable();
                ids.truncate(a.value.max(0) as usize);
                Ok(ListDomainsRet { ids: Array(ids) })
            }),
            P::CONNECT_LIST_DEFINED_DOMAINS => run(body, |a: IntArgs| {
                list_limit(a.value.max(0) as usize, DOMAIN_LIST_MAX, "domains")?;
                let mut names: Vec<String> =
                    self.conn()?.list_all_domains(flags::LIST_DOMAINS_INACTIVE)?.iter().map(|d| d.name().to_string()).collect();
                names.sort();
                names.truncate(a.value.max(0) as usize);
                Ok(ListNamesRet { names: Array(names) })
            }),
            P::CONNECT_NUM_OF_NETWORKS | P::CONNECT_NUM_OF_DEFINED_NETWORKS => run(body, |_: ()| {
                let f = if h.proc_ == P::CONNECT_NUM_OF_NETWORKS { flags::LIST_ACTIVE } else { flags::LIST_INACTIVE };
                Ok(IntRet { value: self.conn()?.list_all_networks(f)?.len() as i32 })
            }),
            P::CONNECT_LIST_NETWORKS | P::CONNECT_LIST_DEFINED_NETWORKS => run(body, |a: IntArgs| {
                list_limit(a.value.max(0) as usize, NETWORK_LIST_MAX, "networks")?;
                let f = if h.proc_ == P::CONNECT_LIST_NETWORKS { flags::LIST_ACTIVE } else { flags::LIST_INACTIVE };
                let mut names: Vec<String> = self.conn()?.list_all_networks(f)?.iter().map(|n| n.name().to_string()).collect();
                names.truncate(a.value.max(0) as usize);
                Ok(ListNamesRet { names: Array(names) })
            }),
            P::CONNECT_NUM_OF_STORAGE_POOLS | P::CONNECT_NUM_OF_DEFINED_STORAGE_POOLS => run(body, |_: ()| {
                let f = if h.proc_ == P::CONNECT_NUM_OF_STORAGE_POOLS { flags::LIST_ACTIVE } else { flags::LIST_INACTIVE };
                Ok(IntRet { value: self.conn()?.list_all_storage_pools(f)?.len() as i32 })
            }),
            P::CONNECT_LIST_STORAGE_POOLS | P::CONNECT_LIST_DEFINED_STORAGE_POOLS => run(body, |a: IntArgs| {
                list_limit(a.value.max(0) as usize, STORAGE_POOL_LIST_MAX, "storage pools")?;
                let f = if h.proc_ == P::CONNECT_LIST_STORAGE_POOLS { flags::LIST_ACTIVE } else { flags::LIST_INACTIVE };
                let mut names: Vec<String> = self.conn()?.list_all_storage_pools(f)?.iter().map(|p| p.name().to_string()).collect();
                names.truncate(a.value.max(0) as usize);
                Ok(ListNamesRet { names: Array(names) })
            }),
            P::CONNECT_IS_SECURE => run(body, |_: ()| {
                // Unix sockets: nobody can listen in between the client and us.
                self.conn()?;
                Ok(IntRet { value: 1 })
            }),
            P::CONNECT_LIST_ALL_NETWORKS => run(body, |a: ListAllArgs| {
                let all = self.conn()?.list_all_networks(a.flags)?;
                list_limit(all.len(), NETWORK_LIST_MAX, "networks")?;
                let ret = all.len() as u32;
                let nets = if a.need_results != 0 { all.iter().map(|n| n.reference().into()).collect() } else { vec![] };
                Ok(ListAllNetworksRet { nets: Array(nets), ret })
            }),
            P::CONNECT_LIST_ALL_STORAGE_POOLS => run(body, |a: ListAllArgs| {
                let all = self.conn()?.list_all_storage_pools(a.flags)?;
                list_limit(all.len(), STORAGE_POOL_LIST_MAX, "storage pools")?;
                let ret = all.len() as u32;
                let pools = if a.need_results != 0 { all.iter().map(|p| p.reference().into()).collect() } else { vec![] };
                Ok(ListAllPoolsRet { pools: Array(pools), ret })
            }),
            P::STORAGE_POOL_LIST_ALL_VOLUMES => run(body, |a: PoolListAllVolumesArgs| {
                let all = self.pool(&a.pool)?.list_all_volumes()?;
                list_limit(all.len(), STORAGE_VOL_LIST_MAX, "storage volumes")?;
                let ret = all.len() as u32;
                let vols = if a.need_results != 0 { all.iter().map(|v| v.reference().into()).collect() } else { vec![] };
                Ok(ListAllVolumesRet { vols: Array(vols), ret })
            }),
            P::STORAGE_POOL_NUM_OF_VOLUMES => {
                run(body, |a: PoolArgs| Ok(IntRet { value: self.pool(&a.pool)?.list_all_volumes()?.len() as i32 }))
            }
            P::STORAGE_POOL_LIST_VOLUMES => run(body, |a: PoolIntArgs| {
                list_limit(a.value.max(0) as usize, STORAGE_VOL_LIST_MAX, "storage volumes")?;
                let mut names: Vec<String> = self.pool(&a.pool)?.list_all_volumes()?.iter().map(|v| v.name().to_string()).collect();
                names.truncate(a.value.max(0) as usize);
                Ok(ListNamesRet { names: Array(names) })
            }),

            P::DOMAIN_LOOKUP_BY_ID => {
                run(body, |a: IntArgs| Ok(DomRet { dom: self.conn()?.lookup_domain_by_id(a.value)?.reference().into() }))
            }
            P::DOMAIN_LOOKUP_BY_NAME => {
                run(body, |a: StringArgs| Ok(DomRet { dom: self.conn()?.lookup_domain_by_name(&a.s)?.reference().into() }))
            }
            P::DOMAIN_LOOKUP_BY_UUID => {
                run(body, |a: UuidArgs| Ok(DomRet { dom: self.conn()?.lookup_domain_by_uuid(&a.uuid)?.reference().into() }))
            }
            P::DOMAIN_DEFINE_XML => run(body, |a: StringArgs| {
                let (d, _) = self.conn()?.define_domain(&a.s, 0)?;
                Ok(DomRet { dom: d.reference().into() })
            }),
            P::DOMAIN_DEFINE_XML_FLAGS => run(body, |a: StringFlagsArgs| {
                let (d, _) = self.conn()?.define_domain(&a.s, a.flags)?;
                Ok(DomRet { dom: d.reference().into() })
            }),
            P::DOMAIN_UNDEFINE => run(body, |a: DomArgs| self.dom(&a.dom)?.undefine(0)),
            P::DOMAIN_UNDEFINE_FLAGS => run(body, |a: DomFlagsArgs| self.dom(&a.dom)?.undefine(a.flags)),
            P::DOMAIN_CREATE => run(body, |a: DomArgs| self.dom(&a.dom)?.create(0)),
            P::DOMAIN_CREATE_WITH_FLAGS => run(body, |a: DomFlagsArgs| {
                let mut d = self.dom(&a.dom)?;
                d.create(a.flags)?;
                Ok(DomRet { dom: d.reference().into() })
            }),
            P::DOMAIN_CREATE_XML => run(body, |a: StringFlagsArgs| {
                Ok(DomRet { dom: self.conn()?.create_domain_xml(&a.s, a.flags)?.reference().into() })
            }),
            P::DOMAIN_SHUTDOWN => run(body, |a: DomArgs| self.dom(&a.dom)?.shutdown(0)),
            P::DOMAIN_SHUTDOWN_FLAGS => run(body, |a: DomFlagsArgs| self.dom(&a.dom)?.shutdown(a.flags)),
            P::DOMAIN_REBOOT => run(body, |a: DomFlagsArgs| self.dom(&a.dom)?.reboot(a.flags)),
            P::DOMAIN_RESET => run(body, |a: DomFlagsArgs| self.dom(&a.dom)?.reset(a.flags)),
            P::DOMAIN_DESTROY => run(body, |a: DomArgs| self.dom(&a.dom)?.destroy(0)),
            P::DOMAIN_DESTROY_FLAGS => run(body, |a: DomFlagsArgs| self.dom(&a.dom)?.destroy(a.flags)),
            P::DOMAIN_SUSPEND => run(body, |a: DomArgs| self.dom(&a.dom)?.suspend()),
            P::DOMAIN_RESUME => run(body, |a: DomArgs| self.dom(&a.dom)?.resume()),
            P::DOMAIN_SAVE => run(body, |a: DomainSaveArgs| self.dom(&a.dom)?.save(&a.to, None, 0)),
            P::DOMAIN_SAVE_FLAGS => {
                run(body, |a: DomainSaveFlagsArgs| self.dom(&a.dom)?.save(&a.to, a.dxml.as_deref(), a.flags))
            }
            P::DOMAIN_RESTORE => run(body, |a: StringArgs| self.conn()?.restore_domain(&a.s, None, 0).map(|_| ())),
            P::DOMAIN_RESTORE_FLAGS => run(body, |a: DomainRestoreFlagsArgs| {
                self.conn()?.restore_domain(&a.from, a.dxml.as_deref(), a.flags).map(|_| ())
            }),
            P::DOMAIN_SAVE_IMAGE_GET_XML_DESC => {
                run(body, |a: StringFlagsArgs| Ok(StringRet { s: self.conn()?.save_image_xml(&a.s, a.flags)? }))
            }
            P::DOMAIN_MANAGED_SAVE => run(body, |a: DomFlagsArgs| self.dom(&a.dom)?.managed_save(a.flags)),
            P::DOMAIN_HAS_MANAGED_SAVE_IMAGE => run(body, |a: DomFlagsArgs| Ok(int(self.dom(&a.dom)?.has_managed_save()?))),
            P::DOMAIN_MANAGED_SAVE_REMOVE => run(body, |a: DomFlagsArgs| self.dom(&a.dom)?.managed_save_remove()),
            P::DOMAIN_GET_XML_DESC => run(body, |a: DomFlagsArgs| Ok(StringRet { s: self.dom(&a.dom)?.xml_desc(a.flags)? })),
            P::DOMAIN_GET_INFO => run(body, |a: DomArgs| {
                let i = self.dom(&a.dom)?.info()?;
                Ok(DomainGetInfoRet {
                    state: i.state as u8,
                    max_mem: i.max_mem,
                    memory: i.memory,
                    nr_virt_cpu: u16::try_from(i.nr_virt_cpu).unwrap_or(u16::MAX),
                    cpu_time: i.cpu_time,
                })
            }),
            P::DOMAIN_GET_STATE => run(body, |a: DomFlagsArgs| {
                let (s, reason) = self.dom(&a.dom)?.state()?;
                Ok(DomainGetStateRet { state: s as i32, reason })
            }),
            P::DOMAIN_GET_OS_TYPE => run(body, |a: DomArgs| Ok(StringRet { s: self.dom(&a.dom)?.os_type()? })),
            P::DOMAIN_GET_AUTOSTART => run(body, |a: DomArgs| Ok(int(self.dom(&a.dom)?.autostart()?))),
            P::DOMAIN_SET_AUTOSTART => run(body, |a: DomIntArgs| self.dom(&a.dom)?.set_autostart(a.value != 0)),
            P::DOMAIN_IS_ACTIVE => run(body, |a: DomArgs| Ok(int(self.dom(&a.dom)?.is_active()?))),
            P::DOMAIN_IS_PERSISTENT => run(body, |a: DomArgs| Ok(int(self.dom(&a.dom)?.is_persistent()?))),
            P::DOMAIN_IS_UPDATED => run(body, |a: DomArgs| Ok(int(self.dom(&a.dom)?.is_updated()?))),
            P::DOMAIN_SNAPSHOT_NUM => {
                run(body, |a: DomFlagsArgs| Ok(IntRet { value: self.dom(&a.dom)?.snapshot_count()? as i32 }))
            }
            P::DOMAIN_GET_SECURITY_LABEL => run(body, |a: DomArgs| {
                let l = self.dom(&a.dom)?.security_label()?;
                Ok(SecurityLabelRet { enforcing: l.enforcing as i32, label: c_string_array(&l.label) })
            }),
            P::DOMAIN_GET_CONTROL_INFO => run(body, |a: DomFlagsArgs| {
                if !self.dom(&a.dom)?.is_active()? {
                    return Err(Error::operation_invalid("domain is not running"));
                }
                Ok(ControlInfoRet { state: 0, details: 0, state_time: 0 })
            }),
            P::DOMAIN_GET_MESSAGES => run(body, |a: DomFlagsArgs| {
                self.dom(&a.dom)?;
                Ok(MessagesRet { msgs: Array(vec![]) })
            }),
            P::DOMAIN_SET_MEMORY => run(body, |a: DomainSetMemoryArgs| self.dom(&a.dom)?.set_memory(a.memory, flags::AFFECT_LIVE)),
            // The flagless calls are the FLAGS ones with AFFECT_LIVE, as in libvirt.
            P::DOMAIN_ATTACH_DEVICE => run(body, |a: DomXmlArgs| self.dom(&a.dom)?.attach_device(&a.xml, flags::AFFECT_LIVE)),
            P::DOMAIN_ATTACH_DEVICE_FLAGS => run(body, |a: DomXmlFlagsArgs| self.dom(&a.dom)?.attach_device(&a.xml, a.flags)),
            P::DOMAIN_DETACH_DEVICE => run(body, |a: DomXmlArgs| self.dom(&a.dom)?.detach_device(&a.xml, flags::AFFECT_LIVE)),
            P::DOMAIN_DETACH_DEVICE_FLAGS => run(body, |a: DomXmlFlagsArgs| self.dom(&a.dom)?.detach_device(&a.xml, a.flags)),
            P::DOMAIN_UPDATE_DEVICE_FLAGS => run(body, |a: DomXmlFlagsArgs| self.dom(&a.dom)?.update_device(&a.xml, a.flags)),
            P::DOMAIN_INTERFACE_ADDRESSES => run(body, |a: DomainInterfaceAddressesArgs| {
                if a.flags != 0 {
                    return Err(Error::invalid_arg(format!("unsupported flags (0x{:x}) in function virDomainInterfaceAddresses", a.flags)));
                }
                let ifaces = self.dom(&a.dom)?.interface_addresses(a.source)?;
                Ok(DomainInterfaceAddressesRet { ifaces: Array(ifaces.iter().map(DomainInterfaceWire::from).collect()) })
            }),
            P::DOMAIN_SET_INTERFACE_PARAMETERS => run(body, |a: DomainSetInterfaceParametersArgs| {
                let params: Vec<(String, oxvirt_api::TypedParam)> = a.params.0.iter().map(|p| (p.field.clone(), (&p.value).into())).collect();
                self.dom(&a.dom)?.set_interface_parameters(&a.device, &params, a.flags)
            }),
            // libvirt's two-step getter: nparams 0 asks how many there are.
            P::DOMAIN_GET_INTERFACE_PARAMETERS => run(body, |a: DomainGetInterfaceParametersArgs| {
                let wanted = usize::try_from(a.nparams).map_err(|_| Error::invalid_arg("nparams must not be negative"))?;
                if wanted > DOMAIN_INTERFACE_PARAMETERS_MAX {
                    return Err(Error::invalid_arg("nparams too large"));
                }
                let d = self.dom(&a.dom)?;
                if wanted == 0 {
                    // As libvirt's drivers: the count alone, before the interface is looked up.
                    let n = i32::try_from(oxvirt_api::types::iftune::NAMES.len()).unwrap_or(i32::MAX);
                    return Ok(DomainGetInterfaceParametersRet { params: Array(Vec::new()), nparams: n });
                }
                let params = d.interface_parameters(&a.device, a.flags)?;
                let params = params.iter().take(wanted).map(|(k, v)| RemoteTypedParam { field: k.clone(), value: v.into() }).collect();
                Ok(DomainGetInterfaceParametersRet { params: Array(params), nparams: 0 })
            }),
            P::DOMAIN_SET_MEMORY_FLAGS => {
                run(body, |a: DomainSetMemoryFlagsArgs| self.dom(&a.dom)?.set_memory(a.memory, a.flags))
            }
            P::DOMAIN_SET_VCPUS => run(body, |a: DomainSetVcpusArgs| self.dom(&a.dom)?.set_vcpus(a.nvcpus, flags::AFFECT_LIVE)),
            P::DOMAIN_SET_VCPUS_FLAGS => {
                run(body, |a: DomainSetVcpusFlagsArgs| self.dom(&a.dom)?.set_vcpus(a.nvcpus, a.flags))
            }
            P::DOMAIN_GET_VCPUS_FLAGS => run(body, |a: DomFlagsArgs| {
                Ok(IntRet { value: i32::try_from(self.dom(&a.dom)?.vcpus_flags(a.flags)?).unwrap_or(i32::MAX) })
            }),
            P::DOMAIN_GET_MAX_VCPUS => {
                run(body, |a: DomArgs| Ok(IntRet { value: i32::try_from(self.dom(&a.dom)?.max_vcpus()?).unwrap_or(i32::MAX) }))
            }
            P::DOMAIN_GET_MAX_MEMORY => run(body, |a: DomArgs| Ok(HyperRet { value: self.dom(&a.dom)?.info()?.max_mem })),
            P::DOMAIN_GET_JOB_INFO => run(body, |a: DomArgs| {
                self.dom(&a.dom)?;
                Ok(JobInfoRet {
                    kind: 0,
                    time_elapsed: 0,
                    time_remaining: 0,
                    data_total: 0,
                    data_processed: 0,
                    data_remaining: 0,
                    mem_total: 0,
                    mem_processed: 0,
                    mem_remaining: 0,
                    file_total: 0,
                    file_processed: 0,
                    file_remaining: 0,
                })
            }),
            P::DOMAIN_OPEN_CONSOLE => run(body, |a: OpenConsoleArgs| self.open_console(h, a)),

            P::NETWORK_LOOKUP_BY_NAME => {
                run(body, |a: StringArgs| Ok(NetRet { net: self.conn()?.lookup_network_by_name(&a.s)?.reference().into() }))
            }
            P::NETWORK_LOOKUP_BY_UUID => {
                run(body, |a: UuidArgs| Ok(NetRet { net: self.conn()?.lookup_network_by_uuid(&a.uuid)?.reference().into() }))
            }
            P::NETWORK_DEFINE_XML => {
                run(body, |a: StringArgs| Ok(NetRet { net: self.conn()?.define_network(&a.s, 0)?.reference().into() }))
            }
            P::NETWORK_DEFINE_XML_FLAGS => run(body, |a: StringFlagsArgs| {
                Ok(NetRet { net: self.conn()?.define_network(&a.s, a.flags)?.reference().into() })
            }),
            P::NETWORK_CREATE_XML => {
                run(body, |a: StringArgs| Ok(NetRet { net: self.conn()?.create_network_xml(&a.s, 0)?.reference().into() }))
            }
            P::NETWORK_CREATE_XML_FLAGS => run(body, |a: StringFlagsArgs| {
                Ok(NetRet { net: self.conn()?.create_network_xml(&a.s, a.flags)?.reference().into() })
            }),
            P::NETWORK_CREATE => run(body, |a: NetArgs| self.net(&a.net)?.create()),
            P::NETWORK_DESTROY => run(body, |a: NetArgs| self.net(&a.net)?.destroy()),
            P::NETWORK_UNDEFINE => run(body, |a: NetArgs| self.net(&a.net)?.undefine()),
            P::NETWORK_GET_XML_DESC => run(body, |a: NetFlagsArgs| Ok(StringRet { s: self.net(&a.net)?.xml_desc(a.flags)? })),
            P::NETWORK_GET_BRIDGE_NAME => run(body, |a: NetArgs| Ok(StringRet { s: self.net(&a.net)?.bridge_name()? })),
            P::NETWORK_GET_AUTOSTART => run(body, |a: NetArgs| Ok(int(self.net(&a.net)?.autostart()?))),
            P::NETWORK_SET_AUTOSTART => run(body, |a: NetIntArgs| self.net(&a.net)?.set_autostart(a.value != 0)),
            P::NETWORK_UPDATE => run(body, |a: NetworkUpdateArgs| {
                self.net(&a.net)?.update(a.command, a.section, a.parent_index, &a.xml, a.flags)
            }),
            P::NETWORK_GET_DHCP_LEASES => run(body, |a: NetworkGetDhcpLeasesArgs| {
                let leases = self.net(&a.net)?.dhcp_leases(a.mac.as_deref())?;
                let ret = leases.len() as u32;
                // need_results 0: the caller only wants the count.
                let leases = if a.need_results != 0 { leases.iter().map(NetworkDhcpLease::from).collect() } else { Vec::new() };
                Ok(NetworkGetDhcpLeasesRet { leases: Array(leases), ret })
            }),
            P::NETWORK_IS_ACTIVE => run(body, |a: NetArgs| Ok(int(self.net(&a.net)?.is_active()?))),
            P::NETWORK_IS_PERSISTENT => run(body, |a: NetArgs| Ok(int(self.net(&a.net)?.is_persistent()?))),

            P::STORAGE_POOL_LOOKUP_BY_NAME => run(body, |a: StringArgs| {
                Ok(PoolRet { pool: self.conn()?.lookup_storage_pool_by_name(&a.s)?.reference().into() })
            }),
            P::STORAGE_POOL_LOOKUP_BY_UUID => run(body, |a: UuidArgs| {
                Ok(PoolRet { pool: self.conn()?.lookup_storage_pool_by_uuid(&a.uuid)?.reference().into() })
            }),
            P::STORAGE_POOL_LOOKUP_BY_VOLUME => run(body, |a: VolArgs| {
                Ok(PoolRet { pool: self.vol(&a.vol)?.pool()?.reference().into() })
            }),
            P::STORAGE_POOL_DEFINE_XML => run(body, |a: StringFlagsArgs| {
                Ok(PoolRet { pool: self.conn()?.define_storage_pool(&a.s, a.flags)?.reference().into() })
            }),
            P::STORAGE_POOL_CREATE_XML => run(body, |a: StringFlagsArgs| {
                Ok(PoolRet { pool: self.conn()?.create_storage_pool_xml(&a.s, a.flags)?.reference().into() })
            }),
            P::STORAGE_POOL_CREATE => run(body, |a: PoolFlagsArgs| self.pool(&a.pool)?.create(a.flags)),
            P::STORAGE_POOL_BUILD => run(body, |a: PoolFlagsArgs| self.pool(&a.pool)?.build(a.flags)),
            P::STORAGE_POOL_DESTROY => run(body, |a: PoolArgs| self.pool(&a.pool)?.destroy()),
            P::STORAGE_POOL_DELETE => run(body, |a: PoolFlagsArgs| self.pool(&a.pool)?.delete(a.flags)),
            P::STORAGE_POOL_UNDEFINE => run(body, |a: PoolArgs| self.pool(&a.pool)?.undefine()),
            P::STORAGE_POOL_REFRESH => run(body, |a: PoolFlagsArgs| self.pool(&a.pool)?.refresh(a.flags)),
            P::STORAGE_POOL_GET_XML_DESC => {
                run(body, |a: PoolFlagsArgs| Ok(StringRet { s: self.pool(&a.pool)?.xml_desc(a.flags)? }))
            }
            P::STORAGE_POOL_GET_INFO => run(body, |a: PoolArgs| {
                let i = self.pool(&a.pool)?.info()?;
                Ok(PoolGetInfoRet { state: i.state as u8, capacity: i.capacity, allocation: i.allocation, available: i.available })
            }),
            P::STORAGE_POOL_GET_AUTOSTART => run(body, |a: PoolArgs| Ok(int(self.pool(&a.pool)?.autostart()?))),
            P::STORAGE_POOL_SET_AUTOSTART => run(body, |a: PoolIntArgs| self.pool(&a.pool)?.set_autostart(a.value != 0)),
            P::STORAGE_POOL_IS_ACTIVE => run(body, |a: PoolArgs| Ok(int(self.pool(&a.pool)?.is_active()?))),
            P::STORAGE_POOL_IS_PERSISTENT => run(body, |a: PoolArgs| Ok(int(self.pool(&a.pool)?.is_persistent()?))),
            P::STORAGE_VOL_LOOKUP_BY_NAME => run(body, |a: VolLookupByNameArgs| {
                Ok(VolRet { vol: self.pool(&a.pool)?.lookup_volume_by_name(&a.name)?.reference().into() })
            }),
            P::STORAGE_VOL_LOOKUP_BY_KEY => {
                run(body, |a: StringArgs| Ok(VolRet { vol: self.conn()?.lookup_storage_vol_by_key(&a.s)?.reference().into() }))
            }
            P::STORAGE_VOL_LOOKUP_BY_PATH => run(body, |a: StringArgs| {
                Ok(VolRet { vol: self.conn()?.lookup_storage_vol_by_path(&a.s)?.reference().into() })
            }),
            P::STORAGE_VOL_CREATE_XML => run(body, |a: VolCreateXmlArgs| {
                Ok(VolRet { vol: self.pool(&a.pool)?.create_volume_xml(&a.xml, a.flags)?.reference().into() })
            }),
            P::STORAGE_VOL_DELETE => run(body, |a: VolFlagsArgs| self.vol(&a.vol)?.delete(a.flags)),
            P::STORAGE_VOL_GET_XML_DESC => run(body, |a: VolFlagsArgs| Ok(StringRet { s: self.vol(&a.vol)?.xml_desc(a.flags)? })),
            P::STORAGE_VOL_GET_INFO_FLAGS => run(body, |a: VolFlagsArgs| {
                let i = self.vol(&a.vol)?.info()?;
                Ok(VolGetInfoRet { kind: i8::try_from(i.kind).unwrap_or(0), capacity: i.capacity, allocation: i.allocation })
            }),
            P::STORAGE_VOL_GET_INFO => run(body, |a: VolArgs| {
                let i = self.vol(&a.vol)?.info()?;
                Ok(VolGetInfoRet { kind: i8::try_from(i.kind).unwrap_or(0), capacity: i.capacity, allocation: i.allocation })
            }),
            P::STORAGE_VOL_GET_PATH => run(body, |a: VolArgs| Ok(StringRet { s: self.vol(&a.vol)?.path()? })),

            P::CONNECT_GET_ALL_DOMAIN_STATS => run(body, |a: GetAllDomainStatsArgs| {
                let conn = self.conn()?;
                let doms: Vec<oxvirt_api::Domain> = if a.doms.0.is_empty() {
                    // the state filters share the bits of virConnectListAllDomains
                    conn.list_all_domains(a.flags & 0xff)?
                } else {
                    a.doms.0.iter().map(|d| self.dom(d)).collect::<Result<_>>()?
                };
                let groups = if a.stats == 0 { oxvirt_api::stats::ALL } else { a.stats };
                let mut out = Vec::new();
                for d in doms {
                    let params = d.stats(groups)?;
                    out.push(DomainStatsRecord {
                        dom: d.reference().into(),
                        params: Array(params.iter().map(|(k, v)| RemoteTypedParam { field: k.clone(), value: v.into() }).collect()),
                    });
                }
                Ok(GetAllDomainStatsRet { stats: Array(out) })
            }),
            P::NODE_NUM_OF_DEVICES => run(body, |a: NodeNumOfDevicesArgs| {
                Ok(IntRet { value: self.conn()?.list_all_node_devices(a.cap.as_deref())?.len() as i32 })
            }),
            P::NODE_LIST_DEVICES => run(body, |a: NodeListDevicesArgs| {
                let mut names: Vec<String> =
                    self.conn()?.list_all_node_devices(a.cap.as_deref())?.iter().map(|d| d.name().to_string()).collect();
                names.truncate(a.maxnames.max(0) as usize);
                Ok(NodeListDevicesRet { names: Array(names) })
            }),
            P::CONNECT_LIST_ALL_NODE_DEVICES => run(body, |a: ListAllArgs| {
                let all = self.list_node_devices_by_flags(a.flags)?;
                list_limit(all.len(), NODE_DEVICE_LIST_MAX, "node devices")?;
                let ret = all.len() as u32;
                let devices = if a.need_results != 0 { all.into_iter().map(|name| NonnullNodeDevice { name }).collect() } else { vec![] };
                Ok(ListAllNodeDevicesRet { devices: Array(devices), ret })
            }),
            P::NODE_DEVICE_LOOKUP_BY_NAME => run(body, |a: StringArgs| {
                Ok(NodeDeviceRet { dev: NonnullNodeDevice { name: self.conn()?.lookup_node_device_by_name(&a.s)?.name().to_string() } })
            }),
            P::NODE_DEVICE_GET_XML_DESC => {
                run(body, |a: StringFlagsArgs| Ok(StringRet { s: self.conn()?.lookup_node_device_by_name(&a.s)?.xml_desc()? }))
            }
            P::NODE_DEVICE_GET_PARENT => {
                run(body, |a: StringArgs| Ok(NodeDeviceGetParentRet { parent: self.conn()?.lookup_node_device_by_name(&a.s)?.parent()? }))
            }
            P::NODE_DEVICE_NUM_OF_CAPS => run(body, |a: StringArgs| Ok(IntRet { value: self.node_device_caps(&a.s)?.len() as i32 })),
            P::NODE_DEVICE_LIST_CAPS => run(body, |a: NodeDeviceListCapsArgs| {
                let mut names = self.node_device_caps(&a.name)?;
                names.truncate(a.maxnames.max(0) as usize);
                Ok(NodeDeviceListCapsRet { names: Array(names) })
            }),

            P::CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY => run(body, |a: EventRegisterArgs| self.event_register(a)),
            P::CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY => run(body, |a: IntArgs| self.event_deregister(a.value)),

            other => Err(rpc_error(format!("unknown procedure: {other}"))),
        }
    }

    /// `virConnectListAllNodeDevices` flags: one bit per capability type, in libvirt's order
    /// (`oxvirt_xml::nodedev::CAP_TYPES`); no capability bit means all devices.
    fn list_node_devices_by_flags(&self, f: u32) -> Result<Vec<String>> {
        let conn = self.conn()?;
        let caps: Vec<&str> =
            oxvirt_xml::nodedev::CAP_TYPES.iter().enumerate().filter(|(i, _)| f & (1 << i) != 0).map(|(_, c)| *c).collect();
        if caps.is_empty() {
            return Ok(conn.list_all_node_devices(None)?.iter().map(|d| d.name().to_string()).collect());
        }
        let mut out: Vec<String> = Vec::new();
        for c in caps {
            for d in conn.list_all_node_devices(Some(c))? {
                if !out.iter().any(|n| n == d.name()) {
                    out.push(d.name().to_string());
                }
            }
        }
        Ok(out)
    }

    fn node_device_caps(&self, name: &str) -> Result<Vec<String>> {
        self.conn()?.lookup_node_device_by_name(name)?.caps()
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

    fn event_register(&self, a: EventRegisterArgs) -> Result<IntRet> {
        /// `VIR_DOMAIN_EVENT_ID_LIFECYCLE`; libvirt 9.0 knows ids up to 25.
        const LIFECYCLE: i32 = 0;
        const LAST: i32 = 26;
        if !(0..LAST).contains(&a.event_id) {
            return Err(Error::invalid_arg(format!("unsupported event ID {}", a.event_id)));
        }
        let conn = self.conn()?;
        if self.events.lock().unwrap_or_else(|e| e.into_inner()).len() >= MAX_EVENT_CALLBACKS {
            return Err(rpc_error(format!("too many event callbacks on this connection (limit {MAX_EVENT_CALLBACKS})")));
        }
        let dom = a.dom.as_ref().map(|d| conn.lookup_domain_by_uuid(&d.uuid)).transpose()?;
        let callback_id = self.next_callback.fetch_add(1, Ordering::Relaxed) + 1;
        let driver_id = if a.event_id == LIFECYCLE {
            let sink = self.sink.clone();
            let cb: oxvirt_api::DomainEventCallback = Arc::new(move |ev: &oxvirt_api::DomainEvent| {
                let msg = EventCallbackLifecycleMsg {
                    callback_id,
                    msg: EventLifecycleMsg { dom: (&ev.domain).into(), event: ev.kind as i32, detail: ev.detail },
                };
                let header = Header {
                    prog: REMOTE_PROGRAM,
                    vers: REMOTE_VERSION,
                    proc_: procs::DOMAIN_EVENT_CALLBACK_LIFECYCLE,
                    mtype: MessageType::Message,
                    serial: 0,
                    status: Status::Ok,
                };
                if !sink(Message::new(header, &msg)) {
                    tracing::debug!(callback_id, "event dropped: client gone or too slow");
                }
            });
            Some(conn.domain_event_register(dom.as_ref(), cb)?)
        } else {
            None
        };
        self.events.lock().unwrap_or_else(|e| e.into_inner()).insert(callback_id, driver_id);
        Ok(IntRet { value: callback_id })
    }

    fn event_deregister(&self, callback_id: i32) -> Result<()> {
        let conn = self.conn()?;
        let entry = self.events.lock().unwrap_or_else(|e| e.into_inner()).remove(&callback_id);
        match entry {
            None => Err(Error::invalid_arg(format!("callback ID {callback_id} not registered"))),
            Some(Some(id)) => conn.domain_event_deregister(id),
            Some(None) => Ok(()),
        }
    }

    fn open_console(&self, h: &Header, a: OpenConsoleArgs) -> Result<()> {
        let d = self.dom(&a.dom)?;
        if self.conn()?.is_read_only() {
            return Err(Error::read_only("opening a console"));
        }
        if !d.is_active()? {
            return Err(Error::operation_invalid("domain is not running"));
        }
        let path = d.console_path(a.dev_name.as_deref())?;
        let stream = ConsoleStream::open(&path, h.proc_, h.serial, self.sink.clone())?;
        self.streams.lock().unwrap_or_else(|e| e.into_inner()).insert(h.serial, stream);
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
                    Some(Message { header: stream_header(h.proc_, h.serial, Status::Error), body: xdr::to_bytes(&RemoteError::from(&e)) })
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
        }
        // files by path: read-write (root-equivalent) clients only
        assert_eq!(code("test:///etc/shadow", true), Some(ErrorCode::OperationDenied));
        assert_eq!(code("test:///tmp/node.xml", false), None);
        // a read-only client does not make the daemon start a driver it does not host
        assert!(check_served_uri("qemu:///system", true, &[]).is_err());
    }
}
