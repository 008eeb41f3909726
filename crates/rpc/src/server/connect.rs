//! Connection-wide procedures: opening, identity, host facts, feature probes.

use super::*;

impl Session {
    /// `None`: not one of this group's procedures.
    pub(super) fn dispatch_connect(&self, h: &Header, body: &[u8]) -> Option<Result<Vec<u8>>> {
        use procs as P;
        Some(match h.proc_ {
            P::CONNECT_OPEN => run(body, |a: ConnectOpenArgs| self.open(a).map(|_| ())),
            P::CONNECT_CLOSE => run(body, |_: ()| {
                self.close();
                Ok(())
            }),
            P::AUTH_LIST => run(body, |_: ()| Ok(AuthListRet { types: Array(vec![AuthType::None]) })),
            P::CONNECT_SUPPORTS_FEATURE => run(body, |a: IntArgs| {
                let supported = match a.value {
                    feature::PROGRAM_KEEPALIVE => {
                        self.keepalive.store(true, Ordering::Relaxed);
                        true
                    }
                    _ => {
                        self.conn()?;
                        matches!(
                            a.value,
                            feature::REMOTE_EVENT_CALLBACK
                                | feature::REMOTE_CLOSE_CALLBACK
                                | feature::TYPED_PARAM_STRING
                                | feature::XML_MIGRATABLE
                                | feature::NETWORK_UPDATE_HAS_CORRECT_ORDER
                        )
                    }
                };
                Ok(SupportsFeatureRet { supported: supported as i32 })
            }),
            P::CONNECT_REGISTER_CLOSE_CALLBACK | P::CONNECT_UNREGISTER_CLOSE_CALLBACK => {
                run(body, |_: ()| self.conn().map(|_| ()))
            }
            P::CONNECT_GET_TYPE => run(body, |_: ()| Ok(StringRet { s: self.conn()?.kind().to_string() })),
            P::CONNECT_GET_VERSION => run(body, |_: ()| Ok(HyperRet { value: self.conn()?.hypervisor_version()? })),
            P::CONNECT_GET_LIB_VERSION => run(body, |_: ()| Ok(HyperRet { value: LIB_VERSION })),
            P::CONNECT_GET_HOSTNAME => run(body, |_: ()| Ok(StringRet { s: self.conn()?.hostname()? })),
            P::CONNECT_GET_URI => run(body, |_: ()| Ok(StringRet { s: self.conn()?.uri() })),
            P::CONNECT_GET_CAPABILITIES => run(body, |_: ()| Ok(StringRet { s: self.conn()?.capabilities()? })),
            P::CONNECT_GET_MAX_VCPUS => run(body, |a: OptStringArgs| {
                let n = self.conn()?.max_vcpus(a.s.as_deref())?;
                Ok(IntRet { value: i32::try_from(n).unwrap_or(i32::MAX) })
            }),
            P::NODE_GET_INFO => run(body, |_: ()| {
                let n = self.conn()?.node_info()?;
                let i = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
                Ok(NodeGetInfoRet {
                    model: xdr::c_chars(&n.model),
                    memory: n.memory,
                    cpus: i(n.cpus),
                    mhz: i(n.mhz),
                    nodes: i(n.nodes),
                    sockets: i(n.sockets),
                    cores: i(n.cores),
                    threads: i(n.threads),
                })
            }),
            P::NODE_GET_SECURITY_MODEL => run(body, |_: ()| {
                let m = self.conn()?.security_model()?;
                Ok(SecurityModelRet { model: c_string_array(&m.model), doi: c_string_array(&m.doi) })
            }),
            P::CONNECT_IS_SECURE => run(body, |_: ()| {
                // Unix sockets: nobody can listen in between the client and us.
                self.conn()?;
                Ok(IntRet { value: 1 })
            }),
            _ => return None,
        })
    }
}
