//! The remote driver against a real oxvirtd: the same operations through
//! `test+unix:///default?socket=...` and in-process `test:///default` give the same results,
//! the read-only socket refuses writes, events reach callbacks, errors keep code and message;
//! and the `oxvirt` CLI prints the same through the daemon as in-process.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use common::{run_timeout, Daemon};
use oxvirt_api::{flags, Connect, DomainEvent, DomainEventKind, ErrorCode};

fn setup() {
    oxvirt_rpc::remote::register();
    oxvirt_driver_test::register();
}

const DOM_UUID: &str = "9a3c41f2-5b8e-4d1a-8c3e-2f6b7a1d9e04";
const NET_UUID: &str = "1b7e2c4d-3a5f-4e6b-9c8d-0f1e2d3c4b5a";
const POOL_UUID: &str = "7c6d5e4f-3b2a-4190-8e7f-6d5c4b3a2910";

fn dom_xml() -> String {
    format!(
        "<domain type='test'><name>rt1</name><uuid>{DOM_UUID}</uuid><memory unit='KiB'>131072</memory>\
         <currentMemory unit='KiB'>131072</currentMemory><vcpu>2</vcpu><os><type arch='x86_64'>hvm</type></os></domain>"
    )
}

/// Every step's result as text (values or errors), so two connections can be compared whole.
fn script(c: &Connect, pool_dir: &Path) -> Vec<String> {
    let mut log = Vec::new();
    macro_rules! step {
        ($what:expr, $e:expr) => {
            log.push(format!("{}: {:?}", $what, $e))
        };
    }
    let names = |c: &Connect, f: oxvirt_api::ConnectListAllDomainsFlags| -> Vec<String> {
        c.list_all_domains(f)
            .map(|v| v.iter().map(|d| format!("{}/{}", d.name(), d.id())).collect())
            .unwrap_or_default()
    };
    step!("type", c.kind());
    step!("hostname", c.hostname());
    step!("version", c.hypervisor_version());
    step!("capabilities", c.capabilities());
    step!("nodeinfo", c.node_info());
    step!("maxvcpus", c.max_vcpus(None));
    step!("list", names(c, oxvirt_api::ConnectListAllDomainsFlags::empty()));

    // Domain lifecycle.
    let (d, _) = c.define_domain(&dom_xml(), 0).expect("define");
    step!("defined", d.reference());
    step!("list after define", names(c, oxvirt_api::ConnectListAllDomainsFlags::empty()));
    step!("inactive", names(c, oxvirt_api::ConnectListAllDomainsFlags::INACTIVE));
    step!("xml", d.xml_desc(oxvirt_api::DomainXmlFlags::empty()));
    step!("xml inactive", d.xml_desc(oxvirt_api::DomainXmlFlags::INACTIVE));
    step!("info", d.info().map(|i| (i.state, i.max_mem, i.memory, i.nr_virt_cpu)));
    step!("state", d.state());
    step!("os", d.os_type());
    step!("persistent", d.is_persistent());
    step!("updated", d.is_updated());
    step!("snapshots", d.snapshot_count());
    step!("set autostart", d.set_autostart(true));
    step!("autostart", d.autostart());
    step!("set memory", d.set_memory(65536, oxvirt_api::DomainMemoryModFlags::CONFIG));
    step!("set vcpus", d.set_vcpus(1, oxvirt_api::DomainVcpuFlags::CONFIG));
    let mut d = d;
    step!("start", d.create(oxvirt_api::DomainCreateFlags::empty()));
    step!("id", d.id());
    step!("by id", c.lookup_domain_by_id(d.id()).map(|x| x.name().to_string()));
    step!("by uuid", c.lookup_domain_by_uuid(&d.uuid()).map(|x| x.name().to_string()));
    step!("active", d.is_active());
    step!("info running", d.info().map(|i| (i.state, i.max_mem, i.memory, i.nr_virt_cpu)));
    step!("start again", d.create(oxvirt_api::DomainCreateFlags::empty()));
    step!("suspend", d.suspend());
    step!("state paused", d.state());
    step!("resume", d.resume());
    step!("state resumed", d.state());
    step!("reboot", d.reboot(oxvirt_api::DomainRebootFlagValues::empty()));
    step!("reset", d.reset(0));
    step!("managed save", d.managed_save(0));
    step!("has managed save", d.has_managed_save());
    step!("state saved", d.state());
    step!("start from image", d.create(oxvirt_api::DomainCreateFlags::empty()));
    step!("has managed save after", d.has_managed_save());
    let img = pool_dir.join("rt1.save");
    step!("save", d.save(img.to_str().unwrap_or_default(), None, 0));
    step!("state after save", d.state());
    step!(
        "image xml has name",
        c.save_image_xml(img.to_str().unwrap_or_default(), 0).map(|x| x.contains("<name>rt1</name>"))
    );
    step!("restore", c.restore_domain(img.to_str().unwrap_or_default(), None, 0).map(|x| x.name().to_string()));
    step!("state restored", d.state());
    step!("shutdown", d.shutdown(0));
    step!("state shut", d.state());
    step!("start", d.create(oxvirt_api::DomainCreateFlags::empty()));
    step!("destroy", d.destroy(0));
    step!("destroy again", d.destroy(0));
    step!("undefine", d.undefine(oxvirt_api::DomainUndefineFlags::empty()));
    step!("lookup undefined", c.lookup_domain_by_name("rt1").map(|x| x.name().to_string()));
    step!(
        "transient",
        c.create_domain_xml(&dom_xml(), oxvirt_api::DomainCreateFlags::empty())
            .map(|x| (x.name().to_string(), x.is_persistent()))
    );
    if let Ok(t) = c.lookup_domain_by_name("rt1") {
        step!("destroy transient", t.destroy(0));
    }
    step!("list at end", names(c, oxvirt_api::ConnectListAllDomainsFlags::empty()));

    // Networks.
    let net = format!(
        "<network><name>rnet</name><uuid>{NET_UUID}</uuid><bridge name='virbr77'/>\
         <ip address='192.168.177.1' netmask='255.255.255.0'/></network>"
    );
    step!("networks", c.list_all_networks(0).map(|v| v.iter().map(|n| n.name().to_string()).collect::<Vec<_>>()));
    match c.define_network(&net, 0) {
        Ok(n) => {
            step!("net", n.reference());
            step!("net by uuid", c.lookup_network_by_uuid(&n.uuid()).map(|x| x.name().to_string()));
            step!("net active", n.is_active());
            step!("net start", n.create());
            step!("net active", n.is_active());
            step!("net persistent", n.is_persistent());
            step!("bridge", n.bridge_name());
            step!("net xml", n.xml_desc(0));
            step!("net autostart", n.set_autostart(true));
            step!("net autostart?", n.autostart());
            step!("net inactive list", c.list_all_networks(flags::LIST_INACTIVE).map(|v| v.len()));
            step!("net destroy", n.destroy());
            step!("net undefine", n.undefine());
        }
        Err(e) => step!("net define", e),
    }
    step!("net create xml", c.create_network_xml(&net, 0).map(|n| (n.name().to_string(), n.is_persistent())));
    if let Ok(n) = c.lookup_network_by_name("rnet") {
        step!("net destroy transient", n.destroy());
    }

    // Storage pools and volumes.
    let pool = format!(
        "<pool type='dir'><name>rpool</name><uuid>{POOL_UUID}</uuid><target><path>{}</path></target></pool>",
        pool_dir.display()
    );
    step!("pools", c.list_all_storage_pools(0).map(|v| v.iter().map(|p| p.name().to_string()).collect::<Vec<_>>()));
    match c.define_storage_pool(&pool, 0) {
        Ok(p) => {
            step!("pool", p.reference());
            step!("pool by uuid", c.lookup_storage_pool_by_uuid(&p.uuid()).map(|x| x.name().to_string()));
            step!("pool build", p.build(0));
            step!("pool start", p.create(0));
            step!("pool info", p.info().map(|i| i.state));
            step!("pool xml", p.xml_desc(0).map(|x| x.contains("<name>rpool</name>")));
            step!("pool active", p.is_active());
            step!("pool persistent", p.is_persistent());
            step!("pool autostart", p.set_autostart(true));
            step!("pool autostart?", p.autostart());
            step!("pool refresh", p.refresh(0));
            let vol = "<volume><name>v1.img</name><capacity unit='M'>8</capacity><target><format type='raw'/></target></volume>";
            match p.create_volume_xml(vol, 0) {
                Ok(v) => {
                    step!("vol", (v.name(), v.pool_name()));
                    step!(
                        "vols",
                        p.list_all_volumes().map(|l| l.iter().map(|v| v.name().to_string()).collect::<Vec<_>>())
                    );
                    step!("vol by name", p.lookup_volume_by_name("v1.img").map(|x| x.key().to_string()));
                    step!("vol by key", c.lookup_storage_vol_by_key(v.key()).map(|x| x.name().to_string()));
                    step!("vol path", v.path());
                    if let Ok(path) = v.path() {
                        step!("vol by path", c.lookup_storage_vol_by_path(&path).map(|x| x.name().to_string()));
                    }
                    step!("vol info", v.info());
                    step!("vol xml", v.xml_desc(0).map(|x| x.contains("<name>v1.img</name>")));
                    step!("pool of vol", v.pool().map(|p| p.name().to_string()));
                    step!("vol delete", v.delete(0));
                }
                Err(e) => step!("vol create", e),
            }
            step!("pool destroy", p.destroy());
            step!("pool undefine", p.undefine());
        }
        Err(e) => step!("pool define", e),
    }
    // Node devices.
    let devs = c.list_all_node_devices(None).map(|v| v.iter().map(|d| d.name().to_string()).collect::<Vec<_>>());
    step!("nodedevs", devs);
    step!("nodedevs pci", c.list_all_node_devices(Some("pci")).map(|v| v.len()));
    for name in devs.unwrap_or_default().iter().take(4) {
        let d = c.lookup_node_device_by_name(name);
        step!("nodedev", d.as_ref().map(|d| (d.xml_desc(), d.parent())));
    }
    step!("no nodedev", c.lookup_node_device_by_name("nope").map(|d| d.name().to_string()));
    step!("no pool", c.lookup_storage_pool_by_name("rpool").map(|x| x.name().to_string()));
    step!("no net", c.lookup_network_by_name("rnet").map(|x| x.name().to_string()));
    log
}

