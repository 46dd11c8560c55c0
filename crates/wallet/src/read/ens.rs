//! ENS names: which names are resolved, their namehash, and the offchain lookups that are not
//! followed. Pure functions; the calls are in [`super::Reader`].
//!
//! - Only ASCII names are resolved: labels of `a-z`, `0-9`, `-` and `_`, separated by dots;
//!   upper-case ASCII is lowered, as ENSIP-15 normalisation does. A Unicode name would need
//!   ENSIP-15's full normalisation and confusable checks, which are not done here, so it is
//!   refused rather than hashed as typed (where a look-alike could resolve to someone else).
//! - A resolver that reverts with EIP-3668's `OffchainLookup` asks the client to fetch a URL the
//!   contract chose; that is never followed ([`is_offchain_lookup`]).

use alloy::primitives::{Address, B256, keccak256};

/// The ENS registry's address on Ethereum mainnet (and its testnets).
pub const MAINNET_REGISTRY: Address = alloy::primitives::address!("0x00000000000C2E074eC69A0dFb2997BA6C7d2e1e");

/// The selector of EIP-3668's `OffchainLookup(address,string[],bytes,bytes4,bytes)` error.
pub const OFFCHAIN_LOOKUP: [u8; 4] = [0x55, 0x6f, 0x18, 0x30];

/// The longest name resolved.
const MAX_NAME: usize = 255;

/// `name` normalised for resolution (ASCII lower-cased), or why it is not resolved.
pub fn normalize(name: &str) -> Result<String, &'static str> {
    if name.is_empty() {
        return Err("the name is empty");
    }
    if name.len() > MAX_NAME {
        return Err("the name is longer than 255 bytes");
    }
    if !name.is_ascii() {
        return Err(
            "only ASCII names (a-z, 0-9, '-', '_') are resolved yet: Unicode names need ENSIP-15 normalisation",
        );
    }
    let name = name.to_ascii_lowercase();
    for label in name.split('.') {
        if label.is_empty() {
            return Err("the name has an empty label (two dots, or a dot at an end)");
        }
        if !label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
            return Err("a label has a character other than a-z, 0-9, '-' and '_'");
        }
    }
    Ok(name)
}

/// EIP-137's namehash of a normalised name.
pub fn namehash(name: &str) -> B256 {
    if name.is_empty() {
        return B256::ZERO;
    }
    name.rsplit('.')
        .fold(B256::ZERO, |node, label| keccak256([node.as_slice(), keccak256(label.as_bytes()).as_slice()].concat()))
}

/// The reverse name of `address`: its lower-case hex digits under `addr.reverse`.
pub fn reverse_name(address: Address) -> String {
    format!("{}.addr.reverse", alloy::hex::encode(address))
}

/// Whether a call's revert data is EIP-3668's `OffchainLookup`: the contract asks the client to
/// fetch an answer from a gateway URL it names.
pub fn is_offchain_lookup(revert_data: &[u8]) -> bool {
    revert_data.starts_with(&OFFCHAIN_LOOKUP)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use alloy::primitives::address;
    use alloy::sol_types::SolError;

    use super::*;

    alloy::sol! {
        error OffchainLookup(address sender, string[] urls, bytes callData, bytes4 callbackFunction, bytes extraData);
    }

    #[test]
    fn the_offchain_lookup_selector_is_eip_3668s() {
        assert_eq!(OffchainLookup::SELECTOR, OFFCHAIN_LOOKUP);
        let revert = OffchainLookup {
            sender: address!("0x00000000000C2E074eC69A0dFb2997BA6C7d2e1e"),
            urls: vec!["https://gateway.example/{sender}/{data}.json".into()],
            callData: Default::default(),
            callbackFunction: Default::default(),
            extraData: Default::default(),
        }
        .abi_encode();
        assert!(is_offchain_lookup(&revert));
        assert!(!is_offchain_lookup(&revert[1..]));
        assert!(!is_offchain_lookup(&[0x55, 0x6f]));
        // Error(string), a plain revert.
        assert!(!is_offchain_lookup(&alloy::hex::decode("08c379a0").unwrap()));
    }

    #[test]
    fn namehash_matches_eip_137() {
        assert_eq!(namehash(""), B256::ZERO);
        assert_eq!(namehash("eth").to_string(), "0x93cdeb708b7545dc668eb9280176169d1c33cfd8ed6f04690a0bcc88a93fc4ae");
        assert_eq!(
            namehash("foo.eth").to_string(),
            "0xde9b09fd7c5f901e23a3f19fecc54828e9c848539801e86591bd9801b019f84f"
        );
        assert_eq!(
            namehash("addr.reverse").to_string(),
            "0x91d1777781884d03a6757a803996e38de2a42967fb37eeaca72729271025a9e2"
        );
    }

    #[test]
    fn only_ascii_names_are_resolved_and_upper_case_is_lowered() {
        assert_eq!(normalize("Alice.ETH").unwrap(), "alice.eth");
        assert_eq!(normalize("a-b_1.eth").unwrap(), "a-b_1.eth");
        for (name, why) in [
            ("", "empty"),
            ("alice..eth", "empty label"),
            (".eth", "empty label"),
            ("alice.eth.", "empty label"),
            ("alice eth", "a label has"),
            ("аlice.eth", "ASCII"), // Cyrillic а
            ("alice\u{202e}.eth", "ASCII"),
        ] {
            assert!(normalize(name).unwrap_err().contains(why), "{name:?}");
        }
        assert!(normalize(&format!("{}.eth", "a".repeat(260))).unwrap_err().contains("255"));
        assert_eq!(
            reverse_name(address!("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")),
            "f39fd6e51aad88f6f4ce6ab8827279cfffb92266.addr.reverse"
        );
    }
}
