//! The detailed host description behind the capabilities document: identity, CPU, page sizes,
//! NUMA cells with their CPUs, shared caches, suspend and IOMMU support.
//!
//! Everything is read below a root directory so tests can use fixture trees; missing files
//! degrade to "unknown" rather than failing, since containers and VMs hide parts of /sys.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct HostDetails {
    /// CPU architecture as the kernel names it (`x86_64`).
    pub arch: String,
    /// DMI product UUID, else the machine id, in UUID form.
    pub uuid: Option<String>,
    pub cpu: CpuInfo,
    /// Per NUMA cell, as libvirt reports it.
    pub topology: Topology,
    /// Page sizes the host offers, KiB, smallest first.
    pub page_sizes_kib: Vec<u64>,
    /// Ordered by id; never empty (a kernel without NUMA yields one cell holding everything).
    pub cells: Vec<NumaCell>,
    /// Level 3 and up (what resource control can partition), deduplicated.
    pub caches: Vec<CacheBank>,
    pub suspend_mem: bool,
    pub suspend_disk: bool,
    /// The kernel put devices into IOMMU groups.
    pub iommu: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct CpuInfo {
    /// `GenuineIntel`, `AuthenticAMD`, ...
    pub vendor_id: String,
    pub model_name: String,
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
    pub microcode: Option<u64>,
    /// Kernel flag names of the first CPU.
    pub flags: BTreeSet<String>,
    pub phys_bits: Option<u32>,
}

