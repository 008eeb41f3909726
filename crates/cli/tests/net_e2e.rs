//! Two QEMU guests on a NAT virtual network, driven by the `oxvirt` binary in embedded mode inside
//! a network namespace the test creates and deletes: bridge, taps, dnsmasq, nftables tables and
//! QEMU all live in it, so nothing reaches the host's network. Needs root, `ip`, `nft`, `dnsmasq`,
//! QEMU and the test guest (scripts/guest-image.sh, docs/guest-image.md).
//!
//! Each guest has a fixed DHCP host entry, so its address is known: guest 1 pings guest 2 over
//! the bridge, guest 2 pings the gateway.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CALL: Duration = Duration::from_secs(120);
const BOOT: Duration = Duration::from_secs(180);
const NET: &str = "oxnat";
const BRIDGE: &str = "virbr42";

fn guest_dir() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = std::env::var_os("OXVIRT_GUEST_DIR").map(PathBuf::from).unwrap_or_else(|| repo.join("target/guest"));
    if !dir.join("vmlinuz").exists() || !dir.join("initrd-shell.img").exists() {
        let st = Command::new("bash").arg(repo.join("scripts/guest-image.sh")).arg(&dir).stdout(Stdio::null()).status();
        assert!(st.is_ok_and(|s| s.success()), "scripts/guest-image.sh {} failed", dir.display());
    }
    dir.canonicalize().expect("guest dir")
}

