//! Domain commands.

use oxvirt_api::{flags, Domain, DomainMemoryModFlags, DomainModificationImpact, DomainState, DomainVcpuFlags};
use serde_json::json;

use crate::commands::Ctl;
use crate::error::CmdError;
use crate::parse::Cmd;
use crate::table::Table;
use crate::util::{parse_model, read_file};

/// Looks up the `--domain` argument; failure reads "failed to get domain 'x'" as in virsh.
pub fn lookup(ctl: &mut Ctl, cmd: &Cmd) -> Result<Domain, CmdError> {
    let key = cmd.req("domain")?.to_string();
    ctl.conn()?.lookup_domain(&key).map_err(|e| CmdError::api(format!("failed to get domain '{key}'"), e))
}

fn state_name(d: &Domain, managed: bool) -> Option<String> {
    let (st, _) = d.state().ok()?;
    if managed && st == DomainState::Shutoff && d.has_managed_save().unwrap_or(false) {
        return Some("saved".into());
    }
    Some(st.as_str().to_string())
}

fn id_str(d: &Domain) -> String {
    if d.id() < 0 {
        "-".into()
    } else {
        d.id().to_string()
    }
}

pub fn list(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    type F = oxvirt_api::ConnectListAllDomainsFlags;
    let mut f = F::ACTIVE;
    if cmd.flag("inactive") || cmd.flag("state-shutoff") {
        f = F::INACTIVE;
    }
    if cmd.flag("all") {
        f = F::ACTIVE | F::INACTIVE;
    }
    for (name, bit) in [
        ("persistent", F::PERSISTENT),
        ("transient", F::TRANSIENT),
        ("with-managed-save", F::MANAGEDSAVE),
        ("without-managed-save", F::NO_MANAGEDSAVE),
        ("autostart", F::AUTOSTART),
        ("no-autostart", F::NO_AUTOSTART),
        ("with-snapshot", F::HAS_SNAPSHOT),
        ("without-snapshot", F::NO_SNAPSHOT),
        ("state-running", F::RUNNING),
        ("state-paused", F::PAUSED),
        ("state-shutoff", F::SHUTOFF),
        ("state-other", F::OTHER),
    ] {
        if cmd.flag(name) {
            f |= bit;
        }
    }
    cmd.exclusive("table", "name")?;
    cmd.exclusive("table", "uuid")?;
    cmd.exclusive("table", "id")?;
    let (opt_uuid, opt_name, opt_id) = (cmd.flag("uuid"), cmd.flag("name"), cmd.flag("id"));
    let table_mode = cmd.flag("table") || (!opt_uuid && !opt_name && !opt_id);
    let managed = cmd.flag("managed-save");
    let title = cmd.flag("title");

    let mut doms = ctl.conn()?.list_all_domains(f).map_err(|e| CmdError::api("Failed to list domains", e))?;
    // Running domains by id, then inactive ones by name, case-insensitively.
    doms.sort_by(|a, b| match (a.id() >= 0, b.id() >= 0) {
        (true, true) => a.id().cmp(&b.id()),
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        (false, false) => a.name().to_lowercase().cmp(&b.name().to_lowercase()),
    });

    if cmd.flag("json") {
        let mut arr = Vec::with_capacity(doms.len());
        for d in &doms {
            let Some(state) = state_name(d, managed) else { continue };
            let mut v = json!({
                "id": if d.id() >= 0 { json!(d.id()) } else { json!(null) },
                "name": d.name(), "uuid": d.uuid().to_string(), "state": state,
            });
            if title {
                v["title"] = json!(domain_title(d)?);
            }
            arr.push(v);
        }
        return ctl.print_json(&serde_json::Value::Array(arr));
    }

    if table_mode {
        let mut t =
            if title { Table::new(&["Id", "Name", "State", "Title"]) } else { Table::new(&["Id", "Name", "State"]) };
        for d in &doms {
            // A domain may vanish between listing and asking its state.
            let Some(state) = state_name(d, managed) else { continue };
            let mut row = vec![id_str(d), d.name().to_string(), state];
            if title {
                row.push(domain_title(d)?);
            }
            t.push(row);
        }
        let out = t.render(!ctl.quiet);
        ctl.print(&out);
    } else {
        let mut s = String::new();
        for d in &doms {
            let mut sep = "";
            if opt_uuid {
                s.push_str(&d.uuid().to_string());
                sep = " ";
            }
            if opt_id {
                if d.id() < 0 && !opt_uuid && !opt_name {
                    continue;
                }
                s.push_str(sep);
                s.push_str(&id_str(d));
                sep = " ";
            }
            if opt_name {
                s.push_str(sep);
                s.push_str(d.name());
            }
            s.push('\n');
        }
        ctl.print(&s);
    }
    Ok(())
}

