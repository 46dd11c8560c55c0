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

    /// The roots, oldest first.
    pub fn snapshot(&self) -> Vec<Fr> {
        self.window.read().map(|w| w.iter().copied().collect()).unwrap_or_default()
    }
}

/// A found double spend: `(commitment, secret)`, for whoever slashes on chain.
pub type DoubleSpend = (Fr, Fr);

/// The proxy's parts.
pub struct Provider {
    verifier: Verifier,
    store: Arc<dyn NullifierStore>,
    roots: Arc<Roots>,
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
            verifier: Verifier::new(external_nullifier),
            store,
            roots,
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

    // Verification is a few milliseconds of pairing arithmetic and the store may wait on disk:
    // neither runs on the async workers.
    let checked = {
        let provider = provider.clone();
        tokio::task::spawn_blocking(move || -> Result<Spend, ZkError> {
            provider.verifier.check(&ticket, x, &provider.roots.snapshot())?;
            provider.store.spend(&ticket)
        })
        .await
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