#[test]
fn full_lifecycle_matches_in_process() {
    setup();
    let daemon = Daemon::start();
    let work = tempfile::tempdir().expect("temp dir");
    let pool_dir = work.path().join("pool");
    let local = script(&Connect::open(Some("test:///default")).expect("in-process"), &pool_dir);
    let _ = std::fs::remove_dir_all(&pool_dir);
    let remote_conn = Connect::open(Some(&daemon.uri())).expect("remote");
    assert_eq!(remote_conn.uri(), daemon.uri());
    let remote = script(&remote_conn, &pool_dir);
    assert!(local.len() > 90, "script too short: {local:#?}");
    for (l, r) in local.iter().zip(&remote) {
        assert_eq!(l, r, "daemon log:\n{}", daemon.log());
    }
    assert_eq!(local.len(), remote.len());
}

#[test]
fn errors_keep_code_domain_and_message() {
    setup();
    let daemon = Daemon::start();
    let local = Connect::open(Some("test:///default")).expect("in-process");
    let remote = Connect::open(Some(&daemon.uri())).expect("remote");
    for c in [&local, &remote] {
        assert!(c.lookup_domain_by_name("nope").is_err());
    }
    let pairs = [
        (local.lookup_domain_by_name("nope").unwrap_err(), remote.lookup_domain_by_name("nope").unwrap_err()),
        (local.lookup_domain("nope").unwrap_err(), remote.lookup_domain("nope").unwrap_err()),
        (local.lookup_domain_by_id(4242).unwrap_err(), remote.lookup_domain_by_id(4242).unwrap_err()),
        (local.lookup_network_by_name("nope").unwrap_err(), remote.lookup_network_by_name("nope").unwrap_err()),
        (
            local.lookup_storage_pool_by_name("nope").unwrap_err(),
            remote.lookup_storage_pool_by_name("nope").unwrap_err(),
        ),
        (local.define_domain("<domain", 0).unwrap_err(), remote.define_domain("<domain", 0).unwrap_err()),
    ];
    for (l, r) in pairs {
        assert_eq!(l, r);
    }
    let e = remote.lookup_domain_by_name("nope").unwrap_err();
    assert_eq!(e.code, ErrorCode::NoDomain);
    // A socket nobody listens on: libvirt's wording, system error.
    let e = Connect::open(Some(&format!("test+unix:///default?socket={}", daemon.dir.path().join("none").display())))
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::SystemError);
    assert!(e.message.starts_with("Failed to connect socket to"), "{e}");
}

