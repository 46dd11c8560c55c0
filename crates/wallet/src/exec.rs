//! The gate's executor for `wallet.transfer` and `wallet.call`: an approved action's transaction
//! signed once and broadcast exactly once ([`crate::send::Outbox`]), by a key unlocked when
//! `sov serve` started ([`Signers`]).
//!
//! The executor runs what the wallet's builder wrote into the action (`from`, `chain_id`, `to`,
//! `value_wei`, `data`), which the AI reviewer and the human saw; the Tool API refuses wallet
//! actions an agent submits itself, so nothing else reaches it. It checks that the account is
//! unlocked here and that the node is on the chain the action was built for, and signs nothing
//! otherwise. It is idempotent by the action's id (the outbox's key): after a crash the gate runs
//! it again and the same bytes are sent.

use std::collections::BTreeMap;
use std::sync::Arc;

use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::signers::local::PrivateKeySigner;
use serde_json::{Value, json};
use sov_gate::{ActionRecord, ExecError, Executor};

use crate::send::{Outbox, Outgoing};
use crate::{Error, Keystore, Passphrase};

/// The user's accounts unlocked in this process (their keys in memory, wiped on drop by alloy's
/// signer), by address.
#[derive(Clone, Default)]
pub struct Signers(BTreeMap<Address, PrivateKeySigner>);

impl std::fmt::Debug for Signers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Signers {
    /// Unlocks every account of `keystore` that `passphrase` opens.
    ///
    /// # Errors
    /// [`Error::NoAccounts`] for an empty keystore; [`Error::WrongPassphrase`] (naming the first)
    /// when it opens none; the keystore's errors otherwise.
    pub fn unlock(keystore: &Keystore, passphrase: &Passphrase) -> Result<Signers, Error> {
        let accounts = keystore.list()?;
        let mut signers = BTreeMap::new();
        let mut first_error = None;
        for account in &accounts {
            match keystore.unlock(account.address, passphrase) {
                Ok(signer) => {
                    signers.insert(account.address, signer);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match (signers.is_empty(), first_error) {
            (false, _) => Ok(Signers(signers)),
            (true, Some(e)) => Err(e),
            (true, None) => Err(Error::NoAccounts),
        }
    }

    /// The unlocked accounts.
    pub fn addresses(&self) -> Vec<Address> {
        self.0.keys().copied().collect()
    }

    fn get(&self, address: Address) -> Option<&PrivateKeySigner> {
        self.0.get(&address)
    }
}

/// Performs approved `wallet.transfer` and `wallet.call` actions.
pub struct WalletExecutor {
    outbox: Arc<Outbox>,
    signers: Signers,
    provider: DynProvider,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for WalletExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalletExecutor").field("signers", &self.signers).finish_non_exhaustive()
    }
}

impl WalletExecutor {
    /// An executor sending by `provider` (the node the builder simulated on) with `signers`,
    /// its I/O on `runtime`.
    pub fn new(outbox: Arc<Outbox>, signers: Signers, provider: DynProvider, runtime: tokio::runtime::Handle) -> Self {
        WalletExecutor { outbox, signers, provider, runtime }
    }
}

/// The transaction an action carries, as the builder wrote it.
fn outgoing_of(params: &serde_json::Map<String, Value>) -> Result<(Address, u64, Outgoing), String> {
    let text = |key: &str| params.get(key).and_then(Value::as_str).ok_or_else(|| format!("params.{key} is missing"));
    let from: Address = text("from")?.parse().map_err(|e| format!("params.from: {e}"))?;
    let chain_id = params.get("chain_id").and_then(Value::as_u64).ok_or("params.chain_id is missing")?;
    let to: Address = text("to")?.parse().map_err(|e| format!("params.to: {e}"))?;
    let value = U256::from_str_radix(text("value_wei")?, 10).map_err(|e| format!("params.value_wei: {e}"))?;
    let hex = text("data")?;
    let data: Bytes =
        alloy::hex::decode(hex.strip_prefix("0x").unwrap_or(hex)).map_err(|e| format!("params.data: {e}"))?.into();
    Ok((from, chain_id, Outgoing { to, value, data }))
}

impl Executor for WalletExecutor {
    fn execute(&self, action: &ActionRecord, _key: &str) -> Result<Value, ExecError> {
        let (from, chain_id, outgoing) = outgoing_of(&action.request.params).map_err(ExecError::NotDone)?;
        let signer = self.signers.get(from).ok_or_else(|| {
            ExecError::NotDone(format!(
                "the account {from} is not unlocked in this sov serve ([wallet] passphrase_file does not open it): nothing was signed"
            ))
        })?;
        self.runtime.block_on(async {
            let node_chain = self.provider.get_chain_id().await.map_err(|e| {
                ExecError::NotDone(format!("reading the node's chain id: {e}; nothing was signed, approve it again later"))
            })?;
            if node_chain != chain_id {
                return Err(ExecError::NotDone(format!(
                    "the action was built for chain {chain_id} and [wallet] rpc is now on chain {node_chain}: nothing was signed"
                )));
            }
            let sent = self.outbox.send(&action.id, &outgoing, signer, &self.provider).await.map_err(|e| match e {
                // Nothing was signed (or it was refused outright and is not at the node).
                Error::Refused(m) => ExecError::Failed(m),
                Error::Outbox(m) => ExecError::Unknown(format!("the wallet's outbox: {m}")),
                Error::Broadcast(m) => ExecError::Unknown(m),
                other => ExecError::NotDone(other.to_string()),
            })?;
            Ok(json!({
                "hash": sent.hash.to_string(),
                "nonce": sent.nonce,
                "from": from.to_string(),
                "chain_id": chain_id,
                "again": sent.again,
            }))
        })
    }

    fn idempotent(&self) -> bool {
        true
    }
}
