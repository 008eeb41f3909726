//! `<bandwidth>` limits, the way libvirt sets them on a tap or a network's bridge.
//!
//! Direction is from the guest's (or network's) point of view, applied to the host side of the
//! device: `inbound` (traffic to the guest) leaves the tap, so it is shaped on its egress with `tc`
//! (HTB root, one class with rate/ceil/burst, SFQ below it); `outbound` (traffic from the guest)
//! enters the tap, so it is policed on its ingress. Units follow libvirt's command lines:
//! `average`/`peak` as tc's `kbps` (1000 bytes/s), `burst` as `kb` (1024 bytes).
//!
//! Outbound policing uses tc's `police` action (libvirt's u32 match-all filter on the ingress qdisc)
//! where the kernel has `act_police`. Where it does not (found out once per process from tc's
//! answer), the same token bucket is set with nftables instead: a `netdev` table of ours per
//! interface whose ingress chain drops what exceeds `limit rate over AVG bytes/second burst BURST
//! bytes`. That is the same policer libvirt asks tc for — rate and burst, excess dropped, `peak`
//! ignored (libvirt ignores it for outbound too) — so guests see the same limit either way; the one
//! difference is that nft's bucket never holds less than a second's worth of the rate, which is
//! libvirt's default burst anyway.
//! IFB + mirred + HTB was the other candidate: it would queue instead of drop and honour `peak` as a
//! ceiling, i.e. behave differently from libvirt, and it needs an extra device per interface that
//! must itself be created, named and cleaned up. A table per interface (rather than one shared
//! table) makes setting and removing a limit one idempotent `nft -f` transaction each, with nothing
//! to list first and no shared table to garbage-collect: see [`nft_police_script`].

use std::fmt::Write as _;
use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use oxvirt_xml::network::{Bandwidth, BandwidthRate};

use crate::util;

const TC_TIMEOUT: Duration = Duration::from_secs(10);

/// Prefix of our per-interface `netdev` tables.
pub const NFT_TABLE_PREFIX: &str = "oxvirt_bw_";

#[derive(Debug, thiserror::Error)]
pub enum BandwidthError {
    #[error("bandwidth of {ifname}: <outbound> needs an 'average' rate")]
    OutboundWithoutAverage { ifname: String },
    #[error("bandwidth of {ifname}: the interface name cannot be used in an nftables rule")]
    NftDeviceName { ifname: String },
    #[error("running tc {args}: {source}")]
    Spawn { args: String, source: std::io::Error },
    #[error("tc {args} failed: {stderr}")]
    Tc { args: String, stderr: String },
    #[error("running nft: {0}")]
    NftSpawn(#[source] std::io::Error),
    #[error("nft -f (outbound limit of {ifname}) failed: {stderr}")]
    Nft { ifname: String, stderr: String },
}

/// Whether the kernel has tc's police action, learnt from the first attempt.
#[derive(Debug, Default)]
pub struct PoliceSupport(AtomicU8);

impl PoliceSupport {
    pub const fn new() -> PoliceSupport {
        PoliceSupport(AtomicU8::new(0))
    }
    /// `None` until tc has been asked once.
    pub fn get(&self) -> Option<bool> {
        match self.0.load(Ordering::Relaxed) {
            1 => Some(true),
            2 => Some(false),
            _ => None,
        }
    }
    pub fn set(&self, present: bool) {
        self.0.store(if present { 1 } else { 2 }, Ordering::Relaxed);
    }
}

/// Kernel modules are global, so one answer serves every namespace of the process.
static SYSTEM_POLICE: PoliceSupport = PoliceSupport::new();

/// One `tc` invocation, without the program name.
pub type TcArgs = Vec<String>;

/// Runs `tc` and `nft`; the real one is [`TcCommand`], tests use [`fake::FakeTc`].
pub trait Tc: Send + Sync {
    fn tc(&self, args: &[String]) -> Result<(), BandwidthError>;
    /// Applies `script` in one transaction (`nft -f -`); `ifname` is for messages.
    fn nft(&self, ifname: &str, script: &str) -> Result<(), BandwidthError>;
    /// Where the police-action answer is kept.
    fn police(&self) -> &PoliceSupport;
}

/// The `tc` and `nft` binaries, each run bounded by a timeout.
pub struct TcCommand {
    pub binary: String,
    pub nft_binary: String,
}

/// `/usr/sbin/NAME` or `/sbin/NAME` when present (a daemon's PATH may lack sbin), else NAME.
fn sbin(name: &str) -> String {
    ["/usr/sbin", "/sbin"]
        .iter()
        .map(|d| format!("{d}/{name}"))
        .find(|p| std::path::Path::new(p).is_file())
        .unwrap_or_else(|| name.to_string())
}

impl TcCommand {
    pub fn system() -> TcCommand {
        TcCommand { binary: sbin("tc"), nft_binary: sbin("nft") }
    }
}

impl Tc for TcCommand {
    fn tc(&self, args: &[String]) -> Result<(), BandwidthError> {
        let mut c = Command::new(&self.binary);
        c.args(args);
        let o =
            util::run(c, None, TC_TIMEOUT).map_err(|e| BandwidthError::Spawn { args: args.join(" "), source: e })?;
        if o.status.success() {
            Ok(())
        } else {
            Err(BandwidthError::Tc { args: args.join(" "), stderr: o.stderr.trim().to_string() })
        }
    }

