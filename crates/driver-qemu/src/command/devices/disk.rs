//! Disks: `-blockdev` storage + format nodes (with backing chains) and the guest device.

use serde_json::json;

use oxvirt_xml::domain::*;
use oxvirt_xml::OnOff;

use super::super::ctx::Ctx;
use super::super::machine::MachineKind;
use super::super::props::Props;
use super::super::{invalid, unsupported, CommandError};
use super::common::{pci_props, usb_props, virtio_opts};

/// A pflash image (UEFI code = 0, variables = 1) as libvirt names its nodes.
pub(crate) fn emit_pflash(cx: &mut Ctx, n: u32, path: &str, readonly: bool) {
    let storage = format!("libvirt-pflash{n}-storage");
    cx.arg(
        "-blockdev",
        Props::with("driver", "file")
            .s("filename", path)
            .s("node-name", &storage)
            .b("auto-read-only", true)
            .s("discard", "unmap")
            .to_json(),
    );
    cx.arg(
        "-blockdev",
        Props::with("node-name", format!("libvirt-pflash{n}-format"))
            .b("read-only", readonly)
            .s("driver", "raw")
            .s("file", storage)
            .to_json(),
    );
}

struct CacheMode {
    direct: bool,
    no_flush: bool,
    write_cache: bool,
}

fn cache_mode(c: Option<DiskCache>) -> Option<CacheMode> {
    let (direct, no_flush, write_cache) = match c? {
        DiskCache::Default => return None,
        DiskCache::None => (true, false, true),
        DiskCache::Writethrough => (false, false, false),
        DiskCache::Writeback => (false, false, true),
        DiskCache::Directsync => (true, false, false),
        DiskCache::Unsafe => (false, true, true),
    };
    Some(CacheMode { direct, no_flush, write_cache })
}

fn format_name(f: Option<StorageFormat>, what: &str) -> Result<&'static str, CommandError> {
    Ok(match f {
        None | Some(StorageFormat::Raw | StorageFormat::Iso | StorageFormat::Aio) => "raw",
        Some(StorageFormat::Qcow2) => "qcow2",
        Some(StorageFormat::Qcow) => "qcow",
        Some(StorageFormat::Qed) => "qed",
        Some(StorageFormat::Vmdk) => "vmdk",
        Some(StorageFormat::Vpc | StorageFormat::Vhd) => "vpc",
        Some(StorageFormat::Vdi) => "vdi",
        Some(StorageFormat::Bochs) => "bochs",
        Some(StorageFormat::Cloop) => "cloop",
        Some(StorageFormat::Dmg) => "dmg",
        Some(other) => return Err(unsupported(what, format!("image format '{other}'"))),
    })
}

/// One image of a chain.
struct Image<'a> {
    kind: DiskType,
    source: &'a DiskSource,
    format: Option<StorageFormat>,
    /// `Some(None)`: explicitly no backing image; `None`: whatever the image header says.
    backing: Option<Option<usize>>,
}

fn chain(d: &Disk) -> Result<Vec<Image<'_>>, CommandError> {
    let mut out = Vec::new();
    let Some(src) = &d.source else { return Ok(out) };
    out.push(Image {
        kind: d.kind.unwrap_or_default(),
        source: src,
        format: d.driver.as_ref().and_then(|x| x.format),
        backing: None,
    });
    let mut next = d.backing_store.as_ref();
    while let Some(b) = next {
        let last = out.len() - 1;
        match &b.source {
            None => {
                out[last].backing = Some(None);
                break;
            }
            Some(s) => {
                out[last].backing = Some(Some(last + 1));
                out.push(Image {
                    kind: b.kind.unwrap_or_default(),
                    source: s,
                    format: b.format.as_ref().and_then(|f| f.kind),
                    backing: None,
                });
            }
        }
        next = b.backing_store.as_deref();
    }
    Ok(out)
}

