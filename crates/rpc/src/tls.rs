//! TLS transport of libvirt's remote protocol (`qemu+tls://host/system`, port 16514), with
//! libvirt's certificate locations and its one quirk: once the server has checked the client's
//! certificate it sends a single byte `1` inside the TLS session, and the client waits for it
//! before any RPC traffic. Both ends are here: [`TlsAcceptor`] for oxvirtd and [`connect_tls`]
//! for the remote client driver, sharing [`TlsStream`].
//!
//! Client certificates are required and must chain to the configured CA (libvirt's default
//! `tls_no_verify_certificate = 0`); an optional `tls_allowed_dn_list` further restricts them by
//! their subject's distinguished name, written as libvirt (GnuTLS) writes it:
//! `C=GB,ST=London,L=London,O=Red Hat,CN=client1`, attributes in certificate order.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{ClientConfig, ClientConnection, Connection, DigitallySignedStruct, RootCertStore, ServerConfig};
use rustls::{ServerConnection, SignatureScheme};

/// libvirt's TLS port.
pub const TLS_PORT: u16 = 16514;
/// libvirt's plain TCP port.
pub const TCP_PORT: u16 = 16509;
pub const DEFAULT_CA_FILE: &str = "/etc/pki/CA/cacert.pem";
pub const DEFAULT_SERVER_CERT: &str = "/etc/pki/libvirt/servercert.pem";
pub const DEFAULT_SERVER_KEY: &str = "/etc/pki/libvirt/private/serverkey.pem";
pub const DEFAULT_CLIENT_CERT: &str = "/etc/pki/libvirt/clientcert.pem";
pub const DEFAULT_CLIENT_KEY: &str = "/etc/pki/libvirt/private/clientkey.pem";

/// The byte the server sends once it accepts the client's certificate.
const CONFIRM: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} '{path}': {msg}")]
    ReadPem { what: &'static str, path: PathBuf, msg: String },
    #[error("no {what} found in '{path}'")]
    EmptyPem { what: &'static str, path: PathBuf },
    #[error("invalid TLS credentials: {0}")]
    Credentials(String),
    #[error("unable to connect to server at '{addr}': {err}")]
    Connect { addr: String, err: io::Error },
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
    #[error("TLS handshake did not finish within {0:?}")]
    HandshakeTimeout(Duration),
    #[error("client's distinguished name '{0}' is not on the list of allowed clients (tls_allowed_dn_list)")]
    DnNotAllowed(String),
    #[error("client certificate has no readable subject")]
    NoClientDn,
    #[error("server verification (of our certificate or IP address) failed")]
    Confirm,
    #[error("invalid server name '{0}'")]
    ServerName(String),
}

fn read_certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::ReadPem { what, path: path.into(), msg: e.to_string() })?;
    if certs.is_empty() {
        return Err(TlsError::EmptyPem { what, path: path.into() });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::ReadPem {
        what: "private key",
        path: path.into(),
        msg: e.to_string(),
    })
}

fn roots(ca_file: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    let mut store = RootCertStore::empty();
    for c in read_certs("CA certificate", ca_file)? {
        store.add(c).map_err(|e| TlsError::Credentials(format!("CA certificate '{}': {e}", ca_file.display())))?;
    }
    Ok(Arc::new(store))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Server side credentials, libvirtd.conf's `ca_file`, `cert_file`, `key_file`,
/// `tls_allowed_dn_list`.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsServerConfig {
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// Glob patterns (`*`, `?`) a client's DN must match one of; `None` allows any DN.
    pub allowed_dn: Option<Vec<String>>,
}

impl Default for TlsServerConfig {
    fn default() -> Self {
        TlsServerConfig {
            ca_file: DEFAULT_CA_FILE.into(),
            cert_file: DEFAULT_SERVER_CERT.into(),
            key_file: DEFAULT_SERVER_KEY.into(),
            allowed_dn: None,
        }
    }
}