/// The first line of `<title>`, as virsh's list shows it.
fn domain_title(d: &Domain) -> Result<String, CmdError> {
    let xml = d
        .xml_desc(oxvirt_api::DomainXmlFlags::empty())
        .map_err(|e| CmdError::api("Failed to get domain description xml", e))?;
    let title = parse_model::<oxvirt_xml::domain::Domain>(&xml).and_then(|d| d.title);
    Ok(title.map(|t| t.lines().next().unwrap_or("").to_string()).unwrap_or_default())
}

pub fn dominfo(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let d = lookup(ctl, cmd)?;
    let conn = ctl.conn()?;
    let info = d.info();
    let persistent = d.is_persistent();
    let autostart = d.autostart();
    let managed = d.has_managed_save();
    let os = d.os_type().ok();
    if cmd.flag("json") {
        let info = info.map_err(|e| CmdError::api("", e))?;
        return ctl.print_json(&json!({
            "id": if d.id() >= 0 { json!(d.id()) } else { json!(null) },
            "name": d.name(), "uuid": d.uuid().to_string(), "os_type": os,
            "state": info.state.as_str(), "cpus": info.nr_virt_cpu, "cpu_time_ns": info.cpu_time,
            "max_memory_kib": info.max_mem, "used_memory_kib": info.memory,
            "persistent": persistent.ok(), "autostart": autostart.ok(), "managed_save": managed.ok(),
        }));
    }
    let mut s = String::new();
    let mut line = |k: &str, v: &str| s.push_str(&format!("{k:<15} {v}\n"));
    line("Id:", &id_str(&d));
    line("Name:", d.name());
    line("UUID:", &d.uuid().to_string());
    if let Some(os) = &os {
        line("OS Type:", os);
    }
    let mut failed = None;
    match info {
        Ok(i) => {
            line("State:", i.state.as_str());
            line("CPU(s):", &i.nr_virt_cpu.to_string());
            if i.cpu_time != 0 {
                line("CPU time:", &format!("{:.1}s", i.cpu_time as f64 / 1e9));
            }
            if i.max_mem != u64::from(u32::MAX) {
                line("Max memory:", &format!("{} KiB", i.max_mem));
            } else {
                line("Max memory:", "no limit");
            }
            line("Used memory:", &format!("{} KiB", i.memory));
        }
        Err(e) => failed = Some(e),
    }
    line(
        "Persistent:",
        match persistent {
            Ok(true) => "yes",
            Ok(false) => "no",
            Err(_) => "unknown",
        },
    );
    if let Ok(a) = autostart {
        line("Autostart:", if a { "enable" } else { "disable" });
    }
    line(
        "Managed save:",
        match managed {
            Ok(true) => "yes",
            Ok(false) => "no",
            Err(_) => "unknown",
        },
    );
    // As virsh: the host's security model, and the domain's label when it has one.
    if let Ok(sec) = conn.security_model() {
        if !sec.model.is_empty() {
            line("Security model:", &sec.model);
            line("Security DOI:", &sec.doi);
            if let Ok(l) = d.security_label() {
                if !l.label.is_empty() {
                    line(
                        "Security label:",
                        &format!("{} ({})", l.label, if l.enforcing { "enforcing" } else { "permissive" }),
                    );
                }
            }
        }
    }
    ctl.print(&s);
    match failed {
        Some(e) => Err(CmdError::api("", e)),
        None => Ok(()),
    }
}

