//! Host device commands: `nodedev-list`, `nodedev-dumpxml`, `nodedev-info`.

use oxvirt_api::NodeDevice;
use oxvirt_xml::nodedev::{Capability, NodeDevice as DeviceDef, ScsiHostSubCap, CAP_TYPES};
use oxvirt_xml::XmlDocument;
use serde_json::json;

use crate::commands::Ctl;
use crate::error::CmdError;
use crate::parse::Cmd;

/// virsh's device lookup: a name, or `WWNN,WWPN` of a Fibre Channel HBA.
fn find_device(ctl: &mut Ctl, value: &str) -> Result<NodeDevice, CmdError> {
    let conn = ctl.conn()?;
    let not_found = || format!("Could not find matching device '{value}'");
    if let Some((wwnn, wwpn)) = value.split_once(',') {
        let (wwnn, wwpn) = (wwnn.trim(), wwpn.trim());
        if wwpn.contains(',') || wwnn.is_empty() || wwpn.is_empty() {
            return Err(CmdError::Failed(format!("Malformed device value '{value}'")));
        }
        let hbas = conn.list_all_node_devices(Some("fc_host")).map_err(|e| CmdError::api(not_found(), e))?;
        let norm = |s: &str| s.trim_start_matches("0x").to_ascii_lowercase();
        return hbas
            .into_iter()
            .find(|d| {
                d.xml_desc().ok().and_then(|x| DeviceDef::from_xml_str(&x).ok()).is_some_and(|def| {
                    def.capabilities.iter().any(|c| match c {
                        Capability::ScsiHost(h) => h.capabilities.iter().any(|s| {
                            matches!(s, ScsiHostSubCap::FcHost(f) if norm(&f.wwnn) == norm(wwnn) && norm(&f.wwpn) == norm(wwpn))
                        }),
                        _ => false,
                    })
                })
            })
            .ok_or_else(|| CmdError::Failed(not_found()));
    }
    conn.lookup_node_device_by_name(value).map_err(|e| CmdError::api(not_found(), e))
}

fn device(ctl: &mut Ctl, cmd: &Cmd) -> Result<NodeDevice, CmdError> {
    let v = cmd.req("device")?.to_string();
    find_device(ctl, &v)
}

/// Capability type names of a device, nested ones included.
fn cap_names(d: &NodeDevice) -> Vec<&'static str> {
    d.xml_desc().ok().and_then(|x| DeviceDef::from_xml_str(&x).ok()).map(|def| def.cap_names()).unwrap_or_default()
}

pub fn list(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let tree = cmd.flag("tree");
    let inactive = cmd.flag("inactive");
    let cap = cmd.get("cap");
    if cmd.flag("all") && inactive {
        return Err(CmdError::Failed("Option --all is incompatible with --inactive".into()));
    }
    if tree && (cap.is_some() || inactive) {
        return Err(CmdError::Failed("Option --tree is incompatible with --cap and --inactive".into()));
    }
    let caps: Vec<&str> =
        cap.map(|c| c.split(',').map(str::trim).filter(|s| !s.is_empty()).collect()).unwrap_or_default();
    if caps.iter().any(|c| !CAP_TYPES.contains(c)) {
        return Err(CmdError::Failed("Invalid capability type".into()));
    }
    let conn = ctl.conn()?;
    let mut devs = match caps.as_slice() {
        [] => conn.list_all_node_devices(None),
        [one] => conn.list_all_node_devices(Some(one)),
        many => conn
            .list_all_node_devices(None)
            .map(|all| all.into_iter().filter(|d| cap_names(d).iter().any(|c| many.contains(c))).collect()),
    }
    .map_err(|e| CmdError::api("Failed to list node devices", e))?;
    // every device a driver reports exists now: none is merely defined
    if inactive {
        devs.clear();
    }
    devs.sort_by_key(|d| d.name().to_lowercase());

    if cmd.flag("json") {
        let arr: Vec<_> = devs
            .iter()
            .map(|d| json!({"name": d.name(), "parent": d.parent().ok().flatten(), "capabilities": cap_names(d)}))
            .collect();
        return ctl.print_json(&serde_json::Value::Array(arr));
    }
    let mut out = String::new();
    if tree {
        let names: Vec<String> = devs.iter().map(|d| d.name().to_string()).collect();
        let parents: Vec<Option<String>> =
            devs.iter().map(|d| if d.name() == "computer" { None } else { d.parent().ok().flatten() }).collect();
        let t = Tree { names: &names, parents: &parents };
        for (i, _) in parents.iter().enumerate().filter(|(_, p)| p.is_none()) {
            t.print(&mut out, i, i, true, &mut String::new());
        }
    } else {
        for d in &devs {
            out.push_str(d.name());
            out.push('\n');
        }
    }
    ctl.print(&out);
    Ok(())
}

/// virsh's ASCII device tree (`+- child`, `|` guides, a blank line closing each last branch).
struct Tree<'a> {
    names: &'a [String],
    parents: &'a [Option<String>],
}

impl Tree<'_> {
    fn print(&self, out: &mut String, dev: usize, last: usize, root: bool, indent: &mut String) {
        out.push_str(&format!("{indent}{}{}\n", if root { "" } else { "+- " }, self.names[dev]));
        if !root {
            indent.push(if dev == last { ' ' } else { '|' });
            indent.push(' ');
        }
        let children: Vec<usize> =
            (0..self.names.len()).filter(|&i| self.parents[i].as_deref() == Some(self.names[dev].as_str())).collect();
        let next_last = children.last().copied();
        if next_last.is_some() {
            out.push_str(&format!("{indent}  |\n"));
        }
        indent.push_str("  ");
        for &c in &children {
            self.print(out, c, next_last.unwrap_or(c), false, indent);
        }
        if indent.ends_with("  ") {
            indent.truncate(indent.len() - 2);
        }
        if next_last.is_none() && dev == last {
            out.push_str(&format!("{indent}\n"));
        }
        if !root {
            indent.truncate(indent.len().saturating_sub(2));
        }
    }
}

pub fn dumpxml(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let d = device(ctl, cmd)?;
    let xml = d.xml_desc().map_err(|e| CmdError::api("", e))?;
    ctl.print(&xml);
    Ok(())
}

pub fn info(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let d = device(ctl, cmd)?;
    let parent = d.parent().map_err(|e| CmdError::api("", e))?;
    // The API has no persistence/autostart calls for devices yet: libvirt's test driver defines its
    // devices (persistent, no autostart support), while host devices found in sysfs are neither.
    let defined = ctl.conn()?.kind().eq_ignore_ascii_case("test");
    if cmd.flag("json") {
        return ctl.print_json(&json!({"name": d.name(), "parent": parent, "active": true, "persistent": defined,
            "autostart": if defined { None } else { Some(false) }, "capabilities": cap_names(&d)}));
    }
    let mut s = String::new();
    let mut line = |k: &str, v: &str| s.push_str(&format!("{k:<15} {v}\n"));
    line("Name:", d.name());
    line("Parent:", parent.as_deref().unwrap_or(""));
    line("Active:", "yes");
    line("Persistent:", if defined { "yes" } else { "no" });
    line("Autostart:", if defined { "no autostart" } else { "no" });
    ctl.print(&s);
    Ok(())
}