/// Accepts TLS clients: handshake, client certificate and DN check, confirmation byte.
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
    allowed_dn: Option<Vec<String>>,
}

impl TlsAcceptor {
    /// Loads the credentials; fails (like libvirtd) when any file is missing or unusable.
    pub fn new(cfg: &TlsServerConfig) -> Result<TlsAcceptor, TlsError> {
        let roots = roots(&cfg.ca_file)?;
        let certs = read_certs("server certificate", &cfg.cert_file)?;
        let key = read_key(&cfg.key_file)?;
        // As libvirtd does, refuse a certificate that our own CA would not accept: clients would
        // all fail later with a less helpful message.
        let parsed = ParsedCertificate::try_from(&certs[0])
            .map_err(|e| TlsError::Credentials(format!("server certificate '{}': {e}", cfg.cert_file.display())))?;
        let algs = provider().signature_verification_algorithms.all;
        rustls::client::verify_server_cert_signed_by_trust_anchor(&parsed, &roots, &certs[1..], UnixTime::now(), algs)
            .map_err(|e| {
                TlsError::Credentials(format!(
                    "our own certificate '{}' failed validation against '{}': {e}",
                    cfg.cert_file.display(),
                    cfg.ca_file.display()
                ))
            })?;
        let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider())
            .build()
            .map_err(|e| TlsError::Credentials(format!("client verifier: {e}")))?;
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Credentials(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)
            .map_err(|e| {
                TlsError::Credentials(format!(
                    "server certificate '{}' and key '{}': {e}",
                    cfg.cert_file.display(),
                    cfg.key_file.display()
                ))
            })?;
        // Every connection authenticates afresh with its certificate: no resumption.
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        Ok(TlsAcceptor { config: Arc::new(config), allowed_dn: cfg.allowed_dn.clone() })
    }

    /// Runs the handshake on an accepted socket within `timeout`, checks the client's DN and
    /// sends the confirmation byte. Returns the stream and the client's DN. On failure the
    /// socket is closed without confirmation, which libvirt clients report as refused.
    pub fn accept(&self, sock: TcpStream, timeout: Duration) -> Result<(TlsStream, String), TlsError> {
        let conn = ServerConnection::new(self.config.clone()).map_err(|e| TlsError::Handshake(e.to_string()))?;
        let mut conn = Connection::Server(conn);
        let r = handshake(&mut conn, &sock, timeout);
        let dn = r.and_then(|()| {
            let cert = conn.peer_certificates().and_then(|c| c.first()).ok_or(TlsError::NoClientDn)?;
            let dn = subject_dn(cert.as_ref()).ok_or(TlsError::NoClientDn)?;
            if let Some(list) = &self.allowed_dn {
                if !list.iter().any(|p| glob_match(p, &dn)) {
                    return Err(TlsError::DnNotAllowed(dn));
                }
            }
            Ok(dn)
        });
        let dn = match dn {
            Ok(dn) => dn,
            Err(e) => {
                // Best effort: tell the peer why (a TLS alert), then close.
                let _ = sock.set_write_timeout(Some(Duration::from_millis(500)));
                conn.send_close_notify();
                let _ = conn.write_tls(&mut &sock);
                let _ = sock.shutdown(Shutdown::Both);
                return Err(e);
            }
        };
        let stream = TlsStream::new(sock, conn);
        stream.write_all_shared(&[CONFIRM]).map_err(|e| TlsError::Handshake(format!("sending confirmation: {e}")))?;
        Ok((stream, dn))
    }
}

