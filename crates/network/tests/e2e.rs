//! End-to-end: real bridges, dnsmasq, nftables and DHCP clients, each test inside network
//! namespaces it creates and deletes. "host" runs the driver; "up" is an upstream network behind a
//! veth with a TCP server that answers with the peer address it sees; "guest" is a veth plugged into
//! the network's bridge standing in for a VM, configured by busybox udhcpc from our dnsmasq.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::{root_dir, veth, Netns};
use oxvirt_network::{netlink, NetLayout, NetworkDriver, UpdateCommand};

const SERVER: &str = "203.0.113.2:8080";

const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    if [ -n "$router" ]; then ip route replace default via "${router%% *}" dev "$interface"; fi
    ;;
esac
exit 0
"#;

struct World {
    host: Netns,
    up: Netns,
    guest: Netns,
    root: tempfile::TempDir,
    listener: Option<std::thread::JoinHandle<()>>,
}

impl World {
    /// host <-> up over 203.0.113.0/24, a TCP server in "up", and a guest namespace.
    fn new(tag: &str) -> World {
        let host = Netns::new(&format!("{tag}h"));
        let up = Netns::new(&format!("{tag}u"));
        let guest = Netns::new(&format!("{tag}g"));
        veth(&host, "up0", &up, "eth0");
        host.exec_ok(&["ip", "addr", "add", "203.0.113.1/24", "dev", "up0"]);
        up.exec_ok(&["ip", "addr", "add", "203.0.113.2/24", "dev", "eth0"]);
        let l = up.run(|| TcpListener::bind(SERVER).unwrap());
        let server = std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let peer = s.peer_addr().map(|p| p.ip().to_string()).unwrap_or_default();
                let _ = s.write_all(peer.as_bytes());
            }
        });
        World { host, up, guest, root: root_dir(), listener: Some(server) }
    }

    fn driver(&self) -> NetworkDriver {
        let layout = NetLayout::under(self.root.path());
        self.host.run(|| NetworkDriver::new(layout).unwrap())
    }

    /// Plugs the guest namespace into `bridge` and runs udhcpc there; returns the leased address.
    fn plug_guest(&self, bridge: &str) -> String {
        veth(&self.host, "vg0", &self.guest, "g0");
        self.host.exec_ok(&["ip", "link", "set", "vg0", "master", bridge]);
        let script = self.root.path().join("udhcpc.sh");
        std::fs::write(&script, UDHCPC_SCRIPT).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let s = script.to_string_lossy().into_owned();
        self.guest.exec_ok(&[
            "busybox",
            "udhcpc",
            "-i",
            "g0",
            "-f",
            "-q",
            "-n",
            "-t",
            "10",
            "-T",
            "1",
            "-s",
            &s,
            "-x",
            "hostname:guest1",
        ]);
        let out = self.guest.exec_ok(&["ip", "-4", "-o", "addr", "show", "dev", "g0"]);
        out.split_whitespace()
            .skip_while(|w| *w != "inet")
            .nth(1)
            .and_then(|a| a.split('/').next())
            .unwrap_or_else(|| panic!("no address on g0: {out}"))
            .to_string()
    }

    /// Connects from the guest to the upstream server; the peer address it saw, or the error.
    fn guest_connect(&self) -> Result<String, std::io::Error> {
        self.guest.run(|| {
            let addr: SocketAddr = SERVER.parse().unwrap();
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
            s.set_read_timeout(Some(Duration::from_secs(3)))?;
            let mut seen = String::new();
            s.read_to_string(&mut seen)?;
            Ok(seen)
        })
    }

    /// Nothing of the network is left in the host namespace.
    fn assert_clean(&self, bridge: &str, dnsmasq_pid: Option<u32>) {
        assert!(self.host.run(|| netlink::link_by_name(bridge)).unwrap().is_none(), "bridge {bridge} left behind");
        if let Some(pid) = dnsmasq_pid {
            assert!(!alive(pid), "dnsmasq {pid} still running");
        }
        let rules = self.host.exec_ok(&["nft", "list", "ruleset"]);
        assert!(!rules.contains("oxvirt"), "nft rules left behind:\n{rules}");
    }
}

/// A process exists and is not a zombie waiting for init to reap it.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| !rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

impl Drop for World {
    fn drop(&mut self) {
        // The listener thread ends when the namespace (and its socket's interface) goes; don't wait.
        drop(self.listener.take());
    }
}

