//! oxvirtd: libvirt's remote protocol on unix sockets and TLS (optionally plain TCP), served
//! from oxvirt's drivers, so that unmodified virsh and libvirt bindings manage oxvirt's guests.
//!
//! One thread accepts per socket; each client gets its own reading, writing and call threads
//! (see [`client`]); a TLS client's handshake runs on its own thread, so a slow one never
//! holds up the accept loop. The main thread only waits for signals: SIGTERM/SIGINT remove the sockets
//! and end the process (guests keep running: QEMU runs in its own process group), SIGCHLD reaps
//! children that nobody else waits for (we are a child subreaper, so orphaned helpers land here).

pub mod client;
pub mod config;
pub mod limits;

use std::collections::HashMap;
use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::stat::{umask, Mode};
use nix::unistd::Pid;

pub use config::Config;
use limits::{Class, Limits};

/// A listening socket and whether it grants read-only connections.
struct Listener {
    path: PathBuf,
    sock: UnixListener,
    readonly: bool,
}

/// Blocks the signals the main thread waits for, in this thread and every thread started after
/// it. Call first thing in `main`, before any thread exists. (Child processes get a clean mask:
/// the standard library resets it before exec.)
pub fn block_signals() -> Result<libc::sigset_t> {
    use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
    let mut set = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGCHLD, Signal::SIGHUP] {
        set.add(s);
    }
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None).map_err(|e| anyhow::anyhow!("blocking signals: {e}"))?;
    Ok(*set.as_ref())
}

/// Makes orphaned descendants (helpers whose parent died) our children, so we reap them
/// rather than leave them to PID 1 or as zombies of a container's init.
fn set_child_subreaper() {
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        tracing::warn!(error = %std::io::Error::from(e), "cannot become a child subreaper");
    }
}

/// Makes glibc serve every allocation above 256 KiB with its own mapping, given back to the
/// system when freed. By default the threshold rises with the largest block freed (up to
/// 32 MiB), after which clients' big message buffers would come from, and stay in, the heap.
fn fixed_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a malloc tunable; called before the client threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

/// Raises the soft open-file limit to the hard one (each client is an fd) and returns it.
fn raise_nofile() -> usize {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((mut cur, max)) = getrlimit(Resource::RLIMIT_NOFILE) else { return 1024 };
    if cur < max && setrlimit(Resource::RLIMIT_NOFILE, max, max).is_ok() {
        cur = max;
    }
    usize::try_from(cur).unwrap_or(usize::MAX)
}

/// Binds a socket at `path` with `mode`. A live socket there means another daemon: refuse.
fn bind(path: &Path, mode: u32) -> Result<UnixListener> {
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            bail!("another daemon is already listening on {}", path.display());
        }
        fs::remove_file(path).with_context(|| format!("removing stale socket {}", path.display()))?;
    }
    // Bind under a tight umask so the socket is never reachable with wider permissions than
    // intended, then set the final mode. Single-threaded here, so the umask change is safe.
    let old = umask(Mode::from_bits_truncate(0o077));
    let l = UnixListener::bind(path);
    umask(old);
    let l = l.with_context(|| format!("binding {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).with_context(|| format!("chmod {}", path.display()))?;
    Ok(l)
}

fn pid_alive(pid: i32) -> bool {
    pid > 0 && Path::new(&format!("/proc/{pid}")).exists()
}

/// Writes our pid atomically, refusing if a live process owns the file already.
fn write_pidfile(path: &Path) -> Result<()> {
    if let Ok(old) = fs::read_to_string(path) {
        if let Ok(pid) = old.trim().parse::<i32>() {
            if pid != std::process::id() as i32 && pid_alive(pid) {
                bail!("{} names running process {pid}: is oxvirtd already running?", path.display());
            }
        }
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // The one atomic replace (oxvirt_sysutil, re-exported by the QEMU driver).
    oxvirt_driver_qemu::fsutil::write_atomic(path, format!("{}\n", std::process::id()).as_bytes(), 0o644)
        .with_context(|| format!("writing {}", path.display()))
}

/// SO_PEERCRED of a connected unix socket: (pid, uid).
fn peer_cred(s: &UnixStream) -> Option<(i32, u32)> {
    let c = nix::sys::socket::getsockopt(s, nix::sys::socket::sockopt::PeerCredentials).ok()?;
    Some((c.pid(), c.uid()))
}

/// Reaps zombie children nobody else waits for. Children the drivers spawn are waited for by
/// their spawner (a `Command`'s `wait`, the QEMU driver's liveness check), and reaping those
/// first would make that wait fail; so a zombie is reaped only once it has stayed unreaped for
/// [`REAP_GRACE`], which in practice means an orphan handed to us as subreaper.
struct Reaper {
    first_seen: HashMap<i32, Instant>,
}

const REAP_GRACE: Duration = Duration::from_secs(2);

impl Reaper {
    fn zombie_children() -> Vec<i32> {
        let me = std::process::id() as i32;
        let Ok(dir) = fs::read_dir("/proc") else { return vec![] };
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                oxvirt_driver_qemu::fsutil::procstat::ProcStat::of_pid(*pid)
                    .is_some_and(|s| s.state == 'Z' && s.ppid == me)
            })
            .collect()
    }

    /// Returns whether zombies are still waiting for their grace period to end.
    fn scan(&mut self) -> bool {
        let now = Instant::now();
        let zombies = Self::zombie_children();
        self.first_seen.retain(|pid, _| zombies.contains(pid));
        for pid in zombies {
            let since = *self.first_seen.entry(pid).or_insert(now);
            if now.duration_since(since) >= REAP_GRACE {
                use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
                match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) | Err(_) => {}
                    Ok(status) => tracing::info!(pid, ?status, "reaped orphaned child"),
                }
                self.first_seen.remove(&pid);
            }
        }
        !self.first_seen.is_empty()
    }
}

