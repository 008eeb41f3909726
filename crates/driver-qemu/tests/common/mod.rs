//! Shared helpers for end-to-end tests: the test guest image and domain XML for it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The tiny guest built by scripts/guest-image.sh (`make guest`), built here if missing.
pub fn guest_dir() -> PathBuf {
    let dir = std::env::var_os("OXVIRT_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/guest"));
    if !dir.join("vmlinuz").exists() || !dir.join("initrd-shell.img").exists() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/guest-image.sh");
        let st = std::process::Command::new("bash").arg(&script).arg(&dir).status().expect("running guest-image.sh");
        assert!(st.success(), "scripts/guest-image.sh failed");
    }
    dir.canonicalize().unwrap()
}

/// A `type='qemu'` domain booting the test guest directly, serial console into `serial`
/// (a file path) or a pty when `None`.
pub fn guest_xml(name: &str, mode: &str, serial: Option<&Path>) -> String {
    let g = guest_dir();
    let initrd = if mode == "poweroff" { "initrd-poweroff.img" } else { "initrd-shell.img" };
    let serial_xml = match serial {
        Some(p) => format!("<serial type='file'><source path='{}'/><target port='0'/></serial>", p.display()),
        None => "<serial type='pty'><target port='0'/></serial><console type='pty'><target type='serial' port='0'/></console>".into(),
    };
    format!(
        "<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu placement='static' current='1'>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{k}</kernel>
    <initrd>{i}</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 oxvirt.mode={mode}</cmdline>
  </os>
  <features><acpi/><apic/></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    {serial_xml}
  </devices>
</domain>",
        k = g.join("vmlinuz").display(),
        i = g.join(initrd).display(),
    )
}

/// Waits until `file` contains `needle`.
pub fn wait_for_text(file: &Path, needle: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if std::fs::read_to_string(file).is_ok_and(|t| t.contains(needle)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
