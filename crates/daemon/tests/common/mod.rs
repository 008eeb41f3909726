//! Starts a real oxvirtd on private sockets for one test and stops it afterwards.

#![allow(dead_code)]

pub mod raw;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    pub child: Child,
    pub dir: tempfile::TempDir,
}

impl Daemon {
    pub fn start() -> Daemon {
        Self::start_with(&[])
    }

    /// `conf`: lines for a config file, e.g. `keepalive_interval = 1`.
    pub fn start_with(conf: &[&str]) -> Daemon {
        Self::start_opts(conf, "test:///default", tempfile::tempdir().expect("temp dir"))
    }

    /// A daemon whose default connection is `default_uri`, with its sockets in `dir`.
    pub fn start_opts(conf: &[&str], default_uri: &str, dir: tempfile::TempDir) -> Daemon {
        let conf_path = dir.path().join("oxvirtd.conf");
        // Tests host nothing from the start (no qemu:///system autostart) unless they ask.
        let mut lines: Vec<&str> = conf.to_vec();
        if !lines.iter().any(|l| l.trim_start().starts_with("host_uris")) {
            lines.insert(0, "host_uris = \"none\"");
        }
        std::fs::write(&conf_path, lines.join("\n")).expect("config");
        let log = std::fs::File::create(dir.path().join("oxvirtd.log")).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_oxvirtd"))
            .arg("--socket-dir")
            .arg(dir.path())
            .arg("--config")
            .arg(&conf_path)
            .arg("--pidfile")
            .arg(dir.path().join("oxvirtd.pid"))
            .arg("--default-uri")
            .arg(default_uri)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn oxvirtd");
        let d = Daemon { child, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !(d.sock().exists() && d.sock_ro().exists()) {
            assert!(Instant::now() < deadline, "oxvirtd did not create its sockets; log:\n{}", d.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    pub fn sock(&self) -> PathBuf {
        self.dir.path().join("oxvirt-sock")
    }
    pub fn sock_ro(&self) -> PathBuf {
        self.dir.path().join("oxvirt-sock-ro")
    }
    /// The URI virsh needs to reach us (remote only with a transport given).
    pub fn uri(&self) -> String {
        format!("test+unix:///default?socket={}", self.sock().display())
    }
    pub fn uri_ro(&self) -> String {
        format!("test+unix:///default?socket={}", self.sock_ro().display())
    }
    /// Reaches the daemon's default connection (the `remote` scheme sends an empty URI).
    pub fn uri_default(&self) -> String {
        format!("remote+unix:///?socket={}", self.sock().display())
    }
    /// Lets other users (nobody, in [`raw::run_as_nobody`]) reach the sockets: the temp dir is
    /// root's and 0700 by default.
    pub fn allow_others(&self) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod socket dir");
    }
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    /// The daemon process still exists and is not a zombie.
    pub fn is_running(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .ok()
            .and_then(|s| s.rfind(')').map(|i| !s[i + 1..].trim_start().starts_with('Z')))
            .unwrap_or(false)
    }
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("oxvirtd.log")).unwrap_or_default()
    }

    /// SIGTERM, then waits (bounded) for a clean exit.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// Runs a command with a time limit, returning its output.
pub fn run_timeout(cmd: &mut Command, limit: Duration) -> Output {
    match try_run_timeout(cmd, limit) {
        Some(o) => o,
        None => panic!("{cmd:?} did not finish within {limit:?}"),
    }
}

/// Runs a command with a time limit; `None` if it had to be killed.
pub fn try_run_timeout(cmd: &mut Command, limit: Duration) -> Option<Output> {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let out = child.stdout.take();
    let err = child.stderr.take();
    let t_out = std::thread::spawn(move || read_all(out));
    let t_err = std::thread::spawn(move || read_all(err));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Some(Output { status, stdout: t_out.join().unwrap_or_default(), stderr: t_err.join().unwrap_or_default() })
}

fn read_all<R: std::io::Read>(r: Option<R>) -> Vec<u8> {
    let mut v = Vec::new();
    if let Some(mut r) = r {
        let _ = r.read_to_end(&mut v);
    }
    v
}

/// virsh with `-c uri` and one command line (commands separated by `;`). stdout+stderr.
pub fn virsh(uri: &str, cmdline: &str) -> (bool, String) {
    let o = run_timeout(Command::new("virsh").arg("-q").arg("-c").arg(uri).arg(cmdline), Duration::from_secs(60));
    let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&o.stderr));
    (o.status.success(), s)
}

/// virsh on libvirt's own in-process test:///default, the reference output. That driver
/// sometimes hangs in libvirt 9.0 (seen with managedsave in a multi-command session, about one
/// run in ten, without any oxvirt code involved), so a run that hangs is retried.
pub fn virsh_reference(cmdline: &str) -> (bool, String) {
    for _ in 0..4 {
        let o = try_run_timeout(
            Command::new("virsh").arg("-q").arg("-c").arg("test:///default").arg(cmdline),
            Duration::from_secs(15),
        );
        if let Some(o) = o {
            let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            return (o.status.success(), s);
        }
    }
    panic!("virsh -c test:///default hung four times on: {cmdline}");
}

pub fn have(prog: &str) -> bool {
    Path::new(prog).exists()
        || std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(prog).exists())).unwrap_or(false)
}
