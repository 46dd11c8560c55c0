//! The chat page: the web UI llama-server users chat in, on the human console (`/chat`).
//!
//! What it is: conversations with the local models, stored in the local database
//! ([`crate::conversations`]), listed newest first, renamed, deleted and exported as Markdown or
//! JSON; answers streamed as they are generated, with Stop and Regenerate; per conversation a
//! model (the served local models), a system prompt, a temperature and an answer length; under
//! each answer its token counts and speeds, as llama.cpp's UI shows them.
//!
//! How it reaches the model: **in process**, through the [`ChatEngine`] the daemon hands the
//! console (`sov serve` gives it its own engine). Not through the loopback LLM API: that would
//! need the console to hold the API key, add an HTTP hop to every token (the goal is the
//! first token within 20 ms of calling the API directly), and put the chat's traffic on the port
//! sandboxes may be granted. The engine's queue and metrics are shared with the API's requests.
//!
//! Security properties:
//! - Only on the console's port, behind its login: every page and every POST needs the login
//!   cookie, every POST the login's CSRF token, and the console's guard refuses cross-origin
//!   POSTs and non-loopback `Host`s before any handler runs. Nothing of the chat is on the LLM
//!   API port a sandbox may be granted.
//! - Model output is rendered inert on the server ([`crate::markdown`]): no HTML of it
//!   survives, links are only http(s) and show their URL, and there are no images at all. The
//!   console's Content-Security-Policy (`script-src 'self'`, `connect-src 'self'`,
//!   `img-src 'self'`, no inline script) holds even if the renderer had a hole: the page's only
//!   script is `/static/chat.js`, which inserts only HTML this module rendered.
//! - The person typing here is the user: their messages need no confirmation. Nothing here
//!   lets the model act (no tools); when tools come, calls the model makes from what it read go
//!   through the gate as a session of their own.
//! - Conversations are stored in the local database only; the exports are downloads.
//!
//! Not built yet (seams, no buttons that do nothing): *search the web* ([2.4], through
//! `sov-web` and the gate, results cited) and *search my knowledge* ([2.6], `sov-know`) would
//! add a per-conversation switch and give the model tools whose results are appended as
//! `tool` messages before the answer; *ask a stronger model* would add `remote:NAME` models to
//! the picker and show the sanitised text before sending (the API's `RemoteRoute`); *speak*
//! waits for local transcription. [`ChatRequest`] is where such options would travel. Also not
//! yet: search over conversations, editing an earlier message and branching, attachments,
//! maths, accounts for several people.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use sov_core::store::Store;
use tokio::sync::{Notify, mpsc};

use crate::console::{Console, Login, error_page, to_login};
use crate::conversations::{self as conv, Conversation, Finish, Message, Role, Stats};
use crate::html::{attr, chat_page, esc, time};
use crate::markdown;

/// One message of what the model is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTurn {
    /// `system`, `user` or `assistant`.
    pub role: &'static str,
    /// The text.
    pub content: String,
}

/// What the chat page asks the engine for.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// A model name from [`ChatEngine::models`].
    pub model: String,
    /// The conversation, system prompt first if any.
    pub messages: Vec<ChatTurn>,
    /// Sampling temperature, 0 to 2.
    pub temperature: f32,
    /// At most this many new tokens; `None` until the model ends its turn.
    pub max_tokens: Option<u32>,
}

/// How a generation ended, as the engine says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatEnd {
    /// The model ended its turn (or reached a stop string).
    Stop,
    /// `max_tokens` or the context's end.
    Length,
}

/// What a generation streams back.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    /// The prompt is accepted.
    Started,
    /// New text.
    Text(String),
    /// The end, with the engine's counts and timings.
    Done(ChatEnd, Stats),
    /// The engine failed (a message for the person); nothing follows.
    Failed(String),
}

