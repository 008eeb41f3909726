//! TODO(devices-io): model of <interface>.

use crate::Xml;

/// `<interface>` (TODO(devices-io): fields).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Interface {}
