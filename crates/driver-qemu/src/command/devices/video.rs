//! Video adapters.

use oxvirt_xml::domain::*;

use super::super::ctx::Ctx;
use super::super::props::Props;
use super::super::{unsupported, CommandError};
use super::common::{alias, pci_props, virtio_opts};

pub(super) fn videos(cx: &mut Ctx) -> Result<(), CommandError> {
    for (i, v) in cx.devs.videos.iter().enumerate() {
        let what = format!("/domain/devices/video[{}]", i + 1);
        let m = v.model.clone().unwrap_or_default();
        let primary = i == 0;
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
