//! XML → QEMU command line: golden files, acceptance by the real QEMU, a booting guest, and
//! the libvirt corpus figure.
//!
//! `OXVIRT_UPDATE_GOLDEN=1` rewrites the golden `.args` / `.xml.out` files (and the recorded
//! capabilities `caps.json`, probed from the installed QEMU).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use oxvirt_driver_qemu::caps::QemuCaps;
use oxvirt_driver_qemu::command::{
    assign_addresses, build, complete_for_start, vhost_wanted, Accel, BuildEnv, PortCheck, QemuCommand, TapArg,
};
use oxvirt_driver_qemu::process::{self, RunDir, SpawnSpec};
use oxvirt_xml::domain::*;
use oxvirt_xml::{parse_document, ParseOptions, XmlDocument};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn update() -> bool {
    std::env::var_os("OXVIRT_UPDATE_GOLDEN").is_some_and(|v| v == "1")
}

fn qemu_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("OXVIRT_QEMU") {
        return p.into();
    }
    PathBuf::from("/usr/bin/qemu-system-x86_64")
}

static CAPS: Mutex<Option<QemuCaps>> = Mutex::new(None);

/// Capabilities recorded from QEMU 10.0.2 (so goldens do not drift with the host's QEMU).
fn caps() -> QemuCaps {
    let mut g = CAPS.lock().unwrap();
    if let Some(c) = &*g {
        return c.clone();
    }
    let path = golden_dir().join("caps.json");
    let c = if update() || !path.exists() {
        let c = oxvirt_driver_qemu::caps::probe(&qemu_binary()).expect("probe QEMU");
        std::fs::write(&path, serde_json::to_string_pretty(&c).unwrap()).unwrap();
        c
    } else {
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    };
    *g = Some(c.clone());
    c
}

fn accel_for(def: &Domain) -> Accel {
    if def.kind == DomainType::Kvm {
        Accel::Kvm
    } else {
        Accel::Tcg
    }
}

fn golden_env<'a>(caps: &'a QemuCaps, def: &Domain) -> BuildEnv<'a> {
    let mut env = BuildEnv::new(
        caps,
        "/usr/bin/qemu-system-x86_64",
        accel_for(def),
        format!("/var/lib/oxvirt/qemu/{}", def.name),
        format!("/run/oxvirt/qemu/{}", def.name),
    );
    env.port_check = PortCheck::AssumeFree;
    env.domain_id = 1;
    // The driver opens a tap per network/bridge/ethernet NIC (a macvtap per direct one), one fd
    // per queue, and vhost-net fds when it decides so; error cases show what happens without. Goldens named `*vhost*` run as
    // if /dev/vhost-net existed (this machine has none).
    if !def.name.starts_with("err-") {
        let mut k = 0;
        let mut next = |n: u32| {
            let v: Vec<i32> = (0..n).map(|j| process::passed_fd(k + j as usize)).collect();
            k += n as usize;
            v
        };
        for (i, n) in def.devices.iter().flat_map(|d| &d.interfaces).enumerate() {
            let tap = matches!(
                n.kind,
                InterfaceType::Network | InterfaceType::Bridge | InterfaceType::Ethernet | InterfaceType::Direct
            );
            env.taps.push(tap.then(|| {
                let q = n.driver.as_ref().and_then(|d| d.queues).unwrap_or(1).max(1);
                let vhost = vhost_wanted(n, i, accel_for(def), def.name.contains("vhost")).unwrap();
                TapArg {
                    fds: next(q),
                    vhostfds: if vhost { next(q) } else { Vec::new() },
                    vnet_hdr: n.model.as_ref().is_some_and(|m| m.kind == "virtio"),
                }
            }));
        }
    }
    env
}

/// The start path: completion (addresses, aliases) on a copy, then the builder.
fn complete_and_build(def: &Domain, env: &BuildEnv) -> Result<QemuCommand, String> {
    let mut run = def.clone();
    complete_for_start(&mut run, env).map_err(|e| e.to_string())?;
    build(&run, env).map_err(|e| e.to_string())
}

fn parse(path: &Path) -> Domain {
    let text = std::fs::read_to_string(path).unwrap();
    let (d, warnings) =
        parse_document::<Domain>(&text, ParseOptions::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(warnings.is_empty(), "{}: {warnings:?}", path.display());
    d
}

fn goldens() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    v.sort();
    v
}

