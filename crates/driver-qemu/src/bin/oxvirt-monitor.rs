//! `oxvirt-monitor`: owns one guest while no daemon runs (see `oxvirt_driver_qemu::monitor`).
//! Started by the QEMU driver after a start; not meant to be run by hand.

fn main() -> std::process::ExitCode {
    oxvirt_driver_qemu::monitor::main()
}
