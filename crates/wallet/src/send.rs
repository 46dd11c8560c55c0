//! Transactions signed once and broadcast exactly once.
//!
//! The order, for an approved gate action (its id is the key):
//! 1. If the outbox already holds a transaction for the action, it is broadcast again, byte for
//!    byte: **never signed a second time** (a second signature with another nonce or fee would be
//!    a second payment).
//! 2. Otherwise the nonce is the larger of the node's pending count and one past the highest the
//!    outbox ever used for this account on this chain (so a transaction signed but not yet seen
//!    by the node is not overtaken), the fees and gas are estimated, the transaction is signed,
//!    and **stored with its hash (durably) before anything is broadcast**.
//! 3. It is broadcast. A node that answers "already known" or "nonce too low" while it knows the
//!    hash has it already: that is success, not an error.
//!
//! A crash between 2 and 3 leaves a signed transaction in the outbox; the gate runs the action
//! again with the same key (the executor says it is idempotent), step 1 broadcasts it. A crash
//! after 3 broadcasts the same bytes again, which the node answers as in 3. Either way the chain
//! sees one transaction.
//!
//! # What this does not do
//! - Replace a transaction that is stuck or dropped (a higher fee, the same nonce): only the
//!   human decides that; [`Outbox::get`] reports what happened. A signed transaction the node
//!   refuses stays signed and holds its nonce (later ones wait behind it): the balance is checked
//!   before signing so that this is rare, not impossible (the balance may fall in between).
//! - Decide whether a transaction may be sent: the gate does, on what [`crate::decode`] and the
//!   wallet's pricing say.

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use alloy::eips::eip2718::Encodable2718;
use alloy::network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::client::RpcClient;
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use rusqlite::{OptionalExtension, params};

use crate::Error;

/// What to send: to `to`, `value` wei, with `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The recipient or the contract called.
    pub to: Address,
    /// Wei sent along.
    pub value: U256,
    /// Call data (empty for a plain transfer).
    pub data: Bytes,
}

/// A transaction in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The gate action it carries out.
    pub action: String,
    /// The chain.
    pub chain_id: u64,
    /// The account that signed it.
    pub from: Address,
    /// Its nonce.
    pub nonce: u64,
    /// Its hash.
    pub hash: B256,
    /// `signed` (stored, perhaps never broadcast) or `broadcast` (a node took it).
    pub state: String,
}

/// What became of a transaction ([`Outbox::status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxStatus {
    /// The outbox holds none for the action (not approved or not run yet, or refused).
    NotSigned,
    /// Signed and stored, not yet taken by a node (a crash came between; the next run sends it).
    Signed(Stored),
    /// A node has it, not yet in a block.
    Pending(Stored),
    /// In a block.
    Mined {
        /// The transaction.
        stored: Stored,
        /// The block's number.
        block: u64,
        /// Whether it succeeded (false: it reverted, its gas spent).
        success: bool,
    },
    /// Broadcast once, but the node knows it no more and has no receipt: dropped from its pool.
    /// It stays signed; only the human decides whether to send it again or replace it.
    Dropped(Stored),
}

impl TxStatus {
    /// One word for it: `not_signed`, `signed`, `pending`, `mined`, `reverted`, `dropped`.
    pub fn word(&self) -> &'static str {
        match self {
            TxStatus::NotSigned => "not_signed",
            TxStatus::Signed(_) => "signed",
            TxStatus::Pending(_) => "pending",
            TxStatus::Mined { success: true, .. } => "mined",
            TxStatus::Mined { success: false, .. } => "reverted",
            TxStatus::Dropped(_) => "dropped",
        }
    }

    /// The transaction, when there is one.
    pub fn stored(&self) -> Option<&Stored> {
        match self {
            TxStatus::NotSigned => None,
            TxStatus::Signed(s) | TxStatus::Pending(s) | TxStatus::Dropped(s) => Some(s),
            TxStatus::Mined { stored, .. } => Some(stored),
        }
    }
}