    fn nft(&self, ifname: &str, script: &str) -> Result<(), BandwidthError> {
        let mut c = Command::new(&self.nft_binary);
        c.args(["-f", "-"]);
        let o = util::run(c, Some(script.as_bytes()), TC_TIMEOUT).map_err(BandwidthError::NftSpawn)?;
        if o.status.success() {
            Ok(())
        } else {
            Err(BandwidthError::Nft { ifname: ifname.into(), stderr: o.stderr.trim().to_string() })
        }
    }

    fn police(&self) -> &PoliceSupport {
        &SYSTEM_POLICE
    }
}

fn argv(parts: &[&str]) -> TcArgs {
    parts.iter().map(|s| s.to_string()).collect()
}

/// HTB's quantum for one class: rate over MTU, at least 1, so slow classes still get served.
fn quantum(rate: &BandwidthRate) -> String {
    let r2q = rate.average.unwrap_or(0).saturating_mul(1024) / 8 / 1500;
    r2q.max(1).to_string()
}

/// The inbound shaping commands (HTB on the device's egress). `hierarchical`: the layout libvirt
/// uses on a network's bridge (class 1:1 caps the whole network, 1:2 below it takes the traffic),
/// otherwise one class 1:1 as on a guest tap. `floor` needs per-network accounting and is not
/// expressed here.
pub fn inbound_commands(ifname: &str, bw: &Bandwidth, hierarchical: bool) -> Vec<TcArgs> {
    let mut cmds = Vec::new();
    let Some(rate @ BandwidthRate { average: Some(avg), .. }) =
        bw.inbound.as_ref().filter(|r| r.average.unwrap_or(0) > 0)
    else {
        return cmds;
    };
    let average = format!("{avg}kbps");
    let peak = rate.peak.filter(|p| *p > 0).map(|p| format!("{p}kbps"));
    let q = quantum(rate);
    let default = if hierarchical { "2" } else { "1" };
    cmds.push(argv(&["qdisc", "add", "dev", ifname, "root", "handle", "1:", "htb", "default", default]));
    if hierarchical {
        let ceil = peak.as_deref().unwrap_or(&average);
        cmds.push(argv(&[
            "class", "add", "dev", ifname, "parent", "1:", "classid", "1:1", "htb", "rate", &average, "ceil", ceil,
            "quantum", &q,
        ]));
    }
    let (parent, class) = if hierarchical { ("1:1", "1:2") } else { ("1:", "1:1") };
    let mut class_cmd =
        argv(&["class", "add", "dev", ifname, "parent", parent, "classid", class, "htb", "rate", &average]);
    if let Some(p) = &peak {
        class_cmd.extend(argv(&["ceil", p]));
    }
    if let Some(b) = rate.burst.filter(|b| *b > 0) {
        class_cmd.extend(argv(&["burst", &format!("{b}kb")]));
    }
    class_cmd.extend(argv(&["quantum", &q]));
    cmds.push(class_cmd);
    cmds.push(argv(&["qdisc", "add", "dev", ifname, "parent", class, "handle", "2:", "sfq", "perturb", "10"]));
    cmds.push(argv(&[
        "filter", "add", "dev", ifname, "parent", "1:0", "protocol", "all", "prio", "1", "handle", "1", "fw", "flowid",
        "1",
    ]));
    cmds
}

/// An outbound limit: the policer's rate and bucket, in tc's units (kbps, kb).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Police {
    pub average: u64,
    pub burst: u64,
}

