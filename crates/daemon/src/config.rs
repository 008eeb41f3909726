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
    pub max_clients: usize,
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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            socket_dir: DEFAULT_SOCKET_DIR.into(),
            libvirt_sockets: false,
            pidfile: None,
            default_uri: None,
            host_uris: vec!["qemu:///system".into()],
            max_clients: 5000,
            max_message_size: oxvirt_rpc::xdr::MESSAGE_MAX,
            max_client_requests: 5,
            keepalive_interval: 5,
            keepalive_count: 5,
            client_idle_timeout: 0,
            write_timeout: Duration::from_secs(30),
            max_queued_messages: 4096,
            log_level: tracing::Level::INFO,
        }
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
}

fn parse_value(v: &str) -> Result<Value, String> {
    let v = v.trim();
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
        for (i, raw) in text.lines().enumerate() {
            let err = |msg: String| ConfigError::Parse { path: path.to_path_buf(), line: i + 1, msg };
            let line = strip_comment(raw).trim();
            if line.is_empty() {
                continue;
            }
            let (k, v) = line.split_once('=').ok_or_else(|| err(format!("expected 'key = value', found '{line}'")))?;
            let k = k.trim();
            let v = parse_value(v).map_err(&err)?;
            let s = |v: Value| match v {
                Value::Str(s) => Ok(s),
                Value::Int(_) => Err(err(format!("{k} takes a quoted string"))),
            };
            let n = |v: Value| match v {
                Value::Int(n) if n >= 0 => Ok(n as u64),
                _ => Err(err(format!("{k} takes a non-negative integer"))),
            };
            match k {
                "socket_dir" => c.socket_dir = s(v)?.into(),
                "libvirt_sockets" => c.libvirt_sockets = n(v)? != 0,
                "pid_file" | "pidfile" => c.pidfile = Some(s(v)?.into()),
                "default_uri" => c.default_uri = Some(s(v)?),
                "host_uris" => {
                    let v = s(v)?;
                    c.host_uris = if v == "none" { Vec::new() } else { v.split(',').map(|u| u.trim().to_string()).collect() };
                }
                "max_clients" => c.max_clients = n(v)? as usize,
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
                        other => return Err(err(format!("unknown log_level '{other}' (error, warn, info, debug, trace)"))),
                    }
                }
                other => tracing::warn!(key = other, file = %path.display(), line = i + 1, "unknown configuration key ignored"),
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
}
