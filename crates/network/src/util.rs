//! Small helpers: atomic file replace, an inter-process lock, and child processes with a deadline.

pub use oxvirt_sysutil::{remove_if_exists, write_atomic, FileLock};

pub use oxvirt_sysutil::child::{run, Output};