/// The local engine as the chat page uses it. `sov serve` implements it on its engine; the
/// console never loads a model itself.
pub trait ChatEngine: Send + Sync {
    /// The models that can be asked, by name.
    fn models(&self) -> Vec<String>;
    /// The model a new conversation starts with.
    fn default_model(&self) -> Option<String>;
    /// Starts a generation. Dropping the receiver cancels it. An error is a message for the
    /// person (an unknown model, a bad setting).
    fn generate(&self, request: ChatRequest) -> Result<mpsc::UnboundedReceiver<ChatEvent>, String>;
}

/// The chat's share of the console: the engine, and the conversations being answered now.
#[derive(Clone)]
pub(crate) struct Chat {
    engine: Arc<dyn ChatEngine>,
    /// Conversation id → how to stop its answer. One answer per conversation at a time, so a
    /// conversation's messages are written in order.
    answering: Arc<Mutex<HashMap<String, Arc<Notify>>>>,
}

impl Chat {
    pub(crate) fn new(engine: Arc<dyn ChatEngine>) -> Chat {
        Chat { engine, answering: Arc::default() }
    }
}

/// The chat's routes (`/chat…`, `/static/chat.js`), for [`Console::router`].
pub(crate) fn routes() -> Router<Console> {
    Router::new()
        .route("/chat", get(index))
        .route("/chat/new", post(new_conversation))
        .route("/chat/c/{id}", get(conversation_page))
        .route("/chat/c/{id}/send", post(send))
        .route("/chat/c/{id}/regenerate", post(regenerate))
        .route("/chat/c/{id}/stop", post(stop))
        .route("/chat/c/{id}/settings", post(settings))
        .route("/chat/c/{id}/delete", post(delete))
        .route("/chat/c/{id}/export.md", get(export_markdown))
        .route("/chat/c/{id}/export.json", get(export_json))
        .route("/static/chat.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], JS) }))
}

const JS: &str = include_str!("../static/chat.js");

/// A conversation id as [`conv::create`] makes them (and nothing else reaches the database).
pub(crate) fn is_conversation_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Runs store work off the async threads, on a fresh connection to the console's database.
async fn with_store<T: Send + 'static>(
    console: &Console,
    f: impl FnOnce(&Store) -> Result<T, sov_core::Error> + Send + 'static,
) -> Result<T, Box<Response>> {
    let database = console.database.clone();
    let result = tokio::task::spawn_blocking(move || f(&Store::open(&database)?)).await;
    match result {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "the chat's database failed");
            Err(Box::new(error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the chat's database failed; the console's log says why",
            )))
        }
        Err(e) => {
            tracing::error!(error = %e, "a chat database task failed");
            Err(Box::new(error_page(StatusCode::INTERNAL_SERVER_ERROR, "internal error")))
        }
    }
}

fn chat_of(console: &Console) -> Result<Chat, Box<Response>> {
    console.chat.clone().ok_or_else(|| {
        Box::new(error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "this console runs without a local engine, so it has no chat",
        ))
    })
}

/// The login of a POST, if its cookie and its CSRF token are good; else the refusal.
fn posting(console: &Console, headers: &HeaderMap, csrf: &str) -> Result<Login, Box<Response>> {
    let Some(login) = console.login(headers) else {
        return Err(Box::new(error_page(
            StatusCode::UNAUTHORIZED,
            "not logged in: open the console with `sov console` first",
        )));
    };
    if !sov_core::http::constant_time_eq(login.csrf.as_bytes(), csrf.as_bytes()) {
        tracing::warn!("refused a chat request with a wrong CSRF token");
        return Err(Box::new(error_page(
            StatusCode::FORBIDDEN,
            "this form is stale or forged (wrong CSRF token); reload the page",
        )));
    }
    Ok(login)
}

fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "there is no such conversation (deleted?)")
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn index(State(console): State<Console>, headers: HeaderMap) -> Response {
    let Some(login) = console.login(&headers) else { return to_login("/chat") };
    let chat = match chat_of(&console) {
        Ok(chat) => chat,
        Err(r) => return *r,
    };
    let list = match with_store(&console, conv::list).await {
        Ok(list) => list,
        Err(r) => return *r,
    };
    let body = format!(
        "<div class=\"chat\">{}<section id=\"conversation\"><p id=\"no-conversation\">Start a new conversation \
         on the left, or open one of yours.</p></section></div>",
        sidebar(&chat, &list, None, &login.csrf)
    );
    Html(chat_page("Chat", &body)).into_response()
}

