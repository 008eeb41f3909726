//! Storage-side device models: canonical formatting order, value checks and per-type rules.

use oxvirt_xml::domain::*;
use oxvirt_xml::{parse_document, ParseOptions, Xml, XmlDocument};

/// `<devices>` as a document of its own, so each test sees only the devices.
#[derive(Debug, PartialEq, Xml)]
#[xml(root = "devices")]
struct Devs {
    #[xml(flatten)]
    d: Devices,
}

fn parse(xml: &str) -> Devices {
    let (d, warnings) = parse_document::<Devs>(xml, ParseOptions { validate: true }).unwrap_or_else(|e| panic!("{e}"));
    assert!(warnings.is_empty(), "{warnings:?}");
    d.d
}

fn fmt(d: &Devices) -> String {
    Devs { d: d.clone() }.to_xml_string()
}

fn err(xml: &str) -> String {
    match parse_document::<Devs>(xml, ParseOptions { validate: true }) {
        Ok((d, _)) => panic!("accepted: {d:?}"),
        Err(e) => e.to_string(),
    }
}

/// Input in scrambled order comes out in libvirt's order.
#[test]
fn network_disk_formats_in_libvirt_order() {
    let d = parse(
        "<devices><disk device='disk' type='network'>
           <target bus='virtio' dev='vdb'/>
           <alias name='virtio-disk1'/>
           <source name='pool/image' protocol='rbd'>
             <auth username='admin'><secret type='ceph' usage='mycluster'/></auth>
             <host port='6789' name='mon1.example.org'/>
             <host name='mon2.example.org'/>
             <snapshot name='snap1'/>
           </source>
           <iotune><write_iops_sec>20</write_iops_sec><total_bytes_sec>1000</total_bytes_sec><group_name>g</group_name></iotune>
           <driver type='raw' name='qemu' cache='none' io='io_uring' discard='unmap' iommu='on'/>
           <boot order='2'/>
           <address unit='0' type='drive' target='0' bus='0' controller='1'/>
           <serial>S1</serial>
         </disk></devices>",
    );
    assert_eq!(
        fmt(&d),
        "<devices>
  <disk type='network' device='disk'>
    <driver name='qemu' type='raw' cache='none' io='io_uring' discard='unmap' iommu='on'/>
    <source protocol='rbd' name='pool/image'>
      <host name='mon1.example.org' port='6789'/>
      <host name='mon2.example.org'/>
      <snapshot name='snap1'/>
      <auth username='admin'>
        <secret type='ceph' usage='mycluster'/>
      </auth>
    </source>
    <target dev='vdb' bus='virtio'/>
    <iotune>
      <total_bytes_sec>1000</total_bytes_sec>
      <write_iops_sec>20</write_iops_sec>
      <group_name>g</group_name>
    </iotune>
    <serial>S1</serial>
    <boot order='2'/>
    <alias name='virtio-disk1'/>
    <address type='drive' controller='1' bus='0' target='0' unit='0'/>
  </disk>
</devices>
"
    );
    assert_eq!(parse(&fmt(&d)), d);
}

#[test]
fn backing_chain_is_recursive() {
    let d = parse(
        "<devices><disk type='file'><source file='/top.qcow2'/>
           <backingStore type='file' index='1'><format type='qcow2'/><source file='/mid.qcow2'/>
             <backingStore type='block' index='2'><format type='raw'/><source dev='/dev/sdb'/><backingStore/></backingStore>
           </backingStore>
           <target dev='vda'/></disk></devices>",
    );
    let bs = d.disks[0].backing_store.as_ref().unwrap();
    let inner = bs.backing_store.as_ref().unwrap();
    assert_eq!(inner.kind, Some(DiskType::Block));
    assert_eq!(inner.backing_store.as_deref(), Some(&BackingStore::default()));
    assert!(fmt(&d).contains("<backingStore/>"));
    assert_eq!(parse(&fmt(&d)), d);
}

