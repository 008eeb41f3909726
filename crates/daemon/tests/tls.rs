//! oxvirtd over TLS against Debian's virsh 9.0 (`test+tls://127.0.0.1:PORT/default?pkipath=DIR`)
//! and the crate's own `connect_tls`, with a CA and certificates made by the `openssl` CLI for
//! each test. Everything listens on 127.0.0.1 only.

mod common;

use std::io::{Read, Write};

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{run_timeout, virsh, Daemon};
use oxvirt_rpc::message::read_message;
use oxvirt_rpc::protocol::{procs, ConnectOpenArgs, StringArgs, StringRet, REMOTE_PROGRAM};
use oxvirt_rpc::tls::{connect_tls, TlsClientConfig, TlsError};
use oxvirt_rpc::{Header, Message, Status};

const SERVER_EXT: &str = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
    extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n";
const CLIENT_EXT: &str =
    "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n";

fn require_tools() {
    for t in ["virsh", "openssl"] {
        assert!(common::have(t), "{t} is missing: run scripts/install-deps.sh");
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let o = run_timeout(Command::new("openssl").current_dir(dir).args(args), Duration::from_secs(60));
    assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// A self-signed CA `NAME{cert,key}.pem` with subject `subj`.
fn make_ca(dir: &Path, name: &str, subj: &str) {
    let (cert, key) = (format!("{name}cert.pem"), format!("{name}key.pem"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &cert,
            "-days",
            "30",
            "-subj",
            subj,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// `NAME{cert,key}.pem` signed by CA `ca`.
fn make_leaf(dir: &Path, ca: &str, name: &str, subj: &str, ext: &str) {
    let ext_file = format!("{name}.ext");
    std::fs::write(dir.join(&ext_file), ext).unwrap();
    let (csr, cert, key) = (format!("{name}.csr"), format!("{name}cert.pem"), format!("{name}key.pem"));
    openssl(dir, &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", subj]);
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{ca}cert.pem"),
            "-CAkey",
            &format!("{ca}key.pem"),
            "-CAcreateserial",
            "-out",
            &cert,
            "-days",
            "30",
            "-extfile",
            &ext_file,
        ],
    );
}

/// A PKI: CA, server certificate for 127.0.0.1/localhost, a client certificate, and an
/// impostor CA with the same name as the real one that signed a second client certificate.
/// `DIR/pki` is libvirt's client layout (`?pkipath=`): cacert.pem, clientcert.pem, clientkey.pem.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ca_subj = "/C=XX/O=oxvirt test/CN=oxvirt test CA";
        make_ca(d, "ca", ca_subj);
        make_ca(d, "otherca", ca_subj);
        make_leaf(d, "ca", "server", "/C=XX/O=oxvirt test/CN=localhost", SERVER_EXT);
        make_leaf(d, "ca", "client", "/C=XX/O=oxvirt test/CN=client1", CLIENT_EXT);
        make_leaf(d, "otherca", "rogue", "/C=XX/O=oxvirt test/CN=client1", CLIENT_EXT);
        let p = Pki { dir };
        p.client_dir("pki", Some("client"));
        p.client_dir("nocert", None);
        p.client_dir("rogue", Some("rogue"));
        p
    }
    fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }
    /// A pkipath directory with the real CA and, if given, the `who` client certificate.
    fn client_dir(&self, name: &str, who: Option<&str>) -> PathBuf {
        let d = self.path(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(self.path("cacert.pem"), d.join("cacert.pem")).unwrap();
        if let Some(w) = who {
            std::fs::copy(self.path(&format!("{w}cert.pem")), d.join("clientcert.pem")).unwrap();
            std::fs::copy(self.path(&format!("{w}key.pem")), d.join("clientkey.pem")).unwrap();
        }
        d
    }
    /// Daemon configuration lines for TLS on `port` at 127.0.0.1.
    fn conf(&self, port: u16) -> Vec<String> {
        self.conf_at("127.0.0.1", port)
    }
    fn conf_at(&self, addr: &str, port: u16) -> Vec<String> {
        vec![
            "listen_tls = 1".into(),
            format!("listen_addr = \"{addr}\""),
            format!("tls_port = \"{port}\""),
            format!("ca_file = \"{}\"", self.path("cacert.pem").display()),
            format!("cert_file = \"{}\"", self.path("servercert.pem").display()),
            format!("key_file = \"{}\"", self.path("serverkey.pem").display()),
        ]
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts a daemon with `conf` and waits until `port` accepts connections.
fn start(conf: &[String], port: u16) -> Daemon {
    start_at(conf, "127.0.0.1", port)
}

fn start_at(conf: &[String], addr: &str, port: u16) -> Daemon {
    let lines: Vec<&str> = conf.iter().map(String::as_str).collect();
    let d = Daemon::start_with(&lines);
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect((addr, port)).is_err() {
        assert!(Instant::now() < deadline, "oxvirtd does not listen on {port}; log:\n{}", d.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    d
}

/// The daemon logs a refusal just after closing the socket: give it a moment.
fn wait_for_log(d: &Daemon, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.log().contains(needle) {
        assert!(Instant::now() < deadline, "no '{needle}' in the log:\n{}", d.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn tls_uri(port: u16, pkipath: &Path, extra: &str) -> String {
    format!("test+tls://127.0.0.1:{port}/default?pkipath={}{extra}", pkipath.display())
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs virsh 9.0 and openssl (make test)")]
fn virsh_over_tls_lists_shows_and_defines() {
    require_tools();
    let pki = Pki::new();
    let port = free_port();
    let d = start(&pki.conf(port), port);
    let uri = tls_uri(port, &pki.path("pki"), "");

    let (ok, out) = virsh(&uri, "list --all");
    assert!(ok, "{out}\nlog:\n{}", d.log());
    assert!(out.lines().any(|l| l.split_whitespace().eq(["1", "test", "running"])), "{out}");
    let (ok, out) = virsh(&uri, "dominfo test");
    assert!(ok && out.contains("Name:           test") && out.contains("State:          running"), "{out}");

    let xml = pki.path("vm.xml");
    std::fs::write(
        &xml,
        "<domain type='test'><name>tlsvm</name><memory>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>",
    )
    .unwrap();
    let (ok, out) = virsh(&uri, &format!("define {}; list --all; dominfo tlsvm", xml.display()));
    assert!(ok, "{out}");
    assert!(out.lines().any(|l| l.split_whitespace().eq(["-", "tlsvm", "shut", "off"])), "{out}");

    // The host name may be given instead of the address (the certificate names both).
    let (ok, out) = virsh(&format!("test+tls://localhost:{port}/default?pkipath={}", pki.path("pki").display()), "uri");
    assert!(ok, "{out}");

    // A client asking for read-only gets read-only, over TLS too.
    let o = run_timeout(
        Command::new("virsh").args(["-q", "-r", "-c", &uri, &format!("define {}", xml.display())]),
        Duration::from_secs(60),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("read only"), "{err}");

    assert!(d.log().contains("dn=C=XX,O=oxvirt test,CN=client1"), "{}", d.log());
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs virsh 9.0 and openssl (make test)")]
fn clients_without_a_valid_certificate_are_refused() {
    require_tools();
    let pki = Pki::new();
    let port = free_port();
    let d = start(&pki.conf(port), port);

    // virsh with a pkipath that has the CA but no client certificate.
    let (ok, out) = virsh(&tls_uri(port, &pki.path("nocert"), ""), "list");
    assert!(!ok, "{out}");
    assert!(!out.contains("running"), "{out}");

    // openssl without -cert: the handshake ends with TLS 1.3's "certificate required" alert.
    let o = run_timeout(
        Command::new("openssl").args([
            "s_client",
            "-ign_eof",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-CAfile",
            pki.path("cacert.pem").to_str().unwrap(),
        ]),
        Duration::from_secs(30),
    );
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("certificate required"), "{text}");

    // A certificate from an impostor CA with the same name as ours. virsh's own check of its
    // certificate would stop it before connecting, so that check is off (?no_sanity=1): the
    // server must refuse it by itself.
    let (ok, out) = virsh(&tls_uri(port, &pki.path("rogue"), "&no_sanity=1"), "list");
    assert!(!ok, "{out}");
    assert!(!out.contains("running"), "{out}");

    // The same through our connector: no confirmation byte arrives, so it fails.
    for (dir, what) in [("nocert", "no certificate"), ("rogue", "impostor CA")] {
        let cfg = TlsClientConfig::locate(Some(&pki.path(dir)), false);
        let r = connect_tls("127.0.0.1", port, &cfg);
        assert!(matches!(r, Err(TlsError::Confirm | TlsError::Handshake(_))), "{what}: {r:?}");
    }
    wait_for_log(&d, "peer sent no certificates");
    let log = d.log();
    assert!(log.contains("UnknownIssuer") || log.contains("BadSignature"), "{log}");
    // Refused clients never reached the RPC layer.
    assert!(!log.contains("connection opened"), "{log}");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs virsh 9.0 and openssl (make test)")]
fn connector_talks_rpc_over_tls_and_checks_the_server() {
    require_tools();
    let pki = Pki::new();
    let port = free_port();
    let _d = start(&pki.conf(port), port);
    let cfg = TlsClientConfig::locate(Some(&pki.path("pki")), false);
    let s = connect_tls("127.0.0.1", port, &cfg).expect("connect_tls");
    s.socket().set_read_timeout(Some(Duration::from_secs(30))).unwrap();

    let header = |serial: u32, proc_: i32| Header::remote_call(proc_, serial);
    let open = ConnectOpenArgs { name: Some("test:///default".into()), flags: 0 };
    (&s).write_all(&Message::new(header(1, procs::CONNECT_OPEN), &open).to_frame()).unwrap();
    let reply = read_message(&mut &s, 1 << 20).unwrap().unwrap();
    assert_eq!(reply.header.status, Status::Ok);

    // Pipelined calls: a writer thread sends while this thread reads the replies, so the
    // shared session is used from both sides at once.
    const N: u32 = 2000;
    let started = Instant::now();
    let w = {
        let s = s.clone();
        std::thread::spawn(move || {
            for i in 0..N {
                let m = Message::new(header(i + 2, procs::CONNECT_GET_TYPE), &());
                (&s).write_all(&m.to_frame()).unwrap();
            }
        })
    };
    let mut seen = 0;
    while seen < N {
        let m = read_message(&mut &s, 1 << 20).unwrap().expect("reply");
        if m.header.prog != REMOTE_PROGRAM {
            continue;
        }
        assert_eq!(m.header.status, Status::Ok);
        let t: StringRet = m.payload().unwrap();
        assert_eq!(t.s, "TEST");
        seen += 1;
    }
    w.join().unwrap();
    eprintln!("{N} pipelined calls over TLS in {:?}", started.elapsed());

    // A 4 MiB message spans hundreds of TLS records and more than the session buffers at once.
    let big = StringArgs { s: "x".repeat(4 << 20) };
    (&s).write_all(&Message::new(header(N + 2, procs::DOMAIN_LOOKUP_BY_NAME), &big).to_frame()).unwrap();
    // The error names the domain, so the reply is as large.
    let m = read_message(&mut &s, oxvirt_rpc::xdr::MESSAGE_MAX).unwrap().expect("reply");
    assert_eq!((m.header.serial, m.header.status), (N + 2, Status::Error));
    assert!(m.body.len() > 4 << 20);
    (&s).write_all(&Message::new(header(N + 3, procs::CONNECT_GET_TYPE), &()).to_frame()).unwrap();
    let m = read_message(&mut &s, 1 << 20).unwrap().expect("reply");
    assert_eq!((m.header.serial, m.header.status), (N + 3, Status::Ok));
    s.shutdown();

    // The server's certificate must name the host we asked for; ?no_verify=1 lets it pass
    // (with a warning) as libvirt does. 127.0.0.2 (loopback) is not in the certificate.
    let port = free_port();
    let _d2 = start_at(&pki.conf_at("127.0.0.2", port), "127.0.0.2", port);
    let r = connect_tls("127.0.0.2", port, &TlsClientConfig::locate(Some(&pki.path("pki")), false));
    assert!(matches!(r, Err(TlsError::Handshake(ref m)) if m.contains("not valid for name")), "{r:?}");
    let r = connect_tls("127.0.0.2", port, &TlsClientConfig::locate(Some(&pki.path("pki")), true));
    assert!(r.is_ok(), "{r:?}");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs virsh 9.0 and openssl (make test)")]
fn allowed_dn_list_restricts_clients() {
    require_tools();
    let pki = Pki::new();
    let port = free_port();
    let mut conf = pki.conf(port);
    conf.push("tls_allowed_dn_list = [\"C=XX,O=oxvirt test,CN=admin*\", \"CN=nobody\"]".into());
    let d = start(&conf, port);
    let (ok, out) = virsh(&tls_uri(port, &pki.path("pki"), ""), "list");
    assert!(!ok, "{out}");
    wait_for_log(&d, "is not on the list of allowed clients");
    drop(d);

    let port = free_port();
    let mut conf = pki.conf(port);
    conf.push("tls_allowed_dn_list = [\"CN=nobody\", \"C=XX,O=oxvirt test,CN=client?\"]".into());
    let _d = start(&conf, port);
    let (ok, out) = virsh(&tls_uri(port, &pki.path("pki"), ""), "list");
    assert!(ok, "{out}");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs virsh 9.0 and openssl (make test)")]
fn a_silent_client_does_not_block_others_and_is_dropped() {
    require_tools();
    let pki = Pki::new();
    let port = free_port();
    let mut conf = pki.conf(port);
    conf.push("tls_handshake_timeout = 2".into());
    let d = start(&conf, port);
    // Connected, never says hello.
    let mut silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let t0 = Instant::now();
    let (ok, out) = virsh(&tls_uri(port, &pki.path("pki"), ""), "list");
    assert!(ok, "{out}");
    assert!(t0.elapsed() < Duration::from_secs(2), "virsh waited behind the silent client");
    silent.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // At most an alert, then the end of the stream.
    let mut rest = Vec::new();
    let r = silent.read_to_end(&mut rest);
    assert!(r.is_ok() && rest.len() < 64, "the silent client must be closed: {r:?}, {} bytes", rest.len());
    assert!(t0.elapsed() >= Duration::from_millis(1500), "closed too early: {:?}", t0.elapsed());
    wait_for_log(&d, "did not finish within");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs virsh 9.0 and openssl (make test)")]
fn plain_tcp_is_off_unless_enabled() {
    require_tools();
    let pki = Pki::new();
    let (tls_port, tcp_port) = (free_port(), free_port());
    let mut conf = pki.conf(tls_port);
    conf.push(format!("tcp_port = \"{tcp_port}\""));
    let d = start(&conf, tls_port);
    assert!(TcpStream::connect(("127.0.0.1", tcp_port)).is_err(), "plain TCP listens without listen_tcp");
    drop(d);

    // Without listen_tls nothing listens on the TLS port either.
    let dd = Daemon::start_with(&["listen_addr = \"127.0.0.1\"", &format!("tls_port = \"{tls_port}\"")]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(TcpStream::connect(("127.0.0.1", tls_port)).is_err(), "TLS listens without listen_tls");
    drop(dd);

    // Enabled explicitly: works for virsh's tcp transport, with a warning in the log.
    let mut conf = pki.conf(tls_port);
    conf.push(format!("tcp_port = \"{tcp_port}\""));
    conf.push("listen_tcp = 1".into());
    let d = start(&conf, tcp_port);
    let (ok, out) = virsh(&format!("test+tcp://127.0.0.1:{tcp_port}/default"), "list");
    assert!(ok && out.contains("test"), "{out}");
    assert!(d.log().contains("no encryption and no authentication"), "{}", d.log());
}

/// Runs oxvirtd with `conf` until it exits (it must fail): its stderr.
fn failing_daemon(conf: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.conf");
    std::fs::write(&path, format!("host_uris = \"none\"\n{conf}")).unwrap();
    let o = run_timeout(
        Command::new(env!("CARGO_BIN_EXE_oxvirtd")).arg("--config").arg(&path).arg("--socket-dir").arg(dir.path()),
        Duration::from_secs(30),
    );
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "{err}");
    err
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs virsh 9.0 and openssl (make test)")]
fn tls_needs_valid_credentials() {
    require_tools();
    let port = free_port();
    let err = failing_daemon(&format!(
        "listen_tls = 1\nlisten_addr = \"127.0.0.1\"\ntls_port = \"{port}\"\nca_file = \"/nonexistent/ca.pem\"\n"
    ));
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");

    // A server certificate that the configured CA did not sign is refused at start.
    let pki = Pki::new();
    let mut conf = pki.conf(port);
    conf.push(format!("ca_file = \"{}\"", pki.path("othercacert.pem").display()));
    let err = failing_daemon(&conf.join("\n"));
    assert!(err.contains("failed validation against"), "{err}");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

/// The remote driver over TLS (`oxvirt_api::Connect::open("test+tls://...")` and the `oxvirt`
/// CLI): same answers as in-process, read-only honoured, a client without a certificate refused.
#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs virsh 9.0 and openssl (make test)")]
fn remote_driver_over_tls() {
    require_tools();
    oxvirt_rpc::remote::register();
    oxvirt_driver_test::register();
    let pki = Pki::new();
    let port = free_port();
    let d = start(&pki.conf(port), port);
    let uri = tls_uri(port, &pki.path("pki"), "");

    let remote = oxvirt_api::Connect::open(Some(&uri)).unwrap_or_else(|e| panic!("{e}\nlog:\n{}", d.log()));
    let local = oxvirt_api::Connect::open(Some("test:///default")).expect("in-process");
    let names = |c: &oxvirt_api::Connect| -> Vec<(String, i32)> {
        c.list_all_domains(oxvirt_api::ConnectListAllDomainsFlags::empty())
            .expect("list")
            .iter()
            .map(|d| (d.name().to_string(), d.id()))
            .collect()
    };
    assert_eq!(names(&remote), names(&local));
    assert_eq!(
        remote.lookup_domain_by_name("test").unwrap().xml_desc(oxvirt_api::DomainXmlFlags::empty()),
        local.lookup_domain_by_name("test").unwrap().xml_desc(oxvirt_api::DomainXmlFlags::empty())
    );
    assert_eq!(remote.lookup_domain_by_name("nope").unwrap_err(), local.lookup_domain_by_name("nope").unwrap_err());
    assert_eq!(remote.uri(), uri);

    let ro = oxvirt_api::Connect::open_read_only(Some(&uri)).expect("read-only over TLS");
    let e = ro.lookup_domain_by_name("test").unwrap().destroy(0).unwrap_err();
    assert_eq!(e.code, oxvirt_api::ErrorCode::OperationDenied);

    let e = oxvirt_api::Connect::open(Some(&tls_uri(port, &pki.path("nocert"), ""))).unwrap_err();
    assert_eq!(e.code, oxvirt_api::ErrorCode::AuthFailed, "{e}");

    let oxvirt = Path::new(env!("CARGO_BIN_EXE_oxvirtd")).with_file_name("oxvirt");
    assert!(oxvirt.exists(), "{} is missing: build it first (cargo build -p oxvirt-cli)", oxvirt.display());
    let out = |u: &str| run_timeout(Command::new(&oxvirt).args(["-c", u, "list", "--all"]), Duration::from_secs(60));
    let (a, b) = (out(&uri), out("test:///default"));
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert_eq!(String::from_utf8_lossy(&a.stdout), String::from_utf8_lossy(&b.stdout));
}