/// Runs the daemon until SIGTERM or SIGINT. `signals` is the set from [`block_signals`].
pub fn run(mut cfg: Config, signals: libc::sigset_t) -> Result<()> {
    set_child_subreaper();
    fixed_mmap_threshold();
    let nofile = raise_nofile();
    for w in cfg.apply_bounds(nofile) {
        tracing::warn!("{w}");
    }
    tracing::info!(
        max_clients = cfg.max_clients,
        max_clients_per_uid = cfg.max_clients_per_uid,
        reserved_rw_clients = cfg.reserved_rw_clients,
        max_workers = cfg.max_workers,
        max_partial_bytes = cfg.max_partial_bytes,
        nofile,
        "client limits"
    );
    oxvirt_driver_test::register();
    oxvirt_driver_qemu::register();
    // The storage driver, a peer of the hypervisor drivers: storage:///system, and the storage
    // side every local qemu:///… connection carries. In daemon mode a root's autostart pools
    // come up when it is first opened, before its hypervisor driver autostarts guests.
    oxvirt_storage::register();
    oxvirt_storage::enable_daemon_mode();
    // The network driver, a peer of the hypervisor drivers: network:///system, and the network
    // side every local qemu:///… connection carries (one instance per layout).
    oxvirt_network::register();
    // Hosted drivers autostart their networks and domains (a root's networks come up first, when
    // its hypervisor driver opens them) and watch running guests live (events, power-off).
    oxvirt_network::enable_daemon_mode();
    oxvirt_driver_qemu::enable_daemon_mode();
    let _hosted: Vec<oxvirt_api::Connect> = cfg
        .host_uris
        .iter()
        .filter_map(|u| match oxvirt_api::Connect::open(Some(u)) {
            Ok(c) => {
                tracing::info!(uri = %u, "hosting");
                Some(c)
            }
            Err(e) => {
                tracing::warn!(uri = %u, "not hosting: {e}");
                None
            }
        })
        .collect();

    if let Some(p) = &cfg.pidfile {
        write_pidfile(p)?;
    }
    let pidfile = cfg.pidfile.clone();
    let r = serve(cfg, signals);
    if let Some(p) = &pidfile {
        let _ = fs::remove_file(p);
    }
    r
}

