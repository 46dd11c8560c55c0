//! Sovereign's HTTP API over the local engine: OpenAI-compatible (`/v1/chat/completions`,
//! `/v1/completions`, `/v1/models`) and Anthropic-compatible (`/v1/messages`), plus `/health` and
//! Prometheus `/metrics`, so tools pointed at llama-server or at Anthropic work unchanged.
//!
//! Security layers, in the order they run, all before any work is done for a request:
//! 1. one authority (`Host`, or an absolute-form target that agrees with it): two `Host` headers
//!    or a target naming another host are refused (400); when it listens on loopback, that
//!    authority must be loopback (421), so a DNS-rebinding page cannot reach it;
//! 2. only web pages on loopback origins (and `serve.cors_origins`) may call it from a browser:
//!    a request with any other `Origin` (`null` too), or marked `Sec-Fetch-Site: cross-site`
//!    without an admitted `Origin`, is refused (403), not run for a page that cannot read the
//!    answer; CORS grants reading to the admitted origins only;
//! 3. an API key can be required (401).
//!
//! Every answer, errors and event streams included, carries `Cache-Control: no-store` and
//! `X-Content-Type-Options: nosniff`.

mod anthropic;
mod error;
mod openai;
mod remote;
mod tools;

pub use remote::{
    REMOTE_PREFIX, RemoteChat, RemoteError, RemoteEvent, RemoteFuture, RemoteModels, RemoteRoute, SESSION_HEADER,
};
pub use sov_core::http::{constant_time_eq, is_loopback_host};

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use sov_core::http::is_loopback_origin;
use sov_engine::{Engine, EngineError, Event, FinishReason, Generate, Residency, Usage};
use tokio::sync::mpsc::UnboundedReceiver;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::error::{ApiError, Dialect};

/// How the API is exposed. Its `Debug` says whether there is an API key, never which.
#[derive(Clone, Default)]
pub struct ApiOptions {
    /// Required in `Authorization: Bearer …` or `x-api-key`; `None`: no key needed.
    pub api_key: Option<String>,
    /// Browser origins allowed besides loopback ones (`http://localhost:*`, `http://127.0.0.1:*`, `http://[::1]:*`).
    pub cors_origins: Vec<String>,
    /// Accept only `Host` headers naming loopback (set when listening on loopback).
    pub loopback_host_only: bool,
    /// Where `model: "remote:NAME"` requests go; `None`: such models are unknown.
    pub remote: Option<RemoteRoute>,
}

impl std::fmt::Debug for ApiOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiOptions")
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("cors_origins", &self.cors_origins)
            .field("loopback_host_only", &self.loopback_host_only)
            .field("remote", &self.remote)
            .finish()
    }
}

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) engine: Engine,
    options: Arc<ApiOptions>,
}

/// The router with every endpoint and the security layers.
pub fn router(engine: Engine, options: ApiOptions) -> Router {
    let cors_extra = options.cors_origins.clone();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            origin.to_str().is_ok_and(|o| is_loopback_origin(o) || cors_extra.iter().any(|e| e == o))
        }))
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::HeaderName::from_static("x-api-key"),
            header::HeaderName::from_static("anthropic-version"),
            header::HeaderName::from_static(SESSION_HEADER),
        ]);
    let state = AppState { engine, options: Arc::new(options) };
    Router::new()
        // Clients probe the root before their first request (Claude Code sends `HEAD /`).
        .route("/", get(health))
        .route("/health", get(health))
        .route("/v1/health", get(health))
        .route("/metrics", get(metrics))
        .route("/v1/models", get(openai::models))
        .route("/models", get(openai::models))
        .route("/v1/chat/completions", post(openai::chat))
        .route("/chat/completions", post(openai::chat))
        .route("/v1/completions", post(openai::completions))
        .route("/completions", post(openai::completions))
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/v1/messages", post(anthropic::messages))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(cors)
        .layer(middleware::map_response(strict_headers))
        .with_state(state)
}

/// No answer is cached or content-sniffed, whichever layer made it.
async fn strict_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    engine: Engine,
    options: ApiOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(engine, options)).with_graceful_shutdown(shutdown).await
}