fn model_options(chat: &Chat, selected: &str) -> String {
    let mut models = chat.engine.models();
    if !selected.is_empty() && !models.iter().any(|m| m == selected) {
        models.push(selected.to_owned()); // shown so that the person sees what it asks now
    }
    models
        .iter()
        .map(|m| {
            format!(
                "<option value=\"{v}\"{sel}>{name}</option>",
                v = attr(m),
                sel = if m == selected { " selected" } else { "" },
                name = esc(m)
            )
        })
        .collect()
}

fn sidebar(chat: &Chat, list: &[Conversation], current: Option<&str>, csrf: &str) -> String {
    let default = chat.engine.default_model().unwrap_or_default();
    let mut out = format!(
        "<aside id=\"conversations\"><form method=\"post\" action=\"/chat/new\" id=\"new-conversation\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label>Model <select name=\"model\" id=\"new-model\">{options}</select></label> \
         <button type=\"submit\" id=\"new-button\">New conversation</button></form><ul>",
        csrf = attr(csrf),
        options = model_options(chat, &default)
    );
    for c in list {
        out.push_str(&format!(
            "<li{cls}><a href=\"/chat/c/{id}\">{title}</a><span class=\"when\">{when}</span></li>",
            cls = if current == Some(c.id.as_str()) { " class=\"current\"" } else { "" },
            id = attr(&c.id),
            title = esc(&c.title),
            when = time(c.updated_ms)
        ));
    }
    if list.is_empty() {
        out.push_str("<li class=\"none\">No conversations yet.</li>");
    }
    out.push_str("</ul></aside>");
    out
}

#[derive(Deserialize)]
struct NewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    model: String,
}

async fn new_conversation(State(console): State<Console>, headers: HeaderMap, Form(form): Form<NewForm>) -> Response {
    if let Err(r) = posting(&console, &headers, &form.csrf) {
        return *r;
    }
    let chat = match chat_of(&console) {
        Ok(chat) => chat,
        Err(r) => return *r,
    };
    let models = chat.engine.models();
    let model = match form.model.as_str() {
        "" => chat.engine.default_model().unwrap_or_default(),
        m if models.iter().any(|known| known == m) => m.to_owned(),
        m => {
            return error_page(
                StatusCode::BAD_REQUEST,
                &format!("there is no local model {m:?}; pick one of the list"),
            );
        }
    };
    match with_store(&console, move |store| conv::create(store, &model, 0.8, sov_core::now_ms())).await {
        Ok(c) => Redirect::to(&format!("/chat/c/{}", c.id)).into_response(),
        Err(r) => *r,
    }
}

async fn load(console: &Console, id: String) -> Result<(Conversation, Vec<Message>), Box<Response>> {
    if !is_conversation_id(&id) {
        return Err(Box::new(not_found()));
    }
    let found = with_store(console, move |store| {
        Ok(match conv::get(store, &id)? {
            Some(c) => {
                let messages = conv::messages(store, &id)?;
                Some((c, messages))
            }
            None => None,
        })
    })
    .await?;
    found.ok_or_else(|| Box::new(not_found()))
}

async fn conversation_page(State(console): State<Console>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some(login) = console.login(&headers) else {
        return to_login(&if is_conversation_id(&id) { format!("/chat/c/{id}") } else { "/chat".to_owned() });
    };
    let chat = match chat_of(&console) {
        Ok(chat) => chat,
        Err(r) => return *r,
    };
    let (c, messages) = match load(&console, id).await {
        Ok(found) => found,
        Err(r) => return *r,
    };
    let list = match with_store(&console, conv::list).await {
        Ok(list) => list,
        Err(r) => return *r,
    };
    let body = format!(
        "<div class=\"chat\">{}{}</div>",
        sidebar(&chat, &list, Some(&c.id), &login.csrf),
        conversation_html(&chat, &c, &messages, &login.csrf)
    );
    Html(chat_page("Chat", &body)).into_response()
}

