//! virsh → oxvirtd → the storage driver a hypervisor connection carries: pool and volume calls on
//! `qemu:///…` reach crates/storage through the daemon.

mod common;

use common::{virsh, Daemon};

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs virsh 9.0 and qemu-img (make test)")]
fn virsh_pools_and_volumes_through_the_daemon() {
    let tmp = tempfile::tempdir().unwrap();
    let uri = format!("qemu:///embed?root={}", tmp.path().join("root").display());
    let images = tmp.path().join("images");
    let mut d = Daemon::start_opts(&[], &uri, tempfile::tempdir().unwrap());
    fn on(d: &Daemon, cmd: &str) -> String {
        let (ok, out) = virsh(&d.uri_default(), cmd);
        assert!(ok, "{cmd}: {out}\n{}", d.log());
        out
    }
    let run = |cmd: &str| on(&d, cmd);
    run(&format!("pool-define-as images dir --target {}; pool-build images; pool-start images", images.display()));
    let list = run("pool-list --all");
    assert!(list.contains("images") && list.contains("active"), "{list}");
    run("vol-create-as images a.img 8M; vol-create-as images b.qcow2 1G --format qcow2");
    let vols = run("vol-list images");
    assert!(vols.contains("a.img") && vols.contains("b.qcow2"), "{vols}");
    let info = run("vol-info --pool images b.qcow2");
    assert!(info.contains("1.00 GiB"), "{info}");
    let path = run("vol-path --pool images a.img");
    assert_eq!(path.trim(), images.join("a.img").display().to_string());
    let key = run(&format!("vol-key {}", images.join("a.img").display()));
    assert_eq!(key.trim(), images.join("a.img").display().to_string());
    let (ok, out) = virsh(&d.uri_default(), "pool-undefine images");
    assert!(!ok && out.contains("storage pool 'images' is still active"), "{out}");

    // Autostart: a new daemon starts the pool when it opens the root.
    run("pool-autostart images; pool-destroy images");
    assert!(d.stop().expect("daemon stopped").success());
    let d = Daemon::start_opts(&[], &uri, tempfile::tempdir().unwrap());
    let list = on(&d, "pool-list --autostart --name");
    assert_eq!(list.trim(), "images");
    let info = on(&d, "pool-info images");
    assert!(info.lines().any(|l| l.starts_with("State:") && l.ends_with("running")), "{info}\n{}", d.log());
    let run = |cmd: &str| on(&d, cmd);
    run("vol-delete --pool images a.img; vol-delete --pool images b.qcow2; pool-destroy images; pool-delete images");
    run("pool-undefine images");
    assert!(!images.exists());
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs virsh 9.0 and qemu-img (make test)")]
fn virsh_resize_clone_wipe_through_the_daemon() {
    let tmp = tempfile::tempdir().unwrap();
    let uri = format!("qemu:///embed?root={}", tmp.path().join("root").display());
    let images = tmp.path().join("images");
    let d = Daemon::start_opts(&[], &uri, tempfile::tempdir().unwrap());
    let run = |cmd: &str| {
        let (ok, out) = virsh(&d.uri_default(), cmd);
        assert!(ok, "{cmd}: {out}\n{}", d.log());
        out
    };
    run(&format!("pool-create-as images dir --target {} --build", images.display()));
    run("vol-create-as images a.img 8M --allocation 0; vol-create-as images q.qcow2 16M --format qcow2");
    // (virsh -q: its success messages are quiet; the files say what happened)
    run("vol-resize --pool images a.img 16M");
    assert_eq!(std::fs::metadata(images.join("a.img")).unwrap().len(), 16 << 20);
    let (ok, out) = virsh(&d.uri_default(), "vol-resize --pool images a.img 4M");
    assert!(!ok && out.contains("shrink"), "{out}");
    run("vol-resize --pool images a.img --shrink -- -4M");
    assert_eq!(std::fs::metadata(images.join("a.img")).unwrap().len(), 12 << 20);
    run("vol-resize --pool images q.qcow2 1G --delta");
    let info = run("vol-info --pool images q.qcow2 --bytes");
    assert!(info.contains(&format!("{}", (1u64 << 30) + (16 << 20))), "{info}");

    run("vol-clone --pool images q.qcow2 c.qcow2");
    assert!(run("vol-list images").contains("c.qcow2"));

    std::fs::write(images.join("a.img"), b"secret").unwrap();
    run("vol-wipe --pool images a.img");
    assert!(std::fs::read(images.join("a.img")).unwrap().iter().all(|b| *b == 0));
    let (ok, out) = virsh(&d.uri_default(), "vol-wipe --pool images a.img --algorithm gutmann");
    assert!(!ok && out.contains("'gutmann'"), "{out}");
}
