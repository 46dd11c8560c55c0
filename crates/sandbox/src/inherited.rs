//! Descriptors known only by their number: the init program's, and every other one a process
//! inherited from whoever started it.
//!
//! A shell's `exec 7<secret` or a parent that forgot close-on-exec leaves descriptors open in
//! every program it starts; a sandboxed command holding one can read that file, or list and
//! `fstatat` through a directory, whatever Landlock says about paths (Landlock checks opening
//! by path, not using what is already open). Guarantees, in two depths:
//! 1. on the host, before bubblewrap is spawned, [`seal`] marks every descriptor above 2
//!    close-on-exec except the ones the user named with `--keep-fd`; `sbox` then makes
//!    inheritable only what it hands bubblewrap on purpose (the init program, the options pipe,
//!    the generated `/etc` files). bubblewrap itself inherits nothing else;
//! 2. inside, the init's first step after [`close_exec_source`] is [`close_all_but`]: every
//!    descriptor above 2 that is not a kept one is closed, before Landlock, seccomp, the relays
//!    or the command. Whatever bubblewrap left open ends there.
//!
//! Taking hold of a descriptor by its number has no safe interface; this module checks each
//! precondition and keeps every `unsafe` to one call with its `// SAFETY:` reason.

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

/// Checks that every descriptor in `keep` was handed to this process by its parent: open, and
/// not close-on-exec (a shell's `exec 7<file`, a parent's `pass_fds`). A descriptor the process
/// opened itself is close-on-exec (Rust opens every file so), and is refused like a closed one.
pub(crate) fn check_kept(keep: &[i32]) -> Result<()> {
    for &fd in keep {
        if fd <= 2 {
            return Err(Error::KeptFd { fd, reason: "0, 1 and 2 always pass; name descriptors from 3 up" });
        }
        // SAFETY: fcntl(F_GETFD) takes a number and no memory; on a number that is not open it
        // fails with EBADF. It reads the descriptor's flags and changes nothing.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags == -1 {
            return Err(Error::KeptFd {
                fd,
                reason: "it is not open in sbox (open it in the shell that starts sbox, e.g. `7<file`)",
            });
        }
        if flags & libc::FD_CLOEXEC != 0 {
            return Err(Error::KeptFd {
                fd,
                reason: "it is open but close-on-exec, so it was not handed down to sbox on purpose",
            });
        }
    }
    Ok(())
}

/// The ranges of descriptor numbers from 3 up that are not in `keep` (sorted, each above 2).
fn ranges_without(keep: &[i32]) -> Vec<(u32, u32)> {
    let mut ranges = Vec::with_capacity(keep.len() + 1);
    let mut first = 3u32;
    for fd in keep.iter().filter_map(|fd| u32::try_from(*fd).ok()).filter(|fd| *fd >= 3) {
        if fd > first {
            ranges.push((first, fd - 1));
        }
        first = first.max(fd.saturating_add(1));
    }
    ranges.push((first, u32::MAX));
    ranges
}

/// Host side, before bubblewrap is spawned: marks every descriptor above 2 close-on-exec except
/// those in `keep` (sorted, checked by [`check_kept`]).
pub(crate) fn seal(keep: &[i32]) -> Result<()> {
    for (first, last) in ranges_without(keep) {
        // SAFETY: close_range with CLOSE_RANGE_CLOEXEC takes numbers and no memory, and closes
        // nothing: it sets the close-on-exec flag of the open descriptors in the range, which
        // changes only what a later exec passes on. No owner's descriptor is invalidated.
        let done = unsafe { libc::syscall(libc::SYS_close_range, first, last, libc::CLOSE_RANGE_CLOEXEC) };
        if done != 0 {
            // Kernels before 5.11 know no CLOSE_RANGE_CLOEXEC: do it one by one.
            return for_each_open_above_2(keep, |fd| {
                // SAFETY: F_SETFD takes a number and no memory; it sets the flag on an open
                // descriptor and fails harmlessly on one that closed meanwhile.
                unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
            })
            .map_err(Error::os("marking inherited descriptors close-on-exec (from /proc/self/fd)"));
        }
    }
    Ok(())
}

/// Inside, in the init before anything of its own is open: closes every descriptor above 2
/// except those in `keep` (sorted).
pub(crate) fn close_all_but(keep: &[i32]) -> Result<()> {
    for (first, last) in ranges_without(keep) {
        // SAFETY: the init calls this first, when nothing in it holds or wraps a descriptor
        // above 2 (the one it was executed from is already closed): every number closed here
        // has no owner that could use or close it again. No memory is passed.
        let done = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
        if done != 0 {
            // Kernels before 5.9 know no close_range: close them one by one.
            let mut open = Vec::new();
            for_each_open_above_2(keep, |fd| open.push(fd))
                .map_err(Error::os("closing inherited descriptors (from /proc/self/fd)"))?;
            for fd in open {
                // SAFETY: as above; `fd` was listed open by /proc/self/fd, whose own descriptor
                // is closed again by now, and nothing in this process owns it.
                drop(unsafe { OwnedFd::from_raw_fd(fd) });
            }
            return Ok(());
        }
    }
    Ok(())
}

/// Calls `each` for every open descriptor above 2 that is not in `keep`, as /proc/self/fd lists
/// them (leaving out the one that lists them), after the listing is closed.
fn for_each_open_above_2(keep: &[i32], mut each: impl FnMut(i32)) -> std::io::Result<()> {
    let listing = std::fs::read_dir("/proc/self/fd")?;
    let mut open: Vec<i32> =
        listing.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok()).filter(|fd| *fd > 2).collect();
    // The listing's own descriptor was among them; it is closed now, so no longer open.
    open.retain(|fd| !keep.contains(fd) && std::fs::read_link(format!("/proc/self/fd/{fd}")).is_ok());
    open.into_iter().for_each(&mut each);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_leave_out_exactly_the_kept_descriptors() {
        assert_eq!(ranges_without(&[]), vec![(3, u32::MAX)]);
        assert_eq!(ranges_without(&[3]), vec![(4, u32::MAX)]);
        assert_eq!(ranges_without(&[7]), vec![(3, 6), (8, u32::MAX)]);
        assert_eq!(ranges_without(&[5, 6, 9]), vec![(3, 4), (7, 8), (10, u32::MAX)]);
    }
}
