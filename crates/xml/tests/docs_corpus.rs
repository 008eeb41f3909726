//! libvirt 9.0's test corpora for networks, pools, volumes, snapshots and capabilities: every file
//! libvirt accepts must parse without warnings, round-trip through our model, and (where a schema
//! applies) format to XML that xmllint validates against libvirt's RelaxNG schema.
//!
//! The corpus is read from `../shared` beside the checkout (or `$OXVIRT_LIBVIRT_DATA`), never copied
//! into the repo; without it the test fails.

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::process::Command;

use oxvirt_xml::capabilities::{Capabilities, DomainCapabilities};
use oxvirt_xml::network::Network;
use oxvirt_xml::snapshot::DomainSnapshot;
use oxvirt_xml::storage::{StoragePool, StorageVol};
use oxvirt_xml::{parse_document, ParseOptions, XmlDocument};

fn base() -> PathBuf {
    oxvirt_testsupport::libvirt_data()
}

struct Outcome {
    total: usize,
    passed: usize,
    /// Files whose only problems lie inside parts other models own (see `check_with`).
    blocked: Vec<String>,
    failures: Vec<String>,
}

/// Files of `dir` (following symlinks) ending in `.xml`, sorted.
fn corpus(dir: &str) -> Vec<PathBuf> {
    let d = base().join("tests").join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&d)
        .unwrap_or_else(|e| panic!("reading corpus {}: {e}", d.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    v.retain(|p| p.extension().is_some_and(|e| e == "xml"));
    v.sort();
    v
}

/// Reads a corpus file; some are git symlinks stored as a one-line relative path.
fn read_corpus_file(f: &Path) -> Option<String> {
    let mut path = f.to_path_buf();
    for _ in 0..4 {
        let text = std::fs::read_to_string(&path).ok()?;
        let t = text.trim();
        if t.starts_with('<') || t.contains('\n') {
            return Some(text);
        }
        path = path.parent()?.join(t);
    }
    None
}

/// Runs xmllint on many files at once; returns the names of files that did not validate.
fn xmllint_failures(schema: &str, files: &[PathBuf]) -> Vec<(String, String)> {
    if files.is_empty() {
        return Vec::new();
    }
    let out = Command::new("timeout")
        .arg("120")
        .arg("xmllint")
        .arg("--noout")
        .arg("--relaxng")
        .arg(base().join("schemas").join(schema))
        .args(files)
        .output();
    let Ok(out) = out else { return vec![("xmllint".into(), "could not run xmllint".into())] };
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut bad = Vec::new();
    for f in files {
        let name = f.display().to_string();
        if !stderr.lines().any(|l| l == format!("{name} validates")) {
            let why: Vec<&str> = stderr.lines().filter(|l| l.starts_with(&name) && !l.ends_with("validates")).collect();
            bad.push((name, why.join("\n")));
        }
    }
    bad
}

/// Parses, formats, re-parses each file; `skip` lists files libvirt itself rejects (they must fail).
fn check<T: XmlDocument + PartialEq + Debug>(dir: &str, schema: Option<&str>, must_fail: &[&str]) -> Outcome {
    check_with::<T>(dir, schema, must_fail, &[])
}

/// Like `check`, but warnings under `foreign` element paths (an embedded `<domain>`, modelled
/// elsewhere) mark the file as blocked rather than failed; the conformance harness counts them.
fn check_with<T: XmlDocument + PartialEq + Debug>(
    dir: &str,
    schema: Option<&str>,
    must_fail: &[&str],
    foreign: &[&str],
) -> Outcome {
    let files = corpus(dir);
    let tmp = std::env::temp_dir().join(format!("oxvirt-docs-corpus-{}-{dir}", std::process::id()));
    let _ = std::fs::create_dir_all(&tmp);
    let mut out = Outcome { total: 0, passed: 0, blocked: Vec::new(), failures: Vec::new() };
    let mut written = Vec::new();
    for f in &files {
        let name = f.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let Some(text) = read_corpus_file(f) else { continue };
        let expect_fail = must_fail.contains(&name.as_str());
        out.total += 1;
        let parsed = parse_document::<T>(&text, ParseOptions::default());
        if expect_fail {
            match parsed {
                Err(_) => out.passed += 1,
                Ok((_, w)) if !w.is_empty() => out.passed += 1,
                Ok(_) => out.failures.push(format!("{dir}/{name}: accepted, but libvirt rejects it")),
            }
            continue;
        }
        let (model, warnings) = match parsed {
            Ok(m) => m,
            Err(e) => {
                out.failures.push(format!("{dir}/{name}: {e}"));
                continue;
            }
        };
        if !warnings.is_empty() && warnings.iter().all(|w| foreign.iter().any(|f| w.at.path.starts_with(f))) {
            out.blocked.push(format!("{dir}/{name}: {} warnings inside {foreign:?}", warnings.len()));
            continue;
        }
        if !warnings.is_empty() {
            let w: Vec<String> = warnings.iter().map(|w| w.to_string()).collect();
            out.failures.push(format!("{dir}/{name}: warnings:\n    {}", w.join("\n    ")));
            continue;
        }
        let xml = model.to_xml_string();
        match parse_document::<T>(&xml, ParseOptions { validate: true }) {
            Ok((again, _)) if again == model => {}
            Ok(_) => {
                out.failures.push(format!("{dir}/{name}: model changed after format + parse:\n{xml}"));
                continue;
            }
            Err(e) => {
                out.failures.push(format!("{dir}/{name}: own output does not parse: {e}\n{xml}"));
                continue;
            }
        }
        let p = tmp.join(&name);
        if std::fs::write(&p, &xml).is_ok() {
            written.push(p);
        }
        out.passed += 1;
    }
    if let Some(schema) = schema {
        for (file, why) in xmllint_failures(schema, &written) {
            out.passed -= 1;
            out.failures.push(format!("{file}: output not valid per {schema}: {why}"));
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    println!("{dir}: {}/{} pass, {} blocked by foreign models", out.passed, out.total, out.blocked.len());
    for b in &out.blocked {
        println!("  BLOCKED {b}");
    }
    for f in &out.failures {
        println!("  FAIL {f}");
    }
    out
}

fn assert_all(outcomes: Vec<Outcome>) {
    for o in &outcomes {
        assert!(o.failures.is_empty(), "{} of {} failed", o.failures.len(), o.total);
    }
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus (../shared) and xmllint (make test)")]
fn networks() {
    assert_all(vec![
        check::<Network>(
            "networkxml2xmlin",
            Some("network.rng"),
            &[
                "hostdev-duplicate.xml",
                "passthrough-duplicate.xml",
                "routed-network-no-dns-extra-elements.xml",
                "open-network-with-forward-dev.xml",
            ],
        ),
        check::<Network>("networkxml2xmlout", Some("network.rng"), &[]),
    ]);
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus (../shared) and xmllint (make test)")]
fn storage_pools() {
    assert_all(vec![
        check::<StoragePool>("storagepoolxml2xmlin", Some("storagepool.rng"), &[]),
        check::<StoragePool>("storagepoolxml2xmlout", Some("storagepool.rng"), &[]),
    ]);
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus (../shared) and xmllint (make test)")]
fn storage_volumes() {
    assert_all(vec![
        check::<StorageVol>("storagevolxml2xmlin", Some("storagevol.rng"), &[]),
        check::<StorageVol>("storagevolxml2xmlout", Some("storagevol.rng"), &[]),
    ]);
}

/// The embedded domain definitions belong to the domain model, completed separately.
const SNAPSHOT_DOMAINS: &[&str] = &["/domainsnapshot/domain/", "/domainsnapshot/inactiveDomain/"];

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus (../shared) and xmllint (make test)")]
fn snapshots() {
    assert_all(vec![
        check_with::<DomainSnapshot>(
            "qemudomainsnapshotxml2xmlin",
            Some("domainsnapshot.rng"),
            &["disk-invalid.xml", "disk-network-seclabel-invalid.xml"],
            SNAPSHOT_DOMAINS,
        ),
        check_with::<DomainSnapshot>("qemudomainsnapshotxml2xmlout", Some("domainsnapshot.rng"), &[], SNAPSHOT_DOMAINS),
    ]);
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus (../shared) and xmllint (make test)")]
fn capabilities() {
    assert_all(vec![
        check::<Capabilities>("capabilityschemadata", Some("capability.rng"), &[]),
        check::<DomainCapabilities>("domaincapsdata", Some("domaincaps.rng"), &[]),
    ]);
}