#[test]
fn bad_disk_values_name_the_attribute() {
    let e = err("<devices><disk type='file'>\n<driver cache='sometimes'/><target dev='vda'/></disk></devices>");
    assert!(
        e.contains(
            "/devices/disk/driver: invalid value 'sometimes' for attribute 'cache': expected one of: default, none"
        ),
        "{e}"
    );
    let e = err("<devices><disk type='floppy-ish'><target dev='fda'/></disk></devices>");
    assert!(e.contains("invalid value 'floppy-ish' for attribute 'type'"), "{e}");
    let e = err("<devices><disk><target dev='vda' bus='virtio' rotation_rate='-1'/></disk></devices>");
    assert!(e.contains("attribute 'rotation_rate': must not be negative"), "{e}");
    let e = err("<devices><disk><source file='/a'/></disk></devices>");
    assert!(e.contains("missing required element <target>"), "{e}");
}

#[test]
fn disk_rules_across_attributes() {
    let d = parse("<devices><disk type='file' device='lun'><source file='/a'/><target dev='sda'/></disk></devices>");
    let e = d.disks[0].validate("/domain/devices/disk").unwrap_err().to_string();
    assert!(e.contains("'lun' needs type block"), "{e}");
    let d = parse("<devices><disk type='network'><target dev='vda'/></disk></devices>");
    assert!(d.disks[0].validate("d").is_err());
    let d = parse("<devices><disk><driver rerror_policy='enospace'/><target dev='vda'/></disk></devices>");
    assert!(d.disks[0].validate("d").unwrap_err().to_string().contains("rerror_policy"));
    let d = parse("<devices><disk><target dev='nvme0'/></disk></devices>");
    assert!(d.disks[0].validate("d").unwrap_err().to_string().contains("'dev'"));
    let d = parse("<devices><disk type='block' device='lun' sgio='unfiltered'><source dev='/dev/sdc'/><target dev='sda' bus='scsi'/></disk></devices>");
    d.disks[0].validate("d").unwrap();
}

#[test]
fn addresses_print_in_each_types_radix() {
    let d = parse(
        "<devices>
           <controller type='usb' index='0' model='qemu-xhci' ports='8'><address type='pci' domain='0' bus='0' slot='5' function='0' multifunction='on'/></controller>
           <controller type='pci' index='1' model='pcie-root-port'><model name='pcie-root-port'/><target chassis='1' port='16'/><address type='pci' bus='0' slot='0x02'/></controller>
           <controller type='ccid' index='0'><address type='usb' bus='0' port='1.2'/></controller>
           <controller type='pci' index='0' model='pci-root'><pcihole64 unit='GiB'>1</pcihole64></controller>
           <memory model='dimm'><target><size unit='GiB'>1</size><node>0</node></target><address type='dimm' slot='1' base='0x100000000'/></memory>
         </devices>",
    );
    let out = fmt(&d);
    for want in [
        "<address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0' multifunction='on'/>",
        "<target chassis='1' port='0x10'/>",
        "<address type='usb' bus='0' port='1.2'/>",
        "<pcihole64 unit='KiB'>1048576</pcihole64>",
        "<address type='dimm' slot='1' base='0x100000000'/>",
    ] {
        assert!(out.contains(want), "missing {want} in\n{out}");
    }
    assert_eq!(parse(&out), d);
    // An attribute the address type does not have is reported, not silently kept.
    let e = err("<devices><hub type='usb'><address type='usb' bus='0' slot='3'/></hub></devices>");
    assert!(e.contains("unknown attribute 'slot'"), "{e}");
}

#[test]
fn controller_model_must_fit_type() {
    let d = parse("<devices><controller type='ide' model='qemu-xhci'/></devices>");
    let e = d.controllers[0].validate("/domain/devices/controller").unwrap_err().to_string();
    assert!(e.contains("invalid value 'qemu-xhci' for attribute 'model' of a 'ide' controller"), "{e}");
    let e = err("<devices><controller type='scsi' model='megasas'/></devices>");
    assert!(e.contains("invalid value 'megasas' for attribute 'model'"), "{e}");
    let e = err("<devices><controller type='nvme'/></devices>");
    assert!(e.contains("invalid value 'nvme' for attribute 'type'"), "{e}");
}