/// Drives a handshake to its end, bounded by `timeout` overall (a client trickling bytes does
/// not extend it). Leaves the socket without timeouts set for the handshake.
fn handshake(conn: &mut Connection, sock: &TcpStream, timeout: Duration) -> Result<(), TlsError> {
    let deadline = Instant::now() + timeout;
    let remaining = || {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(TlsError::HandshakeTimeout(timeout))
        } else {
            Ok(left)
        }
    };
    let io_err = |e: io::Error| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => TlsError::HandshakeTimeout(timeout),
        _ => TlsError::Handshake(e.to_string()),
    };
    while conn.is_handshaking() || conn.wants_write() {
        if conn.wants_write() {
            sock.set_write_timeout(Some(remaining()?)).map_err(io_err)?;
            conn.write_tls(&mut &*sock).map_err(io_err)?;
            continue;
        }
        sock.set_read_timeout(Some(remaining()?)).map_err(io_err)?;
        match conn.read_tls(&mut &*sock) {
            Ok(0) => return Err(TlsError::Handshake("connection closed by peer".into())),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(e)),
        }
        if let Err(e) = conn.process_new_packets() {
            // Send the alert rustls queued, so the peer learns the reason.
            let _ = sock.set_write_timeout(Some(Duration::from_millis(500)));
            let _ = conn.write_tls(&mut &*sock);
            return Err(TlsError::Handshake(e.to_string()));
        }
    }
    let _ = sock.set_read_timeout(None);
    let _ = sock.set_write_timeout(None);
    Ok(())
}

/// Client side credentials, found as libvirt's client finds them ([`TlsClientConfig::locate`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TlsClientConfig {
    pub ca_file: PathBuf,
    /// Client certificate and key; a missing certificate file means none is offered (as in
    /// libvirt), which a libvirt-compatible server refuses.
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// `?no_verify=1`: a server certificate that fails verification is only warned about.
    pub no_verify: bool,
    /// Bounds connecting, the handshake and waiting for the confirmation byte.
    pub timeout: Duration,
}

impl TlsClientConfig {
    /// libvirt's lookup: `?pkipath=DIR` gives `DIR/cacert.pem`, `DIR/clientcert.pem`,
    /// `DIR/clientkey.pem`; otherwise a non-root user's `$HOME/.pki/libvirt/` is used for the
    /// files present there (certificate and key only as a pair), the rest from
    /// `/etc/pki/CA/cacert.pem` and `/etc/pki/libvirt/{clientcert.pem,private/clientkey.pem}`.
    pub fn locate(pkipath: Option<&Path>, no_verify: bool) -> TlsClientConfig {
        let root = nix::unistd::geteuid().is_root();
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Self::locate_for(pkipath, no_verify, if root { None } else { home.as_deref() })
    }

    /// [`locate`](Self::locate) with the user's home given (`None` for root).
    pub fn locate_for(pkipath: Option<&Path>, no_verify: bool, user_home: Option<&Path>) -> TlsClientConfig {
        let mut c = TlsClientConfig {
            ca_file: DEFAULT_CA_FILE.into(),
            cert_file: DEFAULT_CLIENT_CERT.into(),
            key_file: DEFAULT_CLIENT_KEY.into(),
            no_verify,
            timeout: Duration::from_secs(30),
        };
        if let Some(dir) = pkipath {
            c.ca_file = dir.join("cacert.pem");
            c.cert_file = dir.join("clientcert.pem");
            c.key_file = dir.join("clientkey.pem");
        } else if let Some(home) = user_home {
            let dir = home.join(".pki/libvirt");
            if dir.join("cacert.pem").exists() {
                c.ca_file = dir.join("cacert.pem");
            }
            if dir.join("clientcert.pem").exists() && dir.join("clientkey.pem").exists() {
                c.cert_file = dir.join("clientcert.pem");
                c.key_file = dir.join("clientkey.pem");
            }
        }
        c
    }

