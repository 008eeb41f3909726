//! Domain lifecycle through the public API on test:///default, against libvirt 9.0's test
//! driver behaviour (values, errors, state reasons, events).

mod common;

use std::sync::{Arc, Mutex};

use common::{domain_xml, domain_xml_uuid, fresh};
use oxvirt_api::types::{detail, flags, reason};
use oxvirt_api::{
    Connect, DomainEvent, DomainEventKind as K, DomainMemoryModFlags, DomainState as S, DomainVcpuFlags, ErrorCode,
};

const TEST_UUID: &str = "6695eb01-f6a4-8304-79aa-97f2502e193f";

#[test]
fn default_world_matches_libvirt() {
    let c = fresh();
    assert_eq!(c.kind(), "TEST");
    assert_eq!(c.hypervisor_version().unwrap(), 2);
    assert!(!c.hostname().unwrap().is_empty());
    let n = c.node_info().unwrap();
    assert_eq!(
        (n.model.as_str(), n.memory, n.cpus, n.mhz, n.nodes, n.sockets, n.cores, n.threads),
        ("i686", 3_145_728, 16, 1400, 2, 2, 2, 2)
    );
    let caps = c.capabilities().unwrap();
    assert!(caps.contains("<cells num='2'>") && caps.contains("<emulator>/usr/bin/test-hv</emulator>"), "{caps}");

    let all = c.list_all_domains(oxvirt_api::ConnectListAllDomainsFlags::empty()).unwrap();
    assert_eq!(all.len(), 1);
    let d = c.lookup_domain("test").unwrap();
    assert_eq!((d.id(), d.uuid().to_string().as_str()), (1, TEST_UUID));
    let i = d.info().unwrap();
    assert_eq!((i.state, i.max_mem, i.memory, i.nr_virt_cpu), (S::Running, 8_388_608, 2_097_152, 2));
    assert!(i.cpu_time > 0);
    assert_eq!(d.state().unwrap(), (S::Running, reason::UNKNOWN));
    assert_eq!(d.os_type().unwrap(), "linux");
    assert!(d.is_persistent().unwrap());
    assert!(!d.autostart().unwrap());
    assert!(!d.has_managed_save().unwrap());
    assert!(!d.is_updated().unwrap());
    assert_eq!(d.snapshot_count().unwrap(), 0);

    // lookups by id and UUID, and what they say when nothing matches
    assert_eq!(c.lookup_domain("1").unwrap().name(), "test");
    assert_eq!(c.lookup_domain(TEST_UUID).unwrap().name(), "test");
    let e = c.lookup_domain_by_name("nope").unwrap_err();
    assert_eq!(e.code, ErrorCode::NoDomain);
    assert_eq!(c.lookup_domain_by_id(99).unwrap_err().code, ErrorCode::NoDomain);
}

#[test]
fn live_xml_has_id_inactive_does_not() {
    let c = fresh();
    let d = c.lookup_domain("test").unwrap();
    let live = d.xml_desc(oxvirt_api::DomainXmlFlags::empty()).unwrap();
    assert!(live.starts_with("<domain type='test' id='1'>"), "{live}");
    assert!(live.contains("<memory unit='KiB'>8388608</memory>"), "{live}");
    assert!(live.contains("<currentMemory unit='KiB'>2097152</currentMemory>"), "{live}");
    assert!(live.contains("<vcpu placement='static'>2</vcpu>"), "{live}");
    let inactive = d.xml_desc(oxvirt_api::DomainXmlFlags::INACTIVE).unwrap();
    assert!(inactive.starts_with("<domain type='test'>"), "{inactive}");
}

