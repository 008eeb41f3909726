//! `<lease>`: a lock-manager lease the domain must hold to run.

use crate::Xml;

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct Lease {
    #[xml(child_text = "lockspace")]
    pub lockspace: String,
    #[xml(child_text = "key")]
    pub key: String,
    #[xml(child = "target")]
    pub target: LeaseTarget,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Xml)]
pub struct LeaseTarget {
    #[xml(attr = "path")]
    pub path: String,
    #[xml(attr = "offset")]
    pub offset: Option<u64>,
}
