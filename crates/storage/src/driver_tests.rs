//! The driver's logic with a fake host: commands are recorded and answered (qemu-img makes a
//! file of the asked size, with a qcow2 header when asked for qcow2), mounts are a table in
//! memory. No root, no qemu-img, no mkfs.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};

use oxvirt_api::ErrorCode;
use tempfile::TempDir;

use super::*;
use crate::host::{CmdOutput, System};

#[derive(Default)]
struct FakeState {
    calls: Vec<String>,
    /// Image path -> (format, virtual size).
    images: BTreeMap<String, (String, u64)>,
    mounts: BTreeMap<PathBuf, String>,
    /// blkid's answer: exit code and stdout.
    blkid: (i32, String),
    /// qemu-img create fails for paths ending so, after leaving a partial file.
    fail_create: Option<String>,
}

#[derive(Default, Clone)]
struct Fake(Arc<Mutex<FakeState>>);

fn ok(stdout: impl Into<String>) -> CmdOutput {
    CmdOutput { code: Some(0), stdout: stdout.into(), stderr: String::new() }
}
fn fail(code: i32, stderr: &str) -> CmdOutput {
    CmdOutput { code: Some(code), stdout: String::new(), stderr: stderr.into() }
}

impl Fake {
    fn st(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.0.lock().unwrap()
    }
    fn calls(&self) -> Vec<String> {
        self.st().calls.clone()
    }
    fn last(&self, program: &str) -> String {
        self.calls().into_iter().rev().find(|c| c.starts_with(program)).unwrap_or_default()
    }

    fn qemu_img(&self, args: &[String]) -> CmdOutput {
        let mut st = self.st();
        match args.first().map(String::as_str) {
            Some("create") => {
                let (mut fmt, mut pos) = (String::new(), Vec::new());
                let mut it = args[1..].iter();
                while let Some(a) = it.next() {
                    match a.as_str() {
                        "-f" => fmt = it.next().cloned().unwrap_or_default(),
                        "-b" | "-o" => {
                            it.next();
                        }
                        _ => pos.push(a.clone()),
                    }
                }
                let path = pos[0].clone();
                let size = pos.get(1).map_or(0, |s| s.trim_end_matches('K').parse::<u64>().unwrap() * 1024);
                let mut f = std::fs::File::create(&path).unwrap();
                if st.fail_create.as_ref().is_some_and(|s| path.ends_with(s.as_str())) {
                    return fail(1, "qemu-img: disk full");
                }
                if fmt == "qcow2" {
                    use std::io::Write;
                    f.write_all(b"QFI\xfb\0\0\0\x03").unwrap();
                } else {
                    f.set_len(size).unwrap();
                }
                st.images.insert(path, (fmt, size));
                ok("")
            }
            Some("info") => {
                let path = args.last().unwrap();
                match st.images.get(path) {
                    Some((fmt, size)) => ok(format!(
                        r#"{{"format":"{fmt}","virtual-size":{size},"cluster-size":65536,
                        "format-specific":{{"type":"{fmt}","data":{{"compat":"1.1","lazy-refcounts":true}}}}}}"#
                    )),
                    None => fail(1, "qemu-img: Could not open"),
                }
            }
            Some("resize") => {
                let pos: Vec<&String> = args[1..].iter().filter(|a| !a.starts_with('-')).collect();
                // pos: FORMAT PATH SIZE
                let (path, size) = (pos[1].clone(), pos[2].parse::<u64>().unwrap());
                let Some(img) = st.images.get_mut(&path) else { return fail(1, "qemu-img: Could not open") };
                if size < img.1 && !args.iter().any(|a| a == "--shrink") {
                    return fail(1, "qemu-img: Use the --shrink option to perform a shrink operation.");
                }
                img.1 = size;
                if img.0 == "raw" {
                    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(size).unwrap();
                }
                ok("")
            }
            Some("convert") => {
                let out = args.iter().position(|a| a == "-O").map(|i| args[i + 1].clone()).unwrap();
                let (src, dst) = (args[args.len() - 2].clone(), args[args.len() - 1].clone());
                let Some(&(_, size)) = st.images.get(&src) else { return fail(1, "qemu-img: Could not open") };
                let mut f = std::fs::File::create(&dst).unwrap();
                if out == "qcow2" {
                    use std::io::Write;
                    f.write_all(b"QFI\xfb\0\0\0\x03").unwrap();
                } else {
                    f.set_len(size).unwrap();
                }
                st.images.insert(dst, (out, size));
                ok("")
            }
            _ => fail(1, "unexpected"),
        }
    }
}

