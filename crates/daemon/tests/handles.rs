//! Handles from the wire: the daemon builds a domain or network handle from the call's name and
//! UUID without looking it up, so each driver must refuse a handle whose object is gone or was
//! replaced (same name, new UUID) or that was never real, with libvirt's "no domain"/"no network".

mod common;

use std::time::Duration;

use common::Daemon;
use oxvirt_api::ErrorCode;
use oxvirt_rpc::client::{Client, ClientError};
use oxvirt_rpc::protocol::*;
use uuid::Uuid;

fn client(d: &Daemon, uri: &str) -> Client {
    let mut c = Client::connect(&d.sock(), Duration::from_secs(30)).unwrap();
    c.open(uri, 0).unwrap();
    c
}

fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> ErrorCode {
    match r {
        Err(ClientError::Remote(e)) => e.code,
        other => panic!("expected a remote error, got {other:?}"),
    }
}

/// Every domain call below must answer "no domain" for `dom`.
fn assert_no_domain(c: &mut Client, dom: &NonnullDomain) {
    let d = || DomArgs { dom: dom.clone() };
    let df = || DomFlagsArgs { dom: dom.clone(), flags: 0 };
    assert_eq!(code(c.call::<_, DomainGetInfoRet>(procs::DOMAIN_GET_INFO, &d())), ErrorCode::NoDomain);
    assert_eq!(code(c.call::<_, DomainGetStateRet>(procs::DOMAIN_GET_STATE, &df())), ErrorCode::NoDomain);
    assert_eq!(code(c.call::<_, StringRet>(procs::DOMAIN_GET_XML_DESC, &df())), ErrorCode::NoDomain);
    assert_eq!(code(c.call::<_, IntRet>(procs::DOMAIN_GET_AUTOSTART, &d())), ErrorCode::NoDomain);
    assert_eq!(code(c.call::<_, IntRet>(procs::DOMAIN_HAS_MANAGED_SAVE_IMAGE, &df())), ErrorCode::NoDomain);
    assert_eq!(code(c.call::<_, ()>(procs::DOMAIN_UNDEFINE, &d())), ErrorCode::NoDomain);
    assert_eq!(code(c.call::<_, ()>(procs::DOMAIN_CREATE, &d())), ErrorCode::NoDomain);
}

fn replaced_and_forged_domain_handles(d: &Daemon, uri: &str, xml: impl Fn(&str, Uuid) -> String) {
    let mut c = client(d, uri);
    let (u1, u2) = (Uuid::from_u128(0xa1), Uuid::from_u128(0xa2));
    let old: DomRet = c.call(procs::DOMAIN_DEFINE_XML, &StringArgs { s: xml("handle-a", u1) }).unwrap();
    let _: () = c.call(procs::DOMAIN_UNDEFINE, &DomArgs { dom: old.dom.clone() }).unwrap();
    assert_no_domain(&mut c, &old.dom);
    // The name reused by another domain: the old handle still names nothing.
    let new: DomRet = c.call(procs::DOMAIN_DEFINE_XML, &StringArgs { s: xml("handle-a", u2) }).unwrap();
    assert_no_domain(&mut c, &old.dom);
    let _: DomainGetInfoRet = c.call(procs::DOMAIN_GET_INFO, &DomArgs { dom: new.dom.clone() }).unwrap();
    // Forged: a real name with a made-up UUID.
    assert_no_domain(&mut c, &NonnullDomain { name: "handle-a".into(), uuid: Uuid::from_u128(0xbad), id: -1 });
    let _: () = c.call(procs::DOMAIN_UNDEFINE, &DomArgs { dom: new.dom }).unwrap();
}

#[test]
fn test_driver_refuses_stale_and_forged_handles() {
    let d = Daemon::start();
    replaced_and_forged_domain_handles(&d, "test:///default", |name, uuid| {
        format!(
            "<domain type='test'><name>{name}</name><uuid>{uuid}</uuid><memory>65536</memory><vcpu>1</vcpu>\
             <os><type>hvm</type></os></domain>"
        )
    });
    // Networks too.
    let mut c = client(&d, "test:///default");
    let forged = NonnullNetwork { name: "default".into(), uuid: Uuid::from_u128(0xbad) };
    let e = code(c.call::<_, StringRet>(procs::NETWORK_GET_XML_DESC, &NetFlagsArgs { net: forged, flags: 0 }));
    assert_eq!(e, ErrorCode::NoNetwork);
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: define probes QEMU's capabilities (make test)")]
fn qemu_driver_refuses_stale_and_forged_handles() {
    let root = tempfile::tempdir().unwrap();
    let uri = format!("qemu:///embed?root={}", root.path().display());
    let d = Daemon::start_opts(&[], &uri, tempfile::tempdir().unwrap());
    replaced_and_forged_domain_handles(&d, &uri, |name, uuid| {
        format!(
            "<domain type='qemu'><name>{name}</name><uuid>{uuid}</uuid><memory unit='MiB'>64</memory>\
             <vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os></domain>"
        )
    });
}
