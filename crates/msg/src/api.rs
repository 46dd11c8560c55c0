//! The messaging endpoints of the Tool API, in the reference daemon's shapes (see DESIGN.md,
//! "Messaging API compatibility"): `GET /messages`, `GET /send`, `GET /accounts`, `GET /status`,
//! and `GET /send/status?id=`. `/messages` and `/send` also take a POST with a form or a JSON
//! body.
//!
//! What differs from the reference, on purpose: a send to anyone but the user's own accounts
//! becomes a `message.send` action in the gate; its `confirm_url` opens the human console, which
//! needs the console login to approve (the URL alone approves nothing); pending sends live in
//! the database and survive restarts; nothing changes state on a GET except what the reference
//! also does (reading, and sending to self); and every read marks the session as having read
//! messages.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sov_gate::queue::State as ActionState;
use sov_gate::{ActionRecord, ActionRequest, GateError, Kind, Label, SESSION_HEADER, Session};

use crate::address::{check_header_field, parse_recipients};
use crate::store::MessageQuery;
use crate::{Backend, Messaging, MsgError};

/// How long `/send` waits for a message to one's own account to go out before answering.
pub const SELF_SEND_WAIT: Duration = Duration::from_secs(30);
/// Largest message body accepted, bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

impl Messaging {
    /// The endpoints. Mount them behind the Tool API's loopback `Host` check.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/messages", get(messages_get).post(messages_post))
            .route("/send", get(send_get).post(send_post))
            .route("/send/status", get(send_status))
            .route("/accounts", get(accounts))
            .route("/status", get(status))
            .with_state(self.clone())
    }
}

/// An error answer: `{"error": {"message", "field"}}`.
struct ApiError(StatusCode, String, Option<String>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": {"message": self.1, "field": self.2}}))).into_response()
    }
}

impl From<MsgError> for ApiError {
    fn from(e: MsgError) -> ApiError {
        match e {
            MsgError::Invalid { ref field, .. } => {
                ApiError(StatusCode::BAD_REQUEST, e.to_string(), Some(field.clone()))
            }
            MsgError::NoAccount { .. } => ApiError(StatusCode::BAD_REQUEST, e.to_string(), Some("from".into())),
            MsgError::Gate(e) => e.into(),
            e => {
                tracing::error!("messaging API: {e}");
                ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None)
            }
        }
    }
}

impl From<GateError> for ApiError {
    fn from(e: GateError) -> ApiError {
        let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!("messaging API: {e}");
        }
        let field = match &e {
            GateError::NotFound(_) => Some("id"),
            e => e.field(),
        };
        ApiError(status, e.to_string(), field.map(str::to_owned))
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

/// Runs `work` on the blocking pool: SQLite and the gate block.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("internal error: {e}"), None)))
}

fn from_query<T: DeserializeOwned>(query: Option<&str>) -> Result<T, ApiError> {
    serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("query parameters: {e}"), None))
}

fn from_body<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if content_type.starts_with("application/json") {
        serde_json::from_slice(body).map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("JSON body: {e}"), None))
    } else if content_type.starts_with("application/x-www-form-urlencoded") || content_type.is_empty() {
        serde_urlencoded::from_bytes(body)
            .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("form body: {e}"), None))
    } else {
        Err(ApiError(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("content type {content_type:?}: send application/json or application/x-www-form-urlencoded"),
            None,
        ))
    }
}

fn session(api: &Messaging, headers: &HeaderMap) -> Result<Session, ApiError> {
    Ok(api.inner.gate.session(headers.get(SESSION_HEADER).and_then(|h| h.to_str().ok()))?)
}

async fn messages_get(State(api): State<Messaging>, headers: HeaderMap, RawQuery(q): RawQuery) -> ApiResult {
    let query = from_query(q.as_deref())?;
    messages(api, headers, query).await
}

async fn messages_post(State(api): State<Messaging>, headers: HeaderMap, body: Bytes) -> ApiResult {
    let query = from_body(&headers, &body)?;
    messages(api, headers, query).await
}

