//! Does KVM actually work here?
//!
//! `/dev/kvm` existing, opening, and QEMU reporting `present: true` prove little: on a
//! nested host whose KVM backend cannot run ordinary guests natively (e.g. PVM, which
//! only runs PVM-enabled kernels natively and emulates everything else) every guest
//! "starts" and then crawls. So the check builds a one-page real-mode VM through the KVM
//! ioctl API, expects a `hlt` to come back as `KVM_EXIT_HLT`, then times a busy loop: a
//! hardware-assisted vCPU runs it hundreds of times faster than an emulating one.

use std::ffi::CString;
use std::fs;
use std::io;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use kvm_bindings::{kvm_regs, kvm_userspace_memory_region};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd};
use serde::{Deserialize, Serialize};

pub const DEFAULT_KVM_DEVICE: &str = "/dev/kvm";

/// Guest loop iterations per second (2 instructions each) below which guest code is
/// considered emulated. Hardware-assisted vCPUs do ~10^9; emulation ~10^6.
pub const MIN_NATIVE_LOOP_RATE: f64 = 50e6;

/// Bounds the whole VM test; a KVM_RUN that never returns is reported, not waited for.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvmVerdict {
    Usable,
    /// No `/dev/kvm`.
    NoDevice,
    /// `/dev/kvm` exists but cannot be opened read-write (permissions, busy).
    NotOpenable,
    /// QEMU was built without KVM (`query-kvm` says `present: false`).
    QemuWithoutKvm,
    /// An ioctl failed or the test guest did not behave.
    Broken,
    /// KVM runs the test guest, but far too slowly to be hardware-assisted.
    Emulated,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvmUsability {
    pub verdict: KvmVerdict,
    /// Human-readable explanation, including host facts that explain a failure.
    pub reason: String,
    /// Measured guest loop iterations per second, when the test guest got that far.
    pub loop_rate: Option<f64>,
}

impl KvmUsability {
    pub fn usable(&self) -> bool {
        self.verdict == KvmVerdict::Usable
    }

    /// Checks `/dev/kvm`; `qemu_has_kvm` is [`super::KvmSupport::present`].
    pub fn check(qemu_has_kvm: bool) -> KvmUsability {
        Self::check_device(Path::new(DEFAULT_KVM_DEVICE), qemu_has_kvm)
    }

    pub fn check_device(dev: &Path, qemu_has_kvm: bool) -> KvmUsability {
        let verdict = |verdict, reason: String, loop_rate| KvmUsability { verdict, reason, loop_rate };
        if !dev.exists() {
            return verdict(KvmVerdict::NoDevice, format!("{} does not exist; {}", dev.display(), host_facts()), None);
        }
        let kvm = match open_rw(dev) {
            Ok(fd) => fd,
            Err(e) => {
                return verdict(KvmVerdict::NotOpenable, format!("cannot open {} read-write: {e}", dev.display()), None)
            }
        };
        if !qemu_has_kvm {
            return verdict(
                KvmVerdict::QemuWithoutKvm,
                "QEMU reports no KVM support (query-kvm present=false)".into(),
                None,
            );
        }
        let (tx, rx) = mpsc::channel();
        let spawned = thread::Builder::new().name("kvm-check".into()).spawn(move || {
            let _ = tx.send(test_vm(kvm));
        });
        if let Err(e) = spawned {
            return verdict(KvmVerdict::Broken, format!("starting the test thread: {e}"), None);
        }
        let result = match rx.recv_timeout(TEST_TIMEOUT) {
            Ok(r) => r,
            // The thread is left behind; it holds only its own fds and memory.
            Err(mpsc::RecvTimeoutError::Timeout) => {
                Err(format!("the test guest did not finish within {TEST_TIMEOUT:?} (KVM_RUN never returned)"))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err("the test thread died".into()),
        };
        match result {
            Err(e) => verdict(KvmVerdict::Broken, format!("{e}; {}", host_facts()), None),
            Ok(rate) if rate < MIN_NATIVE_LOOP_RATE => verdict(
                KvmVerdict::Emulated,
                format!(
                    "KVM runs a test guest (hlt exits as expected) but executes its code at only \
                     {:.2} M loop iterations/s; hardware-assisted KVM manages more than {:.0} M/s \
                     and even TCG beats this, so guest instructions are being emulated, not run \
                     natively: standard guests (firmware, Linux) would crawl; {}",
                    rate / 1e6,
                    MIN_NATIVE_LOOP_RATE / 1e6,
                    host_facts()
                ),
                Some(rate),
            ),
            Ok(rate) => verdict(
                KvmVerdict::Usable,
                format!("KVM ran a test guest natively at {:.0} M loop iterations/s; {}", rate / 1e6, host_facts()),
                Some(rate),
            ),
        }
    }
}

fn open_rw(dev: &Path) -> io::Result<Kvm> {
    let c =
        CString::new(dev.as_os_str().as_encoded_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // Opens read-write with O_CLOEXEC.
    Kvm::new_with_path(&c).map_err(io::Error::from)
}

/// CPU virtualization flags and the KVM backend module, which explain most failures.
pub fn host_facts() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags: Vec<&str> = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, f)| f.split_whitespace().collect())
        .unwrap_or_default();
    let has = |f: &str| flags.contains(&f);
    let cpu = match (has("vmx"), has("svm")) {
        (true, _) => "host CPU has vmx (Intel VT-x)",
        (_, true) => "host CPU has svm (AMD-V)",
        _ => "host CPU advertises neither vmx nor svm",
    };
    let nested = if has("hypervisor") { " and runs under a hypervisor (nested)" } else { "" };
    let modules: Vec<&str> =
        ["kvm_intel", "kvm_amd", "kvm_pvm"].into_iter().filter(|m| Path::new("/sys/module").join(m).exists()).collect();
    let backend = if modules.is_empty() {
        "no KVM vendor module loaded".to_owned()
    } else {
        format!("KVM backend module: {}", modules.join(", "))
    };
    let pvm = if modules.contains(&"kvm_pvm") {
        " (PVM: paravirtualized nested KVM without hardware virtualization; only \
         PVM-enabled guest kernels run natively)"
    } else {
        ""
    };
    format!("{cpu}{nested}; {backend}{pvm}")
}

