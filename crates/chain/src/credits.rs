//! The client of one deployed `ZkApiCredits` contract.

use std::collections::HashMap;

use alloy::contract::{CallBuilder, CallDecoder};
use alloy::primitives::{Address, B256, TxHash, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::client::RpcClient;
use alloy::rpc::types::TransactionReceipt;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolEvent;

use crate::batch::ServedBatch;
use crate::bindings::ZkApiCredits::{self, ZkApiCreditsInstance};
use crate::error::{Error, Result};
use crate::libraries;
use crate::rpc::NetTransport;

/// Where a member stands, as the contract's `State` enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// Deposited; its leaf is in the tree and it can pay for calls.
    Active,
    /// Revealed its secret to withdraw; the provider's claim window is open or awaits finalizing.
    Withdrawing,
    /// Paid out.
    Withdrawn,
    /// Its deposit went to whoever proved knowledge of the secret.
    Slashed,
}

/// A registered member, as `member(idCommitment)` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Who deposited, the only account that may request the withdrawal.
    pub depositor: Address,
    /// Position of its leaf in the membership tree.
    pub leaf_index: u32,
    /// Tickets paid for: message ids `0..limit`.
    pub limit: u16,
    /// Where it stands.
    pub state: MemberState,
    /// Wei still held for it; zero once slashed or withdrawn.
    pub amount: U256,
}

/// A withdrawal in progress or done, as `withdrawal(idCommitment)` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withdrawal {
    /// The revealed identity secret.
    pub secret: U256,
    /// Block of the reveal; only batches committed in earlier blocks count.
    pub reveal_block: u64,
    /// Unix time at which the claim window closes.
    pub deadline: u64,
    /// Tickets the provider proved it served so far.
    pub spent: u32,
}

/// A committed batch of served nullifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommittedBatch {
    /// The keccak root (see [`crate::batch`]).
    pub root: B256,
    /// Block it was committed in.
    pub block_number: u64,
}

/// The outcome of a mined transaction that returns nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Gas the transaction used.
    pub gas_used: u64,
    /// Its hash.
    pub tx: TxHash,
}

/// A mined deposit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deposit {
    /// Position of the new leaf.
    pub leaf_index: u32,
    /// Tickets paid for.
    pub limit: u16,
    /// The tree's root after the insertion.
    pub root: U256,
    /// The leaf: `Poseidon([idCommitment, limit])`.
    pub rate_commitment: U256,
    /// Gas the transaction used.
    pub gas_used: u64,
    /// Its hash.
    pub tx: TxHash,
}

/// A `Deposited` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepositRecord {
    /// The member's identity commitment.
    pub id_commitment: U256,
    /// Position of its leaf.
    pub leaf_index: u32,
    /// Tickets paid for.
    pub limit: u16,
    /// Wei deposited.
    pub amount: U256,
    /// The tree's root right after this deposit.
    pub root: U256,
    /// The leaf value.
    pub rate_commitment: U256,
    /// Block of the deposit.
    pub block_number: u64,
    /// Transaction of the deposit.
    pub tx: TxHash,
}

/// A mined slash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slash {
    /// Wei paid to the beneficiary.
    pub amount: U256,
    /// The tree's root after the leaf was zeroed.
    pub root: U256,
    /// Gas the transaction used.
    pub gas_used: u64,
    /// Its hash.
    pub tx: TxHash,
}

/// A mined `commitServed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// Index to cite in claims.
    pub batch_index: u64,
    /// Gas the transaction used.
    pub gas_used: u64,
    /// Its hash.
    pub tx: TxHash,
}

/// A mined `requestWithdraw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WithdrawRequest {
    /// Unix time at which the claim window closes and the withdrawal can be finalized.
    pub deadline: u64,
    /// The tree's root after the leaf was zeroed.
    pub root: U256,
    /// Gas the transaction used.
    pub gas_used: u64,
    /// Its hash.
    pub tx: TxHash,
}

