//! TAP devices for guest interfaces. A managed device is not persistent: QEMU gets the fds
//! (`-netdev tap,fd=N` or `fds=N:M:...`, one per queue), and the kernel removes the tap when the
//! last fd closes, i.e. with QEMU. An unmanaged one (`<target managed='no'>`) exists before and
//! after the guest and is only attached to.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use oxvirt_xml::MacAddr;

use crate::netlink::{self, NetlinkError};

#[derive(Debug, thiserror::Error)]
pub enum TapError {
    #[error("opening /dev/net/tun: {0}")]
    OpenTun(#[source] io::Error),
    #[error("creating tap device from template '{template}': {source}")]
    SetIff { template: String, source: io::Error },
    #[error("making tap {name} non-persistent: {source}")]
    Persist { name: String, source: io::Error },
    #[error("tap name template '{0}' is too long")]
    BadTemplate(String),
    #[error("configuring tap {name}: {source}")]
    Configure { name: String, source: NetlinkError },
    #[error("the {0} interface already exists")]
    Exists(String),
    #[error("target dev '{0}' with managed='no' does not exist")]
    Missing(String),
    #[error("target dev '{name}' with managed='no' is a {kind} device, not a tap")]
    NotTap { name: String, kind: String },
    #[error("tap queues must be between 1 and {MAX_QUEUES}, not {0}")]
    Queues(u32),
}

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const TUNSETPERSIST: libc::c_ulong = 0x4004_54cb;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_MULTI_QUEUE: libc::c_short = 0x0100;
const IFF_NO_PI: libc::c_short = 0x1000;
const IFF_VNET_HDR: libc::c_short = 0x4000;
/// The kernel's limit of queues per tap (MAX_TAP_QUEUES).
pub const MAX_QUEUES: u32 = 256;

/// The name prefixes oxvirt (like libvirt) generates; a `<target dev>` starting with one of them
/// is not kept as the user's choice but regenerated at each start.
pub const GENERATED_PREFIXES: [&str; 3] = ["vnet", "macvtap", "macvlan"];

/// Whether `name` looks like a generated device name (see [`GENERATED_PREFIXES`]).
pub fn is_generated_name(name: &str) -> bool {
    GENERATED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// How a guest's tap is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapSpec {
    /// The user's `<target dev>`; `None`: the next free `vnetN`.
    pub name: Option<String>,
    /// Descriptors to open, one per queue; more than one makes a multiqueue tap.
    pub queues: u32,
    /// IFF_VNET_HDR (virtio NICs).
    pub vnet_hdr: bool,
}

impl Default for TapSpec {
    fn default() -> Self {
        TapSpec { name: None, queues: 1, vnet_hdr: false }
    }
}

impl TapSpec {
    fn template(&self) -> &str {
        self.name.as_deref().unwrap_or("vnet%d")
    }
}

#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Creates a tap from `template` (`vnet%d`: the kernel picks the number) and returns its fd and name.
pub fn create_tap(template: &str, vnet_hdr: bool) -> Result<(OwnedFd, String), TapError> {
    let (mut fds, name) = create_tap_queues(template, vnet_hdr, 1, false)?;
    let fd = fds.pop().ok_or(TapError::Queues(0))?;
    Ok((fd, name))
}

/// Opens `queues` fds of one tap (IFF_MULTI_QUEUE when more than one). `template` is a fixed name
/// or contains `%d`. `existing`: attach to a tap that must exist already and leave its persistence
/// alone; otherwise a fixed name that is taken is refused and the new tap is non-persistent.
pub fn create_tap_queues(
    template: &str,
    vnet_hdr: bool,
    queues: u32,
    existing: bool,
) -> Result<(Vec<OwnedFd>, String), TapError> {
    if template.len() >= libc::IFNAMSIZ || template.contains('\0') || template.is_empty() {
        return Err(TapError::BadTemplate(template.into()));
    }
    if queues == 0 || queues > MAX_QUEUES {
        return Err(TapError::Queues(queues));
    }
    let fixed = !template.contains('%');
    if fixed {
        let link =
            netlink::link_by_name(template).map_err(|e| TapError::Configure { name: template.into(), source: e })?;
        match (link, existing) {
            (Some(_), false) => return Err(TapError::Exists(template.into())),
            (None, true) => return Err(TapError::Missing(template.into())),
            (Some(l), true) if l.kind.as_deref().is_some_and(|k| k != "tun") => {
                return Err(TapError::NotTap { name: template.into(), kind: l.kind.unwrap_or_default() })
            }
            _ => {}
        }
    }
    let mut name = template.to_string();
    let mut fds = Vec::with_capacity(queues as usize);
    for _ in 0..queues {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(TapError::OpenTun)?;
        let mut req = IfReq { name: [0; libc::IFNAMSIZ], flags: IFF_TAP | IFF_NO_PI, _pad: [0; 22] };
        if vnet_hdr {
            req.flags |= IFF_VNET_HDR;
        }
        if queues > 1 {
            req.flags |= IFF_MULTI_QUEUE;
        }
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        // SAFETY: TUNSETIFF reads and writes an ifreq; IfReq has the same size and layout prefix.
        let r = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF, &mut req as *mut IfReq) };
        if r < 0 {
            let e = io::Error::last_os_error();
            // Another process holds a fixed-name tap (the name check above raced with it).
            if fixed && !existing && e.raw_os_error() == Some(libc::EBUSY) {
                return Err(TapError::Exists(name));
            }
            return Err(TapError::SetIff { template: name, source: e });
        }
        if fds.is_empty() {
            // The other queues attach to the device the first one made.
            let end = req.name.iter().position(|&c| c == 0).unwrap_or(req.name.len());
            name = String::from_utf8_lossy(&req.name[..end]).into_owned();
            if !existing {
                // SAFETY: TUNSETPERSIST takes an integer argument by value.
                let r = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETPERSIST, 0 as libc::c_ulong) };
                if r < 0 {
                    return Err(TapError::Persist { name, source: io::Error::last_os_error() });
                }
            }
        }
        fds.push(OwnedFd::from(file));
    }
    Ok((fds, name))
}

