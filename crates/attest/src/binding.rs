//! Binding an HPKE public key and an epoch into the TEE's `report_data`.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Domain-separation prefix of [`binding`].
pub const BINDING_DOMAIN: &[u8] = b"sovereign-attest-v1";

/// The 32-byte commitment to an HPKE public key and an epoch:
/// `SHA-256("sovereign-attest-v1" || 0x00 || hpke_public_key || epoch.to_be_bytes())`.
///
/// It forms the first half of [`report_data`]. A provider that wants clients to encrypt to key `K` during epoch `E` asks its TEE for evidence
/// whose 64-byte `report_data` is [`report_data`]`(K, E)`:
///
/// ```text
/// report_data[0..32]  = SHA-256("sovereign-attest-v1" || 0x00 || K (32 bytes, X25519) || E (u64 big-endian))
/// report_data[32..64] = 0
/// ```
///
/// The hardware signs `report_data` together with the measurements, so a verified quote whose
/// `report_data` matches proves that code with those measurements chose to publish `K` for `E`.
/// The domain string and the `0x00` separator keep this hash apart from any other use of
/// SHA-256 over a key; the zero tail leaves room for a later version without ambiguity.
pub fn binding(hpke_public_key: &[u8; 32], epoch: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(BINDING_DOMAIN);
    h.update([0u8]);
    h.update(hpke_public_key);
    h.update(epoch.to_be_bytes());
    h.finalize().into()
}

/// The full 64-byte `report_data` a provider requests from its TEE: [`binding`] followed by 32
/// zero bytes.
pub fn report_data(hpke_public_key: &[u8; 32], epoch: u64) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&binding(hpke_public_key, epoch));
    out
}

/// Whether `report_data` binds exactly this key and epoch (including the zero tail).
pub fn binds(report_data_field: &[u8; 64], hpke_public_key: &[u8; 32], epoch: u64) -> bool {
    *report_data_field == report_data(hpke_public_key, epoch)
}

/// The HPKE key and epoch a client expects the evidence to bind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpectedKey {
    /// X25519 HPKE public key.
    pub hpke_public_key: [u8; 32],
    /// Key epoch.
    pub epoch: u64,
}

/// What the verified `report_data` says about the HPKE key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum KeyBinding {
    /// `report_data` binds this key for this epoch: encrypting to it reaches the attested code.
    Bound {
        /// The bound key, hex in JSON.
        #[serde(serialize_with = "hex_32")]
        hpke_public_key: [u8; 32],
        /// The bound epoch.
        epoch: u64,
    },
    /// No key was offered, so the evidence binds no key this client knows of. Do not encrypt
    /// private data to any key on the strength of such a verdict.
    NotBound,
    /// A `dev` bundle: there is no hardware evidence, so the key is bound by nothing at all.
    Unattested,
}

fn hex_32<S: serde::Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(v))
}

/// Check `report_data` against the expected key, if any. A mismatch is an error; no key
/// gives [`KeyBinding::NotBound`].
pub(crate) fn check(report_data_field: &[u8; 64], expected: Option<&ExpectedKey>) -> Result<KeyBinding, crate::Error> {
    match expected {
        None => Ok(KeyBinding::NotBound),
        Some(e) if binds(report_data_field, &e.hpke_public_key, e.epoch) => {
            Ok(KeyBinding::Bound { hpke_public_key: e.hpke_public_key, epoch: e.epoch })
        }
        Some(e) => Err(crate::Error::KeyNotBound { epoch: e.epoch }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn binding_is_sha256_of_the_documented_preimage() {
        let key = [7u8; 32];
        let mut pre = b"sovereign-attest-v1".to_vec();
        pre.push(0);
        pre.extend_from_slice(&key);
        pre.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x01, 0x02]);
        let want: [u8; 32] = Sha256::digest(&pre).into();
        assert_eq!(binding(&key, 0x0102), want);
    }

    #[test]
    fn binding_known_answer() {
        // Frozen value: changing the construction breaks every deployed provider.
        assert_eq!(
            hex::encode(binding(&[0u8; 32], 0)),
            "8f2bb268fe3bced1c94785d0d33382e2316ba3b7fbed6a5b5966dbf8ff003060"
        );
    }

    #[test]
    fn binding_separates_key_and_epoch() {
        let k1 = [1u8; 32];
        let k2 = [2u8; 32];
        assert_ne!(binding(&k1, 1), binding(&k2, 1));
        assert_ne!(binding(&k1, 1), binding(&k1, 2));
    }

    #[test]
    fn report_data_layout_and_check() {
        let key = [9u8; 32];
        let rd = report_data(&key, 42);
        assert_eq!(&rd[..32], &binding(&key, 42));
        assert_eq!(&rd[32..], &[0u8; 32]);
        let want = ExpectedKey { hpke_public_key: key, epoch: 42 };
        assert_eq!(check(&rd, Some(&want)).unwrap(), KeyBinding::Bound { hpke_public_key: key, epoch: 42 });
        assert_eq!(check(&rd, None).unwrap(), KeyBinding::NotBound);
        // Wrong epoch, wrong key, non-zero tail: all refused with the same precise message.
        for (rd, want) in [
            (rd, ExpectedKey { hpke_public_key: key, epoch: 43 }),
            (rd, ExpectedKey { hpke_public_key: [8u8; 32], epoch: 42 }),
            (
                {
                    let mut t = rd;
                    t[63] = 1;
                    t
                },
                want,
            ),
        ] {
            let err = check(&rd, Some(&want)).unwrap_err();
            assert!(matches!(err, crate::Error::KeyNotBound { .. }), "{err:?}");
            assert!(err.to_string().starts_with("report_data does not bind the offered HPKE key"));
        }
    }
}
