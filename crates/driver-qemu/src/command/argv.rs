//! The machine-wide part of the command line (machine, accelerator, CPU, memory, clock, boot,
//! firmware) and the overall argument order, which follows libvirt's.

use oxvirt_xml::domain::*;
use oxvirt_xml::{OnOff, YesNo};

use super::ctx::{iothread_ids, Ctx};
use super::devices::{self, disk};
use super::machine::{kind_of, MachineKind};
use super::props::{kv_escape, Props};
use super::{firmware, invalid, unsupported, Accel, BuildEnv, CommandError, PrepareFile, QemuCommand};

static EMPTY_DEVICES: std::sync::OnceLock<Devices> = std::sync::OnceLock::new();

pub(crate) fn build(def: &Domain, env: &BuildEnv) -> Result<QemuCommand, CommandError> {
    let kind = kind_of(def)?;
    if def.kind == DomainType::Kvm && env.accel == Accel::Tcg {
        // The driver decided: a kvm domain on a host without usable KVM is refused by it, not here.
    }
    let devs = def.devices.as_ref().unwrap_or_else(|| EMPTY_DEVICES.get_or_init(Devices::default));
    let (disk_boot, net_boot) = boot_indexes(def, devs)?;
    let mut cx = Ctx {
        def,
        devs,
        env,
        kind,
        args: Vec::new(),
        prepare: Vec::new(),
        graphics_ports: Vec::new(),
        used_ports: Vec::new(),
        disk_boot,
        net_boot,
        missing: None,
        passed_files: Vec::new(),
    };
    cx.arg("-name", format!("guest={},debug-threads=on", kv_escape(&def.name)));
    cx.flag("-S");
    let pflash = pflash(&mut cx)?;
    machine(&mut cx, pflash)?;
    accel(&mut cx)?;
    cpu(&mut cx)?;
    memory(&mut cx)?;
    smp(&mut cx)?;
    if let Some(u) = def.uuid {
        cx.arg("-uuid", u.to_string());
    }
    smbios(&mut cx)?;
    if devs.graphics.is_empty() {
        cx.arg("-display", "none");
    }
    cx.flag("-no-user-config");
    cx.flag("-nodefaults");
    cx.args.extend(env.runtime.monitor_args());
    clock(&mut cx)?;
    cx.flag("-no-shutdown");
    if def.on_reboot == Some(LifecycleAction::Destroy) {
        cx.flag("-no-reboot");
    }
    boot(&mut cx)?;
    devices::all(&mut cx)?;
    if let Some(d) = cx.missing.take() {
        return Err(unsupported("/domain/devices", format!("device '{d}' is not provided by this emulator")));
    }
    cx.args.extend(env.runtime.tail_args(env.caps.version.number()));
    cx.arg("-msg", "timestamp=on");
    Ok(QemuCommand {
        emulator: env.emulator.clone(),
        argv: cx.args,
        pass_fds: Vec::new(),
        passed_files: cx.passed_files,
        prepare: cx.prepare,
        graphics_ports: cx.graphics_ports,
    })
}

/// Per-disk and per-interface boot indexes: `<os><boot dev>` picks the first device of each
/// kind, as libvirt translates it; per-device `<boot order>` is used as given.
/// Boot indexes of the disks and of the interfaces.
type BootIndexes = (Vec<Option<u32>>, Vec<Option<u32>>);

fn boot_indexes(def: &Domain, devs: &Devices) -> Result<BootIndexes, CommandError> {
    let mut disks: Vec<Option<u32>> = devs.disks.iter().map(|d| d.info.boot.as_ref().map(|b| b.order)).collect();
    let mut nets: Vec<Option<u32>> = devs.interfaces.iter().map(|n| n.boot.as_ref().map(|b| b.order)).collect();
    let per_device = disks.iter().chain(nets.iter()).any(Option::is_some);
    if per_device {
        return Ok((disks, nets));
    }
    let mut order = def.os.boot.iter().map(|b| b.dev).collect::<Vec<_>>();
    if order.is_empty() && def.os.kernel.is_none() && !firmware::is_efi(&def.os) {
        order.push(BootDevice::Hd);
    }
    for (n, dev) in order.iter().enumerate() {
        let idx = n as u32 + 1;
        let want = match dev {
            BootDevice::Hd => Some(DiskDevice::Disk),
            BootDevice::Cdrom => Some(DiskDevice::Cdrom),
            BootDevice::Fd => Some(DiskDevice::Floppy),
            BootDevice::Network => None,
        };
        match want {
            Some(w) => {
                if let Some(i) = devs.disks.iter().position(|d| d.device.unwrap_or_default() == w) {
                    disks[i].get_or_insert(idx);
                }
            }
            None => {
                if let Some(slot) = nets.first_mut() {
                    slot.get_or_insert(idx);
                }
            }
        }
    }
    Ok((disks, nets))
}

