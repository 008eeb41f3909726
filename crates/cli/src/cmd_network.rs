//! Virtual network commands.

use oxvirt_api::{flags, Network};
use serde_json::json;

use crate::commands::Ctl;
use crate::error::CmdError;
use crate::parse::Cmd;
use crate::table::Table;
use crate::util::read_file;

pub fn lookup(ctl: &mut Ctl, cmd: &Cmd) -> Result<Network, CmdError> {
    let key = cmd.req("network")?.to_string();
    ctl.conn()?.lookup_network(&key).map_err(|e| CmdError::api(format!("failed to get network '{key}'"), e))
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

pub fn list(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    use flags::*;
    let mut f = LIST_ACTIVE;
    if cmd.flag("inactive") {
        f = LIST_INACTIVE;
    }
    if cmd.flag("all") {
        f = LIST_ACTIVE | LIST_INACTIVE;
    }
    for (n, b) in [
        ("persistent", LIST_PERSISTENT),
        ("transient", LIST_TRANSIENT),
        ("autostart", LIST_AUTOSTART),
        ("no-autostart", LIST_NO_AUTOSTART),
    ] {
        if cmd.flag(n) {
            f |= b;
        }
    }
    if [cmd.flag("table"), cmd.flag("name"), cmd.flag("uuid")].iter().filter(|b| **b).count() > 1 {
        return Err(CmdError::Usage("Only one argument from --table, --name and --uuid may be specified.".into()));
    }
    let mut nets = ctl.conn()?.list_all_networks(f).map_err(|e| CmdError::api("Failed to list networks", e))?;
    nets.sort_by_key(|n| n.name().to_lowercase());
    if cmd.flag("json") {
        let arr: Vec<_> = nets
            .iter()
            .map(|n| {
                json!({"name": n.name(), "uuid": n.uuid().to_string(), "active": n.is_active().unwrap_or(false),
                       "autostart": n.autostart().ok(), "persistent": n.is_persistent().unwrap_or(false)})
            })
            .collect();
        return ctl.print_json(&serde_json::Value::Array(arr));
    }
    let mut s = String::new();
    if cmd.flag("uuid") {
        for n in &nets {
            s.push_str(&format!("{}\n", n.uuid()));
        }
    } else if cmd.flag("name") {
        for n in &nets {
            s.push_str(&format!("{}\n", n.name()));
        }
    } else {
        let mut t = Table::new(&["Name", "State", "Autostart", "Persistent"]);
        for n in &nets {
            let auto = n.autostart().map(|a| yes_no(a).to_string()).unwrap_or_else(|_| "no autostart".into());
            let active = if n.is_active().unwrap_or(false) { "active" } else { "inactive" };
            t.push(vec![n.name().to_string(), active.into(), auto, yes_no(n.is_persistent().unwrap_or(false)).into()]);
        }
        s = t.render(!ctl.quiet);
    }
    ctl.print(&s);
    Ok(())
}

pub fn info(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let n = lookup(ctl, cmd)?;
    let active = n.is_active().ok();
    let persistent = n.is_persistent().ok();
    let autostart = n.autostart().ok();
    let bridge = n.bridge_name().ok();
    if cmd.flag("json") {
        return ctl.print_json(&json!({"name": n.name(), "uuid": n.uuid().to_string(), "active": active,
            "persistent": persistent, "autostart": autostart, "bridge": bridge}));
    }
    let mut s = String::new();
    let mut line = |k: &str, v: &str| s.push_str(&format!("{k:<15} {v}\n"));
    line("Name:", n.name());
    line("UUID:", &n.uuid().to_string());
    if let Some(a) = active {
        line("Active:", yes_no(a));
    }
    line("Persistent:", persistent.map(yes_no).unwrap_or("unknown"));
    line("Autostart:", autostart.map(yes_no).unwrap_or("no autostart"));
    if let Some(b) = bridge {
        line("Bridge:", &b);
    }
    ctl.print(&s);
    Ok(())
}

pub fn define(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let file = cmd.req("file")?;
    let xml = read_file(file)?;
    let f = if cmd.flag("validate") { flags::DEFINE_VALIDATE } else { 0 };
    let n = ctl
        .conn()?
        .define_network(&xml, f)
        .map_err(|e| CmdError::api(format!("Failed to define network from {file}"), e))?;
    ctl.extra(&format!("Network {} defined from {file}\n", n.name()));
    Ok(())
}

pub fn create(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let file = cmd.req("file")?;
    let xml = read_file(file)?;
    let f = if cmd.flag("validate") { flags::DEFINE_VALIDATE } else { 0 };
    let n = ctl
        .conn()?
        .create_network_xml(&xml, f)
        .map_err(|e| CmdError::api(format!("Failed to create network from {file}"), e))?;
    ctl.extra(&format!("Network {} created from {file}\n", n.name()));
    Ok(())
}

fn simple(
    ctl: &mut Ctl,
    cmd: &Cmd,
    op: impl FnOnce(&Network) -> oxvirt_api::Result<()>,
    fail: &str,
    done: &str,
) -> Result<(), CmdError> {
    let n = lookup(ctl, cmd)?;
    let name = n.name().to_string();
    op(&n).map_err(|e| CmdError::api(fail.replace("{}", &name), e))?;
    ctl.extra(&done.replace("{}", &name));
    Ok(())
}

pub fn start(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    simple(ctl, cmd, |n| n.create(), "Failed to start network {}", "Network {} started\n")
}

pub fn destroy(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    simple(ctl, cmd, |n| n.destroy(), "Failed to destroy network {}", "Network {} destroyed\n")
}

pub fn undefine(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    simple(ctl, cmd, |n| n.undefine(), "Failed to undefine network {}", "Network {} has been undefined\n")
}

pub fn autostart(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    if cmd.flag("disable") {
        simple(
            ctl,
            cmd,
            |n| n.set_autostart(false),
            "failed to unmark network {} as autostarted",
            "Network {} unmarked as autostarted\n",
        )
    } else {
        simple(
            ctl,
            cmd,
            |n| n.set_autostart(true),
            "failed to mark network {} as autostarted",
            "Network {} marked as autostarted\n",
        )
    }
}

pub fn dumpxml(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let n = lookup(ctl, cmd)?;
    let f = if cmd.flag("inactive") { 1 } else { 0 };
    let xml = n.xml_desc(f).map_err(|e| CmdError::api("", e))?;
    ctl.print(&xml);
    Ok(())
}

pub fn uuid(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let key = cmd.req("network")?.to_string();
    let n = ctl
        .conn()?
        .lookup_network_by_name(&key)
        .map_err(|e| CmdError::api(format!("failed to get network '{key}'"), e))?;
    ctl.print(&format!("{}\n", n.uuid()));
    Ok(())
}

pub fn name(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let key = cmd.req("network")?.to_string();
    let conn = ctl.conn()?;
    let n = uuid::Uuid::parse_str(&key)
        .map_err(|_| oxvirt_api::Error::no_network(format!("no network with matching uuid '{key}'")))
        .and_then(|u| conn.lookup_network_by_uuid(&u))
        .map_err(|e| CmdError::api(format!("failed to get network '{key}'"), e))?;
    ctl.print(&format!("{}\n", n.name()));
    Ok(())
}

pub fn edit(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let n = lookup(ctl, cmd)?;
    let name = n.name().to_string();
    let conn = ctl.conn()?;
    let orig = n.xml_desc(1).map_err(|e| CmdError::api("", e))?;
    ctl.flush();
    let outcome = crate::edit::edit_loop(&orig, "xml", false, |xml, _| conn.define_network(xml, 0).map(|_| ()))?;
    match outcome {
        crate::edit::Outcome::Unchanged => ctl.extra(&format!("Network {name} XML configuration not changed.\n")),
        crate::edit::Outcome::Saved => ctl.extra(&format!("Network {name} XML configuration edited.\n")),
    }
    Ok(())
}

/// Seconds since the epoch as local `YYYY-MM-DD HH:MM:SS`, as virsh prints lease expiry.
fn local_time(secs: i64) -> String {
    let t: libc::time_t = secs as libc::time_t;
    // SAFETY: an all-zero `tm` is a valid value; localtime_r only writes into it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers refer to live locals for the duration of the call.
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return secs.to_string();
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

pub fn dhcp_leases(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let mac = cmd.get("mac").map(str::to_string);
    let n = lookup(ctl, cmd)?;
    let mut leases = n
        .dhcp_leases(mac.as_deref())
        .map_err(|e| CmdError::api(format!("Failed to get leases info for {}", n.name()), e))?;
    leases.sort_by(|a, b| (a.mac.as_deref(), a.iaid.as_deref()).cmp(&(b.mac.as_deref(), b.iaid.as_deref())));
    if cmd.flag("json") {
        return ctl.print_json(
            &serde_json::to_value(&leases).map_err(|e| CmdError::Failed(format!("cannot format JSON: {e}")))?,
        );
    }
    let mut t = Table::new(&["Expiry Time", "MAC address", "Protocol", "IP address", "Hostname", "Client ID or DUID"]);
    let dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
    for l in &leases {
        let proto = match l.kind {
            0 => "ipv4",
            1 => "ipv6",
            _ => "-",
        };
        t.push(vec![
            local_time(l.expiry_time),
            dash(&l.mac),
            proto.into(),
            format!("{}/{}", l.ipaddr, l.prefix),
            dash(&l.hostname),
            dash(&l.clientid),
        ]);
    }
    let s = t.render(!ctl.quiet);
    ctl.print(&s);
    Ok(())
}

const UPDATE_COMMANDS: &[&str] = &["none", "modify", "delete", "add-last", "add-first"];
/// virsh's section names, by number: the API's table.
use oxvirt_api::network_update::SECTION_NAMES as SECTIONS;

pub fn update(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    use oxvirt_api::netupdate::*;
    let n = lookup(ctl, cmd)?;
    cmd.exclusive("current", "live")?;
    cmd.exclusive("current", "config")?;
    let command_str = cmd.req("command")?;
    let command = if command_str == "add" {
        CMD_ADD_LAST
    } else {
        match UPDATE_COMMANDS.iter().position(|c| *c == command_str) {
            Some(i) if i > 0 => i as u32,
            _ => return Err(CmdError::Failed(format!("unrecognized command name '{command_str}'"))),
        }
    };
    let section_str = cmd.req("section")?;
    let section = match SECTIONS.iter().position(|c| *c == section_str) {
        Some(i) if i > 0 => i as u32,
        _ => return Err(CmdError::Failed(format!("unrecognized section name '{section_str}'"))),
    };
    let parent: i32 = cmd.int("parent-index")?.unwrap_or(-1);
    let xml_arg = cmd.req("xml")?;
    // virsh: an argument starting with '<' is the element itself, anything else a file holding it.
    let xml = if xml_arg.starts_with('<') { xml_arg.to_string() } else { read_file(xml_arg)? };
    let (config, live) = (cmd.flag("config"), cmd.flag("live"));
    let mut f = 0;
    if config {
        f |= AFFECT_CONFIG;
    }
    if live {
        f |= AFFECT_LIVE;
    }
    let name = n.name().to_string();
    n.update(command, section, parent, &xml, f)
        .map_err(|e| CmdError::api(format!("Failed to update network {name}"), e))?;
    let what = match (config, live) {
        (true, true) => "persistent config and live state",
        (true, false) => "persistent config",
        (false, true) => "live state",
        (false, false) if n.is_active().unwrap_or(false) => "live state",
        (false, false) => "persistent config",
    };
    // virsh prints no newline here; the blank line after every command ends it.
    ctl.extra(&format!("Updated network {name} {what}"));
    Ok(())
}
