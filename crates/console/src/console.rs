//! The human console: a web page on loopback, for the human only.
//!
//! Login: only through a one-time link `sov console` prints ([`crate::login`]): the token rides in
//! the link's fragment, the login page posts it back when the person presses "Log in" (so a
//! link previewer or a prefetching browser never uses it up), and it is exchanged, once and
//! within ten minutes, for a random session id in an `HttpOnly; SameSite=Strict` cookie. No
//! static secret logs anyone in. A login is bound to the browser that made it: its cookie is
//! refused (and the login ended) when it comes with another `User-Agent` than at login. Every
//! state change is a POST carrying that login's CSRF token, from the console's own origin. What
//! an agent is handed (the action's URL) shows the action after login and approves nothing.
//!
//! Redirects lead only to the console's own pages ([`safe_next`]). Every text an agent, the
//! reviewer or a third party wrote is shown escaped, with invisible and direction-changing
//! characters as their code points ([`crate::html::esc`]); what the agent says about where its
//! data came from (provenance) is shown as its claim, which nothing in the gate relies on.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{Form, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use sov_core::audit::{AuditLog, AuditVerdict};
use sov_core::store::Store;
use sov_gate::display::{ReviewShown, request_has_hidden, review_shown};
use sov_gate::queue::State as ActionState;
use sov_gate::{ActionRecord, Decision, Gate, GateError, Provenance, Signals, Verdict, Weight};

use crate::chat::{Chat, ChatEngine, is_conversation_id};
use crate::html::{attr, esc, esc_block, page, time};
use crate::login::{self, Redeemed};
use crate::{blocking, loopback_host};

/// The session cookie's name.
pub const COOKIE: &str = "sov_console";
/// How long a console login lasts, ms.
const LOGIN_LIFETIME_MS: i64 = 12 * 3600 * 1000;

/// What the console needs.
#[derive(Clone)]
pub struct Console {
    gate: Arc<Gate>,
    pub(crate) database: PathBuf,
    audit_head: PathBuf,
    logins: Arc<Mutex<HashMap<String, Login>>>,
    /// The chat page, when the console has an engine to ask ([`Console::with_chat`]).
    pub(crate) chat: Option<Chat>,
}

#[derive(Clone)]
pub(crate) struct Login {
    pub(crate) csrf: String,
    expires_ms: i64,
    /// The `User-Agent` the browser sent when it logged in (empty if none).
    user_agent: Vec<u8>,
}

impl Console {
    /// A console for `gate`; `database` holds the login links ([`crate::login`]) and, with
    /// `audit_head`, the audit log.
    pub fn new(gate: Arc<Gate>, database: PathBuf, audit_head: PathBuf) -> Console {
        Console { gate, database, audit_head, logins: Arc::default(), chat: None }
    }

    /// The same console with the chat page (`/chat`, [`crate::chat`]) asking `engine`.
    pub fn with_chat(mut self, engine: Arc<dyn ChatEngine>) -> Console {
        self.chat = Some(Chat::new(engine));
        self
    }

