//! Devices other than disks, in libvirt's command line order.

use std::net::{IpAddr, Ipv4Addr, TcpListener};

use oxvirt_xml::domain::*;
use oxvirt_xml::{OnOff, YesNo};

use super::addr::MachineKind;
use super::alias::controller_alias;
use super::argv::Ctx;
use super::disk::{self, virtio_opts};
use super::props::{kv_escape, Props};
use super::{invalid, unsupported, CommandError, GraphicsPort, PortCheck, PrepareFile};

fn alias(a: &Option<Alias>) -> String {
    a.as_ref().map(|a| a.name.clone()).unwrap_or_default()
}

/// `bus`/`addr` (and `multifunction`) of a device with a PCI address.
pub(crate) fn pci_props(cx: &Ctx, a: &Option<Address>, what: &str) -> Result<Props, CommandError> {
    let a = a
        .as_ref()
        .filter(|a| a.kind == Some(AddressType::Pci))
        .ok_or_else(|| invalid(what, "a PCI address is needed here"))?;
    let bus = a.bus.map_or(0, |h| h.0);
    let ctrl = cx
        .devs
        .controllers
        .iter()
        .find(|c| c.kind == ControllerType::Pci && c.index == Some(bus))
        .ok_or_else(|| invalid(what, format!("PCI bus {bus} does not exist")))?;
    let mut p = Props::new().s("bus", controller_alias(ctrl, cx.kind));
    if a.multifunction == Some(OnOff::On) {
        p = p.b("multifunction", true);
    }
    let slot = a.slot.map_or(0, |h| h.0);
    let func = a.function.map_or(0, |h| h.0);
    let addr = if func == 0 { format!("0x{slot:x}") } else { format!("0x{slot:x}.0x{func:x}") };
    Ok(p.s("addr", addr))
}

pub(crate) fn usb_props(a: &Option<Address>) -> Props {
    let a = a.clone().unwrap_or_default();
    let bus = a.bus.map_or(0, |h| h.0);
    let bus = if bus == 0 { "usb.0".to_string() } else { format!("usb{bus}.0") };
    Props::new().s("bus", bus).opt_s("port", a.port)
}

fn is_microvm(cx: &Ctx) -> bool {
    cx.kind == MachineKind::Microvm
}

pub(crate) fn has_hyperv_panic(devs: &Devices) -> bool {
    devs.panics.iter().any(|p| p.model == Some(PanicModel::Hyperv))
}

pub(crate) fn all(cx: &mut Ctx) -> Result<(), CommandError> {
    let d = cx.devs;
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
    controllers(cx)?;
    disk::disks(cx)?;
    interfaces(cx)?;
    chardevs(cx)?;
    inputs(cx)?;
    audios(cx)?;
    graphics(cx)?;
    videos(cx)?;
    sounds(cx)?;
    watchdogs(cx)?;
    memballoon(cx)?;
    rngs(cx)?;
    panics(cx)?;
    Ok(())
}

