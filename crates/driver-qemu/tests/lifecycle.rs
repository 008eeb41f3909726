//! End-to-end lifecycle on real QEMU under TCG, through the public API in embedded mode.

mod common;

use std::time::Duration;

use common::*;
use oxvirt_api::{Connect, DomainState};

fn embed(root: &std::path::Path) -> Connect {
    oxvirt_driver_qemu::register();
    Connect::open(Some(&format!("qemu:///embed?root={}", root.display()))).expect("open embed")
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn boot_pause_save_restore_destroy() {
    let root = tempfile::tempdir().unwrap();
    let conn = embed(root.path());
    let serial = root.path().join("serial.log");
    let (mut dom, warnings) = conn.define_domain(&guest_xml("g1", "shell", Some(&serial)), 0).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(dom.state().unwrap().0, DomainState::Shutoff);
    dom.create(oxvirt_api::DomainCreateFlags::empty()).unwrap();
    assert!(dom.id() > 0);
    assert!(wait_for_text(&serial, "OXVIRT-GUEST-UP", Duration::from_secs(60)), "guest did not boot");
    assert_eq!(dom.state().unwrap(), (DomainState::Running, 1));
    assert!(dom.xml_desc(oxvirt_api::DomainXmlFlags::empty()).unwrap().contains(&format!("id='{}'", dom.id())));

    dom.suspend().unwrap();
    assert_eq!(dom.state().unwrap(), (DomainState::Paused, 1));
    dom.resume().unwrap();
    assert_eq!(dom.state().unwrap(), (DomainState::Running, 5));
    let err = dom.create(oxvirt_api::DomainCreateFlags::empty()).unwrap_err();
    assert!(err.message.contains("domain is already running"), "{err}");

    // A second connection (as a later CLI call would) sees the same running guest.
    let conn2 = embed(root.path());
    let d2 = conn2.lookup_domain_by_name("g1").unwrap();
    assert_eq!(d2.id(), dom.id());
    let info = d2.info().unwrap();
    assert_eq!(info.state, DomainState::Running);
    assert_eq!(info.max_mem, 256 * 1024);
    assert_eq!(info.nr_virt_cpu, 1);
    assert!(info.cpu_time > 0);

    let save = root.path().join("g1.save");
    dom.save(save.to_str().unwrap(), None, 0).unwrap();
    assert_eq!(dom.state().unwrap().0, DomainState::Shutoff);
    let restored = conn.restore_domain(save.to_str().unwrap(), None, 0).unwrap();
    assert_eq!(restored.state().unwrap(), (DomainState::Running, 3));
    restored.destroy(0).unwrap();
    assert_eq!(restored.state().unwrap(), (DomainState::Shutoff, 2), "destroyed");
    dom.undefine(oxvirt_api::DomainUndefineFlags::empty()).unwrap();
    assert!(conn.list_all_domains(oxvirt_api::ConnectListAllDomainsFlags::empty()).unwrap().is_empty());
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn guest_poweroff_is_shutdown_and_kill_is_crash() {
    let root = tempfile::tempdir().unwrap();
    let conn = embed(root.path());
    let serial = root.path().join("serial.log");
    let (mut dom, _) = conn.define_domain(&guest_xml("g2", "poweroff", Some(&serial)), 0).unwrap();
    dom.create(oxvirt_api::DomainCreateFlags::empty()).unwrap();
    assert!(wait_for_text(&serial, "OXVIRT-GUEST-UP", Duration::from_secs(60)));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while dom.state().unwrap().0 != DomainState::Shutoff {
        assert!(std::time::Instant::now() < deadline, "guest power-off not noticed");
        std::thread::sleep(Duration::from_millis(100));
    }

    let serial2 = root.path().join("serial2.log");
    let _ = std::fs::remove_file(&serial);
    dom.undefine(oxvirt_api::DomainUndefineFlags::empty()).unwrap();
    let xml = guest_xml("g2", "shell", Some(&serial2));
    let (mut dom, _) = conn.define_domain(&xml, 0).unwrap();
    dom.create(oxvirt_api::DomainCreateFlags::empty()).unwrap();
    assert!(wait_for_text(&serial2, "OXVIRT-GUEST-UP", Duration::from_secs(60)));
    let status: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.path().join("run/qemu/status/g2.status")).unwrap()).unwrap();
    let pid = status["pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    // SIGKILL is sent, not done: a loaded machine may take a while to tear QEMU down (its pages,
    // threads), and until then it runs. Wait for the state, not a fixed time.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while dom.state().unwrap().0 == DomainState::Running && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(dom.state().unwrap(), (DomainState::Shutoff, 3), "killed QEMU counts as crashed");
    assert!(!root.path().join("run/qemu/status/g2.status").exists());

    // start --paused, then a power button on a paused guest is refused with a hint
    dom.create(oxvirt_api::DomainCreateFlags::PAUSED).unwrap();
    assert_eq!(dom.state().unwrap(), (DomainState::Paused, 1));
    let err = dom.shutdown(0).unwrap_err();
    assert!(err.message.contains("paused"), "{err}");
    dom.destroy(0).unwrap();
}
