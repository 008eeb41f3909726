//! Access checks against real files with chosen modes, for the user `nobody`.

use super::*;
use oxvirt_xml::XmlDocument;
use std::os::unix::fs::PermissionsExt;

fn nobody() -> QemuUser {
    QemuUser::lookup("nobody").unwrap().expect("user nobody")
}

fn file(dir: &Path, name: &str, mode: u32) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, b"x").unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    p
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root (file owners and ACLs for other users) (make test)")]
fn modes_owners_groups_and_directories() {
    let u = nobody();
    let d = tempfile::tempdir().unwrap();
    chmod(d.path(), 0o755);
    let ro = file(d.path(), "ro.img", 0o644);
    assert_eq!(access_problem(&u, &ro, Access::Read), None);
    let why = access_problem(&u, &ro, Access::ReadWrite).unwrap();
    assert_eq!(why, "the file is mode 0644 owned by root:root (read and write permission missing)");
    let private = file(d.path(), "p.img", 0o600);
    assert!(access_problem(&u, &private, Access::Read)
        .unwrap()
        .contains("mode 0600 owned by root:root (read permission missing)"));

    // Owner bits apply to the owner even when "other" would allow more.
    let owned = file(d.path(), "own.img", 0o066);
    nix::unistd::chown(&owned, Some(Uid::from_raw(u.uid)), None).unwrap();
    assert!(access_problem(&u, &owned, Access::Read).is_some());
    chmod(&owned, 0o600);
    assert_eq!(access_problem(&u, &owned, Access::ReadWrite), None);
    // Group bits through the primary group.
    let grp = file(d.path(), "g.img", 0o660);
    nix::unistd::chown(&grp, None, Some(Gid::from_raw(u.gid))).unwrap();
    assert_eq!(access_problem(&u, &grp, Access::ReadWrite), None);

    // A closed directory on the way is named, with its mode and owner.
    let sub = d.path().join("closed");
    fs::create_dir(&sub).unwrap();
    let inner = file(&sub, "img.qcow2", 0o644);
    chmod(&sub, 0o700);
    let why = access_problem(&u, &inner, Access::Read).unwrap();
    assert_eq!(why, format!("{} is mode 0700 owned by root:root (search (x) permission missing)", sub.display()));
    chmod(&sub, 0o711);
    assert_eq!(access_problem(&u, &inner, Access::Read), None);

    // Through a symlink, the target's directories count too.
    chmod(&sub, 0o700);
    let link = d.path().join("link.img");
    std::os::unix::fs::symlink(&inner, &link).unwrap();
    assert!(access_problem(&u, &link, Access::Read).unwrap().contains("closed is mode 0700"));

    // Missing files are left to QEMU's own error.
    assert_eq!(access_problem(&u, &d.path().join("missing"), Access::Read), None);
}

#[test]
fn acl_algorithm() {
    let u = QemuUser { name: "q".into(), uid: 500, gid: 500, groups: vec![500, 36] };
    let base = [(ACL_USER_OBJ, 6, u32::MAX), (ACL_GROUP_OBJ, 0, u32::MAX), (ACL_OTHER, 0, u32::MAX)];
    assert!(!acl_allows(&base, &u, 0, 0, 4));
    let mut named = base.to_vec();
    named.extend([(ACL_USER, 4, 500), (ACL_MASK, 7, u32::MAX)]);
    assert!(acl_allows(&named, &u, 0, 0, 4));
    assert!(!acl_allows(&named, &u, 0, 0, 6));
    // The mask limits named entries.
    let masked: Vec<_> = named.iter().map(|e| if e.0 == ACL_MASK { (ACL_MASK, 0, u32::MAX) } else { *e }).collect();
    assert!(!acl_allows(&masked, &u, 0, 0, 4));
    // A named group the user is in.
    let mut g = base.to_vec();
    g.extend([(ACL_GROUP, 5, 36), (ACL_MASK, 7, u32::MAX)]);
    assert!(acl_allows(&g, &u, 0, 0, 1));
    // A matching group entry without the bit denies even if "other" would allow.
    let mut deny = base.to_vec();
    deny[2] = (ACL_OTHER, 7, u32::MAX);
    deny.push((ACL_GROUP, 0, 36));
    assert!(!acl_allows(&deny, &u, 0, 0, 4));
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root (file owners and ACLs for other users) (make test)")]
fn real_acl_on_a_directory() {
    // `setfacl -m u:nobody:x DIR` written as the raw xattr (no acl tools on this host).
    let u = nobody();
    let d = tempfile::tempdir().unwrap();
    let sub = d.path().join("acl");
    fs::create_dir(&sub).unwrap();
    let f = file(&sub, "img", 0o644);
    chmod(&sub, 0o700);
    chmod(d.path(), 0o755);
    assert!(access_problem(&u, &f, Access::Read).is_some());
    let mut x = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (ACL_USER_OBJ, 7u16, u32::MAX),
        (ACL_USER, 1, u.uid),
        (ACL_GROUP_OBJ, 0, u32::MAX),
        (ACL_MASK, 1, u32::MAX),
        (ACL_OTHER, 0, u32::MAX),
    ] {
        x.extend(tag.to_le_bytes());
        x.extend(perm.to_le_bytes());
        x.extend(id.to_le_bytes());
    }
    let c = CString::new(sub.as_os_str().as_bytes()).unwrap();
    // SAFETY: valid NUL-terminated strings and a buffer of the given length.
    let r = unsafe { libc::setxattr(c.as_ptr(), c"system.posix_acl_access".as_ptr(), x.as_ptr().cast(), x.len(), 0) };
    if r != 0 {
        let e = io::Error::last_os_error();
        assert_eq!(e.raw_os_error(), Some(libc::EOPNOTSUPP), "setxattr: {e}");
        eprintln!("file system without POSIX ACLs; ACL algorithm covered by acl_algorithm");
        return;
    }
    assert_eq!(access_problem(&u, &f, Access::Read), None);
}

