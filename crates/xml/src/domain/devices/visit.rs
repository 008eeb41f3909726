//! One walk over every device of a domain that has libvirt's device-info tail (`boot`, `alias`,
//! `acpi`, `address`), in libvirt's device order: address assignment, alias assignment and the
//! address/boot-order rules go through it instead of each listing the device kinds again. A kind
//! added to [`Devices`] is added here once.

use super::*;

/// A kind of device with a device-info tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    Disk,
    Controller,
    Filesystem,
    Interface,
    Smartcard,
    Serial,
    Parallel,
    Console,
    Channel,
    Input,
    Tpm,
    Sound,
    Video,
    Hostdev,
    Redirdev,
    Hub,
    Watchdog,
    Memballoon,
    Rng,
    Panic,
    Shmem,
    Memory,
    Iommu,
    Vsock,
    Crypto,
}

impl DeviceKind {
    /// The element name (`disk`, `interface`, ...), as in XML paths and messages.
    pub fn element(self) -> &'static str {
        match self {
            DeviceKind::Disk => "disk",
            DeviceKind::Controller => "controller",
            DeviceKind::Filesystem => "filesystem",
            DeviceKind::Interface => "interface",
            DeviceKind::Smartcard => "smartcard",
            DeviceKind::Serial => "serial",
            DeviceKind::Parallel => "parallel",
            DeviceKind::Console => "console",
            DeviceKind::Channel => "channel",
            DeviceKind::Input => "input",
            DeviceKind::Tpm => "tpm",
            DeviceKind::Sound => "sound",
            DeviceKind::Video => "video",
            DeviceKind::Hostdev => "hostdev",
            DeviceKind::Redirdev => "redirdev",
            DeviceKind::Hub => "hub",
            DeviceKind::Watchdog => "watchdog",
            DeviceKind::Memballoon => "memballoon",
            DeviceKind::Rng => "rng",
            DeviceKind::Panic => "panic",
            DeviceKind::Shmem => "shmem",
            DeviceKind::Memory => "memory",
            DeviceKind::Iommu => "iommu",
            DeviceKind::Vsock => "vsock",
            DeviceKind::Crypto => "crypto",
        }
    }
}

/// Where a visited device is: its kind, its index among its kind and how many of the kind there
/// are (for paths like `/domain/devices/disk[2]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub kind: DeviceKind,
    pub index: usize,
    pub count: usize,
}

impl Position {
    /// The device's XML path: `/domain/devices/disk` when it is the only one, else `disk[N]`.
    pub fn path(&self) -> String {
        if self.count > 1 {
            format!("/domain/devices/{}[{}]", self.kind.element(), self.index + 1)
        } else {
            format!("/domain/devices/{}", self.kind.element())
        }
    }
}

/// A device's info tail, read-only. `boot`/`acpi` are `None` where the device has no such child.
#[derive(Debug, Clone, Copy, Default)]
pub struct InfoRef<'a> {
    pub boot: Option<&'a BootOrder>,
    pub alias: Option<&'a Alias>,
    pub acpi: Option<&'a Acpi>,
    pub address: Option<&'a Address>,
}

/// A device's info tail, to fill in. `boot`/`acpi` are `None` where the device cannot have them.
#[derive(Debug)]
pub struct InfoMut<'a> {
    pub boot: Option<&'a mut Option<BootOrder>>,
    pub alias: &'a mut Option<Alias>,
    pub acpi: Option<&'a mut Option<Acpi>>,
    pub address: &'a mut Option<Address>,
}

fn info_ref(i: &DeviceInfo) -> InfoRef<'_> {
    InfoRef { boot: i.boot.as_ref(), alias: i.alias.as_ref(), acpi: i.acpi.as_ref(), address: i.address.as_ref() }
}

fn info_mut(i: &mut DeviceInfo) -> InfoMut<'_> {
    InfoMut { boot: Some(&mut i.boot), alias: &mut i.alias, acpi: Some(&mut i.acpi), address: &mut i.address }
}

