//! Scalar types that appear in attributes and text.

use std::borrow::Cow;

use crate::core::XmlValue;

impl XmlValue for String {
    fn from_xml_value(s: &str) -> Result<Self, String> {
        Ok(s.to_string())
    }
    fn to_xml_value(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

/// Parses an unsigned number the way libvirt does: decimal, or hex with `0x`.
pub fn parse_u64(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let r = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16)
    } else {
        s.parse::<u64>()
    };
    r.map_err(|_| {
        if s.starts_with('-') {
            "must not be negative".to_string()
        } else {
            "expected an unsigned integer".to_string()
        }
    })
}

macro_rules! unsigned_value {
    ($($t:ty),*) => {$(
        impl XmlValue for $t {
            fn from_xml_value(s: &str) -> Result<Self, String> {
                let v = parse_u64(s)?;
                <$t>::try_from(v).map_err(|_| format!("must be at most {}", <$t>::MAX))
            }
            fn to_xml_value(&self) -> Cow<'_, str> {
                Cow::Owned(self.to_string())
            }
        }
    )*};
}
unsigned_value!(u8, u16, u32, u64, usize);

macro_rules! signed_value {
    ($($t:ty),*) => {$(
        impl XmlValue for $t {
            fn from_xml_value(s: &str) -> Result<Self, String> {
                s.trim().parse::<$t>().map_err(|_| "expected an integer".to_string())
            }
            fn to_xml_value(&self) -> Cow<'_, str> {
                Cow::Owned(self.to_string())
            }
        }
    )*};
}
signed_value!(i32, i64);

impl XmlValue for f64 {
    fn from_xml_value(s: &str) -> Result<Self, String> {
        s.trim().parse::<f64>().map_err(|_| "expected a number".to_string())
    }
    fn to_xml_value(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_string())
    }
}

impl XmlValue for uuid::Uuid {
    fn from_xml_value(s: &str) -> Result<Self, String> {
        // libvirt also accepts the 32 hex digits without dashes, and dashes anywhere
        let hex: String = s.chars().filter(|c| *c != '-' && !c.is_whitespace()).collect();
        if hex.len() != 32 {
            return Err("expected a UUID like 4dea22b3-1d52-d8f3-2516-782e98ab3fa0".into());
        }
        uuid::Uuid::parse_str(&hex).map_err(|_| "expected a UUID like 4dea22b3-1d52-d8f3-2516-782e98ab3fa0".into())
    }
    fn to_xml_value(&self) -> Cow<'_, str> {
        Cow::Owned(self.hyphenated().to_string())
    }
}

/// `yes` / `no`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, oxvirt_xml_derive::XmlValue)]
pub enum YesNo {
    Yes,
    #[default]
    No,
}

/// `on` / `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, oxvirt_xml_derive::XmlValue)]
pub enum OnOff {
    On,
    #[default]
    Off,
}

impl From<bool> for YesNo {
    fn from(b: bool) -> Self {
        if b {
            YesNo::Yes
        } else {
            YesNo::No
        }
    }
}
impl From<bool> for OnOff {
    fn from(b: bool) -> Self {
        if b {
            OnOff::On
        } else {
            OnOff::Off
        }
    }
}
impl YesNo {
    pub fn is_yes(self) -> bool {
        self == YesNo::Yes
    }
}
impl OnOff {
    pub fn is_on(self) -> bool {
        self == OnOff::On
    }
}

/// An unsigned number libvirt prints in hex with a fixed width (`0x%0Wx`), as in device addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hex<const W: usize>(pub u32);

impl<const W: usize> XmlValue for Hex<W> {
    fn from_xml_value(s: &str) -> Result<Self, String> {
        let v = parse_u64(s)?;
        u32::try_from(v).map(Hex).map_err(|_| "too large".to_string())
    }
    fn to_xml_value(&self) -> Cow<'_, str> {
        Cow::Owned(format!("0x{:0width$x}", self.0, width = W))
    }
}

impl XmlValue for std::net::IpAddr {
    fn from_xml_value(s: &str) -> Result<Self, String> {
        s.trim().parse().map_err(|_| "expected an IPv4 or IPv6 address".to_string())
    }
    fn to_xml_value(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_string())
    }
}

impl XmlValue for std::net::Ipv4Addr {
    fn from_xml_value(s: &str) -> Result<Self, String> {
        s.trim().parse().map_err(|_| "expected an IPv4 address".to_string())
    }
    fn to_xml_value(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_string())
    }
}

/// An Ethernet MAC address; read in any letter case, written lowercase as libvirt does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// A random address in QEMU/KVM's `52:54:00` range, as libvirt generates for new NICs and networks.
    pub fn random_qemu() -> Self {
        let r = uuid::Uuid::new_v4();
        let b = r.as_bytes();
        MacAddr([0x52, 0x54, 0x00, b[0], b[1], b[2]])
    }

    pub fn is_multicast(self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl std::fmt::Display for MacAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

impl std::str::FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("expected a MAC address like 52:54:00:12:34:56, got '{s}'");
        let mut out = [0u8; 6];
        let mut parts = s.trim().split([':', '-']);
        for b in out.iter_mut() {
            let p = parts.next().ok_or_else(bad)?;
            if p.is_empty() || p.len() > 2 {
                return Err(bad());
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddr(out))
    }
}

impl XmlValue for MacAddr {
    fn from_xml_value(s: &str) -> Result<Self, String> {
        s.parse()
    }
    fn to_xml_value(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_string())
    }
}
