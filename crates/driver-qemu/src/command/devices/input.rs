//! Input devices: PS/2, USB and virtio keyboards, mice and tablets.

use oxvirt_xml::domain::*;

use super::super::ctx::Ctx;
use super::super::props::Props;
use super::super::{unsupported, CommandError};
use super::common::{alias, is_microvm, pci_props, usb_props, virtio_opts};

pub(super) fn inputs(cx: &mut Ctx) -> Result<(), CommandError> {
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
            // Built into the machine (validate refuses PS/2 tablets and PS/2 on microvm).
            InputBus::Ps2 => continue,
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
