//! Isolation of QEMU: when oxvirt runs as root, QEMU runs as an unprivileged user
//! (`OXVIRT_QEMU_USER`, default `oxvirt-qemu`, created on first use; `root` keeps QEMU root), and
//! files of the definition are checked for that user's access before anything starts.
//!
//! QEMU drops privileges itself (`-run-with user=NAME`, QEMU >= 9.1; `-runas NAME` before — QEMU
//! 10 no longer accepts `-runas`). Measured with QEMU 10.0.2 (`-run-with user=nobody`, every file
//! in a root-only `0700` directory):
//! - kernel, initrd, `-drive` images, file chardevs (serial log), the pidfile and the QMP socket are
//!   all opened while QEMU is still root — the drop happens at the very end of its initialisation —
//!   and the guest boots;
//! - anything opened by path *later* is opened as the user and fails: new snapshot overlays
//!   (`blockdev-snapshot-sync` → "Could not create …: Permission denied"), hotplugged disks,
//!   reopening a read-only backing file read-write for a commit, media changes; QEMU also cannot
//!   unlink its pidfile and QMP socket at exit (the driver removes the run dir anyway);
//! - `-sandbox …,elevateprivileges=deny` kills QEMU with SIGSYS at the drop, since the seccomp
//!   filter is installed first and forbids `setuid`/`setgid`. With a drop we therefore pass
//!   `elevateprivileges=allow`; afterwards QEMU has no capabilities and `NoNewPrivs` is set, so
//!   the set*id calls can only move between the user's own ids.
//!
//! Hence the checks: disk images and nvram stay in use by the unprivileged QEMU and are reopened
//! by later operations, so missing access there is an error; kernel, initrd and serial files are
//! only read (or created) at initialisation as root, so missing access there is merely logged.
//! Like libvirt's DAC driver, oxvirt gives files *it* creates and QEMU needs after the drop (nvram
//! copies under its own nvram directory) to the user, but never changes ownership of user images:
//! the error says what to do instead. The run dir needs no chown (see above) and stays root's.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::unistd::{setfsgid, setfsuid, Gid, Group, Uid, User};
use oxvirt_xml::domain::{DiskDevice, DiskType, Domain};

pub const USER_ENV: &str = "OXVIRT_QEMU_USER";
pub const DEFAULT_USER: &str = "oxvirt-qemu";
const USERADD_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("looking up user '{name}': {source}")]
    LookupUser {
        name: String,
        #[source]
        source: nix::Error,
    },
    #[error("{USER_ENV}={name}, but there is no such user (create it, or unset {USER_ENV} to use '{DEFAULT_USER}')")]
    NoSuchUser { name: String },
    #[error("creating user '{name}' for QEMU with useradd: {detail}")]
    CreateUser { name: String, detail: String },
    #[error("{0}")]
    Denied(String),
    #[error("giving {path} to user '{user}': {source}")]
    Chown {
        path: PathBuf,
        user: String,
        #[source]
        source: nix::Error,
    },
}

/// The unprivileged identity QEMU runs as: what the kernel will check its file access against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Primary and supplementary groups (QEMU calls `initgroups`).
    pub groups: Vec<u32>,
}

impl QemuUser {
    pub fn lookup(name: &str) -> Result<Option<QemuUser>, SecurityError> {
        let lookup_err = |source| SecurityError::LookupUser { name: name.into(), source };
        let Some(u) = User::from_name(name).map_err(lookup_err)? else { return Ok(None) };
        let cname = CString::new(name).map_err(|_| lookup_err(nix::Error::EINVAL))?;
        let mut groups: Vec<u32> =
            nix::unistd::getgrouplist(&cname, u.gid).map_err(lookup_err)?.into_iter().map(Gid::as_raw).collect();
        groups.sort_unstable();
        groups.dedup();
        Ok(Some(QemuUser { name: name.into(), uid: u.uid.as_raw(), gid: u.gid.as_raw(), groups }))
    }
}

/// Who QEMU runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunAs {
    /// As oxvirt itself: oxvirt is not root, or root was asked for.
    Same,
    User(QemuUser),
}

