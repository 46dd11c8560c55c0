//! The membership tree: the deposit contract's leaves, rebuilt off chain to prove membership.

use rln::prelude::{DEFAULT_TREE_DEPTH, Fr, Hasher, PoseidonHash, RLNMerkleProof};
use zerokit_utils::merkle_tree::{OptimalMerkleTree, ZerokitMerkleTree as _};

use crate::ZkError;

/// Depth of the deposit contract's tree, and of the circuit `rln` embeds: 2^20 deposits.
pub const TREE_DEPTH: usize = DEFAULT_TREE_DEPTH;

/// The tree of rate commitments, one leaf per deposit (0 once slashed or withdrawn).
pub struct Membership {
    tree: OptimalMerkleTree<PoseidonHash>,
}

impl Membership {
    /// The tree holding `leaves` from index 0.
    pub fn new(leaves: &[Fr]) -> Result<Self, ZkError> {
        let mut tree = OptimalMerkleTree::<PoseidonHash>::default(TREE_DEPTH)
            .map_err(|e| ZkError::Tree(format!("cannot create the tree: {e}")))?;
        if !leaves.is_empty() {
            tree.set_range(0, leaves.iter().copied())
                .map_err(|e| ZkError::Tree(format!("cannot hold {} leaves: {e}", leaves.len())))?;
        }
        Ok(Self { tree })
    }

    /// The current root.
    pub fn root(&self) -> Fr {
        self.tree.root()
    }

    /// The path from leaf `index` to the root.
    pub fn path(&self, index: usize) -> Result<RLNMerkleProof, ZkError> {
        let proof = self.tree.proof(index).map_err(|e| ZkError::Tree(format!("no path to leaf {index}: {e}")))?;
        Ok(RLNMerkleProof::from(&proof))
    }

    /// The leaf at `index`.
    pub fn leaf(&self, index: usize) -> Result<Fr, ZkError> {
        self.tree.get(index).map_err(|e| ZkError::Tree(format!("no leaf {index}: {e}")))
    }
}

/// The identity commitment `H(k)` the contract registers for secret `k`.
pub fn id_commitment(secret: &Fr) -> Fr {
    Hasher::<PoseidonHash>::hash_single(*secret)
}

/// The leaf of a deposit: `H(id_commitment, limit)`.
pub fn rate_commitment(id_commitment: Fr, limit: u32) -> Fr {
    Hasher::<PoseidonHash>::hash_pair(id_commitment, Fr::from(limit))
}

/// The nullifier of ticket `message_id` of the identity with secret `k`, for the provider's
/// constant external nullifier `e`: `H(H(k, e, message_id))`, what the ticket's proof shows.
/// Once `k` is public (a withdrawal reveals it) the provider finds the tickets it served.
pub fn nullifier(secret: &Fr, external_nullifier: Fr, message_id: u32) -> Fr {
    let a1 = Hasher::<PoseidonHash>::hash_list(&[*secret, external_nullifier, Fr::from(message_id)]);
    Hasher::<PoseidonHash>::hash_single(a1)
}
