//! TODO(devices-storage): model of <redirdev>.

use crate::Xml;

/// `<redirdev>` (TODO(devices-storage): fields).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Redirdev {}

/// `<redirfilter>` (TODO(devices-storage): fields).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct RedirFilter {}
