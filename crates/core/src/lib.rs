//! Sovereign's shared ground: one TOML configuration with documented defaults, the XDG paths
//! where everything lives, the SQLite store with its migrations, the hash-chained audit log, and
//! the checks every HTTP server of Sovereign makes of a request's head ([`http`]).
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
pub mod http;
pub mod paths;
pub mod protected;
pub mod store;

pub use error::{Error, Result};

/// `bytes` random bytes from the kernel (`/dev/urandom`) as lowercase hex: for identifiers that
/// must not be guessed (action ids, session tokens, CSRF tokens). Fails rather than fall back to
/// anything predictable.
pub fn random_hex(bytes: usize) -> Result<String> {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).map_err(|source| Error::Io {
        action: "reading random bytes from",
        path: "/dev/urandom".into(),
        source,
    })?;
    Ok(hex::encode(buf))
}

/// Milliseconds since the Unix epoch by the system clock (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
