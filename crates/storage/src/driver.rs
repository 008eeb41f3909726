//! The storage driver: libvirt's pool and volume lifecycle for `dir` and `fs` pools.
//!
//! Like the network driver, all state is on disk (definitions, live definitions, volume lists)
//! and every change runs under one inter-process lock, so an embedded CLI call can start a pool
//! and exit, and a later call (or the daemon) finds it running. Volumes are the files in the
//! pool's directory; the list kept between refreshes is what libvirt keeps in memory, so a file
//! made behind the driver's back shows up at the next `pool-refresh`, as with libvirt.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oxvirt_api::conf::objlist::{self, ObjFacts, ObjKind};
use oxvirt_api::types::object_matches;
use oxvirt_api::{Error, ErrorCode, ErrorDomain, PoolInfo, PoolRef, PoolState, Result, VolInfo, VolRef};
use oxvirt_sysutil::{remove_if_exists, write_atomic, FileLock};
use oxvirt_xml::storage::{PoolFormatType, PoolType, StoragePool, StorageVol, VolFormatType};
use oxvirt_xml::{parse_document, Bytes, ParseOptions, XmlDocument, XmlValue};
use uuid::Uuid;

use crate::host::{CmdOutput, Host};
use crate::image::{self, CreateFormat, CreatePlan, Probe};
use crate::layout::StorageLayout;
use crate::volume::{self, VolRecord};

const LOCK_TIMEOUT: Duration = Duration::from_secs(60);
/// `qemu-img create` (preallocation of a large volume takes a while).
const CREATE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const MKFS_TIMEOUT: Duration = Duration::from_secs(10 * 60);
const MOUNT_TIMEOUT: Duration = Duration::from_secs(60);

/// libvirt's flag values (`virStoragePool*Flags`, `virStorageVol*Flags`).
pub mod flags {
    /// `virStorageXMLFlags`
    pub const XML_INACTIVE: u32 = 1;
    pub const DEFINE_VALIDATE: u32 = 1;
    pub const BUILD_REPAIR: u32 = 1;
    pub const BUILD_RESIZE: u32 = 2;
    pub const BUILD_NO_OVERWRITE: u32 = 4;
    pub const BUILD_OVERWRITE: u32 = 8;
    pub const CREATE_WITH_BUILD: u32 = 1;
    pub const CREATE_WITH_BUILD_OVERWRITE: u32 = 2;
    pub const CREATE_WITH_BUILD_NO_OVERWRITE: u32 = 4;
    pub const VOL_CREATE_PREALLOC_METADATA: u32 = 1;
    pub const VOL_CREATE_REFLINK: u32 = 2;
    pub const VOL_CREATE_VALIDATE: u32 = 4;
    /// `VIR_CONNECT_LIST_STORAGE_POOLS_DIR`; the other types follow in `PoolType` order.
    pub const LIST_POOLS_DIR: u32 = 1 << 6;
}

/// libvirt's directory pool mode when `<permissions>` gives none.
const DEFAULT_POOL_MODE: u32 = 0o711;
/// libvirt's volume file mode when `<permissions>` gives none.
const DEFAULT_VOL_MODE: u32 = 0o600;

fn err(code: ErrorCode, msg: impl std::fmt::Display) -> Error {
    Error::coded(code, ErrorDomain::Storage, msg)
}
fn op_invalid(msg: impl std::fmt::Display) -> Error {
    err(ErrorCode::OperationInvalid, msg)
}
fn failed(msg: impl std::fmt::Display) -> Error {
    err(ErrorCode::OperationFailed, msg)
}
fn sys(what: impl std::fmt::Display, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::SystemError, ErrorDomain::Storage, format!("{what}: {e}"))
}
fn check_flags(op: &str, f: u32, allowed: u32) -> Result<()> {
    let bad = f & !allowed;
    if bad != 0 {
        return Err(err(ErrorCode::InvalidArg, format!("unsupported flags (0x{bad:x}) in function {op}")));
    }
    Ok(())
}
fn not_active(name: &str) -> Error {
    op_invalid(format!("storage pool '{name}' is not active"))
}

/// `virFileSanitizePath`: no doubled or trailing slashes.
pub fn sanitize_path(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for c in p.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    if out.len() > 1 && out.ends_with('/') {
        out.pop();
    }
    out
}

/// The pool types this driver runs; every other type parses and is refused.
fn check_supported(def: &StoragePool) -> Result<()> {
    match def.kind {
        PoolType::Dir | PoolType::Fs => Ok(()),
        k => Err(err(ErrorCode::NoSupport, format!("storage pool type '{}' is not supported yet", k.to_xml_value()))),
    }
}

fn parse_pool(xml: &str, validate: bool) -> Result<StoragePool> {
    let (mut p, _) = parse_document::<StoragePool>(xml, ParseOptions { validate })
        .map_err(|e| Error::xml("storage pool definition", &e).in_domain(ErrorDomain::Storage))?;
    normalize(&mut p);
    Ok(p)
}

/// libvirt's parse-time normal form: clean paths, `-1` owners dropped, an (empty) `<source>`,
/// no capacity figures in a definition.
fn normalize(p: &mut StoragePool) {
    if let Some(t) = p.target.as_mut() {
        if let Some(path) = t.path.as_mut() {
            *path = sanitize_path(path);
        }
        if let Some(perm) = t.permissions.as_mut() {
            perm.owner = perm.owner.filter(|o| *o != -1);
            perm.group = perm.group.filter(|g| *g != -1);
        }
    }
    let src = p.source.get_or_insert_with(Default::default);
    for d in &mut src.devices {
        d.path = sanitize_path(&d.path);
    }
    p.capacity = None;
    p.allocation = None;
    p.available = None;
}

fn target_path(def: &StoragePool) -> Result<PathBuf> {
    def.target
        .as_ref()
        .and_then(|t| t.path.as_deref())
        .map(PathBuf::from)
        .ok_or_else(|| err(ErrorCode::InternalError, format!("storage pool '{}' has no target path", def.name())))
}

fn fs_device(def: &StoragePool) -> Result<String> {
    def.source
        .as_ref()
        .and_then(|s| s.devices.first())
        .map(|d| d.path.clone())
        .ok_or_else(|| err(ErrorCode::InternalError, format!("storage pool '{}' has no source device", def.name())))
}

fn fs_format(def: &StoragePool) -> PoolFormatType {
    def.source.as_ref().and_then(|s| s.format.as_ref()).map_or(PoolFormatType::Auto, |f| f.kind)
}

