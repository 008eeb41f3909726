//! The interactive shell: virsh's banner and prompt, one command line per input line.

use std::io::{BufRead, IsTerminal, Write};

use crate::commands::{run_commands, Ctl};
use crate::parse::parse_line;

/// Always exits 0, like virsh's shell: failures were reported as they happened.
pub fn run(ctl: &mut Ctl) -> i32 {
    ctl.imode = true;
    if !ctl.quiet {
        ctl.print("Welcome to oxvirt, the virtualization interactive terminal.\n\n");
        ctl.print("Type:  'help' for help with commands\n       'quit' to quit\n\n");
        ctl.flush();
    }
    let stdin = std::io::stdin();
    // Like readline on a pipe, echo the line after the prompt so transcripts read naturally.
    let echo = !stdin.is_terminal();
    let mut lines = stdin.lock();
    while ctl.imode {
        let prompt = if ctl.readonly { "oxvirt > " } else { "oxvirt # " };
        print!("{prompt}");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        match lines.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let line = line.trim_end_matches(['\n', '\r']);
        if echo {
            println!("{line}");
        }
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line) {
            Ok(cmds) => {
                run_commands(ctl, &cmds);
            }
            Err(e) => eprint!("{}", e.report()),
        }
    }
    // virsh ends the transcript with a newline whether input ended or `quit` was typed.
    println!();
    0
}