/// One served ticket the provider claims: its nullifier is in batch `batch_index`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedTicket {
    /// The ticket's RLN message id.
    pub message_id: u64,
    /// The committed batch holding its nullifier.
    pub batch_index: u64,
    /// Inclusion proof into that batch ([`ServedBatch::proof`]).
    pub proof: Vec<B256>,
}

/// A mined `claimServed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claimed {
    /// Tickets this call proved.
    pub count: u64,
    /// Tickets proved for this member in total.
    pub spent: u64,
    /// Gas the transaction used.
    pub gas_used: u64,
    /// Its hash.
    pub tx: TxHash,
}

/// A mined `finalizeWithdraw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finalized {
    /// Wei refunded to the depositor.
    pub refund: U256,
    /// Wei paid to the provider for proven tickets.
    pub provider_amount: U256,
    /// Gas the transaction used.
    pub gas_used: u64,
    /// Its hash.
    pub tx: TxHash,
}

/// A member's secret made public on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reveal {
    /// The member's identity commitment.
    pub id_commitment: U256,
    /// Its secret.
    pub secret: U256,
    /// Whether it was slashed (else it asked to withdraw).
    pub slashed: bool,
    /// Block of the reveal.
    pub block_number: u64,
}

/// A `ZkApiCredits` contract, reached through one RPC endpoint and sending as one account.
/// Every request to the endpoint goes through the [`sov_net::Http`] it was made with.
#[derive(Clone)]
pub struct Credits {
    provider: DynProvider,
    http: sov_net::Http,
    contract: ZkApiCreditsInstance<DynProvider>,
    account: Address,
    /// First block to scan for events: the deployment block when known, else 0.
    start_block: u64,
    deployment: Option<Sent>,
}

impl std::fmt::Debug for Credits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credits")
            .field("address", self.contract.address())
            .field("account", &self.account)
            .field("start_block", &self.start_block)
            .finish_non_exhaustive()
    }
}

pub(crate) fn connect(rpc_url: &str, signer: PrivateKeySigner, http: &sov_net::Http) -> Result<DynProvider> {
    let transport = NetTransport::new(rpc_url, http)?;
    let is_local = transport.is_local();
    // Nonces come from the node for every transaction: alloy's default cache advances even when
    // gas estimation refuses the call, and the next transaction would then wait forever behind a
    // nonce gap. The cost is that one account must not send two transactions concurrently.
    let provider = ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id()
        .wallet(signer)
        .connect_client(RpcClient::new(transport, is_local))
        .erased();
    // A node on this machine mines at once; alloy's 250 ms local poll would make every
    // transaction wait for nothing. Remote endpoints keep alloy's 7 s.
    if is_local {
        provider.client().set_poll_interval(LOCAL_POLL_INTERVAL);
    }
    Ok(provider)
}

const LOCAL_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(20);

fn u64_of(action: &'static str, what: &str, value: U256) -> Result<u64> {
    u64::try_from(value).map_err(|_| Error::unexpected(action, format!("{what} {value} does not fit 64 bits")))
}

fn small<T: TryFrom<U256>>(action: &'static str, what: &str, value: U256) -> Result<T> {
    T::try_from(value).map_err(|_| Error::unexpected(action, format!("{what} {value} is out of range")))
}

impl Credits {
    /// Deploys a new contract whose provider (the account paid for served tickets) is `signer`,
    /// deploying the Poseidon libraries first where the chain lacks them. Talks to `rpc_url`
    /// through `http`.
    pub async fn deploy(
        rpc_url: &str,
        signer: PrivateKeySigner,
        price_wei: U256,
        external_nullifier: U256,
        claim_window_secs: u64,
        http: &sov_net::Http,
    ) -> Result<Self> {
        const ACTION: &str = "deploying ZkApiCredits";
        let account = signer.address();
        let provider = connect(rpc_url, signer, http)?;
        libraries::ensure(&provider).await?;
        let builder = ZkApiCredits::deploy_builder(
            provider.clone(),
            price_wei,
            external_nullifier,
            U256::from(claim_window_secs),
        );
        let receipt = mined(ACTION, &builder).await?;
        let address = receipt
            .contract_address
            .ok_or_else(|| Error::unexpected(ACTION, "the receipt names no contract address"))?;
        let start_block = receipt.block_number.unwrap_or_default();
        let deployment = Some(Sent { gas_used: receipt.gas_used, tx: receipt.transaction_hash });
        tracing::info!(%address, gas_used = receipt.gas_used, "deployed ZkApiCredits");
        Ok(Self {
            contract: ZkApiCredits::new(address, provider.clone()),
            provider,
            http: http.clone(),
            account,
            start_block,
            deployment,
        })
    }

