//! Representative I/O devices: parse, check the model, format back in libvirt's layout; bad values
//! are rejected naming the attribute.

use oxvirt_xml::domain::*;
use oxvirt_xml::{MacAddr, OnOff, XmlDocument, XmlError, YesNo};

fn domain(devices: &str) -> String {
    domain_of("kvm", devices)
}

fn domain_of(kind: &str, devices: &str) -> String {
    format!(
        "<domain type='{kind}'>\n  <name>t</name>\n  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n  \
         <memory unit='KiB'>219136</memory>\n  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n  </os>\n  <devices>\n{devices}  </devices>\n</domain>\n"
    )
}

fn parse(devices: &str) -> Devices {
    let d = Domain::from_xml_str(&domain(devices)).expect("parse");
    d.devices.expect("devices")
}

fn err(devices: &str) -> XmlError {
    Domain::from_xml_str(&domain(devices)).expect_err("must be rejected")
}

/// Formats the devices alone, for comparison with the input.
fn format(devs: &Devices) -> String {
    let mut w = oxvirt_xml::Writer::new();
    w.element("devices", devs);
    w.finish()
}

fn round_trip(devices: &str) {
    round_trip_in("kvm", devices)
}

fn round_trip_in(kind: &str, devices: &str) {
    let d = Domain::from_xml_str(&domain_of(kind, devices)).expect("parse");
    let devs = d.devices.expect("devices");
    let expected =
        format!("<devices>\n{}</devices>\n", devices.lines().map(|l| format!("{}\n", &l[2..])).collect::<String>());
    assert_eq!(format(&devs), expected);
}

#[test]
fn interface_network_virtio() {
    let xml = "    <interface type='network' trustGuestRxFilters='yes'>
      <mac address='52:54:00:e5:48:58' type='static' check='no'/>
      <source network='default' portgroup='engineering'/>
      <vlan trunk='yes'>
        <tag id='42' nativeMode='untagged'/>
        <tag id='47'/>
      </vlan>
      <virtualport type='openvswitch'>
        <parameters interfaceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f' profileid='menial'/>
      </virtualport>
      <bandwidth>
        <inbound average='1000' peak='5000' floor='200' burst='1024'/>
        <outbound average='128' peak='256' burst='256'/>
      </bandwidth>
      <port isolated='yes'/>
      <target dev='vnet0' managed='no'/>
      <model type='virtio'/>
      <driver name='vhost' txmode='iothread' ioeventfd='on' event_idx='off' queues='5' rx_queue_size='256' tx_queue_size='256' rss='on' rss_hash_report='on' iommu='on' ats='on' packed='on'>
        <host csum='off' gso='off' tso4='off' tso6='off' ecn='off' ufo='off' mrg_rxbuf='off'/>
        <guest csum='off' tso4='off' tso6='off' ecn='off' ufo='off'/>
      </driver>
      <filterref filter='clean-traffic'>
        <parameter name='IP' value='10.0.0.1'/>
      </filterref>
      <tune>
        <sndbuf>1600</sndbuf>
      </tune>
      <link state='down'/>
      <mtu size='1500'/>
      <coalesce>
        <rx>
          <frames max='7'/>
        </rx>
      </coalesce>
      <boot order='2'/>
      <alias name='ua-net0'/>
      <rom enabled='yes' bar='on' file='/usr/share/ipxe.rom'/>
      <acpi index='3'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
    </interface>
";
    round_trip(xml);
    let devs = parse(xml);
    let nic = &devs.interfaces[0];
    assert_eq!(nic.kind, InterfaceType::Network);
    assert_eq!(nic.mac.as_ref().unwrap().address, MacAddr([0x52, 0x54, 0, 0xe5, 0x48, 0x58]));
    let drv = nic.driver.as_ref().unwrap();
    assert_eq!(drv.queues, Some(5));
    assert_eq!(drv.virtio.packed, Some(OnOff::On));
    assert_eq!(nic.link.as_ref().unwrap().state, LinkState::Down);
}

