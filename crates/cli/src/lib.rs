//! oxvirt's command-line tool: a drop-in for virsh (same commands, options, output layout and
//! exit codes) on top of the oxvirt API. `main.rs` only calls [`main_with_args`].

pub mod cmd_domain;
pub mod cmd_host;
pub mod cmd_iface;
pub mod cmd_network;
pub mod cmd_nodedev;
pub mod cmd_storage;
pub mod commands;
pub mod console;
pub mod edit;
pub mod error;
pub mod parse;
pub mod shell;
pub mod table;
pub mod util;

pub use commands::{Ctl, COMMANDS};
pub use error::CmdError;

/// Makes every compiled-in hypervisor driver available to `Connect::open`; the one place to add one.
pub fn register_drivers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // First: `DRIVER+unix://` URIs, and qemu:///system or /session while oxvirtd answers.
        oxvirt_rpc::remote::register();
        oxvirt_driver_test::register();
        oxvirt_driver_qemu::register();
        // storage:///…, and the storage side that local qemu:///… connections carry.
        oxvirt_storage::register();
        // network:///…, and the network side that local qemu:///… connections carry.
        oxvirt_network::register();
    });
}

/// Global options, before the command.
#[derive(Debug, Default)]
struct Global {
    uri: Option<String>,
    readonly: bool,
    quiet: bool,
}

enum Early {
    Exit(i32),
    Run(Global, Vec<String>),
}

const USAGE: &str = "
oxvirt [options]... [<command_string>]
oxvirt [options]... <command> [args...]

  options:
    -c | --connect=URI      hypervisor connection URI
    -d | --debug=NUM        debug level [0-4] (accepted, ignored)
    -e | --escape <char>    set escape sequence for console (accepted; Ctrl+] is used)
    -h | --help             this help
    -l | --log=FILE         output logging to file (accepted, ignored)
    -q | --quiet            quiet mode
    -r | --readonly         connect readonly
    -v                      short version
    -V                      long version
         --version[=TYPE]   version, TYPE is short or long (default short)
  commands (non interactive mode):

";

fn usage() -> String {
    let mut s = String::from(USAGE);
    for (title, kw) in commands::GROUPS {
        s.push_str(&format!(" {title} (help keyword '{kw}')\n"));
        let mut cmds: Vec<_> = COMMANDS.iter().filter(|c| c.group == *kw).collect();
        cmds.sort_by_key(|c| c.name);
        for c in cmds {
            s.push_str(&format!("    {:<30} {}\n", c.name, c.help));
        }
        s.push('\n');
    }
    s.push_str("\n  (specify help <group> for details about the commands in the group)\n");
    s.push_str("\n  (specify help <command> for details about the command)\n\n");
    s
}

fn long_version() -> String {
    format!(
        "oxvirt command line tool {} (virsh-compatible, libvirt API {})\n\nCompiled with support for:\n Hypervisors: Test\n Networking: Network\n Storage: Dir\n Miscellaneous: JSON output\n",
        env!("CARGO_PKG_VERSION"),
        cmd_host::LIBVIRT_API_VERSION
    )
}

/// getopt-style parsing that stops at the first non-option (the command).
fn parse_global(args: &[String]) -> Early {
    let mut g = Global::default();
    let mut i = 0;
    let err = |m: String| {
        eprintln!("error: {m}");
        Early::Exit(1)
    };
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            i += 1;
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, val) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let needs_arg =
                matches!(name, "connect" | "debug" | "escape" | "log" | "keepalive-interval" | "keepalive-count");
            let val = if needs_arg && val.is_none() {
                i += 1;
                match args.get(i) {
                    Some(v) => Some(v.clone()),
                    None => return err(format!("option '--{name}' requires an argument")),
                }
            } else {
                val
            };
            match name {
                "connect" => g.uri = val,
                "readonly" => g.readonly = true,
                "quiet" => g.quiet = true,
                "help" => {
                    print!("{}", usage());
                    return Early::Exit(0);
                }
                "version" => {
                    match val.as_deref() {
                        None | Some("short") => println!("{}", env!("CARGO_PKG_VERSION")),
                        Some("long") => print!("{}", long_version()),
                        Some(o) => return err(format!("unsupported version type '{o}', expected short or long")),
                    }
                    return Early::Exit(0);
                }
                "debug" | "escape" | "log" | "keepalive-interval" | "keepalive-count" | "timing" => {}
                _ => return err(format!("unsupported option '{a}'. See --help.")),
            }
            i += 1;
            continue;
        }
        if a.len() > 1 && a.starts_with('-') {
            let chars: Vec<char> = a[1..].chars().collect();
            let mut j = 0;
            while j < chars.len() {
                let ch = chars[j];
                match ch {
                    'c' | 'd' | 'e' | 'l' | 'k' | 'K' => {
                        let rest: String = chars[j + 1..].iter().collect();
                        let v = if !rest.is_empty() {
                            rest
                        } else {
                            i += 1;
                            match args.get(i) {
                                Some(v) => v.clone(),
                                None => {
                                    let long = match ch {
                                        'c' => "connect",
                                        'd' => "debug",
                                        'e' => "escape",
                                        'l' => "log",
                                        'k' => "keepalive-interval",
                                        _ => "keepalive-count",
                                    };
                                    return err(format!("option '-{ch}'/'--{long}' requires an argument"));
                                }
                            }
                        };
                        if ch == 'c' {
                            g.uri = Some(v);
                        }
                        j = chars.len();
                        continue;
                    }
                    'r' => g.readonly = true,
                    'q' => g.quiet = true,
                    't' => {}
                    'h' => {
                        print!("{}", usage());
                        return Early::Exit(0);
                    }
                    'v' => {
                        println!("{}", env!("CARGO_PKG_VERSION"));
                        return Early::Exit(0);
                    }
                    'V' => {
                        print!("{}", long_version());
                        return Early::Exit(0);
                    }
                    _ => return err(format!("unsupported option '-{ch}'. See --help.")),
                }
                j += 1;
            }
            i += 1;
            continue;
        }
        break;
    }
    Early::Run(g, args[i..].to_vec())
}

/// The whole tool: global options, then one command string, an argv command list, or the shell.
/// Returns the process exit code (0 success, 1 failure, like virsh).
pub fn main_with_args(args: &[String]) -> i32 {
    register_drivers();
    let (g, rest) = match parse_global(args) {
        Early::Exit(c) => return c,
        Early::Run(g, r) => (g, r),
    };
    let mut ctl = Ctl::new(g.uri, g.readonly, g.quiet);
    if rest.is_empty() {
        return shell::run(&mut ctl);
    }
    let parsed = if rest.len() == 1 { parse::parse_line(&rest[0]) } else { parse::parse_argv(&rest) };
    let cmds = match parsed {
        Ok(c) => c,
        Err(e) => {
            eprint!("{}", e.report());
            return 1;
        }
    };
    if commands::run_commands(&mut ctl, &cmds) {
        0
    } else {
        1
    }
}