    /// A client of the contract at `address`, talking to `rpc_url` through `http` (the outbound
    /// policy's route for the chain; loopback endpoints are reached directly). Nothing is sent
    /// yet. Event scans start at block 0 unless [`Credits::with_start_block`] says where it was
    /// deployed.
    ///
    /// # Errors
    /// [`Error::InvalidRpcUrl`] if `rpc_url` is not an `http://` or `https://` URL.
    pub fn at(rpc_url: &str, address: Address, signer: PrivateKeySigner, http: &sov_net::Http) -> Result<Self> {
        let account = signer.address();
        let provider = connect(rpc_url, signer, http)?;
        Ok(Self {
            contract: ZkApiCredits::new(address, provider.clone()),
            provider,
            http: http.clone(),
            account,
            start_block: 0,
            deployment: None,
        })
    }

    /// Starts event scans at `block` (the deployment block), which public RPC endpoints with
    /// limited log ranges need.
    #[must_use]
    pub fn with_start_block(mut self, block: u64) -> Self {
        self.start_block = block;
        self
    }

    /// The same contract at `rpc_url`, sending as another account, through the same
    /// [`sov_net::Http`] as this client.
    pub fn with_signer(&self, rpc_url: &str, signer: PrivateKeySigner) -> Result<Self> {
        let other = Self::at(rpc_url, self.address(), signer, &self.http)?;
        Ok(Self { deployment: None, ..other.with_start_block(self.start_block) })
    }

    /// The contract's address.
    pub fn address(&self) -> Address {
        *self.contract.address()
    }

    /// The account this client sends from.
    pub fn account(&self) -> Address {
        self.account
    }

    /// Gas and transaction of the deployment, when this client deployed the contract.
    pub fn deployment(&self) -> Option<Sent> {
        self.deployment
    }

    /// The first block event scans look at.
    pub fn start_block(&self) -> u64 {
        self.start_block
    }

    // ------------------------------------------------------------------ views

    /// Wei per ticket.
    pub async fn price(&self) -> Result<U256> {
        self.contract.price().call().await.map_err(|e| Error::from_contract("reading price", e))
    }

    /// The RLN external nullifier every ticket for this provider uses.
    pub async fn external_nullifier(&self) -> Result<U256> {
        self.contract.externalNullifier().call().await.map_err(|e| Error::from_contract("reading externalNullifier", e))
    }

    /// Seconds between a withdrawal request and its finalization.
    pub async fn claim_window(&self) -> Result<u64> {
        let secs =
            self.contract.claimWindow().call().await.map_err(|e| Error::from_contract("reading claimWindow", e))?;
        u64_of("reading claimWindow", "claim window", secs)
    }

    /// The account paid for served tickets (the deployer).
    pub async fn provider(&self) -> Result<Address> {
        self.contract
            .call_builder(&ZkApiCredits::providerCall {})
            .call()
            .await
            .map_err(|e| Error::from_contract("reading provider", e))
    }

    /// The membership tree's current root.
    pub async fn root(&self) -> Result<U256> {
        self.contract.root().call().await.map_err(|e| Error::from_contract("reading root", e))
    }

    /// Whether `root` is among the last 64 roots, the ones proofs may be made against.
    pub async fn is_known_root(&self, root: U256) -> Result<bool> {
        self.contract.isKnownRoot(root).call().await.map_err(|e| Error::from_contract("reading isKnownRoot", e))
    }

