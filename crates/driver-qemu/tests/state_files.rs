//! State files are input, not authority: forged status files (PID 1, another root process, `../`
//! names, symlinks) steer no signal and no path; one unparseable definition hides only itself;
//! temp files of interrupted writes go at the next open; a definition cannot make QEMU read a
//! file its user cannot (initrd=/etc/shadow).

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use common::guest_xml;
use oxvirt_api::{Connect, DomainState};

fn embed(root: &Path) -> Connect {
    oxvirt_driver_qemu::register();
    Connect::open(Some(&format!("qemu:///embed?root={}", root.display()))).unwrap()
}

fn start_time(pid: i32) -> u64 {
    oxvirt_driver_qemu::process::proc_stat(pid).unwrap().start_time
}

/// A status file as the driver writes it, but naming `pid` and claiming `name`.
fn forged_status(pid: i32, name: &str, state: i32) -> String {
    serde_json::json!({
        "version": 1, "name": name, "uuid": "8e4f5b0c-5b3a-4c55-9a0e-9c1b2d3e4f50", "id": 7,
        "pid": pid, "start_time": start_time(pid), "emulator": "/usr/bin/qemu-system-x86_64",
        "state": state, "reason": 1, "live_xml": guest_xml("victim", "shell", None),
    })
    .to_string()
}

