//! Direct (macvtap) guest interfaces on real links, inside network namespaces the test creates.
//! The namespaces are entered by a thread (`setns`), so `/sys` still shows the test's own
//! namespace: the queue device is found through a sysfs mounted for the moment. Two namespaces
//! numbered alike give both macvtaps the same ifindex, so `/dev/tapN` can serve only one of them.
//! Needs root and `ip`.

mod common;

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use common::{veth, Netns};
use oxvirt_network::macvtap::{delete_macvtap, open_macvtap, restore_lower_mac, MacvtapError, MacvtapSpec};
use oxvirt_network::netlink::{self, MacvlanMode};
use oxvirt_xml::MacAddr;

const ETHERTYPE: [u8; 2] = [0x88, 0xb5];

fn mac(s: &str) -> MacAddr {
    s.parse().expect("mac")
}

fn spec<'a>(
    lower: &'a str,
    mode: MacvlanMode,
    m: MacAddr,
    name: Option<&'a str>,
    dir: &'a std::path::Path,
) -> MacvtapSpec<'a> {
    MacvtapSpec { lower, mode, mac: m, name, mtu: None, queues: 1, vnet_hdr: false, node_dir: dir }
}

fn send(fd: &OwnedFd, dst: MacAddr, src: MacAddr, payload: &[u8]) {
    let mut f = Vec::new();
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&ETHERTYPE);
    f.extend_from_slice(payload);
    f.resize(60.max(f.len()), 0);
    let r = nix::unistd::write(fd, &f);
    assert_eq!(r, Ok(f.len()), "write to macvtap");
}

