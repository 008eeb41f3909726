//! A minimal rtnetlink client over a raw `NETLINK_ROUTE` socket: just the link, address and route
//! requests a virtual network needs. Every request opens its own socket, so it acts in the network
//! namespace of the calling thread (tests run it inside a netns they entered with `setns`).

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{
    recv, sendto, setsockopt, socket, sockopt, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};
use nix::sys::time::TimeVal;
use oxvirt_xml::MacAddr;

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("opening a netlink socket: {0}")]
    Socket(#[source] io::Error),
    #[error("sending netlink request ({what}): {source}")]
    Send { what: String, source: io::Error },
    #[error("receiving netlink reply ({what}): {source}")]
    Receive { what: String, source: io::Error },
    #[error("{what}: {source}")]
    Kernel { what: String, source: io::Error },
    #[error("malformed netlink reply ({what})")]
    Malformed { what: String },
    #[error("interface name '{0}' is too long or contains a NUL")]
    BadName(String),
    #[error("no network interface named '{0}'")]
    NoSuchLink(String),
}

impl NetlinkError {
    /// The kernel's errno when it refused the request.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Kernel { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

type Result<T> = std::result::Result<T, NetlinkError>;

const TIMEOUT: Duration = Duration::from_secs(5);

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_MULTI: u16 = 2;
const NLM_F_ACK: u16 = 4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_DUMP: u16 = 0x300;

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const IFLA_BR_FORWARD_DELAY: u16 = 1;
const IFLA_BR_STP_STATE: u16 = 5;
const IFLA_MACVLAN_MODE: u16 = 1;
const VETH_INFO_PEER: u16 = 1;
const NLA_F_NESTED: u16 = 0x8000;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;

const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;

/// What a bridge is created with; attributes the kernel applies in one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeSpec {
    pub name: String,
    pub mac: Option<MacAddr>,
    pub mtu: Option<u32>,
    pub stp: bool,
    /// Forward delay in seconds.
    pub delay: u64,
}

/// A link as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    pub up: bool,
    pub mtu: u32,
    pub mac: Option<MacAddr>,
    pub master: Option<u32>,
    /// `bridge`, `veth`, `tun`, ... (absent for physical devices).
    pub kind: Option<String>,
}

/// A static route a network adds on its bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub dest: IpAddr,
    pub prefix: u8,
    pub gateway: IpAddr,
    pub metric: Option<u32>,
}

/// macvtap/macvlan modes as the kernel numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacvlanMode {
    Private = 1,
    Vepa = 2,
    Bridge = 4,
    Passthru = 8,
}

struct Msg {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Msg {
    fn new(kind: u16, flags: u16) -> Msg {
        let mut buf = vec![0u8; NLMSG_HDRLEN];
        buf[4..6].copy_from_slice(&kind.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        Msg { buf, nests: Vec::new() }
    }
    fn align(&mut self) {
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
    }
    fn raw(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        self.align();
    }
    fn ifinfo(&mut self, family: u8, index: i32, flags: u32, change: u32) {
        let mut h = [0u8; 16];
        h[0] = family;
        h[4..8].copy_from_slice(&index.to_ne_bytes());
        h[8..12].copy_from_slice(&flags.to_ne_bytes());
        h[12..16].copy_from_slice(&change.to_ne_bytes());
        self.raw(&h);
    }
    fn attr(&mut self, kind: u16, data: &[u8]) {
        let len = (4 + data.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.raw(data);
    }
    fn attr_str(&mut self, kind: u16, s: &str) {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.attr(kind, &v);
    }
    fn attr_u32(&mut self, kind: u16, v: u32) {
        self.attr(kind, &v.to_ne_bytes());
    }
    fn begin(&mut self, kind: u16) {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
    }
    fn end(&mut self) {
        if let Some(start) = self.nests.pop() {
            let len = (self.buf.len() - start) as u16;
            self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        }
    }
    fn finish(mut self, seq: u32) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.buf
    }
}

fn ne_u16(b: &[u8]) -> u16 {
    u16::from_ne_bytes([b[0], b[1]])
}
fn ne_u32(b: &[u8]) -> u32 {
    u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
}

/// Iterates over `(type, payload)` of the rtattrs in `b`.
fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if b.len() < 4 {
            return None;
        }
        let len = ne_u16(b) as usize;
        if len < 4 || len > b.len() {
            return None;
        }
        let kind = ne_u16(&b[2..]) & !NLA_F_NESTED;
        let data = &b[4..len];
        b = &b[((len + 3) & !3).min(b.len())..];
        Some((kind, data))
    })
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