#[test]
fn read_only_socket_refuses_writes() {
    setup();
    let daemon = Daemon::start();
    // Opened read-write by the client, but on the read-only socket: the daemon refuses.
    let ro = Connect::open(Some(&daemon.uri_ro())).expect("remote ro");
    assert!(!ro.list_all_domains(oxvirt_api::ConnectListAllDomainsFlags::empty()).expect("reads work").is_empty());
    let d = ro.lookup_domain_by_name("test").expect("lookup");
    let local = Connect::open_read_only(Some("test:///default")).expect("in-process ro");
    let ld = local.lookup_domain_by_name("test").expect("lookup");
    assert_eq!(d.destroy(0).unwrap_err(), ld.destroy(0).unwrap_err());
    assert_eq!(ro.define_domain(&dom_xml(), 0).unwrap_err(), local.define_domain(&dom_xml(), 0).unwrap_err());
    let e = d.suspend().unwrap_err();
    assert_eq!(e.code, ErrorCode::OperationDenied, "{e}");
    assert!(d.is_active().expect("still running"));
    // A read-only open without ?socket= picks the -ro socket of OXVIRT_SOCKET_DIR's daemon;
    // checked through the CLI in `cli_qemu_system_goes_through_the_daemon`.
}

#[test]
fn lifecycle_events_reach_callbacks() {
    setup();
    let daemon = Daemon::start();
    let c = Connect::open(Some(&daemon.uri())).expect("remote");
    let other = Connect::open(Some(&daemon.uri())).expect("second remote");
    let (tx, rx) = mpsc::channel::<DomainEvent>();
    let tx = std::sync::Mutex::new(tx);
    // The callback calls back into the driver: events are dispatched off the reader thread.
    let c2 = c.clone();
    let id = c
        .domain_event_register(
            None,
            std::sync::Arc::new(move |ev: &DomainEvent| {
                let _ = c2.lookup_domain_by_uuid(&ev.domain.uuid);
                let _ = tx.lock().map(|t| t.send(ev.clone()));
            }),
        )
        .expect("register");
    let d = other.lookup_domain_by_name("test").expect("lookup");
    d.destroy(0).expect("destroy");
    let mut d2 = d.clone();
    d2.create(oxvirt_api::DomainCreateFlags::empty()).expect("start");
    d2.suspend().expect("suspend");
    let got: Vec<(String, DomainEventKind)> = (0..3)
        .map(|_| rx.recv_timeout(Duration::from_secs(10)).expect("event"))
        .map(|e| (e.domain.name, e.kind))
        .collect();
    assert_eq!(
        got,
        vec![
            ("test".to_string(), DomainEventKind::Stopped),
            ("test".to_string(), DomainEventKind::Started),
            ("test".to_string(), DomainEventKind::Suspended)
        ]
    );
    c.domain_event_deregister(id).expect("deregister");
    d2.resume().expect("resume");
    assert!(rx.recv_timeout(Duration::from_millis(500)).is_err(), "event after deregistering");
    // Per-domain registration sees only that domain.
    let (tx, rx) = mpsc::channel::<DomainEventKind>();
    let tx = std::sync::Mutex::new(tx);
    let (nd, _) = other.define_domain(&dom_xml(), 0).expect("define");
    c.domain_event_register(
        Some(&c.lookup_domain_by_name("test").expect("lookup")),
        std::sync::Arc::new(move |ev: &DomainEvent| {
            let _ = tx.lock().map(|t| t.send(ev.kind));
        }),
    )
    .expect("register one");
    nd.undefine(oxvirt_api::DomainUndefineFlags::empty()).expect("undefine other");
    d2.suspend().expect("suspend");
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).expect("event"), DomainEventKind::Suspended);
}

