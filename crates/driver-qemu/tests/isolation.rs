//! Resource control and isolation on real QEMU (TCG), through the public API in embedded mode:
//! values from the definition read back from the kernel's cgroup files and /proc, QEMU running as
//! the unprivileged user, and an unusable image refused before any QEMU starts.
//!
//! Needs root (cgroups, user switch), as the driver does for these features.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use oxvirt_api::{Connect, DomainState};

fn embed(root: &Path) -> Connect {
    oxvirt_driver_qemu::register();
    Connect::open(Some(&format!("qemu:///embed?root={}", root.display()))).expect("open embed")
}

fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// The guest XML with extra top-level elements before `<os>`.
fn tuned_xml(name: &str, serial: &Path, extra: &str) -> String {
    guest_xml(name, "shell", Some(serial)).replacen("  <os>", &format!("{extra}\n  <os>"), 1)
}

fn status(root: &Path, name: &str) -> serde_json::Value {
    serde_json::from_slice(&fs::read(root.join(format!("run/qemu/status/{name}.status"))).unwrap()).unwrap()
}

fn record(root: &Path, name: &str) -> serde_json::Value {
    let p = root.join(format!("run/qemu/status/{name}.cgroup"));
    serde_json::from_slice(&fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

fn cg_dir(rec: &serde_json::Value, controller: &str) -> PathBuf {
    PathBuf::from(rec["cgroup"]["dirs"][controller].as_str().unwrap_or_else(|| panic!("no {controller} in {rec}")))
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).trim().to_string()
}

fn proc_field(path: &str, field: &str) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("{field} not in {path}"))
        .trim()
        .to_string()
}

