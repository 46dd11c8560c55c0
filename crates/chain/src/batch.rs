//! The keccak256 tree over a batch of served nullifiers, as `ZkApiCredits.commitServed` and
//! `claimServed` define it:
//! - a leaf is `keccak256(nullifier)` over the nullifier's 32 big-endian bytes;
//! - a parent is `keccak256(min(a, b) ++ max(a, b))` (sorted pairs: a proof is just the siblings);
//! - a node left without a partner at the end of a level moves up unchanged.
//!
//! Leaves hash 32 bytes and parents 64, so no parent can be presented as a leaf.

use alloy::primitives::{B256, U256, keccak256};

/// The leaf hash of one nullifier.
pub fn leaf_hash(nullifier: U256) -> B256 {
    keccak256(nullifier.to_be_bytes::<32>())
}

fn parent(a: B256, b: B256) -> B256 {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(lo.as_slice());
    buf[32..].copy_from_slice(hi.as_slice());
    keccak256(buf)
}

/// Whether `proof` leads from `nullifier` to `root`, exactly as the contract checks it.
pub fn verify(root: B256, nullifier: U256, proof: &[B256]) -> bool {
    proof.iter().fold(leaf_hash(nullifier), |node, sibling| parent(node, *sibling)) == root
}

/// A batch of served nullifiers with every level of its tree, for the root to commit and the
/// inclusion proofs to claim with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedBatch {
    nullifiers: Vec<U256>,
    /// `levels[0]` are the leaf hashes, the last level holds the root alone.
    levels: Vec<Vec<B256>>,
}

impl ServedBatch {
    /// Builds the tree; `None` for an empty batch, which has no root worth committing.
    pub fn new(nullifiers: Vec<U256>) -> Option<Self> {
        if nullifiers.is_empty() {
            return None;
        }
        let mut levels = vec![nullifiers.iter().map(|n| leaf_hash(*n)).collect::<Vec<_>>()];
        while let Some(level) = levels.last().filter(|l| l.len() > 1) {
            // A pair reduces to its parent, a lone last node to itself.
            let next = level.chunks(2).filter_map(|pair| pair.iter().copied().reduce(parent)).collect();
            levels.push(next);
        }
        Some(Self { nullifiers, levels })
    }

    /// The root to pass to `commitServed`.
    pub fn root(&self) -> B256 {
        // `new` refuses empty batches, so the top level always holds exactly the root.
        self.levels.last().and_then(|l| l.first()).copied().unwrap_or_default()
    }

    /// The nullifiers in the order they were given.
    pub fn nullifiers(&self) -> &[U256] {
        &self.nullifiers
    }

    /// The inclusion proof of the nullifier at `index`, or `None` past the end.
    pub fn proof(&self, index: usize) -> Option<Vec<B256>> {
        if index >= self.nullifiers.len() {
            return None;
        }
        let mut proof = Vec::new();
        let mut position = index;
        for level in &self.levels[..self.levels.len() - 1] {
            if let Some(sibling) = level.get(position ^ 1) {
                proof.push(*sibling);
            }
            position /= 2;
        }
        Some(proof)
    }

    /// The inclusion proof of `nullifier` (its first occurrence), or `None` if it is not in the batch.
    pub fn proof_for(&self, nullifier: U256) -> Option<Vec<B256>> {
        self.nullifiers.iter().position(|n| *n == nullifier).and_then(|i| self.proof(i))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn batch(n: u64) -> ServedBatch {
        ServedBatch::new((1..=n).map(|i| U256::from(i * 1_000_003)).collect()).unwrap()
    }

    #[test]
    fn every_member_of_every_size_proves_against_the_root() {
        for n in 1..=17 {
            let b = batch(n);
            for (i, nullifier) in b.nullifiers().iter().enumerate() {
                let proof = b.proof(i).unwrap();
                assert!(verify(b.root(), *nullifier, &proof), "size {n}, index {i}");
                assert!(proof.len() <= 5, "a proof never has more siblings than the tree has levels");
            }
            assert_eq!(b.proof(n as usize), None);
        }
    }

    #[test]
    fn a_single_nullifier_is_its_own_leaf_hash() {
        let b = batch(1);
        assert_eq!(b.root(), leaf_hash(U256::from(1_000_003u64)));
        assert_eq!(b.proof(0).unwrap(), Vec::<B256>::new());
    }

    #[test]
    fn outsiders_and_tampered_proofs_fail() {
        let b = batch(6);
        let outsider = U256::from(42u64);
        assert_eq!(b.proof_for(outsider), None);
        let proof = b.proof(2).unwrap();
        assert!(!verify(b.root(), outsider, &proof));
        let mut tampered = proof.clone();
        tampered[0] = B256::repeat_byte(7);
        assert!(!verify(b.root(), b.nullifiers()[2], &tampered));
        assert!(!verify(b.root(), b.nullifiers()[2], &proof[..proof.len() - 1]));
    }

    #[test]
    fn an_inner_node_is_not_accepted_as_a_leaf() {
        let b = batch(4);
        let inner = b.levels[1][0];
        let proof_of_inner = vec![b.levels[1][1]];
        assert!(!verify(b.root(), U256::from_be_bytes(inner.0), &proof_of_inner));
    }

    #[test]
    fn empty_batches_have_no_root() {
        assert_eq!(ServedBatch::new(Vec::new()), None);
    }
}
