//! The storage driver on the real host: qemu-img, mkfs, losetup, mount (root), and libvirt's
//! storagepoolxml2xml / storagevolxml2xml cases through the driver.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use oxvirt_api::ErrorCode;
use oxvirt_storage::driver::flags;
use oxvirt_storage::{StorageDriver, StorageLayout};
use oxvirt_xml::storage::{StoragePool, StorageVol};
use oxvirt_xml::XmlDocument;
use serde_json::Value;

fn driver(root: &Path) -> StorageDriver {
    StorageDriver::new(StorageLayout::under(root), "storage:///embed").unwrap()
}

fn qemu_img_info(path: &Path) -> Value {
    let o = Command::new("qemu-img").args(["info", "--output=json", "-U"]).arg(path).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn dir_pool(root: &Path, name: &str) -> String {
    format!("<pool type='dir'><name>{name}</name><target><path>{}</path></target></pool>", root.join(name).display())
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs qemu-img (make test)")]
fn dir_pool_with_qemu_img() {
    let tmp = tempfile::tempdir().unwrap();
    let d = driver(tmp.path());
    let p = d.pool_create_xml(&dir_pool(tmp.path(), "imgs"), flags::CREATE_WITH_BUILD).unwrap();
    let dir = tmp.path().join("imgs");
    let before = d.pool_info(&p).unwrap();

    // Sparse raw, preallocated raw, qcow2 with options, an overlay.
    let sparse = d
        .volume_create_xml(
            &p,
            "<volume><name>sparse.img</name><capacity unit='M'>64</capacity><allocation>0</allocation></volume>",
            0,
        )
        .unwrap();
    let info = d.volume_info(&sparse).unwrap();
    // qemu-img writes the first block (for its alignment probe); the rest stays a hole.
    assert_eq!(info.capacity, 64 << 20);
    assert!(info.allocation <= 64 << 10, "{info:?}");
    let full =
        d.volume_create_xml(&p, "<volume><name>full.img</name><capacity unit='M'>32</capacity></volume>", 0).unwrap();
    let info = d.volume_info(&full).unwrap();
    assert_eq!(info.capacity, 32 << 20);
    assert!(info.allocation >= 32 << 20, "{info:?}");
    // The pool's figures follow (statvfs after every change).
    let after = d.pool_info(&p).unwrap();
    assert!(after.available + (16 << 20) < before.available, "{before:?} -> {after:?}");
    assert_eq!(after.capacity, before.capacity);

    let q = d
        .volume_create_xml(
            &p,
            "<volume><name>q.qcow2</name><capacity unit='G'>1</capacity><target><format type='qcow2'/>\
             <compat>1.1</compat><clusterSize unit='KiB'>128</clusterSize><features><lazy_refcounts/></features>\
             </target></volume>",
            0,
        )
        .unwrap();
    let j = qemu_img_info(&dir.join("q.qcow2"));
    assert_eq!(j["format"], "qcow2");
    assert_eq!(j["virtual-size"], 1u64 << 30);
    assert_eq!(j["cluster-size"], 131072);
    assert_eq!(j["format-specific"]["data"]["lazy-refcounts"], true);
    let x = StorageVol::from_xml_str(&d.volume_xml(&q, 0).unwrap()).unwrap();
    let t = x.target.as_ref().unwrap();
    assert_eq!(t.compat.as_deref(), Some("1.1"));
    assert!(t.features.as_ref().unwrap().lazy_refcounts);
    assert_eq!(t.cluster_size.unwrap().0, 131072);
    assert_eq!(t.permissions.as_ref().unwrap().mode.unwrap().0, 0o600);

    let o = d
        .volume_create_xml(
            &p,
            &format!(
                "<volume><name>o.qcow2</name><target><format type='qcow2'/></target>\
                 <backingStore><path>{}</path><format type='qcow2'/></backingStore></volume>",
                dir.join("q.qcow2").display()
            ),
            0,
        )
        .unwrap();
    assert_eq!(d.volume_info(&o).unwrap().capacity, 1 << 30);
    let x = StorageVol::from_xml_str(&d.volume_xml(&o, 0).unwrap()).unwrap();
    assert_eq!(x.backing_store.unwrap().path, dir.join("q.qcow2").display().to_string());
    let pm = d
        .volume_create_xml(
            &p,
            "<volume><name>pm.qcow2</name><capacity unit='M'>64</capacity><target><format type='qcow2'/></target></volume>",
            flags::VOL_CREATE_PREALLOC_METADATA,
        )
        .unwrap();
    assert_eq!(qemu_img_info(&dir.join("pm.qcow2"))["format-specific"]["data"]["compat"], "0.10");
    assert!(d.volume_info(&pm).unwrap().allocation > 0);

    // qemu-img refusing leaves nothing behind.
    let e = d
        .volume_create_xml(
            &p,
            "<volume><name>bad.qcow2</name><capacity>1000</capacity><target><format type='qcow2'/>\
             <clusterSize>1000</clusterSize></target></volume>",
            0,
        )
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::OperationFailed, "{e}");
    assert!(!dir.join("bad.qcow2").exists());

    // Made behind the driver's back, seen at refresh with its real format.
    let st = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(dir.join("side.qcow2"))
        .arg("10M")
        .status()
        .unwrap();
    assert!(st.success());
    assert!(d.lookup_volume_by_name(&p, "side.qcow2").is_err());
    d.pool_refresh(&p, 0).unwrap();
    let side = d.lookup_volume_by_path(&dir.join("side.qcow2").display().to_string()).unwrap();
    assert_eq!(d.volume_info(&side).unwrap().capacity, 10 << 20);
    assert!(d.volume_xml(&side, 0).unwrap().contains("<format type='qcow2'/>"));

    for v in [sparse, full, q, o, pm, side] {
        d.volume_delete(&v, 0).unwrap();
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    assert!(d.list_volumes(&p).unwrap().is_empty());
    d.pool_destroy(&p).unwrap();
    assert!(d.list_pools(0).unwrap().is_empty());
}

/// A loop device on an image file, and whatever is mounted from it, undone on drop (also when
/// the test fails half-way).
struct Loop {
    dev: String,
    mnt: PathBuf,
}

impl Loop {
    fn new(image: &Path, size: u64, mnt: PathBuf) -> Loop {
        std::fs::File::create(image).unwrap().set_len(size).unwrap();
        let o = Command::new("losetup").args(["-f", "--show"]).arg(image).output().unwrap();
        assert!(o.status.success(), "losetup: {}", String::from_utf8_lossy(&o.stderr));
        Loop { dev: String::from_utf8(o.stdout).unwrap().trim().to_string(), mnt }
    }
    fn mounted(&self) -> bool {
        let t = std::fs::read_to_string("/proc/self/mounts").unwrap();
        oxvirt_storage::host::mount_source(&t, &self.mnt).is_some()
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        while self.mounted() {
            let _ = Command::new("umount").arg(&self.mnt).status();
            if self.mounted() {
                let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
                break;
            }
        }
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root, losetup, mkfs.ext4, mount and qemu-img (make test)")]
fn fs_pool_on_a_loop_device() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    let lo = Loop::new(&tmp.path().join("disk.img"), 96 << 20, mnt.clone());
    let d = driver(&tmp.path().join("state"));
    let xml = format!(
        "<pool type='fs'><name>fsp</name><source><device path='{}'/><format type='ext4'/></source>\
         <target><path>{}</path><permissions><mode>0750</mode></permissions></target></pool>",
        lo.dev,
        mnt.display()
    );
    let p = d.pool_define(&xml, 0).unwrap();
    d.pool_build(&p, flags::BUILD_NO_OVERWRITE).unwrap();
    assert_eq!(std::fs::metadata(&mnt).unwrap().permissions().mode() & 0o7777, 0o750);
    let blkid = Command::new("blkid").args(["-p", "-o", "value", "-s", "TYPE", &lo.dev]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&blkid.stdout).trim(), "ext4");
    // Now formatted: --no-overwrite refuses, --overwrite makes it again.
    let e = d.pool_build(&p, flags::BUILD_NO_OVERWRITE).unwrap_err();
    assert_eq!(e.code, ErrorCode::StoragePoolBuilt, "{e}");
    d.pool_build(&p, flags::BUILD_OVERWRITE).unwrap();

    d.pool_create(&p, 0).unwrap();
    assert!(lo.mounted());
    let info = d.pool_info(&p).unwrap();
    assert!(info.capacity > 60 << 20 && info.capacity < 96 << 20, "{info:?}");
    // A fresh ext4 lists lost+found, as libvirt does.
    let names: Vec<String> = d.list_volumes(&p).unwrap().into_iter().map(|v| v.name).collect();
    assert_eq!(names, ["lost+found"]);
    let v =
        d.volume_create_xml(&p, "<volume><name>disk.raw</name><capacity unit='M'>16</capacity></volume>", 0).unwrap();
    let after = d.pool_info(&p).unwrap();
    assert!(after.available + (15 << 20) < info.available, "{info:?} -> {after:?}");
    assert_eq!(v.key, mnt.join("disk.raw").display().to_string());

    // A restarted driver finds it running.
    let d2 = driver(&tmp.path().join("state"));
    assert!(d2.pool_is_active(&p).unwrap());
    d2.pool_destroy(&p).unwrap();
    assert!(!lo.mounted());
    assert!(!mnt.join("disk.raw").exists());
    // Started again, the volume is back from the filesystem.
    d.pool_create(&p, 0).unwrap();
    assert_eq!(d.lookup_volume_by_name(&p, "disk.raw").unwrap(), v);
    // Unmounted behind the driver's back: the next open finds the pool inactive.
    assert!(Command::new("umount").arg(&mnt).status().unwrap().success());
    assert!(!driver(&tmp.path().join("state")).pool_is_active(&p).unwrap());
    d.pool_delete(&p, 0).unwrap();
    assert!(!mnt.exists());
    d.pool_undefine(&p).unwrap();
}

fn corpus(dir: &str, name: &str) -> String {
    std::fs::read_to_string(oxvirt_testsupport::libvirt_tests(dir).join(name)).unwrap()
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus (make test)")]
fn libvirt_pool_cases() {
    let tmp = tempfile::tempdir().unwrap();
    let d = driver(tmp.path());
    let mut refused = 0;
    let dir = oxvirt_testsupport::libvirt_tests("storagepoolxml2xmlin");
    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    for name in names {
        let xml = corpus("storagepoolxml2xmlin", &name);
        let def = StoragePool::from_xml_str(&xml).unwrap();
        match d.pool_define(&xml, 0) {
            Ok(p) => {
                // Round trip: what the driver answers is what libvirt answers.
                let ours = StoragePool::from_xml_str(&d.pool_xml(&p, 0).unwrap()).unwrap();
                let want = StoragePool::from_xml_str(&corpus("storagepoolxml2xmlout", &name)).unwrap();
                assert_eq!(ours, want, "{name}");
                d.pool_undefine(&p).unwrap();
            }
            Err(e) => {
                assert!(!matches!(def.kind, oxvirt_xml::storage::PoolType::Dir | oxvirt_xml::storage::PoolType::Fs));
                assert_eq!(e.code, ErrorCode::NoSupport, "{name}: {e}");
                assert!(e.message.contains("is not supported yet"), "{name}: {e}");
                refused += 1;
            }
        }
    }
    assert!(refused > 20, "{refused}");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs qemu-img and libvirt's test corpus (make test)")]
fn libvirt_volume_cases() {
    let tmp = tempfile::tempdir().unwrap();
    let d = driver(tmp.path());
    let images = tmp.path().join("images");
    for name in [
        "vol-file.xml",
        "vol-qcow2.xml",
        "vol-qcow2-1.1.xml",
        "vol-qcow2-lazy.xml",
        "vol-qcow2-clusterSize.xml",
        "vol-qcow2-nobacking.xml",
    ] {
        let p = d.pool_create_xml(&dir_pool(tmp.path(), "images"), flags::CREATE_WITH_BUILD).unwrap();
        let v =
            d.volume_create_xml(&p, &corpus("storagevolxml2xmlin", name), 0).unwrap_or_else(|e| panic!("{name}: {e}"));
        let ours = StorageVol::from_xml_str(&d.volume_xml(&v, 0).unwrap()).unwrap();
        let want = StorageVol::from_xml_str(&corpus("storagevolxml2xmlout", name)).unwrap();
        let moved = |s: &str| s.replace("/var/lib/libvirt/images", &images.display().to_string());
        assert_eq!(ours.name, want.name, "{name}");
        // libvirt's key is the path (its xml2xml output has it only when the input did).
        let want_key = want.key.clone().or(want.target.as_ref().and_then(|t| t.path.clone()));
        assert_eq!(ours.key, want_key.as_deref().map(moved), "{name}");
        if want.capacity.is_some_and(|c| c.0 > 0) {
            assert_eq!(ours.capacity, want.capacity, "{name}");
        }
        let (ot, wt) = (ours.target.clone().unwrap(), want.target.clone().unwrap());
        let got = ot.format.as_ref().map(|f| f.kind);
        assert_eq!(got, wt.format.as_ref().map(|f| f.kind).or(got), "{name}");
        if wt.compat.is_some() {
            assert_eq!(ot.compat, wt.compat, "{name}");
        }
        if wt.features.is_some() {
            assert_eq!(ot.features, wt.features, "{name}");
        }
        if wt.cluster_size.is_some() {
            assert_eq!(ot.cluster_size, wt.cluster_size, "{name}");
        }
        let (op, wp) = (ot.permissions.unwrap(), wt.permissions.unwrap());
        assert_eq!((op.mode, op.owner, op.group), (wp.mode, wp.owner, wp.group), "{name}");
        match (ours.backing_store, want.backing_store) {
            (Some(o), Some(w)) => {
                assert_eq!((o.path, o.format), (moved(&w.path), w.format), "{name}");
            }
            (None, None) => {}
            (o, w) => panic!("{name}: backing store {o:?} vs {w:?}"),
        }
        d.volume_delete(&v, 0).unwrap();
        d.pool_destroy(&p).unwrap();
    }
    // No capacity and no backing store: refused as libvirt does, naming the element.
    let p = d.pool_create_xml(&dir_pool(tmp.path(), "images"), 0).unwrap();
    let e = d.volume_create_xml(&p, &corpus("storagevolxml2xmlin", "vol-qcow2-nocapacity.xml"), 0).unwrap_err();
    assert!(e.message.contains("/volume/capacity"), "{e}");
    assert!(d.list_volumes(&p).unwrap().is_empty());
    d.pool_destroy(&p).unwrap();
}

/// Unmounts `mnt` on drop (mount made the loop device itself, with autoclear: it goes too).
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let t = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        if oxvirt_storage::host::mount_source(&t, &self.0).is_some() {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root, mkfs.ext4 and mount (make test)")]
fn fs_pool_on_an_image_file() {
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("fs.img");
    std::fs::File::create(&image).unwrap().set_len(48 << 20).unwrap();
    let mnt = tmp.path().join("mnt");
    let _guard = Unmount(mnt.clone());
    let d = driver(&tmp.path().join("state"));
    let xml = format!(
        "<pool type='fs'><name>img</name><source><device path='{}'/><format type='ext4'/></source>\
         <target><path>{}</path></target></pool>",
        image.display(),
        mnt.display()
    );
    let p = d.pool_create_xml(&xml, flags::CREATE_WITH_BUILD_OVERWRITE).unwrap();
    let t = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let src = oxvirt_storage::host::mount_source(&t, &mnt).expect("mounted");
    assert!(src.starts_with("/dev/loop"), "{src}");
    let info = d.pool_info(&p).unwrap();
    assert!(info.capacity > 30 << 20 && info.capacity < 48 << 20, "{info:?}");
    // Transient: destroy unmounts it and forgets it.
    d.pool_destroy(&p).unwrap();
    let t = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(oxvirt_storage::host::mount_source(&t, &mnt).is_none());
    assert!(d.list_pools(0).unwrap().is_empty());
    let lo = Command::new("losetup").args(["-j"]).arg(&image).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&lo.stdout).trim(), "", "the loop device went with the mount");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs qemu-img (make test)")]
fn resize_wipe_clone_with_qemu_img() {
    use oxvirt_storage::driver::{VOL_RESIZE_ALLOCATE, VOL_RESIZE_DELTA, VOL_RESIZE_SHRINK};
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let d = driver(tmp.path());
    let p = d.pool_create_xml(&dir_pool(tmp.path(), "imgs"), flags::CREATE_WITH_BUILD).unwrap();
    let raw = d
        .volume_create_xml(
            &p,
            "<volume><name>r.img</name><capacity unit='M'>8</capacity><allocation>0</allocation></volume>",
            0,
        )
        .unwrap();
    let q = d
        .volume_create_xml(
            &p,
            "<volume><name>q.qcow2</name><capacity unit='M'>8</capacity><target><format type='qcow2'/></target></volume>",
            0,
        )
        .unwrap();
    // grow, delta, shrink, allocate
    d.volume_resize(&raw, 16 << 20, 0).unwrap();
    assert_eq!(d.volume_info(&raw).unwrap().capacity, 16 << 20);
    assert_eq!(d.volume_resize(&raw, 8 << 20, 0).unwrap_err().code, ErrorCode::InvalidArg);
    d.volume_resize(&raw, 4 << 20, VOL_RESIZE_DELTA | VOL_RESIZE_SHRINK).unwrap();
    assert_eq!(d.volume_info(&raw).unwrap().capacity, 12 << 20);
    d.volume_resize(&raw, 16 << 20, VOL_RESIZE_ALLOCATE).unwrap();
    let i = d.volume_info(&raw).unwrap();
    assert!(i.capacity == 16 << 20 && i.allocation >= 16 << 20, "{i:?}");
    d.volume_resize(&q, 1 << 30, 0).unwrap();
    assert_eq!(qemu_img_info(&tmp.path().join("imgs/q.qcow2"))["virtual-size"], 1u64 << 30);
    d.volume_resize(&q, 512 << 20, VOL_RESIZE_SHRINK).unwrap();
    assert_eq!(d.volume_info(&q).unwrap().capacity, 512 << 20);

    // wipe: data gone, size and format kept for raw
    let rp = tmp.path().join("imgs/r.img");
    std::fs::OpenOptions::new().write(true).open(&rp).unwrap().write_all(b"secret data").unwrap();
    d.volume_wipe_pattern(&raw, 0, 0).unwrap();
    let bytes = std::fs::read(&rp).unwrap();
    assert_eq!(bytes.len(), 16 << 20);
    assert!(!bytes.windows(6).any(|w| w == b"secret"));
    let e = d.volume_wipe_pattern(&raw, 8, 0).unwrap_err();
    assert_eq!(e.code, ErrorCode::NoSupport);
    assert!(e.message.contains("'random'"), "{}", e.message);

    // clone with conversion: qcow2 -> raw and raw -> qcow2, data preserved
    std::fs::OpenOptions::new().write(true).open(&rp).unwrap().write_all(b"hello clone").unwrap();
    let c = d
        .volume_create_xml_from(
            &p,
            "<volume><name>c.qcow2</name><capacity>0</capacity><target><format type='qcow2'/></target></volume>",
            &raw,
            0,
        )
        .unwrap();
    let cp = tmp.path().join("imgs/c.qcow2");
    assert_eq!(qemu_img_info(&cp)["format"], "qcow2");
    assert_eq!(d.volume_info(&c).unwrap().capacity, 16 << 20);
    let back = d
        .volume_create_xml_from(
            &p,
            "<volume><name>back.img</name><capacity>0</capacity><target><format type='raw'/></target></volume>",
            &c,
            0,
        )
        .unwrap();
    let bp = d.volume_path(&back).unwrap();
    assert!(std::fs::read(&bp).unwrap().starts_with(b"hello clone"));
    assert_eq!(d.volume_info(&back).unwrap().capacity, 16 << 20);
    let q2 = d
        .volume_create_xml_from(&p, "<volume><name>q2.qcow2</name><capacity unit='G'>1</capacity></volume>", &q, 0)
        .unwrap();
    assert_eq!(qemu_img_info(Path::new(&d.volume_path(&q2).unwrap()))["virtual-size"], 1u64 << 30);
    // a taken name leaves the existing file alone
    assert_eq!(
        d.volume_create_xml_from(&p, "<volume><name>c.qcow2</name><capacity>0</capacity></volume>", &raw, 0)
            .unwrap_err()
            .code,
        ErrorCode::StorageVolExist
    );
    assert_eq!(qemu_img_info(&cp)["format"], "qcow2");
}