#[test]
fn define_start_stop_undefine_with_events() {
    let c = fresh();
    let seen: Arc<Mutex<Vec<(String, K, i32)>>> = Arc::default();
    let s2 = seen.clone();
    let cb_id = c
        .domain_event_register(
            None,
            Arc::new(move |e: &DomainEvent| s2.lock().unwrap().push((e.domain.name.clone(), e.kind, e.detail))),
        )
        .unwrap();

    let (mut d, warnings) = c.define_domain(&domain_xml("vm1"), 0).unwrap();
    assert!(warnings.iter().all(|w| !w.contains("memory")), "{warnings:?}");
    assert_eq!(d.id(), -1);
    assert_eq!(d.state().unwrap(), (S::Shutoff, reason::UNKNOWN));
    assert!(d.is_persistent().unwrap());
    let i = d.info().unwrap();
    assert_eq!((i.max_mem, i.memory, i.nr_virt_cpu), (65536, 65536, 1));

    // redefining the same name and UUID is an update
    let xml_same_uuid = d.xml_desc(oxvirt_api::DomainXmlFlags::INACTIVE).unwrap();
    c.define_domain(&xml_same_uuid, 0).unwrap();

    d.create(oxvirt_api::DomainCreateFlags::empty()).unwrap();
    assert_eq!(d.id(), 2, "ids continue after the default domain's 1");
    assert_eq!(d.state().unwrap(), (S::Running, reason::RUNNING_BOOTED));
    let e = d.create(oxvirt_api::DomainCreateFlags::empty()).unwrap_err();
    assert_eq!(e.code, ErrorCode::InternalError);
    assert!(e.message.contains("Domain 'vm1' is already running"), "{e}");

    d.destroy(0).unwrap();
    assert_eq!(d.state().unwrap(), (S::Shutoff, reason::SHUTOFF_DESTROYED));
    assert_eq!(d.destroy(0).unwrap_err().message, "Requested operation is not valid: domain is not running");
    d.refresh().unwrap();
    assert_eq!(d.id(), -1);

    d.create(oxvirt_api::DomainCreateFlags::empty()).unwrap();
    assert_eq!(d.id(), 3, "ids grow, never reused");
    d.shutdown(0).unwrap();
    assert_eq!(d.state().unwrap(), (S::Shutoff, reason::SHUTOFF_SHUTDOWN));
    let e = d.shutdown(0).unwrap_err();
    assert_eq!(e.code, ErrorCode::InternalError);
    assert!(e.message.contains("domain 'vm1' not running"), "{e}");

    d.undefine(oxvirt_api::DomainUndefineFlags::empty()).unwrap();
    assert_eq!(c.lookup_domain_by_name("vm1").unwrap_err().code, ErrorCode::NoDomain);
    let e = d.info().unwrap_err();
    assert_eq!(e.code, ErrorCode::NoDomain);
    assert!(e.message.contains("no domain with matching uuid"), "{e}");

    c.domain_event_deregister(cb_id).unwrap();
    assert!(c.domain_event_deregister(cb_id).is_err());
    let got = seen.lock().unwrap().clone();
    let vm1 = |k, det| ("vm1".to_string(), k, det);
    assert_eq!(
        got,
        vec![
            vm1(K::Defined, detail::DEFINED_ADDED),
            vm1(K::Defined, detail::DEFINED_UPDATED),
            vm1(K::Started, detail::STARTED_BOOTED),
            vm1(K::Stopped, detail::STOPPED_DESTROYED),
            vm1(K::Started, detail::STARTED_BOOTED),
            vm1(K::Stopped, detail::STOPPED_SHUTDOWN),
            vm1(K::Undefined, detail::UNDEFINED_REMOVED),
        ]
    );
}

#[test]
fn name_and_uuid_conflicts() {
    let c = fresh();
    // same name as "test", other UUID
    let e = c.define_domain(&domain_xml_uuid("test", "11111111-2222-3333-4444-555555555555"), 0).unwrap_err();
    assert_eq!(e.code, ErrorCode::OperationFailed);
    assert_eq!(e.message, format!("operation failed: domain 'test' already exists with uuid {TEST_UUID}"));
    // same UUID as "test", other name
    let e = c.define_domain(&domain_xml_uuid("other", TEST_UUID), 0).unwrap_err();
    assert_eq!(e.code, ErrorCode::OperationFailed);
    assert_eq!(e.message, format!("operation failed: domain 'test' is already defined with uuid {TEST_UUID}"));
    // create_xml of a running domain's definition
    let e =
        c.create_domain_xml(&domain_xml_uuid("test", TEST_UUID), oxvirt_api::DomainCreateFlags::empty()).unwrap_err();
    assert_eq!(e.code, ErrorCode::OperationInvalid);
    assert_eq!(e.message, "Requested operation is not valid: domain 'test' is already active");
    assert_eq!(
        c.list_all_domains(oxvirt_api::ConnectListAllDomainsFlags::empty()).unwrap().len(),
        1,
        "nothing changed"
    );
}

