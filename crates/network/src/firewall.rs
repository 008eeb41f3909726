//! nftables rules of active networks, in tables of our own (`ip oxvirt`, `ip6 oxvirt`) that nothing
//! else touches. The whole table is rebuilt from the set of active networks and replaced in one
//! `nft -f` transaction, so rules are never duplicated (re-applying after a restart is idempotent) and
//! never half-applied. Other tables are only read, to warn about a `forward` chain with policy drop
//! (Docker's iptables-nft `filter FORWARD`): an accept in our table cannot override another table's drop.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::util;

pub const TABLE: &str = "oxvirt";
const NFT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("running nft: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("nft {what} failed: {stderr}")]
    Nft { what: String, stderr: String },
    #[error("parsing nft's JSON output: {0}")]
    Json(#[from] serde_json::Error),
}

/// How a network forwards, as far as the firewall is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FwMode {
    Nat,
    Route,
    /// No forwarding: guests talk to each other and the host only.
    Isolated,
}

/// The firewall-relevant facts of one active network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetRules {
    pub bridge: String,
    pub mode: FwMode,
    /// `<forward dev=...>`: forwarding is limited to this uplink.
    pub forward_dev: Option<String>,
    pub ipv4: Vec<(Ipv4Addr, u8)>,
    pub ipv6: Vec<(Ipv6Addr, u8)>,
    /// `<nat><address start end>`: SNAT to these instead of masquerading.
    pub nat_addresses: Option<(Ipv4Addr, Ipv4Addr)>,
    /// `<nat><port start end>`, default 1024-65535.
    pub nat_ports: (u16, u16),
    /// `<nat ipv6='yes'>`.
    pub nat_ipv6: bool,
    /// dnsmasq serves DHCP/DNS: open the input ports for it.
    pub dhcp_dns: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn name(self) -> &'static str {
        match self {
            Family::V4 => "ip",
            Family::V6 => "ip6",
        }
    }
}

/// The chain-name suffix for a bridge: its name when that is a plain identifier, else hex.
pub fn chain_id(bridge: &str) -> String {
    if !bridge.is_empty() && bridge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        bridge.to_string()
    } else {
        bridge.bytes().map(|b| format!("{b:02x}")).collect()
    }
}

fn quote(ifname: &str) -> String {
    // Interface names are validated at define (no quotes, spaces or control characters).
    format!("\"{ifname}\"")
}

