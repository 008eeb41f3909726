//! The QEMU driver: libvirt's domain lifecycle over real QEMU processes.
//!
//! All state lives on disk (definitions, status files, run dirs) and every operation works from it
//! under its domain's inter-process lock (see "locking" below and [`crate::locks`]), so the CLI can run the driver in-process ("embedded"), exit, and
//! a later CLI call or the daemon re-attaches to the guests it left running. QEMU runs with
//! `-no-shutdown`: a guest power-off leaves QEMU alive in status `shutdown` until someone looks,
//! which is how a guest-initiated stop is told apart from a killed QEMU. Someone looks at once:
//! the daemon's watcher threads, or else the guest's own `oxvirt-monitor` ([`crate::monitor`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use oxvirt_api::{
    detail, flags, reason, stats, ConnectUri, DomainCreateFlags, DomainEventCallback, DomainEventKind, DomainInfo,
    DomainRef, DomainState, Driver, DriverFactory, Error, ErrorCode, ErrorDomain, EventBus, NodeDevRef, NodeInfo,
    Result, TypedParam,
};
use oxvirt_qmp::Qmp;
use oxvirt_xml::domain::devices::interface::{InterfaceTarget, InterfaceType, LinkState};
use oxvirt_xml::domain::{Domain, DomainType};
use oxvirt_xml::{parse_document, ParseOptions, XmlDocument};
use serde_json::json;
use uuid::Uuid;

use crate::caps::{CapsCache, QemuCaps};
use crate::command::{self, Accel, BuildEnv, TapArg};
use crate::fsutil::{remove_if_exists, write_atomic};
use crate::layout::Layout;
use crate::process::{self, QemuProcess, RunDir, SpawnSpec};
use crate::status::Status;

const LOCK_TIMEOUT: Duration = Duration::from_secs(60);
/// How long opening a root waits for other processes' operations to pause for the clean-up pass.
const ROOT_PASS_WAIT: Duration = Duration::from_secs(2);
const QMP_TIMEOUT: Duration = Duration::from_secs(10);
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound of the cache of whole parsed definitions (queries over every domain use `facts`).
const PARSED_DEFINITIONS: usize = 128;

/// Opens the QEMU driver for local `qemu:///system`, `qemu:///session` and `qemu:///embed?root=DIR`.
pub struct QemuDriverFactory;

impl DriverFactory for QemuDriverFactory {
    fn accepts(&self, uri: &ConnectUri) -> bool {
        uri.driver == "qemu" && uri.is_local() && matches!(uri.path.as_str(), "/system" | "/session" | "/embed")
    }

    fn open(&self, uri: &ConnectUri, _flags: u32) -> Result<Arc<dyn Driver>> {
        let layout = layout_for(uri)?;
        // One driver per root and process: connections share its event bus and watchers.
        let mut instances = INSTANCES.lock().unwrap_or_else(|e| e.into_inner());
        instances.retain(|_, w| w.strong_count() > 0);
        if let Some(d) = instances.get(&layout.config).and_then(|w| w.upgrade()) {
            return Ok(d);
        }
        // The network driver of the same layout (in the daemon it has autostarted its networks
        // by now, before our guests that may use them).
        let secondary = oxvirt_api::secondary_drivers_for(uri)?;
        // The clean-up pass after the network driver is known: it recounts the networks' ports.
        let d = QemuDriver::without_cleanup(uri.as_str().to_string(), layout)?.with_secondary(secondary);
        d.reconcile_root();
        let d = Arc::new(d);
        instances.insert(d.layout.config.clone(), Arc::downgrade(&d));
        drop(instances);
        if DAEMON_MODE.load(std::sync::atomic::Ordering::SeqCst) {
            d.autostart();
            QemuDriver::start_watching(&d);
        }
        Ok(d)
    }
}

/// Where the domains of a local QEMU URI live (its networks: the network driver's
/// [`secondary_for`](DriverFactory::secondary_for) the same URI).
pub(crate) fn layout_for(uri: &ConnectUri) -> Result<Layout> {
    Ok(match uri.path.as_str() {
        "/system" => Layout::system(),
        "/session" => Layout::session(),
        _ => {
            let root = uri.param("root").ok_or_else(|| {
                Error::invalid_arg("qemu:///embed needs a root directory: qemu:///embed?root=/path/to/dir")
            })?;
            if !root.starts_with('/') {
                return Err(Error::invalid_arg(format!("embed root '{root}' must be an absolute path")));
            }
            Layout::embed(Path::new(root))
        }
    })
}

