//! The test driver refuses what the real drivers refuse, for the same reason and with the same
//! code, domain and message (`oxvirt_api::conf`): the same bad network and domain requests go to
//! `test:///default` and to the QEMU driver (with its network driver) in an embedded root, and
//! their errors are compared. Unit tier: nothing here starts QEMU or touches the host's network.

use oxvirt_api::conf::impact::{AFFECT_CONFIG, AFFECT_LIVE};
use oxvirt_api::types::netupdate::{CMD_ADD_LAST, CMD_DELETE};
use oxvirt_api::{Connect, Error};
use oxvirt_api::{DomainMemoryModFlags, DomainVcpuFlags};

// test:///default is one state per process, shared by the tests running in parallel here: each
// test uses names and UUIDs of its own.
const U1: &str = "0e6f2d8a-5b1c-4c7e-9d2a-6a1f3b9c0d11";
const U2: &str = "0e6f2d8a-5b1c-4c7e-9d2a-6a1f3b9c0d12";
const U3: &str = "0e6f2d8a-5b1c-4c7e-9d2a-6a1f3b9c0d13";
const U4: &str = "0e6f2d8a-5b1c-4c7e-9d2a-6a1f3b9c0d14";
const U5: &str = "0e6f2d8a-5b1c-4c7e-9d2a-6a1f3b9c0d15";

struct Both {
    test: Connect,
    qemu: Connect,
    _root: tempfile::TempDir,
}

fn open() -> Both {
    oxvirt_cli::register_drivers();
    let root = tempfile::tempdir().expect("tempdir");
    let test = Connect::open(Some("test:///default")).expect("test:///default");
    let qemu = Connect::open(Some(&format!("qemu:///embed?root={}", root.path().display()))).expect("embed");
    Both { test, qemu, _root: root }
}

/// What a front end shows of an error: libvirt's code and domain numbers and the message.
fn shown(e: &Error) -> (i32, i32, String) {
    (e.code as i32, e.domain as i32, e.message.clone())
}

/// Runs `op` on both connections, expects both to fail, and compares what they report.
fn same_refusal<T: std::fmt::Debug>(what: &str, b: &Both, op: impl Fn(&Connect) -> oxvirt_api::Result<T>) -> Error {
    let t = op(&b.test).expect_err(&format!("{what}: test:///default accepted it"));
    let q = op(&b.qemu).expect_err(&format!("{what}: the QEMU driver accepted it"));
    assert_eq!(shown(&t), shown(&q), "{what}: test:/// and qemu:/// disagree");
    t
}

fn net(name: &str, uuid: &str, body: &str) -> String {
    format!("<network><name>{name}</name><uuid>{uuid}</uuid>{body}</network>")
}

const IP: &str = "<ip address='10.123.0.1' prefix='24'/>";

#[test]
fn bad_network_definitions_are_refused_alike() {
    let b = open();
    let cases = [
        ("bridge name with a slash", net("sr1", U5, "<bridge name='br/0'/>")),
        ("bridge name too long", net("sr1", U5, "<bridge name='abcdefghijklmnop'/>")),
        ("vlan tags on a Linux bridge", net("sr1", U5, &format!("<vlan><tag id='42'/></vlan>{IP}"))),
        (
            "nat through two interfaces",
            net(
                "sr1",
                U5,
                &format!("<forward mode='nat'><interface dev='eth0'/><interface dev='eth1'/></forward>{IP}"),
            ),
        ),
        ("forward interface name", net("sr1", U5, "<forward mode='bridge'><interface dev='a:b'/></forward>")),
        (
            "two DHCP blocks",
            net(
                "sr1",
                U5,
                "<ip address='10.1.0.1' prefix='24'><dhcp/></ip><ip address='10.2.0.1' prefix='24'><dhcp/></ip>",
            ),
        ),
        ("not XML", "<network><name>sr1</name>".to_string()),
    ];
    for (what, xml) in &cases {
        same_refusal(what, &b, |c| c.define_network(xml, 0));
        same_refusal(what, &b, |c| c.create_network_xml(xml, 0).map(|_| ()));
    }
}

#[test]
fn network_names_and_uuids_clash_alike() {
    let b = open();
    for c in [&b.test, &b.qemu] {
        c.define_network(&net("sr2", U1, IP), 0).expect("first definition");
    }
    let e = same_refusal("new name, taken UUID", &b, |c| c.define_network(&net("sr3", U1, IP), 0));
    assert!(e.message.ends_with(&format!("network 'sr2' is already defined with uuid {U1}")), "{e}");
    let e = same_refusal("taken name, new UUID", &b, |c| c.define_network(&net("sr2", U2, IP), 0));
    assert!(e.message.ends_with(&format!("network 'sr2' already exists with uuid {U1}")), "{e}");
    // A network that is not running has no live definition to update.
    let e = same_refusal("live update of an inactive network", &b, |c| {
        c.lookup_network_by_name("sr2")?.update(
            CMD_ADD_LAST,
            oxvirt_api::network_update::SECTION_DNS_TXT,
            -1,
            "<txt name='x' value='y'/>",
            AFFECT_LIVE,
        )
    });
    assert!(e.message.ends_with("network is not running"), "{e}");
    // The sections' own rules are shared too.
    same_refusal("deleting a TXT record the network does not have", &b, |c| {
        let n = c.lookup_network_by_name("sr2")?;
        n.update(CMD_DELETE, oxvirt_api::network_update::SECTION_DNS_TXT, -1, "<txt name='nope'/>", AFFECT_CONFIG)
    });
    for c in [&b.test, &b.qemu] {
        c.lookup_network_by_name("sr2").and_then(|n| n.undefine()).expect("undefine");
    }
}

