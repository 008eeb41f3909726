//! Save images: writing a guest's migration stream to a file and restoring from it.

use super::*;

pub(super) const SAVE_MAGIC: &[u8; 16] = b"OxvirtQemuSave\n\0";

/// Save image header size; the migration stream starts here.
pub(super) const SAVE_HEADER: u64 = 64 * 1024;

impl QemuDriver {
    /// Writes the save image beside `path` and renames it into place once complete, so an
    /// interrupted save (kill -9, full disk) never leaves a torn image that a later start or
    /// restore would try to load; the temp file follows the atomic-write naming, so the next
    /// driver open removes one left in the managed-save directory.
    pub(super) fn save_to_file(&self, st: &Status, path: &Path) -> Result<()> {
        if path.file_name().is_none() {
            return Err(Error::invalid_arg(format!("save path '{}' names no file", path.display())));
        }
        // The one atomic replace (oxvirt_sysutil); its temp file is synced before the rename.
        crate::fsutil::replace_atomic(path, 0o644, |f| self.save_into(st, f, path)).map_err(|e| match e {
            crate::fsutil::AtomicError::Fill(e) => e,
            crate::fsutil::AtomicError::Io { step, source } => {
                sys_err(format!("writing save image {} ({step:?})", path.display()), &source)
            }
        })
    }

