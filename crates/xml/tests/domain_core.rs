//! The domain top level (everything outside `<devices>`): parse, format, parse again, and the
//! validation rules.

use oxvirt_xml::domain::*;
use oxvirt_xml::{parse_document, KiB, OnOff, ParseOptions, XmlDocument, XmlError};

fn parse(xml: &str) -> Domain {
    let (d, warnings) = parse_document::<Domain>(xml, ParseOptions { validate: true }).expect("parses");
    assert!(warnings.is_empty(), "{warnings:?}");
    d
}

/// Parse, format, parse: the model must survive, and formatting must be stable.
fn round_trip(xml: &str) -> Domain {
    let d = parse(xml);
    let out = d.to_xml_string();
    let d2 = parse(&out);
    assert_eq!(d, d2, "model changed after format+parse:\n{out}");
    assert_eq!(out, d2.to_xml_string(), "formatting is not stable");
    d
}

fn err(xml: &str) -> XmlError {
    match parse_document::<Domain>(xml, ParseOptions::default()) {
        Ok(_) => panic!("accepted invalid XML:\n{xml}"),
        Err(e) => e,
    }
}

/// A minimal domain around `inner` (which must not repeat name/memory/os).
fn wrap(inner: &str) -> String {
    format!(
        "<domain type='kvm'><name>t</name><memory unit='MiB'>512</memory>\
         <os><type arch='x86_64' machine='q35'>hvm</type></os>{inner}</domain>"
    )
}

#[test]
fn identity_and_metadata() {
    let d = round_trip(
        "<domain type='qemu' id='7'>
  <name>vm1</name>
  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
  <genid>e9392370-2917-565e-692b-d057f46512d6</genid>
  <title>A &amp; B</title>
  <description>multi
line</description>
  <metadata>
    <app1:foo xmlns:app1='http://app1.org/app1/'>fooish</app1:foo>
    <app2:bar xmlns:app2='http://app1.org/app2/'><x a='1'/></app2:bar>
  </metadata>
  <memory unit='KiB'>219136</memory>
  <os><type>hvm</type></os>
</domain>",
    );
    assert_eq!(d.kind, DomainType::Qemu);
    assert_eq!(d.id, Some(7));
    assert_eq!(d.title.as_deref(), Some("A & B"));
    assert_eq!(d.metadata.as_ref().map(|m| m.0.len()), Some(2));
    assert!(d.to_xml_string().contains("<app2:bar xmlns:app2='http://app1.org/app2/'><x a='1'/></app2:bar>"));
    // an empty genid asks for one to be generated
    let d = parse(&wrap("<genid/>"));
    assert!(d.genid.and_then(|g| g.uuid).is_some());
    assert!(parse(&wrap("")).uuid.is_some());
}

