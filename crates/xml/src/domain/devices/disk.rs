//! TODO(devices-storage): model of <disk>.

use crate::Xml;

/// `<disk>` (TODO(devices-storage): fields).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Disk {}
