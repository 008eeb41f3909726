//! `oxvirtd.conf`: `key = value` lines like libvirtd.conf (`#` comments, quoted strings,
//! integers, `0`/`1` or `true`/`false` for switches). Unknown keys are warned about and ignored,
//! as libvirt does, so one config file can serve several versions.

use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_CONFIG: &str = "/etc/oxvirt/oxvirtd.conf";
pub const DEFAULT_SOCKET_DIR: &str = "/run/oxvirt";
/// Where libvirt's own clients look without `?socket=`.
pub const LIBVIRT_SOCKET_DIR: &str = "/run/libvirt";

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Holds `oxvirt-sock` (read-write, owner only) and `oxvirt-sock-ro` (anyone, read-only).
    pub socket_dir: PathBuf,
    /// Also listen at `/run/libvirt/libvirt-sock{,-ro}`.
    pub libvirt_sockets: bool,
    pub pidfile: Option<PathBuf>,
    /// Opened for clients that ask for the default URI.
    pub default_uri: Option<String>,
    /// Hypervisor URIs the daemon hosts from its start (autostart, live guest watching);
    /// `host_uris = none` hosts nothing until a client connects.
    pub host_uris: Vec<String>,
    /// Connections at once, all sockets together (libvirt's `max_clients`); further ones are
    /// accepted and closed at once. Bounded by [`THREAD_BUDGET`] and the fd limit.
    pub max_clients: usize,
    /// Connections of one unprivileged uid at once (ours; root and our user are exempt).
    pub max_clients_per_uid: usize,
    /// Slots of `max_clients` that only root (or our user) may take, so unprivileged users
    /// filling the read-only socket never lock root out of the read-write one (ours).
    pub reserved_rw_clients: usize,
    /// TLS clients still in their handshake (libvirt's `max_anonymous_clients`).
    pub max_anonymous_clients: usize,
    /// Threads running calls, all clients together (libvirt's `max_workers`). A client that
    /// finds none free runs its calls one at a time on its own reading thread.
    pub max_workers: usize,
    /// Bytes of client input held daemon-wide: partial messages and received calls not yet
    /// answered (ours). Unprivileged clients leave `max_message_size` of it to root.
    pub max_partial_bytes: usize,
    /// The same for one unprivileged uid (ours).
    pub max_partial_bytes_per_uid: usize,
    /// A message must complete this long after its first byte (or the previous message's
    /// end), else the client is dropped: slow-loris clients cannot hold buffers (ours).
    pub partial_message_timeout: Duration,
    /// Largest message accepted from a client, in bytes (libvirt's limit at most).
    pub max_message_size: usize,
    /// Calls of one client that may run at once; further ones wait unread.
    pub max_client_requests: usize,
    /// Seconds without traffic before we ping a client that asked for keepalive; 0 disables.
    pub keepalive_interval: u64,
    /// Unanswered pings after which that client is dropped.
    pub keepalive_count: u32,
    /// Seconds of silence after which any client is dropped; 0 (the default) never.
    pub client_idle_timeout: u64,
    /// A client that accepts no data for this long is dropped.
    pub write_timeout: Duration,
    /// Messages queued for one client before it counts as stuck and is dropped.
    pub max_queued_messages: usize,
    pub log_level: tracing::Level,
    /// Listen for TLS clients (`--listen-tls`).
    pub listen_tls: bool,
    /// Listen for plain, unencrypted and unauthenticated TCP clients (`--listen-tcp`).
    pub listen_tcp: bool,
    pub tls_port: u16,
    pub tcp_port: u16,
    /// Address to bind TCP/TLS to; `None`: every interface (IPv6 and IPv4), as libvirt.
    pub listen_addr: Option<String>,
    /// CA, server certificate, key and DN allow-list for TLS clients.
    pub tls: oxvirt_rpc::tls::TlsServerConfig,
    /// A TLS client that has not finished its handshake by then is dropped.
    pub tls_handshake_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            socket_dir: DEFAULT_SOCKET_DIR.into(),
            libvirt_sockets: false,
            pidfile: None,
            default_uri: None,
            host_uris: vec!["qemu:///system".into()],
            max_clients: 1000,
            max_clients_per_uid: 64,
            reserved_rw_clients: 32,
            max_anonymous_clients: 20,
            max_workers: 256,
            max_partial_bytes: 128 << 20,
            max_partial_bytes_per_uid: 64 << 20,
            partial_message_timeout: Duration::from_secs(30),
            max_message_size: oxvirt_rpc::xdr::MESSAGE_MAX,
            max_client_requests: 5,
            keepalive_interval: 5,
            keepalive_count: 5,
            client_idle_timeout: 0,
            write_timeout: Duration::from_secs(30),
            max_queued_messages: 4096,
            log_level: tracing::Level::INFO,
            listen_tls: false,
            listen_tcp: false,
            tls_port: oxvirt_rpc::tls::TLS_PORT,
            tcp_port: oxvirt_rpc::tls::TCP_PORT,
            listen_addr: None,
            tls: oxvirt_rpc::tls::TlsServerConfig::default(),
            tls_handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Live threads the client-serving parts may use: each client has a reading and a writing
