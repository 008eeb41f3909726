//! Domain lifecycle with libvirt's test driver semantics: which transitions are allowed, the
//! state reasons they leave, the events they send and the errors (codes and words) they give.

use std::io::{Read, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use oxvirt_api::conf::impact::{self, Impact, Target};
use oxvirt_api::conf::objlist::{self, ObjFacts, ObjKind};
use oxvirt_api::types::{detail, flags, iftune, reason};
use oxvirt_api::TypedParam;
use oxvirt_api::{
    domain_matches, DomainCreateFlags, DomainEventKind, DomainInfo, DomainListFacts, DomainRef, DomainState,
    DomainUndefineFlags, Error, ErrorCode, ErrorDomain, Result,
};
use oxvirt_api::{DomainMemoryModFlags, DomainModificationImpact, DomainRebootFlagValues, DomainVcpuFlags};
use oxvirt_xml::network::Bandwidth;
use uuid::Uuid;

use crate::domdef::{self, Def, TestExtras};
use crate::state::{DomObj, PendingEvent, State};

/// libvirt's test driver save image starts with this magic (NUL included), then the XML length
/// as a native-endian `int`, then the XML.
const SAVE_MAGIC: &[u8; 15] = b"TestGuestMagic\0";
/// The most vCPUs a test domain may have (`virConnectGetMaxVcpus`).
pub const MAX_VCPUS: u32 = 32;
/// Save images bigger than this are not ours (libvirt itself stops at 8 KiB of XML).
const MAX_SAVE_XML: usize = 16 * 1024 * 1024;

pub fn unsupported_flags(op: &str, flags: u32, allowed: u32) -> Result<()> {
    let bad = flags & !allowed;
    if bad != 0 {
        return Err(Error::new(
            ErrorCode::InvalidArg,
            ErrorDomain::Domain,
            format!("unsupported flags (0x{bad:x}) in function {op}"),
        ));
    }
    Ok(())
}

fn not_running() -> Error {
    Error::operation_invalid("domain is not running")
}

fn internal(msg: String) -> Error {
    Error::coded(ErrorCode::InternalError, ErrorDomain::Test, msg)
}

fn now_ns() -> u64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).saturating_mul(1000)
}

type Events = Vec<PendingEvent>;

fn ev(out: &mut Events, d: &DomObj, kind: DomainEventKind, det: i32) {
    out.push((d.reference(), kind, det));
}

impl State {
    /// The object behind a handle; stale handles give libvirt's "no domain with matching uuid".
    pub fn dom_idx(&self, r: &DomainRef) -> Result<usize> {
        self.dom_index_by_uuid(&r.uuid)
            .ok_or_else(|| Error::no_domain(format!("no domain with matching uuid '{}' ({})", r.uuid, r.name)))
    }

    pub fn dom(&self, r: &DomainRef) -> Result<&DomObj> {
        let i = self.dom_idx(r)?;
        Ok(&self.domains[i])
    }

    fn dom_mut(&mut self, r: &DomainRef) -> Result<&mut DomObj> {
        let i = self.dom_idx(r)?;
        Ok(&mut self.domains[i])
    }

    /// libvirt's start bookkeeping: running with `reason`, a fresh id, the persistent definition
    /// kept aside so live changes vanish at shutdown, managed save image consumed.
    fn start_state(&mut self, i: usize, state: DomainState, why: i32) {
        let id = self.alloc_id();
        let d = &mut self.domains[i];
        d.state = state;
        d.reason = why;
        d.id = id;
        if d.persistent && d.new_def.is_none() {
            d.new_def = Some(d.def.clone());
        }
        d.managed_save = false;
    }

    /// Stops domain `i`; transient domains are removed. Returns the stopped domain's handle.
    fn shutdown_state(&mut self, i: usize, why: i32, out: &mut Events, det: i32) {
        let d = &mut self.domains[i];
        if let Some(nd) = d.new_def.take() {
            d.def = nd;
        }
        d.state = DomainState::Shutoff;
        d.reason = why;
        d.id = -1;
        ev(out, d, DomainEventKind::Stopped, det);
        if !d.persistent {
            self.remove_domain(i);
        }
    }