fn message_html(m: &Message) -> String {
    match m.role {
        Role::User => format!(
            "<div class=\"message user\" data-seq=\"{}\"><div class=\"who\">You</div><div class=\"body\">{}</div></div>",
            m.seq,
            user_text(&m.content)
        ),
        Role::Assistant => format!(
            "<div class=\"message assistant\" data-seq=\"{}\"><div class=\"who\">{}</div><div class=\"body\">{}</div>\
             <div class=\"stats\">{}</div></div>",
            m.seq,
            esc(m.model.as_deref().unwrap_or("assistant")),
            markdown::render(&m.content),
            esc(&stats_line(m.finish, m.stats.as_ref()))
        ),
    }
}

/// The person's own text, as typed: escaped, line breaks kept.
fn user_text(text: &str) -> String {
    text.split('\n').map(|l| esc(l.strip_suffix('\r').unwrap_or(l))).collect::<Vec<_>>().join("<br>")
}

/// The line under an answer: how it ended if not by itself, and its numbers.
fn stats_line(finish: Option<Finish>, stats: Option<&Stats>) -> String {
    let ended = match finish {
        Some(Finish::Stopped) => "Stopped. ",
        Some(Finish::Length) => "Cut at the length limit. ",
        Some(Finish::Failed) => "The engine failed. ",
        Some(Finish::Stop) | None => "",
    };
    format!("{ended}{}", stats.map(Stats::shown).unwrap_or_default())
}

fn conversation_html(chat: &Chat, c: &Conversation, messages: &[Message], csrf: &str) -> String {
    let csrf = attr(csrf);
    let id = attr(&c.id);
    let mut out = format!(
        "<section id=\"conversation\" data-id=\"{id}\" data-csrf=\"{csrf}\">\
         <h2 id=\"title\">{title}</h2>\
         <details id=\"settings\"><summary>Settings · <span id=\"model-shown\">{model}</span></summary>\
         <form method=\"post\" action=\"/chat/c/{id}/settings\" id=\"settings-form\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label>Title <input name=\"title\" id=\"title-input\" value=\"{title_attr}\" maxlength=\"{max}\"></label>\
         <label>Model <select name=\"model\" id=\"model\">{options}</select></label>\
         <label>System prompt <textarea name=\"system_prompt\" id=\"system-prompt\" rows=\"3\">{system}</textarea></label>\
         <label>Temperature <input name=\"temperature\" id=\"temperature\" type=\"number\" min=\"0\" max=\"2\" step=\"0.05\" value=\"{temp}\"></label>\
         <label>Answer length (tokens, 0 = until the model stops) <input name=\"max_tokens\" id=\"max-tokens\" type=\"number\" min=\"0\" max=\"{max_tokens_limit}\" value=\"{max_tokens}\"></label>\
         <button type=\"submit\" id=\"save-settings\">Save</button></form>\
         <p class=\"actions\"><a id=\"export-md\" href=\"/chat/c/{id}/export.md\">Export Markdown</a> \
         <a id=\"export-json\" href=\"/chat/c/{id}/export.json\">Export JSON</a></p>\
         <form method=\"post\" action=\"/chat/c/{id}/delete\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\" class=\"deny\" id=\"delete\">Delete this conversation</button></form>\
         </details><div id=\"messages\">",
        title = esc(&c.title),
        title_attr = attr(&c.title),
        max = conv::TITLE_MAX,
        model = esc(&c.model),
        options = model_options(chat, &c.model),
        system = esc_textarea(&c.system_prompt),
        temp = c.temperature,
        max_tokens = c.max_tokens,
        max_tokens_limit = MAX_TOKENS_LIMIT,
    );
    for m in messages {
        out.push_str(&message_html(m));
    }
    let answerable = messages.last().is_some_and(|m| m.role == Role::User);
    let regenerable = messages.last().is_some_and(|m| m.role == Role::Assistant);
    out.push_str(&format!(
        "</div><p id=\"chat-error\" class=\"error\" hidden></p>\
         <form id=\"composer\"><textarea name=\"text\" id=\"prompt\" rows=\"3\" placeholder=\"Type a message (Shift+Enter for a new line)\"></textarea>\
         <div class=\"buttons\"><button type=\"submit\" id=\"send\">Send</button>\
         <button type=\"button\" id=\"stop\" hidden>Stop</button>\
         <button type=\"button\" id=\"regenerate\"{regen}>Regenerate</button>\
         <button type=\"button\" id=\"answer\"{answer}>Answer</button></div></form></section>",
        regen = if regenerable { "" } else { " hidden" },
        answer = if answerable { "" } else { " hidden" },
    ));
    out
}