#[test]
fn memory_units_and_tuning() {
    let d = round_trip(
        "<domain type='kvm'><name>t</name>
  <maxMemory slots='16' unit='GiB'>4</maxMemory>
  <memory dumpCore='off' unit='GB'>1</memory>
  <currentMemory unit='mib'>512</currentMemory>
  <blkiotune>
    <weight>800</weight>
    <device><path>/dev/sda</path><weight>400</weight><read_iops_sec>10</read_iops_sec>
      <write_iops_sec>20</write_iops_sec><read_bytes_sec>30</read_bytes_sec><write_bytes_sec>40</write_bytes_sec></device>
  </blkiotune>
  <memtune>
    <hard_limit unit='G'>1</hard_limit><soft_limit>100</soft_limit>
    <swap_hard_limit unit='KB'>2048</swap_hard_limit><min_guarantee unit='bytes'>4096</min_guarantee>
  </memtune>
  <memoryBacking>
    <hugepages><page size='1' unit='G' nodeset='0'/><page size='2048'/></hugepages>
    <nosharepages/><locked/><source type='memfd'/><access mode='shared'/>
    <allocation mode='immediate' threads='8'/><discard/>
  </memoryBacking>
  <numatune><memory mode='strict' nodeset='0-1'/><memnode cellid='0' mode='preferred' nodeset='1'/></numatune>
  <resource><partition>/machine</partition><fibrechannel appid='app'/></resource>
  <os><type>hvm</type></os></domain>",
    );
    assert_eq!(d.max_memory.as_ref().map(|m| (m.slots, m.size)), Some((Some(16), KiB(4 << 20))));
    assert_eq!(d.memory_kib(), 976_563);
    assert_eq!(d.memory.as_ref().and_then(|m| m.dump_core), Some(OnOff::Off));
    assert_eq!(d.current_memory_kib(), 512 * 1024);
    let mt = d.memtune.as_ref().unwrap();
    assert_eq!(mt.hard_limit, Some(KiB(1 << 20)));
    assert_eq!(mt.soft_limit, Some(KiB(100)));
    assert_eq!(mt.swap_hard_limit, Some(KiB(2000)));
    assert_eq!(mt.min_guarantee, Some(KiB(4)));
    let mb = d.memory_backing.as_ref().unwrap();
    let pages = &mb.hugepages.as_ref().unwrap().pages;
    assert_eq!(pages[0].size, KiB(1 << 20));
    assert_eq!(pages[1].size, KiB(2048));
    assert!(mb.nosharepages && mb.locked && mb.discard);
    assert_eq!(d.blkiotune.as_ref().unwrap().devices[0].write_bytes_sec, Some(40));
    let out = d.to_xml_string();
    assert!(out.contains("<memory dumpCore='off' unit='KiB'>976563</memory>"), "{out}");
    assert!(out.contains("<page size='1048576' unit='KiB' nodeset='0'/>"), "{out}");
}

#[test]
fn memory_rules() {
    let e = err("<domain type='kvm'><name>t</name><os><type>hvm</type></os></domain>");
    assert!(e.to_string().contains("/domain/memory"), "{e}");
    let e = err("<domain type='kvm'><name>t</name><memory>0</memory><os><type>hvm</type></os></domain>");
    assert!(e.to_string().contains("/domain/memory"), "{e}");
    let e = err(&wrap("<maxMemory slots='2' unit='MiB'>256</maxMemory>"));
    assert!(e.to_string().contains("/domain/maxMemory"), "{e}");
    let e = err(&wrap("<maxMemory unit='GiB'>2</maxMemory>"));
    assert!(e.to_string().contains("slots"), "{e}");
    let e = err("<domain type='kvm'><name>t</name><memory unit='parsec'>1</memory><os><type>hvm</type></os></domain>");
    assert!(e.to_string().contains("/domain/memory") && e.to_string().contains("parsec"), "{e}");
    // like libvirt, a balloon target above the memory size is capped, and an absent one filled in
    let d = parse(&wrap("<currentMemory unit='GiB'>8</currentMemory>"));
    assert_eq!(d.current_memory, Some(KiB(512 * 1024)));
    // NUMA cells give the size when <memory> is absent
    let d = parse(
        "<domain type='kvm'><name>t</name><os><type>hvm</type></os>
         <cpu><numa><cell id='0' cpus='0' memory='1' unit='GiB'/><cell id='1' cpus='1' memory='1024'/></numa></cpu></domain>",
    );
    assert_eq!(d.memory_kib(), (1 << 20) + 1024);
}

#[test]
fn names_rejected() {
    let e = err("<domain type='kvm'><name></name><memory>1</memory><os><type>hvm</type></os></domain>");
    assert!(e.to_string().contains("/domain/name"), "{e}");
    let e = err("<domain type='kvm'><name>a/b</name><memory>1</memory><os><type>hvm</type></os></domain>");
    assert!(e.to_string().contains("/domain/name"), "{e}");
    let e = err("<domain type='kvmx'><name>a</name><memory>1</memory><os><type>hvm</type></os></domain>");
    assert!(e.to_string().contains("'type'") && e.to_string().contains("kvmx"), "{e}");
}