pub(crate) fn disks(cx: &mut Ctx) -> Result<(), CommandError> {
    let devs = cx.devs;
    let total: usize = devs.disks.iter().map(|d| chain(d).map_or(0, |c| c.len())).sum();
    let mut counter = total;
    let mut fdc_boot: Vec<(u32, u32)> = Vec::new();
    for (di, d) in devs.disks.iter().enumerate() {
        let path = format!("/domain/devices/disk[target/@dev='{}']", d.target.dev);
        let images = chain(d)?;
        let nums: Vec<usize> = (0..images.len()).map(|i| counter - i).collect();
        counter -= images.len();
        let device = d.device.unwrap_or_default();
        let cdrom = device == DiskDevice::Cdrom;
        let readonly = d.readonly || cdrom;
        let drv = d.driver.as_ref();
        let cache = cache_mode(drv.and_then(|x| x.cache));
        // Bottom of the chain first: a format node refers to its backing node by name.
        for (i, img) in images.iter().enumerate().rev() {
            let n = nums[i];
            let top = i == 0;
            let storage = format!("libvirt-{n}-storage");
            let (driver, key, file) = match img.kind {
                DiskType::File => ("file", "filename", img.source.file.as_deref()),
                DiskType::Block => {
                    (if cdrom { "host_cdrom" } else { "host_device" }, "filename", img.source.dev.as_deref())
                }
                other => return Err(unsupported(format!("{path}/@type"), format!("disk type '{other}'"))),
            };
            let file = file.ok_or_else(|| invalid(format!("{path}/source"), "source without a path"))?;
            let mut sp = Props::with("driver", driver).s(key, file).s("node-name", &storage);
            if let Some(c) = &cache {
                sp = sp.v("cache", json!({"direct": c.direct, "no-flush": c.no_flush}));
            }
            if let Some(io) = drv.and_then(|x| x.io) {
                let aio = match io {
                    DiskIo::Native => "native",
                    DiskIo::Threads => "threads",
                    DiskIo::IoUring => "io_uring",
                };
                if io == DiskIo::Native && !cache.as_ref().is_some_and(|c| c.direct) {
                    return Err(invalid(
                        format!("{path}/driver/@io"),
                        "io='native' needs cache='none' or 'directsync'",
                    ));
                }
                sp = sp.s("aio", aio);
            }
            sp = sp.b("auto-read-only", true).s("discard", "unmap");
            cx.arg("-blockdev", sp.to_json());
            let fmt = format_name(img.format, &format!("{path}/driver/@type"))?;
            let mut fp = Props::with("node-name", format!("libvirt-{n}-format")).b("read-only", !top || readonly);
            if let Some(c) = &cache {
                fp = fp.v("cache", json!({"direct": c.direct, "no-flush": c.no_flush}));
            }
            if top {
                if drv.and_then(|x| x.discard) == Some(DiskDiscard::Unmap) {
                    fp = fp.s("discard", "unmap");
                }
                if let Some(z) = drv.and_then(|x| x.detect_zeroes) {
                    fp = fp.s("detect-zeroes", z.to_string());
                }
            }
            fp = fp.s("driver", fmt).s("file", storage);
            match img.backing {
                Some(Some(b)) => fp = fp.s("backing", format!("libvirt-{}-format", nums[b])),
                Some(None) if fmt != "raw" => fp = fp.v("backing", serde_json::Value::Null),
                _ => {}
            }
            cx.arg("-blockdev", fp.to_json());
        }
        let drive = nums.first().map(|n| format!("libvirt-{n}-format"));
        let bus = d.target.bus.unwrap_or_default();
        let alias = d.info.alias.as_ref().map(|a| a.name.clone()).unwrap_or_default();
        let addr = d.info.address.clone().unwrap_or_default();
        if drive.is_none() && !matches!(device, DiskDevice::Cdrom | DiskDevice::Floppy) {
            return Err(invalid(
                format!("{path}/source"),
                "a disk needs a source (only CD-ROMs and floppies can be empty)",
            ));
        }
        let mut p = match bus {
            DiskBus::Virtio => {
                let drv_name = if cx.kind == MachineKind::Microvm {
                    "virtio-blk-device".to_string()
                } else {
                    match d.model {
                        Some(VirtioModel::VirtioTransitional) => "virtio-blk-pci-transitional".into(),
                        Some(VirtioModel::VirtioNonTransitional) => "virtio-blk-pci-non-transitional".into(),
                        _ => "virtio-blk-pci".into(),
                    }
                };
                let mut p = Props::with("driver", &drv_name);
                if cx.kind != MachineKind::Microvm {
                    p = p.extend(pci_props(cx, &d.info.address, &path)?);
                }
                if let Some(x) = drv {
                    if let Some(q) = x.queues {
                        p = p.n("num-queues", q.into());
                    }
                    if let Some(q) = x.queue_size {
                        p = p.n("queue-size", q.into());
                    }
                    if let Some(e) = x.event_idx {
                        p = p.b("event_idx", e == OnOff::On);
                    }
                    if let Some(e) = x.ioeventfd {
                        p = p.b("ioeventfd", e == OnOff::On);
                    }
                    if let Some(t) = x.iothread {
                        p = p.s("iothread", format!("iothread{t}"));
                    }
                }
                p
            }
            DiskBus::Ide | DiskBus::Sata => {
                let drv_name = match device {
                    DiskDevice::Cdrom => "ide-cd",
                    DiskDevice::Disk => "ide-hd",
                    _ => return Err(invalid(format!("{path}/@device"), "floppies go on bus 'fdc'")),
                };
                if device == DiskDevice::Disk && d.readonly {
                    return Err(unsupported(
                        format!("{path}/readonly"),
                        "read-only IDE/SATA hard disks (QEMU cannot emulate them)",
                    ));
                }
                let ctrl = addr.controller.unwrap_or(0);
                let unit = addr.unit.unwrap_or(0);
                let p = Props::with("driver", drv_name);
                if bus == DiskBus::Ide {
                    if cx.kind != MachineKind::I440fx || ctrl != 0 {
                        return Err(unsupported(
                            format!("{path}/target/@bus"),
                            "IDE disks need the pc machine's built-in IDE controller 0",
                        ));
                    }
                    p.s("bus", format!("ide.{}", addr.bus.map_or(0, |h| h.0))).n("unit", unit.into())
                } else if cx.kind == MachineKind::Q35 && ctrl == 0 {
                    p.s("bus", format!("ide.{unit}"))
                } else {
                    p.s("bus", format!("sata{ctrl}.{unit}"))
                }
            }
            DiskBus::Scsi => {
                let drv_name = match device {
                    DiskDevice::Cdrom => "scsi-cd",
                    DiskDevice::Disk => "scsi-hd",
                    _ => return Err(invalid(format!("{path}/@device"), "floppies go on bus 'fdc'")),
                };
                let ctrl = addr.controller.unwrap_or(0);
                let model = devs
                    .controllers
                    .iter()
                    .find(|c| c.kind == ControllerType::Scsi && c.index == Some(ctrl))
                    .and_then(|c| c.model);
                let p = Props::with("driver", drv_name).s("bus", format!("scsi{ctrl}.0"));
                let unit = u64::from(addr.unit.unwrap_or(0));
                let p = match model {
                    Some(
                        ControllerModel::VirtioScsi
                        | ControllerModel::VirtioTransitional
                        | ControllerModel::VirtioNonTransitional,
                    ) => p
                        .n("channel", addr.bus.map_or(0, |h| h.0).into())
                        .n("scsi-id", addr.target.unwrap_or(0).into())
                        .n("lun", unit),
                    _ => {
                        if unit > 6 {
                            return Err(invalid(format!("{path}/address/@unit"), "this SCSI controller has units 0-6"));
                        }
                        p.n("scsi-id", unit)
                    }
                };
                if device == DiskDevice::Disk {
                    p.s("device_id", format!("drive-{alias}"))
                } else {
                    p
                }
            }
            DiskBus::Fdc => {
                if device != DiskDevice::Floppy {
                    return Err(invalid(format!("{path}/@device"), "bus 'fdc' is for floppies"));
                }
                let unit = addr.unit.unwrap_or(0);
                if let Some(b) = cx.disk_boot[di] {
                    fdc_boot.push((unit, b));
                }
                Props::with("driver", "floppy").n("unit", unit.into())
            }
            DiskBus::Usb => {
                if device != DiskDevice::Disk {
                    return Err(unsupported(format!("{path}/@device"), "USB CD-ROMs"));
                }
                let mut p = Props::with("driver", "usb-storage").extend(usb_props(&d.info.address));
                if let Some(r) = d.target.removable {
                    p = p.b("removable", r == OnOff::On);
                }
                p
            }
            other => return Err(unsupported(format!("{path}/target/@bus"), format!("bus '{other}'"))),
        };
        if device == DiskDevice::Floppy && bus != DiskBus::Fdc {
            return Err(invalid(format!("{path}/target/@bus"), "floppies need bus 'fdc'"));
        }
        if let Some(drive) = &drive {
            p = p.s("drive", drive);
        }
        p = p.s("id", &alias);
        if bus != DiskBus::Fdc {
            if let Some(b) = cx.disk_boot[di] {
                p = p.n("bootindex", b.into());
            }
        }
        if let Some(c) = &cache {
            if drive.is_some() && bus != DiskBus::Fdc {
                p = p.s("write-cache", if c.write_cache { "on" } else { "off" });
            }
        }
        if d.shareable {
            p = p.b("share-rw", true);
        }
        if let Some(s) = &d.serial {
            p = p.s("serial", s);
        }
        if let Some(w) = &d.wwn {
            if bus != DiskBus::Scsi && bus != DiskBus::Ide && bus != DiskBus::Sata {
                return Err(unsupported(format!("{path}/wwn"), "wwn on this bus"));
            }
            p = p.s("wwn", w);
        }
        if d.vendor.is_some() || d.product.is_some() {
            if bus != DiskBus::Scsi {
                return Err(invalid(format!("{path}/vendor"), "vendor/product are for SCSI disks"));
            }
            p = p.opt_s("vendor", d.vendor.clone()).opt_s("product", d.product.clone());
        }
        if let Some(r) = d.target.rotation_rate {
            p = p.n("rotation_rate", r.into());
        }
        if let Some(g) = &d.geometry {
            p = p.n("cyls", g.cyls.into()).n("heads", g.heads.into()).n("secs", g.secs.into());
            if g.trans.is_some() {
                p = p.s("bios-chs-trans", g.trans.map(|t| t.to_string()).unwrap_or_default());
            }
        }
        if let Some(b) = &d.blockio {
            p = p
                .opt_n("logical_block_size", b.logical_block_size.map(u64::from))
                .opt_n("physical_block_size", b.physical_block_size.map(u64::from));
        }
        if let Some(x) = drv {
            let map = |e: ErrorPolicy| match e {
                ErrorPolicy::Stop => "stop",
                ErrorPolicy::Report => "report",
                ErrorPolicy::Ignore => "ignore",
                ErrorPolicy::Enospace => "enospc",
            };
            if let Some(e) = x.error_policy {
                p = p.s("werror", map(e));
                if x.rerror_policy.is_none() && e != ErrorPolicy::Enospace {
                    p = p.s("rerror", map(e));
                }
            }
            if let Some(e) = x.rerror_policy {
                p = p.s("rerror", map(e));
            }
            p = virtio_opts(p, &x.virtio);
        }
        cx.device(p);
    }
    // Floppy boot order is a property of the controller.
    for (unit, idx) in fdc_boot {
        let drive = if unit == 0 { "A" } else { "B" };
        if cx.kind == MachineKind::I440fx {
            cx.arg("-global", format!("isa-fdc.bootindex{drive}={idx}"));
        } else {
            // q35's isa-fdc was created with the controllers; libvirt sets it there too.
            cx.arg("-global", format!("isa-fdc.bootindex{drive}={idx}"));
        }
    }
    Ok(())
}
