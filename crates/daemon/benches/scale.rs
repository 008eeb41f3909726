//! The QEMU driver behind oxvirtd as the number of defined domains grows, against libvirtd 9.0
//! (session mode, private socket; oxvirt-bench-libvirt) in the same run: a domain RPC call
//! (lookup by UUID + dominfo) among 10 / 1,000 / 10,000 defined domains, measured in a freshly
//! started daemon over the defined root; `virsh list --all` with 1,000 domains; the daemon's RSS
//! idle and with 1,000 domains after the listing. Domains are defined, never started.
//!
//! `cargo bench -p oxvirt-daemon --bench scale`; `OXVIRT_BENCH_SCALES` (default `10,1000,10000`),
//! `OXVIRT_BENCH_CALLS` (2000) lookup+dominfo pairs per scale.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{run_timeout, Daemon};
use oxvirt_bench_libvirt::Libvirtd;
use oxvirt_rpc::client::Client;
use oxvirt_rpc::protocol::*;
use uuid::Uuid;

const LIST_RUNS: usize = 9;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn uuid(i: usize) -> Uuid {
    Uuid::from_u128(0x5ca1_0000_0000_4000_8000_0000_0000_0000 + i as u128)
}

fn xml(i: usize) -> String {
    format!(
        "<domain type='qemu'><name>bench-{i:05}</name><uuid>{}</uuid><memory unit='MiB'>64</memory>\
         <vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os></domain>",
        uuid(i)
    )
}

fn connect(sock: &Path, uri: &str) -> Client {
    let mut c = Client::connect(sock, Duration::from_secs(120)).expect("connect");
    c.open(uri, 0).expect("open");
    c
}

fn define(sock: &Path, uri: &str, n: usize) -> f64 {
    let mut c = connect(sock, uri);
    let t = Instant::now();
    for i in 0..n {
        let _: DomRet = c.call(procs::DOMAIN_DEFINE_XML, &StringArgs { s: xml(i) }).expect("define");
    }
    t.elapsed().as_secs_f64()
}

/// The first lookup+dominfo pair on a fresh connection, then the median of `calls` pairs over 100
/// domains spread across the whole set (each read once before: a fresh daemon parses a file
/// the first time it is asked about it, the same for any number of domains), in µs.
fn lookup_info(sock: &Path, uri: &str, n: usize, calls: usize) -> (f64, f64) {
    let mut c = connect(sock, uri);
    let mut pair = |i: usize| {
        let t = Instant::now();
        let d: DomRet = c.call(procs::DOMAIN_LOOKUP_BY_UUID, &UuidArgs { uuid: uuid(i) }).expect("lookup");
        let _: DomainGetInfoRet = c.call(procs::DOMAIN_GET_INFO, &DomArgs { dom: d.dom }).expect("dominfo");
        t.elapsed().as_secs_f64() * 1e6
    };
    let first = pair(n / 2);
    let set: Vec<usize> = (0..100.min(n)).map(|k| k * n / 100.min(n)).collect();
    for &i in &set {
        pair(i);
    }
    let mut v: Vec<f64> = (0..calls).map(|k| pair(set[(k * 37) % set.len()])).collect();
    v.sort_by(f64::total_cmp);
    (first, v[v.len() / 2])
}