fn dom(name: &str, uuid: &str) -> String {
    format!(
        "<domain type='qemu'><name>{name}</name><uuid>{uuid}</uuid><memory unit='KiB'>65536</memory>\
         <vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os><devices>\
         <interface type='network'><mac address='52:54:00:aa:bb:01'/><source network='default'/>\
         <target dev='vnet7'/></interface></devices></domain>"
    )
}

/// Defines `name` on both drivers. The QEMU driver fills in an emulator and machine at define
/// time (it needs QEMU for that), so its definition is put on disk the way define stores it.
fn define_both(b: &Both, name: &str, uuid: &str) {
    b.test.define_domain(&dom(name, uuid), 0).expect("test define");
    let etc = b._root.path().join("etc/qemu");
    std::fs::create_dir_all(&etc).expect("config dir");
    std::fs::write(etc.join(format!("{name}.xml")), dom(name, uuid)).expect("write definition");
}

#[test]
fn domain_names_and_uuids_clash_alike() {
    let b = open();
    define_both(&b, "sr-a", U1);
    let e = same_refusal("new name, taken UUID", &b, |c| c.define_domain(&dom("sr-b", U1), 0));
    assert!(e.message.ends_with(&format!("domain 'sr-a' is already defined with uuid {U1}")), "{e}");
    let e = same_refusal("taken name, new UUID", &b, |c| c.define_domain(&dom("sr-a", U2), 0));
    assert!(e.message.ends_with(&format!("domain 'sr-a' already exists with uuid {U1}")), "{e}");
    same_refusal("create with a taken UUID", &b, |c| {
        c.create_domain_xml(&dom("sr-c", U1), oxvirt_api::DomainCreateFlags::empty())
    });
}

#[test]
fn modification_impact_is_resolved_alike() {
    let b = open();
    define_both(&b, "sr-m", U3);
    let e = same_refusal("live change of a domain that is not running", &b, |c| {
        c.lookup_domain_by_name("sr-m")?.set_memory(32768, DomainMemoryModFlags::LIVE)
    });
    assert!(e.message.ends_with("domain is not running"), "{e}");
    same_refusal("live interface tuning of a domain that is not running", &b, |c| {
        c.lookup_domain_by_name("sr-m")?.set_interface_parameters("vnet7", &[], AFFECT_LIVE)
    });
    let e = same_refusal("both live and config for one definition", &b, |c| {
        c.lookup_domain_by_name("sr-m")?.interface_parameters("52:54:00:aa:bb:01", AFFECT_LIVE | AFFECT_CONFIG)
    });
    assert!(e.message.contains("mutually exclusive"), "{e}");
    same_refusal("live interface parameters of a domain that is not running", &b, |c| {
        c.lookup_domain_by_name("sr-m")?.interface_parameters("52:54:00:aa:bb:01", AFFECT_LIVE)
    });
}

/// A transient domain has no persistent config to change, whichever driver runs it.
#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root and QEMU (make test)")]
fn transient_domains_refuse_config_changes_alike() {
    let b = open();
    let xml = format!(
        "<domain type='qemu'><name>sr-t</name><uuid>{U4}</uuid><memory unit='KiB'>65536</memory>\
         <vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>"
    );
    let mut started = Vec::new();
    for c in [&b.test, &b.qemu] {
        started.push(
            c.create_domain_xml(&xml, oxvirt_api::DomainCreateFlags::empty()).expect("create a transient domain"),
        );
    }
    let e = same_refusal("config change of a transient domain", &b, |c| {
        c.lookup_domain_by_name("sr-t")?.set_memory(32768, DomainMemoryModFlags::CONFIG)
    });
    assert!(e.message.ends_with("transient domains do not have any persistent config"), "{e}");
    same_refusal("config vCPUs of a transient domain", &b, |c| {
        c.lookup_domain_by_name("sr-t")?.set_vcpus(1, DomainVcpuFlags::CONFIG)
    });
    let e = same_refusal("create over a running domain", &b, |c| {
        c.create_domain_xml(&xml, oxvirt_api::DomainCreateFlags::empty())
    });
    assert!(e.message.ends_with("domain 'sr-t' is already active"), "{e}");
    for d in started {
        d.destroy(0).expect("destroy");
    }
}
