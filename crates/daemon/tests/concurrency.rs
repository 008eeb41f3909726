//! Many clients at once: 50 connections doing 1000 mixed calls each through the wire protocol
//! finish without an error, and every domain they defined is there afterwards.

mod common;

use std::time::{Duration, Instant};

use common::Daemon;
use oxvirt_rpc::client::Client;
use oxvirt_rpc::protocol::*;
use uuid::Uuid;

const CLIENTS: usize = 50;
const CALLS: usize = 1000;
const DOMAINS_PER_CLIENT: usize = 10;

fn xml(name: &str, uuid: Uuid) -> String {
    format!(
        "<domain type='test'><name>{name}</name><uuid>{uuid}</uuid><memory>65536</memory><vcpu>1</vcpu>\
         <os><type>hvm</type></os></domain>"
    )
}

fn worker(sock: std::path::PathBuf, i: usize) -> Result<usize, String> {
    let mut c = Client::connect(&sock, Duration::from_secs(60)).map_err(|e| e.to_string())?;
    let err = |what: &str, e: oxvirt_rpc::client::ClientError| format!("client {i} {what}: {e}");
    c.open("test:///default", 0).map_err(|e| err("open", e))?;
    let mut mine: Vec<NonnullDomain> = Vec::new();
    let mut calls = 1;
    for n in 0..CALLS - 1 {
        // Define a new domain every so often until each client has its share.
        if n % (CALLS / DOMAINS_PER_CLIENT) == 0 && mine.len() < DOMAINS_PER_CLIENT {
            let name = format!("c{i}-d{}", mine.len());
            let r: DomRet = c
                .call(procs::DOMAIN_DEFINE_XML, &StringArgs { s: xml(&name, Uuid::new_v4()) })
                .map_err(|e| err("define", e))?;
            mine.push(r.dom);
            calls += 1;
            continue;
        }
        let Some(d) = mine.get(n % mine.len().max(1)).cloned() else { continue };
        match n % 10 {
            0 => {
                let r: DomRet = c
                    .call(procs::DOMAIN_LOOKUP_BY_NAME, &StringArgs { s: d.name.clone() })
                    .map_err(|e| err("lookup", e))?;
                if r.dom.uuid != d.uuid {
                    return Err(format!("client {i}: lookup of {} gave another uuid", d.name));
                }
            }
            1 => {
                let _: DomainGetStateRet =
                    c.call(procs::DOMAIN_GET_STATE, &DomFlagsArgs { dom: d, flags: 0 }).map_err(|e| err("state", e))?;
            }
            2 => {
                let r: StringRet = c
                    .call(procs::DOMAIN_GET_XML_DESC, &DomFlagsArgs { dom: d.clone(), flags: 0 })
                    .map_err(|e| err("xml", e))?;
                if !r.s.contains(&d.name) {
                    return Err(format!("client {i}: XML of {} lacks its name", d.name));
                }
            }
            3 => {
                let r: DomRet = c
                    .call(procs::DOMAIN_CREATE_WITH_FLAGS, &DomFlagsArgs { dom: d, flags: 0 })
                    .map_err(|e| err("start", e))?;
                let _: () = c.call(procs::DOMAIN_DESTROY, &DomArgs { dom: r.dom }).map_err(|e| err("destroy", e))?;
                calls += 1;
            }
            4 => {
                let _: ListAllDomainsRet = c
                    .call(procs::CONNECT_LIST_ALL_DOMAINS, &ListAllArgs { need_results: 1, flags: 0 })
                    .map_err(|e| err("list", e))?;
            }
            5 => {
                let _: DomainGetInfoRet =
                    c.call(procs::DOMAIN_GET_INFO, &DomArgs { dom: d }).map_err(|e| err("info", e))?;
            }
            6 => {
                let _: NodeGetInfoRet = c.call(procs::NODE_GET_INFO, &()).map_err(|e| err("nodeinfo", e))?;
            }
            7 => {
                let _: NetRet = c
                    .call(procs::NETWORK_LOOKUP_BY_NAME, &StringArgs { s: "default".into() })
                    .map_err(|e| err("net", e))?;
            }
            8 => {
                let _: IntRet =
                    c.call(procs::DOMAIN_IS_PERSISTENT, &DomArgs { dom: d }).map_err(|e| err("persistent", e))?;
            }
            _ => {
                let _: StringRet = c.call(procs::CONNECT_GET_HOSTNAME, &()).map_err(|e| err("hostname", e))?;
            }
        }
        calls += 1;
    }
    if mine.len() != DOMAINS_PER_CLIENT {
        return Err(format!("client {i} defined {} domains", mine.len()));
    }
    let _: () = c.call(procs::CONNECT_CLOSE, &()).map_err(|e| err("close", e))?;
    Ok(calls)
}

#[test]
fn fifty_clients_thousand_calls_each() {
    let d = Daemon::start();
    // Keeps test:///default's shared state alive for the whole test, as libvirt does.
    let mut holder = Client::connect(&d.sock(), Duration::from_secs(60)).unwrap();
    holder.open("test:///default", 0).unwrap();
    let t0 = Instant::now();
    let handles: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let sock = d.sock();
            std::thread::spawn(move || worker(sock, i))
        })
        .collect();
    let mut total = 0;
    let mut errors = Vec::new();
    for h in handles {
        match h.join() {
            Ok(Ok(n)) => total += n,
            Ok(Err(e)) => errors.push(e),
            Err(_) => errors.push("client thread panicked".into()),
        }
    }
    let elapsed = t0.elapsed();
    assert!(errors.is_empty(), "{} clients failed, first: {}\nlog tail:\n{}", errors.len(), errors[0], tail(&d.log()));
    eprintln!(
        "{total} calls from {CLIENTS} clients in {elapsed:?} ({:.0} calls/s)",
        total as f64 / elapsed.as_secs_f64()
    );
    let all: ListAllDomainsRet =
        holder.call(procs::CONNECT_LIST_ALL_DOMAINS, &ListAllArgs { need_results: 1, flags: 0 }).unwrap();
    let names: std::collections::HashSet<String> = all.domains.0.iter().map(|d| d.name.clone()).collect();
    for i in 0..CLIENTS {
        for j in 0..DOMAINS_PER_CLIENT {
            assert!(names.contains(&format!("c{i}-d{j}")), "definition c{i}-d{j} lost");
        }
    }
    assert_eq!(all.ret as usize, 1 + CLIENTS * DOMAINS_PER_CLIENT);
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