    /// Adds or updates a definition the way `virDomainObjListAdd` does (`oxvirt_api::conf::objlist`);
    /// `live` is for create/restore. Returns the index and whether a persistent definition was replaced.
    fn add_def(&mut self, def: Def, live: bool) -> Result<(usize, bool)> {
        let uuid = def.uuid();
        if let Some(i) = self.dom_index_by_uuid(&uuid) {
            let d = &mut self.domains[i];
            objlist::check_identity(ObjKind::Domain, d.def.name(), uuid, def.name(), uuid)?;
            if live {
                let facts = ObjFacts { name: d.def.name(), uuid, active: d.is_active(), persistent: d.persistent };
                objlist::check_not_live(ObjKind::Domain, &facts)?;
            }
            let active = d.is_active();
            let replaced = objlist::assign_def(&mut d.def, &mut d.new_def, active, def, live);
            return Ok((i, replaced.is_some()));
        }
        if let Some(i) = self.dom_index_by_name(def.name()) {
            objlist::check_identity(ObjKind::Domain, def.name(), self.domains[i].def.uuid(), def.name(), uuid)?;
        }
        let i = self.push_domain(DomObj {
            def,
            new_def: None,
            id: -1,
            state: DomainState::Shutoff,
            reason: reason::UNKNOWN,
            persistent: false,
            autostart: false,
            managed_save: false,
        });
        Ok((i, false))
    }

    /// Loads one domain from a node file: running unless its `test:runstate` says otherwise.
    pub fn load_domain(&mut self, doc: &str, xml: &str, origin: (u32, u32)) -> Result<()> {
        let parsed = domdef::parse(doc, origin, xml, false)?;
        self.add_loaded_domain(parsed)
    }

    pub fn add_loaded_domain(&mut self, (def, extras, _warnings): (Def, TestExtras, Vec<String>)) -> Result<()> {
        let (i, _) = self.add_def(def, false)?;
        self.domains[i].persistent = !extras.transient;
        self.domains[i].managed_save = extras.has_managed_save;
        if extras.runstate != DomainState::Shutoff {
            self.start_state(i, DomainState::Running, reason::RUNNING_BOOTED);
            self.domains[i].managed_save = extras.has_managed_save;
        }
        // libvirt sets the file's run state with reason "unknown" after starting.
        let d = &mut self.domains[i];
        d.state = extras.runstate;
        d.reason = reason::UNKNOWN;
        if !d.state.is_active() {
            d.id = -1;
        }
        Ok(())
    }

    pub fn list_domains(&self, f: oxvirt_api::ConnectListAllDomainsFlags) -> Vec<DomainRef> {
        self.domains
            .iter()
            .filter(|d| {
                domain_matches(
                    f,
                    &DomainListFacts {
                        state: d.state,
                        persistent: d.persistent,
                        managed_save: d.managed_save,
                        autostart: d.autostart,
                        snapshots: false,
                    },
                )
            })
            .map(DomObj::reference)
            .collect()
    }

    pub fn lookup_domain_by_name(&self, name: &str) -> Result<DomainRef> {
        self.dom_index_by_name(name)
            .map(|i| self.domains[i].reference())
            .ok_or_else(|| Error::no_domain(format!("no domain with matching name '{name}'")))
    }

    pub fn lookup_domain_by_uuid(&self, uuid: &Uuid) -> Result<DomainRef> {
        self.dom_index_by_uuid(uuid)
            .map(|i| self.domains[i].reference())
            .ok_or_else(|| Error::no_domain(format!("no domain with matching uuid '{uuid}'")))
    }

    pub fn lookup_domain_by_id(&self, id: i32) -> Result<DomainRef> {
        self.domains
            .iter()
            .find(|d| d.id == id && d.is_active())
            .map(DomObj::reference)
            .ok_or_else(|| Error::no_domain(format!("no domain with matching id {id}")))
    }

    pub fn domain_define(&mut self, xml: &str, f: u32, out: &mut Events) -> Result<(DomainRef, Vec<String>)> {
        unsupported_flags("domain_define", f, flags::DEFINE_VALIDATE)?;
        let (def, _, warnings) = domdef::parse("domain definition", (1, 1), xml, f & flags::DEFINE_VALIDATE != 0)?;
        let (i, updated) = self.add_def(def, false)?;
        let d = &mut self.domains[i];
        d.persistent = true;
        let det = if updated { detail::DEFINED_UPDATED } else { detail::DEFINED_ADDED };
        ev(out, d, DomainEventKind::Defined, det);
        Ok((d.reference(), warnings))
    }

