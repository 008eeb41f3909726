//! `domiftune`: a guest interface's `<bandwidth>` read and changed (`virDomain{Get,Set}InterfaceParameters`).
//!
//! Live changes go to the running tap the way they are set at start (`oxvirt_network::bandwidth`:
//! tc, or nftables for outbound where tc cannot police), then to the live XML; config changes to
//! the persistent definition. As in libvirt, a change names whole directions: the ones it names are
//! replaced (or removed when their average is 0), the others stay as the interface has them.

use oxvirt_api::types::iftune;
use oxvirt_api::{Error, ErrorCode, ErrorDomain, Result, TypedParam};
use oxvirt_network::bandwidth::{self, TcCommand};
use oxvirt_xml::domain::devices::interface::{Interface, InterfaceType};
use oxvirt_xml::network::Bandwidth;
use oxvirt_xml::XmlDocument;

use super::{impact, op_invalid, DomainRef, QemuDriver};

use oxvirt_api::types::iftune::find_interface as find;

fn check_flags(f: u32, allowed: u32, func: &str) -> Result<()> {
    let bad = f & !allowed;
    if bad != 0 {
        return Err(Error::invalid_arg(format!("unsupported flags (0x{bad:x}) in function {func}")));
    }
    Ok(())
}

/// Bandwidth is set on the devices oxvirt made for the guest: taps and macvtaps (libvirt's QEMU
/// driver also has OVS ports). An unmanaged tap is not ours to limit.
fn check_supported(n: &Interface) -> Result<()> {
    let unmanaged = n.target.as_ref().and_then(|t| t.managed) == Some(oxvirt_xml::YesNo::No);
    if matches!(n.kind, InterfaceType::Network | InterfaceType::Bridge | InterfaceType::Direct)
        || (n.kind == InterfaceType::Ethernet && !unmanaged)
    {
        return Ok(());
    }
    Err(Error::coded(
        ErrorCode::ConfigUnsupported,
        ErrorDomain::Qemu,
        format!("setting bandwidth on interfaces of type '{}' is not implemented yet", n.kind),
    ))
}

/// `floor` needs QoS by floor on the network, which is not implemented; libvirt refuses it on
/// anything but network interfaces in any case.
fn check_floor(n: &Interface, bw: Option<&Bandwidth>) -> Result<()> {
    let Some(floor) = bw.and_then(|b| b.inbound.as_ref()).and_then(|r| r.floor) else { return Ok(()) };
    let mac = n.mac.as_ref().map(|m| m.address.to_string()).unwrap_or_default();
    let msg = if n.kind == InterfaceType::Network {
        format!("unsupported: <bandwidth><inbound floor='{floor}'> (guaranteed minimum rates, QoS by floor, are not implemented)")
    } else {
        format!(
            "Invalid use of 'floor' on interface with MAC address {mac} - 'floor' is only supported for interface type \
             'network' with forward type 'nat', 'route', 'open' or none"
        )
    };
    Err(Error::coded(ErrorCode::OperationUnsupported, ErrorDomain::Qemu, msg))
}

/// Sets `bw` on the running tap (or clears it); on a macvtap (`direct`) the directions trade places,
/// as at start ([`bandwidth::for_macvtap`]).
fn set_on_tap(
    n: &Interface,
    ifname: &str,
    bw: Option<&Bandwidth>,
) -> std::result::Result<(), bandwidth::BandwidthError> {
    let tc = TcCommand::system();
    let bw = if n.kind == InterfaceType::Direct { bw.map(bandwidth::for_macvtap) } else { bw.cloned() };
    match bw.as_ref().filter(|b| bandwidth::has_limits(b)) {
        Some(b) => bandwidth::apply(&tc, ifname, b, false).map(|_| ()),
        None => bandwidth::clear(&tc, ifname),
    }
}

impl QemuDriver {
    pub(super) fn set_interface_parameters(
        &self,
        d: &DomainRef,
        device: &str,
        params: &[(String, TypedParam)],
        f: u32,
    ) -> Result<()> {
        check_flags(
            f,
            oxvirt_api::conf::impact::AFFECT_LIVE | oxvirt_api::conf::impact::AFFECT_CONFIG,
            "qemuDomainSetInterfaceParameters",
        )?;
        let set = iftune::parse(params)?;
        let _l = self.lock_domain(&d.name, "domiftune")?;
        let e = self.entry_by_ref(d)?;
        let (live, config) = impact(oxvirt_api::DomainModificationImpact::from_bits_truncate(f), &e)?;
        // Both definitions are checked before either changes.
        let mut ldef = if live { Some(e.definition()?) } else { None };
        let mut cdef = if config {
            Some(e.config.clone().ok_or_else(|| op_invalid("cannot change persistent config of a transient domain"))?)
        } else {
            None
        };
        for def in ldef.iter_mut().chain(cdef.iter_mut()) {
            let n = find(def, device)?;
            check_supported(n)?;
            check_floor(n, Bandwidth::tuned(n.bandwidth.as_ref(), &set).as_ref())?;
        }
        if let Some(mut def) = ldef {
            let mut st = Self::require_active(&e)?;
            let n = find(&mut def, device)?;
            let new = Bandwidth::tuned(n.bandwidth.as_ref(), &set);
            let ifname = n.target.as_ref().and_then(|t| t.dev.clone()).ok_or_else(|| {
                Error::internal(format!("interface '{device}' of running domain '{}' has no tap", e.name))
            })?;
            if let Err(err) = set_on_tap(n, &ifname, new.as_ref()) {
                // Put back what the interface had; a port group's limit comes back at the next start.
                if let Err(undo) = set_on_tap(n, &ifname, n.bandwidth.as_ref()) {
                    tracing::warn!("restoring the bandwidth of {ifname}: {undo}");
                }
                return Err(Error::coded(
                    ErrorCode::OperationFailed,
                    ErrorDomain::Qemu,
                    format!("setting bandwidth limits on {ifname} of domain '{}': {err}", e.name),
                ));
            }
            n.bandwidth = new;
            st.live_xml = def.to_xml_string();
            self.store_status(&st)?;
        }
        if let Some(mut c) = cdef {
            let n = find(&mut c, device)?;
            n.bandwidth = Bandwidth::tuned(n.bandwidth.as_ref(), &set);
            self.store_config(&c)?;
        }
        Ok(())
    }

    pub(super) fn get_interface_parameters(
        &self,
        d: &DomainRef,
        device: &str,
        f: u32,
    ) -> Result<Vec<(String, TypedParam)>> {
        check_flags(
            f,
            oxvirt_api::conf::impact::AFFECT_LIVE
                | oxvirt_api::conf::impact::AFFECT_CONFIG
                | iftune::TYPED_PARAM_STRING_OKAY,
            "qemuDomainGetInterfaceParameters",
        )?;
        let e = self.read_by_ref(d)?;
        // virDomainObjGetOneDef, every driver's (oxvirt_api::conf::impact).
        let live = oxvirt_api::conf::impact::resolve_one(
            oxvirt_api::DomainModificationImpact::from_bits_truncate(f),
            e.status.is_some(),
            e.config.is_some(),
        )?;
        let mut def = match e.config.clone() {
            Some(c) if !live => c,
            _ => e.definition()?,
        };
        let n = find(&mut def, device)?;
        Ok(iftune::params(Bandwidth::tune_values(n.bandwidth.as_ref())))
    }
}
