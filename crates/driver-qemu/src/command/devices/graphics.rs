//! Graphics: VNC, SPICE, egl-headless, and the ports they listen on.

use std::net::{IpAddr, Ipv4Addr, TcpListener};

use oxvirt_xml::domain::*;
use oxvirt_xml::{OnOff, YesNo};

use super::super::ctx::Ctx;
use super::super::props::{kv_escape, Props};
use super::super::{invalid, unsupported, CommandError, GraphicsPort, PortCheck, PrepareFile};
use super::sound::audio_id;

/// A free TCP port in `from..=to` on `listen`, skipping ports already used by this command.
pub(super) fn alloc_port(cx: &mut Ctx, listen: &str, from: u16, to: u16, what: &str) -> Result<u16, CommandError> {
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

pub(super) fn listen_address(g: &Graphics, what: &str) -> Result<Option<String>, CommandError> {
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

pub(super) fn graphics(cx: &mut Ctx) -> Result<(), CommandError> {
    let list = cx.devs.graphics.clone();
    for (gi, g) in list.iter().enumerate() {
        let what = format!("/domain/devices/graphics[{}]", gi + 1);
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
