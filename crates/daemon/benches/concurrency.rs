//! Concurrency of the QEMU driver behind oxvirtd: 25 clients doing mixed read calls (lookup by
//! name, dominfo, dumpxml, domstate, list --all) over the wire while 10 real TCG guests (the tiny
//! guest of `make guest`) are started and destroyed in a loop by 10 more clients. Prints the read
//! calls per second in total, their p50/p99/max latency, the start/destroy cycles done and every
//! error (a read must never fail: a guest being started or stopped is still defined).
//!
//! `cargo bench -p oxvirt-daemon --bench concurrency`; `OXVIRT_BENCH_SECS` (default 20) sets the
//! measured time, `OXVIRT_BENCH_CLIENTS` (25) and `OXVIRT_BENCH_GUESTS` (10) the load.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../../driver-qemu/tests/common/mod.rs"]
mod guest;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Daemon;
use oxvirt_rpc::client::Client;
use oxvirt_rpc::protocol::*;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn connect(sock: &Path, uri: &str) -> Client {
    let mut c = Client::connect(sock, Duration::from_secs(120)).expect("connect to oxvirtd");
    c.open(uri, 0).expect("open the QEMU driver");
    c
}

#[derive(Default)]
struct Tally {
    /// Latency of each read call, in microseconds.
    lat_us: Vec<u64>,
    /// The same by call.
    by_call: std::collections::BTreeMap<&'static str, Vec<u64>>,
    errors: Vec<String>,
}

fn reader(sock: PathBuf, uri: String, names: Vec<String>, i: usize, stop: Arc<AtomicBool>, out: Arc<Mutex<Tally>>) {
    let mut c = connect(&sock, &uri);
    let mut t = Tally::default();
    let mut n = i;
    while !stop.load(Ordering::Relaxed) {
        let name = names[n % names.len()].clone();
        let err = |what: &str, e: oxvirt_rpc::client::ClientError| format!("{what} {name}: {e}");
        let t0 = Instant::now();
        let dom = match c.call::<_, DomRet>(procs::DOMAIN_LOOKUP_BY_NAME, &StringArgs { s: name.clone() }) {
            Ok(r) => r.dom,
            Err(e) => {
                t.errors.push(err("lookup", e));
                n += 1;
                continue;
            }
        };
        let us = t0.elapsed().as_micros() as u64;
        t.lat_us.push(us);
        t.by_call.entry("lookup").or_default().push(us);
        let t1 = Instant::now();
        let call = ["dominfo", "dumpxml", "domstate", "list"][n % 4];
        let r: Result<(), String> = match n % 4 {
            0 => c
                .call::<_, DomainGetInfoRet>(procs::DOMAIN_GET_INFO, &DomArgs { dom })
                .map(drop)
                .map_err(|e| err("dominfo", e)),
            1 => c
                .call::<_, StringRet>(procs::DOMAIN_GET_XML_DESC, &DomFlagsArgs { dom, flags: 0 })
                .map_err(|e| err("dumpxml", e))
                .and_then(|x| {
                    if x.s.contains(name.as_str()) {
                        Ok(())
                    } else {
                        Err(format!("dumpxml {name}: no name in the XML"))
                    }
                }),
            2 => c
                .call::<_, DomainGetStateRet>(procs::DOMAIN_GET_STATE, &DomFlagsArgs { dom, flags: 0 })
                .map(drop)
                .map_err(|e| err("domstate", e)),
            _ => c
                .call::<_, ListAllDomainsRet>(
                    procs::CONNECT_LIST_ALL_DOMAINS,
                    &ListAllArgs { need_results: 1, flags: 0 },
                )
                .map_err(|e| err("list", e))
                .and_then(|l| {
                    if l.domains.0.len() >= names.len() {
                        Ok(())
                    } else {
                        Err(format!("list --all gave {} domains, {} are defined", l.domains.0.len(), names.len()))
                    }
                }),
        };
        match r {
            Ok(()) => {
                let us = t1.elapsed().as_micros() as u64;
                t.lat_us.push(us);
                t.by_call.entry(call).or_default().push(us);
            }
            Err(e) => t.errors.push(e),
        }
        n += 1;
    }
    let mut o = out.lock().unwrap();
    o.lat_us.extend(t.lat_us);
    for (k, v) in t.by_call {
        o.by_call.entry(k).or_default().extend(v);
    }
    o.errors.extend(t.errors);
}

