//! The gate over HTTP, for the human only. (The Tool API agents are granted is `sov-toolapi`.)
//!
//! - [`console`]: the human console (default `127.0.0.1:7000`), never granted to a sandbox:
//!   pending actions, Approve / Deny, the audit log, status. Logging in needs a one-time link
//!   `sov console` prints ([`login`]: valid once, for ten minutes, stored only hashed), exchanged
//!   for an HttpOnly, SameSite=Strict cookie bound to the browser's User-Agent; every state
//!   change is a POST with a CSRF token.
//! - [`chat`]: the chat page (`/chat`) on the same console, behind the same login: local
//!   conversations ([`conversations`], in SQLite) with the local models, streamed, with model
//!   output rendered inert by [`markdown`].

pub mod chat;
pub mod console;
pub mod conversations;
mod html;
pub mod login;
pub mod markdown;

use axum::http::{HeaderMap, Uri};
use sov_gate::GateError;

/// The one authority the request names (its `Host`, or an absolute-form target that agrees with
/// it), if it is loopback; `None` means refuse (421): DNS rebinding would otherwise let a web
/// page reach these servers, and two `Host` headers or a target naming another host could be
/// read differently by whatever stands in front.
fn loopback_host<'a>(headers: &'a HeaderMap, target: &'a Uri) -> Option<&'a str> {
    sov_core::http::loopback_authority(headers, target).ok()
}

/// Runs blocking gate work (SQLite, fsync) off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, GateError> + Send + 'static,
) -> Result<T, GateError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| Err(GateError::Refused(format!("internal error: {e}"))))
}
