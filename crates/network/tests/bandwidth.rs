//! `<bandwidth>` through the real `tc` on a real tap and bridge, inside a network namespace the test
//! creates and deletes. Needs root and `tc`.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::{root_dir, veth, Netns};
use oxvirt_network::bandwidth::{self, TcCommand};
use oxvirt_network::{tap, NetLayout, NetworkDriver};
use oxvirt_xml::network::{Bandwidth, BandwidthRate};

fn rate(average: u64, peak: Option<u64>, burst: Option<u64>) -> Option<BandwidthRate> {
    Some(BandwidthRate { average: Some(average), peak, burst, floor: None })
}

/// Everything `tc` shows for `dev`: qdiscs, classes, ingress filters.
fn tc_state(ns: &Netns, dev: &str) -> String {
    let q = ns.exec_ok(&["tc", "-s", "qdisc", "show", "dev", dev]);
    let c = ns.exec_ok(&["tc", "class", "show", "dev", dev]);
    let f = ns.exec_ok(&["tc", "filter", "show", "dev", dev, "parent", "ffff:"]);
    format!("{q}{c}{f}")
}

fn assert_clean(state: &str) {
    assert!(!state.contains("limit rate"), "{state}");
    assert!(!state.contains("htb") && !state.contains("ingress") && !state.contains("police"), "{state}");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root and tc (make test)")]
fn limits_on_a_tap_read_back_and_cleared() {
    let ns = Netns::new("bw");
    let tc = TcCommand::system();
    // The tap lives as long as its fd, inside the namespace.
    let (_fd, dev) = ns.run(|| tap::create_tap("bwtap%d", false).unwrap());
    ns.exec_ok(&["ip", "link", "set", &dev, "up"]);

    // Inbound: HTB on the tap's egress; 1000 KiB/s = 8 Mbit in tc's notation.
    let inbound = Bandwidth { inbound: rate(1000, Some(2000), Some(256)), ..Default::default() };
    let warnings = ns.run(|| bandwidth::apply(&tc, &dev, &inbound, false)).unwrap();
    let s = tc_state(&ns, &dev);
    assert!(s.contains("qdisc htb 1: root") && s.contains("default 0x1"), "{s}");
    assert!(s.contains("class htb 1:1 root") && s.contains("rate 8Mbit ceil 16Mbit burst 256Kb"), "{s}");
    // SFQ below the class when the kernel has it; otherwise a warning says it is missing.
    assert!(s.contains("qdisc sfq 2: parent 1:1") || warnings.iter().any(|w| w.contains("sfq")), "{s} {warnings:?}");
    println!("inbound on {dev}: warnings {warnings:?}\n{s}");

    // Both directions: outbound is policed on the tap's ingress, by tc's police action where the
    // kernel has act_police, else by our nftables table for the device.
    let both =
        Bandwidth { inbound: rate(1000, None, None), outbound: rate(500, None, Some(100)), ..Default::default() };
    ns.run(|| bandwidth::apply(&tc, &dev, &both, false)).unwrap();
    let s = tc_state(&ns, &dev);
    assert!(s.contains("rate 8Mbit ceil 8Mbit"), "{s}");
    let table = bandwidth::nft_table(&dev);
    if s.contains("police") {
        assert!(s.contains("qdisc ingress ffff:") && s.contains("rate 4Mbit burst 100Kb") && s.contains("drop"), "{s}");
        println!("inbound+outbound on {dev} (tc police):\n{s}");
    } else {
        assert!(!s.contains("qdisc ingress"), "no ingress qdisc left from the police attempt:\n{s}");
        let t = ns.exec_ok(&["nft", "list", "table", "netdev", &table]);
        assert!(t.contains(&format!("hook ingress device \"{dev}\"")), "{t}");
        assert!(t.contains("limit rate over 500000 bytes/second") && t.contains("drop"), "{t}");
        println!("inbound+outbound on {dev} (nftables):\n{s}{t}");
    }
    // Re-applying is idempotent: still one table, one rule.
    ns.run(|| bandwidth::apply(&tc, &dev, &both, false)).unwrap();
    let all = ns.exec_ok(&["nft", "list", "ruleset"]);
    assert!(all.matches("limit rate").count() <= 1 && all.matches("table netdev").count() <= 1, "{all}");
    ns.run(|| bandwidth::clear(&tc, &dev)).unwrap();
    assert_clean(&tc_state(&ns, &dev));
    assert!(!ns.exec_ok(&["nft", "list", "tables"]).contains("oxvirt"), "nft table left");
    // Clearing again (nothing there) and clearing a device that is gone are fine.
    ns.run(|| bandwidth::clear(&tc, &dev)).unwrap();
    ns.run(|| bandwidth::clear(&tc, "bwnosuch0")).unwrap();
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root and tc (make test)")]
fn network_bandwidth_on_its_bridge() {
    let ns = Netns::new("bwn");
    let root = root_dir();
    let layout = NetLayout::under(root.path());
    let d = ns.run(|| NetworkDriver::new(layout).unwrap());
    let xml = "<network><name>bwnet</name><bridge name='bwbr0'/>\
               <bandwidth><inbound average='1000' peak='3000' burst='64'/></bandwidth></network>";
    let (r, report) = ns.run(|| d.create_xml(xml, 0)).unwrap();
    let s = tc_state(&ns, "bwbr0");
    assert!(s.contains("qdisc htb 1: root") && s.contains("default 0x2"), "{s}");
    assert!(s.contains("class htb 1:1 root rate 8Mbit ceil 24Mbit"), "{s}");
    assert!(s.contains("class htb 1:2 parent 1:1") && s.contains("rate 8Mbit ceil 24Mbit burst 64Kb"), "{s}");
    println!("network bridge: warnings {:?}\n{s}", report.warnings);

    // A guest tap with its own limit, set while the driver creates it.
    let bw = Bandwidth { inbound: rate(100, None, None), ..Default::default() };
    let t = ns
        .run(|| {
            d.attach_guest_interface(
                "bwnet",
                "52:54:00:aa:bb:cc".parse().unwrap(),
                &oxvirt_network::TapSpec { vnet_hdr: true, ..Default::default() },
                Some(&bw),
            )
        })
        .unwrap();
    let s = tc_state(&ns, &t.ifname);
    assert!(s.contains("class htb 1:1 root") && s.contains("rate 800Kbit"), "{s}");
    drop(t);
    ns.run(|| d.destroy(&r)).unwrap();
}

/// Bytes per second a TCP stream from `a` (10.98.0.1) to `b` (10.98.0.2) carries for `total` bytes,
/// timed from when the first `skip` bytes are in (a policer's full bucket passes at once).
fn throughput(a: &Netns, b: &Netns, total: usize, skip: usize) -> f64 {
    let listener = b.run(|| TcpListener::bind("10.98.0.2:7200").unwrap());
    std::thread::scope(|s| {
        let server = s.spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 65536];
            let mut got = 0;
            let mut start = None;
            while got < total {
                let n = c.read(&mut buf).unwrap();
                assert!(n > 0, "stream ended after {got} bytes");
                got += n;
                if got >= skip && start.is_none() {
                    start = Some((Instant::now(), got));
                }
            }
            let (t0, base) = start.unwrap_or((Instant::now(), got));
            (got - base) as f64 / t0.elapsed().as_secs_f64()
        });
        a.run(|| {
            let mut c = TcpStream::connect("10.98.0.2:7200").unwrap();
            c.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
            let chunk = vec![0x5au8; 65536];
            let mut sent = 0;
            while sent < total {
                let n = (total - sent).min(chunk.len());
                c.write_all(&chunk[..n]).unwrap();
                sent += n;
            }
        });
        server.join().unwrap()
    })
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root and tc (make test)")]
fn inbound_limit_holds_on_real_traffic() {
    let a = Netns::new("bwa");
    let b = Netns::new("bwb");
    veth(&a, "bwv0", &b, "bwv1");
    a.exec_ok(&["ip", "addr", "add", "10.98.0.1/24", "dev", "bwv0"]);
    b.exec_ok(&["ip", "addr", "add", "10.98.0.2/24", "dev", "bwv1"]);
    let unlimited = throughput(&a, &b, 8 << 20, 0);
    // bwv0's egress is what a tap's egress is: traffic to the guest, the <inbound> direction.
    // 500 "KiB/s" is tc's 500kbps = 500,000 bytes/s.
    let bw = Bandwidth { inbound: rate(500, None, None), ..Default::default() };
    a.run(|| bandwidth::apply(&TcCommand::system(), "bwv0", &bw, false)).unwrap();
    let limited = throughput(&a, &b, 1_500_000, 0);
    println!("unlimited {:.1} MB/s, limited to 500kbps: {:.0} kB/s", unlimited / 1e6, limited / 1e3);
    assert!(limited < 500_000.0 * 1.25, "limit exceeded: {limited:.0} B/s");
    assert!(limited > 500_000.0 * 0.5, "far below the limit: {limited:.0} B/s");
    assert!(unlimited > 4.0 * limited, "unlimited {unlimited:.0} B/s vs limited {limited:.0} B/s");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root and tc (make test)")]
fn outbound_limit_holds_on_real_traffic() {
    let a = Netns::new("bwoa");
    let b = Netns::new("bwob");
    veth(&a, "bwv0", &b, "bwv1");
    a.exec_ok(&["ip", "addr", "add", "10.98.0.1/24", "dev", "bwv0"]);
    b.exec_ok(&["ip", "addr", "add", "10.98.0.2/24", "dev", "bwv1"]);
    let unlimited = throughput(&a, &b, 8 << 20, 0);
    // Traffic entering bwv0's peer is what enters a tap from its guest: the <outbound> direction.
    let bw = Bandwidth { outbound: rate(500, None, None), ..Default::default() };
    let tc = TcCommand::system();
    b.run(|| bandwidth::apply(&tc, "bwv1", &bw, false)).unwrap();
    // The bucket (a second's worth by default) passes at once; the rate is what follows it.
    let limited = throughput(&a, &b, 2_000_000, 600_000);
    println!("unlimited {:.1} MB/s, outbound limited to 500kbps: {:.0} kB/s", unlimited / 1e6, limited / 1e3);
    assert!(limited < 500_000.0 * 1.25, "limit exceeded: {limited:.0} B/s");
    assert!(limited > 500_000.0 * 0.5, "far below the limit: {limited:.0} B/s");
    assert!(unlimited > 4.0 * limited, "unlimited {unlimited:.0} B/s vs limited {limited:.0} B/s");
    // The device going does not take the nftables table: forgetting does.
    b.exec_ok(&["ip", "link", "del", "bwv1"]);
    b.run(|| bandwidth::forget(&tc, "bwv1")).unwrap();
    assert!(!b.exec_ok(&["nft", "list", "tables"]).contains("oxvirt"), "nft table left");
}
