//! Rules across a domain's elements: each refusal names the element and carries libvirt's error
//! class; the same elements in a consistent configuration are accepted.

use oxvirt_xml::domain::Domain;
use oxvirt_xml::{RuleClass, XmlDocument, XmlError};

fn domain(kind: &str, machine: &str, extra: &str, devices: &str) -> String {
    format!(
        "<domain type='{kind}'><name>t</name><memory unit='MiB'>256</memory>\
         <os><type arch='x86_64' machine='{machine}'>hvm</type></os>{extra}<devices>{devices}</devices></domain>"
    )
}

fn refused(xml: &str) -> XmlError {
    Domain::from_xml_str(xml).expect_err("must be refused")
}

fn accepted(xml: &str) {
    if let Err(e) = Domain::from_xml_str(xml) {
        panic!("refused: {e}\n{xml}");
    }
}

#[test]
fn pci_addresses_ranges_and_duplicates() {
    let nic =
        |addr: &str| format!("<interface type='user'><model type='e1000'/><address type='pci' {addr}/></interface>");
    let e = refused(&domain("kvm", "pc", "", &nic("bus='0x00' slot='0x20' function='0x0'")));
    assert!(e.to_string().contains("/domain/devices/interface/address") && e.to_string().contains("slot 0x20"), "{e}");
    assert_eq!(e.class(), RuleClass::Xml);
    let two =
        format!("{}{}", nic("bus='0x00' slot='0x05' function='0x0'"), nic("bus='0x00' slot='0x05' function='0x0'"));
    let e = refused(&domain("kvm", "pc", "", &two));
    assert!(
        e.to_string().contains("interface[2]/address")
            && e.to_string().contains("already used by /domain/devices/interface[1]"),
        "{e}"
    );
    let two = format!(
        "{}{}",
        nic("bus='0x00' slot='0x05' function='0x0' multifunction='on'"),
        nic("bus='0x00' slot='0x05' function='0x1'")
    );
    accepted(&domain("kvm", "pc", "", &two));
}

#[test]
fn controllers_and_machine_types() {
    let e = refused(&domain("kvm", "q35", "", "<controller type='pci' index='0' model='pci-root'/>"));
    assert!(e.to_string().contains("model='pcie-root'"), "{e}");
    accepted(&domain("kvm", "q35", "", "<controller type='pci' index='0' model='pcie-root'/>"));
    // The machine-type rules are QEMU's: another driver's domain keeps them out.
    accepted(&domain("test", "q35", "", "<controller type='pci' index='0' model='pci-root'/>"));
    let dup =
        "<controller type='pci' index='0' model='pci-root'/><controller type='pci' index='1' model='pci-bridge'/>\
               <controller type='pci' index='1' model='pci-bridge'/>";
    let e = refused(&domain("test", "pc", "", dup));
    assert!(e.to_string().contains("controller[3]") && e.to_string().contains("index '1'"), "{e}");
}

#[test]
fn unsupported_configurations_have_their_class() {
    let e = refused(&domain("kvm", "pc", "", "<iommu model='intel'/>"));
    assert_eq!(e.class(), RuleClass::Unsupported);
    assert!(e.to_string().contains("/domain/devices/iommu"), "{e}");
    accepted(&domain("kvm", "q35", "", "<iommu model='intel'/>"));
}

#[test]
fn chardev_sources() {
    let e = refused(&domain("test", "pc", "", "<serial type='tcp'><source mode='connect' service='4555'/></serial>"));
    assert!(e.to_string().contains("/domain/devices/serial/source") && e.to_string().contains("host"), "{e}");
    assert_eq!(e.class(), RuleClass::Internal);
    accepted(&domain(
        "test",
        "pc",
        "",
        "<serial type='tcp'><source mode='connect' host='127.0.0.1' service='4555'/></serial>",
    ));
    // A virtio channel's socket path may be left to the driver.
    accepted(&domain(
        "test",
        "pc",
        "",
        "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>",
    ));
    let e = refused(&domain(
        "kvm",
        "pc",
        "",
        "<channel type='tcp'><source mode='connect' host='h' service='1'><reconnect enabled='yes' timeout='0'/></source>\
         <target type='virtio' name='x'/></channel>",
    ));
    assert_eq!(e.class(), RuleClass::InvalidArg);
}

#[test]
fn usb_topology() {
    let hub = |port: &str| format!("<hub type='usb'><address type='usb' bus='0' port='{port}'/></hub>");
    let ok = format!("<controller type='usb' index='0' model='qemu-xhci'/>{}{}", hub("1"), hub("1.8"));
    accepted(&domain("kvm", "q35", "", &ok));
    let e = refused(&domain(
        "kvm",
        "q35",
        "",
        &format!("<controller type='usb' index='0' model='qemu-xhci'/>{}", hub("1.2")),
    ));
    assert!(e.to_string().contains("needs a <hub> at port 1"), "{e}");
    let e = refused(&domain(
        "kvm",
        "q35",
        "",
        "<controller type='usb' index='0' model='none'/><input type='tablet' bus='usb'/>",
    ));
    assert!(e.to_string().contains("/domain/devices/input") && e.to_string().contains("model='none'"), "{e}");
}

#[test]
fn boot_order_and_firmware() {
    let disk = "<disk type='file' device='disk'><source file='/x.img'/><target dev='vda' bus='virtio'/><boot order='1'/></disk>";
    let xml = format!(
        "<domain type='kvm'><name>t</name><memory unit='MiB'>256</memory><os><type arch='x86_64' machine='pc'>hvm</type>\
         <boot dev='hd'/></os><devices>{disk}</devices></domain>"
    );
    let e = refused(&xml);
    assert!(e.to_string().contains("/domain/devices/disk/boot"), "{e}");
    let xml = "<domain type='kvm'><name>t</name><memory unit='MiB'>256</memory><os firmware='bios'>\
               <type arch='x86_64' machine='pc'>hvm</type><nvram>/var/x_VARS.fd</nvram></os></domain>";
    let e = refused(xml);
    assert!(e.to_string().contains("/domain/os/nvram") && e.to_string().contains("firmware='efi'"), "{e}");
}
