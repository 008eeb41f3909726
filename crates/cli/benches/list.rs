//! `oxvirt -c test:///PATH list --all` on a node file of 1000 domains, against virsh when it is
//! installed: median wall time of several whole-process runs each, and the ratio.
//! Run with `cargo bench -p oxvirt-cli` (the binary is built with the bench profile).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DOMAINS: usize = 1000;
const RUNS: usize = 15;

fn node_file(n: usize) -> String {
    let mut s = String::from("<node xmlns:test='http://libvirt.org/schemas/domain/test'>\n");
    for i in 0..n {
        // Every other domain shut off, so the listing sorts both running and inactive ones.
        let state = if i % 2 == 0 { "" } else { "<test:runstate>5</test:runstate>" };
        s.push_str(&format!(
            "  <domain type='test'><name>bench-{i:04}</name><uuid>00000000-0000-4000-8000-{i:012}</uuid>\
             <memory>524288</memory><vcpu>1</vcpu><os><type>hvm</type></os>{state}</domain>\n"
        ));
    }
    s.push_str("</node>\n");
    s
}

/// Median wall time of `RUNS` runs; checks each run succeeded and listed every domain.
fn time(bin: &str, uri: &str) -> Option<Duration> {
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        let out = Command::new(bin).args(["-c", uri, "list", "--all"]).stdin(Stdio::null()).output().ok()?;
        let t = start.elapsed();
        if !out.status.success() {
            eprintln!("{bin} failed: {}", String::from_utf8_lossy(&out.stderr));
            return None;
        }
        let rows = String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains("bench-")).count();
        assert_eq!(rows, DOMAINS, "{bin} listed {rows} domains");
        times.push(t);
    }
    times.sort();
    Some(times[RUNS / 2])
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("node-1000.xml");
    std::fs::write(&path, node_file(DOMAINS)).expect("write node file");
    let uri = format!("test://{}", path.display());
    let ox = env!("CARGO_BIN_EXE_oxvirt");
    let Some(t_ox) = time(ox, &uri) else {
        eprintln!("oxvirt run failed");
        std::process::exit(1);
    };
    println!("oxvirt list --all, {DOMAINS} domains: median {:.1} ms over {RUNS} runs", t_ox.as_secs_f64() * 1e3);
    let virsh = ["/usr/bin/virsh", "/usr/local/bin/virsh"].into_iter().find(|p| std::path::Path::new(p).exists());
    match virsh.and_then(|v| time(v, &uri)) {
        Some(t_v) => {
            println!("virsh  list --all, {DOMAINS} domains: median {:.1} ms over {RUNS} runs", t_v.as_secs_f64() * 1e3);
            println!("ratio virsh/oxvirt: {:.1}x", t_v.as_secs_f64() / t_ox.as_secs_f64());
        }
        None => println!("virsh not installed (or failed): no comparison"),
    }
    if t_ox > Duration::from_millis(40) {
        println!("WARNING: above the 40 ms target");
    }
}
