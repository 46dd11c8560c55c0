//! HTTP/1.1 over whatever stream the policy opened: one request per connection, so nothing is
//! pooled and no connection links two requests.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt as _};
use http_body_util::BodyExt as _;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::chain;
use crate::{Error, Net, Route};

/// Timeouts of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Limit for the connection: Tor circuit (after bootstrap), proxy handshake, TLS.
    pub connect: Duration,
    /// Limit for the gap between two reads of the answer; `None` for no limit.
    pub read: Option<Duration>,
}

impl Default for Timeouts {
    /// 60 s to connect (Tor circuits can be slow to build), 120 s between reads.
    fn default() -> Self {
        Self { connect: Duration::from_secs(60), read: Some(Duration::from_secs(120)) }
    }
}

/// A stream of body chunks.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, Error>> + Send>>;

/// The body of an answer, arriving chunk by chunk.
pub struct Body {
    stream: BodyStream,
}

impl Body {
    /// A body from a stream of chunks.
    pub fn from_stream(stream: impl Stream<Item = Result<Bytes, Error>> + Send + 'static) -> Self {
        Self { stream: Box::pin(stream) }
    }

    /// Reads the whole body, refusing more than `limit` bytes.
    ///
    /// # Errors
    /// [`Error::BodyTooLarge`] past `limit`; the connection's error if it broke.
    pub async fn collect(mut self, limit: usize) -> Result<Bytes, Error> {
        let mut out = BytesMut::new();
        while let Some(chunk) = self.stream.next().await {
            let chunk = chunk?;
            if out.len() + chunk.len() > limit {
                return Err(Error::BodyTooLarge { limit });
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out.freeze())
    }
}

impl Stream for Body {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.stream.as_mut().poll_next(cx)
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Body")
    }
}

/// An HTTP client on one route of the policy. Cheap to clone; every request opens its own
/// connection (and, by Tor, its own circuit).
#[derive(Clone)]
pub struct Http {
    pub(crate) net: Arc<Net>,
    pub(crate) route: Route,
    pub(crate) timeouts: Timeouts,
    pub(crate) address_check: Option<AddressCheck>,
}

/// Decides whether a connection from this machine may go to an address: `Err` names why not.
/// Applied to the address actually connected to, after this machine resolved the name, so a
/// name that resolves differently the second time (DNS rebinding) is caught too.
pub type AddressCheck = Arc<dyn Fn(std::net::IpAddr) -> Result<(), String> + Send + Sync>;

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http").field("route", &self.route).finish_non_exhaustive()
    }
}

/// Where a request goes, taken from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) tls: bool,
}

impl Target {
    pub(crate) fn of(uri: &http::Uri) -> Result<Self, Error> {
        let (tls, default_port) = match uri.scheme_str() {
            Some("http") => (false, 80),
            Some("https") => (true, 443),
            Some(other) => {
                return Err(Error::InvalidRequest(format!("unsupported URL scheme {other:?}; use http or https")));
            }
            None => return Err(Error::InvalidRequest("the URL must be absolute (scheme://host/path)".into())),
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| Error::InvalidRequest("the URL has no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        Ok(Self { host, port: uri.port_u16().unwrap_or(default_port), tls })
    }

    pub(crate) fn label(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl Http {
    /// The route this client's requests take to destinations that are not loopback.
    pub fn route(&self) -> &Route {
        &self.route
    }

    /// With other timeouts.
    #[must_use]
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// With `check` applied to every address this machine connects to itself: loopback, and
    /// everything by the `direct-insecure-dev` route. By Tor and SOCKS5 the name is resolved at
    /// the far end and never connects to this machine's network; `check` does not apply there.
    #[must_use]
    pub fn with_address_check(mut self, check: AddressCheck) -> Self {
        self.address_check = Some(check);
        self
    }

    /// Sends `request` (an absolute `http`/`https` URL) on a connection of its own and returns
    /// the answer once its status and headers are in. No redirect is followed and no header is
    /// added but `Host`.
    ///
    /// # Errors
    /// Whatever stopped it; nothing was sent by another route.
    pub async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Body>, Error> {
        Ok(self.send_traced(request).await?.0)
    }

    /// Like [`Http::send`], also naming the Tor circuit the request went on (for tests and
    /// `sov net status`).
    ///
    /// # Errors
    /// As [`Http::send`].
    pub async fn send_traced(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<(http::Response<Body>, Option<String>), Error> {
        let target = Target::of(request.uri())?;
        let label = target.label();
        let (io, circuit) = tokio::time::timeout(
            self.timeouts.connect,
            self.net.open(&self.route, &target, self.address_check.as_ref()),
        )
        .await
        .map_err(|_| Error::Timeout { host: label.clone(), what: "connecting" })??;
        let io: Box<dyn IoBox> = if target.tls { Box::new(tls(io, &target.host, &label).await?) } else { io };
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| Error::Http { host: label.clone(), reason: chain(&e) })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %chain(&e), "an HTTP connection ended with an error");
            }
        });

        let (mut parts, body) = request.into_parts();
        let host_header =
            if target.port == if target.tls { 443 } else { 80 } { target.host.clone() } else { label.clone() };
        parts.headers.insert(
            http::header::HOST,
            host_header.parse().map_err(|_| Error::InvalidRequest(format!("`{label}` is not a valid Host")))?,
        );
        parts.uri = parts
            .uri
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str)
            .parse()
            .map_err(|e: http::uri::InvalidUri| Error::InvalidRequest(e.to_string()))?;
        parts.version = http::Version::HTTP_11;
        let request = http::Request::from_parts(parts, http_body_util::Full::new(body));

