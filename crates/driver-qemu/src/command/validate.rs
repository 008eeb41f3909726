//! Every refusal of the QEMU driver that depends on the definition and the host's facts alone
//! (the emulator's capabilities, the accelerator), in one place, run before anything is built:
//! [`for_define`] before a definition is completed (define and start), [`for_start`] on the
//! completed definition before the builder formats it. The emitters keep only the failures of
//! states that cannot be told before building (a bus that completion did not create, a port
//! that cannot be bound).
//!
//! The rules libvirt's generic domain parser enforces for every driver stay in
//! `oxvirt_xml::domain` (they run when the XML is parsed).

use oxvirt_xml::domain::*;
use oxvirt_xml::{OnOff, YesNo};

use super::firmware;
use super::machine::{kind_of, MachineKind};
use super::{invalid, unsupported, Accel, BuildEnv, CommandError};

/// Refusals before completion: domain and OS type, architecture.
pub(crate) fn for_define(def: &Domain) -> Result<(), CommandError> {
    if !matches!(def.kind, DomainType::Qemu | DomainType::Kvm) {
        return Err(unsupported(
            "/domain/@type",
            format!("domain type '{}' (the QEMU driver runs 'qemu' and 'kvm')", def.kind),
        ));
    }
    if def.os_type() != OsType::Hvm {
        return Err(unsupported("/domain/os/type", format!("OS type '{}' (only 'hvm')", def.os_type())));
    }
    if let Some(a) = def.os.kind.arch.as_deref().filter(|a| *a != "x86_64") {
        return Err(unsupported("/domain/os/type/@arch", format!("architecture '{a}' (only x86_64)")));
    }
    Ok(())
}

/// What this QEMU binary lacks (a custom CPU model, a USB controller model, IOThreads), refused
/// at define time as libvirt does, not only at start; checked once the machine type is resolved.
pub(crate) fn caps(def: &Domain, env: &BuildEnv) -> Result<(), CommandError> {
    let caps = env.caps;
    if let Some(cpu) = &def.cpu {
        let custom = matches!(cpu.mode, None | Some(CpuMode::Custom));
        if let Some(name) = cpu.model.as_ref().and_then(|m| m.name.as_deref()).filter(|_| custom) {
            if !caps.cpu_models.is_empty() && caps.cpu_model(name).is_none() {
                return Err(unsupported(
                    "/domain/cpu/model",
                    format!("CPU model '{name}' is not known to this emulator"),
                ));
            }
        }
    }
    let devs = def.devices.iter().flat_map(|d| &d.controllers);
    for c in devs.filter(|c| c.kind == ControllerType::Usb) {
        use ControllerModel as M;
        let dev = match c.model {
            Some(M::NecXhci) => "nec-usb-xhci",
            Some(M::QemuXhci) => "qemu-xhci",
            Some(M::Ehci) => "usb-ehci",
            Some(M::Ich9Ehci1) => "ich9-usb-ehci1",
            Some(M::PciOhci) => "pci-ohci",
            _ => continue,
        };
        if !caps.has_device(dev) {
            return Err(unsupported(
                "/domain/devices/controller",
                format!(
                    "USB controller model '{}' needs QEMU device '{dev}', which this emulator lacks",
                    c.model.map(|m| m.to_string()).unwrap_or_default()
                ),
            ));
        }
    }
    let iothreads = def.iothreads.unwrap_or(0) > 0 || def.iothreadids.as_ref().is_some_and(|t| !t.iothreads.is_empty());
    if iothreads && !caps.qom_types.is_empty() && !caps.has_type("iothread") {
        return Err(unsupported("/domain/iothreads", "this emulator has no IOThreads ('iothread' objects)"));
    }
    Ok(())
}

/// Refusals of a completed definition at start, before the builder runs.
pub(crate) fn for_start(def: &Domain, env: &BuildEnv) -> Result<(), CommandError> {
    let kind = kind_of(def)?;
    top_level(def)?;
    boot(def)?;
    machine(def, env, kind)?;
    cpu(def, env)?;
    memory(def)?;
    sysinfo(def)?;
    clock(def, env)?;
    if let Some(d) = &def.devices {
        devices(def, d, kind, env)?;
    }
    Ok(())
}

