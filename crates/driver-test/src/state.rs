//! One test driver instance's world: node facts, domains, networks, pools. Every operation
//! takes the state lock, changes what it must and returns the events to send once unlocked.

use std::collections::HashMap;

use oxvirt_api::{DomainEventKind, DomainRef, DomainState, NodeInfo};
use uuid::Uuid;

use crate::domdef::Def;
use crate::network::NetObj;
use crate::storage::PoolObj;

/// libvirt's node facts for `test:///default` (and the start values for a node file).
pub fn default_node_info() -> NodeInfo {
    NodeInfo {
        model: "i686".into(),
        memory: 3 * 1024 * 1024,
        cpus: 16,
        mhz: 1400,
        nodes: 2,
        sockets: 2,
        cores: 2,
        threads: 2,
    }
}

/// One NUMA cell of the default node (the capabilities XML shows them).
#[derive(Debug, Clone)]
pub struct Cell {
    pub cpus: u32,
    /// KiB
    pub mem: u64,
}

/// A domain object: libvirt's `virDomainObj` reduced to what the test driver uses.
#[derive(Debug, Clone)]
pub struct DomObj {
    /// The live definition while active, else the persistent one.
    pub def: Def,
    /// While active and persistent: the persistent definition (libvirt's `newDef`).
    pub new_def: Option<Def>,
    /// -1 when inactive.
    pub id: i32,
    pub state: DomainState,
    pub reason: i32,
    pub persistent: bool,
    pub autostart: bool,
    pub managed_save: bool,
}

impl DomObj {
    pub fn is_active(&self) -> bool {
        self.state.is_active()
    }

    pub fn reference(&self) -> DomainRef {
        DomainRef { name: self.def.name().to_string(), uuid: self.def.uuid(), id: self.id }
    }

    /// The persistent definition: the saved one while running, else the current one.
    pub fn persistent_def(&self) -> &Def {
        self.new_def.as_ref().unwrap_or(&self.def)
    }
}

/// An event to deliver after the state lock is released.
pub type PendingEvent = (DomainRef, DomainEventKind, i32);

#[derive(Debug)]
pub struct State {
    pub node: NodeInfo,
    pub cells: Vec<Cell>,
    /// In definition order; change only through `push_domain`/`remove_domain` (they keep the indexes).
    pub domains: Vec<DomObj>,
    /// Position in `domains` by UUID and by name: lookups stay O(1) with thousands of domains.
    dom_by_uuid: HashMap<Uuid, usize>,
    dom_by_name: HashMap<String, usize>,
    pub networks: Vec<NetObj>,
    pub pools: Vec<PoolObj>,
    /// Host devices (`<device>` in the node file), in file order.
    pub devices: Vec<oxvirt_xml::nodedev::NodeDevice>,
    /// The id the next started domain gets; ids only grow.
    pub next_id: i32,
}

impl State {
    pub fn new() -> Self {
        State {
            node: default_node_info(),
            cells: Vec::new(),
            domains: Vec::new(),
            dom_by_uuid: HashMap::new(),
            dom_by_name: HashMap::new(),
            networks: Vec::new(),
            pools: Vec::new(),
            devices: Vec::new(),
            next_id: 1,
        }
    }

    pub fn alloc_id(&mut self) -> i32 {
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        id
    }

    pub fn dom_index_by_uuid(&self, uuid: &Uuid) -> Option<usize> {
        self.dom_by_uuid.get(uuid).copied()
    }

    pub fn dom_index_by_name(&self, name: &str) -> Option<usize> {
        self.dom_by_name.get(name).copied()
    }

    /// Adds a domain whose name and UUID are not taken (callers check); returns its index.
    pub fn push_domain(&mut self, d: DomObj) -> usize {
        let i = self.domains.len();
        self.dom_by_uuid.insert(d.def.uuid(), i);
        self.dom_by_name.insert(d.def.name().to_string(), i);
        self.domains.push(d);
        i
    }

    pub fn remove_domain(&mut self, i: usize) {
        let d = self.domains.remove(i);
        self.dom_by_uuid.remove(&d.def.uuid());
        self.dom_by_name.remove(d.def.name());
        for (j, d) in self.domains.iter().enumerate().skip(i) {
            self.dom_by_uuid.insert(d.def.uuid(), j);
            self.dom_by_name.insert(d.def.name().to_string(), j);
        }
    }
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}
