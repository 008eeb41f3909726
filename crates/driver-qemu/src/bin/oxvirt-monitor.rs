//! `oxvirt-monitor`: owns one guest while no daemon runs (see `oxvirt_driver_qemu::monitor`).
//! Started by the QEMU driver after a start; not meant to be run by hand.

fn main() -> std::process::ExitCode {
    // The guest's network ports are given back through the network driver of its root.
    oxvirt_network::register();
    oxvirt_driver_qemu::monitor::main()
}