const NAT_NET: &str = "<network><name>nat1</name><forward mode='nat'/>
  <ip address='10.77.0.1' netmask='255.255.255.0'><dhcp><range start='10.77.0.10' end='10.77.0.50'/></dhcp></ip>
</network>";

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root, nft, dnsmasq and busybox (make test)")]
fn nat_network_reaches_upstream_through_masquerade() {
    let w = World::new("n");
    let d = w.driver();
    let r = w.host.run(|| d.define(NAT_NET, 0)).unwrap();
    let rep = w.host.run(|| d.start(&r)).unwrap();
    assert_eq!(rep.bridge.as_deref(), Some("virbr0"));
    assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);
    let rules = w.host.exec_ok(&["nft", "list", "table", "ip", "oxvirt"]);
    assert!(rules.contains("masquerade"), "{rules}");
    assert_eq!(w.host.exec_ok(&["sysctl", "-n", "net.ipv4.ip_forward"]).trim(), "1");

    let ip = w.plug_guest("virbr0");
    assert!(ip.starts_with("10.77.0."), "leased {ip}");
    // The upstream has no route back to 10.77.0.0/24: the answer proves NAT, and shows the host's address.
    assert_eq!(w.guest_connect().unwrap(), "203.0.113.1");
    let leases = d.dhcp_leases(&r, None).unwrap();
    assert_eq!(leases.len(), 1, "{leases:?}");
    assert_eq!(leases[0].ipaddr, ip);
    assert_eq!((leases[0].prefix, leases[0].hostname.as_deref()), (24, Some("guest1")));

    // dumpxml shows the generated bridge and MAC, also written back to the config.
    let live = d.xml(&r, 0).unwrap();
    assert!(
        live.contains("<bridge name='virbr0' stp='on' delay='0'/>") && live.contains("<mac address='52:54:00:"),
        "{live}"
    );
    assert!(d.xml(&r, oxvirt_network::driver::XML_INACTIVE).unwrap().contains("virbr0"));

    let pid = d.runtime("nat1").unwrap().unwrap().dnsmasq_pid;
    w.host.run(|| d.destroy(&r)).unwrap();
    w.assert_clean("virbr0", pid);
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root, nft, dnsmasq and busybox (make test)")]
fn isolated_network_blocks_forwarding() {
    let w = World::new("i");
    let d = w.driver();
    let xml = "<network><name>iso</name>
      <ip address='10.78.0.1' prefix='24'><dhcp><range start='10.78.0.10' end='10.78.0.20'/></dhcp></ip></network>";
    let (r, _) = w.host.run(|| d.create_xml(xml, 0)).unwrap();
    // Forwarding on in the host, so only our rules stand between the guest and upstream.
    w.host.exec_ok(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    w.up.exec_ok(&["ip", "route", "add", "10.78.0.0/24", "via", "203.0.113.1"]);
    let ip = w.plug_guest("virbr0");
    assert!(ip.starts_with("10.78.0."));
    let routes = w.guest.exec_ok(&["ip", "route"]);
    assert!(!routes.contains("default"), "isolated DHCP gives no default route: {routes}");
    w.guest.exec_ok(&["ip", "route", "add", "default", "via", "10.78.0.1"]);
    let e = w.guest_connect().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "rejected by the oxvirt forward chain: {e}");
    // The host itself stays reachable (DNS on the bridge address).
    let dns = w.guest.exec(&["busybox", "nslookup", "virbr0.invalid", "10.78.0.1"]);
    assert!(
        dns.stdout.contains("10.78.0.1") || dns.stderr.contains("NXDOMAIN") || dns.stdout.contains("NXDOMAIN"),
        "{dns:?}"
    );
    let pid = d.runtime("iso").unwrap().unwrap().dnsmasq_pid;
    w.host.run(|| d.destroy(&r)).unwrap();
    w.assert_clean("virbr0", pid);
    assert!(d.list(0).unwrap().is_empty(), "transient network gone");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root, nft, dnsmasq and busybox (make test)")]
fn routed_network_routes_without_nat() {
    let w = World::new("r");
    let d = w.driver();
    let xml = "<network><name>rt</name><forward mode='route'/><bridge name='virbr7'/>
      <ip address='10.79.0.1' prefix='24'><dhcp><range start='10.79.0.10' end='10.79.0.20'/></dhcp></ip></network>";
    let (r, _) = w.host.run(|| d.create_xml(xml, 0)).unwrap();
    w.up.exec_ok(&["ip", "route", "add", "10.79.0.0/24", "via", "203.0.113.1"]);
    let ip = w.plug_guest("virbr7");
    // The server sees the guest's own address: routed, not translated.
    assert_eq!(w.guest_connect().unwrap(), ip);
    let rules = w.host.exec_ok(&["nft", "list", "table", "ip", "oxvirt"]);
    assert!(!rules.contains("masquerade"), "{rules}");
    let pid = d.runtime("rt").unwrap().unwrap().dnsmasq_pid;
    w.host.run(|| d.destroy(&r)).unwrap();
    w.assert_clean("virbr7", pid);
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root, nft, dnsmasq and busybox (make test)")]
fn restart_reattaches_and_net_update_reaches_dnsmasq() {
    let w = World::new("a");
    let d = w.driver();
    let r = w.host.run(|| d.define(NAT_NET, 0)).unwrap();
    w.host.run(|| d.start(&r)).unwrap();
    let rules_before = w.host.exec_ok(&["nft", "list", "ruleset"]);
    // A new driver (a later CLI call, a restarted daemon) re-attaches without touching the rules.
    drop(d);
    let d = w.driver();
    assert!(d.is_active(&r).unwrap());
    assert_eq!(w.host.exec_ok(&["nft", "list", "ruleset"]), rules_before);
    // dnsmasq killed and our table flushed behind our back: both restored, nothing duplicated.
    let pid = d.runtime("nat1").unwrap().unwrap().dnsmasq_pid.unwrap();
    w.host.exec_ok(&["kill", &pid.to_string()]);
    w.host.exec_ok(&["nft", "delete", "table", "ip", "oxvirt"]);
    std::thread::sleep(Duration::from_millis(100));
    let d = w.driver();
    let pid2 = d.runtime("nat1").unwrap().unwrap().dnsmasq_pid.unwrap();
    assert_ne!(pid, pid2);
    assert!(alive(pid2));
    assert_eq!(w.host.exec_ok(&["nft", "list", "ruleset"]), rules_before);

    // A static host added live: dnsmasq re-reads its hosts file and the guest gets that address.
    let mac = w.guest_mac_after_plug("virbr0");
    let host = format!("<host mac='{mac}' name='fixed' ip='10.77.0.99'/>");
    w.host
        .run(|| d.update_dhcp_host(&r, UpdateCommand::AddLast, &host, oxvirt_network::driver::UPDATE_AFFECT_LIVE))
        .unwrap();
    assert_eq!(w.dhcp_again(), "10.77.0.99");

    // A guest TAP: enslaved to the bridge while the fd lives, gone with it.
    let tap = w
        .host
        .run(|| {
            d.attach_guest_interface(
                "nat1",
                "52:54:00:12:34:56".parse().unwrap(),
                &oxvirt_network::TapSpec { vnet_hdr: true, ..Default::default() },
                None,
            )
        })
        .unwrap();
    let info = w.host.run(|| netlink::link_by_name(&tap.ifname)).unwrap().unwrap();
    let br = w.host.run(|| netlink::link_by_name("virbr0")).unwrap().unwrap();
    assert_eq!(info.master, Some(br.index));
    assert_eq!(info.mac.unwrap().to_string(), "fe:54:00:12:34:56");
    assert!(d.xml(&r, 0).unwrap().contains("connections='1'"));
    let name = tap.ifname.clone();
    drop(tap);
    assert!(w.host.run(|| netlink::link_by_name(&name)).unwrap().is_none(), "tap gone with its fd");
    w.host.run(|| d.detach_guest_interface("nat1", &name)).unwrap();

    w.host.run(|| d.destroy(&r)).unwrap();
    w.assert_clean("virbr0", Some(pid2));
}

impl World {
    fn guest_mac_after_plug(&self, bridge: &str) -> String {
        self.plug_guest(bridge);
        let out = self.guest.exec_ok(&["cat", "/sys/class/net/g0/address"]);
        out.trim().to_string()
    }

    fn dhcp_again(&self) -> String {
        self.guest.exec_ok(&["ip", "addr", "flush", "dev", "g0"]);
        let s = self.root.path().join("udhcpc.sh").to_string_lossy().into_owned();
        self.guest.exec_ok(&["busybox", "udhcpc", "-i", "g0", "-f", "-q", "-n", "-t", "10", "-T", "1", "-s", &s]);
        let out = self.guest.exec_ok(&["ip", "-4", "-o", "addr", "show", "dev", "g0"]);
        out.split_whitespace()
            .skip_while(|w| *w != "inet")
            .nth(1)
            .and_then(|a| a.split('/').next())
            .unwrap_or("")
            .to_string()
    }
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root, nft, dnsmasq and busybox (make test)")]
fn foreign_forward_drop_policy_is_reported() {
    let host = Netns::new("d");
    // What Docker's iptables-nft leaves: table ip filter, chain FORWARD, policy drop.
    host.exec_ok(&["nft", "add table ip filter"]);
    host.exec_ok(&["nft", "add chain ip filter FORWARD { type filter hook forward priority 0; policy drop; }"]);
    let root = root_dir();
    let layout = NetLayout::under(root.path());
    let d = host.run(|| NetworkDriver::new(layout)).unwrap();
    let (r, rep) = host.run(|| d.create_xml(NAT_NET, 0)).unwrap();
    assert_eq!(rep.warnings.len(), 1, "{:?}", rep.warnings);
    assert!(rep.warnings[0].contains("'ip filter'") && rep.warnings[0].contains("FORWARD"), "{}", rep.warnings[0]);
    assert_eq!(d.warnings(&r).unwrap(), rep.warnings);
    host.run(|| d.destroy(&r)).unwrap();
    // Their table is untouched.
    assert!(host.exec_ok(&["nft", "list", "table", "ip", "filter"]).contains("policy drop"));
}

/// Every forward mode's rules and dnsmasq options are accepted by the real nft and dnsmasq, several
/// networks coexist in the oxvirt tables, and destroying them all leaves nothing.
#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root, nft, dnsmasq and busybox (make test)")]
fn all_modes_coexist_and_clean_up() {
    let host = Netns::new("m");
    host.exec_ok(&["ip", "link", "add", "uplink0", "type", "veth", "peer", "name", "uplink0p"]);
    host.exec_ok(&["ip", "link", "set", "uplink0", "up"]);
    let root = root_dir();
    let layout = NetLayout::under(root.path());
    let d = host.run(|| NetworkDriver::new(layout)).unwrap();
    let nets = [
        "<network><name>natfull</name>
          <forward mode='nat' dev='uplink0'><nat ipv6='yes'><address start='192.0.2.10' end='192.0.2.20'/><port start='2000' end='3000'/></nat></forward>
          <mtu size='1400'/><domain name='example.test' localOnly='yes'/>
          <dns><txt name='t' value='v'/><host ip='10.90.0.5'><hostname>h5</hostname></host><forwarder addr='192.0.2.53'/></dns>
          <ip address='10.90.0.1' prefix='24' localPtr='yes'><dhcp><range start='10.90.0.10' end='10.90.0.20'><lease expiry='1' unit='hours'/></range>
            <host mac='52:54:00:00:00:05' name='h5' ip='10.90.0.5'/></dhcp></ip>
          <ip family='ipv6' address='fd00:90::1' prefix='64'><dhcp><range start='fd00:90::100' end='fd00:90::1ff'/></dhcp></ip>
          <route address='10.200.0.0' prefix='16' gateway='10.90.0.2'/>
        </network>",
        "<network><name>rt</name><forward mode='route'/><ip address='10.91.0.1' prefix='24'/>
          <ip family='ipv6' address='fd00:91::1' prefix='64'/></network>",
        "<network><name>open</name><forward mode='open'/><ip address='10.92.0.1' prefix='24'/></network>",
        "<network><name>iso</name><dns enable='no'/><ip address='10.93.0.1' prefix='24'/></network>",
    ];
    let mut refs = vec![];
    for xml in nets {
        let (r, rep) = host.run(|| d.create_xml(xml, 0)).unwrap_or_else(|e| panic!("{e}"));
        assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);
        refs.push(r);
    }
    let v4 = host.exec_ok(&["nft", "list", "table", "ip", "oxvirt"]);
    assert_eq!(v4.matches("chain fwd_").count(), 3, "open has no rules:\n{v4}");
    assert!(v4.contains("snat to 192.0.2.10-192.0.2.20:2000-3000"), "{v4}");
    let v6 = host.exec_ok(&["nft", "list", "table", "ip6", "oxvirt"]);
    assert!(v6.contains("masquerade") && v6.matches("chain fwd_").count() == 2, "{v6}");
    let routes = host.exec_ok(&["ip", "route"]);
    assert!(routes.contains("10.200.0.0/16 via 10.90.0.2"), "{routes}");
    let links = host.exec_ok(&["ip", "-o", "link"]);
    assert!(links.contains("virbr0:") && links.contains("mtu 1400"), "{links}");
    let pids: Vec<u32> =
        ["natfull", "rt", "open"].iter().map(|n| d.runtime(n).unwrap().unwrap().dnsmasq_pid.unwrap()).collect();
    assert!(pids.iter().all(|p| alive(*p)));
    assert_eq!(d.runtime("iso").unwrap().unwrap().dnsmasq_pid, None, "no DNS, no DHCP, no IPv6: no dnsmasq");
    for r in &refs {
        host.run(|| d.destroy(r)).unwrap();
    }
    assert!(pids.iter().all(|p| !alive(*p)));
    assert!(!host.exec_ok(&["nft", "list", "ruleset"]).contains("oxvirt"));
    assert!(!host.exec_ok(&["ip", "-o", "link"]).contains("virbr"));
}

/// The rtnetlink primitives against the kernel, compared with what `ip` reports.
#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root, nft, dnsmasq and busybox (make test)")]
fn netlink_primitives() {
    use oxvirt_network::netlink::BridgeSpec;
    let ns = Netns::new("l");
    ns.run(|| {
        let mac = "52:54:00:aa:bb:01".parse().unwrap();
        netlink::create_bridge(&BridgeSpec {
            name: "brx".into(),
            mac: Some(mac),
            mtu: Some(1400),
            stp: false,
            delay: 3,
        })
        .unwrap();
        let e = netlink::create_bridge(&BridgeSpec { name: "brx".into(), mac: None, mtu: None, stp: false, delay: 0 })
            .unwrap_err();
        assert_eq!(e.errno(), Some(libc::EEXIST));
        netlink::create_veth("va", "vb").unwrap();
        netlink::set_master("va", Some("brx")).unwrap();
        netlink::set_mtu("va", 1400).unwrap();
        netlink::set_mac("vb", "52:54:00:aa:bb:02".parse().unwrap()).unwrap();
        netlink::set_up("va", true).unwrap();
        netlink::set_up("brx", true).unwrap();
        netlink::add_address("brx", "10.5.0.1".parse().unwrap(), 24).unwrap();
        netlink::add_address("brx", "fd05::1".parse().unwrap(), 64).unwrap();
        let br = netlink::link_by_name("brx").unwrap().unwrap();
        let va = netlink::link_by_name("va").unwrap().unwrap();
        assert_eq!((br.kind.as_deref(), br.mtu, br.mac, br.up), (Some("bridge"), 1400, Some(mac), true));
        assert_eq!((va.kind.as_deref(), va.master, va.mtu), (Some("veth"), Some(br.index), 1400));
        let names: Vec<String> = netlink::links().unwrap().into_iter().map(|l| l.name).collect();
        for n in ["lo", "brx", "va", "vb"] {
            assert!(names.iter().any(|x| x == n), "{names:?}");
        }
        netlink::set_master("va", None).unwrap();
        assert_eq!(netlink::link_by_name("va").unwrap().unwrap().master, None);
    });
    let ip = ns.exec_ok(&["ip", "-d", "addr", "show", "brx"]);
    assert!(ip.contains("inet 10.5.0.1/24 brd 10.5.0.255") && ip.contains("inet6 fd05::1/64"), "{ip}");
    assert!(ip.contains("forward_delay 300") && ip.contains("stp_state 0"), "{ip}");
    assert!(ns.exec_ok(&["ip", "link", "show", "vb"]).contains("52:54:00:aa:bb:02"));
    ns.run(|| {
        netlink::delete_link("va").unwrap();
        netlink::delete_link("brx").unwrap();
        assert!(netlink::link_by_name("brx").unwrap().is_none());
        assert!(matches!(netlink::delete_link("brx"), Err(netlink::NetlinkError::NoSuchLink(_))));
    });
}