/// Why a request from a browser is refused, or `None` when it is not a browser's or comes from
/// an admitted page: a loopback origin or one of `extra` (`serve.cors_origins`).
fn foreign_page(headers: &HeaderMap, extra: &[String]) -> Option<String> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = String::from_utf8_lossy(origin.as_bytes());
        if is_loopback_origin(&origin) || extra.iter().any(|e| *e == origin) {
            return None;
        }
        return Some(format!(
            "requests from the web page at {:?} are refused: only pages on localhost, 127.0.0.1 or [::1] (and serve.cors_origins) may call this API",
            origin
        ));
    }
    let site = headers.get("sec-fetch-site").map(|s| String::from_utf8_lossy(s.as_bytes()).to_ascii_lowercase());
    (site.as_deref() == Some("cross-site")).then(|| {
        "requests from another site's web page are refused: only pages on localhost, 127.0.0.1 or [::1] (and serve.cors_origins) may call this API".to_owned()
    })
}

/// Rejects, before any work: an ambiguous or non-loopback authority (see the crate's
/// documentation), a web page of another origin, or a missing API key.
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let dialect = if request.uri().path() == "/v1/messages" { Dialect::Anthropic } else { Dialect::OpenAi };
    let refuse = |status: StatusCode, message: &str| {
        ApiError { status, message: message.to_owned(), param: None, dialect }.into_response()
    };
    let authority = match sov_core::http::authority(request.headers(), request.uri()) {
        Ok(authority) => authority,
        Err(problem) => {
            tracing::warn!("refused a request: {}", problem.message());
            return refuse(problem.status(), problem.message());
        }
    };
    if state.options.loopback_host_only && !authority.is_some_and(is_loopback_host) {
        let host = authority.unwrap_or_default();
        tracing::warn!(host = %host.escape_debug(), "refused a request for a non-loopback Host");
        let problem = sov_core::http::HostProblem::NotLoopback;
        return refuse(problem.status(), problem.message());
    }
    if let Some(why) = foreign_page(request.headers(), &state.options.cors_origins) {
        tracing::warn!("{why}");
        return refuse(StatusCode::FORBIDDEN, &why);
    }
    if request.method() == Method::OPTIONS {
        return next.run(request).await;
    }
    if let Some(key) = &state.options.api_key
        && request.uri().path() != "/health"
        && !presented_key(request.headers()).is_some_and(|k| constant_time_eq(k.as_bytes(), key.as_bytes()))
    {
        return ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "missing or wrong API key: send it as `Authorization: Bearer KEY` or `x-api-key: KEY`".into(),
            param: None,
            dialect,
        }
        .into_response();
    }
    next.run(request).await
}

fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(bearer) = headers.get(header::AUTHORIZATION).and_then(|h| h.to_str().ok()) {
        return bearer.strip_prefix("Bearer ").map(str::trim);
    }
    headers.get("x-api-key").and_then(|h| h.to_str().ok()).map(str::trim)
}

async fn health() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let m = state.engine.metrics();
    let per_second = |tokens: u64, micros: u64| if micros == 0 { 0.0 } else { tokens as f64 * 1e6 / micros as f64 };
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: String| {
        out.push_str(&format!("# HELP sov_{name} {help}\n# TYPE sov_{name} {kind}\nsov_{name} {value}\n"));
    };
    metric("requests_total", "counter", "Generations finished.", m.requests.to_string());
    metric(
        "prompt_tokens_total",
        "counter",
        "Prompt tokens processed, cached ones included.",
        m.prompt_tokens.to_string(),
    );
    metric(
        "prompt_tokens_cached_total",
        "counter",
        "Prompt tokens taken from the KV cache.",
        m.cached_tokens.to_string(),
    );
    metric("tokens_predicted_total", "counter", "Tokens generated.", m.completion_tokens.to_string());
    metric(
        "prompt_tokens_per_second",
        "gauge",
        "Average prompt throughput.",
        format!("{:.3}", per_second(m.prompt_tokens - m.cached_tokens, m.prompt_micros)),
    );
    metric(
        "predicted_tokens_per_second",
        "gauge",
        "Average generation throughput.",
        format!("{:.3}", per_second(m.completion_tokens, m.generation_micros)),
    );
    metric("queue_depth", "gauge", "Requests waiting for their model.", m.queued.to_string());
    out.push_str("# HELP sov_model_loaded Whether a model is in memory.\n# TYPE sov_model_loaded gauge\n");
    for model in state.engine.models() {
        let loaded = matches!(state.engine.residency(&model.name), Residency::Loaded(_));
        out.push_str(&format!("sov_model_loaded{{model=\"{}\"}} {}\n", model.name.escape_default(), u8::from(loaded)));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

/// Parses a JSON body, answering a malformed one with a 400 that says what is wrong where.
pub(crate) fn parse_body<T: DeserializeOwned>(dialect: Dialect, body: &[u8]) -> Result<T, ApiError> {
    let mut parser = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut parser).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let at = if path == "." { String::new() } else { format!(" at `{path}`") };
        ApiError::invalid(dialect, format!("the request body is not valid{at}: {inner}"))
    })
}