/// Median µs of a GetState call (what `virsh list` sends per domain) over the first `n` domains
/// through one held connection: the daemon's share of a listing, without virsh's own cost.
fn state_calls_us(sock: &Path, uri: &str, n: usize) -> f64 {
    let mut c = connect(sock, uri);
    let all: ListAllDomainsRet =
        c.call(procs::CONNECT_LIST_ALL_DOMAINS, &ListAllArgs { need_results: 1, flags: 0 }).expect("list");
    let mut v: Vec<f64> = all
        .domains
        .0
        .into_iter()
        .take(n)
        .map(|dom| {
            let t = Instant::now();
            let _: DomainGetStateRet =
                c.call(procs::DOMAIN_GET_STATE, &DomFlagsArgs { dom, flags: 0 }).expect("domstate");
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Median wall time of `virsh -c uri list --all` after one warm-up; checks the count.
fn virsh_list_ms(uri: &str, n: usize) -> f64 {
    let mut times = Vec::new();
    for i in 0..=LIST_RUNS {
        let t = Instant::now();
        let o = run_timeout(Command::new("virsh").args(["-c", uri, "list", "--all"]), Duration::from_secs(120));
        let ms = t.elapsed().as_secs_f64() * 1e3;
        assert!(o.status.success(), "virsh list failed: {}", String::from_utf8_lossy(&o.stderr));
        let rows = String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.contains("bench-")).count();
        assert_eq!(rows, n, "virsh listed {rows} domains");
        if i > 0 {
            times.push(ms);
        }
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let scales: Vec<usize> = std::env::var("OXVIRT_BENCH_SCALES")
        .unwrap_or_else(|_| "10,1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let calls = env_usize("OXVIRT_BENCH_CALLS", 2000);
    let mut flat = Vec::new();
    let mut ours_list = None;
    let mut ours_rss = None;
    for &n in &scales {
        let work = tempfile::tempdir().expect("temp dir");
        let uri = format!("qemu:///embed?root={}", work.path().join("root").display());
        let define_s = {
            let d = Daemon::start_opts(&[], &uri, tempfile::tempdir().expect("temp dir"));
            define(&d.sock(), &uri, n)
        };
        // A fresh daemon over the defined root: what a restart (or the embedded CLI) pays.
        let d = Daemon::start_opts(&[], &uri, tempfile::tempdir().expect("temp dir"));
        std::thread::sleep(Duration::from_millis(300));
        let idle = rss_kib(d.pid());
        let (first, p50) = lookup_info(&d.sock(), &uri, n, calls);
        println!(
            "oxvirtd, {n} domains: define {define_s:.2} s; lookup+dominfo first {first:.0} µs, p50 {p50:.0} µs \
             ({calls} pairs); RSS idle {:.1} MB",
            idle as f64 / 1024.0
        );
        flat.push((n, p50));
        if n == 1000 {
            let ms = virsh_list_ms(&d.uri_default(), n);
            let st = state_calls_us(&d.sock(), &uri, n);
            let rss = rss_kib(d.pid());
            println!(
                "  virsh list --all: median {ms:.1} ms; GetState p50 {st:.0} µs (one held connection); \
                 RSS after them {:.1} MB",
                rss as f64 / 1024.0
            );
            ours_list = Some((ms, st));
            ours_rss = Some((idle, rss));
        }
    }
    if let (Some(&(n0, a)), Some(&(n1, b))) = (flat.first(), flat.last()) {
        println!("lookup+dominfo p50, {n1} vs {n0} domains: {:.2}x", b / a);
    }
    let Some(ours_list) = ours_list else { return };
    let lv = match Libvirtd::session() {
        Ok(lv) => lv,
        Err(why) => {
            println!("libvirtd not available: {why}");
            return;
        }
    };
    let uri = lv.uri("qemu");
    std::thread::sleep(Duration::from_millis(500));
    let idle = rss_kib(lv.pid());
    let define_s = define(&lv.sock(), "qemu:///session", 1000);
    let (first, p50) = lookup_info(&lv.sock(), "qemu:///session", 1000, calls);
    let ms = virsh_list_ms(&uri, 1000);
    let st = state_calls_us(&lv.sock(), "qemu:///session", 1000);
    let rss = rss_kib(lv.pid());
    println!(
        "libvirtd 9.0, 1000 domains: define {define_s:.2} s; lookup+dominfo first {first:.0} µs, p50 {p50:.0} µs; \
         virsh list --all median {ms:.1} ms; GetState p50 {st:.0} µs; RSS idle {:.1} MB, with 1000 domains {:.1} MB",
        idle as f64 / 1024.0,
        rss as f64 / 1024.0
    );
    let (oi, ol) = ours_rss.unwrap_or_default();
    println!(
        "libvirtd / oxvirtd: virsh list --all {:.2}x, GetState {:.2}x, lookup+dominfo {:.2}x",
        ms / ours_list.0,
        st / ours_list.1,
        p50 / flat.iter().find(|(n, _)| *n == 1000).map_or(f64::NAN, |f| f.1)
    );
    println!(
        "oxvirtd / libvirtd RSS: idle {:.2}x, with 1000 domains {:.2}x",
        oi as f64 / idle as f64,
        ol as f64 / rss as f64
    );
}
