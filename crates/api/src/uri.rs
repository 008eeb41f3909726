//! Connection URIs: `driver[+transport]://[user@][host][:port]/path[?query]`, as libvirt reads them.

use std::fmt;

use crate::error::{Error, ErrorCode, ErrorDomain, Result};

/// How a remote driver reaches its daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Unix,
    Tcp,
    Tls,
    Ssh,
    Libssh,
    Ext,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectUri {
    /// `test`, `qemu`, `lxc`, ...
    pub driver: String,
    pub transport: Option<Transport>,
    pub user: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    /// `/default`, `/system`, `/session`, `/embed`, or a file path for `test:///PATH`.
    pub path: String,
    pub query: Vec<(String, String)>,
    original: String,
}

impl ConnectUri {
    pub fn parse(uri: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::new(ErrorCode::InvalidArg, ErrorDomain::Uri, format!("invalid connection URI '{uri}': {why}"))
        };
        let (scheme, rest) =
            uri.split_once("://").ok_or_else(|| bad("expected SCHEME://[HOST]/PATH, e.g. qemu:///system"))?;
        if scheme.is_empty() {
            return Err(bad("missing driver name before '://'"));
        }
        let (driver, transport) = match scheme.split_once('+') {
            None => (scheme, None),
            Some((d, t)) => {
                let t = match t {
                    "unix" => Transport::Unix,
                    "tcp" => Transport::Tcp,
                    "tls" => Transport::Tls,
                    "ssh" => Transport::Ssh,
                    "libssh" | "libssh2" => Transport::Libssh,
                    "ext" => Transport::Ext,
                    other => return Err(bad(&format!("unknown transport '{other}' (use unix, tcp, tls or ssh)"))),
                };
                (d, Some(t))
            }
        };
        if !driver.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(bad("driver name must be alphanumeric"));
        }
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, q),
            None => (rest, ""),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(percent_decode(u)), h),
            None => (None, authority),
        };
        let (host, port) = if let Some(h6) = hostport.strip_prefix('[') {
            let (h, after) = h6.split_once(']').ok_or_else(|| bad("unterminated IPv6 address"))?;
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        let port = port
            .filter(|p| !p.is_empty())
            .map(|p| p.parse::<u16>().map_err(|_| bad(&format!("invalid port '{p}'"))))
            .transpose()?;
        let query = query
            .split('&')
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        Ok(ConnectUri {
            driver: driver.to_string(),
            transport,
            user,
            host: (!host.is_empty()).then_some(host),
            port,
            path: percent_decode(path),
            query,
            original: uri.to_string(),
        })
    }

    pub fn param(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Local means served on this machine without a network hop: no host, or unix transport.
    pub fn is_local(&self) -> bool {
        self.host.is_none() && matches!(self.transport, None | Some(Transport::Unix))
    }

    pub fn as_str(&self) -> &str {
        &self.original
    }
}

impl fmt::Display for ConnectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_libvirt_uris() {
        let u = ConnectUri::parse("test:///default").unwrap();
        assert_eq!((u.driver.as_str(), u.path.as_str(), u.host.as_deref()), ("test", "/default", None));
        let u = ConnectUri::parse("qemu:///embed?root=/tmp/x%20y").unwrap();
        assert_eq!(u.param("root"), Some("/tmp/x y"));
        let u = ConnectUri::parse("qemu+tls://admin@host.example:16514/system?no_verify=1").unwrap();
        assert_eq!(u.transport, Some(Transport::Tls));
        assert_eq!(u.user.as_deref(), Some("admin"));
        assert_eq!(u.host.as_deref(), Some("host.example"));
        assert_eq!(u.port, Some(16514));
        assert!(!u.is_local());
        let u = ConnectUri::parse("qemu+unix:///system?socket=/run/x.sock").unwrap();
        assert!(u.is_local());
        assert_eq!(u.param("socket"), Some("/run/x.sock"));
        let u = ConnectUri::parse("qemu+ssh://[::1]:22/system").unwrap();
        assert_eq!(u.host.as_deref(), Some("::1"));
        assert!(ConnectUri::parse("nonsense").is_err());
        assert!(ConnectUri::parse("qemu+carrier-pigeon:///system").unwrap_err().message.contains("unknown transport"));
        assert!(ConnectUri::parse("qemu://h:99999/system").is_err());
    }
}
