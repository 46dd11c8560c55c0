//! The provider's proxy: takes a ticket off each request, checks and spends it, and forwards the
//! plain request to an OpenAI-compatible (or any HTTP) upstream.
//!
//! A ticket that names a root the provider does not know yet (a deposit made moments ago, say)
//! makes it read the chain again before it answers, rate-limited (see [`crate::roots`]).
//!
//! Every refusal is an OpenAI-style error, `{"error": {"message", "type", "code"}}`, whose
//! `code` names the case and whose `message` says what to do:
//! - 402, type `payment_required`: `missing_ticket`, `wrong_request` (the ticket pays for another
//!   request), `invalid_proof`, `unknown_root` (a valid proof for a tree the provider does not
//!   know even after reading the chain again: rebuild the tree, pay again, once), `limit_reached`;
//! - 400 `malformed` for a ticket that does not decode;
//! - 409 `spent` for a ticket already spent (a replay is refused, never answered again: the proxy
//!   keeps no answers) and `double_spend` for a ticket index spent on another request (whose
//!   recovered secret goes to the slasher);
//! - 503 `chain_unavailable` when the chain could not be read to check a new root;
//! - 502 `upstream_error` when the upstream fails (the ticket stays spent: phase 1 has no
//!   refunds).
//!
//! `GET /zkapi` (free) describes the provider.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rln::prelude::Fr;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::roots::RootFollower;
pub use crate::roots::Roots;
use crate::store::{NullifierStore, Spend};
use crate::ticket::{TICKET_HEADER, Ticket, signal};
use crate::{Verifier, ZkError};

/// Largest request body the proxy reads.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// A found double spend: `(commitment, secret)`, for whoever slashes on chain.
pub type DoubleSpend = (Fr, Fr);

/// A ticket waiting for verification, and where its verdict goes.
struct Job {
    ticket: Ticket,
    x: Fr,
    verdict: tokio::sync::oneshot::Sender<(Ticket, Result<(), ZkError>)>,
}

/// Verification threads, one per core: each takes every ticket queued when it looks and checks
/// them as one batch, so under load the cost per ticket falls, and when idle a lone ticket is
/// checked at once.
struct Batcher {
    queue: std::sync::mpsc::Sender<Job>,
}

/// Most tickets verified in one batch.
const MAX_BATCH: usize = 64;

impl Batcher {
    fn start(verifier: Verifier, roots: Arc<Roots>) -> Self {
        let (queue, jobs) = std::sync::mpsc::channel::<Job>();
        let jobs = Arc::new(std::sync::Mutex::new(jobs));
        let verifier = Arc::new(verifier);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        for n in 0..threads {
            let (jobs, verifier, roots) = (jobs.clone(), verifier.clone(), roots.clone());
            let spawned = std::thread::Builder::new().name(format!("zkapi-verify-{n}")).spawn(move || {
                loop {
                    let batch: Vec<Job> = {
                        let Ok(jobs) = jobs.lock() else { return };
                        let Ok(first) = jobs.recv() else { return };
                        std::iter::once(first)
                            .chain(std::iter::from_fn(|| jobs.try_recv().ok()).take(MAX_BATCH - 1))
                            .collect()
                    };
                    let pairs: Vec<(&Ticket, Fr)> = batch.iter().map(|job| (&job.ticket, job.x)).collect();
                    let verdicts = verifier.check_batch(&pairs, &roots.snapshot());
                    for (job, verdict) in batch.into_iter().zip(verdicts) {
                        let _ = job.verdict.send((job.ticket, verdict));
                    }
                }
            });
            if let Err(e) = spawned {
                tracing::error!("cannot start a verification thread: {e}");
            }
        }
        Self { queue }
    }

    /// The ticket back, with its verdict.
    async fn check(&self, ticket: Ticket, x: Fr) -> Result<(Ticket, Result<(), ZkError>), ZkError> {
        let (verdict, answer) = tokio::sync::oneshot::channel();
        self.queue
            .send(Job { ticket, x, verdict })
            .map_err(|_| ZkError::Store("the verification threads are gone".into()))?;
        answer.await.map_err(|_| ZkError::Store("a verification thread died".into()))
    }
}