    /// The console's routes.
    pub fn router(self) -> Router {
        Router::new()
            .route("/", get(pending))
            .route("/history", get(history))
            .route("/actions/{id}", get(action_page))
            .route("/actions/{id}/approve", post(approve))
            .route("/actions/{id}/deny", post(deny))
            .route("/audit", get(audit))
            .route("/status", get(status))
            .route("/login", get(login_page).post(login))
            .route("/logout", post(logout))
            .route("/static/console.css", get(|| async { ([(header::CONTENT_TYPE, "text/css")], CSS) }))
            .route("/static/console.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], JS) }))
            .merge(crate::chat::routes())
            .layer(middleware::from_fn(guard))
            .with_state(self)
    }

    /// The login of the request's cookie, if it is valid and comes from the browser that logged
    /// in. A cookie presented with another `User-Agent` was copied out of that browser: the
    /// login ends, and the person logs in again with a new link.
    pub(crate) fn login(&self, headers: &HeaderMap) -> Option<Login> {
        let id = cookie(headers, COOKIE)?;
        let mut logins = self.logins.lock().unwrap_or_else(PoisonError::into_inner);
        let now = sov_core::now_ms();
        logins.retain(|_, l| l.expires_ms > now);
        let login = logins.get(id)?;
        if !sov_core::http::constant_time_eq(&login.user_agent, user_agent(headers)) {
            tracing::warn!("refused a console cookie sent with another User-Agent than at login; that login is ended");
            logins.remove(id);
            return None;
        }
        Some(login.clone())
    }
}

/// The request's `User-Agent`, as bytes (empty if none).
fn user_agent(headers: &HeaderMap) -> &[u8] {
    headers.get(header::USER_AGENT).map_or(&[], HeaderValue::as_bytes)
}

const CSS: &str = include_str!("../static/console.css");
const JS: &str = include_str!("../static/console.js");
/// No inline script, no script or style from elsewhere, no images from elsewhere (the chat
/// page's renderer writes none; this holds even if it did), `fetch` only to the console itself
/// (the chat page streams answers with it).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Loopback `Host` only; POSTs only from the console's own origin; strict headers on every page.
async fn guard(request: Request, next: Next) -> Response {
    let mut response = match loopback_host(request.headers(), request.uri()).map(str::to_owned) {
        None => (
            StatusCode::MISDIRECTED_REQUEST,
            "the console answers only requests addressed to localhost, 127.0.0.1 or [::1]\n",
        )
            .into_response(),
        Some(host) if request.method() == Method::POST && !same_origin(request.headers(), &host) => {
            tracing::warn!("refused a cross-origin POST to the console");
            (StatusCode::FORBIDDEN, "cross-site requests cannot change anything here\n").into_response()
        }
        Some(_) => next.run(request).await,
    };
    // On every answer, refusals included.
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        // `no-referrer` would make browsers send `Origin: null` on our own form posts.
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A POST is same-origin when its `Origin` (or, lacking one, `Sec-Fetch-Site`) says so.
/// Requests with neither come from non-browser clients, which hold no cookie to abuse.
fn same_origin(headers: &HeaderMap, host: &str) -> bool {
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        return origin == format!("http://{host}");
    }
    headers.get("sec-fetch-site").and_then(|s| s.to_str().ok()).is_none_or(|s| s == "same-origin" || s == "none")
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(name)?.strip_prefix('='))
}

/// The login page, for requests without a valid login.
pub(crate) fn to_login(next: &str) -> Response {
    Redirect::to(&format!("/login?next={}", encode_path(next))).into_response()
}

