//! Storage pools (`<pool>`) and volumes (`<volume>`).
//!
//! One flat `PoolSource` serves every pool type, as libvirt's own does; which parts a type needs
//! is checked in `post_parse`. Sizes are `Bytes` (any unit in, `unit='bytes'` out).

use std::borrow::Cow;

use crate::domain::Address;
use crate::{Bytes, Xml, XmlDocument, XmlError, XmlValue, YesNo};

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum PoolType {
    Dir,
    Fs,
    Netfs,
    Logical,
    Disk,
    Iscsi,
    IscsiDirect,
    Scsi,
    Mpath,
    Rbd,
    Sheepdog,
    Gluster,
    Zfs,
    Vstorage,
}

#[derive(Debug, Clone, PartialEq, Xml)]
pub struct StoragePool {
    #[xml(attr = "type")]
    pub kind: PoolType,
    /// Optional in input for some network pools (libvirt takes the source name).
    #[xml(child_text = "name")]
    pub name: Option<String>,
    #[xml(child_text = "uuid")]
    pub uuid: Option<uuid::Uuid>,
    #[xml(child = "capacity")]
    pub capacity: Option<Bytes>,
    #[xml(child = "allocation")]
    pub allocation: Option<Bytes>,
    #[xml(child = "available")]
    pub available: Option<Bytes>,
    #[xml(child = "features")]
    pub features: Option<PoolFeatures>,
    #[xml(child = "source")]
    pub source: Option<PoolSource>,
    #[xml(child = "target")]
    pub target: Option<PoolTarget>,
    #[xml(child = "refresh")]
    pub refresh: Option<Refresh>,
    #[xml(child = "fs:mount_opts")]
    pub fs_mount_opts: Option<FsMountOpts>,
    #[xml(child = "rbd:config_opts")]
    pub rbd_config_opts: Option<RbdConfigOpts>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct PoolFeatures {
    #[xml(child = "cow")]
    pub cow: Option<CowFeature>,
}

/// Whether the pool's filesystem should use copy-on-write for new volumes (btrfs).
#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct CowFeature {
    #[xml(attr = "state")]
    pub state: YesNo,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct PoolSource {
    #[xml(child = "host")]
    pub hosts: Vec<SourceHost>,
    #[xml(child = "device")]
    pub devices: Vec<SourceDevice>,
    #[xml(child = "dir")]
    pub dir: Option<SourceDir>,
    #[xml(child = "adapter")]
    pub adapter: Option<Adapter>,
    #[xml(child_text = "name")]
    pub name: Option<String>,
    #[xml(child = "format")]
    pub format: Option<PoolFormat>,
    #[xml(child = "initiator")]
    pub initiator: Option<Initiator>,
    #[xml(child = "auth")]
    pub auth: Option<Auth>,
    #[xml(child = "protocol")]
    pub protocol: Option<Protocol>,
    #[xml(child = "vendor")]
    pub vendor: Option<Named>,
    #[xml(child = "product")]
    pub product: Option<Named>,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct SourceHost {
    #[xml(attr = "name")]
    pub name: String,
    #[xml(attr = "port")]
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct SourceDevice {
    #[xml(attr = "path")]
    pub path: String,
    #[xml(attr = "part_separator")]
    pub part_separator: Option<YesNo>,
    #[xml(child = "freeExtent")]
    pub free_extents: Vec<Extent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct Extent {
    #[xml(attr = "start")]
    pub start: u64,
    #[xml(attr = "end")]
    pub end: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct SourceDir {
    #[xml(attr = "path")]
    pub path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
#[xml(rename_all = "snake_case")]
pub enum AdapterType {
    ScsiHost,
    FcHost,
}

/// A SCSI host adapter, by name or PCI parent address, or a (virtual) Fibre Channel HBA by WWNs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Adapter {
    #[xml(attr = "type")]
    pub kind: Option<AdapterType>,
    #[xml(attr = "name")]
    pub name: Option<String>,
    #[xml(attr = "parent")]
    pub parent: Option<String>,
    #[xml(attr = "parent_wwnn")]
    pub parent_wwnn: Option<String>,
    #[xml(attr = "parent_wwpn")]
    pub parent_wwpn: Option<String>,
    #[xml(attr = "parent_fabric_wwn")]
    pub parent_fabric_wwn: Option<String>,
    #[xml(attr = "managed")]
    pub managed: Option<YesNo>,
    #[xml(attr = "wwnn")]
    pub wwnn: Option<String>,
    #[xml(attr = "wwpn")]
    pub wwpn: Option<String>,
    #[xml(child = "parentaddr")]
    pub parentaddr: Option<ParentAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct ParentAddr {
    #[xml(attr = "unique_id")]
    pub unique_id: Option<u32>,
    #[xml(child = "address")]
    pub address: Address,
}

/// Source format of every pool type (filesystem, netfs, disk label, LVM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum PoolFormatType {
    Auto,
    Ext2,
    Ext3,
    Ext4,
    Ufs,
    Iso9660,
    Udf,
    Gfs,
    Gfs2,
    Vfat,
    #[xml(rename = "hfs+")]
    Hfsplus,
    Xfs,
    Ocfs2,
    Vmfs,
    Nfs,
    Cifs,
    Glusterfs,
    Unknown,
    Dos,
    Dvh,
    Gpt,
    Mac,
    Bsd,
    Pc98,
    Sun,
    Lvm2,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct PoolFormat {
    #[xml(attr = "type")]
    pub kind: PoolFormatType,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Initiator {
    #[xml(child = "iqn")]
    pub iqn: Named,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Named {
    #[xml(attr = "name")]
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum AuthType {
    Chap,
    Ceph,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct Auth {
    #[xml(attr = "type")]
    pub kind: Option<AuthType>,
    #[xml(attr = "username")]
    pub username: String,
    #[xml(child = "secret")]
    pub secret: Secret,
}

/// A reference to a libvirt secret, by UUID or usage name: the one type domain devices use too.
pub use crate::domain::devices::common::SecretRef as Secret;

/// NFS protocol version for netfs mounts.
#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct Protocol {
    #[xml(attr = "ver")]
    pub ver: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct PoolTarget {
    #[xml(child_text = "path")]
    pub path: Option<String>,
    #[xml(child = "permissions")]
    pub permissions: Option<Permissions>,
}

/// File mode, read and written in octal (`0755`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mode(pub u32);

impl XmlValue for Mode {
    fn from_xml_value(s: &str) -> Result<Self, String> {
        let v = u32::from_str_radix(s.trim(), 8).map_err(|_| "expected an octal file mode such as 0755".to_string())?;
        if v > 0o7777 {
            return Err("file mode must be at most 07777".into());
        }
        Ok(Mode(v))
    }
    fn to_xml_value(&self) -> Cow<'_, str> {
        Cow::Owned(format!("0{:o}", self.0))
    }
}

/// Owner and group are numeric ids, `-1` meaning "leave as is".
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Permissions {
    #[xml(child_text = "mode")]
    pub mode: Option<Mode>,
    #[xml(child_text = "owner")]
    pub owner: Option<i64>,
    #[xml(child_text = "group")]
    pub group: Option<i64>,
    #[xml(child_text = "label")]
    pub label: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Refresh {
    #[xml(child = "volume")]
    pub volume: Option<RefreshVolume>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum RefreshAllocation {
    Default,
    Capacity,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct RefreshVolume {
    #[xml(attr = "allocation")]
    pub allocation: Option<RefreshAllocation>,
}

/// Extra mount options for fs/netfs pools.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct FsMountOpts {
    #[xml(child = "fs:option")]
    pub options: Vec<Named>,
}

/// Extra Ceph client options for rbd pools.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct RbdConfigOpts {
    #[xml(child = "rbd:option")]
    pub options: Vec<RbdOption>,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct RbdOption {
    #[xml(attr = "name")]
    pub name: String,
    #[xml(attr = "value")]
    pub value: String,
}

fn invalid(path: &str, msg: impl Into<String>) -> XmlError {
    XmlError::invalid(path, msg)
}

impl StoragePool {
    /// The pool's name (taken from the source name for pools that allow omitting it).
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    fn validate(&self) -> Result<(), XmlError> {
        use PoolType::*;
        let src = self.source.as_ref();
        let need_source = |what: &str| invalid("/pool/source", format!("a '{}' pool needs {what}", self.kind));
        match self.kind {
            Fs | Disk | Iscsi if src.is_none_or(|s| s.devices.is_empty()) => {
                return Err(need_source("a source <device>"));
            }
            Netfs | Iscsi | IscsiDirect | Rbd | Sheepdog | Gluster if src.is_none_or(|s| s.hosts.is_empty()) => {
                return Err(need_source("a source <host>"));
            }
            Netfs if src.is_none_or(|s| s.dir.is_none()) => return Err(need_source("a source <dir>")),
            Scsi if src.is_none_or(|s| s.adapter.is_none()) => return Err(need_source("a source <adapter>")),
            Rbd | Sheepdog | Gluster | Zfs | Vstorage if src.is_none_or(|s| s.name.is_none()) => {
                return Err(need_source("a source <name>"));
            }
            IscsiDirect if src.is_none_or(|s| s.initiator.is_none()) => {
                return Err(need_source("an <initiator> iqn"));
            }
            _ => {}
        }
        let has_target_path = self.target.as_ref().is_some_and(|t| t.path.is_some());
        if matches!(self.kind, Dir | Fs | Netfs | Disk | Iscsi | Scsi | Mpath | Vstorage) && !has_target_path {
            return Err(invalid("/pool/target", format!("a '{}' pool needs a target <path>", self.kind)));
        }
        if let Some(t) = self.target.as_ref().and_then(|t| t.path.as_deref()) {
            if !t.starts_with('/') {
                return Err(invalid("/pool/target/path", format!("target path '{t}' must be absolute")));
            }
        }
        if let Some(a) = src.and_then(|s| s.adapter.as_ref()) {
            match a.kind.unwrap_or(AdapterType::ScsiHost) {
                AdapterType::FcHost if a.wwnn.is_none() || a.wwpn.is_none() => {
                    return Err(invalid("/pool/source/adapter", "an fc_host adapter needs wwnn and wwpn"));
                }
                AdapterType::ScsiHost if a.name.is_some() == a.parentaddr.is_some() => {
                    return Err(invalid(
                        "/pool/source/adapter",
                        "a scsi_host adapter needs exactly one of name or <parentaddr>",
                    ));
                }
                _ => {}
            }
        }
        if let Some(auth) = src.and_then(|s| s.auth.as_ref()) {
            if auth.secret.uuid.is_some() == auth.secret.usage.is_some() {
                return Err(invalid("/pool/source/auth/secret", "give exactly one of uuid or usage"));
            }
        }
        if self.fs_mount_opts.is_some() && !matches!(self.kind, Fs | Netfs) {
            return Err(invalid("/pool", "fs:mount_opts is only for fs and netfs pools"));
        }
        if self.rbd_config_opts.is_some() && self.kind != Rbd {
            return Err(invalid("/pool", "rbd:config_opts is only for rbd pools"));
        }
        Ok(())
    }
}

impl XmlDocument for StoragePool {
    const ROOT: &'static str = "pool";

    fn post_parse(&mut self) -> Result<(), XmlError> {
        if self.name.is_none() {
            // network pools may be named by their source
            let from_source = self.source.as_ref().and_then(|s| s.name.clone());
            match (self.kind, from_source) {
                (
                    PoolType::Logical
                    | PoolType::Rbd
                    | PoolType::Sheepdog
                    | PoolType::Gluster
                    | PoolType::Zfs
                    | PoolType::Vstorage,
                    Some(n),
                ) => self.name = Some(n),
                _ => {
                    return Err(XmlError::MissingElement {
                        at: crate::Location { path: "/pool".into(), ..Default::default() },
                        element: "name".into(),
                    })
                }
            }
        }
        crate::names::check_at(crate::names::Kind::StoragePool, self.name(), "/pool/name")?;
        self.validate()?;
        if self.uuid.is_none() {
            self.uuid = Some(uuid::Uuid::new_v4());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum VolType {
    File,
    Block,
    Dir,
    Network,
    Netdir,
    Ploop,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct StorageVol {
    #[xml(attr = "type")]
    pub kind: Option<VolType>,
    #[xml(child_text = "name")]
    pub name: String,
    #[xml(child_text = "key")]
    pub key: Option<String>,
    #[xml(child = "source")]
    pub source: Option<VolSource>,
    #[xml(child = "capacity")]
    pub capacity: Option<Bytes>,
    #[xml(child = "allocation")]
    pub allocation: Option<Bytes>,
    #[xml(child = "physical")]
    pub physical: Option<Bytes>,
    #[xml(child = "target")]
    pub target: Option<VolTarget>,
    #[xml(child = "backingStore")]
    pub backing_store: Option<BackingStore>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct VolSource {
    #[xml(child = "device")]
    pub devices: Vec<VolSourceDevice>,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct VolSourceDevice {
    #[xml(attr = "path")]
    pub path: String,
    #[xml(child = "extent")]
    pub extents: Vec<Extent>,
}

/// Volume format: image formats, filesystems (fs pools) and partition types (disk pools).
#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum VolFormatType {
    Unknown,
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
    None,
    Auto,
    Ext2,
    Ext3,
    Ext4,
    Ufs,
    Iso9660,
    Udf,
    Gfs,
    Gfs2,
    Vfat,
    #[xml(rename = "hfs+")]
    Hfsplus,
    Xfs,
    Ocfs2,
    Vmfs,
    Linux,
    Fat16,
    Fat32,
    LinuxSwap,
    LinuxLvm,
    LinuxRaid,
    Extended,
}

#[derive(Debug, Clone, PartialEq, Eq, Xml)]
pub struct VolFormat {
    #[xml(attr = "type")]
    pub kind: VolFormatType,
}

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct VolTarget {
    #[xml(child_text = "path")]
    pub path: Option<String>,
    #[xml(child = "format")]
    pub format: Option<VolFormat>,
    #[xml(child = "permissions")]
    pub permissions: Option<Permissions>,
    #[xml(child = "timestamps")]
    pub timestamps: Option<Timestamps>,
    #[xml(child = "encryption")]
    pub encryption: Option<Encryption>,
    /// qcow2 compatibility level (`0.10`, `1.1`).
    #[xml(child_text = "compat")]
    pub compat: Option<String>,
    #[xml(flag = "nocow")]
    pub nocow: bool,
    #[xml(child = "clusterSize")]
    pub cluster_size: Option<Bytes>,
    #[xml(child = "features")]
    pub features: Option<VolFeatures>,
}

/// `seconds[.nanoseconds]` since the epoch, kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Timestamps {
    #[xml(child_text = "atime")]
    pub atime: Option<String>,
    #[xml(child_text = "mtime")]
    pub mtime: Option<String>,
    #[xml(child_text = "ctime")]
    pub ctime: Option<String>,
    #[xml(child_text = "btime")]
    pub btime: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct VolFeatures {
    #[xml(flag = "lazy_refcounts")]
    pub lazy_refcounts: bool,
    #[xml(flag = "extended_l2")]
    pub extended_l2: bool,
}

/// `<encryption>` of a volume: the one type domain disks use too.
pub use crate::domain::devices::disk::{Cipher, Encryption, EncryptionEngine, EncryptionFormat, Ivgen};

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct BackingStore {
    #[xml(child_text = "path")]
    pub path: String,
    #[xml(child = "format")]
    pub format: Option<VolFormat>,
    #[xml(child = "permissions")]
    pub permissions: Option<Permissions>,
    #[xml(child = "timestamps")]
    pub timestamps: Option<Timestamps>,
}

impl StorageVol {
    pub fn capacity_bytes(&self) -> u64 {
        self.capacity.map_or(0, |b| b.0)
    }

    /// Creating a volume needs a size, unless it is an overlay that takes its backing file's size
    /// (libvirt's parse accepts both; vol-create calls this).
    pub fn require_capacity(&self) -> Result<u64, XmlError> {
        match (self.capacity, &self.backing_store) {
            (Some(c), _) => Ok(c.0),
            (None, Some(_)) => Ok(0),
            (None, None) => {
                Err(invalid("/volume/capacity", "a volume needs a <capacity> unless it has a <backingStore>"))
            }
        }
    }
}

impl XmlDocument for StorageVol {
    const ROOT: &'static str = "volume";

    fn post_parse(&mut self) -> Result<(), XmlError> {
        crate::names::check_at(crate::names::Kind::StorageVol, &self.name, "/volume/name")?;
        if let (Some(c), Some(a)) = (self.capacity, self.allocation) {
            if a.0 > c.0 && self.kind != Some(VolType::Block) {
                // libvirt allows it (e.g. preallocated metadata), so only sanity-check absurd values
                if a.0 > c.0.saturating_mul(16).max(1 << 30) {
                    return Err(invalid(
                        "/volume/allocation",
                        format!("allocation {} bytes is far larger than capacity {} bytes", a.0, c.0),
                    ));
                }
            }
        }
        if let Some(enc) = self.target.as_ref().and_then(|t| t.encryption.as_ref()) {
            // Optional in the shared type (domain disks), required on a volume.
            if enc.format.is_none() {
                return Err(invalid("/volume/target/encryption", "missing required attribute 'format'"));
            }
            for s in &enc.secrets {
                if s.uuid.is_some() == s.usage.is_some() {
                    return Err(invalid("/volume/target/encryption/secret", "give exactly one of uuid or usage"));
                }
            }
        }
        if let Some(c) = self.target.as_ref().and_then(|t| t.compat.as_deref()) {
            let ok = c.split_once('.').is_some_and(|(a, b)| {
                !a.is_empty()
                    && !b.is_empty()
                    && a.bytes().all(|x| x.is_ascii_digit())
                    && b.bytes().all(|x| x.is_ascii_digit())
            });
            if !ok {
                return Err(invalid("/volume/target/compat", format!("compat '{c}' must look like 1.1")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_round_trip() {
        let xml = "<pool type='dir'><name>default</name><capacity unit='GiB'>1</capacity>
            <target><path>/var/lib/libvirt/images</path><permissions><mode>0711</mode><owner>-1</owner></permissions></target></pool>";
        let p = StoragePool::from_xml_str(xml).unwrap();
        assert_eq!(p.capacity, Some(Bytes(1 << 30)));
        assert!(p.uuid.is_some());
        let out = p.to_xml_string();
        assert!(out.contains("<capacity unit='bytes'>1073741824</capacity>"), "{out}");
        assert!(out.contains("<mode>0711</mode>"), "{out}");
        assert_eq!(StoragePool::from_xml_str(&out).unwrap(), p);
    }

    #[test]
    fn pool_validation() {
        let e = StoragePool::from_xml_str("<pool type='dir'><name>a/b</name><target><path>/x</path></target></pool>")
            .unwrap_err();
        assert!(e.to_string().contains("must not contain '/'"), "{e}");
        let e = StoragePool::from_xml_str("<pool type='netfs'><name>n</name><target><path>/x</path></target></pool>")
            .unwrap_err();
        assert!(e.to_string().contains("needs a source <host>"), "{e}");
        let e = StoragePool::from_xml_str("<pool type='dir'><name>n</name></pool>").unwrap_err();
        assert!(e.to_string().contains("target <path>"), "{e}");
        let e = StoragePool::from_xml_str("<pool type='btrfs'><name>n</name></pool>").unwrap_err();
        assert!(e.to_string().contains("expected one of: dir, fs"), "{e}");
        let p =
            StoragePool::from_xml_str("<pool type='rbd'><source><name>rbdpool</name><host name='h'/></source></pool>")
                .unwrap();
        assert_eq!(p.name(), "rbdpool");
    }

    #[test]
    fn volume_units_and_errors() {
        let v = StorageVol::from_xml_str(
            "<volume><name>a.img</name><capacity unit='G'>5</capacity><allocation>0</allocation></volume>",
        )
        .unwrap();
        assert_eq!(v.capacity_bytes(), 5 << 30);
        let e = StorageVol::from_xml_str("<volume><name>a</name><capacity unit='parsecs'>5</capacity></volume>")
            .unwrap_err();
        assert!(e.to_string().contains("unknown unit 'parsecs'"), "{e}");
        let e = StorageVol::from_xml_str("<volume><name>a</name><capacity unit='EiB'>99999</capacity></volume>")
            .unwrap_err();
        assert!(e.to_string().contains("too large"), "{e}");
        let e = StorageVol::from_xml_str("<volume><name>a</name><capacity>-5</capacity></volume>").unwrap_err();
        assert!(e.to_string().contains("negative"), "{e}");
        let v = StorageVol::from_xml_str("<volume><name>a</name></volume>").unwrap();
        let e = v.require_capacity().unwrap_err();
        assert!(e.to_string().contains("needs a <capacity>"), "{e}");
        let e = StorageVol::from_xml_str(
            "<volume><name>a</name><capacity>1</capacity><target><compat>x</compat></target></volume>",
        )
        .unwrap_err();
        assert!(e.to_string().contains("compat 'x'"), "{e}");
    }
}
