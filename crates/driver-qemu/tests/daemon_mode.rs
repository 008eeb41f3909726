//! The driver hosted by a long-lived process: live lifecycle events from guest actions, and
//! autostart when the driver is opened.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use oxvirt_api::{Connect, DomainEventKind, DomainState};

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn guest_poweroff_is_seen_live_and_autostart_starts_domains() {
    oxvirt_driver_qemu::register();
    oxvirt_driver_qemu::enable_daemon_mode();
    let root = tempfile::tempdir().unwrap();
    let uri = format!("qemu:///embed?root={}", root.path().display());
    let conn = Connect::open(Some(&uri)).unwrap();
    let events: Arc<Mutex<Vec<(DomainEventKind, i32)>>> = Arc::default();
    let sink = events.clone();
    conn.domain_event_register(None, Arc::new(move |e| sink.lock().unwrap().push((e.kind, e.detail)))).unwrap();

    let serial = root.path().join("serial.log");
    let (mut dom, _) = conn.define_domain(&guest_xml("live", "poweroff", Some(&serial)), 0).unwrap();
    dom.create(oxvirt_api::DomainCreateFlags::empty()).unwrap();
    // No further API call: the watcher must notice the guest powering off by itself.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = events.lock().unwrap().clone();
        if got.contains(&(DomainEventKind::Stopped, 0)) {
            assert!(got.contains(&(DomainEventKind::Started, 0)), "{got:?}");
            assert!(got.contains(&(DomainEventKind::Shutdown, 1)), "guest-initiated shutdown: {got:?}");
            break;
        }
        assert!(Instant::now() < deadline, "no live stop event: {got:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(dom.state().unwrap(), (DomainState::Shutoff, 1));

    // autostart: a fresh driver instance in daemon mode starts the domain
    let serial2 = root.path().join("serial2.log");
    dom.undefine(oxvirt_api::DomainUndefineFlags::empty()).unwrap();
    drop(dom);
    let (dom, _) = conn.define_domain(&guest_xml("auto", "shell", Some(&serial2)), 0).unwrap();
    dom.set_autostart(true).unwrap();
    assert!(dom.autostart().unwrap());
    drop(dom);
    drop(conn);
    // The watcher threads hold the old driver only while they look (at most every 0.5 s); once they
    // let go, the next open makes a new driver, which autostarts.
    std::thread::sleep(Duration::from_millis(1500));
    let conn = Connect::open(Some(&uri)).unwrap();
    let dom = conn.lookup_domain_by_name("auto").unwrap();
    assert_eq!(dom.state().unwrap().0, DomainState::Running);
    assert!(wait_for_text(&serial2, "OXVIRT-GUEST-UP", Duration::from_secs(60)));
    dom.destroy(0).unwrap();
}