fn encode_path(path: &str) -> String {
    path.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"/-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// The login page. The link `sov console` prints carries its token in the fragment, which the
/// browser keeps to itself; `console.js` puts it into the form and shows the button. Nothing is
/// used up before the person presses it.
async fn login_page(axum::extract::Query(q): axum::extract::Query<NextQuery>) -> Html<String> {
    let next = safe_next(q.next.as_deref());
    Html(page(
        "Log in",
        &format!(
            "<p>Log in with the link <code>sov console</code> prints in your terminal. Each link works once, \
             within 10 minutes, and logs in only the browser that opens it; no file or password logs you in.</p>\
             <form id=\"login\" method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"token\" value=\"\">\
             <input type=\"hidden\" name=\"next\" value=\"{}\">\
             <button id=\"login-button\" type=\"submit\" hidden>Log in</button></form>\
             <p id=\"no-link\" class=\"note\">This address carries no login link: run <code>sov console</code> \
             and open the link it prints.</p>",
            attr(next)
        ),
    ))
}

/// Where a login may lead: one of the console's own pages (`/`, `/history`, `/audit`,
/// `/status`, `/actions/ID`, `/chat`, `/chat/c/ID`), else `/`. Nothing else passes, so no encoding trick (`//host`,
/// `/\t/host`, `/\host`, CR LF) can send the browser to another site or into a bad header.
fn safe_next(next: Option<&str>) -> &str {
    let is_action_id = |id: &str| {
        (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    match next {
        Some(path @ ("/" | "/history" | "/audit" | "/status" | "/chat")) => path,
        Some(path) if path.strip_prefix("/actions/").is_some_and(is_action_id) => path,
        Some(path) if path.strip_prefix("/chat/c/").is_some_and(is_conversation_id) => path,
        _ => "/",
    }
}

/// A redirect to one of the console's own pages (see [`safe_next`]).
fn redirect(path: &str) -> Response {
    Redirect::to(safe_next(Some(path))).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
    next: Option<String>,
}

async fn login(State(console): State<Console>, headers: HeaderMap, Form(form): Form<LoginForm>) -> Response {
    let agent = user_agent(&headers).to_vec();
    let (database, head) = (console.database.clone(), console.audit_head.clone());
    let shown_agent = String::from_utf8_lossy(&agent).into_owned();
    let token = form.token;
    let redeemed = tokio::task::spawn_blocking(move || {
        let store = Store::open(&database)?;
        login::redeem(&store, Some(head), &token, sov_core::now_ms(), &shown_agent)
    })
    .await;
    match redeemed {
        Ok(Ok(Redeemed::LoggedIn)) => {}
        Ok(Ok(refused)) => {
            tracing::warn!(why = ?refused, "refused a console login");
            return (
                StatusCode::UNAUTHORIZED,
                Html(page(
                    "Log in",
                    &format!(
                        "<p class=\"error\" id=\"login-refused\">{} Run <code>sov console</code> in your terminal \
                         for a new link.</p>",
                        esc(refused.explain())
                    ),
                )),
            )
                .into_response();
        }
        Ok(Err(e)) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
    let (Ok(id), Ok(csrf)) = (sov_core::random_hex(32), sov_core::random_hex(32)) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no randomness available\n").into_response();
    };
    console
        .logins
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id.clone(), Login { csrf, expires_ms: sov_core::now_ms() + LOGIN_LIFETIME_MS, user_agent: agent });
    let cookie = format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}", LOGIN_LIFETIME_MS / 1000);
    let mut response = redirect(form.next.as_deref().unwrap_or("/"));
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm_text: Option<String>,
}

async fn logout(State(console): State<Console>, headers: HeaderMap, Form(form): Form<CsrfForm>) -> Response {
    if let Some(id) = cookie(&headers, COOKIE)
        && console
            .login(&headers)
            .is_some_and(|l| sov_core::http::constant_time_eq(l.csrf.as_bytes(), form.csrf.as_bytes()))
    {
        console.logins.lock().unwrap_or_else(PoisonError::into_inner).remove(id);
    }
    Redirect::to("/login").into_response()
}

pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    (status, Html(page("Error", &format!("<p class=\"error\">{}</p>", esc(message))))).into_response()
}