fn serve(cfg: Config, signals: libc::sigset_t) -> Result<()> {
    let mut dirs = vec![(cfg.socket_dir.clone(), "oxvirt-sock")];
    if cfg.libvirt_sockets {
        dirs.push((PathBuf::from(config::LIBVIRT_SOCKET_DIR), "libvirt-sock"));
    }
    let mut listeners = Vec::new();
    for (dir, base) in &dirs {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (suffix, readonly, mode) in [("", false, 0o600), ("-ro", true, 0o666)] {
            let path = dir.join(format!("{base}{suffix}"));
            let sock = bind(&path, mode)?;
            tracing::info!(path = %path.display(), readonly, "listening");
            listeners.push(Listener { path, sock, readonly });
        }
    }
    let paths: Vec<PathBuf> = listeners.iter().map(|l| l.path.clone()).collect();
    let tcp = tcp_listeners(&cfg)?;
    let clients = Limits::new(&cfg);
    let cfg = Arc::new(cfg);
    let next_id = Arc::new(AtomicU64::new(1));
    for (sock, tls) in tcp {
        let (cfg, clients, next_id) = (cfg.clone(), clients.clone(), next_id.clone());
        let tls = tls.map(Arc::new);
        std::thread::Builder::new()
            .name(if tls.is_some() { "accept-tls" } else { "accept-tcp" }.into())
            .spawn(move || tcp_accept_loop(sock, tls, cfg, clients, next_id))
            .context("starting an accept thread")?;
    }
    for l in listeners {
        let (cfg, clients, next_id) = (cfg.clone(), clients.clone(), next_id.clone());
        std::thread::Builder::new()
            .name(format!("accept{}", if l.readonly { "-ro" } else { "" }))
            .spawn(move || accept_loop(l, cfg, clients, next_id))
            .context("starting an accept thread")?;
    }
    tracing::info!(pid = std::process::id(), "oxvirtd ready");

    let mut reaper = Reaper { first_seen: HashMap::new() };
    loop {
        let timeout = libc::timespec { tv_sec: 1, tv_nsec: 0 };
        // SAFETY: siginfo_t is plain data written by the kernel; `signals` and `timeout` are
        // valid for reads. The signals are blocked in every thread, so only this wait sees them.
        let sig = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::sigtimedwait(&signals, &mut info, &timeout)
        };
        match sig {
            libc::SIGTERM | libc::SIGINT => {
                tracing::info!(signal = sig, "shutting down; guests keep running");
                break;
            }
            libc::SIGHUP => tracing::info!("SIGHUP: configuration reload is not supported; ignored"),
            _ => {
                // SIGCHLD, or the periodic tick that ends reap grace periods.
                if sig == libc::SIGCHLD || !reaper.first_seen.is_empty() {
                    reaper.scan();
                }
            }
        }
    }
    for p in &paths {
        let _ = fs::remove_file(p);
    }
    Ok(())
}

/// Accepts clients of one unix socket. A client over a limit is accepted and closed at once
/// (it sees the end of the stream), with a rate-limited log line; accepting goes on.
fn accept_loop(l: Listener, cfg: Arc<Config>, clients: Arc<Limits>, next_id: Arc<AtomicU64>) {
    let euid = nix::unistd::geteuid().as_raw();
    for conn in l.sock.incoming() {
        let sock = match conn {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, path = %l.path.display(), "accept failed");
                // EMFILE and friends: give the system a moment instead of spinning.
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let (pid, uid) = peer_cred(&sock).unwrap_or((-1, u32::MAX));
        if !l.readonly && uid != 0 && uid != euid {
            tracing::warn!(pid, uid, "refusing read-write client: not root nor our user");
            continue;
        }
        let slot = match clients.admit(Class::of_unix_peer(uid, euid)) {
            Ok(s) => s,
            Err(r) => {
                clients.log_refusal(&r, pid, "unix");
                continue;
            }
        };
        let info = client::ClientInfo {
            id: next_id.fetch_add(1, Ordering::Relaxed),
            readonly: l.readonly,
            uid,
            pid,
            peer: "unix".into(),
        };
        let cfg2 = cfg.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("client-{}", info.id))
            .spawn(move || client::serve(Arc::new(sock), info, cfg2, slot));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start a client thread");
        }
    }
}

/// Binds `port` on `listen_addr`, or on every interface: `[::]` (which takes IPv4 too on
/// Linux), else `0.0.0.0` on hosts without IPv6.
fn bind_tcp(listen_addr: Option<&str>, port: u16) -> Result<TcpListener> {
    let addrs: Vec<SocketAddr> = match listen_addr {
        Some(a) => (a.trim_start_matches('[').trim_end_matches(']'), port)
            .to_socket_addrs()
            .with_context(|| format!("resolving listen_addr '{a}'"))?
            .collect(),
        None => vec![SocketAddr::from(([0u16; 8], port)), SocketAddr::from(([0u8; 4], port))],
    };
    let mut last = None;
    for a in &addrs {
        match TcpListener::bind(a) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(anyhow::Error::new(e).context(format!("binding {a}"))),
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("listen_addr resolves to no address")))
}