/// Runs a command with a deadline; (exit code, stdout, stderr).
fn run(cmd: &mut Command, timeout: Duration) -> (i32, String, String) {
    let out_file = tempfile_path("out");
    let err_file = tempfile_path("err");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_file).expect("stdout file"))
        .stderr(std::fs::File::create(&err_file).expect("stderr file"))
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + timeout;
    let code = loop {
        match child.try_wait().expect("wait") {
            Some(st) => break st.code().unwrap_or(-1),
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{cmd:?} did not finish within {timeout:?}");
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let out = std::fs::read_to_string(&out_file).unwrap_or_default();
    let err = std::fs::read_to_string(&err_file).unwrap_or_default();
    let _ = std::fs::remove_file(out_file);
    let _ = std::fs::remove_file(err_file);
    (code, out, err)
}

fn tempfile_path(what: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!("oxvirt-net-e2e-{}-{}-{what}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)))
}

/// The namespace and the embedded root; on drop (also when the test fails) guests are killed,
/// dnsmasq stopped and the namespace deleted, which removes the bridge and taps with it.
struct World {
    ns: String,
    root: PathBuf,
    uri: String,
}

impl World {
    fn new() -> World {
        let ns = format!("oxvirt-nete2e-{}", std::process::id());
        let root = tempfile_path("root");
        std::fs::create_dir_all(&root).expect("root dir");
        // dnsmasq re-reads its files after dropping privileges.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).expect("chmod root");
        let (c, _, e) = run(Command::new("ip").args(["netns", "add", &ns]), CALL);
        assert_eq!(c, 0, "ip netns add: {e}");
        let w = World { uri: format!("qemu:///embed?root={}", root.display()), ns, root };
        w.sh(&["ip", "link", "set", "lo", "up"]);
        w
    }

    /// A command inside the namespace that must succeed; its stdout.
    fn sh(&self, args: &[&str]) -> String {
        let (c, o, e) = run(Command::new("ip").args(["netns", "exec", &self.ns]).args(args), CALL);
        assert_eq!(c, 0, "{args:?} in {}: {o}{e}", self.ns);
        o
    }

    fn ox_raw(&self, args: &[&str]) -> (i32, String, String) {
        run(
            Command::new("ip")
                .args(["netns", "exec", &self.ns, env!("CARGO_BIN_EXE_oxvirt"), "-c", &self.uri])
                .args(args),
            CALL,
        )
    }

    fn ox(&self, args: &[&str]) -> String {
        let (c, o, e) = self.ox_raw(args);
        assert_eq!(c, 0, "oxvirt {args:?} failed:\n{o}{e}");
        o
    }

    fn file(&self, name: &str, text: &str) -> String {
        let p = self.root.join(name);
        std::fs::write(&p, text).expect("write file");
        p.display().to_string()
    }

    fn runtime(&self) -> serde_json::Value {
        let text = std::fs::read(self.root.join(format!("run/network/{NET}.json"))).expect("network runtime file");
        serde_json::from_slice(&text).expect("runtime json")
    }

    fn links(&self) -> String {
        self.sh(&["ip", "-o", "link", "show"])
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for g in ["g1", "g2"] {
            let _ = self.ox_raw(&["destroy", g]);
            // Should the CLI have failed, QEMU must not outlive the test.
            if let Ok(text) = std::fs::read(self.root.join(format!("run/qemu/{g}.status"))) {
                if let Some(pid) = serde_json::from_slice::<serde_json::Value>(&text).ok().and_then(|v| v["pid"].as_i64()) {
                    kill(pid);
                }
            }
        }
        let _ = self.ox_raw(&["net-destroy", NET]);
        if let Ok(text) = std::fs::read(self.root.join(format!("run/network/{NET}.json"))) {
            if let Some(pid) = serde_json::from_slice::<serde_json::Value>(&text).ok().and_then(|v| v["dnsmasq_pid"].as_i64()) {
                kill(pid);
            }
        }
        let _ = run(Command::new("ip").args(["netns", "del", &self.ns]), CALL);
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// SIGKILL to a process this test started (pid from our own state files), best effort.
fn kill(pid: i64) {
    if pid > 1 {
        let _ = run(Command::new("kill").args(["-KILL", &pid.to_string()]), CALL);
    }
}

fn guest_xml(name: &str, mac: &str, ping: &str, log: &Path, guest: &Path) -> String {
    format!(
        "<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 oxvirt.mode=net oxvirt.ping={ping}</cmdline>
  </os>
  <features><acpi/><apic/></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <serial type='file'><source path='{log}'/><target port='0'/></serial>
    <interface type='network'>
      <mac address='{mac}'/>
      <source network='{NET}'/>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>",
        kernel = guest.join("vmlinuz").display(),
        initrd = guest.join("initrd-shell.img").display(),
        log = log.display(),
    )
}

fn wait_for(log: &Path, marker: &str) -> String {
    let deadline = Instant::now() + BOOT;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(marker) {
            return text;
        }
        assert!(Instant::now() < deadline, "no {marker} in {} after {BOOT:?}:\n{text}", log.display());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn two_guests_on_a_nat_network() {
    let guest = guest_dir();
    let w = World::new();
    let (mac1, ip1) = ("52:54:00:0e:2e:01", "192.168.142.11");
    let (mac2, ip2) = ("52:54:00:0e:2e:02", "192.168.142.12");
    let net = w.file(
        "net.xml",
        &format!(
            "<network><name>{NET}</name><forward mode='nat'/><bridge name='{BRIDGE}'/>
  <ip address='192.168.142.1' netmask='255.255.255.0'><dhcp>
    <range start='192.168.142.100' end='192.168.142.200'/>
    <host mac='{mac1}' name='g1' ip='{ip1}'/>
    <host mac='{mac2}' name='g2' ip='{ip2}'/>
  </dhcp></ip></network>"
        ),
    );
    w.ox(&["net-define", &net]);
    w.ox(&["net-start", NET]);
    assert!(w.ox(&["net-list"]).contains(NET));

    let (log1, log2) = (w.root.join("g1.serial"), w.root.join("g2.serial"));
    let g2 = w.file("g2.xml", &guest_xml("g2", mac2, "192.168.142.1", &log2, &guest));
    let g1 = w.file("g1.xml", &guest_xml("g1", mac1, ip2, &log1, &guest));
    w.ox(&["define", &g2]);
    w.ox(&["define", &g1]);
    w.ox(&["start", "g2"]);
    w.ox(&["start", "g1"]);
    assert_eq!(w.runtime()["connections"], 2, "two guests connected");

    // The taps: in the live XML, enslaved to the bridge.
    let live1 = w.ox(&["dumpxml", "g1"]);
    let tap1 = live1
        .split("<target dev='")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .unwrap_or_else(|| panic!("no <target dev> in the live XML:\n{live1}"))
        .to_string();
    assert!(tap1.starts_with("vnet"), "tap name {tap1}");
    let links = w.links();
    let taps: Vec<&str> = links.lines().filter(|l| l.contains(": vnet")).collect();
    assert_eq!(taps.len(), 2, "two taps:\n{links}");
    assert!(taps.iter().all(|l| l.contains(&format!("master {BRIDGE}"))), "taps on the bridge:\n{links}");

    // Guest 2 answers guest 1's pings only once it is up; guest 2 boots first.
    let t2 = wait_for(&log2, "OXVIRT-NET-DONE");
    assert!(t2.contains(&format!("OXVIRT-NET ip={ip2}")), "guest 2's lease:\n{t2}");
    assert!(t2.contains("OXVIRT-PING ok 192.168.142.1"), "guest 2 pings the gateway:\n{t2}");
    let t1 = wait_for(&log1, "OXVIRT-NET-DONE");
    assert!(t1.contains(&format!("OXVIRT-NET ip={ip1}")), "guest 1's lease:\n{t1}");
    assert!(t1.contains(&format!("OXVIRT-PING ok {ip2}")), "guest 1 pings guest 2:\n{t1}");

    let leases = w.ox(&["net-dhcp-leases", NET]);
    for (mac, ip) in [(mac1, ip1), (mac2, ip2)] {
        assert!(leases.lines().any(|l| l.contains(mac) && l.contains(&format!("{ip}/24"))), "lease of {mac}:\n{leases}");
    }
    let one = w.ox(&["net-dhcp-leases", NET, "--mac", mac1]);
    assert!(one.contains(ip1) && !one.contains(ip2), "leases of one MAC:\n{one}");
    let addr = w.ox(&["domifaddr", "g1"]);
    assert!(addr.contains(&tap1) && addr.contains(mac1) && addr.contains(&format!("{ip1}/24")), "domifaddr:\n{addr}");
    let addr = w.ox(&["domifaddr", "g2", "--source", "lease"]);
    assert!(addr.contains(mac2) && addr.contains(&format!("{ip2}/24")), "domifaddr of guest 2:\n{addr}");

    // Link state through update-device (QMP set_link), in the live XML.
    w.ox(&["domif-setlink", "g1", &tap1, "down"]);
    assert!(w.ox(&["dumpxml", "g1"]).contains("<link state='down'/>"), "link down in the live XML");
    w.ox(&["domif-setlink", "g1", &tap1, "up"]);
    assert!(!w.ox(&["dumpxml", "g1"]).contains("<link state='down'/>"), "link up again");

    // A start that fails after its tap was opened leaves neither tap nor connection behind.
    let bad = guest_xml("g3", "52:54:00:0e:2e:09", "192.168.142.1", &w.root.join("g3.serial"), &guest)
        .replace("<model type='virtio'/>", "<model type='no-such-nic'/>");
    let bad = w.file("g3.xml", &bad);
    w.ox(&["define", &bad]);
    let (code, _, err) = w.ox_raw(&["start", "g3"]);
    assert_ne!(code, 0, "g3 with an unknown NIC model started");
    assert!(err.contains("no-such-nic"), "error names the model: {err}");
    assert_eq!(w.links().lines().filter(|l| l.contains(": vnet")).count(), 2, "tap of the failed start left");
    assert_eq!(w.runtime()["connections"], 2, "connection of the failed start kept");
    w.ox(&["undefine", "g3"]);

    // Hot-plug of a NIC on the network: tap on the bridge, one more connection; unplug undoes it.
    let mac3 = "52:54:00:0e:2e:03";
    w.ox(&["attach-interface", "g2", "network", NET, "--mac", mac3, "--model", "virtio", "--live"]);
    let live2 = w.ox(&["dumpxml", "g2"]);
    assert!(live2.contains(mac3), "hot-plugged NIC in the live XML:\n{live2}");
    assert_eq!(w.links().lines().filter(|l| l.contains(": vnet") && l.contains(&format!("master {BRIDGE}"))).count(), 3);
    assert_eq!(w.runtime()["connections"], 3, "hot-plugged NIC counted");
    w.ox(&["detach-interface", "g2", "network", "--mac", mac3, "--live"]);
    assert!(!w.ox(&["dumpxml", "g2"]).contains(mac3), "unplugged NIC still in the live XML");
    assert_eq!(w.links().lines().filter(|l| l.contains(": vnet")).count(), 2, "unplugged tap gone");
    assert_eq!(w.runtime()["connections"], 2, "unplugged NIC released");

    // Stopping the guests removes their taps and gives the connections back.
    w.ox(&["destroy", "g1"]);
    w.ox(&["destroy", "g2"]);
    let links = w.links();
    assert!(!links.contains(": vnet"), "taps left:\n{links}");
    assert_eq!(w.runtime()["connections"], 0, "connections given back");

    let dnsmasq = w.runtime()["dnsmasq_pid"].as_i64().expect("dnsmasq pid");
    w.ox(&["net-destroy", NET]);
    let links = w.links();
    assert!(!links.contains(BRIDGE), "bridge left:\n{links}");
    let tables = w.sh(&["nft", "list", "tables"]);
    assert!(!tables.contains("oxvirt"), "nft tables left:\n{tables}");
    // Gone, or a zombie of whoever reaps orphans here.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{dnsmasq}/stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().and_then(|r| r.split_whitespace().next()).unwrap_or("");
        if stat.is_empty() || state == "Z" || !stat.contains("(dnsmasq)") {
            break;
        }
        assert!(Instant::now() < deadline, "dnsmasq {dnsmasq} still running: {stat}");
        std::thread::sleep(Duration::from_millis(100));
    }
    w.ox(&["undefine", "g1"]);
    w.ox(&["undefine", "g2"]);
    w.ox(&["net-undefine", NET]);
}
