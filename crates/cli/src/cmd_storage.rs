//! Storage pool and volume commands.

use oxvirt_api::{flags, PoolState, StoragePool, StorageVol};
use serde_json::json;

use crate::commands::Ctl;
use crate::error::CmdError;
use crate::parse::Cmd;
use crate::table::{pretty_capacity, Table};
use crate::util::{parse_model, read_file};

pub fn lookup_pool(ctl: &mut Ctl, key: &str) -> Result<StoragePool, CmdError> {
    ctl.conn()?.lookup_storage_pool(key).map_err(|e| CmdError::api(format!("failed to get pool '{key}'"), e))
}

fn pool(ctl: &mut Ctl, cmd: &Cmd) -> Result<StoragePool, CmdError> {
    let key = cmd.req("pool")?.to_string();
    lookup_pool(ctl, &key)
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

const VOL_TYPES: [&str; 6] = ["file", "block", "dir", "network", "netdir", "ploop"];

fn vol_type(k: i32) -> &'static str {
    usize::try_from(k).ok().and_then(|k| VOL_TYPES.get(k)).copied().unwrap_or("unknown")
}

pub fn pool_list(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    use flags::*;
    cmd.exclusive("all", "inactive")?;
    cmd.exclusive("details", "uuid")?;
    cmd.exclusive("details", "name")?;
    let mut f = LIST_ACTIVE;
    if cmd.flag("inactive") {
        f = LIST_INACTIVE;
    }
    if cmd.flag("all") {
        f = LIST_ACTIVE | LIST_INACTIVE;
    }
    for (n, b) in [
        ("autostart", LIST_AUTOSTART),
        ("no-autostart", LIST_NO_AUTOSTART),
        ("persistent", LIST_PERSISTENT),
        ("transient", LIST_TRANSIENT),
    ] {
        if cmd.flag(n) {
            f |= b;
        }
    }
    let types: Option<Vec<String>> =
        cmd.get("type").map(|t| t.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect());
    let mut pools = ctl.conn()?.list_all_storage_pools(f).map_err(|e| CmdError::api("Failed to list pools", e))?;
    if let Some(types) = &types {
        pools.retain(|p| {
            let pool = p.xml_desc(0).ok().and_then(|x| parse_model::<oxvirt_xml::storage::StoragePool>(&x));
            pool.is_some_and(|pool| types.iter().any(|t| *t == oxvirt_xml::XmlValue::to_xml_value(&pool.kind)))
        });
    }
    pools.sort_by_key(|p| p.name().to_lowercase());
    let details = cmd.flag("details");

    if cmd.flag("json") {
        let arr: Vec<_> = pools
            .iter()
            .map(|p| {
                let info = p.info().ok();
                json!({"name": p.name(), "uuid": p.uuid().to_string(), "state": info.map(|i| i.state.as_str()),
                       "autostart": p.autostart().ok(), "persistent": p.is_persistent().ok(),
                       "capacity": info.map(|i| i.capacity), "allocation": info.map(|i| i.allocation), "available": info.map(|i| i.available)})
            })
            .collect();
        return ctl.print_json(&serde_json::Value::Array(arr));
    }

    if !details && (cmd.flag("uuid") || cmd.flag("name")) {
        let mut s = String::new();
        for p in &pools {
            if cmd.flag("uuid") {
                s.push_str(&format!("{:<36}{}", p.uuid().to_string(), if cmd.flag("name") { ' ' } else { '\n' }));
            }
            if cmd.flag("name") {
                s.push_str(&format!("{:<20}\n", p.name()));
            }
        }
        ctl.print(&s);
        return Ok(());
    }
    let mut t = if details {
        Table::new(&["Name", "State", "Autostart", "Persistent", "Capacity", "Allocation", "Available"])
    } else {
        Table::new(&["Name", "State", "Autostart"])
    };
    let mut info_failed = false;
    for p in &pools {
        let auto = p.autostart().map(|a| yes_no(a).to_string()).unwrap_or_else(|_| "no autostart".into());
        let mut row = vec![p.name().to_string()];
        match p.info() {
            Err(_) => {
                info_failed = true;
                row.extend(["unknown".to_string(), auto]);
                if details {
                    row.push(p.is_persistent().map(yes_no).unwrap_or("unknown").into());
                    row.extend(["unknown".to_string(), "unknown".into(), "unknown".into()]);
                }
            }
            Ok(i) if details => {
                row.extend([
                    i.state.as_str().to_string(),
                    auto,
                    p.is_persistent().map(yes_no).unwrap_or("unknown").into(),
                ]);
                if matches!(i.state, PoolState::Running | PoolState::Degraded) {
                    row.extend([
                        pretty_capacity(i.capacity),
                        pretty_capacity(i.allocation),
                        pretty_capacity(i.available),
                    ]);
                } else {
                    row.extend(["-".to_string(), "-".into(), "-".into()]);
                }
            }
            Ok(_) => {
                let st = if p.is_active().unwrap_or(false) { "active" } else { "inactive" };
                row.extend([st.to_string(), auto]);
            }
        }
        t.push(row);
    }
    if info_failed {
        eprintln!("error: Could not retrieve pool information");
    }
    let out = t.render(!ctl.quiet);
    ctl.print(&out);
    Ok(())
}

