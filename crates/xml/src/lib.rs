//! oxvirt's typed models of libvirt's XML documents, with parsing that locates every error
//! (line:column and element path) and formatting in libvirt's canonical form.

// The derive macros name `::oxvirt_xml`; let them work inside this crate too.
extern crate self as oxvirt_xml;

pub mod capabilities;
pub mod core;
pub mod domain;
pub mod limits;
pub mod names;
pub mod network;
pub mod nodedev;
pub mod snapshot;
pub mod storage;
pub mod units;
pub mod values;

pub use crate::core::{
    parse_document, parse_element, root_name, Diagnostic, El, Empty, FromXml, Location, ParseOptions, RawXml,
    RuleClass, ToXml, Writer, XmlDocument, XmlError, XmlValue,
};
pub use limits::{parse_tree, Limits};
pub use oxvirt_xml_derive::{Xml, XmlValue};
/// The tree type [`parse_tree`] returns, for crates that walk a document themselves.
pub use roxmltree;
pub use units::{Bytes, KiB};
pub use values::{Hex, MacAddr, OnOff, YesNo};
