//! The cgroup code on fake cgroupfs trees (plain directories and files), v1 and v2.

use super::*;
use oxvirt_xml::XmlDocument;

fn put(p: &Path, content: &str) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, content).unwrap();
}

fn get(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A v1 host like this machine: every controller at the root except memory, which sits in a
/// sandbox cgroup.
fn fake_v1() -> (tempfile::TempDir, CgroupHost) {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    for c in ["cpu", "cpuacct", "cpuset", "memory", "blkio", "pids", "freezer"] {
        put(&r.join(c).join("cgroup.procs"), "");
    }
    put(&r.join("cpuset/cpuset.cpus"), "0-3\n");
    put(&r.join("cpuset/cpuset.mems"), "0-1\n");
    put(&r.join("memory/sandbox/x1/cgroup.procs"), "");
    let own = "9:name=systemd:/\n8:pids:/\n4:memory:/sandbox/x1\n3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n0::/\n";
    let host = CgroupHost::detect(r, own).unwrap();
    (d, host)
}

fn fake_v2() -> (tempfile::TempDir, CgroupHost) {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    put(&r.join("cgroup.controllers"), "cpuset cpu io memory hugetlb pids\n");
    put(&r.join("cgroup.subtree_control"), "");
    put(&r.join("system.slice/cgroup.controllers"), "cpuset cpu io memory pids\n");
    put(&r.join("system.slice/oxvirtd.service/cgroup.procs"), "1234\n");
    let host = CgroupHost::detect(r, "0::/system.slice/oxvirtd.service\n").unwrap();
    (d, host)
}

fn domain(xml: &str) -> Domain {
    Domain::from_xml_str(xml).unwrap()
}

const TUNED: &str = "<domain type='qemu'><name>t</name><memory unit='MiB'>256</memory><vcpu>2</vcpu>
  <cputune><shares>2048</shares><period>100000</period><quota>50000</quota>
    <global_period>200000</global_period><global_quota>300000</global_quota>
    <emulator_period>10000</emulator_period><emulator_quota>-1</emulator_quota>
    <vcpupin vcpu='0' cpuset='1'/><vcpupin vcpu='1' cpuset='0-3,^2'/><emulatorpin cpuset='0'/></cputune>
  <memtune><hard_limit unit='MiB'>512</hard_limit><soft_limit unit='MiB'>384</soft_limit>
    <swap_hard_limit unit='MiB'>1024</swap_hard_limit></memtune>
  <numatune><memory mode='strict' nodeset='0-1,^0'/></numatune>
  <os><type arch='x86_64'>hvm</type></os></domain>";

#[test]
fn detects_versions_and_own_cgroups() {
    let (_d, v1) = fake_v1();
    assert_eq!(v1.version, Version::V1);
    assert!(v1.has_controller("memory") && v1.has_controller("pids"));
    assert!(!v1.has_controller("freezer"), "only controllers we use");
    assert_eq!(v1.own["memory"], "/sandbox/x1");
    let (_d2, v2) = fake_v2();
    assert_eq!(v2.version, Version::V2);
    assert!(v2.has_controller("io"));

    // Hybrid: an empty unified mount beside v1 controllers is v1.
    let (d, _) = fake_v1();
    put(&d.path().join("unified/cgroup.controllers"), "");
    assert_eq!(CgroupHost::detect(d.path(), "1:cpu:/\n0::/\n").unwrap().version, Version::V1);

    let empty = tempfile::tempdir().unwrap();
    let e = CgroupHost::detect(empty.path(), "0::/\n").unwrap_err();
    assert!(e.to_string().contains("no usable cgroup hierarchy"), "{e}");
}

#[test]
fn tuning_from_domain_in_cgroup_units() {
    let t = Tuning::from_domain(&domain(TUNED)).unwrap();
    assert_eq!(t.cpu_shares, Some(2048));
    assert_eq!(t.vcpu, Bandwidth { period: Some(100_000), quota: Some(50_000) });
    assert_eq!(t.emulator, Bandwidth { period: Some(10_000), quota: Some(-1) });
    assert_eq!(t.mem_hard, Some(Some(512 << 20)));
    assert_eq!(t.mem_soft, Some(Some(384 << 20)));
    assert_eq!(t.mem_swap_hard, Some(Some(1024 << 20)));
    assert_eq!(t.mems.as_deref(), Some("1"));
    assert!(t.per_thread());

    let none = Tuning::from_domain(&domain(
        "<domain type='qemu'><name>n</name><memory>1024</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>",
    ))
    .unwrap();
    assert!(none.is_empty() && !none.per_thread());

    let with = |inner: &str| {
        Tuning::from_domain(&domain(&format!(
            "<domain type='qemu'><name>n</name><memory>1024</memory><vcpu>1</vcpu>{inner}<os><type>hvm</type></os></domain>"
        )))
    };
    for (bad, says) in [
        ("<cputune><shares>1</shares></cputune>", "shares"),
        ("<cputune><period>999</period></cputune>", "period"),
        ("<cputune><quota>10</quota></cputune>", "quota"),
        ("<memtune><hard_limit>2048</hard_limit><swap_hard_limit>1024</swap_hard_limit></memtune>", "swap_hard_limit"),
        ("<blkiotune><weight>5</weight></blkiotune>", "weight"),
        (
            "<blkiotune><device><path>/etc/hostname</path><weight>500</weight></device></blkiotune>",
            "not a block device",
        ),
    ] {
        let e = with(bad).unwrap_err().to_string();
        assert!(e.contains(says), "{bad}: {e}");
    }
    // libvirt's "unlimited" value and negative quotas mean no limit.
    let t = with("<memtune><hard_limit>9007199254740991</hard_limit></memtune><cputune><quota>-5</quota></cputune>")
        .unwrap();
    assert_eq!(t.mem_hard, Some(None));
    assert_eq!(t.vcpu.quota, Some(-1));
}

#[test]
fn v1_create_apply_attach_threads_remove() {
    let (d, host) = fake_v1();
    let r = d.path();
    let mut cg = host.create("qemu-3-t.oxvirt").unwrap();
    let cpu = r.join("cpu/machine/qemu-3-t.oxvirt");
    let mem = r.join("memory/sandbox/x1/machine/qemu-3-t.oxvirt");
    assert_eq!(cg.dirs["cpu"], cpu);
    assert_eq!(cg.dirs["memory"], mem, "under this process's own memory cgroup");
    assert!(!cg.dirs.contains_key("freezer"));
    // cpusets inherit CPUs and nodes at every level they create.
    assert_eq!(get(&r.join("cpuset/machine/cpuset.cpus")), "0-3");
    assert_eq!(get(&r.join("cpuset/machine/qemu-3-t.oxvirt/cpuset.mems")), "0-1");

    let t = Tuning::from_domain(&domain(TUNED)).unwrap();
    cg.apply(&Tuning { mem_swap_hard: None, ..t.clone() }).unwrap();
    assert_eq!(get(&cpu.join("cpu.shares")), "2048");
    assert_eq!(get(&cpu.join("cpu.cfs_period_us")), "200000");
    assert_eq!(get(&cpu.join("cpu.cfs_quota_us")), "300000");
    assert_eq!(get(&mem.join("memory.limit_in_bytes")), (512u64 << 20).to_string());
    assert_eq!(get(&mem.join("memory.soft_limit_in_bytes")), (384u64 << 20).to_string());
    assert_eq!(get(&r.join("cpuset/machine/qemu-3-t.oxvirt/cpuset.mems")), "1");
    // swap accounting off (no memsw file): a clear error, not a silently created file.
    let e = cg.apply(&t).unwrap_err().to_string();
    assert!(e.contains("memory.memsw.limit_in_bytes") && e.contains("swapaccount=1"), "{e}");
    put(&mem.join("memory.memsw.limit_in_bytes"), "");
    cg.apply(&t).unwrap();
    assert_eq!(get(&mem.join("memory.memsw.limit_in_bytes")), (1024u64 << 20).to_string());

    cg.attach(4242).unwrap();
    for c in ["cpu", "cpuacct", "cpuset", "pids"] {
        assert_eq!(get(&r.join(c).join("machine/qemu-3-t.oxvirt/cgroup.procs")), "4242", "{c}");
    }
    assert_eq!(get(&mem.join("cgroup.procs")), "4242");
    cg.place_threads(4242, &[(0, 4250), (1, 4251)], &t).unwrap();
    assert_eq!(cg.children, ["emulator", "vcpu0", "vcpu1"]);
    assert_eq!(get(&cpu.join("emulator/cgroup.procs")), "4242");
    assert_eq!(get(&cpu.join("emulator/cpu.cfs_period_us")), "10000");
    assert_eq!(get(&cpu.join("emulator/cpu.cfs_quota_us")), "-1");
    assert_eq!(get(&cpu.join("vcpu1/tasks")), "4251");
    assert_eq!(get(&cpu.join("vcpu0/cpu.cfs_quota_us")), "50000");
    assert!(!r.join("memory/sandbox/x1/machine/qemu-3-t.oxvirt/vcpu0").exists(), "threads split only for cpu");

    // The record survives a round trip and removal leaves the partition, not the domain.
    let rec = r.join("t.cgroup");
    store_record(&rec, &cg).unwrap();
    remove_recorded(&rec).unwrap();
    assert!(!rec.exists() && !cpu.exists() && !mem.exists());
    assert!(r.join("cpu/machine").is_dir());
    remove_recorded(&rec).unwrap();
}

#[test]
fn v1_lingering_cgroup_is_reused() {
    let (d, host) = fake_v1();
    let a = host.create("qemu-1-x.oxvirt").unwrap();
    put(&a.dirs["cpu"].join("vcpu0/tasks"), "");
    let b = host.create("qemu-1-x.oxvirt").unwrap();
    assert_eq!(a, b);
    b.apply(&Tuning { cpu_shares: Some(100), ..Default::default() }).unwrap();
    assert_eq!(get(&d.path().join("cpu/machine/qemu-1-x.oxvirt/cpu.shares")), "100");
}

#[test]
fn v2_create_apply_threaded_children() {
    let (d, host) = fake_v2();
    let r = d.path();
    let mut cg = host.create("qemu-7-t.oxvirt").unwrap();
    let dir = r.join("system.slice/machine/qemu-7-t.oxvirt");
    assert_eq!(cg.dirs[""], dir, "beside the starter's own cgroup, which holds processes");
    assert_eq!(get(&r.join("system.slice/cgroup.subtree_control")), "+cpu +cpuset +memory +io +pids");
    assert_eq!(get(&r.join("system.slice/machine/cgroup.subtree_control")), "+cpu +cpuset +memory +io +pids");

    let t = Tuning::from_domain(&domain(TUNED)).unwrap();
    // On a real v2 host, enabled controllers create their files; the fake tree needs them.
    let e = cg.apply(&t).unwrap_err().to_string();
    assert!(e.contains("cpu.weight"), "{e}");
    for f in
        ["cpu.weight", "cpu.max", "memory.max", "memory.high", "memory.swap.max", "cpuset.mems", "io.weight", "io.max"]
    {
        put(&dir.join(f), "");
    }
    cg.apply(&t).unwrap();
    assert_eq!(get(&dir.join("cpu.weight")), shares_to_weight(2048).to_string());
    assert_eq!(get(&dir.join("cpu.max")), "300000 200000");
    assert_eq!(get(&dir.join("memory.max")), (512u64 << 20).to_string());
    assert_eq!(get(&dir.join("memory.high")), (384u64 << 20).to_string());
    assert_eq!(get(&dir.join("memory.swap.max")), (512u64 << 20).to_string(), "swap alone, not memory+swap");
    assert_eq!(get(&dir.join("cpuset.mems")), "1");

    cg.attach(99).unwrap();
    assert_eq!(get(&dir.join("cgroup.procs")), "99");
    cg.place_threads(99, &[(0, 100)], &t).unwrap();
    assert_eq!(get(&dir.join("vcpu0/cgroup.type")), "threaded");
    assert_eq!(get(&dir.join("emulator/cgroup.type")), "threaded");
    assert_eq!(get(&dir.join("cgroup.subtree_control")), "+cpu");
    assert_eq!(get(&dir.join("vcpu0/cgroup.threads")), "100");
    assert_eq!(get(&dir.join("vcpu0/cpu.max")), "50000 100000");
    assert_eq!(get(&dir.join("emulator/cpu.max")), "max 10000");
    assert_eq!(get(&dir.join("emulator/cgroup.procs")), "99");
    cg.remove().unwrap();
    assert!(!dir.exists());
}

#[test]
fn v2_at_root_and_without_controllers() {
    let d = tempfile::tempdir().unwrap();
    put(&d.path().join("cgroup.controllers"), "memory pids\n");
    let host = CgroupHost::detect(d.path(), "0::/\n").unwrap();
    let cg = host.create("s").unwrap();
    assert_eq!(cg.dirs[""], d.path().join("machine/s"));
    assert_eq!(get(&d.path().join("cgroup.subtree_control")), "+memory +pids");
    let e = cg.apply(&Tuning { cpu_shares: Some(1024), ..Default::default() }).unwrap_err().to_string();
    assert!(e.contains("<cputune><shares>") && e.contains("cpu.weight"), "{e}");
}

#[test]
fn shares_weight_cpu_lists_scope_names() {
    assert_eq!(shares_to_weight(2), 1);
    assert_eq!(shares_to_weight(1024), 39);
    assert_eq!(shares_to_weight(262_144), 10_000);
    assert_eq!(format_cpu_list(&[5, 0, 1, 2, 3, 8, 9]), "0-3,5,8-9");
    assert_eq!(format_cpu_list(&[]), "");
    assert_eq!(scope_name(3, "web", None), "qemu-3-web.oxvirt");
    let a = scope_name(3, "web", Some("/tmp/a/run/qemu"));
    assert!(
        a.starts_with("qemu-3-") && a.ends_with("-web.oxvirt") && a != scope_name(3, "web", Some("/tmp/b/run/qemu"))
    );
    assert!(scope_name(1, &"é".repeat(300), None).len() <= 255);
}

#[test]
fn pin_sets_parse_like_libvirt() {
    let s = parse_pin_set("0-3,^2,5", 8).unwrap();
    let on: Vec<usize> = (0..8).filter(|c| s.is_set(*c).unwrap()).collect();
    assert_eq!(on, [0, 1, 3, 5]);
    assert!(parse_pin_set("1", 2).is_ok());
    for (bad, says) in
        [("2", "has CPUs 0-1"), ("0-1,^0,^1", "no CPU"), ("a", "invalid"), ("3-1", "invalid"), ("", "invalid")]
    {
        let e = parse_pin_set(bad, 2).unwrap_err().to_string();
        assert!(e.contains(says), "{bad:?}: {e}");
    }
}

#[test]
fn pin_plan_defaults_and_vcpu_threads() {
    let p = PinPlan::from_domain(&domain(TUNED));
    assert_eq!(p.vcpus[&0], "1");
    assert_eq!(p.vcpus[&1], "0-3,^2");
    assert_eq!(p.emulator.as_deref(), Some("0"));
    let d = domain(
        "<domain type='qemu'><name>n</name><memory>1024</memory><vcpu cpuset='1'>2</vcpu>
        <cputune><vcpupin vcpu='1' cpuset='0'/></cputune><os><type>hvm</type></os></domain>",
    );
    let p = PinPlan::from_domain(&d);
    assert_eq!((p.vcpus[&0].as_str(), p.vcpus[&1].as_str(), p.emulator.as_deref()), ("1", "0", Some("1")));

    let reply = serde_json::json!([{"cpu-index": 0, "thread-id": 700, "qom-path": "/machine/unattached/device[0]"},
                                   {"cpu-index": 1, "thread-id": 701}, {"cpu-index": 2}]);
    assert_eq!(vcpu_threads(&reply), [(0, 700), (1, 701)]);
}

#[test]
fn pinning_a_real_thread() {
    // Pins a thread of this test process and reads it back from /proc, as for QEMU's threads.
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let h = std::thread::spawn(move || {
        tx.send(nix::unistd::gettid().as_raw()).unwrap();
        let _ = done_rx.recv();
    });
    let tid = rx.recv().unwrap();
    let pid = std::process::id() as i32;
    let plan = PinPlan { vcpus: BTreeMap::from([(0, "0".to_string())]), emulator: None };
    plan.apply(pid, &[(0, tid)], 2).unwrap();
    let status = get(Path::new(&format!("/proc/{pid}/task/{tid}/status")));
    assert!(status.lines().any(|l| l == "Cpus_allowed_list:\t0"), "{status}");
    assert!(thread_ids(pid).unwrap().contains(&tid));
    done_tx.send(()).unwrap();
    h.join().unwrap();
}

#[test]
fn setup_without_hierarchy() {
    let plain = domain(
        "<domain type='qemu'><name>n</name><memory>1024</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>",
    );
    let s = setup(None, "x", &plain, std::process::id() as i32, &[]).unwrap();
    assert!(s.cgroup.is_none());
    let e = setup(None, "x", &domain(TUNED), 1, &[(0, 5), (1, 6)]).unwrap_err().to_string();
    assert!(e.contains("no cgroup hierarchy"), "{e}");
    let e = setup(None, "x", &domain(TUNED), 1, &[(0, 5), (1, 5)]).unwrap_err().to_string();
    assert!(e.contains("single-threaded TCG"), "{e}");
}

#[test]
fn setup_failure_removes_the_cgroup() {
    // v2 without the files the tuning needs: setup fails and leaves no domain cgroup behind.
    let (d, host) = fake_v2();
    let e = setup(Some(&host), "qemu-1-t.oxvirt", &domain(TUNED), 1, &[(0, 5), (1, 6)]).unwrap_err();
    assert!(matches!(e, CgroupError::Unsupported { .. }), "{e}");
    assert!(!d.path().join("system.slice/machine/qemu-1-t.oxvirt").exists());
}
