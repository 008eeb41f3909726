//! A running domain's status file: everything needed to find and re-attach to its QEMU after the
//! process that started it has exited (the CLI) or restarted (the daemon).
//!
//! A status file is input, not authority: [`Status::load`] opens it without following symlinks,
//! wants a regular file of ours that nobody else can write, and takes the domain's name from where
//! the file is, never from its content. The pid it names is verified before any signal
//! ([`crate::process::QemuProcess::is_ours`]).

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil::write_atomic;

const STATUS_VERSION: u32 = 1;
const MAX_STATUS_BYTES: u64 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("reading status file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("ignoring status file {path}: {why}")]
    Untrusted { path: PathBuf, why: String },
    #[error("status file {path} does not parse: {detail}")]
    Parse { path: PathBuf, detail: String },
}

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

    /// [`Status::load_named`] with the name taken from the file's own name (`NAME.status`); a
    /// file that cannot be used is logged (naming it) and taken as absent.
    pub fn load(path: &Path) -> Option<Status> {
        let name = path.file_name()?.to_str()?.strip_suffix(".status")?;
        crate::layout::component(name).ok()?;
        match Status::load_named(path, name) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("{e}");
                None
            }
        }
    }

    /// The status of domain `name` at `path`: `Ok(None)` if there is none, an error naming the file
    /// if it is not one we wrote (symlink, not a regular file, someone else's or writable by
    /// others) or does not parse. The name is `name` whatever the file says.
    pub fn load_named(path: &Path, name: &str) -> Result<Option<Status>, StatusError> {
        let bad = |why: String| StatusError::Untrusted { path: path.to_owned(), why };
        let f = match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(bad("it is a symlink".into())),
            Err(source) => return Err(StatusError::Io { path: path.to_owned(), source }),
        };
        let meta = f.metadata().map_err(|source| StatusError::Io { path: path.to_owned(), source })?;
        if !meta.file_type().is_file() {
            return Err(bad("not a regular file".into()));
        }
        let me = nix::unistd::geteuid().as_raw();
        if meta.uid() != me {
            return Err(bad(format!("owned by uid {}, not {me}", meta.uid())));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(bad(format!("mode {:04o} lets others write it", meta.mode() & 0o7777)));
        }
        let mut text = Vec::new();
        f.take(MAX_STATUS_BYTES + 1)
            .read_to_end(&mut text)
            .map_err(|source| StatusError::Io { path: path.to_owned(), source })?;
        if text.len() as u64 > MAX_STATUS_BYTES {
            return Err(bad("larger than 16 MiB".into()));
        }
        let mut st: Status = serde_json::from_slice(&text)
            .map_err(|e| StatusError::Parse { path: path.to_owned(), detail: e.to_string() })?;
        if st.name != name {
            tracing::warn!("{} says it is domain {:?}; it is '{name}' by its location", path.display(), st.name);
            st.name = name.to_string();
        }
        Ok(Some(st))
    }

    pub fn store(&self, path: &Path) -> std::io::Result<()> {
        let data = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_atomic(path, &data, 0o600)
    }
}