fn controllers(cx: &mut Ctx) -> Result<(), CommandError> {
    let devs = cx.devs;
    let mut order: Vec<&Controller> = devs.controllers.iter().filter(|c| c.kind == ControllerType::Pci).collect();
    order.sort_by_key(|c| c.index);
    let mut rest: Vec<&Controller> = devs.controllers.iter().filter(|c| c.kind != ControllerType::Pci).collect();
    // A USB master before its companions.
    rest.sort_by_key(|c| {
        (c.kind == ControllerType::Usb
            && matches!(
                c.model,
                Some(ControllerModel::Ich9Uhci1 | ControllerModel::Ich9Uhci2 | ControllerModel::Ich9Uhci3)
            )) as u8
    });
    order.extend(rest);
    for c in order {
        let idx = c.index.unwrap_or(0);
        let path = format!("/domain/devices/controller[@type='{}'][@index='{idx}']", c.kind);
        let id = alias(&c.info.alias);
        if c.driver.as_ref().is_some_and(|d| d.ioeventfd.is_some()) {
            return Err(unsupported(format!("{path}/driver/@ioeventfd"), "not implemented by this driver"));
        }
        use ControllerModel as M;
        let p = match c.kind {
            ControllerType::Pci => {
                let model = c.model.unwrap_or(M::PciRoot);
                let t = c.target.clone().unwrap_or_default();
                let name = c.model_name.as_ref().and_then(|m| m.name);
                let p = match model {
                    M::PciRoot | M::PcieRoot => continue,
                    M::PcieRootPort => {
                        let drv = if name == Some(PciModelName::Ioh3420) { "ioh3420" } else { "pcie-root-port" };
                        let mut p = Props::with("driver", drv)
                            .opt_n("port", t.port.map(|h| h.0.into()))
                            .opt_n("chassis", t.chassis.map(u64::from));
                        if t.hotplug == Some(OnOff::Off) {
                            p = p.b("hotplug", false);
                        }
                        p.s("id", &id)
                    }
                    M::PciBridge => Props::with("driver", "pci-bridge")
                        .n("chassis_nr", t.chassis_nr.map_or(u64::from(idx), u64::from))
                        .s("id", &id),
                    M::PcieToPciBridge => Props::with("driver", "pcie-pci-bridge").s("id", &id),
                    M::DmiToPciBridge => Props::with("driver", "i82801b11-bridge").s("id", &id),
                    M::PcieSwitchUpstreamPort => Props::with("driver", "x3130-upstream").s("id", &id),
                    M::PcieSwitchDownstreamPort => Props::with("driver", "xio3130-downstream")
                        .opt_n("port", t.port.map(|h| h.0.into()))
                        .opt_n("chassis", t.chassis.map(u64::from))
                        .s("id", &id),
                    M::PciExpanderBus => {
                        Props::with("driver", "pxb").opt_n("bus_nr", t.bus_nr.map(u64::from)).s("id", &id)
                    }
                    M::PcieExpanderBus => {
                        Props::with("driver", "pxb-pcie").opt_n("bus_nr", t.bus_nr.map(u64::from)).s("id", &id)
                    }
                    other => return Err(invalid(&path, format!("model '{other}'"))),
                };
                if t.node.is_some() {
                    return Err(unsupported(format!("{path}/target/node"), "NUMA nodes of expander buses"));
                }
                p.extend(pci_props(cx, &c.info.address, &path)?)
            }
            ControllerType::Usb => {
                let (drv, ports) = match c.model {
                    Some(M::None) => continue,
                    Some(M::Piix3Uhci) | None => ("piix3-usb-uhci", false),
                    Some(M::Piix4Uhci) => ("piix4-usb-uhci", false),
                    Some(M::Ehci) => ("usb-ehci", false),
                    Some(M::Ich9Ehci1) => ("ich9-usb-ehci1", false),
                    Some(M::Ich9Uhci1) => ("ich9-usb-uhci1", false),
                    Some(M::Ich9Uhci2) => ("ich9-usb-uhci2", false),
                    Some(M::Ich9Uhci3) => ("ich9-usb-uhci3", false),
                    Some(M::Vt82c686bUhci) => ("vt82c686b-usb-uhci", false),
                    Some(M::PciOhci) => ("pci-ohci", false),
                    Some(M::NecXhci) => ("nec-usb-xhci", true),
                    Some(M::QemuXhci) => ("qemu-xhci", true),
                    Some(other) => return Err(unsupported(&path, format!("USB controller model '{other}'"))),
                };
                if is_microvm(cx) {
                    return Err(unsupported(&path, "USB on microvm"));
                }
                let mut p = Props::with("driver", drv);
                if let Some(m) = &c.info.master {
                    p = p
                        .s("masterbus", format!("{}.0", if idx == 0 { "usb".to_string() } else { format!("usb{idx}") }))
                        .n("firstport", m.startport.into());
                } else {
                    p = p.s("id", &id);
                }
                if let Some(n) = c.ports {
                    if !ports {
                        return Err(unsupported(
                            format!("{path}/@ports"),
                            "the port count of this USB controller model",
                        ));
                    }
                    p = p.n("p2", n.into()).n("p3", n.into());
                }
                p.extend(pci_props(cx, &c.info.address, &path)?)
            }
            ControllerType::Scsi => {
                let drv = match c.model {
                    Some(M::Lsilogic) | None => "lsi53c895a",
                    Some(M::Lsisas1068) => "mptsas1068",
                    Some(M::Lsisas1078) => "megasas",
                    Some(M::VirtioScsi | M::VirtioNonTransitional) if is_microvm(cx) => "virtio-scsi-device",
                    Some(M::VirtioScsi) => "virtio-scsi-pci",
                    Some(M::VirtioTransitional) => "virtio-scsi-pci-transitional",
                    Some(M::VirtioNonTransitional) => "virtio-scsi-pci-non-transitional",
                    Some(M::Vmpvscsi) => "pvscsi",
                    Some(M::Am53c974) => "am53c974",
                    Some(M::Dc390) => "dc390",
                    Some(other) => return Err(unsupported(&path, format!("SCSI controller model '{other}'"))),
                };
                let mut p = Props::with("driver", drv).s("id", &id);
                if let Some(dr) = &c.driver {
                    if !drv.starts_with("virtio")
                        && (dr.queues.is_some()
                            || dr.iothread.is_some()
                            || dr.cmd_per_lun.is_some()
                            || dr.max_sectors.is_some())
                    {
                        return Err(invalid(format!("{path}/driver"), "queue/iothread tuning is for virtio-scsi"));
                    }
                    p = p
                        .opt_n("num_queues", dr.queues.map(u64::from))
                        .opt_n("cmd_per_lun", dr.cmd_per_lun.map(u64::from))
                        .opt_n("max_sectors", dr.max_sectors.map(u64::from))
                        .opt_s("iothread", dr.iothread.map(|t| format!("iothread{t}")));
                    p = virtio_opts(p, &dr.virtio);
                }
                if is_microvm(cx) {
                    p
                } else {
                    p.extend(pci_props(cx, &c.info.address, &path)?)
                }
            }
            ControllerType::VirtioSerial => {
                let drv = match c.model {
                    _ if is_microvm(cx) => "virtio-serial-device",
                    Some(M::VirtioTransitional) => "virtio-serial-pci-transitional",
                    Some(M::VirtioNonTransitional) => "virtio-serial-pci-non-transitional",
                    _ => "virtio-serial-pci",
                };
                let mut p = Props::with("driver", drv)
                    .s("id", &id)
                    .opt_n("max_ports", c.ports.map(u64::from))
                    .opt_n("vectors", c.vectors.map(u64::from));
                if let Some(dr) = &c.driver {
                    p = virtio_opts(p, &dr.virtio);
                }
                if is_microvm(cx) {
                    p
                } else {
                    p.extend(pci_props(cx, &c.info.address, &path)?)
                }
            }
            ControllerType::Ide => {
                if cx.kind == MachineKind::Pc && idx == 0 {
                    continue;
                }
                return Err(unsupported(&path, "IDE controllers other than the pc machine's built-in one"));
            }
            ControllerType::Sata => {
                if cx.kind == MachineKind::Q35 && idx == 0 {
                    continue;
                }
                if is_microvm(cx) {
                    return Err(unsupported(&path, "SATA on microvm"));
                }
                Props::with("driver", "ich9-ahci").s("id", &id).extend(pci_props(cx, &c.info.address, &path)?)
            }
            ControllerType::Fdc => match cx.kind {
                MachineKind::Pc => continue,
                MachineKind::Q35 => Props::with("driver", "isa-fdc").s("id", &id),
                MachineKind::Microvm => return Err(unsupported(&path, "floppies on microvm")),
            },
            other => return Err(unsupported(&path, format!("controller type '{other}'"))),
        };
        cx.device(p);
    }
    Ok(())
}

