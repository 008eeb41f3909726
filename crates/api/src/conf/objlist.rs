//! Object-list rules every driver shares (libvirt's `virDomainObjListAdd`, `virNetworkObjAssignDef`,
//! `virStoragePoolObjListAdd`): a UUID names one object and a name one UUID, a running object
//! cannot be created again, and a new definition replaces the live or the persistent one.
//!
//! Drivers keep their objects as they like (in memory, files on disk); they describe each one with
//! [`ObjFacts`] and get the same decision, message and error code.

use uuid::Uuid;

use crate::{Error, ErrorCode, ErrorDomain, Result};

/// The kind of object a list holds: it names the object in messages and picks the error domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjKind {
    Domain,
    Network,
    Pool,
}

impl ObjKind {
    fn noun(self) -> &'static str {
        match self {
            ObjKind::Domain => "domain",
            ObjKind::Network => "network",
            ObjKind::Pool => "pool",
        }
    }

    fn error_domain(self) -> ErrorDomain {
        match self {
            ObjKind::Domain => ErrorDomain::Domain,
            ObjKind::Network => ErrorDomain::Network,
            ObjKind::Pool => ErrorDomain::Storage,
        }
    }
}

/// What the rules need to know about one object already in a list.
#[derive(Debug, Clone, Copy)]
pub struct ObjFacts<'a> {
    pub name: &'a str,
    pub uuid: Uuid,
    pub active: bool,
    pub persistent: bool,
}

/// The name/UUID rule between an object in the list (`have`) and a new definition: a shared UUID
/// with another name is "already defined", a shared name with another UUID "already exists".
pub fn check_identity(kind: ObjKind, have_name: &str, have_uuid: Uuid, name: &str, uuid: Uuid) -> Result<()> {
    let msg = if have_uuid == uuid && have_name != name {
        format!("{} '{have_name}' is already defined with uuid {uuid}", kind.noun())
    } else if have_name == name && have_uuid != uuid {
        format!("{} '{name}' already exists with uuid {have_uuid}", kind.noun())
    } else {
        return Ok(());
    };
    Err(Error::coded(ErrorCode::OperationFailed, kind.error_domain(), msg))
}

/// The refusal to create (start from new XML, restore) an object that is already running; for a
/// domain, also one that is transient (being started by someone else).
pub fn check_not_live(kind: ObjKind, have: &ObjFacts<'_>) -> Result<()> {
    let msg = match kind {
        ObjKind::Domain if have.active => format!("domain '{}' is already active", have.name),
        ObjKind::Domain if !have.persistent => format!("domain '{}' is already being started", have.name),
        ObjKind::Network | ObjKind::Pool if have.active => {
            format!("{} is already active as '{}'", kind.noun(), have.name)
        }
        _ => return Ok(()),
    };
    Err(Error::coded(ErrorCode::OperationInvalid, kind.error_domain(), msg))
}

/// Where a new definition goes in a list: the index of the object with its UUID (to be updated),
/// or `None` for a new object. `check_live` is for creating a running object (create, restore).
pub fn find_for_add<'a>(
    kind: ObjKind,
    objs: impl IntoIterator<Item = ObjFacts<'a>>,
    name: &str,
    uuid: Uuid,
    check_live: bool,
) -> Result<Option<usize>> {
    let mut by_name = None;
    for (i, o) in objs.into_iter().enumerate() {
        if o.uuid == uuid {
            check_identity(kind, o.name, o.uuid, name, uuid)?;
            if check_live {
                check_not_live(kind, &o)?;
            }
            return Ok(Some(i));
        }
        if by_name.is_none() && o.name == name {
            by_name = Some(o.uuid);
        }
    }
    match by_name {
        Some(have) => check_identity(kind, name, have, name, uuid).map(|()| None),
        None => Ok(None),
    }
}

