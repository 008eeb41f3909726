//! The capabilities documents, built from libvirt's recorded QEMU 7.2 conversation with a fixed
//! host, and from the real QEMU here; every document is checked against libvirt's RelaxNG schema.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oxvirt_driver_qemu::caps::{parse_conversation, KvmUsability, KvmVerdict, ProbeReplies, QemuCaps};
use oxvirt_driver_qemu::capsxml::{self, DomCapsEnv, DomCapsError, FirmwarePaths, GuestEmulator, HostInfo};
use oxvirt_host::details::{CacheBank, CellCpu, CpuInfo, HostDetails, NumaCell, Topology};
use oxvirt_xml::capabilities::{Capabilities, DomainCapabilities, Usable};
use oxvirt_xml::{XmlDocument, YesNo};

fn libvirt_dir() -> PathBuf {
    oxvirt_testsupport::libvirt_data()
}

fn caps_7_2() -> QemuCaps {
    let path = libvirt_dir().join("tests/qemucapabilitiesdata/caps_7.2.0.x86_64.replies");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("libvirt test data {} is required: {e}", path.display()));
    let ex = parse_conversation(&text).expect("recording parses");
    QemuCaps::from_replies(&ProbeReplies::from_conversation(&ex).expect("replies")).expect("caps")
}

fn usable() -> KvmUsability {
    KvmUsability { verdict: KvmVerdict::Usable, reason: "fixture: KVM works".into(), loop_rate: Some(1e9) }
}

fn emulated() -> KvmUsability {
    KvmUsability {
        verdict: KvmVerdict::Emulated,
        reason: "fixture: guest code runs at 0.5 M loop iterations/s".into(),
        loop_rate: Some(5e5),
    }
}

/// A two-socket Haswell host with one NUMA cell per socket.
fn host() -> HostInfo {
    let cell = |id: u32| NumaCell {
        id,
        memory_kib: 16_777_216,
        pages: vec![(4, 4_194_304), (2048, 0)],
        distances: vec![(0, if id == 0 { 10 } else { 21 }), (1, if id == 0 { 21 } else { 10 })],
        cpus: (0..4)
            .map(|n| CellCpu {
                id: id * 4 + n,
                socket_id: id,
                die_id: 0,
                core_id: n,
                siblings: (id * 4 + n).to_string(),
            })
            .collect(),
    };
    HostInfo {
        details: HostDetails {
            arch: "x86_64".into(),
            uuid: Some("a25c794c-34ad-11b2-a85c-b030533115b8".into()),
            cpu: CpuInfo {
                vendor_id: "GenuineIntel".into(),
                model_name: "Intel(R) Xeon(R) CPU E5-2630 v3".into(),
                family: 6,
                model: 0x3f,
                stepping: 2,
                microcode: Some(0x45),
                flags: ["fpu", "vmx", "sse4_1", "avx2", "bogus.name"].iter().map(|s| s.to_string()).collect(),
                phys_bits: Some(46),
            },
            topology: Topology { sockets: 1, dies: 1, cores: 4, threads: 1 },
            page_sizes_kib: vec![4, 2048],
            cells: vec![cell(0), cell(1)],
            caches: vec![
                CacheBank { id: 0, level: 3, kind: "both".into(), size_kib: 20480, cpus: "0-3".into() },
                CacheBank { id: 1, level: 3, kind: "both".into(), size_kib: 20480, cpus: "4-7".into() },
            ],
            suspend_mem: true,
            suspend_disk: false,
            iommu: true,
        },
        dac_label: "+107:+107".into(),
    }
}

