//! Guest taps on the real kernel, inside a network namespace the test creates and deletes:
//! multiqueue taps (one fd per queue), names of the user's choice, taken names, and unmanaged
//! (pre-existing, persistent) taps. Needs root.

mod common;

use common::Netns;
use oxvirt_network::netlink;
use oxvirt_network::tap::{self, TapError, TapSpec};

/// The tap's `tun_flags` from sysfs (IFF_MULTI_QUEUE is 0x100, IFF_VNET_HDR 0x4000).
fn tun_flags(ns: &Netns, dev: &str) -> u32 {
    let s = ns.exec_ok(&["cat", &format!("/sys/class/net/{dev}/tun_flags")]);
    u32::from_str_radix(s.trim().trim_start_matches("0x"), 16).unwrap()
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root (make test)")]
fn multiqueue_named_and_unmanaged_taps() {
    let ns = Netns::new("taps");
    ns.exec_ok(&["ip", "link", "add", "br0", "type", "bridge"]);
    let mac = "52:54:00:aa:00:01".parse().unwrap();

    // Four queues of one generated tap, on the bridge, up, with the host-side MAC.
    let spec = TapSpec { name: None, queues: 4, vnet_hdr: true };
    let (fds, name) = ns.run(|| tap::open_tap(&spec, Some("br0"), None, mac)).unwrap();
    assert_eq!(fds.len(), 4);
    assert!(name.starts_with("vnet"), "{name}");
    let flags = tun_flags(&ns, &name);
    assert!(flags & 0x100 != 0 && flags & 0x4000 != 0, "multiqueue + vnet_hdr: {flags:#x}");
    let info = ns.run(|| netlink::link_by_name(&name)).unwrap().unwrap();
    let br = ns.run(|| netlink::link_by_name("br0")).unwrap().unwrap();
    assert_eq!((info.master, info.mac.unwrap().to_string()), (Some(br.index), "fe:54:00:aa:00:01".to_string()));
    drop(fds);
    assert!(ns.run(|| netlink::link_by_name(&name)).unwrap().is_none(), "gone with its last fd");

    // A name of the user's: used as is; while it exists, a second one is refused naming it.
    let spec = TapSpec { name: Some("mytap0".into()), queues: 1, vnet_hdr: false };
    let (fds, name) = ns.run(|| tap::open_tap(&spec, None, None, mac)).unwrap();
    assert_eq!(name, "mytap0");
    assert_eq!(tun_flags(&ns, "mytap0") & 0x100, 0, "one queue: no IFF_MULTI_QUEUE");
    let e = ns.run(|| tap::open_tap(&spec, None, None, mac)).unwrap_err();
    assert!(matches!(&e, TapError::Exists(n) if n == "mytap0"), "{e}");
    assert_eq!(e.to_string(), "the mytap0 interface already exists");
    // Any other device holding the name counts too.
    let spec_br = TapSpec { name: Some("br0".into()), ..TapSpec::default() };
    assert!(matches!(ns.run(|| tap::open_tap(&spec_br, None, None, mac)), Err(TapError::Exists(_))));
    drop(fds);

    // managed='no': a persistent tap made beforehand is attached to and outlives the fds;
    // its MAC is left alone. A missing one or a non-tap device is refused by name.
    ns.exec_ok(&["ip", "tuntap", "add", "dev", "ext0", "mode", "tap", "multi_queue"]);
    let before = ns.exec_ok(&["cat", "/sys/class/net/ext0/address"]);
    let fds = ns.run(|| tap::open_existing_tap("ext0", true, 2)).unwrap();
    assert_eq!(fds.len(), 2);
    drop(fds);
    assert!(ns.run(|| netlink::link_by_name("ext0")).unwrap().is_some(), "an unmanaged tap stays");
    assert_eq!(ns.exec_ok(&["cat", "/sys/class/net/ext0/address"]), before);
    let e = ns.run(|| tap::open_existing_tap("nosuch0", false, 1)).unwrap_err();
    assert_eq!(e.to_string(), "target dev 'nosuch0' with managed='no' does not exist");
    let e = ns.run(|| tap::open_existing_tap("br0", false, 1)).unwrap_err();
    assert!(e.to_string().contains("'br0' with managed='no' is a bridge device"), "{e}");
}
