//! The parse/format framework itself, on a small model.

use oxvirt_xml::{parse_document, KiB, ParseOptions, RawXml, Xml, XmlDocument, XmlError, XmlValue, YesNo};

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
#[xml(rename_all = "kebab-case")]
enum Bus {
    Virtio,
    Sata,
    #[xml(rename = "ide")]
    LegacyIde,
}

#[derive(Debug, PartialEq, Xml)]
struct Target {
    #[xml(attr = "dev")]
    dev: String,
    #[xml(attr = "bus")]
    bus: Option<Bus>,
}

#[derive(Debug, PartialEq, Xml)]
struct Disk {
    #[xml(attr = "type")]
    kind: String,
    #[xml(child = "target")]
    target: Target,
    #[xml(flag = "readonly")]
    readonly: bool,
    #[xml(child_text = "serial")]
    serial: Option<String>,
}

#[derive(Debug, PartialEq, Xml)]
#[xml(root = "thing")]
struct Thing {
    #[xml(attr = "type")]
    kind: String,
    #[xml(attr = "managed")]
    managed: Option<YesNo>,
    #[xml(child_text = "name")]
    name: String,
    #[xml(child = "memory")]
    memory: Option<KiB>,
    #[xml(child = "metadata")]
    metadata: Option<RawXml>,
    #[xml(child = "disk")]
    disks: Vec<Disk>,
}

const INPUT: &str = "<thing type='kvm' managed='yes'>
  <name>n1</name>
  <memory unit='GiB'>2</memory>
  <metadata><app:x xmlns:app='urn:a'>v</app:x></metadata>
  <disk type='file'><target dev='vda' bus='virtio'/><readonly/></disk>
  <disk type='block'><target dev='hda' bus='ide'/><serial>S1</serial></disk>
</thing>";

#[test]
fn parse_and_format_round_trip() {
    let (t, warnings) = parse_document::<Thing>(INPUT, ParseOptions::default()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(t.memory, Some(KiB(2 * 1024 * 1024)));
    assert_eq!(t.disks[1].target.bus, Some(Bus::LegacyIde));
    let out = t.to_xml_string();
    assert_eq!(
        out,
        "<thing type='kvm' managed='yes'>
  <name>n1</name>
  <memory unit='KiB'>2097152</memory>
  <metadata>
    <app:x xmlns:app='urn:a'>v</app:x>
  </metadata>
  <disk type='file'>
    <target dev='vda' bus='virtio'/>
    <readonly/>
  </disk>
  <disk type='block'>
    <target dev='hda' bus='ide'/>
    <serial>S1</serial>
  </disk>
</thing>
"
    );
    assert_eq!(Thing::from_xml_str(&out).unwrap(), t);
}

#[test]
fn unknown_things_are_warnings_or_errors_with_position() {
    let xml = "<thing type='x'>\n  <name>n</name>\n  <bogus/>\n  <disk type='f' color='red'><target dev='a'/></disk>\n</thing>";
    let (_, w) = parse_document::<Thing>(xml, ParseOptions::default()).unwrap();
    let msgs: Vec<String> = w.iter().map(|d| d.to_string()).collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("line 3, column 3: /thing/bogus: unknown element <bogus>")), "{msgs:?}");
    assert!(
        msgs.iter().any(|m| m.contains("line 4") && m.contains("/thing/disk: unknown attribute 'color'")),
        "{msgs:?}"
    );
    let err = parse_document::<Thing>(xml, ParseOptions { validate: true }).unwrap_err();
    assert!(matches!(err, XmlError::Unknown { .. }), "{err}");
}

#[test]
fn bad_values_name_the_attribute() {
    let xml = "<thing type='x'>\n<name>n</name><disk type='f'><target dev='a' bus='floppy'/></disk></thing>";
    let err = Thing::from_xml_str(xml).unwrap_err().to_string();
    assert_eq!(
        err,
        "line 2, column 46: /thing/disk/target: invalid value 'floppy' for attribute 'bus': expected one of: virtio, sata, ide"
    );
    let err = Thing::from_xml_str("<thing type='x'><name>n</name><memory>-1</memory></thing>").unwrap_err();
    assert!(err.to_string().contains("must not be negative"), "{err}");
    let err = Thing::from_xml_str("<thing><name>n</name></thing>").unwrap_err();
    assert_eq!(err.to_string(), "line 1, column 1: /thing: missing required attribute 'type'");
    let err = Thing::from_xml_str("<thing type='x'>").unwrap_err();
    assert!(matches!(err, XmlError::Syntax { line: 1, .. }), "{err}");
    let err = Thing::from_xml_str("<other/>").unwrap_err();
    assert!(err.to_string().contains("expected root element <thing>, found <other>"), "{err}");
}