/// Filesystem size figures of `path` (`statvfs`): capacity, allocation, available, in bytes.
pub fn fs_usage(path: &Path) -> std::io::Result<(u64, u64, u64)> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    // SAFETY: statvfs is plain data; all-zero is a valid value for it to be overwritten.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated string and `st` a valid, writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let frsize = st.f_frsize as u64;
    let blocks = st.f_blocks as u64;
    Ok((blocks * frsize, blocks.saturating_sub(st.f_bfree as u64) * frsize, st.f_bavail as u64 * frsize))
}

/// `virConnectListAllStoragePools`' type bits, in `PoolType` order from `LIST_POOLS_DIR`.
fn type_bit(k: PoolType) -> u32 {
    use PoolType::*;
    let i = match k {
        Dir => 0,
        Fs => 1,
        Netfs => 2,
        Logical => 3,
        Disk => 4,
        Iscsi => 5,
        Scsi => 6,
        Mpath => 7,
        Rbd => 8,
        Sheepdog => 9,
        Gluster => 10,
        Zfs => 11,
        Vstorage => 12,
        IscsiDirect => 13,
    };
    flags::LIST_POOLS_DIR << i
}

struct Obj {
    name: String,
    config: Option<StoragePool>,
    live: Option<StoragePool>,
    autostart: bool,
}

impl Obj {
    fn def(&self) -> Option<&StoragePool> {
        self.live.as_ref().or(self.config.as_ref())
    }
    fn uuid(&self) -> Uuid {
        self.def().and_then(|d| d.uuid).unwrap_or_default()
    }
    fn reference(&self) -> PoolRef {
        PoolRef { name: self.name.clone(), uuid: self.uuid() }
    }
    fn live(&self) -> Result<&StoragePool> {
        self.live.as_ref().ok_or_else(|| not_active(&self.name))
    }
}

/// A volume by name: the lists are kept sorted by name (scan and create sort them).
fn by_name<'a>(vols: &'a [VolRecord], name: &str) -> Option<&'a VolRecord> {
    match vols.binary_search_by(|v| v.name.as_str().cmp(name)) {
        Ok(i) => vols.get(i),
        Err(_) => None,
    }
}

fn vol_ref(pool: &str, v: &VolRecord) -> VolRef {
    VolRef { pool: pool.to_string(), name: v.name.clone(), key: v.path.clone() }
}

/// A host's dir and fs storage pools.
pub struct StorageDriver {
    layout: StorageLayout,
    host: Host,
    uri: String,
    /// The volume list last read per pool, by the identity of the file it came from: lists are
    /// replaced by atomic rename, so the same (device, inode, size, mtime) is the same list.
    /// Saves re-reading a 10,000-volume list for each of `vol-list`'s per-volume calls.
    vols_cache: Mutex<HashMap<String, (FileId, SharedVols)>>,
    /// Parsed definition files, the same way.
    defs_cache: Mutex<HashMap<PathBuf, (FileId, StoragePool)>>,
}

/// Identity of a file's content as far as atomic replaces go.
type FileId = (u64, u64, u64, i64, i64);

/// Whether a file read now may be cached under its [`FileId`]: only once its mtime is well in
/// the past. File times tick coarsely (a few ms) and inodes are reused, so two replaces within
/// one tick could look alike; a replace after this read gets a later mtime, so a different id.
fn settled(m: &fs::Metadata) -> bool {
    m.modified()
        .ok()
        .and_then(|t| std::time::SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age > Duration::from_millis(50))
}
type SharedVols = Arc<Vec<VolRecord>>;

impl StorageDriver {
    /// Opens the driver on `layout` with the real host, re-attaching to pools left running.
    pub fn new(layout: StorageLayout, uri: impl Into<String>) -> Result<StorageDriver> {
        Self::with_host(layout, crate::host::real(), uri)
    }

    pub fn with_host(layout: StorageLayout, host: Host, uri: impl Into<String>) -> Result<StorageDriver> {
        layout
            .create_dirs()
            .map_err(|e| sys(format!("creating storage driver directories under {}", layout.run.display()), e))?;
        let d = StorageDriver {
            layout,
            host,
            uri: uri.into(),
            vols_cache: Mutex::new(HashMap::new()),
            defs_cache: Mutex::new(HashMap::new()),
        };
        d.reattach()?;
        Ok(d)
    }

