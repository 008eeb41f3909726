//! Character devices: serial and parallel ports, channels, consoles and their host-side backends.

use oxvirt_xml::domain::*;
use oxvirt_xml::{OnOff, YesNo};

use super::super::ctx::Ctx;
use super::super::props::{kv_escape, Props};
use super::super::{invalid, unsupported, CommandError};
use super::common::{alias, pci_props, usb_props};

/// The `-chardev` value for a character device backend.
pub(super) fn chardev_backend(
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

pub(super) fn spice_present(cx: &Ctx, what: &str) -> Result<(), CommandError> {
    if cx.devs.graphics.iter().any(|g| g.kind == GraphicsType::Spice) {
        Ok(())
    } else {
        Err(invalid(what, "spice channels need <graphics type='spice'>"))
    }
}

pub(super) fn chardevs(cx: &mut Ctx) -> Result<(), CommandError> {
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
        cx.arg("-chardev", be);
        cx.device(Props::with("driver", "isa-parallel").s("chardev", &cid).s("id", &a));
    }
    for c in &devs.channels {
        let a = alias(&c.alias);
        let what = format!("/domain/devices/channel[@alias='{a}']");
        let t = c.target.clone().unwrap_or_default();
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
            // validate refuses other console targets.
            _ => continue,
        }
    }
    Ok(())
}

pub(super) fn virtio_serial_port(
    cx: &Ctx,
    driver: &str,
    c: &Chardev,
    cid: &str,
    id: &str,
) -> Result<Props, CommandError> {
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

/// A socket chardev's role: listening for the guest's peer (`mode='bind'`), or connecting with
/// libvirt's reconnect timeout (seconds, default 1).
pub(super) fn socket_role(s0: &ChrSource) -> String {
    if s0.mode == Some(ChrSourceMode::Bind) {
        return ",server=on,wait=off".to_string();
    }
    match &s0.reconnect {
        Some(r) if r.enabled.is_yes() => format!(",reconnect-ms={}", u64::from(r.timeout.unwrap_or(1)) * 1000),
        _ => String::new(),
    }
}