#[test]
fn interface_types_sources() {
    round_trip(
        "    <interface type='udp'>
      <mac address='52:54:00:8c:b9:05'/>
      <source address='192.168.10.1' port='5555'>
        <local address='192.168.10.1' port='5556'/>
      </source>
      <model type='rtl8139'/>
    </interface>
    <interface type='vhostuser'>
      <mac address='52:54:00:ee:96:6b'/>
      <source type='unix' path='/tmp/vhost0.sock' mode='server'>
        <reconnect enabled='yes' timeout='10'/>
      </source>
      <model type='virtio'/>
    </interface>
    <interface type='direct'>
      <mac address='52:54:00:ee:96:6c'/>
      <source dev='eth0' mode='vepa'/>
    </interface>
    <interface type='ethernet'>
      <mac address='52:54:00:ee:96:6d'/>
      <source>
        <ip address='192.168.122.12' family='ipv4' prefix='24' peer='192.168.122.1'/>
        <route family='ipv4' address='192.168.122.0' prefix='24' gateway='192.168.122.1'/>
      </source>
      <ip address='fe80::1' family='ipv6' prefix='64'/>
      <script path='/etc/qemu-ifup'/>
      <downscript path='/etc/qemu-ifdown'/>
      <target dev='tap0'/>
      <guest dev='eth0'/>
    </interface>
    <interface type='user'>
      <mac address='52:54:00:ee:96:6e'/>
      <source dev='eth42'/>
      <portForward proto='tcp' address='2001:db8:ac10:fd01::1:10'>
        <range start='22' to='2022'/>
        <range start='1000' end='1050'/>
        <range start='1020' exclude='yes'/>
      </portForward>
      <model type='virtio'/>
      <backend type='passt' logFile='/var/log/loglaw.blog'/>
    </interface>
    <interface type='hostdev' managed='yes'>
      <mac address='52:54:00:6d:90:02'/>
      <driver name='vfio'/>
      <source>
        <address type='pci' domain='0x0002' bus='0x03' slot='0x07' function='0x1'/>
      </source>
      <teaming type='transient' persistent='ua-backup0'/>
    </interface>
",
    );
}

#[test]
fn interface_bad_values_name_the_attribute() {
    let e = err("    <interface type='token-ring'/>\n").to_string();
    assert!(e.contains("attribute 'type'") && e.contains("token-ring"), "{e}");
    let e = err("    <interface type='network'><mac address='52:54:00:zz:00:01'/><source network='n'/></interface>\n")
        .to_string();
    assert!(e.contains("attribute 'address'") && e.contains("/interface/mac"), "{e}");
    let e = err("    <interface type='direct'><source dev='eth0' mode='sideways'/></interface>\n").to_string();
    assert!(e.contains("attribute 'mode'"), "{e}");
    let e = err("    <interface type='user'><link state='sideways'/></interface>\n").to_string();
    assert!(e.contains("attribute 'state'") && e.contains("expected one of: up, down"), "{e}");
    let e = err("    <interface type='user'><driver queues='-1'/></interface>\n").to_string();
    assert!(e.contains("attribute 'queues'"), "{e}");
    // what libvirt requires per type
    let e = err("    <interface type='network'><model type='virtio'/></interface>\n").to_string();
    assert!(e.contains("missing required element <source>"), "{e}");
    let e = err("    <interface type='bridge'><source network='default'/></interface>\n").to_string();
    assert!(e.contains("/interface/source") && e.contains("attribute 'bridge'"), "{e}");
    let e = err("    <interface type='udp'><source address='10.0.0.1' port='5555'/></interface>\n").to_string();
    assert!(e.contains("<local>"), "{e}");
    let e = err("    <interface type='vhostuser'><source type='unix' path='/tmp/s'/></interface>\n").to_string();
    assert!(e.contains("attribute 'mode'"), "{e}");
    let e = err("    <interface type='user'><mac address='01:00:5e:00:00:01'/></interface>\n").to_string();
    assert!(e.contains("unicast") && e.contains("attribute 'address'"), "{e}");
    parse("    <interface type='server'><source port='5555'/></interface>\n");
}

