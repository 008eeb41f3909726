//! Hostile documents (deep, wide, huge) are refused cleanly, through every entry point and for
//! every document kind, in threads whose stacks are far too small for recursion on input.

use std::time::{Duration, Instant};

use oxvirt_xml::capabilities::{Capabilities, DomainCapabilities};
use oxvirt_xml::domain::Domain;
use oxvirt_xml::limits::{check, MAX_DEPTH, MAX_DOCUMENT_BYTES};
use oxvirt_xml::network::Network;
use oxvirt_xml::nodedev::NodeDevice;
use oxvirt_xml::snapshot::DomainSnapshot;
use oxvirt_xml::storage::{StoragePool, StorageVol};
use oxvirt_xml::{parse_document, parse_element, parse_tree, root_name, Limits, ParseOptions, XmlDocument, XmlError};
use proptest::prelude::*;

/// Small enough that a few hundred frames of recursion would overflow it.
const SMALL_STACK: usize = 128 * 1024;

/// What parsing an accepted domain needs in a debug build (the model is big, not deep), with
/// room to spare; the daemon's threads have 2 MiB.
const PARSE_STACK: usize = 1024 * 1024;

fn on_stack<T: Send + 'static>(size: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new().stack_size(size).spawn(f).expect("spawn").join().expect("no stack overflow")
}

fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    on_stack(SMALL_STACK, f)
}

/// `<root>` + `levels` nested `<inner>` (under `wrap`, e.g. `<metadata>`) + closing tags.
fn deep(root: &str, wrap: &str, levels: usize) -> String {
    let mut s = format!("<{root}>{wrap}");
    s.push_str(&"<a>".repeat(levels));
    s.push_str(&"</a>".repeat(levels));
    if let Some(name) = wrap.strip_prefix('<').and_then(|w| w.strip_suffix('>')) {
        s.push_str(&format!("</{name}>"));
    }
    s.push_str(&format!("</{root}>"));
    s
}

fn deep_refused<T: XmlDocument>(wrap: &'static str) {
    let xml = deep(T::ROOT, wrap, 100_000);
    let e = on_small_stack(move || parse_document::<T>(&xml, ParseOptions::default()).map(|_| ()).unwrap_err());
    assert!(matches!(e, XmlError::Limit { line: 1, .. }), "{}: {e}", T::ROOT);
    assert!(e.to_string().contains("elements nested deeper than 256 levels"), "{e}");
}

#[test]
fn every_document_kind_refuses_deep_nesting() {
    deep_refused::<Domain>("<metadata>");
    deep_refused::<Domain>("<devices>");
    deep_refused::<Network>("");
    deep_refused::<StoragePool>("");
    deep_refused::<StorageVol>("");
    deep_refused::<DomainSnapshot>("<domain>");
    deep_refused::<NodeDevice>("");
    deep_refused::<Capabilities>("");
    deep_refused::<DomainCapabilities>("");
}

#[test]
fn fragments_and_root_names_refuse_deep_nesting() {
    let xml = deep("disk", "", 100_000);
    on_small_stack(move || {
        let e =
            parse_element::<oxvirt_xml::domain::Disk>(&xml, "disk", ParseOptions::default()).map(|_| ()).unwrap_err();
        assert!(matches!(e, XmlError::Limit { .. }), "{e}");
        assert!(matches!(root_name(&xml).unwrap_err(), XmlError::Limit { .. }));
        assert!(matches!(parse_tree(&xml, Limits::NODE_FILE).unwrap_err(), XmlError::Limit { .. }));
    });
}

#[test]
fn unclosed_deep_documents_are_refused_too() {
    // The crash case: no closing tags needed to make the parser recurse.
    let xml = format!("<domain>{}", "<a x='1'>".repeat(4000));
    let e = on_small_stack(move || Domain::from_xml_str(&xml).unwrap_err());
    assert_eq!(
        e.to_string(),
        format!("XML document refused at line 1, column {}: elements nested deeper than 256 levels", 9 + 255 * 9)
    );
}

/// A domain with a backing chain as deep as the limit allows: parse, format, re-parse and drop
/// (the model's one recursive type) stay within a modest stack.
#[test]
fn deepest_accepted_backing_chain_parses_formats_and_drops() {
    // domain / devices / disk = 3 levels; each backingStore 1; the innermost one's <format> 1.
    let chain = MAX_DEPTH - 4;
    let mut xml = String::from(
        "<domain type='kvm'><name>deep</name><memory>1024</memory><os><type>hvm</type></os><devices>\
         <disk type='file' device='disk'><source file='/a'/><target dev='vda' bus='virtio'/>",
    );
    for i in 0..chain {
        xml.push_str(&format!(
            "<backingStore type='file' index='{}'><format type='qcow2'/><source file='/b{i}'/>",
            i + 1
        ));
    }
    xml.push_str(&"</backingStore>".repeat(chain));
    xml.push_str("</disk></devices></domain>");
    check(&xml, &Limits::DEFINITION).expect("exactly at the depth limit");
    let deeper = xml.replacen("<format type='qcow2'/>", "<format type='qcow2'><a/></format>", chain);
    assert!(matches!(check(&deeper, &Limits::DEFINITION), Err(XmlError::Limit { .. })));
    on_stack(PARSE_STACK, move || {
        let d = Domain::from_xml_str(&xml).expect("parses");
        let out = d.to_xml_string();
        assert_eq!(out.matches("<backingStore").count(), chain);
        let again = Domain::from_xml_str(&out).expect("re-parses");
        assert!(again == d);
        drop((d, again));
    });
}