/// Elements this driver does not implement at all.
fn top_level(def: &Domain) -> Result<(), CommandError> {
    let checks: [(bool, &str); 14] = [
        (def.numa_cells().is_empty(), "/domain/cpu/numa"),
        (def.memory_backing.as_ref().is_none_or(|m| m.hugepages.is_none()), "/domain/memoryBacking/hugepages"),
        (def.bootloader.is_none(), "/domain/bootloader"),
        (def.idmap.is_none(), "/domain/idmap"),
        (def.launch_security.is_none(), "/domain/launchSecurity"),
        (def.keywrap.is_none(), "/domain/keywrap"),
        (def.qemu_commandline.is_none(), "/domain/qemu:commandline"),
        (def.qemu_capabilities.is_none(), "/domain/qemu:capabilities"),
        (def.qemu_override.is_none(), "/domain/qemu:override"),
        (def.genid.is_none(), "/domain/genid"),
        (def.os.acpi.is_none(), "/domain/os/acpi"),
        (def.os.init.is_none(), "/domain/os/init"),
        (def.os.root.is_none(), "/domain/os/root"),
        (def.vcpus.as_ref().is_none_or(|v| v.vcpus.iter().all(|c| c.enabled.is_yes())), "/domain/vcpus"),
    ];
    for (ok, what) in checks {
        if !ok {
            return Err(unsupported(what, "not implemented by this driver"));
        }
    }
    Ok(())
}

/// Boot order, firmware and direct kernel boot.
fn boot(def: &Domain) -> Result<(), CommandError> {
    let os = &def.os;
    if let Some(devs) = &def.devices {
        let per_device =
            devs.disks.iter().any(|d| d.info.boot.is_some()) || devs.interfaces.iter().any(|n| n.boot.is_some());
        if per_device && !os.boot.is_empty() {
            return Err(invalid(
                "/domain/os/boot",
                "per-device boot elements cannot be used together with <os><boot dev=...>",
            ));
        }
    }
    if firmware::is_efi(os) && os.loader.as_ref().and_then(|l| l.path.as_ref()).is_none() {
        return Err(invalid("/domain/os/loader", "UEFI loader path missing"));
    }
    if os.bios.as_ref().is_some_and(|b| b.useserial == Some(YesNo::Yes)) {
        return Err(unsupported("/domain/os/bios/@useserial", "the serial graphics adapter is gone from QEMU"));
    }
    if os.kernel.is_none() && (os.initrd.is_some() || os.cmdline.is_some()) {
        return Err(invalid("/domain/os/kernel", "<initrd> or <cmdline> without <kernel>"));
    }
    Ok(())
}

/// `-machine` and `-accel` properties the machine or accelerator cannot have.
fn machine(def: &Domain, env: &BuildEnv, kind: MachineKind) -> Result<(), CommandError> {
    let f = def.features();
    let kvm = env.accel == Accel::Kvm;
    if f.vmport.is_some() && kind == MachineKind::Microvm {
        return Err(unsupported("/domain/features/vmport", "on microvm"));
    }
    if f.smm.as_ref().is_some_and(|s| s.state == Some(OnOff::Off)) && firmware::is_secure(&def.os) {
        return Err(invalid("/domain/features/smm", "secure boot needs SMM"));
    }
    if f.ioapic.as_ref().is_some_and(|io| io.driver.is_some()) && !kvm {
        return Err(unsupported("/domain/features/ioapic", "choosing the IOAPIC driver without KVM"));
    }
    if kind == MachineKind::Microvm && def.clock.iter().flat_map(|c| &c.timers).any(|t| t.name == TimerName::Hpet) {
        return Err(unsupported("/domain/clock/timer[@name='hpet']", "on microvm"));
    }
    if f.tcg.as_ref().and_then(|t| t.tb_cache).is_some() && env.accel != Accel::Tcg {
        return Err(invalid("/domain/features/tcg", "TCG tuning on a KVM guest"));
    }
    if f.kvm.as_ref().and_then(|k| k.dirty_ring.as_ref()).is_some_and(|d| d.state != Some(OnOff::Off)) && !kvm {
        return Err(invalid("/domain/features/kvm/dirty-ring", "needs KVM"));
    }
    Ok(())
}

