//! Sending one approved chat the private way: attest, seal, pay, send.
//!
//! The order is [`sov_remote::RemoteProvider::send`]'s: nothing goes to the provider's request
//! path before its attestation verified here, and the ticket is computed over exactly the
//! sealed bytes. The deposit tree and the payer (with the proof's precomputed part) are kept per
//! contract while the tree's root on chain stays the same ([`Payers`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use serde_json::Value;
use sov_core::config::{Config, RemoteConfig};
use sov_core::paths::Paths;
use sov_net::{Class, Net};
use sov_zkapi::{Fr, Membership, Payer, Prover, Wallet};

use crate::error::Error;

/// The config's `[attest]` section as a policy.
pub fn attest_policy(config: &Config) -> Result<sov_attest::Policy, Error> {
    let policy: sov_attest::Policy = toml::Value::Table(config.attest.clone())
        .try_into()
        .map_err(|e| Error::Config(format!("config [attest]: {e}")))?;
    policy.validate().map_err(|e| Error::Config(format!("config [attest]: {e}")))?;
    Ok(policy)
}

/// How a `[remote.NAME]` entry's requests travel: its own `transport` or `[net] remote`, on the
/// outbound policy `net`.
pub fn transport(net: &Arc<Net>, config: &Config, name: &str, remote: &RemoteConfig) -> Result<sov_net::Http, Error> {
    let (transport, socks) = config.remote_route(remote);
    let route = sov_net::Route::from_config(transport, socks)
        .map_err(|e| Error::Config(format!("config remote.{name}: {e}")))?;
    Ok(net.http_on(route, &format!("remote.{name}.transport")))
}

/// `body` as JSON with trailing spaces up to its size bucket ([`sov_net::pad_to_bucket`]), so
/// the sealed request's size tells the provider and the network only the bucket. Trailing
/// whitespace is valid JSON: the model server reads the same request.
fn padded_json(body: &Value) -> Result<Vec<u8>, Error> {
    let mut bytes = serde_json::to_vec(body).map_err(|e| Error::Params(e.to_string()))?;
    bytes.resize(sov_net::pad_to_bucket(bytes.len()), b' ');
    Ok(bytes)
}

/// GETs `url` through `transport` and reads a JSON answer.
async fn get_json(transport: &dyn sov_remote::Transport, url: &str) -> Result<Value, Error> {
    let request = http::Request::get(url)
        .body(bytes::Bytes::new())
        .map_err(|e| Error::Config(format!("the provider URL `{url}`: {e}")))?;
    let response = transport.send(request).await?;
    let status = response.status();
    let body = response.into_body().collect(1 << 20).await?;
    if !status.is_success() {
        let start: String = String::from_utf8_lossy(&body).chars().take(300).collect();
        return Err(Error::Provider { name: url.to_owned(), status: status.as_u16(), message: start });
    }
    serde_json::from_slice(&body).map_err(|e| Error::Answer { name: url.to_owned(), problem: format!("not JSON: {e}") })
}

/// A payer and the deposit tree it proves against, for one contract at one root.
#[derive(Clone)]
pub(crate) struct Paying {
    root: sov_chain::U256,
    external_nullifier: Fr,
    pub(crate) payer: Arc<Payer>,
    pub(crate) tree: Arc<Membership>,
}

/// The payers of every provider's contract, each kept with its deposit tree and the proof's
/// precomputed part while the tree's root on chain is unchanged: a call then costs one cheap
/// read of the root, not a read of every deposit and a whole proof.
#[derive(Default)]
pub struct Payers {
    prover: OnceLock<Arc<Prover>>,
    by_contract: Mutex<HashMap<String, Paying>>,
}

impl std::fmt::Debug for Payers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let contracts: Vec<String> =
            self.by_contract.lock().unwrap_or_else(PoisonError::into_inner).keys().cloned().collect();
        f.debug_struct("Payers").field("contracts", &contracts).finish()
    }
}

impl Payers {
    /// No payer yet; each is made on its contract's first call.
    pub fn new() -> Payers {
        Payers::default()
    }

