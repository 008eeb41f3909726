//! One client connection: a reading thread (framing, keepalive, idle and partial-message
//! timeouts), a writing thread (bounded queue, write timeout) and up to `max_client_requests`
//! worker threads for calls, taken from the daemon-wide `max_workers` and stopped when idle.
//! A slow or stuck client only ever blocks its own threads, and everything a client holds
//! (threads, its socket, buffered bytes, its connection slot) is freed when it leaves.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use oxvirt_rpc::message::{split_frame, LEN_SIZE};
use oxvirt_rpc::protocol::{proc_name, KEEPALIVE_PING};
use oxvirt_rpc::server::keepalive_message;
use oxvirt_rpc::{Message, Session, SessionConfig, Sink};

use crate::config::Config;
use crate::limits::{Bytes, ClientSlot, Limits, WorkerSlot};

/// How often the reading thread wakes to check timers when the client is quiet.
const TICK: Duration = Duration::from_millis(500);
/// A worker thread with nothing to do this long ends (and frees its `max_workers` share).
const WORKER_IDLE: Duration = Duration::from_secs(5);
/// Input buffer a client keeps between messages; a bigger one is given back once emptied.
const KEEP_BUF: usize = 64 * 1024;
/// Bytes read at once.
const CHUNK: usize = 16 * 1024;
/// Replies queued for a client that does not read them: above this, its further calls wait
/// unread, so such a client holds at most this plus its calls in flight.
const OUT_HIGH: usize = 1 << 20;

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

/// Replies and events on their way to the writing thread. Dropping the sender (in
/// [`serve`], once the client is gone) ends the writer even while the session, its event
/// callbacks or streams still hold the sink.
///
/// The channel is unbounded (it allocates as messages come, where a bounded one would
/// allocate all `max_queued_messages` slots up front, 256 KiB per client); `count` bounds it.
struct Outbox {
    tx: Mutex<Option<Sender<Message>>>,
    /// Messages queued and not yet taken by the writer.
    count: AtomicUsize,
    /// Bytes queued and not yet written.
    queued: AtomicUsize,
}

