//! `<bandwidth>` limits with `tc`, the way libvirt sets them on a tap or a network's bridge.
//!
//! Direction is from the guest's (or network's) point of view, applied to the host side of the
//! device: `inbound` (traffic to the guest) leaves the tap, so it is shaped on its egress (HTB root,
//! one class with rate/ceil/burst, SFQ below it); `outbound` (traffic from the guest) enters the
//! tap, so it is policed on its ingress (u32 match-all filter, `police ... drop`). Units follow
//! libvirt's command lines: `average`/`peak` as `kbps`, `burst` as `kb`.

use std::process::Command;
use std::time::Duration;

use oxvirt_xml::network::{Bandwidth, BandwidthRate};

use crate::util;

const TC_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum BandwidthError {
    #[error("bandwidth of {ifname}: <outbound> needs an 'average' rate")]
    OutboundWithoutAverage { ifname: String },
    #[error("running tc {args}: {source}")]
    Spawn { args: String, source: std::io::Error },
    #[error("tc {args} failed: {stderr}")]
    Tc { args: String, stderr: String },
}

/// One `tc` invocation, without the program name.
pub type TcArgs = Vec<String>;

/// Runs `tc`; the real one is [`TcCommand`], tests use [`fake::FakeTc`].
pub trait Tc: Send + Sync {
    fn tc(&self, args: &[String]) -> Result<(), BandwidthError>;
}

/// The `tc` binary, each run bounded by a timeout.
pub struct TcCommand {
    pub binary: String,
}

impl TcCommand {
    /// `/usr/sbin/tc` or `/sbin/tc` when present (a daemon's PATH may lack sbin), else `tc`.
    pub fn system() -> TcCommand {
        let binary = ["/usr/sbin/tc", "/sbin/tc"]
            .iter()
            .find(|p| std::path::Path::new(p).is_file())
            .map_or_else(|| "tc".to_string(), |p| p.to_string());
        TcCommand { binary }
    }
}