    pub fn layout(&self) -> &StorageLayout {
        &self.layout
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    fn lock(&self) -> Result<FileLock> {
        let p = self.layout.lock_file();
        FileLock::acquire(&p, LOCK_TIMEOUT).map_err(|e| sys(format!("locking {}", p.display()), e))
    }

    fn run(&self, program: &str, args: &[String], timeout: Duration) -> Result<CmdOutput> {
        self.host.run(program, args, timeout).map_err(|e| sys(format!("running {program}"), e))
    }

    /// Runs a command that must succeed; its error output names what failed.
    fn run_ok(&self, program: &str, args: &[String], timeout: Duration) -> Result<CmdOutput> {
        let o = self.run(program, args, timeout)?;
        if !o.success() {
            let why = o.stderr.trim();
            let why = if why.is_empty() { o.stdout.trim() } else { why };
            return Err(failed(format!(
                "{program} {} failed ({}): {why}",
                args.join(" "),
                o.code.map_or("killed by a signal".to_string(), |c| format!("exit status {c}"))
            )));
        }
        Ok(o)
    }

    // ---- on-disk state ----

    fn load_one(&self, name: &str) -> Result<Option<Obj>> {
        let config = self.read_def(&self.layout.config_file(name))?;
        let live = self.read_def(&self.layout.live_file(name))?;
        if config.is_none() && live.is_none() {
            return Ok(None);
        }
        let autostart = config.is_some() && fs::symlink_metadata(self.layout.autostart_link(name)).is_ok();
        Ok(Some(Obj { name: name.into(), config, live, autostart }))
    }

    /// A stored pool definition, parsed again only when its file was replaced (as with
    /// [`Self::volumes`]): per-volume calls on a large pool read it once per volume.
    fn read_def(&self, p: &Path) -> Result<Option<StoragePool>> {
        use std::os::unix::fs::MetadataExt;
        let m = match fs::metadata(p) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(sys(format!("reading {}", p.display()), e)),
        };
        let id = (m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec());
        let mut cache = self.defs_cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((have, def)) = cache.get(p) {
            if *have == id {
                return Ok(Some(def.clone()));
            }
        }
        // Stored definitions are read within the same size limit they were accepted under.
        let def = match oxvirt_xml::limits::read_file(p, &oxvirt_xml::Limits::DEFINITION) {
            Ok(s) => parse_document::<StoragePool>(&s, ParseOptions { validate: false })
                .map(|(d, _)| d)
                .map_err(|e| failed(format!("{} is unreadable: {e}", p.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(sys(format!("reading {}", p.display()), e)),
        };
        if settled(&m) {
            cache.insert(p.to_path_buf(), (id, def.clone()));
        }
        Ok(Some(def))
    }

    fn load_all(&self) -> Result<Vec<Obj>> {
        let mut names = std::collections::BTreeSet::new();
        for dir in [&self.layout.config, &self.layout.run] {
            let rd = fs::read_dir(dir).map_err(|e| sys(format!("listing {}", dir.display()), e))?;
            for e in rd.flatten() {
                let f = e.file_name().to_string_lossy().into_owned();
                if let Some(n) = f.strip_suffix(".xml") {
                    if !n.starts_with('.') && oxvirt_xml::names::check(oxvirt_xml::names::Kind::StoragePool, n).is_ok()
                    {
                        names.insert(n.to_string());
                    }
                }
            }
        }
        // One unreadable pool hides only itself, as libvirt skips a definition it cannot load.
        let mut out = Vec::new();
        for n in names {
            match self.load_one(&n) {
                Ok(Some(o)) => out.push(o),
                Ok(None) => {}
                Err(e) => tracing::error!(pool = %n, "skipping storage pool: {e}"),
            }
        }
        Ok(out)
    }

    fn find<'a>(objs: &'a [Obj], r: &PoolRef) -> Result<&'a Obj> {
        objs.iter()
            .find(|o| o.name == r.name && (r.uuid.is_nil() || o.uuid() == r.uuid))
            .or_else(|| objs.iter().find(|o| !r.uuid.is_nil() && o.uuid() == r.uuid))
            .ok_or_else(|| Error::no_pool(format!("no storage pool with matching uuid '{}' ({})", r.uuid, r.name)))
    }

    fn find_by_name<'a>(objs: &'a [Obj], name: &str) -> Result<&'a Obj> {
        objs.iter()
            .find(|o| o.name == name)
            .ok_or_else(|| Error::no_pool(format!("no storage pool with matching name '{name}'")))
    }

    fn write_config(&self, def: &StoragePool) -> Result<()> {
        let p = self.layout.config_file(def.name());
        write_atomic(&p, def.to_xml_string().as_bytes(), 0o600).map_err(|e| sys(format!("writing {}", p.display()), e))
    }

    fn read_volumes(&self, name: &str) -> Result<Vec<VolRecord>> {
        Ok(self.volumes(name)?.to_vec())
    }

    /// The pool's volume list, from the cache while its file is the same one.
    fn volumes(&self, name: &str) -> Result<Arc<Vec<VolRecord>>> {
        use std::io::Read;
        use std::os::unix::fs::MetadataExt;
        let p = self.layout.volumes_file(name);
        let mut f = match fs::File::open(&p) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Arc::new(Vec::new())),
            Err(e) => return Err(sys(format!("reading {}", p.display()), e)),
        };
        let m = f.metadata().map_err(|e| sys(format!("reading {}", p.display()), e))?;
        let id = (m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec());
        let mut cache = self.vols_cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((have, vols)) = cache.get(name) {
            if *have == id {
                return Ok(vols.clone());
            }
        }
        let mut b = Vec::new();
        f.read_to_end(&mut b).map_err(|e| sys(format!("reading {}", p.display()), e))?;
        let vols: Arc<Vec<VolRecord>> =
            Arc::new(serde_json::from_slice(&b).map_err(|e| failed(format!("{} is unreadable: {e}", p.display())))?);
        if settled(&m) {
            cache.insert(name.to_string(), (id, vols.clone()));
        }
        Ok(vols)
    }

    /// The pool `r` names, reading only its own files when its name is a valid one.
    fn obj(&self, r: &PoolRef) -> Result<Obj> {
        if oxvirt_xml::names::check(oxvirt_xml::names::Kind::StoragePool, &r.name).is_ok() {
            if let Some(o) = self.load_one(&r.name)? {
                if r.uuid.is_nil() || o.uuid() == r.uuid {
                    return Ok(o);
                }
            }
        }
        let mut objs = self.load_all()?;
        let name = Self::find(&objs, r)?.name.clone();
        let i = objs.iter().position(|o| o.name == name).ok_or_else(|| Error::no_pool(name.clone()))?;
        Ok(objs.swap_remove(i))
    }

    /// Records an active pool: its volumes, then its definition with fresh size figures (the
    /// live XML last, so a pool is active only once its volume list is there).
    fn write_live(&self, def: &StoragePool, vols: &[VolRecord]) -> Result<()> {
        let j = self.layout.volumes_file(def.name());
        let json = serde_json::to_vec(vols).map_err(|e| failed(format!("encoding the volume list: {e}")))?;
        write_atomic(&j, &json, 0o600).map_err(|e| sys(format!("writing {}", j.display()), e))?;
        let mut live = def.clone();
        let target = target_path(def)?;
        let (cap, alloc, avail) =
            fs_usage(&target).map_err(|e| sys(format!("cannot statvfs path '{}'", target.display()), e))?;
        live.capacity = Some(Bytes(cap));
        live.allocation = Some(Bytes(alloc));
        live.available = Some(Bytes(avail));
        let x = self.layout.live_file(def.name());
        write_atomic(&x, live.to_xml_string().as_bytes(), 0o600).map_err(|e| sys(format!("writing {}", x.display()), e))
    }

    fn remove_live(&self, name: &str) -> Result<()> {
        for p in [self.layout.live_file(name), self.layout.volumes_file(name)] {
            remove_if_exists(&p).map_err(|e| sys(format!("removing {}", p.display()), e))?;
        }
        Ok(())
    }

    /// libvirt's start-up check (`storagePoolUpdateState`): a pool recorded as running whose
    /// directory is gone or whose filesystem is no longer mounted is inactive now.
    fn reattach(&self) -> Result<()> {
        let _l = self.lock()?;
        for o in self.load_all()? {
            let Some(live) = &o.live else { continue };
            let still = match self.check_running(live) {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(pool = %o.name, "checking storage pool: {e}");
                    false
                }
            };
            if !still {
                tracing::warn!(pool = %o.name, "storage pool is no longer running; marking it inactive");
                self.remove_live(&o.name)?;
            }
        }
        Ok(())
    }

    fn check_running(&self, def: &StoragePool) -> Result<bool> {
        let target = target_path(def)?;
        Ok(match def.kind {
            PoolType::Fs => self.host.mounted_at(&target).map_err(|e| sys("reading the mount table", e))?.is_some(),
            _ => target.is_dir(),
        })
    }

    // ---- definitions ----

    /// `virStoragePoolObjListAdd`'s checks: one name per uuid, one uuid per name, and no two
    /// pools on the same directory or device (libvirt's rules, shared through `conf::objlist`).
    /// Returns the object with the definition's UUID, if any; `check_live` refuses a running one.
    fn check_identity<'a>(objs: &'a [Obj], def: &StoragePool, check_live: bool) -> Result<Option<&'a Obj>> {
        let target = def.target.as_ref().and_then(|t| t.path.as_deref());
        let device = def.source.as_ref().and_then(|s| s.devices.first()).map(|d| d.path.as_str());
        for o in objs.iter().filter(|o| o.name != def.name()) {
            for other in [o.config.as_ref(), o.live.as_ref()].into_iter().flatten() {
                let ot = other.target.as_ref().and_then(|t| t.path.as_deref());
                let od = other.source.as_ref().and_then(|s| s.devices.first()).map(|d| d.path.as_str());
                let same_target = target.is_some() && ot == target;
                let same_device =
                    def.kind == PoolType::Fs && other.kind == PoolType::Fs && device.is_some() && od == device;
                if same_target || same_device {
                    return Err(failed(format!("Storage source conflict with pool: '{}'", o.name)));
                }
            }
        }
        let facts = objs.iter().map(|o| ObjFacts {
            name: &o.name,
            uuid: o.uuid(),
            active: o.live.is_some(),
            persistent: o.config.is_some(),
        });
        let i = objlist::find_for_add(ObjKind::Pool, facts, def.name(), def.uuid.unwrap_or_default(), check_live)?;
        Ok(i.map(|i| &objs[i]))
    }

    pub fn list_pools(&self, f: u32) -> Result<Vec<PoolRef>> {
        let types = f & !(flags::LIST_POOLS_DIR - 1);
        Ok(self
            .load_all()?
            .iter()
            .filter(|o| object_matches(f, o.live.is_some(), o.config.is_some(), o.autostart))
            .filter(|o| types == 0 || o.def().is_some_and(|d| types & type_bit(d.kind) != 0))
            .map(Obj::reference)
            .collect())
    }

    pub fn lookup_pool_by_name(&self, name: &str) -> Result<PoolRef> {
        // A name outside the one rule cannot be defined, and must not reach a path.
        if oxvirt_xml::names::check(oxvirt_xml::names::Kind::StoragePool, name).is_ok() {
            if let Some(o) = self.load_one(name)? {
                return Ok(o.reference());
            }
        }
        Err(Error::no_pool(format!("no storage pool with matching name '{name}'")))
    }

    pub fn lookup_pool_by_uuid(&self, uuid: &Uuid) -> Result<PoolRef> {
        self.load_all()?
            .iter()
            .find(|o| o.uuid() == *uuid)
            .map(Obj::reference)
            .ok_or_else(|| Error::no_pool(format!("no storage pool with matching uuid '{uuid}'")))
    }

    pub fn lookup_pool_by_volume(&self, v: &VolRef) -> Result<PoolRef> {
        let objs = self.load_all()?;
        let o = Self::find_by_name(&objs, &v.pool)
            .map_err(|_| Error::no_pool(format!("no storage pool with matching name '{}'", v.pool)))?;
        Ok(o.reference())
    }

    pub fn pool_define(&self, xml: &str, f: u32) -> Result<PoolRef> {
        check_flags("pool_define", f, flags::DEFINE_VALIDATE)?;
        let def = parse_pool(xml, f & flags::DEFINE_VALIDATE != 0)?;
        check_supported(&def)?;
        let _l = self.lock()?;
        let objs = self.load_all()?;
        Self::check_identity(&objs, &def, false)?;
        self.write_config(&def)?;
        Ok(PoolRef { name: def.name().to_string(), uuid: def.uuid.unwrap_or_default() })
    }

    pub fn pool_create_xml(&self, xml: &str, f: u32) -> Result<PoolRef> {
        let build =
            flags::CREATE_WITH_BUILD | flags::CREATE_WITH_BUILD_OVERWRITE | flags::CREATE_WITH_BUILD_NO_OVERWRITE;
        check_flags("pool_create_xml", f, build)?;
        let def = parse_pool(xml, false)?;
        check_supported(&def)?;
        let _l = self.lock()?;
        let objs = self.load_all()?;
        Self::check_identity(&objs, &def, true)?;
        self.build_for_create(&def, f)?;
        self.start_locked(&def)?;
        Ok(PoolRef { name: def.name().to_string(), uuid: def.uuid.unwrap_or_default() })
    }

    /// `virStoragePoolCreateFlags`' build bits as `virStoragePoolBuildFlags`.
    fn build_for_create(&self, def: &StoragePool, f: u32) -> Result<()> {
        if f & flags::CREATE_WITH_BUILD_OVERWRITE != 0 && f & flags::CREATE_WITH_BUILD_NO_OVERWRITE != 0 {
            return Err(op_invalid("Overwrite and no overwrite flags are mutually exclusive"));
        }
        if f & flags::CREATE_WITH_BUILD_OVERWRITE != 0 {
            self.build_locked(def, flags::BUILD_OVERWRITE)
        } else if f & flags::CREATE_WITH_BUILD_NO_OVERWRITE != 0 {
            self.build_locked(def, flags::BUILD_NO_OVERWRITE)
        } else if f & flags::CREATE_WITH_BUILD != 0 {
            self.build_locked(def, 0)
        } else {
            Ok(())
        }
    }

    pub fn pool_build(&self, r: &PoolRef, f: u32) -> Result<()> {
        check_flags("pool_build", f, flags::BUILD_OVERWRITE | flags::BUILD_NO_OVERWRITE)?;
        let _l = self.lock()?;
        let objs = self.load_all()?;
        let o = Self::find(&objs, r)?;
        if o.live.is_some() {
            return Err(op_invalid(format!("storage pool '{}' is already active", o.name)));
        }
        let def = o.config.as_ref().ok_or_else(|| not_active(&o.name))?;
        check_supported(def)?;
        self.build_locked(def, f)
    }

    /// `pool-build`: the target directory with its permissions; for `fs` pools with
    /// `--overwrite` (or `--no-overwrite` on an empty device) also the filesystem, as libvirt.
    fn build_locked(&self, def: &StoragePool, f: u32) -> Result<()> {
        if f & flags::BUILD_OVERWRITE != 0 && f & flags::BUILD_NO_OVERWRITE != 0 {
            return Err(op_invalid("Overwrite and no overwrite flags are mutually exclusive"));
        }
        let target = target_path(def)?;
        let perms = def.target.as_ref().and_then(|t| t.permissions.clone()).unwrap_or_default();
        let mode = perms.mode.map_or(DEFAULT_POOL_MODE, |m| m.0);
        match fs::symlink_metadata(&target) {
            Ok(m) if !m.is_dir() => {
                return Err(failed(format!(
                    "storage pool target path '{}' exists and is not a directory",
                    target.display()
                )))
            }
            Ok(_) => {}
            Err(_) => {
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent)
                        .map_err(|e| sys(format!("cannot create path '{}'", parent.display()), e))?;
                }
                fs::create_dir(&target).map_err(|e| sys(format!("cannot create path '{}'", target.display()), e))?;
            }
        }
        fs::set_permissions(&target, fs::Permissions::from_mode(mode))
            .map_err(|e| sys(format!("cannot set mode of '{}' to {mode:04o}", target.display()), e))?;
        chown(&target, perms.owner, perms.group)?;
        if def.kind == PoolType::Fs && f & (flags::BUILD_OVERWRITE | flags::BUILD_NO_OVERWRITE) != 0 {
            self.make_filesystem(def, f & flags::BUILD_OVERWRITE != 0)?;
        }
        Ok(())
    }

    fn make_filesystem(&self, def: &StoragePool, overwrite: bool) -> Result<()> {
        let device = fs_device(def)?;
        let format = fs_format(def);
        if format == PoolFormatType::Auto {
            return Err(err(
                ErrorCode::ConfigUnsupported,
                format!(
                    "cannot make a filesystem on '{device}' of format 'auto': name one in <source><format type=...>"
                ),
            ));
        }
        let fmt = format.to_xml_value().into_owned();
        if !overwrite {
            // blkid: 0 found a signature, 2 found nothing.
            let args = vec!["-p".into(), "-o".into(), "value".into(), "-s".into(), "TYPE".into(), device.clone()];
            let o = self.run("blkid", &args, MOUNT_TIMEOUT)?;
            match o.code {
                Some(2) => {}
                Some(0) => {
                    let found = o.stdout.trim();
                    return Err(if found == fmt {
                        err(
                            ErrorCode::StoragePoolBuilt,
                            format!("Device '{device}' is already formatted using '{found}'"),
                        )
                    } else {
                        failed(format!(
                            "Format of device '{device}' does not match the expected format '{fmt}', forced overwrite is necessary"
                        ))
                    });
                }
                _ => {
                    return Err(err(
                        ErrorCode::StorageProbeFailed,
                        format!("cannot probe device '{device}': {}", o.stderr.trim()),
                    ))
                }
            }
        }
        let mut args: Vec<String> = vec!["-t".into(), fmt.clone()];
        match format {
            PoolFormatType::Ext2 | PoolFormatType::Ext3 | PoolFormatType::Ext4 => args.push("-F".into()),
            PoolFormatType::Xfs => args.push("-f".into()),
            _ => {}
        }
        args.push(device);
        self.run_ok("mkfs", &args, MKFS_TIMEOUT)?;
        Ok(())
    }

    pub fn pool_create(&self, r: &PoolRef, f: u32) -> Result<()> {
        let build =
            flags::CREATE_WITH_BUILD | flags::CREATE_WITH_BUILD_OVERWRITE | flags::CREATE_WITH_BUILD_NO_OVERWRITE;
        check_flags("pool_create", f, build)?;
        let _l = self.lock()?;
        let objs = self.load_all()?;
        let o = Self::find(&objs, r)?;
        if o.live.is_some() {
            return Err(op_invalid(format!("storage pool '{}' is already active", o.name)));
        }
        let def =
            o.config.clone().ok_or_else(|| Error::no_pool(format!("storage pool '{}' has no definition", o.name)))?;
        check_supported(&def)?;
        self.build_for_create(&def, f)?;
        self.start_locked(&def)
    }

    /// Starts a pool: mounts an `fs` pool's filesystem, lists its volumes, records it live.
    fn start_locked(&self, def: &StoragePool) -> Result<()> {
        let target = target_path(def)?;
        let mut mounted = false;
        if def.kind == PoolType::Fs {
            let device = fs_device(def)?;
            if fs::metadata(&device).is_err() {
                return Err(failed(format!(
                    "source device '{device}' of storage pool '{}' does not exist",
                    def.name()
                )));
            }
            check_target_dir(&target)?;
            if self.host.mounted_at(&target).map_err(|e| sys("reading the mount table", e))?.is_some() {
                return Err(op_invalid(format!("Target '{}' is already mounted", target.display())));
            }
            let mut args: Vec<String> = Vec::new();
            let format = fs_format(def);
            if format != PoolFormatType::Auto {
                args.extend(["-t".into(), format.to_xml_value().into_owned()]);
            }
            let opts: Vec<String> =
                def.fs_mount_opts.iter().flat_map(|m| m.options.iter().map(|o| o.name.clone())).collect();
            if !opts.is_empty() {
                args.extend(["-o".into(), opts.join(",")]);
            }
            args.extend([device, target.to_string_lossy().into_owned()]);
            self.run_ok("mount", &args, MOUNT_TIMEOUT)?;
            mounted = true;
        } else {
            check_target_dir(&target)?;
        }
        let r = self.scan(def).and_then(|vols| self.write_live(def, &vols));
        if let Err(e) = r {
            if mounted {
                if let Err(u) = self.unmount(&target) {
                    tracing::error!("undoing the start of pool '{}': {u}", def.name());
                }
            }
            let _ = self.remove_live(def.name());
            return Err(e);
        }
        Ok(())
    }

    fn unmount(&self, target: &Path) -> Result<()> {
        if self.host.mounted_at(target).map_err(|e| sys("reading the mount table", e))?.is_some() {
            self.run_ok("umount", &[target.to_string_lossy().into_owned()], MOUNT_TIMEOUT)?;
        }
        Ok(())
    }

    /// Every volume in the pool's directory now, by name.
    fn scan(&self, def: &StoragePool) -> Result<Vec<VolRecord>> {
        let target = target_path(def)?;
        let rd = fs::read_dir(&target).map_err(|e| sys(format!("cannot open directory '{}'", target.display()), e))?;
        let mut vols = Vec::new();
        for e in rd {
            let e = e.map_err(|e| sys(format!("reading directory '{}'", target.display()), e))?;
            let Some(name) = e.file_name().to_str().map(str::to_string) else { continue };
            if name.starts_with(".oxvirt-")
                || oxvirt_xml::names::check(oxvirt_xml::names::Kind::StorageVol, &name).is_err()
            {
                continue;
            }
            match volume::probe(self.host.as_ref(), &name, &e.path()) {
                Ok(Some(v)) => vols.push(v),
                Ok(None) => {}
                Err(err) => tracing::warn!("skipping {}: {err}", e.path().display()),
            }
        }
        vols.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(vols)
    }

    pub fn pool_destroy(&self, r: &PoolRef) -> Result<()> {
        let _l = self.lock()?;
        let objs = self.load_all()?;
        let o = Self::find(&objs, r)?;
        let live = o.live()?;
        if live.kind == PoolType::Fs {
            self.unmount(&target_path(live)?)?;
        }
        self.remove_live(&o.name)
    }

    pub fn pool_delete(&self, r: &PoolRef, f: u32) -> Result<()> {
        check_flags("pool_delete", f, 0)?;
        let _l = self.lock()?;
        let objs = self.load_all()?;
        let o = Self::find(&objs, r)?;
        if o.live.is_some() {
            return Err(op_invalid(format!("storage pool '{}' is still active", o.name)));
        }
        let def = o.config.as_ref().ok_or_else(|| not_active(&o.name))?;
        check_supported(def)?;
        let target = target_path(def)?;
        match fs::remove_dir(&target) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(sys(format!("failed to remove pool '{}'", target.display()), e)),
        }
    }

    pub fn pool_undefine(&self, r: &PoolRef) -> Result<()> {
        let _l = self.lock()?;
        let objs = self.load_all()?;
        let o = Self::find(&objs, r)?;
        if o.live.is_some() {
            return Err(op_invalid(format!("storage pool '{}' is still active", o.name)));
        }
        if o.config.is_none() {
            return Err(op_invalid(format!("storage pool '{}' is not persistent", o.name)));
        }
        let link = self.layout.autostart_link(&o.name);
        remove_if_exists(&link).map_err(|e| sys(format!("removing {}", link.display()), e))?;
        let p = self.layout.config_file(&o.name);
        remove_if_exists(&p).map_err(|e| sys(format!("removing {}", p.display()), e))
    }

    pub fn pool_refresh(&self, r: &PoolRef, f: u32) -> Result<()> {
        check_flags("pool_refresh", f, 0)?;
        let _l = self.lock()?;
        let objs = self.load_all()?;
        let live = Self::find(&objs, r)?.live()?;
        // libvirt stops a pool whose refresh fails (its directory gone, its filesystem
        // unmounted behind its back) rather than list what is no longer there.
        let r = if self.check_running(live)? { self.scan(live) } else { Err(self.gone(live)) };
        match r.and_then(|vols| self.write_live(live, &vols)) {
            Ok(()) => Ok(()),
            Err(e) => {
                if live.kind == PoolType::Fs {
                    if let Err(u) = self.unmount(&target_path(live)?) {
                        tracing::warn!("stopping pool '{}' after a failed refresh: {u}", live.name());
                    }
                }
                self.remove_live(live.name())?;
                Err(e)
            }
        }
    }

    fn gone(&self, def: &StoragePool) -> Error {
        let what = if def.kind == PoolType::Fs { "is no longer mounted" } else { "no longer exists" };
        failed(format!(
            "the target '{}' of storage pool '{}' {what}; the pool is stopped",
            def.target.as_ref().and_then(|t| t.path.as_deref()).unwrap_or(""),
            def.name()
        ))
    }

    pub fn pool_xml(&self, r: &PoolRef, f: u32) -> Result<String> {
        check_flags("pool_xml", f, flags::XML_INACTIVE)?;
        let objs = self.load_all()?;
        let o = Self::find(&objs, r)?;
        let def = match (&o.live, &o.config) {
            (Some(_), Some(c)) if f & flags::XML_INACTIVE != 0 => c,
            (Some(l), _) => l,
            (None, Some(c)) => c,
            (None, None) => return Err(Error::no_pool(format!("no storage pool named '{}'", o.name))),
        };
        let mut d = def.clone();
        for b in [&mut d.capacity, &mut d.allocation, &mut d.available] {
            b.get_or_insert(Bytes(0));
        }
        Ok(d.to_xml_string())
    }

    pub fn pool_info(&self, r: &PoolRef) -> Result<PoolInfo> {
        let objs = self.load_all()?;
        let o = Self::find(&objs, r)?;
        let b = |x: Option<Bytes>| x.map_or(0, |b| b.0);
        Ok(match &o.live {
            Some(l) => PoolInfo {
                state: PoolState::Running,
                capacity: b(l.capacity),
                allocation: b(l.allocation),
                available: b(l.available),
            },
            None => PoolInfo { state: PoolState::Inactive, capacity: 0, allocation: 0, available: 0 },
        })
    }

    pub fn pool_autostart(&self, r: &PoolRef) -> Result<bool> {
        Ok(Self::find(&self.load_all()?, r)?.autostart)
    }

    pub fn pool_set_autostart(&self, r: &PoolRef, on: bool) -> Result<()> {
        let _l = self.lock()?;
        let objs = self.load_all()?;
        let o = Self::find(&objs, r)?;
        if o.config.is_none() {
            return Err(op_invalid("cannot set autostart for transient pool"));
        }
        let link = self.layout.autostart_link(&o.name);
        oxvirt_sysutil::set_link(&link, &self.layout.config_file(&o.name), on).map_err(|e| {
            sys(format!("{} autostart link {}", if on { "creating" } else { "removing" }, link.display()), e)
        })
    }

    pub fn pool_is_active(&self, r: &PoolRef) -> Result<bool> {
        Ok(Self::find(&self.load_all()?, r)?.live.is_some())
    }

    pub fn pool_is_persistent(&self, r: &PoolRef) -> Result<bool> {
        Ok(Self::find(&self.load_all()?, r)?.config.is_some())
    }

    /// Starts every inactive pool marked autostart (the daemon's start); returns the failures.
    pub fn autostart_all(&self) -> Result<Vec<(String, Error)>> {
        let mut failures = Vec::new();
        for o in self.load_all()? {
            if o.autostart && o.live.is_none() {
                if let Err(e) = self.pool_create(&o.reference(), 0) {
                    failures.push((o.name.clone(), e));
                }
            }
        }
        Ok(failures)
    }

    // ---- volumes ----

    fn active_pool(&self, name: &str) -> Result<(StoragePool, Arc<Vec<VolRecord>>)> {
        let o = self.obj(&PoolRef { name: name.to_string(), uuid: Uuid::nil() })?;
        let live = o.live()?.clone();
        let vols = self.volumes(name)?;
        Ok((live, vols))
    }

    fn volume(&self, v: &VolRef) -> Result<(StoragePool, VolRecord)> {
        let (pool, vols) = self.active_pool(&v.pool)?;
        let rec = by_name(&vols, &v.name)
            .cloned()
            .ok_or_else(|| Error::no_volume(format!("no storage vol with matching name '{}'", v.name)))?;
        Ok((pool, rec))
    }

    /// The volume as it is now (libvirt refreshes a volume before describing it).
    fn fresh(&self, rec: &VolRecord) -> Result<VolRecord> {
        volume::probe(self.host.as_ref(), &rec.name, Path::new(&rec.path))
            .map_err(|e| sys(format!("cannot open volume '{}'", rec.path), e))?
            .ok_or_else(|| sys(format!("cannot stat file '{}'", rec.path), "No such file or directory"))
    }

    pub fn list_volumes(&self, p: &PoolRef) -> Result<Vec<VolRef>> {
        let o = self.obj(p)?;
        o.live()?;
        Ok(self.volumes(&o.name)?.iter().map(|v| vol_ref(&o.name, v)).collect())
    }

    pub fn lookup_volume_by_name(&self, p: &PoolRef, name: &str) -> Result<VolRef> {
        let o = self.obj(p)?;
        o.live()?;
        by_name(&self.volumes(&o.name)?, name)
            .map(|v| vol_ref(&o.name, v))
            .ok_or_else(|| Error::no_volume(format!("no storage vol with matching name '{name}'")))
    }

    fn find_volume(&self, pred: impl Fn(&VolRecord) -> bool) -> Result<Option<VolRef>> {
        for o in self.load_all()?.iter().filter(|o| o.live.is_some()) {
            if let Some(v) = self.volumes(&o.name)?.iter().find(|v| pred(v)) {
                return Ok(Some(vol_ref(&o.name, v)));
            }
        }
        Ok(None)
    }

    pub fn lookup_volume_by_key(&self, key: &str) -> Result<VolRef> {
        self.find_volume(|v| v.path == key)?
            .ok_or_else(|| Error::no_volume(format!("no storage vol with matching key {key}")))
    }

    pub fn lookup_volume_by_path(&self, path: &str) -> Result<VolRef> {
        let clean = sanitize_path(path);
        self.find_volume(|v| v.path == clean)?
            .ok_or_else(|| Error::no_volume(format!("no storage vol with matching path '{path}'")))
    }

    pub fn volume_create_xml(&self, p: &PoolRef, xml: &str, f: u32) -> Result<VolRef> {
        check_flags("volume_create_xml", f, flags::VOL_CREATE_PREALLOC_METADATA | flags::VOL_CREATE_VALIDATE)?;
        let (mut v, _) =
            parse_document::<StorageVol>(xml, ParseOptions { validate: f & flags::VOL_CREATE_VALIDATE != 0 })
                .map_err(|e| Error::xml("storage volume definition", &e).in_domain(ErrorDomain::Storage))?;
        v.require_capacity()
            .map_err(|e| Error::xml("storage volume definition", &e).in_domain(ErrorDomain::Storage))?;
        if v.allocation.is_none() {
            // libvirt: a volume without an allocation is fully allocated
            v.allocation = v.capacity;
        }
        let _l = self.lock()?;
        let objs = self.load_all()?;
        let o = Self::find(&objs, p)?;
        let pool = o.live()?.clone();
        let mut vols = self.read_volumes(&o.name)?;
        let path = target_path(&pool)?.join(&v.name);
        if vols.iter().any(|x| x.name == v.name) || fs::symlink_metadata(&path).is_ok() {
            return Err(err(ErrorCode::StorageVolExist, format!("'{}'", v.name)));
        }
        let plan = plan_create(&v, &path, f, |b| self.backing_format(b))?;
        let perms = v.target.as_ref().and_then(|t| t.permissions.clone()).unwrap_or_default();
        let rec = self.create_file(&plan, v.allocation.map_or(0, |b| b.0), &perms, &v.name)?;
        let r = vol_ref(&o.name, &rec);
        vols.push(rec);
        vols.sort_by(|a, b| a.name.cmp(&b.name));
        self.write_live(&pool, &vols)?;
        Ok(r)
    }

    /// The format of an existing backing file: its header, else what qemu-img says.
    fn backing_format(&self, path: &str) -> Result<String> {
        match image::probe_file(Path::new(path)) {
            Ok(Probe::Raw) | Ok(Probe::Iso) => Ok("raw".into()),
            Ok(Probe::Image(Some(f))) => Ok(f.into()),
            Ok(Probe::Image(None)) => {
                let o = self.run_ok("qemu-img", &image::info_args(path, None), volume::INFO_TIMEOUT)?;
                Ok(image::ImageInfo::parse(&o.stdout).map_err(|e| failed(format!("qemu-img info {path}: {e}")))?.format)
            }
            Err(e) => Err(err(
                ErrorCode::InvalidArg,
                format!("backing store '{path}' (volume <backingStore><path>) cannot be read: {e}"),
            )),
        }
    }

    /// Creates the file, sets its permissions and allocation; on any failure nothing is left.
    fn create_file(
        &self,
        plan: &CreatePlan,
        allocation: u64,
        perms: &oxvirt_xml::storage::Permissions,
        name: &str,
    ) -> Result<VolRecord> {
        let path = PathBuf::from(&plan.path);
        let r = (|| {
            self.run_ok("qemu-img", &plan.args(), CREATE_TIMEOUT)?;
            let mode = perms.mode.map_or(DEFAULT_VOL_MODE, |m| m.0);
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                .map_err(|e| sys(format!("cannot set mode of '{}' to {mode:04o}", path.display()), e))?;
            chown(&path, perms.owner, perms.group)?;
            // A raw volume allocated in part: the kernel reserves the first `allocation` bytes.
            if plan.format == CreateFormat::Raw && plan.preallocation.is_none() && allocation > 0 {
                fallocate(&path, allocation.min(plan.capacity.unwrap_or(0)))?;
            }
            volume::probe(self.host.as_ref(), name, &path)
                .map_err(|e| sys(format!("cannot open volume '{}'", path.display()), e))?
                .ok_or_else(|| failed(format!("qemu-img create left no file at '{}'", path.display())))
        })();
        if r.is_err() {
            if let Err(e) = remove_if_exists(&path) {
                tracing::error!("removing the half-made volume {}: {e}", path.display());
            }
        }
        r
    }

    pub fn volume_delete(&self, v: &VolRef, f: u32) -> Result<()> {
        check_flags("volume_delete", f, 0)?;
        let _l = self.lock()?;
        let (pool, vols) = self.active_pool(&v.pool)?;
        let mut vols = vols.to_vec();
        let i = vols
            .iter()
            .position(|x| x.name == v.name)
            .ok_or_else(|| Error::no_volume(format!("no storage vol with matching name '{}'", v.name)))?;
        let rec = &vols[i];
        let r = if rec.is_dir { fs::remove_dir(&rec.path) } else { fs::remove_file(&rec.path) };
        match r {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(sys(format!("cannot unlink file '{}'", rec.path), e)),
        }
        vols.remove(i);
        self.write_live(&pool, &vols)
    }

    pub fn volume_xml(&self, v: &VolRef, f: u32) -> Result<String> {
        check_flags("volume_xml", f, 0)?;
        let (_, rec) = self.volume(v)?;
        Ok(self.fresh(&rec)?.to_xml().to_xml_string())
    }

    pub fn volume_info(&self, v: &VolRef) -> Result<VolInfo> {
        let (_, rec) = self.volume(v)?;
        let rec = self.fresh(&rec)?;
        Ok(VolInfo { kind: if rec.is_dir { 2 } else { 0 }, capacity: rec.capacity, allocation: rec.allocation })
    }

    pub fn volume_path(&self, v: &VolRef) -> Result<String> {
        Ok(self.volume(v)?.1.path)
    }
}