impl CpuInfo {
    /// The short vendor name libvirt uses (`Intel`, `AMD`, `Hygon`).
    pub fn vendor(&self) -> Option<&'static str> {
        match self.vendor_id.as_str() {
            "GenuineIntel" => Some("Intel"),
            "AuthenticAMD" => Some("AMD"),
            "HygonGenuine" => Some("Hygon"),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Topology {
    pub sockets: u32,
    pub dies: u32,
    pub cores: u32,
    pub threads: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct NumaCell {
    pub id: u32,
    pub memory_kib: u64,
    /// (page size KiB, pages): base pages that fit besides the huge pages, huge pages reserved.
    pub pages: Vec<(u64, u64)>,
    /// (cell id, distance); empty when the kernel does not say.
    pub distances: Vec<(u32, u32)>,
    pub cpus: Vec<CellCpu>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct CellCpu {
    pub id: u32,
    pub socket_id: u32,
    pub die_id: u32,
    pub core_id: u32,
    /// Hardware threads of the same core, as a cpuset string (`0,8`).
    pub siblings: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheBank {
    pub id: u32,
    pub level: u32,
    /// `both`, `code` or `data`.
    pub kind: String,
    pub size_kib: u64,
    /// cpuset string.
    pub cpus: String,
}

/// Smallest cache level reported, matching what resctrl can allocate.
const CACHE_MIN_LEVEL: u32 = 3;
const BASE_PAGE_KIB: u64 = 4;

pub fn host_details() -> HostDetails {
    host_details_at(Path::new("/"))
}

pub fn host_details_at(root: &Path) -> HostDetails {
    let read = |p: &str| fs::read_to_string(root.join(p)).ok();
    let cpuinfo = read("proc/cpuinfo").unwrap_or_default();
    let cpu = parse_cpuinfo(&cpuinfo);
    let uuid = read("sys/class/dmi/id/product_uuid")
        .and_then(|s| normalize_uuid(&s))
        .or_else(|| read("etc/machine-id").and_then(|s| normalize_uuid(&s)));

    let mut page_sizes_kib = vec![BASE_PAGE_KIB];
    page_sizes_kib.extend(hugepage_sizes(&root.join("sys/kernel/mm/hugepages")).into_keys());
    page_sizes_kib.sort_unstable();
    page_sizes_kib.dedup();

    let online = read("sys/devices/system/cpu/online").and_then(|s| parse_cpuset(&s)).unwrap_or_default();
    let cpu_dir = root.join("sys/devices/system/cpu");
    let cell_cpu = |id: u32| {
        let t = cpu_dir.join(format!("cpu{id}/topology"));
        let num = |f: &str| {
            fs::read_to_string(t.join(f))
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .map(|v| u32::try_from(v).unwrap_or(0))
                .unwrap_or(0)
        };
        CellCpu {
            id,
            socket_id: num("physical_package_id"),
            die_id: num("die_id"),
            core_id: num("core_id"),
            siblings: fs::read_to_string(t.join("thread_siblings_list"))
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| id.to_string()),
        }
    };

    let mut cells = Vec::new();
    let node_dir = root.join("sys/devices/system/node");
    let mut node_ids: Vec<u32> = fs::read_dir(&node_dir)
        .map(|rd| rd.flatten().filter_map(|e| e.file_name().to_str()?.strip_prefix("node")?.parse().ok()).collect())
        .unwrap_or_default();
    node_ids.sort_unstable();
    for id in &node_ids {
        let d = node_dir.join(format!("node{id}"));
        let memory_kib = fs::read_to_string(d.join("meminfo")).ok().and_then(|m| meminfo_total(&m)).unwrap_or(0);
        let cpus = fs::read_to_string(d.join("cpulist"))
            .ok()
            .and_then(|s| parse_cpuset(&s))
            .unwrap_or_default()
            .into_iter()
            .map(cell_cpu)
            .collect();
        let distances = fs::read_to_string(d.join("distance"))
            .map(|s| {
                s.split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .enumerate()
                    .filter_map(|(i, v)| Some((*node_ids.get(i)?, v)))
                    .collect()
            })
            .unwrap_or_default();
        let huge = hugepage_sizes(&d.join("hugepages"));
        cells.push(NumaCell { id: *id, memory_kib, pages: cell_pages(memory_kib, &huge), distances, cpus });
    }
    if cells.is_empty() {
        let memory_kib = read("proc/meminfo").and_then(|m| meminfo_total(&m)).unwrap_or(0);
        let huge = hugepage_sizes(&root.join("sys/kernel/mm/hugepages"));
        let mut ids = online.clone();
        if ids.is_empty() {
            ids = (0..cpuinfo.lines().filter(|l| l.starts_with("processor")).count() as u32).collect();
        }
        cells.push(NumaCell {
            id: 0,
            memory_kib,
            pages: cell_pages(memory_kib, &huge),
            distances: Vec::new(),
            cpus: ids.into_iter().map(cell_cpu).collect(),
        });
    }

    let all_cpus: Vec<&CellCpu> = cells.iter().flat_map(|c| &c.cpus).collect();
    let packages: BTreeSet<u32> = all_cpus.iter().map(|c| c.socket_id).collect();
    let dies: BTreeSet<(u32, u32)> = all_cpus.iter().map(|c| (c.socket_id, c.die_id)).collect();
    let cores: BTreeSet<(u32, u32, u32)> = all_cpus.iter().map(|c| (c.socket_id, c.die_id, c.core_id)).collect();
    let n = |x: usize| (x as u32).max(1);
    let topology = Topology {
        sockets: (n(packages.len()) / n(cells.len())).max(1),
        dies: (n(dies.len()) / n(packages.len())).max(1),
        cores: (n(cores.len()) / n(dies.len())).max(1),
        threads: (n(all_cpus.len()) / n(cores.len())).max(1),
    };

    let caches = read_caches(&cpu_dir, all_cpus.iter().map(|c| c.id));
    let power = read("sys/power/state").unwrap_or_default();
    let power: BTreeSet<&str> = power.split_whitespace().collect();
    let iommu = fs::read_dir(root.join("sys/kernel/iommu_groups")).map(|mut rd| rd.next().is_some()).unwrap_or(false);

    HostDetails {
        arch: std::env::consts::ARCH.to_owned(),
        uuid,
        cpu,
        topology,
        page_sizes_kib,
        cells,
        caches,
        suspend_mem: power.contains("mem"),
        suspend_disk: power.contains("disk"),
        iommu,
    }
}

fn parse_cpuinfo(text: &str) -> CpuInfo {
    let first = text.split("\n\n").next().unwrap_or("");
    let field = |k: &str| {
        first.lines().find_map(|l| {
            let (name, v) = l.split_once(':')?;
            (name.trim() == k).then(|| v.trim().to_owned())
        })
    };
    let num = |k: &str| field(k).and_then(|v| v.parse().ok()).unwrap_or(0);
    CpuInfo {
        vendor_id: field("vendor_id").unwrap_or_default(),
        model_name: field("model name").unwrap_or_default(),
        family: num("cpu family"),
        model: num("model"),
        stepping: num("stepping"),
        microcode: field("microcode").and_then(|v| {
            let v = v.trim();
            match v.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => v.parse().ok(),
            }
        }),
        flags: field("flags").map(|f| f.split_whitespace().map(str::to_owned).collect()).unwrap_or_default(),
        phys_bits: field("address sizes").and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok())),
    }
}

/// `MemTotal` of /proc/meminfo or a node's meminfo (`Node 0 MemTotal: N kB`), KiB.
fn meminfo_total(text: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        if !k.trim_end().ends_with("MemTotal") {
            return None;
        }
        v.split_whitespace().next()?.parse().ok()
    })
}

/// `hugepages-2048kB/nr_hugepages` entries under `dir`: size KiB → reserved pages.
fn hugepage_sizes(dir: &Path) -> BTreeMap<u64, u64> {
    let mut out = BTreeMap::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(size) = name.to_str().and_then(|n| n.strip_prefix("hugepages-")?.strip_suffix("kB")?.parse().ok())
            else {
                continue;
            };
            let count =
                fs::read_to_string(e.path().join("nr_hugepages")).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
            out.insert(size, count);
        }
    }
    out
}