/// Reads frames until one of ours arrives (other traffic, e.g. IPv6 neighbour discovery, is skipped).
fn receive(fd: &OwnedFd, within: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + within;
    let mut buf = vec![0u8; 2048];
    while Instant::now() < deadline {
        use nix::poll::{poll, PollFd, PollFlags};
        if poll(&mut [PollFd::new(fd.as_fd(), PollFlags::POLLIN)], 200u16).unwrap_or(0) <= 0 {
            continue;
        }
        let n = nix::unistd::read(fd.as_raw_fd(), &mut buf).unwrap_or(0);
        if n >= 14 && buf[12..14] == ETHERTYPE {
            return Some(buf[..n].to_vec());
        }
    }
    None
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root and ip (make test)")]
fn macvtaps_in_two_namespaces_exchange_frames() {
    let (a, b) = (Netns::new("mva"), Netns::new("mvb"));
    veth(&a, "mv0", &b, "mv1");
    let dir = common::root_dir();
    let (ma, mb) = (mac("52:54:00:aa:00:01"), mac("52:54:00:bb:00:01"));
    let ta = a.run(|| open_macvtap(&spec("mv0", MacvlanMode::Bridge, ma, None, dir.path())).expect("macvtap in a"));
    let tb = b.run(|| open_macvtap(&spec("mv1", MacvlanMode::Bridge, mb, None, dir.path())).expect("macvtap in b"));
    assert_eq!((ta.name.as_str(), tb.name.as_str()), ("macvtap0", "macvtap0"));
    let links = a.exec_ok(&["ip", "-d", "link", "show", "macvtap0"]);
    assert!(
        links.contains("macvtap mode bridge") && links.contains("52:54:00:aa:00:01") && links.contains("UP"),
        "{links}"
    );
    let idx = |ns: &Netns| ns.run(|| netlink::link_by_name("macvtap0").unwrap().unwrap().index);
    println!("ifindex in a: {}, in b: {}", idx(&a), idx(&b));
    // Each fd is its own namespace's device: a frame from a's guest side reaches b's and back.
    send(&ta.fds[0], mb, ma, b"hello b");
    let got = receive(&tb.fds[0], Duration::from_secs(5)).expect("frame from a at b");
    assert_eq!(&got[6..12], &ma.0);
    assert!(got[14..].starts_with(b"hello b"));
    send(&tb.fds[0], ma, mb, b"hello a");
    let got = receive(&ta.fds[0], Duration::from_secs(5)).expect("frame from b at a");
    assert!(got[14..].starts_with(b"hello a"));
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "private nodes and mounts cleaned up");

    // The link outlives the fd; deleting it is ours to do, once.
    drop(ta);
    assert!(a.exec_ok(&["ip", "link", "show"]).contains("macvtap0"));
    assert!(a.run(|| delete_macvtap("macvtap0")).unwrap());
    assert!(!a.run(|| delete_macvtap("macvtap0")).unwrap());
    assert!(!a.exec_ok(&["ip", "link", "show"]).contains("macvtap0"));
    // Not a macvtap: left alone.
    assert!(!a.run(|| delete_macvtap("mv0")).unwrap());
    assert!(a.exec_ok(&["ip", "link", "show"]).contains("mv0"));
    drop(tb);
    assert!(b.run(|| delete_macvtap("macvtap0")).unwrap());
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root and ip (make test)")]
fn names_errors_and_passthrough() {
    let (a, b) = (Netns::new("mvn"), Netns::new("mvp"));
    veth(&a, "mv0", &b, "mv1");
    a.exec_ok(&["ip", "link", "add", "pt0", "type", "veth", "peer", "name", "pt1"]);
    let dir = common::root_dir();
    let d = dir.path();
    let m = mac("52:54:00:cc:00:01");
    a.run(|| {
        // A user's name is kept; a generated-looking one is not.
        let t = open_macvtap(&spec("mv0", MacvlanMode::Vepa, m, Some("guestnic0"), d)).expect("named");
        assert_eq!(t.name, "guestnic0");
        let again = open_macvtap(&spec("mv0", MacvlanMode::Vepa, mac("52:54:00:cc:00:02"), Some("guestnic0"), d));
        assert!(matches!(again, Err(MacvtapError::Exists(ref n)) if n == "guestnic0"), "{again:?}");
        let g = open_macvtap(&spec("mv0", MacvlanMode::Private, mac("52:54:00:cc:00:03"), Some("macvtap7"), d))
            .expect("generated");
        assert_eq!(g.name, "macvtap0");
        let mq = MacvtapSpec { queues: 3, ..spec("mv0", MacvlanMode::Private, mac("52:54:00:cc:00:04"), None, d) };
        let g2 = open_macvtap(&mq).expect("next name");
        assert_eq!(g2.name, "macvtap1");
        assert_eq!(g2.fds.len(), 3, "one fd per queue");
        let small =
            MacvtapSpec { mtu: Some(1400), ..spec("mv0", MacvlanMode::Bridge, mac("52:54:00:cc:00:05"), None, d) };
        let g3 = open_macvtap(&small).expect("with an MTU");
        assert_eq!(netlink::link_by_name(&g3.name).unwrap().unwrap().mtu, 1400);
        assert!(delete_macvtap(&g3.name).unwrap());
        for n in ["guestnic0", "macvtap0", "macvtap1"] {
            assert!(delete_macvtap(n).unwrap(), "{n}");
        }
        let e = open_macvtap(&spec("eth9", MacvlanMode::Vepa, m, None, d)).unwrap_err();
        assert!(matches!(e, MacvtapError::NoLower), "{e:?}");
        assert_eq!(e.to_string(), "no such host interface");

        // Passthrough: the guest's MAC goes on the lower device (the macvtap inherits it) and the
        // lower device's own comes back after.
        let own = netlink::link_by_name("pt0").unwrap().unwrap().mac.unwrap();
        let p = open_macvtap(&spec("pt0", MacvlanMode::Passthru, m, None, d)).expect("passthrough");
        assert_eq!(p.lower_mac, Some(own));
        assert_eq!(netlink::link_by_name("pt0").unwrap().unwrap().mac, Some(m));
        assert_eq!(netlink::link_by_name(&p.name).unwrap().unwrap().mac, Some(m));
        // Only one passthrough macvtap per device: the failed second one puts nothing back wrong.
        let second = open_macvtap(&spec("pt0", MacvlanMode::Passthru, mac("52:54:00:cc:00:09"), None, d));
        assert!(second.is_err(), "{second:?}");
        assert_eq!(netlink::link_by_name("pt0").unwrap().unwrap().mac, Some(m), "first guest's MAC kept");
        assert!(delete_macvtap(&p.name).unwrap());
        restore_lower_mac("pt0", own);
        assert_eq!(netlink::link_by_name("pt0").unwrap().unwrap().mac, Some(own));
    });
    let links = a.exec_ok(&["ip", "-o", "link", "show"]);
    assert!(!links.contains("macvtap") && !links.contains("guestnic"), "{links}");
}
