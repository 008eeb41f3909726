//! A daemon that starts hosting a root takes its guests over from their monitors: the monitor
//! exits without acting, and from then on the daemon's watcher handles the guest (its lifecycle
//! events are seen live in the daemon). Its own test binary: daemon mode is process-wide.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use oxvirt_api::{Connect, DomainEventKind, DomainState};
use oxvirt_driver_qemu::Layout;

fn alive(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let state = stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().next().map(str::to_owned));
    !matches!(state.as_deref(), None | Some("Z") | Some("X"))
}

fn monitor_pid(layout: &Layout, name: &str) -> i32 {
    let file = oxvirt_driver_qemu::monitor::monitor_pid_file(layout, name).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(pid) = std::fs::read_to_string(&file).ok().and_then(|s| s.trim().parse().ok()) {
            return pid;
        }
        assert!(Instant::now() < deadline, "no monitor for '{name}'");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn a_daemon_takes_a_guest_over_from_its_monitor() {
    oxvirt_driver_qemu::register();
    let root = tempfile::tempdir().unwrap();
    let uri = format!("qemu:///embed?root={}", root.path().display());
    let layout = Layout::embed(root.path());
    let serial = root.path().join("serial.log");
    {
        // Embedded, as the CLI: the start launches the guest's monitor.
        let conn = Connect::open(Some(&uri)).unwrap();
        let (mut dom, _) = conn.define_domain(&guest_xml("hand", "shell", Some(&serial)), 0).unwrap();
        dom.create(oxvirt_api::DomainCreateFlags::empty()).unwrap();
    }
    assert!(wait_for_text(&serial, "OXVIRT-GUEST-UP", Duration::from_secs(120)), "guest not up");
    let mon = monitor_pid(&layout, "hand");
    assert!(alive(mon));

    // The daemon opens the root (a new driver instance, watching).
    oxvirt_driver_qemu::enable_daemon_mode();
    let conn = Connect::open(Some(&uri)).unwrap();
    let events: Arc<Mutex<Vec<(DomainEventKind, i32)>>> = Arc::default();
    let sink = events.clone();
    conn.domain_event_register(None, Arc::new(move |e| sink.lock().unwrap().push((e.kind, e.detail)))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(mon) {
        assert!(Instant::now() < deadline, "the monitor did not hand the guest over");
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = std::fs::read_to_string(layout.log_file("hand").unwrap()).unwrap();
    assert!(log.contains("taken over by the daemon"), "{log}");

    // The guest powers off: the daemon's watcher handles it, live.
    let dom = conn.lookup_domain_by_name("hand").unwrap();
    dom.shutdown(0).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = events.lock().unwrap().clone();
        if got.contains(&(DomainEventKind::Stopped, 0)) {
            assert!(got.contains(&(DomainEventKind::Shutdown, 1)), "guest-initiated shutdown: {got:?}");
            break;
        }
        assert!(Instant::now() < deadline, "no live stop event in the daemon: {got:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(dom.state().unwrap(), (DomainState::Shutoff, 1));
    assert!(!Path::new(&layout.status_file("hand").unwrap()).exists());
    dom.undefine(oxvirt_api::DomainUndefineFlags::empty()).unwrap();
}
