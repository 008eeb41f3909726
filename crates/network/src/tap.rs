//! TAP devices for guest interfaces. The device is not persistent: QEMU gets the fd
//! (`-netdev tap,fd=N`), and the kernel removes the tap when the last fd closes, i.e. with QEMU.

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
}

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const TUNSETPERSIST: libc::c_ulong = 0x4004_54cb;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;
const IFF_VNET_HDR: libc::c_short = 0x4000;

#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Creates a tap from `template` (`vnet%d`: the kernel picks the number) and returns its fd and name.
pub fn create_tap(template: &str, vnet_hdr: bool) -> Result<(OwnedFd, String), TapError> {
    if template.len() >= libc::IFNAMSIZ || template.contains('\0') {
        return Err(TapError::BadTemplate(template.into()));
    }
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
    req.name[..template.len()].copy_from_slice(template.as_bytes());
    // SAFETY: TUNSETIFF reads and writes an ifreq; IfReq has the same size and layout prefix.
    let r = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF, &mut req as *mut IfReq) };
    if r < 0 {
        return Err(TapError::SetIff { template: template.into(), source: io::Error::last_os_error() });
    }
    let end = req.name.iter().position(|&c| c == 0).unwrap_or(req.name.len());
    let name = String::from_utf8_lossy(&req.name[..end]).into_owned();
    // SAFETY: TUNSETPERSIST takes an integer argument by value.
    let r = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETPERSIST, 0 as libc::c_ulong) };
    if r < 0 {
        return Err(TapError::Persist { name, source: io::Error::last_os_error() });
    }
    Ok((OwnedFd::from(file), name))
}

/// The MAC the host side of a guest's tap gets: the guest's with the first byte `fe`, so the
/// bridge (which takes the lowest port MAC) never adopts a guest address, as libvirt does.
pub fn host_side_mac(guest: MacAddr) -> MacAddr {
    let mut m = guest.0;
    m[0] = 0xfe;
    MacAddr(m)
}

/// Creates a tap for a guest NIC, enslaves it to `bridge` with the bridge's MTU (or `mtu`), and brings
/// it up. The fd is for QEMU; dropping it removes the device.
pub fn open_tap(
    name_template: &str,
    bridge: Option<&str>,
    mtu: Option<u32>,
    mac: MacAddr,
    vnet_hdr: bool,
) -> Result<(OwnedFd, String), TapError> {
    let (fd, name) = create_tap(name_template, vnet_hdr)?;
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
    Ok((fd, name))
}
