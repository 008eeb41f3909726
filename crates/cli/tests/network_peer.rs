//! The network driver as a peer, in-process (the CLI's drivers): `network:///embed?root=DIR`
//! and `qemu:///embed?root=DIR` share one network driver instance, so each sees what the other
//! defines; the test driver keeps its own networks. Unit tier: defining touches only files.

use oxvirt_api::{Connect, ErrorCode};

const NET: &str = "<network><name>peer1</name><bridge name='virbr61'/></network>";

fn names(c: &Connect) -> Vec<String> {
    c.list_all_networks(0).expect("list networks").iter().map(|n| n.name().to_string()).collect()
}

#[test]
fn network_and_qemu_connections_of_one_root_share_networks() {
    oxvirt_cli::register_drivers();
    let root = tempfile::tempdir().expect("temp dir");
    let net = Connect::open(Some(&format!("network:///embed?root={}", root.path().display()))).expect("network:///");
    let qemu = Connect::open(Some(&format!("qemu:///embed?root={}", root.path().display()))).expect("qemu:///");
    assert_eq!(net.kind(), "network");
    assert_eq!(qemu.kind(), "QEMU", "a hypervisor connection stays the hypervisor's");

    let n = net.define_network(NET, 0).expect("define through network:///");
    assert_eq!(names(&qemu), ["peer1"], "qemu:/// sees the network defined through network:///");
    let q = qemu.lookup_network_by_name("peer1").expect("lookup through qemu:///");
    assert_eq!(q.uuid(), n.uuid());
    q.set_autostart(true).expect("autostart through qemu:///");
    assert!(n.autostart().expect("autostart through network:///"));

    // Read-only is enforced for the network driver too.
    let ro = Connect::open_read_only(Some(&format!("network:///embed?root={}", root.path().display()))).unwrap();
    let e = ro.lookup_network_by_name("peer1").unwrap().undefine().unwrap_err();
    assert_eq!(e.code, ErrorCode::OperationDenied, "{e}");

    n.undefine().expect("undefine through network:///");
    assert!(names(&qemu).is_empty());

    // The test driver answers for its own networks.
    let test = Connect::open(Some("test:///default")).expect("test:///default");
    assert_eq!(names(&test), ["default"]);
    // A relative embed root is refused as qemu:/// refuses it.
    let e = Connect::open(Some("network:///embed?root=rel")).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidArg, "{e}");
}
