//! `<disk>`: a block device backed by a file, host device, directory, network export, storage
//! volume, NVMe namespace or vhost-user socket.
//!
//! One flat `DiskSource` serves every disk type (libvirt decides per type which attributes
//! matter), so parsing and formatting never lose an attribute the input had.

use crate::units::Bytes;
use crate::{El, FromXml, OnOff, ToXml, Writer, Xml, XmlError, XmlValue, YesNo};

use super::common::{
    Address, DeviceInfo, DeviceSeclabel, Initiator, Reconnect, SecretRef, StorageAuth, VirtioModel, VirtioOptions,
};

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct Disk {
    /// Absent means `file`.
    #[xml(attr = "type")]
    pub kind: Option<DiskType>,
    /// Absent means `disk`.
    #[xml(attr = "device")]
    pub device: Option<DiskDevice>,
    #[xml(attr = "model")]
    pub model: Option<VirtioModel>,
    /// Only for `device='lun'`.
    #[xml(attr = "rawio")]
    pub rawio: Option<YesNo>,
    /// Only for `device='lun'`.
    #[xml(attr = "sgio")]
    pub sgio: Option<Sgio>,
    #[xml(attr = "snapshot")]
    pub snapshot: Option<SnapshotLocation>,
    #[xml(child = "driver")]
    pub driver: Option<DiskDriver>,
    /// Legacy placement of `<auth>` (libvirt keeps it where it was found).
    #[xml(child = "auth")]
    pub auth: Option<StorageAuth>,
    #[xml(child = "source")]
    pub source: Option<DiskSource>,
    #[xml(child = "backingStore")]
    pub backing_store: Option<BackingStore>,
    #[xml(child = "backenddomain")]
    pub backend_domain: Option<BackendDomain>,
    #[xml(child = "geometry")]
    pub geometry: Option<Geometry>,
    #[xml(child = "blockio")]
    pub blockio: Option<BlockIo>,
    /// Live XML only: an ongoing block copy or active commit.
    #[xml(child = "mirror")]
    pub mirror: Option<DiskMirror>,
    #[xml(child = "target")]
    pub target: DiskTarget,
    #[xml(child = "iotune")]
    pub iotune: Option<IoTune>,
    #[xml(flag = "readonly")]
    pub readonly: bool,
    #[xml(flag = "shareable")]
    pub shareable: bool,
    #[xml(child = "transient")]
    pub transient: Option<Transient>,
    #[xml(child_text = "serial")]
    pub serial: Option<String>,
    #[xml(child_text = "wwn")]
    pub wwn: Option<String>,
    #[xml(child_text = "vendor")]
    pub vendor: Option<String>,
    #[xml(child_text = "product")]
    pub product: Option<String>,
    /// Legacy placement of `<encryption>` (libvirt keeps it where it was found).
    #[xml(child = "encryption")]
    pub encryption: Option<Encryption>,
    #[xml(flatten)]
    pub info: DeviceInfo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum DiskType {
    #[default]
    File,
    Block,
    Dir,
    Network,
    Volume,
    Nvme,
    Vhostuser,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum DiskDevice {
    #[default]
    Disk,
    Cdrom,
    Floppy,
    Lun,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum Sgio {
    Filtered,
    Unfiltered,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum SnapshotLocation {
    No,
    Internal,
    External,
    Manual,
}

/// Image formats libvirt knows (`<driver type=...>`, `<format type=...>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum StorageFormat {
    Raw,
    Dir,
    Bochs,
    Cloop,
    Dmg,
    Iso,
    Vpc,
    Vdi,
    Fat,
    Vhd,
    Ploop,
    Luks,
    Cow,
    Qcow,
    Qcow2,
    Qed,
    Vmdk,
    /// Old spelling of `raw` accepted on input.
    Aio,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum DiskCache {
    Default,
    None,
    Writethrough,
    Writeback,
    Directsync,
    Unsafe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum ErrorPolicy {
    Stop,
    Report,
    Ignore,
    Enospace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum DiskIo {
    Native,
    Threads,
    #[xml(rename = "io_uring")]
    IoUring,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum DiskDiscard {
    Unmap,
    Ignore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum DetectZeroes {
    Off,
    On,
    Unmap,
}

/// `<driver>`: how the hypervisor opens and serves the image.
#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct DiskDriver {
    #[xml(attr = "name")]
    pub name: Option<String>,
    #[xml(attr = "type")]
    pub format: Option<StorageFormat>,
    #[xml(attr = "cache")]
    pub cache: Option<DiskCache>,
    #[xml(attr = "error_policy")]
    pub error_policy: Option<ErrorPolicy>,
    /// `enospace` is not valid here (checked in [`Disk::validate`]).
    #[xml(attr = "rerror_policy")]
    pub rerror_policy: Option<ErrorPolicy>,
    #[xml(attr = "io")]
    pub io: Option<DiskIo>,
    #[xml(attr = "ioeventfd")]
    pub ioeventfd: Option<OnOff>,
    #[xml(attr = "event_idx")]
    pub event_idx: Option<OnOff>,
    #[xml(attr = "copy_on_read")]
    pub copy_on_read: Option<OnOff>,
    #[xml(attr = "discard")]
    pub discard: Option<DiskDiscard>,
    #[xml(attr = "iothread")]
    pub iothread: Option<u32>,
    #[xml(attr = "detect_zeroes")]
    pub detect_zeroes: Option<DetectZeroes>,
    #[xml(attr = "queues")]
    pub queues: Option<u32>,
    #[xml(attr = "queue_size")]
    pub queue_size: Option<u32>,
    #[xml(flatten)]
    pub virtio: VirtioOptions,
    #[xml(child = "metadata_cache")]
    pub metadata_cache: Option<MetadataCache>,
}

/// `<metadata_cache><max_size unit=...>N</max_size></metadata_cache>` (qcow2 L2 cache limit).
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct MetadataCache {
    #[xml(child = "max_size")]
    pub max_size: Option<Bytes>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum NetProtocol {
    Nbd,
    Rbd,
    Sheepdog,
    Gluster,
    Iscsi,
    Http,
    Https,
    Ftp,
    Ftps,
    Tftp,
    Ssh,
    Vxhs,
    Nfs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum StartupPolicy {
    Mandatory,
    Requisite,
    Optional,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum VolumeMode {
    Host,
    Direct,
}

/// `<source>` of a disk, backing store or mirror. Attribute use by disk type: file (`file`,
/// `fdgroup`), block (`dev`), dir (`dir`), network (`protocol`, `name`, `query`, `tls`,
/// `tlsHostname` + `<host>`...), volume (`pool`, `volume`, `mode`), nvme (`type='pci'`, `managed`,
/// `namespace` + `<address>`), vhostuser (`type='unix'`, `path` + `<reconnect>`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct DiskSource {
    #[xml(attr = "file")]
    pub file: Option<String>,
    #[xml(attr = "fdgroup")]
    pub fdgroup: Option<String>,
    #[xml(attr = "dev")]
    pub dev: Option<String>,
    #[xml(attr = "dir")]
    pub dir: Option<String>,
    #[xml(attr = "protocol")]
    pub protocol: Option<NetProtocol>,
    #[xml(attr = "name")]
    pub name: Option<String>,
    #[xml(attr = "query")]
    pub query: Option<String>,
    #[xml(attr = "tls")]
    pub tls: Option<YesNo>,
    #[xml(attr = "tlsHostname")]
    pub tls_hostname: Option<String>,
    #[xml(attr = "pool")]
    pub pool: Option<String>,
    #[xml(attr = "volume")]
    pub volume: Option<String>,
    #[xml(attr = "mode")]
    pub mode: Option<VolumeMode>,
    /// `pci` for nvme, `unix` for vhostuser.
    #[xml(attr = "type")]
    pub kind: Option<String>,
    #[xml(attr = "managed")]
    pub managed: Option<YesNo>,
    #[xml(attr = "namespace")]
    pub namespace: Option<u64>,
    #[xml(attr = "path")]
    pub path: Option<String>,
    #[xml(attr = "startupPolicy")]
    pub startup_policy: Option<StartupPolicy>,
    #[xml(attr = "index")]
    pub index: Option<u32>,
    #[xml(child = "host")]
    pub hosts: Vec<NetHost>,
    #[xml(child = "identity")]
    pub identity: Option<NfsIdentity>,
    #[xml(child = "snapshot")]
    pub snapshot: Option<RbdSnapshot>,
    #[xml(child = "config")]
    pub config: Option<RbdConfig>,
    #[xml(child = "initiator")]
    pub initiator: Option<Initiator>,
    #[xml(child = "ssl")]
    pub ssl: Option<SslVerify>,
    #[xml(child = "cookies")]
    pub cookies: Option<Cookies>,
    #[xml(child = "readahead")]
    pub readahead: Option<Readahead>,
    #[xml(child = "timeout")]
    pub timeout: Option<NetTimeout>,
    /// NVMe controller's host PCI address.
    #[xml(child = "address")]
    pub address: Option<Address>,
    #[xml(child = "reconnect")]
    pub reconnect: Option<Reconnect>,
    #[xml(child = "slices")]
    pub slices: Option<Slices>,
    #[xml(child = "seclabel")]
    pub seclabels: Vec<DeviceSeclabel>,
    #[xml(child = "auth")]
    pub auth: Option<StorageAuth>,
    #[xml(child = "encryption")]
    pub encryption: Option<Encryption>,
    #[xml(child = "reservations")]
    pub reservations: Option<Reservations>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum HostTransport {
    Tcp,
    Unix,
    Rdma,
}

/// `<host name= port= transport= socket=/>`: one server of a network disk.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct NetHost {
    #[xml(attr = "name")]
    pub name: Option<String>,
    #[xml(attr = "port")]
    pub port: Option<u32>,
    #[xml(attr = "transport")]
    pub transport: Option<HostTransport>,
    #[xml(attr = "socket")]
    pub socket: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct NfsIdentity {
    #[xml(attr = "user")]
    pub user: Option<String>,
    #[xml(attr = "group")]
    pub group: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct RbdSnapshot {
    #[xml(attr = "name")]
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct RbdConfig {
    #[xml(attr = "file")]
    pub file: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct SslVerify {
    #[xml(attr = "verify")]
    pub verify: YesNo,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Cookies {
    #[xml(child = "cookie")]
    pub cookies: Vec<Cookie>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Cookie {
    #[xml(attr = "name")]
    pub name: String,
    #[xml(text)]
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Readahead {
    #[xml(attr = "size")]
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct NetTimeout {
    #[xml(attr = "seconds")]
    pub seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Slices {
    #[xml(child = "slice")]
    pub slices: Vec<Slice>,
}

/// `<slice type='storage' offset= size=/>`: the guest sees only this byte range of the image.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Slice {
    #[xml(attr = "type")]
    pub kind: String,
    #[xml(attr = "offset")]
    pub offset: u64,
    #[xml(attr = "size")]
    pub size: u64,
}

/// `<reservations managed=...>`: SCSI persistent reservations helper.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Reservations {
    #[xml(attr = "managed")]
    pub managed: Option<YesNo>,
    #[xml(child = "source")]
    pub source: Option<ReservationsSource>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct ReservationsSource {
    #[xml(attr = "type")]
    pub kind: String,
    #[xml(attr = "path")]
    pub path: String,
    #[xml(attr = "mode")]
    pub mode: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum EncryptionFormat {
    Default,
    Qcow,
    Luks,
    Luks2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum EncryptionEngine {
    Qemu,
    Librbd,
}

/// `<encryption format=...>` of an image (also used by storage volumes).
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Encryption {
    #[xml(attr = "format")]
    pub format: Option<EncryptionFormat>,
    #[xml(attr = "engine")]
    pub engine: Option<EncryptionEngine>,
    #[xml(child = "secret")]
    pub secrets: Vec<SecretRef>,
    #[xml(child = "cipher")]
    pub cipher: Option<Cipher>,
    #[xml(child = "ivgen")]
    pub ivgen: Option<Ivgen>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Cipher {
    #[xml(attr = "name")]
    pub name: String,
    #[xml(attr = "size")]
    pub size: u32,
    #[xml(attr = "mode")]
    pub mode: Option<String>,
    #[xml(attr = "hash")]
    pub hash: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Ivgen {
    #[xml(attr = "name")]
    pub name: String,
    #[xml(attr = "hash")]
    pub hash: Option<String>,
}

/// `<backingStore>`: the next image down the chain. An empty `<backingStore/>` marks the end.
///
/// The model's one recursive type, so parse, format, clone, compare, print and drop walk the
/// chain in loops: a chain as deep as the nesting limit allows must not cost a stack frame per
/// level (derived code took several KiB per level in debug builds and overflowed a 1 MiB stack).
#[derive(Default)]
pub struct BackingStore {
    pub kind: Option<DiskType>,
    pub index: Option<u32>,
    pub format: Option<ImageFormat>,
    pub source: Option<DiskSource>,
    pub backing_store: Option<Box<BackingStore>>,
}

impl BackingStore {
    /// This level and the ones below it, outermost first.
    pub fn chain(&self) -> impl Iterator<Item = &BackingStore> {
        std::iter::successors(Some(self), |b| b.backing_store.as_deref())
    }

    /// A copy of this level alone.
    fn level(&self) -> Self {
        BackingStore {
            kind: self.kind,
            index: self.index,
            format: self.format.clone(),
            source: self.source.clone(),
            backing_store: None,
        }
    }

    fn level_eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.index == other.index
            && self.format == other.format
            && self.source == other.source
    }

    /// Links `levels` (outermost first) into one chain.
    fn link(mut levels: Vec<BackingStore>) -> Self {
        let mut chain: Option<Box<BackingStore>> = None;
        while levels.len() > 1 {
            let mut b = levels.pop().unwrap_or_default();
            b.backing_store = chain;
            chain = Some(Box::new(b));
        }
        let mut top = levels.pop().unwrap_or_default();
        top.backing_store = chain;
        top
    }

    /// One level's own attributes and children (`type`, `index`, `<format>`, `<source>`).
    fn parse_level(el: &mut El<'_, '_>) -> Result<Self, XmlError> {
        Ok(BackingStore {
            kind: el.attr_opt("type")?,
            index: el.attr_opt("index")?,
            format: el.child_opt("format")?,
            source: el.child_opt("source")?,
            backing_store: None,
        })
    }

    fn write_level_attrs(&self, w: &mut Writer) {
        if let Some(v) = &self.kind {
            w.attr("type", &v.to_xml_value());
        }
        if let Some(v) = &self.index {
            w.attr("index", &v.to_xml_value());
        }
    }

    fn write_level_content(&self, w: &mut Writer) {
        if let Some(v) = &self.format {
            w.element("format", v);
        }
        if let Some(v) = &self.source {
            w.element("source", v);
        }
    }
}

impl FromXml for BackingStore {
    fn from_xml(el: &mut El<'_, '_>) -> Result<Self, XmlError> {
        let mut levels = vec![Self::parse_level(el)?];
        let mut inner = Vec::new();
        let mut next = el.take_child("backingStore");
        while let Some(mut c) = next {
            levels.push(Self::parse_level(&mut c)?);
            next = c.take_child("backingStore");
            inner.push(c);
        }
        // Innermost first, in the order nested parsing would report leftovers.
        while let Some(mut c) = inner.pop() {
            c.finish()?;
        }
        Ok(Self::link(levels))
    }
}

impl Clone for BackingStore {
    fn clone(&self) -> Self {
        Self::link(self.chain().map(Self::level).collect())
    }
}

impl PartialEq for BackingStore {
    fn eq(&self, other: &Self) -> bool {
        let (mut a, mut b) = (self.chain(), other.chain());
        loop {
            match (a.next(), b.next()) {
                (None, None) => return true,
                (Some(x), Some(y)) if x.level_eq(y) => {}
                _ => return false,
            }
        }
    }
}

impl Eq for BackingStore {}

impl std::fmt::Debug for BackingStore {
    /// The chain as a list of levels.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut l = f.debug_list();
        for b in self.chain() {
            l.entry(&format_args!(
                "BackingStore {{ kind: {:?}, index: {:?}, format: {:?}, source: {:?} }}",
                b.kind, b.index, b.format, b.source
            ));
        }
        l.finish()
    }
}

impl ToXml for BackingStore {
    fn write_attrs(&self, w: &mut Writer) {
        self.write_level_attrs(w);
    }

    fn write_content(&self, w: &mut Writer) {
        self.write_level_content(w);
        let mut open = 0usize;
        let mut next = self.backing_store.as_deref();
        while let Some(b) = next {
            w.start("backingStore");
            b.write_level_attrs(w);
            b.write_level_content(w);
            open += 1;
            next = b.backing_store.as_deref();
        }
        for _ in 0..open {
            w.end("backingStore");
        }
    }
}

impl Drop for BackingStore {
    /// Unlinks the chain level by level instead of one nested drop per level.
    fn drop(&mut self) {
        let mut next = self.backing_store.take();
        while let Some(mut b) = next {
            next = b.backing_store.take();
        }
    }
}

/// `<format type='qcow2'>` of a backing store or mirror.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct ImageFormat {
    #[xml(attr = "type")]
    pub kind: Option<StorageFormat>,
    #[xml(child = "metadata_cache")]
    pub metadata_cache: Option<MetadataCache>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum MirrorJob {
    Copy,
    ActiveCommit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum MirrorReady {
    Yes,
    Abort,
    Pivot,
}

/// `<mirror>`: destination of a running block copy / active commit (live XML).
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct DiskMirror {
    #[xml(attr = "type")]
    pub kind: Option<DiskType>,
    /// Old-style copy destination (kept for compatibility).
    #[xml(attr = "file")]
    pub file: Option<String>,
    #[xml(attr = "format")]
    pub format_attr: Option<StorageFormat>,
    #[xml(attr = "job")]
    pub job: Option<MirrorJob>,
    #[xml(attr = "ready")]
    pub ready: Option<MirrorReady>,
    #[xml(child = "format")]
    pub format: Option<ImageFormat>,
    #[xml(child = "source")]
    pub source: Option<DiskSource>,
    #[xml(child = "backingStore")]
    pub backing_store: Option<BackingStore>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct BackendDomain {
    #[xml(attr = "name")]
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum GeometryTrans {
    None,
    Auto,
    Lba,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Geometry {
    #[xml(attr = "cyls")]
    pub cyls: u32,
    #[xml(attr = "heads")]
    pub heads: u32,
    #[xml(attr = "secs")]
    pub secs: u32,
    #[xml(attr = "trans")]
    pub trans: Option<GeometryTrans>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct BlockIo {
    #[xml(attr = "logical_block_size")]
    pub logical_block_size: Option<u32>,
    #[xml(attr = "physical_block_size")]
    pub physical_block_size: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, XmlValue)]
pub enum DiskBus {
    #[default]
    Ide,
    Fdc,
    Scsi,
    Virtio,
    Xen,
    Usb,
    Uml,
    Sata,
    Sd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum Tray {
    Open,
    Closed,
}

/// `<target dev= bus=>`: how the guest sees the disk.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct DiskTarget {
    #[xml(attr = "dev")]
    pub dev: String,
    #[xml(attr = "bus")]
    pub bus: Option<DiskBus>,
    #[xml(attr = "tray")]
    pub tray: Option<Tray>,
    #[xml(attr = "removable")]
    pub removable: Option<OnOff>,
    #[xml(attr = "rotation_rate")]
    pub rotation_rate: Option<u32>,
}

/// `<iotune>`: I/O throttling (bytes/s, IOPS, bursts).
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct IoTune {
    #[xml(child_text = "total_bytes_sec")]
    pub total_bytes_sec: Option<u64>,
    #[xml(child_text = "read_bytes_sec")]
    pub read_bytes_sec: Option<u64>,
    #[xml(child_text = "write_bytes_sec")]
    pub write_bytes_sec: Option<u64>,
    #[xml(child_text = "total_iops_sec")]
    pub total_iops_sec: Option<u64>,
    #[xml(child_text = "read_iops_sec")]
    pub read_iops_sec: Option<u64>,
    #[xml(child_text = "write_iops_sec")]
    pub write_iops_sec: Option<u64>,
    #[xml(child_text = "total_bytes_sec_max")]
    pub total_bytes_sec_max: Option<u64>,
    #[xml(child_text = "read_bytes_sec_max")]
    pub read_bytes_sec_max: Option<u64>,
    #[xml(child_text = "write_bytes_sec_max")]
    pub write_bytes_sec_max: Option<u64>,
    #[xml(child_text = "total_iops_sec_max")]
    pub total_iops_sec_max: Option<u64>,
    #[xml(child_text = "read_iops_sec_max")]
    pub read_iops_sec_max: Option<u64>,
    #[xml(child_text = "write_iops_sec_max")]
    pub write_iops_sec_max: Option<u64>,
    #[xml(child_text = "size_iops_sec")]
    pub size_iops_sec: Option<u64>,
    #[xml(child_text = "group_name")]
    pub group_name: Option<String>,
    #[xml(child_text = "total_bytes_sec_max_length")]
    pub total_bytes_sec_max_length: Option<u64>,
    #[xml(child_text = "read_bytes_sec_max_length")]
    pub read_bytes_sec_max_length: Option<u64>,
    #[xml(child_text = "write_bytes_sec_max_length")]
    pub write_bytes_sec_max_length: Option<u64>,
    #[xml(child_text = "total_iops_sec_max_length")]
    pub total_iops_sec_max_length: Option<u64>,
    #[xml(child_text = "read_iops_sec_max_length")]
    pub read_iops_sec_max_length: Option<u64>,
    #[xml(child_text = "write_iops_sec_max_length")]
    pub write_iops_sec_max_length: Option<u64>,
}

/// `<transient/>`: changes are discarded when the guest stops.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Transient {
    #[xml(attr = "shareBacking")]
    pub share_backing: Option<YesNo>,
}

impl Disk {
    /// Checks the rules libvirt applies across attributes and elements of one disk.
    pub fn validate(&self, path: &str) -> Result<(), crate::XmlError> {
        let err = |m: String| Err(crate::XmlError::invalid(path, m));
        let kind = self.kind.unwrap_or_default();
        if self.device == Some(DiskDevice::Lun)
            && !matches!(kind, DiskType::Block | DiskType::Network | DiskType::Volume)
        {
            return err(format!("disk device 'lun' needs type block, network or volume, not '{kind}'"));
        }
        if (self.rawio.is_some() || self.sgio.is_some()) && self.device != Some(DiskDevice::Lun) {
            return err("attributes 'rawio' and 'sgio' are only valid for device 'lun'".into());
        }
        if self.driver.as_ref().and_then(|d| d.rerror_policy) == Some(ErrorPolicy::Enospace) {
            return err("invalid value 'enospace' for attribute 'rerror_policy'".into());
        }
        match (kind, &self.source) {
            (DiskType::Network, s) if s.as_ref().is_none_or(|s| s.protocol.is_none()) => {
                return err("network disk needs <source protocol=...>".into());
            }
            (DiskType::Vhostuser, None) => return err("vhostuser disk needs <source>".into()),
            _ => {}
        }
        if !matches!(
            self.target.dev.split_once(':').map_or(self.target.dev.as_str(), |(_, d)| d),
            d if ["fd", "hd", "sd", "vd", "xvd", "ubd"].iter().any(|p| d.len() > p.len() && d.starts_with(p))
        ) {
            return err(format!("invalid value '{}' for attribute 'dev' of <target>", self.target.dev));
        }
        Ok(())
    }
}
