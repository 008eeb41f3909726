//! Controllers: PCI buses and bridges, USB, SCSI, virtio-serial, IDE/SATA/floppy.

use oxvirt_xml::domain::*;
use oxvirt_xml::OnOff;

use super::super::ctx::Ctx;
use super::super::machine::MachineKind;
use super::super::props::Props;
use super::super::{invalid, unsupported, CommandError};
use super::common::{alias, is_microvm, pci_props, virtio_opts};

pub(super) fn controllers(cx: &mut Ctx) -> Result<(), CommandError> {
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
                if cx.kind == MachineKind::I440fx && idx == 0 {
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
                MachineKind::I440fx => continue,
                MachineKind::Q35 => Props::with("driver", "isa-fdc").s("id", &id),
                MachineKind::Microvm => return Err(unsupported(&path, "floppies on microvm")),
            },
            other => return Err(unsupported(&path, format!("controller type '{other}'"))),
        };
        cx.device(p);
    }
    Ok(())
}
