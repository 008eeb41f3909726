//! Conformance of oxvirt's XML models over libvirt 9.0's own test corpora: every input must
//! parse without warnings, format without losing anything, re-parse to an equal model, and give
//! output that validates against libvirt's RelaxNG schema (see `conformance/mod.rs`).
//!
//! `cargo test -p oxvirt-xml --features e2e --test conformance -- --nocapture` prints what each corpus still
//! loses; add a test name (`domains`, `networks`, `pools`, `volumes`, `snapshots`, `capabilities`,
//! `domaincaps`) to run one corpus, and
//! `OXVIRT_CONFORMANCE_FILTER=<substring>` to run only some files with every issue printed.

#[path = "conformance/mod.rs"]
mod harness;
#[path = "shared/negatives.rs"]
mod negatives;

use harness::{run_corpus, Corpus, Report};
use oxvirt_xml::capabilities::{Capabilities, DomainCapabilities};
use oxvirt_xml::domain::Domain;
use oxvirt_xml::network::Network;
use oxvirt_xml::snapshot::DomainSnapshot;
use oxvirt_xml::storage::{StoragePool, StorageVol};

/// libvirt's schema test (virschematest) expects every `*-invalid.xml` input to fail RelaxNG
/// validation, so a lossless output of such an input cannot validate either.
const SCHEMA_INVALID: &str = "named *-invalid: libvirt's virschematest expects the input to fail the schema";
/// libvirt's networkxml2xmltest expects these inputs to be rejected (DO_TEST_PARSE_ERROR).
const NETWORK_PARSE_ERROR: &str = "libvirt rejects it (networkxml2xmltest: parse error expected)";

/// libvirt's QEMU driver rejects a `<topology>` whose vCPU count differs from `<vcpu>` on every
/// QEMU that has query-hotpluggable-cpus (2.7+, so QEMU 7.2 here); its argv test accepts these
/// two only because their fake capabilities lack that command. oxvirt applies the rule at parse.
const TOPOLOGY_MISMATCH: &str =
    "libvirt+QEMU>=2.7 rejects it (topology vCPUs != <vcpu>); argv test lacks that capability";

const DOMAIN_EXCLUDED: &[(&str, &str)] = &[
    ("fd-memory-numa-topology2", TOPOLOGY_MISMATCH),
    ("fd-memory-numa-topology3", TOPOLOGY_MISMATCH),
    ("disk-cdrom-empty-network-invalid", SCHEMA_INVALID),
    ("numatune-auto-nodeset-invalid", SCHEMA_INVALID),
    ("pci-rom-disabled-invalid", SCHEMA_INVALID),
];
const NETWORK_EXCLUDED: &[(&str, &str)] = &[
    ("routed-network-no-dns-extra-elements", NETWORK_PARSE_ERROR),
    ("open-network-with-forward-dev", NETWORK_PARSE_ERROR),
    ("hostdev-duplicate", NETWORK_PARSE_ERROR),
    ("passthrough-duplicate", NETWORK_PARSE_ERROR),
];
/// Neither is used by libvirt's qemudomainsnapshotxml2xmltest.
const SNAPSHOT_EXCLUDED: &[(&str, &str)] =
    &[("disk-invalid", SCHEMA_INVALID), ("disk-network-seclabel-invalid", SCHEMA_INVALID)];