/// Visits every device in libvirt's order; `$list` is a `Vec` or an `Option` of devices, `$how`
/// says where its tail is: `info` (a flattened [`DeviceInfo`]) or the fields it has of its own.
macro_rules! walk {
    ($devs:expr, $f:ident, $iter:ident, $info:ident, $fields:ident) => {
        walk!(@one $devs, $f, $iter, $info, $fields, Disk, disks, info);
        walk!(@one $devs, $f, $iter, $info, $fields, Controller, controllers, info);
        walk!(@one $devs, $f, $iter, $info, $fields, Filesystem, filesystems, info);
        walk!(@one $devs, $f, $iter, $info, $fields, Interface, interfaces, [boot alias acpi address]);
        walk!(@one $devs, $f, $iter, $info, $fields, Smartcard, smartcards, info);
        walk!(@one $devs, $f, $iter, $info, $fields, Serial, serials, [alias acpi address]);
        walk!(@one $devs, $f, $iter, $info, $fields, Parallel, parallels, [alias acpi address]);
        walk!(@one $devs, $f, $iter, $info, $fields, Console, consoles, [alias acpi address]);
        walk!(@one $devs, $f, $iter, $info, $fields, Channel, channels, [alias acpi address]);
        walk!(@one $devs, $f, $iter, $info, $fields, Input, inputs, [alias acpi address]);
        walk!(@one $devs, $f, $iter, $info, $fields, Tpm, tpms, [alias address]);
        walk!(@one $devs, $f, $iter, $info, $fields, Sound, sounds, [alias acpi address]);
        walk!(@one $devs, $f, $iter, $info, $fields, Video, videos, [alias acpi address]);
        walk!(@one $devs, $f, $iter, $info, $fields, Hostdev, hostdevs, info);
        walk!(@one $devs, $f, $iter, $info, $fields, Redirdev, redirdevs, info);
        walk!(@one $devs, $f, $iter, $info, $fields, Hub, hubs, info);
        walk!(@one $devs, $f, $iter, $info, $fields, Watchdog, watchdogs, info);
        walk!(@one $devs, $f, $iter, $info, $fields, Memballoon, memballoon, [alias acpi address]);
        walk!(@one $devs, $f, $iter, $info, $fields, Rng, rngs, [alias acpi address]);
        walk!(@one $devs, $f, $iter, $info, $fields, Panic, panics, [alias address]);
        walk!(@one $devs, $f, $iter, $info, $fields, Shmem, shmems, [alias acpi address]);
        walk!(@one $devs, $f, $iter, $info, $fields, Memory, memories, info);
        walk!(@one $devs, $f, $iter, $info, $fields, Iommu, iommu, info);
        walk!(@one $devs, $f, $iter, $info, $fields, Vsock, vsock, [alias acpi address]);
        walk!(@one $devs, $f, $iter, $info, $fields, Crypto, cryptos, [alias acpi address]);
    };
    (@one $devs:expr, $f:ident, $iter:ident, $info:ident, $fields:ident, $kind:ident, $list:ident, info) => {{
        let count = $devs.$list.$iter().count();
        for (index, d) in $devs.$list.$iter().enumerate() {
            $f(Position { kind: DeviceKind::$kind, index, count }, $info(mut_or_ref!($iter, d.info)));
        }
    }};
    (@one $devs:expr, $f:ident, $iter:ident, $info:ident, $fields:ident, $kind:ident, $list:ident, [$($field:ident)*]) => {{
        let count = $devs.$list.$iter().count();
        for (index, d) in $devs.$list.$iter().enumerate() {
            $f(Position { kind: DeviceKind::$kind, index, count }, $fields!(d, $($field)*));
        }
    }};
}

macro_rules! mut_or_ref {
    (iter, $e:expr) => {
        &$e
    };
    (iter_mut, $e:expr) => {
        &mut $e
    };
}

macro_rules! fields_ref {
    ($d:ident, $($field:ident)*) => {{
        #[allow(unused_mut)]
        let mut r = InfoRef { alias: $d.alias.as_ref(), address: $d.address.as_ref(), ..InfoRef::default() };
        $(fields_ref!(@set r, $d, $field);)*
        r
    }};
    (@set $r:ident, $d:ident, boot) => { $r.boot = $d.boot.as_ref(); };
    (@set $r:ident, $d:ident, acpi) => { $r.acpi = $d.acpi.as_ref(); };
    (@set $r:ident, $d:ident, alias) => {};
    (@set $r:ident, $d:ident, address) => {};
}

