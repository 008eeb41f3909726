//! The host side of one tap-backed guest NIC (`<interface type='network'|'bridge'|'ethernet'>`):
//! the tap with one fd per queue, its name (generated, the user's `<target dev>`, or an existing
//! unmanaged tap), and the /dev/vhost-net fds when vhost-net is used.

use std::fs::OpenOptions;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use oxvirt_api::{Error, ErrorCode, ErrorDomain, NetworkPort, PortPlug, Result};
use oxvirt_network::bandwidth::{self, TcCommand};
use oxvirt_network::{is_generated_name, TapError, TapSpec};
use oxvirt_xml::domain::devices::interface::{Interface, InterfaceType};
use oxvirt_xml::YesNo;

use crate::command::{self, Accel};

/// The kernel's vhost-net device.
pub const VHOST_NET: &str = "/dev/vhost-net";

/// What opening one NIC's host side gave.
pub struct OpenedNic {
    pub ifname: String,
    /// One per queue.
    pub tap_fds: Vec<OwnedFd>,
    /// One per queue, or none (no vhost-net).
    pub vhost_fds: Vec<OwnedFd>,
    pub vnet_hdr: bool,
    /// `type='network'`: the network that counts this connection, and its bridge.
    pub network: Option<(String, String)>,
}

/// The queue count of a NIC (`<driver queues>`, 1 without).
pub fn queues_of(n: &Interface) -> u32 {
    n.driver.as_ref().and_then(|d| d.queues).unwrap_or(1).max(1)
}

/// Whether the NIC attaches to an existing tap oxvirt must not create or delete.
fn unmanaged(n: &Interface) -> bool {
    n.target.as_ref().and_then(|t| t.managed) == Some(YesNo::No)
}

/// The tap name the user chose: `<target dev>` unless it is one of the generated kinds
/// (`vnet…`, `macvtap…`, `macvlan…`), which are made anew at each start as libvirt does.
pub fn chosen_name(n: &Interface) -> Option<String> {
    let dev = n.target.as_ref()?.dev.clone()?;
    (unmanaged(n) || !is_generated_name(&dev)).then_some(dev)
}

/// `<driver queues>` of interface `index`, checked against its model and the kernel's limit.
pub fn check_queues(dom: &str, n: &Interface, index: usize) -> Result<u32> {
    let queues = queues_of(n);
    let model = n.model.as_ref().map_or("rtl8139", |m| m.kind.as_str());
    let conf = |msg: String| {
        Error::unsupported_config(format!(
            "domain '{dom}': /domain/devices/interface[{}]/driver/@queues: {msg}",
            index + 1
        ))
        .in_domain(ErrorDomain::Qemu)
    };
    if queues > 1 && !model.starts_with("virtio") {
        return Err(conf(format!("multiqueue (queues='{queues}') needs a virtio NIC model, not '{model}'")));
    }
    if queues > oxvirt_network::tap::MAX_QUEUES {
        return Err(conf(format!("at most {} queues, not {queues}", oxvirt_network::tap::MAX_QUEUES)));
    }
    Ok(queues)
}

/// One /dev/vhost-net fd per queue for interface `index`.
pub fn open_vhost(dom: &str, index: usize, queues: u32) -> Result<Vec<OwnedFd>> {
    (0..queues)
        .map(|_| {
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(Path::new(VHOST_NET))
                .map_err(|e| {
                    Error::new(
                        ErrorCode::SystemError,
                        ErrorDomain::Qemu,
                        format!(
                            "domain '{dom}': /domain/devices/interface[{}]/driver: opening {VHOST_NET}: {e}",
                            index + 1
                        ),
                    )
                })?;
            Ok(OwnedFd::from(f))
        })
        .collect()
}

