//! Resource control: one cgroup per running domain, filled from `<cputune>`, `<memtune>`,
//! `<blkiotune>` and `<numatune>`, plus CPU pinning of QEMU's threads from `<vcpupin>` /
//! `<emulatorpin>`.
//!
//! The hierarchy version is detected at run time from the mount root's contents: a root holding
//! `cgroup.controllers` is the unified (v2) hierarchy; otherwise every controller is looked for in
//! its own v1 directory (`ROOT/cpu`, `ROOT/memory`, …; co-mounted ones are symlinks there). A hybrid
//! host (v1 controllers plus an empty `unified` mount) is v1. All file access goes through a root
//! path, so the unit tests run on fake trees without privileges.
//!
//! Placement: v1 — `OWN/machine/SCOPE` in each controller, where OWN is this process's own cgroup
//! in that controller, so guests stay inside whatever limits the starter itself runs under. v2 —
//! `BASE/machine/SCOPE` where BASE is this process's cgroup's parent (its own cgroup holds
//! processes, and v2 forbids enabling controllers for children of a cgroup with processes), or the
//! root. SCOPE is `qemu-ID-NAME.oxvirt` (libvirt's `qemu-ID-NAME.libvirt-qemu`), with a hash of the
//! run directory for non-system roots so that two embedded roots starting domains with equal ids
//! and names do not meet.
//!
//! QEMU is moved in while it initialises (from another thread, right after it was spawned; it runs
//! with `-S`, so the guest has not run); what it allocated before that stays charged where it was. Per-vCPU bandwidth (`period`/`quota`
//! are per vCPU in libvirt, `emulator_*` for the rest, `global_*` for the whole domain) needs the
//! threads apart, so when any of those is set the domain cgroup gets children `vcpuN` and
//! `emulator` (threaded children on v2), as libvirt does.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sched::{sched_setaffinity, CpuSet};
use nix::unistd::Pid;
use oxvirt_xml::domain::{parse_cpuset, Domain, NumaMode};
use serde::{Deserialize, Serialize};

/// libvirt's "unlimited" memory tunable (`VIR_DOMAIN_MEMORY_PARAM_UNLIMITED`), in KiB.
const MEMORY_UNLIMITED_KIB: u64 = 9_007_199_254_740_991;
/// How long removal waits for the tasks of a dead QEMU to leave its cgroup.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(3);
/// v1 controllers a domain is placed in (when the host has them).
const V1_CONTROLLERS: &[&str] = &["cpu", "cpuacct", "cpuset", "memory", "blkio", "pids"];
/// v2 controllers enabled for the domain's cgroup (when the host has them).
const V2_CONTROLLERS: &[&str] = &["cpu", "cpuset", "memory", "io", "pids"];
const PARTITION: &str = "machine";

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("no usable cgroup hierarchy under {root}: {detail}")]
    Detect { root: PathBuf, detail: String },
    #[error("creating cgroup {path}: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing '{value}' to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: io::Error,
    },
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("recording the domain's cgroup in {path}: {source}")]
    StoreRecord {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("removing cgroup {path}: {source}")]
    Remove {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    InvalidTuning(String),
    #[error("{what} needs the cgroup controller file {file}, which this host does not have{hint}")]
    Unsupported { what: String, file: String, hint: &'static str },
    #[error("setting the CPU affinity of {what} (thread {tid}) to {cpus}: {source}")]
    Affinity {
        what: String,
        tid: i32,
        cpus: String,
        #[source]
        source: nix::Error,
    },
    #[error("listing the threads of QEMU pid {pid}: {source}")]
    Threads {
        pid: i32,
        #[source]
        source: io::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Version {
    V1,
    V2,
}

/// The cgroup hierarchies of this host as seen from this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupHost {
    pub version: Version,
    root: PathBuf,
    /// v1: controller → this process's path in that controller's hierarchy.
    /// v2: the single entry `""` → this process's path; `controllers` lists what the root offers.
    own: BTreeMap<String, String>,
    controllers: Vec<String>,
}

impl CgroupHost {
    /// The real host: `/sys/fs/cgroup` and `/proc/self/cgroup`.
    pub fn system() -> Result<CgroupHost, CgroupError> {
        let own = fs::read_to_string("/proc/self/cgroup")
            .map_err(|source| CgroupError::Read { path: "/proc/self/cgroup".into(), source })?;
        CgroupHost::detect(Path::new("/sys/fs/cgroup"), &own)
    }

    /// Detects the hierarchy under `root`; `self_cgroup` is the content of `/proc/self/cgroup`.
    pub fn detect(root: &Path, self_cgroup: &str) -> Result<CgroupHost, CgroupError> {
        let mut own_v1 = BTreeMap::new();
        let mut own_v2 = None;
        for line in self_cgroup.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else { continue };
            if ctrls.is_empty() {
                own_v2 = Some(path.to_string());
            }
            for c in ctrls.split(',').filter(|c| !c.is_empty()) {
                own_v1.insert(c.to_string(), path.to_string());
            }
        }
        if let Ok(list) = fs::read_to_string(root.join("cgroup.controllers")) {
            let own = own_v2.ok_or_else(|| CgroupError::Detect {
                root: root.into(),
                detail: "unified hierarchy mounted, but this process has no '0::' line in /proc/self/cgroup".into(),
            })?;
            let controllers = list.split_whitespace().map(str::to_string).collect();
            return Ok(CgroupHost {
                version: Version::V2,
                root: root.into(),
                own: BTreeMap::from([(String::new(), own)]),
                controllers,
            });
        }
        let mut own = BTreeMap::new();
        for c in V1_CONTROLLERS {
            if root.join(c).join("cgroup.procs").exists() {
                own.insert(c.to_string(), own_v1.get(*c).cloned().unwrap_or_else(|| "/".into()));
            }
        }
        if own.is_empty() {
            return Err(CgroupError::Detect {
                root: root.into(),
                detail: "neither a unified hierarchy (cgroup.controllers) nor v1 controller directories".into(),
            });
        }
        let controllers = own.keys().cloned().collect();
        Ok(CgroupHost { version: Version::V1, root: root.into(), own, controllers })
    }

    pub fn has_controller(&self, c: &str) -> bool {
        self.controllers.iter().any(|x| x == c)
    }

    /// Creates the domain's cgroup `SCOPE` (see the module doc for where). An existing one (left
    /// by a start that failed half-way) is reused.
    pub fn create(&self, scope: &str) -> Result<DomainCgroup, CgroupError> {
        match self.version {
            Version::V1 => {
                let mut dirs = BTreeMap::new();
                for (c, own) in &self.own {
                    let base = join_cg(&self.root.join(c), own);
                    let part = base.join(PARTITION);
                    let dir = part.join(scope);
                    for d in [&part, &dir] {
                        mkdir(d)?;
                        if c == "cpuset" {
                            // v1 cpusets start empty and refuse tasks until given CPUs and nodes.
                            inherit_cpuset(d)?;
                        }
                    }
                    dirs.insert(c.clone(), dir);
                }
                Ok(DomainCgroup { version: Version::V1, dirs, children: Vec::new() })
            }
            Version::V2 => {
                let own = self.own.get("").map(String::as_str).unwrap_or("/");
                let base_rel =
                    if own == "/" { "/" } else { Path::new(own).parent().and_then(Path::to_str).unwrap_or("/") };
                let base = join_cg(&self.root, base_rel);
                let part = base.join(PARTITION);
                let dir = part.join(scope);
                let available = read_words(&base.join("cgroup.controllers"))?;
                let wanted: Vec<&str> =
                    V2_CONTROLLERS.iter().copied().filter(|c| available.iter().any(|a| a == c)).collect();
                enable_controllers(&base, &wanted)?;
                mkdir(&part)?;
                enable_controllers(&part, &wanted)?;
                mkdir(&dir)?;
                Ok(DomainCgroup {
                    version: Version::V2,
                    dirs: BTreeMap::from([(String::new(), dir)]),
                    children: Vec::new(),
                })
            }
        }
    }
}

fn join_cg(mount: &Path, rel: &str) -> PathBuf {
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() {
        mount.to_path_buf()
    } else {
        mount.join(rel)
    }
}

fn mkdir(d: &Path) -> Result<(), CgroupError> {
    match fs::create_dir(d) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(CgroupError::Create { path: d.into(), source: e }),
        _ => Ok(()),
    }
}

