//! Device and setting changes of defined and running domains.

use super::*;
use oxvirt_api::{DomainDeviceModifyFlags, DomainMemoryModFlags, DomainModificationImpact, DomainVcpuFlags};

/// libvirt's modification impact for `e` (`oxvirt_api::conf::impact`, every driver's): (live, config),
/// with CURRENT meaning live when running; live needs it running, config a persistent domain.
pub(super) fn impact(f: DomainModificationImpact, e: &Entry) -> Result<(bool, bool)> {
    let i = oxvirt_api::conf::impact::resolve(
        oxvirt_api::conf::impact::Target::Domain,
        f,
        e.status.is_some(),
        e.config.is_some(),
    )?;
    Ok((i.live, i.config))
}

pub(super) fn parse_interface(xml: &str, what: &str) -> Result<oxvirt_xml::domain::devices::interface::Interface> {
    let root =
        oxvirt_xml::root_name(xml).map_err(|e| Error::xml("device definition", &e).in_domain(ErrorDomain::Qemu))?;
    if root != "interface" {
        return Err(Error::coded(
            ErrorCode::OperationUnsupported,
            ErrorDomain::Qemu,
            format!("{what} of <{root}> is not supported yet (interfaces are)"),
        ));
    }
    let (n, _) = oxvirt_xml::parse_element::<oxvirt_xml::domain::devices::interface::Interface>(
        xml,
        "interface",
        ParseOptions::default(),
    )
    .map_err(|e| Error::xml("interface definition", &e).in_domain(ErrorDomain::Qemu))?;
    Ok(n)
}

pub(super) fn parse_disk(xml: &str) -> Result<oxvirt_xml::domain::Disk> {
    let root =
        oxvirt_xml::root_name(xml).map_err(|e| Error::xml("device definition", &e).in_domain(ErrorDomain::Qemu))?;
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
    pub(super) fn attach_live(&self, e: &Entry, disk: oxvirt_xml::domain::Disk, _d: &DomainRef) -> Result<()> {
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

    pub(super) fn set_memory(&self, d: &DomainRef, kib: u64, f: DomainMemoryModFlags) -> Result<()> {
        let _l = self.lock_domain(&d.name, "setmem")?;
        let e = self.entry_by_ref(d)?;
        let (live, config) = impact(f.impact(), &e)?;
        let def = e.definition()?;
        if kib == 0 {
            return Err(Error::invalid_arg("memory size must be greater than zero"));
        }
        if kib > def.memory_kib() && !f.contains(DomainMemoryModFlags::MAXIMUM) {
            return Err(Error::invalid_arg(format!(
                "cannot set memory higher than max memory ({kib} KiB > {} KiB)",
                def.memory_kib()
            )));
        }
        if live {
            let mut st = Self::require_active(&e)?;
            if f.contains(DomainMemoryModFlags::MAXIMUM) {
                return Err(op_invalid("cannot resize the maximum memory on an active domain"));
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
            let mut c =
                e.config.clone().ok_or_else(|| op_invalid("cannot change persistent config of a transient domain"))?;
            if f.contains(DomainMemoryModFlags::MAXIMUM) {
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

    pub(super) fn set_vcpus(&self, d: &DomainRef, count: u32, f: DomainVcpuFlags) -> Result<()> {
        let _l = self.lock_domain(&d.name, "setvcpus")?;
        let e = self.entry_by_ref(d)?;
        if count == 0 {
            return Err(Error::invalid_arg("vCPU count must be at least 1"));
        }
        let (live, config) = impact(f.impact(), &e)?;
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
        if config {
            let mut c =
                e.config.clone().ok_or_else(|| op_invalid("cannot change persistent config of a transient domain"))?;
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

    pub(super) fn attach_device(&self, d: &DomainRef, xml: &str, f: DomainDeviceModifyFlags) -> Result<()> {
        if oxvirt_xml::root_name(xml).is_ok_and(|r| r == "interface") {
            return self.attach_interface(d, parse_interface(xml, "attach")?, f);
        }
        let disk = parse_disk(xml)?;
        let _l = self.lock_domain(&d.name, "attach-device")?;
        let e = self.entry_by_ref(d)?;
        let (live, config) = impact(f.impact(), &e)?;
        if config {
            let mut c =
                e.config.clone().ok_or_else(|| op_invalid("cannot change persistent config of a transient domain"))?;
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

    pub(super) fn detach_device(&self, d: &DomainRef, xml: &str, f: DomainDeviceModifyFlags) -> Result<()> {
        if oxvirt_xml::root_name(xml).is_ok_and(|r| r == "interface") {
            return self.detach_interface(d, parse_interface(xml, "detach")?, f);
        }
        let disk = parse_disk(xml)?;
        let target = disk.target.dev.clone();
        let _l = self.lock_domain(&d.name, "detach-device")?;
        let e = self.entry_by_ref(d)?;
        let (live, config) = impact(f.impact(), &e)?;
        if live {
            let mut st = Self::require_active(&e)?;
            let ldef = e.definition()?;
            let mut qmp = self.qmp(&st)?;
            let new = crate::hotplug::detach_disk(&mut qmp, &ldef, &target)?;
            st.live_xml = new.to_xml_string();
            self.store_status(&st)?;
        }
        if config {
            let mut c =
                e.config.clone().ok_or_else(|| op_invalid("cannot change persistent config of a transient domain"))?;
            let devices = c.devices.get_or_insert_with(Default::default);
            let before = devices.disks.len();
            devices.disks.retain(|x| x.target.dev != target);
            if devices.disks.len() == before {
                return Err(Error::coded(
                    ErrorCode::DeviceMissing,
                    ErrorDomain::Qemu,
                    format!("no disk with target '{target}'"),
                ));
            }
            self.store_config(&c)?;
        }
        Ok(())
    }

    pub(super) fn update_device(&self, d: &DomainRef, xml: &str, f: DomainDeviceModifyFlags) -> Result<()> {
        let new = parse_interface(xml, "update")?;
        let mac = new
            .mac
            .as_ref()
            .map(|m| m.address)
            .ok_or_else(|| Error::invalid_arg("the interface to update must name its MAC address"))?;
        let state = new.link.as_ref().map_or(LinkState::Up, |l| l.state);
        let _l = self.lock_domain(&d.name, "update-device")?;
        let e = self.entry_by_ref(d)?;
        let (live, config) = impact(f.impact(), &e)?;
        // Only the link state may change; the rest must match what is there.
        let apply = |def: &mut Domain| -> Result<String> {
            let n = def
                .devices
                .iter_mut()
                .flat_map(|d| d.interfaces.iter_mut())
                .find(|n| n.mac.as_ref().is_some_and(|m| m.address == mac))
                .ok_or_else(|| {
                    Error::coded(
                        ErrorCode::DeviceMissing,
                        ErrorDomain::Qemu,
                        format!("no interface with MAC address {mac}"),
                    )
                })?;
            let same_source =
                |a: &Option<oxvirt_xml::domain::devices::interface::InterfaceSource>,
                 b: &Option<oxvirt_xml::domain::devices::interface::InterfaceSource>| {
                    let key = |s: &Option<oxvirt_xml::domain::devices::interface::InterfaceSource>| {
                        s.as_ref()
                            .map(|s| (s.network.clone(), if s.network.is_some() { None } else { s.bridge.clone() }))
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
            let mut c =
                e.config.clone().ok_or_else(|| op_invalid("cannot change persistent config of a transient domain"))?;
            apply(&mut c)?;
            self.store_config(&c)?;
        }
        Ok(())
    }
}
