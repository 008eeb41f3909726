//! TODO(devices-storage): model of <iommu>.

use crate::Xml;

/// `<iommu>` (TODO(devices-storage): fields).
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Iommu {}
