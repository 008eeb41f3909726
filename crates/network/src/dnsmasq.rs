//! dnsmasq, one per network: the configuration libvirt would generate for the same XML (its
//! `networkxml2confdata` corpus is the reference), the DHCP hosts file, the DNS hosts file, the
//! process, and its lease file.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oxvirt_api::DhcpLease;
use oxvirt_sysutil::procstat::ProcStat;
use oxvirt_xml::network::{prefix_netmask, AddrFamily, DhcpHost, DnsSrv, ForwardMode, Ip, Lease, LeaseUnit, Network};
use oxvirt_xml::{MacAddr, YesNo};

#[derive(Debug, thiserror::Error)]
pub enum DnsmasqError {
    #[error("network '{0}' has no bridge name for dnsmasq to serve")]
    NoBridge(String),
    #[error("running {binary}: {source}")]
    Spawn { binary: String, source: io::Error },
    #[error("dnsmasq for network '{network}' failed to start ({status}): {stderr}")]
    Start { network: String, status: String, stderr: String },
    #[error("dnsmasq for network '{network}' wrote no usable pid file {}", .pidfile.display())]
    PidFile { network: String, pidfile: PathBuf },
    #[error("signalling dnsmasq (pid {pid}): {source}")]
    Signal { pid: u32, source: io::Error },
    #[error("network '{network}': a value for dnsmasq contains a line break: {value:?}")]
    LineBreak { network: String, value: String },
    #[error("reading lease file {}: {source}", .path.display())]
    Leases { path: PathBuf, source: io::Error },
}

/// Where a network's dnsmasq files live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsmasqPaths {
    pub conf: PathBuf,
    pub hostsfile: PathBuf,
    pub addnhosts: PathBuf,
    pub pidfile: Option<PathBuf>,
    /// dnsmasq's own lease file; `None` when a `--dhcp-script` keeps leases instead.
    pub leasefile: Option<PathBuf>,
}

impl DnsmasqPaths {
    /// libvirt's names for a network in directory `dir` (`NAME.conf`, `NAME.hostsfile`, ...).
    pub fn in_dir(dir: &Path, name: &str) -> DnsmasqPaths {
        DnsmasqPaths {
            conf: dir.join(format!("{name}.conf")),
            hostsfile: dir.join(format!("{name}.hostsfile")),
            addnhosts: dir.join(format!("{name}.addnhosts")),
            pidfile: Some(dir.join(format!("{name}.pid"))),
            leasefile: Some(dir.join(format!("{name}.leases"))),
        }
    }
}

/// The generated content of a network's dnsmasq files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DnsmasqFiles {
    pub conf: String,
    pub hostsfile: String,
    pub addnhosts: String,
}

fn dns_enabled(def: &Network) -> bool {
    def.dns.as_ref().and_then(|d| d.enable) != Some(YesNo::No)
}

fn dhcp_ip(def: &Network, fam: AddrFamily) -> Option<&Ip> {
    def.ips
        .iter()
        .find(|i| i.family() == fam && i.dhcp.as_ref().is_some_and(|d| !d.ranges.is_empty() || !d.hosts.is_empty()))
}

/// Whether a network needs dnsmasq at all: an address to serve on, and DNS, DHCP or IPv6 RA to do.
pub fn needed(def: &Network) -> bool {
    let has_ip = def.ips.iter().any(|i| i.address.is_some());
    let any_v6 = def.ips.iter().any(|i| i.family() == AddrFamily::Ipv6);
    has_ip && (dns_enabled(def) || dhcp_ip(def, AddrFamily::Ipv4).is_some() || any_v6)
}

fn lease_suffix(l: &Option<Lease>) -> String {
    match l {
        None => String::new(),
        Some(l) if l.expiry == 0 => ",infinite".into(),
        Some(l) => {
            let unit = match l.unit.unwrap_or(LeaseUnit::Minutes) {
                LeaseUnit::Seconds => 's',
                LeaseUnit::Minutes => 'm',
                LeaseUnit::Hours => 'h',
            };
            format!(",{}{unit}", l.expiry)
        }
    }
}

