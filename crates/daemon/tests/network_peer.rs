//! The network driver as a peer of the hypervisor drivers, through oxvirtd: virsh reaches
//! `network:///system` (libvirt 9's URI for the network daemon), and it shows the same networks
//! as `qemu:///system`, both ways, read-write and read-only; the CLI reaches it through the
//! daemon too. The daemon runs in a network namespace of its own (`unshare -n`), so the bridge of
//! the network started here never reaches the host; its definition goes to /etc/oxvirt/network
//! and is removed again. Needs root, virsh and unshare.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{virsh, Daemon};

/// Removes what the test network leaves under the system layout should an assertion fail.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let n = &self.0;
        for p in [
            format!("/etc/oxvirt/network/autostart/{n}.xml"),
            format!("/etc/oxvirt/network/{n}.xml"),
            format!("/run/oxvirt/network/{n}.xml"),
            format!("/run/oxvirt/network/{n}.json"),
        ] {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// oxvirtd serving `qemu:///system` by default, started in a fresh network namespace.
fn daemon_in_own_netns() -> Daemon {
    let dir = tempfile::tempdir().expect("temp dir");
    let conf = dir.path().join("oxvirtd.conf");
    std::fs::write(&conf, "host_uris = \"none\"\n").expect("config");
    let log = std::fs::File::create(dir.path().join("oxvirtd.log")).expect("log");
    let child = Command::new("unshare")
        .arg("-n")
        .arg(env!("CARGO_BIN_EXE_oxvirtd"))
        .arg("--socket-dir")
        .arg(dir.path())
        .arg("--config")
        .arg(&conf)
        .arg("--pidfile")
        .arg(dir.path().join("oxvirtd.pid"))
        .arg("--default-uri")
        .arg("qemu:///system")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn unshare -n oxvirtd");
    let d = Daemon { child, dir };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(d.sock().exists() && d.sock_ro().exists()) {
        assert!(Instant::now() < deadline, "oxvirtd did not create its sockets; log:\n{}", d.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    d
}

fn uri(driver: &str, sock: &Path) -> String {
    format!("{driver}+unix:///system?socket={}", sock.display())
}

fn oxvirt_bin() -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_oxvirtd")).with_file_name("oxvirt");
    assert!(p.exists(), "{} is missing: build it first (cargo build -p oxvirt-cli; `make test` does)", p.display());
    p
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root, virsh and unshare (make test)")]
fn virsh_network_system_through_the_daemon_sees_the_qemu_system_networks() {
    assert!(common::have("virsh"), "virsh is missing: run scripts/install-deps.sh (libvirt-clients)");
    assert!(nix::unistd::geteuid().is_root(), "needs root (network:///system, a network namespace)");
    let daemon = daemon_in_own_netns();
    let (net_rw, qemu_rw) = (uri("network", &daemon.sock()), uri("qemu", &daemon.sock()));
    let (net_ro, qemu_ro) = (uri("network", &daemon.sock_ro()), uri("qemu", &daemon.sock_ro()));
    let name = format!("oxpeer{}", std::process::id() % 100_000);
    let _cleanup = Cleanup(name.clone());

    // Defined through network:///system, seen through qemu:///system (and the other way round).
    let xml = daemon.dir.path().join("net.xml");
    std::fs::write(&xml, format!("<network><name>{name}</name><bridge name='virbr-oxp'/></network>")).unwrap();
    let (ok, out) = virsh(&net_rw, &format!("net-define {}", xml.display()));
    assert!(ok, "{out}\n{}", daemon.log());
    let (ok, list_q) = virsh(&qemu_rw, "net-list --all");
    assert!(ok && list_q.contains(&name), "qemu:///system does not list {name}:\n{list_q}");
    let (ok, list_n) = virsh(&net_rw, "net-list --all");
    assert!(ok, "{list_n}");
    assert_eq!(list_n, list_q, "network:///system and qemu:///system list different networks");

    // Started through qemu:///system (the bridge lives in the daemon's namespace only), seen
    // active through network:///system, read-only too (its hypervisor root is the daemon's).
    let (ok, out) = virsh(&qemu_rw, &format!("net-start {name}"));
    assert!(ok, "{out}\n{}", daemon.log());
    let (ok, info) = virsh(&net_ro, &format!("net-info {name}"));
    assert!(ok && info.lines().any(|l| l.starts_with("Active:") && l.ends_with("yes")), "{info}");
    assert!(info.contains("virbr-oxp"), "{info}");
    let (ok, ro_list) = virsh(&net_ro, "net-list --all");
    assert!(ok, "{ro_list}");
    assert_eq!(ro_list, virsh(&qemu_ro, "net-list --all").1);
    let (ok, out) = virsh(&net_ro, &format!("net-destroy {name}"));
    assert!(!ok && out.contains("read only"), "a read-only network:///system stopped a network: {out}");

    // The CLI finds the daemon for network:///system as it does for qemu:///system.
    let o = Command::new(oxvirt_bin())
        .args(["-c", "network:///system", "net-list", "--all"])
        .env("OXVIRT_SOCKET_DIR", daemon.dir.path())
        .env_remove("LIBVIRT_DEFAULT_URI")
        .output()
        .expect("oxvirt");
    let cli = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && cli.contains(&name), "{cli}{}", String::from_utf8_lossy(&o.stderr));
    assert!(daemon.log().contains("connection opened uri=network:///system"), "{}", daemon.log());

    let (ok, out) = virsh(&net_rw, &format!("net-destroy {name}"));
    assert!(ok, "{out}");
    let (ok, out) = virsh(&qemu_rw, &format!("net-undefine {name}"));
    assert!(ok, "{out}");
    let (_, out) = virsh(&net_rw, "net-list --all");
    assert!(!out.contains(&name), "{out}");
}