    /// Writes the header, then has QEMU migrate the guest into `f` (a temp file beside `path`).
    fn save_into(&self, st: &Status, f: &mut fs::File, path: &Path) -> Result<()> {
        let xml = st.live_xml.as_bytes();
        let mut header = Vec::with_capacity(SAVE_HEADER as usize);
        header.extend_from_slice(SAVE_MAGIC);
        let was_running = st.state == DomainState::Running as i32;
        header.extend_from_slice(&(xml.len() as u64).to_be_bytes());
        header.push(u8::from(was_running));
        header.extend_from_slice(xml);
        if header.len() as u64 > SAVE_HEADER {
            return Err(Error::internal(format!("domain XML of '{}' too large for a save image header", st.name)));
        }
        header.resize(SAVE_HEADER as usize, 0);
        f.write_all(&header).map_err(|e| sys_err(format!("writing {}", path.display()), &e))?;
        f.flush().map_err(|e| sys_err(format!("writing {}", path.display()), &e))?;
        let mut qmp = self.qmp(st)?;
        qmp.execute("stop", None).map_err(|e| qmp_err(&st.name, "pausing", e))?;
        qmp.execute_with_fd("getfd", Some(json!({"fdname": "oxvirt-save"})), f.as_fd())
            .map_err(|e| qmp_err(&st.name, "passing the save file", e))?;
        qmp.execute("migrate", Some(json!({"uri": "fd:oxvirt-save"}))).map_err(|e| qmp_err(&st.name, "saving", e))?;
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let v = qmp.execute("query-migrate", None).map_err(|e| qmp_err(&st.name, "watching the save", e))?;
            match v.get("status").and_then(|s| s.as_str()).unwrap_or("") {
                "completed" => break,
                "failed" | "cancelled" => {
                    let why = v.get("error-desc").and_then(|s| s.as_str()).unwrap_or("unknown reason").to_string();
                    if was_running {
                        let _ = qmp.execute("cont", None);
                    }
                    return Err(Error::operation_failed(format!("saving domain '{}' failed: {why}", st.name)));
                }
                _ => {}
            }
            if Instant::now() > deadline {
                let _ = qmp.execute("migrate_cancel", None);
                return Err(Error::coded(
                    ErrorCode::OperationTimeout,
                    ErrorDomain::Qemu,
                    format!("saving domain '{}'", st.name),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    pub(super) fn read_save_header(path: &Path) -> Result<(String, bool)> {
        let mut f = fs::File::open(path).map_err(|e| sys_err(format!("opening save image {}", path.display()), &e))?;
        let mut head = vec![0u8; SAVE_HEADER as usize];
        f.read_exact(&mut head).map_err(|e| sys_err(format!("reading save image {}", path.display()), &e))?;
        if &head[..16] != SAVE_MAGIC {
            return Err(Error::invalid_arg(format!("{} is not an oxvirt QEMU save image", path.display())));
        }
        let len = u64::from_be_bytes(head[16..24].try_into().unwrap_or_default()) as usize;
        let running = head[24] != 0;
        let xml = head
            .get(25..25 + len)
            .ok_or_else(|| Error::invalid_arg(format!("{} has a damaged header", path.display())))?;
        Ok((String::from_utf8_lossy(xml).into_owned(), running))
    }

    pub(super) fn incoming_from_file(&self, qmp: &mut Qmp, name: &str, path: &Path) -> Result<()> {
        let mut f = fs::File::open(path).map_err(|e| sys_err(format!("opening save image {}", path.display()), &e))?;
        f.seek(SeekFrom::Start(SAVE_HEADER)).map_err(|e| sys_err(format!("reading {}", path.display()), &e))?;
        qmp.execute_with_fd("getfd", Some(json!({"fdname": "oxvirt-restore"})), f.as_fd())
            .map_err(|e| qmp_err(name, "passing the save image", e))?;
        qmp.execute("migrate-incoming", Some(json!({"uri": "fd:oxvirt-restore"})))
            .map_err(|e| qmp_err(name, "restoring", e))?;
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let v = qmp.execute("query-migrate", None).map_err(|e| qmp_err(name, "watching the restore", e))?;
            match v.get("status").and_then(|s| s.as_str()).unwrap_or("") {
                "completed" => return Ok(()),
                "failed" | "cancelled" => {
                    return Err(Error::operation_failed(format!(
                        "restoring domain '{name}' from {} failed: {}",
                        path.display(),
                        v.get("error-desc").and_then(|s| s.as_str()).unwrap_or("unknown reason")
                    )))
                }
                _ => {}
            }
            if Instant::now() > deadline {
                return Err(Error::coded(
                    ErrorCode::OperationTimeout,
                    ErrorDomain::Qemu,
                    format!("restoring domain '{name}'"),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(super) fn do_save(&self, e: &mut Entry, path: &Path, flags_: u32) -> Result<()> {
        let st = Self::require_active(e)?;
        let mut keep = st.clone();
        if flags_ & flags::SAVE_RUNNING != 0 {
            keep.state = DomainState::Running as i32;
        } else if flags_ & flags::SAVE_PAUSED != 0 {
            keep.state = DomainState::Paused as i32;
        }
        self.save_to_file(&keep, path)?;
        self.stop_qemu(&st, false)?;
        self.events.emit(&e.reference(), DomainEventKind::Stopped, detail::STOPPED_SAVED);
        self.release_taps(&st.live_xml);
        let _ = remove_if_exists(&self.layout.status_file(&e.name)?);
        let _ = fs::remove_dir_all(self.layout.domain_run_dir(&e.name)?);
        crate::cgroup::stop_hook(&self.layout.cgroup_record(&e.name)?);
        e.status = None;
        self.record_stop(e, reason::SHUTOFF_SAVED);
        Ok(())
    }

    pub(super) fn restore(&self, path: &str, _dxml: Option<&str>, f: u32) -> Result<DomainRef> {
        let (xml, was_running) = Self::read_save_header(Path::new(path))?;
        let def = Domain::from_xml_str(&xml).map_err(|err| Error::invalid_arg(format!("save image {path}: {err}")))?;
        let _l = self.lock_domain(&def.name, "restore")?;
        let current = self.entry(&def.name)?;
        let _claim = {
            let _n = self.lock_names("restore")?;
            self.check_unique(&def)?;
            if let Some(e) = current.filter(|e| e.status.is_some()) {
                use oxvirt_api::conf::objlist::{check_not_live, ObjFacts, ObjKind};
                let facts = ObjFacts { name: &e.name, uuid: e.uuid(), active: true, persistent: e.config.is_some() };
                check_not_live(ObjKind::Domain, &facts)?;
            }
            self.claim_uuid(&def)
        };
        let persistent = self.load_config(&def.name)?.is_some();
        let paused = f & flags::SAVE_PAUSED != 0 || (!was_running && f & flags::SAVE_RUNNING == 0);
        let st = self.launch(def, !persistent, super::lifecycle::paused_if(paused), Some(Path::new(path)))?;
        Ok(DomainRef { name: st.name, uuid: st.uuid, id: st.id })
    }

    pub(super) fn managed_save(&self, d: &DomainRef, f: u32) -> Result<()> {
        let _l = self.lock_domain(&d.name, "managedsave")?;
        let mut e = self.entry_by_ref(d)?;
        if e.config.is_none() {
            return Err(op_invalid("cannot do managed save for transient domain"));
        }
        let path = self.layout.managed_save(&e.name)?;
        self.do_save(&mut e, &path, f)
    }
}
