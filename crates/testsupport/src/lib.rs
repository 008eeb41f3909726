//! Test-only helpers shared by oxvirt's crates (a dev-dependency, never a dependency).
//!
//! The libvirt 9.0 reference data (its `tests/` corpora and `schemas/`) is never copied into this
//! repository: tests read it from `$OXVIRT_LIBVIRT_DATA`, or else from `shared/libvirt-9.0` beside
//! the repository clone (`../shared/libvirt-9.0` from the workspace root). The tests that read it
//! are in the `e2e` tier (`make test`, `make test-e2e`; docs/testing.md), and fail, never skip,
//! when it is missing: a conformance test that silently skips proves nothing.

use std::path::{Path, PathBuf};

/// The environment variable that overrides where the libvirt 9.0 data is.
pub const LIBVIRT_DATA_ENV: &str = "OXVIRT_LIBVIRT_DATA";

/// Where the libvirt 9.0 data is expected: `$OXVIRT_LIBVIRT_DATA`, else `shared/libvirt-9.0`
/// beside the repository clone. Does not check that it is there (see [`libvirt_data`]).
pub fn libvirt_data_path() -> PathBuf {
    match std::env::var_os(LIBVIRT_DATA_ENV) {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/libvirt-9.0"),
    }
}

/// Root of the libvirt 9.0 data (`tests/` and `schemas/` inside); panics with instructions when
/// it is missing.
pub fn libvirt_data() -> PathBuf {
    let root = libvirt_data_path();
    if !root.join("tests").is_dir() || !root.join("schemas").is_dir() {
        panic!(
            "libvirt 9.0 test data not found at {} (expected tests/ and schemas/ inside). \
             Put libvirt 9.0's test data at shared/libvirt-9.0 beside the repository clone, \
             or point {LIBVIRT_DATA_ENV} at it.",
            root.display()
        );
    }
    root
}

/// `libvirt_data()/tests/<corpus>`, e.g. `libvirt_tests("networkxml2confdata")`; panics with
/// instructions when the data is missing.
pub fn libvirt_tests(corpus: &str) -> PathBuf {
    libvirt_data().join("tests").join(corpus)
}
