//! What a QEMU binary supports.
//!
//! Talking to QEMU ([`probe`]) and interpreting what it said ([`QemuCaps::from_replies`])
//! are separate so that recorded conversations (libvirt's test data, bug reports) go
//! through exactly the code that live probes use.

pub mod cache;
pub mod kvm;
pub mod probe;

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use cache::{CacheOutcome, CapsCache};
pub use kvm::{KvmUsability, KvmVerdict};
pub use probe::probe;

#[derive(Debug, thiserror::Error)]
pub enum CapsError {
    #[error("interpreting the {command} reply: {detail}")]
    Interpret { command: &'static str, detail: String },
    #[error("reading recorded QMP conversation: {0}")]
    Replay(String),
    #[error("creating a scratch directory for probing: {0}")]
    ScratchDir(#[source] std::io::Error),
    #[error("starting {binary} for probing: {source}")]
    Spawn {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("probing {binary}: QEMU exited before QMP was ready ({status}); log tail:\n{log}")]
    EarlyExit { binary: PathBuf, status: String, log: String },
    #[error("probing {binary}: QMP socket not ready within {timeout:?}; log tail:\n{log}")]
    ReadyTimeout { binary: PathBuf, timeout: std::time::Duration, log: String },
    #[error("probing {binary}: {source}")]
    Query {
        binary: PathBuf,
        #[source]
        source: oxvirt_qmp::QmpError,
    },
    #[error("examining {path}: {source}")]
    Stat {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing capabilities cache {path}: {source}")]
    CacheWrite {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QemuVersion {
    pub major: u32,
    pub minor: u32,
    pub micro: u32,
    /// Distribution build string, e.g. `Debian 1:10.0.2+ds-2`.
    pub package: String,
}

impl QemuVersion {
    /// Single comparable number, `major * 1_000_000 + minor * 1_000 + micro`.
    pub fn number(&self) -> u64 {
        u64::from(self.major) * 1_000_000 + u64::from(self.minor) * 1_000 + u64::from(self.micro)
    }
}

/// A machine type. Field names follow `query-machines` so replies deserialize directly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Machine {
    pub name: String,
    /// Short name such as `pc` or `q35` that resolves to this versioned type.
    #[serde(default)]
    pub alias: Option<String>,
    /// What QEMU picks without `-machine`.
    #[serde(default)]
    pub is_default: bool,
    #[serde(default)]
    pub cpu_max: u32,
    #[serde(default)]
    pub deprecated: bool,
    #[serde(default)]
    pub hotpluggable_cpus: bool,
    #[serde(default)]
    pub default_cpu_type: Option<String>,
    #[serde(default)]
    pub default_ram_id: Option<String>,
}

/// A CPU model, as `query-cpu-definitions` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CpuModel {
    pub name: String,
    #[serde(default)]
    pub alias_of: Option<String>,
    #[serde(default)]
    pub typename: Option<String>,
    #[serde(default, rename = "static")]
    pub static_: bool,
    #[serde(default)]
    pub migration_safe: Option<bool>,
    #[serde(default)]
    pub deprecated: bool,
    /// Features the probing accelerator (TCG when we probe) cannot provide; empty means
    /// the model runs as is.
    #[serde(default)]
    pub unavailable_features: Vec<String>,
}

/// `query-kvm`: `present` = built with KVM support; `enabled` = this instance uses it
/// (false when probed with TCG). Neither says KVM *works*: see [`KvmUsability`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvmSupport {
    pub present: bool,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QemuCaps {
    pub version: QemuVersion,
    /// `query-target` arch, e.g. `x86_64`.
    pub arch: String,
    /// Sorted by name.
    pub machines: Vec<Machine>,
    /// Sorted by name; empty when the target has no `query-cpu-definitions`.
    pub cpu_models: Vec<CpuModel>,
    /// Every instantiable QOM type (devices, backends, machines, CPUs).
    pub qom_types: BTreeSet<String>,
    /// The subset implementing `device`; `None` when the data did not include that
    /// listing (older recordings), in which case [`QemuCaps::has_device`] falls back to
    /// `qom_types`.
    pub device_types: Option<BTreeSet<String>>,
    /// QMP commands this binary accepts; empty if unknown.
    pub commands: BTreeSet<String>,
    pub kvm: KvmSupport,
}

impl QemuCaps {
    /// Looks a machine up by name or alias.
    pub fn machine(&self, name: &str) -> Option<&Machine> {
        self.machines
            .iter()
            .find(|m| m.name == name)
            .or_else(|| self.machines.iter().find(|m| m.alias.as_deref() == Some(name)))
    }

    pub fn default_machine(&self) -> Option<&Machine> {
        self.machines.iter().find(|m| m.is_default)
    }

    pub fn has_device(&self, name: &str) -> bool {
        match &self.device_types {
            Some(devs) => devs.contains(name),
            None => self.qom_types.contains(name),
        }
    }

    pub fn has_type(&self, name: &str) -> bool {
        self.qom_types.contains(name)
    }

    pub fn has_command(&self, name: &str) -> bool {
        self.commands.contains(name)
    }

    pub fn cpu_model(&self, name: &str) -> Option<&CpuModel> {
        self.cpu_models.iter().find(|c| c.name == name)
    }

    /// Builds capabilities from raw QMP `return` values, whether they came from a live
    /// QEMU or a recording.
    pub fn from_replies(r: &ProbeReplies) -> Result<QemuCaps, CapsError> {
        #[derive(Deserialize)]
        struct RawVersionTriple {
            major: u32,
            minor: u32,
            micro: u32,
        }
        #[derive(Deserialize)]
        struct RawVersion {
            qemu: RawVersionTriple,
            #[serde(default)]
            package: String,
        }
        #[derive(Deserialize)]
        struct RawTarget {
            arch: String,
        }
        #[derive(Deserialize)]
        struct Named {
            name: String,
        }

        let v: RawVersion = decode("query-version", &r.version)?;
        let target: RawTarget = decode("query-target", &r.target)?;
        let kvm: KvmSupport = decode("query-kvm", &r.kvm)?;
        let mut machines: Vec<Machine> = decode("query-machines", &r.machines)?;
        machines.sort_by(|a, b| a.name.cmp(&b.name));
        let mut cpu_models: Vec<CpuModel> = match &r.cpu_definitions {
            Some(v) => decode("query-cpu-definitions", v)?,
            None => Vec::new(),
        };
        cpu_models.sort_by(|a, b| a.name.cmp(&b.name));
        let names = |command: &'static str, v: &Value| -> Result<BTreeSet<String>, CapsError> {
            let list: Vec<Named> = decode(command, v)?;
            Ok(list.into_iter().map(|n| n.name).collect())
        };
        let qom_types = names("qom-list-types", &r.qom_types)?;
        let device_types = match &r.device_types {
            Some(v) => Some(names("qom-list-types", v)?),
            None => None,
        };
        let commands = match &r.commands {
            Some(v) => names("query-commands", v)?,
            None => BTreeSet::new(),
        };
        Ok(QemuCaps {
            version: QemuVersion {
                major: v.qemu.major,
                minor: v.qemu.minor,
                micro: v.qemu.micro,
                package: v.package.trim().to_owned(),
            },
            arch: target.arch,
            machines,
            cpu_models,
            qom_types,
            device_types,
            commands,
            kvm,
        })
    }
}

fn decode<T: serde::de::DeserializeOwned>(command: &'static str, v: &Value) -> Result<T, CapsError> {
    T::deserialize(v).map_err(|e| CapsError::Interpret { command, detail: e.to_string() })
}

/// The `return` values capabilities are built from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbeReplies {
    pub version: Value,
    pub target: Value,
    pub kvm: Value,
    pub machines: Value,
    pub cpu_definitions: Option<Value>,
    /// `qom-list-types` without arguments.
    pub qom_types: Value,
    /// `qom-list-types` with `implements: device`.
    pub device_types: Option<Value>,
    pub commands: Option<Value>,
}

/// One command and its reply from a recorded conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedExchange {
    pub command: String,
    pub arguments: Option<Value>,
    /// The whole reply object (`{"return": ...}` or `{"error": ...}`).
    pub reply: Value,
}