fn check_or_write(path: &Path, actual: &str, failures: &mut Vec<String>) {
    if update() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    match std::fs::read_to_string(path) {
        Ok(expected) if expected == actual => {}
        Ok(expected) => {
            failures.push(format!("{} differs:\n--- expected\n{expected}\n--- actual\n{actual}", path.display()))
        }
        Err(e) => failures.push(format!("{}: {e} (run with OXVIRT_UPDATE_GOLDEN=1)", path.display())),
    }
}

/// `NAME.xml` → `NAME.args` (one argument per line) and `NAME.xml.out` (persistent XML after
/// address assignment); `err-*.xml` → `NAME.err` (the error message).
#[test]
fn golden() {
    let caps = caps();
    let mut failures = Vec::new();
    for p in goldens() {
        let mut def = parse(&p);
        let env = golden_env(&caps, &def);
        let stem = p.file_stem().unwrap().to_string_lossy().to_string();
        if stem.starts_with("err-") {
            let msg = match complete_and_build(&def, &env) {
                Ok(_) => "accepted".to_string(),
                Err(e) => e,
            };
            check_or_write(&p.with_extension("err"), &format!("{msg}\n"), &mut failures);
            continue;
        }
        let cmd = complete_and_build(&def, &env).unwrap_or_else(|e| panic!("{stem}: {e}"));
        let mut args = cmd.argv.join("\n");
        args.push('\n');
        check_or_write(&p.with_extension("args"), &args, &mut failures);
        assign_addresses(&mut def, &env).unwrap();
        // Random MACs would make the output unstable; goldens give theirs.
        let xml = def.to_xml_string();
        check_or_write(&golden_dir().join(format!("{stem}.xml.out")), &xml, &mut failures);
        // Completing twice changes nothing, and building from the completed XML gives the same line.
        let mut again = def.clone();
        assign_addresses(&mut again, &env).unwrap();
        assert_eq!(again.to_xml_string(), xml, "{stem}: assign_addresses is not idempotent");
        assert_eq!(
            complete_and_build(&def, &env).unwrap().argv,
            cmd.argv,
            "{stem}: the command line differs after assign_addresses"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Replaces host paths of a golden definition with real scratch files so QEMU can open them.
fn localize(def: &mut Domain, dir: &Path) {
    let guest = guest_dir();
    // Taps need a bridge and privileges: their NICs run on user networking here; real taps in
    // QEMU (multiqueue ones too) are covered by crates/cli/tests/net_e2e.rs (inside a network
    // namespace). User networking has a single queue.
    for n in def.devices.iter_mut().flat_map(|d| d.interfaces.iter_mut()) {
        if matches!(
            n.kind,
            InterfaceType::Network | InterfaceType::Bridge | InterfaceType::Ethernet | InterfaceType::Direct
        ) {
            n.kind = InterfaceType::User;
            n.source = None;
            n.target = None;
            n.driver = None;
        }
    }
    if def.os.kernel.is_some() {
        def.os.kernel = Some(guest.join("vmlinuz").display().to_string());
        def.os.initrd = Some(guest.join("initrd-poweroff.img").display().to_string());
    }
    if let Some(nv) = def.os.nvram.as_mut() {
        nv.path = Some(dir.join("VARS.fd").display().to_string());
    }
    def.kind = DomainType::Qemu;
    let Some(devs) = def.devices.as_mut() else {
        return;
    };
    // Character device files (and their logs), which the driver opens and passes as fds.
    let mut chr = 0;
    for c in devs
        .serials
        .iter_mut()
        .chain(devs.parallels.iter_mut())
        .chain(devs.consoles.iter_mut())
        .chain(devs.channels.iter_mut())
    {
        for p in c
            .source
            .sources
            .iter_mut()
            .filter_map(|s| s.path.as_mut())
            .chain(c.source.log.iter_mut().map(|l| &mut l.file))
        {
            if p.starts_with("/var/log/") {
                chr += 1;
                *p = dir.join(format!("chr{chr}.log")).display().to_string();
            }
        }
    }
    let mut n = 0;
    let mut image = |src: &mut oxvirt_xml::domain::DiskSource,
                     kind: &mut Option<DiskType>,
                     fmt: &str,
                     backing: Option<&str>|
     -> String {
        n += 1;
        let p = dir.join(format!("img{n}.{fmt}"));
        let mut cmd = std::process::Command::new("qemu-img");
        cmd.args(["create", "-q", "-f", fmt]);
        if let Some(b) = backing {
            cmd.args(["-b", b, "-F", "qcow2"]);
        }
        cmd.arg(&p).arg("16M");
        assert!(cmd.status().unwrap().success());
        src.file = Some(p.display().to_string());
        src.dev = None;
        *kind = Some(DiskType::File);
        p.display().to_string()
    };
    for d in &mut devs.disks {
        let top_fmt = d.driver.as_ref().and_then(|x| x.format).map_or("raw".to_string(), |f| f.to_string());
        let mut base = None;
        if let Some(b) = d.backing_store.as_mut() {
            if let Some(s) = b.source.as_mut() {
                let f = b.format.as_ref().and_then(|f| f.kind).map_or("qcow2".to_string(), |f| f.to_string());
                base = Some(image(s, &mut b.kind, &f, None));
            }
        }
        let mut kind = d.kind;
        if let Some(s) = d.source.as_mut() {
            image(s, &mut kind, &top_fmt, base.as_deref());
        }
        d.kind = kind;
    }
    let mut k = 0;
    for c in devs
        .serials
        .iter_mut()
        .chain(devs.consoles.iter_mut())
        .chain(devs.channels.iter_mut())
        .chain(devs.parallels.iter_mut())
    {
        for s in &mut c.source.sources {
            if s.path.is_some() {
                k += 1;
                s.path = Some(dir.join(format!("chr{k}")).display().to_string());
            }
        }
        if c.kind == Some(oxvirt_xml::domain::ChrType::Dev) {
            c.kind = Some(oxvirt_xml::domain::ChrType::Null);
            c.source.sources.clear();
        }
    }
}

fn guest_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("OXVIRT_GUEST_DIR") {
        return p.into();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out =
        std::process::Command::new(root.join("scripts/guest-image.sh")).output().expect("run scripts/guest-image.sh");
    assert!(out.status.success(), "guest-image.sh: {}", String::from_utf8_lossy(&out.stderr));
    let first = String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().to_string();
    Path::new(&first).parent().unwrap().to_path_buf()
}

fn spawn(def: &Domain, caps: &QemuCaps, dir: &Path) -> Result<(process::QemuProcess, oxvirt_qmp::Qmp), String> {
    let mut env = BuildEnv::new(caps, qemu_binary(), Accel::Tcg, dir.join("lib"), dir.join("run"));
    env.domain_id = 1;
    let mut cmd = complete_and_build(def, &env)?;
    cmd.prepare_files().map_err(|e| e.to_string())?;
    cmd.open_passed_files().map_err(|e| e.to_string())?;
    let spec = SpawnSpec {
        binary: qemu_binary(),
        args: cmd.argv.iter().map(OsString::from).collect(),
        run_dir: RunDir::new(dir.join("run")),
        timeout: Duration::from_secs(60),
        pass_fds: std::mem::take(&mut cmd.pass_fds),
    };
    process::spawn(&spec).map_err(|e| format!("{e}\nargv: {}", cmd.argv.join(" ")))
}

/// Every golden command line is accepted by the real QEMU: it starts paused (`-S`), answers
/// `query-status`, and quits.
#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn real_qemu_accepts_goldens() {
    let caps = caps();
    let files: Vec<PathBuf> =
        goldens().into_iter().filter(|p| !p.file_stem().unwrap().to_string_lossy().starts_with("err-")).collect();
    let _ = guest_dir();
    let t0 = Instant::now();
    let results: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let queue = Mutex::new(files.clone());
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| loop {
                let Some(p) = queue.lock().unwrap().pop() else {
                    break;
                };
                let stem = p.file_stem().unwrap().to_string_lossy().to_string();
                let dir = tempfile::tempdir().unwrap();
                let mut def = parse(&p);
                localize(&mut def, dir.path());
                let r = spawn(&def, &caps, dir.path()).and_then(|(proc_, mut qmp)| {
                    let st = qmp.execute("query-status", None).map_err(|e| e.to_string())?;
                    let _ = qmp.execute("quit", None);
                    proc_.wait_exit(Duration::from_secs(10));
                    let _ = proc_.kill(Duration::from_secs(2));
                    match st["status"].as_str() {
                        Some("prelaunch") | Some("paused") => Ok(()),
                        other => Err(format!("unexpected status {other:?}")),
                    }
                });
                if let Err(e) = r {
                    results.lock().unwrap().push(format!("{stem}: {e}"));
                }
            });
        }
    });
    eprintln!("{} command lines started in QEMU in {:?}", files.len(), t0.elapsed());
    let errs = results.into_inner().unwrap();
    assert!(errs.is_empty(), "{}", errs.join("\n\n"));
}