    fn client_config(&self) -> Result<ClientConfig, TlsError> {
        let roots = roots(&self.ca_file)?;
        let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider())
            .build()
            .map_err(|e| TlsError::Credentials(format!("server verifier: {e}")))?;
        let verifier = Arc::new(LibvirtServerVerifier { inner: webpki, no_verify: self.no_verify });
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Credentials(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = if self.cert_file.exists() {
            let certs = read_certs("client certificate", &self.cert_file)?;
            let key = read_key(&self.key_file)?;
            builder.with_client_auth_cert(certs, key).map_err(|e| {
                TlsError::Credentials(format!(
                    "client certificate '{}' and key '{}': {e}",
                    self.cert_file.display(),
                    self.key_file.display()
                ))
            })?
        } else {
            builder.with_no_client_auth()
        };
        config.resumption = rustls::client::Resumption::disabled();
        Ok(config)
    }
}

/// Verifies the server's certificate against the CA and the host name, or (with `no_verify`)
/// warns and carries on as libvirt does. Handshake signatures are always checked.
#[derive(Debug)]
struct LibvirtServerVerifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    no_verify: bool,
}

impl ServerCertVerifier for LibvirtServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(e) if self.no_verify => {
                tracing::warn!(error = %e, "server certificate check failed; ignored (no_verify)");
                Ok(ServerCertVerified::assertion())
            }
            r => r,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Connects to a libvirt-compatible TLS server (libvirtd or oxvirtd), completes the handshake
