//! Host device procedures.

use super::*;

impl Session {
    /// `None`: not one of this group's procedures.
    pub(super) fn dispatch_nodedev(&self, h: &Header, body: &[u8]) -> Option<Result<Vec<u8>>> {
        use procs as P;
        Some(match h.proc_ {
            P::NODE_NUM_OF_DEVICES => run(body, |a: NodeNumOfDevicesArgs| {
                Ok(IntRet { value: self.conn()?.list_all_node_devices(a.cap.as_deref())?.len() as i32 })
            }),
            P::NODE_LIST_DEVICES => run(body, |a: NodeListDevicesArgs| {
                let mut names: Vec<String> = self
                    .conn()?
                    .list_all_node_devices(a.cap.as_deref())?
                    .iter()
                    .map(|d| d.name().to_string())
                    .collect();
                names.truncate(a.maxnames.max(0) as usize);
                Ok(NodeListDevicesRet { names: Array(names) })
            }),
            P::CONNECT_LIST_ALL_NODE_DEVICES => run(body, |a: ListAllArgs| {
                let all = self.list_node_devices_by_flags(a.flags)?;
                list_limit(all.len(), NODE_DEVICE_LIST_MAX, "node devices")?;
                let ret = all.len() as u32;
                let devices = if a.need_results != 0 {
                    all.into_iter().map(|name| NonnullNodeDevice { name }).collect()
                } else {
                    vec![]
                };
                Ok(ListAllNodeDevicesRet { devices: Array(devices), ret })
            }),
            P::NODE_DEVICE_LOOKUP_BY_NAME => run(body, |a: StringArgs| {
                Ok(NodeDeviceRet {
                    dev: NonnullNodeDevice { name: self.conn()?.lookup_node_device_by_name(&a.s)?.name().to_string() },
                })
            }),
            P::NODE_DEVICE_GET_XML_DESC => run(body, |a: StringFlagsArgs| {
                Ok(StringRet { s: self.conn()?.lookup_node_device_by_name(&a.s)?.xml_desc()? })
            }),
            P::NODE_DEVICE_GET_PARENT => run(body, |a: StringArgs| {
                Ok(NodeDeviceGetParentRet { parent: self.conn()?.lookup_node_device_by_name(&a.s)?.parent()? })
            }),
            P::NODE_DEVICE_NUM_OF_CAPS => {
                run(body, |a: StringArgs| Ok(IntRet { value: self.node_device_caps(&a.s)?.len() as i32 }))
            }
            P::NODE_DEVICE_LIST_CAPS => run(body, |a: NodeDeviceListCapsArgs| {
                let mut names = self.node_device_caps(&a.name)?;
                names.truncate(a.maxnames.max(0) as usize);
                Ok(NodeDeviceListCapsRet { names: Array(names) })
            }),
            _ => return None,
        })
    }

    /// `virConnectListAllNodeDevices` flags: one bit per capability type, in libvirt's order
    /// (`oxvirt_xml::nodedev::CAP_TYPES`); no capability bit means all devices.
    fn list_node_devices_by_flags(&self, f: u32) -> Result<Vec<String>> {
        let conn = self.conn()?;
        let caps: Vec<&str> = oxvirt_xml::nodedev::CAP_TYPES
            .iter()
            .enumerate()
            .filter(|(i, _)| f & (1 << i) != 0)
            .map(|(_, c)| *c)
            .collect();
        if caps.is_empty() {
            return Ok(conn.list_all_node_devices(None)?.iter().map(|d| d.name().to_string()).collect());
        }
        let mut out: Vec<String> = Vec::new();
        for c in caps {
            for d in conn.list_all_node_devices(Some(c))? {
                if !out.iter().any(|n| n == d.name()) {
                    out.push(d.name().to_string());
                }
            }
        }
        Ok(out)
    }

    fn node_device_caps(&self, name: &str) -> Result<Vec<String>> {
        self.conn()?.lookup_node_device_by_name(name)?.caps()
    }
}