#[test]
fn bad_input_changes_nothing() {
    let c = fresh();
    let e = c.define_domain("<domain type='test'><name>x</name>", 0).unwrap_err();
    assert_eq!(e.code, ErrorCode::XmlError);
    assert!(e.message.contains("line 1, column"), "{e}");
    let e = c
        .define_domain(
            "<domain type='test'>\n  <name>a/b</name><memory>1024</memory><os><type>hvm</type></os></domain>",
            0,
        )
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::XmlError);
    assert!(e.message.contains("must not contain '/'"), "{e}");
    let e = c.define_domain("<domain type='test'><name>nomem</name><os><type>hvm</type></os></domain>", 0).unwrap_err();
    assert!(e.message.contains("memory size must be given"), "{e}");
    let e = c.define_domain("<network><name>n</name></network>", 0).unwrap_err();
    assert_eq!(e.code, ErrorCode::XmlError);
    let e = c
        .define_domain(
            "<domain type='test'>\n <name>v</name>\n <memory>1</memory><os><type>hvm</type></os>\n <bogus/></domain>",
            flags::DEFINE_VALIDATE,
        )
        .unwrap_err();
    assert!(e.message.contains("line 4, column 2"), "{e}");
    let e = c.create_domain_xml("<domain", oxvirt_api::DomainCreateFlags::empty()).unwrap_err();
    assert_eq!(e.code, ErrorCode::XmlError);
    assert_eq!(c.list_all_domains(oxvirt_api::ConnectListAllDomainsFlags::empty()).unwrap().len(), 1);
    let d = c.lookup_domain("test").unwrap();
    assert_eq!(d.state().unwrap().0, S::Running);
    // unknown elements are warnings without validation
    let (_, w) = c
        .define_domain(
            "<domain type='test'><name>w</name><memory>1024</memory><os><type>hvm</type></os><bogus/></domain>",
            0,
        )
        .unwrap();
    assert!(w.iter().any(|w| w.contains("bogus")), "{w:?}");
}

#[test]
fn transient_domains_vanish_when_stopped() {
    let c = fresh();
    let d = c.create_domain_xml(&domain_xml("t1"), oxvirt_api::DomainCreateFlags::empty()).unwrap();
    assert_eq!(d.id(), 2);
    assert!(!d.is_persistent().unwrap());
    assert_eq!(d.state().unwrap(), (S::Running, reason::RUNNING_BOOTED));
    assert!(d.xml_desc(oxvirt_api::DomainXmlFlags::INACTIVE).unwrap().starts_with("<domain type='test'>"));
    d.destroy(0).unwrap();
    assert!(c.lookup_domain_by_name("t1").is_err());

    let d = c.create_domain_xml(&domain_xml("t2"), oxvirt_api::DomainCreateFlags::empty()).unwrap();
    d.shutdown(0).unwrap();
    assert!(c.lookup_domain_by_name("t2").is_err());

    // managed save is for persistent domains only
    let d = c.create_domain_xml(&domain_xml("t3"), oxvirt_api::DomainCreateFlags::empty()).unwrap();
    let e = d.managed_save(0).unwrap_err();
    assert_eq!(e.message, "Requested operation is not valid: cannot do managed save for transient domain");
    // defining a running transient domain makes it persistent; stopping keeps it
    c.define_domain(&d.xml_desc(oxvirt_api::DomainXmlFlags::INACTIVE).unwrap(), 0).unwrap();
    assert!(d.is_persistent().unwrap());
    d.destroy(0).unwrap();
    assert_eq!(c.lookup_domain_by_name("t3").unwrap().state().unwrap().0, S::Shutoff);
}