impl System for Fake {
    fn run(&self, program: &str, args: &[String], _timeout: Duration) -> std::io::Result<CmdOutput> {
        self.st().calls.push(format!("{program} {}", args.join(" ")));
        Ok(match program {
            "qemu-img" => self.qemu_img(args),
            "mount" => {
                let n = args.len();
                self.st().mounts.insert(PathBuf::from(&args[n - 1]), args[n - 2].clone());
                ok("")
            }
            "umount" => {
                self.st().mounts.remove(Path::new(&args[0]));
                ok("")
            }
            "blkid" => {
                let (code, out) = self.st().blkid.clone();
                CmdOutput { code: Some(code), stdout: out, stderr: String::new() }
            }
            "mkfs" => ok(""),
            _ => fail(127, "no such program"),
        })
    }
    fn mounted_at(&self, target: &Path) -> std::io::Result<Option<String>> {
        Ok(self.st().mounts.get(target).cloned())
    }
}

struct Env {
    dir: TempDir,
    fake: Fake,
    d: StorageDriver,
}

impl Env {
    fn new() -> Env {
        let dir = TempDir::new().unwrap();
        let fake = Fake::default();
        fake.st().blkid = (2, String::new());
        let d = StorageDriver::with_host(StorageLayout::under(dir.path()), Arc::new(fake.clone()), "storage:///embed")
            .unwrap();
        Env { dir, fake, d }
    }
    /// A second driver on the same state, as a later CLI call or a restarted daemon opens it.
    fn reopen(&self) -> StorageDriver {
        StorageDriver::with_host(StorageLayout::under(self.dir.path()), Arc::new(self.fake.clone()), "storage:///embed")
            .unwrap()
    }
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    fn dir_pool_xml(&self, name: &str, target: &str) -> String {
        format!(
            "<pool type='dir'><name>{name}</name><target><path>{}//</path>\
             <permissions><mode>0755</mode><owner>-1</owner></permissions></target></pool>",
            self.path(target).display()
        )
    }
    fn started_dir_pool(&self, name: &str) -> PoolRef {
        let p = self.d.pool_define(&self.dir_pool_xml(name, name), 0).unwrap();
        self.d.pool_build(&p, 0).unwrap();
        self.d.pool_create(&p, 0).unwrap();
        p
    }
}

fn code(r: Result<impl std::fmt::Debug>) -> (ErrorCode, String) {
    let e = r.unwrap_err();
    (e.code, e.message)
}

