//! Command failures and how they are reported: virsh's `error: ...` lines on stderr, then, where
//! the fix is obvious, a `hint:` line of our own.

use oxvirt_api::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    /// Bad command syntax or option values.
    #[error("{0}")]
    Usage(String),
    #[error("unknown command: '{0}'")]
    UnknownCommand(String),
    /// An API call failed; `context` is virsh's line saying what we were doing.
    #[error("{context}")]
    Api {
        context: String,
        #[source]
        source: oxvirt_api::Error,
    },
    /// A local file could not be read or written.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A failure with no underlying error to add.
    #[error("{0}")]
    Failed(String),
}

impl CmdError {
    pub fn api(context: impl Into<String>, source: oxvirt_api::Error) -> Self {
        CmdError::Api { context: context.into(), source }
    }

    /// The stderr lines for this failure.
    pub fn report(&self) -> String {
        let mut out = String::new();
        match self {
            CmdError::Api { context, source } => {
                if !context.is_empty() {
                    out.push_str(&format!("error: {context}\n"));
                }
                out.push_str(&format!("error: {}\n", source.message));
                if let Some(h) = hint(source) {
                    out.push_str(&format!("hint: {h}\n"));
                }
            }
            CmdError::Io { context, source } => {
                let msg = source.to_string();
                // Drop Rust's " (os error N)" suffix: virsh prints the bare strerror text.
                let msg = msg.split(" (os error").next().unwrap_or(&msg);
                out.push_str(&format!("error: {context}: {msg}\n"));
            }
            CmdError::UnknownCommand(_) => {
                out.push_str(&format!("error: {self}\nhint: `oxvirt help` lists the commands\n"));
            }
            _ => out.push_str(&format!("error: {self}\n")),
        }
        out
    }
}

fn hint(e: &oxvirt_api::Error) -> Option<&'static str> {
    Some(match e.code {
        ErrorCode::NoDomain => "`oxvirt list --all` shows defined domains",
        ErrorCode::NoNetwork => "`oxvirt net-list --all` shows defined networks",
        ErrorCode::NoStoragePool => "`oxvirt pool-list --all` shows defined storage pools",
        ErrorCode::NoStorageVol => "`oxvirt vol-list POOL` shows the volumes of a pool",
        ErrorCode::OperationDenied if e.message.contains("read only") => {
            "this connection is read-only: run without -r/--readonly (in the shell: `connect URI`)"
        }
        ErrorCode::NoConnect => "pass a URI with -c, e.g. `oxvirt -c test:///default list`, or set LIBVIRT_DEFAULT_URI",
        _ => return None,
    })
}
