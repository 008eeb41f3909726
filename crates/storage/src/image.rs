//! Disk images: how `qemu-img create` is called for a new volume (libvirt's argument order, so
//! the same XML makes the same image), what `qemu-img info --output=json` reports, and a cheap
//! look at a file's first bytes to tell raw files (no process needed) from images.

use std::io::Read;
use std::path::Path;

use serde::Deserialize;

/// The image formats oxvirt creates today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateFormat {
    Raw,
    Qcow2,
}

impl CreateFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            CreateFormat::Raw => "raw",
            CreateFormat::Qcow2 => "qcow2",
        }
    }
}

/// Everything `qemu-img create` needs for one volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePlan {
    pub format: CreateFormat,
    pub path: String,
    /// Bytes; `None` takes the backing file's size.
    pub capacity: Option<u64>,
    /// Backing file and its format.
    pub backing: Option<(String, String)>,
    /// `off`, `metadata`, `falloc`, `full`.
    pub preallocation: Option<&'static str>,
    pub compat: Option<String>,
    pub cluster_size: Option<u64>,
    pub lazy_refcounts: bool,
    pub extended_l2: bool,
}

impl CreatePlan {
    /// `qemu-img` arguments, in libvirt's order: `create -f FMT [-b BACKING] [-o OPTS] PATH [SIZEK]`.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec!["create".into(), "-f".into(), self.format.as_str().into()];
        let mut opts = Vec::new();
        if let Some((path, fmt)) = &self.backing {
            a.push("-b".into());
            a.push(path.clone());
            opts.push(format!("backing_fmt={fmt}"));
        }
        if let Some(p) = self.preallocation {
            opts.push(format!("preallocation={p}"));
        }
        if let Some(c) = &self.compat {
            opts.push(format!("compat={c}"));
        }
        if let Some(c) = self.cluster_size {
            opts.push(format!("cluster_size={c}"));
        }
        if self.lazy_refcounts {
            opts.push("lazy_refcounts".into());
        }
        if self.extended_l2 {
            opts.push("extended_l2=on".into());
        }
        if !opts.is_empty() {
            a.push("-o".into());
            a.push(opts.join(","));
        }
        a.push(self.path.clone());
        if let Some(c) = self.capacity {
            a.push(format!("{}K", c.div_ceil(1024)));
        }
        a
    }
}

