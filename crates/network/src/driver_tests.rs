use super::*;
use crate::host::fake::Fake;

fn virtio() -> TapSpec {
    TapSpec { vnet_hdr: true, ..TapSpec::default() }
}

const NAT: &str = "<network><name>default</name><forward mode='nat'/>
  <ip address='192.168.122.1' netmask='255.255.255.0'><dhcp><range start='192.168.122.2' end='192.168.122.254'/></dhcp></ip>
</network>";

fn setup() -> (tempfile::TempDir, Fake, NetworkDriver) {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::default();
    let d = NetworkDriver::with_host(NetLayout::under(dir.path()), fake.host()).unwrap();
    (dir, fake, d)
}

fn last_script(f: &Fake) -> String {
    f.state().nft_scripts.last().cloned().unwrap_or_default()
}

#[test]
fn define_generates_bridge_and_mac_like_libvirt() {
    let (_dir, fake, d) = setup();
    fake.add_link("virbr0", "bridge"); // someone else's
    let r = d.define(NAT, 0).unwrap();
    assert_eq!(d.bridge_name(&r).unwrap(), "virbr1");
    let cfg = std::fs::read_to_string(d.layout().config_file("default")).unwrap();
    assert!(cfg.contains("<bridge name='virbr1' stp='on' delay='0'/>"), "{cfg}");
    assert!(cfg.contains("<mac address='52:54:00:"), "{cfg}");
    // Redefining (same uuid) keeps the generated bridge and MAC.
    let again = NAT.replace("</name>", &format!("</name><uuid>{}</uuid>", r.uuid));
    d.define(&again, 0).unwrap();
    assert_eq!(std::fs::read_to_string(d.layout().config_file("default")).unwrap(), cfg);
    let r2 = d.define("<network><name>other</name></network>", 0).unwrap();
    assert_eq!(d.bridge_name(&r2).unwrap(), "virbr2");
    let e = d.define("<network><name>third</name><bridge name='virbr2'/></network>", 0).unwrap_err();
    assert!(e.message.contains("bridge name 'virbr2' already in use"), "{e}");
    let e = d.define("<network><name>bad</name><bridge name='a\"b'/></network>", 0).unwrap_err();
    assert!(e.message.contains("not a valid interface name"), "{e}");
    assert_eq!(d.list(0).unwrap().len(), 2);
    assert!(d.lookup_by_name("nope").unwrap_err().message.starts_with("Network not found"));
}

#[test]
fn nat_start_and_destroy_leave_nothing() {
    let (_dir, fake, d) = setup();
    let r = d.define(NAT, 0).unwrap();
    let rep = d.start(&r).unwrap();
    assert_eq!(rep.bridge.as_deref(), Some("virbr0"));
    assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);
    {
        let s = fake.state();
        let br = &s.links["virbr0"];
        assert!(br.up && br.mac.is_some());
        assert_eq!(s.addresses, vec![("virbr0".into(), "192.168.122.1".parse().unwrap(), 24)]);
        assert_eq!(s.sysctl.get("net.ipv4.ip_forward").map(String::as_str), Some("1"));
        assert_eq!(s.sysctl.get("net.ipv6.conf.virbr0.disable_ipv6").map(String::as_str), Some("1"));
        assert_eq!(s.dnsmasq.len(), 1);
    }
    let script = last_script(&fake);
    assert!(script.contains("masquerade") && script.contains("chain fwd_virbr0"), "{script}");
    assert!(d.is_active(&r).unwrap() && d.is_persistent(&r).unwrap());
    let conf = std::fs::read_to_string(d.dnsmasq_paths("default").conf).unwrap();
    assert!(
        conf.contains("interface=virbr0") && conf.contains("dhcp-range=192.168.122.2,192.168.122.254,255.255.255.0")
    );
    assert_eq!(d.list(oxvirt_api::flags::LIST_ACTIVE).unwrap().len(), 1);
    assert!(d.start(&r).unwrap_err().message.contains("already active"));
    assert!(d.undefine(&r).is_ok(), "undefining an active network makes it transient");
    assert!(!d.is_persistent(&r).unwrap());
    d.destroy(&r).unwrap();
    {
        let s = fake.state();
        assert!(!s.links.contains_key("virbr0"));
        assert!(s.dnsmasq.is_empty());
    }
    assert!(!last_script(&fake).contains('{'), "tables emptied: {}", last_script(&fake));
    assert!(d.list(0).unwrap().is_empty(), "transient network gone after destroy");
    assert!(!d.dnsmasq_paths("default").conf.exists());
}

