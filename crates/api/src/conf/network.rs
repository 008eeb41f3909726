//! Network definitions: the defaults libvirt's parser fills in and the rules a definition must meet
//! whichever driver holds it (the network driver, the test driver). What depends on the host — a
//! bridge that exists, a bridge name another network uses, dnsmasq's files — stays in the driver.

use oxvirt_xml::network::{ForwardMode, Network, VirtualPort, VirtualPortType, Vlan};
use oxvirt_xml::{OnOff, YesNo};

use crate::{Error, ErrorCode, ErrorDomain, Result};

fn err(code: ErrorCode, msg: impl std::fmt::Display) -> Error {
    Error::coded(code, ErrorDomain::Network, msg)
}

/// Whether a forward mode runs on a bridge the network makes itself (none, nat, route, open).
pub fn own_bridge(mode: Option<ForwardMode>) -> bool {
    matches!(mode, None | Some(ForwardMode::Nat | ForwardMode::Route | ForwardMode::Open))
}

/// libvirt's parse-time defaults, so every driver's XML reads like libvirt's: `<forward>` without a
/// mode is nat, and a network on its own bridge has `stp='on' delay='0'`.
pub fn apply_defaults(n: &mut Network) {
    let mode = n.forward_mode();
    if let Some(f) = n.forward.as_mut() {
        f.mode.get_or_insert(ForwardMode::Nat);
    }
    if own_bridge(mode) {
        let b = n.bridge.get_or_insert_with(Default::default);
        b.stp.get_or_insert(OnOff::On);
        b.delay.get_or_insert(0);
    }
}

/// Fills the defaults into a freshly parsed definition and checks it ([`validate`]).
pub fn prepare(n: &mut Network) -> Result<()> {
    apply_defaults(n);
    validate(n)
}

/// The rules a network definition (defined, created, or changed by an update) must meet.
pub fn validate(n: &Network) -> Result<()> {
    if let Some(b) = n.bridge_name() {
        check_ifname(&b.replace("%d", "0"), "bridge name")?;
    }
    if let Some(f) = &n.forward {
        if let Some(d) = &f.dev {
            check_ifname(d, "forward device")?;
        }
        for i in &f.interfaces {
            check_ifname(&i.dev, "forward interface")?;
        }
    }
    check_forward(n)?;
    check_vlan(n)
}

/// A Linux interface name: 1–15 bytes, no `/`, whitespace, quotes or `:`, not `.` or `..`.
pub fn check_ifname(name: &str, what: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.len() > 15
        || name == "."
        || name == ".."
        || name.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '"' | '\\' | ':' | '\''));
    if bad {
        return Err(err(ErrorCode::XmlError, format!("{what} '{name}' is not a valid interface name")));
    }
    Ok(())
}

/// libvirt's forward-mode rules on the interface list: nat, route and open forward through at most
/// one interface, and open through none.
pub fn check_forward(n: &Network) -> Result<()> {
    let Some(f) = &n.forward else { return Ok(()) };
    let mode = f.mode();
    let name = &n.name;
    if matches!(mode, ForwardMode::Nat | ForwardMode::Route | ForwardMode::Open) && f.interfaces.len() > 1 {
        return Err(err(
            ErrorCode::XmlError,
            format!("multiple forwarding interfaces specified for network '{name}', only one is supported"),
        ));
    }
    if mode == ForwardMode::Open && !f.interfaces.is_empty() {
        return Err(err(
            ErrorCode::XmlError,
            format!("forward dev not allowed for network '{name}' with forward mode='open'"),
        ));
    }
    Ok(())
}

/// libvirt's rule for `<vlan>` (on the network or a port group): tags need a switch that carries
/// them — an Open vSwitch bridge (`<virtualport type='openvswitch'>` on a bridge-mode network) or
/// SR-IOV (hostdev, passthrough). A plain Linux bridge cannot, so the definition is refused.
pub fn check_vlan(def: &Network) -> Result<()> {
    let has_tags = |v: &Option<Vlan>| v.as_ref().is_some_and(|v| !v.tags.is_empty());
    let mode = def.forward_mode();
    let ovs = |vp: &Option<VirtualPort>| {
        mode == Some(ForwardMode::Bridge) && vp.as_ref().is_some_and(|v| v.kind == Some(VirtualPortType::Openvswitch))
    };
    let allowed = matches!(mode, Some(ForwardMode::Hostdev | ForwardMode::Passthrough)) || ovs(&def.virtualport);
    let net_vlan = has_tags(&def.vlan);
    let mut bad = None;
    for pg in &def.portgroups {
        if net_vlan || has_tags(&pg.vlan) {
            let ok = if pg.virtualport.is_some() { ovs(&pg.virtualport) } else { allowed };
            if !ok {
                bad = Some(format!("portgroup '{}' of ", pg.name));
                break;
            }
        }
    }
    let has_default = def.portgroups.iter().any(|p| p.default == Some(YesNo::Yes));
    if bad.is_none() && net_vlan && !allowed && !has_default {
        bad = Some(String::new());
    }
    match bad {
        Some(what) => Err(err(
            ErrorCode::ConfigUnsupported,
            format!(
                "<vlan> element specified for {what}network {}, whose type doesn't support vlan configuration \
                 (vlan tags need an Open vSwitch bridge or an SR-IOV network; a Linux bridge cannot carry them)",
                def.name
            ),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxvirt_xml::XmlDocument;

    fn net(xml: &str) -> Network {
        Network::from_xml_str(xml).expect("test XML parses")
    }

    #[test]
    fn defaults_give_an_own_bridge_stp_and_delay() {
        let mut n = net("<network><name>n</name><forward/></network>");
        prepare(&mut n).unwrap();
        assert_eq!(n.forward_mode(), Some(ForwardMode::Nat));
        let b = n.bridge.as_ref().unwrap();
        assert_eq!((b.stp, b.delay), (Some(OnOff::On), Some(0)));
        let mut n = net("<network><name>n</name><forward mode='bridge'><interface dev='eth0'/></forward></network>");
        prepare(&mut n).unwrap();
        assert!(n.bridge.is_none());
    }

    #[test]
    fn refusals() {
        let bad_bridge = net("<network><name>n</name><bridge name='a/b'/></network>");
        let e = validate(&bad_bridge).unwrap_err();
        assert_eq!(e.code, ErrorCode::XmlError);
        assert!(e.message.contains("bridge name 'a/b' is not a valid interface name"), "{e}");
        let two =
            net("<network><name>n</name><forward mode='nat'><interface dev='eth0'/><interface dev='eth1'/></forward>\
             <ip address='10.0.0.1' prefix='24'/></network>");
        assert!(validate(&two).unwrap_err().message.contains("only one is supported"));
        let vlan = net("<network><name>n</name><vlan><tag id='42'/></vlan></network>");
        assert_eq!(validate(&vlan).unwrap_err().code, ErrorCode::ConfigUnsupported);
    }
}