#[test]
fn dir_pool_lifecycle() {
    let env = Env::new();
    let d = &env.d;
    let p = d.pool_define(&env.dir_pool_xml("images", "imgs"), 0).unwrap();
    assert_eq!(d.list_pools(0).unwrap(), vec![p.clone()]);
    assert!(d.pool_is_persistent(&p).unwrap() && !d.pool_is_active(&p).unwrap());
    // libvirt's normal form: clean path, no -1 owner, zero figures while inactive.
    let x = d.pool_xml(&p, 0).unwrap();
    assert!(x.contains(&format!("<path>{}</path>", env.path("imgs").display())), "{x}");
    assert!(!x.contains("<owner>") && x.contains("<capacity unit='bytes'>0</capacity>"), "{x}");

    // Not built yet: the directory is missing.
    let (c, m) = code(d.pool_create(&p, 0));
    assert_eq!(c, ErrorCode::SystemError, "{m}");
    assert!(m.contains("cannot open directory"), "{m}");
    d.pool_build(&p, 0).unwrap();
    let meta = std::fs::metadata(env.path("imgs")).unwrap();
    assert!(meta.is_dir());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
    d.pool_create(&p, 0).unwrap();
    assert!(d.pool_is_active(&p).unwrap());
    let info = d.pool_info(&p).unwrap();
    assert_eq!(info.state, PoolState::Running);
    assert!(info.capacity > 0 && info.available <= info.capacity && info.allocation <= info.capacity, "{info:?}");
    assert!(!d.pool_xml(&p, 0).unwrap().contains("<capacity unit='bytes'>0<"));
    assert!(d.pool_xml(&p, flags::XML_INACTIVE).unwrap().contains("<capacity unit='bytes'>0<"));
    let (c, m) = code(d.pool_build(&p, 0));
    assert_eq!(
        (c, m.as_str()),
        (ErrorCode::OperationInvalid, "Requested operation is not valid: storage pool 'images' is already active")
    );

    // Volumes.
    assert!(d.list_volumes(&p).unwrap().is_empty());
    let v = d
        .volume_create_xml(
            &p,
            "<volume><name>a.img</name><capacity unit='M'>1</capacity><allocation>0</allocation></volume>",
            0,
        )
        .unwrap();
    let path = env.path("imgs/a.img");
    assert_eq!(v, VolRef { pool: "images".into(), name: "a.img".into(), key: path.display().to_string() });
    assert_eq!(env.fake.last("qemu-img create"), format!("qemu-img create -f raw {} 1024K", path.display()));
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let info = d.volume_info(&v).unwrap();
    assert_eq!((info.kind, info.capacity), (0, 1 << 20));
    let x = d.volume_xml(&v, 0).unwrap();
    assert!(x.contains("<format type='raw'/>") && x.contains(&format!("<key>{}</key>", path.display())), "{x}");
    assert_eq!(d.volume_path(&v).unwrap(), path.display().to_string());
    assert_eq!(d.lookup_volume_by_key(&v.key).unwrap(), v);
    assert_eq!(d.lookup_volume_by_path(&format!("{}//a.img", env.path("imgs").display())).unwrap(), v);
    assert_eq!(d.lookup_pool_by_volume(&v).unwrap(), p);

    // A fully allocated raw volume is preallocated by qemu-img.
    d.volume_create_xml(&p, "<volume><name>full.img</name><capacity>4096</capacity></volume>", 0).unwrap();
    assert!(env.fake.last("qemu-img create").contains("-o preallocation=falloc"));

    // qcow2 with libvirt's options; qemu-img info describes it.
    let q = d
        .volume_create_xml(
            &p,
            "<volume><name>q.qcow2</name><capacity unit='G'>5</capacity><target><format type='qcow2'/>\
             <permissions><mode>0640</mode></permissions><features><lazy_refcounts/></features></target></volume>",
            0,
        )
        .unwrap();
    assert_eq!(
        env.fake.last("qemu-img create"),
        format!(
            "qemu-img create -f qcow2 -o compat=1.1,lazy_refcounts {} 5242880K",
            env.path("imgs/q.qcow2").display()
        )
    );
    let x = d.volume_xml(&q, 0).unwrap();
    assert!(x.contains("<format type='qcow2'/>") && x.contains("<compat>1.1</compat>"), "{x}");
    assert!(x.contains("<lazy_refcounts/>") && x.contains("<mode>0640</mode>"), "{x}");
    assert_eq!(d.volume_info(&q).unwrap().capacity, 5 << 30);

    // An overlay on it, sized by its backing file.
    d.volume_create_xml(
        &p,
        &format!(
            "<volume><name>o.qcow2</name><capacity>0</capacity><target><format type='qcow2'/></target>\
             <backingStore><path>{}</path></backingStore></volume>",
            env.path("imgs/q.qcow2").display()
        ),
        0,
    )
    .unwrap();
    assert_eq!(
        env.fake.last("qemu-img create"),
        format!(
            "qemu-img create -f qcow2 -b {} -o backing_fmt=qcow2,compat=0.10 {}",
            env.path("imgs/q.qcow2").display(),
            env.path("imgs/o.qcow2").display()
        )
    );

    // A file made behind the driver's back shows at the next refresh, as with libvirt.
    std::fs::write(env.path("imgs/other.iso"), b"x").unwrap();
    let names = |d: &StorageDriver| d.list_volumes(&p).unwrap().into_iter().map(|v| v.name).collect::<Vec<_>>();
    assert_eq!(names(d), ["a.img", "full.img", "o.qcow2", "q.qcow2"]);
    d.pool_refresh(&p, 0).unwrap();
    assert_eq!(names(d), ["a.img", "full.img", "o.qcow2", "other.iso", "q.qcow2"]);

    d.volume_delete(&d.lookup_volume_by_name(&p, "other.iso").unwrap(), 0).unwrap();
    assert!(!env.path("imgs/other.iso").exists());
    let (c, _) = code(d.lookup_volume_by_name(&p, "other.iso"));
    assert_eq!(c, ErrorCode::NoStorageVol);
    let (c, m) = code(d.volume_delete(&v, 1));
    assert_eq!(c, ErrorCode::InvalidArg, "{m}");

    // Another process sees the same pool and volumes.
    assert_eq!(names(&env.reopen()), names(d));

    let (c, m) = code(d.pool_undefine(&p));
    assert_eq!(
        (c, m.as_str()),
        (ErrorCode::OperationInvalid, "Requested operation is not valid: storage pool 'images' is still active")
    );
    d.pool_destroy(&p).unwrap();
    let (c, m) = code(d.list_volumes(&p));
    assert_eq!(
        (c, m.as_str()),
        (ErrorCode::OperationInvalid, "Requested operation is not valid: storage pool 'images' is not active")
    );
    let (c, _) = code(d.pool_destroy(&p));
    assert_eq!(c, ErrorCode::OperationInvalid);
    let (c, _) = code(d.lookup_volume_by_key(&v.key));
    assert_eq!(c, ErrorCode::NoStorageVol);
    // pool-delete removes only an empty directory.
    let (c, m) = code(d.pool_delete(&p, 0));
    assert_eq!(c, ErrorCode::SystemError, "{m}");
    for f in ["a.img", "full.img", "o.qcow2", "q.qcow2"] {
        std::fs::remove_file(env.path("imgs").join(f)).unwrap();
    }
    d.pool_delete(&p, 0).unwrap();
    assert!(!env.path("imgs").exists());
    d.pool_undefine(&p).unwrap();
    assert!(d.list_pools(0).unwrap().is_empty());
    let (c, m) = code(d.lookup_pool_by_name("images"));
    assert_eq!(
        (c, m.as_str()),
        (ErrorCode::NoStoragePool, "Storage pool not found: no storage pool with matching name 'images'")
    );
}

