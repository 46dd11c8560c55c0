//! Sovereign as a service, the way its users run theirs: the systemd units that
//! `sov service install` writes and the checks of `sov doctor`.
//!
//! - [`unit`]: a pure renderer from what to run ([`unit::Unit`]) to a unit file's text, with one
//!   list of hardening directives ([`unit::HARDENING`]). The NixOS module (`nix/module.nix`) sets
//!   the same directives, and a test evaluates the module and compares the two, so a unit
//!   installed by hand and one made by NixOS cannot drift apart.
//! - [`doctor`]: checks of this machine that a new user most often gets wrong (bubblewrap, user
//!   namespaces, Landlock, seccomp, the permissions of the data and secret files, ports), each a
//!   [`doctor::Finding`] that says what was found and, for a problem, the exact fix. The checks
//!   read files given to them (`/proc`, `/sys`, `/etc/os-release`), so every problem can be made
//!   on purpose in a test.
//!
//! Guarantees: the hardening keeps what `sbox` needs to build its sandboxes (user, mount, PID,
//! network and UTS namespaces, `pivot_root`, netlink for the sandbox's loopback, Landlock and
//! seccomp system calls) and takes away what Sovereign never needs (kernel modules and tunables,
//! raw I/O, clock and swap changes, real-time scheduling, set-uid files, writes outside its own
//! data and state directories, other users' `/tmp`).
//!
//! Not done here: `MemoryDenyWriteExecute` (the agents run in its sandboxes, such as pi on
//! Node.js, need JIT), `PrivateDevices` (a GPU is a device), `RestrictNamespaces` and
//! `PrivateNetwork` (the sandbox is made of namespaces; the LLM API must be reachable). These
//! units have not been started under a running systemd on the machine that tests them (it has
//! none); `systemd-analyze verify` checks them.

pub mod doctor;
pub mod unit;
