//! The chain side of Sovereign's anonymous API credits: a client for the `ZkApiCredits` deposit
//! contract (`contracts/src/ZkApiCredits.sol`), the keccak batch tree the provider commits served
//! nullifiers with, and (feature `testing`) a harness that runs a local anvil.
//!
//! Users deposit once with an RLN identity commitment; each call is then paid with an RLN proof
//! against the contract's membership tree (the `sov-zkapi` crate makes and checks those proofs
//! and rebuilds the tree from [`Credits::leaves`]). Withdrawal reveals the secret, the provider
//! proves the tickets it served from batches committed before the reveal, and the rest of the
//! deposit goes back to the user.
//!
//! What it does **not** do: it computes no Poseidon hash and no Merkle path of the membership
//! tree (callers pass the siblings), holds no key beyond the signer it is given, and never picks
//! a chain: every call goes to the RPC URL the caller names.
//!
//! Security properties:
//! - ABI and bytecode come from the checked-in build `contracts/build/ZkApiCredits.json`, which
//!   `scripts/compile-contracts.sh --check` proves is the compiled source.
//! - The contract's Poseidon libraries live at CREATE2 addresses derived from their code, so the
//!   linked bytecode cannot be pointed at other code.
//! - Every request to the node goes through the [`sov_net::Http`] the caller passes
//!   ([`rpc::NetTransport`]), i.e. by the outbound policy's route for the chain; alloy's own HTTP
//!   client, which would go out directly, is never built (the anvil harness of `testing` talks
//!   to loopback only).
//! - A refused call surfaces as [`Error::Reverted`] with the contract's decoded custom error;
//!   nothing is retried behind the caller's back.

pub mod batch;
pub mod credits;
pub mod error;
pub mod libraries;
pub mod rpc;
#[cfg(feature = "testing")]
pub mod testing;

pub use alloy::primitives::{Address, B256, TxHash, U256};
pub use alloy::signers::local::PrivateKeySigner;
pub use batch::ServedBatch;
pub use credits::{
    Claimed, Committed, CommittedBatch, Credits, Deposit, DepositRecord, Finalized, Member, MemberState, Reveal, Sent,
    ServedTicket, Slash, WithdrawRequest, Withdrawal,
};
pub use error::{Error, Result, Revert};

/// The contract's Rust bindings, generated from the checked-in ABI and bytecode.
pub mod bindings {
    #![allow(missing_docs, unreachable_pub, clippy::too_many_arguments)]
    alloy::sol!(
        #[sol(rpc, all_derives = true)]
        ZkApiCredits,
        "../../contracts/build/ZkApiCredits.json"
    );
}

/// Depth of the membership tree (RLN's default circuit).
pub const TREE_DEPTH: usize = 20;
/// Most tickets one deposit can buy.
pub const MAX_LIMIT: u16 = u16::MAX;
