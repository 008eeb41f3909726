//! The rules libvirt keeps in `src/conf` and every driver shares, so the test driver refuses what
//! the real drivers refuse, with the same message and error code: object lists (name/UUID clashes,
//! live versus persistent definitions), modification impact (live/config/current), network
//! defaults and validation, network updates and guest interface tuning. Hypervisor- and
//! host-specific rules stay in their drivers.

pub mod iftune;
pub mod impact;
pub mod network;
pub mod network_update;
pub mod objlist;