fn read(path: &Path) -> Result<String, CgroupError> {
    fs::read_to_string(path).map_err(|source| CgroupError::Read { path: path.into(), source })
}

fn read_words(path: &Path) -> Result<Vec<String>, CgroupError> {
    Ok(read(path)?.split_whitespace().map(str::to_string).collect())
}

fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    fs::write(path, value).map_err(|source| CgroupError::Write { path: path.into(), value: value.into(), source })
}

fn inherit_cpuset(d: &Path) -> Result<(), CgroupError> {
    let parent = d.parent().unwrap_or(d);
    for f in ["cpuset.cpus", "cpuset.mems"] {
        let mine = fs::read_to_string(d.join(f)).unwrap_or_default();
        if mine.trim().is_empty() {
            write(&d.join(f), read(&parent.join(f))?.trim())?;
        }
    }
    Ok(())
}

fn enable_controllers(dir: &Path, wanted: &[&str]) -> Result<(), CgroupError> {
    let on = fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
    let missing: Vec<String> =
        wanted.iter().filter(|c| !on.split_whitespace().any(|o| o == **c)).map(|c| format!("+{c}")).collect();
    if missing.is_empty() {
        return Ok(());
    }
    write(&dir.join("cgroup.subtree_control"), &missing.join(" "))
}

/// CPU bandwidth of one group: `period` µs, `quota` µs per period (negative: unlimited).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bandwidth {
    pub period: Option<u64>,
    pub quota: Option<i64>,
}

impl Bandwidth {
    fn is_set(&self) -> bool {
        self.period.is_some() || self.quota.is_some()
    }
}

/// Per-device block I/O tuning with the device resolved to `major:minor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceTune {
    pub path: String,
    pub dev: String,
    pub weight: Option<u32>,
    pub read_iops: Option<u32>,
    pub write_iops: Option<u32>,
    pub read_bps: Option<u64>,
    pub write_bps: Option<u64>,
}

/// What the definition asks of the cgroups, validated and in cgroup units (bytes, µs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tuning {
    pub cpu_shares: Option<u64>,
    pub global: Bandwidth,
    pub vcpu: Bandwidth,
    pub emulator: Bandwidth,
    /// `None` inside: unlimited.
    pub mem_hard: Option<Option<u64>>,
    pub mem_soft: Option<Option<u64>>,
    pub mem_swap_hard: Option<Option<u64>>,
    pub blkio_weight: Option<u32>,
    pub blkio_devices: Vec<DeviceTune>,
    /// Host NUMA nodes for guest memory (strict `<numatune><memory>`), cgroup list syntax.
    pub mems: Option<String>,
}