fn interfaces(cx: &mut Ctx) -> Result<(), CommandError> {
    let devs = cx.devs;
    for (i, n) in devs.interfaces.iter().enumerate() {
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
        let netid = format!("host{}", alias(&n.alias));
        let tap =
            if is_tap {
                let t =
                    cx.env.taps.get(i).cloned().flatten().filter(|t| !t.fds.is_empty()).ok_or_else(|| {
                        invalid(format!("{path}/@type"), "no tap device was opened for this interface")
                    })?;
                if !n.ips.is_empty() {
                    return Err(unsupported(format!("{path}/ip"), "host-side addresses on a tap"));
                }
                Some(t)
            } else {
                None
            };
        let fd_list = |v: &[i32]| v.iter().map(i32::to_string).collect::<Vec<_>>().join(":");
        let mut np = match &tap {
            // QEMU probes the fds for a vnet header itself (`vnet_hdr` is refused with `fd`).
            // One fd: `fd`; a multiqueue tap: `fds` (libvirt's choice too), likewise vhost.
            Some(t) => {
                let mut p = Props::with("type", "tap");
                p = if t.fds.len() > 1 { p.s("fds", fd_list(&t.fds)) } else { p.s("fd", fd_list(&t.fds)) };
                p = p.b("vhost", !t.vhostfds.is_empty());
                match t.vhostfds.len() {
                    0 => {}
                    1 => p = p.s("vhostfd", fd_list(&t.vhostfds)),
                    _ => p = p.s("vhostfds", fd_list(&t.vhostfds)),
                }
                p.s("id", &netid)
            }
            None => Props::with("type", "user").s("id", &netid),
        };
        for ip in n.ips.iter().filter(|_| tap.is_none()) {
            let prefix = ip.prefix.unwrap_or(if ip.address.is_ipv4() { 24 } else { 64 });
            match ip.address {
                IpAddr::V4(a) => np = np.s("net", format!("{a}/{prefix}")),
                IpAddr::V6(a) => np = np.s("ipv6-net", format!("{a}/{prefix}")),
            }
            if ip.peer.is_some() {
                return Err(unsupported(format!("{path}/ip/@peer"), "peer addresses"));
            }
        }
        cx.arg("-netdev", np.to_json());
        let model = n.model.as_ref().map_or("rtl8139", |m| m.kind.as_str());
        let drv = match model {
            "virtio" | "virtio-non-transitional" if is_microvm(cx) => "virtio-net-device".to_string(),
            "virtio" => "virtio-net-pci".to_string(),
            "virtio-transitional" => "virtio-net-pci-transitional".to_string(),
            "virtio-non-transitional" => "virtio-net-pci-non-transitional".to_string(),
            m => {
                if !cx.env.caps.has_device(m) {
                    return Err(unsupported(
                        format!("{path}/model/@type"),
                        format!("NIC model '{m}' is not known to this emulator"),
                    ));
                }
                m.to_string()
            }
        };
        let virtio = drv.starts_with("virtio");
        let queues = n.driver.as_ref().and_then(|d| d.queues).unwrap_or(1);
        if queues > 1 && !virtio {
            return Err(invalid(
                format!("{path}/driver/@queues"),
                format!("multiqueue (queues='{queues}') needs a virtio NIC model, not '{model}'"),
            ));
        }
        if queues > 1 && tap.is_none() {
            return Err(unsupported(format!("{path}/driver/@queues"), "multiqueue on user networking"));
        }
        if let Some(t) = tap.as_ref().filter(|t| queues > 1 && t.fds.len() != queues as usize) {
            return Err(invalid(
                format!("{path}/driver/@queues"),
                format!("{queues} queues but {} tap descriptors were opened", t.fds.len()),
            ));
        }
        let mut p = Props::with("driver", &drv);
        if queues > 1 {
            // Two MSI-X vectors per queue pair, one for config and one for control (libvirt's
            // 2N+2); devices off PCI have no vectors property.
            p = p.b("mq", true);
            if !is_microvm(cx) {
                p = p.n("vectors", 2 * u64::from(queues) + 2);
            }
        }
        let mut p = p.s("netdev", &netid).s("id", alias(&n.alias));
        if let Some(m) = &n.mac {
            p = p.s("mac", m.address.to_string());
        }
        if let Some(dr) = &n.driver {
            // The backend's name and a single queue mean nothing to other models (vhost on them
            // is refused when the taps are opened, see `vhost_wanted`).
            let tuning = InterfaceDriver { name: None, queues: None, ..dr.clone() };
            if !virtio && tuning != InterfaceDriver::default() {
                return Err(invalid(format!("{path}/driver"), "driver tuning is for virtio NICs"));
            }
            if dr.txmode.is_some()
                || dr.host.is_some()
                || dr.guest.is_some()
                || dr.rss.is_some()
                || dr.rss_hash_report.is_some()
            {
                return Err(unsupported(format!("{path}/driver"), "txmode, offload and RSS settings"));
            }
            p = p
                .opt_n("rx_queue_size", dr.rx_queue_size.map(u64::from))
                .opt_n("tx_queue_size", dr.tx_queue_size.map(u64::from))
                .opt_b("event_idx", dr.event_idx.map(|x| x == OnOff::On))
                .opt_b("ioeventfd", dr.ioeventfd.map(|x| x == OnOff::On));
            p = virtio_opts(p, &dr.virtio);
        }
        if let Some(m) = &n.mtu {
            if !virtio {
                return Err(invalid(format!("{path}/mtu"), "MTU is for virtio NICs"));
            }
            p = p.n("host_mtu", m.size.into());
        }
        if !is_microvm(cx) {
            p = p.extend(pci_props(cx, &n.address, &path)?);
        }
        if let Some(b) = cx.net_boot[i] {
            p = p.n("bootindex", b.into());
        }
        if let Some(r) = &n.rom {
            if r.enabled == Some(YesNo::No) {
                p = p.s("romfile", "");
            } else if let Some(f) = &r.file {
                p = p.s("romfile", f);
            }
            if let Some(bar) = r.bar {
                p = p.b("rombar", bar == OnOff::On);
            }
        }
        cx.device(p);
    }
    Ok(())
}

