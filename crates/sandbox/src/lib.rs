//! `sov sbox`: run any command in a sandbox that sees only its working directory, a read-only
//! minimal system and what was explicitly granted, with no network but granted loopback ports.
//!
//! What it does **not** do: it never runs a command unsandboxed. If bubblewrap is missing, user
//! namespaces are disabled, or Landlock cannot be enforced (unless the user opted out in the
//! config), it refuses and says how to fix the host.
//!
//! Security properties, in layers (each tested by the escape suite in `crates/sov/tests`):
//! 1. bubblewrap: new user, mount, PID, network, IPC, UTS and cgroup namespaces; no capabilities;
//!    `no_new_privs`; a new session (no terminal injection); killed with its parent;
//! 2. the mount plan ([`bwrap`]): read-only system, empty `/tmp` and home, generated `/etc`
//!    without host accounts or secrets, the working dir and grants at their own paths;
//! 3. Landlock ([`confine`]) mirroring that mount plan, TCP connect limited to granted ports,
//!    signals and abstract sockets scoped to the sandbox;
//! 4. seccomp ([`seccomp`]) denying ptrace, mount, namespaces, BPF, keyrings, raw sockets, TIOCSTI…;
//! 5. an environment built from an allowlist ([`plan::ENV_ALLOWLIST`]), handed to bubblewrap
//!    through a pipe, never a command line;
//! 6. whatever is granted, never Sovereign's configuration, policy or data, nor the human
//!    console's port, of this config or of any running daemon ([`plan::keep_sovereign_out`],
//!    gathered by [`protect`]), and no inherited descriptor unless kept (`--keep-fd`).

pub mod bwrap;
pub mod confine;
mod error;
mod inherited;
pub mod init;
pub mod launch;
pub mod plan;
pub mod protect;
pub mod pty;
pub mod relay;
pub mod seccomp;

pub use error::{Error, Result};
pub use launch::{Prepared, Started, prepare, start};
pub use plan::{HostEnv, Plan, Request, resolve};
