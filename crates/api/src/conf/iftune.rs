//! `virDomain{Get,Set}InterfaceParameters`: the bandwidth parameters of a guest interface, checked
//! and found the same way by every driver.

use crate::error::{Error, Result};
use crate::types::TypedParam;

/// libvirt's parameter names (`VIR_DOMAIN_BANDWIDTH_*`), in the order the getters return them.
pub const NAMES: [&str; 7] = [
    "inbound.average",
    "inbound.peak",
    "inbound.burst",
    "inbound.floor",
    "outbound.average",
    "outbound.peak",
    "outbound.burst",
];

/// Checks a setter's parameters as `virTypedParamsValidate` does (known names, unsigned ints)
/// and returns them as (name, value).
pub fn parse(params: &[(String, TypedParam)]) -> Result<Vec<(&'static str, u32)>> {
    params
        .iter()
        .map(|(field, value)| {
            let name = NAMES
                .iter()
                .find(|n| **n == field)
                .ok_or_else(|| Error::invalid_arg(format!("parameter '{field}' not supported")))?;
            match value {
                TypedParam::UInt(v) => Ok((*name, *v)),
                other => Err(Error::invalid_arg(format!(
                    "invalid type '{}' for parameter '{field}', expected 'uint'",
                    type_name(other)
                ))),
            }
        })
        .collect()
}

fn type_name(p: &TypedParam) -> &'static str {
    match p {
        TypedParam::Int(_) => "int",
        TypedParam::UInt(_) => "uint",
        TypedParam::LLong(_) => "llong",
        TypedParam::ULLong(_) => "ullong",
        TypedParam::Double(_) => "double",
        TypedParam::Boolean(_) => "boolean",
        TypedParam::String(_) => "string",
    }
}

/// The getter's answer from the seven values in [`NAMES`] order.
pub fn params(values: [u32; 7]) -> Vec<(String, TypedParam)> {
    NAMES.iter().zip(values).map(|(n, v)| (n.to_string(), TypedParam::UInt(v))).collect()
}

/// `VIR_TYPED_PARAM_STRING_OKAY`, which the getter accepts.
pub const TYPED_PARAM_STRING_OKAY: u32 = 4;

/// The getter's `(live, config)` flags, which may not both be set.
pub fn get_flags(f: u32) -> Result<(bool, bool)> {
    use crate::conf::impact::{check_exclusive, AFFECT_CONFIG, AFFECT_LIVE};
    check_exclusive(crate::DomainModificationImpact::from_bits_truncate(f))?;
    Ok((f & AFFECT_LIVE != 0, f & AFFECT_CONFIG != 0))
}

/// libvirt's `virDomainNetFind`: by MAC address when `device` parses as one, else by target dev.
pub fn find_interface<'a>(
    def: &'a mut oxvirt_xml::domain::Domain,
    device: &str,
) -> Result<&'a mut oxvirt_xml::domain::devices::interface::Interface> {
    let mac = device.parse::<oxvirt_xml::MacAddr>().ok();
    def.devices
        .iter_mut()
        .flat_map(|d| d.interfaces.iter_mut())
        .find(|n| match mac {
            Some(m) => n.mac.as_ref().map(|x| x.address) == Some(m),
            None => n.target.as_ref().and_then(|t| t.dev.as_deref()) == Some(device),
        })
        .ok_or_else(|| Error::invalid_arg(format!("'{device}' is not a known interface")))
}