/// The `-chardev` value for a character device backend.
fn chardev_backend(
    cx: &mut Ctx,
    id: &str,
    kind: Option<ChrType>,
    src: &ChrSourceContent,
    what: &str,
    default_sock: &str,
) -> Result<String, CommandError> {
    let s0 = src.sources.first().cloned().unwrap_or_default();
    let path = |s: &ChrSource| s.path.clone().ok_or_else(|| invalid(format!("{what}/source/@path"), "path missing"));
    if s0.tls == Some(YesNo::Yes) {
        return Err(unsupported(format!("{what}/source/@tls"), "TLS character devices"));
    }
    let mut v = match kind.unwrap_or(ChrType::Pty) {
        ChrType::Null => format!("null,id={id}"),
        ChrType::Vc => format!("vc,id={id}"),
        ChrType::Pty => format!("pty,id={id}"),
        ChrType::Stdio => format!("stdio,id={id}"),
        ChrType::Dev => format!("tty,id={id},path={}", kv_escape(&path(&s0)?)),
        ChrType::File => {
            let fdset = cx.pass_file(&path(&s0)?, s0.append == Some(OnOff::On));
            let mut v = format!("file,id={id},path={fdset}");
            if let Some(a) = s0.append {
                v.push_str(&format!(",append={}", if a == OnOff::On { "on" } else { "off" }));
            }
            v
        }
        ChrType::Pipe => format!("pipe,id={id},path={}", kv_escape(&path(&s0)?)),
        ChrType::Udp => {
            let connect = src.sources.iter().find(|s| s.mode != Some(ChrSourceMode::Bind)).cloned().unwrap_or_default();
            let bind = src.sources.iter().find(|s| s.mode == Some(ChrSourceMode::Bind));
            let mut v = format!(
                "udp,id={id},host={},port={}",
                connect.host.as_deref().unwrap_or("localhost"),
                connect
                    .service
                    .as_deref()
                    .ok_or_else(|| invalid(format!("{what}/source/@service"), "UDP port missing"))?
            );
            if let Some(b) = bind {
                v.push_str(&format!(
                    ",localaddr={},localport={}",
                    b.host.as_deref().unwrap_or("0.0.0.0"),
                    b.service.as_deref().unwrap_or("0")
                ));
            }
            v
        }
        ChrType::Tcp => {
            let host = s0.host.clone().unwrap_or_else(|| "localhost".into());
            let port =
                s0.service.clone().ok_or_else(|| invalid(format!("{what}/source/@service"), "TCP port missing"))?;
            let mut v = format!("socket,id={id},host={host},port={port}");
            match src.protocol.as_ref().and_then(|p| p.kind) {
                None | Some(ChrProtocolType::Raw) => {}
                Some(ChrProtocolType::Telnet) => v.push_str(",telnet=on"),
                Some(other) => return Err(unsupported(format!("{what}/protocol"), format!("protocol '{other}'"))),
            }
            v.push_str(&socket_role(&s0));
            v
        }
        ChrType::Unix => {
            let p = match &s0.path {
                Some(p) => p.clone(),
                None if s0.mode == Some(ChrSourceMode::Bind) => cx.env.run_dir.join(default_sock).display().to_string(),
                None => return Err(invalid(format!("{what}/source/@path"), "path missing")),
            };
            let mut v = format!("socket,id={id},path={}", kv_escape(&p));
            v.push_str(&socket_role(&s0));
            v
        }
        ChrType::Spicevmc => {
            spice_present(cx, what)?;
            format!("spicevmc,id={id},name=vdagent")
        }
        ChrType::Spiceport => {
            spice_present(cx, what)?;
            let ch = s0.channel.clone().ok_or_else(|| invalid(format!("{what}/source/@channel"), "channel missing"))?;
            format!("spiceport,id={id},name={}", kv_escape(&ch))
        }
        ChrType::QemuVdagent => {
            let mut v = format!("qemu-vdagent,id={id}");
            if let Some(c) = &s0.clipboard {
                v.push_str(&format!(",clipboard={}", if c.copypaste.is_yes() { "on" } else { "off" }));
            }
            if let Some(m) = &s0.mouse {
                v.push_str(&format!(",mouse={}", if m.mode == MouseMode::Client { "on" } else { "off" }));
            }
            v
        }
        other => return Err(unsupported(format!("{what}/@type"), format!("character device type '{other}'"))),
    };
    if let Some(l) = &src.log {
        let fdset = cx.pass_file(&l.file, l.append == Some(OnOff::On));
        v.push_str(&format!(",logfile={fdset}"));
        if let Some(a) = l.append {
            v.push_str(&format!(",logappend={}", if a == OnOff::On { "on" } else { "off" }));
        }
    }
    Ok(v)
}

fn spice_present(cx: &Ctx, what: &str) -> Result<(), CommandError> {
    if cx.devs.graphics.iter().any(|g| g.kind == GraphicsType::Spice) {
        Ok(())
    } else {
        Err(invalid(what, "spice channels need <graphics type='spice'>"))
    }
}