struct Socket {
    fd: OwnedFd,
}

impl Socket {
    fn open() -> Result<Socket> {
        let fd = socket(AddressFamily::Netlink, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::NetlinkRoute)
            .map_err(|e| NetlinkError::Socket(e.into()))?;
        setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::new(TIMEOUT.as_secs() as _, 0))
            .map_err(|e| NetlinkError::Socket(e.into()))?;
        Ok(Socket { fd })
    }

    fn send(&self, msg: &[u8], what: &str) -> Result<()> {
        // port 0, no groups: to the kernel
        sendto(self.fd.as_raw_fd(), msg, &NetlinkAddr::new(0, 0), MsgFlags::empty())
            .map_err(|e| NetlinkError::Send { what: what.into(), source: e.into() })?;
        Ok(())
    }

    fn recv(&self, buf: &mut [u8], what: &str) -> Result<usize> {
        loop {
            match recv(self.fd.as_raw_fd(), buf, MsgFlags::empty()) {
                Ok(n) => return Ok(n),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(NetlinkError::Receive { what: what.into(), source: e.into() }),
            }
        }
    }

    /// Sends one request and collects the payloads of its replies until ACK or DONE.
    fn transact(&self, msg: Msg, what: &str) -> Result<Vec<(u16, Vec<u8>)>> {
        const SEQ: u32 = 1;
        self.send(&msg.finish(SEQ), what)?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = self.recv(&mut buf, what)?;
            let mut b = &buf[..n];
            let mut multi = false;
            while b.len() >= NLMSG_HDRLEN {
                let len = ne_u32(b) as usize;
                if len < NLMSG_HDRLEN || len > b.len() {
                    return Err(NetlinkError::Malformed { what: what.into() });
                }
                let kind = ne_u16(&b[4..]);
                let flags = ne_u16(&b[6..]);
                let payload = &b[NLMSG_HDRLEN..len];
                multi |= flags & NLM_F_MULTI != 0;
                match kind {
                    NLMSG_ERROR => {
                        if payload.len() < 4 {
                            return Err(NetlinkError::Malformed { what: what.into() });
                        }
                        let code = i32::from_ne_bytes([payload[0], payload[1], payload[2], payload[3]]);
                        if code == 0 {
                            return Ok(out);
                        }
                        return Err(NetlinkError::Kernel {
                            what: what.into(),
                            source: io::Error::from_raw_os_error(-code),
                        });
                    }
                    NLMSG_DONE => return Ok(out),
                    _ => out.push((kind, payload.to_vec())),
                }
                b = &b[((len + 3) & !3).min(b.len())..];
            }
            if !multi {
                return Ok(out);
            }
        }
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(NetlinkError::BadName(name.into()));
    }
    Ok(())
}

fn parse_link(payload: &[u8]) -> Option<LinkInfo> {
    if payload.len() < 16 {
        return None;
    }
    let index = i32::from_ne_bytes([payload[4], payload[5], payload[6], payload[7]]) as u32;
    let flags = ne_u32(&payload[8..]);
    let mut info = LinkInfo {
        index,
        name: String::new(),
        up: flags & libc::IFF_UP as u32 != 0,
        mtu: 0,
        mac: None,
        master: None,
        kind: None,
    };
    for (kind, data) in attrs(&payload[16..]) {
        match kind {
            IFLA_IFNAME => info.name = cstr(data),
            IFLA_MTU if data.len() >= 4 => info.mtu = ne_u32(data),
            IFLA_MASTER if data.len() >= 4 => info.master = Some(ne_u32(data)),
            IFLA_ADDRESS if data.len() == 6 => {
                let mut m = [0u8; 6];
                m.copy_from_slice(data);
                info.mac = Some(MacAddr(m));
            }
            IFLA_LINKINFO => {
                for (k, d) in attrs(data) {
                    if k == IFLA_INFO_KIND {
                        info.kind = Some(cstr(d));
                    }
                }
            }
            _ => {}
        }
    }
    Some(info)
}

