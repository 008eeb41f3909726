//! TODO(devices-storage): model of <lease>.

use crate::Xml;

/// `<lease>` (TODO(devices-storage): fields).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Lease {}
