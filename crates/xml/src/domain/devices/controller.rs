//! `<controller>`: buses other devices attach to (IDE, SCSI, USB, PCI, virtio-serial, ...).

use crate::{Hex, KiB, OnOff, Xml, XmlValue};

use super::common::{DeviceInfo, VirtioOptions};

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Controller {
    #[xml(attr = "type")]
    pub kind: ControllerType,
    /// Absent means libvirt picks the next free index.
    #[xml(attr = "index")]
    pub index: Option<u32>,
    /// Which models are valid depends on `type` (checked by [`Controller::validate`]).
    #[xml(attr = "model")]
    pub model: Option<ControllerModel>,
    /// usb and virtio-serial.
    #[xml(attr = "ports")]
    pub ports: Option<u32>,
    /// virtio-serial.
    #[xml(attr = "vectors")]
    pub vectors: Option<u32>,
    /// xenbus.
    #[xml(attr = "maxGrantFrames")]
    pub max_grant_frames: Option<u32>,
    /// xenbus.
    #[xml(attr = "maxEventChannels")]
    pub max_event_channels: Option<u32>,
    /// pci: the QEMU device implementing the model.
    #[xml(child = "model")]
    pub model_name: Option<ControllerModelName>,
    /// pci: how the controller presents itself to the guest.
    #[xml(child = "target")]
    pub target: Option<ControllerTarget>,
    #[xml(child = "driver")]
    pub driver: Option<ControllerDriver>,
    #[xml(flatten)]
    pub info: DeviceInfo,
    /// pci-root / pcie-root: size of the 64-bit PCI hole.
    #[xml(child = "pcihole64")]
    pub pcihole64: Option<KiB>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum ControllerType {
    #[default]
    Ide,
    Fdc,
    Scsi,
    Sata,
    Usb,
    Ccid,
    VirtioSerial,
    Pci,
    Xenbus,
    Isa,
}

/// Every controller model libvirt knows, across controller types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum ControllerModel {
    // scsi
    #[xml(rename = "auto")]
    Auto,
    #[xml(rename = "buslogic")]
    Buslogic,
    #[xml(rename = "lsilogic")]
    Lsilogic,
    #[xml(rename = "lsisas1068")]
    Lsisas1068,
    #[xml(rename = "vmpvscsi")]
    Vmpvscsi,
    #[xml(rename = "ibmvscsi")]
    Ibmvscsi,
    #[xml(rename = "virtio-scsi")]
    VirtioScsi,
    #[xml(rename = "lsisas1078")]
    Lsisas1078,
    #[xml(rename = "ncr53c90")]
    Ncr53c90,
    #[xml(rename = "dc390")]
    Dc390,
    #[xml(rename = "am53c974")]
    Am53c974,
    // scsi and virtio-serial
    #[xml(rename = "virtio-transitional")]
    VirtioTransitional,
    #[xml(rename = "virtio-non-transitional")]
    VirtioNonTransitional,
    // virtio-serial
    #[xml(rename = "virtio")]
    Virtio,
    // usb
    #[xml(rename = "piix3-uhci")]
    Piix3Uhci,
    #[xml(rename = "piix4-uhci")]
    Piix4Uhci,
    #[xml(rename = "ehci")]
    Ehci,
    #[xml(rename = "ich9-ehci1")]
    Ich9Ehci1,
    #[xml(rename = "ich9-uhci1")]
    Ich9Uhci1,
    #[xml(rename = "ich9-uhci2")]
    Ich9Uhci2,
    #[xml(rename = "ich9-uhci3")]
    Ich9Uhci3,
    #[xml(rename = "vt82c686b-uhci")]
    Vt82c686bUhci,
    #[xml(rename = "pci-ohci")]
    PciOhci,
    #[xml(rename = "nec-xhci")]
    NecXhci,
    #[xml(rename = "qusb1")]
    Qusb1,
    #[xml(rename = "qusb2")]
    Qusb2,
    #[xml(rename = "qemu-xhci")]
    QemuXhci,
    #[xml(rename = "none")]
    None,
    // ide
    #[xml(rename = "piix3")]
    Piix3,
    #[xml(rename = "piix4")]
    Piix4,
    #[xml(rename = "ich6")]
    Ich6,
    // pci
    #[xml(rename = "pci-root")]
    PciRoot,
    #[xml(rename = "pcie-root")]
    PcieRoot,
    #[xml(rename = "pci-bridge")]
    PciBridge,
    #[xml(rename = "dmi-to-pci-bridge")]
    DmiToPciBridge,
    #[xml(rename = "pcie-to-pci-bridge")]
    PcieToPciBridge,
    #[xml(rename = "pcie-root-port")]
    PcieRootPort,
    #[xml(rename = "pcie-switch-upstream-port")]
    PcieSwitchUpstreamPort,
    #[xml(rename = "pcie-switch-downstream-port")]
    PcieSwitchDownstreamPort,
    #[xml(rename = "pci-expander-bus")]
    PciExpanderBus,
    #[xml(rename = "pcie-expander-bus")]
    PcieExpanderBus,
}