/// Text for a `<textarea>`: escaped, line breaks kept (hidden characters are the person's own
/// settings here, kept as they are so that saving does not change them).
fn esc_textarea(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The largest answer length a conversation may ask for.
const MAX_TOKENS_LIMIT: u32 = 131_072;

#[derive(Deserialize)]
struct SettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    system_prompt: String,
    #[serde(default)]
    temperature: String,
    #[serde(default)]
    max_tokens: String,
}

/// The settings a form asks for, or what is wrong with them.
fn parse_settings(form: &SettingsForm, models: &[String]) -> Result<conv::Settings, String> {
    let temperature: f64 =
        form.temperature.trim().parse().map_err(|_| format!("temperature {:?} is not a number", form.temperature))?;
    if !(0.0..=2.0).contains(&temperature) {
        return Err(format!("temperature {temperature} is out of range: use 0 (greedy) to 2"));
    }
    let max_tokens: u32 = match form.max_tokens.trim() {
        "" => 0,
        n => n.parse().map_err(|_| format!("answer length {n:?} is not a whole number of tokens"))?,
    };
    if max_tokens > MAX_TOKENS_LIMIT {
        return Err(format!("answer length {max_tokens} is more than {MAX_TOKENS_LIMIT} tokens"));
    }
    if !models.contains(&form.model) {
        return Err(format!("there is no local model {:?}; pick one of the list", form.model));
    }
    Ok(conv::Settings {
        title: form.title.clone(),
        model: form.model.clone(),
        system_prompt: form.system_prompt.replace("\r\n", "\n"),
        temperature,
        max_tokens,
    })
}

async fn settings(
    State(console): State<Console>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<SettingsForm>,
) -> Response {
    if let Err(r) = posting(&console, &headers, &form.csrf) {
        return *r;
    }
    let chat = match chat_of(&console) {
        Ok(chat) => chat,
        Err(r) => return *r,
    };
    if !is_conversation_id(&id) {
        return not_found();
    }
    let settings = match parse_settings(&form, &chat.engine.models()) {
        Ok(s) => s,
        Err(problem) => return error_page(StatusCode::BAD_REQUEST, &problem),
    };
    let target = format!("/chat/c/{id}");
    match with_store(&console, move |store| conv::update(store, &id, &settings, sov_core::now_ms())).await {
        Ok(true) => Redirect::to(&target).into_response(),
        Ok(false) => not_found(),
        Err(r) => *r,
    }
}

async fn delete(
    State(console): State<Console>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = posting(&console, &headers, &form.csrf) {
        return *r;
    }
    if !is_conversation_id(&id) {
        return not_found();
    }
    if let Some(chat) = &console.chat
        && let Some(stop) = chat.answering.lock().unwrap_or_else(PoisonError::into_inner).get(&id)
    {
        stop.notify_one();
    }
    match with_store(&console, move |store| conv::delete(store, &id)).await {
        Ok(_) => Redirect::to("/chat").into_response(),
        Err(r) => *r,
    }
}