/// Serves one client until it disconnects, breaks the protocol, or stops answering. `slot` is
/// the client's connection slot, given back when this returns.
pub fn serve(sock: Arc<dyn Transport>, info: ClientInfo, cfg: Arc<Config>, slot: ClientSlot) {
    let id = info.id;
    let span = tracing::info_span!("client", id, uid = info.uid, pid = info.pid, ro = info.readonly, peer = %info.peer);
    let _g = span.enter();
    // Unprivileged local clients log their comings and goings within a budget (see RateLimit).
    let privileged = info.uid == 0 || info.uid == nix::unistd::geteuid().as_raw() || info.peer != "unix";
    let loud = privileged
        || CONNECTION_LOG.allow().is_some_and(|quieted| {
            if quieted > 0 {
                tracing::warn!(
                    quieted,
                    "connection log lines of unprivileged clients were logged at debug level only (budget)"
                );
            }
            true
        });
    if loud {
        tracing::info!("client connected");
    } else {
        tracing::debug!("client connected");
    }
    if let Err(e) = sock.set_timeouts(TICK, cfg.write_timeout) {
        tracing::warn!(error = %e, "cannot set client socket timeouts");
        return;
    }
    let writer_sock = sock.clone();
    let (tx, rx) = mpsc::channel::<Message>();
    let outbox = Arc::new(Outbox { tx: Mutex::new(Some(tx)), count: AtomicUsize::new(0), queued: AtomicUsize::new(0) });
    let dead = Arc::new(AtomicBool::new(false));
    let writer = {
        let (dead, outbox) = (dead.clone(), outbox.clone());
        let span = span.clone();
        std::thread::Builder::new().name(format!("client-{id}-tx")).spawn(move || {
            let _g = span.enter();
            write_loop(writer_sock, rx, &outbox, &dead)
        })
    };
    let writer = match writer {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start writer thread; dropping the client");
            return;
        }
    };
    let sink: Sink = {
        let (dead, outbox) = (dead.clone(), outbox.clone());
        let max = cfg.max_queued_messages;
        let shut = sock.clone();
        Arc::new(move |m: Message| {
            if dead.load(Ordering::Relaxed) {
                return false;
            }
            let guard = outbox.tx.lock().unwrap_or_else(|e| e.into_inner());
            let Some(tx) = guard.as_ref() else { return false };
            if outbox.count.load(Ordering::Acquire) >= max {
                tracing::warn!("client does not read its messages; disconnecting it");
                dead.store(true, Ordering::Relaxed);
                shut.shutdown();
                return false;
            }
            let n = m.body.len() + 28;
            outbox.queued.fetch_add(n, Ordering::AcqRel);
            outbox.count.fetch_add(1, Ordering::AcqRel);
            if tx.send(m).is_err() {
                outbox.queued.fetch_sub(n, Ordering::AcqRel);
                outbox.count.fetch_sub(1, Ordering::AcqRel);
                return false;
            }
            true
        })
    };
    let session = Arc::new(Session::new(
        SessionConfig {
            readonly: info.readonly,
            default_uri: cfg.default_uri.clone(),
            // What the administrator configured is served even where a client could not name it.
            configured_uris: cfg.default_uri.iter().chain(&cfg.host_uris).cloned().collect(),
            quiet: !loud,
        },
        sink.clone(),
    ));
    let reason = read_loop(&*sock, &session, &sink, &cfg, &span, &dead, &outbox, &slot);
    if loud {
        tracing::info!(reason = %reason, "client disconnected");
    } else {
        tracing::debug!(reason = %reason, "client disconnected");
    }
    dead.store(true, Ordering::Relaxed);
    sock.shutdown();
    session.close();
    drop(sink);
    // The last sender: the writer sees the end of its queue and returns.
    drop(outbox.tx.lock().unwrap_or_else(|e| e.into_inner()).take());
    let _ = writer.join();
}

fn write_loop(sock: Arc<dyn Transport>, rx: Receiver<Message>, outbox: &Outbox, dead: &AtomicBool) {
    let mut buf = Vec::new();
    while let Ok(m) = rx.recv() {
        buf.clear();
        buf.extend_from_slice(&m.to_frame());
        outbox.count.fetch_sub(1, Ordering::AcqRel);
        // Coalesce what is already queued into one write.
        while buf.len() < 256 * 1024 {
            match rx.try_recv() {
                Ok(m) => {
                    buf.extend_from_slice(&m.to_frame());
                    outbox.count.fetch_sub(1, Ordering::AcqRel);
                }
                Err(_) => break,
            }
        }
        let r = sock.write_all(&buf);
        outbox.queued.fetch_sub(buf.len(), Ordering::AcqRel);
        if let Err(e) = r {
            tracing::info!(error = %e, "cannot write to client; disconnecting it");
            dead.store(true, Ordering::Relaxed);
            sock.shutdown();
            return;
        }
        if buf.capacity() > 1 << 20 {
            buf = Vec::new();
        }
    }
}

/// A received call, with the input budget its bytes hold until it has been answered.
struct Job {
    msg: Message,
    _bytes: Bytes,
}

/// Calls waiting for, or taken by, this client's worker threads.
struct WorkQueue {
    state: Mutex<WorkState>,
    cv: Condvar,
}

struct WorkState {
    jobs: VecDeque<Job>,
    idle: usize,
    threads: usize,
    /// The client is gone: workers end, and calls not started are dropped unrun.
    closed: bool,
}

impl WorkQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, WorkState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the reading thread of one client works with.
struct Calls<'a> {
    session: &'a Arc<Session>,
    inflight: Arc<Inflight>,
    queue: Arc<WorkQueue>,
    limits: &'a Arc<Limits>,
    max: usize,
    span: &'a tracing::Span,
}

