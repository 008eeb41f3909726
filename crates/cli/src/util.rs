//! Small helpers shared by the commands.

use crate::error::CmdError;

/// Reads an XML (or other) input file, with virsh's wording when it cannot.
pub fn read_file(path: &str) -> Result<String, CmdError> {
    std::fs::read_to_string(path)
        .map_err(|source| CmdError::Io { context: format!("Failed to open file '{path}'"), source })
}

/// Parses a document a connection sent through the typed model; `None` when it does not parse,
/// for the listings that show what they can rather than fail.
pub fn parse_model<T: oxvirt_xml::XmlDocument>(xml: &str) -> Option<T> {
    T::from_xml_str(xml).ok()
}
