//! TODO(devices-io): model of <video>.

use crate::Xml;

/// `<video>` (TODO(devices-io): fields).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Video {}
