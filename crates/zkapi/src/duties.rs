//! The provider's transactions: slashing double spenders, committing the tickets it served,
//! claiming them from members who withdraw, and paying those withdrawals out.
//!
//! What this guarantees:
//! - One task sends every transaction ([`Duties::run`]), so the provider's account never has
//!   two in flight: the chain client takes each nonce from the node, and two transactions at
//!   once would take the same one.
//! - Nothing it owes is lost to a crash. A recovered secret stays in the store until its slash
//!   has landed and is retried every round. A batch of served nullifiers is in the store before
//!   it is sent; after a crash the same batch is sent again unless the chain already holds it
//!   (it is looked for among the last eight committed batches and recorded, never committed
//!   twice). Withdrawals are read again from the contract's first block at every start, so a
//!   claim or payout that had not landed is tried again.
//! - A claim names only tickets found in batches committed before the member's reveal and not
//!   claimed yet (the contract checks both), so one claim that lands finds every ticket there
//!   will ever be to claim for that member.
//!
//! What it cannot do:
//! - Claim tickets served but not committed before the member revealed its secret: the
//!   contract refuses them, and the provider is not paid for them. Commit more often
//!   (`commit_every`) to lose fewer.
//! - Claim once the claim window has closed: after the deadline the withdrawal is only paid
//!   out, with what was claimed until then.
//! - Slash a double spender that asked to withdraw first: the contract slashes only active
//!   members. The provider still claims the tickets it served; the slash is retried, and its
//!   refusal logged, every round.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rln::prelude::Fr;
use sov_chain::{Credits, MemberState, ServedBatch, U256};
use tokio::sync::mpsc;

use crate::ZkError;
use crate::chain::{fr, membership, u256};
use crate::field::to_hex;
use crate::provider::DoubleSpend;
use crate::store::NullifierStore;

/// Largest batch of served tickets committed at once; a claim proof grows with its logarithm.
pub const MAX_BATCH: usize = 1 << 16;

/// Claim transactions carry at most this many tickets, to stay well inside a block's gas.
pub const CLAIMS_PER_TX: usize = 100;

/// A withdrawing member the provider may claim from.
struct Withdrawing {
    secret: Fr,
    limit: u16,
    deadline: u64,
    /// Whether its served tickets were claimed; only batches committed before the reveal count,
    /// so one successful claim finds all there will ever be.
    claimed: bool,
}

/// When the duties act.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Time between two commits of served tickets.
    pub commit_every: Duration,
    /// Time between two looks at the chain (withdrawals, payouts, retries), unless a double
    /// spend wakes the duties first.
    pub poll: Duration,
}

/// The provider's transactions, sent from one task: see the module's guarantees.
pub struct Duties {
    credits: Credits,
    store: Arc<dyn NullifierStore>,
    external_nullifier: Fr,
    withdrawing: BTreeMap<U256, Withdrawing>,
}

impl Duties {
    /// Duties of the provider that sends as `credits`' account, for the tickets bound to
    /// `external_nullifier` it spent in `store`.
    pub fn new(credits: Credits, store: Arc<dyn NullifierStore>, external_nullifier: Fr) -> Self {
        Self { credits, store, external_nullifier, withdrawing: BTreeMap::new() }
    }

    /// Does the duties forever: each round slashes what `found` (the proxy's double spends) and
    /// the store hold, commits served tickets when `schedule.commit_every` has passed, reads new
    /// withdrawals, claims and pays out. Failures are logged and retried the next round.
    pub async fn run(mut self, mut found: mpsc::UnboundedReceiver<DoubleSpend>, schedule: Schedule) {
        let mut from_block = 0;
        let mut last_commit = tokio::time::Instant::now();
        loop {
            self.slash_double_spenders().await;
            if last_commit.elapsed() >= schedule.commit_every {
                match self.commit_batch().await {
                    Ok(()) => last_commit = tokio::time::Instant::now(),
                    Err(e) => tracing::error!(error = %e, "committing served tickets failed, will retry"),
                }
            }
            match self.follow_withdrawals(from_block).await {
                Ok(next) => from_block = next,
                Err(e) => tracing::warn!(error = %e, "cannot read withdrawals"),
            }
            self.claim_and_pay_out().await;
            // Wake on a new double spend, or look at the chain again.
            let _ = tokio::time::timeout(schedule.poll, found.recv()).await;
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn NullifierStore) -> Result<T, ZkError> + Send + 'static,
    ) -> Result<T, ZkError> {
        blocking(&self.store, f).await
    }

