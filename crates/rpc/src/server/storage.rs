//! Storage pool and volume procedures.

use super::*;

impl Session {
    /// `None`: not one of this group's procedures.
    pub(super) fn dispatch_storage(&self, h: &Header, body: &[u8]) -> Option<Result<Vec<u8>>> {
        use procs as P;
        Some(match h.proc_ {
            P::CONNECT_NUM_OF_STORAGE_POOLS | P::CONNECT_NUM_OF_DEFINED_STORAGE_POOLS => run(body, |_: ()| {
                let f =
                    if h.proc_ == P::CONNECT_NUM_OF_STORAGE_POOLS { flags::LIST_ACTIVE } else { flags::LIST_INACTIVE };
                Ok(IntRet { value: self.conn()?.list_all_storage_pools(f)?.len() as i32 })
            }),
            P::CONNECT_LIST_STORAGE_POOLS | P::CONNECT_LIST_DEFINED_STORAGE_POOLS => run(body, |a: IntArgs| {
                list_limit(a.value.max(0) as usize, STORAGE_POOL_LIST_MAX, "storage pools")?;
                let f =
                    if h.proc_ == P::CONNECT_LIST_STORAGE_POOLS { flags::LIST_ACTIVE } else { flags::LIST_INACTIVE };
                let mut names: Vec<String> =
                    self.conn()?.list_all_storage_pools(f)?.iter().map(|p| p.name().to_string()).collect();
                names.truncate(a.value.max(0) as usize);
                Ok(ListNamesRet { names: Array(names) })
            }),
            P::CONNECT_LIST_ALL_STORAGE_POOLS => run(body, |a: ListAllArgs| {
                let all = self.conn()?.list_all_storage_pools(a.flags)?;
                list_limit(all.len(), STORAGE_POOL_LIST_MAX, "storage pools")?;
                let ret = all.len() as u32;
                let pools =
                    if a.need_results != 0 { all.iter().map(|p| p.reference().into()).collect() } else { vec![] };
                Ok(ListAllPoolsRet { pools: Array(pools), ret })
            }),
            P::STORAGE_POOL_LIST_ALL_VOLUMES => run(body, |a: PoolListAllVolumesArgs| {
                let all = self.pool(&a.pool)?.list_all_volumes()?;
                list_limit(all.len(), STORAGE_VOL_LIST_MAX, "storage volumes")?;
                let ret = all.len() as u32;
                let vols =
                    if a.need_results != 0 { all.iter().map(|v| v.reference().into()).collect() } else { vec![] };
                Ok(ListAllVolumesRet { vols: Array(vols), ret })
            }),
            P::STORAGE_POOL_NUM_OF_VOLUMES => {
                run(body, |a: PoolArgs| Ok(IntRet { value: self.pool(&a.pool)?.list_all_volumes()?.len() as i32 }))
            }
            P::STORAGE_POOL_LIST_VOLUMES => run(body, |a: PoolIntArgs| {
                list_limit(a.value.max(0) as usize, STORAGE_VOL_LIST_MAX, "storage volumes")?;
                let mut names: Vec<String> =
                    self.pool(&a.pool)?.list_all_volumes()?.iter().map(|v| v.name().to_string()).collect();
                names.truncate(a.value.max(0) as usize);
                Ok(ListNamesRet { names: Array(names) })
            }),
            P::STORAGE_POOL_LOOKUP_BY_NAME => run(body, |a: StringArgs| {
                Ok(PoolRet { pool: self.conn()?.lookup_storage_pool_by_name(&a.s)?.reference().into() })
            }),
            P::STORAGE_POOL_LOOKUP_BY_UUID => run(body, |a: UuidArgs| {
                Ok(PoolRet { pool: self.conn()?.lookup_storage_pool_by_uuid(&a.uuid)?.reference().into() })
            }),
            P::STORAGE_POOL_LOOKUP_BY_VOLUME => {
                run(body, |a: VolArgs| Ok(PoolRet { pool: self.vol(&a.vol)?.pool()?.reference().into() }))
            }
            P::STORAGE_POOL_DEFINE_XML => run(body, |a: StringFlagsArgs| {
                Ok(PoolRet { pool: self.conn()?.define_storage_pool(&a.s, a.flags)?.reference().into() })
            }),
            P::STORAGE_POOL_CREATE_XML => run(body, |a: StringFlagsArgs| {
                Ok(PoolRet { pool: self.conn()?.create_storage_pool_xml(&a.s, a.flags)?.reference().into() })
            }),
            P::STORAGE_POOL_CREATE => run(body, |a: PoolFlagsArgs| self.pool(&a.pool)?.create(a.flags)),
            P::STORAGE_POOL_BUILD => run(body, |a: PoolFlagsArgs| self.pool(&a.pool)?.build(a.flags)),
            P::STORAGE_POOL_DESTROY => run(body, |a: PoolArgs| self.pool(&a.pool)?.destroy()),
            P::STORAGE_POOL_DELETE => run(body, |a: PoolFlagsArgs| self.pool(&a.pool)?.delete(a.flags)),
            P::STORAGE_POOL_UNDEFINE => run(body, |a: PoolArgs| self.pool(&a.pool)?.undefine()),
            P::STORAGE_POOL_REFRESH => run(body, |a: PoolFlagsArgs| self.pool(&a.pool)?.refresh(a.flags)),
            P::STORAGE_POOL_GET_XML_DESC => {
                run(body, |a: PoolFlagsArgs| Ok(StringRet { s: self.pool(&a.pool)?.xml_desc(a.flags)? }))
            }
            P::STORAGE_POOL_GET_INFO => run(body, |a: PoolArgs| {
                let i = self.pool(&a.pool)?.info()?;
                Ok(PoolGetInfoRet {
                    state: i.state as u8,
                    capacity: i.capacity,
                    allocation: i.allocation,
                    available: i.available,
                })
            }),
            P::STORAGE_POOL_GET_AUTOSTART => run(body, |a: PoolArgs| Ok(int(self.pool(&a.pool)?.autostart()?))),
            P::STORAGE_POOL_SET_AUTOSTART => {
                run(body, |a: PoolIntArgs| self.pool(&a.pool)?.set_autostart(a.value != 0))
            }
            P::STORAGE_POOL_IS_ACTIVE => run(body, |a: PoolArgs| Ok(int(self.pool(&a.pool)?.is_active()?))),
            P::STORAGE_POOL_IS_PERSISTENT => run(body, |a: PoolArgs| Ok(int(self.pool(&a.pool)?.is_persistent()?))),
            P::STORAGE_VOL_LOOKUP_BY_NAME => run(body, |a: VolLookupByNameArgs| {
                Ok(VolRet { vol: self.pool(&a.pool)?.lookup_volume_by_name(&a.name)?.reference().into() })
            }),
            P::STORAGE_VOL_LOOKUP_BY_KEY => run(body, |a: StringArgs| {
                Ok(VolRet { vol: self.conn()?.lookup_storage_vol_by_key(&a.s)?.reference().into() })
            }),
            P::STORAGE_VOL_LOOKUP_BY_PATH => run(body, |a: StringArgs| {
                Ok(VolRet { vol: self.conn()?.lookup_storage_vol_by_path(&a.s)?.reference().into() })
            }),
            P::STORAGE_VOL_CREATE_XML => run(body, |a: VolCreateXmlArgs| {
                Ok(VolRet { vol: self.pool(&a.pool)?.create_volume_xml(&a.xml, a.flags)?.reference().into() })
            }),
            P::STORAGE_VOL_DELETE => run(body, |a: VolFlagsArgs| self.vol(&a.vol)?.delete(a.flags)),
            P::STORAGE_VOL_GET_XML_DESC => {
                run(body, |a: VolFlagsArgs| Ok(StringRet { s: self.vol(&a.vol)?.xml_desc(a.flags)? }))
            }
            P::STORAGE_VOL_GET_INFO_FLAGS => run(body, |a: VolFlagsArgs| {
                let i = self.vol(&a.vol)?.info()?;
                Ok(VolGetInfoRet {
                    kind: i8::try_from(i.kind).unwrap_or(0),
                    capacity: i.capacity,
                    allocation: i.allocation,
                })
            }),
            P::STORAGE_VOL_GET_INFO => run(body, |a: VolArgs| {
                let i = self.vol(&a.vol)?.info()?;
                Ok(VolGetInfoRet {
                    kind: i8::try_from(i.kind).unwrap_or(0),
                    capacity: i.capacity,
                    allocation: i.allocation,
                })
            }),
            P::STORAGE_VOL_CREATE_XML_FROM => run(body, |a: VolCreateXmlFromArgs| {
                let src = self.vol(&a.clonevol)?;
                Ok(VolRet {
                    vol: self.pool(&a.pool)?.create_volume_xml_from(&a.xml, &src, a.flags)?.reference().into(),
                })
            }),
            P::STORAGE_VOL_WIPE => run(body, |a: VolFlagsArgs| self.vol(&a.vol)?.wipe_pattern(0, a.flags)),
            P::STORAGE_VOL_WIPE_PATTERN => {
                run(body, |a: VolWipePatternArgs| self.vol(&a.vol)?.wipe_pattern(a.algorithm, a.flags))
            }
            P::STORAGE_VOL_RESIZE => run(body, |a: VolResizeArgs| self.vol(&a.vol)?.resize(a.capacity, a.flags)),
            P::STORAGE_VOL_GET_PATH => run(body, |a: VolArgs| Ok(StringRet { s: self.vol(&a.vol)?.path()? })),
            _ => return None,
        })
    }
}