/// thread, plus `max_workers` call threads. The tracing subscriber (sharded-slab) panics at its
/// 4096th live thread, and drivers, guests' watchers and consoles need threads too, so the
/// limits are clamped to stay well below.
pub const THREAD_BUDGET: usize = 3072;
/// File descriptors kept free of clients for the daemon itself (drivers, QEMU, logs).
pub const FD_RESERVE: usize = 256;

impl Config {
    /// Clamps the client limits to what the process can hold: threads within
    /// [`THREAD_BUDGET`], one fd per client within `nofile` (the soft RLIMIT_NOFILE) less
    /// [`FD_RESERVE`], room for one largest message in the byte budget. Returns a warning per
    /// setting changed.
    pub fn apply_bounds(&mut self, nofile: usize) -> Vec<String> {
        let mut w = Vec::new();
        let max_workers = self.max_workers.clamp(1, THREAD_BUDGET / 4);
        if max_workers != self.max_workers {
            w.push(format!("max_workers {} lowered to {max_workers} (thread budget)", self.max_workers));
            self.max_workers = max_workers;
        }
        let by_threads = (THREAD_BUDGET - self.max_workers) / 2;
        let by_fds = nofile.saturating_sub(FD_RESERVE).max(1);
        let max_clients = self.max_clients.min(by_threads).min(by_fds);
        if max_clients != self.max_clients {
            w.push(format!(
                "max_clients {} lowered to {max_clients} (at most {by_threads} by the thread budget, {by_fds} by the open-file limit {nofile})",
                self.max_clients
            ));
            self.max_clients = max_clients;
        }
        if self.reserved_rw_clients >= self.max_clients {
            let r = self.max_clients / 2;
            w.push(format!("reserved_rw_clients {} lowered to {r} (below max_clients)", self.reserved_rw_clients));
            self.reserved_rw_clients = r;
        }
        let min_bytes = 2 * self.max_message_size;
        if self.max_partial_bytes < min_bytes {
            w.push(format!(
                "max_partial_bytes {} raised to {min_bytes} (two largest messages)",
                self.max_partial_bytes
            ));
            self.max_partial_bytes = min_bytes;
        }
        let max_client_requests = self.max_client_requests.min(self.max_workers);
        if max_client_requests != self.max_client_requests {
            w.push(format!("max_client_requests {} lowered to max_workers", self.max_client_requests));
            self.max_client_requests = max_client_requests;
        }
        w
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {err}")]
    Read { path: PathBuf, err: std::io::Error },
    #[error("{path}:{line}: {msg}")]
    Parse { path: PathBuf, line: usize, msg: String },
}

enum Value {
    Str(String),
    Int(i64),
    List(Vec<String>),
}

/// `["a", "b"]`: a list of quoted strings (commas inside quotes belong to the string).
fn parse_list(inner: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = inner.trim();
    while !rest.is_empty() {
        let q = rest.chars().next().filter(|c| *c == '"' || *c == '\'');
        let Some(q) = q else { return Err(format!("list items must be quoted strings, found '{rest}'")) };
        let body = &rest[1..];
        let end = body.find(q).ok_or_else(|| format!("unterminated string in list: '{rest}'"))?;
        out.push(body[..end].to_string());
        rest = body[end + 1..].trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
        } else if !rest.is_empty() {
            return Err(format!("expected ',' between list items, found '{rest}'"));
        }
    }
    Ok(out)
}

