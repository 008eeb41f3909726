#![allow(dead_code)] // each test binary uses a different part of this module
//! test:///default is one shared state per process while connections are open; tests that use
//! it run one at a time and drop their connections, so each starts from libvirt's defaults.

use std::sync::{Mutex, MutexGuard};

use oxvirt_api::Connect;

static SERIAL: Mutex<()> = Mutex::new(());

/// A connection to a fresh default state; fields drop in order, the lock last.
pub struct Fresh {
    pub conn: Connect,
    _guard: MutexGuard<'static, ()>,
}

impl std::ops::Deref for Fresh {
    type Target = Connect;
    fn deref(&self) -> &Connect {
        &self.conn
    }
}

pub fn fresh() -> Fresh {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    oxvirt_driver_test::register();
    let conn = Connect::open(Some("test:///default")).expect("open test:///default");
    Fresh { conn, _guard: guard }
}

pub fn domain_xml(name: &str) -> String {
    format!(
        "<domain type='test'><name>{name}</name><memory unit='MiB'>64</memory><vcpu current='1'>2</vcpu>\
         <os><type>hvm</type></os></domain>"
    )
}

pub fn domain_xml_uuid(name: &str, uuid: &str) -> String {
    format!(
        "<domain type='test'><name>{name}</name><uuid>{uuid}</uuid><memory>65536</memory><vcpu>1</vcpu>\
         <os><type>hvm</type></os></domain>"
    )
}