fn check_target_dir(target: &Path) -> Result<()> {
    match fs::metadata(target) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(failed(format!("storage pool target path '{}' is not a directory", target.display()))),
        Err(e) => Err(sys(format!("cannot open directory '{}'", target.display()), e)),
    }
}

/// Gives `path` to `owner`/`group` (numeric ids; `None` leaves either as is).
fn chown(path: &Path, owner: Option<i64>, group: Option<i64>) -> Result<()> {
    let id = |x: Option<i64>, what: &str| -> Result<Option<u32>> {
        x.map(|v| u32::try_from(v).map_err(|_| err(ErrorCode::InvalidArg, format!("{what} id {v} is out of range"))))
            .transpose()
    };
    let (u, g) = (id(owner, "owner")?, id(group, "group")?);
    if u.is_none() && g.is_none() {
        return Ok(());
    }
    std::os::unix::fs::chown(path, u, g).map_err(|e| {
        sys(format!("cannot chown '{}' to ({}, {})", path.display(), owner.unwrap_or(-1), group.unwrap_or(-1)), e)
    })
}

fn fallocate(path: &Path, len: u64) -> Result<()> {
    use std::os::fd::AsRawFd;
    let f =
        fs::OpenOptions::new().write(true).open(path).map_err(|e| sys(format!("opening '{}'", path.display()), e))?;
    let len = libc::off_t::try_from(len).map_err(|_| err(ErrorCode::InvalidArg, "allocation is too large"))?;
    // SAFETY: the descriptor is open for writing for the duration of the call.
    let rc = unsafe { libc::posix_fallocate(f.as_raw_fd(), 0, len) };
    if rc != 0 {
        return Err(sys(
            format!("cannot allocate {len} bytes for '{}'", path.display()),
            std::io::Error::from_raw_os_error(rc),
        ));
    }
    Ok(())
}

