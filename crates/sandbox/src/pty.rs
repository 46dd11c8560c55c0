//! A terminal of the sandbox's own for interactive use.
//!
//! When `sbox` runs on a terminal, the sandbox does not get that terminal: it gets a new
//! pseudo-terminal, and `sbox` copies bytes between the two with the user's terminal in raw mode.
//! The sandbox's init makes the new terminal its controlling terminal, so shells get job control
//! and Ctrl-C, Ctrl-Z and window resizes behave as usual, while nothing inside can reach the
//! user's real terminal (no TIOCSTI, no changing its settings behind `sbox`'s back).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::thread::JoinHandle;

use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use rustix::termios::{OptionalActions, Termios, isatty, tcgetattr, tcgetwinsize, tcsetattr, tcsetwinsize};

use crate::{Error, Result};

/// The host side of the sandbox's terminal while it runs.
#[derive(Debug)]
pub struct Pty {
    master: File,
    /// The slave end, handed to bubblewrap as the command's stdin, stdout and stderr.
    pub slave: Option<OwnedFd>,
    saved: Option<Termios>,
}

/// True when sbox is used interactively: stdin and stdout are both terminals.
pub fn interactive() -> bool {
    isatty(std::io::stdin()) && isatty(std::io::stdout())
}

impl Pty {
    /// Opens a pseudo-terminal sized like the user's terminal.
    pub fn open() -> Result<Self> {
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .map_err(Error::sys("opening a pty"))?;
        grantpt(&master).map_err(Error::sys("granting the pty"))?;
        unlockpt(&master).map_err(Error::sys("unlocking the pty"))?;
        let name = ptsname(&master, Vec::new()).map_err(Error::sys("naming the pty"))?;
        let slave: OwnedFd = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(std::ffi::OsStr::from_bytes(name.as_bytes()))
            .map_err(Error::os("opening the pty's terminal"))?
            .into();
        if let Ok(size) = tcgetwinsize(std::io::stdout()) {
            let _ = tcsetwinsize(&slave, size);
        }
        if let Ok(attrs) = tcgetattr(std::io::stdin()) {
            let _ = tcsetattr(&slave, OptionalActions::Now, &attrs);
        }
        Ok(Self { master: File::from(master), slave: Some(slave), saved: None })
    }

    /// Puts the user's terminal in raw mode and starts copying both ways. Returns the thread that
    /// copies output, which ends when the sandbox's last process has closed the terminal.
    pub fn start(&mut self) -> Result<JoinHandle<()>> {
        let stdin = std::io::stdin();
        if let Ok(saved) = tcgetattr(&stdin) {
            let mut raw = saved.clone();
            raw.make_raw();
            let _ = tcsetattr(&stdin, OptionalActions::Now, &raw);
            self.saved = Some(saved);
        }
        let to_sandbox = self.master.try_clone().map_err(Error::os("cloning the pty"))?;
        std::thread::Builder::new()
            .name("pty-in".into())
            .spawn(move || copy_until_closed(std::io::stdin().lock(), to_sandbox))
            .map_err(Error::os("starting the pty input thread"))?;
        let from_sandbox = self.master.try_clone().map_err(Error::os("cloning the pty"))?;
        std::thread::Builder::new()
            .name("pty-out".into())
            // Reading the master fails with EIO once every process inside has closed the terminal.
            .spawn(move || copy_until_closed(from_sandbox, std::io::stdout().lock()))
            .map_err(Error::os("starting the pty output thread"))
    }

    /// A handle that copies the user's terminal size to the sandbox's terminal (call it on
    /// SIGWINCH; the kernel then signals the foreground process inside).
    pub fn resizer(&self) -> Result<impl Fn() + Send + 'static> {
        let master = self.master.try_clone().map_err(Error::os("cloning the pty"))?;
        Ok(move || {
            if let Ok(size) = tcgetwinsize(std::io::stdout()) {
                let _ = tcsetwinsize(master.as_fd(), size);
            }
        })
    }
}

/// Copies with a flush per read (interactive output must not wait for a full buffer) until either
/// side closes or fails.
fn copy_until_closed(mut from: impl Read, mut to: impl Write) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 || to.write_all(&buf[..n]).and_then(|()| to.flush()).is_err() {
            break;
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, saved);
        }
    }
}
