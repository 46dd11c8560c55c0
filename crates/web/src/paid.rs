//! The `zkapi` engine: a SearXNG-JSON search API behind a `sov provider`, paid per query with a
//! ZK-API ticket, so a paid search API can be used without an account.
//!
//! Each query is, by the engine route (`[net] web`, Tor by default, each request on a circuit
//! of its own):
//! 1. `GET /zkapi` (free; read once and kept until the provider refuses a payment): the deposit
//!    contract and the external nullifier the provider's tickets are bound to;
//! 2. a ticket for exactly `GET /search?q=…&format=json` with an empty body, from [`Tickets`]
//!    (sov-private's wallet: it checks the external nullifier against the contract and reads the
//!    deposit tree by `[net] chain`);
//! 3. that request with the ticket; the answer is read as SearXNG's.
//!
//! A 402 is this engine's error, with the provider's reason; one for an unknown deposit tree
//! root (`unknown_root`: a deposit newer than the tree in hand) is paid again once with the
//! tree read again. No credit is an error naming `sov zkapi deposit`. None of it touches the
//! other engines. This crate learns no chain and no proof: [`Tickets`] is the port.
//!
//! # What the provider learns
//! The sanitised query (as every engine does), and that some depositor of its contract paid,
//! not which one: the ticket is a zero-knowledge proof of membership in the deposit tree. Two
//! queries are unlinkable by their tickets (each has a nullifier and a share of its own; the RLN
//! secret only comes out if one ticket index is spent twice, which the wallet never does) and by
//! their connections (a circuit each). The external nullifier it describes is checked against
//! its contract, so it cannot hand each client one of its own to tell them apart. The chain
//! read tells the RPC node that someone reads this contract's deposit tree, nothing more.
//! What a provider may still see: the time of each query, and that queries arrive at all.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use url::{Position, Url};

use crate::Web;

/// A boxed future that may be sent between threads.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a ticket pays for: a provider, as its `GET /zkapi` describes it, and one exact request.
#[derive(Debug, Clone, Copy)]
pub struct TicketFor<'a> {
    /// The provider's deposit contract (`0x…`).
    pub contract: &'a str,
    /// The external nullifier its tickets are bound to (hex), as the provider says; the
    /// implementation checks it against the contract.
    pub external_nullifier: &'a str,
    /// The request's method.
    pub method: &'a str,
    /// Its path and query, exactly as sent.
    pub path_and_query: &'a str,
    /// Its body.
    pub body: &'a [u8],
    /// Read the deposit tree again first (the provider did not know the tree's root).
    pub fresh_tree: bool,
}

/// The port to a wallet: a ZK-API ticket for one request, as `(header name, value)`. The error
/// says why none can be made (no deposit, all tickets used, the chain unreadable) and what to do.
pub trait Tickets: Send + Sync {
    /// A ticket for `request`.
    fn ticket<'a>(&'a self, request: TicketFor<'a>) -> BoxFuture<'a, Result<(String, String), String>>;
}

/// A provider's `GET /zkapi`, the part a ticket needs.
#[derive(Debug, Clone)]
struct Described {
    contract: String,
    external_nullifier: String,
}

/// The wallet a `zkapi` engine pays with, and what the providers said about themselves.
#[derive(Default)]
pub(crate) struct Payment {
    tickets: Option<Arc<dyn Tickets>>,
    described: Mutex<HashMap<String, Described>>,
}

impl Web {
    /// This service, paying `zkapi` engines with `tickets`. Without, such an engine reports
    /// that it cannot pay and asks nothing.
    #[must_use]
    pub fn with_tickets(mut self, tickets: Arc<dyn Tickets>) -> Web {
        self.payment.tickets = Some(tickets);
        self
    }

    /// A `zkapi` engine's answer to `query`: the body of a paid `GET search?q=…&format=json`.
    pub(crate) async fn paid_search(&self, base: &Url, query: &str) -> Result<String, String> {
        let tickets = self.payment.tickets.clone().ok_or(
            "is paid per query with ZK-API tickets, and this service has no wallet to pay with (run it in `sov serve`)",
        )?;
        let mut url = base.join("search").map_err(|e| e.to_string())?;
        url.query_pairs_mut().extend_pairs([("q", query), ("format", "json")]);
        let path_and_query = &url[Position::BeforePath..];
        let described = self.described(base).await?;
        let mut attempt = 0;
        loop {
            let request = TicketFor {
                contract: &described.contract,
                external_nullifier: &described.external_nullifier,
                method: "GET",
                path_and_query,
                body: &[],
                fresh_tree: attempt > 0,
            };
            let (header, ticket) = match tickets.ticket(request).await {
                Ok(ticket) => ticket,
                Err(e) => {
                    // The description may be what was wrong (a nullifier not its contract's):
                    // read it again next time rather than keep failing on it.
                    self.payment.described.lock().unwrap_or_else(PoisonError::into_inner).remove(base.as_str());
                    return Err(format!("cannot pay: {e}"));
                }
            };
            let mut request = crate::fetch::get_request(&url, "application/json").map_err(|e| e.to_string())?;
            let header = http::HeaderName::from_bytes(header.as_bytes()).map_err(|e| e.to_string())?;
            let value = http::HeaderValue::from_str(&ticket).map_err(|e| e.to_string())?;
            request.headers_mut().insert(header, value);
            let (status, body) = self.exchange(request).await?;
            match refused(status.as_u16(), &body, attempt) {
                Refusal::None => return crate::search::checked(status, body),
                Refusal::Retry => {
                    tracing::info!("the provider does not know this deposit tree; reading it again and paying again");
                    attempt += 1;
                }
                Refusal::Report(why) => {
                    // Perhaps it moved to another contract: ask it again next time.
                    self.payment.described.lock().unwrap_or_else(PoisonError::into_inner).remove(base.as_str());
                    return Err(why);
                }
            }
        }
    }

