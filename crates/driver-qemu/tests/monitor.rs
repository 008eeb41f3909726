//! The per-guest monitor (`oxvirt-monitor`): with no daemon, a guest that powers off, reboots or
//! loses its monitor is handled without any further call on the root.
//!
//! The driver runs embedded here (no `enable_daemon_mode`), as in the CLI; it finds the monitor
//! binary the way it does in a build tree: one directory above this test executable
//! (`target/*/deps/..`). Real QEMU under TCG booting the test guest (docs/guest-image.md).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use oxvirt_api::{Connect, DomainState, ErrorCode};
use oxvirt_driver_qemu::Layout;

const BOOT: Duration = Duration::from_secs(120);

fn embed(root: &Path) -> Connect {
    oxvirt_driver_qemu::register();
    Connect::open(Some(&format!("qemu:///embed?root={}", root.display()))).unwrap()
}

/// The driver must find the monitor where cargo put it, without any environment override.
fn check_monitor_is_found() {
    assert!(std::env::var_os(oxvirt_driver_qemu::monitor::MONITOR_ENV).is_none(), "tests run without the override");
    let built = Path::new(env!("CARGO_BIN_EXE_oxvirt-monitor"));
    let exe = std::env::current_exe().unwrap();
    let near = exe.parent().and_then(Path::parent).unwrap().join("oxvirt-monitor");
    assert_eq!(near.canonicalize().unwrap(), built.canonicalize().unwrap());
}

/// Running and not a zombie.
fn alive(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let state = stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().next().map(str::to_owned));
    !matches!(state.as_deref(), None | Some("Z") | Some("X"))
}

/// How long until `pid` is gone, or `None` after `timeout`.
fn wait_gone(pid: i32, timeout: Duration) -> Option<Duration> {
    let t = Instant::now();
    while alive(pid) {
        if t.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Some(t.elapsed())
}

fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn qemu_pid(layout: &Layout, name: &str) -> i32 {
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.status_file(name).unwrap()).unwrap()).unwrap();
    st["pid"].as_i64().unwrap() as i32
}

/// The guest's monitor, once it has written its pid.
fn monitor_pid(layout: &Layout, name: &str) -> i32 {
    let file = oxvirt_driver_qemu::monitor::monitor_pid_file(layout, name).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(pid) = std::fs::read_to_string(&file).ok().and_then(|s| s.trim().parse().ok()) {
            return pid;
        }
        assert!(Instant::now() < deadline, "no monitor for '{name}' ({} missing)", file.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The directories of QEMU's cgroups (every hierarchy), from /proc.
fn cgroup_dirs(pid: i32) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let hierarchies: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .chain([PathBuf::from("/sys/fs/cgroup")])
        .collect();
    let mut out = Vec::new();
    for l in text.lines() {
        let Some((_, path)) = l.rsplit_once(':') else { continue };
        if !path.contains("qemu-") {
            continue;
        }
        for h in &hierarchies {
            let d = h.join(path.trim_start_matches('/'));
            if d.is_dir() {
                out.push(d);
            }
        }
    }
    out
}

/// The monitor's descriptors: stdio, its lock and the QMP socket, nothing inherited.
fn check_descriptors(pid: i32, log: &Path) {
    let fds: Vec<(i32, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let fd = e.file_name().to_str()?.parse().ok()?;
            Some((fd, std::fs::read_link(e.path()).ok()?.display().to_string()))
        })
        .collect();
    let target = |n: i32| fds.iter().find(|(fd, _)| *fd == n).map(|(_, t)| t.as_str()).unwrap_or("-");
    assert_eq!((target(0), target(1)), ("/dev/null", "/dev/null"), "{fds:?}");
    assert_eq!(target(2), log.canonicalize().unwrap().display().to_string(), "{fds:?}");
    assert!(fds.len() <= 6, "more descriptors than the monitor needs: {fds:?}");
}