async fn messages(api: Messaging, headers: HeaderMap, query: MessageQuery) -> ApiResult {
    blocking(move || {
        let mut session = session(&api, &headers)?;
        // Taint before anything is read: a session that saw messages stays marked.
        api.inner.gate.note_read(&mut session, Label::Messages)?;
        let messages = api.reader().query(&query)?;
        Ok(Json(json!({"count": messages.len(), "messages": messages})))
    })
    .await
}

/// `to` as one string (commas allowed) or a JSON list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// A send request. Unknown fields (`cc`, `bcc`, `headers`…) are refused, not ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendRequest {
    backend: Option<Backend>,
    from: Option<String>,
    to: Option<OneOrMany>,
    subject: Option<String>,
    #[serde(alias = "message")]
    body: Option<String>,
}

async fn send_get(State(api): State<Messaging>, headers: HeaderMap, RawQuery(q): RawQuery) -> ApiResult {
    let request = from_query(q.as_deref())?;
    blocking(move || send(&api, &headers, request)).await
}

async fn send_post(State(api): State<Messaging>, headers: HeaderMap, body: Bytes) -> ApiResult {
    let request = from_body(&headers, &body)?;
    blocking(move || send(&api, &headers, request)).await
}

fn send(api: &Messaging, headers: &HeaderMap, request: SendRequest) -> ApiResult {
    let session = session(api, headers)?;
    let accounts = api.accounts()?;
    let backend = request.backend.unwrap_or(if request.subject.is_some() || accounts.signal.is_empty() {
        Backend::Email
    } else {
        Backend::Signal
    });
    let subject = request.subject.unwrap_or_default();
    check_header_field("subject", &subject)?;
    let body = request.body.unwrap_or_default();
    if body.contains('\0') || body.len() > MAX_BODY_BYTES {
        return Err(
            MsgError::invalid("body", format!("must be text without NUL, at most {MAX_BODY_BYTES} bytes")).into()
        );
    }
    if body.trim().is_empty() && subject.trim().is_empty() {
        return Err(MsgError::invalid("body", "is empty; say what to send").into());
    }
    let from = match (backend, request.from.as_deref().map(str::trim).filter(|f| !f.is_empty())) {
        (_, Some(from)) => {
            check_header_field("from", from)?;
            from.to_owned()
        }
        (Backend::Email, None) => accounts.email.first().map(|a| a.address.clone()).unwrap_or_default(),
        (Backend::Signal, None) => accounts.signal.first().map(|a| a.number.clone()).unwrap_or_default(),
    };
    let from = match backend {
        Backend::Email => accounts.email(&from).map(|a| a.address.clone()),
        Backend::Signal => accounts.signal(&from).map(|a| a.number.clone()),
    }
    .ok_or(MsgError::NoAccount { backend, address: from })?;
    let to = match request.to {
        Some(OneOrMany::One(to)) => vec![to],
        Some(OneOrMany::Many(to)) => to,
        None => Vec::new(),
    };
    let recipients = parse_recipients(backend, "to", &to)?;
    let to_self = accounts.own().all_own(&recipients);
    let to: Vec<String> = recipients.iter().map(|r| r.as_sent()).collect();

    let mut action = ActionRequest::new(Kind::MessageSend);
    let gist = if subject.is_empty() { body.as_str() } else { subject.as_str() };
    let gist: String = gist.chars().map(|c| if c.is_control() { ' ' } else { c }).take(120).collect();
    action.summary = format!("{backend} from {from}: {gist}");
    action.params = json!({"backend": backend, "from": from, "to": to, "subject": subject, "body": body})
        .as_object()
        .cloned()
        .unwrap_or_default();
    action.recipients = to.clone();
    action.to_self = to_self;
    action.chat = match recipients.as_slice() {
        [one] => Some(one.chat()),
        _ => None,
    };
    let record = api.inner.gate.submit(&session, action)?;
    let mut answer = json!({"id": record.id, "backend": backend, "from": from, "to": to.join(", ")});
    match record.state {
        ActionState::Approved => {
            let record = wait_settled(api, &record.id, SELF_SEND_WAIT)?;
            match record.state {
                ActionState::Executed => answer["ok"] = json!(true),
                ActionState::Failed => {
                    let why = record
                        .outcome
                        .as_ref()
                        .and_then(|o| o.get("error"))
                        .and_then(Value::as_str)
                        .unwrap_or("failed");
                    return Err(ApiError(StatusCode::BAD_GATEWAY, format!("the message was not sent: {why}"), None));
                }
                _ => {
                    answer["ok"] = json!(true);
                    answer["queued"] = json!(true);
                    answer["message"] = json!("allowed and queued; GET /send/status?id=ID shows when it left");
                }
            }
            Ok(Json(answer))
        }
        ActionState::Denied => {
            Err(ApiError(StatusCode::FORBIDDEN, format!("refused: {}", record.reasons.join("; ")), None))
        }
        _ => {
            let display_name = match recipients.as_slice() {
                [one] => api.reader().display_name(backend, &one.as_sent())?.unwrap_or_default(),
                _ => String::new(),
            };
            answer["pending"] = json!(true);
            answer["confirm_url"] = json!(confirm_url(api, &record));
            answer["display_name"] = json!(display_name);
            answer["message"] = json!(
                "not sent: waiting for the AI reviewer and the human; it is sent once both approve. GET /send/status?id=ID shows its state"
            );
            Ok(Json(answer))
        }
    }
}