const TUNING: &str =
    "  <memtune><hard_limit unit='MiB'>1024</hard_limit><soft_limit unit='MiB'>768</soft_limit></memtune>
  <cputune>
    <shares>512</shares>
    <period>100000</period>
    <quota>50000</quota>
    <emulator_period>100000</emulator_period>
    <emulator_quota>80000</emulator_quota>
    <vcpupin vcpu='0' cpuset='1'/>
    <vcpupin vcpu='1' cpuset='0'/>
    <emulatorpin cpuset='0'/>
  </cputune>";

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root, cgroups, QEMU and the test guest (make test)")]
fn tuning_pinning_and_unprivileged_qemu() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let conn = embed(root.path());
    let serial = root.path().join("serial.log");
    let (mut dom, _) = conn.define_domain(&tuned_xml("iso1", &serial, TUNING), 0).unwrap();
    let t0 = Instant::now();
    dom.create(oxvirt_api::DomainCreateFlags::empty()).unwrap();
    let start_time = t0.elapsed();
    assert!(wait_for_text(&serial, "OXVIRT-GUEST-UP", Duration::from_secs(90)), "guest did not boot");
    let pid = status(root.path(), "iso1")["pid"].as_i64().unwrap() as i32;
    let rec = record(root.path(), "iso1");

    // QEMU runs as the unprivileged user (all four uids), not root.
    let user = nix::unistd::User::from_name("oxvirt-qemu").unwrap().expect("oxvirt-qemu created");
    let uid = user.uid.as_raw().to_string();
    let uids: Vec<String> =
        proc_field(&format!("/proc/{pid}/status"), "Uid").split_whitespace().map(str::to_string).collect();
    assert_eq!(uids, [uid.clone(), uid.clone(), uid.clone(), uid], "QEMU uids");
    assert_eq!(proc_field(&format!("/proc/{pid}/status"), "CapEff"), "0000000000000000");

    // Domain-wide values in the real cgroup files (this host: v1).
    let cpu = cg_dir(&rec, "cpu");
    let mem = cg_dir(&rec, "memory");
    assert!(
        cpu.starts_with("/sys/fs/cgroup/cpu/") && cpu.to_string_lossy().contains("/machine/qemu-"),
        "{}",
        cpu.display()
    );
    assert_eq!(read(&cpu.join("cpu.shares")), "512");
    assert_eq!(read(&mem.join("memory.limit_in_bytes")), (1024u64 << 20).to_string());
    assert_eq!(read(&mem.join("memory.soft_limit_in_bytes")), (768u64 << 20).to_string());
    assert!(read(&mem.join("cgroup.procs")).lines().any(|l| l == pid.to_string()), "QEMU in the memory cgroup");
    // Per-vCPU and emulator bandwidth in child cgroups.
    assert_eq!(read(&cpu.join("vcpu0/cpu.cfs_period_us")), "100000");
    assert_eq!(read(&cpu.join("vcpu0/cpu.cfs_quota_us")), "50000");
    assert_eq!(read(&cpu.join("emulator/cpu.cfs_quota_us")), "80000");
    assert_eq!(read(&cpu.join("emulator/cgroup.procs")), pid.to_string(), "every thread group member left the parent");

    // vCPU thread from QMP, independently of what the driver recorded.
    let mut qmp =
        oxvirt_qmp::Qmp::connect(root.path().join("run/qemu/domains/iso1/qmp.sock"), Duration::from_secs(10)).unwrap();
    let cpus = qmp.execute("query-cpus-fast", None).unwrap();
    let tid = cpus[0]["thread-id"].as_i64().unwrap() as i32;
    assert_eq!(cpus.as_array().unwrap().len(), 1, "one of two vCPUs online");
    drop(qmp);
    assert_eq!(read(&cpu.join("vcpu0/tasks")), tid.to_string());
    assert_eq!(proc_field(&format!("/proc/{pid}/task/{tid}/status"), "Cpus_allowed_list"), "1", "vcpupin");
    let threads: Vec<i32> = fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    assert!(threads.len() > 1);
    for t in threads.iter().filter(|t| **t != tid) {
        let allowed = proc_field(&format!("/proc/{pid}/task/{t}/status"), "Cpus_allowed_list");
        assert_eq!(
            allowed,
            "0",
            "emulatorpin of thread {t} ({})",
            read(Path::new(&format!("/proc/{pid}/task/{t}/comm")))
        );
        // Threads QEMU started after the move follow their creator into the emulator cgroup.
        let cg = read(Path::new(&format!("/proc/{pid}/task/{t}/cgroup")));
        assert!(cg.lines().any(|l| l.starts_with("1:cpu:") && l.ends_with("/emulator")), "thread {t}: {cg}");
    }
    let setup_us = rec["setup_micros"].as_u64().unwrap();
    eprintln!("cgroup+pinning setup: {setup_us} µs; whole start (define→running): {start_time:?}");

    dom.destroy(0).unwrap();
    assert_eq!(dom.state().unwrap().0, DomainState::Shutoff);
    for d in [&cpu, &mem, &cpu.join("vcpu0")] {
        assert!(!d.exists(), "{} removed at stop", d.display());
    }
    assert!(!root.path().join("run/qemu/status/iso1.cgroup").exists());
    dom.undefine(oxvirt_api::DomainUndefineFlags::empty()).unwrap();
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root, cgroups, QEMU and the test guest (make test)")]
fn crashed_domain_cgroup_does_not_block_next_start() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let conn = embed(root.path());
    let serial = root.path().join("serial.log");
    let xml = tuned_xml("iso2", &serial, "  <cputune><shares>300</shares></cputune>");
    let (mut dom, _) = conn.define_domain(&xml, 0).unwrap();
    dom.create(oxvirt_api::DomainCreateFlags::empty()).unwrap();
    let pid = status(root.path(), "iso2")["pid"].as_i64().unwrap() as i32;
    let first = cg_dir(&record(root.path(), "iso2"), "cpu");
    assert_eq!(read(&first.join("cpu.shares")), "300");
    // QEMU dies while nobody watches.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while oxvirt_driver_qemu::process::is_alive(pid) {
        assert!(Instant::now() < deadline, "QEMU survived SIGKILL");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The next start notices the crash, removes the old cgroup and makes a new one.
    dom.create(oxvirt_api::DomainCreateFlags::empty()).unwrap();
    assert!(!first.exists(), "{} left behind", first.display());
    let second = cg_dir(&record(root.path(), "iso2"), "cpu");
    assert_ne!(first, second);
    assert_eq!(read(&second.join("cpu.shares")), "300");
    dom.destroy(0).unwrap();
    assert!(!second.exists());
    dom.undefine(oxvirt_api::DomainUndefineFlags::empty()).unwrap();
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root, cgroups, QEMU and the test guest (make test)")]
fn unusable_image_is_refused_before_qemu_starts() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let private = root.path().join("private");
    fs::create_dir(&private).unwrap();
    let img = private.join("img.raw");
    fs::write(&img, vec![0u8; 1 << 20]).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
    let conn = embed(root.path());
    let serial = root.path().join("serial.log");
    let disk = format!(
        "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{}'/><target dev='vda' bus='virtio'/></disk>",
        img.display()
    );
    let xml = guest_xml("iso3", "shell", Some(&serial)).replacen("<devices>", &format!("<devices>\n    {disk}"), 1);
    let (mut dom, _) = conn.define_domain(&xml, 0).unwrap();
    let err = dom.create(oxvirt_api::DomainCreateFlags::empty()).unwrap_err();
    let uid = nix::unistd::User::from_name("oxvirt-qemu").unwrap().unwrap().uid;
    let expect = format!(
        "QEMU will run as user 'oxvirt-qemu' (uid {uid}), which cannot read and write {} (disk 'vda'): {} is mode 0700 owned by root:root (search (x) permission missing)",
        img.display(),
        private.display()
    );
    assert!(err.message.starts_with(&expect), "{}", err.message);
    // Nothing started: no QEMU log, pidfile or status, domain still shut off.
    let run = root.path().join("run/qemu/domains/iso3");
    assert!(!root.path().join("log/qemu/iso3.log").exists() && !run.join("qemu.pid").exists(), "QEMU was started");
    assert!(!root.path().join("run/qemu/status/iso3.status").exists());
    assert_eq!(dom.state().unwrap().0, DomainState::Shutoff);
    dom.undefine(oxvirt_api::DomainUndefineFlags::empty()).unwrap();
}