/// UEFI: the two pflash block nodes; returns the `-machine` properties naming them.
fn pflash(cx: &mut Ctx) -> Result<Option<String>, CommandError> {
    let os = &cx.def.os;
    if !firmware::is_efi(os) {
        return Ok(None);
    }
    let loader = os
        .loader
        .as_ref()
        .and_then(|l| l.path.clone())
        .ok_or_else(|| invalid("/domain/os/loader", "UEFI loader path missing"))?;
    disk::emit_pflash(cx, 0, &loader, true);
    let mut machine = String::from(",pflash0=libvirt-pflash0-format");
    if let Some(nv) = &os.nvram {
        if let Some(path) = &nv.path {
            disk::emit_pflash(cx, 1, path, false);
            machine.push_str(",pflash1=libvirt-pflash1-format");
            if let Some(t) = &nv.template {
                cx.prepare.push(PrepareFile::CopyIfMissing { from: t.into(), to: path.into() });
            }
        }
    }
    Ok(Some(machine))
}

fn machine(cx: &mut Ctx, pflash: Option<String>) -> Result<(), CommandError> {
    let def = cx.def;
    let name = def.machine().unwrap_or("pc").to_owned();
    let mut m = format!("{name},usb=off");
    let f = def.features();
    if let Some(v) = &f.vmport {
        m.push_str(if v.is_on() { ",vmport=on" } else { ",vmport=off" });
    }
    let smm_needed = firmware::is_secure(&def.os);
    match &f.smm {
        Some(s) if s.state == Some(OnOff::Off) => m.push_str(",smm=off"),
        Some(s) => {
            m.push_str(",smm=on");
            if let Some(t) = s.tseg {
                let mib = t.0 / 1024;
                cx.args.push("-global".into());
                cx.args.push(format!("mch.extended-tseg-mbytes={mib}"));
            }
        }
        None if smm_needed => m.push_str(",smm=on"),
        None => {}
    }
    let dump = def.memory.as_ref().and_then(|m| m.dump_core) == Some(OnOff::On);
    m.push_str(if dump { ",dump-guest-core=on" } else { ",dump-guest-core=off" });
    if def.memory_backing.as_ref().is_some_and(|b| b.nosharepages) {
        m.push_str(",mem-merge=off");
    }
    let ram_id = ram_id(cx);
    m.push_str(&format!(",memory-backend={ram_id}"));
    if let Some(p) = pflash {
        m.push_str(&p);
    }
    if !f.acpi {
        m.push_str(",acpi=off");
    }
    if let Some(io) = &f.ioapic {
        match io.driver {
            Some(IoapicDriver::Qemu) if cx.accel() == Accel::Kvm => m.push_str(",kernel-irqchip=split"),
            Some(IoapicDriver::Kvm) if cx.accel() == Accel::Kvm => m.push_str(",kernel-irqchip=on"),
            _ => {}
        }
    }
    for t in def.clock.iter().flat_map(|c| &c.timers) {
        if t.name == TimerName::Hpet {
            if let Some(p) = t.present {
                m.push_str(if p.is_yes() { ",hpet=on" } else { ",hpet=off" });
            }
        }
    }
    cx.arg("-machine", m);
    if smm_needed {
        cx.arg("-global", "driver=cfi.pflash01,property=secure,value=on");
    }
    Ok(())
}

fn ram_id(cx: &Ctx) -> String {
    cx.def.machine().and_then(|n| cx.env.caps.machine(n)).and_then(|m| m.default_ram_id.clone()).unwrap_or_else(|| {
        if cx.kind == MachineKind::Microvm {
            "microvm.ram".into()
        } else {
            "pc.ram".into()
        }
    })
}

