//! Domain XML through the API: define + dumpxml + undefine of every x86_64 domain of libvirt's
//! qemuxml2argv corpus on the test driver — oxvirt in-process, and libvirt 9.0 via python3-libvirt
//! (`/usr/bin/python3`) in the same run. `cargo bench -p oxvirt-driver-test --bench define_dumpxml`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use oxvirt_api::Connect;

fn corpus() -> Vec<PathBuf> {
    let dir = oxvirt_testsupport::libvirt_tests("qemuxml2argvdata");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    files.sort();
    files
}

fn main() {
    oxvirt_driver_test::register();
    let files = corpus();
    let xmls: Vec<String> = files.iter().filter_map(|p| std::fs::read_to_string(p).ok()).collect();
    // Both sides run over the same files: those libvirt's test driver accepts too (computed by the
    // python side and passed back), or all of ours when libvirt is not installed.
    let list = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(list.path(), files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join("\n")).unwrap();
    let script = r#"
import sys, time, libvirt
libvirt.registerErrorHandler(lambda *a: None, None)
files = [l.strip() for l in open(sys.argv[1]) if l.strip()]
c = libvirt.open('test:///default')
ok = []
for i, f in enumerate(files):
    try:
        d = c.defineXML(open(f).read()); d.XMLDesc(0); d.undefine(); ok.append(i)
    except libvirt.libvirtError:
        pass
xmls = [open(files[i]).read() for i in ok]
runs = []
for _ in range(5):
    t = time.perf_counter()
    for x in xmls:
        d = c.defineXML(x); d.XMLDesc(0); d.undefine()
    runs.append(time.perf_counter() - t)
runs.sort()
print(f"{runs[len(runs)//2]*1000:.3f}")
print(" ".join(map(str, ok)))
"#;
    let libvirt = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .arg(list.path())
        .output()
        .ok()
        .filter(|o| o.status.success());
    let (libvirt_ms, subset): (Option<f64>, Vec<usize>) = match &libvirt {
        Some(o) => {
            let s = String::from_utf8_lossy(&o.stdout);
            let mut lines = s.lines();
            let ms = lines.next().and_then(|l| l.trim().parse().ok());
            let idx = lines.next().unwrap_or("").split_whitespace().filter_map(|x| x.parse().ok()).collect();
            (ms, idx)
        }
        None => (None, (0..xmls.len()).collect()),
    };
    let conn = Connect::open(Some("test:///default")).expect("test driver");
    let mine: Vec<&String> = subset
        .iter()
        .filter_map(|&i| xmls.get(i))
        .filter(|x| {
            conn.define_domain(x, 0)
                .map(|(d, _)| {
                    let _ = d.undefine(oxvirt_api::DomainUndefineFlags::empty());
                })
                .is_ok()
        })
        .collect();
    let mut runs: Vec<Duration> = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        for x in &mine {
            let (d, _) = conn.define_domain(x, 0).expect("defines");
            std::hint::black_box(d.xml_desc(oxvirt_api::DomainXmlFlags::empty()).expect("dumpxml"));
            d.undefine(oxvirt_api::DomainUndefineFlags::empty()).expect("undefine");
        }
        runs.push(t.elapsed());
    }
    runs.sort();
    let ours = runs[runs.len() / 2].as_secs_f64() * 1e3;
    println!("define+dumpxml+undefine over libvirt's qemuxml2argv domains (test driver, median of 5 runs)");
    println!(
        "  oxvirt      {:>4} files  {ours:>9.2} ms  ({:.1} µs/file)",
        mine.len(),
        ours * 1e3 / mine.len().max(1) as f64
    );
    match libvirt_ms {
        Some(ms) => println!(
            "  libvirt 9.0 {:>4} files  {ms:>9.2} ms  ({:.1} µs/file)  -> oxvirt is {:.1}x faster",
            subset.len(),
            ms * 1e3 / subset.len().max(1) as f64,
            (ms / subset.len().max(1) as f64) / (ours / mine.len().max(1) as f64)
        ),
        None => println!("  libvirt: /usr/bin/python3 with python3-libvirt not available, no comparison"),
    }
}