impl Tuning {
    /// Reads the tunables of `def`, with libvirt's ranges.
    pub fn from_domain(def: &Domain) -> Result<Tuning, CgroupError> {
        let mut t = Tuning::default();
        let bad = |m: String| CgroupError::InvalidTuning(m);
        if let Some(ct) = &def.cputune {
            if let Some(s) = ct.shares {
                if !(2..=262_144).contains(&s) {
                    return Err(bad(format!("<cputune><shares> {s} is out of range [2, 262144]")));
                }
                t.cpu_shares = Some(s);
            }
            let bw = |what: &str, period: Option<u64>, quota: Option<i64>| -> Result<Bandwidth, CgroupError> {
                if let Some(p) = period.filter(|p| !(1000..=1_000_000).contains(p)) {
                    return Err(bad(format!("<cputune><{what}period> {p} is out of range [1000, 1000000]")));
                }
                if let Some(q) = quota.filter(|q| *q >= 0 && !(1000..=17_592_186_044_415).contains(q)) {
                    return Err(bad(format!(
                        "<cputune><{what}quota> {q} is out of range [1000, 17592186044415] (negative: unlimited)"
                    )));
                }
                Ok(Bandwidth { period, quota: quota.map(|q| if q < 0 { -1 } else { q }) })
            };
            t.vcpu = bw("", ct.period, ct.quota)?;
            t.global = bw("global_", ct.global_period, ct.global_quota)?;
            t.emulator = bw("emulator_", ct.emulator_period, ct.emulator_quota)?;
        }
        if let Some(mt) = &def.memtune {
            let lim =
                |k: &Option<oxvirt_xml::KiB>| k.map(|k| (k.0 < MEMORY_UNLIMITED_KIB).then(|| k.0.saturating_mul(1024)));
            t.mem_hard = lim(&mt.hard_limit);
            t.mem_soft = lim(&mt.soft_limit);
            t.mem_swap_hard = lim(&mt.swap_hard_limit);
            if let (Some(Some(h)), Some(Some(s))) = (t.mem_hard, t.mem_swap_hard) {
                if s < h {
                    return Err(bad("<memtune><swap_hard_limit> must be greater than or equal to <hard_limit>".into()));
                }
            }
        }
        if let Some(bt) = &def.blkiotune {
            let wrange = |w: u32, what: &str| {
                if (100..=1000).contains(&w) {
                    Ok(w)
                } else {
                    Err(bad(format!("<blkiotune>{what}<weight> {w} is out of range [100, 1000]")))
                }
            };
            t.blkio_weight = bt.weight.map(|w| wrange(w, "")).transpose()?;
            for d in &bt.devices {
                let meta = fs::metadata(&d.path)
                    .map_err(|source| CgroupError::Read { path: d.path.clone().into(), source })?;
                if !meta.file_type().is_block_device() {
                    return Err(bad(format!("<blkiotune><device><path> {} is not a block device", d.path)));
                }
                let rdev = meta.rdev();
                t.blkio_devices.push(DeviceTune {
                    path: d.path.clone(),
                    dev: format!("{}:{}", libc::major(rdev), libc::minor(rdev)),
                    weight: d.weight.map(|w| wrange(w, "<device>")).transpose()?,
                    read_iops: d.read_iops_sec,
                    write_iops: d.write_iops_sec,
                    read_bps: d.read_bytes_sec,
                    write_bps: d.write_bytes_sec,
                });
            }
        }
        if let Some(m) = def.numatune.as_ref().and_then(|n| n.memory.as_ref()) {
            if m.mode.unwrap_or_default() == NumaMode::Strict {
                if let Some(ns) = &m.nodeset {
                    let nodes = parse_cpuset(ns).map_err(|e| bad(format!("<numatune><memory nodeset>: {e}")))?;
                    t.mems = Some(format_cpu_list(&nodes));
                }
            }
        }
        Ok(t)
    }

    /// Whether vCPU and emulator threads need cgroups of their own.
    pub fn per_thread(&self) -> bool {
        self.vcpu.is_set() || self.emulator.is_set()
    }

    pub fn is_empty(&self) -> bool {
        *self == Tuning::default()
    }
}

/// A domain's cgroup(s); serialised next to the status so whoever notices the domain stopped can
/// remove them even if it runs in another cgroup than the starter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainCgroup {
    pub version: Version,
    /// v1: controller → directory; v2: `""` → the directory.
    pub dirs: BTreeMap<String, PathBuf>,
    /// Children created for threads (`emulator`, `vcpuN`), in creation order.
    pub children: Vec<String>,
}

impl DomainCgroup {
    fn dir(&self, controller: &str) -> Option<&Path> {
        match self.version {
            Version::V1 => self.dirs.get(controller).map(PathBuf::as_path),
            Version::V2 => self.dirs.get("").map(PathBuf::as_path),
        }
    }

    fn file(&self, controller: &str, what: &str, file: &str, hint: &'static str) -> Result<PathBuf, CgroupError> {
        let p = self.dir(controller).map(|d| d.join(file));
        match p {
            Some(p) if self.version == Version::V1 || p.exists() => Ok(p),
            _ => Err(CgroupError::Unsupported { what: what.into(), file: file.into(), hint }),
        }
    }

    /// Writes the domain-wide settings. Call before [`DomainCgroup::attach`] so limits hold from
    /// the moment QEMU is inside.
    pub fn apply(&self, t: &Tuning) -> Result<(), CgroupError> {
        match self.version {
            Version::V1 => self.apply_v1(t),
            Version::V2 => self.apply_v2(t),
        }
    }

    fn apply_v1(&self, t: &Tuning) -> Result<(), CgroupError> {
        let f = |c: &str, what: &str, file: &str| self.file_v1(c, what, file);
        if let Some(s) = t.cpu_shares {
            write(&f("cpu", "<cputune><shares>", "cpu.shares")?, &s.to_string())?;
        }
        if t.global.is_set() {
            let d = self.dir("cpu").ok_or_else(|| missing("<cputune><global_*>", "cpu.cfs_quota_us"))?;
            write_bandwidth_v1(d, t.global)?;
        }
        let lim = |v: Option<u64>| v.map_or("-1".to_string(), |b| b.to_string());
        if let Some(h) = t.mem_hard {
            write(&f("memory", "<memtune><hard_limit>", "memory.limit_in_bytes")?, &lim(h))?;
        }
        if let Some(s) = t.mem_soft {
            write(&f("memory", "<memtune><soft_limit>", "memory.soft_limit_in_bytes")?, &lim(s))?;
        }
        if let Some(s) = t.mem_swap_hard {
            let p = f("memory", "<memtune><swap_hard_limit>", "memory.memsw.limit_in_bytes")?;
            if !p.exists() {
                return Err(CgroupError::Unsupported {
                    what: "<memtune><swap_hard_limit>".into(),
                    file: "memory.memsw.limit_in_bytes".into(),
                    hint: " (boot the host with swapaccount=1)",
                });
            }
            write(&p, &lim(s))?;
        }
        if let Some(w) = t.blkio_weight {
            let p = self.first_existing("blkio", &["blkio.weight", "blkio.bfq.weight"], "<blkiotune><weight>")?;
            write(&p, &w.to_string())?;
        }
        for d in &t.blkio_devices {
            if let Some(w) = d.weight {
                let p = self.first_existing(
                    "blkio",
                    &["blkio.weight_device", "blkio.bfq.weight_device"],
                    "<blkiotune><device><weight>",
                )?;
                write(&p, &format!("{} {w}", d.dev))?;
            }
            let throttles = [
                ("blkio.throttle.read_iops_device", d.read_iops.map(u64::from)),
                ("blkio.throttle.write_iops_device", d.write_iops.map(u64::from)),
                ("blkio.throttle.read_bps_device", d.read_bps),
                ("blkio.throttle.write_bps_device", d.write_bps),
            ];
            for (file, v) in throttles {
                if let Some(v) = v {
                    write(&f("blkio", "<blkiotune><device> throttling", file)?, &format!("{} {v}", d.dev))?;
                }
            }
        }
        if let Some(m) = &t.mems {
            write(&f("cpuset", "<numatune><memory nodeset>", "cpuset.mems")?, m)?;
        }
        Ok(())
    }