#[test]
fn undefine_running_makes_transient() {
    let c = fresh();
    let d = c.lookup_domain("test").unwrap();
    d.undefine(oxvirt_api::DomainUndefineFlags::empty()).unwrap();
    assert!(!d.is_persistent().unwrap());
    assert_eq!(d.state().unwrap().0, S::Running);
    d.destroy(0).unwrap();
    assert!(c.lookup_domain_by_name("test").is_err());
}

#[test]
fn create_xml_over_defined_domain_restores_config_at_stop() {
    let c = fresh();
    let (d, _) = c.define_domain(&domain_xml_uuid("p", "00000000-0000-0000-0000-00000000000a"), 0).unwrap();
    let live = domain_xml_uuid("p", "00000000-0000-0000-0000-00000000000a").replace("65536", "32768");
    c.create_domain_xml(&live, oxvirt_api::DomainCreateFlags::empty()).unwrap();
    assert!(d.is_persistent().unwrap());
    assert_eq!(d.info().unwrap().max_mem, 32768);
    assert!(d.xml_desc(oxvirt_api::DomainXmlFlags::INACTIVE).unwrap().contains(">65536<"));
    d.destroy(0).unwrap();
    assert_eq!(d.info().unwrap().max_mem, 65536);
}

#[test]
fn suspend_resume_reboot_reset() {
    let c = fresh();
    let seen: Arc<Mutex<Vec<(K, i32)>>> = Arc::default();
    let s2 = seen.clone();
    let d = c.lookup_domain("test").unwrap();
    c.domain_event_register(Some(&d), Arc::new(move |e: &DomainEvent| s2.lock().unwrap().push((e.kind, e.detail))))
        .unwrap();

    d.suspend().unwrap();
    assert_eq!(d.state().unwrap(), (S::Paused, reason::PAUSED_USER));
    let e = d.suspend().unwrap_err();
    assert_eq!((e.code, e.message.as_str()), (ErrorCode::InternalError, "internal error: domain 'test' not running"));
    d.resume().unwrap();
    assert_eq!(d.state().unwrap(), (S::Running, reason::RUNNING_UNPAUSED));
    let e = d.resume().unwrap_err();
    assert_eq!(e.message, "internal error: domain 'test' not paused");

    // on_reboot defaults to restart: still running, same id, no event
    d.reboot(oxvirt_api::DomainRebootFlagValues::empty()).unwrap();
    assert_eq!(d.state().unwrap(), (S::Running, reason::RUNNING_BOOTED));
    assert_eq!(c.lookup_domain("test").unwrap().id(), 1);
    d.reset(0).unwrap();

    d.destroy(0).unwrap();
    for e in [d.reboot(oxvirt_api::DomainRebootFlagValues::empty()).unwrap_err(), d.reset(0).unwrap_err()] {
        assert_eq!(
            (e.code, e.message.as_str()),
            (ErrorCode::OperationInvalid, "Requested operation is not valid: domain is not running")
        );
    }
    assert!(d.suspend().is_err());
    assert!(d.resume().is_err());
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (K::Suspended, detail::SUSPENDED_PAUSED),
            (K::Resumed, detail::RESUMED_UNPAUSED),
            (K::Stopped, detail::STOPPED_DESTROYED),
        ]
    );
}

#[test]
fn lifecycle_actions_from_xml() {
    let c = fresh();
    let xml = "<domain type='test'><name>act</name><memory>1024</memory><vcpu>1</vcpu><os><type>hvm</type></os>\
               <on_poweroff>restart</on_poweroff><on_reboot>destroy</on_reboot></domain>";
    let (mut d, _) = c.define_domain(xml, 0).unwrap();
    d.create(oxvirt_api::DomainCreateFlags::empty()).unwrap();
    d.shutdown(0).unwrap();
    assert_eq!(d.state().unwrap(), (S::Running, reason::RUNNING_BOOTED), "on_poweroff=restart keeps it running");
    d.reboot(oxvirt_api::DomainRebootFlagValues::empty()).unwrap();
    assert_eq!(d.state().unwrap(), (S::Shutoff, reason::SHUTOFF_SHUTDOWN), "on_reboot=destroy stops it");
}

