//! `<panic>`: a device through which the guest reports a kernel panic to the host.

use super::common::{Address, Alias};
use crate::{Xml, XmlValue};

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Panic {
    #[xml(attr = "model")]
    pub model: Option<PanicModel>,
    #[xml(child = "alias")]
    pub alias: Option<Alias>,
    #[xml(child = "address")]
    pub address: Option<Address>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum PanicModel {
    Isa,
    Pseries,
    Hyperv,
    S390,
}
