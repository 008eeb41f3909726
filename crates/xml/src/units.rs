//! libvirt's scaled integers (`<memory unit='GiB'>4</memory>`).

use std::borrow::Cow;

use crate::core::{El, FromXml, ToXml, Writer, XmlError, XmlValue};

/// Bytes in one `unit`, as libvirt reads units (case-insensitively): `b`/`byte`/`bytes`; a bare
/// prefix letter or `KiB`/`MiB`/... are binary; `KB`/`MB`/... are SI.
pub fn unit_factor(unit: &str) -> Result<u64, String> {
    let unknown = || format!("unknown unit '{unit}' (use b, KiB, MiB, GiB, TiB, KB, MB, GB, ...)");
    let lower = unit.to_ascii_lowercase();
    if matches!(lower.as_str(), "b" | "byte" | "bytes") {
        return Ok(1);
    }
    let mut chars = lower.chars();
    let prefix = chars.next().ok_or_else(unknown)?;
    let base: u64 = match chars.as_str() {
        "" | "ib" => 1024,
        "b" => 1000,
        _ => return Err(unknown()),
    };
    let power = match prefix {
        'k' => 1,
        'm' => 2,
        'g' => 3,
        't' => 4,
        'p' => 5,
        'e' => 6,
        _ => return Err(unknown()),
    };
    Ok(base.pow(power))
}

/// Multiplies `value` by `unit` into bytes, refusing overflow.
pub fn scale(value: u64, unit: &str) -> Result<u64, String> {
    value.checked_mul(unit_factor(unit)?).ok_or_else(|| "value too large".to_string())
}

/// A size held in KiB, read with any unit (rounded up to whole KiB as libvirt does), written as KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct KiB(pub u64);

impl KiB {
    pub fn bytes(self) -> u64 {
        self.0.saturating_mul(1024)
    }
    /// Reads a value whose unit attribute is separate (defaulting to KiB).
    pub fn from_parts(value: u64, unit: Option<&str>) -> Result<Self, String> {
        let bytes = scale(value, unit.unwrap_or("KiB"))?;
        Ok(KiB(bytes.div_ceil(1024)))
    }
}

impl FromXml for KiB {
    fn from_xml(el: &mut El<'_, '_>) -> Result<Self, XmlError> {
        let unit: Option<String> = el.attr_opt("unit")?;
        let value: u64 = el.text_req()?;
        KiB::from_parts(value, unit.as_deref()).map_err(|reason| XmlError::InvalidText {
            at: el.location(),
            value: format!("{value} {}", unit.as_deref().unwrap_or("KiB")),
            reason,
        })
    }
}

impl ToXml for KiB {
    fn write_attrs(&self, w: &mut Writer) {
        w.attr("unit", "KiB");
    }
    fn write_content(&self, w: &mut Writer) {
        w.text(&self.0.to_string());
    }
}

/// A size in bytes, read with any unit (default bytes), written with `unit='bytes'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Bytes(pub u64);

impl FromXml for Bytes {
    fn from_xml(el: &mut El<'_, '_>) -> Result<Self, XmlError> {
        let unit: Option<String> = el.attr_opt("unit")?;
        let value: u64 = el.text_req()?;
        scale(value, unit.as_deref().unwrap_or("bytes")).map(Bytes).map_err(|reason| XmlError::InvalidText {
            at: el.location(),
            value: value.to_string(),
            reason,
        })
    }
}

impl ToXml for Bytes {
    fn write_attrs(&self, w: &mut Writer) {
        w.attr("unit", "bytes");
    }
    fn write_content(&self, w: &mut Writer) {
        w.text(&self.0.to_string());
    }
}

impl XmlValue for Bytes {
    fn from_xml_value(s: &str) -> Result<Self, String> {
        crate::values::parse_u64(s).map(Bytes)
    }
    fn to_xml_value(&self) -> Cow<'_, str> {
        Cow::Owned(self.0.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_scale() {
        assert_eq!(KiB::from_parts(1, Some("GiB")).unwrap(), KiB(1 << 20));
        assert_eq!(KiB::from_parts(1, Some("GB")).unwrap(), KiB(976_563));
        assert_eq!(KiB::from_parts(1, Some("b")).unwrap(), KiB(1));
        assert_eq!(KiB::from_parts(5, None).unwrap(), KiB(5));
        assert!(KiB::from_parts(u64::MAX, Some("EiB")).is_err());
        assert!(KiB::from_parts(1, Some("parsecs")).is_err());
        assert_eq!(KiB::from_parts(500, Some("mib")).unwrap(), KiB(500 * 1024));
        assert_eq!(KiB::from_parts(1, Some("kb")).unwrap(), KiB(1));
        assert_eq!(KiB::from_parts(1, Some("M")).unwrap(), KiB(1024));
        assert_eq!(KiB::from_parts(2, Some("Bytes")).unwrap(), KiB(1));
        assert!(KiB::from_parts(1, Some("kibb")).is_err());
    }
}
