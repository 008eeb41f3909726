//! Parses libvirt's qemuxml2argv corpus and reports what the I/O device models (interface,
//! character devices, input, graphics, ...) did not understand. Run with `--nocapture` to see it.

use std::collections::BTreeMap;
use std::path::Path;

use oxvirt_xml::domain::Domain;
use oxvirt_xml::{parse_document, ParseOptions, XmlDocument};

const CORPUS: &str = "/work/shared/libvirt-9.0/tests/qemuxml2argvdata";

const ELEMENTS: &[&str] = &[
    "interface", "serial", "parallel", "console", "channel", "input", "tpm", "graphics", "sound", "audio",
    "video", "watchdog", "memballoon", "rng", "panic", "shmem", "vsock", "crypto",
];

fn mine(path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix("/domain/devices/")?;
    ELEMENTS.iter().copied().find(|e| {
        rest.strip_prefix(e).is_some_and(|r| r.is_empty() || r.starts_with('/') || r.starts_with('['))
    })
}

#[test]
fn corpus_io_devices() {
    let dir = Path::new(CORPUS);
    if !dir.is_dir() {
        eprintln!("corpus {CORPUS} missing, skipping");
        return;
    }
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("read corpus dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    files.sort();
    let (mut warnings, mut errors, mut changed, mut parsed) = (0, 0, 0, 0);
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else { continue };
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match parse_document::<Domain>(&text, ParseOptions::default()) {
            Ok((dom, warns)) => {
                parsed += 1;
                for w in warns.iter().filter(|w| mine(&w.at.path).is_some()) {
                    warnings += 1;
                    *by_kind.entry(w.message.clone()).or_default() += 1;
                    println!("WARN {name}: {w}");
                }
                // formatting then re-parsing must give the same model
                let out = dom.to_xml_string();
                match Domain::from_xml_str(&out) {
                    Ok(again) if again.devices == dom.devices => {}
                    Ok(_) => {
                        changed += 1;
                        println!("CHANGED {name}");
                    }
                    Err(e) => {
                        changed += 1;
                        println!("REPARSE {name}: {e}");
                    }
                }
            }
            Err(e) => {
                if e.location().is_some_and(|l| mine(&l.path).is_some()) {
                    // libvirt's deliberately broken inputs are named *-invalid*
                    if name.contains("invalid") {
                        println!("REJECTED {name}: {e}");
                    } else {
                        errors += 1;
                        println!("ERROR {name}: {e}");
                    }
                }
            }
        }
    }
    for (k, n) in &by_kind {
        println!("{n:5} {k}");
    }
    println!(
        "files {} parsed {parsed}: warnings {warnings}, errors {errors}, round-trip changes {changed}",
        files.len()
    );
    assert_eq!(errors, 0, "I/O device models rejected corpus files");
    assert_eq!(changed, 0, "I/O device models changed on round trip");
}