fn gate_error(e: &GateError) -> Response {
    let status = match e {
        GateError::NotFound(_) => StatusCode::NOT_FOUND,
        GateError::AlreadyDecided { .. } => StatusCode::CONFLICT,
        GateError::Refused(_) | GateError::Invalid { .. } => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error_page(status, &e.to_string())
}

async fn pending(State(console): State<Console>, headers: HeaderMap) -> Response {
    if console.login(&headers).is_none() {
        return to_login("/");
    }
    let gate = console.gate.clone();
    match blocking(move || gate.list(&[ActionState::Reviewing, ActionState::AwaitingHuman], 500)).await {
        Ok(records) if records.is_empty() => {
            Html(page("Pending", "<p id=\"empty\">Nothing is waiting for you.</p>")).into_response()
        }
        Ok(records) => Html(page("Pending", &action_table(&records))).into_response(),
        Err(e) => gate_error(&e),
    }
}

async fn history(State(console): State<Console>, headers: HeaderMap) -> Response {
    if console.login(&headers).is_none() {
        return to_login("/history");
    }
    let gate = console.gate.clone();
    match blocking(move || gate.list(&[], 200)).await {
        Ok(records) => Html(page("History", &action_table(&records))).into_response(),
        Err(e) => gate_error(&e),
    }
}

fn action_table(records: &[ActionRecord]) -> String {
    let mut out = String::from(
        "<table><thead><tr><th>Asked</th><th>Action</th><th>Session</th><th>AI reviewer</th><th>State</th></tr></thead><tbody>",
    );
    for r in records {
        out.push_str(&format!(
            "<tr><td>{}</td><td><a href=\"/actions/{id}\">{kind}</a>: {summary}</td><td>{session}</td><td>{verdict}</td><td class=\"state\">{state}</td></tr>",
            time(r.created_ms),
            id = attr(&r.id),
            kind = esc(r.request.kind.as_str()),
            summary = esc(&r.request.headline()),
            session = esc(&r.session),
            verdict = r.review.as_ref().map_or_else(|| "…".to_owned(), |v| verdict_html(v.verdict)),
            state = r.state.as_str(),
        ));
    }
    out.push_str("</tbody></table>");
    out
}

fn verdict_html(v: Verdict) -> String {
    format!("<span class=\"verdict-{0}\">{0}</span>", v.as_str())
}

async fn action_page(State(console): State<Console>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some(login) = console.login(&headers) else {
        return to_login(&format!("/actions/{id}"));
    };
    let gate = console.gate.clone();
    let record = match blocking(move || gate.get(&id)).await {
        Ok(r) => r,
        Err(e) => return gate_error(&e),
    };
    let body = action_body(&record, console.gate.policy().confirm.override_delay_secs, &login.csrf);
    Html(page(&format!("Action {}", record.request.kind), &body)).into_response()
}

/// The action page's body for `r`, with the decision forms (carrying `csrf`) while it is pending;
/// an AI denial can be overridden `override_delay_secs` after it.
fn action_body(r: &ActionRecord, override_delay_secs: u64, csrf: &str) -> String {
    let mut body = String::new();
    if request_has_hidden(&r.request) {
        body.push_str(
            "<p class=\"warning\" id=\"hidden-warning\">This action contains invisible or direction-changing \
             characters, shown below as <code>⟨U+…⟩</code>. Text with them can look like something it is not \
             (another amount, another address): read it as shown here.</p>",
        );
    }
    body.push_str(&format!(
        "<table class=\"facts\">\
         <tr><th>What</th><td id=\"summary\">{what}</td></tr>\
         <tr><th>Kind</th><td>{kind}</td></tr>\
         <tr><th>To</th><td id=\"recipients\">{to}</td></tr>\
         <tr><th>Value</th><td>{value}</td></tr>\
         <tr><th>Asked by</th><td>session {session}, {asked}</td></tr>\
         <tr><th>Policy</th><td>{decision}: {reasons}</td></tr>\
         <tr><th>Found by code</th><td id=\"signals\">{signals}</td></tr>\
         <tr><th>AI reviewer</th><td id=\"verdict\">{verdict}</td></tr>\
         <tr><th>State</th><td id=\"state\">{state}</td></tr>\
         </table>\
         <h2>Exactly what would be sent</h2><pre id=\"params\">{params}</pre>\
         <h2>Where the agent says its data came from</h2>{provenance}",
        what = esc(&r.request.headline()),
        kind = esc(r.request.kind.as_str()),
        to = esc(&r.request.recipients.join(", ")),
        value = r.request.value_usd.map_or_else(|| "—".to_owned(), |v| format!("{v:.2} USD")),
        session = esc(&r.session),
        asked = time(r.created_ms),
        decision = r.decision.as_str(),
        reasons = esc(&r.reasons.join(" ")),
        signals = signals_html(&r.signals),
        verdict = review_shown(r).map_or_else(
            || "reviewing…".to_owned(),
            |v| match v.reason {
                Some(reason) => format!("{} {}: {}", verdict_html(v.verdict), esc(&v.by()), esc(reason)),
                None => format!("{} {} {}", verdict_html(v.verdict), esc(&v.by()), esc(ReviewShown::ECHO)),
            }
        ),
        state = r.state.as_str(),
        params = esc_block(&serde_json::to_string_pretty(&r.request.params).unwrap_or_default()),
        provenance = provenance_html(&r.request.provenance),
    ));
    if let Some(outcome) = &r.outcome {
        body.push_str(&format!(
            "<h2>Outcome</h2><pre id=\"outcome\">{}</pre>",
            esc_block(&serde_json::to_string_pretty(outcome).unwrap_or_default())
        ));
    }
    if r.state.is_pending() {
        let csrf = attr(csrf);
        let id = attr(&r.id);
        match &r.review {
            None => body.push_str("<p class=\"note\">The AI reviewer has not answered yet; reload in a moment.</p>"),
            Some(review) if review.verdict == Verdict::Deny => {
                let ready = review.at_ms + i64::try_from(override_delay_secs).unwrap_or(i64::MAX / 1000) * 1000;
                body.push_str(&format!(
                    "<p class=\"note\">The AI reviewer denied this. You can still approve it from {ready} by typing \
                     <code id=\"fact\">{fact}</code> below.</p>\
                     <form class=\"inline\" method=\"post\" action=\"/actions/{id}/approve\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                     <input name=\"confirm_text\" autocomplete=\"off\" size=\"50\" aria-label=\"type to confirm\"> \
                     <button class=\"approve\" type=\"submit\">Approve anyway</button></form>",
                    ready = time(ready),
                    fact = esc(&r.request.confirm_fact()),
                ));
            }
            Some(_) => body.push_str(&format!(
                "<form class=\"inline\" method=\"post\" action=\"/actions/{id}/approve\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <button id=\"approve\" class=\"approve\" type=\"submit\">Approve</button></form>"
            )),
        }
        body.push_str(&format!(
            "<form class=\"inline\" method=\"post\" action=\"/actions/{id}/deny\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <button id=\"deny\" class=\"deny\" type=\"submit\">Deny</button></form>"
        ));
    }
    body
}

/// The signals the gate's code found, strongest first, each in the style of its weight
/// (`signal-deny`: denied by code; `signal-warn`: needs you whatever the policy; `signal-note`).
fn signals_html(signals: &Signals) -> String {
    if signals.is_empty() {
        return "nothing to report".to_owned();
    }
    let mut out = String::from("<ul class=\"signals\">");
    for signal in signals.iter() {
        let weight = signal.weight().as_str();
        out.push_str(&format!(
            "<li class=\"signal-{weight}\"><span class=\"verdict-{}\">{weight}</span> {}</li>",
            match signal.weight() {
                Weight::Deny => "deny",
                Weight::Confirm => "warn",
                Weight::Shown => "approve",
            },
            esc(&signal.sentence())
        ));
    }
    out.push_str("</ul>");
    out
}

/// The agent's provenance claims, each marked as its claim: nothing checked them, and the gate
/// decides nothing from them.
fn provenance_html(claims: &[Provenance]) -> String {
    if claims.is_empty() {
        return "<p id=\"provenance\">The agent made no claim.</p>".to_owned();
    }
    let mut out = String::from(
        "<p class=\"note\">What the agent claims, unchecked: Sovereign decides nothing from it.</p><ul id=\"provenance\">",
    );
    for claim in claims {
        out.push_str(&format!(
            "<li><span class=\"claim\">claimed by the agent:</span> {}{}</li>",
            esc(&claim.source),
            if claim.detail.is_empty() { String::new() } else { format!(" ({})", esc(&claim.detail)) }
        ));
    }
    out.push_str("</ul>");
    out
}

async fn approve(state: State<Console>, headers: HeaderMap, id: Path<String>, form: Form<CsrfForm>) -> Response {
    decide(state, headers, id, form, true).await
}

async fn deny(state: State<Console>, headers: HeaderMap, id: Path<String>, form: Form<CsrfForm>) -> Response {
    decide(state, headers, id, form, false).await
}

async fn decide(
    State(console): State<Console>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
    approve: bool,
) -> Response {
    let Some(login) = console.login(&headers) else {
        return error_page(StatusCode::UNAUTHORIZED, "not logged in: open the console with `sov console` first");
    };
    if !sov_core::http::constant_time_eq(login.csrf.as_bytes(), form.csrf.as_bytes()) {
        tracing::warn!(id, "refused a console decision with a wrong CSRF token");
        return error_page(StatusCode::FORBIDDEN, "this form is stale or forged (wrong CSRF token); reload the page");
    }
    let gate = console.gate.clone();
    let decision =
        Decision { approve, confirm_text: form.confirm_text.filter(|t| !t.is_empty()), by: "console".into() };
    let target = format!("/actions/{id}");
    match blocking(move || gate.decide(&id, &decision)).await {
        Ok(_) => redirect(&target),
        Err(e) => gate_error(&e),
    }
}

async fn audit(State(console): State<Console>, headers: HeaderMap) -> Response {
    if console.login(&headers).is_none() {
        return to_login("/audit");
    }
    let (database, head) = (console.database.clone(), console.audit_head.clone());
    let result = tokio::task::spawn_blocking(
        move || -> Result<(AuditVerdict, Vec<sov_core::audit::AuditEntry>), sov_core::Error> {
            let store = Store::open(&database)?;
            let log = AuditLog::new(&store, Some(head));
            let verdict = log.verify()?;
            let total = match &verdict {
                AuditVerdict::Intact { entries, .. } => i64::try_from(*entries).unwrap_or(i64::MAX),
                AuditVerdict::Broken { .. } => 0,
            };
            Ok((verdict, log.entries((total - 500).max(0), 500)?))
        },
    )
    .await;
    let (verdict, entries) = match result {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let mut body = match verdict {
        AuditVerdict::Intact { entries, head } => {
            let mut text =
                format!("<p id=\"audit-verdict\">Intact: {entries} entries, every hash and link checked.</p>");
            // Someone who can write the data directory can cut the log's end and rewrite
            // audit.head to match; a copy of the head kept elsewhere shows that.
            if let Some((seq, hash)) = head {
                text.push_str(&format!(
                    "<p id=\"audit-head\">Head: {seq} entries, last hash <code>{}</code>. Keep a copy outside this \
                     machine's data directory (or set <code>audit.anchor_file</code>) and compare with \
                     <code>sov audit verify --anchor FILE</code> to catch a rewritten log.</p>",
                    esc(&hash)
                ));
            }
            text
        }
        AuditVerdict::Broken { seq, problem } => {
            format!("<p id=\"audit-verdict\" class=\"error\">BROKEN at entry #{seq}: {}</p>", esc(&problem.to_string()))
        }
    };
    body.push_str(
        "<table><thead><tr><th>#</th><th>When</th><th>Who</th><th>What</th><th>Detail</th></tr></thead><tbody>",
    );
    for e in entries.iter().rev() {
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            e.seq,
            time(e.ts_ms),
            esc(&e.actor),
            esc(&e.action),
            esc(&e.detail.to_string())
        ));
    }
    body.push_str("</tbody></table>");
    Html(page("Audit log", &body)).into_response()
}