#[test]
fn failure_part_way_rolls_back() {
    let (_dir, fake, d) = setup();
    let r = d.define(NAT, 0).unwrap();
    fake.state().fail = Some("dnsmasq");
    let e = d.start(&r).unwrap_err();
    assert!(e.message.contains("fake failure"), "{e}");
    {
        let s = fake.state();
        assert!(s.links.is_empty(), "bridge removed");
        assert_eq!(s.nft_scripts.len(), 2, "rules applied, then removed");
    }
    assert!(!last_script(&fake).contains('{'));
    assert!(!d.is_active(&r).unwrap());
    fake.state().fail = Some("nft");
    d.start(&r).unwrap_err();
    assert!(fake.state().links.is_empty());
    // dnsmasq starts beside the firewall transaction: it is stopped again and its files go.
    assert!(fake.state().dnsmasq.is_empty(), "dnsmasq stopped after the nft failure");
    assert!(!d.dnsmasq_paths("default").conf.exists());
    fake.state().fail = Some("create_bridge");
    d.start(&r).unwrap_err();
    d.start(&r).unwrap();
    assert!(d.is_active(&r).unwrap());
}

#[test]
fn restart_reattaches_without_duplicating() {
    let (dir, fake, d) = setup();
    let r = d.define(NAT, 0).unwrap();
    d.start(&r).unwrap();
    let applied = fake.state().nft_scripts.len();
    // A new driver on the same root: everything still there, nothing re-applied.
    let d2 = NetworkDriver::with_host(NetLayout::under(dir.path()), fake.host()).unwrap();
    assert!(d2.is_active(&r).unwrap());
    assert_eq!(fake.state().nft_scripts.len(), applied);
    // dnsmasq died and someone flushed our table: both come back, the table replaced as a whole.
    let old_pid = d2.runtime("default").unwrap().unwrap().dnsmasq_pid.unwrap();
    fake.state().dnsmasq.clear();
    fake.state().chains_json.clear();
    let d3 = NetworkDriver::with_host(NetLayout::under(dir.path()), fake.host()).unwrap();
    let new_pid = d3.runtime("default").unwrap().unwrap().dnsmasq_pid.unwrap();
    assert_ne!(old_pid, new_pid);
    assert_eq!(fake.state().nft_scripts.len(), applied + 1);
    assert_eq!(last_script(&fake).matches("jump fwd_virbr0").count(), 1);
    // The bridge vanished: the network is inactive and its rules go.
    fake.state().links.clear();
    let d4 = NetworkDriver::with_host(NetLayout::under(dir.path()), fake.host()).unwrap();
    assert!(!d4.is_active(&r).unwrap());
    assert!(!last_script(&fake).contains('{'));
}

#[test]
fn docker_forward_drop_is_reported() {
    let (_dir, fake, d) = setup();
    fake.state().chains_json = r#"{"nftables":[{"chain":{"family":"ip","table":"filter","name":"FORWARD","hook":"forward","policy":"drop"}}]}"#.into();
    let (r, rep) = d.create_xml(NAT, 0).unwrap();
    assert_eq!(rep.warnings.len(), 1, "{:?}", rep.warnings);
    assert!(rep.warnings[0].contains("policy drop"));
    assert_eq!(d.warnings(&r).unwrap(), rep.warnings);
    d.destroy(&r).unwrap();
    // Isolated networks forward nothing anyway: no warning.
    let (r, rep) = d.create_xml("<network><name>iso</name><ip address='10.1.0.1' prefix='24'/></network>", 0).unwrap();
    assert!(rep.warnings.is_empty());
    assert!(last_script(&fake).contains("iifname \"virbr0\" reject"));
    d.destroy(&r).unwrap();
}

