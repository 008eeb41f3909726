//! The client against scripted fake QMP servers on a real unix socket.

use std::io::{BufRead, BufReader, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
use oxvirt_qmp::{Qmp, QmpError};
use proptest::prelude::*;
use serde_json::{json, Value};

const GREETING: &str = r#"{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": "fake"}, "capabilities": ["oob"]}}"#;
const T: Duration = Duration::from_secs(5);

/// The server side of one connection.
struct Peer {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Peer {
    fn new(stream: UnixStream) -> Peer {
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let writer = stream.try_clone().unwrap();
        Peer { reader: BufReader::new(stream), writer }
    }

    /// Reads one command; `None` when the client closed.
    fn recv(&mut self) -> Option<Value> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(serde_json::from_str(&line).expect("client sent invalid JSON")),
        }
    }

    fn send_raw(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).unwrap();
        self.writer.write_all(b"\r\n").unwrap();
    }

    fn send(&mut self, v: Value) {
        self.send_raw(&v.to_string());
    }

    fn reply(&mut self, cmd: &Value, ret: Value) {
        self.send(json!({"return": ret, "id": cmd["id"]}));
    }

    /// Greeting plus the capabilities negotiation every session starts with.
    fn handshake(&mut self) {
        self.send_raw(GREETING);
        let c = self.recv().expect("qmp_capabilities");
        assert_eq!(c["execute"], "qmp_capabilities");
        assert!(c.get("arguments").is_none());
        self.reply(&c, json!({}));
    }
}

struct Fake {
    path: PathBuf,
    _dir: tempfile::TempDir,
    handle: Option<JoinHandle<()>>,
}

impl Fake {
    fn start(script: impl FnOnce(Peer) + Send + 'static) -> Fake {
        Fake::start_raw(move |s| script(Peer::new(s)))
    }

    fn start_raw(script: impl FnOnce(UnixStream) + Send + 'static) -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qmp.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let handle = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            script(stream);
        });
        Fake { path, _dir: dir, handle: Some(handle) }
    }

    fn join(mut self) {
        if let Some(h) = self.handle.take() {
            h.join().expect("fake server panicked");
        }
    }
}

#[test]
fn handshake_and_command() {
    let fake = Fake::start(|mut p| {
        p.handshake();
        let c = p.recv().unwrap();
        assert_eq!(c["execute"], "query-status");
        p.reply(&c, json!({"status": "prelaunch", "running": false}));
        assert!(p.recv().is_none(), "client should close");
    });
    let mut q = Qmp::connect(&fake.path, T).unwrap();
    assert_eq!(q.version(), Some((10, 0, 2)));
    let r = q.execute("query-status", None).unwrap();
    assert_eq!(r["status"], "prelaunch");
    drop(q);
    fake.join();
}

#[test]
fn arguments_are_sent() {
    let fake = Fake::start(|mut p| {
        p.handshake();
        let c = p.recv().unwrap();
        assert_eq!(c["arguments"], json!({"implements": "device"}));
        p.reply(&c, json!([]));
    });
    let mut q = Qmp::connect(&fake.path, T).unwrap();
    q.execute("qom-list-types", Some(json!({"implements": "device"}))).unwrap();
    fake.join();
}

