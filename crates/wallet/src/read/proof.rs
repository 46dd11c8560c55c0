//! Checking an `eth_getProof` answer against a block's state root: the pure core of the verified
//! reads, with no network.
//!
//! # Guarantees
//! - An account is accepted only if its proof leads from the state root, by the key
//!   `keccak256(address)`, to exactly the account the answer states (nonce, balance, storage
//!   root, code hash), or, for an account the answer says is empty, to nothing at that key.
//! - A storage value is accepted only if its proof leads from that (proven) storage root, by the
//!   key `keccak256(slot)`, to exactly the value stated, or to nothing for a zero value.
//! - The walk itself is alloy-trie's [`verify_proof`]; nothing here decodes trie nodes.
//! - The answer must be about the account and the slots asked for, in that order.

use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::rpc::types::EIP1186AccountProofResponse;
use alloy::trie::proof::verify_proof;
use alloy::trie::{Nibbles, TrieAccount};

/// Where OpenZeppelin's ERC20 keeps `_balances`, the `mapping(address => uint256)` whose entries
/// [`balance_slot`] locates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalancesLayout {
    /// `ERC20` (OpenZeppelin 2.x to 5.x, not upgradeable): `_balances` is the first state
    /// variable, slot 0.
    Plain,
    /// `ERC20Upgradeable` (OpenZeppelin 5.x): ERC-7201 namespaced storage
    /// `openzeppelin.storage.ERC20`, whose first field is `_balances`.
    Namespaced,
}

impl BalancesLayout {
    /// The layouts a token balance is looked for in, in this order.
    pub const ALL: [Self; 2] = [Self::Plain, Self::Namespaced];

    /// The slot of the `_balances` mapping itself.
    pub fn mapping_slot(self) -> B256 {
        match self {
            Self::Plain => B256::ZERO,
            Self::Namespaced => erc7201_slot("openzeppelin.storage.ERC20"),
        }
    }
}

/// The ERC-7201 base slot of namespace `id`:
/// `keccak256(abi.encode(uint256(keccak256(id)) - 1)) & ~bytes32(uint256(0xff))`.
pub fn erc7201_slot(id: &str) -> B256 {
    let inner = U256::from_be_bytes(keccak256(id.as_bytes()).0) - U256::from(1);
    let mut slot = keccak256(inner.to_be_bytes::<32>());
    slot.0[31] = 0;
    slot
}

/// The storage slot of `mapping[holder]` for a Solidity `mapping(address => …)` at
/// `mapping_slot`: `keccak256(pad32(holder) ‖ mapping_slot)`.
pub fn balance_slot(holder: Address, mapping_slot: B256) -> B256 {
    let mut preimage = [0u8; 64];
    preimage[12..32].copy_from_slice(holder.as_slice());
    preimage[32..].copy_from_slice(mapping_slot.as_slice());
    keccak256(preimage)
}

