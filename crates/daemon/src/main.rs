//! oxvirtd: see the `oxvirt_daemon` crate.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "oxvirtd", version, about = "Serves libvirt's remote protocol for oxvirt's drivers")]
struct Args {
    /// Configuration file (default /etc/oxvirt/oxvirtd.conf, if present).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Directory for oxvirt-sock and oxvirt-sock-ro (default /run/oxvirt).
    #[arg(long)]
    socket_dir: Option<PathBuf>,
    /// Also listen at /run/libvirt/libvirt-sock{,-ro}, so clients need no ?socket=.
    #[arg(long)]
    libvirt_sockets: bool,
    #[arg(long)]
    pidfile: Option<PathBuf>,
    /// URI opened for clients that ask for the default connection.
    #[arg(long)]
    default_uri: Option<String>,
    /// Debug logging.
    #[arg(short, long)]
    verbose: bool,
    /// Listen for TLS clients (qemu+tls://) on tls_port (16514), clients need a certificate
    /// signed by ca_file.
    #[arg(long)]
    listen_tls: bool,
    /// Also listen on plain TCP (tcp_port, 16509): no encryption, no authentication.
    #[arg(long)]
    listen_tcp: bool,
}

/// glibc gives threads that allocate at once arenas of their own (up to 8 per core), and each
/// keeps what it freed: a daemon with a thread per client call grew by a few MB per arena after
/// busy moments. Two arenas still let two calls allocate side by side (2 cores are typical here).
fn limit_malloc_arenas() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets a tunable of glibc's allocator; called before any thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    // Before any thread exists, so every thread inherits the mask.
    let signals = match oxvirt_daemon::block_signals() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("oxvirtd: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let args = Args::parse();
    let mut cfg = match oxvirt_daemon::Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("oxvirtd: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(d) = args.socket_dir {
        cfg.socket_dir = d;
    }
    cfg.libvirt_sockets |= args.libvirt_sockets;
    cfg.listen_tls |= args.listen_tls;
    cfg.listen_tcp |= args.listen_tcp;
    if args.pidfile.is_some() {
        cfg.pidfile = args.pidfile;
    }
    if args.default_uri.is_some() {
        cfg.default_uri = args.default_uri;
    }
    if args.verbose {
        cfg.log_level = tracing::Level::DEBUG;
    }
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_max_level(cfg.log_level).with_target(false).init();
    match oxvirt_daemon::run(cfg, signals) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
