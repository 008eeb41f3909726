//! `<audio>`: a host audio backend that sound cards and displays refer to by `id`.
//!
//! Flat: the per-backend attributes (alsa `dev`, pulseaudio `serverName`, ...) never clash.

use crate::{Xml, XmlValue, YesNo};

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Audio {
    #[xml(attr = "id")]
    pub id: u32,
    #[xml(attr = "type")]
    pub kind: AudioType,
    #[xml(attr = "timerPeriod")]
    pub timer_period: Option<u32>,
    /// oss
    #[xml(attr = "tryMMap")]
    pub try_mmap: Option<YesNo>,
    #[xml(attr = "exclusive")]
    pub exclusive: Option<YesNo>,
    #[xml(attr = "dspPolicy")]
    pub dsp_policy: Option<i32>,
    /// pulseaudio
    #[xml(attr = "serverName")]
    pub server_name: Option<String>,
    /// sdl
    #[xml(attr = "driver")]
    pub driver: Option<AudioSdlDriver>,
    /// file
    #[xml(attr = "path")]
    pub path: Option<String>,
    #[xml(child = "input")]
    pub input: Option<AudioIo>,
    #[xml(child = "output")]
    pub output: Option<AudioIo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum AudioType {
    #[default]
    None,
    Alsa,
    Coreaudio,
    Jack,
    Oss,
    Pulseaudio,
    Sdl,
    Spice,
    File,
    Dbus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum AudioSdlDriver {
    Esd,
    Alsa,
    Arts,
    Pulseaudio,
}

/// One direction (`<input>` or `<output>`) of an audio backend.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct AudioIo {
    #[xml(attr = "mixingEngine")]
    pub mixing_engine: Option<YesNo>,
    #[xml(attr = "fixedSettings")]
    pub fixed_settings: Option<YesNo>,
    #[xml(attr = "voices")]
    pub voices: Option<u32>,
    /// Microseconds.
    #[xml(attr = "bufferLength")]
    pub buffer_length: Option<u32>,
    /// alsa/oss device.
    #[xml(attr = "dev")]
    pub dev: Option<String>,
    #[xml(attr = "bufferCount")]
    pub buffer_count: Option<u32>,
    #[xml(attr = "tryPoll")]
    pub try_poll: Option<YesNo>,
    /// jack
    #[xml(attr = "serverName")]
    pub server_name: Option<String>,
    #[xml(attr = "clientName")]
    pub client_name: Option<String>,
    #[xml(attr = "connectPorts")]
    pub connect_ports: Option<String>,
    #[xml(attr = "exactName")]
    pub exact_name: Option<YesNo>,
    /// pulseaudio
    #[xml(attr = "name")]
    pub name: Option<String>,
    #[xml(attr = "streamName")]
    pub stream_name: Option<String>,
    #[xml(attr = "latency")]
    pub latency: Option<u32>,
    /// Used when `fixedSettings='yes'`.
    #[xml(child = "settings")]
    pub settings: Option<AudioSettings>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct AudioSettings {
    #[xml(attr = "frequency")]
    pub frequency: Option<u32>,
    #[xml(attr = "channels")]
    pub channels: Option<u32>,
    #[xml(attr = "format")]
    pub format: Option<AudioFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum AudioFormat {
    U8,
    S8,
    U16,
    S16,
    U32,
    S32,
    F32,
}
