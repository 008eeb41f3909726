//! How often a definition is completed (addresses, aliases, firmware): once per define, once per
//! start. A test binary of its own, so the process-wide count is this test's alone.

mod common;

use common::*;
use oxvirt_api::Connect;
use oxvirt_driver_qemu::command::complete;

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn once_per_define_and_once_per_start() {
    let root = tempfile::tempdir().unwrap();
    oxvirt_driver_qemu::register();
    let conn = Connect::open(Some(&format!("qemu:///embed?root={}", root.path().display()))).expect("open embed");
    let runs = |f: &mut dyn FnMut()| {
        let before = complete::count();
        f();
        complete::count() - before
    };
    let xml = guest_xml("count", "shell", None);
    let mut dom = None;
    assert_eq!(runs(&mut || dom = Some(conn.define_domain(&xml, 0).unwrap().0)), 1, "define");
    let mut dom = dom.unwrap();
    assert_eq!(runs(&mut || dom.create(oxvirt_api::DomainCreateFlags::PAUSED).unwrap()), 1, "start");
    let save = root.path().join("count.save");
    dom.save(save.to_str().unwrap(), None, 0).unwrap();
    let mut restored = None;
    let path = save.to_str().unwrap();
    assert_eq!(runs(&mut || restored = Some(conn.restore_domain(path, None, 0).unwrap())), 1, "restore");
    restored.unwrap().destroy(0).unwrap();
    dom.undefine(oxvirt_api::DomainUndefineFlags::empty()).unwrap();
    // create-xml defines (completes) a transient domain and starts it.
    let xml = guest_xml("count2", "shell", None);
    let mut created = None;
    assert_eq!(
        runs(&mut || created = Some(conn.create_domain_xml(&xml, oxvirt_api::DomainCreateFlags::PAUSED).unwrap())),
        2,
        "create-xml"
    );
    created.unwrap().destroy(0).unwrap();
}
