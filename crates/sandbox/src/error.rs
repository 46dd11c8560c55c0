//! The sandbox's one error type.

use std::path::PathBuf;

/// Why a sandbox could not be started. None of these ever leads to running the command
/// unsandboxed: every variant means "refused".
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// bubblewrap is not installed or not on `PATH`.
    #[error(
        "bubblewrap (`{0}`) was not found, and sbox never runs a command unsandboxed.\n  \
         install it: `sudo apt install bubblewrap` (Debian/Ubuntu), `sudo pacman -S bubblewrap` (Arch),\n  \
         `environment.systemPackages = [ pkgs.bubblewrap ];` (NixOS), or set `sandbox.bwrap` in the config"
    )]
    BwrapMissing(PathBuf),
    /// The kernel refuses unprivileged user namespaces, which bubblewrap needs.
    #[error(
        "user namespaces are disabled on this machine ({0}), so bubblewrap cannot build a sandbox \
         and sbox refuses to run unsandboxed.\n  enable them: {1}"
    )]
    UserNamespacesDisabled(String, &'static str),
    /// Landlock is not available and the config does not allow running without it.
    #[error(
        "the kernel does not enforce Landlock ({0}); sbox refuses to run with less protection.\n  \
         boot with `lsm=landlock,...` (Linux ≥ 5.13), or accept the risk with \
         `sandbox.insecure_allow_without_landlock = true` in the config"
    )]
    LandlockUnavailable(String),
    /// A path the user asked for (`--ro`, `--rw`, a profile entry) is unusable.
    #[error("cannot grant {what} {path}: {reason}")]
    BadGrant {
        /// `--ro`, `--rw`, or the profile key it came from.
        what: String,
        /// The path as given.
        path: PathBuf,
        /// Why, and what to do.
        reason: String,
    },
    /// The working directory cannot be the sandbox's root of work.
    #[error("cannot sandbox working directory {0}: {1}")]
    BadWorkingDir(PathBuf, &'static str),
    /// A descriptor named with `--keep-fd` cannot be passed in.
    #[error("cannot keep descriptor {fd} (--keep-fd {fd}): {reason}")]
    KeptFd {
        /// The descriptor number.
        fd: i32,
        /// Why, and what to do.
        reason: &'static str,
    },
    /// The working directory or a granted path would expose what no sandbox may see.
    #[error(
        "{role} {} would expose {what} ({}); a sandbox may never see it. Run sbox from a project directory and grant narrower paths.",
        bind.display(),
        dir.display()
    )]
    ExposesProtected {
        /// "the working directory" or "a granted path".
        role: &'static str,
        /// The bind's (physical) source.
        bind: PathBuf,
        /// What the protected directory is.
        what: String,
        /// The protected directory.
        dir: PathBuf,
    },
    /// A granted port is the human console (of this config or of a running daemon).
    #[error("port {port} is {what}; it is never granted to a sandbox")]
    ProtectedPort {
        /// The port.
        port: u16,
        /// What it is.
        what: String,
    },
    /// A descriptor named with `--keep-fd` leads into what no sandbox may see.
    #[error(
        "--keep-fd {fd} is {}, which would expose {what} ({}); a sandbox may never see it",
        target.display(),
        dir.display()
    )]
    KeptFdExposes {
        /// The descriptor number.
        fd: i32,
        /// Where it leads.
        target: PathBuf,
        /// What the protected directory is.
        what: String,
        /// The protected directory.
        dir: PathBuf,
    },
    /// An environment variable name given with `--env` is malformed.
    #[error("`{0}` is not an environment variable name (letters, digits and `_`, not starting with a digit)")]
    BadEnvName(String),
    /// A granted port's relay socket could not be created.
    #[error("cannot set up the relay for port {port}: {source}")]
    Relay {
        /// The granted port.
        port: u16,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// seccomp filter could not be compiled or installed.
    #[error("cannot install the seccomp filter: {0}")]
    Seccomp(String),
    /// Landlock rules could not be built or applied.
    #[error("cannot apply Landlock rules: {0}")]
    Landlock(String),
    /// Any other OS-level failure, with what we were doing.
    #[error("{action}: {source}")]
    Os {
        /// What we were doing.
        action: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A fault in Sovereign's core (config, paths).
    #[error(transparent)]
    Core(#[from] sov_core::Error),
}

impl Error {
    pub(crate) fn os(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let action = action.into();
        move |source| Self::Os { action, source }
    }

    /// As [`Error::os`], for the `Errno` that rustix returns.
    pub(crate) fn sys(action: impl Into<String>) -> impl FnOnce(rustix::io::Errno) -> Self {
        let action = action.into();
        move |errno| Self::Os { action, source: errno.into() }
    }
}

/// Result with the sandbox [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
