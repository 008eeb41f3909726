//! Defining and undefining domains: parsing, the uniqueness check, filling defaults.

use super::*;

impl QemuDriver {
    pub(super) fn parse_definition(&self, xml: &str, validate: bool) -> Result<(Domain, Vec<String>)> {
        let (def, warnings) = parse_document::<Domain>(xml, ParseOptions { validate })
            .map_err(|e| Error::xml("domain definition", &e).in_domain(ErrorDomain::Qemu))?;
        if !matches!(def.kind, DomainType::Qemu | DomainType::Kvm) {
            return Err(Error::unsupported_config(format!(
                "domain type '{}' is not handled by the QEMU driver (use type='qemu' or type='kvm')",
                def.kind
            )));
        }
        Ok((def, warnings.into_iter().map(|w| w.to_string()).collect()))
    }

    /// Refuses a definition whose name or UUID belongs to another domain (libvirt's messages).
    /// Reads only the name's files and the UUID's index entry (and that domain's files).
    /// The caller holds `def.name`'s lock and the names lock, and has brought `def.name` up to date.
    pub(super) fn check_unique(&self, def: &Domain) -> Result<()> {
        use oxvirt_api::conf::objlist::{check_identity, ObjKind};
        let uuid = def.uuid.unwrap_or_default();
        let creating = self.creating.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(other) = creating.get(&uuid).filter(|n| !uuid.is_nil() && **n != def.name) {
            return check_identity(ObjKind::Domain, other, uuid, &def.name, uuid);
        }
        drop(creating);
        if let Some(e) = self.raw_entry(&def.name)? {
            check_identity(ObjKind::Domain, &e.name, e.uuid(), &def.name, uuid)?;
        }
        if let Some(e) = self.read_by_uuid(&uuid)? {
            check_identity(ObjKind::Domain, &e.name, e.uuid, &def.name, uuid)?;
        }
        Ok(())
    }

    /// Fills what libvirt fills at define time (arch, machine, emulator) and device addresses.
    pub(super) fn complete_definition(&self, def: &mut Domain) -> Result<()> {
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

    pub(super) fn define_xml(&self, xml: &str, f: u32) -> Result<(DomainRef, Vec<String>)> {
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
        let e = self.entry(&def.name)?.ok_or_else(|| Error::internal("definition vanished after writing it"))?;
        let r = e.reference();
        self.events.emit(
            &r,
            DomainEventKind::Defined,
            if existed { detail::DEFINED_UPDATED } else { detail::DEFINED_ADDED },
        );
        Ok((r, warnings))
    }

    pub(super) fn undefine(&self, d: &DomainRef, f: oxvirt_api::DomainUndefineFlags) -> Result<()> {
        let mut l = self.lock_domain(&d.name, "undefine")?;
        let mut e = self.entry_by_ref(d)?;
        if e.config.is_none() {
            return Err(op_invalid("cannot undefine transient domain"));
        }
        let save = self.layout.managed_save(&e.name)?;
        if save.exists() {
            if !f.contains(oxvirt_api::DomainUndefineFlags::MANAGED_SAVE) {
                return Err(op_invalid(
                    "Refusing to undefine while domain managed save image exists (use --managed-save)",
                ));
            }
            remove_if_exists(&save).map_err(|err| sys_err(format!("removing {}", save.display()), &err))?;
        }
        let nvram = e.config.as_ref().and_then(|c| c.os.nvram.as_ref()).and_then(|n| n.path.clone());
        if let Some(nv) = nvram.clone().filter(|_| f.contains(oxvirt_api::DomainUndefineFlags::NVRAM)) {
            let _ = remove_if_exists(Path::new(&nv));
        } else if nvram.is_some()
            && !f.contains(oxvirt_api::DomainUndefineFlags::KEEP_NVRAM)
            && Path::new(nvram.as_deref().unwrap_or("")).exists()
        {
            return Err(op_invalid("cannot undefine domain with nvram (use --nvram or --keep-nvram)"));
        }
        let _ = remove_if_exists(&self.layout.autostart_link(&e.name)?);
        let path = self.layout.config_file(&e.name)?;
        remove_if_exists(&path).map_err(|err| sys_err(format!("removing {}", path.display()), &err))?;
        if let Some(mut st) = e.status.take() {
            st.transient = true;
            self.store_status(&st)?;
        } else {
            self.index.remove(&e.uuid(), &e.name);
            // nothing is left of the name (a running one stays, transient, until it stops)
            l.remove_on_release();
        }
        self.events.emit(&e.reference(), DomainEventKind::Undefined, detail::UNDEFINED_REMOVED);
        e.config = None;
        Ok(())
    }

    pub(super) fn set_autostart(&self, d: &DomainRef, on: bool) -> Result<()> {
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
            remove_if_exists(&link).map_err(|err| sys_err(format!("removing {}", link.display()), &err))?;
        }
        Ok(())
    }
}
