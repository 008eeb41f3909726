//! TODO(devices-io): model of <serial>.

use crate::Xml;

/// `<serial>` (TODO(devices-io): fields).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Chardev {}