pub fn pool_info(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let p = pool(ctl, cmd)?;
    let info = p.info();
    if cmd.flag("json") {
        let i = info.map_err(|e| CmdError::api("", e))?;
        return ctl.print_json(&json!({"name": p.name(), "uuid": p.uuid().to_string(), "state": i.state.as_str(),
            "persistent": p.is_persistent().ok(), "autostart": p.autostart().ok(),
            "capacity": i.capacity, "allocation": i.allocation, "available": i.available}));
    }
    let mut s = String::new();
    let mut line = |k: &str, v: &str| s.push_str(&format!("{k:<15} {v}\n"));
    line("Name:", p.name());
    line("UUID:", &p.uuid().to_string());
    let res = match info {
        Ok(i) => {
            line("State:", i.state.as_str());
            line("Persistent:", p.is_persistent().map(yes_no).unwrap_or("unknown"));
            line("Autostart:", p.autostart().map(yes_no).unwrap_or("no autostart"));
            if matches!(i.state, PoolState::Running | PoolState::Degraded) {
                let fmt = |v: u64| if cmd.flag("bytes") { v.to_string() } else { pretty_capacity(v) };
                line("Capacity:", &fmt(i.capacity));
                line("Allocation:", &fmt(i.allocation));
                line("Available:", &fmt(i.available));
            }
            Ok(())
        }
        Err(e) => Err(CmdError::api("", e)),
    };
    ctl.print(&s);
    res
}

pub fn pool_define(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let file = cmd.req("file")?;
    let xml = read_file(file)?;
    let f = if cmd.flag("validate") { 1 } else { 0 };
    let p = ctl
        .conn()?
        .define_storage_pool(&xml, f)
        .map_err(|e| CmdError::api(format!("Failed to define pool from {file}"), e))?;
    ctl.extra(&format!("Pool {} defined from {file}\n", p.name()));
    Ok(())
}

/// virsh's `--build/--overwrite/--no-overwrite` as pool create flags.
fn build_flags(cmd: &Cmd, create: bool) -> Result<u32, CmdError> {
    cmd.exclusive("overwrite", "no-overwrite")?;
    let mut f = 0;
    if create {
        if cmd.flag("build") {
            f |= 1;
        }
        if cmd.flag("overwrite") {
            f |= 2;
        }
        if cmd.flag("no-overwrite") {
            f |= 4;
        }
    } else {
        // virStoragePoolBuildFlags: NO_OVERWRITE = 4, OVERWRITE = 8
        if cmd.flag("no-overwrite") {
            f |= 4;
        }
        if cmd.flag("overwrite") {
            f |= 8;
        }
    }
    Ok(f)
}

pub fn pool_create(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let file = cmd.req("file")?;
    let f = build_flags(cmd, true)?;
    let xml = read_file(file)?;
    let p = ctl
        .conn()?
        .create_storage_pool_xml(&xml, f)
        .map_err(|e| CmdError::api(format!("Failed to create pool from {file}"), e))?;
    ctl.extra(&format!("Pool {} created from {file}\n", p.name()));
    Ok(())
}