pub fn domstate(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let d = lookup(ctl, cmd)?;
    let (st, reason) = d.state().map_err(|e| CmdError::api("", e))?;
    if cmd.flag("json") {
        return ctl.print_json(&json!({"state": st.as_str(), "reason": st.reason_str(reason)}));
    }
    if cmd.flag("reason") {
        ctl.print(&format!("{} ({})\n", st.as_str(), st.reason_str(reason)));
    } else {
        ctl.print(&format!("{}\n", st.as_str()));
    }
    Ok(())
}

pub fn domstats(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    use oxvirt_api::stats::*;
    let mut groups = 0;
    for (f, g) in [
        ("state", STATE),
        ("cpu-total", CPU_TOTAL),
        ("balloon", BALLOON),
        ("vcpu", VCPU),
        ("interface", INTERFACE),
        ("block", BLOCK),
    ] {
        if cmd.flag(f) {
            groups |= g;
        }
    }
    if groups == 0 {
        groups = ALL;
    }
    let names = cmd.all("domain");
    let domains = if names.is_empty() {
        ctl.conn()?
            .list_all_domains(oxvirt_api::ConnectListAllDomainsFlags::empty())
            .map_err(|e| CmdError::api("failed to list domains", e))?
    } else {
        let conn = ctl.conn()?.clone();
        let mut v = Vec::new();
        for n in names {
            v.push(conn.lookup_domain(n).map_err(|e| CmdError::api(format!("failed to get domain '{n}'"), e))?);
        }
        v
    };
    let mut all = Vec::new();
    for d in &domains {
        let st = d
            .stats(groups)
            .map_err(|e| CmdError::api(format!("failed to get statistics of domain '{}'", d.name()), e))?;
        all.push((d.name().to_string(), st));
    }
    if cmd.flag("json") {
        let v: Vec<_> = all
            .iter()
            .map(|(n, st)| {
                let m: serde_json::Map<String, serde_json::Value> =
                    st.iter().map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default())).collect();
                json!({"domain": n, "stats": m})
            })
            .collect();
        return ctl.print_json(&json!(v));
    }
    let mut out = String::new();
    for (n, st) in &all {
        out.push_str(&format!("Domain: '{n}'\n"));
        for (k, v) in st {
            out.push_str(&format!("  {k}={v}\n"));
        }
        out.push('\n');
    }
    ctl.print(&out);
    Ok(())
}

pub fn domid(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let d = lookup(ctl, cmd)?;
    ctl.print(&format!("{}\n", id_str(&d)));
    Ok(())
}

pub fn domuuid(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let d = lookup(ctl, cmd)?;
    ctl.print(&format!("{}\n", d.uuid()));
    Ok(())
}

pub fn domname(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let d = lookup(ctl, cmd)?;
    ctl.print(&format!("{}\n", d.name()));
    Ok(())
}

pub fn dumpxml(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let d = lookup(ctl, cmd)?;
    type F = oxvirt_api::DomainXmlFlags;
    let mut f = F::empty();
    for (n, b) in [
        ("inactive", F::INACTIVE),
        ("security-info", F::SECURE),
        ("update-cpu", F::UPDATE_CPU),
        ("migratable", F::MIGRATABLE),
    ] {
        if cmd.flag(n) {
            f |= b;
        }
    }
    let xml = d.xml_desc(f).map_err(|e| CmdError::api("", e))?;
    ctl.print(&xml);
    Ok(())
}

fn print_warnings(w: &[String]) {
    for m in w {
        eprintln!("warning: {m}");
    }
}

pub fn define(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let file = cmd.req("file")?;
    let xml = read_file(file)?;
    let f = if cmd.flag("validate") { flags::DEFINE_VALIDATE } else { 0 };
    let (d, warnings) = ctl
        .conn()?
        .define_domain(&xml, f)
        .map_err(|e| CmdError::api(format!("Failed to define domain from {file}"), e))?;
    print_warnings(&warnings);
    ctl.extra(&format!("Domain '{}' defined from {file}\n", d.name()));
    Ok(())
}