fn chardevs(cx: &mut Ctx) -> Result<(), CommandError> {
    let devs = cx.devs;
    for s in &devs.serials {
        let a = alias(&s.alias);
        let what = format!("/domain/devices/serial[@alias='{a}']");
        let cid = format!("char{a}");
        let be = chardev_backend(cx, &cid, s.kind, &s.source, &what, &format!("{a}.sock"))?;
        let t = s.target.clone().unwrap_or_default();
        let p = match t.kind {
            Some(ChrTargetType::IsaSerial) | None => Props::with("driver", "isa-serial")
                .s("chardev", &cid)
                .s("id", &a)
                .n("index", t.port.unwrap_or(0).into()),
            Some(ChrTargetType::PciSerial) => Props::with("driver", "pci-serial")
                .s("chardev", &cid)
                .s("id", &a)
                .extend(pci_props(cx, &s.address, &what)?),
            Some(ChrTargetType::UsbSerial) => {
                Props::with("driver", "usb-serial").s("chardev", &cid).s("id", &a).extend(usb_props(&s.address))
            }
            Some(ChrTargetType::IsaDebug) => {
                Props::with("driver", "isa-debugcon").s("chardev", &cid).s("id", &a).n("iobase", 0x402)
            }
            Some(other) => return Err(unsupported(format!("{what}/target/@type"), format!("serial target '{other}'"))),
        };
        cx.arg("-chardev", be);
        cx.device(p);
    }
    for pdev in &devs.parallels {
        let a = alias(&pdev.alias);
        let what = format!("/domain/devices/parallel[@alias='{a}']");
        let cid = format!("char{a}");
        let mut be = chardev_backend(cx, &cid, pdev.kind, &pdev.source, &what, &format!("{a}.sock"))?;
        if be.starts_with("tty,") {
            be = be.replacen("tty,", "parport,", 1);
        }
        if is_microvm(cx) {
            return Err(unsupported(what, "parallel ports on microvm"));
        }
        cx.arg("-chardev", be);
        cx.device(Props::with("driver", "isa-parallel").s("chardev", &cid).s("id", &a));
    }
    for c in &devs.channels {
        let a = alias(&c.alias);
        let what = format!("/domain/devices/channel[@alias='{a}']");
        let t = c.target.clone().unwrap_or_default();
        if t.kind != Some(ChrTargetType::Virtio) {
            return Err(unsupported(
                format!("{what}/target/@type"),
                format!("channel target '{}'", t.kind.map(|k| k.to_string()).unwrap_or_default()),
            ));
        }
        let cid = format!("char{a}");
        let sock = format!("{}.sock", t.name.clone().unwrap_or_else(|| a.clone()));
        let be = chardev_backend(cx, &cid, c.kind, &c.source, &what, &sock)?;
        cx.arg("-chardev", be);
        let p = virtio_serial_port(cx, "virtserialport", c, &cid, &a)?;
        let name =
            t.name.clone().or_else(|| (c.kind == Some(ChrType::Spicevmc)).then(|| "com.redhat.spice.0".to_string()));
        cx.device(p.opt_s("name", name));
    }
    for (i, c) in devs.consoles.iter().enumerate() {
        let a = alias(&c.alias);
        let what = format!("/domain/devices/console[{}]", i + 1);
        let t = c.target.clone().unwrap_or_default();
        match t.kind {
            Some(ChrTargetType::Serial) if i == 0 => continue,
            Some(ChrTargetType::Virtio) => {
                let cid = format!("char{a}");
                let be = chardev_backend(cx, &cid, c.kind, &c.source, &what, &format!("{a}.sock"))?;
                cx.arg("-chardev", be);
                let p = virtio_serial_port(cx, "virtconsole", c, &cid, &a)?;
                cx.device(p);
            }
            other => {
                return Err(unsupported(
                    format!("{what}/target/@type"),
                    format!("console target '{}'", other.map(|k| k.to_string()).unwrap_or_default()),
                ))
            }
        }
    }
    Ok(())
}

fn virtio_serial_port(cx: &Ctx, driver: &str, c: &Chardev, cid: &str, id: &str) -> Result<Props, CommandError> {
    let a = c.address.clone().unwrap_or_default();
    let ctrl = a.controller.unwrap_or(0);
    let bus = cx
        .devs
        .controllers
        .iter()
        .find(|x| x.kind == ControllerType::VirtioSerial && x.index == Some(ctrl))
        .map(|x| alias(&x.info.alias))
        .ok_or_else(|| {
            invalid(format!("/domain/devices/{driver}"), format!("virtio-serial controller {ctrl} does not exist"))
        })?;
    let nr: u64 = a.port.as_deref().and_then(|p| p.parse().ok()).unwrap_or(1);
    Ok(Props::with("driver", driver)
        .s("bus", format!("{bus}.{}", a.bus.map_or(0, |h| h.0)))
        .n("nr", nr)
        .s("chardev", cid)
        .s("id", id))
}

fn inputs(cx: &mut Ctx) -> Result<(), CommandError> {
    for (i, inp) in cx.devs.inputs.iter().enumerate() {
        let what = format!("/domain/devices/input[{}]", i + 1);
        let id = alias(&inp.alias);
        let kind = match inp.kind {
            InputType::Mouse => "mouse",
            InputType::Tablet => "tablet",
            InputType::Keyboard => "keyboard",
            other => return Err(unsupported(format!("{what}/@type"), format!("input type '{other}'"))),
        };
        let bus = inp.bus.unwrap_or(if inp.kind == InputType::Tablet { InputBus::Usb } else { InputBus::Ps2 });
        let p = match bus {
            InputBus::Ps2 => {
                if inp.kind == InputType::Tablet {
                    return Err(invalid(what, "a tablet cannot be on the PS/2 bus"));
                }
                if is_microvm(cx) {
                    return Err(unsupported(what, "PS/2 devices on microvm"));
                }
                continue;
            }
            InputBus::Usb => {
                let drv = match inp.kind {
                    InputType::Mouse => "usb-mouse",
                    InputType::Tablet => "usb-tablet",
                    _ => "usb-kbd",
                };
                Props::with("driver", drv).s("id", &id).extend(usb_props(&inp.address))
            }
            InputBus::Virtio => {
                let suffix = if is_microvm(cx) { "device" } else { "pci" };
                let mut p = Props::with("driver", format!("virtio-{kind}-{suffix}")).s("id", &id);
                if let Some(d) = &inp.driver {
                    p = virtio_opts(p, d);
                }
                if !is_microvm(cx) {
                    p = p.extend(pci_props(cx, &inp.address, &what)?);
                }
                p
            }
            other => return Err(unsupported(format!("{what}/@bus"), format!("input bus '{other}'"))),
        };
        cx.device(p);
    }
    Ok(())
}

fn audio_id(cx: &Ctx, r: Option<&AudioRef>) -> Option<String> {
    r.map(|r| r.id).or_else(|| cx.devs.audios.first().map(|a| a.id)).map(|id| format!("audio{id}"))
}

fn audios(cx: &mut Ctx) -> Result<(), CommandError> {
    for a in &cx.devs.audios {
        let what = format!("/domain/devices/audio[@id='{}']", a.id);
        if a.input.is_some() || a.output.is_some() || a.timer_period.is_some() {
            return Err(unsupported(what, "audio input/output tuning"));
        }
        let drv = match a.kind {
            AudioType::None => "none",
            AudioType::Spice => "spice",
            AudioType::File => "wav",
            AudioType::Alsa => "alsa",
            AudioType::Pulseaudio => "pa",
            AudioType::Sdl => "sdl",
            AudioType::Oss => "oss",
            AudioType::Jack => "jack",
            AudioType::Dbus => "dbus",
            other => return Err(unsupported(format!("{what}/@type"), format!("audio type '{other}'"))),
        };
        let mut p = Props::with("id", format!("audio{}", a.id)).s("driver", drv);
        if a.kind == AudioType::File {
            p = p.opt_s("path", a.path.clone());
        }
        if a.kind == AudioType::Pulseaudio {
            p = p.opt_s("server", a.server_name.clone());
        }
        cx.arg("-audiodev", p.to_json());
    }
    Ok(())
}