/// What `qemu-img info --output=json` says of an image (the parts a volume shows).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ImageInfo {
    pub format: String,
    pub virtual_size: u64,
    #[serde(default)]
    pub actual_size: Option<u64>,
    #[serde(default)]
    pub cluster_size: Option<u64>,
    #[serde(default)]
    pub backing_filename: Option<String>,
    #[serde(default)]
    pub full_backing_filename: Option<String>,
    #[serde(default)]
    pub backing_filename_format: Option<String>,
    #[serde(default)]
    pub format_specific: Option<FormatSpecific>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct FormatSpecific {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub data: FormatData,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct FormatData {
    #[serde(default)]
    pub compat: Option<String>,
    #[serde(default)]
    pub lazy_refcounts: Option<bool>,
    #[serde(default)]
    pub extended_l2: Option<bool>,
}

impl ImageInfo {
    pub fn parse(json: &str) -> Result<ImageInfo, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The backing file as a path: the full name when qemu-img resolved one, else as written.
    pub fn backing_path(&self) -> Option<&str> {
        self.full_backing_filename.as_deref().or(self.backing_filename.as_deref())
    }
}

/// `qemu-img info` arguments for `path`; `format` skips qemu-img's own probe when the header
/// already told. `-U`: a volume in use by a running guest can still be looked at.
pub fn info_args(path: &str, format: Option<&str>) -> Vec<String> {
    let mut a: Vec<String> = vec!["info".into(), "--output=json".into(), "-U".into()];
    if let Some(f) = format {
        a.push("-f".into());
        a.push(f.into());
    }
    a.push(path.into());
    a
}

/// What a file's first bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// No image header: a raw file, sized by stat.
    Raw,
    /// An ISO 9660 filesystem (libvirt's `iso` format), sized by stat.
    Iso,
    /// An image format qemu-img must be asked about; the name when the header is unambiguous.
    Image(Option<&'static str>),
}

/// Header magics of the formats qemu-img reads (the ones libvirt's probe knows).
const MAGICS: &[(&[u8], &str)] = &[
    (b"QFI\xfb", "qcow2"),
    (b"QED\0", "qed"),
    (b"KDMV", "vmdk"),
    (b"# Disk DescriptorFile", "vmdk"),
    (b"conectix", "vpc"),
    (b"vhdxfile", "vhdx"),
    (b"LUKS\xba\xbe", "luks"),
    (b"WithoutFreeSpace", "parallels"),
    (b"WithouFreSpacExt", "parallels"),
];

/// Reads at most the first 36 KiB of `path` to classify it.
pub fn probe_file(path: &Path) -> std::io::Result<Probe> {
    let mut buf = Vec::with_capacity(0x8806);
    std::fs::File::open(path)?.take(0x8806).read_to_end(&mut buf)?;
    Ok(probe_bytes(&buf))
}

pub fn probe_bytes(head: &[u8]) -> Probe {
    if let Some((m, name)) = MAGICS.iter().find(|(m, _)| head.starts_with(m)) {
        // qcow (v1) shares qcow2's magic; its version field says which.
        if *m == b"QFI\xfb" && head.get(4..8) != Some(&[0, 0, 0, 2]) && head.get(4..8) != Some(&[0, 0, 0, 3]) {
            return Probe::Image(None);
        }
        return Probe::Image(Some(name));
    }
    // VDI has its signature at offset 64.
    if head.get(64..68) == Some(&[0x7f, 0x10, 0xda, 0xbe]) {
        return Probe::Image(Some("vdi"));
    }
    if head.get(0x8001..0x8006) == Some(b"CD001") {
        return Probe::Iso;
    }
    Probe::Raw
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(format: CreateFormat) -> CreatePlan {
        CreatePlan {
            format,
            path: "/p/OtherDemo.img".into(),
            capacity: Some(5 << 30),
            backing: None,
            preallocation: None,
            compat: None,
            cluster_size: None,
            lazy_refcounts: false,
            extended_l2: false,
        }
    }

    #[test]
    fn create_arguments_in_libvirt_order() {
        let mut p = plan(CreateFormat::Qcow2);
        p.backing = Some(("/dev/null".into(), "raw".into()));
        p.compat = Some("1.1".into());
        p.lazy_refcounts = true;
        assert_eq!(
            p.args().join(" "),
            "create -f qcow2 -b /dev/null -o backing_fmt=raw,compat=1.1,lazy_refcounts /p/OtherDemo.img 5242880K"
        );
        let mut p = plan(CreateFormat::Qcow2);
        p.preallocation = Some("metadata");
        p.compat = Some("0.10".into());
        assert_eq!(
            p.args().join(" "),
            "create -f qcow2 -o preallocation=metadata,compat=0.10 /p/OtherDemo.img 5242880K"
        );
        let mut p = plan(CreateFormat::Qcow2);
        p.compat = Some("1.1".into());
        p.cluster_size = Some(131072);
        p.extended_l2 = true;
        assert_eq!(
            p.args().join(" "),
            "create -f qcow2 -o compat=1.1,cluster_size=131072,extended_l2=on /p/OtherDemo.img 5242880K"
        );
        let mut p = plan(CreateFormat::Raw);
        p.capacity = Some(1025);
        assert_eq!(p.args().join(" "), "create -f raw /p/OtherDemo.img 2K");
        p.capacity = None;
        assert_eq!(p.args().join(" "), "create -f raw /p/OtherDemo.img");
    }

    #[test]
    fn info_json() {
        let j = r#"{"children":[],"virtual-size":1073741824,"filename":"/t/a.qcow2","cluster-size":65536,
            "format":"qcow2","actual-size":200704,"format-specific":{"type":"qcow2","data":{"compat":"1.1",
            "compression-type":"zlib","lazy-refcounts":true,"refcount-bits":16,"corrupt":false,"extended-l2":false}},
            "backing-filename":"base.img","full-backing-filename":"/t/base.img","backing-filename-format":"raw",
            "dirty-flag":false}"#;
        let i = ImageInfo::parse(j).unwrap();
        assert_eq!((i.format.as_str(), i.virtual_size, i.cluster_size), ("qcow2", 1 << 30, Some(65536)));
        assert_eq!(i.backing_path(), Some("/t/base.img"));
        let d = i.format_specific.unwrap().data;
        assert_eq!((d.compat.as_deref(), d.lazy_refcounts, d.extended_l2), (Some("1.1"), Some(true), Some(false)));
        let i = ImageInfo::parse(r#"{"virtual-size":5,"format":"raw"}"#).unwrap();
        assert_eq!(i.backing_path(), None);
    }

    #[test]
    fn probes() {
        assert_eq!(probe_bytes(b"QFI\xfb\0\0\0\x03rest"), Probe::Image(Some("qcow2")));
        assert_eq!(probe_bytes(b"QFI\xfb\0\0\0\x01rest"), Probe::Image(None));
        assert_eq!(probe_bytes(b"hello"), Probe::Raw);
        assert_eq!(probe_bytes(&[]), Probe::Raw);
        let mut iso = vec![0u8; 0x8006];
        iso[0x8001..0x8006].copy_from_slice(b"CD001");
        assert_eq!(probe_bytes(&iso), Probe::Iso);
    }
}