pub fn create(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let file = cmd.req("file")?;
    let xml = read_file(file)?;
    type F = oxvirt_api::DomainCreateFlags;
    let mut f = F::empty();
    for (n, b) in [("paused", F::PAUSED), ("autodestroy", F::AUTODESTROY), ("validate", F::VALIDATE)] {
        if cmd.flag(n) {
            f |= b;
        }
    }
    let d = ctl
        .conn()?
        .create_domain_xml(&xml, f)
        .map_err(|e| CmdError::api(format!("Failed to create domain from {file}"), e))?;
    ctl.extra(&format!("Domain '{}' created from {file}\n", d.name()));
    if cmd.flag("console") {
        ctl.flush();
        crate::console::run(&d, None, false)?;
    }
    Ok(())
}

pub fn start(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let mut d = lookup(ctl, cmd)?;
    if d.id() >= 0 {
        return Err(CmdError::Failed("Domain is already active".into()));
    }
    type F = oxvirt_api::DomainCreateFlags;
    let mut f = F::empty();
    for (n, b) in [
        ("paused", F::PAUSED),
        ("autodestroy", F::AUTODESTROY),
        ("bypass-cache", F::BYPASS_CACHE),
        ("force-boot", F::FORCE_BOOT),
    ] {
        if cmd.flag(n) {
            f |= b;
        }
    }
    let name = d.name().to_string();
    d.create(f).map_err(|e| CmdError::api(format!("Failed to start domain '{name}'"), e))?;
    ctl.extra(&format!("Domain '{name}' started\n"));
    if cmd.flag("console") {
        ctl.flush();
        crate::console::run(&d, None, false)?;
    }
    Ok(())
}

/// `--mode` words to libvirt's shutdown/reboot flag bits.
fn mode_flags(cmd: &Cmd) -> Result<u32, CmdError> {
    let Some(modes) = cmd.get("mode") else { return Ok(0) };
    let mut f = 0;
    for m in modes.split(',') {
        f |= match m {
            "acpi" => 1,
            "agent" => 2,
            "initctl" => 4,
            "signal" => 8,
            "paravirt" => 16,
            other => {
                return Err(CmdError::Usage(format!(
                    "Unknown mode {other} value, expecting 'acpi', 'agent', 'initctl', 'signal' or 'paravirt'"
                )))
            }
        };
    }
    Ok(f)
}

/// A domain operation with virsh's failure and success lines.
fn simple(
    ctl: &mut Ctl,
    cmd: &Cmd,
    op: impl FnOnce(&Domain) -> oxvirt_api::Result<()>,
    fail: &str,
    done: &str,
) -> Result<(), CmdError> {
    let d = lookup(ctl, cmd)?;
    let name = d.name().to_string();
    op(&d).map_err(|e| CmdError::api(fail.replace("{}", &name), e))?;
    ctl.extra(&done.replace("{}", &name));
    Ok(())
}

pub fn shutdown(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let f = mode_flags(cmd)?;
    simple(ctl, cmd, |d| d.shutdown(f), "Failed to shutdown domain '{}'", "Domain '{}' is being shutdown\n")
}

pub fn reboot(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    // virsh --mode's bits are the same for reboot and shutdown.
    let f = oxvirt_api::DomainRebootFlagValues::from_bits_retain(mode_flags(cmd)?);
    simple(ctl, cmd, |d| d.reboot(f), "Failed to reboot domain '{}'", "Domain '{}' is being rebooted\n")
}

pub fn reset(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    simple(ctl, cmd, |d| d.reset(0), "Failed to reset domain '{}'", "Domain '{}' was reset\n")
}

pub fn destroy(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let f =
        if cmd.flag("graceful") { flags::DESTROY_GRACEFUL } else { 0 } | if cmd.flag("remove-logs") { 2 } else { 0 };
    simple(ctl, cmd, |d| d.destroy(f), "Failed to destroy domain '{}'", "Domain '{}' destroyed\n")
}