#[test]
fn definitions_and_refusals() {
    let env = Env::new();
    let d = &env.d;
    for (kind, xml) in [
        ("logical", "<pool type='logical'><name>vg</name><source><device path='/dev/sdb'/></source></pool>"),
        ("netfs", "<pool type='netfs'><name>n</name><source><host name='h'/><dir path='/e'/></source><target><path>/mnt/n</path></target></pool>"),
        ("iscsi", "<pool type='iscsi'><name>i</name><source><host name='h'/><device path='iqn.x'/></source><target><path>/dev/disk/by-path</path></target></pool>"),
    ] {
        for r in [d.pool_define(xml, 0), d.pool_create_xml(xml, 0)] {
            let (c, m) = code(r);
            assert_eq!(c, ErrorCode::NoSupport, "{m}");
            assert!(m.ends_with(&format!("storage pool type '{kind}' is not supported yet")), "{m}");
        }
    }
    assert!(d.list_pools(0).unwrap().is_empty());

    let a = d.pool_define(&env.dir_pool_xml("a", "t"), 0).unwrap();
    let (c, m) = code(d.pool_define(&env.dir_pool_xml("b", "t"), 0));
    assert_eq!(
        (c, m.as_str()),
        (ErrorCode::OperationFailed, "operation failed: Storage source conflict with pool: 'a'")
    );
    let same_uuid =
        format!("<pool type='dir'><name>c</name><uuid>{}</uuid><target><path>/nowhere</path></target></pool>", a.uuid);
    let (c, m) = code(d.pool_define(&same_uuid, 0));
    assert_eq!(c, ErrorCode::OperationFailed);
    assert!(m.contains("pool 'a' is already defined with uuid"), "{m}");
    let (c, m) =
        code(d.pool_define("<pool type='dir'><name>a</name><target><path>/elsewhere</path></target></pool>", 0));
    assert_eq!(c, ErrorCode::OperationFailed);
    assert!(m.contains("pool 'a' already exists with uuid"), "{m}");
    // Redefining with the same uuid updates the definition.
    let again = format!(
        "<pool type='dir'><name>a</name><uuid>{}</uuid><target><path>{}</path></target></pool>",
        a.uuid,
        env.path("t2").display()
    );
    assert_eq!(d.pool_define(&again, 0).unwrap(), a);
    assert!(d.pool_xml(&a, 0).unwrap().contains("t2</path>"));

    let (c, m) = code(d.pool_build(&a, flags::BUILD_OVERWRITE | flags::BUILD_NO_OVERWRITE));
    assert_eq!(
        (c, m.as_str()),
        (
            ErrorCode::OperationInvalid,
            "Requested operation is not valid: Overwrite and no overwrite flags are mutually exclusive"
        )
    );
    let (c, _) = code(d.pool_build(&a, flags::BUILD_REPAIR));
    assert_eq!(c, ErrorCode::InvalidArg);
    // A target that is a file is named.
    std::fs::write(env.path("t2"), b"").unwrap();
    let (c, m) = code(d.pool_build(&a, 0));
    assert_eq!(c, ErrorCode::OperationFailed);
    assert!(m.contains("exists and is not a directory"), "{m}");
    let (_, m) = code(d.pool_create(&a, 0));
    assert!(m.contains("is not a directory"), "{m}");
    std::fs::remove_file(env.path("t2")).unwrap();

    // Autostart: a link for persistent pools only.
    d.pool_set_autostart(&a, true).unwrap();
    assert!(d.pool_autostart(&a).unwrap());
    assert!(std::fs::symlink_metadata(env.d.layout().autostart_link("a")).is_ok());
    assert_eq!(d.list_pools(oxvirt_api::types::flags::LIST_AUTOSTART).unwrap(), vec![a.clone()]);
    // The daemon's start: build is not part of it, so the missing directory fails it.
    let failures = d.autostart_all().unwrap();
    assert_eq!(failures.len(), 1);
    d.pool_create(&a, flags::CREATE_WITH_BUILD).unwrap();
    assert!(env.path("t2").is_dir());
    assert_eq!(std::fs::metadata(env.path("t2")).unwrap().permissions().mode() & 0o7777, 0o711);
    d.pool_destroy(&a).unwrap();
    assert!(d.autostart_all().unwrap().is_empty());
    assert!(d.pool_is_active(&a).unwrap());
    d.pool_set_autostart(&a, false).unwrap();
    assert!(!d.pool_autostart(&a).unwrap());

    // Transient pools: gone when destroyed, no autostart.
    let t = d.pool_create_xml(&env.dir_pool_xml("tr", "t2/sub"), flags::CREATE_WITH_BUILD).unwrap();
    assert!(!d.pool_is_persistent(&t).unwrap());
    let (c, m) = code(d.pool_set_autostart(&t, true));
    assert_eq!(
        (c, m.as_str()),
        (ErrorCode::OperationInvalid, "Requested operation is not valid: cannot set autostart for transient pool")
    );
    let (c, m) = code(d.pool_create_xml(&env.dir_pool_xml("tr", "t2/sub"), 0));
    assert_eq!(c, ErrorCode::OperationFailed, "{m}");
    let lf = oxvirt_api::types::flags::LIST_TRANSIENT;
    assert_eq!(d.list_pools(lf).unwrap(), vec![t.clone()]);
    assert_eq!(d.list_pools(flags::LIST_POOLS_DIR).unwrap().len(), 2);
    assert!(d.list_pools(flags::LIST_POOLS_DIR << 1).unwrap().is_empty());
    d.pool_destroy(&t).unwrap();
    let (c, _) = code(d.pool_is_active(&t));
    assert_eq!(c, ErrorCode::NoStoragePool);
}

