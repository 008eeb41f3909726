//! Conformance of the network model over libvirt's networkxml2xml inputs.
//! `cargo test -p oxvirt-xml --test conformance_network -- --nocapture` prints what still fails.

#[path = "conformance/mod.rs"]
mod harness;

use oxvirt_xml::network::Network;

/// Inputs libvirt's own networkxml2xmltest expects to be rejected (DO_TEST_PARSE_ERROR): they
/// are negative cases, so a lossless round trip says nothing about them.
const EXCLUDED: &[(&str, &str)] = &[
    ("routed-network-no-dns-extra-elements", "libvirt rejects it (networkxml2xmltest: parse error expected)"),
    ("open-network-with-forward-dev", "libvirt rejects it (networkxml2xmltest: parse error expected)"),
    ("hostdev-duplicate", "libvirt rejects it (networkxml2xmltest: parse error expected)"),
    ("passthrough-duplicate", "libvirt rejects it (networkxml2xmltest: parse error expected)"),
];

#[test]
fn networks() {
    let corpus = harness::Corpus::dir("networks", "networkxml2xmlin", "network.rng", 1.0, EXCLUDED);
    let report = harness::run_corpus::<Network>(corpus);
    harness::report_and_check(&report);
}