// --- The ioctl test -------------------------------------------------------------------

/// Guest physical layout: one 64 KiB slot at 0, code at 0x1000.
const MEM_SIZE: usize = 0x10000;
const CODE_AT: usize = 0x1000;
/// Inner-loop iterations between port writes (each write returns to us).
const CHUNK: u32 = 20_000;

/// The test guest's memory: page-aligned, as KVM requires of a memory slot's host address.
#[repr(C, align(4096))]
struct GuestMemory([u8; MEM_SIZE]);

/// 16-bit real-mode code:
/// ```text
/// 1000: hlt                  ; first run must exit with KVM_EXIT_HLT
/// 1001: mov ecx, CHUNK
/// 1007: dec ecx
/// 1009: jnz 1007
/// 100b: out 0x10, al         ; KVM_EXIT_IO once per chunk
/// 100d: jmp 1001
/// ```
fn guest_code() -> Vec<u8> {
    let mut c = vec![0xf4, 0x66, 0xb9];
    c.extend_from_slice(&CHUNK.to_le_bytes());
    c.extend_from_slice(&[0x66, 0x49, 0x75, 0xfc, 0xe6, 0x10, 0xeb, 0xf2]);
    c
}

/// What a KVM_RUN came back with, kept apart from the vCPU so that it can be reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    Hlt,
    IoOut(u16),
    FailEntry(u64),
    InternalError,
    /// Any other exit, named as in `<linux/kvm.h>` (`KVM_EXIT_<name>`) with its number.
    Other(&'static str, u32),
}

impl From<VcpuExit<'_>> for Exit {
    fn from(exit: VcpuExit<'_>) -> Exit {
        match exit {
            VcpuExit::Hlt => Exit::Hlt,
            VcpuExit::IoOut(port, _) => Exit::IoOut(port),
            VcpuExit::FailEntry(reason, _cpu) => Exit::FailEntry(reason),
            VcpuExit::InternalError => Exit::InternalError,
            VcpuExit::Unknown => Exit::Other("UNKNOWN", kvm_bindings::KVM_EXIT_UNKNOWN),
            VcpuExit::Exception => Exit::Other("EXCEPTION", kvm_bindings::KVM_EXIT_EXCEPTION),
            VcpuExit::IoIn(..) => Exit::Other("IO (in)", kvm_bindings::KVM_EXIT_IO),
            VcpuExit::MmioRead(..) | VcpuExit::MmioWrite(..) => Exit::Other("MMIO", kvm_bindings::KVM_EXIT_MMIO),
            VcpuExit::Shutdown => Exit::Other("SHUTDOWN", kvm_bindings::KVM_EXIT_SHUTDOWN),
            VcpuExit::Intr => Exit::Other("INTR", kvm_bindings::KVM_EXIT_INTR),
            VcpuExit::Unsupported(r) => Exit::Other("other", r),
            _ => Exit::Other("other", u32::MAX),
        }
    }
}

fn describe(exit: Exit) -> String {
    match exit {
        Exit::Hlt => format!("KVM_EXIT_HLT ({})", kvm_bindings::KVM_EXIT_HLT),
        Exit::IoOut(port) => format!("KVM_EXIT_IO (port {port:#x})"),
        Exit::FailEntry(reason) => {
            format!("KVM_EXIT_FAIL_ENTRY (hardware entry failure reason {reason:#x})")
        }
        Exit::InternalError => "KVM_EXIT_INTERNAL_ERROR".to_owned(),
        Exit::Other(name, u32::MAX) => format!("KVM_EXIT_{name}"),
        Exit::Other(name, r) => format!("KVM_EXIT_{name} ({r})"),
    }
}

