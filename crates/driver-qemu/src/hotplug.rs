//! Live changes over QMP: vCPU hot(un)plug.

use oxvirt_api::{Error, ErrorDomain, Result};
use oxvirt_qmp::Qmp;
use serde_json::{json, Value};

/// Brings the number of online vCPUs to `count` with `device_add`/`device_del` of CPU objects.
pub fn set_vcpus(qmp: &mut Qmp, name: &str, count: u32) -> Result<()> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        Error::operation_failed(format!("{what} for domain '{name}': {e}")).in_domain(ErrorDomain::Qemu)
    };
    let slots = qmp.execute("query-hotpluggable-cpus", None).map_err(|e| fail("listing vCPU slots", &e))?;
    let slots: Vec<Value> = slots.as_array().cloned().unwrap_or_default();
    let online: Vec<&Value> = slots.iter().filter(|s| s.get("qom-path").is_some()).collect();
    let cur = online.len() as u32;
    if count > cur {
        let mut free: Vec<&Value> = slots.iter().filter(|s| s.get("qom-path").is_none()).collect();
        free.reverse();
        for i in 0..(count - cur) {
            let slot = free.pop().ok_or_else(|| fail("adding vCPUs", &"no free vCPU slot"))?;
            let mut args = slot.get("props").cloned().unwrap_or(json!({}));
            args["driver"] = slot.get("type").cloned().unwrap_or(json!(""));
            args["id"] = json!(format!("vcpu{}", cur + i));
            qmp.execute("device_add", Some(args)).map_err(|e| fail("adding a vCPU", &e))?;
        }
    } else if count < cur {
        // only hotplugged vCPUs (ours, with an id) can be removed
        let mut ours: Vec<String> = online
            .iter()
            .filter_map(|s| s.get("qom-path").and_then(|p| p.as_str()))
            .filter(|p| p.starts_with("/machine/peripheral/"))
            .map(|p| p.trim_start_matches("/machine/peripheral/").to_string())
            .collect();
        ours.sort();
        for _ in 0..(cur - count) {
            let id =
                ours.pop().ok_or_else(|| fail("removing vCPUs", &"only vCPUs added after start can be removed"))?;
            qmp.execute("device_del", Some(json!({"id": id}))).map_err(|e| fail("removing a vCPU", &e))?;
        }
    }
    Ok(())
}

/// Node names of hotplugged images; QEMU limits node names to 31 characters.
fn hotplug_node(alias: &str, n: usize, kind: char) -> String {
    let mut a: String = alias.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    a.truncate(22);
    format!("hp-{a}-{n}{kind}")
}

/// The `-blockdev`/`-device` JSON arguments of `argv`.
fn json_args(argv: &[String], flag: &str) -> Vec<Value> {
    argv.windows(2).filter(|w| w[0] == flag).filter_map(|w| serde_json::from_str::<Value>(&w[1]).ok()).collect()
}

fn libvirt_node_number(name: &str) -> Option<usize> {
    name.strip_prefix("libvirt-")?.split('-').next()?.parse().ok()
}