#[test]
fn start_paused() {
    let c = fresh();
    let seen: Arc<Mutex<Vec<(K, i32)>>> = Arc::default();
    let s2 = seen.clone();
    c.domain_event_register(None, Arc::new(move |e: &DomainEvent| s2.lock().unwrap().push((e.kind, e.detail))))
        .unwrap();
    let (mut d, _) = c.define_domain(&domain_xml("pz"), 0).unwrap();
    d.create(oxvirt_api::DomainCreateFlags::PAUSED).unwrap();
    assert_eq!(d.state().unwrap(), (S::Paused, reason::PAUSED_USER));
    let t = c.create_domain_xml(&domain_xml("pz2"), oxvirt_api::DomainCreateFlags::PAUSED).unwrap();
    assert_eq!(t.state().unwrap().0, S::Paused);
    assert_eq!(d.create(oxvirt_api::DomainCreateFlags::AUTODESTROY).unwrap_err().code, ErrorCode::InvalidArg);
    let got = seen.lock().unwrap().clone();
    assert_eq!(got[1..3], [(K::Started, detail::STARTED_BOOTED), (K::Suspended, detail::SUSPENDED_PAUSED)]);
}

#[test]
fn save_and_restore_through_a_real_file() {
    let c = fresh();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test.save");
    let p = path.to_str().unwrap();
    let d = c.lookup_domain("test").unwrap();
    d.set_memory(1_048_576, DomainMemoryModFlags::empty()).unwrap();
    d.save(p, None, 0).unwrap();
    assert_eq!(d.state().unwrap(), (S::Shutoff, reason::SHUTOFF_SAVED));
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(b"TestGuestMagic\0"));
    let image_xml = c.save_image_xml(p, 0).unwrap();
    assert!(image_xml.contains("<name>test</name>") && !image_xml.contains("id="), "{image_xml}");
    assert_eq!(d.save(p, None, 0).unwrap_err().code, ErrorCode::OperationInvalid);

    let r = c.restore_domain(p, None, 0).unwrap();
    assert_eq!(r.id(), 2);
    assert_eq!(r.state().unwrap(), (S::Running, reason::RUNNING_RESTORED));
    assert_eq!(r.info().unwrap().memory, 1_048_576, "the live memory size came back");
    assert!(d.xml_desc(oxvirt_api::DomainXmlFlags::INACTIVE).unwrap().contains("2097152"), "persistent config kept");
    let e = c.restore_domain(p, None, 0).unwrap_err();
    assert_eq!(e.message, "Requested operation is not valid: domain 'test' is already active");

    assert_eq!(d.save(p, Some("<domain/>"), 0).unwrap_err().code, ErrorCode::ArgumentUnsupported);
    std::fs::write(&path, b"junk").unwrap();
    assert!(c.restore_domain(p, None, 0).is_err());
    std::fs::write(&path, b"NotTheMagicNo!\0\x04\0\0\0abcd").unwrap();
    assert!(c.restore_domain(p, None, 0).unwrap_err().message.contains("mismatched header magic"));
    assert!(c.restore_domain("/nonexistent/x.save", None, 0).unwrap_err().code == ErrorCode::SystemError);
}

#[test]
fn transient_save_removes_domain() {
    let c = fresh();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.save");
    let d = c.create_domain_xml(&domain_xml("ts"), oxvirt_api::DomainCreateFlags::empty()).unwrap();
    d.save(p.to_str().unwrap(), None, 0).unwrap();
    assert!(c.lookup_domain_by_name("ts").is_err());
    let r = c.restore_domain(p.to_str().unwrap(), None, 0).unwrap();
    assert!(!r.is_persistent().unwrap());
}

