//! libvirt's own test domains, checked element by element for the storage-side devices (disk,
//! controller, lease, filesystem, smartcard, hostdev, redirdev, redirfilter, hub, memory, iommu):
//! no parse warnings under them, each formatted element keeps everything its input had, the
//! formatted domain re-parses to the same devices, and each formatted element validates against
//! libvirt's RelaxNG definition of that element. Checking per element keeps this independent of
//! the state of the rest of the domain model.

#[path = "conformance/mod.rs"]
mod harness;

use std::path::Path;

use oxvirt_xml::domain::{Devices, Domain};
use oxvirt_xml::{parse_document, ParseOptions, ToXml, Writer, XmlDocument};

const CORPUS: &str = "tests/qemuxml2argvdata";
/// Element name and the schema's `define` for it.
const MINE: &[(&str, &str)] = &[
    ("disk", "disk"),
    ("controller", "controller"),
    ("lease", "lease"),
    ("filesystem", "filesystem"),
    ("smartcard", "smartcard"),
    ("hostdev", "hostdev"),
    ("redirdev", "redirdev"),
    ("redirfilter", "redirfilter"),
    ("hub", "hub"),
    ("memory", "memorydev"),
    ("iommu", "iommu"),
];

fn is_mine(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/domain/devices/") else { return false };
    let first = rest.split(['/', '[']).next().unwrap_or("");
    MINE.iter().any(|(n, _)| *n == first)
}

fn one<T: ToXml>(name: &str, v: &T) -> String {
    let mut w = Writer::new();
    w.element(name, v);
    w.finish()
}

/// The formatted storage-side elements of a domain, in document order per kind.
fn formatted(d: &Devices) -> Vec<(&'static str, Vec<String>)> {
    fn all<T: ToXml>(name: &'static str, v: &[T]) -> (&'static str, Vec<String>) {
        (name, v.iter().map(|x| one(name, x)).collect())
    }
    vec![
        all("disk", &d.disks),
        all("controller", &d.controllers),
        all("lease", &d.leases),
        all("filesystem", &d.filesystems),
        all("smartcard", &d.smartcards),
        all("hostdev", &d.hostdevs),
        all("redirdev", &d.redirdevs),
        all("redirfilter", d.redirfilter.as_slice()),
        all("hub", &d.hubs),
        all("memory", &d.memories),
        all("iommu", d.iommu.as_slice()),
    ]
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus (../shared) and xmllint (make test)")]
fn corpus_storage_devices() {
    let root = harness::data_root();
    let dir = root.join(CORPUS);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    files.sort();
    let mut problems = Vec::new();
    let mut elements: Vec<(String, String)> = Vec::new(); // (where, formatted element)
    let mut parsed = 0;
    for f in &files {
        let Ok(xml) = std::fs::read_to_string(f) else { continue };
        let name = f.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        // `*-invalid.xml` files are libvirt's negative tests (rejected by its post-parse checks), and
        // so are inputs with an `.err` and no `.args` (libvirt's PARSE_ERROR cases).
        let stem = name.trim_end_matches(".xml");
        let has = |ext: &str| {
            std::fs::read_dir(f.parent().unwrap_or(std::path::Path::new("."))).into_iter().flatten().flatten().any(
                |e| {
                    e.file_name().to_string_lossy().starts_with(&format!("{stem}."))
                        && e.file_name().to_string_lossy().ends_with(ext)
                },
            )
        };
        let negative = name.contains("invalid") || (has(".err") && !has(".args"));
        let (dom, warnings) = match parse_document::<Domain>(&xml, ParseOptions::default()) {
            Ok(r) => r,
            Err(e) => {
                if e.location().is_some_and(|l| is_mine(&l.path)) && !negative {
                    problems.push(format!("{name}: error: {e}"));
                }
                continue;
            }
        };
        parsed += 1;
        for w in warnings.iter().filter(|w| is_mine(&w.at.path)) {
            problems.push(format!("{name}: {w}"));
        }
        let Some(devices) = &dom.devices else { continue };
        match Domain::from_xml_str(&dom.to_xml_string()) {
            Ok(again) if again.devices == dom.devices => {}
            Ok(_) => problems.push(format!("{name}: devices differ after format + reparse")),
            Err(e) => problems.push(format!("{name}: formatted output does not parse: {e}")),
        }
        if !negative {
            let checks = devices
                .disks
                .iter()
                .map(|d| d.validate("disk"))
                .chain(devices.controllers.iter().map(|c| c.validate("controller")))
                .chain(devices.hostdevs.iter().map(|h| h.validate("hostdev")))
                .chain(devices.smartcards.iter().map(|c| c.validate("smartcard")));
            problems.extend(checks.filter_map(|r| r.err()).map(|e| format!("{name}: validate: {e}")));
        }
        // Element-level lossless check against the input's own elements.
        let Ok(doc) = roxmltree::Document::parse(&xml) else { continue };
        let Some(devs) = doc.root_element().children().find(|n| n.has_tag_name("devices")) else { continue };
        for (kind, outs) in formatted(devices) {
            let inputs: Vec<_> = devs.children().filter(|n| n.is_element() && n.has_tag_name(kind)).collect();
            if inputs.len() != outs.len() {
                problems.push(format!("{name}: {} <{kind}> in input, {} formatted", inputs.len(), outs.len()));
                continue;
            }
            for (i, (inp, out)) in inputs.iter().zip(&outs).enumerate() {
                let at = format!("{name}: {kind}[{}]", i + 1);
                match harness::compare_documents(&xml[inp.range()], out) {
                    Ok(issues) => problems.extend(issues.into_iter().map(|x| format!("{at}: {}", x.detail))),
                    Err(e) => problems.push(format!("{at}: cannot compare: {e}")),
                }
                if !negative {
                    elements.push((at, out.clone()));
                }
            }
        }
    }

    // Schema: each element against its own definition in libvirt's grammar.
    let schemas = root.join("schemas/domain.rng");
    let wrapper = std::env::temp_dir().join(format!("oxvirt-devices-storage-{}.rng", std::process::id()));
    let refs: String = MINE.iter().map(|(_, d)| format!("<ref name='{d}'/>")).collect();
    let grammar = format!(
        "<grammar xmlns='http://relaxng.org/ns/structure/1.0' \
         datatypeLibrary='http://www.w3.org/2001/XMLSchema-datatypes'>\
         <include href='{}'><start><choice>{refs}</choice></start></include></grammar>",
        schemas.display()
    );
    harness::write_atomic(&wrapper, &grammar).unwrap_or_else(|e| panic!("cannot write {}: {e}", wrapper.display()));
    let docs: Vec<(usize, &str)> = elements.iter().enumerate().map(|(i, (_, x))| (i, x.as_str())).collect();
    for (i, issues) in harness::validate_with_xmllint(&wrapper, &docs) {
        for x in issues {
            problems.push(format!("{}: {}\n{}", elements[i].0, x.detail, elements[i].1));
        }
    }
    let _ = std::fs::remove_file(&wrapper);

    for p in &problems {
        eprintln!("{p}");
    }
    eprintln!(
        "{parsed}/{} corpus files parsed, {} storage-side elements checked, {} problems",
        files.len(),
        elements.len(),
        problems.len()
    );
    assert!(problems.is_empty(), "{} problems", problems.len());
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus (../shared) and xmllint (make test)")]
fn corpus_present() {
    assert!(Path::new(&harness::data_root()).join(CORPUS).is_dir());
}