        let response = match self.timeouts.read {
            Some(limit) => tokio::time::timeout(limit, sender.send_request(request))
                .await
                .map_err(|_| Error::Timeout { host: label.clone(), what: "waiting for the answer" })?,
            None => sender.send_request(request).await,
        }
        .map_err(|e| Error::Http { host: label.clone(), reason: chain(&e) })?;

        let (parts, incoming) = response.into_parts();
        let read = self.timeouts.read;
        let body_label = label.clone();
        let frames = futures_util::stream::unfold(Some(incoming), move |state| {
            let label = body_label.clone();
            async move {
                let mut incoming = state?;
                loop {
                    let frame = match read {
                        Some(limit) => match tokio::time::timeout(limit, incoming.frame()).await {
                            Ok(frame) => frame,
                            Err(_) => {
                                return Some((Err(Error::Timeout { host: label, what: "reading the answer" }), None));
                            }
                        },
                        None => incoming.frame().await,
                    };
                    match frame {
                        None => return None,
                        Some(Err(e)) => {
                            return Some((Err(Error::Http { host: label, reason: chain(&e) }), None));
                        }
                        Some(Ok(frame)) => {
                            if let Ok(data) = frame.into_data()
                                && !data.is_empty()
                            {
                                return Some((Ok(data), Some(incoming)));
                            }
                        }
                    }
                }
            }
        });
        Ok((http::Response::from_parts(parts, Body::from_stream(frames)), circuit))
    }
}

/// A connection a request can be written to.
pub(crate) trait IoBox: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> IoBox for T {}

/// TLS to `host` with the Mozilla roots (webpki-roots): the same trust wherever the request
/// leaves from, and no certificate store of this machine that an exit could learn about.
async fn tls(
    io: Box<dyn IoBox>,
    host: &str,
    label: &str,
) -> Result<tokio_rustls::client::TlsStream<Box<dyn IoBox>>, Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| Error::Tls { host: label.to_owned(), reason: e.to_string() })?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, io)
        .await
        .map_err(|e| Error::Tls { host: label.to_owned(), reason: chain(&e) })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn targets_come_from_absolute_http_urls_only() {
        let t = Target::of(&"https://example.org/x?q=1".parse().unwrap()).unwrap();
        assert_eq!((t.host.as_str(), t.port, t.tls), ("example.org", 443, true));
        let t = Target::of(&"http://[::1]:8080/".parse().unwrap()).unwrap();
        assert_eq!((t.host.as_str(), t.port, t.label()), ("::1", 8080, "[::1]:8080".to_owned()));
        for (url, needle) in [("ftp://x/", "scheme"), ("/relative", "absolute")] {
            let err = Target::of(&url.parse().unwrap()).unwrap_err().to_string();
            assert!(err.contains(needle), "{url}: {err}");
        }
    }
}