/// Puts `new` into an existing object's definitions (libvirt's `virDomainObjAssignDef` and
/// `virNetworkObjUpdateAssignDef`). `def` is the live definition while `active`, else the
/// persistent one; `next` is the persistent definition kept aside while active.
///
/// `live` (create): `new` becomes the running definition and the persistent one is kept for the
/// next stop. Otherwise (define) `new` is the persistent definition — taking effect at the next
/// stop when active — and the caller marks the object persistent. Returns the persistent
/// definition `new` replaced, if there was one.
pub fn assign_def<T>(def: &mut T, next: &mut Option<T>, active: bool, new: T, live: bool) -> Option<T> {
    match (active, live) {
        (true, false) => next.replace(new),
        (_, true) => {
            let old = std::mem::replace(def, new);
            if next.is_none() {
                *next = Some(old);
            }
            None
        }
        (false, false) => {
            *next = None;
            Some(std::mem::replace(def, new))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn facts(name: &str, uuid: Uuid, active: bool, persistent: bool) -> ObjFacts<'_> {
        ObjFacts { name, uuid, active, persistent }
    }

    #[test]
    fn identity_messages_are_libvirts() {
        let objs = [facts("a", u(1), false, true), facts("b", u(2), true, true)];
        let e = find_for_add(ObjKind::Domain, objs, "c", u(1), false).unwrap_err();
        assert_eq!(e.code, ErrorCode::OperationFailed);
        assert!(e.message.ends_with(&format!("domain 'a' is already defined with uuid {}", u(1))), "{e}");
        let e = find_for_add(ObjKind::Network, objs, "b", u(3), false).unwrap_err();
        assert!(e.message.ends_with(&format!("network 'b' already exists with uuid {}", u(2))), "{e}");
        assert_eq!(e.domain, ErrorDomain::Network);
        assert_eq!(find_for_add(ObjKind::Pool, objs, "a", u(1), true).unwrap(), Some(0));
        assert_eq!(find_for_add(ObjKind::Pool, objs, "new", u(9), true).unwrap(), None);
    }

    #[test]
    fn uuid_match_wins_over_a_name_clash_elsewhere() {
        // libvirt looks the UUID up first: "x" with a's UUID is a rename clash with a, not with x.
        let objs = [facts("x", u(7), false, true), facts("a", u(1), false, true)];
        let e = find_for_add(ObjKind::Domain, objs, "x", u(1), false).unwrap_err();
        assert!(e.message.contains("domain 'a' is already defined"), "{e}");
    }

    #[test]
    fn create_refuses_running_and_starting_objects() {
        let running = [facts("a", u(1), true, true)];
        let e = find_for_add(ObjKind::Domain, running, "a", u(1), true).unwrap_err();
        assert_eq!(e.code, ErrorCode::OperationInvalid);
        assert!(e.message.ends_with("domain 'a' is already active"), "{e}");
        let starting = [facts("a", u(1), false, false)];
        let e = find_for_add(ObjKind::Domain, starting, "a", u(1), true).unwrap_err();
        assert!(e.message.ends_with("domain 'a' is already being started"), "{e}");
        let e = find_for_add(ObjKind::Network, running, "a", u(1), true).unwrap_err();
        assert!(e.message.ends_with("network is already active as 'a'"), "{e}");
        assert!(find_for_add(ObjKind::Network, starting, "a", u(1), true).is_ok());
    }

    #[test]
    fn assign_def_keeps_live_and_persistent_apart() {
        // Define while running: the new definition waits for the next stop.
        let (mut def, mut next) = ("live", Some("old"));
        assert_eq!(assign_def(&mut def, &mut next, true, "new", false), Some("old"));
        assert_eq!((def, next), ("live", Some("new")));
        // Create over an inactive persistent object: run the new one, keep the old for later.
        let (mut def, mut next) = ("cfg", None);
        assert_eq!(assign_def(&mut def, &mut next, false, "new", true), None);
        assert_eq!((def, next), ("new", Some("cfg")));
        // Define while inactive: replaced.
        let (mut def, mut next) = ("cfg", None);
        assert_eq!(assign_def(&mut def, &mut next, false, "new", false), Some("cfg"));
        assert_eq!((def, next), ("new", None));
    }
}
