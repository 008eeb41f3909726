//! Host commands and the shell's own (help, connect, quit).

use serde_json::json;

use crate::commands::{CmdDef, Ctl, OptKind, COMMANDS, GROUPS};
use crate::error::CmdError;
use crate::parse::{find_command, Cmd};

/// The libvirt API level oxvirt implements; reported where virsh reports libvirt's version.
pub const LIBVIRT_API_VERSION: &str = "9.0.0";

fn api(ctx: &str) -> impl FnOnce(oxvirt_api::Error) -> CmdError + '_ {
    move |e| CmdError::api(ctx, e)
}

pub fn capabilities(ctl: &mut Ctl, _: &Cmd) -> Result<(), CmdError> {
    let caps = ctl.conn()?.capabilities().map_err(api("failed to get capabilities"))?;
    ctl.print(&caps);
    ctl.print("\n");
    Ok(())
}

pub fn domcapabilities(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let caps = ctl
        .conn()?
        .domain_capabilities(cmd.get("emulatorbin"), cmd.get("arch"), cmd.get("machine"), cmd.get("virttype"))
        .map_err(api("failed to get emulator capabilities"))?;
    ctl.print(&caps);
    ctl.print("\n");
    Ok(())
}

pub fn hostname(ctl: &mut Ctl, _: &Cmd) -> Result<(), CmdError> {
    let h = ctl.conn()?.hostname().map_err(api("failed to get hostname"))?;
    ctl.print(&format!("{h}\n"));
    Ok(())
}

pub fn uri(ctl: &mut Ctl, _: &Cmd) -> Result<(), CmdError> {
    let u = ctl.conn()?.uri();
    ctl.print(&format!("{u}\n"));
    Ok(())
}

pub fn nodeinfo(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let n = ctl.conn()?.node_info().map_err(api("failed to get node information"))?;
    if cmd.flag("json") {
        return ctl.print_json(&json!({
            "cpu_model": n.model, "cpus": n.cpus, "mhz": n.mhz, "sockets": n.sockets,
            "cores_per_socket": n.cores, "threads_per_core": n.threads, "numa_cells": n.nodes, "memory_kib": n.memory,
        }));
    }
    let mut s = String::new();
    for (k, v) in [
        ("CPU model:", n.model.clone()),
        ("CPU(s):", n.cpus.to_string()),
        ("CPU frequency:", format!("{} MHz", n.mhz)),
        ("CPU socket(s):", n.sockets.to_string()),
        ("Core(s) per socket:", n.cores.to_string()),
        ("Thread(s) per core:", n.threads.to_string()),
        ("NUMA cell(s):", n.nodes.to_string()),
        ("Memory size:", format!("{} KiB", n.memory)),
    ] {
        s.push_str(&format!("{k:<20} {v}\n"));
    }
    ctl.print(&s);
    Ok(())
}

/// `major.minor.micro` from libvirt's packed version number.
fn version_string(v: u64) -> String {
    format!("{}.{}.{}", v / 1_000_000, (v / 1000) % 1000, v % 1000)
}

pub fn version(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let conn = ctl.conn()?;
    let kind = conn.kind().to_uppercase();
    let mut s = format!("Compiled against library: libvirt {LIBVIRT_API_VERSION}\n");
    s.push_str(&format!("Using library: libvirt {LIBVIRT_API_VERSION}\n"));
    s.push_str(&format!("Using API: {kind} {LIBVIRT_API_VERSION}\n"));
    let hv = conn.hypervisor_version().map_err(api("failed to get the hypervisor version"))?;
    s.push_str(&format!("Running hypervisor: {kind} {}\n", version_string(hv)));
    if cmd.flag("daemon") {
        s.push_str(&format!("Running against daemon: {LIBVIRT_API_VERSION}\n"));
    }
    ctl.print(&s);
    Ok(())
}

pub fn connect(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    if let Some(u) = cmd.get("name") {
        ctl.uri = Some(u.to_string());
    }
    ctl.readonly = cmd.flag("readonly");
    ctl.set_conn(None);
    ctl.conn()?;
    Ok(())
}

pub fn quit(ctl: &mut Ctl, _: &Cmd) -> Result<(), CmdError> {
    ctl.imode = false;
    ctl.stop = true;
    Ok(())
}

pub fn help(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    match cmd.get("command") {
        None => {
            let mut s = String::from("Grouped commands:\n\n");
            for (title, kw) in GROUPS {
                s.push_str(&group_help(title, kw));
                s.push('\n');
            }
            s.push_str(JSON_NOTE);
            ctl.print(&s);
            Ok(())
        }
        Some(name) => {
            if let Some(def) = find_command(name) {
                ctl.print(&command_help(def));
                return Ok(());
            }
            if let Some((title, kw)) = GROUPS.iter().find(|(t, k)| *k == name || *t == name) {
                let s = group_help(title, kw);
                ctl.print(&s);
                return Ok(());
            }
            Err(CmdError::Usage(format!("command or command group '{name}' doesn't exist")))
        }
    }
}

const JSON_NOTE: &str = " oxvirt extensions:\n    --json on list, dominfo, domstate, nodeinfo, net-list, net-info, pool-list, pool-info,\n    vol-list, vol-info, nodedev-list and nodedev-info prints the result as JSON with stable\n    key names (sizes in bytes for storage, KiB for memory) instead of the table or key/value\n    text.\n";

fn group_help(title: &str, kw: &str) -> String {
    let mut s = format!(" {title} (help keyword '{kw}'):\n");
    let mut cmds: Vec<&CmdDef> = COMMANDS.iter().filter(|c| c.group == kw).collect();
    cmds.sort_by_key(|c| c.name);
    for c in cmds {
        s.push_str(&format!("    {:<30} {}\n", c.name, c.help));
    }
    s
}

/// virsh's NAME / SYNOPSIS / DESCRIPTION / OPTIONS layout.
pub fn command_help(def: &CmdDef) -> String {
    let mut s = format!("  NAME\n    {} - {}\n\n  SYNOPSIS\n    {}", def.name, def.help, def.name);
    for o in def.opts {
        s.push(' ');
        s.push_str(&match o.kind {
            OptKind::Bool => format!("[--{}]", o.name),
            OptKind::Int if o.required => format!("<{}>", o.name),
            OptKind::Int => format!("[--{} <number>]", o.name),
            OptKind::Str => format!("[--{} <string>]", o.name),
            OptKind::Data if o.required => format!("<{}>", o.name),
            OptKind::Data => format!("[<{}>]", o.name),
            OptKind::Argv => format!("[<{}>]...", o.name),
        });
    }
    s.push('\n');
    if !def.desc.is_empty() {
        s.push_str(&format!("\n  DESCRIPTION\n    {}\n", def.desc));
    }
    if !def.opts.is_empty() {
        s.push_str("\n  OPTIONS\n");
        for o in def.opts {
            let left = match o.kind {
                OptKind::Bool => format!("--{}", o.name),
                OptKind::Int if o.required => format!("[--{}] <number>", o.name),
                OptKind::Int => format!("--{} <number>", o.name),
                OptKind::Str => format!("--{} <string>", o.name),
                OptKind::Data | OptKind::Argv => format!("[--{}] <string>", o.name),
            };
            s.push_str(&format!("    {left:<15}  {}\n", o.help));
        }
    }
    s.push('\n');
    s
}