/// The whole answer of a generation.
pub(crate) struct Answer {
    pub(crate) text: String,
    pub(crate) finish: FinishReason,
    pub(crate) usage: Usage,
}

/// Queues `request` and waits until the model has accepted the prompt (or refused it), so that
/// refusals become HTTP errors rather than errors inside a 200 stream.
pub(crate) async fn start(
    engine: &Engine,
    request: Generate,
) -> Result<(usize, UnboundedReceiver<Event>), EngineError> {
    let model = request.model.clone();
    let mut events = engine.generate(request)?;
    match events.recv().await {
        Some(Event::Started { prompt_tokens }) => Ok((prompt_tokens, events)),
        Some(Event::Failed(e)) => Err(e),
        _ => Err(EngineError::WorkerGone { model }),
    }
}

/// Runs a generation to its end.
pub(crate) async fn complete(engine: &Engine, request: Generate) -> Result<Answer, EngineError> {
    let model = request.model.clone();
    let (_, events) = start(engine, request).await?;
    collect(events).await.map_err(|e| e.unwrap_or(EngineError::WorkerGone { model }))
}

/// The whole answer `events` bring, local or remote; `Err(None)` when they stop before the end.
pub(crate) async fn collect(mut events: UnboundedReceiver<Event>) -> Result<Answer, Option<EngineError>> {
    let mut text = String::new();
    while let Some(event) = events.recv().await {
        match event {
            Event::Text(piece) => text.push_str(&piece),
            Event::Done { finish, usage } => return Ok(Answer { text, finish, usage }),
            Event::Failed(e) => return Err(Some(e)),
            Event::Started { .. } | Event::Embeddings { .. } => {}
        }
    }
    Err(None)
}

/// llama-server's `timings` object, so tools (and our benchmark) can read both servers alike.
pub(crate) fn timings(usage: &Usage) -> serde_json::Value {
    let evaluated = usage.prompt_tokens.saturating_sub(usage.cached_tokens);
    let rate = |n: usize, ms: f64| if ms > 0.0 { n as f64 * 1e3 / ms } else { 0.0 };
    serde_json::json!({
        "cache_n": usage.cached_tokens,
        "prompt_n": evaluated,
        "prompt_ms": usage.prompt_ms,
        "prompt_per_second": rate(evaluated, usage.prompt_ms),
        "predicted_n": usage.completion_tokens,
        "predicted_ms": usage.generation_ms,
        "predicted_per_second": rate(usage.completion_tokens, usage.generation_ms),
    })
}

pub(crate) fn unix_time() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Random hex for response and tool-call identifiers.
pub(crate) fn random_hex(bytes: usize) -> String {
    sov_core::random_hex(bytes).unwrap_or_else(|_| {
        // Response ids need to be unique, not secret: fall back to the clock.
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        (0..bytes).map(|i| format!("{:02x}", (nanos >> ((i % 16) * 8)) as u8)).collect()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_api_key_never_prints() {
        let options = ApiOptions { api_key: Some("sk-api-key-93ab".into()), ..ApiOptions::default() };
        let debug = format!("{options:?}");
        assert!(!debug.contains("sk-api-key-93ab") && debug.contains("[redacted]"), "{debug}");
    }

    #[test]
    fn pages_of_other_origins_are_foreign_and_clients_without_one_are_not() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.append(*name, HeaderValue::from_static(value));
            }
            map
        };
        let extra = vec!["https://ui.example".to_owned()];
        for admitted in [
            &[][..],
            &[("origin", "http://localhost:5173")],
            &[("origin", "http://[::1]:3000"), ("sec-fetch-site", "cross-site")],
            &[("origin", "https://ui.example"), ("sec-fetch-site", "cross-site")],
            &[("sec-fetch-site", "same-site")],
            &[("sec-fetch-site", "none")],
        ] {
            assert_eq!(foreign_page(&headers(admitted), &extra), None, "{admitted:?}");
        }
        for foreign in [
            &[("origin", "http://evil.example")][..],
            &[("origin", "null")],
            &[("origin", "http://localhost.evil.example")],
            &[("sec-fetch-site", "cross-site")],
            &[("sec-fetch-site", "Cross-Site")],
        ] {
            assert!(foreign_page(&headers(foreign), &extra).is_some(), "{foreign:?}");
        }
    }

    #[test]
    fn keys_compare_whole() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}
