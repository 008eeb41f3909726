//! net-start and net-destroy of a NAT network with DHCP, inside a network namespace created for the
//! run (bridge, addresses, nftables table, ip_forward, dnsmasq — the real parts), against libvirt
//! 9.0 doing the same with the same definition in the same run: a root libvirtd with only its
//! network driver, in a network namespace and a private mount namespace of its own
//! (oxvirt-bench-libvirt), driven through libvirt-python (`virNetworkCreate`/`virNetworkDestroy`
//! of the defined network). Rounds alternate which of the two goes first, so drifting machine load
//! hits both alike. `ITERS` sets the rounds (default 20). oxvirt is called in-process; libvirt's
//! figure includes one RPC round trip (well under a millisecond).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use oxvirt_bench_libvirt::{pct, Kind, Libvirtd, PyLibvirt};
use oxvirt_network::{NetLayout, NetworkDriver};

const NAT_NET: &str = "<network><name>bench</name><forward mode='nat'/>
  <ip address='10.88.0.1' netmask='255.255.255.0'><dhcp><range start='10.88.0.2' end='10.88.0.254'/></dhcp></ip>
</network>";

/// Prints one row and returns the median in ms.
fn stats(name: &str, v: &[Duration]) -> f64 {
    let ms: Vec<f64> = v.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    let mean = ms.iter().sum::<f64>() / ms.len() as f64;
    let p50 = pct(&ms, 50.0);
    println!(
        "{name:<20} n={:<3} min {:>7.2} ms  p50 {:>7.2} ms  p90 {:>7.2} ms  mean {:>7.2} ms  max {:>7.2} ms",
        ms.len(),
        pct(&ms, 0.0),
        p50,
        pct(&ms, 90.0),
        mean,
        pct(&ms, 100.0)
    );
    p50
}

/// libvirtd in its sandbox with the network defined; `Err` says why the comparison is skipped.
fn libvirt(scratch: &std::path::Path) -> Result<(Libvirtd, PyLibvirt), String> {
    let lv = Libvirtd::system_in_netns("netbench")?;
    let mut py = PyLibvirt::open(&lv.uri("network"), Kind::Network, Duration::from_secs(60))?;
    py.define(NAT_NET, &scratch.join("libvirt-net.xml"))?;
    Ok((lv, py))
}

#[derive(Default)]
struct Times {
    start: Vec<Duration>,
    destroy: Vec<Duration>,
}

fn main() {
    let iters: usize = std::env::var("ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let ns = common::Netns::new("bench");
    let root = common::root_dir();
    let layout = NetLayout::under(root.path());
    let mut lv = match libvirt(root.path()) {
        Ok(lv) => Some(lv),
        Err(why) => {
            println!("libvirt comparison skipped: {why}");
            None
        }
    };
    let (ours, theirs) = ns.run(|| {
        let d = NetworkDriver::new(layout).expect("driver");
        let r = d.define(NAT_NET, 0).expect("define");
        let (mut ours, mut theirs) = (Times::default(), Times::default());
        let mut lv_round = |lv: &mut Option<(Libvirtd, PyLibvirt)>, record: bool| {
            let Some((_, py)) = lv.as_mut() else { return };
            match py.create("bench").and_then(|s| Ok((s, py.destroy("bench")?))) {
                Ok((s, t)) if record => {
                    theirs.start.push(s);
                    theirs.destroy.push(t);
                }
                Ok(_) => {}
                Err(e) => {
                    println!("libvirt comparison stopped: {e}");
                    *lv = None;
                }
            }
        };
        // One warm-up round each (the first nft/iptables run loads the nat modules).
        d.start(&r).expect("start");
        d.destroy(&r).expect("destroy");
        lv_round(&mut lv, false);
        for i in 0..iters {
            if i % 2 == 1 {
                lv_round(&mut lv, true);
            }
            let t = Instant::now();
            d.start(&r).expect("start");
            ours.start.push(t.elapsed());
            let t = Instant::now();
            d.destroy(&r).expect("destroy");
            ours.destroy.push(t.elapsed());
            if i % 2 == 0 {
                lv_round(&mut lv, true);
            }
        }
        (ours, theirs)
    });
    drop(lv);
    println!("NAT + DHCP network, {iters} rounds:");
    let os = stats("oxvirt net-start", &ours.start);
    let od = stats("oxvirt net-destroy", &ours.destroy);
    if !theirs.start.is_empty() {
        let ls = stats("libvirt net-start", &theirs.start);
        let ld = stats("libvirt net-destroy", &theirs.destroy);
        println!(
            "oxvirt / libvirt 9.0 (p50, below 1 = oxvirt faster): net-start {:.2}x, net-destroy {:.2}x",
            os / ls,
            od / ld
        );
    }
    println!("where oxvirt's time goes:");
    components(&ns, iters);
}

/// Where the time goes: the same steps on their own.
fn components(ns: &common::Netns, iters: usize) {
    use oxvirt_network::firewall::{self, Nft, NftCommand};
    use oxvirt_network::netlink::{self, BridgeSpec};
    let root = common::root_dir();
    let conf = root.path().join("c.conf");
    let pidfile = root.path().join("c.pid");
    std::fs::write(
        &conf,
        format!("pid-file={}\nport=0\ninterface=bench0\nbind-dynamic\nexcept-interface=lo\n", pidfile.display()),
    )
    .unwrap();
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
            netlink::create_bridge(&BridgeSpec { name: "bench0".into(), mac: None, mtu: None, stp: true, delay: 0 })
                .unwrap();
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
            let pid =
                oxvirt_network::dnsmasq::start("dnsmasq", "bench", &conf, &pidfile, &root.path().join("err")).unwrap();
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
    stats(" bridge+addr+up", &br);
    stats(" nft -f (add)", &nft_apply);
    stats(" nft list chains", &nft_list);
    stats(" dnsmasq start", &dm_start);
    stats(" dnsmasq stop", &dm_stop);
    stats(" nft -f (remove)", &nft_clear);
    stats(" bridge delete", &brdel);
}
