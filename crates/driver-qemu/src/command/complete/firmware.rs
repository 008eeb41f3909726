//! Firmware selection at define time: `<loader>` and `<nvram>` of UEFI guests from the
//! configured OVMF images.

use oxvirt_xml::domain::*;
use oxvirt_xml::YesNo;

use super::super::firmware::{is_efi, is_secure};
use super::super::machine::MachineKind;
use super::{unsupported, BuildEnv, CommandError};

/// Fills `<loader>` and `<nvram>` for UEFI guests.
pub(crate) fn assign(def: &mut Domain, env: &BuildEnv, kind: MachineKind) -> Result<(), CommandError> {
    if !is_efi(&def.os) {
        if let Some(l) = &def.os.loader {
            if l.path.is_none() {
                return Err(unsupported("/domain/os/loader", "a <loader> without a path and without UEFI"));
            }
        }
        if def.os.nvram.is_some() {
            return Err(unsupported("/domain/os/nvram", "<nvram> without a pflash loader"));
        }
        return Ok(());
    }
    if kind == MachineKind::Microvm {
        return Err(unsupported("/domain/os", "UEFI firmware on the microvm machine"));
    }
    let secure = is_secure(&def.os);
    if secure && kind != MachineKind::Q35 {
        return Err(unsupported("/domain/os/loader/@secure", "secure boot needs the q35 machine type"));
    }
    let fw = &env.firmware;
    let loader = def.os.loader.get_or_insert_with(Loader::default);
    if loader.path.is_none() {
        let code = if secure { &fw.secure_code } else { &fw.code };
        if !code.exists() {
            return Err(CommandError::FirmwareLookup(format!(
                "{} does not exist (install the 'ovmf' package)",
                code.display()
            )));
        }
        loader.path = Some(code.display().to_string());
    }
    loader.readonly.get_or_insert(YesNo::Yes);
    loader.kind = Some(LoaderType::Pflash);
    if secure {
        loader.secure = Some(YesNo::Yes);
    }
    if loader.stateless == Some(YesNo::Yes) {
        return Ok(());
    }
    if def.os.nvram.as_ref().is_some_and(|n| n.kind.is_some() || n.source.is_some()) {
        return Err(unsupported("/domain/os/nvram/source", "a variable store given as <source> (use a path)"));
    }
    let name = def.name.clone();
    let nvram = def.os.nvram.get_or_insert_with(Nvram::default);
    if nvram.template.is_none() {
        let t = if secure { &fw.secure_vars } else { &fw.vars };
        nvram.template = Some(t.display().to_string());
    }
    if nvram.path.is_none() {
        nvram.path = Some(env.lib_dir.join("nvram").join(format!("{name}_VARS.fd")).display().to_string());
    }
    Ok(())
}
