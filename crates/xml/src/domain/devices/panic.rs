//! TODO(devices-io): model of <panic>.

use crate::Xml;

/// `<panic>` (TODO(devices-io): fields).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Panic {}