#[test]
fn managed_save_rules() {
    let c = fresh();
    let mut d = c.lookup_domain("test").unwrap();
    d.managed_save(0).unwrap();
    assert!(d.has_managed_save().unwrap());
    assert_eq!(d.state().unwrap(), (S::Shutoff, reason::SHUTOFF_SAVED));
    assert_eq!(d.managed_save(0).unwrap_err().code, ErrorCode::OperationInvalid);
    let listed = c.list_all_domains(oxvirt_api::ConnectListAllDomainsFlags::MANAGEDSAVE).unwrap();
    assert_eq!(listed.len(), 1);
    let e = d.undefine(oxvirt_api::DomainUndefineFlags::empty()).unwrap_err();
    assert_eq!(
        e.message,
        "Requested operation is not valid: Refusing to undefine while domain managed save image exists"
    );
    // starting consumes the image
    d.create(oxvirt_api::DomainCreateFlags::empty()).unwrap();
    assert!(!d.has_managed_save().unwrap());
    assert_eq!(d.state().unwrap(), (S::Running, reason::RUNNING_BOOTED));
    d.managed_save(0).unwrap();
    d.managed_save_remove().unwrap();
    assert!(!d.has_managed_save().unwrap());
    d.managed_save(0).unwrap_err();
    d.create(oxvirt_api::DomainCreateFlags::empty()).unwrap();
    d.managed_save(0).unwrap();
    d.undefine(oxvirt_api::DomainUndefineFlags::MANAGED_SAVE).unwrap();
    assert!(c.lookup_domain_by_name("test").is_err());
}

#[test]
fn autostart_and_list_filters() {
    let c = fresh();
    let d = c.lookup_domain("test").unwrap();
    d.set_autostart(true).unwrap();
    assert!(d.autostart().unwrap());
    c.define_domain(&domain_xml("off"), 0).unwrap();
    let names = |f| c.list_all_domains(f).unwrap().iter().map(|d| d.name().to_string()).collect::<Vec<_>>();
    assert_eq!(names(oxvirt_api::ConnectListAllDomainsFlags::ACTIVE), ["test"]);
    assert_eq!(names(oxvirt_api::ConnectListAllDomainsFlags::INACTIVE), ["off"]);
    assert_eq!(names(oxvirt_api::ConnectListAllDomainsFlags::AUTOSTART), ["test"]);
    assert_eq!(names(oxvirt_api::ConnectListAllDomainsFlags::NO_AUTOSTART), ["off"]);
    assert_eq!(names(oxvirt_api::ConnectListAllDomainsFlags::SHUTOFF), ["off"]);
    assert_eq!(names(oxvirt_api::ConnectListAllDomainsFlags::empty()).len(), 2);
}