/// The TLS listener and, only when explicitly enabled, the plain TCP one.
fn tcp_listeners(cfg: &Config) -> Result<Vec<(TcpListener, Option<oxvirt_rpc::tls::TlsAcceptor>)>> {
    let mut out = Vec::new();
    if cfg.listen_tls {
        let acceptor = oxvirt_rpc::tls::TlsAcceptor::new(&cfg.tls).context("TLS credentials")?;
        let l = bind_tcp(cfg.listen_addr.as_deref(), cfg.tls_port)?;
        tracing::info!(addr = %l.local_addr()?, ca = %cfg.tls.ca_file.display(), cert = %cfg.tls.cert_file.display(), "listening for TLS clients");
        out.push((l, Some(acceptor)));
    }
    if cfg.listen_tcp {
        let l = bind_tcp(cfg.listen_addr.as_deref(), cfg.tcp_port)?;
        tracing::warn!(
            addr = %l.local_addr()?,
            "listening on plain TCP: no encryption and no authentication (auth_tcp = none); anyone who \
             reaches this port has full control of the host's guests"
        );
        out.push((l, None));
    }
    Ok(out)
}

fn tcp_accept_loop(
    l: TcpListener,
    tls: Option<Arc<oxvirt_rpc::tls::TlsAcceptor>>,
    cfg: Arc<Config>,
    clients: Arc<Limits>,
    next_id: Arc<AtomicU64>,
) {
    for conn in l.incoming() {
        let sock = match conn {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        // Handshaking clients count too, so a flood of idle connections stays bounded.
        let peer = sock.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
        let slot = match clients.admit(Class::Remote) {
            Ok(s) => s,
            Err(r) => {
                clients.log_refusal(&r, -1, &peer);
                continue;
            }
        };
        let anonymous = match tls.as_ref().map(|_| clients.admit_anonymous()).transpose() {
            Ok(a) => a,
            Err(r) => {
                clients.log_refusal(&r, -1, &peer);
                continue;
            }
        };
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        let (cfg2, tls) = (cfg.clone(), tls.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("client-{id}"))
            .spawn(move || tcp_client(sock, id, tls.as_deref(), cfg2, slot, anonymous));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start a client thread");
        }
    }
}

/// Runs on the client's own thread: the TLS handshake (bounded), then the RPC session.
fn tcp_client(
    sock: TcpStream,
    id: u64,
    tls: Option<&oxvirt_rpc::tls::TlsAcceptor>,
    cfg: Arc<Config>,
    slot: limits::ClientSlot,
    anonymous: Option<limits::AnonymousSlot>,
) {
    let addr = sock.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
    let _ = sock.set_nodelay(true);
    let (transport, peer): (Arc<dyn client::Transport>, String) = match tls {
        None => (Arc::new(sock), format!("tcp:{addr}")),
        Some(acceptor) => match acceptor.accept(sock, cfg.tls_handshake_timeout) {
            Ok((stream, dn)) => (Arc::new(stream), format!("tls:{addr} dn={dn}")),
            Err(e) => {
                tracing::warn!(id, peer = %addr, "refusing TLS client: {e}");
                return;
            }
        },
    };
    // Authenticated (or plain TCP): no longer anonymous.
    drop(anonymous);
    // Never read-only by the transport (libvirt has no read-only TLS port); a client that asks
    // for a read-only connection gets one.
    let info = client::ClientInfo { id, readonly: false, uid: u32::MAX, pid: -1, peer };
    client::serve(transport, info, cfg, slot);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An orphan handed to us as subreaper is reaped, but only after the grace period that
    /// lets a child's own spawner wait for it first.
    #[test]
    fn orphans_are_reaped_after_grace() {
        set_child_subreaper();
        let out =
            std::process::Command::new("sh").args(["-c", "sleep 0.2 >/dev/null 2>&1 & echo $!"]).output().unwrap();
        let pid: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !Reaper::zombie_children().contains(&pid) {
            assert!(Instant::now() < deadline, "orphan {pid} never became our zombie");
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut r = Reaper { first_seen: HashMap::new() };
        assert!(r.scan(), "a fresh zombie waits for its grace period");
        assert!(Reaper::zombie_children().contains(&pid));
        std::thread::sleep(REAP_GRACE);
        r.scan();
        assert!(!Reaper::zombie_children().contains(&pid));
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
    }

    #[test]
    fn second_daemon_on_same_socket_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        let _l = bind(&p, 0o600).unwrap();
        let e = bind(&p, 0o600).unwrap_err();
        assert!(e.to_string().contains("already listening"), "{e}");
        drop(_l);
        // A stale socket file (no listener) is replaced.
        assert!(bind(&p, 0o600).is_ok());
    }
}
