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