/// The proxy's parts.
pub struct Provider {
    batcher: Batcher,
    roots: Arc<Roots>,
    follower: Option<Arc<RootFollower>>,
    store: Arc<dyn NullifierStore>,
    upstream: String,
    client: reqwest::Client,
    slasher: Option<mpsc::UnboundedSender<DoubleSpend>>,
    info: Value,
}

impl Provider {
    /// A proxy to `upstream` (a base URL such as `http://127.0.0.1:8080`), checking tickets bound
    /// to `external_nullifier` against `roots`, spending them in `store`, and sending double
    /// spends to `slasher`. `info` is what `GET /zkapi` shows (contract, price, …).
    pub fn new(
        external_nullifier: Fr,
        store: Arc<dyn NullifierStore>,
        roots: Arc<Roots>,
        upstream: &str,
        slasher: Option<mpsc::UnboundedSender<DoubleSpend>>,
        info: Value,
    ) -> Self {
        Self {
            batcher: Batcher::start(Verifier::new(external_nullifier), roots.clone()),
            roots,
            follower: None,
            store,
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            slasher,
            info,
        }
    }

    /// Reads the chain again through `follower` (which must keep this provider's roots) when a
    /// ticket names a root the window lacks, before refusing it. Without one, such a ticket is
    /// refused at once.
    #[must_use]
    pub fn following(mut self, follower: Arc<RootFollower>) -> Self {
        self.follower = Some(follower);
        self
    }
}

/// The proxy's routes.
pub fn router(provider: Arc<Provider>) -> Router {
    Router::new()
        .route("/zkapi", get(describe))
        .fallback(pay_and_forward)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(provider)
}

async fn describe(State(provider): State<Arc<Provider>>) -> Response {
    axum::Json(provider.info.clone()).into_response()
}

fn error(status: StatusCode, kind: &str, code: &str, message: impl Into<String>) -> Response {
    let body = json!({"error": {"message": message.into(), "type": kind, "code": code}});
    (status, axum::Json(body)).into_response()
}

/// A 402: the request is not paid for, and why.
fn unpaid(code: &str, message: impl Into<String>) -> Response {
    error(StatusCode::PAYMENT_REQUIRED, "payment_required", code, message)
}

fn refusal(e: ZkError) -> Response {
    match e {
        ZkError::Malformed(why) => error(
            StatusCode::BAD_REQUEST,
            "invalid_ticket",
            "malformed",
            format!("{why}; send the ticket exactly as the client made it"),
        ),
        ZkError::WrongRequest => unpaid(
            "wrong_request",
            "the ticket pays for a different request (its method, path and body are bound to it): \
             make a ticket for this exact request",
        ),
        ZkError::InvalidProof => unpaid(
            "invalid_proof",
            "the ticket's proof does not verify for this provider (damaged, altered, or made for another \
             provider): pay again with a fresh ticket from an honest client",
        ),
        ZkError::UnknownRoot => unpaid(
            "unknown_root",
            "the ticket proves membership of a deposit tree this provider does not know, even after reading \
             the chain again (a deposit not yet mined, or a tree from before a withdrawal or slash): read the \
             deposit tree again, make a new ticket, and retry once",
        ),
        ZkError::LimitReached { limit } => {
            unpaid("limit_reached", format!("all {limit} tickets of this deposit are used; deposit again"))
        }
        ZkError::Chain(_) | ZkError::ChainTimeout(_) | ZkError::ChainUnreadable(_) => {
            tracing::warn!(error = %e, "cannot read the chain to check a ticket's root");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "chain_unavailable",
                "the provider cannot read its deposit contract just now to check the ticket's root; the ticket \
                 was not spent: retry later",
            )
        }
        other => {
            tracing::error!(error = %other, "checking a ticket failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "server_error", "the ticket could not be checked")
        }
    }
}