/// KVM_RUN until it returns other than interrupted.
fn run(vcpu: &mut VcpuFd) -> Result<Exit, String> {
    loop {
        match vcpu.run() {
            Ok(exit) => return Ok(exit.into()),
            Err(e) if e.errno() == libc::EINTR => continue,
            Err(e) => return Err(format!("KVM_RUN: {e}")),
        }
    }
}

/// Returns the measured loop rate (iterations per second).
fn test_vm(kvm: Kvm) -> Result<f64, String> {
    let version = kvm.get_api_version();
    if version < 0 {
        return Err(format!("KVM_GET_API_VERSION: {}", io::Error::last_os_error()));
    }
    if version as u32 != kvm_bindings::KVM_API_VERSION {
        return Err(format!("KVM API version {version}, expected {}", kvm_bindings::KVM_API_VERSION));
    }
    // Declared before the VM so that it is dropped after it: KVM may use it until then.
    let mut mem = Box::new(GuestMemory([0; MEM_SIZE]));
    let code = guest_code();
    mem.0[CODE_AT..CODE_AT + code.len()].copy_from_slice(&code);

    let vm = kvm.create_vm().map_err(|e| format!("KVM_CREATE_VM: {e}"))?;
    let region = kvm_userspace_memory_region {
        slot: 0,
        flags: 0,
        guest_phys_addr: 0,
        memory_size: MEM_SIZE as u64,
        userspace_addr: mem.0.as_mut_ptr() as u64,
    };
    // SAFETY: the region describes `mem`, MEM_SIZE page-aligned bytes that outlive `vm`
    // (declared before it, so dropped after it) and that nothing on our side touches again
    // while the guest may use them.
    unsafe { vm.set_user_memory_region(region) }.map_err(|e| format!("KVM_SET_USER_MEMORY_REGION: {e}"))?;
    let mut vcpu = vm.create_vcpu(0).map_err(|e| format!("KVM_CREATE_VCPU: {e}"))?;

    let mut sregs = vcpu.get_sregs().map_err(|e| format!("KVM_GET_SREGS: {e}"))?;
    // Real mode with CS base 0 so that IP addresses the code directly.
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    vcpu.set_sregs(&sregs).map_err(|e| format!("KVM_SET_SREGS: {e}"))?;
    let regs = kvm_regs { rip: CODE_AT as u64, rflags: 0x2, ..kvm_regs::default() };
    vcpu.set_regs(&regs).map_err(|e| format!("KVM_SET_REGS: {e}"))?;

    let first = run(&mut vcpu)?;
    if first != Exit::Hlt {
        return Err(format!("the test guest's hlt came back as {} instead of KVM_EXIT_HLT", describe(first)));
    }

    let start = Instant::now();
    let mut iterations: u64 = 0;
    loop {
        let exit = run(&mut vcpu)?;
        if exit != Exit::IoOut(0x10) {
            return Err(format!(
                "the test guest's loop exited with {} instead of KVM_EXIT_IO on port 0x10",
                describe(exit)
            ));
        }
        iterations += u64::from(CHUNK);
        let elapsed = start.elapsed();
        if elapsed >= Duration::from_millis(50) || iterations >= 1_000 * u64::from(CHUNK) {
            return Ok(iterations as f64 / elapsed.as_secs_f64().max(1e-9));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kvm_structures_match_linux_headers() {
        // The ioctl numbers encode these sizes (KVM_SET_USER_MEMORY_REGION 0x4020_ae46,
        // KVM_GET_SREGS 0x8138_ae83, KVM_SET_REGS 0x4090_ae82).
        assert_eq!(size_of::<kvm_userspace_memory_region>(), 0x20);
        assert_eq!(size_of::<kvm_bindings::kvm_sregs>(), 0x138);
        assert_eq!(size_of::<kvm_regs>(), 0x90);
        assert_eq!(kvm_bindings::KVM_API_VERSION, 12);
        assert_eq!(align_of::<GuestMemory>(), 4096);
    }

    #[test]
    fn exits_are_described_like_linux_names_them() {
        assert_eq!(describe(Exit::IoOut(0x10)), "KVM_EXIT_IO (port 0x10)");
        assert_eq!(describe(Exit::Hlt), "KVM_EXIT_HLT (5)");
        assert_eq!(
            describe(Exit::FailEntry(0x80000021)),
            "KVM_EXIT_FAIL_ENTRY (hardware entry failure reason 0x80000021)"
        );
        assert_eq!(describe(Exit::from(VcpuExit::Shutdown)), "KVM_EXIT_SHUTDOWN (8)");
    }

    #[test]
    fn guest_code_layout() {
        let c = guest_code();
        assert_eq!(c.len(), 15);
        assert_eq!(c[0], 0xf4);
        assert_eq!(&c[3..7], &CHUNK.to_le_bytes());
    }

    #[test]
    fn missing_device_is_reported() {
        let u = KvmUsability::check_device(Path::new("/nonexistent/kvm"), true);
        assert_eq!(u.verdict, KvmVerdict::NoDevice);
        assert!(u.reason.contains("does not exist"), "{}", u.reason);
    }
}
