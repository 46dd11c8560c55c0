//! The Tool API's search endpoint, in SearXNG's JSON shape, so that a SearXNG skill an agent
//! already has works against Sovereign by pointing it at the Tool API inside `sbox`:
//!
//! `GET /search?q=WORDS&format=json[&wait=SECS]` sanitises the words, asks the gate for a
//! `web.search` with the sanitised query (what the console and the audit log show), waits up to
//! SECS (default and at most 60) for it to run, and answers
//! `{"query", "number_of_results", "results": [{"url", "title", "content", "engine"}],
//! "unresponsive_engines": [[engine, why]], "replaced": [...], "frame": ...}`. A clean session's
//! search is allowed at once by the default policy; a session that has read private data waits
//! for the human (answered 202 with the action while it waits). Denied: 403; failed: 502.
//!
//! `web.search` submitted by `POST /v1/actions` goes through the same sanitiser in the executor;
//! this endpoint sanitises before the action exists, so the human approves the query that leaves.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{FromRef, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use sov_gate::{ActionRequest, Gate, Kind, State as ActionState};
use sov_toolapi::{AgentSession, ApiError, Routes, blocking, parse_query};

use crate::Web;

/// Longest wait for a search to run, seconds.
pub const MAX_WAIT_SECS: u64 = 60;

#[derive(Clone)]
struct Api {
    gate: Arc<Gate>,
    web: Arc<Web>,
}

impl FromRef<Api> for Arc<Gate> {
    fn from_ref(api: &Api) -> Arc<Gate> {
        api.gate.clone()
    }
}

/// The routes, for `ToolApi::service`.
pub fn routes(gate: Arc<Gate>, web: Arc<Web>) -> Routes {
    Routes::new(Router::new().route("/search", get(search)).with_state(Api { gate, web }))
}

#[derive(serde::Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    format: Option<String>,
    wait: Option<u64>,
    // SearXNG's other parameters (pageno, language, categories, ...) are accepted and ignored.
}

async fn search(
    State(api): State<Api>,
    AgentSession(session): AgentSession,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query: SearchQuery = parse_query(raw.as_deref())?;
    if query.q.trim().is_empty() {
        return Err(ApiError::bad_request("`q` is missing: GET /search?q=WORDS&format=json").with_field("q"));
    }
    if let Some(format) = query.format.as_deref().filter(|f| *f != "json") {
        return Err(
            ApiError::bad_request(format!("format `{format}` is not served; use format=json")).with_field("format")
        );
    }
    let wait = Duration::from_secs(query.wait.unwrap_or(MAX_WAIT_SECS).min(MAX_WAIT_SECS));
    let (sanitised, replaced) = api
        .web
        .sanitise_query(&query.q)
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let gate = api.gate.clone();
    let record = blocking(move || {
        let mut action = ActionRequest::new(Kind::WebSearch);
        // The summary is a headline (the gate keeps it short); the whole query is in the params.
        let headline: String = sanitised.chars().take(120).collect();
        let cut = if headline.len() < sanitised.len() { "…" } else { "" };
        action.summary = format!("search the web for: {headline}{cut}");
        action.params.insert("query".into(), sanitised.into());
        action.params.insert("replaced".into(), json!(replaced));
        let submitted = gate.submit(&session, action)?;
        let deadline = Instant::now() + wait;
        match gate.wait_until_settled(&submitted.id, &|| Instant::now() >= deadline)? {
            Some(settled) => Ok(settled),
            None => Ok(gate.get(&submitted.id)?),
        }
    })
    .await?;
    let outcome = record.outcome.clone().unwrap_or(Value::Null);
    Ok(match record.state {
        ActionState::Executed => Json(searxng_shape(&outcome)).into_response(),
        ActionState::Denied => {
            ApiError::new(StatusCode::FORBIDDEN, format!("the search was denied: {}", record.reasons.join("; ")))
                .into_response()
        }
        ActionState::Failed => ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("the search failed: {}", outcome["error"].as_str().unwrap_or("unknown error")),
        )
        .into_response(),
        state => (
            StatusCode::ACCEPTED,
            Json(json!({
                "id": record.id,
                "state": state,
                "reasons": record.reasons,
                "pending": true,
                "message": format!(
                    "waiting for the AI reviewer and the human (this session has read private data); \
                     GET /v1/actions/{}?wait=60 returns the results once approved",
                    record.id
                ),
            })),
        )
            .into_response(),
    })
}

/// The executor's outcome in SearXNG's JSON shape (plus Sovereign's `frame`, `flags` and
/// `replaced`, which a SearXNG client ignores).
fn searxng_shape(outcome: &Value) -> Value {
    let results: Vec<Value> = outcome["results"]
        .as_array()
        .map(|hits| {
            hits.iter()
                .map(|h| json!({"url": h["url"], "title": h["title"], "content": h["snippet"], "engine": h["engine"]}))
                .collect()
        })
        .unwrap_or_default();
    let unresponsive: Vec<Value> = outcome["engines"]
        .as_array()
        .map(|engines| {
            engines.iter().filter(|e| e["error"].is_string()).map(|e| json!([e["engine"], e["error"]])).collect()
        })
        .unwrap_or_default();
    json!({
        "query": outcome["query"],
        "number_of_results": results.len(),
        "results": results,
        "answers": [],
        "corrections": [],
        "infoboxes": [],
        "suggestions": [],
        "unresponsive_engines": unresponsive,
        "replaced": outcome["replaced"],
        "flags": outcome["flags"],
        "frame": crate::frame::NOTICE,
        // The results as the model should read them: quoted in the frame.
        "text": outcome["text"],
    })
}
