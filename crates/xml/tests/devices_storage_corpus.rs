//! libvirt's own test domains must parse without warnings under the storage-side device elements
//! (disk, controller, lease, filesystem, smartcard, hostdev, redirdev, redirfilter, hub, memory,
//! iommu), and format back to something that parses to the same model.

use std::path::Path;

use oxvirt_xml::domain::Domain;
use oxvirt_xml::{parse_document, ParseOptions, XmlDocument};

const CORPUS: &str = "/work/shared/libvirt-9.0/tests/qemuxml2argvdata";
const MINE: &[&str] = &[
    "disk", "controller", "lease", "filesystem", "smartcard", "hostdev", "redirdev", "redirfilter", "hub", "memory",
    "iommu",
];

fn is_mine(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/domain/devices/") else { return false };
    let first = rest.split(['/', '[']).next().unwrap_or("");
    MINE.contains(&first)
}

#[test]
fn corpus_storage_devices_parse_cleanly() {
    let dir = Path::new(CORPUS);
    if !dir.is_dir() {
        eprintln!("corpus {CORPUS} not present; skipping");
        return;
    }
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("read corpus dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    files.sort();
    let mut problems = Vec::new();
    let mut parsed = 0;
    for f in &files {
        let Ok(xml) = std::fs::read_to_string(f) else { continue };
        let name = f.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        match parse_document::<Domain>(&xml, ParseOptions::default()) {
            Ok((dom, warnings)) => {
                parsed += 1;
                for w in warnings.iter().filter(|w| is_mine(&w.at.path)) {
                    problems.push(format!("{name}: {w}"));
                }
                let out = dom.to_xml_string();
                match Domain::from_xml_str(&out) {
                    Ok(again) => {
                        if again.devices != dom.devices {
                            problems.push(format!("{name}: devices differ after format + reparse"));
                        }
                    }
                    Err(e) => problems.push(format!("{name}: formatted output does not parse: {e}")),
                }
            }
            Err(e) => {
                // `*-invalid.xml` files are libvirt's negative tests: failing them is right.
                if e.location().is_some_and(|l| is_mine(&l.path)) && !name.contains("invalid") {
                    problems.push(format!("{name}: error: {e}"));
                }
            }
        }
    }
    for p in &problems {
        eprintln!("{p}");
    }
    eprintln!("{parsed}/{} corpus files parsed, {} problems under storage-side devices", files.len(), problems.len());
    assert!(problems.is_empty(), "{} problems", problems.len());
}