/// Validates with xmllint against one of libvirt's schemas, panicking with xmllint's words.
fn assert_schema_valid(schema: &str, xml: &str, tag: &str) {
    let rng = libvirt_dir().join("schemas").join(schema);
    assert!(rng.is_file(), "schema {} missing", rng.display());
    let dir = std::env::temp_dir().join(format!("oxvirt-capsxml-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("doc.xml");
    std::fs::write(&file, xml).unwrap();
    let mut child = Command::new("xmllint")
        .args(["--noout", "--relaxng"])
        .arg(&rng)
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xmllint (Debian: libxml2-utils) is needed to validate");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "xmllint timed out");
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        status.success(),
        "{tag}: not valid against {schema}:\n{}\n--- document ---\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn env<'a>(kvm: &'a KvmUsability, host: &'a HostInfo, ovmf: &Path) -> DomCapsEnv<'a> {
    DomCapsEnv {
        kvm,
        host: &host.details,
        firmware: FirmwarePaths {
            code: ovmf.join("OVMF_CODE_4M.fd"),
            vars: ovmf.join("OVMF_VARS_4M.fd"),
            secure_code: ovmf.join("OVMF_CODE_4M.secboot.fd"),
            secure_vars: ovmf.join("OVMF_VARS_4M.ms.fd"),
        },
    }
}

/// A directory with the OVMF images the driver uses (contents do not matter).
fn fake_ovmf() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for f in ["OVMF_CODE_4M.fd", "OVMF_CODE_4M.secboot.fd", "OVMF_VARS_4M.fd", "OVMF_VARS_4M.ms.fd"] {
        std::fs::write(d.path().join(f), b"").unwrap();
    }
    d
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus (../shared), QEMU and xmllint (make test)")]
fn capabilities_from_recorded_qemu_7_2() {
    let caps = caps_7_2();
    let host = host();
    let emu = Path::new("/usr/bin/qemu-system-x86_64");
    let guests = [
        GuestEmulator { arch: "i686", emulator: emu, caps: &caps },
        GuestEmulator { arch: "x86_64", emulator: emu, caps: &caps },
    ];
    for (kvm, want_kvm) in [(usable(), true), (emulated(), false)] {
        let xml = capsxml::capabilities_xml_for(&guests, &kvm, &host);
        assert_schema_valid("capability.rng", &xml, &format!("caps-kvm-{want_kvm}"));
        let c = Capabilities::from_xml_str(&xml).expect("our own output parses");

        let h = &c.host;
        assert_eq!(h.uuid.unwrap().to_string(), "a25c794c-34ad-11b2-a85c-b030533115b8");
        assert_eq!(h.cpu.model.as_deref(), Some("Haswell-noTSX"), "no rtm flag, model known to 7.2");
        assert_eq!(h.cpu.vendor.as_deref(), Some("Intel"));
        assert_eq!(h.cpu.microcode.as_ref().map(|m| m.version), Some(0x45));
        assert!(h.cpu.feature.iter().any(|f| f.name == "vmx"));
        assert!(!h.cpu.feature.iter().any(|f| f.name.contains('.')), "schema forbids dots");
        assert_eq!(h.cpu.pages.iter().map(|p| p.size).collect::<Vec<_>>(), vec![4, 2048]);
        let cells = &h.topology.as_ref().unwrap().cells;
        assert_eq!((cells.num, cells.cells[1].cpus.as_ref().unwrap().num), (2, 4));
        assert_eq!(h.cache.as_ref().unwrap().banks[0].size, 20);
        assert_eq!(h.cache.as_ref().unwrap().banks[0].unit, "MiB");
        assert!(h.power_management.as_ref().unwrap().suspend_mem);
        assert_eq!(h.iommu.as_ref().unwrap().support, Some(YesNo::Yes));
        let models: Vec<&str> = h.secmodels.iter().map(|s| s.model.as_str()).collect();
        assert_eq!(models, ["none", "dac"]);
        assert_eq!(h.secmodels[1].baselabels[0].label, "+107:+107");

        for arch in ["i686", "x86_64"] {
            let g = c.guest("hvm", arch).expect("guest per arch");
            assert_eq!(g.arch.wordsize, Some(if arch == "i686" { 32 } else { 64 }));
            let kinds: Vec<&str> = g.arch.domains.iter().map(|d| d.kind.as_str()).collect();
            let want: &[&str] = if want_kvm { &["qemu", "kvm"] } else { &["qemu"] };
            assert_eq!(kinds, want, "{arch} with KVM usable={want_kvm}");
            let m = &g.arch.machines;
            assert_eq!(m[0].name, "pc-i440fx-7.2", "default machine first");
            assert!(m.iter().any(|x| x.name == "pc-q35-7.2" && x.max_cpus == Some(288)));
            assert!(m.iter().any(|x| x.name == "q35" && x.canonical.as_deref() == Some("pc-q35-7.2")));
            assert!(m.iter().any(|x| x.deprecated == Some(YesNo::Yes)), "old machines marked deprecated");
            let f = g.features.as_ref().unwrap();
            assert!(f.acpi.is_some() && f.apic.is_some() && f.cpuselection.is_some());
            assert!(f.deviceboot.is_some() && f.disksnapshot.is_some());
            assert_eq!(f.pae.is_some(), arch == "i686");
        }
    }
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus (../shared), QEMU and xmllint (make test)")]
fn domain_capabilities_from_recorded_qemu_7_2() {
    let caps = caps_7_2();
    let host = host();
    let ovmf = fake_ovmf();
    let emu = Path::new("/usr/bin/qemu-system-x86_64");
    let ok = usable();
    let bad = emulated();

    // KVM working: the q35 document, like libvirt's qemu_7.2.0-q35.x86_64.xml in shape.
    let xml = capsxml::domain_capabilities_xml(&caps, emu, None, Some("q35"), "kvm", &env(&ok, &host, ovmf.path()))
        .expect("kvm domcaps");
    assert_schema_valid("domaincaps.rng", &xml, "domcaps-kvm-q35");
    let d = DomainCapabilities::from_xml_str(&xml).unwrap();
    assert_eq!((d.domain.as_str(), d.machine.as_deref(), d.arch.as_str()), ("kvm", Some("pc-q35-7.2"), "x86_64"));
    assert_eq!(d.vcpu.as_ref().unwrap().max, 288);
    assert_eq!(d.iothreads.as_ref().unwrap().supported, YesNo::Yes);
    let os = d.os.as_ref().unwrap();
    assert_eq!(os.enums[0].values, ["bios", "efi"]);
    let loader = os.loader.as_ref().unwrap();
    assert_eq!(loader.values.len(), 2, "code + secboot code on q35: {:?}", loader.values);
    assert!(loader.values[0].ends_with("OVMF_CODE_4M.fd"));
    assert_eq!(d.cpu_mode("host-passthrough").unwrap().supported, YesNo::Yes);
    let hm = d.cpu_mode("host-model").unwrap();
    assert_eq!(hm.models[0].name, "Haswell-noTSX");
    assert_eq!(hm.vendor.as_deref(), Some("Intel"));
    let custom = d.cpu_mode("custom").unwrap();
    assert!(custom.models.iter().any(|m| m.name == "Skylake-Client" && m.vendor.as_deref() == Some("Intel")));
    assert!(custom.models.iter().any(|m| m.name == "qemu64" && m.usable == Some(Usable::Yes)));
    assert!(custom.models.iter().any(|m| m.usable == Some(Usable::No)), "recorded KVM host lacks some models");
    assert!(!custom.models.iter().any(|m| m.name.ends_with("-v1")));
    let dev = d.devices.as_ref().unwrap();
    let disk = dev.disk.as_ref().unwrap();
    assert!(disk.values("bus").contains(&"virtio".to_string()));
    assert!(disk.values("bus").contains(&"sata".to_string()));
    assert!(disk.values("model").contains(&"virtio-transitional".to_string()));
    assert!(dev.video.as_ref().unwrap().values("modelType").contains(&"virtio".to_string()));
    assert!(dev.rng.as_ref().unwrap().values("backendModel").contains(&"builtin".to_string()));
    assert!(dev.filesystem.as_ref().unwrap().values("driverType").contains(&"virtiofs".to_string()));
    assert!(dev.tpm.as_ref().unwrap().values("model").contains(&"tpm-crb".to_string()));
    assert_eq!(dev.redirdev.as_ref().unwrap().supported, YesNo::Yes);
    let f = d.features.as_ref().unwrap();
    assert_eq!(f.vmcoreinfo.as_ref().unwrap().supported, YesNo::Yes);
    assert_eq!(f.genid.as_ref().unwrap().supported, YesNo::Yes);
    assert_eq!(f.gic.as_ref().unwrap().supported, YesNo::No);
    assert_eq!(f.hyperv.as_ref().unwrap().supported, YesNo::Yes);

    // TCG with the default machine (i440fx): no host-passthrough, no secure boot, usability of
    // the KVM-probed models unknown.
    let xml =
        capsxml::domain_capabilities_xml(&caps, emu, Some("x86_64"), None, "qemu", &env(&bad, &host, ovmf.path()))
            .expect("qemu domcaps");
    assert_schema_valid("domaincaps.rng", &xml, "domcaps-tcg-pc");
    let d = DomainCapabilities::from_xml_str(&xml).unwrap();
    assert_eq!((d.domain.as_str(), d.machine.as_deref()), ("qemu", Some("pc-i440fx-7.2")));
    assert_eq!(d.vcpu.as_ref().unwrap().max, 255);
    assert_eq!(d.cpu_mode("host-passthrough").unwrap().supported, YesNo::No);
    assert_eq!(d.cpu_mode("maximum").unwrap().supported, YesNo::Yes);
    assert!(d.cpu_mode("custom").unwrap().models.iter().all(|m| m.usable == Some(Usable::Unknown)));
    let loader = d.os.as_ref().unwrap().loader.as_ref().unwrap();
    assert_eq!(loader.values.len(), 1);
    assert_eq!(loader.enums.iter().find(|e| e.name == "secure").unwrap().values, ["no"]);

    // Without OVMF there is no efi.
    let empty = tempfile::tempdir().unwrap();
    let d = capsxml::domain_capabilities(&caps, emu, None, None, "qemu", &env(&bad, &host, empty.path())).unwrap();
    assert_eq!(d.os.as_ref().unwrap().enums[0].values, ["bios"]);

    // i686 on the x86_64 emulator is allowed; other arches and machines are not.
    let d =
        capsxml::domain_capabilities(&caps, emu, Some("i686"), None, "qemu", &env(&bad, &host, empty.path())).unwrap();
    assert_eq!(d.arch, "i686");
    let e = capsxml::domain_capabilities(&caps, emu, Some("aarch64"), None, "qemu", &env(&bad, &host, empty.path()))
        .unwrap_err();
    assert!(matches!(e, DomCapsError::Arch { .. }), "{e}");
    let e =
        capsxml::domain_capabilities(&caps, emu, None, Some("pc-q35-99.0"), "qemu", &env(&bad, &host, empty.path()))
            .unwrap_err();
    assert!(e.to_string().contains("machine type 'pc-q35-99.0'"), "{e}");
    let e = capsxml::domain_capabilities(&caps, emu, None, None, "xen", &env(&bad, &host, empty.path())).unwrap_err();
    assert!(matches!(e, DomCapsError::VirtType(_)), "{e}");

    // KVM where it does not work: a clear refusal that says why.
    let e =
        capsxml::domain_capabilities_xml(&caps, emu, None, None, "kvm", &env(&bad, &host, ovmf.path())).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("not usable") && msg.contains("0.5 M loop") && msg.contains("'qemu'"), "{msg}");
}

/// The QEMU installed here, probed live, and this host's real KVM verdict.
#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus (../shared), QEMU and xmllint (make test)")]
fn documents_for_the_real_qemu_here() {
    let emu = Path::new("/usr/bin/qemu-system-x86_64");
    assert!(emu.is_file(), "qemu-system-x86_64 is required (Debian: qemu-system-x86)");
    let caps = oxvirt_driver_qemu::caps::probe(emu).expect("probe");
    let kvm = KvmUsability::check(caps.kvm.present);
    let host = HostInfo::current();

    let found = capsxml::installed_emulators(&[PathBuf::from("/usr/bin")]);
    assert!(found.iter().any(|(a, p)| a == "x86_64" && p == emu), "{found:?}");
    assert!(found.iter().any(|(a, _)| a == "i686"), "{found:?}");
    let mut probed = Vec::new();
    for (arch, bin) in &found {
        let c = if bin == emu { caps.clone() } else { oxvirt_driver_qemu::caps::probe(bin).expect("probe") };
        probed.push((arch.clone(), bin.clone(), c));
    }
    let guests: Vec<GuestEmulator<'_>> =
        probed.iter().map(|(a, b, c)| GuestEmulator { arch: a, emulator: b, caps: c }).collect();
    let xml = capsxml::capabilities_xml_for(&guests, &kvm, &host);
    assert_schema_valid("capability.rng", &xml, "real-caps");
    let c = Capabilities::from_xml_str(&xml).unwrap();
    let g = c.guest("hvm", "x86_64").unwrap();
    assert!(g.arch.machines.iter().any(|m| m.name == "q35"));
    let has_kvm = g.arch.domains.iter().any(|d| d.kind == "kvm");
    assert_eq!(has_kvm, kvm.usable(), "kvm listed exactly when usable: {}", kvm.reason);
    eprintln!("KVM verdict here: {:?} ({})", kvm.verdict, kvm.reason);
    eprintln!("host CPU model: {:?}", c.host.cpu.model);

    let fw = FirmwarePaths::default();
    let denv = DomCapsEnv { kvm: &kvm, host: &host.details, firmware: fw.clone() };
    for machine in [None, Some("q35")] {
        let xml = capsxml::domain_capabilities_xml(&caps, emu, None, machine, "qemu", &denv).expect("qemu domcaps");
        assert_schema_valid("domaincaps.rng", &xml, &format!("real-domcaps-{machine:?}"));
        let d = DomainCapabilities::from_xml_str(&xml).unwrap();
        assert!(d.cpu_mode("custom").unwrap().models.iter().any(|m| m.usable == Some(Usable::Yes)));
        let efi = d.os.as_ref().unwrap().enums[0].values.contains(&"efi".to_string());
        assert_eq!(efi, fw.code.is_file() && fw.vars.is_file());
    }
    let r = capsxml::domain_capabilities_xml(&caps, emu, None, None, "kvm", &denv);
    match (kvm.usable(), r) {
        (true, Ok(xml)) => assert_schema_valid("domaincaps.rng", &xml, "real-domcaps-kvm"),
        (false, Err(e)) => assert!(e.to_string().contains(&kvm.reason), "{e}"),
        (u, r) => panic!("KVM usable={u} but domcapabilities kvm gave {r:?}"),
    }
}

/// Through the driver (`qemu:///embed`): the documents the CLI and daemon hand out.
#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus (../shared), QEMU and xmllint (make test)")]
fn driver_serves_both_documents() {
    use oxvirt_api::Driver;
    let root = tempfile::tempdir().unwrap();
    oxvirt_driver_qemu::register();
    let conn = oxvirt_api::Connect::open(Some(&format!("qemu:///embed?root={}", root.path().display()))).expect("open");
    let xml = conn.capabilities().expect("capabilities");
    assert_schema_valid("capability.rng", &xml, "driver-caps");
    let c = Capabilities::from_xml_str(&xml).unwrap();
    assert!(c.guest("hvm", "x86_64").is_some() && c.guest("hvm", "i686").is_some());

    let drv = oxvirt_driver_qemu::QemuDriver::new(
        format!("qemu:///embed?root={}", root.path().display()),
        oxvirt_driver_qemu::Layout::embed(root.path()),
    )
    .expect("driver");
    let xml = drv.domain_capabilities(None, None, Some("q35"), None).expect("domcaps");
    assert_schema_valid("domaincaps.rng", &xml, "driver-domcaps");
    let d = DomainCapabilities::from_xml_str(&xml).unwrap();
    let kvm_listed = c.guest("hvm", "x86_64").unwrap().arch.domains.iter().any(|d| d.kind == "kvm");
    assert_eq!(d.domain, if kvm_listed { "kvm" } else { "qemu" }, "default virt type follows KVM usability");
    let e = drv.domain_capabilities(None, Some("x86_64"), Some("no-such-machine"), Some("qemu")).unwrap_err();
    assert!(e.to_string().contains("no-such-machine"), "{e}");
    if !kvm_listed {
        let e = drv.domain_capabilities(None, None, None, Some("kvm")).unwrap_err();
        assert!(e.to_string().contains("not usable"), "{e}");
    }
}
