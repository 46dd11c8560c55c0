//! The gate's own endpoints on the Tool API:
//!
//! - `POST /v1/actions` asks for an action (JSON: `kind`, `summary`, `params`, `recipients`,
//!   `value_usd`, `calldata_bytes`, `provenance`) and answers its state: `approved` (allowed;
//!   it runs shortly), `reviewing` (pending: `confirm_url` is where the human decides) or `denied`.
//!   The body must say `Content-Type: application/json` (415 otherwise).
//! - `GET /v1/actions/{id}[?wait=SECS]` reads its state, waiting up to SECS (at most
//!   [`MAX_WAIT_SECS`]) while it is pending or about to run; `outcome` holds the result once it
//!   ran.
//!
//! An agent sees only its own session's actions ([`AgentSession`]); whether recipients are the
//! user's own is never taken from the request. Nothing here approves.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{FromRef, Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use sov_gate::{ActionRecord, ActionRequest, Gate, GateError, Kind, Provenance, State as ActionState};

use crate::blocking::blocking;
use crate::body::{body_type, parse_query};
use crate::error::{ApiError, ApiResult};
use crate::session::AgentSession;

/// Longest `wait` a status request may ask for, seconds.
pub const MAX_WAIT_SECS: u64 = 60;

/// What the gate's endpoints need.
#[derive(Clone)]
struct Actions {
    gate: Arc<Gate>,
    console_url: Arc<str>,
}

impl FromRef<Actions> for Arc<Gate> {
    fn from_ref(actions: &Actions) -> Arc<Gate> {
        actions.gate.clone()
    }
}

/// The routes on `gate`; confirm URLs point at `console_url` (no trailing `/`).
pub(crate) fn routes(gate: Arc<Gate>, console_url: Arc<str>) -> Router {
    Router::new()
        .route("/v1/actions", post(submit))
        .route("/v1/actions/{id}", get(status))
        .with_state(Actions { gate, console_url })
}

impl Actions {
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
        // A denial for a look-alike is shown without the contact it imitates.
        if let Some((verdict, reason)) = r.review_for_agent() {
            view["review"] = json!({"verdict": verdict, "reason": reason});
        }
        if let Some(outcome) = &r.outcome {
            view["outcome"] = outcome.clone();
        }
        view
    }
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

async fn submit(
    State(api): State<Actions>,
    AgentSession(session): AgentSession,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    // JSON only: a `text/plain` body, which a web page may send without asking, is never parsed.
    body_type(&headers, false)?;
    let request: AgentRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!("the body is not a valid action request: {e}; see `sov help` for the Tool API"))
    })?;
    if request.kind == Kind::RemoteLlm {
        // Only the LLM API sanitises a question and restores the answer; a remote.llm action
        // submitted here would leave with whatever text the agent put in it.
        return Err(ApiError::bad_request(
            "remote.llm actions come from the LLM API: ask it with `model: \"remote:NAME\"` (the agent's `remote` tool does), which sanitises the question first",
        )
        .with_field("kind"));
    }
    if matches!(request.kind, Kind::WalletTransfer | Kind::WalletCall) {
        // The gate's caps count `value_usd`; from an agent that is a number it made up (a
        // transfer of 1000 ETH declared as 0 USD would pass at once). Only the wallet, which
        // prices, decodes and simulates the transaction itself, may ask for one.
        return Err(ApiError::bad_request(format!(
            "{} actions come from Sovereign's wallet, which prices, decodes and simulates the transaction itself; an agent cannot submit one (its value_usd would be its own word)",
            request.kind.as_str()
        ))
        .with_field("kind"));
    }
    if request.kind == Kind::WebSearch {
        // The search endpoint sanitises the words before the action exists, so the human
        // approves the query that leaves, not the one the agent wrote.
        return Err(ApiError::bad_request(
            "web.search actions come from the search endpoint: GET /search?q=WORDS&format=json (the agent's `web_search` tool uses it), which sanitises the words first",
        )
        .with_field("kind"));
    }
    let gate = api.gate.clone();
    let record = blocking(move || {
        let mut action = ActionRequest::new(request.kind);
        action.summary = request.summary;
        action.params = request.params;
        action.recipients = request.recipients;
        action.value_usd = request.value_usd;
        action.calldata_bytes = request.calldata_bytes;
        action.provenance = request.provenance;
        Ok(gate.submit(&session, action)?)
    })
    .await?;
    Ok(Json(api.view(&record)))
}

#[derive(Deserialize)]
struct WaitQuery {
    wait: Option<u64>,
}

async fn status(
    State(api): State<Actions>,
    AgentSession(session): AgentSession,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let query: WaitQuery = parse_query(query.as_deref())?;
    let wait = Duration::from_secs(query.wait.unwrap_or(0).min(MAX_WAIT_SECS));
    let gate = api.gate.clone();
    let record = blocking(move || {
        let deadline = Instant::now() + wait;
        let mut seen = 0;
        loop {
            let record = gate.get(&id)?;
            if record.session != session.id {
                return Err(GateError::NotFound(id).into());
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
    .await?;
    Ok(Json(api.view(&record)))
}
