//! QEMU-side building blocks of the QEMU driver: what a QEMU binary can do ([`caps`]),
//! whether KVM really works here ([`caps::kvm`]), and running QEMU processes
//! ([`process`]).

pub mod caps;
pub mod process;
