//! Facts about the host machine, read from /proc and /sys: what `nodeinfo` and the capabilities
//! document report, and what the drivers need to decide (KVM extensions, IOMMU).

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use oxvirt_api::NodeInfo;
use serde::Serialize;

pub mod details;
pub mod nodedev;

pub use details::{host_details, host_details_at, HostDetails};

/// Reads `virNodeInfo` from `root` (`/` normally; a fixture directory in tests); `model` is the CPU
/// architecture (`x86_64`).
pub fn node_info_at(root: &Path) -> NodeInfo {
    let cpuinfo = fs::read_to_string(root.join("proc/cpuinfo")).unwrap_or_default();
    let meminfo = fs::read_to_string(root.join("proc/meminfo")).unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut cpus = 0u32;
    let mut mhz = 0f64;
    let mut packages = BTreeSet::new();
    let mut cores = BTreeSet::new();
    for block in cpuinfo.split("\n\n").filter(|b| b.contains("processor")) {
        cpus += 1;
        let field = |k: &str| {
            block.lines().find_map(|l| {
                let (name, v) = l.split_once(':')?;
                (name.trim() == k).then(|| v.trim().to_string())
            })
        };
        if mhz == 0.0 {
            mhz = field("cpu MHz").and_then(|v| v.parse().ok()).unwrap_or(0.0);
        }
        let pkg = field("physical id").unwrap_or_default();
        packages.insert(pkg.clone());
        cores.insert((pkg, field("core id").unwrap_or_default()));
    }
    let nodes = fs::read_dir(root.join("sys/devices/system/node"))
        .map(|rd| {
            rd.flatten()
                .filter(|e| {
                    let n = e.file_name();
                    let n = n.to_string_lossy();
                    n.starts_with("node") && n[4..].chars().all(|c| c.is_ascii_digit()) && n.len() > 4
                })
                .count() as u32
        })
        .unwrap_or(0)
        .max(1);
    let sockets_total = (packages.len() as u32).max(1);
    let cores_total = (cores.len() as u32).max(1);
    let cpus = cpus.max(1);
    // libvirt reports sockets per NUMA node and cores per socket
    let sockets = (sockets_total / nodes).max(1);
    let cores_per_socket = (cores_total / sockets_total).max(1);
    let threads = (cpus / cores_total).max(1);
    NodeInfo {
        model: std::env::consts::ARCH.to_string(),
        memory,
        cpus,
        mhz: mhz as u32,
        nodes,
        sockets,
        cores: cores_per_socket,
        threads,
    }
}

pub fn node_info() -> NodeInfo {
    node_info_at(Path::new("/"))
}

/// CPU feature flags of the first CPU (`vmx`, `svm`, `hypervisor`, ...).
pub fn cpu_flags() -> BTreeSet<String> {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("flags").and_then(|r| r.split_once(':')).map(|(_, v)| v.to_string()))
        .map(|v| v.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Hardware virtualization and isolation features the host offers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VirtFeatures {
    /// `vmx` (Intel VT-x) or `svm` (AMD-V).
    pub hw_virt: Option<String>,
    /// EPT / NPT.
    pub second_level_paging: bool,
    /// Running under another hypervisor.
    pub nested: bool,
    pub iommu_groups: usize,
    pub sev: bool,
    pub tdx: bool,
}

pub fn virt_features() -> VirtFeatures {
    let flags = cpu_flags();
    let hw_virt = ["vmx", "svm"].iter().find(|f| flags.contains(**f)).map(|f| f.to_string());
    let iommu_groups = fs::read_dir("/sys/kernel/iommu_groups").map(|rd| rd.count()).unwrap_or(0);
    let param = |p: &str| fs::read_to_string(p).map(|s| matches!(s.trim(), "Y" | "1")).unwrap_or(false);
    VirtFeatures {
        hw_virt,
        second_level_paging: flags.contains("ept") || flags.contains("npt"),
        nested: flags.contains("hypervisor"),
        iommu_groups,
        sev: param("/sys/module/kvm_amd/parameters/sev"),
        tdx: param("/sys/module/kvm_intel/parameters/tdx"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_host() {
        let f = node_info();
        assert!(f.cpus >= 1 && f.memory > 0, "{f:?}");
        assert_eq!(f.cpus % (f.sockets * f.cores * f.threads * f.nodes).max(1), 0, "{f:?}");
    }

    #[test]
    fn reads_a_fixture() {
        let d = std::env::temp_dir().join(format!("oxvirt-host-{}", std::process::id()));
        fs::create_dir_all(d.join("proc")).unwrap();
        fs::create_dir_all(d.join("sys/devices/system/node/node0")).unwrap();
        let cpu = |n: u32, core: u32| {
            format!("processor\t: {n}\ncpu MHz\t\t: 2400.123\nphysical id\t: 0\ncore id\t\t: {core}\n\n")
        };
        fs::write(d.join("proc/cpuinfo"), format!("{}{}{}{}", cpu(0, 0), cpu(1, 0), cpu(2, 1), cpu(3, 1))).unwrap();
        fs::write(d.join("proc/meminfo"), "MemTotal:       24000000 kB\n").unwrap();
        let f = node_info_at(&d);
        assert_eq!((f.cpus, f.mhz, f.nodes, f.sockets, f.cores, f.threads, f.memory), (4, 2400, 1, 1, 2, 2, 24000000));
        fs::remove_dir_all(&d).unwrap();
    }
}
