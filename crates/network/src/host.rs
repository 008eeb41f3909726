//! Everything the network driver does to the host, behind small traits: the real implementations
//! act on the calling thread's network namespace; [`fake`] records calls so the driver's logic is
//! unit-tested unprivileged.

use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;

use oxvirt_xml::MacAddr;

use crate::bandwidth::{Tc, TcCommand};
use crate::dnsmasq::{self, DnsmasqError};
use crate::firewall::{Nft, NftCommand};
use crate::netlink::{self, BridgeSpec, LinkInfo, NetlinkError, RouteSpec};
use crate::tap::{self, TapError, TapSpec};

/// Link configuration (rtnetlink).
pub trait Links: Send + Sync {
    fn create_bridge(&self, spec: &BridgeSpec) -> Result<(), NetlinkError>;
    fn delete_link(&self, name: &str) -> Result<(), NetlinkError>;
    fn set_up(&self, name: &str, up: bool) -> Result<(), NetlinkError>;
    fn add_address(&self, name: &str, addr: IpAddr, prefix: u8) -> Result<(), NetlinkError>;
    fn add_route(&self, dev: &str, route: &RouteSpec) -> Result<(), NetlinkError>;
    fn link(&self, name: &str) -> Result<Option<LinkInfo>, NetlinkError>;
    fn link_names(&self) -> Result<Vec<String>, NetlinkError>;
}

/// Guest TAP devices.
pub trait Taps: Send + Sync {
    /// One fd per queue of `spec`, and the tap's name.
    fn open_tap(
        &self,
        spec: &TapSpec,
        bridge: &str,
        mtu: Option<u32>,
        mac: MacAddr,
    ) -> Result<(Vec<OwnedFd>, String), TapError>;
}

/// The dnsmasq process of a network.
pub trait DhcpDaemon: Send + Sync {
    fn start(&self, network: &str, conf: &Path, pidfile: &Path, errlog: &Path) -> Result<u32, DnsmasqError>;
    fn stop(&self, pid: u32, conf: &Path) -> Result<(), DnsmasqError>;
    /// Stops any instance running on `conf` that no pid file names (see [`dnsmasq::stop_all`]).
    fn stop_all(&self, _conf: &Path) -> Result<(), DnsmasqError> {
        Ok(())
    }
    fn reload(&self, pid: u32, conf: &Path) -> Result<(), DnsmasqError>;
    fn is_running(&self, pid: u32, conf: &Path) -> bool;
}

/// Kernel parameters under /proc/sys (per network namespace).
pub trait Sysctl: Send + Sync {
    fn set(&self, key: &str, value: &str) -> std::io::Result<()>;
}

/// The host the driver works on.
#[derive(Clone)]
pub struct Host {
    pub links: Arc<dyn Links>,
    pub taps: Arc<dyn Taps>,
    pub dhcp: Arc<dyn DhcpDaemon>,
    pub nft: Arc<dyn Nft>,
    pub sysctl: Arc<dyn Sysctl>,
    /// `tc`, for `<bandwidth>` limits.
    pub tc: Arc<dyn Tc>,
}

impl Host {
    /// The real host: rtnetlink, /dev/net/tun, dnsmasq and nft from PATH, /proc/sys.
    pub fn real() -> Host {
        Host {
            links: Arc::new(RealLinks),
            taps: Arc::new(RealTaps),
            dhcp: Arc::new(RealDnsmasq { binary: find_binary("dnsmasq") }),
            nft: Arc::new(NftCommand { binary: find_binary("nft") }),
            sysctl: Arc::new(ProcSysctl),
            tc: Arc::new(TcCommand::system()),
        }
    }
}

/// `/usr/sbin/NAME` or `/sbin/NAME` when present (a daemon's PATH may lack sbin), else NAME from PATH.
fn find_binary(name: &str) -> String {
    ["/usr/sbin", "/sbin", "/usr/bin"]
        .iter()
        .map(|d| format!("{d}/{name}"))
        .find(|p| Path::new(p).is_file())
        .unwrap_or_else(|| name.to_string())
}

