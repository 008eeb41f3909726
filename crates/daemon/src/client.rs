//! One client connection: a reading thread (framing, keepalive, idle timeout), a writing thread
//! (bounded queue, write timeout) and up to `max_client_requests` worker threads for calls.
//! A slow or stuck client only ever blocks its own threads.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, TrySendError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use oxvirt_rpc::message::split_frame;
use oxvirt_rpc::protocol::{proc_name, KEEPALIVE_PING};
use oxvirt_rpc::server::keepalive_message;
use oxvirt_rpc::{Message, Session, SessionConfig, Sink};

use crate::config::Config;

/// How often the reading thread wakes to check timers when the client is quiet.
const TICK: Duration = Duration::from_millis(500);

/// Calls in flight for one client, bounded.
struct Inflight {
    n: Mutex<usize>,
    cv: Condvar,
}

impl Inflight {
    fn acquire(&self, max: usize) {
        let mut n = self.n.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= max {
            n = self.cv.wait(n).unwrap_or_else(|e| e.into_inner());
        }
        *n += 1;
    }
    fn release(&self) {
        *self.n.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        self.cv.notify_one();
    }
}

/// Worker threads of one client, started as calls need them, up to the limit.
struct Workers {
    tx: mpsc::Sender<Message>,
    rx: Arc<Mutex<Receiver<Message>>>,
    started: usize,
    idle: Arc<AtomicUsize>,
}

pub struct ClientInfo {
    pub id: u64,
    pub readonly: bool,
    /// Unix clients' credentials; `u32::MAX`/`-1` over TCP.
    pub uid: u32,
    pub pid: i32,
    /// Where the client is: `unix`, a TCP address, or a TLS address with the certificate's DN.
    pub peer: String,
}

/// A connected client's byte stream, used by one reading and one writing thread at once.
/// Reads time out after the read timeout (then `WouldBlock`/`TimedOut`), writes after the
/// write timeout, as set by [`set_timeouts`](Transport::set_timeouts).
pub trait Transport: Send + Sync {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize>;
    fn write_all(&self, buf: &[u8]) -> io::Result<()>;
    fn set_timeouts(&self, read: Duration, write: Duration) -> io::Result<()>;
    /// Ends the connection; blocked reads and writes return.
    fn shutdown(&self);
}

impl Transport for UnixStream {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        Read::read(&mut &*self, buf)
    }
    fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        Write::write_all(&mut &*self, buf)
    }
    fn set_timeouts(&self, read: Duration, write: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(read))?;
        self.set_write_timeout(Some(write))
    }
    fn shutdown(&self) {
        let _ = UnixStream::shutdown(self, std::net::Shutdown::Both);
    }
}

impl Transport for TcpStream {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        Read::read(&mut &*self, buf)
    }
    fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        Write::write_all(&mut &*self, buf)
    }
    fn set_timeouts(&self, read: Duration, write: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(read))?;
        self.set_write_timeout(Some(write))
    }
    fn shutdown(&self) {
        let _ = TcpStream::shutdown(self, std::net::Shutdown::Both);
    }
}

impl Transport for oxvirt_rpc::tls::TlsStream {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        Read::read(&mut &*self, buf)
    }
    fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        Write::write_all(&mut &*self, buf)
    }
    fn set_timeouts(&self, read: Duration, write: Duration) -> io::Result<()> {
        self.socket().set_read_timeout(Some(read))?;
        self.socket().set_write_timeout(Some(write))
    }
    fn shutdown(&self) {
        oxvirt_rpc::tls::TlsStream::shutdown(self)
    }
}

/// Serves one client until it disconnects, breaks the protocol, or stops answering.
pub fn serve(sock: Arc<dyn Transport>, info: ClientInfo, cfg: Arc<Config>) {
    let id = info.id;
    let span = tracing::info_span!("client", id, uid = info.uid, pid = info.pid, ro = info.readonly, peer = %info.peer);
    let _g = span.enter();
    tracing::info!("client connected");
    if let Err(e) = sock.set_timeouts(TICK, cfg.write_timeout) {
        tracing::warn!(error = %e, "cannot set client socket timeouts");
        return;
    }
    let writer_sock = sock.clone();
    let (tx, rx) = mpsc::sync_channel::<Message>(cfg.max_queued_messages);
    let dead = Arc::new(AtomicBool::new(false));
    let writer = {
        let dead = dead.clone();
        let span = span.clone();
        std::thread::Builder::new().name(format!("client-{id}-tx")).spawn(move || {
            let _g = span.enter();
            write_loop(writer_sock, rx, &dead)
        })
    };
    let writer = match writer {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start writer thread");
            return;
        }
    };
    let sink: Sink = {
        let tx = tx.clone();
        let dead = dead.clone();
        let shut = sock.clone();
        Arc::new(move |m: Message| {
            if dead.load(Ordering::Relaxed) {
                return false;
            }
            match tx.try_send(m) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    tracing::warn!("client does not read its messages; disconnecting it");
                    dead.store(true, Ordering::Relaxed);
                    shut.shutdown();
                    false
                }
                Err(TrySendError::Disconnected(_)) => false,
            }
        })
    };
    let session = Arc::new(Session::new(
        SessionConfig { readonly: info.readonly, default_uri: cfg.default_uri.clone() },
        sink.clone(),
    ));
    let reason = read_loop(&*sock, &session, &sink, &cfg, &span, &dead);
    tracing::info!(reason = %reason, "client disconnected");
    dead.store(true, Ordering::Relaxed);
    sock.shutdown();
    session.close();
    drop(sink);
    drop(tx);
    let _ = writer.join();
}