async fn pay_and_forward(
    State(provider): State<Arc<Provider>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = tokio::time::Instant::now();
    let Some(value) = headers.get(TICKET_HEADER) else {
        return unpaid(
            "missing_ticket",
            format!("this provider is paid with ZK-API tickets: send one in `{TICKET_HEADER}` (see GET /zkapi)"),
        );
    };
    let ticket = match value.to_str().map_err(|_| ZkError::Malformed(format!("{TICKET_HEADER} is not ASCII"))) {
        Ok(text) => match Ticket::decode(text) {
            Ok(ticket) => ticket,
            Err(e) => return refusal(e),
        },
        Err(e) => return refusal(e),
    };
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let x = signal(method.as_str(), &path_and_query, &body);

    // Verification is pairing arithmetic on the verification threads, and the store may wait on
    // disk or network: neither runs on the async workers.
    let ticket = match provider.batcher.check(ticket, x).await {
        Ok((ticket, Ok(()))) => ticket,
        // A valid proof for a tree the window lacks: perhaps a deposit newer than the last look.
        Ok((ticket, Err(ZkError::UnknownRoot))) => {
            let Some(follower) = &provider.follower else { return refusal(ZkError::UnknownRoot) };
            if let Err(e) = follower.catch_up(arrived).await {
                return refusal(e);
            }
            if !provider.roots.contains(&ticket.root) {
                return refusal(ZkError::UnknownRoot);
            }
            ticket
        }
        Ok((_, Err(e))) | Err(e) => return refusal(e),
    };
    let checked = {
        let store = provider.store.clone();
        tokio::task::spawn_blocking(move || store.spend(&ticket)).await
    };
    match checked {
        Ok(Ok(Spend::New)) => {}
        Ok(Ok(Spend::Replay)) => {
            return error(
                StatusCode::CONFLICT,
                "ticket_spent",
                "spent",
                "this ticket was already spent on this request; a paid request is answered once: pay again with a new ticket",
            );
        }
        Ok(Ok(Spend::DoubleSpend { secret, commitment })) => {
            tracing::warn!(commitment = %crate::field::to_hex(&commitment), "double spend: the depositor's secret is recovered");
            let store = provider.store.clone();
            let recorded = tokio::task::spawn_blocking(move || store.record_double_spend(&commitment, &secret)).await;
            if !matches!(recorded, Ok(Ok(()))) {
                tracing::error!("could not record a double spend: {recorded:?}");
            }
            if let Some(slasher) = &provider.slasher {
                let _ = slasher.send((commitment, secret));
            }
            return error(
                StatusCode::CONFLICT,
                "double_spend",
                "double_spend",
                "this ticket index was already spent on another request; the deposit behind it will be slashed",
            );
        }
        Ok(Err(e)) => return refusal(e),
        Err(e) => {
            tracing::error!(error = %e, "the ticket's spend did not finish");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "server_error",
                "the ticket could not be spent",
            );
        }
    }
    forward(&provider, method, &path_and_query, &headers, body).await
}

/// Headers that describe one hop, or the paying client, and never go upstream.
fn passes(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        TICKET_HEADER
            | "host"
            | "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "content-length"
            | "forwarded"
            | "x-forwarded-for"
            | "x-real-ip"
            | "cookie"
    )
}

async fn forward(
    provider: &Provider,
    method: Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let url = format!("{}{path_and_query}", provider.upstream);
    let mut request = provider.client.request(method, &url).body(body);
    for (name, value) in headers.iter().filter(|(name, _)| passes(name)) {
        request = request.header(name, value);
    }
    let upstream = match request.send().await {
        Ok(response) => response,
        Err(e) => {
            return error(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                "upstream_error",
                format!("the upstream did not answer: {e}"),
            );
        }
    };
    let mut response = Response::builder().status(upstream.status());
    for (name, value) in upstream.headers().iter().filter(|(name, _)| passes(name) && *name != header::SET_COOKIE) {
        response = response.header(name, value);
    }
    response.body(Body::from_stream(upstream.bytes_stream())).unwrap_or_else(|e| {
        error(StatusCode::BAD_GATEWAY, "upstream_error", "upstream_error", format!("bad upstream answer: {e}"))
    })
}
