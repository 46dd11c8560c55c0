//! Field elements on the wire: 32 bytes, big-endian, as Solidity's `uint256` holds them.

use ark_ff::PrimeField as _;
use rln::prelude::Fr;

use crate::ZkError;

/// Bytes in one encoded field element.
pub const FR_BYTES: usize = 32;

/// `value` as 32 big-endian bytes.
pub fn to_bytes(value: &Fr) -> [u8; FR_BYTES] {
    use rln::prelude::CanonicalSerializeBE as _;
    let mut out = [0u8; FR_BYTES];
    // Writing into a fixed buffer of exactly the serialised size cannot fail.
    let _ = value.serialize(&mut out[..]);
    out
}

/// The field element in `bytes`; a value at or above the field's modulus is refused rather than
/// reduced, so no two encodings name the same element (a mutated ticket cannot alias a spent one).
pub fn from_bytes(what: &'static str, bytes: &[u8]) -> Result<Fr, ZkError> {
    if bytes.len() != FR_BYTES {
        return Err(ZkError::Malformed(format!("{what} is {} bytes; a field element is {FR_BYTES}", bytes.len())));
    }
    let value = Fr::from_be_bytes_mod_order(bytes);
    if to_bytes(&value) != bytes {
        return Err(ZkError::Malformed(format!("{what} is not a field element (it is not below the BN254 modulus)")));
    }
    Ok(value)
}

/// `value` in hex with a `0x` prefix, as block explorers and Solidity show it.
pub fn to_hex(value: &Fr) -> String {
    format!("0x{}", hex::encode(to_bytes(value)))
}

/// The field element in `text` (hex, `0x` optional).
pub fn from_hex(what: &'static str, text: &str) -> Result<Fr, ZkError> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let bytes = hex::decode(digits).map_err(|e| ZkError::Malformed(format!("{what} is not hex: {e}")))?;
    let mut padded = [0u8; FR_BYTES];
    if bytes.len() > FR_BYTES {
        return Err(ZkError::Malformed(format!("{what} is {} bytes; a field element is {FR_BYTES}", bytes.len())));
    }
    padded[FR_BYTES - bytes.len()..].copy_from_slice(&bytes);
    from_bytes(what, &padded)
}

/// A uniformly random field element.
pub fn random() -> Fr {
    use ark_ff::UniformRand as _;
    Fr::rand(&mut rand::thread_rng())
}
