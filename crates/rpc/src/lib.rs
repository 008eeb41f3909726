//! libvirt's remote wire protocol, in the project's own code: an XDR codec with declarative
//! macros for the protocol's structs, enums and unions, message framing, the REMOTE and KEEPALIVE
//! programs, a server [`Session`](server::Session) that serves calls from an
//! [`oxvirt_api::Connect`], a small blocking [`Client`](client::Client) for tests and tools, and
//! the [`RemoteDriver`](remote::RemoteDriver) that makes a daemon an `oxvirt_api` driver; [`tls`]
//! carries the protocol over TLS, libvirt-style, for both ends.

pub mod client;
pub mod console;
pub mod message;
pub mod protocol;
pub mod remote;
pub mod server;
pub mod tls;
pub mod xdr;

pub use message::{Header, Message, MessageType, Status};
pub use server::{Session, SessionConfig, Sink};
pub use xdr::{Reader, Xdr, XdrError};
