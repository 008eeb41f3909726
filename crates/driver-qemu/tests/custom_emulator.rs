//! An `<emulator>` that is not one of the host's own QEMU binaries is probed as the
//! unprivileged QEMU user, never as root: whoever wrote the definition chose what runs.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use oxvirt_api::Connect;

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root and QEMU (make test)")]
fn a_custom_emulator_is_never_probed_as_root() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: needs root (the drop to the QEMU user)");
        return;
    }
    oxvirt_driver_qemu::register();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();
    let record = out.join("uid");
    let emu = dir.path().join("my-qemu");
    std::fs::write(&emu, format!("#!/bin/sh\nid -u > {}\nexit 1\n", record.display())).unwrap();
    std::fs::set_permissions(&emu, std::fs::Permissions::from_mode(0o755)).unwrap();

    let root = dir.path().join("root");
    let conn = Connect::open(Some(&format!("qemu:///embed?root={}", root.display()))).unwrap();
    let xml = format!(
        "<domain type='qemu'><name>custom</name><memory unit='MiB'>64</memory>\
         <os><type arch='x86_64'>hvm</type></os><devices><emulator>{}</emulator></devices></domain>",
        emu.display()
    );
    let e = conn.define_domain(&xml, 0).expect_err("a binary that exits at once is no QEMU");
    assert!(e.message.contains("my-qemu"), "the error names the emulator: {}", e.message);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !record.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let uid: u32 = std::fs::read_to_string(&record).expect("the probe ran").trim().parse().unwrap();
    assert_ne!(uid, 0, "a definition's own emulator was run as root");
}
