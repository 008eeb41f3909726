//! Own process: being a child subreaper changes how this whole test binary reaps.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oxvirt_driver_qemu::process::{is_alive, set_child_subreaper};

fn ppid(pid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("PPid:"))?.trim().parse().ok()
}

#[test]
fn orphans_come_to_us_and_are_reaped() {
    set_child_subreaper().unwrap();
    // The shell exits at once, orphaning its background sleep.
    let mut sh =
        Command::new("sh").args(["-c", "sleep 30 >/dev/null 2>&1 & echo $!"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut out = String::new();
    sh.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    sh.wait().unwrap();
    let orphan: i32 = out.trim().parse().unwrap();
    assert_eq!(ppid(orphan), Some(std::process::id() as i32), "re-parented to us");
    assert!(is_alive(orphan));

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(orphan), nix::sys::signal::Signal::SIGKILL).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while is_alive(orphan) {
        assert!(Instant::now() < deadline, "orphan still alive");
        std::thread::sleep(Duration::from_millis(10));
    }
    // is_alive reaped it: no zombie left behind.
    assert!(!std::path::Path::new(&format!("/proc/{orphan}")).exists());
}
