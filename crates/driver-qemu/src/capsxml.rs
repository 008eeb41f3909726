//! The capabilities documents of the QEMU driver: `virsh capabilities` (host plus one guest per
//! emulated architecture) and `virsh domcapabilities` (what one emulator/machine/virt type offers).
//!
//! Clients pick the virtualization type from these documents (virt-install uses `kvm` wherever a
//! guest lists it), so `<domain type='kvm'/>` and KVM-only CPU modes appear only where KVM really
//! runs guests ([`KvmUsability`]), not merely where `/dev/kvm` exists.

use std::path::{Path, PathBuf};

use oxvirt_host::details::{CpuInfo, HostDetails};
use oxvirt_xml::capabilities as cx;
use oxvirt_xml::{OnOff, XmlDocument, YesNo};

use crate::caps::{KvmUsability, QemuCaps};

pub use crate::command::{FirmwarePaths, DEFAULT_OVMF_DIR};

/// What the host contributes to `virsh capabilities` besides the emulators.
#[derive(Debug, Clone, PartialEq)]
pub struct HostInfo {
    pub details: HostDetails,
    /// The DAC base label QEMU processes run with (`+UID:+GID`).
    pub dac_label: String,
}

impl HostInfo {
    /// This host, with QEMU running under the caller's own identity.
    pub fn current() -> HostInfo {
        HostInfo {
            details: oxvirt_host::host_details(),
            dac_label: format!("+{}:+{}", nix::unistd::getuid(), nix::unistd::getgid()),
        }
    }
}

/// One `<guest>`: an emulator binary and the architecture it is listed for.
#[derive(Debug, Clone, Copy)]
pub struct GuestEmulator<'a> {
    /// libvirt's name for the guest architecture (`i686`, not QEMU's `i386`).
    pub arch: &'a str,
    pub emulator: &'a Path,
    pub caps: &'a QemuCaps,
}

/// libvirt's architecture names for a QEMU target (`query-target`), primary first.
pub fn guest_arches(qemu_target: &str) -> &'static [&'static str] {
    match qemu_target {
        "i386" => &["i686"],
        "x86_64" => &["x86_64"],
        "arm" => &["armv7l", "armv6l"],
        "aarch64" => &["aarch64"],
        "ppc64" => &["ppc64", "ppc64le"],
        "ppc" => &["ppc"],
        "s390x" => &["s390x"],
        "riscv32" => &["riscv32"],
        "riscv64" => &["riscv64"],
        "mips" => &["mips"],
        "mipsel" => &["mipsel"],
        "mips64" => &["mips64"],
        "mips64el" => &["mips64el"],
        "sparc" => &["sparc"],
        "sparc64" => &["sparc64"],
        "loongarch64" => &["loongarch64"],
        "m68k" => &["m68k"],
        "microblaze" => &["microblaze"],
        "microblazeel" => &["microblazeel"],
        "alpha" => &["alpha"],
        "sh4" => &["sh4"],
        "sh4eb" => &["sh4eb"],
        "xtensa" => &["xtensa"],
        "xtensaeb" => &["xtensaeb"],
        "or1k" => &["or32"],
        _ => &[],
    }
}

fn wordsize(arch: &str) -> u32 {
    match arch {
        "x86_64" | "aarch64" | "ppc64" | "ppc64le" | "s390x" | "riscv64" | "mips64" | "mips64el" | "sparc64"
        | "loongarch64" | "alpha" => 64,
        _ => 32,
    }
}

/// Whether KVM on a `host` machine can run `guest` code natively.
fn kvm_native(host: &str, guest: &str) -> bool {
    match host {
        "x86_64" => matches!(guest, "x86_64" | "i686"),
        "aarch64" => guest == "aarch64",
        "ppc64" | "ppc64le" | "powerpc64" => matches!(guest, "ppc64" | "ppc64le"),
        _ => host == guest,
    }
}

/// The `qemu-system-*` binaries in `dirs` (first hit per target wins, like `$PATH`), as
/// (guest arch, binary) pairs in libvirt's order; a missing `qemu-system-i386` is stood in for
/// by `qemu-system-x86_64`, which runs 32-bit guests too.
pub fn installed_emulators(dirs: &[PathBuf]) -> Vec<(String, PathBuf)> {
    const TARGETS: &[&str] = &[
        "i386",
        "x86_64",
        "arm",
        "aarch64",
        "alpha",
        "loongarch64",
        "m68k",
        "microblaze",
        "microblazeel",
        "mips",
        "mipsel",
        "mips64",
        "mips64el",
        "or1k",
        "ppc",
        "ppc64",
        "riscv32",
        "riscv64",
        "s390x",
        "sh4",
        "sh4eb",
        "sparc",
        "sparc64",
        "xtensa",
        "xtensaeb",
    ];
    let find = |t: &str| dirs.iter().map(|d| d.join(format!("qemu-system-{t}"))).find(|p| p.is_file());
    let mut out = Vec::new();
    for t in TARGETS {
        let bin = match (*t, find(t)) {
            (_, Some(b)) => b,
            ("i386", None) => match find("x86_64") {
                Some(b) => b,
                None => continue,
            },
            _ => continue,
        };
        for arch in guest_arches(t) {
            out.push(((*arch).to_owned(), bin.clone()));
        }
    }
    out
}