fn download(content_type: &'static str, name: String, body: String) -> Response {
    let mut response = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

async fn export_markdown(State(console): State<Console>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if console.login(&headers).is_none() {
        return error_page(StatusCode::UNAUTHORIZED, "not logged in: open the console with `sov console` first");
    }
    match load(&console, id).await {
        Ok((c, messages)) => download(
            "text/markdown; charset=utf-8",
            format!("conversation-{}.md", c.id),
            conv::to_markdown(&c, &messages),
        ),
        Err(r) => *r,
    }
}

async fn export_json(State(console): State<Console>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if console.login(&headers).is_none() {
        return error_page(StatusCode::UNAUTHORIZED, "not logged in: open the console with `sov console` first");
    }
    match load(&console, id).await {
        Ok((c, messages)) => {
            let json = serde_json::to_string_pretty(&conv::to_json(&c, &messages)).unwrap_or_default();
            download("application/json", format!("conversation-{}.json", c.id), json)
        }
        Err(r) => *r,
    }
}

#[derive(Deserialize)]
struct SendForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    text: String,
}

/// The longest message a person may send, in bytes.
const MESSAGE_LIMIT: usize = 256 * 1024;

/// Appends the person's message and streams the answer.
async fn send(
    State(console): State<Console>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<SendForm>,
) -> Response {
    if let Err(r) = posting(&console, &headers, &form.csrf) {
        return *r;
    }
    if form.text.trim().is_empty() {
        return error_page(StatusCode::BAD_REQUEST, "the message is empty");
    }
    if form.text.len() > MESSAGE_LIMIT {
        return error_page(StatusCode::PAYLOAD_TOO_LARGE, "the message is longer than 256 KiB");
    }
    let text = form.text.replace("\r\n", "\n");
    answer(console, id, Some(text)).await
}

/// Drops the last answer and streams a new one.
async fn regenerate(
    State(console): State<Console>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = posting(&console, &headers, &form.csrf) {
        return *r;
    }
    answer(console, id, None).await
}

/// Stops the answer being written for this conversation; what was written is kept, marked
/// stopped, and ends the answer's stream.
async fn stop(
    State(console): State<Console>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(r) = posting(&console, &headers, &form.csrf) {
        return *r;
    }
    let stopping = console
        .chat
        .as_ref()
        .and_then(|chat| chat.answering.lock().unwrap_or_else(PoisonError::into_inner).get(&id).cloned());
    match stopping {
        Some(stop) => {
            stop.notify_one();
            StatusCode::NO_CONTENT.into_response()
        }
        None => (StatusCode::CONFLICT, "no answer is being written for this conversation\n").into_response(),
    }
}

/// Removes its conversation from [`Chat::answering`] when the answer ends, however it ends.
struct Answering {
    chat: Chat,
    id: String,
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.chat.answering.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.id);
    }
}

/// What [`answer`] does to the stored conversation before asking the model.
enum Before {
    /// Append the person's message.
    Append(String),
    /// Drop the last answer, if the last message is one.
    Regenerate,
}