#[test]
fn dhcp_host_update_live_and_config() {
    let (_dir, fake, d) = setup();
    let r = d.define(NAT, 0).unwrap();
    d.start(&r).unwrap();
    let host = "<host mac='52:54:00:00:00:07' name='g7' ip='192.168.122.7'/>";
    d.update_dhcp_host(&r, UpdateCommand::AddLast, host, UPDATE_AFFECT_LIVE | UPDATE_AFFECT_CONFIG).unwrap();
    let hf = std::fs::read_to_string(d.dnsmasq_paths("default").hostsfile).unwrap();
    assert_eq!(hf, "52:54:00:00:00:07,192.168.122.7,g7\n");
    assert_eq!(fake.state().reloads.len(), 1);
    assert!(d.xml(&r, XML_INACTIVE).unwrap().contains("g7"));
    assert!(d.xml(&r, 0).unwrap().contains("g7"));
    let e = d.update_dhcp_host(&r, UpdateCommand::AddLast, host, UPDATE_AFFECT_LIVE).unwrap_err();
    assert!(e.message.contains("there is an existing dhcp host entry"), "{e}");
    d.update_dhcp_host(&r, UpdateCommand::Delete, "<host mac='52:54:00:00:00:07'/>", UPDATE_AFFECT_LIVE).unwrap();
    assert_eq!(std::fs::read_to_string(d.dnsmasq_paths("default").hostsfile).unwrap(), "");
    assert!(d.xml(&r, XML_INACTIVE).unwrap().contains("g7"), "config untouched");
    let evil = "<host mac='52:54:00:00:00:08' name='x&#10;dhcp-script=/bin/sh' ip='192.168.122.8'/>";
    let e = d.update_dhcp_host(&r, UpdateCommand::AddLast, evil, UPDATE_AFFECT_LIVE).unwrap_err();
    assert!(e.message.contains("line break"), "{e}");
    // Leases come from dnsmasq's file.
    let lf = d.dnsmasq_paths("default").leasefile.unwrap();
    std::fs::write(&lf, "1900000000 52:54:00:00:00:09 192.168.122.99 vm9 *\n").unwrap();
    let l = d.dhcp_leases(&r, None).unwrap();
    assert_eq!((l.len(), l[0].prefix, l[0].hostname.as_deref(), l[0].iface.as_str()), (1, 24, Some("vm9"), "virbr0"));
    assert!(d.dhcp_leases(&r, Some("52:54:00:00:00:01".parse().unwrap())).unwrap().is_empty());
}

#[test]
fn guest_interfaces_count_connections() {
    let (_dir, fake, d) = setup();
    let r = d.define(NAT, 0).unwrap();
    d.start(&r).unwrap();
    let t = d.attach_guest_interface("default", "52:54:00:11:22:33".parse().unwrap(), &virtio(), None).unwrap();
    assert!(t.vnet_hdr && t.ifname == "vnet0" && t.bridge == "virbr0");
    {
        let s = fake.state();
        assert_eq!(s.links["vnet0"].master, Some(s.links["virbr0"].index));
    }
    assert!(d.xml(&r, 0).unwrap().starts_with("<network connections='1'>"));
    d.detach_guest_interface("default", &t.ifname).unwrap();
    assert!(d.xml(&r, 0).unwrap().starts_with("<network>"));
    assert!(d.attach_guest_interface("nope", MacAddr::default(), &TapSpec::default(), None).is_err());
    // A name of the user's, with one fd per queue; a taken name is refused, naming it.
    let spec = TapSpec { name: Some("mytap0".into()), queues: 4, vnet_hdr: true };
    let t = d.attach_guest_interface("default", MacAddr::default(), &spec, None).unwrap();
    assert_eq!((t.ifname.as_str(), t.fds.len()), ("mytap0", 4));
    let e = d.attach_guest_interface("default", MacAddr::default(), &spec, None).unwrap_err();
    assert!(e.code == ErrorCode::OperationInvalid && e.message.contains("mytap0 interface already exists"), "{e}");
    assert!(d.xml(&r, 0).unwrap().starts_with("<network connections='1'>"), "the refused one is not counted");
}

#[test]
fn macvtap_and_host_bridge_modes() {
    let (_dir, fake, d) = setup();
    let (r, _) = d
        .create_xml("<network><name>mv</name><forward mode='vepa'><interface dev='eth1'/><interface dev='eth2'/></forward></network>", 0)
        .unwrap();
    {
        let s = fake.state();
        assert!(s.links.is_empty() && s.nft_scripts.is_empty(), "no bridge, no rules");
    }
    assert!(d.gives_direct_interfaces("mv").unwrap());
    let a = d.choose_direct_interface("mv").unwrap();
    let b = d.choose_direct_interface("mv").unwrap();
    assert_eq!((a.dev.as_str(), b.dev.as_str(), a.mode), ("eth1", "eth2", ForwardMode::Vepa));
    assert!(d.xml(&r, 0).unwrap().contains("<interface dev='eth1' connections='1'/>"));
    assert!(d.attach_guest_interface("mv", MacAddr::default(), &virtio(), None).is_err());
    d.release_direct_interface("mv", "eth1").unwrap();
    assert_eq!(d.choose_direct_interface("mv").unwrap().dev, "eth1");
    d.destroy(&r).unwrap();

    let host_br = "<network><name>hb</name><forward mode='bridge'/><bridge name='br0'/></network>";
    let e = d.create_xml(host_br, 0).unwrap_err();
    assert!(e.message.contains("does not exist"), "{e}");
    fake.add_link("br0", "bridge");
    let (r, _) = d.create_xml(host_br, 0).unwrap();
    assert_eq!(fake.state().dnsmasq.len(), 0);
    assert!(!d.gives_direct_interfaces("hb").unwrap(), "a host bridge network gives taps");
    assert!(d.gives_direct_interfaces("nope").is_err());
    let t = d.attach_guest_interface("hb", MacAddr::default(), &TapSpec::default(), None).unwrap();
    assert_eq!((t.bridge.as_str(), t.vnet_hdr), ("br0", false));
    d.destroy(&r).unwrap();
    assert!(fake.state().links.contains_key("br0"), "host bridge is not ours to delete");
}

