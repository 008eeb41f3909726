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
//! - `cli`: the `oxvirt start` binary (process start, connect, lookup, start);
//! - `libvirt api`: libvirt 9.0's `virDomainCreate` from libvirt-python over a held connection to a
//!   private session-mode libvirtd run as `nobody` for this bench (oxvirt-bench-libvirt), same domain
//!   XML (its serial file in the daemon's directory), counterpart of `api`;
//! - `virsh`: `virsh start` against that libvirtd, counterpart of `cli`.
//!
//! Without libvirtd (`scripts/install-deps.sh --bench`) the libvirt variants are skipped, saying why.
//!
//! Overheads are per-round paired differences against `raw` (boot time under TCG varies by seconds
//! under load; the difference within one round varies far less), reported as median and p90.
//! Destroy is the time of the call until QEMU is gone (raw: SIGTERM until reaped).
//! libvirt's destroy is timed the same way (the call, then until its QEMU is gone).
//! oxvirt places QEMU in its own cgroups (`machine/…`); the raw QEMU and libvirt's session-mode QEMU
//! (run as `nobody`) stay in the caller's. Under
//! load from other processes that changes QEMU's CPU share and so the boot time, which the
//! boot-marker columns include; the "start call until the guest runs" table does not depend on it.
//! A second part times the pieces of a start without booting (QEMU started with `-S`).

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oxvirt_api::Connect;
use oxvirt_bench_libvirt::{pct, run_timeout, Kind, Libvirtd, PyLibvirt};
use oxvirt_driver_qemu::caps::CapsCache;
use oxvirt_driver_qemu::fsutil::FileLock;
use oxvirt_driver_qemu::process::{self, RunDir, SpawnSpec};
use oxvirt_qmp::Qmp;

const MARKER: &str = "OXVIRT-GUEST-UP";
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);
const TARGET_MS: f64 = 20.0;
/// Each oxvirt variant's libvirt counterpart.
const COUNTERPARTS: [(&str, &str); 2] = [("api", "libvirt api"), ("cli", "virsh")];

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
        serde_json::from_slice(&fs::read(root.join("run/qemu/status/bench.status")).expect("status file"))
            .expect("status JSON");
    v["pid"].as_i64().expect("pid") as i32
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The same guest under a private libvirtd: the held libvirt-python connection and what `virsh` needs.
struct LibvirtGuest {
    lv: Libvirtd,
    py: PyLibvirt,
    serial: PathBuf,
    uri: String,
}

impl LibvirtGuest {
    fn new(scratch: &Path) -> Result<LibvirtGuest, String> {
        let lv = Libvirtd::session()?;
        let uri = lv.uri("qemu");
        let mut py = PyLibvirt::open(&uri, Kind::Domain, BOOT_TIMEOUT)?;
        let serial = lv.dir().join("serial.log");
        py.define(&domain_xml(&serial), &scratch.join("libvirt-domain.xml"))?;
        Ok(LibvirtGuest { lv, py, serial, uri })
    }

    fn qemu_pid(&self) -> i32 {
        self.lv.qemu_pid("bench").expect("libvirt's QEMU pid file")
    }

    fn virsh(&self, cmd: &str) {
        let o = run_timeout(Command::new("virsh").args(["-q", "-c", &self.uri, cmd, "bench"]), BOOT_TIMEOUT)
            .expect("virsh");
        assert!(o.status.success(), "virsh {cmd} failed: {}", String::from_utf8_lossy(&o.stderr));
    }
}

fn cmdline(pid: i32) -> Vec<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    raw.split(|b| *b == 0).filter(|s| !s.is_empty()).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
}

enum Step {
    Start,
    Pid,
    Destroy,
}

