//! `<hub type='usb'>`: a USB hub giving the guest more ports.

use crate::{Xml, XmlValue};

use super::common::DeviceInfo;

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Hub {
    #[xml(attr = "type")]
    pub kind: HubType,
    #[xml(flatten)]
    pub info: DeviceInfo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum HubType {
    #[default]
    Usb,
}