fn parse_value(v: &str) -> Result<Value, String> {
    let v = v.trim();
    if let Some(inner) = v.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return parse_list(inner).map(Value::List);
    }
    if let Some(inner) = v.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        return Ok(Value::Str(inner.to_string()));
    }
    if let Some(inner) = v.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return Ok(Value::Str(inner.to_string()));
    }
    match v {
        "true" | "yes" => return Ok(Value::Int(1)),
        "false" | "no" => return Ok(Value::Int(0)),
        _ => {}
    }
    v.parse::<i64>().map(Value::Int).map_err(|_| format!("expected a quoted string or an integer, found '{v}'"))
}

/// Cuts a line at the first `#` that is not inside a quoted value.
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (c, quote) {
            ('"' | '\'', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            ('#', None) => return &line[..i],
            _ => {}
        }
    }
    line
}

impl Config {
    /// Reads `path`; a missing file at the default location means defaults.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let (path, must_exist) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_CONFIG), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Config::parse(&path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => Ok(Config::default()),
            Err(err) => Err(ConfigError::Read { path, err }),
        }
    }

    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        // A list value may span lines until its closing bracket.
        let mut lines: Vec<(usize, String)> = Vec::new();
        let mut open: Option<(usize, String)> = None;
        for (i, raw) in text.lines().enumerate() {
            let part = strip_comment(raw).trim();
            match open.take() {
                Some((start, mut acc)) => {
                    acc.push(' ');
                    acc.push_str(part);
                    if part.contains(']') {
                        lines.push((start, acc));
                    } else {
                        open = Some((start, acc));
                    }
                }
                None if part.contains("= [") || part.contains("=[") => {
                    if part.contains(']') {
                        lines.push((i, part.to_string()));
                    } else {
                        open = Some((i, part.to_string()));
                    }
                }
                None => lines.push((i, part.to_string())),
            }
        }
        if let Some((start, _)) = open {
            return Err(ConfigError::Parse {
                path: path.to_path_buf(),
                line: start + 1,
                msg: "list without closing ']'".into(),
            });
        }
        for (i, line) in &lines {
            let i = *i;
            let line = line.as_str();
            let err = |msg: String| ConfigError::Parse { path: path.to_path_buf(), line: i + 1, msg };
            if line.is_empty() {
                continue;
            }
            let (k, v) = line.split_once('=').ok_or_else(|| err(format!("expected 'key = value', found '{line}'")))?;
            let k = k.trim();
            let v = parse_value(v).map_err(&err)?;
            let s = |v: Value| match v {
                Value::Str(s) => Ok(s),
                _ => Err(err(format!("{k} takes a quoted string"))),
            };
            let n = |v: Value| match v {
                Value::Int(n) if n >= 0 => Ok(n as u64),
                _ => Err(err(format!("{k} takes a non-negative integer"))),
            };
            // libvirt writes ports as strings ("16514"); numbers are accepted too.
            let port = |v: Value| match v {
                Value::Str(s) => s.parse::<u16>().map_err(|_| err(format!("{k}: '{s}' is not a port number"))),
                Value::Int(p) => u16::try_from(p).map_err(|_| err(format!("{k}: {p} is not a port number"))),
                Value::List(_) => Err(err(format!("{k} takes a port number"))),
            };
            match k {
                "socket_dir" => c.socket_dir = s(v)?.into(),
                "libvirt_sockets" => c.libvirt_sockets = n(v)? != 0,
                "pid_file" | "pidfile" => c.pidfile = Some(s(v)?.into()),
                "default_uri" => c.default_uri = Some(s(v)?),
                "host_uris" => {
                    let v = s(v)?;
                    c.host_uris =
                        if v == "none" { Vec::new() } else { v.split(',').map(|u| u.trim().to_string()).collect() };
                }
                "max_clients" => c.max_clients = (n(v)? as usize).max(1),
                "max_clients_per_uid" => c.max_clients_per_uid = (n(v)? as usize).max(1),
                "reserved_rw_clients" => c.reserved_rw_clients = n(v)? as usize,
                "max_anonymous_clients" => c.max_anonymous_clients = (n(v)? as usize).max(1),
                "max_workers" => c.max_workers = (n(v)? as usize).max(1),
                "max_partial_bytes" => c.max_partial_bytes = n(v)? as usize,
                "max_partial_bytes_per_uid" => c.max_partial_bytes_per_uid = n(v)? as usize,
                "partial_message_timeout" => c.partial_message_timeout = Duration::from_secs(n(v)?.max(1)),
                // libvirt's worker pool shape; our workers start and stop on demand.
                "min_workers" | "prio_workers" => {}
                "max_message_size" => {
                    c.max_message_size = (n(v)? as usize).clamp(28, oxvirt_rpc::xdr::MESSAGE_MAX);
                }
                "max_client_requests" => c.max_client_requests = (n(v)? as usize).max(1),
                "keepalive_interval" => c.keepalive_interval = n(v)?,
                "keepalive_count" => c.keepalive_count = n(v)? as u32,
                "client_idle_timeout" => c.client_idle_timeout = n(v)?,
                "write_timeout" => c.write_timeout = Duration::from_secs(n(v)?.max(1)),
                "max_queued_messages" => c.max_queued_messages = (n(v)? as usize).max(16),
                "log_level" => {
                    c.log_level = match s(v)?.as_str() {
                        "error" => tracing::Level::ERROR,
                        "warn" => tracing::Level::WARN,
                        "info" => tracing::Level::INFO,
                        "debug" => tracing::Level::DEBUG,
                        "trace" => tracing::Level::TRACE,
                        other => {
                            return Err(err(format!("unknown log_level '{other}' (error, warn, info, debug, trace)")))
                        }
                    }
                }
                "listen_tls" => c.listen_tls = n(v)? != 0,
                "listen_tcp" => c.listen_tcp = n(v)? != 0,
                "tls_port" => c.tls_port = port(v)?,
                "tcp_port" => c.tcp_port = port(v)?,
                "listen_addr" => c.listen_addr = Some(s(v)?),
                "ca_file" => c.tls.ca_file = s(v)?.into(),
                "cert_file" => c.tls.cert_file = s(v)?.into(),
                "key_file" => c.tls.key_file = s(v)?.into(),
                "tls_allowed_dn_list" => match v {
                    Value::List(l) => c.tls.allowed_dn = Some(l),
                    _ => return Err(err(format!("{k} takes a list of quoted strings"))),
                },
                "tls_handshake_timeout" => c.tls_handshake_timeout = Duration::from_secs(n(v)?.max(1)),
                // Only AUTH_NONE is implemented: refuse rather than silently weaken a setting.
                "auth_tls" | "auth_tcp" => {
                    let a = s(v)?;
                    if a != "none" {
                        return Err(err(format!(
                            "{k} = \"{a}\" is not supported (only \"none\"; SASL/polkit are not implemented)"
                        )));
                    }
                }
                other => {
                    tracing::warn!(key = other, file = %path.display(), line = i + 1, "unknown configuration key ignored")
                }
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_libvirtd_style() {
        let text = "# comment\nsocket_dir = \"/tmp/x#y\"  # trailing\nlibvirt_sockets = 1\nmax_client_requests=10\n\nkeepalive_interval = 0\nlog_level = \"debug\"\nbogus = 3\n";
        let c = Config::parse(Path::new("t.conf"), text).unwrap();
        assert_eq!(c.socket_dir, PathBuf::from("/tmp/x#y"));
        assert!(c.libvirt_sockets);
        assert_eq!(c.max_client_requests, 10);
        assert_eq!(c.keepalive_interval, 0);
        assert_eq!(c.log_level, tracing::Level::DEBUG);
        let e = Config::parse(Path::new("t.conf"), "max_clients = \"many\"").unwrap_err();
        assert_eq!(e.to_string(), "t.conf:1: max_clients takes a non-negative integer");
        assert!(Config::parse(Path::new("t.conf"), "junk").is_err());
    }

    #[test]
    fn client_limits() {
        let text = "max_clients = 5000\nmax_clients_per_uid = 8\nmax_workers = 20\nmin_workers = 5\n\
            partial_message_timeout = 2\nmax_partial_bytes = 1000\nmax_partial_bytes_per_uid = 500\nreserved_rw_clients = 4\n";
        let mut c = Config::parse(Path::new("t.conf"), text).unwrap();
        assert_eq!((c.max_clients, c.max_clients_per_uid, c.max_workers), (5000, 8, 20));
        assert_eq!(c.partial_message_timeout, Duration::from_secs(2));
        let w = c.apply_bounds(20000);
        assert_eq!(c.max_clients, (THREAD_BUDGET - 20) / 2);
        assert_eq!(c.max_partial_bytes, 2 * c.max_message_size);
        assert_eq!(w.len(), 2, "{w:?}");
        let w = c.apply_bounds(1024);
        assert_eq!(c.max_clients, 1024 - FD_RESERVE);
        assert_eq!(w.len(), 1, "{w:?}");
        // The defaults need no clamping with a usual fd limit.
        let mut d = Config::default();
        assert!(d.apply_bounds(1 << 20).is_empty());
        assert!(2 * d.max_clients + d.max_workers <= THREAD_BUDGET);
    }

    #[test]
    fn parses_tls_keys() {
        let text = "listen_tls = 1\ntls_port = \"16600\"\ntcp_port = 16601\nlisten_addr = \"127.0.0.1\"\n\
            ca_file = \"/p/ca.pem\"\ncert_file = \"/p/c.pem\"\nkey_file = \"/p/k.pem\"\nauth_tls = \"none\"\n\
            tls_allowed_dn_list = [\"C=GB,O=a\\, b,CN=*\", # first\n  \"CN=x\"\n]\n";
        let c = Config::parse(Path::new("t.conf"), text).unwrap();
        assert!(c.listen_tls && !c.listen_tcp);
        assert_eq!((c.tls_port, c.tcp_port), (16600, 16601));
        assert_eq!(c.listen_addr.as_deref(), Some("127.0.0.1"));
        assert_eq!(c.tls.ca_file, PathBuf::from("/p/ca.pem"));
        assert_eq!(c.tls.key_file, PathBuf::from("/p/k.pem"));
        assert_eq!(c.tls.allowed_dn, Some(vec!["C=GB,O=a\\, b,CN=*".to_string(), "CN=x".to_string()]));
        let d = Config::default();
        assert!(!d.listen_tls && !d.listen_tcp);
        assert_eq!((d.tls_port, d.tcp_port), (16514, 16509));
        assert_eq!(d.tls.cert_file, PathBuf::from("/etc/pki/libvirt/servercert.pem"));
        let e = Config::parse(Path::new("t.conf"), "auth_tls = \"sasl\"").unwrap_err();
        assert!(e.to_string().contains("not supported"), "{e}");
        assert!(Config::parse(Path::new("t.conf"), "tls_port = \"x\"").is_err());
        assert!(Config::parse(Path::new("t.conf"), "tls_allowed_dn_list = [\"a\"").is_err());
    }
}