/// Checks that `answer` is a proof, against `state_root`, of the account `address` and of the
/// storage `slots` (in that order), as it states them. On failure, says what did not verify.
pub fn verify(
    state_root: B256,
    address: Address,
    slots: &[B256],
    answer: &EIP1186AccountProofResponse,
) -> Result<(), String> {
    if answer.address != address {
        return Err(format!("the proof is of account {}, not of {address}", answer.address));
    }
    let account = TrieAccount::new(answer.nonce, answer.balance, answer.storage_hash, answer.code_hash);
    let key = Nibbles::unpack(keccak256(address));
    let included = verify_proof(state_root, key, Some(alloy::rlp::encode(account)), &answer.account_proof);
    // An empty account (EIP-161) is absent from the trie: its proof shows nothing at its key.
    let empty = answer.nonce == 0
        && answer.balance.is_zero()
        && answer.storage_hash == alloy::trie::EMPTY_ROOT_HASH
        && answer.code_hash == alloy::trie::KECCAK_EMPTY;
    if let Err(e) = included
        && !(empty && verify_proof(state_root, key, None, &answer.account_proof).is_ok())
    {
        return Err(format!("the account proof of {address} does not lead to the account stated ({e})"));
    }

    if answer.storage_proof.len() != slots.len() {
        return Err(format!("{} storage proofs for the {} slots asked for", answer.storage_proof.len(), slots.len()));
    }
    for (slot, proof) in slots.iter().zip(&answer.storage_proof) {
        if proof.key.as_b256() != *slot {
            return Err(format!("a storage proof is of slot {}, not of {slot}", proof.key.as_b256()));
        }
        let expected = (!proof.value.is_zero()).then(|| alloy::rlp::encode(proof.value));
        verify_proof(answer.storage_hash, Nibbles::unpack(keccak256(slot)), expected, &proof.proof).map_err(|e| {
            format!("the storage proof of slot {slot} does not lead to the value stated, {} ({e})", proof.value)
        })?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use alloy::primitives::{Bytes, address, b256};
    use alloy::rpc::types::EIP1186StorageProof;

    use super::*;

    #[test]
    fn openzeppelin_5s_namespace_is_the_slot_its_source_states() {
        // ERC20Upgradeable.sol: ERC20StorageLocation.
        assert_eq!(
            BalancesLayout::Namespaced.mapping_slot(),
            b256!("0x52c63247e1f47db19d5ce0460030c497f067ca4cebf71ba98eeadabe20bace00")
        );
        assert_eq!(BalancesLayout::Plain.mapping_slot(), B256::ZERO);
    }

    #[test]
    fn a_mapping_entry_is_the_hash_of_the_padded_key_and_the_slot() {
        let holder = address!("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
        let mut preimage =
            alloy::hex::decode("00000000000000000000000070997970c51812dc3a010c7d01b50e0d17dc79c8").unwrap();
        preimage.extend([0u8; 32]);
        assert_eq!(balance_slot(holder, B256::ZERO), keccak256(&preimage));
    }

    /// A one-account state trie built with alloy-trie's own hash builder.
    fn one_account_state(address: Address, account: TrieAccount) -> (B256, Vec<Bytes>) {
        let key = Nibbles::unpack(keccak256(address));
        let mut builder = alloy::trie::HashBuilder::default()
            .with_proof_retainer(alloy::trie::proof::ProofRetainer::from_iter([key]));
        builder.add_leaf(key, &alloy::rlp::encode(account));
        let root = builder.root();
        let proof = builder.take_proof_nodes().into_nodes_sorted().into_iter().map(|(_, node)| node).collect();
        (root, proof)
    }

    #[test]
    fn an_account_verifies_only_as_it_is() {
        let who = address!("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
        let account = TrieAccount::new(3, U256::from(1000), alloy::trie::EMPTY_ROOT_HASH, alloy::trie::KECCAK_EMPTY);
        let (root, account_proof) = one_account_state(who, account);
        let answer = EIP1186AccountProofResponse {
            address: who,
            balance: account.balance,
            code_hash: account.code_hash,
            nonce: account.nonce,
            storage_hash: account.storage_root,
            account_proof,
            storage_proof: Vec::new(),
        };
        verify(root, who, &[], &answer).unwrap();

        let mut richer = answer.clone();
        richer.balance += U256::from(1);
        assert!(verify(root, who, &[], &richer).unwrap_err().contains("does not lead to the account stated"));
        let other = address!("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC");
        assert!(verify(root, other, &[], &answer).unwrap_err().contains("not of"));
        // Claiming the account is empty, with the same proof, does not verify either.
        let emptied = EIP1186AccountProofResponse { balance: U256::ZERO, nonce: 0, ..answer.clone() };
        assert!(verify(root, who, &[], &emptied).is_err());
        // Nor does a proof for slots nobody asked about, or no proof for one that was.
        let slot = B256::ZERO;
        assert!(verify(root, who, &[slot], &answer).unwrap_err().contains("0 storage proofs"));
        let mut claimed = answer;
        claimed.storage_proof.push(EIP1186StorageProof { key: slot.into(), value: U256::from(7), proof: Vec::new() });
        assert!(verify(root, who, &[slot], &claimed).unwrap_err().contains("storage proof of slot"));
    }
}