/// A free TCP port in `from..=to` on `listen`, skipping ports already used by this command.
fn alloc_port(cx: &mut Ctx, listen: &str, from: u16, to: u16, what: &str) -> Result<u16, CommandError> {
    for p in from..=to {
        if cx.used_ports.contains(&p) {
            continue;
        }
        if cx.env.port_check == PortCheck::Bind {
            let host = listen.trim_start_matches('[').trim_end_matches(']');
            let ip: IpAddr = host.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
            if TcpListener::bind((ip, p)).is_err() {
                continue;
            }
        }
        cx.used_ports.push(p);
        return Ok(p);
    }
    Err(CommandError::PortAllocation { what: what.into(), from, to })
}

fn listen_address(g: &Graphics, what: &str) -> Result<Option<String>, CommandError> {
    match g.listens.first() {
        Some(l) => match l.kind {
            ListenType::Address => {
                Ok(Some(l.address.clone().or_else(|| g.listen.clone()).unwrap_or_else(|| "127.0.0.1".into())))
            }
            ListenType::None => Ok(None),
            ListenType::Socket => Ok(Some(format!(
                "unix:{}",
                l.socket.clone().ok_or_else(|| invalid(format!("{what}/listen"), "socket path missing"))?
            ))),
            ListenType::Network => {
                Err(unsupported(format!("{what}/listen[@type='network']"), "listening on a virtual network's address"))
            }
        },
        None => Ok(Some(match &g.socket {
            Some(s) => format!("unix:{s}"),
            None => g.listen.clone().unwrap_or_else(|| "127.0.0.1".into()),
        })),
    }
}

