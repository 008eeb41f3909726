//! `edit`, `net-edit`: write the XML to a temp file, run the user's editor, redefine; on a
//! rejected document ask whether to edit again, as virsh does.

use std::io::{BufRead, Write};
use std::process::Command;

use crate::error::CmdError;

pub enum Outcome {
    Unchanged,
    Saved,
}

fn editor() -> String {
    for v in ["VISUAL", "EDITOR"] {
        if let Ok(e) = std::env::var(v) {
            if !e.trim().is_empty() {
                return e;
            }
        }
    }
    "vi".into()
}

/// Runs the editor on `path`. No timeout: the editor is interactive and ends when the user says.
fn run_editor(path: &std::path::Path) -> Result<(), CmdError> {
    let ed = editor();
    // The editor variable may carry arguments ("emacs -nw"), so let the shell split it.
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("{ed} \"$1\""))
        .arg("oxvirt-edit")
        .arg(path)
        .status()
        .map_err(|source| CmdError::Io { context: format!("cannot run editor '{ed}'"), source })?;
    if !status.success() {
        return Err(CmdError::Failed(format!("{ed}: command failed: {status}")));
    }
    Ok(())
}

/// Asks virsh's re-edit question; returns the answer letter.
fn ask(relax: bool) -> char {
    let stdin = std::io::stdin();
    loop {
        let q = if relax { "Failed. Try again? [y,n,i,f,?]: " } else { "Failed. Try again? [y,n,f,?]: " };
        print!("{q}");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => return 'n',
            Ok(_) => {}
        }
        match line.trim().chars().next() {
            Some(c @ ('y' | 'n' | 'f')) => return c,
            Some('i') if relax => return 'i',
            _ => {
                println!("y - yes, start editor again");
                println!("n - no, throw away my changes");
                if relax {
                    println!("i - turn off validation and try to redefine again");
                }
                println!("f - force, try to redefine again");
                println!("? - print this help");
            }
        }
    }
}

/// Edits `orig` until `apply` accepts it or the user gives up.
pub fn edit_loop(
    orig: &str,
    suffix: &str,
    mut validate: bool,
    apply: impl Fn(&str, bool) -> oxvirt_api::Result<()>,
) -> Result<Outcome, CmdError> {
    let dir = tempfile::Builder::new()
        .prefix("oxvirt-edit")
        .tempdir()
        .map_err(|source| CmdError::Io { context: "cannot create a temporary directory".into(), source })?;
    let path = dir.path().join(format!("document.{suffix}"));
    std::fs::write(&path, orig)
        .map_err(|source| CmdError::Io { context: format!("cannot write {}", path.display()), source })?;
    let mut need_edit = true;
    loop {
        if need_edit {
            run_editor(&path)?;
        }
        need_edit = true;
        let edited = std::fs::read_to_string(&path)
            .map_err(|source| CmdError::Io { context: format!("cannot read {}", path.display()), source })?;
        if edited == orig {
            return Ok(Outcome::Unchanged);
        }
        match apply(&edited, validate) {
            Ok(()) => return Ok(Outcome::Saved),
            Err(e) => {
                eprintln!("error: {}", e.message);
                match ask(validate) {
                    'y' => {}
                    'i' => {
                        validate = false;
                        need_edit = false;
                    }
                    'f' => need_edit = false,
                    _ => return Err(CmdError::Failed("XML configuration not changed: changes discarded".into())),
                }
            }
        }
    }
}
