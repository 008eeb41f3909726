//! Conformance of the storage pool model over libvirt's storagepoolxml2xml inputs.
//! `cargo test -p oxvirt-xml --test conformance_pool -- --nocapture` prints what still fails.

#[path = "conformance/mod.rs"]
mod harness;

use oxvirt_xml::storage::StoragePool;

#[test]
fn pools() {
    let corpus = harness::Corpus::dir("pools", "storagepoolxml2xmlin", "storagepool.rng", 1.0, &[]);
    let report = harness::run_corpus::<StoragePool>(corpus);
    harness::report_and_check(&report);
}