#[test]
fn volume_refusals_leave_nothing() {
    let env = Env::new();
    let d = &env.d;
    let p = env.started_dir_pool("p");
    let files = || std::fs::read_dir(env.path("p")).unwrap().count();
    let bad = [
        ("<volume><name>../x</name><capacity>1</capacity></volume>", ErrorCode::XmlError, "must not contain '/'"),
        ("<volume><name>..</name><capacity>1</capacity></volume>", ErrorCode::XmlError, "names a directory"),
        ("<volume><name>x</name></volume>", ErrorCode::XmlError, "needs a <capacity>"),
        ("<volume><name>x</name><capacity unit='EiB'>99999</capacity></volume>", ErrorCode::XmlError, "too large"),
        ("<volume><name>x</name><capacity>1</capacity><target><format type='vmdk'/></target></volume>", ErrorCode::ConfigUnsupported, "volume format 'vmdk'"),
        ("<volume><name>x</name><capacity>1</capacity><target><format type='qcow2'/><encryption format='luks'><secret type='passphrase' uuid='f52a81b2-424e-490c-823d-6bd4235bc572'/></encryption></target></volume>", ErrorCode::NoSupport, "needs the secret driver"),
        ("<volume><name>x</name><capacity>1</capacity><backingStore><path>/dev/null</path></backingStore></volume>", ErrorCode::ConfigUnsupported, "raw volume cannot have a <backingStore>"),
        ("<volume><name>x</name><capacity>1</capacity><target><format type='qcow2'/></target><backingStore><path>/no/such</path><format type='raw'/></backingStore></volume>", ErrorCode::InvalidArg, "'/no/such' (<backingStore><path>) does not exist"),
        ("<volume><name>x</name><capacity>1</capacity><target><format type='qcow2'/><compat>0.10</compat><features><lazy_refcounts/></features></target></volume>", ErrorCode::ConfigUnsupported, "need qcow2 <compat> 1.1"),
        ("<volume><name>x</name><capacity>1</capacity><target><clusterSize>65536</clusterSize></target></volume>", ErrorCode::ConfigUnsupported, "qcow2 volumes only"),
    ];
    for (xml, want, text) in bad {
        let (c, m) = code(d.volume_create_xml(&p, xml, 0));
        assert_eq!(c, want, "{xml}: {m}");
        assert!(m.contains(text), "{xml}: {m}");
    }
    let (c, _) = code(d.volume_create_xml(
        &p,
        "<volume><name>x</name><capacity>1</capacity></volume>",
        flags::VOL_CREATE_REFLINK,
    ));
    assert_eq!(c, ErrorCode::InvalidArg);
    assert_eq!(files(), 0);
    // qemu-img failing half-way leaves no file.
    env.fake.st().fail_create = Some("broken.img".into());
    let (c, m) = code(d.volume_create_xml(&p, "<volume><name>broken.img</name><capacity>1024</capacity></volume>", 0));
    assert_eq!(c, ErrorCode::OperationFailed);
    assert!(m.contains("disk full"), "{m}");
    assert_eq!(files(), 0);
    // A name taken by a volume or by a file the driver has not seen yet.
    d.volume_create_xml(&p, "<volume><name>v</name><capacity>1024</capacity></volume>", 0).unwrap();
    std::fs::write(env.path("p/hidden"), b"").unwrap();
    for n in ["v", "hidden"] {
        let (c, m) =
            code(d.volume_create_xml(&p, &format!("<volume><name>{n}</name><capacity>1</capacity></volume>"), 0));
        assert_eq!((c, m), (ErrorCode::StorageVolExist, format!("storage volume already exists: '{n}'")));
    }
    // Inactive pools have no volumes to make.
    d.pool_destroy(&p).unwrap();
    let (c, _) = code(d.volume_create_xml(&p, "<volume><name>w</name><capacity>1</capacity></volume>", 0));
    assert_eq!(c, ErrorCode::OperationInvalid);
}

