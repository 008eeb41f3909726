//! Private libvirtd 9 instances for benchmarks that report oxvirt's figures as ratios to libvirt's,
//! measured on the same machine in the same run. Nothing here touches a system libvirtd, the host's
//! /etc/libvirt or /var/lib/libvirt, or the host's network:
//! - [`Libvirtd::session`]: session mode as `nobody`, config, socket, home and runtime dir private
//!   (QEMU guests run as `nobody`, without cgroups, as in any libvirt session);
//! - [`Libvirtd::system_in_netns`]: a root (system-mode) daemon, which libvirt's network driver
//!   needs, inside a network namespace made for it and a private mount namespace whose tmpfs
//!   mounts hide the host's libvirt config, state, logs and /run (so also the D-Bus system bus).
//!
//! Both run under a small subreaper that reaps whatever libvirtd's children leave at once, as
//! systemd does on an ordinary host: libvirt waits for a killed QEMU or dnsmasq with `kill(pid, 0)`,
//! which succeeds on a zombie, and the daemonized processes are reparented to PID 1 — on this
//! machine a container agent that reaps orphans only every 1.3–1.9 s, which would add that to
//! every libvirt destroy.
//!
//! [`PyLibvirt`] drives one persistent libvirt-python connection so a timing covers the API call,
//! not interpreter start-up or connecting.
//!
//! `scripts/install-deps.sh --bench` (`make bench`) installs the daemon; without it callers print
//! why the comparison is skipped.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;

pub const LIBVIRTD: &str = "/usr/sbin/libvirtd";
pub const PYTHON: &str = "/usr/bin/python3";
const NETWORK_DRIVER: &str = "/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_network.so";
/// Runs argv[1..] as its child and reaps every orphan reparented to it; forwards SIGTERM/SIGINT
/// and exits with the child.
const REAPER: &str = r#"
import ctypes, os, signal, sys
if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
    sys.exit("PR_SET_CHILD_SUBREAPER failed")
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
def forward(sig, _frame):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
signal.signal(signal.SIGTERM, forward)
signal.signal(signal.SIGINT, forward)
while True:
    try:
        p, status = os.wait()
    except ChildProcessError:
        sys.exit(0)
    if p == pid:
        sys.exit(max(os.waitstatus_to_exitcode(status), 0))
"#;
const SOCKET_WAIT: Duration = Duration::from_secs(30);
const STOP_WAIT: Duration = Duration::from_secs(10);

/// Runs a command to completion with a time limit (killed when it is exceeded).
pub fn run_timeout(cmd: &mut Command, limit: Duration) -> Result<Output, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let drain = |p: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut p) = p {
                let _ = p.read_to_end(&mut v);
            }
            v
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{cmd:?} did not finish within {limit:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("{cmd:?}: {e}")),
        }
    };
    Ok(Output { status, stdout: out.join().unwrap_or_default(), stderr: err.join().unwrap_or_default() })
}

/// Callers pass pids of processes this run started.
fn kill(pid: i32, sig: Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
}

fn read_pid(path: &Path) -> Option<i32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

enum Mode {
    Session,
    /// The network namespace it runs in (deleted on drop).
    System {
        netns: String,
    },
}

/// A libvirtd started for one benchmark run; stopped, and everything it started ended, on drop.
pub struct Libvirtd {
    /// The subreaper; libvirtd is its child.
    child: Child,
    dir: tempfile::TempDir,
    mode: Mode,
}

