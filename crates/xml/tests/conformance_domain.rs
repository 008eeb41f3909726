//! Conformance of the domain model over libvirt's qemuxml2argv inputs (x86 guests libvirt accepts).
//! `cargo test -p oxvirt-xml --test conformance_domain -- --nocapture` prints what still fails.

#[path = "conformance/mod.rs"]
mod harness;

use oxvirt_xml::domain::Domain;

#[test]
fn domains() {
    let report = harness::run_corpus::<Domain>(harness::Corpus::domains(0.90));
    harness::report_and_check(&report);
}

/// Regenerates docs/xml-coverage.md from this run and the other corpora's latest reports
/// (run `cargo test -p oxvirt-xml --no-fail-fast --test 'conformance_*'` first).
#[test]
#[ignore = "writes docs/xml-coverage.md"]
fn write_coverage_doc() {
    let report = harness::run_corpus::<Domain>(harness::Corpus::domains(0.90));
    // Writes the domain section; the pass-rate verdict belongs to the `domains` test.
    let _ = std::panic::catch_unwind(|| harness::report_and_check(&report));
    let doc = harness::write_coverage_doc();
    println!("wrote {}", doc.display());
}
