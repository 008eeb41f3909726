//! Watchdogs, the memory balloon, RNGs and panic devices.

use oxvirt_xml::domain::*;
use oxvirt_xml::OnOff;

use super::super::ctx::Ctx;
use super::super::props::Props;
use super::super::{unsupported, CommandError};
use super::chardev::chardev_backend;
use super::common::{alias, is_microvm, pci_props, virtio_opts};

pub(super) fn watchdogs(cx: &mut Ctx) -> Result<(), CommandError> {
    let mut action: Option<WatchdogAction> = None;
    for (i, w) in cx.devs.watchdogs.iter().enumerate() {
        let what = format!("/domain/devices/watchdog[{}]", i + 1);
        let id = alias(&w.info.alias);
        let p = match w.model {
            WatchdogModel::I6300esb => {
                Props::with("driver", "i6300esb").s("id", &id).extend(pci_props(cx, &w.info.address, &what)?)
            }
            WatchdogModel::Ib700 => Props::with("driver", "ib700").s("id", &id),
            other => return Err(unsupported(format!("{what}/@model"), format!("watchdog model '{other}'"))),
        };
        cx.device(p);
        action = Some(w.action.unwrap_or(WatchdogAction::Reset));
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

pub(super) fn memballoon(cx: &mut Ctx) -> Result<(), CommandError> {
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

pub(super) fn rngs(cx: &mut Ctx) -> Result<(), CommandError> {
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

pub(super) fn panics(cx: &mut Ctx) -> Result<(), CommandError> {
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