impl Police {
    /// `None` without `<outbound>`; an `<outbound>` without an average is an error, as in libvirt.
    pub fn of(ifname: &str, bw: &Bandwidth) -> Result<Option<Police>, BandwidthError> {
        let Some(rate) = &bw.outbound else { return Ok(None) };
        let average = rate
            .average
            .filter(|a| *a > 0)
            .ok_or_else(|| BandwidthError::OutboundWithoutAverage { ifname: ifname.into() })?;
        // tc keeps the burst in bytes as a u32: without one, a second's worth, capped there.
        let burst = rate.burst.filter(|b| *b > 0).unwrap_or_else(|| average.min(u64::from(u32::MAX) / 1024));
        Ok(Some(Police { average, burst }))
    }
}

/// libvirt's outbound commands: an ingress qdisc and a match-all u32 filter that polices.
pub fn police_commands(ifname: &str, p: Police) -> [TcArgs; 2] {
    [
        argv(&["qdisc", "add", "dev", ifname, "ingress"]),
        argv(&[
            "filter",
            "add",
            "dev",
            ifname,
            "parent",
            "ffff:",
            "protocol",
            "all",
            "u32",
            "match",
            "u32",
            "0",
            "0",
            "police",
            "rate",
            &format!("{}kbps", p.average),
            "burst",
            &format!("{}kb", p.burst),
            "mtu",
            "64kb",
            "drop",
            "flowid",
            ":1",
        ]),
    ]
}

/// The tc commands that set `bw` on `ifname` (after [`clear_commands`]), libvirt's layout:
/// [`inbound_commands`], then [`police_commands`] for `<outbound>`.
pub fn set_commands(ifname: &str, bw: &Bandwidth, hierarchical: bool) -> Result<Vec<TcArgs>, BandwidthError> {
    let mut cmds = inbound_commands(ifname, bw, hierarchical);
    if let Some(p) = Police::of(ifname, bw)? {
        cmds.extend(police_commands(ifname, p));
    }
    Ok(cmds)
}

/// Removing whatever root and ingress qdiscs the device has (their classes and filters go with them).
pub fn clear_commands(ifname: &str) -> [TcArgs; 2] {
    [argv(&["qdisc", "del", "dev", ifname, "root"]), argv(&["qdisc", "del", "dev", ifname, "ingress"])]
}

/// The `netdev` table holding `ifname`'s outbound limit: its name when that is a plain identifier,
/// else `x` and its bytes in hex (so no name can collide with another or need quoting).
pub fn nft_table(ifname: &str) -> String {
    if !ifname.is_empty() && ifname.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        format!("{NFT_TABLE_PREFIX}{ifname}")
    } else {
        let hex: String = ifname.bytes().map(|b| format!("{b:02x}")).collect();
        format!("{NFT_TABLE_PREFIX}x{hex}")
    }
}

/// Removes `ifname`'s table if there is one: declaring it first makes the delete never fail, and
/// both happen in one transaction.
pub fn nft_clear_script(ifname: &str) -> String {
    let t = nft_table(ifname);
    format!("table netdev {t}\ndelete table netdev {t}\n")
}

