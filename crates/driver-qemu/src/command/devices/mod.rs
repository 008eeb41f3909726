//! Devices, in libvirt's command line order, one module per device family; all of them format
//! through [`common`] (ids, bus placement), never through each other's emitters.

mod chardev;
mod common;
mod controller;
pub(crate) mod disk;
mod graphics;
mod input;
mod misc;
mod net;
mod sound;
mod video;

use oxvirt_xml::domain::*;

use super::ctx::Ctx;
use super::CommandError;

pub(crate) fn has_hyperv_panic(devs: &Devices) -> bool {
    devs.panics.iter().any(|p| p.model == Some(PanicModel::Hyperv))
}

pub(crate) fn all(cx: &mut Ctx) -> Result<(), CommandError> {
    controller::controllers(cx)?;
    disk::disks(cx)?;
    net::interfaces(cx)?;
    chardev::chardevs(cx)?;
    input::inputs(cx)?;
    sound::audios(cx)?;
    graphics::graphics(cx)?;
    video::videos(cx)?;
    sound::sounds(cx)?;
    misc::watchdogs(cx)?;
    misc::memballoon(cx)?;
    misc::rngs(cx)?;
    misc::panics(cx)?;
    Ok(())
}
