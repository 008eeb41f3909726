//! TODO(devices-io): model of <memballoon>.

use crate::Xml;

/// `<memballoon>` (TODO(devices-io): fields).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Memballoon {}