/// and waits for the server's confirmation that it accepted our certificate. The stream then
/// carries RPC messages. For the remote driver: `qemu+tls://host[:port]/system?pkipath=DIR`
/// maps to `connect_tls(host, port.unwrap_or(TLS_PORT), &TlsClientConfig::locate(pkipath, no_verify))`.
pub fn connect_tls(host: &str, port: u16, cfg: &TlsClientConfig) -> Result<TlsStream, TlsError> {
    let config = Arc::new(cfg.client_config()?);
    let name_str = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(name_str.to_string()).map_err(|_| TlsError::ServerName(host.into()))?;
    let addr = format!("{host}:{port}");
    let addrs: Vec<_> =
        (name_str, port).to_socket_addrs().map_err(|err| TlsError::Connect { addr: addr.clone(), err })?.collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    let mut sock = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, cfg.timeout) {
            Ok(s) => {
                sock = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let sock = sock.ok_or(TlsError::Connect { addr, err: last })?;
    let _ = sock.set_nodelay(true);
    let conn = ClientConnection::new(config, name).map_err(|e| TlsError::Handshake(e.to_string()))?;
    let mut conn = Connection::Client(conn);
    handshake(&mut conn, &sock, cfg.timeout)?;
    let stream = TlsStream::new(sock, conn);
    let _ = stream.socket().set_read_timeout(Some(cfg.timeout));
    let mut b = [0u8; 1];
    let r = (&stream).read(&mut b);
    let _ = stream.socket().set_read_timeout(None);
    match r {
        Ok(1) if b[0] == CONFIRM => Ok(stream),
        _ => Err(TlsError::Confirm),
    }
}

/// A TLS session over TCP usable from two threads at once (one reading, one writing), as
/// oxvirtd's clients and the remote driver need. Clones share the session. Socket timeouts
/// (set on [`socket`](Self::socket)) apply: a read times out with `WouldBlock`/`TimedOut`.
#[derive(Clone)]
pub struct TlsStream {
    inner: Arc<Inner>,
}

struct Inner {
    sock: TcpStream,
    state: Mutex<State>,
    /// Held while TLS records go out, taken before `state` is released, so records leave in
    /// the order the session produced them.
    wlock: Mutex<()>,
}

struct State {
    conn: Connection,
    /// Bytes read from the socket that the session has not taken yet.
    pending: Vec<u8>,
    eof: bool,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream").field("peer", &self.inner.sock.peer_addr().ok()).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl TlsStream {
    fn new(sock: TcpStream, mut conn: Connection) -> TlsStream {
        conn.set_buffer_limit(None);
        TlsStream {
            inner: Arc::new(Inner {
                sock,
                state: Mutex::new(State { conn, pending: Vec::new(), eof: false }),
                wlock: Mutex::new(()),
            }),
        }
    }

    /// Another handle on the same session (like `UnixStream::try_clone`, for a reader thread
    /// beside a writer); never fails.
    pub fn try_clone(&self) -> io::Result<TlsStream> {
        Ok(self.clone())
    }

    /// The TCP socket, for timeouts and addresses. Reading or writing it directly breaks the
    /// session.
    pub fn socket(&self) -> &TcpStream {
        &self.inner.sock
    }

    /// Sends close_notify (best effort) and shuts the socket down; blocked readers and writers
    /// return.
    pub fn shutdown(&self) {
        if let Ok(mut st) = self.inner.state.try_lock() {
            st.conn.send_close_notify();
            let mut out = Vec::new();
            while st.conn.wants_write() {
                if st.conn.write_tls(&mut out).is_err() {
                    break;
                }
            }
            drop(st);
            if let Ok(_w) = self.inner.wlock.try_lock() {
                let _ = self.inner.sock.set_write_timeout(Some(Duration::from_millis(200)));
                let _ = (&self.inner.sock).write_all(&out);
            }
        }
        let _ = self.inner.sock.shutdown(Shutdown::Both);
    }

    /// Sends what the session has queued, in order, releasing the session lock before the
    /// socket write.
    fn flush_locked(&self, mut st: MutexGuard<'_, State>) -> io::Result<()> {
        if !st.conn.wants_write() {
            return Ok(());
        }
        let mut out = Vec::new();
        while st.conn.wants_write() {
            st.conn.write_tls(&mut out)?;
        }
        let _w = lock(&self.inner.wlock);
        drop(st);
        (&self.inner.sock).write_all(&out)
    }

    fn write_all_shared(&self, data: &[u8]) -> io::Result<()> {
        let mut st = lock(&self.inner.state);
        st.conn.writer().write_all(data)?;
        self.flush_locked(st)
    }

    fn read_shared(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut chunk = vec![0u8; 32 * 1024];
        loop {
            let mut st = lock(&self.inner.state);
            // Feed what we have; the session may refuse more until its plaintext is read.
            while !st.pending.is_empty() {
                let State { conn, pending, .. } = &mut *st;
                match conn.read_tls(&mut &pending[..]) {
                    Ok(0) => break,
                    Ok(n) => {
                        pending.drain(..n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Other => break, // plaintext buffer full
                    Err(e) => return Err(e),
                }
                if let Err(e) = conn.process_new_packets() {
                    let _ = self.flush_locked(st);
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                }
            }
            if st.eof && st.pending.is_empty() {
                // Tell the session the socket ended, so a missing close_notify is reported.
                let _ = st.conn.read_tls(&mut io::empty());
            }
            match st.conn.reader().read(buf) {
                Ok(n) => {
                    self.flush_locked(st)?;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if st.eof {
                return Ok(0);
            }
            self.flush_locked(st)?;
            let n = loop {
                match (&self.inner.sock).read(&mut chunk) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => break r?,
                }
            };
            let mut st = lock(&self.inner.state);
            if n == 0 {
                st.eof = true;
            } else {
                st.pending.extend_from_slice(&chunk[..n]);
            }
        }
    }
}

impl Read for &TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_shared(buf)
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_shared(buf)
    }
}

impl Write for &TlsStream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_all_shared(data)?;
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for TlsStream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        (&*self).write(data)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn oid_name(oid: &[u8]) -> Option<&'static str> {
    Some(match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x04] => "SN",
        [0x55, 0x04, 0x05] => "serialNumber",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x09] => "STREET",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x55, 0x04, 0x0c] => "title",
        [0x55, 0x04, 0x2a] => "GN",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "EMAIL",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => "UID",
        _ => return None,
    })
}

/// The dotted form of an OID this module has no name for, as GnuTLS prints it.
fn oid_dotted(oid: &[u8]) -> String {
    x509_parser::der_parser::oid::Oid::new(std::borrow::Cow::Borrowed(oid)).to_id_string()
}

