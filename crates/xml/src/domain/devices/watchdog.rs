//! TODO(devices-io): model of <watchdog>.

use crate::Xml;

/// `<watchdog>` (TODO(devices-io): fields).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Watchdog {}