pub fn suspend(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    simple(ctl, cmd, |d| d.suspend(), "Failed to suspend domain '{}'", "Domain '{}' suspended\n")
}

pub fn resume(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    simple(ctl, cmd, |d| d.resume(), "Failed to resume domain '{}'", "Domain '{}' resumed\n")
}

pub fn autostart(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    if cmd.flag("disable") {
        simple(
            ctl,
            cmd,
            |d| d.set_autostart(false),
            "Failed to unmark domain '{}' as autostarted",
            "Domain '{}' unmarked as autostarted\n",
        )
    } else {
        simple(
            ctl,
            cmd,
            |d| d.set_autostart(true),
            "Failed to mark domain '{}' as autostarted",
            "Domain '{}' marked as autostarted\n",
        )
    }
}

pub fn undefine(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    cmd.exclusive("nvram", "keep-nvram")?;
    cmd.exclusive("tpm", "keep-tpm")?;
    type F = oxvirt_api::DomainUndefineFlags;
    let mut f = F::empty();
    for (n, b) in [
        ("managed-save", F::MANAGED_SAVE),
        ("snapshots-metadata", F::SNAPSHOTS_METADATA),
        ("nvram", F::NVRAM),
        ("keep-nvram", F::KEEP_NVRAM),
        ("checkpoints-metadata", F::CHECKPOINTS_METADATA),
        ("tpm", F::TPM),
        ("keep-tpm", F::KEEP_TPM),
    ] {
        if cmd.flag(n) {
            f |= b;
        }
    }
    simple(ctl, cmd, |d| d.undefine(f), "Failed to undefine domain '{}'", "Domain '{}' has been undefined\n")
}

fn save_flags(cmd: &Cmd) -> Result<u32, CmdError> {
    cmd.exclusive("running", "paused")?;
    let mut f = 0;
    for (n, b) in [("bypass-cache", 1), ("running", flags::SAVE_RUNNING), ("paused", flags::SAVE_PAUSED)] {
        if cmd.flag(n) {
            f |= b;
        }
    }
    Ok(f)
}

pub fn save(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let f = save_flags(cmd)?;
    let to = cmd.req("file")?.to_string();
    let dxml = cmd.get("xml").map(read_file).transpose()?;
    let d = lookup(ctl, cmd)?;
    d.save(&to, dxml.as_deref(), f)
        .map_err(|e| CmdError::api(format!("Failed to save domain '{}' to {to}", d.name()), e))?;
    ctl.extra(&format!("\nDomain '{}' saved to {to}\n", d.name()));
    Ok(())
}

pub fn restore(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let f = save_flags(cmd)?;
    let from = cmd.req("file")?.to_string();
    let dxml = cmd.get("xml").map(read_file).transpose()?;
    ctl.conn()?
        .restore_domain(&from, dxml.as_deref(), f)
        .map_err(|e| CmdError::api(format!("Failed to restore domain from {from}"), e))?;
    ctl.extra(&format!("Domain restored from {from}\n"));
    Ok(())
}

pub fn save_image_dumpxml(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let file = cmd.req("file")?.to_string();
    let f = if cmd.flag("security-info") { flags::SAVE_IMAGE_XML_SECURE } else { 0 };
    let xml = ctl.conn()?.save_image_xml(&file, f).map_err(|e| CmdError::api("", e))?;
    ctl.print(&xml);
    Ok(())
}

pub fn managedsave(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let f = save_flags(cmd)?;
    simple(
        ctl,
        cmd,
        |d| d.managed_save(f),
        "Failed to save domain '{}' state",
        "\nDomain '{}' state saved by libvirt\n",
    )
}

pub fn managedsave_remove(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let d = lookup(ctl, cmd)?;
    let name = d.name().to_string();
    let has = d.has_managed_save().map_err(|e| CmdError::api("Failed to check for domain managed save image", e))?;
    if !has {
        ctl.extra(&format!("Domain '{name}' has no manage save image; removal skipped"));
        return Ok(());
    }
    d.managed_save_remove()
        .map_err(|e| CmdError::api(format!("Failed to remove managed save image for domain '{name}'"), e))?;
    ctl.extra(&format!("Removed managedsave image for domain '{name}'"));
    Ok(())
}