/// The link named `name`, or `None` when there is none.
pub fn link_by_name(name: &str) -> Result<Option<LinkInfo>> {
    check_name(name)?;
    let mut m = Msg::new(RTM_GETLINK, 0);
    m.ifinfo(libc::AF_UNSPEC as u8, 0, 0, 0);
    m.attr_str(IFLA_IFNAME, name);
    match Socket::open()?.transact(m, &format!("querying link {name}")) {
        Ok(replies) => Ok(replies.iter().find(|(k, _)| *k == RTM_NEWLINK).and_then(|(_, p)| parse_link(p))),
        Err(e) if e.errno() == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every link in the namespace.
pub fn links() -> Result<Vec<LinkInfo>> {
    let mut m = Msg::new(RTM_GETLINK, NLM_F_DUMP);
    m.ifinfo(libc::AF_UNSPEC as u8, 0, 0, 0);
    let replies = Socket::open()?.transact(m, "listing links")?;
    Ok(replies.iter().filter(|(k, _)| *k == RTM_NEWLINK).filter_map(|(_, p)| parse_link(p)).collect())
}

fn index_of(name: &str) -> Result<u32> {
    link_by_name(name)?.map(|l| l.index).ok_or_else(|| NetlinkError::NoSuchLink(name.into()))
}

fn ack(m: Msg, what: String) -> Result<()> {
    Socket::open()?.transact(m, &what).map(drop)
}

/// Creates a bridge with its MAC, MTU, STP and forward delay in one request (delay is applied
/// before STP, so `stp on` with `delay 0` is accepted as libvirt configures it).
pub fn create_bridge(spec: &BridgeSpec) -> Result<()> {
    check_name(&spec.name)?;
    let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
    m.ifinfo(libc::AF_UNSPEC as u8, 0, 0, 0);
    m.attr_str(IFLA_IFNAME, &spec.name);
    if let Some(mac) = spec.mac {
        m.attr(IFLA_ADDRESS, &mac.0);
    }
    if let Some(mtu) = spec.mtu {
        m.attr_u32(IFLA_MTU, mtu);
    }
    m.begin(IFLA_LINKINFO);
    m.attr_str(IFLA_INFO_KIND, "bridge");
    m.begin(IFLA_INFO_DATA);
    // Centiseconds (USER_HZ clock ticks).
    m.attr_u32(IFLA_BR_FORWARD_DELAY, (spec.delay.min(u64::from(u32::MAX) / 100) * 100) as u32);
    m.attr_u32(IFLA_BR_STP_STATE, u32::from(spec.stp));
    m.end();
    m.end();
    ack(m, format!("creating bridge {}", spec.name))
}

/// Creates a veth pair (tests use it as a guest stand-in).
pub fn create_veth(name: &str, peer: &str) -> Result<()> {
    check_name(name)?;
    check_name(peer)?;
    let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
    m.ifinfo(libc::AF_UNSPEC as u8, 0, 0, 0);
    m.attr_str(IFLA_IFNAME, name);
    m.begin(IFLA_LINKINFO);
    m.attr_str(IFLA_INFO_KIND, "veth");
    m.begin(IFLA_INFO_DATA);
    m.begin(VETH_INFO_PEER);
    m.ifinfo(libc::AF_UNSPEC as u8, 0, 0, 0);
    m.attr_str(IFLA_IFNAME, peer);
    m.end();
    m.end();
    m.end();
    ack(m, format!("creating veth pair {name}/{peer}"))
}

/// Creates a macvtap device on `lower` (direct guest interfaces).
pub fn create_macvtap(name: &str, lower: &str, mode: MacvlanMode, mac: Option<MacAddr>) -> Result<()> {
    check_name(name)?;
    let link = index_of(lower)?;
    let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
    m.ifinfo(libc::AF_UNSPEC as u8, 0, 0, 0);
    m.attr_str(IFLA_IFNAME, name);
    m.attr_u32(IFLA_LINK, link);
    if let Some(mac) = mac {
        m.attr(IFLA_ADDRESS, &mac.0);
    }
    m.begin(IFLA_LINKINFO);
    m.attr_str(IFLA_INFO_KIND, "macvtap");
    m.begin(IFLA_INFO_DATA);
    m.attr_u32(IFLA_MACVLAN_MODE, mode as u32);
    m.end();
    m.end();
    ack(m, format!("creating macvtap {name} on {lower}"))
}

pub fn delete_link(name: &str) -> Result<()> {
    let idx = index_of(name)?;
    let mut m = Msg::new(RTM_DELLINK, NLM_F_ACK);
    m.ifinfo(libc::AF_UNSPEC as u8, idx as i32, 0, 0);
    ack(m, format!("deleting link {name}"))
}

fn set_link(name: &str, what: &str, flags: u32, change: u32, attrs: impl FnOnce(&mut Msg)) -> Result<()> {
    let idx = index_of(name)?;
    let mut m = Msg::new(RTM_NEWLINK, NLM_F_ACK);
    m.ifinfo(libc::AF_UNSPEC as u8, idx as i32, flags, change);
    attrs(&mut m);
    ack(m, format!("{what} of {name}"))
}

pub fn set_up(name: &str, up: bool) -> Result<()> {
    let f = libc::IFF_UP as u32;
    set_link(name, if up { "bringing up" } else { "bringing down" }, if up { f } else { 0 }, f, |_| {})
}

/// Enslaves `name` to bridge `master`, or frees it with `None`.
pub fn set_master(name: &str, master: Option<&str>) -> Result<()> {
    let midx = match master {
        Some(b) => index_of(b)?,
        None => 0,
    };
    set_link(name, "setting the master", 0, 0, |m| m.attr_u32(IFLA_MASTER, midx))
}

pub fn set_mtu(name: &str, mtu: u32) -> Result<()> {
    set_link(name, "setting the MTU", 0, 0, |m| m.attr_u32(IFLA_MTU, mtu))
}

pub fn set_mac(name: &str, mac: MacAddr) -> Result<()> {
    set_link(name, "setting the MAC address", 0, 0, |m| m.attr(IFLA_ADDRESS, &mac.0))
}

/// Adds `addr/prefix` to `name` (with the broadcast address for IPv4, as `ip addr add ... brd +`).
pub fn add_address(name: &str, addr: IpAddr, prefix: u8) -> Result<()> {
    let idx = index_of(name)?;
    let mut m = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
    let family = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 } as u8;
    let mut h = [0u8; 8];
    h[0] = family;
    h[1] = prefix;
    h[4..8].copy_from_slice(&idx.to_ne_bytes());
    m.raw(&h);
    match addr {
        IpAddr::V4(a) => {
            m.attr(IFA_LOCAL, &a.octets());
            m.attr(IFA_ADDRESS, &a.octets());
            if prefix < 31 {
                let host = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
                m.attr(IFA_BROADCAST, &(u32::from(a) | host).to_be_bytes());
            }
        }
        IpAddr::V6(a) => {
            m.attr(IFA_LOCAL, &a.octets());
            m.attr(IFA_ADDRESS, &a.octets());
        }
    }
    ack(m, format!("adding address {addr}/{prefix} to {name}"))
}

/// Adds a unicast route via `gateway` out of `dev`.
pub fn add_route(dev: &str, r: &RouteSpec) -> Result<()> {
    let idx = index_of(dev)?;
    let mut m = Msg::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
    let family = if r.dest.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 } as u8;
    // rtmsg: family, dst_len, src_len, tos, table (main), protocol (static), scope (universe), type (unicast).
    let h =
        [family, r.prefix, 0, 0, libc::RT_TABLE_MAIN, libc::RTPROT_STATIC, libc::RT_SCOPE_UNIVERSE, libc::RTN_UNICAST];
    m.raw(&[&h[..], &[0u8; 4]].concat());
    let ip = |a: IpAddr| match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    m.attr(RTA_DST, &ip(r.dest));
    m.attr(RTA_GATEWAY, &ip(r.gateway));
    m.attr_u32(RTA_OIF, idx);
    if let Some(metric) = r.metric {
        m.attr_u32(RTA_PRIORITY, metric);
    }
    ack(m, format!("adding route {}/{} via {} dev {dev}", r.dest, r.prefix, r.gateway))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_layout() {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_ACK);
        m.ifinfo(0, 7, 1, 1);
        m.attr_str(IFLA_IFNAME, "br0");
        m.begin(IFLA_LINKINFO);
        m.attr_str(IFLA_INFO_KIND, "bridge");
        m.end();
        let b = m.finish(9);
        assert_eq!(ne_u32(&b) as usize, b.len());
        assert_eq!(b.len() % 4, 0);
        assert_eq!(ne_u32(&b[8..]), 9);
        let a: Vec<_> = attrs(&b[32..]).map(|(k, d)| (k, d.to_vec())).collect();
        assert_eq!(a[0], (IFLA_IFNAME, b"br0\0".to_vec()));
        assert_eq!(a[1].0, IFLA_LINKINFO);
        let inner: Vec<_> = attrs(&a[1].1).map(|(k, d)| (k, cstr(d))).collect();
        assert_eq!(inner, vec![(IFLA_INFO_KIND, "bridge".to_string())]);
    }

    #[test]
    fn bad_names_refused() {
        assert!(matches!(link_by_name("a-name-that-is-far-too-long"), Err(NetlinkError::BadName(_))));
        assert!(matches!(link_by_name(""), Err(NetlinkError::BadName(_))));
    }
}
