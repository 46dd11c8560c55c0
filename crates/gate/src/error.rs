//! The gate's one error type.

use std::path::PathBuf;

use crate::state::State;
use sov_core::http::SESSION_HEADER;

/// What can go wrong in the gate; each message names the problem and what to do.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// A request field is malformed.
    #[error("{field} {message}")]
    Invalid {
        /// The field, e.g. `recipients[0]`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The policy file is malformed or tries to loosen a built-in rule.
    #[error("policy file {path}: {message}")]
    Policy {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No action has this id.
    #[error("no action {0}")]
    NotFound(String),
    /// The action was already decided.
    #[error("action {id} is already {}: it cannot be decided again", state.as_str())]
    AlreadyDecided {
        /// The action.
        id: String,
        /// Its state.
        state: State,
    },
    /// The request is well-formed but not permitted now.
    #[error("{0}")]
    Refused(String),
    /// A session token no session has.
    #[error("unknown session token: it is not one sbox issued, or the database was replaced")]
    UnknownSession,
    /// The database failed.
    #[error("gate database: {0}")]
    Database(String),
    /// The store or audit log failed.
    #[error(transparent)]
    Core(#[from] sov_core::Error),
}

impl GateError {
    /// The HTTP status the APIs agents call answer this error with: 400 a malformed field, 401
    /// an unknown session, 403 refused, 404 no such action, 500 a failure of Sovereign's own.
    pub fn http_status(&self) -> u16 {
        match self {
            GateError::Invalid { .. } => 400,
            GateError::UnknownSession => 401,
            GateError::Refused(_) | GateError::AlreadyDecided { .. } => 403,
            GateError::NotFound(_) => 404,
            GateError::Policy { .. } | GateError::Database(_) | GateError::Core(_) => 500,
        }
    }

    /// The request field (or header) the error is about, if one is.
    pub fn field(&self) -> Option<&str> {
        match self {
            GateError::Invalid { field, .. } => Some(field),
            GateError::UnknownSession => Some(SESSION_HEADER),
            _ => None,
        }
    }
}
