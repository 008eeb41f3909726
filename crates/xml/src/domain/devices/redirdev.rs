//! `<redirdev>`: a USB device redirected from a client (SPICE) over a character channel, and
//! `<redirfilter>`: which devices may be redirected.

use std::borrow::Cow;

use crate::{Xml, XmlValue, YesNo};

use super::chardev::{ChrSourceContent, ChrType};
use super::common::DeviceInfo;

#[derive(Debug, Clone, PartialEq, Xml)]
pub struct Redirdev {
    #[xml(attr = "bus")]
    pub bus: RedirdevBus,
    #[xml(attr = "type")]
    pub kind: ChrType,
    #[xml(flatten)]
    pub source: ChrSourceContent,
    #[xml(flatten)]
    pub info: DeviceInfo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum RedirdevBus {
    #[default]
    Usb,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct RedirFilter {
    #[xml(child = "usbdev")]
    pub usbdevs: Vec<RedirFilterUsbDev>,
}

/// One filter rule; absent (or `-1`) fields match anything.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct RedirFilterUsbDev {
    #[xml(attr = "class")]
    pub class: Option<UsbFilterId<2>>,
    #[xml(attr = "vendor")]
    pub vendor: Option<UsbFilterId<4>>,
    #[xml(attr = "product")]
    pub product: Option<UsbFilterId<4>>,
    /// USB version such as `2.00`.
    #[xml(attr = "version")]
    pub version: Option<String>,
    #[xml(attr = "allow")]
    pub allow: YesNo,
}

/// A USB class/vendor/product id in a filter: hex (with or without `0x`), or `-1` for any.
/// Printed as libvirt does, `0x` + upper-case hex of width `W`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UsbFilterId<const W: usize> {
    #[default]
    Any,
    Id(u16),
}

impl<const W: usize> XmlValue for UsbFilterId<W> {
    fn from_xml_value(s: &str) -> Result<Self, String> {
        if s == "-1" {
            return Ok(UsbFilterId::Any);
        }
        let h = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
        let v = u16::from_str_radix(h, 16).map_err(|_| "expected a hex id like 0x1234, or -1".to_string())?;
        if W == 2 && v > 0xff {
            return Err("USB class must be at most 0xFF".into());
        }
        Ok(UsbFilterId::Id(v))
    }
    fn to_xml_value(&self) -> Cow<'_, str> {
        match self {
            UsbFilterId::Any => Cow::Borrowed("-1"),
            UsbFilterId::Id(v) => Cow::Owned(format!("0x{:0w$X}", v, w = W)),
        }
    }
}