macro_rules! fields_mut {
    ($d:ident, $($field:ident)*) => {
        InfoMut {
            boot: fields_mut!(@opt $d, boot, $($field)*),
            acpi: fields_mut!(@opt $d, acpi, $($field)*),
            alias: &mut $d.alias,
            address: &mut $d.address,
        }
    };
    (@opt $d:ident, boot, boot $($rest:ident)*) => { Some(&mut $d.boot) };
    (@opt $d:ident, acpi, acpi $($rest:ident)*) => { Some(&mut $d.acpi) };
    (@opt $d:ident, $want:ident, $other:ident $($rest:ident)*) => { fields_mut!(@opt $d, $want, $($rest)*) };
    (@opt $d:ident, $want:ident,) => { None };
}

impl Devices {
    /// Calls `f` for every device with a device-info tail, in libvirt's device order.
    pub fn visit_info<'a>(&'a self, mut f: impl FnMut(Position, InfoRef<'a>)) {
        walk!(self, f, iter, info_ref, fields_ref);
    }

    /// [`Self::visit_info`] with the tails open for filling in (aliases, addresses).
    pub fn visit_info_mut(&mut self, mut f: impl FnMut(Position, InfoMut<'_>)) {
        walk!(self, f, iter_mut, info_mut, fields_mut);
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::Domain;
    use crate::XmlDocument;

    use super::*;

    const XML: &str = "<domain type='qemu'><name>v</name><memory>65536</memory><os><type>hvm</type></os><devices>\
        <disk type='file' device='disk'><source file='/a'/><target dev='vda' bus='virtio'/><boot order='1'/>\
        <alias name='ua-disk'/><address type='pci' domain='0' bus='0' slot='4' function='0'/></disk>\
        <disk type='file' device='disk'><source file='/b'/><target dev='vdb' bus='virtio'/></disk>\
        <interface type='user'><mac address='52:54:00:00:00:01'/><boot order='2'/></interface>\
        <serial type='pty'><alias name='serial0'/></serial>\
        <memballoon model='virtio'><address type='pci' domain='0' bus='0' slot='5' function='0'/></memballoon>\
        </devices></domain>";

    #[test]
    fn visits_every_tail_in_order() {
        let def = Domain::from_xml_str(XML).unwrap();
        let devs = def.devices.as_ref().unwrap();
        let mut seen = Vec::new();
        devs.visit_info(|p, i| {
            seen.push((p.path(), i.boot.map(|b| b.order), i.alias.map(|a| a.name.clone()), i.address.is_some()));
        });
        assert_eq!(
            seen,
            vec![
                ("/domain/devices/disk[1]".to_string(), Some(1), Some("ua-disk".to_string()), true),
                ("/domain/devices/disk[2]".to_string(), None, None, false),
                ("/domain/devices/interface".to_string(), Some(2), None, false),
                ("/domain/devices/serial".to_string(), None, Some("serial0".to_string()), false),
                ("/domain/devices/memballoon".to_string(), None, None, true),
            ]
        );
    }

    #[test]
    fn fills_tails_in_place() {
        let mut def = Domain::from_xml_str(XML).unwrap();
        let devs = def.devices.as_mut().unwrap();
        devs.visit_info_mut(|p, i| {
            if i.alias.is_none() {
                *i.alias = Some(Alias { name: format!("{}{}", p.kind.element(), p.index) });
            }
            assert_eq!(i.boot.is_some(), matches!(p.kind, DeviceKind::Disk | DeviceKind::Interface));
        });
        let names: Vec<String> = {
            let mut v = Vec::new();
            devs.visit_info(|_, i| v.extend(i.alias.map(|a| a.name.clone())));
            v
        };
        assert_eq!(names, ["ua-disk", "disk1", "interface0", "serial0", "memballoon0"]);
    }
}
