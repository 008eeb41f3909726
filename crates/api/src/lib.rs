//! oxvirt's public API: open a connection by URI, look up domains, networks and storage, and act
//! on them — libvirt's object model and semantics, in Rust. Drivers implement [`Driver`].

pub mod codes;
pub mod connect;
pub mod driver;
pub mod error;
pub mod network_update;
pub mod secrets;
pub mod types;
pub mod uri;

pub use connect::{
    default_uri, register_driver, Connect, Domain, EventBus, Network, NodeDevice, StoragePool, StorageVol,
};
pub use driver::{DomainEventCallback, DomainRef, Driver, DriverFactory, NetworkRef, NodeDevRef, PoolRef, VolRef};
pub use error::{Error, ErrorCode, ErrorDomain, Result};
pub use types::*;
pub use uri::{ConnectUri, Transport};
