//! A fresh anvil with a deployed contract per test, RLN identities, and an off-chain mirror of
//! the membership tree built with rln's own Poseidon and zerokit's Merkle tree.

use std::fmt::Debug;

use rln::prelude::{CanonicalDeserialize, CanonicalSerialize, Fr, Hasher, PoseidonHash};
use sov_chain::testing::Anvil;
use sov_chain::{Credits, Error, Revert, U256};
use zerokit_utils::merkle_tree::{OptimalMerkleTree, ZerokitMerkleProof, ZerokitMerkleTree};

pub type Poseidon = Hasher<PoseidonHash>;

/// 0.001 ether per call.
pub const PRICE: u64 = 1_000_000_000_000_000;
pub const WINDOW: u64 = 3600;

pub fn price(tickets: u64) -> U256 {
    U256::from(PRICE) * U256::from(tickets)
}

pub fn external_nullifier() -> U256 {
    // Any field element: the provider's constant, as RLN would derive it from its identifier.
    to_u256(Poseidon::hash_pair(Fr::from(0x50_56_52_4e_u64), Fr::from(1u64)))
}

pub fn to_u256(f: Fr) -> U256 {
    let mut bytes = Vec::new();
    f.serialize_compressed(&mut bytes).unwrap();
    U256::from_le_slice(&bytes)
}

pub fn to_fr(u: U256) -> Fr {
    Fr::deserialize_compressed(&u.to_le_bytes::<32>()[..]).unwrap()
}

/// An RLN identity: `commitment = Poseidon([secret])`.
#[derive(Debug, Clone, Copy)]
pub struct Identity {
    pub secret: U256,
    pub commitment: U256,
}

impl Identity {
    pub fn new(seed: u64) -> Self {
        let secret = Poseidon::hash_pair(Fr::from(seed), Fr::from(0xdead_beef_u64));
        Self { secret: to_u256(secret), commitment: to_u256(Poseidon::hash_single(secret)) }
    }

    /// The leaf: `Poseidon([commitment, limit])`.
    pub fn rate_commitment(&self, limit: u64) -> U256 {
        to_u256(Poseidon::hash_pair(to_fr(self.commitment), Fr::from(limit)))
    }

    /// RLN's nullifier of ticket `message_id`: `Poseidon([Poseidon([secret, ext, message_id])])`.
    pub fn nullifier(&self, message_id: u64) -> U256 {
        let a1 = Poseidon::hash_list(&[to_fr(self.secret), to_fr(external_nullifier()), Fr::from(message_id)]);
        to_u256(Poseidon::hash_single(a1))
    }

    pub fn tickets(&self, limit: u64) -> Vec<(u64, U256)> {
        (0..limit).map(|m| (m, self.nullifier(m))).collect()
    }
}

/// The membership tree as RLN's prover sees it.
pub struct Mirror {
    tree: OptimalMerkleTree<PoseidonHash>,
    leaves: Vec<U256>,
}

impl Mirror {
    pub fn new() -> Self {
        Self { tree: OptimalMerkleTree::default(sov_chain::TREE_DEPTH).unwrap(), leaves: Vec::new() }
    }

    pub fn from_leaves(leaves: &[U256]) -> Self {
        let mut mirror = Self::new();
        for leaf in leaves {
            mirror.push(*leaf);
        }
        mirror
    }

    pub fn push(&mut self, leaf: U256) {
        self.tree.set(self.leaves.len(), to_fr(leaf)).unwrap();
        self.leaves.push(leaf);
    }

    pub fn zero(&mut self, index: usize) {
        self.tree.set(index, Fr::from(0u64)).unwrap();
        self.leaves[index] = U256::ZERO;
    }

    pub fn root(&self) -> U256 {
        to_u256(self.tree.root())
    }

    pub fn leaves(&self) -> &[U256] {
        &self.leaves
    }

    /// Merkle path of leaf `index`, leaf level first, as the contract takes it.
    pub fn siblings(&self, index: usize) -> Vec<U256> {
        self.tree.proof(index).unwrap().get_path_elements().into_iter().map(to_u256).collect()
    }
}

/// A fresh anvil with ZkApiCredits deployed by dev account 0, the provider.
pub struct Chain {
    pub anvil: Anvil,
    pub provider: Credits,
}

impl Chain {
    pub async fn start() -> Self {
        Self::start_on(Anvil::start().unwrap()).await
    }

    pub async fn start_on(anvil: Anvil) -> Self {
        let http = anvil.http();
        let provider =
            Credits::deploy(anvil.url(), Anvil::signer(0), U256::from(PRICE), external_nullifier(), WINDOW, &http)
                .await
                .unwrap();
        Self { anvil, provider }
    }

    /// The contract as seen by dev account `index`.
    pub fn account(&self, index: usize) -> Credits {
        self.provider.with_signer(self.anvil.url(), Anvil::signer(index)).unwrap()
    }

    pub async fn mirror(&self) -> Mirror {
        Mirror::from_leaves(&self.provider.leaves().await.unwrap())
    }
}

/// The contract's custom error of a call that must have been refused.
pub fn refused<T: Debug>(result: Result<T, Error>) -> Revert {
    match result {
        Err(Error::Reverted { revert, .. }) => revert,
        other => panic!("expected a revert, got {other:?}"),
    }
}