#[test]
fn autostart_and_identity_rules() {
    let (_dir, _fake, d) = setup();
    let r = d.define(NAT, 0).unwrap();
    d.set_autostart(&r, true).unwrap();
    assert!(d.autostart(&r).unwrap());
    assert_eq!(d.list(oxvirt_api::flags::LIST_AUTOSTART).unwrap().len(), 1);
    assert!(d.autostart_all().unwrap().is_empty());
    assert!(d.is_active(&r).unwrap());
    d.destroy(&r).unwrap();
    let other_uuid =
        NAT.replace("<name>default</name>", "<name>default</name><uuid>00000000-0000-0000-0000-000000000001</uuid>");
    assert!(d.define(&other_uuid, 0).unwrap_err().message.contains("already exists with uuid"));
    d.undefine(&r).unwrap();
    assert!(d.lookup_by_name("default").is_err());
    assert!(!d.layout().autostart_link("default").exists());
}

#[test]
fn bandwidth_on_taps_and_network_bridges() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::default();
    let tc = crate::bandwidth::fake::FakeTc::default();
    let d = NetworkDriver::with_host(NetLayout::under(dir.path()), fake.host_with_tc(tc.clone())).unwrap();
    let xml = NAT.replace(
        "<forward mode='nat'/>",
        "<forward mode='nat'/><bandwidth><inbound average='1000' peak='2000'/></bandwidth>",
    );
    let (r, _) = d.create_xml(&xml, 0).unwrap();
    let calls = tc.calls();
    assert_eq!(calls[0], "qdisc del dev virbr0 root");
    assert!(calls.contains(&"qdisc add dev virbr0 root handle 1: htb default 2".to_string()), "{calls:?}");

    let bw = Bandwidth {
        outbound: Some(oxvirt_xml::network::BandwidthRate { average: Some(64), ..Default::default() }),
        ..Default::default()
    };
    let t = d.attach_guest_interface("default", MacAddr::default(), &virtio(), Some(&bw)).unwrap();
    assert_eq!(
        tc.calls().last().unwrap(),
        &format!("filter add dev {} parent ffff: protocol all u32 match u32 0 0 police rate 64kbps burst 64kb mtu 64kb drop flowid :1", t.ifname)
    );
    drop(t);

    // Detaching removes an nftables limit the tap may have had.
    d.detach_guest_interface("default", "vnet0").unwrap();
    assert_eq!(tc.scripts().last().unwrap(), &crate::bandwidth::nft_clear_script("vnet0"));

    // A tc failure fails the attach, leaves the tap unlimited, and counts no connection.
    tc.fail_on("police", "Error: Operation not permitted.");
    let e = d.attach_guest_interface("default", MacAddr::default(), &virtio(), Some(&bw)).unwrap_err();
    assert!(e.message.contains("not permitted"), "{e}");
    assert!(tc.calls().last().unwrap().ends_with("ingress") && tc.calls().last().unwrap().contains("del"));
    assert!(d.xml(&r, 0).unwrap().starts_with("<network>"));

    // Without tc's police action the limit goes to nftables.
    tc.fail_on("police", "Error: Failed to load TC action module.");
    let t = d.attach_guest_interface("default", MacAddr::default(), &virtio(), Some(&bw)).unwrap();
    assert!(tc.scripts().last().unwrap().contains(&format!("device \"{}\"", t.ifname)));
    drop(t);

    // A network whose limits cannot be set does not start, and its bridge is gone again.
    d.destroy(&r).unwrap();
    tc.fail_on("add dev virbr0 root", "Error: Operation not permitted.");
    assert!(d.create_xml(&xml, 0).is_err());
    assert!(!fake.state().links.contains_key("virbr0"));
}