#[test]
fn restart_reattaches_or_forgets() {
    let env = Env::new();
    let p = env.started_dir_pool("keep");
    let q = env.started_dir_pool("gone");
    std::fs::remove_dir(env.path("gone")).unwrap();
    let d2 = env.reopen();
    assert!(d2.pool_is_active(&p).unwrap());
    assert!(!d2.pool_is_active(&q).unwrap());
    // A refresh that finds the directory gone stops the pool, as libvirt.
    std::fs::remove_dir(env.path("keep")).unwrap();
    let (c, m) = code(d2.pool_refresh(&p, 0));
    assert_eq!(c, ErrorCode::OperationFailed);
    assert!(m.contains("no longer exists; the pool is stopped"), "{m}");
    assert!(!d2.pool_is_active(&p).unwrap());
}

fn fs_pool_xml(env: &Env, dev: &Path) -> String {
    format!(
        "<pool type='fs'><name>fsp</name><source><device path='{}'/><format type='ext4'/></source>\
         <target><path>{}</path></target></pool>",
        dev.display(),
        env.path("mnt").display()
    )
}

#[test]
fn fs_pool_builds_mounts_and_unmounts() {
    let env = Env::new();
    let d = &env.d;
    let dev = env.path("disk.img");
    std::fs::write(&dev, b"").unwrap();
    let p = d.pool_define(&fs_pool_xml(&env, &dev), 0).unwrap();
    // Plain build: the mount point only, as libvirt (no mkfs without a flag).
    d.pool_build(&p, 0).unwrap();
    assert!(env.path("mnt").is_dir());
    assert!(!env.fake.calls().iter().any(|c| c.starts_with("mkfs") || c.starts_with("blkid")));
    // --no-overwrite: blkid finds nothing, so mkfs runs.
    d.pool_build(&p, flags::BUILD_NO_OVERWRITE).unwrap();
    assert_eq!(env.fake.last("mkfs"), format!("mkfs -t ext4 -F {}", dev.display()));
    // --no-overwrite on a formatted device refuses, naming the device.
    env.fake.st().blkid = (0, "ext4\n".into());
    let (c, m) = code(d.pool_build(&p, flags::BUILD_NO_OVERWRITE));
    assert_eq!(c, ErrorCode::StoragePoolBuilt, "{m}");
    env.fake.st().blkid = (0, "xfs\n".into());
    let (c, m) = code(d.pool_build(&p, flags::BUILD_NO_OVERWRITE));
    assert_eq!(c, ErrorCode::OperationFailed);
    assert!(m.contains("forced overwrite is necessary"), "{m}");
    let n = env.fake.calls().iter().filter(|c| c.starts_with("mkfs")).count();
    d.pool_build(&p, flags::BUILD_OVERWRITE).unwrap();
    assert_eq!(env.fake.calls().iter().filter(|c| c.starts_with("mkfs")).count(), n + 1);

    d.pool_create(&p, 0).unwrap();
    assert_eq!(env.fake.last("mount"), format!("mount -t ext4 {} {}", dev.display(), env.path("mnt").display()));
    assert!(d.pool_is_active(&p).unwrap());
    // Still mounted: a restart re-attaches.
    assert!(env.reopen().pool_is_active(&p).unwrap());
    d.pool_destroy(&p).unwrap();
    assert_eq!(env.fake.last("umount"), format!("umount {}", env.path("mnt").display()));
    // Mounted by someone else: refused.
    env.fake.st().mounts.insert(env.path("mnt"), "/dev/other".into());
    let (c, m) = code(d.pool_create(&p, 0));
    assert_eq!(c, ErrorCode::OperationInvalid);
    assert!(m.contains("is already mounted"), "{m}");
    env.fake.st().mounts.clear();
    // Unmounted behind the driver's back: the next open finds the pool inactive.
    d.pool_create(&p, 0).unwrap();
    env.fake.st().mounts.clear();
    assert!(!env.reopen().pool_is_active(&p).unwrap());
    // A missing device is named.
    std::fs::remove_file(&dev).unwrap();
    let (c, m) = code(d.pool_create(&p, 0));
    assert_eq!(c, ErrorCode::OperationFailed);
    assert!(m.contains("does not exist"), "{m}");
    // Two fs pools on one device conflict.
    let other = fs_pool_xml(&env, &dev).replace("fsp", "fsq").replace("/mnt<", "/mnt2<");
    let (_, m) = code(d.pool_define(&other, 0));
    assert!(m.contains("Storage source conflict with pool: 'fsp'"), "{m}");
}

