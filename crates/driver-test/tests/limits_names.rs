//! Object names follow the one rule in `oxvirt_xml::names`, with the error the QEMU driver gives
//! too; hostile documents (deep, huge, through a node file) are errors, never a crash.

mod common;

use common::{domain_xml, fresh};
use oxvirt_api::{Connect, Error, ErrorCode};
use oxvirt_xml::domain::Domain;
use oxvirt_xml::{parse_document, ParseOptions};

const BAD: &[&str] = &[".", "..", "a\nb", "a\tb", "evil\u{202e}gpj", "a/b", "-c", ""];

/// What the QEMU driver reports for the same definition (its define maps the parse error with
/// `Error::xml("domain definition", ..)`; only the error domain differs).
fn qemu_error(xml: &str) -> Error {
    let e = parse_document::<Domain>(xml, ParseOptions::default()).map(|_| ()).unwrap_err();
    Error::xml("domain definition", &e)
}

#[test]
fn bad_domain_names_are_refused_like_the_qemu_driver() {
    let c = fresh();
    let before = c.list_all_domains(oxvirt_api::ConnectListAllDomainsFlags::empty()).unwrap().len();
    for name in BAD {
        let xml = domain_xml(name);
        let want = qemu_error(&xml);
        for e in [
            c.define_domain(&xml, 0).map(|_| ()).unwrap_err(),
            c.create_domain_xml(&xml, oxvirt_api::DomainCreateFlags::empty()).map(|_| ()).unwrap_err(),
        ] {
            assert_eq!(e.code, ErrorCode::XmlError, "{name:?}: {e}");
            assert_eq!(e.message, want.message, "{name:?}");
        }
    }
    assert_eq!(
        c.list_all_domains(oxvirt_api::ConnectListAllDomainsFlags::empty()).unwrap().len(),
        before,
        "nothing defined"
    );
    let e = c.define_domain(&domain_xml("a\u{202e}b"), 0).map(|_| ()).unwrap_err();
    assert_eq!(
        e.message,
        "XML error in domain definition: /domain/name: domain name 'aU+202Eb' must not contain the bidirectional control character U+202E"
    );
    let e = c.define_domain(&domain_xml(".."), 0).map(|_| ()).unwrap_err();
    assert!(e.message.ends_with("/domain/name: domain name '..' is not allowed (it names a directory)"), "{e}");
    c.define_domain(&domain_xml("ok.name with space"), 0).expect("ordinary names still work");
}

#[test]
fn bad_network_pool_and_volume_names_are_refused() {
    let c = fresh();
    for name in BAD {
        let e = c.define_network(&format!("<network><name>{name}</name></network>"), 0).map(|_| ()).unwrap_err();
        assert_eq!(e.code, ErrorCode::XmlError, "{name:?}: {e}");
        assert!(e.message.contains("/network/name: network name"), "{e}");
        let e = c
            .define_storage_pool(
                &format!("<pool type='dir'><name>{name}</name><target><path>/p</path></target></pool>"),
                0,
            )
            .map(|_| ())
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::XmlError, "{name:?}: {e}");
        assert!(e.message.contains("/pool/name: pool name"), "{e}");
    }
    let p =
        c.define_storage_pool("<pool type='dir'><name>p1</name><target><path>/p1</path></target></pool>", 0).unwrap();
    p.create(0).unwrap();
    for name in BAD {
        let e = p
            .create_volume_xml(&format!("<volume><name>{name}</name><capacity>1</capacity></volume>"), 0)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::XmlError, "{name:?}: {e}");
        assert!(e.message.contains("/volume/name: volume name"), "{e}");
    }
}

fn open_on_small_stack(uri: String) -> Result<(), Error> {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || Connect::open(Some(&uri)).map(|_| ()))
        .unwrap()
        .join()
        .expect("no stack overflow")
}

#[test]
fn node_files_with_deep_huge_or_badly_named_content_are_errors() {
    oxvirt_driver_test::register();
    let dir = tempfile::tempdir().unwrap();
    let node = |file: &str, text: &str| {
        let p = dir.path().join(file);
        std::fs::write(&p, text).unwrap();
        format!("test://{}", p.display())
    };
    // the crash report: a few thousand nested elements, in the node file itself or a file it names
    let deep = format!("<node>{}</node>", "<a>".repeat(100_000));
    let e = open_on_small_stack(node("deep.xml", &deep)).unwrap_err();
    assert_eq!(e.code, ErrorCode::XmlError);
    assert!(e.message.contains("line 1, column 772: elements nested deeper than 256 levels"), "{e}");
    std::fs::write(dir.path().join("dom.xml"), format!("<domain type='test'>{}", "<x>".repeat(100_000))).unwrap();
    let e = open_on_small_stack(node("ref.xml", "<node><domain file='dom.xml'/></node>")).unwrap_err();
    assert!(e.message.contains("elements nested deeper than 256 levels"), "{e}");
    // bigger than a node file may be: refused without reading it all
    let huge = format!("<node>{}</node>", " ".repeat(oxvirt_xml::limits::MAX_NODE_FILE_BYTES));
    let e = open_on_small_stack(node("huge.xml", &huge)).unwrap_err();
    assert!(e.message.contains("larger than the 16777216-byte limit"), "{e}");
    // an inline domain named '..'
    let e = open_on_small_stack(node("dots.xml", &format!("<node>{}</node>", domain_xml("..")))).unwrap_err();
    assert_eq!(e.code, ErrorCode::XmlError);
    assert!(e.message.contains("domain name '..' is not allowed"), "{e}");
    // and a DTD
    let e = open_on_small_stack(node("dtd.xml", "<!DOCTYPE node [<!ENTITY e 'x'>]><node/>")).unwrap_err();
    assert!(e.message.contains("document type declarations (DTD) are not accepted"), "{e}");
}

#[test]
fn deep_and_huge_definitions_are_refused_on_a_small_stack() {
    let c = fresh();
    let deep = format!("<domain type='test'><name>d</name><metadata>{}</metadata></domain>", "<m>".repeat(100_000));
    let conn = (*c).clone();
    let e = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || conn.define_domain(&deep, 0).map(|_| ()).unwrap_err())
        .unwrap()
        .join()
        .expect("no stack overflow");
    assert_eq!(e.code, ErrorCode::XmlError);
    assert!(e.message.contains("elements nested deeper than 256 levels"), "{e}");
    let huge =
        format!("<network><name>n</name><!--{}--></network>", "x".repeat(oxvirt_xml::limits::MAX_DOCUMENT_BYTES));
    let e = c.define_network(&huge, 0).map(|_| ()).unwrap_err();
    assert_eq!(e.code, ErrorCode::XmlError);
    assert!(e.message.contains("is more than the limit of 4194304 bytes"), "{e}");
}
