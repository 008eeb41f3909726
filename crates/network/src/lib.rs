//! oxvirt's virtual networks, libvirt-compatible: a bridge per network with its addresses and
//! routes, dnsmasq for DHCP/DNS/RA, NAT and forwarding rules in nftables tables of our own, ports
//! for guests ([`connection`]: a driver of its own, `network:///system`, that hypervisor
//! connections carry). All host access sits behind the traits in [`host`], so the driver logic is
//! tested without privileges; the real parts act on the calling thread's network namespace.

pub mod bandwidth;
pub mod connection;
pub mod dnsmasq;
pub mod driver;
pub mod firewall;
pub mod host;
pub mod layout;
pub mod macvtap;
pub mod netlink;
/// Kept at its old path; the type lives in `oxvirt_sysutil` so both drivers share it.
pub use oxvirt_sysutil::rollback;
pub mod tap;
pub mod util;

pub use connection::{enable_daemon_mode, register, NetworkConnection, NetworkDriverFactory};
pub use driver::{DirectInterface, NetworkDriver, Runtime, StartReport, TapHandle, UpdateCommand};
pub use host::Host;
pub use layout::NetLayout;
pub use macvtap::{delete_macvtap, open_macvtap, Macvtap, MacvtapError, MacvtapSpec};
pub use tap::{is_generated_name, open_existing_tap, open_tap, TapError, TapSpec};
