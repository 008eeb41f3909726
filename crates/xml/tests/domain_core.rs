//! The domain top level (everything outside `<devices>`): parse, format, parse again, and the
//! validation rules.

use oxvirt_xml::domain::*;
use oxvirt_xml::{parse_document, KiB, OnOff, ParseOptions, XmlDocument, XmlError, YesNo};

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
    wrap_in("kvm", inner)
}

fn wrap_in(kind: &str, inner: &str) -> String {
    format!(
        "<domain type='{kind}'><name>t</name><memory unit='MiB'>512</memory>\
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
  <os><type>hvm</type></os><cpu><numa><cell id='0' cpus='0' memory='1' unit='GB'/></numa></cpu></domain>",
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

#[test]
fn vcpus_cputune_iothreads() {
    let d = round_trip(&wrap(
        "<vcpu placement='static' cpuset='0-3,^2' current='2'>4</vcpu>
  <vcpus><vcpu id='0' enabled='yes' hotpluggable='no' order='1'/><vcpu id='1' enabled='yes' hotpluggable='yes' order='2'/>
    <vcpu id='2' enabled='no' hotpluggable='yes'/><vcpu id='3' enabled='no' hotpluggable='yes'/></vcpus>
  <iothreads>2</iothreads>
  <iothreadids><iothread id='1' thread_pool_min='2' thread_pool_max='8'/><iothread id='2'/></iothreadids>
  <defaultiothread thread_pool_min='1' thread_pool_max='4'/>
  <cputune>
    <shares>2048</shares><period>1000000</period><quota>-1</quota>
    <global_period>1000000</global_period><global_quota>-1</global_quota>
    <emulator_period>500000</emulator_period><emulator_quota>2000</emulator_quota>
    <iothread_period>100000</iothread_period><iothread_quota>3000</iothread_quota>
    <vcpupin vcpu='0' cpuset='1'/><vcpupin vcpu='1' cpuset='2-3'/>
    <emulatorpin cpuset='0'/>
    <iothreadpin iothread='1' cpuset='4'/>
    <emulatorsched scheduler='fifo' priority='5'/>
    <vcpusched vcpus='0-1' scheduler='rr' priority='10'/><vcpusched vcpus='2' scheduler='idle'/>
    <iothreadsched iothreads='1' scheduler='batch'/>
    <cachetune vcpus='0-1' id='vcpus_0-1'>
      <cache id='0' level='3' type='code' size='3' unit='MiB'/>
      <monitor level='3' vcpus='0'/>
    </cachetune>
    <memorytune vcpus='2'><node id='0' bandwidth='60'/><monitor vcpus='2'/></memorytune>
  </cputune>",
    ));
    assert_eq!(d.vcpus(), 4);
    assert_eq!(d.vcpus_current(), 2);
    let v = d.vcpu.as_ref().unwrap();
    assert_eq!((v.placement, v.cpuset.as_deref(), v.current), (Some(Placement::Static), Some("0-3,^2"), Some(2)));
    assert_eq!(d.iothreads, Some(2));
    let ct = d.cputune.as_ref().unwrap();
    assert_eq!(ct.quota, Some(-1));
    assert_eq!(ct.emulatorsched.as_ref().map(|s| (s.scheduler, s.priority)), Some((Scheduler::Fifo, Some(5))));
    assert_eq!(ct.cachetunes[0].caches[0].kind, CacheType::Code);
    assert_eq!(ct.memorytunes[0].nodes[0].bandwidth, 60);
    assert_eq!(parse_cpuset("0-3,^2,8").unwrap(), vec![0, 1, 3, 8]);

    let e = err(&wrap("<vcpu current='5'>4</vcpu>"));
    assert!(e.to_string().contains("/domain/vcpu") && e.to_string().contains("current"), "{e}");
    let e = err(&wrap("<vcpu>0</vcpu>"));
    assert!(e.to_string().contains("/domain/vcpu"), "{e}");
    let e = err(&wrap("<vcpu>two</vcpu>"));
    assert!(e.to_string().contains("/domain/vcpu"), "{e}");
    let e = err(&wrap("<vcpu>2</vcpu><vcpus><vcpu id='2' enabled='yes'/></vcpus>"));
    assert!(e.to_string().contains("/domain/vcpus/vcpu"), "{e}");
    let e = err(&wrap("<vcpu>2</vcpu><cputune><vcpupin vcpu='2' cpuset='0'/></cputune>"));
    assert!(e.to_string().contains("/domain/cputune/vcpupin"), "{e}");
    let e = err(&wrap("<vcpu>4</vcpu><cputune><vcpusched vcpus='0-2' scheduler='idle'/><vcpusched vcpus='2' scheduler='batch'/></cputune>"));
    assert!(e.to_string().contains("/domain/cputune/vcpusched") && e.to_string().contains("overlap"), "{e}");
    let e = err(&wrap("<cputune><emulatorsched scheduler='deadline'/></cputune>"));
    assert!(e.to_string().contains("/domain/cputune/emulatorsched") && e.to_string().contains("fifo"), "{e}");
    let e = err(&wrap("<iothreadids><iothread id='0'/></iothreadids>"));
    assert!(e.to_string().contains("/domain/iothreadids/iothread"), "{e}");
    let e = err(&wrap("<iothreadids><iothread id='1'/><iothread id='1'/></iothreadids>"));
    assert!(e.to_string().contains("more than once"), "{e}");
}

#[test]
fn guest_cpu_and_numa() {
    let d = round_trip(&wrap(
        "<vcpu>8</vcpu>
  <cpu mode='custom' match='exact' check='partial' migratable='on'>
    <model fallback='forbid' vendor_id='GenuineIntel'>Haswell</model>
    <vendor>Intel</vendor>
    <topology sockets='2' dies='1' cores='2' threads='2'/>
    <cache level='3' mode='emulate'/>
    <maxphysaddr mode='emulate' bits='42'/>
    <feature policy='require' name='vmx'/>
    <feature policy='disable' name='svm'/>
    <numa>
      <cell id='0' cpus='0-3' memory='256' unit='MiB' memAccess='shared' discard='yes'>
        <distances><sibling id='0' value='10'/><sibling id='1' value='21'/></distances>
        <cache level='1' associativity='direct' policy='writeback'>
          <size value='10' unit='KiB'/><line value='8' unit='B'/>
        </cache>
      </cell>
      <cell id='1' cpus='4-7' memory='262144'/>
      <interconnects>
        <latency initiator='0' target='0' type='access' value='5'/>
        <bandwidth initiator='0' target='1' type='read' value='204800' unit='KiB'/>
      </interconnects>
    </numa>
  </cpu>",
    ));
    let cpu = d.cpu.as_ref().unwrap();
    assert_eq!(cpu.mode, Some(CpuMode::Custom));
    assert_eq!(cpu.model.as_ref().and_then(|m| m.name.as_deref()), Some("Haswell"));
    assert_eq!(cpu.topology.as_ref().and_then(CpuTopology::total), Some(8));
    assert_eq!(cpu.features[1].policy, Some(CpuFeaturePolicy::Disable));
    assert_eq!(d.numa_cells().len(), 2);
    assert_eq!(d.numa_cells()[0].memory, KiB(256 * 1024));
    assert_eq!(d.numa_cells()[0].mem_access, Some(MemAccess::Shared));
    assert!(d
        .to_xml_string()
        .contains("<cell id='0' cpus='0-3' memory='262144' unit='KiB' memAccess='shared' discard='yes'>"));
    // host-passthrough with nothing else
    let d = round_trip(&wrap("<cpu mode='host-passthrough' check='none' migratable='off'/>"));
    assert_eq!(d.cpu.and_then(|c| c.mode), Some(CpuMode::HostPassthrough));

    let e = err(&wrap("<vcpu>6</vcpu><cpu><topology sockets='1' cores='2' threads='2'/></cpu>"));
    assert!(e.to_string().contains("/domain/cpu/topology") && e.to_string().contains("4 vCPUs"), "{e}");
    // libvirt's test driver does not apply the QEMU rule
    let xml = "<domain type='test'><name>t</name><memory>1024</memory><vcpu>6</vcpu><os><type>hvm</type></os>\
               <cpu><topology sockets='1' cores='2' threads='2'/></cpu></domain>";
    assert!(Domain::from_xml_str(xml).is_ok());
    let e = err(&wrap("<cpu><topology sockets='0' cores='1' threads='1'/></cpu>"));
    assert!(e.to_string().contains("/domain/cpu/topology"), "{e}");
    let e = err(&wrap("<cpu mode='host'/>"));
    assert!(e.to_string().contains("/domain/cpu") && e.to_string().contains("host-passthrough"), "{e}");
    let e = err(&wrap("<cpu><feature policy='maybe' name='vmx'/></cpu>"));
    assert!(e.to_string().contains("/domain/cpu/feature"), "{e}");
    let e = err(&wrap("<cpu><cache mode='passthrough'/></cpu>"));
    assert!(e.to_string().contains("/domain/cpu/cache"), "{e}");
    let e = err(&wrap("<cpu><maxphysaddr mode='emulate'/></cpu>"));
    assert!(e.to_string().contains("/domain/cpu/maxphysaddr"), "{e}");
    let e = err(&wrap("<cpu><numa><cell id='1' cpus='0' memory='1024'/></numa></cpu>"));
    assert!(e.to_string().contains("/domain/cpu/numa/cell"), "{e}");
    let e = err(&wrap("<numatune><memnode cellid='0' mode='strict' nodeset='0'/></numatune>"));
    assert!(e.to_string().contains("/domain/numatune/memnode"), "{e}");
    // as libvirt, numad placement drops an explicit nodeset
    let d = parse(&wrap("<numatune><memory mode='strict' placement='auto' nodeset='0'/></numatune>"));
    assert_eq!(d.numatune.and_then(|n| n.memory).and_then(|m| m.nodeset), None);
}

#[test]
fn os_boot_and_sysinfo() {
    // Every <os> child at once (UEFI without <acpi/>, a Xen bootloader) is no guest QEMU runs:
    // a `test` domain keeps QEMU's rules out of this round trip.
    let d = round_trip(
        "<domain type='test'><name>t</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid><memory>1024</memory>
  <sysinfo type='smbios'>
    <bios><entry name='vendor'>LENOVO</entry><entry name='date'>01/01/2011</entry></bios>
    <system><entry name='manufacturer'>Fedora</entry><entry name='uuid'>c7a5fdbd-edaf-9455-926a-d65c16db1809</entry></system>
    <baseBoard><entry name='manufacturer'>Hewlett-Packard</entry><entry name='asset'>Lot 1</entry></baseBoard>
    <chassis><entry name='sku'>Type3Sku1</entry></chassis>
    <oemStrings><entry>myappname:some arbitrary data</entry><entry>otherappname:more arbitrary data</entry></oemStrings>
  </sysinfo>
  <sysinfo type='fwcfg'><entry name='opt/com.example/name'>example value</entry><entry name='opt/com.coreos/config' file='/tmp/provision.ign'/></sysinfo>
  <bootloader>/usr/bin/pygrub</bootloader><bootloader_args>--append single</bootloader_args>
  <os firmware='efi'>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <firmware><feature enabled='yes' name='secure-boot'/><feature enabled='no' name='enrolled-keys'/></firmware>
    <loader readonly='yes' secure='yes' type='pflash' stateless='no'>/usr/share/OVMF/OVMF_CODE.fd</loader>
    <nvram template='/usr/share/OVMF/OVMF_VARS.fd'>/var/lib/libvirt/nvram/t_VARS.fd</nvram>
    <kernel>/boot/vmlinuz</kernel><initrd>/boot/initrd</initrd><cmdline>console=ttyS0 &lt;x&gt;</cmdline><dtb>/boot/x.dtb</dtb>
    <acpi><table type='slic'>/var/lib/libvirt/acpi/slic.dat</table></acpi>
    <boot dev='cdrom'/><boot dev='hd'/><boot dev='network'/>
    <bootmenu enable='yes' timeout='3000'/>
    <bios useserial='yes' rebootTimeout='-1'/>
    <smbios mode='sysinfo'/>
  </os>
</domain>",
    );
    assert_eq!(d.os_type(), OsType::Hvm);
    assert_eq!(d.arch(), Some("x86_64"));
    assert_eq!(d.machine(), Some("pc-q35-7.2"));
    assert_eq!(d.os.firmware, Some(FirmwareType::Efi));
    assert_eq!(
        d.os.boot.iter().map(|b| b.dev).collect::<Vec<_>>(),
        [BootDevice::Cdrom, BootDevice::Hd, BootDevice::Network]
    );
    assert_eq!(d.os.loader.as_ref().and_then(|l| l.kind), Some(LoaderType::Pflash));
    assert_eq!(d.os.cmdline.as_deref(), Some("console=ttyS0 <x>"));
    assert_eq!(d.os.bios.as_ref().and_then(|b| b.reboot_timeout), Some(-1));
    assert_eq!(d.sysinfo[0].oem_strings.as_ref().map(|o| o.entries.len()), Some(2));
    assert_eq!(d.sysinfo[1].entries[1].file.as_deref(), Some("/tmp/provision.ign"));

    // NVRAM on a network volume, and a container's init
    let d = round_trip(
        "<domain type='kvm'><name>t</name><memory>1024</memory><features><acpi/></features><os><type>hvm</type>
    <loader readonly='yes' type='pflash'>/code.fd</loader>
    <nvram type='network'><source protocol='iscsi' name='iqn.2013-07.com.example:iscsi-nopool/0'>
      <host name='example.com' port='6000'/><auth username='myname'><secret type='iscsi' usage='mycluster_myname'/></auth>
    </source></nvram></os></domain>",
    );
    assert_eq!(d.os.nvram.as_ref().and_then(|n| n.source.as_ref()).map(|s| s.hosts.len()), Some(1));
    let d = round_trip(
        "<domain type='lxc'><name>c</name><memory>1024</memory><os><type arch='x86_64'>exe</type>
    <init>/sbin/init</init><initarg>--debug</initarg><initarg>-v</initarg><initenv name='FOO'>bar</initenv>
    <initdir>/</initdir><inituser>nobody</inituser><initgroup>nogroup</initgroup></os>
  <idmap><uid start='0' target='1000' count='10'/><gid start='0' target='1000' count='10'/></idmap></domain>",
    );
    assert_eq!(d.os_type(), OsType::Exe);
    assert_eq!(d.os.initargs, ["--debug", "-v"]);
    assert_eq!(d.idmap.as_ref().map(|i| i.uids[0].target), Some(1000));

    let e = err(&wrap("").replace("<boot", "").replace("</os>", "<boot dev='usb'/></os>"));
    assert!(e.to_string().contains("/domain/os/boot") && e.to_string().contains("cdrom"), "{e}");
    let e = err("<domain type='kvm'><name>t</name><memory>1</memory><os><type>pv</type></os></domain>");
    assert!(e.to_string().contains("/domain/os/type"), "{e}");
    let e = err(
        "<domain type='kvm'><name>t</name><memory>1</memory><os><type>hvm</type><loader type='flash'/></os></domain>",
    );
    assert!(e.to_string().contains("/domain/os/loader"), "{e}");
    let e = err("<domain type='kvm'><name>t</name><memory>1</memory><os><type>hvm</type>\
                 <firmware><feature enabled='no' name='secure-boot'/><feature enabled='yes' name='enrolled-keys'/></firmware></os></domain>");
    assert!(e.to_string().contains("/domain/os/firmware"), "{e}");
    let e = err(&wrap("<sysinfo type='smbios'><bios><entry name='date'>2011-01-01</entry></bios></sysinfo>"));
    assert!(e.to_string().contains("/domain/sysinfo/bios/entry"), "{e}");
    let e = err(&wrap("<sysinfo type='smbios'><system><entry name='colour'>red</entry></system></sysinfo>"));
    assert!(e.to_string().contains("/domain/sysinfo/system/entry") && e.to_string().contains("manufacturer"), "{e}");
    let e = err(&wrap(
        "<uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid><sysinfo type='smbios'><system>\
                       <entry name='uuid'>a94b4335-6a14-8bc4-d6da-f7ea590b6816</entry></system></sysinfo>",
    ));
    assert!(e.to_string().contains("/domain/sysinfo[1]/system/entry"), "{e}");
    // without <uuid>, the SMBIOS one becomes the domain's
    let d = parse(&wrap("<sysinfo type='smbios'><system><entry name='uuid'>a94b4335-6a14-8bc4-d6da-f7ea590b6816</entry></system></sysinfo>"));
    assert_eq!(d.uuid.map(|u| u.to_string()).as_deref(), Some("a94b4335-6a14-8bc4-d6da-f7ea590b6816"));
}

/// Every feature at once, pSeries ones (`hpt`, `htm`, ...) beside x86 ones, is no guest QEMU
/// runs, so this round-trips in a `test` domain, free of QEMU's rules.
#[test]
fn features() {
    let d = round_trip(&wrap_in(
        "test",
        "<features>
    <acpi/><apic eoi='on'/><pae/><hap state='off'/><viridian/><privnet/>
    <hyperv mode='custom'>
      <relaxed state='on'/><vapic state='on'/><spinlocks state='on' retries='4096'/><vpindex state='on'/>
      <runtime state='on'/><synic state='on'/><stimer state='on'><direct state='on'/></stimer><reset state='on'/>
      <vendor_id state='on' value='KVM Hv'/><frequencies state='on'/><reenlightenment state='on'/>
      <tlbflush state='on'/><ipi state='on'/><evmcs state='on'/><avic state='on'/>
    </hyperv>
    <kvm><hidden state='on'/><hint-dedicated state='on'/><poll-control state='on'/><pv-ipi state='off'/><dirty-ring state='on' size='4096'/></kvm>
    <pvspinlock state='on'/>
    <capabilities policy='deny'><sys_admin state='on'/><net_raw state='off'/></capabilities>
    <pmu state='off'/><vmport state='off'/><gic version='3'/>
    <smm state='on'><tseg unit='MiB'>48</tseg></smm>
    <ioapic driver='kvm'/><hpt resizing='required'><maxpagesize unit='MiB'>16</maxpagesize></hpt>
    <vmcoreinfo state='on'/><htm state='on'/><nested-hv state='off'/><msrs unknown='ignore'/><ccf-assist state='on'/>
    <xen><e820_host state='on'/><passthrough state='on' mode='share_pt'/></xen>
    <cfpc value='workaround'/><sbbc value='fixed'/><ibs value='fixed-ccd'/>
    <tcg><tb-cache unit='MiB'>128</tb-cache></tcg>
  </features>",
    ));
    let f = d.features();
    assert!(f.acpi && f.pae && f.viridian && f.privnet);
    assert_eq!(f.apic.as_ref().and_then(|a| a.eoi), Some(OnOff::On));
    assert!(!feature_on(&f.hap));
    assert!(feature_on(&f.pvspinlock));
    let hv = f.hyperv.as_ref().unwrap();
    assert_eq!(hv.spinlocks.as_ref().and_then(|s| s.retries), Some(4096));
    assert_eq!(hv.vendor_id.as_ref().and_then(|v| v.value.as_deref()), Some("KVM Hv"));
    assert_eq!(f.smm.as_ref().and_then(|s| s.tseg), Some(KiB(48 * 1024)));
    assert_eq!(f.gic.as_ref().and_then(|g| g.version), Some(GicVersion::V3));
    assert_eq!(f.ibs.as_ref().map(|i| i.value), Some(IbsValue::FixedCcd));
    assert_eq!(f.tcg.as_ref().and_then(|t| t.tb_cache), Some(KiB(128 * 1024)));
    // `<hap/>` without state means on
    let d = parse(&wrap("<features><hap/></features>"));
    assert!(feature_on(&d.features().hap));
    assert!(!parse(&wrap("")).features().acpi);

    let e = err(&wrap("<features><gic version='4'/></features>"));
    assert!(e.to_string().contains("/domain/features/gic"), "{e}");
    let e = err(&wrap("<features><hyperv><relaxed state='maybe'/></hyperv></features>"));
    assert!(e.to_string().contains("/domain/features/hyperv/relaxed"), "{e}");
    let e = err(&wrap("<features><msrs unknown='panic'/></features>"));
    assert!(e.to_string().contains("/domain/features/msrs"), "{e}");
    let (_, w) =
        parse_document::<Domain>(&wrap("<features><warp-drive/></features>"), ParseOptions::default()).unwrap();
    assert!(w.iter().any(|w| w.at.path == "/domain/features/warp-drive"), "{w:?}");
}

#[test]
fn clock_lifecycle_pm_perf() {
    let d = round_trip(&wrap(
        "<clock offset='variable' adjustment='-3600' basis='localtime'>
    <timer name='rtc' tickpolicy='catchup' track='guest'><catchup threshold='123' slew='120' limit='10000'/></timer>
    <timer name='pit' tickpolicy='delay'/><timer name='hpet' present='no'/>
    <timer name='tsc' frequency='3504000000' mode='native'/><timer name='kvmclock' present='yes'/>
  </clock>
  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>coredump-restart</on_crash>
  <on_lockfailure>pause</on_lockfailure>
  <pm><suspend-to-mem enabled='no'/><suspend-to-disk enabled='yes'/></pm>
  <perf><event name='cmt' enabled='yes'/><event name='cpu_cycles' enabled='no'/><event name='page_faults_maj' enabled='yes'/></perf>",
    ));
    let c = d.clock.as_ref().unwrap();
    assert_eq!(
        (c.offset, c.adjustment, c.basis),
        (ClockOffset::Variable, Some(ClockAdjustment::Seconds(-3600)), Some(ClockBasis::Localtime))
    );
    assert_eq!(c.timers[0].catchup.as_ref().and_then(|c| c.limit), Some(10000));
    assert_eq!(c.timers[3].frequency, Some(3_504_000_000));
    assert_eq!(d.on_crash, Some(LifecycleAction::CoredumpRestart));
    assert_eq!(d.on_lockfailure, Some(LockFailureAction::Pause));
    assert_eq!(d.pm.as_ref().and_then(|p| p.suspend_to_disk.as_ref()).and_then(|s| s.enabled), Some(YesNo::Yes));
    assert_eq!(d.perf.as_ref().map(|p| p.events[2].name), Some(PerfEventName::PageFaultsMaj));
    let d = round_trip(&wrap("<clock offset='utc' adjustment='reset'/>"));
    assert_eq!(d.clock.and_then(|c| c.adjustment), Some(ClockAdjustment::Reset));
    round_trip(&wrap("<clock offset='timezone' timezone='Europe/Paris'/>"));
    round_trip(&wrap("<clock offset='absolute' start='1234567890'/>"));

    let e = err(&wrap("<clock offset='mars'/>"));
    assert!(e.to_string().contains("/domain/clock") && e.to_string().contains("localtime"), "{e}");
    let e = err(&wrap("<clock offset='utc'><timer name='sundial'/></clock>"));
    assert!(e.to_string().contains("/domain/clock/timer"), "{e}");
    let e = err(&wrap("<clock offset='variable' adjustment='soon'/>"));
    assert!(e.to_string().contains("adjustment"), "{e}");
    let e = err(&wrap("<on_poweroff>coredump-destroy</on_poweroff>"));
    assert!(e.to_string().contains("/domain/on_poweroff"), "{e}");
    let e = err(&wrap("<on_reboot>explode</on_reboot>"));
    assert!(e.to_string().contains("/domain/on_reboot") && e.to_string().contains("rename-restart"), "{e}");
    let e = err(&wrap("<perf><event name='cmt' enabled='maybe'/></perf>"));
    assert!(e.to_string().contains("/domain/perf/event"), "{e}");
}

#[test]
fn security_and_namespaces() {
    let d = round_trip(&wrap(
        "<seclabel type='dynamic' model='selinux' relabel='yes'>
    <label>system_u:system_r:svirt_t:s0:c1,c2</label><imagelabel>system_u:object_r:svirt_image_t:s0:c1,c2</imagelabel>
    <baselabel>system_u:system_r:svirt_t:s0</baselabel>
  </seclabel>
  <seclabel type='static' model='dac' relabel='no'><label>107:107</label></seclabel>
  <keywrap><cipher name='aes' state='on'/><cipher name='dea' state='off'/></keywrap>
  <launchSecurity type='sev' kernelHashes='yes'>
    <cbitpos>47</cbitpos><reducedPhysBits>1</reducedPhysBits><policy>0x0033</policy>
    <dhCert>AQAAAAAOAAAAQAAAAAOAAAAAAAAA</dhCert><session>IHAVENOIDEABUTJUSTPROVIDINGIT</session>
  </launchSecurity>
  <qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
    <qemu:arg value='-unknown'/><qemu:arg value='parameter'/>
    <qemu:env name='NS' value='ns'/><qemu:env name='EMPTY'/>
  </qemu:commandline>
  <q:capabilities xmlns:q='http://libvirt.org/schemas/domain/qemu/1.0'><q:add capability='blockdev'/><q:del capability='drive'/></q:capabilities>
  <qemu:override xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
    <qemu:device alias='ua-disk'><qemu:frontend>
      <qemu:property name='prop1' type='string' value='val1'/><qemu:property name='prop2' type='remove'/>
    </qemu:frontend></qemu:device>
  </qemu:override>
  <qemu:deprecation xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0' behavior='crash'/>",
    ));
    assert_eq!(d.seclabels.len(), 2);
    assert_eq!(d.seclabels[1].kind, Some(SeclabelType::Static));
    let ls = d.launch_security.as_ref().unwrap();
    assert_eq!((ls.kind, ls.cbitpos, ls.policy.map(|p| p.0)), (LaunchSecurityType::Sev, Some(47), Some(0x33)));
    let cmd = d.qemu_commandline.as_ref().unwrap();
    assert_eq!(cmd.args.iter().map(|a| a.value.as_str()).collect::<Vec<_>>(), ["-unknown", "parameter"]);
    assert_eq!(cmd.envs[1].value, None);
    assert_eq!(d.qemu_capabilities.as_ref().map(|c| c.del[0].capability.as_str()), Some("drive"));
    assert_eq!(d.qemu_deprecation.as_ref().map(|q| q.behavior), Some(QemuDeprecationBehavior::Crash));
    let out = d.to_xml_string();
    assert!(out.starts_with("<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"), "{out}");
    assert!(out.contains("<policy>0x0033</policy>"), "{out}");
    round_trip(&wrap("<launchSecurity type='s390-pv'/>"));

    let e = err(&wrap("<seclabel type='none'/><seclabel type='dynamic' model='dac'/>"));
    assert!(e.to_string().contains("/domain/seclabel") && e.to_string().contains("model"), "{e}");
    let e = err(&wrap("<seclabel type='dynamic' model='dac'/><seclabel type='none' model='dac'/>"));
    assert!(e.to_string().contains("more than one"), "{e}");
    let e = err(&wrap("<launchSecurity type='tdx'/>"));
    assert!(e.to_string().contains("/domain/launchSecurity"), "{e}");
    let e = err(&wrap("<keywrap><cipher name='des' state='on'/></keywrap>"));
    assert!(e.to_string().contains("/domain/keywrap/cipher"), "{e}");
    // a foreign namespace element is not taken for a qemu one
    let (_, w) = parse_document::<Domain>(
        &wrap("<x:commandline xmlns:x='urn:other'><x:arg value='a'/></x:commandline>"),
        ParseOptions::default(),
    )
    .unwrap();
    assert_eq!(w.len(), 1, "{w:?}");
}