/// From the domain's log: how long the monitor took from QEMU's event to the domain handled.
fn handled_ms(log: &Path, what: &str) -> Option<f64> {
    let text = std::fs::read_to_string(log).ok()?;
    let line = text.lines().rev().find(|l| l.contains(what) && l.contains("handled in"))?;
    line.rsplit("handled in ").next()?.trim_end_matches(" ms").parse().ok()
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn guest_power_off_is_handled_by_its_monitor_at_once() {
    check_monitor_is_found();
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().to_path_buf();
    std::thread::spawn(move || {
        use oxvirt_network::netlink;
        // QEMU and its monitor are started from this thread and so share its network namespace.
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare a network namespace (root needed)");
        netlink::create_veth("lan0", "lan1").unwrap();
        netlink::set_up("lan0", true).unwrap();
        netlink::set_up("lan1", true).unwrap();
        let conn = embed(&dir);
        let layout = Layout::embed(&dir);
        let serial = dir.join("serial.log");
        let nics = "<interface type='direct'><mac address='52:54:00:0e:3f:01'/><source dev='lan0' mode='bridge'/><model type='virtio'/></interface>
    <interface type='ethernet'><mac address='52:54:00:0e:3f:02'/><model type='virtio'/></interface>";
        let xml = guest_xml("mon1", "shell", Some(&serial)).replace("  </devices>", &format!("    {nics}\n  </devices>"));
        let (mut dom, _) = conn.define_domain(&xml, 0).unwrap();
        dom.create(oxvirt_api::DomainCreateFlags::empty()).unwrap();
        let live = dom.xml_desc(oxvirt_api::DomainXmlFlags::empty()).unwrap();
        assert!(live.contains("<target dev='macvtap0'/>") && live.contains("<target dev='vnet0'/>"), "{live}");
        assert!(wait_for_text(&serial, "OXVIRT-GUEST-UP", BOOT), "guest not up");
        let pid = qemu_pid(&layout, "mon1");
        let mon = monitor_pid(&layout, "mon1");
        assert!(alive(mon));
        let log = layout.log_file("mon1").unwrap();
        check_descriptors(mon, &log);
        let rss = rss_kib(mon);
        let cgroups = cgroup_dirs(pid);
        assert!(!cgroups.is_empty(), "QEMU is in no cgroup of its own");
        for dev in ["macvtap0", "vnet0"] {
            assert!(netlink::link_by_name(dev).unwrap().is_some(), "{dev}");
        }

        // The ACPI power button; from here on no call on the root until everything is checked.
        dom.shutdown(0).unwrap();
        assert!(wait_for_text(&serial, "OXVIRT-ACPI-POWEROFF", Duration::from_secs(60)), "guest did not see the power button");
        let gone = wait_gone(pid, Duration::from_secs(20)).expect("QEMU still running 20 s after the guest powered off");
        assert!(wait_gone(mon, Duration::from_secs(10)).is_some(), "the monitor outlived its QEMU");
        let status = layout.status_file("mon1").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while status.exists() {
            assert!(Instant::now() < deadline, "status file left behind");
            std::thread::sleep(Duration::from_millis(20));
        }
        for dev in ["macvtap0", "vnet0"] {
            assert!(netlink::link_by_name(dev).unwrap().is_none(), "{dev} left behind");
        }
        for c in &cgroups {
            assert!(!c.exists(), "cgroup {} left behind", c.display());
        }
        assert!(!layout.domain_run_dir("mon1").unwrap().exists(), "run dir left behind");
        let handled = handled_ms(&log, "SHUTDOWN");
        eprintln!(
            "monitor RSS {rss} KiB; guest power-off marker -> QEMU gone {} ms (monitor: SHUTDOWN handled in {handled:?} ms)",
            gone.as_millis()
        );
        assert!(handled.is_some(), "the monitor did not log handling the power-off:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        assert_eq!(dom.state().unwrap(), (DomainState::Shutoff, 1), "shut off by the guest");
        assert!(netlink::link_by_name("lan0").unwrap().is_some(), "the lower device stays");
        dom.undefine(oxvirt_api::DomainUndefineFlags::empty()).unwrap();
    })
    .join()
    .unwrap();
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn transient_guest_that_powers_itself_off_is_gone_entirely() {
    check_monitor_is_found();
    let root = tempfile::tempdir().unwrap();
    let conn = embed(root.path());
    let layout = Layout::embed(root.path());
    let serial = root.path().join("serial.log");
    // The guest powers itself off right after it is up.
    let dom = conn
        .create_domain_xml(&guest_xml("mon2", "poweroff", Some(&serial)), oxvirt_api::DomainCreateFlags::empty())
        .unwrap();
    let pid = qemu_pid(&layout, "mon2");
    let mon = monitor_pid(&layout, "mon2");
    assert!(wait_for_text(&serial, "OXVIRT-GUEST-UP", BOOT), "guest not up");
    assert!(wait_gone(pid, Duration::from_secs(30)).is_some(), "QEMU still running after the guest powered off");
    assert!(wait_gone(mon, Duration::from_secs(10)).is_some(), "the monitor outlived its QEMU");
    assert!(!layout.status_file("mon2").unwrap().exists());
    assert!(!layout.domain_run_dir("mon2").unwrap().exists());
    let err = conn.lookup_domain_by_name("mon2").unwrap_err();
    assert_eq!(err.code, ErrorCode::NoDomain, "{err}");
    assert!(conn.list_all_domains(oxvirt_api::ConnectListAllDomainsFlags::empty()).unwrap().is_empty());
    drop(dom);
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn reboot_is_finished_by_the_monitor_and_a_killed_monitor_leaves_it_to_the_next_call() {
    check_monitor_is_found();
    let root = tempfile::tempdir().unwrap();
    let conn = embed(root.path());
    let layout = Layout::embed(root.path());
    let serial = root.path().join("serial.log");
    let (mut dom, _) = conn.define_domain(&guest_xml("mon3", "shell", Some(&serial)), 0).unwrap();
    dom.create(oxvirt_api::DomainCreateFlags::empty()).unwrap();
    assert!(wait_for_text(&serial, "OXVIRT-GUEST-UP", BOOT), "guest not up");
    let pid = qemu_pid(&layout, "mon3");
    let mon = monitor_pid(&layout, "mon3");

    // With a monitor, reboot returns once the button is pressed (as libvirt's); the monitor
    // turns the guest's power-off into a reset: same QEMU, booting again, running.
    let t = Instant::now();
    dom.reboot(oxvirt_api::DomainRebootFlagValues::empty()).unwrap();
    assert!(t.elapsed() < Duration::from_secs(5), "reboot waited {:?} for the guest", t.elapsed());
    let up_twice = || std::fs::read_to_string(&serial).unwrap_or_default().matches("OXVIRT-GUEST-UP").count() >= 2;
    let deadline = Instant::now() + BOOT;
    while !up_twice() {
        assert!(Instant::now() < deadline, "guest did not boot again after the reboot");
        std::thread::sleep(Duration::from_millis(50));
    }
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.status_file("mon3").unwrap()).unwrap()).unwrap();
    assert_eq!(
        (st["pid"].as_i64(), st["state"].as_i64(), st["fake_reboot"].as_bool()),
        (Some(i64::from(pid)), Some(1), Some(false)),
        "{st}"
    );
    assert!(alive(mon), "the monitor stays with its QEMU");
    assert_eq!(dom.state().unwrap(), (DomainState::Running, 1));

    // A monitor killed with SIGKILL: the guest's power-off waits (-no-shutdown) for the next call.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(mon), nix::sys::signal::Signal::SIGKILL).unwrap();
    assert!(wait_gone(mon, Duration::from_secs(5)).is_some());
    dom.shutdown(0).unwrap();
    let poweroffs = || std::fs::read_to_string(&serial).unwrap_or_default().matches("OXVIRT-ACPI-POWEROFF").count();
    let deadline = Instant::now() + Duration::from_secs(60);
    while poweroffs() < 2 {
        assert!(Instant::now() < deadline, "guest did not see the power button");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));
    assert!(alive(pid), "nobody should have handled the power-off without the monitor");
    let deadline = Instant::now() + Duration::from_secs(30);
    while dom.state().unwrap().0 != DomainState::Shutoff {
        assert!(Instant::now() < deadline, "guest power-off not noticed by the next call");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(dom.state().unwrap(), (DomainState::Shutoff, 1));
    assert!(wait_gone(pid, Duration::from_secs(10)).is_some());
    dom.undefine(oxvirt_api::DomainUndefineFlags::empty()).unwrap();
}