    /// The payer and tree for the deposit contract at `contract`, read again from the chain at
    /// `rpc` when its root changed, or always when `fresh`.
    pub(crate) async fn get(
        &self,
        net: &Arc<Net>,
        rpc: &str,
        contract: &str,
        external_nullifier: Fr,
        paths: &Paths,
        fresh: bool,
    ) -> Result<Paying, Error> {
        let credits = sov_zkapi::chain::reader(rpc, sov_zkapi::chain::address(contract)?, &net.http(Class::Chain))?;
        let root = credits.root().await.map_err(sov_zkapi::ZkError::from)?;
        let kept = self.by_contract.lock().unwrap_or_else(PoisonError::into_inner).get(contract).cloned();
        if let Some(kept) = kept.filter(|k| !fresh && k.root == root && k.external_nullifier == external_nullifier) {
            return Ok(kept);
        }
        let tree = Arc::new(sov_zkapi::chain::membership(&credits).await?);
        let prover = self.prover.get_or_init(|| Arc::new(Prover::new())).clone();
        let wallet = Arc::new(Wallet::open_in(paths)?);
        let payer = Arc::new(Payer::new(wallet, prover, contract, external_nullifier));
        // The proof's fixed part, once per tree: each call then only finishes it. Without a
        // usable credit there is nothing to prepare; paying says why.
        let (preparing, for_tree) = (payer.clone(), tree.clone());
        match tokio::task::spawn_blocking(move || preparing.prepare(&for_tree)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "no proof prepared ahead"),
            Err(e) => tracing::debug!(error = %e, "preparing the proof stopped"),
        }
        let paying = Paying { root, external_nullifier, payer, tree };
        self.by_contract.lock().unwrap_or_else(PoisonError::into_inner).insert(contract.to_owned(), paying.clone());
        Ok(paying)
    }
}

/// Pays each sealed request with a ZK-API ticket over exactly the bytes that leave.
struct TicketPayment {
    payer: Arc<Payer>,
    tree: Arc<Membership>,
}

impl sov_remote::Payment for TicketPayment {
    fn ticket(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
    ) -> sov_remote::BoxFuture<'_, Result<Option<(String, String)>, String>> {
        let (payer, tree) = (self.payer.clone(), self.tree.clone());
        let (method, path_and_query, body) = (method.to_owned(), path_and_query.to_owned(), body.to_vec());
        Box::pin(async move {
            // Proving is seconds of arithmetic at worst: off the async workers.
            let ticket = tokio::task::spawn_blocking(move || payer.pay(&tree, &method, &path_and_query, &body))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            Ok(Some((sov_zkapi::TICKET_HEADER.to_owned(), ticket.encode())))
        })
    }
}

/// What to do after the provider refused a payment with a 402.
#[derive(Debug, PartialEq)]
enum Refused {
    /// The provider does not know the tree's root: read the tree again and pay again, once.
    RetryWithFreshTree,
    /// Report the provider's reason.
    Report(String),
}

/// The decision on a 402 with `code` and `message` (either may be missing: a 402 from another
/// proxy), on attempt `attempt` (0 first).
fn on_payment_refused(code: Option<&str>, message: &str, attempt: u32) -> Refused {
    match code {
        Some("unknown_root") if attempt == 0 => Refused::RetryWithFreshTree,
        _ if message.is_empty() => Refused::Report("payment required, and the provider gave no reason".into()),
        _ => Refused::Report(message.to_owned()),
    }
}