fn simple(
    ctl: &mut Ctl,
    cmd: &Cmd,
    op: impl FnOnce(&StoragePool) -> oxvirt_api::Result<()>,
    fail: &str,
    done: &str,
) -> Result<(), CmdError> {
    let p = pool(ctl, cmd)?;
    let name = p.name().to_string();
    op(&p).map_err(|e| CmdError::api(fail.replace("{}", &name), e))?;
    ctl.extra(&done.replace("{}", &name));
    Ok(())
}

pub fn pool_start(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let f = build_flags(cmd, true)?;
    simple(ctl, cmd, |p| p.create(f), "Failed to start pool {}", "Pool {} started\n")
}

pub fn pool_build(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let f = build_flags(cmd, false)?;
    simple(ctl, cmd, |p| p.build(f), "Failed to build pool {}", "Pool {} built\n")
}

pub fn pool_destroy(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    simple(ctl, cmd, |p| p.destroy(), "Failed to destroy pool {}", "Pool {} destroyed\n")
}

pub fn pool_delete(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    simple(ctl, cmd, |p| p.delete(0), "Failed to delete pool {}", "Pool {} deleted\n")
}

pub fn pool_undefine(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    simple(ctl, cmd, |p| p.undefine(), "Failed to undefine pool {}", "Pool {} has been undefined\n")
}

pub fn pool_refresh(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    simple(ctl, cmd, |p| p.refresh(0), "Failed to refresh pool {}", "Pool {} refreshed\n")
}

pub fn pool_autostart(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    if cmd.flag("disable") {
        simple(
            ctl,
            cmd,
            |p| p.set_autostart(false),
            "failed to unmark pool {} as autostarted",
            "Pool {} unmarked as autostarted\n",
        )
    } else {
        simple(
            ctl,
            cmd,
            |p| p.set_autostart(true),
            "failed to mark pool {} as autostarted",
            "Pool {} marked as autostarted\n",
        )
    }
}

pub fn pool_dumpxml(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let p = pool(ctl, cmd)?;
    let f = if cmd.flag("inactive") { 1 } else { 0 };
    let xml = p.xml_desc(f).map_err(|e| CmdError::api("", e))?;
    ctl.print(&xml);
    Ok(())
}

/// virsh's volume lookup: by name within `--pool` if given, else by key, then by path.
fn vol(ctl: &mut Ctl, cmd: &Cmd, pool_opt: bool) -> Result<StorageVol, CmdError> {
    let key = cmd.req("vol")?.to_string();
    let pname = if pool_opt { cmd.get("pool").map(str::to_string) } else { None };
    let conn = ctl.conn()?;
    let mut last_err = None;
    let mut found = None;
    if let Some(pn) = &pname {
        let p = lookup_pool(ctl, pn)?;
        if !p.is_active().unwrap_or(false) {
            return Err(CmdError::Failed(format!("pool '{pn}' is not active")));
        }
        match p.lookup_volume_by_name(&key) {
            Ok(v) => found = Some(v),
            Err(e) => last_err = Some(e),
        }
    }
    if found.is_none() {
        match conn.lookup_storage_vol_by_key(&key).or_else(|_| conn.lookup_storage_vol_by_path(&key)) {
            Ok(v) => found = Some(v),
            Err(e) => last_err = last_err.or(Some(e)),
        }
    }
    let Some(v) = found else {
        let ctx = if pname.is_some() || !pool_opt {
            format!("failed to get vol '{key}'")
        } else {
            format!("failed to get vol '{key}', specifying --pool might help")
        };
        return Err(match last_err {
            Some(e) => CmdError::api(ctx, e),
            None => CmdError::Failed(ctx),
        });
    };
    if let Some(pn) = &pname {
        let p = lookup_pool(ctl, pn)?;
        if v.pool_name() != p.name() {
            return Err(CmdError::Failed(format!("Requested volume '{key}' is not in pool '{}'", p.name())));
        }
    }
    Ok(v)
}