fn cycler(
    sock: PathBuf,
    uri: String,
    name: String,
    stop: Arc<AtomicBool>,
    cycles: Arc<AtomicUsize>,
    errors: Arc<Mutex<Vec<String>>>,
) {
    let mut c = connect(&sock, &uri);
    let dom: DomRet = c.call(procs::DOMAIN_LOOKUP_BY_NAME, &StringArgs { s: name.clone() }).expect("lookup");
    let dom = dom.dom;
    while !stop.load(Ordering::Relaxed) {
        let started: Result<DomRet, _> =
            c.call(procs::DOMAIN_CREATE_WITH_FLAGS, &DomFlagsArgs { dom: dom.clone(), flags: 0 });
        let started = match started {
            Ok(r) => r.dom,
            Err(e) => {
                errors.lock().unwrap().push(format!("start {name}: {e}"));
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        };
        std::thread::sleep(Duration::from_millis(300));
        if let Err(e) = c.call::<_, ()>(procs::DOMAIN_DESTROY, &DomArgs { dom: started }) {
            errors.lock().unwrap().push(format!("destroy {name}: {e}"));
            continue;
        }
        cycles.fetch_add(1, Ordering::Relaxed);
    }
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let secs = env_usize("OXVIRT_BENCH_SECS", 20) as u64;
    let clients = env_usize("OXVIRT_BENCH_CLIENTS", 25);
    let guests = env_usize("OXVIRT_BENCH_GUESTS", 10);
    if which("qemu-system-x86_64").is_none() {
        eprintln!("concurrency bench: qemu-system-x86_64 is not installed; skipped");
        return;
    }
    let work = tempfile::tempdir().expect("temp dir");
    let root = work.path().join("root");
    let uri = format!("qemu:///embed?root={}", root.display());
    let d = Daemon::start_opts(&[], &uri, tempfile::tempdir().expect("temp dir"));
    let sock = d.sock();
    let names: Vec<String> = (0..guests).map(|i| format!("cc{i}")).collect();
    {
        let mut c = connect(&sock, &uri);
        for n in &names {
            let _: DomRet = c
                .call(procs::DOMAIN_DEFINE_XML, &StringArgs { s: guest::guest_xml(n, "shell", None) })
                .expect("define");
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let cycles = Arc::new(AtomicUsize::new(0));
    let cycle_errors = Arc::new(Mutex::new(Vec::new()));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut threads = Vec::new();
    for n in &names {
        let (s, u, n, st, cy, er) =
            (sock.clone(), uri.clone(), n.clone(), stop.clone(), cycles.clone(), cycle_errors.clone());
        threads.push(std::thread::spawn(move || cycler(s, u, n, st, cy, er)));
    }
    // let the first starts get going, so reads meet starts from the first second
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    let mut readers = Vec::new();
    for i in 0..clients {
        let (s, u, ns, st, ta) = (sock.clone(), uri.clone(), names.clone(), stop.clone(), tally.clone());
        readers.push(std::thread::spawn(move || reader(s, u, ns, i, st, ta)));
    }
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        let _ = r.join();
    }
    let elapsed = t0.elapsed().as_secs_f64();
    for t in threads {
        let _ = t.join();
    }
    let mut t = std::mem::take(&mut *tally.lock().unwrap());
    t.lat_us.sort_unstable();
    let calls = t.lat_us.len();
    println!(
        "concurrency: {clients} clients, {guests} guests cycling, {elapsed:.1} s: {calls} read calls = {:.0} calls/s; \
         p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms; {} start/destroy cycles; {} read errors, {} start/destroy errors",
        calls as f64 / elapsed,
        pct(&t.lat_us, 0.5),
        pct(&t.lat_us, 0.99),
        pct(&t.lat_us, 1.0),
        cycles.load(Ordering::Relaxed),
        t.errors.len(),
        cycle_errors.lock().unwrap().len(),
    );
    for (k, v) in t.by_call.iter_mut() {
        v.sort_unstable();
        println!("  {k:9} {:6} calls, p50 {:.2} ms, p99 {:.2} ms", v.len(), pct(v, 0.5), pct(v, 0.99));
    }
    for e in t.errors.iter().take(5).chain(cycle_errors.lock().unwrap().iter().take(5)) {
        println!("  error: {e}");
    }
    // leave no guest behind
    let mut c = connect(&sock, &uri);
    for n in &names {
        if let Ok(r) = c.call::<_, DomRet>(procs::DOMAIN_LOOKUP_BY_NAME, &StringArgs { s: n.clone() }) {
            let _ = c.call::<_, ()>(procs::DOMAIN_DESTROY, &DomArgs { dom: r.dom });
        }
    }
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var("PATH").ok()?.split(':').map(|d| Path::new(d).join(bin)).find(|p| p.is_file())
}