/// The complete content of `table <family> oxvirt` for `nets`, or `None` when no network needs it.
fn table(fam: Family, nets: &[NetRules]) -> Option<String> {
    let nets: Vec<&NetRules> = nets
        .iter()
        .filter(|n| match fam {
            Family::V4 => !n.ipv4.is_empty(),
            Family::V6 => !n.ipv6.is_empty(),
        })
        .collect();
    if nets.is_empty() {
        return None;
    }
    let f = fam.name();
    let mut s = String::new();
    let _ = writeln!(s, "table {f} {TABLE} {{");
    let mut input = String::new();
    let mut forward = String::new();
    let mut post = String::new();
    let mut chains = String::new();
    for n in &nets {
        let id = chain_id(&n.bridge);
        let br = quote(&n.bridge);
        if n.dhcp_dns {
            let _ = writeln!(input, "\t\tiifname {br} jump in_{id}");
            let dhcp_port = if fam == Family::V4 { 67 } else { 547 };
            let _ = writeln!(
                chains,
                "\tchain in_{id} {{\n\t\tudp dport {{ 53, {dhcp_port} }} accept\n\t\ttcp dport 53 accept\n\t}}"
            );
        }
        let _ = writeln!(forward, "\t\tjump fwd_{id}");
        let _ = writeln!(chains, "\tchain fwd_{id} {{");
        let dev_in = n.forward_dev.as_ref().map(|d| format!("iifname {} ", quote(d))).unwrap_or_default();
        let dev_out = n.forward_dev.as_ref().map(|d| format!("oifname {} ", quote(d))).unwrap_or_default();
        let subnets: Vec<String> = match fam {
            Family::V4 => n.ipv4.iter().map(|(a, p)| format!("{a}/{p}")).collect(),
            Family::V6 => n.ipv6.iter().map(|(a, p)| format!("{a}/{p}")).collect(),
        };
        let nat = n.mode == FwMode::Nat && (fam == Family::V4 || n.nat_ipv6);
        for sn in &subnets {
            match n.mode {
                FwMode::Nat if nat => {
                    let _ =
                        writeln!(chains, "\t\t{dev_in}oifname {br} {f} daddr {sn} ct state related,established accept");
                    let _ = writeln!(chains, "\t\tiifname {br} {dev_out}{f} saddr {sn} accept");
                }
                FwMode::Nat | FwMode::Route => {
                    let _ = writeln!(chains, "\t\t{dev_in}oifname {br} {f} daddr {sn} accept");
                    let _ = writeln!(chains, "\t\tiifname {br} {dev_out}{f} saddr {sn} accept");
                }
                FwMode::Isolated => {}
            }
        }
        let _ = writeln!(chains, "\t\tiifname {br} oifname {br} accept");
        let _ = writeln!(chains, "\t\tiifname {br} reject");
        let _ = writeln!(chains, "\t\toifname {br} reject");
        let _ = writeln!(chains, "\t}}");
        if nat {
            let _ = writeln!(post, "\t\tjump nat_{id}");
            let _ = writeln!(chains, "\tchain nat_{id} {{");
            let (p0, p1) = n.nat_ports;
            let mcast = if fam == Family::V4 { "224.0.0.0/24" } else { "ff02::/16" };
            for sn in &subnets {
                let _ = writeln!(chains, "\t\t{f} saddr {sn} {f} daddr {mcast} return");
                if fam == Family::V4 {
                    let _ = writeln!(chains, "\t\t{f} saddr {sn} {f} daddr 255.255.255.255 return");
                }
                let m = format!("{f} saddr {sn} {f} daddr != {sn} {dev_out}");
                match n.nat_addresses.filter(|_| fam == Family::V4) {
                    Some((a, b)) => {
                        let range = if a == b { a.to_string() } else { format!("{a}-{b}") };
                        let _ = writeln!(chains, "\t\tmeta l4proto {{ tcp, udp }} {m}snat to {range}:{p0}-{p1}");
                        let _ = writeln!(chains, "\t\t{m}snat to {range}");
                    }
                    None => {
                        let _ = writeln!(chains, "\t\tmeta l4proto {{ tcp, udp }} {m}masquerade to :{p0}-{p1}");
                        let _ = writeln!(chains, "\t\t{m}masquerade");
                    }
                }
            }
            let _ = writeln!(chains, "\t}}");
        }
    }
    let _ = writeln!(s, "\tchain input {{\n\t\ttype filter hook input priority filter; policy accept;\n{input}\t}}");
    let _ =
        writeln!(s, "\tchain forward {{\n\t\ttype filter hook forward priority filter; policy accept;\n{forward}\t}}");
    let _ = writeln!(
        s,
        "\tchain postrouting {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n{post}\t}}"
    );
    s.push_str(&chains);
    s.push_str("}\n");
    Some(s)
}

/// The `nft -f` script that replaces both oxvirt tables with the rules of `nets` in one transaction
/// (a table that no network needs is removed: declaring it first makes the delete safe).
pub fn script(nets: &[NetRules]) -> String {
    let mut s = String::new();
    for fam in [Family::V4, Family::V6] {
        let f = fam.name();
        let _ = writeln!(s, "table {f} {TABLE}\ndelete table {f} {TABLE}");
        if let Some(t) = table(fam, nets) {
            s.push_str(&t);
        }
    }
    s
}

/// Runs the nft binary.
pub trait Nft: Send + Sync {
    /// Applies a ruleset script atomically (`nft -f -`).
    fn apply(&self, script: &str) -> Result<(), FirewallError>;
    /// `nft -j list chains`: every chain of every table, for reading hooks and policies.
    fn list_chains_json(&self) -> Result<String, FirewallError>;
    /// Chain names in `table ip|ip6 oxvirt`, empty when the table does not exist.
    fn our_chains(&self) -> Result<Vec<(String, String)>, FirewallError> {
        Ok(chains(&self.list_chains_json()?)?
            .into_iter()
            .filter(|c| c.table == TABLE && (c.family == "ip" || c.family == "ip6"))
            .map(|c| (c.family, c.name))
            .collect())
    }
}

pub struct NftCommand {
    pub binary: String,
}

impl Default for NftCommand {
    fn default() -> Self {
        NftCommand { binary: "nft".into() }
    }
}

impl Nft for NftCommand {
    fn apply(&self, script: &str) -> Result<(), FirewallError> {
        let mut c = Command::new(&self.binary);
        c.args(["-f", "-"]);
        let out = util::run(c, Some(script.as_bytes()), NFT_TIMEOUT).map_err(FirewallError::Spawn)?;
        if !out.status.success() {
            return Err(FirewallError::Nft {
                what: "-f (replacing the oxvirt tables)".into(),
                stderr: out.stderr.trim().into(),
            });
        }
        Ok(())
    }

    fn list_chains_json(&self) -> Result<String, FirewallError> {
        let mut c = Command::new(&self.binary);
        c.args(["-j", "list", "chains"]);
        let out = util::run(c, None, NFT_TIMEOUT).map_err(FirewallError::Spawn)?;
        if !out.status.success() {
            return Err(FirewallError::Nft { what: "list chains".into(), stderr: out.stderr.trim().into() });
        }
        Ok(out.stdout)
    }
}

