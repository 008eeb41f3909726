//! Real clients against oxvirtd (release) and, when installed, libvirtd 9.0 on a private socket:
//! `virsh list --all` with 1000 test domains (median), defining 1000 domains and 10 000
//! `dom.state()` calls from libvirt-python, RSS idle and with 1000 domains; the `oxvirt` CLI
//! through the remote driver when its release binary is built. Prints ratios at the end.
//!
//! libvirtd runs as `nobody` (session mode) with a private config, socket and home, so it never
//! touches a system libvirtd or /etc/libvirt (oxvirt-bench-libvirt); `scripts/install-deps.sh
//! --bench` installs it. Each daemon's test:///default lives only
//! while a client holds it (as in libvirt), so a holder connection stays open throughout.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{run_timeout, Daemon};
use oxvirt_bench_libvirt::{Libvirtd, PYTHON};
use oxvirt_rpc::client::Client;

const DOMAINS: usize = 1000;
const STATE_CALLS: usize = 10_000;
const LIST_RUNS: usize = 9;

const PY_DEFINE: &str = r#"
import sys, time, libvirt
uri, n = sys.argv[1], int(sys.argv[2])
c = libvirt.open(uri)
t = time.perf_counter()
for i in range(n):
    c.defineXML("<domain type='test'><name>bench-%d</name><memory unit='KiB'>65536</memory>"
                "<vcpu>1</vcpu><os><type>hvm</type></os></domain>" % i)
print(time.perf_counter() - t)
"#;

const PY_STATE: &str = r#"
import sys, time, libvirt
uri, n = sys.argv[1], int(sys.argv[2])
c = libvirt.open(uri)
d = c.lookupByName("test")
t = time.perf_counter()
for i in range(n):
    d.state()
print(time.perf_counter() - t)
"#;

