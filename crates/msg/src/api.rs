//! The messaging endpoints of the Tool API, in the reference daemon's shapes (see DESIGN.md,
//! "Messaging API compatibility"): `GET /messages`, `GET /send`, `GET /accounts`, `GET /status`,
//! and `GET /send/status?id=`. `/messages` and `/send` also take a POST with a form or a JSON
//! body, which its `Content-Type` names.
//!
//! [`guard`] is the one layer in front of every route of the Tool API (these and the gate's
//! `/v1/actions`, which `sov-console` mounts behind the same layer), run before any handler:
//! 1. one `Host`, naming loopback, and no absolute-form target naming another host (400/421):
//!    a DNS-rebinding page reaches 127.0.0.1 but names its own host;
//! 2. no browser (403): the Tool API serves agents and has no browser clients, so a request with
//!    an `Origin` header (any value, `null` too), a `Sec-Fetch-Site` other than `none` or a
//!    browser's `User-Agent` (`Mozilla/…`, which browsers without Fetch Metadata still send on a
//!    cross-site `<img>` or link) is refused, whatever it asks;
//! 3. every answer, refusals included, carries `Cache-Control: no-store` and
//!    `X-Content-Type-Options: nosniff`.
//!
//! And a body says what it is ([`body_type`], 415 otherwise): `application/json`, or the form
//! type on the routes that take forms; a `text/plain` body, which a web page may send without
//! asking, is never parsed.
//!
//! What differs from the reference, on purpose: a send to anyone but the user's own accounts
//! becomes a `message.send` action in the gate; its `confirm_url` opens the human console, which
//! needs the console login to approve (the URL alone approves nothing); pending sends live in
//! the database and survive restarts; nothing changes state on a GET except what the reference
//! also does (reading, and sending to self); and every read marks the session as having read
//! messages.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
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
    /// The endpoints, behind [`guard`] (so they are safe served alone; the Tool API puts the
    /// same layer in front of them again, which changes nothing).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/messages", get(messages_get).post(messages_post))
            .route("/send", get(send_get).post(send_post))
            .route("/send/status", get(send_status))
            .route("/accounts", get(accounts))
            .route("/status", get(status))
            .with_state(self.clone())
            .layer(middleware::from_fn(guard))
    }
}

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

/// The Tool API's guard layer (see the module's documentation): refuses what [`refusal`]
/// refuses before any handler runs, and sets the no-store and nosniff headers on every answer.
pub async fn guard(request: Request, next: Next) -> Response {
    let mut response = match refusal(request.uri(), request.headers()) {
        Some((status, message)) => {
            tracing::warn!(status = status.as_u16(), path = %request.uri().path(), "tool API refused a request: {message}");
            error_response(status, &message, None)
        }
        None => next.run(request).await,
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// Why the Tool API refuses a request (its status and what to say), or `None` to serve it.
pub fn refusal(target: &Uri, headers: &HeaderMap) -> Option<(StatusCode, String)> {
    if let Err(problem) = sov_core::http::loopback_authority(headers, target) {
        return Some((problem.status(), problem.message().to_owned()));
    }
    let text = |name: header::HeaderName| {
        headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).escape_debug().to_string())
    };
    let browser = if let Some(origin) = text(header::ORIGIN) {
        Some(format!("Origin: {origin}"))
    } else if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")).filter(|s| s != "none") {
        Some(format!("Sec-Fetch-Site: {site}"))
    } else {
        text(header::USER_AGENT).filter(|ua| ua.starts_with("Mozilla/")).map(|_| "a browser's User-Agent".to_owned())
    };
    if let Some(mark) = browser {
        return Some((
            StatusCode::FORBIDDEN,
            format!(
                "refused: this is a web browser's request ({mark}); the Tool API serves agents on this machine, never web pages"
            ),
        ));
    }
    None
}

/// What a request body is, by its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyType {
    /// `application/json`.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}

