//! TODO(devices-io): model of <graphics>.

use crate::Xml;

/// `<graphics>` (TODO(devices-io): fields).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Graphics {}
