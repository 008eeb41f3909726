//! `<watchdog>`: a hardware watchdog and what to do when it fires.

use super::common::DeviceInfo;
use crate::{Xml, XmlValue};

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Watchdog {
    #[xml(attr = "model")]
    pub model: WatchdogModel,
    /// libvirt's default is `reset`.
    #[xml(attr = "action")]
    pub action: Option<WatchdogAction>,
    #[xml(flatten)]
    pub info: DeviceInfo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum WatchdogModel {
    #[default]
    I6300esb,
    Ib700,
    Diag288,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum WatchdogAction {
    Reset,
    Shutdown,
    Poweroff,
    Pause,
    Dump,
    None,
    InjectNmi,
}