pub fn vol_list(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let p = pool(ctl, cmd)?;
    let mut vols = p.list_all_volumes().map_err(|e| CmdError::api("Failed to list storage volumes", e))?;
    vols.sort_by(|a, b| a.name().cmp(b.name()));
    let details = cmd.flag("details");
    if cmd.flag("json") {
        let arr: Vec<_> = vols
            .iter()
            .map(|v| {
                let i = v.info().ok();
                json!({"name": v.name(), "path": v.path().ok(), "type": i.map(|i| vol_type(i.kind)),
                       "capacity": i.map(|i| i.capacity), "allocation": i.map(|i| i.allocation)})
            })
            .collect();
        return ctl.print_json(&serde_json::Value::Array(arr));
    }
    let mut t = if details {
        Table::new(&["Name", "Path", "Type", "Capacity", "Allocation"])
    } else {
        Table::new(&["Name", "Path"])
    };
    for v in &vols {
        let mut row = vec![v.name().to_string(), v.path().unwrap_or_else(|_| "unknown".into())];
        if details {
            match v.info() {
                Ok(i) => row.extend([
                    vol_type(i.kind).to_string(),
                    pretty_capacity(i.capacity),
                    pretty_capacity(i.allocation),
                ]),
                Err(_) => row.extend(["unknown".to_string(), "unknown".into(), "unknown".into()]),
            }
        }
        t.push(row);
    }
    let out = t.render(!ctl.quiet);
    ctl.print(&out);
    Ok(())
}

pub fn vol_info(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let v = vol(ctl, cmd, true)?;
    let i = v.info().map_err(|e| CmdError::api("", e))?;
    if cmd.flag("json") {
        return ctl.print_json(&json!({"name": v.name(), "pool": v.pool_name(), "type": vol_type(i.kind),
            "capacity": i.capacity, "allocation": i.allocation}));
    }
    let alloc_label = if cmd.flag("physical") { "Physical:" } else { "Allocation:" };
    let fmt = |x: u64| if cmd.flag("bytes") { format!("{x} bytes") } else { pretty_capacity(x) };
    let s = format!(
        "{:<15} {}\n{:<15} {}\n{:<15} {}\n{:<15} {}\n",
        "Name:",
        v.name(),
        "Type:",
        vol_type(i.kind),
        "Capacity:",
        fmt(i.capacity),
        alloc_label,
        fmt(i.allocation)
    );
    ctl.print(&s);
    Ok(())
}

pub fn vol_dumpxml(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let v = vol(ctl, cmd, true)?;
    let xml = v.xml_desc(0).map_err(|e| CmdError::api("", e))?;
    ctl.print(&xml);
    Ok(())
}

pub fn vol_create(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let p = pool(ctl, cmd)?;
    let file = cmd.req("file")?;
    let xml = read_file(file)?;
    let mut f = 0;
    if cmd.flag("prealloc-metadata") {
        f |= 1;
    }
    if cmd.flag("validate") {
        f |= 4;
    }
    let v = p.create_volume_xml(&xml, f).map_err(|e| CmdError::api(format!("Failed to create vol from {file}"), e))?;
    ctl.extra(&format!("Vol {} created from {file}\n", v.name()));
    Ok(())
}

pub fn vol_delete(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let v = vol(ctl, cmd, true)?;
    let f = if cmd.flag("delete-snapshots") { 2 } else { 0 };
    let name = v.name().to_string();
    v.delete(f).map_err(|e| CmdError::api(format!("Failed to delete vol {name}"), e))?;
    ctl.extra(&format!("Vol {name} deleted\n"));
    Ok(())
}

pub fn vol_path(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let v = vol(ctl, cmd, true)?;
    let p = v.path().map_err(|e| CmdError::api("", e))?;
    ctl.print(&format!("{p}\n"));
    Ok(())
}

pub fn vol_key(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let v = vol(ctl, cmd, true)?;
    ctl.print(&format!("{}\n", v.key()));
    Ok(())
}

pub fn vol_name(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let v = vol(ctl, cmd, false)?;
    ctl.print(&format!("{}\n", v.name()));
    Ok(())
}

