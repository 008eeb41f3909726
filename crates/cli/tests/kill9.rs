//! kill -9 of the `oxvirt` CLI (running the QEMU driver embedded) at swept delays during start,
//! destroy, define, save and managed save. Afterwards, whatever the moment of the kill: the next call's driver
//! adopts or kills every QEMU of the root, so no QEMU runs that the domain's state does not
//! account for, the domain starts again and destroy works.
//!
//! `OXVIRT_KILL9_ROUNDS` (default 20) sets how many kills; the orphan count is printed
//! (`--nocapture`).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{guest_dir, qemus_of, run, Out};

struct Root {
    dir: tempfile::TempDir,
    uri: String,
}

impl Root {
    fn new() -> Root {
        let dir = tempfile::Builder::new().prefix("oxvirt-kill9-").tempdir().expect("temp root");
        let uri = format!("qemu:///embed?root={}", dir.path().display());
        Root { dir, uri }
    }
    fn ox(&self, args: &[&str]) -> Out {
        let mut a = vec!["-c", self.uri.as_str()];
        a.extend_from_slice(args);
        run(env!("CARGO_BIN_EXE_oxvirt"), &a, None, &[])
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.ox(args);
        assert_eq!(o.code, 0, "oxvirt {args:?}: {}{}", o.stdout, o.stderr);
        o.stdout
    }
    /// Runs `oxvirt ARGS` and SIGKILLs it after `delay` (if it is still running).
    fn kill_after(&self, args: &[&str], delay: Duration) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_oxvirt"))
            .arg("-c")
            .arg(&self.uri)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn oxvirt");
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
    }
    fn state(&self) -> String {
        self.ok(&["domstate", "vm"]).trim().to_string()
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        for pid in qemus_of(self.dir.path()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

fn xml(name: &str) -> String {
    let g = guest_dir();
    format!(
        "<domain type='qemu'><name>{name}</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>{k}</kernel><initrd>{i}</initrd>
  <cmdline>console=ttyS0 quiet panic=-1 oxvirt.mode=shell</cmdline></os>
  <on_poweroff>destroy</on_poweroff>
  <devices><serial type='pty'><target port='0'/></serial></devices></domain>",
        k = g.join("vmlinuz").display(),
        i = g.join("initrd-shell.img").display()
    )
}

/// The invariant after a kill: the next driver open accounts for every QEMU of the root. Returns
/// how many QEMUs ran that the domain state did not account for (orphans), then restores a
/// known state: the domain starts (if shut off) and is destroyed, leaving no QEMU.
fn check_and_recover(r: &Root, what: &str) -> usize {
    // Before any driver opens: a QEMU the status file does not name was not recorded.
    let recorded = std::fs::read(r.dir.path().join("run/qemu/status/vm.status"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["pid"].as_i64());
    if qemus_of(r.dir.path()).iter().any(|p| Some(i64::from(*p)) != recorded) {
        REAPED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let o = r.ox(&["domstate", "vm"]);
    assert_eq!(o.code, 0, "{what}: domstate: {}", o.stderr);
    let state = o.stdout.trim().to_string();
    let qemus = qemus_of(r.dir.path());
    let expected = usize::from(state != "shut off");
    let orphans = qemus.len().saturating_sub(expected);
    if orphans > 0 || qemus.len() < expected {
        eprintln!("{what}: state '{state}' but QEMUs {qemus:?}");
    }
    assert!(qemus.len() >= expected, "{what}: domain '{state}' but no QEMU runs");
    if state == "shut off" {
        r.ok(&["start", "vm"]);
    }
    r.ok(&["destroy", "vm"]);
    assert_eq!(r.state(), "shut off", "{what}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !qemus_of(r.dir.path()).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(qemus_of(r.dir.path()).is_empty(), "{what}: QEMU left after destroy");
    orphans
}

/// How many kills left a QEMU that the next driver open had to kill (it was not recorded).
static REAPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn kill9_at_swept_delays_leaves_no_untracked_qemu() {
    let rounds: usize = std::env::var("OXVIRT_KILL9_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let r = Root::new();
    let x = xml("vm");
    let file = r.dir.path().join("vm.xml");
    std::fs::write(&file, &x).unwrap();
    r.ok(&["define", file.to_str().unwrap()]);
    let save = r.dir.path().join("vm.save");
    let mut orphans = std::collections::BTreeMap::<&str, (usize, usize)>::new();
    for i in 0..rounds {
        // 0..=100 ms, visiting the range evenly whatever the number of rounds.
        let delay = Duration::from_millis(((i * 37) % 101) as u64);
        let op = ["start", "destroy", "define", "save", "managedsave"][i % 5];
        match op {
            "start" => r.kill_after(&["start", "vm"], delay),
            "destroy" => {
                r.ok(&["start", "vm"]);
                r.kill_after(&["destroy", "vm"], delay);
            }
            "define" => {
                r.kill_after(&["define", file.to_str().unwrap()], delay);
                // The definition is the old or the new one, never torn; other domains unaffected.
                let list = r.ok(&["list", "--all"]);
                assert!(list.contains("vm"), "define kill lost the domain: {list}");
            }
            "managedsave" => {
                // The next start restores from the image if there is one: it must be whole.
                r.ok(&["start", "vm"]);
                r.kill_after(&["managedsave", "vm"], delay);
            }
            _ => {
                r.ok(&["start", "vm"]);
                let _ = std::fs::remove_file(&save);
                r.kill_after(&["save", "vm", save.to_str().unwrap()], delay);
                // The image is whole or absent, never torn.
                if save.exists() {
                    let o = r.ox(&["save-image-dumpxml", save.to_str().unwrap()]);
                    assert_eq!(o.code, 0, "a killed save left a torn image: {}", o.stderr);
                }
            }
        }
        let n = check_and_recover(&r, &format!("{op} killed after {delay:?}"));
        let e = orphans.entry(op).or_default();
        e.0 += 1;
        e.1 += n;
    }
    eprintln!(
        "kill -9 sweep: {rounds} kills; (kills, orphans) per operation: {orphans:?}; {} times the next open killed an unrecorded QEMU",
        REAPED.load(std::sync::atomic::Ordering::Relaxed)
    );
    let total: usize = orphans.values().map(|v| v.1).sum();
    assert_eq!(total, 0, "untracked QEMUs after kill -9: {orphans:?}");
    // No temp file of an interrupted write survives a driver open.
    let _ = r.ok(&["list", "--all"]);
    for dir in ["etc/qemu", "run/qemu", "run/qemu/status"] {
        for e in std::fs::read_dir(r.dir.path().join(dir)).unwrap().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            assert!(!(n.starts_with('.') && n.contains(".tmp")), "temp file left: {dir}/{n}");
        }
    }
}

/// A network namespace of this test's own, removed afterwards.
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let name = format!("oxk9-{}", std::process::id());
        let st = Command::new("ip").args(["netns", "add", &name]).status().expect("ip netns add");
        assert!(st.success(), "ip netns add {name}");
        Netns(name)
    }
    fn sh(&self, args: &[&str]) -> String {
        let o = Command::new("ip").args(["netns", "exec", &self.0]).args(args).output().expect("ip netns exec");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    /// Links other than `lo`, our nftables tables, and processes inside.
    fn leftovers(&self) -> (Vec<String>, String, usize) {
        let links: Vec<String> = self
            .sh(&["ip", "-o", "link"])
            .lines()
            .filter_map(|l| l.split(": ").nth(1).map(str::to_string))
            .filter(|n| n != "lo")
            .collect();
        let tables = self.sh(&["nft", "list", "tables"]).trim().to_string();
        let o = Command::new("ip").args(["netns", "pids", &self.0]).output().expect("ip netns pids");
        (links, tables, String::from_utf8_lossy(&o.stdout).lines().count())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let o = Command::new("ip").args(["netns", "pids", &self.0]).output();
        for pid in o.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default().lines() {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// kill -9 of `net-start` at swept delays: whatever it left (a bridge, firewall rules, a running
/// dnsmasq) is undone by the next call, the network starts again and net-destroy leaves nothing.
#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn kill9_during_net_start_is_undone() {
    let rounds: usize = std::env::var("OXVIRT_KILL9_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let ns = Netns::new();
    let r = Root::new();
    let net = r.dir.path().join("kn.xml");
    std::fs::write(
        &net,
        "<network><name>kn</name><forward mode='nat'/><ip address='192.168.150.1' netmask='255.255.255.0'>\
         <dhcp><range start='192.168.150.2' end='192.168.150.254'/></dhcp></ip></network>",
    )
    .unwrap();
    let ox = |args: &[&str]| -> Out {
        let mut a = vec!["netns", "exec", ns.0.as_str(), env!("CARGO_BIN_EXE_oxvirt"), "-c", r.uri.as_str()];
        a.extend_from_slice(args);
        run("ip", &a, None, &[])
    };
    assert_eq!(ox(&["net-define", net.to_str().unwrap()]).code, 0);
    let mut left_behind = 0;
    for i in 0..rounds {
        let delay = Duration::from_millis(((i * 7) % 80) as u64);
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns.0, env!("CARGO_BIN_EXE_oxvirt"), "-c", &r.uri, "net-start", "kn"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        // What the kill left, before any driver looks.
        let (links, _, _) = ns.leftovers();
        let active = r.dir.path().join("run/network/kn.json").exists();
        if !active && !links.is_empty() {
            left_behind += 1;
        }
        let what = format!("net-start killed after {delay:?}");
        let o = ox(&["net-start", "kn"]);
        assert!(o.code == 0 || o.stderr.contains("already active"), "{what}: net-start: {}", o.stderr);
        let o = ox(&["net-destroy", "kn"]);
        assert_eq!(o.code, 0, "{what}: net-destroy: {}", o.stderr);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut left = ns.leftovers();
        while (!left.0.is_empty() || !left.1.is_empty() || left.2 > 0) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            left = ns.leftovers();
        }
        assert!(left.0.is_empty() && left.1.is_empty() && left.2 == 0, "{what}: left {left:?}");
    }
    eprintln!(
        "{rounds} kills of net-start: {left_behind} left a half-started network behind, all undone by the next call"
    );
}

/// The `connections` a network's live XML shows (0 when absent).
fn connections(net_xml: &str) -> u32 {
    let head = net_xml.split('>').next().unwrap_or("");
    head.split("connections='").nth(1).and_then(|s| s.split('\'').next()).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// kill -9 of `start` of a domain with a NIC on a virtual network at swept delays, some after its
/// network port was allocated: the next call's driver open recounts the network's connections
/// from the guests that run, so no kill leaves a connection counted that no guest holds.
#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn kill9_during_start_gives_network_ports_back() {
    let rounds: usize = std::env::var("OXVIRT_KILL9_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let ns = Netns::new();
    let r = Root::new();
    let net = r.dir.path().join("pn.xml");
    std::fs::write(
        &net,
        "<network><name>pn</name><forward mode='nat'/><ip address='192.168.151.1' netmask='255.255.255.0'/></network>",
    )
    .unwrap();
    let dom = r.dir.path().join("vm.xml");
    let nic = "<interface type='network'><source network='pn'/><model type='virtio'/></interface></devices>";
    std::fs::write(&dom, xml("vm").replace("</devices>", nic)).unwrap();
    let ox = |args: &[&str]| -> Out {
        let mut a = vec!["netns", "exec", ns.0.as_str(), env!("CARGO_BIN_EXE_oxvirt"), "-c", r.uri.as_str()];
        a.extend_from_slice(args);
        run("ip", &a, None, &[])
    };
    let ok = |args: &[&str]| -> String {
        let o = ox(args);
        assert_eq!(o.code, 0, "oxvirt {args:?}: {}{}", o.stdout, o.stderr);
        o.stdout
    };
    ok(&["net-define", net.to_str().unwrap()]);
    ok(&["net-start", "pn"]);
    ok(&["define", dom.to_str().unwrap()]);
    let mut counted_after_kill = 0;
    for i in 0..rounds {
        let delay = Duration::from_millis(((i * 37) % 400) as u64);
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns.0, env!("CARGO_BIN_EXE_oxvirt"), "-c", &r.uri, "start", "vm"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        let what = format!("start killed after {delay:?}");
        // Before any driver looks: what the killed start left counted.
        let raw = std::fs::read(r.dir.path().join("run/network/pn.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["connections"].as_u64())
            .unwrap_or(0);
        let state = ok(&["domstate", "vm"]).trim().to_string();
        let expected = u32::from(state != "shut off");
        if raw > u64::from(expected) {
            counted_after_kill += 1;
        }
        assert_eq!(connections(&ok(&["net-dumpxml", "pn"])), expected, "{what}: domain '{state}'");
        if state != "shut off" {
            ok(&["destroy", "vm"]);
        }
        assert_eq!(connections(&ok(&["net-dumpxml", "pn"])), 0, "{what}: after destroy");
    }
    ok(&["start", "vm"]);
    assert_eq!(connections(&ok(&["net-dumpxml", "pn"])), 1);
    ok(&["destroy", "vm"]);
    ok(&["net-destroy", "pn"]);
    eprintln!("{rounds} kills of start: {counted_after_kill} left a port counted that the next call gave back");
}