    fn file_v1(&self, controller: &str, what: &str, file: &str) -> Result<PathBuf, CgroupError> {
        self.dir(controller).map(|d| d.join(file)).ok_or_else(|| missing(what, file))
    }

    fn first_existing(&self, controller: &str, files: &[&str], what: &str) -> Result<PathBuf, CgroupError> {
        let d = self.dir(controller);
        files.iter().filter_map(|f| d.map(|d| d.join(f))).find(|p| p.exists()).ok_or(CgroupError::Unsupported {
            what: what.into(),
            file: files.join(" or "),
            hint: " (block I/O weights need the BFQ I/O scheduler on the device)",
        })
    }

    fn apply_v2(&self, t: &Tuning) -> Result<(), CgroupError> {
        let hint = " (controller not enabled for this cgroup)";
        let f = |what: &str, file: &str| self.file("", what, file, hint);
        if let Some(s) = t.cpu_shares {
            write(&f("<cputune><shares>", "cpu.weight")?, &shares_to_weight(s).to_string())?;
        }
        if t.global.is_set() {
            write(&f("<cputune><global_*>", "cpu.max")?, &cpu_max(t.global))?;
        }
        let lim = |v: Option<u64>| v.map_or("max".to_string(), |b| b.to_string());
        if let Some(h) = t.mem_hard {
            write(&f("<memtune><hard_limit>", "memory.max")?, &lim(h))?;
        }
        if let Some(s) = t.mem_soft {
            write(&f("<memtune><soft_limit>", "memory.high")?, &lim(s))?;
        }
        if let Some(s) = t.mem_swap_hard {
            // libvirt's swap_hard_limit is memory plus swap; v2 limits swap alone.
            let swap = match (s, t.mem_hard.flatten()) {
                (Some(s), Some(h)) => Some(s.saturating_sub(h)),
                (s, _) => s,
            };
            write(&f("<memtune><swap_hard_limit>", "memory.swap.max")?, &lim(swap))?;
        }
        if t.blkio_weight.is_some() || t.blkio_devices.iter().any(|d| d.weight.is_some()) {
            let d = self.dir("").map(Path::to_path_buf).unwrap_or_default();
            let (file, prefix) =
                if d.join("io.bfq.weight").exists() { ("io.bfq.weight", "") } else { ("io.weight", "default ") };
            let p = f("<blkiotune><weight>", file)?;
            if let Some(w) = t.blkio_weight {
                write(&p, &format!("{prefix}{w}"))?;
            }
            for dev in &t.blkio_devices {
                if let Some(w) = dev.weight {
                    write(&p, &format!("{} {w}", dev.dev))?;
                }
            }
        }
        for d in &t.blkio_devices {
            let mut limits = Vec::new();
            for (k, v) in [
                ("rbps", d.read_bps),
                ("wbps", d.write_bps),
                ("riops", d.read_iops.map(u64::from)),
                ("wiops", d.write_iops.map(u64::from)),
            ] {
                if let Some(v) = v {
                    limits.push(format!("{k}={v}"));
                }
            }
            if !limits.is_empty() {
                write(&f("<blkiotune><device> throttling", "io.max")?, &format!("{} {}", d.dev, limits.join(" ")))?;
            }
        }
        if let Some(m) = &t.mems {
            write(&f("<numatune><memory nodeset>", "cpuset.mems")?, m)?;
        }
        Ok(())
    }

    /// Moves the whole process (every thread) into the domain's cgroup(s).
    pub fn attach(&self, pid: i32) -> Result<(), CgroupError> {
        let mut seen = Vec::new();
        for d in self.dirs.values() {
            // Co-mounted v1 controllers share a directory.
            let key = fs::canonicalize(d).unwrap_or_else(|_| d.clone());
            if seen.contains(&key) {
                continue;
            }
            write(&d.join("cgroup.procs"), &pid.to_string())?;
            seen.push(key);
        }
        Ok(())
    }

