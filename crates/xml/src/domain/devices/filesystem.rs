//! TODO(devices-storage): model of <filesystem>.

use crate::Xml;

/// `<filesystem>` (TODO(devices-storage): fields).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Filesystem {}
