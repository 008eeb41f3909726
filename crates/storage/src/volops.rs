//! Volume resize, wipe and clone (`virStorageVolResize`, `virStorageVolWipePattern`,
//! `virStorageVolCreateXMLFrom`): through `qemu-img` and the kernel, never by hand.

use super::*;

/// `qemu-img resize` and `convert` of large images take a while.
const RESIZE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const CONVERT_TIMEOUT: Duration = Duration::from_secs(6 * 60 * 60);

/// `virStorageVolResizeFlags`.
pub const VOL_RESIZE_ALLOCATE: u32 = 1;
pub const VOL_RESIZE_DELTA: u32 = 2;
pub const VOL_RESIZE_SHRINK: u32 = 4;

/// `virStorageVolWipeAlgorithm` names, in libvirt's order (0 = zero).
pub const WIPE_ALGORITHMS: [&str; 10] =
    ["zero", "nnsa", "dod", "bsi", "gutmann", "schneier", "pfitzner7", "pfitzner33", "random", "trim"];

/// The new capacity `resize` asks for, checked as libvirt checks it.
pub(crate) fn resize_target(cur: u64, capacity: u64, f: u32) -> Result<u64> {
    let inval = |m: &str| err(ErrorCode::InvalidArg, m);
    let shrink = f & VOL_RESIZE_SHRINK != 0;
    let abs = if f & VOL_RESIZE_DELTA != 0 {
        if shrink {
            cur.checked_sub(capacity).ok_or_else(|| inval("can't shrink capacity below zero"))?
        } else {
            cur.checked_add(capacity).ok_or_else(|| inval("capacity overflows: the new size is too large"))?
        }
    } else {
        capacity
    };
    if abs < cur && !shrink {
        return Err(inval("can't shrink capacity below current capacity unless the shrink flag is given"));
    }
    Ok(abs)
}

impl StorageDriver {
    /// Replaces the volume's record with what the file holds now.
    fn update_record(&self, pool: &StoragePool, name: &str) -> Result<VolRecord> {
        let mut vols = self.read_volumes(pool.name())?;
        let i = vols
            .iter()
            .position(|x| x.name == name)
            .ok_or_else(|| Error::no_volume(format!("no storage vol with matching name '{name}'")))?;
        let rec = self.fresh(&vols[i])?;
        vols[i] = rec.clone();
        self.write_live(pool, &vols)?;
        Ok(rec)
    }

    pub fn volume_resize(&self, v: &VolRef, capacity: u64, f: u32) -> Result<()> {
        check_flags("volume_resize", f, VOL_RESIZE_ALLOCATE | VOL_RESIZE_DELTA | VOL_RESIZE_SHRINK)?;
        if f & VOL_RESIZE_ALLOCATE != 0 && f & VOL_RESIZE_SHRINK != 0 {
            return Err(err(ErrorCode::InvalidArg, "--allocate and --shrink cannot be used together"));
        }
        let _l = self.lock()?;
        let (pool, rec) = self.volume(v)?;
        let rec = self.fresh(&rec)?;
        let format = match rec.format.as_str() {
            "raw" | "qcow2" if !rec.is_dir => rec.format.clone(),
            other => {
                return Err(err(
                    ErrorCode::NoSupport,
                    format!(
                        "resizing a volume of format '{other}' is not supported: oxvirt resizes raw and qcow2 volumes"
                    ),
                ))
            }
        };
        if f & VOL_RESIZE_ALLOCATE != 0 && format != "raw" {
            return Err(err(ErrorCode::NoSupport, "preallocation (--allocate) is only supported for raw volumes"));
        }
        let abs = resize_target(rec.capacity, capacity, f)?;
        if abs > rec.capacity {
            let grow = abs - rec.capacity;
            let avail = pool.available.map_or(u64::MAX, |b| b.0);
            if f & VOL_RESIZE_ALLOCATE != 0 && grow > avail {
                return Err(failed(format!(
                    "not enough space left in storage pool '{}': {grow} bytes more asked, {avail} available",
                    pool.name()
                )));
            }
        }
        if abs != rec.capacity {
            let mut args = vec!["resize".to_string(), "-f".into(), format.clone()];
            if abs < rec.capacity {
                args.push("--shrink".into());
            }
            args.push(rec.path.clone());
            args.push(abs.to_string());
            self.run_ok("qemu-img", &args, RESIZE_TIMEOUT)?;
        }
        if f & VOL_RESIZE_ALLOCATE != 0 {
            fallocate(Path::new(&rec.path), abs)?;
        }
        self.update_record(&pool, &v.name).map(|_| ())
    }

