//! `<input>`: mice, tablets, keyboards, virtio passthrough and evdev grabs.

use super::common::{Acpi, Address, Alias, VirtioOptions};
use crate::{OnOff, Xml, XmlValue};

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Input {
    #[xml(attr = "type")]
    pub kind: InputType,
    #[xml(attr = "bus")]
    pub bus: Option<InputBus>,
    #[xml(attr = "model")]
    pub model: Option<InputModel>,
    #[xml(child = "driver")]
    pub driver: Option<VirtioOptions>,
    #[xml(child = "source")]
    pub source: Option<InputSource>,
    #[xml(child = "alias")]
    pub alias: Option<Alias>,
    #[xml(child = "acpi")]
    pub acpi: Option<Acpi>,
    #[xml(child = "address")]
    pub address: Option<Address>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum InputType {
    Mouse,
    #[default]
    Tablet,
    Keyboard,
    Passthrough,
    Evdev,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum InputBus {
    Ps2,
    Usb,
    Xen,
    Parallels,
    Virtio,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum InputModel {
    Virtio,
    VirtioTransitional,
    VirtioNonTransitional,
}

/// passthrough: `evdev=` is the host device; evdev type: `dev=` plus grab options.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct InputSource {
    #[xml(attr = "evdev")]
    pub evdev: Option<String>,
    #[xml(attr = "dev")]
    pub dev: Option<String>,
    #[xml(attr = "grab")]
    pub grab: Option<InputGrab>,
    #[xml(attr = "grabToggle")]
    pub grab_toggle: Option<GrabToggle>,
    #[xml(attr = "repeat")]
    pub repeat: Option<OnOff>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum InputGrab {
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum GrabToggle {
    CtrlCtrl,
    AltAlt,
    ShiftShift,
    MetaMeta,
    Scrolllock,
    CtrlScrolllock,
}
