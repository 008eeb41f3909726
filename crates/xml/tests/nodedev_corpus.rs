//! libvirt 9.0's node device corpus (`nodedevschemadata`, `nodedevxml2xmlout`): every valid file
//! parses without warnings, formats to exactly libvirt's expected output where libvirt has one,
//! re-parses to the same model, and the output validates against `nodedev.rng`. Files named
//! `*-invalid.xml` must be rejected.
//!
//! The corpus is read from `../shared` beside the checkout (or `$OXVIRT_LIBVIRT_DATA`); without it
//! the test fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use oxvirt_xml::nodedev::{Capability, NodeDevice};
use oxvirt_xml::{parse_document, ParseOptions, XmlDocument};

fn base() -> PathBuf {
    oxvirt_testsupport::libvirt_data()
}

fn corpus(dir: &str) -> Vec<PathBuf> {
    let d = base().join("tests").join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&d)
        .unwrap_or_else(|e| panic!("reading corpus {}: {e}", d.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    v.sort();
    v
}

/// Reads a corpus file; some are git symlinks stored as a one-line relative path.
fn read_corpus_file(f: &Path) -> String {
    let mut path = f.to_path_buf();
    for _ in 0..4 {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let t = text.trim();
        if t.starts_with('<') || t.contains('\n') {
            return text;
        }
        path = path.parent().expect("corpus file has a parent").join(t);
    }
    panic!("{}: symlink chain too long", f.display())
}

fn name_of(f: &Path) -> String {
    f.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default()
}

fn xmllint(files: &[PathBuf]) -> Vec<String> {
    let out = Command::new("timeout")
        .arg("120")
        .arg("xmllint")
        .arg("--noout")
        .arg("--relaxng")
        .arg(base().join("schemas/nodedev.rng"))
        .args(files)
        .output()
        .expect("xmllint runs (apt-get install libxml2-utils)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    files
        .iter()
        .filter_map(|f| {
            let n = f.display().to_string();
            (!stderr.lines().any(|l| l == format!("{n} validates"))).then(|| {
                let why: Vec<&str> = stderr.lines().filter(|l| l.starts_with(&n)).collect();
                format!("{n}: {}", why.join("; "))
            })
        })
        .collect()
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus (../shared) and xmllint (make test)")]
fn nodedev_corpus_round_trips_and_validates() {
    let tmp = std::env::temp_dir().join(format!("oxvirt-nodedev-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let mut failures = Vec::new();
    let mut written = Vec::new();
    let mut checked = 0;
    for dir in ["nodedevschemadata", "nodedevxml2xmlout"] {
        for f in corpus(dir) {
            let name = name_of(&f);
            let text = read_corpus_file(&f);
            let parsed = parse_document::<NodeDevice>(&text, ParseOptions::default());
            if name.ends_with("-invalid.xml") {
                match parsed {
                    Err(_) => {}
                    Ok((_, w)) if !w.is_empty() => {}
                    Ok(_) => failures.push(format!("{dir}/{name}: accepted, but libvirt rejects it")),
                }
                continue;
            }
            checked += 1;
            let (model, warnings) = match parsed {
                Ok(m) => m,
                Err(e) => {
                    failures.push(format!("{dir}/{name}: {e}"));
                    continue;
                }
            };
            if !warnings.is_empty() {
                let w: Vec<String> = warnings.iter().map(|w| w.to_string()).collect();
                failures.push(format!("{dir}/{name}: warnings: {}", w.join("; ")));
            }
            let out = model.to_xml_string();
            match parse_document::<NodeDevice>(&out, ParseOptions { validate: true }) {
                Ok((again, _)) if again == model => {}
                Ok(_) => failures.push(format!("{dir}/{name}: re-parsed model differs\n{out}")),
                Err(e) => failures.push(format!("{dir}/{name}: output does not re-parse: {e}\n{out}")),
            }
            // libvirt's own expected output for this input
            if dir == "nodedevschemadata" {
                let expected = base().join("tests/nodedevxml2xmlout").join(&name);
                // libvirt reads vHBA counts from sysfs, not XML, so its expected output has zeros; we keep them.
                if expected.exists() && name != "hba_vport_ops.xml" {
                    let want = read_corpus_file(&expected);
                    // an expected file may spell an empty element as `<x>\n</x>`: compare canonically then
                    let canonical = NodeDevice::from_xml_str(&want).map(|m| m.to_xml_string()).unwrap_or_default();
                    if want.trim() != out.trim() && canonical.trim() != out.trim() {
                        failures.push(format!(
                            "{dir}/{name}: output differs from libvirt's\n--- want\n{want}\n--- got\n{out}"
                        ));
                    }
                }
            }
            let p = tmp.join(format!("{dir}-{name}"));
            std::fs::write(&p, &out).expect("write temp file");
            written.push(p);
        }
    }
    failures.extend(xmllint(&written));
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(checked >= 90, "only {checked} corpus files found");
    assert!(failures.is_empty(), "{} of {checked} files failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus (../shared) and xmllint (make test)")]
fn invalid_values_are_located() {
    let bad = "<device><name>x</name><capability type='pci'><domain>0</domain><bus>0</bus><slot>0</slot>\
               <function>0</function><product id='0x1'/><vendor id='0x2'/>\
               <pci-express><link validity='now' width='1'/></pci-express></capability></device>";
    let e = NodeDevice::from_xml_str(bad).expect_err("bad validity");
    let msg = e.to_string();
    assert!(msg.contains("validity") && msg.contains("cap, sta"), "{msg}");

    let e =
        NodeDevice::from_xml_str("<device><name>x</name><capability type='bogus'/></device>").expect_err("bad type");
    assert!(e.to_string().contains("expected one of: system, pci"), "{e}");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus (../shared) and xmllint (make test)")]
fn nested_caps_are_put_in_libvirt_order_and_filtered() {
    let xml = "<device><name>pci_0000_02_00_0</name><capability type='pci'><domain>0</domain><bus>2</bus>\
               <slot>0</slot><function>0</function><product id='0x10c9'/><vendor id='0x8086'/>\
               <capability type='mdev_types'><type id='t'><deviceAPI>vfio-pci</deviceAPI>\
               <availableInstances>2</availableInstances></type></capability>\
               <capability type='virt_functions' maxCount='7'/></capability></device>";
    let d = NodeDevice::from_xml_str(xml).expect("parses");
    let out = d.to_xml_string();
    let vf = out.find("virt_functions").expect("vf");
    let md = out.find("mdev_types").expect("mdev");
    assert!(vf < md, "{out}");
    assert!(d.has_cap("pci") && d.has_cap("mdev_types") && !d.has_cap("net"));
    assert!(matches!(d.capabilities[0], Capability::Pci(_)));
}
