//! The client's side of a paid call: a proof that "some depositor with credit left" made it.

use rln::prelude::{
    ArkGroth16Backend, Fr, PartialProof, PoseidonHash, RLN, RLNBuilder, RLNMerkleProof, RLNPartialWitnessInput,
    RLNWitnessInput, SecretFr, Stateless,
};

use crate::ZkError;
use crate::ticket::Ticket;

/// What the client proves with: its secret and the limit its deposit bought.
#[derive(Clone)]
pub struct Credential {
    /// The identity secret `k`.
    pub secret: SecretFr,
    /// Tickets the deposit pays for: `floor(deposit / price)`.
    pub limit: u32,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential").field("secret", &"<secret>").field("limit", &self.limit).finish()
    }
}

/// The part of a proof that depends only on the credential and its Merkle path, computed ahead
/// of calls (it holds no randomness: each finished proof draws its own, so proofs finished from
/// one preparation are as unlinkable as any two proofs).
pub struct Prepared {
    partial: PartialProof,
    path: RLNMerkleProof,
    root: Fr,
}

impl Prepared {
    /// The root the preparation's path leads to.
    pub fn root(&self) -> Fr {
        self.root
    }
}

/// The RLN circuit and its proving key (embedded in the `rln` crate; nothing is fetched).
pub struct Prover {
    rln: RLN<Stateless, ArkGroth16Backend<PoseidonHash>>,
}

impl Default for Prover {
    fn default() -> Self {
        Self::new()
    }
}

impl Prover {
    /// Loads the circuit and key.
    pub fn new() -> Self {
        Self { rln: RLNBuilder::stateless().build() }
    }

    /// A whole proof for ticket `index` paying for signal `x`, in one step.
    pub fn prove(
        &self,
        credential: &Credential,
        path: &RLNMerkleProof,
        external_nullifier: Fr,
        index: u32,
        x: Fr,
    ) -> Result<Ticket, ZkError> {
        let witness = witness(credential, path, external_nullifier, index, x)?;
        let (proof, values) = self.rln.generate_proof(&witness).map_err(|e| ZkError::Prove(e.to_string()))?;
        ticket(proof, &values)
    }

    /// Precomputes what [`Prover::finish`] needs, for this credential at this path.
    pub fn prepare(&self, credential: &Credential, path: RLNMerkleProof, root: Fr) -> Result<Prepared, ZkError> {
        let partial_witness = RLNPartialWitnessInput::new()
            .identity_secret(credential.secret.clone())
            .user_message_limit(Fr::from(credential.limit))
            .merkle_proof(path.clone())
            .build()
            .map_err(|e| ZkError::Prove(e.to_string()))?;
        let partial = self.rln.generate_partial_proof(&partial_witness).map_err(|e| ZkError::Prove(e.to_string()))?;
        Ok(Prepared { partial, path, root })
    }

    /// The proof for ticket `index` paying for `x`, finished from a preparation.
    pub fn finish(
        &self,
        prepared: &Prepared,
        credential: &Credential,
        external_nullifier: Fr,
        index: u32,
        x: Fr,
    ) -> Result<Ticket, ZkError> {
        let witness = witness(credential, &prepared.path, external_nullifier, index, x)?;
        let (proof, values) =
            self.rln.finish_proof(&prepared.partial, &witness).map_err(|e| ZkError::Prove(e.to_string()))?;
        ticket(proof, &values)
    }
}

fn witness(
    credential: &Credential,
    path: &RLNMerkleProof,
    external_nullifier: Fr,
    index: u32,
    x: Fr,
) -> Result<RLNWitnessInput, ZkError> {
    if index >= credential.limit {
        return Err(ZkError::LimitReached { limit: credential.limit });
    }
    RLNWitnessInput::new_single()
        .identity_secret(credential.secret.clone())
        .user_message_limit(Fr::from(credential.limit))
        .merkle_proof(path.clone())
        .x(x)
        .external_nullifier(external_nullifier)
        .message_id(Fr::from(index))
        .build()
        .map_err(|e| ZkError::Prove(e.to_string()))
}

fn ticket(proof: rln::prelude::Proof, values: &rln::prelude::RLNProofValues) -> Result<Ticket, ZkError> {
    let (Some(nullifier), Some(y)) = (values.nullifier(), values.y()) else {
        return Err(ZkError::Prove("the circuit produced multi-ticket values".into()));
    };
    Ok(Ticket { proof, root: values.root(), nullifier, x: values.x(), y })
}
