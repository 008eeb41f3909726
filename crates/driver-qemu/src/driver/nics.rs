//! NIC plumbing: taps, macvtaps, network connections and their release.

use super::*;
use oxvirt_api::{NetworkPort, NetworkPorts, PortPlug, PortRequest};
use oxvirt_sysutil::rollback::Rollback;

pub(super) fn mac_of(n: &Interface) -> Option<oxvirt_xml::MacAddr> {
    n.mac.as_ref().map(|m| m.address)
}

/// A `type='bridge'` (or managed `'ethernet'`) tap's nftables outbound limit outlives the tap:
/// removed when it goes. (The network driver does the same for the taps of networks.)
pub(super) fn forget_bridge_tap_limit(n: &Interface) {
    if !matches!(n.kind, InterfaceType::Bridge | InterfaceType::Ethernet)
        || n.bandwidth.as_ref().is_none_or(|b| b.outbound.is_none())
    {
        return;
    }
    if let Some(dev) = n.target.as_ref().and_then(|t| t.dev.as_deref()) {
        if let Err(e) = oxvirt_network::bandwidth::forget(&oxvirt_network::bandwidth::TcCommand::system(), dev) {
            tracing::warn!("removing the outbound limit of {dev}: {e}");
        }
    }
}

/// The taps of a starting guest. Until `undo` is committed, dropping it gives the network
/// ports back and deletes the macvtaps made (taps vanish with their last fd).
pub(super) struct NicTaps {
    pub(super) fds: Vec<std::os::fd::OwnedFd>,
    pub(super) args: Vec<Option<TapArg>>,
    /// Per `type='network'` NIC its port, per direct NIC its macvtap (which outlives its fds).
    pub(super) undo: Rollback,
}

/// A macvtap oxvirt made for a guest.
pub(super) struct CreatedMacvtap {
    pub(super) name: String,
    pub(super) lower: String,
    /// Passthrough: the lower device's own MAC.
    pub(super) lower_mac: Option<oxvirt_xml::MacAddr>,
    /// The macvtap network whose forward device `lower` is.
    pub(super) network: Option<String>,
    /// The guest's inbound limit may be an nftables table, which outlives the device.
    pub(super) nft_limit: bool,
}

/// Removes the nftables outbound limit of a network port's tap, which outlives the tap.
fn forget_port_tap_limit(dev: &str) {
    if let Err(e) = oxvirt_network::bandwidth::forget(&oxvirt_network::bandwidth::TcCommand::system(), dev) {
        tracing::warn!("removing the outbound limit of {dev}: {e}");
    }
}

/// Removes a macvtap's nftables limit (see [`CreatedMacvtap::nft_limit`]).
pub(super) fn forget_macvtap_limit(name: &str) {
    if let Err(e) = oxvirt_network::bandwidth::forget(&oxvirt_network::bandwidth::TcCommand::system(), name) {
        tracing::warn!("removing the inbound limit of {name}: {e}");
    }
}

impl CreatedMacvtap {
    /// Deletes the macvtap of a failed start and puts back a passthrough device's MAC (its
    /// network port, if any, is given back by an undo step of its own); reports what failed.
    fn undo(self) -> std::result::Result<(), String> {
        let mut failed = Vec::new();
        if let Err(e) = oxvirt_network::delete_macvtap(&self.name) {
            failed.push(format!("deleting it: {e}"));
        }
        if self.nft_limit {
            forget_macvtap_limit(&self.name);
        }
        if let Some(mac) = self.lower_mac {
            oxvirt_network::macvtap::restore_lower_mac(&self.lower, mac);
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed.join("; "))
        }
    }
}

/// NIC types whose backend is a tap-like fd oxvirt opens (a tap, or a macvtap's queue).
pub(super) fn uses_tap_fd(kind: InterfaceType) -> bool {
    matches!(kind, InterfaceType::Network | InterfaceType::Bridge | InterfaceType::Ethernet | InterfaceType::Direct)
}

/// A direct interface's failure, naming the element it came from.
pub(super) fn direct_error(path: &str, lower: &str, target: Option<&str>, e: &oxvirt_network::MacvtapError) -> Error {
    use oxvirt_network::MacvtapError as E;
    match e {
        E::NoLower => {
            Error::coded(ErrorCode::OperationFailed, ErrorDomain::Qemu, format!("{path}: <source dev='{lower}'>: {e}"))
        }
        E::Exists(n) => Error::coded(
            ErrorCode::OperationFailed,
            ErrorDomain::Qemu,
            format!("{path}: <target dev='{n}'>: a network device of that name exists already"),
        ),
        _ => Error::new(
            ErrorCode::SystemError,
            ErrorDomain::Qemu,
            format!(
                "{path}: <source dev='{lower}'>{}: {e}",
                target.map(|t| format!(" <target dev='{t}'>")).unwrap_or_default()
            ),
        ),
    }
}

