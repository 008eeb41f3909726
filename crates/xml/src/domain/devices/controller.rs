//! TODO(devices-storage): model of <controller>.

use crate::Xml;

/// `<controller>` (TODO(devices-storage): fields).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Controller {}