/// A chain as `nft -j list chains` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChainInfo {
    pub family: String,
    pub table: String,
    pub name: String,
    #[serde(default)]
    pub hook: Option<String>,
    #[serde(default)]
    pub policy: Option<String>,
}

pub fn chains(json: &str) -> Result<Vec<ChainInfo>, FirewallError> {
    #[derive(Deserialize)]
    struct Top {
        nftables: Vec<serde_json::Value>,
    }
    let top: Top = serde_json::from_str(json)?;
    let mut out = Vec::new();
    for item in top.nftables {
        if let Some(c) = item.get("chain") {
            out.push(serde_json::from_value(c.clone())?);
        }
    }
    Ok(out)
}

/// Warnings for `forward` base chains in other tables whose policy drops what our rules accept.
pub fn forward_drop_warnings(json: &str, bridge: &str) -> Result<Vec<String>, FirewallError> {
    Ok(chains(json)?
        .into_iter()
        .filter(|c| c.table != TABLE && c.hook.as_deref() == Some("forward") && c.policy.as_deref() == Some("drop"))
        .filter(|c| matches!(c.family.as_str(), "ip" | "ip6" | "inet"))
        .map(|c| {
            format!(
                "chain '{}' of table '{} {}' has policy drop on the forward hook (Docker's iptables rules do this): \
                 forwarded traffic of bridge {bridge} is dropped there whatever oxvirt's own table accepts; \
                 allow it in that table, e.g. `nft insert rule {} {} {} iifname \"{bridge}\" accept` and \
                 `... oifname \"{bridge}\" accept` (for Docker: in its DOCKER-USER chain)",
                c.name, c.family, c.table, c.family, c.table, c.name
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nat() -> NetRules {
        NetRules {
            bridge: "virbr0".into(),
            mode: FwMode::Nat,
            forward_dev: None,
            ipv4: vec![(Ipv4Addr::new(192, 168, 122, 0), 24)],
            ipv6: vec![],
            nat_addresses: None,
            nat_ports: (1024, 65535),
            nat_ipv6: false,
            dhcp_dns: true,
        }
    }

    #[test]
    fn nat_script_replaces_tables() {
        let s = script(&[nat()]);
        assert!(s.starts_with("table ip oxvirt\ndelete table ip oxvirt\ntable ip oxvirt {"), "{s}");
        assert!(s.contains("ip saddr 192.168.122.0/24 ip daddr != 192.168.122.0/24 masquerade\n"), "{s}");
        assert!(s.contains("masquerade to :1024-65535"));
        assert!(s.contains("oifname \"virbr0\" ip daddr 192.168.122.0/24 ct state related,established accept"));
        assert!(s.contains("iifname \"virbr0\" jump in_virbr0"));
        assert!(s.contains("table ip6 oxvirt\ndelete table ip6 oxvirt\n"));
        assert!(!s.contains("table ip6 oxvirt {"), "no IPv6 network, no ip6 table");
        assert!(script(&[]).lines().all(|l| l.starts_with("table") || l.starts_with("delete")));
    }

    #[test]
    fn nat_range_and_isolated() {
        let mut n = nat();
        n.nat_addresses = Some((Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(10, 0, 0, 9)));
        n.nat_ports = (2000, 3000);
        n.forward_dev = Some("eth1".into());
        let s = script(&[n]);
        assert!(s.contains("oifname \"eth1\" snat to 10.0.0.5-10.0.0.9:2000-3000"), "{s}");
        let iso = NetRules { mode: FwMode::Isolated, bridge: "vb-x".into(), ..nat() };
        let s = script(&[iso]);
        assert!(s.contains("chain fwd_76622d78"), "{s}");
        assert!(!s.contains("masquerade"));
        assert!(s.contains("iifname \"vb-x\" reject"));
    }

    #[test]
    fn docker_forward_drop_detected() {
        let json = r#"{"nftables":[{"metainfo":{"version":"1.0.6"}},
          {"chain":{"family":"ip","table":"filter","name":"FORWARD","handle":2,"type":"filter","hook":"forward","prio":0,"policy":"drop"}},
          {"chain":{"family":"ip","table":"oxvirt","name":"forward","handle":3,"type":"filter","hook":"forward","prio":0,"policy":"accept"}},
          {"chain":{"family":"ip","table":"filter","name":"DOCKER","handle":4}}]}"#;
        let w = forward_drop_warnings(json, "virbr0").unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("'ip filter'") && w[0].contains("FORWARD"), "{w:?}");
    }
}
