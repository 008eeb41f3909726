//! The QEMU driver in daemon mode brings up autostart networks when it is opened. Runs on a thread
//! moved into a fresh network namespace (netlink, nft and dnsmasq all act in the calling thread's
//! namespace), so the bridge and rules never reach the host. Needs root, `nft` and `dnsmasq`.

use std::path::PathBuf;

use oxvirt_api::Connect;
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
