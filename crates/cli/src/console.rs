//! `console`: attach the terminal to the domain's console pty (the driver says which), copy
//! bytes both ways, leave on Ctrl+] like virsh and telnet.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags};
use nix::sys::termios::{self, SetArg, Termios};
use oxvirt_api::Domain;

use crate::error::CmdError;

const ESCAPE: u8 = 0x1d; // Ctrl+]

/// Puts a terminal in raw mode and restores it when dropped.
struct RawMode<'a> {
    fd: BorrowedFd<'a>,
    saved: Termios,
}

impl<'a> RawMode<'a> {
    fn enter(fd: BorrowedFd<'a>) -> Option<RawMode<'a>> {
        let saved = termios::tcgetattr(fd).ok()?;
        let mut t = saved.clone();
        termios::cfmakeraw(&mut t);
        termios::tcsetattr(fd, SetArg::TCSAFLUSH, &t).ok()?;
        Some(RawMode { fd, saved })
    }
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.fd, SetArg::TCSAFLUSH, &self.saved);
    }
}

/// Connects stdin/stdout to the console of `d` until Ctrl+], end of input, or the pty closes.
pub fn run(d: &Domain, dev: Option<&str>, _force: bool) -> Result<(), CmdError> {
    let path = d.console_path(dev).map_err(|e| CmdError::api("", e))?;
    let pty = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|source| CmdError::Io { context: format!("cannot open console device {path}"), source })?;
    // A pty left in cooked mode would echo and line-buffer the guest's input.
    let _pty_raw = RawMode::enter(pty.as_fd());
    println!("Connected to domain '{}'", d.name());
    println!("Escape character is ^] (Ctrl + ])");
    let _ = std::io::stdout().flush();
    let stdin_handle = std::io::stdin();
    let stdin = stdin_handle.as_fd();
    let _raw = RawMode::enter(stdin);
    let mut buf = [0u8; 4096];
    let mut stdin_open = true;
    let mut out = std::io::stdout();
    loop {
        let mut fds = vec![PollFd::new(pty.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin, PollFlags::POLLIN));
        }
        match poll(&mut fds, 1000u16) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(CmdError::Io { context: "poll on console".into(), source: e.into() }),
        }
        let ready = |i: usize, f: PollFlags| fds.get(i).and_then(|p| p.revents()).is_some_and(|r| r.intersects(f));
        let (pty_ready, stdin_ready) = (
            ready(0, PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR),
            ready(1, PollFlags::POLLIN | PollFlags::POLLHUP),
        );
        if pty_ready {
            match (&pty).read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(k) => {
                    let _ = out.write_all(&buf[..k]);
                    let _ = out.flush();
                }
            }
        }
        if stdin_ready {
            let k = match nix::unistd::read(stdin.as_raw_fd(), &mut buf) {
                Ok(k) if k > 0 => k,
                _ => {
                    stdin_open = false;
                    continue;
                }
            };
            let data = &buf[..k];
            if let Some(pos) = data.iter().position(|&b| b == ESCAPE) {
                let _ = (&pty).write_all(&data[..pos]);
                break;
            }
            (&pty).write_all(data).map_err(|source| CmdError::Io { context: "write to console".into(), source })?;
        }
    }
    drop(_raw);
    println!();
    Ok(())
}