/// What `qemu-img create` is asked for a volume definition in a file pool; refuses what oxvirt
/// does not create (yet), naming the XML field.
fn plan_create(
    v: &StorageVol,
    path: &Path,
    f: u32,
    backing_format: impl Fn(&str) -> Result<String>,
) -> Result<CreatePlan> {
    let unsupported = |msg: String| err(ErrorCode::ConfigUnsupported, msg);
    let t = v.target.clone().unwrap_or_default();
    let format = match t.format.as_ref().map(|f| f.kind) {
        None | Some(VolFormatType::Raw) => CreateFormat::Raw,
        Some(VolFormatType::Qcow2) => CreateFormat::Qcow2,
        Some(k) => {
            return Err(unsupported(format!(
            "volume format '{}' (<target><format type=...>) is not supported yet: oxvirt creates raw and qcow2 volumes",
            k.to_xml_value()
        )))
        }
    };
    if t.encryption.is_some() {
        return Err(err(
            ErrorCode::NoSupport,
            "volume encryption (<target><encryption>) needs the secret driver, which oxvirt does not have yet",
        ));
    }
    let qcow2 = format == CreateFormat::Qcow2;
    if !qcow2 && (t.compat.is_some() || t.cluster_size.is_some() || t.features.is_some()) {
        return Err(unsupported("<compat>, <clusterSize> and <features> are for qcow2 volumes only".into()));
    }
    let backing = match &v.backing_store {
        None => None,
        Some(_) if !qcow2 => return Err(unsupported("a raw volume cannot have a <backingStore>".into())),
        Some(b) => {
            let fmt = match &b.format {
                Some(f) => f.kind.to_xml_value().into_owned(),
                None => backing_format(&b.path)?,
            };
            if fs::metadata(&b.path).is_err() {
                return Err(err(
                    ErrorCode::InvalidArg,
                    format!("backing store '{}' (<backingStore><path>) does not exist", b.path),
                ));
            }
            Some((b.path.clone(), fmt))
        }
    };
    let features = t.features.clone().unwrap_or_default();
    // libvirt: a `<features>` element (even empty) asks for compat 1.1; else qcow2 gets 0.10.
    let compat = qcow2
        .then(|| t.compat.clone().unwrap_or_else(|| if t.features.is_some() { "1.1" } else { "0.10" }.to_string()));
    if compat.as_deref() == Some("0.10") && (features.lazy_refcounts || features.extended_l2) {
        return Err(unsupported("lazy_refcounts and extended_l2 need qcow2 <compat> 1.1 or later, not 0.10".into()));
    }
    let capacity = v.capacity.map(|b| b.0);
    let allocation = v.allocation.map_or(0, |b| b.0);
    let preallocation = match format {
        CreateFormat::Qcow2 if f & flags::VOL_CREATE_PREALLOC_METADATA != 0 => {
            if backing.is_some() {
                return Err(unsupported("metadata preallocation cannot be used with a <backingStore>".into()));
            }
            Some("metadata")
        }
        CreateFormat::Raw if capacity.is_some_and(|c| c > 0 && allocation >= c) => Some("falloc"),
        _ => None,
    };
    Ok(CreatePlan {
        format,
        path: path.to_string_lossy().into_owned(),
        // An overlay without a size takes its backing file's.
        capacity: if backing.is_some() && capacity.is_none_or(|c| c == 0) { None } else { Some(capacity.unwrap_or(0)) },
        backing,
        preallocation,
        compat,
        cluster_size: t.cluster_size.map(|b| b.0).filter(|_| qcow2),
        lazy_refcounts: features.lazy_refcounts,
        extended_l2: features.extended_l2,
    })
}

#[path = "volops.rs"]
mod volops;
pub use volops::{VOL_RESIZE_ALLOCATE, VOL_RESIZE_DELTA, VOL_RESIZE_SHRINK, WIPE_ALGORITHMS};

#[cfg(test)]
#[path = "driver_tests.rs"]
mod tests;