    pub fn domain_undefine(&mut self, r: &DomainRef, f: DomainUndefineFlags, out: &mut Events) -> Result<()> {
        let known = DomainUndefineFlags::MANAGED_SAVE | DomainUndefineFlags::SNAPSHOTS_METADATA;
        unsupported_flags("domain_undefine", f.bits(), known.bits())?;
        let i = self.dom_idx(r)?;
        let d = &mut self.domains[i];
        if d.managed_save && !f.contains(DomainUndefineFlags::MANAGED_SAVE) {
            return Err(Error::operation_invalid("Refusing to undefine while domain managed save image exists"));
        }
        ev(out, d, DomainEventKind::Undefined, detail::UNDEFINED_REMOVED);
        d.managed_save = false;
        if d.is_active() {
            d.persistent = false;
        } else {
            self.remove_domain(i);
        }
        Ok(())
    }

    /// Starts a defined domain. `START_PAUSED` is accepted (libvirt's test driver refuses it):
    /// the domain starts, then pauses, with both events.
    pub fn domain_create(&mut self, r: &DomainRef, f: DomainCreateFlags, out: &mut Events) -> Result<DomainRef> {
        unsupported_flags("domain_create", f.bits(), DomainCreateFlags::PAUSED.bits())?;
        let i = self.dom_idx(r)?;
        if self.domains[i].state != DomainState::Shutoff {
            return Err(internal(format!("Domain '{}' is already running", self.domains[i].def.name())));
        }
        self.start_state(i, DomainState::Running, reason::RUNNING_BOOTED);
        ev(out, &self.domains[i], DomainEventKind::Started, detail::STARTED_BOOTED);
        self.maybe_pause(i, f, out);
        Ok(self.domains[i].reference())
    }

    fn maybe_pause(&mut self, i: usize, f: DomainCreateFlags, out: &mut Events) {
        if f.contains(DomainCreateFlags::PAUSED) {
            let d = &mut self.domains[i];
            d.state = DomainState::Paused;
            d.reason = reason::PAUSED_USER;
            ev(out, d, DomainEventKind::Suspended, detail::SUSPENDED_PAUSED);
        }
    }

    pub fn domain_create_xml(&mut self, xml: &str, f: DomainCreateFlags, out: &mut Events) -> Result<DomainRef> {
        unsupported_flags(
            "domain_create_xml",
            f.bits(),
            (DomainCreateFlags::VALIDATE | DomainCreateFlags::PAUSED).bits(),
        )?;
        let (def, _, _) = domdef::parse("domain definition", (1, 1), xml, f.contains(DomainCreateFlags::VALIDATE))?;
        self.start_live(def, reason::RUNNING_BOOTED, detail::STARTED_BOOTED, f, out)
    }

    fn start_live(
        &mut self,
        def: Def,
        why: i32,
        det: i32,
        f: DomainCreateFlags,
        out: &mut Events,
    ) -> Result<DomainRef> {
        let (i, _) = self.add_def(def, true)?;
        self.start_state(i, DomainState::Running, why);
        ev(out, &self.domains[i], DomainEventKind::Started, det);
        self.maybe_pause(i, f, out);
        Ok(self.domains[i].reference())
    }

    pub fn domain_destroy(&mut self, r: &DomainRef, f: u32, out: &mut Events) -> Result<()> {
        unsupported_flags("domain_destroy", f, flags::DESTROY_GRACEFUL)?;
        let i = self.dom_idx(r)?;
        if !self.domains[i].is_active() {
            return Err(not_running());
        }
        self.shutdown_state(i, reason::SHUTOFF_DESTROYED, out, detail::STOPPED_DESTROYED);
        Ok(())
    }

    /// Applies the on_poweroff / on_reboot action: restart keeps it running (libvirt sends no event).
    fn lifecycle_action(&mut self, i: usize, keeps_running: bool, out: &mut Events) {
        if keeps_running {
            let d = &mut self.domains[i];
            d.state = DomainState::Running;
            d.reason = reason::RUNNING_BOOTED;
        } else {
            self.shutdown_state(i, reason::SHUTOFF_SHUTDOWN, out, detail::STOPPED_SHUTDOWN);
        }
    }

    pub fn domain_shutdown(&mut self, r: &DomainRef, f: u32, out: &mut Events) -> Result<()> {
        unsupported_flags("domain_shutdown", f, 0)?;
        let i = self.dom_idx(r)?;
        let d = &self.domains[i];
        if d.state == DomainState::Shutoff {
            return Err(internal(format!("domain '{}' not running", d.def.name())));
        }
        let keep = d.def.poweroff_restarts();
        self.lifecycle_action(i, keep, out);
        Ok(())
    }

