//! The provider's proxy: takes a ticket off each request, checks and spends it, and forwards the
//! plain request to an OpenAI-compatible (or any HTTP) upstream.
//!
//! Answers, as OpenAI-style JSON errors: 402 without a ticket or with one that does not verify
//! (bad proof, another request's, an unknown root), 400 for a malformed ticket, 409 for a ticket
//! already spent (a replay is refused, never answered again: the proxy keeps no answers) and for
//! a double spend (whose recovered secret goes to the slasher), 502 when the upstream fails
//! (the ticket stays spent: phase 1 has no refunds). `GET /zkapi` (free) describes the provider.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rln::prelude::Fr;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::store::{NullifierStore, Spend};
use crate::ticket::{TICKET_HEADER, Ticket, signal};
use crate::{Verifier, ZkError};

/// Largest request body the proxy reads.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// The contract's recent roots a ticket may prove membership of.
pub struct Roots {
    window: RwLock<VecDeque<Fr>>,
    size: usize,
}

impl Roots {
    /// An empty window holding at most `size` roots (the contract keeps as many).
    pub fn new(size: usize) -> Self {
        Self { window: RwLock::new(VecDeque::with_capacity(size)), size }
    }

    /// Adds the newest root, forgetting the oldest beyond the window.
    pub fn push(&self, root: Fr) {
        if let Ok(mut window) = self.window.write()
            && window.back() != Some(&root)
        {
            window.push_back(root);
            while window.len() > self.size {
                window.pop_front();
            }
        }
    }

    /// Forgets every root but `root`, after a member left the tree. Proofs against the earlier
    /// roots would still verify for the departed member, whose secret is now public, so from
    /// now on only proofs against the tree without it count. A client whose proof was made
    /// against a forgotten root gets 402 and pays again with a proof against the new tree.
    pub fn reset(&self, root: Fr) {
        if let Ok(mut window) = self.window.write() {
            window.clear();
            window.push_back(root);
        }
    }

    /// The roots, oldest first.
    pub fn snapshot(&self) -> Vec<Fr> {
        self.window.read().map(|w| w.iter().copied().collect()).unwrap_or_default()
    }
}

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

    async fn check(&self, ticket: Ticket, x: Fr) -> Result<Ticket, ZkError> {
        let (verdict, answer) = tokio::sync::oneshot::channel();
        self.queue
            .send(Job { ticket, x, verdict })
            .map_err(|_| ZkError::Store("the verification threads are gone".into()))?;
        let (ticket, verdict) = answer.await.map_err(|_| ZkError::Store("a verification thread died".into()))?;
        verdict.map(|()| ticket)
    }
}

/// The proxy's parts.
pub struct Provider {
    batcher: Batcher,
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
            batcher: Batcher::start(Verifier::new(external_nullifier), roots),
            store,
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            slasher,
            info,
        }
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

fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    let body = json!({"error": {"message": message.into(), "type": kind, "code": status.as_u16()}});
    (status, axum::Json(body)).into_response()
}

fn refusal(e: ZkError) -> Response {
    match e {
        ZkError::Malformed(_) => error(StatusCode::BAD_REQUEST, "invalid_ticket", e.to_string()),
        ZkError::InvalidProof | ZkError::UnknownRoot | ZkError::WrongRequest => {
            error(StatusCode::PAYMENT_REQUIRED, "invalid_ticket", e.to_string())
        }
        other => error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", other.to_string()),
    }
}

async fn pay_and_forward(
    State(provider): State<Arc<Provider>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(value) = headers.get(TICKET_HEADER) else {
        return error(
            StatusCode::PAYMENT_REQUIRED,
            "payment_required",
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
        Ok(ticket) => ticket,
        Err(e) => return refusal(e),
    };
    let checked = {
        let store = provider.store.clone();
        tokio::task::spawn_blocking(move || store.spend(&ticket)).await
    };
    match checked {
        Ok(Ok(Spend::New)) => {}
        Ok(Ok(Spend::Replay)) => {
            return error(StatusCode::CONFLICT, "ticket_spent", "this ticket was already spent on this request");
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
                "this ticket index was already spent on another request; the deposit behind it will be slashed",
            );
        }
        Ok(Err(e)) => return refusal(e),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", format!("ticket check failed: {e}")),
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
            return error(StatusCode::BAD_GATEWAY, "upstream_error", format!("the upstream did not answer: {e}"));
        }
    };
    let mut response = Response::builder().status(upstream.status());
    for (name, value) in upstream.headers().iter().filter(|(name, _)| passes(name) && *name != header::SET_COOKIE) {
        response = response.header(name, value);
    }
    response
        .body(Body::from_stream(upstream.bytes_stream()))
        .unwrap_or_else(|e| error(StatusCode::BAD_GATEWAY, "upstream_error", format!("bad upstream answer: {e}")))
}
