//! net-start and net-destroy of a NAT network with DHCP, inside a network namespace created for the
//! run (bridge, addresses, nftables table, ip_forward, dnsmasq — the real parts).
//! libvirt 9.0 on this machine: 124 ms start, 411 ms destroy.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use oxvirt_network::{NetLayout, NetworkDriver};

const NAT_NET: &str = "<network><name>bench</name><forward mode='nat'/>
  <ip address='10.88.0.1' netmask='255.255.255.0'><dhcp><range start='10.88.0.2' end='10.88.0.254'/></dhcp></ip>
</network>";

fn stats(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = v.iter().map(|d| ms(*d)).sum::<f64>() / v.len() as f64;
    println!(
        "{name:<12} n={:<3} min {:>7.2} ms  median {:>7.2} ms  mean {:>7.2} ms  max {:>7.2} ms",
        v.len(),
        ms(v[0]),
        ms(v[v.len() / 2]),
        mean,
        ms(v[v.len() - 1])
    );
}

fn main() {
    let iters: usize = std::env::var("ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let ns = common::Netns::new("bench");
    let root = common::root_dir();
    let layout = NetLayout::under(root.path());
    let (starts, destroys) = ns.run(|| {
        let d = NetworkDriver::new(layout).expect("driver");
        let r = d.define(NAT_NET, 0).expect("define");
        // One warm-up round (first nft run loads the nat modules).
        d.start(&r).expect("start");
        d.destroy(&r).expect("destroy");
        let (mut starts, mut destroys) = (Vec::new(), Vec::new());
        for _ in 0..iters {
            let t = Instant::now();
            d.start(&r).expect("start");
            starts.push(t.elapsed());
            let t = Instant::now();
            d.destroy(&r).expect("destroy");
            destroys.push(t.elapsed());
        }
        (starts, destroys)
    });
    stats("net-start", starts);
    stats("net-destroy", destroys);
}
