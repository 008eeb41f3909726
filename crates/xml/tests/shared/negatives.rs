//! Inputs of libvirt's corpora that libvirt itself rejects, shared by the corpus tests.

/// genericxml2xmltest's DO_TEST_FAIL_* cases: rejected by libvirt's domain XML parser itself.
pub const GENERIC_NEGATIVES: &[&str] = &[
    "graphics-listen-back-compat-mismatch",
    "graphics-vnc-socket-attr-listen-socket-mismatch",
    "graphics-listen-network-invalid",
    "name-slash-fail",
    "chardev-tcp-missing-host",
    "chardev-tcp-missing-service",
    "chardev-tcp-multiple-source",
    "chardev-udp-missing-connect-service",
    "chardev-udp-multiple-source",
    "chardev-unix-smartcard-missing-path",
    "chardev-unix-redirdev-missing-path",
    "chardev-unix-rng-missing-path",
    "chardev-reconnect-missing-timeout",
    "chardev-reconnect-invalid-mode",
    "cachetune-colliding-allocs",
    "cachetune-colliding-tunes",
    "cachetune-colliding-types",
    "cachetune-colliding-monitor",
    "memorytune-colliding-allocs",
    "memorytune-colliding-cachetune",
];
