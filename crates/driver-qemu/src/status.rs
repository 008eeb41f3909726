//! A running domain's status file: everything needed to find and re-attach to its QEMU after the
//! process that started it has exited (the CLI) or restarted (the daemon).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::fsutil::write_atomic;

const STATUS_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub version: u32,
    pub name: String,
    pub uuid: uuid::Uuid,
    pub id: i32,
    pub pid: i32,
    /// `/proc/PID/stat` start time, so a recycled pid is not taken for our QEMU.
    pub start_time: u64,
    pub emulator: String,
    /// `virDomainState` and reason numbers.
    pub state: i32,
    pub reason: i32,
    /// The running definition (live XML: id, aliases, pty paths).
    pub live_xml: String,
    /// A guest-requested power-off is to be turned into a reset (graceful reboot in progress).
    #[serde(default)]
    pub fake_reboot: bool,
    /// Whether the domain was started without a persistent definition.
    #[serde(default)]
    pub transient: bool,
}

impl Status {
    pub fn new(name: &str, uuid: uuid::Uuid, id: i32) -> Status {
        Status {
            version: STATUS_VERSION,
            name: name.to_string(),
            uuid,
            id,
            pid: 0,
            start_time: 0,
            emulator: String::new(),
            state: 0,
            reason: 0,
            live_xml: String::new(),
            fake_reboot: false,
            transient: false,
        }
    }

    pub fn load(path: &Path) -> Option<Status> {
        let text = std::fs::read(path).ok()?;
        serde_json::from_slice(&text).ok()
    }

    pub fn store(&self, path: &Path) -> std::io::Result<()> {
        let data = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_atomic(path, &data, 0o600)
    }
}