impl ControllerModel {
    /// Whether this model belongs to controllers of type `t`.
    pub fn fits(self, t: ControllerType) -> bool {
        use ControllerModel as M;
        match t {
            ControllerType::Scsi => matches!(
                self,
                M::Auto
                    | M::Buslogic
                    | M::Lsilogic
                    | M::Lsisas1068
                    | M::Vmpvscsi
                    | M::Ibmvscsi
                    | M::VirtioScsi
                    | M::Lsisas1078
                    | M::Ncr53c90
                    | M::Dc390
                    | M::Am53c974
                    | M::VirtioTransitional
                    | M::VirtioNonTransitional
            ),
            ControllerType::VirtioSerial => {
                matches!(self, M::Virtio | M::VirtioTransitional | M::VirtioNonTransitional)
            }
            ControllerType::Usb => matches!(
                self,
                M::Piix3Uhci
                    | M::Piix4Uhci
                    | M::Ehci
                    | M::Ich9Ehci1
                    | M::Ich9Uhci1
                    | M::Ich9Uhci2
                    | M::Ich9Uhci3
                    | M::Vt82c686bUhci
                    | M::PciOhci
                    | M::NecXhci
                    | M::Qusb1
                    | M::Qusb2
                    | M::QemuXhci
                    | M::None
            ),
            ControllerType::Ide => matches!(self, M::Piix3 | M::Piix4 | M::Ich6),
            ControllerType::Pci => matches!(
                self,
                M::PciRoot
                    | M::PcieRoot
                    | M::PciBridge
                    | M::DmiToPciBridge
                    | M::PcieToPciBridge
                    | M::PcieRootPort
                    | M::PcieSwitchUpstreamPort
                    | M::PcieSwitchDownstreamPort
                    | M::PciExpanderBus
                    | M::PcieExpanderBus
            ),
            ControllerType::Fdc
            | ControllerType::Sata
            | ControllerType::Ccid
            | ControllerType::Xenbus
            | ControllerType::Isa => false,
        }
    }
}

impl Controller {
    /// Checks the rules that span attributes (model vs type).
    pub fn validate(&self, path: &str) -> Result<(), crate::XmlError> {
        if let Some(m) = self.model {
            if !m.fits(self.kind) {
                return Err(crate::XmlError::invalid(
                    path,
                    format!("invalid value '{m}' for attribute 'model' of a '{}' controller", self.kind),
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum PciModelName {
    PciBridge,
    #[xml(rename = "i82801b11-bridge")]
    I82801b11Bridge,
    Ioh3420,
    #[xml(rename = "x3130-upstream")]
    X3130Upstream,
    #[xml(rename = "xio3130-downstream")]
    Xio3130Downstream,
    Pxb,
    PxbPcie,
    PcieRootPort,
    SpaprPciHostBridge,
    PciePciBridge,
}

/// `<model name='pcie-root-port'/>`
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct ControllerModelName {
    #[xml(attr = "name")]
    pub name: Option<PciModelName>,
}

/// `<target>` of a PCI controller.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct ControllerTarget {
    #[xml(attr = "chassisNr")]
    pub chassis_nr: Option<u8>,
    #[xml(attr = "chassis")]
    pub chassis: Option<u8>,
    #[xml(attr = "port")]
    pub port: Option<Hex<1>>,
    #[xml(attr = "busNr")]
    pub bus_nr: Option<u8>,
    #[xml(attr = "index")]
    pub index: Option<u8>,
    #[xml(attr = "hotplug")]
    pub hotplug: Option<OnOff>,
    /// Guest NUMA node of a PCI expander bus.
    #[xml(child_text = "node")]
    pub node: Option<u32>,
}

/// `<driver>` of a controller: queue and iothread tuning.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct ControllerDriver {
    #[xml(attr = "queues")]
    pub queues: Option<u32>,
    #[xml(attr = "cmd_per_lun")]
    pub cmd_per_lun: Option<u32>,
    #[xml(attr = "max_sectors")]
    pub max_sectors: Option<u32>,
    #[xml(attr = "ioeventfd")]
    pub ioeventfd: Option<OnOff>,
    #[xml(attr = "iothread")]
    pub iothread: Option<u32>,
    #[xml(flatten)]
    pub virtio: VirtioOptions,
}