fn cpu(def: &Domain, env: &BuildEnv) -> Result<(), CommandError> {
    let Some(c) = &def.cpu else { return Ok(()) };
    let mode = c.mode.unwrap_or_default();
    if mode == CpuMode::Custom {
        if let Some(n) = c.model.as_ref().and_then(|m| m.name.as_ref()) {
            let caps = env.caps;
            if !caps.cpu_models.is_empty() && caps.cpu_model(n).is_none() {
                return Err(unsupported("/domain/cpu/model", format!("CPU model '{n}' is not known to this emulator")));
            }
        }
        if c.vendor.is_some() && c.model.is_none() {
            return Err(unsupported("/domain/cpu/vendor", "a vendor without a model"));
        }
    }
    Ok(())
}

fn memory(def: &Domain) -> Result<(), CommandError> {
    match def.memory_backing.as_ref().and_then(|b| b.source.as_ref()).map(|s| s.kind) {
        None | Some(MemorySourceType::Anonymous | MemorySourceType::Memfd) => Ok(()),
        Some(other) => Err(unsupported("/domain/memoryBacking/source", format!("source type '{other}'"))),
    }
}

/// fw_cfg entries and SMBIOS tables.
fn sysinfo(def: &Domain) -> Result<(), CommandError> {
    for s in def.sysinfo.iter().filter(|s| s.kind == SysinfoType::Fwcfg) {
        if s.entries.iter().any(|e| e.file.is_none() && e.value.is_none()) {
            return Err(invalid("/domain/sysinfo/entry", "fw_cfg entry without value or file"));
        }
    }
    match def.os.smbios.as_ref().map(|s| s.mode) {
        None | Some(SmbiosMode::Emulate) => Ok(()),
        Some(SmbiosMode::Host) => {
            Err(unsupported("/domain/os/smbios[@mode='host']", "copying the host's SMBIOS tables"))
        }
        Some(SmbiosMode::Sysinfo) if !def.sysinfo.iter().any(|s| s.kind == SysinfoType::Smbios) => {
            Err(invalid("/domain/os/smbios", "mode 'sysinfo' without <sysinfo type='smbios'>"))
        }
        Some(SmbiosMode::Sysinfo) => Ok(()),
    }
}