pub struct RealLinks;

impl Links for RealLinks {
    fn create_bridge(&self, spec: &BridgeSpec) -> Result<(), NetlinkError> {
        netlink::create_bridge(spec)
    }
    fn delete_link(&self, name: &str) -> Result<(), NetlinkError> {
        netlink::delete_link(name)
    }
    fn set_up(&self, name: &str, up: bool) -> Result<(), NetlinkError> {
        netlink::set_up(name, up)
    }
    fn add_address(&self, name: &str, addr: IpAddr, prefix: u8) -> Result<(), NetlinkError> {
        netlink::add_address(name, addr, prefix)
    }
    fn add_route(&self, dev: &str, route: &RouteSpec) -> Result<(), NetlinkError> {
        netlink::add_route(dev, route)
    }
    fn link(&self, name: &str) -> Result<Option<LinkInfo>, NetlinkError> {
        netlink::link_by_name(name)
    }
    fn link_names(&self) -> Result<Vec<String>, NetlinkError> {
        Ok(netlink::links()?.into_iter().map(|l| l.name).collect())
    }
}

pub struct RealTaps;

impl Taps for RealTaps {
    fn open_tap(
        &self,
        spec: &TapSpec,
        bridge: &str,
        mtu: Option<u32>,
        mac: MacAddr,
    ) -> Result<(Vec<OwnedFd>, String), TapError> {
        tap::open_tap(spec, Some(bridge), mtu, mac)
    }
}

pub struct RealDnsmasq {
    pub binary: String,
}

impl DhcpDaemon for RealDnsmasq {
    fn start(&self, network: &str, conf: &Path, pidfile: &Path, errlog: &Path) -> Result<u32, DnsmasqError> {
        dnsmasq::start(&self.binary, network, conf, pidfile, errlog)
    }
    fn stop(&self, pid: u32, conf: &Path) -> Result<(), DnsmasqError> {
        dnsmasq::stop(pid, conf)
    }
    fn stop_all(&self, conf: &Path) -> Result<(), DnsmasqError> {
        dnsmasq::stop_all(conf)
    }
    fn reload(&self, pid: u32, conf: &Path) -> Result<(), DnsmasqError> {
        dnsmasq::reload(pid, conf)
    }
    fn is_running(&self, pid: u32, conf: &Path) -> bool {
        dnsmasq::is_running(pid, conf)
    }
}

pub struct ProcSysctl;

impl Sysctl for ProcSysctl {
    fn set(&self, key: &str, value: &str) -> std::io::Result<()> {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        if std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == value) {
            return Ok(());
        }
        std::fs::write(path, value)
    }
}

/// In-memory stand-ins that record what the driver asked for.
pub mod fake {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use super::*;
    use crate::firewall::FirewallError;

    #[derive(Default)]
    pub struct FakeState {
        pub links: BTreeMap<String, LinkInfo>,
        pub addresses: Vec<(String, IpAddr, u8)>,
        pub routes: Vec<(String, RouteSpec)>,
        pub nft_scripts: Vec<String>,
        /// What `nft -j list chains` answers.
        pub chains_json: String,
        pub dnsmasq: BTreeMap<u32, std::path::PathBuf>,
        pub reloads: Vec<u32>,
        pub sysctl: BTreeMap<String, String>,
        pub next_pid: u32,
        pub next_tap: u32,
        /// Make the next call of this name fail: "create_bridge", "dnsmasq", "nft", "add_address".
        pub fail: Option<&'static str>,
    }

    #[derive(Default, Clone)]
    pub struct Fake(pub Arc<Mutex<FakeState>>);

