//! Completing a definition the way libvirt does: machine type, implicit controllers and default
//! devices, drive / virtio-serial / USB / PCI addresses, MAC addresses and firmware paths at
//! define time ([`for_define`]), plus device aliases at start ([`for_start`]). Runs once per
//! define and once per start; the argv builder takes its result and only formats it.

mod alias;
mod devices;
mod firmware;
mod pci;

use std::sync::atomic::{AtomicU64, Ordering};

use oxvirt_xml::domain::*;
use oxvirt_xml::MacAddr;

use super::machine::{kind_of, MachineKind};
use super::{invalid, unsupported, validate, BuildEnv, CommandError};

pub(crate) use alias::controller_alias;

/// How many completions ran in this process (measured per start by the driver's tests).
static COMPLETIONS: AtomicU64 = AtomicU64::new(0);

/// Completions run so far in this process.
pub fn count() -> u64 {
    COMPLETIONS.load(Ordering::Relaxed)
}

/// The start-time completion: [`for_define`], then device aliases (QEMU ids), which the live XML
/// shows and a persistent definition does not keep.
pub(crate) fn for_start(def: &mut Domain, env: &BuildEnv) -> Result<(), CommandError> {
    for_define(def, env)?;
    alias::assign(def);
    Ok(())
}

/// Device aliases alone (a hot-plugged device's id in a running domain).
pub(crate) fn aliases(def: &mut Domain) {
    alias::assign(def);
}

/// The define-time completion (libvirt's post-parse and address assignment).
pub(crate) fn for_define(def: &mut Domain, env: &BuildEnv) -> Result<(), CommandError> {
    COMPLETIONS.fetch_add(1, Ordering::Relaxed);
    validate::for_define(def)?;
    if def.os.kind.arch.is_none() {
        def.os.kind.arch = Some("x86_64".into());
    }
    resolve_machine(def, env)?;
    validate::caps(def, env)?;
    let kind = kind_of(def)?;
    firmware::assign(def, env, kind)?;
    let devs = def.devices.get_or_insert_with(Devices::default);
    devices::add_implicit(devs, kind);
    devices::console_compat(devs);
    devices::drive_addresses(devs)?;
    devices::add_needed_controllers(devs, kind);
    devices::controller_defaults(devs, kind);
    devices::virtio_serial_addresses(devs)?;
    devices::usb_addresses(devs)?;
    for net in &mut devs.interfaces {
        if net.mac.is_none() {
            net.mac = Some(Mac { address: MacAddr::random_qemu(), kind: None, check: None });
        }
    }
    if kind != MachineKind::Microvm {
        pci::assign(devs, kind)?;
    }
    Ok(())
}

fn resolve_machine(def: &mut Domain, env: &BuildEnv) -> Result<(), CommandError> {
    let caps = env.caps;
    let name = match def.os.kind.machine.as_deref() {
        Some(m) => m.to_owned(),
        None => caps
            .default_machine()
            .map(|m| m.name.clone())
            .or_else(|| caps.machine("pc").map(|m| m.name.clone()))
            .ok_or_else(|| {
            invalid("/domain/os/type/@machine", "no machine type given and the emulator has no default")
        })?,
    };
    let m = caps.machine(&name).ok_or_else(|| {
        unsupported("/domain/os/type/@machine", format!("machine type '{name}' is not supported by this emulator"))
    })?;
    def.os.kind.machine = Some(m.name.clone());
    Ok(())
}