fn def_with(dir: &Path) -> Domain {
    let xml = format!(
        "<domain type='qemu'><name>s</name><memory>1024</memory><vcpu>1</vcpu>
  <os><type>hvm</type><kernel>{d}/k</kernel><initrd>{d}/i</initrd><nvram>{d}/nv.fd</nvram></os>
  <devices>
    <disk type='file' device='disk'><source file='{d}/rw.qcow2'/><target dev='vda'/></disk>
    <disk type='file' device='cdrom'><source file='{d}/cd.iso'/><target dev='hdc'/><readonly/></disk>
    <disk type='network' device='disk'><source protocol='nbd' name='x'><host name='h'/></source><target dev='vdb'/></disk>
    <serial type='file'><source path='{d}/serial.log'/><target port='0'/></serial>
  </devices></domain>",
        d = dir.display()
    );
    Domain::from_xml_str(&xml).unwrap()
}

#[test]
fn needs_of_a_definition() {
    let d = def_with(Path::new("/x"));
    let needs: Vec<(String, Access, bool)> =
        file_needs(&d).into_iter().map(|n| (n.path.display().to_string(), n.access, n.after_drop)).collect();
    assert_eq!(
        needs,
        [
            ("/x/k".to_string(), Access::Read, false),
            ("/x/i".to_string(), Access::Read, false),
            ("/x/nv.fd".to_string(), Access::ReadWrite, true),
            ("/x/rw.qcow2".to_string(), Access::ReadWrite, true),
            ("/x/cd.iso".to_string(), Access::Read, true),
            ("/x/serial.log".to_string(), Access::ReadWrite, false),
        ]
    );
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root (file owners and ACLs for other users) (make test)")]
fn check_files_errors_and_warnings() {
    let u = nobody();
    let d = tempfile::tempdir().unwrap();
    chmod(d.path(), 0o755);
    for (n, m) in
        [("k", 0o600), ("i", 0o644), ("nv.fd", 0o666), ("rw.qcow2", 0o666), ("cd.iso", 0o644), ("serial.log", 0o600)]
    {
        file(d.path(), n, m);
    }
    let def = def_with(d.path());
    let warnings = check_files(&def, &u).unwrap();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].contains("cannot read")
            && warnings[0].contains("/k (kernel)")
            && warnings[0].contains("before dropping"),
        "{}",
        warnings[0]
    );

    chmod(&d.path().join("rw.qcow2"), 0o644);
    let e = check_files(&def, &u).unwrap_err().to_string();
    let expect = format!(
        "QEMU will run as user 'nobody' (uid {}), which cannot read and write {}/rw.qcow2 (disk 'vda'): the file is mode 0644 owned by root:root (read and write permission missing)",
        u.uid,
        d.path().display()
    );
    assert!(e.starts_with(&expect), "{e}");
    assert!(e.contains("does not change the ownership") && e.contains("OXVIRT_QEMU_USER=root"), "{e}");
    assert!(!e.contains("/k "), "init-only files are not errors: {e}");
}

#[test]
fn user_for_the_drop() {
    let u = QemuUser { name: "oxvirt-qemu".into(), uid: 998, gid: 998, groups: vec![998] };
    assert_eq!(RunAs::User(u).user_name().as_deref(), Some("oxvirt-qemu"));
    assert_eq!(RunAs::Same.user_name(), None);
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs root (file owners and ACLs for other users) (make test)")]
fn nvram_copies_are_given_to_the_user() {
    let u = nobody();
    let d = tempfile::tempdir().unwrap();
    let nvdir = d.path().join("nvram");
    fs::create_dir(&nvdir).unwrap();
    let nv = file(&nvdir, "s_VARS.fd", 0o600);
    let def = Domain::from_xml_str(&format!(
        "<domain type='qemu'><name>s</name><memory>1024</memory><vcpu>1</vcpu><os><type>hvm</type><nvram>{}</nvram></os></domain>",
        nv.display()
    ))
    .unwrap();
    prepare_owned_files(&def, &u, &nvdir).unwrap();
    assert_eq!(fs::metadata(&nv).unwrap().uid(), u.uid);
    // Elsewhere: never chowned.
    let other = file(d.path(), "mine.fd", 0o600);
    let def2 =
        Domain::from_xml_str(&def.to_xml_string().replace(&nv.display().to_string(), &other.display().to_string()))
            .unwrap();
    prepare_owned_files(&def2, &u, &nvdir).unwrap();
    assert_eq!(fs::metadata(&other).unwrap().uid(), 0);
}