fn accel(cx: &mut Ctx) -> Result<(), CommandError> {
    let f = cx.def.features();
    let mut a = match cx.accel() {
        Accel::Kvm => "kvm".to_string(),
        Accel::Tcg => "tcg".to_string(),
    };
    if let Some(t) = f.tcg.as_ref().and_then(|t| t.tb_cache) {
        a.push_str(&format!(",tb-size={}", t.0 / 1024));
    }
    if let Some(d) = f.kvm.as_ref().and_then(|k| k.dirty_ring.as_ref()) {
        if d.state != Some(OnOff::Off) {
            if let Some(s) = d.size {
                a.push_str(&format!(",dirty-ring-size={s}"));
            }
        }
    }
    cx.arg("-accel", a);
    Ok(())
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

fn cpu(cx: &mut Ctx) -> Result<(), CommandError> {
    let def = cx.def;
    let kvm = cx.accel() == Accel::Kvm;
    let mut props: Vec<String> = Vec::new();
    let model = match &def.cpu {
        None => "qemu64".to_string(),
        Some(c) => {
            let mode = c.mode.unwrap_or_default();
            let m = match mode {
                CpuMode::HostPassthrough if kvm => "host".to_string(),
                CpuMode::HostModel if kvm => {
                    props.push("migratable=on".into());
                    "host".to_string()
                }
                // TCG cannot pass the host CPU through; `max` is every feature TCG emulates.
                CpuMode::HostPassthrough | CpuMode::HostModel | CpuMode::Maximum => "max".to_string(),
                CpuMode::Custom => match c.model.as_ref().and_then(|m| m.name.clone()) {
                    Some(n) => n,
                    None => "qemu64".to_string(),
                },
            };
            if mode == CpuMode::HostPassthrough || mode == CpuMode::Maximum {
                if let Some(mig) = c.migratable {
                    props.push(format!("migratable={}", on_off(mig == OnOff::On)));
                }
            }
            if let Some(v) = c.model.as_ref().and_then(|m| m.vendor_id.as_ref()) {
                props.push(format!("vendor={v}"));
            }
            if let Some(cache) = &c.cache {
                match cache.mode {
                    CpuCacheMode::Passthrough => props.push("host-cache-info=on".into()),
                    CpuCacheMode::Emulate if cache.level == Some(3) => props.push("l3-cache=on".into()),
                    CpuCacheMode::Disable => props.push("l3-cache=off".into()),
                    _ => return Err(unsupported("/domain/cpu/cache", "only level 3 can be emulated")),
                }
            }
            if let Some(p) = &c.maxphysaddr {
                match (p.mode, p.bits) {
                    (MaxPhysAddrMode::Passthrough, b) => {
                        props.push("host-phys-bits=on".into());
                        if let Some(b) = b {
                            props.push(format!("host-phys-bits-limit={b}"));
                        }
                    }
                    (MaxPhysAddrMode::Emulate, Some(b)) => props.push(format!("phys-bits={b}")),
                    (MaxPhysAddrMode::Emulate, None) => {}
                }
            }
            for f in &c.features {
                let on = match f.policy.unwrap_or(CpuFeaturePolicy::Require) {
                    CpuFeaturePolicy::Force | CpuFeaturePolicy::Require | CpuFeaturePolicy::Optional => true,
                    CpuFeaturePolicy::Disable | CpuFeaturePolicy::Forbid => false,
                };
                props.push(format!("{}={}", f.name, on_off(on)));
            }
            m
        }
    };
    let f = def.features();
    if let Some(a) = f.apic.as_ref().and_then(|a| a.eoi) {
        props.push(format!("kvm-pv-eoi={}", on_off(a == OnOff::On)));
    }
    if let Some(p) = &f.pvspinlock {
        props.push(format!("kvm-pv-unhalt={}", on_off(p.is_on())));
    }
    if let Some(p) = &f.pmu {
        props.push(format!("pmu={}", on_off(p.is_on())));
    }
    if let Some(k) = &f.kvm {
        if let Some(h) = &k.hidden {
            props.push(format!("kvm={}", on_off(!h.is_on())));
        }
        if let Some(h) = &k.hint_dedicated {
            props.push(format!("kvm-hint-dedicated={}", on_off(h.is_on())));
        }
        if let Some(h) = &k.poll_control {
            props.push(format!("kvm-poll-control={}", on_off(h.is_on())));
        }
        if let Some(h) = &k.pv_ipi {
            props.push(format!("kvm-pv-ipi={}", on_off(h.is_on())));
        }
    }
    if let Some(h) = &f.hyperv {
        hyperv(h, &mut props)?;
    }
    for t in def.clock.iter().flat_map(|c| &c.timers) {
        match t.name {
            TimerName::Kvmclock => {
                if let Some(p) = t.present {
                    props.push(format!("kvmclock={}", on_off(p.is_yes())));
                }
            }
            TimerName::Hypervclock if t.present != Some(YesNo::No) => props.push("hv-time=on".into()),
            TimerName::Tsc => {
                if let Some(fr) = t.frequency {
                    props.push(format!("tsc-frequency={fr}"));
                }
            }
            _ => {}
        }
    }
    if devices::has_hyperv_panic(cx.devs) {
        props.push("hv-crash".into());
    }
    let mut s = model;
    for p in props {
        s.push(',');
        s.push_str(&p);
    }
    cx.arg("-cpu", s);
    Ok(())
}

fn hyperv(h: &Hyperv, props: &mut Vec<String>) -> Result<(), CommandError> {
    if h.mode == Some(HypervMode::Passthrough) {
        props.push("hv-passthrough=on".into());
    }
    let simple: [(&Option<FeatureState>, &str); 13] = [
        (&h.relaxed, "hv-relaxed"),
        (&h.vapic, "hv-vapic"),
        (&h.vpindex, "hv-vpindex"),
        (&h.runtime, "hv-runtime"),
        (&h.synic, "hv-synic"),
        (&h.reset, "hv-reset"),
        (&h.frequencies, "hv-frequencies"),
        (&h.reenlightenment, "hv-reenlightenment"),
        (&h.tlbflush, "hv-tlbflush"),
        (&h.ipi, "hv-ipi"),
        (&h.evmcs, "hv-evmcs"),
        (&h.avic, "hv-avic"),
        (&None, ""),
    ];
    for (f, name) in simple {
        if let Some(f) = f {
            props.push(format!("{name}={}", on_off(f.is_on())));
        }
    }
    if let Some(s) = &h.spinlocks {
        if s.state != Some(OnOff::Off) {
            props.push(format!("hv-spinlocks=0x{:x}", s.retries.unwrap_or(4095)));
        }
    }
    if let Some(s) = &h.stimer {
        if s.state != Some(OnOff::Off) {
            props.push("hv-stimer=on".into());
            if s.direct.as_ref().is_some_and(FeatureState::is_on) {
                props.push("hv-stimer-direct=on".into());
            }
        }
    }
    if let Some(v) = &h.vendor_id {
        if v.state != Some(OnOff::Off) {
            if let Some(val) = &v.value {
                props.push(format!("hv-vendor-id={val}"));
            }
        }
    }
    Ok(())
}

fn memory(cx: &mut Ctx) -> Result<(), CommandError> {
    let def = cx.def;
    let kib = def.memory_kib().div_ceil(1024) * 1024;
    let mut m = format!("size={kib}k");
    if let Some(max) = &def.max_memory {
        let slots = max.slots.unwrap_or(0);
        let maxk = max.size.0.div_ceil(1024) * 1024;
        m.push_str(&format!(",slots={slots},maxmem={maxk}k"));
    }
    cx.arg("-m", m);
    let mb = def.memory_backing.as_ref();
    let source = mb.and_then(|b| b.source.as_ref()).map(|s| s.kind);
    let qom = match source {
        None | Some(MemorySourceType::Anonymous) => "memory-backend-ram",
        Some(MemorySourceType::Memfd) => "memory-backend-memfd",
        Some(other) => return Err(unsupported("/domain/memoryBacking/source", format!("source type '{other}'"))),
    };
    let mut p = Props::with("qom-type", qom).s("id", ram_id(cx)).n("size", kib * 1024);
    if let Some(a) = mb.and_then(|b| b.access.as_ref()) {
        p = p.b("share", a.mode == MemoryAccessMode::Shared);
    }
    if let Some(a) = mb.and_then(|b| b.allocation.as_ref()) {
        if a.mode == Some(MemoryAllocationMode::Immediate) {
            p = p.b("prealloc", true);
            if let Some(t) = a.threads {
                p = p.n("prealloc-threads", t.into());
            }
        }
    }
    if mb.is_some_and(|b| b.discard) {
        p = p.b("discard-data", true);
    }
    cx.object(p);
    let locked = mb.is_some_and(|b| b.locked);
    cx.arg("-overcommit", format!("mem-lock={}", on_off(locked)));
    Ok(())
}

fn smp(cx: &mut Ctx) -> Result<(), CommandError> {
    let def = cx.def;
    let max = def.vcpus();
    let cur = def.vcpus_current();
    let mut s = cur.to_string();
    if cur != max {
        s.push_str(&format!(",maxcpus={max}"));
    }
    match def.cpu.as_ref().and_then(|c| c.topology.as_ref()) {
        Some(t) => {
            s.push_str(&format!(",sockets={}", t.sockets));
            if let Some(d) = t.dies {
                s.push_str(&format!(",dies={d}"));
            }
            s.push_str(&format!(",cores={},threads={}", t.cores, t.threads));
        }
        None => s.push_str(&format!(",sockets={max},cores=1,threads=1")),
    }
    if let Some(iothreads) = iothread_ids(def) {
        cx.arg("-smp", s);
        for id in iothreads {
            cx.object(Props::with("qom-type", "iothread").s("id", format!("iothread{id}")));
        }
        return Ok(());
    }
    cx.arg("-smp", s);
    Ok(())
}

fn smbios(cx: &mut Ctx) -> Result<(), CommandError> {
    let def = cx.def;
    for s in &def.sysinfo {
        if s.kind == SysinfoType::Fwcfg {
            for e in &s.entries {
                let v = match (&e.file, &e.value) {
                    (Some(f), _) => format!("name={},file={}", kv_escape(&e.name), kv_escape(f)),
                    (None, Some(v)) => {
                        format!("name={},string={}", kv_escape(&e.name), kv_escape(v))
                    }
                    (None, None) => return Err(invalid("/domain/sysinfo/entry", "fw_cfg entry without value or file")),
                };
                cx.arg("-fw_cfg", v);
            }
        }
    }
    let mode = def.os.smbios.as_ref().map(|s| s.mode);
    match mode {
        None | Some(SmbiosMode::Emulate) => return Ok(()),
        Some(SmbiosMode::Host) => {
            return Err(unsupported("/domain/os/smbios[@mode='host']", "copying the host's SMBIOS tables"))
        }
        Some(SmbiosMode::Sysinfo) => {}
    }
    let Some(s) = def.sysinfo.iter().find(|s| s.kind == SysinfoType::Smbios) else {
        return Err(invalid("/domain/os/smbios", "mode 'sysinfo' without <sysinfo type='smbios'>"));
    };
    fn entries<N: oxvirt_xml::XmlValue + Clone + PartialEq + std::fmt::Debug>(
        t: u32,
        b: &SmbiosBlock<N>,
    ) -> Option<String> {
        let mut out = format!("type={t}");
        let mut any = false;
        for e in &b.entries {
            if let Some(v) = &e.value {
                let key = e.name.to_xml_value();
                let key = if t == 0 && key == "release" { "release".into() } else { key };
                out.push_str(&format!(",{key}={}", kv_escape(v)));
                any = true;
            }
        }
        any.then_some(out)
    }
    let mut tables = Vec::new();
    if let Some(b) = &s.bios {
        tables.extend(entries(0, b));
    }
    if let Some(b) = &s.system {
        tables.extend(entries(1, b));
    }
    for b in &s.base_boards {
        tables.extend(entries(2, b));
    }
    if let Some(b) = &s.chassis {
        tables.extend(entries(3, b));
    }
    if let Some(o) = &s.oem_strings {
        if !o.entries.is_empty() {
            let mut t = String::from("type=11");
            for e in &o.entries {
                t.push_str(&format!(",value={}", kv_escape(e)));
            }
            tables.push(t);
        }
    }
    for t in tables {
        cx.arg("-smbios", t);
    }
    Ok(())
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
pub(crate) fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

pub(crate) fn rtc_datetime(epoch: i64) -> String {
    let (y, mo, d) = civil(epoch.div_euclid(86_400));
    let s = epoch.rem_euclid(86_400);
    format!("{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

fn clock(cx: &mut Ctx) -> Result<(), CommandError> {
    let def = cx.def;
    let default = Clock::default();
    let c = def.clock.as_ref().unwrap_or(&default);
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let mut rtc = match c.offset {
        ClockOffset::Utc => match c.adjustment {
            Some(ClockAdjustment::Seconds(s)) if s != 0 => {
                format!("base={}", rtc_datetime(now() + s))
            }
            _ => "base=utc".to_string(),
        },
        ClockOffset::Localtime => "base=localtime".to_string(),
        ClockOffset::Variable => {
            let adj = match c.adjustment {
                Some(ClockAdjustment::Seconds(s)) => s,
                _ => 0,
            };
            if c.basis == Some(ClockBasis::Localtime) {
                return Err(unsupported("/domain/clock/@basis", "'localtime' basis for a variable clock"));
            }
            format!("base={}", rtc_datetime(now() + adj))
        }
        ClockOffset::Absolute => {
            let start =
                c.start.ok_or_else(|| invalid("/domain/clock/@start", "absolute clock offset needs 'start'"))?;
            format!("base={}", rtc_datetime(start as i64))
        }
        ClockOffset::Timezone => {
            return Err(unsupported("/domain/clock/@offset", "'timezone' (set the guest's zone inside the guest)"))
        }
    };
    for t in &c.timers {
        let path = format!("/domain/clock/timer[@name='{}']", t.name);
        match t.name {
            TimerName::Rtc => {
                match t.track {
                    None | Some(TimerTrack::Boot) => {}
                    Some(TimerTrack::Guest) => rtc.push_str(",clock=vm"),
                    Some(TimerTrack::Wall) => rtc.push_str(",clock=host"),
                    Some(TimerTrack::Realtime) => rtc.push_str(",clock=rt"),
                }
                match t.tickpolicy {
                    None | Some(TickPolicy::Delay) => {}
                    Some(TickPolicy::Catchup) => rtc.push_str(",driftfix=slew"),
                    Some(p) => return Err(unsupported(path, format!("tick policy '{p}'"))),
                }
                if t.present == Some(YesNo::No) {
                    return Err(unsupported(path, "removing the RTC"));
                }
            }
            TimerName::Pit => {
                if t.present == Some(YesNo::No) {
                    return Err(unsupported(path, "removing the PIT"));
                }
                match (t.tickpolicy, cx.accel()) {
                    (None, _) | (Some(TickPolicy::Delay), Accel::Tcg) => {}
                    (Some(p @ (TickPolicy::Delay | TickPolicy::Discard)), Accel::Kvm) => {
                        cx.args.push("-global".into());
                        cx.args.push(format!("kvm-pit.lost_tick_policy={p}"));
                    }
                    (Some(p), _) => return Err(unsupported(path, format!("tick policy '{p}' with this accelerator"))),
                }
            }
            TimerName::Hpet | TimerName::Kvmclock | TimerName::Hypervclock | TimerName::Tsc => {}
            other => return Err(unsupported(path, format!("timer '{other}'"))),
        }
    }
    cx.arg("-rtc", rtc);
    Ok(())
}

fn boot(cx: &mut Ctx) -> Result<(), CommandError> {
    let os = &cx.def.os;
    let mut b = Vec::new();
    if let Some(m) = &os.bootmenu {
        if m.enable.is_yes() {
            b.push("menu=on".to_string());
            if let Some(t) = m.timeout {
                b.push(format!("splash-time={t}"));
            }
        }
    }
    if let Some(bios) = &os.bios {
        if let Some(t) = bios.reboot_timeout {
            b.push(format!("reboot-timeout={t}"));
        }
    }
    b.push("strict=on".into());
    cx.arg("-boot", b.join(","));
    if let Some(l) = &os.loader {
        if !firmware::is_efi(os) {
            if let Some(p) = &l.path {
                cx.arg("-bios", p.clone());
            }
        }
    }
    if let Some(k) = &os.kernel {
        cx.arg("-kernel", k.clone());
    }
    if let Some(i) = &os.initrd {
        cx.arg("-initrd", i.clone());
    }
    if let Some(a) = &os.cmdline {
        cx.arg("-append", a.clone());
    }
    if let Some(d) = &os.dtb {
        cx.arg("-dtb", d.clone());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rtc_datetime(0), "1970-01-01T00:00:00");
        assert_eq!(rtc_datetime(253_402_300_799), "9999-12-31T23:59:59");
        assert_eq!(rtc_datetime(951_782_400), "2000-02-29T00:00:00");
    }
}
