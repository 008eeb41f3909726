//! The one internal API: every hypervisor driver implements [`Driver`]; every front end (the
//! embedded CLI, the daemon's wire protocol, the Rust API) calls it. Operations a driver does not
//! have answer `NoSupport`, as libvirt does, so drivers grow one operation at a time.

use std::sync::Arc;

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::port::SecondaryDrivers;
use crate::types::*;
use crate::uri::ConnectUri;

/// A domain as the API names it: libvirt's (name, uuid, id) triple; id is -1 when inactive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DomainRef {
    pub name: String,
    pub uuid: Uuid,
    pub id: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NetworkRef {
    pub name: String,
    pub uuid: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolRef {
    pub name: String,
    pub uuid: Uuid,
}

/// A host device (`virNodeDevicePtr`), named like libvirt (`pci_0000_00_1f_2`, `net_eth0_52_54_00_..`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeDevRef {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VolRef {
    pub pool: String,
    pub name: String,
    /// Unique key, for file-backed volumes the path.
    pub key: String,
}

/// Receives lifecycle events; must not block.
pub type DomainEventCallback = Arc<dyn Fn(&DomainEvent) + Send + Sync>;

macro_rules! unsupported {
    ($($(#[$m:meta])* fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty;)*) => {$(
        $(#[$m])*
        fn $name(&self $(, $arg: $ty)*) -> $ret {
            $(let _ = $arg;)*
            Err(Error::no_support(stringify!($name)))
        }
    )*};
}

/// A connection to one hypervisor driver instance.
pub trait Driver: Send + Sync {
    /// `virConnectGetType`: "QEMU", "Test", "LXC".
    fn kind(&self) -> &'static str;
    fn uri(&self) -> String;

    unsupported! {
        /// Hypervisor version as major * 1_000_000 + minor * 1_000 + micro.
        fn hypervisor_version(&self) -> Result<u64>;
        fn hostname(&self) -> Result<String>;
        /// Capabilities XML.
        fn capabilities(&self) -> Result<String>;
        fn node_info(&self) -> Result<NodeInfo>;
        fn domain_capabilities(&self, emulator: Option<&str>, arch: Option<&str>, machine: Option<&str>, virttype: Option<&str>) -> Result<String>;
        fn max_vcpus(&self, kind: Option<&str>) -> Result<u32>;

        fn list_domains(&self, flags: ConnectListAllDomainsFlags) -> Result<Vec<DomainRef>>;
        fn lookup_domain_by_name(&self, name: &str) -> Result<DomainRef>;
        fn lookup_domain_by_uuid(&self, uuid: &Uuid) -> Result<DomainRef>;
        fn lookup_domain_by_id(&self, id: i32) -> Result<DomainRef>;
        /// Returns the new definition and the parser's warnings about what it passed over.
        fn domain_define(&self, xml: &str, flags: u32) -> Result<(DomainRef, Vec<String>)>;
        fn domain_undefine(&self, d: &DomainRef, flags: DomainUndefineFlags) -> Result<()>;
        fn domain_create(&self, d: &DomainRef, flags: DomainCreateFlags) -> Result<DomainRef>;
        fn domain_create_xml(&self, xml: &str, flags: DomainCreateFlags) -> Result<DomainRef>;
        fn domain_shutdown(&self, d: &DomainRef, flags: u32) -> Result<()>;
        fn domain_reboot(&self, d: &DomainRef, flags: DomainRebootFlagValues) -> Result<()>;
        fn domain_reset(&self, d: &DomainRef, flags: u32) -> Result<()>;
        fn domain_destroy(&self, d: &DomainRef, flags: u32) -> Result<()>;
        fn domain_suspend(&self, d: &DomainRef) -> Result<()>;
        fn domain_resume(&self, d: &DomainRef) -> Result<()>;
        fn domain_save(&self, d: &DomainRef, path: &str, dxml: Option<&str>, flags: u32) -> Result<()>;
        fn domain_restore(&self, path: &str, dxml: Option<&str>, flags: u32) -> Result<DomainRef>;
        fn domain_save_image_xml(&self, path: &str, flags: u32) -> Result<String>;
        fn domain_managed_save(&self, d: &DomainRef, flags: u32) -> Result<()>;
        fn domain_has_managed_save(&self, d: &DomainRef) -> Result<bool>;
        fn domain_managed_save_remove(&self, d: &DomainRef) -> Result<()>;
        fn domain_xml(&self, d: &DomainRef, flags: DomainXmlFlags) -> Result<String>;
        fn domain_info(&self, d: &DomainRef) -> Result<DomainInfo>;
        /// State and reason.
        fn domain_state(&self, d: &DomainRef) -> Result<(DomainState, i32)>;
        fn domain_os_type(&self, d: &DomainRef) -> Result<String>;
        fn domain_autostart(&self, d: &DomainRef) -> Result<bool>;
        fn domain_set_autostart(&self, d: &DomainRef, on: bool) -> Result<()>;
        fn domain_is_persistent(&self, d: &DomainRef) -> Result<bool>;
        fn domain_is_updated(&self, d: &DomainRef) -> Result<bool>;
        fn domain_set_memory(&self, d: &DomainRef, kib: u64, flags: DomainMemoryModFlags) -> Result<()>;
        fn domain_set_vcpus(&self, d: &DomainRef, count: u32, flags: DomainVcpuFlags) -> Result<()>;
        fn domain_attach_device(&self, d: &DomainRef, xml: &str, flags: DomainDeviceModifyFlags) -> Result<()>;
        /// Changes a device in place (virsh domif-setlink, change-media).
        fn domain_update_device(&self, d: &DomainRef, xml: &str, flags: DomainDeviceModifyFlags) -> Result<()>;
        /// Guest interfaces and their addresses from `source` (`netupdate::ADDRESSES_SRC_*`).
        fn domain_interface_addresses(&self, d: &DomainRef, source: u32) -> Result<Vec<DomainInterface>>;
        fn domain_detach_device(&self, d: &DomainRef, xml: &str, flags: DomainDeviceModifyFlags) -> Result<()>;
        fn domain_snapshot_count(&self, d: &DomainRef) -> Result<u32>;
        /// Statistics of the groups in `stats` (`stats::*`), as libvirt's named typed parameters.
        fn domain_stats(&self, d: &DomainRef, stats: u32) -> Result<Vec<(String, TypedParam)>>;
        /// `virDomainSetInterfaceParameters`: `device` names the interface by target dev or MAC;
        /// `params` are [`iftune::NAMES`](crate::types::iftune::NAMES) as unsigned ints.
        fn domain_set_interface_parameters(&self, d: &DomainRef, device: &str, params: &[(String, TypedParam)], flags: u32) -> Result<()>;
        /// `virDomainGetInterfaceParameters`: all seven, in libvirt's order.
        fn domain_get_interface_parameters(&self, d: &DomainRef, device: &str, flags: u32) -> Result<Vec<(String, TypedParam)>>;
        /// Path of a character device the console can be opened on (a pty).
        fn domain_console_path(&self, d: &DomainRef, dev: Option<&str>) -> Result<String>;

        fn list_networks(&self, flags: u32) -> Result<Vec<NetworkRef>>;
        fn lookup_network_by_name(&self, name: &str) -> Result<NetworkRef>;
        fn lookup_network_by_uuid(&self, uuid: &Uuid) -> Result<NetworkRef>;
        fn network_define(&self, xml: &str, flags: u32) -> Result<NetworkRef>;
        fn network_create_xml(&self, xml: &str, flags: u32) -> Result<NetworkRef>;
        fn network_create(&self, n: &NetworkRef) -> Result<()>;
        fn network_destroy(&self, n: &NetworkRef) -> Result<()>;
        fn network_undefine(&self, n: &NetworkRef) -> Result<()>;
        fn network_xml(&self, n: &NetworkRef, flags: u32) -> Result<String>;
        fn network_bridge_name(&self, n: &NetworkRef) -> Result<String>;
        fn network_autostart(&self, n: &NetworkRef) -> Result<bool>;
        fn network_set_autostart(&self, n: &NetworkRef, on: bool) -> Result<()>;
        fn network_is_active(&self, n: &NetworkRef) -> Result<bool>;
        fn network_is_persistent(&self, n: &NetworkRef) -> Result<bool>;
        fn network_dhcp_leases(&self, n: &NetworkRef, mac: Option<&str>) -> Result<Vec<DhcpLease>>;
        /// `virNetworkUpdate`: `command`/`section` are `netupdate::*`.
        fn network_update(&self, n: &NetworkRef, command: u32, section: u32, parent_index: i32, xml: &str, flags: u32) -> Result<()>;

        fn list_pools(&self, flags: u32) -> Result<Vec<PoolRef>>;
        fn lookup_pool_by_name(&self, name: &str) -> Result<PoolRef>;
        fn lookup_pool_by_uuid(&self, uuid: &Uuid) -> Result<PoolRef>;
        fn lookup_pool_by_volume(&self, v: &VolRef) -> Result<PoolRef>;
        fn pool_define(&self, xml: &str, flags: u32) -> Result<PoolRef>;
        fn pool_create_xml(&self, xml: &str, flags: u32) -> Result<PoolRef>;
        fn pool_build(&self, p: &PoolRef, flags: u32) -> Result<()>;
        fn pool_create(&self, p: &PoolRef, flags: u32) -> Result<()>;
        fn pool_destroy(&self, p: &PoolRef) -> Result<()>;
        fn pool_delete(&self, p: &PoolRef, flags: u32) -> Result<()>;
        fn pool_undefine(&self, p: &PoolRef) -> Result<()>;
        fn pool_refresh(&self, p: &PoolRef, flags: u32) -> Result<()>;
        fn pool_xml(&self, p: &PoolRef, flags: u32) -> Result<String>;
        fn pool_info(&self, p: &PoolRef) -> Result<PoolInfo>;
        fn pool_autostart(&self, p: &PoolRef) -> Result<bool>;
        fn pool_set_autostart(&self, p: &PoolRef, on: bool) -> Result<()>;
        fn pool_is_active(&self, p: &PoolRef) -> Result<bool>;
        fn pool_is_persistent(&self, p: &PoolRef) -> Result<bool>;
        fn list_volumes(&self, p: &PoolRef) -> Result<Vec<VolRef>>;
        fn lookup_volume_by_name(&self, p: &PoolRef, name: &str) -> Result<VolRef>;
        fn lookup_volume_by_key(&self, key: &str) -> Result<VolRef>;
        fn lookup_volume_by_path(&self, path: &str) -> Result<VolRef>;
        fn volume_create_xml(&self, p: &PoolRef, xml: &str, flags: u32) -> Result<VolRef>;
        fn volume_delete(&self, v: &VolRef, flags: u32) -> Result<()>;
        fn volume_xml(&self, v: &VolRef, flags: u32) -> Result<String>;
        fn volume_info(&self, v: &VolRef) -> Result<VolInfo>;
        fn volume_path(&self, v: &VolRef) -> Result<String>;
        /// `virStorageVolResize`: `capacity` in bytes, absolute or (with the delta flag) relative.
        fn volume_resize(&self, v: &VolRef, capacity: u64, flags: u32) -> Result<()>;
        /// `virStorageVolWipePattern` (`virStorageVolWipe` is algorithm 0, zero).
        fn volume_wipe_pattern(&self, v: &VolRef, algorithm: u32, flags: u32) -> Result<()>;
        /// `virStorageVolCreateXMLFrom`: a new volume in `p` holding `clone`'s data (vol-clone).
        fn volume_create_xml_from(&self, p: &PoolRef, xml: &str, clone: &VolRef, flags: u32) -> Result<VolRef>;

        /// Host devices, optionally only those with capability `cap` (`pci`, `net`, `usb_device`, ...).
        fn list_node_devices(&self, cap: Option<&str>) -> Result<Vec<NodeDevRef>>;
        fn lookup_node_device(&self, name: &str) -> Result<NodeDevRef>;
        fn node_device_xml(&self, dev: &NodeDevRef) -> Result<String>;
        fn node_device_parent(&self, dev: &NodeDevRef) -> Result<Option<String>>;

        /// Registers a lifecycle event callback for one domain or all; returns its id.
        fn domain_event_register(&self, d: Option<&DomainRef>, cb: DomainEventCallback) -> Result<i32>;
        fn domain_event_deregister(&self, id: i32) -> Result<()>;
    }

    fn domain_is_active(&self, d: &DomainRef) -> Result<bool> {
        Ok(self.domain_state(d)?.0.is_active())
    }

    /// The drivers of other object families this connection carries (see
    /// [`SecondaryDrivers`]); [`Connect`](crate::Connect) sends those families' calls to them.
    /// None by default: the driver answers every family itself.
    fn secondary_drivers(&self) -> SecondaryDrivers {
        SecondaryDrivers::default()
    }

    // Typed queries libvirt has as calls of their own. The defaults read the driver's own XML
    // through the typed model, once, so front ends never scan XML text; a driver (or the remote
    // one, over the wire) overrides them when it knows better.

    /// `virDomainGetVcpusFlags`: `AFFECT_CONFIG` reads the persistent definition, `AFFECT_LIVE`
    /// the running one (neither: whichever the domain's state says); `VCPU_MAXIMUM` asks for
    /// the `<vcpu>` count rather than the vCPUs online.
    fn domain_vcpus_flags(&self, d: &DomainRef, flags: DomainVcpuFlags) -> Result<u32> {
        let config = flags.contains(DomainVcpuFlags::CONFIG)
            || (!flags.contains(DomainVcpuFlags::LIVE) && !self.domain_is_active(d)?);
        if !config && !flags.contains(DomainVcpuFlags::MAXIMUM) && !self.domain_is_active(d)? {
            return Err(Error::operation_invalid("domain is not running"));
        }
        let def = parse_model::<oxvirt_xml::domain::Domain>(
            &self.domain_xml(d, if config { DomainXmlFlags::INACTIVE } else { DomainXmlFlags::empty() })?,
            "domain",
        )?;
        let vcpu = def.vcpu.as_ref().ok_or_else(|| Error::internal("domain XML has no <vcpu> element"))?;
        Ok(if flags.contains(DomainVcpuFlags::MAXIMUM) { vcpu.count } else { vcpu.current.unwrap_or(vcpu.count) })
    }
    /// `virDomainGetMaxVcpus`: the running definition's `<vcpu>` count (the persistent one's when
    /// the domain is not running).
    fn domain_max_vcpus(&self, d: &DomainRef) -> Result<u32> {
        self.domain_vcpus_flags(d, DomainVcpuFlags::LIVE | DomainVcpuFlags::MAXIMUM)
    }
    /// `virNodeGetSecurityModel`: the host's first `<secmodel>` in the capabilities, as libvirt's
    /// drivers report it; "none" (DOI "0") when no security driver runs or the capabilities
    /// cannot be had, as libvirt answers without one.
    fn node_security_model(&self) -> Result<SecurityModel> {
        let first = self
            .capabilities()
            .ok()
            .and_then(|x| parse_model::<oxvirt_xml::capabilities::Capabilities>(&x, "capabilities").ok())
            .and_then(|c| c.host.secmodels.into_iter().next());
        Ok(match first {
            Some(m) => SecurityModel { model: m.model.trim().to_string(), doi: m.doi.trim().to_string() },
            None => SecurityModel { model: "none".into(), doi: "0".into() },
        })
    }
    /// `virDomainGetSecurityLabel`: the live definition's `<seclabel><label>`, enforcing when the
    /// driver labelled the guest.
    fn domain_security_label(&self, d: &DomainRef) -> Result<SecurityLabel> {
        let def = parse_model::<oxvirt_xml::domain::Domain>(&self.domain_xml(d, DomainXmlFlags::empty())?, "domain")?;
        Ok(match def.seclabels.iter().find_map(|s| s.label.as_deref()) {
            Some(l) => SecurityLabel { label: l.trim().to_string(), enforcing: true },
            None => SecurityLabel { label: String::new(), enforcing: false },
        })
    }
    /// `virNodeDeviceListCaps`: the capability names the device answers to, nested ones included.
    fn node_device_caps(&self, dev: &NodeDevRef) -> Result<Vec<String>> {
        let def = parse_model::<oxvirt_xml::nodedev::NodeDevice>(&self.node_device_xml(dev)?, "node device")?;
        Ok(def.cap_names().into_iter().map(str::to_string).collect())
    }
}

/// Parses a document a driver produced; failing to is the driver's bug, an internal error.
fn parse_model<T: oxvirt_xml::XmlDocument>(xml: &str, what: &str) -> Result<T> {
    T::from_xml_str(xml).map_err(|e| Error::internal(format!("cannot parse the {what} XML: {e}")))
}

/// Opens drivers for the URIs it understands; registered once per process.
pub trait DriverFactory: Send + Sync {
    /// Whether this factory serves the URI (e.g. scheme `test` without a remote host).
    fn accepts(&self, uri: &ConnectUri) -> bool;
    fn open(&self, uri: &ConnectUri, flags: u32) -> Result<Arc<dyn Driver>>;

    /// Like [`open`](Self::open), but `Ok(None)` declines the URI after all, so
    /// [`Connect::open`](crate::Connect::open) tries the next factory that accepts it. For
    /// factories that can only tell by trying (the remote driver takes `qemu:///system` only
    /// when a daemon answers), since [`accepts`](Self::accepts) must stay cheap and
    /// side-effect free.
    fn try_open(&self, uri: &ConnectUri, flags: u32) -> Result<Option<Arc<dyn Driver>>> {
        self.open(uri, flags).map(Some)
    }

    /// The object-family drivers this factory hosts for a hypervisor connection to `uri`
    /// (`qemu:///system` gets the instance `network:///system` opens), for hypervisor drivers to
    /// carry: see [`secondary_drivers_for`](crate::connect::secondary_drivers_for). Must stay
    /// cheap: an instance opens what it runs on first use.
    fn secondary_for(&self, uri: &ConnectUri) -> Result<SecondaryDrivers> {
        let _ = uri;
        Ok(SecondaryDrivers::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const AFFECT_CONFIG: DomainVcpuFlags = DomainVcpuFlags::CONFIG;
    const AFFECT_LIVE: DomainVcpuFlags = DomainVcpuFlags::LIVE;
    const VCPU_MAXIMUM: DomainVcpuFlags = DomainVcpuFlags::MAXIMUM;

    /// Answers with fixed documents, to check what the defaults read from them.
    struct Docs {
        live: &'static str,
        config: &'static str,
        caps: Option<&'static str>,
        running: bool,
    }

    impl Driver for Docs {
        fn kind(&self) -> &'static str {
            "Test"
        }
        fn uri(&self) -> String {
            "test:///docs".into()
        }
        fn capabilities(&self) -> Result<String> {
            self.caps.map(str::to_string).ok_or_else(|| Error::no_support("capabilities"))
        }
        fn domain_state(&self, _: &DomainRef) -> Result<(DomainState, i32)> {
            Ok((if self.running { DomainState::Running } else { DomainState::Shutoff }, 1))
        }
        fn domain_xml(&self, _: &DomainRef, flags: DomainXmlFlags) -> Result<String> {
            Ok(if flags.contains(DomainXmlFlags::INACTIVE) { self.config } else { self.live }.to_string())
        }
    }

    fn dom() -> DomainRef {
        DomainRef { name: "x".into(), uuid: Uuid::nil(), id: 1 }
    }

    #[test]
    fn vcpus_from_the_model() {
        let d = Docs {
            live: "<domain type='test'><name>x</name><memory>65536</memory><os><type>hvm</type></os><vcpu placement='static' current='3'>8</vcpu><seclabel type='dynamic' model='selinux'><label>system_u:s0:c1</label></seclabel></domain>",
            config: "<domain type='test'><name>x</name><memory>65536</memory><os><type>hvm</type></os><vcpu placement='static' current='2'>4</vcpu></domain>",
            caps: Some("<capabilities><host><uuid>00000000-0000-0000-0000-000000000000</uuid><cpu><arch>x86_64</arch></cpu><secmodel>\n  <model>testSecurity</model>\n  <doi></doi>\n</secmodel></host></capabilities>"),
            running: true,
        };
        assert_eq!(d.domain_vcpus_flags(&dom(), AFFECT_CONFIG | VCPU_MAXIMUM).unwrap(), 4);
        assert_eq!(d.domain_vcpus_flags(&dom(), AFFECT_CONFIG).unwrap(), 2);
        assert_eq!(d.domain_vcpus_flags(&dom(), AFFECT_LIVE).unwrap(), 3);
        assert_eq!(d.domain_vcpus_flags(&dom(), DomainVcpuFlags::empty()).unwrap(), 3);
        assert_eq!(d.domain_max_vcpus(&dom()).unwrap(), 8);
        let m = d.node_security_model().unwrap();
        assert_eq!((m.model.as_str(), m.doi.as_str()), ("testSecurity", ""));
        let l = d.domain_security_label(&dom()).unwrap();
        assert_eq!((l.label.as_str(), l.enforcing), ("system_u:s0:c1", true));

        // no current='': all online; not running: live counts are an error, the maximum is the config's
        let off = Docs { live: d.config, config: "<domain type='test'><name>x</name><memory>65536</memory><os><type>hvm</type></os><vcpu>4</vcpu></domain>", caps: None, running: false };
        assert_eq!(off.domain_vcpus_flags(&dom(), DomainVcpuFlags::empty()).unwrap(), 4);
        assert_eq!(
            off.domain_vcpus_flags(&dom(), AFFECT_LIVE).unwrap_err().code,
            crate::error::ErrorCode::OperationInvalid
        );
        let m = off.node_security_model().unwrap();
        assert_eq!((m.model.as_str(), m.doi.as_str()), ("none", "0"));
        let l = off.domain_security_label(&dom()).unwrap();
        assert_eq!((l.label.as_str(), l.enforcing), ("", false));
    }
}
