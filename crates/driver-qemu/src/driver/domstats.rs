//! Domain statistics read from QEMU and /proc.

use super::*;
use oxvirt_sysutil::procstat::{clock_ticks_per_sec, ProcStat};

/// User and system CPU time of a process, in nanoseconds.
pub(super) fn proc_cpu_split_ns(pid: i32) -> (u64, u64) {
    ProcStat::of_pid(pid).map_or((0, 0), |s| s.cpu_ns())
}

pub(super) fn proc_task_time_ns(pid: i32, tid: i32) -> u64 {
    ProcStat::of_task(pid, tid).map_or(0, |s| s.utime + s.stime) * (1_000_000_000 / clock_ticks_per_sec())
}

impl QemuDriver {
    pub(super) fn stats(&self, d: &DomainRef, groups: u32) -> Result<Vec<(String, TypedParam)>> {
        let e = self.read_by_ref(d)?;
        let def = e.definition()?;
        let (state, reason) = e.state();
        let mut out: Vec<(String, TypedParam)> = Vec::new();
        let mut put = |k: String, v: TypedParam| out.push((k, v));
        if groups & stats::STATE != 0 {
            put("state.state".into(), TypedParam::Int(state as i32));
            put("state.reason".into(), TypedParam::Int(reason));
        }
        let Some(st) = &e.status else {
            if groups & stats::BALLOON != 0 {
                put("balloon.maximum".into(), TypedParam::ULLong(def.memory_kib()));
            }
            if groups & stats::VCPU != 0 {
                put("vcpu.current".into(), TypedParam::UInt(def.vcpus_current()));
                put("vcpu.maximum".into(), TypedParam::UInt(def.vcpus()));
            }
            return Ok(out);
        };
        let mut qmp = self.qmp(st)?;
        if groups & stats::CPU_TOTAL != 0 {
            let (user, system) = proc_cpu_split_ns(st.pid);
            put("cpu.time".into(), TypedParam::ULLong(user + system));
            put("cpu.user".into(), TypedParam::ULLong(user));
            put("cpu.system".into(), TypedParam::ULLong(system));
        }
        if groups & stats::BALLOON != 0 {
            let cur = qmp
                .execute("query-balloon", None)
                .ok()
                .and_then(|b| b.get("actual").and_then(|a| a.as_u64()))
                .map_or(def.current_memory_kib(), |b| b / 1024);
            put("balloon.current".into(), TypedParam::ULLong(cur));
            put("balloon.maximum".into(), TypedParam::ULLong(def.memory_kib()));
            if let Ok(v) =
                qmp.execute("qom-get", Some(json!({"path": "/machine/peripheral/balloon0", "property": "guest-stats"})))
            {
                let s = &v["stats"];
                for (k, q) in [
                    ("swap_in", "stat-swap-in"),
                    ("swap_out", "stat-swap-out"),
                    ("major_fault", "stat-major-faults"),
                    ("minor_fault", "stat-minor-faults"),
                    ("unused", "stat-free-memory"),
                    ("available", "stat-total-memory"),
                    ("usable", "stat-available-memory"),
                    ("disk_caches", "stat-disk-caches"),
                ] {
                    if let Some(n) = s[q].as_i64().filter(|n| *n >= 0) {
                        let n =
                            if matches!(k, "unused" | "available" | "usable" | "disk_caches") { n / 1024 } else { n };
                        put(format!("balloon.{k}"), TypedParam::ULLong(n as u64));
                    }
                }
            }
        }
        if groups & stats::VCPU != 0 {
            let cpus =
                qmp.execute("query-cpus-fast", None).ok().and_then(|v| v.as_array().cloned()).unwrap_or_default();
            put("vcpu.current".into(), TypedParam::UInt(cpus.len() as u32));
            put("vcpu.maximum".into(), TypedParam::UInt(def.vcpus()));
            for c in &cpus {
                let idx = c["cpu-index"].as_u64().unwrap_or(0);
                let tid = c["thread-id"].as_i64().unwrap_or(0) as i32;
                put(format!("vcpu.{idx}.state"), TypedParam::Int(1));
                put(format!("vcpu.{idx}.time"), TypedParam::ULLong(proc_task_time_ns(st.pid, tid)));
            }
        }
        if groups & stats::INTERFACE != 0 {
            let nics = def.devices.as_ref().map_or(0, |d| d.interfaces.len());
            put("net.count".into(), TypedParam::UInt(nics as u32));
        }
        if groups & stats::BLOCK != 0 {
            let blocks = qmp.execute("query-blockstats", Some(json!({"query-nodes": false}))).ok();
            let disks = def.devices.as_ref().map(|d| d.disks.clone()).unwrap_or_default();
            put("block.count".into(), TypedParam::UInt(disks.len() as u32));
            let list = blocks.and_then(|b| b.as_array().cloned()).unwrap_or_default();
            for (i, dk) in disks.iter().enumerate() {
                put(format!("block.{i}.name"), TypedParam::String(dk.target.dev.clone()));
                if let Some(p) = dk.source.as_ref().and_then(|s| s.file.clone().or_else(|| s.dev.clone())) {
                    put(format!("block.{i}.path"), TypedParam::String(p));
                }
                let qdev_match = |b: &&serde_json::Value| {
                    b["qdev"]
                        .as_str()
                        .is_some_and(|q| q.contains(&format!("/{}/", dk.target.dev)) || q.ends_with(&dk.target.dev))
                        || b["device"].as_str() == Some(dk.target.dev.as_str())
                };
                let stats_of = list.iter().find(qdev_match).or_else(|| list.get(i)).map(|b| b["stats"].clone());
                if let Some(sv) = stats_of {
                    for (k, q) in [
                        ("rd.reqs", "rd_operations"),
                        ("rd.bytes", "rd_bytes"),
                        ("rd.times", "rd_total_time_ns"),
                        ("wr.reqs", "wr_operations"),
                        ("wr.bytes", "wr_bytes"),
                        ("wr.times", "wr_total_time_ns"),
                        ("fl.reqs", "flush_operations"),
                        ("fl.times", "flush_total_time_ns"),
                    ] {
                        if let Some(n) = sv[q].as_u64() {
                            put(format!("block.{i}.{k}"), TypedParam::ULLong(n));
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}
