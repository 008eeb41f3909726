//! Running oxvirt and virsh as child processes, with a timeout, and the fixture node file.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Out {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

/// Runs a command with optional stdin and environment, killing it after 60 s.
pub fn run(bin: &str, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Out {
    let mut c = Command::new(bin);
    c.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    c.env_remove("LIBVIRT_DEFAULT_URI").env("LC_ALL", "C");
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    let mut si = child.stdin.take().expect("stdin piped");
    let input = stdin.unwrap_or("").to_string();
    let feeder = std::thread::spawn(move || {
        let _ = si.write_all(input.as_bytes());
    });
    let mut so = child.stdout.take().expect("stdout piped");
    let mut se = child.stderr.take().expect("stderr piped");
    let ro = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let re = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("{bin} {args:?} timed out");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = feeder.join();
    let out = Out {
        stdout: ro.join().expect("stdout reader"),
        stderr: re.join().expect("stderr reader"),
        code: status.code().unwrap_or(-1),
    };
    assert!(!out.stderr.contains("panicked"), "{bin} {args:?} panicked: {}", out.stderr);
    out
}

pub fn oxvirt(args: &[&str]) -> Out {
    run(env!("CARGO_BIN_EXE_oxvirt"), args, None, &[])
}

/// virsh from Debian's libvirt-clients; the comparison tests need it and say so plainly.
pub fn virsh_path() -> &'static str {
    for p in ["/usr/bin/virsh", "/usr/local/bin/virsh"] {
        if Path::new(p).exists() {
            return p;
        }
    }
    panic!("virsh is not installed: the comparison tests need Debian's libvirt-clients (run `make deps`, i.e. scripts/install-deps.sh)");
}

pub fn virsh(args: &[&str]) -> Out {
    run(virsh_path(), args, None, &[])
}

/// A test driver node file with running, paused and shut-off domains, a title, a network,
/// and a pool holding a volume.
pub const NODE_XML: &str = r#"<node xmlns:test='http://libvirt.org/schemas/domain/test'>
  <cpu>
    <mhz>2400</mhz>
    <model>x86_64</model>
    <active>4</active>
    <nodes>1</nodes>
    <sockets>1</sockets>
    <cores>2</cores>
    <threads>2</threads>
  </cpu>
  <memory>8388608</memory>
  <domain type='test'>
    <name>web</name>
    <uuid>11111111-2222-3333-4444-555555555555</uuid>
    <title>Web front end</title>
    <memory>1048576</memory>
    <vcpu>1</vcpu>
    <os><type>hvm</type></os>
  </domain>
  <domain type='test'>
    <name>Alpha</name>
    <uuid>11111111-2222-3333-4444-555555555556</uuid>
    <memory>524288</memory>
    <vcpu>2</vcpu>
    <os><type>hvm</type></os>
    <test:runstate>5</test:runstate>
  </domain>
  <domain type='test'>
    <name>db</name>
    <uuid>11111111-2222-3333-4444-555555555557</uuid>
    <memory>2097152</memory>
    <vcpu>4</vcpu>
    <os><type>hvm</type></os>
    <test:runstate>3</test:runstate>
  </domain>
  <network>
    <name>isolated</name>
    <uuid>22222222-2222-3333-4444-555555555555</uuid>
    <bridge name='virbr5'/>
    <ip address='10.9.0.1' netmask='255.255.255.0'/>
  </network>
  <pool type='dir'>
    <name>images</name>
    <uuid>33333333-2222-3333-4444-555555555555</uuid>
    <capacity unit='G'>50</capacity>
    <allocation unit='G'>10</allocation>
    <available unit='G'>40</available>
    <target><path>/images</path></target>
    <volume>
      <name>disk1.img</name>
      <capacity unit='G'>10</capacity>
      <allocation unit='M'>300</allocation>
    </volume>
  </pool>
</node>
"#;

/// Writes the node file into `dir` and returns its `test:///PATH` URI.
pub fn node_uri(dir: &Path) -> String {
    let p = dir.join("node.xml");
    std::fs::write(&p, NODE_XML).expect("write node file");
    format!("test://{}", p.display())
}

/// Output with what legitimately differs between runs or implementations masked: the test
/// driver's CPU time grows with the clock, and libvirt's hard-coded security label has no API.
pub fn normalize(s: &str) -> String {
    s.lines()
        .filter(|l| !l.starts_with("Security label:"))
        .map(|l| if l.starts_with("CPU time:") { "CPU time: <masked>" } else { l })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The test guest (kernel + initramfs, docs/guest-image.md), built once if missing;
/// `OXVIRT_GUEST_DIR` points elsewhere.
pub fn guest_dir() -> std::path::PathBuf {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let dir = std::env::var_os("OXVIRT_GUEST_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| repo.join("target/guest"));
        if !dir.join("vmlinuz").exists() || !dir.join("initrd-shell.img").exists() {
            let st =
                Command::new("bash").arg(repo.join("scripts/guest-image.sh")).arg(&dir).stdout(Stdio::null()).status();
            assert!(st.is_ok_and(|s| s.success()), "scripts/guest-image.sh {} failed", dir.display());
        }
        dir.canonicalize().expect("guest dir")
    })
    .clone()
}

/// Live QEMU processes whose command line names `root` (zombies do not count).
pub fn qemus_of(root: &Path) -> Vec<i32> {
    let needle = root.display().to_string();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        let args: Vec<String> = cmd.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if !args.first().is_some_and(|a| a.contains("qemu-system")) || !args.iter().any(|a| a.contains(&needle)) {
            continue;
        }
        if alive(pid) {
            out.push(pid);
        }
    }
    out
}

/// Whether `pid` runs (a zombie has exited).
pub fn alive(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let state = stat.rsplit_once(')').and_then(|(_, r)| r.trim_start().chars().next());
    !matches!(state, Some('Z') | Some('X') | None)
}
