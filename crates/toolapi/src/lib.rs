//! The Tool API (default `127.0.0.1:6000`): what sandboxed agents are granted to ask for
//! actions and use the user's services. One router, [`ToolApi`], holds the gate's own endpoints
//! (`GET /health`, `POST /v1/actions`, `GET /v1/actions/{id}`, see [`actions`]) and every
//! service's [`Routes`], added with one call each:
//!
//! ```ignore
//! let router = ToolApi::new(gate, "http://127.0.0.1:7000").service(messaging.routes()).router();
//! ```
//!
//! What a service's routes share, so that each is written once:
//! - [`ApiError`]: the one error answer, `{"error": {"message", "field"}}`, with the gate's
//!   statuses; the unknown paths and methods answer in it too;
//! - [`guard()`]: the one loopback and no-browser guard, applied once, to the whole router;
//! - [`AgentSession`]: the one session extractor (the `X-Sov-Session` token; 401 for an unknown
//!   one);
//! - [`blocking()`]: the gate and SQLite block, so handlers call them through this;
//! - [`body_type`], [`parse_body`], [`parse_query`]: bodies say their type, or get a 415.
//!
//! It does **not** approve anything: no route of the Tool API decides an action, and none of it
//! is the human console (`sov-console`, never granted to a sandbox), which is where a
//! `confirm_url` points.
//!
//! Security properties (each has a test):
//! - No route answers before the guard ran: a web page (a fetch, a form, an `<img>`, a
//!   rebinding page) or a request naming another host gets a refusal and nothing else, and
//!   every answer carries `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`. A
//!   service's routes cannot be served without it: [`Routes`] can only be added to a
//!   [`ToolApi`].
//! - A `text/plain` or untyped body, which a web page may send without asking, is never parsed.
//! - An agent sees only its own session's actions, and a token that names no session (or is not
//!   text, or comes twice) is refused, never served as the anonymous session.
//! - `remote.llm` actions are refused here: only the LLM API sanitises a remote question.
//! - `wallet.transfer` and `wallet.call` are refused here: the caps would count a `value_usd`
//!   the agent made up; only the wallet, which prices and simulates a transaction, builds them.

pub mod actions;
mod blocking;
mod body;
mod error;
mod guard;
mod session;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router, middleware};
use serde_json::json;
use sov_gate::Gate;

pub use blocking::blocking;
pub use body::{BodyType, body_type, parse_body, parse_query};
pub use error::{ApiError, ApiResult};
pub use guard::{guard, refusal};
pub use session::AgentSession;
pub use sov_core::http::SESSION_HEADER;

/// A service's routes for the Tool API, state applied. They are served only through
/// [`ToolApi::service`], behind the Tool API's guard; there is no way to serve them alone.
pub struct Routes(Router);

impl Routes {
    /// `router`'s routes, for [`ToolApi::service`]. Its handlers answer errors as [`ApiError`]
    /// and resolve the session with [`AgentSession`]; it has no fallback of its own.
    pub fn new(router: Router) -> Routes {
        Routes(router)
    }
}

/// The Tool API being put together: the gate's endpoints, then each service's routes.
pub struct ToolApi {
    routes: Router,
}

impl ToolApi {
    /// The gate's endpoints on `gate`; confirm URLs point at the console at `console_url`
    /// (e.g. `http://127.0.0.1:7000`).
    pub fn new(gate: Arc<Gate>, console_url: &str) -> ToolApi {
        let console_url: Arc<str> = console_url.trim_end_matches('/').into();
        let routes = Router::new()
            .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
            .merge(actions::routes(gate, console_url));
        ToolApi { routes }
    }

    /// Adds a service's routes.
    ///
    /// # Panics
    /// If one of them has a path another service (or the gate) already has: a programming
    /// error, which the first test that builds the router finds.
    #[must_use]
    pub fn service(self, routes: Routes) -> ToolApi {
        ToolApi { routes: self.routes.merge(routes.0) }
    }

    /// The router to serve: every route added, unknown paths (404) and methods (405) answered
    /// in the error shape, all of it behind [`guard()`].
    pub fn router(self) -> Router {
        self.routes
            .method_not_allowed_fallback(|| async {
                ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "this endpoint does not take that method; see `sov help`")
            })
            .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint; see `sov help`") })
            .layer(middleware::from_fn(guard))
    }
}
