//! Network interfaces: `-netdev` backends (taps the driver opened, user networking) and NICs.

use std::net::IpAddr;

use oxvirt_xml::domain::*;
use oxvirt_xml::{OnOff, YesNo};

use super::super::ctx::Ctx;
use super::super::props::Props;
use super::super::{invalid, unsupported, CommandError};
use super::common::{alias, is_microvm, pci_props, virtio_opts};

pub(super) fn interfaces(cx: &mut Ctx) -> Result<(), CommandError> {
    let devs = cx.devs;
    for (i, n) in devs.interfaces.iter().enumerate() {
        let path = format!("/domain/devices/interface[{}]", i + 1);
        // Network, bridge, ethernet and direct (macvtap) NICs all get fds the driver opened.
        let is_tap = matches!(
            n.kind,
            InterfaceType::Network | InterfaceType::Bridge | InterfaceType::Ethernet | InterfaceType::Direct
        );
        let netid = format!("host{}", alias(&n.alias));
        // A tap the driver failed to open is its bug, not the definition's.
        let tap = if is_tap {
            let t = cx.env.taps.get(i).cloned().flatten().filter(|t| !t.fds.is_empty());
            Some(t.ok_or_else(|| invalid(format!("{path}/@type"), "no tap device was opened for this interface"))?)
        } else {
            None
        };
        let fd_list = |v: &[i32]| v.iter().map(i32::to_string).collect::<Vec<_>>().join(":");
        let mut np = match &tap {
            // QEMU probes the fds for a vnet header itself (`vnet_hdr` is refused with `fd`).
            // One fd: `fd`; a multiqueue tap: `fds` (libvirt's choice too), likewise vhost.
            Some(t) => {
                let mut p = Props::with("type", "tap");
                p = if t.fds.len() > 1 { p.s("fds", fd_list(&t.fds)) } else { p.s("fd", fd_list(&t.fds)) };
                p = p.b("vhost", !t.vhostfds.is_empty());
                match t.vhostfds.len() {
                    0 => {}
                    1 => p = p.s("vhostfd", fd_list(&t.vhostfds)),
                    _ => p = p.s("vhostfds", fd_list(&t.vhostfds)),
                }
                p.s("id", &netid)
            }
            None => Props::with("type", "user").s("id", &netid),
        };
        for ip in n.ips.iter().filter(|_| tap.is_none()) {
            let prefix = ip.prefix.unwrap_or(if ip.address.is_ipv4() { 24 } else { 64 });
            match ip.address {
                IpAddr::V4(a) => np = np.s("net", format!("{a}/{prefix}")),
                IpAddr::V6(a) => np = np.s("ipv6-net", format!("{a}/{prefix}")),
            }
        }
        cx.arg("-netdev", np.to_json());
        let model = n.model.as_ref().map_or("rtl8139", |m| m.kind.as_str());
        let drv = match model {
            "virtio" | "virtio-non-transitional" if is_microvm(cx) => "virtio-net-device".to_string(),
            "virtio" => "virtio-net-pci".to_string(),
            "virtio-transitional" => "virtio-net-pci-transitional".to_string(),
            "virtio-non-transitional" => "virtio-net-pci-non-transitional".to_string(),
            m => {
                if !cx.env.caps.has_device(m) {
                    return Err(unsupported(
                        format!("{path}/model/@type"),
                        format!("NIC model '{m}' is not known to this emulator"),
                    ));
                }
                m.to_string()
            }
        };
        let virtio = drv.starts_with("virtio");
        let queues = n.driver.as_ref().and_then(|d| d.queues).unwrap_or(1);
        if queues > 1 && !virtio {
            return Err(invalid(
                format!("{path}/driver/@queues"),
                format!("multiqueue (queues='{queues}') needs a virtio NIC model, not '{model}'"),
            ));
        }
        if queues > 1 && tap.is_none() {
            return Err(unsupported(format!("{path}/driver/@queues"), "multiqueue on user networking"));
        }
        if let Some(t) = tap.as_ref().filter(|t| queues > 1 && t.fds.len() != queues as usize) {
            return Err(invalid(
                format!("{path}/driver/@queues"),
                format!("{queues} queues but {} tap descriptors were opened", t.fds.len()),
            ));
        }
        let mut p = Props::with("driver", &drv);
        if queues > 1 {
            // Two MSI-X vectors per queue pair, one for config and one for control (libvirt's
            // 2N+2); devices off PCI have no vectors property.
            p = p.b("mq", true);
            if !is_microvm(cx) {
                p = p.n("vectors", 2 * u64::from(queues) + 2);
            }
        }
        let mut p = p.s("netdev", &netid).s("id", alias(&n.alias));
        if let Some(m) = &n.mac {
            p = p.s("mac", m.address.to_string());
        }
        if let Some(dr) = &n.driver {
            // The backend's name and a single queue mean nothing to other models (vhost on them
            // is refused when the taps are opened, see `vhost_wanted`).
            let tuning = InterfaceDriver { name: None, queues: None, ..dr.clone() };
            if !virtio && tuning != InterfaceDriver::default() {
                return Err(invalid(format!("{path}/driver"), "driver tuning is for virtio NICs"));
            }
            if dr.txmode.is_some()
                || dr.host.is_some()
                || dr.guest.is_some()
                || dr.rss.is_some()
                || dr.rss_hash_report.is_some()
            {
                return Err(unsupported(format!("{path}/driver"), "txmode, offload and RSS settings"));
            }
            p = p
                .opt_n("rx_queue_size", dr.rx_queue_size.map(u64::from))
                .opt_n("tx_queue_size", dr.tx_queue_size.map(u64::from))
                .opt_b("event_idx", dr.event_idx.map(|x| x == OnOff::On))
                .opt_b("ioeventfd", dr.ioeventfd.map(|x| x == OnOff::On));
            p = virtio_opts(p, &dr.virtio);
        }
        if let Some(m) = &n.mtu {
            if !virtio {
                return Err(invalid(format!("{path}/mtu"), "MTU is for virtio NICs"));
            }
            p = p.n("host_mtu", m.size.into());
        }
        if !is_microvm(cx) {
            p = p.extend(pci_props(cx, &n.address, &path)?);
        }
        if let Some(b) = cx.net_boot[i] {
            p = p.n("bootindex", b.into());
        }
        if let Some(r) = &n.rom {
            if r.enabled == Some(YesNo::No) {
                p = p.s("romfile", "");
            } else if let Some(f) = &r.file {
                p = p.s("romfile", f);
            }
            if let Some(bar) = r.bar {
                p = p.b("rombar", bar == OnOff::On);
            }
        }
        cx.device(p);
    }
    Ok(())
}
