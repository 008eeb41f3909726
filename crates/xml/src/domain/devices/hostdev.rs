//! TODO(devices-storage): model of <hostdev>.

use crate::Xml;

/// `<hostdev>` (TODO(devices-storage): fields).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Hostdev {}