/// A size with an optional unit suffix, in bytes (the unit-less default), as virsh's
/// vol-create-as and vol-resize read it (`k`/`KiB` = 1024, `KB` = 1000, up to exbibytes).
pub fn scaled_bytes(s: &str) -> Option<u64> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let (base, exp): (u64, u32) = match unit.to_ascii_lowercase().as_str() {
        "" | "b" | "byte" | "bytes" => (1, 0),
        "k" | "kib" => (1024, 1),
        "kb" => (1000, 1),
        "m" | "mib" => (1024, 2),
        "mb" => (1000, 2),
        "g" | "gib" => (1024, 3),
        "gb" => (1000, 3),
        "t" | "tib" => (1024, 4),
        "tb" => (1000, 4),
        "p" | "pib" => (1024, 5),
        "pb" => (1000, 5),
        "e" | "eib" => (1024, 6),
        "eb" => (1000, 6),
        _ => return None,
    };
    n.checked_mul(base.checked_pow(exp)?)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('\'', "&apos;").replace('"', "&quot;")
}

/// The pool XML virsh's pool-define-as / pool-create-as build (dir and fs need no more).
fn pool_xml_as(cmd: &Cmd) -> Result<(String, String), CmdError> {
    let name = cmd.req("name")?.to_string();
    let kind = cmd.req("type")?;
    let mut x = format!("<pool type='{}'>\n  <name>{}</name>\n", xml_escape(kind), xml_escape(&name));
    let (host, path, dev, sname, fmt) = (
        cmd.get("source-host"),
        cmd.get("source-path"),
        cmd.get("source-dev"),
        cmd.get("source-name"),
        cmd.get("source-format"),
    );
    if host.is_some() || path.is_some() || dev.is_some() || sname.is_some() || fmt.is_some() {
        x.push_str("  <source>\n");
        if let Some(h) = host {
            x.push_str(&format!("    <host name='{}'/>\n", xml_escape(h)));
        }
        if let Some(p) = path {
            x.push_str(&format!("    <dir path='{}'/>\n", xml_escape(p)));
        }
        if let Some(d) = dev {
            x.push_str(&format!("    <device path='{}'/>\n", xml_escape(d)));
        }
        if let Some(f) = fmt {
            x.push_str(&format!("    <format type='{}'/>\n", xml_escape(f)));
        }
        if let Some(n) = sname {
            x.push_str(&format!("    <name>{}</name>\n", xml_escape(n)));
        }
        x.push_str("  </source>\n");
    }
    if let Some(t) = cmd.get("target") {
        x.push_str(&format!("  <target>\n    <path>{}</path>\n  </target>\n", xml_escape(t)));
    }
    x.push_str("</pool>\n");
    Ok((name, x))
}

pub fn pool_define_as(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let (name, xml) = pool_xml_as(cmd)?;
    if cmd.flag("print-xml") {
        ctl.print(&xml);
        return Ok(());
    }
    let p = ctl
        .conn()?
        .define_storage_pool(&xml, 0)
        .map_err(|e| CmdError::api(format!("Failed to define pool {name}"), e))?;
    ctl.extra(&format!("Pool {} defined\n", p.name()));
    Ok(())
}

pub fn pool_create_as(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let f = build_flags(cmd, true)?;
    let (name, xml) = pool_xml_as(cmd)?;
    if cmd.flag("print-xml") {
        ctl.print(&xml);
        return Ok(());
    }
    let p = ctl
        .conn()?
        .create_storage_pool_xml(&xml, f)
        .map_err(|e| CmdError::api(format!("Failed to create pool {name}"), e))?;
    ctl.extra(&format!("Pool {} created\n", p.name()));
    Ok(())
}

fn size_arg(cmd: &Cmd, name: &str) -> Result<Option<u64>, CmdError> {
    cmd.get(name).map(|s| scaled_bytes(s).ok_or_else(|| CmdError::Failed(format!("Malformed size {s}")))).transpose()
}

