//! Per-domain locking: a start that cannot go on (its domain's lock held by "another process")
//! holds up nothing else — queries of every domain, including the one being started, answer at
//! once, other domains start and stop — and 25 threads of mixed calls all finish without an error.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use oxvirt_api::{Connect, DomainState};
use oxvirt_driver_qemu::fsutil::FileLock;
use oxvirt_driver_qemu::Layout;

const THREADS: usize = 25;
const CALLS: usize = 40;
/// A query must never wait for a state change (that would be the whole LOCK_TIMEOUT, 60 s, here);
/// it may wait for a booting guest's QEMU to answer QMP on a loaded 2-core CI machine.
const QUERY_BOUND: Duration = Duration::from_secs(10);

fn embed(root: &std::path::Path) -> Connect {
    oxvirt_driver_qemu::register();
    Connect::open(Some(&format!("qemu:///embed?root={}", root.display()))).expect("open embed")
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn a_held_start_starves_no_query_and_no_other_domain() {
    let root = tempfile::tempdir().unwrap();
    let conn = embed(root.path());
    let names = ["held", "a", "b", "c"];
    for n in names {
        conn.define_domain(&guest_xml(n, "shell", None), 0).unwrap();
    }
    let mut a = conn.lookup_domain_by_name("a").unwrap();
    a.create(oxvirt_api::DomainCreateFlags::empty()).unwrap();

    // Another process is in the middle of changing "held": its lock file is taken.
    let lock = Layout::embed(root.path()).domain_lock_file("held").unwrap();
    let outside = FileLock::acquire(&lock, Duration::from_secs(5)).unwrap();
    let started = Arc::new(AtomicBool::new(false));
    let starter = {
        let (root, started) = (root.path().to_path_buf(), started.clone());
        std::thread::spawn(move || {
            let mut d = embed(&root).lookup_domain_by_name("held").unwrap();
            let r = d.create(oxvirt_api::DomainCreateFlags::empty());
            started.store(true, Ordering::SeqCst);
            r
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(!started.load(Ordering::SeqCst), "the start did not wait for the held lock");

    // 25 threads of mixed queries over all domains, "held" included, each answered within the bound.
    let slowest = Arc::new(Mutex::new(Duration::ZERO));
    let t0 = Instant::now();
    let workers: Vec<_> = (0..THREADS)
        .map(|i| {
            let (root, slowest) = (root.path().to_path_buf(), slowest.clone());
            std::thread::spawn(move || -> Result<(), String> {
                let c = embed(&root);
                for k in 0..CALLS {
                    let name = names[(i + k) % names.len()];
                    let t = Instant::now();
                    let d = c.lookup_domain_by_name(name).map_err(|e| format!("lookup {name}: {e}"))?;
                    match k % 5 {
                        0 => drop(d.info().map_err(|e| format!("dominfo {name}: {e}"))?),
                        1 => {
                            let x = d
                                .xml_desc(oxvirt_api::DomainXmlFlags::empty())
                                .map_err(|e| format!("dumpxml {name}: {e}"))?;
                            if !x.contains(&format!("<name>{name}</name>")) {
                                return Err(format!("dumpxml {name}: wrong document"));
                            }
                        }
                        2 => {
                            let (st, _) = d.state().map_err(|e| format!("domstate {name}: {e}"))?;
                            if name == "held" && st != DomainState::Shutoff {
                                return Err(format!("'held' reads {st:?} while its start waits"));
                            }
                        }
                        3 => drop(
                            c.lookup_domain_by_uuid(&d.uuid()).map_err(|e| format!("lookup by uuid {name}: {e}"))?,
                        ),
                        _ => {
                            let all = c
                                .list_all_domains(oxvirt_api::ConnectListAllDomainsFlags::empty())
                                .map_err(|e| format!("list: {e}"))?;
                            if all.len() != names.len() {
                                return Err(format!("list --all gave {} domains", all.len()));
                            }
                        }
                    }
                    let took = t.elapsed();
                    let mut s = slowest.lock().unwrap();
                    *s = (*s).max(took);
                    if took > QUERY_BOUND {
                        return Err(format!("a query of {name} took {took:?}"));
                    }
                }
                Ok(())
            })
        })
        .collect();
    let errors: Vec<String> = workers.into_iter().filter_map(|w| w.join().unwrap().err()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    eprintln!("{} queries in {:?}, slowest {:?}", THREADS * CALLS * 2, t0.elapsed(), slowest.lock().unwrap());

    // State changes of other domains go on too.
    let mut b = conn.lookup_domain_by_name("b").unwrap();
    b.create(oxvirt_api::DomainCreateFlags::empty()).unwrap();
    b.destroy(0).unwrap();
    a.destroy(0).unwrap();
    assert!(!started.load(Ordering::SeqCst), "the start of 'held' went on while its lock was held");

    // Let go: the waiting start proceeds.
    drop(outside);
    starter.join().unwrap().expect("the start of 'held' after the lock was given back");
    let held = conn.lookup_domain_by_name("held").unwrap();
    assert_eq!(held.state().unwrap().0, DomainState::Running);
    held.destroy(0).unwrap();
}

/// Lookups by UUID go to the name a UUID was last seen under first: never to the wrong domain
/// when names and UUIDs have moved since.
#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn lookup_by_uuid_follows_moved_names() {
    let root = tempfile::tempdir().unwrap();
    let conn = embed(root.path());
    let with_uuid = |name: &str, uuid: &str| {
        guest_xml(name, "shell", None).replace("<name>", &format!("<uuid>{uuid}</uuid><name>"))
    };
    let (u1, u2) = ("11111111-2222-3333-4444-555555555555", "66666666-7777-8888-9999-aaaaaaaaaaaa");
    let u = |s: &str| s.parse::<uuid::Uuid>().unwrap();
    conn.define_domain(&with_uuid("a", u1), 0).unwrap();
    conn.define_domain(&with_uuid("z", u2), 0).unwrap();
    assert_eq!(conn.list_all_domains(oxvirt_api::ConnectListAllDomainsFlags::empty()).unwrap().len(), 2);
    assert_eq!(conn.lookup_domain_by_uuid(&u(u1)).unwrap().name(), "a");
    // "a" goes; its UUID comes back as "b", and "a" comes back with z's (z gone too)
    conn.lookup_domain_by_name("a").unwrap().undefine(oxvirt_api::DomainUndefineFlags::empty()).unwrap();
    conn.lookup_domain_by_name("z").unwrap().undefine(oxvirt_api::DomainUndefineFlags::empty()).unwrap();
    let z_lock = Layout::embed(root.path()).domain_lock_file("z").unwrap();
    assert!(!z_lock.exists(), "the lock file of an undefined name is deleted");
    conn.define_domain(&with_uuid("b", u1), 0).unwrap();
    conn.define_domain(&with_uuid("a", u2), 0).unwrap();
    assert_eq!(conn.lookup_domain_by_uuid(&u(u1)).unwrap().name(), "b");
    assert_eq!(conn.lookup_domain_by_uuid(&u(u2)).unwrap().name(), "a");
    conn.lookup_domain_by_name("b").unwrap().undefine(oxvirt_api::DomainUndefineFlags::empty()).unwrap();
    assert!(conn.lookup_domain_by_uuid(&u(u1)).is_err());
}
