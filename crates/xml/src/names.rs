//! The one rule for object names (domains, networks, storage pools and volumes, snapshots, node
//! devices), for every driver.
//!
//! Names become file names (`NAME.xml`, `NAME.status`, run directories), command arguments and
//! log lines, so a name must be one harmless path component. libvirt's conf layer refuses `/`
//! (VIR_ERR_XML_ERROR "name ... cannot contain '/'"; networks: "invalid char in name") and its
//! QEMU and test drivers a newline; we refuse more:
//! - empty, `.` and `..` (they name the directory itself or its parent);
//! - `/` and NUL (path separators and C string ends);
//! - C0 and C1 control characters and DEL (newline and tab forge log lines and break
//!   line-oriented files);
//! - Unicode bidirectional controls and line separators (a right-to-left override makes a
//!   listed name read as another one);
//! - a leading `-` (it would read as an option in virsh-style command lines);
//! - more than [`MAX_NAME_BYTES`] bytes (the file names built from it must stay under NAME_MAX).

use std::fmt;

use crate::XmlError;

/// Longest name in bytes: NAME_MAX (255) less room for what drivers add around it
/// (`.xml`, `.status`, `domain-ID-` prefixes, socket suffixes).
pub const MAX_NAME_BYTES: usize = 200;

/// What a name names, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Domain,
    Network,
    StoragePool,
    StorageVol,
    Snapshot,
    NodeDevice,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Domain => "domain",
            Kind::Network => "network",
            Kind::StoragePool => "pool",
            Kind::StorageVol => "volume",
            Kind::Snapshot => "snapshot",
            Kind::NodeDevice => "node device",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{kind} name must not be empty")]
    Empty { kind: Kind },
    #[error("{kind} name '{name}' is not allowed (it names a directory)")]
    Dot { kind: Kind, name: String },
    #[error("{kind} name '{name}' must not contain '/'")]
    Slash { kind: Kind, name: String },
    /// `shown` is the name with invisible characters written as `U+XXXX`.
    #[error("{kind} name '{shown}' must not contain {what} {code}")]
    Char { kind: Kind, shown: String, what: &'static str, code: String },
    #[error("{kind} name '{name}' must not start with '-'")]
    Dash { kind: Kind, name: String },
    #[error("{kind} name is {len} bytes long, more than the limit of {max} bytes")]
    TooLong { kind: Kind, len: usize, max: usize },
}

/// What kind of forbidden character `c` is, if it is one.
fn forbidden(c: char) -> Option<&'static str> {
    match c {
        '\0' => Some("the NUL character"),
        '\u{1}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => Some("the control character"),
        '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
            Some("the bidirectional control character")
        }
        '\u{2028}' | '\u{2029}' => Some("the line separator character"),
        _ => None,
    }
}

/// `name` with every forbidden character written as `U+XXXX`, safe to print.
pub fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if forbidden(c).is_some() {
            out.push_str(&format!("U+{:04X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Checks a name against the rule (see the module documentation).
pub fn check(kind: Kind, name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty { kind });
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(NameError::TooLong { kind, len: name.len(), max: MAX_NAME_BYTES });
    }
    if let Some(c) = name.chars().find(|&c| forbidden(c).is_some()) {
        let what = forbidden(c).unwrap_or("the character");
        return Err(NameError::Char { kind, shown: escape(name), what, code: format!("U+{:04X}", c as u32) });
    }
    if name == "." || name == ".." {
        return Err(NameError::Dot { kind, name: name.to_string() });
    }
    if name.contains('/') {
        return Err(NameError::Slash { kind, name: name.to_string() });
    }
    if name.starts_with('-') {
        return Err(NameError::Dash { kind, name: name.to_string() });
    }
    Ok(())
}

/// [`check`] for a name read from XML: an [`XmlError`] (VIR_ERR_XML_ERROR, as libvirt's '/'
/// check) naming the element or attribute `path` it came from.
pub fn check_at(kind: Kind, name: &str, path: &str) -> Result<(), XmlError> {
    check(kind, name).map_err(|e| XmlError::invalid(path, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(name: &str) -> String {
        check(Kind::Domain, name).unwrap_err().to_string()
    }

    #[test]
    fn accepted() {
        for n in
            ["vm1", "My VM", "a.b", "...", ".hidden", "a-b_c", "déjà-vu", "日本", "x".repeat(MAX_NAME_BYTES).as_str()]
        {
            check(Kind::Domain, n).unwrap_or_else(|e| panic!("{n:?}: {e}"));
        }
    }

    #[test]
    fn refused_with_what_and_where() {
        assert_eq!(msg(""), "domain name must not be empty");
        assert_eq!(msg("."), "domain name '.' is not allowed (it names a directory)");
        assert_eq!(msg(".."), "domain name '..' is not allowed (it names a directory)");
        assert_eq!(msg("a/b"), "domain name 'a/b' must not contain '/'");
        assert_eq!(msg("-f"), "domain name '-f' must not start with '-'");
        assert_eq!(msg("a\nb"), "domain name 'aU+000Ab' must not contain the control character U+000A");
        assert_eq!(msg("a\tb"), "domain name 'aU+0009b' must not contain the control character U+0009");
        assert_eq!(msg("a\0"), "domain name 'aU+0000' must not contain the NUL character U+0000");
        assert_eq!(msg("a\u{7f}"), "domain name 'aU+007F' must not contain the control character U+007F");
        assert_eq!(msg("a\u{85}"), "domain name 'aU+0085' must not contain the control character U+0085");
        assert_eq!(
            msg("evil\u{202e}gpj.exe"),
            "domain name 'evilU+202Egpj.exe' must not contain the bidirectional control character U+202E"
        );
        for c in ['\u{200e}', '\u{200f}', '\u{202a}', '\u{2066}', '\u{2069}', '\u{61c}'] {
            assert!(msg(&format!("a{c}")).contains("bidirectional"), "{c:?}");
        }
        assert!(msg("a\u{2028}").contains("line separator character U+2028"));
        assert_eq!(
            msg(&"é".repeat(101)),
            format!("domain name is 202 bytes long, more than the limit of {MAX_NAME_BYTES} bytes")
        );
        assert_eq!(
            check(Kind::StorageVol, "..").unwrap_err().to_string(),
            "volume name '..' is not allowed (it names a directory)"
        );
        let e = check_at(Kind::Network, "a\u{202e}", "/network/name").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/network/name: network name 'aU+202E' must not contain the bidirectional control character U+202E"
        );
        assert_eq!(e.class(), crate::RuleClass::Xml);
    }
}
