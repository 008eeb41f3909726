#![no_main]
//! Parses arbitrary input as every document kind, on a small stack, plain and amplified
//! (nested, repeated, padded past the size limit): must return an error or a model, never panic
//! or overflow.

use libfuzzer_sys::fuzz_target;
use oxvirt_xml::capabilities::{Capabilities, DomainCapabilities};
use oxvirt_xml::domain::{Disk, Domain};
use oxvirt_xml::network::Network;
use oxvirt_xml::nodedev::NodeDevice;
use oxvirt_xml::snapshot::DomainSnapshot;
use oxvirt_xml::storage::{StoragePool, StorageVol};
use oxvirt_xml::{parse_document, parse_element, parse_tree, root_name, Limits, ParseOptions, XmlDocument};

fn all(xml: &str) {
    for validate in [false, true] {
        let o = ParseOptions { validate };
        // Formatting what parsed must work too (and re-parse).
        if let Ok((d, _)) = parse_document::<Domain>(xml, o) {
            let _ = Domain::from_xml_str(&d.to_xml_string());
        }
        let _ = parse_document::<Network>(xml, o).map(|(n, _)| n.to_xml_string());
        let _ = parse_document::<StoragePool>(xml, o).map(|(p, _)| p.to_xml_string());
        let _ = parse_document::<StorageVol>(xml, o).map(|(v, _)| v.to_xml_string());
        let _ = parse_document::<DomainSnapshot>(xml, o).map(|(s, _)| s.to_xml_string());
        let _ = parse_document::<NodeDevice>(xml, o).map(|(d, _)| d.to_xml_string());
        let _ = parse_document::<Capabilities>(xml, o);
        let _ = parse_document::<DomainCapabilities>(xml, o);
        let _ = parse_element::<Disk>(xml, "disk", o);
    }
    let _ = root_name(xml);
    let _ = parse_tree(xml, Limits::NODE_FILE);
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let text = text.to_string();
    std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(move || {
            all(&text);
            if text.len() < 64 {
                // deep: the input as the opening of 300 nested levels
                all(&format!("<domain>{}", text.repeat(300)));
                // wide: many siblings
                all(&format!("<domain><name>w</name>{}</domain>", text.repeat(20_000)));
                // huge: past the size limit
                all(&format!("<network>{}</network>", text.repeat(4 * 1024 * 1024 / text.len().max(1) + 1)));
            }
        })
        .expect("spawn")
        .join()
        .expect("no panic, no stack overflow");
});