/// Stores `text` as the person's message (or, for `None`, drops the last answer), then streams
/// the model's answer as server-sent events (`data: {json}`): `started`, `text` (the whole
/// answer so far, rendered), and last `done` (rendered, how it ended, its numbers) or `error`.
/// The answer is stored when it ends, also when the person stops it or closes the page.
async fn answer(console: Console, id: String, text: Option<String>) -> Response {
    let chat = match chat_of(&console) {
        Ok(chat) => chat,
        Err(r) => return *r,
    };
    if !is_conversation_id(&id) {
        return not_found();
    }
    let stop = Arc::new(Notify::new());
    {
        let mut answering = chat.answering.lock().unwrap_or_else(PoisonError::into_inner);
        if answering.contains_key(&id) {
            return error_page(StatusCode::CONFLICT, "an answer is still being written here: wait for it, or stop it");
        }
        answering.insert(id.clone(), stop.clone());
    }
    let guard = Answering { chat: chat.clone(), id: id.clone() };
    let before = match text {
        Some(text) => Before::Append(text),
        None => Before::Regenerate,
    };
    let conversation_id = id.clone();
    let prepared = with_store(&console, move |store| {
        let Some(c) = conv::get(store, &conversation_id)? else { return Ok(None) };
        match before {
            Before::Append(text) => {
                let message = Message {
                    seq: 0,
                    role: Role::User,
                    content: text,
                    model: None,
                    finish: None,
                    stats: None,
                    created_ms: 0,
                };
                conv::append(store, &conversation_id, &message, sov_core::now_ms())?;
            }
            Before::Regenerate => {
                conv::drop_last_answer(store, &conversation_id)?;
            }
        }
        Ok(Some((c, conv::messages(store, &conversation_id)?)))
    })
    .await;
    let (c, messages) = match prepared {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(),
        Err(r) => return *r,
    };
    if messages.last().is_none_or(|m| m.role != Role::User) {
        return error_page(StatusCode::BAD_REQUEST, "there is no message of yours to answer");
    }
    let request = chat_request(&c, &messages);
    let events = match chat.engine.generate(request) {
        Ok(events) => events,
        Err(problem) => return error_page(StatusCode::BAD_REQUEST, &problem),
    };
    let (out, body) = mpsc::channel::<Result<String, Infallible>>(32);
    tokio::spawn(stream_answer(console, guard, c, events, stop, out));
    let stream =
        futures_util::stream::unfold(body, |mut body| async move { body.recv().await.map(|item| (item, body)) });
    let mut response = Body::from_stream(stream).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    response
}

/// What the model is asked: the system prompt, then the conversation.
fn chat_request(c: &Conversation, messages: &[Message]) -> ChatRequest {
    let mut turns = Vec::with_capacity(messages.len() + 1);
    if !c.system_prompt.trim().is_empty() {
        turns.push(ChatTurn { role: "system", content: c.system_prompt.clone() });
    }
    turns.extend(messages.iter().map(|m| ChatTurn { role: m.role.as_str(), content: m.content.clone() }));
    ChatRequest {
        model: c.model.clone(),
        messages: turns,
        temperature: c.temperature as f32,
        max_tokens: (c.max_tokens > 0).then_some(c.max_tokens),
    }
}

fn sse(value: &serde_json::Value) -> Result<String, Infallible> {
    Ok(format!("data: {value}\n\n"))
}

/// How often the answer so far is rendered and sent while it streams.
const RENDER_EVERY: Duration = Duration::from_millis(50);