pub fn vol_create_as(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let p = pool(ctl, cmd)?;
    let name = cmd.req("name")?.to_string();
    let capacity = size_arg(cmd, "capacity")?.unwrap_or(0);
    let mut x = format!("<volume>\n  <name>{}</name>\n  <capacity>{capacity}</capacity>\n", xml_escape(&name));
    if let Some(a) = size_arg(cmd, "allocation")? {
        x.push_str(&format!("  <allocation>{a}</allocation>\n"));
    }
    if let Some(f) = cmd.get("format") {
        x.push_str(&format!("  <target>\n    <format type='{}'/>\n  </target>\n", xml_escape(f)));
    }
    if let Some(b) = cmd.get("backing-vol") {
        // virsh: a volume of this pool by name, else any by key, else by path; else the path as given
        let conn = ctl.conn()?;
        let path = p
            .lookup_volume_by_name(b)
            .or_else(|_| conn.lookup_storage_vol_by_key(b))
            .or_else(|_| conn.lookup_storage_vol_by_path(b))
            .and_then(|v| v.path())
            .map_err(|e| CmdError::api(format!("failed to get vol '{b}'"), e))?;
        x.push_str(&format!("  <backingStore>\n    <path>{}</path>\n", xml_escape(&path)));
        if let Some(f) = cmd.get("backing-vol-format") {
            x.push_str(&format!("    <format type='{}'/>\n", xml_escape(f)));
        }
        x.push_str("  </backingStore>\n");
    }
    x.push_str("</volume>\n");
    if cmd.flag("print-xml") {
        ctl.print(&x);
        return Ok(());
    }
    let f = if cmd.flag("prealloc-metadata") { 1 } else { 0 };
    let v = p.create_volume_xml(&x, f).map_err(|e| CmdError::api(format!("Failed to create vol {name}"), e))?;
    ctl.extra(&format!("Vol {} created\n", v.name()));
    Ok(())
}

pub fn vol_clone(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let src = vol(ctl, cmd, true)?;
    let new = cmd.req("newname")?.to_string();
    let pool = src.pool().map_err(|e| CmdError::api("failed to get parent pool", e))?;
    let orig = src.xml_desc(0).map_err(|e| CmdError::api("", e))?;
    let mut def: oxvirt_xml::storage::StorageVol =
        parse_model(&orig).ok_or_else(|| CmdError::Failed("failed to read the volume's XML".into()))?;
    def.name = new.clone();
    def.key = None;
    let xml = oxvirt_xml::XmlDocument::to_xml_string(&def);
    if cmd.flag("print-xml") {
        ctl.print(&xml);
        return Ok(());
    }
    let mut f = 0;
    if cmd.flag("prealloc-metadata") {
        f |= 1;
    }
    if cmd.flag("reflink") {
        f |= 2;
    }
    pool.create_volume_xml_from(&xml, &src, f)
        .map_err(|e| CmdError::api(format!("Failed to clone vol from {}", src.name()), e))?;
    ctl.extra(&format!("Vol {new} cloned from {}\n", src.name()));
    Ok(())
}

pub fn vol_resize(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let mut f = 0;
    let shrink = cmd.flag("shrink");
    let mut delta = cmd.flag("delta");
    let raw = cmd.req("capacity")?.to_string();
    let text = match raw.strip_prefix('-') {
        Some(rest) => {
            delta = true;
            if !shrink {
                return Err(CmdError::Failed("negative size requires --shrink".into()));
            }
            rest.to_string()
        }
        None => raw.clone(),
    };
    if cmd.flag("allocate") {
        f |= 1;
    }
    if delta {
        f |= 2;
    }
    if shrink {
        f |= 4;
    }
    let cap = scaled_bytes(&text).ok_or_else(|| CmdError::Failed(format!("Malformed size {text}")))?;
    let v = vol(ctl, cmd, true)?;
    let name = v.name().to_string();
    v.resize(cap, f).map_err(|e| CmdError::api(format!("Failed to change size of volume '{name}' to {text}"), e))?;
    ctl.extra(&format!("Size of volume '{name}' successfully changed to {text}\n"));
    Ok(())
}

pub fn vol_wipe(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    const ALGORITHMS: [&str; 10] =
        ["zero", "nnsa", "dod", "bsi", "gutmann", "schneier", "pfitzner7", "pfitzner33", "random", "trim"];
    let alg = match cmd.get("algorithm") {
        None => 0,
        Some(a) => ALGORITHMS
            .iter()
            .position(|x| *x == a)
            .ok_or_else(|| CmdError::Failed(format!("Unsupported algorithm '{a}'")))? as u32,
    };
    let v = vol(ctl, cmd, true)?;
    let name = v.name().to_string();
    v.wipe_pattern(alg, 0).map_err(|e| CmdError::api(format!("Failed to wipe vol {name}"), e))?;
    ctl.extra(&format!("Vol {name} wiped\n"));
    Ok(())
}