/// Decides who QEMU runs as, creating the default user if it is missing.
pub fn resolve_run_as() -> Result<RunAs, SecurityError> {
    if !Uid::effective().is_root() {
        return Ok(RunAs::Same);
    }
    let name = std::env::var(USER_ENV).ok().filter(|s| !s.is_empty()).unwrap_or_else(|| DEFAULT_USER.into());
    if name == "root" || name == "0" {
        return Ok(RunAs::Same);
    }
    if let Some(u) = QemuUser::lookup(&name)? {
        return Ok(RunAs::User(u));
    }
    if name != DEFAULT_USER {
        return Err(SecurityError::NoSuchUser { name });
    }
    create_user(&name)?;
    QemuUser::lookup(&name)?.map(RunAs::User).ok_or_else(|| SecurityError::CreateUser {
        name,
        detail: "useradd succeeded but the user cannot be found".into(),
    })
}

/// `useradd --system` for QEMU, in group `kvm` when the host has it (for /dev/kvm).
fn create_user(name: &str) -> Result<(), SecurityError> {
    let mut cmd = Command::new("useradd");
    cmd.args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--comment", "oxvirt QEMU processes"]);
    if Group::from_name("kvm").ok().flatten().is_some() {
        cmd.args(["--groups", "kvm"]);
    }
    cmd.arg(name).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    let fail = |detail: String| SecurityError::CreateUser { name: name.into(), detail };
    let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
    let deadline = Instant::now() + USERADD_TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| fail(e.to_string()))? {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!("no answer within {USERADD_TIMEOUT:?}")));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = io::Read::read_to_string(&mut e, &mut stderr);
    }
    // 9: it exists — another oxvirt process created it meanwhile.
    if status.success() || status.code() == Some(9) {
        return Ok(());
    }
    Err(fail(format!("{status}: {}", stderr.trim())))
}

