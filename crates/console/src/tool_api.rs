//! The Tool API's gate endpoints, which sandboxed agents are granted:
//!
//! - `POST /v1/actions` asks for an action (JSON: `kind`, `summary`, `params`, `recipients`,
//!   `value_usd`, `calldata_bytes`, `provenance`) and answers its state: `approved` (allowed;
//!   it runs shortly), `reviewing` (pending: `confirm_url` is where the human decides) or `denied`.
//! - `GET /v1/actions/{id}[?wait=SECS]` reads its state, waiting up to SECS (at most 60) while it
//!   is pending or about to run; `outcome` holds the result once it ran.
//!
//! The session is the `X-Sov-Session` token sbox put in the sandbox's environment as
//! `SOV_SESSION`; without one a request belongs to the anonymous session, which counts as having
//! read private data. An agent sees only its own session's actions. Nothing here approves.
//!
//! Every route of the Tool API, these, the messaging ones and the fallback, is behind the one
//! guard layer [`sov_msg::api::guard`]: loopback `Host` only, no request from a web browser
//! (`Origin`, `Sec-Fetch-Site` other than `none`, a browser's `User-Agent`), and
//! `Cache-Control: no-store` and `X-Content-Type-Options: nosniff` on every answer. A POST to
//! `/v1/actions` must say `Content-Type: application/json` (415 otherwise).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use sov_gate::queue::State as ActionState;
use sov_gate::{ActionRecord, ActionRequest, Gate, GateError, Kind, Provenance, Session};
use sov_msg::api::error_response as error;

use crate::blocking;

pub use sov_gate::SESSION_HEADER;
/// Longest `wait` a status request may ask for, seconds.
pub const MAX_WAIT_SECS: u64 = 60;

/// What the Tool API's gate endpoints need.
#[derive(Clone)]
pub struct ToolApi {
    gate: Arc<Gate>,
    console_url: Arc<str>,
}

impl ToolApi {
    /// Endpoints on `gate`; confirm URLs point at `console_url` (e.g. `http://127.0.0.1:7000`).
    pub fn new(gate: Arc<Gate>, console_url: &str) -> ToolApi {
        ToolApi { gate, console_url: console_url.trim_end_matches('/').into() }
    }

    /// The routes, plus `services` (e.g. the messaging endpoints), all behind the Tool API's
    /// guard layer.
    pub fn router(self, services: Router) -> Router {
        Router::new()
            .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
            .route("/v1/actions", post(submit))
            .route("/v1/actions/{id}", get(status))
            .with_state(self)
            .merge(services)
            .layer(middleware::from_fn(sov_msg::api::guard))
    }

    /// What an agent may see of an action.
    fn view(&self, r: &ActionRecord) -> Value {
        let mut view = json!({
            "id": r.id,
            "kind": r.request.kind,
            "state": r.state,
            "decision": r.decision,
            "reasons": r.reasons,
        });
        if r.state.is_pending() {
            view["pending"] = json!(true);
            view["confirm_url"] = json!(format!("{}/actions/{}", self.console_url, r.id));
            view["message"] = json!("waiting for the AI reviewer and the human; nothing happens before both approve");
        }
        if let Some(review) = &r.review {
            view["review"] = json!({"verdict": review.verdict, "reason": review.reason});
        }
        if let Some(outcome) = &r.outcome {
            view["outcome"] = outcome.clone();
        }
        view
    }
}

fn gate_error(e: &GateError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        tracing::error!("tool API: {e}");
    }
    error(status, &e.to_string(), e.field())
}

fn session(gate: &Gate, headers: &HeaderMap) -> Result<Session, GateError> {
    gate.session(headers.get(SESSION_HEADER).and_then(|h| h.to_str().ok()))
}

/// An agent's request. Whether the recipients are the user's own is never taken from here.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentRequest {
    kind: Kind,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    params: serde_json::Map<String, Value>,
    #[serde(default)]
    recipients: Vec<String>,
    #[serde(default)]
    value_usd: Option<f64>,
    #[serde(default)]
    calldata_bytes: u64,
    #[serde(default)]
    provenance: Vec<Provenance>,
}

async fn submit(State(api): State<ToolApi>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    // JSON only: a `text/plain` body, which a web page may send without asking, is never parsed.
    if let Err((status, message)) = sov_msg::api::body_type(&headers, false) {
        return error(status, &message, None);
    }
    let request: AgentRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("the body is not a valid action request: {e}; see `sov help` for the Tool API"),
                None,
            );
        }
    };
    if request.kind == Kind::RemoteLlm {
        // Only the LLM API sanitises a question and restores the answer; a remote.llm action
        // submitted here would leave with whatever text the agent put in it.
        return error(
            StatusCode::BAD_REQUEST,
            "remote.llm actions come from the LLM API: ask it with `model: \"remote:NAME\"` (the agent's `remote` tool does), which sanitises the question first",
            Some("kind"),
        );
    }
    let gate = api.gate.clone();
    let result = blocking(move || {
        let session = session(&gate, &headers)?;
        let mut action = ActionRequest::new(request.kind);
        action.summary = request.summary;
        action.params = request.params;
        action.recipients = request.recipients;
        action.value_usd = request.value_usd;
        action.calldata_bytes = request.calldata_bytes;
        action.provenance = request.provenance;
        gate.submit(&session, action)
    })
    .await;
    match result {
        Ok(record) => Json(api.view(&record)).into_response(),
        Err(e) => gate_error(&e),
    }
}

#[derive(Deserialize)]
struct WaitQuery {
    wait: Option<u64>,
}

async fn status(
    State(api): State<ToolApi>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<WaitQuery>,
) -> Response {
    let gate = api.gate.clone();
    let wait = Duration::from_secs(q.wait.unwrap_or(0).min(MAX_WAIT_SECS));
    let result = blocking(move || {
        let session = session(&gate, &headers)?;
        let deadline = Instant::now() + wait;
        let mut seen = 0;
        loop {
            let record = gate.get(&id)?;
            if record.session != session.id {
                return Err(GateError::NotFound(id));
            }
            let settled = !matches!(
                record.state,
                ActionState::Reviewing | ActionState::AwaitingHuman | ActionState::Approved | ActionState::Executing
            );
            let now = Instant::now();
            if settled || now >= deadline {
                return Ok(record);
            }
            gate.wait_for_change(&mut seen, (deadline - now).min(Duration::from_secs(1)));
        }
    })
    .await;
    match result {
        Ok(record) => Json(api.view(&record)).into_response(),
        Err(e) => gate_error(&e),
    }
}
