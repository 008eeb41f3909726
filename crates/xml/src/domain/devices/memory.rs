//! TODO(devices-storage): model of <memory>.

use crate::Xml;

/// `<memory>` (TODO(devices-storage): fields).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct MemoryDevice {}