impl Calls<'_> {
    /// Hands a call to an idle worker, a new worker (within the client's and the daemon's
    /// limits), a busy worker, or, with no worker at all, runs it here.
    fn submit(&self, job: Job) {
        self.inflight.acquire(self.max);
        let mut s = self.queue.lock();
        s.jobs.push_back(job);
        if s.idle < s.jobs.len() && s.threads < self.max {
            if let Some(slot) = self.limits.try_worker() {
                if self.spawn_worker(slot) {
                    s.threads += 1;
                }
            }
        }
        if s.threads == 0 {
            let job = s.jobs.pop_back();
            drop(s);
            if let Some(job) = job {
                self.session.handle(job.msg);
            }
            self.inflight.release();
            return;
        }
        self.queue.cv.notify_one();
    }

    fn spawn_worker(&self, slot: WorkerSlot) -> bool {
        let (queue, session, inflight) = (self.queue.clone(), self.session.clone(), self.inflight.clone());
        let span = self.span.clone();
        let spawned = std::thread::Builder::new().name("client-call".into()).spawn(move || {
            let _g = span.enter();
            let _slot = slot;
            work_loop(&queue, &session, &inflight);
        });
        match spawned {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e, "cannot start a worker thread");
                false
            }
        }
    }

    /// The client is gone: idle workers end now, busy ones after their call.
    fn close(&self) {
        let mut s = self.queue.lock();
        s.closed = true;
        s.jobs.clear();
        self.queue.cv.notify_all();
    }
}

fn work_loop(queue: &WorkQueue, session: &Session, inflight: &Inflight) {
    let mut s = queue.lock();
    loop {
        if s.closed {
            break;
        }
        if let Some(job) = s.jobs.pop_front() {
            drop(s);
            session.handle(job.msg);
            inflight.release();
            s = queue.lock();
            continue;
        }
        s.idle += 1;
        let (s2, t) = queue.cv.wait_timeout(s, WORKER_IDLE).unwrap_or_else(|e| e.into_inner());
        s = s2;
        s.idle -= 1;
        if t.timed_out() && s.jobs.is_empty() {
            break;
        }
    }
    s.threads -= 1;
}

/// The declared length of the frame at the start of `buf` (continued by `more`), once its
/// length word is in.
fn declared_len(buf: &[u8], more: &[u8]) -> Option<usize> {
    let mut w = [0u8; LEN_SIZE];
    let k = buf.len().min(LEN_SIZE);
    w[..k].copy_from_slice(&buf[..k]);
    let rest = (LEN_SIZE - k).min(more.len());
    w[k..k + rest].copy_from_slice(&more[..rest]);
    (k + rest == LEN_SIZE).then(|| u32::from_be_bytes(w) as usize)
}

#[allow(clippy::too_many_arguments)]
fn read_loop(
    sock: &dyn Transport,
    session: &Arc<Session>,
    sink: &Sink,
    cfg: &Config,
    span: &tracing::Span,
    dead: &AtomicBool,
    outbox: &Outbox,
    slot: &ClientSlot,
) -> String {
    let calls = Calls {
        session,
        inflight: Arc::new(Inflight { n: Mutex::new(0), cv: Condvar::new() }),
        queue: Arc::new(WorkQueue {
            state: Mutex::new(WorkState { jobs: VecDeque::new(), idle: 0, threads: 0, closed: false }),
            cv: Condvar::new(),
        }),
        limits: slot.limits(),
        max: cfg.max_client_requests,
        span,
    };
    let r = read_frames(sock, session, sink, cfg, dead, outbox, slot, &calls);
    calls.close();
    r
}