fn range_size(start: IpAddr, end: IpAddr) -> u64 {
    let v = |a: IpAddr| match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    };
    (v(end).saturating_sub(v(start)) + 1).min(u128::from(u32::MAX)) as u64
}

/// The reverse-DNS zone of an `<ip>` with `localPtr='yes'` (whole octets / nibbles of the prefix).
fn ptr_zone(ip: &Ip) -> Option<String> {
    let addr = ip.address?;
    let prefix = ip.prefix_len()?;
    match addr {
        IpAddr::V4(a) => {
            let o = a.octets();
            let n = usize::from(prefix / 8);
            let mut parts: Vec<String> = o[..n.min(4)].iter().map(u8::to_string).collect();
            parts.reverse();
            parts.push("in-addr.arpa".into());
            Some(parts.join("."))
        }
        IpAddr::V6(a) => {
            let nibbles: Vec<String> =
                a.octets().iter().flat_map(|b| [b >> 4, b & 0xf]).map(|n| format!("{n:x}")).collect();
            let n = usize::from(prefix / 4).min(32);
            let mut parts: Vec<String> = nibbles[..n].to_vec();
            parts.reverse();
            parts.push("ip6.arpa".into());
            Some(parts.join("."))
        }
    }
}

fn srv_line(s: &DnsSrv) -> String {
    let proto = match s.protocol {
        oxvirt_xml::network::SrvProtocol::Tcp => "tcp",
        oxvirt_xml::network::SrvProtocol::Udp => "udp",
    };
    let mut l = format!("srv-host=_{}._{proto}", s.service);
    if let Some(d) = &s.domain {
        let _ = write!(l, ".{d}");
    }
    if let Some(t) = &s.target {
        let _ = write!(l, ",{t}");
        if s.port.is_some() || s.priority.is_some() || s.weight.is_some() {
            // dnsmasq needs the earlier fields to give a later one; libvirt writes port 1 when absent.
            let _ = write!(l, ",{}", s.port.unwrap_or(1));
            if s.priority.is_some() || s.weight.is_some() {
                let _ = write!(l, ",{}", s.priority.unwrap_or(0));
                if let Some(w) = s.weight {
                    let _ = write!(l, ",{w}");
                }
            }
        }
    }
    l
}

fn host_line(h: &DhcpHost, fam: AddrFamily) -> Option<String> {
    let ip = h.ip?;
    let mut l = String::new();
    match fam {
        AddrFamily::Ipv4 => match (&h.mac, &h.name) {
            (Some(m), _) => {
                let _ = write!(l, "{m},{ip}");
                if let Some(n) = &h.name {
                    let _ = write!(l, ",{n}");
                }
            }
            (None, Some(n)) => {
                let _ = write!(l, "{n},{ip}");
            }
            (None, None) => return None,
        },
        AddrFamily::Ipv6 => {
            if let Some(id) = &h.id {
                let _ = write!(l, "id:{id},");
            }
            if let Some(n) = &h.name {
                let _ = write!(l, "{n},");
            }
            let _ = write!(l, "[{ip}]");
        }
    }
    l.push_str(&lease_suffix(&h.lease));
    Some(l)
}

fn host_entries(def: &Network) -> Vec<String> {
    let mut out = Vec::new();
    for fam in [AddrFamily::Ipv4, AddrFamily::Ipv6] {
        if let Some(ip) = dhcp_ip(def, fam) {
            out.extend(ip.dhcp.iter().flat_map(|d| &d.hosts).filter_map(|h| host_line(h, fam)));
        }
    }
    out
}

fn dns_entries(def: &Network) -> Vec<String> {
    def.dns.iter().flat_map(|d| &d.hosts).map(|h| format!("{}\t{}", h.ip, h.hostnames.join("\t"))).collect()
}

fn join_lines(v: &[String]) -> String {
    v.iter().map(|l| format!("{l}\n")).collect()
}

