//! The `oxvirt` binary driving real QEMU guests (TCG) through the QEMU driver in embedded mode:
//! every step is a separate CLI process on a temp root, so each call re-attaches to guests a
//! previous call left running, as a user's shell session would.
//!
//! The guest is the tiny image of scripts/guest-image.sh (docs/guest-image.md); it is built when
//! missing. Timeouts are generous: under TCG a boot takes 2–8 s on a loaded 2-core machine.

mod common;

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{alive, guest_dir, qemus_of, run, Out};

const BOOT: Duration = Duration::from_secs(120);
const MARKER: &str = "OXVIRT-GUEST-UP";
const PROMPT: &str = "oxvirt# ";

// ---- guest and root -------------------------------------------------------------------------

enum Serial<'a> {
    File(&'a Path),
    Pty,
}

fn guest_xml(kind: &str, name: &str, mode: &str, serial: Serial) -> String {
    guest_xml_with_kernel(kind, name, mode, serial, &guest_dir().join("vmlinuz"))
}

fn guest_xml_with_kernel(kind: &str, name: &str, mode: &str, serial: Serial, kernel: &Path) -> String {
    let serial = match serial {
        Serial::File(p) => format!("<serial type='file'><source path='{}'/><target port='0'/></serial>", p.display()),
        Serial::Pty => "<serial type='pty'><target port='0'/></serial><console type='pty'><target type='serial' port='0'/></console>".into(),
    };
    format!(
        "<domain type='{kind}'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 oxvirt.mode={mode}</cmdline>
  </os>
  <features><acpi/><apic/></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>{serial}</devices>
</domain>",
        kernel = kernel.display(),
        initrd = guest_dir().join("initrd-shell.img").display(),
    )
}

/// One embedded-mode state directory; guests left behind by a failing test are killed on drop.
struct Root {
    dir: tempfile::TempDir,
    uri: String,
}

