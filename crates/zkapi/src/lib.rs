//! Anonymous prepaid API credits ("ZK API Usage Credits", Crapis and Buterin), phase 1: a fixed
//! price per call.
//!
//! A user deposits once into the deposit contract with an identity commitment `H(k)`; the
//! deposit buys `limit = floor(deposit / price)` tickets. Each call carries a [`Ticket`]: a
//! rate-limiting-nullifier proof (the `rln` crate, Groth16 over BN254) that its sender is some
//! depositor, uses ticket index `i < limit`, and computed the nullifier `H(H(k, e, i))` and the
//! share `y = k + H(k, e, i)·x` for this request's signal `x` (`e`: the provider's constant
//! external nullifier). The provider learns neither who called nor whether two calls came from
//! one person. A ticket index used twice for different requests gives two points on one line,
//! and so `k`, with which anyone can slash the deposit.
//!
//! - [`prover`]: the client's proofs (with precomputation for low latency);
//! - [`wallet`]: the client's credits, with the next ticket index committed to disk before any
//!   proof for it leaves the machine;
//! - [`payer`]: a ticket for a request, from the wallet's credits;
//! - [`verifier`] and [`store`]: the provider's checks and its spent-nullifier record;
//! - [`provider`]: the provider's HTTP proxy in front of any OpenAI-compatible upstream;
//! - [`roots`]: the deposit tree's roots the provider accepts, followed on chain, and read again
//!   (rate-limited) when a ticket names one it does not know;
//! - [`duties`]: the provider's transactions: slashing double spenders, committing served
//!   tickets, claiming them from members who withdraw, paying withdrawals out;
//! - [`chain`]: the deposit contract as both sides read it.

pub mod chain;
pub mod duties;
pub mod field;
pub mod payer;
pub mod postgres;
pub mod prover;
pub mod provider;
pub mod roots;
pub mod store;
pub mod ticket;
pub mod tree;
pub mod verifier;
pub mod wallet;

pub use crate::postgres::PostgresStore;
pub use payer::Payer;
pub use prover::{Credential, Prepared, Prover};
pub use rln::prelude::{Fr, SecretFr};
pub use store::{NullifierStore, PendingBatch, Spend, SqliteStore};
pub use ticket::{TICKET_HEADER, Ticket, signal};
pub use tree::Membership;
pub use verifier::Verifier;
pub use wallet::{Credit, CreditState, Wallet};

/// What can go wrong with credits and tickets.
#[derive(Debug, thiserror::Error)]
pub enum ZkError {
    /// A ticket, key or value is not well formed.
    #[error("{0}")]
    Malformed(String),
    /// The ticket's proof does not verify.
    #[error("the ticket's proof is invalid")]
    InvalidProof,
    /// The ticket was proved against a root the provider does not know (too old, or never the
    /// deposit contract's).
    #[error("the ticket proves membership of a tree the provider does not know; refresh the deposit tree and retry")]
    UnknownRoot,
    /// The ticket's signal is not this request's.
    #[error("the ticket pays for a different request")]
    WrongRequest,
    /// Every ticket the deposit bought is used.
    #[error("all {limit} tickets of this deposit are used; deposit again")]
    LimitReached {
        /// Tickets the deposit bought.
        limit: u32,
    },
    /// Proof generation failed.
    #[error("cannot make the proof: {0}")]
    Prove(String),
    /// The membership tree could not be built.
    #[error("membership tree: {0}")]
    Tree(String),
    /// The store failed.
    #[error("credit store: {0}")]
    Store(String),
    /// The deposit contract could not be read or refused a call.
    #[error(transparent)]
    Chain(#[from] sov_chain::Error),
    /// The deposit contract's RPC endpoint did not answer in time.
    #[error("the deposit contract's RPC endpoint did not answer within {0:?}; is it up?")]
    ChainTimeout(std::time::Duration),
    /// A look at the deposit contract failed; the error it gave.
    #[error("cannot read the deposit contract: {0}")]
    ChainUnreadable(String),
    /// The contract registers no deposit under this identity commitment.
    #[error("no deposit is registered under identity {0}")]
    UnknownDeposit(String),
}
