//! TODO(devices-io): model of <sound>.

use crate::Xml;

/// `<sound>` (TODO(devices-io): fields).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Sound {}