impl Root {
    fn new() -> Root {
        let dir = tempfile::Builder::new().prefix("oxvirt-e2e-").tempdir().expect("temp root");
        let uri = format!("qemu:///embed?root={}", dir.path().display());
        Root { dir, uri }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn ox(&self, args: &[&str]) -> Out {
        let mut a = vec!["-c", self.uri.as_str()];
        a.extend_from_slice(args);
        run(env!("CARGO_BIN_EXE_oxvirt"), &a, None, &[])
    }
    /// Runs a command that must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.ox(args);
        assert_eq!(o.code, 0, "oxvirt {args:?} failed:\n{}{}", o.stdout, o.stderr);
        o.stdout
    }
    fn define(&self, name: &str, xml: &str) {
        let file = self.path().join(format!("{name}.xml"));
        std::fs::write(&file, xml).expect("write xml");
        self.ok(&["define", file.to_str().expect("utf-8 path")]);
    }
    fn state(&self, name: &str) -> String {
        self.ok(&["domstate", name, "--reason"]).trim().to_string()
    }
    fn status_file(&self, name: &str) -> PathBuf {
        self.path().join(format!("run/qemu/status/{name}.status"))
    }
    /// QEMU's pid from the status file, while there is one.
    fn pid(&self, name: &str) -> Option<i32> {
        let text = std::fs::read(self.status_file(name)).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
        v["pid"].as_i64().map(|p| p as i32)
    }
    /// Polls `domstate --reason` until it says `want`.
    fn wait_state(&self, name: &str, want: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.state(name);
            if s == want {
                return;
            }
            assert!(Instant::now() < deadline, "{name}: state still '{s}' after {timeout:?}, want '{want}'");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    /// The pty of the domain's console, from the live XML.
    fn console_pty(&self, name: &str) -> String {
        let xml = self.ok(&["dumpxml", name]);
        let at = xml.find("<console type='pty' tty='").unwrap_or_else(|| panic!("no pty console in live XML:\n{xml}"));
        let rest = &xml[at + "<console type='pty' tty='".len()..];
        rest[..rest.find('\'').expect("tty attribute")].to_string()
    }
    /// QEMU processes whose command line mentions this root.
    fn qemu_processes(&self) -> Vec<i32> {
        qemus_of(self.path())
    }
}

impl Root {
    /// Runs oxvirt without panicking (for cleanup), killing it after `timeout`.
    fn ox_bounded(&self, args: &[&str], timeout: Duration) {
        let Ok(mut child) = Command::new(env!("CARGO_BIN_EXE_oxvirt"))
            .args(["-c", self.uri.as_str()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        else {
            return;
        };
        let deadline = Instant::now() + timeout;
        while let Ok(None) = child.try_wait() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Guests a failing test left behind are destroyed through oxvirt (which also removes their
/// cgroups), and killed if that does not work; a later call then records them as crashed.
impl Drop for Root {
    fn drop(&mut self) {
        let names: Vec<String> = std::fs::read_dir(self.path().join("run/qemu/status"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".status")).map(str::to_owned))
            .collect();
        for n in &names {
            self.ox_bounded(&["destroy", n], Duration::from_secs(15));
        }
        let left = self.qemu_processes();
        for pid in &left {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), nix::sys::signal::Signal::SIGKILL);
        }
        if !left.is_empty() {
            for pid in left {
                wait_gone(pid, Duration::from_secs(5));
            }
            for n in &names {
                self.ox_bounded(&["domstate", n], Duration::from_secs(15));
            }
        }
    }
}

/// Running and not a zombie.
fn wait_gone(pid: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while alive(pid) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Waits for a whole line `line` in the serial log (tty lines end in `\r\n`).
fn wait_line(file: &Path, line: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if has_line(file, line) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the serial log holds `n` lines equal to `line`.
fn wait_count(file: &Path, line: &str, n: usize, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let text = std::fs::read(file).unwrap_or_default();
        if String::from_utf8_lossy(&text).lines().filter(|l| l.trim_end_matches('\r') == line).count() >= n {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn has_line(file: &Path, line: &str) -> bool {
    std::fs::read(file).is_ok_and(|b| String::from_utf8_lossy(&b).lines().any(|l| l.trim_end_matches('\r') == line))
}

/// `list` rows as (id, name, state).
fn list_rows(out: &str) -> Vec<(String, String, String)> {
    out.lines()
        .skip(2)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut w = l.split_whitespace();
            let id = w.next().unwrap_or_default().to_string();
            let name = w.next().unwrap_or_default().to_string();
            (id, name, w.collect::<Vec<_>>().join(" "))
        })
        .collect()
}

// ---- the guest's shell over its console pty -------------------------------------------------

/// The slave side of a domain's console pty, read and written by the test.
struct Pty {
    f: File,
    buf: Vec<u8>,
    /// Everything before this offset has been matched already.
    seen: usize,
    token: u32,
}

impl Pty {
    fn open(path: &str) -> Pty {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
            .open(path)
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
        // Raw, so nothing echoes the guest's output back into it or rewrites our input.
        {
            use nix::sys::termios;
            let mut t = termios::tcgetattr(&f).unwrap_or_else(|e| panic!("tcgetattr {path}: {e}"));
            termios::cfmakeraw(&mut t);
            termios::tcsetattr(&f, termios::SetArg::TCSANOW, &t).unwrap_or_else(|e| panic!("tcsetattr {path}: {e}"));
        }
        Pty { f, buf: Vec::new(), seen: 0, token: 0 }
    }

    fn fill(&mut self, wait: Duration) {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let timeout = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
        let n = poll(&mut [PollFd::new(std::os::fd::AsFd::as_fd(&self.f), PollFlags::POLLIN)], timeout).unwrap_or(0);
        if n > 0 {
            let mut b = [0u8; 4096];
            if let Ok(k) = self.f.read(&mut b) {
                self.buf.extend_from_slice(&b[..k]);
            }
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf).replace('\r', "")
    }

    /// Waits for `needle` after what was matched before; the text between.
    fn expect(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let hay = &self.buf[self.seen..];
            if let Some(i) = hay.windows(needle.len()).position(|w| w == needle.as_bytes()) {
                let before = String::from_utf8_lossy(&hay[..i]).replace('\r', "");
                self.seen += i + needle.len();
                return before;
            }
            assert!(Instant::now() < deadline, "console: no {needle:?} within {timeout:?}; got:\n{}", self.text());
            self.fill(Duration::from_millis(100));
        }
    }

    fn send(&mut self, s: &str) {
        self.f.write_all(s.as_bytes()).expect("write to console pty");
    }

    /// Runs a shell command in the guest and returns its output. The begin/end tokens are quoted in
    /// the command so they only match the shell's output, even if echo were on.
    fn sh(&mut self, cmd: &str) -> String {
        self.token += 1;
        let t = self.token;
        self.send(&format!("echo \"OX-BEGIN\"\"-{t}\"; {cmd}; echo \"OX-END\"\"-{t}\"\n"));
        self.expect(&format!("OX-BEGIN-{t}"), Duration::from_secs(60));
        self.expect(&format!("OX-END-{t}"), Duration::from_secs(60)).trim_start_matches('\n').to_string()
    }
}

/// Starts `name` paused, attaches to its console pty, resumes it and waits for the shell prompt,
/// so no boot output is lost (a pty drops what is written while nobody has it open).
fn boot_with_pty(root: &Root, name: &str) -> Pty {
    root.ok(&["start", name, "--paused"]);
    let mut pty = Pty::open(&root.console_pty(name));
    root.ok(&["resume", name]);
    pty.expect(MARKER, BOOT);
    pty.expect(PROMPT, BOOT);
    pty
}

// ---- tests ----------------------------------------------------------------------------------

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn define_start_reattach_suspend_resume_destroy() {
    let root = Root::new();
    let serial = root.path().join("serial.log");
    root.define("g1", &guest_xml("qemu", "g1", "shell", Serial::File(&serial)));
    let rows = list_rows(&root.ok(&["list", "--all"]));
    assert_eq!(rows, vec![("-".to_string(), "g1".to_string(), "shut off".to_string())]);

    let out = root.ok(&["start", "g1"]);
    assert!(out.contains("Domain 'g1' started"), "{out}");
    // The CLI process has exited (run() waited for it); QEMU lives on without it.
    assert!(
        wait_line(&serial, MARKER, BOOT),
        "guest did not boot; serial:\n{}",
        std::fs::read_to_string(&serial).unwrap_or_default()
    );
    let pid = root.pid("g1").expect("status file with QEMU's pid");
    assert!(alive(pid), "QEMU gone after the CLI exited");

    // A new CLI call re-attaches: same id everywhere, running.
    let id = root.ok(&["domid", "g1"]).trim().to_string();
    assert!(id.parse::<i32>().is_ok_and(|i| i > 0), "id {id:?}");
    let rows = list_rows(&root.ok(&["list"]));
    assert_eq!(rows, vec![(id.clone(), "g1".to_string(), "running".to_string())]);
    let info = root.ok(&["dominfo", "g1"]);
    assert!(info.contains(&format!("Id:             {id}\n")), "{info}");
    assert!(info.contains("State:          running\n"), "{info}");
    assert!(info.contains("Max memory:     262144 KiB\n"), "{info}");
    assert_eq!(root.state("g1"), "running (booted)");
    assert!(root.ok(&["dumpxml", "g1"]).contains(&format!("<domain type='qemu' id='{id}'>")));

    root.ok(&["suspend", "g1"]);
    assert_eq!(root.state("g1"), "paused (user)");
    assert_eq!(list_rows(&root.ok(&["list"]))[0].2, "paused");
    root.ok(&["resume", "g1"]);
    assert_eq!(root.state("g1"), "running (unpaused)");
    let again = root.ox(&["start", "g1"]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("already active"), "{}", again.stderr);
    assert_eq!(root.pid("g1"), Some(pid), "same QEMU throughout");

    root.ok(&["destroy", "g1"]);
    assert!(wait_gone(pid, Duration::from_secs(5)), "QEMU still there after destroy");
    assert_eq!(root.state("g1"), "shut off (destroyed)");
    assert!(!root.status_file("g1").exists());
    assert_eq!(list_rows(&root.ok(&["list", "--all"]))[0].0, "-");
    root.ok(&["undefine", "g1"]);
    assert!(list_rows(&root.ok(&["list", "--all"])).is_empty());
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn save_restore_and_managedsave_keep_guest_memory() {
    let root = Root::new();
    root.define("g2", &guest_xml("qemu", "g2", "shell", Serial::Pty));
    let mut pty = boot_with_pty(&root, "g2");
    let value = format!("value-{}", std::process::id());
    assert_eq!(pty.sh(&format!("echo {value} > /tmp/oxvirt-value; cat /tmp/oxvirt-value")).trim(), value);

    // save / restore
    let save = root.path().join("g2.save");
    let save_s = save.to_str().expect("utf-8");
    let pid = root.pid("g2").expect("pid");
    root.ok(&["save", "g2", save_s]);
    assert!(wait_gone(pid, Duration::from_secs(10)), "QEMU still there after save");
    assert_eq!(root.state("g2"), "shut off (saved)");
    assert!(std::fs::metadata(&save).is_ok_and(|m| m.len() > 1 << 20), "save image too small");
    drop(pty);
    let out = root.ok(&["restore", save_s]);
    assert!(out.contains(&format!("Domain restored from {save_s}")), "{out}");
    assert_eq!(root.state("g2"), "running (restored)");
    let mut pty = Pty::open(&root.console_pty("g2"));
    assert_eq!(pty.sh("cat /tmp/oxvirt-value").trim(), value, "guest memory not kept across save/restore");

    // managedsave, then start restores
    let pid = root.pid("g2").expect("pid");
    root.ok(&["managedsave", "g2"]);
    assert!(wait_gone(pid, Duration::from_secs(10)), "QEMU still there after managedsave");
    assert_eq!(root.state("g2"), "shut off (saved)");
    assert!(root.ok(&["dominfo", "g2"]).contains("Managed save:   yes\n"));
    drop(pty);
    root.ok(&["start", "g2"]);
    assert_eq!(root.state("g2"), "running (restored)");
    assert!(root.ok(&["dominfo", "g2"]).contains("Managed save:   no\n"), "managed save image not consumed");
    let mut pty = Pty::open(&root.console_pty("g2"));
    assert_eq!(pty.sh("cat /tmp/oxvirt-value").trim(), value, "guest memory not kept across managedsave/start");
    assert_eq!(pty.sh("echo $((6 * 7))").trim(), "42");
    root.ok(&["destroy", "g2"]);
    assert_eq!(root.state("g2"), "shut off (destroyed)");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn acpi_reboot_and_shutdown() {
    let root = Root::new();
    let serial = root.path().join("serial.log");
    root.define("g3", &guest_xml("qemu", "g3", "shell", Serial::File(&serial)));
    root.ok(&["start", "g3"]);
    assert!(wait_line(&serial, MARKER, BOOT), "guest did not boot");
    let pid = root.pid("g3").expect("pid");
    let id = root.ok(&["domid", "g3"]);

    // reboot: power button, the guest powers off, QEMU resets it (same process, same id).
    let out = root.ok(&["reboot", "g3"]);
    assert!(out.contains("Domain 'g3' is being rebooted"), "{out}");
    assert!(
        wait_count(&serial, "OXVIRT-ACPI-POWEROFF", 1, Duration::from_secs(60)),
        "guest did not see the power button"
    );
    assert!(wait_count(&serial, MARKER, 2, BOOT), "guest did not boot again after reboot");
    assert_eq!(root.state("g3"), "running (booted)");
    assert_eq!(root.ok(&["domid", "g3"]), id);
    assert_eq!(root.pid("g3"), Some(pid));

    let out = root.ok(&["shutdown", "g3"]);
    assert!(out.contains("Domain 'g3' is being shutdown"), "{out}");
    assert!(
        wait_count(&serial, "OXVIRT-ACPI-POWEROFF", 2, Duration::from_secs(60)),
        "guest did not see the power button"
    );
    root.wait_state("g3", "shut off (shutdown)", Duration::from_secs(60));
    assert!(wait_gone(pid, Duration::from_secs(10)), "QEMU left running after the guest powered off");
    assert!(!root.status_file("g3").exists());
    assert!(root.qemu_processes().is_empty());
}

/// With no daemon, the guest's `oxvirt-monitor` (started by `oxvirt start`, which then exits)
/// handles a guest that powers itself off: QEMU goes with no further oxvirt call.
#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn guest_power_off_needs_no_further_call() {
    let monitor = Path::new(env!("CARGO_BIN_EXE_oxvirt")).with_file_name("oxvirt-monitor");
    assert!(monitor.is_file(), "{} is not built (cargo build --workspace; make test does it first)", monitor.display());
    let root = Root::new();
    let serial = root.path().join("serial.log");
    root.define("pw", &guest_xml("qemu", "pw", "poweroff", Serial::File(&serial)));
    root.ok(&["start", "pw"]);
    let pid = root.pid("pw").expect("pid");
    let monitor_pid: i32 = std::fs::read_to_string(root.path().join("run/qemu/domains/pw/monitor.pid"))
        .expect("the start launched a monitor")
        .trim()
        .parse()
        .expect("monitor pid");
    assert!(wait_line(&serial, MARKER, BOOT), "guest did not boot");
    assert!(wait_gone(pid, Duration::from_secs(30)), "QEMU left running after the guest powered off");
    assert!(root.qemu_processes().is_empty());
    // The monitor exits once it has finished the stop.
    assert!(wait_gone(monitor_pid, Duration::from_secs(10)), "the monitor outlived its QEMU");
    assert!(!root.status_file("pw").exists());
    assert_eq!(root.state("pw"), "shut off (shutdown)");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn start_paused_then_killed_qemu_is_crashed() {
    let root = Root::new();
    let serial = root.path().join("serial.log");
    root.define("g4", &guest_xml("qemu", "g4", "shell", Serial::File(&serial)));
    root.ok(&["start", "g4", "--paused"]);
    assert_eq!(root.state("g4"), "paused (user)");
    assert_eq!(list_rows(&root.ok(&["list"]))[0].2, "paused");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!has_line(&serial, MARKER), "a guest started paused ran");
    root.ok(&["resume", "g4"]);
    assert!(wait_line(&serial, MARKER, BOOT), "guest did not boot after resume");

    let pid = root.pid("g4").expect("pid");
    assert_eq!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL), Ok(()));
    assert!(wait_gone(pid, Duration::from_secs(10)));
    assert_eq!(root.state("g4"), "shut off (crashed)");
    assert!(!root.status_file("g4").exists(), "status file left after the crash was noticed");
    assert_eq!(list_rows(&root.ok(&["list", "--all"]))[0], ("-".to_string(), "g4".to_string(), "shut off".to_string()));
    // It starts again.
    std::fs::remove_file(&serial).expect("remove serial log");
    root.ok(&["start", "g4"]);
    assert!(wait_line(&serial, MARKER, BOOT), "guest did not boot again after the crash");
    root.ok(&["destroy", "g4"]);
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn concurrent_cli_calls_on_one_root() {
    let root = Arc::new(Root::new());
    let serial = root.path().join("a.log");
    root.define("a", &guest_xml("qemu", "a", "shell", Serial::File(&serial)));
    root.define("b", &guest_xml("qemu", "b", "shell", Serial::Pty));
    root.ok(&["start", "a"]);
    root.ok(&["start", "b", "--paused"]);
    let id_a = root.ok(&["domid", "a"]).trim().to_string();
    let id_b = root.ok(&["domid", "b"]).trim().to_string();
    const ROUNDS: usize = 5;
    let mut workers = Vec::new();
    for w in 0..10 {
        let root = root.clone();
        let (id_a, id_b) = (id_a.clone(), id_b.clone());
        workers.push(std::thread::spawn(move || {
            for _ in 0..ROUNDS {
                match w {
                    // One writer per domain, so each suspend/resume is valid whatever the interleaving.
                    0 => {
                        root.ok(&["suspend", "a"]);
                        root.ok(&["resume", "a"]);
                    }
                    1 => {
                        root.ok(&["resume", "b"]);
                        root.ok(&["suspend", "b"]);
                    }
                    _ => {
                        let rows = list_rows(&root.ok(&["list", "--all"]));
                        assert_eq!(rows.len(), 2, "{rows:?}");
                        assert_eq!((rows[0].0.as_str(), rows[0].1.as_str()), (id_a.as_str(), "a"));
                        assert_eq!((rows[1].0.as_str(), rows[1].1.as_str()), (id_b.as_str(), "b"));
                        for r in &rows {
                            assert!(r.2 == "running" || r.2 == "paused", "{rows:?}");
                        }
                        let info = root.ok(&["dominfo", if w % 2 == 0 { "a" } else { "b" }]);
                        assert!(
                            info.contains("State:          running\n") || info.contains("State:          paused\n"),
                            "{info}"
                        );
                        root.ok(&["domstate", "a", "--reason"]);
                        root.ok(&["dumpxml", "b"]);
                    }
                }
            }
        }));
    }
    for w in workers {
        w.join().expect("worker failed");
    }
    assert_eq!(root.state("a"), "running (unpaused)");
    assert_eq!(root.state("b"), "paused (user)");
    assert_eq!(root.ok(&["domid", "a"]).trim(), id_a);
    assert!(alive(root.pid("a").expect("pid a")) && alive(root.pid("b").expect("pid b")));
    assert!(wait_line(&serial, MARKER, BOOT), "guest a did not boot while being paused and resumed");
    root.ok(&["destroy", "a"]);
    root.ok(&["destroy", "b"]);
    assert!(root.qemu_processes().is_empty());
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn kvm_domain_fails_with_a_reason_naming_kvm() {
    let root = Root::new();
    let serial = root.path().join("serial.log");
    let xml = guest_xml("kvm", "k1", "poweroff", Serial::File(&serial));
    let file = root.path().join("k1.xml");
    std::fs::write(&file, xml).expect("write");
    // Refused at define or at start; either way the message says it is about KVM.
    let def = root.ox(&["define", file.to_str().expect("utf-8")]);
    let err = if def.code == 0 {
        let o = root.ox(&["start", "k1"]);
        assert_eq!(o.code, 1, "type='kvm' started on a host whose KVM cannot run guests: {}", o.stdout);
        o.stderr
    } else {
        def.stderr
    };
    assert!(err.contains("KVM"), "{err}");
    assert!(err.contains("type='qemu'"), "no hint at the alternative: {err}");
    assert!(!root.status_file("k1").exists());
    assert!(root.qemu_processes().is_empty());
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn qemu_start_failure_reports_qemus_log_and_leaves_nothing() {
    let root = Root::new();
    let serial = root.path().join("serial.log");
    let missing = root.path().join("no-such-kernel");
    root.define("f1", &guest_xml_with_kernel("qemu", "f1", "poweroff", Serial::File(&serial), &missing));
    let o = root.ox(&["start", "f1"]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(o.stderr.contains("Failed to start domain 'f1'"), "{}", o.stderr);
    // QEMU's own words, from its log.
    let qemu_line = format!("could not open kernel file '{}'", missing.display());
    assert!(
        o.stderr.lines().any(|l| l.starts_with("qemu") && l.contains(&qemu_line)),
        "no QEMU log line in: {}",
        o.stderr
    );
    assert!(!root.status_file("f1").exists());
    assert!(root.qemu_processes().is_empty());
    assert_eq!(root.state("f1"), "shut off (unknown)");
    assert_eq!(list_rows(&root.ok(&["list", "--all"]))[0].0, "-");
}

/// `oxvirt console` as a child with pipes: what it prints, collected by a thread.
struct ConsoleSession {
    child: Child,
    out: Arc<Mutex<Vec<u8>>>,
}

impl ConsoleSession {
    fn attach(root: &Root, name: &str) -> ConsoleSession {
        let mut child = Command::new(env!("CARGO_BIN_EXE_oxvirt"))
            .args(["-c", &root.uri, "console", name])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn oxvirt console");
        let mut so = child.stdout.take().expect("stdout");
        let out = Arc::new(Mutex::new(Vec::new()));
        let o2 = out.clone();
        std::thread::spawn(move || {
            let mut b = [0u8; 4096];
            while let Ok(k) = so.read(&mut b) {
                if k == 0 {
                    break;
                }
                o2.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(&b[..k]);
            }
        });
        let s = ConsoleSession { child, out };
        s.wait_for("Escape character is ^] (Ctrl + ])", Duration::from_secs(30));
        s
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap_or_else(|e| e.into_inner())).replace('\r', "")
    }
    fn wait_for(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.text().contains(needle) {
            assert!(Instant::now() < deadline, "console: no {needle:?} within {timeout:?}; got:\n{}", self.text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    fn send(&mut self, bytes: &[u8]) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin.write_all(bytes).expect("write to console stdin");
        stdin.flush().expect("flush");
    }
    /// Ctrl+] must end the session with success.
    fn leave(mut self) {
        self.send(&[0x1d]);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                assert!(st.success(), "console exited with {st}");
                return;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("console did not leave on Ctrl+]");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ConsoleSession {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn console_sends_commands_and_ctrl_bracket_leaves() {
    let root = Root::new();
    root.define("c1", &guest_xml("qemu", "c1", "shell", Serial::Pty));
    root.ok(&["start", "c1", "--paused"]);
    let mut con = ConsoleSession::attach(&root, "c1");
    assert!(con.text().starts_with("Connected to domain 'c1'\n"), "{}", con.text());
    root.ok(&["resume", "c1"]);
    con.wait_for(MARKER, BOOT);
    con.wait_for(PROMPT, BOOT);
    con.send(b"echo \"CON\"\"SOLE-\"$((6 * 7))\n");
    con.wait_for("CONSOLE-42", Duration::from_secs(60));
    con.leave();
    assert_eq!(root.state("c1"), "running (unpaused)", "leaving the console must not stop the guest");

    // A second session on the same pty works too.
    let mut con = ConsoleSession::attach(&root, "c1");
    con.send(b"echo \"AGA\"\"IN-\"$((7 * 6))\n");
    con.wait_for("AGAIN-42", Duration::from_secs(60));
    con.leave();
    root.ok(&["destroy", "c1"]);
}

/// A guest that ignores the power button must not make other calls on the root wait for it.
#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs QEMU and the test guest (make test)")]
fn reboot_of_a_guest_ignoring_acpi_does_not_block_other_calls() {
    let root = Root::new();
    root.define("r1", &guest_xml("qemu", "r1", "shell", Serial::Pty));
    let mut pty = boot_with_pty(&root, "r1");
    pty.sh("killall acpid");
    let mut reboot = Command::new(env!("CARGO_BIN_EXE_oxvirt"))
        .args(["-c", &root.uri, "reboot", "r1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn reboot");
    std::thread::sleep(Duration::from_secs(1));
    let mut list = Command::new(env!("CARGO_BIN_EXE_oxvirt"))
        .args(["-c", &root.uri, "list"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn list");
    let t = Instant::now();
    let status = loop {
        if let Some(st) = list.try_wait().expect("wait list") {
            break Some(st);
        }
        if t.elapsed() > Duration::from_secs(10) {
            let _ = list.kill();
            let _ = list.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = reboot.kill();
    let _ = reboot.wait();
    assert!(status.is_some(), "list still blocked after 10 s while a reboot was pending");
    assert!(status.is_some_and(|s| s.success()), "list failed while a reboot was pending");
    root.ok(&["destroy", "r1"]);
}
