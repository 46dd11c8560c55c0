//! The messaging endpoints of the Tool API, in the reference daemon's shapes (see DESIGN.md,
//! "Messaging API compatibility"): `GET /messages`, `GET /send`, `GET /accounts`, `GET /status`,
//! and `GET /send/status?id=`. `/messages` and `/send` also take a POST with a form or a JSON
//! body, which its `Content-Type` names ([`sov_toolapi::parse_body`]: a `text/plain` or untyped
//! body is never parsed).
//!
//! [`Messaging::routes`] are [`Routes`] for `sov_toolapi::ToolApi`, so they are only ever served
//! behind the Tool API's one guard ([`sov_toolapi::guard()`]: loopback `Host` only, no web
//! browser, no-store and nosniff on every answer), answer errors in its one shape
//! ([`ApiError`]) and know the session by its one extractor ([`AgentSession`]).
//!
//! What differs from the reference, on purpose: a send to anyone but the user's own accounts
//! becomes a `message.send` action in the gate; its `confirm_url` opens the human console, which
//! needs the console login to approve (the URL alone approves nothing); pending sends live in
//! the database and survive restarts; nothing changes state on a GET except what the reference
//! also does (reading, and sending to self); and every read marks the session as having read
//! messages. `/status` answers the reference's keys (`uptime_seconds`, `last_poll`,
//! `message_count`, `pending_confirmations`, `backends`) and Sovereign's beside them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{FromRef, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use sov_gate::{ActionRecord, ActionRequest, Gate, GateError, Kind, Label, Origin, Session, State as ActionState};
use sov_toolapi::{AgentSession, ApiError, ApiResult, Routes, blocking, parse_body, parse_query};

use crate::address::{check_header_field, parse_recipients};
use crate::store::{MessageQuery, StoredMessage};
use crate::{Backend, Messaging, MsgError};

/// How long `/send` waits for a message to one's own account to go out before answering.
pub const SELF_SEND_WAIT: Duration = Duration::from_secs(30);
/// Largest message body accepted, bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

impl Messaging {
    /// The endpoints, for the Tool API (`ToolApi::new(…).service(messaging.routes())`), which
    /// serves them behind its guard; they are never served alone.
    pub fn routes(&self) -> Routes {
        Routes::new(
            Router::new()
                .route("/messages", get(messages_get).post(messages_post))
                .route("/send", get(send_get).post(send_post))
                .route("/send/status", get(send_status))
                .route("/accounts", get(accounts))
                .route("/status", get(status))
                .with_state(self.clone()),
        )
    }
}

/// The session extractor ([`AgentSession`]) finds the gate here.
impl FromRef<Messaging> for Arc<Gate> {
    fn from_ref(messaging: &Messaging) -> Arc<Gate> {
        messaging.inner.gate.clone()
    }
}

/// A field's mistake is a 400 about that field, an unknown account one about `from`, the gate's
/// errors keep their statuses; anything else is a fault of ours (500, logged when answered).
impl From<MsgError> for ApiError {
    fn from(e: MsgError) -> ApiError {
        match e {
            MsgError::Invalid { ref field, .. } => ApiError::bad_request(e.to_string()).with_field(field.clone()),
            MsgError::NoAccount { .. } => ApiError::bad_request(e.to_string()).with_field("from"),
            MsgError::Gate(e) => e.into(),
            e => ApiError::internal(e.to_string()),
        }
    }
}

async fn messages_get(State(api): State<Messaging>, session: AgentSession, RawQuery(q): RawQuery) -> ApiResult {
    let query = parse_query(q.as_deref())?;
    messages(api, session, query).await
}

async fn messages_post(
    State(api): State<Messaging>,
    session: AgentSession,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let query = parse_body(&headers, &body)?;
    messages(api, session, query).await
}

async fn messages(api: Messaging, AgentSession(mut session): AgentSession, query: MessageQuery) -> ApiResult {
    blocking(move || {
        // Taint before anything is read: a session that saw messages stays marked.
        api.inner.gate.note_read(&mut session, Label::Messages)?;
        let messages = api.reader().query(&query)?;
        remember_served(&api, &session, &messages)?;
        Ok(Json(json!({"count": messages.len(), "messages": messages})))
    })
    .await
}

/// Tells the gate what `session` is being served (as salted hashes, by the gate's provenance):
/// every message is private; one from a stranger (never written to) is untrusted too, so that a
/// recipient it names is known to have come from them.
fn remember_served(api: &Messaging, session: &Session, messages: &[StoredMessage]) -> Result<(), ApiError> {
    let mut strangers = std::collections::BTreeMap::new();
    for stored in messages {
        let m = &stored.message;
        let when = jiff::Timestamp::from_millisecond(m.timestamp_ms)
            .map(|t| t.strftime("%Y-%m-%d").to_string())
            .unwrap_or_else(|_| "an unknown date".into());
        let what = format!("your {} message from {} of {when}", m.backend, m.sender);
        let text = format!("{}\n{}\n{}", m.subject, m.body, m.sender_name);
        let gate = &api.inner.gate;
        gate.note_served(&session.id, Origin::Private, &what, Some(&m.sender), &text)?;
        let own = m.sender == m.account;
        let stranger = match strangers.get(&m.sender) {
            Some(known) => *known,
            None => {
                let s = !own && !api.reader().wrote_to(&m.sender)?;
                strangers.insert(m.sender.clone(), s);
                s
            }
        };
        if stranger {
            let what = format!("a {} message from {}, whom you never wrote to,", m.backend, m.sender);
            gate.note_served(&session.id, Origin::Untrusted, &what, Some(&m.sender), &text)?;
        }
    }
    Ok(())
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

async fn send_get(
    State(api): State<Messaging>,
    AgentSession(session): AgentSession,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let request = parse_query(q.as_deref())?;
    blocking(move || send(&api, &session, request)).await
}

async fn send_post(
    State(api): State<Messaging>,
    AgentSession(session): AgentSession,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let request = parse_body(&headers, &body)?;
    blocking(move || send(&api, &session, request)).await
}

fn send(api: &Messaging, session: &Session, request: SendRequest) -> ApiResult {
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
    let record = api.inner.gate.submit(session, action)?;
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
                    return Err(ApiError::new(StatusCode::BAD_GATEWAY, format!("the message was not sent: {why}")));
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
            Err(ApiError::new(StatusCode::FORBIDDEN, format!("refused: {}", record.reasons.join("; "))))
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

async fn send_status(
    State(api): State<Messaging>,
    AgentSession(session): AgentSession,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let query: StatusQuery = parse_query(q.as_deref())?;
    blocking(move || {
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
        // A denial for a look-alike is shown without the contact it imitates.
        if let Some((verdict, reason)) = record.review_for_agent() {
            view["review"] = json!({"verdict": verdict, "reason": reason});
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

/// The reference daemon's keys (`uptime_seconds`, `last_poll` as RFC 3339 UTC or null,
/// `message_count`, `pending_confirmations`, `backends` with each backend's addresses), and
/// Sovereign's beside them: the same times in its units, each account's last poll, and the
/// accounts counted per backend.
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
        let uptime = api.inner.started.elapsed().as_secs();
        Ok(Json(json!({
            "uptime_seconds": uptime,
            "last_poll": last_poll.map(sov_core::audit::iso_utc),
            "message_count": count,
            "pending_confirmations": pending,
            "backends": accounts.addresses(),
            "uptime_secs": uptime,
            "last_poll_ms": last_poll,
            "polls": polls,
            "accounts": {"email": accounts.email.len(), "signal": accounts.signal.len()},
        })))
    })
    .await
}
