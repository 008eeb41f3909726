//! Parses libvirt's qemuxml2argv corpus and reports what the I/O device models (interface,
//! character devices, input, graphics, ...) did not understand. Run with `--nocapture` to see it.

use std::collections::BTreeMap;
use std::path::Path;

use oxvirt_xml::domain::Domain;
use oxvirt_xml::{parse_document, ParseOptions, XmlDocument};

#[path = "shared/negatives.rs"]
mod negatives;

fn tests_dir() -> std::path::PathBuf {
    oxvirt_testsupport::libvirt_data().join("tests")
}
const CORPORA: &[&str] = &[
    "qemuxml2argvdata",
    "qemuxml2xmloutdata",
    "genericxml2xmlindata",
    "genericxml2xmloutdata",
    "domainschemadata",
    "lxcxml2xmldata",
];

const ELEMENTS: &[&str] = &[
    "interface",
    "serial",
    "parallel",
    "console",
    "channel",
    "input",
    "tpm",
    "graphics",
    "sound",
    "audio",
    "video",
    "watchdog",
    "memballoon",
    "rng",
    "panic",
    "shmem",
    "vsock",
    "crypto",
];

fn mine(path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix("/domain/devices/")?;
    ELEMENTS
        .iter()
        .copied()
        .find(|e| rest.strip_prefix(e).is_some_and(|r| r.is_empty() || r.starts_with('/') || r.starts_with('[')))
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus, ../shared (make test)")]
fn corpus_io_devices() {
    let tests = tests_dir();
    let files = corpus_files();
    let (mut warnings, mut errors, mut changed, mut parsed) = (0, 0, 0, 0);
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else { continue };
        if !text.trim_start().starts_with("<domain") {
            continue;
        }
        let name = f.strip_prefix(&tests).unwrap_or(f).to_string_lossy().into_owned();
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
                    // libvirt's deliberately broken inputs: named *-invalid*, or with an
                    // expected error (`.err`) and no command line (`.args`) in the corpus
                    if name.contains("invalid") || libvirt_rejects(f) {
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

/// Whether libvirt's tests expect `path` to fail: one of genericxml2xmltest's failure cases, or
/// an `<stem>*.err` file beside it and no `<stem>*.args` (the argv test).
fn libvirt_rejects(path: &Path) -> bool {
    let (Some(dir), Some(stem)) = (path.parent(), path.file_stem().and_then(|s| s.to_str())) else { return false };
    if dir.ends_with("genericxml2xmlindata") && negatives::GENERIC_NEGATIVES.contains(&stem) {
        return true;
    }
    let Ok(rd) = std::fs::read_dir(dir) else { return false };
    let names: Vec<String> = rd.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
    let mine = |ext: &str| {
        names.iter().any(|n| {
            n.strip_suffix(ext).is_some_and(|b| b == stem || b.strip_prefix(stem).is_some_and(|r| r.starts_with('.')))
        })
    };
    mine(".err") && !mine(".args")
}

fn corpus_files() -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for c in CORPORA {
        let Ok(rd) = std::fs::read_dir(tests_dir().join(c)) else { continue };
        files.extend(rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "xml")));
    }
    files.sort();
    files
}

/// Each line trimmed, so indentation depth does not matter.
fn normalize(s: &str) -> String {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n")
}

fn format_one<T: oxvirt_xml::ToXml>(name: &str, v: &T) -> String {
    let mut w = oxvirt_xml::Writer::new();
    w.element(name, v);
    w.finish()
}

/// libvirt's own output files: our formatting of each I/O device must match libvirt's text.
#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus, ../shared (make test)")]
fn xml2xmlout_io_devices_format_like_libvirt() {
    let dir = tests_dir().join("qemuxml2xmloutdata");
    let rd = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()));
    let mut files: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    let (mut compared, mut differ) = (0, 0);
    for f in files.iter().filter(|p| p.extension().is_some_and(|x| x == "xml")) {
        let Ok(text) = std::fs::read_to_string(f) else { continue };
        let Ok(doc) = roxmltree::Document::parse(&text) else { continue };
        let Ok((dom, _)) = parse_document::<Domain>(&text, ParseOptions::default()) else { continue };
        let Some(devs) = dom.devices.as_ref() else { continue };
        let Some(devnode) = doc.root_element().children().find(|n| n.has_tag_name("devices")) else { continue };
        let ours: Vec<(&str, String)> = devs
            .interfaces
            .iter()
            .map(|d| ("interface", format_one("interface", d)))
            .chain(devs.serials.iter().map(|d| ("serial", format_one("serial", d))))
            .chain(devs.parallels.iter().map(|d| ("parallel", format_one("parallel", d))))
            .chain(devs.consoles.iter().map(|d| ("console", format_one("console", d))))
            .chain(devs.channels.iter().map(|d| ("channel", format_one("channel", d))))
            .chain(devs.inputs.iter().map(|d| ("input", format_one("input", d))))
            .chain(devs.tpms.iter().map(|d| ("tpm", format_one("tpm", d))))
            .chain(devs.graphics.iter().map(|d| ("graphics", format_one("graphics", d))))
            .chain(devs.sounds.iter().map(|d| ("sound", format_one("sound", d))))
            .chain(devs.audios.iter().map(|d| ("audio", format_one("audio", d))))
            .chain(devs.videos.iter().map(|d| ("video", format_one("video", d))))
            .chain(devs.watchdogs.iter().map(|d| ("watchdog", format_one("watchdog", d))))
            .chain(devs.memballoon.iter().map(|d| ("memballoon", format_one("memballoon", d))))
            .chain(devs.rngs.iter().map(|d| ("rng", format_one("rng", d))))
            .chain(devs.panics.iter().map(|d| ("panic", format_one("panic", d))))
            .chain(devs.shmems.iter().map(|d| ("shmem", format_one("shmem", d))))
            .chain(devs.vsock.iter().map(|d| ("vsock", format_one("vsock", d))))
            .chain(devs.cryptos.iter().map(|d| ("crypto", format_one("crypto", d))))
            .collect();
        let mut nth: BTreeMap<&str, usize> = BTreeMap::new();
        for (kind, out) in ours {
            let i = nth.entry(kind).or_default();
            let Some(node) = devnode.children().filter(|n| n.has_tag_name(kind)).nth(*i) else { continue };
            *i += 1;
            compared += 1;
            let expected = normalize(&text[node.range()]);
            let got = normalize(&out);
            if expected != got {
                differ += 1;
                let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                println!("DIFF {name} <{kind}>\n--- libvirt\n{expected}\n--- ours\n{got}\n");
            }
        }
    }
    println!("compared {compared} devices, {differ} formatted differently from libvirt");
    assert_eq!(differ, 0, "I/O devices formatted differently from libvirt");
}