#[allow(clippy::too_many_arguments)]
fn read_frames(
    sock: &dyn Transport,
    session: &Arc<Session>,
    sink: &Sink,
    cfg: &Config,
    dead: &AtomicBool,
    outbox: &Outbox,
    slot: &ClientSlot,
    calls: &Calls,
) -> String {
    // Grown as bytes arrive (never by the length a client declares), within the input budget.
    let mut buf: Vec<u8> = Vec::new();
    let mut held = slot.bytes();
    let mut chunk = [0u8; CHUNK];
    let mut last_rx = Instant::now();
    let mut pings_unanswered = 0u32;
    let mut last_ping = Instant::now();
    // When the message now in `buf` began (its first byte, or the previous message's end).
    let mut partial_since: Option<Instant> = None;
    loop {
        if dead.load(Ordering::Relaxed) {
            return "connection dropped".into();
        }
        // A client that does not read its replies gets no more calls read.
        if outbox.queued.load(Ordering::Acquire) > OUT_HIGH {
            std::thread::sleep(Duration::from_millis(50));
            if partial_since.is_some() {
                partial_since = Some(Instant::now());
            }
            continue;
        }
        match sock.read(&mut chunk) {
            Ok(0) => return "end of stream".into(),
            Ok(n) => {
                let need = buf.len() + n;
                if need > buf.capacity() {
                    // Double, but not past the end of the frame being received.
                    let mut want = need.max(2 * buf.capacity()).max(4096);
                    if let Some(d) = declared_len(&buf, &chunk[..n]) {
                        if d >= need {
                            want = want.min(d);
                        }
                    }
                    if !held.grow_to(want) {
                        if let Some(suppressed) = BUDGET_LOG.allow() {
                            tracing::warn!(
                                suppressed,
                                held = held.held(),
                                want,
                                "input budget exhausted (max_partial_bytes); dropping the client"
                            );
                        }
                        return "input budget exhausted".into();
                    }
                    buf.reserve_exact(want - buf.len());
                }
                buf.extend_from_slice(&chunk[..n]);
                if partial_since.is_none() {
                    partial_since = Some(Instant::now());
                }
                last_rx = Instant::now();
                pings_unanswered = 0;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return format!("read error: {e}"),
        }
        let mut used = 0;
        loop {
            match split_frame(&buf[used..], cfg.max_message_size) {
                Ok(Some((msg, len))) => {
                    used += len;
                    tracing::trace!(proc = proc_name(msg.header.proc_), serial = msg.header.serial, "message");
                    let job = Job { _bytes: held.split_forced(len), msg };
                    if Session::is_slow(&job.msg) {
                        calls.submit(job);
                    } else {
                        session.handle(job.msg);
                    }
                }
                Ok(None) => break,
                Err(e) => return format!("protocol error: {e}"),
            }
        }
        if used > 0 {
            buf.drain(..used);
            partial_since = (!buf.is_empty()).then(Instant::now);
            if buf.capacity() > KEEP_BUF && buf.len() <= KEEP_BUF / 2 {
                buf.shrink_to(KEEP_BUF);
            }
            held.shrink_to(buf.capacity());
        }
        if let Some(t) = partial_since {
            if t.elapsed() >= cfg.partial_message_timeout {
                if let Some(suppressed) = SLOW_LOG.allow() {
                    tracing::warn!(
                        suppressed,
                        bytes = buf.len(),
                        "message not completed within partial_message_timeout; dropping the client"
                    );
                }
                return format!("partial message not completed within {}s", cfg.partial_message_timeout.as_secs());
            }
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

/// Rate limits for the warnings many hostile clients could otherwise flood the log with.
/// 20 connections' lines a second, bursts of 200.
static CONNECTION_LOG: std::sync::LazyLock<crate::limits::RateLimit> =
    std::sync::LazyLock::new(|| crate::limits::RateLimit::new(20.0, 200.0));
static BUDGET_LOG: std::sync::LazyLock<crate::limits::RateLimit> =
    std::sync::LazyLock::new(|| crate::limits::RateLimit::per_period(Duration::from_secs(10)));
static SLOW_LOG: std::sync::LazyLock<crate::limits::RateLimit> =
    std::sync::LazyLock::new(|| crate::limits::RateLimit::per_period(Duration::from_secs(10)));