#[test]
fn chardevs() {
    let xml = "    <serial type='tcp'>
      <source mode='connect' host='127.0.0.1' service='9999' tls='yes'>
        <reconnect enabled='yes' timeout='10'/>
      </source>
      <protocol type='telnet'/>
      <log file='/var/log/serial.log' append='on'/>
      <target type='isa-serial' port='0'>
        <model name='isa-serial'/>
      </target>
      <alias name='serial0'/>
    </serial>
    <serial type='udp'>
      <source mode='bind' host='0.0.0.0' service='9998'/>
      <source mode='connect' host='192.168.122.1' service='9999'/>
      <target port='1'/>
    </serial>
    <parallel type='file'>
      <source path='/tmp/parallel.log' append='off'>
        <seclabel model='dac' relabel='no'/>
      </source>
      <target port='0'/>
    </parallel>
    <console type='pty' tty='/dev/pts/3'>
      <source path='/dev/pts/3'/>
      <target type='serial' port='0'/>
    </console>
    <channel type='unix'>
      <source mode='bind' path='/var/lib/libvirt/qemu/channel/target/ga.0'/>
      <target type='virtio' name='org.qemu.guest_agent.0' state='connected'/>
      <address type='virtio-serial' controller='0' bus='0' port='1'/>
    </channel>
    <channel type='pty'>
      <target type='guestfwd' address='10.0.2.1' port='4600'/>
    </channel>
    <channel type='qemu-vdagent'>
      <source>
        <clipboard copypaste='yes'/>
        <mouse mode='client'/>
      </source>
      <target type='virtio' name='com.redhat.spice.0'/>
    </channel>
";
    let devs = parse(xml);
    assert_eq!(devs.serials.len(), 2);
    assert_eq!(devs.serials[1].source.sources.len(), 2);
    assert_eq!(devs.channels[0].target.as_ref().unwrap().state, Some(ChannelState::Connected));
    assert_eq!(devs.consoles[0].kind, Some(ChrType::Pty));
    let expected =
        format!("<devices>\n{}</devices>\n", xml.lines().map(|l| format!("{}\n", &l[2..])).collect::<String>());
    assert_eq!(format(&devs), expected);
    let e = err("    <serial type='carrier-pigeon'/>\n").to_string();
    assert!(e.contains("attribute 'type'") && e.contains("qemu-vdagent"), "{e}");
    let e = err("    <serial type='pty'><target type='isa-serial' port='0'><model name='8250'/></target></serial>\n")
        .to_string();
    assert!(e.contains("attribute 'name'") && e.contains("16550a"), "{e}");
    let e =
        err("    <channel type='pty'><target type='guestfwd' address='10.0.2.300' port='1'/></channel>\n").to_string();
    assert!(e.contains("attribute 'address'"), "{e}");
}

/// Together these are no guest QEMU could run (egl-headless beside SDL and a GL SPICE display,
/// a transitional virtio tablet), so they round-trip in a `test` domain, free of QEMU's rules.
#[test]
fn graphics_video_input_sound_audio() {
    round_trip_in(
        "test",
        "    <input type='evdev'>
      <source dev='/dev/input/event1' grab='all' grabToggle='ctrl-ctrl' repeat='on'/>
    </input>
    <input type='passthrough' bus='virtio'>
      <source evdev='/dev/input/event1234'/>
    </input>
    <input type='tablet' bus='virtio' model='virtio-non-transitional'>
      <driver iommu='on' ats='on'/>
    </input>
    <graphics type='vnc' port='5903' autoport='no' websocket='5704' listen='127.0.0.1' keymap='de' sharePolicy='allow-exclusive' powerControl='yes' passwd='secret' passwdValidTo='2010-04-09T15:51:00' connected='keep'>
      <listen type='address' address='127.0.0.1'/>
      <audio id='1'/>
    </graphics>
    <graphics type='spice' port='5903' tlsPort='5904' autoport='no' listen='127.0.0.1' defaultMode='secure'>
      <listen type='network' address='127.0.0.1' network='default'/>
      <channel name='main' mode='secure'/>
      <channel name='inputs' mode='insecure'/>
      <image compression='auto_glz'/>
      <jpeg compression='auto'/>
      <zlib compression='auto'/>
      <playback compression='on'/>
      <streaming mode='filter'/>
      <mouse mode='client'/>
      <clipboard copypaste='no'/>
      <filetransfer enable='no'/>
      <gl enable='yes' rendernode='/dev/dri/foo'/>
    </graphics>
    <graphics type='egl-headless'>
      <gl rendernode='/dev/dri/renderD128'/>
    </graphics>
    <graphics type='dbus' p2p='yes'>
      <gl enable='yes'/>
      <audio id='1'/>
    </graphics>
    <graphics type='sdl' display=':0.1' xauth='/root/.Xauthority' fullscreen='yes'/>
    <sound model='ich9'>
      <codec type='duplex'/>
      <codec type='micro'/>
      <audio id='1'/>
    </sound>
    <audio id='1' type='pulseaudio' timerPeriod='50' serverName='acme.example.org'>
      <input mixingEngine='yes' fixedSettings='yes' voices='1' bufferLength='100' name='fish' streamName='food' latency='100'>
        <settings frequency='44100' channels='2' format='s16'/>
      </input>
      <output mixingEngine='yes' fixedSettings='no' name='fish' streamName='food'/>
    </audio>
    <audio id='2' type='oss' tryMMap='yes' exclusive='yes' dspPolicy='3'>
      <input dev='/dev/dsp0' bufferCount='50' tryPoll='yes'/>
    </audio>
    <video>
      <driver iommu='on' vgaconf='io' name='vhostuser'/>
      <model type='qxl' ram='65536' vram='32768' vram64='1024' vgamem='8192' heads='1' primary='yes'>
        <acceleration accel3d='yes' accel2d='no' rendernode='/dev/dri/foo'/>
        <resolution x='800' y='600'/>
      </model>
      <alias name='video0'/>
    </video>
",
    );
    let e = err("    <graphics type='vnc' sharePolicy='polite'/>\n").to_string();
    assert!(e.contains("attribute 'sharePolicy'"), "{e}");
    let e = err("    <video><model type='matrox'/></video>\n").to_string();
    assert!(e.contains("attribute 'type'") && e.contains("ramfb"), "{e}");
    let e = err("    <audio id='1' type='pulseaudio'><input><settings format='s24'/></input></audio>\n").to_string();
    assert!(e.contains("attribute 'format'"), "{e}");
    let e = err("    <input type='evdev'><source dev='/dev/input/event1' grabToggle='any'/></input>\n").to_string();
    assert!(e.contains("attribute 'grabToggle'"), "{e}");
}