    /// Leaves appended so far (zeroed ones included).
    pub async fn leaf_count(&self) -> Result<u64> {
        let n = self.contract.leafCount().call().await.map_err(|e| Error::from_contract("reading leafCount", e))?;
        u64_of("reading leafCount", "leaf count", n)
    }

    /// The member registered under `id_commitment`, or `None`.
    pub async fn member(&self, id_commitment: U256) -> Result<Option<Member>> {
        const ACTION: &str = "reading member";
        let m = self.contract.member(id_commitment).call().await.map_err(|e| Error::from_contract(ACTION, e))?;
        let state = match m.state {
            0 => return Ok(None),
            1 => MemberState::Active,
            2 => MemberState::Withdrawing,
            3 => MemberState::Withdrawn,
            4 => MemberState::Slashed,
            other => return Err(Error::unexpected(ACTION, format!("unknown member state {other}"))),
        };
        Ok(Some(Member { depositor: m.depositor, leaf_index: m.leafIndex, limit: m.limit, state, amount: m.amount }))
    }

    /// The withdrawal of `id_commitment`, or `None` if it never requested one.
    pub async fn withdrawal(&self, id_commitment: U256) -> Result<Option<Withdrawal>> {
        let w = self
            .contract
            .withdrawal(id_commitment)
            .call()
            .await
            .map_err(|e| Error::from_contract("reading withdrawal", e))?;
        Ok((w.revealBlock != 0).then_some(Withdrawal {
            secret: w.secret,
            reveal_block: w.revealBlock,
            deadline: w.deadline,
            spent: w.spent,
        }))
    }

    /// Number of committed batches.
    pub async fn batch_count(&self) -> Result<u64> {
        let n = self.contract.batchCount().call().await.map_err(|e| Error::from_contract("reading batchCount", e))?;
        u64_of("reading batchCount", "batch count", n)
    }

    /// Committed batch `index`.
    pub async fn batch(&self, index: u64) -> Result<CommittedBatch> {
        let b = self
            .contract
            .batch(U256::from(index))
            .call()
            .await
            .map_err(|e| Error::from_contract("reading batch", e))?;
        Ok(CommittedBatch { root: b.root, block_number: b.blockNumber })
    }

    /// Whether the provider already claimed ticket `message_id` of `id_commitment`.
    pub async fn ticket_claimed(&self, id_commitment: U256, message_id: u64) -> Result<bool> {
        self.contract
            .ticketClaimed(id_commitment, U256::from(message_id))
            .call()
            .await
            .map_err(|e| Error::from_contract("reading ticketClaimed", e))
    }

    /// Wei a refused push payment left for `account` to collect with [`Credits::withdraw_owed`].
    pub async fn owed(&self, account: Address) -> Result<U256> {
        self.contract.owed(account).call().await.map_err(|e| Error::from_contract("reading owed", e))
    }

    /// The ether balance of any account.
    pub async fn balance(&self, account: Address) -> Result<U256> {
        self.provider.get_balance(account).await.map_err(|e| Error::rpc("reading a balance", e))
    }

    // ------------------------------------------------------------------ events

    /// Every deposit, in leaf order.
    pub async fn deposits(&self) -> Result<Vec<DepositRecord>> {
        let head = self.head("reading deposits").await?;
        self.deposits_until(head).await
    }

    async fn head(&self, action: &'static str) -> Result<u64> {
        self.provider.get_block_number().await.map_err(|e| Error::rpc(action, e))
    }