/// Splits a recorded QMP conversation (JSON objects separated by whitespace, each
/// command followed by its reply, as in libvirt's `*.replies` files) into exchanges.
/// Events in between are skipped.
pub fn parse_conversation(text: &str) -> Result<Vec<RecordedExchange>, CapsError> {
    let mut out = Vec::new();
    let mut pending: Option<(String, Option<Value>)> = None;
    for (n, item) in serde_json::Deserializer::from_str(text).into_iter::<Value>().enumerate() {
        let v = item.map_err(|e| CapsError::Replay(format!("object #{}: {e}", n + 1)))?;
        if v.get("event").is_some() {
            continue;
        }
        if let Some(cmd) = v.get("execute") {
            let cmd =
                cmd.as_str().ok_or_else(|| CapsError::Replay(format!("object #{}: execute is not a string", n + 1)))?;
            if let Some((prev, _)) = &pending {
                return Err(CapsError::Replay(format!(
                    "object #{}: command {cmd} follows {prev} which got no reply",
                    n + 1
                )));
            }
            pending = Some((cmd.to_owned(), v.get("arguments").cloned()));
        } else if v.get("return").is_some() || v.get("error").is_some() {
            let (command, arguments) = pending
                .take()
                .ok_or_else(|| CapsError::Replay(format!("object #{}: reply without a command", n + 1)))?;
            out.push(RecordedExchange { command, arguments, reply: v });
        } else {
            return Err(CapsError::Replay(format!("object #{}: neither command, reply nor event", n + 1)));
        }
    }
    if let Some((cmd, _)) = pending {
        return Err(CapsError::Replay(format!("command {cmd} at the end has no reply")));
    }
    Ok(out)
}

