//! The provider's check of a ticket: for this request, a valid proof, against a recent root.
//!
//! Tickets that arrive together are verified as one batch: a random linear combination of their
//! Groth16 equations costs one Miller loop per proof plus two and one final exponentiation in
//! all, instead of three Miller loops and a final exponentiation each. A batch that fails is
//! checked ticket by ticket, so one bad ticket never costs another its answer.

use ark_bn254::{Bn254, G1Affine, G1Projective};
use ark_ec::pairing::{Pairing, PairingOutput};
use ark_ec::{AffineRepr as _, CurveGroup as _, VariableBaseMSM as _};
use ark_groth16::{PreparedVerifyingKey, prepare_verifying_key};
use rand::Rng as _;
use rln::prelude::{Fr, default_zkey_single};

use crate::ZkError;
use crate::ticket::Ticket;

/// Checks tickets for one provider (one external nullifier).
pub struct Verifier {
    pvk: PreparedVerifyingKey<Bn254>,
    external_nullifier: Fr,
}

impl Verifier {
    /// A verifier for tickets bound to `external_nullifier`, with the verifying key of the
    /// circuit `rln` embeds.
    pub fn new(external_nullifier: Fr) -> Self {
        Self { pvk: prepare_verifying_key(&default_zkey_single().0.vk), external_nullifier }
    }

    /// Accepts the ticket if it pays for the request whose signal is `x` and proves membership
    /// in one of `roots` (the contract's recent roots). The reasons, in the order they are
    /// checked: [`ZkError::WrongRequest`], [`ZkError::InvalidProof`], [`ZkError::UnknownRoot`].
    /// The proof is checked before the root (a proof verifies against the root it names), so
    /// `UnknownRoot` always means a valid proof for a tree the window lacks: a root newer than
    /// the window, or one it forgot, never garbage.
    pub fn check(&self, ticket: &Ticket, x: Fr, roots: &[Fr]) -> Result<(), ZkError> {
        self.check_batch(&[(ticket, x)], roots).pop().unwrap_or(Err(ZkError::InvalidProof))
    }

    /// [`Verifier::check`] for each `(ticket, x)`, in one batch; the verdicts in order.
    pub fn check_batch(&self, tickets: &[(&Ticket, Fr)], roots: &[Fr]) -> Vec<Result<(), ZkError>> {
        // The cheap check first: a ticket for another request never reaches the pairing.
        let mut verdicts: Vec<Result<(), ZkError>> = tickets
            .iter()
            .map(|(ticket, x)| if ticket.x != *x { Err(ZkError::WrongRequest) } else { Ok(()) })
            .collect();
        let candidates: Vec<usize> = (0..tickets.len()).filter(|&i| verdicts[i].is_ok()).collect();
        let batch: Vec<&Ticket> = candidates.iter().map(|&i| tickets[i].0).collect();
        if !(batch.len() > 1 && self.verify_combined(&batch)) {
            for (&i, ticket) in candidates.iter().zip(&batch) {
                if !self.verify_combined(&[ticket]) {
                    verdicts[i] = Err(ZkError::InvalidProof);
                }
            }
        }
        for &i in &candidates {
            if verdicts[i].is_ok() && !roots.contains(&tickets[i].0.root) {
                verdicts[i] = Err(ZkError::UnknownRoot);
            }
        }
        verdicts
    }

    fn public_inputs(&self, ticket: &Ticket) -> [Fr; 5] {
        // The order the RLN circuit declares them in.
        [ticket.y, ticket.root, ticket.nullifier, ticket.x, self.external_nullifier]
    }

    /// Whether every proof in `tickets` holds. With one ticket this is the plain Groth16 check;
    /// with more, each equation is weighted by a fresh random 128-bit scalar, so a false proof
    /// passes only with probability 2^-128.
    fn verify_combined(&self, tickets: &[&Ticket]) -> bool {
        // A proof of the identity point is never valid (and would make the check degenerate).
        if tickets.iter().any(|t| t.proof.a.is_zero() || t.proof.b.is_zero() || t.proof.c.is_zero()) {
            return false;
        }
        let vk = &self.pvk.vk;
        let mut rng = rand::thread_rng();
        let weights: Vec<Fr> = if tickets.len() == 1 {
            vec![Fr::from(1u8)]
        } else {
            tickets.iter().map(|_| Fr::from(rng.r#gen::<u128>())).collect()
        };

        // Σ r_i·IC_i = (Σ r_i)·γ_abc[0] + Σ_j (Σ_i r_i·input_ij)·γ_abc[j+1]: one small MSM.
        let mut input_scalars = [Fr::from(0u8); 6];
        for (ticket, weight) in tickets.iter().zip(&weights) {
            input_scalars[0] += weight;
            for (slot, input) in input_scalars[1..].iter_mut().zip(self.public_inputs(ticket)) {
                *slot += *weight * input;
            }
        }
        if vk.gamma_abc_g1.len() != input_scalars.len() {
            return false;
        }
        let Ok(inputs) = G1Projective::msm(&vk.gamma_abc_g1, &input_scalars) else { return false };
        let c_points: Vec<G1Affine> = tickets.iter().map(|t| t.proof.c).collect();
        let Ok(c_combined) = G1Projective::msm(&c_points, &weights) else { return false };

        let mut g1: Vec<<Bn254 as Pairing>::G1Prepared> = Vec::with_capacity(tickets.len() + 2);
        let mut g2: Vec<<Bn254 as Pairing>::G2Prepared> = Vec::with_capacity(tickets.len() + 2);
        for (ticket, weight) in tickets.iter().zip(&weights) {
            g1.push((ticket.proof.a * weight).into_affine().into());
            g2.push(ticket.proof.b.into());
        }
        g1.push(inputs.into_affine().into());
        g2.push(self.pvk.gamma_g2_neg_pc.clone());
        g1.push(c_combined.into_affine().into());
        g2.push(self.pvk.delta_g2_neg_pc.clone());

        let Some(result) = Bn254::final_exponentiation(Bn254::multi_miller_loop(g1, g2)) else { return false };
        let weight_sum: Fr = weights.iter().sum();
        result == PairingOutput(self.pvk.alpha_g1_beta_g2) * weight_sum
    }
}
