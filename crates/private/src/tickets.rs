//! Tickets for a `sov provider`'s plain requests, those that are not sealed chats: a paid search
//! engine (sov-web's `zkapi` kind) asks here for each query's ticket.
//!
//! # Guarantees
//! - **Nothing is paid to a provider that describes itself falsely**: the external nullifier its
//!   `GET /zkapi` names is checked against its contract's (immutable there, read once by
//!   `[net] chain`). A provider that handed each client a nullifier of its own could tell
//!   their tickets apart; such a provider is refused and said so.
//! - **No credit, no chain read**: without a usable deposit in the wallet the error names
//!   `sov zkapi deposit` and nothing leaves.
//! - The rest is [`Payers`]'s and the wallet's: a ticket index is committed before its proof is
//!   made and never spent twice; the deposit tree is read by `[net] chain` (a circuit per read by
//!   Tor), which tells the RPC node that someone reads the contract's tree, nothing more.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use sov_core::config::Config;
use sov_core::paths::Paths;
use sov_net::{Class, Net};
use sov_zkapi::{Fr, Wallet, ZkError};

use crate::error::Error;
use crate::send::Payers;

/// Pays requests to `sov provider`s from the wallet under a data directory.
pub struct ProviderTickets {
    payers: Payers,
    net: Arc<Net>,
    rpc: String,
    paths: Paths,
    /// Each contract's external nullifier, as the contract says.
    external_nullifiers: Mutex<HashMap<String, Fr>>,
}

impl std::fmt::Debug for ProviderTickets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderTickets").field("payers", &self.payers).field("rpc", &self.rpc).finish_non_exhaustive()
    }
}

impl ProviderTickets {
    /// Tickets from the wallet under `paths`, the chain read at `config`'s `[zkapi] rpc` by the
    /// outbound policy `net`'s `[net] chain` route.
    pub fn new(config: &Config, paths: Paths, net: Arc<Net>) -> Self {
        ProviderTickets {
            payers: Payers::new(),
            net,
            rpc: config.zkapi.rpc.clone(),
            paths,
            external_nullifiers: Mutex::new(HashMap::new()),
        }
    }

    /// A ticket for exactly `method path_and_query` with `body` to the provider of `contract`
    /// whose `GET /zkapi` names `external_nullifier` (hex), as `(header name, value)`; with
    /// `fresh_tree`, the deposit tree is read again first (after an `unknown_root` refusal).
    ///
    /// # Errors
    /// [`Error::NoCredit`] without a usable credit (nothing leaves); [`Error::Payment`] when the
    /// chain cannot be read or no proof made; [`Error::Misdescribed`] when the provider's external nullifier is not its
    /// contract's.
    pub async fn ticket(
        &self,
        contract: &str,
        external_nullifier: &str,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        fresh_tree: bool,
    ) -> Result<(String, String), Error> {
        let address = sov_zkapi::chain::address(contract)?;
        // The wallet keys its credits by the address as `sov zkapi deposit` writes it.
        let contract = format!("{address:#x}");
        let said = sov_zkapi::field::from_hex("the provider's external nullifier", external_nullifier)?;
        if Wallet::open_in(&self.paths)?.usable(&contract)?.is_none() {
            return Err(Error::NoCredit { contract });
        }
        let external_nullifier = self.external_nullifier(&contract).await?;
        if said != external_nullifier {
            return Err(Error::Misdescribed {
                provider: contract,
                problem: "its /zkapi names an external nullifier that is not its contract's, which could tell \
                          its clients apart; nothing is paid"
                    .into(),
            });
        }
        let paying =
            self.payers.get(&self.net, &self.rpc, &contract, external_nullifier, &self.paths, fresh_tree).await?;
        let (method, path_and_query, body) = (method.to_owned(), path_and_query.to_owned(), body.to_vec());
        // Proving is seconds of arithmetic at worst: off the async workers.
        let ticket =
            tokio::task::spawn_blocking(move || paying.payer.pay(&paying.tree, &method, &path_and_query, &body))
                .await
                .map_err(|e| Error::Payment(ZkError::Prove(format!("the proof's thread stopped: {e}"))))??;
        Ok((sov_zkapi::TICKET_HEADER.to_owned(), ticket.encode()))
    }

    /// `contract`'s external nullifier, read from the chain the first time.
    async fn external_nullifier(&self, contract: &str) -> Result<Fr, Error> {
        let kept = self.external_nullifiers.lock().unwrap_or_else(PoisonError::into_inner).get(contract).copied();
        if let Some(kept) = kept {
            return Ok(kept);
        }
        let credits =
            sov_zkapi::chain::reader(&self.rpc, sov_zkapi::chain::address(contract)?, &self.net.http(Class::Chain))?;
        let read = sov_zkapi::chain::fr(credits.external_nullifier().await.map_err(ZkError::from)?)?;
        self.external_nullifiers.lock().unwrap_or_else(PoisonError::into_inner).insert(contract.to_owned(), read);
        Ok(read)
    }
}
