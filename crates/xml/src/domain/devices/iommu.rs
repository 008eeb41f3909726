//! `<iommu>`: an emulated IOMMU (needed for device assignment with interrupt remapping, or
//! virtio devices with `iommu='on'`).

use crate::{OnOff, Xml, XmlValue};

use super::common::DeviceInfo;

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Iommu {
    #[xml(attr = "model")]
    pub model: IommuModel,
    #[xml(child = "driver")]
    pub driver: Option<IommuDriver>,
    #[xml(flatten)]
    pub info: DeviceInfo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum IommuModel {
    #[default]
    Intel,
    Smmuv3,
    Virtio,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct IommuDriver {
    #[xml(attr = "intremap")]
    pub intremap: Option<OnOff>,
    #[xml(attr = "caching_mode")]
    pub caching_mode: Option<OnOff>,
    #[xml(attr = "eim")]
    pub eim: Option<OnOff>,
    #[xml(attr = "iotlb")]
    pub iotlb: Option<OnOff>,
    /// Guest address width in bits.
    #[xml(attr = "aw_bits")]
    pub aw_bits: Option<u8>,
}
