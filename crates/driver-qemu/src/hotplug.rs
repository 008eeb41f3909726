//! Live changes over QMP: vCPU hot(un)plug.

use oxvirt_api::{Error, ErrorDomain, Result};
use oxvirt_qmp::Qmp;
use serde_json::{json, Value};

/// Brings the number of online vCPUs to `count` with `device_add`/`device_del` of CPU objects.
pub fn set_vcpus(qmp: &mut Qmp, name: &str, count: u32) -> Result<()> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        Error::operation_failed(format!("{what} for domain '{name}': {e}"))
            .in_domain(ErrorDomain::Qemu)
    };
    let slots = qmp
        .execute("query-hotpluggable-cpus", None)
        .map_err(|e| fail("listing vCPU slots", &e))?;
    let slots: Vec<Value> = slots.as_array().cloned().unwrap_or_default();
    let online: Vec<&Value> = slots
        .iter()
        .filter(|s| s.get("qom-path").is_some())
        .collect();
    let cur = online.len() as u32;
    if count > cur {
        let mut free: Vec<&Value> = slots
            .iter()
            .filter(|s| s.get("qom-path").is_none())
            .collect();
        free.reverse();
        for i in 0..(count - cur) {
            let slot = free
                .pop()
                .ok_or_else(|| fail("adding vCPUs", &"no free vCPU slot"))?;
            let mut args = slot.get("props").cloned().unwrap_or(json!({}));
            args["driver"] = slot.get("type").cloned().unwrap_or(json!(""));
            args["id"] = json!(format!("vcpu{}", cur + i));
            qmp.execute("device_add", Some(args))
                .map_err(|e| fail("adding a vCPU", &e))?;
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
            let id = ours.pop().ok_or_else(|| {
                fail(
                    "removing vCPUs",
                    &"only vCPUs added after start can be removed",
                )
            })?;
            qmp.execute("device_del", Some(json!({"id": id})))
                .map_err(|e| fail("removing a vCPU", &e))?;
        }
    }
    Ok(())
}