#[derive(Debug, Default, Clone)]
struct Results {
    rss_idle_kib: u64,
    rss_loaded_kib: u64,
    define_s: f64,
    list_ms: f64,
    state_s: f64,
    oxvirt_list_ms: Option<f64>,
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn python(code: &str, uri: &str, n: usize) -> f64 {
    let o = run_timeout(Command::new(PYTHON).arg("-c").arg(code).arg(uri).arg(n.to_string()), Duration::from_secs(300));
    assert!(o.status.success(), "python failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().parse().expect("python printed seconds")
}

/// Median wall time of `cmd uri list --all`, after one warm-up; checks the domain count.
fn median_list_ms(prog: &Path, uri: &str) -> f64 {
    let mut times = Vec::new();
    for i in 0..=LIST_RUNS {
        let t = Instant::now();
        let o = run_timeout(Command::new(prog).arg("-c").arg(uri).arg("list").arg("--all"), Duration::from_secs(60));
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        assert!(o.status.success(), "{} list failed: {}", prog.display(), String::from_utf8_lossy(&o.stderr));
        let rows = String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.contains("bench-")).count();
        assert_eq!(rows, DOMAINS, "{} listed {rows} bench domains", prog.display());
        if i > 0 {
            times.push(ms);
        }
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn measure(pid: u32, sock: &Path, oxvirt: Option<&Path>) -> Results {
    std::thread::sleep(Duration::from_millis(500));
    let mut r = Results { rss_idle_kib: rss_kib(pid), ..Default::default() };
    let uri = format!("test+unix:///default?socket={}", sock.display());
    let mut holder = Client::connect(sock, Duration::from_secs(30)).expect("holder connects");
    holder.open("test:///default", 0).expect("holder opens test:///default");
    r.define_s = python(PY_DEFINE, &uri, DOMAINS);
    r.list_ms = median_list_ms(Path::new("virsh"), &uri);
    r.state_s = python(PY_STATE, &uri, STATE_CALLS);
    r.oxvirt_list_ms = oxvirt.map(|p| median_list_ms(p, &uri));
    r.rss_loaded_kib = rss_kib(pid);
    drop(holder);
    r
}

fn print(name: &str, r: &Results) {
    println!("{name}:");
    let row = |k: String, v: String| println!("  {k:<36} {v}");
    row("RSS idle".into(), format!("{:>8.1} MB", r.rss_idle_kib as f64 / 1024.0));
    row(format!("define {DOMAINS} (python)"), format!("{:>8.3} s", r.define_s));
    row(format!("virsh list --all, {DOMAINS} domains"), format!("{:>8.1} ms (median of {LIST_RUNS})", r.list_ms));
    if let Some(ms) = r.oxvirt_list_ms {
        row("oxvirt list --all (remote driver)".into(), format!("{ms:>8.1} ms (median of {LIST_RUNS})"));
    }
    let per_call = r.state_s * 1e6 / STATE_CALLS as f64;
    row(format!("{STATE_CALLS} dom.state() (python)"), format!("{:>8.3} s ({per_call:.1} µs/call)", r.state_s));
    row(format!("RSS with {DOMAINS} domains"), format!("{:>8.1} MB", r.rss_loaded_kib as f64 / 1024.0));
}

fn ratio(name: &str, ours: f64, theirs: f64) {
    println!("  {name:<34} {:>6.2}x  (oxvirtd {ours:.3} / libvirtd {theirs:.3})", ours / theirs);
}

fn main() {
    // `cargo bench` passes libtest flags; this harness takes none.
    for tool in ["virsh", PYTHON] {
        assert!(common::have(tool), "{tool} is needed (scripts/install-deps.sh installs it)");
    }
    let oxvirt = Path::new(env!("CARGO_BIN_EXE_oxvirtd")).with_file_name("oxvirt");
    let oxvirt = oxvirt.exists().then_some(oxvirt);
    if oxvirt.is_none() {
        println!("(oxvirt CLI not built in this profile: `cargo build --release -p oxvirt-cli` adds its numbers)");
    }

    let daemon = Daemon::start();
    let ours = measure(daemon.child.id(), &daemon.sock(), oxvirt.as_deref());
    drop(daemon);
    print("oxvirtd", &ours);

    let lv = match Libvirtd::session() {
        Ok(lv) => lv,
        Err(why) => {
            println!("\nlibvirtd not available: {why}; reference figures for libvirt 9.0:");
            println!("  virsh list --all 209 ms, define 1000 1.62 s, RSS 30.7 MB idle / 40.2 MB with 1000 domains");
            println!(
                "  ratios vs those: list {:.2}x, define {:.2}x, RSS idle {:.2}x, RSS loaded {:.2}x",
                ours.list_ms / 209.0,
                ours.define_s / 1.62,
                ours.rss_idle_kib as f64 / 1024.0 / 30.7,
                ours.rss_loaded_kib as f64 / 1024.0 / 40.2
            );
            return;
        }
    };
    let theirs = measure(lv.pid(), &lv.sock(), oxvirt.as_deref());
    drop(lv);
    print("libvirtd 9.0 (session mode, private socket)", &theirs);

    println!("\noxvirtd / libvirtd (below 1 = oxvirtd smaller or faster):");
    ratio("virsh list --all (ms)", ours.list_ms, theirs.list_ms);
    ratio(&format!("define {DOMAINS} (s)"), ours.define_s, theirs.define_s);
    ratio(&format!("{STATE_CALLS} dom.state() (s)"), ours.state_s, theirs.state_s);
    ratio("RSS idle (MB)", ours.rss_idle_kib as f64 / 1024.0, theirs.rss_idle_kib as f64 / 1024.0);
    ratio(
        &format!("RSS with {DOMAINS} domains (MB)"),
        ours.rss_loaded_kib as f64 / 1024.0,
        theirs.rss_loaded_kib as f64 / 1024.0,
    );
    if let (Some(a), Some(b)) = (ours.oxvirt_list_ms, theirs.oxvirt_list_ms) {
        ratio("oxvirt list --all (ms)", a, b);
    }
}