    pub fn domain_reboot(&mut self, r: &DomainRef, f: DomainRebootFlagValues, out: &mut Events) -> Result<()> {
        // default, ACPI power button, guest agent, initctl, signal, paravirt
        unsupported_flags("domain_reboot", f.bits(), DomainRebootFlagValues::all().bits())?;
        let i = self.dom_idx(r)?;
        let d = &self.domains[i];
        if !d.is_active() {
            return Err(not_running());
        }
        let keep = d.def.reboot_restarts();
        self.lifecycle_action(i, keep, out);
        Ok(())
    }

    pub fn domain_reset(&mut self, r: &DomainRef, f: u32) -> Result<()> {
        unsupported_flags("domain_reset", f, 0)?;
        if !self.dom(r)?.is_active() {
            return Err(not_running());
        }
        Ok(())
    }

    pub fn domain_suspend(&mut self, r: &DomainRef, out: &mut Events) -> Result<()> {
        let d = self.dom_mut(r)?;
        if matches!(d.state, DomainState::Shutoff | DomainState::Paused) {
            return Err(internal(format!("domain '{}' not running", d.def.name())));
        }
        d.state = DomainState::Paused;
        d.reason = reason::PAUSED_USER;
        ev(out, d, DomainEventKind::Suspended, detail::SUSPENDED_PAUSED);
        Ok(())
    }

    pub fn domain_resume(&mut self, r: &DomainRef, out: &mut Events) -> Result<()> {
        let d = self.dom_mut(r)?;
        if d.state != DomainState::Paused {
            return Err(internal(format!("domain '{}' not paused", d.def.name())));
        }
        d.state = DomainState::Running;
        d.reason = reason::RUNNING_UNPAUSED;
        ev(out, d, DomainEventKind::Resumed, detail::RESUMED_UNPAUSED);
        Ok(())
    }

    pub fn domain_save(
        &mut self,
        r: &DomainRef,
        path: &str,
        dxml: Option<&str>,
        f: u32,
        out: &mut Events,
    ) -> Result<()> {
        unsupported_flags("domain_save", f, 0)?;
        if dxml.is_some() {
            return Err(Error::coded(
                ErrorCode::ArgumentUnsupported,
                ErrorDomain::Test,
                "xml modification unsupported",
            ));
        }
        let i = self.dom_idx(r)?;
        let d = &self.domains[i];
        if !d.is_active() {
            return Err(not_running());
        }
        let xml = d.def.to_xml(Some(d.id));
        write_save_image(path, d.def.name(), &xml)?;
        self.shutdown_state(i, reason::SHUTOFF_SAVED, out, detail::STOPPED_SAVED);
        Ok(())
    }

    pub fn domain_restore(&mut self, path: &str, dxml: Option<&str>, f: u32, out: &mut Events) -> Result<DomainRef> {
        unsupported_flags("domain_restore", f, 0)?;
        if dxml.is_some() {
            return Err(Error::coded(
                ErrorCode::ArgumentUnsupported,
                ErrorDomain::Test,
                "xml modification unsupported",
            ));
        }
        let xml = read_save_image(path)?;
        let (def, _, _) = domdef::parse(path, (1, 1), &xml, false)?;
        self.start_live(def, reason::RUNNING_RESTORED, detail::STARTED_RESTORED, DomainCreateFlags::empty(), out)
    }

    pub fn domain_save_image_xml(&self, path: &str, f: u32) -> Result<String> {
        // VIR_DOMAIN_SAVE_IMAGE_XML_SECURE
        unsupported_flags("domain_save_image_xml", f, 1)?;
        let xml = read_save_image(path)?;
        let (def, _, _) = domdef::parse(path, (1, 1), &xml, false)?;
        Ok(def.to_xml(None))
    }

    pub fn domain_managed_save(&mut self, r: &DomainRef, f: u32, out: &mut Events) -> Result<()> {
        // bypass cache, running, paused
        unsupported_flags("domain_managed_save", f, 1 | flags::SAVE_RUNNING | flags::SAVE_PAUSED)?;
        let i = self.dom_idx(r)?;
        let d = &self.domains[i];
        if !d.is_active() {
            return Err(not_running());
        }
        if !d.persistent {
            return Err(Error::operation_invalid("cannot do managed save for transient domain"));
        }
        self.shutdown_state(i, reason::SHUTOFF_SAVED, out, detail::STOPPED_SAVED);
        self.domains[i].managed_save = true;
        Ok(())
    }