/// `virsh capabilities` for one emulator, listed under its primary guest architecture.
pub fn capabilities_xml(caps: &QemuCaps, emulator: &Path, kvm: &KvmUsability, host: &HostInfo) -> String {
    let arch = guest_arches(&caps.arch).first().copied().unwrap_or(caps.arch.as_str());
    capabilities_xml_for(&[GuestEmulator { arch, emulator, caps }], kvm, host)
}

/// `virsh capabilities` for all installed emulators.
pub fn capabilities_xml_for(guests: &[GuestEmulator<'_>], kvm: &KvmUsability, host: &HostInfo) -> String {
    capabilities(guests, kvm, host).to_xml_string()
}

pub fn capabilities(guests: &[GuestEmulator<'_>], kvm: &KvmUsability, host: &HostInfo) -> cx::Capabilities {
    let known_models: Vec<&str> = guests
        .iter()
        .find(|g| g.arch == host.details.arch)
        .map(|g| g.caps.cpu_models.iter().map(|m| m.name.as_str()).collect())
        .unwrap_or_default();
    cx::Capabilities {
        host: host_caps(host, &known_models),
        guests: guests.iter().map(|g| guest_caps(g, kvm, &host.details.arch)).collect(),
    }
}

fn host_caps(host: &HostInfo, known_models: &[&str]) -> cx::Host {
    let d = &host.details;
    let c = &d.cpu;
    let valid_feature =
        |f: &&String| !f.is_empty() && f.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
    let cpu = cx::HostCpu {
        arch: d.arch.clone(),
        model: host_cpu_model(c, known_models),
        vendor: c.vendor().map(str::to_owned),
        microcode: c.microcode.filter(|v| *v > 0).map(|version| cx::Microcode { version }),
        signature: (c.family > 0).then_some(cx::CpuSignature {
            family: c.family,
            model: c.model,
            stepping: c.stepping,
        }),
        topology: Some(cx::CpuTopology {
            sockets: d.topology.sockets,
            dies: Some(d.topology.dies),
            cores: d.topology.cores,
            threads: d.topology.threads,
        }),
        maxphysaddr: c.phys_bits.map(|bits| cx::MaxPhysAddr { mode: cx::MaxPhysAddrMode::Emulate, bits: Some(bits) }),
        feature: c.flags.iter().filter(valid_feature).map(|name| cx::NamedFeature { name: name.clone() }).collect(),
        pages: d
            .page_sizes_kib
            .iter()
            .map(|s| cx::PageSize { unit: Some("KiB".into()), size: *s, count: None })
            .collect(),
        ..Default::default()
    };
    let cells = d
        .cells
        .iter()
        .map(|cell| cx::Cell {
            id: cell.id,
            memory: Some(cx::SizedValue { unit: Some("KiB".into()), value: cell.memory_kib }),
            pages: cell
                .pages
                .iter()
                .map(|(size, n)| cx::PageSize { unit: Some("KiB".into()), size: *size, count: Some(*n) })
                .collect(),
            distances: (!cell.distances.is_empty()).then(|| cx::Distances {
                siblings: cell.distances.iter().map(|(id, value)| cx::Sibling { id: *id, value: *value }).collect(),
            }),
            caches: Vec::new(),
            cpus: Some(cx::CellCpus {
                num: cell.cpus.len() as u32,
                cpus: cell
                    .cpus
                    .iter()
                    .map(|p| cx::CellCpu {
                        id: p.id,
                        socket_id: Some(p.socket_id),
                        die_id: Some(p.die_id),
                        core_id: Some(p.core_id),
                        siblings: Some(p.siblings.clone()),
                    })
                    .collect(),
            }),
        })
        .collect::<Vec<_>>();
    let banks: Vec<cx::CacheBank> = d
        .caches
        .iter()
        .map(|b| {
            let (size, unit) = scaled(b.size_kib);
            cx::CacheBank {
                id: b.id,
                level: b.level,
                kind: match b.kind.as_str() {
                    "code" => cx::CacheType::Code,
                    "data" => cx::CacheType::Data,
                    _ => cx::CacheType::Both,
                },
                size,
                unit: unit.into(),
                cpus: b.cpus.clone(),
                controls: Vec::new(),
            }
        })
        .collect();
    let labels = |label: &str| {
        ["kvm", "qemu"].iter().map(|t| cx::BaseLabel { kind: (*t).into(), label: label.into() }).collect()
    };
    cx::Host {
        uuid: d.uuid.as_deref().and_then(|u| uuid::Uuid::parse_str(u).ok()),
        cpu,
        power_management: Some(cx::PowerManagement {
            suspend_mem: d.suspend_mem,
            suspend_disk: d.suspend_disk,
            suspend_hybrid: d.suspend_mem && d.suspend_disk,
        }),
        iommu: Some(cx::Iommu { support: Some(if d.iommu { YesNo::Yes } else { YesNo::No }) }),
        // The driver cannot migrate guests between hosts (yet), so it claims no transports.
        migration_features: Some(cx::MigrationFeatures::default()),
        topology: Some(cx::HostTopology { cells: cx::Cells { num: cells.len() as u32, cells }, interconnects: None }),
        cache: (!banks.is_empty()).then_some(cx::HostCache { banks, monitor: None }),
        memory_bandwidth: None,
        secmodels: vec![
            cx::SecModel { model: "none".into(), doi: "0".into(), baselabels: Vec::new() },
            cx::SecModel { model: "dac".into(), doi: "0".into(), baselabels: labels(&host.dac_label) },
        ],
    }
}

/// The largest binary unit that expresses `kib` exactly, as libvirt prints cache sizes.
fn scaled(kib: u64) -> (u64, &'static str) {
    if kib >= 1024 * 1024 && kib % (1024 * 1024) == 0 {
        (kib / (1024 * 1024), "GiB")
    } else if kib >= 1024 && kib % 1024 == 0 {
        (kib / 1024, "MiB")
    } else {
        (kib, "KiB")
    }
}

fn guest_caps(g: &GuestEmulator<'_>, kvm: &KvmUsability, host_arch: &str) -> cx::Guest {
    let x86 = matches!(g.arch, "x86_64" | "i686");
    let toggle =
        |default: OnOff, toggle: YesNo| Some(cx::GuestFeature { default: Some(default), toggle: Some(toggle) });
    let plain = || Some(cx::GuestFeature::default());
    let mut domains = vec![cx::GuestDomain { kind: "qemu".into(), ..Default::default() }];
    if kvm.usable() && g.caps.kvm.present && kvm_native(host_arch, g.arch) {
        domains.push(cx::GuestDomain { kind: "kvm".into(), ..Default::default() });
    }
    cx::Guest {
        os_type: "hvm".into(),
        arch: cx::GuestArch {
            name: g.arch.to_owned(),
            wordsize: Some(wordsize(g.arch)),
            emulator: Some(g.emulator.display().to_string()),
            loader: None,
            machines: guest_machines(g.caps),
            domains,
        },
        features: Some(cx::GuestFeatures {
            pae: (g.arch == "i686").then(cx::GuestFeature::default),
            nonpae: (g.arch == "i686").then(cx::GuestFeature::default),
            acpi: if x86 || g.arch == "aarch64" { toggle(OnOff::On, YesNo::Yes) } else { None },
            apic: if x86 { toggle(OnOff::On, YesNo::No) } else { None },
            cpuselection: plain(),
            deviceboot: plain(),
            disksnapshot: toggle(OnOff::On, YesNo::No),
            ..Default::default()
        }),
    }
}

/// Every machine type under its own name, plus each alias pointing at its canonical type; the
/// default machine first, since clients that take the first entry should get QEMU's default.
fn guest_machines(caps: &QemuCaps) -> Vec<cx::Machine> {
    let mut ms: Vec<&crate::caps::Machine> = caps.machines.iter().collect();
    ms.sort_by_key(|m| !m.is_default);
    let mut out = Vec::new();
    for m in ms {
        let max_cpus = (m.cpu_max > 0).then_some(m.cpu_max);
        let deprecated = m.deprecated.then_some(YesNo::Yes);
        out.push(cx::Machine { canonical: None, max_cpus, deprecated, name: m.name.clone() });
        if let Some(alias) = &m.alias {
            out.push(cx::Machine { canonical: Some(m.name.clone()), max_cpus, deprecated, name: alias.clone() });
        }
    }
    out
}

/// A QEMU CPU model name for the host CPU, from its vendor, family and model numbers: the newest
/// candidate the emulator knows (`known`; any candidate when empty), preferring the `-noTSX`
/// variant on Intel CPUs without TSX, as those models would otherwise not run.
pub fn host_cpu_model(c: &CpuInfo, known: &[&str]) -> Option<String> {
    let (f, m) = (c.family, c.model);
    let candidates: &[&str] = match c.vendor()? {
        "AMD" => match f {
            0x1a => &["EPYC-Turin", "EPYC-Genoa", "EPYC-Milan", "EPYC-Rome", "EPYC"],
            0x19 if matches!(m, 0x10..=0x1f | 0xa0..=0xaf) => &["EPYC-Genoa", "EPYC-Milan", "EPYC-Rome", "EPYC"],
            0x19 => &["EPYC-Milan", "EPYC-Rome", "EPYC"],
            0x17 if m >= 0x30 => &["EPYC-Rome", "EPYC"],
            0x17 => &["EPYC"],
            0x15 if m >= 0x02 => &["Opteron_G5", "Opteron_G4"],
            0x15 => &["Opteron_G4"],
            0x10 => &["Opteron_G3"],
            0x0f => &["Opteron_G2"],
            _ => &[],
        },
        "Hygon" => &["Dhyana", "EPYC"],
        "Intel" if f == 6 => match m {
            0xad | 0xae => {
                &["GraniteRapids", "SapphireRapids", "Icelake-Server", "Cascadelake-Server", "Skylake-Server"]
            }
            0xaf => &["SierraForest", "Snowridge"],
            0x8f | 0xcf => &["SapphireRapids", "Icelake-Server", "Cascadelake-Server", "Skylake-Server"],
            0x6a | 0x6c => &["Icelake-Server", "Cascadelake-Server", "Skylake-Server"],
            0x55 if c.stepping >= 10 => &["Cooperlake", "Cascadelake-Server", "Skylake-Server"],
            0x55 if c.stepping >= 5 => &["Cascadelake-Server", "Skylake-Server"],
            0x55 => &["Skylake-Server"],
            0x7d | 0x7e | 0x8c | 0x8d | 0xa7 => &["Icelake-Client", "Skylake-Client"],
            0x4e | 0x5e | 0x8e | 0x9e | 0xa5 | 0xa6 | 0x97 | 0x9a | 0xb7 | 0xba | 0xbf => &["Skylake-Client"],
            0x3d | 0x47 | 0x4f | 0x56 => &["Broadwell", "Haswell"],
            0x3c | 0x3f | 0x45 | 0x46 => &["Haswell"],
            0x3a | 0x3e => &["IvyBridge"],
            0x2a | 0x2d => &["SandyBridge"],
            0x25 | 0x2c | 0x2f => &["Westmere"],
            0x1a | 0x1e | 0x1f | 0x2e => &["Nehalem"],
            0x17 | 0x1d => &["Penryn"],
            0x0f | 0x16 => &["Conroe"],
            0x5f => &["Denverton"],
            0x86 => &["Snowridge"],
            _ => &[],
        },
        _ => &[],
    };
    let known_or_any = |n: &str| known.is_empty() || known.contains(&n);
    let no_tsx = !c.flags.contains("rtm");
    candidates.iter().find(|n| known_or_any(n)).map(|n| {
        let variant = format!("{n}-noTSX");
        if no_tsx && known.contains(&variant.as_str()) {
            variant
        } else {
            (*n).to_owned()
        }
    })
}

/// The vendor of a QEMU CPU model, as domain capabilities report it (`unknown` for generic ones).
fn cpu_model_vendor(name: &str) -> &'static str {
    const INTEL: &[&str] = &[
        "Conroe",
        "Penryn",
        "Nehalem",
        "Westmere",
        "SandyBridge",
        "IvyBridge",
        "Haswell",
        "Broadwell",
        "Skylake",
        "Cascadelake",
        "Cooperlake",
        "Icelake",
        "SapphireRapids",
        "GraniteRapids",
        "SierraForest",
        "ClearwaterForest",
        "Snowridge",
        "Denverton",
        "KnightsMill",
        "core2duo",
        "coreduo",
        "n270",
    ];
    const AMD: &[&str] = &["Opteron", "EPYC", "phenom", "athlon"];
    if INTEL.iter().any(|p| name.starts_with(p)) {
        "Intel"
    } else if AMD.iter().any(|p| name.starts_with(p)) {
        "AMD"
    } else if name.starts_with("Dhyana") {
        "Hygon"
    } else {
        "unknown"
    }
}

/// Inputs of `virsh domcapabilities` that do not come from the emulator.
#[derive(Debug, Clone)]
pub struct DomCapsEnv<'a> {
    pub kvm: &'a KvmUsability,
    pub host: &'a HostDetails,
    /// The OVMF images the command builder boots UEFI guests with; advertised only if present.
    pub firmware: FirmwarePaths,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DomCapsError {
    #[error("virttype '{0}' is not supported by the QEMU driver; use 'qemu' (TCG emulation) or 'kvm'")]
    VirtType(String),
    #[error("virttype 'kvm' is not usable on this host: {reason}; use virttype 'qemu' (TCG emulation)")]
    KvmUnusable { reason: String },
    #[error("emulator {emulator} is built without KVM support; use virttype 'qemu'")]
    EmulatorWithoutKvm { emulator: String },
    #[error("emulator {emulator} runs '{target}' guests, not architecture '{arch}'")]
    Arch { emulator: String, target: String, arch: String },
    #[error("machine type '{machine}' is not supported by emulator {emulator}")]
    Machine { machine: String, emulator: String },
    #[error("emulator {emulator} has no default machine type; name one with --machine")]
    DefaultMachine { emulator: String },
}

/// `virsh domcapabilities` for `emulator`: `arch` defaults to the emulator's, `machine` to its
/// default machine type; `virttype` is `qemu` or `kvm`, the latter refused where KVM does not work.
pub fn domain_capabilities_xml(
    caps: &QemuCaps,
    emulator: &Path,
    arch: Option<&str>,
    machine: Option<&str>,
    virttype: &str,
    env: &DomCapsEnv<'_>,
) -> Result<String, DomCapsError> {
    domain_capabilities(caps, emulator, arch, machine, virttype, env).map(|d| d.to_xml_string())
}

pub fn domain_capabilities(
    caps: &QemuCaps,
    emulator: &Path,
    arch: Option<&str>,
    machine: Option<&str>,
    virttype: &str,
    env: &DomCapsEnv<'_>,
) -> Result<cx::DomainCapabilities, DomCapsError> {
    let emu = emulator.display().to_string();
    let kvm = match virttype {
        "qemu" => false,
        "kvm" => true,
        other => return Err(DomCapsError::VirtType(other.to_owned())),
    };
    if kvm && !caps.kvm.present {
        return Err(DomCapsError::EmulatorWithoutKvm { emulator: emu });
    }
    if kvm && !env.kvm.usable() {
        return Err(DomCapsError::KvmUnusable { reason: env.kvm.reason.clone() });
    }
    let arches = guest_arches(&caps.arch);
    let arch = match arch {
        None => arches.first().copied().unwrap_or(caps.arch.as_str()).to_owned(),
        Some(a) if arches.contains(&a) || (caps.arch == "x86_64" && a == "i686") => a.to_owned(),
        Some(a) => return Err(DomCapsError::Arch { emulator: emu, target: caps.arch.clone(), arch: a.to_owned() }),
    };
    if kvm && !kvm_native(&env.host.arch, &arch) {
        return Err(DomCapsError::KvmUnusable {
            reason: format!("KVM on this {} host cannot run {arch} guests", env.host.arch),
        });
    }
    let m = match machine {
        Some(name) => caps
            .machine(name)
            .ok_or_else(|| DomCapsError::Machine { machine: name.to_owned(), emulator: emu.clone() })?,
        None => caps.default_machine().ok_or(DomCapsError::DefaultMachine { emulator: emu.clone() })?,
    };
    let x86 = matches!(arch.as_str(), "x86_64" | "i686");
    let q35 = m.name.starts_with("pc-q35") || m.name == "q35";
    let yes = |b: bool| if b { YesNo::Yes } else { YesNo::No };
    let en = |name: &str, values: Vec<&str>| cx::Enum {
        name: name.to_owned(),
        values: values.into_iter().map(str::to_owned).collect(),
    };
    let pick = |list: &[(&'static str, bool)]| -> Vec<&'static str> {
        list.iter().filter(|(_, ok)| *ok).map(|(v, _)| *v).collect()
    };
    let dev = |n: &str| caps.has_device(n);
    let on_off = || en_values(&["on", "off"]);

    // Firmware: BIOS on x86 always; UEFI where the driver's OVMF images are installed.
    let fw = &env.firmware;
    let efi = arch == "x86_64" && fw.code.is_file() && fw.vars.is_file();
    // Secure boot needs SMM, which only q35 offers.
    let secure = efi && q35 && fw.secure_code.is_file() && fw.secure_vars.is_file();
    let mut loaders = Vec::new();
    if efi {
        loaders.push(fw.code.display().to_string());
        if secure {
            loaders.push(fw.secure_code.display().to_string());
        }
    }
    let os = cx::OsCaps {
        supported: YesNo::Yes,
        enums: vec![en("firmware", pick(&[("bios", x86), ("efi", efi)]))],
        loader: Some(cx::LoaderCaps {
            supported: YesNo::Yes,
            values: loaders,
            enums: vec![
                en("type", pick(&[("rom", true), ("pflash", efi)])),
                en("readonly", vec!["yes", "no"]),
                en("secure", pick(&[("yes", secure), ("no", true)])),
            ],
        }),
    };

    // CPU: the emulator's models are usable as probed only under the accelerator they were
    // probed with; under the other one QEMU has not said.
    let usable_known = kvm == caps.kvm.enabled;
    let custom_models: Vec<cx::CpuModelCaps> = caps
        .cpu_models
        .iter()
        .filter(|c| !matches!(c.name.as_str(), "host" | "max" | "base") && !is_versioned(&c.name))
        .map(|c| cx::CpuModelCaps {
            usable: Some(match (usable_known, c.unavailable_features.is_empty()) {
                (false, _) => cx::Usable::Unknown,
                (true, true) => cx::Usable::Yes,
                (true, false) => cx::Usable::No,
            }),
            deprecated: c.deprecated.then_some(YesNo::Yes),
            vendor: Some(cpu_model_vendor(&c.name).to_owned()),
            name: c.name.clone(),
            ..Default::default()
        })
        .collect();
    let known: Vec<&str> = caps.cpu_models.iter().map(|c| c.name.as_str()).collect();
    let host_model = if kvm {
        let model = host_cpu_model(&env.host.cpu, &known);
        cx::CpuModeCaps {
            name: "host-model".into(),
            supported: YesNo::Yes,
            vendor: model.as_ref().and(env.host.cpu.vendor().map(str::to_owned)),
            models: model
                .into_iter()
                .map(|name| cx::CpuModelCaps { fallback: Some(cx::CpuFallback::Forbid), name, ..Default::default() })
                .collect(),
            ..Default::default()
        }
    } else {
        // Under TCG the driver runs host-model as QEMU's `max` CPU; there is no host CPU to copy.
        cx::CpuModeCaps { name: "host-model".into(), supported: yes(x86), ..Default::default() }
    };
    let cpu = cx::CpuCaps {
        modes: vec![
            cx::CpuModeCaps {
                name: "host-passthrough".into(),
                supported: yes(kvm),
                enums: if kvm { vec![en_named("hostPassthroughMigratable", on_off())] } else { Vec::new() },
                ..Default::default()
            },
            cx::CpuModeCaps {
                name: "maximum".into(),
                supported: YesNo::Yes,
                enums: vec![en_named("maximumMigratable", on_off())],
                ..Default::default()
            },
            host_model,
            cx::CpuModeCaps {
                name: "custom".into(),
                supported: yes(!custom_models.is_empty()),
                models: custom_models,
                ..Default::default()
            },
        ],
    };

    let memory_backing = cx::EnumCaps {
        supported: YesNo::Yes,
        enums: vec![en(
            "sourceType",
            pick(&[
                ("file", caps.has_type("memory-backend-file")),
                ("anonymous", true),
                ("memfd", caps.has_type("memory-backend-memfd")),
            ]),
        )],
    };
    let enum_caps = |enums: Vec<cx::Enum>, supported: bool| cx::EnumCaps { supported: yes(supported), enums };
    let transitional = |base: &str| {
        pick(&[
            ("virtio", dev(&format!("{base}-pci"))),
            ("virtio-transitional", dev(&format!("{base}-pci-transitional"))),
            ("virtio-non-transitional", dev(&format!("{base}-pci-non-transitional"))),
        ])
    };
    let disk_bus = pick(&[
        // q35 has no IDE bus (its disks go on the AHCI controller, bus 'sata').
        ("ide", dev("ide-hd") && !q35),
        ("fdc", dev("isa-fdc") || dev("floppy")),
        ("scsi", dev("scsi-hd")),
        ("virtio", dev("virtio-blk-pci")),
        ("usb", dev("usb-storage")),
        ("sata", dev("ich9-ahci") || dev("ahci")),
    ]);
    let disk = enum_caps(
        vec![
            en(
                "diskDevice",
                pick(&[
                    ("disk", true),
                    ("cdrom", dev("ide-cd") || dev("scsi-cd")),
                    ("floppy", dev("floppy")),
                    ("lun", dev("scsi-block")),
                ]),
            ),
            en("bus", disk_bus),
            en("model", transitional("virtio-blk")),
        ],
        true,
    );
    let graphics_types = pick(&[
        ("sdl", false),
        ("vnc", caps.has_command("query-vnc")),
        ("spice", caps.has_command("query-spice") && caps.has_type("chardev-spicevmc")),
        ("egl-headless", caps.has_type("egl-headless")),
        ("dbus", caps.has_type("dbus-display")),
    ]);
    let graphics = enum_caps(vec![en("type", graphics_types.clone())], !graphics_types.is_empty());
    let video = enum_caps(
        vec![en(
            "modelType",
            pick(&[
                ("vga", dev("VGA")),
                ("cirrus", dev("cirrus-vga")),
                ("vmvga", dev("vmware-svga")),
                ("qxl", dev("qxl-vga")),
                ("virtio", dev("virtio-vga") || dev("virtio-gpu-pci")),
                ("none", true),
                ("bochs", dev("bochs-display")),
                ("ramfb", dev("ramfb")),
            ]),
        )],
        true,
    );
    let subsys = pick(&[("usb", dev("usb-host")), ("pci", dev("vfio-pci")), ("scsi", dev("scsi-generic"))]);
    let hostdev = enum_caps(
        vec![
            en("mode", vec!["subsystem"]),
            en("startupPolicy", vec!["default", "mandatory", "requisite", "optional"]),
            en("subsysType", subsys.clone()),
            en("capsType", Vec::new()),
            en("pciBackend", pick(&[("default", true), ("vfio", dev("vfio-pci"))])),
        ],
        !subsys.is_empty(),
    );
    let rng_models = transitional("virtio-rng");
    let rng = enum_caps(
        vec![
            en("model", rng_models.clone()),
            en(
                "backendModel",
                pick(&[
                    ("random", caps.has_type("rng-random")),
                    ("egd", caps.has_type("rng-egd")),
                    ("builtin", caps.has_type("rng-builtin")),
                ]),
            ),
        ],
        !rng_models.is_empty(),
    );
    let fs_types = pick(&[("path", dev("virtio-9p-pci")), ("virtiofs", dev("vhost-user-fs-pci"))]);
    let filesystem = enum_caps(vec![en("driverType", fs_types.clone())], !fs_types.is_empty());
    let tpm_models = pick(&[("tpm-tis", dev("tpm-tis")), ("tpm-crb", dev("tpm-crb")), ("tpm-spapr", dev("tpm-spapr"))]);
    let tpm_emulator = caps.has_type("tpm-emulator");
    let tpm = enum_caps(
        vec![
            en("model", tpm_models.clone()),
            en(
                "backendModel",
                pick(&[
                    ("passthrough", caps.has_type("tpm-passthrough")),
                    ("emulator", tpm_emulator),
                    ("external", tpm_emulator),
                ]),
            ),
            en("backendVersion", pick(&[("2.0", tpm_emulator)])),
        ],
        !tpm_models.is_empty(),
    );
    let redirdev = enum_caps(vec![en("bus", pick(&[("usb", dev("usb-redir"))]))], dev("usb-redir"));
    let channel = enum_caps(
        vec![en("type", pick(&[("pty", true), ("unix", true), ("spicevmc", caps.has_type("chardev-spicevmc"))]))],
        true,
    );

    let supported = |b: bool| Some(cx::Supported { supported: yes(b) });
    let arm = arch == "aarch64" || arch.starts_with("arm");
    let features = cx::FeatureCaps {
        gic: Some(if arm && m.name.starts_with("virt") {
            enum_caps(vec![en("version", vec!["2", "3"])], true)
        } else {
            enum_caps(Vec::new(), false)
        }),
        vmcoreinfo: supported(dev("vmcoreinfo")),
        genid: supported(dev("vmgenid")),
        backing_store_input: supported(caps.has_command("blockdev-add") || caps.commands.is_empty()),
        // Incremental backup is a driver API oxvirt does not offer.
        backup: supported(false),
        sev: Some(cx::SevCaps { supported: YesNo::No, ..Default::default() }),
        sgx: Some(cx::SgxCaps { supported: YesNo::No, ..Default::default() }),
        hyperv: x86.then(|| {
            if kvm {
                enum_caps(
                    vec![en(
                        "features",
                        vec![
                            "relaxed",
                            "vapic",
                            "spinlocks",
                            "vpindex",
                            "runtime",
                            "synic",
                            "stimer",
                            "reset",
                            "vendor_id",
                            "frequencies",
                            "reenlightenment",
                            "tlbflush",
                            "ipi",
                            "evmcs",
                            "avic",
                        ],
                    )],
                    true,
                )
            } else {
                enum_caps(Vec::new(), false)
            }
        }),
        ..Default::default()
    };

    Ok(cx::DomainCapabilities {
        path: emu,
        domain: virttype.to_owned(),
        machine: Some(m.name.clone()),
        arch,
        vcpu: Some(cx::VcpuCaps { max: m.cpu_max.max(1) }),
        iothreads: Some(cx::Supported { supported: yes(caps.has_type("iothread")) }),
        os: Some(os),
        cpu: Some(cpu),
        memory_backing: Some(memory_backing),
        devices: Some(cx::DeviceCaps {
            disk: Some(disk),
            graphics: Some(graphics),
            video: Some(video),
            hostdev: Some(hostdev),
            rng: Some(rng),
            filesystem: Some(filesystem),
            tpm: Some(tpm),
            redirdev: Some(redirdev),
            channel: Some(channel),
            // libvirt 9.0's schema has no <crypto> here yet.
            crypto: None,
        }),
        features: Some(features),
    })
}

fn en_values(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn en_named(name: &str, values: Vec<String>) -> cx::Enum {
    cx::Enum { name: name.to_owned(), values }
}

/// `Skylake-Client-v2`: versions duplicate their unversioned alias in the custom list.
fn is_versioned(name: &str) -> bool {
    name.rsplit_once("-v").is_some_and(|(_, n)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

// ---- driver glue -------------------------------------------------------------------------

/// The directories of `$PATH` (libvirt looks emulators up there too).
/// The emulator search path: `$PATH`'s absolute entries (a relative one would depend on the
/// daemon's working directory).
pub(crate) fn path_dirs() -> Vec<PathBuf> {
    std::env::var("PATH")
        .unwrap_or_else(|_| "/usr/bin:/bin".into())
        .split(':')
        .filter(|d| d.starts_with('/'))
        .map(PathBuf::from)
        .collect()
}

/// A client-named emulator, accepted only when it is one of the host's own (`installed`), and
/// then replaced by the host's path for it: probing executes the binary, as root in the daemon,
/// so a client must never choose what runs (nor swap a symlink between check and use).
pub fn host_emulator(given: &str, installed: &[(String, PathBuf)]) -> oxvirt_api::Result<PathBuf> {
    let refuse = || {
        let known: Vec<String> = installed
            .iter()
            .map(|(_, b)| b.display().to_string())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        oxvirt_api::Error::invalid_arg(format!(
            "emulator '{given}' is not one this host offers (installed: {})",
            if known.is_empty() { "none".to_string() } else { known.join(", ") }
        ))
        .in_domain(oxvirt_api::ErrorDomain::Qemu)
    };
    if !given.starts_with('/') {
        return Err(refuse());
    }
    let want = std::fs::canonicalize(given).map_err(|_| refuse())?;
    installed
        .iter()
        .map(|(_, b)| b)
        .find(|b| b.as_path() == Path::new(given) || std::fs::canonicalize(b).is_ok_and(|c| c == want))
        .cloned()
        .ok_or_else(refuse)
}

fn api_error(e: DomCapsError) -> oxvirt_api::Error {
    let err = match &e {
        DomCapsError::VirtType(_) | DomCapsError::Arch { .. } | DomCapsError::Machine { .. } => {
            oxvirt_api::Error::invalid_arg(e)
        }
        _ => oxvirt_api::Error::unsupported_config(e),
    };
    err.in_domain(oxvirt_api::ErrorDomain::Qemu)
}

/// `virConnectGetCapabilities` for the driver: every installed emulator that probes (others are
/// left out, as libvirt does), KVM judged once per boot through the cache in `cache_dir`.
pub(crate) fn driver_capabilities(
    cache_dir: &Path,
    caps_for: impl Fn(&Path) -> oxvirt_api::Result<std::sync::Arc<QemuCaps>>,
) -> oxvirt_api::Result<String> {
    let found = installed_emulators(&path_dirs());
    let mut probed = Vec::new();
    for (arch, bin) in found {
        match caps_for(&bin) {
            Ok(c) => probed.push((arch, bin, c)),
            Err(e) => tracing::warn!("leaving {} out of the capabilities: {e}", bin.display()),
        }
    }
    let host = HostInfo::current();
    let kvm = probed
        .iter()
        .find(|(a, _, _)| *a == host.details.arch)
        .or(probed.first())
        .map(|(_, _, c)| crate::accel::kvm_usability(c, cache_dir))
        .unwrap_or_else(|| KvmUsability::check(false));
    let guests: Vec<GuestEmulator<'_>> =
        probed.iter().map(|(arch, bin, c)| GuestEmulator { arch, emulator: bin, caps: c }).collect();
    Ok(capabilities_xml_for(&guests, &kvm, &host))
}

/// `virConnectGetDomainCapabilities`: the emulator defaults to the one for `arch` (default: the
/// host's), the virt type to `kvm` where KVM works and `qemu` elsewhere.
pub(crate) fn driver_domain_capabilities(
    cache_dir: &Path,
    caps_for: impl Fn(&Path) -> oxvirt_api::Result<std::sync::Arc<QemuCaps>>,
    emulator: Option<&str>,
    arch: Option<&str>,
    machine: Option<&str>,
    virttype: Option<&str>,
) -> oxvirt_api::Result<String> {
    let emulator = match emulator {
        Some(e) => host_emulator(e, &installed_emulators(&path_dirs()))?,
        None => {
            let want = arch.unwrap_or(std::env::consts::ARCH);
            installed_emulators(&path_dirs()).into_iter().find(|(a, _)| a == want).map(|(_, b)| b).ok_or_else(|| {
                oxvirt_api::Error::unsupported_config(format!(
                    "no emulator for architecture '{want}' is installed (qemu-system-* in $PATH)"
                ))
                .in_domain(oxvirt_api::ErrorDomain::Qemu)
            })?
        }
    };
    let caps = caps_for(&emulator)?;
    let kvm = crate::accel::kvm_usability(&caps, cache_dir);
    let virttype = virttype.unwrap_or(if kvm.usable() && caps.kvm.present { "kvm" } else { "qemu" });
    let host = oxvirt_host::host_details();
    let env = DomCapsEnv { kvm: &kvm, host: &host, firmware: FirmwarePaths::default() };
    domain_capabilities_xml(&caps, &emulator, arch, machine, virttype, &env).map_err(api_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(vendor: &str, family: u32, model: u32, flags: &[&str]) -> CpuInfo {
        CpuInfo {
            vendor_id: vendor.into(),
            family,
            model,
            flags: flags.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn host_model_names() {
        let genoa = cpu("AuthenticAMD", 25, 17, &[]);
        assert_eq!(host_cpu_model(&genoa, &[]).as_deref(), Some("EPYC-Genoa"));
        assert_eq!(host_cpu_model(&genoa, &["EPYC", "EPYC-Rome", "EPYC-Milan"]).as_deref(), Some("EPYC-Milan"));
        let haswell = cpu("GenuineIntel", 6, 0x3f, &["vmx"]);
        assert_eq!(host_cpu_model(&haswell, &["Haswell", "Haswell-noTSX"]).as_deref(), Some("Haswell-noTSX"));
        let haswell_tsx = cpu("GenuineIntel", 6, 0x3f, &["rtm"]);
        assert_eq!(host_cpu_model(&haswell_tsx, &["Haswell", "Haswell-noTSX"]).as_deref(), Some("Haswell"));
        assert_eq!(host_cpu_model(&cpu("Foo", 1, 1, &[]), &[]), None);
    }

    #[test]
    fn vendors_and_versions() {
        assert_eq!(cpu_model_vendor("Skylake-Server-IBRS"), "Intel");
        assert_eq!(cpu_model_vendor("EPYC-Rome"), "AMD");
        assert_eq!(cpu_model_vendor("qemu64"), "unknown");
        assert!(is_versioned("Skylake-Client-v2"));
        assert!(!is_versioned("Skylake-Client"));
        assert!(!is_versioned("Cascadelake-Server-noTSX"));
    }

    #[test]
    fn arch_names() {
        assert_eq!(guest_arches("i386"), &["i686"]);
        assert_eq!(wordsize("x86_64"), 64);
        assert!(kvm_native("x86_64", "i686"));
        assert!(!kvm_native("x86_64", "aarch64"));
        assert_eq!(scaled(32768), (32, "MiB"));
        assert_eq!(scaled(1536), (1536, "KiB"));
    }
}

#[cfg(test)]
mod host_emulator_tests {
    use super::*;

    #[test]
    fn only_the_hosts_emulators_are_probed() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("qemu-system-x86_64");
        std::fs::write(&bin, "#!/bin/sh\n").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&bin, &link).unwrap();
        let installed = vec![("x86_64".to_string(), bin.clone())];
        // the host's binary, by its own path or through a symlink, comes back as the host names it
        assert_eq!(host_emulator(bin.to_str().unwrap(), &installed).unwrap(), bin);
        assert_eq!(host_emulator(link.to_str().unwrap(), &installed).unwrap(), bin);
        // anything else is refused, naming it
        let evil = dir.path().join("evil.sh");
        std::fs::write(&evil, "#!/bin/sh\n").unwrap();
        for given in [evil.to_str().unwrap(), "qemu-system-x86_64", "/nonexistent/qemu", ""] {
            let e = host_emulator(given, &installed).unwrap_err();
            assert_eq!(e.code, oxvirt_api::ErrorCode::InvalidArg, "{given}");
            assert!(e.message.contains("is not one this host offers"), "{}", e.message);
        }
    }
}