#[test]
fn cached_lists_follow_other_processes() {
    let env = Env::new();
    let p = env.started_dir_pool("p");
    let other = env.reopen();
    let names = |d: &StorageDriver| d.list_volumes(&p).unwrap().into_iter().map(|v| v.name).collect::<Vec<_>>();
    std::thread::sleep(Duration::from_millis(80));
    assert!(names(&env.d).is_empty());
    assert!(names(&env.d).is_empty(), "served from the cache");
    // Changes by another driver (another process) in quick succession are all seen.
    for i in 0..5 {
        let v = other
            .volume_create_xml(&p, &format!("<volume><name>v{i}</name><capacity>1024</capacity></volume>"), 0)
            .unwrap();
        assert_eq!(names(&env.d), [format!("v{i}")]);
        other.volume_delete(&v, 0).unwrap();
        assert!(names(&env.d).is_empty());
    }
    other.pool_destroy(&p).unwrap();
    assert!(!env.d.pool_is_active(&p).unwrap());
}

#[test]
fn sanitized_paths() {
    assert_eq!(sanitize_path("///var/////lib/libvirt/images//"), "/var/lib/libvirt/images");
    assert_eq!(sanitize_path("/"), "/");
}

#[test]
fn volume_resize_wipe_clone() {
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;
    let env = Env::new();
    let d = &env.d;
    let p = env.started_dir_pool("p");
    let raw = d
        .volume_create_xml(
            &p,
            "<volume><name>a.img</name><capacity>1048576</capacity><allocation>0</allocation></volume>",
            0,
        )
        .unwrap();
    let q = d
        .volume_create_xml(
            &p,
            "<volume><name>b.qcow2</name><capacity>1048576</capacity><target><format type='qcow2'/></target></volume>",
            0,
        )
        .unwrap();

    // resize: grow, delta, shrink only with the flag, --allocate for raw only
    d.volume_resize(&raw, 2 << 20, 0).unwrap();
    assert_eq!(d.volume_info(&raw).unwrap().capacity, 2 << 20);
    assert!(env.fake.last("qemu-img resize").ends_with("a.img 2097152"), "{}", env.fake.last("qemu-img resize"));
    d.volume_resize(&raw, 1 << 20, VOL_RESIZE_DELTA).unwrap();
    assert_eq!(d.volume_info(&raw).unwrap().capacity, 3 << 20);
    let (c, m) = code(d.volume_resize(&raw, 1 << 20, 0));
    assert_eq!(c, ErrorCode::InvalidArg, "{m}");
    assert!(m.contains("shrink"), "{m}");
    d.volume_resize(&raw, 1 << 20, VOL_RESIZE_DELTA | VOL_RESIZE_SHRINK).unwrap();
    assert_eq!(d.volume_info(&raw).unwrap().capacity, 2 << 20);
    assert!(env.fake.last("qemu-img resize").contains("--shrink"));
    let (c, _) = code(d.volume_resize(&raw, 3 << 20, VOL_RESIZE_DELTA | VOL_RESIZE_SHRINK));
    assert_eq!(c, ErrorCode::InvalidArg);
    d.volume_resize(&raw, 4 << 20, VOL_RESIZE_ALLOCATE).unwrap();
    let i = d.volume_info(&raw).unwrap();
    assert_eq!((i.capacity, i.allocation), (4 << 20, 4 << 20));
    let (c, m) = code(d.volume_resize(&q, 4 << 20, VOL_RESIZE_ALLOCATE));
    assert_eq!(c, ErrorCode::NoSupport, "{m}");
    let (c, _) = code(d.volume_resize(&q, 4 << 20, 8));
    assert_eq!(c, ErrorCode::InvalidArg);
    d.volume_resize(&q, 4 << 20, 0).unwrap();
    assert!(
        env.fake.last("qemu-img resize").starts_with("qemu-img resize -f qcow2 "),
        "{}",
        env.fake.last("qemu-img resize")
    );

    // wipe: zero keeps the size (and allocation); the other algorithms are refused by name
    let path = d.volume_path(&raw).unwrap();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().write_all(b"secret").unwrap();
    d.volume_wipe_pattern(&raw, 0, 0).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 4 << 20);
    assert!(bytes.iter().all(|b| *b == 0));
    assert!(std::fs::metadata(&path).unwrap().blocks() * 512 >= 4 << 20);
    let (c, m) = code(d.volume_wipe_pattern(&raw, 4, 0));
    assert_eq!(c, ErrorCode::NoSupport);
    assert!(m.contains("'gutmann'"), "{m}");
    let (c, _) = code(d.volume_wipe_pattern(&raw, 10, 0));
    assert_eq!(c, ErrorCode::InvalidArg);
    // a sparse file stays sparse
    let s = d
        .volume_create_xml(
            &p,
            "<volume><name>s.img</name><capacity>1048576</capacity><allocation>0</allocation></volume>",
            0,
        )
        .unwrap();
    d.volume_wipe_pattern(&s, 0, 0).unwrap();
    let m = std::fs::metadata(d.volume_path(&s).unwrap()).unwrap();
    assert_eq!((m.len(), m.blocks()), (1 << 20, 0));

    // clone: same format by default, conversion when asked; a taken name is refused
    let c1 =
        d.volume_create_xml_from(&p, "<volume><name>c1.qcow2</name><capacity>1</capacity></volume>", &q, 0).unwrap();
    assert!(
        env.fake.last("qemu-img convert").starts_with("qemu-img convert -f qcow2 -O qcow2"),
        "{}",
        env.fake.last("qemu-img convert")
    );
    assert_eq!(d.lookup_volume_by_name(&p, "c1.qcow2").unwrap(), c1);
    let c2 = d
        .volume_create_xml_from(
            &p,
            "<volume><name>c2.img</name><capacity>0</capacity><target><format type='raw'/></target></volume>",
            &q,
            0,
        )
        .unwrap();
    assert!(env.fake.last("qemu-img convert").starts_with("qemu-img convert -f qcow2 -O raw"));
    assert_eq!(d.volume_info(&c2).unwrap().capacity, 4 << 20);
    let (c, _) =
        code(d.volume_create_xml_from(&p, "<volume><name>c2.img</name><capacity>0</capacity></volume>", &q, 0));
    assert_eq!(c, ErrorCode::StorageVolExist);
    // a failed copy leaves nothing
    let gone = VolRef { pool: "p".into(), name: "nope".into(), key: "x".into() };
    assert!(d
        .volume_create_xml_from(&p, "<volume><name>c3.img</name><capacity>0</capacity></volume>", &gone, 0)
        .is_err());
    assert!(!env.path("p/c3.img").exists());
    std::fs::remove_file(d.volume_path(&q).unwrap()).unwrap();
    assert!(d.volume_create_xml_from(&p, "<volume><name>c4.img</name><capacity>0</capacity></volume>", &c1, 0).is_ok());
    env.fake.st().images.clear();
    assert!(d
        .volume_create_xml_from(&p, "<volume><name>c5.img</name><capacity>0</capacity></volume>", &c2, 0)
        .is_err());
    assert!(!env.path("p/c5.img").exists());
    assert!(d.lookup_volume_by_name(&p, "c5.img").is_err());
}
