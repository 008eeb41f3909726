//! TODO(devices-storage): model of <smartcard>.

use crate::Xml;

/// `<smartcard>` (TODO(devices-storage): fields).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Smartcard {}