impl Tc for TcCommand {
    fn tc(&self, args: &[String]) -> Result<(), BandwidthError> {
        let mut c = Command::new(&self.binary);
        c.args(args);
        let o = util::run(c, None, TC_TIMEOUT).map_err(|e| BandwidthError::Spawn { args: args.join(" "), source: e })?;
        if o.status.success() {
            Ok(())
        } else {
            Err(BandwidthError::Tc { args: args.join(" "), stderr: o.stderr.trim().to_string() })
        }
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

/// The commands that set `bw` on `ifname` (after [`clear_commands`]). `hierarchical`: the layout
/// libvirt uses on a network's bridge (class 1:1 caps the whole network, 1:2 below it takes the
/// traffic), otherwise one class 1:1 as on a guest tap. `floor` needs per-network accounting and is
/// not expressed here.
pub fn set_commands(ifname: &str, bw: &Bandwidth, hierarchical: bool) -> Result<Vec<TcArgs>, BandwidthError> {
    let mut cmds = Vec::new();
    if let Some(rate @ BandwidthRate { average: Some(avg), .. }) = bw.inbound.as_ref().filter(|r| r.average.unwrap_or(0) > 0) {
        let average = format!("{avg}kbps");
        let peak = rate.peak.map(|p| format!("{p}kbps"));
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
        let mut class_cmd = argv(&["class", "add", "dev", ifname, "parent", parent, "classid", class, "htb", "rate", &average]);
        if let Some(p) = &peak {
            class_cmd.extend(argv(&["ceil", p]));
        }
        if let Some(b) = rate.burst {
            class_cmd.extend(argv(&["burst", &format!("{b}kb")]));
        }
        class_cmd.extend(argv(&["quantum", &q]));
        cmds.push(class_cmd);
        cmds.push(argv(&["qdisc", "add", "dev", ifname, "parent", class, "handle", "2:", "sfq", "perturb", "10"]));
        cmds.push(argv(&["filter", "add", "dev", ifname, "parent", "1:0", "protocol", "all", "prio", "1", "handle", "1", "fw", "flowid", "1"]));
    }
    if let Some(rate) = &bw.outbound {
        let avg = rate.average.filter(|a| *a > 0).ok_or_else(|| BandwidthError::OutboundWithoutAverage { ifname: ifname.into() })?;
        // tc keeps the burst in bytes as a u32: without one, a second's worth, capped there.
        let burst = rate.burst.unwrap_or_else(|| avg.min(u64::from(u32::MAX) / 1024));
        cmds.push(argv(&["qdisc", "add", "dev", ifname, "ingress"]));
        cmds.push(argv(&[
            "filter", "add", "dev", ifname, "parent", "ffff:", "protocol", "all", "u32", "match", "u32", "0", "0", "police",
            "rate", &format!("{avg}kbps"), "burst", &format!("{burst}kb"), "mtu", "64kb", "drop", "flowid", ":1",
        ]));
    }
    Ok(cmds)
}

/// Removing whatever root and ingress qdiscs the device has (their classes and filters go with them).
pub fn clear_commands(ifname: &str) -> [TcArgs; 2] {
    [argv(&["qdisc", "del", "dev", ifname, "root"]), argv(&["qdisc", "del", "dev", ifname, "ingress"])]
}

/// tc's answers when there is nothing to delete: the default root qdisc, no ingress qdisc, or the
/// device already gone (a tap that died with QEMU).
fn nothing_to_clear(e: &BandwidthError) -> bool {
    matches!(e, BandwidthError::Tc { stderr, .. }
        if ["handle of zero", "Cannot find specified qdisc", "Cannot find device", "No such file or directory", "Invalid handle"]
            .iter()
            .any(|m| stderr.contains(m)))
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

/// Replaces the limits on `ifname` with `bw`. On failure nothing of it is left on the device.
/// Returns warnings for refinements the kernel could not take (see [`set_commands`]).
pub fn apply(tc: &dyn Tc, ifname: &str, bw: &Bandwidth, hierarchical: bool) -> Result<Vec<String>, BandwidthError> {
    let cmds = set_commands(ifname, bw, hierarchical)?;
    clear(tc, ifname)?;
    let mut warnings = Vec::new();
    for c in &cmds {
        match tc.tc(c) {
            Ok(()) => {}
            Err(e) if optional_step(c, &e) => warnings.push(format!("{e} (the rate limit still applies)")),
            Err(e) => {
                if let Err(ce) = clear(tc, ifname) {
                    tracing::warn!("undoing bandwidth limits of {ifname}: {ce}");
                }
                return Err(e);
            }
        }
    }
    for w in &warnings {
        tracing::warn!("{w}");
    }
    Ok(warnings)
}

/// Whether `bw` asks for anything `tc` would set.
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
        /// Fail every call whose joined argv contains this, with this stderr.
        pub fail: Arc<Mutex<Option<(String, String)>>>,
    }

    impl FakeTc {
        pub fn calls(&self) -> Vec<String> {
            self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
        }
        pub fn fail_on(&self, needle: &str, stderr: &str) {
            *self.fail.lock().unwrap_or_else(|e| e.into_inner()) = Some((needle.into(), stderr.into()));
        }
    }

    impl Tc for FakeTc {
        fn tc(&self, args: &[String]) -> Result<(), BandwidthError> {
            let line = args.join(" ");
            self.calls.lock().unwrap_or_else(|e| e.into_inner()).push(line.clone());
            if let Some((needle, stderr)) = &*self.fail.lock().unwrap_or_else(|e| e.into_inner()) {
                if line.contains(needle.as_str()) {
                    return Err(BandwidthError::Tc { args: line, stderr: stderr.clone() });
                }
            }
            Ok(())
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
        let floor = Bandwidth { inbound: Some(BandwidthRate { floor: Some(10), ..Default::default() }), ..Default::default() };
        assert!(set_commands("t", &floor, false).unwrap().is_empty());
        assert!(!has_limits(&floor));
        let bad = Bandwidth { outbound: rate(None, Some(5), None), ..Default::default() };
        assert!(matches!(set_commands("t", &bad, false), Err(BandwidthError::OutboundWithoutAverage { .. })));
    }

    #[test]
    fn apply_clears_first_and_undoes_on_failure() {
        let tc = FakeTc::default();
        let bw = Bandwidth { inbound: rate(Some(100), None, None), outbound: rate(Some(100), None, None), ..Default::default() };
        apply(&tc, "vnet3", &bw, false).unwrap();
        let calls = tc.calls();
        assert_eq!(&calls[..2], ["qdisc del dev vnet3 root", "qdisc del dev vnet3 ingress"]);
        assert_eq!(calls.len(), 2 + 6);

        let tc = FakeTc::default();
        tc.fail_on("police", "Error: Failed to load TC action module.");
        let e = apply(&tc, "vnet3", &bw, false).unwrap_err();
        assert!(e.to_string().contains("TC action module"), "{e}");
        let calls = tc.calls();
        assert_eq!(&calls[calls.len() - 2..], ["qdisc del dev vnet3 root", "qdisc del dev vnet3 ingress"]);
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
