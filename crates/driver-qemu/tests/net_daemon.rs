//! A QEMU connection in daemon mode brings up autostart networks when it is opened (its network
//! driver does, before the QEMU driver autostarts guests). Runs on a thread
//! moved into a fresh network namespace (netlink, nft and dnsmasq all act in the calling thread's
//! namespace), so the bridge and rules never reach the host. Needs root, `nft` and `dnsmasq`.
//! A second test has a guest with a direct (macvtap) interface power off while only the daemon's
//! watcher looks: the watcher deletes the macvtap.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use oxvirt_api::{Connect, DomainState};
use oxvirt_network::{NetLayout, NetworkDriver};

const NET: &str = "<network><name>auto1</name><forward mode='nat'/><bridge name='virbr43'/>
  <ip address='192.168.143.1' netmask='255.255.255.0'><dhcp><range start='192.168.143.10' end='192.168.143.50'/></dhcp></ip>
</network>";

/// Stops dnsmasq should an assertion fail while the network is up (it would keep the namespace).
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Ok(text) = std::fs::read(self.0.join("run/network/auto1.json")) else { return };
        let pid = serde_json::from_slice::<serde_json::Value>(&text).ok().and_then(|v| v["dnsmasq_pid"].as_i64());
        if let Some(pid) = pid.filter(|p| *p > 1) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root, nft, dnsmasq and QEMU (make test)")]
fn daemon_mode_autostarts_networks() {
    let root = tempfile::Builder::new().prefix("oxvirt-netd-").tempdir().unwrap();
    // dnsmasq re-reads its files after dropping privileges.
    std::fs::set_permissions(root.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let dir = root.path().to_path_buf();
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare a network namespace (root needed)");
        let _cleanup = Cleanup(dir.clone());
        {
            let net = NetworkDriver::new(NetLayout::under(&dir)).unwrap();
            let r = net.define(NET, 0).unwrap();
            net.set_autostart(&r, true).unwrap();
            assert!(!net.is_active(&r).unwrap());
        }
        // As oxvirtd hosts them: the network driver beside the QEMU one, both in daemon mode.
        oxvirt_network::register();
        oxvirt_network::enable_daemon_mode();
        oxvirt_driver_qemu::register();
        oxvirt_driver_qemu::enable_daemon_mode();
        let uri = format!("qemu:///embed?root={}", dir.display());
        let conn = Connect::open(Some(&uri)).unwrap();
        let n = conn.lookup_network_by_name("auto1").unwrap();
        assert!(n.is_active().unwrap(), "autostart network not started by the daemon-mode driver");
        assert_eq!(n.bridge_name().unwrap(), "virbr43");
        assert!(oxvirt_network::netlink::link_by_name("virbr43").unwrap().is_some(), "bridge in our namespace");
        n.destroy().unwrap();
        assert!(!n.is_active().unwrap());
        assert!(oxvirt_network::netlink::link_by_name("virbr43").unwrap().is_none(), "bridge left");
        n.undefine().unwrap();
    })
    .join()
    .unwrap();
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root, nft, dnsmasq and QEMU (make test)")]
fn daemon_watcher_deletes_the_macvtap_of_a_guest_that_powered_off() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().to_path_buf();
    std::thread::spawn(move || {
        use oxvirt_network::netlink;
        // QEMU and the watcher threads started from here share this namespace; /sys still shows
        // the host's, so the driver finds the macvtap's device through a sysfs of its own.
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare a network namespace (root needed)");
        netlink::create_veth("lan0", "lan1").unwrap();
        netlink::set_up("lan0", true).unwrap();
        netlink::set_up("lan1", true).unwrap();
        oxvirt_driver_qemu::register();
        oxvirt_driver_qemu::enable_daemon_mode();
        let conn = Connect::open(Some(&format!("qemu:///embed?root={}", dir.display()))).unwrap();
        let serial = dir.join("serial.log");
        let nic = "<interface type='direct'><mac address='52:54:00:0e:2f:01'/><source dev='lan0' mode='bridge'/><model type='virtio'/></interface>";
        let xml = common::guest_xml("mvd", "shell", Some(&serial)).replace("  </devices>", &format!("    {nic}\n  </devices>"));
        let (mut dom, _) = conn.define_domain(&xml, 0).unwrap();
        dom.create(oxvirt_api::DomainCreateFlags::empty()).unwrap();
        let live = dom.xml_desc(oxvirt_api::DomainXmlFlags::empty()).unwrap();
        assert!(live.contains("<target dev='macvtap0'/>"), "{live}");
        let link = netlink::link_by_name("macvtap0").unwrap().expect("macvtap0 in our namespace");
        assert_eq!(link.kind.as_deref(), Some("macvtap"));
        assert!(common::wait_for_text(&serial, "OXVIRT-GUEST-UP", Duration::from_secs(90)), "guest not up");
        // ACPI power button; from here on only the watcher looks.
        dom.shutdown(0).unwrap();
        let deadline = Instant::now() + Duration::from_secs(90);
        while netlink::link_by_name("macvtap0").unwrap().is_some() {
            assert!(Instant::now() < deadline, "macvtap0 still there after the guest powered off");
            std::thread::sleep(Duration::from_millis(100));
        }
        // The macvtap goes while the watcher is still finishing the stop; queries read the
        // committed state, which follows a moment later.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut state = dom.state().unwrap();
        while state.0 == DomainState::Running && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            state = dom.state().unwrap();
        }
        assert_eq!(state, (DomainState::Shutoff, 1), "shut off by the guest");
        assert!(netlink::link_by_name("lan0").unwrap().is_some(), "the lower device stays");
        dom.undefine(oxvirt_api::DomainUndefineFlags::empty()).unwrap();
    })
    .join()
    .unwrap();
}
