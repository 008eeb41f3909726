//! Times opening a node file with 1000 domains (the CLI's `list --all` budget is 40 ms).
//! Run with `cargo bench -p oxvirt-driver-test --bench load`.

use std::fmt::Write;
use std::time::{Duration, Instant};

use oxvirt_api::Connect;

fn node_file(domains: usize) -> String {
    let mut x = String::from("<node>\n  <cpu><mhz>2000</mhz><model>bench</model></cpu>\n  <memory>16777216</memory>\n");
    for i in 0..domains {
        let _ = write!(
            x,
            "  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>\n    \
             <name>vm{i:04}</name>\n    <uuid>00000000-0000-4000-8000-{i:012}</uuid>\n    \
             <memory unit='MiB'>512</memory>\n    <vcpu>2</vcpu>\n    <os><type arch='x86_64'>hvm</type></os>\n    \
             <devices>\n      <disk type='file' device='disk'><source file='/var/lib/images/vm{i}.qcow2'/>\
             <target dev='vda' bus='virtio'/></disk>\n      <interface type='network'><source network='default'/>\
             </interface>\n    </devices>\n{}  </domain>\n",
            if i % 2 == 0 { "    <test:runstate>5</test:runstate>\n" } else { "" }
        );
    }
    x.push_str("  <network><name>default</name><bridge name='virbr0'/><forward/></network>\n</node>\n");
    x
}

fn main() {
    oxvirt_driver_test::register();
    let dir = std::env::temp_dir().join(format!("oxvirt-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("node-1000.xml");
    std::fs::write(&path, node_file(1000)).expect("write node file");
    let uri = format!("test://{}", path.display());

    let mut times = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let c = Connect::open(Some(&uri)).expect("open");
        let all = c.list_all_domains(oxvirt_api::ConnectListAllDomainsFlags::empty()).expect("list");
        let names: usize = all.iter().map(|d| d.name().len()).sum();
        let states = all.iter().filter(|d| d.state().map(|s| s.0.is_active()).unwrap_or(false)).count();
        times.push(t.elapsed());
        assert_eq!(all.len(), 1000);
        assert_eq!(states, 500);
        std::hint::black_box(names);
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "open + list --all (with states) of 1000 domains: min {:.2} ms, median {:.2} ms, max {:.2} ms",
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    );
    let _ = std::fs::remove_dir_all(&dir);
}
