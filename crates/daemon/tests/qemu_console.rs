//! Real QEMU behind oxvirtd: `virsh console` talks to the guest's serial pty through a STREAM,
//! and guests keep running when the daemon stops (a new daemon finds them again).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{run_timeout, virsh, Daemon};

/// The tiny guest built by scripts/guest-image.sh (`make guest`), built here if missing.
fn guest_dir() -> PathBuf {
    let dir = std::env::var_os("OXVIRT_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/guest"));
    if !dir.join("vmlinuz").exists() || !dir.join("initrd-shell.img").exists() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/guest-image.sh");
        let st = Command::new("bash").arg(&script).arg(&dir).status().expect("running guest-image.sh");
        assert!(st.success(), "scripts/guest-image.sh failed");
    }
    dir.canonicalize().unwrap()
}

fn guest_xml(name: &str) -> String {
    let g = guest_dir();
    format!(
        "<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{k}</kernel>
    <initrd>{i}</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 oxvirt.mode=shell</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
  </devices>
</domain>",
        k = g.join("vmlinuz").display(),
        i = g.join("initrd-shell.img").display(),
    )
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs virsh 9.0, QEMU and the test guest (make test)")]
fn virsh_console_reaches_guest_shell_and_guest_outlives_daemon() {
    let root = tempfile::tempdir().unwrap();
    let uri = format!("qemu:///embed?root={}", root.path().join("root").display());
    let xml = root.path().join("rpccons.xml");
    std::fs::write(&xml, guest_xml("rpccons")).unwrap();

    let mut d = Daemon::start_opts(&[], &uri, tempfile::tempdir().unwrap());
    let (ok, out) = virsh(&d.uri_default(), &format!("define {}; start rpccons; domstate rpccons", xml.display()));
    assert!(ok && out.contains("running"), "{out}\n{}", d.log());

    // statistics of the running guest over CONNECT_GET_ALL_DOMAIN_STATS
    let (ok, stats) = virsh(&d.uri_default(), "domstats rpccons");
    assert!(ok, "{stats}");
    for key in ["state.state=1", "cpu.time=", "balloon.maximum=", "vcpu.current="] {
        assert!(stats.contains(key), "{key} missing in:\n{stats}");
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/console.py");
    let o = run_timeout(
        Command::new("/usr/bin/python3").arg(script).arg(d.uri_default()).arg("rpccons"),
        Duration::from_secs(120),
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    let ok_console = o.status.success();

    // The daemon goes away; the guest must not.
    let st = d.stop().expect("daemon did not stop");
    assert!(st.success());
    let d2 = Daemon::start_opts(&[], &uri, tempfile::tempdir().unwrap());
    let (_, state) = virsh(&d2.uri_default(), "domstate rpccons");
    let (_, cleanup) = virsh(&d2.uri_default(), "destroy rpccons; undefine rpccons");
    assert!(ok_console, "console: {stdout}\n{}\nlog:\n{}", String::from_utf8_lossy(&o.stderr), d.log());
    assert!(state.contains("running"), "after daemon restart: {state}\n{}", d2.log());
    assert!(cleanup.contains("destroyed") || cleanup.is_empty(), "{cleanup}");
}
