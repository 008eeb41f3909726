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
    detail, flags, reason, stats, ConnectUri, DomainEventCallback, DomainEventKind, DomainInfo, DomainRef,
    DomainState, Driver, DriverFactory, Error, ErrorCode, ErrorDomain, EventBus, NodeDevRef, NodeInfo, Result, TypedParam,
};
use oxvirt_qmp::Qmp;
use oxvirt_xml::domain::devices::interface::{InterfaceTarget, InterfaceType, LinkState};
use oxvirt_xml::domain::Domain;
use oxvirt_xml::{parse_document, ParseOptions, XmlDocument};
use serde_json::json;
use uuid::Uuid;

use crate::caps::{CapsCache, QemuCaps};
use crate::command::{self, Accel, BuildEnv, TapArg};
use crate::fsutil::{remove_if_exists, write_atomic};
use crate::layout::Layout;
use crate::process::{self, QemuProcess, RunDir, SpawnSpec};
use crate::status::Status;
use oxvirt_network::{NetLayout, NetworkDriver};

const LOCK_TIMEOUT: Duration = Duration::from_secs(60);
/// How long opening a root waits for other processes' operations to pause for the clean-up pass.
const ROOT_PASS_WAIT: Duration = Duration::from_secs(2);
const QMP_TIMEOUT: Duration = Duration::from_secs(10);
const START_TIMEOUT: Duration = Duration::from_secs(60);
const SAVE_MAGIC: &[u8; 16] = b"OxvirtQemuSave\n\0";
/// Save image header size; the migration stream starts here.
const SAVE_HEADER: u64 = 64 * 1024;

/// Opens the QEMU driver for local `qemu:///system`, `qemu:///session` and `qemu:///embed?root=DIR`.
pub struct QemuDriverFactory;

impl DriverFactory for QemuDriverFactory {
    fn accepts(&self, uri: &ConnectUri) -> bool {
        uri.driver == "qemu"
            && uri.is_local()
            && matches!(uri.path.as_str(), "/system" | "/session" | "/embed")
    }

    fn open(&self, uri: &ConnectUri, _flags: u32) -> Result<Arc<dyn Driver>> {
        let (layout, net_layout) = layouts_for(uri)?;
        // One driver per root and process: connections share its event bus and watchers.
        let mut instances = INSTANCES.lock().unwrap_or_else(|e| e.into_inner());
        instances.retain(|_, w| w.strong_count() > 0);
        if let Some(d) = instances.get(&layout.config).and_then(|w| w.upgrade()) {
            return Ok(d);
        }
        let d = Arc::new(QemuDriver::new(uri.as_str().to_string(), layout)?.with_networks(net_layout));
        instances.insert(d.layout.config.clone(), Arc::downgrade(&d));
        drop(instances);
        if DAEMON_MODE.load(std::sync::atomic::Ordering::SeqCst) {
            // Networks first: autostarted guests may use them.
            d.autostart_networks();
            d.autostart();
            QemuDriver::start_watching(&d);
        }
        Ok(d)
    }
}

/// Where the domains and networks of a local QEMU URI live.
pub(crate) fn layouts_for(uri: &ConnectUri) -> Result<(Layout, Option<NetLayout>)> {
    let layout = match uri.path.as_str() {
        "/system" => Layout::system(),
        "/session" => Layout::session(),
        _ => {
            let root = uri.param("root").ok_or_else(|| {
                Error::invalid_arg(
                    "qemu:///embed needs a root directory: qemu:///embed?root=/path/to/dir",
                )
            })?;
            if !root.starts_with('/') {
                return Err(Error::invalid_arg(format!(
                    "embed root '{root}' must be an absolute path"
                )));
            }
            Layout::embed(Path::new(root))
        }
    };
    let net_layout = match uri.path.as_str() {
        "/system" => Some(NetLayout::system()),
        "/session" => None,
        _ => uri.param("root").map(|r| NetLayout::under(Path::new(r))),
    };
    Ok((layout, net_layout))
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
    /// Where this root's virtual networks live; `None` for session mode (no privileges for bridges).
    net_layout: Option<NetLayout>,
    /// Opened on first use, since re-attaching to networks costs `nft` runs a domain-only call
    /// should not pay.
    net: Mutex<Option<Arc<NetworkDriver>>>,
    /// State change locks: per domain, plus the short driver-wide one (crate::locks).
    locks: crate::locks::Locks,
    /// UUIDs (and names) of transient domains being started in this process: taken before their
    /// status file exists, so a define cannot take their UUID meanwhile.
    creating: Mutex<BTreeMap<Uuid, String>>,
    /// Set once this process watches every guest's events (the daemon): queries then read the
    /// committed state, which the watchers keep up to date, as libvirt's queries do.
    watching: std::sync::atomic::AtomicBool,
    /// The name each UUID was last found under: only a hint for lookups by UUID, always checked.
    uuid_names: Mutex<std::collections::HashMap<Uuid, String>>,
    /// Parsed definitions by file identity.
    parsed: crate::parsed::ParseCache<Domain>,
}

/// Bound of `uuid_names` (forgotten all at once when reached).
const UUID_HINTS: usize = 65_536;

fn sys_err(what: impl std::fmt::Display, e: &std::io::Error) -> Error {
    Error::system(what, e).in_domain(ErrorDomain::Qemu)
}

fn op_invalid(msg: impl std::fmt::Display) -> Error {
    Error::operation_invalid(msg).in_domain(ErrorDomain::Qemu)
}

fn qmp_err(name: &str, what: &str, e: impl std::fmt::Display) -> Error {
    Error::operation_failed(format!("{what} of domain '{name}' over QMP: {e}"))
        .in_domain(ErrorDomain::Qemu)
}

/// What is known of one domain after re-attaching: its persistent definition and its live status.
struct Entry {
    name: String,
    config: Option<Domain>,
    status: Option<Status>,
    /// Why it last stopped (a shut-off reason), kept while inactive as libvirt reports it.
    stop_reason: i32,
}