    pub fn volume_wipe_pattern(&self, v: &VolRef, algorithm: u32, f: u32) -> Result<()> {
        check_flags("volume_wipe", f, 0)?;
        match WIPE_ALGORITHMS.get(algorithm as usize) {
            None => {
                return Err(err(ErrorCode::InvalidArg, format!("wiping algorithm {algorithm} not supported")));
            }
            Some(&"zero") => {}
            Some(name) => {
                return Err(err(
                    ErrorCode::NoSupport,
                    format!("wiping algorithm '{name}' is not supported yet: oxvirt wipes with zeros only (algorithm 'zero')"),
                ));
            }
        }
        let _l = self.lock()?;
        let (pool, rec) = self.volume(v)?;
        if rec.is_dir {
            return Err(err(ErrorCode::NoSupport, format!("cannot wipe '{}': it is a directory", rec.path)));
        }
        zero_file(Path::new(&rec.path))?;
        self.update_record(&pool, &v.name).map(|_| ())
    }

    pub fn volume_create_xml_from(&self, p: &PoolRef, xml: &str, clone: &VolRef, f: u32) -> Result<VolRef> {
        check_flags("volume_create_xml_from", f, flags::VOL_CREATE_PREALLOC_METADATA | flags::VOL_CREATE_VALIDATE)?;
        let (v, _) = parse_document::<StorageVol>(xml, ParseOptions { validate: f & flags::VOL_CREATE_VALIDATE != 0 })
            .map_err(|e| Error::xml("storage volume definition", &e).in_domain(ErrorDomain::Storage))?;
        let xml_err = |m: String| err(ErrorCode::ConfigUnsupported, m);
        let t = v.target.clone().unwrap_or_default();
        if t.encryption.is_some() {
            return Err(err(
                ErrorCode::NoSupport,
                "volume encryption (<target><encryption>) needs the secret driver, which oxvirt does not have yet",
            ));
        }
        if v.backing_store.is_some() {
            return Err(xml_err("a cloned volume takes no <backingStore>: it gets its own copy of the data".into()));
        }
        // Phase 1, under the lock: the name is free; an empty file reserves it.
        let (pool, src, path) = {
            let _l = self.lock()?;
            let (_, src) = self.volume(clone)?;
            let src = self.fresh(&src)?;
            let objs = self.load_all()?;
            let o = Self::find(&objs, p)?;
            let pool = o.live()?.clone();
            let vols = self.read_volumes(&o.name)?;
            let path = target_path(&pool)?.join(&v.name);
            if vols.iter().any(|x| x.name == v.name) || fs::symlink_metadata(&path).is_ok() {
                return Err(err(ErrorCode::StorageVolExist, format!("'{}'", v.name)));
            }
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| sys(format!("cannot create file '{}'", path.display()), e))?;
            (pool, src, path)
        };
        // Phase 2, unlocked (a large copy must not hold every other storage call): qemu-img
        // convert; the volume is listed only once it is complete.
        let r = (|| {
            let in_fmt = match src.format.as_str() {
                "raw" | "qcow2" | "iso" if !src.is_dir => {
                    if src.format == "iso" {
                        "raw"
                    } else {
                        src.format.as_str()
                    }
                }
                other => {
                    return Err(err(
                        ErrorCode::NoSupport,
                        format!(
                        "cloning a volume of format '{other}' is not supported: oxvirt clones raw and qcow2 volumes"
                    ),
                    ))
                }
            };
            let out_fmt = match t.format.as_ref().map(|x| x.kind) {
                None => in_fmt.to_string(),
                Some(VolFormatType::Raw) => "raw".into(),
                Some(VolFormatType::Qcow2) => "qcow2".into(),
                Some(k) => {
                    return Err(xml_err(format!(
                        "volume format '{}' (<target><format type=...>) is not supported yet: oxvirt creates raw and qcow2 volumes",
                        k.to_xml_value()
                    )))
                }
            };
            let capacity = v.capacity.map_or(src.capacity, |b| b.0.max(src.capacity));
            let allocation = v.allocation.map_or(capacity, |b| b.0);
            let mut opts = vec![];
            if out_fmt == "qcow2" {
                if f & flags::VOL_CREATE_PREALLOC_METADATA != 0 {
                    opts.push("preallocation=metadata".to_string());
                }
                opts.push(format!("compat={}", t.compat.clone().unwrap_or_else(|| "0.10".into())));
                if let Some(c) = t.cluster_size {
                    opts.push(format!("cluster_size={}", c.0));
                }
                let feat = t.features.clone().unwrap_or_default();
                if feat.lazy_refcounts {
                    opts.push("lazy_refcounts=on".into());
                }
            } else if t.compat.is_some() || t.cluster_size.is_some() || t.features.is_some() {
                return Err(xml_err("<compat>, <clusterSize> and <features> are for qcow2 volumes only".into()));
            }
            let mut args = vec!["convert".to_string(), "-f".into(), in_fmt.into(), "-O".into(), out_fmt.clone()];
            if !opts.is_empty() {
                args.push("-o".into());
                args.push(opts.join(","));
            }
            args.push(src.path.clone());
            args.push(path.to_string_lossy().into_owned());
            self.run_ok("qemu-img", &args, CONVERT_TIMEOUT)?;
            if capacity > src.capacity {
                let a = vec![
                    "resize".into(),
                    "-f".into(),
                    out_fmt.clone(),
                    path.to_string_lossy().into_owned(),
                    capacity.to_string(),
                ];
                self.run_ok("qemu-img", &a, RESIZE_TIMEOUT)?;
            }
            if out_fmt == "raw" && allocation >= capacity && capacity > 0 {
                fallocate(&path, capacity)?;
            }
            let perms = t.permissions.clone().unwrap_or_default();
            let mode = perms.mode.map_or(DEFAULT_VOL_MODE, |m| m.0);
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                .map_err(|e| sys(format!("cannot set mode of '{}' to {mode:04o}", path.display()), e))?;
            chown(&path, perms.owner, perms.group)?;
            // Phase 3, locked again: list it.
            let _l = self.lock()?;
            let rec = volume::probe(self.host.as_ref(), &v.name, &path)
                .map_err(|e| sys(format!("cannot open volume '{}'", path.display()), e))?
                .ok_or_else(|| failed(format!("qemu-img convert left no file at '{}'", path.display())))?;
            let (pool_now, _) = self.active_pool(pool.name())?;
            let mut vols = self.read_volumes(pool.name())?;
            let r = vol_ref(pool.name(), &rec);
            vols.push(rec);
            vols.sort_by(|a, b| a.name.cmp(&b.name));
            self.write_live(&pool_now, &vols)?;
            Ok(r)
        })();
        if r.is_err() {
            if let Err(e) = remove_if_exists(&path) {
                tracing::error!("removing the half-made volume {}: {e}", path.display());
            }
        }
        r
    }
}

