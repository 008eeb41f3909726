//! Storage pools and volumes, in memory, as libvirt's test driver keeps them: every pool is
//! 100 GiB, volumes only count against that, nothing touches the disk.

use oxvirt_api::conf::objlist::{self, ObjFacts, ObjKind};
use oxvirt_api::types::{flags, object_matches};
use oxvirt_api::{Error, ErrorCode, ErrorDomain, PoolInfo, PoolRef, PoolState, Result, VolInfo, VolRef};
use oxvirt_xml::storage::{PoolType, StoragePool, StorageVol, VolFormat, VolFormatType, VolTarget, VolType};
use oxvirt_xml::{parse_document, Bytes, ParseOptions, XmlDocument};
use uuid::Uuid;

use crate::domains::unsupported_flags;
use crate::domdef::shift;
use crate::state::State;

/// Every test pool's size (libvirt's value).
pub const POOL_CAPACITY: u64 = 100 * 1024 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct PoolObj {
    pub def: StoragePool,
    pub active: bool,
    /// libvirt's test driver calls this "has a config file".
    pub persistent: bool,
    pub autostart: bool,
    pub vols: Vec<StorageVol>,
}

impl PoolObj {
    pub fn reference(&self) -> PoolRef {
        PoolRef { name: self.def.name().to_string(), uuid: self.def.uuid.unwrap_or_default() }
    }

    fn vol_ref(&self, v: &StorageVol) -> VolRef {
        VolRef { pool: self.def.name().to_string(), name: v.name.clone(), key: v.key.clone().unwrap_or_default() }
    }

    fn allocation(&self) -> u64 {
        self.def.allocation.map_or(0, |b| b.0)
    }

    /// Recomputes allocation and available space from the volumes.
    fn account(&mut self) {
        let used: u64 = self.vols.iter().map(vol_allocation).sum();
        self.def.capacity = Some(Bytes(POOL_CAPACITY));
        self.def.allocation = Some(Bytes(used));
        self.def.available = Some(Bytes(POOL_CAPACITY.saturating_sub(used)));
    }

    fn vol_kind(&self) -> VolType {
        use PoolType::*;
        match self.def.kind {
            Dir | Fs | Netfs | Vstorage => VolType::File,
            Sheepdog | IscsiDirect | Gluster | Rbd => VolType::Network,
            Logical | Disk | Mpath | Iscsi | Scsi | Zfs => VolType::Block,
        }
    }
}

fn vol_allocation(v: &StorageVol) -> u64 {
    v.allocation.map_or(0, |b| b.0)
}

fn vol_type_number(t: VolType) -> i32 {
    match t {
        VolType::File => 0,
        VolType::Block => 1,
        VolType::Dir => 2,
        VolType::Network => 3,
        VolType::Netdir => 4,
        VolType::Ploop => 5,
    }
}

fn storage_err(code: ErrorCode, msg: impl std::fmt::Display) -> Error {
    Error::coded(code, ErrorDomain::Storage, msg)
}

pub fn parse_pool(doc: &str, origin: (u32, u32), xml: &str, validate: bool) -> Result<StoragePool> {
    parse_document::<StoragePool>(xml, ParseOptions { validate })
        .map(|(p, _)| p)
        .map_err(|e| Error::xml(doc, &shift(e, origin)).in_domain(ErrorDomain::Storage))
}

fn parse_vol(doc: &str, origin: (u32, u32), xml: &str, validate: bool) -> Result<StorageVol> {
    let mut v = parse_document::<StorageVol>(xml, ParseOptions { validate })
        .map(|(v, _)| v)
        .map_err(|e| Error::xml(doc, &shift(e, origin)).in_domain(ErrorDomain::Storage))?;
    // libvirt: a volume without an allocation is fully allocated
    if v.allocation.is_none() {
        v.allocation = v.capacity;
    }
    Ok(v)
}

impl State {
    fn pool_idx_by_name(&self, name: &str) -> Result<usize> {
        self.pools
            .iter()
            .position(|p| p.def.name() == name)
            .ok_or_else(|| Error::no_pool(format!("no storage pool with matching name '{name}'")))
    }

    fn pool_idx(&self, r: &PoolRef) -> Result<usize> {
        self.pool_idx_by_name(&r.name)
    }

