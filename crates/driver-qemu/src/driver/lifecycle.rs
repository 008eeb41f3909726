//! Starting, stopping and reconciling QEMU processes.

use super::*;

pub(super) fn set_pty(c: &mut oxvirt_xml::domain::Chardev, path: &str) {
    if let Some(src) = c.source.sources.first_mut() {
        src.path = Some(path.to_string());
    } else {
        c.source.sources.push(oxvirt_xml::domain::ChrSource { path: Some(path.to_string()), ..Default::default() });
    }
}

impl QemuDriver {
    pub(super) fn emulator_for(&self, def: &Domain) -> Result<PathBuf> {
        if let Some(e) = def.devices.as_ref().and_then(|d| d.emulator.as_ref()) {
            return Ok(PathBuf::from(e));
        }
        let arch = def.arch().unwrap_or(std::env::consts::ARCH);
        let bin = format!("qemu-system-{arch}");
        for dir in std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()).split(':') {
            let p = Path::new(dir).join(&bin);
            if p.is_file() {
                return Ok(p);
            }
        }
        Err(Error::unsupported_config(format!(
            "no emulator for arch '{arch}': {bin} is not installed (Debian: apt-get install qemu-system-x86 qemu-utils)"
        )))
    }

    pub(super) fn caps_for(&self, emulator: &Path) -> Result<Arc<QemuCaps>> {
        let mut g = self.caps.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((p, c)) = g.as_ref() {
            if p == emulator {
                return Ok(c.clone());
            }
        }
        let cache = CapsCache::new(self.layout.cache.join("capabilities"));
        let (caps, _) = cache.get(emulator).map_err(|e| {
            Error::operation_failed(format!("probing {}: {e}", emulator.display())).in_domain(ErrorDomain::Qemu)
        })?;
        let caps = Arc::new(caps);
        *g = Some((emulator.to_path_buf(), caps.clone()));
        Ok(caps)
    }

    /// The QEMU a status names, as far as it can be checked: its run dir (whose pidfile must be on
    /// its command line) and the cgroup the start recorded for it (which it must be in).
    pub(super) fn process_of(&self, st: &Status) -> Result<QemuProcess> {
        Ok(QemuProcess {
            pid: st.pid,
            start_time: st.start_time,
            run_dir: RunDir::new(self.layout.domain_run_dir(&st.name)?),
            cgroup_scope: crate::cgroup::recorded_scope(&self.layout.cgroup_record(&st.name)?),
        })
    }

    pub(super) fn qmp(&self, st: &Status) -> Result<Qmp> {
        let sock = RunDir::new(self.layout.domain_run_dir(&st.name)?).qmp_socket();
        Qmp::connect(&sock, QMP_TIMEOUT).map_err(|e| qmp_err(&st.name, "connecting to the monitor", e))
    }

    /// Kills and removes what a start or stop of `name` that was cut short left behind, when
    /// `name` has no usable status: QEMUs running with its run dir's pidfile (identity verified
    /// before the signal), its cgroup and its run dir. Cheap when there is nothing: one stat.
    /// The caller holds the lock that starts of `name` take.
    pub(super) fn reap_leftovers(&self, name: &str) {
        let (Ok(run_dir), Ok(record)) = (self.layout.domain_run_dir(name), self.layout.cgroup_record(name)) else {
            return;
        };
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
    pub(super) fn kill_found(&self, f: &process::Found, why: &str) {
        let p = QemuProcess {
            pid: f.pid,
            start_time: f.start_time,
            run_dir: RunDir::new(f.pidfile.parent().unwrap_or(Path::new("/nonexistent"))),
            cgroup_scope: None,
        };
        tracing::warn!("killing QEMU pid {} of domain '{}': it {why} (a start or stop was cut short)", f.pid, f.name);
        if let Err(e) = p.kill(Duration::from_secs(2)) {
            tracing::error!("killing untracked QEMU pid {}: {e}", f.pid);
        }
    }

    /// When the driver opens: removes temp files of interrupted atomic writes, adopts every QEMU of
    /// ours that a complete status file records and kills the others, removes leftover run dirs,
    /// cgroup records and cgroups of domains that are gone.
    pub(super) fn reconcile_root(&self) {
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
        self.reconcile_ports(&status_of);
    }

    /// Gives the network driver the ports running guests hold, so counts a process killed during
    /// a start (after allocating a port, before recording its guest) left behind are corrected.
    /// Only under the exclusive root: no start or device change is in flight.
    fn reconcile_ports(&self, status_of: &dyn Fn(&str) -> Option<Status>) {
        let Some(ports) = self.secondary.network_ports.clone() else { return };
        let mut in_use = Vec::new();
        for n in self.names() {
            let Some(st) = status_of(&n) else { continue };
            if !self.process_of(&st).is_ok_and(|p| p.is_ours()) {
                continue;
            }
            let Ok(def) = Domain::from_xml_str(&st.live_xml) else { continue };
            for i in def.devices.iter().flat_map(|d| &d.interfaces) {
                let Some(network) = i.source.as_ref().and_then(|s| s.network.clone()) else { continue };
                match i.kind {
                    InterfaceType::Network => in_use.push((network, None)),
                    InterfaceType::Direct => in_use.push((network, i.source.as_ref().and_then(|s| s.dev.clone()))),
                    _ => {}
                }
            }
        }
        if let Err(e) = ports.reconcile_ports(&in_use) {
            tracing::warn!("recounting network ports: {e}");
        }
    }

    /// Notices what happened while nobody watched: QEMU gone (crashed, unless we stopped it), or the
    /// guest powered off (QEMU idle in `shutdown`), or paused/resumed by an outside QMP client.
    pub(super) fn reconcile(&self, e: &mut Entry) -> Result<()> {
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
        let run_state = status.as_ref().and_then(|v| v.get("status")).and_then(|s| s.as_str()).unwrap_or("");
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
                    self.events.emit(&e.reference(), DomainEventKind::Shutdown, detail::SHUTDOWN_GUEST);
                    self.finish_stop(e, reason::SHUTOFF_SHUTDOWN, DomainEventKind::Stopped, detail::STOPPED_SHUTDOWN);
                }
            }
            "paused" | "running" | "guest-panicked" | "io-error" => {
                let running = status.as_ref().and_then(|v| v.get("running")).and_then(|r| r.as_bool()).unwrap_or(false);
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
    pub(super) fn finish_stop(&self, e: &mut Entry, reason: i32, kind: DomainEventKind, det: i32) {
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

    pub(super) fn record_stop(&self, e: &mut Entry, reason: i32) {
        e.stop_reason = reason;
        let Ok(path) = self.layout.stop_reason_file(&e.name) else { return };
        if e.config.is_some() {
            let _ = write_atomic(&path, reason.to_string().as_bytes(), 0o644);
        } else {
            let _ = remove_if_exists(&path);
        }
    }

    pub(super) fn next_id(&self) -> Result<i32> {
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

    pub(super) fn build_env<'c>(
        &self,
        def: &Domain,
        caps: &'c QemuCaps,
        emulator: &Path,
        run_dir: &Path,
    ) -> Result<BuildEnv<'c>> {
        let accel = accel_of(def);
        let mut env = BuildEnv::new(caps, emulator, accel, &self.layout.lib, run_dir);
        env.log = self.layout.log_file(&def.name)?;
        env.domain_id = def.id.unwrap_or(-1);
        Ok(env)
    }

    /// Starts QEMU for `def`; on any failure nothing is left behind.
    pub(super) fn launch(
        &self,
        mut def: Domain,
        transient: bool,
        start_flags: DomainCreateFlags,
        restore_from: Option<&Path>,
    ) -> Result<Status> {
        let emulator = self.emulator_for(&def)?;
        let caps = self.caps_for(&emulator)?;
        if def.kind == DomainType::Kvm {
            crate::accel::require_kvm(&caps, &self.layout.cache)?;
        }
        let id = self.next_id()?;
        def.id = Some(id);
        let mut run_dir =
            RunDir::new(self.layout.domain_run_dir(&def.name)?).with_log(self.layout.log_file(&def.name)?);
        let _ = fs::remove_dir_all(&run_dir.dir);
        fs::create_dir_all(&run_dir.dir).map_err(|e| sys_err(format!("creating {}", run_dir.dir.display()), &e))?;
        // Resolved, so the pidfile on the command line is the one process::spawn checks for.
        run_dir.dir =
            fs::canonicalize(&run_dir.dir).map_err(|e| sys_err(format!("resolving {}", run_dir.dir.display()), &e))?;
        let mut env = self.build_env(&def, &caps, &emulator, &run_dir.dir)?;
        // The completed definition (addresses, MACs, aliases) is what runs and what the live XML
        // shows; completed before the taps, which need the MACs.
        command::complete_for_start(&mut def, &env)
            .map_err(|e| Error::unsupported_config(e).in_domain(ErrorDomain::Qemu))?;
        // Who QEMU runs as is part of its command line (`-run-with`, the sandbox's set*id rule).
        let run_as = crate::security::run_as_for_start()?;
        env.runtime.run_as = run_as.user_name();
        if restore_from.is_some() {
            env.runtime.incoming = Some("defer".into());
        }
        // Given back (connection counts) if the start fails; the devices go with the fds. Declared
        // before the command and spawn spec, so on failure our fds close before anything is undone;
        // undone last first: QEMU killed, then its cgroup removed, then the NICs given back.
        let mut nics = self.open_taps(&mut def, None)?;
        let mut undo = std::mem::take(&mut nics.undo);
        env.taps = nics.args.clone();
        let mut cmd =
            command::build(&def, &env).map_err(|e| Error::unsupported_config(e).in_domain(ErrorDomain::Qemu))?;
        cmd.pass_fds.append(&mut nics.fds);
        cmd.open_passed_files().map_err(|e| Error::operation_failed(format!("starting domain '{}': {e}", def.name)))?;
        cmd.prepare_files()
            .map_err(|e| Error::operation_failed(format!("preparing files of domain '{}': {e}", def.name)))?;
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
        // Whether QEMU's user can use the definition's files: decided before it starts.
        crate::security::start_hook(&def, &self.layout, &run_as)?;
        let spec = SpawnSpec {
            binary: emulator.clone(),
            args: std::mem::take(&mut cmd.argv).into_iter().map(Into::into).collect(),
            run_dir,
            timeout: START_TIMEOUT,
            pass_fds: std::mem::take(&mut cmd.pass_fds),
        };
        let cgroups = crate::cgroup::StartPlan::new(&self.layout, &def, &mut undo)?;
        let (proc_, mut qmp, attached) = process::spawn_with(&spec, |pid| cgroups.attach(pid)).map_err(|e| {
            Error::operation_failed(format!("starting domain '{}': {e}", def.name)).in_domain(ErrorDomain::Qemu)
        })?;
        // From here on a failure must not leave QEMU running.
        let qemu = proc_.clone();
        undo.push(format!("killing QEMU (pid {}) of domain '{}'", proc_.pid, def.name), move || {
            qemu.kill(Duration::from_secs(2)).map(drop).map_err(|e| e.to_string())
        });
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
        let paused = start_flags.contains(DomainCreateFlags::PAUSED);
        if !paused {
            qmp.execute("cont", None).map_err(|e| qmp_err(&def.name, "starting vCPUs", e))?;
        }
        let mut st = Status::new(&def.name, def.uuid.unwrap_or_default(), id);
        st.pid = proc_.pid;
        st.start_time = proc_.start_time;
        st.emulator = emulator.display().to_string();
        st.transient = transient;
        let restored = restore_from.is_some();
        if paused {
            st.state = DomainState::Paused as i32;
            st.reason = if restored { reason::PAUSED_SAVE } else { reason::PAUSED_USER };
        } else {
            st.state = DomainState::Running as i32;
            st.reason = if restored { reason::RUNNING_RESTORED } else { reason::RUNNING_BOOTED };
        }
        st.live_xml = def.to_xml_string();
        self.store_status(&st)?;
        let _ = remove_if_exists(&self.layout.stop_reason_file(&st.name)?);
        undo.commit();
        let r = DomainRef { name: st.name.clone(), uuid: st.uuid, id };
        self.events.emit(
            &r,
            DomainEventKind::Started,
            if restored { detail::STARTED_RESTORED } else { detail::STARTED_BOOTED },
        );
        if paused {
            self.events.emit(&r, DomainEventKind::Suspended, detail::SUSPENDED_PAUSED);
        }
        crate::monitor::after_start(self, &st);
        Ok(st)
    }

    /// Records where QEMU put ptys, as libvirt does in the live XML.
    pub(super) fn fill_runtime_paths(&self, qmp: &mut Qmp, def: &mut Domain) {
        let Ok(chardevs) = qmp.execute("query-chardev", None) else {
            return;
        };
        let ptys: Vec<(String, String)> = chardevs
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| {
                        let label = c.get("label")?.as_str()?.to_string();
                        let file = c.get("filename")?.as_str()?.strip_prefix("pty:")?.to_string();
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
                let is_serial =
                    c.target.as_ref().and_then(|t| t.kind.as_ref()).is_none_or(|k| k.to_string() == "serial");
                if is_serial {
                    set_pty(c, &path);
                    c.tty = Some(path.clone());
                }
            }
        }
    }

    pub(super) fn stop_qemu(&self, st: &Status, graceful: bool) -> Result<()> {
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
            Error::operation_failed(format!("stopping domain '{}': {e}", st.name)).in_domain(ErrorDomain::Qemu)
        })
    }

    pub(super) fn require_active(e: &Entry) -> Result<Status> {
        e.status.clone().ok_or_else(|| op_invalid("domain is not running"))
    }

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
                    if let Err(err) = self.domain_create(&r, oxvirt_api::DomainCreateFlags::empty()) {
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
                    let _ = std::thread::Builder::new()
                        .name(format!("qemu-watch-{name}"))
                        .spawn(move || crate::monitor::watch_domain(w, name, pid, crate::monitor::Role::Daemon));
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
    pub(super) fn set_run_state(&self, d: &DomainRef, pause: bool) -> Result<()> {
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
            (
                "stop",
                "pausing",
                DomainState::Paused,
                reason::PAUSED_USER,
                DomainEventKind::Suspended,
                detail::SUSPENDED_PAUSED,
            )
        } else {
            (
                "cont",
                "resuming",
                DomainState::Running,
                reason::RUNNING_UNPAUSED,
                DomainEventKind::Resumed,
                detail::RESUMED_UNPAUSED,
            )
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

    pub(super) fn create(&self, d: &DomainRef, f: DomainCreateFlags) -> Result<DomainRef> {
        let _l = self.lock_domain(&d.name, "start")?;
        let e = self.entry_by_ref(d)?;
        if e.status.is_some() {
            return Err(op_invalid("domain is already running"));
        }
        let def = e.config.clone().ok_or_else(|| Error::internal("inactive domain without a definition"))?;
        let save = self.layout.managed_save(&e.name)?;
        let st = if save.exists() && !f.contains(DomainCreateFlags::FORCE_BOOT) {
            let (xml, was_running) = Self::read_save_header(&save)?;
            let saved =
                Domain::from_xml_str(&xml).map_err(|err| Error::internal(format!("managed save image XML: {err}")))?;
            let paused = f.contains(DomainCreateFlags::PAUSED) || !was_running;
            let st = self.launch(saved, false, paused_if(paused), Some(&save))?;
            let _ = remove_if_exists(&save);
            st
        } else {
            if save.exists() {
                let _ = remove_if_exists(&save);
            }
            self.launch(def, false, f, None)?
        };
        Ok(DomainRef { name: st.name, uuid: st.uuid, id: st.id })
    }

    pub(super) fn create_xml(&self, xml: &str, f: DomainCreateFlags) -> Result<DomainRef> {
        let (mut def, _) = self.parse_definition(xml, f.contains(DomainCreateFlags::VALIDATE))?;
        let _l = self.lock_domain(&def.name, "create")?;
        let current = self.entry(&def.name)?;
        let _claim = {
            let _n = self.lock_names("create")?;
            self.check_unique(&def)?;
            if let Some(e) = current.filter(|e| e.status.is_some()) {
                use oxvirt_api::conf::objlist::{check_not_live, ObjFacts, ObjKind};
                let facts = ObjFacts { name: &e.name, uuid: e.uuid(), active: true, persistent: e.config.is_some() };
                check_not_live(ObjKind::Domain, &facts)?;
            }
            self.complete_definition(&mut def)?;
            self.claim_uuid(&def)
        };
        let persistent = self.load_config(&def.name)?.is_some();
        let st = self.launch(def, !persistent, f, None)?;
        Ok(DomainRef { name: st.name, uuid: st.uuid, id: st.id })
    }

    pub(super) fn shutdown(&self, d: &DomainRef, _f: u32) -> Result<()> {
        let _l = self.lock_domain(&d.name, "shutdown")?;
        let e = self.entry_by_ref(d)?;
        let st = Self::require_active(&e)?;
        if st.state == DomainState::Paused as i32 {
            // ACPI needs running vCPUs; libvirt refuses the same way for an agent-less shutdown
            return Err(op_invalid("domain is paused: resume it first, or use destroy"));
        }
        let mut qmp = self.qmp(&st)?;
        qmp.execute("system_powerdown", None).map_err(|err| qmp_err(&e.name, "sending the ACPI power button", err))?;
        Ok(())
    }

    pub(super) fn reboot(&self, d: &DomainRef, _f: oxvirt_api::DomainRebootFlagValues) -> Result<()> {
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

    pub(super) fn reset(&self, d: &DomainRef, _f: u32) -> Result<()> {
        let _l = self.lock_domain(&d.name, "reset")?;
        let e = self.entry_by_ref(d)?;
        let st = Self::require_active(&e)?;
        self.qmp(&st)?.execute("system_reset", None).map_err(|err| qmp_err(&e.name, "resetting", err))?;
        Ok(())
    }

    pub(super) fn destroy(&self, d: &DomainRef, f: u32) -> Result<()> {
        let mut l = self.lock_domain(&d.name, "destroy")?;
        let mut e = self.entry_by_ref(d)?;
        let st = Self::require_active(&e)?;
        self.stop_qemu(&st, f & flags::DESTROY_GRACEFUL != 0)?;
        self.finish_stop(&mut e, reason::SHUTOFF_DESTROYED, DomainEventKind::Stopped, detail::STOPPED_DESTROYED);
        if e.config.is_none() {
            // a transient domain is gone with its name
            l.remove_on_release();
        }
        Ok(())
    }
}

/// Start flags asking for a paused start, or none.
pub(super) fn paused_if(paused: bool) -> DomainCreateFlags {
    if paused {
        DomainCreateFlags::PAUSED
    } else {
        DomainCreateFlags::empty()
    }
}
