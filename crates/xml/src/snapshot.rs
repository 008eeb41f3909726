//! Domain snapshots (`<domainsnapshot>`): what was captured (memory, disks) and the domain's
//! configuration at that moment.

use crate::core::{El, FromXml, ToXml, Writer};
use crate::domain::devices::disk::StorageFormat;
use crate::domain::{DeviceSeclabel, Domain};
use crate::storage::Encryption;
use crate::{RawXml, Xml, XmlDocument, XmlError, XmlValue};

#[derive(Debug, Clone, PartialEq, Default, Xml)]
pub struct DomainSnapshot {
    /// Absent on input means "generate one" (libvirt uses the creation time).
    #[xml(child_text = "name")]
    pub name: Option<String>,
    #[xml(child_text = "description")]
    pub description: Option<String>,
    #[xml(child_text = "state")]
    pub state: Option<SnapshotState>,
    #[xml(child = "parent")]
    pub parent: Option<SnapshotParent>,
    /// Seconds since the epoch.
    #[xml(child_text = "creationTime")]
    pub creation_time: Option<i64>,
    #[xml(child = "memory")]
    pub memory: Option<SnapshotMemory>,
    #[xml(child = "disks")]
    pub disks: Option<SnapshotDisks>,
    #[xml(child = "domain")]
    pub domain: Option<SnapshotDomain>,
    /// With an external memory snapshot of a running domain: the inactive definition to restore.
    #[xml(child = "inactiveDomain")]
    pub inactive_domain: Option<Box<Domain>>,
    /// Driver-private data (the QEMU driver keeps the guest CPU here), kept verbatim.
    #[xml(child = "cookie")]
    pub cookie: Option<RawXml>,
    /// Internal metadata only: whether this is the current snapshot (`0`/`1`).
    #[xml(child_text = "active")]
    pub active: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
#[xml(rename_all = "kebab-case")]
pub enum SnapshotState {
    Running,
    Blocked,
    Paused,
    Shutdown,
    Shutoff,
    Crashed,
    Pmsuspended,
    DiskSnapshot,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct SnapshotParent {
    #[xml(child_text = "name")]
    pub name: String,
}

/// Where a memory or disk snapshot goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum SnapshotLocation {
    No,
    Internal,
    External,
    Manual,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct SnapshotMemory {
    #[xml(attr = "snapshot")]
    pub snapshot: Option<SnapshotLocation>,
    #[xml(attr = "file")]
    pub file: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct SnapshotDisks {
    #[xml(child = "disk")]
    pub disks: Vec<SnapshotDisk>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum StorageType {
    File,
    Block,
    Dir,
    Network,
    Volume,
    Nvme,
    Vhostuser,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct SnapshotDisk {
    /// Target device (`vda`) or source path of the domain disk.
    #[xml(attr = "name")]
    pub name: String,
    #[xml(attr = "snapshot")]
    pub snapshot: Option<SnapshotLocation>,
    #[xml(attr = "type")]
    pub kind: Option<StorageType>,
    #[xml(flag = "snapshotDeleteInProgress")]
    pub delete_in_progress: bool,
    #[xml(child = "driver")]
    pub driver: Option<SnapshotDiskDriver>,
    #[xml(child = "source")]
    pub source: Option<SnapshotDiskSource>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct SnapshotDiskDriver {
    /// An image format, as a domain disk's `<driver type>` (libvirt's `virStorageFileFormat`).
    #[xml(attr = "type")]
    pub format: Option<StorageFormat>,
    #[xml(child = "metadata_cache")]
    pub metadata_cache: Option<MetadataCache>,
}

/// `<metadata_cache>`: the one type domain disks use too.
pub use crate::domain::devices::disk::MetadataCache;

/// The new overlay's location. Same shape as a domain disk `<source>`, limited to what a snapshot
/// target can be.
// TODO(domain-disk): switch to the domain disk source type once it exists.
#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct SnapshotDiskSource {
    #[xml(attr = "file")]
    pub file: Option<String>,
    #[xml(attr = "dev")]
    pub dev: Option<String>,
    #[xml(attr = "dir")]
    pub dir: Option<String>,
    #[xml(attr = "protocol")]
    pub protocol: Option<String>,
    #[xml(attr = "name")]
    pub name: Option<String>,
    #[xml(attr = "pool")]
    pub pool: Option<String>,
    #[xml(attr = "volume")]
    pub volume: Option<String>,
    #[xml(child = "host")]
    pub hosts: Vec<SourceHost>,
    #[xml(child = "seclabel")]
    pub seclabels: Vec<DeviceSeclabel>,
    #[xml(child = "encryption")]
    pub encryption: Option<Encryption>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct SourceHost {
    #[xml(attr = "name")]
    pub name: Option<String>,
    #[xml(attr = "port")]
    pub port: Option<u16>,
    #[xml(attr = "transport")]
    pub transport: Option<HostTransport>,
    #[xml(attr = "socket")]
    pub socket: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, XmlValue)]
pub enum HostTransport {
    Tcp,
    Unix,
    Rdma,
}

/// The snapshot's `<domain>`: the full definition, or (in older metadata) only its UUID.
#[derive(Debug, Clone, PartialEq)]
pub enum SnapshotDomain {
    Full(Box<Domain>),
    UuidOnly(uuid::Uuid),
}

impl FromXml for SnapshotDomain {
    fn from_xml(el: &mut El<'_, '_>) -> Result<Self, XmlError> {
        if el.has_child("name") {
            Ok(SnapshotDomain::Full(Box::new(Domain::from_xml(el)?)))
        } else {
            Ok(SnapshotDomain::UuidOnly(el.child_text_req("uuid")?))
        }
    }
}

impl ToXml for SnapshotDomain {
    fn write_attrs(&self, w: &mut Writer) {
        if let SnapshotDomain::Full(d) = self {
            d.write_attrs(w);
        }
    }
    fn write_content(&self, w: &mut Writer) {
        match self {
            SnapshotDomain::Full(d) => d.write_content(w),
            SnapshotDomain::UuidOnly(u) => w.text_element("uuid", &u.to_xml_value()),
        }
    }
}

impl DomainSnapshot {
    /// The embedded full domain definition, if any.
    pub fn domain(&self) -> Option<&Domain> {
        match self.domain.as_ref()? {
            SnapshotDomain::Full(d) => Some(d),
            SnapshotDomain::UuidOnly(_) => None,
        }
    }

    /// Fills what libvirt fills at creation: the time, and a name made of it when none was given.
    pub fn fill_creation_defaults(&mut self, now_epoch_secs: i64) {
        let t = *self.creation_time.get_or_insert(now_epoch_secs);
        if self.name.is_none() {
            self.name = Some(t.to_string());
        }
    }

    pub fn disks(&self) -> &[SnapshotDisk] {
        self.disks.as_ref().map_or(&[], |d| &d.disks)
    }
}

fn invalid(path: &str, msg: impl Into<String>) -> XmlError {
    XmlError::invalid(path, msg)
}

impl XmlDocument for DomainSnapshot {
    const ROOT: &'static str = "domainsnapshot";

    fn post_parse(&mut self) -> Result<(), XmlError> {
        if let Some(name) = &self.name {
            crate::names::check_at(crate::names::Kind::Snapshot, name, "/domainsnapshot/name")?;
        }
        if let Some(a) = self.active {
            if a > 1 {
                return Err(invalid("/domainsnapshot/active", format!("active must be 0 or 1, not {a}")));
            }
        }
        if let Some(m) = &self.memory {
            match (m.snapshot, &m.file) {
                (Some(SnapshotLocation::No | SnapshotLocation::Internal | SnapshotLocation::Manual), Some(_)) => {
                    return Err(invalid(
                        "/domainsnapshot/memory",
                        "a memory file is only valid with snapshot='external'",
                    ));
                }
                (Some(SnapshotLocation::External), None) => {
                    return Err(invalid("/domainsnapshot/memory", "an external memory snapshot needs a file"));
                }
                (_, Some(f)) if !f.starts_with('/') => {
                    return Err(invalid(
                        "/domainsnapshot/memory",
                        format!("memory file '{f}' must be an absolute path"),
                    ));
                }
                _ => {}
            }
        }
        for d in self.disks() {
            let path = "/domainsnapshot/disks/disk";
            if d.name.is_empty() {
                return Err(invalid(path, "disk snapshot needs a name"));
            }
            let ext = matches!(d.snapshot, None | Some(SnapshotLocation::External));
            if !ext && (d.source.is_some() || d.driver.is_some()) {
                return Err(invalid(
                    path,
                    format!("disk '{}': source and driver are only valid for external snapshots", d.name),
                ));
            }
            if let Some(src) = &d.source {
                if d.kind == Some(StorageType::Network) && !src.seclabels.is_empty() {
                    return Err(invalid(path, format!("disk '{}': a network source cannot have a seclabel", d.name)));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_disks_and_uuid_domain() {
        let xml = "<domainsnapshot><name>s1</name><state>disk-snapshot</state><creationTime>1272917631</creationTime>
          <memory snapshot='no'/>
          <disks><disk name='vda' snapshot='external' type='file'><driver type='qcow2'/><source file='/o.qcow2'/></disk>
          <disk name='vdb' snapshot='no'/></disks>
          <domain><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid></domain>
          <cookie><cpu mode='custom'/></cookie><active>1</active></domainsnapshot>";
        let s = DomainSnapshot::from_xml_str(xml).unwrap();
        assert_eq!(s.state, Some(SnapshotState::DiskSnapshot));
        assert_eq!(s.disks().len(), 2);
        assert!(matches!(s.domain, Some(SnapshotDomain::UuidOnly(_))));
        let out = s.to_xml_string();
        assert!(out.contains("<cookie>\n    <cpu mode='custom'/>\n  </cookie>"), "{out}");
        assert_eq!(DomainSnapshot::from_xml_str(&out).unwrap(), s);
    }

    #[test]
    fn full_domain_embedded() {
        let xml = "<domainsnapshot><domain type='kvm'><name>vm</name><memory>1024</memory><os><type>hvm</type></os></domain></domainsnapshot>";
        let mut s = DomainSnapshot::from_xml_str(xml).unwrap();
        assert_eq!(s.domain().map(|d| d.name.as_str()), Some("vm"));
        s.fill_creation_defaults(1700000000);
        assert_eq!(s.name.as_deref(), Some("1700000000"));
    }

    #[test]
    fn validation() {
        let e =
            DomainSnapshot::from_xml_str("<domainsnapshot><memory snapshot='internal' file='/x'/></domainsnapshot>")
                .unwrap_err();
        assert!(e.to_string().contains("only valid with snapshot='external'"), "{e}");
        let e = DomainSnapshot::from_xml_str("<domainsnapshot><state>sleepy</state></domainsnapshot>").unwrap_err();
        assert!(e.to_string().contains("expected one of: running"), "{e}");
        let e = DomainSnapshot::from_xml_str(
            "<domainsnapshot><disks><disk name='a' type='network' snapshot='external'><source protocol='rbd' name='x'><seclabel model='dac'/></source></disk></disks></domainsnapshot>",
        )
        .unwrap_err();
        assert!(e.to_string().contains("cannot have a seclabel"), "{e}");
    }
}
