//! Modification impact: which definitions a change with `AFFECT_LIVE` / `AFFECT_CONFIG` /
//! neither ("current") touches, and the refusals libvirt makes for it, the same for every driver
//! (libvirt's `virDomainObjUpdateModificationImpact`, `virDomainObjGetOneDef` and the network
//! update's `virNetworkObjConfigChangeSetup`). The rule takes the typed impact; the families
//! that extend it give theirs with `.impact()`, and a network update's bits are the same (live 1,
//! config 2).

use crate::{DomainModificationImpact, Error, ErrorCode, ErrorDomain, Result};

/// `VIR_DOMAIN_AFFECT_LIVE`, `VIR_NETWORK_UPDATE_AFFECT_LIVE`, for the families still `u32`.
pub const AFFECT_LIVE: u32 = 1;
/// `VIR_DOMAIN_AFFECT_CONFIG`, `VIR_NETWORK_UPDATE_AFFECT_CONFIG`, for the families still `u32`.
pub const AFFECT_CONFIG: u32 = 2;

/// What a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Domain,
    Network,
}

/// The resolved impact: which of the two definitions change (at least one does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Impact {
    pub live: bool,
    pub config: bool,
}

/// Resolves `flags` for an object that is `active` and/or `persistent`: "current" is live when
/// running, else config; live needs a running object, config a persistent one.
pub fn resolve(target: Target, flags: DomainModificationImpact, active: bool, persistent: bool) -> Result<Impact> {
    let mut live = flags.contains(DomainModificationImpact::LIVE);
    let mut config = flags.contains(DomainModificationImpact::CONFIG);
    if !live && !config {
        live = active;
        config = !active;
    }
    let refuse = |domain_msg: &str, network_msg: &str| {
        let (domain, msg) = match target {
            Target::Domain => (ErrorDomain::Domain, domain_msg),
            Target::Network => (ErrorDomain::Network, network_msg),
        };
        Err(Error::coded(ErrorCode::OperationInvalid, domain, msg))
    };
    if live && !active {
        return refuse("domain is not running", "network is not running");
    }
    if config && !persistent {
        return refuse(
            "transient domains do not have any persistent config",
            "cannot change persistent config of a transient network",
        );
    }
    Ok(Impact { live, config })
}

/// Live and config may not both be given to a call about exactly one definition.
pub fn check_exclusive(flags: DomainModificationImpact) -> Result<()> {
    if flags.is_all() {
        // libvirt reports this one without the "invalid argument" prefix.
        return Err(Error::new(
            ErrorCode::InvalidArg,
            ErrorDomain::Domain,
            "Flags 'VIR_DOMAIN_AFFECT_LIVE' and 'VIR_DOMAIN_AFFECT_CONFIG' are mutually exclusive",
        ));
    }
    Ok(())
}

/// For calls about exactly one definition (getters, `virDomainObjGetOneDef`): returns whether the
/// live definition is meant.
pub fn resolve_one(flags: DomainModificationImpact, active: bool, persistent: bool) -> Result<bool> {
    check_exclusive(flags)?;
    Ok(resolve(Target::Domain, flags, active, persistent)?.live)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: DomainModificationImpact = DomainModificationImpact::LIVE;
    const CONFIG: DomainModificationImpact = DomainModificationImpact::CONFIG;
    const CURRENT: DomainModificationImpact = DomainModificationImpact::empty();

    #[test]
    fn current_follows_the_state() {
        assert_eq!(resolve(Target::Domain, CURRENT, true, true).unwrap(), Impact { live: true, config: false });
        assert_eq!(resolve(Target::Domain, CURRENT, false, true).unwrap(), Impact { live: false, config: true });
        let both = LIVE | CONFIG;
        assert_eq!(resolve(Target::Network, both, true, true).unwrap(), Impact { live: true, config: true });
    }

    #[test]
    fn refusals_are_libvirts() {
        let e = resolve(Target::Domain, LIVE, false, true).unwrap_err();
        assert_eq!(e.code, ErrorCode::OperationInvalid);
        assert!(e.message.ends_with("domain is not running"), "{e}");
        // A transient domain has no config to change, "current" or not.
        let e = resolve(Target::Domain, CONFIG, true, false).unwrap_err();
        assert!(e.message.ends_with("transient domains do not have any persistent config"), "{e}");
        let e = resolve(Target::Network, CONFIG, true, false).unwrap_err();
        assert!(e.message.ends_with("cannot change persistent config of a transient network"), "{e}");
        assert_eq!(e.domain, ErrorDomain::Network);
        let e = resolve(Target::Network, LIVE, false, true).unwrap_err();
        assert!(e.message.ends_with("network is not running"), "{e}");
    }

    #[test]
    fn one_definition_only() {
        assert!(resolve_one(LIVE | CONFIG, true, true).is_err());
        assert!(resolve_one(CURRENT, true, false).unwrap());
        assert!(!resolve_one(CURRENT, false, true).unwrap());
        assert!(resolve_one(CONFIG, true, false).is_err());
    }
}
