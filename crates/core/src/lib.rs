//! Sovereign's shared ground: one TOML configuration with documented defaults, the XDG paths
//! where everything lives, the SQLite store with its migrations, and the hash-chained audit log.
//!
//! What it does **not** do: it performs no action on the user's behalf, opens no network socket
//! and starts no process. Other crates build on these pieces.
//!
//! Security properties:
//! - The configuration is read only from the user's config file (or the path given explicitly);
//!   nothing inside a sandbox can reach that file, because the sandbox never binds it.
//! - The audit log is append-only by construction of its API, and every entry carries the hash of
//!   the one before: [`audit::AuditLog::verify`] finds any edited, dropped, reordered or
//!   truncated entry.

pub mod audit;
pub mod config;
pub mod error;
pub mod paths;
pub mod store;

pub use error::{Error, Result};
