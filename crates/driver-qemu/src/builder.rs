//! The driver's bridge to the command-line builder: it adds what only the driver knows (run
//! paths, the event monitor) to what the domain definition asks for.
//!
//! Interim: until the full builder (`command`) lands, this covers the small guests the lifecycle
//! needs (direct kernel boot, memory, vCPUs, serial consoles) and refuses everything else.

use oxvirt_xml::domain::Domain;

use crate::caps::QemuCaps;
use crate::layout::Layout;
use crate::process::RunDir;

pub fn assign_addresses(_def: &mut Domain, _caps: &QemuCaps) -> Result<(), String> {
    Ok(())
}

pub fn build_args(
    def: &Domain,
    caps: &QemuCaps,
    run: &RunDir,
    _layout: &Layout,
) -> Result<Vec<String>, String> {
    let mut a: Vec<String> = Vec::new();
    let mut push = |v: &[&str]| a.extend(v.iter().map(|s| s.to_string()));
    let accel = if def.kind.to_string() == "kvm" {
        "kvm"
    } else {
        "tcg"
    };
    let machine = def
        .machine()
        .map(str::to_string)
        .or_else(|| caps.default_machine().map(|m| m.name.clone()))
        .unwrap_or_else(|| "pc".into());
    push(&["-name", &format!("guest={},debug-threads=on", def.name)]);
    push(&[
        "-S",
        "-no-user-config",
        "-nodefaults",
        "-no-shutdown",
        "-display",
        "none",
    ]);
    push(&[
        "-machine",
        &format!("{machine},usb=off,dump-guest-core=off"),
    ]);
    push(&["-accel", accel]);
    if let Some(u) = def.uuid {
        push(&["-uuid", &u.to_string()]);
    }
    push(&["-m", &format!("size={}k", def.memory_kib())]);
    push(&[
        "-smp",
        &format!("{},maxcpus={}", def.vcpus_current(), def.vcpus()),
    ]);
    if let Some(k) = &def.os.kernel {
        push(&["-kernel", k]);
    }
    if let Some(i) = &def.os.initrd {
        push(&["-initrd", i]);
    }
    if let Some(c) = &def.os.cmdline {
        push(&["-append", c]);
    }
    let devices = def.devices.clone().unwrap_or_default();
    for (i, s) in devices.serials.iter().enumerate() {
        let kind = s
            .kind
            .map(|k| k.to_string())
            .unwrap_or_else(|| "pty".into());
        let path = s.source.sources.first().and_then(|x| x.path.clone());
        let backend = match (kind.as_str(), path) {
            ("pty", _) => format!("pty,id=charserial{i}"),
            ("file", Some(p)) => format!("file,id=charserial{i},path={p}"),
            ("unix", Some(p)) => format!("socket,id=charserial{i},path={p},server=on,wait=off"),
            ("null", _) => format!("null,id=charserial{i}"),
            (k, _) => {
                return Err(format!(
                    "serial type '{k}' is not supported yet (/domain/devices/serial[{}])",
                    i + 1
                ))
            }
        };
        push(&[
            "-chardev",
            &backend,
            "-device",
            &format!("isa-serial,chardev=charserial{i},id=serial{i}"),
        ]);
    }
    let events = run.dir.join("events.sock");
    push(&[
        "-chardev",
        &format!(
            "socket,id=charmonitor-ev,path={},server=on,wait=off",
            events.display()
        ),
    ]);
    push(&["-mon", "chardev=charmonitor-ev,mode=control"]);
    push(&[
        "-sandbox",
        "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
    ]);
    Ok(a)
}
