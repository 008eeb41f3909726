//! `console`: attach the terminal to the domain's console pty (the driver says which), copy
//! bytes both ways, leave on Ctrl+] like virsh and telnet.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;

use oxvirt_api::Domain;

use crate::error::CmdError;

const ESCAPE: u8 = 0x1d; // Ctrl+]

/// Puts a terminal in raw mode and restores it when dropped.
struct RawMode {
    fd: i32,
    saved: libc::termios,
}

impl RawMode {
    fn enter(fd: i32) -> Option<RawMode> {
        // SAFETY: termios is plain old data; tcgetattr fills it or fails, checked below.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd is an open descriptor and t a valid out-pointer.
        if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
            return None;
        }
        let saved = t;
        // SAFETY: t is a valid termios obtained above.
        unsafe { libc::cfmakeraw(&mut t) };
        // SAFETY: fd is open and t valid.
        if unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &t) } != 0 {
            return None;
        }
        Some(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the attributes read from the same descriptor in `enter`.
        unsafe { libc::tcsetattr(self.fd, libc::TCSAFLUSH, &self.saved) };
    }
}

/// Connects stdin/stdout to the console of `d` until Ctrl+], end of input, or the pty closes.
pub fn run(d: &Domain, dev: Option<&str>, _force: bool) -> Result<(), CmdError> {
    let path = d.console_path(dev).map_err(|e| CmdError::api("", e))?;
    let mut pty = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|source| CmdError::Io { context: format!("cannot open console device {path}"), source })?;
    // A pty left in cooked mode would echo and line-buffer the guest's input.
    let _pty_raw = RawMode::enter(pty.as_raw_fd());
    println!("Connected to domain '{}'", d.name());
    println!("Escape character is ^] (Ctrl + ])");
    let _ = std::io::stdout().flush();
    let stdin_fd = std::io::stdin().as_raw_fd();
    let _raw = RawMode::enter(stdin_fd);
    let pty_fd = pty.as_raw_fd();
    let mut buf = [0u8; 4096];
    let mut stdin_open = true;
    let mut out = std::io::stdout();
    loop {
        let mut fds = [
            libc::pollfd { fd: pty_fd, events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: if stdin_open { stdin_fd } else { -1 }, events: libc::POLLIN, revents: 0 },
        ];
        // SAFETY: fds is a valid array of two pollfd structures for the duration of the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, 1000) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(CmdError::Io { context: "poll on console".into(), source: e });
        }
        if fds[0].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            match pty.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(k) => {
                    let _ = out.write_all(&buf[..k]);
                    let _ = out.flush();
                }
            }
        }
        if fds[1].revents & (libc::POLLIN | libc::POLLHUP) != 0 {
            // SAFETY: reads into a valid buffer of the given length from an open descriptor.
            let k = unsafe { libc::read(stdin_fd, buf.as_mut_ptr().cast(), buf.len()) };
            if k <= 0 {
                stdin_open = false;
                continue;
            }
            let data = &buf[..k as usize];
            if let Some(pos) = data.iter().position(|&b| b == ESCAPE) {
                let _ = pty.write_all(&data[..pos]);
                break;
            }
            pty.write_all(data).map_err(|source| CmdError::Io { context: "write to console".into(), source })?;
        }
    }
    drop(_raw);
    println!();
    Ok(())
}
