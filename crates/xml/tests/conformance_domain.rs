//! Conformance of the domain model over libvirt's qemuxml2argv inputs (x86 guests libvirt accepts).
//! `cargo test -p oxvirt-xml --test conformance_domain -- --nocapture` prints what still fails.

#[path = "conformance/mod.rs"]
mod harness;

use oxvirt_xml::domain::Domain;

/// libvirt's schema test (virschematest) expects every `*-invalid.xml` input to fail RelaxNG
/// validation, so a lossless output of these cannot validate either.
const SCHEMA_INVALID: &str = "named *-invalid: libvirt's virschematest expects the input to fail the schema";
const EXCLUDED: &[(&str, &str)] = &[
    ("disk-cdrom-empty-network-invalid", SCHEMA_INVALID),
    ("numatune-auto-nodeset-invalid", SCHEMA_INVALID),
    ("pci-rom-disabled-invalid", SCHEMA_INVALID),
];

#[test]
fn domains() {
    let report = harness::run_corpus::<Domain>(harness::Corpus::domains(0.90, EXCLUDED));
    harness::report_and_check(&report);
}

/// Regenerates docs/xml-coverage.md from this run and the other corpora's latest reports
/// (run `cargo test -p oxvirt-xml --no-fail-fast --test 'conformance_*'` first).
#[test]
#[ignore = "writes docs/xml-coverage.md"]
fn write_coverage_doc() {
    let report = harness::run_corpus::<Domain>(harness::Corpus::domains(0.90, EXCLUDED));
    // Writes the domain section; the pass-rate verdict belongs to the `domains` test.
    let _ = std::panic::catch_unwind(|| harness::report_and_check(&report));
    let doc = harness::write_coverage_doc();
    println!("wrote {}", doc.display());
}

/// Calibrates the lossless check on libvirt itself: compares each input with libvirt's own
/// formatted output (`qemuxml2xmloutdata`) and prints what the comparator would call a loss.
#[test]
#[ignore = "diagnostic: measures the comparator against libvirt's own output"]
fn calibrate_comparator_on_libvirt_output() {
    let corpus = harness::Corpus::domains(0.90, EXCLUDED);
    let out_dir = harness::data_root().join("tests/qemuxml2xmloutdata");
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    let (mut compared, mut clean) = (0, 0);
    for (name, path) in &corpus.files {
        let cands = [format!("{name}.x86_64-latest.xml"), format!("{name}.xml")];
        let Some(out) = cands.iter().map(|c| out_dir.join(c)).find(|p| p.is_file()) else { continue };
        let (Ok(i), Ok(o)) = (harness::read_corpus_file(path), harness::read_corpus_file(&out)) else { continue };
        compared += 1;
        let issues = harness::compare_documents(&i, &o).unwrap_or_default();
        if issues.is_empty() {
            clean += 1;
        }
        for k in issues.iter().map(|i| i.detail.clone()).collect::<std::collections::BTreeSet<_>>() {
            *counts.entry(k).or_default() += 1;
        }
    }
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort_by_key(|e| std::cmp::Reverse(e.1));
    println!("{clean}/{compared} libvirt outputs cover their input");
    for (k, c) in v.iter().take(80) {
        println!("{c:5}  {k}");
    }
}
