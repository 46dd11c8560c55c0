//! The deposit contract as both sides read it: a client that needs no key for reads, the
//! membership tree rebuilt from its deposits, and the conversions between the contract's words
//! and the proofs' field elements.

use sov_chain::{Address, Credits, PrivateKeySigner, U256};

use crate::field::{from_bytes, to_bytes};
use crate::{Fr, Membership, ZkError};

/// A client of the contract at `contract` through `rpc` for reading only, every request going
/// through `http` (the outbound policy's route for the chain): reads need no key, so none is
/// loaded (a random signer stands in and never signs).
pub fn reader(rpc: &str, contract: Address, http: &sov_net::Http) -> Result<Credits, ZkError> {
    Ok(Credits::at(rpc, contract, PrivateKeySigner::random(), http)?)
}

/// `text` as a contract address, or what is wrong with it.
pub fn address(text: &str) -> Result<Address, ZkError> {
    text.parse()
        .map_err(|e| ZkError::Malformed(format!("`{text}` is not an Ethereum address (0x and 40 hex digits): {e}")))
}

/// A word from the contract as a field element; words outside the field are refused.
pub fn fr(value: U256) -> Result<Fr, ZkError> {
    from_bytes("a value from the contract", &value.to_be_bytes::<32>())
}

/// A field element as the contract's word.
pub fn u256(value: &Fr) -> U256 {
    U256::from_be_bytes(to_bytes(value))
}

/// The membership tree of every deposit the contract holds now.
pub async fn membership(credits: &Credits) -> Result<Membership, ZkError> {
    let leaves = credits.leaves().await?.into_iter().map(fr).collect::<Result<Vec<_>, _>>()?;
    Membership::new(&leaves)
}
