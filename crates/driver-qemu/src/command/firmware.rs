//! Firmware: SeaBIOS (QEMU's default, nothing to pass), a custom ROM via `-bios`, or UEFI
//! (OVMF) as two pflash devices: read-only code plus a per-domain copy of the variable store.

use std::path::PathBuf;

use oxvirt_xml::domain::*;
use oxvirt_xml::YesNo;

/// Where Debian's `ovmf` package installs OVMF.
pub const DEFAULT_OVMF_DIR: &str = "/usr/share/OVMF";

/// OVMF images to use when the definition names none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwarePaths {
    pub code: PathBuf,
    pub vars: PathBuf,
    pub secure_code: PathBuf,
    /// Variable store template with Microsoft keys enrolled (secure boot).
    pub secure_vars: PathBuf,
}

impl Default for FirmwarePaths {
    fn default() -> Self {
        let d = PathBuf::from(DEFAULT_OVMF_DIR);
        FirmwarePaths {
            code: d.join("OVMF_CODE_4M.fd"),
            vars: d.join("OVMF_VARS_4M.fd"),
            secure_code: d.join("OVMF_CODE_4M.secboot.fd"),
            secure_vars: d.join("OVMF_VARS_4M.ms.fd"),
        }
    }
}

pub(crate) fn is_efi(os: &Os) -> bool {
    os.firmware == Some(FirmwareType::Efi) || os.loader.as_ref().is_some_and(|l| l.kind == Some(LoaderType::Pflash))
}

pub(crate) fn is_secure(os: &Os) -> bool {
    let want = os
        .firmware_features
        .as_ref()
        .is_some_and(|f| f.features.iter().any(|x| x.name == FirmwareFeatureName::SecureBoot && x.enabled.is_yes()));
    want || os.loader.as_ref().is_some_and(|l| l.secure == Some(YesNo::Yes))
}