impl ProbeReplies {
    /// Picks the first successful reply of each command we use. libvirt's recordings
    /// probe twice (KVM, then TCG); the first round is taken.
    pub fn from_conversation(ex: &[RecordedExchange]) -> Result<ProbeReplies, CapsError> {
        let find = |want: &str, implements: Option<&str>| -> Option<Value> {
            ex.iter()
                .filter(|e| e.command == want)
                .filter(|e| {
                    let imp = e.arguments.as_ref().and_then(|a| a.get("implements")).and_then(Value::as_str);
                    imp == implements
                })
                .find_map(|e| e.reply.get("return").cloned())
        };
        let need = |want: &'static str| {
            find(want, None).ok_or_else(|| CapsError::Replay(format!("no successful {want} in the conversation")))
        };
        Ok(ProbeReplies {
            version: need("query-version")?,
            target: need("query-target")?,
            kvm: need("query-kvm")?,
            machines: need("query-machines")?,
            cpu_definitions: find("query-cpu-definitions", None),
            qom_types: need("qom-list-types")?,
            device_types: find("qom-list-types", Some("device")),
            commands: find("query-commands", None),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> ProbeReplies {
        ProbeReplies {
            version: json!({"qemu": {"major": 9, "minor": 1, "micro": 0}, "package": " v9.1.0 "}),
            target: json!({"arch": "x86_64"}),
            kvm: json!({"present": true, "enabled": false}),
            machines: json!([
                {"name": "pc-q35-9.1", "alias": "q35", "cpu-max": 4096, "deprecated": false, "future-field": 1},
                {"name": "none", "cpu-max": 1},
                {"name": "pc-i440fx-9.1", "alias": "pc", "is-default": true, "cpu-max": 255}
            ]),
            cpu_definitions: Some(json!([{"name": "qemu64", "static": false, "unavailable-features": []}])),
            qom_types: json!([{"name": "virtio-blk-pci", "parent": "virtio-blk-pci-base"}, {"name": "memory-backend-ram"}]),
            device_types: Some(json!([{"name": "virtio-blk-pci"}])),
            commands: None,
        }
    }

    #[test]
    fn interprets_minimal_replies() {
        let caps = QemuCaps::from_replies(&minimal()).unwrap();
        assert_eq!(caps.version.number(), 9_001_000);
        assert_eq!(caps.version.package, "v9.1.0");
        assert_eq!(caps.machines[0].name, "none");
        assert_eq!(caps.machine("q35").unwrap().name, "pc-q35-9.1");
        assert_eq!(caps.default_machine().unwrap().alias.as_deref(), Some("pc"));
        assert!(caps.has_device("virtio-blk-pci"));
        assert!(!caps.has_device("memory-backend-ram"));
        assert!(caps.has_type("memory-backend-ram"));
        assert!(caps.kvm.present && !caps.kvm.enabled);
        let back: QemuCaps = serde_json::from_str(&serde_json::to_string(&caps).unwrap()).unwrap();
        assert_eq!(back, caps);
    }

    #[test]
    fn bad_reply_names_the_command() {
        let mut r = minimal();
        r.machines = json!({"not": "a list"});
        let err = QemuCaps::from_replies(&r).unwrap_err();
        assert!(err.to_string().contains("query-machines"), "{err}");
    }

    #[test]
    fn conversation_pairs_commands_and_replies() {
        let text = r#"
{"execute": "query-version", "id": "a-1"}

{"return": {"qemu": {"major": 1, "minor": 2, "micro": 3}}, "id": "a-1"}

{"event": "STOP"}

{"execute": "qom-list-types", "arguments": {"implements": "device"}}

{"error": {"class": "GenericError", "desc": "x"}}
"#;
        let ex = parse_conversation(text).unwrap();
        assert_eq!(ex.len(), 2);
        assert_eq!(ex[1].command, "qom-list-types");
        assert!(ex[1].reply.get("error").is_some());
        let err = ProbeReplies::from_conversation(&ex).unwrap_err();
        assert!(err.to_string().contains("query-target"), "{err}");
        assert!(parse_conversation("{\"execute\": \"x\"}").is_err());
        assert!(parse_conversation("{\"return\": {}}").is_err());
        assert!(parse_conversation("{\"execute\": ").is_err());
    }
}