    fn active_pool_idx(&self, name: &str) -> Result<usize> {
        let i = self.pool_idx_by_name(name)?;
        if !self.pools[i].active {
            return Err(storage_err(ErrorCode::OperationInvalid, format!("storage pool '{name}' is not active")));
        }
        Ok(i)
    }

    fn inactive_pool_idx(&self, name: &str) -> Result<usize> {
        let i = self.pool_idx_by_name(name)?;
        if self.pools[i].active {
            return Err(storage_err(ErrorCode::OperationInvalid, format!("storage pool '{name}' is active")));
        }
        Ok(i)
    }

    /// `virStoragePoolObjListAdd`: source conflicts, name/UUID conflicts, then add or update.
    fn add_pool(&mut self, mut def: StoragePool, check_live: bool) -> Result<usize> {
        let target = |p: &StoragePool| p.target.as_ref().and_then(|t| t.path.clone());
        if let Some(other) = self.pools.iter().find(|p| {
            p.def.name() != def.name()
                && p.def.kind == def.kind
                && def.kind == PoolType::Dir
                && target(&p.def).is_some()
                && target(&p.def) == target(&def)
        }) {
            return Err(storage_err(
                ErrorCode::OperationFailed,
                format!("Storage source conflict with pool: '{}'", other.def.name()),
            ));
        }
        let uuid = def.uuid.unwrap_or_default();
        def.capacity = Some(Bytes(POOL_CAPACITY));
        let facts = self.pools.iter().map(|p| ObjFacts {
            name: p.def.name(),
            uuid: p.def.uuid.unwrap_or_default(),
            active: p.active,
            persistent: p.persistent,
        });
        if let Some(i) = objlist::find_for_add(ObjKind::Pool, facts, def.name(), uuid, check_live)? {
            // The test driver keeps one definition; a running pool takes the new one at once.
            let p = &mut self.pools[i];
            p.def = def;
            p.account();
            return Ok(i);
        }
        let mut p = PoolObj { def, active: false, persistent: false, autostart: false, vols: Vec::new() };
        p.account();
        self.pools.push(p);
        Ok(self.pools.len() - 1)
    }

    /// Loads a pool from a node file (persistent, active) with its volumes.
    pub fn load_pool(&mut self, doc: &str, origin: (u32, u32), xml: &str) -> Result<usize> {
        let def = parse_pool(doc, origin, xml, false)?;
        let i = self.add_pool(def, false)?;
        self.pools[i].persistent = true;
        self.pools[i].active = true;
        Ok(i)
    }

    /// Adds a volume from a node file to pool `i`; path and key default to the pool's target path.
    pub fn load_volume(&mut self, i: usize, doc: &str, origin: (u32, u32), xml: &str) -> Result<()> {
        let v = parse_vol(doc, origin, xml, false)?;
        self.add_volume(i, v)?;
        Ok(())
    }

    fn add_volume(&mut self, i: usize, mut v: StorageVol) -> Result<VolRef> {
        let p = &mut self.pools[i];
        if p.vols.iter().any(|x| x.name == v.name) {
            return Err(storage_err(ErrorCode::OperationFailed, "storage vol already exists"));
        }
        if p.allocation().saturating_add(vol_allocation(&v)) > POOL_CAPACITY {
            return Err(storage_err(
                ErrorCode::InternalError,
                format!("Not enough free space in pool for volume '{}'", v.name),
            ));
        }
        let dir = p.def.target.as_ref().and_then(|t| t.path.clone()).unwrap_or_default();
        let t = v.target.get_or_insert_with(VolTarget::default);
        let path = t.path.get_or_insert_with(|| format!("{dir}/{}", v.name)).clone();
        // libvirt's default format for file volumes
        if matches!(p.def.kind, PoolType::Dir | PoolType::Fs | PoolType::Netfs) && t.format.is_none() {
            t.format = Some(VolFormat { kind: VolFormatType::Raw });
        }
        v.key.get_or_insert(path);
        v.kind.get_or_insert(p.vol_kind());
        let r = p.vol_ref(&v);
        p.vols.push(v);
        p.account();
        Ok(r)
    }

