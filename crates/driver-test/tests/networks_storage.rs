//! Networks, pools and volumes on test:///default, and loading a node file (test:///PATH).

mod common;

use common::fresh;
use oxvirt_api::types::{flags, reason};
use oxvirt_api::{Connect, DomainState as S, ErrorCode, PoolState};

const NET: &str = "<network><name>n1</name><bridge name='br9'/><forward mode='nat'/>\
                   <ip address='10.9.0.1' netmask='255.255.255.0'/></network>";

#[test]
fn default_network_matches_libvirt() {
    let c = fresh();
    let n = c.lookup_network("default").unwrap();
    assert_eq!(n.uuid().to_string(), "dd8fe884-6c02-601e-7551-cca97df1c5df");
    assert!(n.is_active().unwrap() && n.is_persistent().unwrap() && !n.autostart().unwrap());
    assert_eq!(n.bridge_name().unwrap(), "virbr0");
    let x = n.xml_desc(0).unwrap();
    assert!(x.contains("<forward mode='nat'/>") && x.contains("<bridge name='virbr0' stp='on' delay='0'/>"), "{x}");
    assert!(x.contains("<range start='192.168.122.2' end='192.168.122.254'/>"), "{x}");
}

#[test]
fn network_lifecycle_and_errors() {
    let c = fresh();
    let n = c.define_network(NET, 0).unwrap();
    assert!(!n.is_active().unwrap() && n.is_persistent().unwrap());
    assert_eq!(c.list_all_networks(flags::LIST_INACTIVE).unwrap().len(), 1);
    n.create().unwrap();
    let e = n.create().unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (ErrorCode::OperationInvalid, "Requested operation is not valid: Network 'n1' is already running")
    );
    let e = n.undefine().unwrap_err();
    assert_eq!(e.message, "Requested operation is not valid: Network 'n1' is still running");
    n.set_autostart(true).unwrap();
    assert!(n.autostart().unwrap());
    assert_eq!(c.list_all_networks(flags::LIST_AUTOSTART).unwrap().len(), 1);
    n.destroy().unwrap();
    n.undefine().unwrap();
    assert_eq!(c.lookup_network("n1").unwrap_err().code, ErrorCode::NoNetwork);
    assert_eq!(n.is_active().unwrap_err().code, ErrorCode::NoNetwork);

    // transient network: gone when destroyed
    let t = c.create_network_xml(&NET.replace("n1", "t1").replace("br9", "br8"), 0).unwrap();
    assert!(t.is_active().unwrap() && !t.is_persistent().unwrap());
    t.destroy().unwrap();
    assert!(c.lookup_network("t1").is_err());

    // conflicts and bad input change nothing
    let e = c.define_network(&NET.replace("n1", "default"), 0).unwrap_err();
    assert_eq!(e.code, ErrorCode::OperationFailed);
    assert!(e.message.contains("network 'default' already exists with uuid dd8fe884"), "{e}");
    let e = c.define_network("<network><name>x", 0).unwrap_err();
    assert_eq!(e.code, ErrorCode::XmlError);
    assert!(e.message.contains("line 1, column"), "{e}");
    let e = c.define_network("<network><name>a/b</name></network>", 0).unwrap_err();
    assert_eq!(e.code, ErrorCode::XmlError);
    let nb = c.define_network("<network><name>nobr</name></network>", 0).unwrap();
    assert_eq!(nb.bridge_name().unwrap_err().code, ErrorCode::InternalError);
    assert_eq!(c.list_all_networks(0).unwrap().len(), 2);

    let ro = Connect::open_read_only(Some("test:///default")).unwrap();
    let d = ro.lookup_network("default").unwrap();
    assert_eq!(d.destroy().unwrap_err().code, ErrorCode::OperationDenied);
    assert_eq!(ro.define_network(NET, 0).unwrap_err().code, ErrorCode::OperationDenied);
}

#[test]
fn default_pool_matches_libvirt() {
    let c = fresh();
    let p = c.lookup_storage_pool("default-pool").unwrap();
    assert_eq!(p.uuid().to_string(), "dfe224cb-28fb-8dd0-c4b2-64eb3f0f4566");
    let i = p.info().unwrap();
    assert_eq!(
        (i.state, i.capacity, i.allocation, i.available),
        (PoolState::Running, 107_374_182_400, 0, 107_374_182_400)
    );
    assert!(p.is_active().unwrap() && p.is_persistent().unwrap() && !p.autostart().unwrap());
    assert!(p.list_all_volumes().unwrap().is_empty());
    let x = p.xml_desc(0).unwrap();
    assert!(
        x.contains("<capacity unit='bytes'>107374182400</capacity>") && x.contains("<path>/default-pool</path>"),
        "{x}"
    );
}