/// Opens the tap (and vhost-net fds) of interface `index` of domain `dom`; a `type='network'`
/// NIC's tap goes on the bridge of the network `port` it was given. `vhost_net`: whether
/// /dev/vhost-net exists.
pub fn open_nic(
    dom: &str,
    n: &Interface,
    index: usize,
    accel: Accel,
    vhost_net: bool,
    port: Option<&NetworkPort>,
) -> Result<OpenedNic> {
    let path = format!("/domain/devices/interface[{}]", index + 1);
    let conf = |what: &str, msg: String| {
        Error::unsupported_config(format!("domain '{dom}': {path}{what}: {msg}")).in_domain(ErrorDomain::Qemu)
    };
    let mac = n
        .mac
        .as_ref()
        .map(|m| m.address)
        .ok_or_else(|| Error::internal(format!("domain '{dom}': {path} has no MAC address after completion")))?;
    let model = n.model.as_ref().map_or("rtl8139", |m| m.kind.as_str());
    let virtio = model.starts_with("virtio");
    let queues = check_queues(dom, n, index)?;
    let vhost = command::vhost_wanted(n, index, accel, vhost_net)
        .map_err(|e| Error::unsupported_config(format!("domain '{dom}': {e}")).in_domain(ErrorDomain::Qemu))?;
    let unmanaged = unmanaged(n);
    if unmanaged && n.kind != InterfaceType::Ethernet {
        return Err(conf(
            "/target/@managed",
            format!("managed='no' is only for interfaces of type 'ethernet', not '{}'", n.kind),
        ));
    }
    let spec = TapSpec { name: chosen_name(n), queues, vnet_hdr: virtio };
    if unmanaged && spec.name.is_none() {
        return Err(conf("/target/@dev", "a target dev must be given with managed='no'".into()));
    }
    let tap_err = |e: TapError| {
        let code = match e {
            TapError::Exists(_) | TapError::Missing(_) | TapError::NotTap { .. } => ErrorCode::OperationInvalid,
            _ => ErrorCode::SystemError,
        };
        Error::coded(code, ErrorDomain::Qemu, format!("domain '{dom}': {path}/target: {e}"))
    };
    // Checked here too (the tap code checks again) so the refusal names the element whoever makes the tap.
    if let Some(name) = spec.name.as_deref().filter(|_| !unmanaged) {
        if oxvirt_network::netlink::link_by_name(name).ok().flatten().is_some() {
            return Err(tap_err(TapError::Exists(name.to_string())));
        }
    }
    // Before the tap, so a failure here leaves no tap behind.
    let vhost_fds = if vhost { open_vhost(dom, index, queues)? } else { Vec::new() };
    let src = n.source.as_ref();
    let mut network = None;
    let (tap_fds, ifname) = match n.kind {
        InterfaceType::Network => {
            let port = port.ok_or_else(|| conf("/source/@network", "no source network given".into()))?;
            let PortPlug::Bridge { bridge, mtu } = &port.plug else {
                return Err(Error::internal(format!("domain '{dom}': {path}: a direct port has no tap")));
            };
            let net_err = |code, msg: String| Error::coded(code, ErrorDomain::Network, msg);
            let (fds, ifname) = oxvirt_network::open_tap(&spec, Some(bridge), *mtu, mac).map_err(|e| match e {
                TapError::Exists(_) => net_err(ErrorCode::OperationInvalid, e.to_string()),
                e => Error::new(
                    ErrorCode::SystemError,
                    ErrorDomain::Network,
                    format!("creating a tap device on {bridge}: {e}"),
                ),
            })?;
            if let Some(bw) = port.bandwidth.as_ref().filter(|b| bandwidth::has_limits(b)) {
                // On failure the fds drop and the tap goes with them.
                bandwidth::apply(&TcCommand::system(), &ifname, bw, false).map_err(|e| {
                    net_err(ErrorCode::OperationFailed, format!("setting bandwidth limits on {ifname}: {e}"))
                })?;
            }
            network = Some((port.network.clone(), bridge.clone()));
            (fds, ifname)
        }
        InterfaceType::Bridge | InterfaceType::Ethernet if !unmanaged => {
            if let Some(floor) = n.bandwidth.as_ref().and_then(|b| b.inbound.as_ref()).and_then(|r| r.floor) {
                return Err(Error::coded(
                    ErrorCode::OperationUnsupported,
                    ErrorDomain::Qemu,
                    format!(
                        "Invalid use of 'floor' (inbound floor='{floor}') on interface with MAC address {mac} - 'floor' is only \
                         supported for interface type 'network' with forward type 'nat', 'route', 'open' or none"
                    ),
                ));
            }
            let bridge = if n.kind == InterfaceType::Bridge {
                Some(
                    src.and_then(|s| s.bridge.clone())
                        .ok_or_else(|| conf("/source/@bridge", "no source bridge given".into()))?,
                )
            } else {
                None
            };
            let mtu = n.mtu.as_ref().map(|m| u32::from(m.size));
            let (fds, ifname) = oxvirt_network::open_tap(&spec, bridge.as_deref(), mtu, mac).map_err(|e| match e {
                TapError::Exists(_) => tap_err(e),
                e => Error::new(
                    ErrorCode::SystemError,
                    ErrorDomain::Qemu,
                    format!(
                        "creating a tap device{} for domain '{dom}': {e}",
                        bridge.as_ref().map(|b| format!(" on bridge '{b}'")).unwrap_or_default()
                    ),
                ),
            })?;
            if let Some(bw) = n.bandwidth.as_ref().filter(|b| bandwidth::has_limits(b)) {
                // On failure the fds drop and the tap goes with them.
                bandwidth::apply(&TcCommand::system(), &ifname, bw, false).map_err(|e| {
                    Error::new(
                        ErrorCode::OperationFailed,
                        ErrorDomain::Qemu,
                        format!("setting bandwidth limits on {ifname} for domain '{dom}': {e}"),
                    )
                })?;
            }
            (fds, ifname)
        }
        InterfaceType::Ethernet => {
            if n.bandwidth.as_ref().is_some_and(bandwidth::has_limits) {
                // tc state would outlive the guest on a tap that is not ours.
                return Err(conf("/bandwidth", "bandwidth limits on an unmanaged tap (managed='no')".into()));
            }
            let name = spec.name.clone().unwrap_or_default();
            let fds = oxvirt_network::open_existing_tap(&name, virtio, queues).map_err(tap_err)?;
            (fds, name)
        }
        other => return Err(Error::internal(format!("domain '{dom}': {path}: no tap for type '{other}'"))),
    };
    Ok(OpenedNic { ifname, tap_fds, vhost_fds, vnet_hdr: virtio, network })
}
