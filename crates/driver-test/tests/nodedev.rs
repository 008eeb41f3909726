//! Node devices of test:///default (libvirt's `computer` and three FC HBAs) and of node files.

mod common;

use common::fresh;
use oxvirt_api::{Connect, ErrorCode};

#[test]
fn default_devices_match_libvirt() {
    let c = fresh();
    let mut names: Vec<String> = c.list_all_node_devices(None).unwrap().iter().map(|d| d.name().to_string()).collect();
    names.sort();
    assert_eq!(names, ["computer", "scsi_host1", "scsi_host11", "scsi_host2"]);
    let by_cap = |cap: &str| {
        let mut v: Vec<String> =
            c.list_all_node_devices(Some(cap)).unwrap().iter().map(|d| d.name().to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(by_cap("system"), ["computer"]);
    assert_eq!(by_cap("scsi_host"), ["scsi_host1", "scsi_host11", "scsi_host2"]);
    assert_eq!(by_cap("fc_host"), ["scsi_host1", "scsi_host11", "scsi_host2"]);
    assert_eq!(by_cap("vports"), ["scsi_host1", "scsi_host2"]);
    assert!(by_cap("pci").is_empty());
    assert!(c.list_all_node_devices(Some("bogus")).is_err());

    let h = c.lookup_node_device_by_name("scsi_host11").unwrap();
    assert_eq!(h.parent().unwrap().as_deref(), Some("scsi_host1"));
    assert_eq!(c.lookup_node_device_by_name("computer").unwrap().parent().unwrap(), None);
    let x = c.lookup_node_device_by_name("scsi_host1").unwrap().xml_desc().unwrap();
    // libvirt reads vHBA counts from sysfs, so a defined HBA shows zeros
    assert!(x.contains("<max_vports>0</max_vports>\n      <vports>0</vports>"), "{x}");
    assert!(x.contains("<wwnn>2000000012341234</wwnn>"), "{x}");
    let comp = c.lookup_node_device_by_name("computer").unwrap().xml_desc().unwrap();
    assert!(comp.contains("<uuid>11111111-2222-3333-4444-555555555555</uuid>"), "{comp}");

    let e = c.lookup_node_device_by_name("nosuch").unwrap_err();
    assert_eq!(e.code, ErrorCode::NoNodeDevice);
    assert!(e.to_string().contains("no node device with matching name 'nosuch'"), "{e}");
}

#[test]
fn node_file_devices_inline_and_by_file() {
    oxvirt_driver_test::register();
    let dir = std::env::temp_dir().join(format!("oxvirt-test-nodedev-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("nic.xml"),
        "<device><name>net_eth0_52_54_00_00_00_01</name><parent>pci_0000_00_03_0</parent>\
         <capability type='net'><interface>eth0</interface><address>52:54:00:00:00:01</address>\
         <link speed='1000' state='up'/><capability type='80203'/></capability></device>",
    )
    .unwrap();
    let node = dir.join("node.xml");
    std::fs::write(
        &node,
        "<node><device><name>pci_0000_00_03_0</name><parent>computer</parent><driver><name>virtio-pci</name></driver>\
         <capability type='pci'><class>0x020000</class><domain>0</domain><bus>0</bus><slot>3</slot><function>0</function>\
         <product id='0x1041'/><vendor id='0x1af4'>Red Hat, Inc.</vendor></capability></device>\
         <device file='nic.xml'/></node>",
    )
    .unwrap();
    let c = Connect::open(Some(&format!("test://{}", node.display()))).unwrap();
    assert_eq!(c.list_all_node_devices(Some("net")).unwrap().len(), 1);
    let nic = c.lookup_node_device_by_name("net_eth0_52_54_00_00_00_01").unwrap();
    assert_eq!(nic.parent().unwrap().as_deref(), Some("pci_0000_00_03_0"));
    assert!(nic.xml_desc().unwrap().contains("<link speed='1000' state='up'/>"));
    let pci = c.lookup_node_device_by_name("pci_0000_00_03_0").unwrap().xml_desc().unwrap();
    // as in libvirt, the driver is a sysfs fact, not part of a defined device
    assert!(!pci.contains("<driver>") && pci.contains("<class>0x020000</class>"), "{pci}");

    // a bad device is reported with its place in the file
    std::fs::write(
        &node,
        "<node>\n<device><name>x</name><capability type='pci'><domain>z</domain></capability></device></node>",
    )
    .unwrap();
    let e = Connect::open(Some(&format!("test://{}", node.display()))).map(|_| ()).unwrap_err();
    assert!(e.to_string().contains("line 2"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
