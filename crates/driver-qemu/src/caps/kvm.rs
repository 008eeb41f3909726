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
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::ptr;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use libc::{c_ulong, c_void};
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
        let verdict = |verdict, reason: String, loop_rate| KvmUsability {
            verdict,
            reason,
            loop_rate,
        };
        if !dev.exists() {
            return verdict(
                KvmVerdict::NoDevice,
                format!("{} does not exist; {}", dev.display(), host_facts()),
                None,
            );
        }
        let kvm = match open_rw(dev) {
            Ok(fd) => fd,
            Err(e) => {
                return verdict(
                    KvmVerdict::NotOpenable,
                    format!("cannot open {} read-write: {e}", dev.display()),
                    None,
                )
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
        let spawned = thread::Builder::new()
            .name("kvm-check".into())
            .spawn(move || {
                let _ = tx.send(test_vm(kvm));
            });
        if let Err(e) = spawned {
            return verdict(
                KvmVerdict::Broken,
                format!("starting the test thread: {e}"),
                None,
            );
        }
        let result = match rx.recv_timeout(TEST_TIMEOUT) {
            Ok(r) => r,
            // The thread is left behind; it holds only its own fds and memory.
            Err(mpsc::RecvTimeoutError::Timeout) => Err(format!(
                "the test guest did not finish within {TEST_TIMEOUT:?} (KVM_RUN never returned)"
            )),
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
                format!(
                    "KVM ran a test guest natively at {:.0} M loop iterations/s; {}",
                    rate / 1e6,
                    host_facts()
                ),
                Some(rate),
            ),
        }
    }
}

