//! The one descriptor the init inherits by number: the file bubblewrap executed it from.
//!
//! `sbox` opens its init program and hands the open descriptor down through bubblewrap, which
//! executes `/proc/self/fd/N`; that spares a bind mount on every start. The descriptor must not
//! reach the command: it is a handle on a host file, and even read-only it would let the command
//! change that file's mode with `fchmod`. Closing a descriptor known only by its number is the
//! one thing here that safe Rust cannot express.

// Taking ownership of an inherited descriptor by number has no safe interface; this module
// checks the precondition and keeps the `unsafe` to one line.
#![allow(unsafe_code)]

use std::os::fd::{FromRawFd, OwnedFd};

use crate::{Error, Result};

/// Closes descriptor `fd` after checking that it is the file this process was executed from.
pub(crate) fn close_exec_source(fd: i32) -> Result<()> {
    let link = |path: String| std::fs::read_link(&path).map_err(Error::os(format!("reading {path}")));
    let program = link("/proc/self/exe".into())?;
    if fd <= 2 || link(format!("/proc/self/fd/{fd}"))? != program {
        return Err(Error::Os {
            action: format!("closing descriptor {fd}, which should hold the init program {}", program.display()),
            source: std::io::ErrorKind::InvalidInput.into(),
        });
    }
    // SAFETY: descriptor `fd` is open (its /proc entry resolved just above) and is the program
    // file `sbox` opened for this init alone; nothing in this process opened or wrapped it, so
    // this `OwnedFd` is its only owner, and dropping it closes it exactly once.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
    Ok(())
}
