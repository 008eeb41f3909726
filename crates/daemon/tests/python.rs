//! libvirt-python (Debian's python3-libvirt, for /usr/bin/python3) against a real oxvirtd.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{run_timeout, Daemon};

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs python3-libvirt (make test)")]
fn python_receives_lifecycle_events() {
    let py = "/usr/bin/python3";
    let probe = run_timeout(Command::new(py).args(["-c", "import libvirt"]), Duration::from_secs(30));
    assert!(probe.status.success(), "python3-libvirt is missing: run scripts/install-deps.sh");
    let d = Daemon::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/events.py");
    let o = run_timeout(Command::new(py).arg(script).arg(d.uri()), Duration::from_secs(60));
    assert!(
        o.status.success(),
        "stdout: {}\nstderr: {}\nlog:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
        d.log()
    );
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs python3-libvirt (make test)")]
fn python_read_only_socket_refuses_define() {
    let d = Daemon::start();
    let code = "import libvirt, sys\n\
c = libvirt.open(sys.argv[1])\n\
try:\n    c.defineXML(\"<domain type='test'><name>x</name><memory>1024</memory><os><type>hvm</type></os></domain>\")\n\
except libvirt.libvirtError as e:\n    print(e.get_error_code(), e)\n    sys.exit(0)\n\
sys.exit(1)\n";
    let o = run_timeout(Command::new("/usr/bin/python3").args(["-c", code]).arg(d.uri_ro()), Duration::from_secs(30));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out} {}", String::from_utf8_lossy(&o.stderr));
    // VIR_ERR_OPERATION_DENIED
    assert!(out.starts_with("29 ") && out.contains("read only access prevents"), "{out}");
}
