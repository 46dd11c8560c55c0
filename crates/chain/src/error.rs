//! The crate's one error type.

use alloy::primitives::TxHash;

use crate::bindings::ZkApiCredits::ZkApiCreditsErrors;

/// A custom error of `ZkApiCredits`, decoded from a revert (`AlreadyRegistered`, `ClaimWindowOpen`, …).
pub type Revert = ZkApiCreditsErrors;

/// What went wrong talking to the chain or the contract.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The RPC URL is not a URL: fix the configuration.
    #[error("invalid RPC URL {url:?}: {reason}")]
    InvalidRpcUrl {
        /// The URL as given.
        url: String,
        /// Why it did not parse.
        reason: String,
    },
    /// The contract refused the call with one of its custom errors; nothing changed on chain. The
    /// variant names the rule that was broken (see `contracts/src/ZkApiCredits.sol`).
    #[error("{action} refused by the contract: {revert:?}")]
    Reverted {
        /// The operation that was attempted, e.g. `"deposit"`.
        action: &'static str,
        /// The decoded custom error.
        revert: Revert,
    },
    /// The transaction was mined but failed, typically because the state changed between gas
    /// estimation and inclusion (another deposit moved the root under the given siblings): retry.
    #[error("{action}: transaction {tx} failed on chain")]
    Failed {
        /// The operation that was attempted.
        action: &'static str,
        /// The failed transaction.
        tx: TxHash,
    },
    /// The node could not be reached, or answered with an error that is not one of the contract's.
    #[error("{action}: {source}")]
    Rpc {
        /// The operation that was attempted.
        action: &'static str,
        /// The transport or node error.
        #[source]
        source: Box<alloy::contract::Error>,
    },
    /// The node's answer lacks what the operation must produce (an event, code at an address):
    /// a misbehaving node, or an address that is not a `ZkApiCredits`.
    #[error("{action}: {what}")]
    UnexpectedChainData {
        /// The operation that was attempted.
        action: &'static str,
        /// What was missing or inconsistent.
        what: String,
    },
}

impl Error {
    /// The contract's custom error, if this is a revert.
    pub fn revert(&self) -> Option<&Revert> {
        match self {
            Self::Reverted { revert, .. } => Some(revert),
            _ => None,
        }
    }

    pub(crate) fn from_contract(action: &'static str, error: alloy::contract::Error) -> Self {
        match error.as_decoded_interface_error::<Revert>() {
            Some(revert) => Self::Reverted { action, revert },
            None => Self::Rpc { action, source: Box::new(error) },
        }
    }

    pub(crate) fn rpc(action: &'static str, error: impl Into<alloy::contract::Error>) -> Self {
        Self::from_contract(action, error.into())
    }

    pub(crate) fn unexpected(action: &'static str, what: impl Into<String>) -> Self {
        Self::UnexpectedChainData { action, what: what.into() }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
