//! TODO(devices-io): model of <crypto>.

use crate::Xml;

/// `<crypto>` (TODO(devices-io): fields).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Crypto {}
