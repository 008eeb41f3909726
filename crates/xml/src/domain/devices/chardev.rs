//! Character devices: `<serial>`, `<parallel>`, `<console>` and `<channel>` share one shape
//! (a host-side source of some `type`, a guest-side target), so one `Chardev` models all four.
//! [`ChrSourceContent`] is the host side alone, for devices that embed a character backend
//! (smartcard passthrough, redirdev).

use std::net::IpAddr;

use super::common::{Acpi, Address, Alias, DeviceSeclabel, Reconnect};
use crate::{OnOff, Xml, XmlValue, YesNo};

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Chardev {
    /// Host-side backend; libvirt treats a missing type as `pty`.
    #[xml(attr = "type")]
    pub kind: Option<ChrType>,
    /// Legacy console attribute: the pty path of a running console.
    #[xml(attr = "tty")]
    pub tty: Option<String>,
    #[xml(flatten)]
    pub source: ChrSourceContent,
    #[xml(child = "target")]
    pub target: Option<ChrTarget>,
    #[xml(child = "alias")]
    pub alias: Option<Alias>,
    #[xml(child = "acpi")]
    pub acpi: Option<Acpi>,
    #[xml(child = "address")]
    pub address: Option<Address>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum ChrType {
    Null,
    Vc,
    Pty,
    Dev,
    File,
    Pipe,
    Stdio,
    Udp,
    Tcp,
    Unix,
    Spicevmc,
    Spiceport,
    Nmdm,
    QemuVdagent,
    Dbus,
}

/// The host side of a character device: its sources (UDP has a bind and a connect one),
/// the TCP wire protocol and the log file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct ChrSourceContent {
    #[xml(child = "source")]
    pub sources: Vec<ChrSource>,
    #[xml(child = "protocol")]
    pub protocol: Option<ChrProtocol>,
    #[xml(child = "log")]
    pub log: Option<ChrLog>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct ChrSource {
    #[xml(attr = "mode")]
    pub mode: Option<ChrSourceMode>,
    #[xml(attr = "host")]
    pub host: Option<String>,
    #[xml(attr = "service")]
    pub service: Option<String>,
    #[xml(attr = "tls")]
    pub tls: Option<YesNo>,
    #[xml(attr = "path")]
    pub path: Option<String>,
    #[xml(attr = "append")]
    pub append: Option<OnOff>,
    /// spiceport/dbus channel name.
    #[xml(attr = "channel")]
    pub channel: Option<String>,
    /// nmdm: the two ends of the null-modem pair.
    #[xml(attr = "master")]
    pub master: Option<String>,
    #[xml(attr = "slave")]
    pub slave: Option<String>,
    #[xml(child = "seclabel")]
    pub seclabels: Vec<DeviceSeclabel>,
    #[xml(child = "reconnect")]
    pub reconnect: Option<Reconnect>,
    /// qemu-vdagent options.
    #[xml(child = "clipboard")]
    pub clipboard: Option<ChrClipboard>,
    #[xml(child = "mouse")]
    pub mouse: Option<ChrMouse>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum ChrSourceMode {
    Bind,
    Connect,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct ChrClipboard {
    #[xml(attr = "copypaste")]
    pub copypaste: YesNo,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct ChrMouse {
    #[xml(attr = "mode")]
    pub mode: MouseMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum MouseMode {
    Server,
    Client,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct ChrProtocol {
    #[xml(attr = "type")]
    pub kind: Option<ChrProtocolType>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum ChrProtocolType {
    Raw,
    Telnet,
    Telnets,
    Tls,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct ChrLog {
    #[xml(attr = "file")]
    pub file: String,
    #[xml(attr = "append")]
    pub append: Option<OnOff>,
}

/// The guest side. Which `type`s apply depends on the element: serial (`isa-serial`, ...),
/// console (`serial`, `virtio`, ...), channel (`guestfwd`, `virtio`, `xen`); parallel has none.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct ChrTarget {
    #[xml(attr = "type")]
    pub kind: Option<ChrTargetType>,
    /// guestfwd: the guest-visible address and port forwarded to the source.
    #[xml(attr = "address")]
    pub address: Option<IpAddr>,
    #[xml(attr = "port")]
    pub port: Option<u32>,
    /// virtio/xen channel name (`org.qemu.guest_agent.0`).
    #[xml(attr = "name")]
    pub name: Option<String>,
    /// Live only: whether the guest has the virtio channel open.
    #[xml(attr = "state")]
    pub state: Option<ChannelState>,
    #[xml(child = "model")]
    pub model: Option<ChrTargetModel>,
}

/// The union of serial, console and channel target types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum ChrTargetType {
    IsaSerial,
    UsbSerial,
    PciSerial,
    SpaprVioSerial,
    SystemSerial,
    SclpSerial,
    IsaDebug,
    Serial,
    Xen,
    Uml,
    Virtio,
    Lxc,
    Openvz,
    Sclp,
    Sclplm,
    Guestfwd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum ChannelState {
    Connected,
    Disconnected,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct ChrTargetModel {
    #[xml(attr = "name")]
    pub name: ChrTargetModelName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum ChrTargetModelName {
    IsaSerial,
    UsbSerial,
    PciSerial,
    SpaprVty,
    Pl011,
    #[xml(rename = "16550a")]
    Ns16550a,
    Sclpconsole,
    Sclplmconsole,
    IsaDebugcon,
}