#[test]
fn update_sections_reconfigure_dnsmasq_as_each_needs() {
    use oxvirt_api::network_update::*;
    use oxvirt_api::types::netupdate::{CMD_ADD_LAST, CMD_DELETE, CMD_MODIFY};
    let (_dir, fake, d) = setup();
    let r = d.define(NAT, 0).unwrap();
    d.start(&r).unwrap();
    let pid0 = d.runtime("default").unwrap().unwrap().dnsmasq_pid.unwrap();
    let paths = d.dnsmasq_paths("default");
    let pid = || d.runtime("default").unwrap().unwrap().dnsmasq_pid.unwrap();
    let live = UPDATE_AFFECT_LIVE;

    // A DNS host lives in the addn-hosts file: rewritten, SIGHUP, same dnsmasq.
    d.update(&r, CMD_ADD_LAST, SECTION_DNS_HOST, -1, "<host ip='192.168.122.9'><hostname>db</hostname></host>", live)
        .unwrap();
    assert_eq!(std::fs::read_to_string(&paths.addnhosts).unwrap(), "192.168.122.9\tdb\n");
    assert_eq!((pid(), fake.state().reloads.clone()), (pid0, vec![pid0]));
    assert!(d.xml(&r, 0).unwrap().contains("<hostname>db</hostname>"));
    assert!(!d.xml(&r, XML_INACTIVE).unwrap().contains("<hostname>db</hostname>"), "live only");
    let e = d
        .update(&r, CMD_MODIFY, SECTION_DNS_HOST, -1, "<host ip='192.168.122.9'><hostname>x</hostname></host>", live)
        .unwrap_err();
    assert!(e.code == ErrorCode::OperationUnsupported && e.message.contains("cannot be modified"), "{e}");

    // TXT and SRV records and DHCP ranges are in the configuration: dnsmasq restarts with it.
    d.update(&r, CMD_ADD_LAST, SECTION_DNS_TXT, -1, "<txt name='info' value='hello'/>", live).unwrap();
    let pid1 = pid();
    assert_ne!(pid1, pid0);
    assert!(!fake.state().dnsmasq.contains_key(&pid0), "the old one stopped");
    assert!(std::fs::read_to_string(&paths.conf).unwrap().contains("txt-record=info,hello"));
    d.update(
        &r,
        CMD_ADD_LAST,
        SECTION_DNS_SRV,
        -1,
        "<srv service='ldap' protocol='tcp' target='db' port='389'/>",
        live,
    )
    .unwrap();
    assert!(std::fs::read_to_string(&paths.conf).unwrap().contains("srv-host=_ldap._tcp"));
    let pid2 = pid();
    assert_ne!(pid2, pid1);
    d.update(&r, CMD_DELETE, SECTION_IP_DHCP_RANGE, -1, "<range start='192.168.122.2' end='192.168.122.254'/>", live)
        .unwrap();
    d.update(
        &r,
        CMD_ADD_LAST,
        SECTION_IP_DHCP_RANGE,
        -1,
        "<range start='192.168.122.100' end='192.168.122.110'/>",
        live,
    )
    .unwrap();
    assert!(std::fs::read_to_string(&paths.conf).unwrap().contains("192.168.122.100,192.168.122.110"));
    assert_eq!(fake.state().dnsmasq.len(), 1, "one dnsmasq after the restarts");

    // --config on a running network: the definition only, dnsmasq untouched.
    let before = pid();
    d.update(&r, CMD_ADD_LAST, SECTION_DNS_TXT, -1, "<txt name='cfg' value='only'/>", UPDATE_AFFECT_CONFIG).unwrap();
    assert!(d.xml(&r, XML_INACTIVE).unwrap().contains("cfg") && !d.xml(&r, 0).unwrap().contains("cfg"));
    assert_eq!(pid(), before);

    // A forward interface changes the NAT rules; port groups are stored.
    let scripts = fake.state().nft_scripts.len();
    d.update(&r, CMD_ADD_LAST, SECTION_FORWARD_INTERFACE, -1, "<interface dev='eth7'/>", live).unwrap();
    assert_eq!(fake.state().nft_scripts.len(), scripts + 1, "rules reloaded");
    assert!(last_script(&fake).contains("eth7"), "{}", last_script(&fake));
    let x = d.xml(&r, 0).unwrap();
    assert!(x.contains("<forward dev='eth7' mode='nat'>") && x.contains("<interface dev='eth7'/>"), "{x}");
    let e = d.update(&r, CMD_ADD_LAST, SECTION_FORWARD_INTERFACE, -1, "<interface dev='eth8'/>", live).unwrap_err();
    assert!(e.message.contains("only one is supported"), "{e}");
    d.update(
        &r,
        CMD_ADD_LAST,
        SECTION_PORTGROUP,
        -1,
        "<portgroup name='eng' default='yes'><bandwidth><inbound average='100'/></bandwidth></portgroup>",
        live | UPDATE_AFFECT_CONFIG,
    )
    .unwrap();
    assert!(d.xml(&r, XML_INACTIVE).unwrap().contains("<portgroup name='eng' default='yes'>"));
    let e = d.update(&r, 1, SECTION_BRIDGE, -1, "<bridge name='x'/>", live).unwrap_err();
    assert!(e.message.contains("can't update 'bridge' section of network 'default'"), "{e}");
    assert!(d.update(&r, CMD_ADD_LAST, SECTION_DNS_TXT, -1, "<txt name='x' value='y'/>", 4).is_err(), "unknown flag");

    // Inactive network: the current definition is the persistent one.
    d.destroy(&r).unwrap();
    d.update(&r, CMD_DELETE, SECTION_DNS_TXT, -1, "<txt name='cfg'/>", 0).unwrap();
    assert!(!d.xml(&r, XML_INACTIVE).unwrap().contains("cfg"));
    let e = d.update(&r, CMD_DELETE, SECTION_DNS_TXT, -1, "<txt name='cfg'/>", live).unwrap_err();
    assert!(e.message.contains("network is not running"), "{e}");
}