#[test]
fn pool_and_volume_lifecycle() {
    let c = fresh();
    let p =
        c.define_storage_pool("<pool type='dir'><name>p1</name><target><path>/p1</path></target></pool>", 0).unwrap();
    assert!(!p.is_active().unwrap());
    p.build(0).unwrap();
    let e = p.create_volume_xml("<volume><name>v</name><capacity>1</capacity></volume>", 0).unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (ErrorCode::OperationInvalid, "Requested operation is not valid: storage pool 'p1' is not active")
    );
    assert_eq!(p.list_all_volumes().unwrap_err().code, ErrorCode::OperationInvalid);
    p.create(0).unwrap();
    assert_eq!(p.create(0).unwrap_err().message, "Requested operation is not valid: storage pool 'p1' is active");
    assert_eq!(p.build(0).unwrap_err().code, ErrorCode::OperationInvalid);
    p.refresh(0).unwrap();

    let v = p
        .create_volume_xml("<volume><name>disk1</name><capacity unit='GiB'>10</capacity><allocation unit='GiB'>2</allocation></volume>", 0)
        .unwrap();
    assert_eq!((v.name(), v.key(), v.pool_name()), ("disk1", "/p1/disk1", "p1"));
    assert_eq!(v.path().unwrap(), "/p1/disk1");
    let vi = v.info().unwrap();
    assert_eq!((vi.kind, vi.capacity, vi.allocation), (0, 10 << 30, 2 << 30));
    let vx = v.xml_desc(0).unwrap();
    assert!(vx.contains("<key>/p1/disk1</key>") && vx.contains("<format type='raw'/>"), "{vx}");
    assert_eq!(p.info().unwrap().allocation, 2 << 30);
    assert_eq!(p.info().unwrap().available, 98 << 30);
    assert_eq!(c.lookup_storage_vol_by_key("/p1/disk1").unwrap().name(), "disk1");
    assert_eq!(c.lookup_storage_vol_by_path("/p1/disk1").unwrap().name(), "disk1");
    assert_eq!(p.lookup_volume_by_name("disk1").unwrap().key(), "/p1/disk1");
    assert_eq!(c.lookup_storage_vol_by_path("/nope").unwrap_err().code, ErrorCode::NoStorageVol);
    assert_eq!(p.lookup_volume_by_name("nope").unwrap_err().code, ErrorCode::NoStorageVol);

    let e = p.create_volume_xml("<volume><name>disk1</name><capacity>1</capacity></volume>", 0).unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (ErrorCode::OperationFailed, "operation failed: storage vol already exists")
    );
    let e = p.create_volume_xml("<volume><name>huge</name><capacity unit='TiB'>1</capacity></volume>", 0).unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (ErrorCode::InternalError, "internal error: Not enough free space in pool for volume 'huge'")
    );
    assert!(p.create_volume_xml("<volume><name>nocap</name></volume>", 0).is_err());
    assert!(p.create_volume_xml("<volume><name>a/b</name><capacity>1</capacity></volume>", 0).is_err());
    assert_eq!(p.list_all_volumes().unwrap().len(), 1, "failed creates changed nothing");

    v.delete(0).unwrap();
    assert_eq!(p.info().unwrap().allocation, 0);
    assert!(c.lookup_storage_vol_by_key("/p1/disk1").is_err());

    let e = p.undefine().unwrap_err();
    assert_eq!(e.code, ErrorCode::OperationInvalid);
    p.set_autostart(true).unwrap();
    assert!(p.autostart().unwrap());
    p.destroy().unwrap();
    assert_eq!(p.destroy().unwrap_err().code, ErrorCode::OperationInvalid);
    p.delete(0).unwrap();
    p.undefine().unwrap();
    assert_eq!(c.lookup_storage_pool("p1").unwrap_err().code, ErrorCode::NoStoragePool);

    // transient pool: no autostart, gone at destroy
    let t =
        c.create_storage_pool_xml("<pool type='dir'><name>t</name><target><path>/t</path></target></pool>", 0).unwrap();
    assert!(t.is_active().unwrap() && !t.is_persistent().unwrap());
    assert_eq!(t.set_autostart(true).unwrap_err().message, "invalid argument: pool has no config file");
    t.destroy().unwrap();
    assert!(c.lookup_storage_pool("t").is_err());

    // conflicts
    let e = c
        .define_storage_pool("<pool type='dir'><name>dup</name><target><path>/default-pool</path></target></pool>", 0)
        .unwrap_err();
    assert_eq!(e.message, "operation failed: Storage source conflict with pool: 'default-pool'");
    let e = c
        .define_storage_pool("<pool type='dir'><name>default-pool</name><target><path>/x</path></target></pool>", 0)
        .unwrap_err();
    assert!(e.message.contains("pool 'default-pool' already exists with uuid dfe224cb"), "{e}");
    let e = c.define_storage_pool("<pool type='dir'><name>x</name></pool>", 0).unwrap_err();
    assert_eq!(e.code, ErrorCode::XmlError);
    assert_eq!(c.list_all_storage_pools(0).unwrap().len(), 1);
}

