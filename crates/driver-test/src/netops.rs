//! `virNetworkUpdate` (the sections in `oxvirt_api::network_update`) and guest interface addresses,
//! the way libvirt's test driver answers them: only the in-memory XML changes, addresses are made
//! up from the network's range.

use std::net::IpAddr;

use oxvirt_api::conf::impact::{self, Impact, Target};
use oxvirt_api::conf::network::validate;
use oxvirt_api::conf::network_update::apply;
use oxvirt_api::types::netupdate::*;
use oxvirt_api::DomainModificationImpact;
use oxvirt_api::{DomainInterface, DomainRef, Error, ErrorCode, ErrorDomain, NetworkRef, Result};
use oxvirt_xml::domain::devices::interface::InterfaceType;

use crate::domains::unsupported_flags;

use crate::state::State;

impl State {
    pub fn network_update(
        &mut self,
        r: &NetworkRef,
        command: u32,
        section: u32,
        parent: i32,
        xml: &str,
        f: u32,
    ) -> Result<()> {
        unsupported_flags("network_update", f, AFFECT_LIVE | AFFECT_CONFIG)?;
        let i = self
            .networks
            .iter()
            .position(|n| n.def.uuid.unwrap_or_default() == r.uuid)
            .ok_or_else(|| Error::no_network(format!("no network with matching uuid '{}' ({})", r.uuid, r.name)))?;
        let n = &mut self.networks[i];
        let Impact { live: affect_live, config: affect_config } =
            impact::resolve(Target::Network, DomainModificationImpact::from_bits_truncate(f), n.active, n.persistent)?;
        // Work on copies so a failure in one of live/config leaves both untouched.
        let mut live = n.def.clone();
        let mut config = n.new_def.clone();
        if affect_live {
            apply(&mut live, command, section, parent, xml)?;
        }
        if affect_config {
            match (&mut config, n.active) {
                (Some(c), _) => apply(c, command, section, parent, xml)?,
                (None, true) => {
                    // Active persistent network without a separate saved definition yet.
                    let mut c = n.def.clone();
                    apply(&mut c, command, section, parent, xml)?;
                    config = Some(c);
                }
                (None, false) => apply(&mut live, command, section, parent, xml)?,
            }
        }
        // What an update makes must meet the rules a definition does.
        validate(&live)?;
        if let Some(c) = &config {
            validate(c)?;
        }
        n.def = live;
        n.new_def = config;
        Ok(())
    }

    /// libvirt's test driver: every interface of a running domain gets one made-up address, from
    /// its network's first DHCP range (offset by domain id and index) or 192.168.0.x otherwise.
    pub fn domain_interface_addresses(&self, r: &DomainRef, source: u32) -> Result<Vec<DomainInterface>> {
        if source > ADDRESSES_SRC_ARP {
            return Err(Error::coded(
                ErrorCode::ArgumentUnsupported,
                ErrorDomain::Domain,
                format!("Unknown IP address data source {source}"),
            ));
        }
        let d = self.dom(r)?;
        if !d.is_active() {
            return Err(Error::operation_invalid("domain is not running"));
        }
        let mut out = Vec::new();
        let nets = d.def.dom.devices.as_ref().map(|dv| dv.interfaces.as_slice()).unwrap_or_default();
        for (i, net) in nets.iter().enumerate() {
            let name = net.target.as_ref().and_then(|t| t.dev.clone()).unwrap_or_default();
            let hwaddr = net.mac.as_ref().map(|m| m.address.to_string());
            let addr = if net.kind == InterfaceType::Network {
                let offset = 20 * (i64::from(d.id) - 1) + i as i64 + 1;
                let netname = net.source.as_ref().and_then(|s| s.network.clone()).unwrap_or_default();
                let n = self
                    .networks
                    .iter()
                    .find(|n| n.def.name == netname)
                    .ok_or_else(|| Error::no_network(format!("no network with matching name '{netname}'")))?;
                let ip =
                    n.def.ips.first().ok_or_else(|| Error::internal(format!("network '{netname}' has no <ip>")))?;
                let prefix = u32::from(ip.prefix_len().unwrap_or(0));
                let base = ip
                    .dhcp
                    .as_ref()
                    .and_then(|dh| dh.ranges.first())
                    .map(|rg| rg.start)
                    .or(ip.address)
                    .ok_or_else(|| Error::internal(format!("network '{netname}' has no address")))?;
                match base {
                    IpAddr::V4(a) => {
                        (0, std::net::Ipv4Addr::from((u32::from(a) as i64 + offset) as u32).to_string(), prefix)
                    }
                    IpAddr::V6(a) => {
                        let mut o = a.octets();
                        o[15] = o[15].wrapping_add(offset as u8);
                        (1, std::net::Ipv6Addr::from(o).to_string(), prefix)
                    }
                }
            } else {
                (0, format!("192.168.0.{}", 1 + i), 24)
            };
            out.push(DomainInterface { name, hwaddr, addrs: vec![addr] });
        }
        Ok(out)
    }
}