#[test]
fn forward_interface_in_use_is_not_deleted() {
    use oxvirt_api::network_update::SECTION_FORWARD_INTERFACE;
    use oxvirt_api::types::netupdate::CMD_DELETE;
    let (_dir, _fake, d) = setup();
    let (r, _) = d
        .create_xml("<network><name>mv</name><forward mode='bridge'><interface dev='eth1'/><interface dev='eth2'/></forward></network>", 0)
        .unwrap();
    let a = d.choose_direct_interface("mv").unwrap();
    assert_eq!(a.dev, "eth1");
    let e = d
        .update(&r, CMD_DELETE, SECTION_FORWARD_INTERFACE, -1, "<interface dev='eth1'/>", UPDATE_AFFECT_LIVE)
        .unwrap_err();
    assert!(
        e.message
            .contains("unable to delete interface 'eth1' in network 'mv'. It is currently being used  by 1 domains."),
        "{e}"
    );
    d.update(&r, CMD_DELETE, SECTION_FORWARD_INTERFACE, -1, "<interface dev='eth2'/>", UPDATE_AFFECT_LIVE).unwrap();
    let x = d.xml(&r, 0).unwrap();
    assert!(x.contains("<interface dev='eth1' connections='1'/>") && !x.contains("eth2"), "{x}");
}

#[test]
fn port_groups_give_their_bandwidth_unless_the_interface_has_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::default();
    let tc = crate::bandwidth::fake::FakeTc::default();
    let d = NetworkDriver::with_host(NetLayout::under(dir.path()), fake.host_with_tc(tc.clone())).unwrap();
    let xml = NAT.replace(
        "<forward mode='nat'/>",
        "<forward mode='nat'/>
         <portgroup name='eng' default='yes'><bandwidth><inbound average='1000'/></bandwidth></portgroup>
         <portgroup name='sales'><bandwidth><inbound average='300' peak='600'/></bandwidth></portgroup>
         <portgroup name='plain'/>",
    );
    d.create_xml(&xml, 0).unwrap();
    let class = |tc: &crate::bandwidth::fake::FakeTc| {
        tc.calls().into_iter().rfind(|c| c.starts_with("class add")).unwrap_or_default()
    };
    // No port group named: the default one's limit.
    let t = d.attach_guest_port("default", MacAddr::default(), &virtio(), None, None).unwrap();
    assert_eq!(class(&tc), format!("class add dev {} parent 1: classid 1:1 htb rate 1000kbps quantum 85", t.ifname));
    // A named one.
    let t2 = d.attach_guest_port("default", MacAddr::default(), &virtio(), Some("sales"), None).unwrap();
    assert_eq!(
        class(&tc),
        format!("class add dev {} parent 1: classid 1:1 htb rate 300kbps ceil 600kbps quantum 25", t2.ifname)
    );
    // The interface's own limit wins.
    let own = Bandwidth {
        inbound: Some(oxvirt_xml::network::BandwidthRate { average: Some(50), ..Default::default() }),
        ..Default::default()
    };
    let t3 = d.attach_guest_port("default", MacAddr::default(), &virtio(), Some("sales"), Some(&own)).unwrap();
    assert!(
        class(&tc).contains(&format!("dev {} ", t3.ifname)) && class(&tc).contains("rate 50kbps"),
        "{}",
        class(&tc)
    );
    // A group without limits: none set.
    let n = tc.calls().len();
    d.attach_guest_port("default", MacAddr::default(), &virtio(), Some("plain"), None).unwrap();
    assert!(tc.calls()[n..].iter().all(|c| !c.contains("add")), "{:?}", &tc.calls()[n..]);
    // An unknown one is an error naming it, and no tap or connection is left.
    let e = d.attach_guest_port("default", MacAddr::default(), &virtio(), Some("nope"), None).unwrap_err();
    assert!(e.message.contains("no portgroup named 'nope'"), "{e}");
    // floor is refused, naming the attribute.
    let floor = Bandwidth {
        inbound: Some(oxvirt_xml::network::BandwidthRate { floor: Some(100), ..Default::default() }),
        ..Default::default()
    };
    let e = d.attach_guest_port("default", MacAddr::default(), &virtio(), None, Some(&floor)).unwrap_err();
    assert!(e.message.contains("floor='100'") && e.message.contains("unsupported"), "{e}");
    let live = d.xml(&d.lookup_by_name("default").unwrap(), 0).unwrap();
    assert!(live.starts_with("<network connections='4'>"), "{live}");
}