    /// Slashes each double spender's deposit, paying the provider; retries what did not land.
    async fn slash_double_spenders(&self) {
        let unslashed = match self.blocking(|store| store.unslashed()).await {
            Ok(unslashed) => unslashed,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the double spends to slash");
                return;
            }
        };
        for (commitment, secret) in unslashed {
            match slash(&self.credits, &commitment, &secret).await {
                Ok(tx) => {
                    tracing::warn!(commitment = %to_hex(&commitment), %tx, "slashed a double spender's deposit");
                    if let Err(e) = self.blocking(move |store| store.mark_slashed(&commitment, &tx)).await {
                        tracing::error!(error = %e, "the slash landed but could not be recorded; it will be tried again");
                    }
                }
                Err(e) => tracing::error!(commitment = %to_hex(&commitment), error = %e, "slash failed, will retry"),
            }
        }
    }

    /// Commits the tickets served since the last batch, so they can be claimed if their payer
    /// withdraws.
    async fn commit_batch(&self) -> Result<(), ZkError> {
        let Some(batch) = self.blocking(|store| store.next_batch(MAX_BATCH)).await? else { return Ok(()) };
        let Some(served) = ServedBatch::new(batch.nullifiers.iter().map(u256).collect()) else { return Ok(()) };
        // A batch sent just before a crash may be on chain already.
        let count = self.credits.batch_count().await?;
        for index in (count.saturating_sub(8)..count).rev() {
            if self.credits.batch(index).await?.root == served.root() {
                return self.blocking(move |store| store.batch_committed(batch.id, index)).await;
            }
        }
        let committed = self.credits.commit_served(served.root()).await?;
        tracing::info!(tickets = batch.nullifiers.len(), index = committed.batch_index, "committed served tickets");
        self.blocking(move |store| store.batch_committed(batch.id, committed.batch_index)).await
    }

    /// Adds the members that asked to withdraw since `from_block`; returns the next block to read.
    async fn follow_withdrawals(&mut self, from_block: u64) -> Result<u64, ZkError> {
        let head = self.credits.block_number().await?;
        if head < from_block {
            return Ok(from_block);
        }
        for reveal in self.credits.reveals(from_block, head).await? {
            if reveal.slashed {
                self.withdrawing.remove(&reveal.id_commitment);
                continue;
            }
            let Some(member) = self.credits.member(reveal.id_commitment).await? else { continue };
            let Some(withdrawal) = self.credits.withdrawal(reveal.id_commitment).await? else { continue };
            if member.state == MemberState::Withdrawing {
                let entry = Withdrawing {
                    secret: fr(reveal.secret)?,
                    limit: member.limit,
                    deadline: withdrawal.deadline,
                    claimed: false,
                };
                self.withdrawing.insert(reveal.id_commitment, entry);
            }
        }
        Ok(head + 1)
    }

    /// Claims the served tickets of each withdrawing member while its window is open, and pays
    /// the withdrawal out once it has closed.
    async fn claim_and_pay_out(&mut self) {
        let now = unix_now();
        let mut done = Vec::new();
        for (commitment, member) in &mut self.withdrawing {
            let id = format!("{commitment:#x}");
            if !member.claimed && now < member.deadline {
                match claim(&self.credits, &self.store, self.external_nullifier, *commitment, member).await {
                    Ok(count) => {
                        member.claimed = true;
                        tracing::info!(commitment = %id, count, "claimed served tickets");
                    }
                    Err(e) => tracing::error!(commitment = %id, error = %e, "claim failed, will retry"),
                }
            } else if now > member.deadline {
                match self.credits.finalize_withdraw(*commitment).await {
                    Ok(paid) => {
                        tracing::info!(commitment = %id, paid = %paid.provider_amount, "withdrawal paid out");
                        done.push(*commitment);
                    }
                    // The depositor may have paid it out first.
                    Err(e) => match self.credits.member(*commitment).await {
                        Ok(Some(m)) if m.state != MemberState::Withdrawing => done.push(*commitment),
                        _ => tracing::warn!(commitment = %id, error = %e, "payout failed, will retry"),
                    },
                }
            }
        }
        for commitment in done {
            self.withdrawing.remove(&commitment);
        }
    }
}

/// Runs `f` on the store off the async workers (the store may wait on disk or network).
async fn blocking<T: Send + 'static>(
    store: &Arc<dyn NullifierStore>,
    f: impl FnOnce(&dyn NullifierStore) -> Result<T, ZkError> + Send + 'static,
) -> Result<T, ZkError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|e| ZkError::Store(format!("a store task did not finish: {e}")))?
}

/// Claims every ticket of `member` found in a batch committed before its reveal; returns how many.
async fn claim(
    credits: &Credits,
    store: &Arc<dyn NullifierStore>,
    external_nullifier: Fr,
    commitment: U256,
    member: &Withdrawing,
) -> Result<usize, ZkError> {
    let (secret, limit) = (member.secret, member.limit);
    let (tickets, batches) = blocking(store, move |store| {
        let tickets: Vec<(u64, U256)> = (0..u32::from(limit))
            .map(|i| (u64::from(i), u256(&crate::tree::nullifier(&secret, external_nullifier, i))))
            .collect();
        let batches: Vec<(u64, ServedBatch)> = store
            .committed_batches()?
            .into_iter()
            .filter_map(|(index, nullifiers)| {
                ServedBatch::new(nullifiers.iter().map(u256).collect()).map(|b| (index, b))
            })
            .collect();
        Ok((tickets, batches))
    })
    .await?;
    let claims = credits.claimable(commitment, &tickets, &batches).await?;
    for chunk in claims.chunks(CLAIMS_PER_TX) {
        credits.claim_served(commitment, chunk).await?;
    }
    Ok(claims.len())
}

/// Slashes the deposit of `commitment`, whose secret is `secret`, to the provider's account;
/// returns the transaction's hash.
async fn slash(credits: &Credits, commitment: &Fr, secret: &Fr) -> Result<String, ZkError> {
    let Some(member) = credits.member(u256(commitment)).await? else {
        return Err(ZkError::UnknownDeposit(to_hex(commitment)));
    };
    let tree = membership(credits).await?;
    let index = usize::try_from(member.leaf_index)
        .map_err(|_| ZkError::Tree(format!("leaf index {} does not fit this machine", member.leaf_index)))?;
    let siblings: Vec<U256> = tree.path(index)?.path_elements().iter().map(u256).collect();
    let slash = credits.slash(u256(secret), credits.account(), &siblings).await?;
    Ok(format!("{:#x}", slash.tx))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}