impl RunAs {
    /// The user QEMU drops to, for [`crate::command::RuntimeArgs::run_as`] (which writes the
    /// `-run-with`/`-runas` argument and relaxes the sandbox's set*id ban for it).
    pub fn user_name(&self) -> Option<String> {
        match self {
            RunAs::Same => None,
            RunAs::User(u) => Some(u.name.clone()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
}

impl Access {
    fn verb(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::ReadWrite => "read and write",
        }
    }
}

/// A file of the definition QEMU uses, and whether the unprivileged QEMU needs it after start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileNeed {
    pub path: PathBuf,
    pub access: Access,
    /// What it is, for messages (`disk 'vda'`, `kernel`).
    pub what: String,
    /// Used after the privilege drop (an error when inaccessible), or only at initialisation.
    pub after_drop: bool,
}

/// The local files of `def` that QEMU opens.
pub fn file_needs(def: &Domain) -> Vec<FileNeed> {
    let mut out = Vec::new();
    let mut add = |path: &str, access, what: String, after_drop| {
        if !path.is_empty() {
            out.push(FileNeed { path: path.into(), access, what, after_drop });
        }
    };
    for (p, what) in [(&def.os.kernel, "kernel"), (&def.os.initrd, "initrd"), (&def.os.dtb, "device tree")] {
        if let Some(p) = p {
            add(p, Access::Read, what.into(), false);
        }
    }
    if let Some(l) = def.os.loader.as_ref().and_then(|l| l.path.as_deref()) {
        add(l, Access::Read, "firmware loader".into(), true);
    }
    if let Some(n) = &def.os.nvram {
        let path = n.path.as_deref().or_else(|| n.source.as_ref().and_then(|s| s.file.as_deref().or(s.dev.as_deref())));
        if let Some(p) = path {
            add(p, Access::ReadWrite, "nvram".into(), true);
        }
    }
    let Some(devices) = &def.devices else { return out };
    for d in &devices.disks {
        let kind = d.kind.unwrap_or_default();
        let src = d.source.as_ref();
        let path = match kind {
            DiskType::File => src.and_then(|s| s.file.as_deref()),
            DiskType::Block => src.and_then(|s| s.dev.as_deref()),
            _ => None,
        };
        let Some(path) = path else { continue };
        let ro = d.readonly || matches!(d.device, Some(DiskDevice::Cdrom));
        let what = format!("disk '{}'", d.target.dev);
        add(path, if ro { Access::Read } else { Access::ReadWrite }, what, true);
    }
    let chardevs = devices
        .serials
        .iter()
        .map(|c| ("serial", c))
        .chain(devices.consoles.iter().map(|c| ("console", c)))
        .chain(devices.channels.iter().map(|c| ("channel", c)));
    for (kind, c) in chardevs {
        if c.kind.map(|k| k.to_string()).as_deref() == Some("file") {
            if let Some(p) = c.source.sources.first().and_then(|s| s.path.as_deref()) {
                add(p, Access::ReadWrite, format!("{kind} log file"), false);
            }
        }
    }
    out
}

/// Why `user` cannot access `path`, or `None` when it can (or the path does not exist: QEMU's
/// own error about that is clearer).
pub fn access_problem(user: &QemuUser, path: &Path, access: Access) -> Option<String> {
    let mut paths = vec![path.to_path_buf()];
    // Symlinks: both the spelled path and where it leads must be reachable.
    if let Ok(real) = fs::canonicalize(path) {
        if real != path {
            paths.push(real);
        }
    }
    for p in paths {
        let mut cur = PathBuf::new();
        let comps: Vec<Component> = p.components().collect();
        for (i, c) in comps.iter().enumerate() {
            cur.push(c);
            let last = i + 1 == comps.len();
            let Ok(meta) = fs::metadata(&cur) else { return None };
            let (want, need) = if last {
                (
                    match access {
                        Access::Read => 4,
                        Access::ReadWrite => 6,
                    },
                    access.verb(),
                )
            } else {
                (1, "search (x)")
            };
            if !allowed(user, &cur, &meta, want) {
                let subject = if last { "the file".to_string() } else { cur.display().to_string() };
                return Some(format!(
                    "{subject} is mode {:04o} owned by {}:{} ({need} permission missing)",
                    meta.mode() & 0o7777,
                    user_name(meta.uid()),
                    group_name(meta.gid())
                ));
            }
        }
    }
    None
}

/// Mode bits, refined by a POSIX ACL when the file has one.
fn allowed(user: &QemuUser, path: &Path, meta: &fs::Metadata, want: u32) -> bool {
    if let Some(acl) = read_acl(path) {
        return acl_allows(&acl, user, meta.uid(), meta.gid(), want);
    }
    let mode = meta.mode();
    let bits = if meta.uid() == user.uid {
        (mode >> 6) & 7
    } else if user.groups.contains(&meta.gid()) {
        (mode >> 3) & 7
    } else {
        mode & 7
    };
    bits & want == want
}

const ACL_USER_OBJ: u16 = 0x01;
const ACL_USER: u16 = 0x02;
const ACL_GROUP_OBJ: u16 = 0x04;
const ACL_GROUP: u16 = 0x08;
const ACL_MASK: u16 = 0x10;
const ACL_OTHER: u16 = 0x20;

/// `(tag, perm, id)` entries of `system.posix_acl_access`, if present.
fn read_acl(path: &Path) -> Option<Vec<(u16, u32, u32)>> {
    let cpath = CString::new(path.as_os_str().as_bytes()).ok()?;
    let name = c"system.posix_acl_access";
    let mut buf = vec![0u8; 4096];
    // SAFETY: both strings are NUL-terminated and `buf` is valid for `buf.len()` bytes.
    let n = unsafe { libc::getxattr(cpath.as_ptr(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 4 {
        return None;
    }
    let buf = &buf[..n as usize];
    let mut out = Vec::new();
    for e in buf[4..].chunks_exact(8) {
        let tag = u16::from_le_bytes([e[0], e[1]]);
        let perm = u32::from(u16::from_le_bytes([e[2], e[3]]));
        let id = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
        out.push((tag, perm, id));
    }
    Some(out)
}

/// The POSIX.1e access check algorithm (acl(5)).
fn acl_allows(acl: &[(u16, u32, u32)], user: &QemuUser, owner: u32, group: u32, want: u32) -> bool {
    let mask = acl.iter().find(|e| e.0 == ACL_MASK).map_or(7, |e| e.1);
    let ok = |perm: u32| perm & want == want;
    if owner == user.uid {
        return acl.iter().find(|e| e.0 == ACL_USER_OBJ).is_some_and(|e| ok(e.1));
    }
    if let Some(e) = acl.iter().find(|e| e.0 == ACL_USER && e.2 == user.uid) {
        return ok(e.1 & mask);
    }
    let mut matched = false;
    for e in acl {
        let member = match e.0 {
            ACL_GROUP_OBJ => user.groups.contains(&group),
            ACL_GROUP => user.groups.contains(&e.2),
            _ => false,
        };
        if member {
            matched = true;
            if ok(e.1 & mask) {
                return true;
            }
        }
    }
    !matched && acl.iter().find(|e| e.0 == ACL_OTHER).is_some_and(|e| ok(e.1))
}

fn user_name(uid: u32) -> String {
    User::from_uid(Uid::from_raw(uid)).ok().flatten().map_or_else(|| uid.to_string(), |u| u.name)
}

fn group_name(gid: u32) -> String {
    Group::from_gid(Gid::from_raw(gid)).ok().flatten().map_or_else(|| gid.to_string(), |g| g.name)
}

/// Checks every file of `def` for the access `user` needs. Problems with files QEMU needs after
/// dropping privileges are an error naming the path, the user and what is missing; the others
/// are returned as warnings.
pub fn check_files(def: &Domain, user: &QemuUser) -> Result<Vec<String>, SecurityError> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for need in file_needs(def) {
        let Some(why) = access_problem(user, &need.path, need.access) else { continue };
        let msg = format!(
            "QEMU will run as user '{}' (uid {}), which cannot {} {} ({}): {why}",
            user.name,
            user.uid,
            need.access.verb(),
            need.path.display(),
            need.what
        );
        if need.after_drop {
            errors.push(msg);
        } else {
            warnings.push(format!("{msg}; QEMU opens it before dropping privileges, so the start proceeds"));
        }
    }
    if errors.is_empty() {
        return Ok(warnings);
    }
    Err(SecurityError::Denied(format!(
        "{}. oxvirt does not change the ownership of your files: grant access (e.g. `setfacl -m u:{u}:x` on the directory and \
         `setfacl -m u:{u}:r` or `:rw` on the file, or chmod), move the file to a directory the user can reach \
         (e.g. /var/lib/oxvirt/images), or run QEMU as root with {USER_ENV}=root",
        errors.join("; "),
        u = user.name
    )))
}

/// Gives a file or directory oxvirt created for the domain to the QEMU user.
pub fn give_to(path: &Path, user: &QemuUser) -> Result<(), SecurityError> {
    nix::unistd::chown(path, Some(Uid::from_raw(user.uid)), Some(Gid::from_raw(user.gid)))
        .map_err(|source| SecurityError::Chown { path: path.into(), user: user.name.clone(), source })
}

/// Files oxvirt made for this domain that QEMU needs after the drop: an nvram file in oxvirt's own
/// nvram directory (a copy made from the template). The run dir stays root's: QEMU opens nothing
/// there after the drop, and a QEMU-owned run dir would let a compromised QEMU plant symlinks
/// (say, `qemu.log` → `/etc/shadow`) that root later reads.
pub fn prepare_owned_files(def: &Domain, user: &QemuUser, nvram_dir: &Path) -> Result<(), SecurityError> {
    if let Some(p) = def.os.nvram.as_ref().and_then(|n| n.path.as_deref()).map(Path::new) {
        if p.parent() == Some(nvram_dir) && p.exists() {
            give_to(p, user)?;
        }
    }
    Ok(())
}

/// Opens every file of `def` that QEMU reads while still root (kernel, initrd, device tree,
/// firmware loader) with `user`'s rights, on a dedicated thread whose fsuid/fsgid/groups are the
/// user's (which clears root's DAC override for that thread only), and refuses the start if the
/// user cannot read one — so a definition cannot make QEMU read `/etc/shadow` as its initrd.
/// A missing file is left to QEMU, whose error names it.
pub fn open_as_user(def: &Domain, user: &QemuUser) -> Result<(), SecurityError> {
    let reads: Vec<FileNeed> =
        file_needs(def).into_iter().filter(|n| n.access == Access::Read && !n.what.starts_with("disk")).collect();
    if reads.is_empty() {
        return Ok(());
    }
    let result = std::thread::scope(|s| {
        s.spawn(|| -> Result<(), SecurityError> {
            let groups: Vec<libc::gid_t> = user.groups.clone();
            // SAFETY: raw setgroups changes only this thread's credentials (glibc's wrapper would
            // change every thread's); the pointer and length describe `groups`.
            let r = unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) };
            if r != 0 {
                return Err(SecurityError::Denied(format!("cannot take the groups of user '{}': {}", user.name, io::Error::last_os_error())));
            }
            // setfsgid/setfsuid change this thread's filesystem ids only.
            setfsgid(Gid::from_raw(user.gid));
            setfsuid(Uid::from_raw(user.uid));
            // Passing an invalid id (-1) only reads back the current one.
            let (fsuid, fsgid) = (setfsuid(Uid::from_raw(u32::MAX)), setfsgid(Gid::from_raw(u32::MAX)));
            if fsuid.as_raw() != user.uid || fsgid.as_raw() != user.gid {
                return Err(SecurityError::Denied(format!("cannot take the file identity of user '{}'", user.name)));
            }
            let mut denied = Vec::new();
            for n in &reads {
                let opened = fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
                    .open(&n.path);
                match opened {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => denied.push(format!("{} ({}): {e}", n.path.display(), n.what)),
                }
            }
            if denied.is_empty() {
                Ok(())
            } else {
                Err(SecurityError::Denied(format!(
                    "QEMU would read as root what user '{}' (uid {}) cannot read: {}; grant the user read access or use another file",
                    user.name,
                    user.uid,
                    denied.join("; ")
                )))
            }
        })
        .join()
    });
    result.unwrap_or_else(|_| Err(SecurityError::Denied("checking file access as the QEMU user failed".into())))
}

/// The driver's hook before QEMU starts (after the builder prepared its files): gives oxvirt's own
/// files to the user QEMU will run as ([`run_as_for_start`]), and refuses a definition whose other
/// files that user cannot use.
pub fn start_hook(def: &Domain, layout: &crate::layout::Layout, run_as: &RunAs) -> oxvirt_api::Result<()> {
    use oxvirt_api::{Error, ErrorCode, ErrorDomain};
    if let RunAs::User(u) = run_as {
        prepare_owned_files(def, u, &layout.nvram_dir())
            .map_err(|e| Error::operation_failed(e.to_string()).in_domain(ErrorDomain::Security))?;
        let warnings = check_files(def, u).map_err(|e| match e {
            SecurityError::Denied(m) => Error::new(ErrorCode::OperationDenied, ErrorDomain::Security, m),
            e => Error::operation_failed(e.to_string()).in_domain(ErrorDomain::Security),
        })?;
        for w in warnings {
            tracing::warn!("{w}");
        }
        open_as_user(def, u).map_err(|e| match e {
            SecurityError::Denied(m) => Error::new(ErrorCode::OperationDenied, ErrorDomain::Security, m),
            e => Error::operation_failed(e.to_string()).in_domain(ErrorDomain::Security),
        })?;
    }
    Ok(())
}

/// Who QEMU runs as ([`resolve_run_as`]), as a driver error; decided before the command line is built.
pub fn run_as_for_start() -> oxvirt_api::Result<RunAs> {
    use oxvirt_api::{Error, ErrorDomain};
    resolve_run_as().map_err(|e| Error::operation_failed(e.to_string()).in_domain(ErrorDomain::Security))
}

/// The same check for a device hot-plugged into a running QEMU, against the user that QEMU
/// actually runs as (read from the process, whatever the current setting says).
pub fn hotplug_check(qemu_pid: i32, def_with_device: &Domain) -> oxvirt_api::Result<()> {
    use oxvirt_api::{Error, ErrorCode, ErrorDomain};
    let status = std::fs::read_to_string(format!("/proc/{qemu_pid}/status")).unwrap_or_default();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(0);
    if uid == 0 {
        return Ok(());
    }
    let Some(name) = User::from_uid(Uid::from_raw(uid)).ok().flatten().map(|u| u.name) else { return Ok(()) };
    let Some(user) = QemuUser::lookup(&name).ok().flatten() else { return Ok(()) };
    check_files(def_with_device, &user).map(|_| ()).map_err(|e| match e {
        SecurityError::Denied(m) => Error::new(ErrorCode::OperationDenied, ErrorDomain::Security, m),
        e => Error::operation_failed(e.to_string()).in_domain(ErrorDomain::Security),
    })
}

#[cfg(test)]
mod tests;