/// Replaces `ifname`'s table by one whose ingress chain drops what exceeds the policer (in one
/// transaction, so re-applying is idempotent and a failure leaves the old state). nft counts in
/// bytes; the units are converted to tc's meaning of libvirt's (kbps = 1000 B/s, kb = 1024 B).
/// The kernel keeps a netdev chain after its device is deleted, so callers remove the table when
/// the interface goes ([`forget`]).
pub fn nft_police_script(ifname: &str, p: Police) -> Result<String, BandwidthError> {
    if ifname.is_empty() || ifname.bytes().any(|b| b == b'"' || b == b'\\' || !b.is_ascii_graphic()) {
        return Err(BandwidthError::NftDeviceName { ifname: ifname.into() });
    }
    let rate = p.average.saturating_mul(1000);
    // nft's byte bucket holds a second's worth of the rate plus its burst, tc's just the burst:
    // the difference is the same bucket, and one under a second's worth is the smallest nft has.
    let burst = p.burst.saturating_mul(1024).saturating_sub(rate).min(u64::from(u32::MAX));
    let mut s = nft_clear_script(ifname);
    let _ = writeln!(
        s,
        "table netdev {t} {{\n\tchain outbound {{\n\t\ttype filter hook ingress device \"{ifname}\" priority -500; policy accept;\n\t\t\
         limit rate over {rate} bytes/second burst {burst} bytes drop\n\t}}\n}}",
        t = nft_table(ifname)
    );
    Ok(s)
}

/// tc's answers when there is nothing to delete: the default root qdisc, no ingress qdisc, or the
/// device already gone (a tap that died with QEMU).
fn nothing_to_clear(e: &BandwidthError) -> bool {
    matches!(e, BandwidthError::Tc { stderr, .. }
        if ["handle of zero", "Cannot find specified qdisc", "Cannot find device", "No such file or directory", "Invalid handle"]
            .iter()
            .any(|m| stderr.contains(m)))
}

/// tc's answer on a kernel without `act_police`.
fn police_missing(e: &BandwidthError) -> bool {
    matches!(e, BandwidthError::Tc { stderr, .. }
        if stderr.contains("TC action module") || (stderr.contains("police") && (stderr.contains("nknown") || stderr.contains("not found"))))
}