fn write_private(p: &Path, text: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(p).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn forged_status_files_signal_nothing_and_touch_no_outside_path() {
    let root = tempfile::tempdir().unwrap();
    let conn = embed(root.path());
    let status_dir = root.path().join("run/qemu/status");
    // A process of "another user" (ours here, but not a QEMU of this root), and PID 1.
    let mut bystander = Command::new("sleep").arg("60").stdin(Stdio::null()).spawn().unwrap();
    let bpid = bystander.id() as i32;
    // A directory a `../` name would reach, with a fake QMP socket beside the status file's run dir.
    let outside = root.path().join("precious");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("keep"), "x").unwrap();

    write_private(
        &status_dir.join("victim.status"),
        &forged_status(bpid, "../../../precious", DomainState::Running as i32),
    );
    write_private(&status_dir.join("init.status"), &forged_status(1, "init", DomainState::Shutdown as i32));
    // A fake monitor that answers "shutdown" would make the driver kill the "QEMU": it must not.
    let run_dir = root.path().join("run/qemu/domains/victim");
    fs::create_dir_all(&run_dir).unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(run_dir.join("qmp.sock")).unwrap();
    // A symlinked status file, pointing at a file of someone else's choosing.
    fs::write(root.path().join("elsewhere.json"), forged_status(bpid, "sym", 1)).unwrap();
    std::os::unix::fs::symlink(root.path().join("elsewhere.json"), status_dir.join("sym.status")).unwrap();

    // Every path through the driver: list, lookups, destroy.
    let doms = conn.list_all_domains(oxvirt_api::ConnectListAllDomainsFlags::empty()).unwrap();
    for name in ["victim", "init", "sym"] {
        if let Ok(d) = conn.lookup_domain_by_name(name) {
            let _ = d.destroy(0);
            let _ = d.state();
        }
    }
    drop(doms);
    drop(conn);
    let _again = embed(root.path()); // a fresh open runs the start-up reconciliation too

    assert!(bystander.try_wait().unwrap().is_none(), "the bystander process was signalled");
    assert!(oxvirt_driver_qemu::process::is_alive(1));
    assert!(outside.join("keep").exists(), "a path named by a status file was removed");
    assert!(root.path().join("elsewhere.json").exists(), "the symlink target was touched");
    bystander.kill().unwrap();
    let _ = bystander.wait();
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn one_unparseable_definition_hides_only_itself() {
    let root = tempfile::tempdir().unwrap();
    let conn = embed(root.path());
    conn.define_domain(&guest_xml("good", "shell", None), 0).unwrap();
    fs::write(root.path().join("etc/qemu/bad.xml"), "<domain type='qemu'><name>bad</name><mem").unwrap();
    write_private(&root.path().join("run/qemu/status/worse.status"), "{ not json");
    let names: Vec<String> = conn
        .list_all_domains(oxvirt_api::ConnectListAllDomainsFlags::empty())
        .unwrap()
        .iter()
        .map(|d| d.name().to_string())
        .collect();
    assert_eq!(names, ["good"]);
    let d = conn.lookup_domain_by_name("good").unwrap();
    assert_eq!(d.state().unwrap().0, DomainState::Shutoff);
    d.info().unwrap();
    // Defining another domain still checks names against the readable ones.
    conn.define_domain(&guest_xml("other", "shell", None), 0).unwrap();
    let err = conn.lookup_domain_by_name("bad").unwrap_err();
    assert!(err.to_string().contains("bad.xml"), "{err}");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn huge_definitions_are_refused_and_a_huge_file_hides_only_itself() {
    let root = tempfile::tempdir().unwrap();
    let conn = embed(root.path());
    conn.define_domain(&guest_xml("good", "shell", None), 0).unwrap();
    // 100 MB on disk (planted): read no further than the limit, an error naming the file.
    let big = root.path().join("etc/qemu/big.xml");
    let f = fs::File::create(&big).unwrap();
    f.set_len(100 << 20).unwrap();
    let t0 = std::time::Instant::now();
    let names: Vec<String> = conn
        .list_all_domains(oxvirt_api::ConnectListAllDomainsFlags::empty())
        .unwrap()
        .iter()
        .map(|d| d.name().to_string())
        .collect();
    assert_eq!(names, ["good"]);
    let err = conn.lookup_domain_by_name("big").unwrap_err();
    assert!(err.to_string().contains("big.xml"), "{err}");
    assert!(t0.elapsed() < std::time::Duration::from_secs(10), "the whole file was read: {:?}", t0.elapsed());
    // Through the API: a definition over the 4 MiB document limit is refused before anything is written.
    let padded =
        guest_xml("padded", "shell", None).replacen("<domain", &format!("<!-- {} --><domain", "x".repeat(5 << 20)), 1);
    let err = conn.define_domain(&padded, 0).unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
    assert!(!root.path().join("etc/qemu/padded.xml").exists());
}

#[test]
fn temp_files_of_interrupted_writes_go_at_open() {
    let root = tempfile::tempdir().unwrap();
    drop(embed(root.path()));
    let dead = i32::MAX;
    let left = [
        root.path().join(format!("etc/qemu/.vm.xml.tmp{dead}")),
        root.path().join(format!("run/qemu/status/.vm.status.tmp{dead}")),
        root.path().join(format!("run/qemu/.next-id.tmp{dead}")),
    ];
    for p in &left {
        fs::write(p, "partial").unwrap();
    }
    let keep = root.path().join("etc/qemu/notes.tmp1");
    fs::write(&keep, "not ours").unwrap();
    // The driver is cached per root within a process: a new process opens it afresh. Here: a
    // different root path spelling is not available, so open the driver directly.
    let layout = oxvirt_driver_qemu::Layout::embed(root.path());
    drop(oxvirt_driver_qemu::QemuDriver::new("qemu:///embed".into(), layout).unwrap());
    for p in &left {
        assert!(!p.exists(), "{} left", p.display());
    }
    assert!(keep.exists());
}

#[test]
fn bad_names_never_become_paths() {
    let l = oxvirt_driver_qemu::Layout::embed(Path::new("/r"));
    for bad in [".", "..", "a/../../b", ""] {
        assert!(
            l.domain_run_dir(bad).is_err() && l.status_file(bad).is_err() && l.config_file(bad).is_err(),
            "{bad:?}"
        );
    }
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root (QEMU runs as an unprivileged user) and QEMU (make test)")]
fn initrd_the_qemu_user_cannot_read_is_refused() {
    if !nix::unistd::geteuid().is_root() || !Path::new("/etc/shadow").exists() {
        eprintln!("skipped: needs root (QEMU then runs as an unprivileged user) and /etc/shadow");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let conn = embed(root.path());
    let xml = guest_xml("shadow", "shell", None);
    let initrd = common::guest_dir().join("initrd-shell.img");
    let xml = xml.replace(&initrd.display().to_string(), "/etc/shadow");
    let (mut dom, _) = conn.define_domain(&xml, 0).unwrap();
    let err = dom.create(oxvirt_api::DomainCreateFlags::empty()).unwrap_err();
    assert!(err.to_string().contains("/etc/shadow"), "{err}");
    assert_eq!(dom.state().unwrap().0, DomainState::Shutoff);
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU (define probes it) (make test)")]
fn a_stale_handle_gets_no_domain_not_another_domains_answer() {
    let root = tempfile::tempdir().unwrap();
    let conn = embed(root.path());
    conn.define_domain(&guest_xml("same", "shell", None), 0).unwrap();
    let old = conn.lookup_domain_by_name("same").unwrap();
    old.undefine(oxvirt_api::DomainUndefineFlags::empty()).unwrap();
    // The name comes back as another domain (a new UUID); the old handle must not see it.
    conn.define_domain(&guest_xml("same", "shell", None), 0).unwrap();
    let new = conn.lookup_domain_by_name("same").unwrap();
    assert_ne!(old.uuid(), new.uuid());
    assert!(new.autostart().is_ok() && new.has_managed_save().is_ok());
    for (what, r) in [
        ("autostart", old.autostart().map(|_| ())),
        ("has_managed_save", old.has_managed_save().map(|_| ())),
        ("snapshot_count", old.snapshot_count().map(|_| ())),
        ("xml_desc", old.xml_desc(oxvirt_api::DomainXmlFlags::empty()).map(|_| ())),
    ] {
        let e = r.expect_err(what);
        assert_eq!(e.code, oxvirt_api::ErrorCode::NoDomain, "{what}: {e}");
    }
}