    impl Fake {
        pub fn host(&self) -> Host {
            self.host_with_tc(crate::bandwidth::fake::FakeTc::default())
        }
        /// The fake host with `tc` calls recorded in `tc`.
        pub fn host_with_tc(&self, tc: crate::bandwidth::fake::FakeTc) -> Host {
            Host {
                links: Arc::new(self.clone()),
                taps: Arc::new(self.clone()),
                dhcp: Arc::new(self.clone()),
                nft: Arc::new(self.clone()),
                sysctl: Arc::new(self.clone()),
                tc: Arc::new(tc),
            }
        }
        pub fn state(&self) -> std::sync::MutexGuard<'_, FakeState> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
        fn failing(&self, what: &str) -> bool {
            let mut s = self.state();
            if s.fail == Some(what) {
                s.fail = None;
                return true;
            }
            false
        }
        pub fn add_link(&self, name: &str, kind: &str) {
            let mut s = self.state();
            let index = s.links.len() as u32 + 1;
            s.links.insert(
                name.into(),
                LinkInfo {
                    index,
                    name: name.into(),
                    up: true,
                    mtu: 1500,
                    mac: None,
                    master: None,
                    kind: Some(kind.into()),
                },
            );
        }
    }

    fn kernel(what: &str, errno: i32) -> NetlinkError {
        NetlinkError::Kernel { what: what.into(), source: std::io::Error::from_raw_os_error(errno) }
    }

    impl Links for Fake {
        fn create_bridge(&self, spec: &BridgeSpec) -> Result<(), NetlinkError> {
            if self.failing("create_bridge") {
                return Err(kernel("creating bridge", libc::EPERM));
            }
            let mut s = self.state();
            if s.links.contains_key(&spec.name) {
                return Err(kernel("creating bridge", libc::EEXIST));
            }
            let index = s.links.len() as u32 + 100;
            s.links.insert(
                spec.name.clone(),
                LinkInfo {
                    index,
                    name: spec.name.clone(),
                    up: false,
                    mtu: spec.mtu.unwrap_or(1500),
                    mac: spec.mac,
                    master: None,
                    kind: Some("bridge".into()),
                },
            );
            Ok(())
        }
        fn delete_link(&self, name: &str) -> Result<(), NetlinkError> {
            let mut s = self.state();
            s.links.remove(name).ok_or_else(|| NetlinkError::NoSuchLink(name.into()))?;
            s.addresses.retain(|a| a.0 != name);
            s.routes.retain(|r| r.0 != name);
            Ok(())
        }
        fn set_up(&self, name: &str, up: bool) -> Result<(), NetlinkError> {
            let mut s = self.state();
            let l = s.links.get_mut(name).ok_or_else(|| NetlinkError::NoSuchLink(name.into()))?;
            l.up = up;
            Ok(())
        }
        fn add_address(&self, name: &str, addr: IpAddr, prefix: u8) -> Result<(), NetlinkError> {
            if self.failing("add_address") {
                return Err(kernel("adding address", libc::EADDRNOTAVAIL));
            }
            self.state().addresses.push((name.into(), addr, prefix));
            Ok(())
        }
        fn add_route(&self, dev: &str, route: &RouteSpec) -> Result<(), NetlinkError> {
            self.state().routes.push((dev.into(), route.clone()));
            Ok(())
        }
        fn link(&self, name: &str) -> Result<Option<LinkInfo>, NetlinkError> {
            Ok(self.state().links.get(name).cloned())
        }
        fn link_names(&self) -> Result<Vec<String>, NetlinkError> {
            Ok(self.state().links.keys().cloned().collect())
        }
    }