/// Hot-plugs `disk` into the running domain `live` (blockdev-add of its image chain, then
/// device_add), returning the live definition with the disk and its address. Undoes the added
/// nodes when the device cannot be added.
pub fn attach_disk(
    qmp: &mut Qmp,
    live: &oxvirt_xml::domain::Domain,
    disk: oxvirt_xml::domain::Disk,
    env: &crate::command::BuildEnv,
) -> Result<oxvirt_xml::domain::Domain> {
    let name = live.name.clone();
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        Error::operation_failed(format!("{what} for domain '{name}': {e}")).in_domain(ErrorDomain::Qemu)
    };
    let target = disk.target.dev.clone();
    let mut def = live.clone();
    let devices = def.devices.get_or_insert_with(Default::default);
    if devices.disks.iter().any(|d| d.target.dev == target) {
        return Err(Error::operation_invalid(format!("target {target} already exists")).in_domain(ErrorDomain::Qemu));
    }
    devices.disks.push(disk);
    crate::command::assign_addresses(&mut def, env)
        .map_err(|e| Error::unsupported_config(e).in_domain(ErrorDomain::Qemu))?;
    // The live definition has its aliases; the new disk gets its id only in the command line.
    let mut run = def.clone();
    crate::command::assign_aliases(&mut run);
    let cmd =
        crate::command::build(&run, env).map_err(|e| Error::unsupported_config(e).in_domain(ErrorDomain::Qemu))?;
    // The new disk is last, so its image chain got the lowest node numbers: its top node is the
    // smallest-numbered drive of all devices.
    let devices_json = json_args(&cmd.argv, "-device");
    let (top, device) = devices_json
        .iter()
        .filter_map(|d| {
            let n = libvirt_node_number(d.get("drive")?.as_str()?)?;
            Some((n, d.clone()))
        })
        .min_by_key(|(n, _)| *n)
        .ok_or_else(|| fail("attaching a disk", &"only disks with a source image can be hot-plugged"))?;
    let alias = device.get("id").and_then(|v| v.as_str()).unwrap_or("disk").to_string();
    let rename = |s: &str| -> String {
        match libvirt_node_number(s) {
            Some(n) if n <= top && s.ends_with("-format") => hotplug_node(&alias, n, 'f'),
            Some(n) if n <= top && s.ends_with("-storage") => hotplug_node(&alias, n, 's'),
            _ => s.to_string(),
        }
    };
    let mut added: Vec<String> = Vec::new();
    let undo = |qmp: &mut Qmp, added: &[String]| {
        for n in added.iter().rev() {
            let _ = qmp.execute("blockdev-del", Some(json!({"node-name": n})));
        }
    };
    for mut node in json_args(&cmd.argv, "-blockdev") {
        let Some(nn) = node.get("node-name").and_then(|v| v.as_str()).map(str::to_string) else { continue };
        if libvirt_node_number(&nn).is_none_or(|n| n > top) {
            continue;
        }
        for key in ["node-name", "file", "backing"] {
            if let Some(s) = node.get(key).and_then(|v| v.as_str()).map(str::to_string) {
                node[key] = json!(rename(&s));
            }
        }
        if let Err(e) = qmp.execute("blockdev-add", Some(node)) {
            undo(qmp, &added);
            return Err(fail("adding the disk image", &e));
        }
        added.push(rename(&nn));
    }
    let mut device = device;
    if let Some(d) = device.get("drive").and_then(|v| v.as_str()).map(str::to_string) {
        device["drive"] = json!(rename(&d));
    }
    if let Err(e) = qmp.execute("device_add", Some(device)) {
        undo(qmp, &added);
        return Err(fail("adding the disk device", &e));
    }
    Ok(def)
}

/// Unplugs the disk with `target` dev: device_del, wait for the guest to release it, then
/// blockdev-del of its nodes. Returns the live definition without it.
pub fn detach_disk(
    qmp: &mut Qmp,
    live: &oxvirt_xml::domain::Domain,
    target: &str,
) -> Result<oxvirt_xml::domain::Domain> {
    let name = live.name.clone();
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        Error::operation_failed(format!("{what} for domain '{name}': {e}")).in_domain(ErrorDomain::Qemu)
    };
    let mut with_alias = live.clone();
    crate::command::assign_aliases(&mut with_alias);
    let devices = with_alias.devices.clone().unwrap_or_default();
    let idx = devices.disks.iter().position(|d| d.target.dev == target).ok_or_else(|| {
        Error::coded(oxvirt_api::ErrorCode::DeviceMissing, ErrorDomain::Qemu, format!("no disk with target '{target}'"))
    })?;
    let alias = devices.disks[idx].info.alias.as_ref().map(|a| a.name.clone()).unwrap_or_default();
    // the top node, from QEMU itself (cold-plugged and hot-plugged disks are named differently)
    let blocks = qmp.execute("query-block", None).map_err(|e| fail("listing block devices", &e))?;
    let top = blocks.as_array().into_iter().flatten().find_map(|b| {
        let qdev = b.get("qdev")?.as_str()?;
        (qdev == alias || qdev.contains(&format!("/{alias}/")))
            .then(|| b.get("inserted")?.get("node-name")?.as_str().map(str::to_string))?
    });
    qmp.execute("device_del", Some(json!({"id": alias}))).map_err(|e| fail("removing the disk device", &e))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match qmp.wait_event("DEVICE_DELETED", left) {
            Ok(ev) if ev.data.get("device").and_then(|d| d.as_str()) == Some(alias.as_str()) => break,
            Ok(_) => continue,
            Err(e) => {
                return Err(fail(
                    "waiting for the guest to release the disk (is ACPI hotplug enabled in the guest?)",
                    &e,
                ))
            }
        }
    }
    if let Some(top) = top {
        let storage = top.replace("-format", "-storage").trim_end_matches('f').to_string();
        let storage = if top.starts_with("hp-") { format!("{storage}s") } else { storage };
        let _ = qmp.execute("blockdev-del", Some(json!({"node-name": top})));
        let _ = qmp.execute("blockdev-del", Some(json!({"node-name": storage})));
    }
    let mut out = live.clone();
    if let Some(d) = out.devices.as_mut() {
        d.disks.retain(|d| d.target.dev != target);
    }
    Ok(out)
}