#[test]
fn huge_documents_are_refused_before_parsing() {
    let pad = " ".repeat(MAX_DOCUMENT_BYTES);
    let xml = format!("<network><name>n</name>{pad}</network>");
    let len = xml.len();
    let e = on_small_stack(move || Network::from_xml_str(&xml).unwrap_err());
    assert_eq!(e, XmlError::TooLarge { size: len, max: MAX_DOCUMENT_BYTES });
    assert_eq!(e.to_string(), format!("XML document refused: {len} bytes is more than the limit of 4194304 bytes"));
}

/// Many siblings: parsing stays linear (per-name cursors, one pass over unknown children) and
/// the warnings are capped.
#[test]
fn wide_documents_parse_in_linear_time() {
    let n = 200_000;
    let mut xml = String::from("<domain type='kvm'><name>w</name><memory>1024</memory><os><type>hvm</type></os>");
    xml.push_str(&"<x/>".repeat(n));
    xml.push_str("<devices>");
    xml.push_str(&"<y/>".repeat(100));
    xml.push_str("</devices></domain>");
    let column = xml.find("<x/>").expect("x") + 1;
    let started = Instant::now();
    let (_, warnings) =
        on_stack(PARSE_STACK, move || parse_document::<Domain>(&xml, ParseOptions::default()).expect("parses"));
    println!("wide domain: {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    assert_eq!(warnings.len(), oxvirt_xml::core::MAX_WARNINGS + 1);
    // <devices> is parsed (and finished) before its parent
    assert_eq!(warnings[99].message, "unexpected repeated element <y>");
    assert_eq!(warnings[100].to_string(), format!("line 1, column {column}: /domain/x[1]: unknown element <x>"));
    assert_eq!(warnings[101].message, "unexpected repeated element <x>");
    assert_eq!(
        warnings.last().map(|w| w.message.clone()),
        Some(format!("{} more warnings not shown", n + 100 - oxvirt_xml::core::MAX_WARNINGS))
    );

    // Many children of one name taken by the model: linear too.
    let mut xml = String::from("<network><name>n</name><ip address='10.0.0.1' prefix='8'><dhcp>");
    for i in 0..50_000u32 {
        xml.push_str(&format!(
            "<host mac='52:54:00:{:02x}:{:02x}:{:02x}' ip='10.{}.{}.{}'/>",
            i >> 16,
            (i >> 8) & 255,
            i & 255,
            (i >> 16) + 1,
            (i >> 8) & 255,
            i & 255
        ));
    }
    xml.push_str("</dhcp></ip></network>");
    let started = Instant::now();
    let hosts = on_stack(PARSE_STACK, move || {
        Network::from_xml_str(&xml).map(|n| n.ips[0].dhcp.as_ref().map_or(0, |d| d.hosts.len()))
    });
    assert_eq!(hosts, Ok(50_000));
    println!("wide network: {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
}

#[test]
fn too_many_nodes_are_refused() {
    let xml = format!("<domain>{}</domain>", "<a/>".repeat(1_000_001));
    let e = on_small_stack(move || Domain::from_xml_str(&xml).unwrap_err());
    assert!(e.to_string().contains("more than 1000000 XML nodes"), "{e}");
}

/// Documents built from XML-ish tokens: whatever the pre-scan lets through, roxmltree parses
/// without deep recursion (on a small stack) and never deeper than the limit.
fn token() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "<a>",
        "</a>",
        "<b x='>'>",
        "</b>",
        "<c/>",
        "<!--",
        "-->",
        "<![CDATA[",
        "]]>",
        "<?p",
        "?>",
        "'",
        "\"",
        "<",
        ">",
        "/>",
        "text",
        " ",
        "\n",
        "<d y=\"<a>\">",
        "</d>",
        "=",
        "<e xmlns:q='u'>",
        "</e>",
        "&amp;",
        "<!DOCTYPE",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn pre_scan_bounds_the_parser(tokens in prop::collection::vec(token(), 0..400), reps in 1usize..40) {
        let body: String = tokens.concat();
        let xml = format!("<r>{}</r>", body.repeat(reps));
        let limits = Limits { max_depth: 16, ..Limits::DEFINITION };
        let depth = on_small_stack(move || match parse_tree(&xml, limits) {
            Ok(doc) => doc.descendants().map(|n| n.ancestors().filter(|a| a.is_element()).count()).max().unwrap_or(0),
            Err(_) => 0,
        });
        prop_assert!(depth <= 16, "depth {depth}");
    }
}