    pub fn list_pools(&self, f: u32) -> Vec<PoolRef> {
        self.pools
            .iter()
            .filter(|p| object_matches(f, p.active, p.persistent, p.autostart && p.persistent))
            .map(PoolObj::reference)
            .collect()
    }

    pub fn lookup_pool_by_name(&self, name: &str) -> Result<PoolRef> {
        Ok(self.pools[self.pool_idx_by_name(name)?].reference())
    }

    pub fn lookup_pool_by_uuid(&self, uuid: &Uuid) -> Result<PoolRef> {
        self.pools
            .iter()
            .find(|p| p.def.uuid == Some(*uuid))
            .map(PoolObj::reference)
            .ok_or_else(|| Error::no_pool(format!("no storage pool with matching uuid '{uuid}'")))
    }

    pub fn lookup_pool_by_volume(&self, v: &VolRef) -> Result<PoolRef> {
        self.lookup_pool_by_name(&v.pool)
    }

    pub fn pool_define(&mut self, xml: &str, f: u32) -> Result<PoolRef> {
        unsupported_flags("pool_define", f, flags::DEFINE_VALIDATE)?;
        let def = parse_pool("storage pool definition", (1, 1), xml, f & flags::DEFINE_VALIDATE != 0)?;
        let i = self.add_pool(def, false)?;
        self.pools[i].persistent = true;
        Ok(self.pools[i].reference())
    }

    pub fn pool_create_xml(&mut self, xml: &str, f: u32) -> Result<PoolRef> {
        unsupported_flags("pool_create_xml", f, 0)?;
        let def = parse_pool("storage pool definition", (1, 1), xml, false)?;
        let i = self.add_pool(def, true)?;
        self.pools[i].active = true;
        Ok(self.pools[i].reference())
    }

    /// Building checks the pool is inactive and does nothing else (no directories are made).
    pub fn pool_build(&mut self, r: &PoolRef, f: u32) -> Result<()> {
        unsupported_flags("pool_build", f, 0)?;
        self.inactive_pool_idx(&r.name).map(|_| ())
    }

    pub fn pool_create(&mut self, r: &PoolRef, f: u32) -> Result<()> {
        unsupported_flags("pool_create", f, 0)?;
        let i = self.inactive_pool_idx(&r.name)?;
        self.pools[i].active = true;
        Ok(())
    }

    pub fn pool_destroy(&mut self, r: &PoolRef) -> Result<()> {
        let i = self.active_pool_idx(&r.name)?;
        self.pools[i].active = false;
        if !self.pools[i].persistent {
            self.pools.remove(i);
        }
        Ok(())
    }

    pub fn pool_delete(&mut self, r: &PoolRef, f: u32) -> Result<()> {
        unsupported_flags("pool_delete", f, 0)?;
        self.inactive_pool_idx(&r.name).map(|_| ())
    }

    pub fn pool_undefine(&mut self, r: &PoolRef) -> Result<()> {
        let i = self.inactive_pool_idx(&r.name)?;
        self.pools.remove(i);
        Ok(())
    }

    pub fn pool_refresh(&mut self, r: &PoolRef, f: u32) -> Result<()> {
        unsupported_flags("pool_refresh", f, 0)?;
        self.active_pool_idx(&r.name).map(|_| ())
    }

    pub fn pool_xml(&self, r: &PoolRef, f: u32) -> Result<String> {
        // VIR_STORAGE_XML_INACTIVE: the test driver keeps one definition
        unsupported_flags("pool_xml", f, 1)?;
        Ok(self.pools[self.pool_idx(r)?].def.to_xml_string())
    }

    pub fn pool_info(&self, r: &PoolRef) -> Result<PoolInfo> {
        let p = &self.pools[self.pool_idx(r)?];
        Ok(PoolInfo {
            state: if p.active { PoolState::Running } else { PoolState::Inactive },
            capacity: p.def.capacity.map_or(0, |b| b.0),
            allocation: p.allocation(),
            available: p.def.available.map_or(0, |b| b.0),
        })
    }

    pub fn pool_get(&self, r: &PoolRef) -> Result<&PoolObj> {
        Ok(&self.pools[self.pool_idx(r)?])
    }

