//! The seam between hypervisor drivers and the drivers of other object families (libvirt's
//! secondary drivers): a hypervisor connection carries a network driver and a storage driver
//! (node devices next), and a hypervisor driver plugs guests into networks only through
//! [`NetworkPorts`] (libvirt's `virNetworkPort`), so any hypervisor driver can use networks
//! without knowing how they are run.

use std::sync::Arc;

use oxvirt_xml::network::{Bandwidth, ForwardMode};
use oxvirt_xml::MacAddr;

use crate::driver::Driver;
use crate::error::Result;

/// One guest interface asking a network for a port (`<interface type='network'>`).
#[derive(Debug, Clone, Copy)]
pub struct PortRequest<'a> {
    pub network: &'a str,
    pub mac: MacAddr,
    /// `<source portgroup>`; `None`: the network's default port group applies.
    pub portgroup: Option<&'a str>,
    /// The interface's own `<bandwidth>`, which wins over its port group's.
    pub bandwidth: Option<&'a Bandwidth>,
}

/// How the hypervisor driver plugs the guest into the port it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortPlug {
    /// A tap device enslaved to `bridge`, with the network's MTU.
    Bridge { bridge: String, mtu: Option<u32> },
    /// A macvtap on host interface `dev` in the network's forward `mode` (vepa, bridge,
    /// private, passthrough).
    Direct { dev: String, mode: ForwardMode },
}

/// A port a network gave one guest interface; given back with [`NetworkPorts::release_port`].
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkPort {
    pub network: String,
    pub plug: PortPlug,
    /// Limits to set on the guest's device: the interface's own, else its port group's.
    pub bandwidth: Option<Bandwidth>,
}

/// What a network driver offers hypervisor drivers: ports for guest interfaces. The network
/// counts each port until it is released, so it knows which devices are in use.
pub trait NetworkPorts: Send + Sync {
    /// A port on active network `req.network`, with what the guest's device needs.
    fn allocate_port(&self, req: &PortRequest<'_>) -> Result<NetworkPort>;
    /// The guest's device is gone: gives back a port of `network`, a bridge port (`direct_dev`
    /// `None`) or a direct one on forward device `direct_dev`. Takes only what a stopped
    /// guest's live XML still shows.
    fn release_port(&self, network: &str, direct_dev: Option<&str>) -> Result<()>;
    /// Sets every active network's connection counts to the ports running guests hold
    /// (`in_use`: one `(network, direct forward device)` per guest NIC). A process killed between
    /// allocating a port and recording its guest never gave it back; only a caller that sees every
    /// guest with no operation in flight (the hypervisor driver's start-up pass) may call this.
    fn reconcile_ports(&self, _in_use: &[(String, Option<String>)]) -> Result<()> {
        Ok(())
    }
}

/// The drivers of other object families a hypervisor connection carries. `None`: the
/// hypervisor driver answers for that family itself (the test driver, the remote driver).
#[derive(Clone, Default)]
pub struct SecondaryDrivers {
    /// Networks as the API sees them (`virsh net-*` on a `qemu:///...` connection).
    pub network: Option<Arc<dyn Driver>>,
    /// The same network driver as hypervisor drivers use it.
    pub network_ports: Option<Arc<dyn NetworkPorts>>,
    /// Storage pools and volumes (`virsh pool-*`, `vol-*` on a `qemu:///...` connection).
    pub storage: Option<Arc<dyn Driver>>,
}

impl SecondaryDrivers {
    /// Fills the families `self` lacks from `other`.
    pub fn or(mut self, other: SecondaryDrivers) -> SecondaryDrivers {
        if self.network.is_none() {
            self.network = other.network;
        }
        if self.network_ports.is_none() {
            self.network_ports = other.network_ports;
        }
        if self.storage.is_none() {
            self.storage = other.storage;
        }
        self
    }
}

impl std::fmt::Debug for SecondaryDrivers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecondaryDrivers")
            .field("network", &self.network.as_ref().map(|d| d.uri()))
            .field("network_ports", &self.network_ports.is_some())
            .field("storage", &self.storage.as_ref().map(|d| d.uri()))
            .finish()
    }
}
