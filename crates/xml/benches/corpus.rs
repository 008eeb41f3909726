//! Parse + format throughput over libvirt's own domain test corpus (`cargo bench -p oxvirt-xml`).
//! The comparison with libvirt doing the same through its API is in
//! `crates/driver-test/benches/define_dumpxml.rs`. Prints medians; not a test.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use oxvirt_xml::domain::Domain;
use oxvirt_xml::{parse_document, ParseOptions, XmlDocument};

fn corpus() -> Vec<(PathBuf, String)> {
    let dir = oxvirt_testsupport::libvirt_tests("qemuxml2argvdata");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            // keep what parses: the bench measures the work, not error paths
            parse_document::<Domain>(&text, ParseOptions::default()).ok()?;
            Some((p, text))
        })
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let files = corpus();
    let bytes: usize = files.iter().map(|(_, t)| t.len()).sum();
    let mut parse = Vec::new();
    let mut both = Vec::new();
    for _ in 0..15 {
        let t = Instant::now();
        let models: Vec<Domain> = files.iter().map(|(_, x)| Domain::from_xml_str(x).expect("parses")).collect();
        parse.push(t.elapsed());
        let t = Instant::now();
        let mut n = 0;
        for m in &models {
            n += m.to_xml_string().len();
        }
        both.push(t.elapsed());
        assert!(n > 0);
    }
    let (p, f) = (median(parse), median(both));
    println!("XML corpus: {} domain files, {:.1} MiB", files.len(), bytes as f64 / (1 << 20) as f64);
    println!(
        "  parse  median {:>8.2} ms  ({:.0} MiB/s, {:.1} µs/file)",
        p.as_secs_f64() * 1e3,
        bytes as f64 / (1 << 20) as f64 / p.as_secs_f64(),
        p.as_secs_f64() * 1e6 / files.len() as f64
    );
    println!(
        "  format median {:>8.2} ms  ({:.1} µs/file)",
        f.as_secs_f64() * 1e3,
        f.as_secs_f64() * 1e6 / files.len() as f64
    );
}