    pub fn pool_set_autostart(&mut self, r: &PoolRef, on: bool) -> Result<()> {
        let i = self.pool_idx(r)?;
        if !self.pools[i].persistent {
            return Err(storage_err(ErrorCode::InvalidArg, "pool has no config file"));
        }
        self.pools[i].autostart = on;
        Ok(())
    }

    pub fn list_volumes(&self, r: &PoolRef) -> Result<Vec<VolRef>> {
        let i = self.pool_idx(r)?;
        let p = &self.pools[i];
        if !p.active {
            return Err(storage_err(ErrorCode::OperationInvalid, "storage pool is not active"));
        }
        Ok(p.vols.iter().map(|v| p.vol_ref(v)).collect())
    }

    fn vol_pos(&self, pool: &str, name: &str) -> Result<(usize, usize)> {
        let i = self.active_pool_idx(pool)?;
        let j = self.pools[i]
            .vols
            .iter()
            .position(|v| v.name == name)
            .ok_or_else(|| Error::no_volume(format!("no storage vol with matching name '{name}'")))?;
        Ok((i, j))
    }

    pub fn lookup_volume_by_name(&self, r: &PoolRef, name: &str) -> Result<VolRef> {
        let (i, j) = self.vol_pos(&r.name, name)?;
        Ok(self.pools[i].vol_ref(&self.pools[i].vols[j]))
    }

    fn find_volume(&self, pred: impl Fn(&StorageVol) -> bool) -> Option<VolRef> {
        self.pools.iter().filter(|p| p.active).find_map(|p| p.vols.iter().find(|v| pred(v)).map(|v| p.vol_ref(v)))
    }

    pub fn lookup_volume_by_key(&self, key: &str) -> Result<VolRef> {
        self.find_volume(|v| v.key.as_deref() == Some(key))
            .ok_or_else(|| Error::no_volume(format!("no storage vol with matching key '{key}'")))
    }

    pub fn lookup_volume_by_path(&self, path: &str) -> Result<VolRef> {
        self.find_volume(|v| v.target.as_ref().and_then(|t| t.path.as_deref()) == Some(path))
            .ok_or_else(|| Error::no_volume(format!("no storage vol with matching path '{path}'")))
    }

    pub fn volume_create_xml(&mut self, r: &PoolRef, xml: &str, f: u32) -> Result<VolRef> {
        // VIR_STORAGE_VOL_CREATE_VALIDATE
        const VALIDATE: u32 = 1 << 2;
        unsupported_flags("volume_create_xml", f, VALIDATE)?;
        let i = self.active_pool_idx(&r.name)?;
        let mut v = parse_vol("storage volume definition", (1, 1), xml, f & VALIDATE != 0)?;
        v.require_capacity()
            .map_err(|e| Error::xml("storage volume definition", &e).in_domain(ErrorDomain::Storage))?;
        // libvirt places new volumes itself: path and key come from the pool
        if let Some(t) = v.target.as_mut() {
            t.path = None;
        }
        v.key = None;
        self.add_volume(i, v)
    }

    pub fn volume_delete(&mut self, r: &VolRef, f: u32) -> Result<()> {
        unsupported_flags("volume_delete", f, 0)?;
        let (i, j) = self.vol_pos(&r.pool, &r.name)?;
        self.pools[i].vols.remove(j);
        self.pools[i].account();
        Ok(())
    }

    pub fn volume_xml(&self, r: &VolRef, f: u32) -> Result<String> {
        unsupported_flags("volume_xml", f, 0)?;
        let (i, j) = self.vol_pos(&r.pool, &r.name)?;
        Ok(self.pools[i].vols[j].to_xml_string())
    }

    pub fn volume_info(&self, r: &VolRef) -> Result<VolInfo> {
        let (i, j) = self.vol_pos(&r.pool, &r.name)?;
        let p = &self.pools[i];
        let v = &p.vols[j];
        Ok(VolInfo { kind: vol_type_number(p.vol_kind()), capacity: v.capacity_bytes(), allocation: vol_allocation(v) })
    }

    pub fn volume_path(&self, r: &VolRef) -> Result<String> {
        let (i, j) = self.vol_pos(&r.pool, &r.name)?;
        Ok(self.pools[i].vols[j].target.as_ref().and_then(|t| t.path.clone()).unwrap_or_default())
    }
}
