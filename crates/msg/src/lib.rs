//! Sovereign's messaging daemon.
//!
//! Email (IMAP, SMTP) and Signal (signal-cli's JSON-RPC daemon) are polled into SQLite; agents
//! read them and ask to send through the Tool API (`/messages`, `/send`, `/send/status`,
//! `/accounts`, `/status`, compatible with the reference daemon's API). Reading marks the
//! session as having read messages (the gate's taint). A send to one of the user's own accounts
//! goes out at once; any other recipient becomes a `message.send` action in the gate and goes out
//! exactly once after the AI reviewer and the human approved it. The history is also the
//! address book the gate compares recipients with ([`contacts::History`], the gate's
//! [`sov_gate::AddressBook`] port): whom the user wrote to, who wrote, and the IBANs and wallet
//! addresses the messages carry.

pub mod accounts;
pub mod address;
pub mod api;
pub mod contacts;
pub mod email;
pub mod mime;
pub mod send;
pub mod service;
pub mod signal;
pub mod store;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use accounts::{Accounts, EmailAccount, SignalAccount, Tls};
pub use address::{OwnAccounts, Recipient};
pub use contacts::History;
pub use send::MessageSender;
pub use service::Messaging;
pub use store::{MessageQuery, MessageStore, StoredMessage};

/// A messaging backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// IMAP and SMTP.
    Email,
    /// signal-cli.
    Signal,
}

impl Backend {
    /// The backend's name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Email => "email",
            Backend::Signal => "signal",
        }
    }

    /// The backend named `name`.
    pub fn parse(name: &str) -> Option<Backend> {
        [Backend::Email, Backend::Signal].into_iter().find(|b| b.as_str() == name)
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What can go wrong in messaging.
#[derive(Debug, thiserror::Error)]
pub enum MsgError {
    /// A request field is unusable.
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// No such account.
    #[error("no {backend} account {address:?} is configured; `sov msg {backend} list` shows the accounts")]
    NoAccount {
        /// Its backend.
        backend: Backend,
        /// The address asked for.
        address: String,
    },
    /// The database.
    #[error(transparent)]
    Store(#[from] sov_core::Error),
    /// SQLite failed.
    #[error("messages database: {0}")]
    Database(String),
    /// The gate.
    #[error(transparent)]
    Gate(#[from] sov_gate::GateError),
    /// A server (IMAP, SMTP, signal-cli) failed or refused.
    #[error("{0}")]
    Server(String),
    /// A file.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl MsgError {
    /// An [`MsgError::Invalid`].
    pub fn invalid(field: &str, message: impl Into<String>) -> MsgError {
        MsgError::Invalid { field: field.into(), message: message.into() }
    }
}

/// Locks `m`, also after a thread panicked while holding it: the data behind these locks (a
/// database connection, counters) stays consistent on its own.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl From<rusqlite::Error> for MsgError {
    fn from(e: rusqlite::Error) -> MsgError {
        MsgError::Database(e.to_string())
    }
}