/// The DHCP hosts file (`dhcp-hostsfile`), re-read by dnsmasq on SIGHUP.
pub fn hostsfile(def: &Network) -> String {
    join_lines(&host_entries(def))
}

/// The DNS hosts file (`addn-hosts`) with the network's `<dns><host>` records.
pub fn addnhosts(def: &Network) -> String {
    join_lines(&dns_entries(def))
}

/// The dnsmasq configuration for `def` (which must have its bridge name assigned).
pub fn config(def: &Network, paths: &DnsmasqPaths) -> Result<DnsmasqFiles, DnsmasqError> {
    let bridge = def.bridge_name().ok_or_else(|| DnsmasqError::NoBridge(def.name.clone()))?;
    let dns = dns_enabled(def);
    let mut lines: Vec<String> = Vec::new();
    let mut line = |s: &str| lines.push(s.to_string());
    line(&format!("## dnsmasq configuration of network '{}', generated by oxvirt; edit the network instead", def.name));
    line("strict-order");
    if let Some(p) = &paths.pidfile {
        line(&format!("pid-file={}", p.display()));
    }
    if !dns {
        line("port=0");
    }
    if dns {
        if let Some(d) = &def.domain {
            if d.local_only == Some(YesNo::Yes) {
                line(&format!("local=/{}/", d.name));
            }
            line(&format!("domain={}", d.name));
            line("expand-hosts");
        }
        if let Some(d) = &def.dns {
            if d.forward_plain_names == Some(YesNo::No) {
                line("domain-needed");
                line("local=//");
            }
            let mut no_resolv = false;
            for f in &d.forwarders {
                match (&f.domain, f.addr) {
                    (Some(dom), Some(a)) => line(&format!("server=/{dom}/{a}")),
                    (Some(dom), None) => line(&format!("server=/{dom}/#")),
                    (None, Some(a)) => {
                        line(&format!("server={a}"));
                        no_resolv = true;
                    }
                    (None, None) => {}
                }
            }
            if no_resolv {
                line("no-resolv");
            }
        }
        for ip in def.ips.iter().filter(|i| i.local_ptr == Some(YesNo::Yes)) {
            if let Some(z) = ptr_zone(ip) {
                line(&format!("local=/{z}/"));
            }
        }
    }
    line("except-interface=lo");
    line("bind-dynamic");
    line(&format!("interface={bridge}"));
    if dns {
        if let Some(d) = &def.dns {
            for s in &d.srvs {
                line(&srv_line(s));
            }
            for t in &d.txts {
                line(&format!("txt-record={},{}", t.name, t.value));
            }
        }
    }
    if def.forward.is_none() {
        // Isolated: no default route and no upstream DNS for the guests.
        line("dhcp-option=3");
        line("no-resolv");
        line("ra-param=*,0,0");
    }
    for ip in def.ips.iter().filter(|i| i.family() == AddrFamily::Ipv4) {
        if let Some(t) = &ip.tftp {
            line("enable-tftp");
            line(&format!("tftp-root={}", t.root));
        }
    }
    let mut leases: u64 = 0;
    let v4 = dhcp_ip(def, AddrFamily::Ipv4);
    let v6 = dhcp_ip(def, AddrFamily::Ipv6);
    if let (Some(ip), Some(dhcp)) = (v4, v4.and_then(|i| i.dhcp.as_ref())) {
        let mask = prefix_netmask(ip.prefix_len().unwrap_or(24));
        for r in &dhcp.ranges {
            line(&format!("dhcp-range={},{},{mask}{}", r.start, r.end, lease_suffix(&r.lease)));
            leases += range_size(r.start, r.end);
        }
        if dhcp.ranges.is_empty() {
            if let Some(a) = ip.address {
                line(&format!("dhcp-range={a},static"));
            }
        }
        line("dhcp-no-override");
        line("dhcp-authoritative");
        if let Some(b) = &dhcp.bootp {
            match &b.server {
                Some(s) => line(&format!("dhcp-boot={},,{s}", b.file)),
                None => line(&format!("dhcp-boot={}", b.file)),
            }
        }
    }
    if let (Some(ip), Some(dhcp)) = (v6, v6.and_then(|i| i.dhcp.as_ref())) {
        let prefix = ip.prefix_len().unwrap_or(64);
        for r in &dhcp.ranges {
            line(&format!("dhcp-range={},{},{prefix}{}", r.start, r.end, lease_suffix(&r.lease)));
            leases += range_size(r.start, r.end);
        }
        if dhcp.ranges.is_empty() {
            if let Some(a) = ip.address {
                line(&format!("dhcp-range={a},static,{prefix}"));
            }
        }
    }
    if leases > 0 {
        line(&format!("dhcp-lease-max={leases}"));
    }
    if v4.is_some() || v6.is_some() {
        line(&format!("dhcp-hostsfile={}", paths.hostsfile.display()));
        if let Some(l) = &paths.leasefile {
            line(&format!("dhcp-leasefile={}", l.display()));
        }
    }
    if dns {
        line(&format!("addn-hosts={}", paths.addnhosts.display()));
    }
    if v4.is_some() {
        if let Some(m) = &def.mtu {
            line(&format!("dhcp-option=option:mtu,{}", m.size));
        }
    }
    if v6.is_some() {
        line("enable-ra");
    } else {
        for ip in def.ips.iter().filter(|i| i.family() == AddrFamily::Ipv6) {
            if let Some(a) = ip.address {
                line(&format!("dhcp-range={a},ra-only"));
            }
        }
    }
    for o in def.dnsmasq_options.iter().flat_map(|o| &o.options) {
        line(&o.value);
    }
    let (hosts, dns) = (host_entries(def), dns_entries(def));
    // A value with a line break would smuggle its own option (say `dhcp-script=`) into a root daemon.
    if let Some(b) = lines.iter().chain(&hosts).chain(&dns).find(|l| l.contains(['\n', '\r'])) {
        return Err(DnsmasqError::LineBreak { network: def.name.clone(), value: b.clone() });
    }
    Ok(DnsmasqFiles { conf: join_lines(&lines), hostsfile: join_lines(&hosts), addnhosts: join_lines(&dns) })
}

