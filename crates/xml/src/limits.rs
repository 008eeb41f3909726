//! The one entry point for untrusted XML: every document is checked against [`Limits`] before
//! a tree is built.
//!
//! Why a pre-scan: roxmltree's tokenizer recurses once per nesting level, so a few thousand
//! nested elements overflow a thread's stack and abort the whole process (the daemon, for any
//! local user of its read-only socket). The scan below is a flat loop over the bytes that counts
//! nesting, nodes, attributes and namespace declarations, and refuses the document before the
//! recursive parser sees it. Limits on size and counts keep a huge or wide document from costing
//! every later call (roxmltree's duplicate-attribute check is quadratic in an element's
//! attributes, its namespace scoping copies in-scope declarations to each declaring element).

use std::io::Read;
use std::path::Path;

use crate::XmlError;

/// libvirt's wire limit on one string (REMOTE_STRING_MAX, 4 MiB): no definition can arrive
/// bigger than this, and libvirt could not send one back.
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

/// Nesting limit: libxml2's default (`xmlParserMaxDepth`, 256 without XML_PARSE_HUGE, which
/// libvirt never sets). No libvirt schema comes near it.
pub const MAX_DEPTH: usize = 256;

/// A test driver node file (`test:///PATH`) holds many definitions inline, so it may be bigger;
/// each definition in it is still parsed with [`Limits::DEFINITION`].
pub const MAX_NODE_FILE_BYTES: usize = 16 * 1024 * 1024;

/// What one parse accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Document size in bytes.
    pub max_bytes: usize,
    /// Element nesting; the root element is level 1.
    pub max_depth: usize,
    /// Elements, attributes, text runs, comments and processing instructions together
    /// (roughly what the tree costs in memory).
    pub max_nodes: usize,
    /// Attributes (namespace declarations included) on one element.
    pub max_attributes: usize,
    /// Namespace declarations in scope at any element.
    pub max_namespaces: usize,
}

impl Limits {
    /// Definitions and fragments from clients, and stored definitions read back.
    pub const DEFINITION: Limits = Limits {
        max_bytes: MAX_DOCUMENT_BYTES,
        max_depth: MAX_DEPTH,
        max_nodes: 1_000_000,
        max_attributes: 256,
        max_namespaces: 32,
    };

    /// A test driver node file.
    pub const NODE_FILE: Limits = Limits {
        max_bytes: MAX_NODE_FILE_BYTES,
        max_depth: MAX_DEPTH,
        max_nodes: 4_000_000,
        max_attributes: 256,
        max_namespaces: 32,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFINITION
    }
}

/// Parses `xml` into a tree after checking it against `limits` (and refusing any DTD).
/// Every XML parse of input in oxvirt goes through here.
pub fn parse_tree(xml: &str, limits: Limits) -> Result<roxmltree::Document<'_>, XmlError> {
    check(xml, &limits)?;
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: u32::try_from(limits.max_nodes.saturating_add(1)).unwrap_or(u32::MAX),
    };
    roxmltree::Document::parse_with_options(xml, opts).map_err(|e| {
        let pos = e.pos();
        XmlError::Syntax { line: pos.row, column: pos.col, message: e.to_string() }
    })
}