#[test]
fn vlan_tags_refused_on_linux_bridge_networks() {
    let (_dir, _fake, d) = setup();
    let tagged = NAT.replace("<forward mode='nat'/>", "<forward mode='nat'/><vlan><tag id='42'/></vlan>");
    let e = d.define(&tagged, 0).unwrap_err();
    assert!(
        e.message.contains("<vlan> element specified for network default") && e.message.contains("Open vSwitch"),
        "{e}"
    );
    let pg = NAT.replace(
        "<forward mode='nat'/>",
        "<forward mode='nat'/><portgroup name='v'><vlan><tag id='7'/></vlan></portgroup>",
    );
    let e = d.create_xml(&pg, 0).unwrap_err();
    assert!(e.message.contains("portgroup 'v' of network default"), "{e}");
    // Open vSwitch bridges may carry them.
    let ovs = "<network><name>ovs</name><forward mode='bridge'/><bridge name='ovsbr0'/>\
               <virtualport type='openvswitch'/><vlan><tag id='42'/></vlan></network>";
    d.define(ovs, 0).unwrap();
    // net-update cannot add what define refuses.
    use oxvirt_api::network_update::SECTION_PORTGROUP;
    use oxvirt_api::types::netupdate::CMD_ADD_LAST;
    let r = d.define(NAT, 0).unwrap();
    let e = d
        .update(
            &r,
            CMD_ADD_LAST,
            SECTION_PORTGROUP,
            -1,
            "<portgroup name='v'><vlan><tag id='7'/></vlan></portgroup>",
            0,
        )
        .unwrap_err();
    assert!(e.message.contains("portgroup 'v' of network default"), "{e}");
    assert!(!d.xml(&r, XML_INACTIVE).unwrap().contains("portgroup"), "nothing written");
}

#[test]
fn one_unreadable_definition_hides_only_itself() {
    let (_dir, _fake, d) = setup();
    d.define(NAT, 0).unwrap();
    std::fs::write(d.layout().config_file("broken"), "<network><name>broken</name><ip").unwrap();
    let names: Vec<String> = d.list(0).unwrap().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["default"]);
    let e = d.lookup_by_name("broken").unwrap_err();
    assert!(e.message.contains("broken.xml"), "{e}");
    // the readable one keeps working
    let r = d.lookup_by_name("default").unwrap();
    assert!(d.xml(&r, 0).is_ok());
}

#[test]
fn a_start_cut_short_is_undone_by_the_next_call_and_never_takes_a_foreign_bridge() {
    let (dir, fake, d) = setup();
    let r = d.define(NAT, 0).unwrap();
    // defined with a generated bridge name, virbr0
    let def = d.xml(&r, 0).unwrap();
    assert!(def.contains("<bridge name='virbr0'"), "{def}");
    // A killed start: its record, its bridge (with the marker), no live state.
    std::fs::write(d.layout().starting_file("default"), &def).unwrap();
    std::fs::write(d.layout().starting_bridge_marker("default"), "").unwrap();
    fake.add_link("virbr0", "bridge");
    d.start(&r).expect("the leftover bridge is removed first");
    assert!(d.is_active(&r).unwrap());
    assert!(std::fs::read_dir(d.layout().starting_dir()).unwrap().next().is_none(), "records forgotten");
    d.destroy(&r).unwrap();
    // Without the marker the bridge was not ours (the kill came before the start made one).
    std::fs::write(d.layout().starting_file("default"), &def).unwrap();
    fake.add_link("virbr0", "bridge");
    let e = d.start(&r).unwrap_err();
    assert!(e.message.contains("virbr0 already exists"), "{e}");
    assert!(fake.state().links.contains_key("virbr0"), "someone else's bridge was deleted");
    // A reopened driver undoes it too.
    std::fs::write(d.layout().starting_file("default"), &def).unwrap();
    std::fs::write(d.layout().starting_bridge_marker("default"), "").unwrap();
    let d2 = NetworkDriver::with_host(NetLayout::under(dir.path()), fake.host()).unwrap();
    assert!(!fake.state().links.contains_key("virbr0"));
    d2.start(&r).unwrap();
}