fn cell_pages(memory_kib: u64, huge: &BTreeMap<u64, u64>) -> Vec<(u64, u64)> {
    let reserved: u64 = huge.iter().map(|(s, n)| s.saturating_mul(*n)).sum();
    let mut pages = vec![(BASE_PAGE_KIB, memory_kib.saturating_sub(reserved) / BASE_PAGE_KIB)];
    pages.extend(huge.iter().map(|(s, n)| (*s, *n)));
    pages
}

/// Parses a kernel cpuset list (`0-3,8,10-11`).
pub fn parse_cpuset(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if b < a || b - a > 65_536 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.trim().parse().ok()?),
        }
    }
    Some(out)
}

fn read_caches(cpu_dir: &Path, cpus: impl Iterator<Item = u32>) -> Vec<CacheBank> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for cpu in cpus {
        let Ok(rd) = fs::read_dir(cpu_dir.join(format!("cpu{cpu}/cache"))) else {
            continue;
        };
        let mut dirs: Vec<_> =
            rd.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("index")).map(|e| e.path()).collect();
        dirs.sort();
        for d in dirs {
            let read = |f: &str| fs::read_to_string(d.join(f)).map(|s| s.trim().to_owned()).ok();
            let (Some(level), Some(id)) =
                (read("level").and_then(|v| v.parse::<u32>().ok()), read("id").and_then(|v| v.parse::<u32>().ok()))
            else {
                continue;
            };
            if level < CACHE_MIN_LEVEL {
                continue;
            }
            let kind = match read("type").as_deref() {
                Some("Data") => "data",
                Some("Instruction") => "code",
                _ => "both",
            };
            let Some(size_kib) = read("size").and_then(|s| parse_size_kib(&s)) else {
                continue;
            };
            if !seen.insert((level, id, kind)) {
                continue;
            }
            out.push(CacheBank {
                id,
                level,
                kind: kind.to_owned(),
                size_kib,
                cpus: read("shared_cpu_list").unwrap_or_else(|| cpu.to_string()),
            });
        }
    }
    out.sort_by_key(|b| (b.level, b.id));
    out
}

