//! The provider's check of a ticket: a valid proof, for this request, against a recent root.

use rln::prelude::{ArkGroth16Backend, Fr, PoseidonHash, RLN, RLNBuilder, RLNProofValues, Stateless};

use crate::ZkError;
use crate::ticket::Ticket;

/// Checks tickets for one provider (one external nullifier).
pub struct Verifier {
    rln: RLN<Stateless, ArkGroth16Backend<PoseidonHash>>,
    external_nullifier: Fr,
}

impl Verifier {
    /// A verifier for tickets bound to `external_nullifier`.
    pub fn new(external_nullifier: Fr) -> Self {
        Self { rln: RLNBuilder::stateless().build(), external_nullifier }
    }

    /// Accepts the ticket if it pays for the request whose signal is `x` and proves membership
    /// in one of `roots` (the contract's recent roots). Checks the cheap things first.
    pub fn check(&self, ticket: &Ticket, x: Fr, roots: &[Fr]) -> Result<(), ZkError> {
        if ticket.x != x {
            return Err(ZkError::WrongRequest);
        }
        if !roots.contains(&ticket.root) {
            return Err(ZkError::UnknownRoot);
        }
        let values = RLNProofValues::new_single()
            .y(ticket.y)
            .root(ticket.root)
            .nullifier(ticket.nullifier)
            .x(ticket.x)
            .external_nullifier(self.external_nullifier)
            .build();
        match self.rln.verify(&ticket.proof, &values) {
            Ok(true) => Ok(()),
            Ok(false) => Err(ZkError::InvalidProof),
            Err(e) => Err(ZkError::Malformed(format!("the proof cannot be checked: {e}"))),
        }
    }
}