fn node_uri() -> String {
    format!("test://{}/tests/data/node.xml", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn node_file_loads_like_libvirt() {
    oxvirt_driver_test::register();
    let c = Connect::open(Some(&node_uri())).unwrap();
    let n = c.node_info().unwrap();
    assert_eq!(
        (n.model.as_str(), n.mhz, n.cpus, n.nodes, n.sockets, n.cores, n.threads, n.memory),
        ("oxcpu", 3000, 6, 1, 2, 2, 2, 4_194_304)
    );

    let names: Vec<_> = c
        .list_all_domains(oxvirt_api::ConnectListAllDomainsFlags::empty())
        .unwrap()
        .iter()
        .map(|d| (d.name().to_string(), d.id()))
        .collect();
    assert_eq!(names, [("web".into(), 1), ("db".into(), -1), ("scratch".into(), 2), ("cache".into(), 3)]);
    let web = c.lookup_domain("web").unwrap();
    assert_eq!(web.state().unwrap(), (S::Running, reason::UNKNOWN));
    assert_eq!(web.info().unwrap().max_mem, 1_048_576);
    let db = c.lookup_domain("db").unwrap();
    assert_eq!(db.state().unwrap(), (S::Shutoff, reason::UNKNOWN));
    assert!(db.has_managed_save().unwrap());
    let scratch = c.lookup_domain("scratch").unwrap();
    assert_eq!(scratch.state().unwrap().0, S::Paused);
    assert!(!scratch.is_persistent().unwrap());
    let cache = c.lookup_domain("cache").unwrap();
    let i = cache.info().unwrap();
    assert_eq!((i.state, i.max_mem, i.memory, i.nr_virt_cpu), (S::Paused, 524_288, 262_144, 1));
    assert!(
        !cache.xml_desc(oxvirt_api::DomainXmlFlags::empty()).unwrap().contains("test:"),
        "test namespace elements are not part of the definition"
    );

    let nets: Vec<_> = c.list_all_networks(0).unwrap().iter().map(|n| n.name().to_string()).collect();
    assert_eq!(nets, ["lan", "isolated"]);
    assert_eq!(c.lookup_network("isolated").unwrap().bridge_name().unwrap(), "oxbr1");
    assert!(c.lookup_network("lan").unwrap().is_active().unwrap());

    let images = c.lookup_storage_pool("images").unwrap();
    let vols: Vec<_> = images.list_all_volumes().unwrap().iter().map(|v| v.name().to_string()).collect();
    assert_eq!(vols, ["web.qcow2", "db.raw"]);
    assert_eq!(images.info().unwrap().allocation, 21 << 30);
    let backup = c.lookup_storage_pool("backup").unwrap();
    let vols: Vec<_> = backup.list_all_volumes().unwrap().iter().map(|v| v.path().unwrap()).collect();
    assert_eq!(vols, ["/srv/backup/weekly.tar", "/srv/backup/old.img"]);

    // a node file's state is private to its connection
    web.destroy(0).unwrap();
    let c2 = Connect::open(Some(&node_uri())).unwrap();
    assert_eq!(c2.lookup_domain("web").unwrap().state().unwrap().0, S::Running);
}

#[test]
fn node_file_errors_name_the_place() {
    oxvirt_driver_test::register();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        format!("test://{}", p.display())
    };
    let e = Connect::open(Some(&write("bad.xml", "<node>\n  <domain type='test'>\n    <name>x</name>\n    <memory>1</memory><os><type>hvm</type></os>\n    <bogus attr='1'\n  </domain>\n</node>"))).unwrap_err();
    assert_eq!(e.code, ErrorCode::XmlError);
    assert!(e.message.contains("line 6"), "{e}");
    let e = Connect::open(Some(&write(
        "mem.xml",
        "<node>\n\n  <domain type='test'><name>x</name><os><type>hvm</type></os></domain>\n</node>",
    )))
    .unwrap_err();
    assert!(e.message.contains("memory size"), "{e}");
    let e = Connect::open(Some(&write("rs.xml", "<node xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>\n <domain type='test'><name>x</name><memory>1</memory><os><type>hvm</type></os>\n  <test:runstate>42</test:runstate></domain></node>"))).unwrap_err();
    assert!(e.message.contains("line 3") && e.message.contains("out of range"), "{e}");
    let e = Connect::open(Some(&write("dup.xml", "<node><domain type='test'><name>x</name><memory>1</memory><os><type>hvm</type></os></domain><domain type='test'><name>x</name><memory>1</memory><os><type>hvm</type></os></domain></node>"))).unwrap_err();
    assert_eq!(e.code, ErrorCode::OperationFailed);
    let e = Connect::open(Some(&write("nofile.xml", "<node><domain file='missing.xml'/></node>"))).unwrap_err();
    assert_eq!(e.code, ErrorCode::SystemError);
    let e = Connect::open(Some(&write("root.xml", "<domain/>"))).unwrap_err();
    assert!(e.message.contains("expected root element <node>"), "{e}");
}
