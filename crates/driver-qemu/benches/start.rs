//! What oxvirt adds to starting and stopping a guest, against QEMU run by hand with the same command
//! line. `cargo bench -p oxvirt-driver-qemu --bench start`; `OXVIRT_BENCH_N` sets the rounds (default
//! 10), `OXVIRT_BIN` the CLI binary (default: `oxvirt` next to this bench's target dir, if built).
//!
//! Each round boots the test guest once per variant, in rotating order so drifting machine load hits
//! all variants alike, and times spawn → `OXVIRT-GUEST-UP` on the file serial:
//! - `raw`: `qemu-system-x86_64` with the argv oxvirt generated for the domain (read back from
//!   /proc/PID/cmdline, run-dir paths moved aside) minus `-S`, so the guest runs at once;
//! - `raw -S+cont`: the same with `-S`, and `cont` over QMP as soon as the monitor answers — the floor
//!   for any manager that configures QEMU over QMP before the guest runs, as oxvirt and libvirt do;
//! - `api`: `Domain::create` through the API in embedded mode (in-process);
//! - `cli`: the `oxvirt start` binary (process start, connect, lookup, start).
//!
//! Overheads are per-round paired differences against `raw` (boot time under TCG varies by seconds
//! under load; the difference within one round varies far less), reported as median and p90.
//! Destroy is the time of the call until QEMU is gone (raw: SIGTERM until reaped).
//! oxvirt places QEMU in its own cgroups (`machine/…`); the raw QEMU stays in the caller's. Under
//! load from other processes that changes QEMU's CPU share and so the boot time, which the
//! boot-marker columns include; the "start call until the guest runs" table does not depend on it.
//! A second part times the pieces of a start without booting (QEMU started with `-S`).

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oxvirt_api::{flags, Connect};
use oxvirt_driver_qemu::caps::CapsCache;
use oxvirt_driver_qemu::fsutil::FileLock;
use oxvirt_driver_qemu::process::{self, RunDir, SpawnSpec};
use oxvirt_qmp::Qmp;

const MARKER: &str = "OXVIRT-GUEST-UP";
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);
/// libvirt 9.0 on this machine (virsh start/destroy of the same guest), for reference.
const LIBVIRT_START_OVERHEAD_MS: f64 = 378.0;
const LIBVIRT_DESTROY_MS: f64 = 230.0;
const TARGET_MS: f64 = 20.0;

fn guest_dir() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = std::env::var_os("OXVIRT_GUEST_DIR").map(PathBuf::from).unwrap_or_else(|| repo.join("target/guest"));
    if !dir.join("vmlinuz").exists() || !dir.join("initrd-shell.img").exists() {
        let st = Command::new("bash").arg(repo.join("scripts/guest-image.sh")).arg(&dir).stdout(Stdio::null()).status();
        assert!(st.is_ok_and(|s| s.success()), "scripts/guest-image.sh failed");
    }
    dir.canonicalize().expect("guest dir")
}

fn domain_xml(serial: &Path) -> String {
    let g = guest_dir();
    format!(
        "<domain type='qemu'>
  <name>bench</name>
  <memory unit='MiB'>256</memory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{}</kernel>
    <initrd>{}</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 oxvirt.mode=shell</cmdline>
  </os>
  <features><acpi/><apic/></features>
  <devices><serial type='file'><source path='{}'/><target port='0'/></serial></devices>
</domain>",
        g.join("vmlinuz").display(),
        g.join("initrd-shell.img").display(),
        serial.display()
    )
}

fn has_marker(serial: &Path) -> bool {
    fs::read(serial).is_ok_and(|b| String::from_utf8_lossy(&b).lines().any(|l| l.trim_end_matches('\r') == MARKER))
}

