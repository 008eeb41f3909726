//! Direct (macvtap) guest interfaces: a macvtap link on a host interface, opened through its
//! character device so QEMU gets the fd as it gets a tap's (`-netdev tap,fd=N`).
//!
//! Unlike a tap, the link outlives its fds: whoever stops the guest deletes it ([`delete_macvtap`]).
//! The character device is `/dev/tapIFINDEX`, but the ifindex is per network namespace while
//! devtmpfs is not, so that node may belong to another namespace's device (or be missing when two
//! namespaces clash): the device numbers come from sysfs of our namespace and, when `/dev` has no
//! matching node, a private node is made, opened and unlinked at once.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{mknod, Mode, SFlag};
use nix::sys::statvfs::{statvfs, FsFlags};
use oxvirt_xml::MacAddr;

use crate::netlink::{self, MacvlanMode, NetlinkError};
use crate::tap::is_generated_name;

#[derive(Debug, thiserror::Error)]
pub enum MacvtapError {
    #[error("no such host interface")]
    NoLower,
    #[error("looking up host interface {name}: {source}")]
    Lookup { name: String, source: NetlinkError },
    #[error("a network device named '{0}' exists already")]
    Exists(String),
    #[error("no unused macvtapN name")]
    NoFreeName,
    #[error("creating macvtap {name}: {source}")]
    Create { name: String, source: NetlinkError },
    #[error("configuring macvtap {name}: {source}")]
    Configure { name: String, source: NetlinkError },
    #[error("setting the guest MAC on {lower} (passthrough): {source}")]
    LowerMac { lower: String, source: NetlinkError },
    #[error("finding the character device of macvtap {name}: {reason}")]
    CharDev { name: String, reason: String },
    #[error("opening {path} (macvtap {name}): {source}")]
    Open { name: String, path: PathBuf, source: io::Error },
    #[error("setting the queue flags of macvtap {name}: {source}")]
    QueueFlags { name: String, source: io::Error },
}

/// What a direct guest interface asks for.
#[derive(Debug, Clone)]
pub struct MacvtapSpec<'a> {
    /// The host interface the macvtap sits on (`<source dev>`).
    pub lower: &'a str,
    pub mode: MacvlanMode,
    /// The guest's MAC, given to the macvtap (passthrough: to the lower device).
    pub mac: MacAddr,
    /// A user's `<target dev>`; generated-looking names are ignored.
    pub name: Option<&'a str>,
    pub mtu: Option<u32>,
    /// Queues (`<driver queues>`): the device is opened once per queue.
    pub queues: u32,
    /// virtio NICs: the queue carries a vnet header.
    pub vnet_hdr: bool,
    /// Where a private device node may be made (the domain's run directory).
    pub node_dir: &'a Path,
}

/// An open macvtap: hand `fds` (one per queue) to QEMU; delete the link with [`delete_macvtap`]
/// when the guest is gone.
#[derive(Debug)]
pub struct Macvtap {
    pub fds: Vec<OwnedFd>,
    pub name: String,
    /// Passthrough: the lower device's own MAC, to put back with [`restore_lower_mac`].
    pub lower_mac: Option<MacAddr>,
}

/// Deletes the link when a later step fails.
struct LinkGuard(Option<String>);

impl Drop for LinkGuard {
    fn drop(&mut self) {
        if let Some(n) = self.0.take() {
            if let Err(e) = netlink::delete_link(&n) {
                tracing::warn!("deleting macvtap {n} after a failed setup: {e}");
            }
        }
    }
}

/// Creates the macvtap for `spec`, brings it up and opens its queue.
pub fn open_macvtap(spec: &MacvtapSpec<'_>) -> Result<Macvtap, MacvtapError> {
    let lookup = |name: &str, source| MacvtapError::Lookup { name: name.into(), source };
    let lower = netlink::link_by_name(spec.lower).map_err(|e| lookup(spec.lower, e))?.ok_or(MacvtapError::NoLower)?;
    // In passthrough mode the macvtap takes the lower device's MAC; the guest's goes there first.
    let lower_mac = if spec.mode == MacvlanMode::Passthru && lower.mac != Some(spec.mac) {
        netlink::set_mac(spec.lower, spec.mac)
            .map_err(|e| MacvtapError::LowerMac { lower: spec.lower.into(), source: e })?;
        lower.mac
    } else {
        None
    };
    let restore = |r: Result<Macvtap, MacvtapError>| {
        if let (Err(_), Some(m)) = (&r, lower_mac) {
            restore_lower_mac(spec.lower, m);
        }
        r
    };
    restore((|| {
        let mac = (spec.mode != MacvlanMode::Passthru).then_some(spec.mac);
        let name = create(spec, mac)?;
        let mut guard = LinkGuard(Some(name.clone()));
        let cfg = |e| MacvtapError::Configure { name: name.clone(), source: e };
        if let Some(m) = spec.mtu {
            netlink::set_mtu(&name, m).map_err(cfg)?;
        }
        netlink::set_up(&name, true).map_err(cfg)?;
        let link =
            netlink::link_by_name(&name).map_err(cfg)?.ok_or_else(|| cfg(NetlinkError::NoSuchLink(name.clone())))?;
        let (major, minor) = char_dev(&name, link.index, spec.node_dir)?;
        let fds = open_queues(&name, link.index, (major, minor), spec.queues.max(1), spec.node_dir)?;
        for fd in &fds {
            set_queue_flags(fd, spec.vnet_hdr)
                .map_err(|e| MacvtapError::QueueFlags { name: name.clone(), source: e })?;
        }
        guard.0 = None;
        Ok(Macvtap { fds, name, lower_mac })
    })())
}