    impl Taps for Fake {
        fn open_tap(
            &self,
            spec: &TapSpec,
            bridge: &str,
            mtu: Option<u32>,
            _mac: MacAddr,
        ) -> Result<(Vec<OwnedFd>, String), TapError> {
            let mut s = self.state();
            let name = match &spec.name {
                Some(n) if s.links.contains_key(n) => return Err(TapError::Exists(n.clone())),
                Some(n) => n.clone(),
                None => {
                    s.next_tap += 1;
                    format!("vnet{}", s.next_tap - 1)
                }
            };
            let master = s.links.get(bridge).map(|b| b.index);
            let index = s.links.len() as u32 + 200;
            s.links.insert(
                name.clone(),
                LinkInfo {
                    index,
                    name: name.clone(),
                    up: true,
                    mtu: mtu.unwrap_or(1500),
                    mac: None,
                    master,
                    kind: Some("tun".into()),
                },
            );
            let fds = (0..spec.queues.max(1))
                .map(|_| std::fs::File::open("/dev/null").map(OwnedFd::from).map_err(TapError::OpenTun))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((fds, name))
        }
    }

    impl DhcpDaemon for Fake {
        fn start(&self, network: &str, conf: &Path, pidfile: &Path, _errlog: &Path) -> Result<u32, DnsmasqError> {
            if self.failing("dnsmasq") {
                return Err(DnsmasqError::Start {
                    network: network.into(),
                    status: "exit 2".into(),
                    stderr: "fake failure".into(),
                });
            }
            let mut s = self.state();
            s.next_pid += 1;
            let pid = 40000 + s.next_pid;
            s.dnsmasq.insert(pid, conf.to_path_buf());
            let _ = std::fs::write(pidfile, format!("{pid}\n"));
            Ok(pid)
        }
        fn stop(&self, pid: u32, _conf: &Path) -> Result<(), DnsmasqError> {
            self.state().dnsmasq.remove(&pid);
            Ok(())
        }
        fn reload(&self, pid: u32, _conf: &Path) -> Result<(), DnsmasqError> {
            self.state().reloads.push(pid);
            Ok(())
        }
        fn is_running(&self, pid: u32, conf: &Path) -> bool {
            self.state().dnsmasq.get(&pid).is_some_and(|c| c == conf)
        }
    }

    impl Nft for Fake {
        fn apply(&self, script: &str) -> Result<(), FirewallError> {
            if self.failing("nft") {
                return Err(FirewallError::Nft { what: "-f".into(), stderr: "fake failure".into() });
            }
            let mut s = self.state();
            s.nft_scripts.push(script.into());
            // Keep what `list chains` reports in step with the script (chain names only).
            let mut items = vec![];
            let mut fam = "";
            for l in script.lines() {
                if let Some(rest) = l.strip_prefix("table ").and_then(|r| r.strip_suffix(" {")) {
                    fam = if rest.starts_with("ip6") { "ip6" } else { "ip" };
                } else if let Some(name) = l.trim().strip_prefix("chain ").and_then(|r| r.strip_suffix(" {")) {
                    items.push(format!(r#"{{"chain":{{"family":"{fam}","table":"oxvirt","name":"{name}"}}}}"#));
                }
            }
            let other: Vec<String> = crate::firewall::chains(&s.chains_json)
                .unwrap_or_default()
                .into_iter()
                .filter(|c| c.table != "oxvirt")
                .map(|c| {
                    format!(
                        r#"{{"chain":{{"family":"{}","table":"{}","name":"{}","hook":{},"policy":{}}}}}"#,
                        c.family,
                        c.table,
                        c.name,
                        c.hook.map(|h| format!("\"{h}\"")).unwrap_or("null".into()),
                        c.policy.map(|h| format!("\"{h}\"")).unwrap_or("null".into())
                    )
                })
                .collect();
            items.extend(other);
            s.chains_json = format!(r#"{{"nftables":[{}]}}"#, items.join(","));
            Ok(())
        }
        fn list_chains_json(&self) -> Result<String, FirewallError> {
            let s = self.state();
            Ok(if s.chains_json.is_empty() { r#"{"nftables":[]}"#.into() } else { s.chains_json.clone() })
        }
    }

    impl Sysctl for Fake {
        fn set(&self, key: &str, value: &str) -> std::io::Result<()> {
            self.state().sysctl.insert(key.into(), value.into());
            Ok(())
        }
    }
}