/// Forwards the engine's events to the page, then stores the answer.
async fn stream_answer(
    console: Console,
    guard: Answering,
    c: Conversation,
    mut events: mpsc::UnboundedReceiver<ChatEvent>,
    stop: Arc<Notify>,
    out: mpsc::Sender<Result<String, Infallible>>,
) {
    let mut text = String::new();
    let mut last_render: Option<Instant> = None;
    let (finish, stats, failure) = loop {
        let event = tokio::select! {
            event = events.recv() => event,
            () = stop.notified() => break (Finish::Stopped, None, None),
            () = out.closed() => break (Finish::Stopped, None, None),
        };
        let delivered = match event {
            Some(ChatEvent::Started) => out.send(sse(&json!({"type": "started"}))).await,
            Some(ChatEvent::Text(piece)) => {
                text.push_str(&piece);
                if last_render.is_none_or(|t| t.elapsed() >= RENDER_EVERY) {
                    last_render = Some(Instant::now());
                    out.send(sse(&json!({"type": "text", "html": markdown::render(&text)}))).await
                } else {
                    Ok(())
                }
            }
            Some(ChatEvent::Done(end, stats)) => {
                let finish = match end {
                    ChatEnd::Stop => Finish::Stop,
                    ChatEnd::Length => Finish::Length,
                };
                break (finish, Some(stats), None);
            }
            Some(ChatEvent::Failed(problem)) => break (Finish::Failed, None, Some(problem)),
            None => break (Finish::Failed, None, Some("the engine ended the answer without saying why".to_owned())),
        };
        if delivered.is_err() {
            break (Finish::Stopped, None, None);
        }
    };
    // Cancels the generation if it still runs.
    drop(events);
    let message = Message {
        seq: 0,
        role: Role::Assistant,
        content: text.clone(),
        model: Some(c.model.clone()),
        finish: Some(finish),
        stats,
        created_ms: 0,
    };
    let id = c.id.clone();
    let stored = if text.is_empty() && finish != Finish::Stop {
        Ok(None) // nothing to keep
    } else {
        with_store(&console, move |store| match conv::get(store, &id)? {
            Some(_) => conv::append(store, &id, &message, sov_core::now_ms()).map(Some),
            None => Ok(None), // deleted while it was answered
        })
        .await
    };
    drop(guard);
    let seq = match stored {
        Ok(seq) => seq,
        Err(_) => {
            let _ = out.send(sse(&json!({"type": "error", "message": "the answer could not be stored"}))).await;
            return;
        }
    };
    if let Some(problem) = &failure {
        tracing::warn!(model = %c.model, error = %problem, "a chat answer failed");
    }
    let _ = out
        .send(sse(&json!({
            "type": "done",
            "html": markdown::render(&text),
            "finish": finish.as_str(),
            "stats": stats_line(Some(finish), stats.as_ref()),
            "seq": seq,
            "error": failure,
        })))
        .await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn form(temperature: &str, max_tokens: &str, model: &str) -> SettingsForm {
        SettingsForm {
            csrf: String::new(),
            title: "t".into(),
            model: model.into(),
            system_prompt: "Be\r\nbrief.".into(),
            temperature: temperature.into(),
            max_tokens: max_tokens.into(),
        }
    }

    #[test]
    fn settings_are_checked_and_each_bad_one_named() {
        let models = vec!["smollm2".to_owned()];
        let good = parse_settings(&form("0.2", "", "smollm2"), &models).unwrap();
        assert_eq!((good.temperature, good.max_tokens, good.system_prompt.as_str()), (0.2, 0, "Be\nbrief."));
        for (f, word) in [
            (form("hot", "1", "smollm2"), "temperature"),
            (form("2.5", "1", "smollm2"), "out of range"),
            (form("NaN", "1", "smollm2"), "out of range"),
            (form("1", "-3", "smollm2"), "whole number"),
            (form("1", "999999999", "smollm2"), "more than"),
            (form("1", "1", "gpt-9"), "no local model"),
        ] {
            let problem = parse_settings(&f, &models).unwrap_err();
            assert!(problem.contains(word), "{problem}");
        }
    }

    #[test]
    fn the_request_starts_with_the_system_prompt() {
        let c = Conversation {
            id: "0".repeat(32),
            title: "x".into(),
            model: "smollm2".into(),
            system_prompt: "Be brief.".into(),
            temperature: 0.5,
            max_tokens: 0,
            created_ms: 0,
            updated_ms: 0,
        };
        let m = |role, content: &str| Message {
            seq: 0,
            role,
            content: content.into(),
            model: None,
            finish: None,
            stats: None,
            created_ms: 0,
        };
        let request = chat_request(&c, &[m(Role::User, "hi"), m(Role::Assistant, "hello"), m(Role::User, "and?")]);
        let roles: Vec<_> = request.messages.iter().map(|t| t.role).collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
        assert_eq!((request.temperature, request.max_tokens), (0.5, None));
    }

    #[test]
    fn the_persons_text_is_escaped_with_its_line_breaks() {
        assert_eq!(user_text("<b>hi</b>\r\nthere"), "&lt;b&gt;hi&lt;/b&gt;<br>there");
        assert_eq!(esc_textarea("</textarea><script>"), "&lt;/textarea&gt;&lt;script&gt;");
        assert!(is_conversation_id(&"a".repeat(32)));
        assert!(!is_conversation_id("../../etc"));
    }
}