fn open_rw(dev: &Path) -> io::Result<OwnedFd> {
    let c = CString::new(dev.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a valid NUL-terminated path; open has no other preconditions.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by open and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
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
    let nested = if has("hypervisor") {
        " and runs under a hypervisor (nested)"
    } else {
        ""
    };
    let modules: Vec<&str> = ["kvm_intel", "kvm_amd", "kvm_pvm"]
        .into_iter()
        .filter(|m| Path::new("/sys/module").join(m).exists())
        .collect();
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

const KVMIO: c_ulong = 0xAE;
const fn io(nr: c_ulong) -> c_ulong {
    (KVMIO << 8) | nr
}
const fn iow(nr: c_ulong, size: usize) -> c_ulong {
    (1 << 30) | ((size as c_ulong) << 16) | (KVMIO << 8) | nr
}
const fn ior(nr: c_ulong, size: usize) -> c_ulong {
    (2 << 30) | ((size as c_ulong) << 16) | (KVMIO << 8) | nr
}

const KVM_API_VERSION: i32 = 12;
const KVM_GET_API_VERSION: c_ulong = io(0x00);
const KVM_CREATE_VM: c_ulong = io(0x01);
const KVM_GET_VCPU_MMAP_SIZE: c_ulong = io(0x04);
const KVM_CREATE_VCPU: c_ulong = io(0x41);
const KVM_SET_USER_MEMORY_REGION: c_ulong = iow(0x46, size_of::<MemoryRegion>());
const KVM_RUN: c_ulong = io(0x80);
const KVM_SET_REGS: c_ulong = iow(0x82, size_of::<Regs>());
const KVM_GET_SREGS: c_ulong = ior(0x83, size_of::<Sregs>());
const KVM_SET_SREGS: c_ulong = iow(0x84, size_of::<Sregs>());

const KVM_EXIT_IO: u32 = 2;
const KVM_EXIT_HLT: u32 = 5;
const KVM_EXIT_FAIL_ENTRY: u32 = 9;
const KVM_EXIT_INTERNAL_ERROR: u32 = 17;

#[repr(C)]
struct MemoryRegion {
    slot: u32,
    flags: u32,
    guest_phys_addr: u64,
    memory_size: u64,
    userspace_addr: u64,
}

#[repr(C)]
#[derive(Default)]
struct Regs {
    /// rax rbx rcx rdx rsi rdi rsp rbp r8..r15
    gpr: [u64; 16],
    rip: u64,
    rflags: u64,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct Segment {
    base: u64,
    limit: u32,
    selector: u16,
    type_: u8,
    present: u8,
    dpl: u8,
    db: u8,
    s: u8,
    l: u8,
    g: u8,
    avl: u8,
    unusable: u8,
    padding: u8,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct DTable {
    base: u64,
    limit: u16,
    padding: [u16; 3],
}

#[repr(C)]
#[derive(Default)]
struct Sregs {
    segs: [Segment; 8], // cs ds es fs gs ss tr ldt
    gdt: DTable,
    idt: DTable,
    ctl: [u64; 7], // cr0 cr2 cr3 cr4 cr8 efer apic_base
    interrupt_bitmap: [u64; 4],
}

const _: () = assert!(size_of::<MemoryRegion>() == 32);
const _: () = assert!(size_of::<Regs>() == 144);
const _: () = assert!(size_of::<Sregs>() == 312);

/// Guest physical layout: one 64 KiB slot at 0, code at 0x1000.
const MEM_SIZE: usize = 0x10000;
const CODE_AT: usize = 0x1000;
/// Inner-loop iterations between port writes (each write returns to us).
const CHUNK: u32 = 20_000;

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

struct Mapping {
    ptr: *mut c_void,
    len: usize,
}

impl Mapping {
    fn new(len: usize, flags: libc::c_int, fd: RawFd) -> Result<Mapping, String> {
        // SAFETY: a fresh mapping chosen by the kernel (addr NULL); no existing memory is
        // affected. The result is checked for MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(format!("mmap: {}", io::Error::last_os_error()));
        }
        Ok(Mapping { ptr, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len describe a mapping we created and unmap exactly once; no
        // references into it outlive `self`.
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
}

fn check(ret: libc::c_int, what: &str) -> Result<libc::c_int, String> {
    if ret < 0 {
        Err(format!("{what}: {}", io::Error::last_os_error()))
    } else {
        Ok(ret)
    }
}

fn owned(fd: libc::c_int, what: &str) -> Result<OwnedFd, String> {
    let fd = check(fd, what)?;
    // SAFETY: KVM just returned this new descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

struct Exit {
    reason: u32,
    io_port: u16,
    detail: u64,
}

fn describe(exit: &Exit) -> String {
    let name = match exit.reason {
        0 => "UNKNOWN",
        1 => "EXCEPTION",
        KVM_EXIT_IO => "IO",
        KVM_EXIT_HLT => "HLT",
        6 => "MMIO",
        8 => "SHUTDOWN",
        KVM_EXIT_FAIL_ENTRY => "FAIL_ENTRY",
        10 => "INTR",
        KVM_EXIT_INTERNAL_ERROR => "INTERNAL_ERROR",
        _ => "other",
    };
    match exit.reason {
        KVM_EXIT_IO => format!("KVM_EXIT_IO (port {:#x})", exit.io_port),
        KVM_EXIT_FAIL_ENTRY => {
            format!(
                "KVM_EXIT_FAIL_ENTRY (hardware entry failure reason {:#x})",
                exit.detail
            )
        }
        KVM_EXIT_INTERNAL_ERROR => {
            format!("KVM_EXIT_INTERNAL_ERROR (suberror {})", exit.detail)
        }
        r => format!("KVM_EXIT_{name} ({r})"),
    }
}

fn run(vcpu: RawFd, run: &Mapping) -> Result<Exit, String> {
    loop {
        // SAFETY: KVM_RUN takes no argument; `vcpu` is a vCPU fd we own whose guest
        // memory and run area stay mapped for the duration of the call.
        let r = unsafe { libc::ioctl(vcpu, KVM_RUN as _, 0) };
        if r >= 0 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(format!("KVM_RUN: {e}"));
        }
    }
    let base = run.ptr.cast::<u8>();
    // SAFETY: the run area is at least one page (checked when mapped) and the kernel is
    // done with it once KVM_RUN returned. Offsets follow `struct kvm_run`: exit_reason at
    // 8, the exit union at 32 (io.port at 34; fail_entry reason / internal suberror at 32).
    let exit = unsafe {
        Exit {
            reason: ptr::read_volatile(base.add(8).cast::<u32>()),
            io_port: ptr::read_volatile(base.add(34).cast::<u16>()),
            detail: ptr::read_volatile(base.add(32).cast::<u64>()),
        }
    };
    Ok(exit)
}

/// Returns the measured loop rate (iterations per second).
fn test_vm(kvm: OwnedFd) -> Result<f64, String> {
    // SAFETY: no-argument ioctl on the /dev/kvm fd.
    let version = check(
        unsafe { libc::ioctl(kvm.as_raw_fd(), KVM_GET_API_VERSION as _, 0) },
        "KVM_GET_API_VERSION",
    )?;
    if version != KVM_API_VERSION {
        return Err(format!(
            "KVM API version {version}, expected {KVM_API_VERSION}"
        ));
    }
    // SAFETY: KVM_CREATE_VM takes the machine type (0 = default) by value.
    let vm = owned(
        unsafe { libc::ioctl(kvm.as_raw_fd(), KVM_CREATE_VM as _, 0) },
        "KVM_CREATE_VM",
    )?;

    let mem = Mapping::new(
        MEM_SIZE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
        -1,
    )?;
    let code = guest_code();
    // SAFETY: `mem` is a fresh writable mapping of MEM_SIZE bytes and the code fits
    // far below its end; nothing else references it yet.
    unsafe {
        ptr::copy_nonoverlapping(code.as_ptr(), mem.ptr.cast::<u8>().add(CODE_AT), code.len());
    }
    let region = MemoryRegion {
        slot: 0,
        flags: 0,
        guest_phys_addr: 0,
        memory_size: MEM_SIZE as u64,
        userspace_addr: mem.ptr as u64,
    };
    // SAFETY: `region` is a properly laid out kvm_userspace_memory_region (size asserted
    // above) and describes `mem`, which outlives the VM's use of it (dropped after `vm`
    // is no longer run).
    check(
        unsafe {
            libc::ioctl(
                vm.as_raw_fd(),
                KVM_SET_USER_MEMORY_REGION as _,
                &region as *const MemoryRegion,
            )
        },
        "KVM_SET_USER_MEMORY_REGION",
    )?;
    // SAFETY: KVM_CREATE_VCPU takes the vCPU id by value.
    let vcpu = owned(
        unsafe { libc::ioctl(vm.as_raw_fd(), KVM_CREATE_VCPU as _, 0) },
        "KVM_CREATE_VCPU",
    )?;
    // SAFETY: no-argument ioctl on the /dev/kvm fd.
    let run_size = check(
        unsafe { libc::ioctl(kvm.as_raw_fd(), KVM_GET_VCPU_MMAP_SIZE as _, 0) },
        "KVM_GET_VCPU_MMAP_SIZE",
    )? as usize;
    if run_size < 4096 {
        return Err(format!("KVM_GET_VCPU_MMAP_SIZE returned {run_size}"));
    }
    let run_area = Mapping::new(run_size, libc::MAP_SHARED, vcpu.as_raw_fd())?;

    let mut sregs = Sregs::default();
    // SAFETY: `sregs` is a writable kvm_sregs of the size encoded in the request.
    check(
        unsafe {
            libc::ioctl(
                vcpu.as_raw_fd(),
                KVM_GET_SREGS as _,
                &mut sregs as *mut Sregs,
            )
        },
        "KVM_GET_SREGS",
    )?;
    // Real mode with CS base 0 so that IP addresses the code directly.
    sregs.segs[0].base = 0;
    sregs.segs[0].selector = 0;
    // SAFETY: `sregs` is a valid kvm_sregs read back from the kernel and adjusted.
    check(
        unsafe { libc::ioctl(vcpu.as_raw_fd(), KVM_SET_SREGS as _, &sregs as *const Sregs) },
        "KVM_SET_SREGS",
    )?;
    let regs = Regs {
        rip: CODE_AT as u64,
        rflags: 0x2,
        ..Regs::default()
    };
    // SAFETY: `regs` is a valid kvm_regs of the size encoded in the request.
    check(
        unsafe { libc::ioctl(vcpu.as_raw_fd(), KVM_SET_REGS as _, &regs as *const Regs) },
        "KVM_SET_REGS",
    )?;

    let first = run(vcpu.as_raw_fd(), &run_area)?;
    if first.reason != KVM_EXIT_HLT {
        return Err(format!(
            "the test guest's hlt came back as {} instead of KVM_EXIT_HLT",
            describe(&first)
        ));
    }

    let start = Instant::now();
    let mut iterations: u64 = 0;
    loop {
        let exit = run(vcpu.as_raw_fd(), &run_area)?;
        if exit.reason != KVM_EXIT_IO || exit.io_port != 0x10 {
            return Err(format!(
                "the test guest's loop exited with {} instead of KVM_EXIT_IO on port 0x10",
                describe(&exit)
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
    fn ioctl_numbers_match_linux_headers() {
        assert_eq!(KVM_SET_USER_MEMORY_REGION, 0x4020_ae46);
        assert_eq!(KVM_GET_SREGS, 0x8138_ae83);
        assert_eq!(KVM_SET_SREGS, 0x4138_ae84);
        assert_eq!(KVM_SET_REGS, 0x4090_ae82);
        assert_eq!(KVM_RUN, 0xae80);
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
