//! Alloy's JSON-RPC transport over [`sov_net::Http`]: every request to the node leaves by the
//! outbound policy's route for the chain (Tor unless configured otherwise), on a connection of
//! its own. Alloy's own HTTP client (reqwest, which goes out directly) is never built.

use std::task::{Context, Poll};

use alloy::rpc::json_rpc::{RequestPacket, ResponsePacket};
use alloy::transports::{TransportError, TransportErrorKind, TransportFut, TransportResult};
use bytes::Bytes;

use crate::error::{Error, Result};

/// The most a node's answer may hold: large log queries come back in one body.
pub const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// The most of an error answer's body kept in the error's message.
const ERROR_BODY_CHARS: usize = 2048;

/// A JSON-RPC endpoint reached through [`sov_net::Http`]; a `tower::Service` alloy's
/// [`RpcClient`](alloy::rpc::client::RpcClient) takes as its transport. Cheap to clone.
#[derive(Clone, Debug)]
pub struct NetTransport {
    http: sov_net::Http,
    url: http::Uri,
}

impl NetTransport {
    /// The endpoint at `rpc_url` (`http://` or `https://`, with a host), reached through `http`.
    ///
    /// # Errors
    /// [`Error::InvalidRpcUrl`] if `rpc_url` is not such a URL.
    pub fn new(rpc_url: &str, http: &sov_net::Http) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidRpcUrl { url: rpc_url.into(), reason };
        let url: http::Uri = rpc_url.parse().map_err(|e: http::uri::InvalidUri| invalid(e.to_string()))?;
        match url.scheme_str() {
            Some("http" | "https") => {}
            Some(other) => return Err(invalid(format!("unsupported scheme {other:?}; use http or https"))),
            None => return Err(invalid("not an absolute URL (scheme://host/path)".into())),
        }
        if url.host().is_none_or(str::is_empty) {
            return Err(invalid("the URL has no host".into()));
        }
        Ok(Self { http: http.clone(), url })
    }

    /// Whether the endpoint is on this machine (loopback), so nothing leaves it.
    pub fn is_local(&self) -> bool {
        self.url.host().is_some_and(sov_net::is_loopback)
    }

    /// The endpoint's URL.
    pub fn url(&self) -> &http::Uri {
        &self.url
    }

    async fn request(self, packet: RequestPacket) -> TransportResult<ResponsePacket> {
        let body = serde_json::to_vec(&packet).map_err(TransportError::ser_err)?;
        let request = http::Request::post(self.url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Bytes::from(body))
            .map_err(TransportErrorKind::custom)?;
        let response = self.http.send(request).await.map_err(TransportErrorKind::custom)?;
        let status = response.status();
        let body = response.into_body().collect(MAX_RESPONSE_BYTES).await;
        if !status.is_success() {
            let body = match body {
                Ok(body) => body,
                Err(e) => {
                    return Err(TransportErrorKind::http_error(
                        status.as_u16(),
                        format!("<failed to read the body: {e}>"),
                    ));
                }
            };
            // A node may answer a refused call (a revert) with an error status and a JSON-RPC
            // error: that is the node's answer, not a transport failure, as with alloy's client.
            if let Ok(answer) = serde_json::from_slice::<ResponsePacket>(&body)
                && answer.is_error()
            {
                return Ok(answer);
            }
            return Err(TransportErrorKind::http_error(status.as_u16(), shortened(&body)));
        }
        let body = body.map_err(TransportErrorKind::custom)?;
        serde_json::from_slice(&body).map_err(|e| TransportError::deser_err(e, String::from_utf8_lossy(&body)))
    }
}

/// An error body as text, cut to [`ERROR_BODY_CHARS`] characters.
fn shortened(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(ERROR_BODY_CHARS) {
        Some((cut, _)) => format!("{}… ({} bytes in all)", &text[..cut], body.len()),
        None => text.into_owned(),
    }
}

impl tower::Service<RequestPacket> for NetTransport {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Every request opens a connection of its own: there is nothing to wait for.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, packet: RequestPacket) -> Self::Future {
        Box::pin(self.clone().request(packet))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn http() -> (tempfile::TempDir, sov_net::Http) {
        let dir = tempfile::tempdir().unwrap();
        let net = sov_net::Net::new(&sov_core::config::NetConfig::default(), dir.path()).unwrap();
        (dir, net.http(sov_net::Class::Chain))
    }

    #[test]
    fn only_absolute_http_urls_are_endpoints_and_loopback_ones_are_local() {
        let (_dir, http) = http();
        assert!(NetTransport::new("http://127.0.0.1:8545", &http).unwrap().is_local());
        assert!(NetTransport::new("http://localhost:8545/", &http).unwrap().is_local());
        assert!(NetTransport::new("http://[::1]:8545", &http).unwrap().is_local());
        let remote = NetTransport::new("https://rpc.example.org/v3/key", &http).unwrap();
        assert!(!remote.is_local());
        assert_eq!(remote.url().path(), "/v3/key");
        for (url, needle) in [("ftp://x/", "scheme"), ("/relative", "absolute"), ("not a url", "invalid RPC URL")] {
            let err = NetTransport::new(url, &http).unwrap_err().to_string();
            assert!(err.contains(needle), "{url}: {err}");
            assert!(err.contains(url), "{url}: {err}");
        }
    }

    #[test]
    fn long_error_bodies_are_cut() {
        assert_eq!(shortened(b"bad gateway"), "bad gateway");
        let long = "é".repeat(ERROR_BODY_CHARS + 10);
        let cut = shortened(long.as_bytes());
        assert!(cut.starts_with(&"é".repeat(ERROR_BODY_CHARS)), "{cut}");
        assert!(cut.ends_with(&format!("({} bytes in all)", long.len())), "{cut}");
    }
}