impl Entry {
    fn uuid(&self) -> Uuid {
        self.status
            .as_ref()
            .map(|s| s.uuid)
            .or_else(|| self.config.as_ref().and_then(|c| c.uuid))
            .unwrap_or_default()
    }
    fn reference(&self) -> DomainRef {
        DomainRef {
            name: self.name.clone(),
            uuid: self.uuid(),
            id: self.status.as_ref().map_or(-1, |s| s.id),
        }
    }
    fn state(&self) -> (DomainState, i32) {
        match &self.status {
            Some(s) => (
                DomainState::from_i32(s.state).unwrap_or(DomainState::NoState),
                s.reason,
            ),
            None => (DomainState::Shutoff, self.stop_reason),
        }
    }
    /// The definition in force: live when running, else persistent.
    fn definition(&self) -> Result<Domain> {
        if let Some(s) = &self.status {
            return Domain::from_xml_str(&s.live_xml).map_err(|e| {
                Error::internal(format!(
                    "status of domain '{}' holds bad XML: {e}",
                    self.name
                ))
            });
        }
        self.config.clone().ok_or_else(|| {
            Error::no_domain(format!("no domain with matching name '{}'", self.name))
        })
    }
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
        layout.create_dirs().map_err(|e| {
            sys_err(
                format!("creating driver directories under {}", layout.run.display()),
                &e,
            )
        })?;
        Ok(QemuDriver {
            uri,
            locks: crate::locks::Locks::new(layout.lock_file()),
            layout,
            events: EventBus::default(),
            caps: Mutex::new(None),
            net_layout: None,
            net: Mutex::new(None),

            creating: Mutex::new(BTreeMap::new()),
            watching: std::sync::atomic::AtomicBool::new(false),
            uuid_names: Mutex::new(std::collections::HashMap::new()),
            parsed: crate::parsed::ParseCache::new(4096),
        })
    }

    /// Serves virtual networks from `layout` (`None`: network calls are refused as unsupported).
    pub fn with_networks(mut self, layout: Option<NetLayout>) -> QemuDriver {
        self.net_layout = layout;
        self
    }

    /// The network driver of this root, opened (and re-attached) on first use.
    fn net(&self) -> Result<Arc<NetworkDriver>> {
        let Some(layout) = &self.net_layout else {
            return Err(Error::coded(
                ErrorCode::OperationUnsupported,
                ErrorDomain::Network,
                "virtual networks are not supported by qemu:///session (they need root); use qemu:///system",
            ));
        };
        let mut g = self.net.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = &*g {
            return Ok(n.clone());
        }
        let n = Arc::new(NetworkDriver::new(layout.clone())?);
        *g = Some(n.clone());
        Ok(n)
    }

    /// Opens the tap of every `<interface type='network'|'bridge'|'ethernet'>` (on the network's
    /// bridge, the named one, or none) and the macvtap of every `type='direct'` one (or
    /// `type='network'` on a macvtap network), one fd per queue plus vhost-net fds if used, and
    /// records the device in `def` (`<target dev>`, and for a macvtap network the actual
    /// `type='direct'` source), as the live XML shows it.
    /// `only`: just that interface (hot-plug), the others get no tap.
    fn open_taps(&self, def: &mut Domain, only: Option<usize>) -> Result<NicTaps> {
        let mut out = NicTaps { net: None, fds: Vec::new(), args: Vec::new(), connections: Vec::new(), macvtaps: Vec::new() };
        let name = def.name.clone();
        let run_dir = self.layout.domain_run_dir(&name)?;
        let accel = if def.kind.to_string() == "kvm" { Accel::Kvm } else { Accel::Tcg };
        let vhost_net = Path::new(crate::nic::VHOST_NET).exists();
        let Some(devs) = def.devices.as_mut() else { return Ok(out) };
        for (i, n) in devs.interfaces.iter_mut().enumerate() {
            if !uses_tap_fd(n.kind) || only.is_some_and(|o| o != i) {
                out.args.push(None);
                continue;
            }
            // A `type='network'` NIC on a macvtap network is a direct one on the device it picks.
            let mut chosen = None;
            if let Some(network) = n.source.as_ref().and_then(|s| s.network.clone()).filter(|_| n.kind == InterfaceType::Network) {
                let net = self.net_for(&mut out)?;
                if net.gives_direct_interfaces(&network)? {
                    chosen = Some(net.choose_direct_interface(&network)?);
                }
            }
            let nic = if n.kind == InterfaceType::Direct || chosen.is_some() {
                self.open_direct(&mut out, &name, n, i, (accel, vhost_net), &run_dir, chosen)?
            } else {
                crate::nic::open_nic(&name, n, i, accel, vhost_net, || self.net_for(&mut out))?
            };
            if let Some((network, bridge)) = nic.network {
                out.connections.push((network, nic.ifname.clone()));
                n.source.get_or_insert_with(Default::default).bridge = Some(bridge);
            }
            let managed = n.target.as_ref().and_then(|t| t.managed);
            n.target = Some(InterfaceTarget { dev: Some(nic.ifname), managed });
            let mut arg = TapArg { vnet_hdr: nic.vnet_hdr, ..TapArg::default() };
            for fd in nic.tap_fds {
                arg.fds.push(process::passed_fd(out.fds.len()));
                out.fds.push(fd);
            }
            for fd in nic.vhost_fds {
                arg.vhostfds.push(process::passed_fd(out.fds.len()));
                out.fds.push(fd);
            }
            out.args.push(Some(arg));
        }
        Ok(out)
    }

    /// The network driver, kept in `out` so a failed start can give connections back.
    fn net_for(&self, out: &mut NicTaps) -> Result<Arc<NetworkDriver>> {
        if let Some(n) = &out.net {
            return Ok(n.clone());
        }
        let n = self.net()?;
        out.net = Some(n.clone());
        Ok(n)
    }

    /// Creates and opens the macvtap of direct interface `index`: on `<source dev>` in `<source
    /// mode>` (vepa when not given), or on the forward device `network` chose (given back should
    /// this fail). One queue fd per `<driver queues>`, vhost-net as for taps (`vhost`: the accel
    /// and whether /dev/vhost-net exists). Registered in `out`, so a failed start deletes it again.
    #[allow(clippy::too_many_arguments)]
    fn open_direct(
        &self,
        out: &mut NicTaps,
        dom: &str,
        n: &mut Interface,
        index: usize,
        vhost: (Accel, bool),
        run_dir: &Path,
        network: Option<oxvirt_network::DirectInterface>,
    ) -> Result<crate::nic::OpenedNic> {
        use oxvirt_network::netlink::MacvlanMode;
        use oxvirt_xml::domain::devices::interface::InterfaceSourceMode as M;
        use oxvirt_xml::network::ForwardMode as F;
        let path = format!("interface {}", index + 1);
        let prepared = (|| {
            let mac = mac_of(n).ok_or_else(|| Error::internal(format!("domain '{dom}': {path} has no MAC address after completion")))?;
            if n.target.as_ref().and_then(|t| t.managed) == Some(oxvirt_xml::YesNo::No) {
                return Err(Error::unsupported_config(format!("{path}: <target managed='no'>: not supported on a macvtap (type 'direct')")));
            }
            let (lower, mode, xml_mode) = match &network {
                Some(d) => {
                    let (m, x) = match d.mode {
                        F::Bridge => (MacvlanMode::Bridge, M::Bridge),
                        F::Private => (MacvlanMode::Private, M::Private),
                        F::Passthrough => (MacvlanMode::Passthru, M::Passthrough),
                        _ => (MacvlanMode::Vepa, M::Vepa),
                    };
                    (d.dev.clone(), m, x)
                }
                None => {
                    let src = n.source.as_ref();
                    let lower = src.and_then(|s| s.dev.clone()).ok_or_else(|| {
                        Error::unsupported_config(format!("{path}: <source dev>: a direct interface names the host interface it uses"))
                    })?;
                    let (m, x) = match src.and_then(|s| s.mode).unwrap_or(M::Vepa) {
                        M::Vepa => (MacvlanMode::Vepa, M::Vepa),
                        M::Bridge => (MacvlanMode::Bridge, M::Bridge),
                        M::Private => (MacvlanMode::Private, M::Private),
                        M::Passthrough => (MacvlanMode::Passthru, M::Passthrough),
                        other => {
                            return Err(Error::unsupported_config(format!(
                                "{path}: <source mode='{other}'>: not a macvtap mode (vepa, bridge, private or passthrough)"
                            )))
                        }
                    };
                    (lower, m, x)
                }
            };
            let queues = crate::nic::check_queues(dom, n, index)?;
            let use_vhost = command::vhost_wanted(n, index, vhost.0, vhost.1)
                .map_err(|e| Error::unsupported_config(format!("domain '{dom}': {e}")).in_domain(ErrorDomain::Qemu))?;
            let vhost_fds = if use_vhost { crate::nic::open_vhost(dom, index, queues)? } else { Vec::new() };
            let virtio = n.model.as_ref().is_some_and(|m| m.kind.starts_with("virtio"));
            let wanted = crate::nic::chosen_name(n);
            let spec = oxvirt_network::MacvtapSpec {
                lower: &lower,
                mode,
                mac,
                name: wanted.as_deref(),
                mtu: n.mtu.as_ref().map(|m| u32::from(m.size)),
                queues,
                vnet_hdr: virtio,
                node_dir: run_dir,
            };
            let tap = oxvirt_network::open_macvtap(&spec).map_err(|e| direct_error(&path, &lower, wanted.as_deref(), &e))?;
            Ok((tap, lower, xml_mode, vhost_fds, virtio))
        })();
        let (tap, lower, xml_mode, vhost_fds, virtio) = match prepared {
            Ok(p) => p,
            Err(e) => {
                if let (Some(d), Some(nd)) = (&network, &out.net) {
                    let _ = nd.release_direct_interface(&d.network, &d.dev);
                }
                return Err(e);
            }
        };
        out.macvtaps.push(CreatedMacvtap {
            name: tap.name.clone(),
            lower: lower.clone(),
            lower_mac: tap.lower_mac,
            network: network.as_ref().map(|d| d.network.clone()),
            nft_limit: n.bandwidth.as_ref().is_some_and(|b| b.inbound.is_some()),
        });
        if let Some(m) = tap.lower_mac {
            // Passthrough: the lower device's own MAC, put back when the guest is gone.
            let file = run_dir.join(format!("passthrough-{lower}.mac"));
            write_atomic(&file, m.to_string().as_bytes(), 0o644).map_err(|e| sys_err(format!("writing {}", file.display()), &e))?;
        }
        if let Some(bw) = n.bandwidth.as_ref().filter(|b| oxvirt_network::bandwidth::has_limits(b)) {
            let bw = oxvirt_network::bandwidth::for_macvtap(bw);
            oxvirt_network::bandwidth::apply(&oxvirt_network::bandwidth::TcCommand::system(), &tap.name, &bw, false).map_err(|e| {
                Error::new(ErrorCode::OperationFailed, ErrorDomain::Qemu, format!("{path}: <bandwidth>: setting limits on {}: {e}", tap.name))
            })?;
        }
        if let Some(d) = network {
            // The live XML shows what the guest got, as libvirt does: a direct interface on the
            // network's forward device.
            n.kind = InterfaceType::Direct;
            n.source.get_or_insert_with(Default::default).dev = Some(d.dev);
        }
        n.source.get_or_insert_with(Default::default).mode = Some(xml_mode);
        Ok(crate::nic::OpenedNic { ifname: tap.name, tap_fds: tap.fds, vhost_fds, vnet_hdr: virtio, network: None })
    }

    /// A guest stopped: its taps are gone with QEMU and the networks count one connection less
    /// each; its macvtaps (which outlive QEMU) are deleted.
    fn release_taps(&self, live_xml: &str) {
        let Ok(def) = Domain::from_xml_str(live_xml) else { return };
        let Ok(run_dir) = self.layout.domain_run_dir(&def.name) else { return };
        for n in def.devices.iter().flat_map(|d| &d.interfaces) {
            forget_bridge_tap_limit(n);
            self.release_nic(n, &run_dir);
        }
    }

    /// Gives back what one running NIC held (see [`QemuDriver::release_taps`]).
    fn release_nic(&self, n: &Interface, run_dir: &Path) {
        let network = n.source.as_ref().and_then(|s| s.network.clone());
        let Some(dev) = n.target.as_ref().and_then(|t| t.dev.clone()) else { return };
        match n.kind {
            InterfaceType::Network => {
                if let Some(network) = network {
                    if let Err(e) = self.net().and_then(|net| net.detach_guest_interface(&network, &dev)) {
                        tracing::warn!("releasing {dev} from network '{network}': {e}");
                    }
                }
            }
            InterfaceType::Direct => {
                let lower = n.source.as_ref().and_then(|s| s.dev.clone()).unwrap_or_default();
                let nft_limit = n.bandwidth.as_ref().is_some_and(|b| b.inbound.is_some());
                let created = CreatedMacvtap { name: dev, lower, lower_mac: None, network, nft_limit };
                self.remove_macvtap(&created, run_dir);
            }
            _ => {}
        }
    }

    /// Deletes a guest's macvtap, puts a passthrough lower device's MAC back and gives the
    /// network's forward device back.
    fn remove_macvtap(&self, m: &CreatedMacvtap, run_dir: &Path) {
        match oxvirt_network::delete_macvtap(&m.name) {
            Ok(_) => {}
            Err(e) => tracing::warn!("deleting macvtap {}: {e}", m.name),
        }
        if m.nft_limit {
            forget_macvtap_limit(&m.name);
        }
        let file = run_dir.join(format!("passthrough-{}.mac", m.lower));
        let saved = fs::read_to_string(&file).ok().and_then(|s| s.trim().parse::<oxvirt_xml::MacAddr>().ok());
        if let Some(mac) = m.lower_mac.or(saved) {
            oxvirt_network::macvtap::restore_lower_mac(&m.lower, mac);
        }
        let _ = remove_if_exists(&file);
        if let Some(network) = &m.network {
            if let Err(e) = self.net().and_then(|net| net.release_direct_interface(network, &m.lower)) {
                tracing::warn!("releasing {} from network '{network}': {e}", m.lower);
            }
        }
    }

    /// Daemon start: networks marked autostart come up (failures logged, as libvirt does).
    pub fn autostart_networks(&self) {
        if self.net_layout.is_none() {
            return;
        }
        match self.net().and_then(|n| n.autostart_all()) {
            Ok(failures) => {
                for (name, e) in failures {
                    tracing::warn!("autostarting network '{name}': {e}");
                }
            }
            Err(e) => tracing::warn!("opening the network driver for autostart: {e}"),
        }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

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

    /// Takes `name`'s state change lock for `op` (waiting in turn, at most LOCK_TIMEOUT).
    fn lock_domain(&self, name: &str, op: &str) -> Result<crate::locks::Guard<'_>> {
        let path = self.layout.domain_lock_file(name)?;
        Ok(self.locks.acquire(&path, &format!("domain '{name}'"), op, LOCK_TIMEOUT)?)
    }

    /// The driver-wide lock of the short sections above, inside a domain lock.
    fn lock_names(&self, op: &str) -> Result<crate::locks::Guard<'_>> {
        Ok(self.locks.acquire(&self.layout.names_lock_file(), "the domain names and ids", op, LOCK_TIMEOUT)?)
    }

    /// What a query sees of `name` (see above): up to date if its lock is free now, else as last
    /// committed.
    fn read_entry(&self, name: &str) -> Result<Option<Entry>> {
        if self.watching.load(std::sync::atomic::Ordering::Relaxed) {
            return self.raw_entry(name);
        }
        let path = self.layout.domain_lock_file(name)?;
        match self.locks.try_acquire(&path, &format!("domain '{name}'"), "query")? {
            Some(_g) => self.entry(name),
            None => self.raw_entry(name),
        }
    }

    /// [`Self::read_entry`] of an entry already read raw.
    fn read_reconciled(&self, raw: Entry) -> Result<Option<Entry>> {
        if self.watching.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(Some(raw));
        }
        let path = self.layout.domain_lock_file(&raw.name)?;
        match self.locks.try_acquire(&path, &format!("domain '{}'", raw.name), "query")? {
            Some(_g) => self.entry(&raw.name),
            None => Ok(Some(raw)),
        }
    }

    /// Holds `def`'s UUID for it while it starts without a status file yet (see `creating`);
    /// the caller holds the names lock and has checked the UUID is free.
    fn claim_uuid(&self, def: &Domain) -> UuidClaim<'_> {
        let uuid = def.uuid.unwrap_or_default();
        if !uuid.is_nil() {
            self.creating.lock().unwrap_or_else(|e| e.into_inner()).insert(uuid, def.name.clone());
        }
        UuidClaim { creating: &self.creating, uuid }
    }

    /// Remembers under which name `e`'s UUID was seen (scans note every domain they read), so
    /// that lookups by UUID — every wire call on a domain — go straight to it next time.
    fn note_uuid(&self, e: &Entry) {
        let uuid = e.uuid();
        let mut names = self.uuid_names.lock().unwrap_or_else(|e| e.into_inner());
        if names.get(&uuid) != Some(&e.name) {
            if names.len() >= UUID_HINTS {
                names.clear();
            }
            names.insert(uuid, e.name.clone());
        }
    }

    /// [`Self::entry_by_ref`] for queries.
    fn read_by_ref(&self, d: &DomainRef) -> Result<Entry> {
        match self.read_entry(&d.name)? {
            Some(e) if e.uuid() == d.uuid || d.uuid.is_nil() => Ok(e),
            _ => Err(Error::no_domain(format!("no domain with matching uuid '{}' ({})", d.uuid, d.name)).in_domain(ErrorDomain::Qemu)),
        }
    }

    fn emulator_for(&self, def: &Domain) -> Result<PathBuf> {
        if let Some(e) = def.devices.as_ref().and_then(|d| d.emulator.as_ref()) {
            return Ok(PathBuf::from(e));
        }
        let arch = def.arch().unwrap_or(std::env::consts::ARCH);
        let bin = format!("qemu-system-{arch}");
        for dir in std::env::var("PATH")
            .unwrap_or_else(|_| "/usr/bin:/bin".into())
            .split(':')
        {
            let p = Path::new(dir).join(&bin);
            if p.is_file() {
                return Ok(p);
            }
        }
        Err(Error::unsupported_config(format!(
            "no emulator for arch '{arch}': {bin} is not installed (Debian: apt-get install qemu-system-x86 qemu-utils)"
        )))
    }

    fn caps_for(&self, emulator: &Path) -> Result<Arc<QemuCaps>> {
        let mut g = self.caps.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((p, c)) = g.as_ref() {
            if p == emulator {
                return Ok(c.clone());
            }
        }
        let cache = CapsCache::new(self.layout.cache.join("capabilities"));
        let (caps, _) = cache.get(emulator).map_err(|e| {
            Error::operation_failed(format!("probing {}: {e}", emulator.display()))
                .in_domain(ErrorDomain::Qemu)
        })?;
        let caps = Arc::new(caps);
        *g = Some((emulator.to_path_buf(), caps.clone()));
        Ok(caps)
    }

    // ---- on-disk state -------------------------------------------------------------------

    fn load_config(&self, name: &str) -> Result<Option<Domain>> {
        let path = self.layout.config_file(name)?;
        // Parsed once per version of the file (crate::parsed).
        let key = crate::parsed::FileKey::of(&path);
        if let Some(def) = key.and_then(|k| self.parsed.get(&path, k)) {
            return Ok(Some(def));
        }
        // Bounded read: a huge file is an error naming it, not a slow parse of every call.
        match oxvirt_xml::limits::read_file(&path, &oxvirt_xml::limits::Limits::DEFINITION) {
            Ok(text) => {
                let def = Domain::from_xml_str(&text).map_err(|e| {
                    Error::internal(format!("definition {} is not valid: {e}", path.display()))
                })?;
                if let Some(k) = key.filter(|k| crate::parsed::FileKey::of(&path) == Some(*k)) {
                    self.parsed.put(&path, k, def.clone());
                }
                Ok(Some(def))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(sys_err(format!("reading {}", path.display()), &e)),
        }
    }

    fn store_config(&self, def: &Domain) -> Result<()> {
        let path = self.layout.config_file(&def.name)?;
        write_atomic(&path, def.to_xml_string().as_bytes(), 0o600)
            .map_err(|e| sys_err(format!("writing {}", path.display()), &e))
    }

    fn store_status(&self, st: &Status) -> Result<()> {
        let path = self.layout.status_file(&st.name)?;
        st.store(&path)
            .map_err(|e| sys_err(format!("writing {}", path.display()), &e))
    }

    /// Names of the domains with a definition or a status file. A file whose name is not a usable
    /// domain name (see [`crate::layout::component`]) is no domain.
    fn names(&self) -> BTreeSet<String> {
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
    fn entry(&self, name: &str) -> Result<Option<Entry>> {
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
    fn raw_entry(&self, name: &str) -> Result<Option<Entry>> {
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

    fn reconciled(&self, mut e: Entry) -> Result<Option<Entry>> {
        self.reconcile(&mut e)?;
        if e.config.is_none() && e.status.is_none() {
            return Ok(None);
        }
        Ok(Some(e))
    }

    /// The first domain matching `pred`, re-attaching only to candidates (not to every running
    /// guest, which costs a QMP round trip each); a candidate is checked again once up to date
    /// (the query way: as last committed while another caller holds it, see `read_entry`).
    fn find_entry(&self, pred: impl Fn(&Entry) -> bool) -> Result<Option<Entry>> {
        for n in self.names() {
            let raw = match self.raw_entry(&n) {
                Ok(Some(raw)) => raw,
                Ok(None) => continue,
                // One broken definition must not hide every other domain (libvirt skips it too).
                Err(e) => {
                    tracing::error!("skipping domain '{n}': {e}");
                    continue;
                }
            };
            self.note_uuid(&raw);
            if !pred(&raw) {
                continue;
            }
            if let Some(e) = self.read_reconciled(raw)? {
                if pred(&e) {
                    return Ok(Some(e));
                }
            }
        }
        Ok(None)
    }

    fn entry_by_ref(&self, d: &DomainRef) -> Result<Entry> {
        match self.entry(&d.name)? {
            Some(e) if e.uuid() == d.uuid || d.uuid.is_nil() => Ok(e),
            _ => Err(Error::no_domain(format!(
                "no domain with matching uuid '{}' ({})",
                d.uuid, d.name
            ))
            .in_domain(ErrorDomain::Qemu)),
        }
    }

    /// Every domain, the query way (see `read_entry`).
    fn all_entries(&self) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        for n in self.names() {
            match self.read_entry(&n) {
                Ok(Some(e)) => {
                    self.note_uuid(&e);
                    out.push(e)
                }
                Ok(None) => {}
                Err(e) => tracing::error!("skipping domain '{n}': {e}"),
            }
        }
        Ok(out)
    }

    /// The QEMU a status names, as far as it can be checked: its run dir (whose pidfile must be on
    /// its command line) and the cgroup the start recorded for it (which it must be in).
    fn process_of(&self, st: &Status) -> Result<QemuProcess> {
        Ok(QemuProcess {
            pid: st.pid,
            start_time: st.start_time,
            run_dir: RunDir::new(self.layout.domain_run_dir(&st.name)?),
            cgroup_scope: crate::cgroup::recorded_scope(&self.layout.cgroup_record(&st.name)?),
        })
    }

    fn qmp(&self, st: &Status) -> Result<Qmp> {
        let sock = RunDir::new(self.layout.domain_run_dir(&st.name)?).qmp_socket();
        Qmp::connect(&sock, QMP_TIMEOUT)
            .map_err(|e| qmp_err(&st.name, "connecting to the monitor", e))
    }

    /// Kills and removes what a start or stop of `name` that was cut short left behind, when
    /// `name` has no usable status: QEMUs running with its run dir's pidfile (identity verified
    /// before the signal), its cgroup and its run dir. Cheap when there is nothing: one stat.
    /// The caller holds the lock that starts of `name` take.
    fn reap_leftovers(&self, name: &str) {
        let (Ok(run_dir), Ok(record)) = (self.layout.domain_run_dir(name), self.layout.cgroup_record(name)) else { return };
        if !run_dir.exists() && !record.exists() {
            return;
        }
        for f in process::find_by_pidfile_dir(&self.layout.domains_dir()).into_iter().filter(|f| f.name == name) {
            self.kill_found(&f, "has no status");
        }
        crate::cgroup::stop_hook(&record);
        if let Err(e) = fs::remove_dir_all(&run_dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("removing the leftover run dir {}: {e}", run_dir.display());
            }
        }
    }

    /// Kills a QEMU of ours nothing tracks (verified by pid, start time and command line).
    fn kill_found(&self, f: &process::Found, why: &str) {
        let p = QemuProcess { pid: f.pid, start_time: f.start_time, run_dir: RunDir::new(f.pidfile.parent().unwrap_or(Path::new("/nonexistent"))), cgroup_scope: None };
        tracing::warn!("killing QEMU pid {} of domain '{}': it {why} (a start or stop was cut short)", f.pid, f.name);
        if let Err(e) = p.kill(Duration::from_secs(2)) {
            tracing::error!("killing untracked QEMU pid {}: {e}", f.pid);
        }
    }

    /// When the driver opens: removes temp files of interrupted atomic writes, adopts every QEMU of
    /// ours that a complete status file records and kills the others, removes leftover run dirs,
    /// cgroup records and cgroups of domains that are gone.
    fn reconcile_root(&self) {
        // No operation of any process may be in flight: a start between spawning QEMU and writing
        // its status looks exactly like what this removes.
        // Waited for briefly: operations in flight mean another process is alive, and it made this
        // pass when it opened the root; a busy daemon would otherwise hold every CLI call up (shared
        // holders keep overlapping). What a process killed since leaves is reaped per domain
        // (`reap_leftovers`, under that domain's lock) the next time someone looks at it.
        let _l = match self.locks.exclusive_root(ROOT_PASS_WAIT) {
            Ok(l) => l,
            Err(e @ crate::locks::LockError::Timeout { .. }) => {
                tracing::debug!("skipping the start-up clean-up: {e}");
                return;
            }
            Err(e) => {
                tracing::warn!("skipping the clean-up of what interrupted operations left: {e}");
                return;
            }
        };
        for dir in self.layout.atomic_dirs() {
            crate::layout::clean_temp_files(&dir);
        }
        let status_of = |name: &str| -> Option<Status> {
            let path = self.layout.status_file(name).ok()?;
            Status::load_named(&path, name).unwrap_or_else(|e| {
                tracing::error!("{e}");
                None
            })
        };
        // Run dirs and cgroup records without a status (or whose recorded QEMU is gone) are where a
        // lost QEMU can hide; only then is /proc searched.
        let mut suspects = BTreeSet::new();
        if let Ok(rd) = fs::read_dir(self.layout.domains_dir()) {
            for e in rd.flatten() {
                if let Some(n) = e.file_name().to_str() {
                    suspects.insert(n.to_string());
                }
            }
        }
        if let Ok(rd) = fs::read_dir(self.layout.status_dir()) {
            for e in rd.flatten() {
                if let Some(n) = e.file_name().to_str().and_then(|f| f.strip_suffix(".cgroup")) {
                    suspects.insert(n.to_string());
                }
            }
        }
        suspects.retain(|n| {
            crate::layout::component(n).is_ok()
                && status_of(n).is_none_or(|st| !self.process_of(&st).is_ok_and(|p| p.is_ours()))
        });
        if !suspects.is_empty() {
            for f in process::find_by_pidfile_dir(&self.layout.domains_dir()) {
                if !suspects.contains(&f.name) {
                    continue;
                }
                match status_of(&f.name) {
                    Some(st) if st.pid == f.pid && st.start_time == f.start_time => {}
                    _ => self.kill_found(&f, "is not the QEMU its status records"),
                }
            }
            for n in &suspects {
                if status_of(n).is_none() {
                    self.reap_leftovers(n);
                }
            }
        }
        let live: BTreeSet<String> = self
            .names()
            .into_iter()
            .filter_map(|n| self.layout.cgroup_record(&n).ok())
            .filter_map(|r| crate::cgroup::recorded_scope(&r))
            .collect();
        crate::cgroup::sweep(&self.layout, &live);
    }

    /// Notices what happened while nobody watched: QEMU gone (crashed, unless we stopped it), or the
    /// guest powered off (QEMU idle in `shutdown`), or paused/resumed by an outside QMP client.
    fn reconcile(&self, e: &mut Entry) -> Result<()> {
        let Some(st) = e.status.clone() else {
            return Ok(());
        };
        let proc_ = self.process_of(&st)?;
        // Not verifiably our QEMU (gone, or a status naming some other process): stopped.
        if !proc_.is_ours() {
            let reason = if st.state == DomainState::Shutdown as i32 {
                reason::SHUTOFF_SHUTDOWN
            } else {
                reason::SHUTOFF_CRASHED
            };
            let (kind, det) = if reason == reason::SHUTOFF_CRASHED {
                (DomainEventKind::Stopped, detail::STOPPED_CRASHED)
            } else {
                (DomainEventKind::Stopped, detail::STOPPED_SHUTDOWN)
            };
            self.finish_stop(e, reason, kind, det);
            return Ok(());
        }
        let Ok(mut qmp) = Qmp::connect(proc_.run_dir.qmp_socket(), QMP_TIMEOUT) else {
            return Ok(());
        };
        let status = qmp.execute("query-status", None).ok();
        let run_state = status
            .as_ref()
            .and_then(|v| v.get("status"))
            .and_then(|s| s.as_str())
            .unwrap_or("");
        match run_state {
            "shutdown" => {
                if st.fake_reboot {
                    let _ = qmp.execute("system_reset", None);
                    let _ = qmp.execute("cont", None);
                    let mut s = st.clone();
                    s.fake_reboot = false;
                    s.state = DomainState::Running as i32;
                    s.reason = reason::RUNNING_BOOTED;
                    self.store_status(&s)?;
                    e.status = Some(s);
                } else {
                    let _ = qmp.execute("quit", None);
                    drop(qmp);
                    let _ = proc_.kill(Duration::from_secs(5));
                    self.events.emit(
                        &e.reference(),
                        DomainEventKind::Shutdown,
                        detail::SHUTDOWN_GUEST,
                    );
                    self.finish_stop(
                        e,
                        reason::SHUTOFF_SHUTDOWN,
                        DomainEventKind::Stopped,
                        detail::STOPPED_SHUTDOWN,
                    );
                }
            }
            "paused" | "running" | "guest-panicked" | "io-error" => {
                let running = status
                    .as_ref()
                    .and_then(|v| v.get("running"))
                    .and_then(|r| r.as_bool())
                    .unwrap_or(false);
                let (cur, _) = e.state();
                let mut s = st.clone();
                let mut event = None;
                if running && cur != DomainState::Running {
                    s.state = DomainState::Running as i32;
                    s.reason = reason::RUNNING_UNPAUSED;
                    event = Some((DomainEventKind::Resumed, detail::RESUMED_UNPAUSED));
                } else if !running && cur == DomainState::Running {
                    s.state = DomainState::Paused as i32;
                    let (r, det) = match run_state {
                        "io-error" => (reason::PAUSED_IOERROR, detail::SUSPENDED_IOERROR),
                        "guest-panicked" => (reason::PAUSED_CRASHED, detail::SUSPENDED_PAUSED),
                        _ => (reason::UNKNOWN, detail::SUSPENDED_PAUSED),
                    };
                    s.reason = r;
                    event = Some((DomainEventKind::Suspended, det));
                }
                if s != st {
                    self.store_status(&s)?;
                    e.status = Some(s);
                }
                if let Some((kind, det)) = event {
                    self.events.emit(&e.reference(), kind, det);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Forgets a stopped domain's runtime state; a transient domain disappears.
    fn finish_stop(&self, e: &mut Entry, reason: i32, kind: DomainEventKind, det: i32) {
        let r = e.reference();
        if let Some(st) = &e.status {
            self.release_taps(&st.live_xml);
        }
        // Queries read without the domain lock: the stop reason is on disk before the status
        // file goes, so a reader sees "running" or "shut off (reason)", never a reason-less stop.
        self.record_stop(e, reason);
        if let Ok(p) = self.layout.status_file(&e.name) {
            let _ = remove_if_exists(&p);
        }
        if let Ok(run_dir) = self.layout.domain_run_dir(&e.name) {
            let _ = fs::remove_dir_all(&run_dir);
        }
        if let Ok(record) = self.layout.cgroup_record(&e.name) {
            crate::cgroup::stop_hook(&record);
        }
        e.status = None;
        self.events.emit(&DomainRef { id: -1, ..r }, kind, det);
    }

    fn record_stop(&self, e: &mut Entry, reason: i32) {
        e.stop_reason = reason;
        let Ok(path) = self.layout.stop_reason_file(&e.name) else { return };
        if e.config.is_some() {
            let _ = write_atomic(&path, reason.to_string().as_bytes(), 0o644);
        } else {
            let _ = remove_if_exists(&path);
        }
    }

    fn next_id(&self) -> Result<i32> {
        let _n = self.lock_names("allocating a domain id")?;
        let path = self.layout.next_id_file();
        let id = fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .filter(|id| (1..i32::MAX).contains(id))
            .unwrap_or(1);
        write_atomic(&path, (id + 1).to_string().as_bytes(), 0o644)
            .map_err(|e| sys_err("allocating a domain id", &e))?;
        Ok(id)
    }

    // ---- definitions --------------------------------------------------------------------

    fn parse_definition(&self, xml: &str, validate: bool) -> Result<(Domain, Vec<String>)> {
        let (def, warnings) = parse_document::<Domain>(xml, ParseOptions { validate })
            .map_err(|e| Error::xml("domain definition", &e).in_domain(ErrorDomain::Qemu))?;
        let kind = def.kind.to_string();
        if kind != "qemu" && kind != "kvm" {
            return Err(Error::unsupported_config(format!(
                "domain type '{kind}' is not handled by the QEMU driver (use type='qemu' or type='kvm')"
            )));
        }
        Ok((def, warnings.into_iter().map(|w| w.to_string()).collect()))
    }

    /// Refuses a definition whose name or UUID belongs to another domain.
    /// The caller holds `def.name`'s lock and the names lock, and has brought `def.name` up to date.
    fn check_unique(&self, def: &Domain) -> Result<()> {
        let uuid = def.uuid.unwrap_or_default();
        let creating = self.creating.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(other) = creating.get(&uuid).filter(|n| !uuid.is_nil() && **n != def.name) {
            return Err(Error::coded(
                ErrorCode::OperationFailed,
                ErrorDomain::Qemu,
                format!("domain '{other}' is already defined with uuid {uuid}"),
            ));
        }
        drop(creating);
        let conflict = |e: &Entry| (e.name == def.name) != (e.uuid() == uuid);
        if let Some(e) = self.find_entry(conflict)? {
            let msg = if e.name == def.name {
                format!("domain '{}' already exists with uuid {}", e.name, e.uuid())
            } else {
                format!("domain '{}' is already defined with uuid {}", e.name, uuid)
            };
            return Err(Error::coded(ErrorCode::OperationFailed, ErrorDomain::Qemu, msg));
        }
        Ok(())
    }

    /// Fills what libvirt fills at define time (arch, machine, emulator) and device addresses.
    fn complete_definition(&self, def: &mut Domain) -> Result<()> {
        let emulator = self.emulator_for(def)?;
        if def.os.kind.arch.is_none() {
            def.os.kind.arch = Some(std::env::consts::ARCH.to_string());
        }
        let caps = self.caps_for(&emulator)?;
        let machine = def.os.kind.machine.clone();
        let resolved = match machine.as_deref() {
            None => caps.default_machine().map(|m| m.name.clone()),
            Some(m) => Some(caps.machine(m).map(|m| m.name.clone()).ok_or_else(|| {
                Error::unsupported_config(format!(
                    "machine type '{m}' is not supported by {} (see `oxvirt capabilities`)",
                    emulator.display()
                ))
            })?),
        };
        def.os.kind.machine = resolved;
        let devices = def.devices.get_or_insert_with(Default::default);
        if devices.emulator.is_none() {
            devices.emulator = Some(emulator.display().to_string());
        }
        // Tap and macvtap names are chosen at each start; like libvirt, a definition does not keep one of
        // the generated `vnetN`/`macvtapN`/`macvlanN` names (a dumpxml of a running guest fed back
        // to define), but keeps the user's own and any with managed='no'.
        for n in devices.interfaces.iter_mut() {
            if n.target.as_ref().is_some_and(|t| t.dev.is_some()) && crate::nic::chosen_name(n).is_none() {
                n.target = None;
            }
            // A direct interface's mode is vepa unless given, and libvirt writes it out.
            if n.kind == InterfaceType::Direct {
                if let Some(src) = n.source.as_mut().filter(|s| s.network.is_none() && s.mode.is_none()) {
                    src.mode = Some(oxvirt_xml::domain::devices::interface::InterfaceSourceMode::Vepa);
                }
            }
        }
        let env = self.build_env(def, &caps, &emulator, &self.layout.domain_run_dir(&def.name)?)?;
        command::assign_addresses(def, &env).map_err(|e| Error::unsupported_config(e).in_domain(ErrorDomain::Qemu))
    }

    fn build_env<'c>(&self, def: &Domain, caps: &'c QemuCaps, emulator: &Path, run_dir: &Path) -> Result<BuildEnv<'c>> {
        let accel = if def.kind.to_string() == "kvm" { Accel::Kvm } else { Accel::Tcg };
        let mut env = BuildEnv::new(caps, emulator, accel, &self.layout.lib, run_dir);
        env.log = self.layout.log_file(&def.name)?;
        env.domain_id = def.id.unwrap_or(-1);
        Ok(env)
    }

    // ---- starting and stopping ----------------------------------------------------------

    /// Starts QEMU for `def`; on any failure nothing is left behind.
    fn launch(
        &self,
        mut def: Domain,
        transient: bool,
        start_flags: u32,
        restore_from: Option<&Path>,
    ) -> Result<Status> {
        let emulator = self.emulator_for(&def)?;
        let caps = self.caps_for(&emulator)?;
        if def.kind.to_string() == "kvm" {
            crate::accel::require_kvm(&caps, &self.layout.cache)?;
        }
        let id = self.next_id()?;
        def.id = Some(id);
        let run_dir = RunDir::new(self.layout.domain_run_dir(&def.name)?).with_log(self.layout.log_file(&def.name)?);
        let _ = fs::remove_dir_all(&run_dir.dir);
        fs::create_dir_all(&run_dir.dir).map_err(|e| sys_err(format!("creating {}", run_dir.dir.display()), &e))?;
        let mut env = self.build_env(&def, &caps, &emulator, &run_dir.dir)?;
        // The completed definition (addresses, MACs, aliases) is what runs and what the live XML
        // shows; completed before the taps, which need the MACs.
        command::assign_addresses(&mut def, &env).map_err(|e| Error::unsupported_config(e).in_domain(ErrorDomain::Qemu))?;
        command::alias::assign(&mut def);
        // Given back (connection counts) if the start fails; the devices go with the fds.
        let mut nics = self.open_taps(&mut def, None)?;
        env.taps = nics.args.clone();
        let mut cmd = command::build(&def, &env).map_err(|e| Error::unsupported_config(e).in_domain(ErrorDomain::Qemu))?;
        cmd.pass_fds.append(&mut nics.fds);
        cmd.open_passed_files().map_err(|e| Error::operation_failed(format!("starting domain '{}': {e}", def.name)))?;
        cmd.prepare_files().map_err(|e| Error::operation_failed(format!("preparing files of domain '{}': {e}", def.name)))?;
        for gp in &cmd.graphics_ports {
            if let Some(g) = def.devices.as_mut().and_then(|d| d.graphics.get_mut(gp.graphics)) {
                if let Some(p) = gp.port {
                    g.port = Some(i32::from(p));
                }
                if let Some(p) = gp.tls_port {
                    g.tls_port = Some(i32::from(p));
                }
                if let Some(p) = gp.websocket {
                    g.websocket = Some(i32::from(p));
                }
            }
        }
        // Who QEMU runs as, and whether it can use the definition's files: decided before it starts.
        let run_as = crate::security::start_hook(&def, &self.layout)?;
        let mut args = cmd.argv.clone();
        crate::security::apply_to_args(&mut args, &run_as, caps.version.number());
        // A second monitor, reserved for a long-lived watcher (the daemon), so ad-hoc commands on the
        // main one never queue behind it.
        let events = run_dir.dir.join("events.sock");
        args.extend([
            "-chardev".into(),
            format!("socket,id=charmonitor-ev,path={},server=on,wait=off", events.display()),
            "-mon".into(),
            "chardev=charmonitor-ev,mode=control".into(),
        ]);
        if restore_from.is_some() {
            args.extend(["-incoming".into(), "defer".into()]);
        }
        let spec = SpawnSpec {
            binary: emulator.clone(),
            args: args.into_iter().map(Into::into).collect(),
            run_dir,
            timeout: START_TIMEOUT,
            pass_fds: std::mem::take(&mut cmd.pass_fds),
        };
        // Dropped after the kill guard below, when QEMU is gone and its cgroup can go too.
        let mut cgroup_guard = crate::cgroup::CleanupGuard::default();
        let cgroups = crate::cgroup::StartPlan::new(&self.layout, &def, &mut cgroup_guard)?;
        let (proc_, mut qmp, attached) = process::spawn_with(&spec, |pid| cgroups.attach(pid)).map_err(|e| {
            Error::operation_failed(format!("starting domain '{}': {e}", def.name))
                .in_domain(ErrorDomain::Qemu)
        })?;
        // From here on a failure must not leave QEMU running.
        let guard = KillGuard(Some(proc_.clone()));
        cgroups.finish(attached, proc_.pid, &mut qmp)?;
        if let Some(path) = restore_from {
            self.incoming_from_file(&mut qmp, &def.name, path)?;
        }
        // QEMU holds the taps now; ours close so the devices vanish with QEMU.
        drop(spec);
        self.fill_runtime_paths(&mut qmp, &mut def);
        for n in def.devices.iter().flat_map(|d| &d.interfaces) {
            if n.link.as_ref().is_some_and(|l| l.state == LinkState::Down) {
                let name = n.alias.as_ref().map(|a| a.name.clone()).unwrap_or_default();
                qmp.execute("set_link", Some(json!({"name": name, "up": false})))
                    .map_err(|e| qmp_err(&def.name, "setting a NIC's link down", e))?;
            }
        }
        let paused = start_flags & flags::START_PAUSED != 0;
        if !paused {
            qmp.execute("cont", None)
                .map_err(|e| qmp_err(&def.name, "starting vCPUs", e))?;
        }
        let mut st = Status::new(&def.name, def.uuid.unwrap_or_default(), id);
        st.pid = proc_.pid;
        st.start_time = proc_.start_time;
        st.emulator = emulator.display().to_string();
        st.transient = transient;
        let restored = restore_from.is_some();
        if paused {
            st.state = DomainState::Paused as i32;
            st.reason = if restored {
                reason::PAUSED_SAVE
            } else {
                reason::PAUSED_USER
            };
        } else {
            st.state = DomainState::Running as i32;
            st.reason = if restored {
                reason::RUNNING_RESTORED
            } else {
                reason::RUNNING_BOOTED
            };
        }
        st.live_xml = def.to_xml_string();
        self.store_status(&st)?;
        let _ = remove_if_exists(&self.layout.stop_reason_file(&st.name)?);
        std::mem::forget(guard);
        cgroup_guard.disarm();
        nics.disarm();
        let r = DomainRef {
            name: st.name.clone(),
            uuid: st.uuid,
            id,
        };
        self.events.emit(
            &r,
            DomainEventKind::Started,
            if restored {
                detail::STARTED_RESTORED
            } else {
                detail::STARTED_BOOTED
            },
        );
        if paused {
            self.events
                .emit(&r, DomainEventKind::Suspended, detail::SUSPENDED_PAUSED);
        }
        crate::monitor::after_start(self, &st);
        Ok(st)
    }

    /// Records where QEMU put ptys, as libvirt does in the live XML.
    fn fill_runtime_paths(&self, qmp: &mut Qmp, def: &mut Domain) {
        let Ok(chardevs) = qmp.execute("query-chardev", None) else {
            return;
        };
        let ptys: Vec<(String, String)> = chardevs
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| {
                        let label = c.get("label")?.as_str()?.to_string();
                        let file = c
                            .get("filename")?
                            .as_str()?
                            .strip_prefix("pty:")?
                            .to_string();
                        Some((label, file))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let Some(devices) = def.devices.as_mut() else {
            return;
        };
        let mut first_serial_pty = None;
        for (i, c) in devices.serials.iter_mut().enumerate() {
            let label = format!("charserial{i}");
            if let Some((_, path)) = ptys.iter().find(|(l, _)| *l == label) {
                set_pty(c, path);
                if first_serial_pty.is_none() {
                    first_serial_pty = Some(path.clone());
                }
            }
        }
        for (i, c) in devices.channels.iter_mut().enumerate() {
            if let Some((_, path)) = ptys.iter().find(|(l, _)| *l == format!("charchannel{i}")) {
                set_pty(c, path);
            }
        }
        if let Some(path) = first_serial_pty {
            for c in devices.consoles.iter_mut() {
                let is_serial = c
                    .target
                    .as_ref()
                    .and_then(|t| t.kind.as_ref())
                    .is_none_or(|k| k.to_string() == "serial");
                if is_serial {
                    set_pty(c, &path);
                    c.tty = Some(path.clone());
                }
            }
        }
    }

    fn stop_qemu(&self, st: &Status, graceful: bool) -> Result<()> {
        let p = self.process_of(st)?;
        if graceful {
            // SIGTERM only: QEMU flushes and exits; refuse if it will not. Like every signal, it
            // goes only to a process verified to be this domain's QEMU.
            let _ = p.signal(nix::sys::signal::Signal::SIGTERM);
            if !p.wait_exit(Duration::from_secs(10)) {
                return Err(Error::coded(
                    ErrorCode::OperationTimeout,
                    ErrorDomain::Qemu,
                    format!("QEMU of domain '{}' did not exit after SIGTERM (use destroy without --graceful)", st.name),
                ));
            }
            return Ok(());
        }
        p.kill(Duration::from_secs(3)).map(|_| ()).map_err(|e| {
            Error::operation_failed(format!("stopping domain '{}': {e}", st.name))
                .in_domain(ErrorDomain::Qemu)
        })
    }

    fn require_active(e: &Entry) -> Result<Status> {
        e.status
            .clone()
            .ok_or_else(|| op_invalid("domain is not running"))
    }

    // ---- save images -------------------------------------------------------------------

    /// Writes the save image beside `path` and renames it into place once complete, so an
    /// interrupted save (kill -9, full disk) never leaves a torn image that a later start or
    /// restore would try to load; the temp file follows the atomic-write naming, so the next
    /// driver open removes one left in the managed-save directory.
    fn save_to_file(&self, st: &Status, path: &Path) -> Result<()> {
        let file_name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| Error::invalid_arg(format!("save path '{}' names no file", path.display())))?;
        let tmp = path.with_file_name(format!(".{file_name}.tmp{}", std::process::id()));
        // One of ours only by name: a dead process with our (recycled) pid left it.
        let _ = fs::remove_file(&tmp);
        let r = self.save_to_temp(st, &tmp).and_then(|()| {
            fs::rename(&tmp, path).map_err(|e| sys_err(format!("renaming {} to {}", tmp.display(), path.display()), &e))?;
            if let Some(dir) = path.parent().and_then(|d| fs::File::open(d).ok()) {
                let _ = dir.sync_all();
            }
            Ok(())
        });
        if r.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        r
    }

    fn save_to_temp(&self, st: &Status, path: &Path) -> Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| sys_err(format!("creating save image {}", path.display()), &e))?;
        let xml = st.live_xml.as_bytes();
        let mut header = Vec::with_capacity(SAVE_HEADER as usize);
        header.extend_from_slice(SAVE_MAGIC);
        let was_running = st.state == DomainState::Running as i32;
        header.extend_from_slice(&(xml.len() as u64).to_be_bytes());
        header.push(u8::from(was_running));
        header.extend_from_slice(xml);
        if header.len() as u64 > SAVE_HEADER {
            return Err(Error::internal(format!(
                "domain XML of '{}' too large for a save image header",
                st.name
            )));
        }
        header.resize(SAVE_HEADER as usize, 0);
        f.write_all(&header)
            .map_err(|e| sys_err(format!("writing {}", path.display()), &e))?;
        f.flush()
            .map_err(|e| sys_err(format!("writing {}", path.display()), &e))?;
        let mut qmp = self.qmp(st)?;
        qmp.execute("stop", None)
            .map_err(|e| qmp_err(&st.name, "pausing", e))?;
        qmp.execute_with_fd("getfd", Some(json!({"fdname": "oxvirt-save"})), f.as_fd())
            .map_err(|e| qmp_err(&st.name, "passing the save file", e))?;
        qmp.execute("migrate", Some(json!({"uri": "fd:oxvirt-save"})))
            .map_err(|e| qmp_err(&st.name, "saving", e))?;
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let v = qmp
                .execute("query-migrate", None)
                .map_err(|e| qmp_err(&st.name, "watching the save", e))?;
            match v.get("status").and_then(|s| s.as_str()).unwrap_or("") {
                "completed" => break,
                "failed" | "cancelled" => {
                    let why = v
                        .get("error-desc")
                        .and_then(|s| s.as_str())
                        .unwrap_or("unknown reason")
                        .to_string();
                    if was_running {
                        let _ = qmp.execute("cont", None);
                    }
                    return Err(Error::operation_failed(format!(
                        "saving domain '{}' failed: {why}",
                        st.name
                    )));
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
        f.sync_all()
            .map_err(|e| sys_err(format!("syncing {}", path.display()), &e))?;
        Ok(())
    }

    fn read_save_header(path: &Path) -> Result<(String, bool)> {
        let mut f = fs::File::open(path)
            .map_err(|e| sys_err(format!("opening save image {}", path.display()), &e))?;
        let mut head = vec![0u8; SAVE_HEADER as usize];
        f.read_exact(&mut head)
            .map_err(|e| sys_err(format!("reading save image {}", path.display()), &e))?;
        if &head[..16] != SAVE_MAGIC {
            return Err(Error::invalid_arg(format!(
                "{} is not an oxvirt QEMU save image",
                path.display()
            )));
        }
        let len = u64::from_be_bytes(head[16..24].try_into().unwrap_or_default()) as usize;
        let running = head[24] != 0;
        let xml = head.get(25..25 + len).ok_or_else(|| {
            Error::invalid_arg(format!("{} has a damaged header", path.display()))
        })?;
        Ok((String::from_utf8_lossy(xml).into_owned(), running))
    }

    fn incoming_from_file(&self, qmp: &mut Qmp, name: &str, path: &Path) -> Result<()> {
        let mut f = fs::File::open(path)
            .map_err(|e| sys_err(format!("opening save image {}", path.display()), &e))?;
        f.seek(SeekFrom::Start(SAVE_HEADER))
            .map_err(|e| sys_err(format!("reading {}", path.display()), &e))?;
        qmp.execute_with_fd(
            "getfd",
            Some(json!({"fdname": "oxvirt-restore"})),
            f.as_fd(),
        )
        .map_err(|e| qmp_err(name, "passing the save image", e))?;
        qmp.execute(
            "migrate-incoming",
            Some(json!({"uri": "fd:oxvirt-restore"})),
        )
        .map_err(|e| qmp_err(name, "restoring", e))?;
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let v = qmp
                .execute("query-migrate", None)
                .map_err(|e| qmp_err(name, "watching the restore", e))?;
            match v.get("status").and_then(|s| s.as_str()).unwrap_or("") {
                "completed" => return Ok(()),
                "failed" | "cancelled" => {
                    return Err(Error::operation_failed(format!(
                        "restoring domain '{name}' from {} failed: {}",
                        path.display(),
                        v.get("error-desc")
                            .and_then(|s| s.as_str())
                            .unwrap_or("unknown reason")
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

    fn do_save(&self, e: &mut Entry, path: &Path, flags_: u32) -> Result<()> {
        let st = Self::require_active(e)?;
        let mut keep = st.clone();
        if flags_ & flags::SAVE_RUNNING != 0 {
            keep.state = DomainState::Running as i32;
        } else if flags_ & flags::SAVE_PAUSED != 0 {
            keep.state = DomainState::Paused as i32;
        }
        self.save_to_file(&keep, path)?;
        self.stop_qemu(&st, false)?;
        self.events.emit(
            &e.reference(),
            DomainEventKind::Stopped,
            detail::STOPPED_SAVED,
        );
        self.release_taps(&st.live_xml);
        let _ = remove_if_exists(&self.layout.status_file(&e.name)?);
        let _ = fs::remove_dir_all(self.layout.domain_run_dir(&e.name)?);
        crate::cgroup::stop_hook(&self.layout.cgroup_record(&e.name)?);
        e.status = None;
        self.record_stop(e, reason::SHUTOFF_SAVED);
        Ok(())
    }
}

impl QemuDriver {
    /// Starts the persistent domains marked autostart that are not running (daemon start).
    pub fn autostart(&self) {
        let Ok(rd) = fs::read_dir(&self.layout.autostart) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let Some(name) = p.file_stem().and_then(|s| s.to_str()).map(str::to_string) else { continue };
            if p.extension().and_then(|x| x.to_str()) != Some("xml") {
                continue;
            }
            let r = DomainRef { name: name.clone(), uuid: Uuid::nil(), id: -1 };
            match self.domain_state(&r) {
                Ok((DomainState::Shutoff, _)) => {
                    if let Err(err) = self.domain_create(&r, 0) {
                        tracing::warn!(domain = %name, "autostart failed: {err}");
                    }
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(domain = %name, "autostart: {err}"),
            }
        }
    }

    /// Watches every running guest from background threads for as long as the driver lives.
    pub fn start_watching(me: &Arc<QemuDriver>) {
        me.watching.store(true, std::sync::atomic::Ordering::SeqCst);
        let weak = Arc::downgrade(me);
        let root = me.layout.clone();
        let spawned = std::thread::Builder::new().name("qemu-watch".into()).spawn(move || {
            // Held while this process watches the root: starts from other processes launch no monitor.
            let _root = crate::monitor::claim_root(&root);
            let mut watched: BTreeSet<(String, i32)> = BTreeSet::new();
            loop {
                let Some(d) = weak.upgrade() else { return };
                let mut current = BTreeSet::new();
                if let Ok(rd) = fs::read_dir(d.layout.status_dir()) {
                    for e in rd.flatten() {
                        let p = e.path();
                        if p.extension().and_then(|x| x.to_str()) != Some("status") {
                            continue;
                        }
                        if let Some(st) = Status::load(&p) {
                            current.insert((st.name.clone(), st.pid));
                        }
                    }
                }
                for key in current.difference(&watched) {
                    let (w, name, pid) = (weak.clone(), key.0.clone(), key.1);
                    let _ = std::thread::Builder::new().name(format!("qemu-watch-{name}")).spawn(move || crate::monitor::watch_domain(w, name, pid, crate::monitor::Role::Daemon));
                }
                watched = current;
                drop(d);
                std::thread::sleep(Duration::from_millis(500));
            }
        });
        if let Err(e) = spawned {
            tracing::warn!("cannot start the QEMU watcher: {e}");
        }
    }

    /// Pauses (`stop`) or resumes (`cont`) the vCPUs and records it: suspend of a paused domain
    /// is a no-op, resume of a running one an error, as in libvirt.
    fn set_run_state(&self, d: &DomainRef, pause: bool) -> Result<()> {
        let _l = self.lock_domain(&d.name, if pause { "suspend" } else { "resume" })?;
        let e = self.entry_by_ref(d)?;
        let mut st = Self::require_active(&e)?;
        let paused = st.state == DomainState::Paused as i32;
        if pause && paused {
            return Ok(());
        }
        if !pause && !paused {
            return Err(op_invalid("domain is not paused"));
        }
        let (cmd, what, state, why, kind, det) = if pause {
            ("stop", "pausing", DomainState::Paused, reason::PAUSED_USER, DomainEventKind::Suspended, detail::SUSPENDED_PAUSED)
        } else {
            ("cont", "resuming", DomainState::Running, reason::RUNNING_UNPAUSED, DomainEventKind::Resumed, detail::RESUMED_UNPAUSED)
        };
        self.qmp(&st)?.execute(cmd, None).map_err(|err| qmp_err(&e.name, what, err))?;
        st.state = state as i32;
        st.reason = why;
        self.store_status(&st)?;
        self.events.emit(&e.reference(), kind, det);
        Ok(())
    }

    /// Brings one domain up to date under the lock (its events are emitted by `reconcile`).
    pub(crate) fn refresh(&self, name: &str) {
        match self.lock_domain(name, "event") {
            Ok(_l) => drop(self.entry(name)),
            Err(e) => tracing::warn!("bringing domain '{name}' up to date after an event: {e}"),
        }
    }
}

/// libvirt's modification impact: (live, config), with CURRENT meaning live when running.
fn impact(f: u32, active: bool) -> Result<(bool, bool)> {
    let live = f & flags::AFFECT_LIVE != 0;
    let config = f & flags::AFFECT_CONFIG != 0;
    let (live, config) = if !live && !config { (active, !active) } else { (live, config) };
    if live && !active {
        return Err(op_invalid("domain is not running"));
    }
    Ok((live, config))
}

fn parse_interface(xml: &str, what: &str) -> Result<oxvirt_xml::domain::devices::interface::Interface> {
    let root = oxvirt_xml::root_name(xml).map_err(|e| Error::xml("device definition", &e).in_domain(ErrorDomain::Qemu))?;
    if root != "interface" {
        return Err(Error::coded(
            ErrorCode::OperationUnsupported,
            ErrorDomain::Qemu,
            format!("{what} of <{root}> is not supported yet (interfaces are)"),
        ));
    }
    let (n, _) = oxvirt_xml::parse_element::<oxvirt_xml::domain::devices::interface::Interface>(xml, "interface", ParseOptions::default())
        .map_err(|e| Error::xml("interface definition", &e).in_domain(ErrorDomain::Qemu))?;
    Ok(n)
}

fn parse_disk(xml: &str) -> Result<oxvirt_xml::domain::Disk> {
    let root = oxvirt_xml::root_name(xml).map_err(|e| Error::xml("device definition", &e).in_domain(ErrorDomain::Qemu))?;
    if root != "disk" {
        return Err(Error::coded(
            ErrorCode::OperationUnsupported,
            ErrorDomain::Qemu,
            format!("live attach/detach of <{root}> is not supported yet (disks are)"),
        ));
    }
    let (disk, _) = oxvirt_xml::parse_element::<oxvirt_xml::domain::Disk>(xml, "disk", ParseOptions::default())
        .map_err(|e| Error::xml("disk definition", &e).in_domain(ErrorDomain::Qemu))?;
    Ok(disk)
}

impl QemuDriver {
    fn attach_live(&self, e: &Entry, disk: oxvirt_xml::domain::Disk, _d: &DomainRef) -> Result<()> {
        let mut st = Self::require_active(e)?;
        let ldef = e.definition()?;
        let emulator = PathBuf::from(&st.emulator);
        let caps = self.caps_for(&emulator)?;
        let env = self.build_env(&ldef, &caps, &emulator, &self.layout.domain_run_dir(&e.name)?)?;
        let probe = Domain {
            devices: Some(oxvirt_xml::domain::Devices { disks: vec![disk.clone()], ..Default::default() }),
            ..Default::default()
        };
        crate::security::hotplug_check(st.pid, &probe)?;
        let mut qmp = self.qmp(&st)?;
        let new = crate::hotplug::attach_disk(&mut qmp, &ldef, disk, &env)?;
        st.live_xml = new.to_xml_string();
        self.store_status(&st)
    }
}

type Interface = oxvirt_xml::domain::devices::interface::Interface;

fn mac_of(n: &Interface) -> Option<oxvirt_xml::MacAddr> {
    n.mac.as_ref().map(|m| m.address)
}

/// A `type='bridge'` (or managed `'ethernet'`) tap's nftables outbound limit outlives the tap:
/// removed when it goes. (The network driver does the same for the taps of networks.)
fn forget_bridge_tap_limit(n: &Interface) {
    if !matches!(n.kind, InterfaceType::Bridge | InterfaceType::Ethernet) || n.bandwidth.as_ref().is_none_or(|b| b.outbound.is_none()) {
        return;
    }
    if let Some(dev) = n.target.as_ref().and_then(|t| t.dev.as_deref()) {
        if let Err(e) = oxvirt_network::bandwidth::forget(&oxvirt_network::bandwidth::TcCommand::system(), dev) {
            tracing::warn!("removing the outbound limit of {dev}: {e}");
        }
    }
}

impl QemuDriver {
    fn attach_interface(&self, d: &DomainRef, n: Interface, f: u32) -> Result<()> {
        let _l = self.lock_domain(&d.name, "attach-device")?;
        let e = self.entry_by_ref(d)?;
        let (live, config) = impact(f, e.status.is_some())?;
        let mut n = n;
        if live {
            // The MAC is chosen once, so config and live agree.
            if n.mac.is_none() {
                n.mac = Some(oxvirt_xml::domain::devices::interface::Mac {
                    address: oxvirt_xml::MacAddr::random_qemu(),
                    kind: None,
                    check: None,
                });
            }
            self.attach_interface_live(&e, n.clone())?;
        }
        if config {
            let mut c = e.config.clone().ok_or_else(|| op_invalid("cannot change persistent config of a transient domain"))?;
            let devices = c.devices.get_or_insert_with(Default::default);
            if let Some(mac) = mac_of(&n) {
                if devices.interfaces.iter().any(|x| mac_of(x) == Some(mac)) {
                    return Err(op_invalid(format!("an interface with MAC address {mac} already exists")));
                }
            }
            let mut n = n;
            n.target = None;
            n.alias = None;
            devices.interfaces.push(n);
            self.complete_definition(&mut c)?;
            self.store_config(&c)?;
        }
        Ok(())
    }

    /// Hot-plug: tap opened, its fd handed over with `getfd`, then `netdev_add` naming it and
    /// `device_add`; each step undone if a later one fails.
    fn attach_interface_live(&self, e: &Entry, mut n: Interface) -> Result<()> {
        let mut st = Self::require_active(e)?;
        let ldef = e.definition()?;
        let mut def = ldef.clone();
        let devices = def.devices.get_or_insert_with(Default::default);
        if let Some(mac) = mac_of(&n) {
            if devices.interfaces.iter().any(|x| mac_of(x) == Some(mac)) {
                return Err(op_invalid(format!("an interface with MAC address {mac} already exists")));
            }
        }
        let used: BTreeSet<String> = devices.interfaces.iter().filter_map(|x| x.alias.as_ref().map(|a| a.name.clone())).collect();
        let alias = (0..).map(|i| format!("net{i}")).find(|a| !used.contains(a)).unwrap_or_default();
        n.alias = Some(oxvirt_xml::domain::devices::common::Alias { name: alias.clone() });
        // A generated name is made anew; the user's own one is kept (and refused if taken).
        if crate::nic::chosen_name(&n).is_none() {
            n.target = None;
        }
        devices.interfaces.push(n);
        let idx = devices.interfaces.len() - 1;
        let emulator = PathBuf::from(&st.emulator);
        let caps = self.caps_for(&emulator)?;
        let mut env = self.build_env(&ldef, &caps, &emulator, &self.layout.domain_run_dir(&e.name)?)?;
        command::assign_addresses(&mut def, &env).map_err(|x| Error::unsupported_config(x).in_domain(ErrorDomain::Qemu))?;
        command::alias::assign(&mut def);
        let mut nics = self.open_taps(&mut def, Some(idx))?;
        // The other NICs' taps are QEMU's already; placeholders let the whole line be built.
        env.taps = nics.args.clone();
        for (i, n) in def.devices.iter().flat_map(|d| &d.interfaces).enumerate() {
            if i != idx && uses_tap_fd(n.kind) {
                let q = crate::nic::queues_of(n) as usize;
                env.taps[i] = Some(TapArg { fds: vec![-1; q], ..TapArg::default() });
            }
        }
        let cmd = command::build(&def, &env).map_err(|x| Error::unsupported_config(x).in_domain(ErrorDomain::Qemu))?;
        let find = |flag: &str, id: &str| {
            cmd.argv
                .windows(2)
                .filter(|w| w[0] == flag)
                .filter_map(|w| serde_json::from_str::<serde_json::Value>(&w[1]).ok())
                .find(|v| v.get("id").and_then(|i| i.as_str()) == Some(id))
        };
        let netid = format!("host{alias}");
        let (Some(mut netdev), Some(device)) = (find("-netdev", &netid), find("-device", &alias)) else {
            return Err(Error::internal(format!("no -netdev/-device for {alias} in the command line")));
        };
        let fail = |what: &str, x: &dyn std::fmt::Display| qmp_err(&e.name, what, x);
        let mut qmp = self.qmp(&st)?;
        // Each fd (one per queue, then the vhost-net ones) goes over with `getfd` under a name the
        // backend then uses in place of the number; all closed again if the backend fails.
        let arg = nics.args.get(idx).cloned().flatten().unwrap_or_default();
        let mut names = Vec::new();
        for (k, fd) in nics.fds.iter().enumerate() {
            let fdname = match k.checked_sub(arg.fds.len()) {
                None => format!("fd-{alias}-{k}"),
                Some(v) => format!("vhostfd-{alias}-{v}"),
            };
            if let Err(x) = qmp.execute_with_fd("getfd", Some(json!({"fdname": fdname})), fd.as_fd()) {
                for n in &names {
                    let _ = qmp.execute("closefd", Some(json!({"fdname": n})));
                }
                return Err(fail("passing a tap fd", &x));
            }
            names.push(fdname);
        }
        if let Some(obj) = netdev.as_object_mut() {
            for key in ["fd", "fds", "vhostfd", "vhostfds"] {
                obj.remove(key);
            }
            let (taps, vhosts) = names.split_at(arg.fds.len().min(names.len()));
            match taps.len() {
                0 => {}
                1 => drop(obj.insert("fd".into(), json!(taps[0]))),
                _ => drop(obj.insert("fds".into(), json!(taps.join(":")))),
            }
            match vhosts.len() {
                0 => {}
                1 => drop(obj.insert("vhostfd".into(), json!(vhosts[0]))),
                _ => drop(obj.insert("vhostfds".into(), json!(vhosts.join(":")))),
            }
        }
        if let Err(x) = qmp.execute("netdev_add", Some(netdev)) {
            for n in &names {
                let _ = qmp.execute("closefd", Some(json!({"fdname": n})));
            }
            return Err(fail("adding the network backend", &x));
        }
        if let Err(x) = qmp.execute("device_add", Some(device)) {
            let _ = qmp.execute("netdev_del", Some(json!({"id": netid})));
            return Err(fail("adding the NIC", &x));
        }
        let down = def.devices.as_ref().and_then(|d| d.interfaces.get(idx)).and_then(|n| n.link.as_ref());
        if down.is_some_and(|l| l.state == LinkState::Down) {
            let _ = qmp.execute("set_link", Some(json!({"name": alias, "up": false})));
        }
        st.live_xml = def.to_xml_string();
        self.store_status(&st)?;
        nics.disarm();
        Ok(())
    }

    fn detach_interface(&self, d: &DomainRef, n: Interface, f: u32) -> Result<()> {
        let mac = mac_of(&n).ok_or_else(|| Error::invalid_arg("the interface to detach must name its MAC address"))?;
        let _l = self.lock_domain(&d.name, "detach-device")?;
        let e = self.entry_by_ref(d)?;
        let (live, config) = impact(f, e.status.is_some())?;
        let missing = || Error::coded(ErrorCode::DeviceMissing, ErrorDomain::Qemu, format!("no interface with MAC address {mac}"));
        if live {
            let mut st = Self::require_active(&e)?;
            let mut def = e.definition()?;
            let devices = def.devices.get_or_insert_with(Default::default);
            let idx = devices.interfaces.iter().position(|x| mac_of(x) == Some(mac)).ok_or_else(missing)?;
            let old = devices.interfaces[idx].clone();
            let alias = old.alias.as_ref().map(|a| a.name.clone()).ok_or_else(|| Error::internal("live interface without alias"))?;
            let fail = |what: &str, x: &dyn std::fmt::Display| qmp_err(&e.name, what, x);
            let mut qmp = self.qmp(&st)?;
            qmp.execute("device_del", Some(json!({"id": alias}))).map_err(|x| fail("removing the NIC", &x))?;
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match qmp.wait_event("DEVICE_DELETED", left) {
                    Ok(ev) if ev.data.get("device").and_then(|x| x.as_str()) == Some(alias.as_str()) => break,
                    Ok(_) => continue,
                    Err(x) => return Err(fail("waiting for the guest to release the NIC (is ACPI hotplug enabled in the guest?)", &x)),
                }
            }
            // QEMU closes the tap with the backend; the device goes with it.
            qmp.execute("netdev_del", Some(json!({"id": format!("host{alias}")})))
                .map_err(|x| fail("removing the network backend", &x))?;
            devices.interfaces.remove(idx);
            st.live_xml = def.to_xml_string();
            self.store_status(&st)?;
            forget_bridge_tap_limit(&old);
            // A tap went with the backend; a macvtap is deleted here.
            self.release_nic(&old, &self.layout.domain_run_dir(&e.name)?);
        }
        if config {
            let mut c = e.config.clone().ok_or_else(|| op_invalid("cannot change persistent config of a transient domain"))?;
            let devices = c.devices.get_or_insert_with(Default::default);
            let before = devices.interfaces.len();
            devices.interfaces.retain(|x| mac_of(x) != Some(mac));
            if devices.interfaces.len() == before {
                return Err(missing());
            }
            self.store_config(&c)?;
        }
        Ok(())
    }
}

/// A UUID claimed by a start in progress; given back when the start ends either way.
struct UuidClaim<'a> {
    creating: &'a Mutex<BTreeMap<Uuid, String>>,
    uuid: Uuid,
}

impl Drop for UuidClaim<'_> {
    fn drop(&mut self) {
        self.creating.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.uuid);
    }
}

struct KillGuard(Option<QemuProcess>);

impl Drop for KillGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = p.kill(Duration::from_secs(2));
        }
    }
}

fn set_pty(c: &mut oxvirt_xml::domain::Chardev, path: &str) {
    if let Some(src) = c.source.sources.first_mut() {
        src.path = Some(path.to_string());
    } else {
        c.source.sources.push(oxvirt_xml::domain::ChrSource {
            path: Some(path.to_string()),
            ..Default::default()
        });
    }
}

/// User and system CPU time of a process, in nanoseconds.
fn proc_cpu_split_ns(pid: i32) -> (u64, u64) {
    stat_times_ns(&format!("/proc/{pid}/stat"))
}

fn proc_task_time_ns(pid: i32, tid: i32) -> u64 {
    let (u, s) = stat_times_ns(&format!("/proc/{pid}/task/{tid}/stat"));
    u + s
}

fn stat_times_ns(path: &str) -> (u64, u64) {
    let Some(stat) = fs::read_to_string(path).ok() else { return (0, 0) };
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else { return (0, 0) };
    let f: Vec<&str> = after.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    (get(11) * (1_000_000_000 / hz), get(12) * (1_000_000_000 / hz))
}

/// The taps of a starting guest. Until [`NicTaps::disarm`], dropping it gives the network
/// connections back (the devices themselves vanish with the last fd).
struct NicTaps {
    net: Option<Arc<NetworkDriver>>,
    fds: Vec<std::os::fd::OwnedFd>,
    args: Vec<Option<TapArg>>,
    /// (network, tap) per `type='network'` NIC.
    connections: Vec<(String, String)>,
    /// Macvtaps made for direct NICs: unlike taps they outlive their fds.
    macvtaps: Vec<CreatedMacvtap>,
}

/// A macvtap oxvirt made for a guest.
struct CreatedMacvtap {
    name: String,
    lower: String,
    /// Passthrough: the lower device's own MAC.
    lower_mac: Option<oxvirt_xml::MacAddr>,
    /// The macvtap network whose forward device `lower` is.
    network: Option<String>,
    /// The guest's inbound limit may be an nftables table, which outlives the device.
    nft_limit: bool,
}

/// Removes a macvtap's nftables limit (see [`CreatedMacvtap::nft_limit`]).
fn forget_macvtap_limit(name: &str) {
    if let Err(e) = oxvirt_network::bandwidth::forget(&oxvirt_network::bandwidth::TcCommand::system(), name) {
        tracing::warn!("removing the inbound limit of {name}: {e}");
    }
}

impl NicTaps {
    fn disarm(&mut self) {
        self.connections.clear();
        self.macvtaps.clear();
    }
}

impl Drop for NicTaps {
    fn drop(&mut self) {
        if let Some(net) = &self.net {
            for (network, dev) in self.connections.drain(..) {
                let _ = net.detach_guest_interface(&network, &dev);
            }
        }
        for m in self.macvtaps.drain(..) {
            if let Err(e) = oxvirt_network::delete_macvtap(&m.name) {
                tracing::warn!("deleting macvtap {} after a failed start: {e}", m.name);
            }
            if m.nft_limit {
                forget_macvtap_limit(&m.name);
            }
            if let Some(mac) = m.lower_mac {
                oxvirt_network::macvtap::restore_lower_mac(&m.lower, mac);
            }
            if let (Some(network), Some(net)) = (&m.network, &self.net) {
                let _ = net.release_direct_interface(network, &m.lower);
            }
        }
    }
}

/// NIC types whose backend is a tap-like fd oxvirt opens (a tap, or a macvtap's queue).
fn uses_tap_fd(kind: InterfaceType) -> bool {
    matches!(kind, InterfaceType::Network | InterfaceType::Bridge | InterfaceType::Ethernet | InterfaceType::Direct)
}

/// A direct interface's failure, naming the element it came from.
fn direct_error(path: &str, lower: &str, target: Option<&str>, e: &oxvirt_network::MacvtapError) -> Error {
    use oxvirt_network::MacvtapError as E;
    match e {
        E::NoLower => Error::coded(ErrorCode::OperationFailed, ErrorDomain::Qemu, format!("{path}: <source dev='{lower}'>: {e}")),
        E::Exists(n) => Error::coded(
            ErrorCode::OperationFailed,
            ErrorDomain::Qemu,
            format!("{path}: <target dev='{n}'>: a network device of that name exists already"),
        ),
        _ => Error::new(
            ErrorCode::SystemError,
            ErrorDomain::Qemu,
            format!("{path}: <source dev='{lower}'>{}: {e}", target.map(|t| format!(" <target dev='{t}'>")).unwrap_or_default()),
        ),
    }
}

fn lease_to_api(l: oxvirt_network::DhcpLease) -> oxvirt_api::types::DhcpLease {
    oxvirt_api::types::DhcpLease {
        iface: l.interface,
        expiry_time: l.expiry_time,
        kind: i32::from(l.ip.is_ipv6()),
        mac: l.mac.map(|m| m.to_string()),
        iaid: l.iaid,
        ipaddr: l.ip.to_string(),
        prefix: u32::from(l.prefix),
        hostname: l.hostname,
        clientid: l.client_id,
    }
}

fn host_device(name: &str) -> Result<oxvirt_xml::nodedev::NodeDevice> {
    oxvirt_host::nodedev::find_device(name).ok_or_else(|| {
        Error::coded(ErrorCode::NoNodeDevice, ErrorDomain::Nodedev, format!("no node device with matching name '{name}'"))
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
        crate::capsxml::driver_domain_capabilities(&self.layout.cache, |p| self.caps_for(p), emulator, arch, machine, virttype)
    }

    fn node_info(&self) -> Result<NodeInfo> {
        let f = oxvirt_host::node_facts();
        Ok(NodeInfo {
            model: f.model,
            memory: f.memory,
            cpus: f.cpus,
            mhz: f.mhz,
            nodes: f.nodes,
            sockets: f.sockets,
            cores: f.cores,
            threads: f.threads,
        })
    }

    fn list_domains(&self, f: u32) -> Result<Vec<DomainRef>> {
        let mut out = Vec::new();
        for e in self.all_entries()? {
            let facts = oxvirt_api::DomainListFacts {
                state: e.state().0,
                persistent: e.config.is_some(),
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
            return Err(
                Error::no_domain(format!("no domain with matching name '{name}'"))
                    .in_domain(ErrorDomain::Qemu),
            );
        }
        self.read_entry(name)?.map(|e| e.reference()).ok_or_else(|| {
            Error::no_domain(format!("no domain with matching name '{name}'"))
                .in_domain(ErrorDomain::Qemu)
        })
    }

    fn lookup_domain_by_uuid(&self, uuid: &Uuid) -> Result<DomainRef> {
        // Every wire call names its domain by UUID: the name it had last time is tried first (and
        // checked on disk), so a call does not parse every definition to find its domain.
        let hint = self.uuid_names.lock().unwrap_or_else(|e| e.into_inner()).get(uuid).cloned();
        if let Some(name) = hint {
            if let Some(e) = self.read_entry(&name)?.filter(|e| e.uuid() == *uuid) {
                return Ok(e.reference());
            }
        }
        self.find_entry(|e| e.uuid() == *uuid)?
            .map(|e| e.reference())
            .ok_or_else(|| {
                Error::no_domain(format!("no domain with matching uuid '{uuid}'"))
                    .in_domain(ErrorDomain::Qemu)
            })
    }

    fn lookup_domain_by_id(&self, id: i32) -> Result<DomainRef> {
        self.find_entry(|e| e.status.as_ref().is_some_and(|s| s.id == id))?
            .map(|e| e.reference())
            .ok_or_else(|| {
                Error::no_domain(format!("no domain with matching id {id}"))
                    .in_domain(ErrorDomain::Qemu)
            })
    }

    fn domain_define(&self, xml: &str, f: u32) -> Result<(DomainRef, Vec<String>)> {
        let (mut def, warnings) = self.parse_definition(xml, f & flags::DEFINE_VALIDATE != 0)?;
        let _l = self.lock_domain(&def.name, "define")?;
        self.entry(&def.name)?;
        let existed = {
            let _n = self.lock_names("define")?;
            self.check_unique(&def)?;
            let existed = self.load_config(&def.name)?.is_some();
            self.complete_definition(&mut def)?;
            self.store_config(&def)?;
            existed
        };
        let e = self
            .entry(&def.name)?
            .ok_or_else(|| Error::internal("definition vanished after writing it"))?;
        let r = e.reference();
        self.events.emit(
            &r,
            DomainEventKind::Defined,
            if existed {
                detail::DEFINED_UPDATED
            } else {
                detail::DEFINED_ADDED
            },
        );
        Ok((r, warnings))
    }

    fn domain_undefine(&self, d: &DomainRef, f: u32) -> Result<()> {
        let _l = self.lock_domain(&d.name, "undefine")?;
        let mut e = self.entry_by_ref(d)?;
        if e.config.is_none() {
            return Err(op_invalid("cannot undefine transient domain"));
        }
        let save = self.layout.managed_save(&e.name)?;
        if save.exists() {
            if f & flags::UNDEFINE_MANAGED_SAVE == 0 {
                return Err(op_invalid("Refusing to undefine while domain managed save image exists (use --managed-save)"));
            }
            remove_if_exists(&save)
                .map_err(|err| sys_err(format!("removing {}", save.display()), &err))?;
        }
        let nvram = e
            .config
            .as_ref()
            .and_then(|c| c.os.nvram.as_ref())
            .and_then(|n| n.path.clone());
        if let Some(nv) = nvram.clone().filter(|_| f & flags::UNDEFINE_NVRAM != 0) {
            let _ = remove_if_exists(Path::new(&nv));
        } else if nvram.is_some()
            && f & flags::UNDEFINE_KEEP_NVRAM == 0
            && Path::new(nvram.as_deref().unwrap_or("")).exists()
        {
            return Err(op_invalid(
                "cannot undefine domain with nvram (use --nvram or --keep-nvram)",
            ));
        }
        let _ = remove_if_exists(&self.layout.autostart_link(&e.name)?);
        let path = self.layout.config_file(&e.name)?;
        remove_if_exists(&path)
            .map_err(|err| sys_err(format!("removing {}", path.display()), &err))?;
        if let Some(mut st) = e.status.take() {
            st.transient = true;
            self.store_status(&st)?;
        }
        self.events.emit(
            &e.reference(),
            DomainEventKind::Undefined,
            detail::UNDEFINED_REMOVED,
        );
        e.config = None;
        Ok(())
    }

    fn domain_create(&self, d: &DomainRef, f: u32) -> Result<DomainRef> {
        let _l = self.lock_domain(&d.name, "start")?;
        let e = self.entry_by_ref(d)?;
        if e.status.is_some() {
            return Err(op_invalid("domain is already running"));
        }
        let def = e
            .config
            .clone()
            .ok_or_else(|| Error::internal("inactive domain without a definition"))?;
        let save = self.layout.managed_save(&e.name)?;
        let st = if save.exists() && f & flags::START_FORCE_BOOT == 0 {
            let (xml, was_running) = Self::read_save_header(&save)?;
            let saved = Domain::from_xml_str(&xml)
                .map_err(|err| Error::internal(format!("managed save image XML: {err}")))?;
            let paused = f & flags::START_PAUSED != 0 || !was_running;
            let st = self.launch(
                saved,
                false,
                if paused { flags::START_PAUSED } else { 0 },
                Some(&save),
            )?;
            let _ = remove_if_exists(&save);
            st
        } else {
            if save.exists() {
                let _ = remove_if_exists(&save);
            }
            self.launch(def, false, f, None)?
        };
        Ok(DomainRef {
            name: st.name,
            uuid: st.uuid,
            id: st.id,
        })
    }

    fn domain_create_xml(&self, xml: &str, f: u32) -> Result<DomainRef> {
        let (mut def, _) = self.parse_definition(xml, f & flags::START_VALIDATE != 0)?;
        let _l = self.lock_domain(&def.name, "create")?;
        let current = self.entry(&def.name)?;
        let _claim = {
            let _n = self.lock_names("create")?;
            self.check_unique(&def)?;
            if current.is_some_and(|e| e.status.is_some()) {
                return Err(op_invalid(format!(
                    "domain '{}' is already running",
                    def.name
                )));
            }
            self.complete_definition(&mut def)?;
            self.claim_uuid(&def)
        };
        let persistent = self.load_config(&def.name)?.is_some();
        let st = self.launch(def, !persistent, f, None)?;
        Ok(DomainRef {
            name: st.name,
            uuid: st.uuid,
            id: st.id,
        })
    }

    fn domain_shutdown(&self, d: &DomainRef, _f: u32) -> Result<()> {
        let _l = self.lock_domain(&d.name, "shutdown")?;
        let e = self.entry_by_ref(d)?;
        let st = Self::require_active(&e)?;
        if st.state == DomainState::Paused as i32 {
            // ACPI needs running vCPUs; libvirt refuses the same way for an agent-less shutdown
            return Err(op_invalid(
                "domain is paused: resume it first, or use destroy",
            ));
        }
        let mut qmp = self.qmp(&st)?;
        qmp.execute("system_powerdown", None)
            .map_err(|err| qmp_err(&e.name, "sending the ACPI power button", err))?;
        Ok(())
    }

    fn domain_reboot(&self, d: &DomainRef, _f: u32) -> Result<()> {
        let name = {
            let _l = self.lock_domain(&d.name, "reboot")?;
            let e = self.entry_by_ref(d)?;
            let mut st = Self::require_active(&e)?;
            if st.state == DomainState::Paused as i32 {
                return Err(op_invalid("domain is paused: resume it first, or use reset"));
            }
            let mut qmp = self.qmp(&st)?;
            st.fake_reboot = true;
            self.store_status(&st)?;
            qmp.execute("system_powerdown", None)
                .map_err(|err| qmp_err(&e.name, "sending the ACPI power button", err))?;
            e.name
        };
        if DAEMON_MODE.load(std::sync::atomic::Ordering::SeqCst) || crate::monitor::watched(&self.layout, &name) {
            // the watcher (the daemon's, or the guest's monitor) sees the guest power off and
            // resets it, as libvirt's fake reboot
            return Ok(());
        }
        // Without a watcher, finish the reboot here: wait for the guest to power off, then reset it.
        // The lock is taken per look, so other callers are not held up meanwhile.
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            let _l = self.lock_domain(&d.name, "reboot")?;
            match self.entry(&name)?.and_then(|e| e.status) {
                Some(s) if !s.fake_reboot => return Ok(()),
                None => return Err(Error::operation_failed(format!("domain '{name}' stopped during reboot"))),
                _ => {}
            }
        }
        Err(Error::coded(
            ErrorCode::OperationTimeout,
            ErrorDomain::Qemu,
            format!("domain '{name}' did not react to the ACPI power button within 120 s (use reset)"),
        ))
    }

    fn domain_reset(&self, d: &DomainRef, _f: u32) -> Result<()> {
        let _l = self.lock_domain(&d.name, "reset")?;
        let e = self.entry_by_ref(d)?;
        let st = Self::require_active(&e)?;
        self.qmp(&st)?
            .execute("system_reset", None)
            .map_err(|err| qmp_err(&e.name, "resetting", err))?;
        Ok(())
    }

    fn domain_destroy(&self, d: &DomainRef, f: u32) -> Result<()> {
        let _l = self.lock_domain(&d.name, "destroy")?;
        let mut e = self.entry_by_ref(d)?;
        let st = Self::require_active(&e)?;
        self.stop_qemu(&st, f & flags::DESTROY_GRACEFUL != 0)?;
        self.finish_stop(
            &mut e,
            reason::SHUTOFF_DESTROYED,
            DomainEventKind::Stopped,
            detail::STOPPED_DESTROYED,
        );
        Ok(())
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

    fn domain_restore(&self, path: &str, _dxml: Option<&str>, f: u32) -> Result<DomainRef> {
        let (xml, was_running) = Self::read_save_header(Path::new(path))?;
        let def = Domain::from_xml_str(&xml)
            .map_err(|err| Error::invalid_arg(format!("save image {path}: {err}")))?;
        let _l = self.lock_domain(&def.name, "restore")?;
        let current = self.entry(&def.name)?;
        let _claim = {
            let _n = self.lock_names("restore")?;
            self.check_unique(&def)?;
            if current.is_some_and(|e| e.status.is_some()) {
                return Err(op_invalid(format!(
                    "domain '{}' is already running",
                    def.name
                )));
            }
            self.claim_uuid(&def)
        };
        let persistent = self.load_config(&def.name)?.is_some();
        let paused = f & flags::SAVE_PAUSED != 0 || (!was_running && f & flags::SAVE_RUNNING == 0);
        let st = self.launch(
            def,
            !persistent,
            if paused { flags::START_PAUSED } else { 0 },
            Some(Path::new(path)),
        )?;
        Ok(DomainRef {
            name: st.name,
            uuid: st.uuid,
            id: st.id,
        })
    }

    fn domain_save_image_xml(&self, path: &str, _f: u32) -> Result<String> {
        Ok(Self::read_save_header(Path::new(path))?.0)
    }

    fn domain_managed_save(&self, d: &DomainRef, f: u32) -> Result<()> {
        let _l = self.lock_domain(&d.name, "managedsave")?;
        let mut e = self.entry_by_ref(d)?;
        if e.config.is_none() {
            return Err(op_invalid("cannot do managed save for transient domain"));
        }
        let path = self.layout.managed_save(&e.name)?;
        self.do_save(&mut e, &path, f)
    }

    fn domain_has_managed_save(&self, d: &DomainRef) -> Result<bool> {
        Ok(self.layout.managed_save(&d.name)?.exists())
    }

    fn domain_managed_save_remove(&self, d: &DomainRef) -> Result<()> {
        let _l = self.lock_domain(&d.name, "managedsave-remove")?;
        let e = self.entry_by_ref(d)?;
        let p = self.layout.managed_save(&e.name)?;
        remove_if_exists(&p).map_err(|err| sys_err(format!("removing {}", p.display()), &err))
    }

    fn domain_xml(&self, d: &DomainRef, f: u32) -> Result<String> {
        let e = self.read_by_ref(d)?;
        match (&e.status, &e.config) {
            (Some(s), Some(c)) if f & flags::XML_INACTIVE != 0 => {
                let _ = s;
                Ok(c.to_xml_string())
            }
            (Some(s), _) => Ok(s.live_xml.clone()),
            (None, Some(c)) => Ok(c.to_xml_string()),
            (None, None) => Err(Error::no_domain(&d.name)),
        }
    }

    fn domain_info(&self, d: &DomainRef) -> Result<DomainInfo> {
        let e = self.read_by_ref(d)?;
        let def = e.definition()?;
        let (state, _) = e.state();
        let mut memory = def.current_memory_kib();
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
        Ok(DomainInfo {
            state,
            max_mem: def.memory_kib(),
            memory,
            nr_virt_cpu: def.vcpus_current(),
            cpu_time,
        })
    }

    fn domain_state(&self, d: &DomainRef) -> Result<(DomainState, i32)> {
        let e = self.read_by_ref(d)?;
        if e.status.is_none() && self.layout.managed_save(&e.name)?.exists() {
            return Ok((DomainState::Shutoff, reason::SHUTOFF_SAVED));
        }
        Ok(e.state())
    }

    fn domain_os_type(&self, d: &DomainRef) -> Result<String> {
        Ok(self.read_by_ref(d)?.definition()?.os_type().to_string())
    }

    fn domain_autostart(&self, d: &DomainRef) -> Result<bool> {
        Ok(self.layout.autostart_link(&d.name)?.exists())
    }

    fn domain_set_autostart(&self, d: &DomainRef, on: bool) -> Result<()> {
        let _l = self.lock_domain(&d.name, "autostart")?;
        let e = self.entry_by_ref(d)?;
        if e.config.is_none() {
            return Err(op_invalid("cannot set autostart for transient domain"));
        }
        let link = self.layout.autostart_link(&e.name)?;
        if on {
            if !link.exists() {
                std::os::unix::fs::symlink(self.layout.config_file(&e.name)?, &link)
                    .map_err(|err| sys_err(format!("creating {}", link.display()), &err))?;
            }
        } else {
            remove_if_exists(&link)
                .map_err(|err| sys_err(format!("removing {}", link.display()), &err))?;
        }
        Ok(())
    }

    fn domain_is_persistent(&self, d: &DomainRef) -> Result<bool> {
        Ok(self.read_by_ref(d)?.config.is_some())
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

    fn domain_set_memory(&self, d: &DomainRef, kib: u64, f: u32) -> Result<()> {
        let _l = self.lock_domain(&d.name, "setmem")?;
        let e = self.entry_by_ref(d)?;
        let live =
            f & flags::AFFECT_LIVE != 0 || (f & flags::AFFECT_CONFIG == 0 && e.status.is_some());
        let config = f & flags::AFFECT_CONFIG != 0;
        let def = e.definition()?;
        if kib == 0 {
            return Err(Error::invalid_arg("memory size must be greater than zero"));
        }
        if kib > def.memory_kib() && f & flags::MEM_MAXIMUM == 0 {
            return Err(Error::invalid_arg(format!(
                "cannot set memory higher than max memory ({kib} KiB > {} KiB)",
                def.memory_kib()
            )));
        }
        if live {
            let mut st = Self::require_active(&e)?;
            if f & flags::MEM_MAXIMUM != 0 {
                return Err(op_invalid(
                    "cannot resize the maximum memory on an active domain",
                ));
            }
            self.qmp(&st)?
                .execute("balloon", Some(json!({"value": kib * 1024})))
                .map_err(|err| qmp_err(&e.name, "setting the balloon target", err))?;
            let mut ldef = def.clone();
            ldef.current_memory = Some(oxvirt_xml::KiB(kib));
            st.live_xml = ldef.to_xml_string();
            self.store_status(&st)?;
        }
        if config {
            let mut c = e.config.clone().ok_or_else(|| {
                op_invalid("cannot change persistent config of a transient domain")
            })?;
            if f & flags::MEM_MAXIMUM != 0 {
                if let Some(m) = c.memory.as_mut() {
                    m.size = oxvirt_xml::KiB(kib);
                }
                if c.current_memory.is_some_and(|cm| cm.0 > kib) {
                    c.current_memory = Some(oxvirt_xml::KiB(kib));
                }
            } else {
                c.current_memory = Some(oxvirt_xml::KiB(kib));
            }
            self.store_config(&c)?;
        }
        Ok(())
    }

    fn domain_set_vcpus(&self, d: &DomainRef, count: u32, f: u32) -> Result<()> {
        let _l = self.lock_domain(&d.name, "setvcpus")?;
        let e = self.entry_by_ref(d)?;
        if count == 0 {
            return Err(Error::invalid_arg("vCPU count must be at least 1"));
        }
        let live =
            f & flags::AFFECT_LIVE != 0 || (f & flags::AFFECT_CONFIG == 0 && e.status.is_some());
        if live {
            let st = Self::require_active(&e)?;
            let def = e.definition()?;
            if count > def.vcpus() {
                return Err(Error::invalid_arg(format!(
                    "requested vcpus {count} is greater than max allowable vcpus {}",
                    def.vcpus()
                )));
            }
            crate::hotplug::set_vcpus(&mut self.qmp(&st)?, &e.name, count)?;
            let mut st = st;
            let mut ldef = def;
            if let Some(v) = ldef.vcpu.as_mut() {
                v.current = (count != v.count).then_some(count);
            }
            st.live_xml = ldef.to_xml_string();
            self.store_status(&st)?;
        }
        if f & flags::AFFECT_CONFIG != 0 {
            let mut c = e.config.clone().ok_or_else(|| {
                op_invalid("cannot change persistent config of a transient domain")
            })?;
            if let Some(v) = c.vcpu.as_mut() {
                if count > v.count {
                    return Err(Error::invalid_arg(format!(
                        "requested vcpus {count} is greater than max allowable vcpus {}",
                        v.count
                    )));
                }
                v.current = (count != v.count).then_some(count);
            }
            self.store_config(&c)?;
        }
        Ok(())
    }

    fn domain_attach_device(&self, d: &DomainRef, xml: &str, f: u32) -> Result<()> {
        if oxvirt_xml::root_name(xml).is_ok_and(|r| r == "interface") {
            return self.attach_interface(d, parse_interface(xml, "attach")?, f);
        }
        let disk = parse_disk(xml)?;
        let _l = self.lock_domain(&d.name, "attach-device")?;
        let e = self.entry_by_ref(d)?;
        let (live, config) = impact(f, e.status.is_some())?;
        if config {
            let mut c = e.config.clone().ok_or_else(|| op_invalid("cannot change persistent config of a transient domain"))?;
            let devices = c.devices.get_or_insert_with(Default::default);
            if devices.disks.iter().any(|x| x.target.dev == disk.target.dev) {
                return Err(op_invalid(format!("target {} already exists", disk.target.dev)));
            }
            devices.disks.push(disk.clone());
            self.complete_definition(&mut c)?;
            if !live {
                self.store_config(&c)?;
            } else {
                // written after the live change succeeds
                self.attach_live(&e, disk, d)?;
                self.store_config(&c)?;
            }
            return Ok(());
        }
        if live {
            self.attach_live(&e, disk, d)?;
        }
        Ok(())
    }

    fn domain_detach_device(&self, d: &DomainRef, xml: &str, f: u32) -> Result<()> {
        if oxvirt_xml::root_name(xml).is_ok_and(|r| r == "interface") {
            return self.detach_interface(d, parse_interface(xml, "detach")?, f);
        }
        let disk = parse_disk(xml)?;
        let target = disk.target.dev.clone();
        let _l = self.lock_domain(&d.name, "detach-device")?;
        let e = self.entry_by_ref(d)?;
        let (live, config) = impact(f, e.status.is_some())?;
        if live {
            let mut st = Self::require_active(&e)?;
            let ldef = e.definition()?;
            let mut qmp = self.qmp(&st)?;
            let new = crate::hotplug::detach_disk(&mut qmp, &ldef, &target)?;
            st.live_xml = new.to_xml_string();
            self.store_status(&st)?;
        }
        if config {
            let mut c = e.config.clone().ok_or_else(|| op_invalid("cannot change persistent config of a transient domain"))?;
            let devices = c.devices.get_or_insert_with(Default::default);
            let before = devices.disks.len();
            devices.disks.retain(|x| x.target.dev != target);
            if devices.disks.len() == before {
                return Err(Error::coded(ErrorCode::DeviceMissing, ErrorDomain::Qemu, format!("no disk with target '{target}'")));
            }
            self.store_config(&c)?;
        }
        Ok(())
    }

    fn domain_interface_addresses(&self, d: &DomainRef, source: u32) -> Result<Vec<oxvirt_api::types::DomainInterface>> {
        use oxvirt_api::types::netupdate;
        if source != netupdate::ADDRESSES_SRC_LEASE {
            return Err(Error::coded(
                ErrorCode::ArgumentUnsupported,
                ErrorDomain::Qemu,
                "only the lease source of interface addresses is supported (no guest agent, no ARP)",
            ));
        }
        let def = {
            let e = self.read_by_ref(d)?;
            Self::require_active(&e)?;
            e.definition()?
        };
        let mut out = Vec::new();
        for n in def.devices.iter().flat_map(|d| &d.interfaces) {
            let Some(network) = n.source.as_ref().and_then(|s| s.network.clone()).filter(|_| n.kind == InterfaceType::Network) else {
                continue;
            };
            let Some(mac) = n.mac.as_ref().map(|m| m.address) else { continue };
            let net = self.net()?;
            let nref = net.lookup_by_name(&network)?;
            let leases = net.dhcp_leases(&nref, Some(mac))?;
            if leases.is_empty() {
                continue;
            }
            out.push(oxvirt_api::types::DomainInterface {
                name: n.target.as_ref().and_then(|t| t.dev.clone()).unwrap_or_default(),
                hwaddr: Some(mac.to_string()),
                addrs: leases.iter().map(|l| (i32::from(l.ip.is_ipv6()), l.ip.to_string(), u32::from(l.prefix))).collect(),
            });
        }
        Ok(out)
    }

    fn domain_set_interface_parameters(&self, d: &DomainRef, device: &str, params: &[(String, TypedParam)], f: u32) -> Result<()> {
        self.set_interface_parameters(d, device, params, f)
    }

    fn domain_get_interface_parameters(&self, d: &DomainRef, device: &str, f: u32) -> Result<Vec<(String, TypedParam)>> {
        self.get_interface_parameters(d, device, f)
    }

    fn domain_update_device(&self, d: &DomainRef, xml: &str, f: u32) -> Result<()> {
        let new = parse_interface(xml, "update")?;
        let mac = new.mac.as_ref().map(|m| m.address).ok_or_else(|| {
            Error::invalid_arg("the interface to update must name its MAC address")
        })?;
        let state = new.link.as_ref().map_or(LinkState::Up, |l| l.state);
        let _l = self.lock_domain(&d.name, "update-device")?;
        let e = self.entry_by_ref(d)?;
        let (live, config) = impact(f, e.status.is_some())?;
        // Only the link state may change; the rest must match what is there.
        let apply = |def: &mut Domain| -> Result<String> {
            let n = def
                .devices
                .iter_mut()
                .flat_map(|d| d.interfaces.iter_mut())
                .find(|n| n.mac.as_ref().is_some_and(|m| m.address == mac))
                .ok_or_else(|| Error::coded(ErrorCode::DeviceMissing, ErrorDomain::Qemu, format!("no interface with MAC address {mac}")))?;
            let same_source = |a: &Option<oxvirt_xml::domain::devices::interface::InterfaceSource>,
                               b: &Option<oxvirt_xml::domain::devices::interface::InterfaceSource>| {
                let key = |s: &Option<oxvirt_xml::domain::devices::interface::InterfaceSource>| {
                    s.as_ref().map(|s| (s.network.clone(), if s.network.is_some() { None } else { s.bridge.clone() }))
                };
                b.is_none() || key(a) == key(b)
            };
            if n.kind != new.kind
                || !same_source(&n.source, &new.source)
                || (new.model.is_some() && n.model.as_ref().map(|m| &m.kind) != new.model.as_ref().map(|m| &m.kind))
            {
                return Err(Error::coded(
                    ErrorCode::OperationUnsupported,
                    ErrorDomain::Qemu,
                    "only the link state of an interface can be changed in place",
                ));
            }
            n.link = (state == LinkState::Down).then_some(oxvirt_xml::domain::devices::interface::Link { state });
            Ok(n.alias.as_ref().map(|a| a.name.clone()).unwrap_or_default())
        };
        if live {
            let mut st = Self::require_active(&e)?;
            let mut ldef = e.definition()?;
            let alias = apply(&mut ldef)?;
            let mut qmp = self.qmp(&st)?;
            qmp.execute("set_link", Some(json!({"name": alias, "up": state == LinkState::Up})))
                .map_err(|err| qmp_err(&e.name, "setting a NIC's link state", err))?;
            st.live_xml = ldef.to_xml_string();
            self.store_status(&st)?;
        }
        if config {
            let mut c = e.config.clone().ok_or_else(|| op_invalid("cannot change persistent config of a transient domain"))?;
            apply(&mut c)?;
            self.store_config(&c)?;
        }
        Ok(())
    }

    fn domain_stats(&self, d: &DomainRef, groups: u32) -> Result<Vec<(String, TypedParam)>> {
        let e = self.read_by_ref(d)?;
        let def = e.definition()?;
        let (state, reason) = e.state();
        let mut out: Vec<(String, TypedParam)> = Vec::new();
        let mut put = |k: String, v: TypedParam| out.push((k, v));
        if groups & stats::STATE != 0 {
            put("state.state".into(), TypedParam::Int(state as i32));
            put("state.reason".into(), TypedParam::Int(reason));
        }
        let Some(st) = &e.status else {
            if groups & stats::BALLOON != 0 {
                put("balloon.maximum".into(), TypedParam::ULLong(def.memory_kib()));
            }
            if groups & stats::VCPU != 0 {
                put("vcpu.current".into(), TypedParam::UInt(def.vcpus_current()));
                put("vcpu.maximum".into(), TypedParam::UInt(def.vcpus()));
            }
            return Ok(out);
        };
        let mut qmp = self.qmp(st)?;
        if groups & stats::CPU_TOTAL != 0 {
            let (user, system) = proc_cpu_split_ns(st.pid);
            put("cpu.time".into(), TypedParam::ULLong(user + system));
            put("cpu.user".into(), TypedParam::ULLong(user));
            put("cpu.system".into(), TypedParam::ULLong(system));
        }
        if groups & stats::BALLOON != 0 {
            let cur = qmp
                .execute("query-balloon", None)
                .ok()
                .and_then(|b| b.get("actual").and_then(|a| a.as_u64()))
                .map_or(def.current_memory_kib(), |b| b / 1024);
            put("balloon.current".into(), TypedParam::ULLong(cur));
            put("balloon.maximum".into(), TypedParam::ULLong(def.memory_kib()));
            if let Ok(v) = qmp.execute("qom-get", Some(json!({"path": "/machine/peripheral/balloon0", "property": "guest-stats"}))) {
                let s = &v["stats"];
                for (k, q) in [("swap_in", "stat-swap-in"), ("swap_out", "stat-swap-out"), ("major_fault", "stat-major-faults"),
                    ("minor_fault", "stat-minor-faults"), ("unused", "stat-free-memory"), ("available", "stat-total-memory"),
                    ("usable", "stat-available-memory"), ("disk_caches", "stat-disk-caches")] {
                    if let Some(n) = s[q].as_i64().filter(|n| *n >= 0) {
                        let n = if matches!(k, "unused" | "available" | "usable" | "disk_caches") { n / 1024 } else { n };
                        put(format!("balloon.{k}"), TypedParam::ULLong(n as u64));
                    }
                }
            }
        }
        if groups & stats::VCPU != 0 {
            let cpus = qmp.execute("query-cpus-fast", None).ok().and_then(|v| v.as_array().cloned()).unwrap_or_default();
            put("vcpu.current".into(), TypedParam::UInt(cpus.len() as u32));
            put("vcpu.maximum".into(), TypedParam::UInt(def.vcpus()));
            for c in &cpus {
                let idx = c["cpu-index"].as_u64().unwrap_or(0);
                let tid = c["thread-id"].as_i64().unwrap_or(0) as i32;
                put(format!("vcpu.{idx}.state"), TypedParam::Int(1));
                put(format!("vcpu.{idx}.time"), TypedParam::ULLong(proc_task_time_ns(st.pid, tid)));
            }
        }
        if groups & stats::INTERFACE != 0 {
            let nics = def.devices.as_ref().map_or(0, |d| d.interfaces.len());
            put("net.count".into(), TypedParam::UInt(nics as u32));
        }
        if groups & stats::BLOCK != 0 {
            let blocks = qmp.execute("query-blockstats", Some(json!({"query-nodes": false}))).ok();
            let disks = def.devices.as_ref().map(|d| d.disks.clone()).unwrap_or_default();
            put("block.count".into(), TypedParam::UInt(disks.len() as u32));
            let list = blocks.and_then(|b| b.as_array().cloned()).unwrap_or_default();
            for (i, dk) in disks.iter().enumerate() {
                put(format!("block.{i}.name"), TypedParam::String(dk.target.dev.clone()));
                if let Some(p) = dk.source.as_ref().and_then(|s| s.file.clone().or_else(|| s.dev.clone())) {
                    put(format!("block.{i}.path"), TypedParam::String(p));
                }
                let qdev_match = |b: &&serde_json::Value| {
                    b["qdev"].as_str().is_some_and(|q| q.contains(&format!("/{}/", dk.target.dev)) || q.ends_with(&dk.target.dev))
                        || b["device"].as_str() == Some(dk.target.dev.as_str())
                };
                let stats_of = list.iter().find(qdev_match).or_else(|| list.get(i)).map(|b| b["stats"].clone());
                if let Some(sv) = stats_of {
                    for (k, q) in [("rd.reqs", "rd_operations"), ("rd.bytes", "rd_bytes"), ("rd.times", "rd_total_time_ns"),
                        ("wr.reqs", "wr_operations"), ("wr.bytes", "wr_bytes"), ("wr.times", "wr_total_time_ns"),
                        ("fl.reqs", "flush_operations"), ("fl.times", "flush_total_time_ns")] {
                        if let Some(n) = sv[q].as_u64() {
                            put(format!("block.{i}.{k}"), TypedParam::ULLong(n));
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    fn domain_snapshot_count(&self, _d: &DomainRef) -> Result<u32> {
        Ok(0)
    }

    fn domain_console_path(&self, d: &DomainRef, dev: Option<&str>) -> Result<String> {
        let e = self.read_by_ref(d)?;
        let _st = Self::require_active(&e)?;
        let def = e.definition()?;
        let devices = def.devices.unwrap_or_default();
        let pick =
            |c: &oxvirt_xml::domain::Chardev| c.source.sources.first().and_then(|s| s.path.clone());
        let path = match dev {
            None => devices
                .consoles
                .first()
                .and_then(pick)
                .or_else(|| devices.serials.first().and_then(pick)),
            Some(alias) => devices
                .consoles
                .iter()
                .chain(devices.serials.iter())
                .chain(devices.channels.iter())
                .find(|c| c.alias.as_ref().is_some_and(|a| a.name == alias))
                .and_then(pick),
        };
        path.filter(|p| p.starts_with("/dev/pts/")).ok_or_else(|| {
            op_invalid(format!(
                "domain '{}' has no console on a pty (add <console type='pty'/>)",
                e.name
            ))
        })
    }

    fn list_networks(&self, f: u32) -> Result<Vec<oxvirt_api::NetworkRef>> {
        self.net()?.list(f)
    }
    fn lookup_network_by_name(&self, name: &str) -> Result<oxvirt_api::NetworkRef> {
        self.net()?.lookup_by_name(name)
    }
    fn lookup_network_by_uuid(&self, uuid: &Uuid) -> Result<oxvirt_api::NetworkRef> {
        self.net()?.lookup_by_uuid(uuid)
    }
    fn network_define(&self, xml: &str, f: u32) -> Result<oxvirt_api::NetworkRef> {
        self.net()?.define(xml, f)
    }
    fn network_create_xml(&self, xml: &str, f: u32) -> Result<oxvirt_api::NetworkRef> {
        let (r, report) = self.net()?.create_xml(xml, f)?;
        for w in report.warnings {
            tracing::warn!("network '{}': {w}", r.name);
        }
        Ok(r)
    }
    fn network_create(&self, n: &oxvirt_api::NetworkRef) -> Result<()> {
        let report = self.net()?.start(n)?;
        for w in report.warnings {
            tracing::warn!("network '{}': {w}", n.name);
        }
        Ok(())
    }
    fn network_destroy(&self, n: &oxvirt_api::NetworkRef) -> Result<()> {
        self.net()?.destroy(n)
    }
    fn network_undefine(&self, n: &oxvirt_api::NetworkRef) -> Result<()> {
        self.net()?.undefine(n)
    }
    fn network_xml(&self, n: &oxvirt_api::NetworkRef, f: u32) -> Result<String> {
        self.net()?.xml(n, f)
    }
    fn network_bridge_name(&self, n: &oxvirt_api::NetworkRef) -> Result<String> {
        self.net()?.bridge_name(n)
    }
    fn network_autostart(&self, n: &oxvirt_api::NetworkRef) -> Result<bool> {
        self.net()?.autostart(n)
    }
    fn network_set_autostart(&self, n: &oxvirt_api::NetworkRef, on: bool) -> Result<()> {
        self.net()?.set_autostart(n, on)
    }
    fn network_is_active(&self, n: &oxvirt_api::NetworkRef) -> Result<bool> {
        self.net()?.is_active(n)
    }
    fn network_is_persistent(&self, n: &oxvirt_api::NetworkRef) -> Result<bool> {
        self.net()?.is_persistent(n)
    }
    fn network_dhcp_leases(&self, n: &oxvirt_api::NetworkRef, mac: Option<&str>) -> Result<Vec<oxvirt_api::types::DhcpLease>> {
        let mac = mac
            .map(|m| m.parse::<oxvirt_xml::MacAddr>().map_err(|_| Error::invalid_arg(format!("invalid MAC address '{m}'"))))
            .transpose()?;
        Ok(self.net()?.dhcp_leases(n, mac)?.into_iter().map(lease_to_api).collect())
    }
    fn network_update(
        &self,
        n: &oxvirt_api::NetworkRef,
        command: u32,
        section: u32,
        parent_index: i32,
        xml: &str,
        f: u32,
    ) -> Result<()> {
        self.net()?.update(n, command, section, parent_index, xml, f)
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

#[path = "iftune.rs"]
mod iftune;
