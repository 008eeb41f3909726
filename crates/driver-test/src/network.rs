//! Virtual networks, in memory, as libvirt's test driver keeps them: no bridges are created.

use oxvirt_api::conf::objlist::{self, ObjFacts, ObjKind};
use oxvirt_api::conf::{self};
use oxvirt_api::types::{flags, object_matches};
use oxvirt_api::{Error, ErrorCode, ErrorDomain, NetworkRef, Result};
use oxvirt_xml::network::Network;
use oxvirt_xml::{parse_document, ParseOptions, XmlDocument};
use uuid::Uuid;

use crate::domains::unsupported_flags;
use crate::domdef::shift;
use crate::state::State;

#[derive(Debug, Clone)]
pub struct NetObj {
    /// The live definition while active, else the persistent one.
    pub def: Network,
    /// While active: the persistent definition to return to at destroy.
    pub new_def: Option<Network>,
    pub active: bool,
    pub persistent: bool,
    pub autostart: bool,
}

impl NetObj {
    pub fn reference(&self) -> NetworkRef {
        NetworkRef { name: self.def.name.clone(), uuid: self.def.uuid.unwrap_or_default() }
    }
}

pub fn parse(doc: &str, origin: (u32, u32), xml: &str, validate: bool) -> Result<Network> {
    let (mut n, _warnings) = parse_document::<Network>(xml, ParseOptions { validate })
        .map_err(|e| Error::xml(doc, &shift(e, origin)).in_domain(ErrorDomain::Network))?;
    // The defaults and rules every driver applies (`oxvirt_api::conf::network`).
    conf::network::prepare(&mut n)?;
    Ok(n)
}

fn uuid_of(n: &Network) -> Uuid {
    n.uuid.unwrap_or_default()
}

impl State {
    fn net_idx(&self, r: &NetworkRef) -> Result<usize> {
        self.networks
            .iter()
            .position(|n| uuid_of(&n.def) == r.uuid)
            .ok_or_else(|| Error::no_network(format!("no network with matching uuid '{}' ({})", r.uuid, r.name)))
    }

    /// `virNetworkObjAssignDef`: name/UUID conflicts, live versus persistent definitions
    /// (`oxvirt_api::conf::objlist`).
    fn assign_net(&mut self, def: Network, live: bool) -> Result<usize> {
        let facts = self.networks.iter().map(|n| ObjFacts {
            name: &n.def.name,
            uuid: uuid_of(&n.def),
            active: n.active,
            persistent: n.persistent,
        });
        match objlist::find_for_add(ObjKind::Network, facts, &def.name, uuid_of(&def), live)? {
            Some(i) => {
                let n = &mut self.networks[i];
                objlist::assign_def(&mut n.def, &mut n.new_def, n.active, def, live);
                n.persistent |= !live;
                Ok(i)
            }
            None => {
                self.networks.push(NetObj { def, new_def: None, active: false, persistent: !live, autostart: false });
                Ok(self.networks.len() - 1)
            }
        }
    }

    /// Loads a network from a node file: persistent and active.
    pub fn load_network(&mut self, doc: &str, xml: &str, origin: (u32, u32)) -> Result<()> {
        let def = parse(doc, origin, xml, false)?;
        let i = self.assign_net(def, false)?;
        self.networks[i].active = true;
        Ok(())
    }

    pub fn list_networks(&self, f: u32) -> Vec<NetworkRef> {
        self.networks
            .iter()
            .filter(|n| object_matches(f, n.active, n.persistent, n.autostart))
            .map(NetObj::reference)
            .collect()
    }

    pub fn lookup_network_by_name(&self, name: &str) -> Result<NetworkRef> {
        self.networks
            .iter()
            .find(|n| n.def.name == name)
            .map(NetObj::reference)
            .ok_or_else(|| Error::no_network(format!("no network with matching name '{name}'")))
    }

    pub fn lookup_network_by_uuid(&self, uuid: &Uuid) -> Result<NetworkRef> {
        self.networks
            .iter()
            .find(|n| uuid_of(&n.def) == *uuid)
            .map(NetObj::reference)
            .ok_or_else(|| Error::no_network(format!("no network with matching uuid '{uuid}'")))
    }

    pub fn network_define(&mut self, xml: &str, f: u32) -> Result<NetworkRef> {
        unsupported_flags("network_define", f, flags::DEFINE_VALIDATE)?;
        let def = parse("network definition", (1, 1), xml, f & flags::DEFINE_VALIDATE != 0)?;
        let i = self.assign_net(def, false)?;
        Ok(self.networks[i].reference())
    }

    pub fn network_create_xml(&mut self, xml: &str, f: u32) -> Result<NetworkRef> {
        // VIR_NETWORK_CREATE_VALIDATE
        unsupported_flags("network_create_xml", f, 1)?;
        let def = parse("network definition", (1, 1), xml, f & 1 != 0)?;
        let i = self.assign_net(def, true)?;
        self.networks[i].active = true;
        Ok(self.networks[i].reference())
    }

    pub fn network_create(&mut self, r: &NetworkRef) -> Result<()> {
        let i = self.net_idx(r)?;
        let n = &mut self.networks[i];
        if n.active {
            return Err(Error::operation_invalid(format!("Network '{}' is already running", n.def.name))
                .in_domain(ErrorDomain::Network));
        }
        n.active = true;
        Ok(())
    }

    /// libvirt's test driver lets an inactive network be destroyed too (a no-op but for transients).
    pub fn network_destroy(&mut self, r: &NetworkRef) -> Result<()> {
        let i = self.net_idx(r)?;
        let n = &mut self.networks[i];
        n.active = false;
        if let Some(d) = n.new_def.take() {
            n.def = d;
        }
        if !n.persistent {
            self.networks.remove(i);
        }
        Ok(())
    }

    pub fn network_undefine(&mut self, r: &NetworkRef) -> Result<()> {
        let i = self.net_idx(r)?;
        let n = &mut self.networks[i];
        if n.active {
            return Err(Error::operation_invalid(format!("Network '{}' is still running", n.def.name))
                .in_domain(ErrorDomain::Network));
        }
        self.networks.remove(i);
        Ok(())
    }

    pub fn network_xml(&self, r: &NetworkRef, f: u32) -> Result<String> {
        // VIR_NETWORK_XML_INACTIVE
        unsupported_flags("network_xml", f, 1)?;
        let n = &self.networks[self.net_idx(r)?];
        let def = if f & 1 != 0 { n.new_def.as_ref().unwrap_or(&n.def) } else { &n.def };
        Ok(def.to_xml_string())
    }

    pub fn network_bridge_name(&self, r: &NetworkRef) -> Result<String> {
        let n = &self.networks[self.net_idx(r)?];
        n.def.bridge_name().map(str::to_string).ok_or_else(|| {
            Error::coded(
                ErrorCode::InternalError,
                ErrorDomain::Test,
                format!("network '{}' does not have a bridge name.", n.def.name),
            )
        })
    }

    pub fn network_get(&self, r: &NetworkRef) -> Result<&NetObj> {
        Ok(&self.networks[self.net_idx(r)?])
    }

    pub fn network_set_autostart(&mut self, r: &NetworkRef, on: bool) -> Result<()> {
        let i = self.net_idx(r)?;
        self.networks[i].autostart = on;
        Ok(())
    }
}
