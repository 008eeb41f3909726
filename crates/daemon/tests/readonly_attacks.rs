//! What any local user can try through oxvirtd's read-only socket (mode 0666), spoken as raw
//! XDR by an unprivileged process, not through libvirt's polite client library: name a binary
//! for the daemon to run, a directory for it to trust, a file for it to read, a host for it to
//! reach, or ask for secrets. Each must be refused, with nothing run, read or created.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::raw::{self, RawClient};
use common::Daemon;
use oxvirt_api::ErrorCode;
use oxvirt_rpc::protocol::*;

const VNC_DOMAIN: &str = "<domain type='qemu'>
  <name>vncpw</name>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <graphics type='vnc' port='-1' autoport='yes' passwd='hunter2-secret'/>
  </devices>
</domain>";

fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| panic!("{k} not set for the unprivileged part"))
}

fn denied(r: &raw::Reply, what: &str) -> String {
    let e = r.error().unwrap_or_else(|| panic!("{what}: expected an error reply"));
    assert_eq!(e.code, ErrorCode::OperationDenied, "{what}: {e:?}");
    e.message
}

/// The unprivileged client's half: every attempt refused.
fn attack(sock: &Path, dir: &Path) {
    let mut c = RawClient::connect(sock).expect("connect to the read-only socket");

    // URIs the daemon must not open for a client: an embedded root (it would trust what is in
    // it), a node file (read as root), a relay to another host.
    let planted = dir.join("planted-root");
    for uri in [
        format!("qemu:///embed?root={}", planted.display()),
        format!("test://{}", dir.join("root-only.xml").display()),
        format!("test://{}", dir.join("does-not-exist.xml").display()),
        "qemu+tcp://127.0.0.1/system".to_string(),
        "test+unix:///default?socket=/run/other.sock".to_string(),
    ] {
        let r = c.open(&uri).expect("CONNECT_OPEN answered");
        let m = denied(&r, &uri);
        assert!(!m.contains("SECRET-DESCRIPTION"), "{m}");
    }
    assert!(!planted.exists(), "the daemon created the client's embedded root");

    // The default connection (the administrator's embedded root) is served, read-only.
    let r = c.open("").expect("open default");
    assert!(r.is_ok(), "default URI: {:?}", r.error());

    // No binary of the client's choosing is executed, not even to probe it.
    let marker = dir.join("ran-as-root");
    let evil = dir.join("qemu-system-x86_64");
    let r = c
        .call(
            procs::CONNECT_GET_DOMAIN_CAPABILITIES,
            &DomainCapabilitiesArgs {
                emulatorbin: Some(evil.display().to_string()),
                arch: None,
                machine: None,
                virttype: Some("qemu".into()),
                flags: 0,
            },
        )
        .expect("domcaps answered");
    let e = r.error().expect("a client-named emulator is refused");
    assert_eq!(e.code, ErrorCode::InvalidArg, "{e:?}");
    assert!(e.message.contains("is not one this host offers"), "{}", e.message);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!marker.exists(), "the daemon executed the client's binary");

    // No file access by path: the same answer whether the file exists or not.
    let mut answers = Vec::new();
    for p in [dir.join("root-only.xml"), dir.join("does-not-exist.xml")] {
        let r = c
            .call(procs::DOMAIN_SAVE_IMAGE_GET_XML_DESC, &StringFlagsArgs { s: p.display().to_string(), flags: 0 })
            .expect("answered");
        answers.push(denied(&r, "save image XML by path"));
    }
    assert_eq!(answers[0], answers[1], "the answer tells whether a root-only path exists");

    // No secrets: the graphics password is hidden, and the secure flag is refused.
    let r = c.call(procs::DOMAIN_LOOKUP_BY_NAME, &StringArgs { s: "vncpw".into() }).expect("lookup");
    let dom: DomRet = r.ok().expect("lookup ok");
    let r = c.call(procs::DOMAIN_GET_XML_DESC, &DomFlagsArgs { dom: dom.dom.clone(), flags: 0 }).expect("dumpxml");
    let xml: StringRet = r.ok().expect("dumpxml ok");
    assert!(xml.s.contains("<graphics type='vnc'"), "{}", xml.s);
    assert!(!xml.s.contains("hunter2-secret"), "password shown to a read-only client:\n{}", xml.s);
    const XML_SECURE: u32 = 1;
    let r =
        c.call(procs::DOMAIN_GET_XML_DESC, &DomFlagsArgs { dom: dom.dom.clone(), flags: XML_SECURE }).expect("dumpxml");
    denied(&r, "dumpxml --security-info");

    // No side effects.
    let r = c.call(procs::DOMAIN_CREATE, &DomArgs { dom: dom.dom.clone() }).expect("start");
    denied(&r, "start");
    let r = c.call(procs::DOMAIN_UNDEFINE, &DomArgs { dom: dom.dom }).expect("undefine");
    denied(&r, "undefine");

    // Event callbacks are bounded per connection.
    let mut refused = 0;
    for _ in 0..300 {
        let r = c
            .call(procs::CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, &EventRegisterArgs { event_id: 0, dom: None })
            .expect("register");
        if !r.is_ok() {
            refused += 1;
        }
    }
    assert_eq!(refused, 300 - oxvirt_rpc::server::MAX_EVENT_CALLBACKS, "event callbacks are not capped");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root (clients run as nobody) (make test)")]