#[test]
fn misc_devices() {
    round_trip(
        "    <tpm model='tpm-crb'>
      <backend type='emulator' version='2.0' persistent_state='yes'>
        <encryption secret='32ee7e76-2178-47a1-ab7b-269e6e348015'/>
        <active_pcr_banks>
          <sha256/>
          <sha384/>
        </active_pcr_banks>
      </backend>
      <alias name='tpm0'/>
    </tpm>
    <tpm model='tpm-tis'>
      <backend type='passthrough'>
        <device path='/dev/tpm0'/>
      </backend>
    </tpm>
    <tpm model='tpm-tis'>
      <backend type='external'>
        <source type='unix' mode='connect' path='/tmp/path.sock'/>
      </backend>
    </tpm>
    <watchdog model='i6300esb' action='inject-nmi'/>
    <memballoon model='virtio' autodeflate='on' freePageReporting='on'>
      <stats period='10'/>
      <driver iommu='on' ats='on' packed='on'/>
    </memballoon>
    <rng model='virtio'>
      <rate bytes='123' period='1234'/>
      <backend model='random'>/dev/urandom</backend>
    </rng>
    <rng model='virtio-transitional'>
      <backend model='egd' type='tcp'>
        <source mode='connect' host='1.2.3.4' service='1234'/>
        <protocol type='raw'/>
      </backend>
      <driver iommu='on'/>
    </rng>
    <rng model='virtio'>
      <backend model='builtin'/>
    </rng>
    <panic model='hyperv'/>
    <shmem name='shmem3' role='peer'>
      <model type='ivshmem-doorbell'/>
      <size unit='M'>512</size>
      <server path='/tmp/shmem3-sock'/>
      <msi vectors='32' ioeventfd='on'/>
    </shmem>
    <vsock model='virtio'>
      <cid auto='no' address='4'/>
      <driver iommu='on'/>
    </vsock>
    <crypto model='virtio' type='qemu'>
      <backend model='builtin' queues='1'/>
    </crypto>
",
    );
    let devs = parse("    <shmem name='s'><size unit='GiB'>1</size></shmem>\n");
    assert_eq!(devs.shmems[0].size.unwrap().bytes(), 1 << 30);
    let devs = parse("    <vsock><cid auto='yes'/></vsock>\n");
    assert_eq!(devs.vsock.unwrap().cid.unwrap().auto, Some(YesNo::Yes));
    let e = err("    <watchdog model='i6300esb' action='explode'/>\n").to_string();
    assert!(e.contains("attribute 'action'") && e.contains("inject-nmi"), "{e}");
    let e = err("    <tpm><backend type='emulator' version='3.0'/></tpm>\n").to_string();
    assert!(e.contains("attribute 'version'") && e.contains("1.2, 2.0"), "{e}");
    let e = err("    <memballoon model='balloon'/>\n").to_string();
    assert!(e.contains("attribute 'model'"), "{e}");
    let e = err("    <rng model='virtio'><backend model='quantum'/></rng>\n").to_string();
    assert!(e.contains("attribute 'model'") && e.contains("builtin"), "{e}");
    let e = err("    <tpm model='tpm-tis'/>\n").to_string();
    assert!(e.contains("<backend>"), "{e}");
}