fn der_string(tag: u8, v: &[u8]) -> String {
    match tag {
        // BMPString: UTF-16BE.
        0x1e => char::decode_utf16(v.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])))
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect(),
        // T61String: treated as Latin-1.
        0x14 => v.iter().map(|&b| b as char).collect(),
        _ => String::from_utf8_lossy(v).into_owned(),
    }
}

/// RFC 4514 escaping of an attribute value.
fn escape_dn_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let n = s.chars().count();
    for (i, c) in s.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i + 1 == n && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The subject DN of a DER certificate in libvirt's (GnuTLS's) notation, RDNs in certificate
/// order: `C=GB,O=Example,CN=client`. `None` when the certificate does not parse.
pub fn subject_dn(cert: &[u8]) -> Option<String> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, cert) = X509Certificate::from_der(cert).ok()?;
    let rdns: Vec<String> = cert
        .subject()
        .iter()
        .map(|rdn| {
            let avas: Vec<String> = rdn
                .iter()
                .map(|ava| {
                    let oid = ava.attr_type().as_bytes();
                    let key = oid_name(oid).map(str::to_string).unwrap_or_else(|| oid_dotted(oid));
                    let v = ava.attr_value();
                    // Universal string tags fit in a byte; anything else reads as UTF-8.
                    let tag = u8::try_from(v.tag().0).unwrap_or(0);
                    format!("{key}={}", escape_dn_value(&der_string(tag, v.as_bytes())))
                })
                .collect();
            avas.join("+")
        })
        .collect();
    Some(rdns.join(","))
}

/// Shell-style match with `*` and `?` only, as libvirt matches `tls_allowed_dn_list`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("C=GB,O=Red Hat,CN=*", "C=GB,O=Red Hat,CN=client1"));
        assert!(glob_match("*CN=client?", "O=x,CN=client1"));
        assert!(!glob_match("*CN=client?", "O=x,CN=client12"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("CN=a", "CN=ab"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
    }

    #[test]
    fn dn_escaping_and_oids() {
        assert_eq!(escape_dn_value("Red Hat, Inc."), "Red Hat\\, Inc.");
        assert_eq!(escape_dn_value("#x "), "\\#x\\ ");
        assert_eq!(oid_dotted(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x02]), "1.2.840.113549.1.9.2");
    }

    #[test]
    fn locate_follows_libvirt() {
        let d = std::env::temp_dir().join(format!("oxvirt-tls-locate-{}", std::process::id()));
        let c = TlsClientConfig::locate_for(Some(&d), false, None);
        assert_eq!(c.ca_file, d.join("cacert.pem"));
        assert_eq!(c.cert_file, d.join("clientcert.pem"));
        assert_eq!(c.key_file, d.join("clientkey.pem"));
        let c = TlsClientConfig::locate_for(None, true, None);
        assert_eq!(c.ca_file, PathBuf::from(DEFAULT_CA_FILE));
        assert_eq!(c.cert_file, PathBuf::from(DEFAULT_CLIENT_CERT));
        assert!(c.no_verify);
        // A user's ~/.pki/libvirt counts only for files that exist; cert and key as a pair.
        let pki = d.join(".pki/libvirt");
        std::fs::create_dir_all(&pki).unwrap();
        std::fs::write(pki.join("cacert.pem"), "").unwrap();
        std::fs::write(pki.join("clientcert.pem"), "").unwrap();
        let c = TlsClientConfig::locate_for(None, false, Some(&d));
        assert_eq!(c.ca_file, pki.join("cacert.pem"));
        assert_eq!(c.cert_file, PathBuf::from(DEFAULT_CLIENT_CERT));
        std::fs::write(pki.join("clientkey.pem"), "").unwrap();
        let c = TlsClientConfig::locate_for(None, false, Some(&d));
        assert_eq!(c.cert_file, pki.join("clientcert.pem"));
        let _ = std::fs::remove_dir_all(&d);
    }
}