/// Removes `ifname`'s nftables limit, if any; for when the interface is gone or going (its tc state
/// goes with the device, the table does not). Without nft there is nothing of ours to remove.
pub fn forget(tc: &dyn Tc, ifname: &str) -> Result<(), BandwidthError> {
    match tc.nft(ifname, &nft_clear_script(ifname)) {
        Err(BandwidthError::NftSpawn(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// Removes any limits from `ifname`; "nothing there" is success.
pub fn clear(tc: &dyn Tc, ifname: &str) -> Result<(), BandwidthError> {
    let mut first_err = None;
    for c in clear_commands(ifname) {
        match tc.tc(&c) {
            Err(e) if !nothing_to_clear(&e) => {
                first_err.get_or_insert(e);
            }
            _ => {}
        }
    }
    // Where tc polices, no table of ours was ever made.
    if tc.police().get() != Some(true) {
        if let Err(e) = forget(tc, ifname) {
            first_err.get_or_insert(e);
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// Whether a failed step only lost a refinement the kernel lacks (SFQ fairness below the class, the
/// fw filter that libvirt adds but HTB's default class already covers), not the limit itself.
fn optional_step(args: &[String], e: &BandwidthError) -> bool {
    let BandwidthError::Tc { stderr, .. } = e else { return false };
    let sfq = args.iter().any(|a| a == "sfq") && stderr.contains("qdisc kind is unknown");
    let fw = args.iter().any(|a| a == "fw") && stderr.contains("classifier not found");
    sfq || fw
}

/// Sets the outbound policer: tc's police action, or nftables where the kernel lacks it.
fn set_outbound(tc: &dyn Tc, ifname: &str, p: Police) -> Result<(), BandwidthError> {
    if tc.police().get() != Some(false) {
        let [qdisc, filter] = police_commands(ifname, p);
        tc.tc(&qdisc)?;
        match tc.tc(&filter) {
            Ok(()) => {
                tc.police().set(true);
                return Ok(());
            }
            Err(e) if police_missing(&e) => {
                tracing::info!("tc has no police action here ({e}); outbound limits are set with nftables");
                tc.police().set(false);
                let [_, ingress] = clear_commands(ifname);
                tc.tc(&ingress)?;
            }
            Err(e) => return Err(e),
        }
    }
    tc.nft(ifname, &nft_police_script(ifname, p)?)
}

/// Replaces the limits on `ifname` with `bw`. On failure nothing of it is left on the device.
/// Returns warnings for refinements the kernel could not take (see [`inbound_commands`]).
pub fn apply(tc: &dyn Tc, ifname: &str, bw: &Bandwidth, hierarchical: bool) -> Result<Vec<String>, BandwidthError> {
    let inbound = inbound_commands(ifname, bw, hierarchical);
    let police = Police::of(ifname, bw)?;
    clear(tc, ifname)?;
    let mut warnings = Vec::new();
    let mut set = || -> Result<(), BandwidthError> {
        for c in &inbound {
            match tc.tc(c) {
                Ok(()) => {}
                Err(e) if optional_step(c, &e) => warnings.push(format!("{e} (the rate limit still applies)")),
                Err(e) => return Err(e),
            }
        }
        police.map_or(Ok(()), |p| set_outbound(tc, ifname, p))
    };
    if let Err(e) = set() {
        if let Err(ce) = clear(tc, ifname) {
            tracing::warn!("undoing bandwidth limits of {ifname}: {ce}");
        }
        return Err(e);
    }
    for w in &warnings {
        tracing::warn!("{w}");
    }
    Ok(warnings)
}

/// What to [`apply`] on a macvtap for a guest's `bw`: there the guest's traffic runs the other way
/// round from a tap (what the guest sends leaves through the device's egress), so, as libvirt
/// does, inbound and outbound trade places.
pub fn for_macvtap(bw: &Bandwidth) -> Bandwidth {
    Bandwidth { inbound: bw.outbound.clone(), outbound: bw.inbound.clone(), ..bw.clone() }
}

/// Whether `bw` asks for anything that would be set.
pub fn has_limits(bw: &Bandwidth) -> bool {
    bw.inbound.as_ref().is_some_and(|r| r.average.unwrap_or(0) > 0) || bw.outbound.is_some()
}

/// A recording stand-in for tests.
pub mod fake {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Default, Clone)]
    pub struct FakeTc {
        pub calls: Arc<Mutex<Vec<String>>>,
        /// nft scripts, in order.
        pub scripts: Arc<Mutex<Vec<String>>>,
        /// Fail every tc call whose joined argv (or nft script) contains this, with this stderr.
        pub fail: Arc<Mutex<Option<(String, String)>>>,
        pub police: Arc<PoliceSupport>,
    }

    impl FakeTc {
        pub fn calls(&self) -> Vec<String> {
            self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
        }
        pub fn scripts(&self) -> Vec<String> {
            self.scripts.lock().unwrap_or_else(|e| e.into_inner()).clone()
        }
        pub fn fail_on(&self, needle: &str, stderr: &str) {
            *self.fail.lock().unwrap_or_else(|e| e.into_inner()) = Some((needle.into(), stderr.into()));
        }
        fn failing(&self, text: &str) -> Option<String> {
            let f = self.fail.lock().unwrap_or_else(|e| e.into_inner());
            f.as_ref().filter(|(needle, _)| text.contains(needle.as_str())).map(|(_, stderr)| stderr.clone())
        }
    }

    impl Tc for FakeTc {
        fn tc(&self, args: &[String]) -> Result<(), BandwidthError> {
            let line = args.join(" ");
            self.calls.lock().unwrap_or_else(|e| e.into_inner()).push(line.clone());
            match self.failing(&line) {
                Some(stderr) => Err(BandwidthError::Tc { args: line, stderr }),
                None => Ok(()),
            }
        }
        fn nft(&self, ifname: &str, script: &str) -> Result<(), BandwidthError> {
            self.scripts.lock().unwrap_or_else(|e| e.into_inner()).push(script.to_string());
            match self.failing(script) {
                Some(stderr) => Err(BandwidthError::Nft { ifname: ifname.into(), stderr }),
                None => Ok(()),
            }
        }
        fn police(&self) -> &PoliceSupport {
            &self.police
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::FakeTc;
    use super::*;

    fn rate(average: Option<u64>, peak: Option<u64>, burst: Option<u64>) -> Option<BandwidthRate> {
        Some(BandwidthRate { average, peak, burst, floor: None })
    }

    fn lines(cmds: &[TcArgs]) -> Vec<String> {
        cmds.iter().map(|c| c.join(" ")).collect()
    }

    #[test]
    fn inbound_only() {
        let bw = Bandwidth { inbound: rate(Some(1024), None, None), ..Default::default() };
        assert_eq!(
            lines(&set_commands("vnet0", &bw, false).unwrap()),
            [
                "qdisc add dev vnet0 root handle 1: htb default 1",
                "class add dev vnet0 parent 1: classid 1:1 htb rate 1024kbps quantum 87",
                "qdisc add dev vnet0 parent 1:1 handle 2: sfq perturb 10",
                "filter add dev vnet0 parent 1:0 protocol all prio 1 handle 1 fw flowid 1",
            ]
        );
    }

    #[test]
    fn macvtap_swaps_directions() {
        let bw = Bandwidth { outbound: rate(Some(1024), None, None), ..Default::default() };
        let cmds = lines(&set_commands("macvtap0", &for_macvtap(&bw), false).unwrap());
        assert_eq!(cmds[0], "qdisc add dev macvtap0 root handle 1: htb default 1", "guest outbound shaped on egress");
        let bw = Bandwidth { inbound: rate(Some(512), None, Some(64)), ..Default::default() };
        let cmds = lines(&set_commands("macvtap0", &for_macvtap(&bw), false).unwrap());
        assert_eq!(cmds[0], "qdisc add dev macvtap0 ingress", "guest inbound policed on ingress");
    }

    #[test]
    fn outbound_only_default_burst() {
        let bw = Bandwidth { outbound: rate(Some(1024), None, None), ..Default::default() };
        assert_eq!(
            lines(&set_commands("vnet0", &bw, false).unwrap()),
            [
                "qdisc add dev vnet0 ingress",
                "filter add dev vnet0 parent ffff: protocol all u32 match u32 0 0 police rate 1024kbps burst 1024kb mtu 64kb drop flowid :1",
            ]
        );
        // The default burst is capped where tc's u32 byte count ends.
        let big = Bandwidth { outbound: rate(Some(u64::MAX), None, None), ..Default::default() };
        let l = lines(&set_commands("t", &big, false).unwrap());
        assert!(l[1].contains(&format!("burst {}kb ", u32::MAX / 1024)), "{l:?}");
    }

    #[test]
    fn both_with_peak_and_burst() {
        let bw = Bandwidth {
            inbound: Some(BandwidthRate { average: Some(1), peak: Some(2), floor: Some(3), burst: Some(4) }),
            outbound: rate(Some(5), Some(6), Some(7)),
            ..Default::default()
        };
        assert_eq!(
            lines(&set_commands("eth0", &bw, false).unwrap()),
            [
                "qdisc add dev eth0 root handle 1: htb default 1",
                "class add dev eth0 parent 1: classid 1:1 htb rate 1kbps ceil 2kbps burst 4kb quantum 1",
                "qdisc add dev eth0 parent 1:1 handle 2: sfq perturb 10",
                "filter add dev eth0 parent 1:0 protocol all prio 1 handle 1 fw flowid 1",
                "qdisc add dev eth0 ingress",
                "filter add dev eth0 parent ffff: protocol all u32 match u32 0 0 police rate 5kbps burst 7kb mtu 64kb drop flowid :1",
            ]
        );
    }

    #[test]
    fn hierarchical_for_a_network_bridge() {
        let bw = Bandwidth { inbound: rate(Some(1000), None, Some(50)), ..Default::default() };
        assert_eq!(
            lines(&set_commands("virbr0", &bw, true).unwrap()),
            [
                "qdisc add dev virbr0 root handle 1: htb default 2",
                "class add dev virbr0 parent 1: classid 1:1 htb rate 1000kbps ceil 1000kbps quantum 85",
                "class add dev virbr0 parent 1:1 classid 1:2 htb rate 1000kbps burst 50kb quantum 85",
                "qdisc add dev virbr0 parent 1:2 handle 2: sfq perturb 10",
                "filter add dev virbr0 parent 1:0 protocol all prio 1 handle 1 fw flowid 1",
            ]
        );
        let peak = Bandwidth { inbound: rate(Some(1000), Some(2000), None), ..Default::default() };
        let l = lines(&set_commands("virbr0", &peak, true).unwrap());
        assert_eq!(l[1], "class add dev virbr0 parent 1: classid 1:1 htb rate 1000kbps ceil 2000kbps quantum 85");
        assert_eq!(l[2], "class add dev virbr0 parent 1:1 classid 1:2 htb rate 1000kbps ceil 2000kbps quantum 85");
    }

    #[test]
    fn nothing_or_floor_only_sets_nothing() {
        assert!(set_commands("t", &Bandwidth::default(), false).unwrap().is_empty());
        let floor =
            Bandwidth { inbound: Some(BandwidthRate { floor: Some(10), ..Default::default() }), ..Default::default() };
        assert!(set_commands("t", &floor, false).unwrap().is_empty());
        assert!(!has_limits(&floor));
        let bad = Bandwidth { outbound: rate(None, Some(5), None), ..Default::default() };
        assert!(matches!(set_commands("t", &bad, false), Err(BandwidthError::OutboundWithoutAverage { .. })));
    }

    #[test]
    fn apply_clears_first_and_undoes_on_failure() {
        let tc = FakeTc::default();
        tc.police.set(true);
        let bw = Bandwidth {
            inbound: rate(Some(100), None, None),
            outbound: rate(Some(100), None, None),
            ..Default::default()
        };
        apply(&tc, "vnet3", &bw, false).unwrap();
        let calls = tc.calls();
        assert_eq!(&calls[..2], ["qdisc del dev vnet3 root", "qdisc del dev vnet3 ingress"]);
        assert_eq!(calls.len(), 2 + 6);
        assert!(tc.scripts().is_empty(), "tc polices: no nft table to clear");

        let tc = FakeTc::default();
        tc.police.set(true);
        tc.fail_on("police", "Error: Operation not permitted.");
        let e = apply(&tc, "vnet3", &bw, false).unwrap_err();
        assert!(e.to_string().contains("not permitted"), "{e}");
        let calls = tc.calls();
        assert_eq!(&calls[calls.len() - 2..], ["qdisc del dev vnet3 root", "qdisc del dev vnet3 ingress"]);
    }

    #[test]
    fn without_act_police_outbound_goes_to_nftables_once_learnt() {
        let tc = FakeTc::default();
        tc.fail_on("police", "Error: Failed to load TC action module.\nWe have an error talking to the kernel");
        let bw = Bandwidth { outbound: rate(Some(500), Some(900), None), ..Default::default() };
        apply(&tc, "vnet0", &bw, false).unwrap();
        assert_eq!(tc.police.get(), Some(false));
        let calls = tc.calls();
        assert_eq!(
            &calls[2..],
            [
                "qdisc add dev vnet0 ingress",
                "filter add dev vnet0 parent ffff: protocol all u32 match u32 0 0 police rate 500kbps burst 500kb mtu 64kb drop flowid :1",
                "qdisc del dev vnet0 ingress",
            ]
        );
        let scripts = tc.scripts();
        assert_eq!(scripts[0], "table netdev oxvirt_bw_vnet0\ndelete table netdev oxvirt_bw_vnet0\n");
        assert_eq!(
            scripts[1],
            "table netdev oxvirt_bw_vnet0\ndelete table netdev oxvirt_bw_vnet0\ntable netdev oxvirt_bw_vnet0 {\n\tchain outbound {\n\t\t\
             type filter hook ingress device \"vnet0\" priority -500; policy accept;\n\t\t\
             limit rate over 500000 bytes/second burst 12000 bytes drop\n\t}\n}\n"
        );
        // Known now: straight to nftables, tc only clears.
        let n = tc.calls().len();
        apply(&tc, "vnet0", &Bandwidth { outbound: rate(Some(8), None, Some(2)), ..Default::default() }, false)
            .unwrap();
        assert_eq!(&tc.calls()[n..], ["qdisc del dev vnet0 root", "qdisc del dev vnet0 ingress"]);
        assert!(tc.scripts().last().unwrap().contains("limit rate over 8000 bytes/second burst 0 bytes drop"));
        // A failing nft leaves no table.
        tc.fail_on("limit rate", "Error: Could not process rule: No such file or directory");
        assert!(apply(&tc, "vnet0", &bw, false).is_err());
        assert!(!tc.scripts().last().unwrap().contains("limit"));
        // Clearing and forgetting remove the table.
        tc.fail_on("nothing", "");
        clear(&tc, "vnet0").unwrap();
        forget(&tc, "vnet0").unwrap();
        assert_eq!(tc.scripts().last().unwrap(), &nft_clear_script("vnet0"));
    }

    #[test]
    fn nft_names_and_units() {
        assert_eq!(nft_table("vnet12"), "oxvirt_bw_vnet12");
        assert_eq!(nft_table("br-x.1"), "oxvirt_bw_x62722d782e31");
        let p = Police { average: 1, burst: u64::MAX };
        let s = nft_police_script("br-x.1", p).unwrap();
        assert!(s.contains("device \"br-x.1\"") && s.contains(&format!("burst {} bytes", u32::MAX)), "{s}");
        // The bucket beyond the second's worth nft always has.
        let s = nft_police_script("v", Police { average: 100, burst: 300 }).unwrap();
        assert!(s.contains("limit rate over 100000 bytes/second burst 207200 bytes drop"), "{s}");
        assert!(nft_police_script("a\"b", p).is_err());
        assert!(nft_police_script("a b", p).is_err());
    }

    #[test]
    fn missing_sfq_or_fw_only_warns() {
        let tc = FakeTc::default();
        tc.fail_on("sfq", "Error: Specified qdisc kind is unknown.");
        let bw = Bandwidth { inbound: rate(Some(100), None, None), ..Default::default() };
        let w = apply(&tc, "vnet0", &bw, false).unwrap();
        assert_eq!(w.len(), 1);
        assert!(tc.calls().last().unwrap().contains(" fw "));
    }

    #[test]
    fn clear_ignores_nothing_there() {
        let tc = FakeTc::default();
        tc.fail_on("qdisc del", "Error: Cannot find specified qdisc on specified device.");
        clear(&tc, "vnet0").unwrap();
        tc.fail_on("qdisc del", "Error: Cannot delete qdisc with handle of zero.");
        clear(&tc, "vnet0").unwrap();
        tc.fail_on("qdisc del", "Cannot find device \"vnet0\"");
        clear(&tc, "vnet0").unwrap();
        tc.fail_on("qdisc del", "Operation not permitted");
        assert!(clear(&tc, "vnet0").is_err());
    }
}
