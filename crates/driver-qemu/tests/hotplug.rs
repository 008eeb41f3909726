//! Disk hotplug on a running guest (real QEMU, TCG).

mod common;

use std::time::Duration;

use common::*;
use oxvirt_api::{Connect, DomainDeviceModifyFlags};

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn attach_and_detach_a_qcow2_disk_live_and_in_config() {
    oxvirt_driver_qemu::register();
    let root = tempfile::tempdir().unwrap();
    let conn = Connect::open(Some(&format!("qemu:///embed?root={}", root.path().display()))).unwrap();
    let serial = root.path().join("serial.log");
    let (mut dom, _) = conn.define_domain(&guest_xml("hp", "shell", Some(&serial)), 0).unwrap();
    dom.create(oxvirt_api::DomainCreateFlags::empty()).unwrap();
    assert!(wait_for_text(&serial, "OXVIRT-GUEST-UP", Duration::from_secs(60)));

    // QEMU runs unprivileged: first an image it cannot reach is refused with a clear reason...
    let private = root.path().join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let hidden = private.join("hidden.qcow2");
    assert!(std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&hidden)
        .arg("16M")
        .status()
        .unwrap()
        .success());
    let bad = format!(
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{}'/><target dev='vdc' bus='virtio'/></disk>",
        hidden.display()
    );
    if nix::unistd::Uid::effective().is_root() {
        let err = dom.attach_device(&bad, DomainDeviceModifyFlags::LIVE).unwrap_err();
        assert!(err.message.contains("cannot read and write") && err.message.contains("hidden.qcow2"), "{err}");
    }
    // ...then one in a directory it can search, in a file it may use.
    std::fs::set_permissions(root.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let img = root.path().join("data.qcow2");
    let st = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&img)
        .arg("16M")
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::set_permissions(&img, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    let disk = format!(
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{}'/><target dev='vdb' bus='virtio'/></disk>",
        img.display()
    );
    dom.attach_device(&disk, DomainDeviceModifyFlags::LIVE | DomainDeviceModifyFlags::CONFIG).unwrap();
    let live = dom.xml_desc(oxvirt_api::DomainXmlFlags::empty()).unwrap();
    assert!(live.contains("<target dev='vdb' bus='virtio'/>"), "{live}");
    assert!(live.contains("type='pci'"), "address assigned: {live}");
    assert!(dom.xml_desc(oxvirt_api::DomainXmlFlags::INACTIVE).unwrap().contains("dev='vdb'"));
    // QEMU itself has the device
    let mut q =
        oxvirt_qmp::Qmp::connect(root.path().join("run/qemu/domains/hp/qmp.sock"), Duration::from_secs(5)).unwrap();
    let blocks = q.execute("query-block", None).unwrap().to_string();
    assert!(blocks.contains("data.qcow2"), "{blocks}");
    drop(q);
    let err = dom.attach_device(&disk, DomainDeviceModifyFlags::LIVE).unwrap_err();
    assert!(err.message.contains("already exists"), "{err}");

    dom.detach_device(&disk, DomainDeviceModifyFlags::LIVE | DomainDeviceModifyFlags::CONFIG).unwrap();
    assert!(!dom.xml_desc(oxvirt_api::DomainXmlFlags::empty()).unwrap().contains("dev='vdb'"));
    assert!(!dom.xml_desc(oxvirt_api::DomainXmlFlags::INACTIVE).unwrap().contains("dev='vdb'"));
    let mut q =
        oxvirt_qmp::Qmp::connect(root.path().join("run/qemu/domains/hp/qmp.sock"), Duration::from_secs(5)).unwrap();
    let blocks = q.execute("query-named-block-nodes", None).unwrap().to_string();
    assert!(!blocks.contains("data.qcow2"), "nodes removed: {blocks}");
    drop(q);
    dom.destroy(0).unwrap();
}
