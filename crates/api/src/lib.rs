//! oxvirt's public API: open a connection by URI, look up domains, networks and storage, and act
//! on them — libvirt's object model and semantics, in Rust. Drivers implement [`Driver`].

pub mod codes;
pub mod conf;
pub mod connect;
pub mod driver;
pub mod error;
pub mod port;
pub mod secrets;
pub mod types;
pub mod uri;

/// Kept at its old path for the front ends; it lives with the other shared rules.
pub use conf::network_update;
pub use connect::{
    default_uri, register_driver, secondary_drivers_for, Connect, Domain, EventBus, Network, NodeDevice, StoragePool,
    StorageVol,
};
pub use driver::{DomainEventCallback, DomainRef, Driver, DriverFactory, NetworkRef, NodeDevRef, PoolRef, VolRef};
pub use error::{Error, ErrorCode, ErrorDomain, Result};
pub use port::{NetworkPort, NetworkPorts, PortPlug, PortRequest, SecondaryDrivers};
pub use types::*;
pub use uri::{ConnectUri, Transport};