/// Creates the link under the user's name, or the first free `macvtapN`.
fn create(spec: &MacvtapSpec<'_>, mac: Option<MacAddr>) -> Result<String, MacvtapError> {
    let make = |name: &str| netlink::create_macvtap(name, spec.lower, spec.mode, mac);
    if let Some(n) = spec.name.filter(|n| !is_generated_name(n)) {
        return match make(n) {
            Ok(()) => Ok(n.to_string()),
            Err(e) if e.errno() == Some(libc::EEXIST) => Err(MacvtapError::Exists(n.into())),
            Err(e) => Err(MacvtapError::Create { name: n.into(), source: e }),
        };
    }
    let taken: Vec<String> = netlink::links()
        .map_err(|e| MacvtapError::Create { name: "macvtapN".into(), source: e })?
        .into_iter()
        .map(|l| l.name)
        .collect();
    // Another process may take a name between the listing and the request: then the next one.
    for n in (0..10_000).map(|i| format!("macvtap{i}")).filter(|n| !taken.contains(n)) {
        match make(&n) {
            Ok(()) => return Ok(n),
            Err(e) if e.errno() == Some(libc::EEXIST) => continue,
            Err(e) => return Err(MacvtapError::Create { name: n, source: e }),
        }
    }
    Err(MacvtapError::NoFreeName)
}

/// Deletes a guest's macvtap. `Ok(false)`: no such link, or it is not a macvtap (left alone).
pub fn delete_macvtap(name: &str) -> Result<bool, NetlinkError> {
    match netlink::link_by_name(name)? {
        Some(l) if l.kind.as_deref() == Some("macvtap") => match netlink::delete_link(name) {
            Ok(()) => Ok(true),
            Err(NetlinkError::NoSuchLink(_)) => Ok(false),
            Err(e) => Err(e),
        },
        _ => Ok(false),
    }
}

/// Puts a passthrough lower device's own MAC back (best effort, logged).
pub fn restore_lower_mac(lower: &str, mac: MacAddr) {
    if let Err(e) = netlink::set_mac(lower, mac) {
        tracing::warn!("restoring the MAC address {mac} of {lower}: {e}");
    }
}

/// `major:minor` of the macvtap's queue device from sysfs: `/sys` when it shows our network
/// namespace, else a sysfs mounted for the moment (a sysfs shows its mounter's namespace).
fn char_dev(name: &str, ifindex: u32, scratch: &Path) -> Result<(u32, u32), MacvtapError> {
    let fail = |reason: String| MacvtapError::CharDev { name: name.into(), reason };
    if let Some(d) = sysfs_char_dev(Path::new("/sys"), name, ifindex).map_err(fail)? {
        return Ok(d);
    }
    let mnt = scratch.join(format!("sysfs-{name}"));
    fs::create_dir_all(&mnt).map_err(|e| fail(format!("creating {}: {e}", mnt.display())))?;
    let found = with_sysfs(&mnt, || sysfs_char_dev(&mnt, name, ifindex));
    let _ = fs::remove_dir(&mnt);
    found.map_err(fail)?.ok_or_else(|| fail(format!("sysfs has no queue device for {name} (ifindex {ifindex})")))
}

/// Runs `f` with a fresh sysfs mounted on `mnt`, unmounting it afterwards.
fn with_sysfs<T>(mnt: &Path, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    mount(Some("sysfs"), mnt, Some("sysfs"), flags, None::<&str>)
        .map_err(|e| format!("mounting sysfs on {}: {}", mnt.display(), io::Error::from(e)))?;
    let out = f();
    // MNT_DETACH never blocks
    let _ = umount2(mnt, MntFlags::MNT_DETACH);
    out
}

