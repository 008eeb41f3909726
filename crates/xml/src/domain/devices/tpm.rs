//! TODO(devices-io): model of <tpm>.

use crate::Xml;

/// `<tpm>` (TODO(devices-io): fields).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Tpm {}