/// The outcome of [`Outbox::send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The transaction's hash.
    pub hash: B256,
    /// Its nonce.
    pub nonce: u64,
    /// It had been signed before (a run after a crash): these are those bytes again.
    pub again: bool,
}

/// The signed transactions of every action, in `<data dir>/wallet/outbox.db`.
pub struct Outbox {
    db: Mutex<rusqlite::Connection>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").finish_non_exhaustive()
    }
}

fn db_error(e: rusqlite::Error) -> Error {
    Error::Outbox(e.to_string())
}

/// A provider for `rpc_url` by the outbound policy `http` (no wallet: this module signs itself).
pub fn provider(rpc_url: &str, http: &sov_net::Http) -> Result<DynProvider, Error> {
    let transport = sov_chain::rpc::NetTransport::new(rpc_url, http).map_err(|e| Error::Tx(e.to_string()))?;
    let is_local = transport.is_local();
    let provider = ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect_client(RpcClient::new(transport, is_local))
        .erased();
    if is_local {
        provider.client().set_poll_interval(std::time::Duration::from_millis(20));
    }
    Ok(provider)
}

impl Outbox {
    /// Opens (or creates) the outbox at `path`; every write is on disk before it returns.
    ///
    /// # Errors
    /// [`Error::Outbox`] when the file cannot be opened or is not an outbox.
    pub fn open(path: &Path) -> Result<Outbox, Error> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::Outbox(format!("{}: {e}", dir.display())))?;
        }
        let db = rusqlite::Connection::open(path).map_err(db_error)?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS wallet_outbox (
                 action     TEXT PRIMARY KEY,
                 chain_id   INTEGER NOT NULL,
                 sender     TEXT NOT NULL,
                 nonce      INTEGER NOT NULL,
                 hash       TEXT NOT NULL UNIQUE,
                 raw        BLOB NOT NULL,
                 state      TEXT NOT NULL,
                 created_ms INTEGER NOT NULL,
                 UNIQUE (chain_id, sender, nonce)
             ) STRICT;
             CREATE TABLE IF NOT EXISTS wallet_refused (
                 action     TEXT NOT NULL,
                 hash       TEXT NOT NULL,
                 nonce      INTEGER NOT NULL,
                 raw        BLOB NOT NULL,
                 reason     TEXT NOT NULL,
                 refused_ms INTEGER NOT NULL
             ) STRICT;",
        )
        .map_err(db_error)?;
        Ok(Outbox { db: Mutex::new(db) })
    }

    /// The transaction stored for `action`, if any.
    ///
    /// # Errors
    /// [`Error::Outbox`] when the outbox cannot be read.
    pub fn get(&self, action: &str) -> Result<Option<Stored>, Error> {
        Ok(self.row(action)?.map(|(stored, _)| stored))
    }

    fn row(&self, action: &str) -> Result<Option<(Stored, Vec<u8>)>, Error> {
        let db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        db.query_row(
            "SELECT chain_id, sender, nonce, hash, state, raw FROM wallet_outbox WHERE action = ?1",
            [action],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Vec<u8>>(5)?,
                ))
            },
        )
        .optional()
        .map_err(db_error)?
        .map(|(chain_id, sender, nonce, hash, state, raw)| {
            let parse = |what: &str, e: String| Error::Outbox(format!("the outbox's {what} for {action}: {e}"));
            Ok((
                Stored {
                    action: action.to_owned(),
                    chain_id: u64::try_from(chain_id).map_err(|e| parse("chain id", e.to_string()))?,
                    from: sender.parse().map_err(|e: alloy::hex::FromHexError| parse("sender", e.to_string()))?,
                    nonce: u64::try_from(nonce).map_err(|e| parse("nonce", e.to_string()))?,
                    hash: hash.parse().map_err(|e: alloy::hex::FromHexError| parse("hash", e.to_string()))?,
                    state,
                },
                raw,
            ))
        })
        .transpose()
    }

    /// The next nonce the outbox has not used for `sender` on `chain_id`.
    fn next_unused(&self, chain_id: u64, sender: Address) -> Result<u64, Error> {
        let db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        let max: Option<i64> = db
            .query_row(
                "SELECT MAX(nonce) FROM wallet_outbox WHERE chain_id = ?1 AND sender = ?2",
                params![i64::try_from(chain_id).unwrap_or(i64::MAX), sender.to_string()],
                |r| r.get(0),
            )
            .map_err(db_error)?;
        Ok(max.map_or(0, |n| u64::try_from(n).unwrap_or(0).saturating_add(1)))
    }

    /// Signs `outgoing` for `action` with `signer` and stores it, or returns what is stored for
    /// it already (never signing twice). Nothing is broadcast.
    ///
    /// # Errors
    /// [`Error::Tx`] when the node cannot say the chain, the nonce, the fees or the gas (a call
    /// that would fail is refused here, by its estimate), or when the account cannot pay the
    /// value and the gas (nothing signed); [`Error::Outbox`] when it cannot be stored.
    pub async fn sign(
        &self,
        action: &str,
        outgoing: &Outgoing,
        signer: &PrivateKeySigner,
        provider: &DynProvider,
    ) -> Result<(Stored, Vec<u8>, bool), Error> {
        if let Some((stored, raw)) = self.row(action)? {
            return Ok((stored, raw, true));
        }
        let chain = |what: &str, e: String| Error::Tx(format!("{what}: {e}"));
        let from = signer.address();
        let chain_id = provider.get_chain_id().await.map_err(|e| chain("reading the chain id", e.to_string()))?;
        let pending = provider
            .get_transaction_count(from)
            .pending()
            .await
            .map_err(|e| chain("reading the account's nonce", e.to_string()))?;
        let nonce = pending.max(self.next_unused(chain_id, from)?);
        let mut request = TransactionRequest::default()
            .with_from(from)
            .with_to(outgoing.to)
            .with_value(outgoing.value)
            .with_input(outgoing.data.clone())
            .with_chain_id(chain_id)
            .with_nonce(nonce);
        let gas = provider
            .estimate_gas(request.clone())
            .await
            .map_err(|e| chain("estimating gas (the transaction would fail as it is)", e.to_string()))?;
        let fees = provider.estimate_eip1559_fees().await.map_err(|e| chain("estimating fees", e.to_string()))?;
        // A node estimates gas without looking at the balance: one that cannot pay would be
        // signed, stored, refused by the node, and hold its nonce for ever (the next would wait
        // behind it). So the balance is checked before anything is signed.
        let cost = outgoing.value + U256::from(gas) * U256::from(fees.max_fee_per_gas);
        let balance = provider.get_balance(from).await.map_err(|e| chain("reading the balance", e.to_string()))?;
        if balance < cost {
            return Err(Error::Tx(format!(
                "{from} holds {balance} wei and this transaction needs up to {cost} (its value and gas): not signed"
            )));
        }
        request = request
            .with_gas_limit(gas)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        let wallet = EthereumWallet::from(signer.clone());
        let envelope = request.build(&wallet).await.map_err(|e| Error::Tx(format!("signing: {e}")))?;
        let hash = *envelope.tx_hash();
        let raw = envelope.encoded_2718();
        let stored = Stored { action: action.to_owned(), chain_id, from, nonce, hash, state: "signed".into() };
        {
            let db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
            db.execute(
                "INSERT INTO wallet_outbox (action, chain_id, sender, nonce, hash, raw, state, created_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'signed', ?7)",
                params![
                    action,
                    i64::try_from(chain_id).unwrap_or(i64::MAX),
                    from.to_string(),
                    i64::try_from(nonce).unwrap_or(i64::MAX),
                    hash.to_string(),
                    raw,
                    sov_core::now_ms(),
                ],
            )
            .map_err(db_error)?;
        }
        Ok((stored, raw, false))
    }

    fn refuse(&self, stored: &Stored, raw: &[u8], reason: &str) -> Result<(), Error> {
        let mut db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = db.transaction().map_err(db_error)?;
        tx.execute(
            "INSERT INTO wallet_refused (action, hash, nonce, raw, reason, refused_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                stored.action,
                stored.hash.to_string(),
                i64::try_from(stored.nonce).unwrap_or(i64::MAX),
                raw,
                reason,
                sov_core::now_ms()
            ],
        )
        .map_err(db_error)?;
        tx.execute("DELETE FROM wallet_outbox WHERE action = ?1", [&stored.action]).map_err(db_error)?;
        tx.commit().map_err(db_error)
    }

    /// What became of `action`'s transaction, asked of the node at `provider`.
    ///
    /// # Errors
    /// [`Error::Outbox`] when the outbox cannot be read; [`Error::Rpc`] when the node cannot be
    /// asked.
    pub async fn status(&self, action: &str, provider: &DynProvider) -> Result<TxStatus, Error> {
        let Some(stored) = self.get(action)? else { return Ok(TxStatus::NotSigned) };
        let rpc = |action: &'static str| {
            move |e: alloy::transports::TransportError| Error::Rpc { action, message: e.to_string() }
        };
        if let Some(receipt) =
            provider.get_transaction_receipt(stored.hash).await.map_err(rpc("reading the transaction's receipt"))?
        {
            return Ok(TxStatus::Mined {
                stored,
                block: receipt.block_number.unwrap_or_default(),
                success: receipt.status(),
            });
        }
        if provider.get_transaction_by_hash(stored.hash).await.map_err(rpc("looking the transaction up"))?.is_some() {
            return Ok(TxStatus::Pending(stored));
        }
        if stored.state == "signed" {
            return Ok(TxStatus::Signed(stored));
        }
        Ok(TxStatus::Dropped(stored))
    }

    /// Carries out `action`: signs `outgoing` once ([`Outbox::sign`]) and broadcasts it.
    ///
    /// # Errors
    /// As [`Outbox::sign`], and [`Error::Tx`] when no node took the transaction (it stays in
    /// the outbox, signed: the next run broadcasts the same bytes).
    pub async fn send(
        &self,
        action: &str,
        outgoing: &Outgoing,
        signer: &PrivateKeySigner,
        provider: &DynProvider,
    ) -> Result<Sent, Error> {
        let (stored, raw, again) = self.sign(action, outgoing, signer, provider).await?;
        sov_gate::crash::point("wallet-signed");
        match provider.send_raw_transaction(&raw).await {
            Ok(_) => {}
            Err(e) => {
                // A node that has it (pending or mined) may refuse it as known or as reusing a
                // nonce: it is sent. Anything else is an error, and it stays signed.
                let known = match provider.get_transaction_by_hash(stored.hash).await {
                    Ok(found) => Some(found.is_some()),
                    Err(_) => None,
                };
                match known {
                    Some(true) => {}
                    Some(false) => {
                        // The node refused it and does not have it: it was not sent. Its row
                        // moves to `wallet_refused`, so that its nonce is free for the next
                        // transaction (one stuck nonce would hold every later one).
                        self.refuse(&stored, &raw, &e.to_string())?;
                        return Err(Error::Refused(format!(
                            "the Ethereum node refused the transaction (nonce {}): {e}; it was not sent",
                            stored.nonce
                        )));
                    }
                    None => {
                        return Err(Error::Broadcast(format!(
                            "broadcasting {} (nonce {}): {e}; it stays signed and is sent again, never re-signed, on the next try",
                            stored.hash, stored.nonce
                        )));
                    }
                }
            }
        }
        sov_gate::crash::point("wallet-broadcast");
        {
            let db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
            db.execute("UPDATE wallet_outbox SET state = 'broadcast' WHERE action = ?1", [action]).map_err(db_error)?;
        }
        Ok(Sent { hash: stored.hash, nonce: stored.nonce, again })
    }
}
