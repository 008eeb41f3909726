//! The console stream over a real pty: bytes both ways, framed as STREAM messages on the call's
//! serial, the reply first, an empty OK packet to confirm the client's finish.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oxvirt_api::{Connect, DomainRef, DomainState, Driver, Result};
use oxvirt_rpc::protocol::*;
use oxvirt_rpc::xdr;
use oxvirt_rpc::{Header, Message, MessageType, Session, SessionConfig, Sink, Status};
use uuid::Uuid;

struct PtyDriver {
    dom: DomainRef,
    pty: String,
}

impl Driver for PtyDriver {
    fn kind(&self) -> &'static str {
        "PTY"
    }
    fn uri(&self) -> String {
        "pty:///".into()
    }
    fn lookup_domain_by_uuid(&self, _: &Uuid) -> Result<DomainRef> {
        Ok(self.dom.clone())
    }
    fn domain_state(&self, _: &DomainRef) -> Result<(DomainState, i32)> {
        Ok((DomainState::Running, 1))
    }
    fn domain_console_path(&self, _: &DomainRef, _: Option<&str>) -> Result<String> {
        Ok(self.pty.clone())
    }
}

/// (master, slave, slave path); the slave stays open while the test holds it, so the pty
/// does not hang up.
fn openpty() -> (OwnedFd, OwnedFd, String) {
    let pty = nix::pty::openpty(None, None).unwrap();
    let name = std::fs::read_link(format!("/proc/self/fd/{}", pty.slave.as_raw_fd())).unwrap().display().to_string();
    (pty.master, pty.slave, name)
}

#[test]
fn console_bytes_flow_both_ways() {
    let (master, _slave, pty) = openpty();
    let mut master = std::fs::File::from(master);
    let dom = DomainRef { name: "vm".into(), uuid: Uuid::new_v4(), id: 3 };
    let driver = Arc::new(PtyDriver { dom: dom.clone(), pty });
    let out: Arc<Mutex<Vec<Message>>> = Arc::default();
    let o = out.clone();
    let sink: Sink = Arc::new(move |m| {
        o.lock().unwrap().push(m);
        true
    });
    let s = Session::new(SessionConfig::default(), sink);
    // The session normally opens by URI; install the fake driver through the test hook.
    s.set_connection(Connect::from_driver(driver, false));
    let h = |mtype, status, serial| Header {
        prog: REMOTE_PROGRAM,
        vers: REMOTE_VERSION,
        proc_: procs::DOMAIN_OPEN_CONSOLE,
        mtype,
        serial,
        status,
    };
    let args = OpenConsoleArgs { dom: (&dom).into(), dev_name: None, flags: 0 };
    s.handle(Message { header: h(MessageType::Call, Status::Ok, 42), body: xdr::to_bytes(&args) });
    assert_eq!(out.lock().unwrap()[0].header, h(MessageType::Reply, Status::Ok, 42));

    // guest -> client
    master.write_all(b"login: ").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    while got != b"login: " {
        assert!(Instant::now() < deadline, "console output did not arrive: {got:?}");
        for m in out.lock().unwrap().drain(..) {
            if m.header == h(MessageType::Stream, Status::Continue, 42) {
                got.extend_from_slice(&m.body);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    // client -> guest
    s.handle(Message { header: h(MessageType::Stream, Status::Continue, 42), body: b"root\n".to_vec() });
    let mut buf = [0u8; 16];
    let n = master.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"root\n");

    // finish: confirmed by an empty OK packet
    s.handle(Message { header: h(MessageType::Stream, Status::Ok, 42), body: vec![] });
    let last = out.lock().unwrap().pop().unwrap();
    assert_eq!(last.header, h(MessageType::Stream, Status::Ok, 42));
    assert!(last.body.is_empty());
    s.close();
}