/// Reads `class/net/NAME/macvtap/tapN/dev` under a sysfs root. `Ok(None)`: this sysfs shows
/// another namespace (no such device, or another ifindex under that name).
pub fn sysfs_char_dev(sys: &Path, name: &str, ifindex: u32) -> Result<Option<(u32, u32)>, String> {
    let dev_dir = sys.join("class/net").join(name);
    let Ok(idx) = fs::read_to_string(dev_dir.join("ifindex")) else { return Ok(None) };
    if idx.trim().parse::<u32>().ok() != Some(ifindex) {
        return Ok(None);
    }
    let dev = dev_dir.join(format!("macvtap/tap{ifindex}/dev"));
    let text = fs::read_to_string(&dev).map_err(|e| format!("reading {}: {e}", dev.display()))?;
    parse_dev_numbers(&text)
        .map(Some)
        .ok_or_else(|| format!("{} holds '{}', not MAJOR:MINOR", dev.display(), text.trim()))
}

fn parse_dev_numbers(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.trim().split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Opens `/dev/tapIFINDEX` `count` times (each open is a queue) when it is our device, else a
/// private node made for the moment.
fn open_queues(
    name: &str,
    ifindex: u32,
    (major, minor): (u32, u32),
    count: u32,
    node_dir: &Path,
) -> Result<Vec<OwnedFd>, MacvtapError> {
    let rdev = libc::makedev(major, minor);
    let dev = PathBuf::from(format!("/dev/tap{ifindex}"));
    let open = |p: &Path| {
        OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOCTTY)
            .open(p)
            .map(OwnedFd::from)
            .map_err(|e| MacvtapError::Open { name: name.into(), path: p.to_path_buf(), source: e })
    };
    let ours = |p: &Path| fs::metadata(p).is_ok_and(|m| m.file_type().is_char_device() && m.rdev() == rdev);
    let open_all = |p: &Path| (0..count).map(|_| open(p)).collect::<Result<Vec<_>, _>>();
    if ours(&dev) {
        return open_all(&dev);
    }
    // A directory on a nodev mount cannot serve device nodes; /dev always can.
    let dir = if nodev(node_dir) { Path::new("/dev") } else { node_dir };
    let node = dir.join(format!(".oxvirt-{name}-{}", std::process::id()));
    let _ = fs::remove_file(&node);
    if let Err(e) = mknod(&node, SFlag::S_IFCHR, Mode::from_bits_truncate(0o600), rdev) {
        return Err(MacvtapError::CharDev {
            name: name.into(),
            reason: format!("making node {} ({major}:{minor}): {}", node.display(), io::Error::from(e)),
        });
    }
    let fds = open_all(&node);
    let _ = fs::remove_file(&node);
    fds
}

fn nodev(dir: &Path) -> bool {
    statvfs(dir).is_ok_and(|st| st.flags().contains(FsFlags::ST_NODEV))
}

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;
const IFF_VNET_HDR: libc::c_short = 0x4000;

#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// A macvtap queue starts with a vnet header; only virtio NICs keep it (QEMU reads the flag back).
fn set_queue_flags(fd: &OwnedFd, vnet_hdr: bool) -> io::Result<()> {
    let mut flags = IFF_TAP | IFF_NO_PI;
    if vnet_hdr {
        flags |= IFF_VNET_HDR;
    }
    let mut req = IfReq { name: [0; libc::IFNAMSIZ], flags, _pad: [0; 22] };
    // SAFETY: TUNSETIFF reads an ifreq; IfReq has the same size and layout prefix.
    if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF, &mut req as *mut IfReq) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_numbers() {
        assert_eq!(parse_dev_numbers("246:3\n"), Some((246, 3)));
        assert_eq!(parse_dev_numbers("246"), None);
        assert_eq!(parse_dev_numbers("a:b"), None);
    }

    fn fake_sysfs(name: &str, ifindex: u32, dev: Option<&str>) -> tempfile::TempDir {
        let t = tempfile::tempdir().expect("tempdir");
        let d = t.path().join("class/net").join(name);
        fs::create_dir_all(&d).expect("mkdir");
        fs::write(d.join("ifindex"), format!("{ifindex}\n")).expect("ifindex");
        if let Some(dev) = dev {
            let q = d.join(format!("macvtap/tap{ifindex}"));
            fs::create_dir_all(&q).expect("mkdir");
            fs::write(q.join("dev"), dev).expect("dev");
        }
        t
    }

    #[test]
    fn char_dev_from_sysfs() {
        let t = fake_sysfs("macvtap0", 7, Some("246:1\n"));
        assert_eq!(sysfs_char_dev(t.path(), "macvtap0", 7), Ok(Some((246, 1))));
        // Same name, other ifindex: another namespace's device.
        assert_eq!(sysfs_char_dev(t.path(), "macvtap0", 8), Ok(None));
        assert_eq!(sysfs_char_dev(t.path(), "macvtap1", 7), Ok(None));
        let t = fake_sysfs("macvtap0", 7, None);
        assert!(sysfs_char_dev(t.path(), "macvtap0", 7).is_err_and(|e| e.contains("tap7/dev")));
        let t = fake_sysfs("macvtap0", 7, Some("garbage"));
        assert!(sysfs_char_dev(t.path(), "macvtap0", 7).is_err_and(|e| e.contains("garbage")));
    }
}
