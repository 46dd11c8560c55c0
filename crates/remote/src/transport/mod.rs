//! Transports: how one HTTP request reaches a provider and its response comes back.
//!
//! A [`Transport`] takes a whole [`http::Request`] (method, absolute URL, headers, body bytes) and
//! returns an [`http::Response`] whose body is a [`ResponseBody`]: a stream of byte chunks for
//! transports that stream ([`Direct`], [`Socks5`]), or one whole message for message-based
//! transports (a mixnet later) that deliver the response in one piece.
//!
//! Security properties of the implementations:
//! - [`Socks5`] sends everything through the proxy and never falls back to a direct connection;
//!   host names go to the proxy unresolved (`socks5h`), so no DNS query leaves this machine; each
//!   request uses fresh random SOCKS credentials, which Tor (`IsolateSOCKSAuth`, on by default)
//!   turns into a fresh circuit, and a fresh client, so no connection is reused across requests.
//! - [`Direct`] is for development only: it reveals this machine's IP address to the provider and
//!   logs a warning saying so when created.
//! - Neither follows redirects, sends a `User-Agent`, or reads proxy settings from the environment.
//! - Neither logs URLs' queries, headers or bodies.

mod direct;
mod net;
mod socks5;

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt as _};

use crate::Error;
use crate::error::chain;

pub use direct::Direct;
pub use socks5::{Socks5, StreamIsolation};

/// A boxed future, as [`Transport::send`] returns (keeps the trait usable as `dyn Transport`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A boxed stream of body chunks.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, Error>> + Send>>;

/// Sends one HTTP request to a provider and returns its response.
///
/// Implementations must fail closed: if the route they promise (a proxy, a mixnet) is not
/// available, they return an error and send nothing by another route.
pub trait Transport: Send + Sync {
    /// A short name for logs ("direct", "socks5", "mixnet").
    fn name(&self) -> &'static str;

    /// Whether response bodies arrive incrementally (`true`) or as one message (`false`).
    fn streams_responses(&self) -> bool {
        true
    }

    /// Sends `request` (its URI must be absolute, `http` or `https`) and returns the response once
    /// its status and headers are in; the body follows through [`ResponseBody`].
    fn send(&self, request: http::Request<Bytes>) -> BoxFuture<'_, Result<http::Response<ResponseBody>, Error>>;
}

/// Timeouts of a transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Limit for establishing the connection (including the proxy handshake and TLS).
    pub connect: Duration,
    /// Limit for the gap between two reads of the response; `None` for no limit.
    pub read: Option<Duration>,
    /// Limit for the whole exchange including the body; `None` for no limit (long answers stream
    /// for minutes).
    pub total: Option<Duration>,
}

impl Default for Timeouts {
    /// 60 s to connect (Tor circuits can be slow to build), 120 s between reads, no total limit.
    fn default() -> Self {
        Self { connect: Duration::from_secs(60), read: Some(Duration::from_secs(120)), total: None }
    }
}

/// The body of a response: streamed chunk by chunk, or one whole message.
pub struct ResponseBody {
    inner: BodyInner,
}

enum BodyInner {
    Whole(Option<Bytes>),
    Stream(BodyStream),
}

impl ResponseBody {
    /// A body that arrived as one message.
    pub fn whole(bytes: impl Into<Bytes>) -> Self {
        Self { inner: BodyInner::Whole(Some(bytes.into())) }
    }

    /// A body that arrives as a stream of chunks.
    pub fn from_stream(stream: impl Stream<Item = Result<Bytes, Error>> + Send + 'static) -> Self {
        Self { inner: BodyInner::Stream(Box::pin(stream)) }
    }

    /// Whether this body arrives incrementally.
    pub fn is_streamed(&self) -> bool {
        matches!(self.inner, BodyInner::Stream(_))
    }

    /// The next chunk, or `None` at the end of the body.
    ///
    /// # Errors
    /// The transport's error if the connection broke.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, Error> {
        self.next().await.transpose()
    }

    /// Reads the whole body, refusing more than `limit` bytes.
    ///
    /// # Errors
    /// [`Error::BodyTooLarge`] past `limit`; the transport's error if the connection broke.
    pub async fn collect(mut self, limit: usize) -> Result<Bytes, Error> {
        if let BodyInner::Whole(bytes) = &mut self.inner {
            let bytes = bytes.take().unwrap_or_default();
            return if bytes.len() > limit { Err(Error::BodyTooLarge { limit }) } else { Ok(bytes) };
        }
        let mut out = BytesMut::new();
        while let Some(chunk) = self.next_chunk().await? {
            if out.len() + chunk.len() > limit {
                return Err(Error::BodyTooLarge { limit });
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out.freeze())
    }
}

impl Stream for ResponseBody {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match &mut self.inner {
            BodyInner::Whole(bytes) => Poll::Ready(bytes.take().map(Ok)),
            BodyInner::Stream(stream) => stream.as_mut().poll_next(cx),
        }
    }
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            BodyInner::Whole(b) => write!(f, "ResponseBody::Whole({} bytes)", b.as_ref().map_or(0, Bytes::len)),
            BodyInner::Stream(_) => f.write_str("ResponseBody::Stream"),
        }
    }
}

/// `host:port` of an absolute `http`/`https` URI, for error messages; rejects anything else.
pub(crate) fn target(uri: &http::Uri) -> Result<String, Error> {
    let default_port = match uri.scheme_str() {
        Some("http") => 80,
        Some("https") => 443,
        Some(other) => {
            return Err(Error::InvalidRequest(format!("unsupported URL scheme {other:?}; use http or https")));
        }
        None => {
            return Err(Error::InvalidRequest("the URL must be absolute (scheme://host/path)".into()));
        }
    };
    let host =
        uri.host().filter(|h| !h.is_empty()).ok_or_else(|| Error::InvalidRequest("the URL has no host".into()))?;
    Ok(format!("{host}:{}", uri.port_u16().unwrap_or(default_port)))
}

/// A `reqwest` client builder with the settings every transport shares.
pub(crate) fn client_builder(timeouts: &Timeouts) -> reqwest::ClientBuilder {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .connect_timeout(timeouts.connect);
    if let Some(read) = timeouts.read {
        builder = builder.read_timeout(read);
    }
    if let Some(total) = timeouts.total {
        builder = builder.timeout(total);
    }
    builder
}

/// Sends `request` with `client`; classifies failures with `on_error`.
pub(crate) async fn execute<F, Fut>(
    client: &reqwest::Client,
    request: http::Request<Bytes>,
    host: String,
    on_error: F,
) -> Result<http::Response<ResponseBody>, Error>
where
    F: FnOnce(reqwest::Error, String) -> Fut,
    Fut: Future<Output = Error>,
{
    let request = reqwest::Request::try_from(request).map_err(|e| Error::InvalidRequest(chain(&e)))?;
    let response = match client.execute(request).await {
        Ok(response) => response,
        Err(e) => return Err(on_error(e, host).await),
    };
    let mut builder = http::Response::builder().status(response.status()).version(response.version());
    if let Some(headers) = builder.headers_mut() {
        *headers = response.headers().clone();
    }
    let body_host = host.clone();
    let body = ResponseBody::from_stream(response.bytes_stream().map(move |chunk| {
        chunk.map_err(|e| {
            if e.is_timeout() {
                Error::Timeout { host: body_host.clone() }
            } else {
                Error::Http { host: body_host.clone(), reason: chain(&e) }
            }
        })
    }));
    builder.body(body).map_err(|e| Error::Http { host, reason: e.to_string() })
}
