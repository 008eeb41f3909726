//! oxvirt's QEMU driver: libvirt domain XML in, QEMU guests out, managed over QMP.
//!
//! [`caps`] learns what a QEMU binary can do (and whether KVM really works here), [`process`]
//! runs QEMU processes, [`driver`] implements the domain lifecycle of [`oxvirt_api::Driver`] with
//! all state on disk so that guests outlive the process that started them.

pub mod accel;
pub mod caps;
pub mod capsxml;
pub mod cgroup;
pub mod command;
pub mod driver;
/// Re-exported so the driver's modules and benches keep one name for it.
pub use oxvirt_sysutil as fsutil;
pub mod hotplug;
pub mod layout;
pub mod locks;
pub mod monitor;
pub mod nic;
pub mod parsed;
pub mod process;
pub mod security;
pub mod status;

pub use driver::{enable_daemon_mode, register, QemuDriver, QemuDriverFactory};
pub use layout::Layout;