/// `32768K`, `1M`, `512` (bytes) → KiB.
fn parse_size_kib(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.as_bytes().last()? {
        b'K' => (&s[..s.len() - 1], 1),
        b'M' => (&s[..s.len() - 1], 1024),
        b'G' => (&s[..s.len() - 1], 1024 * 1024),
        _ => return s.parse::<u64>().ok().map(|b| b / 1024),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

/// Accepts `8-4-4-4-12` UUIDs and 32-hex-digit machine ids; rejects all-zero and placeholder values.
fn normalize_uuid(s: &str) -> Option<String> {
    let hex: String = s.trim().chars().filter(|c| *c != '-').collect::<String>().to_ascii_lowercase();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    if hex.chars().all(|c| c == '0') || hex.chars().all(|c| c == 'f') {
        return None;
    }
    Some(format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    /// Two NUMA cells, one socket each, 2 cores × 2 threads per socket, an L3 per socket.
    fn fixture(root: &Path) {
        let mut cpuinfo = String::new();
        for n in 0..8 {
            cpuinfo.push_str(&format!(
                "processor\t: {n}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\n\
                 model name\t: Intel(R) Xeon(R) Gold\nstepping\t: 7\nmicrocode\t: 0x5003604\n\
                 flags\t\t: fpu vme pae vmx sse4_1 avx512f\naddress sizes\t: 46 bits physical, 48 bits virtual\n\n"
            ));
        }
        write(root, "proc/cpuinfo", &cpuinfo);
        write(root, "proc/meminfo", "MemTotal:       33554432 kB\n");
        write(root, "etc/machine-id", "3d1219c7c4c5404aaa1f6d2a48adfda4\n");
        write(root, "sys/devices/system/cpu/online", "0-7\n");
        write(root, "sys/power/state", "freeze mem disk\n");
        write(root, "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "16\n");
        write(root, "sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "0\n");
        fs::create_dir_all(root.join("sys/kernel/iommu_groups/0")).unwrap();
        for node in 0..2u32 {
            let d = format!("sys/devices/system/node/node{node}");
            write(root, &format!("{d}/meminfo"), &format!("Node {node} MemTotal:       16777216 kB\n"));
            write(root, &format!("{d}/cpulist"), if node == 0 { "0-3\n" } else { "4-7\n" });
            write(root, &format!("{d}/distance"), if node == 0 { "10 21\n" } else { "21 10\n" });
            write(root, &format!("{d}/hugepages/hugepages-2048kB/nr_hugepages"), "8\n");
        }
        for cpu in 0..8u32 {
            let t = format!("sys/devices/system/cpu/cpu{cpu}/topology");
            let socket = cpu / 4;
            let core = (cpu % 4) / 2;
            let first = cpu - cpu % 2;
            write(root, &format!("{t}/physical_package_id"), &format!("{socket}\n"));
            write(root, &format!("{t}/die_id"), "0\n");
            write(root, &format!("{t}/core_id"), &format!("{core}\n"));
            write(root, &format!("{t}/thread_siblings_list"), &format!("{first}-{}\n", first + 1));
            let c = format!("sys/devices/system/cpu/cpu{cpu}/cache");
            write(root, &format!("{c}/index0/level"), "1\n");
            write(root, &format!("{c}/index0/id"), &format!("{core}\n"));
            write(root, &format!("{c}/index0/type"), "Data\n");
            write(root, &format!("{c}/index0/size"), "32K\n");
            write(root, &format!("{c}/index3/level"), "3\n");
            write(root, &format!("{c}/index3/id"), &format!("{socket}\n"));
            write(root, &format!("{c}/index3/type"), "Unified\n");
            write(root, &format!("{c}/index3/size"), "25344K\n");
            write(root, &format!("{c}/index3/shared_cpu_list"), if socket == 0 { "0-3\n" } else { "4-7\n" });
        }
    }

    #[test]
    fn reads_a_two_cell_fixture() {
        let d = tempfile_dir("two-cell");
        fixture(&d);
        let h = host_details_at(&d);
        assert_eq!(h.uuid.as_deref(), Some("3d1219c7-c4c5-404a-aa1f-6d2a48adfda4"));
        assert_eq!(h.cpu.vendor(), Some("Intel"));
        assert_eq!((h.cpu.family, h.cpu.model, h.cpu.stepping), (6, 85, 7));
        assert_eq!(h.cpu.microcode, Some(0x5003604));
        assert_eq!(h.cpu.phys_bits, Some(46));
        assert!(h.cpu.flags.contains("vmx"));
        assert_eq!(h.topology, Topology { sockets: 1, dies: 1, cores: 2, threads: 2 });
        assert_eq!(h.page_sizes_kib, vec![4, 2048, 1048576]);
        assert_eq!(h.cells.len(), 2);
        let c1 = &h.cells[1];
        assert_eq!((c1.id, c1.memory_kib), (1, 16777216));
        assert_eq!(c1.distances, vec![(0, 21), (1, 10)]);
        assert_eq!(c1.pages, vec![(4, (16777216 - 8 * 2048) / 4), (2048, 8)]);
        assert_eq!(c1.cpus.len(), 4);
        assert_eq!(c1.cpus[3], CellCpu { id: 7, socket_id: 1, die_id: 0, core_id: 1, siblings: "6-7".into() });
        assert_eq!(h.caches.len(), 2, "L1 skipped, one L3 per socket: {:?}", h.caches);
        assert_eq!(
            h.caches[1],
            CacheBank { id: 1, level: 3, kind: "both".into(), size_kib: 25344, cpus: "4-7".into() }
        );
        assert!(h.suspend_mem && h.suspend_disk && h.iommu);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn without_numa_sysfs_one_cell_holds_everything() {
        let d = tempfile_dir("flat");
        write(&d, "proc/cpuinfo", "processor\t: 0\nvendor_id\t: AuthenticAMD\n\nprocessor\t: 1\n\n");
        write(&d, "proc/meminfo", "MemTotal:       1024 kB\n");
        write(&d, "sys/class/dmi/id/product_uuid", "A25C794C-34AD-11B2-A85C-B030533115B8\n");
        let h = host_details_at(&d);
        assert_eq!(h.uuid.as_deref(), Some("a25c794c-34ad-11b2-a85c-b030533115b8"));
        assert_eq!(h.cells.len(), 1);
        assert_eq!(h.cells[0].cpus.iter().map(|c| c.id).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(h.cells[0].pages, vec![(4, 256)]);
        assert_eq!(h.page_sizes_kib, vec![4]);
        assert!(!h.suspend_mem && !h.iommu && h.caches.is_empty());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn reads_this_host() {
        let h = host_details();
        assert!(!h.cells.is_empty() && h.cells.iter().map(|c| c.cpus.len()).sum::<usize>() >= 1, "{h:?}");
        assert!(h.page_sizes_kib.first() == Some(&4));
    }

    #[test]
    fn helpers() {
        assert_eq!(parse_cpuset("0-2,5\n"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_cpuset("3-1"), None);
        assert_eq!(parse_size_kib("32768K"), Some(32768));
        assert_eq!(parse_size_kib("2M"), Some(2048));
        assert_eq!(normalize_uuid("00000000-0000-0000-0000-000000000000"), None);
        assert_eq!(normalize_uuid("xyz"), None);
    }

    fn tempfile_dir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("oxvirt-host-details-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }
}
