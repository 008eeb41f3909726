//! Wire-level behaviour that virsh does not exercise: keepalive, limits, malformed input.

mod common;

use std::time::{Duration, Instant};

use common::Daemon;
use oxvirt_rpc::client::{Client, ClientError};
use oxvirt_rpc::protocol::*;
use oxvirt_rpc::server::keepalive_message;

fn keepalive_client(d: &Daemon) -> Client {
    let mut c = Client::connect(&d.sock(), Duration::from_secs(30)).unwrap();
    let r: SupportsFeatureRet =
        c.call(procs::CONNECT_SUPPORTS_FEATURE, &IntArgs { value: feature::PROGRAM_KEEPALIVE }).unwrap();
    assert_eq!(r.supported, 1);
    c
}

#[test]
fn silent_keepalive_client_is_pinged_then_dropped() {
    let d = Daemon::start_with(&["keepalive_interval = 1", "keepalive_count = 2"]);
    let mut c = keepalive_client(&d);
    let t0 = Instant::now();
    let mut pings = 0;
    loop {
        match c.read_raw_message() {
            Ok(Some(m)) if m.header.prog == KEEPALIVE_PROGRAM && m.header.proc_ == KEEPALIVE_PING => pings += 1,
            Ok(Some(m)) => panic!("unexpected message {:?}", m.header),
            Ok(None) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(pings, 2);
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert!(d.log().contains("no keepalive answer"), "{}", d.log());
}

#[test]
fn answering_keepalive_client_stays() {
    let d = Daemon::start_with(&["keepalive_interval = 1", "keepalive_count = 1"]);
    let mut c = keepalive_client(&d);
    c.open("test:///default", 0).unwrap();
    let t0 = Instant::now();
    let mut pongs = 0;
    while t0.elapsed() < Duration::from_secs(4) {
        let m = c.read_raw_message().unwrap().expect("connection kept");
        if m.header.prog == KEEPALIVE_PROGRAM && m.header.proc_ == KEEPALIVE_PING {
            c.send_raw(&keepalive_message(KEEPALIVE_PONG).to_frame()).unwrap();
            pongs += 1;
        }
    }
    assert!(pongs >= 2);
    let r: StringRet = c.call(procs::CONNECT_GET_TYPE, &()).unwrap();
    assert_eq!(r.s, "TEST");
}

#[test]
fn client_without_keepalive_is_not_pinged_and_server_answers_pings() {
    let d = Daemon::start_with(&["keepalive_interval = 1"]);
    let mut c = Client::connect(&d.sock(), Duration::from_secs(3)).unwrap();
    c.send_raw(&keepalive_message(KEEPALIVE_PING).to_frame()).unwrap();
    let m = c.read_raw_message().unwrap().unwrap();
    assert_eq!((m.header.prog, m.header.proc_), (KEEPALIVE_PROGRAM, KEEPALIVE_PONG));
    // Nothing else arrives: the read times out rather than seeing a ping or EOF.
    assert!(matches!(c.read_raw_message(), Err(ClientError::Receive(_))));
}

#[test]
fn oversized_and_garbage_frames_drop_only_that_client() {
    let d = Daemon::start_with(&["max_message_size = 65536"]);
    let mut good = Client::connect(&d.sock(), Duration::from_secs(10)).unwrap();
    good.open("test:///default", 0).unwrap();

    let mut big = Client::connect(&d.sock(), Duration::from_secs(10)).unwrap();
    big.send_raw(&(1u32 << 20).to_be_bytes()).unwrap();
    assert!(matches!(big.read_raw_message(), Ok(None) | Err(_)));

    let mut junk = Client::connect(&d.sock(), Duration::from_secs(10)).unwrap();
    let mut frame = vec![0, 0, 0, 40];
    frame.extend_from_slice(&[0xff; 36]);
    junk.send_raw(&frame).unwrap();
    assert!(matches!(junk.read_raw_message(), Ok(None) | Err(_)));

    // A call before open, and an unknown program, are answered with errors.
    let mut early = Client::connect(&d.sock(), Duration::from_secs(10)).unwrap();
    match early.call::<(), StringRet>(procs::CONNECT_GET_TYPE, &()) {
        Err(ClientError::Remote(e)) => assert!(e.message.contains("connection not open"), "{e}"),
        other => panic!("{other:?}"),
    }
    let r: IntRet = good.call(procs::CONNECT_NUM_OF_DOMAINS, &()).unwrap();
    assert_eq!(r.value, 1);
    assert!(d.log().contains("protocol error"), "{}", d.log());
}
