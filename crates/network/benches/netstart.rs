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
        "{name:<18} n={:<3} min {:>7.2} ms  median {:>7.2} ms  mean {:>7.2} ms  max {:>7.2} ms",
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
    components(&ns, iters);
}

/// Where the time goes: the same steps on their own.
fn components(ns: &common::Netns, iters: usize) {
    use oxvirt_network::firewall::{self, Nft, NftCommand};
    use oxvirt_network::netlink::{self, BridgeSpec};
    let root = common::root_dir();
    let conf = root.path().join("c.conf");
    let pidfile = root.path().join("c.pid");
    std::fs::write(&conf, format!("pid-file={}\nport=0\ninterface=bench0\nbind-dynamic\nexcept-interface=lo\n", pidfile.display())).unwrap();
    let rules = firewall::NetRules {
        bridge: "bench0".into(),
        mode: firewall::FwMode::Nat,
        forward_dev: None,
        ipv4: vec![("10.88.0.0".parse().unwrap(), 24)],
        ipv6: vec![],
        nat_addresses: None,
        nat_ports: (1024, 65535),
        nat_ipv6: false,
        dhcp_dns: true,
    };
    let (mut br, mut brdel, mut nft_apply, mut nft_clear, mut nft_list, mut dm_start, mut dm_stop) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    ns.run(|| {
        let nft = NftCommand::default();
        for _ in 0..iters {
            let t = Instant::now();
            netlink::create_bridge(&BridgeSpec { name: "bench0".into(), mac: None, mtu: None, stp: true, delay: 0 }).unwrap();
            netlink::add_address("bench0", "10.88.0.1".parse().unwrap(), 24).unwrap();
            netlink::set_up("bench0", true).unwrap();
            br.push(t.elapsed());
            let t = Instant::now();
            nft.apply(&firewall::script(std::slice::from_ref(&rules))).unwrap();
            nft_apply.push(t.elapsed());
            let t = Instant::now();
            nft.list_chains_json().unwrap();
            nft_list.push(t.elapsed());
            let t = Instant::now();
            let pid = oxvirt_network::dnsmasq::start("dnsmasq", "bench", &conf, &pidfile, &root.path().join("err")).unwrap();
            dm_start.push(t.elapsed());
            let t = Instant::now();
            oxvirt_network::dnsmasq::stop(pid, &conf).unwrap();
            dm_stop.push(t.elapsed());
            let t = Instant::now();
            nft.apply(&firewall::script(&[])).unwrap();
            nft_clear.push(t.elapsed());
            let t = Instant::now();
            netlink::delete_link("bench0").unwrap();
            brdel.push(t.elapsed());
        }
    });
    stats(" bridge+addr+up", br);
    stats(" nft -f (add)", nft_apply);
    stats(" nft list chains", nft_list);
    stats(" dnsmasq start", dm_start);
    stats(" dnsmasq stop", dm_stop);
    stats(" nft -f (remove)", nft_clear);
    stats(" bridge delete", brdel);
}