impl QemuDriver {
    /// Where this root's guests get network ports: the network driver the connection carries.
    pub(super) fn ports(&self) -> Result<Arc<dyn NetworkPorts>> {
        self.secondary.network_ports.clone().ok_or_else(|| {
            Error::coded(
                ErrorCode::OperationUnsupported,
                ErrorDomain::Network,
                format!("no network driver serves {} in this process (interface type 'network')", self.uri),
            )
        })
    }

    /// Opens the tap of every `<interface type='network'|'bridge'|'ethernet'>` (on the network's
    /// bridge, the named one, or none) and the macvtap of every `type='direct'` one (or
    /// `type='network'` on a macvtap network), one fd per queue plus vhost-net fds if used, and
    /// records the device in `def` (`<target dev>`, and for a macvtap network the actual
    /// `type='direct'` source), as the live XML shows it.
    /// `only`: just that interface (hot-plug), the others get no tap.
    pub(super) fn open_taps(&self, def: &mut Domain, only: Option<usize>) -> Result<NicTaps> {
        let mut out = NicTaps { fds: Vec::new(), args: Vec::new(), undo: Rollback::new() };
        let name = def.name.clone();
        let run_dir = self.layout.domain_run_dir(&name)?;
        let accel = accel_of(def);
        let vhost_net = Path::new(crate::nic::VHOST_NET).exists();
        let Some(devs) = def.devices.as_mut() else { return Ok(out) };
        for (i, n) in devs.interfaces.iter_mut().enumerate() {
            if !uses_tap_fd(n.kind) || only.is_some_and(|o| o != i) {
                out.args.push(None);
                continue;
            }
            // A `type='network'` NIC gets a port of its network: a tap on its bridge, or on a
            // macvtap network a direct interface on the device the network picks.
            let port = match n.source.as_ref().filter(|_| n.kind == InterfaceType::Network) {
                Some(src) => {
                    let network = src.network.clone().ok_or_else(|| {
                        Error::unsupported_config(format!(
                            "domain '{name}': /domain/devices/interface[{}]/source/@network: no source network given",
                            i + 1
                        ))
                        .in_domain(ErrorDomain::Qemu)
                    })?;
                    let mac = mac_of(n).ok_or_else(|| {
                        Error::internal(format!(
                            "domain '{name}': /domain/devices/interface[{}] has no MAC address after completion",
                            i + 1
                        ))
                    })?;
                    let ports = self.ports()?;
                    let req = PortRequest {
                        network: &network,
                        mac,
                        portgroup: src.portgroup.as_deref(),
                        bandwidth: n.bandwidth.as_ref(),
                    };
                    let port = ports.allocate_port(&req)?;
                    let direct = match &port.plug {
                        PortPlug::Direct { dev, .. } => Some(dev.clone()),
                        PortPlug::Bridge { .. } => None,
                    };
                    out.undo.push(format!("giving back a port of network '{network}'"), move || {
                        ports.release_port(&network, direct.as_deref()).map_err(|e| e.to_string())
                    });
                    Some(port)
                }
                None => None,
            };
            let direct_port = port.as_ref().filter(|p| matches!(p.plug, PortPlug::Direct { .. }));
            let nic = if n.kind == InterfaceType::Direct || direct_port.is_some() {
                self.open_direct(&mut out, &name, n, i, (accel, vhost_net), &run_dir, direct_port.cloned())?
            } else {
                crate::nic::open_nic(&name, n, i, accel, vhost_net, port.as_ref())?
            };
            if let Some((_, bridge)) = nic.network {
                // Set whenever the NIC's tap joined a network's bridge.
                let dev = nic.ifname.clone();
                out.undo.push(format!("removing the outbound limit of {dev}"), move || {
                    forget_port_tap_limit(&dev);
                    Ok(())
                });
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

    /// Creates and opens the macvtap of direct interface `index`: on `<source dev>` in `<source
    /// mode>` (vepa when not given), or on the forward device of network port `network` (whose
    /// release the caller registered). One queue fd per `<driver queues>`, vhost-net as for taps (`vhost`: the accel
    /// and whether /dev/vhost-net exists). Registered in `out`, so a failed start deletes it again.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn open_direct(
        &self,
        out: &mut NicTaps,
        dom: &str,
        n: &mut Interface,
        index: usize,
        vhost: (Accel, bool),
        run_dir: &Path,
        network: Option<NetworkPort>,
    ) -> Result<crate::nic::OpenedNic> {
        use oxvirt_network::netlink::MacvlanMode;
        use oxvirt_xml::domain::devices::interface::InterfaceSourceMode as M;
        use oxvirt_xml::network::ForwardMode as F;
        let path = format!("interface {}", index + 1);
        let network = network.and_then(|p| match p.plug {
            PortPlug::Direct { dev, mode } => Some((p.network, dev, mode)),
            PortPlug::Bridge { .. } => None,
        });
        let prepared = (|| {
            let mac = mac_of(n).ok_or_else(|| {
                Error::internal(format!("domain '{dom}': {path} has no MAC address after completion"))
            })?;
            if n.target.as_ref().and_then(|t| t.managed) == Some(oxvirt_xml::YesNo::No) {
                return Err(Error::unsupported_config(format!(
                    "{path}: <target managed='no'>: not supported on a macvtap (type 'direct')"
                )));
            }
            let (lower, mode, xml_mode) = match &network {
                Some((_, dev, fmode)) => {
                    let (m, x) = match fmode {
                        F::Bridge => (MacvlanMode::Bridge, M::Bridge),
                        F::Private => (MacvlanMode::Private, M::Private),
                        F::Passthrough => (MacvlanMode::Passthru, M::Passthrough),
                        _ => (MacvlanMode::Vepa, M::Vepa),
                    };
                    (dev.clone(), m, x)
                }
                None => {
                    let src = n.source.as_ref();
                    let lower = src.and_then(|s| s.dev.clone()).ok_or_else(|| {
                        Error::unsupported_config(format!(
                            "{path}: <source dev>: a direct interface names the host interface it uses"
                        ))
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
            let tap =
                oxvirt_network::open_macvtap(&spec).map_err(|e| direct_error(&path, &lower, wanted.as_deref(), &e))?;
            Ok((tap, lower, xml_mode, vhost_fds, virtio))
        })();
        let (tap, lower, xml_mode, vhost_fds, virtio) = prepared?;
        let made = CreatedMacvtap {
            name: tap.name.clone(),
            lower: lower.clone(),
            lower_mac: tap.lower_mac,
            network: network.as_ref().map(|(net, _, _)| net.clone()),
            nft_limit: n.bandwidth.as_ref().is_some_and(|b| b.inbound.is_some()),
        };
        out.undo.push(format!("removing macvtap {} after a failed start", tap.name), move || made.undo());
        if let Some(m) = tap.lower_mac {
            // Passthrough: the lower device's own MAC, put back when the guest is gone.
            let file = run_dir.join(format!("passthrough-{lower}.mac"));
            write_atomic(&file, m.to_string().as_bytes(), 0o644)
                .map_err(|e| sys_err(format!("writing {}", file.display()), &e))?;
        }
        if let Some(bw) = n.bandwidth.as_ref().filter(|b| oxvirt_network::bandwidth::has_limits(b)) {
            let bw = oxvirt_network::bandwidth::for_macvtap(bw);
            oxvirt_network::bandwidth::apply(&oxvirt_network::bandwidth::TcCommand::system(), &tap.name, &bw, false)
                .map_err(|e| {
                    Error::new(
                        ErrorCode::OperationFailed,
                        ErrorDomain::Qemu,
                        format!("{path}: <bandwidth>: setting limits on {}: {e}", tap.name),
                    )
                })?;
        }
        if let Some((_, dev, _)) = network {
            // The live XML shows what the guest got, as libvirt does: a direct interface on the
            // network's forward device.
            n.kind = InterfaceType::Direct;
            n.source.get_or_insert_with(Default::default).dev = Some(dev);
        }
        n.source.get_or_insert_with(Default::default).mode = Some(xml_mode);
        Ok(crate::nic::OpenedNic { ifname: tap.name, tap_fds: tap.fds, vhost_fds, vnet_hdr: virtio, network: None })
    }

    /// A guest stopped: its taps are gone with QEMU and their network ports are given back; its
    /// macvtaps (which outlive QEMU) are deleted.
    pub(super) fn release_taps(&self, live_xml: &str) {
        let Ok(def) = Domain::from_xml_str(live_xml) else { return };
        let Ok(run_dir) = self.layout.domain_run_dir(&def.name) else { return };
        for n in def.devices.iter().flat_map(|d| &d.interfaces) {
            forget_bridge_tap_limit(n);
            self.release_nic(n, &run_dir);
        }
    }

    /// Gives back what one running NIC held (see [`QemuDriver::release_taps`]).
    pub(super) fn release_nic(&self, n: &Interface, run_dir: &Path) {
        let network = n.source.as_ref().and_then(|s| s.network.clone());
        let Some(dev) = n.target.as_ref().and_then(|t| t.dev.clone()) else { return };
        match n.kind {
            InterfaceType::Network => {
                if let Some(network) = network {
                    forget_port_tap_limit(&dev);
                    if let Err(e) = self.ports().and_then(|p| p.release_port(&network, None)) {
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
    pub(super) fn remove_macvtap(&self, m: &CreatedMacvtap, run_dir: &Path) {
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
            if let Err(e) = self.ports().and_then(|p| p.release_port(network, Some(&m.lower))) {
                tracing::warn!("releasing {} from network '{network}': {e}", m.lower);
            }
        }
    }

    pub(super) fn attach_interface(
        &self,
        d: &DomainRef,
        n: Interface,
        f: oxvirt_api::DomainDeviceModifyFlags,
    ) -> Result<()> {
        let _l = self.lock_domain(&d.name, "attach-device")?;
        let e = self.entry_by_ref(d)?;
        let (live, config) = impact(f.impact(), &e)?;
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
            let mut c =
                e.config.clone().ok_or_else(|| op_invalid("cannot change persistent config of a transient domain"))?;
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
    pub(super) fn attach_interface_live(&self, e: &Entry, mut n: Interface) -> Result<()> {
        let mut st = Self::require_active(e)?;
        let ldef = e.definition()?;
        let mut def = ldef.clone();
        let devices = def.devices.get_or_insert_with(Default::default);
        if let Some(mac) = mac_of(&n) {
            if devices.interfaces.iter().any(|x| mac_of(x) == Some(mac)) {
                return Err(op_invalid(format!("an interface with MAC address {mac} already exists")));
            }
        }
        let used: BTreeSet<String> =
            devices.interfaces.iter().filter_map(|x| x.alias.as_ref().map(|a| a.name.clone())).collect();
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
        command::assign_addresses(&mut def, &env)
            .map_err(|x| Error::unsupported_config(x).in_domain(ErrorDomain::Qemu))?;
        command::assign_aliases(&mut def);
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
        std::mem::take(&mut nics.undo).commit();
        Ok(())
    }

    pub(super) fn detach_interface(
        &self,
        d: &DomainRef,
        n: Interface,
        f: oxvirt_api::DomainDeviceModifyFlags,
    ) -> Result<()> {
        let mac = mac_of(&n).ok_or_else(|| Error::invalid_arg("the interface to detach must name its MAC address"))?;
        let _l = self.lock_domain(&d.name, "detach-device")?;
        let e = self.entry_by_ref(d)?;
        let (live, config) = impact(f.impact(), &e)?;
        let missing = || {
            Error::coded(ErrorCode::DeviceMissing, ErrorDomain::Qemu, format!("no interface with MAC address {mac}"))
        };
        if live {
            let mut st = Self::require_active(&e)?;
            let mut def = e.definition()?;
            let devices = def.devices.get_or_insert_with(Default::default);
            let idx = devices.interfaces.iter().position(|x| mac_of(x) == Some(mac)).ok_or_else(missing)?;
            let old = devices.interfaces[idx].clone();
            let alias = old
                .alias
                .as_ref()
                .map(|a| a.name.clone())
                .ok_or_else(|| Error::internal("live interface without alias"))?;
            let fail = |what: &str, x: &dyn std::fmt::Display| qmp_err(&e.name, what, x);
            let mut qmp = self.qmp(&st)?;
            qmp.execute("device_del", Some(json!({"id": alias}))).map_err(|x| fail("removing the NIC", &x))?;
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match qmp.wait_event("DEVICE_DELETED", left) {
                    Ok(ev) if ev.data.get("device").and_then(|x| x.as_str()) == Some(alias.as_str()) => break,
                    Ok(_) => continue,
                    Err(x) => {
                        return Err(fail(
                            "waiting for the guest to release the NIC (is ACPI hotplug enabled in the guest?)",
                            &x,
                        ))
                    }
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
            let mut c =
                e.config.clone().ok_or_else(|| op_invalid("cannot change persistent config of a transient domain"))?;
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

    pub(super) fn interface_addresses(
        &self,
        d: &DomainRef,
        source: u32,
    ) -> Result<Vec<oxvirt_api::types::DomainInterface>> {
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
            let Some(network) =
                n.source.as_ref().and_then(|s| s.network.clone()).filter(|_| n.kind == InterfaceType::Network)
            else {
                continue;
            };
            let Some(mac) = n.mac.as_ref().map(|m| m.address) else { continue };
            let net = self.secondary.network.as_ref().ok_or_else(|| {
                Error::coded(
                    ErrorCode::OperationUnsupported,
                    ErrorDomain::Network,
                    format!("no network driver serves {} in this process", self.uri),
                )
            })?;
            let nref = net.lookup_network_by_name(&network)?;
            let leases = net.network_dhcp_leases(&nref, Some(&mac.to_string()))?;
            if leases.is_empty() {
                continue;
            }
            out.push(oxvirt_api::types::DomainInterface {
                name: n.target.as_ref().and_then(|t| t.dev.clone()).unwrap_or_default(),
                hwaddr: Some(mac.to_string()),
                addrs: leases.into_iter().map(|l| (l.kind, l.ipaddr, l.prefix)).collect(),
            });
        }
        Ok(out)
    }
}
