//! TODO(devices-io): model of <audio>.

use crate::Xml;

/// `<audio>` (TODO(devices-io): fields).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Audio {}