/// Reads a file that will be parsed with `limits`, refusing it past `limits.max_bytes`
/// without reading further (a named pipe or /dev/zero must not fill memory).
pub fn read_file(path: &Path, limits: &Limits) -> std::io::Result<String> {
    let f = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    let cap = u64::try_from(limits.max_bytes).unwrap_or(u64::MAX).saturating_add(1);
    f.take(cap).read_to_end(&mut buf)?;
    if buf.len() > limits.max_bytes {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("file is larger than the {}-byte limit for XML documents", limits.max_bytes),
        ));
    }
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Line and column (1-based, in characters) of byte `at`.
fn position(xml: &str, at: usize) -> (u32, u32) {
    let before = &xml.as_bytes()[..at.min(xml.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before.iter().rposition(|&b| b == b'\n').map(|p| p + 1).unwrap_or(0);
    let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
    (u32::try_from(line).unwrap_or(u32::MAX), u32::try_from(column).unwrap_or(u32::MAX))
}

fn refuse(xml: &str, at: usize, message: String) -> XmlError {
    let (line, column) = position(xml, at);
    XmlError::Limit { line, column, message }
}

/// Checks `xml` against `limits` in one flat pass (no recursion, no allocation beyond a stack
/// of at most `max_depth` counters).
///
/// The scan tokenizes the way roxmltree does (comments, CDATA, processing instructions and
/// quoted attribute values are skipped as units), so its nesting count is never below the
/// parser's recursion depth at the same point; where the two could disagree the input is
/// malformed and roxmltree stops there anyway.
pub fn check(xml: &str, limits: &Limits) -> Result<(), XmlError> {
    if xml.len() > limits.max_bytes {
        return Err(XmlError::TooLarge { size: xml.len(), max: limits.max_bytes });
    }
    let b = xml.as_bytes();
    let n = b.len();
    let find = |from: usize, pat: &str| xml.get(from..).and_then(|s| s.find(pat)).map(|p| from + p + pat.len());
    // Namespace declarations made by each open element.
    let mut open_ns: Vec<usize> = Vec::new();
    let mut ns_in_scope = 0usize;
    let mut nodes = 0usize;
    let mut i = 0usize;
    let count = |nodes: &mut usize, add: usize, at: usize| -> Result<(), XmlError> {
        *nodes = nodes.saturating_add(add);
        if *nodes > limits.max_nodes {
            return Err(refuse(
                xml,
                at,
                format!("more than {} XML nodes (elements, attributes, text)", limits.max_nodes),
            ));
        }
        Ok(())
    };
    while i < n {
        if b[i] != b'<' {
            // A text run up to the next tag.
            count(&mut nodes, 1, i)?;
            i = xml[i..].find('<').map(|p| i + p).unwrap_or(n);
            continue;
        }
        let rest = &b[i..];
        if rest.starts_with(b"<!--") {
            count(&mut nodes, 1, i)?;
            i = find(i + 4, "-->").unwrap_or(n);
        } else if rest.starts_with(b"<![CDATA[") {
            count(&mut nodes, 1, i)?;
            i = find(i + 9, "]]>").unwrap_or(n);
        } else if rest.starts_with(b"<!") {
            return Err(refuse(xml, i, "document type declarations (DTD) are not accepted".into()));
        } else if rest.starts_with(b"<?") {
            count(&mut nodes, 1, i)?;
            i = find(i + 2, "?>").unwrap_or(n);
        } else if rest.starts_with(b"</") {
            if let Some(decls) = open_ns.pop() {
                ns_in_scope -= decls;
            }
            i = xml[i..].find('>').map(|p| i + p + 1).unwrap_or(n);
        } else {
            let start = i;
            count(&mut nodes, 1, start)?;
            let mut j = i + 1;
            let mut attrs = 0usize;
            let mut decls = 0usize;
            let mut empty = false;
            // Where the attribute name being read starts.
            let mut name_start = j;
            while j < n {
                match b[j] {
                    b'>' => {
                        empty = b[j - 1] == b'/';
                        j += 1;
                        break;
                    }
                    q @ (b'\'' | b'"') => {
                        j = b[j + 1..].iter().position(|&c| c == q).map(|p| j + 1 + p + 1).unwrap_or(n);
                    }
                    b'=' => {
                        attrs += 1;
                        if attrs > limits.max_attributes {
                            return Err(refuse(
                                xml,
                                j,
                                format!("more than {} attributes on one element", limits.max_attributes),
                            ));
                        }
                        count(&mut nodes, 1, j)?;
                        // `xmlns=` or `xmlns:p=`: a namespace declaration.
                        if b[name_start..j].starts_with(b"xmlns") {
                            decls += 1;
                        }
                        j += 1;
                    }
                    c => {
                        if !c.is_ascii_whitespace() && b[j - 1].is_ascii_whitespace() {
                            name_start = j;
                        }
                        j += 1;
                    }
                }
            }
            // Every element counts for depth, empty ones too (the tree holds them at that level).
            if open_ns.len() >= limits.max_depth {
                return Err(refuse(xml, start, format!("elements nested deeper than {} levels", limits.max_depth)));
            }
            if ns_in_scope + decls > limits.max_namespaces {
                return Err(refuse(
                    xml,
                    start,
                    format!("more than {} namespace declarations in scope", limits.max_namespaces),
                ));
            }
            if !empty {
                open_ns.push(decls);
                ns_in_scope += decls;
            }
            i = j;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deep(levels: usize) -> String {
        let mut s = String::with_capacity(levels * 7);
        for _ in 0..levels {
            s.push_str("<a>");
        }
        for _ in 0..levels {
            s.push_str("</a>");
        }
        s
    }

    #[test]
    fn depth_is_counted_like_the_parser() {
        assert!(parse_tree(&deep(MAX_DEPTH), Limits::DEFINITION).is_ok());
        let e = parse_tree(&deep(MAX_DEPTH + 1), Limits::DEFINITION).unwrap_err();
        assert_eq!(e.to_string(), "XML document refused at line 1, column 769: elements nested deeper than 256 levels");
        // empty elements, comments, CDATA, PIs and quoted '>' do not nest
        let flat = format!("<r>{}</r>", "<a x='>' y=\"<\"/><!-- <b> --><![CDATA[<c>]]><?p <d>?>".repeat(1000));
        check(&flat, &Limits::DEFINITION).unwrap();
    }

    #[test]
    fn dtd_size_nodes_attributes_namespaces() {
        let e = check("<!DOCTYPE r [<!ENTITY a 'b'>]>\n<r/>", &Limits::DEFINITION).unwrap_err();
        assert!(e.to_string().contains("line 1, column 1: document type declarations"), "{e}");
        let big = "x".repeat(MAX_DOCUMENT_BYTES + 1);
        assert_eq!(
            check(&big, &Limits::DEFINITION).unwrap_err(),
            XmlError::TooLarge { size: MAX_DOCUMENT_BYTES + 1, max: MAX_DOCUMENT_BYTES }
        );
        let small = Limits { max_nodes: 10, ..Limits::DEFINITION };
        let e = check(&format!("<r>{}</r>", "<a/>".repeat(10)), &small).unwrap_err();
        assert!(e.to_string().ends_with("more than 10 XML nodes (elements, attributes, text)"), "{e}");
        let attrs: String = (0..257).map(|i| format!(" a{i}=''")).collect();
        let e = check(&format!("<r{attrs}/>"), &Limits::DEFINITION).unwrap_err();
        assert!(e.to_string().contains("more than 256 attributes"), "{e}");
        let decls: String = (0..33).map(|i| format!(" xmlns:n{i}='u{i}'")).collect();
        let e = check(&format!("<r{decls}/>"), &Limits::DEFINITION).unwrap_err();
        assert!(e.to_string().contains("namespace declarations"), "{e}");
        // declarations leave scope with their element
        let one = "<e xmlns:n='u'/>".repeat(100);
        check(&format!("<r>{one}</r>"), &Limits::DEFINITION).unwrap();
    }

    #[test]
    fn position_counts_characters() {
        assert_eq!(position("ab\ncé<", 6), (2, 3));
        assert_eq!(position("", 0), (1, 1));
    }
}