    async fn deposits_until(&self, head: u64) -> Result<Vec<DepositRecord>> {
        const ACTION: &str = "reading deposits";
        let logs = self
            .contract
            .Deposited_filter()
            .from_block(self.start_block)
            .to_block(head)
            .query()
            .await
            .map_err(|e| Error::from_contract(ACTION, e))?;
        let mut records = logs
            .into_iter()
            .map(|(event, log)| {
                Ok(DepositRecord {
                    id_commitment: event.idCommitment,
                    leaf_index: small(ACTION, "leaf index", event.leafIndex)?,
                    limit: small(ACTION, "limit", event.limit)?,
                    amount: event.amount,
                    root: event.root,
                    rate_commitment: event.rateCommitment,
                    block_number: log.block_number.unwrap_or_default(),
                    tx: log.transaction_hash.unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        records.sort_by_key(|r| r.leaf_index);
        Ok(records)
    }

    /// The tree's leaves in index order, rebuilt from events at one block: each deposit's rate
    /// commitment, and 0 where the member was slashed or asked to withdraw. The Merkle tree over
    /// them (depth 20, empty leaf 0) has the contract's current root.
    pub async fn leaves(&self) -> Result<Vec<U256>> {
        const ACTION: &str = "rebuilding the leaves";
        let head = self.head(ACTION).await?;
        let deposits = self.deposits_until(head).await?;
        let mut leaves = Vec::with_capacity(deposits.len());
        let mut index_of = HashMap::with_capacity(deposits.len());
        for (expected, d) in deposits.iter().enumerate() {
            if d.leaf_index as usize != expected {
                return Err(Error::unexpected(ACTION, format!("leaf {expected} has no deposit event")));
            }
            leaves.push(d.rate_commitment);
            index_of.insert(d.id_commitment, expected);
        }
        let slashed = self.contract.Slashed_filter().from_block(self.start_block).to_block(head);
        let slashed = slashed.query().await.map_err(|e| Error::from_contract(ACTION, e))?;
        let withdrawn = self.contract.WithdrawRequested_filter().from_block(self.start_block).to_block(head);
        let withdrawn = withdrawn.query().await.map_err(|e| Error::from_contract(ACTION, e))?;
        let removed = slashed.iter().map(|(e, _)| e.idCommitment).chain(withdrawn.iter().map(|(e, _)| e.idCommitment));
        for id in removed {
            let index = index_of
                .get(&id)
                .ok_or_else(|| Error::unexpected(ACTION, format!("removal of unknown member {id}")))?;
            leaves[*index] = U256::ZERO;
        }
        Ok(leaves)
    }

    /// Secrets made public between `from_block` and `to_block` (inclusive) by `requestWithdraw`
    /// or `slash`, in chain order. Proofs against roots from before the member's removal still
    /// verify off-chain, so a provider refuses the nullifiers these secrets give.
    pub async fn reveals(&self, from_block: u64, to_block: u64) -> Result<Vec<Reveal>> {
        const ACTION: &str = "reading revealed secrets";
        let from_block = from_block.max(self.start_block);
        let withdrawn = self.contract.WithdrawRequested_filter().from_block(from_block).to_block(to_block);
        let withdrawn = withdrawn.query().await.map_err(|e| Error::from_contract(ACTION, e))?;
        let slashed = self.contract.Slashed_filter().from_block(from_block).to_block(to_block);
        let slashed = slashed.query().await.map_err(|e| Error::from_contract(ACTION, e))?;
        // Keyed by the log's place in the chain, to sort the two kinds into one order.
        let reveal = |id_commitment, secret, slashed, log: &alloy::rpc::types::Log| {
            let block_number = log.block_number.unwrap_or_default();
            ((block_number, log.log_index.unwrap_or_default()), Reveal { id_commitment, secret, slashed, block_number })
        };
        let mut reveals: Vec<((u64, u64), Reveal)> = withdrawn
            .iter()
            .map(|(e, log)| reveal(e.idCommitment, e.secret, false, log))
            .chain(slashed.iter().map(|(e, log)| reveal(e.idCommitment, e.secret, true, log)))
            .collect();
        reveals.sort_by_key(|(at, _)| *at);
        Ok(reveals.into_iter().map(|(_, reveal)| reveal).collect())
    }

    /// How the withdrawal of `id_commitment` was paid out, whoever sent the `finalizeWithdraw`
    /// (anyone may, once the claim window has closed); `None` if it was not.
    pub async fn payout(&self, id_commitment: U256) -> Result<Option<Finalized>> {
        const ACTION: &str = "reading a payout";
        let filter = self.contract.WithdrawFinalized_filter().topic1(id_commitment).from_block(self.start_block);
        let logs = filter.query().await.map_err(|e| Error::from_contract(ACTION, e))?;
        Ok(logs.into_iter().next().map(|(event, log)| Finalized {
            refund: event.refund,
            provider_amount: event.providerAmount,
            // Only the payer's receipt tells the gas; this reader has the log alone.
            gas_used: 0,
            tx: log.transaction_hash.unwrap_or_default(),
        }))
    }

    /// The number of the newest block.
    pub async fn block_number(&self) -> Result<u64> {
        self.head("reading the block number").await
    }

    // ------------------------------------------------------------------ transactions

    /// Registers `id_commitment` with `value` wei, a positive multiple of the price buying
    /// `value / price` tickets (at most 65535).
    pub async fn deposit(&self, id_commitment: U256, value: U256) -> Result<Deposit> {
        const ACTION: &str = "deposit";
        let receipt = mined(ACTION, &self.contract.deposit(id_commitment).value(value)).await?;
        let event = self.event::<ZkApiCredits::Deposited>(ACTION, &receipt)?;
        Ok(Deposit {
            leaf_index: small(ACTION, "leaf index", event.leafIndex)?,
            limit: small(ACTION, "limit", event.limit)?,
            root: event.root,
            rate_commitment: event.rateCommitment,
            gas_used: receipt.gas_used,
            tx: receipt.transaction_hash,
        })
    }

    /// Takes the whole deposit of the active member whose secret is `secret` and pays it to
    /// `beneficiary`. `siblings` is the Merkle path of its leaf in the current tree (leaf level
    /// first, 20 values), e.g. from a tree rebuilt with [`Credits::leaves`]. The secret becomes
    /// public with the transaction; see the contract on front-running.
    pub async fn slash(&self, secret: U256, beneficiary: Address, siblings: &[U256]) -> Result<Slash> {
        const ACTION: &str = "slash";
        let receipt = mined(ACTION, &self.contract.slash(secret, beneficiary, siblings.to_vec())).await?;
        let event = self.event::<ZkApiCredits::Slashed>(ACTION, &receipt)?;
        Ok(Slash { amount: event.amount, root: event.root, gas_used: receipt.gas_used, tx: receipt.transaction_hash })
    }

    /// Commits a batch of served nullifiers (provider only).
    pub async fn commit_served(&self, batch_root: B256) -> Result<Committed> {
        const ACTION: &str = "commitServed";
        let receipt = mined(ACTION, &self.contract.commitServed(batch_root)).await?;
        let event = self.event::<ZkApiCredits::ServedCommitted>(ACTION, &receipt)?;
        Ok(Committed {
            batch_index: u64_of(ACTION, "batch index", event.batchIndex)?,
            gas_used: receipt.gas_used,
            tx: receipt.transaction_hash,
        })
    }

    /// Reveals `secret` to withdraw (depositor only), zeroing its leaf with `siblings` as in
    /// [`Credits::slash`]; opens the provider's claim window.
    pub async fn request_withdraw(&self, secret: U256, siblings: &[U256]) -> Result<WithdrawRequest> {
        const ACTION: &str = "requestWithdraw";
        let receipt = mined(ACTION, &self.contract.requestWithdraw(secret, siblings.to_vec())).await?;
        let event = self.event::<ZkApiCredits::WithdrawRequested>(ACTION, &receipt)?;
        Ok(WithdrawRequest {
            deadline: u64_of(ACTION, "deadline", event.deadline)?,
            root: event.root,
            gas_used: receipt.gas_used,
            tx: receipt.transaction_hash,
        })
    }

    /// Claims served tickets of a withdrawing member (provider only); sent in message id order.
    pub async fn claim_served(&self, id_commitment: U256, tickets: &[ServedTicket]) -> Result<Claimed> {
        const ACTION: &str = "claimServed";
        let mut sorted = tickets.to_vec();
        sorted.sort_by_key(|t| t.message_id);
        let message_ids = sorted.iter().map(|t| U256::from(t.message_id)).collect();
        let batch_indices = sorted.iter().map(|t| U256::from(t.batch_index)).collect();
        let proofs = sorted.into_iter().map(|t| t.proof).collect();
        let call = self.contract.claimServed(id_commitment, message_ids, batch_indices, proofs);
        let receipt = mined(ACTION, &call).await?;
        let event = self.event::<ZkApiCredits::TicketsClaimed>(ACTION, &receipt)?;
        Ok(Claimed {
            count: u64_of(ACTION, "count", event.count)?,
            spent: u64_of(ACTION, "spent", event.spent)?,
            gas_used: receipt.gas_used,
            tx: receipt.transaction_hash,
        })
    }

    /// Pays out a withdrawal once its claim window has closed (anyone may call).
    pub async fn finalize_withdraw(&self, id_commitment: U256) -> Result<Finalized> {
        const ACTION: &str = "finalizeWithdraw";
        let receipt = mined(ACTION, &self.contract.finalizeWithdraw(id_commitment)).await?;
        let event = self.event::<ZkApiCredits::WithdrawFinalized>(ACTION, &receipt)?;
        Ok(Finalized {
            refund: event.refund,
            provider_amount: event.providerAmount,
            gas_used: receipt.gas_used,
            tx: receipt.transaction_hash,
        })
    }

    /// Collects wei a refused push payment left for this account.
    pub async fn withdraw_owed(&self) -> Result<Sent> {
        let receipt = mined("withdrawOwed", &self.contract.withdrawOwed()).await?;
        Ok(Sent { gas_used: receipt.gas_used, tx: receipt.transaction_hash })
    }

    /// The provider's side of a withdrawal: which of its served tickets it can claim for
    /// `id_commitment`. `tickets` are `(message_id, nullifier)` pairs computed from the revealed
    /// secret for every message id below the limit; `batches` the provider's own batches by their
    /// on-chain index. Keeps the tickets found in a batch whose committed root matches and which
    /// was committed before the reveal, and not claimed yet.
    pub async fn claimable(
        &self,
        id_commitment: U256,
        tickets: &[(u64, U256)],
        batches: &[(u64, ServedBatch)],
    ) -> Result<Vec<ServedTicket>> {
        let Some(withdrawal) = self.withdrawal(id_commitment).await? else { return Ok(Vec::new()) };
        let mut usable = Vec::new();
        for (index, batch) in batches {
            let committed = self.batch(*index).await?;
            if committed.root == batch.root() && committed.block_number < withdrawal.reveal_block {
                usable.push((*index, batch));
            }
        }
        let mut claims = Vec::new();
        for (message_id, nullifier) in tickets {
            let found = usable.iter().find_map(|(index, batch)| batch.proof_for(*nullifier).map(|p| (*index, p)));
            if let Some((batch_index, proof)) = found
                && !self.ticket_claimed(id_commitment, *message_id).await?
            {
                claims.push(ServedTicket { message_id: *message_id, batch_index, proof });
            }
        }
        Ok(claims)
    }

    fn event<E: SolEvent>(&self, action: &'static str, receipt: &TransactionReceipt) -> Result<E> {
        receipt
            .logs()
            .iter()
            .filter(|log| log.address() == self.address())
            .find_map(|log| E::decode_log(&log.inner).ok())
            .map(|log| log.data)
            .ok_or_else(|| Error::unexpected(action, format!("the receipt has no {} event", E::SIGNATURE)))
    }
}

/// Sends `call` and waits for its receipt; a revert (at estimation or on chain) becomes an error.
async fn mined<P: Provider, D: CallDecoder>(
    action: &'static str,
    call: &CallBuilder<P, D>,
) -> Result<TransactionReceipt> {
    let pending = call.send().await.map_err(|e| Error::from_contract(action, e))?;
    let receipt = pending.get_receipt().await.map_err(|e| Error::rpc(action, e))?;
    if !receipt.status() {
        return Err(Error::Failed { action, tx: receipt.transaction_hash });
    }
    Ok(receipt)
}