    pub fn domain_managed_save_remove(&mut self, r: &DomainRef) -> Result<()> {
        self.dom_mut(r)?.managed_save = false;
        Ok(())
    }

    pub fn domain_xml(&self, r: &DomainRef, f: oxvirt_api::DomainXmlFlags) -> Result<String> {
        let d = self.dom(r)?;
        let inactive = f.intersects(oxvirt_api::DomainXmlFlags::INACTIVE | oxvirt_api::DomainXmlFlags::MIGRATABLE);
        let def = if inactive { d.persistent_def() } else { &d.def };
        let id = (!inactive && d.is_active()).then_some(d.id);
        Ok(def.to_xml(id))
    }

    pub fn domain_info(&self, r: &DomainRef) -> Result<DomainInfo> {
        let d = self.dom(r)?;
        Ok(DomainInfo {
            state: d.state,
            max_mem: d.def.max_mem(),
            memory: d.def.cur_mem(),
            nr_virt_cpu: d.def.vcpus(),
            cpu_time: now_ns(),
        })
    }

    /// Resolves `AFFECT_*` like every driver (`oxvirt_api::conf::impact`).
    fn modification_impact(d: &DomObj, f: DomainModificationImpact) -> Result<Impact> {
        impact::resolve(Target::Domain, f, d.is_active(), d.persistent)
    }

    pub fn domain_set_memory(&mut self, r: &DomainRef, kib: u64, f: DomainMemoryModFlags) -> Result<()> {
        let d = self.dom_mut(r)?;
        if f.contains(DomainMemoryModFlags::LIVE | DomainMemoryModFlags::CONFIG) {
            return Err(Error::invalid_arg(
                "Flags 'VIR_DOMAIN_AFFECT_LIVE' and 'VIR_DOMAIN_AFFECT_CONFIG' are mutually exclusive",
            ));
        }
        let live = Self::modification_impact(d, f.impact())?.live;
        let active = d.is_active();
        let def = if active && !live { d.new_def.as_mut().unwrap_or(&mut d.def) } else { &mut d.def };
        if f.contains(DomainMemoryModFlags::MAXIMUM) {
            if live {
                return Err(Error::operation_invalid("cannot resize the maximum memory on an active domain"));
            }
            def.set_max_mem(kib);
        } else {
            if kib > def.max_mem() {
                return Err(Error::invalid_arg("cannot set memory higher than max memory"));
            }
            def.set_cur_mem(kib);
        }
        Ok(())
    }

    pub fn domain_set_vcpus(&mut self, r: &DomainRef, count: u32, f: DomainVcpuFlags) -> Result<()> {
        // Not implemented here: GUEST and HOTPLUGGABLE.
        let implemented = DomainVcpuFlags::LIVE | DomainVcpuFlags::CONFIG | DomainVcpuFlags::MAXIMUM;
        unsupported_flags("domain_set_vcpus", f.bits(), implemented.bits())?;
        let maximum = f.contains(DomainVcpuFlags::MAXIMUM);
        if count == 0 {
            return Err(Error::invalid_arg("nvcpus in domain_set_vcpus must not be zero"));
        }
        if count > MAX_VCPUS {
            return Err(Error::invalid_arg(format!(
                "requested cpu amount exceeds maximum supported amount ({count} > {MAX_VCPUS})"
            )));
        }
        let d = self.dom_mut(r)?;
        let i = Self::modification_impact(d, f.impact())?;
        let active = d.is_active();
        let exceeds = |max: u32| Error::invalid_arg(format!("requested cpu amount exceeds maximum ({count} > {max})"));
        let set_live = active && i.live;
        let set_pers = i.config || !active;
        if set_live && d.def.max_vcpus() < count {
            return Err(exceeds(d.def.max_vcpus()));
        }
        {
            let pers = if active { d.new_def.as_ref() } else { Some(&d.def) };
            if let Some(p) = pers.filter(|_| set_pers) {
                if !maximum && p.max_vcpus() < count {
                    return Err(exceeds(p.max_vcpus()));
                }
            }
        }
        if set_live {
            d.def.set_vcpus(count);
        }
        if set_pers {
            let pers = if active { d.new_def.as_mut() } else { Some(&mut d.def) };
            if let Some(p) = pers {
                if maximum {
                    p.set_max_vcpus(count);
                } else {
                    p.set_vcpus(count);
                }
            }
        }
        Ok(())
    }

