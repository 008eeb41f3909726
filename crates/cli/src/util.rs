//! Small helpers shared by the commands.

use crate::error::CmdError;

/// Reads an XML (or other) input file, with virsh's wording when it cannot.
pub fn read_file(path: &str) -> Result<String, CmdError> {
    std::fs::read_to_string(path).map_err(|source| CmdError::Io { context: format!("Failed to open file '{path}'"), source })
}

/// Text of the first `<tag>...</tag>` in `xml`, entities decoded. Enough for the few scalar fields
/// the CLI shows (title, secmodel); full parsing is the XML crate's job.
pub fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    Some(unescape(&xml[start..end]))
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

/// The `type` attribute of the root element (`<pool type='dir'>`).
pub fn root_type(xml: &str) -> Option<String> {
    let i = xml.find("type=")?;
    let rest = &xml[i + 5..];
    let q = rest.chars().next()?;
    let rest = &rest[1..];
    Some(rest[..rest.find(q)?].to_string())
}
