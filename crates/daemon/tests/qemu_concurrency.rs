//! The QEMU driver behind oxvirtd under concurrent clients: while a start of one guest cannot go on
//! (its domain's lock held by "another process"), 25 wire clients doing mixed queries over every
//! domain — the held one included — all finish without an error and without waiting for it, and
//! other guests start and stop. (Load figures: `cargo bench -p oxvirt-daemon --bench concurrency`.)

mod common;
#[path = "../../driver-qemu/tests/common/mod.rs"]
mod guest;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Daemon;
use oxvirt_driver_qemu::fsutil::FileLock;
use oxvirt_driver_qemu::Layout;
use oxvirt_rpc::client::Client;
use oxvirt_rpc::protocol::*;

const CLIENTS: usize = 25;
const CALLS: usize = 40;
/// Far below the 60 s a query would wait if it queued behind the held start.
const QUERY_BOUND: Duration = Duration::from_secs(10);
const SHUTOFF: i32 = 5;
const RUNNING: i32 = 1;

fn client(sock: &std::path::Path, uri: &str) -> Client {
    let mut c = Client::connect(sock, Duration::from_secs(120)).expect("connect");
    c.open(uri, 0).expect("open");
    c
}

fn lookup(c: &mut Client, name: &str) -> NonnullDomain {
    c.call::<_, DomRet>(procs::DOMAIN_LOOKUP_BY_NAME, &StringArgs { s: name.into() }).expect("lookup").dom
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn a_held_start_starves_no_wire_client() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    let uri = format!("qemu:///embed?root={}", root.display());
    let d = Daemon::start_opts(&[], &uri, tempfile::tempdir().unwrap());
    let sock = d.sock();
    let names = ["held", "a", "b"];
    let mut c = client(&sock, &uri);
    for n in names {
        let _: DomRet =
            c.call(procs::DOMAIN_DEFINE_XML, &StringArgs { s: guest::guest_xml(n, "shell", None) }).expect("define");
    }
    let a = lookup(&mut c, "a");
    let _: DomRet =
        c.call(procs::DOMAIN_CREATE_WITH_FLAGS, &DomFlagsArgs { dom: a.clone(), flags: 0 }).expect("start a");

    let lock = Layout::embed(&root).domain_lock_file("held").unwrap();
    let outside = FileLock::acquire(&lock, Duration::from_secs(5)).unwrap();
    let started = Arc::new(AtomicBool::new(false));
    let starter = {
        let (sock, uri, started) = (sock.clone(), uri.clone(), started.clone());
        std::thread::spawn(move || {
            let mut c = client(&sock, &uri);
            let dom = lookup(&mut c, "held");
            let r = c.call::<_, DomRet>(procs::DOMAIN_CREATE_WITH_FLAGS, &DomFlagsArgs { dom, flags: 0 });
            started.store(true, Ordering::SeqCst);
            r.map(|_| ()).map_err(|e| e.to_string())
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(!started.load(Ordering::SeqCst), "the start did not wait for the held lock\n{}", d.log());

    let workers: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (sock, uri): (PathBuf, String) = (sock.clone(), uri.clone());
            std::thread::spawn(move || -> Result<(), String> {
                let mut c = client(&sock, &uri);
                for k in 0..CALLS {
                    let name = names[(i + k) % names.len()];
                    let err = |what: &str, e: oxvirt_rpc::client::ClientError| format!("{what} {name}: {e}");
                    let t = Instant::now();
                    let dom = c
                        .call::<_, DomRet>(procs::DOMAIN_LOOKUP_BY_NAME, &StringArgs { s: name.into() })
                        .map_err(|e| err("lookup", e))?
                        .dom;
                    match k % 4 {
                        0 => {
                            let info = c
                                .call::<_, DomainGetInfoRet>(procs::DOMAIN_GET_INFO, &DomArgs { dom })
                                .map_err(|e| err("dominfo", e))?;
                            if info.max_mem != 256 * 1024 {
                                return Err(format!("dominfo {name}: max memory {}", info.max_mem));
                            }
                        }
                        1 => {
                            let x = c
                                .call::<_, StringRet>(procs::DOMAIN_GET_XML_DESC, &DomFlagsArgs { dom, flags: 0 })
                                .map_err(|e| err("dumpxml", e))?;
                            if !x.s.contains(&format!("<name>{name}</name>")) {
                                return Err(format!("dumpxml {name}: wrong document"));
                            }
                        }
                        2 => {
                            let s = c
                                .call::<_, DomainGetStateRet>(procs::DOMAIN_GET_STATE, &DomFlagsArgs { dom, flags: 0 })
                                .map_err(|e| err("domstate", e))?;
                            if name == "held" && s.state != SHUTOFF {
                                return Err(format!("'held' reads state {} while its start waits", s.state));
                            }
                        }
                        _ => {
                            let l = c
                                .call::<_, ListAllDomainsRet>(
                                    procs::CONNECT_LIST_ALL_DOMAINS,
                                    &ListAllArgs { need_results: 1, flags: 0 },
                                )
                                .map_err(|e| err("list", e))?;
                            if l.domains.0.len() != names.len() {
                                return Err(format!("list --all gave {} domains", l.domains.0.len()));
                            }
                        }
                    }
                    if t.elapsed() > QUERY_BOUND {
                        return Err(format!("queries of {name} took {:?}", t.elapsed()));
                    }
                }
                Ok(())
            })
        })
        .collect();
    let errors: Vec<String> = workers.into_iter().filter_map(|w| w.join().unwrap().err()).collect();
    assert!(errors.is_empty(), "{errors:?}\n{}", d.log());

    // Another guest starts and stops meanwhile.
    let b = lookup(&mut c, "b");
    let b =
        c.call::<_, DomRet>(procs::DOMAIN_CREATE_WITH_FLAGS, &DomFlagsArgs { dom: b, flags: 0 }).expect("start b").dom;
    let _: () = c.call(procs::DOMAIN_DESTROY, &DomArgs { dom: b }).expect("destroy b");
    assert!(!started.load(Ordering::SeqCst), "the start of 'held' went on while its lock was held");

    drop(outside);
    starter.join().unwrap().expect("the start of 'held' once its lock was given back");
    let held = lookup(&mut c, "held");
    let s: DomainGetStateRet = c.call(procs::DOMAIN_GET_STATE, &DomFlagsArgs { dom: held.clone(), flags: 0 }).unwrap();
    assert_eq!(s.state, RUNNING);
    for dom in [held, lookup(&mut c, "a")] {
        let _: () = c.call(procs::DOMAIN_DESTROY, &DomArgs { dom }).expect("destroy");
    }
}