#[test]
fn set_memory_and_vcpus() {
    let c = fresh();
    let d = c.lookup_domain("test").unwrap();
    let e = d.set_memory(9_000_000, DomainMemoryModFlags::empty()).unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (ErrorCode::InvalidArg, "invalid argument: cannot set memory higher than max memory")
    );
    d.set_memory(1_000_000, DomainMemoryModFlags::empty()).unwrap();
    assert_eq!(d.info().unwrap().memory, 1_000_000);
    // live change only: the persistent config keeps its value
    assert!(d
        .xml_desc(oxvirt_api::DomainXmlFlags::INACTIVE)
        .unwrap()
        .contains("<currentMemory unit='KiB'>2097152</currentMemory>"));
    d.set_memory(1_500_000, DomainMemoryModFlags::CONFIG).unwrap();
    assert!(d
        .xml_desc(oxvirt_api::DomainXmlFlags::INACTIVE)
        .unwrap()
        .contains("<currentMemory unit='KiB'>1500000</currentMemory>"));
    let e = d.set_memory(1, DomainMemoryModFlags::LIVE | DomainMemoryModFlags::CONFIG).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidArg);
    let e = d.set_memory(4_000_000, DomainMemoryModFlags::MAXIMUM | DomainMemoryModFlags::LIVE).unwrap_err();
    assert_eq!(e.message, "Requested operation is not valid: cannot resize the maximum memory on an active domain");
    d.set_memory(1_000_000, DomainMemoryModFlags::MAXIMUM | DomainMemoryModFlags::CONFIG).unwrap();
    d.destroy(0).unwrap();
    let i = d.info().unwrap();
    assert_eq!((i.max_mem, i.memory), (1_000_000, 1_000_000), "config change applies after stop");
    assert_eq!(
        d.set_memory(1, DomainMemoryModFlags::LIVE).unwrap_err().message,
        "Requested operation is not valid: domain is not running"
    );

    // vCPUs
    let e = d.set_vcpus(33, DomainVcpuFlags::empty()).unwrap_err();
    assert_eq!(e.message, "invalid argument: requested cpu amount exceeds maximum supported amount (33 > 32)");
    let e = d.set_vcpus(3, DomainVcpuFlags::empty()).unwrap_err();
    assert_eq!(e.message, "invalid argument: requested cpu amount exceeds maximum (3 > 2)");
    d.set_vcpus(1, DomainVcpuFlags::empty()).unwrap();
    assert_eq!(d.info().unwrap().nr_virt_cpu, 1);
    assert!(d
        .xml_desc(oxvirt_api::DomainXmlFlags::empty())
        .unwrap()
        .contains("<vcpu placement='static' current='1'>2</vcpu>"));
    d.set_vcpus(4, DomainVcpuFlags::MAXIMUM).unwrap();
    d.set_vcpus(4, DomainVcpuFlags::empty()).unwrap();
    assert_eq!(d.info().unwrap().nr_virt_cpu, 4);
    assert!(d.set_vcpus(0, DomainVcpuFlags::empty()).is_err());

    let t = c.create_domain_xml(&domain_xml("tv"), oxvirt_api::DomainCreateFlags::empty()).unwrap();
    let e = t.set_memory(1024, DomainMemoryModFlags::CONFIG).unwrap_err();
    assert_eq!(e.message, "Requested operation is not valid: transient domains do not have any persistent config");
}

#[test]
fn read_only_connections_refuse_writes() {
    let _c = fresh();
    let ro = Connect::open_read_only(Some("test:///default")).unwrap();
    assert!(ro.is_read_only());
    let d = ro.lookup_domain("test").unwrap();
    assert_eq!(d.info().unwrap().state, S::Running);
    for e in [
        d.destroy(0).unwrap_err(),
        d.suspend().unwrap_err(),
        d.set_autostart(true).unwrap_err(),
        ro.define_domain(&domain_xml("ro"), 0).unwrap_err(),
        ro.create_domain_xml(&domain_xml("ro"), oxvirt_api::DomainCreateFlags::empty()).unwrap_err(),
    ] {
        assert_eq!(e.code, ErrorCode::OperationDenied, "{e}");
    }
    assert_eq!(d.state().unwrap().0, S::Running);
}

#[test]
fn default_state_is_shared_while_open_and_fresh_after() {
    let c = fresh();
    let other = Connect::open(Some("test:///default")).unwrap();
    let seen: Arc<Mutex<Vec<K>>> = Arc::default();
    let s2 = seen.clone();
    other.domain_event_register(None, Arc::new(move |e: &DomainEvent| s2.lock().unwrap().push(e.kind))).unwrap();
    c.lookup_domain("test").unwrap().destroy(0).unwrap();
    assert_eq!(other.lookup_domain("test").unwrap().state().unwrap().0, S::Shutoff, "same state");
    assert_eq!(*seen.lock().unwrap(), [K::Stopped], "events reach the other connection");
    drop(other);
    drop(c);
    let c = fresh();
    assert_eq!(c.lookup_domain("test").unwrap().state().unwrap().0, S::Running, "fresh defaults after all closed");
}

#[test]
fn uri_handling() {
    let _c = fresh();
    let e = Connect::open(Some("test:///")).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidArg);
    assert!(e.message.contains("supply a path or use test:///default"));
    assert!(Connect::open(Some("test:///nonexistent/file.xml")).is_err());
    assert_eq!(Connect::open(Some("test://remotehost/default")).unwrap_err().code, ErrorCode::NoConnect);
    let c = Connect::open(Some("test:///default")).unwrap();
    assert_eq!(c.uri(), "test:///default");
}
