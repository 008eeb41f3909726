//! What a domain's XML may show without `VIR_DOMAIN_XML_SECURE`: libvirt hides graphics
//! passwords unless the caller asks for them, and only read-write connections may ask.
//! Done here, once, so every driver (and the daemon serving any of them) behaves the same.

use oxvirt_xml::XmlDocument;

use crate::error::{Error, ErrorCode, ErrorDomain, Result};

/// Refuses `secure` on a read-only connection (`operation` names the call, as libvirt does).
pub fn check_secure_allowed(readonly: bool, secure: bool, operation: &str) -> Result<()> {
    if readonly && secure {
        return Err(Error::new(
            ErrorCode::OperationDenied,
            ErrorDomain::None,
            format!("{operation} with the secure flag is not allowed on a read-only connection"),
        ));
    }
    Ok(())
}

/// Domain XML as a caller may see it: whole when it asked for secrets (`VIR_DOMAIN_XML_SECURE`,
/// `VIR_DOMAIN_SAVE_IMAGE_XML_SECURE`), otherwise without them.
pub fn domain_xml_for(xml: String, secure: bool) -> Result<String> {
    if secure {
        Ok(xml)
    } else {
        redact_domain_xml(xml)
    }
}

/// `xml` without the secrets it holds (VNC/SPICE `passwd`). Documents without any are returned
/// unchanged, without a parse.
pub fn redact_domain_xml(xml: String) -> Result<String> {
    if !xml.contains("passwd=") {
        return Ok(xml);
    }
    let mut def = oxvirt_xml::domain::Domain::from_xml_str(&xml).map_err(|e| Error::xml("domain", &e))?;
    let mut changed = false;
    if let Some(devices) = def.devices.as_mut() {
        for g in &mut devices.graphics {
            changed |= g.passwd.take().is_some();
        }
    }
    Ok(if changed { def.to_xml_string() } else { xml })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_and_the_rest_kept() {
        let xml = "<domain type='qemu'><name>a</name><uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid><memory>1024</memory><os><type>hvm</type></os><devices><graphics type='vnc' port='-1' passwd='s3cret' passwdValidTo='2030-01-01T00:00:00'/></devices></domain>".to_string();
        let out = redact_domain_xml(xml).unwrap();
        assert!(!out.contains("s3cret"), "{out}");
        assert!(out.contains("passwdValidTo"), "{out}");
        let plain = "<domain><name>b</name></domain>".to_string();
        assert_eq!(redact_domain_xml(plain.clone()).unwrap(), plain);
    }

    #[test]
    fn read_only_connections_may_not_ask_for_secrets() {
        assert_eq!(
            check_secure_allowed(true, true, "virDomainGetXMLDesc").unwrap_err().code,
            ErrorCode::OperationDenied
        );
        assert!(check_secure_allowed(true, false, "x").is_ok());
        assert!(check_secure_allowed(false, true, "x").is_ok());
    }
}
