//! Volumes of file-backed pools (dir, fs): what a pool's directory holds, probed from the files
//! themselves (stat, a look at the header, `qemu-img info` for images), and how a volume reads as
//! libvirt's `<volume>` XML.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use oxvirt_xml::storage::{
    BackingStore, Mode, Permissions, StorageVol, Timestamps, VolFeatures, VolFormat, VolFormatType, VolTarget, VolType,
};
use oxvirt_xml::{Bytes, XmlValue};
use serde::{Deserialize, Serialize};

use crate::host::System;
use crate::image::{self, ImageInfo, Probe};

/// How long `qemu-img info` may take on one image.
pub const INFO_TIMEOUT: Duration = Duration::from_secs(30);

/// One volume as the driver lists it between refreshes (kept in the pool's `NAME.vols.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolRecord {
    pub name: String,
    pub path: String,
    /// A directory in the pool's directory (libvirt lists those as `dir` volumes).
    #[serde(default)]
    pub is_dir: bool,
    /// libvirt's format name (`raw`, `qcow2`, `iso`, `dir`, ...).
    pub format: String,
    pub capacity: u64,
    pub allocation: u64,
    pub physical: u64,
    #[serde(default)]
    pub backing: Option<Backing>,
    #[serde(default)]
    pub compat: Option<String>,
    #[serde(default)]
    pub cluster_size: Option<u64>,
    #[serde(default)]
    pub lazy_refcounts: bool,
    #[serde(default)]
    pub extended_l2: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backing {
    pub path: String,
    pub format: Option<String>,
}

/// A file the probe could not make sense of; the volume is still listed, as libvirt does.
fn fallback(name: &str, path: &str, meta: &std::fs::Metadata, format: &str) -> VolRecord {
    VolRecord {
        name: name.into(),
        path: path.into(),
        is_dir: false,
        format: format.into(),
        capacity: meta.len(),
        allocation: meta.blocks() * 512,
        physical: meta.len(),
        backing: None,
        compat: None,
        cluster_size: None,
        lazy_refcounts: false,
        extended_l2: false,
    }
}

/// Reads what `path` is now. `Ok(None)`: nothing a pool lists (gone, a dangling link, a socket).
pub fn probe(sys: &dyn System, name: &str, path: &Path) -> std::io::Result<Option<VolRecord>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let spath = path.to_string_lossy().into_owned();
    if meta.is_dir() {
        let mut r = fallback(name, &spath, &meta, "dir");
        r.is_dir = true;
        return Ok(Some(r));
    }
    if !meta.is_file() {
        return Ok(None);
    }
    let known = match image::probe_file(path)? {
        Probe::Raw => return Ok(Some(fallback(name, &spath, &meta, "raw"))),
        Probe::Iso => return Ok(Some(fallback(name, &spath, &meta, "iso"))),
        Probe::Image(known) => known,
    };
    let out = sys.run("qemu-img", &image::info_args(&spath, known), INFO_TIMEOUT);
    let info = match out {
        Ok(o) if o.success() => ImageInfo::parse(&o.stdout).map_err(|e| e.to_string()),
        Ok(o) => Err(o.stderr.trim().to_string()),
        Err(e) => Err(e.to_string()),
    };
    let info = match info {
        Ok(i) => i,
        Err(e) => {
            // Listed with what the header said, never as raw: a guest must not get it raw.
            tracing::warn!("qemu-img info {spath}: {e}");
            return Ok(Some(fallback(name, &spath, &meta, known.unwrap_or("unknown"))));
        }
    };
    let data = info.format_specific.as_ref().map(|f| f.data.clone()).unwrap_or_default();
    Ok(Some(VolRecord {
        name: name.into(),
        path: spath,
        is_dir: false,
        format: info.format.clone(),
        capacity: info.virtual_size,
        allocation: meta.blocks() * 512,
        physical: meta.len(),
        backing: info.backing_path().map(|p| Backing { path: p.into(), format: info.backing_filename_format.clone() }),
        compat: data.compat,
        cluster_size: info.cluster_size.filter(|_| info.format == "qcow2"),
        lazy_refcounts: data.lazy_refcounts.unwrap_or(false),
        extended_l2: data.extended_l2.unwrap_or(false),
    }))
}

fn permissions(meta: &std::fs::Metadata) -> Permissions {
    Permissions {
        mode: Some(Mode(meta.mode() & 0o7777)),
        owner: Some(i64::from(meta.uid())),
        group: Some(i64::from(meta.gid())),
        label: None,
    }
}

fn timestamps(meta: &std::fs::Metadata) -> Timestamps {
    let t = |s: i64, ns: i64| Some(format!("{s}.{ns:09}"));
    Timestamps {
        atime: t(meta.atime(), meta.atime_nsec()),
        mtime: t(meta.mtime(), meta.mtime_nsec()),
        ctime: t(meta.ctime(), meta.ctime_nsec()),
        btime: None,
    }
}

fn format(name: &str) -> Option<VolFormat> {
    VolFormatType::from_xml_value(name).ok().map(|kind| VolFormat { kind })
}

impl VolRecord {
    /// libvirt's `<volume>` for this record; permissions and timestamps from the file now.
    pub fn to_xml(&self) -> StorageVol {
        let meta = std::fs::metadata(&self.path).ok();
        let features = (self.format == "qcow2" && self.compat.as_deref().is_some_and(|c| c != "0.10"))
            .then_some(VolFeatures { lazy_refcounts: self.lazy_refcounts, extended_l2: self.extended_l2 });
        StorageVol {
            kind: Some(if self.is_dir { VolType::Dir } else { VolType::File }),
            name: self.name.clone(),
            key: Some(self.path.clone()),
            source: None,
            capacity: Some(Bytes(self.capacity)),
            allocation: Some(Bytes(self.allocation)),
            physical: Some(Bytes(self.physical)),
            target: Some(VolTarget {
                path: Some(self.path.clone()),
                format: format(&self.format),
                permissions: meta.as_ref().map(permissions),
                timestamps: meta.as_ref().map(timestamps),
                encryption: None,
                compat: self.compat.clone(),
                nocow: false,
                cluster_size: self.cluster_size.map(Bytes),
                features,
            }),
            backing_store: self.backing.as_ref().map(|b| {
                let meta = std::fs::metadata(&b.path).ok();
                BackingStore {
                    path: b.path.clone(),
                    format: b.format.as_deref().and_then(format),
                    permissions: meta.as_ref().map(permissions),
                    timestamps: None,
                }
            }),
        }
    }
}
