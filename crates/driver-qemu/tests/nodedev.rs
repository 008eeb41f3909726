//! Host devices through the QEMU driver: what sysfs shows on this machine, named like libvirt.

use oxvirt_api::{Connect, ErrorCode};

#[test]
fn lists_and_describes_this_hosts_devices() {
    oxvirt_driver_qemu::register();
    let root = tempfile::tempdir().unwrap();
    let conn = Connect::open(Some(&format!("qemu:///embed?root={}", root.path().display()))).unwrap();
    let all = conn.list_all_node_devices(None).unwrap();
    let names: Vec<&str> = all.iter().map(|d| d.name()).collect();
    assert!(names.contains(&"computer"), "{names:?}");
    // every device's XML parses back, and every parent is a listed device
    for d in &all {
        let x = d.xml_desc().unwrap();
        oxvirt_xml::parse_document::<oxvirt_xml::nodedev::NodeDevice>(&x, oxvirt_xml::ParseOptions { validate: true })
            .unwrap_or_else(|e| panic!("{}: {e}\n{x}", d.name()));
        if let Some(p) = d.parent().unwrap() {
            assert!(names.contains(&p.as_str()), "{} has unknown parent {p}", d.name());
        }
    }
    // sysfs agrees on the PCI functions and network interfaces
    let pci = conn.list_all_node_devices(Some("pci")).unwrap();
    let sys_pci = std::fs::read_dir("/sys/bus/pci/devices").map(|r| r.count()).unwrap_or(0);
    assert_eq!(pci.len(), sys_pci);
    let net = conn.list_all_node_devices(Some("net")).unwrap();
    let sys_net = std::fs::read_dir("/sys/class/net").map(|r| r.count()).unwrap_or(0);
    assert_eq!(net.len(), sys_net);
    if std::path::Path::new("/sys/class/net/lo").exists() {
        assert!(net.iter().any(|d| d.name() == "net_lo_00_00_00_00_00_00"));
    }
    assert_eq!(conn.lookup_node_device_by_name("nosuch").unwrap_err().code, ErrorCode::NoNodeDevice);
    assert!(conn.list_all_node_devices(Some("bogus")).is_err());
}
