//! `<graphics>`: the guest display (VNC, SPICE, SDL, RDP, desktop, egl-headless, D-Bus).
//!
//! Flat: each `type=` uses a subset of the attributes and children, and they never clash.

use super::chardev::{ChrClipboard, ChrMouse};
use crate::{OnOff, Xml, XmlValue, YesNo};

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Graphics {
    #[xml(attr = "type")]
    pub kind: GraphicsType,
    /// vnc: listen on a unix socket instead of TCP (legacy form of `<listen type='socket'>`).
    #[xml(attr = "socket")]
    pub socket: Option<String>,
    /// sdl/desktop: X display.
    #[xml(attr = "display")]
    pub display: Option<String>,
    #[xml(attr = "xauth")]
    pub xauth: Option<String>,
    #[xml(attr = "fullscreen")]
    pub fullscreen: Option<YesNo>,
    /// vnc/spice/rdp; `-1` asks for an automatic port.
    #[xml(attr = "port")]
    pub port: Option<i32>,
    #[xml(attr = "tlsPort")]
    pub tls_port: Option<i32>,
    #[xml(attr = "autoport")]
    pub autoport: Option<YesNo>,
    /// vnc: websocket port, `-1` for automatic.
    #[xml(attr = "websocket")]
    pub websocket: Option<i32>,
    #[xml(attr = "replaceUser")]
    pub replace_user: Option<YesNo>,
    #[xml(attr = "multiUser")]
    pub multi_user: Option<YesNo>,
    /// Legacy copy of the first `<listen>` address.
    #[xml(attr = "listen")]
    pub listen: Option<String>,
    #[xml(attr = "keymap")]
    pub keymap: Option<String>,
    #[xml(attr = "defaultMode")]
    pub default_mode: Option<SpiceChannelMode>,
    #[xml(attr = "sharePolicy")]
    pub share_policy: Option<VncSharePolicy>,
    #[xml(attr = "powerControl")]
    pub power_control: Option<YesNo>,
    #[xml(attr = "passwd")]
    pub passwd: Option<String>,
    /// `YYYY-MM-DDTHH:MM:SS`, UTC unless a zone is given.
    #[xml(attr = "passwdValidTo")]
    pub passwd_valid_to: Option<String>,
    #[xml(attr = "connected")]
    pub connected: Option<GraphicsConnected>,
    /// dbus: peer-to-peer instead of a bus address.
    #[xml(attr = "p2p")]
    pub p2p: Option<YesNo>,
    #[xml(attr = "address")]
    pub address: Option<String>,
    #[xml(child = "listen")]
    pub listens: Vec<GraphicsListen>,
    #[xml(child = "channel")]
    pub channels: Vec<SpiceChannel>,
    #[xml(child = "image")]
    pub image: Option<SpiceImage>,
    #[xml(child = "jpeg")]
    pub jpeg: Option<SpiceJpeg>,
    #[xml(child = "zlib")]
    pub zlib: Option<SpiceJpeg>,
    #[xml(child = "playback")]
    pub playback: Option<SpicePlayback>,
    #[xml(child = "streaming")]
    pub streaming: Option<SpiceStreaming>,
    #[xml(child = "mouse")]
    pub mouse: Option<ChrMouse>,
    #[xml(child = "clipboard")]
    pub clipboard: Option<ChrClipboard>,
    #[xml(child = "filetransfer")]
    pub filetransfer: Option<SpiceFiletransfer>,
    #[xml(child = "gl")]
    pub gl: Option<GraphicsGl>,
    /// vnc/dbus: the `<audio id=...>` backend to use.
    #[xml(child = "audio")]
    pub audio: Option<AudioRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum GraphicsType {
    Sdl,
    #[default]
    Vnc,
    Rdp,
    Desktop,
    Spice,
    EglHeadless,
    Dbus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum SpiceChannelMode {
    Any,
    Secure,
    Insecure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum VncSharePolicy {
    AllowExclusive,
    ForceShared,
    Ignore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum GraphicsConnected {
    Fail,
    Disconnect,
    Keep,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct GraphicsListen {
    #[xml(attr = "type")]
    pub kind: ListenType,
    #[xml(attr = "address")]
    pub address: Option<String>,
    #[xml(attr = "network")]
    pub network: Option<String>,
    #[xml(attr = "socket")]
    pub socket: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum ListenType {
    None,
    #[default]
    Address,
    Network,
    Socket,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct SpiceChannel {
    #[xml(attr = "name")]
    pub name: SpiceChannelName,
    #[xml(attr = "mode")]
    pub mode: SpiceChannelMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum SpiceChannelName {
    Main,
    Display,
    Inputs,
    Cursor,
    Playback,
    Record,
    Smartcard,
    Usbredir,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct SpiceImage {
    #[xml(attr = "compression")]
    pub compression: SpiceImageCompression,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
#[xml(rename_all = "snake_case")]
pub enum SpiceImageCompression {
    AutoGlz,
    AutoLz,
    Quic,
    Glz,
    Lz,
    Off,
}

/// `<jpeg>` and `<zlib>` take the same values.
#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct SpiceJpeg {
    #[xml(attr = "compression")]
    pub compression: SpiceWanCompression,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum SpiceWanCompression {
    Auto,
    Never,
    Always,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct SpicePlayback {
    #[xml(attr = "compression")]
    pub compression: OnOff,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct SpiceStreaming {
    #[xml(attr = "mode")]
    pub mode: SpiceStreamingMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum SpiceStreamingMode {
    Filter,
    All,
    Off,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct SpiceFiletransfer {
    #[xml(attr = "enable")]
    pub enable: YesNo,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct GraphicsGl {
    /// Absent only for egl-headless, which is always GL.
    #[xml(attr = "enable")]
    pub enable: Option<YesNo>,
    #[xml(attr = "rendernode")]
    pub rendernode: Option<String>,
}

/// A reference to an `<audio id=...>` backend (graphics, sound).
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct AudioRef {
    #[xml(attr = "id")]
    pub id: u32,
}