fn domains_report() -> Report {
    run_corpus::<Domain>(Corpus::domains(1.0, DOMAIN_EXCLUDED))
}
fn networks_report() -> Report {
    run_corpus::<Network>(Corpus::dir("networks", "networkxml2xmlin", "network.rng", 1.0, NETWORK_EXCLUDED))
}
fn pools_report() -> Report {
    run_corpus::<StoragePool>(Corpus::dir("pools", "storagepoolxml2xmlin", "storagepool.rng", 1.0, &[]))
}
fn volumes_report() -> Report {
    run_corpus::<StorageVol>(Corpus::dir("volumes", "storagevolxml2xmlin", "storagevol.rng", 1.0, &[]))
}
fn snapshots_report() -> Report {
    let c = Corpus::dir("snapshots", "qemudomainsnapshotxml2xmlin", "domainsnapshot.rng", 1.0, SNAPSHOT_EXCLUDED);
    run_corpus::<DomainSnapshot>(c)
}
fn capabilities_report() -> Report {
    run_corpus::<Capabilities>(Corpus::dir("capabilities", "capabilityschemadata", "capability.rng", 1.0, &[]))
}
fn domaincaps_report() -> Report {
    run_corpus::<DomainCapabilities>(Corpus::dir("domaincaps", "domaincapsdata", "domaincaps.rng", 1.0, &[]))
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus (../shared) and xmllint (make test)")]
fn domains() {
    harness::report_and_check(&domains_report());
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus (../shared) and xmllint (make test)")]
fn networks() {
    harness::report_and_check(&networks_report());
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus (../shared) and xmllint (make test)")]
fn pools() {
    harness::report_and_check(&pools_report());
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus (../shared) and xmllint (make test)")]
fn volumes() {
    harness::report_and_check(&volumes_report());
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus (../shared) and xmllint (make test)")]
fn snapshots() {
    harness::report_and_check(&snapshots_report());
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus (../shared) and xmllint (make test)")]
fn capabilities() {
    harness::report_and_check(&capabilities_report());
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus (../shared) and xmllint (make test)")]
fn domaincaps() {
    harness::report_and_check(&domaincaps_report());
}

fn rejections() -> Vec<harness::Rejections> {
    let network_negatives: Vec<&str> = NETWORK_EXCLUDED.iter().map(|(n, _)| *n).collect();
    vec![
        harness::check_rejections::<Domain>(
            "rejected-generic",
            &harness::negatives_in(
                "genericxml2xmlindata",
                negatives::GENERIC_NEGATIVES,
                "genericxml2xmltest expects a parse failure",
            ),
        ),
        harness::check_rejections::<Network>(
            "rejected-networks",
            &harness::negatives_in("networkxml2xmlin", &network_negatives, NETWORK_PARSE_ERROR),
        ),
        harness::check_rejections::<Domain>("rejected-domains", &harness::domain_negatives()),
    ]
}

/// How many of each corpus' libvirt-rejected inputs oxvirt's parser must refuse too. The rest
/// are refused by libvirt from the QEMU binary's capabilities or the host (mocked NUMA nodes,
/// hugetlbfs mounts), from its PCI address assignment, or are quirks (see docs/xml-coverage.md).
/// Raise a floor when a rule lands; it never goes down.
const REJECTION_FLOORS: &[(&str, usize)] =
    &[("rejected-generic", 20), ("rejected-networks", 4), ("rejected-domains", 126)];

/// Gate: oxvirt refuses at least the floor of what libvirt refuses, per corpus.
#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs libvirt's test corpus (../shared) and xmllint (make test)")]
fn rejected_inputs_floor() {
    for r in rejections() {
        let refused = r.total - r.accepted.len();
        let floor = REJECTION_FLOORS.iter().find(|(c, _)| *c == r.corpus).map_or(r.total, |(_, f)| *f);
        println!("{} (floor {floor})", r.summary());
        assert!(
            refused >= floor,
            "{}: below the floor of {floor}; `--ignored rejected_inputs` lists them\n{}",
            r.summary(),
            r.text()
        );
    }
}

/// Lists inputs libvirt rejects that oxvirt's parser accepts, and for those both refuse, the two
/// reasons side by side (also in `target/conformance/rejected-*.txt`).
#[test]
#[ignore = "diagnostic: lists each input with libvirt's and oxvirt's reason"]
fn rejected_inputs() {
    for r in rejections() {
        println!("{}", r.text());
    }
}

/// Regenerates docs/xml-coverage.md from a fresh run of every corpus.
#[test]
#[ignore = "writes docs/xml-coverage.md"]
fn write_coverage_doc() {
    let reports = [
        domains_report(),
        networks_report(),
        pools_report(),
        volumes_report(),
        snapshots_report(),
        capabilities_report(),
        domaincaps_report(),
    ];
    let doc = harness::write_coverage_doc(&reports, &rejections());
    for r in &reports {
        println!("{}", r.summary());
    }
    println!("wrote {}", doc.display());
}

/// Calibrates the lossless check on libvirt itself: compares each domain input with libvirt's
/// own formatted output (`qemuxml2xmloutdata`) and prints what the comparator calls a loss
/// there (libvirt's own canonicalisations, which a model may or may not copy).
#[test]
#[ignore = "diagnostic: measures the comparator against libvirt's own output"]
fn calibrate_comparator_on_libvirt_output() {
    let corpus = Corpus::domains(1.0, DOMAIN_EXCLUDED);
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
