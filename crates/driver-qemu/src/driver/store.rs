//! On-disk domain state: definitions, status and stop-reason files, the parse cache and the UUID
//! index. A lookup by name reads that name's files, one by UUID its index entry and then that
//! name's files, one by id the status files of running domains: none reads every definition.

use super::*;

// ---- locking (crate::locks) ---------------------------------------------------------------
//
// A state change of a domain (start, stop, save, define, undefine, device and setting changes)
// holds that domain's lock for its whole length, and only that one: other domains and queries
// go on meanwhile. Short driver-wide sections (allocating an id, checking a name/UUID is free
// and claiming it) take the names lock inside a domain lock, never the other way round, and
// never across a QEMU start.
//
// Queries (lookups, list, dominfo, dumpxml, domstate...) never wait, as in libvirt, where
// queries run during a job: a domain nobody is changing is brought up to date with its QEMU
// under its lock, taken without waiting; one busy with a change (or a query re-attaching to
// it) is read as last committed on disk — a domain being started reads shut off until its
// status file is written, one being destroyed running until it is removed. In the daemon,
// whose watchers bring a domain up to date on each QEMU event (and when QEMU goes), queries
// read the committed state without asking QEMU at all, as libvirt's do.

/// What is known of one domain after re-attaching: its persistent definition and its live status.
pub(super) struct Entry {
    pub(super) name: String,
    pub(super) config: Option<Domain>,
    pub(super) status: Option<Status>,
    /// Why it last stopped (a shut-off reason), kept while inactive as libvirt reports it.
    pub(super) stop_reason: i32,
}

impl Entry {
    pub(super) fn uuid(&self) -> Uuid {
        self.status.as_ref().map(|s| s.uuid).or_else(|| self.config.as_ref().and_then(|c| c.uuid)).unwrap_or_default()
    }
    pub(super) fn reference(&self) -> DomainRef {
        DomainRef { name: self.name.clone(), uuid: self.uuid(), id: self.status.as_ref().map_or(-1, |s| s.id) }
    }
    pub(super) fn state(&self) -> (DomainState, i32) {
        match &self.status {
            Some(s) => (DomainState::from_i32(s.state).unwrap_or(DomainState::NoState), s.reason),
            None => (DomainState::Shutoff, self.stop_reason),
        }
    }
    /// The definition in force: live when running, else persistent.
    pub(super) fn definition(&self) -> Result<Domain> {
        if let Some(s) = &self.status {
            return Domain::from_xml_str(&s.live_xml)
                .map_err(|e| Error::internal(format!("status of domain '{}' holds bad XML: {e}", self.name)));
        }
        self.config.clone().ok_or_else(|| Error::no_domain(format!("no domain with matching name '{}'", self.name)))
    }
}

/// The few facts of a definition that queries over many domains need (list, state, dominfo,
/// lookups), cached per file version for every domain instead of the whole parsed definition.
#[derive(Debug, Clone, Copy)]
pub(super) struct DefFacts {
    pub(super) uuid: Uuid,
    pub(super) max_mem: u64,
    pub(super) memory: u64,
    pub(super) vcpus: u32,
}

impl DefFacts {
    pub(super) fn of(def: &Domain) -> DefFacts {
        DefFacts {
            uuid: def.uuid.unwrap_or_default(),
            max_mem: def.memory_kib(),
            memory: def.current_memory_kib(),
            vcpus: def.vcpus_current(),
        }
    }
}

/// A domain as a query sees it (see `read_entry`) without its definitions: for a shut-off domain
/// only [`DefFacts`] are read; a running one is read in full (its status is what counts).
pub(super) struct Summary {
    pub(super) name: String,
    pub(super) uuid: Uuid,
    pub(super) persistent: bool,
    pub(super) status: Option<Status>,
    pub(super) stop_reason: i32,
    /// Of the definition in force (the live one while running).
    pub(super) facts: DefFacts,
}

impl Summary {
    fn of(e: Entry) -> Result<Summary> {
        let facts = DefFacts::of(&e.definition()?);
        Ok(Summary {
            uuid: e.uuid(),
            persistent: e.config.is_some(),
            facts,
            name: e.name,
            status: e.status,
            stop_reason: e.stop_reason,
        })
    }
    pub(super) fn reference(&self) -> DomainRef {
        DomainRef { name: self.name.clone(), uuid: self.uuid, id: self.status.as_ref().map_or(-1, |s| s.id) }
    }
    pub(super) fn state(&self) -> (DomainState, i32) {
        match &self.status {
            Some(s) => (DomainState::from_i32(s.state).unwrap_or(DomainState::NoState), s.reason),
            None => (DomainState::Shutoff, self.stop_reason),
        }
    }
}