/// The body's type, if the route takes it (`forms`: the route takes forms besides JSON); else
/// a 415 and what to send. Anything else, `text/plain` above all, is never parsed.
pub fn body_type(headers: &HeaderMap, forms: bool) -> Result<BodyType, (StatusCode, String)> {
    match media_type(headers).as_deref() {
        Some(JSON) => Ok(BodyType::Json),
        Some(FORM) if forms => Ok(BodyType::Form),
        _ => {
            let wanted = if forms { format!("{JSON} or {FORM}") } else { JSON.to_owned() };
            let sent = headers
                .get(header::CONTENT_TYPE)
                .map_or("none".to_owned(), |v| String::from_utf8_lossy(v.as_bytes()).escape_debug().to_string());
            Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("send Content-Type: {wanted} (this request's is {sent})")))
        }
    }
}

/// The body's media type without parameters, lowercased (`application/json; charset=utf-8`
/// is `application/json`).
fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
}

/// The Tool API's error answer: `{"error": {"message", "field"}}`.
pub fn error_response(status: StatusCode, message: &str, field: Option<&str>) -> Response {
    (status, Json(json!({"error": {"message": message, "field": field}}))).into_response()
}

/// An error answer in the Tool API's shape ([`error_response`]).
struct ApiError(StatusCode, String, Option<String>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(self.0, &self.1, self.2.as_deref())
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

/// The body as its `Content-Type` says (see [`body_type`]).
fn from_body<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    match body_type(headers, true).map_err(|(status, message)| ApiError(status, message, None))? {
        BodyType::Json => {
            serde_json::from_slice(body).map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("JSON body: {e}"), None))
        }
        BodyType::Form => serde_urlencoded::from_bytes(body)
            .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("form body: {e}"), None)),
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn decide(target: &str, headers: &[(&str, &str)]) -> Option<u16> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(header::HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
        }
        refusal(&target.parse().unwrap(), &map).map(|(status, _)| status.as_u16())
    }

    const HOST: (&str, &str) = ("host", "127.0.0.1:6000");

    #[test]
    fn agents_pass_and_browsers_never_do() {
        assert_eq!(decide("/send?to=me", &[HOST]), None);
        assert_eq!(decide("/status", &[HOST, ("sec-fetch-site", "none"), ("user-agent", "curl/8")]), None);
        for browser in [
            ("origin", "http://evil.example"),
            ("origin", "null"),
            ("origin", "http://127.0.0.1:6000"),
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-site", "same-origin"),
            ("sec-fetch-site", "same-site"),
            ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/605.1.15 Safari/605.1.15"),
        ] {
            assert_eq!(decide("/send?to=me", &[HOST, browser]), Some(403), "{browser:?}");
        }
    }

    #[test]
    fn bodies_must_say_they_are_json_or_a_documented_form() {
        let typed = |value: Option<&str>, forms: bool| {
            let mut headers = HeaderMap::new();
            if let Some(value) = value {
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            }
            body_type(&headers, forms).map_err(|(status, _)| status.as_u16())
        };
        assert_eq!(typed(Some("application/json; charset=utf-8"), false), Ok(BodyType::Json));
        assert_eq!(typed(Some("Application/JSON"), true), Ok(BodyType::Json));
        assert_eq!(typed(Some("application/x-www-form-urlencoded"), true), Ok(BodyType::Form));
        assert_eq!(typed(Some("application/x-www-form-urlencoded"), false), Err(415), "no form there");
        for bad in ["text/plain", "multipart/form-data; boundary=x", "application/jsonp", ""] {
            assert_eq!(typed(Some(bad), true), Err(415), "{bad}");
        }
        assert_eq!(typed(None, true), Err(415), "no Content-Type at all");
    }

    #[test]
    fn only_one_loopback_host() {
        assert_eq!(decide("/status", &[("host", "evil.example")]), Some(421));
        assert_eq!(decide("/status", &[]), Some(421));
        assert_eq!(decide("/status", &[HOST, ("host", "evil.example")]), Some(400));
        assert_eq!(decide("http://evil.example/status", &[HOST]), Some(400));
    }
}
