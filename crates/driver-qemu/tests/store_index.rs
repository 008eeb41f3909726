//! The QEMU driver's UUID index (`ETC/.uuids/UUID -> NAME`): lookups by UUID and define's
//! uniqueness check go through it, a missing index (a layout from before it) or a stale or
//! forged entry is repaired from the files on disk, and a UUID clash is refused with libvirt's
//! message — also between defines racing on two threads.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use oxvirt_api::{Connect, ErrorCode};
use uuid::Uuid;

fn embed(root: &Path) -> Connect {
    oxvirt_driver_qemu::register();
    Connect::open(Some(&format!("qemu:///embed?root={}", root.display()))).unwrap()
}

/// A minimal defined-only domain (never started here).
fn xml(name: &str, uuid: Uuid) -> String {
    format!(
        "<domain type='qemu'><name>{name}</name><uuid>{uuid}</uuid><memory unit='MiB'>64</memory>\
         <vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os></domain>"
    )
}

fn u(i: u128) -> Uuid {
    Uuid::from_u128(0x1111_0000_0000_4000_8000_0000_0000_0000 + i)
}

fn index_dir(root: &Path) -> std::path::PathBuf {
    root.join("etc/qemu/.uuids")
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: define probes QEMU's capabilities (make test)")]
fn index_is_written_rebuilt_and_never_trusted() {
    let root = tempfile::tempdir().unwrap();
    {
        let c = embed(root.path());
        for (i, n) in ["a", "b", "c"].iter().enumerate() {
            c.define_domain(&xml(n, u(i as u128)), 0).unwrap();
        }
        let target = fs::read_link(index_dir(root.path()).join(u(1).to_string())).unwrap();
        assert_eq!(target, Path::new("b"), "define records its UUID");
    }
    // A root from before the index: a fresh driver finds every domain by UUID, and rebuilds it.
    fs::remove_dir_all(index_dir(root.path())).unwrap();
    {
        let c = embed(root.path());
        assert_eq!(c.lookup_domain_by_uuid(&u(2)).unwrap().name(), "c");
        assert_eq!(fs::read_link(index_dir(root.path()).join(u(0).to_string())).unwrap(), Path::new("a"));
        // A clash is still refused, with libvirt's messages.
        let e = c.define_domain(&xml("z", u(1)), 0).unwrap_err();
        assert_eq!(e.code, ErrorCode::OperationFailed);
        assert_eq!(e.message, format!("operation failed: domain 'b' is already defined with uuid {}", u(1)));
        let e = c.define_domain(&xml("b", u(9)), 0).unwrap_err();
        assert_eq!(e.message, format!("operation failed: domain 'b' already exists with uuid {}", u(1)));
    }
    // Stale and forged entries: b's points at a, c's outside the directory.
    fs::remove_file(index_dir(root.path()).join(u(1).to_string())).unwrap();
    std::os::unix::fs::symlink("a", index_dir(root.path()).join(u(1).to_string())).unwrap();
    fs::remove_file(index_dir(root.path()).join(u(2).to_string())).unwrap();
    std::os::unix::fs::symlink("../../etc/qemu/c", index_dir(root.path()).join(u(2).to_string())).unwrap();
    {
        let c = embed(root.path());
        assert_eq!(c.lookup_domain_by_uuid(&u(1)).unwrap().name(), "b");
        assert_eq!(c.lookup_domain_by_uuid(&u(2)).unwrap().name(), "c");
        assert!(c.define_domain(&xml("y", u(2)), 0).unwrap_err().message.contains("domain 'c' is already defined"));
        // Gone is gone: undefine drops the entry, and the UUID is free again.
        let b = c.lookup_domain_by_name("b").unwrap();
        b.undefine(oxvirt_api::DomainUndefineFlags::empty()).unwrap();
        let e = c.lookup_domain_by_uuid(&u(1)).unwrap_err();
        assert_eq!(e.code, ErrorCode::NoDomain);
        // The handle of the undefined domain is stale, also when its name is reused.
        c.define_domain(&xml("b", u(7)), 0).unwrap();
        assert_eq!(b.info().unwrap_err().code, ErrorCode::NoDomain);
        c.define_domain(&xml("x", u(1)), 0).unwrap();
        assert_eq!(c.lookup_domain_by_uuid(&u(1)).unwrap().name(), "x");
    }
    // A definition copied in by hand (no entry) is found by a lookup that misses.
    let copied = fs::read_to_string(root.path().join("etc/qemu/a.xml"))
        .unwrap()
        .replace(">a<", ">w<")
        .replace(&u(0).to_string(), &u(5).to_string());
    fs::write(root.path().join("etc/qemu/w.xml"), copied).unwrap();
    assert_eq!(embed(root.path()).lookup_domain_by_uuid(&u(5)).unwrap().name(), "w");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: define probes QEMU's capabilities (make test)")]
fn racing_defines_of_one_uuid_under_many_names_admit_one() {
    let root = tempfile::tempdir().unwrap();
    let c = embed(root.path());
    c.define_domain(&xml("warm-up", u(100)), 0).unwrap(); // capabilities probed once
    let c = Arc::new(c);
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let c = c.clone();
            std::thread::spawn(move || c.define_domain(&xml(&format!("racer-{i}"), u(1)), 0).map(|_| ()))
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    for e in results.into_iter().filter_map(Result::err) {
        assert!(e.message.contains("is already defined with uuid"), "{e}");
    }
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: define probes QEMU's capabilities (make test)")]
fn a_process_checks_the_index_once_and_a_listing_heals_it() {
    let root = tempfile::tempdir().unwrap();
    let c = embed(root.path());
    c.define_domain(&xml("a", u(0)), 0).unwrap();
    assert_eq!(c.lookup_domain_by_uuid(&u(5)).unwrap_err().code, ErrorCode::NoDomain, "checked against the files");
    // Copied in by hand while this process runs: a later miss is taken as a miss (no scan per
    // miss) until a listing, which reads every name anyway, enters it.
    let copied = fs::read_to_string(root.path().join("etc/qemu/a.xml"))
        .unwrap()
        .replace(">a<", ">w<")
        .replace(&u(0).to_string(), &u(5).to_string());
    fs::write(root.path().join("etc/qemu/w.xml"), copied).unwrap();
    assert_eq!(c.lookup_domain_by_uuid(&u(5)).unwrap_err().code, ErrorCode::NoDomain);
    assert_eq!(c.list_all_domains(oxvirt_api::ConnectListAllDomainsFlags::empty()).unwrap().len(), 2);
    assert_eq!(c.lookup_domain_by_uuid(&u(5)).unwrap().name(), "w");
}