async fn status(State(console): State<Console>, headers: HeaderMap) -> Response {
    if console.login(&headers).is_none() {
        return to_login("/status");
    }
    let gate = console.gate.clone();
    let status = match blocking(move || gate.status()).await {
        Ok(s) => s,
        Err(e) => return gate_error(&e),
    };
    let policy = console.gate.policy();
    let mut body = String::from("<table>");
    for (state, count) in &status.actions {
        body.push_str(&format!("<tr><th>{}</th><td>{count}</td></tr>", esc(state)));
    }
    body.push_str(&format!(
        "<tr><th>wallet, last 24 h</th><td>{:.2} of {:.2} USD, {} of {} actions</td></tr><tr><th>sandbox sessions</th><td>{}</td></tr></table>\
         <h2>Policy in force</h2><pre>{}</pre>",
        status.spent_usd_24h,
        policy.caps.daily_usd,
        status.wallet_actions_24h,
        policy.caps.daily_count,
        status.sessions,
        esc_block(&policy.to_toml())
    ));
    Html(page("Status", &body)).into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_the_consoles_own_pages_follow_a_login() {
        for good in [
            "/",
            "/history",
            "/audit",
            "/status",
            "/actions/ab",
            "/actions/0123456789abcdef0123456789abcdef",
            "/chat",
            "/chat/c/0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(safe_next(Some(good)), good);
        }
        for bad in [
            "/\t/evil.example",
            "/\r\nSet-Cookie: sov_console=x",
            "/\n/evil.example",
            "//evil.example/",
            "///evil.example",
            "https://evil.example/",
            "/\\evil.example",
            "\\\\evil.example",
            "/%2F/evil.example",
            "/actions/../evil",
            "/actions/a/b",
            "/actions/",
            "/actions/ab?x=//evil.example",
            "/actions/ab#x",
            "/history/",
            "/status?next=//evil.example",
            "/static/console.js",
            "/chat/c/ab",
            "/chat/c/0123456789abcdef0123456789abcdef/delete",
            "/chat/",
            "/login",
            "actions",
            " /",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(Some(&format!("/actions/{}", "a".repeat(65)))), "/");
        assert_eq!(safe_next(None), "/");
    }

    fn record(request: sov_gate::ActionRequest) -> ActionRecord {
        ActionRecord {
            id: "0123456789abcdef0123456789abcdef".into(),
            created_ms: 1_800_000_000_000,
            request,
            session: "anonymous".into(),
            decision: sov_gate::Rule::Confirm,
            reasons: vec!["a message to someone else: policy says confirm".into()],
            state: ActionState::AwaitingHuman,
            review: Some(sov_gate::Review {
                verdict: Verdict::Warn,
                reason: "check the amount".into(),
                at_ms: 1_800_000_000_000,
                model: Some("SmolLM2-135M-Instruct".into()),
            }),
            human: None,
            expires_ms: 1_800_000_600_000,
            idempotency_key: String::new(),
            attempts: 0,
            outcome: None,
            finished_ms: None,
            signals: Default::default(),
        }
    }

    #[test]
    fn the_action_page_shows_hidden_characters_and_marks_claims() {
        let tag = |hex: &str| {
            format!(
                "<span class=\"hidden-char\" title=\"an invisible or direction-changing character\">⟨U+{hex}⟩</span>"
            )
        };
        let mut request = sov_gate::ActionRequest::new(sov_gate::Kind::MessageSend);
        request.summary = "pay alice\u{202E}0001$".into();
        request.recipients = vec!["bo\u{200B}b@example.org".into()];
        request.params.insert("to".into(), "bo\u{200B}b@example.org".into());
        request.provenance = vec![Provenance { source: "user".into(), detail: String::new() }];
        let mut hidden = record(request.clone());
        if let Some(review) = &mut hidden.review {
            review.reason.push('\u{202E}');
        }
        let body = action_body(&hidden, 600, "c5rf");
        assert!(body.starts_with("<p class=\"warning\" id=\"hidden-warning\">"), "{body}");
        assert!(body.contains(&format!("<td id=\"recipients\">bo{}b@example.org</td>", tag("200B"))), "{body}");
        assert!(body.contains(&format!("pay alice{}0001$ → bo{}b@example.org", tag("202E"), tag("200B"))), "{body}");
        assert!(body.contains(&format!("&quot;to&quot;: &quot;bo{}b@example.org&quot;", tag("200B"))), "{body}");
        assert!(body.contains(&format!("check the amount{}", tag("202E"))), "the reviewer's text too: {body}");
        assert!(body.contains("<li><span class=\"claim\">claimed by the agent:</span> user</li>"), "{body}");
        assert!(!body.contains(['\u{202E}', '\u{200B}']), "{body}");
        assert!(body.contains("name=\"csrf\" value=\"c5rf\""), "{body}");

        request.summary = "email to bob".into();
        request.recipients = vec!["bob@example.org".into()];
        request.params.clear();
        request.provenance.clear();
        let plain = action_body(&record(request), 600, "c5rf");
        assert!(!plain.contains("hidden-warning") && !plain.contains("hidden-char"), "{plain}");
        assert!(plain.contains("The agent made no claim."), "{plain}");
    }

    #[test]
    fn cross_site_posts_are_recognised() {
        let mut h = HeaderMap::new();
        assert!(same_origin(&h, "127.0.0.1:7000"), "no browser headers: no cookie to abuse");
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:7000"));
        assert!(same_origin(&h, "127.0.0.1:7000"));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        assert!(!same_origin(&h, "127.0.0.1:7000"));
        let mut h = HeaderMap::new();
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h, "127.0.0.1:7000"));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; sov_console=abc; b=2"));
        assert_eq!(cookie(&h, COOKIE), Some("abc"));
        h.insert(header::COOKIE, HeaderValue::from_static("sov_consolex=abc"));
        assert_eq!(cookie(&h, COOKIE), None);
    }
}
