//! TODO(devices-storage): model of <hub>.

use crate::Xml;

/// `<hub>` (TODO(devices-storage): fields).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Hub {}