#[test]
fn ports_give_bridge_or_direct_facts_and_count_connections() {
    let (_dir, _fake, d) = setup();
    let mac = MacAddr::default();
    let req = |network, portgroup, bandwidth| PortRequest { network, mac, portgroup, bandwidth };
    let e = d.allocate_port(&req("pn", None, None)).unwrap_err();
    assert_eq!(e.code, ErrorCode::NoNetwork, "{e}");
    let (r, _) = d
        .create_xml(
            "<network><name>pn</name><forward mode='nat'/><mtu size='9000'/>
              <portgroup name='pg' default='yes'><bandwidth><inbound average='1000'/></bandwidth></portgroup>
              <ip address='192.168.123.1' netmask='255.255.255.0'/></network>",
            0,
        )
        .unwrap();
    let bridge = d.bridge_name(&r).unwrap();
    let p = d.allocate_port(&req("pn", None, None)).unwrap();
    assert_eq!(p.plug, PortPlug::Bridge { bridge: bridge.clone(), mtu: Some(9000) });
    assert_eq!(p.bandwidth.and_then(|b| b.inbound).and_then(|i| i.average), Some(1000), "the default port group's");
    let own = Bandwidth {
        inbound: Some(oxvirt_xml::network::BandwidthRate { average: Some(5), ..Default::default() }),
        ..Default::default()
    };
    let p2 = d.allocate_port(&req("pn", Some("pg"), Some(&own))).unwrap();
    assert_eq!(p2.bandwidth.and_then(|b| b.inbound).and_then(|i| i.average), Some(5), "the interface's own wins");
    assert_eq!(d.runtime("pn").unwrap().unwrap().connections, 2);
    d.release_port("pn", None).unwrap();
    assert_eq!(d.runtime("pn").unwrap().unwrap().connections, 1);
    d.destroy(&r).unwrap();

    // A macvtap network gives forward devices, fewest guests first, until they are given back.
    let (r, _) = d
        .create_xml("<network><name>mv</name><forward mode='bridge'><interface dev='eth1'/><interface dev='eth2'/></forward></network>", 0)
        .unwrap();
    let a = d.allocate_port(&req("mv", None, None)).unwrap();
    let b = d.allocate_port(&req("mv", None, None)).unwrap();
    assert_eq!(a.plug, PortPlug::Direct { dev: "eth1".into(), mode: ForwardMode::Bridge });
    assert_eq!(b.plug, PortPlug::Direct { dev: "eth2".into(), mode: ForwardMode::Bridge });
    d.release_port("mv", Some("eth1")).unwrap();
    assert_eq!(d.allocate_port(&req("mv", None, None)).unwrap().plug, a.plug);
    assert_eq!(d.runtime("mv").unwrap().unwrap().connections, 2);
    d.destroy(&r).unwrap();
}

#[test]
fn reconciled_ports_heal_counts_a_killed_start_left() {
    let (_dir, _fake, d) = setup();
    let mac = MacAddr::default();
    let req = |network| PortRequest { network, mac, portgroup: None, bandwidth: None };
    let (r, _) = d
        .create_xml("<network><name>mv</name><forward mode='bridge'><interface dev='eth1'/><interface dev='eth2'/></forward></network>", 0)
        .unwrap();
    // two starts allocated ports on eth1 and eth2 and were killed; one guest runs on eth2
    d.allocate_port(&req("mv")).unwrap();
    d.allocate_port(&req("mv")).unwrap();
    d.reconcile_ports(&[("mv".into(), Some("eth2".into())), ("other".into(), None)]).unwrap();
    let rt = d.runtime("mv").unwrap().unwrap();
    assert_eq!(rt.connections, 1);
    // eth1 stays listed at 0, as a release leaves it (the live XML and tests read the map)
    assert_eq!(rt.direct_connections, [("eth1".to_string(), 0), ("eth2".to_string(), 1)].into_iter().collect());
    // the fewest-guests choice sees the truth again: eth1 is free
    let p = d.allocate_port(&req("mv")).unwrap();
    assert_eq!(p.plug, PortPlug::Direct { dev: "eth1".into(), mode: ForwardMode::Bridge });
    d.reconcile_ports(&[]).unwrap();
    let rt = d.runtime("mv").unwrap().unwrap();
    assert_eq!(rt.connections, 0);
    assert_eq!(rt.direct_connections, [("eth1".to_string(), 0), ("eth2".to_string(), 0)].into_iter().collect());
    // counts already right: nothing to correct, nothing rewritten
    let ino = || std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(d.layout().runtime_file("mv")).unwrap());
    let before = ino();
    d.reconcile_ports(&[]).unwrap();
    assert_eq!(ino(), before, "an atomic rewrite would have a new inode");
    d.destroy(&r).unwrap();
}
