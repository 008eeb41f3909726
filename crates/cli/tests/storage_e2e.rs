//! Storage pools and volumes through the `oxvirt` binary on an embedded QEMU connection: pool and
//! volume commands reach the storage driver the connection carries (crates/storage), and the
//! state is shared with `storage:///embed?root=` on the same root.

mod common;

use common::oxvirt;

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs qemu-img (make test)")]
fn pool_and_volume_commands_on_an_embedded_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let uri = format!("qemu:///embed?root={}", root.display());
    let images = tmp.path().join("images");
    let ox = |cmd: &str| {
        let o = oxvirt(&["-q", "-c", &uri, cmd]);
        assert_eq!(o.code, 0, "{cmd}: {}{}", o.stdout, o.stderr);
        o.stdout
    };
    // The CLI has pool-define and vol-create (the -as forms are not there yet).
    let pool_xml = tmp.path().join("pool.xml");
    let pool = format!("<pool type='dir'><name>images</name><target><path>{}</path></target></pool>", images.display());
    std::fs::write(&pool_xml, pool).unwrap();
    let vol_xml = tmp.path().join("vol.xml");
    std::fs::write(
        &vol_xml,
        "<volume><name>disk.qcow2</name><capacity unit='M'>16</capacity><target><format type='qcow2'/></target></volume>",
    )
    .unwrap();
    let lvm_xml = tmp.path().join("lvm.xml");
    std::fs::write(&lvm_xml, "<pool type='logical'><name>vg</name><source><name>vg</name></source></pool>").unwrap();
    ox(&format!("pool-define {}", pool_xml.display()));
    ox("pool-build images");
    ox("pool-start images");
    ox("pool-autostart images");
    let list = ox("pool-list --all");
    assert!(list.contains("images") && list.contains("active") && list.contains("yes"), "{list}");
    ox(&format!("vol-create images {}", vol_xml.display()));
    assert!(images.join("disk.qcow2").exists());
    let vols = ox("vol-list images");
    assert!(vols.contains("disk.qcow2") && vols.contains(&images.join("disk.qcow2").display().to_string()), "{vols}");
    let x = ox("vol-dumpxml --pool images disk.qcow2");
    assert!(x.contains("<format type='qcow2'/>") && x.contains("<capacity unit='bytes'>16777216</capacity>"), "{x}");
    let info = ox("pool-info images");
    assert!(info.contains("running") && info.contains("Capacity"), "{info}");
    // The same pool through the storage driver's own URI on this root.
    let o = oxvirt(&["-q", "-c", &format!("storage:///embed?root={}", root.display()), "pool-list --name"]);
    assert_eq!(o.stdout.trim(), "images", "{}", o.stderr);
    // A type oxvirt does not run is refused plainly.
    let o = oxvirt(&["-q", "-c", &uri, &format!("pool-define {}", lvm_xml.display())]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("storage pool type 'logical' is not supported yet"), "{}", o.stderr);

    ox("vol-delete --pool images disk.qcow2");
    assert!(!images.join("disk.qcow2").exists());
    ox("pool-destroy images");
    ox("pool-delete images");
    assert!(!images.exists());
    ox("pool-undefine images");
    assert_eq!(ox("pool-list --all --name").trim(), "");
}