/// The test guest boots from a generated command line (TCG, direct kernel boot, serial to a
/// file) and prints its marker.
#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn guest_boots_from_generated_command_line() {
    let caps = caps();
    let dir = tempfile::tempdir().unwrap();
    let guest = guest_dir();
    let serial = dir.path().join("serial.log");
    let xml = format!(
        "<domain type='qemu'><name>boot-test</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64' machine='pc'>hvm</type><kernel>{}</kernel><initrd>{}</initrd>\
         <cmdline>console=ttyS0 quiet panic=-1 mitigations=off oxvirt.mode=poweroff</cmdline></os>\
         <features><acpi/></features><devices><serial type='file'><source path='{}'/></serial>\
         <memballoon model='none'/></devices></domain>",
        guest.join("vmlinuz").display(),
        guest.join("initrd-poweroff.img").display(),
        serial.display()
    );
    let def = Domain::from_xml_str(&xml).unwrap();
    let t0 = Instant::now();
    let (proc_, mut qmp) = spawn(&def, &caps, dir.path()).unwrap();
    qmp.execute("cont", None).unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut up = false;
    while Instant::now() < deadline {
        if std::fs::read_to_string(&serial).unwrap_or_default().contains("OXVIRT-GUEST-UP") {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let boot = t0.elapsed();
    let _ = qmp.execute("quit", None);
    let _ = proc_.kill(Duration::from_secs(5));
    assert!(up, "no marker in serial output:\n{}", std::fs::read_to_string(&serial).unwrap_or_default());
    eprintln!("guest up after {boot:?}");
}

fn device_drivers(args: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "-device" {
            if let Some(v) = it.next() {
                let v = v.trim().trim_matches('\'');
                let name = if v.starts_with('{') {
                    serde_json::from_str::<serde_json::Value>(v)
                        .ok()
                        .and_then(|j| j["driver"].as_str().map(String::from))
                } else {
                    v.split(',').next().map(|s| s.trim_start_matches("driver=").to_string())
                };
                if let Some(n) = name {
                    // QEMU's own aliases for the same device type.
                    let n = match n.as_str() {
                        "lsi" => "lsi53c895a".to_string(),
                        "ahci" => "ich9-ahci".to_string(),
                        _ => n,
                    };
                    out.insert(n);
                }
            }
        }
    }
    out
}