#[test]
fn idle_connection_survives_keepalive() {
    setup();
    let daemon = Daemon::start_with(&["keepalive_interval = 1", "keepalive_count = 2"]);
    let c = Connect::open(Some(&daemon.uri())).expect("remote");
    // Several ping intervals with no calls: the reader thread answers, the daemon keeps us.
    std::thread::sleep(Duration::from_secs(5));
    assert!(!c.list_all_domains(oxvirt_api::ConnectListAllDomainsFlags::empty()).expect("still connected").is_empty());
}

#[test]
fn daemon_gone_fails_calls_quickly() {
    setup();
    let mut daemon = Daemon::start();
    let c = Connect::open(Some(&daemon.uri())).expect("remote");
    daemon.stop();
    let t = std::time::Instant::now();
    let e = c.list_all_domains(oxvirt_api::ConnectListAllDomainsFlags::empty()).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(5), "took {:?}", t.elapsed());
    assert_eq!(e.code, ErrorCode::SystemError, "{e}");
}

fn oxvirt_bin() -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_oxvirtd")).with_file_name("oxvirt");
    assert!(p.exists(), "{} is missing: build it first (cargo build -p oxvirt-cli; `make test` does)", p.display());
    p
}

/// `oxvirt -c URI ARGS...`: (exit code, stdout + stderr).
fn oxvirt(uri: &str, args: &[&str], env: &[(&str, &Path)]) -> (i32, String) {
    let mut cmd = Command::new(oxvirt_bin());
    cmd.arg("-c").arg(uri).args(args).env_remove("LIBVIRT_DEFAULT_URI");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = run_timeout(&mut cmd, Duration::from_secs(60));
    let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&o.stderr));
    (o.status.code().unwrap_or(-1), s)
}