    /// Gives vCPU threads (`(vcpu id, tid)`) a child cgroup each and everything else `emulator`,
    /// with their bandwidth. The process must already be attached.
    pub fn place_threads(&mut self, pid: i32, vcpus: &[(u32, i32)], t: &Tuning) -> Result<(), CgroupError> {
        let cpu_dir = self
            .dir(if self.version == Version::V1 { "cpu" } else { "" })
            .map(Path::to_path_buf)
            .ok_or_else(|| missing("<cputune> per-vCPU period/quota", "cpu.cfs_quota_us"))?;
        let mut groups: Vec<(String, Option<i32>, Bandwidth)> = vec![("emulator".into(), None, t.emulator)];
        groups.extend(vcpus.iter().map(|(id, tid)| (format!("vcpu{id}"), Some(*tid), t.vcpu)));
        for (name, _, _) in &groups {
            let child = cpu_dir.join(name);
            mkdir(&child)?;
            if !self.children.contains(name) {
                self.children.push(name.clone());
            }
            if self.version == Version::V2 {
                write(&child.join("cgroup.type"), "threaded")?;
            }
        }
        if self.version == Version::V2 {
            enable_controllers(&cpu_dir, &["cpu"])?;
        }
        for (name, tid, bw) in &groups {
            let child = cpu_dir.join(name);
            if bw.is_set() {
                match self.version {
                    Version::V1 => write_bandwidth_v1(&child, *bw)?,
                    Version::V2 => write(&child.join("cpu.max"), &cpu_max(*bw))?,
                }
            }
            match tid {
                // The whole process first; vCPU threads move on from there.
                None => write(&child.join("cgroup.procs"), &pid.to_string())?,
                Some(tid) => {
                    let file = if self.version == Version::V1 { "tasks" } else { "cgroup.threads" };
                    write(&child.join(file), &tid.to_string())?;
                }
            }
        }
        Ok(())
    }