/// Splits a libvirt `.args` file (shell-quoted, one option per line) into words.
fn split_args(text: &str) -> Vec<String> {
    let joined = text.replace("\\\n", " ");
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_q = false;
    let mut any = false;
    for ch in joined.chars() {
        match ch {
            '\'' => {
                in_q = !in_q;
                any = true;
            }
            c if c.is_whitespace() && !in_q => {
                if any {
                    words.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(cur);
    }
    words
}

/// For libvirt's qemuxml2argv inputs with an x86_64 `.args`: how many we build, and for how
/// many our set of `-device` drivers equals libvirt's. Prints the figure; no threshold.
#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus, ../shared (make test)")]
fn corpus_figure() {
    let dir = oxvirt_testsupport::libvirt_tests("qemuxml2argvdata");
    let dir = dir.as_path();
    let caps = caps();
    let mut inputs: Vec<(PathBuf, PathBuf)> = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "xml") {
            continue;
        }
        let stem = p.file_stem().unwrap().to_string_lossy().to_string();
        let latest = dir.join(format!("{stem}.x86_64-latest.args"));
        let plain = dir.join(format!("{stem}.args"));
        let args = if latest.exists() {
            latest
        } else if plain.exists() {
            plain
        } else {
            continue;
        };
        let text = std::fs::read_to_string(&args).unwrap_or_default();
        if !text.contains("qemu-system-x86_64") {
            continue;
        }
        inputs.push((p, args));
    }
    inputs.sort();
    let (mut total, mut parsed, mut built, mut same) = (0, 0, 0, 0);
    let mut reasons: std::collections::BTreeMap<String, usize> = Default::default();
    let verbose = std::env::var_os("OXVIRT_CORPUS_VERBOSE").is_some();
    for (xml, args) in &inputs {
        total += 1;
        let Ok(text) = std::fs::read_to_string(xml) else {
            continue;
        };
        let Ok((def, _)) = parse_document::<Domain>(&text, ParseOptions::default()) else {
            *reasons.entry("XML model rejects the file".into()).or_default() += 1;
            continue;
        };
        parsed += 1;
        let env = golden_env(&caps, &def);
        match complete_and_build(&def, &env) {
            Ok(cmd) => {
                built += 1;
                let ours = device_drivers(&cmd.argv);
                let theirs = device_drivers(&split_args(&std::fs::read_to_string(args).unwrap()));
                if ours == theirs {
                    same += 1;
                } else if verbose {
                    eprintln!(
                        "{}: ours-only {:?} theirs-only {:?}",
                        xml.display(),
                        ours.difference(&theirs).collect::<Vec<_>>(),
                        theirs.difference(&ours).collect::<Vec<_>>()
                    );
                }
            }
            Err(msg) => {
                let key = msg.split(':').take(2).collect::<Vec<_>>().join(":");
                *reasons.entry(key).or_default() += 1;
            }
        }
    }
    let mut top: Vec<_> = reasons.into_iter().collect();
    top.sort_by_key(|e| std::cmp::Reverse(e.1));
    eprintln!("corpus: {total} x86_64 inputs with libvirt .args; {parsed} parsed; {built} built; {same} with the same -device driver set as libvirt");
    for (r, n) in top.iter().take(25) {
        eprintln!("  {n:4}  {r}");
    }
}

/// vhost-net as libvirt decides it, with /dev/vhost-net present or not (a flag: this machine has
/// none); refusals name the attribute.
#[test]
fn vhost_net_choice() {
    use oxvirt_xml::domain::devices::interface::Interface;
    let nic = |model: &str, driver: &str| -> Interface {
        let xml =
            format!("<interface type='network'><source network='default'/><model type='{model}'/>{driver}</interface>");
        oxvirt_xml::parse_element::<Interface>(&xml, "interface", ParseOptions::default()).unwrap().0
    };
    let virtio = nic("virtio", "");
    assert!(vhost_wanted(&virtio, 0, Accel::Kvm, true).unwrap(), "default on KVM with the device");
    assert!(!vhost_wanted(&virtio, 0, Accel::Kvm, false).unwrap(), "default without the device: userspace");
    assert!(!vhost_wanted(&virtio, 0, Accel::Tcg, true).unwrap(), "default under TCG: userspace");
    assert!(!vhost_wanted(&nic("e1000", ""), 0, Accel::Kvm, true).unwrap(), "only virtio");
    assert!(!vhost_wanted(&nic("virtio", "<driver name='qemu'/>"), 0, Accel::Kvm, true).unwrap(), "qemu: never");
    let asked = nic("virtio", "<driver name='vhost' queues='2'/>");
    assert!(vhost_wanted(&asked, 1, Accel::Tcg, true).unwrap(), "asked for: used under TCG too");
    let e = vhost_wanted(&asked, 1, Accel::Kvm, false).unwrap_err().to_string();
    assert!(
        e.contains("/domain/devices/interface[2]/driver/@name")
            && e.contains("unavailable")
            && e.contains("/dev/vhost-net"),
        "{e}"
    );
    let e = vhost_wanted(&nic("e1000", "<driver name='vhost'/>"), 0, Accel::Kvm, true).unwrap_err().to_string();
    assert!(e.contains("driver/@name") && e.contains("only supported for virtio"), "{e}");
    let e = vhost_wanted(&nic("virtio", "<driver name='vfio'/>"), 0, Accel::Kvm, true).unwrap_err().to_string();
    assert!(e.contains("driver/@name") && e.contains("'vfio'"), "{e}");
}
