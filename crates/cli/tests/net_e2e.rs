//! Two QEMU guests on a NAT virtual network, driven by the `oxvirt` binary in embedded mode inside
//! a network namespace the test creates and deletes: bridge, taps, dnsmasq, nftables tables and
//! QEMU all live in it, so nothing reaches the host's network. Needs root, `ip`, `nft`, `dnsmasq`,
//! QEMU and the test guest (scripts/guest-image.sh, docs/guest-image.md).
//!
//! Each guest has a fixed DHCP host entry, so its address is known: guest 1 pings guest 2 over
//! the bridge, guest 2 pings the gateway. Further tests add an "upstream" namespace (veth pair,
//! TCP server) for NAT, routed and isolated forwarding, and a bridge made by the test itself.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::guest_dir;

const CALL: Duration = Duration::from_secs(120);
const BOOT: Duration = Duration::from_secs(180);
const NET: &str = "oxnat";
const BRIDGE: &str = "virbr42";

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
    std::env::temp_dir().join(format!(
        "oxvirt-net-e2e-{}-{}-{what}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ))
}

/// The namespace and the embedded root; on drop (also when the test fails) guests are killed,
/// dnsmasq stopped and the namespace deleted, which removes the bridge and taps with it.
struct World {
    ns: String,
    root: PathBuf,
    uri: String,
    /// More namespaces the test made ("upstream", a stand-in guest), deleted on drop.
    extra_ns: std::cell::RefCell<Vec<String>>,
    /// Servers and dnsmasq instances the test itself started; killed on drop.
    children: std::cell::RefCell<Vec<std::process::Child>>,
}

/// Addresses of the veth pair between the test namespace and the upstream one.
const UP_NEAR: &str = "10.99.0.1";
const UP_FAR: &str = "10.99.0.2";

impl World {
    /// `tag` keeps the namespaces of tests running in parallel apart.
    fn new(tag: &str) -> World {
        let ns = format!("oxvirt-nete2e-{}-{tag}", std::process::id());
        let root = tempfile_path("root");
        std::fs::create_dir_all(&root).expect("root dir");
        // dnsmasq re-reads its files after dropping privileges.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).expect("chmod root");
        let (c, _, e) = run(Command::new("ip").args(["netns", "add", &ns]), CALL);
        assert_eq!(c, 0, "ip netns add: {e}");
        let w = World {
            uri: format!("qemu:///embed?root={}", root.display()),
            ns,
            root,
            extra_ns: Default::default(),
            children: Default::default(),
        };
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
        self.runtime_of(NET)
    }

    fn runtime_of(&self, net: &str) -> serde_json::Value {
        let text = std::fs::read(self.root.join(format!("run/network/{net}.json"))).expect("network runtime file");
        serde_json::from_slice(&text).expect("runtime json")
    }

    /// Makes the upstream namespace: `UP_NEAR` on our side of a veth pair, `UP_FAR` on its side,
    /// and no route from it back to any guest subnet. Returns its name.
    fn upstream(&self) -> String {
        let up = self.extra_ns("up");
        self.sh_in(&up, &["ip", "link", "set", "lo", "up"]);
        self.sh(&["ip", "link", "add", "vup0", "type", "veth", "peer", "name", "vup1", "netns", &up]);
        self.sh(&["ip", "addr", "add", &format!("{UP_NEAR}/24"), "dev", "vup0"]);
        self.sh(&["ip", "link", "set", "vup0", "up"]);
        self.sh_in(&up, &["ip", "addr", "add", &format!("{UP_FAR}/24"), "dev", "vup1"]);
        self.sh_in(&up, &["ip", "link", "set", "vup1", "up"]);
        up
    }

    /// Makes another namespace `NS-suffix` (deleted on drop) with loopback up.
    fn extra_ns(&self, suffix: &str) -> String {
        let ns = format!("{}-{suffix}", self.ns);
        let (c, _, e) = run(Command::new("ip").args(["netns", "add", &ns]), CALL);
        assert_eq!(c, 0, "ip netns add {ns}: {e}");
        self.extra_ns.borrow_mut().push(ns.clone());
        self.sh_in(&ns, &["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// A command in another namespace that must succeed; its stdout.
    fn sh_in(&self, ns: &str, args: &[&str]) -> String {
        let (c, o, e) = run(Command::new("ip").args(["netns", "exec", ns]).args(args), CALL);
        assert_eq!(c, 0, "{args:?} in {ns}: {o}{e}");
        o
    }

    /// Starts a long-running command in namespace `ns`, killed on drop at the latest.
    fn spawn_in(&self, ns: &str, args: &[&str]) -> usize {
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(self.root.join(format!("child{}.err", self.children.borrow().len())))
                    .expect("stderr file"),
            )
            .spawn()
            .expect("spawn");
        let mut children = self.children.borrow_mut();
        children.push(child);
        children.len() - 1
    }

    /// Kills (SIGKILL) and reaps a child from `spawn_in`.
    fn stop(&self, idx: usize) {
        let mut children = self.children.borrow_mut();
        let _ = children[idx].kill();
        let _ = children[idx].wait();
    }

    /// A TCP server on `UP_FAR:port` in the upstream namespace that appends one line per
    /// connection to the returned file: the peer's address and the line it sent. Waits until it listens.
    fn tcp_server(&self, up: &str, port: u16) -> (usize, PathBuf) {
        const SERVER: &str = "import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(8)
open(sys.argv[3] + '.ready', 'w').close()
while True:
    c, a = s.accept()
    c.settimeout(5)
    try:
        d = c.recv(200)
    except Exception:
        d = b''
    c.close()
    with open(sys.argv[3], 'a') as f:
        f.write(a[0] + ' ' + d.decode(errors='replace').strip() + '\\n')
";
        let file = self.root.join(format!("tcp-{port}.log"));
        let idx = self
            .spawn_in(up, &["/usr/bin/python3", "-c", SERVER, UP_FAR, &port.to_string(), &file.display().to_string()]);
        let ready = PathBuf::from(format!("{}.ready", file.display()));
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ready.exists() {
            assert!(Instant::now() < deadline, "TCP server in {up} not listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        (idx, file)
    }

    /// Nothing of oxvirt's networking is left in the namespace: no tap, no `bridge` (if given),
    /// no oxvirt nft table, no dnsmasq.
    fn assert_clean(&self, bridge: Option<&str>) {
        let links = self.links();
        assert!(!links.contains(": vnet"), "taps left:\n{links}");
        if let Some(b) = bridge {
            assert!(!links.contains(&format!(": {b}")), "bridge {b} left:\n{links}");
        }
        let tables = self.sh(&["nft", "list", "tables"]);
        assert!(!tables.contains("oxvirt"), "nft tables left:\n{tables}");
        // `ip netns pids` skips zombies (their namespaces are gone already).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, pids, _) = run(Command::new("ip").args(["netns", "pids", &self.ns]), CALL);
            let left: Vec<String> = pids
                .split_whitespace()
                .filter_map(|p| {
                    std::fs::read_to_string(format!("/proc/{p}/comm")).ok().map(|c| format!("{p} {}", c.trim()))
                })
                .filter(|c| c.ends_with(" dnsmasq") || c.contains("qemu"))
                .collect();
            if left.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "processes left in {}: {left:?}", self.ns);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn links(&self) -> String {
        self.sh(&["ip", "-o", "link", "show"])
    }

    /// Calls the API in-process, on a thread that entered the test's namespace.
    fn api<T: Send>(
        &self,
        f: impl FnOnce(&oxvirt_api::Connect) -> oxvirt_api::Result<T> + Send,
    ) -> oxvirt_api::Result<T> {
        oxvirt_cli::register_drivers();
        let path = format!("/run/netns/{}", self.ns);
        let uri = self.uri.clone();
        std::thread::scope(|s| {
            s.spawn(move || {
                let ns = std::fs::File::open(&path).expect("netns file");
                // affects only this thread
                nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
                    .unwrap_or_else(|e| panic!("setns {path}: {e}"));
                f(&oxvirt_api::Connect::open(Some(&uri))?)
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }
}

/// Names of the files in `dir` ending in `ext`, without it.
fn stems(dir: &Path, ext: &str) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    rd.filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(ext).map(str::to_string)).collect()
}

impl Drop for World {
    fn drop(&mut self) {
        for child in self.children.borrow_mut().iter_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let mut guests = stems(&self.root.join("run/qemu/status"), ".status");
        guests.extend(["g1".to_string(), "g2".to_string()]);
        for g in &guests {
            let _ = self.ox_raw(&["destroy", g]);
            // Should the CLI have failed, QEMU must not outlive the test.
            if let Ok(text) = std::fs::read(self.root.join(format!("run/qemu/status/{g}.status"))) {
                if let Some(pid) =
                    serde_json::from_slice::<serde_json::Value>(&text).ok().and_then(|v| v["pid"].as_i64())
                {
                    kill(pid);
                }
            }
        }
        let mut nets = stems(&self.root.join("run/network"), ".json");
        nets.push(NET.to_string());
        for n in &nets {
            let _ = self.ox_raw(&["net-destroy", n]);
            if let Ok(text) = std::fs::read(self.root.join(format!("run/network/{n}.json"))) {
                if let Some(pid) =
                    serde_json::from_slice::<serde_json::Value>(&text).ok().and_then(|v| v["dnsmasq_pid"].as_i64())
                {
                    kill(pid);
                }
            }
        }
        let _ = run(Command::new("ip").args(["netns", "del", &self.ns]), CALL);
        for ns in self.extra_ns.borrow_mut().drain(..) {
            let _ = run(Command::new("ip").args(["netns", "del", &ns]), CALL);
        }
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
    guest_xml_with(
        name,
        mac,
        &format!("oxvirt.ping={ping}"),
        &format!("type='network'>\n      <source network='{NET}'/"),
        log,
        guest,
    )
}

/// `checks`: the guest's net-mode kernel arguments; `nic`: the rest of the `<interface` start
/// tag and its `<source .../` element (without the final `>`).
fn guest_xml_with(name: &str, mac: &str, checks: &str, nic: &str, log: &Path, guest: &Path) -> String {
    format!(
        "<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 oxvirt.mode=net {checks}</cmdline>
  </os>
  <features><acpi/><apic/></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <serial type='file'><source path='{log}'/><target port='0'/></serial>
    <interface {nic}>
      <mac address='{mac}'/>
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
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root, ip, nft, dnsmasq, QEMU and the test guest (make test)")]
fn two_guests_on_a_nat_network() {
    let guest = guest_dir();
    let w = World::new("nat");
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
        assert!(
            leases.lines().any(|l| l.contains(mac) && l.contains(&format!("{ip}/24"))),
            "lease of {mac}:\n{leases}"
        );
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
    assert_eq!(
        w.links().lines().filter(|l| l.contains(": vnet") && l.contains(&format!("master {BRIDGE}"))).count(),
        3
    );
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

/// A network `name` on `bridge` with subnet `NET3.0/24`, gateway `.1`, fixed DHCP hosts;
/// `forward` is the whole `<forward>` element, or empty for an isolated network.
fn net_xml(name: &str, bridge: &str, forward: &str, net3: &str, hosts: &[(&str, &str)]) -> String {
    let hosts: String = hosts.iter().map(|(mac, ip)| format!("\n    <host mac='{mac}' ip='{ip}'/>")).collect();
    format!(
        "<network><name>{name}</name>{forward}<bridge name='{bridge}'/>
  <ip address='{net3}.1' netmask='255.255.255.0'><dhcp>
    <range start='{net3}.100' end='{net3}.200'/>{hosts}
  </dhcp></ip></network>"
    )
}

fn network_nic(net: &str) -> String {
    format!("type='network'>\n      <source network='{net}'/")
}

/// Whether `ip` answers 2 pings from namespace `ns` (busybox ping, 3 s each).
fn pings(ns: &str, ip: &str) -> bool {
    let (c, _, _) =
        run(Command::new("ip").args(["netns", "exec", ns, "busybox", "ping", "-c", "2", "-W", "3", ip]), CALL);
    c == 0
}

/// Lines the upstream TCP server logged (one per connection).
fn server_lines(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file).unwrap_or_default().lines().map(str::to_string).collect()
}

/// Waits (briefly) for the server to log a connection the guest reported as made.
fn wait_server_line(file: &Path) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let lines = server_lines(file);
        if !lines.is_empty() || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Stops a guest and its network; then nothing of either is left in the namespace.
fn teardown(w: &World, guests: &[&str], net: &str, bridge: &str) {
    for g in guests {
        w.ox(&["destroy", g]);
    }
    assert_eq!(w.runtime_of(net)["connections"], 0, "connections given back");
    w.ox(&["net-destroy", net]);
    w.assert_clean(Some(bridge));
    for g in guests {
        w.ox(&["undefine", g]);
    }
    w.ox(&["net-undefine", net]);
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root, ip, nft, dnsmasq, QEMU and the test guest (make test)")]
fn nat_guest_reaches_an_upstream_server_through_masquerade() {
    let guest = guest_dir();
    let w = World::new("masq");
    let up = w.upstream();
    let port = 7101;
    let (server, log) = w.tcp_server(&up, port);
    let (net, bridge) = ("oxnat1", "virbr43");
    let (mac, ip) = ("52:54:00:0e:2e:11", "192.168.143.11");
    let xml = w.file("net.xml", &net_xml(net, bridge, "<forward mode='nat'/>", "192.168.143", &[(mac, ip)]));
    w.ox(&["net-define", &xml]);
    w.ox(&["net-start", net]);

    let serial = w.root.join("g1.serial");
    let checks = format!("oxvirt.tcp={UP_FAR}:{port}");
    w.ox(&["define", &w.file("g1.xml", &guest_xml_with("g1", mac, &checks, &network_nic(net), &serial, &guest))]);
    w.ox(&["start", "g1"]);
    let text = wait_for(&serial, "OXVIRT-NET-DONE");
    assert!(text.contains(&format!("OXVIRT-NET ip={ip}")), "guest's lease:\n{text}");
    assert!(text.contains(&format!("OXVIRT-TCP ok {UP_FAR}:{port}")), "guest reaches the upstream server:\n{text}");
    // Masquerade: the server saw our end of the veth pair, not the guest.
    let lines = wait_server_line(&log);
    assert_eq!(lines, vec![format!("{UP_NEAR} OXVIRT-TCP-HELLO")], "server's view of the connection");
    w.stop(server);
    teardown(&w, &["g1"], net, bridge);
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root, ip, nft, dnsmasq, QEMU and the test guest (make test)")]
fn isolated_guest_cannot_reach_upstream_but_reaches_its_neighbour() {
    let guest = guest_dir();
    let w = World::new("iso");
    let up = w.upstream();
    let port = 7102;
    let (server, log) = w.tcp_server(&up, port);
    let (net, bridge) = ("oxiso", "virbr44");
    let (mac1, ip1) = ("52:54:00:0e:2e:21", "192.168.144.11");
    let (mac2, ip2) = ("52:54:00:0e:2e:22", "192.168.144.12");
    let xml = w.file("net.xml", &net_xml(net, bridge, "", "192.168.144", &[(mac1, ip1), (mac2, ip2)]));
    w.ox(&["net-define", &xml]);
    w.ox(&["net-start", net]);

    let (s1, s2) = (w.root.join("g1.serial"), w.root.join("g2.serial"));
    let checks1 = format!("oxvirt.ping={ip2} oxvirt.tcp={UP_FAR}:{port}");
    w.ox(&["define", &w.file("g2.xml", &guest_xml_with("g2", mac2, "", &network_nic(net), &s2, &guest))]);
    w.ox(&["define", &w.file("g1.xml", &guest_xml_with("g1", mac1, &checks1, &network_nic(net), &s1, &guest))]);
    w.ox(&["start", "g2"]);
    w.ox(&["start", "g1"]);
    let t2 = wait_for(&s2, "OXVIRT-NET-DONE");
    assert!(t2.contains(&format!("OXVIRT-NET ip={ip2}")), "guest 2's lease:\n{t2}");
    let t1 = wait_for(&s1, "OXVIRT-NET-DONE");
    assert!(t1.contains(&format!("OXVIRT-NET ip={ip1}")), "guest 1's lease:\n{t1}");
    assert!(t1.contains(&format!("OXVIRT-PING ok {ip2}")), "guest 1 pings guest 2 on the isolated network:\n{t1}");
    assert!(t1.contains(&format!("OXVIRT-TCP fail {UP_FAR}:{port}")), "isolated guest reached upstream:\n{t1}");
    assert!(server_lines(&log).is_empty(), "server got a connection: {:?}", server_lines(&log));
    assert!(pings(&w.ns, ip1), "host pings the isolated guest");
    // The guest has no default route (dnsmasq gives none on isolated networks), so its failure
    // alone does not prove the firewall. A stand-in guest (a namespace on a veth port of the
    // bridge) with a default route, forwarding on and a route back upstream: only the oxvirt
    // rules stand in the way, and they must stop it.
    let lan = w.extra_ns("lan");
    w.sh(&[
        "ip", "link", "add", "vlan0", "master", bridge, "up", "type", "veth", "peer", "name", "vlan1", "netns", &lan,
    ]);
    w.sh_in(&lan, &["ip", "addr", "add", "192.168.144.50/24", "dev", "vlan1"]);
    w.sh_in(&lan, &["ip", "link", "set", "vlan1", "up"]);
    w.sh_in(&lan, &["ip", "route", "add", "default", "via", "192.168.144.1"]);
    w.sh(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    w.sh_in(&up, &["ip", "route", "add", "192.168.144.0/24", "via", UP_NEAR]);
    // With STP on, a new bridge port listens and learns for a while before it forwards.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !w.sh(&["bridge", "link", "show", "dev", "vlan0"]).contains("state forwarding") {
        assert!(
            Instant::now() < deadline,
            "vlan0 never forwarding: {}",
            w.sh(&["bridge", "link", "show", "dev", "vlan0"])
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(pings(&lan, ip2), "stand-in guest reaches guest 2 over the bridge");
    let (c, o, e) = run(
        Command::new("ip").args(["netns", "exec", &lan, "busybox", "nc", "-w", "3", UP_FAR, &port.to_string()]),
        CALL,
    );
    assert_ne!(c, 0, "stand-in guest connected upstream from the isolated network: {o}{e}");
    assert!(server_lines(&log).is_empty(), "server got a connection: {:?}", server_lines(&log));
    // The same path is open once oxvirt's rules are gone (net-destroy below removes them anyway).
    w.sh(&["nft", "delete", "table", "ip", "oxvirt"]);
    let (c, o, e) = run(
        Command::new("ip").args(["netns", "exec", &lan, "busybox", "nc", "-w", "3", UP_FAR, &port.to_string()]),
        CALL,
    );
    assert_eq!(c, 0, "without oxvirt's rules the path is open: {o}{e}");
    w.sh(&["ip", "link", "del", "vlan0"]);
    w.stop(server);
    teardown(&w, &["g1", "g2"], net, bridge);
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root, ip, nft, dnsmasq, QEMU and the test guest (make test)")]
fn routed_guest_reaches_upstream_with_its_own_address() {
    let guest = guest_dir();
    let w = World::new("route");
    let up = w.upstream();
    let port = 7103;
    let (server, log) = w.tcp_server(&up, port);
    let (net, bridge) = ("oxroute", "virbr45");
    let (mac, ip) = ("52:54:00:0e:2e:31", "192.168.145.11");
    let xml = w.file("net.xml", &net_xml(net, bridge, "<forward mode='route'/>", "192.168.145", &[(mac, ip)]));
    w.ox(&["net-define", &xml]);
    w.ox(&["net-start", net]);
    // The way back to the guest subnet, as a routed network's upstream router would have it.
    w.sh_in(&up, &["ip", "route", "add", "192.168.145.0/24", "via", UP_NEAR]);

    let serial = w.root.join("g1.serial");
    let checks = format!("oxvirt.tcp={UP_FAR}:{port}");
    w.ox(&["define", &w.file("g1.xml", &guest_xml_with("g1", mac, &checks, &network_nic(net), &serial, &guest))]);
    w.ox(&["start", "g1"]);
    let text = wait_for(&serial, "OXVIRT-NET-DONE");
    assert!(text.contains(&format!("OXVIRT-NET ip={ip}")), "guest's lease:\n{text}");
    assert!(text.contains(&format!("OXVIRT-TCP ok {UP_FAR}:{port}")), "routed guest reaches upstream:\n{text}");
    let lines = wait_server_line(&log);
    assert_eq!(lines, vec![format!("{ip} OXVIRT-TCP-HELLO")], "server sees the guest's own address (no NAT)");
    assert!(pings(&up, ip), "route mode forwards both ways: upstream pings the guest");
    w.stop(server);
    teardown(&w, &["g1"], net, bridge);
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root, ip, nft, dnsmasq, QEMU and the test guest (make test)")]
fn guest_on_a_bridge_the_test_made() {
    let guest = guest_dir();
    let w = World::new("br");
    let (bridge, gw) = ("br-test", "10.77.0.1");
    let (mac, ip) = ("52:54:00:0e:2e:41", "10.77.0.5");
    w.sh(&["ip", "link", "add", bridge, "type", "bridge"]);
    w.sh(&["ip", "addr", "add", &format!("{gw}/24"), "dev", bridge]);
    w.sh(&["ip", "link", "set", bridge, "up"]);
    // The guest's net mode asks DHCP; a dnsmasq of our own hands out the fixed address.
    let leases = w.root.join("br-test.leases").display().to_string();
    let dhcp = w.spawn_in(
        &w.ns,
        &[
            "dnsmasq",
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--user=root",
            "--port=0",
            "--bind-interfaces",
            "--interface=br-test",
            "--except-interface=lo",
            "--dhcp-range=10.77.0.100,10.77.0.200,255.255.255.0",
            &format!("--dhcp-host={mac},{ip}"),
            &format!("--dhcp-leasefile={leases}"),
            "--pid-file=",
        ],
    );

    let serial = w.root.join("g1.serial");
    let nic = format!("type='bridge'>\n      <source bridge='{bridge}'/");
    w.ox(&[
        "define",
        &w.file("g1.xml", &guest_xml_with("g1", mac, &format!("oxvirt.ping={gw}"), &nic, &serial, &guest)),
    ]);
    w.ox(&["start", "g1"]);
    let live = w.ox(&["dumpxml", "g1"]);
    assert!(live.contains("<target dev='vnet"), "tap name in the live XML:\n{live}");
    let ports = w.sh(&["ip", "-o", "link", "show", "master", bridge]);
    assert!(ports.contains(": vnet"), "tap on {bridge}:\n{ports}");
    let text = wait_for(&serial, "OXVIRT-NET-DONE");
    assert!(text.contains(&format!("OXVIRT-NET ip={ip}")), "guest's static lease:\n{text}");
    assert!(text.contains(&format!("OXVIRT-PING ok {gw}")), "guest pings the bridge address:\n{text}");

    w.ox(&["destroy", "g1"]);
    let ports = w.sh(&["ip", "-o", "link", "show", "master", bridge]);
    assert!(ports.trim().is_empty(), "ports left on {bridge}:\n{ports}");
    w.stop(dhcp);
    // The bridge is ours and stays; nothing of oxvirt's is left.
    w.assert_clean(None);
    assert!(w.links().contains(&format!(": {bridge}")), "the test's bridge vanished");
    w.ox(&["undefine", "g1"]);
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root, ip, nft, dnsmasq, QEMU and the test guest (make test)")]
fn bandwidth_limits_on_a_running_guests_tap_and_the_network_bridge() {
    let guest = guest_dir();
    let w = World::new("bw");
    let (net, bridge) = ("oxbw", "virbr46");
    let (mac, ip) = ("52:54:00:0e:2e:51", "192.168.146.11");
    let net_bw = "<bandwidth><inbound average='2000' peak='4000'/></bandwidth>";
    let xml = w.file("net.xml", &net_xml(net, bridge, net_bw, "192.168.146", &[(mac, ip)]));
    w.ox(&["net-define", &xml]);
    w.ox(&["net-start", net]);
    let classes = w.sh(&["tc", "class", "show", "dev", bridge]);
    assert!(classes.contains("class htb 1:1 root rate 16Mbit ceil 32Mbit"), "network limit on {bridge}:\n{classes}");
    assert!(classes.contains("class htb 1:2 parent 1:1"), "network limit on {bridge}:\n{classes}");

    let serial = w.root.join("g1.serial");
    // 500 KiB/s to the guest = 4 Mbit in tc's notation.
    let nic = format!("{}><bandwidth><inbound average='500' peak='1000' burst='64'/></bandwidth", network_nic(net));
    w.ox(&[
        "define",
        &w.file("g1.xml", &guest_xml_with("g1", mac, "oxvirt.ping=192.168.146.1", &nic, &serial, &guest)),
    ]);
    w.ox(&["start", "g1"]);
    let live = w.ox(&["dumpxml", "g1"]);
    let tap = live
        .split("<target dev='")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .unwrap_or_else(|| panic!("no tap name in the live XML:\n{live}"))
        .to_string();
    let qdiscs = w.sh(&["tc", "qdisc", "show", "dev", &tap]);
    assert!(qdiscs.contains("qdisc htb 1: root") && qdiscs.contains("default 0x1"), "{tap}:\n{qdiscs}");
    let classes = w.sh(&["tc", "class", "show", "dev", &tap]);
    assert!(
        classes.contains("class htb 1:1 root") && classes.contains("rate 4Mbit ceil 8Mbit burst 64Kb"),
        "{tap}:\n{classes}"
    );
    // Traffic still flows through the shaped tap: DHCP and a ping to the gateway.
    let text = wait_for(&serial, "OXVIRT-NET-DONE");
    assert!(text.contains(&format!("OXVIRT-NET ip={ip}")), "guest's lease:\n{text}");
    assert!(text.contains("OXVIRT-PING ok 192.168.146.1"), "guest pings the gateway:\n{text}");
    let stats = w.sh(&["tc", "-s", "class", "show", "dev", &tap]);
    println!("{tap} while the guest runs:\n{qdiscs}{stats}");
    assert!(!stats.contains("Sent 0 bytes"), "the guest's traffic went through class 1:1:\n{stats}");

    // A hot-plugged NIC gets its limit too (virsh's --inbound average[,peak[,burst]]).
    let mac2 = "52:54:00:0e:2e:52";
    w.ox(&[
        "attach-interface",
        "g1",
        "network",
        net,
        "--mac",
        mac2,
        "--model",
        "virtio",
        "--inbound",
        "300,600",
        "--live",
    ]);
    let live = w.ox(&["dumpxml", "g1"]);
    let tap2 = live
        .split("<target dev='")
        .skip(1)
        .filter_map(|s| s.split('\'').next())
        .find(|t| *t != tap)
        .unwrap_or_else(|| panic!("no second tap in the live XML:\n{live}"))
        .to_string();
    let classes = w.sh(&["tc", "class", "show", "dev", &tap2]);
    assert!(classes.contains("rate 2400Kbit ceil 4800Kbit"), "hot-plugged {tap2}:\n{classes}");
    w.ox(&["detach-interface", "g1", "network", "--mac", mac2, "--live"]);
    teardown(&w, &["g1"], net, bridge);
}

/// A TCP sink on `UP_FAR:port` in namespace `up`: per connection it reads `total` bytes and appends
/// to the returned file the rate (bytes/s) at which the bytes after the first `skip` arrived (a
/// policer's full bucket passes at once), then closes. Waits until it listens.
fn rate_sink(w: &World, up: &str, port: u16, total: usize, skip: usize) -> PathBuf {
    const SINK: &str = "import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(4)
total, skip = int(sys.argv[4]), int(sys.argv[5])
open(sys.argv[3] + '.ready', 'w').close()
while True:
    c, a = s.accept()
    c.settimeout(60)
    got, t0, base, first = 0, None, 0, None
    try:
        while got < total:
            d = c.recv(65536)
            if not d:
                break
            if first is None:
                first = time.monotonic()
            got += len(d)
            if t0 is None and got >= skip:
                t0, base = time.monotonic(), got
    except Exception:
        pass
    c.close()
    end = time.monotonic()
    rate = (got - base) / max(end - t0, 1e-6) if t0 is not None and got >= total else -1
    span = end - first if first is not None else 0
    with open(sys.argv[3], 'a') as f:
        f.write('%d %d %.3f\\n' % (got, rate, span))
";
    let file = w.root.join(format!("sink-{port}.log"));
    w.spawn_in(
        up,
        &[
            "/usr/bin/python3",
            "-c",
            SINK,
            UP_FAR,
            &port.to_string(),
            &file.display().to_string(),
            &total.to_string(),
            &skip.to_string(),
        ],
    );
    let ready = PathBuf::from(format!("{}.ready", file.display()));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "TCP sink in {up} not listening");
        std::thread::sleep(Duration::from_millis(50));
    }
    file
}

/// A guest whose serial port is a unix socket (for typing shell commands) logged to `log`.
fn guest_xml_console(name: &str, mac: &str, nic: &str, sock: &Path, log: &Path, guest: &Path) -> String {
    guest_xml_with(name, mac, "", nic, log, guest).replace(
        &format!("<serial type='file'><source path='{}'/><target port='0'/></serial>", log.display()),
        &format!(
            "<serial type='unix'><source mode='bind' path='{}'/><log file='{}'/><target port='0'/></serial>",
            sock.display(),
            log.display()
        ),
    )
}

/// The guest's shell on its serial socket.
struct GuestShell {
    sock: std::os::unix::net::UnixStream,
    log: PathBuf,
    n: u32,
}

impl GuestShell {
    fn connect(sock: &Path, log: &Path) -> GuestShell {
        let s = std::os::unix::net::UnixStream::connect(sock).expect("connect to the guest's serial socket");
        GuestShell { sock: s, log: log.to_path_buf(), n: 0 }
    }

    /// Runs `cmd` in the guest and waits (up to `timeout`) until it has finished.
    fn run(&mut self, cmd: &str, timeout: Duration) {
        use std::io::Write;
        self.n += 1;
        let marker = format!("OX-DONE-{}", self.n);
        let (a, b) = marker.split_at(3);
        self.sock.write_all(format!("{cmd}; echo \"{a}\"\"{b}\"\n").as_bytes()).expect("write to the guest's serial");
        let deadline = Instant::now() + timeout;
        while !std::fs::read_to_string(&self.log).unwrap_or_default().contains(&marker) {
            assert!(Instant::now() < deadline, "guest command {cmd:?} did not finish in {timeout:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Lines of a [`rate_sink`] log: (bytes received, bytes/s).
fn sink_rates(file: &Path) -> Vec<(u64, i64)> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
        })
        .collect()
}

/// Seconds from the first byte to the last of the sink's `n`th transfer (after `sink_rate(n)`).
fn sink_span(file: &Path, n: usize) -> f64 {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2)?.parse().ok())
        .nth(n - 1)
        .unwrap_or(0.0)
}

/// A token-bucket policer of `rate` bytes/s whose bucket holds a second's worth plus `burst`
/// bytes (bandwidth.rs: nft's bucket; tc's is smaller) passes at most bucket + rate × time: the
/// bound that holds whatever the guest's own speed (a CPU-starved TCG guest may send below the
/// limit for a while, leaving the bucket full, so a rate over a window can exceed the limit).
fn assert_policed(got: usize, span: f64, rate: f64, burst: f64, what: &str) {
    let bound = rate + burst + rate * 1.1 * span + 65_536.0;
    assert!((got as f64) <= bound, "{what}: {got} B in {span:.2} s passed a {rate} B/s policer (at most {bound:.0} B)");
}

/// The `n`th (from 1) measurement of the sink, waiting for it.
fn sink_rate(file: &Path, n: usize) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = sink_rates(file);
        if r.len() >= n {
            return r[n - 1].1;
        }
        assert!(Instant::now() < deadline, "no measurement {n} from the sink: {r:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The taps of the guest's interfaces (`<target dev>` in the live XML), in order.
fn taps_of(w: &World, dom: &str) -> Vec<String> {
    let live = w.ox(&["dumpxml", dom]);
    live.split("<target dev='").skip(1).filter_map(|s| s.split('\'').next()).map(str::to_string).collect()
}

/// `domiftune DOM DEV` as (name, value) lines.
fn iftune(w: &World, dom: &str, dev: &str) -> Vec<(String, u64)> {
    w.ox(&["domiftune", dom, dev])
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root, ip, nft, dnsmasq, QEMU and the test guest (make test)")]
fn outbound_limit_measured_from_a_real_guest() {
    let guest = guest_dir();
    let w = World::new("bwout");
    let up = w.upstream();
    let port = 7104;
    // 5 MB per run, timed after the first 2.2 MB: the policer's bucket (one second's worth, 1 MB
    // at 1 MB/s) plus what the guest's socket and the tap queue hold before the limit bites (a
    // 1.2 MB skip measured 1.43 MB/s at 1000 kB/s once).
    let (total, skip) = (5_000_000usize, 2_200_000usize);
    let sink = rate_sink(&w, &up, port, total, skip);
    let (net, bridge) = ("oxbwo", "virbr47");
    let (mac, ip) = ("52:54:00:0e:2e:61", "192.168.147.11");
    // Port groups: 'eng' (the default) and 'sales' give guests inbound limits.
    let forward = "<forward mode='nat'/>\
        <portgroup name='eng' default='yes'><bandwidth><inbound average='700'/></bandwidth></portgroup>\
        <portgroup name='sales'><bandwidth><inbound average='300' peak='600'/></bandwidth></portgroup>";
    w.ox(&["net-define", &w.file("net.xml", &net_xml(net, bridge, forward, "192.168.147", &[(mac, ip)]))]);
    w.ox(&["net-start", net]);

    let (sock, log) = (w.root.join("g1.sock"), w.root.join("g1.serial"));
    // eth0 with its own (outbound) limit, so no port group's; a second NIC in port group 'sales'.
    let nic = format!("{}><bandwidth><outbound average='500'/></bandwidth", network_nic(net));
    let xml = guest_xml_console("g1", mac, &nic, &sock, &log, &guest).replace(
        "</devices>",
        &format!(
            "<interface type='network'><source network='{net}' portgroup='sales'/><mac address='52:54:00:0e:2e:62'/>\
             <model type='virtio'/></interface>\n  </devices>"
        ),
    );
    w.ox(&["define", &w.file("g1.xml", &xml)]);
    w.ox(&["start", "g1"]);
    let taps = taps_of(&w, "g1");
    assert_eq!(taps.len(), 2, "two taps: {taps:?}");
    let (tap, tap2) = (taps[0].clone(), taps[1].clone());
    let text = wait_for(&log, "OXVIRT-NET-DONE");
    assert!(text.contains(&format!("OXVIRT-NET ip={ip}")), "guest's lease:\n{text}");
    wait_for(&log, "oxvirt# ");
    // eth0: its own outbound limit, no port group inbound. This kernel has no act_police: the limit
    // is an nftables table of ours on the tap's ingress.
    let ingress = w.sh(&["tc", "filter", "show", "dev", &tap, "ingress"]);
    let tables = w.sh(&["nft", "list", "ruleset"]);
    println!("{tap} ingress filters:\n{ingress}\nnft:\n{tables}");
    assert!(
        ingress.contains("police") || tables.contains(&format!("hook ingress device \"{tap}\"")),
        "no outbound limit on {tap}:\n{ingress}\n{tables}"
    );
    assert!(!w.sh(&["tc", "class", "show", "dev", &tap]).contains("htb"), "{tap} got a port group's limit");
    // The second NIC: port group 'sales' (300/600 KiB/s = 2400/4800 Kbit).
    let classes = w.sh(&["tc", "class", "show", "dev", &tap2]);
    assert!(classes.contains("rate 2400Kbit ceil 4800Kbit"), "port group 'sales' on {tap2}:\n{classes}");
    // domiftune reads the interface's own bandwidth (a port group's is not its own), as libvirt.
    let t = iftune(&w, "g1", &tap);
    assert_eq!(t[4], ("outbound.average".to_string(), 500), "{t:?}");
    assert!(iftune(&w, "g1", "52:54:00:0e:2e:62").iter().all(|(_, v)| *v == 0));

    let mut sh = GuestShell::connect(&sock, &log);
    let send =
        format!("dd if=/dev/zero bs=1000 count={} 2>/dev/null | nc {UP_FAR} {port} >/dev/null 2>&1", total / 1000);
    sh.run(&send, Duration::from_secs(90));
    let limited = sink_rate(&sink, 1);
    println!("guest -> upstream with <outbound average='500'/>: {:.0} kB/s", limited as f64 / 1e3);
    assert!(limited > 250_000, "outbound at 500 kB/s measured {limited} B/s");
    assert_policed(total, sink_span(&sink, 1), 500_000.0, 12_000.0, "outbound at 500 kB/s");

    // domiftune --live: the running tap's limit changes, and the live XML with it.
    w.ox(&["domiftune", "g1", &tap, "--outbound", "1000", "--live"]);
    let t = iftune(&w, "g1", &tap);
    assert_eq!(t[4], ("outbound.average".to_string(), 1000), "{t:?}");
    let tables = w.sh(&["nft", "list", "ruleset"]);
    let ingress = w.sh(&["tc", "filter", "show", "dev", &tap, "ingress"]);
    assert!(
        tables.contains("limit rate over 1000000 bytes/second") || ingress.contains("rate 8Mbit"),
        "new limit on {tap}:\n{ingress}\n{tables}"
    );
    assert!(w.ox(&["dumpxml", "g1"]).contains("<outbound average='1000'/>"));
    assert!(
        w.ox(&["dumpxml", "g1", "--inactive"]).contains("<outbound average='500'/>"),
        "--live left the config alone"
    );
    sh.run(&send, Duration::from_secs(90));
    let faster = sink_rate(&sink, 2);
    println!("guest -> upstream after domiftune --outbound 1000: {:.0} kB/s", faster as f64 / 1e3);
    assert!(faster > 500_000, "outbound at 1000 kB/s measured {faster} B/s");
    assert_policed(total, sink_span(&sink, 2), 1_000_000.0, 24_000.0, "outbound at 1000 kB/s");
    // --config changes the next boot's definition only (named by MAC: it has no vnetN).
    w.ox(&["domiftune", "g1", mac, "--outbound", "300,,40", "--config"]);
    assert!(w.ox(&["dumpxml", "g1", "--inactive"]).contains("<outbound average='300' burst='40'/>"));
    assert_eq!(iftune(&w, "g1", &tap)[4].1, 1000, "--config changed the running guest");
    // Inbound by MAC, and a 0 average removes the outbound limit.
    w.ox(&["domiftune", "g1", mac, "--inbound", "200", "--outbound", "0"]);
    let classes = w.sh(&["tc", "class", "show", "dev", &tap]);
    assert!(classes.contains("rate 1600Kbit"), "inbound set by domiftune on {tap}:\n{classes}");
    let tables = w.sh(&["nft", "list", "tables"]);
    assert!(!tables.contains(&format!("oxvirt_bw_{tap}")), "outbound limit left after --outbound 0:\n{tables}");

    // A hot-plugged NIC naming no port group gets the default one's limit (700 KiB/s = 5600 Kbit).
    w.ox(&["attach-interface", "g1", "network", net, "--mac", "52:54:00:0e:2e:63", "--model", "virtio", "--live"]);
    let tap3 = taps_of(&w, "g1").into_iter().find(|t| *t != tap && *t != tap2).expect("third tap");
    let classes = w.sh(&["tc", "class", "show", "dev", &tap3]);
    assert!(classes.contains("rate 5600Kbit"), "default port group on hot-plugged {tap3}:\n{classes}");

    w.ox(&["destroy", "g1"]);
    let tables = w.sh(&["nft", "list", "tables"]);
    assert!(!tables.contains("oxvirt_bw"), "an nft table outlived the guest:\n{tables}");
    teardown(&w, &[], net, bridge);
    w.ox(&["undefine", "g1"]);
}

/// A serial console on a unix socket: reads the guest's output and types into its shell.
struct Console {
    sock: std::os::unix::net::UnixStream,
    seen: String,
}

impl Console {
    fn connect(path: &Path) -> Console {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(sock) => {
                    sock.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
                    return Console { sock, seen: String::new() };
                }
                Err(e) => assert!(Instant::now() < deadline, "console {}: {e}", path.display()),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Reads until `marker` appears after what was consumed before; returns the text up to it.
    fn until(&mut self, marker: &str) -> String {
        use std::io::Read;
        let deadline = Instant::now() + BOOT;
        loop {
            if let Some(i) = self.seen.find(marker) {
                let out = self.seen[..i + marker.len()].to_string();
                self.seen.drain(..i + marker.len());
                return out.replace('\r', "");
            }
            assert!(Instant::now() < deadline, "no {marker} on the console after {BOOT:?}:\n{}", self.seen);
            let mut buf = [0u8; 4096];
            match self.sock.read(&mut buf) {
                Ok(0) => panic!("console closed before {marker}:\n{}", self.seen),
                Ok(n) => self.seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => panic!("console: {e}"),
            }
        }
    }

    /// Runs a shell command in the guest; its output up to the next prompt.
    fn cmd(&mut self, line: &str) -> String {
        use std::io::Write;
        self.sock.write_all(format!("{line}\n").as_bytes()).expect("console write");
        self.until("oxvirt# ").trim_end_matches("oxvirt# ").to_string()
    }
}

/// A 2-vCPU guest whose NIC (`nic`: type and source, as for `guest_xml_with`; `extra`: more
/// elements inside `<interface>`) is on a console socket at `sock`.
fn mq_guest_xml(name: &str, mac: &str, nic: &str, extra: &str, sock: &Path, guest: &Path) -> String {
    format!(
        "<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 oxvirt.mode=net oxvirt.ping=192.168.147.1</cmdline>
  </os>
  <features><acpi/><apic/></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <serial type='unix'><source mode='bind' path='{sock}'/><target port='0'/></serial>
    <interface {nic}>
      <mac address='{mac}'/>
      <model type='virtio'/>{extra}
    </interface>
  </devices>
</domain>",
        kernel = guest.join("vmlinuz").display(),
        initrd = guest.join("initrd-shell.img").display(),
        sock = sock.display(),
    )
}

/// A guest NIC with `<driver queues='2'/>` and a tap name of the user's: the tap is `mytap0` with
/// two queues (IFF_MULTI_QUEUE) on the bridge, QEMU gets `fds=` and `mq=on`, and the guest sees two
/// queue pairs and gets its lease through them. A second guest wanting the same tap name, or
/// vhost-net (absent here), is refused by name and leaves nothing. `type='ethernet'`: an
/// unmanaged tap made beforehand is used as is and outlives the guest; a managed one is generated
/// and goes with QEMU.
#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root, ip, nft, dnsmasq, QEMU and the test guest (make test)")]
fn multiqueue_named_taps_vhost_refusal_and_ethernet() {
    let guest = guest_dir();
    let w = World::new("mq");
    let (net, bridge) = ("oxnetmq", "virbr47");
    let (mac, ip) = ("52:54:00:0e:47:01", "192.168.147.11");
    w.ox(&[
        "net-define",
        &w.file("net.xml", &net_xml(net, bridge, "<forward mode='nat'/>", "192.168.147", &[(mac, ip)])),
    ]);
    w.ox(&["net-start", net]);

    let sock = w.root.join("mq.console");
    let xml = mq_guest_xml(
        "mq",
        mac,
        &network_nic(net),
        "\n      <target dev='mytap0'/>\n      <driver queues='2'/>",
        &sock,
        &guest,
    );
    w.ox(&["define", &w.file("mq.xml", &xml)]);
    assert!(w.ox(&["dumpxml", "mq", "--inactive"]).contains("<target dev='mytap0'/>"), "the user's tap name is kept");
    w.ox(&["start", "mq"]);
    let mut con = Console::connect(&sock);
    let live = w.ox(&["dumpxml", "mq"]);
    assert!(live.contains("<target dev='mytap0'/>") && live.contains("queues='2'"), "{live}");
    let links = w.links();
    assert!(links.lines().any(|l| l.contains(": mytap0:") && l.contains(&format!("master {bridge}"))), "{links}");
    let flags = w.sh(&["cat", "/sys/class/net/mytap0/tun_flags"]);
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).expect("tun_flags");
    assert!(flags & 0x100 != 0, "IFF_MULTI_QUEUE on mytap0: {flags:#x}");
    let status: serde_json::Value =
        serde_json::from_slice(&std::fs::read(w.root.join("run/qemu/status/mq.status")).expect("status"))
            .expect("json");
    let cmdline =
        std::fs::read_to_string(format!("/proc/{}/cmdline", status["pid"])).expect("QEMU's cmdline").replace('\0', " ");
    assert!(
        cmdline.contains("\"fds\":") && cmdline.contains("\"mq\":true") && cmdline.contains("\"vectors\":6"),
        "{cmdline}"
    );

    let boot = con.until("OXVIRT-NET-DONE");
    assert!(boot.contains(&format!("OXVIRT-NET ip={ip}")), "lease over the multiqueue NIC:\n{boot}");
    assert!(boot.contains("OXVIRT-PING ok 192.168.147.1"), "gateway answers:\n{boot}");
    con.until("oxvirt# ");
    let queues = con.cmd("ls /sys/class/net/eth0/queues");
    let mut q: Vec<&str> = queues.split_whitespace().filter(|s| s.starts_with("rx-") || s.starts_with("tx-")).collect();
    q.sort();
    assert_eq!(q, ["rx-0", "rx-1", "tx-0", "tx-1"], "the guest sees two queue pairs:\n{queues}");

    // Hot-plug: a second multiqueue NIC, each of its fds passed with getfd; the guest sees its queues.
    // (The CLI has no attach-device: the API runs in-process on a thread inside the namespace.)
    let hot = format!("<interface type='network'><source network='{net}'/><mac address='52:54:00:0e:47:09'/><model type='virtio'/><driver queues='2'/></interface>");
    w.api(|c| c.lookup_domain_by_name("mq")?.attach_device(&hot, oxvirt_api::DomainDeviceModifyFlags::LIVE))
        .expect("attach-device --live");
    let hot_tap = w
        .ox(&["domiflist", "mq"])
        .lines()
        .find(|l| l.contains("52:54:00:0e:47:09"))
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .expect("hot-plugged NIC in domiflist");
    let flags = w.sh(&["cat", &format!("/sys/class/net/{hot_tap}/tun_flags")]);
    assert!(
        u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).expect("tun_flags") & 0x100 != 0,
        "{hot_tap}: {flags}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let hot_queues = loop {
        let out = con.cmd("ls /sys/class/net/eth1/queues 2>&1");
        if out.contains("rx-1") || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        hot_queues.contains("rx-0") && hot_queues.contains("rx-1") && hot_queues.contains("tx-1"),
        "hot-plugged NIC's queues:\n{hot_queues}"
    );
    w.api(|c| c.lookup_domain_by_name("mq")?.detach_device(&hot, oxvirt_api::DomainDeviceModifyFlags::LIVE))
        .expect("detach-device --live");
    assert!(!w.links().contains(&format!(": {hot_tap}:")), "hot-plugged tap gone after detach");

    // The same name again: refused, naming the device; nothing counted or left.
    let xml2 = mq_guest_xml(
        "mq2",
        "52:54:00:0e:47:02",
        &network_nic(net),
        "\n      <target dev='mytap0'/>",
        &w.root.join("mq2.console"),
        &guest,
    );
    let (c, o, e) = w.ox_raw(&["create", &w.file("mq2.xml", &xml2)]);
    assert_ne!(c, 0, "second mytap0 refused:\n{o}");
    assert!(e.contains("mytap0 interface already exists") && e.contains("interface[1]/target"), "{e}");
    // vhost-net asked for but missing: refused naming the element, before any tap exists.
    let xml3 = mq_guest_xml(
        "mq3",
        "52:54:00:0e:47:03",
        &network_nic(net),
        "\n      <driver name='vhost'/>",
        &w.root.join("mq3.console"),
        &guest,
    );
    let (c, o, e) = w.ox_raw(&["create", &w.file("mq3.xml", &xml3)]);
    assert_ne!(c, 0, "vhost refused:\n{o}");
    assert!(
        e.contains("interface[1]/driver/@name")
            && e.contains("vhost-net was requested")
            && e.contains("/dev/vhost-net"),
        "{e}"
    );
    assert_eq!(w.runtime_of(net)["connections"], 1, "refused starts gave their connections back");
    let links = w.links();
    assert_eq!(links.lines().filter(|l| l.contains(": vnet") || l.contains(": mytap")).count(), 1, "{links}");

    // type='ethernet': ext0 exists before (on the bridge, up); a second NIC gets a generated tap.
    w.sh(&["ip", "tuntap", "add", "dev", "ext0", "mode", "tap"]);
    w.sh(&["ip", "link", "set", "ext0", "master", bridge, "up"]);
    let eth = mq_guest_xml(
        "eth",
        "52:54:00:0e:47:04",
        "type='ethernet'>\n      <target dev='ext0' managed='no'/",
        "",
        &w.root.join("eth.console"),
        &guest,
    )
    .replace(
        "  </devices>",
        "    <interface type='ethernet'><mac address='52:54:00:0e:47:05'/><model type='e1000'/></interface>\n  </devices>",
    );
    w.ox(&["create", &w.file("eth.xml", &eth)]);
    let live = w.ox(&["dumpxml", "eth"]);
    assert!(live.contains("<target dev='ext0' managed='no'/>"), "{live}");
    let gen = live
        .split("<target dev='")
        .filter_map(|s| s.split('\'').next())
        .find(|d| d.starts_with("vnet"))
        .unwrap_or_else(|| panic!("generated tap of the managed ethernet NIC:\n{live}"))
        .to_string();
    let links = w.links();
    assert!(
        links.lines().any(|l| l.contains(&format!(": {gen}:")) && !l.contains("master")),
        "managed ethernet tap on no bridge:\n{links}"
    );
    w.ox(&["destroy", "eth"]);
    let links = w.links();
    assert!(links.contains(": ext0:"), "the unmanaged tap stays:\n{links}");
    assert!(!links.contains(&format!(": {gen}:")), "the managed one is gone:\n{links}");
    w.sh(&["ip", "link", "del", "ext0"]);

    teardown(&w, &["mq"], net, bridge);
    assert!(!w.links().contains("mytap0"), "mytap0 gone with its guest");
}

// ---- direct (macvtap) interfaces ------------------------------------------------------------
//
// The macvtaps sit on `lan0`, our end of a veth pair whose other end is in a "lan" namespace with
// an address and a dnsmasq of the test's own: the LAN a direct interface would join.

const LAN_GW: &str = "10.88.0.1";
const LOWER: &str = "lan0";

/// The lan namespace, its address and DHCP server (fixed addresses for `hosts`); (namespace, dnsmasq child).
fn lan(w: &World, hosts: &[(&str, &str)]) -> (String, usize) {
    let lan = w.extra_ns("lan");
    w.sh(&["ip", "link", "add", LOWER, "type", "veth", "peer", "name", "lan1", "netns", &lan]);
    w.sh(&["ip", "link", "set", LOWER, "up"]);
    w.sh_in(&lan, &["ip", "addr", "add", &format!("{LAN_GW}/24"), "dev", "lan1"]);
    w.sh_in(&lan, &["ip", "link", "set", "lan1", "up"]);
    let leases = w.root.join("lan.leases").display().to_string();
    let mut args: Vec<String> = [
        "dnsmasq",
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--user=root",
        "--port=0",
        "--bind-interfaces",
        "--interface=lan1",
        "--except-interface=lo",
        "--dhcp-range=10.88.0.100,10.88.0.200,255.255.255.0",
        "--pid-file=",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("--dhcp-leasefile={leases}"));
    args.extend(hosts.iter().map(|(mac, ip)| format!("--dhcp-host={mac},{ip}")));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let dhcp = w.spawn_in(&lan, &refs);
    (lan, dhcp)
}

/// The macvtap links in the test namespace, one line each.
fn macvtaps(w: &World) -> Vec<String> {
    w.sh(&["ip", "-o", "-d", "link", "show", "type", "macvtap"]).lines().map(str::to_string).collect()
}

fn direct_nic(dev: &str, mode: &str) -> String {
    format!("type='direct'>\n      <source dev='{dev}' mode='{mode}'/")
}

/// `<target dev>` names in a live XML, in order.
fn targets(xml: &str) -> Vec<String> {
    xml.split("<target dev='").skip(1).filter_map(|s| s.split('\'').next()).map(str::to_string).collect()
}

/// Polls `domstate` until the guest is shut off.
fn wait_shutoff(w: &World, name: &str) {
    let deadline = Instant::now() + BOOT;
    while !w.ox(&["domstate", name]).contains("shut off") {
        assert!(Instant::now() < deadline, "{name} still running");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root, ip, nft, dnsmasq, QEMU and the test guest (make test)")]
fn direct_guests_in_bridge_mode_reach_the_lan_and_each_other() {
    let guest = guest_dir();
    let w = World::new("direct");
    let (mac1, ip1) = ("52:54:00:0e:2e:61", "10.88.0.11");
    let (mac2, ip2) = ("52:54:00:0e:2e:62", "10.88.0.12");
    let (lan_ns, dhcp) = lan(&w, &[(mac1, ip1), (mac2, ip2)]);

    // A host interface that does not exist: named in the error, nothing left behind.
    let bad = w.file(
        "bad.xml",
        &guest_xml_with(
            "g3",
            "52:54:00:0e:2e:69",
            "",
            &direct_nic("eth9", "bridge"),
            &w.root.join("g3.serial"),
            &guest,
        ),
    );
    w.ox(&["define", &bad]);
    let (code, _, err) = w.ox_raw(&["start", "g3"]);
    assert_ne!(code, 0, "started on a missing host interface");
    assert!(err.contains("interface 1: <source dev='eth9'>: no such host interface"), "error: {err}");
    w.ox(&["undefine", "g3"]);
    // A start failing after its macvtap was made (unknown NIC model) deletes it again.
    let bad =
        guest_xml_with("g3", "52:54:00:0e:2e:69", "", &direct_nic(LOWER, "bridge"), &w.root.join("g3.serial"), &guest)
            .replace("<model type='virtio'/>", "<model type='no-such-nic'/>");
    w.ox(&["define", &w.file("bad.xml", &bad)]);
    let (code, _, err) = w.ox_raw(&["start", "g3"]);
    assert_ne!(code, 0, "g3 with an unknown NIC model started");
    assert!(err.contains("no-such-nic"), "error names the model: {err}");
    assert!(macvtaps(&w).is_empty(), "macvtap of the failed start left: {:?}", macvtaps(&w));
    w.ox(&["undefine", "g3"]);

    // Guest 2 answers pings and then powers itself off; guest 1 pings the LAN and guest 2.
    let (s1, s2) = (w.root.join("g1.serial"), w.root.join("g2.serial"));
    let checks2 = format!("oxvirt.ping={LAN_GW}");
    // Two queues: the macvtap's device opened twice (QEMU gets `fds=A:B`).
    let g2 = guest_xml_with("g2", mac2, &checks2, &direct_nic(LOWER, "bridge"), &s2, &guest)
        .replace("<model type='virtio'/>", "<model type='virtio'/>\n      <driver queues='2'/>");
    // Guest 1 names its macvtap (a user's target name is kept).
    let g1 = guest_xml_with("g1", mac1, &format!("oxvirt.ping={ip2}"), &direct_nic(LOWER, "bridge"), &s1, &guest)
        .replace("<model type='virtio'/>", "<model type='virtio'/>\n      <target dev='guest1nic'/>");
    w.ox(&["define", &w.file("g2.xml", &g2)]);
    w.ox(&["define", &w.file("g1.xml", &g1)]);
    w.ox(&["start", "g2"]);
    let live2 = w.ox(&["dumpxml", "g2"]);
    assert!(live2.contains("<interface type='direct'>"), "{live2}");
    assert!(live2.contains(&format!("<source dev='{LOWER}' mode='bridge'/>")), "{live2}");
    assert_eq!(targets(&live2), vec!["macvtap0".to_string()], "generated name in the live XML");
    let t2 = wait_for(&s2, "OXVIRT-NET-DONE");
    assert!(t2.contains(&format!("OXVIRT-NET ip={ip2}")), "guest 2's lease from the LAN's dnsmasq:\n{t2}");
    assert!(t2.contains(&format!("OXVIRT-PING ok {LAN_GW}")), "guest 2 pings the LAN:\n{t2}");
    w.ox(&["start", "g1"]);
    assert_eq!(targets(&w.ox(&["dumpxml", "g1"])), vec!["guest1nic".to_string()], "user's target name kept");
    let links = macvtaps(&w);
    assert_eq!(links.len(), 2, "two macvtaps: {links:?}");
    for (dev, mac) in [("macvtap0", mac2), ("guest1nic", mac1)] {
        let l = links
            .iter()
            .find(|l| l.contains(&format!(": {dev}@{LOWER}")))
            .unwrap_or_else(|| panic!("{dev} on {LOWER}: {links:?}"));
        assert!(l.contains(mac) && l.contains("macvtap mode bridge") && l.contains(",UP"), "{l}");
    }
    let t1 = wait_for(&s1, "OXVIRT-NET-DONE");
    assert!(t1.contains(&format!("OXVIRT-NET ip={ip1}")), "guest 1's lease:\n{t1}");
    assert!(t1.contains(&format!("OXVIRT-PING ok {ip2}")), "guest 1 pings guest 2 (bridge mode):\n{t1}");
    assert!(pings(&lan_ns, ip1) && pings(&lan_ns, ip2), "the LAN pings both guests");

    // domiflist as virsh shows it: type direct, the host interface as source.
    let list = w.ox(&["domiflist", "g1"]);
    let row = list.lines().find(|l| l.contains(mac1)).unwrap_or_else(|| panic!("no row:\n{list}"));
    assert_eq!(row.split_whitespace().collect::<Vec<_>>(), ["guest1nic", "direct", LOWER, "virtio", mac1], "{list}");

    // Hot-plug: virsh's attach-interface --type direct --source DEV (vepa, libvirt's default).
    let mac3 = "52:54:00:0e:2e:63";
    w.ox(&["attach-interface", "g1", "direct", LOWER, "--mac", mac3, "--model", "virtio", "--live"]);
    let live1 = w.ox(&["dumpxml", "g1"]);
    assert!(live1.contains(mac3), "hot-plugged NIC in the live XML:\n{live1}");
    assert_eq!(targets(&live1).len(), 2, "{live1}");
    let plugged = targets(&live1)[1].clone();
    assert!(plugged.starts_with("macvtap"), "{plugged}");
    let l = macvtaps(&w).into_iter().find(|l| l.contains(&format!(": {plugged}@"))).expect("hot-plugged macvtap");
    assert!(l.contains("macvtap mode vepa") && l.contains(mac3), "{l}");
    w.ox(&["detach-interface", "g1", "direct", "--mac", mac3, "--live"]);
    assert!(!w.ox(&["dumpxml", "g1"]).contains(mac3), "unplugged NIC still in the live XML");
    assert!(
        !macvtaps(&w).iter().any(|l| l.contains(&format!(": {plugged}@"))),
        "unplugged macvtap left: {:?}",
        macvtaps(&w)
    );

    // A crashed QEMU (killed behind our back): the next look finds it and deletes the macvtap.
    let status: serde_json::Value =
        serde_json::from_slice(&std::fs::read(w.root.join("run/qemu/status/g2.status")).expect("status"))
            .expect("json");
    kill(status["pid"].as_i64().expect("pid"));
    wait_shutoff(&w, "g2");
    assert!(w.ox(&["domstate", "g2", "--reason"]).contains("crashed"));
    let links = macvtaps(&w);
    assert_eq!(links.len(), 1, "crashed guest's macvtap left: {links:?}");

    // Destroy: nothing of ours on the lower device, which itself stays.
    w.ox(&["destroy", "g1"]);
    assert!(macvtaps(&w).is_empty(), "macvtaps left: {:?}", macvtaps(&w));
    assert!(w.links().contains(&format!(": {LOWER}@")), "the lower device vanished");
    w.assert_clean(None);
    w.stop(dhcp);
    w.ox(&["undefine", "g1"]);
    w.ox(&["undefine", "g2"]);
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root, ip, nft, dnsmasq, QEMU and the test guest (make test)")]
fn guest_on_a_macvtap_network_and_guest_poweroff() {
    let guest = guest_dir();
    let w = World::new("mvnet");
    let (mac, ip) = ("52:54:00:0e:2e:71", "10.88.0.21");
    let (_lan_ns, dhcp) = lan(&w, &[(mac, ip)]);
    let net = "oxmv";
    let xml =
        format!("<network><name>{net}</name><forward mode='bridge'><interface dev='{LOWER}'/></forward></network>");
    w.ox(&["net-define", &w.file("net.xml", &xml)]);
    w.ox(&["net-start", net]);

    let serial = w.root.join("g1.serial");
    let checks = format!("oxvirt.ping={LAN_GW} oxvirt.then=poweroff");
    // Limits on a macvtap run the other way round from a tap's: the guest's outbound is the
    // macvtap's egress (htb), its inbound the macvtap's ingress.
    let nic = format!("{}><bandwidth><inbound average='1000'/><outbound average='2000'/></bandwidth", network_nic(net));
    w.ox(&["define", &w.file("g1.xml", &guest_xml_with("g1", mac, &checks, &nic, &serial, &guest))]);
    w.ox(&["start", "g1"]);
    let classes = w.sh(&["tc", "class", "show", "dev", "macvtap0"]);
    assert!(
        classes.contains("class htb 1:1 root") && classes.contains("rate 16Mbit"),
        "guest outbound on macvtap0's egress:\n{classes}"
    );
    let ingress = w.sh(&["tc", "filter", "show", "dev", "macvtap0", "ingress"]) + &w.sh(&["nft", "list", "ruleset"]);
    assert!(ingress.contains("macvtap0"), "guest inbound policed on macvtap0's ingress (tc or nftables):\n{ingress}");
    // The live XML shows the actual interface, as libvirt does; the definition keeps the network.
    let live = w.ox(&["dumpxml", "g1"]);
    assert!(live.contains("<interface type='direct'>"), "{live}");
    assert!(live.contains(&format!("<source network='{net}' dev='{LOWER}' mode='bridge'/>")), "{live}");
    assert!(w.ox(&["dumpxml", "g1", "--inactive"]).contains("<interface type='network'>"));
    assert_eq!(w.runtime_of(net)["connections"], 1);
    assert_eq!(w.runtime_of(net)["direct_connections"][LOWER], 1);
    assert!(w.ox(&["net-dumpxml", net]).contains(&format!("<interface dev='{LOWER}' connections='1'/>")));
    let list = w.ox(&["domiflist", "g1"]);
    let row = list.lines().find(|l| l.contains(mac)).unwrap_or_else(|| panic!("no row:\n{list}"));
    // virsh takes the first of the source attributes: the network's name.
    assert_eq!(row.split_whitespace().collect::<Vec<_>>(), ["macvtap0", "direct", net, "virtio", mac], "{list}");
    assert_eq!(macvtaps(&w).len(), 1, "{:?}", macvtaps(&w));

    let text = wait_for(&serial, "OXVIRT-NET-DONE");
    assert!(text.contains(&format!("OXVIRT-NET ip={ip}")), "guest's lease from the LAN:\n{text}");
    assert!(text.contains(&format!("OXVIRT-PING ok {LAN_GW}")), "guest pings the LAN:\n{text}");
    // The guest powers itself off; whoever looks next records it and deletes the macvtap.
    wait_shutoff(&w, "g1");
    assert!(macvtaps(&w).is_empty(), "macvtap of the powered-off guest left: {:?}", macvtaps(&w));
    assert_eq!(w.runtime_of(net)["connections"], 0, "connection given back");
    assert_eq!(w.runtime_of(net)["direct_connections"][LOWER], 0);
    let tables = w.sh(&["nft", "list", "tables"]);
    assert!(!tables.contains("oxvirt_bw"), "the macvtap's nft limit outlived it:\n{tables}");

    // Hot-plug onto the network, then destroy: the forward device is counted and given back.
    // (This time the guest stays up.)
    w.ox(&["undefine", "g1"]);
    w.ox(&["define", &w.file("g1.xml", &guest_xml_with("g1", mac, "", &network_nic(net), &serial, &guest))]);
    w.ox(&["start", "g1"]);
    let mac2 = "52:54:00:0e:2e:72";
    w.ox(&["attach-interface", "g1", "network", net, "--mac", mac2, "--live"]);
    assert_eq!(w.runtime_of(net)["direct_connections"][LOWER], 2);
    assert_eq!(macvtaps(&w).len(), 2, "{:?}", macvtaps(&w));
    w.ox(&["destroy", "g1"]);
    assert!(macvtaps(&w).is_empty(), "macvtaps left: {:?}", macvtaps(&w));
    assert_eq!(w.runtime_of(net)["connections"], 0, "connections given back");
    w.ox(&["net-destroy", net]);
    w.assert_clean(None);
    w.stop(dhcp);
    w.ox(&["undefine", "g1"]);
    w.ox(&["net-undefine", net]);
}

/// One DNS question over UDP to `server:53` (with a 3 s timeout): the response code and the
/// answers' (type, data).
fn dns_query(server: std::net::Ipv4Addr, name: &str, qtype: u16) -> (u8, Vec<(u16, Vec<u8>)>) {
    let mut q = vec![0x4f, 0x58, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").expect("udp socket");
    sock.set_read_timeout(Some(Duration::from_secs(3))).expect("timeout");
    let mut buf = [0u8; 1500];
    let mut n = 0;
    for _ in 0..5 {
        sock.send_to(&q, (server, 53)).expect("send the DNS query");
        if let Ok((len, _)) = sock.recv_from(&mut buf) {
            n = len;
            break;
        }
    }
    assert!(n >= 12 && buf[..2] == q[..2], "no DNS answer from {server} for {name}");
    let r = &buf[..n];
    let rcode = r[3] & 0x0f;
    let answers = u16::from_be_bytes([r[6], r[7]]);
    // Skips a (possibly compressed) name; returns the offset after it.
    let skip_name = |mut i: usize| loop {
        match r[i] {
            0 => return i + 1,
            l if l & 0xc0 == 0xc0 => return i + 2,
            l => i += 1 + l as usize,
        }
    };
    let mut i = skip_name(12) + 4;
    let mut out = Vec::new();
    for _ in 0..answers {
        i = skip_name(i);
        let ty = u16::from_be_bytes([r[i], r[i + 1]]);
        let len = u16::from_be_bytes([r[i + 8], r[i + 9]]) as usize;
        out.push((ty, r[i + 10..i + 10 + len].to_vec()));
        i += 10 + len;
    }
    (rcode, out)
}

/// net-update on a running NAT network, checked against its real dnsmasq from inside the
/// namespace: a DNS host added live resolves (dnsmasq re-read its hosts file on SIGHUP), and after
/// its deletion the name is NXDOMAIN; a TXT record added live is answered by the restarted
/// dnsmasq. Errors are libvirt's.
#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root, ip, nft, dnsmasq, QEMU and the test guest (make test)")]
fn net_update_dns_records_answered_by_dnsmasq() {
    let w = World::new("dns");
    let (net, bridge) = ("oxnetdns", "virbr48");
    let xml = net_xml(net, bridge, "<forward mode='nat'/>", "192.168.148", &[])
        .replace("<bridge ", "<domain name='oxtest' localOnly='yes'/><bridge ");
    w.ox(&["net-define", &w.file("net.xml", &xml)]);
    w.ox(&["net-start", net]);
    let gw = std::net::Ipv4Addr::new(192, 168, 148, 1);
    let pid0 = w.runtime_of(net)["dnsmasq_pid"].clone();
    let query = |name: &str, ty: u16| {
        let name = name.to_string();
        w.api(move |_| Ok(dns_query(gw, &name, ty))).expect("query in the namespace")
    };
    assert_eq!(query("web.oxtest", 1).0, 3, "NXDOMAIN before the update");

    let host = "<host ip='192.168.148.77'><hostname>web</hostname></host>";
    let out = w.ox(&["net-update", net, "add", "dns-host", host, "--live", "--config"]);
    assert!(out.contains("Updated network oxnetdns persistent config and live state"), "{out}");
    let (rcode, answers) = query("web.oxtest", 1);
    assert_eq!(rcode, 0, "the new name resolves");
    assert_eq!(answers, vec![(1, vec![192, 168, 148, 77])]);
    assert_eq!(w.runtime_of(net)["dnsmasq_pid"], pid0, "a hosts change needs no restart");
    assert!(w.ox(&["net-dumpxml", net, "--inactive"]).contains("<hostname>web</hostname>"));
    let (c, _, e) = w.ox_raw(&["net-update", net, "add", "dns-host", host]);
    assert!(
        c != 0 && e.contains("there is already at least one DNS HOST record with a matching field in network oxnetdns"),
        "{e}"
    );

    w.ox(&["net-update", net, "delete", "dns-host", "<host><hostname>web</hostname></host>", "--live"]);
    assert_eq!(query("web.oxtest", 1).0, 3, "NXDOMAIN after the delete");
    let (c, _, e) = w.ox_raw(&["net-update", net, "delete", "dns-host", "<host ip='192.168.148.77'/>", "--live"]);
    assert!(c != 0 && e.contains("couldn't locate a matching DNS HOST record in network oxnetdns"), "{e}");

    w.ox(&["net-update", net, "add-first", "dns-txt", "<txt name='info.oxtest' value='hello from oxvirt'/>"]);
    let pid1 = w.runtime_of(net)["dnsmasq_pid"].clone();
    assert_ne!(pid1, pid0, "a TXT record is in dnsmasq's configuration: restarted");
    let (rcode, answers) = query("info.oxtest", 16);
    assert_eq!(rcode, 0);
    assert_eq!(
        answers.first().map(|(t, d)| (*t, String::from_utf8_lossy(&d[1..]).into_owned())),
        Some((16, "hello from oxvirt".to_string()))
    );
    let (c, _, e) = w.ox_raw(&["net-update", net, "modify", "dns-txt", "<txt name='info.oxtest' value='x'/>"]);
    assert!(c != 0 && e.contains("DNS TXT records cannot be modified, only added or deleted"), "{e}");

    w.ox(&["net-destroy", net]);
    w.assert_clean(Some(bridge));
    w.ox(&["net-undefine", net]);
}
