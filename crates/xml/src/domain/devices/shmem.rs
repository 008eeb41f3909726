//! TODO(devices-io): model of <shmem>.

use crate::Xml;

/// `<shmem>` (TODO(devices-io): fields).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Shmem {}
