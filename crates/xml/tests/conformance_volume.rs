//! Conformance of the storage volume model over libvirt's storagevolxml2xml inputs.
//! `cargo test -p oxvirt-xml --test conformance_volume -- --nocapture` prints what still fails.

#[path = "conformance/mod.rs"]
mod harness;

use oxvirt_xml::storage::StorageVol;

#[test]
fn volumes() {
    let corpus = harness::Corpus::dir("volumes", "storagevolxml2xmlin", "storagevol.rng", 1.0, &[]);
    let report = harness::run_corpus::<StorageVol>(corpus);
    harness::report_and_check(&report);
}
