//! Audio backends and sound cards.

use oxvirt_xml::domain::*;

use super::super::ctx::Ctx;
use super::super::props::Props;
use super::super::{invalid, unsupported, CommandError};
use super::common::{alias, pci_props, usb_props};

pub(super) fn audio_id(cx: &Ctx, r: Option<&AudioRef>) -> Option<String> {
    r.map(|r| r.id).or_else(|| cx.devs.audios.first().map(|a| a.id)).map(|id| format!("audio{id}"))
}

pub(super) fn audios(cx: &mut Ctx) -> Result<(), CommandError> {
    for a in &cx.devs.audios {
        let what = format!("/domain/devices/audio[@id='{}']", a.id);
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

pub(super) fn sounds(cx: &mut Ctx) -> Result<(), CommandError> {
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