/// Clock offsets and timers QEMU cannot express.
fn clock(def: &Domain, env: &BuildEnv) -> Result<(), CommandError> {
    let Some(c) = &def.clock else { return Ok(()) };
    match c.offset {
        ClockOffset::Variable if c.basis == Some(ClockBasis::Localtime) => {
            return Err(unsupported("/domain/clock/@basis", "'localtime' basis for a variable clock"));
        }
        ClockOffset::Absolute if c.start.is_none() => {
            return Err(invalid("/domain/clock/@start", "absolute clock offset needs 'start'"));
        }
        ClockOffset::Timezone => {
            return Err(unsupported("/domain/clock/@offset", "'timezone' (set the guest's zone inside the guest)"));
        }
        _ => {}
    }
    for t in &c.timers {
        let path = format!("/domain/clock/timer[@name='{}']", t.name);
        match t.name {
            TimerName::Rtc => {
                match t.tickpolicy {
                    None | Some(TickPolicy::Delay | TickPolicy::Catchup) => {}
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
                match (t.tickpolicy, env.accel) {
                    (None, _)
                    | (Some(TickPolicy::Delay), Accel::Tcg)
                    | (Some(TickPolicy::Delay | TickPolicy::Discard), Accel::Kvm) => {}
                    (Some(p), _) => return Err(unsupported(path, format!("tick policy '{p}' with this accelerator"))),
                }
            }
            TimerName::Tsc if t.mode.is_some() => {
                return Err(unsupported("/domain/clock/timer[@name='tsc']/@mode", "TSC modes"));
            }
            TimerName::Hpet | TimerName::Kvmclock | TimerName::Hypervclock | TimerName::Tsc => {}
            other => return Err(unsupported(path, format!("timer '{other}'"))),
        }
    }
    Ok(())
}

/// Device families and device settings this driver does not implement, and what microvm lacks.
fn devices(def: &Domain, d: &Devices, kind: MachineKind, env: &BuildEnv) -> Result<(), CommandError> {
    let reject: [(bool, &str); 12] = [
        (d.filesystems.is_empty(), "filesystem"),
        (d.smartcards.is_empty(), "smartcard"),
        (d.tpms.is_empty(), "tpm"),
        (d.hostdevs.is_empty(), "hostdev"),
        (d.redirdevs.is_empty() && d.redirfilter.is_none(), "redirdev"),
        (d.hubs.is_empty(), "hub"),
        (d.shmems.is_empty(), "shmem"),
        (d.memories.is_empty(), "memory"),
        (d.iommu.is_none(), "iommu"),
        (d.vsock.is_none(), "vsock"),
        (d.cryptos.is_empty(), "crypto"),
        (d.leases.is_empty(), "lease"),
    ];
    for (ok, what) in reject {
        if !ok {
            return Err(unsupported(format!("/domain/devices/{what}"), "not implemented by this driver"));
        }
    }
    for disk in &d.disks {
        check_disk(disk)?;
    }
    disk_devices(def, d)?;
    if let Some(c) = d.controllers.iter().find(|c| c.driver.as_ref().is_some_and(|d| d.ioeventfd.is_some())) {
        let path = format!("/domain/devices/controller[@type='{}'][@index='{}']", c.kind, c.index.unwrap_or(0));
        return Err(unsupported(format!("{path}/driver/@ioeventfd"), "not implemented by this driver"));
    }
    interfaces(d)?;
    graphics(d, env)?;
    chardevs(d, kind)?;
    let microvm = kind == MachineKind::Microvm;
    for (i, v) in d.videos.iter().enumerate() {
        let what = format!("/domain/devices/video[{}]", i + 1);
        let m = v.model.clone().unwrap_or_default();
        if m.acceleration.as_ref().is_some_and(|a| a.accel3d == Some(YesNo::Yes)) {
            return Err(unsupported(format!("{what}/model/acceleration"), "3D acceleration"));
        }
        if v.driver.as_ref().is_some_and(|d| d.name == Some(VideoBackend::Vhostuser)) {
            return Err(unsupported(format!("{what}/driver"), "vhost-user GPUs"));
        }
        if m.resolution.is_some() {
            return Err(unsupported(format!("{what}/model/resolution"), "fixed resolutions"));
        }
        if microvm && m.kind != VideoType::None {
            return Err(unsupported(what, "video on microvm"));
        }
    }
    for a in &d.audios {
        if a.input.is_some() || a.output.is_some() || a.timer_period.is_some() {
            return Err(unsupported(format!("/domain/devices/audio[@id='{}']", a.id), "audio input/output tuning"));
        }
    }
    let mut action: Option<WatchdogAction> = None;
    for (i, w) in d.watchdogs.iter().enumerate() {
        let what = format!("/domain/devices/watchdog[{}]", i + 1);
        if microvm {
            return Err(unsupported(what, "watchdogs on microvm"));
        }
        let a = w.action.unwrap_or(WatchdogAction::Reset);
        if action.is_some_and(|prev| prev != a) {
            return Err(invalid(format!("{what}/@action"), "all watchdogs must have the same action"));
        }
        action = Some(a);
    }
    if d.memballoon.as_ref().is_some_and(|b| b.model == MemballoonModel::Xen) {
        return Err(unsupported("/domain/devices/memballoon", "model 'xen'"));
    }
    for (i, inp) in d.inputs.iter().enumerate() {
        let what = format!("/domain/devices/input[{}]", i + 1);
        let bus = inp.bus.unwrap_or(if inp.kind == InputType::Tablet { InputBus::Usb } else { InputBus::Ps2 });
        if bus == InputBus::Ps2 && inp.kind == InputType::Tablet {
            return Err(invalid(what, "a tablet cannot be on the PS/2 bus"));
        }
        if bus == InputBus::Ps2 && microvm && matches!(inp.kind, InputType::Mouse | InputType::Keyboard) {
            return Err(unsupported(what, "PS/2 devices on microvm"));
        }
    }
    if microvm && !d.sounds.is_empty() {
        return Err(unsupported("/domain/devices/sound[1]", "sound on microvm"));
    }
    Ok(())
}

/// Interface settings this driver does not implement.
fn interfaces(d: &Devices) -> Result<(), CommandError> {
    for (i, n) in d.interfaces.iter().enumerate() {
        let path = format!("/domain/devices/interface[{}]", i + 1);
        // Network, bridge, ethernet and direct (macvtap) NICs all get fds the driver opened.
        let is_tap = matches!(
            n.kind,
            InterfaceType::Network | InterfaceType::Bridge | InterfaceType::Ethernet | InterfaceType::Direct
        );
        if matches!(n.kind, InterfaceType::Network | InterfaceType::Bridge)
            && n.vlan.as_ref().is_some_and(|v| !v.tags.is_empty())
        {
            // As libvirt: only Open vSwitch ports (or SR-IOV) carry tags; taps here sit on Linux bridges.
            return Err(unsupported(
                format!("{path}/vlan"),
                "vlan tags on a Linux bridge (they need an Open vSwitch bridge, which is not supported)",
            ));
        }
        let checks: [(bool, &str); 13] = [
            (n.vlan.is_none(), "vlan"),
            (n.virtualport.is_none(), "virtualport"),
            // Set with tc on the tap (oxvirt_network::bandwidth), not on the QEMU command line.
            (n.bandwidth.is_none() || is_tap, "bandwidth"),
            (n.port.is_none(), "port"),
            (n.routes.is_empty(), "route"),
            (n.port_forwards.is_empty(), "portForward (needs the passt backend)"),
            (n.script.is_none() && n.downscript.is_none(), "script"),
            (n.filterref.is_none(), "filterref"),
            (n.tune.is_none(), "tune"),
            (n.teaming.is_none(), "teaming"),
            (n.coalesce.is_none(), "coalesce"),
            (n.backenddomain.is_none() && (n.target.is_none() || is_tap) && n.guest.is_none(), "target/guest"),
            (n.acpi.is_none(), "acpi"),
        ];
        for (ok, what) in checks {
            if !ok {
                return Err(unsupported(format!("{path}/{what}"), "not implemented by this driver"));
            }
        }
        if n.kind != InterfaceType::User && !is_tap {
            return Err(unsupported(
                format!("{path}/@type"),
                format!(
                    "interface type '{}' (only 'user', 'network', 'bridge', 'ethernet' and 'direct' so far)",
                    n.kind
                ),
            ));
        }
        if let Some(b) = &n.backend {
            if b.kind.is_some() {
                return Err(unsupported(
                    format!("{path}/backend/@type"),
                    "the passt backend (passt is not available to this driver yet)",
                ));
            }
            if b.tap.is_some() || b.vhost.is_some() || b.log_file.is_some() {
                return Err(unsupported(format!("{path}/backend"), "backend device paths"));
            }
        }
        if is_tap && !n.ips.is_empty() {
            return Err(unsupported(format!("{path}/ip"), "host-side addresses on a tap"));
        }
        if n.ips.iter().any(|ip| ip.peer.is_some()) && !is_tap {
            return Err(unsupported(format!("{path}/ip/@peer"), "peer addresses"));
        }
    }
    Ok(())
}

/// Disk settings this driver does not implement.
fn check_disk(d: &Disk) -> Result<(), CommandError> {
    let p = format!("/domain/devices/disk[target/@dev='{}']", d.target.dev);
    let checks: [(bool, &str); 12] = [
        (d.iotune.is_none(), "iotune"),
        (d.encryption.is_none() && d.source.as_ref().is_none_or(|s| s.encryption.is_none()), "encryption"),
        (d.auth.is_none(), "auth"),
        (d.mirror.is_none(), "mirror"),
        (d.transient.is_none(), "transient"),
        (d.backend_domain.is_none(), "backenddomain"),
        (d.rawio.is_none() && d.sgio.is_none(), "rawio/sgio"),
        (d.driver.as_ref().is_none_or(|x| x.copy_on_read.is_none()), "driver/@copy_on_read"),
        (d.driver.as_ref().is_none_or(|x| x.metadata_cache.is_none()), "driver/metadata_cache"),
        (
            d.source.as_ref().is_none_or(|s| s.slices.is_none() && s.reservations.is_none()),
            "source/slices|reservations",
        ),
        (d.driver.as_ref().is_none_or(|x| x.name.as_deref().is_none_or(|n| n == "qemu")), "driver/@name (only 'qemu')"),
        (d.info.rom.is_none() && d.info.master.is_none(), "rom"),
    ];
    for (ok, what) in checks {
        if !ok {
            return Err(unsupported(format!("{p}/{what}"), "not implemented by this driver"));
        }
    }
    Ok(())
}

/// Displays: one VNC server, no OpenGL, SPICE only when built in and without TLS.
fn graphics(d: &Devices, env: &BuildEnv) -> Result<(), CommandError> {
    let mut vnc_seen = false;
    for (gi, g) in d.graphics.iter().enumerate() {
        let what = format!("/domain/devices/graphics[{}]", gi + 1);
        if g.gl.as_ref().is_some_and(|gl| gl.enable == Some(YesNo::Yes)) {
            return Err(unsupported(format!("{what}/gl"), "OpenGL"));
        }
        match g.kind {
            GraphicsType::Vnc => {
                if vnc_seen {
                    return Err(unsupported(what, "more than one VNC display"));
                }
                vnc_seen = true;
            }
            GraphicsType::Spice => {
                // Debian ships SPICE as a loadable module; without it the chardev types are missing.
                if !env.caps.has_type("chardev-spicevmc") {
                    return Err(unsupported(what, "this emulator was built without SPICE"));
                }
                if g.tls_port.is_some_and(|p| p > 0)
                    || g.channels.iter().any(|c| c.mode == SpiceChannelMode::Secure)
                    || g.default_mode == Some(SpiceChannelMode::Secure)
                {
                    return Err(unsupported(
                        format!("{what}/@tlsPort"),
                        "SPICE over TLS (no certificates are configured)",
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Character device targets this driver has no device for.
fn chardevs(d: &Devices, kind: MachineKind) -> Result<(), CommandError> {
    let alias = |a: &Option<Alias>| a.as_ref().map(|a| a.name.clone()).unwrap_or_default();
    if kind == MachineKind::Microvm {
        if let Some(p) = d.parallels.first() {
            return Err(unsupported(
                format!("/domain/devices/parallel[@alias='{}']", alias(&p.alias)),
                "parallel ports on microvm",
            ));
        }
    }
    for c in &d.channels {
        let t = c.target.clone().unwrap_or_default();
        if t.kind != Some(ChrTargetType::Virtio) {
            return Err(unsupported(
                format!("/domain/devices/channel[@alias='{}']/target/@type", alias(&c.alias)),
                format!("channel target '{}'", t.kind.map(|k| k.to_string()).unwrap_or_default()),
            ));
        }
    }
    for (i, c) in d.consoles.iter().enumerate() {
        let t = c.target.as_ref().and_then(|t| t.kind);
        match t {
            Some(ChrTargetType::Serial) if i == 0 => {}
            Some(ChrTargetType::Virtio) => {}
            other => {
                return Err(unsupported(
                    format!("/domain/devices/console[{}]/target/@type", i + 1),
                    format!("console target '{}'", other.map(|k| k.to_string()).unwrap_or_default()),
                ))
            }
        }
    }
    Ok(())
}

/// Disk devices QEMU is not given here: SCSI passthrough, virtio CD-ROMs or floppies, an IOThread
/// that does not exist.
fn disk_devices(def: &Domain, d: &Devices) -> Result<(), CommandError> {
    let iothreads = super::ctx::iothread_ids(def).unwrap_or_default();
    for disk in &d.disks {
        let path = format!("/domain/devices/disk[target/@dev='{}']", disk.target.dev);
        let device = disk.device.unwrap_or_default();
        if device == DiskDevice::Lun {
            return Err(unsupported(format!("{path}/@device"), "'lun' (SCSI passthrough)"));
        }
        if disk.target.bus.unwrap_or_default() == DiskBus::Virtio {
            if device != DiskDevice::Disk {
                return Err(invalid(format!("{path}/target/@bus"), "virtio disks can only be device='disk'"));
            }
            if let Some(t) = disk.driver.as_ref().and_then(|x| x.iothread).filter(|t| !iothreads.contains(t)) {
                return Err(invalid(format!("{path}/driver/@iothread"), format!("iothread {t} is not defined")));
            }
        }
    }
    Ok(())
}
