//! libvirt's flag families. Each family is its own `bitflags` type ([`typed`]), named after
//! libvirt's C enum without the `vir` prefix and with its bit values, so unrelated flags that
//! share a value cannot be mixed up; the wire's `u32` becomes one of them once, in
//! [`from_wire`], which refuses bits the family lacks as libvirt's `virCheckFlags` does. The
//! plain `u32` constants below are the families not converted yet.

use crate::error::{Error, Result};

/// The typed families.
pub mod typed {
    bitflags::bitflags! {
        /// `virConnectListAllDomainsFlags`: filters; within each pair no bit means "either".
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct ConnectListAllDomainsFlags: u32 {
            const ACTIVE = 1;
            const INACTIVE = 2;
            const PERSISTENT = 4;
            const TRANSIENT = 8;
            const RUNNING = 16;
            const PAUSED = 32;
            const SHUTOFF = 64;
            const OTHER = 128;
            const MANAGEDSAVE = 256;
            const NO_MANAGEDSAVE = 512;
            const AUTOSTART = 1024;
            const NO_AUTOSTART = 2048;
            const HAS_SNAPSHOT = 4096;
            const NO_SNAPSHOT = 8192;
        }

        /// `virDomainXMLFlags`: what `virDomainGetXMLDesc` shows.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct DomainXmlFlags: u32 {
            /// With secrets (graphics passwords); refused on read-only connections.
            const SECURE = 1;
            /// The persistent definition rather than the live one.
            const INACTIVE = 2;
            const UPDATE_CPU = 4;
            const MIGRATABLE = 8;
        }

        /// `virDomainCreateFlags`: how `virDomainCreateWithFlags` and `virDomainCreateXML` start.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct DomainCreateFlags: u32 {
            const PAUSED = 1;
            const AUTODESTROY = 2;
            const BYPASS_CACHE = 4;
            const FORCE_BOOT = 8;
            const VALIDATE = 16;
        }

        /// `virDomainUndefineFlags`: what goes with a persistent definition.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct DomainUndefineFlags: u32 {
            const MANAGED_SAVE = 1;
            const SNAPSHOTS_METADATA = 2;
            const NVRAM = 4;
            const KEEP_NVRAM = 8;
            const CHECKPOINTS_METADATA = 16;
            const TPM = 32;
            const KEEP_TPM = 64;
        }

        /// `virDomainModificationImpact`: which definitions a change touches; neither bit is
        /// "current" (live when running, else config). The families below extend it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct DomainModificationImpact: u32 {
            const LIVE = 1;
            const CONFIG = 2;
        }

        /// `virDomainMemoryModFlags`: the impact, and `MAXIMUM` for the maximum rather than the
        /// current balloon size.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct DomainMemoryModFlags: u32 {
            const LIVE = 1;
            const CONFIG = 2;
            const MAXIMUM = 4;
        }

        /// `virDomainVcpuFlags`: the impact, and which count is meant.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct DomainVcpuFlags: u32 {
            const LIVE = 1;
            const CONFIG = 2;
            const MAXIMUM = 4;
            const GUEST = 8;
            const HOTPLUGGABLE = 16;
        }

        /// `virDomainDeviceModifyFlags`: the impact, and `FORCE` (eject a locked medium).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct DomainDeviceModifyFlags: u32 {
            const LIVE = 1;
            const CONFIG = 2;
            const FORCE = 4;
        }

        /// `virDomainRebootFlagValues`: the reboot methods to try; none is the driver's choice.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct DomainRebootFlagValues: u32 {
            const ACPI_POWER_BTN = 1;
            const GUEST_AGENT = 2;
            const INITCTL = 4;
            const SIGNAL = 8;
            const PARAVIRT = 16;
        }
    }
}

/// The families that extend [`typed::DomainModificationImpact`] give their impact bits.
macro_rules! impact_of {
    ($($t:ident),*) => {$(
        impl typed::$t {
            /// The `LIVE` / `CONFIG` bits alone.
            pub fn impact(self) -> typed::DomainModificationImpact {
                typed::DomainModificationImpact::from_bits_truncate(self.bits())
            }
        }
    )*};
}
impact_of!(DomainMemoryModFlags, DomainVcpuFlags, DomainDeviceModifyFlags);

/// `bits` as the flag family `F`; bits `F` does not define are refused with libvirt's
/// `VIR_ERR_INVALID_ARG` "unsupported flags (0x..) in function FUNC" instead of being ignored.
pub fn from_wire<F: bitflags::Flags<Bits = u32>>(bits: u32, func: &str) -> Result<F> {
    F::from_bits(bits).ok_or_else(|| {
        Error::invalid_arg(format!("unsupported flags (0x{:x}) in function {func}", bits & !F::all().bits()))
    })
}

// virConnectListAllNetworksFlags and virConnectListAllStoragePoolsFlags share these bits
pub const LIST_INACTIVE: u32 = 1;
pub const LIST_ACTIVE: u32 = 2;
pub const LIST_PERSISTENT: u32 = 4;
pub const LIST_TRANSIENT: u32 = 8;
pub const LIST_AUTOSTART: u32 = 16;
pub const LIST_NO_AUTOSTART: u32 = 32;
// virDomainSaveImageXMLFlags
pub const SAVE_IMAGE_XML_SECURE: u32 = 1;
// virDomainDefineFlags / virNetworkDefineFlags
pub const DEFINE_VALIDATE: u32 = 1;
// virDomainDestroyFlags
pub const DESTROY_GRACEFUL: u32 = 1;
// virDomainShutdownFlags
pub const SHUTDOWN_ACPI: u32 = 1;
pub const SHUTDOWN_GUEST_AGENT: u32 = 2;
// virDomainSaveRestoreFlags
pub const SAVE_RUNNING: u32 = 2;
pub const SAVE_PAUSED: u32 = 4;
// virConnectFlags
pub const CONNECT_RO: u32 = 1;
