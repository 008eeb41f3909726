//! TODO(devices-io): model of <input>.

use crate::Xml;

/// `<input>` (TODO(devices-io): fields).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Input {}
