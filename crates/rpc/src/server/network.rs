//! Virtual network procedures.

use super::*;

impl Session {
    /// `None`: not one of this group's procedures.
    pub(super) fn dispatch_network(&self, h: &Header, body: &[u8]) -> Option<Result<Vec<u8>>> {
        use procs as P;
        Some(match h.proc_ {
            P::CONNECT_NUM_OF_NETWORKS | P::CONNECT_NUM_OF_DEFINED_NETWORKS => run(body, |_: ()| {
                let f = if h.proc_ == P::CONNECT_NUM_OF_NETWORKS { flags::LIST_ACTIVE } else { flags::LIST_INACTIVE };
                Ok(IntRet { value: self.conn()?.list_all_networks(f)?.len() as i32 })
            }),
            P::CONNECT_LIST_NETWORKS | P::CONNECT_LIST_DEFINED_NETWORKS => run(body, |a: IntArgs| {
                list_limit(a.value.max(0) as usize, NETWORK_LIST_MAX, "networks")?;
                let f = if h.proc_ == P::CONNECT_LIST_NETWORKS { flags::LIST_ACTIVE } else { flags::LIST_INACTIVE };
                let mut names: Vec<String> =
                    self.conn()?.list_all_networks(f)?.iter().map(|n| n.name().to_string()).collect();
                names.truncate(a.value.max(0) as usize);
                Ok(ListNamesRet { names: Array(names) })
            }),
            P::CONNECT_LIST_ALL_NETWORKS => run(body, |a: ListAllArgs| {
                let all = self.conn()?.list_all_networks(a.flags)?;
                list_limit(all.len(), NETWORK_LIST_MAX, "networks")?;
                let ret = all.len() as u32;
                let nets =
                    if a.need_results != 0 { all.iter().map(|n| n.reference().into()).collect() } else { vec![] };
                Ok(ListAllNetworksRet { nets: Array(nets), ret })
            }),
            P::NETWORK_LOOKUP_BY_NAME => run(body, |a: StringArgs| {
                Ok(NetRet { net: self.conn()?.lookup_network_by_name(&a.s)?.reference().into() })
            }),
            P::NETWORK_LOOKUP_BY_UUID => run(body, |a: UuidArgs| {
                Ok(NetRet { net: self.conn()?.lookup_network_by_uuid(&a.uuid)?.reference().into() })
            }),
            P::NETWORK_DEFINE_XML => {
                run(body, |a: StringArgs| Ok(NetRet { net: self.conn()?.define_network(&a.s, 0)?.reference().into() }))
            }
            P::NETWORK_DEFINE_XML_FLAGS => run(body, |a: StringFlagsArgs| {
                Ok(NetRet { net: self.conn()?.define_network(&a.s, a.flags)?.reference().into() })
            }),
            P::NETWORK_CREATE_XML => run(body, |a: StringArgs| {
                Ok(NetRet { net: self.conn()?.create_network_xml(&a.s, 0)?.reference().into() })
            }),
            P::NETWORK_CREATE_XML_FLAGS => run(body, |a: StringFlagsArgs| {
                Ok(NetRet { net: self.conn()?.create_network_xml(&a.s, a.flags)?.reference().into() })
            }),
            P::NETWORK_CREATE => run(body, |a: NetArgs| self.net(&a.net)?.create()),
            P::NETWORK_DESTROY => run(body, |a: NetArgs| self.net(&a.net)?.destroy()),
            P::NETWORK_UNDEFINE => run(body, |a: NetArgs| self.net(&a.net)?.undefine()),
            P::NETWORK_GET_XML_DESC => {
                run(body, |a: NetFlagsArgs| Ok(StringRet { s: self.net(&a.net)?.xml_desc(a.flags)? }))
            }
            P::NETWORK_GET_BRIDGE_NAME => run(body, |a: NetArgs| Ok(StringRet { s: self.net(&a.net)?.bridge_name()? })),
            P::NETWORK_GET_AUTOSTART => run(body, |a: NetArgs| Ok(int(self.net(&a.net)?.autostart()?))),
            P::NETWORK_SET_AUTOSTART => run(body, |a: NetIntArgs| self.net(&a.net)?.set_autostart(a.value != 0)),
            P::NETWORK_UPDATE => run(body, |a: NetworkUpdateArgs| {
                self.net(&a.net)?.update(a.command, a.section, a.parent_index, &a.xml, a.flags)
            }),
            P::NETWORK_GET_DHCP_LEASES => run(body, |a: NetworkGetDhcpLeasesArgs| {
                let leases = self.net(&a.net)?.dhcp_leases(a.mac.as_deref())?;
                let ret = leases.len() as u32;
                // need_results 0: the caller only wants the count.
                let leases =
                    if a.need_results != 0 { leases.iter().map(NetworkDhcpLease::from).collect() } else { Vec::new() };
                Ok(NetworkGetDhcpLeasesRet { leases: Array(leases), ret })
            }),
            P::NETWORK_IS_ACTIVE => run(body, |a: NetArgs| Ok(int(self.net(&a.net)?.is_active()?))),
            P::NETWORK_IS_PERSISTENT => run(body, |a: NetArgs| Ok(int(self.net(&a.net)?.is_persistent()?))),
            _ => return None,
        })
    }
}