/// The test driver's CPU time is the wall clock (as libvirt's); blank it for comparisons.
fn without_cpu_time((rc, out): (i32, String)) -> (i32, String) {
    let lines: Vec<&str> =
        out.split('\n').map(|l| if l.starts_with("CPU time:") { "CPU time: (clock)" } else { l }).collect();
    (rc, lines.join("\n"))
}

#[test]
fn cli_output_through_daemon_equals_in_process() {
    let daemon = Daemon::start();
    for args in [
        &["list", "--all"][..],
        &["list"],
        &["dominfo", "test"],
        &["dominfo", "1"],
        &["dominfo", "nope"],
        &["net-list", "--all"],
        &["net-info", "default"],
        &["pool-list", "--all"],
        &["pool-list", "--all", "--details"],
        &["vol-list", "default-pool"],
        &["domstate", "test", "--reason"],
        &["dumpxml", "test"],
        &["net-dumpxml", "default"],
        &["nodeinfo"],
        &["hostname"],
        &["nodedev-list"],
        &["nodedev-list", "--tree"],
        &["nodedev-dumpxml", "computer"],
    ] {
        let local = without_cpu_time(oxvirt("test:///default", args, &[]));
        let remote = without_cpu_time(oxvirt(&daemon.uri(), args, &[]));
        assert_eq!(remote, local, "oxvirt {args:?}");
    }
    // A write session through the daemon (test:///default keeps state while a client holds it,
    // as libvirt's does).
    let (_, out) = oxvirt(&daemon.uri(), &["destroy test; suspend test; list --all"], &[]);
    assert!(out.contains("Domain 'test' destroyed") && out.contains("not running"), "{out}");
    assert!(out.contains("test   shut off"), "{out}");
    // Read-only socket: writes refused with libvirt's message.
    let (rc, out) = oxvirt(&daemon.uri_ro(), &["destroy", "test"], &[]);
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("read only access prevents"), "{out}");
}

