//! Domain procedures, listing and lifecycle events included.

use super::*;
use oxvirt_api::{DomainDeviceModifyFlags, DomainMemoryModFlags, DomainVcpuFlags};

impl Session {
    /// `None`: not one of this group's procedures.
    pub(super) fn dispatch_domain(&self, h: &Header, body: &[u8]) -> Option<Result<Vec<u8>>> {
        use procs as P;
        Some(match h.proc_ {
            P::CONNECT_GET_DOMAIN_CAPABILITIES => run(body, |a: DomainCapabilitiesArgs| {
                let s = self.conn()?.domain_capabilities(
                    a.emulatorbin.as_deref(),
                    a.arch.as_deref(),
                    a.machine.as_deref(),
                    a.virttype.as_deref(),
                )?;
                Ok(StringRet { s })
            }),
            P::CONNECT_LIST_ALL_DOMAINS => run(body, |a: ListAllArgs| {
                let all = self.conn()?.list_all_domains(from_wire(a.flags, "virConnectListAllDomains")?)?;
                list_limit(all.len(), DOMAIN_LIST_MAX, "domains")?;
                let ret = all.len() as u32;
                let domains =
                    if a.need_results != 0 { all.iter().map(|d| d.reference().into()).collect() } else { vec![] };
                Ok(ListAllDomainsRet { domains: Array(domains), ret })
            }),
            P::CONNECT_NUM_OF_DOMAINS => run(body, |_: ()| {
                let n = self.conn()?.list_all_domains(ConnectListAllDomainsFlags::ACTIVE)?.len();
                Ok(IntRet { value: n as i32 })
            }),
            P::CONNECT_NUM_OF_DEFINED_DOMAINS => run(body, |_: ()| {
                let n = self.conn()?.list_all_domains(ConnectListAllDomainsFlags::INACTIVE)?.len();
                Ok(IntRet { value: n as i32 })
            }),
            P::CONNECT_LIST_DOMAINS => run(body, |a: IntArgs| {
                list_limit(a.value.max(0) as usize, DOMAIN_LIST_MAX, "domains")?;
                let mut ids: Vec<i32> =
                    self.conn()?.list_all_domains(ConnectListAllDomainsFlags::ACTIVE)?.iter().map(|d| d.id()).collect();
                ids.sort_unstable();
                ids.truncate(a.value.max(0) as usize);
                Ok(ListDomainsRet { ids: Array(ids) })
            }),
            P::CONNECT_LIST_DEFINED_DOMAINS => run(body, |a: IntArgs| {
                list_limit(a.value.max(0) as usize, DOMAIN_LIST_MAX, "domains")?;
                let mut names: Vec<String> = self
                    .conn()?
                    .list_all_domains(ConnectListAllDomainsFlags::INACTIVE)?
                    .iter()
                    .map(|d| d.name().to_string())
                    .collect();
                names.sort();
                names.truncate(a.value.max(0) as usize);
                Ok(ListNamesRet { names: Array(names) })
            }),
            P::DOMAIN_LOOKUP_BY_ID => run(body, |a: IntArgs| {
                Ok(DomRet { dom: self.conn()?.lookup_domain_by_id(a.value)?.reference().into() })
            }),
            P::DOMAIN_LOOKUP_BY_NAME => run(body, |a: StringArgs| {
                Ok(DomRet { dom: self.conn()?.lookup_domain_by_name(&a.s)?.reference().into() })
            }),
            P::DOMAIN_LOOKUP_BY_UUID => run(body, |a: UuidArgs| {
                Ok(DomRet { dom: self.conn()?.lookup_domain_by_uuid(&a.uuid)?.reference().into() })
            }),
            P::DOMAIN_DEFINE_XML => run(body, |a: StringArgs| {
                let (d, _) = self.conn()?.define_domain(&a.s, 0)?;
                Ok(DomRet { dom: d.reference().into() })
            }),
            P::DOMAIN_DEFINE_XML_FLAGS => run(body, |a: StringFlagsArgs| {
                let (d, _) = self.conn()?.define_domain(&a.s, a.flags)?;
                Ok(DomRet { dom: d.reference().into() })
            }),
            P::DOMAIN_UNDEFINE => run(body, |a: DomArgs| self.dom(&a.dom)?.undefine(DomainUndefineFlags::empty())),
            P::DOMAIN_UNDEFINE_FLAGS => {
                run(body, |a: DomFlagsArgs| self.dom(&a.dom)?.undefine(from_wire(a.flags, "virDomainUndefineFlags")?))
            }
            P::DOMAIN_CREATE => run(body, |a: DomArgs| self.dom(&a.dom)?.create(DomainCreateFlags::empty())),
            P::DOMAIN_CREATE_WITH_FLAGS => run(body, |a: DomFlagsArgs| {
                let mut d = self.dom(&a.dom)?;
                d.create(from_wire(a.flags, "virDomainCreateWithFlags")?)?;
                Ok(DomRet { dom: d.reference().into() })
            }),
            P::DOMAIN_CREATE_XML => run(body, |a: StringFlagsArgs| {
                let f = from_wire(a.flags, "virDomainCreateXML")?;
                Ok(DomRet { dom: self.conn()?.create_domain_xml(&a.s, f)?.reference().into() })
            }),
            P::DOMAIN_SHUTDOWN => run(body, |a: DomArgs| self.dom(&a.dom)?.shutdown(0)),
            P::DOMAIN_SHUTDOWN_FLAGS => run(body, |a: DomFlagsArgs| self.dom(&a.dom)?.shutdown(a.flags)),
            P::DOMAIN_REBOOT => {
                run(body, |a: DomFlagsArgs| self.dom(&a.dom)?.reboot(from_wire(a.flags, "virDomainReboot")?))
            }
            P::DOMAIN_RESET => run(body, |a: DomFlagsArgs| self.dom(&a.dom)?.reset(a.flags)),
            P::DOMAIN_DESTROY => run(body, |a: DomArgs| self.dom(&a.dom)?.destroy(0)),
            P::DOMAIN_DESTROY_FLAGS => run(body, |a: DomFlagsArgs| self.dom(&a.dom)?.destroy(a.flags)),
            P::DOMAIN_SUSPEND => run(body, |a: DomArgs| self.dom(&a.dom)?.suspend()),
            P::DOMAIN_RESUME => run(body, |a: DomArgs| self.dom(&a.dom)?.resume()),
            P::DOMAIN_SAVE => run(body, |a: DomainSaveArgs| self.dom(&a.dom)?.save(&a.to, None, 0)),
            P::DOMAIN_SAVE_FLAGS => {
                run(body, |a: DomainSaveFlagsArgs| self.dom(&a.dom)?.save(&a.to, a.dxml.as_deref(), a.flags))
            }
            P::DOMAIN_RESTORE => run(body, |a: StringArgs| self.conn()?.restore_domain(&a.s, None, 0).map(|_| ())),
            P::DOMAIN_RESTORE_FLAGS => run(body, |a: DomainRestoreFlagsArgs| {
                self.conn()?.restore_domain(&a.from, a.dxml.as_deref(), a.flags).map(|_| ())
            }),
            P::DOMAIN_SAVE_IMAGE_GET_XML_DESC => {
                run(body, |a: StringFlagsArgs| Ok(StringRet { s: self.conn()?.save_image_xml(&a.s, a.flags)? }))
            }
            P::DOMAIN_MANAGED_SAVE => run(body, |a: DomFlagsArgs| self.dom(&a.dom)?.managed_save(a.flags)),
            P::DOMAIN_HAS_MANAGED_SAVE_IMAGE => {
                run(body, |a: DomFlagsArgs| Ok(int(self.dom(&a.dom)?.has_managed_save()?)))
            }
            P::DOMAIN_MANAGED_SAVE_REMOVE => run(body, |a: DomFlagsArgs| self.dom(&a.dom)?.managed_save_remove()),
            P::DOMAIN_GET_XML_DESC => run(body, |a: DomFlagsArgs| {
                Ok(StringRet { s: self.dom(&a.dom)?.xml_desc(from_wire(a.flags, "virDomainGetXMLDesc")?)? })
            }),
            P::DOMAIN_GET_INFO => run(body, |a: DomArgs| {
                let i = self.dom(&a.dom)?.info()?;
                Ok(DomainGetInfoRet {
                    state: i.state as u8,
                    max_mem: i.max_mem,
                    memory: i.memory,
                    nr_virt_cpu: u16::try_from(i.nr_virt_cpu).unwrap_or(u16::MAX),
                    cpu_time: i.cpu_time,
                })
            }),
            P::DOMAIN_GET_STATE => run(body, |a: DomFlagsArgs| {
                let (s, reason) = self.dom(&a.dom)?.state()?;
                Ok(DomainGetStateRet { state: s as i32, reason })
            }),
            P::DOMAIN_GET_OS_TYPE => run(body, |a: DomArgs| Ok(StringRet { s: self.dom(&a.dom)?.os_type()? })),
            P::DOMAIN_GET_AUTOSTART => run(body, |a: DomArgs| Ok(int(self.dom(&a.dom)?.autostart()?))),
            P::DOMAIN_SET_AUTOSTART => run(body, |a: DomIntArgs| self.dom(&a.dom)?.set_autostart(a.value != 0)),
            P::DOMAIN_IS_ACTIVE => run(body, |a: DomArgs| Ok(int(self.dom(&a.dom)?.is_active()?))),
            P::DOMAIN_IS_PERSISTENT => run(body, |a: DomArgs| Ok(int(self.dom(&a.dom)?.is_persistent()?))),
            P::DOMAIN_IS_UPDATED => run(body, |a: DomArgs| Ok(int(self.dom(&a.dom)?.is_updated()?))),
            P::DOMAIN_SNAPSHOT_NUM => {
                run(body, |a: DomFlagsArgs| Ok(IntRet { value: self.dom(&a.dom)?.snapshot_count()? as i32 }))
            }
            P::DOMAIN_GET_SECURITY_LABEL => run(body, |a: DomArgs| {
                let l = self.dom(&a.dom)?.security_label()?;
                Ok(SecurityLabelRet { enforcing: l.enforcing as i32, label: c_string_array(&l.label) })
            }),
            P::DOMAIN_GET_CONTROL_INFO => run(body, |a: DomFlagsArgs| {
                if !self.dom(&a.dom)?.is_active()? {
                    return Err(Error::operation_invalid("domain is not running"));
                }
                Ok(ControlInfoRet { state: 0, details: 0, state_time: 0 })
            }),
            P::DOMAIN_GET_MESSAGES => run(body, |a: DomFlagsArgs| {
                self.dom(&a.dom)?;
                Ok(MessagesRet { msgs: Array(vec![]) })
            }),
            P::DOMAIN_SET_MEMORY => {
                run(body, |a: DomainSetMemoryArgs| self.dom(&a.dom)?.set_memory(a.memory, DomainMemoryModFlags::LIVE))
            }
            // The flagless calls are the FLAGS ones with AFFECT_LIVE, as in libvirt.
            P::DOMAIN_ATTACH_DEVICE => {
                run(body, |a: DomXmlArgs| self.dom(&a.dom)?.attach_device(&a.xml, DomainDeviceModifyFlags::LIVE))
            }
            P::DOMAIN_ATTACH_DEVICE_FLAGS => run(body, |a: DomXmlFlagsArgs| {
                self.dom(&a.dom)?.attach_device(&a.xml, from_wire(a.flags, "virDomainAttachDeviceFlags")?)
            }),
            P::DOMAIN_DETACH_DEVICE => {
                run(body, |a: DomXmlArgs| self.dom(&a.dom)?.detach_device(&a.xml, DomainDeviceModifyFlags::LIVE))
            }
            P::DOMAIN_DETACH_DEVICE_FLAGS => run(body, |a: DomXmlFlagsArgs| {
                self.dom(&a.dom)?.detach_device(&a.xml, from_wire(a.flags, "virDomainDetachDeviceFlags")?)
            }),
            P::DOMAIN_UPDATE_DEVICE_FLAGS => run(body, |a: DomXmlFlagsArgs| {
                self.dom(&a.dom)?.update_device(&a.xml, from_wire(a.flags, "virDomainUpdateDeviceFlags")?)
            }),
            P::DOMAIN_INTERFACE_ADDRESSES => run(body, |a: DomainInterfaceAddressesArgs| {
                if a.flags != 0 {
                    return Err(Error::invalid_arg(format!(
                        "unsupported flags (0x{:x}) in function virDomainInterfaceAddresses",
                        a.flags
                    )));
                }
                let ifaces = self.dom(&a.dom)?.interface_addresses(a.source)?;
                Ok(DomainInterfaceAddressesRet {
                    ifaces: Array(ifaces.iter().map(DomainInterfaceWire::from).collect()),
                })
            }),
            P::DOMAIN_SET_INTERFACE_PARAMETERS => run(body, |a: DomainSetInterfaceParametersArgs| {
                let params: Vec<(String, oxvirt_api::TypedParam)> =
                    a.params.0.iter().map(|p| (p.field.clone(), (&p.value).into())).collect();
                self.dom(&a.dom)?.set_interface_parameters(&a.device, &params, a.flags)
            }),
            // libvirt's two-step getter: nparams 0 asks how many there are.
            P::DOMAIN_GET_INTERFACE_PARAMETERS => run(body, |a: DomainGetInterfaceParametersArgs| {
                let wanted =
                    usize::try_from(a.nparams).map_err(|_| Error::invalid_arg("nparams must not be negative"))?;
                if wanted > DOMAIN_INTERFACE_PARAMETERS_MAX {
                    return Err(Error::invalid_arg("nparams too large"));
                }
                let d = self.dom(&a.dom)?;
                if wanted == 0 {
                    // As libvirt's drivers: the count alone, before the interface is looked up.
                    let n = i32::try_from(oxvirt_api::types::iftune::NAMES.len()).unwrap_or(i32::MAX);
                    return Ok(DomainGetInterfaceParametersRet { params: Array(Vec::new()), nparams: n });
                }
                let params = d.interface_parameters(&a.device, a.flags)?;
                let params = params
                    .iter()
                    .take(wanted)
                    .map(|(k, v)| RemoteTypedParam { field: k.clone(), value: v.into() })
                    .collect();
                Ok(DomainGetInterfaceParametersRet { params: Array(params), nparams: 0 })
            }),
            P::DOMAIN_SET_MEMORY_FLAGS => run(body, |a: DomainSetMemoryFlagsArgs| {
                self.dom(&a.dom)?.set_memory(a.memory, from_wire(a.flags, "virDomainSetMemoryFlags")?)
            }),
            P::DOMAIN_SET_VCPUS => {
                run(body, |a: DomainSetVcpusArgs| self.dom(&a.dom)?.set_vcpus(a.nvcpus, DomainVcpuFlags::LIVE))
            }
            P::DOMAIN_SET_VCPUS_FLAGS => run(body, |a: DomainSetVcpusFlagsArgs| {
                self.dom(&a.dom)?.set_vcpus(a.nvcpus, from_wire(a.flags, "virDomainSetVcpusFlags")?)
            }),
            P::DOMAIN_GET_VCPUS_FLAGS => run(body, |a: DomFlagsArgs| {
                Ok(IntRet {
                    value: i32::try_from(self.dom(&a.dom)?.vcpus_flags(from_wire(a.flags, "virDomainGetVcpusFlags")?)?)
                        .unwrap_or(i32::MAX),
                })
            }),
            P::DOMAIN_GET_MAX_VCPUS => run(body, |a: DomArgs| {
                Ok(IntRet { value: i32::try_from(self.dom(&a.dom)?.max_vcpus()?).unwrap_or(i32::MAX) })
            }),
            P::DOMAIN_GET_MAX_MEMORY => {
                run(body, |a: DomArgs| Ok(HyperRet { value: self.dom(&a.dom)?.info()?.max_mem }))
            }
            P::DOMAIN_GET_JOB_INFO => run(body, |a: DomArgs| {
                self.dom(&a.dom)?;
                Ok(JobInfoRet {
                    kind: 0,
                    time_elapsed: 0,
                    time_remaining: 0,
                    data_total: 0,
                    data_processed: 0,
                    data_remaining: 0,
                    mem_total: 0,
                    mem_processed: 0,
                    mem_remaining: 0,
                    file_total: 0,
                    file_processed: 0,
                    file_remaining: 0,
                })
            }),
            P::DOMAIN_OPEN_CONSOLE => run(body, |a: OpenConsoleArgs| self.open_console(h, a)),
            P::CONNECT_GET_ALL_DOMAIN_STATS => run(body, |a: GetAllDomainStatsArgs| {
                let conn = self.conn()?;
                let doms: Vec<oxvirt_api::Domain> = if a.doms.0.is_empty() {
                    // the state filters share the bits of virConnectListAllDomains
                    conn.list_all_domains(ConnectListAllDomainsFlags::from_bits_truncate(a.flags & 0xff))?
                } else {
                    a.doms.0.iter().map(|d| self.dom(d)).collect::<Result<_>>()?
                };
                let groups = if a.stats == 0 { oxvirt_api::stats::ALL } else { a.stats };
                let mut out = Vec::new();
                for d in doms {
                    let params = d.stats(groups)?;
                    out.push(DomainStatsRecord {
                        dom: d.reference().into(),
                        params: Array(
                            params
                                .iter()
                                .map(|(k, v)| RemoteTypedParam { field: k.clone(), value: v.into() })
                                .collect(),
                        ),
                    });
                }
                Ok(GetAllDomainStatsRet { stats: Array(out) })
            }),
            P::CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY => run(body, |a: EventRegisterArgs| self.event_register(a)),
            P::CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY => run(body, |a: IntArgs| self.event_deregister(a.value)),
            _ => return None,
        })
    }