    /// The provider's `GET /zkapi`, read by the engine route the first time.
    async fn described(&self, base: &Url) -> Result<Described, String> {
        let kept = self.payment.described.lock().unwrap_or_else(PoisonError::into_inner).get(base.as_str()).cloned();
        if let Some(kept) = kept {
            return Ok(kept);
        }
        let url = base.join("/zkapi").map_err(|e| e.to_string())?;
        let request = crate::fetch::get_request(&url, "application/json").map_err(|e| e.to_string())?;
        let (status, body) = self.exchange(request).await?;
        let body = crate::search::checked(status, body)?;
        let described = describe(&body)?;
        self.payment
            .described
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(base.as_str().to_owned(), described.clone());
        Ok(described)
    }
}

/// A `GET /zkapi` answer read.
fn describe(body: &str) -> Result<Described, String> {
    let v: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("its /zkapi is not JSON ({e}); is it a `sov provider`?"))?;
    let field = |name: &str| v.get(name).and_then(serde_json::Value::as_str).filter(|s| !s.is_empty());
    match (field("contract"), field("external_nullifier")) {
        (Some(contract), Some(external_nullifier)) => {
            Ok(Described { contract: contract.to_owned(), external_nullifier: external_nullifier.to_owned() })
        }
        _ => Err("its /zkapi names no contract and external nullifier; is it a `sov provider`?".into()),
    }
}

/// What a paid request's answer says about the payment.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// Paid (or failed for another reason, which the answer's status says).
    None,
    /// The provider did not know the deposit tree: read it again and pay again, once.
    Retry,
    /// Refused; why.
    Report(String),
}

/// The decision on an answer with `status` and `body` on attempt `attempt` (0 first): a 402 or
/// 409 is a refused payment, with the provider's `error.code` and `error.message` (OpenAI's
/// error shape) when it gave them.
fn refused(status: u16, body: &str, attempt: u32) -> Refusal {
    if !matches!(status, 402 | 409) {
        return Refusal::None;
    }
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let said = |key: &str| v.pointer(&format!("/error/{key}")).and_then(serde_json::Value::as_str).unwrap_or_default();
    let (code, message) = (said("code"), said("message"));
    if status == 402 && code == "unknown_root" && attempt == 0 {
        return Refusal::Retry;
    }
    let code = if code.is_empty() { String::new() } else { format!(" ({code})") };
    match message {
        "" => Refusal::Report(format!("the provider refused the payment{code} and gave no reason")),
        message => Refusal::Report(format!("the provider refused the payment{code}: {message}")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_root_is_paid_again_once_and_other_refusals_say_the_providers_reason() {
        let unknown = r#"{"error":{"code":"unknown_root","message":"read the tree again"}}"#;
        assert_eq!(refused(402, unknown, 0), Refusal::Retry);
        assert_eq!(
            refused(402, unknown, 1),
            Refusal::Report("the provider refused the payment (unknown_root): read the tree again".into())
        );
        let spent = r#"{"error":{"code":"spent","message":"already spent"}}"#;
        assert_eq!(
            refused(409, spent, 0),
            Refusal::Report("the provider refused the payment (spent): already spent".into())
        );
        assert_eq!(
            refused(402, "Payment Required", 0),
            Refusal::Report("the provider refused the payment and gave no reason".into())
        );
        assert_eq!(refused(200, "{}", 0), Refusal::None);
        assert_eq!(refused(500, unknown, 0), Refusal::None);
    }

    #[test]
    fn a_provider_is_described_by_its_contract_and_external_nullifier() {
        let d =
            describe(r#"{"protocol":"zkapi-rln-v1","contract":"0xab","external_nullifier":"0x01","price_wei":"1"}"#)
                .unwrap();
        assert_eq!((d.contract.as_str(), d.external_nullifier.as_str()), ("0xab", "0x01"));
        assert!(describe(r#"{"results":[]}"#).unwrap_err().contains("sov provider"));
        assert!(describe("<html>").unwrap_err().contains("not JSON"));
    }
}