    pub fn domain_set_autostart(&mut self, r: &DomainRef, on: bool) -> Result<()> {
        self.dom_mut(r)?.autostart = on;
        Ok(())
    }

    /// libvirt's `virDomainObjGetOneDef`: whether the call is about the live definition.
    fn one_def_is_live(d: &DomObj, f: u32) -> Result<bool> {
        impact::resolve_one(DomainModificationImpact::from_bits_truncate(f), d.is_active(), d.persistent)
    }

    pub fn domain_set_interface_parameters(
        &mut self,
        r: &DomainRef,
        device: &str,
        params: &[(String, TypedParam)],
        f: u32,
    ) -> Result<()> {
        unsupported_flags("testDomainSetInterfaceParameters", f, impact::AFFECT_LIVE | impact::AFFECT_CONFIG)?;
        let set = iftune::parse(params)?;
        let d = self.dom_mut(r)?;
        let live = Self::one_def_is_live(d, f)?;
        let def = if live || !d.is_active() { &mut d.def } else { d.new_def.as_mut().unwrap_or(&mut d.def) };
        let n = iftune::find_interface(&mut def.dom, device)?;
        n.bandwidth = Bandwidth::tuned(n.bandwidth.as_ref(), &set);
        Ok(())
    }

    pub fn domain_get_interface_parameters(
        &self,
        r: &DomainRef,
        device: &str,
        f: u32,
    ) -> Result<Vec<(String, TypedParam)>> {
        unsupported_flags(
            "testDomainGetInterfaceParameters",
            f,
            impact::AFFECT_LIVE | impact::AFFECT_CONFIG | iftune::TYPED_PARAM_STRING_OKAY,
        )?;
        let d = self.dom(r)?;
        let live = Self::one_def_is_live(d, f)?;
        let mut dom = if live { d.def.dom.clone() } else { d.persistent_def().dom.clone() };
        let n = iftune::find_interface(&mut dom, device)?;
        Ok(iftune::params(Bandwidth::tune_values(n.bandwidth.as_ref())))
    }
}

/// Writes a save image atomically (`oxvirt_sysutil::replace_atomic`), with libvirt's messages.
fn write_save_image(path: &str, name: &str, xml: &str) -> Result<()> {
    use oxvirt_sysutil::{AtomicError, AtomicStep};
    let fail = |what: &str, e: &std::io::Error| Error::system(format!("saving domain '{name}' to '{path}': {what}"), e);
    let len =
        i32::try_from(xml.len()).map_err(|_| Error::internal(format!("saving domain '{name}': XML too large")))?;
    if Path::new(path).file_name().is_none() {
        return Err(Error::invalid_arg(format!("'{path}' is not a file path")));
    }
    oxvirt_sysutil::replace_atomic(Path::new(path), 0o600, |f| {
        f.write_all(SAVE_MAGIC)?;
        f.write_all(&len.to_ne_bytes())?;
        f.write_all(xml.as_bytes())
    })
    .map_err(|e| match e {
        AtomicError::Fill(e) => fail("write failed", &e),
        AtomicError::Io { step: AtomicStep::Open, source } => fail("open failed", &source),
        AtomicError::Io { step: AtomicStep::Sync, source } => fail("fsync failed", &source),
        AtomicError::Io { step: AtomicStep::Rename, source } => fail("rename failed", &source),
    })
}

fn read_save_image(path: &str) -> Result<String> {
    let mut f =
        std::fs::File::open(path).map_err(|e| Error::system(format!("cannot read domain image '{path}'"), &e))?;
    let mut magic = [0u8; 15];
    f.read_exact(&mut magic).map_err(|e| Error::system(format!("incomplete save header in '{path}'"), &e))?;
    if &magic != SAVE_MAGIC {
        return Err(internal("mismatched header magic".into()));
    }
    let mut len = [0u8; 4];
    f.read_exact(&mut len).map_err(|e| Error::system(format!("failed to read metadata length in '{path}'"), &e))?;
    let len = i32::from_ne_bytes(len);
    let len = usize::try_from(len)
        .ok()
        .filter(|l| (1..=MAX_SAVE_XML).contains(l))
        .ok_or_else(|| internal("length of metadata out of range".into()))?;
    let mut buf = vec![0u8; len];
    f.read_exact(&mut buf).map_err(|e| Error::system(format!("incomplete metadata in '{path}'"), &e))?;
    String::from_utf8(buf).map_err(|_| internal(format!("save image '{path}' holds invalid UTF-8")))
}
