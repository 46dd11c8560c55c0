//! Executors: what performs an approved action. Each service that owns a kind (messaging, the
//! remote route, later the web and the wallet) implements [`Executor`] and registers it for its
//! kind in the daemon's [`Executors`].

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::action::Kind;
use crate::error::GateError;
use crate::record::ActionRecord;

/// Why an executor did not perform an action. The message names what failed and what to do; the
/// variant says what is known of the effect, which the human sees in the outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// Nothing was done: the action cannot run as approved (a parameter is missing, the config
    /// changed since the approval, the peer refused before anything took effect).
    #[error("{0}")]
    NotDone(String),
    /// It was tried and failed; nothing took effect as far as the executor can tell.
    #[error("{0}")]
    Failed(String),
    /// It may or may not have taken effect (a connection lost mid-hand-over); it is not tried
    /// again, so it cannot happen twice.
    #[error("{0}")]
    Unknown(String),
}

impl ExecError {
    /// What is known of the effect: `none`, `failed` or `unknown`, as the outcome records it.
    pub fn effect(&self) -> &'static str {
        match self {
            ExecError::NotDone(_) => "none",
            ExecError::Failed(_) => "failed",
            ExecError::Unknown(_) => "unknown",
        }
    }
}

/// Performs approved actions of one kind.
pub trait Executor: Send + Sync {
    /// Performs the action. `key` is the same on every attempt for this action.
    fn execute(&self, action: &ActionRecord, key: &str) -> Result<Value, ExecError>;
    /// Running twice with the same key has the effect of running once. Only then is an
    /// interrupted attempt run again after a crash.
    fn idempotent(&self) -> bool;
}

/// The executors of a daemon, one per kind; services register theirs before the workers start.
#[derive(Clone, Default)]
pub struct Executors {
    by_kind: BTreeMap<Kind, Arc<dyn Executor>>,
}

impl std::fmt::Debug for Executors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.by_kind.keys()).finish()
    }
}

impl Executors {
    /// No executors: every approved action stays approved until one is registered.
    pub fn new() -> Executors {
        Executors::default()
    }

    /// Registers `executor` for `kind`. A kind has one executor: registering a second is a
    /// programming error, refused so that two services never both perform one action.
    pub fn register(&mut self, kind: Kind, executor: Arc<dyn Executor>) -> Result<&mut Executors, GateError> {
        if self.by_kind.contains_key(&kind) {
            return Err(GateError::Refused(format!("{kind} already has an executor")));
        }
        self.by_kind.insert(kind, executor);
        Ok(self)
    }

    /// The executor for `kind`.
    pub fn get(&self, kind: Kind) -> Option<&Arc<dyn Executor>> {
        self.by_kind.get(&kind)
    }

    /// The kinds that have an executor.
    pub fn kinds(&self) -> impl Iterator<Item = Kind> + '_ {
        self.by_kind.keys().copied()
    }
}
