//! Conformance of the domain snapshot model over libvirt's qemudomainsnapshotxml2xml inputs.
//! `cargo test -p oxvirt-xml --test conformance_snapshot -- --nocapture` prints what still fails.

#[path = "conformance/mod.rs"]
mod harness;

use oxvirt_xml::snapshot::DomainSnapshot;

/// Not used by libvirt's qemudomainsnapshotxml2xmltest; libvirt's schema test (virschematest)
/// expects every `*-invalid.xml` to fail RelaxNG validation, so a lossless output cannot pass it.
const SCHEMA_INVALID: &str = "named *-invalid: libvirt's virschematest expects the input to fail the schema";
const EXCLUDED: &[(&str, &str)] = &[("disk-invalid", SCHEMA_INVALID), ("disk-network-seclabel-invalid", SCHEMA_INVALID)];

#[test]
fn snapshots() {
    let corpus =
        harness::Corpus::dir("snapshots", "qemudomainsnapshotxml2xmlin", "domainsnapshot.rng", 1.0, EXCLUDED);
    let report = harness::run_corpus::<DomainSnapshot>(corpus);
    harness::report_and_check(&report);
}