impl Libvirtd {
    /// Session-mode libvirtd as `nobody` with a private config, socket, home and runtime dir.
    /// `Err` says why it could not run.
    pub fn session() -> Result<Libvirtd, String> {
        if !Path::new(LIBVIRTD).exists() {
            return Err(format!("{LIBVIRTD} is not installed (scripts/install-deps.sh --bench)"));
        }
        let dir = private_dir("bench-libvirtd-")?;
        let run = dir.path().join("run");
        let home = dir.path().join("home");
        for d in [&run, &home] {
            fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        let conf = write_conf(dir.path(), &run)?;
        let chown = run_timeout(
            Command::new("chown").arg("-R").arg("nobody:nogroup").arg(dir.path()),
            Duration::from_secs(10),
        )?;
        if !chown.status.success() {
            return Err(format!("chown nobody: {}", String::from_utf8_lossy(&chown.stderr).trim()));
        }
        let mut cmd = Command::new(PYTHON);
        cmd.arg("-c").arg(REAPER).arg("setpriv");
        cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "env", "-i"])
            .arg(format!("HOME={}", home.display()))
            .arg(format!("XDG_RUNTIME_DIR={}", run.display()))
            .arg("PATH=/usr/sbin:/usr/bin:/bin")
            .arg(LIBVIRTD)
            .arg("--config")
            .arg(&conf)
            .arg("--pid-file")
            .arg(run.join("libvirtd.pid"));
        Libvirtd::spawn(cmd, dir, Mode::Session, run.join("libvirt-sock"))
    }

    /// System-mode libvirtd (root) with only the network driver, in a new network namespace and a
    /// private mount namespace: tmpfs over /run, /etc/libvirt, /var/lib/libvirt, /var/cache/libvirt
    /// and /var/log/libvirt (over the parent where one is missing, so no directory is made on the
    /// host), its socket in a private directory outside them.
    pub fn system_in_netns(tag: &str) -> Result<Libvirtd, String> {
        if !Path::new(LIBVIRTD).exists() {
            return Err(format!("{LIBVIRTD} is not installed (scripts/install-deps.sh --bench)"));
        }
        if !Path::new(NETWORK_DRIVER).exists() {
            return Err(format!("{NETWORK_DRIVER} is missing (package libvirt-daemon)"));
        }
        // libvirt 9's network driver writes NAT rules with iptables (nftables came in 10.4).
        if !Path::new("/usr/sbin/iptables").exists() {
            return Err(
                "iptables is not installed; libvirt 9's network driver needs it (scripts/install-deps.sh --bench)"
                    .into(),
            );
        }
        let dir = private_dir("bench-libvirtd-sys-")?;
        let sock_dir = dir.path().join("sock");
        let drivers = dir.path().join("drivers");
        for d in [&sock_dir, &drivers] {
            fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        // Only the network driver: the QEMU driver would want the libvirt-qemu user and KVM.
        std::os::unix::fs::symlink(NETWORK_DRIVER, drivers.join("libvirt_driver_network.so"))
            .map_err(|e| format!("driver link: {e}"))?;
        let conf = write_conf(dir.path(), &sock_dir)?;
        let netns = format!("oxlv{}-{tag}", std::process::id());
        let add = run_timeout(Command::new("ip").args(["netns", "add", &netns]), Duration::from_secs(10))?;
        if !add.status.success() {
            return Err(format!("ip netns add {netns}: {}", String::from_utf8_lossy(&add.stderr).trim()));
        }
        let _ =
            run_timeout(Command::new("ip").args(["-n", &netns, "link", "set", "lo", "up"]), Duration::from_secs(10));
        // `ip netns exec` also remounts /sys for the namespace, which libvirt reads bridges from.
        const SANDBOX: &str = r#"set -e
for d in /run /etc/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt; do
  if [ -d "$d" ]; then mount -t tmpfs -o mode=755 oxvirt-bench "$d"
  else mount -t tmpfs -o mode=755 oxvirt-bench "$(dirname "$d")"; mkdir -p "$d"; fi
done
exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LIBVIRT_DRIVER_DIR="$1" "$2" --config "$3" --pid-file "$4""#;
        let mut cmd = Command::new(PYTHON);
        cmd.arg("-c").arg(REAPER).arg("ip");
        cmd.args([
            "netns",
            "exec",
            &netns,
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            SANDBOX,
            "sh",
        ])
        .arg(&drivers)
        .arg(LIBVIRTD)
        .arg(&conf)
        .arg(dir.path().join("libvirtd.pid"));
        Libvirtd::spawn(cmd, dir, Mode::System { netns }, sock_dir.join("libvirt-sock"))
    }

    fn spawn(mut cmd: Command, dir: tempfile::TempDir, mode: Mode, sock: PathBuf) -> Result<Libvirtd, String> {
        if !Path::new(PYTHON).exists() {
            return Err(format!("{PYTHON} is missing"));
        }
        let log_path = dir.path().join("libvirtd.log");
        let log = File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let child = match cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log).spawn() {
            Ok(c) => c,
            Err(e) => {
                if let Mode::System { netns } = &mode {
                    let _ = run_timeout(Command::new("ip").args(["netns", "del", netns]), Duration::from_secs(10));
                }
                return Err(format!("{cmd:?}: {e}"));
            }
        };
        let mut d = Libvirtd { child, dir, mode };
        let deadline = Instant::now() + SOCKET_WAIT;
        while !sock.exists() || d.daemon_pid().is_none() {
            let exited = matches!(d.child.try_wait(), Ok(Some(_)));
            if exited || Instant::now() > deadline {
                let log = fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!(
                    "libvirtd did not create {} ({}); log:\n{log}",
                    sock.display(),
                    if exited { "it exited" } else { "timeout" }
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(d)
    }

    /// libvirtd's pid (from its pid file).
    pub fn pid(&self) -> u32 {
        self.daemon_pid().map_or(0, |p| p as u32)
    }

    fn daemon_pid(&self) -> Option<i32> {
        read_pid(&self.dir.path().join(match self.mode {
            Mode::Session => "run/libvirtd.pid",
            Mode::System { .. } => "libvirtd.pid",
        }))
    }

    /// The daemon's read-write socket.
    pub fn sock(&self) -> PathBuf {
        match self.mode {
            Mode::Session => self.dir.path().join("run/libvirt-sock"),
            Mode::System { .. } => self.dir.path().join("sock/libvirt-sock"),
        }
    }

    /// Client URI for `driver` (`qemu`, `network`, `test`) through this daemon's socket.
    pub fn uri(&self, driver: &str) -> String {
        let kind = match self.mode {
            Mode::Session => "session",
            Mode::System { .. } => "system",
        };
        format!("{driver}+unix:///{kind}?socket={}", self.sock().display())
    }

    /// A directory the daemon's user may write (session: owned by `nobody`), for serial logs etc.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Session mode: pid of the QEMU running domain `name`.
    pub fn qemu_pid(&self, name: &str) -> Option<i32> {
        read_pid(&self.dir.path().join(format!("run/libvirt/qemu/run/{name}.pid")))
    }

    /// The network namespace of a system-mode daemon.
    pub fn netns(&self) -> Option<&str> {
        match &self.mode {
            Mode::Session => None,
            Mode::System { netns } => Some(netns),
        }
    }
}

impl Drop for Libvirtd {
    fn drop(&mut self) {
        // Guests left running (a failed round) outlive libvirtd; end them first.
        if let Ok(rd) = fs::read_dir(self.dir.path().join("run/libvirt/qemu/run")) {
            for e in rd.flatten() {
                if e.path().extension().is_some_and(|x| x == "pid") {
                    if let Some(p) = read_pid(&e.path()) {
                        kill(p, Signal::SIGKILL);
                    }
                }
            }
        }
        let daemon = self.daemon_pid();
        kill(self.child.id() as i32, Signal::SIGTERM);
        let deadline = Instant::now() + STOP_WAIT;
        while !matches!(self.child.try_wait(), Ok(Some(_))) {
            if Instant::now() > deadline {
                if let Some(p) = daemon {
                    kill(p, Signal::SIGKILL);
                }
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        match &self.mode {
            // The session's virtlogd (auto-started by libvirtd) would linger for its idle timeout.
            Mode::Session => {
                if let Some(p) = read_pid(&self.dir.path().join("run/libvirt/virtlogd.pid")) {
                    kill(p, Signal::SIGTERM);
                }
            }
            // dnsmasq and anything else libvirtd left in the namespace, then the namespace (its
            // bridge and firewall tables go with it; the mount namespace ends with its last process).
            Mode::System { netns } => {
                if let Ok(o) = run_timeout(Command::new("ip").args(["netns", "pids", netns]), Duration::from_secs(10)) {
                    for p in String::from_utf8_lossy(&o.stdout).split_whitespace().filter_map(|p| p.parse().ok()) {
                        kill(p, Signal::SIGKILL);
                    }
                }
                let _ = run_timeout(Command::new("ip").args(["netns", "del", netns]), Duration::from_secs(10));
            }
        }
    }
}

/// A temp directory others may traverse (libvirtd as `nobody`, dnsmasq after dropping privileges).
fn private_dir(prefix: &str) -> Result<tempfile::TempDir, String> {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::Builder::new().prefix(prefix).tempdir().map_err(|e| format!("temp dir: {e}"))?;
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o755)).map_err(|e| format!("chmod temp dir: {e}"))?;
    Ok(d)
}

fn write_conf(dir: &Path, sock_dir: &Path) -> Result<PathBuf, String> {
    let conf = dir.join("libvirtd.conf");
    fs::write(
        &conf,
        format!("unix_sock_dir = \"{}\"\nauth_unix_rw = \"none\"\nauth_unix_ro = \"none\"\n", sock_dir.display()),
    )
    .map_err(|e| format!("{}: {e}", conf.display()))?;
    Ok(conf)
}

/// Object kinds [`PyLibvirt`] drives.
#[derive(Clone, Copy)]
pub enum Kind {
    Domain,
    Network,
}

const PY_DRIVER: &str = r#"
import sys, time, libvirt
libvirt.registerErrorHandler(lambda *a: None, None)
c = libvirt.open(sys.argv[1])
net = sys.argv[2] == "network"
objs = {}
print("ok 0", flush=True)
for line in sys.stdin:
    op, _, arg = line.strip().partition(" ")
    try:
        if op == "define":
            with open(arg) as f:
                xml = f.read()
            o = c.networkDefineXML(xml) if net else c.defineXML(xml)
            objs[o.name()] = o
            dt = 0.0
        else:
            if arg not in objs:
                objs[arg] = c.networkLookupByName(arg) if net else c.lookupByName(arg)
            f = {"create": objs[arg].create, "destroy": objs[arg].destroy, "undefine": objs[arg].undefine}[op]
            t = time.perf_counter()
            f()
            dt = time.perf_counter() - t
        print("ok %.9f" % dt, flush=True)
    except Exception as e:
        print("err %s" % str(e).replace("\n", " "), flush=True)
"#;

/// One libvirt-python process holding a connection; each call is timed inside Python around the
/// API call alone.
pub struct PyLibvirt {
    child: Child,
    stdin: ChildStdin,
    out: File,
    buf: String,
    timeout: Duration,
}

impl PyLibvirt {
    /// Connects to `uri`; `timeout` bounds every call.
    pub fn open(uri: &str, kind: Kind, timeout: Duration) -> Result<PyLibvirt, String> {
        let mut child = Command::new(PYTHON)
            .arg("-c")
            .arg(PY_DRIVER)
            .arg(uri)
            .arg(match kind {
                Kind::Domain => "domain",
                Kind::Network => "network",
            })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{PYTHON}: {e}"))?;
        let (Some(stdin), Some(out)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("python pipes".into());
        };
        let mut p =
            PyLibvirt { child, stdin, out: File::from(std::os::fd::OwnedFd::from(out)), buf: String::new(), timeout };
        p.reply().map_err(|e| {
            let mut err = String::new();
            if let Some(mut s) = p.child.stderr.take() {
                let _ = p.child.kill();
                let _ = s.read_to_string(&mut err);
            }
            format!("libvirt-python could not connect to {uri}: {e} {}", err.trim())
        })?;
        Ok(p)
    }

    /// Defines the object from XML (the domain or network is then looked up by its name).
    pub fn define(&mut self, xml: &str, scratch: &Path) -> Result<(), String> {
        fs::write(scratch, xml).map_err(|e| format!("{}: {e}", scratch.display()))?;
        self.call("define", &scratch.display().to_string()).map(|_| ())
    }

    /// `virDomainCreate` / `virNetworkCreate` (start a defined one); the call's duration.
    pub fn create(&mut self, name: &str) -> Result<Duration, String> {
        self.call("create", name)
    }

    pub fn destroy(&mut self, name: &str) -> Result<Duration, String> {
        self.call("destroy", name)
    }

    pub fn undefine(&mut self, name: &str) -> Result<Duration, String> {
        self.call("undefine", name)
    }

    fn call(&mut self, op: &str, arg: &str) -> Result<Duration, String> {
        writeln!(self.stdin, "{op} {arg}").map_err(|e| format!("to python: {e}"))?;
        self.stdin.flush().map_err(|e| format!("to python: {e}"))?;
        self.reply().map_err(|e| format!("{op} {arg}: {e}"))
    }

    fn reply(&mut self) -> Result<Duration, String> {
        let deadline = Instant::now() + self.timeout;
        let line = loop {
            if let Some(i) = self.buf.find('\n') {
                let line: String = self.buf.drain(..=i).collect();
                break line;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("no answer within {:?}", self.timeout));
            }
            let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
            let r = poll(&mut [PollFd::new(self.out.as_fd(), PollFlags::POLLIN)], timeout)
                .map_err(|e| format!("poll: {}", std::io::Error::from(e)))?;
            if r == 0 {
                continue;
            }
            let mut chunk = [0u8; 4096];
            let n = self.out.read(&mut chunk).map_err(|e| format!("from python: {e}"))?;
            if n == 0 {
                return Err("python exited".into());
            }
            self.buf.push_str(&String::from_utf8_lossy(&chunk[..n]));
        };
        let line = line.trim_end();
        match line.split_once(' ') {
            Some(("ok", s)) => {
                s.parse::<f64>().map(Duration::from_secs_f64).map_err(|e| format!("bad answer {line:?}: {e}"))
            }
            Some(("err", msg)) => Err(msg.to_string()),
            _ => Err(format!("bad answer {line:?}")),
        }
    }
}

impl Drop for PyLibvirt {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Nearest-rank percentile of unsorted samples (`p` in 0..=100).
pub fn pct(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let i = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[i.clamp(1, s.len()) - 1]
}