/// The MAC the host side of a guest's tap gets: the guest's with the first byte `fe` (`fa` if it
/// is `fe` already), so the bridge (which takes the lowest port MAC) never adopts a guest address
/// and the kernel never sees its own address as a packet's source, as libvirt does.
pub fn host_side_mac(guest: MacAddr) -> MacAddr {
    let mut m = guest.0;
    m[0] = if m[0] == 0xfe { 0xfa } else { 0xfe };
    MacAddr(m)
}

/// Creates a tap for a guest NIC, enslaves it to `bridge` with the bridge's MTU (or `mtu`), and brings
/// it up. The fds (one per queue) are for QEMU; dropping them removes the device.
pub fn open_tap(
    spec: &TapSpec,
    bridge: Option<&str>,
    mtu: Option<u32>,
    mac: MacAddr,
) -> Result<(Vec<OwnedFd>, String), TapError> {
    let (fds, name) = create_tap_queues(spec.template(), spec.vnet_hdr, spec.queues, false)?;
    let cfg = |e| TapError::Configure { name: name.clone(), source: e };
    netlink::set_mac(&name, host_side_mac(mac)).map_err(cfg)?;
    let mtu = match (mtu, bridge) {
        (Some(m), _) => Some(m),
        (None, Some(b)) => netlink::link_by_name(b).map_err(cfg)?.map(|l| l.mtu),
        _ => None,
    };
    if let Some(m) = mtu {
        netlink::set_mtu(&name, m).map_err(cfg)?;
    }
    if let Some(b) = bridge {
        netlink::set_master(&name, Some(b)).map_err(cfg)?;
    }
    netlink::set_up(&name, true).map_err(cfg)?;
    Ok((fds, name))
}

/// Attaches to the existing tap `name` (`<target dev='name' managed='no'/>`): its MAC, MTU,
/// master and state are the user's business and left as they are.
pub fn open_existing_tap(name: &str, vnet_hdr: bool, queues: u32) -> Result<Vec<OwnedFd>, TapError> {
    create_tap_queues(name, vnet_hdr, queues, true).map(|(fds, _)| fds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_mac_and_generated_names() {
        let g: MacAddr = "52:54:00:01:02:03".parse().unwrap();
        assert_eq!(host_side_mac(g).to_string(), "fe:54:00:01:02:03");
        let g: MacAddr = "fe:54:00:01:02:03".parse().unwrap();
        assert_eq!(host_side_mac(g).to_string(), "fa:54:00:01:02:03");
        assert!(is_generated_name("vnet12") && is_generated_name("macvtap0") && is_generated_name("macvlan3"));
        assert!(!is_generated_name("mytap0") && !is_generated_name("tap-vnet"));
    }

    #[test]
    fn refuses_bad_names_and_queue_counts() {
        assert!(matches!(create_tap_queues("", false, 1, false), Err(TapError::BadTemplate(_))));
        assert!(matches!(create_tap_queues("a-name-much-too-long", false, 1, false), Err(TapError::BadTemplate(_))));
        assert!(matches!(create_tap_queues("t%d", false, 0, false), Err(TapError::Queues(0))));
        assert!(matches!(create_tap_queues("t%d", false, 257, false), Err(TapError::Queues(257))));
    }
}
