//! TODO(devices-io): model of <rng>.

use crate::Xml;

/// `<rng>` (TODO(devices-io): fields).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Rng {}