static INSTANCES: Mutex<BTreeMap<PathBuf, Weak<QemuDriver>>> = Mutex::new(BTreeMap::new());
static DAEMON_MODE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this process is the daemon (see [`enable_daemon_mode`]).
pub(crate) fn daemon_mode() -> bool {
    DAEMON_MODE.load(std::sync::atomic::Ordering::SeqCst)
}

/// Declares this process long-lived (the daemon): drivers opened from now on start autostart
/// domains and watch running guests, reacting to guest power-off, crashes and pauses at once
/// and emitting lifecycle events live. Without it (the CLI) each start launches a per-guest
/// `oxvirt-monitor` process that does the same for that guest ([`crate::monitor`]).
pub fn enable_daemon_mode() {
    DAEMON_MODE.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Registers the QEMU driver with the API.
pub fn register() {
    oxvirt_api::register_driver(Arc::new(QemuDriverFactory));
}

pub struct QemuDriver {
    uri: String,
    layout: Layout,
    events: EventBus,
    caps: Mutex<Option<(PathBuf, Arc<QemuCaps>)>>,
    /// The drivers of other object families this root's connections carry: its networks,
    /// which guests join through their ports ([`oxvirt_api::NetworkPorts`]).
    secondary: oxvirt_api::SecondaryDrivers,
    /// State change locks: per domain, plus the short driver-wide one (crate::locks).
    locks: crate::locks::Locks,
    /// UUIDs (and names) of transient domains being started in this process: taken before their
    /// status file exists, so a define cannot take their UUID meanwhile.
    creating: Mutex<BTreeMap<Uuid, String>>,
    /// Set once this process watches every guest's events (the daemon): queries then read the
    /// committed state, which the watchers keep up to date, as libvirt's queries do.
    watching: std::sync::atomic::AtomicBool,
    /// UUID to name, on disk (crate::parsed::UuidIndex): a hint for lookups by UUID, always checked.
    index: crate::parsed::UuidIndex,
    /// Parsed definitions by file identity, for the calls that need a whole one (few domains at
    /// a time: a change, dumpxml, a start).
    parsed: crate::parsed::ParseCache<Domain>,
    /// What list, state, dominfo and lookups need of every definition (driver/store.rs).
    facts: crate::parsed::ParseCache<store::DefFacts>,
}

fn sys_err(what: impl std::fmt::Display, e: &std::io::Error) -> Error {
    Error::system(what, e).in_domain(ErrorDomain::Qemu)
}

fn op_invalid(msg: impl std::fmt::Display) -> Error {
    Error::operation_invalid(msg).in_domain(ErrorDomain::Qemu)
}

fn qmp_err(name: &str, what: &str, e: impl std::fmt::Display) -> Error {
    Error::operation_failed(format!("{what} of domain '{name}' over QMP: {e}")).in_domain(ErrorDomain::Qemu)
}

impl QemuDriver {
    pub fn new(uri: String, layout: Layout) -> Result<QemuDriver> {
        let d = Self::without_cleanup(uri, layout)?;
        // What an earlier process of ours left half-done (killed mid-start, mid-stop, mid-write).
        d.reconcile_root();
        Ok(d)
    }

    /// [`QemuDriver::new`] without the start-up clean-up pass, for a guest's `oxvirt-monitor`: it
    /// must not take the whole root exclusively at each start (the process that started the
    /// guest made that pass already).
    pub(crate) fn without_cleanup(uri: String, layout: Layout) -> Result<QemuDriver> {
        layout
            .create_dirs()
            .map_err(|e| sys_err(format!("creating driver directories under {}", layout.run.display()), &e))?;
        let index_dir = layout.uuid_index_dir();
        Ok(QemuDriver {
            uri,
            locks: crate::locks::Locks::new(layout.lock_file()),
            layout,
            events: EventBus::default(),
            caps: Mutex::new(None),
            secondary: oxvirt_api::SecondaryDrivers::default(),

            creating: Mutex::new(BTreeMap::new()),
            watching: std::sync::atomic::AtomicBool::new(false),
            index: crate::parsed::UuidIndex::new(index_dir),
            parsed: crate::parsed::ParseCache::new(PARSED_DEFINITIONS),
            facts: crate::parsed::ParseCache::new(65_536),
        })
    }

    /// Carries `secondary` (the network driver of this root): connections send network calls
    /// there, and guests' `type='network'` interfaces get their ports from it.
    pub fn with_secondary(mut self, secondary: oxvirt_api::SecondaryDrivers) -> QemuDriver {
        self.secondary = secondary;
        self
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }
}

type Interface = oxvirt_xml::domain::devices::interface::Interface;

/// The accelerator a definition asks for: `type='kvm'` needs KVM, `type='qemu'` is TCG.
fn accel_of(def: &Domain) -> Accel {
    match def.kind {
        DomainType::Kvm => Accel::Kvm,
        _ => Accel::Tcg,
    }
}

fn host_device(name: &str) -> Result<oxvirt_xml::nodedev::NodeDevice> {
    oxvirt_host::nodedev::find_device(name).ok_or_else(|| {
        Error::coded(
            ErrorCode::NoNodeDevice,
            ErrorDomain::Nodedev,
            format!("no node device with matching name '{name}'"),
        )
    })
}

impl Driver for QemuDriver {
    fn kind(&self) -> &'static str {
        "QEMU"
    }

    fn uri(&self) -> String {
        self.uri.clone()
    }

    fn hypervisor_version(&self) -> Result<u64> {
        let def = Domain::default();
        let emulator = self.emulator_for(&def)?;
        Ok(self.caps_for(&emulator)?.version.number())
    }

    fn hostname(&self) -> Result<String> {
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .map_err(|e| Error::system("reading the hostname", &std::io::Error::from(e)))
    }

    fn capabilities(&self) -> Result<String> {
        crate::capsxml::driver_capabilities(&self.layout.cache, |p| self.caps_for(p))
    }

    fn domain_capabilities(
        &self,
        emulator: Option<&str>,
        arch: Option<&str>,
        machine: Option<&str>,
        virttype: Option<&str>,
    ) -> Result<String> {
        crate::capsxml::driver_domain_capabilities(
            &self.layout.cache,
            |p| self.caps_for(p),
            emulator,
            arch,
            machine,
            virttype,
        )
    }

    fn node_info(&self) -> Result<NodeInfo> {
        Ok(oxvirt_host::node_info())
    }

    fn list_domains(&self, f: oxvirt_api::ConnectListAllDomainsFlags) -> Result<Vec<DomainRef>> {
        let mut out = Vec::new();
        for e in self.all_summaries()? {
            let facts = oxvirt_api::DomainListFacts {
                state: e.state().0,
                persistent: e.persistent,
                managed_save: self.layout.managed_save(&e.name)?.exists(),
                autostart: self.layout.autostart_link(&e.name)?.exists(),
                snapshots: false,
            };
            if oxvirt_api::domain_matches(f, &facts) {
                out.push(e.reference());
            }
        }
        Ok(out)
    }

    fn lookup_domain_by_name(&self, name: &str) -> Result<DomainRef> {
        if name.contains('/') {
            return Err(Error::no_domain(format!("no domain with matching name '{name}'")).in_domain(ErrorDomain::Qemu));
        }
        self.summary(name)?.map(|e| e.reference()).ok_or_else(|| {
            Error::no_domain(format!("no domain with matching name '{name}'")).in_domain(ErrorDomain::Qemu)
        })
    }

    fn lookup_domain_by_uuid(&self, uuid: &Uuid) -> Result<DomainRef> {
        // The UUID index names the domain; no other definition is read (driver/store.rs).
        self.read_by_uuid(uuid)?.map(|e| e.reference()).ok_or_else(|| {
            Error::no_domain(format!("no domain with matching uuid '{uuid}'")).in_domain(ErrorDomain::Qemu)
        })
    }

    fn lookup_domain_by_id(&self, id: i32) -> Result<DomainRef> {
        self.read_by_id(id)?
            .map(|e| e.reference())
            .ok_or_else(|| Error::no_domain(format!("no domain with matching id {id}")).in_domain(ErrorDomain::Qemu))
    }

    fn domain_define(&self, xml: &str, f: u32) -> Result<(DomainRef, Vec<String>)> {
        self.define_xml(xml, f)
    }

    fn domain_undefine(&self, d: &DomainRef, f: oxvirt_api::DomainUndefineFlags) -> Result<()> {
        self.undefine(d, f)
    }

    fn domain_create(&self, d: &DomainRef, f: DomainCreateFlags) -> Result<DomainRef> {
        self.create(d, f)
    }

    fn domain_create_xml(&self, xml: &str, f: DomainCreateFlags) -> Result<DomainRef> {
        self.create_xml(xml, f)
    }

    fn domain_shutdown(&self, d: &DomainRef, f: u32) -> Result<()> {
        self.shutdown(d, f)
    }

    fn domain_reboot(&self, d: &DomainRef, f: oxvirt_api::DomainRebootFlagValues) -> Result<()> {
        self.reboot(d, f)
    }

    fn domain_reset(&self, d: &DomainRef, f: u32) -> Result<()> {
        self.reset(d, f)
    }

    fn domain_destroy(&self, d: &DomainRef, f: u32) -> Result<()> {
        self.destroy(d, f)
    }

    fn domain_suspend(&self, d: &DomainRef) -> Result<()> {
        self.set_run_state(d, true)
    }

    fn domain_resume(&self, d: &DomainRef) -> Result<()> {
        self.set_run_state(d, false)
    }

    fn domain_save(&self, d: &DomainRef, path: &str, _dxml: Option<&str>, f: u32) -> Result<()> {
        let _l = self.lock_domain(&d.name, "save")?;
        let mut e = self.entry_by_ref(d)?;
        self.do_save(&mut e, Path::new(path), f)
    }

    fn domain_restore(&self, path: &str, dxml: Option<&str>, f: u32) -> Result<DomainRef> {
        self.restore(path, dxml, f)
    }

    fn domain_save_image_xml(&self, path: &str, _f: u32) -> Result<String> {
        Ok(Self::read_save_header(Path::new(path))?.0)
    }

    fn domain_managed_save(&self, d: &DomainRef, f: u32) -> Result<()> {
        self.managed_save(d, f)
    }

    fn domain_has_managed_save(&self, d: &DomainRef) -> Result<bool> {
        // A handle names its domain by UUID too: a stale one (undefined, or the name reused) gets
        // "no domain", not an answer about another domain.
        let e = self.read_by_ref(d)?;
        Ok(self.layout.managed_save(&e.name)?.exists())
    }

    fn domain_managed_save_remove(&self, d: &DomainRef) -> Result<()> {
        let _l = self.lock_domain(&d.name, "managedsave-remove")?;
        let e = self.entry_by_ref(d)?;
        let p = self.layout.managed_save(&e.name)?;
        remove_if_exists(&p).map_err(|err| sys_err(format!("removing {}", p.display()), &err))
    }

    fn domain_xml(&self, d: &DomainRef, f: oxvirt_api::DomainXmlFlags) -> Result<String> {
        let e = self.read_by_ref(d)?;
        match (&e.status, &e.config) {
            (Some(s), Some(c)) if f.contains(oxvirt_api::DomainXmlFlags::INACTIVE) => {
                let _ = s;
                Ok(c.to_xml_string())
            }
            (Some(s), _) => Ok(s.live_xml.clone()),
            (None, Some(c)) => Ok(c.to_xml_string()),
            (None, None) => Err(Error::no_domain(&d.name)),
        }
    }

    fn domain_info(&self, d: &DomainRef) -> Result<DomainInfo> {
        let e = self.summary_by_ref(d)?;
        let def = e.facts;
        let (state, _) = e.state();
        let mut memory = def.memory;
        let mut cpu_time = 0;
        if let Some(st) = &e.status {
            let (user, system) = proc_cpu_split_ns(st.pid);
            cpu_time = user + system;
            if let Ok(mut q) = self.qmp(st) {
                if let Ok(b) = q.execute("query-balloon", None) {
                    if let Some(actual) = b.get("actual").and_then(|a| a.as_u64()) {
                        memory = actual / 1024;
                    }
                }
            }
        }
        Ok(DomainInfo { state, max_mem: def.max_mem, memory, nr_virt_cpu: def.vcpus, cpu_time })
    }

    fn domain_state(&self, d: &DomainRef) -> Result<(DomainState, i32)> {
        let e = self.summary_by_ref(d)?;
        if e.status.is_none() && self.layout.managed_save(&e.name)?.exists() {
            return Ok((DomainState::Shutoff, reason::SHUTOFF_SAVED));
        }
        Ok(e.state())
    }

    fn domain_os_type(&self, d: &DomainRef) -> Result<String> {
        Ok(self.read_by_ref(d)?.definition()?.os_type().to_string())
    }

    fn domain_autostart(&self, d: &DomainRef) -> Result<bool> {
        let e = self.read_by_ref(d)?;
        Ok(self.layout.autostart_link(&e.name)?.exists())
    }

    fn domain_set_autostart(&self, d: &DomainRef, on: bool) -> Result<()> {
        self.set_autostart(d, on)
    }

    fn domain_is_persistent(&self, d: &DomainRef) -> Result<bool> {
        Ok(self.summary_by_ref(d)?.persistent)
    }

    fn domain_is_updated(&self, d: &DomainRef) -> Result<bool> {
        let e = self.read_by_ref(d)?;
        Ok(match (&e.status, &e.config) {
            (Some(s), Some(c)) => {
                let live = Domain::from_xml_str(&s.live_xml).ok().map(|mut l| {
                    l.id = None;
                    l
                });
                live.is_some_and(|l| l.os != c.os || l.memory != c.memory || l.vcpu != c.vcpu)
            }
            _ => false,
        })
    }

    fn domain_set_memory(&self, d: &DomainRef, kib: u64, f: oxvirt_api::DomainMemoryModFlags) -> Result<()> {
        self.set_memory(d, kib, f)
    }

    fn domain_set_vcpus(&self, d: &DomainRef, count: u32, f: oxvirt_api::DomainVcpuFlags) -> Result<()> {
        self.set_vcpus(d, count, f)
    }

    fn domain_attach_device(&self, d: &DomainRef, xml: &str, f: oxvirt_api::DomainDeviceModifyFlags) -> Result<()> {
        self.attach_device(d, xml, f)
    }

    fn domain_detach_device(&self, d: &DomainRef, xml: &str, f: oxvirt_api::DomainDeviceModifyFlags) -> Result<()> {
        self.detach_device(d, xml, f)
    }

    fn domain_interface_addresses(
        &self,
        d: &DomainRef,
        source: u32,
    ) -> Result<Vec<oxvirt_api::types::DomainInterface>> {
        self.interface_addresses(d, source)
    }

    fn domain_set_interface_parameters(
        &self,
        d: &DomainRef,
        device: &str,
        params: &[(String, TypedParam)],
        f: u32,
    ) -> Result<()> {
        self.set_interface_parameters(d, device, params, f)
    }

    fn domain_get_interface_parameters(
        &self,
        d: &DomainRef,
        device: &str,
        f: u32,
    ) -> Result<Vec<(String, TypedParam)>> {
        self.get_interface_parameters(d, device, f)
    }

    fn domain_update_device(&self, d: &DomainRef, xml: &str, f: oxvirt_api::DomainDeviceModifyFlags) -> Result<()> {
        self.update_device(d, xml, f)
    }

    fn domain_stats(&self, d: &DomainRef, groups: u32) -> Result<Vec<(String, TypedParam)>> {
        self.stats(d, groups)
    }

    fn domain_snapshot_count(&self, d: &DomainRef) -> Result<u32> {
        self.read_by_ref(d)?;
        Ok(0)
    }

    fn domain_console_path(&self, d: &DomainRef, dev: Option<&str>) -> Result<String> {
        let e = self.read_by_ref(d)?;
        let _st = Self::require_active(&e)?;
        let def = e.definition()?;
        let devices = def.devices.unwrap_or_default();
        let pick = |c: &oxvirt_xml::domain::Chardev| c.source.sources.first().and_then(|s| s.path.clone());
        let path = match dev {
            None => devices.consoles.first().and_then(pick).or_else(|| devices.serials.first().and_then(pick)),
            Some(alias) => devices
                .consoles
                .iter()
                .chain(devices.serials.iter())
                .chain(devices.channels.iter())
                .find(|c| c.alias.as_ref().is_some_and(|a| a.name == alias))
                .and_then(pick),
        };
        path.filter(|p| p.starts_with("/dev/pts/")).ok_or_else(|| {
            op_invalid(format!("domain '{}' has no console on a pty (add <console type='pty'/>)", e.name))
        })
    }

    fn secondary_drivers(&self) -> oxvirt_api::SecondaryDrivers {
        self.secondary.clone()
    }

    fn list_node_devices(&self, cap: Option<&str>) -> Result<Vec<NodeDevRef>> {
        let names = oxvirt_host::nodedev::device_names(cap)
            .map_err(|c| Error::invalid_arg(format!("unknown node device capability '{c}'")))?;
        Ok(names.into_iter().map(|name| NodeDevRef { name }).collect())
    }

    fn lookup_node_device(&self, name: &str) -> Result<NodeDevRef> {
        host_device(name).map(|d| NodeDevRef { name: d.name })
    }

    fn node_device_xml(&self, dev: &NodeDevRef) -> Result<String> {
        host_device(&dev.name).map(|d| d.to_xml_string())
    }

    fn node_device_parent(&self, dev: &NodeDevRef) -> Result<Option<String>> {
        host_device(&dev.name).map(|d| d.parent_name().map(String::from))
    }

    fn domain_event_register(&self, d: Option<&DomainRef>, cb: DomainEventCallback) -> Result<i32> {
        Ok(self.events.register(d, cb))
    }

    fn domain_event_deregister(&self, id: i32) -> Result<()> {
        self.events.deregister(id)
    }
}

mod define;
mod devices;
mod domstats;
mod lifecycle;
mod nics;
mod save;
mod store;

use self::devices::impact;
use self::domstats::proc_cpu_split_ns;
use self::store::*;

#[path = "iftune.rs"]
mod iftune;