/// Time from `t0` until the marker shows on the serial file (polled every 2 ms for all variants).
fn wait_marker(serial: &Path, t0: Instant) -> Duration {
    loop {
        if has_marker(serial) {
            return t0.elapsed();
        }
        assert!(t0.elapsed() < BOOT_TIMEOUT, "no {MARKER} in {} within {BOOT_TIMEOUT:?}", serial.display());
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn alive(pid: i32) -> bool {
    process::is_alive(pid)
}

fn status_pid(root: &Path) -> i32 {
    let v: serde_json::Value =
        serde_json::from_slice(&fs::read(root.join("run/qemu/bench.status")).expect("status file")).expect("status JSON");
    v["pid"].as_i64().expect("pid") as i32
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile of unsorted samples.
fn pct(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let i = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[i.clamp(1, s.len()) - 1]
}

/// The argv oxvirt uses for the domain, with its run-dir paths moved to `raw_dir` and the serial to
/// `raw_serial`; `-pidfile`/`-qmp` dropped when `for_spawn` (process::spawn adds its own).
struct Argv {
    binary: String,
    args: Vec<String>,
}

impl Argv {
    fn relocated(&self, run_dir: &str, raw_dir: &Path, serial: &Path, raw_serial: &Path, keep_s: bool, for_spawn: bool) -> Vec<String> {
        let mut out = Vec::new();
        let mut it = self.args.iter().peekable();
        while let Some(a) = it.next() {
            if a == "-S" && !keep_s {
                continue;
            }
            if for_spawn && (a == "-pidfile" || a == "-qmp") {
                it.next();
                continue;
            }
            out.push(
                a.replace(run_dir, &raw_dir.display().to_string())
                    .replace(&serial.display().to_string(), &raw_serial.display().to_string()),
            );
        }
        out
    }
}

struct RawQemu {
    child: Child,
}

impl RawQemu {
    fn spawn(binary: &str, args: &[String], log: &Path) -> RawQemu {
        let log = fs::File::create(log).expect("raw log");
        let child = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("spawn raw QEMU");
        RawQemu { child }
    }
    /// SIGTERM until reaped, as a plain `kill` + `wait` would.
    fn stop(mut self) -> Duration {
        let t0 = Instant::now();
        // SAFETY: kill has no memory effects; the pid is our child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        t0.elapsed()
    }
}

fn wait_socket_qmp(sock: &Path) -> Qmp {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(q) = Qmp::connect(sock, Duration::from_secs(10)) {
            return q;
        }
        assert!(Instant::now() < deadline, "QMP socket {} never answered", sock.display());
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn oxvirt_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("OXVIRT_BIN") {
        return Some(PathBuf::from(p));
    }
    // target/release/deps/start-HASH → target/release/oxvirt
    let exe = std::env::current_exe().ok()?;
    let p = exe.parent()?.parent()?.join("oxvirt");
    p.is_file().then_some(p)
}

#[derive(Default)]
struct Samples {
    start: Vec<f64>,
    /// Until the start call returned with vCPUs running (raw -S+cont: `cont` answered); none for `raw`.
    ready: Vec<f64>,
    destroy: Vec<f64>,
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: usize = std::env::var("OXVIRT_BENCH_N").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let tmp = tempfile::Builder::new().prefix("oxvirt-bench-").tempdir().expect("temp dir");
    let root = tmp.path().join("root");
    let uri = format!("qemu:///embed?root={}", root.display());
    oxvirt_driver_qemu::register();
    let conn = Connect::open(Some(&uri)).expect("open embed");
    let serial = tmp.path().join("serial.log");
    let (mut dom, _) = conn.define_domain(&domain_xml(&serial), 0).expect("define");

    // The exact command line oxvirt runs.
    dom.create(flags::START_PAUSED).expect("start for argv");
    let pid = status_pid(&root);
    let raw_cmdline = fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline");
    dom.destroy(0).expect("destroy");
    let mut parts: Vec<String> =
        raw_cmdline.split(|b| *b == 0).filter(|s| !s.is_empty()).map(|s| String::from_utf8_lossy(s).into_owned()).collect();
    let argv = Argv { binary: parts.remove(0), args: parts };
    let run_dir = root.join("run/qemu/bench").display().to_string();
    let raw_dir = tmp.path().join("raw");
    fs::create_dir_all(&raw_dir).expect("raw dir");
    let raw_serial = tmp.path().join("raw-serial.log");
    let run_args = argv.relocated(&run_dir, &raw_dir, &serial, &raw_serial, false, false);
    let cont_args = argv.relocated(&run_dir, &raw_dir, &serial, &raw_serial, true, false);
    let qmp_sock = cont_args
        .iter()
        .find_map(|a| a.strip_prefix("unix:").map(|s| s.split(',').next().unwrap_or(s).to_string()))
        .expect("-qmp unix: argument");
    let cli = oxvirt_bin();
    println!("oxvirt start/destroy benchmark: {n} rounds, QEMU {}", argv.binary);
    println!("argv ({} args): {} {}", argv.args.len(), argv.binary, argv.args.join(" "));
    match &cli {
        Some(p) => println!("CLI: {}", p.display()),
        None => println!("CLI: not found (build it: cargo build --release -p oxvirt-cli, or set OXVIRT_BIN); cli variant skipped"),
    }

    let variants: Vec<&str> = if cli.is_some() { vec!["raw", "raw -S+cont", "api", "cli"] } else { vec!["raw", "raw -S+cont", "api"] };
    let mut res: Vec<Samples> = variants.iter().map(|_| Samples::default()).collect();
    let raw_log = tmp.path().join("raw-qemu.log");
    // Round 0 warms caches (page cache, caps cache) and is not counted.
    for round in 0..=n {
        for k in 0..variants.len() {
            let v = (round + k) % variants.len();
            let mut ready = None;
            let (start, destroy) = match variants[v] {
                "raw" => {
                    let _ = fs::remove_file(&raw_serial);
                    let t0 = Instant::now();
                    let q = RawQemu::spawn(&argv.binary, &run_args, &raw_log);
                    let s = wait_marker(&raw_serial, t0);
                    (s, q.stop())
                }
                "raw -S+cont" => {
                    let _ = fs::remove_file(&raw_serial);
                    let _ = fs::remove_file(&qmp_sock);
                    let t0 = Instant::now();
                    let q = RawQemu::spawn(&argv.binary, &cont_args, &raw_log);
                    let mut qmp = wait_socket_qmp(Path::new(&qmp_sock));
                    qmp.execute("cont", None).expect("cont");
                    ready = Some(t0.elapsed());
                    let s = wait_marker(&raw_serial, t0);
                    drop(qmp);
                    (s, q.stop())
                }
                "api" => {
                    let _ = fs::remove_file(&serial);
                    let t0 = Instant::now();
                    dom.create(0).expect("api start");
                    ready = Some(t0.elapsed());
                    let s = wait_marker(&serial, t0);
                    let pid = status_pid(&root);
                    let t1 = Instant::now();
                    dom.destroy(0).expect("api destroy");
                    while alive(pid) {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    (s, t1.elapsed())
                }
                _ => {
                    let bin = cli.as_ref().expect("cli");
                    let _ = fs::remove_file(&serial);
                    let t0 = Instant::now();
                    let st = Command::new(bin).args(["-c", &uri, "start", "bench"]).stdout(Stdio::null()).status().expect("oxvirt start");
                    assert!(st.success(), "oxvirt start failed");
                    ready = Some(t0.elapsed());
                    let s = wait_marker(&serial, t0);
                    let pid = status_pid(&root);
                    let t1 = Instant::now();
                    let st = Command::new(bin).args(["-c", &uri, "destroy", "bench"]).stdout(Stdio::null()).status().expect("oxvirt destroy");
                    assert!(st.success(), "oxvirt destroy failed");
                    while alive(pid) {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    (s, t1.elapsed())
                }
            };
            if round > 0 {
                res[v].start.push(ms(start));
                res[v].destroy.push(ms(destroy));
                if let Some(r) = ready {
                    res[v].ready.push(ms(r));
                }
            }
        }
        if round > 0 {
            eprint!("\rround {round}/{n}");
        }
    }
    eprintln!();

    println!("\nstart → {MARKER} (ms) and destroy until QEMU is gone (ms):");
    println!("{:<14} {:>10} {:>10} {:>12} {:>12}", "variant", "start p50", "start p90", "destroy p50", "destroy p90");
    for (v, s) in variants.iter().zip(&res) {
        println!(
            "{:<14} {:>10.0} {:>10.0} {:>12.1} {:>12.1}",
            v,
            pct(&s.start, 50.0),
            pct(&s.start, 90.0),
            pct(&s.destroy, 50.0),
            pct(&s.destroy, 90.0)
        );
    }
    println!("\nstart overhead = paired difference to `raw` in the same round (ms):");
    println!(
        "{:<14} {:>10} {:>10} {:>16} {:>14}",
        "variant", "p50", "p90", "vs libvirt 378", "vs target 20"
    );
    for (v, s) in variants.iter().zip(&res).skip(1) {
        let d: Vec<f64> = s.start.iter().zip(&res[0].start).map(|(a, b)| a - b).collect();
        let p50 = pct(&d, 50.0);
        println!(
            "{:<14} {:>+10.0} {:>+10.0} {:>15.2}x {:>13.1}x",
            v,
            p50,
            pct(&d, 90.0),
            p50 / LIBVIRT_START_OVERHEAD_MS,
            p50 / TARGET_MS
        );
    }
    let floor = 1;
    for (v, s) in variants.iter().zip(&res).skip(2) {
        let d: Vec<f64> = s.start.iter().zip(&res[floor].start).map(|(a, b)| a - b).collect();
        println!("{:<14} {:>+10.0} {:>+10.0}   (vs raw -S+cont: oxvirt's own share)", v, pct(&d, 50.0), pct(&d, 90.0));
    }
    println!("\nstart call until the guest runs (raw -S+cont: spawn until `cont` answered), no boot noise (ms):");
    println!("{:<14} {:>10} {:>10} {:>18} {:>18}", "variant", "p50", "p90", "- raw -S+cont p50", "- raw -S+cont p90");
    for (v, s) in variants.iter().zip(&res).skip(1) {
        let d: Vec<f64> = s.ready.iter().zip(&res[1].ready).map(|(a, b)| a - b).collect();
        println!("{:<14} {:>10.1} {:>10.1} {:>+18.1} {:>+18.1}", v, pct(&s.ready, 50.0), pct(&s.ready, 90.0), pct(&d, 50.0), pct(&d, 90.0));
    }
    println!("\ndestroy (ms):");
    println!("{:<14} {:>10} {:>10} {:>16} {:>14}", "variant", "p50", "p90", "vs libvirt 230", "vs target 20");
    for (v, s) in variants.iter().zip(&res) {
        let p50 = pct(&s.destroy, 50.0);
        println!(
            "{:<14} {:>10.1} {:>10.1} {:>15.2}x {:>13.1}x",
            v,
            p50,
            pct(&s.destroy, 90.0),
            p50 / LIBVIRT_DESTROY_MS,
            p50 / TARGET_MS
        );
    }

    breakdown(&conn, &root, &argv, &run_dir, tmp.path(), &serial, cli.as_deref(), &uri);
    let _ = dom.undefine(0);
}

/// Times the pieces of a start without booting a guest (QEMU with `-S`).
#[allow(clippy::too_many_arguments)]
fn breakdown(conn: &Connect, root: &Path, argv: &Argv, run_dir: &str, tmp: &Path, serial: &Path, cli: Option<&Path>, uri: &str) {
    const M: usize = 20;
    let mut rows: Vec<(&str, Vec<f64>)> = Vec::new();
    let mut time = |name: &'static str, f: &mut dyn FnMut() -> Duration| {
        let v: Vec<f64> = (0..M).map(|_| ms(f())).collect();
        rows.push((name, v));
    };
    let emulator = PathBuf::from(&argv.binary);
    time("Connect::open (embed)", &mut || {
        let t = Instant::now();
        let c = Connect::open(Some(uri)).expect("open");
        let d = t.elapsed();
        drop(c);
        d
    });
    time("lookup_domain_by_name", &mut || {
        let t = Instant::now();
        let _ = conn.lookup_domain_by_name("bench").expect("lookup");
        t.elapsed()
    });
    let lock = root.join("run/qemu/driver.lock");
    time("driver lock acquire", &mut || {
        let t = Instant::now();
        let l = FileLock::acquire(&lock, Duration::from_secs(5)).expect("lock");
        let d = t.elapsed();
        drop(l);
        d
    });
    let cache = CapsCache::new(root.join("cache/qemu/capabilities"));
    time("caps cache read (hit)", &mut || {
        let t = Instant::now();
        let _ = cache.get(&emulator).expect("caps");
        t.elapsed()
    });
    let (caps, _) = cache.get(&emulator).expect("caps");
    time("KVM check (cached verdict)", &mut || {
        let t = Instant::now();
        let _ = oxvirt_driver_qemu::accel::kvm_usability(&caps, &root.join("cache/qemu"));
        t.elapsed()
    });
    let fsync_file = tmp.join("fsync-probe");
    {
        let mut d = conn.lookup_domain_by_name("bench").expect("lookup");
        d.create(flags::START_PAUSED).expect("start");
        let sock = root.join("run/qemu/bench/qmp.sock");
        time("QMP connect + query-status", &mut || {
            let t = Instant::now();
            let mut q = Qmp::connect(&sock, Duration::from_secs(10)).expect("qmp");
            let _ = q.execute("query-status", None);
            t.elapsed()
        });
        time("domstate via API (re-attach)", &mut || {
            let t = Instant::now();
            let _ = d.state().expect("state");
            t.elapsed()
        });
        d.destroy(0).expect("destroy");
    }
    time("write_atomic (1 status file)", &mut || {
        let t = Instant::now();
        oxvirt_driver_qemu::fsutil::write_atomic(&fsync_file, &[b'x'; 4096], 0o600).expect("write");
        t.elapsed()
    });
    let spawn_dir = tmp.join("spawn");
    let spawn_serial = tmp.join("spawn-serial.log");
    let spawn_args = argv.relocated(run_dir, &spawn_dir, serial, &spawn_serial, true, true);
    let mut cont = Vec::new();
    time("spawn -S until QMP ready", &mut || {
        let spec = SpawnSpec {
            binary: PathBuf::from(&argv.binary),
            args: spawn_args.iter().map(Into::into).collect(),
            run_dir: RunDir::new(&spawn_dir),
            timeout: Duration::from_secs(60),
            pass_fds: Vec::new(),
        };
        let t = Instant::now();
        let (p, mut qmp) = process::spawn(&spec).expect("spawn");
        let d = t.elapsed();
        let t2 = Instant::now();
        let _ = qmp.execute("query-chardev", None);
        qmp.execute("cont", None).expect("cont");
        cont.push(ms(t2.elapsed()));
        drop(qmp);
        let _ = p.kill(Duration::from_secs(3));
        d
    });
    time("API start --paused (whole)", &mut || {
        let mut d = conn.lookup_domain_by_name("bench").expect("lookup");
        let t = Instant::now();
        d.create(flags::START_PAUSED).expect("start");
        let e = t.elapsed();
        d.destroy(0).expect("destroy");
        e
    });
    if let Some(bin) = cli {
        time("CLI process: oxvirt --version", &mut || {
            let t = Instant::now();
            let _ = Command::new(bin).arg("--version").stdout(Stdio::null()).status();
            t.elapsed()
        });
        time("CLI: domstate (open+lookup)", &mut || {
            let t = Instant::now();
            let _ = Command::new(bin).args(["-c", uri, "domstate", "bench"]).stdout(Stdio::null()).status();
            t.elapsed()
        });
    }
    let at = rows.iter().position(|(n, _)| *n == "spawn -S until QMP ready").map_or(rows.len(), |i| i + 1);
    rows.insert(at, ("query-chardev + cont", cont));
    println!("\nwhere a start's time goes ({M} runs each, ms):");
    println!("{:<32} {:>8} {:>8}", "step", "p50", "p90");
    for (name, v) in &rows {
        println!("{:<32} {:>8.2} {:>8.2}", name, pct(v, 50.0), pct(v, 90.0));
    }
}