fn graphics(cx: &mut Ctx) -> Result<(), CommandError> {
    let list = cx.devs.graphics.clone();
    let mut vnc_seen = false;
    for (gi, g) in list.iter().enumerate() {
        let what = format!("/domain/devices/graphics[{}]", gi + 1);
        if g.gl.as_ref().is_some_and(|gl| gl.enable == Some(YesNo::Yes)) {
            return Err(unsupported(format!("{what}/gl"), "OpenGL"));
        }
        let secret = |cx: &mut Ctx, pw: &str, name: &str| -> String {
            let id = format!("graphics{gi}-{name}-secret0");
            let path = cx.env.run_dir.join(format!("{id}.secret"));
            cx.prepare.push(PrepareFile::Secret { path: path.clone(), data: pw.as_bytes().to_vec() });
            cx.object(
                Props::with("qom-type", "secret").s("id", &id).s("format", "raw").s("file", path.display().to_string()),
            );
            id
        };
        match g.kind {
            GraphicsType::Vnc => {
                if vnc_seen {
                    return Err(unsupported(what, "more than one VNC display"));
                }
                vnc_seen = true;
                let listen = listen_address(g, &what)?;
                let mut port_out = GraphicsPort { graphics: gi, port: None, tls_port: None, websocket: None };
                let mut v = match listen {
                    None => "none".to_string(),
                    Some(l) if l.starts_with("unix:") => format!("unix:{}", kv_escape(&l[5..])),
                    Some(l) => {
                        let auto = g.autoport == Some(YesNo::Yes) || g.port.is_none_or(|p| p < 0);
                        let port = if auto {
                            alloc_port(cx, &l, 5900, 65535, "VNC")?
                        } else {
                            let p = g.port.unwrap_or(5900);
                            let p = u16::try_from(p)
                                .ok()
                                .filter(|p| *p >= 5900)
                                .ok_or_else(|| invalid(format!("{what}/@port"), "VNC ports start at 5900"))?;
                            cx.used_ports.push(p);
                            p
                        };
                        port_out.port = Some(port);
                        let host = if l.contains(':') && !l.starts_with('[') { format!("[{l}]") } else { l.clone() };
                        let mut v = format!("{host}:{}", port - 5900);
                        if let Some(ws) = g.websocket {
                            let wp = if ws < 0 {
                                alloc_port(cx, &l, 5700, 65535, "VNC websocket")?
                            } else {
                                u16::try_from(ws).map_err(|_| invalid(format!("{what}/@websocket"), "bad port"))?
                            };
                            port_out.websocket = Some(wp);
                            v.push_str(&format!(",websocket={wp}"));
                        }
                        v
                    }
                };
                if let Some(s) = g.share_policy {
                    v.push_str(&format!(",share={s}"));
                }
                if g.power_control == Some(YesNo::Yes) {
                    v.push_str(",power-control=on");
                }
                if let Some(pw) = &g.passwd {
                    let id = secret(cx, pw, "vnc");
                    v.push_str(&format!(",password-secret={id}"));
                }
                if let Some(a) = audio_id(cx, g.audio.as_ref()) {
                    v.push_str(&format!(",audiodev={a}"));
                }
                cx.arg("-vnc", v);
                if let Some(k) = &g.keymap {
                    cx.arg("-k", k.clone());
                }
                cx.graphics_ports.push(port_out);
            }
            GraphicsType::Spice => {
                // Debian ships SPICE as a loadable module; without it the chardev types are missing.
                if !cx.env.caps.has_type("chardev-spicevmc") {
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
                let listen = listen_address(g, &what)?;
                let mut port_out = GraphicsPort { graphics: gi, port: None, tls_port: None, websocket: None };
                let mut parts: Vec<String> = Vec::new();
                match listen {
                    None => {}
                    Some(l) if l.starts_with("unix:") => parts.push(format!("unix=on,addr={}", kv_escape(&l[5..]))),
                    Some(l) => {
                        let auto = g.autoport == Some(YesNo::Yes) || g.port.is_none_or(|p| p < 0);
                        let port = if auto {
                            alloc_port(cx, &l, 5900, 65535, "SPICE")?
                        } else {
                            let p = u16::try_from(g.port.unwrap_or(5900))
                                .map_err(|_| invalid(format!("{what}/@port"), "bad port"))?;
                            cx.used_ports.push(p);
                            p
                        };
                        port_out.port = Some(port);
                        parts.push(format!("port={port}"));
                        parts.push(format!("addr={l}"));
                    }
                }
                match &g.passwd {
                    Some(pw) => {
                        let id = secret(cx, pw, "spice");
                        parts.push(format!("password-secret={id}"));
                    }
                    None => parts.push("disable-ticketing=on".into()),
                }
                if let Some(i) = &g.image {
                    parts.push(format!("image-compression={}", i.compression));
                }
                if let Some(j) = &g.jpeg {
                    parts.push(format!("jpeg-wan-compression={}", j.compression));
                }
                if let Some(z) = &g.zlib {
                    parts.push(format!("zlib-glz-wan-compression={}", z.compression));
                }
                if let Some(p) = &g.playback {
                    parts.push(format!(
                        "playback-compression={}",
                        if p.compression == OnOff::On { "on" } else { "off" }
                    ));
                }
                if let Some(s) = &g.streaming {
                    parts.push(format!("streaming-video={}", s.mode));
                }
                if let Some(c) = &g.clipboard {
                    if !c.copypaste.is_yes() {
                        parts.push("disable-copy-paste=on".into());
                    }
                }
                if let Some(f) = &g.filetransfer {
                    if !f.enable.is_yes() {
                        parts.push("disable-agent-file-xfer=on".into());
                    }
                }
                if let Some(m) = &g.mouse {
                    parts.push(format!("agent-mouse={}", if m.mode == MouseMode::Client { "on" } else { "off" }));
                }
                parts.push("seamless-migration=on".into());
                cx.arg("-spice", parts.join(","));
                cx.graphics_ports.push(port_out);
            }
            other => return Err(unsupported(format!("{what}/@type"), format!("graphics type '{other}'"))),
        }
    }
    Ok(())
}

fn videos(cx: &mut Ctx) -> Result<(), CommandError> {
    for (i, v) in cx.devs.videos.iter().enumerate() {
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
        let primary = i == 0;
        if is_microvm(cx) && m.kind != VideoType::None {
            return Err(unsupported(what, "video on microvm"));
        }
        let id = alias(&v.alias);
        let kib_mb = |k: Option<u32>| k.map(|k| u64::from(k / 1024));
        let p = match m.kind {
            VideoType::None => continue,
            VideoType::Ramfb => {
                cx.device(Props::with("driver", "ramfb").s("id", &id));
                continue;
            }
            VideoType::Vga => Props::with("driver", if primary { "VGA" } else { "secondary-vga" })
                .s("id", &id)
                .opt_n("vgamem_mb", kib_mb(m.vram)),
            VideoType::Cirrus if primary => Props::with("driver", "cirrus-vga").s("id", &id),
            VideoType::Vmvga if primary => {
                Props::with("driver", "vmware-svga").s("id", &id).opt_n("vgamem_mb", kib_mb(m.vram))
            }
            VideoType::Qxl => Props::with("driver", if primary { "qxl-vga" } else { "qxl" })
                .s("id", &id)
                .opt_n("ram_size", m.ram.map(|r| u64::from(r) * 1024))
                .opt_n("vram_size", m.vram.map(|r| u64::from(r) * 1024))
                .opt_n("vram64_size_mb", kib_mb(m.vram64))
                .opt_n("vgamem_mb", kib_mb(m.vgamem))
                .opt_n("max_outputs", m.heads.map(u64::from)),
            VideoType::Virtio => {
                let drv = if primary && cx.env.caps.has_device("virtio-vga") { "virtio-vga" } else { "virtio-gpu-pci" };
                let mut p = Props::with("driver", drv).s("id", &id).opt_n("max_outputs", m.heads.map(u64::from));
                if let Some(d) = &v.driver {
                    p = virtio_opts(p, &d.virtio);
                }
                p
            }
            VideoType::Bochs => {
                Props::with("driver", "bochs-display").s("id", &id).opt_n("vgamem", m.vram.map(|r| u64::from(r) * 1024))
            }
            other => {
                return Err(unsupported(
                    format!("{what}/model/@type"),
                    format!("video model '{other}'{}", if primary { "" } else { " as a secondary adapter" }),
                ))
            }
        };
        let p = p.extend(pci_props(cx, &v.address, &what)?);
        cx.device(p);
    }
    Ok(())
}

fn sounds(cx: &mut Ctx) -> Result<(), CommandError> {
    for (i, s) in cx.devs.sounds.iter().enumerate() {
        let what = format!("/domain/devices/sound[{}]", i + 1);
        let id = alias(&s.alias);
        let audiodev = audio_id(cx, s.audio.as_ref());
        let (drv, hda) = match s.model {
            SoundModel::Ich6 => ("intel-hda", true),
            SoundModel::Ich9 => ("ich9-intel-hda", true),
            SoundModel::Ac97 => ("AC97", false),
            SoundModel::Es1370 => ("ES1370", false),
            SoundModel::Sb16 => ("sb16", false),
            SoundModel::Usb => ("usb-audio", false),
            other => return Err(unsupported(format!("{what}/@model"), format!("sound model '{other}'"))),
        };
        if is_microvm(cx) {
            return Err(unsupported(what, "sound on microvm"));
        }
        let mut p = Props::with("driver", drv).s("id", &id);
        if !hda {
            p = p.opt_s("audiodev", audiodev.clone());
        }
        p = match s.model {
            SoundModel::Sb16 => p,
            SoundModel::Usb => p.extend(usb_props(&s.address)),
            _ => p.extend(pci_props(cx, &s.address, &what)?),
        };
        cx.device(p);
        if hda {
            let codecs: Vec<SoundCodecType> = if s.codecs.is_empty() {
                vec![SoundCodecType::Duplex]
            } else {
                s.codecs.iter().map(|c| c.kind).collect()
            };
            for (ci, c) in codecs.iter().enumerate() {
                let drv = match c {
                    SoundCodecType::Duplex => "hda-duplex",
                    SoundCodecType::Micro => "hda-micro",
                    SoundCodecType::Output => "hda-output",
                };
                cx.device(
                    Props::with("driver", drv)
                        .s("id", format!("{id}-codec{ci}"))
                        .s("bus", format!("{id}.0"))
                        .n("cad", ci as u64)
                        .opt_s("audiodev", audiodev.clone()),
                );
            }
        } else if !s.codecs.is_empty() {
            return Err(invalid(format!("{what}/codec"), "codecs are for ich6/ich9 sound"));
        }
    }
    Ok(())
}

fn watchdogs(cx: &mut Ctx) -> Result<(), CommandError> {
    let mut action: Option<WatchdogAction> = None;
    for (i, w) in cx.devs.watchdogs.iter().enumerate() {
        let what = format!("/domain/devices/watchdog[{}]", i + 1);
        let id = alias(&w.alias);
        let p = match w.model {
            WatchdogModel::I6300esb => {
                Props::with("driver", "i6300esb").s("id", &id).extend(pci_props(cx, &w.address, &what)?)
            }
            WatchdogModel::Ib700 => Props::with("driver", "ib700").s("id", &id),
            other => return Err(unsupported(format!("{what}/@model"), format!("watchdog model '{other}'"))),
        };
        if is_microvm(cx) {
            return Err(unsupported(what, "watchdogs on microvm"));
        }
        cx.device(p);
        let a = w.action.unwrap_or(WatchdogAction::Reset);
        if action.is_some_and(|prev| prev != a) {
            return Err(invalid(format!("{what}/@action"), "all watchdogs must have the same action"));
        }
        action = Some(a);
    }
    if let Some(a) = action {
        let v = match a {
            WatchdogAction::Reset => "reset",
            WatchdogAction::Shutdown => "shutdown",
            WatchdogAction::Poweroff => "poweroff",
            WatchdogAction::Pause => "pause",
            WatchdogAction::None => "none",
            WatchdogAction::InjectNmi => "inject-nmi",
            WatchdogAction::Dump => {
                return Err(unsupported(
                    "/domain/devices/watchdog/@action",
                    "'dump' (guest memory dumps are not implemented)",
                ))
            }
        };
        cx.arg("-action", format!("watchdog={v}"));
    }
    Ok(())
}

fn memballoon(cx: &mut Ctx) -> Result<(), CommandError> {
    let Some(b) = &cx.devs.memballoon else {
        return Ok(());
    };
    let what = "/domain/devices/memballoon";
    let drv = match b.model {
        MemballoonModel::None => return Ok(()),
        MemballoonModel::Xen => return Err(unsupported(what, "model 'xen'")),
        _ if is_microvm(cx) => "virtio-balloon-device",
        MemballoonModel::Virtio => "virtio-balloon-pci",
        MemballoonModel::VirtioTransitional => "virtio-balloon-pci-transitional",
        MemballoonModel::VirtioNonTransitional => "virtio-balloon-pci-non-transitional",
    };
    let mut p = Props::with("driver", drv).s("id", alias(&b.alias));
    if !is_microvm(cx) {
        p = p.extend(pci_props(cx, &b.address, what)?);
    }
    if let Some(a) = b.autodeflate {
        p = p.b("deflate-on-oom", a == OnOff::On);
    }
    if let Some(f) = b.free_page_reporting {
        p = p.b("free-page-reporting", f == OnOff::On);
    }
    if let Some(s) = &b.stats {
        p = p.n("guest-stats-polling-interval", s.period.into());
    }
    if let Some(d) = &b.driver {
        p = virtio_opts(p, d);
    }
    cx.device(p);
    Ok(())
}

fn rngs(cx: &mut Ctx) -> Result<(), CommandError> {
    for (i, r) in cx.devs.rngs.iter().enumerate() {
        let what = format!("/domain/devices/rng[{}]", i + 1);
        let id = alias(&r.alias);
        let obj = format!("obj{id}");
        match r.backend.model {
            RngBackendModel::Random => {
                let path = r.backend.path.clone().unwrap_or_else(|| "/dev/urandom".into());
                cx.object(Props::with("qom-type", "rng-random").s("id", &obj).s("filename", path));
            }
            RngBackendModel::Builtin => cx.object(Props::with("qom-type", "rng-builtin").s("id", &obj)),
            RngBackendModel::Egd => {
                let cid = format!("char{id}");
                let be = chardev_backend(
                    cx,
                    &cid,
                    r.backend.kind,
                    &r.backend.source,
                    &format!("{what}/backend"),
                    &format!("{id}.sock"),
                )?;
                cx.arg("-chardev", be);
                cx.object(Props::with("qom-type", "rng-egd").s("id", &obj).s("chardev", &cid));
            }
        }
        let drv = match r.model {
            _ if is_microvm(cx) => "virtio-rng-device",
            RngModel::Virtio => "virtio-rng-pci",
            RngModel::VirtioTransitional => "virtio-rng-pci-transitional",
            RngModel::VirtioNonTransitional => "virtio-rng-pci-non-transitional",
        };
        let mut p = Props::with("driver", drv).s("rng", &obj).s("id", &id);
        if let Some(rate) = &r.rate {
            p = p.n("max-bytes", rate.bytes.into()).n("period", rate.period.unwrap_or(1000).into());
        }
        if let Some(d) = &r.driver {
            p = virtio_opts(p, d);
        }
        if !is_microvm(cx) {
            p = p.extend(pci_props(cx, &r.address, &what)?);
        }
        cx.device(p);
    }
    Ok(())
}

fn panics(cx: &mut Ctx) -> Result<(), CommandError> {
    for (i, pd) in cx.devs.panics.iter().enumerate() {
        let what = format!("/domain/devices/panic[{}]", i + 1);
        match pd.model {
            Some(PanicModel::Isa) | None => {
                let port = pd.address.as_ref().and_then(|a| a.iobase).map_or(0x505, |h| u64::from(h.0));
                cx.device(Props::with("driver", "pvpanic").s("id", alias(&pd.alias)).n("ioport", port));
            }
            Some(PanicModel::Hyperv) => {}
            Some(other) => return Err(unsupported(format!("{what}/@model"), format!("panic model '{other}'"))),
        }
    }
    Ok(())
}

/// A socket chardev's role: listening for the guest's peer (`mode='bind'`), or connecting with
/// libvirt's reconnect timeout (seconds, default 1).
fn socket_role(s0: &ChrSource) -> String {
    if s0.mode == Some(ChrSourceMode::Bind) {
        return ",server=on,wait=off".to_string();
    }
    match &s0.reconnect {
        Some(r) if r.enabled.is_yes() => format!(",reconnect-ms={}", u64::from(r.timeout.unwrap_or(1)) * 1000),
        _ => String::new(),
    }
}