    fn event_register(&self, a: EventRegisterArgs) -> Result<IntRet> {
        /// `VIR_DOMAIN_EVENT_ID_LIFECYCLE`; libvirt 9.0 knows ids up to 25.
        const LIFECYCLE: i32 = 0;
        const LAST: i32 = 26;
        if !(0..LAST).contains(&a.event_id) {
            return Err(Error::invalid_arg(format!("unsupported event ID {}", a.event_id)));
        }
        let conn = self.conn()?;
        if self.events.lock().unwrap_or_else(|e| e.into_inner()).len() >= MAX_EVENT_CALLBACKS {
            return Err(rpc_error(format!(
                "too many event callbacks on this connection (limit {MAX_EVENT_CALLBACKS})"
            )));
        }
        let dom = a.dom.as_ref().map(|d| conn.lookup_domain_by_uuid(&d.uuid)).transpose()?;
        let callback_id = self.next_callback.fetch_add(1, Ordering::Relaxed) + 1;
        let driver_id = if a.event_id == LIFECYCLE {
            let sink = self.sink.clone();
            let cb: oxvirt_api::DomainEventCallback = Arc::new(move |ev: &oxvirt_api::DomainEvent| {
                let msg = EventCallbackLifecycleMsg {
                    callback_id,
                    msg: EventLifecycleMsg { dom: (&ev.domain).into(), event: ev.kind as i32, detail: ev.detail },
                };
                let header = Header {
                    prog: REMOTE_PROGRAM,
                    vers: REMOTE_VERSION,
                    proc_: procs::DOMAIN_EVENT_CALLBACK_LIFECYCLE,
                    mtype: MessageType::Message,
                    serial: 0,
                    status: Status::Ok,
                };
                if !sink(Message::new(header, &msg)) {
                    tracing::debug!(callback_id, "event dropped: client gone or too slow");
                }
            });
            Some(conn.domain_event_register(dom.as_ref(), cb)?)
        } else {
            None
        };
        self.events.lock().unwrap_or_else(|e| e.into_inner()).insert(callback_id, driver_id);
        Ok(IntRet { value: callback_id })
    }

    fn event_deregister(&self, callback_id: i32) -> Result<()> {
        let conn = self.conn()?;
        let entry = self.events.lock().unwrap_or_else(|e| e.into_inner()).remove(&callback_id);
        match entry {
            None => Err(Error::invalid_arg(format!("callback ID {callback_id} not registered"))),
            Some(Some(id)) => conn.domain_event_deregister(id),
            Some(None) => Ok(()),
        }
    }

    fn open_console(&self, h: &Header, a: OpenConsoleArgs) -> Result<()> {
        let d = self.dom(&a.dom)?;
        if self.conn()?.is_read_only() {
            return Err(Error::read_only("opening a console"));
        }
        if !d.is_active()? {
            return Err(Error::operation_invalid("domain is not running"));
        }
        let path = d.console_path(a.dev_name.as_deref())?;
        let stream = ConsoleStream::open(&path, h.proc_, h.serial, self.sink.clone())?;
        self.streams.lock().unwrap_or_else(|e| e.into_inner()).insert(h.serial, stream);
        Ok(())
    }
}