    /// Removes the cgroup(s), waiting briefly for the tasks of a just-killed QEMU to leave.
    pub fn remove(&self) -> Result<(), CgroupError> {
        let mut first_err = None;
        for d in self.dirs.values() {
            let mut targets: Vec<PathBuf> = self.children.iter().rev().map(|c| d.join(c)).collect();
            targets.push(d.clone());
            for t in targets {
                if let Err(e) = rmdir_retry(&t) {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

fn missing(what: &str, file: &str) -> CgroupError {
    CgroupError::Unsupported { what: what.into(), file: file.into(), hint: " (controller not mounted)" }
}

fn rmdir_retry(d: &Path) -> Result<(), CgroupError> {
    let deadline = Instant::now() + REMOVE_TIMEOUT;
    loop {
        match fs::remove_dir(d) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            // A fake tree's directories hold regular files; a real cgroup's never block rmdir.
            Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) && !is_cgroupfs(d) => {
                return fs::remove_dir_all(d).map_err(|source| CgroupError::Remove { path: d.into(), source });
            }
            Err(source) => return Err(CgroupError::Remove { path: d.into(), source }),
        }
    }
}

fn is_cgroupfs(d: &Path) -> bool {
    nix::sys::statfs::statfs(d).is_ok_and(|s| {
        let t = s.filesystem_type();
        t == nix::sys::statfs::CGROUP_SUPER_MAGIC || t == nix::sys::statfs::CGROUP2_SUPER_MAGIC
    })
}

fn write_bandwidth_v1(d: &Path, bw: Bandwidth) -> Result<(), CgroupError> {
    // Period first: the kernel checks quota against the period in force.
    if let Some(p) = bw.period {
        write(&d.join("cpu.cfs_period_us"), &p.to_string())?;
    }
    if let Some(q) = bw.quota {
        write(&d.join("cpu.cfs_quota_us"), &q.to_string())?;
    }
    Ok(())
}

fn cpu_max(bw: Bandwidth) -> String {
    let q = match bw.quota {
        Some(q) if q >= 0 => q.to_string(),
        _ => "max".into(),
    };
    format!("{q} {}", bw.period.unwrap_or(100_000))
}

/// v1 `cpu.shares` (2..262144, default 1024) to v2 `cpu.weight` (1..10000, default 100), as libvirt
/// converts them.
pub fn shares_to_weight(shares: u64) -> u64 {
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

/// Formats CPU/node numbers in the kernel's list syntax (`0-3,8`).
pub fn format_cpu_list(set: &[u32]) -> String {
    let mut v = set.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let start = v[i];
        while i + 1 < v.len() && v[i + 1] == v[i] + 1 {
            i += 1;
        }
        out.push(if v[i] == start { start.to_string() } else { format!("{start}-{}", v[i]) });
        i += 1;
    }
    out.join(",")
}

/// Parses a libvirt cpuset (`0-3,^2,5`) for pinning: the host must have every CPU in it.
pub fn parse_pin_set(spec: &str, host_cpus: usize) -> Result<CpuSet, CgroupError> {
    let cpus = parse_cpuset(spec).map_err(CgroupError::InvalidTuning)?;
    if cpus.is_empty() {
        return Err(CgroupError::InvalidTuning(format!("cpuset '{spec}' selects no CPU")));
    }
    let mut set = CpuSet::new();
    for c in cpus {
        if c as usize >= host_cpus {
            return Err(CgroupError::InvalidTuning(format!(
                "cpuset '{spec}' names CPU {c}, but this host has CPUs 0-{}",
                host_cpus.saturating_sub(1)
            )));
        }
        set.set(c as usize).map_err(|_| {
            CgroupError::InvalidTuning(format!("CPU {c} in '{spec}' is beyond what sched_setaffinity supports"))
        })?;
    }
    Ok(set)
}

/// Which CPUs each thread should run on, from `<vcpupin>`, `<emulatorpin>` and `<vcpu cpuset>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PinPlan {
    /// vCPU id → cpuset spec.
    pub vcpus: BTreeMap<u32, String>,
    pub emulator: Option<String>,
}

impl PinPlan {
    pub fn from_domain(def: &Domain) -> PinPlan {
        let default = def.vcpu.as_ref().and_then(|v| v.cpuset.clone());
        let mut plan = PinPlan::default();
        let n = def.vcpus();
        let pins = def.cputune.as_ref().map(|c| c.vcpupins.as_slice()).unwrap_or_default();
        for id in 0..n {
            if let Some(spec) = pins.iter().find(|p| p.vcpu == id).map(|p| p.cpuset.clone()).or_else(|| default.clone())
            {
                plan.vcpus.insert(id, spec);
            }
        }
        plan.emulator = def.cputune.as_ref().and_then(|c| c.emulatorpin.as_ref()).map(|e| e.cpuset.clone()).or(default);
        plan
    }

    pub fn is_empty(&self) -> bool {
        self.vcpus.is_empty() && self.emulator.is_none()
    }

    /// Pins running threads of QEMU `pid`: vCPU threads (`(vcpu id, tid)`) to their sets, every
    /// other thread to the emulator set. Threads QEMU starts later inherit from their creator.
    pub fn apply(&self, pid: i32, vcpus: &[(u32, i32)], host_cpus: usize) -> Result<(), CgroupError> {
        for (id, tid) in vcpus {
            if let Some(spec) = self.vcpus.get(id) {
                let set = parse_pin_set(spec, host_cpus)?;
                setaffinity(*tid, &set, &format!("vCPU {id}"), spec)?;
            }
        }
        if let Some(spec) = &self.emulator {
            let set = parse_pin_set(spec, host_cpus)?;
            for tid in thread_ids(pid)? {
                if !vcpus.iter().any(|(_, t)| *t == tid) {
                    setaffinity(tid, &set, "emulator thread", spec)?;
                }
            }
        }
        Ok(())
    }
}

fn setaffinity(tid: i32, set: &CpuSet, what: &str, spec: &str) -> Result<(), CgroupError> {
    match sched_setaffinity(Pid::from_raw(tid), set) {
        // A worker thread that ended meanwhile needs no pinning.
        Err(nix::Error::ESRCH) => Ok(()),
        r => r.map_err(|source| CgroupError::Affinity { what: what.into(), tid, cpus: spec.into(), source }),
    }
}

/// The thread ids of process `pid`.
pub fn thread_ids(pid: i32) -> Result<Vec<i32>, CgroupError> {
    let rd = fs::read_dir(format!("/proc/{pid}/task")).map_err(|source| CgroupError::Threads { pid, source })?;
    let mut out: Vec<i32> = rd.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect();
    out.sort_unstable();
    Ok(out)
}

/// vCPU threads from a `query-cpus-fast` reply: `(cpu-index, thread-id)`.
pub fn vcpu_threads(reply: &serde_json::Value) -> Vec<(u32, i32)> {
    reply
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| {
                    let idx = c.get("cpu-index")?.as_u64()?;
                    let tid = c.get("thread-id")?.as_i64()?;
                    Some((u32::try_from(idx).ok()?, i32::try_from(tid).ok()?))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The cgroup directory name of a domain; `instance` distinguishes driver roots (embedded ones)
/// that may reuse ids and names.
pub fn scope_name(id: i32, name: &str, instance: Option<&str>) -> String {
    // Keep the directory name within NAME_MAX whatever the domain name is.
    let mut short: String = String::new();
    for ch in name.chars() {
        if short.len() + ch.len_utf8() > 200 {
            break;
        }
        short.push(ch);
    }
    match instance {
        Some(i) => format!("qemu-{id}-{}-{short}.oxvirt", fnv_hex(i)),
        None => format!("qemu-{id}-{short}.oxvirt"),
    }
}

fn fnv_hex(s: &str) -> String {
    format!("{:08x}", oxvirt_sysutil::fnv1a(s.as_bytes()) >> 32)
}

/// Everything cgroup-related a start does, with its timing.
#[derive(Debug)]
pub struct Setup {
    pub cgroup: Option<DomainCgroup>,
    pub elapsed: Duration,
}

/// Creates and fills the domain's cgroup, moves QEMU `pid` (stopped with `-S`) in, and pins its
/// threads. `vcpus` are the vCPU threads from `query-cpus-fast`. Without any tuning in the
/// definition and without a cgroup hierarchy, this does nothing (not an error).
pub fn setup(
    host: Option<&CgroupHost>,
    scope: &str,
    def: &Domain,
    pid: i32,
    vcpus: &[(u32, i32)],
) -> Result<Setup, CgroupError> {
    let started = Instant::now();
    let tuning = Tuning::from_domain(def)?;
    let pins = PinPlan::from_domain(def);
    check_threads(&tuning, &pins, vcpus)?;
    let mut cgroup = setup_process(host, scope, &tuning, pid)?;
    if let Err(e) = setup_threads(cgroup.as_mut(), &tuning, &pins, pid, vcpus) {
        if let Some(cg) = &cgroup {
            let _ = cg.remove();
        }
        return Err(e);
    }
    Ok(Setup { cgroup, elapsed: started.elapsed() })
}

/// The part that needs only QEMU's pid: the cgroup with the domain-wide limits, QEMU inside.
/// On failure nothing of it is left.
fn setup_process(
    host: Option<&CgroupHost>,
    scope: &str,
    tuning: &Tuning,
    pid: i32,
) -> Result<Option<DomainCgroup>, CgroupError> {
    match host {
        Some(h) => {
            let cg = h.create(scope)?;
            if let Err(e) = cg.apply(tuning).and_then(|()| cg.attach(pid)) {
                let _ = cg.remove();
                return Err(e);
            }
            Ok(Some(cg))
        }
        None if !tuning.is_empty() => Err(CgroupError::Unsupported {
            what: "resource tuning".into(),
            file: "/sys/fs/cgroup".into(),
            hint: " (no cgroup hierarchy)",
        }),
        None => Ok(None),
    }
}

/// Per-vCPU settings need a host thread per vCPU.
fn check_threads(tuning: &Tuning, pins: &PinPlan, vcpus: &[(u32, i32)]) -> Result<(), CgroupError> {
    let mut tids: Vec<i32> = vcpus.iter().map(|(_, t)| *t).collect();
    tids.sort_unstable();
    tids.dedup();
    if tids.len() != vcpus.len() && (tuning.per_thread() || !pins.vcpus.is_empty()) {
        return Err(CgroupError::InvalidTuning(
            "vCPUs share one host thread (single-threaded TCG), so per-vCPU pinning or quotas cannot apply".into(),
        ));
    }
    Ok(())
}

/// The part that needs QEMU's vCPU threads: per-vCPU cgroups and pinning.
fn setup_threads(
    cgroup: Option<&mut DomainCgroup>,
    tuning: &Tuning,
    pins: &PinPlan,
    pid: i32,
    vcpus: &[(u32, i32)],
) -> Result<(), CgroupError> {
    check_threads(tuning, pins, vcpus)?;
    if let Some(cg) = cgroup {
        if tuning.per_thread() {
            cg.place_threads(pid, vcpus, tuning)?;
        }
    }
    if !pins.is_empty() {
        let host_cpus = std::thread::available_parallelism().map_or(1, |n| n.get()).max(online_cpus());
        pins.apply(pid, vcpus, host_cpus)?;
    }
    Ok(())
}

/// Online CPUs of the host (the affinity mask of this process may be narrower).
fn online_cpus() -> usize {
    fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|s| parse_cpuset(s.trim()).ok())
        .and_then(|v| v.last().map(|m| *m as usize + 1))
        .unwrap_or(1)
}

pub fn store_record(path: &Path, cg: &DomainCgroup) -> io::Result<()> {
    let data = serde_json::to_vec(&Record { cgroup: cg.clone(), setup_micros: 0 }).map_err(io::Error::other)?;
    crate::fsutil::write_atomic(path, &data, 0o644)
}

/// Where real cgroups are; a record naming directories elsewhere is not acted on.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Whether a record's cgroup looks like one we create: `…/machine/qemu-….oxvirt` (absolute, no
/// `.`/`..`), thread children `emulator`/`vcpuN`, and (with `root`) every directory under `root`
/// on a cgroup filesystem. A record is a state file: it must not steer removals elsewhere.
fn record_shape_ok(cg: &DomainCgroup, root: Option<&Path>) -> Result<(), String> {
    use std::path::Component;
    for d in cg.dirs.values() {
        let plain = d.is_absolute() && d.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
        let scope = d.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let part = d.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()).unwrap_or("");
        if !plain || !scope.starts_with("qemu-") || !scope.ends_with(".oxvirt") || part != PARTITION {
            return Err(format!("{} is not a domain cgroup", d.display()));
        }
        if let Some(root) = root {
            if !d.starts_with(root) || (d.exists() && !is_cgroupfs(d)) {
                return Err(format!("{} is not under {} on a cgroup filesystem", d.display(), root.display()));
            }
        }
    }
    let child_ok = |c: &str| {
        c == "emulator"
            || c.strip_prefix("vcpu").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    if let Some(c) = cg.children.iter().find(|c| !child_ok(c)) {
        return Err(format!("thread cgroup {c:?} is not one of ours"));
    }
    Ok(())
}

/// Removes the cgroup a record names, then the record. Missing record: nothing to do. A record
/// that does not name a domain cgroup of the shape we create is removed without touching what it
/// names.
pub fn remove_recorded(path: &Path) -> Result<(), CgroupError> {
    remove_record(path, None)
}

fn remove_record(path: &Path, root: Option<&Path>) -> Result<(), CgroupError> {
    let Ok(data) = fs::read(path) else { return Ok(()) };
    if let Ok(rec) = serde_json::from_slice::<Record>(&data) {
        match record_shape_ok(&rec.cgroup, root) {
            Ok(()) => rec.cgroup.remove()?,
            Err(why) => tracing::error!("ignoring cgroup record {}: {why}", path.display()),
        }
    }
    let _ = fs::remove_file(path);
    Ok(())
}

/// The scope (last directory name) a record names, if it is of our shape.
pub fn recorded_scope(path: &Path) -> Option<String> {
    let rec: Record = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
    record_shape_ok(&rec.cgroup, None).ok()?;
    let d = rec.cgroup.dirs.values().next()?;
    d.file_name()?.to_str().map(str::to_string)
}

/// The instance tag of a root's scopes (see [`scope_name`]): `None` for the system root.
fn instance_of(layout: &crate::layout::Layout) -> Option<String> {
    (layout.run != crate::layout::Layout::system().run).then(|| layout.run.display().to_string())
}

/// Whether a scope directory name belongs to the root with `instance` (see [`scope_name`]).
fn scope_of_instance(scope: &str, instance: Option<&str>) -> bool {
    let Some(rest) = scope.strip_prefix("qemu-").and_then(|r| r.strip_suffix(".oxvirt")) else { return false };
    let Some((id, rest)) = rest.split_once('-') else { return false };
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let tagged = |r: &str| r.len() > 9 && r.as_bytes()[8] == b'-' && r[..8].bytes().all(|b| b.is_ascii_hexdigit());
    match instance {
        Some(i) => rest.strip_prefix(&fnv_hex(i)).is_some_and(|r| r.starts_with('-')),
        // The system root's scopes have no tag; one that looks tagged may be an embedded root's.
        None => !tagged(rest),
    }
}

/// Removes empty cgroups of this root's domains that no running domain records (domains that
/// are gone: a starter killed before its cleanup). Cgroups with processes are left alone (rmdir
/// refuses them). Call with the lock starts take held.
pub fn sweep(layout: &crate::layout::Layout, live: &std::collections::BTreeSet<String>) -> usize {
    let Ok(host) = CgroupHost::system() else { return 0 };
    let instance = instance_of(layout);
    let partitions: Vec<PathBuf> = match host.version {
        Version::V1 => host.own.iter().map(|(c, own)| join_cg(&host.root.join(c), own).join(PARTITION)).collect(),
        Version::V2 => {
            let own = host.own.get("").map(String::as_str).unwrap_or("/");
            let base_rel = if own == "/" { "/" } else { Path::new(own).parent().and_then(Path::to_str).unwrap_or("/") };
            vec![join_cg(&host.root, base_rel).join(PARTITION)]
        }
    };
    let mut removed = 0;
    for part in partitions {
        let Ok(rd) = fs::read_dir(&part) else { continue };
        for e in rd.flatten() {
            let Some(scope) = e.file_name().to_str().map(str::to_string) else { continue };
            if live.contains(&scope) || !scope_of_instance(&scope, instance.as_deref()) {
                continue;
            }
            let dir = e.path();
            if let Ok(kids) = fs::read_dir(&dir) {
                for k in kids.flatten() {
                    if k.file_type().is_ok_and(|t| t.is_dir()) {
                        let _ = fs::remove_dir(k.path());
                    }
                }
            }
            if fs::remove_dir(&dir).is_ok() {
                tracing::info!("removed cgroup {} of a domain that is gone", dir.display());
                removed += 1;
            }
        }
    }
    removed
}

/// What a start leaves in the run directory about its cgroup.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    cgroup: DomainCgroup,
    /// Time the cgroup work of the start took (create, write, attach, pin), for measurements.
    setup_micros: u64,
}

/// A start's cgroup work, decided before QEMU runs (so bad tuning fails before any side effect)
/// and carried out in two parts: [`StartPlan::attach`] while QEMU initialises, [`StartPlan::finish`]
/// once its vCPU threads exist.
pub struct StartPlan {
    name: String,
    host: Option<CgroupHost>,
    scope: String,
    tuning: Tuning,
    pins: PinPlan,
    record: PathBuf,
}

fn hook_err(name: &str, e: &dyn std::fmt::Display) -> oxvirt_api::Error {
    oxvirt_api::Error::operation_failed(format!("resource control for domain '{name}': {e}"))
        .in_domain(oxvirt_api::ErrorDomain::Qemu)
}

impl StartPlan {
    /// Also removes a cgroup left by an earlier run of the same domain. `undo` gets the removal of
    /// the cgroup this start creates, should the start fail (pushed before QEMU's kill, so it runs
    /// after QEMU is gone, when the cgroup can be removed).
    pub fn new(
        layout: &crate::layout::Layout,
        def: &Domain,
        undo: &mut oxvirt_sysutil::rollback::Rollback,
    ) -> oxvirt_api::Result<StartPlan> {
        let record = layout.cgroup_record(&def.name)?;
        if let Err(e) = remove_record(&record, Some(Path::new(CGROUP_ROOT))) {
            tracing::warn!("cgroup left by an earlier run of '{}' stays: {e}", def.name);
        }
        let tuning = Tuning::from_domain(def).map_err(|e| hook_err(&def.name, &e))?;
        let host = match CgroupHost::system() {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::debug!("no cgroups: {e}");
                None
            }
        };
        if host.is_none() && !tuning.is_empty() {
            let e = CgroupError::Unsupported {
                what: "resource tuning".into(),
                file: "/sys/fs/cgroup".into(),
                hint: " (no cgroup hierarchy)",
            };
            return Err(hook_err(&def.name, &e));
        }
        let instance = instance_of(layout);
        let scope = scope_name(def.id.unwrap_or(0), &def.name, instance.as_deref());
        let rec = record.clone();
        undo.push(format!("removing the cgroup of domain '{}'", def.name), move || {
            remove_record(&rec, Some(Path::new(CGROUP_ROOT))).map_err(|e| e.to_string())
        });
        Ok(StartPlan { name: def.name.clone(), host, scope, tuning, pins: PinPlan::from_domain(def), record })
    }

    /// Creates the cgroup, writes the domain-wide limits, moves QEMU `pid` in and records the
    /// cgroup (for a failed start's rollback and for whoever sees the domain stop). Runs while QEMU
    /// initialises: the first write to a v1 `cgroup.procs` waits for an RCU grace period, which
    /// then overlaps QEMU's own start-up instead of adding to it.
    pub fn attach(&self, pid: i32) -> Result<Option<(DomainCgroup, Duration)>, CgroupError> {
        let started = Instant::now();
        let Some(cg) = setup_process(self.host.as_ref(), &self.scope, &self.tuning, pid)? else { return Ok(None) };
        let elapsed = started.elapsed();
        let rec = Record { cgroup: cg.clone(), setup_micros: elapsed.as_micros() as u64 };
        let stored = serde_json::to_vec(&rec)
            .map_err(io::Error::other)
            .and_then(|data| crate::fsutil::write_atomic(&self.record, &data, 0o644));
        if let Err(source) = stored {
            let _ = cg.remove();
            return Err(CgroupError::StoreRecord { path: self.record.clone(), source });
        }
        Ok(Some((cg, elapsed)))
    }

    /// After QMP answered (QEMU still stopped with `-S`): per-vCPU cgroups and pinning.
    /// `attached` is what [`StartPlan::attach`] returned.
    pub fn finish(
        self,
        attached: Result<Option<(DomainCgroup, Duration)>, CgroupError>,
        pid: i32,
        qmp: &mut oxvirt_qmp::Qmp,
    ) -> oxvirt_api::Result<()> {
        let name = self.name.clone();
        let mut attached = attached.map_err(|e| hook_err(&name, &e))?;
        let started = Instant::now();
        let vcpus = qmp.execute("query-cpus-fast", None).map(|v| vcpu_threads(&v)).map_err(|e| hook_err(&name, &e))?;
        let placed = setup_threads(attached.as_mut().map(|(cg, _)| cg), &self.tuning, &self.pins, pid, &vcpus);
        if let Some((cg, early)) = attached {
            if !cg.children.is_empty() {
                // Thread children exist now (even if placing failed half-way): the record must
                // name them, or a failed start's rollback could not remove the cgroup.
                let rec = Record { cgroup: cg, setup_micros: (early + started.elapsed()).as_micros() as u64 };
                let data = serde_json::to_vec(&rec).map_err(|e| hook_err(&name, &e))?;
                crate::fsutil::write_atomic(&self.record, &data, 0o644).map_err(|e| hook_err(&name, &e))?;
            }
            tracing::info!(
                "cgroup setup of '{name}' took {:?} while QEMU started, {:?} after",
                early,
                started.elapsed()
            );
        }
        placed.map_err(|e| hook_err(&name, &e))
    }
}

/// The driver's hook when a domain stopped: removes the cgroup its `record` names (QEMU must be
/// gone), if the record names one of ours under /sys/fs/cgroup.
pub fn stop_hook(record: &Path) {
    if let Err(e) = remove_record(record, Some(Path::new(CGROUP_ROOT))) {
        tracing::warn!("removing the cgroup recorded in {}: {e}", record.display());
    }
}

#[cfg(test)]
mod tests;
