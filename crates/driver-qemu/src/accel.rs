//! Choosing the accelerator: KVM only where it really runs guests.

use std::path::Path;

use oxvirt_api::{Error, ErrorDomain, Result};

use crate::caps::kvm::KvmUsability;
use crate::caps::QemuCaps;

/// The KVM verdict for this boot of the host, cached so a start does not pay for the probe
/// (it runs a tiny guest); the boot id keys it, since KVM's state only changes with the host.
pub fn kvm_usability(caps: &QemuCaps, cache_dir: &Path) -> KvmUsability {
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let path = cache_dir.join("kvm-usability.json");
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok((id, u)) = serde_json::from_str::<(String, KvmUsability)>(&text) {
            if id == boot_id.trim() {
                return u;
            }
        }
    }
    let u = KvmUsability::check(caps.kvm.present);
    if let Ok(data) = serde_json::to_vec(&(boot_id.trim(), &u)) {
        let _ = crate::fsutil::write_atomic(&path, &data, 0o644);
    }
    u
}

/// Refuses `type='kvm'` where KVM cannot run a guest, saying why.
pub fn require_kvm(caps: &QemuCaps, cache_dir: &Path) -> Result<()> {
    let u = kvm_usability(caps, cache_dir);
    if u.usable() {
        return Ok(());
    }
    Err(Error::unsupported_config(format!(
        "domain type 'kvm' needs working KVM, but {}; use <domain type='qemu'> (TCG emulation) on this host",
        u.reason
    ))
    .in_domain(ErrorDomain::Qemu))
}