/// Sends the chat `body` to remote model `name` the private way: the provider's attestation
/// verified (or taken from `cache`), the body sealed to the attested key, paid with a ZK-API
/// ticket over exactly the sealed bytes (from `payers`), through the configured route of the
/// outbound policy `net` (the chain read by `[net] chain`'s), padded to its size bucket.
/// A payment refused for an unknown tree root is paid again once, with the tree read again.
#[allow(clippy::too_many_arguments)]
pub async fn send_private(
    name: &str,
    remote: &RemoteConfig,
    body: &Value,
    cache: Arc<sov_attest::Cache>,
    payers: &Payers,
    config: &Config,
    paths: &Paths,
    net: &Arc<Net>,
) -> Result<sov_remote::RemoteResponse, Error> {
    let transport: Arc<dyn sov_remote::Transport> = Arc::new(transport(net, config, name, remote)?);
    let base = remote.url.trim_end_matches('/');
    let provider = sov_remote::RemoteProvider::new(base, transport.clone(), attest_policy(config)?, cache)?;
    let (_, _, verdict) = provider.attested_key().await?;
    tracing::info!(kind = ?verdict.kind, "the provider's attestation verified");

    let info = get_json(transport.as_ref(), &format!("{base}/zkapi")).await?;
    let contract = info["contract"].as_str().unwrap_or_default();
    let external_nullifier = sov_zkapi::field::from_hex(
        "the provider's external nullifier",
        info["external_nullifier"].as_str().unwrap_or_default(),
    )?;
    let body = padded_json(body)?;
    let mut attempt = 0;
    loop {
        let paying = payers.get(net, &config.zkapi.rpc, contract, external_nullifier, paths, attempt > 0).await?;
        let payment = TicketPayment { payer: paying.payer, tree: paying.tree };
        match provider.send("/v1/chat/completions", &body, &payment).await {
            Err(sov_remote::Error::ProviderStatus { status: 402, code, body: message, .. }) => {
                match on_payment_refused(code.as_deref(), &message, attempt) {
                    Refused::RetryWithFreshTree => {
                        tracing::info!(
                            "the provider does not know this deposit tree; reading it again and paying again"
                        );
                        attempt += 1;
                    }
                    Refused::Report(message) => {
                        return Err(Error::Provider { name: name.to_owned(), status: 402, message });
                    }
                }
            }
            answered => return Ok(answered?),
        }
    }
}

/// Takes the complete server-sent events from the front of `pending` and returns their JSON
/// `data` (a chunk may hold several events, or a part of one, which stays in `pending`).
pub fn take_events(pending: &mut Vec<u8>) -> Vec<Value> {
    let mut events = Vec::new();
    while let Some(end) = pending.windows(2).position(|w| w == b"\n\n") {
        let event: Vec<u8> = pending.drain(..end + 2).collect();
        let event = String::from_utf8_lossy(&event);
        for data in event.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim) {
            if data != "[DONE]" {
                events.push(serde_json::from_str(data).unwrap_or(Value::Null));
            }
        }
    }
    events
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn an_unknown_root_is_retried_once_and_every_other_refusal_reports_the_providers_reason() {
        assert_eq!(on_payment_refused(Some("unknown_root"), "read the tree again", 0), Refused::RetryWithFreshTree);
        assert_eq!(
            on_payment_refused(Some("unknown_root"), "read the tree again", 1),
            Refused::Report("read the tree again".into())
        );
        for code in ["invalid_proof", "limit_reached", "missing_ticket"] {
            assert_eq!(on_payment_refused(Some(code), "why", 0), Refused::Report("why".into()));
        }
        // A 402 from a proxy that says nothing, or something that is not JSON.
        assert_eq!(on_payment_refused(None, "Payment Required", 0), Refused::Report("Payment Required".into()));
        assert!(matches!(on_payment_refused(None, "", 0), Refused::Report(m) if m.contains("no reason")));
    }

    #[test]
    fn a_padded_body_is_the_same_json_in_a_bucket_sized_envelope() {
        let body = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        let padded = padded_json(&body).unwrap();
        assert_eq!(padded.len(), 1024);
        assert_eq!(serde_json::from_slice::<Value>(&padded).unwrap(), body);
        let long = serde_json::json!({"content": "x".repeat(3000)});
        assert_eq!(padded_json(&long).unwrap().len(), 4096);
    }

    #[test]
    fn events_are_taken_whole_and_a_partial_one_waits() {
        let mut pending = b"data: {\"a\":1}\n\ndata: [DONE]\n\ndata: {\"b\"".to_vec();
        assert_eq!(take_events(&mut pending), vec![serde_json::json!({"a": 1})]);
        assert_eq!(pending, b"data: {\"b\"");
    }
}