fn confirm_url(api: &Messaging, record: &ActionRecord) -> String {
    format!("{}/actions/{}", api.inner.console_url, record.id)
}

fn wait_settled(api: &Messaging, id: &str, wait: Duration) -> Result<ActionRecord, ApiError> {
    let deadline = Instant::now() + wait;
    let mut seen = 0;
    loop {
        let record = api.inner.gate.get(id)?;
        let now = Instant::now();
        if !matches!(record.state, ActionState::Approved | ActionState::Executing) || now >= deadline {
            return Ok(record);
        }
        api.inner.gate.wait_for_change(&mut seen, (deadline - now).min(Duration::from_secs(1)));
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusQuery {
    id: String,
}

async fn send_status(State(api): State<Messaging>, headers: HeaderMap, RawQuery(q): RawQuery) -> ApiResult {
    let query: StatusQuery = from_query(q.as_deref())?;
    blocking(move || {
        let session = session(&api, &headers)?;
        let record = api.inner.gate.get(&query.id)?;
        if record.session != session.id || record.request.kind != Kind::MessageSend {
            return Err(GateError::NotFound(query.id).into());
        }
        let p = &record.request.params;
        let mut view = json!({
            "id": record.id,
            "state": record.state,
            "pending": record.state.is_pending(),
            "sent": record.state == ActionState::Executed,
            "backend": p.get("backend"),
            "from": p.get("from"),
            "to": record.request.recipients.join(", "),
            "reasons": record.reasons,
        });
        if record.state.is_pending() {
            view["confirm_url"] = json!(confirm_url(&api, &record));
        }
        if let Some(review) = &record.review {
            view["review"] = json!({"verdict": review.verdict, "reason": review.reason});
        }
        if let Some(outcome) = &record.outcome {
            view["outcome"] = outcome.clone();
        }
        Ok(Json(view))
    })
    .await
}

async fn accounts(State(api): State<Messaging>) -> ApiResult {
    blocking(move || Ok(Json(api.accounts()?.addresses()))).await
}

async fn status(State(api): State<Messaging>) -> ApiResult {
    blocking(move || {
        let accounts = api.accounts()?;
        let count = api.reader().count()?;
        let pending = api
            .inner
            .gate
            .list(&[ActionState::Reviewing, ActionState::AwaitingHuman], usize::MAX)?
            .iter()
            .filter(|r| r.request.kind == Kind::MessageSend)
            .count();
        let polls = api.inner.polls.lock().map(|p| p.clone()).unwrap_or_default();
        let last_poll = polls.values().map(|p| p.last_poll_ms).max();
        Ok(Json(json!({
            "uptime_secs": api.inner.started.elapsed().as_secs(),
            "last_poll_ms": last_poll,
            "polls": polls,
            "message_count": count,
            "pending_confirmations": pending,
            "accounts": {"email": accounts.email.len(), "signal": accounts.signal.len()},
        })))
    })
    .await
}
