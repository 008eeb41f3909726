//! Network namespaces for end-to-end tests: created and deleted by the test, so no traffic leaves
//! them and nothing is left behind on the host.

#![allow(dead_code)]

use std::fs::File;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use oxvirt_network::util::{run, Output};

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("oxnet{}-{tag}{n}", std::process::id());
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.exec_ok(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Runs a command inside the namespace.
    pub fn exec(&self, args: &[&str]) -> Output {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(args);
        run(c, None, Duration::from_secs(60)).unwrap_or_else(|e| panic!("ip netns exec {} {args:?}: {e}", self.name))
    }

    pub fn exec_ok(&self, args: &[&str]) -> String {
        let o = self.exec(args);
        assert!(o.status.success(), "in {}: {args:?} failed: {} {}", self.name, o.stdout, o.stderr);
        o.stdout
    }

    /// Runs `f` on a thread that entered the namespace: sockets, netlink requests and child
    /// processes made there belong to it.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                let fd = File::open(&path).unwrap();
                // affects only this thread
                nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET)
                    .unwrap_or_else(|e| panic!("setns {path}: {e}"));
                f()
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Anything still running in it (a dnsmasq of a failed test) goes with it.
        let pids = self.exec(&["ip", "netns", "pids", &self.name]).stdout;
        for p in pids.split_whitespace().filter_map(|p| p.parse::<i32>().ok()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
        }
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

pub fn sh(args: &[&str]) -> String {
    let mut c = Command::new(args[0]);
    c.args(&args[1..]);
    let o = run(c, None, Duration::from_secs(60)).unwrap();
    assert!(o.status.success(), "{args:?} failed: {}", o.stderr);
    o.stdout
}

/// A veth pair with `a` in `ns_a` and `b` in `ns_b`.
pub fn veth(ns_a: &Netns, a: &str, ns_b: &Netns, b: &str) {
    ns_a.exec_ok(&["ip", "link", "add", a, "type", "veth", "peer", "name", b, "netns", &ns_b.name]);
    ns_a.exec_ok(&["ip", "link", "set", a, "up"]);
    ns_b.exec_ok(&["ip", "link", "set", b, "up"]);
}

/// A root directory for the driver that dnsmasq (which drops privileges) can traverse.
pub fn root_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::Builder::new().prefix("oxvirt-net-").tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}