fn read_only_clients_name_nothing_we_run_read_or_trust_and_see_no_secrets() {
    if raw::role().is_some() {
        attack(env("SOCK").as_ref(), env("DIR").as_ref());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // A root-only node file with something to steal, and a "QEMU" that leaves a mark if run.
    let secret = dir.path().join("root-only.xml");
    std::fs::write(
        &secret,
        "<node><domain type='test'><name>x</name><description>SECRET-DESCRIPTION</description><memory>1024</memory><os><type>hvm</type></os></domain></node>",
    )
    .unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let marker = dir.path().join("ran-as-root");
    let evil = dir.path().join("qemu-system-x86_64");
    std::fs::write(&evil, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
    std::fs::set_permissions(&evil, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The administrator's embedded root, where a domain with a VNC password is defined.
    let root = dir.path().join("root");
    let uri = format!("qemu:///embed?root={}", root.display());
    let d = Daemon::start_opts(&[], &uri, tempfile::tempdir().unwrap());
    d.allow_others();
    let mut admin = RawClient::connect(&d.sock()).unwrap();
    assert!(admin.open("").unwrap().is_ok());
    let r = admin.call(procs::DOMAIN_DEFINE_XML, &StringArgs { s: VNC_DOMAIN.into() }).unwrap();
    assert!(r.is_ok(), "define: {:?}\n{}", r.error(), d.log());
    // the read-write (root) client still sees the password when it asks for it
    let dom: DomRet =
        admin.call(procs::DOMAIN_LOOKUP_BY_NAME, &StringArgs { s: "vncpw".into() }).unwrap().ok().unwrap();
    let xml: StringRet =
        admin.call(procs::DOMAIN_GET_XML_DESC, &DomFlagsArgs { dom: dom.dom.clone(), flags: 1 }).unwrap().ok().unwrap();
    assert!(xml.s.contains("hunter2-secret"), "{}", xml.s);
    let xml: StringRet =
        admin.call(procs::DOMAIN_GET_XML_DESC, &DomFlagsArgs { dom: dom.dom, flags: 0 }).unwrap().ok().unwrap();
    assert!(!xml.s.contains("hunter2-secret"), "{}", xml.s);

    raw::assert_as_nobody(
        "read_only_clients_name_nothing_we_run_read_or_trust_and_see_no_secrets",
        "client",
        &[("SOCK", d.sock_ro().to_str().unwrap()), ("DIR", dir.path().to_str().unwrap())],
    );
    assert!(!marker.exists(), "the client's binary ran");
    assert!(!d.log().contains("panicked"), "{}", d.log());
}