#[test]
fn cli_qemu_system_goes_through_the_daemon() {
    // The daemon serves qemu:///system (hosted from its start); the CLI finds it through
    // OXVIRT_SOCKET_DIR. Without a daemon there, the CLI serves the URI in-process.
    let daemon = Daemon::start_opts(&[], "qemu:///system", tempfile::tempdir().expect("temp dir"));
    let dir = daemon.dir.path().to_path_buf();
    let empty = tempfile::tempdir().expect("temp dir");
    let through = oxvirt("qemu:///system", &["list", "--all"], &[("OXVIRT_SOCKET_DIR", &dir)]);
    assert!(daemon.log().contains("connection opened uri=qemu:///system"), "{}", daemon.log());
    let embedded = oxvirt("qemu:///system", &["list", "--all"], &[("OXVIRT_SOCKET_DIR", empty.path())]);
    assert_eq!(through.0, 0, "{}", through.1);
    assert_eq!(through, embedded);
    let opened = daemon.log().matches("connection opened").count();
    assert_eq!(opened, 1, "the embedded run must not reach the daemon: {}", daemon.log());
    // -r goes to the read-only socket.
    let ro = oxvirt("qemu:///system", &["-r", "list", "--all"], &[("OXVIRT_SOCKET_DIR", &dir)]);
    assert_eq!(ro, through);
    assert!(daemon.log().contains("ro=true"), "{}", daemon.log());
}

/// Plain TCP (`test+tcp://127.0.0.1:PORT/default`) to a daemon listening on loopback only.
#[test]
fn remote_driver_over_tcp() {
    setup();
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let conf =
        ["listen_tcp = 1".to_string(), "listen_addr = \"127.0.0.1\"".to_string(), format!("tcp_port = \"{port}\"")];
    let lines: Vec<&str> = conf.iter().map(String::as_str).collect();
    let daemon = Daemon::start_with(&lines);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "no TCP listener; log:\n{}", daemon.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let uri = format!("test+tcp://127.0.0.1:{port}/default");
    let remote = Connect::open(Some(&uri)).unwrap_or_else(|e| panic!("{e}\nlog:\n{}", daemon.log()));
    let local = Connect::open(Some("test:///default")).expect("in-process");
    let work = tempfile::tempdir().expect("temp dir");
    let pool_dir = work.path().join("pool");
    let l = script(&local, &pool_dir);
    let _ = std::fs::remove_dir_all(&pool_dir);
    assert_eq!(script(&remote, &pool_dir), l);
}

/// The interface and DHCP commands through oxvirtd print what they print in-process.
#[test]
fn cli_interface_and_dhcp_commands_through_daemon_equal_in_process() {
    let daemon = Daemon::start();
    let update = "net-update default add ip-dhcp-host \"<host mac='52:54:00:00:00:01' ip='192.168.122.50' name='h1'/>\"; \
                  net-update default add-first ip-dhcp-host \"<host mac='52:54:00:00:00:02' ip='192.168.122.52'/>\" --live; \
                  net-update default add ip-dhcp-host \"<host mac='52:54:00:00:00:01' ip='192.168.122.50'/>\"; \
                  net-update default delete ip-dhcp-host \"<host mac='52:54:00:00:00:01'/>\"; net-dumpxml default";
    for args in [
        &["domifaddr", "test"][..],
        &["domifaddr", "test", "--full", "--json"],
        &["domifaddr", "test", "--source", "arp"],
        &["domiflist", "test"],
        &["domiflist", "test", "--json"],
        &["domif-getlink", "test", "testnet0"],
        &["domif-setlink", "test", "testnet0", "down"],
        &["attach-interface", "test", "network", "default", "--config"],
        &["detach-interface", "test", "network", "--config"],
        &["domblklist", "test"],
        &["vcpucount", "test"],
        &["net-dhcp-leases", "default"],
        &["net-dhcp-leases", "default", "--json"],
        &[update],
    ] {
        let local = oxvirt("test:///default", args, &[]);
        let remote = oxvirt(&daemon.uri(), args, &[]);
        assert_eq!(remote, local, "oxvirt {args:?}");
    }
    let (rc, out) = oxvirt(
        &daemon.uri_ro(),
        &["net-update", "default", "delete", "ip-dhcp-host", "<host mac='52:54:00:00:00:01'/>"],
        &[],
    );
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("read only access prevents"), "{out}");
}
