//! Executors the gate itself provides. Services that own a kind (messaging, wallet) register
//! their own [`Executor`].

use std::io::Read;
use std::time::Duration;

use serde_json::{Value, json};

use crate::queue::{ActionRecord, Executor};

/// Largest response body kept from a fetch.
pub const FETCH_BODY_LIMIT: u64 = 1024 * 1024;

/// `web.fetch`: an HTTP GET of `params.url`, sending the action's idempotency key as
/// `Idempotency-Key`. Plain `http://` only for now; `https://` and an anonymising transport come
/// with the web component. Not idempotent: after a crash mid-fetch it is never fetched again.
#[derive(Debug, Clone)]
pub struct WebFetch {
    timeout: Duration,
}

impl Default for WebFetch {
    fn default() -> Self {
        WebFetch { timeout: Duration::from_secs(30) }
    }
}

impl Executor for WebFetch {
    fn execute(&self, action: &ActionRecord, key: &str) -> Result<Value, String> {
        let url = action.request.url().ok_or("params.url is missing")?;
        if !url.starts_with("http://") {
            return Err(format!("{url}: only http:// URLs can be fetched yet (https comes with the web component)"));
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .new_agent();
        let response = agent.get(url).header("Idempotency-Key", key).call().map_err(|e| format!("{url}: {e}"))?;
        let status = response.status().as_u16();
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let mut body = Vec::new();
        response
            .into_body()
            .into_reader()
            .take(FETCH_BODY_LIMIT)
            .read_to_end(&mut body)
            .map_err(|e| format!("{url}: reading the body: {e}"))?;
        Ok(json!({
            "status": status,
            "content_type": content_type,
            "body": String::from_utf8_lossy(&body),
            "truncated": body.len() as u64 >= FETCH_BODY_LIMIT,
        }))
    }

    fn idempotent(&self) -> bool {
        false
    }
}
