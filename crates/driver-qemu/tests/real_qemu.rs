//! Against the real qemu-system-x86_64 (TCG). Timings are printed; run with
//! `--nocapture` to see them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use oxvirt_driver_qemu::caps::{CacheOutcome, CapsCache, KvmUsability, KvmVerdict};
use oxvirt_driver_qemu::command::RuntimeArgs;
use oxvirt_driver_qemu::process::{self, KillOutcome, ProcessError, RunDir, SpawnSpec};
use oxvirt_qmp::QmpError;

pub fn qemu_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("OXVIRT_QEMU") {
        return p.into();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join("qemu-system-x86_64")).find(|p| p.is_file()).unwrap_or_else(|| {
        panic!("qemu-system-x86_64 not found in PATH; install qemu-system-x86 (scripts/install-deps.sh)")
    })
}

fn spec(run_dir: &Path, extra: &[&str]) -> SpawnSpec {
    let mut args: Vec<OsString> =
        ["-no-user-config", "-nodefaults", "-machine", "pc,accel=tcg", "-display", "none", "-m", "64", "-S"]
            .iter()
            .map(OsString::from)
            .collect();
    args.extend(extra.iter().map(OsString::from));
    // The pidfile and monitors, as the command builder writes them for every start.
    args.extend(RuntimeArgs::in_dir(run_dir).to_args(0).into_iter().map(OsString::from));
    SpawnSpec {
        binary: qemu_binary(),
        args,
        run_dir: RunDir::new(run_dir),
        timeout: Duration::from_secs(30),
        pass_fds: Vec::new(),
    }
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn probe_then_cache_hit() {
    let bin = qemu_binary();
    let dir = tempfile::tempdir().unwrap();
    let cache = CapsCache::new(dir.path().join("cache"));

    let t0 = Instant::now();
    let (caps, outcome) = cache.get(&bin).expect("probe");
    let probe_time = t0.elapsed();
    assert_eq!(outcome, CacheOutcome::Probed);

    let t1 = Instant::now();
    let (cached, outcome) = cache.get(&bin).expect("cache hit");
    let hit_time = t1.elapsed();
    assert_eq!(outcome, CacheOutcome::Hit);
    assert_eq!(cached, caps);
    eprintln!(
        "QEMU {}.{}.{} caps: probe {probe_time:?}, cache hit {hit_time:?} ({} machines, {} CPU models, {} QOM types)",
        caps.version.major,
        caps.version.minor,
        caps.version.micro,
        caps.machines.len(),
        caps.cpu_models.len(),
        caps.qom_types.len()
    );
    assert!(hit_time * 5 < probe_time, "hit {hit_time:?} vs probe {probe_time:?}");

    assert_eq!(caps.arch, "x86_64");
    assert!(caps.version.major >= 7);
    assert!(caps.machine("q35").is_some_and(|m| m.name.starts_with("pc-q35-")));
    assert!(caps.machine("pc").is_some_and(|m| m.name.starts_with("pc-i440fx-")));
    assert!(caps.default_machine().is_some());
    assert!(caps.machine("none").is_some());
    let devs = caps.device_types.as_ref().expect("live probe lists devices");
    assert!(devs.contains("virtio-blk-pci") && devs.contains("virtio-net-pci"));
    assert!(caps.has_type("memory-backend-ram") && !caps.has_device("memory-backend-ram"));
    assert!(caps.cpu_model("qemu64").is_some());
    assert!(caps.has_command("query-status"));
    assert!(caps.kvm.present, "Debian builds QEMU with KVM");
    assert!(!caps.kvm.enabled, "probing uses TCG");

    // The entry on disk is complete JSON naming the binary.
    let entry = cache.entry_path(&std::fs::canonicalize(&bin).unwrap());
    let text = std::fs::read_to_string(entry).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(v["caps"]["machines"].is_array());
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn cache_reprobes_when_binary_changes() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("qemu-copy");
    std::fs::copy(qemu_binary(), &bin).unwrap();
    let cache = CapsCache::new(dir.path().join("cache"));
    assert_eq!(cache.get(&bin).unwrap().1, CacheOutcome::Probed);
    assert_eq!(cache.get(&bin).unwrap().1, CacheOutcome::Hit);

    let f = std::fs::OpenOptions::new().write(true).open(&bin).unwrap();
    f.set_modified(SystemTime::now() + Duration::from_secs(60)).unwrap();
    drop(f);
    assert_eq!(cache.get(&bin).unwrap().1, CacheOutcome::Probed, "mtime changed");
    assert_eq!(cache.get(&bin).unwrap().1, CacheOutcome::Hit);

    let entry = cache.entry_path(&std::fs::canonicalize(&bin).unwrap());
    std::fs::write(&entry, b"{\"truncated").unwrap();
    assert_eq!(cache.get(&bin).unwrap().1, CacheOutcome::Probed, "corrupt entry");
    assert_eq!(cache.get(&bin).unwrap().1, CacheOutcome::Hit);
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn spawn_query_cont_quit() {
    let run = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let (qemu, mut qmp) = process::spawn(&spec(run.path(), &[])).expect("spawn");
    let start_time = t0.elapsed();
    assert!(qemu.is_alive());
    let pidfile_pid: i32 = std::fs::read_to_string(qemu.run_dir.pidfile()).unwrap().trim().parse().unwrap();
    assert_eq!(pidfile_pid, qemu.pid);

    let st = qmp.execute("query-status", None).unwrap();
    assert_eq!(st["status"], "prelaunch");
    assert_eq!(st["running"], false);

    const N: u32 = 200;
    let t = Instant::now();
    for _ in 0..N {
        qmp.execute("query-status", None).unwrap();
    }
    let rtt = t.elapsed() / N;

    // Descriptor passing with the real QEMU: getfd/closefd and add-fd/query-fdsets.
    use std::os::fd::AsFd;
    let file = std::fs::File::open("/dev/null").unwrap();
    qmp.execute_with_fd("getfd", Some(serde_json::json!({"fdname": "probe-fd"})), file.as_fd()).unwrap();
    qmp.execute("closefd", Some(serde_json::json!({"fdname": "probe-fd"}))).unwrap();
    let err = qmp.execute("closefd", Some(serde_json::json!({"fdname": "probe-fd"}))).unwrap_err();
    assert_eq!(err.class(), Some("GenericError"), "{err}");
    let added = qmp.execute_with_fd("add-fd", Some(serde_json::json!({"fdset-id": 7})), file.as_fd()).unwrap();
    assert_eq!(added["fdset-id"], 7);
    let sets = qmp.execute("query-fdsets", None).unwrap();
    assert_eq!(sets[0]["fdset-id"], 7);
    assert_eq!(sets[0]["fds"][0]["fd"], added["fd"]);

    qmp.execute("cont", None).unwrap();
    qmp.wait_event("RESUME", Duration::from_secs(5)).unwrap();
    let st = qmp.execute("query-status", None).unwrap();
    assert_eq!(st["status"], "running");

    let t = Instant::now();
    match qmp.execute("quit", None) {
        Ok(_) | Err(QmpError::Disconnected { .. }) => {}
        Err(e) => panic!("quit: {e}"),
    }
    assert!(qemu.wait_exit(Duration::from_secs(10)), "QEMU still alive after quit");
    let exit_time = t.elapsed();
    assert!(!process::is_alive(qemu.pid));
    let err = qmp.execute("query-status", None).unwrap_err();
    assert!(matches!(err, QmpError::Disconnected { .. }), "{err}");
    eprintln!("spawn to QMP ready {start_time:?}; QMP round trip (query-status) {rtt:?}; quit to gone {exit_time:?}");
    let log = std::fs::read_to_string(qemu.run_dir.log()).unwrap();
    assert!(log.starts_with("starting: "), "{log}");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn kill_escalates_and_reports() {
    let run = tempfile::tempdir().unwrap();
    let (qemu, qmp) = process::spawn(&spec(run.path(), &[])).expect("spawn");
    drop(qmp);
    assert_eq!(qemu.kill(Duration::from_secs(5)).unwrap(), KillOutcome::Terminated);
    assert!(!qemu.is_alive());
    assert_eq!(qemu.kill(Duration::from_secs(1)).unwrap(), KillOutcome::AlreadyGone);
    // QEMU's stderr still goes to the log after start-up: its exit message is there.
    let log = std::fs::read_to_string(qemu.run_dir.log()).unwrap();
    assert!(log.contains("terminating on signal 15"), "log: {log}");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn start_failure_carries_log_tail() {
    let run = tempfile::tempdir().unwrap();
    let mut s = spec(run.path(), &[]);
    s.args.extend(["-machine", "no-such-machine"].map(OsString::from));
    let err = process::spawn(&s).unwrap_err();
    match &err {
        ProcessError::StartFailed { log, .. } => {
            assert!(log.contains("no-such-machine"), "log tail: {log}");
        }
        other => panic!("unexpected: {other}"),
    }
    assert!(err.to_string().contains("no-such-machine"));
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn kvm_usability_is_reported_honestly() {
    let caps = oxvirt_driver_qemu::caps::probe(&qemu_binary()).unwrap();
    let t = Instant::now();
    let k = KvmUsability::check(caps.kvm.present);
    eprintln!("KVM check ({:?}): {:?}: {}", t.elapsed(), k.verdict, k.reason);
    assert!(!k.reason.is_empty());
    if !Path::new("/dev/kvm").exists() {
        assert_eq!(k.verdict, KvmVerdict::NoDevice);
    }
    match k.verdict {
        KvmVerdict::Usable => assert!(k.loop_rate.unwrap() >= 50e6),
        KvmVerdict::Emulated => assert!(k.loop_rate.unwrap() < 50e6),
        _ => assert!(k.loop_rate.is_none()),
    }
}
