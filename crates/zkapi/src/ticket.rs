//! A paid call's ticket: the proof and its public values, carried in one HTTP header.
//!
//! Wire form (version 1), base64url without padding in the header [`TICKET_HEADER`]:
//! `0x01 ‖ proof (128, arkworks compressed) ‖ root ‖ nullifier ‖ x ‖ y` (32 bytes each,
//! big-endian). The provider recomputes `x` from the request it received and refuses a ticket
//! whose `x` differs, so a ticket cannot be moved to another request.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rln::prelude::{CanonicalDeserialize, CanonicalSerialize, Fr, Proof, hash_to_field_le};

use crate::ZkError;
use crate::field::{FR_BYTES, from_bytes, to_bytes};

/// The request header that carries the ticket.
pub const TICKET_HEADER: &str = "x-zkapi-ticket";

const VERSION: u8 = 1;
/// Bytes of a compressed Groth16 proof over BN254.
pub const PROOF_BYTES: usize = 128;
/// Bytes of an encoded ticket.
pub const TICKET_BYTES: usize = 1 + PROOF_BYTES + 4 * FR_BYTES;

/// One paid call.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    /// The zero-knowledge proof.
    pub proof: Proof,
    /// The membership root it was proved against.
    pub root: Fr,
    /// `H(a1)`, the same for every use of one ticket index by one identity.
    pub nullifier: Fr,
    /// The signal: the hash of the request ([`signal`]).
    pub x: Fr,
    /// The share `y = k + a1·x`; two shares of one ticket reveal `k`.
    pub y: Fr,
}

impl Ticket {
    /// The header value.
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(TICKET_BYTES);
        bytes.push(VERSION);
        // Serialising into a Vec cannot fail.
        let _ = self.proof.serialize_compressed(&mut bytes);
        for value in [&self.root, &self.nullifier, &self.x, &self.y] {
            bytes.extend_from_slice(&to_bytes(value));
        }
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The ticket in a header value; every way it can be malformed is named.
    pub fn decode(header: &str) -> Result<Self, ZkError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(header.trim())
            .map_err(|e| ZkError::Malformed(format!("{TICKET_HEADER} is not base64url: {e}")))?;
        match bytes.first() {
            None => return Err(ZkError::Malformed(format!("{TICKET_HEADER} is empty"))),
            Some(&VERSION) => {}
            Some(v) => {
                return Err(ZkError::Malformed(format!(
                    "{TICKET_HEADER} has version {v}; this provider reads version {VERSION}"
                )));
            }
        }
        if bytes.len() != TICKET_BYTES {
            return Err(ZkError::Malformed(format!(
                "{TICKET_HEADER} holds {} bytes; a version {VERSION} ticket holds {TICKET_BYTES}",
                bytes.len()
            )));
        }
        let proof_bytes = &bytes[1..1 + PROOF_BYTES];
        // Compressed points are checked to be on the curve and in the right subgroup.
        let proof = Proof::deserialize_compressed(proof_bytes)
            .map_err(|e| ZkError::Malformed(format!("the proof in {TICKET_HEADER} is not a valid proof: {e}")))?;
        let field = |i: usize, what: &'static str| {
            let at = 1 + PROOF_BYTES + i * FR_BYTES;
            from_bytes(what, &bytes[at..at + FR_BYTES])
        };
        Ok(Self {
            proof,
            root: field(0, "the ticket's root")?,
            nullifier: field(1, "the ticket's nullifier")?,
            x: field(2, "the ticket's x")?,
            y: field(3, "the ticket's y")?,
        })
    }
}

/// The signal `x` of a request: a hash of its method, path (with query) and body, so a ticket
/// pays for exactly this request.
pub fn signal(method: &str, path_and_query: &str, body: &[u8]) -> Fr {
    let mut message = Vec::with_capacity(method.len() + path_and_query.len() + body.len() + 2);
    message.extend_from_slice(method.as_bytes());
    message.push(b' ');
    message.extend_from_slice(path_and_query.as_bytes());
    message.push(b'\n');
    message.extend_from_slice(body);
    hash_to_field_le(&message)
}
