//! Host devices of the test driver: `<device>` elements of the node file (libvirt's default world
//! has `computer` and three Fibre Channel HBAs), read-only.

use oxvirt_api::{Error, ErrorCode, ErrorDomain, NodeDevRef, Result};
use oxvirt_xml::nodedev::{BlockData, Capability, NodeDevice, ScsiHostSubCap, CAP_TYPES};
use oxvirt_xml::{parse_document, ParseOptions, XmlDocument};

use crate::domdef::shift;
use crate::state::State;

fn no_device(name: &str) -> Error {
    Error::coded(ErrorCode::NoNodeDevice, ErrorDomain::Nodedev, format!("no node device with matching name '{name}'"))
}

pub fn parse_device(doc: &str, origin: (u32, u32), xml: &str) -> Result<NodeDevice> {
    let mut dev = parse_document::<NodeDevice>(xml, ParseOptions::default())
        .map(|(d, _)| d)
        .map_err(|e| Error::xml(doc, &shift(e, origin)).in_domain(ErrorDomain::Nodedev))?;
    // libvirt takes the bound driver, vHBA counts and disk geometry from sysfs, never from XML:
    // a defined device shows none of them (zero vports)
    dev.driver = None;
    for cap in &mut dev.capabilities {
        match cap {
            Capability::ScsiHost(h) => {
                for s in &mut h.capabilities {
                    if let ScsiHostSubCap::VportOps(v) = s {
                        v.max_vports = 0;
                        v.vports = 0;
                    }
                }
            }
            Capability::Storage(st) => {
                st.block_data = BlockData::default();
                if let Some(r) = &mut st.removable {
                    r.block_data = BlockData::default();
                }
            }
            _ => {}
        }
    }
    Ok(dev)
}

impl State {
    pub fn load_device(&mut self, doc: &str, origin: (u32, u32), xml: &str) -> Result<()> {
        let dev = parse_device(doc, origin, xml)?;
        if self.devices.iter().any(|d| d.name == dev.name) {
            return Err(Error::coded(
                ErrorCode::OperationFailed,
                ErrorDomain::Nodedev,
                format!("node device '{}' already exists", dev.name),
            ));
        }
        self.devices.push(dev);
        Ok(())
    }

    pub fn list_node_devices(&self, cap: Option<&str>) -> Result<Vec<NodeDevRef>> {
        if let Some(c) = cap {
            if !CAP_TYPES.contains(&c) {
                return Err(Error::invalid_arg(format!("unknown node device capability '{c}'")));
            }
        }
        Ok(self
            .devices
            .iter()
            .filter(|d| cap.is_none_or(|c| d.has_cap(c)))
            .map(|d| NodeDevRef { name: d.name.clone() })
            .collect())
    }

    pub fn node_device(&self, name: &str) -> Result<&NodeDevice> {
        self.devices.iter().find(|d| d.name == name).ok_or_else(|| no_device(name))
    }

    pub fn node_device_xml(&self, name: &str) -> Result<String> {
        Ok(self.node_device(name)?.to_xml_string())
    }
}