#[test]
fn hostdev_source_shapes() {
    let d = parse(
        "<devices>
           <hostdev mode='subsystem' type='pci' managed='yes'><driver name='vfio'/><source><address domain='0' bus='6' slot='0x12' function='5'/></source><rom bar='off'/><boot order='1'/></hostdev>
           <hostdev mode='subsystem' type='usb'><source startupPolicy='optional'><vendor id='0x1234'/><product id='0xbeef'/><address bus='1' device='3'/></source></hostdev>
           <hostdev mode='subsystem' type='scsi' sgio='unfiltered' rawio='yes'><source><adapter name='scsi_host0'/><address bus='0' target='0' unit='5'/></source><readonly/></hostdev>
           <hostdev mode='subsystem' type='mdev' model='vfio-pci' display='on'><source><address uuid='c2177883-f1bb-47f0-914d-32a22e3a8804'/></source></hostdev>
           <hostdev mode='subsystem' type='scsi_host' model='virtio'><source protocol='vhost' wwpn='naa.5123456789abcde0'/></hostdev>
           <hostdev mode='capabilities' type='storage'><source><block>/dev/sdf1</block></source></hostdev>
         </devices>",
    );
    let out = fmt(&d);
    for want in [
        "<hostdev mode='subsystem' type='pci' managed='yes'>\n    <driver name='vfio'/>\n    <source>\n      <address domain='0x0000' bus='0x06' slot='0x12' function='0x5'/>",
        "<boot order='1'/>\n    <rom bar='off'/>",
        "<vendor id='0x1234'/>\n      <product id='0xbeef'/>\n      <address bus='1' device='3'/>",
        "<adapter name='scsi_host0'/>\n      <address bus='0' target='0' unit='5'/>",
        "<address uuid='c2177883-f1bb-47f0-914d-32a22e3a8804'/>",
        "<source protocol='vhost' wwpn='naa.5123456789abcde0'/>",
        "<block>/dev/sdf1</block>",
    ] {
        assert!(out.contains(want), "missing {want} in\n{out}");
    }
    for h in &d.hostdevs {
        h.validate("hostdev").unwrap();
    }
    assert_eq!(parse(&out), d);

    let d = parse("<devices><hostdev mode='subsystem' type='mdev' model='vfio-pci'><source><address domain='0' bus='6' slot='0' function='0'/></source></hostdev></devices>");
    assert!(d.hostdevs[0].validate("h").unwrap_err().to_string().contains("uuid"));
    let d =
        parse("<devices><hostdev type='pci' model='vfio-ap'><source><address bus='1'/></source></hostdev></devices>");
    assert!(d.hostdevs[0].validate("h").unwrap_err().to_string().contains("'model'"));
    let d = parse("<devices><hostdev mode='capabilities' type='usb'><source/></hostdev></devices>");
    assert!(d.hostdevs[0].validate("h").is_err());
}

