//! libvirt's recorded QMP conversation with QEMU 7.2 (x86_64), interpreted by the same
//! code that handles live probes.

use std::path::PathBuf;

use oxvirt_driver_qemu::caps::{parse_conversation, ProbeReplies, QemuCaps};

fn replies_path() -> PathBuf {
    oxvirt_testsupport::libvirt_tests("qemucapabilitiesdata").join("caps_7.2.0.x86_64.replies")
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus, ../shared (make test)")]
fn qemu_7_2_x86_64_recording() {
    let path = replies_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("libvirt test data {} is required for this test and could not be read: {e}", path.display())
    });
    let exchanges = parse_conversation(&text).expect("recording parses");
    assert!(exchanges.len() > 40, "only {} exchanges", exchanges.len());
    let replies = ProbeReplies::from_conversation(&exchanges).expect("all needed replies present");
    let caps = QemuCaps::from_replies(&replies).expect("replies interpret");

    assert_eq!((caps.version.major, caps.version.minor, caps.version.micro), (7, 2, 0));
    assert_eq!(caps.version.number(), 7_002_000);
    assert_eq!(caps.version.package, "v7.2.0");
    assert_eq!(caps.arch, "x86_64");
    assert!(caps.kvm.present && caps.kvm.enabled, "recorded with KVM");

    let q35 = caps.machine("q35").expect("q35 alias");
    assert_eq!(q35.name, "pc-q35-7.2");
    assert_eq!(q35.cpu_max, 288);
    assert!(caps.machines.iter().filter(|m| m.name.starts_with("pc-q35-")).count() >= 20);
    let default = caps.default_machine().expect("a default machine");
    assert_eq!(default.name, "pc-i440fx-7.2");
    assert_eq!(default.alias.as_deref(), Some("pc"));
    assert!(caps.machines.windows(2).all(|w| w[0].name < w[1].name), "sorted");

    assert!(caps.has_device("virtio-blk-pci"));
    assert!(caps.has_device("virtio-net-pci"));
    assert!(!caps.has_device("no-such-device"));
    assert!(caps.device_types.is_none(), "recording has no implements=device listing");

    let qemu64 = caps.cpu_model("qemu64").expect("qemu64");
    assert_eq!(qemu64.alias_of.as_deref(), Some("qemu64-v1"));
    assert!(caps.cpu_model("Skylake-Client").is_some());
    assert!(caps.has_command("query-status") && caps.has_command("blockdev-add"));
}