/// Zeroes a file's bytes, keeping its size. A sparse file stays sparse (truncated to 0 and back,
/// as libvirt does); an allocated one stays allocated (`FALLOC_FL_ZERO_RANGE`, else zeros written).
pub(crate) fn zero_file(path: &Path) -> Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| sys(format!("cannot open volume '{}' for wiping", path.display()), e))?;
    let m = file.metadata().map_err(|e| sys(format!("cannot stat '{}'", path.display()), e))?;
    let size = m.len();
    let io = |e: std::io::Error| sys(format!("wiping '{}'", path.display()), e);
    if m.blocks().saturating_mul(512) < size {
        file.set_len(0).map_err(io)?;
        file.set_len(size).map_err(io)?;
    } else {
        let len = libc::off_t::try_from(size).map_err(|_| err(ErrorCode::InvalidArg, "file is too large"))?;
        // SAFETY: the descriptor is open for writing for the duration of the call.
        let rc = unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_ZERO_RANGE, 0, len) };
        if rc != 0 {
            let buf = vec![0u8; 1 << 20];
            file.seek(SeekFrom::Start(0)).map_err(io)?;
            let mut left = size;
            while left > 0 {
                let n = left.min(buf.len() as u64) as usize;
                file.write_all(&buf[..n]).map_err(io)?;
                left -= n as u64;
            }
        }
    }
    file.sync_data().map_err(io)
}