#[test]
fn memory_filesystem_redir_smartcard() {
    let d = parse(
        "<devices>
           <filesystem type='mount' accessmode='mapped' fmode='644' dmode='0755'><source dir='/export'/><target dir='share'/><readonly/><space_hard_limit unit='KiB'>1</space_hard_limit></filesystem>
           <filesystem type='mount'><driver type='virtiofs' queue='1024'/><binary path='/usr/libexec/virtiofsd' xattr='on'><lock posix='on'/><cache mode='always'/></binary><source dir='/p'/><target dir='t'/></filesystem>
           <smartcard mode='passthrough' type='spicevmc'/>
           <smartcard mode='host-certificates'><certificate>a</certificate><certificate>b</certificate><certificate>c</certificate><database>/etc/pki/nssdb</database></smartcard>
           <redirdev bus='usb' type='tcp'><source mode='connect' host='localhost' service='4000'/><protocol type='raw'/><boot order='1'/></redirdev>
           <redirfilter><usbdev class='0x08' vendor='15d9' product='0x0a4f' version='2.00' allow='yes'/><usbdev allow='no'/></redirfilter>
           <memory model='virtio-mem'><source><pagesize unit='KiB'>2048</pagesize><nodemask>1-3</nodemask></source><target><size unit='GiB'>2</size><node>0</node><block unit='MiB'>2</block><requested unit='GiB'>1</requested></target></memory>
           <memory model='nvdimm' access='shared'><source><path>/tmp/nvdimm</path><pmem/></source><target><size unit='MiB'>512</size><label><size unit='KiB'>128</size></label><readonly/></target></memory>
           <iommu model='intel'><driver intremap='on' aw_bits='48'/></iommu>
         </devices>",
    );
    let out = fmt(&d);
    for want in [
        "<filesystem type='mount' accessmode='mapped' fmode='0644' dmode='0755'>",
        "<space_hard_limit unit='bytes'>1024</space_hard_limit>",
        "<driver type='virtiofs' queue='1024'/>\n    <binary path='/usr/libexec/virtiofsd' xattr='on'>\n      <cache mode='always'/>\n      <lock posix='on'/>",
        "<redirdev bus='usb' type='tcp'>\n    <source mode='connect' host='localhost' service='4000'/>\n    <protocol type='raw'/>\n    <boot order='1'/>",
        "<usbdev class='0x08' vendor='0x15D9' product='0x0A4F' version='2.00' allow='yes'/>",
        "<source>\n      <nodemask>1-3</nodemask>\n      <pagesize unit='KiB'>2048</pagesize>\n    </source>",
        "<size unit='KiB'>2097152</size>\n      <node>0</node>\n      <block unit='KiB'>2048</block>\n      <requested unit='KiB'>1048576</requested>",
        "<label>\n        <size unit='KiB'>128</size>\n      </label>\n      <readonly/>",
        "<driver intremap='on' aw_bits='48'/>",
    ] {
        assert!(out.contains(want), "missing {want} in\n{out}");
    }
    assert_eq!(parse(&out), d);
    for s in &d.smartcards {
        s.validate("smartcard").unwrap();
    }

    let e = err("<devices><filesystem fmode='0999'><source dir='/a'/><target dir='b'/></filesystem></devices>");
    assert!(e.contains("invalid value '0999' for attribute 'fmode'"), "{e}");
    let e = err("<devices><memory model='dram'><target><size>1</size></target></memory></devices>");
    assert!(e.contains("invalid value 'dram' for attribute 'model'"), "{e}");
    let e = err("<devices><redirfilter><usbdev class='0x1ff' allow='yes'/></redirfilter></devices>");
    assert!(e.contains("attribute 'class'"), "{e}");
    let e = err("<devices><iommu model='amd'/></devices>");
    assert!(e.contains("invalid value 'amd' for attribute 'model'"), "{e}");
    let d = parse("<devices><smartcard mode='host-certificates'><certificate>a</certificate></smartcard></devices>");
    assert!(d.smartcards[0].validate("s").unwrap_err().to_string().contains("3 <certificate>"));
}

#[test]
fn lease_and_hub() {
    let d = parse(
        "<devices><lease><target path='/var/lib/leases' offset='1024'/><key>k</key><lockspace>ls</lockspace></lease><hub type='usb'><alias name='hub0'/></hub></devices>",
    );
    assert_eq!(
        fmt(&d),
        "<devices>
  <lease>
    <lockspace>ls</lockspace>
    <key>k</key>
    <target path='/var/lib/leases' offset='1024'/>
  </lease>
  <hub type='usb'>
    <alias name='hub0'/>
  </hub>
</devices>
"
    );
    let e = err("<devices><lease><key>k</key><target path='/x'/></lease></devices>");
    assert!(e.contains("missing required element <lockspace>"), "{e}");
}
