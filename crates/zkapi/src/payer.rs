//! The client's payment for one request: reserve a ticket index for good, then prove.

use std::sync::{Arc, Mutex};

use rln::prelude::Fr;

use crate::ticket::{Ticket, signal};
use crate::tree::Membership;
use crate::wallet::{Credit, Wallet};
use crate::{Credential, Prepared, Prover, ZkError};

/// Pays a provider's requests from the wallet's credits with one contract.
pub struct Payer {
    wallet: Arc<Wallet>,
    prover: Arc<Prover>,
    contract: String,
    external_nullifier: Fr,
    prepared: Mutex<Option<(Fr, Arc<Prepared>)>>,
}

impl Payer {
    /// A payer for the provider whose deposit contract is `contract` (`chain-id:address`) and
    /// whose tickets are bound to `external_nullifier`.
    pub fn new(wallet: Arc<Wallet>, prover: Arc<Prover>, contract: &str, external_nullifier: Fr) -> Self {
        Self { wallet, prover, contract: contract.to_owned(), external_nullifier, prepared: Mutex::new(None) }
    }

    fn credit(&self) -> Result<(Credit, Credential), ZkError> {
        let credit = self.wallet.usable(&self.contract)?.ok_or_else(|| {
            ZkError::Store(format!(
                "no credit with tickets left for {}; deposit with `sov zkapi deposit`",
                self.contract
            ))
        })?;
        let secret = self.wallet.secret(&credit.commitment)?;
        let credential = Credential { secret, limit: credit.limit };
        Ok((credit, credential))
    }

    /// Precomputes the proof's fixed part for the credit in use and `tree`'s current root, so
    /// the next [`Payer::pay`] only finishes it. Slow (a proof's worth of work): run it off the
    /// request path.
    pub fn prepare(&self, tree: &Membership) -> Result<(), ZkError> {
        let (credit, credential) = self.credit()?;
        let index = usize::try_from(credit.leaf_index).map_err(|_| ZkError::Tree("leaf index".into()))?;
        let prepared = self.prover.prepare(&credential, tree.path(index)?, tree.root())?;
        let mut slot = self.prepared.lock().map_err(|_| ZkError::Store("poisoned".into()))?;
        *slot = Some((credit.commitment, Arc::new(prepared)));
        Ok(())
    }

    /// A ticket paying for this request. The ticket index is committed to the wallet before the
    /// proof is made.
    pub fn pay(&self, tree: &Membership, method: &str, path_and_query: &str, body: &[u8]) -> Result<Ticket, ZkError> {
        let (credit, credential) = self.credit()?;
        let leaf = usize::try_from(credit.leaf_index).map_err(|_| ZkError::Tree("leaf index".into()))?;
        if tree.leaf(leaf)? != crate::tree::rate_commitment(credit.commitment, credit.limit) {
            return Err(ZkError::Tree(format!(
                "leaf {leaf} of the deposit tree is not this wallet's deposit; the tree is stale or the deposit was removed"
            )));
        }
        let index = self.wallet.reserve_ticket(&credit.commitment)?;
        let x = signal(method, path_and_query, body);
        let ready = self
            .prepared
            .lock()
            .map_err(|_| ZkError::Store("poisoned".into()))?
            .as_ref()
            .filter(|(commitment, prepared)| *commitment == credit.commitment && prepared.root() == tree.root())
            .map(|(_, prepared)| prepared.clone());
        match ready {
            Some(prepared) => self.prover.finish(&prepared, &credential, self.external_nullifier, index, x),
            None => self.prover.prove(&credential, &tree.path(leaf)?, self.external_nullifier, index, x),
        }
    }
}