/// A size with an optional unit suffix, in KiB (the unit-less default), as virsh's setmem reads it.
pub fn scaled_kib(s: &str) -> Option<u64> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit {
        "" | "k" | "K" | "KiB" | "kib" => 1024,
        "b" | "B" | "bytes" => 1,
        "KB" | "kb" => 1000,
        "m" | "M" | "MiB" | "mib" => 1 << 20,
        "MB" | "mb" => 1_000_000,
        "g" | "G" | "GiB" | "gib" => 1 << 30,
        "GB" | "gb" => 1_000_000_000,
        "t" | "T" | "TiB" | "tib" => 1 << 40,
        "TB" | "tb" => 1_000_000_000_000,
        _ => return None,
    };
    let bytes = n.checked_mul(mult)?;
    Some(bytes.div_ceil(1024))
}

/// virsh's `--config` / `--live` / `--current` (none: current), as API flags.
pub(crate) fn impact_flags(cmd: &Cmd) -> Result<DomainModificationImpact, CmdError> {
    cmd.exclusive("current", "live")?;
    cmd.exclusive("current", "config")?;
    let mut f = DomainModificationImpact::empty();
    f.set(DomainModificationImpact::CONFIG, cmd.flag("config"));
    f.set(DomainModificationImpact::LIVE, cmd.flag("live"));
    Ok(f)
}

pub fn setmem(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let f = DomainMemoryModFlags::from_bits_retain(impact_flags(cmd)?.bits());
    let size = cmd.req("size")?;
    let kib = scaled_kib(size).ok_or_else(|| {
        CmdError::Usage(format!("Numeric value '{size}' for <size> option is malformed or out of range"))
    })?;
    let d = lookup(ctl, cmd)?;
    d.set_memory(kib, f).map_err(|e| CmdError::api("", e))
}

pub fn setvcpus(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let mut f = DomainVcpuFlags::from_bits_retain(impact_flags(cmd)?.bits());
    for (n, b) in [
        ("maximum", DomainVcpuFlags::MAXIMUM),
        ("guest", DomainVcpuFlags::GUEST),
        ("hotpluggable", DomainVcpuFlags::HOTPLUGGABLE),
    ] {
        f.set(b, cmd.flag(n));
    }
    let count: u32 = cmd.int("count")?.unwrap_or(0);
    if count == 0 {
        return Err(CmdError::Usage("Invalid number of virtual CPUs".into()));
    }
    let d = lookup(ctl, cmd)?;
    d.set_vcpus(count, f).map_err(|e| CmdError::api("", e))
}

pub fn edit(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let d = lookup(ctl, cmd)?;
    let name = d.name().to_string();
    let conn = ctl.conn()?;
    let orig = d
        .xml_desc(oxvirt_api::DomainXmlFlags::INACTIVE | oxvirt_api::DomainXmlFlags::SECURE)
        .map_err(|e| CmdError::api("", e))?;
    let validate = !cmd.flag("skip-validate");
    ctl.flush();
    let outcome = crate::edit::edit_loop(&orig, "xml", validate, |xml, validate| {
        let f = if validate { flags::DEFINE_VALIDATE } else { 0 };
        conn.define_domain(xml, f).map(|(_, w)| print_warnings(&w))
    })?;
    match outcome {
        crate::edit::Outcome::Unchanged => ctl.extra(&format!("Domain '{name}' XML configuration not changed.\n")),
        crate::edit::Outcome::Saved => ctl.extra(&format!("Domain '{name}' XML configuration edited.\n")),
    }
    Ok(())
}

pub fn console(ctl: &mut Ctl, cmd: &Cmd) -> Result<(), CmdError> {
    let d = lookup(ctl, cmd)?;
    ctl.flush();
    crate::console::run(&d, cmd.get("devname"), cmd.flag("force"))
}