/// One start/destroy through a manager; `ctl` does each step (returning QEMU's pid for `Pid`,
/// 0 otherwise). Times the start call (into `ready`), until the marker on `serial`, and the destroy
/// call until QEMU is gone.
fn managed(serial: &Path, ready: &mut Option<Duration>, ctl: &mut dyn FnMut(Step) -> i32) -> (Duration, Duration) {
    let _ = fs::remove_file(serial);
    let t0 = Instant::now();
    ctl(Step::Start);
    *ready = Some(t0.elapsed());
    let up = wait_marker(serial, t0);
    let pid = ctl(Step::Pid);
    let t1 = Instant::now();
    ctl(Step::Destroy);
    wait_gone(pid);
    (up, t1.elapsed())
}

/// `a / b` as "0.42x"; "n/a" when either is not positive (a paired boot-time difference can be,
/// when boot-time noise exceeds the overhead).
fn ratio_text(a: f64, b: f64) -> String {
    if a > 0.0 && b > 0.0 {
        format!("{:.2}x", a / b)
    } else {
        "n/a".into()
    }
}

fn wait_gone(pid: i32) {
    let t0 = Instant::now();
    while alive(pid) {
        assert!(t0.elapsed() < BOOT_TIMEOUT, "QEMU {pid} still alive after destroy");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// The argv oxvirt uses for the domain, with its run-dir paths moved to `raw_dir` and the serial to
/// `raw_serial` (its pidfile and monitor sockets move with the run dir).
struct Argv {
    binary: String,
    args: Vec<String>,
}

impl Argv {
    fn relocated(&self, run_dir: &str, raw_dir: &Path, serial: &Path, raw_serial: &Path, keep_s: bool) -> Vec<String> {
        let mut out = Vec::new();
        for a in &self.args {
            if a == "-S" && !keep_s {
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
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
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
    dom.create(oxvirt_api::DomainCreateFlags::PAUSED).expect("start for argv");
    let pid = status_pid(&root);
    let raw_cmdline = fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline");
    dom.destroy(0).expect("destroy");
    let mut parts: Vec<String> = raw_cmdline
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    let argv = Argv { binary: parts.remove(0), args: parts };
    let run_dir = root.join("run/qemu/domains/bench").display().to_string();
    let raw_dir = tmp.path().join("raw");
    fs::create_dir_all(&raw_dir).expect("raw dir");
    let raw_serial = tmp.path().join("raw-serial.log");
    let run_args = argv.relocated(&run_dir, &raw_dir, &serial, &raw_serial, false);
    let cont_args = argv.relocated(&run_dir, &raw_dir, &serial, &raw_serial, true);
    let qmp_sock = cont_args
        .iter()
        .find_map(|a| {
            a.strip_prefix("socket,id=charmonitor,path=").map(|s| s.split(',').next().unwrap_or(s).to_string())
        })
        .expect("the QMP monitor's -chardev argument");
    let cli = oxvirt_bin();
    println!("oxvirt start/destroy benchmark: {n} rounds, QEMU {}", argv.binary);
    println!("argv ({} args): {} {}", argv.args.len(), argv.binary, argv.args.join(" "));
    match &cli {
        Some(p) => println!("CLI: {}", p.display()),
        None => println!(
            "CLI: not found (build it: cargo build --release -p oxvirt-cli, or set OXVIRT_BIN); cli variant skipped"
        ),
    }
    let mut lvg = match LibvirtGuest::new(tmp.path()) {
        Ok(g) => {
            println!("libvirt: session-mode libvirtd as nobody, {}", g.uri);
            Some(g)
        }
        Err(why) => {
            println!("libvirt comparison skipped: {why}");
            None
        }
    };

    let mut variants: Vec<&str> = vec!["raw", "raw -S+cont", "api"];
    if cli.is_some() {
        variants.push("cli");
    }
    if lvg.is_some() {
        variants.extend(["libvirt api", "virsh"]);
    }
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
                "api" => managed(&serial, &mut ready, &mut |step| {
                    match step {
                        Step::Start => dom.create(oxvirt_api::DomainCreateFlags::empty()).expect("api start"),
                        Step::Pid => return status_pid(&root),
                        Step::Destroy => dom.destroy(0).expect("api destroy"),
                    }
                    0
                }),
                "libvirt api" => {
                    let g = lvg.as_mut().expect("libvirt");
                    let serial = g.serial.clone();
                    managed(&serial, &mut ready, &mut |step| {
                        match step {
                            Step::Start => g.py.create("bench").map(drop).expect("libvirt start"),
                            Step::Pid => {
                                let pid = g.qemu_pid();
                                if round == 0 {
                                    let argv = cmdline(pid);
                                    println!(
                                        "libvirt's argv ({} args): {}",
                                        argv.len().saturating_sub(1),
                                        argv.join(" ")
                                    );
                                }
                                return pid;
                            }
                            Step::Destroy => g.py.destroy("bench").map(drop).expect("libvirt destroy"),
                        }
                        0
                    })
                }
                "virsh" => {
                    let g = lvg.as_ref().expect("libvirt");
                    managed(&g.serial, &mut ready, &mut |step| {
                        match step {
                            Step::Start => g.virsh("start"),
                            Step::Pid => return g.qemu_pid(),
                            Step::Destroy => g.virsh("destroy"),
                        }
                        0
                    })
                }
                _ => {
                    let bin = cli.as_ref().expect("cli");
                    let oxvirt = |cmd: &str| {
                        let st = Command::new(bin)
                            .args(["-c", &uri, cmd, "bench"])
                            .stdout(Stdio::null())
                            .status()
                            .expect("oxvirt");
                        assert!(st.success(), "oxvirt {cmd} failed");
                    };
                    managed(&serial, &mut ready, &mut |step| {
                        match step {
                            Step::Start => oxvirt("start"),
                            Step::Pid => return status_pid(&root),
                            Step::Destroy => oxvirt("destroy"),
                        }
                        0
                    })
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
    let idx = |name: &str| variants.iter().position(|v| *v == name);
    let counterpart = |v: &str| COUNTERPARTS.iter().find(|(o, _)| *o == v).and_then(|(_, l)| idx(l));
    let overhead =
        |i: usize, base: usize| -> Vec<f64> { res[i].start.iter().zip(&res[base].start).map(|(a, b)| a - b).collect() };
    let ready_over = |i: usize| -> Vec<f64> { res[i].ready.iter().zip(&res[1].ready).map(|(a, b)| a - b).collect() };
    // Ratio of p50s against the libvirt counterpart measured in this run; "-" without one.
    let vs = |i: usize, f: &dyn Fn(usize) -> f64| {
        counterpart(variants[i]).map_or("-".to_string(), |j| ratio_text(f(i), f(j)))
    };

    println!("\nstart overhead = paired difference to `raw` in the same round (ms):");
    println!("{:<14} {:>10} {:>10} {:>14} {:>14}", "variant", "p50", "p90", "vs libvirt", "vs target 20");
    for (i, v) in variants.iter().enumerate().skip(1) {
        let d = overhead(i, 0);
        let p50 = pct(&d, 50.0);
        println!(
            "{:<14} {:>+10.0} {:>+10.0} {:>14} {:>13.1}x",
            v,
            p50,
            pct(&d, 90.0),
            vs(i, &|k| pct(&overhead(k, 0), 50.0)),
            p50 / TARGET_MS
        );
    }
    for (i, v) in variants.iter().enumerate().skip(2) {
        let d = overhead(i, 1);
        println!(
            "{:<14} {:>+10.0} {:>+10.0}   (vs raw -S+cont: the manager's own share)",
            v,
            pct(&d, 50.0),
            pct(&d, 90.0)
        );
    }
    println!("\nstart call until the guest runs (raw -S+cont: spawn until `cont` answered), no boot noise (ms):");
    println!(
        "{:<14} {:>10} {:>10} {:>18} {:>18} {:>12}",
        "variant", "p50", "p90", "- raw -S+cont p50", "- raw -S+cont p90", "vs libvirt"
    );
    for (i, v) in variants.iter().enumerate().skip(1) {
        let d = ready_over(i);
        println!(
            "{:<14} {:>10.1} {:>10.1} {:>+18.1} {:>+18.1} {:>12}",
            v,
            pct(&res[i].ready, 50.0),
            pct(&res[i].ready, 90.0),
            pct(&d, 50.0),
            pct(&d, 90.0),
            vs(i, &|k| pct(&res[k].ready, 50.0))
        );
    }
    println!("\ndestroy (ms):");
    println!("{:<14} {:>10} {:>10} {:>14} {:>14}", "variant", "p50", "p90", "vs libvirt", "vs target 20");
    for (i, v) in variants.iter().enumerate() {
        let p50 = pct(&res[i].destroy, 50.0);
        println!(
            "{:<14} {:>10.1} {:>10.1} {:>14} {:>13.1}x",
            v,
            p50,
            pct(&res[i].destroy, 90.0),
            vs(i, &|k| pct(&res[k].destroy, 50.0)),
            p50 / TARGET_MS
        );
    }
    // Side by side: raw QEMU, oxvirt and its libvirt counterpart, with oxvirt / libvirt.
    for (ox, lv) in COUNTERPARTS {
        let (Some(o), Some(l)) = (idx(ox), idx(lv)) else { continue };
        let cell = |v: &[f64]| format!("{:.0} / {:.0}", pct(v, 50.0), pct(v, 90.0));
        let ratio = |a: &[f64], b: &[f64]| ratio_text(pct(a, 50.0), pct(b, 50.0));
        println!("\nraw QEMU, oxvirt `{ox}`, libvirt `{lv}` in this run (p50 / p90 ms; ratio of p50s):");
        println!("{:<34} {:>14} {:>14} {:>14} {:>16}", "", "raw QEMU", ox, lv, "oxvirt/libvirt");
        let (so, sl) = (&res[o].start, &res[l].start);
        println!(
            "{:<34} {:>14} {:>14} {:>14} {:>16}",
            "start → guest up",
            cell(&res[0].start),
            cell(so),
            cell(sl),
            ratio(so, sl)
        );
        let (oo, ol) = (overhead(o, 0), overhead(l, 0));
        println!(
            "{:<34} {:>14} {:>14} {:>14} {:>16}",
            "start overhead (paired, vs raw)",
            "0",
            cell(&oo),
            cell(&ol),
            ratio(&oo, &ol)
        );
        let (ro, rl) = (&res[o].ready, &res[l].ready);
        println!(
            "{:<34} {:>14} {:>14} {:>14} {:>16}",
            "start call → running (raw: -S+cont)",
            cell(&res[1].ready),
            cell(ro),
            cell(rl),
            ratio(ro, rl)
        );
        let (d_o, d_l) = (&res[o].destroy, &res[l].destroy);
        println!(
            "{:<34} {:>14} {:>14} {:>14} {:>16}",
            "destroy",
            cell(&res[0].destroy),
            cell(d_o),
            cell(d_l),
            ratio(d_o, d_l)
        );
    }
    drop(lvg);

    breakdown(&conn, &root, &argv, &run_dir, tmp.path(), &serial, cli.as_deref(), &uri);
    let _ = dom.undefine(oxvirt_api::DomainUndefineFlags::empty());
}

/// Times the pieces of a start without booting a guest (QEMU with `-S`).
#[allow(clippy::too_many_arguments)]
fn breakdown(
    conn: &Connect,
    root: &Path,
    argv: &Argv,
    run_dir: &str,
    tmp: &Path,
    serial: &Path,
    cli: Option<&Path>,
    uri: &str,
) {
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
        d.create(oxvirt_api::DomainCreateFlags::PAUSED).expect("start");
        let sock = root.join("run/qemu/domains/bench/qmp.sock");
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
    let spawn_args = argv.relocated(run_dir, &spawn_dir, serial, &spawn_serial, true);
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
        d.create(oxvirt_api::DomainCreateFlags::PAUSED).expect("start");
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
