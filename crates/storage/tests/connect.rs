//! `storage:///` URIs through `oxvirt_api::Connect`, as front ends open them (no root, no
//! qemu-img: pools only).

use oxvirt_api::{Connect, ErrorCode, PoolState};

#[test]
fn storage_uris_open_through_connect() {
    oxvirt_storage::register();
    let tmp = tempfile::tempdir().unwrap();
    let uri = format!("storage:///embed?root={}", tmp.path().display());
    let c = Connect::open(Some(&uri)).unwrap();
    assert_eq!(c.kind(), "storage");
    let target = tmp.path().join("pool");
    let p = c
        .define_storage_pool(
            &format!("<pool type='dir'><name>p</name><target><path>{}</path></target></pool>", target.display()),
            0,
        )
        .unwrap();
    p.build(0).unwrap();
    p.create(0).unwrap();
    // A second connection (another process, later) sees the running pool.
    let c2 = Connect::open(Some(&uri)).unwrap();
    let pools = c2.list_all_storage_pools(0).unwrap();
    assert_eq!(pools.iter().map(|p| p.name().to_string()).collect::<Vec<_>>(), ["p"]);
    assert_eq!(pools[0].info().unwrap().state, PoolState::Running);
    assert!(pools[0].list_all_volumes().unwrap().is_empty());
    p.destroy().unwrap();
    p.undefine().unwrap();
    assert!(c.list_all_storage_pools(0).unwrap().is_empty());

    let e = Connect::open(Some("storage:///embed")).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidArg, "{e}");
    let e = Connect::open(Some("storage:///elsewhere")).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidArg, "{e}");
}

#[test]
fn hypervisor_uris_carry_the_storage_driver() {
    oxvirt_storage::register();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().display().to_string();
    let side = oxvirt_api::secondary_drivers_for(
        &oxvirt_api::ConnectUri::parse(&format!("qemu:///embed?root={root}")).unwrap(),
    )
    .unwrap();
    let storage = side.storage.expect("qemu:///embed carries the storage driver");
    assert_eq!(storage.uri(), format!("storage:///embed?root={root}"));
    // The same instance as storage:///embed?root=… opens: a pool defined there is seen here.
    let c = Connect::open(Some(&format!("storage:///embed?root={root}"))).unwrap();
    c.define_storage_pool(&format!("<pool type='dir'><name>p</name><target><path>{root}/p</path></target></pool>"), 0)
        .unwrap();
    assert_eq!(storage.list_pools(0).unwrap().len(), 1);
    for other in ["test:///default", "storage:///system", "qemu+unix:///system"] {
        let u = oxvirt_api::ConnectUri::parse(other).unwrap();
        assert!(oxvirt_api::secondary_drivers_for(&u).unwrap().storage.is_none(), "{other}");
    }
}