fn write_loop(sock: Arc<dyn Transport>, rx: Receiver<Message>, dead: &AtomicBool) {
    let mut buf = Vec::new();
    while let Ok(m) = rx.recv() {
        buf.clear();
        buf.extend_from_slice(&m.to_frame());
        // Coalesce what is already queued into one write.
        while buf.len() < 256 * 1024 {
            match rx.try_recv() {
                Ok(m) => buf.extend_from_slice(&m.to_frame()),
                Err(_) => break,
            }
        }
        if let Err(e) = sock.write_all(&buf) {
            tracing::info!(error = %e, "cannot write to client; disconnecting it");
            dead.store(true, Ordering::Relaxed);
            sock.shutdown();
            return;
        }
    }
}

fn read_loop(
    sock: &dyn Transport,
    session: &Arc<Session>,
    sink: &Sink,
    cfg: &Config,
    span: &tracing::Span,
    dead: &AtomicBool,
) -> String {
    let inflight = Arc::new(Inflight { n: Mutex::new(0), cv: Condvar::new() });
    let (wtx, wrx) = mpsc::channel::<Message>();
    let mut workers = Workers { tx: wtx, rx: Arc::new(Mutex::new(wrx)), started: 0, idle: Arc::new(AtomicUsize::new(0)) };
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut last_rx = Instant::now();
    let mut pings_unanswered = 0u32;
    let mut last_ping = Instant::now();
    loop {
        if dead.load(Ordering::Relaxed) {
            return "connection dropped".into();
        }
        match sock.read(&mut chunk) {
            Ok(0) => return "end of stream".into(),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                last_rx = Instant::now();
                pings_unanswered = 0;
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted) => {}
            Err(e) => return format!("read error: {e}"),
        }
        let mut used = 0;
        loop {
            match split_frame(&buf[used..], cfg.max_message_size) {
                Ok(Some((msg, len))) => {
                    used += len;
                    tracing::trace!(proc = proc_name(msg.header.proc_), serial = msg.header.serial, "message");
                    if Session::is_slow(&msg) {
                        inflight.acquire(cfg.max_client_requests);
                        submit(&mut workers, msg, session, &inflight, cfg.max_client_requests, span);
                    } else {
                        session.handle(msg);
                    }
                }
                Ok(None) => break,
                Err(e) => return format!("protocol error: {e}"),
            }
        }
        if used > 0 {
            buf.drain(..used);
        }
        // Keepalive: ping a quiet client that asked for it; drop it when it stops answering.
        let quiet = last_rx.elapsed();
        if cfg.keepalive_interval > 0 && session.keepalive_requested() {
            let interval = Duration::from_secs(cfg.keepalive_interval);
            if quiet >= interval && last_ping.elapsed() >= interval {
                if pings_unanswered >= cfg.keepalive_count {
                    return format!("no keepalive answer for {}s", quiet.as_secs());
                }
                sink(keepalive_message(KEEPALIVE_PING));
                pings_unanswered += 1;
                last_ping = Instant::now();
            }
        }
        if cfg.client_idle_timeout > 0 && quiet >= Duration::from_secs(cfg.client_idle_timeout) {
            return "idle timeout".into();
        }
    }
}

fn submit(w: &mut Workers, msg: Message, session: &Arc<Session>, inflight: &Arc<Inflight>, max: usize, span: &tracing::Span) {
    if w.idle.load(Ordering::Acquire) == 0 && w.started < max {
        let rx = w.rx.clone();
        let idle = w.idle.clone();
        let (session2, inflight2) = (session.clone(), inflight.clone());
        let span = span.clone();
        // Counted idle before it exists, so a quick first receive cannot underflow the count.
        w.idle.fetch_add(1, Ordering::AcqRel);
        let spawned = std::thread::Builder::new().name("client-call".into()).spawn(move || {
            let _g = span.enter();
            loop {
                let next = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                let Ok(m) = next else { return };
                idle.fetch_sub(1, Ordering::AcqRel);
                session2.handle(m);
                inflight2.release();
                idle.fetch_add(1, Ordering::AcqRel);
            }
        });
        match spawned {
            Ok(_) => w.started += 1,
            Err(e) if w.started == 0 => {
                w.idle.fetch_sub(1, Ordering::AcqRel);
                tracing::warn!(error = %e, "cannot start a worker thread; running the call inline");
                session.handle(msg);
                inflight.release();
                return;
            }
            Err(e) => {
                w.idle.fetch_sub(1, Ordering::AcqRel);
                tracing::warn!(error = %e, "cannot start another worker thread");
            }
        }
    }
    if let Err(mpsc::SendError(m)) = w.tx.send(msg) {
        session.handle(m);
        inflight.release();
    }
}
