//! `<sound>`: an emulated sound card.

use super::common::{Acpi, Address, Alias};
use super::graphics::AudioRef;
use crate::{Xml, XmlValue};

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Sound {
    #[xml(attr = "model")]
    pub model: SoundModel,
    #[xml(child = "codec")]
    pub codecs: Vec<SoundCodec>,
    #[xml(child = "audio")]
    pub audio: Option<AudioRef>,
    #[xml(child = "alias")]
    pub alias: Option<Alias>,
    #[xml(child = "acpi")]
    pub acpi: Option<Acpi>,
    #[xml(child = "address")]
    pub address: Option<Address>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum SoundModel {
    Sb16,
    Es1370,
    Pcspk,
    Ac97,
    #[default]
    Ich6,
    Ich7,
    Ich9,
    Usb,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct SoundCodec {
    #[xml(attr = "type")]
    pub kind: SoundCodecType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum SoundCodecType {
    Duplex,
    Micro,
    Output,
}