#[test]
fn late_reply_and_interleaved_events_are_sorted_out() {
    let fake = Fake::start(|mut p| {
        p.handshake();
        let slow = p.recv().unwrap(); // never answered in time
        let next = p.recv().unwrap();
        p.send(json!({"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}}));
        p.reply(&slow, json!("stale"));
        p.send(json!({"event": "X-FUTURE-EVENT", "data": {"weird": [1, 2]}}));
        p.send(json!({"something": "unknown", "id": 999}));
        p.reply(&next, json!("fresh"));
        p.send(json!({"event": "RESUME"}));
        let last = p.recv().unwrap();
        p.reply(&last, json!({}));
    });
    let mut q = Qmp::connect(&fake.path, T).unwrap();
    let err = q.execute_timeout("slow", None, Duration::from_millis(200)).unwrap_err();
    assert!(matches!(err, QmpError::Timeout { .. }), "{err:?}");
    assert_eq!(q.execute("next", None).unwrap(), json!("fresh"));
    let evs = q.take_events();
    let names: Vec<_> = evs.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["STOP", "X-FUTURE-EVENT"]);
    assert_eq!(evs[0].timestamp, Some((1, 2)));
    assert_eq!(evs[1].data["weird"], json!([1, 2]));
    // RESUME arrives after "fresh": picked up by the next read.
    q.execute("last", None).unwrap();
    assert_eq!(q.wait_event("RESUME", T).unwrap().name, "RESUME");
    assert!(q.take_events().is_empty());
    fake.join();
}

#[test]
fn error_reply_is_typed() {
    let fake = Fake::start(|mut p| {
        p.handshake();
        let c = p.recv().unwrap();
        p.send(json!({"error": {"class": "CommandNotFound", "desc": "The command bogus has not been found"}, "id": c["id"]}));
        // A reply without id (QEMU could not parse the command) belongs to the
        // command in flight.
        let _c = p.recv().unwrap();
        p.send(json!({"error": {"class": "GenericError", "desc": "JSON parse error"}}));
        let c = p.recv().unwrap();
        p.reply(&c, json!(1));
    });
    let mut q = Qmp::connect(&fake.path, T).unwrap();
    let err = q.execute("bogus", None).unwrap_err();
    match &err {
        QmpError::Command { cmd, class, desc } => {
            assert_eq!(cmd, "bogus");
            assert_eq!(class, "CommandNotFound");
            assert!(desc.contains("bogus"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(err.class(), Some("CommandNotFound"));
    let err = q.execute("x", None).unwrap_err();
    assert_eq!(err.class(), Some("GenericError"));
    // Still usable after errors.
    assert_eq!(q.execute("y", None).unwrap(), json!(1));
    fake.join();
}

#[test]
fn server_closing_mid_command_is_disconnected() {
    let fake = Fake::start(|mut p| {
        p.handshake();
        let _ = p.recv().unwrap();
        p.send(json!({"event": "SHUTDOWN", "data": {"guest": false}}));
        // drop: connection closes without a reply
    });
    let mut q = Qmp::connect(&fake.path, T).unwrap();
    let t0 = Instant::now();
    let err = q.execute("quit-ish", None).unwrap_err();
    assert!(matches!(err, QmpError::Disconnected { .. }), "{err:?}");
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert!(!q.is_connected());
    // The event sent before closing was kept.
    assert_eq!(q.take_events()[0].name, "SHUTDOWN");
    let err = q.execute("again", None).unwrap_err();
    assert!(matches!(err, QmpError::Disconnected { .. }), "{err:?}");
    let err = q.wait_event("STOP", T).unwrap_err();
    assert!(matches!(err, QmpError::Disconnected { .. }), "{err:?}");
    fake.join();
}

#[test]
fn silent_server_times_out() {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let fake = Fake::start(move |mut p| {
        p.handshake();
        let _ = p.recv();
        let _ = rx.recv_timeout(Duration::from_secs(10)); // hold the socket open
    });
    let mut q = Qmp::connect(&fake.path, T).unwrap();
    q.set_command_timeout(Duration::from_millis(300));
    let t0 = Instant::now();
    let err = q.execute("query-status", None).unwrap_err();
    let took = t0.elapsed();
    assert!(matches!(err, QmpError::Timeout { .. }), "{err:?}");
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(2), "{took:?}");
    let err = q.wait_event("NEVER", Duration::from_millis(100)).unwrap_err();
    assert!(matches!(err, QmpError::EventTimeout { .. }), "{err:?}");
    tx.send(()).unwrap();
    fake.join();
}

#[test]
fn no_greeting_times_out_and_garbage_greeting_fails() {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let fake = Fake::start_raw(move |_s| {
        let _ = rx.recv_timeout(Duration::from_secs(10));
    });
    let err = Qmp::connect(&fake.path, Duration::from_millis(200)).unwrap_err();
    assert!(matches!(err, QmpError::Greeting(_)), "{err:?}");
    tx.send(()).unwrap();
    fake.join();

    let fake = Fake::start_raw(|mut s| {
        s.write_all(b"SSH-2.0-OpenSSH\r\n").unwrap();
    });
    let err = Qmp::connect(&fake.path, T).unwrap_err();
    assert!(matches!(err, QmpError::Greeting(_)), "{err:?}");
    fake.join();

    let fake = Fake::start_raw(|_s| {});
    let err = Qmp::connect(&fake.path, T).unwrap_err();
    assert!(matches!(err, QmpError::Disconnected { .. }), "{err:?}");
    fake.join();

    let dir = tempfile::tempdir().unwrap();
    let err = Qmp::connect(dir.path().join("absent.sock"), T).unwrap_err();
    assert!(matches!(err, QmpError::Connect { .. }), "{err:?}");
}

#[test]
fn full_listen_backlog_does_not_hang_connect() {
    use nix::sys::socket::{bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.sock");
    let fd = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).unwrap();
    bind(fd.as_raw_fd(), &UnixAddr::new(&path).unwrap()).unwrap();
    listen(&fd, Backlog::new(0).unwrap()).unwrap(); // never accepts
    for _ in 0..4 {
        let t0 = Instant::now();
        let err = Qmp::connect(&path, Duration::from_millis(200)).unwrap_err();
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        assert!(matches!(err, QmpError::Greeting(_) | QmpError::Connect { .. }), "{err:?}");
    }
}

#[test]
fn wait_event_uses_queue_then_socket() {
    let fake = Fake::start(|mut p| {
        p.handshake();
        let c = p.recv().unwrap();
        p.send(json!({"event": "A"}));
        p.send(json!({"event": "B"}));
        p.reply(&c, json!({}));
        thread::sleep(Duration::from_millis(100));
        p.send(json!({"event": "C", "data": {"n": 3}}));
        let _ = p.recv();
    });
    let mut q = Qmp::connect(&fake.path, T).unwrap();
    q.execute("cont", None).unwrap();
    assert_eq!(q.wait_event("B", T).unwrap().name, "B");
    assert_eq!(q.wait_event("C", T).unwrap().data["n"], 3);
    let rest: Vec<_> = q.take_events().into_iter().map(|e| e.name).collect();
    assert_eq!(rest, ["A"]);
    drop(q);
    fake.join();
}

#[test]
fn large_reply_in_pieces() {
    let fake = Fake::start_raw(|s| {
        let mut p = Peer::new(s);
        p.handshake();
        let c = p.recv().unwrap();
        let big: Vec<Value> = (0..50_000).map(|i| json!({"name": format!("t{i}")})).collect();
        let text = json!({"return": big, "id": c["id"]}).to_string();
        for piece in text.as_bytes().chunks(7001) {
            p.writer.write_all(piece).unwrap();
        }
        p.writer.write_all(b"\n").unwrap();
    });
    let mut q = Qmp::connect(&fake.path, T).unwrap();
    let r = q.execute("qom-list-types", None).unwrap();
    assert_eq!(r.as_array().unwrap().len(), 50_000);
    fake.join();
}

#[test]
fn fd_is_passed_with_command() {
    let fake = Fake::start_raw(|s| {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut p = Peer::new(s.try_clone().unwrap());
        p.handshake();
        // Read the next command with recvmsg so the SCM_RIGHTS message is seen.
        let mut buf = vec![0u8; 4096];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let (n, fds) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = recvmsg::<UnixAddr>(s.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty()).unwrap();
            let mut fds = Vec::new();
            for c in msg.cmsgs().unwrap() {
                if let ControlMessageOwned::ScmRights(v) = c {
                    fds.extend(v);
                }
            }
            (msg.bytes, fds)
        };
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        let cmd: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(cmd["execute"], "getfd");
        assert_eq!(cmd["arguments"]["fdname"], "disk0");
        assert_eq!(fds.len(), 1);
        // SAFETY: the descriptor was just received via SCM_RIGHTS and is owned by nobody else.
        let mut f = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fds[0]) });
        let mut content = String::new();
        f.read_to_string(&mut content).unwrap();
        assert_eq!(content, "passed through");
        p.reply(&cmd, json!({}));
    });
    let dir = tempfile::tempdir().unwrap();
    let file_path = dir.path().join("payload");
    std::fs::write(&file_path, "passed through").unwrap();
    let file = std::fs::File::open(&file_path).unwrap();
    let mut q = Qmp::connect(&fake.path, T).unwrap();
    use std::os::fd::AsFd;
    q.execute_with_fd("getfd", Some(json!({"fdname": "disk0"})), file.as_fd()).unwrap();
    fake.join();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever follows the handshake, the client returns (Ok or Err) without panicking,
    /// and does so promptly because the server closes afterwards.
    #[test]
    fn client_survives_arbitrary_bytes(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..8)) {
        let fake = Fake::start(move |mut p| {
            p.handshake();
            let _ = p.recv();
            for c in &chunks {
                if p.writer.write_all(c).is_err() {
                    break;
                }
            }
        });
        let mut q = Qmp::connect(&fake.path, T).unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            let _ = q.execute("query-status", None);
            let _ = q.take_events();
        }
        prop_assert!(t0.elapsed() < Duration::from_secs(4));
        fake.join();
    }

    /// Arbitrary JSON-ish lines mixed with valid replies: the matching reply still wins.
    #[test]
    fn arbitrary_lines_before_reply(lines in prop::collection::vec("[ -~]{0,60}", 0..10)) {
        let fake = Fake::start(move |mut p| {
            p.handshake();
            let c = p.recv().unwrap();
            for l in &lines {
                // Only lines that are not themselves a reply with our id.
                if !l.contains("\"id\"") && !l.contains("\"return\"") && !l.contains("\"error\"") {
                    p.send_raw(l);
                }
            }
            p.reply(&c, json!("ok"));
            let _ = p.recv();
        });
        let mut q = Qmp::connect(&fake.path, T).unwrap();
        // Garbage lines are skipped; the matching reply still arrives.
        let got = q.execute_timeout("x", None, Duration::from_secs(3));
        prop_assert_eq!(got.ok(), Some(json!("ok")));
        drop(q);
        fake.join();
    }
}