/// A UUID claimed by a start in progress; given back when the start ends either way.
pub(super) struct UuidClaim<'a> {
    creating: &'a Mutex<BTreeMap<Uuid, String>>,
    uuid: Uuid,
}

impl Drop for UuidClaim<'_> {
    fn drop(&mut self) {
        self.creating.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.uuid);
    }
}

impl QemuDriver {
    /// Takes `name`'s state change lock for `op` (waiting in turn, at most LOCK_TIMEOUT).
    pub(super) fn lock_domain(&self, name: &str, op: &str) -> Result<crate::locks::Guard<'_>> {
        let path = self.layout.domain_lock_file(name)?;
        Ok(self.locks.acquire(&path, &format!("domain '{name}'"), op, LOCK_TIMEOUT)?)
    }

    /// The driver-wide lock of the short sections above, inside a domain lock.
    pub(super) fn lock_names(&self, op: &str) -> Result<crate::locks::Guard<'_>> {
        Ok(self.locks.acquire(&self.layout.names_lock_file(), "the domain names and ids", op, LOCK_TIMEOUT)?)
    }

    /// What a query sees of `name` (see above): up to date if its lock is free now, else as last
    /// committed.
    pub(super) fn read_entry(&self, name: &str) -> Result<Option<Entry>> {
        if self.watching.load(std::sync::atomic::Ordering::Relaxed) {
            return self.raw_entry(name);
        }
        let path = self.layout.domain_lock_file(name)?;
        match self.locks.try_acquire(&path, &format!("domain '{name}'"), "query")? {
            Some(_g) => self.entry(name),
            None => self.raw_entry(name),
        }
    }

    /// Holds `def`'s UUID for it while it starts without a status file yet (see `creating`);
    /// the caller holds the names lock and has checked the UUID is free.
    pub(super) fn claim_uuid(&self, def: &Domain) -> UuidClaim<'_> {
        let uuid = def.uuid.unwrap_or_default();
        if !uuid.is_nil() {
            self.creating.lock().unwrap_or_else(|e| e.into_inner()).insert(uuid, def.name.clone());
        }
        UuidClaim { creating: &self.creating, uuid }
    }

    /// Records `name`'s UUID in the index; a failure is logged and costs only a later scan.
    pub(super) fn index_uuid(&self, uuid: &Uuid, name: &str) {
        if let Err(e) = self.index.put(uuid, name) {
            tracing::warn!("recording domain '{name}' in the UUID index {}: {e}", self.index.dir().display());
        }
    }

    /// Brings the UUID index up to date with the files on disk, once per process (see
    /// [`crate::parsed::UuidIndex`]): names with no entry (an old layout without an index, a lost
    /// write, a file copied in) are read — only those — and entered; entries whose name has no
    /// file go.
    fn complete_index(&self) {
        if !self.index.needs_scan() {
            return;
        }
        let on_disk = self.names();
        let entries = self.index.entries();
        let indexed: BTreeSet<&str> = entries.iter().map(|(_, n)| n.as_str()).collect();
        for n in on_disk.iter().filter(|n| !indexed.contains(n.as_str())) {
            match self.raw_entry(n) {
                Ok(Some(e)) => self.index_uuid(&e.uuid(), n),
                Ok(None) => {}
                Err(err) => tracing::error!("skipping domain '{n}': {err}"),
            }
        }
        for (uuid, n) in entries.iter().filter(|(_, n)| !on_disk.contains(n)) {
            self.index.remove(uuid, n);
        }
        self.index.scanned();
    }

    /// The domain with `uuid`, the query way (see `read_entry`): the one its index entry names if
    /// that domain has the UUID, else whatever a scan of names (`complete_index`) finds.
    pub(super) fn read_by_uuid(&self, uuid: &Uuid) -> Result<Option<Summary>> {
        for scan in [true, false] {
            if let Some(name) = self.index.get(uuid) {
                match self.summary(&name) {
                    Ok(Some(e)) if e.uuid == *uuid => return Ok(Some(e)),
                    // A stale entry (the name now has another UUID): that UUID is entered at least.
                    Ok(Some(e)) => self.index_uuid(&e.uuid, &e.name),
                    Ok(None) => {}
                    // One broken definition must not hide every other domain (libvirt skips it too).
                    Err(e) => tracing::error!("skipping domain '{name}': {e}"),
                }
            }
            if scan {
                self.complete_index();
            }
        }
        Ok(None)
    }

    /// The running domain with `id`, the query way: only status files are read (every running
    /// domain has one; nothing else has an id).
    pub(super) fn read_by_id(&self, id: i32) -> Result<Option<Entry>> {
        let Ok(rd) = fs::read_dir(self.layout.status_dir()) else { return Ok(None) };
        for f in rd.flatten() {
            let Some(st) = Status::load(&f.path()).filter(|s| s.id == id) else { continue };
            if let Some(e) = self.read_entry(&st.name)?.filter(|e| e.status.as_ref().is_some_and(|s| s.id == id)) {
                return Ok(Some(e));
            }
        }
        Ok(None)
    }

    /// [`Self::entry_by_ref`] for queries.
    pub(super) fn read_by_ref(&self, d: &DomainRef) -> Result<Entry> {
        match self.read_entry(&d.name)? {
            Some(e) if e.uuid() == d.uuid || d.uuid.is_nil() => Ok(e),
            _ => Err(Error::no_domain(format!("no domain with matching uuid '{}' ({})", d.uuid, d.name))
                .in_domain(ErrorDomain::Qemu)),
        }
    }

    pub(super) fn load_config(&self, name: &str) -> Result<Option<Domain>> {
        let path = self.layout.config_file(name)?;
        // Parsed once per version of the file (crate::parsed).
        let key = crate::parsed::FileKey::of(&path);
        if let Some(def) = key.and_then(|k| self.parsed.get(&path, k)) {
            return Ok(Some(def));
        }
        // Bounded read: a huge file is an error naming it, not a slow parse of every call.
        match oxvirt_xml::limits::read_file(&path, &oxvirt_xml::limits::Limits::DEFINITION) {
            Ok(text) => {
                let def = Domain::from_xml_str(&text)
                    .map_err(|e| Error::internal(format!("definition {} is not valid: {e}", path.display())))?;
                if let Some(k) = key.filter(|k| crate::parsed::FileKey::of(&path) == Some(*k)) {
                    self.parsed.put(&path, k, def.clone());
                }
                Ok(Some(def))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(sys_err(format!("reading {}", path.display()), &e)),
        }
    }

    /// [`DefFacts`] of `name`'s persistent definition, parsed once per version of the file; the
    /// parsed definition itself is not kept (most domains are only ever listed).
    pub(super) fn config_facts(&self, name: &str) -> Result<Option<DefFacts>> {
        let path = self.layout.config_file(name)?;
        let key = crate::parsed::FileKey::of(&path);
        if let Some(f) = key.and_then(|k| self.facts.get(&path, k)) {
            return Ok(Some(f));
        }
        if let Some(def) = key.and_then(|k| self.parsed.get(&path, k)) {
            return Ok(Some(DefFacts::of(&def)));
        }
        match oxvirt_xml::limits::read_file(&path, &oxvirt_xml::limits::Limits::DEFINITION) {
            Ok(text) => {
                let def = Domain::from_xml_str(&text)
                    .map_err(|e| Error::internal(format!("definition {} is not valid: {e}", path.display())))?;
                let f = DefFacts::of(&def);
                if let Some(k) = key.filter(|k| crate::parsed::FileKey::of(&path) == Some(*k)) {
                    self.facts.put(&path, k, f);
                }
                Ok(Some(f))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(sys_err(format!("reading {}", path.display()), &e)),
        }
    }

    /// `name` the query way (see `read_entry`), as a [`Summary`]: a shut-off domain costs a few
    /// file checks and its cached facts, a running one a full read.
    pub(super) fn summary(&self, name: &str) -> Result<Option<Summary>> {
        let status = self.layout.status_file(name)?;
        if fs::symlink_metadata(&status).is_err() {
            if let Some(facts) = self.config_facts(name)? {
                let stop_reason = fs::read_to_string(self.layout.stop_reason_file(name)?)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(reason::UNKNOWN);
                return Ok(Some(Summary {
                    name: name.to_string(),
                    uuid: facts.uuid,
                    persistent: true,
                    status: None,
                    stop_reason,
                    facts,
                }));
            }
        }
        // Running, being started (no definition yet), or gone.
        self.read_entry(name)?.map(Summary::of).transpose()
    }

    /// [`Self::read_by_ref`] as a [`Summary`].
    pub(super) fn summary_by_ref(&self, d: &DomainRef) -> Result<Summary> {
        match self.summary(&d.name)? {
            Some(e) if e.uuid == d.uuid || d.uuid.is_nil() => Ok(e),
            _ => Err(Error::no_domain(format!("no domain with matching uuid '{}' ({})", d.uuid, d.name))
                .in_domain(ErrorDomain::Qemu)),
        }
    }

    pub(super) fn store_config(&self, def: &Domain) -> Result<()> {
        let path = self.layout.config_file(&def.name)?;
        write_atomic(&path, def.to_xml_string().as_bytes(), 0o600)
            .map_err(|e| sys_err(format!("writing {}", path.display()), &e))?;
        self.index_uuid(&def.uuid.unwrap_or_default(), &def.name);
        Ok(())
    }

    pub(super) fn store_status(&self, st: &Status) -> Result<()> {
        let path = self.layout.status_file(&st.name)?;
        st.store(&path).map_err(|e| sys_err(format!("writing {}", path.display()), &e))?;
        self.index_uuid(&st.uuid, &st.name);
        Ok(())
    }

    /// Names of the domains with a definition or a status file. A file whose name is not a usable
    /// domain name (see [`crate::layout::component`]) is no domain.
    pub(super) fn names(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for (dir, suffix) in [(self.layout.config.clone(), ".xml"), (self.layout.status_dir(), ".status")] {
            if let Ok(rd) = fs::read_dir(&dir) {
                for e in rd.flatten() {
                    let file = e.file_name();
                    let Some(name) = file.to_str().and_then(|f| f.strip_suffix(suffix)) else { continue };
                    if crate::layout::component(name).is_ok() && e.path().is_file() {
                        names.insert(name.to_string());
                    }
                }
            }
        }
        names
    }

    /// Loads a domain and brings its status up to date with reality (re-attach).
    pub(super) fn entry(&self, name: &str) -> Result<Option<Entry>> {
        match self.raw_entry(name)? {
            Some(e) => self.reconciled(e),
            None => {
                // Nothing on disk, but a start of it may have been cut short (transient domain).
                self.reap_leftovers(name);
                Ok(None)
            }
        }
    }

    /// What is on disk about a domain, before re-attaching to its QEMU. A status file that cannot
    /// be used (not ours, unparseable) is logged, naming it, and counts as absent.
    pub(super) fn raw_entry(&self, name: &str) -> Result<Option<Entry>> {
        let config = self.load_config(name)?;
        let status = Status::load_named(&self.layout.status_file(name)?, name).unwrap_or_else(|e| {
            tracing::error!("{e}");
            None
        });
        if config.is_none() && status.is_none() {
            return Ok(None);
        }
        let stop_reason = fs::read_to_string(self.layout.stop_reason_file(name)?)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(reason::UNKNOWN);
        Ok(Some(Entry { name: name.to_string(), config, status, stop_reason }))
    }

    pub(super) fn reconciled(&self, mut e: Entry) -> Result<Option<Entry>> {
        self.reconcile(&mut e)?;
        if e.config.is_none() && e.status.is_none() {
            return Ok(None);
        }
        Ok(Some(e))
    }

    pub(super) fn entry_by_ref(&self, d: &DomainRef) -> Result<Entry> {
        match self.entry(&d.name)? {
            Some(e) if e.uuid() == d.uuid || d.uuid.is_nil() => Ok(e),
            _ => Err(Error::no_domain(format!("no domain with matching uuid '{}' ({})", d.uuid, d.name))
                .in_domain(ErrorDomain::Qemu)),
        }
    }

    /// Every domain, the query way (see `read_entry`), as summaries.
    pub(super) fn all_summaries(&self) -> Result<Vec<Summary>> {
        let mut out = Vec::new();
        for n in self.names() {
            match self.summary(&n) {
                Ok(Some(e)) => {
                    // Listing heals the index too (a definition copied in while this process ran).
                    if self.index.get(&e.uuid).as_deref() != Some(n.as_str()) {
                        self.index_uuid(&e.uuid, &n);
                    }
                    out.push(e)
                }
                Ok(None) => {}
                Err(e) => tracing::error!("skipping domain '{n}': {e}"),
            }
        }
        Ok(out)
    }
}