/// Whether a network's forward mode has a bridge of ours that dnsmasq can serve.
pub fn mode_uses_dnsmasq(mode: Option<ForwardMode>) -> bool {
    matches!(mode, None | Some(ForwardMode::Nat | ForwardMode::Route | ForwardMode::Open))
}

const START_TIMEOUT: Duration = Duration::from_secs(10);
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// Starts dnsmasq on `conf`; it daemonizes, reporting start-up errors through its exit status, and
/// writes `pidfile`. Returns the daemon's pid.
pub fn start(binary: &str, network: &str, conf: &Path, pidfile: &Path, errlog: &Path) -> Result<u32, DnsmasqError> {
    let spawn_err = |e| DnsmasqError::Spawn { binary: binary.into(), source: e };
    let _ = fs::remove_file(pidfile);
    let err = fs::File::create(errlog).map_err(spawn_err)?;
    let mut child = Command::new(binary)
        .arg(format!("--conf-file={}", conf.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .map_err(spawn_err)?;
    let deadline = Instant::now() + START_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().map_err(spawn_err)? {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(DnsmasqError::Start {
                network: network.into(),
                status: format!("no answer within {START_TIMEOUT:?}"),
                stderr: String::new(),
            });
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    if !status.success() {
        let stderr = fs::read_to_string(errlog).unwrap_or_default().trim().to_string();
        return Err(DnsmasqError::Start { network: network.into(), status: status.to_string(), stderr });
    }
    let _ = fs::remove_file(errlog);
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if let Some(pid) = fs::read_to_string(pidfile).ok().and_then(|s| s.trim().parse::<u32>().ok()) {
            return Ok(pid);
        }
        if Instant::now() >= deadline {
            return Err(DnsmasqError::PidFile { network: network.into(), pidfile: pidfile.into() });
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Whether `pid` is a live dnsmasq started on `conf` (guards against pid reuse).
pub fn is_running(pid: u32, conf: &Path) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let want = format!("--conf-file={}", conf.display());
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let is_dnsmasq = args.first().is_some_and(|a| a.ends_with(b"dnsmasq"));
    let zombie = ProcStat::of_pid(pid as i32).is_none_or(|s| s.state == 'Z');
    is_dnsmasq && !zombie && args.contains(&want.as_bytes())
}

fn signal(pid: u32, sig: Signal) -> Result<(), DnsmasqError> {
    match kill(Pid::from_raw(pid as i32), sig) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(DnsmasqError::Signal { pid, source: e.into() }),
    }
}

/// Makes dnsmasq re-read its hosts files (net-update).
pub fn reload(pid: u32, conf: &Path) -> Result<(), DnsmasqError> {
    if is_running(pid, conf) {
        signal(pid, Signal::SIGHUP)?;
    }
    Ok(())
}

/// Stops dnsmasq: SIGTERM, then SIGKILL if it is still there after a grace period.
pub fn stop(pid: u32, conf: &Path) -> Result<(), DnsmasqError> {
    if !is_running(pid, conf) {
        return Ok(());
    }
    signal(pid, Signal::SIGTERM)?;
    let deadline = Instant::now() + STOP_TIMEOUT;
    while is_running(pid, conf) {
        if Instant::now() >= deadline {
            signal(pid, Signal::SIGKILL)?;
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // An exiting process loses its cmdline (memory) before its sockets: wait until it is a
    // zombie or gone, so a dnsmasq started next (net-update's restart) can bind the same address.
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline && !exited(pid) {
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// Stops every dnsmasq running on `conf`, found by command line. A start killed after spawning
/// dnsmasq but before it wrote its pid file leaves one (or its not yet daemonized parent, which
/// forks it) that nothing else names; it holds the network's addresses, so the next start's
/// dnsmasq would fail with "Address already in use". Returns once none is left (each waited for
/// until it has exited), or after a bounded time.
pub fn stop_all(conf: &Path) -> Result<(), DnsmasqError> {
    let deadline = Instant::now() + STOP_TIMEOUT * 2;
    loop {
        let pids = running_on(conf);
        if pids.is_empty() || Instant::now() >= deadline {
            return Ok(());
        }
        for pid in pids {
            stop(pid, conf)?;
        }
    }
}

/// The live dnsmasq processes started on `conf`.
fn running_on(conf: &Path) -> Vec<u32> {
    let Ok(rd) = fs::read_dir("/proc") else { return Vec::new() };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| is_running(*pid, conf))
        .collect()
}

/// Whether `pid` has finished exiting (zombie or reaped).
fn exited(pid: u32) -> bool {
    ProcStat::of_pid(pid as i32).is_none_or(|s| s.exited())
}

/// Parses dnsmasq's lease file: `EXPIRY MAC IP HOSTNAME CLIENTID` for DHCPv4, a `duid SERVERDUID` line,
/// then `EXPIRY IAID IP HOSTNAME CLIENTDUID` for DHCPv6; `*` means absent. The prefix comes from the
/// network's `<ip>` holding the address.
pub fn parse_leases(text: &str, def: &Network, interface: &str) -> Vec<DhcpLease> {
    let mut out = Vec::new();
    let mut v6 = false;
    let opt = |s: Option<&str>| s.filter(|s| *s != "*").map(str::to_string);
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.first() == Some(&"duid") {
            v6 = true;
            continue;
        }
        if f.len() < 3 {
            continue;
        }
        let (Ok(expiry), Ok(ip)) = (f[0].parse::<i64>(), f[2].parse::<IpAddr>()) else { continue };
        let prefix = def.ip_for(ip).and_then(Ip::prefix_len).unwrap_or(if ip.is_ipv4() { 24 } else { 64 });
        let is6 = v6 || ip.is_ipv6();
        out.push(DhcpLease {
            iface: interface.into(),
            expiry_time: expiry,
            kind: i32::from(ip.is_ipv6()),
            // normalized through MacAddr: dnsmasq's spelling is not necessarily libvirt's
            mac: if is6 { None } else { f[1].parse::<MacAddr>().ok().map(|m| m.to_string()) },
            iaid: if is6 { Some(f[1].to_string()) } else { None },
            ipaddr: ip.to_string(),
            prefix: u32::from(prefix),
            hostname: opt(f.get(3).copied()),
            clientid: opt(f.get(4).copied()),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxvirt_xml::XmlDocument;

    fn net(xml: &str) -> Network {
        Network::from_xml_str(xml).unwrap()
    }

    #[test]
    fn nat_with_hosts_and_lease() {
        let n = net("<network><name>n</name><forward mode='nat'/><bridge name='virbr5'/>
            <ip address='10.9.0.1' prefix='24'><dhcp><range start='10.9.0.10' end='10.9.0.19'><lease expiry='2' unit='hours'/></range>
            <host mac='52:54:00:00:00:01' name='g' ip='10.9.0.5'/><host name='h' ip='10.9.0.6'/></dhcp></ip></network>");
        let p = DnsmasqPaths::in_dir(Path::new("/d"), "n");
        let f = config(&n, &p).unwrap();
        for want in [
            "interface=virbr5",
            "dhcp-range=10.9.0.10,10.9.0.19,255.255.255.0,2h",
            "dhcp-lease-max=10",
            "dhcp-hostsfile=/d/n.hostsfile",
            "pid-file=/d/n.pid",
            "dhcp-leasefile=/d/n.leases",
            "addn-hosts=/d/n.addnhosts",
        ] {
            assert!(f.conf.lines().any(|l| l == want), "missing {want}:\n{}", f.conf);
        }
        assert!(!f.conf.contains("no-resolv"));
        assert_eq!(f.hostsfile, "52:54:00:00:00:01,10.9.0.5,g\nh,10.9.0.6\n");
        assert!(needed(&n));
        let evil = net(
            "<network><name>e</name><bridge name='virbr5'/><dns><txt name='a' value='b&#10;dhcp-script=/bin/x'/></dns>
            <ip address='10.9.0.1' prefix='24'/></network>",
        );
        assert!(matches!(config(&evil, &p), Err(DnsmasqError::LineBreak { .. })));
    }

    #[test]
    fn srv_and_ptr() {
        let s = DnsSrv {
            service: "x".into(),
            protocol: oxvirt_xml::network::SrvProtocol::Udp,
            domain: None,
            target: Some("t".into()),
            port: None,
            priority: None,
            weight: Some(5),
        };
        assert_eq!(srv_line(&s), "srv-host=_x._udp,t,1,0,5");
        let ip = Ip { address: Some("10.1.2.3".parse().unwrap()), prefix: Some(16), ..Default::default() };
        assert_eq!(ptr_zone(&ip).unwrap(), "1.10.in-addr.arpa");
    }

    #[test]
    fn lease_file() {
        let n = net("<network><name>n</name><ip address='10.9.0.1' prefix='24'/><ip family='ipv6' address='fd00::1' prefix='64'/></network>");
        let text = "1700000000 52:54:00:aa:bb:cc 10.9.0.77 guest 01:52:54:00:aa:bb:cc\n\
                    0 52:54:00:aa:bb:cd 10.9.0.78 * *\n\
                    duid 00:01:00:01:2c:00:00:00:52:54:00:00:00:01\n\
                    1700000100 1234 fd00::50 g6 00:01:00:01\n";
        let l = parse_leases(text, &n, "virbr9");
        assert_eq!(l.len(), 3);
        assert_eq!(l[0].mac.as_deref(), Some("52:54:00:aa:bb:cc"));
        assert_eq!((l[0].prefix, l[0].hostname.as_deref()), (24, Some("guest")));
        assert_eq!((l[1].hostname.clone(), l[1].clientid.clone()), (None, None));
        assert_eq!((l[2].kind, l[2].prefix, l[2].iaid.as_deref()), (1, 64, Some("1234")));
    }
}
