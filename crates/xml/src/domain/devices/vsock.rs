//! TODO(devices-io): model of <vsock>.

use crate::Xml;

/// `<vsock>` (TODO(devices-io): fields).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Vsock {}
