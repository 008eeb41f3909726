//! Errors carry libvirt's code and domain numbers, so every front end (CLI exit codes, the wire
//! protocol, bindings) reports them the way libvirt clients expect, with a message of our own.

use std::fmt;

pub use crate::codes::{ErrorCode, ErrorDomain};

/// An oxvirt error: what failed, libvirt's classification of it, and the cause chain as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: ErrorCode,
    pub domain: ErrorDomain,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl Error {
    pub fn new(code: ErrorCode, domain: ErrorDomain, message: impl Into<String>) -> Self {
        Error { code, domain, message: message.into() }
    }

    /// libvirt prefixes messages with a phrase per error code; keep that so users and scripts
    /// that grep for "operation is not valid" or "Domain not found" keep working.
    pub fn coded(code: ErrorCode, domain: ErrorDomain, detail: impl fmt::Display) -> Self {
        let prefix = match code {
            ErrorCode::OperationInvalid => "Requested operation is not valid",
            ErrorCode::NoDomain => "Domain not found",
            ErrorCode::NoNetwork => "Network not found",
            ErrorCode::NoStoragePool => "Storage pool not found",
            ErrorCode::NoStorageVol => "Storage volume not found",
            ErrorCode::NoNodeDevice => "Node device not found",
            ErrorCode::OperationDenied => "operation forbidden",
            ErrorCode::InvalidArg => "invalid argument",
            ErrorCode::XmlError => "XML error",
            ErrorCode::XmlDetail => "XML error",
            ErrorCode::ConfigUnsupported => "unsupported configuration",
            ErrorCode::OperationUnsupported => "Operation not supported",
            ErrorCode::NoSupport => "this function is not supported by the connection driver",
            ErrorCode::OperationFailed => "operation failed",
            ErrorCode::InternalError => "internal error",
            ErrorCode::NoConnect => "no connection driver available",
            ErrorCode::OperationTimeout => "Timed out during operation",
            ErrorCode::SystemError => "system error",
            ErrorCode::Rpc => "RPC error",
            ErrorCode::StorageVolExist => "storage volume already exists",
            _ => "error",
        };
        Error::new(code, domain, format!("{prefix}: {detail}"))
    }

    pub fn operation_invalid(detail: impl fmt::Display) -> Self {
        Self::coded(ErrorCode::OperationInvalid, ErrorDomain::Domain, detail)
    }
    pub fn no_domain(detail: impl fmt::Display) -> Self {
        Self::coded(ErrorCode::NoDomain, ErrorDomain::Domain, detail)
    }
    pub fn no_network(detail: impl fmt::Display) -> Self {
        Self::coded(ErrorCode::NoNetwork, ErrorDomain::Network, detail)
    }
    pub fn no_pool(detail: impl fmt::Display) -> Self {
        Self::coded(ErrorCode::NoStoragePool, ErrorDomain::Storage, detail)
    }
    pub fn no_volume(detail: impl fmt::Display) -> Self {
        Self::coded(ErrorCode::NoStorageVol, ErrorDomain::Storage, detail)
    }
    pub fn invalid_arg(detail: impl fmt::Display) -> Self {
        Self::coded(ErrorCode::InvalidArg, ErrorDomain::None, detail)
    }
    pub fn no_support(what: &str) -> Self {
        Self::coded(ErrorCode::NoSupport, ErrorDomain::None, what)
    }
    pub fn unsupported_config(detail: impl fmt::Display) -> Self {
        Self::coded(ErrorCode::ConfigUnsupported, ErrorDomain::Domain, detail)
    }
    pub fn operation_failed(detail: impl fmt::Display) -> Self {
        Self::coded(ErrorCode::OperationFailed, ErrorDomain::None, detail)
    }
    pub fn internal(detail: impl fmt::Display) -> Self {
        Self::coded(ErrorCode::InternalError, ErrorDomain::None, detail)
    }
    pub fn read_only(operation: &str) -> Self {
        Self::coded(ErrorCode::OperationDenied, ErrorDomain::None, format!("read only access prevents {operation}"))
    }
    /// An OS call failed; `what` names the operation and its object.
    pub fn system(what: impl fmt::Display, err: &std::io::Error) -> Self {
        Error::new(ErrorCode::SystemError, ErrorDomain::None, format!("{what}: {err}"))
    }
    /// Bad XML: the parser's message already names line, column and element.
    /// A broken rule keeps libvirt's error code for it (unsupported configuration, invalid
    /// argument, internal error); everything else is an XML error.
    pub fn xml(doc: &str, err: &oxvirt_xml::XmlError) -> Self {
        use oxvirt_xml::RuleClass;
        let (code, what) = match err.class() {
            RuleClass::Xml => (ErrorCode::XmlError, "XML error"),
            RuleClass::Unsupported => (ErrorCode::ConfigUnsupported, "unsupported configuration"),
            RuleClass::InvalidArg => (ErrorCode::InvalidArg, "invalid argument"),
            RuleClass::Internal => (ErrorCode::InternalError, "internal error"),
        };
        Error::new(code, ErrorDomain::Domain, format!("{what} in {doc}: {err}"))
    }
    /// Same error with the object domain it concerns.
    pub fn in_domain(mut self, domain: ErrorDomain) -> Self {
        self.domain = domain;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxvirt_xml::{RuleClass, XmlError};

    #[test]
    fn broken_rules_keep_libvirts_code() {
        let e = Error::xml("domain definition", &XmlError::unsupported("/domain/devices/iommu", "needs q35"));
        assert_eq!(e.code, ErrorCode::ConfigUnsupported);
        assert!(e.message.starts_with("unsupported configuration in domain definition: /domain/devices/iommu"), "{e}");
        let e = Error::xml("domain definition", &XmlError::rule(RuleClass::InvalidArg, "/domain/x", "m"));
        assert_eq!(e.code, ErrorCode::InvalidArg);
        let e = Error::xml("domain definition", &XmlError::invalid("/domain/x", "m"));
        assert_eq!(e.code, ErrorCode::XmlError);
        assert!(e.message.starts_with("XML error in domain definition"), "{e}");
    }
}
